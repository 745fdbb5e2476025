"""The Python API: mesocli.load_model / scan / iter_scan / extract / evaluate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import RunCli, fresh_python
from media import MediaKit

import mesocli
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


def test_the_cli_offers_the_library_choices() -> None:
    from mesocli import cli
    from mesocli.api import model_names
    from mesocli.models import ARCHITECTURES

    assert [d.value for d in cli.Detector] == list(model_names())
    assert [a.value for a in cli.Arch] == list(ARCHITECTURES)
    # choices whose library module imports NumPy are spelled out in cli_options: they must still agree
    from mesocli.cli_options import ExportFormat, Runtime
    from mesocli.export import FORMATS
    from mesocli.runtime import RUNTIMES

    assert [r.value for r in Runtime] == list(RUNTIMES) and [f.value for f in ExportFormat] == list(FORMATS)


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
    # scan names its own parameters, not those of the functions it calls
    with pytest.raises(ParameterError, match="^model must be one of df, f2f, fs, any or a weights file, not 'nope'$"):
        mesocli.scan(["clip.mp4"], model="nope")
    with pytest.raises(TypeError, match=r"^scan\(\) got an unexpected keyword argument 'weights' \(a weights file"):
        mesocli.scan(["clip.mp4"], weights=own_weights)
    # the modules the README names are attributes of the package, without their own import
    assert mesocli.errors.ParameterError is ParameterError and callable(mesocli.api.train)


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


@pytest.mark.parametrize(
    ("options", "message", "args"),
    [({"frames": 0}, "{frames} needs a positive number, got 0", ["--frames", "0"]),
     ({"frames": 3, "every": 2}, "give only one of {frames}, {fps}, {every}, {all_frames} (got {frames}, {every})",
      ["--frames", "3", "--every", "2"]),
     ({"threshold": 1.5}, "{threshold} must be between 0 and 1, not 1.5", ["--threshold", "1.5"]),
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
