"""Cost of each extract manifest's input ``sha256``: ``mesocli extract --frames 30`` with and without ``--no-hash``.

    .venv/bin/python benchmarks/extract_hash.py [--shared DIR] [--video FILE] [--minutes 3] [--repeats 3] [--cold]

Figures (wall time of whole ``mesocli extract`` processes into a fresh OUT_DIR, ``--workers 1``, the median of
``--repeats`` runs, hashed and ``--no-hash`` runs alternating, ABBA; the load average is printed first):

1. each labelled clip of the shared folder (``videos/``): the hash alone (:func:`mesocli.digest.fingerprint`,
   in this process), then the 8 clips in one call;
2. a large video: ``--video FILE``, else one made as ``benchmarks/scan_hash.py`` makes it (the FF++ real clip
   looped for ``--minutes`` and scaled to 1920×1080: several hundred MB), the hash alone and one call;
3. after each call of 1 and 2, a resume with nothing to do (every input already extracted, so skipped): hashed,
   each skipped input is hashed again to check that its bytes are those its manifest line names.

``--cold`` drops the inputs' pages from the page cache before each run (see ``scan_hash.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scan_hash import compare, evict, hash_alone, large_video, options


def extract_seconds(*args: str, cold: bool = False, out: Path | None = None) -> float:
    """The wall time of one ``mesocli extract`` process, into a fresh OUT_DIR unless ``out``."""
    if cold:
        evict([arg for arg in args if not arg.startswith("--")])
    with tempfile.TemporaryDirectory(prefix="mesocli-bench-") as fresh:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "mesocli", "extract", *args, str(out or Path(fresh) / "faces"),
                               "--frames", "30", "--workers", "1", "--quiet", "--format", "json"],
                              check=False, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"extract failed ({done.returncode}): {done.stderr.strip()}")
    return seconds


def resume_seconds(inputs: list[str], out: Path) -> Callable[..., float]:
    """The wall time of ``mesocli extract`` into ``out``, where ``inputs`` were already extracted."""
    extract_seconds(*inputs, out=out)

    def seconds(*args: str, cold: bool = False) -> float:
        return extract_seconds(*args, cold=cold, out=out)

    return seconds


def main() -> None:
    parser = options(__doc__.split("\n")[0])
    parser.add_argument("--clips-only", action="store_true", help="Skip the large video.")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    where = "from disk" if args.cold else "page cache"
    clips = sorted((args.shared / "videos").rglob("*.mp4"))
    print(f"\n1. the {len(clips)} labelled clips ({sum(p.stat().st_size for p in clips) / 1e6:.1f} MB)")
    for clip in clips:
        seconds = hash_alone(clip, args.repeats, args.cold)
        print(f"  sha256 alone ({where}) {clip.name:<38} {clip.stat().st_size / 1e6:5.2f} MB  "
              f"{seconds * 1000:6.2f} ms", flush=True)
    compare("extract --frames 30, one call", [str(p) for p in clips], args.repeats, args.cold, extract_seconds)
    with tempfile.TemporaryDirectory(prefix="mesocli-bench-") as out:
        inputs = [str(p) for p in clips]
        compare("resume, all done", inputs, args.repeats, args.cold, resume_seconds(inputs, Path(out) / "faces"))
    if args.clips_only:
        return
    with large_video(args) as video:
        size = video.stat().st_size
        seconds = hash_alone(video, args.repeats, args.cold)
        print(f"\n2. {video.name}: {size / 1e6:.0f} MB\n  sha256 alone ({where}) {seconds:.2f} s, "
              f"{size / 1e6 / seconds:.0f} MB/s", flush=True)
        compare("extract --frames 30", [str(video)], args.repeats, args.cold, extract_seconds)
        with tempfile.TemporaryDirectory(prefix="mesocli-bench-") as out:
            seconds = resume_seconds([str(video)], Path(out) / "faces")
            compare("resume, already done", [str(video)], args.repeats, args.cold, seconds)


if __name__ == "__main__":
    main()
