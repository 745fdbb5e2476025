"""Detectors on a run's own held-out clips, re-encoded: robustness measured without the test split.

Usage (from the repository root)::

    .venv/bin/python scripts/heldout_degraded.py RUN WEIGHTS [MORE.weights.h5 ...]
        [--variants half,half-crf35,crf38] [--frames 20] [--work build/heldout-degraded] [--resamples 500]
        [--shared ../shared]

Rebuilds the held-out part RUN drew (same sources, seed and identity groups, as
``scripts/heldout_thresholds.py`` does) and keeps its FaceForensics++ faces (file names with video ids).
Each held-out video's clip is ``<shared>/data/ffpp-c23/<split>/<method>/<video>.mp4`` (the folder
``scripts/build_ffpp_faces.sh`` extracted the faces from; where the source's ``manifest.jsonl`` lists a
face, it must name that clip). Only those clips are re-encoded, with ``benchmarks/degradation.py``'s
variants and encoder (``orig``: the clips unchanged), into ``WORK/<run name>/clips/<variant>/``, and their
faces extracted as that benchmark does (``mesocli extract --frames N --detector hog``, dataset layout
labelled by method). Every WEIGHTS file is then scored on the run's own clean held-out faces and on each
variant's faces. Printed per weights: the clean image AUC, the AUC per variant and the mean over the
variants other than ``orig``; with several WEIGHTS, each one's drop gap against the first (its AUC
change from clean minus the first's, with a 95 % interval from resampling videos, as the benchmark
computes it). A WEIGHTS file whose model card records another held-out draw (other
files, fraction or seed) is flagged: it may have trained on these videos. A re-run reuses the encoded
clips and the extracted faces. Only the training split's held-out videos are read, never a test split.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # benchmarks/degradation.py: the variants, the encoder and the face extraction

HeldVideo = tuple[str, str, str]  # (split, method, video id)


def held_out_faces(run_dir: Path):
    """The run's config, its data, and the held-out faces that carry FaceForensics++ video ids (a FolderDataset
    subset), with each face's (split, method, video)."""
    from mesocli.datasets import video_id
    from mesocli.training import load_run_data, read_config, split_run_data

    config = read_config(run_dir)
    data = load_run_data(config)
    _, held = split_run_data(config, data, np.arange(len(data.labels)))  # as training drew it (every file readable)
    held = np.array([i for i in held if video_id(data.combined.paths[i]) is not None], dtype=np.int64)
    if not len(held):
        sys.exit(f"{run_dir}: its held-out part holds no face with a video id (no FaceForensics++ source)")
    faces = data.combined.subset(held)
    keys = []
    for index in held:
        dataset = data.datasets[int(data.source_index[index])]
        method = data.combined.methods[index]
        if method is None:
            sys.exit(f"{data.combined.paths[index]}: not in a method folder, so its clip cannot be found")
        keys.append((dataset.split or "", method, video_id(data.combined.paths[index])))
    return config, data, faces, keys, held


def check_manifests(data, held: np.ndarray, keys: list[HeldVideo]) -> int:
    """Check that each source's ``manifest.jsonl`` (where there is one) names, for each held-out face it lists,
    the clip ``<split>/<method>/<video>.mp4``; exit on a mismatch. Returns how many faces it listed."""
    checked = 0
    by_source: dict[int, list[tuple[Path, HeldVideo]]] = {}
    for index, key in zip(held, keys, strict=True):
        by_source.setdefault(int(data.source_index[index]), []).append((data.combined.paths[index], key))
    for number, faces in by_source.items():
        root = data.datasets[number].root
        manifest = root / "manifest.jsonl"
        if not manifest.is_file():
            continue
        sources = {}
        with manifest.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                if record.get("type") == "face":
                    sources[record["file"]] = record["source"]
        for path, (split, method, video) in faces:
            source = sources.get(path.relative_to(root).as_posix())
            if source is None:
                continue
            checked += 1
            if Path(source).parts[-3:] != (split, method, f"{video}.mp4"):
                sys.exit(f"{path}: its manifest says it came from {source}, not {split}/{method}/{video}.mp4")
    return checked


def draw_matches(card, config, data) -> bool:
    """Whether a model card records the held-out draw of the run (same files, held-out settings, fraction, seed)."""
    from heldout_ensemble import draw_signature

    run = SimpleNamespace(data={"sources": data.describe(), "heldout_fraction": config.val_fraction,
                                "heldout_seed": config.split_seed}, seed=config.seed)
    try:
        return draw_signature(card) == draw_signature(run)
    except (KeyError, TypeError):
        return False


def main() -> None:
    from benchmarks.degradation import VARIANTS, by_video, drop_gap, encode, extract

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the training run whose held-out part is used")
    parser.add_argument("weights", type=Path, nargs="+", help="the weights files to score")
    parser.add_argument("--variants", default="half,half-crf35,crf38",
                        help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--frames", type=int, default=20, help="frames per clip for the re-encoded faces")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "heldout-degraded",
                        help="encoded clips and extracted faces (kept for a re-run)")
    parser.add_argument("--resamples", type=int, default=500, help="video resamples for the drop-gap intervals")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")),
                        help="holds data/ffpp-c23/<split>/<method>/<video>.mp4")
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown or not names:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    clips_root = args.shared / "data" / "ffpp-c23"

    import mesocli
    from mesocli.datasets import decode_dataset, find_dataset, video_id
    from mesocli.evaluate import evaluate
    from mesocli.preprocess import RESIZES  # each face both ways: every weights reads its own
    from mesocli.weights import card_beside

    config, data, clean, keys, held = held_out_faces(args.run_dir)
    videos = sorted(set(keys))
    clips = {key: clips_root / key[0] / key[1] / f"{key[2]}.mp4" for key in videos}
    missing = [str(path) for path in clips.values() if not path.is_file()]
    if missing:
        sys.exit(f"{len(missing)} held-out clip(s) not found, e.g. {missing[0]}: pass --shared or set MESOCLI_SHARED")
    listed = check_manifests(data, held, keys)
    methods = tuple(sorted({method for _, method, _ in videos}))
    per_method = ", ".join(f"{method} {sum(m == method for _, m, _ in videos)}" for method in methods)
    print(f"run {args.run_dir}: {len(videos)} held-out videos ({per_method}), {len(keys)} clean faces "
          f"({listed} of them checked against their manifest)")
    print("videos: " + " ".join(f"{method}/{video}" for _, method, video in videos))
    for weights in args.weights:
        card = card_beside(weights)
        if card is None:
            print(f"{weights}: no model card, its held-out draw is not checked")
        elif not draw_matches(card, config, data):
            print(f"WARNING {weights}: its card records another held-out draw: it may have trained on these videos")
        else:
            print(f"{weights}: its card records the same held-out draw (files, fraction, seed)")
    models = {weights: mesocli.load_model(str(weights), arch=config.arch) for weights in args.weights}
    aucs: dict[Path, dict[str, float]] = {weights: {} for weights in models}
    scores: dict[str, dict[str, Any]] = {}  # variant -> weights -> video -> (is fake, p_fake of its faces)

    def score(name: str, dataset, decoded=None) -> None:
        scores[name] = {}
        for weights, model in models.items():
            report = evaluate(model, dataset, decoded=decoded, bootstrap=0)
            aucs[weights][name] = report.auc
            scores[name][str(weights)] = by_video(report.video_ids, report.labels_is_fake, report.p_fake)

    score("clean", clean)

    from imageio_ffmpeg import get_ffmpeg_exe

    ffmpeg = get_ffmpeg_exe()
    work = args.work / args.run_dir.resolve().name
    wanted = {(method, video) for _, method, video in videos}
    for name in names:
        folder = work / "clips" / name
        for (_, method, _), source in clips.items():
            target = folder / method / source.name
            if VARIANTS[name] is None:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to(source.resolve())
            else:
                encode(ffmpeg, source, target, VARIANTS[name])
        faces_dir = work / "faces" / name
        extract(folder, faces_dir, args.frames, split="heldout", methods=methods)
        dataset = find_dataset(faces_dir, "heldout")
        keep = np.array([i for i, (path, method) in enumerate(zip(dataset.paths, dataset.methods, strict=True))
                         if (method, video_id(path)) in wanted], dtype=np.int64)  # a stale clip's faces left out
        dataset = dataset.subset(keep)
        found = {(method, video_id(path)) for path, method in zip(dataset.paths, dataset.methods, strict=True)}
        print(f"{name}: {len(dataset.paths)} faces from {len(found)} of {len(videos)} videos", flush=True)
        score(name, dataset, decode_dataset(dataset, progress=False, resizes=tuple(RESIZES)))

    degraded = [name for name in names if name != "orig"]
    columns = ["clean", *names, "mean"]
    width = max(len(str(weights)) for weights in args.weights)
    print(f"\n{'weights':<{width}} " + " ".join(f"{column:>10}" for column in columns))
    for weights in args.weights:
        row = aucs[weights]
        row["mean"] = float(np.mean([row[name] for name in degraded])) if degraded else float("nan")
        print(f"{str(weights):<{width}} " + " ".join(f"{row[column]:>10.4f}" for column in columns))
    print(f"\nImage AUC on {len(videos)} held-out videos of the training split; mean: over "
          f"{', '.join(degraded) or 'no variant'}")
    if len(args.weights) < 2:
        return
    first = str(args.weights[0])
    print(f"\nDrop gap: AUC change from clean of each weights file minus that of {first} (positive: it holds up "
          f"better), 95 % interval over {args.resamples} video resamples")
    print(f"{'weights':<{width}} " + " ".join(f"{name:>26}" for name in names))
    for weights in args.weights[1:]:
        cells = [drop_gap(scores["clean"], scores[name], str(weights), first, None, args.resamples) for name in names]
        print(f"{str(weights):<{width}} " + " ".join(f"{g:+.3f} [{lo:+.3f}, {hi:+.3f}]".rjust(26)
                                                         for g, lo, hi in cells))


if __name__ == "__main__":
    from mesocli.errors import MesocliError

    try:
        main()
    except MesocliError as exc:  # a missing run, an unreadable weights file: one line, not a traceback
        sys.exit(f"error: {exc}")
