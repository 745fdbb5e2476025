"""Fuzz mesocli's readers for a fixed time each; report every failure that is not a clean error.

    .venv/bin/python benchmarks/fuzz_readers.py [--seconds 60] [--seed 0] [--readers image,video,identify]

Readers (the functions every command reads its inputs with):

- ``image``: ``preprocess.open_image`` then ``preprocess.load_face`` (a 256×256×3 uint8 face);
- ``video``: ``probe.probe_video`` then ``video.iter_frames`` (3 evenly spaced frames, RGB arrays);
- ``identify``: ``inputs.identify`` (what ``scan`` and ``extract`` call on every file first).

Inputs: small valid files of many formats made here (Pillow; the bundled ffmpeg), mutated (bit flips,
"interesting" bytes, insertions, deletions, truncations, chunks copied elsewhere), and 1 in 10 pure
random bytes. An input passes when the reader returns what it promises or raises
:class:`mesocli.errors.MesocliError` (one-line, e.g. InputError); anything else (another exception,
a wrong result, no answer within ``--timeout`` seconds) is a crash: counted, printed once per kind,
and its bytes saved under ``--out``. Prints the number of inputs tried per reader. Exit status 1 if
any crash was found. Python warnings and what the C libraries write on stderr (libtiff's complaints
about damaged files) are not failures and are hidden, unless ``--show-stderr``.
``tests/robustness/test_fuzz.py`` runs the same readers on a few inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from mesocli.errors import MesocliError

IMAGE_SEEDS = {  # name: (Pillow format, save options, mode)
    "rgb.jpg": ("JPEG", {"quality": 90}, "RGB"),
    "grey.jpg": ("JPEG", {"quality": 90, "progressive": True}, "L"),
    "cmyk.jpg": ("JPEG", {}, "CMYK"),
    "rgb.png": ("PNG", {}, "RGB"),
    "rgba.png": ("PNG", {}, "RGBA"),
    "palette.png": ("PNG", {}, "P"),
    "deep.png": ("PNG", {}, "I;16"),
    "anim.gif": ("GIF", {}, "P"),
    "rgb.bmp": ("BMP", {}, "RGB"),
    "rgb.tif": ("TIFF", {"compression": "tiff_lzw"}, "RGB"),
    "rgb.webp": ("WEBP", {"quality": 80}, "RGB"),
    "rgb.ppm": ("PPM", {}, "RGB"),
}
VIDEO_SEEDS = {  # name: ffmpeg output options
    "h264.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    "faststart.mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
    "h264.mkv": ["-c:v", "libx264"],
    "vp9.webm": ["-c:v", "libvpx-vp9"],
    "mjpeg.avi": ["-c:v", "mjpeg"],
    "mpeg2.ts": ["-c:v", "mpeg2video"],
    "flv1.flv": ["-c:v", "flv"],
    "mpeg4.mov": ["-c:v", "mpeg4"],
    "raw.y4m": [],
}
READER_SEEDS = {"image": list(IMAGE_SEEDS), "video": list(VIDEO_SEEDS), "identify": [*IMAGE_SEEDS, *VIDEO_SEEDS]}
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF)
INTERESTING_32 = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
                  b"\x00\x00\x10\x00", b"\x00\x01\x00\x00")


# ---------------------------------------------------------------------------------------------- seeds


def make_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid files of every kind the readers take (64×48 pixels; 4 frames of video)."""
    from PIL import Image

    from mesocli.probe import ffmpeg_exe

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    seeds = {}
    for name, (fmt, options, mode) in IMAGE_SEEDS.items():
        if mode == "I;16":
            image = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
        elif mode == "P":
            image = base.quantize(64)
        else:
            image = base.convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        seeds[name] = buffer.getvalue()
    for name, options in VIDEO_SEEDS.items():
        path = folder / name
        subprocess.run([ffmpeg_exe(), "-y", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc2=size=64x48:rate=8:duration=0.5", *options, str(path)], check=True)
        seeds[name] = path.read_bytes()
    return seeds


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few random edits of ``data`` (AFL-style havoc)."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 8, 16))):
        if not out:
            out += rng.randbytes(rng.randint(1, 64))
            continue
        at = rng.randrange(len(out))
        op = rng.randrange(7)
        if op == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at] = rng.choice((*INTERESTING, rng.randrange(256)))
        elif op == 2:
            out[at : at + 4] = rng.choice(INTERESTING_32)
        elif op == 3:
            del out[at : at + rng.randint(1, 64)]
        elif op == 4:
            out[at:at] = rng.randbytes(rng.randint(1, 64))
        elif op == 5:
            del out[at:]
        else:
            size = rng.randint(1, 256)
            source = rng.randrange(len(out))
            out[at : at + size] = out[source : source + size]
    return bytes(out)


def next_input(reader: str, seeds: dict[str, bytes], rng: random.Random) -> tuple[str, bytes]:
    """(file name, bytes) of one input for ``reader``: a mutated seed, or 1 in 10 random bytes."""
    name = rng.choice(READER_SEEDS[reader])
    if rng.random() < 0.1:
        return name, rng.randbytes(rng.randint(0, 4096))
    return name, mutate(seeds[name], rng)


# ---------------------------------------------------------------------------------------------- readers


def read_image(path: Path) -> None:
    from mesocli.preprocess import load_face, open_image

    open_image(path)
    face = load_face(path)
    assert face.shape == (256, 256, 3) and face.dtype == np.uint8, (face.shape, face.dtype)


def read_video(path: Path) -> None:
    from mesocli.probe import probe_video
    from mesocli.video import FrameSelection, iter_frames

    info = probe_video(path)
    assert info.width > 0 and info.height > 0, info
    for frame in iter_frames(path, FrameSelection("frames", 3), info):
        assert frame.image.ndim == 3 and frame.image.shape[2] == 3 and frame.image.dtype == np.uint8
        assert math.isfinite(frame.time) and frame.index >= 0, frame


def read_identify(path: Path) -> None:
    from mesocli.inputs import identify

    kind, info = identify(path)
    assert (kind, info is None) in (("image", True), ("video", False)), (kind, info)


READERS: dict[str, Callable[[Path], None]] = {"image": read_image, "video": read_video, "identify": read_identify}


class Timeout(Exception):
    """The reader gave no answer in time (a hang is a crash too)."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Timeout in the main thread after ``seconds`` (SIGALRM; elsewhere, no limit)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise Timeout(f"no answer in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_one(reader: str, name: str, data: bytes, folder: Path, timeout: float = 30) -> str | None:
    """Feed one input to a reader; None when it passes, else what went wrong (type, message, where)."""
    path = folder / f"input{Path(name).suffix}"
    path.write_bytes(data)
    try:
        with time_limit(timeout):
            READERS[reader](path)
    except MesocliError as exc:
        if "\n" in str(exc):
            return f"MesocliError on several lines: {exc!r}"
        return None
    except Exception as exc:  # that is what we look for
        where = traceback.extract_tb(exc.__traceback__)[-1]
        message = " ".join(str(exc).split())[:200]
        return f"{type(exc).__name__}: {message} (at {Path(where.filename).name}:{where.lineno})"
    return None


# ---------------------------------------------------------------------------------------------- the run


@contextlib.contextmanager
def stderr_hidden() -> Iterator[None]:
    """Send file descriptor 2 (where C libraries write) to /dev/null."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def fuzz(reader: str, seconds: float, seed: int, seeds: dict[str, bytes], out: Path, timeout: float) -> int:
    """Fuzz one reader for ``seconds``; print what it found; return the number of crashing inputs."""
    rng = random.Random(f"{seed}-{reader}")
    found: dict[str, int] = {}
    tried = crashes = 0
    with tempfile.TemporaryDirectory(prefix="mesocli-fuzz-") as work:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            name, data = next_input(reader, seeds, rng)
            problem = run_one(reader, name, data, Path(work), timeout)
            tried += 1
            if problem is None:
                continue
            crashes += 1
            kind = problem.split(":", 1)[0] + problem[problem.rfind(" (at ") :]
            if kind not in found:
                out.mkdir(parents=True, exist_ok=True)
                saved = out / f"{reader}-{len(found)}{Path(name).suffix}"
                saved.write_bytes(data)
                print(f"  {reader}: {problem} [input saved as {saved}]", flush=True)
            found[kind] = found.get(kind, 0) + 1
    print(f"{reader}: {tried} inputs in {seconds:.0f} s ({tried / seconds:.1f}/s), {crashes} crashing, "
          f"{len(found)} distinct", flush=True)
    return crashes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="time per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--readers", default="image,video,identify")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one input may take")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "mesocli-fuzz-crashes")
    parser.add_argument("--show-stderr", action="store_true", help="show warnings and the libraries' stderr")
    args = parser.parse_args()
    readers = args.readers.split(",")
    unknown = sorted(set(readers) - set(READERS))
    if unknown:
        parser.error(f"unknown readers: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="mesocli-fuzz-seeds-") as folder:
        seeds = make_seeds(Path(folder))
    with warnings.catch_warnings(), contextlib.nullcontext() if args.show_stderr else stderr_hidden():
        if not args.show_stderr:
            warnings.simplefilter("ignore")
        crashes = sum(fuzz(reader, args.seconds, args.seed, seeds, args.out, args.timeout) for reader in readers)
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
