"""Cost and width of ``eval``'s 95 % intervals, on a labelled face dataset with video ids.

    .venv/bin/python benchmarks/eval_intervals.py [--data build/ffpp-test20] [--split test] [--model df]
                                                  [--resamples 1000] [--repeats 3]

Decodes and scores the split once (bundled detector, ONNX Runtime), then times the figures alone
(``bootstrap=0``) against the figures with intervals, median of ``--repeats`` runs in turns. Also
prints the AUC interval widths of the whole split and of each method when videos are resampled (what
``eval`` does) and when single frames are (what would claim far too much precision): the ratio of
the two is why ``eval`` resamples videos. Target: the intervals add at most 30 s on the FF++ test faces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("build/ffpp-test20"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="df")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from mesocli.datasets import decode_dataset, find_dataset
    from mesocli.evaluate import evaluate
    from mesocli.metrics import bootstrap_intervals
    from mesocli.runtime import resolve
    from mesocli.weights import resizes_needed

    print(f"load average {os.getloadavg()[0]:.2f}")
    dataset = find_dataset(args.data, args.split)
    loaded = resolve(None, args.model, None)
    decoded = decode_dataset(dataset, progress=False, resizes=resizes_needed(loaded))  # as the weights read faces

    def timed(resamples: int) -> float:
        start = time.perf_counter()
        evaluate(loaded, dataset, decoded=decoded, bootstrap=resamples)
        return time.perf_counter() - start

    plain, with_intervals = [], []
    for _ in range(args.repeats):
        plain.append(timed(0))
        with_intervals.append(timed(args.resamples))
    a, b = statistics.median(plain), statistics.median(with_intervals)
    print(f"{len(decoded.ok)} faces, {args.resamples} resamples: figures {a:.1f} s, with intervals {b:.1f} s "
          f"(+{b - a:.1f} s, ×{b / a:.1f}); target: +30 s at most -> {'met' if b - a <= 30 else 'NOT met'}")

    report = evaluate(loaded, dataset, decoded=decoded, bootstrap=args.resamples)
    labels, video_ids = report.labels_is_fake, np.asarray(report.video_ids, dtype=object)
    subsets = {"all": np.ones(len(labels), dtype=bool)}
    methods = np.asarray([Path(path).parts[-2] for path in report.paths])  # df/<METHOD>/: the parent folder
    for method in sorted(report.methods or {}):
        subsets[method] = ~labels | (methods == method)
    print(f"{'faces':<12} {'AUC':>6}  {'by video':>13} {'width':>6}  {'by frame':>13} {'width':>6}  ratio")
    for name, keep in subsets.items():
        y, p, videos = labels[keep], report.p_fake[keep], list(video_ids[keep])
        by_video = bootstrap_intervals(y, p, units=videos, resamples=args.resamples)["auc"]
        by_frame = bootstrap_intervals(y, p, resamples=args.resamples)["auc"]
        wv, wf = by_video[1] - by_video[0], by_frame[1] - by_frame[0]
        auc = report.auc if name == "all" else report.methods[name]["auc"]
        print(f"{name:<12} {auc:6.3f}  {by_video[0]:.3f}–{by_video[1]:.3f} {wv:6.3f}  "
              f"{by_frame[0]:.3f}–{by_frame[1]:.3f} {wf:6.3f}  ×{wv / wf:.1f}")


if __name__ == "__main__":
    main()
