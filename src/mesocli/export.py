"""Export MesoNet weights to ONNX (and, through TensorFlow, SavedModel / TFLite) with a model card inside.

The ONNX graph is :mod:`mesocli.onnx_graph`'s (no TensorFlow needed): uint8 faces ``image`` in,
``p_real`` and ``p_fake`` out. The SavedModel has the same signature; the TFLite file has one
output, ``p_fake``. The model card (source sha256, architecture, manipulation, input spec, scaling,
outputs) is stored in the ONNX ``metadata_props`` under the keys of :data:`CARD_KEYS`. Weights are
read as :func:`mesocli.weights.load_weights` reads them (:func:`read_source`), and an export can be
checked against the Keras model (:func:`verify`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.errors import MesocliError, ParameterError, UsageError, WeightsError
from mesocli.onnx_graph import (
    INPUT_NAME,
    INPUT_SPEC,
    OUTPUT_SPEC,
    SCALING,
    Arrays,
    build_onnx,
    fit_arch,
    input_spec,
)

FORMATS = ("onnx", "savedmodel", "tflite")
TFLITE_OUTPUT = "one output: p_fake, float32 (N,) = 1 - P(real)"
SUFFIXES = {".onnx": "ONNX", ".tflite": "TFLite", ".h5": "Keras weights"}  # a SavedModel is a folder: none
STREAM = "{value}: {reason}: {out} cannot be a device, named pipe or descriptor"
STREAM_REASONS = {"savedmodel": "a SavedModel is a folder",
                  "tflite": "a TFLite export writes its card beside it (FILE.tflite.json)",
                  "verify": "{verify} reads the exported file back"}
NOT_SAVEDMODEL = ("{value}: a folder that is not a SavedModel (no saved_model.pb): {force} replaces an earlier "
                  "export only, never another folder (move it, or give another {out})")
CARD_KEYS = ("mesocli_card", "source_sha256", "arch", "manipulation", "name", "input", "scaling", "output")


@dataclass
class ExportCard:
    """What an exported file was made from: stored in the file (ONNX metadata) and shown by ``mesocli export``."""

    source_sha256: str
    arch: str
    manipulation: str | None
    name: str
    source_file: str
    legacy: bool
    input: str = INPUT_SPEC
    scaling: str = SCALING
    output: str = OUTPUT_SPEC
    provenance: dict[str, Any] | None = None  # an export's: when, and with which software (export_provenance)
    # how the weights resize a face crop not 256×256 (their model card's; None: a card without it, or the authors'
    # file, whose ``legacy`` says nearest): an .onnx run as it is is fed crops so resized
    resize: str | None = None

    def metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props``: the card as JSON under ``mesocli_card``, and its main fields as keys."""
        from dataclasses import asdict

        data = asdict(self)
        for key in ("provenance", "resize"):  # a conversion for the runtime, a card without a resize: as before
            if data[key] is None:
                del data[key]
        props = {"mesocli_card": json.dumps(data, sort_keys=True)}
        props.update({key: str(data[key] or "") for key in CARD_KEYS[1:]})
        return props

    @classmethod
    def from_metadata(cls, props: dict[str, str]) -> ExportCard | None:
        """The card of an exported file, or None when it has none (not made by mesocli)."""
        try:
            raw = json.loads(props["mesocli_card"])
            return cls(**{key: raw[key] for key in cls.__dataclass_fields__ if key in raw})
        except (KeyError, ValueError, TypeError):
            return None


def onnx_bytes(arrays: Arrays, arch: str, card: ExportCard) -> bytes:
    """The serialized ONNX model of ``arch`` with ``arrays``, ``card`` inside."""
    return build_onnx(arrays, arch, card.metadata()).SerializeToString()


# --------------------------------------------------------------------------------------------------
# Reading weight arrays from the files (TensorFlow only when a file needs Keras to be read)


@dataclass
class SourceWeights:
    """A weights file checked and read: its architecture, its arrays by Keras layer name, its card."""

    path: Path
    arch: str
    legacy: bool
    sha256: str
    name: str
    manipulation: str | None
    arrays: Arrays
    resize: str | None = None  # its model card's (None: none recorded)

    def card(self, fmt: str | None = None) -> ExportCard:
        """The card of an export of these weights; with ``fmt`` (an export to that format, not a conversion for the
        runtime), its :func:`export_provenance` too. Its ``input`` names the weights' resize (nearest for the authors'
        files and weights whose card says so), as the file is fed."""
        from mesocli.preprocess import DEFAULT_RESIZE
        from mesocli.weights import AUTHORS_RESIZE

        resize = self.resize or (AUTHORS_RESIZE if self.legacy else DEFAULT_RESIZE)
        return ExportCard(self.sha256, self.arch, self.manipulation, self.name, self.path.name, self.legacy,
                          input=input_spec(resize), provenance=None if fmt is None else export_provenance(fmt),
                          resize=self.resize)


def export_provenance(fmt: str) -> dict[str, Any]:
    """Which software made an export to ``fmt``: the mesocli version and the installed versions of the libraries
    that read the weights (h5py; Keras reads an old-style file for TensorFlow formats) and write the model (onnx for
    ONNX, whose graph mesocli builds itself; TensorFlow's saver and TFLite converter for the others), read from their
    metadata. No time: two exports of the same weights by the same software are the same bytes, so an export can be
    made again and checked against another byte for byte (its date is its file's)."""
    from mesocli import __version__
    from mesocli.provenance import code_digest, library_versions

    runtime, packages = (None, ("onnx", "numpy", "h5py")) if fmt == "onnx" else ("tensorflow", ("numpy", "h5py"))
    return {"mesocli": __version__, "mesocli_code": code_digest(), "libraries": library_versions(runtime, packages)}


def _own_arrays(h5: Any) -> Arrays | None:
    """Arrays of a Keras 3 ``.weights.h5`` keyed by layer name ({} if it is none), or None when the file
    does not name its layers (Keras must read it)."""
    layers = h5.get("layers")
    if layers is None or not hasattr(layers, "values"):
        return {}
    arrays: Arrays = {}
    for group in layers.values():
        variables = group.get("vars")
        if variables is None:
            return None
        if len(variables) == 0:
            continue
        name = variables.attrs.get("name")
        if name is None:
            return None
        name = name.decode() if isinstance(name, bytes) else str(name)
        arrays[name] = [np.asarray(variables[str(i)][()]) for i in range(len(variables))]
    return arrays


def keras_arrays(model: Any) -> Arrays:
    """Arrays of a Keras model's weighted layers, keyed by layer name."""
    return {layer.name: [w.numpy() for w in layer.weights] for layer in model.layers if layer.weights}


def read_source(path: Path, arch: str | None = None, digest: str | None = None) -> SourceWeights:
    """Check and read a weights file as :func:`mesocli.weights.load_weights` does, without TensorFlow
    when the file names its layers (the authors' files and Keras >= 3.x ``.weights.h5``); other files
    are loaded through Keras."""
    from mesocli import weights as w

    path = Path(path)
    card = w.card_beside(path)
    digest = digest or w.check_file(path, card)
    legacy = False
    try:
        with w.open_h5(path) as h5:
            root = w.legacy_root(h5)
            if root is not None:
                legacy = True
                try:
                    arrays: Arrays | None = w.legacy_layers(root)
                except (ValueError, KeyError) as exc:
                    raise WeightsError(f"{path}: not MesoNet weights ({exc})") from None
            else:
                arrays = _own_arrays(h5)
    except (RuntimeError, OSError, KeyError, ValueError) as exc:  # h5py on a damaged file
        raise WeightsError(f"{path}: damaged HDF5 file ({exc})") from None
    if arrays is None:  # an older Keras 3 file that does not name its layers: let Keras read it
        loaded = w.load_weights(path, arch)
        arrays = keras_arrays(loaded.model)
    found = fit_arch(arrays)
    if found is None:
        if legacy:
            raise WeightsError(f"{path}: weights do not fit {w.DISPLAY_NAMES[w.legacy_arch(path, arrays)]}")
        raise WeightsError(f"{path}: HDF5 file whose layers fit neither Meso4 nor MesoInception4")
    if arch is not None and arch != found:
        raise WeightsError(
            f"{path}: holds {w.DISPLAY_NAMES[found]} weights, not {w.DISPLAY_NAMES[arch]} (drop --arch or fix it)"
        )
    if legacy:
        card = None
    name = card.name if card and card.name else path.name
    return SourceWeights(path, found, legacy, digest, name, card.manipulation if card else None, arrays,
                         card.resize if card else None)


# --------------------------------------------------------------------------------------------------
# Files


def default_output(source: Path, fmt: str) -> Path:
    """``meso4_df.weights.h5`` -> ``meso4_df.onnx`` (``.tflite``, ``_savedmodel/``) beside it."""
    from mesocli.weights import OWN_SUFFIX

    name = source.name
    stem = name[: -len(OWN_SUFFIX)] if name.endswith(OWN_SUFFIX) else source.stem
    suffix = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel"}[fmt]
    return source.with_name(stem + suffix)


def tflite_card_path(target: Path) -> Path:
    """The model card written beside a TFLite file: ``<target>.json``."""
    return Path(str(target) + ".json")


def check_target(target: Path, fmt: str) -> None:
    """Refuse a ``target`` named with another format's extension (a TFLite file called ``y.onnx``)."""
    suffix = Path(target).suffix.lower()
    named = SUFFIXES.get(suffix)
    if named is not None and suffix != f".{fmt}":
        raise ParameterError("{value}: {suffix} is the extension of {named} files, not of {fmt} {kind} "
                             "(change {fmt} or the name)", value=target, suffix=suffix, named=named, kind=fmt)


def is_savedmodel(path: Path) -> bool:
    """Whether ``path`` is a SavedModel folder (an earlier export, which ``--force`` may replace): a folder, not
    a link to one, holding ``saved_model.pb``."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (path / "saved_model.pb").is_file()


def refuse_an_export(source: Path) -> None:
    """A WeightsError for an export (``.onnx``, ``.tflite``, a SavedModel folder) given to export as its source:
    export takes a weights file. An ONNX export beside the weights' card was said to be corrupted or replaced (its
    sha256 is not the weights'); the weights file it was exported from, when it lies beside it, is named."""
    from mesocli.weights import OWN_SUFFIX

    kind = ("a SavedModel" if is_savedmodel(source) else
            {".onnx": "an ONNX", ".tflite": "a TFLite"}.get(source.suffix.lower()) if source.is_file() else None)
    if kind is None:
        return
    stem = source.name[: -len("_savedmodel")] if source.name.endswith("_savedmodel") else source.stem
    beside = [path for path in (source.with_name(stem + OWN_SUFFIX), source.with_name(stem + ".h5")) if path.is_file()]
    hint = f" (give {beside[0]})" if beside else ""
    raise WeightsError(f"{source}: already {kind} export, not a weights file: export takes a weights file "
                       f"(.weights.h5, or the authors' .h5){hint}")


def plan_exports(sources: Sequence[Path], fmt: str, out: str | os.PathLike[str] | None, force: bool,
                 verify: bool = False) -> list[tuple[Path, Path]]:
    """(source, target) of each export: beside the source, or ``out`` (a file for one source, a folder for
    several or when it ends with ``/``); a source given twice is exported once. Checked before any work:
    an existing output (and a TFLite file's card) is refused without ``force``, and so are a source or its
    model card as an output (with ``force`` too), two sources
    that would be written to one path, a target named with another format's extension, a folder that is not a
    SavedModel where one goes (``out`` naming an earlier SavedModel is replaced, not written into), and a stream
    (``/dev/stdout``, a pipe) where a folder, a card beside the file or, with ``verify``, a file to read back
    is needed: only an ONNX file goes into a stream."""
    from mesocli.fsutil import check_writable, is_stream
    from mesocli.weights import card_path_for
    from mesocli.writers import refuse_existing, refuse_inputs_as_outputs

    as_folder = out is not None and (len(sources) > 1 or os.fspath(out).endswith(("/", os.sep)))
    folder = None if out is None else Path(out)
    if folder is not None and as_folder and folder.exists() and not folder.is_dir():
        raise ParameterError("{value}: {out} must be a folder (it ends with '/', or several files are exported)",
                             value=out)
    jobs: list[tuple[Path, Path]] = []
    taken: dict[Path, Path] = {}
    firsts: dict[Path, Path] = {}
    for source in map(Path, sources):
        firsts.setdefault(source.resolve(), source)
    read = [path for source in firsts.values() for path in (source, card_path_for(source))]  # --force or not
    for source in firsts.values():
        target = default_output(source, fmt)
        if folder is not None:
            inside = as_folder or (folder.is_dir() and not (fmt == "savedmodel" and is_savedmodel(folder)))
            target = folder / target.name if inside else folder  # an earlier SavedModel named: the target
        check_target(target, fmt)
        refuse_inputs_as_outputs(read, [target, *([tflite_card_path(target)] if fmt == "tflite" else [])])
        if fmt == "savedmodel" and target.is_dir() and not target.is_symlink():
            if not is_savedmodel(target):
                raise ParameterError(NOT_SAVEDMODEL, value=target)
            if source.resolve().is_relative_to(target.resolve()):  # replacing the folder would delete it
                raise ParameterError("{value}: an output cannot be one of the inputs ({source} lies inside it)",
                                     value=target, source=source)
        if is_stream(target) and (fmt != "onnx" or verify):
            reason = STREAM_REASONS["verify" if fmt == "onnx" else fmt]
            raise ParameterError(STREAM.replace("{reason}", reason), value=target)
        key = target.resolve()
        if key in taken:
            raise ParameterError("{value}: {first} and {second} would both be exported there (export them one "
                                 "at a time, each with its own {out})", value=target, first=taken[key], second=source)
        taken[key] = source
        for path in (target, tflite_card_path(target)) if fmt == "tflite" else (target,):
            refuse_existing(path, force)
        check_writable(target)  # before the work (a TensorFlow conversion takes seconds), naming the target
        jobs.append((source, target))
    return jobs


def write_onnx(source: SourceWeights, target: Path, *, replace: bool = True, stamp: bool = True) -> Path:
    """Write ``source`` as ONNX to ``target`` atomically (``replace``: as :func:`mesocli.fsutil.atomic_path`)."""
    from mesocli.fsutil import atomic_path

    data = onnx_bytes(source.arrays, source.arch, source.card("onnx" if stamp else None))
    with atomic_path(Path(target), suffix=".onnx", replace=replace) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def onnx_card(path: Path) -> ExportCard | None:
    """The card inside an ONNX file made by mesocli (None if it has none or is unreadable)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # any unreadable file is simply "no card"
        return None
    return ExportCard.from_metadata({p.key: p.value for p in model.metadata_props})


def _tf_module(source: SourceWeights) -> tuple[Any, Any]:
    """A tf.Module whose ``serve`` takes uint8 faces and returns p_real and p_fake, as the ONNX graph."""
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model

    tf = import_tensorflow()
    model = build_model(source.arch)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.arrays[layer.name])

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.uint8, name=INPUT_NAME)])
        def serve(self, image: Any) -> dict[str, Any]:
            p_real = self.model(tf.cast(image, tf.float32) / 255.0, training=False)[:, 0]
            return {"p_real": p_real, "p_fake": 1.0 - p_real}

    return tf, Serving()


def write_savedmodel(source: SourceWeights, target: Path, *, replace: bool = True, stamp: bool = True) -> Path:
    """A TensorFlow SavedModel folder (signature ``serving_default``) with the card as ``mesocli_card.json``;
    an existing SavedModel folder (or a file or link in its place) is replaced only with ``replace``, never
    another folder."""
    import shutil
    import tempfile

    from mesocli._tf import quiet
    from mesocli.fsutil import APPEARED, folder_mode, is_stream, make_folders, no_world_write, output_errors

    tf, module = _tf_module(source)
    target = Path(target)
    with output_errors(target):
        make_folders(target.parent)  # not writable by others under umask 000, as every output's folders
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, folder_mode())  # as its files (and mkdir) have it, not mkdtemp's owner-only 0o700
        with quiet():
            tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        (tmp / "assets").mkdir(exist_ok=True)
        card = source.card("savedmodel" if stamp else None)
        (tmp / "assets" / "mesocli_card.json").write_text(json.dumps(card.metadata(), indent=2))
        no_world_write(tmp)  # what TensorFlow wrote by the umask: not writable by others under umask 000
        if target.exists() and not replace:  # another run wrote it meanwhile: keep this one beside it
            kept = next(path for n in itertools.count(2)
                        if not (path := target.with_name(f"{target.name}-{n}")).exists())
            tmp.rename(kept)
            raise ParameterError(APPEARED, value=target, kept=kept)
        if is_stream(target):  # never replace a device (/dev/null) or a pipe: plan_exports refuses them first
            raise ParameterError(STREAM, value=target, reason=STREAM_REASONS["savedmodel"])
        if target.is_dir() and not target.is_symlink():
            if not is_savedmodel(target):  # a folder that appeared meanwhile: plan_exports refuses others first
                raise ParameterError(NOT_SAVEDMODEL, value=target)
            shutil.rmtree(target)
        elif target.is_symlink() or target.is_file():  # a file where the folder goes: --force replaces it too
            target.unlink()
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_tflite(source: SourceWeights, target: Path, *, replace: bool = True, stamp: bool = True) -> Path:
    """A TFLite (LiteRT) flatbuffer, float32, variables frozen: input ``image`` uint8 (N, 256, 256, 3), one
    output, p_fake (N,). The card goes into ``<target>.json`` beside it (``replace``: as
    :func:`mesocli.fsutil.atomic_path`)."""
    import dataclasses

    from mesocli._tf import quiet
    from mesocli.fsutil import atomic_path

    tf, module = _tf_module(source)  # imports TensorFlow quietly, before its converter modules
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    @tf.function(input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.uint8, name=INPUT_NAME)])
    def p_fake(image: Any) -> Any:
        return module.serve(image)["p_fake"]

    with quiet():  # the converter's C++ logs and absl deprecation warnings
        # a converter given the live variables keeps them as uninitialised resources (NaN out): freeze first
        frozen = convert_variables_to_constants_v2(p_fake.get_concrete_function())
        data = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    card = dataclasses.replace(source.card("tflite" if stamp else None), output=TFLITE_OUTPUT)
    target = Path(target)
    existed, placed = os.path.lexists(target), False
    try:  # the card is put in place last: a TFLite file is never left without its card
        with atomic_path(tflite_card_path(target), replace=replace) as card_tmp:
            card_tmp.write_text(json.dumps(card.metadata(), indent=2) + "\n", encoding="utf-8")
            with atomic_path(target, suffix=".tflite", replace=replace) as tmp:
                tmp.write_bytes(data)
            placed = True
    except BaseException:
        if placed and not existed:
            with contextlib.suppress(OSError):
                target.unlink()
        raise
    return target


def export(source: SourceWeights, target: Path, fmt: str = "onnx", *, replace: bool = True,
           stamp: bool = True) -> Path:
    """Write ``source`` to ``target`` in ``fmt`` (onnx, savedmodel or tflite), replacing an existing output
    only with ``replace``; its card holds :func:`export_provenance` unless not ``stamp`` (the bundled exports, which
    are rebuilt byte for byte from their weights: their weights' model card records the run)."""
    writers = {"onnx": write_onnx, "savedmodel": write_savedmodel, "tflite": write_tflite}
    if fmt not in writers:
        raise UsageError(f"unknown --format '{fmt}'; choose one of {', '.join(FORMATS)}")
    check_target(target, fmt)
    return writers[fmt](source, target, replace=replace, stamp=stamp)


# --------------------------------------------------------------------------------------------------
# Bundled files and verification


@dataclass
class BundledState:
    """One bundled ``.weights.h5`` and its ONNX export: ``fresh`` when the export's card names the weights'
    sha256, the model card the export's, and the export's card is the one this mesocli writes (its input
    description, its resize: an earlier mesocli's may say otherwise)."""

    weights: Path
    onnx: Path
    sha256: str
    fresh: bool


def bundled_states() -> list[BundledState]:
    """Every bundled weights file (found through the model cards in the bundled folder) and its export's state."""
    from mesocli.digest import sha256_file
    from mesocli.weights import bundled_cards, bundled_dir

    states = []
    for card in bundled_cards():
        weights = bundled_dir() / card.weights_file
        target = default_output(weights, "onnx")
        found = onnx_card(target) if target.is_file() else None
        fresh = (found is not None and found.source_sha256 == card.sha256
                 and card.onnx_sha256 == sha256_file(target) and _card_as_written(found, weights))
        states.append(BundledState(weights, target, card.sha256, fresh))
    return states


def _card_as_written(found: ExportCard, weights: Path) -> bool:
    """Whether ``found`` (a bundled export's card) is the card this mesocli writes into an export of ``weights``
    (provenance aside: a bundled export has none); False when ``weights`` cannot be read."""
    from dataclasses import asdict

    try:
        expected = read_source(weights).card()
    except MesocliError:  # missing or unreadable: ``export --bundled`` says why
        return False
    return {**asdict(found), "provenance": None} == asdict(expected)


def rebuilds_bundled(source: Path, target: Path | str, fmt: str) -> bool:
    """Whether exporting ``source`` to ``target`` in ``fmt`` rebuilds a bundled export: a bundled weights file to
    the ONNX file beside it (``mesocli export weights/meso4_df.weights.h5 --force``), as ``--bundled`` writes it."""
    from mesocli.weights import bundled_cards, bundled_dir

    if fmt != "onnx" or not isinstance(target, str | os.PathLike):
        return False
    source = Path(os.path.realpath(source))
    if Path(os.path.realpath(target)) != default_output(source, "onnx"):
        return False
    return (source.parent == Path(os.path.realpath(bundled_dir()))
            and any(card.weights_file == source.name for card in bundled_cards()))


def record_bundled_export(weights: Path, onnx: Path) -> None:
    """Write the sha256 of a bundled weights file's ONNX export into its model card (scan runs it only then)."""
    from mesocli.digest import sha256_file
    from mesocli.fsutil import atomic_write_text
    from mesocli.weights import ModelCard, card_path_for

    card_file = card_path_for(weights)
    card = ModelCard.from_json(card_file)
    card.onnx_sha256 = sha256_file(onnx)
    atomic_write_text(card_file, card.to_json())


VERIFY_CELLS = (3, 4, 6, 8, 12, 16, 24, 32)  # coarse random colour fields, one face each


def verification_faces(seed: int = 0) -> np.ndarray:
    """The faces ``--verify`` compares on: (8, 256, 256, 3) uint8, random colours on a coarse grid (3×3 to
    32×32 cells) smoothed to 256×256 (bicubic).

    Not white noise: on it the networks' outputs saturate (the bundled MesoInception4 df gives p_fake 0 for
    every such face), and an export that feeds 0–255 pixels or BGR gave the same 0 and passed. On these the
    bundled networks' scores lie away from 0 and 1 and move when the scaling or the channel order is wrong
    (tests/test_runtime.py)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    cells = [rng.integers(0, 256, (n, n, 3), dtype=np.uint8) for n in VERIFY_CELLS]
    return np.stack([np.asarray(Image.fromarray(c).resize((256, 256), Image.BICUBIC)) for c in cells])


def verify(source: SourceWeights, target: Path, fmt: str, faces: np.ndarray | None = None) -> float:
    """Max abs difference of p_fake between the exported file and the Keras model (imports TensorFlow), on
    ``faces`` (default :func:`verification_faces`)."""
    from mesocli._tf import quiet

    if faces is None:
        faces = verification_faces()
    tf, module = _tf_module(source)
    keras = module.model(faces.astype(np.float32) / 255.0, training=False).numpy()[:, 0].astype(np.float64)
    if fmt == "onnx":
        from mesocli.runtime import OnnxPredictor

        got = OnnxPredictor(Path(target)).p_fake(faces)
    elif fmt == "savedmodel":
        with quiet():
            serve = tf.saved_model.load(str(target)).signatures["serving_default"]
            got = serve(image=tf.constant(faces))["p_fake"].numpy().astype(np.float64)
    else:
        with quiet():  # the interpreter's deprecation warning and XNNPACK line
            interpreter = tf.lite.Interpreter(model_path=str(target))
            (entry,) = interpreter.get_input_details()
            interpreter.resize_tensor_input(entry["index"], list(faces.shape))
            interpreter.allocate_tensors()
            interpreter.set_tensor(entry["index"], faces)
            interpreter.invoke()
            (exit_,) = interpreter.get_output_details()
            got = interpreter.get_tensor(exit_["index"]).astype(np.float64)
    return float(np.max(np.abs(got - (1.0 - keras))))
