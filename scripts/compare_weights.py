"""Evaluate several weight files on one dataset split (decoded once): a row of figures per file, and
each file's paired difference from the first.

    python scripts/compare_weights.py --data build/ffpp-test20 --split test W1.weights.h5 W2.h5 ...

Prints image-level AUC per fake method (folder convention ``<split>/df/<method>/``), overall
accuracy/AUC, video accuracy (mean, vote) and video AUC; then, for every file after the first, its
figures minus the first file's, computed by ``mesocli eval --compare``'s code
(:func:`mesocli.evaluate.compare`): accuracy and AUC by face, and video accuracy (mean and vote rules)
and video AUC (of the mean p_fake per video), each with a 95 % paired-bootstrap interval
(``--resamples``, videos resampled within each class where names carry ids; both files scored on the
same resamples, the video figures on the same resampled videos). An interval that excludes 0 is a
difference the split shows. Where no name carries a video id the faces are resampled one by one, and the line
says, as ``eval --compare`` does, that the intervals are then far too narrow if the faces are frames of few videos.
``--json FILE`` keeps every report and difference (the ``comparison``
object of ``mesocli eval --compare --format json``).

A weights file or dataset that is missing or unusable is one line on stderr, ``error: PATH: the problem``, and exit
status 2, as mesocli's commands say it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.errors import MesocliError, printable
from mesocli.evaluate import IMAGES_ONE_BY_ONE, compare, evaluate
from mesocli.weights import load_weights, resizes_needed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        _compare(args)
    except MesocliError as exc:  # a missing or unusable weights file or dataset: one line, not a traceback
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        sys.exit(exc.exit_code)


def _compare(args: argparse.Namespace) -> None:
    """Evaluate each of ``args.weights`` on the split, print its figures, then each file's differences."""
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
        video = report["video"]
        by_video = (f" video {video['accuracy_mean']:.3f} (vote {video['accuracy_vote']:.3f}, AUC "
                    f"{video['auc_mean']:.3f})" if video else "")
        print(f"{path}: acc {report['accuracy']:.3f} (df {report['accuracy_df']:.3f} "
              f"real {report['accuracy_real']:.3f}) AUC {report['auc']:.3f}{by_video} | {cells}", flush=True)
    first, *others = scored.values()
    differences = {}
    for path, result in zip(args.weights[1:], others, strict=True):
        found = compare(result, first, resamples=args.resamples)  # as `mesocli eval --weights PATH --compare FIRST`
        differences[str(path)] = found
        print(f"{path} minus {args.weights[0]}: {difference_line(found)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"reports": reports, "differences": differences}, indent=1))


def _cell(name: str, entry: dict[str, Any]) -> str:
    """``AUC +0.0123 (-0.0040 to +0.0290)``; ``(no interval)`` where there is none."""
    interval = entry.get("interval")
    bounds = f"({interval[0]:+.4f} to {interval[1]:+.4f})" if interval is not None else "(no interval)"
    return f"{name} {entry['difference']:+.4f} {bounds}"


def difference_line(found: dict[str, Any]) -> str:
    """One file's paired differences (:func:`mesocli.evaluate.compare`'s) on one line: accuracy and AUC by face,
    then video accuracy (mean, vote) and video AUC where the faces name their videos, and what was resampled."""
    cells = [_cell("accuracy", found["accuracy"]), _cell("AUC", found["auc"])]
    video = found.get("video")
    if video is not None:
        cells += [_cell(f"video {name}", video[key]) for key, name in
                  (("accuracy_mean", "accuracy (mean)"), ("accuracy_vote", "accuracy (vote)"), ("auc_mean", "AUC"))
                  if key in video]
    notes = [note for note in (found.get("note"), (video or {}).get("note")) if note]
    if found["unit"] == "image":  # eval --compare's caution: frames of few videos resampled as if independent
        notes.append(IMAGES_ONE_BY_ONE)
    unit = f"{found['unit']}s resampled" + (f" ({video['videos']} videos)" if video is not None else "")
    return "  ".join(cells) + f"  [paired, {unit}{''.join(f'; {note}' for note in notes)}]"


if __name__ == "__main__":
    main()
