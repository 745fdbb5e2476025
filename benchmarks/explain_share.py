"""Where the bundled df detectors' Grad-CAM maps fall on real forged faces: their share inside the inner face.

    .venv/bin/python benchmarks/explain_share.py [--shared ../shared] [--work build/explain_share]
                                                 [--faces DIR] [--clips 8] [--picks 4]

The faces: 20 a clip, extracted once into ``--work`` the way ``scripts/build_ffpp_faces.sh ... --frames 20``
builds the FF++ test faces of docs/models.md's error rates (``extract --frames 20``, hog detector, largest
face), from the first ``--clips`` Deepfakes clips of ``data/ffpp-c23/test`` in ``--shared`` (by name: 055_147
to 657_644); or ``--faces DIR``, a folder of those faces already extracted (``DIR/<clip>_<frame>.jpg``, e.g.
``build/ffpp-test20/test/df/Deepfakes``). Of each clip, ``--picks`` faces evenly spread in frame order (4:
its 1st, 7th, 14th and 20th; 0: all). Each bundled df detector (ONNX Runtime, as ``mesocli explain`` runs it)
draws its Grad-CAM map for *fake* on each face (:mod:`mesocli.explain`: 256×256, in [0, 1]), and the share of
the map inside the inner face, ``heat[56:216, 64:192].sum() / heat.sum()`` (x 64–192, y 56–216 of the crop,
31 % of its area: a map spread evenly gives 0.31), is printed per detector: its median, quartiles, and the
faces counted (a face whose map is zero everywhere has no share and is left out, said so).
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

import numpy as np

INNER = (slice(56, 216), slice(64, 192))  # rows (y), columns (x) of the 256×256 crop
DETECTORS = ("meso4", "mesoinception4")


def extracted(shared: Path, work: Path, clips: int) -> Path:
    """The folder of the first ``clips`` test Deepfakes clips' faces, 20 a clip, extracted into ``work`` (once: a
    second run resumes, every clip done)."""
    from mesocli.api import extract

    videos = sorted((shared / "data" / "ffpp-c23" / "test" / "Deepfakes").glob("*.mp4"))[:clips]
    if not videos:
        raise SystemExit(f"error: no Deepfakes test clips in {shared}/data/ffpp-c23/test")
    extract(videos, work, frames=20, detector="hog", layout="dataset", split="test", label="df/Deepfakes",
            quiet=True)
    return work / "test" / "df" / "Deepfakes"


def picked(faces: Path, clips: int, picks: int) -> list[Path]:
    """``picks`` faces of each of the first ``clips`` clips in ``faces``, evenly spread in frame order (all: 0)."""
    by_clip: dict[str, list[tuple[int, Path]]] = {}
    for path in faces.glob("*.jpg"):
        match = re.fullmatch(r"(.+)_(\d+)", path.stem)
        if match:
            by_clip.setdefault(match.group(1), []).append((int(match.group(2)), path))
    chosen = []
    for clip in sorted(by_clip)[:clips]:
        frames = [path for _, path in sorted(by_clip[clip])]
        at = range(len(frames)) if not picks else np.linspace(0, len(frames) - 1, picks).round().astype(int)
        chosen += [frames[i] for i in dict.fromkeys(at)]
    return chosen


def inner_shares(arch: str, paths: list[Path]) -> list[float]:
    """The share of ``arch``'s bundled df map for *fake* inside the inner face, per face (none for an empty map)."""
    from mesocli.explain import gradcam_for
    from mesocli.preprocess import load_face
    from mesocli.runtime import resolve
    from mesocli.weights import resize_of

    loaded = resolve(arch, "df", None, "onnx")
    faces = np.stack([load_face(path, resize=resize_of(loaded)) for path in paths])
    shares = []
    for explanation in gradcam_for(loaded).explain(faces, target="fake"):
        total = float(explanation.heat.sum())
        if total > 0:
            shares.append(float(explanation.heat[INNER].sum()) / total)
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--work", type=Path, default=Path("build/explain_share"))
    parser.add_argument("--faces", type=Path, help="faces already extracted (DIR/<clip>_<frame>.jpg)")
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--picks", type=int, default=4, help="faces a clip, evenly spread (0: all)")
    args = parser.parse_args()
    faces = args.faces or extracted(args.shared, args.work, args.clips)
    paths = picked(faces, args.clips, args.picks)
    if not paths:  # a wrong or empty --faces folder
        raise SystemExit(f"error: no faces named <clip>_<frame>.jpg in {faces}")
    clips = sorted({path.stem.rsplit("_", 1)[0] for path in paths})
    print(f"{len(paths)} faces of {len(clips)} clips ({clips[0]} to {clips[-1]}) in {faces}")
    for arch in DETECTORS:
        shares = inner_shares(arch, paths)
        low, median, high = statistics.quantiles(shares, n=4)
        empty = len(paths) - len(shares)
        print(f"{arch}_df: inner-face share median {median:.2f} (quartiles {low:.2f}–{high:.2f}) of {len(shares)} "
              f"maps" + (f"; {empty} empty maps left out" if empty else ""))


if __name__ == "__main__":
    main()
