"""Several detectors over the same faces: ``--model any``.

A :class:`DetectorSet` holds every bundled detector of one network (``df``, ``f2f``): each face is
scored by each of them in the same pass (the video is decoded and its faces found once), and the
combined ``p_fake`` is the **largest** detector score, so the verdict is fake as soon as any
detector says fake. Each detector's own score is kept in the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ANY = "any"


@dataclass
class DetectorSet:
    """Named detectors (manipulation -> :class:`mesocli.weights.LoadedModel`) of one network."""

    arch: str
    members: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.arch}_{ANY}"

    @property
    def sha256(self) -> str:
        return ",".join(member.sha256 for member in self.members.values())

    @property
    def legacy(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        """The ``model`` object of the JSON outputs, with each detector's name and weights hash."""
        return {"arch": self.arch, "name": self.name, "weights_sha256": None,
                "detectors": {name: member.describe() for name, member in self.members.items()}}


def bundled_set(arch: str | None, load: Callable[[Path, str], Any]) -> DetectorSet:
    """Every bundled detector of ``arch`` (default meso4), each loaded with ``load(path, arch)``."""
    from mesocli.errors import WeightsError
    from mesocli.models import DISPLAY_NAMES
    from mesocli.weights import MANIPULATIONS, bundled_cards, bundled_dir

    arch = arch or "meso4"
    found = sorted((card for card in bundled_cards() if card.arch == arch),
                   key=lambda card: MANIPULATIONS.index(card.manipulation))
    if not found:
        raise WeightsError(f"no bundled {DISPLAY_NAMES[arch]} weights for --model {ANY}")
    return DetectorSet(arch, {card.manipulation: load(bundled_dir() / card.weights_file, arch) for card in found})


def combine(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The combined p_fake of several detectors' scores: their maximum (fake when any says fake)."""
    return np.max(np.stack(list(scores.values())), axis=0)


class MultiPredictor:
    """Scores faces with each detector of a set (:func:`combine` gives the combined score)."""

    def __init__(self, predictors: dict[str, Any]) -> None:
        self.predictors = predictors

    def p_fake_by_detector(self, faces: Any) -> dict[str, np.ndarray]:
        batch = np.asarray(faces, dtype=np.uint8)
        return {name: predictor.p_fake(batch) for name, predictor in self.predictors.items()}
