"""Folder datasets of face crops: ``ROOT/<split>/{df,real}/*`` (or ``ROOT/{df,real}``).

Labels follow the networks' orientation: ``real`` = 1, ``df`` (alias ``fake``) = 0. A sub-folder of a
class folder names the manipulation *method* of the files in it (``test/df/Face2Face/033_097_12.jpg``):
eval reports per method and training sources can keep only some methods. File names
``<video>_<frame>`` carry a video id; FaceForensics++ ids ``A_B`` tie the identities A and B, which
:func:`identity_groups` uses to keep a person on one side of a held-out split (the track token of
``extract --all-faces`` names, ``<video>_t<track>_<frame>``, is no person, in a dataset whose manifest says
``--all-faces``: :func:`made_with_all_faces`). Images are
decoded by a parallel ``tf.data`` pipeline through :func:`mesocli.preprocess.load_face`, the one
preprocessing shared by every command; unreadable files are reported and skipped.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from mesocli.errors import ParameterError, UsageError
from mesocli.fsutil import walk_folder
from mesocli.inputs import IMAGE_SUFFIXES
from mesocli.metrics import track_id, video_of_track
from mesocli.preprocess import DEFAULT_RESIZE, INPUT_SIZE, load_faces
from mesocli.workers import usable_cores

CLASS_ALIASES = {"df": 0, "fake": 0, "real": 1}
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)_(?P<frame>\d+)$")
_CELEB_DF = re.compile(r"id\d+(?:_id\d+)?_\d+")  # Celeb-DF: id0_0003 (person 0's 4th video), id0_id16_0003 (a fake)


DATA_VARIABLE = "MESOCLI_DATA"
"""Environment variable naming the default dataset root of :func:`open_dataset` (``mesocli eval``)."""

@dataclass
class FolderDataset:
    """The files of one split and their labels (1 = real, 0 = df); ``folders``: the class folders read;
    ``drawn``: how a part of a split was drawn (``eval --limit``, :func:`mesocli.evaluate.limit_dataset`), or None."""

    root: Path
    split: str | None
    paths: list[Path]
    labels: np.ndarray
    ignored: list[Path] = field(default_factory=list)
    methods: list[str | None] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    drawn: dict[str, Any] | None = None
    tracks: bool = False  # made by ``extract --all-faces`` (its manifest says so): names ``<video>_t<track>_<frame>``
    manifest_note: str | None = None  # why its manifest could not tell (:func:`all_faces_status`), or None
    extract: dict[str, Any] | None = None  # how extract made its crops (:func:`extract_record`), or None

    def __post_init__(self) -> None:
        if not self.methods:
            self.methods = [method_of(path, self.root, self.split) for path in self.paths]

    @property
    def counts(self) -> dict[str, int]:
        return {"df": int((self.labels == 0).sum()), "real": int((self.labels == 1).sum())}

    def file_list_sha256(self) -> str:
        """A hash of the sorted relative file list with labels: identifies the data a model saw."""
        digest = hashlib.sha256()
        for path, label in sorted(zip(self.paths, self.labels.tolist(), strict=True)):
            digest.update(f"{path.relative_to(self.root).as_posix()}\t{label}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def subset(self, indices: np.ndarray) -> FolderDataset:
        return FolderDataset(self.root, self.split, [self.paths[i] for i in indices], self.labels[indices],
                             methods=[self.methods[i] for i in indices], tracks=self.tracks,
                             manifest_note=self.manifest_note, extract=self.extract)


def method_of(path: Path, root: Path, split: str | None) -> str | None:
    """The method sub-folder of a file (``<split>/df/<method>/...``), or None for a file directly in a class folder."""
    base = Path(root) / split if split else Path(root)
    try:
        parts = Path(path).relative_to(base).parts
    except ValueError:
        return None
    return parts[1] if len(parts) > 2 else None


def frame_number(path: Path) -> int | None:
    """The frame number of a ``<video>_<frame>.<ext>`` file; None otherwise."""
    match = _VIDEO_FRAME.match(Path(path).stem)
    return int(match.group("frame")) if match else None


def identity_groups(paths: list[Path], runs: int = 0, tracks: bool = False, celeb_df: bool = True) -> np.ndarray:
    """A group number per file: files sharing a person (through their video ids) share a group.

    A video id ``033_097`` (FaceForensics++: video 033 with the face of 097) ties ids 033 and 097;
    ``033`` alone is the original. The groups are the connected components of that relation, so a
    held-out split by group never puts one person on both sides. A file without a video id is a
    group of its own, or with ``runs`` N, one of a run of N consecutive such files of its folder (in
    name order, numbers compared as numbers): for frames stored in video order under plain numbers
    (``df00012.jpg``), where a file's neighbours are frames of its video. ``tracks``: the files are of an
    ``extract --all-faces`` dataset; ``celeb_df=False``: Celeb-DF's video numbers are people, as older versions had
    it (:func:`identities`).
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    tokens_per_file: list[list[str] | None] = []
    for path in paths:
        tokens = identities(Path(path), tracks, celeb_df) or None
        tokens_per_file.append(tokens)
        for token in tokens or ():
            parent[find(token)] = find(tokens[0])
    run_of = _runs([Path(path) for path, tokens in zip(paths, tokens_per_file, strict=True) if not tokens], runs)
    roots: dict[str, int] = {}
    groups = np.empty(len(paths), dtype=np.int64)
    for index, tokens in enumerate(tokens_per_file):
        if tokens:
            key = find(tokens[0])
        elif runs:
            key = f"\0run{run_of[Path(paths[index])]}"
        else:
            key = f"\0file{index}"
        groups[index] = roots.setdefault(key, len(roots))
    return groups


def _runs(paths: list[Path], size: int) -> dict[Path, str]:
    """Each path's run of ``size`` consecutive files of its folder, in natural name order (``9`` before ``10``)."""
    if size < 1:
        return {}
    folders: dict[Path, list[Path]] = {}
    for path in paths:
        folders.setdefault(path.parent, []).append(path)
    run_of = {}
    for folder, members in folders.items():
        members.sort(key=_natural)
        for position, path in enumerate(members):
            run_of[path] = f"{folder}\0{position // size}"
    return run_of


def _natural(path: Path) -> list[str | int]:
    """A sort key of ``path``'s name with its runs of decimal digits as numbers (``df9`` before ``df10``)."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", path.name))]


def identities(path: Path, tracks: bool = False, celeb_df: bool = True) -> list[str]:
    """The people a frame file shows: its video id's ``_`` tokens (``033_097`` → 033, 097); [] without an id.

    A Celeb-DF video id (``id0_0003``: person 0's 4th video; ``id0_id16_0003``: that video with the face of person
    16 swapped in) is its video's person, ``id0``: the trailing number counts each person's videos, so it is no
    person (it tied every person's 4th video together), and the swapped-in faces tie nearly every person of
    Celeb-DF to every other (its folders were one group whatever the draw), so a fake goes with the person and
    the video it was made from. ``celeb_df=False``: every token, as older versions had it.

    With ``tracks`` (a file of an ``extract --all-faces`` dataset, :func:`made_with_all_faces`), the track
    suffix of its id (``_t0`` in ``033_097_t0_12.jpg``) is no person: the tokens are its video's, as eval
    groups them (:func:`mesocli.metrics.track_id`). Elsewhere ``t1`` is a token like any other (``take_t1``:
    take and t1). The frame number never is one; a video id without tokens is one identity.
    """
    video = video_id(Path(path))
    if not video:
        return []
    if tracks:
        video = video_of_track(track_id(video))
    if celeb_df and _CELEB_DF.fullmatch(video):
        return video.split("_")[:1]
    return [token for token in video.split("_") if token] or [video]


def made_with_all_faces(root: Path, split_folder: bool = False) -> bool:
    """Whether ``root`` is an ``extract --all-faces`` output, as its ``manifest.jsonl`` header says: its file
    names then carry each face's track (``<video>_t<track>_<frame>``), and a video's tracks make one video. A
    dataset without that manifest (copied, or made otherwise) is not: a name ending ``_t<digits>`` is its video's.
    With ``split_folder`` (``root`` holds the class folders itself), ``root`` may also be a split folder
    (``OUT_DIR/<split>``) of an ``extract --layout dataset --split`` output, whose manifest is one folder up."""
    return all_faces_status(root, split_folder)[0]


def all_faces_status(root: Path, split_folder: bool = False, split: str | None = None) -> tuple[bool, str | None]:
    """:func:`made_with_all_faces`, and when it is False because a ``manifest.jsonl`` it looked at could not be
    read or has no readable header (torn, not JSON), a note saying so (tracks then count as videos); None when
    there is no manifest at all, or a readable one. With ``split``, the manifest of ``root/<split>`` decides when
    it has one (that split folder is an extract OUT_DIR of its own: ``--layout dataset`` without ``--split``),
    else ``root``'s (:func:`extract_manifest`)."""
    header, _path, problem = extract_manifest(root, split_folder, split)
    settings = header["settings"] if header is not None else None
    if settings is not None and settings.get("all_faces") is True:
        return True, None
    return False, problem


def extract_manifest(root: Path, split_folder: bool = False,
                     split: str | None = None) -> tuple[dict[str, Any] | None, Path | None, str | None]:
    """The header of the ``manifest.jsonl`` of ``extract`` that made a dataset's crops (None without a readable
    one whose ``settings`` is an object), the file it was read from, and why a manifest that is there could not be
    read (None when it could, or when there is none). Where it looks: see :func:`all_faces_status`."""
    if split is not None:
        header, problem = _extract_header(Path(root) / split)
        if header is not None or problem is not None:
            return header, (Path(root) / split / "manifest.jsonl" if header is not None else None), problem
    header, problem = _extract_header(Path(root))
    path = Path(root) / "manifest.jsonl" if header is not None else None
    if header is None and split_folder:
        above_folder = Path(root).absolute().parent
        header, above = _extract_header(above_folder)
        header = header if header is not None and header["settings"].get("layout") == "dataset" else None
        path = above_folder / "manifest.jsonl" if header is not None else None
        problem = problem or above
    return header, path, problem


def _extract_header(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The header of ``folder/manifest.jsonl`` (None without a readable one whose ``settings`` is an object), and
    why a manifest that is there could not be read (None when it could, or when there is none). Its first line
    only: the header, never the face lines."""
    import json

    path = folder / "manifest.jsonl"
    reason = None
    try:
        with open(path, "rb") as manifest:
            line = manifest.readline()
        header = json.loads(line.decode("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as error:
        reason = error.strerror or str(error)
    except UnicodeDecodeError:
        reason = "not UTF-8"
    except ValueError:
        reason = "empty" if not line else "not JSON" if line.endswith(b"\n") else "torn: not JSON, no end of line"
    if reason is not None:
        return None, f"{path}: cannot read its header ({reason}): a video's --all-faces tracks are counted as videos"
    settings = header.get("settings") if isinstance(header, dict) else None  # another tool's manifest: no note
    return (header if isinstance(settings, dict) else None), None


EXTRACT_KEYS = ("mesocli", "mesocli_code", "ffmpeg", "libraries", "started_at", "earlier")
"""The keys of an extract header that :func:`extract_record` keeps beside its ``settings``: the software that made
the crops (``earlier``: that of earlier runs of a resumed extraction, whose crops are mixed in)."""


def extract_record(root: Path, header: dict[str, Any] | None, path: Path | None,
                   note: str | None) -> dict[str, Any] | None:
    """eval's ``data.extract``: how the crops were made, from the header of extract's manifest
    (:func:`extract_manifest`): ``{manifest, settings, mesocli, ffmpeg, libraries, started_at, earlier, note}`` (a key
    the header lacks, one of an earlier version: null), ``manifest`` relative to ``root`` where it lies under it;
    ``note``: why a manifest could not be read (the other keys then null where no other manifest was read); None
    without any manifest of extract."""
    if header is None and note is None:
        return None
    where = None
    if path is not None:
        try:
            where = path.relative_to(root).as_posix()
        except ValueError:
            where = str(path)  # a split folder's dataset: the manifest is one folder up
    record: dict[str, Any] = {"manifest": where, "settings": header["settings"] if header is not None else None}
    record.update({key: header.get(key) if header is not None else None for key in EXTRACT_KEYS})
    record["note"] = note
    return record


def video_id(path: Path) -> str | None:
    """The video a frame file belongs to, from a ``<video>_<frame>.<ext>`` name; None otherwise."""
    match = _VIDEO_FRAME.match(path.stem)
    return match.group("video") if match else None


def _refuse_unlisted(error: OSError) -> NoReturn:
    """A dataset folder that cannot be listed: a UsageError, since its images would be missing from the figures."""
    raise UsageError(f"{error.filename}: cannot list this dataset folder ({error.strerror or error}): its images "
                     "would be missing from the figures; fix its permissions or move it out of the dataset")


def _class_dirs(folder: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    if folder.is_dir():
        try:
            children = sorted(folder.iterdir())
        except OSError as error:
            _refuse_unlisted(error)
        for child in children:
            label = CLASS_ALIASES.get(child.name.lower())
            if label is not None and child.is_dir():
                found.setdefault(label, []).append(child)
    return found


def _holds_classes(folder: Path) -> bool:
    """Whether ``folder`` holds class folders (for a hint: one that cannot be listed, lost+found, does not)."""
    try:
        return bool(_class_dirs(folder))
    except UsageError:
        return False


def _split_folders(root: Path) -> list[str]:
    """The names of ``root``'s sub-folders that hold class folders (its splits), sorted."""
    return sorted(child.name for child in root.iterdir() if child.is_dir() and _holds_classes(child)
                  and child.name.lower() not in CLASS_ALIASES)


def find_dataset(root: Path, split: str | None) -> FolderDataset:
    """List a split's files; raise UsageError with where it looked if it is missing or unusable.

    ``ROOT/<split>/{df,real}`` is used when it exists; a ``ROOT`` holding ``{df,real}`` directly and no split
    folders is a single split and is used whatever ``split`` says (``FolderDataset.split`` is then None); beside
    split folders, a ``split`` that is not one of them is refused, naming them. Sub-folders
    of class folders are searched recursively, symbolic links followed (each folder once, as ``scan``
    does); one that cannot be listed is refused (UsageError), never left out.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"dataset not found: {root} is not a folder")
    folder = root / split if split else root
    class_dirs = _class_dirs(folder)
    used_split: str | None = split or None
    splits = _split_folders(root) if not class_dirs else []
    if not class_dirs and split and not folder.exists() and not splits and _class_dirs(root):
        folder, class_dirs, used_split = root, _class_dirs(root), None  # a root of faces, without split folders
    if not class_dirs:
        own = splits and _holds_classes(root)  # root's own class folders beside its splits: not where it looked
        where = f"{folder}" if folder == root or folder.exists() or own else f"{folder} or {root}"
        if splits:  # the split parameter is named as the caller knows it (--split, or split)
            raise ParameterError("no class folders (df|fake, real) in {where}; splits with them: {splits} ({split})",
                                 where=where, splits=", ".join(splits))
        raise UsageError(f"no class folders (df|fake, real) in {where}")
    paths: list[Path] = []
    labels: list[int] = []
    ignored: list[Path] = []
    for label, dirs in class_dirs.items():
        for directory in dirs:  # sorted: a reproducible file order (the held-out split draws by index)
            for dirpath, _dirnames, files in walk_folder(directory, set(), _refuse_unlisted):
                for name in files:
                    path = Path(dirpath) / name
                    if path.suffix.lower() in IMAGE_SUFFIXES:
                        paths.append(path)
                        labels.append(label)
                    else:
                        ignored.append(path)
    header, manifest, manifest_note = extract_manifest(root, split_folder=folder == root, split=used_split)
    tracks = header is not None and header["settings"].get("all_faces") is True
    manifest_note = None if tracks else manifest_note  # as all_faces_status says it
    dataset = FolderDataset(root, used_split, paths, np.asarray(labels, dtype=np.int64), ignored,
                            folders=[directory for dirs in class_dirs.values() for directory in dirs],
                            tracks=tracks, manifest_note=manifest_note,
                            extract=extract_record(root, header, manifest, manifest_note))
    missing = [name for name, count in dataset.counts.items() if count == 0]
    if missing:
        raise UsageError(f"{folder}: no images of class {' and '.join(missing)}; both df and real are needed")
    return dataset


@dataclass
class DecodedImages:
    """Decoded 256×256 uint8 faces for a dataset; ``ok`` marks files that could be read. ``images`` are resized by
    ``resize`` (crops not 256×256); ``more``: the same faces by other resizes, by name (:meth:`faces`)."""

    images: np.ndarray
    ok: np.ndarray
    errors: dict[int, str]
    resize: str = DEFAULT_RESIZE
    more: dict[str, np.ndarray] = field(default_factory=dict)

    def faces(self, resize: str) -> np.ndarray:
        """The faces resized by ``resize``; ValueError when they were not decoded that way."""
        if resize == self.resize:
            return self.images
        if resize not in self.more:
            raise ValueError(f"faces decoded with the {self.resize} resize, not {resize}")
        return self.more[resize]


@dataclass
class DecodedBatch(DecodedImages):
    """One batch of :func:`iter_decoded`: faces ``start .. start + len(ok)`` of the dataset."""

    start: int = 0


def iter_decoded(
    dataset: FolderDataset, batch_size: int = 256, progress: bool = True, desc: str = "decode",
    resizes: Sequence[str] = (DEFAULT_RESIZE,),
) -> Iterator[DecodedBatch]:
    """Decode the files in order on all cores (a thread pool: Pillow decodes without the GIL), one batch at a time.

    Files are read by :func:`mesocli.preprocess.load_faces`, each once, resized by each of ``resizes`` (the first
    gives ``images``, the others ``more``); an unreadable file gives a black face with
    ``ok`` False and its message in ``errors`` (dataset index -> message). Up to two batches ahead are
    decoded while the caller works on this one. No TensorFlow: ``eval`` runs without it.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from mesocli.progress import counter

    paths = list(dataset.paths)
    n = len(paths)

    resizes = list(dict.fromkeys(resizes)) or [DEFAULT_RESIZE]

    def _load(i: int) -> tuple[list[np.ndarray], bool, str | None]:
        try:
            return load_faces(paths[i], resizes), True, None
        except Exception as exc:  # reported per file, never fatal
            return [np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)] * len(resizes), False, str(exc)

    pending: deque[Future] = deque()
    submitted = 0
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool, counter(
        n, desc=desc, unit="img", enabled=progress, leave=False
    ) as bar:
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            each = [np.empty((size, INPUT_SIZE, INPUT_SIZE, 3), np.uint8) for _ in resizes]
            ok = np.zeros(size, dtype=bool)
            errors: dict[int, str] = {}
            for j in range(size):
                while submitted < n and len(pending) < 3 * batch_size:
                    pending.append(pool.submit(_load, submitted))
                    submitted += 1
                faces, ok[j], error = pending.popleft().result()
                for images, face in zip(each, faces, strict=True):
                    images[j] = face
                if error is not None:
                    errors[start + j] = error
            yield DecodedBatch(each[0], ok, errors, resizes[0], dict(zip(resizes[1:], each[1:], strict=True)), start)
            bar.update(size)


def decode_dataset(dataset: FolderDataset, progress: bool = True,
                   resizes: Sequence[str] = (DEFAULT_RESIZE,)) -> DecodedImages:
    """Decode every file in parallel into one uint8 array (N, 256, 256, 3) per resize of ``resizes`` (the first:
    ``images``), each file once."""
    n = len(dataset.paths)
    resizes = list(dict.fromkeys(resizes)) or [DEFAULT_RESIZE]
    each = {resize: np.empty((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8) for resize in resizes}
    ok = np.zeros(n, dtype=bool)
    errors: dict[int, str] = {}
    for batch in iter_decoded(dataset, progress=progress, resizes=resizes):
        stop = batch.start + len(batch.ok)
        for resize, images in each.items():
            images[batch.start : stop] = batch.faces(resize)
        ok[batch.start : stop] = batch.ok
        errors.update(batch.errors)
    return DecodedImages(each[resizes[0]], ok, errors, resizes[0], {r: each[r] for r in resizes[1:]})


def open_dataset(data: str | os.PathLike[str] | None, split: str | None = "validation") -> FolderDataset:
    """The :class:`mesocli.datasets.FolderDataset` at ``data`` (``ROOT/<split>/{df,real}/`` or
    ``ROOT/{df,real}/``); ``data=None`` takes the root from ``$MESOCLI_DATA``."""
    source = ""
    if data is None:
        if not os.environ.get(DATA_VARIABLE):
            raise ParameterError("no dataset: pass {data} ROOT or set " + DATA_VARIABLE)
        data, source = os.environ[DATA_VARIABLE], f" (from ${DATA_VARIABLE})"
    try:
        return find_dataset(Path(data), split or None)
    except ParameterError as exc:
        raise ParameterError(exc.template + "{source}", **exc.values, source=source) from None
    except UsageError as exc:
        raise UsageError(f"{exc}{source}") from None
