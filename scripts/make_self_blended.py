"""Self-blended fakes: each real face blended into a slightly altered copy of itself.

Usage (from the repository root)::

    .venv/bin/python scripts/make_self_blended.py ../shared/data/mesonet-df build/sbi --split train

Writes ``OUT/<split>/real/<name>_0.jpg`` (the real face, re-saved) and ``OUT/<split>/df/<name>_0.jpg``
(its self-blend), both at the same random JPEG quality, so that compression alone tells them apart
no more than it tells any real face from a fake. A pair shares its video id (``<name>``), so a
held-out part drawn by identity keeps a real face and its blend on the same side.

The blend follows the idea of self-blended images (Shiohara and Yamasaki, CVPR 2022): the inner face
(the outline of the jaw and eyebrow landmarks, found with dlib's 68-point model on the aligned
crop) of a colour-, sharpness- and geometry-jittered copy is pasted back over the original through a
soft mask of random size and softness. What is left to see is what face swaps leave: a blending
boundary and a colour or sharpness mismatch, with no identity change to learn from.

With ``--other-person`` the pasted inner face is another person's instead (after the blended images of
Face X-ray, Li et al., CVPR 2020): a real face of a video whose people differ, mapped onto this face's
landmarks by a least-squares affine warp and matched to its colours inside the mask, then jittered
as above. That adds what face swaps change, the identity, to the seam. The pair is named
``<video>_<other video>_<frame>`` so that both people's ids stay in the name: a held-out part drawn
by identity keeps either person's faces out of training.

Resumable: pairs already written are skipped; each file is written to a temporary name, then renamed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dlib
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter
from tqdm import tqdm

from mesocli.datasets import find_dataset, frame_number, video_id
from mesocli.faces import models_dir
from mesocli.fsutil import atomic_path
from mesocli.sources import identity_tokens

SIZE = 256
OUTLINE = [*range(0, 17), *range(26, 16, -1)]  # jaw line (0-16), then the eyebrows back (26-17)


def landmarks(detector, predictor, image: np.ndarray):  # noqa: ANN001 (dlib objects)
    """68 landmarks of the largest face dlib's HOG detector finds in the crop; None when it finds none."""
    boxes = detector(image, 1)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.width() * b.height())
    shape = predictor(image, dlib.rectangle(box.left(), box.top(), box.right(), box.bottom()))
    return np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)


def blend_mask(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A soft mask over the inner face: its outline, grown or shrunk at random, blurred at random, maybe faded."""
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in points[OUTLINE]], fill=255)
    grow = mask.filter(ImageFilter.GaussianBlur(rng.uniform(2, 10)))
    cut = rng.uniform(0.15, 0.85) * 255  # below 0.5 grows the outline, above shrinks it
    mask = Image.fromarray(np.where(np.asarray(grow) >= cut, 255, 0).astype(np.uint8))
    mask = mask.filter(ImageFilter.GaussianBlur(rng.uniform(2, 12)))
    values = np.asarray(mask, dtype=np.float32) / 255.0
    if rng.random() < 0.3:
        values *= rng.uniform(0.5, 1.0)
    return values[..., None]


def altered_copy(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The blend source: the same face, its colour, sharpness and position slightly changed."""
    out = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
    out = ImageEnhance.Brightness(out).enhance(rng.uniform(0.9, 1.1))
    out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.9, 1.1))
    gains = rng.uniform(0.94, 1.06, size=3)
    out = Image.fromarray(np.clip(np.asarray(out, dtype=np.float32) * gains, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.5)))
    else:
        out = ImageEnhance.Sharpness(out).enhance(rng.uniform(1.3, 2.5))
    scale = rng.uniform(0.95, 1.05)
    dx, dy = rng.uniform(-4, 4, size=2)
    # inverse affine map: output (x, y) reads input ((x - c) / scale + c - dx, ...)
    c = SIZE / 2
    coeffs = (1 / scale, 0, c - c / scale - dx, 0, 1 / scale, c - c / scale - dy)
    return out.transform((SIZE, SIZE), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)


def warped_onto(other: Image.Image, other_points: np.ndarray, points: np.ndarray) -> Image.Image:
    """``other`` warped so that its landmarks land on ``points`` (least-squares affine map)."""
    design = np.hstack([points, np.ones((len(points), 1))])
    inverse, *_ = np.linalg.lstsq(design, other_points, rcond=None)  # output (x, y, 1) -> input (x, y)
    coeffs = (*inverse[:, 0], *inverse[:, 1])
    return other.transform((SIZE, SIZE), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)


def colour_matched(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with each channel's mean and spread inside ``mask`` moved to ``target``'s there."""
    inside = mask[..., 0] > 0.5
    if inside.sum() < 16:
        return source
    src, tgt = source[inside], target[inside]
    scale = tgt.std(axis=0) / np.maximum(src.std(axis=0), 1.0)
    return np.clip((source - src.mean(axis=0)) * scale + tgt.mean(axis=0), 0, 255)


def pair_name(path: Path, other: Path | None) -> str:
    """The pair's file name: ``<stem>_0.jpg``, or with another person ``<video>_<other video>_<frame>.jpg``."""
    if other is None:
        return f"{path.stem}_0.jpg"
    video, frame = video_id(path) or path.stem, frame_number(path) or 0
    return f"{video}_{video_id(other) or other.stem}_{frame}.jpg"


def save_jpeg(image: Image.Image, target: Path, quality: int) -> None:
    with atomic_path(target) as tmp:
        image.save(tmp, format="JPEG", quality=quality)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="dataset root whose real faces are blended")
    parser.add_argument("out", type=Path, help="output dataset root")
    parser.add_argument("--split", default="train")
    parser.add_argument("--every", type=int, default=1, help="use every N-th real face (sorted by name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--other-person", action="store_true",
                        help="paste another person's inner face (from a video of other people), not the face's own")
    args = parser.parse_args()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models_dir() / "shape_predictor_68_face_landmarks.dat"))
    dataset = find_dataset(args.source, args.split)
    reals = [path for path, label in zip(dataset.paths, dataset.labels, strict=True) if label == 1][:: args.every]
    folders = {name: args.out / args.split / name for name in ("real", "df")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    people = [identity_tokens(Path(path), dataset.tracks) or frozenset([Path(path).stem]) for path in reals]
    cache: dict[Path, tuple[Image.Image, np.ndarray | None]] = {}  # faces read once when they are partners too

    def face(path: Path) -> tuple[Image.Image, np.ndarray | None]:
        if path in cache:
            return cache[path]
        with Image.open(path) as opened:
            image = opened.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
        found = image, landmarks(detector, predictor, np.asarray(image))
        if args.other_person:
            cache[path] = found
        return found

    written = skipped_done = no_face = 0
    for index, path in enumerate(tqdm(reals, desc="self-blending", unit="face")):
        rng = np.random.default_rng([args.seed, index])
        other = None
        if args.other_person:
            others = [reals[i] for i in range(len(reals)) if not people[i] & people[index]]
            if not others:
                raise SystemExit(f"no real face of another person to blend into {path}")
            other = Path(others[int(rng.integers(len(others)))])
        name = pair_name(Path(path), other)
        if all((folder / name).is_file() for folder in folders.values()):
            skipped_done += 1
            continue
        image, points = face(Path(path))
        other_image, other_points = face(other) if other is not None else (None, None)
        if points is None or (other is not None and other_points is None):
            no_face += 1
            continue
        mask = blend_mask(points, rng)
        target = np.asarray(image, dtype=np.float32)
        if other is None:
            source = np.asarray(altered_copy(image, rng), dtype=np.float32)
        else:
            warped = np.asarray(warped_onto(other_image, other_points, points), dtype=np.float32)
            matched = Image.fromarray(colour_matched(warped, target, mask).astype(np.uint8))
            source = np.asarray(altered_copy(matched, rng), dtype=np.float32)
        fake = Image.fromarray(np.clip(source * mask + target * (1 - mask) + 0.5, 0, 255).astype(np.uint8))
        quality = int(rng.integers(75, 96))
        save_jpeg(image, folders["real"] / name, quality)
        save_jpeg(fake, folders["df"] / name, quality)
        written += 1
    print(f"{written} pairs written, {skipped_done} already there, {no_face} real faces without a detected face "
          f"(skipped), of {len(reals)}")


if __name__ == "__main__":
    main()
