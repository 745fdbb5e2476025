"""mesocli from Python: load a detector, scan videos, extract faces, evaluate on a dataset.

>>> import mesocli
>>> model = mesocli.load_model("df")                      # bundled Meso4 Deepfakes detector, ONNX Runtime
>>> for result in mesocli.scan(["clip.mp4", "photos/"], model=model, frames=30):
...     print(result.path, result.status, result.p_fake, result.verdict)

Every function here is re-exported by ``mesocli`` (imported on first use, so ``import mesocli`` stays
light). Bad arguments raise :class:`mesocli.errors.ParameterError` (a :class:`mesocli.errors.UsageError`)
naming the parameter; an input that cannot be read is a result with ``status == "error"``, never an
exception and never a score.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesocli.errors import ParameterError, UsageError

if TYPE_CHECKING:
    from mesocli.evaluate import EvalReport
    from mesocli.extract import ExtractSummary
    from mesocli.scan import ScanResult

PathLike = str | os.PathLike[str]
DATA_VARIABLE = "MESOCLI_DATA"
"""Environment variable naming the default dataset root of :func:`evaluate`."""


def model_names() -> tuple[str, ...]:
    """The names :func:`load_model` takes: each bundled manipulation, and ``any`` (all of them)."""
    from mesocli.detectors import ANY
    from mesocli.weights import MANIPULATIONS

    return (*MANIPULATIONS, ANY)


def load_model(name_or_path: PathLike = "df", *, arch: str | None = None, runtime: str = "onnx") -> Any:
    """A detector ready to :func:`scan` or :func:`evaluate` with.

    ``name_or_path``: a bundled detector (``df`` Deepfakes, ``f2f`` Face2Face, ``fs`` FaceSwap, ``any``:
    all of them, fake when one says fake) or a weights file (mesocli's ``.weights.h5``, the authors'
    Keras 2 ``.h5``, or an exported ``.onnx``). ``arch``: ``meso4`` (default for bundled names) or
    ``mesoinception4``; a file's own network is found from its contents. ``runtime``: ``onnx`` (fast
    start, no TensorFlow) or ``tensorflow``. Raises :class:`mesocli.errors.WeightsError` for a file
    that is missing or does not hold fitting weights.
    """
    from mesocli.models import ARCHITECTURES
    from mesocli.runtime import RUNTIMES, resolve

    if runtime not in RUNTIMES:
        raise ParameterError("{runtime} must be one of {choices}, not {value!r}", choices=", ".join(RUNTIMES),
                             value=runtime)
    if arch is not None and arch not in ARCHITECTURES:
        raise ParameterError("{arch} must be one of {choices}, not {value!r}", choices=", ".join(ARCHITECTURES),
                             value=arch)
    names = model_names()
    if isinstance(name_or_path, str) and name_or_path in names:
        return resolve(arch, name_or_path, None, runtime)
    path = Path(name_or_path)
    if not path.is_file():
        raise ParameterError("{name_or_path} must be one of {choices} or a weights file; {value!r} is neither",
                             choices=", ".join(names), value=os.fspath(name_or_path))
    return resolve(arch, names[0], path, runtime)


def _paths(inputs: PathLike | Iterable[PathLike]) -> list[str]:
    items = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not items:
        raise ParameterError("{inputs} is empty")
    return [os.fspath(item) for item in items]


def _model(model: Any, arch: str | None, runtime: str) -> Any:
    return load_model(model, arch=arch, runtime=runtime) if isinstance(model, str | os.PathLike) else model


def _check_workers(workers: int | None) -> int | None:
    if workers is not None and workers < 1:
        raise ParameterError("{workers} must be at least 1, not {value}", value=workers)
    return workers


def iter_scan(
    inputs: PathLike | Iterable[PathLike],
    model: Any = "df",
    *,
    arch: str | None = None,
    runtime: str = "onnx",
    frames: int | None = None,
    fps: float | None = None,
    every: int | None = None,
    all_frames: bool = False,
    detector: str = "hog",
    all_faces: bool = False,
    aggregation: str = "mean",
    threshold: float = 0.5,
    smooth: int = 5,
    detail: bool = False,
    batch_size: int = 32,
    workers: int = 1,
) -> Iterator[ScanResult]:
    """Like :func:`scan`, but yields each input's result as soon as it is ready (in input order).

    The arguments are checked (and the model loaded) when this is called, not at the first result.
    Closing the iterator early stops the scan.
    """
    from mesocli.scan import ScanOptions, scan_inputs

    options = ScanOptions(detector=detector, frames=frames, fps=fps, every=every, all_frames=all_frames,
                          all_faces=all_faces, aggregation=aggregation, threshold=threshold, smooth=smooth,
                          detail=detail, batch_size=batch_size)
    paths = _paths(inputs)
    _check_workers(workers)
    loaded = _model(model, arch, runtime)
    if workers > 1:
        from mesocli.parallel import scan_parallel

        return scan_parallel(paths, loaded, options, workers)
    return scan_inputs(paths, loaded, options)


def scan(inputs: PathLike | Iterable[PathLike], model: Any = "df", **options: Any) -> list[ScanResult]:
    """Scan videos, images and folders (recursively): one :class:`mesocli.scan.ScanResult` per input.

    ``model``: what :func:`load_model` returned, or a name or path to load (with ``arch=`` and
    ``runtime=``). Frame sampling: at most one of ``frames`` (N evenly spaced, default 30), ``fps``,
    ``every`` (every K-th frame) and ``all_frames``. ``detector``: ``hog``, ``cnn``, or ``none``
    (inputs are aligned face crops). ``aggregation``: ``mean``, ``vote`` or ``confident``; the verdict
    is ``fake`` when ``p_fake >= threshold``. ``all_faces``: a verdict per face track. ``detail``: keep
    per-frame scores. ``workers``: processes (default 1). Each result has ``status`` (``ok``,
    ``no_face`` or ``error``), ``p_fake``, ``verdict``, ``segments`` and ``to_dict()`` (the JSON object
    of ``mesocli scan``, docs/scan.md).
    """
    return list(iter_scan(inputs, model, **options))


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
) -> ExtractSummary:
    """Detect, track and align faces; write 256x256 crops and ``manifest.jsonl`` to ``out_dir``.

    Resumable: inputs the manifest marks complete are skipped. ``layout="dataset"`` writes
    ``out_dir/<split>/<label>/<video>_<frame>.jpg`` (``label``: ``df`` or ``real``, optionally
    ``/METHOD``). ``workers``: processes (``None``: one per core). Returns the summary (one result per
    input: ``ok``, ``no_face``, ``error``, ``skipped``).
    """
    from mesocli.extract import ExtractOptions
    from mesocli.extract import extract as extract_faces
    from mesocli.video import FrameSelection

    selection = FrameSelection.from_options(frames, fps, every, all_frames)
    options = ExtractOptions(selection, detector, all_faces, layout, label, split, quality)
    return extract_faces([Path(item) for item in _paths(inputs)], Path(out_dir), options,
                              workers=_check_workers(workers), force=force, progress=progress)


def open_dataset(data: PathLike | None, split: str | None = "validation") -> Any:
    """The :class:`mesocli.datasets.FolderDataset` at ``data`` (``ROOT/<split>/{df,real}/`` or
    ``ROOT/{df,real}/``); ``data=None`` takes the root from ``$MESOCLI_DATA``."""
    from mesocli.datasets import find_dataset

    source = ""
    if data is None:
        if not os.environ.get(DATA_VARIABLE):
            raise ParameterError("no dataset: pass {data} ROOT or set " + DATA_VARIABLE)
        data, source = os.environ[DATA_VARIABLE], f" (from ${DATA_VARIABLE})"
    try:
        return find_dataset(Path(data), split or None)
    except ParameterError:
        raise
    except UsageError as exc:
        raise UsageError(f"{exc}{source}") from None


def evaluate(
    data: PathLike | None = None,
    model: Any = "df",
    *,
    split: str | None = "validation",
    arch: str | None = None,
    runtime: str = "onnx",
    threshold: float = 0.5,
    progress: bool = False,
) -> EvalReport:
    """Score every face crop of a labelled dataset (see :func:`open_dataset`) and report accuracy, AUC,
    EER and video-level accuracy (:class:`mesocli.evaluate.EvalReport`; ``to_dict()`` is the JSON of
    ``mesocli eval``). Unreadable files are listed in ``report.skipped``, not scored."""
    from mesocli.aggregate import check_threshold
    from mesocli.evaluate import evaluate as evaluate_dataset

    check_threshold(threshold)
    dataset = open_dataset(data, split)
    return evaluate_dataset(_model(model, arch, runtime), dataset, threshold, progress=progress)
