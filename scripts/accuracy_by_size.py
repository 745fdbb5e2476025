"""Accuracy per class and source-image width, from a ``mesocli eval --scores`` CSV.

Usage (from the repository root)::

    mesocli eval --data ../shared/data/mesonet-df --split validation --scores scores.csv
    .venv/bin/python scripts/accuracy_by_size.py scores.csv --data ../shared/data/mesonet-df

The MesoNet crops come in many sizes and every one is resized to 256×256, so the amount of
resampling blur varies; this table shows whether a model's errors follow it. ``--counts SPLIT``
prints instead the share of each width group per class in a split (no scores needed).
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from PIL import Image

from mesocli.datasets import find_dataset

GROUPS = ("< 200", "200-255", "256", "> 256")


def width_group(path: Path) -> str:
    with Image.open(path) as image:
        width = image.size[0]
    return GROUPS[0] if width < 200 else GROUPS[1] if width < 256 else GROUPS[2] if width == 256 else GROUPS[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scores", type=Path, nargs="?", help="CSV written by mesocli eval --scores")
    parser.add_argument("--data", type=Path, required=True, help="the dataset root the paths are relative to")
    parser.add_argument("--counts", metavar="SPLIT", help="print the width groups of SPLIT's classes instead")
    args = parser.parse_args()

    if args.counts:
        dataset = find_dataset(args.data, args.counts)
        print("| class | " + " | ".join(GROUPS) + " |\n|---|" + "---|" * len(GROUPS))
        for label, cls in enumerate(("df", "real")):
            files = [path for path, y in zip(dataset.paths, dataset.labels, strict=True) if y == label]
            counts = defaultdict(int)
            for path in files:
                counts[width_group(path)] += 1
            print(f"| {args.counts} {cls} | " + " | ".join(f"{counts[g] / len(files):.0%}" for g in GROUPS) + " |")
        return
    if args.scores is None:
        parser.error("give a scores CSV or --counts SPLIT")
    tally: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0.0])
    with open(args.scores, newline="") as handle:
        for row in csv.DictReader(handle):
            cell = tally[(row["label"], width_group(args.data / row["path"]))]
            cell[0] += 1
            cell[1] += (row["verdict"] == "fake") == (row["label"] == "df")
            cell[2] += float(row["p_fake"])
    print("| class | width | faces | accuracy | mean p_fake |\n|---|---|---|---|---|")
    for (label, group), (n, right, total) in sorted(tally.items(), key=lambda kv: (kv[0][0], GROUPS.index(kv[0][1]))):
        print(f"| {label} | {group} | {n} | {right / n:.3f} | {total / n:.3f} |")


if __name__ == "__main__":
    main()
