"""How close is a held-out part to its training part? Guides ``runs`` for plain-numbered frames.

    python scripts/heldout_leak.py ../shared/data/mesonet-df [--runs 1 50 100 200 400] [--against validation]

For each class folder of ``ROOT/<split>`` (files without video ids, in name order), draws held-out
parts as ``mesocli train`` does (``--val-fraction``, runs of N consecutive files; N = 1 is the
single-file draw) and prints, per class, the mean over held-out files of their best similarity to a
training file (correlation of 24x24 colour thumbnails) and the share whose nearest file is in
training. ``--against`` gives the same figure for another split (say, ``validation``: other videos)
against the whole training split: the level at which nothing of a video is on both sides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from mesocli.datasets import find_dataset, identity_groups
from mesocli.sources import split_by_groups


def thumbnails(paths: list[Path]) -> np.ndarray:
    """One unit vector per image: its 24x24 colour thumbnail, mean removed."""
    vectors = np.empty((len(paths), 24 * 24 * 3), dtype=np.float32)
    for index, path in enumerate(paths):
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB").resize((24, 24), Image.BILINEAR), dtype=np.float32).ravel()
        pixels -= pixels.mean()
        vectors[index] = pixels / (np.linalg.norm(pixels) + 1e-9)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 50, 100, 200, 400])
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--draws", type=int, default=10, help="held-out draws (seeds 0..N-1) averaged per row")
    parser.add_argument("--against", help="another split of ROOT, compared with the whole training split")
    args = parser.parse_args()
    dataset = find_dataset(args.root, args.split)
    other = find_dataset(args.root, args.against) if args.against else None
    print("| held out | " + " | ".join(f"{name}: best similarity / nearest in training"
                                       for name in ("df", "real")) + " |")
    print("|---|---|---|")
    per_class = []
    for label in (0, 1):
        paths = [path for path, mine in zip(dataset.paths, dataset.labels == label, strict=True) if mine]
        vectors = thumbnails(paths)
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -2.0)
        per_class.append((paths, vectors, similarity))
    for runs in args.runs:
        cells = []
        for paths, _vectors, similarity in per_class:
            groups = identity_groups(paths, runs=runs if runs > 1 else 0)
            zeros = np.zeros(len(paths), dtype=np.int64)
            best, nearest = [], []
            for seed in range(args.draws):
                _, held = split_by_groups(zeros, zeros, groups, args.val_fraction, seed,
                                          by_class=frozenset({0}) if runs > 1 else frozenset())
                is_held = np.zeros(len(paths), dtype=bool)
                is_held[held] = True
                best.append(similarity[np.ix_(is_held, ~is_held)].max(axis=1).mean())
                nearest.append((~is_held[similarity[is_held].argmax(axis=1)]).mean())
            cells.append(f"{np.mean(best):.3f} / {np.mean(nearest):.2f}")
        name = "single files" if runs <= 1 else f"runs of {runs}"
        print(f"| {name} | " + " | ".join(cells) + " |")
    if other is not None:
        cells = []
        for label, (_paths, vectors, _similarity) in enumerate(per_class):
            theirs = thumbnails([path for path, mine in zip(other.paths, other.labels == label, strict=True) if mine])
            cells.append(f"{(theirs @ vectors.T).max(axis=1).mean():.3f} / —")
        print(f"| the {args.against} split, against all of {args.split} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
