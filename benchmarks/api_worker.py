"""A long-running worker on the Python API: one model loaded once, ``mesocli.scan`` called again and again.

    .venv/bin/python benchmarks/api_worker.py [--calls 120] [--every 10] [--model df] [--media DIR]

Each call scans a face image and a face video (tests/media.py's astronaut, made once in ``--media``, by default a
temporary folder removed at the end). After the 1st, 2nd, 5th and every ``--every``-th call it prints the
process's resident memory, its threads, open file descriptors and Python objects (after a garbage collection),
then the CPU time (user + sys) of all the calls. Nothing may grow call after call but the resident size, by
glibc's memory arenas settling; run it again under ``MALLOC_ARENA_MAX=2`` to see that part go.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def resident_mb() -> int:
    """The process's resident memory (VmRSS), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=120)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--model", default="df")
    parser.add_argument("--media", type=Path, help="where to make the two files (kept); default: a temporary folder")
    args = parser.parse_args()

    import mesocli

    root = args.media or Path(tempfile.mkdtemp(prefix="mesocli-api-worker-"))
    try:
        made = subprocess.run(  # in a process of its own: this one imports what a worker imports, no more
            [sys.executable, "-c", "import sys; from pathlib import Path; from media import MediaKit; "
             "kit = MediaKit(Path(sys.argv[1])); print(kit.face_jpeg); print(kit.face_video)", str(root)],
            cwd=REPO / "tests", capture_output=True, text=True, check=True)
        inputs = made.stdout.split("\n")[:2]
        print(f"load average {os.getloadavg()[0]:.1f}; MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}")
        model = mesocli.load_model(args.model)
        started = time.process_time()
        for call in range(1, args.calls + 1):
            results = mesocli.scan(inputs, model=model)
            assert all(result.status == "ok" for result in results), [result.error for result in results]
            if call in (1, 2, 5) or call % args.every == 0:
                gc.collect()
                print(f"call {call:4d}: {resident_mb()} MB resident, {threading.active_count()} threads, "
                      f"{len(os.listdir('/proc/self/fd'))} file descriptors, {len(gc.get_objects())} objects",
                      flush=True)
        print(f"CPU time (user + sys) of the calls: {time.process_time() - started:.1f} s")
    finally:
        if args.media is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
