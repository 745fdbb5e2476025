"""Checkpoint averaging: the mean of a run's per-epoch weights, scored on the run's own held-out part.

A run keeps every epoch's weights in ``RUN_DIR/checkpoints/epoch_NNN.weights.h5``. Their element-wise
mean (batch-norm statistics included) often generalises better than any single epoch; whether it
does here is decided the way the run chose its epoch, on the held-out part it drew (same seed, same
identity groups), never on a test split. The result is written beside ``best.weights.h5`` as
``averaged.weights.h5`` with its model card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.errors import UsageError
from mesocli.training import Trainer, read_config
from mesocli.weights import ModelCard

AVERAGED = "averaged.weights.h5"
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.weights\.h5")


@dataclass
class AveragedRun:
    """What averaging gave: the epochs used, their mean's held-out figures beside the best epoch's."""

    run_dir: Path
    epochs: list[int]
    heldout: dict[str, float]
    best_epoch: int | None
    best_heldout: dict[str, float]
    path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "epochs": self.epochs, "heldout": self.heldout,
                "best_epoch": self.best_epoch, "best_heldout": self.best_heldout,
                "path": str(self.path) if self.path else None}


def epoch_files(run_dir: Path) -> dict[int, Path]:
    """The per-epoch weights a run kept, by epoch number."""
    found = {}
    for path in (Path(run_dir) / "checkpoints").glob("epoch_*.weights.h5"):
        match = _EPOCH_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def average_run(run_dir: Path, epochs: list[int] | None = None, write: bool = True,
                progress: bool = True) -> AveragedRun:
    """Average the weights of ``epochs`` (default: every kept epoch) of the run in ``run_dir``, score the
    mean on the run's held-out part and, with ``write``, save it as ``RUN_DIR/averaged.weights.h5``."""
    run_dir = Path(run_dir)
    files = epoch_files(run_dir)
    chosen = sorted(set(epochs)) if epochs else list(files)
    missing = [epoch for epoch in chosen if epoch not in files]
    if missing or len(chosen) < 2:
        kept = ", ".join(map(str, files)) or "none"
        raise UsageError(f"{run_dir}: need at least two kept epochs to average (asked {chosen or 'all'}; "
                         f"kept: {kept})")
    trainer = Trainer(read_config(run_dir), run_dir, progress)
    trainer.prepare()
    stacks = []
    for epoch in chosen:
        trainer.model.load_weights(files[epoch])
        stacks.append(trainer.model.get_weights())
    trainer.model.set_weights([np.mean(np.stack(arrays), axis=0).astype(arrays[0].dtype)
                               for arrays in zip(*stacks, strict=True)])
    heldout = trainer.evaluate_heldout()
    best_epoch, best_heldout = None, {}
    if (run_dir / "best.json").exists():
        card = ModelCard.from_json(run_dir / "best.json")
        best_epoch, best_heldout = card.epochs, card.metrics.get("heldout", {})
    path = None
    if write:
        path = run_dir / AVERAGED
        trainer.save_model(path, max(chosen), heldout, averaged_epochs=chosen)
    return AveragedRun(run_dir, chosen, heldout, best_epoch, best_heldout, path)
