"""Just enough of the ONNX file format (protocol buffers) to read a graph's nodes and constants and to add an
output to it, without the ``onnx`` package.

Importing ``onnx`` (and the ``ml_dtypes`` it loads) cost every report and ``explain`` about 1–2 s
(docs/explain.md), for a few thousand numbers of a graph of a few hundred KB.

Only what :func:`mesocli.onnx_graph.read_head` needs is decoded: the graph's nodes (op type, inputs, outputs, and
their numeric, string and tensor attributes), its initializers and its outputs' names; every other field is
skipped. Field numbers are those of ``onnx/onnx.proto``. Malformed bytes, and tensors not read here (external
data, strings), raise ValueError.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# TensorProto.DataType -> NumPy type of its raw_data (little-endian)
_DTYPES = {1: "<f4", 2: "u1", 3: "i1", 4: "<u2", 5: "<i2", 6: "<i4", 7: "<i8", 9: "?", 10: "<f2", 11: "<f8",
           12: "<u4", 13: "<u8"}
_FLOAT = 1


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated or malformed protobuf varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of one serialized message: an int for a varint, bytes for
    the others."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = data[at:at + size], at + size
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"protobuf wire type {wire} is not read here")
        if at > len(data) or number == 0:
            raise ValueError("truncated or malformed protobuf message")
        yield number, wire, value


def _signed(value: int) -> int:
    """An int64 field's value (negative ones are written as 10-byte varints)."""
    if not isinstance(value, int):  # a field of another wire type than its own
        raise ValueError("malformed protobuf integer field")
    return value - (1 << 64) if value >= 1 << 63 else value


def _bytes(value: Any) -> bytes:
    """A length-delimited field's bytes (a string, a message), or ValueError for a field of another wire type."""
    if not isinstance(value, bytes):
        raise ValueError("malformed protobuf message or string field")
    return value


def _text(value: Any) -> str:
    """A string field's text (UTF-8)."""
    return _bytes(value).decode("utf-8")


def _ints(wire: int, value: Any) -> list[int]:
    """A repeated integer field's values: one varint, or a packed run of them."""
    if wire == 0:
        return [_signed(value)]
    out, at = [], 0
    value = _bytes(value)
    while at < len(value):
        item, at = _varint(value, at)
        out.append(_signed(item))
    return out


def _floats(wire: int, value: Any, dtype: str = "<f4") -> list[float]:
    """A repeated float (or double) field's values: one, or a packed run of them."""
    if wire == 0 or len(value) % np.dtype(dtype).itemsize:
        raise ValueError("malformed protobuf float field")
    return np.frombuffer(value, dtype).tolist()


def tensor(data: bytes) -> tuple[str, np.ndarray]:
    """A serialized ``TensorProto``: its name and its values."""
    name, dims, dtype, raw = "", [], _FLOAT, None
    typed: dict[int, list[Any]] = {}
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _ints(wire, value)
        elif number == 2:
            dtype = value
        elif number == 8:
            name = _text(value)
        elif number == 9:
            raw = _bytes(value)
        elif number in (4, 10) and wire in (2, 5, 1):  # float_data, double_data
            typed.setdefault(number, []).extend(_floats(wire, value, "<f4" if number == 4 else "<f8"))
        elif number in (5, 7) and wire in (0, 2):  # int32_data, int64_data
            typed.setdefault(number, []).extend(_ints(wire, value))
        elif number in (6, 13, 14) and (number != 14 or value):  # string_data, external_data, data_location
            raise ValueError(f"tensor {name or '?'}: string or external data is not read here")
    if dtype not in _DTYPES:
        raise ValueError(f"tensor {name or '?'}: data type {dtype} is not read here")
    try:
        if raw is not None:
            values = np.frombuffer(raw, _DTYPES[dtype])
        elif dtype == 10:  # float16: its bits in int32_data
            values = np.array(typed.get(5, []), np.uint16).view(np.float16)
        else:
            values = np.array(typed.get(4) or typed.get(10) or typed.get(5) or typed.get(7) or [], _DTYPES[dtype])
    except OverflowError:  # a value out of its type's range (float16 bits over 16)
        raise ValueError(f"tensor {name or '?'}: a value out of range for data type {dtype}") from None
    if values.size != int(np.prod(dims, dtype=np.int64)):
        raise ValueError(f"tensor {name or '?'}: {values.size} values for shape {dims}")
    return name, values.reshape(dims).astype(_DTYPES[dtype].lstrip("<"))


@dataclass
class Node:
    """A ``NodeProto``: ``attribute`` maps each attribute's name to its value (a number, a list, bytes, a tensor)."""

    op_type: str = ""
    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    attribute: dict[str, Any] = field(default_factory=dict)


def _attribute(data: bytes) -> tuple[str, Any]:
    """A serialized ``AttributeProto``: its name and its value, as ``onnx.helper.get_attribute_value`` gives it."""
    name, kind, found = "", 0, {}
    for number, wire, value in _fields(data):
        if number == 1:
            name = _text(value)
        elif number == 20:
            kind = value
        elif number == 2:
            found[2] = next(iter(_floats(wire, value)), None)
            if found[2] is None:  # an empty run of floats
                raise ValueError("malformed protobuf float field")
        elif number == 3:
            found[3] = _signed(value)
        elif number == 4:
            found[4] = value
        elif number == 5:
            found[5] = tensor(_bytes(value))[1]
        elif number == 7:
            found.setdefault(7, []).extend(_floats(wire, value))
        elif number == 8:
            found.setdefault(8, []).extend(_ints(wire, value))
    # AttributeType (FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7) -> its field; others (graphs, strings,
    # sparse tensors, types) are not read: None
    slot = {1: 2, 2: 3, 3: 4, 4: 5, 6: 7, 7: 8}.get(kind)
    if slot is None and not kind and len(found) == 1:  # no type written (older files): the one field set
        (slot,) = found
    return name, found.get(slot, {2: 0.0, 3: 0, 4: b"", 7: [], 8: []}.get(slot))  # unset: the field's default


def _node(data: bytes) -> Node:
    node = Node()
    for number, _, value in _fields(data):
        if number == 1:
            node.input.append(_text(value))
        elif number == 2:
            node.output.append(_text(value))
        elif number == 4:
            node.op_type = _text(value)
        elif number == 5:
            key, attribute = _attribute(_bytes(value))
            node.attribute[key] = attribute
    return node


@dataclass
class Graph:
    """A model's ``GraphProto``: its nodes in order, its initializers' values, its outputs' names."""

    nodes: list[Node]
    initializers: dict[str, np.ndarray]
    outputs: list[str]


def read_graph(model: bytes) -> Graph:
    """The graph of a serialized ``ModelProto``. Raises ValueError for bytes that are not one."""
    parts = [value for number, wire, value in _fields(model) if number == 7 and wire == 2]
    if not parts:
        raise ValueError("no graph")
    graph = Graph([], {}, [])
    for number, wire, value in _fields(b"".join(parts)):  # a message given in parts is their merge
        if wire != 2:
            continue
        if number == 1:
            graph.nodes.append(_node(value))
        elif number == 5:
            key, array = tensor(value)
            graph.initializers[key] = array
        elif number == 12:
            graph.outputs.append(next((_text(v) for n, _, v in _fields(value) if n == 1), ""))
    return graph


def _key(number: int, payload: bytes) -> bytes:
    """A length-delimited field (``number`` < 16: its tag is one byte)."""
    size, out = len(payload), bytearray([number << 3 | 2])
    while size >= 0x80:
        out.append(size & 0x7F | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out) + payload


def with_output(model: bytes, name: str) -> bytes:
    """``model`` with the float tensor ``name`` as one more output of its graph (its other outputs kept).

    A protocol buffer read from two serialized parts of the same message is their merge, its repeated fields
    appended: the model followed by a graph holding only that output is the model with it added."""
    value_info = _key(1, name.encode("utf-8")) + _key(2, _key(1, bytes([1 << 3, _FLOAT])))  # tensor_type.elem_type
    return model + _key(7, _key(12, value_info))
