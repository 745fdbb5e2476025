"""`--arch ensemble`: one detector read by both networks, p_fake the mean of theirs."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import RunCli, check_schema, write_bundle
from media import MediaKit, make_faces

from mesocli import weights as weights_module
from mesocli.detectors import DetectorSet, Ensemble
from mesocli.weights import resolve_model


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meso4 df and f2f, MesoInception4 df only: real networks from seeded inits, spread apart."""
    return write_bundle(tmp_path_factory.mktemp("ensemble-bundle"),
                        [("meso4", "df", 21, 1.5), ("meso4", "f2f", 22, 1.5), ("mesoinception4", "df", 23, 1.5)])


@pytest.fixture
def bundled(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(weights_module, "bundled_dir", lambda: bundle)
    return bundle


def test_ensemble_holds_both_networks_and_any_only_the_shared_manipulations(bundled: Path) -> None:
    ensemble = resolve_model("ensemble", "df", None)
    assert isinstance(ensemble, Ensemble) and list(ensemble.members) == ["meso4", "mesoinception4"]
    described = ensemble.describe()
    assert described["arch"] == "ensemble" and described["name"] == "ensemble_df"
    assert described["weights_sha256"] is None
    assert {net["name"] for net in described["networks"].values()} == {"meso4_df", "mesoinception4_df"}
    detectors = resolve_model("ensemble", "any", None)
    assert isinstance(detectors, DetectorSet) and list(detectors.members) == ["df"]  # no MesoInception4 f2f
    with pytest.raises(Exception, match="no bundled MesoInception4 weights for 'f2f'"):
        resolve_model("ensemble", "f2f", None)


def test_ensemble_scan_of_a_real_video_is_the_mean_of_both_networks(
    bundled: Path, kit: MediaKit, run_cli: RunCli
) -> None:
    video = kit.face_video
    found = {}
    for arch in ("meso4", "mesoinception4", "ensemble"):
        code, out, err = run_cli("scan", video, "--arch", arch, "--frames", "6", "--detail", "--format", "json", "-q")
        assert code == 0, err
        (found[arch],) = json.loads(out)
        check_schema(found[arch])
    ensemble = found["ensemble"]
    assert ensemble["model"]["arch"] == "ensemble" and set(ensemble["model"]["networks"]) == {"meso4", "mesoinception4"}
    for frame, *singles in zip(ensemble["scores"], found["meso4"]["scores"], found["mesoinception4"]["scores"],
                               strict=True):
        assert frame["p_fake"] == pytest.approx(np.mean([single["p_fake"] for single in singles]), abs=1e-4)
    mean = (found["meso4"]["p_fake"] + found["mesoinception4"]["p_fake"]) / 2
    assert ensemble["p_fake"] == pytest.approx(mean, abs=1e-4)
    assert ensemble["verdict"] == ("fake" if ensemble["p_fake"] >= 0.5 else "real")


def test_ensemble_any_the_tensorflow_runtime_and_workers(bundled: Path, kit: MediaKit, run_cli: RunCli,
                                                         tmp_path: Path) -> None:
    code, out, err = run_cli("scan", kit.face_video, "--arch", "ensemble", "--model", "any", "--frames", "4",
                             "--format", "json", "-q")
    assert code == 0, err
    (result,) = json.loads(out)
    check_schema(result)
    assert set(result["detectors"]) == {"df"}
    assert result["model"]["detectors"]["df"]["arch"] == "ensemble"
    code, out, err = run_cli("scan", kit.face_video, "--arch", "ensemble", "--frames", "4", "--runtime",
                             "tensorflow", "--format", "json", "-q")
    assert code == 0, err
    assert json.loads(out)[0]["p_fake"] == pytest.approx(result["detectors"]["df"]["p_fake"], abs=1e-4)
    code, out, err = run_cli("scan", kit.face_video, "--arch", "ensemble", "--model", "any", "--frames", "4",
                             "--format", "csv", "-q")
    assert code == 0, err
    (row,) = csv.DictReader(io.StringIO(out))
    digests = row["model_weights_sha256"].split(" ")  # every file behind it
    networks = result["model"]["detectors"]["df"]["networks"]
    assert digests == [f"df.{arch}={networks[arch]['weights_sha256']}" for arch in ("meso4", "mesoinception4")]
    # spawned workers get both networks of each detector
    copy = shutil.copy(kit.face_video, tmp_path / "copy.mp4")  # a second input (the same one twice is scanned once)
    code, out, err = run_cli("scan", kit.face_video, copy, "--arch", "ensemble", "--model", "any",
                             "--frames", "4", "--workers", "2", "--format", "json", "-q")
    assert code == 0, err
    assert [row["p_fake"] for row in json.loads(out)] == pytest.approx([result["p_fake"]] * 2, abs=1e-4)


def test_ensemble_eval_scores_each_face_by_the_mean(bundled: Path, tmp_path: Path, run_cli: RunCli) -> None:
    data = make_faces(tmp_path / "faces", {"df": 6, "real": 6}, size=(64, 64))
    scores = {}
    for arch in ("meso4", "mesoinception4", "ensemble"):
        target = tmp_path / f"{arch}.csv"
        code, out, err = run_cli("eval", "--data", data, "--arch", arch, "--scores", target, "--format", "json")
        assert code == 0, err
        assert json.loads(out)["model"]["arch"] == arch
        rows = target.read_text().splitlines()[1:]
        scores[arch] = {row.split(",")[0]: float(row.split(",")[3]) for row in rows}
    assert len(scores["ensemble"]) == 12
    networks = json.loads(out)["model"]["networks"]  # the ensemble's run, last: its note names both files
    assert (f"model: ensemble_df (ensemble, sha256 meso4 {networks['meso4']['weights_sha256'][:12]}, "
            f"mesoinception4 {networks['mesoinception4']['weights_sha256'][:12]})") in err
    for path, p_fake in scores["ensemble"].items():
        assert p_fake == pytest.approx((scores["meso4"][path] + scores["mesoinception4"][path]) / 2, abs=1e-5)


def test_ensemble_refuses_weights_and_explain(bundled: Path, kit: MediaKit, own_weights: Path, tmp_path: Path,
                                              run_cli: RunCli) -> None:
    code, out, err = run_cli("scan", kit.face_video, "--arch", "ensemble", "--weights", own_weights, "-q")
    assert code == 2 and "--arch ensemble uses the bundled weights of both networks" in err
    assert err.count("\n") == 1
    code, out, err = run_cli("explain", kit.face_video, "--out", tmp_path / "maps", "--arch", "ensemble")
    assert code == 2 and "ensemble" in err
    assert not (tmp_path / "maps").exists()
