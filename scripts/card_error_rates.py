"""Add the error-rate table (:mod:`mesocli.rates`) to the bundled model cards, from their FaceForensics++ test faces.

Usage (from the repository root)::

    SPLITS=test scripts/build_ffpp_faces.sh ../shared/data/ffpp-c23 build/ffpp-test20 --frames 20
    .venv/bin/python scripts/card_error_rates.py build/ffpp-test20

Scores the 720 faces (36 clips, 20 frames each) with each bundled detector as ``scan`` and ``eval`` run it (ONNX
Runtime), by ``mesocli eval``'s code, checks that the card's recorded FF++ figures are what it gives (the faces are
the ones the card was measured on), and writes ``metrics.ffpp_test.error_rates``: at each threshold 0.1…0.9 the real
faces and videos called fake and the forged ones missed per method, per face and per video by the ``mean`` and
``vote`` rules. Nothing else in a card changes (no retraining, no other figure). ``scripts/bundle_weights.py``
writes the same table for a newly bundled card; tests/test_eval_shared.py re-checks it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.fsutil import atomic_write_text
from mesocli.preprocess import RESIZES  # each face both ways: every weights reads its own
from mesocli.rates import KEY, measure
from mesocli.runtime import resolve
from mesocli.weights import bundled_cards, bundled_dir, card_path_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ffpp", type=Path, help="FF++ test faces: ROOT/test/{df,real}/<method>/")
    args = parser.parse_args()
    dataset = find_dataset(args.ffpp, "test")
    decoded = decode_dataset(dataset, progress=False, resizes=tuple(RESIZES))
    for card in bundled_cards():
        loaded = resolve(card.arch, card.manipulation, None)
        recorded = card.metrics["ffpp_test"]
        report = evaluate(loaded, dataset, recorded["threshold"], decoded=decoded, bootstrap=0)
        for method, figures in (report.methods or {}).items():  # the faces the card was measured on
            if abs(figures["auc"] - recorded["methods"][method]["auc"]) > 0.005:
                raise SystemExit(f"{card.name}: {method} AUC {figures['auc']:.4f}, card "
                                 f"{recorded['methods'][method]['auc']:.4f}: not the card's faces")
        recorded[KEY] = measure(report.labels_is_fake, report.p_fake, report.image_methods, report.video_ids)
        atomic_write_text(card_path_for(bundled_dir() / card.weights_file), card.to_json())
        print(f"{card.name}: {recorded[KEY]['real_called_fake']}")


if __name__ == "__main__":
    main()
