"""Folder datasets of face crops: ``ROOT/<split>/{df,real}/*`` (or ``ROOT/{df,real}``).

Labels follow the networks' orientation: ``real`` = 1, ``df`` (alias ``fake``) = 0. Images are
decoded by a parallel ``tf.data`` pipeline through :func:`mesocli.preprocess.load_face`, the one
preprocessing shared by every command; unreadable files are reported and skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mesocli.errors import UsageError
from mesocli.preprocess import INPUT_SIZE, load_face

CLASS_ALIASES = {"df": 0, "fake": 0, "real": 1}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)_(?P<frame>\d+)$")


@dataclass
class FolderDataset:
    """The files of one split and their labels (1 = real, 0 = df)."""

    root: Path
    split: str | None
    paths: list[Path]
    labels: np.ndarray
    ignored: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {"df": int((self.labels == 0).sum()), "real": int((self.labels == 1).sum())}

    def file_list_sha256(self) -> str:
        """A hash of the sorted relative file list with labels: identifies the data a model saw."""
        digest = hashlib.sha256()
        for path, label in sorted(zip(self.paths, self.labels.tolist(), strict=True)):
            digest.update(f"{path.relative_to(self.root).as_posix()}\t{label}\n".encode())
        return digest.hexdigest()

    def subset(self, indices: np.ndarray) -> FolderDataset:
        return FolderDataset(self.root, self.split, [self.paths[i] for i in indices], self.labels[indices])


def video_id(path: Path) -> str | None:
    """The video a frame file belongs to, from a ``<video>_<frame>.<ext>`` name; None otherwise."""
    match = _VIDEO_FRAME.match(path.stem)
    return match.group("video") if match else None


def _class_dirs(folder: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            label = CLASS_ALIASES.get(child.name.lower())
            if label is not None and child.is_dir():
                found.setdefault(label, []).append(child)
    return found


def find_dataset(root: Path, split: str | None) -> FolderDataset:
    """List a split's files; raise UsageError with where it looked if it is missing or unusable."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"dataset not found: {root} is not a folder")
    folder = root / split if split else root
    class_dirs = _class_dirs(folder)
    used_split: str | None = split
    if not class_dirs and split and _class_dirs(root):
        raise UsageError(f"{root} has no split '{split}' ({root}/{split}/{{df,real}}); it holds df/real directly: omit --split")
    if not class_dirs:
        raise UsageError(f"no class folders (df|fake, real) in {folder}")
    paths: list[Path] = []
    labels: list[int] = []
    ignored: list[Path] = []
    for label, dirs in class_dirs.items():
        for directory in dirs:
            for dirpath, _, files in os.walk(directory, followlinks=False):
                for name in sorted(files):
                    path = Path(dirpath) / name
                    if path.suffix.lower() in IMAGE_SUFFIXES:
                        paths.append(path)
                        labels.append(label)
                    else:
                        ignored.append(path)
    dataset = FolderDataset(root, used_split, paths, np.asarray(labels, dtype=np.int64), ignored)
    missing = [name for name, count in dataset.counts.items() if count == 0]
    if missing:
        raise UsageError(f"{folder}: no images of class {' and '.join(missing)}; both df and real are needed")
    return dataset


@dataclass
class DecodedImages:
    """Decoded 256×256 uint8 faces for a dataset; ``ok`` marks files that could be read."""

    images: np.ndarray
    ok: np.ndarray
    errors: dict[int, str]


def decode_dataset(dataset: FolderDataset, progress: bool = True) -> DecodedImages:
    """Decode every file in parallel with tf.data into one uint8 array (N, 256, 256, 3)."""
    from mesocli._tf import import_tensorflow  # noqa: PLC0415

    tf = import_tensorflow()
    errors: dict[int, str] = {}

    def _load(index: np.ndarray) -> tuple[np.ndarray, np.bool_]:
        i = int(index)
        try:
            return load_face(dataset.paths[i]), np.bool_(True)
        except Exception as exc:  # noqa: BLE001  (reported per file, never fatal)
            errors[i] = str(exc)
            return np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8), np.bool_(False)

    n = len(dataset.paths)
    pipeline = (
        tf.data.Dataset.range(n)
        .map(
            lambda i: tf.numpy_function(_load, [i], [tf.uint8, tf.bool], stateful=False),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .batch(256)
        .prefetch(2)
    )
    images = np.empty((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    ok = np.zeros(n, dtype=bool)
    from tqdm import tqdm  # noqa: PLC0415

    with tqdm(total=n, desc="decode", unit="img", disable=not progress, leave=False) as bar:
        start = 0
        for batch_images, batch_ok in pipeline:
            size = int(batch_ok.shape[0])
            images[start : start + size] = batch_images.numpy()
            ok[start : start + size] = batch_ok.numpy()
            start += size
            bar.update(size)
    return DecodedImages(images, ok, errors)
