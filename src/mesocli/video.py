"""Video decoding with the bundled ffmpeg: stream selected frames as RGB arrays.

The header is read first (:func:`mesocli.probe.probe_video`). One ffmpeg process reads each video
sequentially (no seeking, no frame counting pass). Its ``select`` filter drops the frames that are
not wanted *before* the costly RGB conversion, and its ``showinfo`` filter reports each kept frame's
timestamp and size on stderr. ffmpeg applies rotation metadata itself (autorotate), and mesocli the
old-style ``rotate`` tag that ffmpeg ignores; non-square pixels are resampled to square ones.
Decoding overlaps whatever the caller does per frame: ffmpeg queues decoded frames itself (``fifo``
muxer, bounded) and a reader thread keeps a few more ready.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import functools
import math
import queue
import re
import subprocess
import threading
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import numpy as np

from mesocli.errors import InputError, ParameterError, UsageError
from mesocli.probe import (
    VideoInfo,
    count_packets,
    ffmpeg_done,
    ffmpeg_exe,
    ffmpeg_input,
    ffmpeg_stopped,
    probe_video,
    start_ffmpeg,
    with_start,
)

FRAME_MODES = ("frames", "fps", "every", "all")
DEFAULT_FRAMES = 30
MAX_FPS = 1_000_000.0
"""The largest ``fps`` a selection takes: more than any video holds (beyond it, every frame is what it meant;
at 1e308 the planned frame count overflowed)."""
_FFMPEG_QUEUE_BYTES = 128 << 20  # decoded frames ffmpeg may hold while the caller is busy
_QUEUE_BYTES = 32 << 20  # and the reader thread
_F_SETPIPE_SZ = 1031
_TURN = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}  # degrees clockwise -> filter


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
        elif self.value > MAX_FPS:
            raise ParameterError("{fps} needs at most " + f"{MAX_FPS:.0f}" + " frames a second (more than any video "
                                 "holds), got {value}", value=self.value)
        else:  # fps: 2 and 2.0 are one setting (a resumed output compares them as text)
            object.__setattr__(self, "value", float(self.value))

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


@dataclass
class Frame:
    """One decoded frame: its index in the stream, its time in seconds, H×W×3 uint8 RGB pixels."""

    index: int
    time: float
    image: np.ndarray = field(repr=False)


# ---------------------------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class _Plan:
    """A frame predicate written twice, identically: as an ffmpeg ``select`` expression and in Python.

    A plan ``by_time`` selects on timestamps, which Python does not see ahead: ``keep`` is then unused
    and each kept frame's number comes from ffmpeg (a ``showinfo`` before the ``select``).
    """

    expression: str | None  # None: every frame
    keep: Callable[[int], bool]
    expected: int | None
    by_time: bool = False

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
    if selection.mode == "fps":
        return _fps_plan(float(selection.value), info, total)
    if total is None:  # length unknown even after counting packets: one frame a second
        return _plan(FrameSelection("fps", 1.0), info, None)
    wanted = int(selection.value)
    if wanted >= total:
        return everything
    return _Plan(_evenly_spaced_expression(wanted, total), functools.partial(_evenly_spaced, wanted, total), wanted)


def _fps_plan(per_second: float, info: VideoInfo, total: int | None) -> _Plan:
    """F frames a second, by time: the frame nearest to each k / F seconds from the first frame.

    ffmpeg cannot look ahead, so it keeps a frame when its time plus half the gap since the previous
    frame (the midpoint to the next frame, were the gap the same) has passed the next multiple of
    1 / F, then waits for the multiple after it. On constant-frame-rate video that is the nearest frame
    (a tie goes to the later one); on variable-rate video (phone recordings, screen captures) frames
    stay about 1 / F seconds apart where frame numbers would not. A stretch without frames longer than
    1 / F gives one frame, not copies. Frames without a timestamp fall back to the nearest frame number
    at the average rate (``rate / F`` frames apart).
    """
    rate = info.fps or 25.0
    step = rate / per_second  # in frames, for frames without a timestamp
    by_number = f"lt(ceil((n-0.5)/{step!r})*{step!r},n+0.5)"
    half_gap = "if(isnan(prev_t),0,(t-prev_t)/2)"
    ticks = f"(t-start_t+{half_gap})*{per_second!r}"  # in units of 1 / F; ld(0): the next multiple to pass
    by_time = f"if(gt({ticks},ld(0))+isnan(prev_t),st(0,floor({ticks})+1))"  # the first frame, and each nearest
    expected = max(1, math.ceil(info.duration * per_second - 1e-9)) if info.duration else None
    if total:
        expected = min(expected or math.ceil(total / step), total)
    return _Plan(f"if(isnan(t-start_t),{by_number},gt({by_time},0))", lambda n: True, expected, by_time=True)


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
_SHOWINFO_FROM = re.compile(r"^\[(?:showinfo@)?(all|kept) @ ")
"""The log context of mesocli's two showinfo filters: ``[showinfo@kept @ 0x…]``, or ``[kept @ 0x…]`` (ffmpeg 6.0
names a filter by its instance name alone)."""
_TIME_BASE = re.compile(r"config in time_base: (\d+)/(\d+)")


def _frame_time(pts: str, pts_time: str, time_base: tuple[int, int] | None) -> float:
    """A frame's time in seconds: its pts × the time base, exact (ffmpeg 5.1 and 6.0 round the ``pts_time`` they
    log to 6 significant digits: 0.05 s at 10000 s); the logged time without a time base; NaN without either."""
    if time_base and pts.lstrip("-").isdigit():
        return int(pts) * time_base[0] / time_base[1]
    try:
        return float(pts_time)
    except ValueError:
        return math.nan

_LEVEL = re.compile(r"\[(error|fatal|panic)\]\s*(.*)")
_STARVED = ("Cannot allocate memory", "Resource temporarily unavailable", "ff_frame_thread_encoder_init failed")
"""ffmpeg's words (strerror of ENOMEM, EAGAIN; ffmpeg 5.1's when its encoder threads did not start) when memory
or threads ran out, not the file's content."""
STARVED_GRACE = 10.0
"""Seconds an ffmpeg that said it ran out of memory or threads gets to hand out its first frame: short of a
thread, it sometimes waits for good (or crashes) instead of exiting."""
_END = object()


class FrameReader:
    """The selected frames of one video, decoded by one ffmpeg process; iterate once, then ``close``.

    ``duration`` is the video's length in seconds (the header's, or its counted frames' when fewer); ``info``
    the header's, with the stream's start found by counting where ffmpeg 5.1 to 7.0 left it out.
    After iteration, ``warnings`` holds the errors ffmpeg reported while decoding (a damaged
    stream still yields the frames it could decode) and ``decoded`` the number of frames yielded.
    An ffmpeg that ends on a signal (killed, or stopped by Ctrl-C) raises InputError: its frames stop
    where it was stopped, not where the file does.
    """

    def __init__(self, path: str | Path, selection: FrameSelection, info: VideoInfo | None = None):
        self.path = Path(path)
        self.selection = selection
        self.info = info if info is not None else probe_video(self.path)
        total = self.info.frame_count_estimate
        guessed = self.info.rate_guessed
        own = False  # the frames were counted in a progressive MPEG-TS or MPEG-PS stream: the count is its length
        if selection.mode == "frames" and (total is None or self.info.other_streams or guessed or self.info.uncounted):
            # evenly spaced frames need the count: the header's is a guess, too high when the audio outlasts
            # the video (its duration is the file's), on variable-frame-rate Matroska (its fps is the base
            # rate), or in MPEG-TS (its duration from timestamps: a stream-copied cut "lasts" 2 frames more,
            # which picked other frames than its MP4's); counting the packets is a demuxing pass (tens of ms)
            counted, first = count_packets(self.path, self.info)
            if first is not None and not self.info.start_known:  # ffmpeg 5.1 to 7.0: the first packet tells
                self.info = with_start(self.info, first)
                total = self.info.frame_count_estimate
            # MPEG-TS, MPEG-PS: a progressive stream's packets are its frames, whether its length guessed from
            # timestamps or the bit rate is longer or shorter; an interlaced one's may be its fields: the fewer,
            # as with audio beside
            own = bool(counted) and self.info.uncounted and not self.info.interlaced
            total = counted or total if total is None or guessed or own else min(total, counted or total)
        self.duration = self.info.duration  # the video's length: the header's, or its counted frames' if fewer
        if (total and self.info.fps and self.info.frame_count_estimate and not guessed
                and (total < self.info.frame_count_estimate or own)):
            # (a Matroska file's fps is its base rate: its header's duration stands)
            self.duration = total / self.info.fps
        self.plan = _plan(selection, self.info, total)
        self.warnings: list[str] = []
        self.decoded = 0
        self._signal_note = ""  # ffmpeg's "received signal N", when its own handler stopped it
        self._starved: tuple[str, float] | None = None  # ffmpeg's line saying memory or threads ran out, and when
        self._partial = False  # the demuxer said "partial file": the file ends before the data its index names
        self._process: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._frames: queue.Queue = queue.Queue()
        self._start()

    @property
    def cut_short(self) -> bool:
        """After iteration: ffmpeg reported errors and fewer frames than planned came out (a damaged or
        truncated file)."""
        return bool(self.warnings) and self.plan.expected is not None and self.decoded < self.plan.expected

    @property
    def expected(self) -> int | None:
        """How many frames the selection should yield, from the header (an estimate)."""
        return self.plan.expected

    def _command(self) -> list[str]:
        filters = [f"setpts='{self.info.retime}'"] if self.info.retime else []  # an animated image: browser times
        if self.plan.by_time:
            filters.append("showinfo@all=checksum=0")  # every frame's number and pts
        if self.plan.expression:
            filters.append(f"select='{self.plan.expression}'")
        if not self.info.autorotated:  # a rotate tag without a display matrix, which recent ffmpeg ignores
            filters.append(_TURN.get(self.info.rotation, f"rotate={self.info.rotation}*PI/180"))
        # Every frame at the displayed size the header gives (after rotation, the sample aspect ratio is
        # inverted): non-square pixels made square, and a stream whose size changes midway (two clips joined)
        # read at one size, so that each frame's bytes are where they are expected (a no-op otherwise).
        filters.append(f"scale={self.info.width}:{self.info.height}")
        if abs(self.info.pixel_aspect - 1.0) > 1e-3:
            filters.append("setsar=1")
        filters.append("showinfo@kept=checksum=0")
        # The fifo muxer queues frames inside ffmpeg, so that it keeps decoding while the caller is
        # busy (loading the face models holds Python's lock a while): a pipe holds only 1 MB.
        queue_size = max(2, min(64, _FFMPEG_QUEUE_BYTES // self._frame_bytes))
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info",
            "-copyts", *([] if self.info.autorotated else ["-noautorotate"]),  # a rotate tag: turned once, here
            *ffmpeg_input(self.path),  # the stream's own timestamps: times are counted in Python
            "-map", f"0:{self.info.stream}", "-vf", ",".join(filters), "-fps_mode", "passthrough",
            "-map_metadata", "-1", "-map_chapters", "-1",  # the file's own words stay out of the log read below
            "-c:v", "rawvideo", "-pix_fmt", "rgb24", "-f", "fifo", "-fifo_format", "rawvideo",
            "-queue_size", str(queue_size), "pipe:1",
        ]

    @property
    def _frame_bytes(self) -> int:
        return max(1, self.info.width * self.info.height * 3)

    def _start(self) -> None:
        self._process = start_ffmpeg(self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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
        """Parse ffmpeg's stderr: one showinfo line per output frame (and, for a plan by time, one per
        decoded frame before the selection, which gives the kept frames' numbers), and error messages."""
        assert self._process is not None and self._process.stderr is not None
        decoded: collections.deque[tuple[str, int]] = collections.deque()  # (pts, frame number) not yet kept
        time_base: tuple[int, int] | None = None  # of the kept frames, from showinfo's "config in" line
        configured = False  # a showinfo line came: the filters run, frame lines can come from here on
        for raw in self._process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.endswith(": partial file"):  # (an MP4 whose index comes first, cut short: no frame at all)
                self._partial = True
            source = _SHOWINFO_FROM.match(line)
            match = _SHOWINFO.search(line)
            which = source.group(1) if source else None
            configured = configured or which is not None
            if which is None and match and configured:
                # ffmpeg logs from several threads: a frame's line written while another thread's line was
                # half out is glued onto it, without its own prefix (a muxer's "Non-monotonic DTS; ..."
                # warning, written in two parts). Losing it put every later frame's bytes under the wrong
                # header and dropped the last frame. A kept frame's line follows its "all" line (same pts).
                seen = any(pts == match.group(2) for pts, _ in decoded)
                which = "kept" if seen or not self.plan.by_time else "all"
                line = line[: match.start()]  # the other thread's part, read as any line below
                self._note(line)
            if which == "kept" and (base := _TIME_BASE.search(line)):
                time_base = (int(base.group(1)), int(base.group(2))) if int(base.group(2)) else None
            elif which and match:
                if which == "all":
                    decoded.append((match.group(2), int(match.group(1))))
                    continue
                number = None
                while decoded and number is None:  # the kept frames come in the decoded frames' order
                    pts, candidate = decoded.popleft()
                    number = candidate if pts == match.group(2) else None
                seconds = _frame_time(match.group(2), match.group(3), time_base)
                headers.put((seconds, int(match.group(4)), int(match.group(5)), number))
            else:
                self._note(line)
        headers.put(_END)

    def _note(self, line: str) -> None:
        """Keep what a line of ffmpeg's log says about the decoding: a signal, or an error."""
        if "received signal" in line:
            self._signal_note = line
        elif (match := _LEVEL.search(line)) and len(self.warnings) < 20:
            message = match.group(2).strip()
            if self._starved is None and any(cause in message for cause in _STARVED):
                self._starved = (message, clock.monotonic())
            if message and message not in self.warnings:
                self.warnings.append(message)

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
                seconds, width, height, number = header
                image = np.empty((height, width, 3), np.uint8)
                view, got = memoryview(image).cast("B"), 0
                while got < len(view):
                    n = stdout.readinto(view[got:])
                    if not n:
                        break
                    got += n
                if got < len(view):
                    break
                index = number if number is not None else next(indices)
                time = seconds - self.info.file_start  # from the file's start, as players count
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
        item = self._next_item() if self._process is not None else _END
        if item is _END:
            self._finish()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        self.decoded += 1
        return item

    def _next_item(self) -> object:
        """The next frame (or end, or error) from the reader thread; an ffmpeg that ran out of memory or threads
        and gave no frame within :data:`STARVED_GRACE` seconds is stopped (it may never give one)."""
        while True:
            try:
                return self._frames.get(timeout=0.5)
            except queue.Empty:
                process, starved = self._process, self._starved
                if (starved is not None and self.decoded == 0 and clock.monotonic() - starved[1] > STARVED_GRACE
                        and process is not None and process.poll() is None):
                    process.kill()  # its stderr closes: the reader threads end the stream

    def _finish(self) -> None:
        """Wait for ffmpeg at the end of the stream; a failure before any frame, or a signal, is an InputError."""
        code = self._shutdown(kill=False)
        if code and self.decoded == 0 and self._starved is not None:
            # not the file's fault: its last line blamed it ("Nothing was written ..."), or it crashed or hung
            raise InputError(f"{self.path}: could not decode: ffmpeg ran out of memory or threads "
                             f"({self._starved[0]}); the file may be fine: raise the memory limit (ulimit -v) or "
                             "free memory", "resources")
        if stopped := ffmpeg_stopped(code, self._signal_note):
            raise InputError(f"{self.path}: decoding stopped: {stopped}", "resources")
        if code and self.decoded == 0:
            reason = self.warnings[-1] if self.warnings else f"ffmpeg exited with status {code}"
            raise InputError(f"{self.path}: could not decode ({reason})",
                             "truncated" if self._partial else "decode_failed")
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
        ffmpeg_done(process)
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
