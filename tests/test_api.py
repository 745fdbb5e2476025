"""The Python API: mesocli.load_model / scan / iter_scan / extract / evaluate."""

from __future__ import annotations

import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import RunCli, fresh_python
from media import MediaKit, make_faces, turned_copy

import mesocli
from mesocli import api
from mesocli.errors import ParameterError, WeightsError


@pytest.fixture(scope="module")
def model():  # an OnnxModel
    return mesocli.load_model("df")


def test_import_is_light_and_the_api_names_stay_functions() -> None:
    out, _ = fresh_python(
        "import sys, mesocli\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'onnxruntime', 'dlib', 'numpy') if m in sys.modules))\n"
        "from mesocli.scan import ScanOptions\n"  # submodules named like the API functions
        "from mesocli.extract import ExtractOptions\n"
        "from mesocli.evaluate import EvalReport\n"
        "import mesocli.api as api\n"
        "print([getattr(mesocli, n) is getattr(api, n) for n in ('scan', 'extract', 'evaluate', 'load_model')],"
        " mesocli.ScanResult.__name__, mesocli.EvalReport is EvalReport)"
    )
    assert out.split() == ["[]", "[True,", "True,", "True,", "True]", "ScanResult", "True"]


def test_type_hints_of_every_public_callable_resolve() -> None:
    """``typing.get_type_hints(mesocli.scan)`` raised NameError (``Model``, ``ScanResult``: names imported only
    under TYPE_CHECKING); every callable in ``mesocli.__all__`` and ``mesocli.api.__all__`` now resolves, to the
    real classes, in a fresh interpreter and without loading a framework."""
    out, modules = fresh_python(
        "import typing, mesocli\n"
        "from mesocli import api\n"
        "names = [n for n in mesocli.__all__ if callable(getattr(mesocli, n))]\n"
        "names += [n for n in api.__all__ if callable(getattr(api, n)) and not isinstance(getattr(api, n), type)"
        " and not typing.get_args(getattr(api, n))]\n"
        "hints = {n: typing.get_type_hints(getattr(mesocli, n, None) or getattr(api, n)) for n in names}\n"
        "print(sorted(set(names)))\n"
        "print(hints['scan']['return'] == list[mesocli.ScanResult], hints['iter_scan']['return'],"
        " hints['evaluate']['return'] is mesocli.EvalReport, hints['extract']['return'] is mesocli.ExtractSummary)\n"
        "print(sorted(t.__name__ for t in typing.get_args(hints['load_model']['return'])))\n"
    )
    names, scan_return, models = out.strip().splitlines()
    assert {"EvalReport", "ExtractSummary", "ScanResult", "evaluate", "extract", "iter_scan", "load_model",
            "scan", "train", "export_weights", "explain", "open_dataset", "model_names"} <= set(eval(names))
    assert scan_return == "True collections.abc.Iterator[mesocli.scan.ScanResult] True True"
    assert models == "['DetectorSet', 'Ensemble', 'LoadedModel', 'OnnxModel']"
    assert not modules & {"tensorflow", "keras", "onnxruntime", "dlib"}


def test_what_train_returns_and_on_progress_takes_are_typed() -> None:
    """``mypy --strict`` on a user script: ``state, run = api.train(...)`` gave ``state`` the type Any (the return
    was ``tuple[Any, Path]``); it is the TrainState the run ends with. ``on_progress`` is typed for scan too."""
    import inspect
    import typing
    from collections.abc import Callable

    from mesocli.checkpoint import TrainState
    from mesocli.scan import ScanProgress

    assert typing.get_type_hints(api.train)["return"] == tuple[TrainState, Path]
    taken = Callable[[ScanProgress], object] | None
    assert typing.get_type_hints(api.iter_scan)["on_progress"] == taken
    assert inspect.signature(mesocli.scan).parameters["on_progress"].default is None


def test_the_api_names_what_it_exports() -> None:
    """``open_dataset`` moved to :mod:`mesocli.datasets` and is re-exported by the API: the type-hint check took
    only functions defined in ``mesocli.api`` and dropped it, and ``help(mesocli.api)`` no longer listed it.
    ``api.__all__`` names every public function the module defines or re-exports, help lists each, and the
    README names each function."""
    import inspect
    import pydoc

    assert all(hasattr(api, name) for name in api.__all__)
    functions = {name for name, value in vars(api).items() if inspect.isfunction(value) and not name.startswith("_")
                 and value.__module__ in (api.__name__, "mesocli.datasets")}
    assert functions <= set(api.__all__), sorted(functions - set(api.__all__))
    shown = pydoc.plain(pydoc.render_doc(api))
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in api.__all__:
        assert re.search(rf"^    {name}\b", shown, re.MULTILINE), name
        if inspect.isfunction(getattr(api, name)):
            assert re.search(rf"\b(mesocli|api)\.{name}\b", readme), f"README does not name {name}"


def test_what_the_api_passes_on_is_what_the_library_functions_declare() -> None:
    """mypy on api.py: ``mesocli.evaluate(model=load_model("df", arch="ensemble"))`` works, but
    ``mesocli.evaluate.evaluate`` declared no Ensemble, and ``export.plan_exports`` no ``os.PathLike`` ``out``."""
    import os
    import typing
    from importlib import import_module

    evaluate = import_module("mesocli.evaluate")
    export = import_module("mesocli.export")
    models = set(typing.get_args(api.Model))
    assert models <= set(typing.get_args(typing.get_type_hints(evaluate.evaluate)["loaded"]))
    (scored,) = typing.get_args(typing.get_type_hints(evaluate._scores)["models"])  # list[each model's type]
    assert models <= set(typing.get_args(scored))
    assert os.PathLike[str] in typing.get_args(typing.get_type_hints(export.plan_exports)["out"])


def test_the_cli_offers_the_library_choices() -> None:
    from mesocli import cli
    from mesocli.api import model_names
    from mesocli.models import ARCHITECTURES

    assert [d.value for d in cli.Detector] == list(model_names())
    assert [a.value for a in cli.Arch] == list(ARCHITECTURES)
    # choices whose library module imports NumPy are spelled out in cli_options: they must still agree
    from mesocli.cli_options import ExportFormat, Loss, Runtime
    from mesocli.export import FORMATS
    from mesocli.runtime import RUNTIMES
    from mesocli.training import LOSSES

    assert [r.value for r in Runtime] == list(RUNTIMES) and [f.value for f in ExportFormat] == list(FORMATS)
    assert [loss.value for loss in Loss] == list(LOSSES)


def test_a_loaded_model_given_to_load_model_is_one_short_line(model) -> None:
    """``mesocli.load_model(model)`` with a model already loaded: the error held the model's whole repr, its ONNX
    graph's bytes included (331,490 characters)."""
    with pytest.raises(ParameterError) as raised:
        mesocli.load_model(model)
    message = str(raised.value)
    assert message.startswith("name_or_path must be one of df, f2f, fs, any or a weights file, not OnnxModel(")
    assert len(message) < 200 and "\n" not in message
    with pytest.raises(ParameterError) as raised:
        mesocli.scan([b"x" * 100_000], model=model)
    assert len(str(raised.value)) < 200


def test_a_loaded_model_prints_as_a_short_summary(model) -> None:
    """``print(mesocli.load_model("df"))`` in a notebook printed the ONNX graph's bytes: 331,422 characters (about a
    million for ``load_model("any")``). The repr names the arch, the weights and their sha256, not the graph."""
    for loaded in (model, mesocli.load_model("any")):
        shown = repr(loaded)
        assert len(shown) < 2000 and "\\x" not in shown, shown[:300]
    shown = repr(model)
    assert "arch='meso4'" in shown and "name='meso4_df'" in shown and model.sha256 in shown


def test_load_model_by_name_or_path(model, own_weights: Path) -> None:
    assert model.describe()["arch"] == "meso4"
    own = mesocli.load_model(own_weights, runtime="tensorflow")
    assert (own.arch, own.name) == ("meso4", "meso4_test") and own.model is not None and own.sha256 != model.sha256
    with pytest.raises(ParameterError, match="^name_or_path must be one of df, f2f, fs, any or a weights file"):
        mesocli.load_model("deepfake")
    with pytest.raises(ParameterError, match="^runtime must be one of onnx, tensorflow, not 'torch'"):
        mesocli.load_model("df", runtime="torch")
    with pytest.raises(ParameterError, match="^arch must be one of"):
        mesocli.load_model("df", arch="meso5")
    (own_weights.parent / "empty.h5").write_bytes(b"")
    with pytest.raises(WeightsError):
        mesocli.load_model(own_weights.parent / "empty.h5")
    with pytest.raises(WeightsError, match="^/nowhere/mine.h5: weights file not found$"):
        mesocli.load_model("/nowhere/mine.h5")
    # a Path is a file: load_model(Path("df")) said "must be one of df, ..., not 'df'"
    with pytest.raises(WeightsError, match="^mine: weights file not found$"):
        mesocli.load_model(Path("mine"))
    with pytest.raises(WeightsError, match=r"^df: weights file not found \(a bundled detector is named by a str: 'df'"):
        mesocli.load_model(Path("df"))
    # scan names its own parameters, not those of the functions it calls
    with pytest.raises(ParameterError, match="^model must be one of df, f2f, fs, any or a weights file, not 'nope'$"):
        mesocli.scan(["clip.mp4"], model="nope")
    with pytest.raises(TypeError, match=r"^scan\(\) got an unexpected keyword argument 'weights' \(a weights file"):
        mesocli.scan(["clip.mp4"], weights=own_weights)
    # the modules the README names are attributes of the package, without their own import
    assert mesocli.errors.ParameterError is ParameterError and callable(mesocli.api.train)


def test_an_ensemble_with_a_weights_file_names_the_python_parameters() -> None:
    from mesocli.weights import bundled_weights_path

    weights = bundled_weights_path("meso4", "df")
    with pytest.raises(ParameterError, match="^arch ensemble averages the bundled weights of both networks: "
                                             "name_or_path must be one of df, f2f, fs, any, not a weights file$"):
        mesocli.load_model(weights, arch="ensemble")
    with pytest.raises(ParameterError, match="^arch ensemble .*: model must be one of"):
        mesocli.iter_scan("clip.mp4", model=weights, arch="ensemble")


def test_scan_gives_typed_results_in_input_order(model, kit: MediaKit, tmp_path: Path) -> None:
    missing = tmp_path / "gone.mp4"
    results = mesocli.scan([kit.face_jpeg, missing], model=model, detector="none")
    assert [r.status for r in results] == ["ok", "error"]
    ok, error = results
    assert 0.0 <= ok.p_fake <= 1.0 and ok.verdict == ("fake" if ok.p_fake >= 0.5 else "real")
    assert error.p_fake is None and error.verdict is None and error.error
    row = ok.to_dict()
    assert row["path"] == str(kit.face_jpeg) and row["p_fake"] == round(ok.p_fake, 6) and row["segments"] == []
    json.dumps([r.to_dict() for r in results])
    # a single path, a name to load, the iterator form: the same score
    again = next(mesocli.iter_scan(kit.face_jpeg, "df", detector="none", threshold=1.0))
    assert again.p_fake == pytest.approx(ok.p_fake, abs=1e-6) and again.verdict == "real"


def test_scan_samples_every_kth_frame(model, kit: MediaKit) -> None:
    (result,) = mesocli.scan(kit.face_video, model=model, every=6, detail=True)
    assert result.status == "ok" and result.frames_sampled == MediaKit.FACE_FRAMES // 6
    assert [s.frame for s in result.scores] == [0, 6, 12, 18]


def test_scan_takes_pictures_in_memory(model, kit: MediaKit) -> None:
    """A notebook's frames and photos (Pillow images, RGB uint8 arrays) were refused ("inputs must be a path"):
    they had to be written to files first. Each is scanned as its image file is, named by its place."""
    from PIL import Image

    with Image.open(kit.face_jpeg) as opened:
        picture = opened.copy()
    array = np.asarray(picture)
    results = mesocli.scan([picture, kit.face_jpeg, array, np.stack([array, array[:, ::-1]])], model=model)
    assert [r.path for r in results] == ["<image 0>", str(kit.face_jpeg), "<image 2>", "<image 3>", "<image 4>"]
    assert [r.status for r in results] == ["ok"] * 5 and {r.type for r in results} == {"image"}
    file_score = results[1].p_fake
    assert [r.p_fake for r in results[:4]] == [pytest.approx(file_score, abs=1e-6)] * 4
    assert [r.sha256 is None for r in results] == [True, False, True, True, True]
    json.dumps([r.to_dict() for r in results])
    (alone,) = mesocli.iter_scan(array, model=model)  # one array alone is one picture, not rows
    assert alone.path == "<image 0>" and alone.p_fake == pytest.approx(file_score, abs=1e-6)


def test_a_pillow_image_of_a_turned_photo_is_scanned_upright_as_its_file_is(model, kit: MediaKit,
                                                                           tmp_path: Path) -> None:
    """A phone photo opened with Pillow (stored turned, its EXIF orientation 6) was scanned as stored: found only by
    the turned retry, with a warning that the file's rotation metadata may be missing or wrong (it was right).
    It is turned upright as its file is; the caller's image is left as it was."""
    from PIL import Image

    with Image.open(kit.face_jpeg) as opened:
        upright = opened.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    photo = tmp_path / "phone.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(photo, quality=95, exif=exif.tobytes())
    with Image.open(photo) as opened:
        picture = opened.copy()
    by_file, in_memory = mesocli.scan([photo, picture], model=model)
    assert (by_file.status, in_memory.status) == ("ok", "ok")
    assert in_memory.warnings == by_file.warnings == []
    assert in_memory.p_fake == pytest.approx(by_file.p_fake, abs=1e-6)
    assert picture.size == upright.size[::-1] and picture.getexif()[0x0112] == 6


def test_a_pillow_image_whose_file_was_closed_is_an_error_that_says_so(model, kit: MediaKit) -> None:
    """``with Image.open(path) as image: ...`` then ``scan(image)``: its pixels were never read, and the error row
    said ``AssertionError:`` and nothing more."""
    from PIL import Image

    with Image.open(kit.face_jpeg) as opened:
        pass
    (result,) = mesocli.scan(opened, model=model)
    assert result.status == "error" and result.p_fake is None
    assert result.error == ("<image 0>: the Pillow image's file was closed before its pixels were read (Image.open"
                            "(...) left by its with block: call .load() or .copy() inside it)")


def test_iter_scan_reads_a_generator_of_inputs_as_it_goes(model, kit: MediaKit) -> None:
    """A generator of frames (a camera, a stream, paths as they arrive) was read whole before the first result: an
    endless one hung the call for good. Its items are now scanned as they come; a bad one raises when reached."""
    import threading

    from PIL import Image

    with Image.open(kit.face_jpeg) as opened:
        array = np.asarray(opened.convert("RGB"))
    first_out = threading.Event()
    asked: list[bool] = []

    def frames():
        yield array
        asked.append(first_out.wait(timeout=60))  # the next input is asked for once the first result is out
        yield kit.face_jpeg
        yield 3

    results = mesocli.iter_scan(frames(), model=model)
    first = next(results)
    first_out.set()
    second = next(results)
    assert (first.path, second.path) == ("<image 0>", str(kit.face_jpeg)) and asked == [True]
    assert first.p_fake == pytest.approx(second.p_fake, abs=1e-6)
    with pytest.raises(ParameterError, match=r"^inputs must be a path or paths .*, not 3$"):
        next(results)
    with pytest.raises(ParameterError, match="^inputs is empty$"):
        mesocli.iter_scan(iter([]), model=model)


def test_closing_iter_scan_does_not_wait_for_a_generator_that_waits(model, kit: MediaKit) -> None:
    """``for result in iter_scan(camera()): ... break``: closing the scan while the generator waited for its next
    frame waited for it too (up to 5 s, then left it). It returns at once; the generator is not resumed by it."""
    import threading

    from PIL import Image

    with Image.open(kit.face_jpeg) as opened:
        array = np.asarray(opened.convert("RGB"))
    closed = threading.Event()
    waiting = threading.Event()
    seen_closed: list[bool] = []

    def camera():
        yield array
        waiting.set()
        seen_closed.append(closed.wait(timeout=10))  # the next frame comes after close() returned, or in 10 s
        yield array

    results = mesocli.iter_scan(camera(), model=model)
    assert next(results).status == "ok"
    assert waiting.wait(timeout=30)
    results.close()
    closed.set()
    for _ in range(600):  # the generator resumes in the scan's reading thread, which then ends (30 s at most)
        if seen_closed:
            break
        threading.Event().wait(0.05)
    assert seen_closed == [True]


def test_on_progress_tells_each_input_frame_and_result_in_the_calling_thread(
        model, kit: MediaKit, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook or a service could not show a scan's progress (``progress=`` is the CLI's bars): ``on_progress``
    is called with a ScanProgress as each input starts, per sampled frame and per result, in the caller's thread."""
    import threading

    from mesocli.scan import ScanProgress

    seen: list[tuple[str, int, int | None, str, int, bool]] = []
    threads: set[str] = set()

    def told(event: ScanProgress) -> None:
        threads.add(threading.current_thread().name)
        seen.append((event.phase, event.index, event.total, event.path, event.frames, event.result is not None))

    results = mesocli.scan([kit.face_video, kit.face_jpeg], model=model, every=6, on_progress=told)
    video, image = str(kit.face_video), str(kit.face_jpeg)
    assert sorted(seen, key=lambda item: ("start", "frame", "done").index(item[0])) == [
        ("start", 0, 2, video, 0, False), ("start", 1, 2, image, 0, False),
        *[("frame", 0, 2, video, n, False) for n in range(1, 5)], ("frame", 1, 2, image, 1, False),
        ("done", 0, 2, video, 4, True), ("done", 1, 2, image, 1, True)]
    assert [item[1] for item in seen if item[0] == "done"] == [0, 1] and seen[0][0] == "start"
    assert threads == {threading.current_thread().name} and capsys.readouterr().out == ""
    assert [r.status for r in results] == ["ok", "ok"]
    # a generator: no total; a callback that is no function is refused when called
    events: list[ScanProgress] = []
    assert next(mesocli.iter_scan(iter([kit.face_jpeg]), model=model, on_progress=events.append)).status == "ok"
    assert [(event.phase, event.total) for event in events] == [("start", None), ("frame", None), ("done", None)]
    with pytest.raises(ParameterError, match="^on_progress must be a function that takes a ScanProgress, or "
                                             "None, not 'bars'$"):
        mesocli.iter_scan(kit.face_jpeg, model=model, on_progress="bars")


def test_an_exception_in_on_progress_ends_the_scan_cleanly(model, kit: MediaKit) -> None:
    """What the callback raises comes out of the scan, which stops: its reading thread ends, nothing more is
    yielded, and a later scan with the same model is not disturbed."""
    import threading

    class Stop(Exception):
        pass

    def stop_at(phase: str):
        def told(event) -> None:
            if event.phase == phase:
                raise Stop(event.path)
        return told

    for phase in ("start", "frame", "done"):
        results = mesocli.iter_scan([kit.face_jpeg, kit.face_video], model=model, on_progress=stop_at(phase))
        with pytest.raises(Stop, match=re.escape(str(kit.face_jpeg))):
            next(results)
        assert next(results, None) is None
    for _ in range(100):
        if not any(thread.name == "mesocli-scan-producer" for thread in threading.enumerate()):
            break
        threading.Event().wait(0.05)
    assert not any(thread.name == "mesocli-scan-producer" for thread in threading.enumerate())
    assert [r.status for r in mesocli.scan(kit.face_jpeg, model=model, on_progress=lambda event: None)] == ["ok"]


def test_a_generator_of_paths_is_streamed_to_worker_processes(model, kit: MediaKit, tmp_path: Path) -> None:
    """With ``workers`` > 1 a generator was read whole before the first input was handed out: an endless one (paths
    as they arrive) hung the call. Its paths now go to the workers as they come; a picture among them raises when
    reached, after the results before it. A slow first input (a video) held back no other: while it was scanned,
    the other worker drew hundreds of the generator's paths, their results kept until it was done (a generator
    that writes each input to a file filled the disk); it is now drawn a few inputs past the first not yet given."""
    from mesocli.workers import FEED_AHEAD

    taken: list[int] = []

    def arriving():
        yield kit.face_video
        for number in itertools.count():
            taken.append(number)
            if number == 1000:
                raise AssertionError("the generator is read whole")  # (an endless one: for good)
            yield tmp_path / f"gone{number}.mp4"  # each an error result, at once

    results = mesocli.iter_scan(arriving(), model=model, frames=4, workers=2)
    first, second = next(results), next(results)
    results.close()
    assert (first.status, second.status, second.path) == ("ok", "error", str(tmp_path / "gone0.mp4"))
    assert len(taken) <= FEED_AHEAD + 2 * 2 + 2  # the feed, twice the workers in flight, and the two given

    def with_a_picture():
        yield kit.face_jpeg
        yield np.zeros((8, 8, 3), np.uint8)

    results = mesocli.iter_scan(with_a_picture(), model=model, detector="none", workers=2)
    assert next(results).status == "ok"
    with pytest.raises(ParameterError, match="^workers 2: pictures in memory are scanned in this process"):
        next(results)


@pytest.mark.parametrize(("given", "options", "message"), [
    (np.zeros((8, 8, 3)), {}, "inputs: an image array must be uint8 (0-255), not float64 (8×8×3)"),
    (np.zeros((8, 8, 2), np.uint8), {}, "inputs: an image array is H×W (grey), H×W×3 (RGB), H×W×4 (RGBA) or "
                                        "N×H×W×3 (N frames), not 8×8×2"),
    (np.array(7, np.uint8), {}, "inputs: an image array is H×W (grey), H×W×3 (RGB), H×W×4 (RGBA) or N×H×W×3 (N "
                                "frames), not a single number (an array of 0 dimensions)"),
    ([np.zeros((8, 8), np.uint8)], {"workers": 2}, "workers 2: pictures in memory are scanned in this process"),
], ids=["float", "shape", "0-d", "workers"])
def test_pictures_scan_cannot_take_are_refused_when_called(given, options: dict, message: str, model) -> None:
    with pytest.raises(ParameterError) as raised:
        mesocli.iter_scan(given, model=model, **options)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("call", ["scan", "extract"])
def test_workers_from_a_script_on_standard_input_are_refused_before_they_start(
        call: str, model, kit: MediaKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python - < job.py`` with ``workers=2``: each worker died running ``<stdin>`` as the main script, and the
    error spoke of a FileNotFoundError for ``<cwd>/<stdin>`` and of mesocli that could not be loaded."""
    from mesocli.errors import WorkerError

    monkeypatch.setattr(sys.modules["__main__"], "__file__", "<stdin>", raising=False)  # an xdist worker's has none
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    inputs = [kit.face_jpeg, kit.face_png_named_mp4]
    with pytest.raises(WorkerError, match=r"^2 worker processes cannot start: .* '<stdin>' is no file \(a script "
                                          r"read from standard input\?\): run the script from a file, or use one"):
        if call == "scan":
            mesocli.scan(inputs, model=model, workers=2, detector="none")
        else:
            mesocli.extract(inputs, tmp_path / "faces", workers=2, detector="none")
    assert not (tmp_path / "faces").exists()  # refused before the folder was made


def test_workers_of_a_frozen_app_are_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen program (PyInstaller, cx_Freeze) names as its main script a file that is not on disk, yet its
    spawned workers start (each runs the program itself, which ``multiprocessing.freeze_support`` hands over):
    ``workers=2`` in one was refused as if its script had been read from standard input."""
    from mesocli.workers import check_spawnable

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__file__", "/nonexistent/bundle/app.py", raising=False)
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    check_spawnable(2)


def test_a_numpy_number_given_as_a_path_is_not_called_a_picture(tmp_path: Path) -> None:
    """``extract(np.int64(3), ...)`` was told that pictures in memory go to scan: a number is no picture."""
    for number, shown in ((np.int64(3), "np.int64(3)"), (np.array(7), "array(7)")):
        with pytest.raises(ParameterError) as raised:
            mesocli.extract(number, tmp_path / "faces")
        assert str(raised.value) == f"inputs must be a path or paths (str or os.PathLike), not {shown}"


def test_a_value_whose_repr_spans_lines_is_shown_on_one_line(tmp_path: Path) -> None:
    """``extract(frame, ...)`` with a NumPy frame: the one-line error held the array's repr, over several lines."""
    with pytest.raises(ParameterError) as raised:
        mesocli.extract(np.zeros((4, 4, 3), np.uint8), tmp_path / "faces")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("inputs must be a path or paths (str or os.PathLike), not "
                                                       "array([[[0, 0, 0], [0, 0, 0], ")
    assert message.endswith("(pictures in memory: scan and iter_scan take them; save them to files for this)")
    assert not (tmp_path / "faces").exists()


def test_explain_names_its_faces_parameter_when_given_no_path(tmp_path: Path) -> None:
    """``api.explain(face_array, out)`` was told ``inputs must be a path ...``: explain has no ``inputs``, its
    parameter is ``faces``. Pictures in memory are not explained (its heatmaps are named after the face files)."""
    from PIL import Image

    for given in (np.zeros((256, 256, 3), np.uint8), [Image.new("RGB", (256, 256))]):
        with pytest.raises(ParameterError, match=r"^faces must be a path or paths \(str or os.PathLike\), not .*"
                                                 r"\(pictures in memory: scan and iter_scan take them; save them to "
                                                 r"files for this\)$"):
            api.explain(given, tmp_path / "maps")
    with pytest.raises(ParameterError, match="^faces is empty$"):
        api.explain([], tmp_path / "maps")
    assert not (tmp_path / "maps").exists()


@pytest.mark.parametrize(
    ("options", "message", "args"),
    [({"frames": 0}, "{frames} needs a positive number, got 0", ["--frames", "0"]),
     ({"frames": 3, "every": 2}, "give only one of {frames}, {fps}, {every}, {all_frames} (got {frames}, {every})",
      ["--frames", "3", "--every", "2"]),
     ({"threshold": 1.5}, "{threshold} must be between 0 and 1, not 1.5", ["--threshold", "1.5"]),
     # a moderator's percentage (--threshold 70) is told the p_fake it may mean
     ({"threshold": 70.0}, "{threshold} must be between 0 and 1, not 70.0 (a p_fake, not a percentage: 0.7 for 70 %)",
      ["--threshold", "70"]),
     ({"aggregation": "median"}, "{aggregation} must be one of mean, vote, confident, not 'median'",
      ["--aggregate", "median"]),
     ({"workers": 0}, "{workers} must be at least 1, not 0", None)],
)
def test_scan_errors_name_parameters_and_the_cli_names_flags(
    options: dict, message: str, args: list[str] | None, kit: MediaKit, run_cli: RunCli,
) -> None:
    names = {"frames": "frames", "fps": "fps", "every": "every", "all_frames": "all_frames", "threshold": "threshold",
             "aggregation": "aggregation", "workers": "workers"}
    with pytest.raises(ParameterError) as caught:
        mesocli.scan(kit.face_jpeg, model="df", **options)
    assert str(caught.value) == message.format(**names)
    if args is not None:
        flags = {**{key: f"--{key}" for key in names}, "all_frames": "--all-frames", "aggregation": "--aggregate"}
        code, out, err = run_cli("scan", *args, kit.face_jpeg)
        assert (code, out, err) == (2, "", f"mesocli: error: {message.format(**flags)}\n")


def test_extract_writes_crops_and_a_manifest(kit: MediaKit, tmp_path: Path) -> None:
    summary = mesocli.extract([kit.face_jpeg], tmp_path / "faces", detector="none")
    (result,) = summary.results
    assert result.status == "ok" and result.faces == 1
    assert (tmp_path / "faces" / "manifest.jsonl").is_file()
    assert mesocli.extract([kit.face_jpeg], tmp_path / "faces", detector="none").results[0].status == "skipped"
    with pytest.raises(ParameterError, match="^layout dataset needs label df or real"):
        mesocli.extract([kit.face_jpeg], tmp_path / "other", layout="dataset")


def test_extract_tells_on_progress_and_a_callback_that_raises_stops_it_cleanly(kit: MediaKit, tmp_path: Path) -> None:
    """``api.extract`` had no progress for a notebook or a service; ``on_progress`` gets an ExtractStep per input
    started, frame decoded and input written. What it raises (extract_one turned any exception into the input's
    ``error`` result) comes out of the call, the input under way leaving no crop and no manifest line."""
    import threading

    from mesocli.extract import ExtractStep

    steps: list[ExtractStep] = []
    threads: set[str] = set()

    def told(step: ExtractStep) -> None:
        threads.add(threading.current_thread().name)
        steps.append(step)

    out = tmp_path / "faces"
    summary = mesocli.extract([kit.face_jpeg, kit.face_video], out, frames=4, on_progress=told)
    image, video = str(kit.face_jpeg), str(kit.face_video)
    assert [(s.phase, s.index, s.total, s.path) for s in steps if s.phase != "frame"] == [
        ("start", 0, 2, image), ("done", 0, 2, image), ("start", 1, 2, video), ("done", 1, 2, video)]
    assert [(s.index, s.frames) for s in steps if s.phase == "frame"] == [(0, 1), (1, 1), (1, 2), (1, 3), (1, 4)]
    assert [s.expected for s in steps if s.phase == "start"] == [1, 4]  # the frames it reads
    assert [s.result for s in steps if s.phase == "done"] == summary.results
    assert threads == {threading.current_thread().name}

    class Stop(Exception):
        pass

    def stop_in_the_video(step: ExtractStep) -> None:
        if step.path == video and step.phase == "frame" and step.frames == 3:
            raise Stop("enough")

    again = tmp_path / "again"
    with pytest.raises(Stop, match="^enough$"):
        mesocli.extract([kit.face_jpeg, kit.face_video], again, frames=4, on_progress=stop_in_the_video)
    lines = [json.loads(line) for line in (again / "manifest.jsonl").read_text().splitlines()]
    assert [line.get("source") for line in lines if line.get("type") == "input"] == [image]
    assert sorted(p.relative_to(again).parts[0] for p in again.rglob("*.jpg")) == [kit.face_jpeg.stem]
    resumed = mesocli.extract([kit.face_jpeg, kit.face_video], again, frames=4)
    assert [r.status for r in resumed.results] == ["skipped", "ok"]
    with pytest.raises(ParameterError, match="^on_progress must be a function that takes an ExtractStep, or None"):
        mesocli.extract([kit.face_jpeg], tmp_path / "other", on_progress=True)


def test_extract_on_progress_starts_an_input_that_fails_before_its_frames(kit: MediaKit, tmp_path: Path) -> None:
    """An input that could not be read (not a video) was told ``done`` without a ``start``, where scan tells both:
    a caller that shows the input under way, or counts those started, missed it. It is started, then done."""
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    steps: list = []
    summary = mesocli.extract([bad, kit.face_jpeg], tmp_path / "faces", on_progress=steps.append)
    assert [r.status for r in summary.results] == ["error", "ok"]
    image = str(kit.face_jpeg)
    assert [(s.phase, s.index, s.path) for s in steps if s.phase != "frame"] == [
        ("start", 0, str(bad)), ("done", 0, str(bad)), ("start", 1, image), ("done", 1, image)]


def test_extract_on_progress_starts_a_video_read_again_turned_once(kit: MediaKit, tmp_path: Path) -> None:
    """A video showing faces only upside down is read a second time turned: on_progress was told ``start`` twice for
    the one input (a count of inputs started went past ``total``) and its frames counted from 0 again. It is now
    told ``start`` once, its frames counted on and ``expected`` grown by the second read's."""
    video = turned_copy(kit.face_video, tmp_path / "upside_down.mp4", "hflip,vflip")
    steps: list = []
    summary = mesocli.extract(video, tmp_path / "faces", frames=4, on_progress=steps.append)
    assert [(r.status, r.frames) for r in summary.results] == [("ok", 4)]
    assert [s.phase for s in steps if s.phase != "frame"] == ["start", "done"]
    frames = [(s.frames, s.expected) for s in steps if s.phase == "frame"]
    assert [count for count, _ in frames] == list(range(1, 9))  # both reads, 4 frames each
    assert [expected for _, expected in frames] == [4] * 4 + [8] * 4


def test_what_extract_on_progress_raises_keeps_its_cause_and_context(kit: MediaKit, tmp_path: Path) -> None:
    """The callback's exception came out of extract re-raised ``from None``: its own ``__cause__`` (``raise ...
    from err``) was dropped, its ``__context__`` (raised while handling another) replaced by extract's internal
    carrier, so the traceback hid why the callback failed. It now comes out as the callback raised it."""

    class Cancelled(Exception):
        pass

    def explicit(step) -> None:
        raise Cancelled("cancelled by the caller") from ConnectionError("progress sink gone")

    def implicit(step) -> None:
        try:
            raise ConnectionError("progress sink gone")
        except ConnectionError:
            raise Cancelled("cancelled by the caller")  # noqa: B904 (the context is what is checked)

    for told, out in ((explicit, "explicit"), (implicit, "implicit")):
        with pytest.raises(Cancelled) as raised:
            mesocli.extract(kit.face_jpeg, tmp_path / out, on_progress=told)
        chained = raised.value.__cause__ if told is explicit else raised.value.__context__
        assert isinstance(chained, ConnectionError) and str(chained) == "progress sink gone"
        assert raised.value.__suppress_context__ is (told is explicit)
        assert raised.traceback[-1].name == told.__name__  # (where the callback raised it)
        assert not list((tmp_path / out).rglob("*.jpg"))


def test_extract_with_workers_tells_each_input_done_with_the_frames_it_read(kit: MediaKit, tmp_path: Path) -> None:
    """With ``workers`` > 1 only ``done`` is told, and its ``frames`` was 0 (counted from the frame events, which
    stay in the workers), where one process tells the frames read: a bar or a log showed no frame extracted."""
    import threading

    from mesocli.extract import ExtractStep

    steps: list[ExtractStep] = []
    threads: set[str] = set()

    def told(step: ExtractStep) -> None:
        threads.add(threading.current_thread().name)
        steps.append(step)

    summary = mesocli.extract([kit.face_jpeg, kit.face_video], tmp_path / "faces", frames=4, workers=2, quiet=True,
                              on_progress=told)
    assert sorted((s.phase, s.index, s.total, s.path, s.frames) for s in steps) == [
        ("done", 0, 2, str(kit.face_jpeg), 1), ("done", 1, 2, str(kit.face_video), 4)]
    assert sorted((s.result for s in steps), key=lambda result: result.source) == sorted(
        summary.results, key=lambda result: result.source)
    assert threads == {threading.current_thread().name}


def test_evaluate_a_folder_dataset(model, kit: MediaKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = mesocli.extract([kit.face_video], tmp_path / "crops", frames=4)
    crops = sorted((tmp_path / "crops").rglob("*.jpg"))
    assert summary.results[0].status == "ok" and len(crops) == 4
    root = tmp_path / "data"
    for label, chosen in (("df", crops[:2]), ("real", crops[2:])):
        (root / label).mkdir(parents=True)
        for number, crop in enumerate(chosen):
            shutil.copy(crop, root / label / f"clip{label}_{number}.jpg")
    report = mesocli.evaluate(root, model=model)
    assert report.data["df"] == 2 and report.data["real"] == 2 and 0.0 <= report.accuracy <= 1.0
    monkeypatch.setenv("MESOCLI_DATA", str(root))
    assert mesocli.evaluate(model=model).to_dict()["accuracy"] == report.to_dict()["accuracy"]
    monkeypatch.delenv("MESOCLI_DATA")
    with pytest.raises(ParameterError, match="^no dataset: pass data ROOT or set MESOCLI_DATA"):
        mesocli.evaluate(model=model)


def test_evaluate_tells_on_progress_per_batch_and_passes_on_what_it_raises(model, tmp_path: Path) -> None:
    """``api.evaluate`` had no progress but tqdm's bar on stderr; ``on_progress`` gets an EvalStep per batch scored
    (128 faces) and one before the figures, and what it raises comes out of the call."""
    from mesocli.evaluate import EvalStep

    root = make_faces(tmp_path / "data", {"df": 70, "real": 70})
    steps: list[EvalStep] = []
    report = mesocli.evaluate(root, model=model, split=None, bootstrap=0, on_progress=steps.append)
    assert steps == [EvalStep("score", 128, 140), EvalStep("score", 140, 140), EvalStep("figures", 140, 140)]
    assert report.data["df"] == 70

    def stop(step: EvalStep) -> None:
        raise KeyError(step.phase)

    with pytest.raises(KeyError, match="score"):
        mesocli.evaluate(root, model=model, split=None, bootstrap=0, on_progress=stop)
    with pytest.raises(ParameterError, match="^on_progress must be a function that takes an EvalStep, or None"):
        mesocli.evaluate(root, model=model, split=None, on_progress=[])


# ---------------------------------------------------------------------------------------------- arguments


def test_workers_none_is_one_per_core(model, kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    monkeypatch.setenv("MESOCLI_WORKERS", "1")  # one per core, as $MESOCLI_WORKERS says: in this process
    (one,) = mesocli.scan(kit.face_jpeg, model=model, detector="none")
    (result,) = mesocli.scan(kit.face_jpeg, model=model, detector="none", workers=None)
    assert result.status == "ok" and result.p_fake == one.p_fake
    assert next(mesocli.iter_scan(kit.face_jpeg, model, detector="none", workers=None)).p_fake == one.p_fake
    assert inspect.signature(mesocli.iter_scan).parameters["workers"].default == 1
    # NumPy numbers and a whole float of frames are numbers
    (again,) = mesocli.scan(kit.face_jpeg, model=model, detector="none", threshold=np.float32(0.5), frames=30.0,
                            batch_size=np.int64(8))
    assert again.p_fake == pytest.approx(one.p_fake)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Path:  # a dataset: ROOT/{df,real}/
    return make_faces(tmp_path_factory.mktemp("faces"), {"df": 2, "real": 2})


NOT_A_MODEL = "^model must be one of df, f2f, fs, any, a weights file or what load_model returned, not "


@pytest.mark.parametrize("call", ["scan", "iter_scan", "evaluate"])
@pytest.mark.parametrize(("bad", "shown"), [(None, "None"), (42, "42"), (object(), "<object object")])
def test_a_model_that_is_no_model_is_refused_when_called(call: str, bad: object, shown: str, kit: MediaKit,
                                                         faces: Path) -> None:
    with pytest.raises(ParameterError, match=NOT_A_MODEL + re.escape(shown)):
        getattr(mesocli, call)(faces if call == "evaluate" else kit.face_jpeg, model=bad)  # iter_scan: no next()


@pytest.mark.parametrize("call", ["scan", "iter_scan", "evaluate"])
@pytest.mark.parametrize("given", [{"arch": "mesoinception4"}, {"runtime": "tensorflow"}, {"runtime": "onnx"},
                                   {"arch": "meso4", "runtime": "onnx"}])
def test_arch_and_runtime_are_refused_with_a_loaded_model(call: str, given: dict, model, kit: MediaKit,
                                                          faces: Path) -> None:
    first = next(iter(given))
    with pytest.raises(ParameterError, match=f"^{first} applies when model is a name or a weights file, not a "
                                             "loaded model: give it to load_model$"):
        getattr(mesocli, call)(faces if call == "evaluate" else kit.face_jpeg, model=model, **given)


def test_bad_model_names_and_inputs_name_the_parameter(tmp_path: Path, kit: MediaKit) -> None:
    with pytest.raises(ParameterError, match="^name_or_path must be one of df, f2f, fs, any or a weights file, "
                                             "not 42$"):
        mesocli.load_model(42)
    for inputs, shown in ((None, "None"), ([kit.face_jpeg, 7], "7"), (b"clip.mp4", "b'clip.mp4'")):
        with pytest.raises(ParameterError, match=re.escape(f"inputs must be a path or paths (str or os.PathLike) "
                                                           f"or pictures (Pillow images, uint8 NumPy arrays), "
                                                           f"not {shown}")):
            mesocli.scan(inputs)
    with pytest.raises(ParameterError, match="^arch must be one of meso4, mesoinception4, not 'MesoInception4'$"):
        api.explain(kit.face_jpeg, tmp_path / "heat", arch="MesoInception4")
    with pytest.raises(ParameterError, match="^model must be one of df, f2f, fs, not 'xx'$"):
        api.explain(kit.face_jpeg, tmp_path / "heat", model="xx")
    with pytest.raises(TypeError, match=r"^extract\(\) got an unexpected keyword argument 'foo'$"):
        mesocli.extract(kit.face_jpeg, tmp_path / "faces", foo=1)
    assert not (tmp_path / "heat").exists() and not (tmp_path / "faces").exists()


def test_explain_checks_its_faces_and_outputs_when_called(tmp_path: Path, kit: MediaKit) -> None:
    """Like iter_scan, api.explain refuses bad arguments at the call, not at the first next()."""
    (tmp_path / "file").write_text("")
    (tmp_path / "heat").mkdir()
    existing = tmp_path / "heat" / f"{Path(kit.face_jpeg).stem}.png"
    existing.write_bytes(b"old")
    cases = [({"out": tmp_path / "file"}, ParameterError, f"^{tmp_path / 'file'}: out is not a folder$"),
             ({"out": tmp_path / "heat"}, ParameterError, f"^{existing}: exists; pass force to replace it$"),
             ({"out": tmp_path / "new", "weights": tmp_path / "gone.h5"}, WeightsError,
              f"^{tmp_path / 'gone.h5'}: weights file not found$")]
    for given, error, message in cases:
        with pytest.raises(error, match=message):
            api.explain(kit.face_jpeg, **given)  # no next()
    assert existing.read_bytes() == b"old" and not (tmp_path / "new").exists()


def test_explain_takes_the_model_load_model_returned(model, kit: MediaKit, tmp_path: Path) -> None:
    """``api.explain(faces, out, model=load_model("df"))``, as scan and evaluate take it, was refused: "model must be
    one of df, f2f, fs, not OnnxModel(...)". The heatmap is the one its name draws; a model of several networks,
    or ``arch`` beside a loaded model, is refused naming the parameters."""
    (by_model,) = api.explain(kit.face_jpeg, tmp_path / "a", model=model)
    (by_name,) = api.explain(kit.face_jpeg, tmp_path / "b", model="df")
    assert by_model["status"] == "ok" and by_model["model"] == by_name["model"] == model.describe()
    assert by_model["p_fake"] == by_name["p_fake"]
    assert (tmp_path / "a" / "face.png").read_bytes() == (tmp_path / "b" / "face.png").read_bytes()
    for given, message in ((dict(model=mesocli.load_model("any")), "explain takes one network, not model any"),
                           (dict(model=model, arch="meso4"), "arch applies when model is a name, not a loaded model"),
                           (dict(model=model, runtime="tensorflow"),  # was explained on ONNX Runtime all the same
                            "runtime applies when model is a name, not a loaded model: give it to load_model"),
                           (dict(model=3), "model must be df, f2f, fs or what load_model returned, not 3")):
        with pytest.raises(ParameterError, match="^" + re.escape(message)):
            api.explain(kit.face_jpeg, tmp_path / "c", **given)
    assert not (tmp_path / "c").exists()


def test_export_weights_reports_on_standard_error_unless_told(capsys: pytest.CaptureFixture[str]) -> None:
    """``api.export_weights(bundled=True, check=True)`` printed its six state lines on standard output: a library
    call wrote into a service's or a pipeline's own output. They go to standard error, or to ``echo``."""
    api.export_weights(bundled=True, check=True)  # (whether each is fresh: tests/test_runtime.py)
    out, err = capsys.readouterr()
    assert out == "" and err.count(".onnx: ") == 6 and err.count(" (source sha256 ") == 6
    lines: list[str] = []
    api.export_weights(bundled=True, check=True, echo=lines.append)
    assert len(lines) == 6 and capsys.readouterr() == ("", "")


def test_export_weights_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="^fmt must be one of onnx, savedmodel, tflite, not 'pt'$"):
        api.export_weights([tmp_path / "m.weights.h5"], "pt", tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "given", "message"),
    [("scan", {"frames": "3"}, "frames must be a number, not '3'"),
     ("scan", {"fps": [1]}, "fps must be a number, not [1]"),
     ("scan", {"threshold": "0.5"}, "threshold must be a number, not '0.5'"),
     ("scan", {"threshold": None}, "threshold must be a number, not None"),
     ("scan", {"workers": "2"}, "workers must be a whole number, not '2'"),
     ("iter_scan", {"batch_size": 8.0}, "batch_size must be a whole number, not 8.0"),
     ("iter_scan", {"smooth": True}, "smooth must be a whole number, not True"),
     ("evaluate", {"bootstrap": 1.5}, "bootstrap must be a whole number, not 1.5"),
     ("evaluate", {"threshold": "0.5"}, "threshold must be a number, not '0.5'"),
     ("extract", {"every": "5"}, "every must be a number, not '5'"),
     ("extract", {"quality": 90.5}, "quality must be a whole number, not 90.5"),
     ("extract", {"workers": 1.5}, "workers must be a whole number, not 1.5"),
     ("explain", {"threshold": "0.5"}, "threshold must be a number, not '0.5'"),
     # switches: "no" or 1 would otherwise be taken as on; a split or label that is no string failed with a TypeError
     ("scan", {"all_frames": "no"}, "all_frames must be True or False, not 'no'"),
     ("iter_scan", {"detail": 1}, "detail must be True or False, not 1"),
     ("iter_scan", {"all_faces": None}, "all_faces must be True or False, not None"),
     ("evaluate", {"progress": "yes"}, "progress must be True or False, not 'yes'"),
     ("evaluate", {"split": 3}, "split must be a string or None, not 3"),
     ("extract", {"force": "no"}, "force must be True or False, not 'no'"),
     ("extract", {"all_faces": 0}, "all_faces must be True or False, not 0"),
     ("extract", {"layout": "dataset", "label": "df", "split": 3}, "split must be a string or None, not 3"),
     ("extract", {"layout": "dataset", "label": 0, "split": "test"}, "label must be a string or None, not 0"),
     ("explain", {"force": "no"}, "force must be True or False, not 'no'"),
     ("explain", {"runtime": "torch"}, "runtime must be one of onnx, tensorflow, not 'torch'")],
)
def test_arguments_of_the_wrong_type_are_refused_when_called(call: str, given: dict, message: str, model,
                                                             kit: MediaKit, tmp_path: Path) -> None:
    calls = {"scan": lambda: mesocli.scan(kit.face_jpeg, model=model, **given),
             "iter_scan": lambda: mesocli.iter_scan(kit.face_jpeg, model=model, **given),
             "evaluate": lambda: mesocli.evaluate(tmp_path / "no dataset", model=model, **given),  # before any work
             "extract": lambda: mesocli.extract(kit.face_jpeg, tmp_path / "faces", **given),
             "explain": lambda: api.explain(kit.face_jpeg, tmp_path / "faces", **given)}
    with pytest.raises(ParameterError) as caught:
        calls[call]()
    assert str(caught.value) == message
    assert not (tmp_path / "faces").exists()


def test_numpy_numbers_and_switches_give_the_results_of_python_ones(model, kit: MediaKit, tmp_path: Path) -> None:
    """NumPy numbers and booleans are accepted (a notebook's ``np.float32`` threshold, an ``np.int64`` from an
    array) but were kept: ``json.dumps(result.to_dict())`` raised TypeError (float32, int64 in ``threshold``,
    ``settings.smooth``, an eval report's ``intervals.resamples``), and ``extract(quality=np.int64(80))`` raised
    it from inside, while writing its manifest, after every face was cropped."""

    def rows(results: list) -> str:
        return json.dumps([{k: v for k, v in r.to_dict().items() if k not in ("seconds", "scanned_at")}
                           for r in results])

    inputs = [kit.face_jpeg, kit.face_video]
    python = dict(threshold=0.75, smooth=3, frames=4, batch_size=8, detail=False)
    numpy = dict(threshold=np.float32(0.75), smooth=np.int64(3), frames=np.int64(4), batch_size=np.int32(8),
                 detail=np.False_)
    assert rows(mesocli.scan(inputs, model=model, **numpy)) == rows(mesocli.scan(inputs, model=model, **python))
    assert rows(mesocli.scan(inputs, model=model, threshold=1)) == rows(mesocli.scan(inputs, model=model,
                                                                                       threshold=1.0))

    root = make_faces(tmp_path / "data", {"df": 4, "real": 4})
    reports = [mesocli.evaluate(root, model=model, split=None, threshold=threshold, bootstrap=bootstrap).to_dict()
               for threshold, bootstrap in ((0.75, 10), (np.float32(0.75), np.int64(10)))]
    python_report, numpy_report = (json.dumps({k: v for k, v in r.items()
                                               if k not in ("seconds", "images_per_second", "provenance")})
                                   for r in reports)
    assert numpy_report == python_report

    summaries = [mesocli.extract(kit.face_jpeg, tmp_path / name, quality=quality, frames=frames, force=force)
                 for name, quality, frames, force in (("python", 80, 3, False),
                                                      ("numpy", np.int64(80), np.int64(3), np.False_))]
    assert json.dumps([s.to_dict()["counts"] for s in summaries])
    manifests = [{k: v for k, v in json.loads((tmp_path / name / "manifest.jsonl").read_text().splitlines()[0]).items()
                  if k != "started_at"} for name in ("python", "numpy")]  # the headers, less the time each run started
    assert manifests[0] == manifests[1]


@pytest.mark.parametrize(("setting", "value", "message"),
                         [("epochs", 0, "{} 0: must be at least 1"), ("batch_size", 0, "{} 0: must be at least 1"),
                          ("select", "x", "{} x: must be one of accuracy, auc, loss")])
def test_training_settings_are_named_as_parameters_and_the_cli_names_flags(
    setting: str, value: object, message: str, tmp_path: Path, run_cli: RunCli,
) -> None:
    data = make_faces(tmp_path / "data" / "train", {"df": 4, "real": 4}).parent
    with pytest.raises(ParameterError) as caught:
        api.train(data, tmp_path / "run", progress=False, **{setting: value})
    assert str(caught.value) == message.format(setting)
    flag = "--" + setting.replace("_", "-")
    code, out, err = run_cli("train", data, "--out", tmp_path / "run", flag, value)
    assert (code, out, err) == (2, "", f"mesocli: error: {message.format(flag)}\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("setting", "value", "message"),
                         [("arch", "meso5", "arch meso5: must be one of meso4, mesoinception4"),
                          ("manipulation", "deepfake", "manipulation deepfake: must be one of df, f2f, fs"),
                          ("loss", "hinge", "loss hinge: must be one of mse, bce"),
                          ("epochs", 1.5, "epochs 1.5: must be a whole number"),
                          ("seed", "1", "seed '1': must be a whole number"),
                          ("learning_rate", "1e-3", "learning_rate '1e-3': must be a number"),
                          ("augment", "no", "augment 'no': must be True or False")])
def test_training_choices_and_kinds_are_checked_before_the_data_is_read(setting: str, value: object, message: str,
                                                                        tmp_path: Path) -> None:
    """An unknown loss used to train with MSE and record the unknown name; an unknown manipulation wrote a
    model card with it; an unknown arch failed with a ValueError once the data was read; epochs=1.5 trained
    two epochs and recorded 1.5; augment="no" augmented."""
    data = make_faces(tmp_path / "data" / "train", {"df": 4, "real": 4}).parent
    with pytest.raises(ParameterError) as caught:
        api.train(data, tmp_path / "run", progress=False, **{setting: value})
    assert str(caught.value) == message
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_heldout_runs_takes_a_numpy_whole_number_as_the_other_settings_do(tmp_path: Path) -> None:
    """heldout_runs=np.int64(2) passed the parameter check, then was refused as "runs must be 0 (single files)
    or more, not 2" once the data was read."""
    data = make_faces(tmp_path / "data" / "train", {"df": 8, "real": 8}).parent
    state, run = api.train(data, tmp_path / "run", progress=False, epochs=1, batch_size=4, val_fraction=0.25,
                           augment=False, heldout_runs=np.int64(2))
    assert state.finished
    assert [source["runs"] for source in json.loads((run / "config.json").read_text())["sources"]] == [2]


def test_evaluate_names_the_split_parameter(tmp_path: Path, run_cli: RunCli) -> None:
    root = make_faces(tmp_path / "data" / "validation", {"df": 2, "real": 2}).parent
    expected = f"no class folders (df|fake, real) in {root}/train or {root}; splits with them: validation ({{}})"
    with pytest.raises(ParameterError) as caught:
        mesocli.evaluate(root, split="train")
    assert str(caught.value) == expected.format("split")
    code, _, err = run_cli("eval", "--data", root, "--split", "train")
    assert (code, err) == (2, f"mesocli: error: {expected.format('--split')}\n")


@pytest.mark.slow
def test_a_run_records_the_call_that_started_or_extended_it(tmp_path: Path, run_cli: RunCli) -> None:
    data = make_faces(tmp_path / "data" / "train", {"df": 8, "real": 8}).parent
    run = tmp_path / "run"
    state, _ = api.train([data], run, progress=False, epochs=1, batch_size=4, val_fraction=0.25, augment=False)
    call = (f"mesocli.api.train(data=['{data}'], out='{run}', progress=False, epochs=1, batch_size=4, "
            "val_fraction=0.25, augment=False)")
    assert state.finished and json.loads((run / "config.json").read_text())["command"] == call
    assert json.loads((run / "best.json").read_text())["command"] == call
    api.train(resume=run, epochs=2, progress=False)
    extension = f"mesocli.api.train(resume='{run}', progress=False, epochs=2)"
    assert [change["command"] for change in json.loads((run / "config.json").read_text())["extensions"]] == [
        extension]
    assert json.loads((run / "best.json").read_text())["command"] in (call, f"{call} && {extension}")
    # the command records its command line
    args = ["train", str(data), "--out", str(tmp_path / "cli"), "--epochs", "1", "--batch-size", "4",
            "--val-fraction", "0.25", "--no-augment", "--quiet"]
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert json.loads((tmp_path / "cli" / "config.json").read_text())["command"] == shlex.join(["mesocli", *args])


# ---------------------------------------------------------------------------------------------- reuse


def test_one_model_scans_from_several_threads_at_once(kit: MediaKit) -> None:
    """A web service's thread pool scanning with one loaded model: the shared dlib face detector crashed the
    process (segmentation fault in ``fhog_object_detector.run``, which dlib documents as not thread-safe). (Six
    frames a video: the CNN detector's passes took a minute at the default 30.)"""
    inputs = [str(kit.face_video), str(kit.two_face_video), str(kit.face_jpeg)]
    out, _ = fresh_python(
        "import json, mesocli\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        f"inputs = {inputs!r}\n"
        "model = mesocli.load_model('df')\n"
        "def rows(detector):\n"
        "    return [{k: v for k, v in r.to_dict().items() if k not in ('seconds', 'scanned_at')}\n"  # all but times
        "            for r in mesocli.scan(inputs, model=model, detector=detector, detail=True, frames=6)]\n"
        "serial = {d: rows(d) for d in ('hog', 'cnn')}\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    jobs = [(d, pool.submit(rows, d)) for d in ('hog', 'cnn', 'hog', 'cnn', 'hog', 'hog')]\n"
        "    print(all(job.result() == serial[d] for d, job in jobs))\n"
    )
    assert out.split() == ["True"]


def test_threads_that_load_tensorflow_models_at_once_all_get_them() -> None:
    """A service's threads loading their models on TensorFlow at start: all but one failed with "partially
    initialized module 'tensorflow' has no attribute 'keras'" (``_tf.import_tensorflow`` returned the module that
    another thread was still importing), and two captures of file descriptor 2 at once could leave the process's
    stderr in a deleted temporary file."""
    code = (
        "import os, mesocli\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    names = ['df', 'f2f', 'fs', 'df']\n"
        "    models = list(pool.map(lambda name: mesocli.load_model(name, runtime='tensorflow'), names))\n"
        "print(*[m.name for m in models])\n"
        "os.write(2, b'stderr still here\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["meso4_df", "meso4_f2f", "meso4_fs", "meso4_df"]
    assert done.stderr == "stderr still here\n"


# ---------------------------------------------------------------------------------------------- errors


LONG = "x" * 300


@pytest.mark.parametrize("call", [
    lambda tmp: mesocli.load_model(LONG),
    lambda tmp: mesocli.load_model(LONG + ".h5"),
    lambda tmp: mesocli.load_model(tmp / LONG / "mine.h5"),
    lambda tmp: mesocli.scan("clip.mp4", model=LONG),
    lambda tmp: mesocli.iter_scan("clip.mp4", model=LONG),
    lambda tmp: mesocli.extract("clip.mp4", tmp / LONG),
    lambda tmp: mesocli.evaluate(LONG),
    lambda tmp: api.explain("face.jpg", tmp / LONG),
    lambda tmp: api.explain("face.jpg", tmp / "heat", weights=LONG),
    lambda tmp: api.export_weights([LONG + ".h5"]),
    lambda tmp: api.train(LONG, tmp / "run", progress=False),
    lambda tmp: api.train(resume=LONG, progress=False),
], ids=["load", "load-h5", "load-folder", "scan", "iter_scan", "extract", "evaluate", "explain", "explain-weights",
        "export", "train", "train-resume"])
def test_a_name_too_long_is_one_short_usage_error(call, tmp_path: Path) -> None:
    """``load_model("x" * 300)`` raised a raw OSError "File name too long" from pathlib, with the whole name."""
    from mesocli.errors import UsageError

    with pytest.raises(UsageError) as raised:
        call(tmp_path)
    message = str(raised.value)
    assert re.search(r"\.\.\..*: name too long \(3\d\d bytes in one name; the file system allows 255\)", message)
    assert len(message) < 200 and "\n" not in message and not isinstance(raised.value, OSError)


@pytest.mark.parametrize(("call", "message"), [
    (lambda tmp: mesocli.extract("face.jpg", None), "out_dir must be a path (str or os.PathLike), not None"),
    (lambda tmp: mesocli.extract("face.jpg", 3), "out_dir must be a path (str or os.PathLike), not 3"),
    (lambda tmp: mesocli.extract("face.jpg", tmp / "a\0b"), "out_dir holds a NUL character: "),
    (lambda tmp: mesocli.evaluate(3), "data must be a path (str or os.PathLike) or None, not 3"),
    (lambda tmp: api.explain("face.jpg", None), "out must be a path (str or os.PathLike), not None"),
    (lambda tmp: api.export_weights(["a\0b.h5"]), "sources holds a NUL character: "),
    (lambda tmp: api.train(tmp, tmp / "r\0n", progress=False), "out holds a NUL character: "),
])
def test_a_path_that_is_no_path_is_a_parameter_error(call, message: str, tmp_path: Path) -> None:
    """These were raw TypeErrors and ValueErrors ("embedded null byte") from os and pathlib."""
    with pytest.raises(ParameterError) as raised:
        call(tmp_path)
    assert str(raised.value).startswith(message) and len(str(raised.value)) < 200


# ---------------------------------------------------------------------------------------------- side effects


def test_the_api_leaves_the_process_as_it_found_it(kit: MediaKit, tmp_path: Path) -> None:
    """Importing mesocli, loading a model, scanning and extracting (ONNX Runtime) change no signal handler, umask,
    current folder, standard stream, logging setting or warning filter, print nothing to standard output, and
    set one environment variable: ORT_DISABLE_TELEMETRY=1 where the user set none (README, "From Python")."""
    out, _ = fresh_python(
        "import logging, os, signal, sys, threading, warnings\n"
        "import numpy, PIL.Image\n"  # third-party imports that set their own filters, before the first look
        "def state():\n"
        "    mask = os.umask(0o22); os.umask(mask)\n"
        "    return (repr([signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]),\n"
        "            mask, os.getcwd(), sys.stdout, sys.stderr, logging.root.handlers[:], logging.root.level,\n"
        "            logging.root.manager.disable, sys.excepthook, threading.excepthook, warnings.showwarning,\n"
        "            [f for f in warnings.filters if 'mesocli' in repr(f)])\n"
        "os.environ.pop('ORT_DISABLE_TELEMETRY', None)\n"
        "before, environ = state(), dict(os.environ)\n"
        f"fd = os.dup(1); sink = open({str(tmp_path / 'stdout')!r}, 'w+'); os.dup2(sink.fileno(), 1)\n"
        "import mesocli\n"
        "model = mesocli.load_model('df')\n"
        f"mesocli.scan([{str(kit.face_video)!r}, {str(kit.face_jpeg)!r}], model=model)\n"
        f"mesocli.extract({str(kit.face_jpeg)!r}, {str(tmp_path / 'faces')!r}, detector='none')\n"
        "sys.stdout.flush(); os.dup2(fd, 1)\n"
        "print(state() == before, sorted(k for k in {*os.environ, *environ} if os.environ.get(k) != environ.get(k)),\n"
        "      repr(open(sink.name).read()))\n"
    )
    assert out.split() == ["True", "['ORT_DISABLE_TELEMETRY']", "''"]


def test_help_shows_the_options_and_the_model_type() -> None:
    """``help(mesocli.scan)`` showed ``scan(inputs, model='df', **options)``: none of its options; every function
    that takes or returns a model was typed ``Any``."""
    import inspect

    scan = inspect.signature(mesocli.scan)
    assert list(scan.parameters)[:4] == ["inputs", "model", "arch", "runtime"] and "hash_inputs" in scan.parameters
    assert scan.return_annotation == "list[ScanResult]"
    assert inspect.signature(mesocli.load_model).return_annotation == "Model"
    assert inspect.signature(mesocli.iter_scan).parameters["model"].annotation == "Model | PathLike"
    # extract took its sampling options as **sampling: help() and type checkers saw none of them
    extract = inspect.signature(mesocli.extract).parameters
    assert {"frames", "fps", "every", "all_frames", "detector", "all_faces"} <= set(extract)
    assert extract["frames"].annotation == "int | None" and extract["frames"].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_long_wrong_choice_is_shown_shortened() -> None:
    """``detector="x" * 5000`` gave a ParameterError of 5,046 characters, the value whole."""
    for call in (lambda: mesocli.load_model("df", runtime="y" * 5000),
                 lambda: mesocli.scan("clip.mp4", detector="x" * 5000),
                 lambda: api.export_weights(["m.h5"], "z" * 5000)):
        with pytest.raises(ParameterError, match=r" must be one of .*, not 'xxx|yyy|zzz") as raised:
            call()
        assert len(str(raised.value)) < 200


def test_train_names_an_unknown_setting_as_its_own(tmp_path: Path) -> None:
    """An unknown keyword raised "TrainConfig.__init__() got an unexpected keyword argument", naming a class the
    caller never used."""
    with pytest.raises(TypeError, match=r"^train\(\) got an unexpected keyword argument 'bogus'$"):
        api.train(tmp_path, tmp_path / "run", progress=False, bogus=1)
    assert not (tmp_path / "run").exists()


def test_train_refuses_the_runs_own_record_of_its_sources_extracts_as_a_setting(tmp_path: Path) -> None:
    """``source_extracts`` (what a run records of how extract made each source's crops when it starts) was taken
    as a setting, as ``provenance`` and ``workdir`` are not: given, it went into the recorded command and was then
    silently replaced by the run. It is a record, not a setting: an unknown keyword, refused before anything is
    written."""
    with pytest.raises(TypeError, match=r"^train\(\) got an unexpected keyword argument 'source_extracts'$"):
        api.train(tmp_path, tmp_path / "run", progress=False, source_extracts=[None])
    # nor the record of the init weights loaded at the start, which the run writes itself
    with pytest.raises(TypeError, match=r"^train\(\) got an unexpected keyword argument 'init_weights_record'$"):
        api.train(tmp_path, tmp_path / "run", progress=False, init_weights_record={"file": "w.h5", "sha256": "0"})
    assert not (tmp_path / "run").exists()


def test_dir_of_the_package_lists_its_api_not_its_imports() -> None:
    """Tab completion in a notebook offered ``Any``, ``ModuleType``, ``TYPE_CHECKING``, ``import_module``, ``sys``."""
    public = [name for name in dir(mesocli) if not name.startswith("_")]
    assert public == ["EvalReport", "ExtractSummary", "ScanResult", "api", "errors", "evaluate", "extract", "iter_scan",
                      "load_model", "scan"]
    assert "__version__" in dir(mesocli)


def test_every_dotted_name_the_readme_gives_resolves_as_written() -> None:
    """The README called ``mesocli.evaluate.run_eval`` the eval command whole; written so (after ``import
    mesocli.evaluate``) it raised AttributeError: 'function' object has no attribute 'run_eval', since
    ``mesocli.evaluate`` is the function. Every ``mesocli.x.y`` it names must resolve as written."""
    import importlib

    names = set(re.findall(r"`(mesocli(?:\.[A-Za-z_]\w*)+)", (Path(__file__).parents[1] / "README.md").read_text()))
    assert "mesocli.scan_run.run_scan" in names
    for name in sorted(names):
        parts = name.split(".")
        for end in range(len(parts), 1, -1):  # import what a user would import first
            try:
                importlib.import_module(".".join(parts[:end]))
                break
            except ImportError:
                continue
        found: object = mesocli
        for part in parts[1:]:
            assert hasattr(found, part), f"{name}: {found!r} has no attribute {part!r}"
            found = getattr(found, part)


def test_the_schema_of_the_rows_comes_with_the_package(kit: MediaKit) -> None:
    """A pipeline that checks each row against the schema of the mesocli that wrote it had to fetch
    docs/scan.schema.json from the source tree: the package did not hold it. ``api.scan_schema()`` gives it (the
    wheel holds it as mesocli/scan.schema.json, tests/test_packaging.py), and the rows of a scan follow it."""
    import jsonschema

    schema = api.scan_schema()
    docs = Path(__file__).resolve().parents[1] / "docs" / "scan.schema.json"
    assert schema == json.loads(docs.read_text(encoding="utf-8"))
    results = mesocli.scan([kit.face_jpeg, kit.text_mp4], model="df")
    assert [result.status for result in results] == ["ok", "error"]
    for result in results:
        jsonschema.Draft202012Validator(schema).validate(result.to_dict())
    assert results[0].to_dict()["settings"]["mesocli"] == mesocli.__version__
    from mesocli.provenance import code_digest

    assert results[0].to_dict()["settings"]["mesocli_code"] == code_digest()
