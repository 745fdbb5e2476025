"""Several detectors over the same faces: ``--model any`` and ``--arch ensemble``.

A :class:`DetectorSet` holds every bundled detector of one network (``df``, ``f2f``): each face is
scored by each of them in the same pass (the video is decoded and its faces found once), and the
combined ``p_fake`` is the **largest** detector score, so the verdict is fake as soon as any
detector says fake. Each detector's own score is kept in the outputs.

An :class:`Ensemble` is one detector read by both networks: its ``p_fake`` is the **mean** of the
bundled Meso4 and MesoInception4 detectors' for the same manipulation (``--arch ensemble``); with
``--model any`` each detector of the set is such an ensemble.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ANY = "any"
ENSEMBLE = "ensemble"


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


@dataclass
class Ensemble:
    """One manipulation's detector read by several networks (arch -> model): p_fake is their mean."""

    manipulation: str
    members: dict[str, Any]
    arch: str = ENSEMBLE
    card: Any = None
    legacy: bool = False

    @property
    def name(self) -> str:
        return f"{ENSEMBLE}_{self.manipulation}"

    @property
    def sha256(self) -> str:
        return ",".join(member.sha256 for member in self.members.values())

    def describe(self) -> dict[str, Any]:
        """The ``model`` object of the JSON outputs, with each network's detector name and weights hash."""
        return {"arch": self.arch, "name": self.name, "weights_sha256": None,
                "networks": {arch: member.describe() for arch, member in self.members.items()}}


def batch_of(faces: Any, resize: str) -> Any:
    """The faces a network that wants ``resize`` is fed: ``faces`` by resize (a set whose networks resize crops not
    256×256 differently: each crop made once per resize), or the one batch every network shares."""
    return faces[resize] if isinstance(faces, Mapping) else faces


class Picked:
    """A network's predictor fed the faces resized as it wants (:func:`batch_of`)."""

    def __init__(self, predictor: Any, resize: str) -> None:
        self.predictor, self.resize = predictor, resize

    def p_fake(self, faces: Any) -> np.ndarray:
        return self.predictor.p_fake(batch_of(faces, self.resize))

    def cancel(self) -> bool:
        """End the batch being scored now, where its runtime can (:func:`cancel_all`)."""
        return cancel_all([self.predictor])


def picking(predictor: Any, loaded: Any) -> Any:
    """``predictor`` of ``loaded``, given faces by resize, fed its own (an ensemble's picks per network itself)."""
    from mesocli.weights import resize_of

    return predictor if isinstance(loaded, Ensemble | DetectorSet) else Picked(predictor, resize_of(loaded))


def _as_batch(faces: Any) -> Any:
    """One uint8 batch, or faces by resize left as they are (each network picks its own)."""
    return faces if isinstance(faces, Mapping) else np.asarray(faces, dtype=np.uint8)


class EnsemblePredictor:
    """Scores faces with each network of an :class:`Ensemble` and returns the mean p_fake; faces by resize (a dict)
    feed each network its own."""

    def __init__(self, predictors: list[Any]) -> None:
        self.predictors = predictors

    def p_fake(self, faces: Any) -> np.ndarray:
        batch = _as_batch(faces)
        return np.mean([predictor.p_fake(batch) for predictor in self.predictors], axis=0)

    def cancel(self) -> bool:
        """End the batch being scored now, where a network's runtime can (:meth:`OnnxPredictor.cancel`); whether
        every network's could."""
        return cancel_all(self.predictors)


def ensemble_predictor(loaded: Ensemble, make: Callable[[Any], Any]) -> EnsemblePredictor:
    """The predictor of an ensemble, each network's made with ``make(model)`` and fed its own resize."""
    return EnsemblePredictor([picking(make(member), member) for member in loaded.members.values()])


def bundled_ensemble(manipulation: str, load: Callable[[Path, str], Any]) -> Ensemble:
    """The bundled ``manipulation`` detector of every network, loaded with ``load(path, arch)``."""
    from mesocli.models import ARCHITECTURES
    from mesocli.weights import bundled_weights_path

    return Ensemble(manipulation, {arch: load(bundled_weights_path(arch, manipulation), arch)
                                   for arch in ARCHITECTURES})


def resolve_ensemble(manipulation: str, weights: Path | None,
                     load: Callable[[Path, str], Any]) -> Ensemble | DetectorSet:
    """``--arch ensemble``'s model selection: an :class:`Ensemble`, or a :class:`DetectorSet` of them for any."""
    from mesocli.errors import WeightsError
    from mesocli.weights import check_manipulation

    if weights is not None:
        raise WeightsError(f"--arch {ENSEMBLE} uses the bundled weights of both networks; it does not take --weights")
    if manipulation == ANY:
        return bundled_set(ENSEMBLE, load)
    check_manipulation(manipulation)
    return bundled_ensemble(manipulation, load)


def bundled_set(arch: str | None, load: Callable[[Path, str], Any]) -> DetectorSet:
    """Every bundled detector of ``arch`` (default meso4), each loaded with ``load(path, arch)``;
    for ``ensemble``, every manipulation bundled for both networks, as an :class:`Ensemble`."""
    from mesocli.errors import WeightsError
    from mesocli.models import ARCHITECTURES, DISPLAY_NAMES
    from mesocli.weights import MANIPULATIONS, bundled_cards, bundled_dir

    arch = arch or "meso4"
    if arch == ENSEMBLE:
        bundled = {(card.arch, card.manipulation) for card in bundled_cards()}
        shared = [name for name in MANIPULATIONS if all((net, name) in bundled for net in ARCHITECTURES)]
        if not shared:
            raise WeightsError(f"no manipulation is bundled for every network, for --arch {ENSEMBLE}")
        return DetectorSet(arch, {name: bundled_ensemble(name, load) for name in shared})
    found = sorted((card for card in bundled_cards() if card.arch == arch),
                   key=lambda card: MANIPULATIONS.index(card.manipulation))
    if not found:
        raise WeightsError(f"no bundled {DISPLAY_NAMES[arch]} weights for --model {ANY}")
    return DetectorSet(arch, {card.manipulation: load(bundled_dir() / card.weights_file, arch) for card in found})


def combine(scores: dict[str, np.ndarray]) -> np.ndarray:
    """The combined p_fake of several detectors' scores: their maximum (fake when any says fake)."""
    return np.max(np.stack(list(scores.values())), axis=0)


class MultiPredictor:
    """Scores faces with each detector of a set (:func:`combine` gives the combined score); faces by resize (a
    dict) feed each detector its own."""

    def __init__(self, predictors: dict[str, Any]) -> None:
        self.predictors = predictors

    def p_fake_by_detector(self, faces: Any) -> dict[str, np.ndarray]:
        batch = _as_batch(faces)
        return {name: predictor.p_fake(batch) for name, predictor in self.predictors.items()}

    def cancel(self) -> bool:
        """End the batch being scored now, where a detector's runtime can (:meth:`OnnxPredictor.cancel`); whether
        every detector's could."""
        return cancel_all(self.predictors.values())


def cancel_all(predictors: Iterable[Any]) -> bool:
    """Cancel the batch each of ``predictors`` is scoring, where it can be (ONNX Runtime; not TensorFlow); whether
    each could be."""
    cancelled = [bool(predictor.cancel()) if hasattr(predictor, "cancel") else False for predictor in predictors]
    return all(cancelled)
