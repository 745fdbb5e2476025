"""Options that several ``mesocli`` commands share, declared once (Typer ``Annotated`` aliases), and the
Typer choices, built from the library's constants. Light: no TensorFlow, no NumPy."""

from __future__ import annotations

import inspect
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from mesocli.models import ARCHITECTURES
from mesocli.weights import MANIPULATIONS

Arch = Enum("Arch", {name: name for name in ARCHITECTURES}, type=str)
ScoringArch = Enum("ScoringArch", {name: name for name in (*ARCHITECTURES, "ensemble")}, type=str)  # detectors.ENSEMBLE
Manipulation = Enum("Manipulation", {name: name for name in MANIPULATIONS}, type=str)
Detector = Enum("Detector", {name: name for name in (*MANIPULATIONS, "any")}, type=str)  # detectors.ANY: NumPy


class Runtime(str, Enum):  # runtime.RUNTIMES (runtime.py imports NumPy)
    onnx = "onnx"
    tensorflow = "tensorflow"


class Loss(str, Enum):  # training: the losses TrainConfig takes
    mse = "mse"
    bce = "bce"


class ExportFormat(str, Enum):  # export.FORMATS (export.py imports NumPy)
    onnx = "onnx"
    savedmodel = "savedmodel"
    tflite = "tflite"


def Opt(kind: Any, help: str, *names: str, **settings: Any) -> Any:
    """An option of type ``kind``: ``names`` (default: ``--`` + the parameter's name) and Typer ``settings``."""
    return Annotated[kind, typer.Option(*names, help=help, **settings)]


# typer 0.29 dropped click_type= (and the click types behind it); there the help shows typer's own type
TYPED_ARGUMENTS = "click_type" in inspect.signature(typer.Argument).parameters


def _text_type() -> type:
    """The class of the type typer gives a ``str`` argument (click's ``StringParamType``, or the copy of click
    that typer 0.26-0.28 carry inside): read off a command built by typer's documented ``typer.main.get_command``,
    so no private module (``typer._click.types``, gone in typer 0.29) is imported and no click package is needed."""
    probe = typer.Typer(add_completion=False)

    @probe.command()
    def text(value: str) -> None:  # pragma: no cover - built, never run
        """A command with one ``str`` argument."""

    if not TYPED_ARGUMENTS:
        return object
    (param,) = typer.main.get_command(probe).params
    return type(param.type)


class Shown(_text_type()):  # type: ignore[misc]
    """Text (Typer turns it into a ``Path`` for a ``Path`` parameter) that shows ``what`` it is in help (``FILE``,
    ``DIR``) where Typer would show ``<str>`` or ``<path>``."""

    def __init__(self, what: str) -> None:
        self.what = what

    def get_metavar(self, param: Any, ctx: Any) -> str:
        return self.what


def Arg(kind: Any, help: str, metavar: str, what: str) -> Any:
    """A command-line argument of type ``kind``, named ``metavar`` in usage lines and help, with ``what`` it takes
    (``FILE``, ``DIR``, ``PATH|-``) in the help's type column."""
    shown = {"click_type": Shown(what)} if TYPED_ARGUMENTS else {}  # typer 0.29 shows its own type (<path>)
    return Annotated[kind, typer.Argument(help=help, show_default=False, metavar=metavar, **shown)]


def Force(help: str) -> Any:
    """The ``--force`` option, with what it lets the command replace."""
    return Opt(bool, help, "--force")


def Format(help: str, kind: Any = str, show_default: bool = True, choices: str | None = None) -> Any:
    """The ``--format`` option (the library's parameter ``fmt``) of type ``kind``; a ``str`` one shows its
    ``choices`` (``"table|json"``) as its value, as an Enum option does."""
    return Opt(kind, help, "--format", show_default=show_default, metavar=f"<{choices}>" if choices else None)


Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Threshold = Annotated[float, typer.Option("--threshold", help="Verdict fake when p_fake >= this.")]
ArchOption = Annotated[Arch | None, typer.Option("--arch", help="Network: meso4 (default) or mesoinception4.")]
ScoringArchOption = Annotated[
    ScoringArch | None,
    typer.Option("--arch", help="Network: meso4 (default), mesoinception4, or ensemble (both; each detector's "
                 "p_fake is the mean of the two networks')."),
]
ModelOption = Annotated[
    Detector | None,
    typer.Option("--model", help="Bundled detector: df (Deepfakes; the default), f2f (Face2Face), fs (FaceSwap), or "
                 "any (every detector; fake when any says fake).", show_default=False),
]
WeightsOption = Annotated[
    Path | None, typer.Option("--weights", help="Any weights file: mesocli's .weights.h5, the authors' Keras 2 .h5, or "
                               "an .onnx written by mesocli export.", metavar="FILE")
]
OneModelOption = Annotated[
    Manipulation | None,
    typer.Option("--model", help="Bundled detector: df (Deepfakes; the default), f2f (Face2Face) or fs (FaceSwap).",
                 show_default=False),
]
RuntimeOption = Annotated[
    Runtime,
    typer.Option("--runtime", help="Inference runtime: onnx (ONNX Runtime, fast start) or tensorflow (Keras)."),
]

# frame sampling and face finding (scan, extract)
Frames = Annotated[
    int | None, typer.Option("--frames", help="N evenly spaced frames per video (default 30).", show_default=False)
]
Fps = Annotated[float | None, typer.Option("--fps", help="F frames per second instead.")]
Every = Annotated[int | None, typer.Option("--every", help="Every K-th frame instead.", show_default=False)]
AllFrames = Annotated[bool, typer.Option("--all-frames", help="Every frame.")]
FaceDetector = Annotated[
    str,
    typer.Option("--detector", help="Face detector: hog (fast), cnn (slow, finds more) or none (inputs are face "
                 "crops: the whole image or frame goes to the network).", metavar="<hog|cnn|none>"),
]
