"""How alike are a clip's face crops k frames apart? Guides the frame stride of training sources.

    python scripts/frame_redundancy.py build/ffpp-faces/train [--lags 1 2 3 5 10 20]

For every video folder of an extracted dataset (files ``<video>_<frame>.jpg``), compares crops k
frames apart: SSIM of the grey images, and the correlation of their high-pass residuals (image
minus a 3x3 blur: the mesoscopic texture the networks read). Prints the mean per lag.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from skimage.metrics import structural_similarity

from mesocli.datasets import frame_number, video_id


def _load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    grey = Image.open(path).convert("L").resize((256, 256), Image.BILINEAR)
    image = np.asarray(grey, dtype=np.float64)
    residual = image - np.asarray(grey.filter(ImageFilter.BoxBlur(1)), dtype=np.float64)
    return image, residual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 2, 3, 5, 10, 20])
    parser.add_argument("--videos", type=int, default=40, help="at most this many videos (evenly picked)")
    args = parser.parse_args()
    videos: dict[str, dict[int, Path]] = defaultdict(dict)
    for path in sorted(args.root.rglob("*.jpg")):
        vid, frame = video_id(path), frame_number(path)
        if vid is not None and frame is not None:
            videos[f"{path.parent}/{vid}"][frame] = path
    names = sorted(videos)
    names = names[:: max(1, len(names) // args.videos)][: args.videos]
    ssim: dict[int, list[float]] = defaultdict(list)
    texture: dict[int, list[float]] = defaultdict(list)
    for name in names:
        frames = videos[name]
        cache = {}
        for lag in args.lags:
            for frame in sorted(frames)[:: max(1, lag)][:8]:
                if frame + lag not in frames:
                    continue
                for f in (frame, frame + lag):
                    if f not in cache:
                        cache[f] = _load(frames[f])
                (a, ra), (b, rb) = cache[frame], cache[frame + lag]
                ssim[lag].append(structural_similarity(a, b, data_range=255))
                texture[lag].append(float(np.corrcoef(ra.ravel(), rb.ravel())[0, 1]))
    print(f"{len(names)} videos of {args.root}")
    print("lag (frames) | SSIM  | texture correlation | pairs")
    for lag in args.lags:
        print(f"{lag:12d} | {np.mean(ssim[lag]):.3f} | {np.mean(texture[lag]):19.3f} | {len(ssim[lag])}")


if __name__ == "__main__":
    main()
