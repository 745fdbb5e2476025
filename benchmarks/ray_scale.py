"""Benchmark ``mesocli scan --engine ray``: throughput with 1 and 2 workers, and CPU-seconds per video.

    .venv/bin/python benchmarks/ray_scale.py [--shared ../shared] [--frames 30] [--workers 1 2]

On the 8 clips of ``../shared/videos`` (needs the ``ray`` extra):

1. the local engine, in this process, after a warm-up scan: wall time and CPU time (this process
   plus its ffmpeg children) per video, for each clip alone (with its size and duration: ffmpeg
   decodes a clip to its end, so the cost grows with both) and for all 8 in one scan;
2. for each worker count, a fresh local Ray with that many CPUs: the whole job's wall time (Ray
   start, one model load per worker, the scans) and the steady throughput (clips/s from the first
   input handed to a worker to the last result), with the ratio to 1 worker.

Prints JSON. The machine's load average is printed too: on a shared machine the figures depend on
what else runs, so compare ratios measured in one run.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg decoders)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    from mesocli.inputs import plan_inputs
    from mesocli.ray_engine import RayScan, require_ray
    from mesocli.scan import ScanOptions, scan_inputs
    from mesocli.weights import resolve_model

    ray = require_ray()
    videos = args.shared / "videos"
    items = plan_inputs([str(videos)])
    options = ScanOptions(frames=args.frames)
    loader = functools.partial(resolve_model, None, "df", None)
    report: dict = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                    "load_average_before": os.getloadavg(), "clips": len(items), "frames": args.frames}

    from mesocli.probe import probe_video

    loaded = loader()
    list(scan_inputs(items[:1], loaded, options))  # warm-up: graph traced, caches filled
    per_clip = []
    for item in items:  # CPU per clip against what decoding it costs: duration x pixels
        info, cpu = probe_video(item), cpu_seconds()
        (result,) = scan_inputs([item], loaded, options)
        per_clip.append({"clip": Path(item).relative_to(videos).as_posix(), "size": f"{info.width}x{info.height}",
                         "duration_s": round(info.duration or 0, 1), "cpu_s": round(cpu_seconds() - cpu, 2),
                         "wall_s": result.seconds})
    report["per_clip"] = per_clip
    cpu, wall = cpu_seconds(), time.perf_counter()
    local = list(scan_inputs(items, loaded, options))
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    report["local"] = {"wall_s": round(wall, 2), "clips_per_s": round(len(items) / wall, 3),
                       "wall_s_per_clip": round(wall / len(items), 2), "cpu_s_per_clip": round(cpu / len(items), 2),
                       "statuses": sorted({r.status for r in local})}

    runs = []
    for workers in args.workers:
        started = time.perf_counter()
        ray.init(address="local", num_cpus=workers, include_dashboard=False, object_store_memory=128 << 20,
                 log_to_driver=False, logging_level="ERROR")
        try:
            job = RayScan(items, loader, options, workers=workers)
            rows = list(job.results())
            ended = time.perf_counter()
        finally:
            ray.shutdown()
        steady = ended - (job.first_task or started)
        runs.append({"workers": workers, "wall_s_total": round(ended - started, 2), "steady_s": round(steady, 2),
                     "clips_per_s": round(len(rows) / steady, 3), "statuses": sorted({r["status"] for r in rows})})
    for run in runs:
        run["speedup_vs_first"] = round(run["clips_per_s"] / runs[0]["clips_per_s"], 2)
    report["ray"] = runs
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
