"""Training data from several dataset roots: which files, how they are balanced, what is held out.

A *source* is one dataset root (and split), optionally narrowed to some method sub-folders and to
every k-th video frame. Sources are combined by **loss weights**: each source gets a share of the
total loss proportional to its ``weight`` (default: equal shares), and inside a source each class
gets half of that share (with class balancing on), whatever the file counts. The held-out part for
model selection is drawn per source by **identity group** (:func:`mesocli.datasets.identity_groups`)
where the file names carry video ids, so no person and no video is on both sides; a source without
ids (plain numbered files) falls back to a stratified draw of single files, or, with ``runs`` N (for
frames stored in video order), to a per-class draw of runs of N consecutive files. A source marked
``"heldout": false`` (synthetic or auxiliary data) is trained on whole and takes no part in selection.
Across sources, a training file that shares a video id token (a person) with any held-out file is
dropped from training (:func:`drop_shared_identities`), so two sources cut from the same videos
cannot leak a held-out person into training.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.datasets import FolderDataset, find_dataset, frame_number, identities, identity_groups
from mesocli.errors import UsageError, short_repr


@dataclass
class Source:
    """One dataset root in a training mix (see the module doc)."""

    root: str
    split: str | None = "train"
    methods: list[str] | None = None
    every: int = 1
    weight: float = 1.0
    heldout: bool = True  # False: train on every file; nothing held out, so it never selects the epoch
    runs: int = 0  # files without video ids are held out in runs of this many consecutive files (0: one by one)

    def check(self) -> None:
        """Raise UsageError naming the source and the key whose value is out of range or of the wrong type (a
        mixing file is JSON: ``"2"``, ``null`` or ``"no"`` are refused, not compared, joined or taken as true);
        ``every`` and ``runs`` given as whole floats (``2.0``, as JSON generators write them) become ints."""
        def whole(value: Any) -> bool:
            return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)

        for key in ("every", "runs"):
            value = getattr(self, key)
            if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
                setattr(self, key, int(value))
        weight = self.weight
        methods = self.methods
        problems = [
            (self.split is None or isinstance(self.split, str), "split must be a folder name (text) or null"),
            (methods is None or (isinstance(methods, list | tuple) and all(isinstance(name, str) for name in methods)),
             "methods must be a list of method folder names"),
            (whole(self.every) and self.every >= 1, "every must be a whole number of 1 or more"),
            (isinstance(weight, numbers.Real) and not isinstance(weight, bool | np.bool_) and math.isfinite(weight)
             and weight > 0, "weight must be a finite number above 0"),
            (isinstance(self.heldout, bool | np.bool_), "heldout must be true or false"),
            (whole(self.runs) and self.runs >= 0, "runs must be 0 (single files) or more"),
        ]
        for ok, wanted in problems:
            if not ok:
                key = wanted.split()[0]
                raise UsageError(f"source {self.root}: {wanted}, not {short_repr(getattr(self, key))}")
        if methods is not None and not methods:
            raise UsageError(f"source {self.root}: methods is empty (omit it to keep every method)")


def read_mix(path: Path) -> list[Source]:
    """Sources from a mixing file: ``{"sources": [{"root": ..., "split": ..., "methods": [...], ...}]}``.

    Relative roots are taken relative to the mixing file's folder.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = raw["sources"]
        sources = []
        for entry in entries:
            source = Source(**entry)
            if not Path(source.root).is_absolute():
                source.root = str(Path(path).parent / source.root)
            sources.append(source)
    except FileNotFoundError:
        raise UsageError(f"mixing file not found: {path}") from None
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{path}: not a mixing file ({type(exc).__name__}: {exc}); see docs/training.md") from None
    if not sources:
        raise UsageError(f"{path}: no sources")
    for source in sources:  # before TensorFlow loads, naming the file
        try:
            source.check()
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None
    return sources


@dataclass
class TrainingData:
    """Every usable file of every source, with its label, source number and identity group."""

    sources: list[Source]
    datasets: list[FolderDataset]
    combined: FolderDataset
    source_index: np.ndarray
    groups: np.ndarray
    ignored: list[Path] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return self.combined.labels

    @property
    def tracks(self) -> np.ndarray:
        """Per file: whether it is of an ``extract --all-faces`` source (:func:`identity_tokens`)."""
        return np.array([self.datasets[number].tracks for number in self.source_index], dtype=bool)

    def describe(self, extracts: list[dict[str, Any] | None] | None = None) -> list[dict[str, Any]]:
        """What the model card records: each source's settings, file count, class counts, file-list hash and
        ``extract``: how its crops were made, eval's ``data.extract`` (:func:`mesocli.datasets.extract_record`;
        None for crops without extract's manifest). ``extracts``: those records as a run read them when it
        started (``TrainConfig.source_extracts``), else as read now."""
        made = [dataset.extract for dataset in self.datasets] if extracts is None else extracts
        return [{**entry, "extract": record} for entry, record in zip(self._listed(), made, strict=True)]

    def _listed(self) -> list[dict[str, Any]]:
        """:meth:`describe` without ``extract``: the settings and files :meth:`sha256` hashes."""
        return [
            {**asdict(source), "root": str(source.root), "files": len(dataset.paths), "counts": dataset.counts,
             "file_list_sha256": dataset.file_list_sha256()}
            for source, dataset in zip(self.sources, self.datasets, strict=True)
        ]

    def sha256(self) -> str:
        """One hash over every source's file-list hash and settings (not ``extract``: the same files give the
        hash they gave before the card recorded it; ``content_sha256`` holds their bytes)."""
        return hashlib.sha256(json.dumps(self._listed(), sort_keys=True).encode()).hexdigest()


def _select(dataset: FolderDataset, source: Source) -> FolderDataset:
    keep = []
    for index, path in enumerate(dataset.paths):
        if source.methods is not None and dataset.methods[index] not in source.methods:
            continue
        if source.every > 1:
            frame = frame_number(path)
            if frame is not None and frame % source.every:
                continue
        keep.append(index)
    return dataset.subset(np.asarray(keep, dtype=np.int64))


def load_sources(sources: list[Source]) -> TrainingData:
    """List the files of every source; UsageError if a source is unusable or a class is missing overall."""
    datasets, parts_source, ignored = [], [], []
    for number, source in enumerate(sources):
        source.check()
        listed = find_dataset(Path(source.root), source.split)
        dataset = _select(listed, source)
        if not len(dataset.paths):
            raise UsageError(f"source {source.root}: no files left after methods={source.methods} every={source.every}")
        datasets.append(dataset)
        ignored.extend(listed.ignored)
        parts_source.append(np.full(len(dataset.paths), number, dtype=np.int64))
    paths = [path for dataset in datasets for path in dataset.paths]
    labels = np.concatenate([dataset.labels for dataset in datasets])
    methods = [method for dataset in datasets for method in dataset.methods]
    root = Path(sources[0].root) if len(sources) == 1 else Path(".")
    split = sources[0].split if len(sources) == 1 else None
    combined = FolderDataset(root, split, paths, labels, methods=methods)
    missing = [name for name, count in combined.counts.items() if count == 0]
    if missing:
        raise UsageError(f"no images of class {' and '.join(missing)} in any source; both df and real are needed")
    data = TrainingData(sources, datasets, combined, np.concatenate(parts_source), np.empty(0, dtype=np.int64),
                        ignored)
    data.groups = source_groups(data)
    return data


def source_groups(data: TrainingData, celeb_df: bool = True) -> np.ndarray:
    """Per file of ``data``, its identity group (:func:`mesocli.datasets.identity_groups`), numbered apart per
    source; ``celeb_df=False``: as older versions grouped Celeb-DF names (by their video number too)."""
    parts, offset = [], 0
    for source, dataset in zip(data.sources, data.datasets, strict=True):
        groups = identity_groups(dataset.paths, source.runs, dataset.tracks, celeb_df) + offset
        offset = int(groups.max()) + 1
        parts.append(groups)
    return np.concatenate(parts)


def split_heldout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, held-out) index arrays, drawn with a fixed seed."""
    rng = np.random.default_rng(seed)
    train, heldout = [], []
    for label in (0, 1):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        cut = int(round(len(members) * fraction))
        heldout.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(heldout))


def split_by_groups(
    labels: np.ndarray, source_index: np.ndarray, groups: np.ndarray, fraction: float, seed: int,
    train_only: frozenset[int] = frozenset(), by_class: frozenset[int] = frozenset(),
) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices: per source, whole identity groups are held out until ``fraction`` is reached.

    Groups are visited in a seeded random order. A source whose groups are all single files (no video
    ids) gets a stratified draw of files instead, as a single-root run always did. Sources numbered in
    ``by_class`` (runs of files, each of one class) draw their groups for each class apart, ``fraction`` of
    each, with a generator of their own. Sources numbered in ``train_only`` hold nothing out.
    """
    rng = np.random.default_rng(seed)
    train_parts, held_parts = [], []
    for source in np.unique(source_index):
        members = np.flatnonzero(source_index == source)
        if int(source) in train_only:
            train_parts.append(members)
            continue
        member_groups = groups[members]
        if len(np.unique(member_groups)) == len(members):  # no ids: stratified by class, as before
            train, held = split_heldout(labels[members], fraction, seed + 1000 * int(source))
            train_parts.append(members[train])
            held_parts.append(members[held])
            continue
        is_held = np.zeros(len(members), dtype=bool)
        if int(source) in by_class:  # its own generator, like the stratified draw: other sources draw as before
            own = np.random.default_rng(seed + 1000 * int(source))
            for label in (0, 1):
                cell = labels[members] == label
                # a group of both classes (a video id shared by a fake and its original) held for the other
                # class counts towards this one's share: it was held out twice over
                drawn = _drawn_groups(member_groups[cell & ~is_held], fraction, own, of=int(cell.sum()),
                                      already=int((cell & is_held).sum()))
                is_held |= np.isin(member_groups, drawn)
        else:
            is_held = np.isin(member_groups, _drawn_groups(member_groups, fraction, rng))
        train_parts.append(members[~is_held])
        held_parts.append(members[is_held])
    held = np.concatenate(held_parts) if held_parts else np.array([], dtype=np.int64)
    return np.sort(np.concatenate(train_parts)), np.sort(held)


def _drawn_groups(member_groups: np.ndarray, fraction: float, rng: np.random.Generator, of: int | None = None,
                  already: int = 0) -> list[int]:
    """Groups taken in a random order until they hold ``fraction`` of ``member_groups``' files (of ``of`` files,
    ``already`` of them held out before)."""
    target = fraction * (len(member_groups) if of is None else of)
    drawn: list[int] = []
    count = already
    for group in rng.permutation(np.unique(member_groups)):
        if count >= target - 1e-9:
            break
        drawn.append(int(group))
        count += int(np.sum(member_groups == group))
    return drawn


def run_sources(data: TrainingData) -> frozenset[int]:
    """The sources whose held-out part is drawn class by class, in runs (``by_class`` of :func:`split_by_groups`):
    those with ``runs`` that hold files without video ids. A source whose every file names its video draws its
    identity groups as it would without ``runs``."""
    return frozenset(number for number, (source, dataset) in enumerate(zip(data.sources, data.datasets, strict=True))
                     if source.runs and any(not identity_tokens(path) for path in dataset.paths))


def identity_tokens(path: Path, tracks: bool = False, celeb_df: bool = True) -> frozenset[str]:
    """The people a frame file shows (:func:`mesocli.datasets.identities`: ``033_097_t0_12.jpg`` → {033, 097}
    in an ``extract --all-faces`` dataset, ``tracks``; {033, 097, t0} elsewhere; ``id0_id16_0003_5.jpg`` → {id0},
    or with ``celeb_df=False`` {id0, id16, 0003})."""
    return frozenset(identities(Path(path), tracks, celeb_df))


def drop_shared_identities(paths: list[Path], train: np.ndarray, held: np.ndarray, same_files: bool = True,
                           tracks: Any = None, celeb_df: bool = True) -> tuple[np.ndarray, int]:
    """``train`` without the files that share an identity token with any ``held`` file, or are a ``held`` file
    (the same file, or a link to it, listed by two sources; ``same_files=False``: kept, as older versions did),
    and how many went.

    Inside one source the identity groups already keep people apart; this catches the same person in
    two sources (say, originals in one and their Face2Face fakes in another marked ``heldout: false``),
    and the same file in two sources where its name carries no video id. ``tracks``: per file, whether it is of
    an ``extract --all-faces`` source (:attr:`TrainingData.tracks`); None: none is. ``celeb_df``: as
    :func:`identity_tokens`.
    """
    tracks = np.zeros(len(paths), dtype=bool) if tracks is None else np.asarray(tracks, dtype=bool)
    held_tokens = frozenset().union(*(identity_tokens(paths[index], tracks[index], celeb_df) for index in held))
    held_files = {os.path.realpath(paths[index]) for index in held} if same_files else set()
    if not held_files and not held_tokens:
        return train, 0
    keep = np.array([not (identity_tokens(paths[index], tracks[index], celeb_df) & held_tokens)
                     and os.path.realpath(paths[index]) not in held_files for index in train], dtype=bool)
    return train[keep], int((~keep).sum())


def sample_weights(
    labels: np.ndarray, source_index: np.ndarray, shares: np.ndarray, class_balance: bool
) -> np.ndarray:
    """Per-file loss weights: source s gets ``shares[s]`` of the loss, split evenly by class when balancing.

    Normalised to a mean of 1 over the files given, so the loss scale matches an unweighted run.
    """
    weights = np.zeros(len(labels), dtype=np.float64)
    shares = np.asarray(shares, dtype=np.float64)
    shares = shares / shares.max()  # first: weights near the float maximum would sum to infinity
    shares = shares / shares.sum()
    for source in np.unique(source_index):
        in_source = source_index == source
        present = [label for label in (0, 1) if np.any(in_source & (labels == label))]
        for label in present:
            cell = in_source & (labels == label)
            if class_balance:
                weights[cell] = shares[source] / len(present) / cell.sum()
            else:
                weights[cell] = shares[source] / in_source.sum()
    return (weights * len(labels) / weights.sum()).astype(np.float32)
