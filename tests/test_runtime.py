"""ONNX export and the ONNX Runtime path: parity with Keras, fresh bundled exports, conversion cache,
and scans / evaluations with the bundled weights that never import TensorFlow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import RunCli, cli_code, fresh_python
from media import MediaKit, make_face_video, make_faces, save_face_image

from mesocli import __version__
from mesocli.errors import WeightsError
from mesocli.export import (
    SourceWeights,
    bundled_states,
    default_output,
    export,
    onnx_bytes,
    onnx_card,
    read_source,
    record_bundled_export,
    verification_faces,
    verify,
    write_onnx,
)
from mesocli.onnx_graph import build_onnx
from mesocli.provenance import library_versions
from mesocli.runtime import OnnxPredictor, load_onnx
from mesocli.weights import ModelCard, bundled_cards, bundled_dir, card_path_for, load_weights, sha256_file

AUTHORS = ("Meso4_DF.h5", "Meso4_F2F.h5", "MesoInception_DF.h5", "MesoInception_F2F.h5")
BUNDLED = [card.weights_file for card in bundled_cards()]
RANDOM = np.random.default_rng(11).integers(0, 256, (6, 256, 256, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def faces(shared_dir: Path) -> np.ndarray:
    """The authors' four test images as uint8 (inputs_256.npy is their /255), then random faces."""
    reference = np.round(np.load(shared_dir / "reference" / "inputs_256.npy") * 255).astype(np.uint8)
    return np.concatenate([reference, RANDOM])


def keras_p_fake(path: Path, faces: np.ndarray) -> np.ndarray:
    model = load_weights(path).model
    return 1.0 - model(faces.astype(np.float32) / 255.0, training=False).numpy()[:, 0].astype(np.float64)


def test_there_are_bundled_weights_to_check() -> None:
    assert BUNDLED, "no model card in weights/"  # the parametrized checks below would be skipped


@pytest.mark.parametrize("weights_file", BUNDLED)
def test_bundled_export_is_fresh_and_matches_keras(weights_file: str, faces: np.ndarray) -> None:
    weights = bundled_dir() / weights_file
    target = default_output(weights, "onnx")
    card = onnx_card(target) if target.is_file() else None
    assert card is not None and card.source_sha256 == sha256_file(weights), (
        f"{target.name} is missing or stale: run scripts/export_bundled.sh (mesocli export --bundled)"
    )
    own = ModelCard.from_json(card_path_for(weights))
    assert own.onnx_sha256 == sha256_file(target)  # else scan converts
    assert card.arch == own.arch
    assert card.resize == own.resize  # an .onnx run as it is (copied away from its card) resizes crops as its card
    (state,) = [state for state in bundled_states() if state.weights == weights]
    assert state.fresh, f"{target.name}'s card is not the one this mesocli writes: run scripts/export_bundled.sh"
    got = OnnxPredictor(target).p_fake(faces)
    assert np.abs(got - keras_p_fake(weights, faces)).max() <= 1e-5


@pytest.mark.parametrize("name", AUTHORS)
def test_authors_files_convert_within_1e5(name: str, authors_weights: Path, faces: np.ndarray) -> None:
    source = read_source(authors_weights / name)
    assert source.legacy and source.arch == ("meso4" if name.startswith("Meso4") else "mesoinception4")
    got = OnnxPredictor(onnx_bytes(source.arrays, source.arch, source.card())).p_fake(faces)
    assert np.abs(got - keras_p_fake(authors_weights / name, faces)).max() <= 1e-5
    reference = json.loads((authors_weights.parent / "reference_outputs.json").read_text())["outputs"][name]
    np.testing.assert_allclose(got[:4], 1 - np.asarray(reference["p_real"]), atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
@pytest.mark.parametrize("fmt", ["savedmodel", "tflite"])
def test_tensorflow_formats_match_keras(fmt: str, authors_weights: Path, faces: np.ndarray, tmp_path: Path) -> None:
    source = read_source(authors_weights / "MesoInception_DF.h5")
    written = export(source, tmp_path / f"out.{fmt}", fmt)
    assert verify(source, written, fmt, faces) <= 1e-5


def test_weights_files_are_converted_once_then_cached(own_weights: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "cache"))
    first, second = load_onnx(own_weights), load_onnx(own_weights)
    assert (first.origin, second.origin) == ("converted", "cache")
    assert first.describe() == second.describe() == load_weights(own_weights).describe()
    np.testing.assert_allclose(second.predictor().p_fake(RANDOM), keras_p_fake(own_weights, RANDOM), atol=1e-5)
    with pytest.raises(WeightsError, match="holds Meso4 weights, not MesoInception4"):
        load_onnx(own_weights, "mesoinception4")  # from the cache too


def test_an_exported_onnx_file_is_scanned_as_its_weights_are(own_weights: Path, tmp_path: Path, kit: MediaKit,
                                                              run_cli: RunCli) -> None:
    exported = tmp_path / "mine.onnx"
    code, _, err = run_cli("export", own_weights, "--out", exported)
    assert code == 0, err
    loaded = load_onnx(exported)
    source = load_weights(own_weights).describe()
    assert loaded.origin == "exported" and loaded.describe() == {  # what ran: the file given, by its own sha256
        "arch": "meso4", "name": f"mine.onnx (exported from {source['name']}, sha256 {source['weights_sha256'][:12]})",
        "weights_sha256": sha256_file(exported)}
    np.testing.assert_allclose(loaded.predictor().p_fake(RANDOM), keras_p_fake(own_weights, RANDOM), atol=1e-5)
    rows = [json.loads(run_cli("scan", kit.face_jpeg, "--weights", weights, "--format", "jsonl", "-q").out)
            for weights in (own_weights, exported)]
    assert rows[0]["p_fake"] == pytest.approx(rows[1]["p_fake"], abs=1e-5)
    assert rows[1]["model"] == loaded.describe()
    with pytest.raises(WeightsError, match="holds Meso4 weights, not MesoInception4"):
        load_onnx(exported, "mesoinception4")
    code, _, err = run_cli("scan", kit.face_jpeg, "--weights", exported, "--runtime", "tensorflow", "-q")
    assert code == 2 and err.endswith("an exported ONNX model holds no Keras weights: it runs on --runtime onnx "
                                      "(the default) only; for TensorFlow, give the weights file it was exported "
                                      "from\n")
    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(b"not an onnx model")
    with pytest.raises(WeightsError, match="not an ONNX model written by `mesocli export`"):
        load_onnx(foreign)


def _bundled_copy(own_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of ``own_weights`` as the bundled ``meso4_df`` in ``tmp_path/bundled`` (with its card, which
    :func:`_write_card` rewrites), that folder standing for ``weights/``; the copy's path."""
    folder = tmp_path / "bundled"
    folder.mkdir()
    weights = Path(shutil.copy(own_weights, folder / "meso4_df.weights.h5"))
    _write_card(own_weights, weights)
    monkeypatch.setattr("mesocli.weights.bundled_dir", lambda: folder)
    return weights


def _write_card(own_weights: Path, weights: Path) -> None:
    """``own_weights``' model card beside ``weights``, naming that file and its sha256."""
    card = ModelCard.from_json(card_path_for(own_weights))
    card.weights_file, card.sha256 = weights.name, sha256_file(weights)
    card_path_for(weights).write_text(card.to_json())


def test_a_stale_bundled_export_is_not_used_and_check_says_so(own_weights: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              run_cli: RunCli) -> None:
    weights = _bundled_copy(own_weights, tmp_path, monkeypatch)
    folder = weights.parent
    assert run_cli("export", "--bundled")[0] == 0
    assert run_cli("export", "--bundled", "--check")[0] == 0
    assert load_onnx(weights).origin == "bundled"
    bundled = folder / "meso4_df.onnx"  # rebuilt byte for byte from its weights: no provenance in its card
    made = bundled.read_bytes()
    assert onnx_card(bundled).provenance is None  # type: ignore[union-attr]
    assert run_cli("export", "--bundled", "--force")[0] == 0 and bundled.read_bytes() == made
    with h5py.File(weights, "r+") as h5:  # retrained: one bias changes
        h5["layers/dense_1/vars/1"][...] += 1.0
    _write_card(own_weights, weights)
    code, out, _ = run_cli("export", "--bundled", "--check")
    assert code == 1 and "stale" in out
    assert [s.fresh for s in bundled_states()] == [False]
    assert load_onnx(weights).origin == "converted"


def test_check_calls_a_bundled_export_whose_card_this_mesocli_would_not_write_stale(
        own_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """A bundled export made by an earlier mesocli, whose card says what this one no longer writes (the df exports
    said "Pillow bilinear resize" beside ``resize: nearest``), its model card naming it: ``export --bundled --check``
    said "up to date" (it compared the sha256s only), and ``export --bundled`` kept it. It is stale now, and rebuilt."""
    from dataclasses import replace

    weights = _bundled_copy(own_weights, tmp_path, monkeypatch)
    bundled = weights.parent / "meso4_df.onnx"
    assert run_cli("export", "--bundled")[0] == 0
    made = bundled.read_bytes()
    source = read_source(weights)
    said = replace(source.card(), input=source.card().input.replace("Pillow", "an earlier mesocli's"))
    bundled.write_bytes(onnx_bytes(source.arrays, source.arch, said))
    record_bundled_export(weights, bundled)  # (as that mesocli recorded it)
    code, out, _ = run_cli("export", "--bundled", "--check")
    assert code == 1 and "stale" in out, out
    assert run_cli("export", "--bundled")[0] == 0 and bundled.read_bytes() == made
    assert run_cli("export", "--bundled", "--check")[0] == 0


def test_a_bundled_file_exported_by_its_path_beside_it_stays_the_bundled_export(
        own_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """``mesocli export weights/meso4_df.weights.h5 --force`` rebuilt the bundled ONNX byte for byte, as
    ``--bundled`` does; since exports carry their provenance it wrote that into the bundled file, which then no longer
    matched its model card: ``--check`` called it stale and scan converted the weights instead of running it. An
    export of a bundled weights file to the ONNX beside it is the bundled export."""
    weights = _bundled_copy(own_weights, tmp_path, monkeypatch)
    folder = weights.parent
    assert run_cli("export", "--bundled")[0] == 0
    bundled = folder / "meso4_df.onnx"
    made, card_text = bundled.read_bytes(), card_path_for(weights).read_text()
    monkeypatch.chdir(folder)  # by a relative path too
    code, _, err = run_cli("export", "meso4_df.weights.h5", "--force")
    assert code == 0, err
    assert bundled.read_bytes() == made and card_path_for(weights).read_text() == card_text
    assert run_cli("export", "--bundled", "--check")[0] == 0 and load_onnx(weights).origin == "bundled"
    code, _, err = run_cli("export", weights, "--out", tmp_path / "mine.onnx")  # elsewhere: an export
    assert code == 0, err
    assert onnx_card(tmp_path / "mine.onnx").provenance is not None  # type: ignore[union-attr]


def _shift_a_bias(onnx_file: Path) -> None:
    """Edit the graph's last bias, as someone replacing the network behind a file's back would."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(onnx_file)
    bias = [tensor for tensor in model.graph.initializer if tensor.dims == [1]][-1]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) - 2.0, bias.name))
    onnx.save(model, onnx_file)


def test_an_edited_bundled_export_is_not_run(own_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             run_cli: RunCli) -> None:
    weights = _bundled_copy(own_weights, tmp_path, monkeypatch)
    folder = weights.parent
    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "cache"))
    assert run_cli("export", "--bundled")[0] == 0
    assert ModelCard.from_json(card_path_for(weights)).onnx_sha256 == sha256_file(folder / "meso4_df.onnx")
    assert load_onnx(weights).origin == "bundled"
    expected = keras_p_fake(weights, RANDOM)
    _shift_a_bias(folder / "meso4_df.onnx")  # its source_sha256 still names the weights: it used to run
    loaded = load_onnx(weights)
    assert loaded.origin == "converted" and loaded.describe()["weights_sha256"] == sha256_file(weights)
    np.testing.assert_allclose(loaded.predictor().p_fake(RANDOM), expected, atol=1e-5)
    code, out, _ = run_cli("export", "--bundled", "--check")
    assert code == 1 and "stale" in out


def test_an_edited_cached_model_is_converted_again(own_weights: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "cache"))
    assert load_onnx(own_weights).origin == "converted"
    (cached,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    assert load_onnx(own_weights).origin == "cache"
    _shift_a_bias(cached)
    loaded = load_onnx(own_weights)
    assert loaded.origin == "converted"  # not the edited graph under the weights' sha256
    np.testing.assert_allclose(loaded.predictor().p_fake(RANDOM), keras_p_fake(own_weights, RANDOM), atol=1e-5)
    assert load_onnx(own_weights).origin == "cache"  # rewritten


def test_runtimes_give_the_same_results(kit: MediaKit, run_cli: RunCli) -> None:
    video = kit.face_video
    outputs = {}
    for runtime in ("onnx", "tensorflow"):
        code, out, err = run_cli("scan", "--runtime", runtime, "--detail", "--format", "json", "--frames", "6", video)
        assert code == 0, err
        outputs[runtime] = json.loads(out)[0]
    onnx, tf = outputs["onnx"], outputs["tensorflow"]
    assert onnx["status"] == "ok" and len(onnx["scores"]) == 6
    assert abs(onnx.pop("p_fake") - tf.pop("p_fake")) <= 1e-5
    for a, b in zip(onnx.pop("scores"), tf.pop("scores"), strict=True):
        assert abs(a.pop("p_fake") - b.pop("p_fake")) <= 1e-5 and a == b
    onnx.pop("seconds"), tf.pop("seconds"), onnx.pop("scanned_at"), tf.pop("scanned_at")
    made = {"onnx": onnx.pop("settings"), "tensorflow": tf.pop("settings")}  # each row says which ran, and its library
    assert [list(made[runtime].pop("libraries"))[:2] for runtime in made] == [["onnxruntime", "numpy"],
                                                                              ["tensorflow", "keras"]]
    assert made["onnx"] | {"runtime": "tensorflow"} == made["tensorflow"]
    assert onnx == tf


def test_scan_and_eval_with_bundled_weights_never_import_tensorflow(tmp_path: Path) -> None:
    face = tmp_path / "face.jpg"
    save_face_image(face, size=(256, 256))
    data = make_faces(tmp_path / "data", {"df": 2, "real": 2})
    probe = "print('loaded', *sorted(m for m in ('mesocli.api', 'mesocli.scan', 'mesocli.extract', 'matplotlib') "
    probe += "if m in sys.modules))\n"
    out, modules = fresh_python(cli_code("eval", "--data", data, "-q") + probe + cli_code("scan", "--detector", "none",
                                                                                        face))
    assert out.splitlines().count("exit 0") == 2, out
    assert not modules & {"tensorflow", "keras"}
    # eval's start-up imports neither the API module nor the scan and extract modules it imports (without --plot,
    # no matplotlib either)
    assert [line for line in out.splitlines() if line.startswith("loaded")] == ["loaded"], out


def test_workers_give_the_same_results_in_the_same_order(tmp_path: Path, run_cli: RunCli) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    make_face_video(folder / "a.mp4", 8)
    save_face_image(folder / "b.jpg")
    (folder / "c.mp4").write_text("not a video\n")
    runs = {}
    for workers in ("1", "2"):
        code, out, err = run_cli("scan", "--workers", workers, "--frames", "4",
                                 "--format", "jsonl", folder, tmp_path / "missing.jpg")
        assert code == 3, err
        runs[workers] = [json.loads(line) for line in out.splitlines()]
        for item in runs[workers]:
            item.pop("seconds"), item.pop("scanned_at")
    assert [r["status"] for r in runs["1"]] == ["ok", "ok", "error", "error"]
    assert runs["1"] == runs["2"]


def test_a_weights_file_without_layer_names_is_read_through_keras(own_weights: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copy(own_weights, tmp_path / "unnamed.weights.h5"))
    with h5py.File(copy, "r+") as h5:  # as an older Keras 3 wrote them: no layer names inside
        h5.visititems(lambda name, obj: obj.attrs.__delitem__("name") if "name" in obj.attrs else None)
    converted = load_onnx(copy)
    assert converted.arch == "meso4" and converted.origin == "converted"
    np.testing.assert_allclose(converted.predictor().p_fake(RANDOM), keras_p_fake(own_weights, RANDOM), atol=1e-5)


def test_export_refuses_two_sources_with_one_output(own_weights: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """Two runs' best.weights.h5 into one folder would both be out/best.onnx: refused before any work."""
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    for folder in (a, b, out):
        folder.mkdir()
        shutil.copy(own_weights, folder / "best.weights.h5")
    result = run_cli("export", a / "best.weights.h5", b / "best.weights.h5", "--out", out, "--force")
    assert result.code == 2 and result.error_line() == (
        f"{out / 'best.onnx'}: {a / 'best.weights.h5'} and {b / 'best.weights.h5'} would both "
        "be exported there (export them one at a time, each with its own --out)")
    assert sorted(p.name for p in out.iterdir()) == ["best.weights.h5"]  # (one file given twice: exported once)
    (out / "best.tflite.json").write_text("{}")  # a TFLite file's card is an output too
    result = run_cli("export", a / "best.weights.h5", "--format", "tflite", "--out", out)
    assert result.code == 2 and result.error_line() == f"{out / 'best.tflite.json'}: exists; pass --force to replace it"
    assert (out / "best.tflite.json").read_text() == "{}" and not (out / "best.tflite").exists()


@pytest.mark.parametrize(("fmt", "name", "named"), [("tflite", "y.onnx", "ONNX"), ("savedmodel", "z.onnx", "ONNX"),
                                                    ("onnx", "m.tflite", "TFLite"),
                                                    ("onnx", "w.weights.h5", "Keras weights")])
def test_export_refuses_an_out_named_for_another_format(fmt: str, name: str, named: str, own_weights: Path,
                                                       tmp_path: Path, run_cli: RunCli) -> None:
    target = tmp_path / name
    result = run_cli("export", own_weights, "--format", fmt, "--out", target)
    assert result.code == 2 and result.error_line() == (
        f"{target}: {target.suffix} is the extension of {named} files, not of --format {fmt} (change --format or "
        "the name)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_tflite_export_keeps_tensorflow_lines_off_the_terminal(own_weights: Path, tmp_path: Path) -> None:
    """Converter and interpreter (--verify) notices are captured, as TensorFlow's start-up lines are."""
    env = {k: v for k, v in os.environ.items() if k not in ("MESOCLI_TF_VERBOSE", "TF_CPP_MIN_LOG_LEVEL")}
    target = tmp_path / "m.tflite"
    done = subprocess.run([sys.executable, "-m", "mesocli", "export", str(own_weights), "--format", "tflite",
                           "--out", str(target), "--verify"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"{own_weights} -> {target} (meso4") and target.stat().st_size > 0


def _unscaled_export(source: SourceWeights, path: Path) -> Path:
    """``source`` as ONNX but fed 0-255 pixels (the /255 left out, the authors' pipeline.py pitfall)."""
    from onnx import numpy_helper

    model = build_onnx(source.arrays, source.arch, source.card().metadata())
    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == "scale_255":
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(np.array(1.0, np.float32), tensor.name))
    path.write_bytes(model.SerializeToString())
    return path


def test_verify_catches_an_export_that_leaves_out_the_scaling(tmp_path: Path) -> None:
    """--verify fed white noise, on which the bundled MesoInception4 df says p_fake 0 for every face: an export
    without the /255 gave 0 too and passed with a difference of 0."""
    source = read_source(bundled_dir() / "mesoinception4_df.weights.h5")
    assert verify(source, _unscaled_export(source, tmp_path / "unscaled.onnx"), "onnx") > 1e-2
    assert verify(source, write_onnx(source, tmp_path / "right.onnx"), "onnx") <= 1e-5


@pytest.mark.parametrize("weights_file", BUNDLED)
def test_the_verification_faces_tell_a_broken_export_from_a_right_one(weights_file: str) -> None:
    """Every bundled network gives them scores away from 0 and 1, which move when the channels are swapped
    or the /255 is left out."""
    model = load_weights(bundled_dir() / weights_file).model
    faces = verification_faces()

    def p_fake(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
        return 1.0 - model(x.astype(np.float32) / scale, training=False).numpy()[:, 0].astype(np.float64)

    right = p_fake(faces)
    assert ((right > 1e-3) & (right < 1 - 1e-3)).sum() >= len(faces) // 2, right
    assert np.abs(p_fake(faces[..., ::-1]) - right).max() > 1e-2  # BGR instead of RGB
    assert np.abs(p_fake(faces, 1.0) - right).max() > 1e-2  # 0-255 instead of 0-1


def test_export_bundled_refuses_an_out_it_would_ignore(tmp_path: Path, run_cli: RunCli) -> None:
    """--bundled writes beside the bundled weights: an --out given with it was ignored, exit 0, nothing there."""
    result = run_cli("export", "--bundled", "--out", f"{tmp_path / 'deploy'}/")
    assert (result.code, result.out) == (2, "")
    assert result.error_line() == ("--out does not go with --bundled, which writes beside the bundled weights: "
                                   f"export each file to --out by its path (they are in {bundled_dir()})")
    assert not (tmp_path / "deploy").exists()


@pytest.mark.parametrize("flag", ["--verify", "--force"])
def test_export_check_refuses_what_it_would_ignore(flag: str, run_cli: RunCli) -> None:
    """``--bundled --check`` only reports whether each export is fresh: ``--verify`` (and ``--force``) given with it
    were ignored, exit 0, as if the exports had been verified."""
    result = run_cli("export", "--bundled", "--check", flag)
    assert (result.code, result.out) == (2, "")
    assert result.error_line() == f"--check only reports whether each export is fresh: not with {flag}"


@pytest.mark.parametrize("threads", [None, 2])
def test_threads_sharing_a_fresh_model_build_its_session_once(threads: int | None,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads taking their first predictor from one loaded model at once (one model may scan from several
    threads) each built its ONNX Runtime session: twice the memory and the start. Now the first build happens
    once, and every thread scores with that session."""
    import dataclasses
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import onnxruntime

    loaded = load_onnx(bundled_dir() / "meso4_df.weights.h5")
    fresh = dataclasses.replace(loaded, session=None)  # what a worker process receives: no session yet
    assert fresh.onnx == (bundled_dir() / "meso4_df.onnx").read_bytes()  # the real bundled graph
    real_session, built = onnxruntime.InferenceSession, []

    def counting(*args, **kwargs):
        built.append(threading.get_ident())
        time.sleep(0.2)  # a session takes a while to build: the other threads reach the check meanwhile
        return real_session(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting)
    start = threading.Barrier(6)

    def first_predictor(_: int):
        start.wait()
        return fresh.predictor(threads=threads)

    with ThreadPoolExecutor(6) as pool:
        predictors = list(pool.map(first_predictor, range(6)))
    assert len(built) == 1
    assert len({id(predictor._session) for predictor in predictors}) == 1
    expected = loaded.predictor().p_fake(RANDOM)
    for predictor in predictors:
        np.testing.assert_allclose(predictor.p_fake(RANDOM), expected, rtol=0, atol=1e-6)


def test_a_process_forked_while_a_session_is_built_builds_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock that builds a model's first session once is module-wide: a process forked (``multiprocessing``'s
    default start on Linux before Python 3.14) while another thread held it inherited it held, by no thread of
    its own, and its first session never came: the child hung. Now a forked child starts with the lock free."""
    import dataclasses
    import multiprocessing
    import threading

    import onnxruntime

    loaded = load_onnx(bundled_dir() / "meso4_df.weights.h5")
    in_thread, in_child = dataclasses.replace(loaded, session=None), dataclasses.replace(loaded, session=None)
    parent, building, release = os.getpid(), threading.Event(), threading.Event()
    real_session = onnxruntime.InferenceSession

    def held(*args, **kwargs):
        if os.getpid() == parent:  # the parent's thread stays inside the build while the child is forked
            building.set()
            release.wait()
        return real_session(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", held)
    thread = threading.Thread(target=in_thread.predictor)
    thread.start()
    try:
        assert building.wait(60)
        child = multiprocessing.get_context("fork").Process(target=lambda: in_child.predictor().p_fake(RANDOM))
        child.start()
        child.join(120)  # a hung child is killed below: what is tested is that it ends, not how fast
        hung = child.is_alive()
        if hung:
            child.kill()
            child.join()
    finally:
        release.set()
        thread.join()
    assert not hung and child.exitcode == 0


@pytest.mark.slow
def test_a_tflite_or_savedmodel_export_given_as_weights_says_what_it_is(own_weights: Path, tmp_path: Path,
                                                                      kit: MediaKit, run_cli: RunCli) -> None:
    """A researcher who exported to TFLite or SavedModel and gave the result to ``scan``/``eval``/``explain
    --weights`` read "not an HDF5 weights file" (TFLite), "is a folder, not a weights file" (SavedModel) or, from
    explain, "weights file not found" for a folder that is there. Now the error says what the file is, which
    weights it was exported from, and what mesocli runs instead."""
    source = load_weights(own_weights).describe()
    origin = f"exported from {source['name']}, sha256 {source['weights_sha256'][:12]}"
    takes = ("mesocli runs weights files (.weights.h5, the authors' .h5) and ONNX exports: give the weights it was "
             "exported from, or export them with --format onnx")
    for label in ("df", "real"):
        (tmp_path / "data" / label).mkdir(parents=True)
        shutil.copy(kit.face_jpeg, tmp_path / "data" / label / "v_0.jpg")
    for fmt, target, what in (("tflite", tmp_path / "m.tflite", "a TFLite model"),
                              ("savedmodel", tmp_path / "m_saved", "a TensorFlow SavedModel folder")):
        code, _, err = run_cli("export", own_weights, "--format", fmt, "--out", target)
        assert code == 0, err
        card = json.loads((tmp_path / "m.tflite.json" if fmt == "tflite" else target / "assets" / "mesocli_card.json"
                           ).read_text())  # when, and with which converter, it was made
        provenance = json.loads(card["mesocli_card"])["provenance"]
        assert provenance["libraries"] == library_versions("tensorflow", ("numpy", "h5py"))
        assert provenance["mesocli"] == __version__ and "exported_at" not in provenance
        expected = f"{target}: {what} ({origin}): {takes}"
        for command in (("scan", kit.face_jpeg, "-q"), ("eval", "--data", tmp_path / "data", "-q"),
                        ("explain", kit.face_jpeg, "--out", tmp_path / "maps")):
            result = run_cli(*command, "--weights", target)
            assert (result.code, result.error_line()) == (2, expected), command
        with pytest.raises(WeightsError, match="^" + re.escape(expected) + "$"):
            load_onnx(target)
    (tmp_path / "m.tflite.json").unlink()  # without its card: what it is, not where it came from
    with pytest.raises(WeightsError, match=re.escape(f"{tmp_path / 'm.tflite'}: a TFLite model: {takes}")):
        load_onnx(tmp_path / "m.tflite")


def test_an_onnx_export_says_which_software_made_it_and_is_made_again_byte_for_byte(own_weights: Path, tmp_path: Path,
                                                                                    run_cli: RunCli) -> None:
    """An export's card named the weights it came from, not the software that made it: a model handed on as
    evidence could not say which onnx wrote it. Now the card holds ``provenance`` (mesocli, library versions), and
    no time, so that the same export made again is the same bytes; the weights converted for ``--runtime onnx`` at
    scan time (not an export) carry none, as before."""
    target, again = tmp_path / "m.onnx", tmp_path / "again.onnx"
    code, _, err = run_cli("export", own_weights, "--out", target)
    assert code == 0, err
    card = onnx_card(target)
    assert card is not None and card.provenance is not None
    assert card.provenance["mesocli"] == __version__ and "exported_at" not in card.provenance
    assert card.provenance["libraries"] == library_versions(None, ("onnx", "numpy", "h5py"))
    assert all(card.provenance["libraries"].values()) and card.provenance["libraries"]["numpy"] == np.__version__
    time.sleep(1.1)  # another second: a time in the card would differ
    code, _, err = run_cli("export", own_weights, "--out", again)
    assert code == 0, err
    assert again.read_bytes() == target.read_bytes()
    source = read_source(own_weights)
    assert "provenance" not in json.loads(source.card().metadata()["mesocli_card"])


def test_the_export_line_tells_the_sources_sha256_from_the_exports(own_weights: Path, tmp_path: Path,
                                                                    kit: MediaKit, run_cli: RunCli) -> None:
    """``export`` printed ``w.weights.h5 -> m.onnx (meso4, sha256 3b99e59e20b3)``: the source's sha256, read as the
    export's, while scan and eval of ``m.onnx`` report the export's own (``weights_sha256``), another value."""
    target = tmp_path / "m.onnx"
    code, out, err = run_cli("export", own_weights, "--out", target)
    assert code == 0, err
    exported = sha256_file(target)
    assert out == (f"{own_weights} -> {target} (meso4, source sha256 {sha256_file(own_weights)[:12]}, "
                   f"export sha256 {exported[:12]})\n")
    row = json.loads(run_cli("scan", kit.face_jpeg, "--weights", target, "--format", "jsonl", "-q").out)
    assert row["model"]["weights_sha256"] == exported


def test_a_stop_while_onnxruntime_initialises_is_a_stop_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: SIGTERM (or Ctrl-C) while onnxruntime's native module initialises reached the user as
    ``ImportError: initialization failed`` with a traceback and exit 1; it is the stop itself (exit 143 / 130)."""
    import builtins

    from mesocli import runtime
    from mesocli.errors import Terminated

    real = builtins.__import__

    def interrupted(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            try:
                raise Terminated
            except Terminated as stop:
                raise ImportError("initialization failed") from stop
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(Terminated):
        runtime._session(b"")
    with pytest.raises(Terminated):
        runtime._run_options()
