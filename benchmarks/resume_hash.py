"""Cost of a ``scan --resume`` with nothing to do: the inputs it skips read again to check their sha256, or not
(``--no-hash``: size and mtime only).

    .venv/bin/python benchmarks/resume_hash.py [--shared DIR] [--gigabytes 2] [--repeats 3] [--cold]

Figures (wall time of whole ``mesocli scan --output results.jsonl --resume`` processes, every input already in
the output, the median of ``--repeats`` runs, hashed and ``--no-hash`` runs alternating; the load average is
printed first):

1. the shared folder's labelled clips (``videos/``, small);
2. a large video: the FF++ real clip of the shared folder with a ``free`` box appended (which players and ffmpeg
   skip) to ``--gigabytes`` GB, so that its scan is quick and its check reads every byte.

The files were just read, so they are in the page cache; ``--cold`` drops their pages from the cache before
each run (``posix_fadvise`` DONTNEED on those files only), so that each check reads them from disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = "videos/real/ffpp_c23_youtube_004.mp4"


def evict(paths: list[Path]) -> None:
    """Drop these files' pages from the page cache (Linux; clean pages only)."""
    for path in paths:
        with open(path, "rb") as handle:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def pad(source: Path, target: Path, size: int) -> None:
    """``source`` with a top-level ``free`` box (of zeros) appended, ``size`` bytes in all."""
    shutil.copyfile(source, target)
    gap = size - target.stat().st_size
    with open(target, "ab") as handle:
        handle.write((1).to_bytes(4, "big") + b"free" + (gap).to_bytes(8, "big"))  # a 64-bit box size
        block = bytes(1 << 24)
        left = gap - 16
        while left > 0:
            left -= handle.write(block[:left])


def resume_seconds(inputs: list[Path], output: Path, *extra: str, cold: bool = False) -> float:
    if cold:
        evict([path for folder in inputs for path in (folder.rglob("*") if folder.is_dir() else [folder])
               if path.is_file()])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mesocli", "scan", *map(str, inputs), "--frames", "10", "--quiet",
                           "--output", str(output), "--resume", *extra], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3) or done.stderr:
        sys.exit(f"resume failed ({done.returncode}): {done.stderr}")
    return seconds


def compare(name: str, inputs: list[Path], output: Path, repeats: int, cold: bool) -> None:
    subprocess.run([sys.executable, "-m", "mesocli", "scan", *map(str, inputs), "--frames", "10", "--quiet",
                    "--output", str(output), "--resume"], check=False, capture_output=True)
    size = sum(path.stat().st_size for folder in inputs
               for path in (folder.rglob("*") if folder.is_dir() else [folder]) if path.is_file())
    hashed, plain = [], []
    for _ in range(repeats):
        hashed.append(resume_seconds(inputs, output, cold=cold))
        plain.append(resume_seconds(inputs, output, "--no-hash", cold=cold))
    h, p = statistics.median(hashed), statistics.median(plain)
    rate = f", {size / 1e9 / (h - p):.2f} GB/s" if h - p > 0.05 else ""
    print(f"{name} ({size / 1e6:.0f} MB): resume {h:.2f} s, --no-hash {p:.2f} s, difference {h - p:+.2f} s{rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores{', cold' if args.cold else ''}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        compare("videos/ (8 clips)", [args.shared / "videos"], folder / "small.jsonl", args.repeats, args.cold)
        large = folder / "large.mp4"
        pad(args.shared / REAL, large, int(args.gigabytes * 1e9))
        compare("one padded video", [large], folder / "large.jsonl", args.repeats, args.cold)


if __name__ == "__main__":
    main()
