"""The one conversion from any image to the networks' input.

Every path into a network goes through :func:`load_face` / :func:`face_to_uint8`:
training, evaluation, extraction and scanning. Faces are RGB, 256×256, uint8; the networks see them
as float32 in [0, 1], divided by 255 inside the graphs that feed them (predictors, the training
pipeline) or by :func:`to_network_input`.

Interpolation: the weights' own (:func:`mesocli.weights.resize_of`): Pillow ``BILINEAR`` for mesocli's weights
(Pillow widens the filter when shrinking, so a downscale is antialiased), ``NEAREST`` for the authors' original
files, as their Keras loader resized. Crops already 256×256 are left untouched. See docs/models.md for what the
choice does to the authors' weights.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import subprocess
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mesocli.errors import InputError, UsageError, short_repr
from mesocli.fsutil import check_input_file, reading

INPUT_SIZE = 256
RESAMPLE = Image.Resampling.BILINEAR
RESIZES = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}
"""The resizes of a face crop that is not 256×256, by name: a model card's ``resize``; bilinear unless told."""
DEFAULT_RESIZE = "bilinear"
# The raster formats Pillow may read (those :func:`mesocli.inputs.sniff` calls images; MPO is JPEG). Any other is
# refused unopened, whatever the file's name: Pillow would run Ghostscript on an EPS file, for one.
PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "DIB", "TIFF", "WEBP", "PPM", "AVIF")
DECODE_SIDE = 4000
"""The longest side an image is decoded at, at least: a larger one is decoded reduced by 1/2, 1/4 or 1/8 while
its longest side stays at or above this, the largest size face detection searches a photo at
(:data:`mesocli.faces.STILL_SIDE`). A JPEG by its decoder's DCT scaling, a PNG (8-bit or 16-bit grey, not
interlaced) band by band (:func:`_png_reduced`) and a TIFF of strips or tiles a band of them at a time
(:func:`_tiff_reduced`): none ever makes the full-size picture; a still WebP by ffmpeg (:func:`_webp_reduced`), in
its own process; other formats are reduced once decoded."""
DECODE_SCALE = "mesocli_decode_scale"
DECODE_SIZE = "mesocli_decode_size"  # (width, height) of a picture decoded reduced, in the file's own pixels, turned
"""The key of a decoded image's ``info`` that holds the factor it was reduced by (absent: 1)."""
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
"""Channels of each PNG colour type (grey, RGB, palette, grey and alpha, RGBA)."""
PNG_BAND_BYTES = 8 << 20
"""About how many bytes of decoded PNG rows :func:`_png_reduced` (or TIFF rows, :func:`_tiff_reduced`) holds at a
time."""
PIXEL_LIMIT_VARIABLE = "MESOCLI_MAX_IMAGE_PIXELS"
"""The environment variable that sets the largest image (and video frame) read, in pixels: Pillow's
decompression-bomb limit, 178,956,970 unless set; an image that can be decoded reduced is read up to twice it."""


def pixel_limit() -> int | None:
    """The largest image read, in pixels (None: no limit): ``$MESOCLI_MAX_IMAGE_PIXELS`` if set, which then becomes
    Pillow's decompression-bomb limit (Pillow refuses above twice its ``MAX_IMAGE_PIXELS``), else Pillow's own.
    A value that is not a whole number of pixels (over 1,000) is a one-line UsageError naming the variable."""
    value = os.environ.get(PIXEL_LIMIT_VARIABLE, "").strip().replace("_", "").replace(",", "")
    if value:
        if not value.isascii() or not value.isdigit() or int(value) < 1000:
            shown = os.environ[PIXEL_LIMIT_VARIABLE]
            raise UsageError(f"{PIXEL_LIMIT_VARIABLE}={short_repr(shown)}: not a number of pixels of 1000 or more "
                             "(e.g. 400000000 for images of up to 400 megapixels)")
        Image.MAX_IMAGE_PIXELS = int(value) // 2  # Pillow refuses an image over twice it
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None


def to_rgb(image: Image.Image) -> Image.Image:
    """Return ``image`` as 8-bit RGB, whatever its mode (L, LA, La, P, RGBA, CMYK, I;16, F, ...)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L"):  # round(x / 257), in integers: no full-size float copies
        grey = ((np.asarray(image).astype(np.uint32) + 128) // 257).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if image.mode in ("I", "F"):  # stretched from its darkest to its brightest value, in one float32 copy
        array = np.array(image, dtype=np.float32)
        with np.errstate(invalid="ignore", over="ignore"):  # a float image may hold NaN or inf: taken as 0
            np.nan_to_num(array, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            low, high = float(array.min()), float(array.max())
            if high > low:
                array -= low
                array *= 255.0 / (high - low)
            else:
                array[...] = 0
        np.clip(np.rint(array, out=array), 0, 255, out=array)
        return Image.fromarray(array.astype(np.uint8), "L").convert("RGB")
    if image.mode == "La":  # premultiplied alpha: Pillow converts it to LA only
        image = image.convert("LA")
    if image.mode in ("RGBA", "RGBa", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def face_to_uint8(image: Image.Image | np.ndarray, resize: str = DEFAULT_RESIZE) -> np.ndarray:
    """Return an RGB uint8 array of shape (256, 256, 3) from a PIL image or an HxW[xC] array, resized by
    ``resize`` (a name of :data:`RESIZES`) when it is not 256×256."""
    if isinstance(image, np.ndarray):
        array = image
        if array.dtype != np.uint8:
            raise ValueError(f"expected a uint8 array, got {array.dtype}")
        if array.ndim == 3 and array.shape[2] in (1, 2):  # grey, or grey and alpha (dropped, as RGBA's is)
            array = array[:, :, 0]
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if array.shape[2] == 4:
            array = array[:, :, :3]
        if array.shape[:2] == (INPUT_SIZE, INPUT_SIZE):
            return np.ascontiguousarray(array)
        image = Image.fromarray(array)
    image = to_rgb(image)
    if image.size != (INPUT_SIZE, INPUT_SIZE):
        image = image.resize((INPUT_SIZE, INPUT_SIZE), RESIZES[resize])
    return np.asarray(image, dtype=np.uint8)


def face_batch(faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Face crops as one (N, 256, 256, 3) uint8 array (one crop becomes N = 1), what every predictor takes."""
    batch = np.asarray(faces, dtype=np.uint8)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.shape[1:] != (INPUT_SIZE, INPUT_SIZE, 3):
        raise ValueError(f"faces must be (N, {INPUT_SIZE}, {INPUT_SIZE}, 3) uint8, got {batch.shape}")
    return batch


def to_network_input(image: Image.Image | np.ndarray) -> np.ndarray:
    """Return the float32 (256, 256, 3) network input in [0, 1] for one face image."""
    return face_to_uint8(image).astype(np.float32) / 255.0


def _one_line(exc: BaseException) -> str:
    """An exception as one line of text; unexpected kinds keep their name (``struct.error: ...``)."""
    text = " ".join(str(exc).split())
    if text and isinstance(exc, (OSError, SyntaxError, ValueError)):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.contextmanager
def _opened(path: str | Path, data: bytes | None = None) -> Iterator[Image.Image]:
    """``Image.open`` of the raster formats (of ``path``, or of its bytes ``data``), without Pillow's warning for
    images between its limit and twice it (they are read; beyond, DecompressionBombError refuses them). Under
    :data:`FILTERS_LOCK`: a scan's input reader opens images while the main thread may be importing matplotlib."""
    from mesocli.thirdparty import FILTERS_LOCK

    with FILTERS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path if data is None else io.BytesIO(data), formats=PILLOW_FORMATS) as image:
            yield image


def _reduction(size: tuple[int, int]) -> int:
    """The largest of 8, 4, 2 and 1 that an image of ``size`` is decoded reduced by, its longest side kept at
    :data:`DECODE_SIDE` or more."""
    return next(scale for scale in (8, 4, 2, 1) if max(size) // scale >= DECODE_SIDE and min(size) >= scale
                or scale == 1)


def _draft(image: Image.Image) -> int:
    """Have a (not yet loaded) JPEG decode reduced (:func:`_reduction`); the factor it is reduced by."""
    scale = _reduction(image.size) if image.format in ("JPEG", "MPO") else 1
    if scale > 1 and image.draft(None, (image.width // scale, image.height // scale)) is None:  # Pillow picks
        scale = 1  # exactly ``scale``, or declines (a JPEG of several tiles): then it is decoded at full size
    pixels = image.width * image.height
    if Image.MAX_IMAGE_PIXELS and pixels > 2 * Image.MAX_IMAGE_PIXELS:  # a JPEG over the limit that was not reduced
        raise Image.DecompressionBombError(f"Image size ({pixels} pixels) exceeds limit of "
                                           f"{2 * Image.MAX_IMAGE_PIXELS} pixels, could be decompression bomb DOS "
                                           "attack.")
    return scale


def _png_header(image: Image.Image) -> tuple[int, int, int] | None:
    """The colour type, channels and bits a channel of a PNG that :func:`_png_reduced` can decode band by band (8
    bits a channel, or 16 for grey with or without alpha; not interlaced, one frame), read from its IHDR chunk;
    None for any other image."""
    if image.format != "PNG" or getattr(image, "is_animated", False) or image.fp is None:
        return None
    position = image.fp.tell()
    try:
        image.fp.seek(8)
        head = image.fp.read(8 + 13)
    finally:
        image.fp.seek(position)
    if len(head) < 21 or head[4:8] != b"IHDR":
        return None
    depth, colour, _, _, interlace = struct.unpack(">BBBBB", head[16:21])
    if interlace or colour not in PNG_CHANNELS or depth not in (8, 16) or depth == 16 and colour not in (0, 4):
        return None
    return colour, PNG_CHANNELS[colour], depth


def _png_chunks(handle: io.BufferedIOBase | io.BytesIO) -> Iterator[tuple[bytes, int]]:
    """A PNG's chunks after its signature: each one's type and length, ``handle`` at its data (read it, or not:
    the next one is found from its offset)."""
    offset = 8
    while True:
        handle.seek(offset)
        head = handle.read(8)
        if len(head) < 8:
            return
        length, kind = struct.unpack(">I4s", head)
        yield kind, length
        if kind == b"IEND":
            return
        offset += 12 + length


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_of(size: bytes, extra: bytes, rows: list[bytes | memoryview]) -> bytes:
    """A PNG file of an IHDR chunk's data ``size``, the chunks ``extra`` (PLTE, tRNS) and filtered ``rows`` (each
    a filter type and its bytes), stored uncompressed (deflate's stored blocks: no compressing)."""
    blocks: list[bytes | memoryview] = [b"\x78\x01"]
    total, adler = sum(len(part) for part in rows), 1
    sent = 0
    for part in rows:
        adler = zlib.adler32(part, adler)
        for start in range(0, len(part), 65_535):
            piece = part[start:start + 65_535]
            sent += len(piece)
            blocks += [struct.pack("<BHH", sent == total, len(piece), len(piece) ^ 0xFFFF), piece]
    blocks.append(struct.pack(">I", adler))
    length = sum(len(block) for block in blocks)
    crc = zlib.crc32(b"IDAT")
    for block in blocks:
        crc = zlib.crc32(block, crc)
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", size), extra, struct.pack(">I", length), b"IDAT",
                     *blocks, struct.pack(">I", crc), _png_chunk(b"IEND", b"")])


def _png_reduced(image: Image.Image, colour: int, channels: int, depth: int, scale: int) -> Image.Image:
    """A large PNG (opened, not loaded; :func:`_png_header`) decoded reduced by ``scale``, band by band, as RGB
    (transparency composited on black, as :func:`to_rgb` does): the full-size picture is never made. Its
    compressed rows are inflated a band at a time; each band is decoded by Pillow as a PNG of its own, led by the
    last row of the band before it, unfiltered (the row that PNG's filters refer to), then reduced. The same
    pixels as the whole picture decoded, made RGB and reduced. A 16-bit grey one (with alpha or not) is decoded
    as the 8-bit grey-and-alpha (RGBA) PNG of the same bytes (PNG's filters work on bytes, a pixel's worth to the
    left: 2 bytes, 4), so that the band's last row comes back whole, as the next band's filters need it."""
    from PIL import PngImagePlugin

    width, height = image.size
    stride = width * channels * depth // 8 + 1  # a filter type, then the row
    rows = max(scale, PNG_BAND_BYTES // stride // scale * scale)
    header = struct.pack(">IIBBBBB", width, 0, 8, {0: 4, 4: 6}[colour] if depth == 16 else colour, 0, 0, 0)
    extra, exif = b"", None
    reduced = Image.new("RGB", (-(-width // scale), -(-height // scale)))
    inflater, pending, previous, done = zlib.decompressobj(), bytearray(), b"", 0

    def band(count: int) -> None:
        nonlocal previous, done
        ihdr = header[:4] + struct.pack(">I", count + bool(previous)) + header[8:]
        with memoryview(pending) as inflated:  # no copy of the band's rows until the PNG made of them
            data = _png_of(ihdr, extra, [b"\0" + previous] * bool(previous) + [inflated[:count * stride]])
        del pending[:count * stride]
        with PngImagePlugin.PngImageFile(io.BytesIO(data)) as decoded:  # its size checked already, as a whole
            decoded.load()
            last = decoded.height - 1
            previous = decoded.crop((0, last, width, last + 1)).tobytes()
            box = (0, decoded.height - count, width, decoded.height)  # the band's rows, not the one leading them
            if depth == 16:  # each sample's high and low bytes: made 8-bit as Pillow and to_rgb make the whole one
                reduced.paste(_png16_rgb(np.asarray(decoded.crop(box)), colour).reduce(scale), (0, done // scale))
            elif decoded.mode in ("L", "RGB"):  # reduced first: the same pixels, a 1/4 to 1/64 of the work to convert
                reduced.paste(to_rgb(decoded.reduce(scale, box)), (0, done // scale))
            else:  # palette, alpha: made RGB (composited on black) first, as to_rgb makes the whole picture
                reduced.paste(to_rgb(decoded).reduce(scale, box), (0, done // scale))
        done += count

    def drain() -> None:
        while len(pending) >= rows * stride and done + rows <= height:
            band(rows)
        if done < height <= done + rows and len(pending) >= (height - done) * stride:
            band(height - done)

    handle = image.fp
    assert handle is not None
    for kind, length in _png_chunks(handle):
        if kind in (b"PLTE", b"tRNS") and depth == 8:  # a 16-bit grey one's tRNS: ignored, as to_rgb ignores it
            extra += _png_chunk(kind, handle.read(length))
        elif kind == b"eXIf":
            exif = handle.read(length)
        elif kind == b"IDAT" and done < height:
            left = length
            while left and done < height:
                piece = handle.read(min(left, 1 << 20))
                if not piece:
                    break
                left -= len(piece)
                while piece and done < height:  # a band inflated at a time: a bomb's rows never pile up
                    pending += _inflated(inflater, piece, rows * stride)
                    piece = inflater.unconsumed_tail
                    drain()
    if done < height:
        pending += _inflated(inflater, b"", 0)
        drain()
    if done < height:
        raise OSError(f"image file is truncated ({height - done} of {height} rows not read)")
    reduced.info = {key: value for key, value in image.info.items() if key != "transparency"}
    if exif is not None:
        reduced.info["exif"] = exif
    return reduced


def _png16_rgb(pairs: np.ndarray, colour: int) -> Image.Image:
    """Rows of a 16-bit grey PNG (``colour`` 0: an HxWx2 array of high and low bytes) or grey-and-alpha one (4:
    HxWx4) as RGB: grey as :func:`to_rgb` makes Pillow's I;16 (round(x / 257)); grey and alpha as Pillow reads
    them (their high bytes), composited on black."""
    if colour == 0:
        grey = (pairs[..., 0].astype(np.uint32) * 256 + pairs[..., 1] + 128) // 257
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    return to_rgb(Image.fromarray(np.ascontiguousarray(pairs[..., 0::2]), "LA"))


def _inflated(inflater: zlib._Decompress, data: bytes, most: int) -> bytes:
    """Up to ``most`` bytes (0: all that is left) inflated from ``data``; damaged data is the OSError that Pillow's
    own PNG decoder gives."""
    try:
        return inflater.decompress(data, most) if most else inflater.flush()
    except zlib.error:
        raise OSError("broken data stream when reading image file") from None


@contextlib.contextmanager
def _opened_large(path: str | Path, data: bytes | None, bomb: Image.DecompressionBombError) -> Iterator[Image.Image]:
    """An image over Pillow's decompression-bomb limit that can be decoded reduced to under it (a baseline JPEG,
    :func:`_draft`; a still PNG, not interlaced, of 8 bits a channel or 16-bit grey, :func:`_png_reduced`; a TIFF
    of strips or tiles, :func:`_tiff_reduced`), opened; ``bomb`` is raised again for any other file: another format, a
    progressive JPEG (its decoder holds the whole picture's coefficients), more than twice the limit, or too
    large still once reduced."""
    from PIL import JpegImagePlugin, PngImagePlugin, TiffImagePlugin

    limit = Image.MAX_IMAGE_PIXELS
    openers = {b"\xff\xd8\xff": JpegImagePlugin.JpegImageFile, b"\x89PNG\r\n\x1a\n": PngImagePlugin.PngImageFile,
               **dict.fromkeys((b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"), TiffImagePlugin.TiffImageFile)}
    with open(path, "rb") if data is None else io.BytesIO(data) as handle:
        magic = handle.read(8)
        opener = next((kind for start, kind in openers.items() if magic.startswith(start)), None)
        if opener is None or not limit:
            raise bomb
        handle.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = opener(handle)  # the class itself: Image.open would refuse it
        with image:
            width, height = image.size
            scale = _reduction(image.size)
            reduced = -(-width // scale) * -(-height // scale)
            if width * height > 4 * limit or reduced > limit or scale == 1:
                bomb.mesocli_whole = scale == 1  # type: ignore[attr-defined]  # (its way out: the limit, not twice)
                raise bomb
            if image.format == "PNG" and _png_header(image) is None or (
                    image.format == "TIFF" and _tiff_blocks(image) is None):
                raise bomb
            if image.format == "JPEG" and (image.info.get("progressive") or len(image.tile) != 1):
                raise bomb
            yield image


def _read_image(path: str | Path, decode: bool, data: bytes | None = None) -> Image.Image:
    """Open ``path`` with Pillow (header only, or decoded: a large one reduced, :func:`_decoded`), or its bytes
    ``data`` already read; every failure is a one-line InputError naming ``path``."""
    pixel_limit()  # $MESOCLI_MAX_IMAGE_PIXELS, if set, as Pillow's limit
    if (check_input_file(path).st_size if data is None else len(data)) == 0:
        raise InputError(f"{path}: empty file", "empty")
    try:
        try:
            with _opened(path, data) as image:
                return _decoded(image) if decode else image
        except Image.DecompressionBombError as bomb:
            if not decode:  # a header is only checked: an image that can be read reduced passes
                with _opened_large(path, data, bomb) as image:
                    return image
            with _opened_large(path, data, bomb) as image:
                return _decoded(image)
    except Image.DecompressionBombError as exc:
        limit = " ".join(str(exc).split())
        raise InputError(f"{path}: image too large (Pillow's decompression-bomb limit: {limit}){_way_out(exc)}",
                         "too_large") from None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", "not_found") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied", "permission") from None
    except MemoryError:
        raise InputError(f"{path}: image too large to decode (out of memory)", "too_large") from None
    except Exception as exc:  # Pillow's decoders raise many kinds on damaged files
        if _is_heif(path, data):
            raise InputError(f"{path}: HEIC/HEIF image, which mesocli cannot read: convert it to JPEG or PNG "
                             "(e.g. with ffmpeg or an image viewer)", "unsupported") from None
        if data is not None and isinstance(exc, UnidentifiedImageError):  # Pillow names the BytesIO, not the file
            exc = UnidentifiedImageError(f"cannot identify image file {os.fspath(path)!r}")
        # its header read but not its pixels: cut short (Pillow says "truncated"), or damaged
        kind = ("not_media" if isinstance(exc, UnidentifiedImageError)
                else "truncated" if "truncated" in str(exc).lower() else "decode_failed")
        raise InputError(f"{path}: not a readable image ({_one_line(exc)})", kind) from None


def _way_out(bomb: Image.DecompressionBombError) -> str:
    """What to do with an image refused as too large: downscale it, to the limit, or to twice it for the formats
    that are read reduced over it (:func:`_opened_large`; not for one too short a side to be read reduced); or
    raise the limit (:func:`pixel_limit`)."""
    limit = Image.MAX_IMAGE_PIXELS
    if not limit:
        return ""
    if getattr(bomb, "mesocli_whole", False):  # too short a side to be decoded reduced (:func:`_reduction`)
        return (f": downscale it to {2 * limit:,} pixels or fewer (an image under {2 * DECODE_SIDE:,} pixels a side "
                f"is not read reduced), or raise the limit with {PIXEL_LIMIT_VARIABLE}=PIXELS")
    return (f": downscale it to {2 * limit:,} pixels or fewer ({4 * limit:,} for a baseline JPEG, a still PNG, "
            "not interlaced, of 8 bits a channel or 16-bit grey, or a TIFF of several strips or tiles, which are "
            f"read reduced), or raise the limit with {PIXEL_LIMIT_VARIABLE}=PIXELS")


def _decoded(image: Image.Image) -> Image.Image:
    """``image`` (opened, not loaded) decoded: a large one reduced (a JPEG by :func:`_draft`, a PNG band by band
    by :func:`_png_reduced`, a still WebP by ffmpeg, :func:`_webp_reduced`, a TIFF of strips or tiles band by
    band, :func:`_tiff_reduced`, others once decoded, :func:`_reduced`; its factor in ``info`` under
    :data:`DECODE_SCALE`), a 16-bit PGM as 16-bit, and turned as its EXIF orientation says."""
    scale, webp = 1, None
    width, height = image.size  # the file's own size, turned below as its EXIF orientation says
    if image.format == "PNG" and (png := _png_header(image)) and (scale := _reduction(image.size)) > 1:
        image = _png_reduced(image, *png, scale)
    elif (image.format == "WEBP" and not getattr(image, "is_animated", False) and image.fp is not None
          and (scale := _reduction(image.size)) > 1 and (webp := _webp_reduced(image, _file_bytes(image), scale))):
        image = webp
    elif (blocks := _tiff_blocks(image)) and (scale := _reduction(image.size)) > 1:
        image = _tiff_reduced(image, blocks, scale)
    else:
        scale = _draft(image)
        image.load()
        if image.format == "PPM" and image.mode == "I":  # 16-bit PGM, which Pillow scales to 0-65535
            image = Image.fromarray(np.asarray(image).astype(np.uint16))  # I;16: scaled as 16-bit PNG is
        if scale == 1 and (scale := _reduction(image.size)) > 1:  # not decoded reduced (not a JPEG, or declined)
            image = _reduced(image, scale)
    if scale > 1:  # (read from the decoded picture: a PNG's own getexif() would decode it whole)
        with contextlib.suppress(Exception):
            if image.getexif().get(0x0112) in (5, 6, 7, 8):  # a quarter turn (transposed or not)
                width, height = height, width
    if image.format in ("JPEG", "MPO") or scale > 1:  # turned in place: no second full-size copy of a photo
        ImageOps.exif_transpose(image, in_place=True)
    else:  # a copy: some formats' pixels are mapped from the file, which may be replaced meanwhile
        image = ImageOps.exif_transpose(image) or image
    if scale > 1:
        image.info[DECODE_SCALE] = scale
        image.info[DECODE_SIZE] = (width, height)
    return image


TIFF_DECODING_TAGS = (256, 258, 259, 262, 266, 277, 284, 317, 320, 338, 339, 347, 529, 530, 531, 532)
"""The TIFF tags a band of strips or tiles (:func:`_tiff_reduced`) is decoded with: width, bits, compression,
photometric, fill order, samples, planar configuration, predictor, colour map, extra samples, sample format,
JPEG tables, YCbCr coefficients, subsampling, positioning, reference black and white."""
TIFF_BAND_BLOCKS = 4096
"""About the most strips or tiles a band of a TIFF holds (:func:`_tiff_reduced`; at least a band's worth of whole
boxes): a band is a TIFF of its own, whose directory lists each, so that a file of a million one-row strips is not
read as one band of a million (twice the memory of Pillow's own decode)."""
TIFF_BLOCKS = {273: (279, 278, None), 324: (325, 323, 322)}
"""Where a TIFF's blocks lie: strip offsets (their byte counts, rows per strip) or tile offsets (their byte
counts, tile length, tile width)."""


def _tiff_blocks(image: Image.Image) -> tuple[int, int, int, int] | None:
    """How a TIFF (opened, not loaded) that :func:`_tiff_reduced` can decode band by band is stored: its offsets'
    tag, rows per block (strip or row of tiles), blocks a row of them and planes; None for any other image
    (another format, one block down, old-style JPEG, an orientation tag, a block count that does not add up,
    blocks that overlap: :func:`_tiff_fits`)."""
    tags = getattr(image, "tag_v2", None)
    if image.format != "TIFF" or tags is None or tags.get(259, 1) == 6 or tags.get(0x0112, 1) != 1:
        return None  # Pillow turns a TIFF as its orientation tag says while decoding it: decoded whole
    for offsets, (_, rows_tag, width_tag) in TIFF_BLOCKS.items():
        if offsets in tags and (offsets == 273 or width_tag in tags):
            rows = int(tags.get(rows_tag, image.height) or image.height)
            across = -(-image.width // int(tags[width_tag])) if width_tag else 1
            planes = int(tags.get(277, 1)) if tags.get(284, 1) == 2 else 1
            down = -(-image.height // max(rows, 1))
            count = len(tags[offsets]) if isinstance(tags[offsets], tuple) else 1
            if 1 <= rows < image.height and count == down * across * planes == len(tags[TIFF_BLOCKS[offsets][0]]):
                return (offsets, rows, across, planes) if _tiff_fits(image, tags[TIFF_BLOCKS[offsets][0]]) else None
    return None


def _tiff_fits(image: Image.Image, counts: tuple[int, ...]) -> bool:
    """Whether a TIFF's blocks' byte counts add up to no more than its file: else blocks overlap (a hostile file
    can point every strip at all its bytes), and a band of them copied together would hold many times the file."""
    if image.fp is None:
        return False
    position = image.fp.tell()
    size = image.fp.seek(0, os.SEEK_END)
    image.fp.seek(position)
    return sum(counts) <= size


def _tiff_reduced(image: Image.Image, blocks: tuple[int, int, int, int], scale: int) -> Image.Image:
    """A large TIFF (opened, not loaded; :func:`_tiff_blocks`) decoded reduced by ``scale`` a band of strips (or
    rows of tiles) at a time: each band is decoded by Pillow as a TIFF of its own, made of those blocks and the
    tags that decode them, then reduced as :func:`_reduced` reduces a whole one. The full-size picture is never
    made; the same pixels as the whole picture decoded and reduced."""
    from math import lcm

    from PIL import TiffImagePlugin, TiffTags

    offsets_tag, rows, across, planes = blocks
    tags = image.tag_v2
    offsets, counts = tags[offsets_tag], tags[TIFF_BLOCKS[offsets_tag][0]]
    down = -(-image.height // rows)
    bits = tags.get(258, 8)
    bits = max(bits) if isinstance(bits, tuple) and bits else bits
    row_bytes = max(1, image.width * len(image.getbands()) * max(1, int(bits or 8)) // 8)
    step = lcm(rows, scale) // rows  # blocks down a band: whole boxes of scale rows, but for the last band
    most = PNG_BAND_BYTES // row_bytes  # rows, and no more than Pillow's limit (it checks each band decoded)
    if Image.MAX_IMAGE_PIXELS:
        most = min(most, int(Image.MAX_IMAGE_PIXELS) // image.width)
    step *= max(1, min(most // (rows * step), TIFF_BAND_BLOCKS // (step * across * planes)))
    handle = image.fp
    assert handle is not None
    reduced: Image.Image | None = None
    for first in range(0, down, step):
        last = min(down, first + step)
        chosen = [plane * down * across + block * across + column for plane in range(planes)
                  for block in range(first, last) for column in range(across)]
        data = bytearray()
        starts = []
        for index in chosen:
            handle.seek(offsets[index])
            piece = handle.read(counts[index])
            if len(piece) < counts[index]:
                raise OSError("image file is truncated")
            starts.append(len(data))  # after the band's IFD, where it is written
            data += piece
        band = TiffImagePlugin.ImageFileDirectory_v2(prefix=tags.prefix)
        for tag in TIFF_DECODING_TAGS + TIFF_BLOCKS[offsets_tag][1:]:
            if tag is not None and tag in tags:
                band[tag] = tags[tag]
                kind = tags.tagtype[tag]  # a BigTIFF's 8-byte integers as 4-byte ones: the band is a classic TIFF
                band.tagtype[tag] = TiffTags.LONG if kind == 16 else TiffTags.SIGNED_LONG if kind == 17 else kind
        band[257] = min(image.height, last * rows) - first * rows
        band[offsets_tag], band[TIFF_BLOCKS[offsets_tag][0]] = tuple(starts), tuple(counts[i] for i in chosen)
        band.tagtype[offsets_tag] = band.tagtype[TIFF_BLOCKS[offsets_tag][0]] = TiffTags.LONG
        directory = band.tobytes(8)  # Pillow moves strip offsets past it; tile offsets are moved here
        if offsets_tag == 324:
            band[324] = tuple(8 + len(directory) + start for start in starts)
            band.tagtype[324] = TiffTags.LONG
            directory = band.tobytes(8)  # the same length: the same tags, types and counts
        head = tags.prefix + (42).to_bytes(2, "big" if tags.prefix == b"MM" else "little")
        head += (8).to_bytes(4, "big" if tags.prefix == b"MM" else "little")
        with TiffImagePlugin.TiffImageFile(io.BytesIO(bytes(head + directory + data))) as decoded:
            decoded.load()
            part = _reduced(decoded, scale)
        if reduced is None:
            reduced = Image.new(part.mode, (-(-image.width // scale), -(-image.height // scale)))
        reduced.paste(part, (0, first * rows // scale))
    assert reduced is not None
    reduced.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return reduced


def _file_bytes(image: Image.Image) -> bytes:
    """The bytes of the file ``image`` was opened from (opened: the same file, whatever replaces it meanwhile)."""
    assert image.fp is not None
    image.fp.seek(0)
    return image.fp.read()


WEBP_TIMEOUT = 300
"""The longest, in seconds, that ffmpeg may take to decode a large WebP (:func:`_webp_reduced`)."""


def _webp_reduced(image: Image.Image, data: bytes, scale: int) -> Image.Image | None:
    """A large still WebP (opened, not loaded) decoded reduced by ``scale`` by the bundled ffmpeg, from its bytes
    ``data``: Pillow's WebP decoder makes about four full-size copies of the picture (16 bytes a pixel: 2.4 GB
    for 150 megapixels), ffmpeg one, in its own process (1.5 bytes a pixel for a lossy WebP, 4 for a lossless
    one; 4 more for one with transparency, composited on black first, as :func:`to_rgb` does), scaled by box
    averages (``area``) as it is written out. RGB, ``info`` kept; None where ffmpeg fails (it refuses a picture
    near a WebP's largest, 16383×16383) or cannot be run: then Pillow decodes it whole."""
    from mesocli.probe import ffmpeg_done, ffmpeg_exe, ffmpeg_stopped, start_ffmpeg

    width, height = -(-image.width // scale), -(-image.height // scale)  # as Image.reduce sizes it
    scaled = f"scale={width}:{height}:flags=area+accurate_rnd+full_chroma_int"
    if image.mode == "RGBA":  # composited on black (its colours times its alpha) before the box averages
        scaled = f"format=rgba,premultiply=inplace=1,{scaled}"
    try:
        process = start_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-noautorotate",
                                "-f", "webp_pipe", "-i", "pipe:0", "-frames:v", "1", "-vf", scaled,
                                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (RuntimeError, UsageError):  # no ffmpeg to run (the Python API needs none for images): Pillow's decode
        return None
    try:
        pixels, log = process.communicate(data, timeout=WEBP_TIMEOUT)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        ffmpeg_done(process)
    if stopped := ffmpeg_stopped(process.returncode, log.decode(errors="replace")):
        raise OSError(stopped)
    if process.returncode or len(pixels) != width * height * 3:
        return None
    reduced = Image.frombuffer("RGB", (width, height), pixels, "raw", "RGB", 0, 1)
    reduced.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return reduced


def _reduced(image: Image.Image, scale: int) -> Image.Image:
    """A large decoded image that cannot be decoded reduced (GIF, BMP, a TIFF of one strip, an interlaced or 16-bit
    colour PNG, ...), or a band of a TIFF (:func:`_tiff_reduced`), reduced by ``scale`` at once (box averages, as the
    band-by-band PNG decode's), so that only the decode itself is full size; made RGB first where Pillow cannot
    reduce its mode (palette, 1-bit, 16-bit)."""
    if image.mode not in ("L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F"):
        image = to_rgb(image)
    reduced = image.reduce(scale)
    reduced.info = {key: value for key, value in image.info.items() if key != "transparency"}
    return reduced


def decode_scale(image: Image.Image) -> int:
    """The factor :func:`open_image` reduced ``image`` by when decoding it (1: full size)."""
    return int(image.info.get(DECODE_SCALE, 1))


def file_size(image: Image.Image) -> tuple[int, int]:
    """The (width, height) of the file :func:`open_image` read ``image`` from, after its EXIF turn: its own size
    where it was decoded reduced (whose size times its scale may pass the file's by up to scale - 1 px)."""
    size = image.info.get(DECODE_SIZE)
    return (int(size[0]), int(size[1])) if size else image.size


def _is_heif(path: str | Path, data: bytes | None = None) -> bool:
    """Whether the file (or its bytes ``data``) announces a HEIC/HEIF image (an ISO media ``ftyp`` box with a
    HEIF brand)."""
    from mesocli.inputs import HEIF_BRANDS

    if data is None:
        with open(path, "rb") as handle:
            data = handle.read(12)
    return data[4:8] == b"ftyp" and data[8:12] in HEIF_BRANDS


def image_notes(path: str | Path) -> list[str]:
    """Warnings about a still image's reading: an animated or multi-page file is scored on its first frame."""
    with contextlib.suppress(Exception), _opened(path) as image:
        frames = getattr(image, "n_frames", 1)
        if frames > 1:
            return [f"animated or multi-page image: only its first of {frames} frames is scored"]
    return []


ANIMATED_FORMATS = ("GIF", "PNG", "WEBP")
"""Pillow's formats whose animated files (GIF, APNG, animated WebP) are scanned as videos (:func:`is_animated`); a
multi-page TIFF or a stereo MPO photo stays an image."""


def is_animated(path: str | Path) -> bool:
    """Whether ``path`` is an animated GIF, APNG or WebP (more than one frame); False if Pillow cannot tell."""
    with contextlib.suppress(Exception), _opened(path) as image:
        return image.format in ANIMATED_FORMATS and bool(getattr(image, "is_animated", False))
    return False


def check_image(path: str | Path) -> None:
    """Parse an image file's header (no decoding); raise InputError if Pillow cannot or may not read it."""
    _read_image(path, decode=False)


def open_image(path: str | Path, data: bytes | None = None) -> Image.Image:
    """Open and fully decode an image file (EXIF orientation applied), or its bytes ``data`` already read
    (:func:`image_bytes`); raise InputError if unreadable."""
    return _read_image(path, decode=True, data=data)


def image_bytes(path: str | Path) -> bytes:
    """An image file's bytes, read once: what a sha256 names and :func:`load_face` decodes with ``data``, so
    that both are of the same bytes, whatever replaces the file meanwhile. A missing or unreadable file, a
    folder, or no regular file (a named pipe, opened without blocking: never waited on) is a one-line
    InputError, as for :func:`open_image`."""
    check_input_file(path)
    with reading(path), open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0) as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # replaced since its check
            raise InputError(f"{path}: not a regular file", "not_a_file")
        os.set_blocking(handle.fileno(), True)
        return handle.readall()


def load_face(path: str | Path, data: bytes | None = None, resize: str = DEFAULT_RESIZE) -> np.ndarray:
    """Read an image file (or decode its bytes ``data``, :func:`image_bytes`) as a (256, 256, 3) uint8 face
    crop, resized by ``resize`` when it is not 256×256."""
    return load_faces(path, (resize,), data)[0]


def load_faces(path: str | Path, resizes: Sequence[str], data: bytes | None = None) -> list[np.ndarray]:
    """:func:`load_face` for each of ``resizes``, the file decoded once."""
    image = open_image(path, data)
    try:
        return [face_to_uint8(image, resize) for resize in resizes]
    except (ValueError, OSError) as exc:  # a mode Pillow reads but cannot convert (e.g. LAB)
        raise InputError(f"{path}: cannot convert the {image.mode} image to RGB ({_one_line(exc)})",
                         "decode_failed") from None
