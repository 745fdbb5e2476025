"""Cost of each scan result's ``sha256``: ``mesocli scan --frames 30`` with and without ``--no-hash``.

    .venv/bin/python benchmarks/scan_hash.py [--shared DIR] [--video FILE] [--minutes 3] [--repeats 3] [--cold]

Figures (wall time of whole ``mesocli scan`` processes, the median of ``--repeats`` runs, hashed and
``--no-hash`` runs alternating; the load average is printed first):

1. a large video: ``--video FILE``, else one made here with the bundled ffmpeg (the FF++ real clip of
   the shared folder looped for ``--minutes`` and scaled to 1920×1080, x264 ``ultrafast`` at CRF 14:
   several hundred MB), and the hash alone (:func:`mesocli.digest.fingerprint`, in this process);
2. the shared folder's labelled clips (``videos/``, small) in one call.

The file was just written or read, so it is in the page cache and the hash is CPU-bound; ``--cold``
drops the inputs' pages from the cache before each run (``posix_fadvise`` DONTNEED on those files only),
so that each scan reads them from disk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = "videos/real/ffpp_c23_youtube_004.mp4"


def make_video(source: Path, target: Path, minutes: float) -> None:
    """``source`` looped for ``minutes`` and scaled to 1080p, with the bundled ffmpeg."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source),
                    "-t", str(minutes * 60), "-vf", "scale=1920:1080", "-c:v", "libx264", "-preset", "ultrafast",
                    "-crf", "14", "-pix_fmt", "yuv420p", "-an", str(target)], check=True)


def evict(paths: list[str]) -> None:
    """Drop these files' pages from the page cache (Linux; clean pages only)."""
    for path in paths:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def scan_seconds(*args: str, cold: bool = False) -> float:
    if cold:
        evict([arg for arg in args if not arg.startswith("--")])
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mesocli", "scan", "--frames", "30", "--quiet", "--format", "jsonl",
                    *args], check=False, capture_output=True)
    return time.perf_counter() - start


def hash_alone(path: Path, repeats: int, cold: bool) -> float:
    """Median seconds of :func:`mesocli.digest.fingerprint` on ``path`` in this process."""
    from mesocli.digest import fingerprint

    times = []
    for _ in range(repeats):
        if cold:
            evict([str(path)])
        start = time.perf_counter()
        fingerprint(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(label: str, inputs: list[str], repeats: int, cold: bool,
            seconds: Callable[..., float] = scan_seconds) -> None:
    """Median wall time of ``seconds`` (a whole mesocli process) with and without hashing, runs alternating
    (ABBA: which goes first alternates too)."""
    hashed, plain = [], []
    for repeat in range(repeats):
        for hashing in (True, False) if repeat % 2 == 0 else (False, True):
            if hashing:
                hashed.append(seconds(*inputs, cold=cold))
            else:
                plain.append(seconds("--no-hash", *inputs, cold=cold))
    with_hash, without = statistics.median(hashed), statistics.median(plain)
    print(f"  {label:<40} hash {with_hash:7.2f} s   --no-hash {without:7.2f} s   "
          f"cost {with_hash - without:+.2f} s ({(with_hash / without - 1) * 100:+.0f} %)", flush=True)


def options(description: str) -> argparse.ArgumentParser:
    """The options both sha256 benchmarks take."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--video", type=Path, default=None, help="A large video (default: one is made).")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="Read the inputs from disk at each run.")
    return parser


@contextlib.contextmanager
def large_video(args: argparse.Namespace) -> Iterator[Path]:
    """``--video``, else one made (:func:`make_video`) in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as folder:
        video = args.video
        if video is None:
            video = Path(folder) / "large_1080p.mp4"
            make_video(args.shared / REAL, video, args.minutes)
        yield video


def main() -> None:
    parser = options(__doc__.split("\n")[0])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with large_video(args) as video:
        size = video.stat().st_size
        print(f"\n1. {video.name}: {size / 1e6:.0f} MB")
        seconds = hash_alone(video, args.repeats, args.cold)
        where = "from disk" if args.cold else "page cache"
        print(f"  {f'sha256 alone ({where})':<40} {seconds:.2f} s, {size / 1e6 / seconds:.0f} MB/s")
        compare("scan --frames 30", [str(video)], args.repeats, args.cold)
    clips = sorted(str(p) for p in (args.shared / "videos").rglob("*.mp4"))
    total = sum(Path(p).stat().st_size for p in clips)
    print(f"\n2. the {len(clips)} labelled clips ({total / 1e6:.1f} MB) in one call")
    compare("scan --frames 30", clips, args.repeats, args.cold)


if __name__ == "__main__":
    main()
