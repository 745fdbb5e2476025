"""Video thresholds a detector's own held-out part would support: is 0.5 the right cut?

Usage (from the repository root)::

    .venv/bin/python scripts/heldout_thresholds.py runs/meso4_df_ffpp2 weights/meso4_df.weights.h5 [MORE.weights.h5 ...]

Rebuilds the held-out part the run drew (same sources, seed and identity groups), keeps its sources
whose file names carry video ids (FaceForensics++), scores those faces with WEIGHTS, and prints each
held-out video's mean p_fake, the video accuracy at 0.5, and the thresholds that would do best on
those videos. Only the run's held-out part is read, never a test split: this is how a per-detector
threshold for ``--model any`` would have to be chosen, and whether the held-out videos are enough to
choose one. With several WEIGHTS files, one object is printed for each, all on the same faces (their
``faces_auc`` and ``faces_accuracy_at_0.5`` compare two runs on one held-out part).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import mesocli
from mesocli.datasets import video_id
from mesocli.evaluate import evaluate
from mesocli.metrics import called_fake
from mesocli.training import load_run_data, read_config, split_run_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the training run whose held-out part is used")
    parser.add_argument("weights", type=Path, nargs="+", help="the weights to score it with (the run's detector)")
    args = parser.parse_args()
    config = read_config(args.run_dir)
    data = load_run_data(config)
    _, held = split_run_data(config, data, np.arange(len(data.labels)))  # as training drew it (every file readable)
    held = np.array([i for i in held if video_id(data.combined.paths[i]) is not None])
    faces = data.combined.subset(held)
    for weights in args.weights:
        model = mesocli.load_model(str(weights), arch=config.arch)
        print_report(args.run_dir, weights, evaluate(model, faces, bootstrap=0))


def print_report(run_dir: Path, weights: Path, report) -> None:
    """Print one weights file's held-out videos, its face AUC and the video cuts that do best."""
    frames: dict[tuple[str, bool], list[float]] = defaultdict(list)
    for video, is_fake, p in zip(report.video_ids, report.labels_is_fake, report.p_fake, strict=True):
        frames[(video, bool(is_fake))].append(float(p))
    videos = sorted((video, is_fake, float(np.mean(scores))) for (video, is_fake), scores in frames.items())
    truth = np.array([is_fake for _, is_fake, _ in videos])
    means = np.array([mean for _, _, mean in videos])
    cuts = np.unique(np.concatenate([[0.5], means, means + 1e-6]))
    right = np.array([int(np.sum(called_fake(means, cut) == truth)) for cut in cuts])  # eval's verdict rule
    best = cuts[right == right.max()]
    print(json.dumps({
        "run": str(run_dir), "weights": str(weights), "faces": len(report.p_fake),
        "faces_auc": round(float(roc_auc_score(report.labels_is_fake, report.p_fake)), 4),
        "faces_accuracy_at_0.5": round(float(np.mean(called_fake(report.p_fake, 0.5) == report.labels_is_fake)), 4),
        "videos": [{"video": video, "fake": is_fake, "mean_p_fake": round(mean, 3)} for video, is_fake, mean in videos],
        "right_at_0.5": int(np.sum(called_fake(means, 0.5) == truth)), "of": len(videos),
        "best_right": int(right.max()), "best_thresholds": [round(float(best.min()), 3), round(float(best.max()), 3)],
    }, indent=1))


if __name__ == "__main__":
    main()
