"""Face tracks: which face of this frame is which face of the previous ones.

A :class:`Tracker` follows faces across the sampled frames of one video. Per frame it first asks for
each known face around where it was; only when that leaves a face unfound (or, with ``all_faces``,
at least once per second of video, so that newcomers are found) does it ask for a whole-frame search,
and it pairs those detections with the tracks by overlap (IoU) or centre distance. Without
``all_faces`` there is one track: the largest face of a whole-frame search, then followed while it is
found (the authors' ``FaceFinder``), except that once per second of video the whole frame is
searched for a face at least ``LARGER_AREA`` × its area, which then starts a new track and is followed
instead (a close-up coming into view). How a face is searched for is the
caller's (:class:`mesocli.faces.FaceFinder`); this module only decides where, and who is who.

A track never crosses a cut (:class:`Shots`: a hard cut, also in dark footage, a fade through black, or a
dissolve when frame times are given): at a cut every track ends, and the faces after it start new ones,
since another person at the same place would otherwise take the track of the one before (one person's
track may then be split in two at a cut; two people are not merged). Except where the cut is around the
face, not through it: a track whose face is found again at its place (boxes overlapping by ``STAY_IOU``) and
is the same person (the caller's test, :meth:`Tracker.new_shot`) goes on: a presenter before a backdrop, a
video wall or an inset that changed (the frame changed enough to be a cut; the person did not).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_MISSED = 3  # sampled frames a track may go unseen before it is forgotten
REDETECT_SECONDS = 1.0  # search the whole frame at least this often (video time): newcomers, or a larger face
LARGER_AREA = 1.25  # one face: another face at least this × the followed one's area is taken instead
STAY_IOU = 0.4  # at a cut, a track goes on only where its face is found again overlapping its box this much (IoU)
THUMB_SIDE = 32  # a cut is looked for between 32×32 thumbnails (block means) of successive sampled frames
CUT_CHANGE = 10.0  # a cut: the median grey-level change of the thumbnails at least this (0-255) or at least
CUT_CONTRAST = 0.32  # this × their contrast (the mean of their grey-level standard deviations: dark footage), and
CUT_LIKENESS = 0.5  # their grey levels correlated under this, or under CUT_SAME_PICTURE with
CUT_COLOURS = 0.2  # at least this share of their colour histograms (4 levels a channel) not in common
CUT_SAME_PICTURE = 0.8  # correlated this much or more: the same picture, lit otherwise (a flash), never a cut
SHIFT_MAX = 8  # camera motion: the picture moved by at most this many thumbnail cells (a quarter) each way, and
SHIFT_LIKENESS = 0.75  # the overlap of the two, so aligned, correlated CUT_SAME_PICTURE or more, or this much or
# more with under CUT_COLOURS of its colours changed: the same picture moved (a pan between sparse samples), no cut
SHIFT_FAR = 16  # or moved further (a half each way, overlapping by half the picture at least): the best-correlated
# overlap of all such shifts correlated SHIFT_LIKENESS or more with under CUT_COLOURS of its colours changed
ZOOM_SCALES = (0.6, 1.6)  # or zoomed (the camera or the lens) by this much at most and turned by up to
ZOOM_ANGLE = 15.0  # this many degrees either way (and moved): the picture after warped to fit (ZOOM_STEPS scales ×
ZOOM_STEPS = (11, 7)  # angles, each shifted as the phase correlation tells), the best-correlated overlap of them
ZOOM_LIKELY = 0.5  # correlated this much at least, then tried again about it (half a step and a cell each way), the
ZOOM_TRIED = 3  # best of those (this many at most) correlated SHIFT_LIKENESS or more with under CUT_COLOURS of its
ZOOM_OVERLAP = 0.3  # colours changed, overlapping by this share of the picture at least
BLANK_CONTRAST = 2.0  # a thumbnail whose grey levels vary less (standard deviation): blank (black), never a cut;
# the next frame that is not blank is compared with the last one before it (a fade through black)
BLEND_SECONDS = 1.5  # a dissolve: a frame this far back at most (at least BLEND_MIN_SECONDS, and more than
BLEND_MIN_SECONDS = 0.4  # BLEND_SECONDS after the last cut: one transition, one cut) and this one are two shots
# (correlated under CUT_LIKENESS: a slow, smooth zoom or change of light is a blend of its ends too), and
BLEND_RESIDUAL = 0.3  # every frame between them (2 or more) is a blend a·first + b·last of them, to within
BLEND_MIN_WEIGHT = -0.15  # this share of their difference (root mean square), with both weights at least this
BLEND_FRAMES = 8  # at most this many of the frames between them are tested (evenly spread)
BLEND_EVERY = 0.1  # seconds (video time) from one such test to the next at least: dense sampling stays cheap
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_WINDOW = np.outer(np.hanning(THUMB_SIDE), np.hanning(THUMB_SIDE))  # tapers the edges before the phase correlation
_PAD = 2 * THUMB_SIDE  # the products of every shift: a correlation padded to this size (no wrapping round)


def _far_shifts() -> tuple[np.ndarray, ...]:
    """The shifts :func:`_moved_far` tries (rows, columns; their indices in a ``_PAD``² correlation), the
    corners of the overlap each leaves of the picture before and of the picture after (indices in an integral
    image: first row, last row + 1, first column, last column + 1), and the overlap's size (cells)."""
    side = THUMB_SIDE
    shifts = np.arange(-SHIFT_FAR, SHIFT_FAR + 1)
    dy, dx = (m.ravel() for m in np.meshgrid(shifts, shifts, indexing="ij"))
    size = (side - np.abs(dy)) * (side - np.abs(dx))
    keep = (size >= side * side / 2) & ((dy != 0) | (dx != 0))
    dy, dx, size = dy[keep], dx[keep], size[keep].astype(np.float64)
    before = (np.maximum(0, -dy), side - np.maximum(0, dy), np.maximum(0, -dx), side - np.maximum(0, dx))
    after = (np.maximum(0, dy), side - np.maximum(0, -dy), np.maximum(0, dx), side - np.maximum(0, -dx))
    return dy, dx, dy % _PAD, dx % _PAD, *before, *after, size


(_FAR_DY, _FAR_DX, _FAR_ROWS, _FAR_COLUMNS, _B_TOP, _B_BOTTOM, _B_LEFT, _B_RIGHT,
 _A_TOP, _A_BOTTOM, _A_LEFT, _A_RIGHT, _FAR_SIZE) = _far_shifts()


def _zoom_grid() -> tuple[np.ndarray, np.ndarray]:
    """The (scale, angle) pairs :func:`_zoomed` tries: ``ZOOM_STEPS`` scales evenly spread (geometrically) over
    ``ZOOM_SCALES`` × as many angles over ±``ZOOM_ANGLE`` degrees, less the picture unchanged (the shift tests')."""
    scales = np.geomspace(*ZOOM_SCALES, ZOOM_STEPS[0])
    angles = np.linspace(-ZOOM_ANGLE, ZOOM_ANGLE, ZOOM_STEPS[1])
    scale, angle = (m.ravel() for m in np.meshgrid(scales, angles, indexing="ij"))
    keep = (np.abs(np.log(scale)) > 0.02) | (np.abs(angle) > 0.5)
    return scale[keep], angle[keep]


def _warp(scale: np.ndarray, angle: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each cell (row, column) of the picture before lies in the picture after, shifted by (``dy``, ``dx``)
    cells, then zoomed by ``scale`` and turned by ``angle`` degrees about the centre (one row each, K × cells)."""
    side = THUMB_SIDE
    centre = (side - 1) / 2
    y, x = (m.ravel() - centre for m in np.meshgrid(np.arange(side), np.arange(side), indexing="ij"))
    rad = np.radians(angle)[:, None]
    cos, sin, s = np.cos(rad) * scale[:, None], np.sin(rad) * scale[:, None], dy[:, None]
    y, x = y + s, x + dx[:, None]
    return centre + sin * x + cos * y, centre + cos * x - sin * y


def _bilinear(qy: np.ndarray, qx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where :func:`_lookup` reads a thumbnail at (``qy``, ``qx``): the first of the four cells (flat index), the
    fractions down and across (float32, as the thumbnails), and whether each point is inside the picture."""
    side = THUMB_SIDE
    inside = (qy >= 0) & (qy <= side - 1) & (qx >= 0) & (qx <= side - 1)
    y0 = np.minimum(np.maximum(np.floor(qy), 0), side - 2)
    x0 = np.minimum(np.maximum(np.floor(qx), 0), side - 2)
    return (y0 * side + x0).astype(np.intp), (qy - y0).astype(np.float32), (qx - x0).astype(np.float32), inside


def _lookup(values: np.ndarray, at: np.ndarray, fy: np.ndarray, fx: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``values`` (a thumbnail's cells, flat, with or without channels) where :func:`_bilinear` tells, bilinear (0
    outside the picture)."""
    side = THUMB_SIDE
    if values.ndim > 1:
        fy, fx, inside = fy[..., None], fx[..., None], inside[..., None]
    top = np.take(values, at, axis=0) * (1 - fx) + np.take(values, at + 1, axis=0) * fx
    bottom = np.take(values, at + side, axis=0) * (1 - fx) + np.take(values, at + side + 1, axis=0) * fx
    return (top * (1 - fy) + bottom * fy) * inside


_ZOOM_SCALE, _ZOOM_ANGLE = _zoom_grid()
_ZOOM_Y, _ZOOM_X = _warp(_ZOOM_SCALE, _ZOOM_ANGLE, np.zeros(_ZOOM_SCALE.size), np.zeros(_ZOOM_SCALE.size))
_ZOOM_AT = _bilinear(_ZOOM_Y, _ZOOM_X)  # the grid's look-ups, worked out once
_ZOOM_INSIDE = _ZOOM_AT[3]
_ZOOM_COUNT = np.maximum(_ZOOM_INSIDE.sum(axis=1, keepdims=True), 1)


def _rectangles(integral: np.ndarray, top: np.ndarray, bottom: np.ndarray, left: np.ndarray,
                right: np.ndarray) -> np.ndarray:
    """Sums over rectangles (rows ``top`` to ``bottom`` - 1, columns ``left`` to ``right`` - 1) of the picture
    whose integral image (a zero row and column first) is ``integral``."""
    return integral[bottom, right] - integral[top, right] - integral[bottom, left] + integral[top, left]


@dataclass(frozen=True)
class Box:
    """A detector's face box (pixels, x right, y down) and its score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float = 0.0

    @property
    def side(self) -> float:
        return max(self.right - self.left, self.bottom - self.top, 1.0)

    @property
    def area(self) -> float:
        return max(self.right - self.left, 0.0) * max(self.bottom - self.top, 0.0)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def iou(self, other: Box) -> float:
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        inter = max(w, 0.0) * max(h, 0.0)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def near(self, other: Box) -> bool:
        """Same face in a later frame: overlapping, or centres closer than half a face."""
        (x1, y1), (x2, y2) = self.centre, other.centre
        return self.iou(other) >= 0.2 or math.hypot(x1 - x2, y1 - y2) <= 0.5 * max(self.side, other.side)

    def mapped(self, scale: float, dx: float, dy: float) -> Box:
        """From detection-image coordinates back to frame coordinates."""
        return Box(self.left / scale + dx, self.top / scale + dy, self.right / scale + dx,
                   self.bottom / scale + dy, self.score)

    def ints(self) -> tuple[int, int, int, int]:
        return round(self.left), round(self.top), round(self.right), round(self.bottom)


@dataclass
class Track:
    """One face followed from frame to frame: its id, where it was last seen, and for how many frames not."""

    id: int
    box: Box
    missed: int = 0


class Tracker:
    """The tracks of one video; call :meth:`reset` before another."""

    def __init__(self, all_faces: bool = False) -> None:
        self.all_faces = all_faces
        self.reset()

    def reset(self) -> None:
        """Forget the faces of previous frames."""
        self.tracks: list[Track] = []
        self._next_id = 0
        self._last_full: float | None = None
        self.most_seen = 0  # most faces a whole-frame search found in one frame (before one face is kept)

    def new_shot(self, stays: Callable[[Track], bool] | None = None) -> None:
        """A hard cut: every track ends (the faces after it start new tracks, with new ids), except those for
        which ``stays(track)`` (a track seen in the last sampled frame) says its face is still there: the same
        person at the same place (a presenter before a backdrop, a video wall or an inset that changed)."""
        self.tracks = [t for t in self.tracks if t.missed == 0 and stays is not None and stays(t)]
        self._last_full = None

    def _new_track(self, box: Box) -> Track:
        track = Track(self._next_id, box)
        self._next_id += 1
        return track

    def locate(self, search_around: Callable[[Box], Box | None], search_frame: Callable[[], list[Box]],
               time: float, search_larger: Callable[[Box], list[Box]] | None = None) -> list[tuple[Track, Box]]:
        """This frame's faces, each paired with its track (tracks updated). ``search_around(box)`` finds the
        face nearest a known one; ``search_frame()`` finds every face of the whole frame;
        ``search_larger(box)`` (one face) the faces of the whole frame at least ``LARGER_AREA`` × its area."""
        found: dict[int, tuple[Track, Box]] = {}
        for track in self.tracks:
            box = search_around(track.box)
            if box is not None:
                found[track.id] = (track, box)
        lost = len(found) < len(self.tracks)
        stale = self._last_full is None or abs(time - self._last_full) >= REDETECT_SECONDS
        if found and stale and not self.all_faces and search_larger is not None:
            self._last_full = time
            found = self._larger(found, search_larger)
        if not found or (self.all_faces and (lost or stale)):
            self._last_full = time
            detections = sorted(search_frame(), key=lambda b: -b.area)
            self.most_seen = max(self.most_seen, len(detections))
            if not self.all_faces:
                detections = detections[:1]  # the largest face, the paper's choice
            claimed = [box for _, box in found.values()]
            for det in detections:
                if any(det.iou(box) > 0.3 for box in claimed):
                    continue  # already found around its track
                free = [t for t in self.tracks if t.id not in found and t.box.near(det)]
                track = max(free, key=lambda t: t.box.iou(det), default=None)
                if track is None:
                    track = self._new_track(det) if (self.all_faces or not self.tracks) else self.tracks[0]
                    if track not in self.tracks:
                        self.tracks.append(track)
                found[track.id] = (track, det)
                claimed.append(det)
        # two tracks that converged on one face: the older one keeps it
        kept: list[tuple[Track, Box]] = []
        for track, box in sorted(found.values(), key=lambda item: item[0].id):
            if all(box.iou(other) <= 0.5 for _, other in kept):
                kept.append((track, box))
        kept_ids = {track.id for track, _ in kept}
        for track in self.tracks:
            track.missed = 0 if track.id in kept_ids else track.missed + 1
        for track, box in kept:
            track.box = box
        self.tracks = [t for t in self.tracks if t.missed <= MAX_MISSED]
        return kept

    def _larger(self, found: dict[int, tuple[Track, Box]],
                search_larger: Callable[[Box], list[Box]]) -> dict[int, tuple[Track, Box]]:
        """One face: the followed face, or a larger face elsewhere in the frame as a new track."""
        ((_, box),) = found.values()
        larger = [det for det in search_larger(box) if det.area >= LARGER_AREA * box.area and not box.near(det)]
        if not larger:
            return found
        track = self._new_track(max(larger, key=lambda b: b.area))
        self.tracks = [track]
        return {track.id: (track, track.box)}


def thumbnail(image: np.ndarray) -> np.ndarray:
    """An H×W×3 uint8 RGB frame as :class:`Shots` compares it: THUMB_SIDE² block means, float32 RGB."""
    step = max(1, min(image.shape[:2]) // (3 * THUMB_SIDE))  # every step-th pixel first: cheap at any size
    sub = Image.fromarray(np.ascontiguousarray(image[::step, ::step]))
    return np.asarray(sub.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX), dtype=np.float32)


def _colours(thumb: np.ndarray) -> np.ndarray:
    """The share of a thumbnail's cells in each of 4×4×4 colour bins."""
    q = np.minimum((thumb * (1 / 64)).astype(np.int64), 3)  # thumb // 64, faster
    return np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64) / q[..., 0].size


class _Picture:
    """What the cut tests read of a thumbnail, computed once: grey levels (flat), their mean and standard
    deviation (the contrast), and (when asked) the colour histogram."""

    __slots__ = ("_colours", "_sums", "_spectrum", "contrast", "grey", "mean", "thumb", "time")

    def __init__(self, thumb: np.ndarray, time: float | None = None) -> None:
        self.thumb = thumb
        self.grey = (thumb @ _GREY).ravel()
        self.mean = float(self.grey.mean())
        self.contrast = float(np.sqrt(np.dot(self.grey - self.mean, self.grey - self.mean) / self.grey.size))
        self._colours: np.ndarray | None = None
        self._spectrum: np.ndarray | None = None
        self._sums: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.time = time

    @property
    def colours(self) -> np.ndarray:
        if self._colours is None:
            self._colours = _colours(self.thumb)
        return self._colours

    @property
    def spectrum(self) -> np.ndarray:
        """The Fourier transform of the grey levels (less their mean, edges tapered): for :func:`_shift`."""
        if self._spectrum is None:
            grey = (self.grey - self.mean).reshape(self.thumb.shape[:2])
            self._spectrum = np.fft.rfft2(grey * _WINDOW)
        return self._spectrum

    @property
    def sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For :func:`_moved_far`: the padded spectrum of the grey levels (less their mean), and the integral
        images of those and of their squares (sums over any rectangle in four look-ups)."""
        if self._sums is None:
            grey = (self.grey - self.mean).reshape(self.thumb.shape[:2]).astype(np.float64)
            integrals = np.zeros((2, grey.shape[0] + 1, grey.shape[1] + 1))
            integrals[:, 1:, 1:] = np.stack([grey, grey * grey]).cumsum(axis=1).cumsum(axis=2)
            self._sums = np.fft.rfft2(grey, s=(_PAD, _PAD)), integrals[0], integrals[1]
        return self._sums


def _shift(before: _Picture, after: _Picture) -> tuple[int, int]:
    """The shift (rows, columns; in cells) that best aligns ``after`` with ``before``: the peak of their phase
    correlation (``after[y + dy, x + dx]`` is most like ``before[y, x]``)."""
    cross = after.spectrum * np.conj(before.spectrum)
    peak = int(np.argmax(np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=(THUMB_SIDE, THUMB_SIDE))))
    dy, dx = divmod(peak, THUMB_SIDE)
    half = THUMB_SIDE // 2
    return (dy - THUMB_SIDE if dy > half else dy), (dx - THUMB_SIDE if dx > half else dx)


def _overlap(before: _Picture, after: _Picture, dy: int, dx: int) -> tuple[float, np.ndarray, np.ndarray]:
    """The correlation of the grey levels of ``before`` and ``after`` where they overlap, ``after`` shifted by
    (``dy``, ``dx``) cells (as :func:`_shift` tells), and the two overlapping parts."""
    side = THUMB_SIDE
    a = before.thumb[max(0, -dy):side - max(0, dy), max(0, -dx):side - max(0, dx)]
    b = after.thumb[max(0, dy):side - max(0, -dy), max(0, dx):side - max(0, -dx)]
    x, y = (a @ _GREY).ravel(), (b @ _GREY).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y) / max(math.sqrt(float(x @ x) * float(y @ y)), 1e-6), a, b


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """The share of the colours of ``a`` not in ``b``'s (4×4×4 histograms)."""
    return 1.0 - float(np.minimum(_colours(a), _colours(b)).sum())


def _moved(before: _Picture, after: _Picture) -> bool:
    """Whether ``after`` is ``before``'s picture moved (camera motion between sparse samples): aligned by
    :func:`_shift` (some shift, at most ``SHIFT_MAX`` cells each way; or a cell off it, where the two overlap
    best: the peak of the phase correlation may be), their overlap is correlated at least ``CUT_SAME_PICTURE``, or
    at least ``SHIFT_LIKENESS`` with under ``CUT_COLOURS`` of its colours changed; or else moved further
    (:func:`_moved_far`), or zoomed or turned (:func:`_zoomed`)."""
    dy, dx = _shift(before, after)
    if (dy, dx) != (0, 0):
        nearby = [(dy + i, dx + j) for i in (-1, 0, 1) for j in (-1, 0, 1) if i or j]
        for y, x in [(dy, dx), *sorted(nearby, key=lambda shift: (shift[0] - dy) ** 2 + (shift[1] - dx) ** 2)]:
            if (y, x) == (0, 0) or max(abs(y), abs(x)) > SHIFT_MAX:
                continue
            likeness, a, b = _overlap(before, after, y, x)
            if likeness >= CUT_SAME_PICTURE:
                return True  # the same picture (lit otherwise, perhaps), as in _cut
            if likeness >= SHIFT_LIKENESS and _changed(a, b) < CUT_COLOURS:
                return True
    return _moved_far(before, after) or _zoomed(before, after)


def _zoomed(before: _Picture, after: _Picture) -> bool:
    """Whether ``after`` is ``before``'s picture zoomed (by ``ZOOM_SCALES``), turned (by up to ``ZOOM_ANGLE``
    degrees) and moved: a zoom or a roll between sparse samples. ``after`` is warped to fit for each scale and
    angle of a grid (all at once) and aligned with ``before`` by the phase correlation; the warp whose overlap is
    best correlated (:func:`_fit`) is tried again about it, finer, and the best of those must be correlated
    ``SHIFT_LIKENESS`` or more with under ``CUT_COLOURS`` of its colours changed (the colours always, as in
    :func:`_moved_far`: among so many warps two pictures may have some overlap alike)."""
    side = THUMB_SIDE
    grey = after.grey - after.mean
    warped = _lookup(grey, *_ZOOM_AT)  # K × cells, 0 outside
    warped -= (warped.sum(axis=1, keepdims=True) / _ZOOM_COUNT) * _ZOOM_INSIDE
    spectra = np.fft.rfft2(warped.reshape(-1, side, side) * _WINDOW)
    cross = spectra * np.conj(before.spectrum)
    surface = np.fft.irfft2(cross / np.maximum(np.abs(cross), 1e-9), s=(side, side)).reshape(len(warped), -1)
    dy, dx = np.divmod(surface.argmax(axis=1), side)
    dy, dx = np.where(dy > side // 2, dy - side, dy), np.where(dx > side // 2, dx - side, dx)
    found = _fit(before, after, _ZOOM_SCALE, _ZOOM_ANGLE, dy.astype(float), dx.astype(float))
    if found is None:
        return False
    scale, angle, sy, sx = found  # the best of the grid: tried again about it, finer
    steps = np.log(ZOOM_SCALES[1] / ZOOM_SCALES[0]) / (ZOOM_STEPS[0] - 1), 2 * ZOOM_ANGLE / (ZOOM_STEPS[1] - 1)
    grid = np.array([-0.5, 0.0, 0.5])
    ls, la, ly, lx = (m.ravel() for m in np.meshgrid(grid * steps[0], grid * steps[1], grid * 2, grid * 2,
                                                     indexing="ij"))
    return _fit(before, after, scale * np.exp(ls), angle + la, sy + ly, sx + lx, colours=True) is not None


def _fit(before: _Picture, after: _Picture, scale: np.ndarray, angle: np.ndarray, dy: np.ndarray, dx: np.ndarray,
         colours: bool = False) -> tuple[float, float, float, float] | None:
    """Of ``after`` zoomed by ``scale``, turned by ``angle`` and shifted by (``dy``, ``dx``) (one try each), the
    try whose overlap with ``before`` (``ZOOM_OVERLAP`` of the picture at least) is best correlated, as (scale,
    angle, dy, dx); None if none is correlated ``SHIFT_LIKENESS`` or more (with ``colours``: none of those tried
    best, at most ``ZOOM_TRIED``, with under ``CUT_COLOURS`` of its colours changed either). An overlap whose grey
    levels vary less than ``BLANK_CONTRAST`` (standard deviation) on either side is no match."""
    qy, qx = _warp(scale, angle, dy, dx)
    at = _bilinear(qy, qx)
    y, inside = _lookup(after.grey - after.mean, *at), at[3]
    x = (before.grey - before.mean) * inside
    n = np.maximum(inside.sum(axis=1), 1)
    sx, sy = x.sum(axis=1), y.sum(axis=1)
    covariance = (x * y).sum(axis=1) - sx * sy / n
    spread_x, spread_y = (x * x).sum(axis=1) - sx * sx / n, (y * y).sum(axis=1) - sy * sy / n
    # an overlap as flat as a blank picture on either side shows nothing to compare (its correlation would be
    # rounding noise over a zero variance, any size): no match
    flat = BLANK_CONTRAST * BLANK_CONTRAST * n
    seen = (n >= ZOOM_OVERLAP * x.shape[1]) & (spread_x >= flat) & (spread_y >= flat)
    likeness = np.where(seen, covariance / np.sqrt(np.maximum(spread_x * spread_y, flat * flat)), -1.0)
    order = np.argsort(-likeness)
    if not colours:
        best = order[0]
        return None if likeness[best] < ZOOM_LIKELY else (scale[best], angle[best], dy[best], dx[best])
    for k in order[:ZOOM_TRIED]:
        if likeness[k] < SHIFT_LIKENESS:
            break
        b = _lookup(after.thumb.reshape(-1, 3), *(part[k] for part in at))[inside[k]]
        if _changed(before.thumb.reshape(-1, 3)[inside[k]], b) < CUT_COLOURS:
            return scale[k], angle[k], dy[k], dx[k]
    return None


def _moved_far(before: _Picture, after: _Picture) -> bool:
    """Whether ``after`` is ``before``'s picture moved by up to ``SHIFT_FAR`` cells each way (half the picture;
    the two overlapping by half of it at least), beyond what the phase correlation finds (its window tapers what
    a large shift keeps): of every such shift, the one whose overlap is best correlated (all at once, with
    padded FFTs), correlated at least ``SHIFT_LIKENESS`` there with under ``CUT_COLOURS`` of its colours changed
    (the colours always: among so many shifts two pictures may have some overlap alike). An overlap whose grey
    levels vary less than ``BLANK_CONTRAST`` (standard deviation) on either side is no match."""
    spectrum, sums, squares = before.sums
    other, other_sums, other_squares = after.sums
    products = np.fft.irfft2(np.conj(spectrum) * other, s=(_PAD, _PAD))[_FAR_ROWS, _FAR_COLUMNS]
    total = _rectangles(sums, _B_TOP, _B_BOTTOM, _B_LEFT, _B_RIGHT)
    spread = _rectangles(squares, _B_TOP, _B_BOTTOM, _B_LEFT, _B_RIGHT) - total * total / _FAR_SIZE
    other_total = _rectangles(other_sums, _A_TOP, _A_BOTTOM, _A_LEFT, _A_RIGHT)
    other_spread = _rectangles(other_squares, _A_TOP, _A_BOTTOM, _A_LEFT, _A_RIGHT) - other_total ** 2 / _FAR_SIZE
    covariance = products - total * other_total / _FAR_SIZE
    # an overlap as flat as a blank picture on either side shows nothing to compare (as in _fit): no match
    flat = BLANK_CONTRAST * BLANK_CONTRAST * _FAR_SIZE
    seen = (spread >= flat) & (other_spread >= flat)
    likeness = np.where(seen, covariance / np.sqrt(np.maximum(spread * other_spread, flat * flat)), -1.0)
    best = int(np.argmax(likeness))
    if not seen[best]:
        return False
    found, a, b = _overlap(before, after, int(_FAR_DY[best]), int(_FAR_DX[best]))
    return found >= SHIFT_LIKENESS and _changed(a, b) < CUT_COLOURS


def _cut(before: _Picture, after: _Picture, same_picture: float = CUT_SAME_PICTURE, moved: bool = True) -> bool:
    """Whether ``before`` and ``after`` are of two shots (:func:`is_cut`); ``moved``: also tell the picture moved
    (:func:`_moved`) from a cut."""
    middle = before.grey.size // 2
    change = float(np.partition(np.abs(before.grey - after.grey), (middle - 1, middle))[middle - 1:middle + 1].mean())
    if not (change >= CUT_CHANGE
            or change >= CUT_CONTRAST * max((before.contrast + after.contrast) / 2, BLANK_CONTRAST)):
        return False
    a, b = before.grey - before.mean, after.grey - after.mean
    likeness = float(a @ b) / max(before.contrast * after.contrast * a.size, 1e-6)
    shared = float(np.minimum(before.colours, after.colours).sum())
    cut = likeness < CUT_LIKENESS or (likeness < same_picture and 1.0 - shared >= CUT_COLOURS)
    return cut and not (moved and _moved(before, after))  # the extra cost: only where the tests above say "cut"


def is_cut(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether two thumbnails (:func:`thumbnail`) are of two shots: most of the picture changed (median grey
    change, in grey levels or relative to the pictures' contrast), and what is there is neither the same picture
    moved (correlation) nor in the same colours, nor, once shifted to fit (phase correlation, up to a quarter
    of the picture each way; or the best of every shift up to a half), or zoomed, turned and shifted to fit (0.6
    to 1.6×, up to 15° either way), the same picture in the same colours where the two overlap. Slow camera
    motion keeps the correlation or the colours; a fast pan, zoom or roll between sparse samples keeps the
    picture, moved; a
    caption or an inset changing changes a part of the frame only (the median ignores it); a flash changes the
    brightness and the colours, not the correlation; in dark or flat footage every change is small, but not
    small beside the contrast."""
    return _cut(_Picture(before), _Picture(after))


def _blend(first: _Picture, between: list[_Picture], last: _Picture) -> bool:
    ends = np.stack([first.grey, last.grey])
    mids = np.stack([picture.grey for picture in between])
    (aa, ab), (_, bb) = (ends @ ends.T).tolist()
    det = aa * bb - ab * ab
    if not det > 1e-9 * (aa + bb) ** 2:
        return False
    ma, mb = ends @ mids.T  # each middle picture's products with the first and the last
    wa, wb = (bb * ma - ab * mb) / det, (aa * mb - ab * ma) / det  # least squares: mid ≈ wa·first + wb·last
    residual = np.sqrt(((mids - np.outer(wa, first.grey) - np.outer(wb, last.grey)) ** 2).sum(axis=1))
    apart = math.sqrt(max(aa + bb - 2 * ab, 0.0))
    return bool(np.all(residual <= BLEND_RESIDUAL * apart) and min(wa.min(), wb.min()) >= BLEND_MIN_WEIGHT)


def is_blend(first: np.ndarray, between: list[np.ndarray], last: np.ndarray) -> bool:
    """Whether each thumbnail of ``between`` is a blend ``a·first + b·last`` of the grey levels (a dissolve, a
    fade through black; weights at least ``BLEND_MIN_WEIGHT``) to within ``BLEND_RESIDUAL`` of ``first - last``.
    Camera motion is not: a picture half-way through a pan is the picture moved, not two pictures laid over
    each other."""
    return _blend(_Picture(first), [_Picture(m) for m in between], _Picture(last))


class Shots:
    """Cuts in the sampled frames of one video: :meth:`cut` tells whether a frame starts another shot than the
    previous sampled frame's (a hard cut), or ends a dissolve or fade begun in the last ``BLEND_SECONDS``
    (when frame times are given); about 0.2 ms a frame (0.2 ms more where the picture changed much but only
    moved: a fast pan sampled sparsely; a few ms more where it is neither moved nor zoomed: a cut); call
    :meth:`reset` before another video."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._recent: list[_Picture] = []  # since the last cut, not blank, newest last
        self._cut_at: float | None = None  # the last cut's time
        self._blend_at: float | None = None  # the last dissolve test's time
        self.hard = False  # whether the last frame compared is a hard cut's first (a cut from the frame before)

    def cut(self, image: np.ndarray, time: float | None = None) -> bool:
        """Whether the frame ``image`` (at ``time`` seconds; None: no dissolve is looked for) starts a shot."""
        return self.cut_thumbnail(thumbnail(image), time)

    def cut_thumbnail(self, thumb: np.ndarray, time: float | None = None) -> bool:
        """:meth:`cut` for a frame's :func:`thumbnail`."""
        picture = _Picture(thumb, time)
        if picture.contrast < BLANK_CONTRAST:
            return False  # black (or flat): no picture to compare, the next one is compared with the last one
        recent = [] if time is None else [p for p in self._recent
                                          if p.time is not None and time - p.time <= BLEND_SECONDS]
        self.hard = bool(self._recent) and _cut(self._recent[-1], picture)
        cut = self.hard or (bool(self._recent) and self._blended(recent, picture))
        self._recent = [picture] if cut else [*recent[-255:], picture]
        if cut:
            self._cut_at = time
        return cut

    def _blended(self, recent: list[_Picture], picture: _Picture) -> bool:
        """Whether ``picture`` ends a dissolve or fade from the oldest of ``recent`` (the pictures of the last
        ``BLEND_SECONDS``)."""
        cut_at = self._cut_at
        if cut_at is not None:  # a transition found early: its frames are no shot's first frame
            recent = [p for p in recent if p.time is not None and p.time - cut_at > BLEND_SECONDS]
        time = picture.time
        if time is None or len(recent) < 3 or time - (recent[0].time or 0.0) < BLEND_MIN_SECONDS:
            return False
        if self._blend_at is not None and 0 <= time - self._blend_at < BLEND_EVERY:
            return False
        self._blend_at = time
        return (_cut(recent[0], picture, same_picture=CUT_LIKENESS, moved=False)
                and _blend(recent[0], _spread(recent[1:]), picture) and not _moved(recent[0], picture))


def _spread(items: list[_Picture]) -> list[_Picture]:
    """At most ``BLEND_FRAMES`` of ``items``, evenly spread."""
    if len(items) <= BLEND_FRAMES:
        return items
    last = len(items) - 1
    return [items[(i * last + (BLEND_FRAMES - 1) // 2) // (BLEND_FRAMES - 1)] for i in range(BLEND_FRAMES)]
