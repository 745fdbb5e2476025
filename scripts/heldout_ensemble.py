"""Does averaging two networks' detectors beat each alone on their shared held-out part?

Usage (from the repository root)::

    .venv/bin/python scripts/heldout_ensemble.py weights/meso4_df.json weights/mesoinception4_df.json

Each argument is a model card. The held-out part is rebuilt from the first card's data (its sources,
held-out fraction and seed, identity groups as training drew them, among the readable files only); every other
card must describe the same part (same files, held-out settings, fraction and seed), else the script stops: a
detector scored on faces it trained on would win for the wrong reason. Each detector scores the held-out faces,
then the mean of their p_fake does. Printed per source and as the mean over sources (the figure ``--select auc``
picks epochs by), as JSON. Only held-out faces are read, never a test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

import mesocli
from mesocli.evaluate import evaluate
from mesocli.training import TrainConfig, TrainingData, decode_run_data, load_run_data, split_run_data
from mesocli.weights import ModelCard


def config_from_card(card: ModelCard) -> TrainConfig:
    """The parts of a training configuration that decide its held-out draw, from its model card."""
    data: dict[str, Any] = card.data or {}
    keys = ("root", "split", "methods", "every", "weight", "heldout", "runs")
    sources = [{key: source[key] for key in keys if key in source} for source in data["sources"]]
    return TrainConfig(data=sources[0]["root"], arch=card.arch, manipulation=card.manipulation, sources=sources,
                       val_fraction=data["heldout_fraction"], heldout_seed=split_seed(card))


def split_seed(card: ModelCard) -> int:
    """The seed that drew the card's held-out part: its held-out seed, else its training seed."""
    seed = (card.data or {}).get("heldout_seed")
    return card.seed if seed is None else seed


def draw_signature(card: ModelCard) -> tuple[Any, ...]:
    """What must match for two cards to share a held-out part."""
    data: dict[str, Any] = card.data or {}
    return (tuple((source["file_list_sha256"], source.get("heldout", True), source.get("runs", 0))
                  for source in data["sources"]), data["heldout_fraction"], split_seed(card))


def figures(labels_is_fake: np.ndarray, p_fake: np.ndarray, source: np.ndarray) -> dict[str, float]:
    """AUC and accuracy at 0.5 per source, and their means over sources."""
    out: dict[str, float] = {}
    for number in np.unique(source):
        mine = source == number
        out[f"auc_source{number}"] = float(roc_auc_score(labels_is_fake[mine], p_fake[mine]))
        out[f"accuracy_source{number}"] = float(np.mean((p_fake[mine] >= 0.5) == labels_is_fake[mine]))
    for figure in ("auc", "accuracy"):
        out[figure] = float(np.mean([value for key, value in out.items() if key.startswith(f"{figure}_source")]))
    return {key: round(value, 4) for key, value in out.items()}


def heldout_part(config: TrainConfig) -> tuple[TrainingData, np.ndarray]:
    """The run's data and its held-out part, drawn as training drew it: among the readable files only."""
    data = load_run_data(config)
    _, usable = decode_run_data(config, data, progress=False)
    _, held = split_run_data(config, data, usable)
    return data, held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cards", type=Path, nargs="+", help="model cards (JSON) of the detectors to average")
    args = parser.parse_args()
    cards = [ModelCard.from_json(path) for path in args.cards]
    if len({draw_signature(card) for card in cards}) != 1:
        raise SystemExit("the cards did not draw the same held-out part (sources, fraction or seed differ)")
    config = config_from_card(cards[0])
    data, held = heldout_part(config)
    faces = data.combined.subset(held)
    scores = {}
    for path, card in zip(args.cards, cards, strict=True):
        weights = path.parent / card.weights_file
        report = evaluate(mesocli.load_model(str(weights), arch=card.arch), faces, bootstrap=0)
        scores[card.name] = report.p_fake
    labels = report.labels_is_fake
    source = data.source_index[held]
    results = {name: figures(labels, p, source) for name, p in scores.items()}
    results["mean of " + " + ".join(scores)] = figures(labels, np.mean(list(scores.values()), axis=0), source)
    print(json.dumps({"faces": len(held), "fakes": int(labels.sum()), "results": results}, indent=1))


if __name__ == "__main__":
    main()
