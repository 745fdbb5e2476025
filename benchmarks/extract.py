"""Benchmark ``mesocli extract``: wall time and frames/s of whole command runs.

    .venv/bin/python benchmarks/extract.py [--repeat 3] [--shared ../shared]

Runs the real command (a fresh process each time, models loaded, crops and manifest written, into
a temporary folder) on two clips of ``../shared/videos``:

- ``--frames 30`` of ``real/ffpp_c23_youtube_519.mp4`` (30 s, 640×480): target under 3 s wall;
- ``--all-frames`` of ``fake/ffpp_c23_NeuralTextures_004_982.mp4`` (12 s, 1280×720, 309 frames):
  target 25 frames/s or more (real time).

The load average is printed with the figures: on a shared machine they depend on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = [
    ("30 sampled frames, 640x480, 30 s", "real/ffpp_c23_youtube_519.mp4", ["--frames", "30"], "wall", 3.0),
    ("all frames, 1280x720, 12 s", "fake/ffpp_c23_NeuralTextures_004_982.mp4", ["--all-frames"], "fps", 25.0),
]


def run_once(video: Path, options: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="mesocli-bench-") as out:
        command = [sys.executable, "-m", "mesocli", "extract", str(video), str(Path(out) / "faces"), *options,
                   "--workers", "1", "--quiet", "--format", "json"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"extract failed ({done.returncode}): {done.stderr.strip()}")
    return wall, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (the median is reported)")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    args = parser.parse_args()
    videos = args.shared / "videos"
    if not videos.is_dir():
        raise SystemExit(f"needs {videos} (third-party clips, not in the repository)")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for title, clip, options, metric, target in CASES:
        walls, report = [], {}
        for _ in range(args.repeat):
            wall, report = run_once(videos / clip, options)
            walls.append(wall)
        frames, faces = report["counts"]["frames"], report["counts"]["faces"]
        wall = statistics.median(walls)
        verdict = (wall < target) if metric == "wall" else (frames / wall >= target)
        goal = f"target < {target:.0f} s" if metric == "wall" else f"target >= {target:.0f} frames/s"
        print(f"{title}: {frames} frames ({faces} faces) in {wall:.2f} s wall (median of {len(walls)}; "
              f"best {min(walls):.2f} s) = {frames / wall:.1f} frames/s; {goal}: {'met' if verdict else 'MISSED'}")
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
