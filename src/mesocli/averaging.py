"""Weight averaging, scored on the run's own held-out part.

A run keeps every epoch's weights in ``RUN_DIR/checkpoints/epoch_NNN.weights.h5``. Their element-wise
mean (batch-norm statistics included) often generalises better than any single epoch. A warm-started
run can also be *interpolated* with the weights it started from, ``(1 − α)·start + α·fine-tuned``
(weight-space ensembling, "WiSE-FT", Wortsman et al., CVPR 2022), which often keeps what the start
knew of other data while adding what fine-tuning learnt. Whether either helps is decided the way the
run chose its epoch, on the held-out part it drew (same seed, same identity groups), never on a test
split. The result is written beside ``best.weights.h5`` as ``averaged.weights.h5`` with its model card.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.checkpoint import STATE_FILE
from mesocli.digest import sha256_file
from mesocli.errors import UsageError
from mesocli.progress import note
from mesocli.training import Trainer, read_config, selection_score, start_record_of
from mesocli.weights import ModelCard, card_path_for

AVERAGED = "averaged.weights.h5"
_EPOCH_FILE = re.compile(r"epoch_(\d+)\.weights\.h5")


@dataclass
class AveragedRun:
    """What averaging gave: the epochs used, the kept weights' held-out figures beside the best epoch's,
    and, for an interpolation with the start, the α kept and every α tried with its held-out figures."""

    run_dir: Path
    epochs: list[int]
    heldout: dict[str, float]
    best_epoch: int | None
    best_heldout: dict[str, float]
    path: Path | None
    alpha: float | None = None
    sweep: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "epochs": self.epochs, "alpha": self.alpha,
                "heldout": self.heldout, "best_epoch": self.best_epoch, "best_heldout": self.best_heldout,
                "sweep": self.sweep, "path": str(self.path) if self.path else None}


def epoch_files(run_dir: Path) -> dict[int, Path]:
    """The per-epoch weights a run kept, by epoch number."""
    found = {}
    for path in (Path(run_dir) / "checkpoints").glob("epoch_*.weights.h5"):
        match = _EPOCH_FILE.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def average_run(run_dir: Path, epochs: list[int] | None = None, write: bool = True, progress: bool = True,
                alphas: Sequence[float] | None = None, start: Path | None = None,
                log: Callable[[str], None] = note) -> AveragedRun:
    """Average the weights of ``epochs`` (default: every kept epoch) of the run in ``run_dir`` and score the
    mean on the run's held-out part. With ``alphas``, the mean (one epoch is enough) is interpolated with
    the run's starting weights (``--init-weights``; ``start``: any weights file of the network, such as the
    first run of a chain of warm starts) at each α, and the α whose held-out figure the run selects by
    (``--select``) is best is kept. With ``write``, the kept weights are saved as
    ``RUN_DIR/averaged.weights.h5``. ``log``: told the one-line note of a run whose ``best.json`` names other start
    weights than its ``config.json`` (:func:`mesocli.training.start_record_of`; said by the run's notes with
    ``progress``)."""
    run_dir = Path(run_dir)
    files = epoch_files(run_dir)
    chosen = sorted(set(epochs)) if epochs else list(files)
    missing = [epoch for epoch in chosen if epoch not in files]
    needed = 1 if alphas else 2
    if missing or len(chosen) < needed:
        kept = ", ".join(map(str, files)) or "none"
        what = "one kept epoch to interpolate" if alphas else "two kept epochs to average"
        raise UsageError(f"{run_dir}: need at least {what} (asked {chosen or 'all'}; kept: {kept})")
    config = read_config(run_dir)
    if alphas and not (start or config.init_weights):
        raise UsageError(f"{run_dir}: the run did not start from weights (--init-weights); nothing to "
                         "interpolate with (give a start file)")
    if alphas and any(not 0 <= alpha <= 1 for alpha in alphas):
        raise UsageError(f"interpolation weights must lie in [0, 1] (got {list(alphas)})")
    with_start = bool(alphas) and not start  # the run's own init weights are read (their only use after the start)
    if not progress or with_start:  # else the run's own notes say it (its weights read from a checkpoint)
        _say_start_differs([run_dir], log)
    if with_start:  # refused before the data is read and decoded
        _check_start(config, run_dir)
    trainer = _prepared(config, run_dir, progress, from_checkpoint=not with_start)
    if start:
        from mesocli.weights import load_weights

        origin = load_weights(Path(start), config.arch).model.get_weights()
    else:
        origin = trainer.model.get_weights()
    if with_start:  # replaced since the check above
        _check_start(config, run_dir, trainer.start_record)
    stacks = []
    for epoch in chosen:
        trainer.model.load_weights(files[epoch])
        stacks.append(trainer.model.get_weights())
    mean = _mean(stacks)
    alpha, sweep = None, None
    if alphas:
        sweep = []
        for candidate in alphas:
            trainer.model.set_weights(_interpolate(origin, mean, candidate))
            sweep.append({"alpha": candidate, "heldout": trainer.evaluate_heldout()})
        kept = max(sweep, key=lambda tried: selection_score(config.select, tried["heldout"]))
        alpha, heldout = kept["alpha"], kept["heldout"]
        trainer.model.set_weights(_interpolate(origin, mean, alpha))
    else:
        trainer.model.set_weights(mean)
        heldout = trainer.evaluate_heldout()
    best_epoch, best_heldout = None, {}
    if (run_dir / "best.json").exists():
        card = ModelCard.from_json(run_dir / "best.json")
        best_epoch, best_heldout = card.epochs, card.metrics.get("heldout", {})
    path = None
    if write:
        path = run_dir / AVERAGED
        extra = {"interpolated_with_start": alpha} if alphas else {}
        if alphas and start:
            extra["start"] = {"file": Path(start).name, "sha256": sha256_file(Path(start))}
        trainer.save_model(path, max(chosen), heldout, averaged_epochs=chosen, **extra)
    return AveragedRun(run_dir, chosen, heldout, best_epoch, best_heldout, path, alpha, sweep)


def _prepared(config: Any, run_dir: Path, progress: bool, from_checkpoint: bool = True) -> Trainer:
    """A :class:`Trainer` of the run in ``run_dir`` with its data read and held-out part drawn; UsageError if
    the data changed since the run saved its state (another held-out part than the one it selected on).
    ``from_checkpoint``: the weights will be replaced, so the run's init weights file is not read (its record,
    from the run's start, names it in the cards)."""
    trainer = Trainer(config, run_dir, progress, from_checkpoint=from_checkpoint)
    trainer.prepare()
    trainer.check_split_unchanged(_saved_split(run_dir), _saved_split(run_dir, "data_sha256"))
    return trainer


def _check_start(config: Any, run_dir: Path, loaded: dict[str, Any] | None = None) -> None:
    """Refuse (UsageError) to interpolate with the run's init weights file when it is gone or holds other weights than
    the run started from (replaced since): the run's start would not be what is mixed in. ``loaded``: the record of
    the file as loaded (else it is hashed now)."""
    path = Path(config.located(config.init_weights))
    if loaded is None and not path.is_file():
        raise UsageError(f"{config.init_weights}: the weights the run started from are gone; nothing to "
                         "interpolate with (give them, or another start file, with --start)")
    recorded = Trainer(config, run_dir, progress=False).recorded_start()
    if recorded is None:  # a run of an older version that says nothing of its start: the file as it is
        return
    try:
        now = loaded["sha256"] if loaded is not None else sha256_file(path)
    except OSError:  # unreadable: loading it says so
        return
    if now is not None and recorded["sha256"] != now:
        raise UsageError(f"{config.init_weights}: holds other weights than the run started from (sha256 "
                         f"{now[:12]}…, the run's start {recorded['sha256'][:12]}…); give the weights it "
                         "started from with --start")


def _saved_split(run_dir: Path, key: str = "split_sha256") -> str | None:
    """The ``split_sha256`` (or another ``key``) a run saved in its state; None without one (no state, an
    unreadable one, an older run)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return json.loads((run_dir / "checkpoint" / STATE_FILE).read_text()).get(key)
    return None


def _interpolate(start: list[np.ndarray], end: list[np.ndarray], alpha: float) -> list[np.ndarray]:
    """``(1 − alpha)·start + alpha·end``, array by array, in each array's dtype."""
    return [((1 - alpha) * first + alpha * second).astype(second.dtype)
            for first, second in zip(start, end, strict=True)]


@dataclass
class Soup:
    """A greedy soup: each candidate's own held-out figures, the ingredients kept, and the soup's."""

    run_dir: Path
    candidates: list[dict[str, Any]]
    ingredients: list[str]
    heldout: dict[str, float]
    path: Path | None

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "candidates": self.candidates, "ingredients": self.ingredients,
                "heldout": self.heldout, "path": str(self.path) if self.path else None}


def heldout_key(config: Any) -> tuple[Any, ...]:
    """What fixes a run's held-out part: its sources' files (root as the run opens it, split, methods, every)
    and how each is held out (``heldout``, ``runs``), the seed of the draw (``--heldout-seed``, else
    ``--seed``), the held-out fraction and the file limit; not the loss shares or anything about training
    itself."""
    sources = tuple((os.path.abspath(config.located(source.root)), source.split, tuple(source.methods or ()),
                     source.every, source.heldout, source.runs) for source in config.source_list())
    return sources, config.split_seed, config.val_fraction, config.limit


def run_of(weights: Path) -> Path:
    """The run folder a weights file belongs to (``RUN/best.weights.h5`` or ``RUN/checkpoints/epoch_N…``)."""
    weights = Path(weights)
    return weights.parent.parent if weights.parent.name == "checkpoints" else weights.parent


def greedy_soup(run_dir: Path, candidates: Sequence[Path], write: bool = True, progress: bool = True,
                log: Callable[[str], None] = note) -> Soup:
    """Greedy model soup (Wortsman et al., ICML 2022) scored on the held-out part of the run in ``run_dir``.

    Every candidate must come from a run that drew the same held-out part (same sources, seed and
    fraction; checked), so that none of them trained on a held-out face. Candidates are ranked by
    their own held-out figure (the run's ``--select``); the best starts the soup, and each next one is
    kept when the mean of the soup with it scores at least as well. With ``write``, the soup is saved
    as ``RUN_DIR/averaged.weights.h5``, its card's ``soup`` naming each ingredient (:func:`ingredient`: its run,
    epoch and sha256, and the weights its run started from). ``log``: told the one-line note of each run (RUN_DIR's
    without ``progress``, which says it then) whose ``best.json`` names other start weights than its
    ``config.json``."""
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    paths = [Path(candidate) for candidate in candidates]
    if len(paths) < 2:
        raise UsageError("a soup needs at least two candidate weights files")
    for path in paths:
        if not path.is_file():
            raise UsageError(f"{path}: no such weights file")
        other = run_of(path)
        if not (other / "config.json").is_file() or heldout_key(read_config(other)) != heldout_key(config):
            raise UsageError(f"{path}: its run ({other}) did not draw the held-out part of {run_dir} "
                             "(other sources, held-out settings, seed or fraction), so it may have trained on "
                             "held-out faces")
    runs = list(dict.fromkeys(Path(os.path.abspath(run)) for run in (run_dir, *map(run_of, paths))))
    _say_start_differs(runs[1:] if progress else runs, log)  # with progress, RUN_DIR's own notes say it
    trainer = _prepared(config, run_dir, progress)
    for path in paths:
        saved = _saved_split(run_of(path))
        if saved is not None and saved != trainer.split_sha256():
            raise UsageError(f"{path}: its run ({run_of(path)}) trained and held out other files than {run_dir} has "
                             "now (the data changed between the runs), so it may have trained on held-out faces")
    weights = {}
    scored = []
    for path in paths:
        trainer.model.load_weights(path)
        weights[path] = trainer.model.get_weights()
        scored.append({"file": str(path), "heldout": trainer.evaluate_heldout()})
    scored.sort(key=lambda entry: selection_score(config.select, entry["heldout"]), reverse=True)
    soup = [Path(scored[0]["file"])]
    best = scored[0]["heldout"]
    for entry in scored[1:]:
        trial = [*soup, Path(entry["file"])]
        trainer.model.set_weights(_mean([weights[path] for path in trial]))
        heldout = trainer.evaluate_heldout()
        entry["soup_heldout"] = heldout
        if selection_score(config.select, heldout) >= selection_score(config.select, best):
            soup, best = trial, heldout
    trainer.model.set_weights(_mean([weights[path] for path in soup]))
    path = None
    if write:
        path = run_dir / AVERAGED
        ingredients = [ingredient(item) for item in soup]
        trainer.save_model(path, None, best, soup=ingredients)
    return Soup(run_dir, scored, [str(item) for item in soup], best, path)


def ingredient(path: Path) -> dict[str, Any]:
    """A soup's ingredient as its card names it: ``file`` (as given), ``run`` (its run folder's name), ``epoch``
    (of ``checkpoints/epoch_NNN.weights.h5``, else the one its own card names: a ``best.weights.h5``'s; None where
    none says, and for an average or a soup: its card names the epochs averaged, ``averaged_epochs`` (and
    ``interpolated_with_start``), or its own ingredients, ``soup``, which are added), ``sha256``, and ``start``: the
    weights its run started from (:func:`run_start`)."""
    path = Path(path)
    match = _EPOCH_FILE.fullmatch(path.name)
    epoch = int(match.group(1)) if match else None
    made: dict[str, Any] = {}
    if epoch is None:
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            card = json.loads(card_path_for(path).read_text())
            metrics = card.get("metrics") if isinstance(card.get("metrics"), dict) else {}
            made = {key: metrics[key] for key in ("averaged_epochs", "interpolated_with_start", "soup")
                    if key in metrics}
            found = card.get("epochs")  # an average's card names its last epoch: not the weights of that epoch
            epoch = found if isinstance(found, int) and not isinstance(found, bool) and not made else None
    run = run_of(path)
    return {"file": str(path), "run": Path(os.path.abspath(run)).name, "epoch": epoch, **made,
            "sha256": sha256_file(path), "start": run_start(run)}


def run_start(run_dir: Path) -> dict[str, Any] | None:
    """The weights the run in ``run_dir`` started from (``--init-weights``), for a soup's card: ``{file, sha256,
    recorded_in}``, ``recorded_in`` ``config.json`` (recorded when the run started) or ``best.json`` (a run of an
    older version records none in its config.json: as its best card names them, with a ``note`` saying so); a
    ``note`` too where best.json names other weights than config.json; ``sha256`` and ``recorded_in`` None, with a
    note, where neither records them. None for a run that started from random weights."""
    config = read_config(run_dir)
    if not config.init_weights:
        return None
    record, where, differs = start_record_of(config, run_dir)
    if record is None:
        return {"file": Path(str(config.init_weights)).name, "sha256": None, "recorded_in": None,
                "note": "not recorded: neither the run's config.json nor its best.json names the sha256 of its start "
                        "(a run of an older version)"}
    entry: dict[str, Any] = {"file": record["file"], "sha256": record["sha256"], "recorded_in": where}
    if where == "best.json":
        entry["note"] = ("the run's config.json records no start (a run of an older version): as its best.json names "
                         "it")
    elif differs:
        entry["note"] = differs.removeprefix("note: ")
    return entry


def _say_start_differs(runs: Sequence[Path], log: Callable[[str], None]) -> None:
    """Tell ``log`` the note of each run in ``runs`` whose best.json names other start weights than its config.json
    (a run of an older version resumed); the runs' configs are read (unreadable ones are refused later)."""
    for run in runs:
        with contextlib.suppress(UsageError):
            differs = start_record_of(read_config(run), run)[2]
            if differs:
                log(differs)


def _mean(stacks: list[list[np.ndarray]]) -> list[np.ndarray]:
    """The element-wise mean of several models' weight lists, in each array's dtype."""
    return [np.mean(np.stack(arrays), axis=0).astype(arrays[0].dtype) for arrays in zip(*stacks, strict=True)]
