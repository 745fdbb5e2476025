"""Helpers of the robustness suite: odd media files, injected file-system faults, paused child processes.

Media come from ``tests/media.py`` (the astronaut's face, encoded with the bundled ffmpeg); this
module only adds the odd ones (variable frame rate, no ``moov`` box, crafted headers ...).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import hashlib
import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from media import FaceTransform, ffmpeg, make_face_video, plan_transforms, render
from PIL import Image

# ---------------------------------------------------------------------------------------------- files


def seeded_bytes(size: int, seed: int) -> bytes:
    """Reproducible random bytes."""
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path -> sha256): what a failed run must leave unchanged."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file() and not p.is_symlink()}


def mp4_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """Top-level ISO-BMFF boxes of ``data``: (type, start, end)."""
    boxes, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        elif size == 0:
            size = len(data) - at
        boxes.append((kind, at, at + size))
        at += size
    return boxes


def strip_moov(source: Path, target: Path) -> Path:
    """``source`` without its ``moov`` box (the index of every sample): the media data is all there."""
    data = Path(source).read_bytes()
    kept = b"".join(data[start:end] for kind, start, end in mp4_boxes(data) if kind != b"moov")
    assert len(kept) < len(data), "no moov box found"
    Path(target).write_bytes(kept)
    return Path(target)


VFR_TICKS = [n + 3 * (n // 4) for n in range(12)]  # frame times in 1/12 s: bursts of 4 with gaps


def make_vfr_video(path: Path) -> list[float]:
    """A variable-frame-rate MP4 of the face (frames at ``VFR_TICKS / 12`` s); return the frame times."""
    size = (320, 240)
    transforms = plan_transforms(len(VFR_TICKS), size, angles=[0.0] * len(VFR_TICKS))
    data = b"".join(np.asarray(render(t, size), dtype=np.uint8).tobytes() for t in transforms)
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "320x240",
                    "-r", "12", "-i", "-", "-vf", "setpts=(N+3*floor(N/4))/(12*TB)", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-video_track_timescale",
                    "1200", str(path)], input=data, check=True, capture_output=True)
    return [tick / 12 for tick in VFR_TICKS]


def make_sized_video(path: Path, size: tuple[int, int], frames: int, scale: float) -> Path:
    """The face video at another frame size (the face scaled by ``scale``), upright."""
    make_face_video(path, frames, angles=[0.0] * frames, size=size, scales=[scale] * frames,
                    centres=[(size[0] / 2, size[1] / 2)] * frames)
    return Path(path)


def face_image(size: tuple[int, int] = (320, 240)) -> Image.Image:
    """One upright face frame (RGB)."""
    return render(FaceTransform(0, (size[0] / 2, size[1] / 2), 1.0, 0.0), size)


def save_mode_image(path: Path, mode: str, **save: Any) -> Path:
    """The face saved in an image ``mode`` (L, CMYK, RGBA, P, I;16 = 16-bit grey) as ``save`` says."""
    rgb = face_image()
    if mode == "I;16":
        grey = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
        image = Image.fromarray(grey)
        assert image.mode == "I;16"
    elif mode == "P":
        image = rgb.quantize(256)
    elif mode == "RGBA":
        image = rgb.convert("RGBA")
        image.putalpha(Image.new("L", rgb.size, 255))
    else:
        image = rgb.convert(mode)
    image.save(path, **save)
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def make_png_bomb(path: Path, side: int = 20_000) -> Path:
    """A valid PNG header announcing ``side``² pixels (400 Mpx: over Pillow's limit) with a tiny body."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (side + 1))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", row)
                           + _png_chunk(b"IEND", b""))
    return Path(path)


# ---------------------------------------------------------------------------------------------- faults


def _flags_write(flags: int) -> bool:
    return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))


def _mode_writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


class _Budgeted:
    """A file object whose writes draw on a :class:`FaultyFs` budget."""

    def __init__(self, handle: Any, faults: FaultyFs) -> None:
        self._handle = handle
        self._faults = faults

    def write(self, data: Any) -> int:
        size = len(data.encode()) if isinstance(data, str) else len(bytes(data))
        allowed = self._faults.take(size)
        if allowed < size:  # what fits is written (about: text is cut by characters), then ENOSPC
            self._handle.write(data[:allowed])
            self._handle.flush()
            raise self._faults.full()
        return self._handle.write(data)

    def __enter__(self) -> _Budgeted:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def __iter__(self) -> Any:
        return iter(self._handle)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class FaultyFs:
    """Fault injection for the files under ``root``, in this process (Python-level file calls only).

    ``unreadable``: opening a file there for reading, or listing a folder there, fails with EACCES, and
    ``os.access(R_OK)`` says False (as ``chmod 000`` does for a non-root user). ``unwritable``: creating,
    writing, renaming or making folders there fails with EACCES. ``space``: a disk with that many bytes left;
    a write beyond them is cut short and fails with ENOSPC (``space`` may be set at any time: the disk fills
    up). ``used`` counts the bytes written there. Files written by C libraries (HDF5) escape it.
    """

    def __init__(self, root: Path, *, unreadable: bool = False, unwritable: bool = False,
                 space: int | None = None) -> None:
        self.root = os.path.realpath(root)
        self.unreadable, self.unwritable, self.space = unreadable, unwritable, space
        self.used = 0
        self._fds: set[int] = set()

    def under(self, path: Any) -> bool:
        if isinstance(path, int):
            return False
        try:
            real = os.path.realpath(os.fspath(path))
        except TypeError:
            return False
        return real == self.root or real.startswith(self.root + os.sep)

    def take(self, size: int) -> int:
        """Book ``size`` bytes; return how many fit."""
        fits = size if self.space is None else max(0, min(size, self.space - self.used))
        self.used += fits
        return fits

    def full(self) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def _denied(self, path: Any) -> OSError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def _check(self, path: Any, writing: bool) -> None:
        if self.under(path) and ((writing and self.unwritable) or (not writing and self.unreadable)):
            raise self._denied(path)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FaultyFs:
        real_open, real_os_open, real_write, real_close = io.open, os.open, os.write, os.close

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            self._check(file, _mode_writes(mode))
            handle = real_open(file, mode, *args, **kwargs)
            there = self.under(file) or (isinstance(file, int) and file in self._fds)  # (a descriptor os.open gave)
            return _Budgeted(handle, self) if _mode_writes(mode) and there else handle

        def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            relative = kwargs.get("dir_fd") is not None  # relative to a folder descriptor: not judged
            if not relative:
                self._check(path, _flags_write(flags))
            fd = real_os_open(path, flags, *args, **kwargs)
            if not relative and _flags_write(flags) and self.under(path):
                self._fds.add(fd)  # os.write on it draws on the budget
            return fd

        def os_write(fd: int, data: Any) -> int:
            if fd in self._fds:
                allowed = self.take(len(data))
                if allowed < len(data):
                    if allowed:
                        real_write(fd, bytes(data[:allowed]))
                    raise self.full()
            return real_write(fd, data)

        def os_close(fd: int) -> None:
            self._fds.discard(fd)
            real_close(fd)

        def guard(name: str, count: int = 1) -> Callable[..., Any]:
            real = getattr(os, name)

            def wrapped(*args: Any, **kwargs: Any) -> Any:
                for path in args[:count]:
                    self._check(path, True)
                return real(*args, **kwargs)

            return wrapped

        def lister(name: str) -> Callable[..., Any]:
            real = getattr(os, name)

            def wrapped(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
                self._check(path, False)
                return real(path, *args, **kwargs)

            return wrapped

        real_mkdir = os.mkdir

        def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            if os.path.lexists(path):  # as the system says: EEXIST before EACCES
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(path))
            self._check(path, True)
            real_mkdir(path, *args, **kwargs)

        real_access = os.access

        def access(path: Any, mode: int, *args: Any, **kwargs: Any) -> bool:
            """What ``chmod 000`` makes it answer a non-root user (click's ``Path`` type asks it)."""
            if self.unreadable and mode & os.R_OK and kwargs.get("dir_fd") is None and self.under(path):
                return False
            return real_access(path, mode, *args, **kwargs)

        for module in (builtins, io):
            monkeypatch.setattr(module, "open", open_)
        monkeypatch.setattr(os, "access", access)
        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(os, "write", os_write)
        monkeypatch.setattr(os, "close", os_close)
        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "scandir", lister("scandir"))
        monkeypatch.setattr(os, "listdir", lister("listdir"))
        monkeypatch.setattr(os, "replace", guard("replace", 2))
        monkeypatch.setattr(os, "rename", guard("rename", 2))
        return self


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def unreadable(path: Path) -> Iterator[None]:
    """``path`` unreadable: ``chmod 000``, or as root (whom modes do not stop) a simulated EACCES."""
    with _denied(path, 0, unreadable=True):
        yield


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` read-only: ``chmod 555``, or as root a simulated EACCES on every write in it."""
    with _denied(folder, 0o555, unwritable=True):
        yield


@contextlib.contextmanager
def _denied(path: Path, mode: int, **faults: bool) -> Iterator[None]:
    if is_root():
        with pytest.MonkeyPatch.context() as patch:
            FaultyFs(path, **faults).install(patch)
            yield
        return
    before = path.stat().st_mode
    path.chmod(mode)
    try:
        yield
    finally:
        path.chmod(before)


def png_named(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A PNG whatever the name says."""
    face_image(size).save(path, format="PNG")
    return Path(path)


# ---------------------------------------------------------------------------------------------- interruptions

_PAUSING_CHILD = '''
import os, sys, time
from pathlib import Path

marker, kind, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])


def stop_here(what):
    marker.write_text(what)
    time.sleep(600)  # the test kills this process here (kill -9)


if kind == "crop":  # the at-th crop is written under its temporary name, not yet renamed into place
    real_replace, crops = os.replace, [0]

    def replace(src, dst, **kwargs):
        if str(dst).endswith(".jpg"):
            crops[0] += 1
            if crops[0] == at:
                stop_here(str(src))
        return real_replace(src, dst, **kwargs)

    os.replace = replace
else:  # "step": before the at-th training step
    from mesocli import training

    prepare = training.Trainer.prepare

    def prepare_then_count(self):
        prepare(self)
        step, steps = self.train_step, [0]

        def counted(x, y, w):
            steps[0] += 1
            if steps[0] == at:
                stop_here(f"step {at}")
            return step(x, y, w)

        self.train_step = counted

    training.Trainer.prepare = prepare_then_count

from mesocli.cli import main

sys.argv = ["mesocli", *sys.argv[4:]]
main()
'''


def start_paused(args: list[object], kind: str, at: int, marker: Path, timeout: float = 240) -> subprocess.Popen:
    """Start ``mesocli ARGS`` in a child process that stops itself at a chosen point (the ``at``-th crop
    renamed into place, or training step) and return once it is there, ready to be killed."""
    command = [sys.executable, "-c", _PAUSING_CHILD, str(marker), kind, str(at), *map(str, args)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"mesocli ended ({process.returncode}) before it could be stopped: "
                                 f"{process.stderr.read().decode(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"mesocli did not reach {kind} {at} in {timeout} s")
        time.sleep(0.05)
    return process


def kill_9(process: subprocess.Popen) -> None:
    """SIGKILL: no handler runs, nothing is flushed or cleaned up."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    if process.stderr is not None:
        process.stderr.close()
