"""The ``mesocli`` command line: a thin Typer shell over the library modules.

Heavy modules (tensorflow, dlib) are imported inside the commands that need them, so
``mesocli --help`` stays instant.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from mesocli import __version__
from mesocli.errors import MesocliError

app = typer.Typer(
    name="mesocli",
    help="Find faces in videos and tell whether they were tampered with (MesoNet). "
    "Every score is p_fake: the probability that a face is forged.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

DEBUG = {"on": False}


class Arch(str, Enum):
    meso4 = "meso4"
    mesoinception4 = "mesoinception4"


class Manipulation(str, Enum):
    df = "df"
    f2f = "f2f"


class Loss(str, Enum):
    mse = "mse"
    bce = "bce"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error on stderr and exit with ``code``."""
    typer.echo(f"mesocli: error: {message}", err=True)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mesocli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    DEBUG["on"] = debug


ArchOption = Annotated[Arch | None, typer.Option("--arch", help="Network: meso4 (default) or mesoinception4.")]
ModelOption = Annotated[Manipulation, typer.Option("--model", help="Bundled weights for this manipulation: df or f2f.")]
WeightsOption = Annotated[
    Path | None, typer.Option("--weights", help="Any weights file: mesocli's .weights.h5 or the authors' Keras 2 .h5.")
]


@app.command()
def models(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the bundled weights and the figures in their model cards (validation split)."""
    import json  # noqa: PLC0415
    from dataclasses import asdict  # noqa: PLC0415

    from mesocli.weights import MANIPULATIONS, bundled_cards  # noqa: PLC0415

    cards = bundled_cards()
    if fmt == "json":
        typer.echo(json.dumps([asdict(card) for card in cards], indent=2))
        return
    if fmt != "table":
        fail(f"unknown --format '{fmt}'; choose table or json")
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title="Bundled weights (figures on the validation split)")
    for column in ("arch", "model", "file", "accuracy", "AUC", "video acc.", "epochs", "sha256"):
        table.add_column(column)
    for card in cards:
        val = card.metrics.get("validation", {})
        video = val.get("video") or {}
        table.add_row(
            card.arch, card.manipulation, card.weights_file, _fmt(val.get("accuracy")), _fmt(val.get("auc")),
            _fmt(video.get("accuracy_mean")), str(card.epochs or ""), card.sha256[:12],
        )
    console = Console()
    console.print(table)
    bundled = {(card.arch, card.manipulation) for card in cards}
    missing = [f"{a}/{m}" for a in ("meso4", "mesoinception4") for m in MANIPULATIONS if (a, m) not in bundled]
    if missing:
        console.print(f"No bundled weights for: {', '.join(missing)}; use --weights PATH (e.g. the authors' .h5 files).")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@app.command()
def train(
    data: Annotated[Path | None, typer.Argument(help="Dataset root: ROOT/<split>/{df,real}/.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run folder for checkpoints, logs and best weights.")] = None,
    split: Annotated[str, typer.Option("--split", help="Split to train on.")] = "train",
    arch: Annotated[Arch, typer.Option("--arch", help="Network to train.")] = Arch.meso4,
    model: Annotated[Manipulation, typer.Option("--model", help="Manipulation label for the model card.")] = Manipulation.df,
    epochs: Annotated[int, typer.Option(help="Maximum number of epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Batch size (paper: 75).")] = 75,
    learning_rate: Annotated[float, typer.Option(help="Initial learning rate (paper: 1e-3).")] = 1e-3,
    lr_decay_every: Annotated[int, typer.Option(help="Divide the learning rate by 10 every N iterations.")] = 1000,
    loss: Annotated[Loss, typer.Option(help="mse on the sigmoid (paper) or bce.")] = Loss.mse,
    val_fraction: Annotated[float, typer.Option(help="Held-out part of the training split for model selection.")] = 0.1,
    patience: Annotated[int, typer.Option(help="Early stop after N epochs without held-out improvement.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed for the held-out split, shuffling and augmentation.")] = 0,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Random affine, flip, colour changes.")] = True,
    jit: Annotated[bool, typer.Option("--jit/--no-jit", help="XLA-compile the training step.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only N images (quick trials).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start over in an --out folder that holds a run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train Meso4 / MesoInception4 with the paper's recipe; checkpoint each epoch; resume with --resume."""
    from mesocli import training  # noqa: PLC0415

    progress = not quiet
    try:
        if resume is not None:
            state = training.resume_run(resume, progress=progress)
            run_dir = resume
        else:
            if data is None or out is None:
                fail("give DATA and --out RUN_DIR (or --resume RUN_DIR)")
            config = training.TrainConfig(
                data=str(data), arch=arch.value, split=split or None, manipulation=model.value, epochs=epochs,
                batch_size=batch_size, learning_rate=learning_rate, lr_decay_every=lr_decay_every, loss=loss.value,
                val_fraction=val_fraction, patience=patience, seed=seed, augment=augment, jit_compile=jit, limit=limit,
            )
            state = training.start_run(config, out, force=force, progress=progress)
            run_dir = out
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(f"best epoch {state.best_epoch}: {run_dir}/best.weights.h5 (model card {run_dir}/best.json)")


def _not_yet(name: str) -> NoReturn:
    fail(f"'{name}' is not implemented yet", 2)


@app.command(name="eval")
def evaluate() -> None:
    """Evaluate weights on a dataset split (accuracy, AUC, EER, video-level accuracy)."""
    _not_yet("eval")


@app.command()
def extract() -> None:
    """Detect, track and align faces in videos; write 256×256 crops as a dataset."""
    _not_yet("extract")


@app.command()
def scan() -> None:
    """Score faces in videos, images or folders and give a verdict per input."""
    _not_yet("scan")


def main() -> None:
    """Entry point: run the app, turning MesocliError into a one-line message and its exit status."""
    try:
        app()
    except MesocliError as exc:
        if DEBUG["on"]:
            raise
        typer.echo(f"mesocli: error: {exc}", err=True)
        sys.exit(exc.exit_code)
