"""Detectors on re-encoded FaceForensics++ c23 test clips: does ``--degrade-prob`` training pay off?

    .venv/bin/python benchmarks/degradation.py [--shared ../shared] [--work build/degradation]
                                               [--variants orig,crf30,crf38,half,half-crf35] [--frames 20]

The bundled detectors were trained with ``--degrade-prob 0.3`` (blur, noise, JPEG) for robustness to
re-encoded uploads, which the FF++ test split (c23, as published) does not measure. This re-encodes
every test clip with the bundled ffmpeg (libx264, no audio) into ``--work``, one folder per variant:

- ``orig``: the clips as they are (the FF++ test figures);
- ``crf30``: one more H.264 generation at CRF 30, a platform's ordinary streaming rendition;
- ``crf38``: CRF 38, a low-bitrate rendition (blocking and smeared texture);
- ``half``: half the width and height at CRF 23, resolution loss alone (smaller faces, upsampled to 256);
- ``half-crf35``: half size at CRF 35, what a messenger app sends on.

Faces are then extracted from each variant with mesocli's own ``extract`` (``--frames 20 --layout
dataset --label {real|df}/<method> --detector hog``, as ``scripts/build_ffpp_faces.sh`` does), so the
detector meets the degraded frames too (the faces found per variant are printed), and scored with
the bundled Meso4 ``df``, ``f2f`` and ``any`` and, as a baseline without degradation training (nor
FF++ fine-tuning), the authors' ``Meso4_DF.h5`` / ``Meso4_F2F.h5`` (``authors any``: the larger
p_fake of the two, video verdicts as ``eval --model any`` makes them). Figures: image AUC of
Deepfakes against the originals (df), Face2Face against the originals (f2f), every fake against the
originals (any), video accuracy (mean p_fake >= 0.5) for any, and each one's change from ``orig``;
then the drop gap (the bundled detector's AUC change minus the authors', with a 95 % interval from
resampling videos). About 9 min on 2 busy cores; a re-run reuses the encoded clips and the extracted
faces (``extract`` resumes). No speed targets. Results: docs/training.md, "Re-encoded clips".
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HALF = "scale=trunc(iw/4)*2:trunc(ih/4)*2"
VARIANTS: dict[str, list[str] | None] = {
    "orig": None,
    "crf30": ["-crf", "30"],
    "crf38": ["-crf", "38"],
    "half": ["-vf", HALF, "-crf", "23"],
    "half-crf35": ["-vf", HALF, "-crf", "35"],
}
METHODS = ("original", "Deepfakes", "Face2Face", "FaceSwap")


def encode(ffmpeg: str, source: Path, target: Path, options: list[str]) -> None:
    """Re-encode ``source`` to ``target`` (H.264, yuv420p, no audio) unless already done."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part.mp4")
    subprocess.run([ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(source), "-an", "-c:v", "libx264",
                    "-preset", "medium", "-pix_fmt", "yuv420p", *options, str(partial)], check=True)
    partial.replace(target)


def variant_clips(ffmpeg: str, test: Path, work: Path, name: str) -> Path:
    """The folder of ``<method>/<id>.mp4`` clips of variant ``name`` (the shared test folder for orig)."""
    options = VARIANTS[name]
    if options is None:
        return test
    root = work / "clips" / name
    for method in METHODS:
        for clip in sorted((test / method).glob("*.mp4")):
            encode(ffmpeg, clip, root / method / clip.name, options)
    return root


def extract(clips: Path, faces: Path, frames: int, split: str = "test", methods: tuple[str, ...] = METHODS) -> None:
    """``mesocli extract`` of every method folder into ``faces/<split>/{real|df}/<method>/`` (also used by
    ``scripts/heldout_degraded.py``)."""
    for method in methods:
        label = "real" if method == "original" else "df"
        done = subprocess.run([sys.executable, "-m", "mesocli", "extract", str(clips / method), str(faces),
                               "--layout", "dataset", "--split", split, "--label", f"{label}/{method}",
                               "--frames", str(frames), "--detector", "hog", "--quiet", "--format", "json"],
                              capture_output=True, text=True, check=False)
        if done.returncode not in (0, 3):  # 3: some input failed, the manifest says which
            sys.exit(f"extract {clips / method}: exit {done.returncode}: {done.stderr.strip()[-500:]}")


def face_counts(faces: Path, test: Path) -> dict[str, tuple[int, int, int]]:
    """Per method: (faces, videos with a face, videos)."""
    counts = {}
    for method in METHODS:
        label = "real" if method == "original" else "df"
        crops = list((faces / "test" / label / method).glob("*.jpg"))
        videos = {crop.stem.rsplit("_", 1)[0] for crop in crops}
        counts[method] = (len(crops), len(videos), len(list((test / method).glob("*.mp4"))))
    return counts


Scores = dict[str, tuple[bool, np.ndarray]]  # video key -> (is fake, p_fake of its faces)


def figures(faces: Path, authors: Path) -> tuple[dict[str, dict[str, float]], dict[str, Scores]]:
    """AUCs (and video accuracy for any) of each detector on one variant's faces, and its scores by video."""
    from sklearn.metrics import roc_auc_score

    from mesocli.datasets import decode_dataset, find_dataset
    from mesocli.evaluate import evaluate
    from mesocli.metrics import video_level
    from mesocli.preprocess import RESIZES  # each face both ways: every weights reads its own
    from mesocli.runtime import resolve

    dataset = find_dataset(faces, "test")
    decoded = decode_dataset(dataset, progress=False, resizes=tuple(RESIZES))
    detectors = {
        "df": resolve("meso4", "df", None), "f2f": resolve("meso4", "f2f", None),
        "any": resolve("meso4", "any", None),
        "authors df": resolve("meso4", "df", authors / "Meso4_DF.h5"),
        "authors f2f": resolve("meso4", "f2f", authors / "Meso4_F2F.h5"),
    }
    reports = {name: evaluate(loaded, dataset, decoded=decoded, bootstrap=0) for name, loaded in detectors.items()}
    result: dict[str, dict[str, float]] = {}
    for name, report in reports.items():
        result[name] = {method: report.methods[method]["auc"] for method in ("Deepfakes", "Face2Face")}
        result[name]["all"] = report.auc
        result[name]["video"] = report.video["accuracy_mean"]
    # authors any: the larger p_fake of the two, each aggregating a video on its own (eval --model any)
    a, b = reports["authors df"], reports["authors f2f"]
    if a.paths != b.paths:
        raise RuntimeError("the authors' two detectors scored different faces")
    p_any = np.maximum(a.p_fake, b.p_fake)
    video = video_level(a.video_ids, a.labels_is_fake, p_any, 0.5, [a.p_fake, b.p_fake])
    result["authors any"] = {"all": float(roc_auc_score(a.labels_is_fake, p_any)), "video": video["accuracy_mean"]}
    scores = {name: by_video(report.video_ids, report.labels_is_fake, report.p_fake)
              for name, report in reports.items()}
    scores["authors any"] = by_video(a.video_ids, a.labels_is_fake, p_any)
    return result, scores


def by_video(videos: list[str | None], labels: np.ndarray, p_fake: np.ndarray) -> Scores:
    keys = np.asarray(videos, dtype=object)
    return {key: (bool(labels[keys == key][0]), p_fake[keys == key]) for key in sorted(set(videos))}


def drop_gap(orig: dict[str, Scores], variant: dict[str, Scores], ours: str, theirs: str, method: str | None,
             resamples: int, seed: int = 0) -> tuple[float, float, float]:
    """How much less ``ours`` loses than ``theirs`` from orig to the variant: (AUC drop of ours) − (AUC drop
    of theirs), with a 95 % percentile interval from resampling videos (per class, the same draw for both
    variants and both detectors). Positive: ``ours`` holds up better. ``method`` limits the fakes."""
    from sklearn.metrics import roc_auc_score

    keys = {key for key in orig[ours] if orig[ours][key][0] is False or method is None or key.startswith(f"{method}/")}
    real = sorted(key for key in keys if not orig[ours][key][0])
    fake = sorted(key for key in keys if orig[ours][key][0])

    def auc(scores: Scores, chosen: list[str]) -> float:
        present = [key for key in chosen if key in scores]  # a video with no face found in a variant drops out
        y = np.concatenate([np.full(len(scores[key][1]), scores[key][0]) for key in present])
        return float(roc_auc_score(y, np.concatenate([scores[key][1] for key in present])))

    def gap(chosen: list[str]) -> float:
        return ((auc(variant[ours], chosen) - auc(orig[ours], chosen))
                - (auc(variant[theirs], chosen) - auc(orig[theirs], chosen)))

    rng = np.random.default_rng(seed)
    draws = [gap(list(rng.choice(real, len(real))) + list(rng.choice(fake, len(fake)))) for _ in range(resamples)]
    low, high = np.percentile(draws, [2.5, 97.5])
    return gap(real + fake), float(low), float(high)


COLUMNS = [  # (header, detector, figure)
    ("df: DF", "df", "Deepfakes"), ("authors DF: DF", "authors df", "Deepfakes"),
    ("f2f: F2F", "f2f", "Face2Face"), ("authors F2F: F2F", "authors f2f", "Face2Face"),
    ("any: all", "any", "all"), ("any: video", "any", "video"),
    ("authors any: all", "authors any", "all"), ("authors any: video", "authors any", "video"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--work", type=Path, default=REPO / "build" / "degradation",
                        help="encoded clips and extracted faces (kept for a re-run)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--resamples", type=int, default=500, help="video resamples for the drop-gap intervals")
    args = parser.parse_args()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    test = args.shared / "data" / "ffpp-c23" / "test"
    authors = args.shared / "reference" / "authors-weights"
    if not test.is_dir() or not authors.is_dir():
        sys.exit(f"{test} or {authors} missing: pass --shared or set MESOCLI_SHARED")

    from imageio_ffmpeg import get_ffmpeg_exe

    ffmpeg = get_ffmpeg_exe()
    print(f"load average {os.getloadavg()[0]:.2f}; {args.frames} frames per clip; work folder {args.work}")
    results, counts, scores = {}, {}, {}
    for name in names:
        started = time.perf_counter()
        clips = variant_clips(ffmpeg, test, args.work, name)
        faces = args.work / "faces" / name
        extract(clips, faces, args.frames)
        counts[name] = face_counts(faces, test)
        results[name], scores[name] = figures(faces, authors)
        found = ", ".join(f"{method} {n} ({v}/{total} videos)" for method, (n, v, total) in counts[name].items())
        print(f"{name:<11} {time.perf_counter() - started:5.0f} s; faces: {found}", flush=True)

    print()
    header = f"{'variant':<11} {'faces':>5} " + " ".join(f"{title:>18}" for title, _, _ in COLUMNS)
    print(header)
    base = results.get("orig")
    for name in names:
        cells = []
        for _, detector, figure in COLUMNS:
            value = results[name][detector][figure]
            delta = f" ({value - base[detector][figure]:+.3f})" if base is not None and name != "orig" else ""
            cells.append(f"{value:.3f}{delta}".rjust(18))
        total = sum(n for n, _, _ in counts[name].values())
        print(f"{name:<11} {total:>5} " + " ".join(cells))
    print("\nAUC of image p_fake; video: accuracy of mean p_fake >= 0.5 per video; (±): change from orig.")
    if base is None or len(names) < 2:
        return
    print("\nDrop gap: AUC change from orig of the bundled detector minus the authors' (positive: the bundled one "
          f"holds up better), 95 % interval over {args.resamples} video resamples")
    pairs = [("df", "authors df", "Deepfakes"), ("f2f", "authors f2f", "Face2Face"), ("any", "authors any", None)]
    print(f"{'variant':<11} " + " ".join(f"{ours + ' vs authors':>26}" for ours, _, _ in pairs))
    for name in names:
        if name == "orig":
            continue
        cells = [drop_gap(scores["orig"], scores[name], ours, theirs, method, args.resamples)
                 for ours, theirs, method in pairs]
        print(f"{name:<11} " + " ".join(f"{g:+.3f} [{lo:+.3f}, {hi:+.3f}]".rjust(26) for g, lo, hi in cells))


if __name__ == "__main__":
    main()
