"""The one preprocessing: any image mode and size -> (256, 256, 3) float32 in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from media import grey_jpeg
from PIL import Image

from mesocli.errors import InputError
from mesocli.preprocess import face_to_uint8, load_face, open_image, to_network_input


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")
    if mode == "P":
        return rgb.quantize(64)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (size[1], size[0]), dtype=np.uint16))
    return rgb.convert(mode)


def _raw_png(size: tuple[int, int], depth: int, colour: int) -> bytes:
    """A PNG of random bytes of ``depth`` bits a channel and colour type ``colour``, its rows filtered by each of
    PNG's five filters in turn (Pillow writes no 16-bit colour, nor grey and alpha, PNG)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    width, height = size
    stride = width * {0: 1, 2: 3, 4: 2, 6: 4}[colour] * depth // 8
    rng = np.random.default_rng(0)
    rows = b"".join(bytes([row % 5]) + rng.integers(0, 256, stride, dtype=np.uint8).tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA", "CMYK", "P", "I;16", "I", "F", "1", "YCbCr"])
@pytest.mark.parametrize("size", [(256, 256), (64, 90), (1000, 700)])
def test_every_mode_and_size_becomes_network_input(mode: str, size: tuple[int, int]) -> None:
    x = to_network_input(_image(mode, size))
    assert x.shape == (256, 256, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_rgb_256_is_untouched_and_divided_by_255() -> None:
    array = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(face_to_uint8(Image.fromarray(array)), array)
    np.testing.assert_array_equal(to_network_input(array), array.astype(np.float32) / 255.0)


def test_grayscale_becomes_three_equal_channels() -> None:
    x = face_to_uint8(Image.new("L", (300, 300), 77))
    assert (x == 77).all()


def test_transparency_is_composited_on_black() -> None:
    x = face_to_uint8(Image.new("RGBA", (256, 256), (200, 100, 50, 0)))
    assert (x == 0).all()


def test_sixteen_bit_png_keeps_its_range(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((40, 40), 65535, np.uint16)).save(path)
    assert (load_face(path) == 255).all()


def test_sixteen_bit_pgm_is_scaled_as_sixteen_bit_png_is(tmp_path: Path) -> None:
    dark = np.random.default_rng(0).integers(0, 20000, (40, 40), dtype=np.uint16)  # a dark 16-bit scan
    (tmp_path / "dark.pgm").write_bytes(b"P5\n40 40\n65535\n" + dark.astype(">u2").tobytes())
    Image.fromarray(dark).save(tmp_path / "dark.png")
    pgm, png = load_face(tmp_path / "dark.pgm"), load_face(tmp_path / "dark.png")
    assert pgm.max() <= 80  # not stretched to its own minimum and maximum (it was: up to 255)
    np.testing.assert_array_equal(pgm, png)


def test_unreadable_files_raise_one_line_input_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\x00\x01not an image")
    for path, message in [(junk, "not a readable image"), (tmp_path / "missing.png", "no such file")]:
        with pytest.raises(InputError, match=message) as info:
            open_image(path)
        assert "\n" not in str(info.value)


def test_decompression_bombs_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    Image.new("L", (3000, 3000)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(InputError, match="decompression-bomb"):
        open_image(path)


def test_the_pixel_limit_is_raised_by_its_environment_variable(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """There was no way to read an image over Pillow's limit: $MESOCLI_MAX_IMAGE_PIXELS sets it, and the refusal
    names it; a value that is not a number of pixels is a one-line UsageError."""
    from mesocli.errors import UsageError

    path = tmp_path / "large.tif"
    _image("RGB", (60, 60)).save(path)  # 3,600 pixels; a TIFF cannot be read reduced
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # refused above 2,000 pixels
    with pytest.raises(InputError, match=r", or raise the limit with MESOCLI_MAX_IMAGE_PIXELS=PIXELS$"):
        open_image(path)
    monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", "4_000")
    assert open_image(path).size == (60, 60)
    monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", "3000")
    with pytest.raises(InputError, match=r"exceeds limit of 3000 pixels"):
        open_image(path)
    monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", "4 GB")
    with pytest.raises(UsageError, match=r"^MESOCLI_MAX_IMAGE_PIXELS='4 GB': not a number of pixels of 1000 or "):
        open_image(path)


def test_large_images_under_the_bomb_limit_are_read_without_pillows_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    path = tmp_path / "large.png"
    Image.new("L", (40, 40)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,600 pixels: over the limit, under twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would raise here
        assert open_image(path).size == (40, 40)


def test_heic_is_named_and_animated_images_say_which_frame_is_scored(tmp_path: Path) -> None:
    from mesocli.preprocess import image_notes

    heic = tmp_path / "photo.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200)  # what an iPhone photo starts with
    with pytest.raises(InputError, match="HEIC/HEIF image, which mesocli cannot read: convert it to JPEG or PNG"):
        open_image(heic)
    animated = tmp_path / "two.gif"
    first, second = Image.new("RGB", (32, 32), "grey"), Image.new("RGB", (32, 32), "white")
    first.save(animated, save_all=True, append_images=[second])
    assert image_notes(animated) == ["animated or multi-page image: only its first of 2 frames is scored"]
    assert image_notes(heic) == []
    assert np.asarray(open_image(animated).convert("RGB")).mean() == pytest.approx(128, abs=2)  # the first frame


def test_sixteen_bit_values_scale_as_x_over_257_without_float_copies() -> None:
    from mesocli.preprocess import to_rgb

    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)  # each 16-bit value once
    grey = np.asarray(to_rgb(Image.fromarray(every)))[..., 0]
    np.testing.assert_array_equal(grey, np.rint(every / 257.0).astype(np.uint8))  # as before, in integers now
    floats = np.array([[np.nan, np.inf, -1.0, 3.0]], dtype=np.float32)
    assert np.asarray(to_rgb(Image.fromarray(floats, "F")))[..., 0].tolist() == [[64, 64, 0, 255]]


def test_opening_an_image_and_a_third_party_import_never_swap_the_warning_filters_at_once(tmp_path: Path) -> None:
    """``warnings.catch_warnings`` saves and restores the filters of the whole process: a scan's input reader
    opening an image while the main thread imports matplotlib (``scan --report``) could restore the other's
    filters and leave one set for good. Both blocks hold one lock, so the reader waits."""
    import threading
    import warnings

    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    path = tmp_path / "face.png"
    Image.new("RGB", (8, 8)).save(path)
    before = list(warnings.filters)
    opened = threading.Event()
    reader = threading.Thread(target=lambda: (open_image(path), opened.set()))
    with their_deprecations(*MATPLOTLIB):
        reader.start()
        assert not opened.wait(0.5), "the image was opened while the filters were swapped"
    reader.join(10)
    assert opened.is_set()
    assert warnings.filters == before


def test_a_jpeg_over_pillows_limit_is_decoded_reduced_never_at_full_size(tmp_path: Path) -> None:
    """A 184-megapixel JPEG (a 200 MP phone photo is as far over Pillow's limit of 179 MP) was refused as a
    decompression bomb; it is decoded at 1/8 by the JPEG decoder, its longest side still over 4000."""
    from mesocli.preprocess import check_image, decode_scale

    path = grey_jpeg(tmp_path / "huge.jpg", 65_496, 2_816)
    check_image(path)
    image = open_image(path)
    assert (image.size, image.mode, decode_scale(image)) == ((8_187, 352), "L", 8)
    assert (np.asarray(image) == 128).all()
    assert load_face(path).shape == (256, 256, 3)


def test_only_baseline_jpegs_up_to_twice_the_limit_are_read_reduced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over Pillow's limit, a progressive JPEG (whose decoder holds the whole picture's coefficients), a JPEG
    over twice the limit and an image that cannot be decoded reduced (a TIFF of one strip here) are refused as
    before; a TIFF of several strips is read reduced, as a baseline JPEG is."""
    from mesocli import preprocess
    from mesocli.preprocess import check_image

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # refused above 2000 pixels; read reduced up to 4000
    picture = _image("RGB", (60, 60))  # 3600 pixels
    picture.save(tmp_path / "baseline.jpg")
    picture.save(tmp_path / "progressive.jpg", progressive=True)
    picture.save(tmp_path / "picture.tif")  # one strip
    picture.save(tmp_path / "strips.tif", compression="tiff_lzw", strip_size=1000)
    _image("RGB", (70, 70)).save(tmp_path / "larger.jpg")  # 4900 pixels
    image = open_image(tmp_path / "baseline.jpg")
    assert (image.size, preprocess.decode_scale(image)) == ((30, 30), 2)
    check_image(tmp_path / "strips.tif")  # a TIFF of strips is read reduced too (it was refused)
    image = open_image(tmp_path / "strips.tif")
    for name in ("progressive.jpg", "picture.tif", "larger.jpg"):
        with pytest.raises(InputError, match=r"image too large \(Pillow's decompression-bomb limit: Image size"):
            open_image(tmp_path / name)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # to decode it whole, to compare
    with Image.open(tmp_path / "strips.tif") as whole:
        whole.load()
        np.testing.assert_array_equal(np.asarray(image), np.asarray(whole.reduce(2)))


def test_the_refusal_of_an_image_too_small_a_side_to_be_read_reduced_offers_no_allowance(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an image 2×DECODE_SIDE (8,000) pixels or more on its longest side is read reduced over the limit: a
    lowered limit refused a 3,600-pixel baseline JPEG with the advice that 4,000 pixels are read for one. The
    refusal of one with shorter sides says to downscale it to the limit, and why the allowance does not apply."""
    path = tmp_path / "baseline.jpg"
    _image("RGB", (60, 60)).save(path)  # 3,600 pixels, its sides under 8,000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # refused above 2,000 pixels; read reduced up to 4,000
    with pytest.raises(InputError) as refused:
        open_image(path)
    assert str(refused.value) == (
        f"{path}: image too large (Pillow's decompression-bomb limit: Image size (3600 pixels) exceeds limit of "
        "2000 pixels, could be decompression bomb DOS attack.): downscale it to 2,000 pixels or fewer (an image "
        "under 8,000 pixels a side is not read reduced), or raise the limit with MESOCLI_MAX_IMAGE_PIXELS=PIXELS")


def test_a_large_jpeg_is_decoded_reduced_and_turned_as_its_exif_says(tmp_path: Path) -> None:
    """A JPEG over 8000 pixels is decoded at 1/2 (its longest side kept at 4000 or more), then turned upright
    by its EXIF orientation; smaller JPEGs are decoded at full size."""
    from mesocli.preprocess import decode_scale

    stored = Image.new("RGB", (8_192, 2_048), (0, 0, 255))  # stored sideways: its top is the red left edge
    stored.paste((255, 0, 0), (0, 0, 512, 2_048))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    stored.save(tmp_path / "turned.jpg", exif=exif, quality=90)
    stored.crop((0, 0, 4_000, 2_048)).save(tmp_path / "smaller.jpg")
    image = open_image(tmp_path / "turned.jpg")
    assert (image.size, decode_scale(image)) == ((1_024, 4_096), 2)
    pixels = np.asarray(image)
    assert pixels[10, 512][0] > 200 and pixels[-10, 512][2] > 200  # red at the top, blue below
    assert decode_scale(open_image(tmp_path / "smaller.jpg")) == 1
    assert open_image(tmp_path / "smaller.jpg").size == (4_000, 2_048)


@pytest.fixture
def full_loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The size of every image Pillow decodes from a file (``ImageFile.load``) while the test runs."""
    from PIL import ImageFile

    sizes: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recorded(self: ImageFile.ImageFile):  # type: ignore[no-untyped-def]
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    return sizes


def _png(mode: str, size: tuple[int, int]) -> Image.Image:
    """A picture that PNG's filters (Sub, Paeth, ...) have something to do with: gradients, and noisy rows."""
    rng = np.random.default_rng(2)
    pixels = np.cumsum(rng.integers(0, 5, (size[1], size[0], 4)), axis=1).astype(np.uint8)
    pixels[::7] = rng.integers(0, 256, pixels[::7].shape, dtype=np.uint8)
    rgba = Image.fromarray(pixels, "RGBA")
    return rgba.convert("RGB").quantize(50) if mode == "P" else rgba.convert(mode)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P"])
def test_a_large_png_is_decoded_reduced_band_by_band_never_whole(
        mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_loads: list) -> None:
    """A PNG (8 bits a channel, not interlaced) whose longest side is 2×DECODE_SIDE or more was decoded at full
    size (Pillow cannot reduce it); it is decoded a band of rows at a time, each reduced: the same pixels as
    the whole picture made RGB and reduced, and no decode of the whole picture."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 1000, raising=False)  # bands of 4 (RGBA) to 12 (L, P) rows
    path = tmp_path / "large.png"
    _png(mode, (77, 101)).save(path, transparency=3) if mode == "P" else _png(mode, (77, 101)).save(path)
    image = open_image(path)
    assert (image.size, image.mode, preprocess.decode_scale(image)) == ((20, 26), "RGB", 4)
    assert len(full_loads) >= 9 and max(height for _, height in full_loads) <= 13  # a band and the row before it
    with Image.open(path) as whole:
        expected = preprocess.to_rgb(whole).reduce(4)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))


def test_a_large_png_is_turned_as_its_exif_says(tmp_path: Path) -> None:
    from mesocli.preprocess import decode_scale

    stored = Image.new("RGB", (8_192, 512), (0, 0, 255))  # stored sideways: its top is the red left edge
    stored.paste((255, 0, 0), (0, 0, 512, 512))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    stored.save(tmp_path / "turned.png", exif=exif, compress_level=1)
    image = open_image(tmp_path / "turned.png")
    assert (image.size, decode_scale(image)) == ((256, 4_096), 2)
    pixels = np.asarray(image)
    assert tuple(pixels[10, 128]) == (255, 0, 0) and tuple(pixels[-10, 128]) == (0, 0, 255)


def test_a_png_over_pillows_limit_is_read_reduced_and_larger_ones_refused_with_the_way_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full_loads: list) -> None:
    """A PNG over Pillow's limit (a one-colour "bomb": a few kB that expand to megapixels here, to gigapixels
    in the wild) was refused; one that can be read reduced (8 bits a channel, not interlaced, up to twice the
    limit) is, as a JPEG is, without ever being decoded whole. Others are refused from their header alone,
    saying what to do: the way out named PNGs as read reduced, but an animated one never is; it names the
    variable that raises the limit."""
    from mesocli import preprocess
    from mesocli.preprocess import check_image, decode_scale

    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 100_000, raising=False)  # bands of 12 rows
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500_000)  # refused above 1 MP; read reduced up to 2 MP
    Image.new("L", (8_000, 240), 7).save(tmp_path / "bomb.png")  # 1.92 MP
    Image.new("L", (8_100, 250), 7).save(tmp_path / "larger.png")  # 2.03 MP
    (tmp_path / "deep.png").write_bytes(_raw_png((8_000, 240), 16, 2))  # 16-bit colour: cannot be read reduced
    Image.new("I;16", (8_000, 240), 7).save(tmp_path / "grey16.png")  # 16-bit grey: read reduced (was refused)
    Image.new("L", (8_000, 240), 7).save(tmp_path / "animated.png", save_all=True,  # an APNG: never read reduced
                                         append_images=[Image.new("L", (8_000, 240), 9)])
    assert (tmp_path / "bomb.png").stat().st_size < 10_000
    check_image(tmp_path / "bomb.png")
    image = open_image(tmp_path / "bomb.png")
    assert (image.size, decode_scale(image), image.getextrema()) == ((4_000, 120), 2, ((7, 7),) * 3)
    image = open_image(tmp_path / "grey16.png")
    assert (image.size, decode_scale(image), image.getextrema()) == ((4_000, 120), 2, ((0, 0),) * 3)  # 7 / 257
    assert all(height < 240 for _, height in full_loads)
    way_out = ("): downscale it to 1,000,000 pixels or fewer (2,000,000 for a baseline JPEG, a still PNG, not "
               "interlaced, of 8 bits a channel or 16-bit grey, or a TIFF of several strips or tiles, which are read "
               "reduced), or raise the limit with MESOCLI_MAX_IMAGE_PIXELS=PIXELS")
    for name, pixels in (("larger.png", 2_025_000), ("deep.png", 1_920_000), ("animated.png", 1_920_000)):
        for check in (check_image, open_image):
            with pytest.raises(InputError) as refused:
                check(tmp_path / name)
            assert str(refused.value) == (f"{tmp_path / name}: image too large (Pillow's decompression-bomb limit: "
                                          f"Image size ({pixels} pixels) exceeds limit of 1000000 pixels, could be "
                                          f"decompression bomb DOS attack.{way_out}")
    assert all(height < 240 for _, height in full_loads)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_large_webp_is_decoded_reduced_by_ffmpeg(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   full_loads: list) -> None:
    """A still WebP whose longest side is 2×DECODE_SIDE or more was decoded whole by Pillow (about four
    full-size copies: 2.4 GB for 150 megapixels); ffmpeg decodes it reduced, Pillow decodes no picture: the
    pixels of the whole picture made RGB (transparency composited on black) and reduced, give or take rounding,
    turned as its EXIF says."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    picture = _image("RGB", (76, 100))  # whole boxes of 4×4 (ffmpeg scales a partial one as a 4×4 one)
    if mode == "RGBA":
        picture.putalpha(_image("L", (100, 76)).transpose(Image.Transpose.ROTATE_90))  # noise: any alpha
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    path = tmp_path / "large.webp"
    picture.save(path, lossless=True, exif=exif)
    image = open_image(path)
    assert (image.size, image.mode, preprocess.decode_scale(image)) == ((25, 19), "RGB", 4)
    assert full_loads == []
    with Image.open(path) as whole:
        expected = preprocess.to_rgb(whole).reduce(4).transpose(Image.Transpose.ROTATE_270)  # orientation 6
    difference = np.abs(np.asarray(image, dtype=int) - np.asarray(expected, dtype=int))
    assert difference.max() <= 1 and difference.mean() < 0.5


def _tiled_tiff(picture: Image.Image, side: int) -> bytes:
    """An uncompressed RGB TIFF of ``picture`` in tiles of ``side``² (Pillow writes strips only)."""
    from PIL import TiffImagePlugin, TiffTags

    pixels = np.asarray(picture)
    across, down = -(-picture.width // side), -(-picture.height // side)
    padded = np.zeros((down * side, across * side, 3), np.uint8)
    padded[:picture.height, :picture.width] = pixels
    tiles = [padded[row * side:(row + 1) * side, column * side:(column + 1) * side].tobytes()
             for row in range(down) for column in range(across)]
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    tags = {256: picture.width, 257: picture.height, 258: (8, 8, 8), 259: 1, 262: 2, 277: 3, 284: 1, 322: side,
            323: side, 324: (0,) * len(tiles), 325: tuple(len(tile) for tile in tiles)}
    for tag, value in tags.items():
        directory[tag] = value
    directory.tagtype[324] = directory.tagtype[325] = TiffTags.LONG
    start = 8 + len(directory.tobytes(8))
    directory[324] = tuple(start + index * len(tiles[0]) for index in range(len(tiles)))
    directory.tagtype[324] = TiffTags.LONG
    return b"II*\0" + (8).to_bytes(4, "little") + directory.tobytes(8) + b"".join(tiles)


def _planar_tiff(picture: Image.Image, rows: int) -> bytes:
    """An uncompressed RGB TIFF of ``picture`` stored a plane at a time (red strips, then green, then blue), in
    strips of ``rows`` rows (Pillow writes interleaved samples only)."""
    from PIL import TiffImagePlugin, TiffTags

    pixels, down = np.asarray(picture), -(-picture.height // rows)
    strips = [pixels[row * rows:(row + 1) * rows, :, plane].tobytes() for plane in range(3) for row in range(down)]
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    tags = {256: picture.width, 257: picture.height, 258: (8, 8, 8), 259: 1, 262: 2, 277: 3, 278: rows, 284: 2,
            273: tuple(int(start) for start in np.cumsum([0] + [len(strip) for strip in strips[:-1]])),
            279: tuple(len(strip) for strip in strips)}  # offsets from the end of the directory: Pillow moves them
    for tag, value in tags.items():
        directory[tag] = value
    directory.tagtype[273] = directory.tagtype[279] = TiffTags.LONG
    return b"II*\0" + (8).to_bytes(4, "little") + directory.tobytes(8) + b"".join(strips)


@pytest.mark.parametrize("kind", ["lzw", "deflate-grey", "packbits-rgba", "jpeg", "tiles", "planar", "turned"])
def test_a_large_tiff_is_decoded_band_by_band(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              full_loads: list) -> None:
    """A TIFF in strips or tiles whose longest side is 2×DECODE_SIDE or more was decoded whole, then reduced
    (0.8 GB for 150 megapixels); it is decoded a band of strips (or a row of tiles) at a time, each reduced:
    the same pixels as the whole picture decoded and reduced, and no decode of the whole picture (but for one
    with an orientation tag, which Pillow turns as it decodes it)."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 1000)
    picture, path = _image("RGB", (77, 101)), tmp_path / "large.tif"
    if kind in ("tiles", "planar"):
        path.write_bytes(_tiled_tiff(picture, 16) if kind == "tiles" else _planar_tiff(picture, 3))
    else:
        mode, compression = {"deflate-grey": ("L", "tiff_adobe_deflate"), "packbits-rgba": ("RGBA", "packbits"),
                             "jpeg": ("RGB", "jpeg")}.get(kind, ("RGB", "tiff_lzw"))
        picture.convert(mode).save(path, compression=compression, strip_size=500,
                                   tiffinfo={274: 6} if kind == "turned" else {})
    image = open_image(path)
    bands = list(full_loads)
    with Image.open(path) as whole:
        assert len(whole.tag_v2.get(273, whole.tag_v2.get(324))) > 6  # strips, or tiles
        whole.load()
        expected = preprocess._reduced(whole, 4)
    assert (image.size, preprocess.decode_scale(image)) == ((26, 20) if kind == "turned" else (20, 26), 4)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))
    if kind != "turned":  # Pillow turns a TIFF while decoding it: one with an orientation tag is decoded whole
        assert len(bands) >= 3 and max(height for _, height in bands) <= 16


def test_a_tiff_of_overlapping_strips_costs_no_more_memory_than_its_size(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile TIFF whose strips all point at the same bytes, each byte count spanning them all, was read a band
    of strips at a time with each strip's bytes copied into the band: an 835 KB file held 62 MB (276 KB: 640 MB
    at full size). It is decoded as Pillow decodes it whole, the same pixels, in memory of the order of its size."""
    import tracemalloc

    from PIL import TiffImagePlugin, TiffTags

    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 1000)
    width, height, shared = 40, 2000, bytes(range(256)) * 3200  # 1 row a strip, each reading all 800 KB
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in {256: width, 257: height, 258: 8, 259: 1, 262: 1, 277: 1, 278: 1, 273: (0,) * height,
                       279: (len(shared),) * height}.items():  # offsets from the directory's end: Pillow moves them
        directory[tag] = value
    directory.tagtype[273] = directory.tagtype[279] = TiffTags.LONG
    path = tmp_path / "overlapping.tif"
    path.write_bytes(b"II*\0" + (8).to_bytes(4, "little") + directory.tobytes(8) + shared)
    open_image(path)  # the modules it imports, once
    tracemalloc.start()
    try:
        image = open_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with Image.open(path) as whole:
        whole.load()
        expected = preprocess._reduced(whole, 8)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))
    assert peak < 2 * path.stat().st_size, f"{peak:,} bytes held for a {path.stat().st_size:,}-byte file"


def test_a_tiff_of_many_strips_costs_little_more_memory_than_a_whole_decode(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A TIFF of tens of thousands of one-row strips (a hostile file: a million of them in 8 MB) was read as one
    band of them all, a TIFF of its own listing each: twice the memory of Pillow's own decode (a million: 853 MB,
    397 MB decoded whole). A band holds a few thousand strips at most: little more than a whole decode costs."""
    import tracemalloc

    from PIL import TiffImagePlugin, TiffTags

    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    width, height = 8, 10_000
    directory = TiffImagePlugin.ImageFileDirectory_v2()
    for tag, value in {256: width, 257: height, 258: 8, 259: 1, 262: 1, 277: 1, 278: 1,
                       273: tuple(range(0, width * height, width)), 279: (width,) * height}.items():
        directory[tag] = value  # offsets from the directory's end: Pillow moves them
    directory.tagtype[273] = directory.tagtype[279] = TiffTags.LONG
    path = tmp_path / "strips.tif"
    pixels = _image("L", (width, height)).tobytes()
    path.write_bytes(b"II*\0" + (8).to_bytes(4, "little") + directory.tobytes(8) + pixels)
    open_image(path)  # the modules it imports, once
    tracemalloc.start()
    try:
        with Image.open(path) as whole:
            assert len(whole.tag_v2[273]) == len(whole.tag_v2[279]) == height  # its strips, listed
            opening = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        image = open_image(path)
        reading = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with Image.open(path) as whole:
        whole.load()
        np.testing.assert_array_equal(np.asarray(image), np.asarray(preprocess._reduced(whole, 8)))
    # Pillow's whole decode: 2.0× what opening it holds; one band of every strip 3.4×; bands of 4096: 2.3×
    assert reading < 2.75 * opening, f"{reading:,} bytes held to read it, {opening:,} to open it"


def test_a_large_webp_is_decoded_whole_where_ffmpeg_cannot_run(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The Python API reads images without ffmpeg: where it cannot be run, Pillow decodes a large WebP whole, as
    before, rather than failing it."""
    from mesocli import preprocess, probe

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(probe, "ffmpeg_exe", lambda: str(tmp_path / "no-ffmpeg"))
    path = tmp_path / "large.webp"
    _image("RGB", (76, 100)).save(path, lossless=True)
    image = open_image(path)
    with Image.open(path) as whole:
        np.testing.assert_array_equal(np.asarray(image), np.asarray(preprocess.to_rgb(whole).reduce(4)))


@pytest.mark.parametrize("alpha", [False, True])
def test_a_large_16_bit_grey_png_is_decoded_band_by_band(alpha: bool, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, full_loads: list) -> None:
    """A 16-bit PNG was decoded whole, then reduced; a grey one, with alpha or not, is decoded a band at a time
    (as the 8-bit grey-and-alpha or RGBA PNG of the same bytes, whose filters work alike): the same pixels as the
    whole picture made RGB and reduced, every PNG filter met, and no decode of the whole picture."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 1000)
    path = tmp_path / "deep.png"
    path.write_bytes(_raw_png((77, 101), 16, 4 if alpha else 0))
    image = open_image(path)
    bands = list(full_loads)
    with Image.open(path) as whole:
        expected = preprocess.to_rgb(whole).reduce(4)
    assert (image.size, image.mode, preprocess.decode_scale(image)) == ((20, 26), "RGB", 4)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))
    assert len(bands) >= 9 and max(height for _, height in bands) <= 13


@pytest.mark.parametrize("name", ["large.tif", "large.bmp", "large.gif", "deep.png"])
def test_other_large_images_are_reduced_once_decoded(name: str, tmp_path: Path) -> None:
    """TIFF (of one strip), BMP, GIF and a 16-bit colour PNG cannot be decoded reduced; one 8000 px or more is
    reduced as soon as it is decoded (it was kept, and copied, at full size): the same factor and pixels as a PNG
    read reduced."""
    from mesocli.preprocess import decode_scale, to_rgb

    picture = _png("RGB", (8_192, 24))
    path = tmp_path / name
    if name == "deep.png":
        path.write_bytes(_raw_png((8_192, 24), 16, 2))
    else:
        picture.save(path, **({"lossless": True} if name.endswith(".webp") else {}))
    image = open_image(path)
    assert (image.size, decode_scale(image)) == ((4_096, 12), 2)
    with Image.open(path) as whole:
        expected = to_rgb(whole).reduce(2)
    np.testing.assert_array_equal(np.asarray(to_rgb(image)), np.asarray(expected))


def test_a_damaged_large_png_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read band by band, a PNG cut short or with damaged compressed data is still a one-line error."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(preprocess, "PNG_BAND_BYTES", 1000, raising=False)
    whole = tmp_path / "whole.png"
    _png("RGB", (77, 101)).save(whole)
    data = whole.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    (tmp_path / "damaged.png").write_bytes(data[:len(data) // 2] + b"\xff" * 50 + data[len(data) // 2 + 50:])
    for name, message in (("cut.png", "image file is truncated"), ("damaged.png", "broken data stream")):
        with pytest.raises(InputError, match=f"{name}: not a readable image \\({message}") as info:
            open_image(tmp_path / name)
        assert "\n" not in str(info.value)
