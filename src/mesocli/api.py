"""mesocli from Python: load a detector, scan videos, extract faces, evaluate on a dataset.

>>> import mesocli
>>> model = mesocli.load_model("df")                      # bundled Meso4 Deepfakes detector, ONNX Runtime
>>> for result in mesocli.scan(["clip.mp4", "photos/"], model=model, frames=30):
...     print(result.path, result.status, result.p_fake, result.verdict)

Every function here is re-exported by ``mesocli`` (imported on first use, so ``import mesocli`` stays
light). Bad arguments raise :class:`mesocli.errors.ParameterError` (a :class:`mesocli.errors.UsageError`)
naming the parameter; an input that cannot be read is a result with ``status == "error"``, never an
exception and never a score. A name longer than the file system allows is a one-line
:class:`mesocli.errors.UsageError`, not an OSError. One loaded model may scan from several threads at once.
What loading a model changes in the process (environment variables, a warning filter): README, "From Python".
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import PIL.Image

# The types the signatures name, imported at run time so that typing.get_type_hints resolves them (NumPy and
# Pillow load with them; TensorFlow, ONNX Runtime and dlib only when a model is loaded or a face is looked for).
from mesocli.checkpoint import TrainState
from mesocli.datasets import DATA_VARIABLE as DATA_VARIABLE  # re-exported: mesocli.api.DATA_VARIABLE
from mesocli.datasets import open_dataset as open_dataset  # re-exported: mesocli.api.open_dataset
from mesocli.detectors import DetectorSet, Ensemble
from mesocli.errors import CheckFailed, MesocliError, ParameterError, UsageError, WeightsError, check_choice, short_repr
from mesocli.errors import check_callback as _check_callback
from mesocli.errors import check_flags as _check_flags
from mesocli.errors import check_numbers as _check_numbers
from mesocli.errors import check_path as _check_path
from mesocli.errors import check_sampling as _check_sampling
from mesocli.errors import check_texts as _check_texts
from mesocli.errors import check_workers as _check_workers
from mesocli.evaluate import EvalReport, EvalStep
from mesocli.extract import ExtractStep, ExtractSummary
from mesocli.inputs import MemoryImage, scan_entries
from mesocli.runtime import OnnxModel
from mesocli.scan import ProgressObserver, ScanProgress, ScanResult
from mesocli.weights import LoadedModel

__all__ = ["DATA_VARIABLE", "Model", "PathLike", "Picture", "evaluate", "explain", "export_weights", "extract",
           "iter_scan", "load_model", "model_names", "open_dataset", "scan", "scan_schema", "train"]
"""The API (``help(mesocli.api)`` lists these; ``open_dataset`` and ``DATA_VARIABLE`` live in
:mod:`mesocli.datasets`); the classes it imports are its types, not its names."""

Model = OnnxModel | LoadedModel | DetectorSet | Ensemble
"""What :func:`load_model` returns: ONNX Runtime (default), TensorFlow, ``any``, ``arch="ensemble"``."""

PathLike = str | os.PathLike[str]

Picture = np.ndarray | PIL.Image.Image
"""A picture held in memory that :func:`scan` takes: a Pillow image, or a uint8 NumPy array, RGB (not OpenCV's
BGR): H×W, H×W×3, H×W×4, or N×H×W×3 for N pictures."""


_Function = TypeVar("_Function", bound=Callable[..., Any])
_Parameters = ParamSpec("_Parameters")
_Return = TypeVar("_Return")


def _one_line(function: _Function) -> _Function:
    """``function``, whose OSErrors that the environment caused (a name longer than the file system allows, a
    current folder deleted) are one-line :class:`UsageError` exceptions, not pathlib's tracebacks."""

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OSError as exc:
            from mesocli.fsutil import environment_error

            line = None if isinstance(exc, MesocliError) else environment_error(exc)
            if line is None:
                raise
            raise UsageError(line) from None

    return checked  # type: ignore[return-value]


def scan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one result of :func:`scan` as ``ScanResult.to_dict()`` and ``mesocli scan``
    write it, in this version: ``docs/scan.schema.json``, which the installed package holds as
    ``mesocli/scan.schema.json``. A pipeline checks rows with it (``jsonschema.validate(row, scan_schema())``); each
    row names the mesocli that wrote it in ``settings.mesocli``."""
    import json

    from mesocli.provenance import packaged_path

    packaged = Path(__file__).resolve().parent / "scan.schema.json"
    path = packaged_path("scan.schema.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{packaged}: the scan schema is missing or damaged in this installation "
                         f"({type(exc).__name__}): reinstall mesocli") from None


def model_names() -> tuple[str, ...]:
    """The names :func:`load_model` takes: each bundled manipulation, and ``any`` (all of them)."""
    from mesocli.detectors import ANY
    from mesocli.weights import MANIPULATIONS

    return (*MANIPULATIONS, ANY)


@_one_line
def load_model(name_or_path: PathLike = "df", *, arch: str | None = None, runtime: str = "onnx") -> Model:
    """A detector ready to :func:`scan` or :func:`evaluate` with.

    ``name_or_path``: a bundled detector (``df`` Deepfakes, ``f2f`` Face2Face, ``fs`` FaceSwap, ``any``:
    all of them, fake when one says fake) or a weights file (mesocli's ``.weights.h5``, the authors'
    Keras 2 ``.h5``, or an exported ``.onnx``; an ``os.PathLike`` is always a file). ``arch``: ``meso4``
    (default for bundled names), ``mesoinception4``, or ``ensemble`` (bundled names only: the mean of both
    networks' p_fake); a file's own network is found from its contents. ``runtime``: ``onnx`` (fast
    start, no TensorFlow) or ``tensorflow``. Raises :class:`mesocli.errors.WeightsError` for a file
    that is missing or does not hold fitting weights.
    """
    return _load(name_or_path, arch, runtime, "name_or_path")


def _load(name_or_path: PathLike, arch: str | None, runtime: str, parameter: str) -> Model:
    """:func:`load_model`'s work; errors name ``parameter`` (``model`` when :func:`scan` loads it)."""
    from mesocli.detectors import ENSEMBLE
    from mesocli.models import ARCHITECTURES
    from mesocli.runtime import RUNTIMES, resolve

    check_choice("runtime", runtime, RUNTIMES)
    if arch is not None:
        check_choice("arch", arch, (*ARCHITECTURES, ENSEMBLE))
    names = model_names()
    if isinstance(name_or_path, str) and name_or_path in names:
        return resolve(arch, name_or_path, None, runtime)
    path = Path(name_or_path) if isinstance(name_or_path, str | os.PathLike) else None
    if path is None or not path.exists():  # a folder or a pipe: refused by resolve as the CLI refuses it
        if path is not None and (path.suffix or len(path.parts) > 1 or not isinstance(name_or_path, str)):  # a file
            hint = f" (a bundled detector is named by a str: {os.fspath(path)!r})" if os.fspath(path) in names else ""
            raise WeightsError(f"{os.fspath(path)}: weights file not found{hint}")
        value = name_or_path if path is None else os.fspath(path)
        raise ParameterError("{" + parameter + "} must be one of {choices} or a weights file, not {value}",
                             choices=", ".join(names), value=short_repr(value))
    if arch == ENSEMBLE:  # else the library's WeightsError, which speaks of --arch and --weights
        raise ParameterError("{arch} ensemble averages the bundled weights of both networks: {" + parameter
                             + "} must be one of {choices}, not a weights file", choices=", ".join(names))
    return resolve(arch, names[0], path, runtime)


def _model(model: Model | PathLike, arch: str | None, runtime: str | None) -> Model:
    """The model that :func:`scan` and :func:`evaluate` take: ``model`` loaded (by name or path), or checked
    to be what :func:`load_model` returns; ``arch`` and ``runtime`` belong to a model that is loaded here."""
    if isinstance(model, str | os.PathLike):
        return _load(model, arch, runtime or "onnx", "model")
    if not isinstance(model, OnnxModel | LoadedModel | DetectorSet | Ensemble):
        raise ParameterError("{model} must be one of {choices}, a weights file or what load_model returned, "
                             "not {value!r}", choices=", ".join(model_names()), value=model)
    given = [name for name, value in (("arch", arch), ("runtime", runtime)) if value is not None]
    if given:
        raise ParameterError("{" + given[0] + "} applies when {model} is a name or a weights file, not a loaded "
                             "model: give it to load_model")
    return model


@_one_line
def iter_scan(
    inputs: PathLike | Picture | Iterable[PathLike | Picture],
    model: Model | PathLike = "df",
    *,
    arch: str | None = None,
    runtime: str | None = None,
    frames: int | None = None,
    fps: float | None = None,
    every: int | None = None,
    all_frames: bool = False,
    detector: str = "hog",
    all_faces: bool = False,
    min_track_frames: int | None = None,
    aggregation: str = "mean",
    threshold: float = 0.5,
    smooth: int = 5,
    detail: bool = False,
    batch_size: int = 32,
    workers: int | None = 1,
    hash_inputs: bool = True,
    on_progress: Callable[[ScanProgress], object] | None = None,
) -> Iterator[ScanResult]:
    """Like :func:`scan`, but yields each input's result as soon as it is ready (in input order).

    The arguments are checked (and the model loaded) when this is called, not at the first result.
    Closing the iterator early stops the scan (nothing more is scored); a KeyboardInterrupt that comes while it
    works is raised after the results of the inputs read to their end (their faces scored for 5 s at most).
    ``inputs`` given as an iterator (a generator: frames of a
    stream, paths as they arrive) is read as the scan goes, so results come before it ends: its first item is
    checked when this is called, each other when the scan reaches it (with ``workers`` > 1 too: its paths are
    handed to the workers as they come; a picture in memory among them raises ParameterError when reached).
    ``on_progress``: called with a :class:`mesocli.scan.ScanProgress` as each input starts, as each of its
    sampled frames is read and as its result is ready, in the calling thread, printing nothing (with ``workers`` >
    1: as each result is ready only); an exception it raises ends the scan and comes out of the loop.
    """
    from mesocli.parallel import default_workers
    from mesocli.scan import ScanOptions, scan_inputs

    frames, fps, every = _check_sampling(frames, fps, every)
    threshold, smooth, batch_size, min_track_frames = _check_numbers(
        threshold=(threshold, float), smooth=(smooth, int), batch_size=(batch_size, int),
        min_track_frames=(min_track_frames, int | None))
    all_frames, all_faces, detail, hash_inputs = _check_flags(all_frames=all_frames, all_faces=all_faces,
                                                              detail=detail, hash_inputs=hash_inputs)
    options = ScanOptions(detector=detector, frames=frames, fps=fps, every=every, all_frames=all_frames,
                          all_faces=all_faces, min_track_frames=min_track_frames, aggregation=aggregation,
                          threshold=threshold, smooth=smooth, detail=detail, batch_size=batch_size,
                          hash_inputs=hash_inputs)
    _check_callback("on_progress", on_progress, "a ScanProgress")
    workers = _check_workers(workers) or default_workers()
    entries = scan_entries(inputs, lazy=True)  # a generator's items are read as the scan goes
    if workers > 1:
        entries = _paths_only(entries, workers)
    planned = _planned(entries)
    observer = None if on_progress is None else ProgressObserver(
        on_progress, len(planned) if isinstance(planned, list) else None)
    loaded = _model(model, arch, runtime)
    if workers > 1:
        from mesocli.parallel import scan_parallel

        results = scan_parallel(planned, loaded, options, workers, held_back=True)  # type: ignore[arg-type]
    else:
        results = scan_inputs(planned, loaded, options, observer=observer)
    return results if observer is None else _told(results, observer)


def _paths_only(entries: Iterable[str | MemoryImage], workers: int) -> Iterable[str | MemoryImage]:
    """``entries``, refused when one is a picture in memory (scanned in this process only): a list's now, a
    generator's first now and each other when it is reached (a generator is read as the scan goes)."""

    def refuse() -> ParameterError:
        return ParameterError("{workers} {value}: pictures in memory are scanned in this process: give workers=1",
                              value=workers)

    if isinstance(entries, list):
        if not all(isinstance(entry, str) for entry in entries):
            raise refuse()
        return entries
    iterator = iter(entries)
    first = next(iterator)  # (scan_entries gives at least one)
    if not isinstance(first, str):
        raise refuse()

    def checked() -> Iterator[str | MemoryImage]:
        yield first
        for entry in iterator:
            if not isinstance(entry, str):
                raise refuse()
            yield entry

    return checked()


def _told(results: Iterator[ScanResult], observer: ProgressObserver) -> Iterator[ScanResult]:
    """``results``, each told to ``observer`` (its ``done``) before it is yielded; the scan is closed when this
    is, or when the callback raises."""
    try:
        for result in results:
            observer.done(result)
            yield result
    finally:
        close = getattr(results, "close", None)  # (a generator: its scan stops)
        if close is not None:
            close()


def _planned(entries: Iterable[str | MemoryImage]) -> Iterable[str | MemoryImage]:
    """The scan's entries, each folder replaced by its media files and a file reached twice planned once (one
    result per file, as with workers; one per picture): a list for a list, else as the entries come."""
    from mesocli.inputs import plan_inputs

    seen: set[Any] = set()
    planned = (item for entry in entries
               for item in (plan_inputs([entry], seen=seen) if isinstance(entry, str) else [entry]))
    return list(planned) if isinstance(entries, list) else planned


def _parameters_of(
    like: Callable[_Parameters, Any],
) -> Callable[[Callable[..., _Return]], Callable[_Parameters, _Return]]:
    """The decorated function with ``like``'s parameters, for ``help()`` and type checkers, and its own return type."""

    def decorate(function: Callable[..., _Return]) -> Callable[_Parameters, _Return]:
        function.__signature__ = inspect.signature(like).replace(  # type: ignore[attr-defined]
            return_annotation=inspect.signature(function).return_annotation)
        return function

    return decorate


@_one_line
@_parameters_of(iter_scan)  # its options, checked by a type checker too (not **options: Any)
def scan(inputs: PathLike | Picture | Iterable[PathLike | Picture], model: Model | PathLike = "df",
         **options: Any) -> list[ScanResult]:
    """Scan videos, images and folders (recursively): one :class:`mesocli.scan.ScanResult` per file, in order (a file
    reached twice, through a symbolic or hard link or named twice, once: under its first name).

    ``inputs`` may also hold pictures already in memory (:data:`Picture`: a Pillow image, or an RGB uint8
    NumPy array; an N×H×W×3 array is N pictures): each is scanned as an image file is, its result's ``path``
    ``<image N>`` (N: its place among the inputs) and ``sha256`` None; their pixels are read as they are
    scanned, in this process (``workers=1``).

    ``model``: what :func:`load_model` returned, or a name or path to load (with ``arch=`` and
    ``runtime=``, default ``onnx``; a loaded model takes neither), at every call: load it once to scan often.
    Frame sampling: at most one of ``frames``
    (N evenly spaced, default 30), ``fps``, ``every`` (every K-th frame) and ``all_frames``. ``detector``:
    ``hog``, ``cnn``, or ``none`` (inputs are aligned face crops). ``aggregation``: ``mean``, ``vote`` or
    ``confident``; the verdict is ``fake`` when ``p_fake >= threshold``. ``all_faces``: a verdict per face
    track (``min_track_frames``, only with ``all_faces``, default 3: a track of fewer sampled frames does not
    decide a video's verdict; 1: every track does). ``detail``: keep per-frame scores. ``workers``: processes
    (default 1; ``None``: one per core).
    ``hash_inputs=False`` skips hashing each file (``sha256`` is then None; ``scan --no-hash``).
    ``on_progress``: a function called with each :class:`mesocli.scan.ScanProgress` (see :func:`iter_scan`).
    Each result has ``status`` (``ok``, ``no_face`` or ``error``), ``error`` and ``error_kind`` (an error's one line,
    and its kind to route on, one of :data:`mesocli.errors.ERROR_KINDS`: ``truncated``, ``not_media``, ...; None
    unless an error), ``sha256`` (the file's SHA-256, None for an
    error), ``media`` (its size in bytes and a video's codec, displayed size, fps and length; None for an error or
    a picture in memory), ``p_fake``, ``verdict``, ``segments`` and ``to_dict()`` (the JSON object of ``mesocli scan``,
    docs/scan.md).
    """
    unknown = sorted(set(options) - set(inspect.signature(iter_scan).parameters))
    if unknown:  # named here, not as iter_scan's
        hint = " (a weights file goes in model=)" if "weights" in unknown else ""
        raise TypeError(f"scan() got an unexpected keyword argument {unknown[0]!r}{hint}")
    return list(iter_scan(inputs, model, **options))


@_one_line
def extract(
    inputs: PathLike | Iterable[PathLike],
    out_dir: PathLike,
    *,
    frames: int | None = None,
    fps: float | None = None,
    every: int | None = None,
    all_frames: bool = False,
    detector: str = "hog",
    all_faces: bool = False,
    layout: str = "video",
    label: str | None = None,
    split: str | None = None,
    quality: int = 95,
    workers: int | None = 1,
    force: bool = False,
    progress: bool = False,
    hash_inputs: bool = True,
    quiet: bool = False,
    labels: PathLike | None = None,
    on_progress: Callable[[ExtractStep], object] | None = None,
) -> ExtractSummary:
    """Detect, track and align faces; write 256x256 crops and ``manifest.jsonl`` to ``out_dir``.

    ``inputs``: videos, images and folders, as paths (a picture in memory, which :func:`scan` takes, is refused:
    the manifest records each input's file, its size, time and SHA-256, to resume by).

    The frames and faces to take, as for :func:`scan`: ``frames``, ``fps``, ``every``, ``all_frames``,
    ``detector`` and ``all_faces``. Resumable: inputs the manifest marks complete are
    skipped, unless their file changed (size, mtime; bytes, checked by hashing unless ``hash_inputs=False``).
    ``layout="dataset"`` writes ``out_dir/<split>/<label>/<video>_<frame>.jpg`` (``label``: ``df`` or ``real``,
    optionally ``/METHOD``), or with ``labels`` (a DFDC ``metadata.json`` or a CSV of labels, docs/extract.md) each
    input's own label (an input not in it is ``unlabelled``, not extracted). ``workers``: processes (``None``: one
    per core).
    Returns the summary (one result per input: ``ok``, ``no_face``, ``error``, ``skipped``; its ``sha256``, the
    input file's SHA-256 as the manifest records it, None for an error). ``hash_inputs=False`` skips hashing
    each input (``extract --no-hash``: ``sha256`` None). A resume that reads 1 GB or more again to check the
    inputs done says so on stderr first, unless ``quiet``; ``progress`` shows a byte counter while it reads.
    ``on_progress``: called with a :class:`mesocli.extract.ExtractStep` as each input starts, as each frame it
    reads is read and once its crops and manifest line are written, in the calling thread, printing nothing (with
    ``workers`` > 1: once each input is written only); an exception it raises stops the run as Ctrl-C does (the
    input under way leaves no crop nor manifest line) and comes out of this call.
    """
    from mesocli.extract import extract_inputs

    return extract_inputs(inputs, out_dir, frames=frames, fps=fps, every=every, all_frames=all_frames,
                          detector=detector, all_faces=all_faces, layout=layout, label=label, split=split,
                          quality=quality, workers=workers, force=force, progress=progress, hash_inputs=hash_inputs,
                          quiet=quiet, labels=labels, on_progress=on_progress)


@_one_line
def evaluate(
    data: PathLike | None = None,
    model: Model | PathLike = "df",
    *,
    split: str | None = "validation",
    arch: str | None = None,
    runtime: str | None = None,
    threshold: float = 0.5,
    progress: bool = False,
    bootstrap: int = 1000,
    limit: int | None = None,
    seed: int | None = None,
    compare: Model | PathLike | None = None,
    on_progress: Callable[[EvalStep], object] | None = None,
    min_track_frames: int | None = None,
) -> EvalReport:
    """Score every face crop of a labelled dataset (see :func:`open_dataset`) and report accuracy, AUC,
    EER and video-level accuracy with their 95 % intervals (``bootstrap`` resamples, 0: none)
    (:class:`mesocli.evaluate.EvalReport`; ``to_dict()`` is the JSON of ``mesocli eval``). Unreadable
    files are listed in ``report.skipped``, not scored. ``model``, ``arch``, ``runtime``: as for :func:`scan`.
    ``limit`` N: about N faces only, whole videos drawn per class and method folder with ``seed`` (default 0;
    only with ``limit``) (:func:`mesocli.evaluate.limit_dataset`; ``report.data["subset"]`` records the draw).
    ``compare``: a second model (as ``model``; its network read from the file), scored on the same faces:
    ``report.comparison`` holds ``model``'s figures minus its, with paired intervals (``eval --compare``,
    :func:`mesocli.evaluate.compare`). ``on_progress``: called with a :class:`mesocli.evaluate.EvalStep` after each
    batch of faces is scored and once before the figures are computed, in the calling thread, printing nothing;
    an exception it raises comes out of this call. ``min_track_frames``: for a dataset of ``extract(all_faces=True)``
    only (default 3), a face track of fewer crops does not decide its video's figures while a longer one does, as
    ``scan(all_faces=True)`` decides (:func:`mesocli.evaluate.check_min_track_frames`)."""
    from mesocli.aggregate import check_threshold
    from mesocli.evaluate import check_bootstrap, check_limit, check_min_track_frames, limit_dataset
    from mesocli.evaluate import evaluate as evaluate_dataset

    threshold, bootstrap, limit, seed = _check_numbers(threshold=(threshold, float), bootstrap=(bootstrap, int),
                                                       limit=(limit, int | None), seed=(seed, int | None))
    (min_track_frames,) = _check_numbers(min_track_frames=(min_track_frames, int | None))
    (progress,) = _check_flags(progress=progress)
    _check_texts(split=split)
    _check_callback("on_progress", on_progress, "an EvalStep")
    _check_path("data", data, optional=True)
    check_threshold(threshold)
    check_bootstrap(bootstrap)
    check_limit(limit, seed)
    check_min_track_frames(min_track_frames)
    dataset = limit_dataset(open_dataset(data, split), limit, seed)
    check_min_track_frames(min_track_frames, dataset)
    loaded = _model(model, arch, runtime)
    other = _model(compare, None, runtime) if compare is not None else None
    return evaluate_dataset(loaded, dataset, threshold, progress=progress, bootstrap=bootstrap, compare_with=other,
                            on_progress=on_progress, min_track_frames=min_track_frames)


@_one_line
def train(data: PathLike | Iterable[PathLike] | None = None, out: PathLike | None = None, *,
          mix: PathLike | None = None, resume: PathLike | None = None, split: str | None = "train", force: bool = False,
          progress: bool = True, **settings: Any) -> tuple[TrainState, Path]:
    """Train a network on the dataset roots ``data`` (``ROOT/<split>/{df,real}/``; several are mixed
    with equal loss shares) or the sources of a ``mix`` file, in the run folder ``out``; or continue
    the run in ``resume`` (only its ``epochs`` and ``patience`` may change). ``settings``: fields of
    :class:`mesocli.training.TrainConfig` (``arch``, ``manipulation``, ``epochs``, ...), and ``heldout_runs``
    N: the roots' files without video ids are held out in runs of N (``runs`` of a mixing file's
    sources, :class:`mesocli.sources.Source`). Returns the final
    :class:`mesocli.training.TrainState` and the run folder (its best weights: ``best.weights.h5``). The run
    records this call (``mesocli.api.train(data='...', ...)``) as the command that started or extended it."""
    from dataclasses import asdict, fields

    from mesocli import training
    from mesocli.sources import Source, read_mix

    force, progress = _check_flags(force=force, progress=progress)
    _check_texts(split=split)
    if not isinstance(data, str | os.PathLike | None):
        data = list(data)  # read once, for the call recorded and for the roots
    for root in data if isinstance(data, list) else [data]:
        _check_path("data", root, optional=True)
    for name, value in (("out", out), ("mix", mix), ("resume", resume)):
        _check_path(name, value, optional=True)
    given_settings = set(settings) - {"command", "heldout_runs"}
    # train's own parameters and the run's records
    own = {"data", "split", "sources", "extensions", "workdir", "provenance", "source_extracts", "init_weights_record"}
    unknown = sorted(given_settings - ({item.name for item in fields(training.TrainConfig)} - own))
    if unknown:  # named here, not as TrainConfig's
        raise TypeError(f"train() got an unexpected keyword argument {unknown[0]!r}")
    command = settings.pop("command", "")
    if not command:  # the CLI gives its command line
        command = _python_call(train, {"data": data, "out": out, "mix": mix, "resume": resume, "split": split,
                                       "force": force, "progress": progress, **settings})
    if resume is not None:
        changes = {key: settings.pop(key) for key in ("epochs", "patience") if key in settings}
        given = [key for key, value in {"data": data, "mix": mix, "out": out}.items() if value is not None]
        if given or settings:
            given = [f"{{{key}}}" for key in [*given, *settings]]
            raise ParameterError(f"{{resume}} continues a run with the settings in its config.json; only {{epochs}} "
                                 f"and {{patience}} can change: drop {', '.join(given)}")
        return training.resume_run(Path(resume), progress=progress, command=command, **changes), Path(resume)
    roots = [data] if isinstance(data, str | os.PathLike) else data or []
    if not (roots or mix) or out is None:
        raise ParameterError("give {data} (or {mix} FILE) and {out} RUN_DIR (or {resume} RUN_DIR)")
    if roots and mix:
        raise ParameterError("give {data} roots or {mix} FILE, not both")
    runs = settings.pop("heldout_runs", 0)
    (runs,) = _check_numbers(heldout_runs=(runs, int))  # a Python int, as every other setting
    if runs and mix:
        raise ParameterError("{heldout_runs} goes with {data} roots; in a mixing file, give each source \"runs\"")
    if mix and split != "train":  # the default; the CLI refuses an explicit --split train too
        raise ParameterError("{split} goes with {data} roots; in a mixing file, give each source \"split\"")
    if runs < 0:
        raise ParameterError("{heldout_runs} {value}: must be 0 (single files) or more", value=runs)
    sources = read_mix(Path(mix)) if mix else [Source(os.fspath(root), split or None, runs=runs) for root in roots]
    listed = len(sources) > 1 or mix or runs
    config = training.TrainConfig(data=sources[0].root, split=split or None, command=command, **settings,
                                  sources=[asdict(source) for source in sources] if listed else None)
    return training.start_run(config, Path(out), force=force, progress=progress), Path(out)


def _python_call(function: Callable[..., Any], arguments: dict[str, Any]) -> str:
    """``function`` called with ``arguments`` as Python source, those at their defaults left out and paths
    written as strings: what a run records as the command that made it."""
    parameters = inspect.signature(function).parameters

    def literal(value: Any) -> str:
        if isinstance(value, list | tuple):
            return "[" + ", ".join(map(literal, value)) + "]"
        return repr(os.fspath(value) if isinstance(value, os.PathLike) else value)

    given = [f"{key}={literal(value)}" for key, value in arguments.items()
             if key not in parameters or value != parameters[key].default]
    return f"{function.__module__}.{function.__name__}({', '.join(given)})"


@_one_line
def export_weights(sources: Iterable[PathLike] = (), fmt: str = "onnx", out: PathLike | None = None, *,
                   bundled: bool = False, check: bool = False, verify: bool = False, force: bool = False,
                   echo: Callable[[str], None] | None = None, log: Callable[[str], None] | None = None) -> int:
    """Export weights files (``.weights.h5`` or the authors' ``.h5``) to ``fmt`` (``onnx``, ``savedmodel``,
    ``tflite``): beside each source, or to ``out`` (a file for one source, a folder for several; an ONNX
    file also a stream such as ``/dev/stdout``). With ``bundled``: the bundled weights' ONNX files, those
    that are stale (all with ``force`` or ``verify``); with ``check`` too, only report whether each is
    fresh. ``verify``: compare with the Keras model (raises :class:`mesocli.errors.CheckFailed` on a
    mismatch). Each state and export is a line to ``echo`` (default: standard error, as a library's
    report; ``echo=print`` for standard output), or to ``log`` (default: standard error) when an export goes
    into a stream, which may be standard output. Returns the exit status: 1 when ``check``
    finds a stale export, else 0."""
    from mesocli import export as exporting
    from mesocli.digest import sha256_file

    def to_stderr(line: str) -> None:
        print(line, file=sys.stderr)

    echo = to_stderr if echo is None else echo  # a library call prints nothing to standard output
    check_choice("fmt", fmt, exporting.FORMATS)
    bundled, check, verify, force = _check_flags(bundled=bundled, check=check, verify=verify, force=force)
    sources = list(sources)
    for source in sources:
        _check_path("sources", source)
    _check_path("out", out, optional=True)
    paths = [Path(source) for source in sources]
    if bundled == bool(paths):
        raise ParameterError("give weights files or {bundled}")
    if check and not bundled:
        raise ParameterError("{check} goes with {bundled}")
    if check and (verify or force):
        raise ParameterError("{check} only reports whether each export is fresh: not with "
                             + ("{verify}" if verify else "{force}"))
    if bundled and out is not None:
        from mesocli.weights import bundled_dir

        raise ParameterError("{out} does not go with {bundled}, which writes beside the bundled weights: export each "
                             "file to {out} by its path (they are in {folder})", folder=bundled_dir())
    jobs: list[tuple[Path, Path]] = []
    if bundled:
        if fmt != "onnx":
            raise ParameterError("{bundled} exports ONNX only")
        states = exporting.bundled_states()
        if not states:
            raise UsageError("no bundled weights (no model card in the bundled weights folder)")
        for state in states:
            echo(f"{state.onnx}: {'up to date' if state.fresh else 'stale or missing'} "
                 f"(source sha256 {state.sha256[:12]})")
        if check:
            return 1 if any(not state.fresh for state in states) else 0
        jobs = [(state.weights, state.onnx) for state in states if force or verify or not state.fresh]
    bundled_jobs = set(jobs)
    for path in paths:  # (an ONNX file beside the weights' card was said to be corrupted)
        if not path.exists():  # before its default output, the same name for a .onnx, is taken for it
            kind = "" if path.name.lower().endswith(".h5") else " (export takes a weights file: .weights.h5, or the " \
                                                                   "authors' .h5)"
            raise WeightsError(f"{path}: weights file not found{kind}")
        exporting.refuse_an_export(path)
    jobs += exporting.plan_exports(paths, fmt, out, force, verify)  # as given: a trailing '/' names a folder
    from mesocli.fsutil import is_stream

    if any(is_stream(target) for _, target in jobs):  # the model itself may be going to standard output
        echo = log or to_stderr
    for source_path, target in jobs:
        weights = exporting.read_source(source_path)
        # rebuilt byte for byte: no provenance, whose versions vary by machine (a bundled file exported beside it too)
        bundling = (source_path, target) in bundled_jobs or exporting.rebuilds_bundled(source_path, target, fmt)
        written = exporting.export(weights, target, fmt, replace=force or bundling, stamp=not bundling)
        if bundling:
            exporting.record_bundled_export(source_path, written)
        note = ""
        if verify:
            diff = exporting.verify(weights, written, fmt)
            note = f", max |p_fake - Keras| {diff:.1e} on {len(exporting.VERIFY_CELLS)} random test images"
            if not diff <= 1e-5:  # NaN fails too
                raise CheckFailed(f"{written}: differs from the Keras model by {diff:.1e} (> 1e-5)")
        # the export's own sha256 is what scan and eval of it report (a SavedModel folder or a stream has none)
        hashed = not is_stream(target) and Path(written).is_file()
        own = f", export sha256 {sha256_file(written)[:12]}" if hashed else ""
        echo(f"{source_path} -> {written} ({weights.arch}, source sha256 {weights.sha256[:12]}{own}{note})")
    return 0


@_one_line
def explain(faces: PathLike | Iterable[PathLike], out: PathLike, *, model: str | Model | None = None,
            arch: str | None = None,
            weights: PathLike | None = None, threshold: float = 0.5, force: bool = False,
            runtime: str = "onnx", log: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Grad-CAM heatmaps of aligned face crops (images, or folders of them) to ``out/<face>.png``, with
    one detector: ``model`` (``df``, the default, ``f2f`` or ``fs``, or a model of one network that
    :func:`load_model` returned, used on its own runtime, without ``arch`` or ``runtime``) or a ``weights`` file (an
    ``.onnx`` written by ``mesocli export`` too). ``runtime``: ``onnx`` (the default: ONNX Runtime and NumPy, no
    TensorFlow) or ``tensorflow`` (the Keras network, loaded once a face was read). Yields one dict per face: path,
    status, error, p_fake, ``scored_as`` (the file as given: no face detection; for a heatmap panel its crop),
    verdict, threshold, target, heatmap file, ``model`` (arch, name, weights_sha256: the detector, as in scan's
    rows), ``explained_at`` (UTC),
    ``mesocli`` (the version), ``runtime``, ``resize``
    (``nearest`` for the authors'
    original weight files, else the model card's: ``nearest`` for weights trained with ``train --resize nearest``,
    the bundled df detectors among them, else ``bilinear``: how a crop not 256×256 was resized) and ``libraries``
    (the versions of those that drew the map; None before the network is loaded) and ``warnings`` (``no face found
    in it: …`` for an image in which no face is found). ``log`` hears notes, one line each: a heatmap panel given as
    a face (its crop is explained), an image in which no face is found (None: nothing said). The arguments, the faces,
    ``out`` and a ``weights`` file are checked when this is called, not at the first face. ``faces`` are files:
    a picture in memory (which :func:`scan` takes) is refused, naming ``faces`` (each heatmap is named after its
    face's file: save the picture first)."""
    from mesocli.explain import explain_inputs

    return explain_inputs(faces, out, model=model, arch=arch, weights=weights, threshold=threshold, force=force,
                          runtime=runtime, log=log)
