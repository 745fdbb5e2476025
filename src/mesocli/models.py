"""The two MesoNet networks, layer for layer as in the authors' ``classifiers.py``.

Both take a (256, 256, 3) float32 input in [0, 1] and end in a sigmoid whose output is
**P(real)** (class folders sort ``df`` = 0 < ``real`` = 1). mesocli converts it at the boundary:
everything a user sees is ``p_fake = 1 - output``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from mesocli._tf import import_tensorflow

ARCHITECTURES = ("meso4", "mesoinception4")
DISPLAY_NAMES = {"meso4": "Meso4", "mesoinception4": "MesoInception4"}
TRAINABLE_PARAMS = {"meso4": 27_977, "mesoinception4": 28_615}


class _Layers:
    """Creates layers named as Keras 2 named them (``conv2d_1``, ``conv2d_2``, ... in creation order).

    The authors' weight files identify layers only by such auto-generated names; numbering ours
    the same way, per model, is what lets :mod:`mesocli.weights` load them by creation order.
    """

    def __init__(self, keras: Any) -> None:
        self.keras = keras
        self.counts: dict[str, int] = {}

    def _name(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}_{self.counts[kind]}"

    def conv(self, filters: int, kernel: int, dilation: int = 1) -> Any:
        return self.keras.layers.Conv2D(
            filters, (kernel, kernel), dilation_rate=dilation, padding="same", activation="relu",
            name=self._name("conv2d"),
        )

    def batch_norm(self) -> Any:
        return self.keras.layers.BatchNormalization(name=self._name("batch_normalization"))

    def dense(self, units: int, activation: str | None = None) -> Any:
        return self.keras.layers.Dense(units, activation=activation, name=self._name("dense"))


def _classifier_head(make: _Layers, x: Any) -> Any:
    layers = make.keras.layers
    y = layers.Flatten()(x)
    y = layers.Dropout(0.5)(y)
    y = make.dense(16)(y)
    y = layers.LeakyReLU(negative_slope=0.1)(y)
    y = layers.Dropout(0.5)(y)
    return make.dense(1, activation="sigmoid")(y)


def _conv_block(make: _Layers, x: Any, filters: int, kernel: int, pool: int) -> Any:
    x = make.conv(filters, kernel)(x)
    x = make.batch_norm()(x)
    return make.keras.layers.MaxPooling2D(pool_size=(pool, pool), padding="same")(x)


def _inception_block(make: _Layers, x: Any, a: int, b: int, c: int, d: int) -> Any:
    x1 = make.conv(a, 1)(x)
    x2 = make.conv(b, 1)(x)
    x2 = make.conv(b, 3)(x2)
    x3 = make.conv(c, 1)(x)
    x3 = make.conv(c, 3, dilation=2)(x3)
    x4 = make.conv(d, 1)(x)
    x4 = make.conv(d, 3, dilation=3)(x4)
    x = make.keras.layers.Concatenate(axis=-1)([x1, x2, x3, x4])
    x = make.batch_norm()(x)
    return make.keras.layers.MaxPooling2D(pool_size=(2, 2), padding="same")(x)


@contextlib.contextmanager
def _network_config(keras: Any) -> Iterator[None]:
    """Keras's global settings as the networks (and every weights file) are: float32, channels last, while the
    layers are made; the caller's are restored. A user's ``~/.keras/keras.json`` for other work (``"floatx":
    "float16"``, ``"image_data_format": "channels_first"``) changed the TensorFlow runtime's scores, or made
    the bundled weights a "damaged HDF5 file"."""
    floatx, data_format = keras.config.floatx(), keras.config.image_data_format()
    keras.config.set_floatx("float32")
    keras.config.set_image_data_format("channels_last")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_image_data_format(data_format)


def build_model(arch: str) -> Any:
    """Build ``meso4`` or ``mesoinception4`` as a Keras 3 functional model (untrained), float32 and channels last
    whatever Keras's own settings."""
    tf = import_tensorflow()
    keras = tf.keras
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    with _network_config(keras):
        return _build(keras, arch)


def _build(keras: Any, arch: str) -> Any:
    make = _Layers(keras)
    inputs = keras.Input(shape=(256, 256, 3), name="image")
    if arch == "meso4":
        x = _conv_block(make, inputs, 8, 3, 2)
        x = _conv_block(make, x, 8, 5, 2)
    else:
        x = _inception_block(make, inputs, 1, 4, 4, 2)
        x = _inception_block(make, x, 2, 4, 4, 2)
    x = _conv_block(make, x, 16, 5, 2)
    x = _conv_block(make, x, 16, 5, 4)
    return keras.Model(inputs, _classifier_head(make, x), name=DISPLAY_NAMES[arch])


FEATURE_BLOCKS = 4  # both networks: two stem blocks (conv or inception), then two 16-filter conv blocks


def freeze_blocks(model: Any, blocks: int) -> None:
    """Freeze the first ``blocks`` feature blocks (their convolutions and batch norm, which then keeps
    its moving statistics): fine-tuning adapts only the later blocks and the classifier head."""
    if not 0 <= blocks <= FEATURE_BLOCKS:
        raise ValueError(f"blocks must be in [0, {FEATURE_BLOCKS}], got {blocks}")
    seen = 0
    for layer in model.layers:
        if seen == blocks:
            break
        if layer.weights:
            layer.trainable = False
        if layer.name.startswith("batch_normalization"):  # each block ends in its batch norm
            seen += 1


def count_trainable(model: Any) -> int:
    """Number of trainable parameters."""
    return int(sum(int(w.numpy().size) for w in model.trainable_weights))
