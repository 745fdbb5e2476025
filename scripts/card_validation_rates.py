"""Add the error-rate table (:mod:`mesocli.rates`) to the bundled model cards' MesoNet validation section.

Usage (from the repository root)::

    .venv/bin/python scripts/card_validation_rates.py ../shared/data/mesonet-df

Scores the 7,104 faces of the MesoNet ``validation`` split with each bundled detector as ``scan`` and ``eval`` run it
(ONNX Runtime), by ``mesocli eval``'s code, checks that the card's recorded validation figures are what it gives (the
faces are the ones the card was measured on: same confusion counts at the card's threshold, AUC within 0.0005), and
writes ``metrics.validation.error_rates``: at each threshold 0.1…0.9 the real faces and videos called fake and the
forged ones missed, per face and per video by the ``mean`` and ``vote`` rules, as
``scripts/card_error_rates.py`` writes for the FaceForensics++ test faces. Nothing else in a card changes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.fsutil import atomic_write_text
from mesocli.preprocess import RESIZES  # each face both ways: every weights reads its own
from mesocli.rates import KEY, measure
from mesocli.runtime import resolve
from mesocli.weights import bundled_cards, bundled_dir, card_path_for

SECTION = "validation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the MesoNet dataset: ROOT/validation/{df,real}/")
    args = parser.parse_args()
    dataset = find_dataset(args.data, SECTION)
    decoded = decode_dataset(dataset, progress=False, resizes=tuple(RESIZES))
    for card in bundled_cards():
        loaded = resolve(card.arch, card.manipulation, None)
        recorded = card.metrics[SECTION]
        evaluated = evaluate(loaded, dataset, recorded["threshold"], decoded=decoded, bootstrap=0)
        report = evaluated.to_dict()
        got = {key: report["confusion"][key] for key in ("tp", "fp", "tn", "fn")}
        if got != {key: recorded["confusion"][key] for key in got} or abs(report["auc"] - recorded["auc"]) > 5e-4:
            raise SystemExit(f"{card.name}: confusion {got}, AUC {report['auc']:.4f}; card {recorded['confusion']}, "
                             f"AUC {recorded['auc']:.4f}: not the card's faces")
        table = measure(evaluated.labels_is_fake, evaluated.p_fake, evaluated.image_methods, evaluated.video_ids)
        path = card_path_for(bundled_dir() / card.weights_file)
        raw = json.loads(path.read_text(encoding="utf-8"))  # the file as it is: only this section's table is added
        raw["metrics"][SECTION][KEY] = table
        atomic_write_text(path, json.dumps(raw, indent=2) + "\n")
        real = table["real_called_fake"]
        print(f"{card.name}: real faces called fake at {table['thresholds']}: {real['face']} of {real['faces']}")


if __name__ == "__main__":
    main()
