"""Test media made at test time: real face videos and images, broken files, small labelled datasets.

The face is scikit-image's ``astronaut`` (Eileen Collins, NASA: public domain), warped per frame by a
known similarity transform (move, scale, rotate) and encoded with the bundled ffmpeg. Nothing is
downloaded and nothing from ``../shared`` is used, so tests that use this run anywhere.

    from media import MediaKit, make_face_video
    kit = MediaKit(tmp_path_factory.getbasetemp() / "media")   # files made once per session
    transforms = make_face_video(path, frames=24, angles=[...], size=(320, 240), fps=12)
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageDraw

# Centre of the astronaut's face (its dlib HOG box is about (179, 83)-(266, 170)) in the 512×512 photo.
FACE_ANCHOR = (222.5, 126.5)
BACKGROUND = (96, 112, 128)


@dataclass(frozen=True)
class FaceTransform:
    """Where the photo's face lands in a frame: its centre (x, y), its scale, its rotation (degrees, CCW)."""

    index: int
    centre: tuple[float, float]
    scale: float
    angle: float


@cache
def astronaut() -> Image.Image:
    from skimage import data  # a test dependency

    return Image.fromarray(np.ascontiguousarray(data.astronaut()))


def face_crop(size: int = 256) -> Image.Image:
    """The photo's face, cropped about as the aligner would and resized to ``size``²."""
    return Image.fromarray(np.asarray(astronaut())[20:240, 150:340]).resize((size, size))


def render(transform: FaceTransform, size: tuple[int, int], mirror: bool = False,
           canvas: Image.Image | None = None) -> Image.Image:
    """The photo warped so that its face centre lands on ``transform.centre``, scaled and rotated.

    With ``canvas``, only the warped head is pasted onto it, so that several faces can share a frame.
    """
    photo = astronaut().transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else astronaut()
    anchor = (photo.width - FACE_ANCHOR[0], FACE_ANCHOR[1]) if mirror else FACE_ANCHOR
    rad = math.radians(transform.angle)
    cos, sin, s = math.cos(rad), math.sin(rad), transform.scale
    a, b, d, e = cos / s, -sin / s, sin / s, cos / s  # frame -> photo: the inverse rotation and scale
    tx, ty = transform.centre
    coefficients = (a, b, anchor[0] - a * tx - b * ty, d, e, anchor[1] - d * tx - e * ty)
    warped = photo.transform(size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR,
                             fillcolor=BACKGROUND)
    if canvas is None:
        return warped
    head = Image.new("L", photo.size, 0)  # only the head (an ellipse about the face) is pasted
    ImageDraw.Draw(head).ellipse((anchor[0] - 95, anchor[1] - 110, anchor[0] + 95, anchor[1] + 120), fill=255)
    mask = head.transform(size, Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR, fillcolor=0)
    canvas.paste(warped, (0, 0), mask)
    return canvas


def plan_transforms(frames: int, size: tuple[int, int], angles: Sequence[float] | None = None,
                    scales: Sequence[float] | None = None,
                    centres: Sequence[tuple[float, float]] | None = None) -> list[FaceTransform]:
    """Per-frame transforms: by default the face drifts right, grows, and turns from -15° to +15°."""
    w, h = size
    steps = np.linspace(0.0, 1.0, frames) if frames > 1 else np.zeros(1)
    angles = list(angles) if angles is not None else [float(-15 + 30 * t) for t in steps]
    scales = list(scales) if scales is not None else [float(1.0 + 0.3 * t) for t in steps]
    centres = list(centres) if centres is not None else [(w * (0.42 + 0.16 * t), h * 0.5) for t in steps]
    return [FaceTransform(i, centres[i], scales[i], angles[i]) for i in range(frames)]


@cache
def ffmpeg() -> str:
    """The ffmpeg that makes the test media: the bundled one, also when ``IMAGEIO_FFMPEG_EXE`` names another for
    mesocli to decode with (``benchmarks/ffmpeg_matrix.py --tests``): an older one cannot write everything here
    (5.1 has no ``-display_rotation``), and the tests are then about mesocli's decoding."""
    chosen = os.environ.pop("IMAGEIO_FFMPEG_EXE", None)
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    finally:
        if chosen is not None:
            os.environ["IMAGEIO_FFMPEG_EXE"] = chosen


def encode(path: Path, images: Sequence[Image.Image], fps: float = 12, *, faststart: bool = False,
           display_rotation: int = 0, sar: str | None = None, codec: str = "libx264") -> Path:
    """Encode RGB frames with the bundled ffmpeg (H.264 yuv420p unless ``codec`` says otherwise).

    ``display_rotation``: degrees counter-clockwise a player must turn the stored frames (as a phone
    writes it); the frames given are then the *displayed* ones, stored turned the other way.
    """
    path = Path(path)
    stored = [im.rotate(-display_rotation, expand=True) if display_rotation else im for im in images]
    w, h = stored[0].size
    target = path.with_name(path.stem + ".norot" + path.suffix) if display_rotation else path
    command = [ffmpeg(), "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(fps), "-i", "-", "-c:v", codec]
    if codec == "libx264":
        command += ["-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p"]
    if sar:
        command += ["-vf", f"setsar={sar}"]
    if faststart:
        command += ["-movflags", "+faststart"]
    if target.suffix.lower() in (".h264", ".264"):
        command += ["-f", "h264"]
    data = b"".join(np.asarray(im.convert("RGB"), dtype=np.uint8).tobytes() for im in stored)
    subprocess.run([*command, str(target)], input=data, check=True, capture_output=True)
    if display_rotation:
        subprocess.run([ffmpeg(), "-y", "-v", "error", "-display_rotation", str(display_rotation), "-i",
                        str(target), "-c", "copy", str(path)], check=True, capture_output=True)
        target.unlink()
    return path


def make_face_video(path: Path, frames: int = 24, angles: Sequence[float] | None = None,
                    size: tuple[int, int] = (320, 240), fps: float = 12, *, scales: Sequence[float] | None = None,
                    centres: Sequence[tuple[float, float]] | None = None, display_rotation: int = 0,
                    faststart: bool = False) -> list[FaceTransform]:
    """Encode a video of the astronaut's face moved, scaled and rotated; return the per-frame transforms."""
    transforms = plan_transforms(frames, size, angles, scales, centres)
    encode(path, [render(t, size) for t in transforms], fps, faststart=faststart,
           display_rotation=display_rotation)
    return transforms


def make_two_face_video(path: Path, frames: int = 12, size: tuple[int, int] = (480, 240),
                        fps: float = 12) -> tuple[list[FaceTransform], list[FaceTransform]]:
    """Two faces side by side (the photo and its mirror image), each drifting a little."""
    w, h = size
    steps = np.linspace(0.0, 1.0, frames)
    left = [FaceTransform(i, (w * (0.25 + 0.04 * t), h * 0.5), 1.1, 5.0 * t) for i, t in enumerate(steps)]
    right = [FaceTransform(i, (w * (0.75 - 0.04 * t), h * 0.5), 1.1, -5.0 * t) for i, t in enumerate(steps)]
    encode_two_faces(path, left, right, size, fps)
    return left, right


def encode_two_faces(path: Path, first: list[FaceTransform], second: list[FaceTransform], size: tuple[int, int],
                     fps: float, appears: int = 0) -> None:
    """A video of the photo at ``first``'s places and its mirror image at ``second``'s (from frame ``appears``)."""
    images = []
    for a, b in zip(first, second, strict=True):
        canvas = Image.new("RGB", size, BACKGROUND)
        render(a, size, canvas=canvas)
        if b.index >= appears:
            render(b, size, mirror=True, canvas=canvas)
        images.append(canvas)
    encode(path, images, fps)


def make_larger_face_video(path: Path, frames: int = 36, size: tuple[int, int] = (480, 270), fps: float = 12,
                           appears: int = 18) -> tuple[list[FaceTransform], list[FaceTransform]]:
    """A small face (the photo) from the first frame, and from frame ``appears`` on a larger one beside it
    (its mirror image, about 1.8× the side: a close-up coming into view); each drifting a little."""
    w, h = size
    steps = np.linspace(0.0, 1.0, frames)
    small = [FaceTransform(i, (w * (0.22 + 0.03 * t), h * 0.45), 0.95, 3.0 * t) for i, t in enumerate(steps)]
    large = [FaceTransform(i, (w * (0.68 - 0.03 * t), h * 0.52), 1.7, -3.0 * t) for i, t in enumerate(steps)]
    encode_two_faces(path, small, large, size, fps, appears)
    return small, large[appears:]


def make_cut_video(path: Path, frames: int = 24, cut: int = 12, size: tuple[int, int] = (320, 240),
                   fps: float = 12, blend: int = 0) -> int:
    """Two shots with a hard cut at frame ``cut``: the photo's face, then (another person: its mirror image, in
    another scene) a face at the same place; each drifting a little. Returns ``cut``. With ``blend``, a
    cross-dissolve instead: the ``blend`` frames before ``cut`` lay the second shot over the first, ever more."""
    w, h = size
    images = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        shots = [render(FaceTransform(i, (w * (0.5 + 0.03 * t), h * 0.5), 1.1 if second else 1.0, 2.0 * t), size,
                        mirror=second) for second in (False, True)]
        share = min(max((i - cut + blend + 1) / (blend + 1), 0.0), 1.0)  # of the second shot
        images.append(Image.blend(*shots, share))
    encode(path, images, fps)
    return cut


def make_backdrop_cut_video(path: Path, frames: int = 24, cut: int = 12, size: tuple[int, int] = (320, 240),
                            fps: float = 12) -> int:
    """A presenter before a backdrop that cuts to another picture at frame ``cut`` (a video wall behind a news
    anchor): the photo's head, still and at one place throughout, pasted on one picture, then on another.
    Returns ``cut``."""
    from skimage import data

    backdrops = [Image.fromarray(np.ascontiguousarray(picture)).convert("RGB").resize(size)
                 for picture in (data.coffee(), data.rocket())]
    place = FaceTransform(0, (size[0] * 0.5, size[1] * 0.5), 1.0, 0.0)
    shots = [render(place, size, canvas=backdrop.copy()) for backdrop in backdrops]
    encode(path, [shots[i >= cut] for i in range(frames)], fps)
    return cut


def make_pan_video(path: Path, speed: int = 192, seconds: float = 2.0, fps: int = 25) -> Path:
    """A fast pan: a 256×256 window sliding right over the 512×512 photo at ``speed`` pixels a second (to its
    right edge, then still), made by ffmpeg's ``crop`` from the still photo."""
    still = Path(path).with_name(Path(path).stem + ".still.png")
    astronaut().save(still)
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-loop", "1", "-framerate", str(fps), "-t", str(seconds),
                    "-i", str(still), "-vf", f"crop=256:256:x='min({speed}*t\\,256)':y=128", "-c:v", "libx264",
                    "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", "-f", "mp4", str(path)],
                   check=True, capture_output=True)
    still.unlink()
    return path


def make_cut_to_two_faces_video(path: Path, frames: int = 24, cut: int = 6, size: tuple[int, int] = (480, 270),
                                fps: float = 12) -> int:
    """A face on the left, then after a hard cut (another scene) another face at the same place and, on the
    right, a larger one (1.2× its side). Returns ``cut``."""
    w, h = size
    images = []
    for i in range(frames):
        place = FaceTransform(i, (w * 0.3, h * 0.5), 0.9, 0.0)
        if i < cut:
            images.append(render(place, size))
        else:  # the mirrored photo (its face at the same place), and the photo's head pasted on the right
            images.append(render(FaceTransform(i, (w * 0.72, h * 0.5), 1.08, 0.0), size,
                                 canvas=render(place, size, mirror=True)))
    encode(path, images, fps)
    return cut


def make_noface_video(path: Path, frames: int = 12, size: tuple[int, int] = (320, 240), fps: float = 12) -> Path:
    """A moving test pattern: a valid video without any face."""
    w, h = size
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=size={w}x{h}:rate={fps}:duration={frames / fps}", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
    return Path(path)


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 holding only an AAC sine tone."""
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:a", "aac", str(path)], check=True, capture_output=True)
    return Path(path)


def turned_copy(source: Path, path: Path, turning: str) -> Path:
    """``source`` re-encoded with its frames turned by the ffmpeg filter ``turning`` (``transpose=clock``,
    ``hflip,vflip``) and no rotation metadata: a phone video whose rotation was lost on upload."""
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(source), "-vf", turning, "-c:v", "libx264", "-preset",
                    "veryfast", "-crf", "16", "-pix_fmt", "yuv420p", str(path)], check=True)
    return Path(path)


def truncate(source: Path, path: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of a file's bytes (an MP4 cut before its index, like an aborted copy)."""
    data = Path(source).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * fraction)])
    return Path(path)


def save_face_image(path: Path, transform: FaceTransform | None = None, size: tuple[int, int] = (320, 240),
                    **save: object) -> FaceTransform:
    """Save one rendered frame as an image (format from the suffix, or ``format=``)."""
    transform = transform or FaceTransform(0, (size[0] / 2, size[1] / 2), 1.0, 0.0)
    render(transform, size).save(path, **save)
    return transform


def make_face_animation(path: Path, delays_ms: Sequence[int], size: tuple[int, int] = (320, 240),
                        format: str | None = None) -> list[float]:
    """An animated image (GIF, APNG or WebP, from the suffix or ``format``; written by Pillow) of the astronaut's
    face moving as in :func:`make_face_video`, one frame per delay; return each frame's start time in seconds."""
    transforms = plan_transforms(len(delays_ms), size)
    images = [render(t, size) for t in transforms]
    images[0].save(path, format=format, save_all=True, append_images=images[1:], duration=list(delays_ms), loop=0)
    return [round(sum(delays_ms[:i]) / 1000, 6) for i in range(len(delays_ms))]


def make_faces(root: Path, counts: dict[str, int], size: tuple[int, int] = (48, 48), seed: int = 0) -> Path:
    """``ROOT/<class>/v<i % 3>_<i>.png``: small noise images, the ``df``/``fake`` ones a little redder."""
    rng = np.random.default_rng(seed)
    for label, count in counts.items():
        folder = Path(root) / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            pixels = rng.integers(0, 200, (size[1], size[0], 3))
            pixels[..., 0] += 50 if label in ("df", "fake") else 0
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"v{i % 3}_{i}.png")
    return Path(root)


def pad_to_the_same_size(first: Path, second: Path) -> None:
    """Give the smaller MP4 the other's size: a top-level ``free`` box at its end, which players skip."""
    small, large = sorted((first, second), key=lambda path: path.stat().st_size)
    gap = large.stat().st_size - small.stat().st_size
    if gap:
        gap = max(gap, 8)
        with open(small, "ab") as handle:
            handle.write(gap.to_bytes(4, "big") + b"free" + bytes(gap - 8))
    if first.stat().st_size != second.stat().st_size:  # the gap was under 8 bytes: pad the other too
        pad_to_the_same_size(first, second)


def a_face_and_a_noface_video_of_one_size(folder: Path) -> tuple[Path, Path]:
    """``first.mp4`` (a face) and ``second.mp4`` (no face) in ``folder``, of the same size: one replaced by the
    other with its mtime kept is a file whose size and mtime did not change, its bytes did."""
    first, second = folder / "first.mp4", folder / "second.mp4"
    make_face_video(first, frames=8, angles=[0.0] * 8)
    make_noface_video(second, frames=8)
    pad_to_the_same_size(first, second)
    return first, second


class MediaKit:
    """The standard test files, each made once under ``root`` (shared by all test modules of a session)."""

    FACE_FRAMES = 24
    FACE_SIZE = (320, 240)
    FPS = 12

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _made(self, name: str, make) -> Path:
        path = self.root / name
        if not path.exists():
            partial = path.with_name(".tmp-" + name)
            make(partial)
            shutil.move(partial, path)
        return path

    @property
    def face_transforms(self) -> list[FaceTransform]:
        return plan_transforms(self.FACE_FRAMES, self.FACE_SIZE)

    @property
    def face_video(self) -> Path:
        return self._made("face.mp4", lambda p: make_face_video(p, self.FACE_FRAMES, size=self.FACE_SIZE,
                                                                fps=self.FPS))

    def rotated_video(self, display_rotation: int) -> Path:
        """The face video as a phone would store it: frames turned, with rotation metadata."""
        return self._made(f"face_rot{display_rotation}.mp4", lambda p: make_face_video(
            p, self.FACE_FRAMES, size=self.FACE_SIZE, fps=self.FPS, display_rotation=display_rotation))

    @property
    def long_face_video(self) -> Path:
        """The face video looped 21 times (504 frames): more than ffmpeg and the reader buffer, so ffmpeg is
        still decoding when the first frame comes out."""
        return self._made("face_long.mp4", lambda p: subprocess.run(
            [ffmpeg(), "-y", "-v", "error", "-stream_loop", "20", "-i", str(self.face_video), "-c", "copy",
             "-f", "mp4", str(p)], check=True, capture_output=True))

    @property
    def vfr_video(self) -> Path:
        """The face video retimed, variable frame rate: its first 20 frames 1/12 s apart (0–1.58 s), then one frame
        every 8 s (1.67, 9.67, 17.67, 25.67 s); 25.75 s long. No B-frames: with them the MP4's header says 9.92 s."""
        timing = "setpts=(if(lt(N\\,20)\\,N/12\\,20/12+(N-20)*8))/TB"
        return self._made("face_vfr.mp4", lambda p: subprocess.run(
            [ffmpeg(), "-y", "-v", "error", "-i", str(self.face_video), "-vf", timing, "-fps_mode", "vfr",
             "-c:v", "libx264", "-bf", "0", "-preset", "veryfast", "-crf", "16", "-pix_fmt", "yuv420p",
             "-f", "mp4", str(p)], check=True, capture_output=True))

    @property
    def slideshow_video(self) -> Path:
        """The face crop as a slideshow: 4 frames, one every 10 s (40 s at 0.1 fps)."""
        return self._made("slideshow.mp4", lambda p: encode(p, [face_crop(128)] * 4, fps=0.1))

    @property
    def two_face_video(self) -> Path:
        return self._made("two_faces.mp4", lambda p: make_two_face_video(p))

    @property
    def larger_face_video(self) -> Path:
        """A small face from the start; a larger one beside it from 1.5 s on (3 s, 480×270, 12 fps)."""
        return self._made("larger_face.mp4", lambda p: make_larger_face_video(p))

    @property
    def cut_video(self) -> Path:
        """The photo's face for 1 s, then a hard cut to another face at the same place for 1 s (12 fps)."""
        return self._made("cut.mp4", lambda p: make_cut_video(p))

    @property
    def backdrop_cut_video(self) -> Path:
        """A presenter (the photo's head, still) before a backdrop that cuts to another at 1 s (2 s, 12 fps)."""
        return self._made("backdrop_cut.mp4", lambda p: make_backdrop_cut_video(p))

    @property
    def pan_video(self) -> Path:
        """A fast pan over the photo (no cut): 2 s at 25 fps, three quarters of the picture's width a second."""
        return self._made("pan.mp4", lambda p: make_pan_video(p))

    @property
    def small_face_video(self) -> Path:
        """A face about 36 px tall (HOG's box) in 1920×1080 frames, drifting right: 6 frames at 12 fps."""
        return self._made("small_face.mp4", lambda p: make_face_video(
            p, 6, angles=[0.0] * 6, size=(1920, 1080), fps=self.FPS, scales=[0.4] * 6,
            centres=[(700.0 + 4 * i, 600.0) for i in range(6)]))

    @property
    def noface_video(self) -> Path:
        return self._made("noface.mp4", lambda p: make_noface_video(p))

    @property
    def audio_only(self) -> Path:
        return self._made("audio_only.mp4", lambda p: make_audio_only(p))

    @property
    def truncated(self) -> Path:
        return self._made("truncated.mp4", lambda p: truncate(self.face_video, p))

    @property
    def zero_byte(self) -> Path:
        return self._made("zero.mp4", lambda p: p.write_bytes(b""))

    @property
    def text_mp4(self) -> Path:
        return self._made("notes.mp4", lambda p: p.write_text("this is not a video\n"))

    @property
    def face_jpeg(self) -> Path:
        return self._made("face.jpg", lambda p: save_face_image(p, format="JPEG", quality=95))

    @property
    def face_png_named_mp4(self) -> Path:
        """A PNG image whose name says video: kinds are decided by content."""
        return self._made("still.mp4", lambda p: save_face_image(p, format="PNG"))


def grey_jpeg(path: Path, width: int, height: int) -> Path:
    """A baseline greyscale JPEG of mid-grey, of any size, written without making its pixels: each 8×8 block of
    mid-grey encodes to the same 6 bits, so four blocks are the same 3 bytes (``width`` and ``height`` multiples
    of 8 up to 65,500, their blocks a multiple of 4). A 65,496×2,816 one (184 megapixels, over Pillow's limit)
    is 2 MB."""
    import io

    blocks = (width // 8) * (height // 8)
    assert width % 8 == 0 and height % 8 == 0 and blocks % 4 == 0
    small = io.BytesIO()
    Image.new("L", (32, 32), 128).save(small, "JPEG")
    data = small.getvalue()
    sof, sos = data.index(b"\xff\xc0"), data.index(b"\xff\xda")
    header = bytearray(data[:sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big")])  # up to the scan's data
    header[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(header) + b"\x28\xa2\x8a" * (blocks // 4) + b"\xff\xd9")
    return path
