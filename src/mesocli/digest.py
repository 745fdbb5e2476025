"""Chain of custody: every file's SHA-256 (inputs, weights, exports), and whether an input changed while scanned.

``scan`` and ``extract`` hash each input in the process (and producer thread) that decodes it, in 1 MiB chunks
(never the whole file in memory), before decoding it: the digest names the file as it was when its scan began.
The file's identity when opened (device, inode, size, modification time) is kept, and compared with the
path's once decoding is over: a file replaced, appended to or rewritten in between gets a warning in its
row (:func:`changed`), since the digest may then not be of the bytes that were judged.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mesocli.errors import InputError

CHUNK = 1 << 20
CHANGED = "file changed while it was scanned"
"""How the warning of :func:`changed` begins (in a scan's results)."""
CHANGED_EXTRACTING = "file changed while it was extracted"
"""How the warning of :func:`changed` begins in an extract manifest's input line."""


@dataclass(frozen=True)
class Version:
    """What identifies one version of a file: which file (device, inode), its size and its mtime (ns)."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Version:
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@dataclass(frozen=True)
class Fingerprint:
    """A file's SHA-256 (hex), the version it had when opened, and how many bytes were hashed."""

    sha256: str
    version: Version
    read: int


def _hash(handle: io.RawIOBase, interrupted: Callable[[], bool],
          progress: Callable[[int], None] | None = None) -> tuple[str, int] | None:
    """The SHA-256 (hex) of what is left to read in ``handle`` (unbuffered), in :data:`CHUNK` reads, and how many
    bytes it read; None when ``interrupted()`` turns true between two chunks. ``progress`` is told the bytes of
    each read. The one loop that hashes a file."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    read = 0
    while count := handle.readinto(buffer):
        digest.update(view[:count])
        read += count
        if progress is not None:
            progress(count)
        if interrupted():
            return None
    return digest.hexdigest(), read


def sha256_file(path: str | Path) -> str:
    """The SHA-256 (hex) of a file (a weights file, an export), read in :data:`CHUNK` reads, never whole in
    memory. Raises OSError as reading it does."""
    with open(path, "rb", buffering=0) as handle:
        hashed = _hash(handle, lambda: False)
    assert hashed is not None
    return hashed[0]


def fingerprint(path: str | Path, interrupted: Callable[[], bool] = lambda: False,
                progress: Callable[[int], None] | None = None) -> Fingerprint | None:
    """Hash a regular file in :data:`CHUNK` reads (``progress`` told the bytes of each); None when ``interrupted()``
    turns true between two chunks (the scan was stopped). Raises InputError when it cannot be read or is not a
    regular file."""
    try:  # opened without blocking: a named pipe now at the path must not wait for a writer
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InputError(f"{path}: not a regular file: cannot hash it", "not_a_file")
            os.set_blocking(handle.fileno(), True)
            hashed = _hash(handle, interrupted, progress)
    except OSError as exc:
        raise InputError(f"{path}: cannot read it to hash it ({exc.strerror or type(exc).__name__})",
                         "permission" if isinstance(exc, PermissionError) else "read_failed") from None
    if hashed is None:
        return None
    return Fingerprint(hashed[0], Version.of(info), hashed[1])


def changed(taken: Fingerprint, path: str | Path, *, extracting: bool = False) -> str | None:
    """A row warning when ``path`` is no longer the version that was hashed (or the bytes hashed were not
    its size when opened: it changed while being hashed); None when it is unchanged. ``extracting``: worded
    for ``extract``'s manifest rather than a scan's results."""
    before = taken.version
    try:
        after: Version | None = Version.of(os.stat(path))
    except OSError:
        after = None
    if after == before and taken.read == before.size:
        return None
    if after is None:
        now = "it is gone"
    elif (after.device, after.inode) != (before.device, before.inode):
        now = "another file is at its path"
    else:
        now = f"size {before.size} -> {after.size} bytes, mtime_ns {before.mtime_ns} -> {after.mtime_ns}"
    if after == before:  # the bytes hashed are not the size seen when opened
        now = f"{taken.read} bytes hashed of {before.size}"
    if extracting:
        return (f"{CHANGED_EXTRACTING} ({now}): its sha256 is of the bytes read when its extraction began, "
                "which may not be the bytes the crops were taken from")
    return (f"{CHANGED} ({now}): its sha256 is of the bytes read when its scan began, "
            "which may not be the bytes judged")


NOTED_BYTES = 10**9
"""A resume that checks at least this many bytes again says so first (about a second from the page cache, many
from a disk)."""


def recheck(paths: Sequence[str], workers: int, *, done: str, bar: bool = False,
            log: Callable[[str], None] | None = None,
            interrupted: Callable[[], bool] = lambda: False) -> list[tuple[str | None, str | None]]:
    """Hash again (``workers`` files at a time) the inputs a resume would skip, to tell whether their bytes are
    still those an earlier run recorded: for each path, ``(sha256, None)``, or ``(None, why)`` when it cannot be
    read. When they add up to :data:`NOTED_BYTES` or more, a line says so to ``log`` first (None: quiet), saying
    how they were ``done`` (``scanned``, ``extracted``); ``bar``: a byte counter on stderr while they are read.
    The reads stop at their next chunk (``(None, "stopped")``) on an exception here (Ctrl-C) or once
    ``interrupted()`` turns true (a scan stopped while this runs in the thread that draws its paths)."""
    from concurrent.futures import ThreadPoolExecutor

    from mesocli.progress import counter

    if not paths:
        return []
    sizes = []
    for path in paths:
        try:
            sizes.append(os.stat(path).st_size)
        except OSError:
            sizes.append(0)
    total = sum(sizes)
    if log is not None and total >= NOTED_BYTES:
        size = f"{total / 1e9:.1f} GB" if total >= 1e8 else f"{total / 1e6:.1f} MB"
        inputs = "1 input" if len(paths) == 1 else f"{len(paths)} inputs"
        log(f"mesocli: resume: reading {inputs} already {done} again ({size}) to check that their bytes are "
            "unchanged (--no-hash: size and mtime only)")
    stop = threading.Event()
    lock = threading.Lock()
    with counter(total, desc="checking sha256", unit="B", enabled=bar and total >= NOTED_BYTES, unit_scale=True,
                 leave=False) as shown:

        def advance(count: int) -> None:
            with lock:
                shown.update(count)

        def now(path: str) -> tuple[str | None, str | None]:
            try:
                taken = fingerprint(path, lambda: stop.is_set() or interrupted(), None if shown.disable else advance)
            except InputError as exc:
                return None, str(exc).removeprefix(f"{path}: ")
            return (None, "stopped") if taken is None else (taken.sha256, None)

        with ThreadPoolExecutor(max(1, min(workers, len(paths)))) as pool:
            try:
                return list(pool.map(now, paths))
            except BaseException:  # Ctrl-C: the threads stop at their next chunk, not at the end of their file
                stop.set()
                raise
