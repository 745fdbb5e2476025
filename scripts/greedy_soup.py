"""Greedy model soup: average the weights of several fine-tunes, keeping only those that help.

Usage (from the repository root)::

    .venv/bin/python scripts/greedy_soup.py runs/meso4_df_ffpp2 runs/meso4_df/checkpoints/epoch_00*.weights.h5 \
        runs/meso4_df_ffpp2/checkpoints/epoch_00*.weights.h5 [--dry-run]

Every candidate must come from a run that drew the same held-out part as RUN_DIR (same sources, seed
and fraction; checked). Candidates are ranked by their held-out figure; the best starts the soup and
each next one stays when the mean with it scores at least as well on RUN_DIR's held-out part. Prints
every candidate's figures and the soup's (JSON) and, unless ``--dry-run``, writes
``RUN_DIR/averaged.weights.h5`` with its card (each ingredient: its run, epoch and sha256, and the
weights its run started from; docs/training.md), which ``scripts/bundle_weights.py RUN_DIR --weights
averaged`` bundles. A candidate's run whose ``best.json`` names other start weights than its
``config.json`` is said in one line on stderr (config.json's are used).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mesocli.averaging import greedy_soup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="the run whose held-out part scores the soup")
    parser.add_argument("candidates", type=Path, nargs="+", help="weights files of runs with the same held-out part")
    parser.add_argument("--dry-run", action="store_true", help="score the soup without writing it")
    args = parser.parse_args()
    result = greedy_soup(args.run_dir, args.candidates, write=not args.dry_run, progress=False)
    print(json.dumps(result.to_dict(), indent=1))


if __name__ == "__main__":
    from mesocli.errors import MesocliError

    try:
        main()
    except MesocliError as exc:  # a refused run or start file, a damaged checkpoint: one line, not a traceback
        sys.exit(f"error: {exc}")
