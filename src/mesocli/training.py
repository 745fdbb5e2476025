"""Training with the paper's recipe, checkpoints every epoch, exact resume, and a model card.

Recipe (defaults): Adam, learning rate 1e-3 divided by 10 every 1,000 iterations down to 1e-6,
batch 75, MSE on the sigmoid output (``--loss bce`` for binary cross-entropy), augmentation as
the authors' Keras ``ImageDataGenerator`` (:mod:`mesocli.augment`, which also holds the resampling
blur and degradations that are not in the paper, see docs/training.md). Class imbalance is handled
by per-class loss weights ``N / (2 · N_class)``. A seeded held-out part of the training split
(``val_fraction``) selects the best epoch and stops early; the ``validation`` split is never looked at.

Resume is exact as far as TensorFlow allows: the shuffling order and the augmentation of every
batch are functions of (seed, epoch, step), and the saved state holds every model and optimizer
variable (:mod:`mesocli.checkpoint`), so an interrupted run continued with ``--resume`` replays the
same batches. Ctrl-C and SIGTERM are held back (:func:`interrupts_held`) while a step updates the variables and
is counted, and while a checkpoint is written, so the saved state never counts a step twice or not at all.

:class:`Trainer` runs it: :meth:`Trainer.prepare` (data, model, compiled step), then per epoch
:meth:`Trainer.run_epoch` and :meth:`Trainer.end_epoch`, looped by :meth:`Trainer.run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.augment import augment_fn
from mesocli.checkpoint import (
    SPLIT_FILE,
    STATE_FILE,
    VARIABLES_FILE,
    TrainState,
    current_state,
    load_state,
    save_state,
    write_log,
    write_split,
)
from mesocli.datasets import decode_dataset, identities, video_id
from mesocli.errors import ParameterError, UsageError, printable, short_repr
from mesocli.fsutil import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    check_writable,
    environment_error,
    holding_lock,
    output_errors,
)
from mesocli.models import ARCHITECTURES, FEATURE_BLOCKS, build_model, count_trainable, freeze_blocks
from mesocli.preprocess import RESIZES
from mesocli.sources import (
    TrainingData,
    drop_shared_identities,
    identity_tokens,
    load_sources,
    run_sources,
    sample_weights,
    source_groups,
    split_by_groups,
)

SELECTIONS = ("accuracy", "auc", "loss")
WHOLE_SETTINGS = ("epochs", "batch_size", "lr_decay_every", "patience", "seed", "limit", "heldout_seed",
                  "freeze_blocks")
REAL_SETTINGS = ("learning_rate", "lr_min", "val_fraction", "rescale_prob", "degrade_prob", "label_smoothing")
SWITCH_SETTINGS = ("augment", "class_weights", "jit_compile")
OPTIONAL_SETTINGS = ("limit", "heldout_seed")  # None: not set
LOSSES = ("mse", "bce")  # mean squared error on the sigmoid (the paper), binary cross-entropy
LOCK = ".mesocli-train.lock"
FLOOR_STALE = 2  # epochs without improvement at the learning-rate floor that stop a run (whatever its patience)
SEED_MAX = 2**32 - 1  # NumPy's legacy seeding (Keras seeds it) takes no larger seed, and no negative one
# what a run writes beside its checkpoints (averaging: averaged.*): --force removes an old run's
OLD_RUN_FILES = ("best.weights.h5", "best.json", "averaged.weights.h5", "averaged.json", "log.csv", "log.json",
                 "training.png", SPLIT_FILE)


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in RUN_DIR/config.json)."""

    data: str
    arch: str = "meso4"
    split: str | None = "train"
    manipulation: str = "df"
    epochs: int = 30
    batch_size: int = 75
    learning_rate: float = 1e-3
    lr_decay_every: int = 1000
    lr_min: float = 1e-6
    loss: str = "mse"
    val_fraction: float = 0.1
    patience: int = 6
    seed: int = 0
    augment: bool = True
    rescale_prob: float = 0.0
    class_weights: bool = True
    jit_compile: bool = False  # XLA for the training step (--jit); docs/training.md has why it is off
    limit: int | None = None
    command: str = ""
    sources: list[dict[str, Any]] | None = None  # several roots (mesocli.sources.Source fields); else data/split
    init_weights: str | None = None  # warm start from any weights file of the same network
    degrade_prob: float = 0.0  # JPEG re-compression, blur and noise, each with this probability per face
    select: str = "accuracy"  # held-out figure that picks the best epoch: accuracy, auc or loss
    heldout_seed: int | None = None  # seed of the held-out draw (None: seed), so runs of other seeds share it
    freeze_blocks: int = 0  # feature blocks kept as they start (with --init-weights: fine-tune the rest only)
    label_smoothing: float = 0.0  # training targets pulled towards 0.5: y (1 - ε) + ε / 2
    resize: str = "bilinear"  # of a face crop not 256×256 (mesocli.preprocess.RESIZES); older runs: bilinear
    extensions: list[dict[str, Any]] = field(default_factory=list)  # `--resume --epochs/--patience` changes
    workdir: str | None = None  # the folder the run was started in: relative data paths are relative to it
    provenance: list[dict[str, Any]] = field(default_factory=list)  # the start, then each resume that trains:
    # when, and with which software (session()); oldest first
    source_extracts: list[dict[str, Any] | None] | None = None  # per source, how extract made its crops as read
    # when the run started (mesocli.datasets.extract_record; None: no extract manifest); None: a run of an older version
    init_weights_record: dict[str, Any] | None = None  # the init weights as loaded at the start: {file, sha256}
    # (None: no init_weights, or a run of an older version); the cards keep it, resume and averaging need no file

    @property
    def full_command(self) -> str:
        """The command that started the run, then each ``--resume`` that changed its epochs or patience."""
        return " && ".join([self.command, *(change["command"] for change in self.extensions)])

    @property
    def split_seed(self) -> int:
        """The seed that draws the held-out part (and the ``limit`` subset): ``heldout_seed`` or ``seed``."""
        return self.seed if self.heldout_seed is None else self.heldout_seed

    def source_list(self) -> list[Any]:
        """The training sources: ``sources`` if given, else the single root ``data``/``split``."""
        from mesocli.sources import Source

        if self.sources:
            return [Source(**entry) for entry in self.sources]
        return [Source(root=self.data, split=self.split)]

    def located(self, path: str) -> str:
        """``path`` as it can be opened from here: a relative one is taken from ``workdir`` (a run resumed
        from another folder still finds its data)."""
        return os.path.join(self.workdir, path) if self.workdir else path

    def check(self) -> None:
        """Raise ParameterError naming the setting (``epochs 0: must be at least 1``; the CLI names its flag,
        ``--epochs``) when a setting is out of range or not one of its choices."""
        from mesocli.weights import MANIPULATIONS

        self._check_types()
        rules = [
            ("arch", self.arch in ARCHITECTURES, f"one of {', '.join(ARCHITECTURES)}"),
            ("manipulation", self.manipulation in MANIPULATIONS, f"one of {', '.join(MANIPULATIONS)}"),
            ("loss", self.loss in LOSSES, f"one of {', '.join(LOSSES)}"),
            ("epochs", self.epochs >= 1, "at least 1"),
            ("batch_size", self.batch_size >= 1, "at least 1"),
            ("learning_rate", self.learning_rate > 0, "above 0"),
            ("lr_decay_every", self.lr_decay_every >= 1, "at least 1"),
            ("val_fraction", 0 <= self.val_fraction < 1, "in [0, 1)"),
            ("patience", self.patience >= 1, "at least 1"),
            ("rescale_prob", 0 <= self.rescale_prob <= 1, "in [0, 1]"),
            ("degrade_prob", 0 <= self.degrade_prob <= 1, "in [0, 1]"),
            ("select", self.select in SELECTIONS, f"one of {', '.join(SELECTIONS)}"),
            ("limit", self.limit is None or self.limit >= 1, "at least 1"),
            ("seed", 0 <= self.seed <= SEED_MAX, f"in [0, {SEED_MAX}]"),
            # drawn with default_rng, which takes any seed from 0 (--seed also seeds NumPy's legacy generator)
            ("heldout_seed", self.heldout_seed is None or self.heldout_seed >= 0, "0 or more"),
            ("freeze_blocks", 0 <= self.freeze_blocks <= FEATURE_BLOCKS, f"in [0, {FEATURE_BLOCKS}]"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("resize", self.resize in RESIZES, f"one of {', '.join(RESIZES)}"),
        ]
        for name, ok, wanted in rules:
            if not ok:
                raise ParameterError("{" + name + "} {value}: must be {wanted}", value=getattr(self, name),
                                     wanted=wanted)
        if self.freeze_blocks and not self.init_weights:
            raise ParameterError("{freeze_blocks} {value} keeps blocks as they start: it needs {init_weights} "
                                 "(randomly initialised blocks would never learn)", value=self.freeze_blocks)

    def check_together(self) -> None:
        """Refuse (ParameterError) a setting that a new run would ignore for want of another: ``select`` other than
        accuracy, or ``heldout_seed`` without ``limit``, when nothing is held out (the epoch is then picked by the
        training loss). Not asked of a saved run's config, which ran as it is."""
        if self.val_fraction > 0 and any(source.heldout for source in self.source_list()):
            return
        need = "{val_fraction} above 0" if self.val_fraction == 0 else 'a source with "heldout": true'
        if self.select != "accuracy":
            raise ParameterError("{select} {value} picks the epoch by a held-out figure: it needs a held-out part ("
                                 + need + ")", value=self.select)
        if self.heldout_seed is not None and not self.limit:
            raise ParameterError("{heldout_seed} draws the held-out part and the {limit} subset: it needs " + need
                                 + " or {limit}")

    def _check_types(self) -> None:
        """Refuse a number setting of the wrong kind (``epochs=1.5`` trained two epochs and recorded 1.5; a
        switch given as ``"no"`` was on), naming it; NumPy numbers become Python ones (config.json is JSON)."""
        kinds = {name: "whole" for name in WHOLE_SETTINGS} | {name: "real" for name in REAL_SETTINGS} | {
            name: "switch" for name in SWITCH_SETTINGS}
        for name, kind in kinds.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL_SETTINGS:
                continue
            if kind == "switch":
                if not isinstance(value, bool | np.bool_):
                    raise ParameterError("{" + name + "} {value!r}: must be True or False", value=value)
                setattr(self, name, bool(value))
                continue
            if isinstance(value, bool | np.bool_) or not isinstance(
                    value, numbers.Integral if kind == "whole" else numbers.Real):
                raise ParameterError("{" + name + "} {value!r}: must be " + ("a whole number" if kind == "whole"
                                     else "a number"), value=value)
            setattr(self, name, int(value) if kind == "whole" else float(value))
        if self.init_weights is not None:  # a Path (model.weights_path) is recorded as text: config.json is JSON
            if not isinstance(self.init_weights, str | os.PathLike):
                raise ParameterError("{init_weights} must be a path (str or os.PathLike), not {value}",
                                     value=short_repr(self.init_weights))
            self.init_weights = os.fspath(self.init_weights)


_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT), SIGTERM and SIGHUP (which the CLI stops on as on SIGTERM) back until the block is done,
    then deliver the first: the block runs whole (a training step and its bookkeeping, a checkpoint). Outside the
    main thread a plain block; a signal that is ignored, or whose handler was not set from Python, is left alone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [number for number in _HELD if signal.getsignal(number) not in (None, signal.SIG_IGN)]
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if caught:
        signal.raise_signal(caught[0])  # to the handler the block found: KeyboardInterrupt, as a rule


def session(epoch: int = 0, step: int = 0) -> dict[str, Any]:
    """A start or resume of a run, for ``config.json``'s ``provenance``: when it started (UTC, ISO 8601 to the
    second), the epoch (counted from 1) and step it started from, the mesocli version and the installed versions of
    the libraries that train (:func:`mesocli.provenance.library_versions`: TensorFlow, Keras, ONNX Runtime, which
    scores the held-out part, numpy, Pillow, h5py)."""
    from mesocli import __version__
    from mesocli.provenance import TRAIN_PACKAGES, code_digest, library_versions, utc_now

    return {"started_at": utc_now(), "epoch": epoch + 1, "step": step, "mesocli": __version__,
            "mesocli_code": code_digest(),
            "libraries": library_versions("tensorflow", TRAIN_PACKAGES)}


def card_provenance(config: TrainConfig) -> dict[str, Any]:
    """A model card's ``provenance``: the software that wrote it (mesocli, the libraries, as :func:`session`) and
    the run's ``sessions`` (``config.json``'s ``provenance``: its start and each resume)."""
    wrote = session()
    return {"mesocli": wrote["mesocli"], "mesocli_code": wrote["mesocli_code"], "libraries": wrote["libraries"],
            "sessions": config.provenance}


def learning_rate_at(config: TrainConfig, step: int) -> float:
    """Step decay of the paper: ÷10 every ``lr_decay_every`` iterations, floored at ``lr_min`` (a learning rate
    given below that floor stays as given). Divided by a power of ten, not multiplied by 0.1 that many times: 1e-3
    three times decayed is 1e-6, the floor (``1e-3 * 0.1 ** 3`` is 1.0000000000000002e-06, above it, so the run was
    not "at its floor" until the next decay, when the rate it would have had was below 1e-6)."""
    drops = step // config.lr_decay_every
    decayed = config.learning_rate / 10.0 ** drops if drops < 300 else 0.0  # 10.0 ** 309 overflows
    return max(decayed, lr_floor(config))


def lr_floor(config: TrainConfig) -> float:
    """The lowest learning rate the decay reaches: ``lr_min``, or the learning rate itself when that is lower."""
    return min(config.lr_min, config.learning_rate)


def _step_decay(keras: Any, tf: Any, config: TrainConfig) -> Any:
    """:func:`learning_rate_at` as a Keras schedule driven by the optimizer's iteration count."""

    class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step: Any) -> Any:
            drops = tf.floor(tf.cast(step, tf.float32) / config.lr_decay_every)
            return tf.maximum(config.learning_rate * tf.pow(0.1, drops), lr_floor(config))

        def get_config(self) -> dict[str, Any]:
            return {}

    return StepDecay()


def selection_score(select: str, record: dict[str, Any]) -> list[float]:
    """What ``--select`` compares between candidates (larger is better): the chosen held-out figure, then
    a tie-breaker (held-out loss, or accuracy when selecting by loss)."""
    loss = record.get("heldout_loss", record.get("train_loss") or 0.0)
    return {"accuracy": [record.get("heldout_accuracy", 0.0), -loss],
            "auc": [record.get("heldout_auc", 0.0), -loss],
            "loss": [-loss, record.get("heldout_accuracy", 0.0)]}[select]


def heldout_loss(loss: str, p_real: np.ndarray, y: np.ndarray) -> float:
    """The run's ``--loss`` (MSE or BCE, clipped as the training step clips it) of P(real) against the true
    0/1 labels, unweighted and without label smoothing: the mean over the faces given."""
    p = np.asarray(p_real, dtype=np.float64)
    if loss == "bce":
        p = np.clip(p, 1e-7, 1 - 1e-7)
        return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
    return float(np.mean((p - y) ** 2))


def epoch_weights(run_dir: Path, epoch: int, best_epoch: int | None) -> Path | None:
    """The saved weights of a run's ``epoch``: ``checkpoints/epoch_NNN.weights.h5``, else ``best.weights.h5``
    for the best epoch; None when neither is there."""
    for path, ours in ((run_dir / "checkpoints" / f"epoch_{epoch:03d}.weights.h5", True),
                       (run_dir / "best.weights.h5", epoch == best_epoch)):
        if ours and path.is_file():
            return path
    return None


def mse_logged_epochs(config: TrainConfig, saved: dict[str, Any]) -> list[int]:
    """The epochs of a ``--loss bce`` run whose held-out loss was logged as the MSE: all of them in a state
    saved before the held-out loss was the run's own loss (that version had no ``data_sha256``)."""
    if config.loss != "bce" or saved.get("data_sha256") is not None:
        return []
    return [int(row["epoch"]) for row in saved.get("history") or [] if "heldout_loss" in row]


def check_rescorable(run_dir: Path, config: TrainConfig, saved: dict[str, Any]) -> None:
    """Refuse (UsageError) a ``--select loss`` resume of a run whose MSE-logged epochs (:func:`mse_logged_epochs`)
    cannot all be re-scored, for want of their weights: new epochs' cross-entropy cannot be compared with them."""
    if config.select != "loss":
        return
    missing = [epoch for epoch in mse_logged_epochs(config, saved)
               if epoch_weights(run_dir, epoch, saved.get("best_epoch")) is None]
    if missing:
        raise UsageError(f"{run_dir}: its epochs {', '.join(map(str, missing))} logged the held-out loss as MSE "
                         "(an older mesocli) and their weights (checkpoints/epoch_NNN.weights.h5) are gone, so "
                         "--select loss cannot compare them with the cross-entropy of new epochs; restore those "
                         "files, or start a new run")


def load_run_data(config: TrainConfig) -> TrainingData:
    """A run's training files: its sources, cut to the ``limit`` subset (drawn with the held-out seed)."""
    sources = config.source_list()
    data = load_sources([replace(source, root=config.located(source.root)) for source in sources])
    data.sources = sources  # the card records the paths as given
    if config.limit:
        picked = np.sort(np.random.default_rng(config.split_seed).permutation(len(data.labels))[: config.limit])
        data = TrainingData(data.sources, data.datasets, data.combined.subset(picked), data.source_index[picked],
                            data.groups[picked], data.ignored)
    return data


def decode_run_data(config: TrainConfig, data: TrainingData, progress: bool = True) -> tuple[Any, np.ndarray]:
    """A run's files decoded as training reads them (its resize), and the indices of the usable (readable) ones:
    the held-out part is drawn among those (:func:`split_run_data`), so that an unreadable file draws no other."""
    decoded = decode_dataset(data.combined, progress=progress, resizes=(config.resize,))
    return decoded, np.flatnonzero(decoded.ok)


def split_run_data(config: TrainConfig, data: TrainingData, usable: np.ndarray,
                   same_files: bool = True, celeb_df: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices into ``data`` among the ``usable`` (readable) files: whole identity groups
    per source, drawn with ``config.split_seed`` (:func:`mesocli.sources.split_by_groups`); training files
    of a held-out person in another source are dropped (:func:`mesocli.sources.drop_shared_identities`; its
    ``same_files=False``: the training part of older versions; ``celeb_df=False``: the parts of versions that
    grouped Celeb-DF names by their video numbers too, :func:`mesocli.sources.source_groups`)."""
    train_only = frozenset(number for number, source in enumerate(data.sources) if not source.heldout)
    groups = data.groups if celeb_df else source_groups(data, celeb_df=False)
    train, held = split_by_groups(data.labels[usable], data.source_index[usable], groups[usable],
                                  config.val_fraction, config.split_seed, train_only, run_sources(data))
    train, _ = drop_shared_identities(data.combined.paths, usable[train], usable[held], same_files, data.tracks,
                                      celeb_df)
    if celeb_df:
        check_split(config, data, train, usable[held])
    return train, usable[held]


def check_split(config: TrainConfig, data: TrainingData, train: np.ndarray, held: np.ndarray) -> None:
    """Refuse (ParameterError) a training part, or a held-out part that the run asks for, without both classes:
    a model trained on one class, or an epoch chosen by one class's accuracy, is no detector."""
    labels = data.combined.labels
    counts = {part: np.bincount(labels[indices], minlength=2) for part, indices in (("training", train),
                                                                                    ("held-out", held))}
    wants_heldout = config.val_fraction > 0 and any(source.heldout for source in data.sources)
    for part in ("training", "held-out") if wants_heldout else ("training",):
        missing = " and ".join(name for name, n in zip(("df", "real"), counts[part], strict=True) if n == 0)
        if missing:
            shown = "; ".join(f"{name} {int(c.sum())}: df {c[0]}, real {c[1]}" for name, c in counts.items())
            advice = _one_group(data) or "change {val_fraction} (now {value}) or add images of more people"
            raise ParameterError("the {part} part holds no {missing} image ({shown}; a person's images stay on one "
                                 "side): " + advice, part=part, missing=missing, shown=shown, value=config.val_fraction)


def _one_group(data: TrainingData) -> str | None:
    """Why a held-out draw cannot work, when the file names of a source tie most of its files (over half) into one
    identity group (``real_001``/``fake_001``: the tokens real, fake and 001 tie everything): what
    to do instead of drawing again; None otherwise. A template of :class:`ParameterError`."""
    def shown(text: str) -> str:  # as the template shows it: printable, no field
        return printable(text).replace("{", "{{").replace("}", "}}")

    for number, source in enumerate(data.sources):
        mine = np.flatnonzero(data.source_index == number)
        if not source.heldout or len(mine) < 2:
            continue
        groups, sizes = np.unique(data.groups[mine], return_counts=True)
        if sizes.max() * 2 <= len(mine):
            continue
        members = [data.combined.paths[index] for index in mine[data.groups[mine] == groups[sizes.argmax()]]]
        tracks = data.datasets[number].tracks
        tied = [path for path in members if len(identity_tokens(path, tracks)) > 1]
        if not tied:
            continue
        example = min(tied, key=lambda path: (len(identity_tokens(path, tracks)), path.name))
        tokens = " and ".join(identities(example, tracks))
        return (f"one identity group holds {sizes.max()} of the {len(mine)} files of "
                f"{shown(str(data.datasets[number].root))}: their names tie their videos through shared '_' tokens "
                f"({shown(example.name)}: the tokens {shown(tokens)}; see \"Held-out part "
                "by identity\" in docs/training.md); rename the files so that each '_' token of a video id names a "
                "person, or train with {val_fraction} 0")
    return None


class SplitChanged(UsageError):
    """The run's training and held-out files are not the ones its saved state was trained and selected on."""


class Trainer:
    """Runs one training run in RUN_DIR (new or resumed).

    :meth:`prepare` loads the data and builds ``model``, ``optimizer`` and ``train_step`` (the compiled
    step: faces, labels, weights in; loss and accuracy out); :meth:`batches` gives an epoch's input
    pipeline, :meth:`run_epoch` trains one epoch, :meth:`end_epoch` checkpoints it, :meth:`run` loops.
    """

    def __init__(self, config: TrainConfig, run_dir: Path, progress: bool = True, session: bool = False,
                 from_checkpoint: bool = False) -> None:
        """``session``: ``config``'s last ``provenance`` entry is this resume, which ``config.json`` lists once it
        trains a step (:meth:`_record_session`). ``from_checkpoint``: the model's weights will be replaced (a saved
        state, kept epochs), so :meth:`prepare` does not read the run's ``init_weights`` file."""
        self.from_checkpoint = from_checkpoint
        self.start_record: dict[str, Any] | None = None  # the init weights' {file, sha256}, once prepared
        self.config = config
        self.session_pending = session
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.log = print if progress else (lambda *a, **k: None)
        self.bars = progress and sys.stderr.isatty()  # notes always, progress bars only on a terminal
        self.prepared = False
        self.stop_reason: str | None = None  # set by end_epoch when the run stops there
        self._data_sha256: str | None = None  # data_sha256, once computed

    # ---------- setup ----------
    def prepare(self) -> None:
        """Read and decode the data, split off the held-out part, build the model, optimizer and step. With
        :attr:`from_checkpoint` the run's ``init_weights`` file is not loaded (:attr:`start_record` is then the one
        recorded when the run started), else its weights start the model (and are :attr:`start_record`)."""
        from mesocli._tf import import_tensorflow

        tf = self.tf = import_tensorflow()
        config = self.config
        data = self.data = load_run_data(config)
        dataset = data.combined
        noted: set[str] = set()  # each unreadable manifest once, however many sources read it
        for number, (source, part) in enumerate(zip(data.sources, data.datasets, strict=True)):
            counts = part.counts
            runs = f" runs={source.runs}" if source.runs else ""
            self.log(f"data: {part.root} split={part.split} methods={source.methods or 'all'} every={source.every} "
                     f"weight={source.weight}{runs}: df={counts['df']} real={counts['real']}", file=sys.stderr)
            if part.manifest_note and part.manifest_note not in noted:  # as eval says it: tracks count as videos
                noted.add(part.manifest_note)
                self.log(part.manifest_note, file=sys.stderr)
            mine = data.groups[data.source_index == number]
            if config.val_fraction and source.heldout and not source.runs and len(np.unique(mine)) == len(mine):
                self.log(f"note: {part.root}: no video ids in the file names, so single files are held out and "
                         "frames of one video can sit on both sides; if its files are frames in video order, hold "
                         "out runs of them (--heldout-runs N, or \"runs\" in a mixing file)", file=sys.stderr)
        self._note_changed_extracts()
        for path in data.ignored[:5]:
            self.log(f"skipped (not an image): {path}", file=sys.stderr)
        decoded, usable = decode_run_data(config, data, progress=self.bars)
        for message in decoded.errors.values():
            self.log(f"skipped (unreadable): {message}", file=sys.stderr)
        self.images = decoded.images
        labels = dataset.labels
        readable = np.bincount(labels[usable], minlength=2)
        if not readable.all():
            missing = " and ".join(name for name, n in zip(("df", "real"), readable, strict=True) if n == 0)
            where = dataset.root if len(data.sources) == 1 else "any training source"
            raise UsageError(f"no readable images of class {missing} in {where}; both df and real are needed")
        self.usable = usable
        self.train_idx, self.held_idx = split_run_data(config, data, usable)
        if len(self.held_idx):  # each epoch's held-out part is scored on ONNX Runtime: a damaged install fails now
            from mesocli.runtime import require_onnx

            require_onnx()
        with_auc = 0  # held-out parts of both classes
        for number in np.unique(data.source_index[self.held_idx]):
            classes = np.unique(labels[self.held_idx][data.source_index[self.held_idx] == number])
            with_auc += len(classes) == 2
            if len(classes) == 1:
                only = ("df", "real")[int(classes[0])]
                self.log(f"note: the held-out part of {data.datasets[number].root} holds {only} faces only: it has "
                         "no AUC and takes no part in the mean held-out AUC (--select auc)", file=sys.stderr)
        if config.select == "auc" and len(self.held_idx) and not with_auc:  # epochs would be chosen by the loss
            raise ParameterError("{select} auc: no source's held-out part holds both classes, so there is no held-out "
                                 "AUC to select by; select by accuracy or loss, or put both classes of a domain in "
                                 "one source")
        self.dropped_shared = len(usable) - len(self.train_idx) - len(self.held_idx)
        if self.dropped_shared:
            self.log(f"left out of training: {self.dropped_shared} faces of people held out in another source",
                     file=sys.stderr)
        if len(self.train_idx) < config.batch_size:
            raise ParameterError("only {count} training images, fewer than one batch ({value}): give a smaller "
                                 "{batch_size}, or more images", count=len(self.train_idx), value=config.batch_size)
        self.labels = labels.astype(np.float32)
        shares = np.array([source.weight for source in data.sources])
        self.sample_weights = np.zeros(len(labels), dtype=np.float32)
        self.sample_weights[self.train_idx] = sample_weights(
            labels[self.train_idx], data.source_index[self.train_idx], shares, config.class_weights)
        counts = np.bincount(labels[self.train_idx], minlength=2)
        train_weights, train_labels = self.sample_weights[self.train_idx], labels[self.train_idx]
        mean_weight = [float(train_weights[train_labels == c].mean()) for c in (0, 1)]
        self.log(f"training on {len(self.train_idx)} (df {counts[0]}, real {counts[1]}), held out "
                 f"{len(self.held_idx)}{self._held_videos()}; class weights df={mean_weight[0]:.3f} "
                 f"real={mean_weight[1]:.3f} (mean)",
                 file=sys.stderr)
        self._note_heldout_share(usable)
        if len(data.sources) > 1:
            for number, source in enumerate(data.sources):
                mine = data.source_index[self.train_idx] == number
                self.log(f"source {number} ({source.root}): {int(mine.sum())} training faces, "
                         f"{float(train_weights[mine].sum() / train_weights.sum()):.3f} of the loss", file=sys.stderr)

        keras = tf.keras
        keras.utils.set_random_seed(config.seed)
        self.model = build_model(config.arch)
        self.start_record = None
        if config.init_weights and self.from_checkpoint:  # its weights are replaced: the start file is not needed
            self.start_record = self._start_as_recorded()
        elif config.init_weights:
            from mesocli.weights import load_weights, resize_of

            start = load_weights(Path(config.located(config.init_weights)), config.arch)
            self.model.set_weights(start.model.get_weights())
            self.start_record = {"file": Path(config.init_weights).name, "sha256": start.sha256}
            if resize_of(start) != config.resize:  # allowed (a choice), but rarely meant: say it
                self.log(f"note: {Path(config.init_weights).name} was trained on crops resized {resize_of(start)}; "
                         f"this run resizes {config.resize} (--resize)", file=sys.stderr)
        freeze_blocks(self.model, config.freeze_blocks)
        if config.freeze_blocks:
            self.log(f"frozen: the first {config.freeze_blocks} feature blocks; "
                     f"{count_trainable(self.model)} trainable parameters", file=sys.stderr)
        self.optimizer = keras.optimizers.Adam(learning_rate=_step_decay(keras, tf, config))
        self.optimizer.build(self.model.trainable_variables)
        self.augment = tf.function(augment_fn(tf, config.rescale_prob, config.degrade_prob, paper=config.augment))
        bce = config.loss == "bce"
        smoothing = config.label_smoothing
        model, optimizer = self.model, self.optimizer

        # any batch size: one trace a run, not a second one for the last, smaller batch of an epoch (a trace of the step
        # costs about 1.5 s on 2 cores, a resume pays it again)
        batch_spec = [tf.TensorSpec([None, 256, 256, 3], tf.float32), tf.TensorSpec([None], tf.float32),
                      tf.TensorSpec([None], tf.float32)]

        @tf.function(jit_compile=config.jit_compile, input_signature=batch_spec)
        def train_step(x: Any, y: Any, w: Any) -> Any:
            with tf.GradientTape() as tape:
                p = model(x, training=True)[:, 0]
                target = y * (1 - smoothing) + smoothing / 2
                if bce:
                    eps = 1e-7
                    p_clip = tf.clip_by_value(p, eps, 1 - eps)
                    per = -(target * tf.math.log(p_clip) + (1 - target) * tf.math.log(1 - p_clip))
                else:
                    per = tf.square(p - target)
                loss = tf.reduce_sum(per * w) / tf.reduce_sum(w)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            correct = tf.reduce_mean(tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), y), tf.float32))
            return loss, correct

        self.train_step = train_step
        self.prepared = True

    def recorded_start(self) -> dict[str, Any] | None:
        """The init weights the run started from, ``{file, sha256}``, as recorded when it started
        (``init_weights_record``), else (a run of an older version) as its ``best.json`` card names them; None
        when neither says (:func:`start_record_of`)."""
        return start_record_of(self.config, self.run_dir)[0]

    def _start_as_recorded(self) -> dict[str, Any]:
        """The init weights' record for a run whose weights come from a checkpoint: :meth:`recorded_start` (a note
        when the file at ``init_weights`` now holds other weights), else the file hashed now; a note, and no
        sha256, when it is gone."""
        from mesocli.digest import sha256_file

        config = self.config
        name, path = Path(str(config.init_weights)).name, Path(config.located(str(config.init_weights)))
        recorded, _, differs = start_record_of(config, self.run_dir)
        if differs:
            self.log(differs, file=sys.stderr)
        try:
            now = sha256_file(path) if path.is_file() else None
        except OSError:
            now = None
        if recorded is not None:
            if now is not None and now != recorded["sha256"]:
                self.log(f"note: {name}: the init weights file holds other weights than the run started from; "
                         "the model card keeps the record of the start", file=sys.stderr)
            return recorded
        if now is None:
            self.log(f"note: {name}: the init weights the run started from are gone and the run recorded no sha256 "
                     "of them: the model card names the file without one", file=sys.stderr)
        return {"file": name, "sha256": now}

    # ---------- loop ----------
    def extracts(self) -> list[dict[str, Any] | None]:
        """Per source, how extract made its crops, for the model card: as recorded when the run started
        (``source_extracts``), else (a run of an older version) as read now."""
        recorded = self.config.source_extracts
        if isinstance(recorded, list) and len(recorded) == len(self.data.datasets):
            return recorded
        return [part.extract for part in self.data.datasets]

    def _note_changed_extracts(self) -> None:
        """A note when a source's extract manifest no longer says what it said when the run started: the card keeps
        the start's record (the crops are the same bytes, which :meth:`check_split_unchanged` makes sure of)."""
        recorded = self.config.source_extracts
        if not isinstance(recorded, list) or len(recorded) != len(self.data.datasets):
            return
        for before, part in zip(recorded, self.data.datasets, strict=True):
            now = part.extract
            if _without_manifest(before) != _without_manifest(now):
                self.log(f"note: {part.root}: extract's manifest no longer says what it said when the run started "
                         "(edited, removed or rewritten); the model card keeps the record of the start",
                         file=sys.stderr)

    def _variables(self) -> list[Any]:
        return list(self.model.variables) + list(self.optimizer.variables)

    def _record_session(self) -> None:
        """Write ``config.json`` with this resume's session, the first time the run changes (its first step, an
        epoch's end or a re-scoring): a resume stopped before that (Ctrl-C, a crash) is no session of the run."""
        if self.session_pending:
            atomic_write_text(self.run_dir / "config.json", json.dumps(asdict(self.config), indent=1))
            self.session_pending = False

    def _save_state(self, state: TrainState) -> None:
        with interrupts_held():  # the variables and the state that points past them, both or neither
            save_state(self.run_dir, state, self._variables())

    def batches(self, epoch: int, start_step: int = 0) -> tuple[int, Any]:
        """The epoch's number of steps, and its batches from ``start_step`` on as a tf.data pipeline of
        (faces, labels, sample weights): shuffled and augmented as functions of (seed, epoch, step). Every
        training face is in one batch an epoch: the last batch holds the N mod ``batch_size`` left over."""
        tf, config = self.tf, self.config
        order = np.random.default_rng([config.seed, epoch]).permutation(self.train_idx)
        size = config.batch_size
        steps = -(-len(order) // size)
        images, labels, weights = self.images, self.labels, self.sample_weights

        def gather(step: np.int64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            index = order[step * size : (step + 1) * size]
            return images[index], labels[index], weights[index]

        def load(step: Any) -> Any:
            x, y, w = tf.numpy_function(gather, [step], [tf.uint8, tf.float32, tf.float32], stateful=False)
            x.set_shape([None, 256, 256, 3])
            y.set_shape([None])
            w.set_shape([None])
            if config.augment or config.rescale_prob > 0 or config.degrade_prob > 0:  # --no-augment: paper's only
                offset = tf.cast(epoch * 1_000_000, tf.int64) + step
                seed = tf.stack([tf.constant(config.seed, tf.int64), offset])
                x = self.augment(x, seed)
            else:
                x = tf.cast(x, tf.float32) / 255.0
            return x, y, w

        ds = tf.data.Dataset.range(start_step, steps)
        return steps, ds.map(load, num_parallel_calls=2, deterministic=True).prefetch(2)

    def evaluate_heldout(self) -> dict[str, float]:
        """Held-out loss (:func:`heldout_loss`), accuracy and AUC: per source, then their mean (the figures that
        select the epoch). Scored by ONNX Runtime (:func:`mesocli.runtime.keras_onnx_predictor`), as ``eval`` scores
        the saved weights: the same figures as ``eval`` of those faces."""
        from sklearn.metrics import roc_auc_score

        from mesocli.runtime import keras_onnx_predictor

        if len(self.held_idx) == 0:
            return {}
        # through ONNX Runtime, as eval and scan score the saved weights: Keras' P(real) differs by ~1e-6, enough to
        # break or make ties where the sigmoid saturates at 1.0, and moved a held-out AUC by 0.003
        p_real = keras_onnx_predictor(self.model, self.config.arch).p_real(self.images[self.held_idx])
        y = self.labels[self.held_idx]
        sources = self.data.source_index[self.held_idx]
        per_source: dict[str, list[float]] = {"heldout_loss": [], "heldout_accuracy": [], "heldout_auc": []}
        result: dict[str, float] = {}
        for source in np.unique(sources):
            mine = sources == source
            figures = {"heldout_loss": heldout_loss(self.config.loss, p_real[mine], y[mine]),
                       "heldout_accuracy": float(np.mean((p_real[mine] > 0.5) == (y[mine] == 1)))}
            if len(np.unique(y[mine])) == 2:
                figures["heldout_auc"] = float(roc_auc_score(y[mine], p_real[mine]))
            for key, value in figures.items():
                per_source[key].append(value)
                if len(self.data.sources) > 1:
                    result[f"{key}_source{int(source)}"] = value
        result.update({key: float(np.mean(values)) for key, values in per_source.items() if values})
        return result

    def _held_videos(self) -> str:
        """`` (2 videos: df 1, real 1)``: the videos the held-out part holds, per class (a video's tracks one video;
        a video id in two method folders two videos, as eval counts them), where every held-out name carries a video
        id; "" otherwise. Its figures rest on that many videos."""
        from mesocli.metrics import track_id, video_of_track

        data, seen = self.data, set()
        for index in self.held_idx:
            number = int(data.source_index[index])
            video = video_id(data.combined.paths[index])
            if video is None:
                return ""
            if data.datasets[number].tracks:
                video = video_of_track(track_id(video))
            method = data.combined.methods[index] if data.combined.methods else None  # FF++ reuses ids across methods
            seen.add((number, int(data.labels[index]), method, video))
        df = sum(1 for _, label, _, _ in seen if label == 0)
        return f" ({len(seen)} videos: df {df}, real {len(seen) - df})" if seen else ""

    def _note_heldout_share(self, usable: np.ndarray) -> None:
        """A note when the held-out part is far (over 5 points) from ``val_fraction`` of the faces of the sources that
        hold out: people are held out whole, and a few clips make coarse steps (3 clips a class: 67 % for 20 %)."""
        data, fraction = self.data, self.config.val_fraction
        holding = [number for number, source in enumerate(data.sources) if source.heldout]
        total = int(np.isin(data.source_index[usable], holding).sum())
        if not fraction or not total or abs(len(self.held_idx) / total - fraction) <= 0.05:
            return
        self.log(f"note: held out {len(self.held_idx)} of {total} faces ({len(self.held_idx) / total:.0%}) where "
                 f"--val-fraction asks for {fraction:.0%}: a person's faces are held out whole (by the video ids "
                 "of their names), and these faces show few people".replace("%", " %"), file=sys.stderr)

    def faces_trained(self, state: TrainState) -> int:
        """The faces of the epoch's batches so far (every batch is full but the last)."""
        return min(state.step * self.config.batch_size, len(self.train_idx))

    def train_accuracy(self, state: TrainState) -> float | None:
        """The share of the epoch's faces so far called right (not the batches' mean accuracy, which weighed a
        small last batch as a full one); the batches' mean for a state saved mid-epoch before faces were counted."""
        if not state.step:
            return None
        if state.epoch_correct is None:
            return state.epoch_accuracy / state.step
        return state.epoch_correct / self.faces_trained(state)

    def run_epoch(self, state: TrainState) -> dict[str, Any]:
        """Train epoch ``state.epoch`` from step ``state.step`` on (advancing the step counters and the epoch's
        running totals per batch), then score the held-out part; return the epoch's log record, which covers
        the whole epoch (also its part before a resume). Checkpoints nothing: see :meth:`end_epoch`."""
        from mesocli.progress import counter

        config, epoch = self.config, state.epoch
        self.tf.keras.utils.set_random_seed((config.seed * 1000 + epoch) % (SEED_MAX + 1))  # as before below 4294967
        steps, batches = self.batches(epoch, state.step)
        with counter(steps, initial=state.step, desc=f"epoch {epoch + 1}/{config.epochs}",
                     unit="batch", enabled=self.bars) as bar:
            last = time.perf_counter()
            for x, y, w in batches:
                with interrupts_held():  # an update applied is an update counted (and saved as such on Ctrl-C)
                    loss, acc = self.train_step(x, y, w)
                    loss = float(loss)
                    if not math.isfinite(loss):  # NaN weights from now on: nothing to save or resume
                        raise ParameterError(
                            "the training diverged: the loss is not a number at epoch {epoch}, step {step} (learning "
                            "rate {rate:g}); start a new run with a lower {learning_rate}", epoch=epoch + 1,
                            step=state.step + 1, rate=learning_rate_at(config, state.global_step))
                    state.epoch_loss += loss
                    state.epoch_accuracy += float(acc)
                    if state.epoch_correct is not None:
                        # acc is a float32 mean: the faces right are a whole number (182/280 logged 0.64999998)
                        state.epoch_correct += round(float(acc) * int(x.shape[0]))
                    state.step += 1
                    state.global_step += 1
                    self._record_session()
                    now = time.perf_counter()
                    state.epoch_seconds, last = state.epoch_seconds + now - last, now
                bar.set_postfix(loss=f"{state.epoch_loss / state.step:.4f}",
                                acc=f"{self.train_accuracy(state):.3f}")
                bar.update(1)
        self._record_session()  # an epoch resumed after its last step: ended (scored, checkpointed) by this session
        done, seconds = state.step, state.epoch_seconds
        return {
            "epoch": epoch + 1,
            "learning_rate": learning_rate_at(config, state.global_step - 1),
            "train_loss": state.epoch_loss / done if done else None,
            "train_accuracy": self.train_accuracy(state),
            "seconds": round(seconds, 2),
            "images_per_second": round(self.faces_trained(state) / seconds, 2) if seconds else None,
            **self.evaluate_heldout(),
        }

    def end_epoch(self, state: TrainState, record: dict[str, Any]) -> None:
        """Keep a finished epoch: its weights, the best weights and model card if it is the best so far, the
        resumable state (pointing at the next epoch) and the log."""
        epoch = record["epoch"]
        state.history.append(record)
        checkpoints = self.run_dir / "checkpoints"
        with atomic_path(checkpoints / f"epoch_{epoch:03d}.weights.h5", suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        score = selection_score(self.config.select, record)
        if score > state.best_score:
            state.best_score, state.best_epoch, state.stale_epochs = score, epoch, 0
            self._save_best(state, record)
        else:
            state.stale_epochs += 1
        state.next_epoch()
        self.stop_reason = self._stop_reason(state)
        if self.stop_reason:  # decided before the state is saved: resumed after a Ctrl-C here, it stays stopped
            state.finished = True
        # before the state: a run that ends here never lacks its last row
        write_log(self.run_dir, state.history, state.best_epoch)
        self._save_state(state)
        self.log(json.dumps(record), file=sys.stderr)

    def run(self, resume: bool = False) -> TrainState:
        """Train epoch after epoch (:meth:`run_epoch`, :meth:`end_epoch`) until the last, an early stop, or
        Ctrl-C (the state is saved, then KeyboardInterrupt goes on; an epoch's checkpoint is finished first);
        ``resume`` starts from the saved state."""
        if not self.prepared:
            self.from_checkpoint = resume
            self.prepare()
        config = self.config
        state = load_state(self.run_dir, self._variables(), config.arch) if resume else TrainState()
        if not resume and config.init_weights_record != self.start_record:  # a run restarted before its first
            if config.init_weights_record is not None:  # checkpoint: it starts from the file as it is now
                self.log(f"note: {Path(str(config.init_weights)).name}: the init weights file holds other weights "
                         "than when the run was first started; no step had been trained, so it starts from them "
                         "(recorded)", file=sys.stderr)
            config.init_weights_record = self.start_record
        self.check_split_unchanged(state.split_sha256, state.data_sha256)
        if not resume or not (self.run_dir / SPLIT_FILE).exists():  # a run of an older version gets it now
            write_split(self.run_dir, self.split_rows())
        mse_logged = mse_logged_epochs(config, asdict(state))
        state.split_sha256, state.data_sha256 = self.split_sha256(), self.data_sha256()
        if state.finished:
            self.log("run already finished; nothing to do", file=sys.stderr)
            return state
        if mse_logged:
            self.rescore_mse_history(state, mse_logged)
        try:
            while state.epoch < config.epochs:
                record = self.run_epoch(state)
                with interrupts_held():  # half a checkpoint (history kept, epoch not advanced) would be resumed
                    self.end_epoch(state, record)
                if self.stop_reason:
                    self.log(self.stop_reason, file=sys.stderr)
                    break
        except KeyboardInterrupt:
            self._save_state(state)
            if state.finished:  # the last checkpoint had decided the stop: nothing is left to resume
                self.log(f"\ninterrupted after the run had ended ({self.stop_reason}); its best weights: "
                         f"{self.run_dir / 'best.weights.h5'}", file=sys.stderr)
            else:
                self.log(f"\ninterrupted: state saved at epoch {state.epoch + 1}, step {state.step}; "
                         f"continue with: mesocli train --resume {self.run_dir}", file=sys.stderr)
            raise
        state.finished = True
        self._save_state(state)
        return state

    def rescore_mse_history(self, state: TrainState, epochs: list[int]) -> None:
        """Re-score the held-out loss of ``epochs`` (:func:`mse_logged_epochs`: logged as the MSE by an older
        mesocli, though the run's loss is BCE) from their saved weights, keeping the old figures as
        ``heldout_mse``; choose the best epoch and count the stale ones again as :meth:`end_epoch` would have;
        rewrite the best weights' card, the state (now marked by ``data_sha256``) and the log. An epoch without
        weights keeps only its ``heldout_mse`` and loses ties on the selected figure (:func:`check_rescorable`
        refuses ``--select loss`` then)."""
        check_rescorable(self.run_dir, self.config, {**asdict(state), "data_sha256": None})
        self._record_session()  # the cards and the state it rewrites name this session
        current = [variable.numpy() for variable in self.model.variables]
        rescored = 0
        try:
            for number, row in enumerate(state.history):
                if row["epoch"] not in epochs:
                    continue
                path = epoch_weights(self.run_dir, row["epoch"], state.best_epoch)
                figures: dict[str, float] = {}
                if path is not None:
                    self.model.load_weights(path)
                    figures = {k: v for k, v in self.evaluate_heldout().items() if k.startswith("heldout_loss")}
                    rescored += 1
                new: dict[str, Any] = {}
                for key, value in row.items():
                    if key.startswith("heldout_loss"):
                        if key in figures:
                            new[key] = figures[key]
                        new[key.replace("heldout_loss", "heldout_mse", 1)] = value
                    else:
                        new[key] = value
                state.history[number] = new
            best_score, best_epoch, stale = [-math.inf, -math.inf], None, 0
            for row in state.history:
                score = selection_score(self.config.select, row if "heldout_loss" in row or "heldout_mse" not in row
                                        else {**row, "heldout_loss": math.inf})
                if score > best_score:
                    best_score, best_epoch, stale = score, row["epoch"], 0
                else:
                    stale += 1
            state.best_score, state.best_epoch, state.stale_epochs = best_score, best_epoch, stale
            best = epoch_weights(self.run_dir, best_epoch, best_epoch) if best_epoch is not None else None
            if best is not None:
                self.model.load_weights(best)
                self._save_best(state, next(row for row in state.history if row["epoch"] == best_epoch))
        finally:
            for variable, value in zip(self.model.variables, current, strict=True):
                variable.assign(value)
        write_log(self.run_dir, state.history, state.best_epoch)
        self._save_state(state)
        self.log(f"note: {self.run_dir}: {len(epochs)} earlier epochs logged the held-out loss as MSE (an older "
                 f"mesocli); re-scored {rescored} with bce from their weights (the old figures kept as heldout_mse); "
                 f"best epoch: {best_epoch}", file=sys.stderr)

    def split_rows(self) -> list[tuple[int, str, str, str, str]]:
        """Every listed file's row of ``split.csv`` (:func:`mesocli.checkpoint.write_split`), in listing order."""
        part = np.full(len(self.data.labels), "unreadable", dtype=object)
        part[self.usable] = "dropped"
        part[self.train_idx], part[self.held_idx] = "train", "heldout"
        rows = []
        for index, path in enumerate(self.data.combined.paths):
            source = int(self.data.source_index[index])
            with contextlib.suppress(ValueError):
                path = path.relative_to(self.data.datasets[source].root)
            rows.append((source, path.as_posix(), ("df", "real")[int(self.data.labels[index])],
                         video_id(Path(path)) or "", str(part[index])))
        return rows

    def split_sha256(self, train: np.ndarray | None = None, held: np.ndarray | None = None) -> str:
        """A hash of the training (``train``, default the run's) and held-out files (``held``, default the run's;
        source, path within its root, label), in order: what the batches and the held-out figures of the run are
        made of."""
        digest = hashlib.sha256()
        for part, indices in (("train", self.train_idx if train is None else train),
                              ("heldout", self.held_idx if held is None else held)):
            for index in indices:
                source = int(self.data.source_index[index])
                path = self.data.combined.paths[index]
                with contextlib.suppress(ValueError):
                    path = path.relative_to(self.data.datasets[source].root)
                digest.update(f"{part}\t{source}\t{path.as_posix()}\t{self.data.labels[index]}\n".encode(
                    "utf-8", "surrogateescape"))
        return digest.hexdigest()

    def data_sha256(self) -> str:
        """A hash of the bytes of the training and held-out files, in :meth:`split_sha256`'s order: an image
        rewritten under its old name (``extract --force`` with other settings) changes it."""
        if self._data_sha256 is None:
            digest = hashlib.sha256()
            for index in (*self.train_idx, *self.held_idx):
                try:
                    digest.update(hashlib.sha256(self.data.combined.paths[index].read_bytes()).digest())
                except OSError:
                    digest.update(b"unreadable")  # read a moment ago: it changed meanwhile
            self._data_sha256 = digest.hexdigest()
        return self._data_sha256

    def check_split_unchanged(self, saved: str | None, saved_data: str | None = None) -> None:
        """Refuse (UsageError) to go on with a run whose data changed since its state was saved (``saved``: its
        :meth:`split_sha256`, ``saved_data``: its :meth:`data_sha256`; None for a new run or one saved before
        the check): other files would be held out, some of them already trained on, the batches' order would
        not be the run's, or other faces would stand under the names it trained on."""
        if saved is not None and saved != self.split_sha256():
            older = split_run_data(self.config, self.data, self.usable, same_files=False)[0]
            if len(older) > len(self.train_idx) and saved == self.split_sha256(older):  # the data is as it was
                raise SplitChanged(f"{self.run_dir}: this run was started by an older mesocli that trained on "
                                   f"{len(older) - len(self.train_idx)} faces it also held out through another source "
                                   "(the same files listed by two sources), so its held-out figures scored faces it "
                                   "had trained on; start a new run")
            if any(identities(path, tracks) != identities(path, tracks, celeb_df=False)
                   for path, tracks in zip(self.data.combined.paths, self.data.tracks, strict=True)):
                older_train, older_held = split_run_data(self.config, self.data, self.usable, celeb_df=False)
                if saved == self.split_sha256(older_train, older_held):  # the data is as it was
                    raise SplitChanged(f"{self.run_dir}: this run was started by an older mesocli that grouped "
                                       "Celeb-DF names (id0_0003) by their video number too; this mesocli groups "
                                       "them by person and would hold out other faces: start a new run (or resume "
                                       "it with the mesocli that started it)")
            raise SplitChanged(f"{self.run_dir}: the run's data changed since it started (files added, removed or "
                             "unreadable), so its training and held-out parts are no longer the ones it trained and "
                             "selected on; restore the data, or start a new run")
        if saved_data is not None and saved_data != self.data_sha256():
            raise SplitChanged(f"{self.run_dir}: the run's data changed since it started (images rewritten under "
                               "the same names), so it would train and select on other faces than it did; restore "
                               "the data, or start a new run")

    def _stop_reason(self, state: TrainState) -> str | None:
        """Why the run stops after the epoch just ended (patience, or the learning rate at its floor with two
        epochs that brought nothing); None to go on."""
        config = self.config
        if state.stale_epochs >= config.patience:
            return f"early stop: held-out {config.select} did not improve for {config.patience} epochs"
        if learning_rate_at(config, state.global_step) <= lr_floor(config) and state.stale_epochs >= FLOOR_STALE:
            return "learning rate at its floor and no improvement: stopping"
        return None

    def _save_best(self, state: TrainState, record: dict[str, Any]) -> None:
        heldout = {k: v for k, v in record.items() if k.startswith("heldout_")}
        self.save_model(self.run_dir / "best.weights.h5", record["epoch"], heldout)

    def save_model(self, target: Path, epochs: int | None, heldout: dict[str, float], **metrics: Any) -> None:
        """Write the model's current weights to ``target`` with their model card (data, command, held-out
        figures, and any further ``metrics``)."""
        from mesocli.provenance import utc_now
        from mesocli.weights import ModelCard, save_own

        config = self.config
        card = ModelCard(
            arch=config.arch,
            manipulation=config.manipulation,
            weights_file=target.name,
            sha256="",
            name=f"{self.run_dir.name}/{target.name}",  # not a bundled detector's name (bundling renames it)
            command=config.full_command,
            seed=config.seed,
            data={
                "sources": self.data.describe(self.extracts()),
                "files": len(self.data.labels),
                "sources_sha256": self.data.sha256(),
                "content_sha256": self.data_sha256(),  # the bytes of the faces trained and held out
                "counts": self.data.combined.counts,
                "heldout_fraction": config.val_fraction,
                "heldout_seed": config.split_seed,
                "heldout": "by identity group where file names carry video ids, else by file",
                "init_weights": self.start_record if config.init_weights else None,
                "frozen_blocks": config.freeze_blocks,
                "dropped_shared_identity": self.dropped_shared,
            },
            epochs=epochs,
            preprocessing=f"RGB, Pillow {config.resize} resize to 256x256, /255",
            resize=config.resize,
            metrics={"heldout": heldout, "loss": config.loss, "trainable_params": count_trainable(self.model),
                     **metrics},
            created=utc_now(),  # with Z, as every other time mesocli writes (it was +00:00)
            provenance=card_provenance(config),
        )
        save_own(self.model, target, card)


def start_record_of(config: TrainConfig, run_dir: Path) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """The init weights the run in ``run_dir`` started from, as recorded: ``({file, sha256}, where, note)``.

    ``where`` is ``config.json`` (``init_weights_record``, written when the run started: the only record a run of
    this version trusts), else ``best.json`` (a run of an older version, whose config.json records none: its best
    card's ``data.init_weights``, which a resume by an older version wrote from the file then at the path), else
    None (``(None, None, None)``: neither says). ``note``: one line when ``best.json`` names other start weights
    than ``config.json`` (config.json's are used), else None."""
    from mesocli.weights import ModelCard, WeightsError

    carded = None
    card = Path(run_dir) / "best.json"
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError, WeightsError):  # none, or unreadable
        found = ModelCard.from_json(card).data.get("init_weights") if card.is_file() else None
        if _is_start_record(found):
            carded = {"file": found["file"], "sha256": found["sha256"]}
    recorded = config.init_weights_record
    if _is_start_record(recorded):
        note = None
        if carded is not None and carded["sha256"] != recorded["sha256"]:
            note = (f"note: {card}: names other start weights ({carded['file']}, sha256 {carded['sha256'][:12]}…) "
                    f"than the run recorded in config.json when it started ({recorded['file']}, sha256 "
                    f"{recorded['sha256'][:12]}…); config.json's are used")
        return recorded, "config.json", note
    if carded is not None:
        return carded, "best.json", None
    return None, None, None


def _is_start_record(record: Any) -> bool:
    """Whether ``record`` is an init weights record, ``{file, sha256}`` with a sha256."""
    return isinstance(record, dict) and isinstance(record.get("file"), str) and isinstance(record.get("sha256"), str)


def _without_manifest(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """An extract record (:func:`mesocli.datasets.extract_record`) less where its manifest was read from (a run
    resumed from another folder reads the same manifest by another path)."""
    return {key: value for key, value in record.items() if key != "manifest"} if isinstance(record, dict) else record


def _refuse_run(run_dir: Path, force: bool) -> None:
    if (run_dir / "config.json").exists() and not force:
        raise UsageError(f"{run_dir} already holds a training run: continue it with --resume {run_dir}, "
                         "or pass --force to start over")


@contextlib.contextmanager
def run_lock(run_dir: Path, hint: str = "") -> Iterator[None]:
    """Hold the lock of the run folder ``run_dir`` (made if missing): a second train or resume of the run is
    refused, naming this process, while this one works (``hint`` ends the refusal). The lock file goes with
    the lock: the folder is left as the run made it."""
    path = run_dir / LOCK
    with holding_lock(path, f"{run_dir} is in use by another 'mesocli train'{{who}}: wait for it to end{hint}") as fd:
        try:
            pid = f"{os.getpid()}\n".encode()
            with output_errors(path):
                os.pwrite(fd, pid, 0)
                os.ftruncate(fd, len(pid))
            yield
        finally:
            path.unlink(missing_ok=True)


def start_run(config: TrainConfig, run_dir: Path, force: bool = False, progress: bool = True) -> TrainState:
    """Start a new run in ``run_dir`` (refusing one that already holds a run unless ``force``, and one that
    another process is training)."""
    run_dir = Path(run_dir)
    config.check()
    config.check_together()
    _refuse_run(run_dir, force)
    made = [folder for folder in (run_dir, *run_dir.parents) if not folder.exists()]  # innermost first
    config.command = config.command or shlex.join(["mesocli", *sys.argv[1:]])
    config.workdir = config.workdir or os.getcwd()
    config.source_extracts = None  # read from the data below, as it is now
    config.init_weights_record = None  # and from the init weights file as loaded
    trainer = Trainer(config, run_dir, progress)
    prepared = False
    try:
        check_writable(run_dir / "config.json")  # before reading the data, not after
        with run_lock(run_dir, ", or use another --out"):
            _refuse_run(run_dir, force)  # again: another run may have started there meanwhile
            trainer.prepare()  # unusable data fails here, before the folder holds a run that --resume would take up
            prepared = True
            for name in (STATE_FILE, VARIABLES_FILE):  # --force: the old run's state must not be resumed now
                (run_dir / "checkpoint" / name).unlink(missing_ok=True)
            if force:  # nor its weights averaged, souped or bundled as this run's
                for path in [*(run_dir / "checkpoints").glob("epoch_*.weights.h5"),
                             *(run_dir / name for name in OLD_RUN_FILES)]:
                    path.unlink(missing_ok=True)
            config.provenance = [session()]
            config.source_extracts = [part.extract for part in trainer.data.datasets]
            config.init_weights_record = trainer.start_record
            atomic_write_text(run_dir / "config.json", json.dumps(asdict(config), indent=1))
            return trainer.run(resume=False)
    except BaseException:
        for folder in made if not prepared else ():  # a failed start leaves no folder (one holding anything stays)
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def resume_run(run_dir: Path, progress: bool = True, epochs: int | None = None, patience: int | None = None,
               command: str = "") -> TrainState:
    """Continue the run in ``run_dir`` from its last saved state; ``epochs`` / ``patience`` change its plan
    (:func:`extend_run`), also for a run that has finished."""
    run_dir = Path(run_dir)
    read_config(run_dir)  # a folder without a run is refused before a lock file is left in it
    with run_lock(run_dir):
        return _resume(run_dir, progress, epochs, patience, command)


def _resume(run_dir: Path, progress: bool, epochs: int | None, patience: int | None, command: str) -> TrainState:
    """:func:`resume_run`, the run's lock held."""
    config = read_config(run_dir)  # as it is now that no other process changes it
    state_path = run_dir / "checkpoint" / STATE_FILE
    if not state_path.exists():
        if epochs is not None or patience is not None:
            config = extend_run(run_dir, config, {}, epochs, patience, command)
        return Trainer(with_session(config, {}), run_dir, progress, session=True).run(resume=False)
    try:
        saved = json.loads(state_path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{state_path.parent}: damaged checkpoint, cannot resume ({type(exc).__name__}: {exc})"
                         ) from None
    saved = current_state(run_dir, saved)  # a checkpoint cut after last.npz: the state saved with its variables
    if not saved.get("finished") or epochs is not None or patience is not None:  # it would train
        check_rescorable(run_dir, config, saved)
    recorded = {path: path.read_bytes() for path in (run_dir / "config.json", state_path)}
    if epochs is not None or patience is not None:
        config = extend_run(run_dir, config, saved, epochs, patience, command)
    with contextlib.suppress(TypeError):  # a state of the wrong shape is reported by Trainer.run
        state = TrainState(**saved)
        if state.finished and (run_dir / SPLIT_FILE).exists():  # say so before reading the data, not after
            if progress:
                print("run already finished; nothing to do (give more --epochs to extend it)", file=sys.stderr)
            return state
        if state.finished:  # a run of a version before split.csv: the data is read to list its parts
            return _write_missing_split(Trainer(with_session(config, saved), run_dir, progress, session=True), state)
    trainer = Trainer(with_session(config, saved), run_dir, progress, session=True)
    try:
        return trainer.run(resume=True)
    except UsageError as exc:
        if isinstance(exc, SplitChanged) or not trainer.prepared:  # refused before any step (data changed,
            for path, content in recorded.items():  # moved, unreadable): the run's plan and a finished run's
                atomic_write_bytes(path, content)  # end stay as they were (extend_run reopened its state)
        raise


def _write_missing_split(trainer: Trainer, state: TrainState) -> TrainState:
    """A finished run without ``split.csv`` (started before it existed): write it, when the run's data is still
    the one it trained on; otherwise say why on stderr (the run stays finished, nothing else changes)."""
    try:
        return trainer.run(resume=True)
    except UsageError as exc:
        print(f"mesocli: note: {SPLIT_FILE} not written: {exc}", file=sys.stderr)
        return state


def with_session(config: TrainConfig, state: dict[str, Any]) -> TrainConfig:
    """``config`` with this resume (:func:`session`, from the saved ``state``'s epoch and step) added to its
    ``provenance``, the earlier sessions kept; :class:`Trainer` writes it to ``config.json`` at its first step, so
    a resume refused, interrupted or crashed before that adds none."""
    epoch, step = (value if isinstance(value, int) else 0 for value in (state.get("epoch"), state.get("step")))
    return replace(config, provenance=[*config.provenance, session(epoch, step)])


def extend_run(run_dir: Path, config: TrainConfig, state: dict[str, Any], epochs: int | None, patience: int | None,
               command: str = "") -> TrainConfig:
    """Give the run in ``run_dir`` a new number of epochs and/or patience, recorded in ``config.json`` (and so
    in every model card it writes from now on). The order of the batches and the learning rate depend on the
    seed, the epoch and the step only, so a run extended from N to M epochs trains as one planned for M
    from the start would have (unless it stopped early). A finished run is reopened; fewer epochs than it
    has already trained are refused. ``state``: the saved ``checkpoint/state.json`` ({} if none)."""
    command = command or shlex.join(["mesocli", *sys.argv[1:]])
    done = int(state.get("epoch", 0)) + (1 if state.get("step") else 0)
    new_epochs = config.epochs if epochs is None else epochs
    new_patience = config.patience if patience is None else patience
    if new_epochs < max(done, 1):
        raise UsageError(f"--epochs {new_epochs}: the run in {run_dir} has reached epoch {done}; give at least "
                         f"{max(done, 1)}")
    if (new_epochs, new_patience) == (config.epochs, config.patience):
        return config
    changed = replace(config, epochs=new_epochs, patience=new_patience)
    changed.check()
    changed.extensions = [*config.extensions, {"after_epoch": int(state.get("epoch", 0)),
                                               "epochs": [config.epochs, new_epochs],
                                               "patience": [config.patience, new_patience], "command": command}]
    if state.get("finished"):  # reopen first: a crash before config.json is written leaves a run that ends at once
        state["finished"] = False
        atomic_write_text(run_dir / "checkpoint" / STATE_FILE, json.dumps(state, indent=1))
    atomic_write_text(run_dir / "config.json", json.dumps(asdict(changed), indent=1))
    stale = state.get("stale_epochs", 0)
    if stale >= new_patience:
        print(f"note: the run stopped early (held-out {config.select} not better for {stale} "
              f"epochs); it stops again after the next epoch unless that one improves: raise --patience too",
              file=sys.stderr)
    elif stale >= FLOOR_STALE and learning_rate_at(changed, int(state.get("global_step", 0))) <= lr_floor(changed):
        print(f"note: the run stopped with its learning rate at its floor ({lr_floor(changed):g}) and held-out "
              f"{config.select} not better for {stale} epochs; it stops again after the next epoch unless that one "
              f"improves, whatever --patience says: start a new run (--init-weights its best weights) to train on "
              f"at a higher learning rate", file=sys.stderr)
    return changed


def read_config(run_dir: Path) -> TrainConfig:
    """The configuration a run in ``run_dir`` was started with."""
    try:
        return TrainConfig(**json.loads((Path(run_dir) / "config.json").read_text()))
    except FileNotFoundError:
        raise UsageError(f"{run_dir}: no training run to resume (config.json missing)") from None
    except (OSError, ValueError, TypeError) as exc:
        line = environment_error(exc) if isinstance(exc, OSError) else None  # a name too long: shown shortened
        raise UsageError(line or f"{run_dir}/config.json: unreadable, cannot resume ({type(exc).__name__}: {exc})"
                         ) from None
