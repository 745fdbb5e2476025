"""The scanning engine: videos, images and folders in; one honest :class:`ScanResult` per input out.

A producer thread (:mod:`mesocli.producer`) walks the inputs, decodes frames and finds faces; the
calling thread scores the crops in batches (each run in a thread it waits on, to hear Ctrl-C meanwhile) with ONNX
Runtime or TensorFlow (:mod:`mesocli.runtime`;
crops from several frames and inputs share a batch) and yields each input's result, in input order,
as soon as all its faces are scored.

Nothing is made up: an input that cannot be read is ``status: error`` with the reason and no score,
and one in which no face was found is ``no_face``, never ``real``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import queue
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from mesocli import aggregate
from mesocli.detectors import DetectorSet, Ensemble, MultiPredictor, combine, ensemble_predictor, picking
from mesocli.errors import ParameterError, check_choice
from mesocli.faces import DETECTORS, require_packages
from mesocli.fsutil import INSISTED, insisted, whole_write
from mesocli.inputs import MemoryImage
from mesocli.probe import require_ffmpeg
from mesocli.producer import Ended, Face, Failed, Finished, Job, Message, Producer, Sampled, Started
from mesocli.provenance import utc_now
from mesocli.stdin_paths import stop_waiting

STOP_SCORING_SECONDS = 5.0
"""On a stop (Ctrl-C, SIGTERM, an error that ends the run), how long the faces of the inputs read whole are scored
before the scan ends (scored :data:`NETWORK_BATCH` faces at a time, a batch started is finished): a few hundred
faces on one core; a second stop ends it at once."""
MIN_TRACK_FRAMES = 3  # --all-faces: a track seen in fewer sampled frames decides no video verdict (docs/scan.md)

ProgressHook = Callable[[str, str, "int | None"], None]
"""Called with (event, path, total): ``start`` (total = frames expected or None), ``frame``, ``read`` (the input is
read: its bar goes), ``done`` (its row is out)."""


class ScanObserver(Protocol):
    """Sees what the scan sees, per input (``key``: a number per input, in the order inputs start):
    each sampled frame with the number of faces picked in it, and each face crop once it is scored.
    :class:`mesocli.evidence.EvidenceCollector` is one (heatmaps and reports use it)."""

    def started(self, key: int, path: str) -> None: ...

    def sampled(self, key: int, frame: int, time: float, faces: int) -> None: ...

    def scored(self, key: int, frame: int, time: float, track: int | None, crop: Any, p_fake: float,
               detectors: dict[str, float] | None = None) -> None: ...


@dataclass(frozen=True)
class ScanProgress:
    """What the ``on_progress`` callback of :func:`mesocli.api.scan` and :func:`mesocli.api.iter_scan` receives, in
    the calling thread (a callback that raises stops the scan: the exception comes out of ``scan``/``iter_scan``).

    ``phase``: ``start`` (the input is being read), ``frame`` (one more of its sampled frames was read and its faces
    found), ``done`` (its result is ready: ``result``, just before it is yielded). ``index``: the input's place
    among the inputs (0-based, a folder's files each one input, as in the results), ``total``: their number (None
    when the inputs are a generator, read as the scan goes). ``frames``: the input's frames sampled so far (at
    ``done``: ``result.frames_sampled``). With ``workers`` > 1, only ``done`` is reported."""

    phase: Literal["start", "frame", "done"]
    index: int
    total: int | None
    path: str
    frames: int = 0
    result: ScanResult | None = None


class ProgressObserver:
    """A :class:`ScanObserver` that tells ``callback`` (:class:`ScanProgress`) when an input starts and each of its
    sampled frames; :meth:`done` tells it of each result, in input order (``total``: the number of inputs, if known)."""

    def __init__(self, callback: Callable[[ScanProgress], object], total: int | None) -> None:
        self.callback = callback
        self.total = total
        self.frames: dict[int, tuple[str, int]] = {}  # path and sampled frames so far, by input key
        self.count = 0  # results told so far

    def started(self, key: int, path: str) -> None:
        self.frames[key] = (path, 0)
        self.callback(ScanProgress("start", key, self.total, path))

    def sampled(self, key: int, frame: int, time: float, faces: int) -> None:
        path, count = self.frames[key]
        self.frames[key] = (path, count + 1)
        self.callback(ScanProgress("frame", key, self.total, path, count + 1))

    def scored(self, key: int, frame: int, time: float, track: int | None, crop: Any, p_fake: float,
               detectors: dict[str, float] | None = None) -> None:
        """(Scores are not progress.)"""

    def done(self, result: ScanResult) -> None:
        self.frames.pop(self.count, None)
        self.count += 1
        self.callback(ScanProgress("done", self.count - 1, self.total, result.path, result.frames_sampled, result))


@dataclass
class ScanOptions:
    """How to sample, detect, score and aggregate. At most one of ``frames``/``fps``/``every``/``all_frames``
    (default: 30 evenly spaced frames). Bad values raise :class:`mesocli.errors.ParameterError`."""

    detector: str = "hog"
    frames: int | None = None  # None: 30 unless fps, every or all_frames
    fps: float | None = None
    all_frames: bool = False
    all_faces: bool = False
    min_track_frames: int | None = None  # --all-faces: a shorter track decides no verdict (finalize; None: 3)
    aggregation: str = "mean"
    threshold: float = 0.5
    smooth: int = aggregate.DEFAULT_WINDOW
    detail: bool = False
    batch_size: int = 32  # crops gathered (across frames and inputs) before they are scored
    jit: bool = False  # XLA-compile the network (pays off only over many thousand faces)
    every: int | None = None
    hash_inputs: bool = True  # each result's sha256 (mesocli.digest); off: null, and no file is read twice

    def __post_init__(self) -> None:
        check_choice("detector", self.detector, DETECTORS)
        check_choice("aggregation", self.aggregation, aggregate.AGGREGATIONS)
        aggregate.check_threshold(self.threshold)
        if self.smooth < 1:
            raise ParameterError("{smooth} must be at least 1")
        if self.batch_size < 1:
            raise ParameterError("{batch_size} must be at least 1")
        if self.min_track_frames is not None and not self.all_faces:  # it would be ignored: say so
            raise ParameterError("{min_track_frames} goes with {all_faces} (which tracks decide a video's verdict)")
        if self.all_faces and self.min_track_frames is None:
            self.min_track_frames = MIN_TRACK_FRAMES
        if self.min_track_frames is not None and self.min_track_frames < 1:
            raise ParameterError("{min_track_frames} must be at least 1")
        if self.selection().mode == "frames":
            self.frames = self.selection().value
        require_packages(self.detector)
        require_ffmpeg()

    def selection(self) -> Any:
        """The :class:`mesocli.video.FrameSelection` these options ask for (it checks them)."""
        from mesocli.video import FrameSelection

        return FrameSelection.from_options(self.frames, self.fps, self.every, self.all_frames)


SCHEMA_VERSION = "1.1"
"""The version of docs/scan.schema.json that a row follows (its ``schema_version``; the schema's ``version``),
MAJOR.MINOR: within a major version keys are only added, never removed, renamed or retyped (docs/scan.md)."""


@dataclass
class FrameScore:
    """One scored face in one sampled frame."""

    frame: int
    time: float
    p_fake: float
    track: int | None
    detectors: dict[str, float] | None = None  # --model any: each detector's p_fake

    def to_dict(self) -> dict[str, Any]:
        out = {"frame": self.frame, "time": round(self.time, 6), "p_fake": _r(self.p_fake), "track": self.track}
        if self.detectors is not None:
            out["detectors"] = {name: _r(value) for name, value in self.detectors.items()}
        return out


@dataclass
class TrackResult:
    """The verdict on one face track (``--all-faces``)."""

    track: int
    p_fake: float
    verdict: str
    frames: int
    segments: list[aggregate.Segment] = field(default_factory=list)
    detectors: dict[str, float] | None = None  # --model any: each detector's aggregated p_fake
    threshold: float = 0.5  # for the detectors' verdicts
    box: tuple[int, int, int, int] | None = None  # where the face is: the median of its boxes (frame pixels)
    decides: bool = True  # False: too short to decide the video's verdict (see finalize)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "track": self.track,
            "p_fake": _r(self.p_fake),
            "verdict": self.verdict,
            "frames": self.frames,
            "segments": [s.to_dict() for s in self.segments],
            "decides": self.decides,
        }
        if self.box is not None:
            out["box"] = list(self.box)
        if self.detectors is not None:
            out["detectors"] = _detector_dict(self.detectors, self.threshold)
        return out


@dataclass
class ScanResult:
    """The outcome for one input; :meth:`to_dict` gives the documented JSON object (docs/scan.schema.json)."""

    path: str
    type: str | None
    status: str
    error: str | None
    p_fake: float | None
    verdict: str | None
    threshold: float
    aggregation: str | None
    model: dict[str, Any]
    frames_sampled: int = 0
    frames_with_face: int = 0
    faces: list[TrackResult] | None = None
    segments: list[aggregate.Segment] = field(default_factory=list)
    seconds: float = 0.0
    scores: list[FrameScore] | None = None
    detectors: dict[str, float] | None = None  # --model any: each detector's p_fake for this input
    warnings: list[str] = field(default_factory=list)  # damage that did not stop the scan; what was not scored
    settings: dict[str, Any] | None = None  # how the rest was made (see run_settings)
    sha256: str | None = None  # the input file's SHA-256 (hex); None for an error, or with hashing off
    media: dict[str, Any] | None = None  # the file: bytes, a video's codec, size, fps, duration; None: an error
    file: tuple[int, int] | None = None  # (size, mtime_ns) of the version read (hashed); None: not known
    scanned_at: str | None = field(default_factory=utc_now)  # when its scan finished (the row was made), UTC
    error_rates: dict[str, Any] | None = None  # what its verdict is weighed by (run_rates); None: no verdict
    error_kind: str | None = None  # an error's mesocli.errors.ERROR_KINDS name (what a pipeline routes on)

    def to_dict(self, file: bool = False) -> dict[str, Any]:
        """The JSON row; with ``file``, also the ``file`` key of a resumable scan's row when the version read is
        known (``scan_run.plan_scan`` stamps it, or drops it from a run that is not resumable)."""
        out: dict[str, Any] = {
            "path": self.path,
            "sha256": self.sha256,
            "type": self.type,
            "media": self.media,
            "status": self.status,
            "error": self.error,
            "error_kind": (self.error_kind or "other") if self.status == "error" else None,
            "p_fake": None if self.p_fake is None else _r(self.p_fake),
            "verdict": self.verdict,
            "threshold": self.threshold,
            "aggregation": self.aggregation,
            "model": self.model,
            "frames": {"sampled": self.frames_sampled, "with_face": self.frames_with_face},
            "faces": None if self.faces is None else [t.to_dict() for t in self.faces],
            "segments": [s.to_dict() for s in self.segments],
            "seconds": round(self.seconds, 3),
            "scanned_at": self.scanned_at,
            "warnings": list(self.warnings),
            "settings": self.settings,
            "error_rates": self.error_rates,
            "schema_version": SCHEMA_VERSION,
        }
        if self.scores is not None:
            out["scores"] = [s.to_dict() for s in self.scores]
        if self.detectors is not None:
            out["detectors"] = _detector_dict(self.detectors, self.threshold)
        if file and self.file is not None:
            out["file"] = {"size": self.file[0], "mtime_ns": self.file[1]}
        return out


def scan_resize(detector: str, loaded: Any) -> str | dict[str, Any] | None:
    """How a scan resizes a crop that is not 256×256 (``settings.resize``). ``--detector none`` (the inputs are
    crops): the weights' own resize, as ``eval`` gives them (:func:`mesocli.weights.resize_record`: nearest for the
    authors' original files), None when no model is loaded; a set or ensemble whose networks want different resizes
    gets a crop per resize, each network scoring its own, and the record gives each member's. HOG and CNN: bilinear,
    whatever the weights: the aligned square of a face up to 256 px is warped straight to 256×256, a larger one
    downscaled by Pillow's antialiased bilinear resize (the authors' weights score no better on it downscaled
    nearest, docs/models.md)."""
    from mesocli.preprocess import DEFAULT_RESIZE

    if detector != "none":
        return DEFAULT_RESIZE
    if loaded is None:
        return None
    from mesocli.weights import resize_record

    return resize_record(loaded)


def crop_resizes(detector: str, loaded: Any) -> tuple[str, ...]:
    """The resizes of which the producer makes each crop not 256×256: with ``--detector none`` each the networks of
    ``loaded`` want (:func:`mesocli.weights.resizes_needed`), else bilinear alone."""
    from mesocli.preprocess import DEFAULT_RESIZE
    from mesocli.weights import resizes_needed

    return tuple(resizes_needed(loaded)) if detector == "none" and loaded is not None else (DEFAULT_RESIZE,)


def run_settings(options: ScanOptions, loaded: Any) -> dict[str, Any]:
    """What made a row besides its model, threshold and aggregation (the JSON ``settings`` object): the
    mesocli version, the runtime that ran the network (None when no model was loaded), the face
    detector, how a crop not 256×256 was resized (:func:`scan_resize`; None when no model was loaded and
    ``--detector none``), the frame sampling, the timeline's smoothing window and the version of the ffmpeg that decodes
    videos (an image's row: those three None, see :func:`finalize`), with ``all_faces`` the shortest track that
    decides a video's verdict (``min_track_frames``), and the versions of the libraries that
    decide the scores (:func:`mesocli.provenance.library_versions`: the runtime's, numpy, Pillow, dlib, its face
    models, imageio-ffmpeg), read from their metadata once per process."""
    from mesocli import __version__
    from mesocli.probe import ffmpeg_version
    from mesocli.provenance import code_digest, library_versions
    from mesocli.resume import SAMPLING_RULE
    from mesocli.runtime import runtime_of

    selection = options.selection()
    runtime = None if loaded is None else runtime_of(loaded)
    sampling = {"mode": selection.mode, "value": selection.value, "rule": SAMPLING_RULE}
    settings = {"mesocli": __version__, "mesocli_code": code_digest(), "runtime": runtime, "detector": options.detector,
                "resize": scan_resize(options.detector, loaded), "sampling": sampling, "smooth": options.smooth,
                "ffmpeg": ffmpeg_version(), "libraries": library_versions(runtime)}
    if options.all_faces:  # which tracks may decide a video's verdict (finalize)
        settings["min_track_frames"] = options.min_track_frames
    return settings


def run_rates(options: ScanOptions, loaded: Any) -> dict[str, Any]:
    """What a row's verdict is weighed by (the JSON ``error_rates``, :func:`mesocli.rates.for_scan`), by the kind of
    input: a video's per video by the scan's rule and sampling and per face, an image's per face only; computed
    once per run (a ``--model any`` row would otherwise weigh each detector's cards for every input)."""
    from mesocli.rates import for_scan

    if loaded is None:
        return {}
    selection = options.selection()
    return {"video": for_scan(loaded, options.threshold, options.aggregation, (selection.mode, selection.value),
                              options.all_faces, options.detector),
            "image": for_scan(loaded, options.threshold, None, None, detector=options.detector)}


def _r(value: float) -> float:
    return round(float(value), aggregate.SCORE_DECIMALS)


def _detector_dict(scores: dict[str, float], threshold: float) -> dict[str, dict[str, Any]]:
    return {name: {"p_fake": _r(value), "verdict": aggregate.verdict(value, threshold)}
            for name, value in scores.items()}


def read_path_list(stream: IO[str]) -> list[str]:
    """Paths from a stream, one per line (blank lines skipped, trailing newline/CR stripped)."""
    return [line.rstrip("\r\n") for line in stream if line.strip()]


# --------------------------------------------------------------------------------------------------
# Consumer side: batches -> scores -> results


def scan_inputs(
    paths: Iterable[str | Path | MemoryImage],
    loaded: Any,
    options: ScanOptions,
    progress: ProgressHook | None = None,
    observer: ScanObserver | None = None,
) -> Iterator[ScanResult]:
    """Scan files and folders (recursively), yielding one :class:`ScanResult` per input, in order.

    ``loaded`` is a :class:`mesocli.weights.LoadedModel` or :class:`mesocli.runtime.OnnxModel`, or a
    function returning one: it is then
    called after the producer thread has started, so importing TensorFlow and loading the weights
    overlap with reading the first input (its errors, e.g. WeightsError, raise before any result);
    with ``--detector none`` the crops wait for it, to be resized as its weights want (:func:`scan_resize`).
    Per-input failures become ``error`` results; only bugs raise. Closing the generator early stops
    the producer thread.

    Crops are scored when ``options.batch_size`` of them are waiting, when the inputs are exhausted,
    or when an input that is read to its end waits for its scores and the producer has nothing more
    ready: so batches stay full while results still stream. ``observer`` (optional) is told of every
    sampled frame and scored face crop (see :class:`ScanObserver`).
    """
    from mesocli.evidence import deciding
    from mesocli.runtime import check_scores

    resize: Future[tuple[str, ...]] = Future()  # how the producer resizes crops, once the weights are known
    messages: queue.Queue[Message] = queue.Queue(maxsize=max(64, 2 * options.batch_size))
    producer = Producer(paths if isinstance(paths, Iterator) else list(paths), options, messages, progress, resize)
    jobs: deque[Job] = deque()
    batch: list[tuple[Job, Face, Any]] = []
    predictor: Any = None
    drawn: dict[str | None, str] = {}  # the resize of the crop the observer sees, by deciding detector
    numbers = itertools.count()

    deferred: list[KeyboardInterrupt] = []  # a first stop heard while a batch was scored: raised once it is

    def score_batch(stopping: bool = False) -> None:
        if not batch:
            return
        crops = [crop for _, _, crop in batch]
        by_detector, p_fake = _network_scores(predictor, _batch(crops), stopping, deferred, len(crops))
        for name, scores in (by_detector or {}).items():
            check_scores(scores, loaded.members[name])
        p_fake = combine(by_detector) if by_detector else p_fake
        check_scores(p_fake, loaded)
        now = time.perf_counter()
        for number, ((job, face, crop), value) in enumerate(zip(batch, p_fake, strict=True)):
            face.p_fake = float(value)
            if by_detector:
                face.detectors = {name: float(scores[number]) for name, scores in by_detector.items()}
            if observer is not None:
                shown = crop[drawn[deciding(face.detectors)]] if isinstance(crop, dict) else crop
                observer.scored(job.key, face.frame, face.time, face.track, shown, face.p_fake, face.detectors)
            job.pending -= 1
            job.finished = max(job.finished, now)
        batch.clear()

    def finished() -> Iterator[ScanResult]:
        while jobs and jobs[0].done and jobs[0].pending == 0:
            job = jobs[0]  # (a stop meanwhile, in finalize or the hook: the input stays first)
            result = finalize(job, options, model_info, settings, rates)
            if progress is not None:
                progress("done", job.path, None)
            jobs.popleft()
            yield result

    def take(message: Message, scoring: bool = True) -> bool:
        """Take one message of the producer (``scoring``: a full batch is scored); False for Finished and Failed."""
        if isinstance(message, Finished | Failed):
            return False
        job = message.job
        if isinstance(message, Started):
            jobs.append(job)
            job.key = next(numbers)
            if observer is not None:
                observer.started(job.key, job.path)
        elif isinstance(message, Sampled):
            job.sampled.append((message.index, message.time))
            if observer is not None:
                observer.sampled(job.key, message.index, message.time, len(message.crops))
            for track, crop, box in message.crops:
                face = Face(message.index, message.time, None if track is None else int(track), box=box)
                job.faces.append(face)
                job.pending += 1
                batch.append((job, face, crop))
                if scoring and len(batch) >= options.batch_size:
                    score_batch()
        else:  # Ended
            job.done = True
            if job.error:  # nothing of a failed input is scored
                batch[:] = [item for item in batch if item[0] is not job]
                job.pending = 0
        return True

    def complete() -> Iterator[ScanResult]:
        """On a stop: the results of the inputs read to their end, in input order up to the first that is not, whose
        faces wait in the batch or in the producer's messages already sent. Their faces are scored
        :data:`NETWORK_BATCH` at a time (not ``batch_size``: one such batch is short whatever the model) for at most
        :data:`STOP_SCORING_SECONDS` (a batch started is finished; a second stop cuts it short): the
        inputs whose faces are all scored by then are given, each before the next batch is scored (a second stop
        drops that batch, not them). Counted again from the faces: a stop may have cut a
        batch's scoring short."""
        deadline = time.monotonic() + STOP_SCORING_SECONDS
        for _ in range(messages.maxsize + 1):  # what the producer sent before it saw the stop
            try:
                take(messages.get_nowait(), scoring=False)
            except queue.Empty:
                break
        unscored = {id(face): item for item in batch if (face := item[1]).p_fake is None}
        chosen: list[tuple[Job, Face, Any]] = []
        for job in jobs:
            left = [unscored.get(id(face)) for face in job.faces if face.p_fake is None and not job.error]
            if not job.done or None in left:
                break
            job.pending = len(left)
            chosen += left  # type: ignore[arg-type]
        size = min(options.batch_size, NETWORK_BATCH)  # (a batch of --batch-size 512 can take 20 s with any)
        for start in range(0, len(chosen), size):
            if start and time.monotonic() > deadline:  # the inputs whose faces are not all scored are not given
                break
            yield from finished()  # the inputs scored by now: kept if a second stop drops the next batch
            batch[:] = chosen[start:start + size]
            try:
                score_batch(stopping=True)
            except Exception:  # (scores that are not numbers): the stop, not this, is what the run ends with
                break
        yield from finished()

    producer.start()
    try:
        if callable(loaded):
            loaded = loaded()
        resize.set_result(crop_resizes(options.detector, loaded))
        model_info, settings, rates = loaded.describe(), run_settings(options, loaded), run_rates(options, loaded)
        drawn.update(_drawn_resizes(loaded))
        predictor = _predictor_for(loaded, options)
        waiting = False  # an input read to its end has faces in the batch

        def heard() -> None:
            """Raise the stop heard while a batch was scored, now that its scores are in (and the message taken)."""
            if deferred:
                raise deferred.pop()

        try:
            while True:
                try:
                    message = messages.get(block=not waiting)
                except queue.Empty:  # the producer has nothing ready: let the waiting input finish
                    score_batch()
                    heard()
                    waiting = False
                    yield from finished()
                    continue
                if isinstance(message, Failed):  # (the face models, ffmpeg, a bug): the inputs read before it first
                    score_batch()
                    heard()
                    yield from finished()
                    raise message.error
                if not take(message):  # Finished
                    break
                heard()
                if isinstance(message, Ended):
                    waiting = waiting or message.job.pending > 0
                yield from finished()
            score_batch()
            heard()
            yield from finished()
        except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM (here, or thrown in at a yield): the inputs read whole
            producer.stop.set()  # first (a second one stops at once, a batch being scored dropped)
            if not insisted(stop):
                yield from complete()
            raise
    finally:
        producer.stop.set()
        stop_waiting(producer.paths)  # paths on stdin: the producer no longer waits for the next line
        producer.done_with_inputs(timeout=5)


NETWORK_BATCH = 8
CANCEL_SECONDS = 5.0
"""How long a batch cancelled by a second Ctrl-C (ONNX Runtime) may take to end (it ends at its next layer)."""


def _network_scores(predictor: Any, crops: Any, stopping: bool, deferred: list[KeyboardInterrupt],
                    count: int) -> tuple[dict[str, Any] | None, Any]:
    """The network's scores of ``crops`` (``count`` faces, as :func:`_batch` gives them): ``(p_fake by detector,
    None)`` with a MultiPredictor, else ``(None, p_fake)``. They are computed in a thread of its own, so that Ctrl-C
    and SIGTERM are heard while the network runs (a batch of ``--batch-size 512`` with ``--model any`` takes 10 s
    and more): a first one waits for the batch, whose faces count, and is put in ``deferred`` for the caller to
    raise; a second one, or the first when ``stopping`` (the scan stops already), is raised at once, the batch
    dropped (cancelled where the runtime can: :meth:`mesocli.runtime.OnnxPredictor.cancel`), with a note saying so."""
    import threading

    from mesocli.detectors import cancel_all

    outcome: list[Any] = []
    ended = threading.Event()

    def run() -> None:
        try:
            if isinstance(predictor, MultiPredictor):
                outcome.append((predictor.p_fake_by_detector(crops), None))
            else:
                outcome.append((None, predictor.p_fake(crops)))
        except BaseException as exc:  # noqa: BLE001 (raised in the calling thread)
            outcome.append(exc)
        finally:
            ended.set()

    thread, begun = threading.Thread(target=run, daemon=True, name="mesocli-network"), False
    while True:
        try:
            if not begun:
                with whole_write():  # a stop while it starts (Thread.start waits for it) is raised once it runs
                    thread.start()
                    begun = True
            ended.wait()
            break
        except KeyboardInterrupt as stop:
            if not (stopping or deferred or insisted(stop)):
                deferred.append(stop)  # the batch is finished first
                continue
            if begun and cancel_all([predictor]):  # it ends within a layer: let it, before the process exits
                with contextlib.suppress(KeyboardInterrupt):  # (ONNX Runtime aborted the process, its threads running)
                    ended.wait(CANCEL_SECONDS)
            setattr(stop, INSISTED, True)
            faces = f"{count} faces being scored were" if count > 1 else "face being scored was"
            stop.add_note(f"mesocli: stopped at once: the {faces} dropped, with the inputs that waited for "
                          f"{'them' if count > 1 else 'it'} (not reported)")
            raise
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _drawn_resizes(loaded: Any) -> dict[str | None, str]:
    """The resize of the crop an observer sees (a heatmap is drawn on it), by deciding detector (None: one model):
    that of the network that draws it, an ensemble's first (its Meso4, as :func:`mesocli.scan_run` draws)."""
    from mesocli.weights import resize_of

    def drawer(member: Any) -> str:
        return resize_of(next(iter(member.members.values())) if isinstance(member, Ensemble) else member)

    if isinstance(loaded, DetectorSet):
        return {name: drawer(member) for name, member in loaded.members.items()}
    return {None: drawer(loaded)}


def _batch(crops: list[Any]) -> Any:
    """The crops of a batch as the predictor takes them: a list, or (a set whose networks resize crops not 256×256
    differently, ``--detector none``, and a crop of the batch was not 256×256) one stacked batch per resize, each
    network fed its own (a crop 256×256 already, one array, is in each)."""
    import numpy as np

    resizes = next((list(crop) for crop in crops if isinstance(crop, dict)), None)
    if resizes is None:
        return crops
    return {resize: np.stack([crop[resize] if isinstance(crop, dict) else crop for crop in crops])
            for resize in resizes}


def make_predictor(loaded: Any, options: ScanOptions) -> Any:
    """The scan's predictor for ``loaded`` (a :class:`mesocli.weights.LoadedModel` or a
    :class:`mesocli.runtime.OnnxModel`).

    ONNX Runtime (the default runtime) scores ``options.batch_size`` faces a call. The TensorFlow
    Predictor is graph-compiled, without XLA, 8 faces a call: measured on 2 busy cores (Meso4), an
    XLA build costs 2-3 s and then scores no faster than the plain graph, which takes 0.2 s to trace;
    8 faces a call scored as fast as 32 and wastes less on padding when a batch is short.
    ``options.jit`` turns XLA on for long runs on other hardware.
    """
    from mesocli.runtime import OnnxModel

    if isinstance(loaded, Ensemble):
        return ensemble_predictor(loaded, lambda member: make_predictor(member, options))
    if isinstance(loaded, OnnxModel):
        return loaded.predictor(options.batch_size)
    return _predictor(loaded.model, min(NETWORK_BATCH, options.batch_size), options.jit)


@functools.lru_cache(maxsize=4)
def _predictor(model: Any, batch_size: int, jit: bool) -> Any:
    """One TensorFlow predictor per model and settings, kept: a process that scans input after input
    (a Ray worker calls :func:`scan_inputs` once per input) traces the graph once, not each time."""
    from mesocli.predictor import Predictor

    return Predictor(model, batch_size=batch_size, jit_compile=jit)


def _predictor_for(loaded: Any, options: ScanOptions) -> Any:
    """One predictor for a model, a MultiPredictor for a DetectorSet (``--model any``)."""
    if isinstance(loaded, DetectorSet):
        return MultiPredictor({name: picking(make_predictor(member, options), member)
                               for name, member in loaded.members.items()})
    return make_predictor(loaded, options)


def finalize(job: Job, options: ScanOptions, model_info: dict[str, Any],
             settings: dict[str, Any] | None = None, rates: dict[str, Any] | None = None) -> ScanResult:
    """Aggregate a finished job's face scores into its :class:`ScanResult` (``settings``: :func:`run_settings`;
    ``rates``: :func:`run_rates`, given to a row with a verdict)."""
    is_video = job.kind == "video"
    result = ScanResult(
        path=job.path,
        type=job.kind,
        status="error",
        error=job.error,
        error_kind=(job.error_kind or "other") if job.error else None,
        p_fake=None,
        verdict=None,
        threshold=options.threshold,
        aggregation=options.aggregation if is_video else None,
        model=model_info,
        frames_sampled=len(job.sampled),
        frames_with_face=len({f.frame for f in job.faces}),
        faces=[] if options.all_faces else None,
        seconds=max(0.0, job.finished - job.started),
        warnings=list(job.warnings),
        # a still image: no frames sampled, no timeline smoothed (as it has no aggregation), read by Pillow
        settings=settings if settings is None or job.kind != "image" else {**settings, "sampling": None,
                                                                                 "smooth": None, "ffmpeg": None},
        sha256=None if job.error else job.sha256,
        media=None if job.error else job.media,
        file=job.file,
    )
    if options.detail:
        result.scores = [
            FrameScore(f.frame, f.time, f.p_fake, f.track, f.detectors) for f in job.faces if f.p_fake is not None
        ]
    if job.error:
        return result
    if is_video:  # of the sampling, whatever it found: a face shown between two samples is missed too
        result.warnings += sparse_note(job)
    if not job.faces:
        result.status = "no_face"
        return result
    result.status = "ok"
    result.error_rates = (rates or {}).get(job.kind)
    if result.error_rates is not None and is_video:  # --frames N that took other than N frames: said so
        from mesocli.rates import for_video

        selection = options.selection()
        result.error_rates = for_video(result.error_rates, (selection.mode, selection.value), len(job.sampled))
    groups: dict[int, list[Face]] = {}
    if not options.all_faces:  # the largest face of each frame, one series (the paper)
        groups[0] = job.faces
    elif is_video:  # one series per face track
        for face in job.faces:
            groups.setdefault(face.track or 0, []).append(face)
    else:  # an image: each face stands alone, numbered in the detector's order
        groups = {number: [face] for number, face in enumerate(job.faces)}
    if result.error_rates is not None and not is_video and len(groups) > 1:  # --all-faces: any face's verdict
        from mesocli.rates import for_image

        result.error_rates = for_image(result.error_rates, len(groups))
    tracks = [_series(track, job, faces, options) for track, faces in groups.items()]
    deciding = tracks
    if options.all_faces and is_video and len(tracks) > 1:
        deciding = _deciding(tracks, options.min_track_frames or MIN_TRACK_FRAMES, result.warnings)
        if not deciding:  # every track short: one series of all their faces, as without --all-faces
            pooled = _series(-1, job, job.faces, options)
            pooled.box = None  # the faces of several tracks: no one place in the frame
            deciding = [pooled]
    top = max(deciding, key=lambda t: t.p_fake)
    result.p_fake, result.verdict, result.segments = top.p_fake, top.verdict, top.segments
    if top.detectors is not None:  # each detector's score for the input: its largest over the deciding tracks
        result.detectors = {name: max(t.detectors[name] for t in deciding) for name in top.detectors}
    if options.all_faces:
        result.faces = sorted(tracks, key=lambda t: t.track)
    return result


def _series(track: int, job: Job, faces: list[Face], options: ScanOptions) -> TrackResult:
    """The verdict on one series of faces (a track, or every face of the input)."""
    is_video = job.kind == "video"
    per_detector = None
    if faces[0].detectors is not None:  # --model any: aggregate each detector, then take the largest
        per_detector = {name: _aggregate([f.detectors[name] for f in faces], is_video, options)
                        for name in faces[0].detectors}
        p_fake = max(per_detector.values())
    else:
        p_fake = _aggregate([f.p_fake for f in faces], is_video, options)
    spans = _segments(job, faces, options) if is_video else []
    return TrackResult(track, p_fake, aggregate.verdict(p_fake, options.threshold), len({f.frame for f in faces}),
                       spans, per_detector, options.threshold, _median_box(faces))


def _deciding(tracks: list[TrackResult], least: int, warnings: list[str]) -> list[TrackResult]:
    """The tracks that decide a video's verdict (``--all-faces``): those seen in ``least`` sampled frames or
    more; the shorter ones get ``decides`` False and a warning says so. None when no track is that long (every
    track is set aside: the caller pools their faces). ``least`` 1: every track decides."""
    short = [t for t in tracks if t.frames < least]
    if not short:
        return tracks
    for track in short:
        track.decides = False
    if len(short) == len(tracks):
        warnings.append(f"no face track has {least} sampled frames or more (--min-track-frames): the verdict pools "
                        f"the faces of all {len(tracks)} tracks into one series")
        return []
    named = ", ".join(str(t.track) for t in short[:10]) + (", …" if len(short) > 10 else "")
    most = max(t.p_fake for t in short)
    warnings.append(f"{len(short)} face track{'s' if len(short) != 1 else ''} of fewer than {least} sampled frames "
                    f"set aside (track{'s' if len(short) != 1 else ''} {named}; most fake {most:.3f}): the verdict "
                    "rests on the longer tracks (--min-track-frames)")
    return [t for t in tracks if t.frames >= least]


SPARSE_SECONDS = 5.0
"""The widest spacing of a video's sampled frames left without a note: wider, a short forged stretch (2 s of a
10-minute clip) can fall between two samples and leave no trace in the verdict or the timeline."""


def sparse_note(job: Job) -> list[str]:
    """A note when two of a video's sampled frames, with frames skipped between them, lie more than
    :data:`SPARSE_SECONDS` apart (``--frames 30`` over a clip longer than 2.5 minutes; a variable-frame-rate clip
    whose frames are sampled by their count, where a stretch of slow frames leaves a long gap among close samples):
    what the timeline cannot see, and how to sample more. The largest gap decides, not the average spacing. Empty
    otherwise, and when no frame was skipped between two samples (a slideshow or low-rate clip scored whole:
    sampling more adds nothing)."""
    end = max(job.duration or 0.0, job.sampled[-1][1] if job.sampled else 0.0)  # a header's length may be short
    span = end - job.start
    if len(job.sampled) < 2 or span <= 0:
        return []
    gaps = [(later_time - earlier_time, earlier_time, later_time)
            for (earlier, earlier_time), (later, later_time) in itertools.pairwise(job.sampled) if later - earlier > 1]
    if not gaps:
        return []  # every frame from the first sample to the last was scored
    largest, start, stop = max(gaps)
    if largest <= SPARSE_SECONDS:
        return []
    count = f"{len(job.sampled)} over {span:.0f} s: a forged stretch shorter than that may be missed"
    if largest <= 1.25 * span / len(job.sampled):  # evenly spaced: the spacing says it
        return [f"sampled one frame every {largest:.1f} s, {count}; --fps 2 samples every 0.5 s"]
    return [f"sampled frames up to {largest:.1f} s apart (none between {start:.1f} s and {stop:.1f} s), {count}; "
            "--all-frames scores every frame"]


def _median_box(faces: list[Face]) -> tuple[int, int, int, int] | None:
    """Where a track's face is: the median of each side of its boxes (a face that moves a little keeps its place;
    one that crosses the frame is shown where it is most of the time), None without boxes."""
    boxes = [f.box for f in faces if f.box is not None]
    if not boxes:
        return None
    left, top, right, bottom = (sorted(side)[(len(side) - 1) // 2] for side in zip(*boxes, strict=True))
    return int(left), int(top), int(right), int(bottom)


def _aggregate(scores: list[float], is_video: bool, options: ScanOptions) -> float:
    """A series' score: the aggregation rule for a video; an image's face keeps its own score."""
    return aggregate.aggregate(scores, options.aggregation, options.threshold) if is_video else scores[0]


def _segments(job: Job, faces: list[Face], options: ScanOptions) -> list[aggregate.Segment]:
    """Timeline of one face series over the job's sampled frames (one score per frame: the max)."""
    per_frame: dict[int, float] = {}
    own: dict[str, dict[int, float]] = {}  # --model any: each detector's, to name those that flagged a range
    for face in faces:
        per_frame[face.frame] = max(per_frame.get(face.frame, 0.0), face.p_fake)  # type: ignore[arg-type]
        for name, value in (face.detectors or {}).items():
            own.setdefault(name, {})[face.frame] = max(own.get(name, {}).get(face.frame, 0.0), value)
    times = [t for _, t in job.sampled]
    scores = [per_frame.get(index) for index, _ in job.sampled]
    by_detector = {name: [values.get(index) for index, _ in job.sampled] for name, values in own.items()}
    return aggregate.segments(times, scores, options.threshold, options.smooth, job.duration, job.start,
                              by_detector or None)


EXIT_OK, EXIT_FAKE, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3


def exit_status(statuses: Iterable[str], verdicts: Iterable[str | None], fail_on_fake: bool = False,
                no_face_ok: bool = False) -> int:
    """The CLI's exit status: 3 if any input failed or had no face (it wins: the scan is incomplete; with
    ``no_face_ok`` an input without a face counts as scanned, only a failed one gives 3), else 1 with ``fail_on_fake``
    if any verdict is fake, else 0."""
    if any(status != "ok" and not (no_face_ok and status == "no_face") for status in statuses):
        return EXIT_INPUT
    if fail_on_fake and any(v == "fake" for v in verdicts):
        return EXIT_FAKE
    return EXIT_OK
