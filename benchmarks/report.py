"""Cost of ``scan --report`` (and ``--explain``): what the heatmaps, the timeline and the HTML add to a scan.

    .venv/bin/python benchmarks/report.py [--shared DIR] [--video PATH] [--frames 30] [--repeats 3]

The clip: the 30 s 640×480 FF++ c23 original ``videos/real/ffpp_c23_youtube_519.mp4`` from the
shared folder, 30 sampled frames. Two figures, each the median of ``--repeats`` runs taken in
turns (plain, report, plain, report, ...) so that a change in the machine's load hits both alike:

1. warm, in one process (TensorFlow loaded, weights loaded, graphs traced by a first untimed run):
   ``scan_inputs`` alone vs ``scan_inputs`` with the report's observer, Grad-CAM of the 4 + 4
   extreme faces, the timeline plot and the HTML written: the cost of the report itself;
2. whole processes: ``mesocli scan`` vs ``mesocli scan --report FILE`` (start-up included).

Target: the report adds at most 50 % to the scan's wall time. The load average is printed first:
on a busy machine the figures are noisy; compare the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLIP = "videos/real/ffpp_c23_youtube_519.mp4"


def median_pair(run_a, run_b, repeats: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(repeats):
        a.append(run_a())
        b.append(run_b())
    return statistics.median(a), statistics.median(b)


def warm(video: Path, frames: int, repeats: int, out: Path) -> tuple[float, float]:
    from mesocli.report import Explainer
    from mesocli.scan import ScanOptions, scan_inputs
    from mesocli.weights import resolve_model

    loaded = resolve_model(None, "df", None)
    options = ScanOptions(frames=frames)

    def plain() -> float:
        start = time.perf_counter()
        results = list(scan_inputs([str(video)], loaded, options))
        assert results[0].status == "ok", results[0].error
        return time.perf_counter() - start

    def with_report() -> float:
        start = time.perf_counter()
        explainer = Explainer(loaded.model, report=out / "warm.html", threshold=options.threshold,
                              smooth=options.smooth, force=True)
        for result in scan_inputs([str(video)], loaded, options, observer=explainer.observer):
            explainer.add(result)
        explainer.finish()
        return time.perf_counter() - start

    plain(), with_report()  # trace the graphs, import matplotlib: not timed
    return median_pair(plain, with_report, repeats)


def process(video: Path, frames: int, repeats: int, out: Path) -> tuple[float, float]:
    def run(*extra: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mesocli", "scan", str(video), "--frames", str(frames), "-q",
                        "--format", "json", *extra], check=True, capture_output=True)
        return time.perf_counter() - start

    return median_pair(lambda: run(), lambda: run("--report", str(out / "cold.html"), "--force"), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    video = args.video or args.shared / CLIP
    if not video.exists():
        sys.exit(f"benchmarks/report.py: {video} not found (third-party clip; pass --shared DIR or --video PATH)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {video.name}, {args.frames} frames, "
          f"median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plain, report = warm(video, args.frames, args.repeats, out)
        size = (out / "warm.html").stat().st_size
        print(f"  warm scan                        {plain:7.2f} s")
        print(f"  warm scan + report               {report:7.2f} s   ratio {report / plain:.2f} "
              f"(+{100 * (report / plain - 1):.0f} %; report {size / 1e6:.2f} MB)")
        plain, report = process(video, args.frames, args.repeats, out)
        print(f"  mesocli scan (process)           {plain:7.2f} s")
        print(f"  mesocli scan --report (process)  {report:7.2f} s   ratio {report / plain:.2f} "
              f"(+{100 * (report / plain - 1):.0f} %)")


if __name__ == "__main__":
    main()
