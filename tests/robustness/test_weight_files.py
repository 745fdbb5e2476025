"""Unusable weights: each is one line on stderr and exit status 2, before any input is read.

Weights are only ever loaded into mesocli's own architectures, so a model file that carries code
(a Keras ``Lambda``) is refused or read for its weights alone: a marker file the ``Lambda`` would
write proves that nothing of it ran.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import RunCli
from media import make_faces, truncate

from mesocli.weights import card_path_for, sha256_file


def _missing(folder: Path, own: Path) -> Path:
    return folder / "absent.weights.h5"


def _text(folder: Path, own: Path) -> Path:
    (folder / "notes.h5").write_text("these are not weights\n")
    return folder / "notes.h5"


def _folder(folder: Path, own: Path) -> Path:
    (folder / "weights.h5").mkdir()
    return folder / "weights.h5"


def _fifo(folder: Path, own: Path) -> Path:
    os.mkfifo(folder / "pipe.h5")
    return folder / "pipe.h5"


def _half(folder: Path, own: Path) -> Path:
    return truncate(own, folder / "half.h5")


def _unrelated(folder: Path, own: Path) -> Path:
    with h5py.File(folder / "other.h5", "w") as h5:
        h5["x"] = np.zeros(3)
    return folder / "other.h5"


def _card(folder: Path, own: Path) -> Path:
    shutil.copy(own, folder / own.name)
    return Path(shutil.copy(card_path_for(own), folder / card_path_for(own).name))


WEIGHT_CASES = [
    ("missing-weights-file", _missing, [], "weights file not found"),
    ("text-file-as-weights", _text, [], "not an HDF5 weights file"),
    ("folder-as-weights", _folder, [], "is a folder, not a weights file"),
    ("named-pipe-as-weights", _fifo, [], "not a regular file"),
    ("truncated-weights", _half, [], "damaged HDF5 file (truncated file"),
    ("unrelated-hdf5", _unrelated, [], "HDF5 file whose layers fit neither Meso4 nor MesoInception4"),
    ("model-card-as-weights", _card, [], "a model card (JSON), not a weights file (give "),
    ("other-architecture-with-arch", lambda folder, own: own, ["--arch", "mesoinception4"],
     "holds Meso4 weights, not MesoInception4 (drop --arch or fix it)"),
]


@pytest.mark.parametrize(("make", "options", "message"), [case[1:] for case in WEIGHT_CASES],
                         ids=[case[0] for case in WEIGHT_CASES])
def test_unusable_weights_are_one_line_usage_errors(make: Callable[[Path, Path], Path], options: list[str],
                                                    message: str, own_weights: Path, face_jpeg: Path, tmp_path: Path,
                                                    run_cli: RunCli) -> None:
    weights = make(tmp_path, own_weights)
    result = run_cli("scan", "--weights", weights, *options, face_jpeg)
    assert result.code == 2
    line = result.error_line()
    assert line.startswith(f"{weights}: ") and message in line


def test_eval_refuses_them_the_same_way(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_faces(tmp_path / "data", {"df": 2, "real": 2})
    weights = _text(tmp_path, tmp_path)
    result = run_cli("eval", "--data", data, "--weights", weights, "-q")
    assert result.code == 2 and result.error_line() == f"{weights}: not an HDF5 weights file"


@pytest.mark.parametrize("command", ["eval", "explain", "export"])
def test_a_model_card_given_as_weights_is_not_called_corrupted(command: str, own_weights: Path, face_jpeg: Path,
                                                               tmp_path: Path, run_cli: RunCli) -> None:
    """The JSON card beside the weights, given by mistake: its sha256 differs from the one it records, so every
    command said the file was "corrupted or was replaced", a false alarm about the evidence chain."""
    card = _card(tmp_path, own_weights)
    args = {"eval": ["eval", "--data", make_faces(tmp_path / "data", {"df": 2, "real": 2}), "--weights", card, "-q"],
            "explain": ["explain", face_jpeg, "--out", tmp_path / "maps", "--weights", card],
            "export": ["export", card, "--out", tmp_path / "m.onnx"]}[command]
    result = run_cli(*args)
    assert result.code == 2 and result.error_line() == (
        f"{card}: a model card (JSON), not a weights file (give {tmp_path / own_weights.name})")
    assert not (tmp_path / "maps").exists() and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_an_onnx_export_given_to_export_is_not_called_corrupted(fmt: str, tmp_path: Path, run_cli: RunCli) -> None:
    """``export meso4_df.onnx`` beside ``meso4_df.json`` (the weights' card, which the export shares a name with):
    its sha256 is not the weights', so export said the file "is corrupted or was replaced", a false alarm about the
    evidence chain. It says that it is already an export, and which weights file to give."""
    from mesocli.weights import bundled_dir

    for name in ("meso4_df.onnx", "meso4_df.json", "meso4_df.weights.h5"):
        shutil.copyfile(bundled_dir() / name, tmp_path / name)
    export = tmp_path / "meso4_df.onnx"
    before = sorted(tmp_path.iterdir())
    result = run_cli("export", export, "--format", fmt, "--out", tmp_path / "out" / f"m.{fmt}")
    assert result.code == 2 and result.error_line() == (
        f"{export}: already an ONNX export, not a weights file: export takes a weights file (.weights.h5, or the "
        f"authors' .h5) (give {tmp_path / 'meso4_df.weights.h5'})")
    assert sorted(tmp_path.iterdir()) == before


def _empty(folder: Path, own: Path) -> Path:
    (folder / "empty.weights.h5").touch()
    return folder / "empty.weights.h5"


def _missing_onnx(folder: Path, own: Path) -> Path:
    return folder / "missing.onnx"


EXPORT_CASES = [*[case for case in WEIGHT_CASES if not case[2]],
                ("empty-weights-file", _empty, [], "not an HDF5 weights file"),
                ("missing-onnx", _missing_onnx, [],
                 "weights file not found (export takes a weights file: .weights.h5, or the authors' .h5)")]


@pytest.mark.parametrize(("make", "message"), [(case[1], case[3]) for case in EXPORT_CASES],
                         ids=[case[0] for case in EXPORT_CASES])
def test_export_refuses_them_the_same_way(make: Callable[[Path, Path], Path], message: str, own_weights: Path,
                                          tmp_path: Path, run_cli: RunCli) -> None:
    """``export missing.onnx`` said "an output cannot be one of the inputs" (its default output, beside it, is its
    own name): a missing source is said to be missing, as scan says it; each other unusable source too, in one line,
    nothing written (beside it, or to --out)."""
    source = make(tmp_path, own_weights)
    before = sorted(tmp_path.iterdir())
    for out in ((), ("--out", tmp_path / "out" / "m.onnx")):
        result = run_cli("export", source, *out)
        assert result.code == 2
        line = result.error_line()
        assert line.startswith(f"{source}: ") and message in line, line
        assert sorted(tmp_path.iterdir()) == before


def test_debug_shows_the_traceback(tmp_path: Path, face_jpeg: Path, run_cli: RunCli) -> None:
    """``--debug``: the traceback, then the one line and exit status 2, as without it (it was Python's 1)."""
    result = run_cli("--debug", "scan", "--weights", tmp_path / "absent.h5", face_jpeg)
    assert result.code == 2, result.err
    assert "Traceback (most recent call last):" in result.err and "WeightsError: " in result.err, result.err
    assert result.err.splitlines()[-1] == f"mesocli: error: {tmp_path / 'absent.h5'}: weights file not found"


# ---------------------------------------------------------------------------------------------- code in files


@pytest.fixture(scope="module")
def lambda_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    """Meso4 as a full Keras model behind a Lambda layer that writes a marker file when it runs.

    ``h5``: the legacy full-model HDF5 (layers named as the authors' files name them, so mesocli can
    read its weights); ``keras``: the Keras 3 archive.
    """
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model

    keras = import_tensorflow().keras
    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "code-ran.txt"
    evil = eval(f"lambda x: (open({str(marker)!r}, 'w').write('ran'), x)[1]")  # a lambda Keras serialises
    base = build_model("meso4")
    inputs = keras.Input((256, 256, 3), name="image")
    x = keras.layers.Lambda(evil, name="lambda_1")(inputs)
    for layer in base.layers[1:]:  # Meso4 is a chain of layers
        x = layer(x)
    model = keras.Model(inputs, x)
    files = {"h5": folder / "full_model.h5", "keras": folder / "full_model.keras"}
    for path in files.values():
        model.save(path)
    marker.unlink()  # building the model called the Lambda once
    return marker, files


def test_keras_archive_with_code_is_refused_and_nothing_runs(lambda_models, face_jpeg: Path,
                                                              run_cli: RunCli) -> None:
    marker, files = lambda_models
    result = run_cli("scan", "--weights", files["keras"], face_jpeg)
    assert result.code == 2
    assert "a full-model .keras archive; mesocli loads weights only" in result.error_line()
    assert not marker.exists()


def test_full_model_h5_with_code_gives_its_weights_only(lambda_models, face_jpeg: Path, tmp_path: Path,
                                                        run_cli: RunCli) -> None:
    marker, files = lambda_models
    result = run_cli("scan", "--weights", files["h5"], face_jpeg)
    assert result.code == 0 and result.err == ""
    (item,) = result.jsonl()
    assert item["status"] == "ok" and item["model"]["arch"] == "meso4"
    assert not marker.exists()  # the weights were read; the Lambda was not


def test_the_lambda_files_do_carry_code(lambda_models, tmp_path: Path) -> None:
    """The control: Keras itself, told to trust the file, runs the Lambda (so the tests above have teeth)."""
    from mesocli._tf import import_tensorflow

    marker, files = lambda_models
    copy = Path(shutil.copy(files["keras"], tmp_path / "copy.keras"))
    model = import_tensorflow().keras.models.load_model(copy, safe_mode=False)
    model(np.zeros((1, 256, 256, 3), np.float32))
    assert marker.exists()
    marker.unlink()


# ---------------------------------------------------------------------------------------------- bundled files


@pytest.fixture
def bundled(tmp_path: Path, own_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled-weights folder (a copy of a test model as meso4/df, with its card) used instead of the package's."""
    folder = tmp_path / "bundled"
    folder.mkdir()
    weights = Path(shutil.copy(own_weights, folder / "meso4_df.weights.h5"))
    card = json.loads(card_path_for(own_weights).read_text())
    card.update(weights_file=weights.name, sha256=sha256_file(weights))
    card_path_for(weights).write_text(json.dumps(card))
    monkeypatch.setattr("mesocli.weights.bundled_dir", lambda: folder)
    return weights


def test_bundled_weights_load_when_intact(bundled: Path, face_jpeg: Path, run_cli: RunCli) -> None:
    result = run_cli("scan", face_jpeg)
    assert result.code == 0 and result.jsonl()[0]["model"]["weights_sha256"] == sha256_file(bundled)


def test_corrupted_bundled_weights_are_refused(bundled: Path, face_jpeg: Path,
                                               run_cli: RunCli) -> None:
    data = bytearray(bundled.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle of the weights
    bundled.write_bytes(bytes(data))
    result = run_cli("scan", face_jpeg)
    assert result.code == 2
    line = result.error_line()
    assert line.startswith(f"{bundled}: sha256 ") and "does not match its model card" in line
    assert "corrupted or was replaced" in line


def test_an_unreadable_model_card_is_refused(bundled: Path, face_jpeg: Path,
                                             run_cli: RunCli) -> None:
    card_path_for(bundled).write_text("{ not json")
    result = run_cli("scan", face_jpeg)
    assert result.code == 2 and "unreadable model card" in result.error_line()
