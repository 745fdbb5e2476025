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
    over twice the limit and any other format are refused as before."""
    from mesocli import preprocess

    monkeypatch.setattr(preprocess, "DECODE_SIDE", 16)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # refused above 2000 pixels; read reduced up to 4000
    picture = _image("RGB", (60, 60))  # 3600 pixels
    picture.save(tmp_path / "baseline.jpg")
    picture.save(tmp_path / "progressive.jpg", progressive=True)
    picture.save(tmp_path / "picture.png")
    _image("RGB", (70, 70)).save(tmp_path / "larger.jpg")  # 4900 pixels
    image = open_image(tmp_path / "baseline.jpg")
    assert (image.size, preprocess.decode_scale(image)) == ((30, 30), 2)
    for name in ("progressive.jpg", "picture.png", "larger.jpg"):
        with pytest.raises(InputError, match=r"image too large \(Pillow's decompression-bomb limit: Image size"):
            open_image(tmp_path / name)


def test_a_large_jpeg_is_decoded_reduced_and_turned_as_its_exif_says(tmp_path: Path) -> None:
    """A JPEG over 8000 pixels is decoded at 1/2 (its longest side kept at 4000 or more), then turned upright
    by its EXIF orientation; smaller JPEGs and other formats are decoded at full size."""
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
