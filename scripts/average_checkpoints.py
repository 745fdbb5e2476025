"""Average a training run's per-epoch weights and score the mean on the run's own held-out part.

Usage (from the repository root)::

    .venv/bin/python scripts/average_checkpoints.py runs/meso4_df [--epochs 1 2 3] [--dry-run]

Prints the held-out figures of the mean beside those of the run's best epoch (JSON) and, unless
``--dry-run``, writes ``RUN_DIR/averaged.weights.h5`` with its model card (``averaged.json``), which
``scripts/bundle_weights.py RUN_DIR --weights averaged`` bundles. Keep the mean only when its held-out
figure (the one the run selects by: ``--select``) beats the best epoch's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mesocli.averaging import average_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, nargs="+", help="epochs to average (default: every kept epoch)")
    parser.add_argument("--dry-run", action="store_true", help="score the mean without writing it")
    args = parser.parse_args()
    result = average_run(args.run_dir, args.epochs, write=not args.dry_run, progress=False)
    print(json.dumps(result.to_dict(), indent=1))


if __name__ == "__main__":
    main()
