"""`--model any`: every bundled detector of a network on the same faces, one verdict, each detector's score."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import RunCli, check_schema, write_bundle
from media import MediaKit

from mesocli import weights as weights_module
from mesocli.detectors import DetectorSet
from mesocli.weights import resolve_model


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights folder with two Meso4 detectors (df, f2f): real networks, different seeded inits."""
    return write_bundle(tmp_path_factory.mktemp("bundle"), [("meso4", "df", 11, 1.5), ("meso4", "f2f", 12, 0.5)])


@pytest.fixture
def bundled(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(weights_module, "bundled_dir", lambda: bundle)
    return bundle


def test_any_loads_every_bundled_detector_of_the_network(bundled: Path) -> None:
    detectors = resolve_model("meso4", "any", None)
    assert isinstance(detectors, DetectorSet) and list(detectors.members) == ["df", "f2f"]
    described = detectors.describe()
    assert described["name"] == "meso4_any" and set(described["detectors"]) == {"df", "f2f"}
    with pytest.raises(Exception, match="no bundled MesoInception4"):
        resolve_model("mesoinception4", "any", None)


def test_any_on_a_real_video_gives_one_verdict_and_each_detectors_score(
    bundled: Path, kit: MediaKit, run_cli: RunCli
) -> None:
    video = kit.face_video
    code, out, err = run_cli("scan", video, "--model", "any", "--frames", "8", "--detail", "--format", "json", "-q")
    assert code == 0, err
    (result,) = json.loads(out)
    check_schema(result)
    assert result["status"] == "ok" and set(result["detectors"]) == {"df", "f2f"}
    # the combined score is the largest detector score; the verdict is fake as soon as one says fake
    scores = {name: item["p_fake"] for name, item in result["detectors"].items()}
    assert result["p_fake"] == pytest.approx(max(scores.values()), abs=1e-6)
    assert (result["verdict"] == "fake") == any(item["verdict"] == "fake" for item in result["detectors"].values())
    # each detector's score is its own mean over the frames, the same as scanning with that detector alone
    for name in ("df", "f2f"):
        code, out, err = run_cli("scan", video, "--model", name, "--frames", "8", "--format", "json", "-q")
        assert code == 0, err
        assert json.loads(out)[0]["p_fake"] == pytest.approx(scores[name], abs=1e-6)
    frames = result["scores"]
    assert len(frames) == 8 and all(set(f["detectors"]) == {"df", "f2f"} for f in frames)
    assert all(f["p_fake"] == pytest.approx(max(f["detectors"].values()), abs=1e-6) for f in frames)
    means = {name: np.mean([f["detectors"][name] for f in frames]) for name in ("df", "f2f")}
    assert means == pytest.approx(scores, abs=1e-5)


def test_any_table_shows_the_detectors_and_any_refuses_weights(
    bundled: Path, kit: MediaKit, own_weights: Path, run_cli: RunCli
) -> None:
    code, out, err = run_cli("scan", kit.face_video, "--model", "any", "--frames", "4", "--format", "table", "-q")
    assert code == 0, err
    assert "detectors (p_fake)" in out and "df 0." in out and "f2f 0." in out
    code, out, err = run_cli("scan", kit.face_video, "--model", "any", "--frames", "4", "--format", "csv", "-q")
    assert code == 0, err
    (row,) = csv.DictReader(io.StringIO(out))  # columns by name: the CSV may gain columns
    assert row["model_name"] == "meso4_any"
    assert [pair.split("=")[0] for pair in row["model_weights_sha256"].split(" ")] == ["df", "f2f"]
    code, out, err = run_cli("scan", kit.face_video, "--model", "any", "--weights", own_weights, "-q")
    assert code == 2 and "--model any uses the bundled detectors" in err


def test_each_heatmap_is_drawn_by_the_detector_that_flagged_the_face(bundle: Path) -> None:
    """The maps of a --model any scan were all drawn by df, also for a face only another detector flagged:
    its 'most fake' map then showed df's (empty) evidence. Now each face's map is drawn by the detector
    whose p_fake is the face's combined score, and says so."""
    from media import face_crop

    from mesocli.evidence import EvidenceCollector
    from mesocli.explain import GradCam, face_panel, png_bytes
    from mesocli.report import explain_faces
    from mesocli.weights import load_weights

    crop = np.asarray(face_crop(256).convert("RGB"))
    cams = {name: GradCam(load_weights(bundle / f"meso4_{name}.weights.h5").model) for name in ("df", "f2f")}
    collector = EvidenceCollector(top=1)
    collector.started(0, "clip.mp4")
    collector.sampled(0, 0, 0.0, 1)
    collector.sampled(0, 1, 0.5, 1)
    collector.scored(0, 0, 0.0, None, crop, 0.8, {"df": 0.1, "f2f": 0.8})  # only f2f says fake
    collector.scored(0, 1, 0.5, None, crop, 0.3, {"df": 0.3, "f2f": 0.2})  # df's score is the combined one
    fakest, realest = explain_faces(cams.get, collector.take("clip.mp4"), "video", 0.5)
    assert (fakest.detector, fakest.target, realest.detector, realest.target) == ("f2f", "fake", "df", "real")
    assert fakest.caption.endswith("· f2f map") and fakest.file_name(1, "video").endswith("_f2f.png")
    for image, name in ((fakest, "f2f"), (realest, "df")):
        (drawn,) = cams[name].explain([crop], target=image.target)
        assert image.png == png_bytes(face_panel(crop, drawn, image.caption))


def test_scan_any_names_the_detector_of_each_heatmap(bundled: Path, kit: MediaKit, run_cli: RunCli,
                                                     tmp_path: Path) -> None:
    """``scan --model any --explain`` files and the report say which detector drew each map: the one whose
    p_fake is that face's combined score (as --detail's per-frame detectors show)."""
    from mesocli.report_html import HEATMAP_FILE

    out_dir, report = tmp_path / "maps", tmp_path / "report.html"
    code, out, err = run_cli("scan", kit.face_video, "--model", "any", "--frames", "4", "--detail", "--format",
                             "json", "--explain", out_dir, "--explain-top", "2", "--report", report, "-q")
    assert code == 0, err
    frames = {f["frame"]: f["detectors"] for f in json.loads(out)[0]["scores"]}
    files = sorted((out_dir / "face").glob("*.png"))  # beside input.json, which names the input
    assert len(files) == 4
    for file in files:
        assert HEATMAP_FILE.fullmatch(file.name), file.name
        frame, detector = int(file.stem.split("_frame")[1][:6]), file.stem.rsplit("_", 1)[1]
        scores = frames[frame]
        assert detector == max(scores, key=lambda name: scores[name])
    assert "Grad-CAM of the detector whose p_fake is the face" in report.read_text(encoding="utf-8")


def test_a_fake_or_flagged_input_says_which_detector_made_it(bundled: Path, kit: MediaKit, run_cli: RunCli,
                                                           tmp_path: Path) -> None:
    """``--model any``: the "needs a look" list, a flagged range and the report said an input was fake or flagged,
    not by which detector (the table's detectors column gave every score, the call none). At a threshold of 0.6
    df (about 0.87 on every frame) calls the clip fake and flags it whole, f2f (0.50) does not: each says df."""
    report = tmp_path / "report.html"
    args = (kit.face_video, kit.noface_video, "--model", "any", "--frames", "8", "--threshold", "0.6", "--no-face-ok",
            "-q")
    code, out, err = run_cli("scan", *args, "--format", "json", "--report", report)
    assert code == 0, err
    row = json.loads(out)[0]
    check_schema(row)
    assert {name: item["verdict"] for name, item in row["detectors"].items()} == {"df": "fake", "f2f": "real"}
    assert [segment["detectors"] for segment in row["segments"]] == [["df"]]
    page = report.read_text(encoding="utf-8")
    assert "s</span> (df)</td>" in page and "; flagged by df</li>" in page
    code, out, err = run_cli("scan", *args, "--format", "table")
    assert code == 0, err
    look = out[out.index("needs a look"):]
    assert "called fake by df" in " ".join(look.split()) and "called fake by df, f2f" not in " ".join(look.split())
    assert " s (df)" in out  # the flagged column
