"""The MesoNet paper's figures beside the authors' weights and the bundled weights, all through ``mesocli eval``.

    .venv/bin/python benchmarks/paper.py [--shared ../shared] [--ffpp-faces build/ffpp-f2f-test20]
                                         [--bootstrap 1000] [--limit N] [--json FILE]

Deepfake: the MesoNet validation split (``<shared>/data/mesonet-df``, 7,104 faces, 130 videos), decoded
once, scored by the authors' ``Meso4_DF.h5`` / ``MesoInception_DF.h5`` (``<shared>/reference/authors-weights``)
and the bundled df weights of both networks: frame accuracy at 0.5, AUC, video accuracy by the mean
(the paper's rule) and by the vote share (the authors' released ``pipeline.py``), with eval's 95 % intervals.
eval resizes a crop as its weights ask: the authors' files read faces nearest-resized, as their Keras loader
did, the bundled df ones too (fine-tuned with ``train --resize nearest``; each as its card says); the authors'
weights also on bilinear-resized faces (mesocli's resize for them before it followed the weights; no eval option
does it): the rows that show what the resize moves.
Face2Face: the authors' F2F weights and the bundled f2f weights on FF++ c23 test faces (Face2Face
against the originals), which ``--ffpp-faces`` names; when that folder is absent the line says how to build it.
``<shared>`` defaults to ``$MESOCLI_SHARED``, else ``../shared`` beside the repository. Missing MesoNet data
or weights: one line on stderr, exit 1. ``--limit N`` scores a subset of about N faces (whole videos,
as ``eval --limit``). Each row's ``mesocli eval`` command reproduces it (without ``--limit``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# the paper's Table 2 / video table (Afchar et al., WIFS 2018), as docs/training.md quotes them
PAPER_DF = {"meso4": (0.891, 0.969), "mesoinception4": (0.917, 0.984)}
PAPER_F2F = "≈ 0.95"  # the paper's Face2Face set (its own videos), frame level
AUTHORS = {("meso4", "df"): "Meso4_DF.h5", ("mesoinception4", "df"): "MesoInception_DF.h5",
           ("meso4", "f2f"): "Meso4_F2F.h5", ("mesoinception4", "f2f"): "MesoInception_F2F.h5"}
NAMES = {"meso4": "Meso4", "mesoinception4": "MesoInception4"}
BUILD_F2F = ("mesocli extract {shared}/data/ffpp-c23/test/{method} {out} --layout dataset --split test "
             "--label {label}/{method} --frames 20 --detector hog")


def _cell(value: float | None, interval: list[float] | None = None) -> str:
    """``0.876 (0.85–0.90)``, or a dash for a figure that does not exist."""
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")


def _row(label: str, report: dict[str, Any] | None, command: str, paper: tuple[float, float] | None = None
         ) -> dict[str, Any]:
    """One row of the table: the figures of an eval report (or the paper's two), and the command."""
    if report is None:
        frame, video = paper if paper else (None, None)
        return {"weights": label, "accuracy": frame, "video_mean": video, "command": command, "cells": [
            _cell(frame), "—", "—", "—", _cell(video), "—", "—"]}
    ci, video = report["intervals"] or {}, report["video"] or {}
    return {"weights": label, "accuracy": report["accuracy"], "accuracy_df": report["accuracy_df"],
            "accuracy_real": report["accuracy_real"], "auc": report["auc"],
            "video_mean": video.get("accuracy_mean"), "video_vote": video.get("accuracy_vote"),
            "videos": video.get("videos"), "images": report["data"]["images"], "command": command,
            "best_threshold": report["best_threshold"], "best_accuracy": report["best_accuracy"],
            "cells": [_cell(report["accuracy"], ci.get("accuracy")), _cell(report["accuracy_df"]),
                      _cell(report["accuracy_real"]), _cell(report["auc"], ci.get("auc")),
                      _cell(video.get("accuracy_mean"), ci.get("video_accuracy_mean")),
                      _cell(video.get("accuracy_vote"), ci.get("video_accuracy_vote")),
                      f"{report['best_threshold']:.3f} → {report['best_accuracy']:.3f}"]}


def _table(title: str, rows: list[dict[str, Any]]) -> str:
    head = ["weights", "frame acc. @0.5", "df", "real", "AUC", "video acc. (mean)", "video acc. (vote)",
            "best threshold → acc."]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join([row["weights"], *row["cells"]]) + " |" for row in rows]
    lines += ["", "Commands:"] + [f"- {row['weights']}: `{row['command']}`" for row in rows if row["command"]]
    return "\n".join(lines)


def _section(data: Path, split: str, manipulation: str, authors_dir: Path, args: argparse.Namespace,
             data_shown: str) -> list[dict[str, Any]]:
    """Rows of one dataset: per network, the paper (df only), the authors' weights, the bundled weights."""
    from mesocli.datasets import DecodedImages, decode_dataset, find_dataset
    from mesocli.evaluate import evaluate, limit_dataset
    from mesocli.runtime import resolve

    dataset = limit_dataset(find_dataset(data, split), args.limit)
    decoded = decode_dataset(dataset, progress=False, resizes=("bilinear", "nearest"))  # each file read once
    # the bilinear faces offered as the authors' weights' own: what eval scored before it followed the weights
    bilinear = DecodedImages(decoded.images, decoded.ok, decoded.errors, resize="nearest")
    base = f"mesocli eval --data {data_shown} --split {split}"
    rows = []
    for arch in ("meso4", "mesoinception4"):
        if manipulation == "df":
            rows.append(_row(f"paper, {NAMES[arch]}", None, "", PAPER_DF[arch]))
        authors = authors_dir / AUTHORS[arch, manipulation]
        shown = f"{args.shared_shown}/reference/authors-weights/{authors.name}"
        loaded = resolve(None, manipulation, authors)
        runs = [(f"authors' {authors.name}", loaded, f"{base} --weights {shown}", decoded),
                (f"bundled {NAMES[arch]} {manipulation}", resolve(arch, manipulation, None),
                 f"{base} --arch {arch} --model {manipulation}", decoded)]
        if manipulation == "df":  # the MesoNet crops are not 256×256: the resize moves the authors' operating point
            runs.insert(1, (f"authors' {authors.name}, bilinear resize", loaded,
                            "benchmarks/paper.py (mesocli's resize; no eval option)", bilinear))
        for label, loaded, command, faces in runs:
            report = evaluate(loaded, dataset, decoded=faces, bootstrap=args.bootstrap).to_dict()
            rows.append(_row(label, report, command))
            print(f"  scored {label}: {report['data']['images']} faces", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--ffpp-faces", type=Path, default=REPO / "build" / "ffpp-f2f-test20",
                        help="FF++ c23 test faces: <dir>/test/df/Face2Face and <dir>/test/real/original")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--limit", type=int, help="about N faces of each dataset (whole videos), for a quick check")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    args.shared_shown = "../shared" if args.shared == REPO.parent / "shared" else str(args.shared)
    mesonet, authors_dir = args.shared / "data" / "mesonet-df", args.shared / "reference" / "authors-weights"
    missing = [str(path) for path in (mesonet / "validation", *(authors_dir / name for name in AUTHORS.values()))
               if not path.exists()]
    if missing:
        print(f"paper.py: missing {', '.join(missing)} (third-party data, not in the repository: give --shared "
              "or set MESOCLI_SHARED)", file=sys.stderr)
        return 1
    out: dict[str, Any] = {"limit": args.limit, "bootstrap": args.bootstrap}
    print(f"# MesoNet paper vs mesocli (threshold 0.5; 95 % intervals: {args.bootstrap} resamples of videos, "
          "Wilson for video accuracy)\n")
    out["df"] = _section(mesonet, "validation", "df", authors_dir, args, f"{args.shared_shown}/data/mesonet-df")
    print(_table("Deepfake: MesoNet validation split (paper: its Deepfake test set)", out["df"]) + "\n", flush=True)
    f2f = args.ffpp_faces
    if (f2f / "test" / "df" / "Face2Face").is_dir() and (f2f / "test" / "real" / "original").is_dir():
        shown = os.path.relpath(f2f, REPO) if f2f.resolve().is_relative_to(REPO) else str(f2f)
        out["f2f"] = _section(f2f, "test", "f2f", authors_dir, args, shown)
        print(f"Paper, Face2Face (its own Face2Face set, not these faces): frame accuracy {PAPER_F2F}\n")
        print(_table("Face2Face: FF++ c23 test, Face2Face against originals", out["f2f"]))
    else:
        out["f2f"] = None
        build = " && ".join(BUILD_F2F.format(shared=args.shared, out=f2f, label=label, method=method)
                            for label, method in (("real", "original"), ("df", "Face2Face")))
        print(f"Face2Face: no FF++ faces at {f2f} (skipped); build them with: {build}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
