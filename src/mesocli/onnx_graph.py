"""The MesoNet networks as ONNX graphs, built from the layers' weight arrays with the ``onnx`` helper API,
layer for layer as :mod:`mesocli.models` (no TensorFlow needed).

A graph takes what :class:`mesocli.predictor.Predictor` takes and gives what it gives:

- input ``image``: uint8, shape (N, 256, 256, 3), RGB, NHWC — face crops as
  :func:`mesocli.preprocess.face_to_uint8` makes them; the division by 255 is inside the graph;
- outputs ``p_real`` (the network's sigmoid, float32, shape (N,)) and ``p_fake`` = 1 − ``p_real``.

The same construction, fed zeros, lists the layers and shapes each architecture has
(:func:`expected_layers`), which tells which network a set of arrays fits (:func:`fit_arch`).

:func:`read_head` reads the network after its last convolution back from a graph's bytes, without the ``onnx``
package (heatmaps: :class:`mesocli.explain.OnnxGradCam`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

OPSET = 17
BN_EPSILON = 1e-3  # Keras' (and Keras 2.1.5's) BatchNormalization default
INPUT_NAME = "image"
OUTPUTS = ("p_real", "p_fake")
def input_spec(resize: str) -> str:
    """The input description of an export whose weights read a face crop not 256x256 resized by ``resize`` (the
    weights' own: :func:`mesocli.weights.resize_of`)."""
    return f"image: uint8 (N, 256, 256, 3), RGB, NHWC; 256x256 face crops (Pillow {resize} resize)"


INPUT_SPEC = input_spec("bilinear")
SCALING = "inside the graph: float32(image) / 255"
OUTPUT_SPEC = "p_real: float32 (N,), the network's sigmoid = P(real); p_fake: float32 (N,) = 1 - p_real"

Arrays = dict[str, list[np.ndarray]]


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


def build_onnx(arrays: Arrays, arch: str, metadata: dict[str, str]) -> Any:
    """The ONNX ``ModelProto`` of ``arch`` with ``arrays`` (Keras layer name -> weight arrays), ``metadata``
    as its ``metadata_props``."""
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
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


@dataclass
class Head:
    """The network after its last convolution, read from a graph (:func:`read_head`): what
    :class:`mesocli.explain.OnnxGradCam` runs forward and backward in NumPy."""

    activations: str  # the name of the last convolution's output (after its ReLU): Grad-CAM's A
    is_output: bool  # whether ``activations`` is already an output of the graph
    scale: np.ndarray  # the batch norm as a scale and a shift per channel
    shift: np.ndarray
    pool: int  # the max-pooling's window (and stride)
    w1: np.ndarray  # dense 16: (inputs, 16) weights and bias
    b1: np.ndarray
    alpha: np.float32  # the leaky ReLU's slope
    w2: np.ndarray  # dense 1: (16,) weights and bias
    b2: np.float32


def read_head(model: bytes, name: str) -> Head:
    """The head of a serialized ONNX model (batch norm, max-pooling, transpose, flatten, dense, leaky ReLU, dense
    after the last convolution's ReLU), read without the ``onnx`` package (:mod:`mesocli.onnx_proto`). Weights as
    initializers or Constant nodes, dense layers as ``Gemm`` with or without ``transB`` are read alike.

    Raises ValueError (``name: not a MesoNet graph (why)``) for a graph that does not end in that head."""
    from mesocli.onnx_proto import read_graph

    try:
        graph = read_graph(model)
    except ValueError as exc:
        raise ValueError(f"{name}: not a MesoNet graph ({exc})") from None
    made = {out: node for node in graph.nodes for out in node.output}
    used: dict[str, list[Any]] = {}
    for node in graph.nodes:
        for name_in in node.input:
            used.setdefault(name_in, []).append(node)
    consts = dict(graph.initializers)
    consts.update((node.output[0], node.attribute["value"]) for node in graph.nodes  # weights as Constant nodes
                  if node.op_type == "Constant" and node.output and list(node.attribute) == ["value"]
                  and isinstance(node.attribute["value"], np.ndarray))

    def before(node: Any, op: str) -> Any:
        found = made.get(node.input[0]) if node.input else None
        if found is None or found.op_type != op:
            raise ValueError(f"{name}: not a MesoNet graph (no {op} before {node.op_type})")
        return found

    def after(node: Any, op: str) -> Any:
        found = [n for n in used.get(node.output[0], []) if n.op_type == op] if node.output else []
        if len(found) != 1:
            raise ValueError(f"{name}: not a MesoNet graph (no {op} after {node.op_type})")
        return found[0]

    def array(tensor: str) -> np.ndarray:
        if tensor not in consts:
            raise ValueError(f"{name}: not a MesoNet graph ({tensor} is computed, not a constant)")
        return consts[tensor].astype(np.float32)

    def gemm(node: Any) -> tuple[np.ndarray, np.ndarray]:
        """A dense layer's (inputs, outputs) weights and its bias, as ``Gemm`` computes with its attributes."""
        if node.attribute.get("transA", 0) or len(node.input) < 3:
            raise ValueError(f"{name}: not a MesoNet graph (a Gemm of another form)")
        weights = array(node.input[1]) * np.float32(node.attribute.get("alpha", 1.0))
        bias = array(node.input[2]) * np.float32(node.attribute.get("beta", 1.0))
        return (weights.T if node.attribute.get("transB", 0) else weights), bias.reshape(-1)

    flatten = [node for node in graph.nodes if node.op_type == "Flatten"]
    if len(flatten) != 1:
        raise ValueError(f"{name}: not a MesoNet graph (one Flatten expected)")
    pool = before(before(flatten[0], "Transpose"), "MaxPool")
    norm = before(pool, "BatchNormalization")
    relu = before(norm, "Relu")
    dense = after(flatten[0], "Gemm")
    leaky = after(dense, "LeakyRelu")
    last = after(leaky, "Gemm")
    gamma, beta, mean, var = (array(tensor) for tensor in norm.input[1:5])
    scale = gamma / np.sqrt(var + np.float32(norm.attribute.get("epsilon", 1e-5)))
    w1, b1 = gemm(dense)
    w2, b2 = gemm(last)
    if w2.ndim != 2 or w2.shape != (len(b1), 1) or w1.shape[1] != len(b1):
        raise ValueError(f"{name}: not a MesoNet graph (dense layers of other shapes)")
    return Head(relu.output[0], relu.output[0] in graph.outputs, scale, beta - mean * scale,
                int(pool.attribute.get("kernel_shape", [4])[0]), w1, b1, np.float32(leaky.attribute.get("alpha", 0.01)),
                w2[:, 0], b2[0])


def explainable(model: bytes) -> bytes:
    """``model`` with its last convolution's activations as one more output (its outputs and their values
    unchanged), so that one ONNX Runtime session both scores faces and gives Grad-CAM its activations; ``model``
    itself when they are an output already or its graph has no MesoNet head (:func:`read_head`)."""
    from mesocli.onnx_proto import with_output

    try:
        head = read_head(model, "model")
    except ValueError:
        return model
    return model if head.is_output else with_output(model, head.activations)
