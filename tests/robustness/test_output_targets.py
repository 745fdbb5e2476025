"""Where outputs land: never on the evidence read, never over a file another run wrote meanwhile, straight into
a stream (device, pipe, descriptor), through a symbolic link to its file; and a failed run leaves nothing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import RunCli
from media import make_faces

from robustness.helpers import FaultyFs


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_faces(tmp_path_factory.mktemp("data"), {"df": 4, "real": 4})


@pytest.fixture
def data_copy(tiny_data: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_data, tmp_path / "ds"))


@pytest.mark.parametrize("option", ["--plot", "--scores"])
def test_eval_never_writes_over_an_image_it_evaluates(option: str, data_copy: Path, own_weights: Path,
                                                      run_cli: RunCli) -> None:
    image = next((data_copy / "df").iterdir())
    before = image.read_bytes()
    target = image.with_suffix(".png") if option == "--plot" else image
    if option == "--plot":
        image.rename(target)  # a plot needs a plot extension: the dataset's own .png
    result = run_cli("eval", "--data", data_copy, "--weights", own_weights, option, target, "--force", "-q")
    assert (result.code, result.error_line()) == (2, f"{target}: an output cannot be one of the inputs")
    assert target.read_bytes() == before


def test_eval_writes_nothing_inside_a_class_folder(data_copy: Path, own_weights: Path, run_cli: RunCli) -> None:
    target = data_copy / "real" / "roc.png"
    result = run_cli("eval", "--data", data_copy, "--weights", own_weights, "--plot", target, "-q")
    assert result.code == 2
    assert result.error_line() == f"{target}: an output cannot be written inside {data_copy / 'real'}, whose files " \
                                  "are inputs"
    assert not target.exists()


def test_an_output_that_appears_during_the_scan_is_kept(face_jpeg: Path, own_weights: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    from mesocli import scan_run

    target = tmp_path / "same.json"
    make_writer = scan_run.make_writer

    def racing_writer(*args: object, **kwargs: object) -> object:
        target.write_text("the other run's results\n")  # another run publishes while this one scans
        return make_writer(*args, **kwargs)

    monkeypatch.setattr(scan_run, "make_writer", racing_writer)
    result = run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", target)
    assert result.code == 2
    kept = tmp_path / "same-2.json"
    assert result.error_line() == (f"{target}: exists (it appeared during the run), so this run's output is in "
                                   f"{kept}; pass --force to replace the file instead")
    assert target.read_text() == "the other run's results\n" and json.loads(kept.read_text())[0]["status"] == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name, target.name]
    assert run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", target, "--force").code == 0
    assert json.loads(target.read_text())[0]["status"] == "ok"


def test_train_refuses_a_run_folder_in_use(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    from dataclasses import asdict

    from mesocli.training import LOCK, TrainConfig, run_lock

    run = tmp_path / "run"
    with run_lock(run):  # another train of this folder, still working
        assert (run / LOCK).read_text() == f"{os.getpid()}\n"
        started = run_cli("train", tiny_data, "--out", run, "--epochs", "1", "--batch-size", "2", "-q")
        (run / "config.json").write_text(json.dumps(asdict(TrainConfig(data=str(tiny_data)))))
        resumed = run_cli("train", "--resume", run, "-q")
    refusal = f"{run} is in use by another 'mesocli train' (pid {os.getpid()}): wait for it to end"
    assert (started.code, started.error_line()) == (2, refusal + ", or use another --out")
    assert (resumed.code, resumed.error_line()) == (2, refusal)
    assert sorted(p.name for p in run.iterdir()) == ["config.json"] and not (run / LOCK).exists()


def test_a_failed_train_start_leaves_no_lock_file(tmp_path: Path, run_cli: RunCli) -> None:
    (tmp_path / "data" / "df").mkdir(parents=True)  # one class only: refused when the data is read
    make_faces(tmp_path / "data", {"real": 2})
    run = tmp_path / "new" / "run"
    result = run_cli("train", tmp_path / "data", "--out", run, "--epochs", "1", "-q")
    assert result.code == 2 and not (tmp_path / "new").exists()


# ------------------------------------------------------------------------------------ streams and links


def test_scan_writes_into_a_device_without_force(face_jpeg: Path, own_weights: Path, run_cli: RunCli) -> None:
    result = run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", "/dev/null")
    assert result.code == 0 and result.err == ""
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("command", ["scan", "eval"])
def test_an_output_link_to_a_descriptor_is_written_into(command: str, face_jpeg: Path, own_weights: Path,
                                                        tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    read, write = os.pipe()
    link = tmp_path / "mystdout"
    link.symlink_to(f"/proc/self/fd/{write}")
    try:
        args = (("scan", face_jpeg, "-o", link, "--format", "jsonl") if command == "scan"
                else ("eval", "--data", tiny_data, "--scores", link, "--bootstrap", "0"))
        result = run_cli(*args, "--weights", own_weights, "-q", "--force")
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            written = pipe.read().decode()
    finally:
        with contextlib.suppress(OSError):
            os.close(write)
    assert result.code == 0, result.err
    assert link.is_symlink() and [p.name for p in tmp_path.iterdir()] == ["mystdout"]
    assert written.startswith('{"path":' if command == "scan" else "path,label,")


def test_an_output_link_to_a_file_protects_and_replaces_the_file(face_jpeg: Path, own_weights: Path, tmp_path: Path,
                                                                 run_cli: RunCli) -> None:
    real = tmp_path / "real.json"
    real.write_text("earlier\n")
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    refused = run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", link)
    assert refused.code == 2 and "exists; pass --force" in refused.error_line() and real.read_text() == "earlier\n"
    assert run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", link, "--force").code == 0
    assert link.is_symlink() and json.loads(real.read_text())[0]["status"] == "ok"


def test_an_output_name_of_250_bytes_is_written(face_jpeg: Path, own_weights: Path, tmp_path: Path,
                                                run_cli: RunCli) -> None:
    target = tmp_path / ("r" * 245 + ".json")
    assert run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "-o", target).code == 0
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# ------------------------------------------------------------------------------------ failures leave nothing


def test_a_failed_scan_start_leaves_no_folder(face_jpeg: Path, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("scan", face_jpeg, "-o", tmp_path / "new1" / "new2" / "o.json", "--weights",
                     tmp_path / "missing.h5")
    assert result.code == 2 and list(tmp_path.iterdir()) == []


def test_extract_into_a_broken_link(face_jpeg: Path, tmp_path: Path, run_cli: RunCli) -> None:
    dangling = tmp_path / "dangl"
    dangling.symlink_to("nowhere")
    result = run_cli("extract", face_jpeg, dangling)
    assert (result.code, result.error_line()) == (2, f"cannot write {dangling}: {dangling} is a broken symbolic link")


def test_a_failed_explain_leaves_no_folder(face_jpeg: Path, own_weights: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    heatmaps = tmp_path / "heatmaps"
    with monkeypatch.context() as patch:
        FaultyFs(heatmaps, space=0).install(patch)  # the disk fills at the first heatmap
        result = run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "--explain", heatmaps)
    assert result.code == 2 and result.err.endswith("No space left on device\n")  # its row was on stdout
    assert list(tmp_path.iterdir()) == []
    assert run_cli("scan", face_jpeg, "--weights", own_weights, "-q", "--explain", heatmaps).code == 0


# ------------------------------------------------------------------------------------ export


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    from mesocli.weights import bundled_dir

    folder = tmp_path / "e1"
    folder.mkdir()
    for name in ("meso4_df.weights.h5", "meso4_df.json"):
        shutil.copy(bundled_dir() / name, folder / name)
    return folder / "meso4_df.weights.h5"


def test_export_to_a_trailing_slash_writes_into_a_folder(weights_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("export", weights_copy, "-o", f"{tmp_path / 'eout2'}/")
    assert result.code == 0, result.err
    assert [p.name for p in (tmp_path / "eout2").iterdir()] == ["meso4_df.onnx"]


def test_export_of_one_source_given_twice(weights_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("export", weights_copy, weights_copy, "-o", tmp_path / "d")
    assert result.code == 0, result.err
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["meso4_df.onnx"] and result.out.count(" -> ") == 1


@pytest.mark.slow
def test_a_savedmodel_export_with_force_replaces_a_file_in_its_place(weights_copy: Path, tmp_path: Path,
                                                                     run_cli: RunCli) -> None:
    """--force over a file where the SavedModel folder goes: a NotADirectoryError traceback (exit 1), after
    TensorFlow had written the whole model to a temporary folder."""
    target = tmp_path / "model"
    target.write_text("an old export\n")
    result = run_cli("export", weights_copy, "--format", "savedmodel", "-o", target, "--force")
    assert result.code == 0, result.err
    assert (target / "saved_model.pb").is_file() and (target / "assets" / "mesocli_card.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1", "model"]  # no temporary folder left


@pytest.mark.slow
def test_a_tflite_export_whose_card_cannot_be_written_leaves_nothing(weights_copy: Path, tmp_path: Path,
                                                                    run_cli: RunCli) -> None:
    """The .tflite was put in place before its card: a card that could not be written (here a folder in its
    place) left a TFLite file without its card, and the next run without --force refused it as existing."""
    out = tmp_path / "out"
    (out / "m.tflite.json").mkdir(parents=True)
    result = run_cli("export", weights_copy, "--format", "tflite", "-o", out / "m.tflite", "--force")
    assert (result.code, result.error_line()) == (2, f"cannot write {out / 'm.tflite.json'}: Is a directory")
    assert [p.name for p in out.iterdir()] == ["m.tflite.json"]


def test_an_onnx_export_to_standard_output_is_the_model_alone(weights_copy: Path, tmp_path: Path) -> None:
    """``export W --out /dev/stdout > m.onnx``: the summary line went to standard output too, over the model's
    first bytes (a file) or after its last (a pipe): a model that no runtime could parse, exit 0."""
    import subprocess
    import sys

    from mesocli.runtime import load_onnx
    from mesocli.weights import sha256_file

    command = [sys.executable, "-m", "mesocli", "export", str(weights_copy), "--out", "/dev/stdout"]
    with open(tmp_path / "file.onnx", "wb") as out:
        to_file = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, timeout=300)
    to_pipe = subprocess.run(command, capture_output=True, timeout=300)
    (tmp_path / "pipe.onnx").write_bytes(to_pipe.stdout)
    line = f"{weights_copy} -> /dev/stdout (meso4, source sha256 {sha256_file(weights_copy)[:12]})\n"
    for done, name in ((to_file, "file.onnx"), (to_pipe, "pipe.onnx")):
        assert (done.returncode, done.stderr.decode()) == (0, line)
        assert load_onnx(tmp_path / name).arch == "meso4"  # a whole model, with its card
    assert (tmp_path / "file.onnx").read_bytes() == (tmp_path / "pipe.onnx").read_bytes()


@pytest.mark.parametrize(("fmt", "verify", "reason"), [
    ("savedmodel", False, "a SavedModel is a folder"),
    ("tflite", False, "a TFLite export writes its card beside it (FILE.tflite.json)"),
    ("onnx", True, "--verify reads the exported file back"),
])
def test_an_export_that_cannot_go_to_a_stream_is_refused_before_any_work(fmt: str, verify: bool, reason: str,
                                                                         weights_copy: Path, run_cli: RunCli) -> None:
    """To /dev/null: a SavedModel ended in a NotADirectoryError traceback; a TFLite file's card was written to
    /dev/null.json; --verify read the device back, an ONNX Runtime traceback."""
    result = run_cli("export", weights_copy, "--format", fmt, "--out", "/dev/null", "--force",
                     *(["--verify"] if verify else []))
    assert (result.code, result.out) == (2, "")
    assert result.error_line() == f"/dev/null: {reason}: --out cannot be a device, named pipe or descriptor"
    assert Path("/dev/null").is_char_device() and not Path("/dev/null.json").exists()


@pytest.mark.slow
def test_a_savedmodel_export_makes_its_parent_folders(weights_copy: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """As an ONNX or TFLite export does: a FileNotFoundError traceback once TensorFlow had converted the model."""
    target = tmp_path / "new" / "sub" / "model"
    result = run_cli("export", weights_copy, "--format", "savedmodel", "-o", target)
    assert result.code == 0, result.err
    assert (target / "saved_model.pb").is_file() and sorted(p.name for p in target.parent.iterdir()) == ["model"]


@pytest.mark.parametrize("force", [False, True])
def test_a_savedmodel_export_never_replaces_a_folder_that_is_not_one(force: bool, weights_copy: Path,
                                                                     run_cli: RunCli) -> None:
    """A folder named as the SavedModel goes (``meso4_df_savedmodel`` beside the weights) holding the analyst's
    own files: --force deleted it whole (shutil.rmtree), whatever it held."""
    folder = weights_copy.with_name("meso4_df_savedmodel")
    (folder / "case").mkdir(parents=True)
    (folder / "case" / "notes.txt").write_text("not an export\n")
    result = run_cli("export", weights_copy, "--format", "savedmodel", *(["--force"] if force else []))
    assert (result.code, result.out) == (2, "")
    assert result.error_line() == f"{folder}: a folder that is not a SavedModel (no saved_model.pb): --force " \
                                  "replaces an earlier export only, never another folder (move it, or give " \
                                  "another --out)"
    assert (folder / "case" / "notes.txt").read_text() == "not an export\n"
    assert sorted(p.name for p in folder.iterdir()) == ["case"]


def test_a_savedmodel_export_named_as_an_earlier_one_is_refused_not_put_inside(weights_copy: Path, tmp_path: Path,
                                                                              run_cli: RunCli) -> None:
    """The same ``export --format savedmodel --out model`` run twice: the second wrote a SavedModel inside the
    first (model/meso4_df_savedmodel), exit 0, instead of refusing an existing output."""
    earlier = tmp_path / "model"
    (earlier / "variables").mkdir(parents=True)
    (earlier / "saved_model.pb").write_bytes(b"an earlier export")
    result = run_cli("export", weights_copy, "--format", "savedmodel", "-o", earlier)
    assert (result.code, result.error_line()) == (2, f"{earlier}: exists; pass --force to replace it")
    assert sorted(p.name for p in earlier.iterdir()) == ["saved_model.pb", "variables"]


@pytest.mark.slow
def test_a_savedmodel_export_with_force_replaces_an_earlier_one_named_as_out(weights_copy: Path, tmp_path: Path,
                                                                            run_cli: RunCli) -> None:
    target = tmp_path / "model"
    assert run_cli("export", weights_copy, "--format", "savedmodel", "-o", target).code == 0
    result = run_cli("export", weights_copy, "--format", "savedmodel", "-o", target, "--force")
    assert result.code == 0, result.err
    assert result.out.split(" -> ")[1].startswith(f"{target} (")
    assert sorted(p.name for p in target.iterdir()) == ["assets", "fingerprint.pb", "saved_model.pb", "variables"]


def test_a_savedmodel_export_never_replaces_the_folder_that_holds_its_weights(weights_copy: Path, tmp_path: Path,
                                                                             run_cli: RunCli) -> None:
    """The weights kept inside an earlier SavedModel folder, exported again over it with --force: replacing the
    folder would delete the very weights being exported."""
    earlier = tmp_path / "model"
    (earlier / "variables").mkdir(parents=True)
    (earlier / "saved_model.pb").write_bytes(b"an earlier export")
    source = Path(shutil.copy(weights_copy, earlier / weights_copy.name))
    result = run_cli("export", source, "--format", "savedmodel", "-o", earlier, "--force")
    assert (result.code, result.error_line()) == (2, f"{earlier}: an output cannot be one of the inputs ({source} "
                                                     "lies inside it)")
    assert source.read_bytes() == weights_copy.read_bytes()


@pytest.mark.parametrize(("fmt", "out", "hit"), [
    ("onnx", "w", "w"),  # the weights file itself, named without an extension
    ("savedmodel", "w", "w"),
    ("tflite", "meso4_df", "meso4_df.json"),  # the TFLite card (FILE.json) is the weights' own model card
])
def test_an_export_never_writes_over_the_weights_or_their_card(fmt: str, out: str, hit: str, weights_copy: Path,
                                                                run_cli: RunCli) -> None:
    """--force replaced the weights being exported (``export w --out w``: the ONNX model over the HDF5 file) or
    their model card (``--format tflite --out meso4_df``: its card is meso4_df.json, the weights' card), after
    which the weights were refused as having an unreadable card."""
    folder = weights_copy.parent
    source = weights_copy if fmt == "tflite" else weights_copy.rename(folder / "w")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    result = run_cli("export", source, "--format", fmt, "--out", folder / out, "--force")
    assert (result.code, result.out) == (2, "")
    assert result.error_line() == f"{folder / hit}: an output cannot be one of the inputs"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
