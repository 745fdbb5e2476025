"""Write each bundled model card's figures on a fixed sample of the MesoNet validation split.

The figures go to ``metrics.validation.sample``.

Usage (from the repository root)::

    .venv/bin/python scripts/card_validation_sample.py ../shared/data/mesonet-df

Scores the faces that ``mesocli eval --split validation --limit 2000 --seed 0`` draws (whole videos, about 2,000 of
the 7,104 faces, each class and method folder in its share: :func:`mesocli.evaluate.limit_dataset`) with each
bundled detector as ``eval`` runs it (ONNX Runtime, the card's resize), and writes the draw and the figures there:
accuracy (overall and per class) at the card's threshold, AUC and the confusion counts. The test suite re-checks
the df cards against this sample (tests/test_eval_shared.py: a quarter of the time of the whole split); the
whole-split figures in ``metrics.validation`` stay as measured, and ``benchmarks/paper.py`` and
``scripts/card_validation_rates.py`` re-measure them. Nothing else in a card changes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.evaluate import evaluate, limit_dataset
from mesocli.fsutil import atomic_write_text
from mesocli.preprocess import RESIZES  # each face both ways: every weights reads its own
from mesocli.runtime import resolve
from mesocli.weights import VALIDATION_SAMPLE, bundled_cards, bundled_dir, card_path_for, sample_figures

SECTION, KEY = "validation", "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the MesoNet dataset: ROOT/validation/{df,real}/")
    args = parser.parse_args()
    sample = limit_dataset(find_dataset(args.data, SECTION), **VALIDATION_SAMPLE)
    decoded = decode_dataset(sample, progress=False, resizes=tuple(RESIZES))
    for card in bundled_cards():
        loaded = resolve(card.arch, card.manipulation, None)
        threshold = card.metrics[SECTION]["threshold"]
        figures = sample_figures(evaluate(loaded, sample, threshold, decoded=decoded, bootstrap=0).to_dict())
        path = card_path_for(bundled_dir() / card.weights_file)
        raw = json.loads(path.read_text(encoding="utf-8"))  # the file as it is: only this section's key is added
        raw["metrics"][SECTION][KEY] = figures
        atomic_write_text(path, json.dumps(raw, indent=2) + "\n")
        print(f"{card.name}: {figures['subset']['images']} faces, accuracy {figures['accuracy']:.4f}, "
              f"AUC {figures['auc']:.4f} (whole split: {card.metrics[SECTION]['accuracy']:.4f}, "
              f"{card.metrics[SECTION]['auc']:.4f})")


if __name__ == "__main__":
    main()
