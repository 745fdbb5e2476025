"""Weight files: the project's own format, the authors' legacy files, and bundled selection.

Own format: a Keras 3 ``.weights.h5`` file with a JSON model card beside it
(``meso4_df.weights.h5`` + ``meso4_df.json``). Legacy format: the authors' Keras 2.1.5
weights-only HDF5 (``Meso4_DF.h5``), whose layers carry only auto-generated names; they are
loaded by creation order (see :class:`mesocli.models._Layers`). Weights are only ever loaded
into mesocli's own architectures: no model configuration or code from a file is executed.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mesocli.digest import sha256_file
from mesocli.errors import WeightsError
from mesocli.models import ARCHITECTURES, DISPLAY_NAMES, build_model

if TYPE_CHECKING:
    from mesocli.detectors import DetectorSet, Ensemble

MANIPULATIONS = ("df", "f2f", "fs")  # Deepfakes, Face2Face, FaceSwap
OWN_SUFFIX = ".weights.h5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_LEGACY_NAME = re.compile(r"^(conv2d|batch_normalization|dense)_(\d+)$")


class UnknownResize(WeightsError):
    """A model card whose ``resize`` this mesocli does not know (:meth:`ModelCard.check_resize`): refused wherever
    the card is read, beside a weights file or beside an ONNX export."""


def utc_text(created: Any) -> Any:
    """A card's ``created`` as every time mesocli writes: ``2026-12-07T09:45:20Z``. Cards written before this version
    (the bundled ones) have ``+00:00`` for ``Z``: read as the same time. Any other text is kept as it is."""
    if isinstance(created, str) and created.endswith("+00:00"):
        try:
            datetime.fromisoformat(created)
        except ValueError:
            return created
        return created[: -len("+00:00")] + "Z"
    return created


@dataclass
class ModelCard:
    """What a weights file is and how it was made; stored as JSON beside the file."""

    arch: str
    manipulation: str
    weights_file: str
    sha256: str
    name: str = ""
    command: str = ""
    seed: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    preprocessing: str = "RGB, Pillow bilinear resize to 256x256, /255"
    resize: str | None = "bilinear"  # of a face crop not 256x256 (mesocli.preprocess.RESIZES); None: a card without it
    output: str = "p_fake = 1 - sigmoid output (the network's sigmoid is P(real))"
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    onnx_sha256: str = ""  # of the ONNX export beside the weights (bundled weights: what scan runs)
    provenance: dict[str, Any] | None = None  # a trained file's: the software that wrote it, the run's sessions

    @classmethod
    def from_json(cls, path: Path) -> ModelCard:
        from mesocli.rates import check

        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            known = {key: raw[key] for key in cls.__dataclass_fields__ if key in raw}
            card = cls(**{"resize": None, **known})  # a card of an earlier version has no resize: bilinear
            card.created = utc_text(card.created)  # a card of an earlier version (the bundled ones): +00:00
            check(card.metrics)  # a table of error counts the report could not state: refused now, not mid-scan
        except (OSError, ValueError, TypeError) as exc:
            raise WeightsError(f"{path}: unreadable model card ({exc})") from None
        card.check_resize(path)
        return card

    def check_resize(self, path: Path | str) -> None:
        """Refuse a ``resize`` this mesocli does not know (a card of a later version, or edited): the weights
        would be fed crops resized another way than they were trained on, which moves their operating point."""
        from mesocli.preprocess import RESIZES

        if self.resize is not None and (not isinstance(self.resize, str) or self.resize not in RESIZES):
            shown = json.dumps(self.resize)[:40]
            raise UnknownResize(f"{path}: model card's resize {shown} is not one this mesocli knows "
                               f"({', '.join(RESIZES)}): written by a later mesocli, or a mistake in the card")

    def as_dict(self) -> dict[str, Any]:
        """The card's fields as its file holds them: no ``provenance`` or ``resize`` key where it has none."""
        data = asdict(self)
        for key in ("provenance", "resize"):
            if data[key] is None:  # a card of an earlier version (the bundled ones) is written as it was
                del data[key]
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=False) + "\n"

    def error_rates(self) -> str | None:
        """The error rates its card measured on faces no training run saw, in words (for a report that a reader
        weighs a verdict by); None when the card holds none."""
        parts = [text for key, what in (("validation", "MesoNet validation"), ("ffpp_test", "FaceForensics++ c23 test"))
                 if (text := self._measured(key, what))]
        if not parts:
            return None
        threshold = self.rates_threshold()
        at = f" at threshold {threshold:g}" if threshold is not None else ""
        return f"per face{at}: " + "; ".join(parts)

    def _measured(self, key: str, what: str) -> str | None:
        """The per-face error rates of ``metrics[key]`` (named ``what``) at their threshold, in words."""
        figures = self.metrics.get(key)
        if not isinstance(figures, dict) or figures.get("accuracy_real") is None:
            return None
        data = figures.get("data") or {}
        counts = f" ({data['images']} faces)" if data.get("images") else ""
        text = f"{what}{counts}: {_percent(1 - figures['accuracy_real'])} of real faces called fake"
        methods = {name: m["accuracy_df"] for name, m in (figures.get("methods") or {}).items()
                   if isinstance(m, dict) and m.get("accuracy_df") is not None}
        if methods:
            text += ", forged faces missed: " + ", ".join(f"{name} {_percent(1 - caught)}"
                                                        for name, caught in methods.items())
        elif figures.get("accuracy_df") is not None:
            text += f", {_percent(1 - figures['accuracy_df'])} of forged faces missed"
        return text

    def rates_threshold(self) -> float | None:
        """The threshold its error rates (:meth:`error_rates`) were measured at, or None when it does not say."""
        return next((float(self.metrics[k]["threshold"]) for k in ("validation", "ffpp_test")
                     if isinstance(self.metrics.get(k), dict) and self.metrics[k].get("threshold") is not None), None)

    def validation_at(self, threshold: float) -> str | None:
        """Its MesoNet validation figures per face, in words, for a scan at ``threshold``: from its table of them
        (``metrics.validation.error_rates``, :func:`mesocli.rates.validation_words`) at the tabulated threshold nearest
        ``threshold``; a card without the table: at the one threshold they were measured at, said so where it is
        another; None where it has none."""
        from mesocli.aggregate import threshold_shown
        from mesocli.rates import validation_words

        if (tabulated := validation_words(self.metrics, threshold)) is not None:
            return tabulated
        validation = self._measured("validation", "MesoNet validation")
        measured = (self.metrics.get("validation") or {}).get("threshold")
        if validation and measured is not None:
            other = (f" (the only one measured on it, not this scan's {threshold_shown(threshold)})"
                     if abs(float(measured) - threshold) >= 1e-9 else "")
            validation = f"per face at threshold {float(measured):g}{other}: {validation}"
        return validation or None

    def rates_at(self, threshold: float, rule: str = "mean", tracks: bool = False) -> str | None:
        """The error rates for a scan that called faces fake from ``threshold`` and videos by ``rule``
        (:data:`mesocli.aggregate.AGGREGATIONS`). A card with a table of them (``metrics.ffpp_test.error_rates``,
        :mod:`mesocli.rates`) gives them per video by that rule and per face, at the measured threshold nearest
        ``threshold`` (saying so where it is another one; ``tracks``: that the scan, ``--all-faces``, called videos by
        face tracks, which the table did not measure); an older card gives :meth:`error_rates`, with a caution
        first where they were measured at another threshold (it holds nothing to measure them again)."""
        from mesocli import rates as tables
        from mesocli.aggregate import threshold_shown

        table = tables.table_of(self.metrics)
        if table is not None:
            return tables.in_words(self.metrics, table, threshold, rule, self.validation_at(threshold), tracks)
        rates = self.error_rates()
        measured = self.rates_threshold()
        if rates is None or measured is None or abs(measured - threshold) < 1e-9:
            return rates
        more, fewer = (("fewer", "more") if threshold > measured else ("more", "fewer"))
        given = threshold_shown(threshold)
        return (f"CAUTION, NOT AT THIS SCAN'S THRESHOLD: these were measured at threshold {threshold_shown(measured)}, "
                f"and this scan called faces fake from {given}, at which they are not known (the card holds no "
                f"per-face scores to measure them again): at {given} {more} real faces are called fake and {fewer} "
                f"forged faces missed than these say. {rates}")


def _percent(share: float) -> str:
    """A share as a percentage for people: ``16.8 %``."""
    return f"{100 * share:.1f} %"


@dataclass
class LoadedModel:
    """A network with its weights loaded, and where they came from."""

    arch: str
    name: str
    weights_path: Path
    sha256: str
    model: Any
    card: ModelCard | None = field(default=None, repr=False)  # its figures: thousands of characters
    legacy: bool = False

    def describe(self) -> dict[str, Any]:
        """The ``model`` object of mesocli's JSON outputs."""
        return {"arch": self.arch, "name": self.name, "weights_sha256": self.sha256}


AUTHORS_RESIZE = "nearest"
"""The resize of the authors' original files: their Keras loader's (``ImageDataGenerator``, nearest-neighbour)."""


def resize_of(loaded: Any) -> str:
    """The resize of a face crop that is not 256×256 for the weights ``loaded`` (a model, ONNX model, set or
    ensemble): nearest for the authors' original files, as their loader resized; else what the model card
    records (``resize``; bilinear, mesocli's, when absent; an unknown one is refused as the card is read,
    :meth:`ModelCard.check_resize`); an ONNX export given as it is: the resize its own card carries, else that of
    the card beside it or of the bundled weights it was exported from. A set or ensemble takes its members' when
    they agree; members that differ give bilinear here: each is fed its own (:func:`resizes_needed`,
    :func:`resize_record`)."""
    return _resize_and_origin(loaded)[0]


def resize_origin(loaded: Any) -> str:
    """Where :func:`resize_of` took the resize of ``loaded`` from, in words (eval's ``provenance.resize_from``): the
    model card, the authors' loader, a checkpoint's run (``RUN/config.json``), or mesocli's default."""
    return _resize_and_origin(loaded)[1]


def _resize_and_origin(loaded: Any) -> tuple[str, str]:
    """:func:`resize_of` and :func:`resize_origin` of ``loaded``: one rule."""
    from mesocli.preprocess import DEFAULT_RESIZE, RESIZES

    members = getattr(loaded, "members", None)
    if members:
        found = {_resize_and_origin(member) for member in members.values()}
        if len(found) == 1:
            return found.pop()
        resizes = {resize for resize, _ in found}
        return (resizes.pop() if len(resizes) == 1 else DEFAULT_RESIZE), "each network's own"
    if getattr(loaded, "legacy", False):
        return AUTHORS_RESIZE, "the authors' Keras loader (their original file)"
    for recorded, origin in ((getattr(loaded, "export_resize", None), "the ONNX export's model card"),
                             (getattr(getattr(loaded, "card", None), "resize", None), "the model card"),
                             (getattr(getattr(loaded, "source_card", None), "resize", None),
                              "the model card of the weights it was exported from")):
        if recorded is not None:
            return (recorded if recorded in RESIZES else DEFAULT_RESIZE), origin
    path = getattr(loaded, "weights_path", None) or getattr(loaded, "path", None)
    run = run_resize(Path(path), getattr(loaded, "arch", None)) if path is not None else None
    if run is not None:
        return run[0], f"{run[1]} (the run's train --resize: a checkpoint has no model card)"
    return DEFAULT_RESIZE, "mesocli's default (no model card)"


CHECKPOINTS = "checkpoints"
"""The folder of a training run (``RUN/checkpoints/epoch_NNN.weights.h5``) that holds its epochs' weights."""


def run_resize(weights_path: Path, arch: str | None) -> tuple[str, Path] | None:
    """The resize a checkpoint without a model card was trained and selected with, and the file that says so: for a
    file in a run's ``checkpoints/`` folder, ``RUN/config.json``'s ``resize`` (bilinear for a run of an earlier
    version, which had none), when that file is a run's configuration of the same network; a link to a checkpoint
    is its target's. None for any other file, or a ``config.json`` that cannot be read or is not such a
    configuration; an unknown resize there is refused (:class:`UnknownResize`), as in a model card."""
    from mesocli.preprocess import DEFAULT_RESIZE, RESIZES

    if weights_path.parent.name != CHECKPOINTS:
        try:
            weights_path = weights_path.resolve()  # a link to a run's checkpoint: its target's run
        except OSError:  # a loop of links, say: no run's
            return None
        if weights_path.parent.name != CHECKPOINTS:
            return None
    config = weights_path.parent.parent / "config.json"
    try:
        recorded = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or "epochs" not in recorded or recorded.get("arch") not in (arch, None):
        return None
    resize = recorded.get("resize", DEFAULT_RESIZE)
    if resize not in RESIZES:
        shown = json.dumps(resize)[:40]
        raise UnknownResize(f"{config}: the run's resize {shown} is not one this mesocli knows ("
                            f"{', '.join(RESIZES)}): its checkpoint {weights_path.name} would be fed crops resized "
                            "another way than it was trained on")
    return resize, config


def resizes_needed(loaded: Any) -> list[str]:
    """The distinct resizes the networks of ``loaded`` want (one for a single model; a set or ensemble whose
    members differ: each, in member order): a crop not 256×256 is made once per resize, each network fed its own."""
    members = getattr(loaded, "members", None)
    if not members:
        return [resize_of(loaded)]
    return list(dict.fromkeys(resize for member in members.values() for resize in resizes_needed(member)))


def resize_record(loaded: Any) -> str | dict[str, Any]:
    """How ``loaded`` resized a crop not 256×256, as the outputs state it (eval's ``provenance.resize``, scan's
    ``settings.resize``): the one resize when its networks agree, else per member (detector or network) its own,
    nested for an ensemble inside ``--model any`` (``{"df": {"meso4": "nearest", "mesoinception4": "bilinear"},
    "f2f": "bilinear"}``)."""
    members = getattr(loaded, "members", None)
    if not members or len(resizes_needed(loaded)) == 1:
        return resize_of(loaded)
    return {name: resize_record(member) for name, member in members.items()}


def describe_resize(record: Any) -> str:
    """A :func:`resize_record` in words: ``nearest``, or ``df nearest, f2f bilinear`` (``df.meso4`` nested)."""
    if not isinstance(record, dict):
        return str(record)

    def flat(value: Any, prefix: str) -> list[str]:
        if isinstance(value, dict):
            return [part for name, inner in value.items() for part in flat(inner, f"{prefix}{name}.")]
        return [f"{prefix[:-1]} {value}"]

    return ", ".join(flat(record, ""))


def bundled_dir() -> Path:
    """The folder of bundled weights: inside the installed package, else the source tree's weights/."""
    from mesocli.provenance import packaged_path

    return packaged_path("weights")


def card_path_for(weights_path: Path) -> Path:
    name = weights_path.name
    stem = name[: -len(OWN_SUFFIX)] if name.endswith(OWN_SUFFIX) else weights_path.stem
    return weights_path.with_name(stem + ".json")


def card_beside(weights_path: Path) -> ModelCard | None:
    """The model card beside a weights file (None when there is none). A JSON file given as the weights file
    (its own card, by mistake) is a WeightsError that says so: its sha256 is not the one it records, which
    would otherwise read as a corrupted or replaced file."""
    path = Path(weights_path)
    card_file = card_path_for(path)
    if card_file == path and path.is_file():
        try:
            described = ModelCard.from_json(path).weights_file
        except WeightsError:
            described = ""
        hint = f" (give {path.with_name(described)})" if described else ""
        raise WeightsError(f"{path}: a model card (JSON), not a weights file{hint}")
    return ModelCard.from_json(card_file) if path.is_file() and card_file.is_file() else None


def bundled_cards() -> list[ModelCard]:
    """Model cards of every bundled weights file."""
    folder = bundled_dir()
    if not folder.is_dir():
        return []
    return [ModelCard.from_json(path) for path in sorted(folder.glob("*.json"))]


VALIDATION_SAMPLE = {"limit": 2000, "seed": 0}
"""The draw (``eval --limit 2000 --seed 0``) whose figures a bundled card keeps as ``metrics.validation.sample``: the
test suite re-checks a card on those faces, a quarter of the MesoNet validation split (docs/models.md)."""


def sample_figures(report: dict[str, Any]) -> dict[str, Any]:
    """What ``metrics.validation.sample`` keeps of the eval report (``to_dict``) of :data:`VALIDATION_SAMPLE`'s
    faces: the draw, the threshold, accuracy overall and per class, AUC and the confusion counts."""
    return {"subset": report["data"]["subset"],
            **{key: report[key] for key in ("threshold", "accuracy", "accuracy_df", "accuracy_real", "auc")},
            "confusion": {key: report["confusion"][key] for key in ("tp", "fp", "tn", "fn")}}


def bundled_weights_path(arch: str, manipulation: str) -> Path:
    """The bundled file for ``arch``/``manipulation``, or a WeightsError saying how to pass --weights."""
    for card in bundled_cards():
        if card.arch == arch and card.manipulation == manipulation:
            return bundled_dir() / card.weights_file
    legacy = {"meso4": "Meso4", "mesoinception4": "MesoInception"}[arch] + f"_{manipulation.upper()}.h5"
    example = f" (for example the authors' {legacy} from github.com/DariusAf/MesoNet)" if manipulation != "fs" else ""
    raise WeightsError(
        f"no bundled {DISPLAY_NAMES[arch]} weights for '{manipulation}'; pass a file with --weights PATH{example}"
    )


def _h5py() -> Any:
    import h5py

    return h5py


def _other_export(path: Path) -> WeightsError | None:
    """The error for a TFLite file or SavedModel folder (``mesocli export --format tflite|savedmodel``) given where
    weights go: what it is, the weights its card says it came from, and what mesocli runs instead; else None."""
    if path.is_dir() and (path / "saved_model.pb").is_file():
        what, card = "a TensorFlow SavedModel folder", path / "assets" / "mesocli_card.json"
    elif path.is_file() and _signature(path, 8)[4:] == b"TFL3":  # a TFLite flatbuffer's file identifier
        what, card = "a TFLite model", Path(f"{path}.json")
    else:
        return None
    try:
        meta = json.loads(card.read_text(encoding="utf-8"))
        origin = f" (exported from {meta['name']}, sha256 {meta['source_sha256'][:12]})"
    except (OSError, ValueError, KeyError, TypeError):
        origin = ""
    return WeightsError(f"{path}: {what}{origin}: mesocli runs weights files (.weights.h5, the authors' .h5) and "
                        "ONNX exports: give the weights it was exported from, or export them with --format onnx")


def _signature(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of ``path`` (b"" when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _check_regular(path: Path) -> None:
    """Refuse a missing path, a folder, and what is not a regular file (a named pipe or a device would
    block the reader)."""
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    if (other := _other_export(path)) is not None:
        raise other
    if path.is_dir():
        best = path / "best.weights.h5"  # a run folder of ``train --out``
        hint = f" (a training run: give {best})" if best.is_file() else ""
        raise WeightsError(f"{path}: is a folder, not a weights file{hint}")
    if not path.is_file():
        raise WeightsError(f"{path}: not a regular file")


def _check_digest(path: Path, digest: str, card: ModelCard | None) -> None:
    """Refuse a file whose sha256 is not the one its model card records."""
    if card is not None and card.sha256 and card.sha256 != digest:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}… does not match its model card ({card.sha256[:12]}…): "
            "the file is corrupted or was replaced"
        )


def open_h5(path: Path) -> Any:
    """The weights file opened with h5py; what is not a readable HDF5 weights file is a one-line WeightsError."""
    _check_regular(path)
    if zipfile.is_zipfile(path):
        raise WeightsError(
            f"{path}: a full-model .keras archive; mesocli loads weights only (a model file can carry "
            "code): save them with model.save_weights('x.weights.h5')"
        )
    try:
        return _h5py().File(path, "r")
    except PermissionError:
        raise WeightsError(f"{path}: permission denied") from None
    except OSError as exc:
        with open(path, "rb") as handle:
            signature = handle.read(len(_HDF5_SIGNATURE))
        if signature == _HDF5_SIGNATURE:  # an HDF5 file all the same: cut short or damaged
            reason = re.sub(r"^Unable to (?:synchronously )?open file \((.*)\)$", r"\1", str(exc))
            raise WeightsError(f"{path}: damaged HDF5 file ({reason})") from None
        raise WeightsError(f"{path}: not an HDF5 weights file") from None


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def legacy_root(h5: Any) -> Any | None:
    """The group holding Keras 2 per-layer weights (weights-only file, or a full model's model_weights)."""
    if "layer_names" in h5.attrs:
        return h5
    if "model_weights" in h5 and "layer_names" in h5["model_weights"].attrs:
        return h5["model_weights"]
    return None


def legacy_layers(root: Any) -> dict[str, list[Any]]:
    """Map our layer names (kind_rank, ranked by the file's creation numbers) to weight arrays."""
    by_kind: dict[str, list[tuple[int, list[Any]]]] = {}
    for layer_name in map(_decode, root.attrs["layer_names"]):
        group = root[layer_name]
        weight_names = [_decode(n) for n in group.attrs.get("weight_names", [])]
        if not weight_names:
            continue
        match = _LEGACY_NAME.match(layer_name)
        if not match:
            raise ValueError(f"layer '{layer_name}' is not a MesoNet layer")
        arrays = [group[name][()] for name in weight_names]
        by_kind.setdefault(match.group(1), []).append((int(match.group(2)), arrays))
    mapped: dict[str, list[Any]] = {}
    for kind, entries in by_kind.items():
        for rank, (_, arrays) in enumerate(sorted(entries, key=lambda item: item[0]), start=1):
            mapped[f"{kind}_{rank}"] = arrays
    return mapped


def legacy_arch(path: Path, layers: dict[str, list[Any]]) -> str:
    """The network that a legacy file's layers are meant for, told by its number of convolutions."""
    convs = sum(1 for name in layers if name.startswith("conv2d_"))
    arch = {4: "meso4", 16: "mesoinception4"}.get(convs)
    if arch is None:
        raise WeightsError(f"{path}: {convs} convolution layers fit neither Meso4 (4) nor MesoInception4 (16)")
    return arch


def _assign_legacy(model: Any, layers: dict[str, list[Any]]) -> None:
    ours = {layer.name: layer for layer in model.layers if layer.weights}
    if set(ours) != set(layers):
        raise ValueError(f"{len(layers)} weighted layers in the file, {len(ours)} in {model.name}")
    for name, layer in ours.items():
        arrays = layers[name]
        shapes = [tuple(w.shape) for w in layer.weights]
        if [tuple(a.shape) for a in arrays] != shapes:
            raise ValueError(f"layer {name}: file shapes {[a.shape for a in arrays]} != {shapes}")
        layer.set_weights(arrays)


@cache
def _own_signature(arch: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """Dataset paths and shapes of a .weights.h5 file written for ``arch``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"probe{OWN_SUFFIX}"
        build_model(arch).save_weights(path)
        with _h5py().File(path, "r") as h5:
            return _dataset_signature(h5)


def _dataset_signature(h5: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    found: list[tuple[str, tuple[int, ...]]] = []
    h5.visititems(lambda name, obj: found.append((name, tuple(obj.shape))) if hasattr(obj, "shape") else None)
    return tuple(sorted(found))


def inspect_weights(path: Path) -> tuple[str, bool]:
    """Return (architecture, is_legacy) of a weights file, or raise WeightsError if it fits neither."""
    try:
        return _inspect(path)
    except (RuntimeError, OSError, KeyError, ValueError) as exc:  # h5py on a damaged file
        raise WeightsError(f"{path}: damaged HDF5 file ({exc})") from None


def _inspect(path: Path) -> tuple[str, bool]:
    with open_h5(path) as h5:
        root = legacy_root(h5)
        if root is not None:
            try:
                layers = legacy_layers(root)
            except (ValueError, KeyError) as exc:
                raise WeightsError(f"{path}: not MesoNet weights ({exc})") from None
            return legacy_arch(path, layers), True
        signature = _dataset_signature(h5)
    for arch in ARCHITECTURES:
        if signature == _own_signature(arch):
            return arch, False
    raise WeightsError(f"{path}: HDF5 file whose layers fit neither Meso4 nor MesoInception4")


def check_file(path: Path, card: ModelCard | None) -> str:
    """Refuse what is not a regular file (before reading it: a pipe would block) and a file whose sha256
    differs from its model card; return the sha256."""
    path = Path(path)
    _check_regular(path)
    try:
        digest = sha256_file(path)
    except PermissionError:
        raise WeightsError(f"{path}: permission denied") from None
    _check_digest(path, digest, card)
    return digest


def reject_onnx(path: Path) -> None:
    """A WeightsError for an exported ``.onnx`` file where Keras weights are needed (TensorFlow)."""
    if path.suffix.lower() == ".onnx":
        raise WeightsError(f"{path}: an exported ONNX model holds no Keras weights: it runs on --runtime onnx "
                           "(the default) only; for TensorFlow, give the weights file it was exported from")


def load_weights(path: Path, arch: str | None = None, name: str | None = None) -> LoadedModel:
    """Load any supported weights file into a fresh network.

    ``arch`` is checked against what the file holds (inferred when None). A model card beside an
    own-format file is read, and a sha256 that differs from the card's is refused.
    """
    reject_onnx(Path(path))
    path = Path(path)
    card = card_beside(path)
    digest = sha256_file(path) if card is not None else ""
    _check_digest(path, digest, card)  # integrity first: a damaged file is not parsed
    found_arch, legacy = inspect_weights(path)
    if arch is not None and arch != found_arch:
        raise WeightsError(
            f"{path}: holds {DISPLAY_NAMES[found_arch]} weights, not {DISPLAY_NAMES[arch]} (drop --arch or fix it)"
        )
    digest = digest or sha256_file(path)
    if legacy:
        card = None
    model = build_model(found_arch)
    try:
        if legacy:
            with open_h5(path) as h5:
                _assign_legacy(model, legacy_layers(legacy_root(h5)))
        else:
            model.load_weights(path)
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        raise WeightsError(f"{path}: weights do not fit {DISPLAY_NAMES[found_arch]} ({exc})") from None
    label = name or (card.name if card and card.name else path.name)
    return LoadedModel(found_arch, label, path, digest, model, card, legacy)


def check_manipulation(manipulation: str) -> None:
    """A WeightsError for a ``--model`` that names no bundled detector (``any`` is handled by the callers)."""
    if manipulation not in MANIPULATIONS:
        raise WeightsError(f"unknown --model '{manipulation}'; choose one of {', '.join(MANIPULATIONS)}, any")


def resolve_model(arch: str | None, manipulation: str,
                  weights: Path | None) -> LoadedModel | DetectorSet | Ensemble:
    """The CLI's model selection: ``--weights PATH`` if given, else the bundled arch/manipulation file.

    ``manipulation`` ``any`` gives a :class:`mesocli.detectors.DetectorSet` of every bundled detector
    of the network instead of one :class:`LoadedModel`; ``arch`` ``ensemble`` a
    :class:`mesocli.detectors.Ensemble` of both networks' (a set of them for ``any``).
    """
    from mesocli.detectors import ANY, ENSEMBLE, bundled_set, resolve_ensemble

    if arch == ENSEMBLE:
        return resolve_ensemble(manipulation, weights, load_weights)
    if manipulation == ANY:
        if weights is not None:
            raise WeightsError(f"--model {ANY} uses the bundled detectors; it does not take --weights")
        return bundled_set(arch, load_weights)
    check_manipulation(manipulation)
    if weights is not None:
        return load_weights(weights, arch)
    arch = arch or "meso4"
    return load_weights(bundled_weights_path(arch, manipulation), arch)


def save_own(model: Any, path: Path, card: ModelCard) -> ModelCard:
    """Write weights and their model card atomically: both are written to temporary files before either
    is renamed into place, so a failed write (disk full) leaves the previous pair as it was."""
    from mesocli.fsutil import atomic_path, atomic_write_text

    path = Path(path)
    with atomic_path(path, suffix=OWN_SUFFIX) as tmp:
        model.save_weights(tmp)
        card.sha256 = sha256_file(tmp)
        card.weights_file = path.name
        atomic_write_text(card_path_for(path), card.to_json())  # then the weights, as the block ends
    return card
