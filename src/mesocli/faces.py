"""Find, track and align faces in frames: the pipeline that ``extract`` and ``scan`` share.

Per frame, like the authors' ``FaceFinder``: search first around the faces of the previous frame
(a small window scaled so the face is about 100 px, cheap), then, only if that finds nothing, the
whole frame downscaled; then the downscaled frame padded with grey (a face that fills the frame,
as in already-cropped clips, cannot be found otherwise); then the frame upsampled (small faces); then,
last, a large frame still without a face from its full resolution, enlarged up to twice (faces of a few
dozen pixels in a wide shot). Landmarks (dlib's 68-point model) give the aligned crop (:mod:`mesocli.align`).

Default: one face per frame (the paper), track 0: the largest when first found, then followed, and
replaced by a larger face (a close-up) that a small whole-frame search, once per second of video,
finds. ``all_faces``: every face, each with a
track id that stays with a person across the frames of a shot (:mod:`mesocli.tracking`: a hard cut ends
every track); the whole frame is searched again at least once per second of video so that newcomers are
found.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import pickle
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from mesocli.align import Geometry, aligned_crop, face_geometry
from mesocli.errors import UsageError
from mesocli.fsutil import atomic_path, cache_file_writable, cache_folder, trusted_cache_file
from mesocli.preprocess import (
    DEFAULT_RESIZE,
    INPUT_SIZE,
    decode_scale,
    face_to_uint8,
    file_size,
    open_image,
    to_rgb,
)
from mesocli.tracking import LARGER_AREA, REDETECT_SECONDS, STAY_IOU, Box, Shots, Track, Tracker, is_cut, thumbnail
from mesocli.video import Frame, FrameReader, FrameSelection

DETECTORS = ("hog", "cnn", "none")
ROI_MARGIN = 0.4  # the window searched around a known face: its box grown by this × its side, each way
ROI_SCALES = (1.0, 0.8, 1.3)  # face sizes tried around a known face, × the detector's roi_face
CANDIDATE_THRESHOLD = -0.4  # HOG full-frame candidates down to this score are checked around
PAD_FRACTION = 0.3  # grey border added, each side, for the "face fills the frame" search
HOG_SURE_SCORE = 0.6  # a HOG face found in a whole-frame search scoring under this needs the CNN detector to agree
REFIT_ANGLE = 5.0  # a face measured as turned by this many degrees or more is fitted again, turned upright
REFIT_CHANGE = 8.0  # and that fit is kept when its angle differs from the first by more than this (it lagged)
REFITS = 2  # at most
REFIT_MARGIN = 0.6  # the window turned upright: the box grown by this × its side each way (holds the turned box)
LARGER_PIXELS = 256 * 192  # the search for a larger face sees the frame downscaled to at most this many pixels
STILL_SIDE = 4000  # a still image with no face at the downscaled size is searched again at up to this side
SMALL_PIXELS = 3840 * 2160  # a video frame with no face, searched again at up to twice its size: at most this many
SMALL_SCALE = 2.0  # pixels (a face of about 40 px in 1920×1080, 75 px in 3840×2160, is then HOG's smallest)
DETAIL_TILES = 32  # the enlarged search's cheap test cuts the frame into tiles of 1/32 of its longest side:
FLAT_STEP = 8  # one whose largest step between neighbouring grey pixels (at half size) is under this is flat (no
# face: a face's eyes, brows and mouth make steps of dozens), and in a video one whose pixels all differ by under
SAME_STEP = 16  # this from the last enlarged search that found no face in it is unchanged (still no face); the
# others, grown by a tile each way (the detector's context), are searched; regions over SEARCH_SHARE of the frame
SEARCH_SHARE = 0.7  # are searched whole, in one pass
ENLARGED_SECONDS = 4.0  # that search's pace after 3 faceless frames: it costs about 4× the upsampled search (which
# runs once a second), so a faceless 1080p video pays about what step 4 does, and a small face coming into view
# while none is followed is found at most 4 s of video late


@dataclass
class FaceRecord:
    """One face in one frame: where it is, how it is aligned, and the 256×256 aligned crop."""

    source: str
    frame: int
    time: float
    box: tuple[int, int, int, int]  # detector box, clipped to the frame: left, top, right, bottom (frame pixels)
    centre: tuple[float, float]  # centre of the aligned square (x, y)
    size: float  # side of the aligned square, in frame pixels
    angle: float  # in-plane rotation of the face, degrees counter-clockwise
    track: int
    crop: np.ndarray = field(repr=False)  # (256, 256, 3) uint8 RGB (--detector none, several resizes: a dict of them)
    landmarks: np.ndarray | None = field(default=None, repr=False)  # (68, 2) x, y

    @property
    def geometry(self) -> Geometry:
        return Geometry(self.centre, self.size, self.angle)


SMALL_FACE = 64
"""A face whose aligned square is under this side (frame pixels) is too small to judge: its crop is that square
enlarged over 4× to 256×256, its texture gone, and no MesoNet training face was under 66 px."""


def small_faces_note(sizes: list[float]) -> list[str]:
    """The warning of an input whose faces scored or extracted (their aligned squares' ``sizes``) include some
    under :data:`SMALL_FACE`; empty when none is."""
    small = sum(size < SMALL_FACE for size in sizes)
    if not small:
        return []
    if len(sizes) == 1:
        which, crops, them = "the face is", "its crop", "it"
    else:
        which, crops, them = f"{small} of {len(sizes)} faces are", "their crops", "them"
    return [f"small faces: {which} under {SMALL_FACE} px (the aligned square, in frame pixels): too small for "
            f"MesoNet to judge, {crops} enlarged over 4×; a verdict drawn from {them} is unreliable"]


@dataclass
class FrameFaces:
    """The faces found in one sampled frame (possibly none)."""

    frame: int
    time: float
    faces: list[FaceRecord]


# ---------------------------------------------------------------------------------------------- models


def models_dir() -> Path:
    """The model files of the ``face_recognition_models`` package, found without importing it."""
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise UsageError("the face models are missing: pip install face_recognition_models")
    return Path(locations[0]) / "models"


MODEL_FILES = ("shape_predictor_68_face_landmarks.dat", "mmod_human_face_detector.dat",
               "dlib_face_recognition_resnet_model_v1.dat")
"""The files of ``face_recognition_models`` that the detectors read: landmarks, the CNN detector (which
``hog`` also runs, to confirm a doubtful face), and dlib's face descriptors (who a face is: read at a cut,
:meth:`FaceFinder._stays`)."""

SAME_PERSON = 0.45  # at a cut, a face found again at its track's place is the same person when the distance of
# dlib's descriptors (128-D) of the two faces is at most this (dlib's own rule is 0.6: stricter, so that another
# person there is not taken for the one before; see docs/extract.md, "Cuts end every track")


def _model_file(name: str) -> str:
    path = models_dir() / name
    if not path.is_file():
        raise UsageError(f"face model file missing: {path} (reinstall face_recognition_models)")
    return str(path)


def _read_model(name: str, load: Callable[[str], Any]) -> Any:
    """``load(path)`` of the model file ``name``; a file dlib cannot read (damaged, cut short, unreadable) is
    a :class:`mesocli.errors.UsageError` that stops the run, as a missing one does: it is the installation's
    fault, not the input's (it was an error row per input, with dlib's many-line message)."""
    path = _model_file(name)
    try:
        return load(path)
    except RuntimeError as exc:
        why = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise UsageError(f"face model file damaged or unreadable: {path} ({why}): reinstall "
                         "face_recognition_models") from None


def require_packages(detector: str) -> None:
    """Raise ModuleNotFoundError (the CLI's one-line "needs the Python package" error) when ``detector``
    needs dlib and the face models and one is not installed, and UsageError when a model file is missing,
    before any input is read: a damaged installation used to fail every input one by one (a damaged file
    stops the run when it is loaded, :func:`_read_model`)."""
    if detector == "none":
        return
    for module in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    for name in MODEL_FILES:
        _model_file(name)


def load_models(detector: str) -> None:
    """Load the face models that ``detector`` needs now (a worker getting ready): a damaged file raises here."""
    if detector == "none":
        return
    _landmark_model()
    _cnn_detector()
    _descriptor_model_readable()


@functools.cache
def _dlib():  # the dlib module
    import dlib

    return dlib


_THREAD = threading.local()


def _thread_own(name: str, make: Any) -> Any:
    """This thread's own ``make()``: dlib's detectors must not be used by two threads at once (dlib's docs; a
    shared one crashed or gave wrong scores when a service scanned from several threads)."""
    own = getattr(_THREAD, name, None)
    if own is None:
        own = make()
        setattr(_THREAD, name, own)
    return own


def _hog_detector():
    """dlib's frontal face detector, this thread's copy (of the one :func:`_hog_state` holds now)."""
    state = _hog_state()
    own = getattr(_THREAD, "hog", None)
    if own is None or own[0] is not state:
        own = _THREAD.hog = (state, pickle.loads(state))
    return own[1]


@functools.cache
def _hog_state() -> bytes:
    """The detector's pickle, copied into each thread (1 ms); the detector itself is read once
    (``_hog_state.cache_clear()``: read again)."""
    return pickle.dumps(_hog_prototype())


def _hog_prototype():
    """dlib's frontal face detector; kept in binary form in the user cache, which loads faster than building it."""
    dlib = _dlib()
    folder = cache_folder()  # None: no home folder, no cache (Path.home() raised RuntimeError there)
    if folder is None:
        return dlib.get_frontal_face_detector()
    cached = folder / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    if cached.is_file() and trusted_cache_file(cached):
        with contextlib.suppress(RuntimeError):
            return dlib.fhog_object_detector(str(cached))
    detector = dlib.get_frontal_face_detector()
    with contextlib.suppress(OSError, RuntimeError):  # a cache: best effort
        if cache_file_writable(cached):
            with atomic_path(cached) as tmp:
                detector.save(str(tmp))
    return detector


def _cnn_detector():
    """dlib's CNN face detector, this thread's own (a small file: a few ms to load)."""
    return _thread_own("cnn", lambda: _read_model(MODEL_FILES[1], _dlib().cnn_face_detection_model_v1))


def _face_descriptor_model():
    """dlib's face recognition network (128-D descriptors), this thread's own: read at the first cut that has
    tracks to check."""
    return _thread_own("descriptor", lambda: _read_model(MODEL_FILES[2], _dlib().face_recognition_model_v1))


@functools.cache
def _descriptor_model_readable() -> None:
    """Read the face descriptor model once and let it go (about 50 ms of CPU): a damaged file stops the run at its
    start, as the other models do, not at the first cut of a long run (whose rows a stop may lose, without
    --resume); the model is kept only where a cut needs it (:func:`_face_descriptor_model`)."""
    _read_model(MODEL_FILES[2], _dlib().face_recognition_model_v1)


@functools.cache
def _landmark_model():  # dlib documents its shape_predictor as safe to share between threads
    return _read_model(MODEL_FILES[0], _dlib().shape_predictor)


@dataclass(frozen=True)
class _Spec:
    min_face: int  # smallest box side found without upsampling
    roi_face: int  # a tracked face is scaled to this box side for the search around it
    full_side: int  # a full-frame search first downscales the frame to this longest side


_SPECS = {
    "hog": _Spec(min_face=80, roi_face=100, full_side=960),
    "cnn": _Spec(min_face=45, roi_face=80, full_side=640),
}


# ---------------------------------------------------------------------------------------------- frames


class _FrameImages:
    """One frame as the detectors want it: Pillow images of regions, grey (HOG, landmarks) or RGB (CNN).

    While only windows around known faces are searched, only those windows are converted.
    """

    def __init__(self, image: np.ndarray, picture: Image.Image | None = None):
        self.array = image
        self.height, self.width = image.shape[:2]
        self._full: dict[str, Image.Image] = {}
        if picture is not None:  # the RGB Pillow image ``image`` was made from: not copied again
            self._full["RGB"] = picture

    def full(self, mode: str) -> Image.Image:
        """The whole frame as a Pillow image of ``mode`` ("RGB" or "L")."""
        if "RGB" not in self._full:
            self._full["RGB"] = Image.fromarray(self.array)
        if mode not in self._full:
            self._full[mode] = self._full["RGB"].convert(mode)
        return self._full[mode]

    def region(self, mode: str, x0: int, y0: int, x1: int, y1: int) -> Image.Image:
        """The region [x0, x1) × [y0, y1) (inside the frame) as a Pillow image of ``mode``."""
        if mode in self._full:
            return self._full[mode].crop((x0, y0, x1, y1))
        window = Image.fromarray(np.ascontiguousarray(self.array[y0:y1, x0:x1]))
        return window if mode == "RGB" else window.convert(mode)

    def clip(self, box: Box, margin: float) -> tuple[int, int, int, int]:
        """``box`` grown by ``margin`` × its side each way, as integer bounds inside the frame."""
        grow = margin * box.side
        x0 = min(max(0, math.floor(box.left - grow)), self.width - 1)
        y0 = min(max(0, math.floor(box.top - grow)), self.height - 1)
        x1 = max(min(self.width, math.ceil(box.right + grow)), x0 + 1)
        y1 = max(min(self.height, math.ceil(box.bottom + grow)), y0 + 1)
        return x0, y0, x1, y1


def _scaled(image: Image.Image, scale: float) -> Image.Image:
    """``image`` resized by ``scale`` if that shrinks it, else itself."""
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)


# ---------------------------------------------------------------------------------------------- finder


class FaceFinder:
    """Detect (dlib HOG or CNN), track (:attr:`tracker`) and align faces in successive frames of one video.

    ``find`` keeps state from frame to frame (where the faces were); call ``reset`` before another video.
    """

    def __init__(self, detector: str = "hog", all_faces: bool = False, still: bool = False,
                 small_faces: bool = True, resize: str | tuple[str, ...] = DEFAULT_RESIZE):
        self.resize = resize  # ``none``: how a frame not 256×256 is resized (the weights', mesocli.weights.resize_of)
        self.still = still  # a still image: one frame, worth a full-resolution search for small faces
        self.small_faces = small_faces  # a large faceless video frame searched enlarged (not by upright_turn)
        if detector not in DETECTORS:
            raise UsageError(f"--detector must be one of {', '.join(DETECTORS)}, not {detector!r}")
        self.detector = detector
        self.all_faces = all_faces
        self.tracker = Tracker(all_faces)
        self.shots = Shots()
        self._seen: dict[int, tuple[np.ndarray, Box]] = {}  # each track's last frame and box (a cut checks it)
        if detector != "none":  # load the models now, not inside the first frame
            self._spec = _SPECS[detector]
            if detector == "hog":
                _hog_detector()
            else:
                _cnn_detector()
            _landmark_model()
            _descriptor_model_readable()
        self.reset()

    @property
    def most_faces(self) -> int:
        """The most faces found in one frame since :meth:`reset` (without ``all_faces``, a lower bound: the whole
        frame is searched for every face only while no face is followed)."""
        return self.tracker.most_seen

    def reset(self) -> None:
        """Forget the faces of previous frames."""
        self.tracker.reset()
        self.shots.reset()
        self._seen = {}
        self._misses = 0  # consecutive frames without a face
        self._last_upsampled: float | None = None
        self._last_enlarged: float | None = None
        self._last_beside: float | None = None  # the last small-faces search of a frame with a face (all_faces)
        self._enlarged_seen: np.ndarray | None = None  # the half-size grey frame as the enlarged search last saw it
        self._enlarged_steps: np.ndarray | None = None  # and each tile's largest step then (its detail)

    # -- detection ----------------------------------------------------------------------------

    def _run_detector(self, image: Image.Image, upsample: int = 0, threshold: float = 0.0) -> list[Box]:
        """Faces in a Pillow image (grey for HOG, RGB for CNN); HOG keeps scores down to ``threshold``."""
        if self.detector == "hog":
            rects, scores, _ = _hog_detector().run(np.asarray(image), upsample, threshold)
            found = zip(rects, scores, strict=True)
        else:
            found = ((d.rect, d.confidence) for d in _cnn_detector()(np.asarray(image), upsample))
        return [Box(r.left(), r.top(), r.right(), r.bottom(), score) for r, score in found]

    @property
    def _mode(self) -> str:
        return "L" if self.detector == "hog" else "RGB"

    def _search_around(self, images: _FrameImages, box: Box) -> Box | None:
        """The face nearest ``box`` in a window around it, scaled so a face of that size is ~roi_face px.

        Detector scores wobble with the scale, so a miss is retried at two other scales (cheap: the
        window is small) before the caller falls back to searching the whole frame.
        """
        x0, y0, x1, y1 = images.clip(box, ROI_MARGIN)
        window = images.region(self._mode, x0, y0, x1, y1)
        for factor in ROI_SCALES:
            scale = min(factor * self._spec.roi_face / box.side, 3.0)
            size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
            if min(size) < self._spec.min_face:
                continue
            sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
            found = [
                Box(b.left / sx + x0, b.top / sy + y0, b.right / sx + x0, b.bottom / sy + y0, b.score)
                for b in self._run_detector(window.resize(size, Image.Resampling.BILINEAR))
            ]
            if found:
                return max(found, key=lambda b: (b.iou(box), b.area))
        return None

    def _search_frame(self, images: _FrameImages, time: float) -> list[Box]:
        """Every face of the whole frame: downscaled, then padded (face filling it), then upsampled, then (a large
        frame) enlarged from its full resolution.

        When no face scores above the detector's threshold, candidates just under it are kept if the
        search around them (at three scales) confirms them; a weak HOG face counts only when the CNN detector
        agrees (:meth:`_sure`), and one it rejects leaves the next step to run. Like the authors'
        ``no_face_acceleration_threshold``: after 3 frames in a row without a face, the costly
        upsampled and enlarged searches run only once per second of video. With ``all_faces``, a video frame with a
        face also gets them, at most once per ``ENLARGED_SECONDS`` (small faces beside a large one).
        """
        source = images.full(self._mode)
        longest = max(images.width, images.height)
        small = _scaled(source, self._spec.full_side / longest)
        scale = small.width / images.width
        found = self._sure(images, self._confirmed(images, self._run_detector(small, 0, CANDIDATE_THRESHOLD), scale))
        if not found:  # a face larger than the frame: give it room, at a size where it is still > min_face
            base = _scaled(source, 4 * self._spec.min_face / (longest * (1 + 2 * PAD_FRACTION)))
            border = round(PAD_FRACTION * max(base.size))
            padded = ImageOps.expand(base, border=border, fill=128 if base.mode == "L" else (128, 128, 128))
            shrink = base.width / images.width
            found = self._sure(images, [b.mapped(shrink, -border / shrink, -border / shrink)
                                        for b in self._run_detector(padded)])
        every_face = self.still and self.all_faces  # a photo's small faces beside its large ones, too
        # a video's, with all_faces: steps 4 and 5 also in frames with a face (a person far behind the one found),
        # together, at most once per ENLARGED_SECONDS of video
        beside = (self.all_faces and not self.still and bool(found)
                  and (self._last_beside is None or abs(time - self._last_beside) >= ENLARGED_SECONDS))
        if beside:
            self._last_beside = time
        upsampled_due = self._last_upsampled is None or abs(time - self._last_upsampled) >= REDETECT_SECONDS
        if (not found and (self._misses < 3 or upsampled_due)) or every_face or beside:
            self._last_upsampled = time  # small faces: the upsampled search the authors ran on a miss
            upsampled = self._confirmed(images, self._run_detector(small, 1, CANDIDATE_THRESHOLD), scale)
            found = _added(found, self._sure(images, upsampled))
            enlarged_due = self._last_enlarged is None or abs(time - self._last_enlarged) >= ENLARGED_SECONDS
            if (self.small_faces and not self.still and self.detector == "hog" and longest > self._spec.full_side
                    and (not found and (self._misses < 3 or enlarged_due) or beside)):
                # faces too small even upsampled (under about 4 % of the longest side: 48 px in 1920×1080): the
                # frame at up to twice its full resolution (SMALL_PIXELS), each of the first 3 faceless frames,
                # then at most once per ENLARGED_SECONDS of video
                self._last_enlarged = time
                enlarge = min(SMALL_SCALE, math.sqrt(SMALL_PIXELS / (images.width * images.height)))
                found = _added(found, self._sure(images, self._search_enlarged(images, source, enlarge)))
        enlarge = SMALL_SCALE if self.detector == "hog" else 1.0  # (the CNN: its full resolution at most)
        if self.still and (not found or every_face) and longest > 2 * self._spec.full_side / enlarge:
            # a photo's faces too small even upsampled (under ~4 % of its side): up to twice its full resolution
            # (HOG), at most STILL_SIDE, searched once
            enlarged = self._search_enlarged(images, source, min(enlarge, STILL_SIDE / longest))
            found = _added(found, self._sure(images, enlarged))
        return found

    def _sure(self, images: _FrameImages, boxes: list[Box]) -> list[Box]:
        """``boxes`` but HOG's weak ones the CNN detector does not confirm: HOG fires on some text and patterns,
        with low scores."""
        if self.detector != "hog":
            return boxes
        return [box for box in boxes if box.score >= HOG_SURE_SCORE or self._cnn_agrees(images, box)]

    def _search_enlarged(self, images: _FrameImages, source: Image.Image, scale: float) -> list[Box]:
        """The faces of the frame ``source`` resized by ``scale`` (enlarged when over 1), confirmed: only the
        regions that :meth:`_detail_regions` says may hold a face (all of it, a region, or none)."""
        regions = self._detail_regions(images)
        candidates: list[Box] = []
        if regions == []:
            return candidates
        size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
        resized = source if size == source.size else source.resize(size, Image.Resampling.BILINEAR)
        sx, sy = resized.width / images.width, resized.height / images.height
        for x0, y0, x1, y1 in [(0, 0, images.width, images.height)] if regions is None else regions:
            # cut from the resized frame on HOG's 8-pixel cells: the pixels and cells of one whole pass
            left, top = math.floor(x0 * sx / 8) * 8, math.floor(y0 * sy / 8) * 8
            right, bottom = min(resized.width, math.ceil(x1 * sx)), min(resized.height, math.ceil(y1 * sy))
            part = resized if (left, top, right, bottom) == (0, 0, *resized.size) else resized.crop(
                (left, top, right, bottom))
            candidates += [Box((b.left + left) / sx, (b.top + top) / sy, (b.right + left) / sx,
                               (b.bottom + top) / sy, b.score)
                           for b in self._run_detector(part, 0, CANDIDATE_THRESHOLD)]
        found = self._confirmed(images, candidates, 1.0)
        seen = self._enlarged_seen
        for box in found:  # a face there: its tiles count as changed next time (it may stay put, and be lost)
            if seen is not None:
                x0, y0, x1, y1 = images.clip(box, 1.0)
                seen[y0 // 2:(y1 + 1) // 2, x0 // 2:(x1 + 1) // 2] = -1000
        return found

    def _detail_regions(self, images: _FrameImages) -> list[tuple[int, int, int, int]] | None:
        """The regions (left, top, right, bottom; frame pixels) of the frame that the enlarged search needs to
        see, or None for all of it: tiles neither flat nor (a video) unchanged since the last enlarged search,
        each grown by a tile (:data:`DETAIL_TILES`). A few ms; it spares the costly search of grey borders, bare
        walls and skies, and of a still shot's background searched before."""
        half = np.asarray(images.full("L").reduce(2), dtype=np.int16)
        height, width = half.shape
        tile = max(8, math.ceil(max(width, height) / DETAIL_TILES))
        rows, cols = math.ceil(height / tile), math.ceil(width / tile)
        steps = np.zeros((rows * tile, cols * tile), np.int16)
        steps[:height - 1, :width - 1] = (np.abs(np.diff(half, axis=1))[:-1] + np.abs(np.diff(half, axis=0))[:, :-1])
        detail = steps.reshape(rows, tile, cols, tile).max(axis=(1, 3))
        flat = detail < FLAT_STEP
        wanted = ~flat
        seen, seen_steps = self._enlarged_seen, self._enlarged_steps
        fresh = seen is None or seen_steps is None or seen.shape != half.shape
        if not self.still and not fresh:
            change = np.zeros((rows * tile, cols * tile), np.int16)
            change[:height, :width] = np.abs(half - seen)
            # changed: a pixel by SAME_STEP, or its detail grown by as much (a dim face lit a little: a few levels
            # brighter, its features' steps several times larger; it was flat or faint when last looked at)
            wanted &= ((change.reshape(rows, tile, cols, tile).max(axis=(1, 3)) >= SAME_STEP)
                       | (detail >= seen_steps + SAME_STEP))
        boxes = _tile_boxes(wanted)
        if not self.still:  # what is searched now (or flat) is what the next search compares with
            known_tiles = flat | wanted
            known = np.repeat(np.repeat(known_tiles, tile, axis=0), tile, axis=1)[:height, :width]
            self._enlarged_seen = half if fresh else np.where(known, half, seen)
            self._enlarged_steps = detail if fresh else np.where(known_tiles, detail, seen_steps)
        regions = [(left * tile * 2, top * tile * 2, min(images.width, right * tile * 2),
                    min(images.height, bottom * tile * 2)) for top, left, bottom, right in boxes]
        area = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions)
        return None if area > SEARCH_SHARE * images.width * images.height else regions

    def _search_larger(self, images: _FrameImages, box: Box) -> list[Box]:
        """The faces of the whole frame at least ``LARGER_AREA`` × the area of ``box`` (the followed face), not it.

        Only faces larger than ``box`` are wanted, so the frame is downscaled until such a face is about the
        detector's smallest (its ``min_face``), and at least to ``LARGER_PIXELS`` (one HOG pass of a few ms:
        faces under about 45 % of the frame's shorter side are then not looked for). Each candidate is
        searched around at full resolution (measured as the followed face is, and confirmed), and a weak HOG
        face needs the CNN detector's agreement, as in the whole-frame search.
        """
        wanted = math.sqrt(LARGER_AREA) * box.side  # the smallest side wanted
        budget = math.sqrt(LARGER_PIXELS / (images.width * images.height))
        small = _scaled(images.full(self._mode), min(self._spec.min_face / wanted, budget))
        scale = small.width / images.width
        found = []
        for candidate in self._run_detector(small):
            candidate = candidate.mapped(scale, 0, 0)
            if box.near(candidate) or candidate.side < 0.9 * box.side:  # (a coarse box: measured again below)
                continue  # the followed face itself, or too small to be wanted
            refined = self._search_around(images, candidate)
            if refined is None or refined.area < LARGER_AREA * box.area or box.near(refined):
                continue
            if self.detector == "hog" and refined.score < HOG_SURE_SCORE and not self._cnn_agrees(images, refined):
                continue
            found.append(refined)
        return found

    def _stays(self, images: _FrameImages, track: Track) -> bool:
        """At a cut: whether ``track``'s face is still there in this frame, the same person at the same place:
        found around its box, overlapping it by ``STAY_IOU`` or more; the picture of its box no cut
        (:func:`mesocli.tracking.is_cut`, the cut test on the box's region of the two frames alone); and dlib's
        descriptors of the two faces at most ``SAME_PERSON`` apart. So the frame changed around a person who
        did not (a backdrop, a video wall or an inset behind a presenter). About 0.15 s of CPU a track, at cuts
        only."""
        seen = self._seen.get(track.id)
        if seen is None:
            return False
        box = self._search_around(images, track.box)
        if box is None or box.iou(track.box) < STAY_IOU:
            return False
        (before, old), after = seen, images.array
        if is_cut(_region_thumbnail(before, old), _region_thumbnail(after, old)):
            return False  # the picture changed where the face was (another face there, or the same one turned)
        return float(np.linalg.norm(_descriptor(before, old) - _descriptor(after, box))) <= SAME_PERSON

    def _cnn_agrees(self, images: _FrameImages, box: Box) -> bool:
        """Whether dlib's CNN detector finds a face centred inside ``box``, in a window around it (grey-padded
        where it leaves the frame) scaled so the face is the CNN's ``roi_face`` px."""
        grow = ROI_MARGIN * box.side
        left, top = math.floor(box.left - grow), math.floor(box.top - grow)
        right, bottom = math.ceil(box.right + grow), math.ceil(box.bottom + grow)
        x0, y0, x1, y1 = images.clip(box, ROI_MARGIN)
        window = Image.new("RGB", (right - left, bottom - top), (128, 128, 128))
        window.paste(images.region("RGB", x0, y0, x1, y1), (x0 - left, y0 - top))
        scale = _SPECS["cnn"].roi_face / box.side
        window = window.resize((max(1, round(window.width * scale)), max(1, round(window.height * scale))),
                               Image.Resampling.BILINEAR)
        for found in _cnn_detector()(np.asarray(window), 0):
            cx = (found.rect.left() + found.rect.right()) / 2 / scale + left
            cy = (found.rect.top() + found.rect.bottom()) / 2 / scale + top
            if box.left <= cx <= box.right and box.top <= cy <= box.bottom:
                return True
        return False

    def _confirmed(self, images: _FrameImages, candidates: list[Box], scale: float) -> list[Box]:
        """The faces among candidates (detection-image coordinates): those scoring ≥ 0 if any, else
        those just under 0 that the search around them confirms (a second look at other scales)."""
        boxes = sorted((c.mapped(scale, 0, 0) for c in candidates), key=lambda b: -b.score)
        sure = [box for box in boxes if box.score >= 0]
        found: list[Box] = []
        for box in sure or filter(None, (self._search_around(images, box) for box in boxes)):
            if all(box.iou(other) <= 0.5 for other in found):
                found.append(box)
        return found

    # -- landmarks and alignment --------------------------------------------------------------

    def _landmarks(self, images: _FrameImages, box: Box) -> np.ndarray:
        """dlib's 68 points (x, y) for the face in ``box``, from a grey window around it."""
        x0, y0, x1, y1 = images.clip(box, 0.3)
        grey = np.asarray(images.region("L", x0, y0, x1, y1))
        left, top, right, bottom = box.ints()
        shape = _landmark_model()(grey, _dlib().rectangle(left - x0, top - y0, right - x0, bottom - y0))
        return np.array([(p.x + x0, p.y + y0) for p in shape.parts()], dtype=np.float64)

    def _upright_landmarks(self, images: _FrameImages, box: Box, angle: float) -> np.ndarray:
        """dlib's 68 points for the face in ``box`` turned by ``angle`` degrees (counter-clockwise), fitted on
        the window turned upright about the box's centre, then turned back (frame coordinates)."""
        x0, y0, x1, y1 = images.clip(box, REFIT_MARGIN)
        cx, cy = box.centre[0] - x0, box.centre[1] - y0  # pixel indices in the window
        upright = images.region("L", x0, y0, x1, y1).rotate(
            -angle, Image.Resampling.BILINEAR, center=(cx + 0.5, cy + 0.5), fillcolor=128)
        half_w, half_h = (box.right - box.left) / 2, (box.bottom - box.top) / 2
        rect = _dlib().rectangle(round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))
        shape = _landmark_model()(np.asarray(upright), rect)
        dx, dy = np.array([(p.x - cx, p.y - cy) for p in shape.parts()], dtype=np.float64).T
        rad = math.radians(angle)
        cos, sin = math.cos(rad), math.sin(rad)
        return np.stack([cx + x0 + dx * cos + dy * sin, cy + y0 - dx * sin + dy * cos], axis=1)

    def _fitted(self, images: _FrameImages, box: Box) -> tuple[np.ndarray, Geometry]:
        """The face's landmarks and aligned square. dlib's shape model starts from an upright mean face: on a head
        tilted beyond about 30° its points lag behind the tilt, and the square came out still turned by 15-30°.
        A face measured as turned is fitted again on its window turned upright; the second fit is kept when it
        finds another angle (on a face the first fit had right, it finds the same, and the first is kept)."""
        landmarks = self._landmarks(images, box)
        geometry = face_geometry(landmarks)
        for _ in range(REFITS):
            if not abs(geometry.angle) >= REFIT_ANGLE:
                break
            again = self._upright_landmarks(images, box, geometry.angle)
            refit = face_geometry(again)
            if not abs(refit.angle - geometry.angle) > REFIT_CHANGE:
                break
            landmarks, geometry = again, refit
        return landmarks, geometry

    def _quarter_fit(self, images: _FrameImages, box: Box, image: np.ndarray,
                     angles: tuple[float, ...] = (90.0, -90.0)) -> tuple[np.ndarray, Geometry, np.ndarray] | None:
        """A CNN face turned a quarter (HOG finds none such; dlib's CNN does, and its landmarks are then fitted
        as if it were upright: a sideways crop): the landmarks, square and crop fitted on its window turned a
        quarter (or by each of ``angles``), the way whose crop HOG finds most like an upright face; None if none
        looks upright."""
        best, best_score = None, 0.0
        for angle in angles:
            landmarks = self._upright_landmarks(images, box, angle)
            geometry = face_geometry(landmarks)
            if geometry.size >= 4:
                crop = aligned_crop(image, geometry)
                score = _upright_score(crop)
                if score is not None and score > best_score:  # an upside-down face may pass: the better way wins
                    best, best_score = (landmarks, geometry, crop), score
        return best

    def reoriented(self, frame: Frame, record: FaceRecord, origin: tuple[int, int] = (0, 0)) -> FaceRecord | None:
        """A face found turned in an upright picture (HOG finds some upside-down and sideways faces, and their
        landmarks, fitted as if upright, leave the crop turned): fitted again on its window turned a half, then a
        quarter either way, about its box; the fit whose crop no longer :func:`looks_turned` (HOG finds it most
        like an upright face), or None when none does. ``frame``: the frame, or a part of it (:func:`face_view`)
        whose top-left pixel is at ``origin`` in the frame (``record`` in the frame's pixels, as is the fit)."""
        images = _FrameImages(frame.image)
        ox, oy = origin
        box = Box(*record.box).mapped(1.0, -ox, -oy)
        best, best_score = None, None
        for angle in (record.angle + 180.0, record.angle + 90.0, record.angle - 90.0):
            landmarks = self._upright_landmarks(images, box, (angle + 180.0) % 360.0 - 180.0)
            geometry = face_geometry(landmarks)
            if not geometry.size >= 4:
                continue
            crop = aligned_crop(frame.image, geometry)
            score = _upright_score(crop)
            if score is not None and (best_score is None or score > best_score) and not _crop_turned(crop):
                cx, cy = geometry.centre[0] + ox, geometry.centre[1] + oy
                best, best_score = replace(
                    record, centre=(round(cx, 2), round(cy, 2)), size=round(geometry.size, 2),
                    angle=round(geometry.angle, 2), crop=crop, landmarks=landmarks + (ox, oy)), score
        return best

    def find(self, frame: Frame, source: str, picture: Image.Image | None = None) -> list[FaceRecord]:
        """The faces of ``frame``, aligned: the largest one, or with ``all_faces`` each (by track id).
        ``picture``: the RGB Pillow image of ``frame``'s pixels, if there is one (a photo's), used as it is."""
        image = frame.image
        if self.detector == "none":
            return [_whole_frame(frame, source, self.resize)]
        images = _FrameImages(image, picture)
        if self.shots.cut(image, frame.time):  # another shot: nobody in it is known to be anyone of the last,
            # unless still there, unchanged, across a hard cut (a dissolve's last frame is no longer the first shot)
            self.tracker.new_shot(functools.partial(self._stays, images) if self.shots.hard else None)
        located = self.tracker.locate(functools.partial(self._search_around, images),
                                      functools.partial(self._search_frame, images, frame.time), frame.time,
                                      functools.partial(self._search_larger, images))
        self._seen = {track.id: (image, box) for track, box in located}
        self._misses = 0 if located else self._misses + 1
        records = []
        for track, box in located:
            landmarks, geometry = self._fitted(images, box)
            if not geometry.size >= 4:  # degenerate landmarks
                continue
            crop = aligned_crop(image, geometry)
            if self.detector == "cnn" and _upright_score(crop) is None:
                landmarks, geometry, crop = self._quarter_fit(images, box, image) or (landmarks, geometry, crop)
            records.append(FaceRecord(
                source=source, frame=frame.index, time=frame.time, box=clipped(box.ints(), image.shape),
                centre=(round(geometry.centre[0], 2), round(geometry.centre[1], 2)),
                size=round(geometry.size, 2), angle=round(geometry.angle, 2),
                track=track.id if self.all_faces else 0, crop=crop, landmarks=landmarks,
            ))
        return records


def clipped(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A detector ``box`` (left, top, right, bottom) clipped to a frame of ``shape`` (height, width, …): a face
    filling the picture has a box beyond its edges (``x -45–286`` in a 300 px wide image), which is where the
    detector reckons the face would end, not a place in the picture. The alignment keeps its own geometry."""
    height, width = shape[0], shape[1]
    left, top, right, bottom = box
    return (min(max(left, 0), width), min(max(top, 0), height), min(max(right, 0), width), min(max(bottom, 0), height))


def face_in_crop(crop: np.ndarray) -> bool:
    """Whether HOG finds an upright face in a 256×256 crop (``explain``'s check that a crop given shows a face: a
    landscape photo got a heatmap as if it did); about 20 ms."""
    return _upright_score(crop) is not None


def _tile_boxes(wanted: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (top, left, bottom, right, in tiles, end exclusive) that hold every True tile of ``wanted`` with its 8
    neighbours: one per run of such tiles in a row, then any two merged while their bounding box is no larger than
    the two together (a detector pass costs about its area, twice over where two overlap)."""
    rows, cols = wanted.shape
    boxes = []
    for row in range(rows):
        col = 0
        while col < cols:
            if not wanted[row, col]:
                col += 1
                continue
            end = col
            while end < cols and wanted[row, end]:
                end += 1
            boxes.append((max(0, row - 1), max(0, col - 1), min(rows, row + 2), min(cols, end + 1)))
            col = end

    def area(box: tuple[int, int, int, int]) -> int:
        return (box[2] - box[0]) * (box[3] - box[1])

    merged = True
    while merged:
        merged = False
        for i, a in enumerate(boxes):
            for j in range(i + 1, len(boxes)):
                b = boxes[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                if area(union) <= area(a) + area(b):
                    boxes[i], merged = union, True
                    del boxes[j]
                    break
            if merged:
                break
    return boxes


def _region_thumbnail(image: np.ndarray, box: Box) -> np.ndarray:
    """The :func:`mesocli.tracking.thumbnail` of the region ``box`` of the frame ``image`` (clipped to it)."""
    height, width = image.shape[:2]
    left, top, right, bottom = box.ints()
    left, top = min(max(left, 0), width - 1), min(max(top, 0), height - 1)
    right, bottom = max(min(right, width), left + 1), max(min(bottom, height), top + 1)
    return thumbnail(np.ascontiguousarray(image[top:bottom, left:right]))


def _descriptor(image: np.ndarray, box: Box) -> np.ndarray:
    """dlib's 128-D descriptor of the face in ``box`` of the RGB frame ``image`` (its 68 landmarks fitted first):
    faces of one person lie closer than those of two."""
    left, top, right, bottom = box.ints()
    image = np.ascontiguousarray(image)
    shape = _landmark_model()(image, _dlib().rectangle(left, top, right, bottom))
    return np.asarray(_face_descriptor_model().compute_face_descriptor(image, shape), dtype=np.float64)


def _upright_score(crop: np.ndarray) -> float | None:
    """HOG's (upright faces only) best score of a face in an aligned 256×256 crop (upsampled once: about 20 ms),
    or None when it finds none."""
    _, scores, _ = _hog_detector().run(crop, 1)
    return max(scores, default=None)


def _plainly_upright(crop: np.ndarray) -> bool:
    """Whether HOG finds a face upright in an aligned crop at half size (128×128, not upsampled: about 2 ms), and
    none there turned a half (a face upside down, its landmarks fitted as if upright, may pass the first)."""
    small = np.asarray(Image.fromarray(crop).resize((128, 128), Image.Resampling.BILINEAR))
    detector = _hog_detector()
    _, upright, _ = detector.run(small, 0)
    if not upright:
        return False
    _, upside_down, _ = detector.run(np.ascontiguousarray(small[::-1, ::-1]), 0)
    return not upside_down or max(upright) > max(upside_down)


def _whole_frame(frame: Frame, source: str, resize: str | tuple[str, ...] = DEFAULT_RESIZE) -> FaceRecord:
    """``--detector none``: the frame is already an aligned face crop, resized by ``resize`` when it is not
    256×256 (the weights' own, as ``eval`` resizes a crop for them). Several resizes (a set whose networks want
    different ones): the crop is a dict, one crop per resize, the first the one shown; a frame 256×256 already is
    one crop, every resize of it the same bytes (none is applied), which every network shares."""
    height, width = frame.image.shape[:2]
    resizes = (resize,) if isinstance(resize, str) else resize
    if (height, width) == (INPUT_SIZE, INPUT_SIZE):
        resizes = resizes[:1]
    crops = {each: face_to_uint8(frame.image, each) for each in resizes}
    crop: Any = crops[resizes[0]] if len(crops) == 1 else crops
    return FaceRecord(source, frame.index, frame.time, (0, 0, width, height), (width / 2, height / 2),
                      float(max(width, height)), 0.0, 0, crop)


def faces_in_video(
    path: str | Path, selection: FrameSelection, detector: str = "hog", all_faces: bool = False
) -> Iterator[FrameFaces]:
    """One FrameFaces per sampled frame of a video (also for frames without a face), read turned when it
    shows faces only sideways or upside down (:class:`VideoFaces`)."""
    return iter(VideoFaces(path, selection, detector=detector, all_faces=all_faces))


class VideoFaces:
    """A video's sampled frames and their faces, as ``scan`` and ``extract`` read them: iterate once for one
    FrameFaces per frame. With no face upright in any frame, :data:`PROBE_FRAMES` of them spread over the video
    are tried turned a quarter either way, then upside down (:func:`upright_turn`), and the video is read again
    turned when that shows faces. Frames without a face are held back until a frame has one, so that none is
    given twice.

    ``on_start(reader)`` is called as each read begins, ``on_frame()`` after each frame decoded (held or not).
    Afterwards ``reader`` is the last read's FrameReader (its warnings, ``cut_short``), ``finder`` its
    FaceFinder (``most_faces``), ``turn`` the turn read (degrees clockwise; None upright), and ``unchecked`` how many
    faces before the first upright face were given as found, past :data:`HELD_VIEW_BYTES` (:func:`unchecked_note`).
    ``resize``: how ``--detector none`` resizes a frame not 256×256 (:class:`FaceFinder`)."""

    def __init__(self, path: str | Path, selection: FrameSelection, info: Any = None, *, detector: str = "hog",
                 all_faces: bool = False, source: str | None = None, resize: str | tuple[str, ...] = DEFAULT_RESIZE,
                 on_start: Callable[[FrameReader], object] = lambda reader: None,
                 on_frame: Callable[[], object] = lambda: None):
        self.path, self.selection, self.info = path, selection, info
        self.detector, self.all_faces, self.source = detector, all_faces, str(path) if source is None else source
        self.on_start, self.on_frame, self.resize = on_start, on_frame, resize
        self.reader: FrameReader | None = None
        self.finder: FaceFinder | None = None
        self.turn: int | None = None
        self.unchecked = 0  # faces before the first upright face given as found, their views past the cap
        self._settled: list[tuple[float, Box]] = []

    def __iter__(self) -> Iterator[FrameFaces]:
        held, probes = yield from self._read(None)
        if not held:
            return
        self.turn = upright_turn(probes, self.detector, self.all_faces)
        if self.turn is None:
            yield from held
        else:
            yield from self._read(self.turn)

    def _read(self, turn: int | None) -> Generator[FrameFaces, None, tuple[list[FrameFaces], list[Frame]]]:
        """One read of the video (its frames turned ``turn`` degrees clockwise); upright, it returns the frames
        held back with the probe frames when no frame showed a face upright (none, or one that
        :func:`looks_turned`; else nothing)."""
        held: list[FrameFaces] | None = [] if turn is None else None
        views: list[list[View | None]] = []  # each held frame's faces' views, those kept
        kept = 0  # their bytes
        probes: list[Frame] = []
        self._settled: list[tuple[float, Box]] = []  # faces the crop test kept as found (:meth:`_oriented`)
        with FrameReader(self.path, self.selection, self.info) as reader:  # ffmpeg decodes while models load
            self.reader, self.finder = reader, FaceFinder(self.detector, self.all_faces, resize=self.resize)
            self.on_start(reader)
            spread = probe_numbers(reader.expected)
            for number, frame in enumerate(reader):
                if turn is not None:
                    frame = turned(frame, turn)
                found = FrameFaces(frame.index, frame.time, self.finder.find(frame, self.source))
                self.on_frame()
                if held is not None and (not found.faces or self.detector != "none" and looks_turned(found.faces)):
                    held.append(found)
                    views.append([])
                    for record in found.faces:  # each while they fit (a frame's many faces too, --all-faces)
                        view = face_view(frame, record)
                        fits = kept + view[0].image.nbytes <= HELD_VIEW_BYTES
                        kept += view[0].image.nbytes if fits else 0
                        views[-1].append(view if fits else None)
                    if number in spread:
                        probes.append(frame)
                    continue
                for before, seen in zip(held or [], views, strict=True):  # each face there looked turned
                    self.unchecked += seen.count(None)
                    yield self._oriented(before, seen, looked_turned=True) if any(seen) else before
                held, views = None, []
                yield self._oriented(found, [(frame, (0, 0))] * len(found.faces)) if self.detector != "none" else found
        return held or [], probes

    def _oriented(self, found: FrameFaces, views: list[View] | list[View | None],
                  looked_turned: bool = False) -> FrameFaces:
        """``found`` with each face that looks turned in this upright picture (someone lying down, a phone turned
        mid-clip, a turned inset) fitted again upright (:meth:`FaceFinder.reoriented`) on its view (the frame, or
        the part of it :func:`face_view` kept, and where that lies); kept as found when no turn makes it look
        upright. A face HOG finds upright in its crop at half size (about 2 ms) is not asked further; the others
        take the crop test (:func:`looks_turned`), unless ``looked_turned`` (a frame held before the first upright
        face: each of its faces took it and looked turned); a face without a view (none kept) is kept as found."""
        assert self.finder is not None
        faces = []
        self._settled = [(time, box) for time, box in self._settled if abs(found.time - time) < RECHECK_SECONDS]
        for record, seen in zip(found.faces, views, strict=True):
            if seen is not None and not _plainly_upright(record.crop) and not self._lately_settled(record):
                view, origin = seen
                refit = (self.finder.reoriented(view, record, origin) if looked_turned or looks_turned([record])
                         else None)
                if refit is None:  # an upright face HOG does not find in its crop: not asked again here for a while
                    self._settled.append((found.time, Box(*record.box)))
                record = refit or record
            faces.append(record)
        return FrameFaces(found.frame, found.time, faces)

    def _lately_settled(self, record: FaceRecord) -> bool:
        """Whether a face at ``record``'s place (its box overlapping by half) took the crop test less than
        :data:`RECHECK_SECONDS` of video ago and was kept as found (upright, or no turn looked upright)."""
        box = Box(*record.box)
        return any(box.iou(other) >= 0.5 for _, other in self._settled)


VIEW_MARGIN = 1.0
"""A face of a frame held before a video's first upright face keeps the part of the frame around its box, grown by
this × its side each way (:func:`face_view`): its refit's window (:data:`REFIT_MARGIN`) and its square turned
any way lie inside it."""
HELD_VIEW_BYTES = 256 * 2**20
"""The views of held faces kept at most (bytes; a face whose view would pass it is given as found): a video without
a face upright holds every frame until its end (30 views of a 400 px face: 130 MB)."""
View = tuple[Frame, tuple[int, int]]
"""A face's view (:func:`face_view`): the part of the frame kept around it, and where its top-left pixel lies."""


def face_view(frame: Frame, record: FaceRecord) -> View:
    """The part of ``frame`` that a refit of ``record`` (:meth:`FaceFinder.reoriented`) reads: its box grown by
    :data:`VIEW_MARGIN` × its side each way (inside the frame, a copy), and where its top-left pixel lies."""
    x0, y0, x1, y1 = _FrameImages(frame.image).clip(Box(*record.box), VIEW_MARGIN)
    part = np.ascontiguousarray(frame.image[y0:y1, x0:x1])
    return Frame(frame.index, frame.time, part), (x0, y0)


RECHECK_SECONDS = 1.0
"""A face of an upright video that failed the half-size check and was kept as found by the crop test (or by every
refit) is not asked again at the same place within this much video: an upright face HOG does not find in its own
crop (the portrait DFDC clip's, in 16 of 26 frames) paid the crop test and three refits, about 0.12 s of CPU, in
every frame."""

TURNS = {90: -1, 270: 1, 180: 2}
"""Turns tried on an input without a face upright (rotation metadata lost), in this order: degrees clockwise -> the
``k`` of ``numpy.rot90`` (quarter turns counter-clockwise). Upside down last: a sideways input costs no more."""
TURNED_FACE_ANGLE = 60.0
"""A face found in a frame tried turned counts only if it is within this many degrees of upright there: a CNN face
still sideways (``--detector cnn`` finds faces turned a quarter) shows that the turn is not the right one."""


def turned(frame: Frame, degrees: int) -> Frame:
    """``frame`` with its pixels turned ``degrees`` clockwise (90, 180 or 270)."""
    return Frame(frame.index, frame.time, np.ascontiguousarray(np.rot90(frame.image, TURNS[degrees])))


def unchecked_note(count: int) -> list[str]:
    """The warning of a video whose faces before its first upright face were not all fitted again upright
    (:attr:`VideoFaces.unchecked`: too many held); empty when all were."""
    if not count:
        return []
    faces, were, crops = ("face", "was", "its crop") if count == 1 else ("faces", "were", "their crops")
    return [f"{count} {faces} before the first upright face {were} not checked for a turn (over "
            f"{HELD_VIEW_BYTES // 2**20} MB of frames held around such faces): {crops} may be upside down or sideways"]


def turn_note(degrees: int) -> str:
    """The warning of an input scanned turned (:func:`upright_turn`)."""
    way = {90: "90° clockwise", 180: "180°", 270: "90° counter-clockwise"}[degrees]
    return f"no face upright; scanned turned {way}: the file's rotation metadata may be missing or wrong"


def looks_turned(records: list[FaceRecord]) -> bool:
    """Whether every one of ``records`` may be a face seen turned (none is a face upright: ``--all-faces`` finds an
    upright face beside one upside down, and such a picture is not turned): HOG (upright faces only) finds no face
    in its aligned crop as it is, or finds one that looks more like a face turned a quarter or a half. HOG finds some
    upside-down and sideways faces in a frame, and dlib's landmarks, fitted as if upright, then leave the crop
    turned (or cut too close), scored so: a clip upside down or sideways was scored on a few such crops, its
    picture never tried turned. Four HOG passes on the 256×256 crop (about 80 ms), asked only until a frame shows
    a face upright. Measured on the 8 labelled clips and the 36 FF++ test clips (10 frames each): of 446 upright
    faces, 10 in 4 clips had no HOG face in their crop (none turned better), every clip had upright ones; of 57
    faces HOG found in their frames turned a quarter or a half, 40 looked turned. The largest is asked first, and
    the others only while none has passed (one face: as before)."""
    return bool(records) and all(_crop_turned(record.crop)
                                 for record in sorted(records, key=lambda record: record.size, reverse=True))


def _crop_turned(crop: np.ndarray) -> bool:
    """Whether HOG finds no face in an aligned crop as it is, or finds one more like a face in it turned."""
    scores = [_upright_score(np.ascontiguousarray(np.rot90(crop, k))) for k in range(4)]
    turned_best = max((score for score in scores[1:] if score is not None), default=None)
    return scores[0] is None or (turned_best is not None and turned_best > scores[0])


def upright_turn(frames: list[Frame], detector: str, all_faces: bool = False, still: bool = False) -> int | None:
    """The turn (degrees clockwise: a quarter either way, then upside down) that shows faces upright in at least
    half of ``frames`` (which show none upright), or None: a video or photo stored sideways or upside down, its
    rotation metadata lost. Never with ``detector`` ``none`` (every frame is a face)."""
    if detector == "none" or not frames:
        return None
    needed = (len(frames) + 1) // 2
    for degrees in TURNS:  # not enlarged (a faceless 1080p video's 6 probes took 2.2 s of CPU so, 15 % of its scan)
        finder, hits = FaceFinder(detector, all_faces, still=still, small_faces=False), 0
        for tried, frame in enumerate(frames, 1):
            found = [face for face in finder.find(turned(frame, degrees), "<probe>")
                     if abs(face.angle) < TURNED_FACE_ANGLE]
            hits += bool(found) and not looks_turned(found)
            if hits >= needed:
                return degrees
            if hits + len(frames) - tried < needed:  # no face this way (the cost on a video without faces)
                break
    return None


PROBE_FRAMES = 3
"""How many frames of a video without a face upright are tried turned (:func:`upright_turn`)."""
PROBE_SIDE = 960
"""The size a photo without a face upright is tried turned at (the whole-frame search's), before a full search."""


def probe_numbers(expected: int | None) -> set[int]:
    """The frame numbers (0, 1, ... of the sampled frames) of :data:`PROBE_FRAMES` frames spread over a video
    of ``expected`` sampled frames (the first ones when not known): the frames :func:`upright_turn` tries."""
    if not expected or expected <= PROBE_FRAMES:
        return set(range(PROBE_FRAMES))
    return {round(i * (expected - 1) / (PROBE_FRAMES - 1)) for i in range(PROBE_FRAMES)}


def photo_faces(image: Image.Image, detector: str, all_faces: bool, source: str,
                resize: str | tuple[str, ...] = DEFAULT_RESIZE) -> tuple[int | None, list[FaceRecord], FaceFinder]:
    """A photo's faces as ``scan`` and ``extract`` take them: the turn read (None: upright), its faces and the
    finder that found them. A photo without a face upright (none, or one that :func:`looks_turned`) is tried
    turned (:func:`turned_photo_faces`); when no turn shows a face, what the upright search found is kept. In a
    photo read upright or turned, each face that looks turned beside one upright (``all_faces``) is fitted again
    upright (:func:`oriented_faces`). ``resize``: how ``--detector none`` resizes a photo not 256×256
    (:class:`FaceFinder`)."""
    finder = FaceFinder(detector, all_faces, still=True, resize=resize)
    frame, records = _image_faces(image, finder, source)
    if not records or detector != "none" and looks_turned(records):
        if found := turned_photo_faces(image, detector, all_faces, source):
            return found
    elif detector != "none":
        records = oriented_faces(finder, frame, records)
    return None, _in_file_pixels(records, decode_scale(image), file_size(image)), finder


def oriented_faces(finder: FaceFinder, frame: Frame, records: list[FaceRecord]) -> list[FaceRecord]:
    """``records`` of a photo's ``frame`` with each face that looks turned (someone lying down beside someone
    upright, a turned picture inside the photo) fitted again upright (:meth:`FaceFinder.reoriented`), kept as
    found when no turn makes it look upright; as in a video's frames (:class:`VideoFaces`), a face HOG finds
    upright in its crop at half size (about 2 ms) is not asked further."""
    return [(finder.reoriented(frame, record) or record)
            if not _plainly_upright(record.crop) and looks_turned([record]) else record for record in records]


def turned_photo_faces(image: Image.Image, detector: str, all_faces: bool,
                       source: str) -> tuple[int, list[FaceRecord], FaceFinder] | None:
    """A photo without a face upright (its EXIF orientation lost), tried turned (:data:`TURNS`) downscaled
    to :data:`PROBE_SIDE` (cheap): the turn, the faces of the whole photo turned so, and the finder that found
    them; None when no turn shows a face."""
    rgb = to_rgb(image)
    small = Frame(0, 0.0, np.asarray(ImageOps.contain(rgb, (PROBE_SIDE, PROBE_SIDE))))
    turn = upright_turn([small], detector, all_faces)
    if turn is None:
        return None
    finder = FaceFinder(detector, all_faces, still=True)
    frame = turned(Frame(0, 0.0, np.asarray(rgb)), turn)
    records = oriented_faces(finder, frame, finder.find(frame, source))
    width, height = file_size(image)
    size = (width, height) if turn in (0, 180) else (height, width)
    return turn, _in_file_pixels(records, decode_scale(image), size), finder


def _in_file_pixels(records: list[FaceRecord], scale: int, size: tuple[int, int]) -> list[FaceRecord]:
    """``records`` of a picture decoded reduced by ``scale`` (:func:`mesocli.preprocess.decode_scale`), their
    boxes, centres, sizes and landmarks in the file's own pixels (the crops are those of the reduced picture);
    the boxes clipped to the file's ``size`` (width, height, as the picture is turned), which the reduced
    picture's size times ``scale`` passes by up to scale - 1 px."""
    if scale == 1:
        return records
    shape = (size[1], size[0])
    return [replace(record, box=clipped(tuple(round(v * scale) for v in record.box), shape),  # type: ignore[arg-type]
                    centre=(round(record.centre[0] * scale, 2), round(record.centre[1] * scale, 2)),
                    size=round(record.size * scale, 2),
                    landmarks=None if record.landmarks is None else record.landmarks * scale)
            for record in records]


def _added(found: list[Box], more: list[Box]) -> list[Box]:
    """``found`` and the boxes of ``more`` that are not one of them (the same face at another scale)."""
    return found + [box for box in more if all(box.iou(other) <= 0.3 for other in found)]


def faces_in_image(
    image: str | Path | np.ndarray | Image.Image, detector: str = "hog", all_faces: bool = False,
    source: str | None = None, finder: FaceFinder | None = None,
) -> list[FaceRecord]:
    """The faces of one still image (a path, a Pillow image or an H×W×3 uint8 RGB array); ``finder``: a
    ``FaceFinder(..., still=True)`` to ask afterwards (its :attr:`~FaceFinder.most_faces`)."""
    if isinstance(image, (str, Path)):
        source = source or str(image)
        image = open_image(image)
    _, records = _image_faces(image, finder or FaceFinder(detector, all_faces, still=True), source)
    if isinstance(image, Image.Image):  # a large image decoded reduced: its faces' positions in the file's pixels
        return _in_file_pixels(records, decode_scale(image), file_size(image))
    return records


def _image_faces(image: np.ndarray | Image.Image, finder: FaceFinder,
                 source: str | None) -> tuple[Frame, list[FaceRecord]]:
    """The picture of ``image`` (RGB, as decoded) and the faces ``finder`` finds in it, in its pixels."""
    picture = None
    if isinstance(image, Image.Image):
        picture = to_rgb(image)
        image = np.asarray(picture)
    elif image.ndim == 2 or image.shape[2] != 3:
        image = np.asarray(to_rgb(Image.fromarray(image)))
    frame = Frame(0, 0.0, np.ascontiguousarray(image))
    return frame, finder.find(frame, source or "<image>", picture)
