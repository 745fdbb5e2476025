"""Cost of ``scan --report`` (and ``--explain``): what the heatmaps, the timeline and the HTML add to a scan.

    .venv/bin/python benchmarks/report.py [--shared DIR] [--video PATH ...] [--frames 30] [--repeats 3]

The inputs: by default the 30 s 640×480 FF++ c23 original ``videos/real/ffpp_c23_youtube_519.mp4`` from the
shared folder; ``--video`` takes other files or folders (a folder of clips and stills is a moderator's batch).
30 sampled frames, the default runtime (ONNX Runtime). Two figures, each the median of ``--repeats`` runs taken
in turns (plain, report, plain, report, ...) so that a change in the machine's load hits both alike:

1. warm, in one process (weights loaded, a first untimed run): ``scan_inputs`` alone vs ``scan_inputs`` with
   the report's observer, Grad-CAM of the 4 + 4 extreme faces, the timeline plot and the HTML written: the
   cost of the report itself;
2. whole processes: ``mesocli scan`` vs ``mesocli scan --report FILE`` (start-up included), with each
   process's peak resident memory (``wait4``) and the report's size.

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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CLIP = "videos/real/ffpp_c23_youtube_519.mp4"


def median_pair(run_a, run_b, repeats: int) -> tuple[Any, Any]:
    """Medians of ``run_a`` and ``run_b`` (each a number, or a tuple of numbers taken item by item)."""
    a, b = [], []
    for _ in range(repeats):
        a.append(run_a())
        b.append(run_b())

    def median(values: list[Any]) -> Any:
        if isinstance(values[0], tuple):
            return tuple(statistics.median(column) for column in zip(*values, strict=True))
        return statistics.median(values)

    return median(a), median(b)


def warm(inputs: list[Path], frames: int, repeats: int, out: Path) -> tuple[float, float]:
    from mesocli.report import Explainer
    from mesocli.runtime import resolve
    from mesocli.scan import ScanOptions, scan_inputs

    loaded = resolve(None, "df", None)  # what `mesocli scan` runs: ONNX Runtime
    options = ScanOptions(frames=frames)
    paths = [str(p) for p in inputs]

    def plain() -> float:
        start = time.perf_counter()
        results = list(scan_inputs(paths, loaded, options))
        assert any(r.status == "ok" for r in results), results[0].error
        return time.perf_counter() - start

    def with_report() -> float:
        start = time.perf_counter()
        explainer = Explainer(loaded, report=out / "warm.html", threshold=options.threshold,
                              smooth=options.smooth, force=True)
        for result in scan_inputs(paths, loaded, options, observer=explainer.observer):
            explainer.add(result)
        explainer.finish()
        return time.perf_counter() - start

    plain(), with_report()  # import matplotlib, open the sessions: not timed
    return median_pair(plain, with_report, repeats)


def process(inputs: list[Path], frames: int, repeats: int, out: Path) -> tuple[Any, Any]:
    """(wall s, peak RSS MB) of whole ``mesocli scan`` processes, without and with ``--report``."""

    def run(*extra: str) -> tuple[float, float]:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *map(str, inputs), "--frames", str(frames),
                                  "-q", "--format", "json", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        error = child.stderr.read().decode(errors="replace") if child.stderr else ""
        assert child.returncode in (0, 1, 3), error
        return wall, usage.ru_maxrss / 1024  # KiB on Linux

    return median_pair(lambda: run(), lambda: run("--report", str(out / "cold.html"), "--force"), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--video", type=Path, nargs="+", default=None, help="clips, stills or folders to scan")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs = args.video or [args.shared / CLIP]
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        sys.exit(f"benchmarks/report.py: {', '.join(missing)} not found (third-party clip; pass --shared DIR or "
                 "--video PATH)")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {', '.join(p.name for p in inputs)}, "
          f"{args.frames} frames, median of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        # the processes first: a child's peak memory counts its parent's at the fork (Linux keeps it across exec)
        (plain, plain_rss), (report, report_rss) = process(inputs, args.frames, args.repeats, out)
        size = (out / "cold.html").stat().st_size
        print(f"  mesocli scan (process)           {plain:7.2f} s   peak RSS {plain_rss:6.0f} MB")
        print(f"  mesocli scan --report (process)  {report:7.2f} s   peak RSS {report_rss:6.0f} MB   ratio "
              f"{report / plain:.2f} (+{100 * (report / plain - 1):.0f} %; report {size / 1e6:.2f} MB)")
        plain, report = warm(inputs, args.frames, args.repeats, out)
        print(f"  warm scan                        {plain:7.2f} s")
        print(f"  warm scan + report               {report:7.2f} s   ratio {report / plain:.2f} "
              f"(+{100 * (report / plain - 1):.0f} %)")


if __name__ == "__main__":
    main()
