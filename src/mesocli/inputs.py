"""Command-line inputs: expand folders into files, tell videos from images by their content.

A file's kind is decided by what it holds (magic bytes, then Pillow or an ffmpeg probe), never by
its name alone: a text file named ``.mp4`` is not a video, a video named ``.dat`` is one. An animated GIF, APNG
or WebP is a video (ffmpeg decodes it; its frame delays give the frame times); a still one is an image. Inside
folders, files that neither look like media by their first bytes nor carry a media extension are
skipped without probing, so that a folder of mixed files stays quick to scan.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mesocli.errors import InputError, MesocliError, ParameterError, UsageError, short_repr
from mesocli.fsutil import check_input_file, reading, walk_folder
from mesocli.preprocess import check_image, is_animated
from mesocli.probe import NOT_LISTED
from mesocli.video import VideoInfo, probe_video

Kind = Literal["video", "image"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm"}
VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".flv",
    ".wmv", ".asf", ".3gp", ".3g2", ".ogv", ".vob", ".h264", ".264", ".h265", ".hevc", ".y4m", ".mxf",
}
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
                b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")
_VIDEO_MAGIC = (b"\x1aE\xdf\xa3", b"FLV", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"0&\xb2u\x8ef\xcf\x11",
                b"YUV4MPEG2", b"OggS", b"\x00\x00\x00\x01", b"\x06\x0e+4")
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1"}  # images Pillow cannot read
_IMAGE_BRANDS = HEIF_BRANDS | {b"avif", b"avis"}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P "}


def sniff(head: bytes) -> Kind | None:
    """The kind the first bytes of a file announce, or None when they say nothing (or say audio)."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head[4:8] == b"ftyp":  # ISO media: MP4, MOV, 3GP ... and also HEIF/AVIF images, M4A audio
        brand = head[8:12]
        return "image" if brand in _IMAGE_BRANDS else None if brand in _AUDIO_BRANDS else "video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):  # old QuickTime
        return "video"
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return "video"
    if head.startswith(_VIDEO_MAGIC) or (head[:1] == b"G" and len(head) > 188 and head[188:189] == b"G"):
        return "video"  # the last test: MPEG-TS sync bytes every 188 bytes
    return None


def audio_format(head: bytes) -> str | None:
    """The audio-only format the first bytes of a file announce (a voice message, a song: no picture to
    judge), or None. Asked only of files :func:`sniff` finds no video or image in."""
    if head[4:8] == b"ftyp" and head[8:12] in _AUDIO_BRANDS:
        return "M4A"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "AIFF"
    if head.startswith(b"fLaC"):
        return "FLAC"
    if head.startswith(b"#!AMR"):
        return "AMR"
    if head.startswith(b"ID3"):
        return "MP3"
    return None


def _audio_frame(head: bytes) -> str | None:
    """The audio format a frame header at the start announces (MP3 or AAC without a tag), or None: a weak sign (1
    random file in a few thousand has one), trusted only when ffmpeg, too, found an audio format there."""
    if len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # a frame sync (a JPEG is sniffed before)
        if head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0x0F <= 12:  # ADTS: layer 0, a sampling rate it defines
            return "AAC"
        if head[1] & 0x06 and head[2] >> 4 != 0xF and head[2] & 0x0C != 0x0C:  # MPEG audio: a valid bit and
            return "MP3"  # sampling rate
    return None


def _head(path: Path, size: int = 200) -> bytes:
    """The first bytes of a regular file (a named pipe or a device is refused, never opened)."""
    check_input_file(path)
    with reading(path), open(path, "rb") as handle:
        return handle.read(size)


def _is_text(head: bytes) -> bool:
    """Whether the first bytes of a file are printable UTF-8 text (a character may be cut at the end)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return bool(text) and all(c.isprintable() or c in "\t\r\n\f" for c in text)


def looks_like_media(path: Path) -> bool:
    """Cheap pre-filter for files found in folders: media magic bytes or a media extension. A file that
    cannot be read (permission denied) passes: it may be media, so its reader reports it."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES:
        return True
    try:
        return sniff(_head(path)) is not None
    except InputError:
        return True


def identify(path: str | Path) -> tuple[Kind, VideoInfo | None]:
    """Decide whether ``path`` holds an image or a video (with its header); raise InputError saying why neither."""
    path = Path(path)
    head = _head(path)
    if not head:
        raise InputError(f"{path}: empty file", "empty")
    kind = sniff(head)
    if kind is None and _is_text(head):
        raise InputError(f"{path}: a text file, not a video or image", "not_media")
    if kind is None and (audio := audio_format(head)):  # ffmpeg's own word was about playlists (not on its list)
        raise InputError(f"{path}: no video stream (an audio file: {audio})", "no_video_stream")
    if kind == "image":
        check_image(path)  # parses the header; the pixels are decoded when used
        if is_animated(path):
            try:
                return "video", probe_video(path)
            except InputError:  # an ffmpeg without this format's reader (animated WebP before ffmpeg 8), or one
                pass  # that cannot read this file: its first frame is scored as an image, and its note says so
        return "image", None
    if kind is None:  # nothing in the first bytes says media: ffmpeg has the last word
        try:
            return "video", probe_video(path)
        except InputError as exc:
            detail = str(exc).removeprefix(f"{path}: ")
            if (audio := _audio_frame(head)) and NOT_LISTED in detail:  # ffmpeg found a format it may not read
                raise InputError(f"{path}: no video stream (an audio file: {audio})", "no_video_stream") from None
            if detail.startswith("not a readable video (") and detail.endswith(")"):
                detail = detail[len("not a readable video (") : -1]
            raise InputError(f"{path}: not a readable video or image ({detail})", exc.kind) from None
    return "video", probe_video(path)


def probe_kind(path: str | Path) -> Kind | None:
    """``"video"``, ``"image"`` or None (neither), from the file's content; InputError if it does not exist."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file", "not_found")
    try:
        return identify(path)[0]
    except InputError:
        return None


def _examinable(path: Path) -> bool:
    """Whether a file found in a folder is one to report: a regular file, or one that cannot be examined
    (its reader says why). A named pipe, a device or a dangling link is not."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError as exc:
        return exc.errno != errno.ELOOP  # a link loop: as a dangling link


def _walk(folder: Path, seen_dirs: dict[tuple[int, int], str], hidden: dict[str, list[Path]] | None,
          skipped: list[Path] | None = None, again: Callable[[str, str], None] | None = None) -> list[Path]:
    """Files under ``folder``, recursively (:func:`mesocli.fsutil.walk_folder`): hidden files and folders
    (``.name``) are skipped and listed in ``hidden[str(folder)]``; entries that are no regular file (a dangling
    link or a link loop, a named pipe, a device) go to ``skipped``; a folder that cannot be listed is kept, so
    that it is reported as an input that failed; ``again``: as for :func:`mesocli.fsutil.walk_folder`."""
    found: list[Path] = []
    for root, dirs, files in walk_folder(folder, seen_dirs, lambda exc: found.append(Path(exc.filename)), again):
        if hidden is not None:
            hidden.setdefault(str(folder), []).extend(Path(root, name) for name in dirs + files if name.startswith("."))
        dirs[:] = [name for name in dirs if not name.startswith(".")]
        for name in files:
            if not name.startswith("."):
                if _examinable(path := Path(root, name)):
                    found.append(path)
                elif skipped is not None:
                    skipped.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


def hidden_notes(hidden: dict[str, list[Path]]) -> list[str]:
    """One note per folder whose hidden files or folders were skipped (``hidden``: from :func:`expand_inputs`)."""
    return [f"{folder}: skipped {len(entries)} hidden {'file or folder' if len(entries) == 1 else 'files or folders'}"
            " (names starting with '.'); name them as inputs to include them" for folder, entries in hidden.items()
            if entries]


def inode(path: str | Path) -> tuple[int, int] | None:
    """The (device, inode) of the file ``path`` names (through links), or None: no such file, or a file system
    that gives no inode numbers."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if info.st_ino else None


def file_identity(path: str | Path) -> tuple[int, int] | str:
    """What tells one file from another: its :func:`inode` where it has one, whatever it is named by (a symbolic
    link, a hard link, ``./`` or an absolute path, another letter case on a disk that ignores case), else its real
    path (a missing file; a file system that gives no inode numbers)."""
    return inode(path) or os.path.realpath(path)


def same_name(one: str, other: str) -> bool:
    """Whether two paths are one name but for ``./``, ``//`` or a trailing ``/`` (``find ./inbox`` lists
    ``./inbox/a.mp4``, which the folder ``./inbox`` gives as ``inbox/a.mp4``): no other name for a note."""
    return os.path.normpath(one) == os.path.normpath(other)


def alias_notes(aliases: list[tuple[str, str]], shown: int = 3, command: str = "scan", more: bool = False) -> list[str]:
    """One note for the names of files reached again under another name (``aliases``: from :func:`plan_inputs`: a
    link, or another spelling of a path), naming the first ``shown``, so that no upload is left out without a word;
    ``command``: ``scan`` (one row per file) or ``extract`` (one set of crops per file); ``more``: names past those
    already noted one by one (``N more names``)."""
    if not aliases:
        return []
    again = "more " if more else ""
    scan = command == "scan"
    done = "scanned" if scan else "extracted"
    if len(aliases) == 1:
        (alias, kept), = aliases
        if os.path.isdir(alias):
            under = "their rows are" if scan else "their crops are made"
            return [f"{alias}: the same folder as {kept} (a link, or another spelling of its path): its files {done} "
                    f"once, {under} under that name"]
        under = "its row is" if scan else "its crops are made"
        return [f"{alias}: the same file as {kept} (a link, or another spelling of its path): {done} once, {under} "
                "under that name"]
    names = "; ".join(f"{alias} is {kept}" for alias, kept in aliases[:shown])
    rest = f"; and {len(aliases) - shown} more" if len(aliases) > shown else ""
    under = "its row" if scan else "its crops made"
    return [f"{len(aliases)} {again}names of files reached again (links, or other spellings of a path): each file "
            f"{done} once, {under} under its first name: {names}{rest}"]


def skipped_notes(skipped: dict[str, list[Path]], shown: int = 3) -> list[str]:
    """One note per folder whose files were left out as neither videos nor images (``skipped``: from
    :func:`expand_inputs`), naming the first ``shown`` of them, so that no upload leaves the count unseen."""
    notes = []
    for folder, entries in skipped.items():
        if entries:
            names = ", ".join(os.path.relpath(entry, folder) for entry in sorted(entries)[:shown])
            more = f" and {len(entries) - shown} more" if len(entries) > shown else ""
            what = "file that is not a video or image" if len(entries) == 1 else "files that are not videos or images"
            notes.append(f"{folder}: skipped {len(entries)} {what} ({names}{more}); name one as an input to see why")
    return notes


def expand_inputs(paths: list[Path], missing_ok: bool = False, media_only: bool = False,
                  hidden: dict[str, list[Path]] | None = None,
                  skipped: dict[str, list[Path]] | None = None,
                  aliases: list[tuple[str, str]] | None = None) -> list[Path]:
    """Files named on the command line, folders expanded recursively (sorted), each file once.

    A path that does not exist raises UsageError, or is kept as is with ``missing_ok`` (so that
    the caller reports it with the other inputs). ``media_only`` drops files found *inside folders*
    that do not look like media (:func:`looks_like_media`); files named explicitly are always kept,
    hidden ones too. Inside folders, hidden files and folders are skipped and listed in ``hidden``
    (per folder argument), and files found inside folders but left out (not media with ``media_only``, or no
    regular file: a dangling link, a named pipe) in ``skipped``, likewise; a folder that cannot be listed is
    kept as an entry, for its reader to report. A file reached again under another name (a link to it) is
    listed in ``aliases`` as (that name, the name it is kept under): a symbolic or hard link, another spelling
    (:func:`file_identity`); so is a folder reached again (a link to a folder walked, whose files are not listed
    twice).
    """
    result: list[Path] = []
    seen_files: dict[tuple[int, int] | str, str] = {}
    seen_dirs: dict[tuple[int, int], str] = {}

    def add(path: Path) -> None:
        key = file_identity(path)
        if key not in seen_files:
            seen_files[key] = str(path)
            result.append(path)
        elif aliases is not None and not same_name(str(path), seen_files[key]):
            aliases.append((str(path), seen_files[key]))

    for path in map(Path, paths):
        if os.path.isdir(path):  # os.path: a name too long is no folder, not an OSError
            left_out = [] if skipped is None else skipped.setdefault(str(path), [])
            again = None if aliases is None else lambda root, first: aliases.append((root, first))
            for file in _walk(path, seen_dirs, hidden, left_out, again):
                if not media_only or looks_like_media(file):
                    add(file)
                else:
                    left_out.append(file)
        elif os.path.exists(path) or missing_ok:
            add(path)
        else:
            raise UsageError(f"{path}: no such file or folder")
    return result


def plan_inputs(arguments: Iterable[str | Path], hidden: dict[str, list[Path]] | None = None,
                seen: set[Any] | dict[Any, str] | None = None, skipped: dict[str, list[Path]] | None = None,
                aliases: list[tuple[str, str]] | None = None) -> list[str]:
    """The command-line inputs as one entry per result: a folder is replaced by the media files in it.

    Each entry, scanned alone by :func:`mesocli.scan.scan_inputs`, gives the very result that a scan
    of all the arguments gives for it (same path string, same status): files are named as the scan
    names them, and a folder that cannot be listed or holds no media stays itself (its ``error``
    result). Each argument is expanded on its own, as the scan does; ``hidden`` and ``skipped``: as for
    :func:`expand_inputs`.
    A file reached twice (named twice, inside two folders given, or through a symbolic or hard link: one
    :func:`file_identity`) is planned once, where it is first reached: one result per file. ``seen``: what
    earlier calls planned (arguments that arrive one by one), updated; a dict (key: the name planned) also lets
    ``aliases`` list each file reached again under another name, as (that name, the name planned), those found
    twice inside one folder too.
    """
    planned: list[str] = []
    seen = set() if seen is None else seen

    def plan(entry: str) -> None:
        key = file_identity(entry) if os.path.isfile(entry) else entry
        if key not in seen:
            if isinstance(seen, dict):
                seen[key] = entry
            else:
                seen.add(key)
            planned.append(entry)
        elif aliases is not None and isinstance(seen, dict) and not same_name(entry, seen[key]):
            aliases.append((entry, seen[key]))

    for raw in arguments:
        path = Path(raw)
        if not os.path.isdir(path):
            plan(str(raw))
            continue
        try:
            files = expand_inputs([path], media_only=True, hidden=hidden, skipped=skipped, aliases=aliases)
        except (MesocliError, OSError):
            files = []
        for entry in [str(file) for file in files] or [str(raw)]:
            plan(entry)
    return planned


@dataclass(frozen=True)
class MemoryImage:
    """A picture the caller holds in memory (a Pillow image, or an RGB uint8 array), scanned as an image file
    is; ``name`` is its result's path (``<image N>``)."""

    name: str
    image: Any

    def picture(self) -> Any:
        """The picture as a Pillow image (an array's pixels, as they are now: read when it is scanned); a Pillow
        image turned as its EXIF orientation says, as its file's would be (a copy: the caller's is left as it is)."""
        from PIL import Image, ImageOps

        if isinstance(self.image, Image.Image):
            try:
                self.image.load()
            except Exception as exc:  # Pillow reads a file's pixels when they are first needed
                if getattr(self.image, "fp", True) is None:
                    raise InputError(f"{self.name}: the Pillow image's file was closed before its pixels were read "
                                     "(Image.open(...) left by its with block: call .load() or .copy() inside it)",
                                     "decode_failed") from None
                raise InputError(f"{self.name}: the Pillow image cannot be read ({type(exc).__name__}: {exc})",
                                 "decode_failed") from None
            try:
                orientation = self.image.getexif().get(ORIENTATION, 1)
            except Exception:  # damaged EXIF: scanned as it is
                return self.image
            return ImageOps.exif_transpose(self.image) if orientation in range(2, 9) else self.image
        import numpy as np

        array = self.image[:, :, 0] if self.image.ndim == 3 and self.image.shape[2] == 1 else self.image
        return Image.fromarray(np.ascontiguousarray(array))


ORIENTATION = 0x0112
"""The EXIF tag of a picture's orientation (1: upright, 2-8: turned or mirrored)."""
ARRAY_SHAPES = "H×W (grey), H×W×3 (RGB), H×W×4 (RGBA) or N×H×W×3 (N frames)"


def scan_entries(inputs: object, parameter: str = "inputs", lazy: bool = False) -> Iterable[str | MemoryImage]:
    """``inputs`` (one path or picture, or an iterable of them) as the scan's entries: each path a ``str``, each
    Pillow image or uint8 array (:data:`ARRAY_SHAPES`; an N×H×W×C array is N pictures) a :class:`MemoryImage`
    named by its place among the entries. Refused, naming ``parameter``: no entry, or one of another type or
    shape (the pixels are read when the picture is scanned). A list of them all, checked now; with ``lazy``, an
    iterator (a generator) stays one: its first entry is checked now, each other as the scan reaches it."""
    if isinstance(inputs, str | bytes | os.PathLike) or _is_picture(inputs) or not isinstance(inputs, Iterable):
        inputs = [inputs]
    entries = _entries(iter(inputs), parameter)
    first = next(entries, None)
    if first is None:
        raise ParameterError("{" + parameter + "} is empty")
    if lazy and isinstance(inputs, Iterator):
        return itertools.chain([first], entries)
    return [first, *entries]


def _entries(items: Iterator[object], parameter: str) -> Iterator[str | MemoryImage]:
    """:func:`scan_entries`' entries, each item checked as it is taken."""
    number = 0
    for item in items:
        if isinstance(item, str | os.PathLike):
            number += 1
            yield os.fspath(item)
        elif _is_picture(item):
            for picture in _pictures(item, parameter):
                number += 1
                yield MemoryImage(f"<image {number - 1}>", picture)
        else:
            raise ParameterError("{" + parameter + "} must be a path or paths (str or os.PathLike) or pictures (Pillow "
                                 "images, uint8 NumPy arrays), not {value}", value=short_repr(item))


def _is_picture(item: object) -> bool:
    """Whether ``item`` is a Pillow image or a NumPy array (the pictures a scan takes in memory)."""
    import numpy as np
    from PIL import Image

    return isinstance(item, Image.Image | np.ndarray)


def _pictures(item: object, parameter: str) -> list[Any]:
    """The pictures of one in-memory item (a Pillow image, an array: one, or N frames), checked."""
    import numpy as np

    if not isinstance(item, np.ndarray):
        return [item]  # a Pillow image
    shape = "×".join(map(str, item.shape)) or "0-D"
    if item.dtype != np.uint8:
        raise ParameterError("{" + parameter + "}: an image array must be uint8 (0-255), not {dtype} ({shape})",
                             dtype=str(item.dtype), shape=shape)
    if item.ndim not in (2, 3, 4) or (item.ndim > 2 and item.shape[-1] not in (1, 3, 4)) or 0 in item.shape:
        raise ParameterError("{" + parameter + "}: an image array is " + ARRAY_SHAPES + ", not {shape}",
                             shape=shape if item.ndim else "a single number (an array of 0 dimensions)")
    return list(item) if item.ndim == 4 else [item]
