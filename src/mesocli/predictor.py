"""Batched inference with TensorFlow: one traced graph of a fixed batch shape, uint8 faces in, p_fake out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mesocli._tf import import_tensorflow
from mesocli.preprocess import face_batch

DEFAULT_BATCH = 32


class Predictor:
    """Scores face crops with a Keras model.

    Faces are (256, 256, 3) uint8 arrays (see :func:`mesocli.preprocess.face_to_uint8`); the
    division by 255 happens inside the graph. Batches are padded to ``batch_size`` so the graph is
    traced once; with ``jit_compile`` (the default) it is also compiled by XLA, once (the scan leaves
    XLA off unless ``ScanOptions.jit``). :meth:`p_fake` returns ``1 - P(real)`` for each face.
    """

    def __init__(self, model: Any, batch_size: int = DEFAULT_BATCH, jit_compile: bool = True) -> None:
        tf = import_tensorflow()
        self.batch_size = batch_size
        self._model = model

        @tf.function(
            input_signature=[tf.TensorSpec([batch_size, 256, 256, 3], tf.uint8)],
            jit_compile=jit_compile,
            reduce_retracing=True,
        )
        def _p_real(images: Any) -> Any:
            return model(tf.cast(images, tf.float32) / 255.0, training=False)[:, 0]

        self._p_real = _p_real

    def p_real(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """The networks' raw output, P(real), as float64 for each face."""
        batch = face_batch(faces)
        out = np.empty(len(batch), dtype=np.float64)
        for start in range(0, len(batch), self.batch_size):
            chunk = batch[start : start + self.batch_size]
            n = len(chunk)
            if n < self.batch_size:
                chunk = np.concatenate([chunk, np.zeros((self.batch_size - n, 256, 256, 3), np.uint8)])
            out[start : start + n] = self._p_real(chunk).numpy()[:n]
        return out

    def p_fake(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Probability that each face is forged: ``1 - P(real)``."""
        return 1.0 - self.p_real(faces)
