"""What a training run writes at the end of every epoch besides weights: its resumable state and its log.

The state is ``checkpoint/state.json`` (:class:`TrainState`) with ``checkpoint/last.npz`` (every model
and optimizer variable, in order); the log is ``log.csv``, ``log.json`` and the ``training.png`` plot,
one row per epoch. Every file is written atomically.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.errors import UsageError
from mesocli.fsutil import atomic_path, atomic_write_text
from mesocli.writers import csv_writer, spreadsheet_safe

STATE_FILE = "state.json"
VARIABLES_FILE = "last.npz"


@dataclass
class TrainState:
    """Progress of a run: what --resume needs besides the variables."""

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    best_epoch: int | None = None
    best_score: list[float] = field(default_factory=lambda: [-math.inf, -math.inf])
    stale_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False
    # the current epoch's running totals, so that a resumed epoch's log row covers the whole epoch
    epoch_loss: float = 0.0  # sum of its batches' mean losses
    epoch_accuracy: float = 0.0  # sum of its batches' accuracies
    # faces called right (None: a state saved mid-epoch before they were counted; its row keeps the batches' mean)
    epoch_correct: float | None = 0.0
    epoch_seconds: float = 0.0  # time spent on its batches
    split_sha256: str | None = None  # the training and held-out files the run started with (None: older runs)
    data_sha256: str | None = None  # the bytes of those files (None: runs saved before this check)

    def next_epoch(self) -> None:
        """Point at the start of the next epoch: step and running totals at 0."""
        self.epoch += 1
        self.step = 0
        self.epoch_loss = self.epoch_accuracy = self.epoch_seconds = 0.0
        self.epoch_correct = 0.0


STATE_KEY = "state"  # in last.npz: the state its variables belong to (state.json as it is to be written)


def save_state(run_dir: Path, state: TrainState, variables: list[Any]) -> None:
    """Write the variables with their state, then ``state.json``: cut between the two (``kill -9``, a full disk),
    :func:`load_state` still finds the state the variables belong to."""
    folder = run_dir / "checkpoint"
    text = json.dumps(asdict(state), indent=1)
    arrays = {f"v{i}": v.numpy() for i, v in enumerate(variables)}
    arrays[STATE_KEY] = np.frombuffer(text.encode(), dtype=np.uint8)
    with atomic_path(folder / VARIABLES_FILE, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    atomic_write_text(folder / STATE_FILE, text)


def _progress(state: TrainState | dict[str, Any]) -> tuple[Any, ...]:
    """How far a state (or ``state.json`` as read) got: epoch, step, global step."""
    fields = state if isinstance(state, dict) else asdict(state)
    return fields.get("epoch"), fields.get("step"), fields.get("global_step")


def current_state(run_dir: Path, saved: Any) -> Any:
    """What :func:`load_state` resumes from, without the variables: ``saved`` (``state.json`` as read), or the
    state in ``last.npz`` when its variables are at another step (a checkpoint cut after ``last.npz``). ``saved``
    when ``last.npz`` holds no state or cannot be read (:func:`load_state` reports a damaged one)."""
    try:
        with np.load(run_dir / "checkpoint" / VARIABLES_FILE) as arrays:
            if STATE_KEY not in arrays.files or not isinstance(saved, dict):
                return saved
            inner = json.loads(arrays[STATE_KEY].tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return saved
    return inner if isinstance(inner, dict) and _progress(inner) != _progress(saved) else saved


def load_state(run_dir: Path, variables: list[Any], arch: str) -> TrainState:
    """Read the state and assign the saved values to ``variables``; a damaged checkpoint is a UsageError.

    ``state.json`` is the state, unless the variables were saved at another step than it says (the checkpoint
    was cut after ``last.npz``): then the state saved with them."""
    folder = run_dir / "checkpoint"
    try:
        saved = json.loads((folder / STATE_FILE).read_text())
        if isinstance(saved, dict) and "epoch_correct" not in saved:  # saved before faces were counted
            saved["epoch_correct"] = None if saved.get("step") else 0.0
        state = TrainState(**saved)
        with np.load(folder / VARIABLES_FILE) as arrays:
            names = [name for name in arrays.files if name != STATE_KEY]
            if len(names) != len(variables):
                raise UsageError(f"{folder}: checkpoint does not match {arch}")
            if STATE_KEY in arrays.files:  # saved since this check (older checkpoints: state.json alone)
                saved = TrainState(**json.loads(arrays[STATE_KEY].tobytes().decode()))
                if _progress(saved) != _progress(state):
                    state = saved
            for i, variable in enumerate(variables):
                variable.assign(arrays[f"v{i}"])
    except (OSError, ValueError, TypeError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise UsageError(f"{folder}: damaged checkpoint, cannot resume ({type(exc).__name__}: {exc})") from None
    return state


LOG_COLUMNS = ("epoch", "learning_rate", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy",
               "heldout_auc", "heldout_mse", "seconds", "images_per_second")
"""The order of ``log.csv``'s columns (those a run logs; ``heldout_*`` without a held-out part are left out, and
``heldout_mse`` is only in a run re-scored on resume), then each source's held-out figures
(``heldout_loss_source0``, ``heldout_accuracy_source0``, …, in the order of :data:`LOG_COLUMNS`, sources by number),
then any other key of a row, alphabetically."""
_PER_SOURCE = re.compile(r"(heldout_\w+?)_source(\d+)")


def log_columns(history: list[dict[str, Any]]) -> list[str]:
    """The columns of ``log.csv`` for ``history``: every key of its rows, in the order :data:`LOG_COLUMNS` says
    (the same for every run of the same sources, whatever order its rows hold their keys in)."""

    def rank(key: str) -> tuple[int, int, int, str]:
        if key in LOG_COLUMNS:
            return 0, 0, LOG_COLUMNS.index(key), ""
        if (per := _PER_SOURCE.fullmatch(key)) and per[1] in LOG_COLUMNS:
            return 1, int(per[2]), LOG_COLUMNS.index(per[1]), ""
        return 2, 0, 0, key

    return sorted({key for row in history for key in row}, key=rank)


def write_log(run_dir: Path, history: list[dict[str, Any]], best_epoch: int | None = None) -> None:
    """``log.csv`` (columns: :func:`log_columns`) and ``log.json`` (one row per epoch) and their plot,
    ``training.png`` (``best_epoch`` marked). Both files are written whole each time: one header, every row."""
    keys = log_columns(history)
    with atomic_path(run_dir / "log.csv") as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle, keys)
        writer.writeheader()
        writer.writerows(history)
    atomic_write_text(run_dir / "log.json", json.dumps(history, indent=1))
    plot_history(history, run_dir / "training.png", best_epoch)


SPLIT_FILE = "split.csv"
SPLIT_COLUMNS = ("source", "path", "label", "video", "part")


def write_split(run_dir: Path, rows: list[tuple[int, str, str, str, str]]) -> None:
    """``split.csv``: every file of a run's sources, one row each (:data:`SPLIT_COLUMNS`: the source's number in
    ``config.json``, the path within its root, df or real, the video id or empty, and the part it is in:
    ``train``, ``heldout``, ``dropped`` (a held-out person's face in another source) or ``unreadable``)."""
    with atomic_path(run_dir / SPLIT_FILE, suffix=".csv") as tmp, open(
        tmp, "w", newline="", encoding="utf-8", errors="backslashreplace"
    ) as handle:
        writer = csv_writer(handle)
        writer.writerow(SPLIT_COLUMNS)
        for source, path, label, video, part in rows:
            writer.writerow([source, spreadsheet_safe(path), label, spreadsheet_safe(video), part])


def plot_history(history: list[dict[str, Any]], target: Path, best_epoch: int | None = None) -> None:
    """Training and held-out loss and accuracy per epoch, side by side, as a PNG."""
    fig = history_figure(history, best_epoch)
    import matplotlib.pyplot as plt  # loaded by history_figure, under its warning filters

    try:
        with atomic_path(target, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=90)
    finally:
        plt.close(fig)


def history_figure(history: list[dict[str, Any]], best_epoch: int | None = None) -> Any:
    """The figure of :func:`plot_history` (matplotlib, Agg): a marker per epoch (a one-epoch run is one point), ticks
    on whole epochs, and a dashed line at ``best_epoch``, the epoch kept as ``best.weights.h5``."""
    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    with their_deprecations(*MATPLOTLIB):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [row.get("train_loss") for row in history], marker="o", markersize=4, label="train")
    ax_loss.plot(epochs, [row.get("heldout_loss") for row in history], marker="o", markersize=4, label="held-out")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, [row.get("train_accuracy") for row in history], marker="o", markersize=4, label="train")
    ax_acc.plot(epochs, [row.get("heldout_accuracy") for row in history], marker="o", markersize=4, label="held-out")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.4", linestyle="--", linewidth=1, label=f"kept (epoch {best_epoch})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
