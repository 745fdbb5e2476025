"""CPU time and size of a scan's error rates (each row's ``error_rates``), by the models a scan can load.

    .venv/bin/python benchmarks/scan_rates.py [--repeats 40]

A scan counts them once per run (``mesocli.scan.run_rates``: :func:`mesocli.rates.for_scan` for a video row and an
image row) from the bundled model cards, read anew for each repeat as a scan loads them; no network is run. Prints
the CPU time (user + sys, ``time.process_time``: wall time on a shared machine is disturbed by others) of the
fastest and the median repeat, and the JSON size of a video row's ``error_rates``, for one network, ``--model
any``, ``--arch ensemble`` and ``--model any --arch ensemble``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any


def _models() -> dict[str, Any]:
    """Each kind of loaded model, of the bundled cards (read anew), without their networks."""
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.weights import LoadedModel, ModelCard, bundled_dir

    def network(arch: str, manipulation: str) -> LoadedModel:
        card = ModelCard.from_json(bundled_dir() / f"{arch}_{manipulation}.json")
        return LoadedModel(arch, card.name, bundled_dir() / card.weights_file, card.sha256, None, card)

    nets = ("meso4", "mesoinception4")
    return {"meso4_df": network("meso4", "df"),
            "--model any": DetectorSet("meso4", {m: network("meso4", m) for m in ("df", "f2f", "fs")}),
            "--arch ensemble": Ensemble("df", {arch: network(arch, "df") for arch in nets}),
            "--model any --arch ensemble": DetectorSet("ensemble", {m: Ensemble(m, {a: network(a, m) for a in nets})
                                                                    for m in ("df", "f2f", "fs")})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    from mesocli.rates import for_scan

    loads = [_models() for _ in range(args.repeats + 1)]
    for kind in loads[0]:
        for_scan(loads[0][kind], 0.5, "mean", ("frames", 30), False, "hog")  # imports, caches
        spent, video = [], None
        for made in loads[1:]:
            start = time.process_time()
            video = for_scan(made[kind], 0.5, "mean", ("frames", 30), False, "hog")
            for_scan(made[kind], 0.5, None, None, detector="hog")
            spent.append(time.process_time() - start)
        size = len(json.dumps({"error_rates": video}))
        print(f"{kind:28s} CPU per run: fastest {1e6 * min(spent):6.0f} µs, median "
              f"{1e6 * statistics.median(spent):6.0f} µs; a video row's error_rates: {size} bytes")


if __name__ == "__main__":
    main()
