"""Evaluate several weight files on one dataset split (decoded once): a row of figures per file.

    python scripts/compare_weights.py --data build/ffpp-test20 --split test W1.weights.h5 W2.h5 ...

Prints image-level AUC per fake method (folder convention ``<split>/df/<method>/``) and overall
accuracy/AUC and video accuracy (mean); ``--json FILE`` keeps every report.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.weights import load_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dataset = find_dataset(args.data, args.split)
    decoded = decode_dataset(dataset, progress=False)
    reports = {}
    for path in args.weights:
        report = evaluate(load_weights(path), dataset, decoded=decoded, bootstrap=0).to_dict()
        reports[str(path)] = report
        methods = report["methods"] or {}
        cells = " ".join(f"{name} {item['auc']:.3f}" for name, item in methods.items())
        video = report["video"]["accuracy_mean"] if report["video"] else float("nan")
        print(f"{path}: acc {report['accuracy']:.3f} (df {report['accuracy_df']:.3f} "
              f"real {report['accuracy_real']:.3f}) AUC {report['auc']:.3f} video {video:.3f} | {cells}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
