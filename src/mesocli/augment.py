"""Training-time augmentation of face batches, in TensorFlow, stateless: a function of the batch's seed.

The paper's augmentation is the authors' Keras ``ImageDataGenerator`` (rotation ±15°, zoom ±20 %,
horizontal flip, brightness ×0.8–1.2, channel shift ±30/255), with two differences: one zoom factor for
both axes (Keras draws one per axis) and a shift drawn for each channel apart (Keras adds one shift to
all three). Two additions, both off by default and
described in docs/training.md: resampling blur (``rescale_prob``) before it, and the degradations of
real clips (``degrade_prob``: blur, noise, JPEG re-compression) after it. Faces are 256×256 RGB.
"""

from __future__ import annotations

import math
from typing import Any


def degrade(tf: Any, images: Any, seed: Any, prob: float) -> Any:
    """What real clips do to faces, each applied to a face with probability ``prob``: Gaussian blur
    (sigma 0.4–1.5 px, one per batch), noise (uniform, standard deviation 0–8 of 255 per face) and JPEG
    re-compression (quality 30–90, one per batch), in that order. ``images`` are float32 in [0, 255].
    Only the picked faces are processed."""
    n = tf.shape(images)[0]
    fold = tf.random.experimental.stateless_fold_in

    def on_picked(images: Any, key: int, change: Any) -> Any:
        where = tf.where(tf.random.stateless_uniform([n], fold(seed, key)) < prob)
        picked = tf.gather_nd(images, where)
        changed = tf.cond(tf.shape(picked)[0] > 0, lambda: change(picked), lambda: picked)  # none picked
        return tf.tensor_scatter_nd_update(images, where, changed)

    sigma = tf.random.stateless_uniform([], fold(seed, 10), 0.4, 1.5)
    taps = tf.exp(-0.5 * tf.square(tf.range(-2.0, 3.0) / sigma))
    taps /= tf.reduce_sum(taps)

    def blur(faces: Any) -> Any:  # separable 5-tap Gaussian, reflected borders
        rows = tf.pad(faces, [[0, 0], [2, 2], [0, 0], [0, 0]], mode="REFLECT")
        faces = tf.add_n([taps[i] * rows[:, i : i + 256] for i in range(5)])
        cols = tf.pad(faces, [[0, 0], [0, 0], [2, 2], [0, 0]], mode="REFLECT")
        return tf.add_n([taps[i] * cols[:, :, i : i + 256] for i in range(5)])

    def noise(faces: Any) -> Any:
        m = tf.shape(faces)[0]
        spread = tf.random.stateless_uniform([m, 1, 1, 1], fold(seed, 11), 0.0, 8.0) * math.sqrt(3.0)
        return tf.clip_by_value(faces + spread * tf.random.stateless_uniform(tf.shape(faces), fold(seed, 12), -1, 1),
                                0.0, 255.0)

    quality = tf.random.stateless_uniform([], fold(seed, 13), 30, 91, dtype=tf.int32)

    def jpeg(faces: Any) -> Any:
        as_uint8 = tf.cast(tf.round(faces), tf.uint8)
        out = tf.map_fn(lambda face: tf.image.adjust_jpeg_quality(face, quality), as_uint8,
                        fn_output_signature=tf.TensorSpec([256, 256, 3], tf.uint8))
        return tf.cast(out, tf.float32)

    images = on_picked(images, 1, blur)
    images = on_picked(images, 2, noise)
    return on_picked(images, 3, jpeg)


def augment_fn(tf: Any, rescale_prob: float = 0.0, degrade_prob: float = 0.0, paper: bool = True) -> Any:
    """``augment(images, seed)``: random affine (rotation, zoom, flip) + brightness + channel shift, stateless
    per batch seed; uint8 or float faces in [0, 255] in, float32 in [0, 1] out. ``paper`` False
    (``--no-augment``) leaves out those, not the additions below.

    With ``rescale_prob`` > 0, that share of the faces is first shrunk to a random 50–100 % of
    256 px (one size per batch) and enlarged back: resampling blur for both classes alike (the crop
    sizes of the MesoNet training split differ between the classes; docs/training.md has its effect).
    With ``degrade_prob`` > 0, :func:`degrade` follows.
    """

    def augment(images: Any, seed: Any) -> Any:
        images = tf.cast(images, tf.float32)
        n = tf.shape(images)[0]
        seeds = tf.random.experimental.stateless_split(seed, 6)
        if rescale_prob > 0:
            size_seed, pick_seed = tf.unstack(tf.random.experimental.stateless_split(seeds[5], 2))
            size = tf.cast(tf.round(256.0 * tf.random.stateless_uniform([], size_seed, 0.5, 1.0)), tf.int32)
            small = tf.image.resize(images, tf.stack([size, size]), method="bilinear", antialias=True)
            rescaled = tf.image.resize(small, [256, 256], method="bilinear")
            picked = tf.random.stateless_uniform([n, 1, 1, 1], pick_seed) < rescale_prob
            images = tf.where(picked, rescaled, images)
        if paper:
            images = _paper_augmentation(tf, images, seeds)
        if degrade_prob > 0:
            images = degrade(tf, images, tf.random.experimental.stateless_fold_in(seed, 99), degrade_prob)
        return images / 255.0

    return augment


def _paper_augmentation(tf: Any, images: Any, seeds: Any) -> Any:
    """The authors' augmentation (module doc) of float32 faces in [0, 255], seeded by ``seeds[0:5]``."""
    n = tf.shape(images)[0]
    angle = tf.random.stateless_uniform([n], seeds[0], -15.0, 15.0) * (math.pi / 180.0)
    zoom = tf.random.stateless_uniform([n], seeds[1], 0.8, 1.2)
    flip = tf.where(tf.random.stateless_uniform([n], seeds[2]) < 0.5, -1.0, 1.0)
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    centre = 127.5
    # output (x, y) -> input: A (x - c) + c with A = zoom * R(angle) * diag(flip, 1)
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    transforms = tf.stack(
        [a0, a1, centre - a0 * centre - a1 * centre, b0, b1, centre - b0 * centre - b1 * centre,
         tf.zeros([n]), tf.zeros([n])], axis=1,
    )
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[256, 256], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST",
    )
    brightness = tf.random.stateless_uniform([n, 1, 1, 1], seeds[3], 0.8, 1.2)
    shift = tf.random.stateless_uniform([n, 1, 1, 3], seeds[4], -30.0, 30.0)
    return tf.clip_by_value(images * brightness + shift, 0.0, 255.0)
