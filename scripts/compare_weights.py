"""Evaluate several weight files on one dataset split (decoded once): a row of figures per file, and
each file's paired difference from the first.

    python scripts/compare_weights.py --data build/ffpp-test20 --split test W1.weights.h5 W2.h5 ...

Prints image-level AUC per fake method (folder convention ``<split>/df/<method>/``), overall
accuracy/AUC and video accuracy (mean); then, for every file after the first, its accuracy and AUC
minus the first file's with 95 % paired-bootstrap intervals (``--resamples``, videos resampled within
each class where names carry ids; both files scored on the same resamples). An interval that
excludes 0 is a difference the split shows. ``--json FILE`` keeps every report and difference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.evaluate import evaluate
from mesocli.metrics import paired_difference
from mesocli.weights import load_weights, resizes_needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    dataset = find_dataset(args.data, args.split)
    models = {path: load_weights(path) for path in args.weights}
    # each file decoded once, resized each way the weights want (the authors' files and --resize nearest runs:
    # nearest; else bilinear)
    resizes = list(dict.fromkeys(resize for loaded in models.values() for resize in resizes_needed(loaded)))
    decoded = decode_dataset(dataset, progress=False, resizes=resizes)
    reports, scored = {}, {}
    for path, loaded in models.items():
        result = evaluate(loaded, dataset, decoded=decoded, bootstrap=0)
        report = result.to_dict()
        reports[str(path)], scored[str(path)] = report, result
        methods = report["methods"] or {}
        cells = " ".join(f"{name} {item['auc']:.3f}" for name, item in methods.items())
        video = report["video"]["accuracy_mean"] if report["video"] else float("nan")
        print(f"{path}: acc {report['accuracy']:.3f} (df {report['accuracy_df']:.3f} "
              f"real {report['accuracy_real']:.3f}) AUC {report['auc']:.3f} video {video:.3f} | {cells}", flush=True)
    first, *others = scored.values()
    units = first.video_ids if all(first.video_ids) else None
    differences = {}
    for path, result in zip(args.weights[1:], others, strict=True):
        found = paired_difference(first.labels_is_fake, first.p_fake, result.p_fake, units=units,
                                  resamples=args.resamples)
        differences[str(path)] = found
        cells = "  ".join(f"{key} {found[key]['difference']:+.4f} ({found[key]['interval'][0]:+.4f} to "
                          f"{found[key]['interval'][1]:+.4f})" for key in ("accuracy", "auc"))
        print(f"{path} minus {args.weights[0]}: {cells}  [paired, {'videos' if units else 'images'} resampled]")
    if args.json:
        args.json.write_text(json.dumps({"reports": reports, "differences": differences}, indent=1))


if __name__ == "__main__":
    main()
