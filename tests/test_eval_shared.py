"""Evaluation on the MesoNet validation split in ../shared (skipped without it, required in CI).

The split (7,104 images) is decoded once per session and shared by the tests here (~1 min).
Reference figures for the authors' Meso4_DF.h5 were measured by the data provider with the
bilinear resize mesocli uses: accuracy 0.876 (df 0.960, real 0.819), AUC 0.970.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_shared

from mesocli.datasets import DecodedImages, FolderDataset, decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.weights import bundled_cards, load_weights, resolve_model


@pytest.fixture(scope="session")
def validation_split() -> tuple[FolderDataset, DecodedImages]:
    """The validation split and its decoded faces, decoded once per test session."""
    dataset = find_dataset(require_shared("data", "mesonet-df"), "validation")
    assert dataset.counts == {"df": 2845, "real": 4259}
    decoded = decode_dataset(dataset, progress=False)
    assert decoded.ok.all(), decoded.errors
    return dataset, decoded


def test_authors_meso4_df_on_validation(validation_split: tuple[FolderDataset, DecodedImages]) -> None:
    dataset, decoded = validation_split
    weights = require_shared("reference", "authors-weights", "Meso4_DF.h5")
    report = evaluate(load_weights(weights), dataset, 0.5, decoded=decoded)
    assert report.data["images"] == 7104 and report.data["skipped"] == 0
    assert report.accuracy == pytest.approx(0.876, abs=0.003)
    assert report.accuracy_df == pytest.approx(0.960, abs=0.005)
    assert report.accuracy_real == pytest.approx(0.819, abs=0.005)
    assert report.auc == pytest.approx(0.970, abs=0.003)
    assert report.video is not None and report.video["videos"] == 130  # 61 forged + 69 real
    assert report.best_accuracy >= report.accuracy


BUNDLED = ["meso4_df", "mesoinception4_df"]


def test_both_networks_are_bundled_for_deepfakes() -> None:
    assert sorted(card.name for card in bundled_cards()) == BUNDLED


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_weights_match_their_model_card(
    name: str, request: pytest.FixtureRequest, validation_split_available: Path
) -> None:
    """The validation accuracy written in a bundled card must be what the bundled weights give."""
    arch, manipulation = name.split("_")
    loaded = resolve_model(arch, manipulation, None)
    card = loaded.card
    assert card is not None, f"{loaded.weights_path}: bundled weights without a model card"
    recorded = card.metrics.get("validation", {}).get("accuracy")
    assert recorded is not None, f"{loaded.weights_path}: model card has no metrics.validation.accuracy"
    dataset, decoded = request.getfixturevalue("validation_split")
    report = evaluate(loaded, dataset, card.metrics["validation"].get("threshold", 0.5), decoded=decoded)
    assert report.accuracy == pytest.approx(recorded, abs=0.002)
    assert report.auc == pytest.approx(card.metrics["validation"]["auc"], abs=0.002)


@pytest.fixture
def validation_split_available() -> Path:
    """Skip/fail (per MESOCLI_REQUIRE_SHARED) before the bundled-weights check when ../shared is absent."""
    return require_shared("data", "mesonet-df", "validation")
