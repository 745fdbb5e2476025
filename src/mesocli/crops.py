"""One input of ``mesocli extract``: its faces as JPEG crops in OUT_DIR, and the manifest lines that list them.

:class:`ExtractOptions` say which frames, which detector, and where each crop goes (``video`` or
``dataset`` layout); :func:`extract_one` works through one input and returns its
:class:`InputResult` with its manifest block (a ``face`` line per crop, then its ``input`` line). It
never raises for a bad input: a failure is an ``error`` result, and the crops it wrote are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from mesocli import digest
from mesocli.errors import InputError, OutputError, ParameterError, UsageError
from mesocli.faces import (
    DETECTORS,
    FrameFaces,
    VideoFaces,
    photo_faces,
    require_packages,
    small_faces_note,
    turn_note,
    unchecked_note,
)
from mesocli.fsutil import atomic_write_bytes
from mesocli.inputs import identify
from mesocli.manifest import safe_name
from mesocli.preprocess import image_notes, open_image
from mesocli.probe import require_ffmpeg, streams_note
from mesocli.provenance import utc_now
from mesocli.video import FrameSelection

LAYOUTS = ("video", "dataset")
LABELS = ("df", "real")
ALIGNMENT = "mesonet-pipeline/9"
"""Recorded in the manifest header: a dataset whose crops another rule made is not resumed. Bump it when the crops
of the same frame would change (or another face would be cropped). 2: a face tilted by 35-45° is fitted again on
its window turned upright; the single face switches to a close-up that comes into view. 3: a hard cut ends every
track (the single face is the new shot's largest); an input with no face upright is cropped turned a quarter; a CNN
face turned a quarter is fitted upright; animated GIF/APNG/WebP are videos. 4: cuts in dark footage, fades through
black and dissolves end every track too; animated images are timed as browsers play them (other frames sampled);
a fast pan between sparse samples is no cut (its track goes on). 5: a pan of up to half the picture between two
samples (or one the phase correlation aligned a cell off) is no cut either. 6: a zoom (0.6-1.6×) or a camera roll
(up to 15°) between two samples is no cut either. 7: an input with no face upright is cropped turned upside down
when that shows faces (as turned a quarter); a CNN input upside down is turned 180°, not a quarter; a face whose crop
does not look upright (HOG) does not count as a face upright (one that does, beside it, keeps the input as it is);
small faces in a large frame are found (a video frame's searched at up to twice its size), and a weak box the CNN
rejects no longer stops the later searches. 8: a hard cut behind a person who stays (found again at their place,
the picture of their face no cut, the same person by dlib's descriptor) does not end their track (crops of one
track, not two). 9: the faces of the frames before a video's first upright face (a clip that starts upside down
or sideways) and a photo's face that looks turned beside an upright one are fitted again upright (upright crops,
their angles those of the faces in the frame)."""

Report = Callable[[int, str, int], None]


def _valid_label(label: str | None) -> bool:
    """``df`` or ``real``, optionally with a method sub-folder: ``df/Face2Face`` (eval reports per method)."""
    if not label:
        return False
    cls, _, method = label.partition("/")
    return cls in LABELS and (not _ or (bool(method) and safe_name(method) == method))


@dataclass(frozen=True)
class ExtractOptions:
    """What to extract and how to lay it out (validated: bad values raise UsageError)."""

    selection: FrameSelection = field(default_factory=FrameSelection)
    detector: str = "hog"
    all_faces: bool = False
    layout: str = "video"
    label: str | None = None
    split: str | None = None
    quality: int = 95
    hash_inputs: bool = True  # each input line's sha256 (mesocli.digest); off: null. Not a setting: may differ
    labels: str | None = None  # the sha256 of the labels file (--labels) that gives each input its label

    @property
    def labelled(self) -> bool:
        """Whether each input's label comes from a labels file (:mod:`mesocli.labels`), not from ``label``."""
        return self.labels is not None

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ParameterError("{detector} must be one of {choices}, not {value!r}", choices=", ".join(DETECTORS),
                                 value=self.detector)
        if self.layout not in LAYOUTS:
            raise ParameterError("{layout} must be one of {choices}, not {value!r}", choices=", ".join(LAYOUTS),
                                 value=self.layout)
        if self.labelled and self.layout != "dataset":
            raise ParameterError("{labels} goes with {layout} dataset")
        if self.labelled and self.label is not None:
            raise ParameterError("give {label} or {labels}, not both: the labels file gives each input its label")
        if self.layout == "dataset" and not self.labelled and not _valid_label(self.label):
            raise ParameterError("{layout} dataset needs {label} {choices} (optionally /METHOD, e.g. df/Face2Face)"
                                 + (", not {value!r}" if self.label else ""), choices=" or ".join(LABELS),
                                 value=self.label)
        if self.layout == "video" and (self.label or self.split):
            raise ParameterError("{label} and {split} go with {layout} dataset")
        if self.split is not None and (not self.split or safe_name(self.split) != self.split):
            raise ParameterError("{split} must be a plain folder name (letters, digits, '._-'), not {value!r}",
                                 value=self.split)
        if not 1 <= self.quality <= 100:
            raise ParameterError("{quality} must be between 1 and 100, not {value}", value=self.quality)
        require_packages(self.detector)
        require_ffmpeg()

    def settings(self) -> dict:
        """What the manifest header records: a resumed run must use the same."""
        settings = {
            "frames": {"mode": self.selection.mode, "value": self.selection.value},
            "detector": self.detector, "all_faces": self.all_faces, "layout": self.layout,
            "jpeg_quality": self.quality, "alignment": ALIGNMENT,
        }
        if self.labelled:  # (absent without: the settings of a run without --labels are as before)
            settings["labels_sha256"] = self.labels
        return settings

    def face_file(self, name: str, frame: int, track: int, label: str | None = None) -> str:
        """Where a crop goes, relative to OUT_DIR (posix); ``label``: the input's own (``--labels``)."""
        if self.layout == "video":
            return f"{name}/{frame}_{track}.jpg" if self.all_faces else f"{name}/{frame}.jpg"
        label = label or self.label
        folder = f"{self.split}/{label}" if self.split else str(label)
        stem = f"{name}_t{track}" if self.all_faces else name  # <video>_<frame>: eval's video-level grouping
        return f"{folder}/{stem}_{frame}.jpg"


@dataclass
class InputResult:
    """What became of one input: ``ok``, ``no_face``, ``error``, or ``skipped`` (done by an earlier run)."""

    source: str
    status: str
    kind: str | None = None
    name: str | None = None
    message: str = ""
    frames: int = 0
    frames_with_faces: int = 0
    faces: int = 0
    seconds: float = 0.0
    sha256: str | None = None  # of the input file's bytes, read before decoding; None: failed, or not hashed


@dataclass(frozen=True)
class Job:
    """One input to extract: its place in the input list, as given, its real path, its name in OUT_DIR, and
    the size and mtime that tell a later run whether it changed."""

    number: int
    source: str
    path: str
    name: str
    size: int | None
    mtime_ns: int | None
    label: str | None = None  # its own label (``--labels``); None: the run's (``--label``)


def _base(job: Job, options: ExtractOptions) -> dict:
    """The fields every manifest line of an input starts with."""
    base: dict = {"source": job.source, "name": job.name}
    if options.layout == "dataset":
        base.update(label=job.label or options.label, split=options.split)
    return base


def input_line(job: Job, options: ExtractOptions, result: InputResult, warnings: Sequence[str] = ()) -> dict:
    """The manifest line that closes an input's block: its status and counts, and ``extracted_at``: when it was made
    (its crops were all written; UTC, :func:`mesocli.provenance.utc_now`), so that a manifest resumed by several runs
    says which run made which crops."""
    line = {
        "type": "input", **_base(job, options), "path": job.path, "kind": result.kind, "status": result.status,
        "message": result.message, "frames": result.frames, "frames_with_faces": result.frames_with_faces,
        "faces": result.faces, "seconds": result.seconds, "size": job.size, "mtime_ns": job.mtime_ns,
        "sha256": result.sha256, "extracted_at": utc_now(),
    }
    if warnings:
        line["warnings"] = list(warnings)
    return line


def _frames_with_faces(job: Job, options: ExtractOptions, result: InputResult, report: Report,
                       warnings: list[str], seen: dict) -> Iterator[FrameFaces]:
    """The input's frames with their faces; once they are all read, its sha256 in ``result`` (taken before
    decoding, as ``scan`` takes it) and a warning when the file changed since it was hashed. ``seen`` gets the
    file's ``size`` and ``mtime_ns`` when its extraction began (when it was hashed): the version extracted,
    which may not be the one the run saw when it started (a file still being copied in)."""
    result.kind, info = identify(job.path)
    taken = digest.fingerprint(job.path) if options.hash_inputs else None
    if taken is not None:
        seen.update(size=taken.version.size, mtime_ns=taken.version.mtime_ns)
    else:
        with contextlib.suppress(OSError):
            stat = os.stat(job.path)
            seen.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    if result.kind == "image":
        report(job.number, "start", 1)
        image = open_image(job.path)
        turn, records, _ = photo_faces(image, options.detector, options.all_faces, job.source)
        if turn is not None:
            warnings.append(turn_note(turn))
        yield FrameFaces(0, 0.0, records)
        report(job.number, "frame", 1)
        warnings.extend(image_notes(job.path))
    else:
        yield from _video_faces(job, options, info, report, warnings)
    if taken is not None:
        result.sha256 = taken.sha256
        warning = digest.changed(taken, job.path, extracting=True)
        if warning:
            warnings.append(warning)


def _video_faces(job: Job, options: ExtractOptions, info: object, report: Report,
                 warnings: list[str]) -> Iterator[FrameFaces]:
    """A video's sampled frames and their faces, as ``scan`` reads them (:class:`mesocli.faces.VideoFaces`:
    turned when it shows faces only sideways or upside down, with a note in ``warnings``)."""
    video = VideoFaces(job.path, options.selection, info, detector=options.detector, all_faces=options.all_faces,
                       source=job.source, on_start=lambda reader: report(job.number, "start", reader.expected or 0),
                       on_frame=lambda: report(job.number, "frame", 1))
    yield from video
    if video.turn is not None:
        warnings.append(turn_note(video.turn))
    warnings.extend(unchecked_note(video.unchecked))
    warnings.extend(streams_note(video.reader.info))
    warnings.extend(video.reader.warnings)


def _save_crop(crop: np.ndarray, out_dir: Path, file: str, quality: int) -> str:
    """Write one crop as JPEG (temporary name, then rename); return its SHA-256."""
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, "JPEG", quality=quality, subsampling=0)  # 4:4:4: keep colour detail
    data = buffer.getvalue()
    atomic_write_bytes(out_dir / file, data)
    return hashlib.sha256(data).hexdigest()


def extract_one(job: Job, out_dir: Path, options: ExtractOptions, report: Report) -> tuple[InputResult, list[dict]]:
    """Extract one input; never raises: a failure is an ``error`` result whose crops are removed."""
    started = time.perf_counter()
    result = InputResult(job.source, "error", name=job.name)
    base = _base(job, options)
    faces: list[dict] = []
    warnings: list[str] = []
    seen: dict = {}
    try:
        for frame in _frames_with_faces(job, options, result, report, warnings, seen):
            result.frames += 1
            result.frames_with_faces += bool(frame.faces)
            for face in frame.faces:
                file = options.face_file(job.name, face.frame, face.track, job.label)
                faces.append({
                    "type": "face", **base, "frame": face.frame, "time": face.time, "box": list(face.box),
                    "centre": list(face.centre), "size": face.size, "angle": face.angle, "track": face.track,
                    "file": file, "sha256": _save_crop(face.crop, out_dir, file, options.quality),
                })
        result.status = "ok" if faces else "no_face"
        if options.detector != "none":  # (the inputs are crops)
            warnings.extend(small_faces_note([face["size"] for face in faces]))
    except InputError as exc:
        result.message = _as_given(str(exc), job)
    except (UsageError, OutputError):  # not this input's fault (face models missing, disk full): stop the run
        _remove_crops(out_dir, faces)
        raise
    except Exception as exc:  # one input's failure must not stop the others
        result.message = f"{job.source}: {type(exc).__name__}: {exc}"
    if result.status == "error":
        _remove_crops(out_dir, faces)
        faces, result.sha256 = [], None  # no bytes were extracted
    result.faces = len(faces)
    result.seconds = round(time.perf_counter() - started, 3)
    return result, [*faces, input_line(replace(job, **seen), options, result, warnings)]


def _as_given(message: str, job: Job) -> str:
    """An input's error naming the input as given on the command line, not its resolved path."""
    if os.path.islink(job.source) and not os.path.exists(job.source):
        return f"{job.source}: broken symbolic link"
    return job.source + message[len(job.path) :] if message.startswith(job.path + ": ") else message


def _remove_crops(out_dir: Path, faces: list[dict]) -> None:
    """Delete the crops of an input that did not finish: no file is left that the manifest does not list."""
    for line in faces:
        with contextlib.suppress(OSError):
            (out_dir / line["file"]).unlink(missing_ok=True)
