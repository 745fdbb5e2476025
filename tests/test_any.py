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
