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

A track never crosses a hard cut (:class:`Shots`): at a cut every track ends, and the faces after it start
new ones, since another person at the same place would otherwise take the track of the one before (one
person's track may then be split in two at a cut; two people are not merged).
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
THUMB_SIDE = 32  # a cut is looked for between 32×32 thumbnails (block means) of successive sampled frames
CUT_CHANGE = 10.0  # a cut: the median grey-level change of the thumbnails at least this (0-255), and
CUT_LIKENESS = 0.5  # their grey levels correlated under this, or under CUT_SAME_PICTURE with
CUT_COLOURS = 0.2  # at least this share of their colour histograms (4 levels a channel) not in common
CUT_SAME_PICTURE = 0.8  # correlated this much or more: the same picture, lit otherwise (a flash), never a cut


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

    def new_shot(self) -> None:
        """A hard cut: every track ends (the faces after it start new tracks, with new ids)."""
        self.tracks = []
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
    q = np.minimum(thumb // 64, 3).astype(np.int64)
    return np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64) / (THUMB_SIDE ** 2)


def is_cut(before: np.ndarray, after: np.ndarray) -> bool:
    """Whether two thumbnails (:func:`thumbnail`) are of two shots: most of the picture changed (median grey
    change), and what is there is neither the same picture moved (correlation) nor in the same colours.
    Camera motion between sparse samples changes much but keeps the correlation or the colours; a caption or an
    inset changing changes a part of the frame only (the median ignores it); a flash changes the brightness
    and the colours, not the correlation."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    a, b = before @ weights, after @ weights
    if not np.median(np.abs(a - b)) >= CUT_CHANGE:
        return False
    a, b = a - a.mean(), b - b.mean()
    likeness = float((a * b).sum() / max(math.sqrt(float((a * a).sum() * (b * b).sum())), 1e-6))
    shared = float(np.minimum(_colours(before), _colours(after)).sum())
    return likeness < CUT_LIKENESS or (likeness < CUT_SAME_PICTURE and 1.0 - shared >= CUT_COLOURS)


class Shots:
    """Hard cuts in the sampled frames of one video: :meth:`cut` tells whether a frame starts another shot than
    the previous sampled frame's (under 1 ms a frame); call :meth:`reset` before another video."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._last: np.ndarray | None = None

    def cut(self, image: np.ndarray) -> bool:
        thumb = thumbnail(image)
        last, self._last = self._last, thumb
        return last is not None and is_cut(last, thumb)
