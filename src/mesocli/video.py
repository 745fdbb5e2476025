"""Video decoding with the bundled ffmpeg: probe a header, stream selected frames as RGB arrays.

One ffmpeg process reads each video sequentially (no seeking, no frame counting pass). Its
``select`` filter drops the frames that are not wanted *before* the costly RGB conversion, and its
``showinfo`` filter reports each kept frame's timestamp and size on stderr. ffmpeg applies rotation
metadata itself (autorotate); non-square pixels are resampled to square ones. Decoding overlaps
whatever the caller does per frame: ffmpeg queues decoded frames itself (``fifo`` muxer, bounded)
and a reader thread keeps a few more ready.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import math
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import count
from pathlib import Path

import numpy as np

from mesocli.errors import InputError, ParameterError, UsageError
from mesocli.fsutil import check_input_file

FRAME_MODES = ("frames", "fps", "every", "all")
DEFAULT_FRAMES = 30
_FFMPEG_QUEUE_BYTES = 128 << 20  # decoded frames ffmpeg may hold while the caller is busy
_QUEUE_BYTES = 32 << 20  # and the reader thread
_F_SETPIPE_SZ = 1031


@dataclass(frozen=True)
class FrameSelection:
    """Which frames to decode: ``frames`` (N evenly spaced), ``fps`` (F a second), ``every`` (K-th), ``all``."""

    mode: str = "frames"
    value: float | int | None = DEFAULT_FRAMES

    def __post_init__(self) -> None:
        if self.mode not in FRAME_MODES:
            raise UsageError(f"frame selection must be one of {', '.join(FRAME_MODES)}, not {self.mode!r}")
        if self.mode == "all":
            object.__setattr__(self, "value", None)
        elif self.value is None or not self.value > 0 or not math.isfinite(self.value):
            raise ParameterError("{" + self.mode + "} needs a positive number, got {value}", value=self.value)
        elif self.mode in ("frames", "every") and int(self.value) != self.value:
            raise ParameterError("{" + self.mode + "} needs a whole number, got {value}", value=self.value)
        elif self.mode in ("frames", "every"):
            object.__setattr__(self, "value", int(self.value))

    @classmethod
    def from_options(
        cls, frames: int | None = None, fps: float | None = None, every: int | None = None,
        all_frames: bool = False,
    ) -> FrameSelection:
        """Build a selection from mutually exclusive options (default: 30 frames)."""
        given = {"frames": frames, "fps": fps, "every": every, "all": True if all_frames else None}
        chosen = {mode: value for mode, value in given.items() if value is not None}
        if len(chosen) > 1:
            names = ", ".join("{" + ("all_frames" if mode == "all" else mode) + "}" for mode in chosen)
            raise ParameterError("give only one of {frames}, {fps}, {every}, {all_frames} (got " + names + ")")
        if not chosen:
            return cls()
        mode, value = next(iter(chosen.items()))
        return cls(mode, None if mode == "all" else value)

    def describe(self) -> str:
        return {
            "frames": f"{self.value} evenly spaced frames",
            "fps": f"{self.value} frames per second",
            "every": f"every {self.value}th frame",
            "all": "every frame",
        }[self.mode]


@dataclass(frozen=True)
class VideoInfo:
    """What the header says about the first video stream. Sizes are as displayed (rotation applied)."""

    path: str
    width: int
    height: int
    fps: float | None
    duration: float | None
    rotation: int  # degrees clockwise that players apply: 0, 90, 180 or 270
    frame_count_estimate: int | None
    codec: str = ""
    stream: int = 0  # index of the stream in the file
    pixel_aspect: float = 1.0  # sample aspect ratio; frames are resampled to square pixels
    start: float = 0.0  # the video stream's first timestamp; frame times are counted from it

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["path"], data["stream"]
        return data


@dataclass
class Frame:
    """One decoded frame: its index in the stream, its time in seconds, H×W×3 uint8 RGB pixels."""

    index: int
    time: float
    image: np.ndarray = field(repr=False)


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg (or the one IMAGEIO_FFMPEG_EXE names)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _input(path: str | Path) -> list[str]:
    """ffmpeg's arguments to read a local file, and only that: no URL, no network, whatever its name."""
    return ["-protocol_whitelist", "file", "-i", f"file:{path}"]


# ---------------------------------------------------------------------------------------------- probing

_DURATION = re.compile(r"Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)(?:, start: (-?\d+(?:\.\d+)?))?")
_STREAM = re.compile(r"^\s*Stream #0:(\d+)\S*: (\w+): (.*)$")
_SIZE = re.compile(r"(?:^|[ ,])(\d+)x(\d+)(?=[ ,\[]|$)")
_FPS = re.compile(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)")
_SAR = re.compile(r"SAR (\d+):(\d+)")
_STREAM_START = re.compile(r"start (-?\d+(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)", re.IGNORECASE)
_DURATION_TAG = re.compile(r"^\s*DURATION(?:-\w+)?\s*:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", re.IGNORECASE)


def _ffmpeg_error(stderr: str) -> str:
    """What ffmpeg said went wrong, in one line: its distinct messages, without prefixes and boilerplate."""
    messages: list[str] = []
    for line in stderr.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())
        line = re.sub(r"^Error opening input( files?)?: ", "", line)
        boilerplate = line.startswith(("Error opening input file", "At least one output file"))
        if not line or boilerplate or "misdetection" in line:
            continue
        if line not in messages:
            messages.append(line)
    return "; ".join(messages[-2:]) or "ffmpeg could not read it"


def _seconds(hours: str, minutes: str, seconds: str) -> float:
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of a video file (ffmpeg ``-i``, no decoding); raise InputError when unusable."""
    path = Path(path)
    if check_input_file(path).st_size == 0:  # also refuses folders, named pipes and devices
        raise InputError(f"{path}: empty file")
    try:
        done = subprocess.run(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *_input(path)],
            capture_output=True, text=True, errors="replace", timeout=120,
        )
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: ffmpeg took too long to read the header") from None
    stderr = done.stderr
    if "Input #0" not in stderr:
        raise InputError(f"{path}: not a readable video ({_ffmpeg_error(stderr)})")
    info = _parse_probe(str(path), stderr)
    limit = max_frame_pixels()
    if limit is not None and info.width * info.height > limit:
        raise InputError(f"{path}: frames too large ({info.width}×{info.height} pixels; the limit is "
                         f"{limit} pixels, as for images: Pillow's decompression-bomb limit)")
    return info


def max_frame_pixels() -> int | None:
    """The largest frame decoded (an RGB copy of each is made): the pixels Pillow refuses in an image."""
    from PIL import Image

    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None


def _parse_probe(path: str, stderr: str) -> VideoInfo:
    duration = start = None
    streams: list[tuple[int, str, str, list[str]]] = []  # (index, type, description, following lines)
    for line in stderr.splitlines():
        if (match := _DURATION.search(line)) and not streams:
            if match.group(1) is not None:
                duration = _seconds(*match.group(1, 2, 3))
            start = float(match.group(4)) if match.group(4) else None
        elif match := _STREAM.match(line):
            streams.append((int(match.group(1)), match.group(2), match.group(3), []))
        elif streams and line.startswith("    "):
            streams[-1][3].append(line)
    videos = [s for s in streams if s[1] == "Video" and "(attached pic)" not in s[2]]
    if not videos:
        kinds = sorted({s[1].lower() for s in streams}) or ["no streams"]
        raise InputError(f"{path}: no video stream ({', '.join(kinds)} only)")
    index, _, description, extra = videos[0]
    size = _SIZE.search(description)
    if size is None:
        raise InputError(f"{path}: video stream without a frame size ({description[:80]})")
    width, height = int(size.group(1)), int(size.group(2))
    fps = None
    for value, kilo, _unit in _FPS.findall(description):  # "fps" comes before "tbr"
        fps = float(value) * (1000 if kilo else 1)
        break
    sar = _SAR.search(description)
    pixel_aspect = 1.0
    if sar and int(sar.group(1)) and int(sar.group(2)):  # 0:1 means unknown
        pixel_aspect = int(sar.group(1)) / int(sar.group(2))
    rotation = 0
    for line in extra:
        if match := _ROTATION.search(line):
            rotation = round(-float(match.group(1))) % 360
        elif (match := _ROTATE_TAG.match(line)) and not rotation:
            rotation = int(match.group(1)) % 360
        elif match := _DURATION_TAG.match(line):
            duration = _seconds(*match.group(1, 2, 3))  # the stream's own duration (Matroska)
    stream_start = _STREAM_START.search(description)
    video_start = float(stream_start.group(1)) if stream_start else (start or 0.0)
    if duration is not None and start is not None and stream_start:  # video starting after the audio
        duration = max(0.0, duration + start - video_start)
    if abs(pixel_aspect - 1.0) > 1e-3:
        width = max(1, round(width * pixel_aspect))
    if rotation in (90, 270):
        width, height = height, width
    estimate = round(duration * fps) if duration and fps else None
    codec = description.split(" ", 1)[0].rstrip(",")
    return VideoInfo(path, width, height, fps, duration, rotation, estimate, codec, index, pixel_aspect, video_start)


def count_frames_fast(path: str | Path, info: VideoInfo) -> int | None:
    """Count the video packets without decoding them (a demuxing pass); None if ffmpeg cannot tell."""
    done = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-stats", *_input(path),
         "-map", f"0:{info.stream}", "-c", "copy", "-f", "null", "-"],
        capture_output=True, text=True, errors="replace", timeout=600,
    )
    found = re.findall(r"frame=\s*(\d+)", done.stderr)
    return int(found[-1]) if found and int(found[-1]) > 0 else None


# ---------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class _Plan:
    """A frame predicate written twice, identically: as an ffmpeg ``select`` expression and in Python."""

    expression: str | None  # None: every frame
    keep: Callable[[int], bool]
    expected: int | None

    def indices(self) -> Iterator[int]:
        return (n for n in count() if self.keep(n))


def _plan(selection: FrameSelection, info: VideoInfo, total: int | None) -> _Plan:
    """Translate a selection into ffmpeg's ``select`` (by frame number n) and the same test in Python.

    The k-th frame ffmpeg outputs must be the k-th frame number the Python test accepts: both
    evaluate the same IEEE double operations, or (``frames``) exact integer arithmetic.
    """
    everything = _Plan(None, lambda n: True, total)
    if selection.mode == "all":
        return everything
    if selection.mode == "every":
        k = int(selection.value)
        if k == 1:
            return everything
        return _Plan(f"not(mod(n,{k}))", lambda n: n % k == 0, -(-total // k) if total else None)
    if selection.mode == "fps":  # the frame nearest to each k / F seconds
        step = (info.fps or 25.0) / float(selection.value)
        if step <= 1:
            return everything
        expected = math.ceil(total / step) if total else None
        return _Plan(f"lt(ceil((n-0.5)/{step!r})*{step!r},n+0.5)",
                     lambda n: math.ceil((n - 0.5) / step) * step < n + 0.5, expected)
    if total is None:  # length unknown even after counting packets: one frame a second
        return _plan(FrameSelection("fps", 1.0), info, None)
    wanted = int(selection.value)
    if wanted >= total:
        return everything
    return _Plan(_evenly_spaced_expression(wanted, total), functools.partial(_evenly_spaced, wanted, total), wanted)


def _evenly_spaced(wanted: int, total: int, n: int) -> bool:
    """Whether frame n is one of ``floor((i + 0.5) × total / wanted)``, i < wanted (exact integers).

    The i that could land on n is the smallest with (2i + 1)·total ≥ 2·wanted·n.
    """
    i = -((total - 2 * wanted * n) // (2 * total))
    return 0 <= i < wanted and (2 * i + 1) * total < 2 * wanted * (n + 1)


def _evenly_spaced_expression(wanted: int, total: int) -> str:
    """:func:`_evenly_spaced` for ffmpeg, whose numbers are doubles: products of integers below 2^53
    are exact there, a quotient is not, so the two candidates around the quotient are checked exactly."""
    lo, hi = f"2*{wanted}*n", f"2*{wanted}*(n+1)"
    checks = [f"gte(ld(0)+{d},0)*lt(ld(0)+{d},{wanted})*gte((2*(ld(0)+{d})+1)*{total},{lo})"
              f"*lt((2*(ld(0)+{d})+1)*{total},{hi})" for d in (0, 1)]
    return f"st(0,floor(({lo}-{total})/(2*{total})));{checks[0]}+{checks[1]}"


# ---------------------------------------------------------------------------------------------- decoding

_SHOWINFO = re.compile(r"\bn:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:(\S+).*?\bs:(\d+)x(\d+)")
_LEVEL = re.compile(r"\[(error|fatal|panic)\]\s*(.*)")
_END = object()


class FrameReader:
    """The selected frames of one video, decoded by one ffmpeg process; iterate once, then ``close``.

    After iteration, ``warnings`` holds the errors ffmpeg reported while decoding (a damaged
    stream still yields the frames it could decode) and ``decoded`` the number of frames yielded.
    """

    def __init__(self, path: str | Path, selection: FrameSelection, info: VideoInfo | None = None):
        self.path = Path(path)
        self.selection = selection
        self.info = info if info is not None else probe_video(self.path)
        total = self.info.frame_count_estimate
        if total is None and selection.mode == "frames":
            total = count_frames_fast(self.path, self.info)
        self.plan = _plan(selection, self.info, total)
        self.warnings: list[str] = []
        self.decoded = 0
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames: queue.Queue = queue.Queue()
        self._start()

    @property
    def expected(self) -> int | None:
        """How many frames the selection should yield, from the header (an estimate)."""
        return self.plan.expected

    def _command(self) -> list[str]:
        filters = []
        if self.plan.expression:
            filters.append(f"select='{self.plan.expression}'")
        if abs(self.info.pixel_aspect - 1.0) > 1e-3:
            filters.append("scale=w='max(1,round(iw*sar))':h=ih,setsar=1")
        filters.append("showinfo=checksum=0")
        # The fifo muxer queues frames inside ffmpeg, so that it keeps decoding while the caller is
        # busy (loading the face models holds Python's lock for a second): a pipe holds only 1 MB.
        queue_size = max(2, min(64, _FFMPEG_QUEUE_BYTES // self._frame_bytes))
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", *_input(self.path),
            "-map", f"0:{self.info.stream}", "-vf", ",".join(filters), "-fps_mode", "passthrough",
            "-c:v", "rawvideo", "-pix_fmt", "rgb24", "-f", "fifo", "-fifo_format", "rawvideo",
            "-queue_size", str(queue_size), "pipe:1",
        ]

    @property
    def _frame_bytes(self) -> int:
        return max(1, self.info.width * self.info.height * 3)

    def _start(self) -> None:
        self._process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        for pipe in (self._process.stdout, self._process.stderr):  # bigger pipes: ffmpeg blocks less
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, 1 << 20)
        headers: queue.Queue = queue.Queue()
        self._frames = queue.Queue(maxsize=max(2, min(8, _QUEUE_BYTES // self._frame_bytes)))
        self._threads = [
            threading.Thread(target=self._read_log, args=(headers,), daemon=True, name="ffmpeg-log"),
            threading.Thread(target=self._read_frames, args=(headers,), daemon=True, name="ffmpeg-frames"),
        ]
        for thread in self._threads:
            thread.start()

    def _read_log(self, headers: queue.Queue) -> None:
        """Parse ffmpeg's stderr: one showinfo line per output frame, and error messages."""
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if "showinfo" in line and (match := _SHOWINFO.search(line)):
                headers.put((match.group(3), int(match.group(4)), int(match.group(5))))
            elif (match := _LEVEL.search(line)) and len(self.warnings) < 20:
                message = match.group(2).strip()
                if message and message not in self.warnings:
                    self.warnings.append(message)
        headers.put(_END)

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._frames.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read_frames(self, headers: queue.Queue) -> None:
        """Pair each showinfo header with its raw RGB bytes; hand complete frames to the caller."""
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        indices = self.plan.indices()
        fps = self.info.fps or 25.0
        try:
            while not self._stop.is_set():
                header = headers.get()
                if header is _END:
                    break
                pts_time, width, height = header
                image = np.empty((height, width, 3), np.uint8)
                view, got = memoryview(image).cast("B"), 0
                while got < len(view):
                    n = stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < len(view):
                    break
                index = next(indices)
                try:
                    time = float(pts_time) - self.info.start
                except ValueError:
                    time = math.nan
                if not math.isfinite(time):
                    time = index / fps
                if not self._put(Frame(index, round(time, 6), image)):
                    return
        except Exception as exc:  # surfaced to the caller by __next__
            self._put(exc)
            return
        self._put(_END)

    def __iter__(self) -> FrameReader:
        return self

    def __next__(self) -> Frame:
        item = self._frames.get() if self._process is not None else _END
        if item is _END:
            self._finish()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        self.decoded += 1
        return item

    def _finish(self) -> None:
        """Wait for ffmpeg at the end of the stream; a failure before any frame is an InputError."""
        code = self._shutdown(kill=False)
        if code and self.decoded == 0:
            reason = self.warnings[-1] if self.warnings else f"ffmpeg exited with status {code}"
            raise InputError(f"{self.path}: could not decode ({reason})")
        if code:
            self.warnings.append(f"ffmpeg exited with status {code}")

    def _shutdown(self, kill: bool) -> int | None:
        if kill:
            self._stop.set()
        process, self._process = self._process, None
        if process is None:
            return None
        if kill and process.poll() is None:
            process.kill()
        code = process.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        return code

    def close(self) -> None:
        """Stop ffmpeg (if still running) and the reader threads."""
        self._shutdown(kill=True)

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def iter_frames(
    path: str | Path, selection: FrameSelection, info: VideoInfo | None = None
) -> Iterator[Frame]:
    """Yield the selected frames of a video in order (rotation applied); raise InputError if unreadable."""
    with FrameReader(path, selection, info) as reader:
        yield from reader
