"""The ``mesocli`` command line: a thin Typer shell over the library modules.

Heavy modules (tensorflow, dlib) are imported inside the commands that need them, so
``mesocli --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import functools
import io
import sys
from collections.abc import Iterator
from enum import Enum
from importlib import import_module
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from mesocli import __version__
from mesocli.errors import MesocliError, ParameterError
from mesocli.models import ARCHITECTURES
from mesocli.weights import MANIPULATIONS

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


# Typer choices, built from the library's constants (light modules: no TensorFlow).
Arch = Enum("Arch", {name: name for name in ARCHITECTURES}, type=str)
Manipulation = Enum("Manipulation", {name: name for name in MANIPULATIONS}, type=str)
Detector = Enum("Detector", {name: name for name in (*MANIPULATIONS, "any")}, type=str)  # detectors.ANY: NumPy


class Loss(str, Enum):
    mse = "mse"
    bce = "bce"


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error on stderr and exit with ``code``."""
    typer.echo(f"mesocli: error: {message}", err=True)
    raise typer.Exit(code)


FLAGS = {"aggregation": "--aggregate", "fmt": "--format", "name_or_path": "--model"}
"""Library parameters whose flag is not ``--`` + the name with dashes."""


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter (``batch_size`` -> ``--batch-size``)."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def message(exc: MesocliError) -> str:
    """An error's one-line message, with flag names where the library speaks of parameters."""
    return exc.render(flag) if isinstance(exc, ParameterError) else str(exc)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mesocli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    DEBUG["on"] = debug


ArchOption = Annotated[Arch | None, typer.Option("--arch", help="Network: meso4 (default) or mesoinception4.")]
ModelOption = Annotated[
    Detector,
    typer.Option("--model", help="Bundled detector: df (Deepfakes), f2f (Face2Face), fs (FaceSwap), or any "
                 "(every detector; fake when any says fake)."),
]


class Runtime(str, Enum):
    onnx = "onnx"
    tensorflow = "tensorflow"


RuntimeOption = Annotated[
    Runtime,
    typer.Option("--runtime", help="Inference runtime: onnx (ONNX Runtime, fast start) or tensorflow (Keras)."),
]
WeightsOption = Annotated[
    Path | None, typer.Option("--weights", help="Any weights file: mesocli's .weights.h5 or the authors' Keras 2 .h5.")
]


@app.command()
def models(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List the bundled weights and the figures in their model cards (validation split)."""
    import json
    from dataclasses import asdict

    from mesocli.weights import MANIPULATIONS, bundled_cards

    cards = bundled_cards()
    if fmt == "json":
        typer.echo(json.dumps([asdict(card) for card in cards], indent=2))
        return
    if fmt != "table":
        fail(f"unknown --format '{fmt}'; choose table or json")
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Bundled weights. val: MesoNet validation split (accuracy, AUC, video accuracy); "
                  "DF / F2F / FS: AUC on FaceForensics++ Deepfakes / Face2Face / FaceSwap test faces",
                  title_justify="left")
    ffpp_methods = {"DF": "Deepfakes", "F2F": "Face2Face", "FS": "FaceSwap"}
    for column in ("arch", "model", "val acc", "val AUC", "video", *ffpp_methods, "epochs", "sha256"):
        table.add_column(column, no_wrap=True)
    for card in cards:
        val = card.metrics.get("validation", {})
        video = val.get("video") or {}
        ffpp = card.metrics.get("ffpp_test", {}).get("methods") or {}
        table.add_row(
            card.arch,
            card.manipulation,
            _fmt(val.get("accuracy")),
            _fmt(val.get("auc")),
            _fmt(video.get("accuracy_mean")),
            *(_fmt((ffpp.get(method) or {}).get("auc")) for method in ffpp_methods.values()),
            str(card.epochs or ""),
            card.sha256[:8],
        )
    console = Console()
    console.print(table)
    bundled = {(card.arch, card.manipulation) for card in cards}
    missing = [f"{a}/{m}" for a in ("meso4", "mesoinception4") for m in MANIPULATIONS if (a, m) not in bundled]
    if missing:
        console.print(
            f"No bundled weights for: {', '.join(missing)}; use --weights PATH (e.g. the authors' .h5 files)."
        )


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


@app.command()
def train(
    data: Annotated[
        list[Path] | None,
        typer.Argument(help="Dataset roots: ROOT/<split>/{df,real}/; several are mixed with equal loss shares.",
                       show_default=False),
    ] = None,
    mix: Annotated[
        Path | None,
        typer.Option("--mix", help="Mixing file (JSON) of sources: root, split, methods, every, weight.",
                     show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder for checkpoints, logs and best weights.")
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split to train on.")] = "train",
    arch: Annotated[Arch, typer.Option("--arch", help="Network to train.")] = Arch.meso4,
    model: Annotated[
        Manipulation, typer.Option("--model", help="Manipulation label for the model card.")
    ] = Manipulation.df,
    epochs: Annotated[int, typer.Option(help="Maximum number of epochs.")] = 30,
    batch_size: Annotated[int, typer.Option(help="Batch size (paper: 75).")] = 75,
    learning_rate: Annotated[float, typer.Option(help="Initial learning rate (paper: 1e-3).")] = 1e-3,
    lr_decay_every: Annotated[int, typer.Option(help="Divide the learning rate by 10 every N iterations.")] = 1000,
    loss: Annotated[Loss, typer.Option(help="mse on the sigmoid (paper) or bce.")] = Loss.mse,
    val_fraction: Annotated[float, typer.Option(help="Held-out part of the training split for model selection.")] = 0.1,
    patience: Annotated[int, typer.Option(help="Early stop after N epochs without held-out improvement.")] = 6,
    seed: Annotated[int, typer.Option(help="Seed for the held-out split, shuffling and augmentation.")] = 0,
    augment: Annotated[
        bool, typer.Option("--augment/--no-augment", help="Random affine, flip, colour changes.")
    ] = True,
    rescale_prob: Annotated[
        float,
        typer.Option(help="Share of faces shrunk to 50-100 % and enlarged back (resampling blur), 0 = paper."),
    ] = 0.0,
    class_weights: Annotated[
        bool,
        typer.Option("--class-weights/--no-class-weights", help="Weight each class's loss by N / (2 N_class)."),
    ] = True,
    degrade_prob: Annotated[
        float, typer.Option(help="Per face, each of JPEG re-compression, blur and noise with this probability.")
    ] = 0.0,
    init_weights: Annotated[
        Path | None,
        typer.Option(help="Start from these weights (any file of the same network) instead of a random init.",
                     show_default=False),
    ] = None,
    select: Annotated[
        str, typer.Option(help="Held-out figure that picks the best epoch: accuracy, auc or loss.")
    ] = "accuracy",
    jit: Annotated[bool, typer.Option("--jit/--no-jit", help="XLA-compile the training step.")] = False,
    limit: Annotated[int | None, typer.Option(help="Use only N images (quick trials).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this folder.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start over in an --out folder that holds a run.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train Meso4 / MesoInception4 with the paper's recipe; checkpoint each epoch; resume with --resume."""
    from mesocli import training

    progress = not quiet
    try:
        if resume is not None:
            state = training.resume_run(resume, progress=progress)
            run_dir = resume
        else:
            if not (data or mix) or out is None:
                fail("give DATA (or --mix FILE) and --out RUN_DIR (or --resume RUN_DIR)")
            if data and mix:
                fail("give DATA roots or --mix FILE, not both")
            from dataclasses import asdict

            from mesocli.sources import Source, read_mix

            sources = read_mix(mix) if mix else [Source(str(root), split or None) for root in data or []]
            config = training.TrainConfig(
                data=sources[0].root,
                sources=[asdict(source) for source in sources] if len(sources) > 1 or mix else None,
                arch=arch.value,
                split=split or None,
                manipulation=model.value,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                lr_decay_every=lr_decay_every,
                loss=loss.value,
                val_fraction=val_fraction,
                patience=patience,
                seed=seed,
                augment=augment,
                rescale_prob=rescale_prob,
                class_weights=class_weights,
                jit_compile=jit,
                limit=limit,
                degrade_prob=degrade_prob,
                init_weights=str(init_weights) if init_weights else None,
                select=select,
            )
            state = training.start_run(config, out, force=force, progress=progress)
            run_dir = out
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(f"best epoch {state.best_epoch}: {run_dir}/best.weights.h5 (model card {run_dir}/best.json)")


@app.command(name="eval")
def evaluate(
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            show_default=False,
            help="Dataset root: ROOT/<split>/{df,real}/ or ROOT/{df,real}/ (default: $MESOCLI_DATA).",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Split to evaluate (ignored when ROOT holds df/ and real/).")
    ] = "validation",
    arch: ArchOption = None,
    model: Annotated[
        Detector | None,
        typer.Option("--model", help="Bundled detector: df (default), f2f, fs, or any (scored by the largest p_fake)."),
    ] = None,
    weights: WeightsOption = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Verdict fake when p_fake >= threshold.")] = 0.5,
    fmt: Annotated[str, typer.Option("--format", help="table, or json (one object on stdout).")] = "table",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the ROC curve with the operating point (roc.png).")
    ] = None,
    scores: Annotated[Path | None, typer.Option("--scores", help="Write per-image scores as CSV (scores.csv).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing --plot / --scores.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
    runtime: RuntimeOption = Runtime.onnx,
) -> None:
    """Evaluate weights on a dataset split (accuracy, AUC, EER, video-level accuracy)."""
    import json

    from mesocli.aggregate import check_threshold
    from mesocli.api import open_dataset
    from mesocli.fsutil import check_writable
    from mesocli.runtime import resolve

    evaluation = import_module("mesocli.evaluate")  # the module: mesocli.evaluate is the API function

    if fmt not in ("table", "json"):
        fail(f"unknown --format '{fmt}'; choose table or json")
    if model is not None and weights is not None:
        fail("give --model or --weights, not both")
    check_threshold(threshold)
    dataset = open_dataset(data, split)
    evaluation.refuse_existing([plot, scores], force)
    if plot is not None:
        evaluation.check_plot_format(plot)
    if plot is not None and scores is not None and plot.resolve() == scores.resolve():
        fail("--plot and --scores name the same file")
    for target in (scores, plot):
        if target is not None:
            check_writable(target)  # before the evaluation, not after it
    counts = dataset.counts
    note = typer.echo if not quiet else (lambda *a, **k: None)
    note(
        f"data: {dataset.root} split={dataset.split or '(none)'}: df {counts['df']}, real {counts['real']} "
        f"({len(dataset.paths)} images)",
        err=True,
    )
    loaded = resolve(arch.value if arch else None, (model or Detector.df).value, weights, runtime.value)
    legacy = ", the authors' legacy file" if loaded.legacy else ""
    note(f"model: {loaded.name} ({loaded.arch}{legacy}, sha256 {loaded.sha256[:12]})", err=True)
    report = evaluation.evaluate(loaded, dataset, threshold, progress=not quiet)
    for line in report.skipped[:10]:
        typer.echo(f"mesocli: skipped {line}", err=True)
    if len(report.skipped) > 10:
        typer.echo(f"mesocli: … and {len(report.skipped) - 10} more files skipped", err=True)
    if scores is not None:
        evaluation.write_scores(report, scores)
        note(f"scores: {scores}", err=True)
    if plot is not None:
        evaluation.plot_roc(report, plot)
        note(f"ROC plot: {plot}", err=True)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        Console().print(evaluation.render_table(report))


class ExportFormat(str, Enum):
    onnx = "onnx"
    savedmodel = "savedmodel"
    tflite = "tflite"


@app.command(
    help="Export weights for other runtimes: ONNX (what scan and eval run), TensorFlow SavedModel, TFLite.\n\n"
    "The exported model takes uint8 (N, 256, 256, 3) RGB faces, divides by 255 inside, and outputs p_real "
    "(the network's sigmoid) and p_fake = 1 - p_real; its model card (source sha256, arch, manipulation, "
    "input, scaling) is in the ONNX metadata (a JSON file for the other formats). --bundled regenerates "
    "the bundled weights/*.onnx from their .weights.h5 (with --check: exit 1 if any is stale, write nothing). "
    "See docs/models.md.",
)
def export(
    sources: Annotated[
        list[Path] | None,
        typer.Argument(help="Weights files: mesocli's .weights.h5 or the authors' .h5.", show_default=False),
    ] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="onnx, savedmodel or tflite.")] = ExportFormat.onnx,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output file (one source) or folder (several); default: beside the source."),
    ] = None,
    bundled: Annotated[bool, typer.Option("--bundled", help="Export every bundled weights file to ONNX.")] = False,
    check: Annotated[bool, typer.Option("--check", help="With --bundled: only check each export is fresh.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Compare p_fake with the Keras model on random faces (loads TensorFlow).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
) -> None:
    """Export weights (help text above)."""
    from mesocli import export as exporting

    sources = sources or []
    if bundled == bool(sources):
        fail("give weights files or --bundled")
    if check and not bundled:
        fail("--check goes with --bundled")
    jobs: list[tuple[Path, Path]] = []
    if bundled:
        if fmt is not ExportFormat.onnx:
            fail("--bundled exports ONNX only")
        states = exporting.bundled_states()
        if not states:
            fail("no bundled weights (no model card in the bundled weights folder)")
        stale = [state for state in states if not state.fresh]
        for state in states:
            typer.echo(f"{state.onnx}: {'up to date' if state.fresh else 'stale or missing'} "
                       f"(source sha256 {state.sha256[:12]})")
        if check:
            raise typer.Exit(1 if stale else 0)
        jobs = [(state.weights, state.onnx) for state in (states if force or verify else stale)]
    else:
        if out is not None and len(sources) > 1 and out.exists() and not out.is_dir():
            fail(f"{out}: --out must be a folder when exporting several files")
        for source in sources:
            target = exporting.default_output(source, fmt.value)
            if out is not None:
                target = out / target.name if (len(sources) > 1 or out.is_dir()) else out
            if target.exists() and not force:
                fail(f"{target}: exists; pass --force to replace it")
            jobs.append((source, target))
    for source_path, target in jobs:
        source = exporting.read_source(source_path)
        written = exporting.export(source, target, fmt.value)
        note = ""
        if verify:
            diff = exporting.verify(source, written, fmt.value)
            note = f", max |p_fake - Keras| {diff:.1e} on 8 random faces"
            if not diff <= 1e-5:  # NaN fails too
                fail(f"{written}: differs from the Keras model by {diff:.1e} (> 1e-5)", 1)
        typer.echo(f"{source_path} -> {written} ({source.arch}, sha256 {source.sha256[:12]}{note})")


@app.command()
def extract(
    inputs: Annotated[
        list[Path], typer.Argument(help="Videos, images or folders (searched recursively).", show_default=False)
    ],
    out_dir: Annotated[Path, typer.Argument(help="Output folder: crops and manifest.jsonl.", show_default=False)],
    frames: Annotated[
        int | None, typer.Option(help="N evenly spaced frames per video (default 30).", show_default=False)
    ] = None,
    fps: Annotated[float | None, typer.Option(help="F frames per second of video instead.")] = None,
    every: Annotated[int | None, typer.Option(help="Every K-th frame instead.")] = None,
    all_frames: Annotated[bool, typer.Option("--all-frames", help="Every frame.")] = False,
    detector: Annotated[
        str, typer.Option(help="Face detector: hog (fast), cnn (slow, finds more) or none (inputs are crops).")
    ] = "hog",
    all_faces: Annotated[
        bool, typer.Option("--all-faces", help="Every face, with a track id per person (default: the largest).")
    ] = False,
    layout: Annotated[
        str,
        typer.Option(help="video: OUT_DIR/<video>/<frame>.jpg; dataset: OUT_DIR/<split>/<label>/<video>_<frame>.jpg."),
    ] = "video",
    label: Annotated[
        str | None, typer.Option(help="--layout dataset: df or real, optionally /METHOD (df/Face2Face).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="--layout dataset: split folder, e.g. train.")] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality of the crops.")] = 95,
    workers: Annotated[
        int | None, typer.Option(help="Inputs processed in parallel (default: all cores).", show_default=False)
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Use a non-empty OUT_DIR without manifest; redo one made with other options."),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="Summary on stdout: table or json.")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Detect, track and align faces in videos; write 256×256 crops as a dataset (see docs/extract.md).

    Resumable: a re-run skips the inputs that OUT_DIR/manifest.jsonl marks complete.

    Exit status: 0 done; 2 usage error; 3 an input failed (the others are still extracted, the manifest says why).
    """
    from mesocli import api
    from mesocli.extract import check_format, format_summary

    check_format(fmt)
    try:
        summary = api.extract(
            inputs, out_dir, frames=frames, fps=fps, every=every, all_frames=all_frames, detector=detector,
            all_faces=all_faces, layout=layout, label=label, split=split, quality=quality, workers=workers,
            force=force, progress=not quiet and sys.stderr.isatty(),
        )
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    typer.echo(format_summary(summary, fmt), nl=False)
    raise typer.Exit(summary.exit_code)


@app.command(name="explain")
def explain_command(
    faces: Annotated[
        list[Path], typer.Argument(help="Aligned face crops (images) or folders of them.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the heatmaps: OUT/<face>.png.", show_default=False)],
    model: ModelOption = Detector.df,
    arch: ArchOption = None,
    weights: WeightsOption = None,
    threshold: Annotated[float, typer.Option(help="Verdict fake when p_fake >= this.")] = 0.5,
    force: Annotated[bool, typer.Option("--force", help="Replace existing heatmap files.")] = False,
) -> None:
    """Heatmaps (Grad-CAM) of where the network found its evidence on face crops; see docs/explain.md.

    Prints one JSON line per face (path, p_fake, verdict, heatmap file). Exit status: 0 done; 2 usage
    error; 3 a face could not be read (the others are still explained).
    """
    import json

    from mesocli.aggregate import check_threshold
    from mesocli.explain import explain_files
    from mesocli.weights import resolve_model

    check_threshold(threshold)
    if model is not None and weights is not None and model != Detector.df:
        fail("give --model or --weights, not both")
    if model == Detector.any:
        fail("explain takes one detector: --model df or f2f")
    code = 0
    loaded: list[Any] = []

    def network() -> Any:  # loaded only once a face was read
        if not loaded:
            loaded.append(resolve_model(arch.value if arch else None, model.value, weights))
        return loaded[0].model

    try:
        for line in explain_files(faces, network, out, threshold=threshold, force=force):
            typer.echo(json.dumps(line, ensure_ascii=False))
            code = max(code, 3 if line["status"] == "error" else 0)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(code)


@app.command(
    help="Score faces in videos, images or folders and give a verdict per input.\n\n"
    "Each input gets status ok (with p_fake and a verdict), no_face, or error (with the reason, never "
    "a score). Images with --detector none are taken as aligned face crops. See docs/scan.md for the "
    "JSON fields, the aggregation rules and the timeline.\n\n"
    "Exit status: 0 every input was scanned; 1 with --fail-on-fake when a verdict is fake; 2 usage "
    "error (bad option, unusable weights, --output exists); 3 an input failed, had no face or does not "
    "exist (the others are still reported; 3 wins over 1).",
)
def scan(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Videos, images, folders (recursive), or - (paths on stdin).", show_default=False),
    ],
    model: ModelOption = Detector.df,
    arch: ArchOption = None,
    weights: WeightsOption = None,
    detector: Annotated[
        str,
        typer.Option(
            help="Face detector: hog, cnn, or none (inputs are face crops: the whole image or frame "
            "goes to the network)."
        ),
    ] = "hog",
    frames: Annotated[
        int | None,
        typer.Option(help="Sample N evenly spaced frames per video (default 30).", show_default=False),
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Sample F frames per second instead.")] = None,
    every: Annotated[int | None, typer.Option(help="Sample every K-th frame instead.", show_default=False)] = None,
    all_frames: Annotated[bool, typer.Option("--all-frames", help="Score every frame.")] = False,
    all_faces: Annotated[
        bool,
        typer.Option(
            "--all-faces",
            help="A verdict per face track; the video's is the most-fake track's "
            "(default: the largest face of each frame).",
        ),
    ] = False,
    aggregation: Annotated[
        str,
        typer.Option(
            "--aggregate",
            help="Frame scores to a video score: mean (paper), vote (authors' code: "
            "share of frames voting fake) or confident (DFDC winner's rule).",
        ),
    ] = "mean",
    threshold: Annotated[float, typer.Option(help="Verdict fake when p_fake >= this.")] = 0.5,
    smooth: Annotated[int, typer.Option(help="Timeline: moving average over K sampled frames.")] = 5,
    detail: Annotated[bool, typer.Option("--detail", help="Add per-frame scores to each result.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="table, json, jsonl or csv (default: table on a terminal, else jsonl; with --output, by its suffix).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write results to FILE, atomically.")] = None,
    force: Annotated[bool, typer.Option(
            "--force", help="Replace an existing --output or --report file; write into a non-empty --explain folder."
        )] = False,
    fail_on_fake: Annotated[bool, typer.Option("--fail-on-fake", help="Exit 1 when a verdict is fake.")] = False,
    batch_size: Annotated[int, typer.Option(help="Faces per network batch.")] = 32,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    runtime: RuntimeOption = Runtime.onnx,
    engine: Annotated[
        str, typer.Option(help="local (this machine) or ray (a pool of Ray workers, see docs/scale.md).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="--engine ray: cluster to join (auto, HOST:PORT, ray://HOST:PORT); "
                     "default $RAY_ADDRESS, else a local Ray.", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Processes (local) or Ray workers, one loaded model each (default: all cores).",
                     show_default=False),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Append to the --output JSON Lines file, skipping the inputs it already holds."),
    ] = False,
    explain: Annotated[
        Path | None,
        typer.Option("--explain", help="Write heatmaps of each input's most-fake and most-real faces to DIR/<input>/.",
                     metavar="DIR"),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a one-file HTML report (verdicts, timelines, heatmaps), atomically.",
                     metavar="FILE"),
    ] = None,
    explain_top: Annotated[
        int, typer.Option("--explain-top", help="Heatmaps of the K most-fake and K most-real faces per input.")
    ] = 4,
) -> None:
    """Score faces in videos, images or folders and give a verdict per input (help text above)."""
    from mesocli import output as writers
    from mesocli.fsutil import atomic_path, check_writable, output_errors
    from mesocli.runtime import resolve
    from mesocli.scan import ScanOptions, exit_status, read_path_list, scan_inputs

    try:
        options = ScanOptions(
            detector=detector,
            frames=frames,
            fps=fps,
            every=every,
            all_frames=all_frames,
            all_faces=all_faces,
            aggregation=aggregation,
            threshold=threshold,
            smooth=smooth,
            detail=detail,
            batch_size=batch_size,
        )
    except MesocliError as exc:
        fail(message(exc), exc.exit_code)
    paths: list[str] = []
    for item in inputs:
        paths.extend(read_path_list(_stdin_paths()) if item == "-" else [item])
    if not paths:
        fail("no inputs (stdin gave no paths)")
    if output is not None and output.is_dir():
        fail(f"{output}: --output is a folder")
    if engine not in ("local", "ray"):
        fail(f"unknown --engine '{engine}'; choose local or ray")
    if engine == "local" and address is not None:
        fail("--address needs --engine ray")
    if engine == "ray":
        from mesocli.ray_engine import require_ray

        require_ray()
    if resume and (output is None or force):
        fail("--resume needs --output FILE (JSON Lines), and not --force")
    if output is not None and output.exists() and not force and not resume:
        fail(f"{output}: exists; pass --force to replace it, or --resume to add the inputs it lacks")
    fmt = fmt or writers.format_for(None if output is None else output.name, sys.stdout.isatty())
    if fmt not in writers.FORMATS:
        fail(f"unknown --format '{fmt}'; choose one of {', '.join(writers.FORMATS)}")
    if resume and fmt != "jsonl":
        fail("--resume appends JSON Lines: give an --output ending in .jsonl, or --format jsonl")
    if output is not None:
        check_writable(output)  # before the work, not after it
    if workers is not None and workers < 1:
        fail("--workers must be at least 1")
    explainer = _explainer(explain, report, explain_top, options, force, output)
    if explainer is not None and engine == "ray":
        fail("--report and --explain need the local engine (the heatmaps are made where the faces are)")
    statuses: list[str] = []
    verdicts: list[str | None] = []
    todo, stamp = _plan_scan(paths, engine, output if resume else None, statuses, verdicts, quiet)
    if engine == "ray":
        from mesocli.ray_engine import RayScan

        loader = functools.partial(resolve, arch.value if arch else None, model.value,
                                   None if weights is None else weights.resolve(), runtime.value)
        ray_scan = RayScan(todo, loader, options, workers=workers, address=address)

        def scanned(hook: Any, observer: Any) -> Iterator[dict[str, Any]]:
            for row in ray_scan.results():
                hook("done", row["path"], None)
                yield row
    else:
        from mesocli.parallel import default_workers, scan_parallel

        loaded = resolve(arch.value if arch else None, model.value, weights, runtime.value)
        processes = 1 if explainer is not None else workers or default_workers()  # heatmaps need the crops here
        if explainer is not None:
            _explain_with(explainer, loaded)

        def scanned(hook: Any, observer: Any) -> Iterator[dict[str, Any]]:
            results = (scan_parallel(todo, loaded, options, processes, progress=hook) if processes > 1
                       else scan_inputs(todo, loaded, options, progress=hook, observer=observer))
            return (result.to_dict() for result in results)
    try:
        with contextlib.ExitStack() as stack:
            stream: Any = sys.stdout
            if resume:
                from mesocli.resume import appending

                stream = stack.enter_context(appending(output))
            elif output is not None:
                target = stack.enter_context(atomic_path(output, wrap_errors=False))
                with output_errors(output):
                    stream = stack.enter_context(
                        open(target, "w", encoding="utf-8", newline="", errors="backslashreplace")
                    )
            stream = _GuardedStream(stream, output or "standard output")
            writer = writers.make_writer(fmt, stream, color=None if output is None else False)
            bars = stack.enter_context(writers.ScanProgress(not quiet and sys.stderr.isatty()))
            for row in scanned(bars.hook, None if explainer is None else explainer.observer):
                writer.write(stamp(row))
                if explainer is not None:
                    explainer.add(row)
                statuses.append(row["status"])
                verdicts.append(row["verdict"])
            bars.__exit__()
            writer.close()
            stream.flush()  # a full disk shows here, as an OutputError, not when the file is closed
            if explainer is not None:
                explainer.finish()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(141) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    raise typer.Exit(exit_status(statuses, verdicts, fail_on_fake))


def _plan_scan(
    paths: list[str], engine: str, resume_from: Path | None, statuses: list[str], verdicts: list[str | None],
    quiet: bool,
) -> tuple[list[str], Any]:
    """What to scan, and how to stamp each row: the arguments as given (local scan), one entry per input
    (Ray), less those the output holds (``--resume``: their statuses join ``statuses``/``verdicts``, and
    rows get the ``file`` key that a later resume matches)."""
    if resume_from is None:
        if engine == "local":
            return paths, lambda row: row
        from mesocli.resume import plan_inputs

        return plan_inputs(paths), lambda row: row
    from mesocli.resume import file_field, file_key, plan_inputs, read_done

    done, note = read_done(resume_from)
    items = plan_inputs(paths)
    keys = {item: file_key(item) for item in items}
    todo = []
    for item in items:
        found = done.find(item, keys[item])
        if found is None:
            todo.append(item)
        else:
            statuses.append(found[0])
            verdicts.append(found[1])
    if note:
        typer.echo(f"mesocli: {note}", err=True)
    if not quiet:
        typer.echo(f"mesocli: resume: {len(items) - len(todo)} of {len(items)} inputs already in {resume_from}, "
                   f"{len(todo)} to scan", err=True)

    def stamp(row: dict[str, Any]) -> dict[str, Any]:
        path = row["path"]
        return {**row, "file": file_field(keys[path] if path in keys else file_key(path))}

    return todo, stamp


def _explain_with(explainer: Any, loaded: Any) -> None:
    """Point the explainer at the scan's model: Keras weights, loaded (with TensorFlow) at the first heatmap.

    With ``--model any`` the heatmaps are those of the first detector (df); the report shows every
    detector's p_fake."""
    from mesocli.detectors import DetectorSet

    meta = {"model": f"{loaded.name} ({loaded.arch}, sha256 {loaded.sha256[:12]})"}
    heatmaps = loaded
    if isinstance(loaded, DetectorSet):
        name, heatmaps = next(iter(loaded.members.items()))
        meta["heatmaps"] = (f"Grad-CAM of the {name} detector; the p_fake in the captions is the combined score "
                            "(the largest detector's)")
    explainer.model = lambda: heatmaps.model
    explainer.meta = {**meta, **explainer.meta}


def _explainer(explain: Path | None, report: Path | None, top: int, options: Any, force: bool,
               output: Path | None) -> Any:
    """The scan's --explain / --report helper (checks its targets now, before any work), or None."""
    if explain is None and report is None:
        return None
    from mesocli.report import Explainer

    if report is not None and output is not None and report.resolve() == output.resolve():
        fail("--report and --output name the same file")
    selection = options.selection()
    sampling = {"frames": f"{selection.value} frames", "fps": f"{selection.value} fps",
                "every": f"every {selection.value}th frame"}.get(selection.mode, "all frames")
    meta = {"sampling": f"{sampling}, detector {options.detector}" + (", all faces" if options.all_faces else ""),
            "verdict rule": f"{options.aggregation} of the frame scores, threshold {options.threshold:g}, "
                            f"timeline smoothed over {options.smooth} frames"}
    try:
        return Explainer(None, explain_dir=explain, report=report, top=top, smooth=options.smooth,
                         threshold=options.threshold, meta=meta, force=force)
    except MesocliError as exc:
        fail(message(exc), exc.exit_code)


class _GuardedStream:
    """A text stream whose write failures (disk full, ...) become an OutputError naming it; a closed
    pipe stays a BrokenPipeError (the reader went away)."""

    def __init__(self, stream: Any, name: object) -> None:
        self._stream = stream
        self._name = name

    def write(self, text: str) -> int:
        with self._errors():
            return self._stream.write(text)

    def flush(self) -> None:
        with self._errors():
            self._stream.flush()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        from mesocli.fsutil import output_errors

        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            with output_errors(self._name):
                raise exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stdin_paths() -> Any:
    """Standard input as text whose undecodable bytes (file names that are not UTF-8) survive as they do in
    ``os.fsdecode``, so that every path read opens the very file it names."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None or sys.stdin.errors == "surrogateescape":
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding=sys.stdin.encoding or "utf-8", errors="surrogateescape")


def _tolerant_stdout() -> None:
    """Make standard output write a file name that is not UTF-8 as ``\\udce9`` (a JSON escape) instead of
    failing; a locale that already chose a handler (surrogateescape) keeps it."""
    if getattr(sys.stdout, "errors", None) == "strict" and hasattr(sys.stdout, "reconfigure"):
        with contextlib.suppress(ValueError, io.UnsupportedOperation):
            sys.stdout.reconfigure(errors="backslashreplace")


def main() -> None:
    """Entry point: every error is one line on stderr (a traceback only with --debug), with its exit status.

    MesocliError carries its own status (2 usage, 3 input); a command-line parsing error is 2.
    """
    _tolerant_stdout()
    try:
        code = app(standalone_mode=False)
    except MesocliError as exc:
        if DEBUG["on"]:
            raise
        typer.echo(f"mesocli: error: {message(exc)}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("mesocli: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the parser's errors (bad option, missing argument) come as ClickException
        if DEBUG["on"] or not hasattr(exc, "format_message"):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message(), err=True)
            sys.exit(2)
        typer.echo(f"mesocli: error: {exc.format_message()} (see 'mesocli --help')", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
