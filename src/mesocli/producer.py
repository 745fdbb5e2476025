"""The scan's reading side: a thread that walks the inputs, decodes frames and finds faces, and hands
them to the scoring side (:func:`mesocli.scan.scan_inputs`) as messages on a bounded queue.

Per input it sends :class:`Started`, a :class:`Sampled` per sampled frame (with the face crops picked
in it), then :class:`Ended`; after the last input :class:`Finished`. A bug (not a bad input) is sent
as :class:`Failed`, for the consumer to raise. A bad input is never an exception: its :class:`Job`
ends with ``error`` set.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesocli.errors import MesocliError, OutputError, UsageError, error_kind
from mesocli.inputs import MemoryImage

if TYPE_CHECKING:
    from mesocli.scan import ProgressHook, ScanOptions

Box = tuple[int, int, int, int]
"""A face's detector box in its frame's pixels: left, top, right, bottom."""

Crops = list[tuple[int | None, Any, Box | None]]
"""The faces picked in one frame: (track, 256×256 crop, box) triples."""


@dataclass
class Face:
    """One face of a sampled frame, and its score once the network has seen it."""

    frame: int
    time: float
    track: int | None
    p_fake: float | None = None
    detectors: dict[str, float] | None = None
    box: Box | None = None  # where it is in the frame (left, top, right, bottom)


def media_record(file: tuple[int, int] | None, info: Any = None,
                 duration: float | None = None) -> dict[str, Any] | None:
    """What an input file is, beside its sha256 (a row's ``media``): its size in bytes and, for a video, its first
    video stream as its header gives it (codec, width and height as displayed, frames per second) and the length
    the scan read it as (``duration``, seconds); None when the file's size is not known."""
    if file is None:
        return None
    record: dict[str, Any] = {"bytes": file[0]}
    if info is not None:
        record.update(codec=info.codec or None, width=info.width, height=info.height,
                      fps=_figure(info.fps), duration=_figure(duration))
    return record


def _figure(value: float | None) -> float | None:
    """A positive rate or length to 3 decimals, one under 0.0005 to 3 significant digits (a frame an hour is
    0.000278 fps, not 0); None when not known (0 or None)."""
    if not value:
        return None
    return round(float(value), 3) or float(f"{float(value):.3g}")


@dataclass
class Job:
    """One input on its way through the pipeline."""

    path: str
    kind: str | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float = 0.0  # when it was read to the end, or its last face scored, whichever is later
    duration: float | None = None
    start: float = 0.0  # the time of the video's first frame (later than 0 where its stream starts late)
    sampled: list[tuple[int, float]] = field(default_factory=list)
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None  # the error's mesocli.errors.ERROR_KINDS name, with error
    warnings: list[str] = field(default_factory=list)  # a damaged input, a changed file, what was not scored
    sha256: str | None = None  # of the file's bytes (mesocli.digest), unless hashing is off or it failed
    file: tuple[int, int] | None = None  # (size, mtime_ns) of the version read: when hashed, else when reading began
    media: dict[str, Any] | None = None  # what the file is: its size, and a video's stream (media_record)
    done: bool = False
    pending: int = 0
    key: int = 0  # the input's number, for a ScanObserver


@dataclass
class Started:
    """An input is being read."""

    job: Job


@dataclass
class Sampled:
    """A sampled frame of the input (``index``, at ``time`` seconds) and the face crops picked in it."""

    job: Job
    index: int
    time: float
    crops: Crops


@dataclass
class Ended:
    """The input was read to its end (or failed: ``job.error``)."""

    job: Job


@dataclass
class Finished:
    """Every input was read."""


@dataclass
class Failed:
    """The producer hit a bug; the consumer raises ``error``."""

    error: BaseException


Message = Started | Sampled | Ended | Finished | Failed


_END = object()
"""The end of the inputs (:meth:`Producer._drawn`)."""


class _Stopped(Exception):
    """The consumer went away; the producer ends quietly."""


class Producer(threading.Thread):
    """Walks the inputs and puts messages (:data:`Message`) on ``out``, a bounded queue; :attr:`stop` ends it."""

    def __init__(self, paths: Iterable[str | Path | MemoryImage], options: ScanOptions, out: queue.Queue,
                 progress: ProgressHook | None, resize: Future[tuple[str, ...]] | None = None) -> None:
        super().__init__(name="mesocli-scan-producer", daemon=True)
        # --detector none: the resizes of an input not 256×256, a crop per resize (the weights', each network's:
        # mesocli.scan.crop_resizes), known once the consumer has loaded them (None: bilinear)
        self.resize = resize
        self.paths = paths  # iterated here: paths read from stdin arrive while the first is scanned
        self.options = options
        self.out = out
        self.progress = progress
        self.stop = threading.Event()
        self.drawing = False
        """Whether it is waiting for the next input from :attr:`paths` (a caller's generator may wait for long)."""

    def put(self, message: Message) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(message, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def run(self) -> None:
        try:
            for raw in self._drawn():
                if isinstance(raw, MemoryImage):
                    self._memory(raw)
                else:
                    self._argument(Path(raw), str(raw))
            self.put(Finished())
        except _Stopped:
            return
        except BaseException as exc:  # a bug, not a bad input: hand it to the consumer to raise
            try:
                self.put(Failed(exc))
            except _Stopped:
                return

    def _drawn(self) -> Iterator[str | Path | MemoryImage]:
        """The inputs, :attr:`drawing` set while the next one is awaited."""
        inputs = iter(self.paths)
        while True:
            self.drawing = True
            try:
                raw = next(inputs, _END)
            finally:
                self.drawing = False
            if raw is _END:
                return
            yield raw

    def _resize(self) -> tuple[str, ...]:
        """How a crop not 256×256 is resized (``--detector none``; each way the networks want, a crop per resize):
        waits for the weights to be loaded, or for a stop. Meanwhile the first input is identified and hashed, a
        picture decoded; a video's ffmpeg starts once they are (its first sampled frame costs 0.1-0.5 s)."""
        while self.resize is not None:
            if self.stop.is_set():
                raise _Stopped
            try:
                return self.resize.result(timeout=0.1)
            except TimeoutError:
                continue
        return ("bilinear",)

    def done_with_inputs(self, timeout: float) -> None:
        """Wait, up to ``timeout`` seconds, for the producer to end after :attr:`stop` was set; not while it waits
        for the next input of a caller's iterator (a generator, which may wait for ever: the producer ends at its
        next message). A list ends; paths on stdin stop being awaited (:func:`mesocli.stdin_paths.stop_waiting`)."""
        if not isinstance(self.paths, Iterator) or callable(getattr(self.paths, "stop", None)):
            self.join(timeout=timeout)
            return
        deadline = time.monotonic() + timeout
        while self.is_alive() and not self.drawing and time.monotonic() < deadline:
            self.join(timeout=0.02)

    def _argument(self, path: Path, shown: str) -> None:
        """One command-line argument: a file, or a folder expanded recursively."""
        from mesocli.inputs import expand_inputs

        try:
            exists, folder = path.exists(), path.is_dir()
        except OSError as exc:  # a name longer than the file system allows, ...
            self._failed(shown, f"cannot read ({exc.strerror or exc})",
                         "permission" if isinstance(exc, PermissionError) else "read_failed")
            return
        if not exists:
            self._failed(shown, "broken symbolic link" if path.is_symlink() else "no such file or folder", "not_found")
        elif not folder:
            self._input(path, shown)
        else:
            # files that neither carry a media suffix nor start like media are skipped; the others
            # are all reported, an unreadable "clip.mp4" as an error
            try:
                files = expand_inputs([path], media_only=True)
            except (MesocliError, OSError) as exc:
                self._failed(shown, f"cannot list the folder ({exc})", error_kind(exc) if isinstance(exc, MesocliError)
                             else "permission" if isinstance(exc, PermissionError) else "read_failed")
                return
            for file in files:
                self._input(file, str(file))
            if not files:
                self._failed(shown, "folder holds no video or image", "empty")

    def _failed(self, shown: str, message: str, kind: str) -> None:
        job = Job(shown, error=f"{shown}: {message}", error_kind=kind)
        self.put(Started(job))
        self._end(job)

    def _end(self, job: Job) -> None:
        job.finished = time.perf_counter()
        self.put(Ended(job))
        self._hook("read", job.path)  # its bar goes now, not when its row is out (bars of inputs read ahead stacked)

    def _input(self, path: Path, shown: str) -> None:
        from mesocli.digest import changed
        from mesocli.inputs import identify
        from mesocli.resume import file_key

        job = Job(shown)
        self.put(Started(job))
        try:
            job.file = file_key(path)  # the version read, which may not be the one planned (a copy still arriving)
            job.kind, info = identify(path)
            taken = self._hash(path) if self.options.hash_inputs else None
            if taken is not None:
                hashed = (taken.version.size, taken.version.mtime_ns)  # the bytes the sha256 names
                if hashed != job.file:  # replaced between its probe and its hash: the header of the bytes hashed
                    job.kind, info = identify(path)
                job.file = hashed
            job.media = media_record(job.file)
            if job.kind == "image":
                self._hook("start", shown, 1)
                self._image(job, path)
            else:
                self._video(job, path, info)
            if taken is not None:
                job.sha256 = taken.sha256
                warning = changed(taken, path)
                if warning:
                    job.warnings.append(warning)
        except (_Stopped, UsageError, OutputError):  # not this input's fault (face models missing, a full disk):
            raise  # the scan stops, as extract does
        except MesocliError as exc:
            job.error, job.error_kind = str(exc), error_kind(exc)
        except Exception as exc:  # decoders and detectors raise many kinds; report, never guess a score
            job.error, job.error_kind = f"{shown}: {type(exc).__name__}: {exc}".strip(), "other"
        self._end(job)

    def _hash(self, path: Path) -> Any:
        """The input's :class:`mesocli.digest.Fingerprint`, taken before it is decoded (stops with the scan)."""
        from mesocli.digest import fingerprint

        found = fingerprint(path, self.stop.is_set)
        if found is None:
            raise _Stopped
        return found

    def _hook(self, event: str, path: str, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress(event, path, total)

    def _memory(self, item: MemoryImage) -> None:
        """A picture held in memory: scanned as an image file is, with no file to hash (``sha256`` None)."""
        job = Job(item.name, kind="image")
        self.put(Started(job))
        self._hook("start", item.name, 1)
        try:
            self._picture(job, item.picture())
        except (_Stopped, UsageError, OutputError):
            raise
        except MesocliError as exc:
            job.error, job.error_kind = str(exc), error_kind(exc)
        except Exception as exc:  # as for a file: reported, never a guessed score
            job.error, job.error_kind = f"{item.name}: {type(exc).__name__}: {exc}".strip(), "other"
        self._end(job)

    def _image(self, job: Job, path: Path) -> None:
        from mesocli.preprocess import image_notes, open_image

        image = open_image(path)
        job.warnings = image_notes(path)
        self._picture(job, image)

    def _picture(self, job: Job, image: Any) -> None:
        """The faces of a still picture (a Pillow image), one :class:`Sampled`; tried turned when none is upright."""
        from mesocli.faces import photo_faces, turn_note

        turn, records, finder = photo_faces(image, self.options.detector, self.options.all_faces, job.path,
                                              self._resize() if self.options.detector == "none" else ("bilinear",))
        if turn is not None:  # a photo stored sideways or upside down
            job.warnings.insert(0, turn_note(turn))
        job.warnings += self._unscored(finder)
        records = self._chosen(records)
        job.warnings += self._small([float(record.size) for record in records])
        self.put(Sampled(job, 0, 0.0, self._pick(records)))
        self._hook("frame", job.path)

    def _video(self, job: Job, path: Path, info: Any) -> None:
        """Its sampled frames and their faces, a :class:`Sampled` each, read upright or, when it shows faces
        only sideways or upside down (a phone video that lost its rotation metadata), turned
        (:class:`mesocli.faces.VideoFaces`)."""
        from mesocli.faces import VideoFaces, turn_note, unchecked_note
        from mesocli.probe import streams_note

        def started(reader: Any) -> None:
            if job.media is not None and "codec" not in job.media:  # its first read (not one turned): the stream
                job.media = media_record(job.file, reader.info, reader.duration)
            job.duration = reader.info.start + reader.duration if reader.duration else None  # its end, frame time
            job.start = reader.info.start
            self._hook("start", job.path, reader.expected)

        video = VideoFaces(path, self.options.selection(), info, detector=self.options.detector,
                           all_faces=self.options.all_faces, source=job.path, on_start=started,
                           resize=self._resize() if self.options.detector == "none" else ("bilinear",),
                           on_frame=lambda: self._hook("frame", job.path))
        scored: list[float] = []  # the sizes of the faces scored (not the records: their crops are let go)
        for found in video:
            records = self._chosen(found.faces)
            scored += [float(record.size) for record in records]
            self.put(Sampled(job, int(found.frame), float(found.time), self._pick(records)))
        job.warnings = (streams_note(video.reader.info) + damage_warnings(video.reader) + self._unscored(video.finder)
                        + self._small(scored) + unchecked_note(video.unchecked))
        if video.reader.cut_short:
            job.duration = None  # it ended early: the timeline stops at the last decoded frame
        if video.turn is not None:
            job.warnings.insert(0, turn_note(video.turn))

    def _unscored(self, finder: Any) -> list[str]:
        """A note when the input showed more people than the one face scored (not with ``--all-faces``)."""
        if self.options.all_faces or finder.most_faces < 2:
            return []
        return [f"{finder.most_faces} faces in view: only the largest was scored; --all-faces scores each"]

    def _small(self, sizes: list[float]) -> list[str]:
        """A note when faces scored (their aligned squares' ``sizes``) are too small to judge (not with
        ``--detector none``: the inputs are crops)."""
        from mesocli.faces import small_faces_note

        return [] if self.options.detector == "none" else small_faces_note(sizes)

    def _chosen(self, records: Sequence[Any]) -> Sequence[Any]:
        """The faces scored: all with ``--all-faces``, else the largest one (the paper's choice)."""
        if not records or self.options.all_faces:
            return records
        return [max(records, key=lambda r: float(r.size))]

    @staticmethod
    def _pick(records: Sequence[Any]) -> Crops:
        """The crops of the faces :meth:`_chosen`, with their tracks and boxes."""
        return [(getattr(r, "track", None), r.crop, _box(r)) for r in records]


def box_text(box: Sequence[int] | None) -> str:
    """Where a face is, for people: ``x 1006–1089, y 113–196`` (frame pixels); "" without a box."""
    return "" if not box else f"x {box[0]}–{box[2]}, y {box[1]}–{box[3]}"


def _box(record: Any) -> Box | None:
    """A face record's detector box as four ints, None where it has none."""
    box = getattr(record, "box", None)
    return None if box is None else (int(box[0]), int(box[1]), int(box[2]), int(box[3]))


DAMAGE_PREFIXES = ("damaged or cut short: ", "ffmpeg: ")
"""How the warnings of a damaged video begin (:func:`damage_warnings`); other warnings are notes (a multi-page
image scored on its first frame, an input scanned turned, faces left unscored, a file changed while scanned)."""


def is_damage(warning: str) -> bool:
    """Whether a result's warning says its video is damaged (not a note about what was scored)."""
    return warning.startswith(DAMAGE_PREFIXES)


def damage_warnings(reader: Any) -> list[str]:
    """What a finished FrameReader says of a damaged video: how many planned frames it decoded when
    the stream ended early, then ffmpeg's own messages. Empty for a clean decode."""
    if not reader.warnings:
        return []
    notes = [f"{DAMAGE_PREFIXES[1]}{message}" for message in reader.warnings]
    if reader.cut_short:
        notes.insert(0, f"{DAMAGE_PREFIXES[0]}{reader.decoded} of {reader.expected} planned frames decoded")
    return notes
