"""Export MesoNet weights to ONNX (and, through TensorFlow, SavedModel / TFLite) with a model card inside.

The ONNX graph is built directly from the layers' weight arrays with the ``onnx`` helper API, layer
for layer as :mod:`mesocli.models` (no TensorFlow needed). It takes what
:class:`mesocli.predictor.Predictor` takes and gives what it gives:

- input ``image``: uint8, shape (N, 256, 256, 3), RGB, NHWC — face crops as
  :func:`mesocli.preprocess.face_to_uint8` makes them; the division by 255 is inside the graph;
- outputs ``p_real`` (the network's sigmoid, float32, shape (N,)) and ``p_fake`` = 1 − ``p_real``.

The model card (source sha256, architecture, manipulation, input spec, scaling, outputs) is stored
in the ONNX ``metadata_props`` under the keys of :data:`CARD_KEYS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mesocli.errors import UsageError, WeightsError

OPSET = 17
BN_EPSILON = 1e-3  # Keras' (and Keras 2.1.5's) BatchNormalization default
INPUT_NAME = "image"
OUTPUTS = ("p_real", "p_fake")
FORMATS = ("onnx", "savedmodel", "tflite")
INPUT_SPEC = "image: uint8 (N, 256, 256, 3), RGB, NHWC; 256x256 face crops (Pillow bilinear resize)"
SCALING = "inside the graph: float32(image) / 255"
OUTPUT_SPEC = "p_real: float32 (N,), the network's sigmoid = P(real); p_fake: float32 (N,) = 1 - p_real"
TFLITE_OUTPUT = "one output: p_fake, float32 (N,) = 1 - P(real)"
CARD_KEYS = ("mesocli_card", "source_sha256", "arch", "manipulation", "name", "input", "scaling", "output")

Arrays = dict[str, list[np.ndarray]]


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

    def metadata(self) -> dict[str, str]:
        """ONNX ``metadata_props``: the card as JSON under ``mesocli_card``, and its main fields as keys."""
        from dataclasses import asdict

        data = asdict(self)
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


# --------------------------------------------------------------------------------------------------
# The graph, layer for layer as mesocli.models


class _Graph:
    """Builds the ONNX graph in NCHW; ``take(name, shapes)`` hands out each Keras layer's weight arrays."""

    def __init__(self, take: Callable[[str, list[tuple[int, ...]]], list[np.ndarray]]) -> None:
        self.take = take
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.counts: dict[str, int] = {}
        self._tensor = 0

    def _name(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}_{self.counts[kind]}"

    def _out(self, prefix: str) -> str:
        self._tensor += 1
        return f"{prefix}_{self._tensor}"

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], prefix: str, **attrs: Any) -> str:
        from onnx import helper

        out = self._out(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, filters: int, kernel: int, dilation: int = 1) -> str:
        """Keras Conv2D(padding='same', activation='relu'); kernel (kh, kw, in, out) -> ONNX (out, in, kh, kw)."""
        name = self._name("conv2d")
        w, b = self.take(name, [(kernel, kernel, cin, filters), (filters,)])
        pad = dilation * (kernel - 1) // 2
        y = self.node(
            "Conv",
            [x, self.const(f"{name}/kernel", w.transpose(3, 2, 0, 1).astype(np.float32)),
             self.const(f"{name}/bias", b.astype(np.float32))],
            name, kernel_shape=[kernel, kernel], dilations=[dilation, dilation], pads=[pad] * 4, strides=[1, 1],
        )
        return self.node("Relu", [y], f"{name}_relu")

    def batch_norm(self, x: str, channels: int) -> str:
        name = self._name("batch_normalization")
        gamma, beta, mean, var = self.take(name, [(channels,)] * 4)
        parts = zip(("gamma", "beta", "mean", "variance"), (gamma, beta, mean, var), strict=True)
        inputs = [x] + [self.const(f"{name}/{part}", a.astype(np.float32)) for part, a in parts]
        return self.node("BatchNormalization", inputs, name, epsilon=BN_EPSILON)

    def max_pool(self, x: str, size: int, spatial: int) -> tuple[str, int]:
        if spatial % size:  # Keras 'same' pooling pads only when the size does not divide
            raise ValueError(f"pooling {size} on {spatial} pixels needs padding")
        return self.node("MaxPool", [x], "max_pool", kernel_shape=[size, size], strides=[size, size]), spatial // size

    def dense(self, x: str, units_in: int, units: int) -> str:
        name = self._name("dense")
        w, b = self.take(name, [(units_in, units), (units,)])
        return self.node("Gemm", [x, self.const(f"{name}/kernel", w.astype(np.float32)),
                                  self.const(f"{name}/bias", b.astype(np.float32))], name)


def _conv_block(g: _Graph, x: str, cin: int, spatial: int, filters: int, kernel: int, pool: int) -> tuple[str, int]:
    x = g.batch_norm(g.conv(x, cin, filters, kernel), filters)
    return g.max_pool(x, pool, spatial)


def _inception_block(g: _Graph, x: str, cin: int, spatial: int, a: int, b: int, c: int, d: int) -> tuple[str, int]:
    x1 = g.conv(x, cin, a, 1)
    x2 = g.conv(g.conv(x, cin, b, 1), b, b, 3)
    x3 = g.conv(g.conv(x, cin, c, 1), c, c, 3, dilation=2)
    x4 = g.conv(g.conv(x, cin, d, 1), d, d, 3, dilation=3)
    y = g.node("Concat", [x1, x2, x3, x4], "concat", axis=1)  # Keras axis -1 (NHWC) is ONNX axis 1 (NCHW)
    y = g.batch_norm(y, a + b + c + d)
    return g.max_pool(y, 2, spatial)


def _network(g: _Graph, arch: str) -> tuple[str, str]:
    """Add the whole network to ``g``; return the names of the P(real) and p_fake outputs."""
    x = g.node("Cast", [INPUT_NAME], "as_float", to=1)  # FLOAT
    x = g.node("Div", [x, g.const("scale_255", np.array(255.0, np.float32))], "scaled")  # as the Predictor
    x = g.node("Transpose", [x], "nchw", perm=[0, 3, 1, 2])
    if arch == "meso4":
        x, s = _conv_block(g, x, 3, 256, 8, 3, 2)
        x, s = _conv_block(g, x, 8, s, 8, 5, 2)
    elif arch == "mesoinception4":
        x, s = _inception_block(g, x, 3, 256, 1, 4, 4, 2)
        x, s = _inception_block(g, x, 11, s, 2, 4, 4, 2)
    else:
        raise ValueError(f"unknown architecture {arch!r}")
    x, s = _conv_block(g, x, 8 if arch == "meso4" else 12, s, 16, 5, 2)
    x, s = _conv_block(g, x, 16, s, 16, 5, 4)
    x = g.node("Transpose", [x], "nhwc", perm=[0, 2, 3, 1])  # Keras flattens (H, W, C)
    x = g.node("Flatten", [x], "flatten", axis=1)
    x = g.node("LeakyRelu", [g.dense(x, s * s * 16, 16)], "leaky_relu", alpha=0.1)  # dropout: identity
    x = g.node("Sigmoid", [g.dense(x, 16, 1)], "sigmoid")
    from onnx import helper

    shape = g.const("flat_shape", np.array([-1], np.int64))
    g.nodes.append(helper.make_node("Reshape", [x, shape], [OUTPUTS[0]], name=OUTPUTS[0]))
    one = g.const("one", np.array(1.0, np.float32))
    g.nodes.append(helper.make_node("Sub", [one, OUTPUTS[0]], [OUTPUTS[1]], name=OUTPUTS[1]))
    return OUTPUTS


def expected_layers(arch: str) -> dict[str, list[tuple[int, ...]]]:
    """The weighted Keras layers of ``arch`` (``conv2d_1``, …) and the shapes of their arrays."""
    found: dict[str, list[tuple[int, ...]]] = {}

    def record(name: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        found[name] = shapes
        return [np.zeros(shape, np.float32) for shape in shapes]

    _network(_Graph(record), arch)
    return found


def fit_arch(arrays: Arrays) -> str | None:
    """The architecture whose layers and shapes ``arrays`` has exactly, or None."""
    shapes = {name: [tuple(a.shape) for a in values] for name, values in arrays.items()}
    for arch in ("meso4", "mesoinception4"):
        if shapes == expected_layers(arch):
            return arch
    return None


def build_onnx(arrays: Arrays, arch: str, card: ExportCard) -> Any:
    """The ONNX ``ModelProto`` of ``arch`` with ``arrays`` (Keras layer name -> weight arrays)."""
    import onnx
    from onnx import TensorProto, helper

    from mesocli import __version__

    def take(name: str, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        values = arrays.get(name)
        if values is None or [tuple(a.shape) for a in values] != shapes:
            got = None if values is None else [tuple(a.shape) for a in values]
            raise ValueError(f"layer {name}: shapes {got} do not fit {arch} ({shapes})")
        return values

    g = _Graph(take)
    _network(g, arch)
    graph = helper.make_graph(
        g.nodes,
        f"mesocli_{arch}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["N", 256, 256, 3])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N"]) for name in OUTPUTS],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="mesocli", producer_version=__version__)
    model.ir_version = 8  # readable by ONNX Runtime >= 1.14
    model.doc_string = f"MesoNet {arch}: uint8 faces in, p_real and p_fake out. {SCALING}."
    helper.set_model_props(model, card.metadata())
    onnx.checker.check_model(model)
    return model


def onnx_bytes(arrays: Arrays, arch: str, card: ExportCard) -> bytes:
    return build_onnx(arrays, arch, card).SerializeToString()


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

    def card(self) -> ExportCard:
        return ExportCard(self.sha256, self.arch, self.manipulation, self.name, self.path.name, self.legacy)


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
    card = w.ModelCard.from_json(w.card_path_for(path)) if path.is_file() and w.card_path_for(path).is_file() else None
    digest = digest or w.check_file(path, card)
    legacy = False
    try:
        with w._open_h5(path) as h5:
            root = w._legacy_root(h5)
            if root is not None:
                legacy = True
                try:
                    arrays: Arrays | None = w._legacy_layers(root)
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
            convs = sum(1 for name in arrays if name.startswith("conv2d_"))
            if convs not in (4, 16):
                raise WeightsError(f"{path}: {convs} convolution layers fit neither Meso4 (4) nor MesoInception4 (16)")
            network = w.DISPLAY_NAMES["meso4" if convs == 4 else "mesoinception4"]
            raise WeightsError(f"{path}: weights do not fit {network}")
        raise WeightsError(f"{path}: HDF5 file whose layers fit neither Meso4 nor MesoInception4")
    if arch is not None and arch != found:
        raise WeightsError(
            f"{path}: holds {w.DISPLAY_NAMES[found]} weights, not {w.DISPLAY_NAMES[arch]} (drop --arch or fix it)"
        )
    if legacy:
        card = None
    name = card.name if card and card.name else path.name
    return SourceWeights(path, found, legacy, digest, name, card.manipulation if card else None, arrays)


# --------------------------------------------------------------------------------------------------
# Files


def default_output(source: Path, fmt: str) -> Path:
    """``meso4_df.weights.h5`` -> ``meso4_df.onnx`` (``.tflite``, ``_savedmodel/``) beside it."""
    from mesocli.weights import OWN_SUFFIX

    name = source.name
    stem = name[: -len(OWN_SUFFIX)] if name.endswith(OWN_SUFFIX) else source.stem
    suffix = {"onnx": ".onnx", "tflite": ".tflite", "savedmodel": "_savedmodel"}[fmt]
    return source.with_name(stem + suffix)


def write_onnx(source: SourceWeights, target: Path) -> Path:
    """Write ``source`` as ONNX to ``target`` atomically."""
    from mesocli.fsutil import atomic_path

    data = onnx_bytes(source.arrays, source.arch, source.card())
    with atomic_path(Path(target), suffix=".onnx") as tmp:
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


def write_savedmodel(source: SourceWeights, target: Path) -> Path:
    """A TensorFlow SavedModel folder (signature ``serving_default``) with the card as ``mesocli_card.json``."""
    import shutil
    import tempfile

    tf, module = _tf_module(source)
    target = Path(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve})
        (tmp / "assets").mkdir(exist_ok=True)
        (tmp / "assets" / "mesocli_card.json").write_text(json.dumps(source.card().metadata(), indent=2))
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_tflite(source: SourceWeights, target: Path) -> Path:
    """A TFLite (LiteRT) flatbuffer, float32, variables frozen: input ``image`` uint8 (N, 256, 256, 3), one
    output, p_fake (N,). The card goes into ``<target>.json`` beside it."""
    from dataclasses import replace

    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from mesocli.fsutil import atomic_path, atomic_write_text

    tf, module = _tf_module(source)

    @tf.function(input_signature=[tf.TensorSpec([None, 256, 256, 3], tf.uint8, name=INPUT_NAME)])
    def p_fake(image: Any) -> Any:
        return module.serve(image)["p_fake"]

    # a converter given the live variables keeps them as uninitialised resources (NaN out): freeze first
    frozen = convert_variables_to_constants_v2(p_fake.get_concrete_function())
    data = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()
    with atomic_path(Path(target), suffix=".tflite") as tmp:
        tmp.write_bytes(data)
    card = replace(source.card(), output=TFLITE_OUTPUT)
    atomic_write_text(Path(str(target) + ".json"), json.dumps(card.metadata(), indent=2) + "\n")
    return Path(target)


def export(source: SourceWeights, target: Path, fmt: str = "onnx") -> Path:
    """Write ``source`` to ``target`` in ``fmt`` (onnx, savedmodel or tflite)."""
    writers = {"onnx": write_onnx, "savedmodel": write_savedmodel, "tflite": write_tflite}
    if fmt not in writers:
        raise UsageError(f"unknown --format '{fmt}'; choose one of {', '.join(FORMATS)}")
    return writers[fmt](source, target)


# --------------------------------------------------------------------------------------------------
# Bundled files and verification


@dataclass
class BundledState:
    """One bundled ``.weights.h5`` and its ONNX export: ``fresh`` when the export's card names its sha256."""

    weights: Path
    onnx: Path
    sha256: str
    fresh: bool


def bundled_states() -> list[BundledState]:
    """Every bundled weights file (found through the model cards in the bundled folder) and its export's state."""
    from mesocli.weights import bundled_cards, bundled_dir

    states = []
    for card in bundled_cards():
        weights = bundled_dir() / card.weights_file
        target = default_output(weights, "onnx")
        found = onnx_card(target) if target.is_file() else None
        fresh = found is not None and found.source_sha256 == card.sha256
        states.append(BundledState(weights, target, card.sha256, fresh))
    return states


def verify(source: SourceWeights, target: Path, fmt: str, faces: np.ndarray | None = None) -> float:
    """Max abs difference of p_fake between the exported file and the Keras model (imports TensorFlow)."""
    if faces is None:
        faces = np.random.default_rng(0).integers(0, 256, (8, 256, 256, 3), dtype=np.uint8)
    tf, module = _tf_module(source)
    keras = module.model(faces.astype(np.float32) / 255.0, training=False).numpy()[:, 0].astype(np.float64)
    if fmt == "onnx":
        from mesocli.runtime import OnnxPredictor

        got = OnnxPredictor(Path(target)).p_fake(faces)
    elif fmt == "savedmodel":
        serve = tf.saved_model.load(str(target)).signatures["serving_default"]
        got = serve(image=tf.constant(faces))["p_fake"].numpy().astype(np.float64)
    else:
        interpreter = tf.lite.Interpreter(model_path=str(target))
        (entry,) = interpreter.get_input_details()
        interpreter.resize_tensor_input(entry["index"], list(faces.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(entry["index"], faces)
        interpreter.invoke()
        (exit_,) = interpreter.get_output_details()
        got = interpreter.get_tensor(exit_["index"]).astype(np.float64)
    return float(np.max(np.abs(got - (1.0 - keras))))
