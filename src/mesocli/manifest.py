"""The output folder of ``extract``: its lock, its manifest, the names of what it holds.

``OUT_DIR/manifest.jsonl`` is the record of an extraction: a header line (the settings), then for
each finished input its face lines followed by its input line, appended in one write. An input is
complete when its input line says ``ok`` or ``no_face``; a re-run skips it. Whatever a killed run
left behind is cleaned up by the next one: a torn last line or face lines without their input line
are dropped (the input is redone), temporary ``.*.part`` files are deleted. The lock file names the
inputs a run has started (:class:`Journal`), so that the crops of those it did not finish can be found.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mesocli.fsutil import atomic_write_text, holding_lock, output_errors

MANIFEST = "manifest.jsonl"
LOCK = ".mesocli-extract.lock"
MANIFEST_VERSION = 1
COMPLETE = ("ok", "no_face")
# fsutil.atomic_path's temporary files: ".NAME." + mkstemp's 8 characters (+ a suffix) + ".part"
_TEMP = re.compile(r"^\..+\.[a-z0-9_]{8}(\.[^/]*)?\.part$")
_NAME_BYTES = 120


@dataclass
class Journal:
    """The lock file: the pid of the run that holds it, then one JSON line per input the run has started.

    ``started`` is what the previous run left there: the inputs it started and did not see through
    (a killed run cannot clear its list), whose crops the manifest may not list. The file's mtime
    (:attr:`since`) is when the list was written: no crop of those inputs is older.
    """

    path: Path
    fd: int
    started: list[dict] = field(default_factory=list)

    def record(self, started: list[dict]) -> None:
        """Replace the list of started inputs (written before their first crop; ``[]`` once they are done)."""
        data = (f"{os.getpid()}\n" + "".join(dumps(line) for line in started)).encode()
        with output_errors(self.path):
            done = 0
            while done < len(data):
                done += os.pwrite(self.fd, data[done:], done)
            os.ftruncate(self.fd, len(data))

    @property
    def since(self) -> int:
        return os.fstat(self.fd).st_mtime_ns


def _journal_lines(data: bytes) -> list[dict]:
    lines = []
    for raw in data.split(b"\n")[1:-1]:  # after the pid; after the last newline: a torn line
        with contextlib.suppress(ValueError):
            line = json.loads(raw)
            if isinstance(line, dict):
                lines.append(line)
    return lines


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[Journal]:
    """Hold an exclusive lock on ``out_dir`` (fcntl): a second extract into it is refused, not mixed in."""
    path = out_dir / LOCK
    refusal = f"{out_dir} is in use by another 'mesocli extract'{{who}}: wait for it to end, or use another OUT_DIR"
    with holding_lock(path, refusal) as fd:
        stat = os.fstat(fd)
        journal = Journal(path, fd, _journal_lines(os.pread(fd, stat.st_size, 0)))
        journal.record(journal.started)  # our pid; the list, and its time, stay until its crops are deleted
        with contextlib.suppress(OSError):  # not the owner: the list's crops will be kept, not deleted
            os.utime(fd, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        yield journal


def remove_temporaries(out_dir: Path) -> int:
    """Delete the temporary files (``.name.xxxx.part``) an interrupted run left; return how many."""
    removed = 0
    for root, _dirs, files in os.walk(out_dir):
        for name in files:
            if _TEMP.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def foreign_content(out_dir: Path) -> list[str]:
    """Entries of ``out_dir`` that are not mesocli's lock or temporary files."""
    return sorted(name for name in os.listdir(out_dir) if name != LOCK and not _TEMP.match(name))


def safe_name(stem: str) -> str:
    """A file-name-safe version of an input's stem: letters, digits, ``._-``; no leading dot; bounded."""
    name = re.sub(r"[^\w.-]+", "_", stem).strip("._-") or "input"
    while len(name.encode("utf-8")) > _NAME_BYTES:
        name = name[:-1]
    return name


def key_of(line: dict) -> tuple[str, str | None, str | None]:
    """What identifies one input's extraction: the resolved file, and its dataset label and split."""
    return line.get("path", ""), line.get("label"), line.get("split")


def _owner(line: dict) -> tuple:
    """The input a manifest line belongs to: its output name is unique within its label and split."""
    return line.get("name", ""), line.get("label"), line.get("split")


@dataclass
class Manifest:
    """The parsed manifest: its header, and per input the lines of its latest extraction.

    ``entries`` maps an input's key (:func:`key_of`) to its face lines followed by its input line.
    ``ours`` is False when the file exists but is not a mesocli manifest.
    """

    path: Path
    header: dict | None = None
    entries: dict[tuple, list[dict]] = field(default_factory=dict)
    raw: bytes = b""
    ours: bool = True
    earlier: dict | None = None  # on a resume, the header the file had (extract keeps its software, see there)

    @classmethod
    def read(cls, out_dir: Path) -> Manifest:
        """Parse ``OUT_DIR/manifest.jsonl``; torn or unparsable lines and unfinished inputs are left out."""
        manifest = cls(out_dir / MANIFEST)
        try:
            manifest.raw = manifest.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return manifest
        pending: dict[tuple, list[dict]] = {}
        for number, raw in enumerate(manifest.raw.split(b"\n")[:-1]):  # after the last newline: a torn line
            try:
                line = json.loads(raw)
            except ValueError:
                line = None
            if number == 0:
                manifest.header = line if isinstance(line, dict) and line.get("type") == "header" else None
                manifest.ours = manifest.header is not None
                if not manifest.ours:
                    return manifest
            elif isinstance(line, dict) and line.get("type") == "face":
                pending.setdefault(_owner(line), []).append(line)
            elif isinstance(line, dict) and line.get("type") == "input":
                manifest.entries[key_of(line)] = [*pending.pop(_owner(line), []), line]
        return manifest

    def is_complete(self, key: tuple) -> bool:
        return key in self.entries and self.entries[key][-1].get("status") in COMPLETE

    def text(self) -> str:
        lines = [self.header, *(line for group in self.entries.values() for line in group)]
        return "".join(dumps(line) for line in lines if line is not None)

    def save(self) -> None:
        """Rewrite the file (atomically) if what it holds differs from the parsed content."""
        text = self.text()
        if text.encode() != self.raw:
            atomic_write_text(self.path, text)
            self.raw = text.encode()


def dumps(line: dict) -> str:
    """One manifest line. A file name that is not UTF-8 (undecodable bytes kept as lone surrogates)
    is written with JSON escapes (``\\udce9``), which read back to the very same name."""
    text = json.dumps(line, ensure_ascii=False, separators=(", ", ": ")) + "\n"
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


class Appender:
    """Appends whole blocks of lines to the manifest, each block in one ``write`` (O_APPEND)."""

    def __init__(self, path: Path):
        self.path = path
        with output_errors(path):
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, lines: list[dict]) -> None:
        """Append ``lines``; a failed write (disk full) leaves at most a torn last block, dropped on reading."""
        data = "".join(dumps(line) for line in lines).encode()
        view = memoryview(data)
        with output_errors(self.path):
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        """Sync and close the file; once (a second call does nothing)."""
        if self._fd < 0:
            return
        fd, self._fd = self._fd, -1
        try:
            with output_errors(self.path):
                os.fsync(fd)
        finally:
            os.close(fd)


def name_key(name: str) -> str:
    """What two names must not share to be two files everywhere: their case (NTFS, APFS, SMB shares) and their
    Unicode normalisation (APFS, HFS+: NFC ``é`` and NFD ``e`` + accent are one name, and look the same)."""
    return unicodedata.normalize("NFC", name).lower()


def reserved_names(layout: str) -> set[str]:
    """The keys (:func:`name_key`) of the names no input may have: in the ``video`` layout an input's folder
    is ``OUT_DIR/<name>/``, beside the manifest and the lock file."""
    return {name_key(MANIFEST), name_key(LOCK)} if layout == "video" else set()


def unique_name(stem: str, path: str, taken: set[str]) -> str:
    """A name for an input's outputs that no other input uses (:func:`name_key`: whatever the case or the
    Unicode normalisation); adds its key to ``taken``.

    An input whose stem is free keeps it; otherwise a short hash of its path (its bytes on disk: also a name
    that is not UTF-8) makes it unique, so the name does not depend on the order the inputs come in.
    """
    base = safe_name(stem)
    name, counter = base, 1
    if name_key(name) in taken:
        name = f"{base}-{hashlib.sha1(os.fsencode(path)).hexdigest()[:6]}"
    while name_key(name) in taken:
        counter += 1
        name = f"{base}-{hashlib.sha1(os.fsencode(path)).hexdigest()[:6]}-{counter}"
    taken.add(name_key(name))
    return name
