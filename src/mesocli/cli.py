"""The ``mesocli`` command line: a thin Typer shell over the library modules.

Each command parses its options (shared ones are declared in :mod:`mesocli.cli_options`), calls one
library function and prints what it returns. Library errors name parameters; :mod:`mesocli.cli_base`
prints them as one line with the flag names, and exits with their status. Heavy modules (tensorflow,
dlib) are imported inside the library functions, so ``mesocli --help`` stays instant.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from mesocli import __version__
from mesocli.cli_base import DEBUG, command_of, echo, err, run, run_process, shell_line, show
from mesocli.cli_options import (
    AllFrames,
    Arch,
    ArchOption,
    Arg,
    Detector,
    Every,
    ExportFormat,
    FaceDetector,
    Force,
    Format,
    Fps,
    Frames,
    Loss,
    Manipulation,
    ModelOption,
    OneModelOption,
    Opt,
    Quiet,
    Runtime,
    RuntimeOption,
    ScoringArchOption,
    Threshold,
    WeightsOption,
)
from mesocli.errors import UsageError

app = typer.Typer(
    name="mesocli",
    help="Find faces in videos and tell whether they were tampered with (MesoNet). "
    "Every score is p_fake, from 0 (real) to 1 (forged): the network's score that a face is forged, not a "
    "calibrated probability.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

command = command_of(app)


def _version(value: bool) -> None:
    if value:
        from mesocli.provenance import code_digest

        echo(f"mesocli {__version__} (code {code_digest()})")
        raise typer.Exit()


def _reads_media(function: Callable[..., Any]) -> Callable[..., Any]:
    """A command that reads images or videos: ``$MESOCLI_MAX_IMAGE_PIXELS`` is checked before it starts (a bad
    value stops the run before any input is read), once its options are parsed (``--help`` is always shown)."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if os.environ.get("MESOCLI_MAX_IMAGE_PIXELS"):
            from mesocli.preprocess import pixel_limit

            pixel_limit()
        return function(*args, **kwargs)

    return checked


@app.callback()
def _root(
    version: Opt(bool, "Show the version and the code digest.", "--version", callback=_version, is_eager=True) = False,
    debug: Opt(bool, "Show an error's traceback above its line (same exit status).", "--debug") = False,
) -> None:
    DEBUG["on"] = debug


@command()
def models(fmt: Format("table or json.", choices="table|json") = "table") -> None:
    """List the bundled weights and their model cards' figures (MesoNet validation split, FaceForensics++ test)."""
    from mesocli.writers import console, models_view

    show(models_view(fmt, console().width))


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the user gave parameter ``name`` (on the command line or through its environment variable)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


@command(names={"data": "DATA"}, quiet_interrupt=True)
@_reads_media
def train(
    ctx: typer.Context,
    data: Arg(list[Path] | None, "Dataset roots: ROOT/<split>/{df,real}/; several are mixed with equal loss shares.",
              "DATA...", "ROOT") = None,
    mix: Opt(Path | None, "Mixing file (JSON) of sources: root, split, methods, every, weight, heldout, runs "
             "(docs/training.md).", metavar="FILE") = None,
    out: Opt(Path | None, "Run folder for checkpoints, logs and best weights.", metavar="DIR") = None,
    split: Opt(str, "Split to train on (DATA roots; a mixing file names each source's).", metavar="NAME") = "train",
    arch: Opt(Arch, "Network to train.") = Arch.meso4,
    model: Opt(Manipulation, "Manipulation label for the model card.") = Manipulation.df,
    epochs: Opt(int, "Maximum number of epochs.") = 30,
    batch_size: Opt(int, "Batch size (paper: 75).") = 75,
    learning_rate: Opt(float, "Initial learning rate (paper: 1e-3).") = 1e-3,
    lr_decay_every: Opt(int, "Divide the learning rate by 10 every N iterations.") = 1000,
    loss: Opt(Loss, "mse on the sigmoid (paper) or bce.") = Loss.mse,
    val_fraction: Opt(float, "Held-out part of the training split for model selection.") = 0.1,
    patience: Opt(int, "Early stop after N epochs without held-out improvement.") = 6,
    seed: Opt(int, "Seed for the held-out split, shuffling and augmentation.") = 0,
    heldout_seed: Opt(int | None, "Seed for the held-out split only (default: --seed), so runs of other seeds "
                      "select on the same held-out part.") = None,
    heldout_runs: Opt(int, "Hold out runs of N consecutive files (by name) where names carry no video ids: for "
                      "frames stored in video order. 0 = single files.") = 0,
    augment: Opt(bool, "Random affine, flip, colour changes (the paper's; --rescale-prob and --degrade-prob apply "
                           "either way).", "--augment/--no-augment") = True,
    rescale_prob: Opt(float, "Share of faces shrunk to 50-100 % and enlarged back (resampling blur), 0 = paper.") = 0.0,
    class_weights: Opt(bool, "Weight each class's loss by N / (2 N_class).", "--class-weights/--no-class-weights")
    = True,
    degrade_prob: Opt(float, "Per face, each of JPEG re-compression, blur and noise with this probability.") = 0.0,
    init_weights: Opt(Path | None, "Start from these weights (any file of the same network) instead of a random "
                      "init.", metavar="FILE") = None,
    select: Opt(str, "Held-out figure that picks the best epoch: accuracy, auc or loss.",
                metavar="<accuracy|auc|loss>") = "accuracy",
    freeze_blocks: Opt(int, "Keep the first N of the 4 feature blocks as they start (with --init-weights).") = 0,
    label_smoothing: Opt(float, "Train towards y (1 - e) + e / 2 instead of 0 / 1 (0 = paper).") = 0.0,
    resize: Opt(str, "Resize of a face crop that is not 256x256: bilinear, or nearest as the authors' Keras "
                "loader (their weights were trained so); the card records it for eval and explain.",
                metavar="<bilinear|nearest>") = "bilinear",
    jit: Opt(bool, "XLA-compile the training step.", "--jit/--no-jit") = False,
    limit: Opt(int | None, "Use only N images (quick trials).") = None,
    resume: Opt(Path | None, "Continue the run in this folder; with --epochs / --patience, to a new plan.",
                metavar="DIR") = None,
    force: Force("Start over in an --out folder that holds a run.") = False,
    quiet: Quiet = False,
) -> None:
    """Train Meso4 / MesoInception4 with the paper's recipe, with a checkpoint each epoch.

    Continue a stopped or finished run with --resume (which may change --epochs and --patience).
    """
    import shlex

    from mesocli import api

    command_line = shlex.join(["mesocli", *sys.argv[1:]])  # what the run records as its command
    if resume is not None:
        given = [param for param in ctx.command.params
                 if param.name not in ("resume", "quiet", "epochs", "patience") and _given(ctx, param.name)]
        if given:
            names = ", ".join(param.opts[0] if param.param_type_name == "option" else param.human_readable_name
                              for param in given)
            raise UsageError("--resume continues a run with the settings in its config.json; only --epochs and "
                             f"--patience can change: drop {names}")
        changes = {name: value for name, value in (("epochs", epochs), ("patience", patience)) if _given(ctx, name)}
        state, run_dir = api.train(resume=resume, progress=not quiet, command=command_line, **changes)
    else:
        if mix is not None and _given(ctx, "split"):  # each source of a mixing file names its split
            raise UsageError('--split goes with DATA roots; in a mixing file, give each source "split"')
        state, run_dir = api.train(
            data, out, mix=mix, split=split, force=force, progress=not quiet, command=command_line, arch=arch.value,
            manipulation=model.value, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            lr_decay_every=lr_decay_every, loss=loss.value, val_fraction=val_fraction, patience=patience, seed=seed,
            augment=augment, rescale_prob=rescale_prob, class_weights=class_weights, jit_compile=jit, limit=limit,
            degrade_prob=degrade_prob, init_weights=str(init_weights) if init_weights else None, select=select,
            heldout_seed=heldout_seed, freeze_blocks=freeze_blocks, label_smoothing=label_smoothing,
            heldout_runs=heldout_runs, resize=resize,
        )
    echo(f"best epoch {state.best_epoch}: {run_dir}/best.weights.h5 (model card {run_dir}/best.json)")


@command("eval")
@_reads_media
def evaluate(
    data: Opt(Path | None, "Dataset root: ROOT/<split>/{df,real}/ or ROOT/{df,real}/ (default: $MESOCLI_DATA).",
              metavar="ROOT") = None,
    split: Opt(str, "Split to evaluate (ignored when ROOT holds df/ and real/).", metavar="NAME") = "validation",
    arch: ScoringArchOption = None,
    model: Opt(Detector | None, "Bundled detector: df (default), f2f, fs, or any (scored by the largest p_fake).")
    = None,
    weights: WeightsOption = None,
    threshold: Threshold = 0.5,
    fmt: Format("table, or json (one object on stdout).", choices="table|json") = "table",
    plot: Opt(Path | None, "Write the ROC curve with the operating point (and a curve per method folder of the fakes), "
              "and the reliability diagram beside it, to FILE (e.g. roc.png; its suffix picks the format: .png, "
              ".pdf, .svg, ...).", metavar="FILE") = None,
    scores: Opt(Path | None, "Write one CSV row per image (path, label, video, p_fake, verdict) to FILE "
                "(e.g. scores.csv).", metavar="FILE") = None,
    force: Force("Overwrite existing --plot / --scores.") = False,
    bootstrap: Opt(int, "Resamples for the 95 % intervals (by video where names carry ids); 0: none.") = 1000,
    limit: Opt(int | None, "Score about N images only (a quick check): whole videos, drawn per class and method "
               "folder with --seed; the outputs say it is a subset.") = None,
    seed: Opt(int | None, "Seed of the --limit draw (default 0; only with --limit).", show_default=False) = None,
    compare: Opt(Path | None, "Also score these weights (any file --weights takes) on the same faces: the figures "
                 "minus theirs, with paired 95 % intervals (an interval without 0 is a difference these faces show).",
                 metavar="FILE") = None,
    min_track_frames: Opt(int | None, "For a dataset of extract --all-faces only (default 3, as scan's): a face track "
                          "of fewer crops does not decide its video's figures while a longer one does (if none does, "
                          "the crops of every track are pooled); 1: every track decides, the most-fake wins.",
                          metavar="K", show_default=False) = None,
    quiet: Quiet = False,
    runtime: RuntimeOption = Runtime.onnx,
) -> None:
    """Evaluate weights on a dataset split (accuracy, AUC, EER, video-level accuracy and AUC, 95 % intervals).

    Video figures of an extract --all-faces dataset rest on tracks of --min-track-frames crops or more, as scan's."""
    from mesocli.evaluate import run_eval
    from mesocli.writers import eval_view

    report = run_eval(data, split, model=model and model.value, arch=arch and arch.value, weights=weights,
                      runtime=runtime.value, threshold=threshold, fmt=fmt, plot=plot, scores=scores, force=force,
                      quiet=quiet, bootstrap=bootstrap, limit=limit, seed=seed, compare_with=compare, log=err,
                      min_track_frames=min_track_frames)
    show(eval_view(report, fmt))


@command(
    help="Export weights for other runtimes: ONNX (what scan and eval run), TensorFlow SavedModel, TFLite.\n\n"
    "The exported model takes uint8 (N, 256, 256, 3) RGB faces, divides by 255 inside, and outputs p_real "
    "(the network's sigmoid) and p_fake = 1 - p_real; its model card (source sha256, arch, manipulation, "
    "input, scaling) is in the ONNX metadata (a JSON file for the other formats). --bundled regenerates "
    "the bundled weights/*.onnx from their .weights.h5 (with --check: exit 1 if any is stale, write nothing). "
    "See docs/models.md.",
)
def export(
    sources: Arg(list[Path] | None, "Weights files: mesocli's .weights.h5 or the authors' .h5.", "WEIGHTS...",
                 "FILE") = None,
    fmt: Format("onnx, savedmodel or tflite.", ExportFormat) = ExportFormat.onnx,
    out: Opt(str | None, "Output file (one source) or folder (several, or ending with /); default: beside the source.",
             "--out", "-o", metavar="FILE|DIR") = None,
    bundled: Opt(bool, "Export every bundled weights file to ONNX.", "--bundled") = False,
    check: Opt(bool, "With --bundled: only check each export is fresh (not with --verify or --force).",
               "--check") = False,
    verify: Opt(bool, "Compare p_fake with the Keras model on 8 random test images (loads TensorFlow).",
                "--verify") = False,
    force: Force("Replace an existing output.") = False,
) -> None:
    """Export weights (help text above)."""
    from mesocli.api import export_weights

    raise typer.Exit(export_weights(sources or [], fmt.value, out, bundled=bundled, check=check, verify=verify,
                                    force=force, echo=echo, log=err))


@command(quiet_interrupt=True)
@_reads_media
def extract(
    inputs: Arg(list[Path] | None, "Videos, images or folders (searched recursively, hidden files skipped with a "
                "note).", "INPUT...", "PATH") = None,
    out_dir: Arg(Path | None, "Output folder: crops and manifest.jsonl.", "OUT_DIR", "DIR") = None,
    frames: Frames = None,
    fps: Fps = None,
    every: Every = None,
    all_frames: AllFrames = False,
    detector: FaceDetector = "hog",
    all_faces: Opt(bool, "Every face, with a track id per face track (one face through one shot: a hard cut "
                   "starts new tracks) (default: one face, the largest when first found, then followed; a "
                   "close-up, found by a small search once per second of video, is taken instead).",
                   "--all-faces") = False,
    layout: Opt(str, "video: OUT_DIR/<video>/, crops named <frame>.jpg; dataset: OUT_DIR/<split>/<label>/, "
                "crops named <video>_<frame>.jpg.",
                metavar="<video|dataset>") = "video",
    label: Opt(str | None, "--layout dataset: df or real, optionally /METHOD (df/Face2Face).",
               metavar="<df|real>[/METHOD]") = None,
    split: Opt(str | None, "--layout dataset: split folder, e.g. train.", metavar="NAME") = None,
    labels: Opt(Path | None, "--layout dataset: each input's label from FILE, instead of --label: a DFDC "
                "metadata.json, or a CSV with a header naming a file (path, file, filename, name or video) and a "
                "label column (FAKE/REAL, fake/real, df/real or 1/0, 1 = fake; optional original column). Inputs "
                "not in FILE are not extracted (listed as unlabelled).", metavar="FILE") = None,
    quality: Opt(int, "JPEG quality of the crops.") = 95,
    workers: Opt(int | None, "Inputs processed in parallel (default: the cores this process may use, no more "
                  "than its CPU quota).") = None,
    hash_inputs: Opt(bool, "Record each input's SHA-256 in the manifest (sha256), and on a re-run redo an input "
                     "whose bytes changed though its size and mtime did not. --no-hash skips the extra read of "
                     "every file (huge archives): the sha256 key is then null, a re-run checks size and mtime "
                     "only.", "--hash/--no-hash") = True,
    force: Force("Use a non-empty OUT_DIR without manifest; redo one made with other options or by a mesocli "
                 "with another alignment.") = False,
    fmt: Format("Summary on stdout: table or json.", choices="table|json") = "table",
    quiet: Quiet = False,
) -> None:
    """Detect, track and align faces in videos; write 256×256 crops as a dataset (see docs/extract.md).

    Resumable: a re-run skips the inputs that OUT_DIR/manifest.jsonl marks complete.

    Exit status: 0 done; 2 usage error; 3 an input failed (the others are still extracted, the manifest says why).
    """
    from mesocli.extract import check_format, extract_inputs, format_summary  # not mesocli.api: no scan, evaluate

    if not inputs or out_dir is None:  # one path is taken for OUT_DIR: say which is missing
        given = f" (only {out_dir} was given)" if out_dir is not None else ""
        raise UsageError(f"give the videos, images or folders, then OUT_DIR, the folder for the crops{given}; "
                         "see 'mesocli extract --help'")
    check_format(fmt)
    summary = extract_inputs(
        inputs, out_dir, frames=frames, fps=fps, every=every, all_frames=all_frames, detector=detector,
        all_faces=all_faces, layout=layout, label=label, split=split, quality=quality, workers=workers,
        force=force, progress=not quiet and sys.stderr.isatty(), hash_inputs=hash_inputs, quiet=quiet, labels=labels,
    )
    echo(format_summary(summary, fmt), nl=False)
    raise typer.Exit(summary.exit_code)


@command(
    "explain", quiet_interrupt=True,
    # one line per paragraph: the rich help keeps a docstring's line breaks
    help="Heatmaps (Grad-CAM) of where the network found its evidence on face crops; see docs/explain.md.\n\n"
    "Prints one JSON line per face (path, status, error, p_fake, scored_as, verdict, threshold, target, heatmap, "
    "model; target: the class the map shows evidence for, fake or real, the one the network decided; model: the "
    "detector's arch, name and weights_sha256). Each file is scored as given, as the face crop: no face detection "
    "or alignment, so scan, which finds and aligns the face, may give another p_fake; scan --detector none gives "
    "this one.\n\n"
    "Exit status: 0 done; 2 usage error; 3 a face could not be read (the others are still explained).",
)
@_reads_media
def explain_command(
    faces: Arg(list[Path], "Aligned face crops (images) or folders of them.", "FACE...", "FILE|DIR"),
    out: Opt(Path, "Folder for the heatmaps: OUT/<face>.png.", show_default=False, metavar="DIR"),
    model: OneModelOption = None,
    arch: ArchOption = None,
    weights: WeightsOption = None,
    threshold: Threshold = 0.5,
    force: Force("Replace existing heatmap files.") = False,
    runtime: RuntimeOption = Runtime.onnx,
) -> None:
    """Heatmaps of face crops (help text above)."""
    import json

    from mesocli.explain import explain_inputs  # not mesocli.api, which imports scan, extract and evaluate
    from mesocli.writers import json_text

    code = 0
    for line in explain_inputs(faces, out, model=model and model.value, arch=arch and arch.value, weights=weights,
                        threshold=threshold, force=force, runtime=runtime.value, log=err):
        echo(json_text(json.dumps(line, ensure_ascii=False)))  # invisible characters as \u escapes, as scan's
        code = max(code, 3 if line["status"] == "error" else 0)
    raise typer.Exit(code)


@command(
    quiet_interrupt=True,
    help="Score faces in videos, images or folders and give a verdict per input.\n\n"
    "Each input gets status ok (with p_fake and a verdict), no_face, or error (with the reason, never "
    "a score). p_fake is the network's score that a face is forged, from 0 (real) to 1 (forged), not a calibrated "
    "probability; a video's combines its faces' (--aggregate). Images with --detector none are taken as "
    "aligned face crops. See docs/scan.md for the JSON fields, the aggregation rules and the timeline.\n\n"
    "Folders are searched recursively; hidden files and folders (names starting with '.') inside them are "
    "skipped, and a note on stderr says how many (even with --quiet): name them to scan them.\n\n"
    "Exit status: 0 every input was scanned; 1 with --fail-on-fake when a verdict is fake; 2 usage "
    "error (bad option, unusable weights, --output exists); 3 an input failed, had no face (unless --no-face-ok) or "
    "does not exist (the others are still reported; 3 wins over 1); 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (a "
    "table lists the inputs done); 70 an error mesocli did not foresee (a bug: its traceback, then one line).",
)
@_reads_media
def scan(
    inputs: Arg(list[str], "Videos, images, folders (recursive, hidden files skipped with a note), or - (paths on "
                "stdin, one per line, each scanned as it arrives).", "INPUT...", "PATH|-"),
    model: ModelOption = None,
    arch: ScoringArchOption = None,
    weights: WeightsOption = None,
    detector: FaceDetector = "hog",
    frames: Frames = None,
    fps: Fps = None,
    every: Every = None,
    all_frames: AllFrames = False,
    all_faces: Opt(bool, "A verdict per face track; the video's is the most-fake track's of those seen in "
                   "--min-track-frames sampled frames or more (default: one face, the "
                   "largest when first found, then followed; a close-up, found by a small search once per second of "
                   "video, is scored instead).", "--all-faces") = False,
    min_track_frames: Opt(int | None, "With --all-faces only (default 3): a track seen in fewer sampled frames "
                          "does not decide a video's verdict while a longer one does (if none does, the faces of every "
                          "track are pooled); 1: every track decides, the most-fake wins (the rule before).",
                          metavar="K", show_default=False) = None,
    aggregation: Opt(str, "Frame scores to a video score: mean (paper), vote (authors' code: share of frames voting "
                     "fake) or confident (DFDC winner's rule).", "--aggregate",
                     metavar="<mean|vote|confident>") = "mean",
    threshold: Threshold = 0.5,
    smooth: Opt(int, "Timeline: centred moving average over K sampled frames (an even K counts as K+1).") = 5,
    detail: Opt(bool, "Add per-frame scores to each result.", "--detail") = False,
    hash_inputs: Opt(bool, "Record each input's SHA-256 in its result (sha256), and with --resume scan again an "
                     "input whose bytes changed though its size and mtime did not. --no-hash skips the extra read "
                     "of every file (huge archives): the sha256 key is then null, a resume checks size and mtime "
                     "only.", "--hash/--no-hash") = True,
    fmt: Format("table, json, jsonl or csv (default: table on a terminal, else jsonl; with --output, by its "
                "suffix).", str | None, show_default=False, choices="table|json|jsonl|csv") = None,
    output: Opt(Path | None, "Write results to FILE, atomically.", "--output", "-o", metavar="FILE") = None,
    force: Force("Replace an existing --output or --report file; write into a non-empty --explain folder.") = False,
    fail_on_fake: Opt(bool, "Exit 1 when a verdict is fake.", "--fail-on-fake") = False,
    no_face_ok: Opt(bool, "An input in which no face was found does not make the exit status 3 (it is still a "
                    "no_face row, without a verdict): for uploads where photos without a person are expected. A "
                    "failed input still exits 3.", "--no-face-ok") = False,
    batch_size: Opt(int, "Faces per network batch.") = 32,
    quiet: Quiet = False,
    runtime: RuntimeOption = Runtime.onnx,
    engine: Opt(str, "local (this machine) or ray (a pool of Ray workers, see docs/scale.md).",
                metavar="<local|ray>") = "local",
    address: Opt(str | None, "--engine ray: cluster to join (auto, HOST:PORT, ray://HOST:PORT); default "
                 "$RAY_ADDRESS, else a local Ray.", metavar="HOST:PORT") = None,
    workers: Opt(int | None, "Processes (local) or Ray workers, one loaded model each (default: the cores this "
                  "process may use, no more than its CPU quota; $MESOCLI_WORKERS).") = None,
    resume: Opt(bool, "Append to the --output JSON Lines or CSV file, skipping the inputs it already holds.",
                "--resume")
    = False,
    explain: Opt(Path | None, "Write heatmaps of each input's most-fake and most-real faces to DIR/<input>/.",
                 metavar="DIR") = None,
    report: Opt(Path | None, "Write a one-file HTML report (verdicts, timelines, heatmaps), atomically.",
                metavar="FILE") = None,
    explain_top: Opt(int | None, "Heatmaps of the K most-fake and K most-real faces per input (with --explain or "
                     "--report; default 4).", show_default=False) = None,
    null: Opt(bool, "The paths on stdin (-) are separated by NUL bytes, as find -print0 writes them (names with a "
              "newline are read whole).", "--null", "-0") = False,
    csv_bom: Opt(bool, "Start the --output CSV file with a byte-order mark, so that Excel on Windows reads its "
                 "names as UTF-8 (other readers show it in the first header: off by default).", "--csv-bom") = False,
) -> None:
    """Score faces in videos, images or folders and give a verdict per input (help text above)."""
    from mesocli.scan import ScanOptions
    from mesocli.scan_run import run_scan

    options = ScanOptions(detector=detector, frames=frames, fps=fps, every=every, all_frames=all_frames,
                          all_faces=all_faces, min_track_frames=min_track_frames, aggregation=aggregation,
                          threshold=threshold, smooth=smooth,
                          detail=detail, batch_size=batch_size, hash_inputs=hash_inputs)
    code = run_scan(inputs, options, model=model and model.value, arch=arch and arch.value, weights=weights,
                    runtime=runtime.value, fmt=fmt, output=output, force=force, resume=resume,
                    fail_on_fake=fail_on_fake, no_face_ok=no_face_ok, quiet=quiet, engine=engine, address=address,
                    workers=workers, explain=explain, report=report, explain_top=explain_top, null=null, log=err,
                    command=shell_line(["mesocli", *sys.argv[1:]]),  # the report writes it: to reproduce the scan
                    csv_bom=csv_bom)
    raise typer.Exit(code)  # a reader that went away (`| head`): 141, see mesocli.cli_base


def main() -> None:
    """Run the command line: every error is one line on stderr (a traceback only with --debug), with its exit
    status."""
    run(app)


def entry() -> None:
    """The ``mesocli`` command (and ``python -m mesocli``): :func:`main`, ending at once after a stop's cleanup
    (:func:`mesocli.cli_base.run_process`)."""
    run_process(app)
