"""What a scan saw, per input, beyond its JSON result: every sampled frame, every face score, and the
crops of the K most-fake and K most-real faces (for heatmaps and reports).

:class:`EvidenceCollector` is the ``observer`` of :func:`mesocli.scan.scan_inputs`. Memory stays
bounded whatever the clip's length: per input it keeps a few numbers per sampled frame and at most
2 K crops (two bounded heaps). Pure Python and NumPy: no TensorFlow here.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_TOP = 4


@dataclass
class FaceSample:
    """One scored face: where it was in the input, and its score."""

    frame: int
    time: float
    track: int | None
    p_fake: float
    detector: str | None = None  # --model any: the detector whose p_fake is the face's (combined) score


@dataclass
class KeptFace:
    """A scored face whose crop was kept (one of the K most-fake or K most-real)."""

    sample: FaceSample
    crop: np.ndarray = field(repr=False)  # (256, 256, 3) uint8 RGB, as the network saw it


@dataclass
class InputEvidence:
    """One input's sampled frames (index, time, faces found) and scored faces, in order."""

    path: str
    top: int = DEFAULT_TOP
    sampled: list[tuple[int, float, int]] = field(default_factory=list)
    faces: list[FaceSample] = field(default_factory=list)
    _fakest: list[tuple[float, int, KeptFace]] = field(default_factory=list, repr=False)  # min-heap on p_fake
    _realest: list[tuple[float, int, KeptFace]] = field(default_factory=list, repr=False)  # min-heap on -p_fake
    _order: Any = field(default_factory=itertools.count, repr=False)

    def add_face(self, sample: FaceSample, crop: np.ndarray) -> None:
        """Record a scored face; keep its crop only while it is among the ``top`` most fake or most real."""
        self.faces.append(sample)
        if self.top <= 0:
            return
        kept = KeptFace(sample, crop)
        n = next(self._order)
        for heap, key in ((self._fakest, sample.p_fake), (self._realest, -sample.p_fake)):
            # ties: the earlier face stays (a later one must beat it strictly)
            if len(heap) < self.top:
                heapq.heappush(heap, (key, -n, kept))
            elif key > heap[0][0]:
                heapq.heapreplace(heap, (key, -n, kept))

    def no_face_frames(self) -> list[tuple[int, float]]:
        """The sampled frames in which no face was found: (index, time)."""
        return [(index, time) for index, time, count in self.sampled if count == 0]

    def extremes(self) -> list[tuple[str, KeptFace]]:
        """``("most fake", face)`` for the K most-fake faces (most fake first), then ``("most real", face)``
        for the K most-real ones not already listed (most real last): each face at most once."""
        fakest = [kept for _, _, kept in sorted(self._fakest, key=lambda item: (-item[0], -item[1]))]
        realest = [kept for _, _, kept in sorted(self._realest, key=lambda item: (-item[0], item[1]))]
        seen = {id(kept) for kept in fakest}
        return [("most fake", k) for k in fakest] + [("most real", k) for k in realest[::-1] if id(k) not in seen]


def deciding(detectors: dict[str, float] | None) -> str | None:
    """The detector whose p_fake is the combined score (the largest; on a tie the first), or None."""
    return max(detectors, key=lambda name: detectors[name]) if detectors else None


class EvidenceCollector:
    """Observer for :func:`mesocli.scan.scan_inputs`; :meth:`take` hands over each input's evidence.

    The scan reports events per input under a key; results come out in the order inputs started, so
    :meth:`take` pairs each result with the oldest input not yet taken.
    """

    def __init__(self, top: int = DEFAULT_TOP) -> None:
        self.top = top
        self._inputs: dict[int, InputEvidence] = {}

    def started(self, key: int, path: str) -> None:
        self._inputs[key] = InputEvidence(path, self.top)

    def sampled(self, key: int, frame: int, time: float, faces: int) -> None:
        self._inputs[key].sampled.append((int(frame), float(time), int(faces)))

    def scored(self, key: int, frame: int, time: float, track: int | None, crop: np.ndarray, p_fake: float,
               detectors: dict[str, float] | None = None) -> None:
        self._inputs[key].add_face(FaceSample(int(frame), float(time), track, float(p_fake), deciding(detectors)),
                                   crop)

    def take(self, path: str) -> InputEvidence | None:
        """The evidence of the oldest input not yet taken, if its path is ``path`` (else None)."""
        if not self._inputs:
            return None
        key = next(iter(self._inputs))
        if self._inputs[key].path != path:
            return None
        return self._inputs.pop(key)
