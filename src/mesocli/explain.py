"""Heatmaps: where on a face the network found its evidence (Grad-CAM), drawn colour-blind safe.

Grad-CAM (Selvaraju et al., 2017) on the **last convolution** of Meso4 / MesoInception4 (16
channels on a 32×32 grid, ReLU output, before its batch norm and the 4×4 pooling): the channels'
activations weighted by the spatial mean of the gradient of the explained class's **logit**, summed,
rectified, upsampled to 256×256 (bilinear) and divided by its maximum. The logit is recomputed from
the last dense layer's input, so a saturated sigmoid (p_fake 1e-9) still has a gradient. The
networks' logit is that of P(real); the logit of *fake* is its negative. Why this method and
layer: docs/explain.md.

TensorFlow is imported only when a :class:`GradCam` is built (:class:`OnnxGradCam`, the same maps for a
model run by ONNX Runtime, needs none); drawing (:func:`overlay`,
:func:`face_panel`) needs only NumPy, Pillow and matplotlib's colour tables (read from its data, without
importing it).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mesocli import __version__
from mesocli.aggregate import verdict
from mesocli.errors import (
    ParameterError,
    WeightsError,
    check_choice,
    check_flags,
    check_numbers,
    check_path,
    check_paths,
    short_repr,
)
from mesocli.preprocess import face_batch

COLORMAP = "viridis"  # perceptually uniform, readable with every common colour-vision deficiency
ALPHA = 0.65  # opacity of the heat colour where the map is at its maximum


@dataclass
class Explanation:
    """One face's heatmap: ``heat`` (256, 256) float32 in [0, 1] for the class ``target``."""

    p_fake: float
    target: str  # "fake" or "real": the class whose evidence the map shows
    heat: np.ndarray
    peak: float  # the map's maximum before normalisation (0: no positive evidence anywhere)


def last_conv_layer(model: Any) -> Any:
    """The model's last ``Conv2D`` layer (in layer order, which is topological for a functional model)."""
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    if not convs:
        raise ValueError(f"{model.name} has no Conv2D layer to explain")
    return convs[-1]


class _Cam:
    """What both Grad-CAMs share: :meth:`explain` from a subclass's :meth:`maps`."""

    loaded: Any = None  # the model it explains, as :func:`gradcam_for` was given it

    def maps(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def explain(self, faces: Sequence[np.ndarray] | np.ndarray, target: str | Sequence[str] = "auto",
                threshold: float = 0.5) -> list[Explanation]:
        """Heatmaps for (N, 256, 256, 3) uint8 faces. ``target``: ``fake``, ``real``, or ``auto`` (each
        face's own verdict at ``threshold``: the map shows the evidence for what the network decided)."""
        batch = face_batch(faces)
        if not len(batch):
            return []
        logits, signed = self.maps(batch)
        p_fake = 1.0 / (1.0 + np.exp(logits.astype(np.float64)))  # 1 - sigmoid(logit of P(real))
        if isinstance(target, str):
            targets = [verdict(p, threshold) if target == "auto" else target for p in p_fake]
        else:
            targets = list(target)
        if any(t not in ("fake", "real") for t in targets) or len(targets) != len(batch):
            raise ValueError("target must be 'fake', 'real' or 'auto' (or one of the first two per face)")
        out = []
        for i, name in enumerate(targets):
            cam = np.maximum(signed[i] if name == "real" else -signed[i], 0.0).astype(np.float32)
            peak = float(cam.max())
            heat = np.asarray(Image.fromarray(cam, "F").resize((256, 256), Image.BILINEAR))
            top = float(heat.max())
            heat = np.clip(heat / top, 0.0, 1.0) if peak > 0 and top > 0 else np.zeros((256, 256), np.float32)
            out.append(Explanation(float(p_fake[i]), name, heat.astype(np.float32), peak))
        return out


class GradCam(_Cam):
    """Grad-CAM for a Keras model whose last layer is ``Dense(1, sigmoid)`` giving P(real).

    ``layer`` picks the convolution (a layer name; default :func:`last_conv_layer`).
    """

    def __init__(self, model: Any, layer: str | None = None) -> None:
        from mesocli._tf import import_tensorflow

        tf = import_tensorflow()
        keras = tf.keras
        head = model.layers[-1]
        if type(head).__name__ != "Dense" or head.units != 1:
            raise ValueError(f"{model.name}: the last layer must be Dense(1) with a sigmoid")
        conv = model.get_layer(layer) if layer else last_conv_layer(model)
        self.layer_name = conv.name
        self._tf = tf
        self._model = model
        self._parts = keras.Model(model.inputs, [conv.output, head.input])
        self._head = head

    def maps(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One forward and backward pass: the logit of P(real) per face, (N,), and the signed class map
        ``sum_k alpha_k A_k`` for *real*, (N, h, w). The map for *fake* is its negative (the logit of fake
        is minus the logit of real), so both classes come from this one pass."""
        tf = self._tf
        x = tf.cast(tf.constant(faces), tf.float32) / 255.0
        with tf.GradientTape() as tape:
            activations, hidden = self._parts(x, training=False)
            logit_real = (tf.matmul(hidden, self._head.kernel) + self._head.bias)[:, 0]
        grads = tape.gradient(logit_real, activations)  # per face: its own logit (faces do not interact)
        weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        return logit_real.numpy(), tf.reduce_sum(weights * activations, axis=-1).numpy()


class OnnxGradCam(_Cam):
    """The same Grad-CAM as :class:`GradCam`, without TensorFlow: for a model run by ONNX Runtime
    (:class:`mesocli.runtime.OnnxModel`, a graph of :mod:`mesocli.onnx_graph`).

    ONNX Runtime computes the last convolution's activations ``A`` (the graph that scored the faces, with
    that tensor as one more output: the model's own session, which :func:`mesocli.runtime.load_onnx` opens so);
    the rest of the network after it, the classifier head (batch norm, max-pooling, flatten, dense 16, leaky
    ReLU, dense 1; :func:`mesocli.onnx_graph.read_head` reads it without the ``onnx`` package), is a few thousand
    numbers, so its forward pass and its gradient are computed with NumPy. Grad-CAM needs only the gradient's
    spatial mean per channel, which max-pooling's choice among equal values in a window does not change: the maps
    are those of :class:`GradCam` (to float32 rounding; tests/test_report.py compares them). Importing TensorFlow
    and building the Keras network cost a report several seconds and about 700 MB.

    Raises ValueError for a graph that does not end in that head (it is not one mesocli made).
    """

    def __init__(self, loaded: Any) -> None:
        from mesocli.onnx_graph import read_head
        from mesocli.onnx_proto import with_output
        from mesocli.runtime import _session

        source = loaded.onnx
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        head = read_head(data, loaded.name)  # the graph read without `import onnx` (about 1-2 s)
        self._scale, self._shift, self._pool = head.scale, head.shift, head.pool
        self._w1, self._b1, self._alpha, self._w2, self._b2 = head.w1, head.b1, head.alpha, head.w2, head.b2
        self.layer_name = head.activations
        # the activations are an output of the model's own session (mesocli.runtime opens it so): no second session
        session = loaded.default_session() if hasattr(loaded, "default_session") else None
        if session is None or self.layer_name not in {output.name for output in session.get_outputs()}:
            session = _session(data if head.is_output else with_output(data, self.layer_name))
        self._session = session

    def maps(self, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`GradCam.maps`: the logit of P(real) per face and the signed class map for *real*."""
        (nchw,) = self._session.run([self.layer_name], {"image": np.ascontiguousarray(faces)})
        a = nchw.transpose(0, 2, 3, 1)  # (N, H, W, C), as Keras holds it
        n, h, w, c = a.shape
        k = self._pool
        pooled = (a * self._scale + self._shift).reshape(n, h // k, k, w // k, k, c).max(axis=(2, 4))
        hidden = pooled.reshape(n, -1) @ self._w1 + self._b1  # flattened (H, W, C) as Keras flattens
        slope = np.where(hidden > 0, np.float32(1.0), self._alpha)
        logit_real = (hidden * slope) @ self._w2 + self._b2
        # d logit / d pooled; each window's gradient goes to one of its maxima, which leaves its sum unchanged
        grads = ((slope * self._w2) @ self._w1.T).reshape(n, h // k, w // k, c)
        weights = grads.sum(axis=(1, 2)) * self._scale / (h * w)  # the spatial mean of d logit / d A, per channel
        return logit_real, np.einsum("nhwc,nc->nhw", a, weights)


def gradcam_for(model: Any) -> _Cam:
    """The Grad-CAM of ``model``: :class:`OnnxGradCam` for a model run by ONNX Runtime (no TensorFlow; should its
    graph not be one mesocli builds, the Keras network of its weights), else :class:`GradCam` of the Keras model.
    A Grad-CAM is given back as it is. Its ``loaded`` attribute is ``model`` (what scores the faces, named in errors).

    An exported ``.onnx`` file has no weights file behind it: a graph of one that mesocli did not build (edited by
    hand) raises WeightsError, one line."""
    from mesocli.runtime import OnnxModel

    if isinstance(model, _Cam):
        return model
    cam: _Cam
    if isinstance(model, OnnxModel):
        try:
            cam = OnnxGradCam(model)
        except ValueError as exc:
            if model.origin == "exported":
                from mesocli.errors import WeightsError

                why = str(exc).rpartition("(")[2].rstrip(")")  # "no Gemm after Flatten"
                raise WeightsError(f"{model.weights_path}: its graph is not one mesocli builds ({why}): no heatmaps "
                                   "can be drawn from it; give the weights file it was exported from") from None
            cam = GradCam(model.model)
    else:
        cam = GradCam(model if hasattr(model, "layers") else model.model)
    cam.loaded = model
    return cam


# --------------------------------------------------------------------------------------------------
# Drawing (no TensorFlow)


@functools.cache
def _colours(colormap: str) -> np.ndarray:
    """The (N, 3) uint8 colours of ``colormap``'s lookup table: matplotlib's listed table read from its data file
    where it has one (without importing matplotlib: 0.1 to 0.5 s), else from ``matplotlib.colormaps``."""
    listed = _listed_table(colormap)
    if listed is None:
        from mesocli.thirdparty import MATPLOTLIB, their_deprecations

        with their_deprecations(*MATPLOTLIB):
            from matplotlib import colormaps

        table = colormaps[colormap]
        listed = table(np.arange(table.N))[:, :3]
    colours = np.rint(listed * 255).astype(np.uint8)
    colours.flags.writeable = False
    return colours


def _listed_table(colormap: str) -> np.ndarray | None:
    """The (N, 3) floats of a listed colour map (viridis and its kin) as matplotlib's ``_cm_listed.py`` holds them
    (``_<name>_data = [[r, g, b], ...]``, each from 0 to 1), read as data; None where that file or table is not there
    as expected, so that the caller takes the map from matplotlib (a test checks the colours equal
    ``matplotlib.colormaps``')."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("matplotlib")  # finds the package without running its __init__
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        text = (Path(folders[0]) / "_cm_listed.py").read_text(encoding="utf-8") if folders else ""
        name = f"\n_{colormap}_data = "
        start = text.index(name) + len(name)
        if not text[start:].lstrip().startswith("["):  # not a list written out: an expression, another name
            return None
        end = text.index("]]", start) + 2
        values = np.array(ast.literal_eval(text[start:end].lstrip()), dtype=np.float64)
    except (ImportError, OSError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    shaped = values.ndim == 2 and values.shape[1] == 3 and len(values) >= 2
    return values if shaped and bool(np.all((values >= 0.0) & (values <= 1.0))) else None  # 0-1, not 0-255


def colorize(heat: np.ndarray, colormap: str = COLORMAP) -> np.ndarray:
    """A [0, 1] map as (H, W, 3) uint8 colours of ``colormap``: the colours matplotlib's colormap gives (the entry
    ``int(x * N)`` of its table), looked up directly rather than through its RGBA floats."""
    colours = _colours(colormap)
    scaled = np.clip(heat, 0.0, 1.0) * len(colours)  # in the map's own float type, as matplotlib scales it
    index = np.minimum(np.nan_to_num(scaled, nan=0.0).astype(np.intp), len(colours) - 1)
    return colours[index]


def overlay(face: np.ndarray, heat: np.ndarray, alpha: float = ALPHA, colormap: str = COLORMAP) -> np.ndarray:
    """The face with the heat colours laid over it, the more opaque the hotter (``alpha`` × √heat): where
    the map is 0 the face shows unchanged, so a low map never hides the face."""
    weight = (alpha * np.sqrt(np.clip(heat, 0.0, 1.0)))[..., None]
    mixed = (1.0 - weight) * face.astype(np.float32) + weight * colorize(heat, colormap).astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


CAPTION_SIZE = 14  # the caption's font size in a panel


def fit_caption(caption: str, width: int, size: int = CAPTION_SIZE) -> str:
    """``caption`` as drawn in ``width`` pixels: when too long, its last part (``a · b · name``: the file name) is
    shortened in the middle with an ellipsis, its start and its end (frame numbers, suffix) kept; never cut off."""
    font = _font(size)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if draw.textlength(caption, font=font) <= width:
        return caption
    head, sep, name = caption.rpartition(" · ")
    lead = head + sep
    for keep in range(len(name) - 1, 1, -1):  # characters of the name kept, about 1/3 before the ellipsis
        front = keep // 3
        short = f"{lead}{name[:front]}…{name[len(name) - (keep - front):]}"
        if draw.textlength(short, font=font) <= width:
            return short
    while caption and draw.textlength(caption + "…", font=font) > width:  # even the start is too long
        caption = caption[:-1]
    return caption + "…"


PANEL_GAP, PANEL_BAR = 8, 14  # between the crop, the map and the colour scale; the scale's width
PANEL_SIZE = (256 * 2 + PANEL_GAP * 2 + PANEL_BAR + 34, 256 + 44)  # a heatmap panel: 576×300
PANEL_BAR_X = 512 + 2 * PANEL_GAP  # where its colour scale starts
PANEL_BAR_TOLERANCE = 8.0  # the mean difference (0-255) a panel's scale may have from the drawn one: JPEG's rounding


def _scale(colormap: str = COLORMAP) -> np.ndarray:
    """A panel's colour scale, (256, PANEL_BAR, 3) uint8: the map's colours from high (top) to low."""
    return colorize(np.linspace(1.0, 0.0, 256, dtype=np.float32)[:, None].repeat(PANEL_BAR, axis=1), colormap)


NO_FACE = "no face found in it: the map may show nothing of a face"
SCORED_AS = "the file as given (a face crop: no face detection or alignment, as scan --detector none)"
"""How ``mesocli explain`` scores a file (each line's ``scored_as``): the crop itself, resized, where ``scan`` finds the
face in the image and aligns it first, and so gives another p_fake for the same file (docs/explain.md)."""
PANEL_SCORED_AS = ("the face crop the heatmap panel shows (its left 256×256), as given: no face detection or "
                   "alignment (the crop scan found and aligned)")
"""``scored_as`` of a heatmap panel given to explain: its crop is scored, not the file (``scan --detector none`` would
score the whole panel)."""
CAPTION_AS_GIVEN = "scored as given, no face detection"  # the panel caption's words for it
"""What ``explain`` says of an image given as a face crop in which HOG finds no face (a landscape photo), in its
panel, its line's ``warnings`` and on stderr."""


def face_panel(face: np.ndarray, explanation: Explanation, caption: str, colormap: str = COLORMAP,
               no_face: bool = False) -> Image.Image:
    """The aligned crop, the same crop with the heatmap over it, a colour scale, and a caption below; with
    ``no_face`` (:data:`NO_FACE`), ``NO FACE FOUND IN THIS IMAGE`` in red after the map's note."""
    gap, bar, pad = PANEL_GAP, PANEL_BAR, 6
    width, height = PANEL_SIZE
    panel = Image.new("RGB", (width, height), "white")
    panel.paste(Image.fromarray(face), (0, 0))
    panel.paste(Image.fromarray(overlay(face, explanation.heat, colormap=colormap)), (256 + gap, 0))
    x_bar = PANEL_BAR_X
    panel.paste(Image.fromarray(_scale(colormap)), (x_bar, 0))
    draw = ImageDraw.Draw(panel)
    small = _font(11)
    draw.text((x_bar + bar + 3, 0), "high", fill="black", font=small)
    draw.text((x_bar + bar + 3, 256 - 12), "low", fill="black", font=small)
    font = _font(CAPTION_SIZE)
    draw.text((pad, 256 + pad), fit_caption(caption, width - 2 * pad), fill="black", font=font)
    note = f"map: evidence for {explanation.target.upper()}"
    if explanation.peak <= 0:
        note += " (none found: the map is empty)"
    draw.text((pad, 256 + pad + 18), note, fill=(60, 60, 60), font=font)
    if no_face:  # whole words: beside an empty map's longer note the short form (cut in the middle, it read "…UND")
        x = pad + draw.textlength(note + " · ", font=font)
        mark = next((text for text in ("NO FACE FOUND IN THIS IMAGE", "NO FACE FOUND")
                     if draw.textlength(text, font=font) <= width - x - pad), "NO FACE")
        draw.text((x, 256 + pad + 18), mark, fill=(190, 0, 0), font=font)
    return panel


PANEL_SCALES = (0.4, 2.0)
"""The sizes, against a panel's own, at which an image of a panel's shape is taken for one resized (a messenger's
copy, 0.5–0.8×; a screen's 1.5× or 2×)."""


def panel_face(data: bytes) -> tuple[np.ndarray, float] | None:
    """The aligned 256×256 crop on the left of a heatmap panel (:func:`face_panel`: what ``scan --explain`` and
    ``explain`` write), and the scale the panel was found at (1.0: as written), when the image ``data`` is one, else
    None. A panel is told by its shape (its size, or that size resized by one of :data:`PANEL_SCALES`, to a pixel)
    and its colour scale (the viridis bar beside the map, its inner columns to within a JPEG copy's or a resize's
    rounding), not by its name: the map and the caption, squeezed to 256×256 with the crop, scored as a face (p_fake
    0.829 for a face scored 0.816). A resized panel is brought back to its size first (Lanczos): its crop is the
    face enlarged or reduced back, not the very crop scored."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            scale = width / PANEL_SIZE[0]
            if (width, height) != PANEL_SIZE and not (
                    PANEL_SCALES[0] <= scale <= PANEL_SCALES[1] and abs(height - PANEL_SIZE[1] * scale) <= 1.0):
                return None
            rgb = image.convert("RGB")
            if (width, height) != PANEL_SIZE:
                rgb = rgb.resize(PANEL_SIZE, Image.Resampling.LANCZOS)
            pixels = np.asarray(rgb)
    except (OSError, ValueError, Image.DecompressionBombError):  # not an image Pillow reads: load_face says why
        return None
    edge = 3  # the bar's columns next to the white and to the map blur when resized: its inner ones are compared
    bar = pixels[edge:256 - edge, PANEL_BAR_X + edge:PANEL_BAR_X + PANEL_BAR - edge].astype(np.int16)
    drawn = _scale().astype(np.int16)[edge:256 - edge, edge:PANEL_BAR - edge]
    if float(np.abs(bar - drawn).mean()) > PANEL_BAR_TOLERANCE:
        return None
    return np.ascontiguousarray(pixels[:256, :256]), 1.0 if (width, height) == PANEL_SIZE else scale


def png_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=3)  # much faster than the default, barely larger (docs/explain.md)
    return buffer.getvalue()


JPEG_QUALITY = 90  # with full-resolution colour (4:4:4): the caption and the heat colours stay sharp


def jpeg_bytes(image: Image.Image) -> bytes:
    """``image`` encoded as JPEG (a heatmap panel: a quarter of its PNG's size, encoded 15× faster; docs/explain.md)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def caption_for(p_fake: float, frame: int | None = None, time: float | None = None, track: int | None = None,
                kind: str | None = "video", detector: str | None = None) -> str:
    """``p_fake 0.931 · frame 120 · 4.00 s · track 1 · fs map`` (only the parts that apply; the detector
    that drew the map with ``--model any``)."""
    shown = "<0.001" if p_fake < 0.001 else ">0.999" if p_fake > 0.999 else f"{p_fake:.3f}"
    parts = [f"p_fake {shown}"]
    if kind == "video" and frame is not None:
        parts.append(f"frame {frame}")
        if time is not None:
            parts.append(f"{time:.2f} s")
    if track is not None:
        parts.append(f"track {track}")
    if detector is not None:
        parts.append(f"{detector} map")
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------------
# `mesocli explain FACE... --out DIR`


def explain_files(paths: Sequence[str | Path], model: Any, out_dir: Path, threshold: float = 0.5,
                  force: bool = False, batch: int = 16, described: dict[str, Any] | None = None,
                  log: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """Explain face crops (image files, folders of them): write ``OUT_DIR/<name>.png`` per face and
    yield one dict per input (path, status ok/error, error, p_fake, scored_as, verdict, threshold, target, heatmap,
    model, explained_at, runtime, resize, libraries).

    ``model`` in each dict is the detector's ``describe()`` (arch, name, weights_sha256) once it is loaded, and
    ``described`` (the same, read from the weights file beforehand) before: an error line printed before the
    first face was scored names it too; None where neither is known (a bare Keras model).

    Crops are resized to 256×256 as the weights ask (:func:`mesocli.weights.resize_of`: nearest for the authors'
    original files, else bilinear; ``resize`` in each dict); a heatmap panel (a
    ``scan --explain`` file) gives the crop it shows (:func:`panel_face`), with a note to ``log``; an
    unreadable file, or a video, is an ``error`` line and the others go on. The inputs and the outputs
    are checked when this is called, before the first face is read: no face images, an ``out_dir``
    that is no folder or cannot be written, and an existing heatmap file (unless ``force``) raise
    UsageError then, not at the first ``next()``. ``model``: a Keras model, a LoadedModel, an OnnxModel (its
    maps drawn without TensorFlow, :class:`OnnxGradCam`), a Grad-CAM, or a callable giving one when the first face
    is ready; weights that score a face NaN raise WeightsError before any heatmap is written.
    """
    from mesocli.errors import ParameterError, UsageError
    from mesocli.fsutil import check_writable
    from mesocli.inputs import expand_inputs
    from mesocli.manifest import unique_name
    from mesocli.writers import refuse_existing, refuse_inputs_as_outputs

    files = expand_inputs([Path(p) for p in paths], missing_ok=True, media_only=True)
    if not files:
        raise UsageError("no face images to explain")
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError("{path}: {out} is not a folder", path=out_dir)
    taken: set[str] = set()
    targets = [out_dir / (unique_name(f.stem, str(f), taken) + ".png") for f in files]
    refuse_inputs_as_outputs(files, targets)  # with --force too: a heatmap named as the crop it explains
    refuse_existing(next((t for t in targets if t.exists()), None), force)
    check_writable(out_dir, folder=True)
    return _explain_checked(files, targets, model, threshold, force, batch, described, log)


def _explain_checked(files: list[Path], targets: list[Path], model: Any, threshold: float, force: bool,
                     batch: int, described: dict[str, Any] | None,
                     log: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`explain_files`' work once its checks passed: one dict per face, heatmaps written in batches."""
    from mesocli.errors import InputError, printable
    from mesocli.faces import face_in_crop
    from mesocli.fsutil import atomic_write_bytes
    from mesocli.inputs import probe_kind
    from mesocli.preprocess import DEFAULT_RESIZE, image_bytes, load_face
    from mesocli.provenance import EXPLAIN_PACKAGES, code_digest, library_versions, utc_now
    from mesocli.runtime import check_scores, runtime_of
    from mesocli.weights import resize_of

    code = code_digest()
    cam: _Cam | None = None
    given: Any = None  # what ``model`` gave: a LoadedModel or OnnxModel (named in errors), or a Keras model
    # crop, heatmap, face, its sha256, warnings, its bytes (None: a panel's crop, not resized)
    pending: list[tuple[Path, Path, np.ndarray, str, list[str], bytes | None]] = []
    detector: dict[str, Any] = dict(described or {})  # the model object of every line
    # what draws the maps, in every line (null before the network is loaded): the runtime, its libraries' versions
    software: dict[str, Any] = {"runtime": None, "resize": None, "libraries": None}

    def flush() -> Any:
        nonlocal cam, given
        if not pending:
            return
        if cam is None:
            given = model() if callable(model) and not hasattr(model, "layers") else model
            cam = gradcam_for(given)  # an ONNX Runtime model's: no TensorFlow
            given = cam.loaded if cam.loaded is not None else given
            if hasattr(given, "describe"):  # the weights as loaded: what scored the faces
                detector.update(given.describe())
            software["runtime"] = runtime_of(given)
            software["resize"] = resize_of(given)
            software["libraries"] = library_versions(software["runtime"], EXPLAIN_PACKAGES)
        if software["resize"] != DEFAULT_RESIZE:  # the weights' own resize (the authors': nearest), from the bytes
            pending[:] = [(source, target, face if data is None else load_face(source, data, software["resize"]),
                           digest, warnings, data) for source, target, face, digest, warnings, data in pending]
        for source, _, face, _, warnings, data in pending:  # the crop the network sees (a panel's: scan found a face)
            if data is not None and not face_in_crop(face):
                warnings.append(NO_FACE)
                if log is not None:
                    log(f"mesocli: {printable(str(source))}: {NO_FACE} (explain takes face crops: extract's, or "
                        "scan --explain's panels)")
        explanations = cam.explain(np.stack([face for _, _, face, _, _, _ in pending]), threshold=threshold)
        check_scores(np.array([explanation.p_fake for explanation in explanations]), given)  # before any heatmap
        for (source, target, face, digest, warnings, data), explanation in zip(pending, explanations, strict=True):
            caption = f"{caption_for(explanation.p_fake, kind='image')} · {CAPTION_AS_GIVEN} · {printable(source.name)}"
            panel = face_panel(face, explanation, caption, no_face=NO_FACE in warnings)
            atomic_write_bytes(target, png_bytes(panel), replace=force)
            called = verdict(explanation.p_fake, threshold)
            yield {"path": str(source), "sha256": digest, "status": "ok", "error": None,
                   "p_fake": round(explanation.p_fake, 6),
                   "scored_as": SCORED_AS if data is not None else PANEL_SCORED_AS,  # data None: a panel's crop
                   "verdict": called, "threshold": threshold, "target": explanation.target, "heatmap": str(target),
                   "model": dict(detector) or None, "explained_at": utc_now(), "mesocli": __version__,
                   "mesocli_code": code, **software, "warnings": warnings}
        pending.clear()

    for source, target in zip(files, targets, strict=True):
        try:
            if os.path.exists(source) and probe_kind(source) == "video":  # load_face says why one cannot be read
                raise InputError(f"{source}: is a video; use 'mesocli scan VIDEO --explain DIR'")
            data = image_bytes(source)  # read once: the face is decoded from the very bytes the sha256 names
            panel = panel_face(data)  # a heatmap panel: the crop it shows, not the panel squeezed into a face
            shown = None if panel is None else panel[0]
            face = load_face(source, data) if shown is None else shown
            if panel is not None and log is not None:
                resized = "" if panel[1] == 1.0 else f" resized to {panel[1]:.2f}×"
                again = "" if panel[1] == 1.0 else (", brought back to its size: its p_fake is not quite the "
                                                    "original's")
                log(f"mesocli: {printable(str(source))}: a heatmap panel (scan --explain, explain){resized}: its face "
                    f"crop (the left 256×256) is explained, not the whole panel{again}")
            digest = hashlib.sha256(data).hexdigest()  # as scan's rows and extract's manifest name theirs
            warnings: list[str] = []  # NO_FACE, found on the crop as the weights resize it (flush)
        except InputError as exc:
            yield from flush()  # keep the output in input order
            yield {"path": str(source), "sha256": None, "status": "error", "error": str(exc), "p_fake": None,
                   "scored_as": None, "verdict": None,
                   "threshold": threshold, "target": None, "heatmap": None, "model": dict(detector) or None,
                   "explained_at": utc_now(), "mesocli": __version__, "mesocli_code": code, **software, "warnings": []}
            continue
        pending.append((source, target, face, digest, warnings, data if shown is None else None))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


# --------------------------------------------------------------------------------------------------
# The explain command and API (mesocli.api.explain): arguments checked here, without the rest of the API


def explain_inputs(faces: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], out: str | os.PathLike[str], *,
                   model: str | Any = None, arch: str | None = None, weights: str | os.PathLike[str] | None = None,
                   threshold: float = 0.5, force: bool = False, runtime: str = "onnx",
                   log: Callable[[str], None] | None = None) -> Iterator[dict[str, Any]]:
    """:func:`mesocli.api.explain` (see there): every argument, the faces, ``out`` and a ``weights`` file checked
    now, then the heatmaps as an iterator of one dict per face (notes, such as a heatmap panel given as a face, to
    ``log``). Imports neither the scan, extract nor evaluate modules, so ``mesocli explain`` starts without them."""
    from mesocli.aggregate import check_threshold
    from mesocli.detectors import ANY, ENSEMBLE
    from mesocli.models import ARCHITECTURES
    from mesocli.runtime import RUNTIMES
    from mesocli.weights import MANIPULATIONS

    (threshold,) = check_numbers(threshold=(threshold, float))
    (force,) = check_flags(force=force)
    check_threshold(threshold)
    check_choice("runtime", runtime, RUNTIMES)
    check_path("out", out)
    check_path("weights", weights, optional=True)
    if weights is not None and model is not None:
        raise ParameterError("give {model} or {weights}, not both")
    if not isinstance(model, str | None):  # what load_model returned: one network, explained on its own runtime
        return explain_files([Path(face) for face in check_paths(faces, "faces")],
                             *_loaded_network(model, arch, runtime), Path(out), threshold=threshold, force=force,
                             log=log)
    model = model or "df"
    if model == ANY:
        raise ParameterError("explain takes one detector: {model} df, f2f or fs")
    check_choice("model", model, MANIPULATIONS)
    if arch == ENSEMBLE:
        raise ParameterError("explain takes one network: {arch} meso4 or mesoinception4")
    if arch is not None:
        check_choice("arch", arch, ARCHITECTURES)
    if weights is not None and not Path(weights).exists():
        raise WeightsError(f"{os.fspath(weights)}: weights file not found")
    path = None if weights is None else Path(weights)
    network, described = (_explain_onnx if runtime == "onnx" else _explain_keras)(arch, model, path)
    return explain_files([Path(face) for face in check_paths(faces, "faces")], network, Path(out), threshold=threshold,
                         force=force, described=described, log=log)


def _loaded_network(model: object, arch: str | None, runtime: str) -> tuple[Any]:
    """A model that :func:`mesocli.api.load_model` returned, as :func:`explain_files` takes it; refused, naming the
    parameters: ``arch`` or another ``runtime`` than the default with it (it runs on its own), a model of several
    networks (``any``, ``ensemble``), or no model at all."""
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.runtime import OnnxModel
    from mesocli.weights import LoadedModel

    if isinstance(model, DetectorSet | Ensemble):
        raise ParameterError("explain takes one network, not {model} {value} (several): load one, as load_model('df')",
                             value="any" if isinstance(model, DetectorSet) else "ensemble")
    if not isinstance(model, OnnxModel | LoadedModel):
        raise ParameterError("{model} must be df, f2f, fs or what load_model returned, not {value}",
                             value=short_repr(model))
    for name, given in (("arch", arch is not None), ("runtime", runtime != "onnx")):
        if given:
            raise ParameterError("{" + name + "} applies when {model} is a name, not a loaded model: give it to "
                                 "load_model")
    return (gradcam_for(model) if isinstance(model, OnnxModel) and model.origin == "exported" else model,)


def _explain_onnx(arch: str | None, model: str, weights: Path | None) -> tuple[Any, dict[str, Any]]:
    """``explain``'s detector on ONNX Runtime, checked now: (the model, its ``describe()``). An exported ``.onnx``
    is explained from its own graph, refused now should that graph not be one mesocli builds."""
    from mesocli.runtime import OnnxModel, resolve

    loaded = resolve(arch, model, weights, "onnx")  # (one network: the caller refused ensemble and any)
    exported = isinstance(loaded, OnnxModel) and loaded.origin == "exported"
    return gradcam_for(loaded) if exported else loaded, loaded.describe()


def _explain_keras(arch: str | None, model: str, weights: Path | None) -> tuple[Any, dict[str, Any]]:
    """``explain``'s detector on TensorFlow: (a callable loading the Keras network at the first face, the weights'
    ``describe()`` read now, without TensorFlow)."""
    from mesocli.export import read_source
    from mesocli.weights import bundled_weights_path, reject_onnx, resolve_model

    if weights is not None:  # unusable weights are refused before any face, as scan refuses them (a folder too)
        reject_onnx(weights)
    # checked and read as load_weights will, without TensorFlow: every line names the detector, an error line
    # printed before the network is loaded (at the first face read) too
    source = read_source(weights if weights is not None else bundled_weights_path(arch or "meso4", model), arch)
    loaded: list[Any] = []

    def network() -> Any:
        if not loaded:
            loaded.append(resolve_model(arch, model, weights))
        return loaded[0]  # the LoadedModel: its Keras model, and its name for errors

    return network, {"arch": source.arch, "name": source.name, "weights_sha256": source.sha256}
