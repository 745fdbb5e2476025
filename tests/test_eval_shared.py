"""Evaluation on the MesoNet validation split and on FaceForensics++ test faces in ../shared
(skipped without them, required in CI).

The validation split (7,104 images) is decoded once per session (nearest resize: the authors' Meso4_DF.h5 is
scored on all of it). Each bundled df card is re-checked on the sample its ``metrics.validation.sample`` records
(``eval --limit 2000 --seed 0``: whole videos, about 2,000 faces; ``scripts/card_validation_sample.py`` wrote it),
which takes a quarter of the time of the whole split; the whole-split figures are ``benchmarks/paper.py``'s and
``scripts/card_validation_rates.py``'s to re-measure.
The FF++ test faces are extracted once per session from ``data/ffpp-c23/test`` the way
``scripts/build_ffpp_faces.sh ... --frames 20`` does (36 clips, 20 frames each: ~1 min on 2 cores).
Each bundled network scores those faces once per session: the ensembles and the interval test reuse the
scores the per-card tests computed (``_scores_computed_once``).
Reference figures for the authors' Meso4_DF.h5 were measured by the data provider with mesocli's bilinear
resize: accuracy 0.876 (df 0.960, real 0.819), AUC 0.970 (``benchmarks/paper.py`` gives that row); eval gives their
weights their loader's nearest resize: 0.888 (df 0.901, real 0.879), AUC 0.962, which the suite checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import require_shared

from mesocli.datasets import DecodedImages, FolderDataset, decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.rates import measure
from mesocli.runtime import resolve
from mesocli.weights import VALIDATION_SAMPLE, bundled_cards, load_weights


class _RememberedScores:
    """An ONNX network's predictor that computes each batch of faces once per test session: the FF++ tests below
    score the same faces with the same bundled networks (each card's figures, then the ensembles made of those
    networks, then meso4_df's intervals), and a network gives the same scores to the same faces."""

    scores: dict[tuple[str, str, str], np.ndarray] = {}  # (arch, weights sha256, faces digest) -> P(real)

    def __init__(self, predictor: Any, arch: str, sha256: str) -> None:
        self.predictor, self.arch, self.sha256 = predictor, arch, sha256

    def p_real(self, faces: Any) -> np.ndarray:
        batch = np.ascontiguousarray(faces, dtype=np.uint8)
        key = (self.arch, self.sha256, f"{batch.shape}:{hashlib.blake2b(batch.data, digest_size=16).hexdigest()}")
        if key not in self.scores:
            self.scores[key] = self.predictor.p_real(batch)
        return self.scores[key].copy()

    def p_fake(self, faces: Any) -> np.ndarray:
        return 1.0 - self.p_real(faces)  # as OnnxPredictor.p_fake


@pytest.fixture(scope="module", autouse=True)
def _scores_computed_once() -> Iterator[None]:
    """Every ONNX network's predictor (alone, or a member of an ensemble or set) remembers its scores."""
    from mesocli import runtime

    make_predictor = runtime.make_predictor

    def remembering(loaded: Any, *args: Any, **options: Any) -> Any:
        predictor = make_predictor(loaded, *args, **options)  # an ensemble's members come back through here
        if isinstance(loaded, runtime.OnnxModel):
            return _RememberedScores(predictor, loaded.arch, loaded.sha256)
        return predictor

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "make_predictor", remembering)
        yield


@pytest.fixture(scope="session")
def validation_split() -> tuple[FolderDataset, DecodedImages]:
    """The validation split and its decoded faces, decoded once per test session."""
    dataset = find_dataset(require_shared("data", "mesonet-df"), "validation")
    assert dataset.counts == {"df": 2845, "real": 4259}
    decoded = decode_dataset(dataset, progress=False, resizes=("nearest",))  # the authors' weights read nearest
    assert decoded.ok.all(), decoded.errors
    return dataset, decoded


@pytest.fixture(scope="session")
def validation_sample() -> tuple[FolderDataset, DecodedImages]:
    """The faces ``eval --split validation --limit 2000 --seed 0`` scores, decoded both ways (each card its own)."""
    from mesocli.evaluate import limit_dataset

    sample = limit_dataset(find_dataset(require_shared("data", "mesonet-df"), "validation"), **VALIDATION_SAMPLE)
    decoded = decode_dataset(sample, progress=False, resizes=("bilinear", "nearest"))
    assert decoded.ok.all(), decoded.errors
    return sample, decoded


@pytest.mark.slow
def test_authors_meso4_df_on_validation(validation_split: tuple[FolderDataset, DecodedImages]) -> None:
    """The authors' Meso4_DF.h5 gives its reference figures through eval (their loader's nearest resize). The 7,104
    faces are scored with ONNX Runtime (what eval runs by default; about twice as fast as Keras here); the weights as
    Keras reads them give the same scores (within 1e-5) on every 28th face."""
    from mesocli.predictor import Predictor

    dataset, decoded = validation_split
    weights = require_shared("reference", "authors-weights", "Meso4_DF.h5")
    loaded, keras_loaded = resolve("meso4", "df", weights), load_weights(weights)  # ONNX: as `eval --weights` runs
    assert loaded.legacy and keras_loaded.legacy and loaded.sha256 == keras_loaded.sha256
    report = evaluate(loaded, dataset, 0.5, decoded=decoded, bootstrap=0)
    assert report.data["images"] == 7104 and report.data["skipped"] == 0 and report.provenance["resize"] == "nearest"
    assert report.accuracy == pytest.approx(0.888, abs=0.003)
    assert report.accuracy_df == pytest.approx(0.901, abs=0.005)
    assert report.accuracy_real == pytest.approx(0.879, abs=0.005)
    assert report.auc == pytest.approx(0.962, abs=0.003)
    assert report.video is not None and report.video["videos"] == 130  # 61 forged + 69 real
    assert report.best_accuracy >= report.accuracy
    spread = np.arange(0, len(decoded.images), 28)  # 254 faces spread over both classes
    keras = 1.0 - Predictor(keras_loaded.model).p_real(decoded.faces("nearest")[spread])
    np.testing.assert_allclose(report.p_fake[spread], keras, rtol=0, atol=1e-5)


BUNDLED = ["meso4_df", "meso4_f2f", "meso4_fs", "mesoinception4_df", "mesoinception4_f2f", "mesoinception4_fs"]
DEEPFAKE = [name for name in BUNDLED if name.endswith("_df")]


def test_the_bundled_detectors_are_the_documented_ones() -> None:
    assert sorted(card.name for card in bundled_cards()) == BUNDLED


@pytest.fixture(scope="session")
def ffpp_test_faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[FolderDataset, DecodedImages]:
    """Aligned faces of the 36 FF++ test clips (20 frames a clip), labelled by method folder."""
    from mesocli.extract import ExtractOptions, extract
    from mesocli.video import FrameSelection

    root = require_shared("data", "ffpp-c23", "test")
    out = tmp_path_factory.mktemp("ffpp-test20")
    for method in sorted(path.name for path in root.iterdir() if path.is_dir()):
        label = "real/original" if method == "original" else f"df/{method}"
        options = ExtractOptions(FrameSelection.from_options(frames=20), "hog", layout="dataset", label=label,
                                 split="test")
        summary = extract([root / method], out, options)
        assert all(result.status == "ok" for result in summary.results), summary.to_dict()
    dataset = find_dataset(out, "test")
    assert set(dataset.methods) == {"Deepfakes", "Face2Face", "FaceSwap", "original"}
    decoded = decode_dataset(dataset, progress=False, resizes=("bilinear", "nearest"))  # the df detectors: nearest
    assert decoded.ok.all(), decoded.errors
    return dataset, decoded


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_weights_match_their_card_on_ffpp_test_faces(
    name: str, ffpp_test_faces: tuple[FolderDataset, DecodedImages]
) -> None:
    """Each bundled card's FF++ test figures (AUC and accuracy per method, and the error counts per face and per
    video at 0.1…0.9 of ``error_rates``) are what the weights give."""
    arch, manipulation = name.split("_")
    loaded = resolve(arch, manipulation, None)  # ONNX Runtime: what scan and eval run
    recorded = (loaded.card.metrics.get("ffpp_test") or {}).get("methods")
    assert recorded, f"{loaded.weights_path}: model card has no metrics.ffpp_test.methods"
    dataset, decoded = ffpp_test_faces
    report = evaluate(loaded, dataset, 0.5, decoded=decoded, bootstrap=0)
    assert report.data["images"] == loaded.card.metrics["ffpp_test"]["data"]["images"]
    assert set(report.methods) == set(recorded) == {"Deepfakes", "Face2Face", "FaceSwap"}
    for method, figures in report.methods.items():
        assert figures["auc"] == pytest.approx(recorded[method]["auc"], abs=0.005), method
        assert figures["accuracy"] == pytest.approx(recorded[method]["accuracy"], abs=0.005), method
    # the error rates a scan's report quotes (mesocli.rates): per face and per video (mean, vote), at 0.1…0.9
    table = loaded.card.metrics["ffpp_test"].get("error_rates")
    assert table, f"{loaded.weights_path}: model card has no metrics.ffpp_test.error_rates"
    measured = measure(report.labels_is_fake, report.p_fake, report.image_methods, report.video_ids,
                       table["thresholds"])
    assert set(measured["missed"]) == set(table["missed"]) == {"Deepfakes", "Face2Face", "FaceSwap"}
    for name, entry in [("real", measured["real_called_fake"]), *measured["missed"].items()]:
        card = table["real_called_fake"] if name == "real" else table["missed"][name]
        assert (entry["faces"], entry["videos"]) == (card["faces"], card["videos"]), name
        for what in ("face", "video_mean", "video_vote"):  # a face or clip on a threshold may tip on another CPU
            assert max(abs(a - b) for a, b in zip(entry[what], card[what], strict=True)) <= 1, (name, what)


@pytest.mark.slow
@pytest.mark.parametrize("name", DEEPFAKE)  # df only (CI time): the f2f/fs cards are re-checked on FF++ faces
def test_bundled_weights_match_their_model_card(
    name: str, request: pytest.FixtureRequest, validation_split_available: Path
) -> None:
    """Each bundled df card's MesoNet validation figures are what the bundled weights give, on the sample the card
    records (``metrics.validation.sample``: the draw of ``eval --limit 2000 --seed 0``, its accuracy per class,
    AUC and confusion counts); the card's whole-split figures were measured with the same code."""
    arch, manipulation = name.split("_")
    loaded = resolve(arch, manipulation, None)
    card = loaded.card
    assert card is not None, f"{loaded.weights_path}: bundled weights without a model card"
    recorded = card.metrics.get("validation", {}).get("sample")
    assert recorded is not None, f"{loaded.weights_path}: model card has no metrics.validation.sample"
    dataset, decoded = request.getfixturevalue("validation_sample")
    assert recorded["subset"] == dataset.drawn and dataset.drawn["limit"] == VALIDATION_SAMPLE["limit"]
    report = evaluate(loaded, dataset, card.metrics["validation"]["threshold"], decoded=decoded, bootstrap=0)
    assert report.data["images"] == recorded["subset"]["images"] == len(dataset.paths)
    confusion = report.to_dict()["confusion"]
    for key in ("tp", "fp", "tn", "fn"):  # a face on the threshold may tip on another CPU
        assert abs(confusion[key] - recorded["confusion"][key]) <= 1, (key, confusion, recorded["confusion"])
    assert report.accuracy == pytest.approx(recorded["accuracy"], abs=0.001)
    assert report.auc == pytest.approx(recorded["auc"], abs=0.001)


@pytest.fixture
def validation_split_available() -> Path:
    """Skip/fail (per MESOCLI_REQUIRE_SHARED) before the bundled-weights check when ../shared is absent."""
    return require_shared("data", "mesonet-df", "validation")


@pytest.mark.slow
def test_the_documented_ensemble_figures_on_ffpp_test_faces(
    ffpp_test_faces: tuple[FolderDataset, DecodedImages]
) -> None:
    """docs/training.md "Both networks at once": `--arch ensemble` on the FF++ test faces."""
    dataset, decoded = ffpp_test_faces
    own_method = {"df": ("Deepfakes", 0.938), "f2f": ("Face2Face", 0.994), "fs": ("FaceSwap", 0.779)}
    for manipulation, (method, auc) in own_method.items():
        report = evaluate(resolve("ensemble", manipulation, None), dataset, 0.5, decoded=decoded, bootstrap=0)
        assert report.methods[method]["auc"] == pytest.approx(auc, abs=0.005), manipulation
    report = evaluate(resolve("ensemble", "any", None), dataset, 0.5, decoded=decoded)
    assert report.auc == pytest.approx(0.857, abs=0.005)
    assert report.methods["FaceSwap"]["auc"] == pytest.approx(0.641, abs=0.005)
    assert report.video["videos"] == 36 and report.video["accuracy_mean"] == pytest.approx(27 / 36)


@pytest.mark.slow
def test_ffpp_test_intervals_are_as_wide_as_twelve_videos_a_method_make_them(
    ffpp_test_faces: tuple[FolderDataset, DecodedImages]
) -> None:
    """docs/training.md "How sure the test figures are": the bundled meso4_df's Deepfakes AUC (0.940) and
    its 36-clip video accuracy, with their 95 % intervals (videos resampled, seed 0)."""
    dataset, decoded = ffpp_test_faces
    report = evaluate(resolve("meso4", "df", None), dataset, 0.5, decoded=decoded)
    assert report.intervals is not None and report.intervals["unit"] == "video"
    low, high = report.methods["Deepfakes"]["intervals"]["auc"]
    assert low < 0.90 and high > 0.95 and low < report.methods["Deepfakes"]["auc"] < high  # 0.95 inside it
    low, high = report.intervals["video_accuracy_mean"]  # 20 of 36 clips right: Wilson
    assert (low, high) == pytest.approx((0.396, 0.705), abs=0.002)


def test_compare_weights_gives_eval_compares_paired_video_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """``scripts/compare_weights.py`` gave the paired accuracy and AUC by face only: it now gives ``eval --compare``'s
    own paired figures (the same code), video accuracies (mean, vote) and video AUC with intervals over the same
    resampled videos, on a few real MesoNet validation faces (3 videos a class, 4 frames each)."""
    import json
    import runpy
    import sys

    validation = require_shared("data", "mesonet-df", "validation")
    for label, videos in (("df", ("114", "115", "116")), ("real", ("100", "101", "102"))):
        (tmp_path / "data" / "validation" / label).mkdir(parents=True)
        for video in videos:
            for face in sorted(validation.glob(f"{label}/{video}_*.jpg"))[:4]:
                (tmp_path / "data" / "validation" / label / face.name).symlink_to(face)
    weights = Path(__file__).resolve().parents[1] / "weights"
    first, second = weights / "meso4_df.weights.h5", weights / "mesoinception4_df.weights.h5"
    saved = tmp_path / "compared.json"
    monkeypatch.setattr(sys, "argv", ["compare_weights.py", "--data", str(tmp_path / "data"), "--split",
                                      "validation", "--resamples", "200", "--json", str(saved), str(first),
                                      str(second)])
    runpy.run_path(str(weights.parent / "scripts" / "compare_weights.py"), run_name="__main__")
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith(f"{second} minus {first}: accuracy "), line
    for name in ("video accuracy (mean) ", "video accuracy (vote) ", "video AUC "):
        assert name in line, line
    assert "[paired, videos resampled (6 videos)]" in line, line
    found = json.loads(saved.read_text())["differences"][str(second)]
    dataset = find_dataset(tmp_path / "data", "validation")
    expected = evaluate(load_weights(second), dataset, bootstrap=200, compare_with=load_weights(first)).comparison
    assert found["video"] == json.loads(json.dumps(expected["video"])), (found["video"], expected["video"])
    assert found["auc"] == json.loads(json.dumps(expected["auc"])) and found["unit"] == "video"
    assert all(found["video"][key]["interval"] is not None for key in ("accuracy_mean", "accuracy_vote", "auc_mean"))


def test_compare_weights_cautions_intervals_of_images_resampled_one_by_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """On faces whose names carry no video id, ``scripts/compare_weights.py`` resampled them one by one and said only
    ``[paired, images resampled]``, where ``eval --compare`` cautions that such intervals are far too narrow when
    the faces are frames of few videos: it now says so in the same words (real MesoNet validation faces of 3
    videos a class, renamed without their ids)."""
    import runpy
    import sys

    validation = require_shared("data", "mesonet-df", "validation")
    for label, videos in (("df", ("114", "115", "116")), ("real", ("100", "101", "102"))):
        (tmp_path / "data" / "validation" / label).mkdir(parents=True)
        faces = [face for video in videos for face in sorted(validation.glob(f"{label}/{video}_*.jpg"))[:4]]
        for number, face in enumerate(faces):
            (tmp_path / "data" / "validation" / label / f"{number:05d}.jpg").symlink_to(face)
    weights = Path(__file__).resolve().parents[1] / "weights"
    first, second = weights / "meso4_df.weights.h5", weights / "meso4_f2f.weights.h5"
    monkeypatch.setattr(sys, "argv", ["compare_weights.py", "--data", str(tmp_path / "data"), "--split",
                                      "validation", "--resamples", "200", str(first), str(second)])
    runpy.run_path(str(weights.parent / "scripts" / "compare_weights.py"), run_name="__main__")
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith(f"{second} minus {first}: accuracy ") and "video" not in line.split("[")[0], line
    assert line.endswith("[paired, images resampled; images resampled one by one (no file name carries a video "
                         "id): if they are frames of few videos, these intervals are far too narrow (name the crops "
                         "<video>_<frame> or use extract's dataset layout)]"), line
