"""Average a training run's per-epoch weights (or interpolate them with the weights the run started
from) and score the result on the run's own held-out part.

Usage (from the repository root)::

    .venv/bin/python scripts/average_checkpoints.py runs/meso4_df [--epochs 1 2 3] [--dry-run]
    .venv/bin/python scripts/average_checkpoints.py runs/meso4_df --epochs 1 --alphas 0 0.25 0.5 0.75 1

Prints the held-out figures of the mean beside those of the run's best epoch (JSON) and, unless
``--dry-run``, writes ``RUN_DIR/averaged.weights.h5`` with its model card (``averaged.json``), which
``scripts/bundle_weights.py RUN_DIR --weights averaged`` bundles. Keep the mean only when its held-out
figure (the one the run selects by: ``--select``) beats the best epoch's. With ``--alphas``, the mean
of the epochs is interpolated with the run's ``--init-weights``, ``(1 − α)·start + α·mean``, every α is
scored, and the best one is kept (α = 1 is the mean itself, α = 0 the start).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mesocli.averaging import average_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, nargs="+", help="epochs to average (default: every kept epoch)")
    parser.add_argument("--dry-run", action="store_true", help="score the mean without writing it")
    parser.add_argument("--alphas", type=float, nargs="+",
                        help="interpolate with the run's starting weights at each α in [0, 1]; keep the best")
    parser.add_argument("--start", type=Path,
                        help="interpolate with this weights file instead of the run's --init-weights")
    args = parser.parse_args()
    result = average_run(args.run_dir, args.epochs, write=not args.dry_run, progress=False, alphas=args.alphas,
                         start=args.start)
    print(json.dumps(result.to_dict(), indent=1))


if __name__ == "__main__":
    from mesocli.errors import MesocliError

    try:
        main()
    except MesocliError as exc:  # a refused run or start file, a damaged checkpoint: one line, not a traceback
        sys.exit(f"error: {exc}")
