"""What a video file holds, read from its header by the bundled ffmpeg (``ffmpeg -i``, no decoding).

:func:`probe_video` lists the file's streams from ffmpeg's report and describes the first video
stream (not an attached picture) as a :class:`VideoInfo`: displayed size (rotation and non-square
pixels applied), frame rate, duration, start time. :func:`count_packets` counts its packets when
the header gives no length, and finds when the stream starts (which ffmpeg 5.1 to 7.0 do not print).
Every problem is an :class:`mesocli.errors.InputError` of one line.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import re
import signal
import subprocess
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mesocli.errors import InputError, UsageError
from mesocli.fsutil import check_input_file


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
    start: float = 0.0  # when the video stream begins, in seconds from the file's start (as players count)
    other_streams: bool = False  # audio (or more video): the header's duration may be another stream's
    file_start: float = 0.0  # the file's first timestamp (of any stream): time 0 of the frame times
    autorotated: bool = True  # ffmpeg turns the frames itself (a display matrix); False: only a ``rotate`` tag says
    # to (Matroska files remuxed by an older ffmpeg), which ffmpeg ignores and mesocli applies (:mod:`mesocli.video`)
    rate_guessed: bool = False  # the container records no frame count or average rate (Matroska, WebM, animated
    # images): ``fps`` is the stream's base rate or a rounded mean, ``frame_count_estimate`` off on variable-rate video
    start_known: bool = True  # False: the file has other streams and ffmpeg (5.1 to 7.0) printed no start of the
    # video stream's own, so ``start`` (0) and ``duration`` (from the file's start) may be early (:func:`with_start`)
    retime: str | None = None  # an animated image with delays of 10 ms or less: the ``setpts`` expression that
    # gives its frames the times browsers show them at (:mod:`mesocli.animation`), which ffmpeg's are not
    video_streams: int = 1  # the file's video streams (covers aside, :func:`_cover_track`): only the first is read
    uncounted: bool = False  # a container that records no frame count (MPEG-TS, MPEG-PS, a raw stream): its duration
    # is guessed from timestamps or the bit rate (an MPEG-TS cut by stream copy "lasts" its B-frames' delay more), so
    # the frames are counted (:func:`count_packets`) before evenly spaced ones are picked
    interlaced: bool = False  # ffmpeg names a field order ("top first"): a packet may hold one field, not a frame

    def as_dict(self) -> dict:
        data = asdict(self)
        del data["path"], data["stream"], data["other_streams"], data["file_start"], data["autorotated"]
        del data["rate_guessed"], data["start_known"], data["retime"], data["video_streams"], data["uncounted"]
        del data["interlaced"]
        return data


def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg (or the one IMAGEIO_FFMPEG_EXE names)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


FFMPEG_HINT = "set IMAGEIO_FFMPEG_EXE to a recent ffmpeg, or reinstall imageio-ffmpeg (0.8 or later bundles one)"
MIN_FFMPEG = (5, 1)  # the oldest ffmpeg that knows the options mesocli passes (-fps_mode came in 5.1)
_FFMPEG_VERSION = re.compile(r"ffmpeg version n?(\d+)\.(\d+)(\.\d+)?")


def require_ffmpeg() -> None:
    """Raise UsageError, before any input is read, when the ffmpeg mesocli would run cannot be run or is older
    than :data:`MIN_FFMPEG` (a system one, IMAGEIO_FFMPEG_EXE, an old imageio-ffmpeg): every video used to fail
    one by one with ffmpeg's "Option not found", as if the files were damaged."""
    try:
        exe = ffmpeg_exe()
    except RuntimeError as exc:  # imageio-ffmpeg found no binary (none bundled, none on PATH)
        raise UsageError(f"cannot find ffmpeg ({exc})") from None
    problem = _ffmpeg_problem(exe)
    if problem:
        raise UsageError(problem)


@functools.cache
def _ffmpeg_problem(exe: str) -> str | None:
    """Why ``exe`` cannot decode for mesocli (one line), or None; checked once per process."""
    hint = FFMPEG_HINT
    try:
        run = subprocess.run([exe, "-hide_banner", "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run ffmpeg {exe} ({getattr(exc, 'strerror', None) or exc}): {hint}"
    found = _FFMPEG_VERSION.search(run.stdout)
    if run.returncode != 0 and found is None:
        return f"cannot run ffmpeg {exe} (exit status {run.returncode}): {hint}"
    if found and (int(found.group(1)), int(found.group(2))) < MIN_FFMPEG:
        version = found.group(0).split()[-1]
        wanted = ".".join(map(str, MIN_FFMPEG))
        return f"ffmpeg {version} is too old: mesocli needs ffmpeg {wanted} or later ({exe}): {hint}"
    return None  # a version it cannot read (a development build such as N-113000-g...) is given the benefit


def ffmpeg_version() -> str | None:
    """The version of the ffmpeg that decodes videos, as ``ffmpeg -version`` prints it (``n9.0.2-17-g2a571b6068``,
    ``6.0``, a development build's ``N-113000-g…``), for the rows' ``settings``; None when it cannot be run or says
    none."""
    try:
        return _version_of(ffmpeg_exe())
    except RuntimeError:  # imageio-ffmpeg found no binary
        return None


@functools.cache
def _version_of(exe: str) -> str | None:
    try:
        run = subprocess.run([exe, "-hide_banner", "-version"], stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, errors="replace", timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"ffmpeg version (\S+)", run.stdout)
    return found.group(1) if found else None


ANIMATED_DEMUXERS = ("gif", "apng", "webp_anim")
UNCOUNTED_DEMUXERS = ("mpegts", "mpeg", "mpegvideo", "h264", "hevc", "m4v")
"""Containers whose header holds no frame count (ffmpeg's demuxer names): MPEG transport and program streams, raw
elementary streams."""
"""ffmpeg's readers of animated images (GIF, APNG, animated WebP: ffmpeg 8 or later), scanned as videos; frame times
come from each frame's delay."""
VIDEO_DEMUXERS = ("mov", "matroska", "avi", "mpegts", "mpeg", "mpegvideo", "flv", "asf", "ogg", "mxf", "h264",
                  "hevc", "m4v", "yuv4mpegpipe", *ANIMATED_DEMUXERS)
"""The containers and raw streams ffmpeg may read (those of :data:`mesocli.inputs.VIDEO_SUFFIXES`, and animated
images: :data:`ANIMATED_DEMUXERS`). Not the
ones that open other files: playlists (hls, dash), lists (concat), image sequences (image2: ``v%d.jpg``
would read ``v1.jpg``, ``v2.jpg`` beside it)."""


def ffmpeg_input(path: str | Path) -> list[str]:
    """ffmpeg's arguments to read a local file, and only that: no URL, no network, whatever its name, and no
    other file that it names (only the :data:`VIDEO_DEMUXERS` may read it)."""
    return ["-protocol_whitelist", "file", "-format_whitelist", ",".join(VIDEO_DEMUXERS), "-i", f"file:{path}"]


OWN_GROUP = {"process_group": 0}
"""Popen arguments that start ffmpeg in its own process group: a Ctrl-C at the terminal (or one sent to the
job) reaches mesocli, which stops ffmpeg itself, and not ffmpeg behind its back (mesocli may ignore it:
a job started with ``&`` from a script does)."""
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def start_ffmpeg(arguments: list[str], **options: Any) -> subprocess.Popen:
    """Start ffmpeg in its own process group (:data:`OWN_GROUP`); call :func:`ffmpeg_done` once it has ended.
    One still running when mesocli exits is killed, also one that a thread was still waiting on.

    An ffmpeg that cannot be started (removed or made unrunnable since :func:`require_ffmpeg` checked it, no
    process left to start) raises UsageError: the run stops, as it would have before its first input (each
    input was an error row, ``FileNotFoundError``)."""
    try:
        process = subprocess.Popen(arguments, **options, **OWN_GROUP)
    except OSError as exc:
        raise UsageError(f"cannot run ffmpeg {arguments[0]} ({exc.strerror or exc}): {FFMPEG_HINT}") from None
    with _RUNNING_LOCK:
        _RUNNING.add(process)
    return process


def ffmpeg_done(process: subprocess.Popen) -> None:
    with _RUNNING_LOCK:
        _RUNNING.discard(process)


@atexit.register
def _kill_running_ffmpeg() -> None:
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for process in running:
        with contextlib.suppress(OSError):
            process.kill()


def _run_ffmpeg(arguments: list[str], timeout: float, *, output: bool = False) -> tuple[int, str, str]:
    """Run ffmpeg to its end (killed after ``timeout`` seconds: TimeoutExpired); its status, stderr, and stdout
    (``output``; else empty)."""
    process = start_ffmpeg(arguments, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE if output else subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True, errors="replace")
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        ffmpeg_done(process)
    return process.returncode, stderr, stdout or ""
_FFMPEG_SIGNALLED = 255  # ffmpeg's status after its own SIGINT/SIGTERM handler: "received signal N"
_RECEIVED = re.compile(r"received signal (\d+)")


def ffmpeg_stopped(code: int | None, log: str = "") -> str | None:
    """Why ffmpeg ended on a signal (killed: a negative ``code``; stopped through its own handler: 255, the
    signal named in its ``log``), as ``ffmpeg was killed by signal 9 (SIGKILL)``; None if it was not."""
    if code is None or not (code < 0 or code == _FFMPEG_SIGNALLED):
        return None
    received = _RECEIVED.search(log)
    if code >= 0 and received is None:
        return f"ffmpeg was stopped by a signal (exit status {code})"
    number = -code if code < 0 else int(received.group(1))
    try:
        name = f" ({signal.Signals(number).name})"
    except ValueError:
        name = ""
    return f"ffmpeg was {'killed' if code < 0 else 'stopped'} by signal {number}{name}"


_DURATION = re.compile(r"Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)(?:, start: (-?\d+(?:\.\d+)?))?")
_INPUT = re.compile(r"^Input #0, (.*), from ", re.M)  # (searched in the whole log: warnings may come first)
_STREAM = re.compile(r"^\s*Stream #0:(\d+)\S*: (\w+): (.*)$")
_SIZE = re.compile(r"(?:^|[ ,])(\d+)x(\d+)(?=[ ,\[]|$)")
_FPS = re.compile(r"(\d+(?:\.\d+)?)(k?) (fps|tbr)")
_SAR = re.compile(r"SAR (\d+):(\d+)")
_STREAM_START = re.compile(r"start (-?\d+(?:\.\d+)?)")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)", re.IGNORECASE)
_DURATION_TAG = re.compile(r"^\s*DURATION(?:-\w+)?\s*:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", re.IGNORECASE)


NOT_LISTED = "not a video container mesocli reads"  # ffmpeg found a format outside VIDEO_DEMUXERS


def _ffmpeg_error(stderr: str) -> str:
    """What ffmpeg said went wrong, in one line: its distinct messages, without prefixes and boilerplate."""
    if "Format not on whitelist" in stderr:  # a playlist, file list or image sequence: see VIDEO_DEMUXERS
        return (f"{NOT_LISTED}; playlists (HLS, DASH), file lists and image sequences, "
                "which name other files, are refused")
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


READ_ERROR = "Input/output error"
"""strerror(EIO) as ffmpeg prints it when reading the file failed (a bad sector, a share gone): the kind is
``read_failed``, as when mesocli itself reads or hashes the file, not ``not_media``."""

CUT_SHORT = ": its index is missing, as in an MP4 or MOV cut short (an upload or copy not finished?)"


def _cut_short(path: Path, stderr: str) -> str:
    """What a probe's "moov atom not found" means in plain words, for a file that starts as an MP4 or MOV does
    (an ``ftyp`` box): its index (written last by most encoders) is missing, so it was most likely cut short.
    Empty for any other failure, and for a file that is no MP4 at all (random bytes named ``.mp4``)."""
    if "moov atom not found" not in stderr:
        return ""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return ""
    return CUT_SHORT if head[4:8] == b"ftyp" else ""


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of a video file (ffmpeg ``-i``, no decoding); raise InputError when unusable."""
    path = Path(path)
    if check_input_file(path).st_size == 0:  # also refuses folders, named pipes and devices
        raise InputError(f"{path}: empty file", "empty")
    try:
        code, stderr, _ = _run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-nostdin", *ffmpeg_input(path)], timeout=120)
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: ffmpeg took too long to read the header", "timeout") from None
    if stopped := ffmpeg_stopped(code, stderr):
        raise InputError(f"{path}: reading the header stopped: {stopped}", "resources")
    if "Input #0" not in stderr:
        if READ_ERROR in stderr:  # the disk (or network share) failed under ffmpeg: not the file's content
            raise InputError(f"{path}: cannot read ({READ_ERROR})", "read_failed")
        cut = _cut_short(path, stderr)
        raise InputError(f"{path}: not a readable video ({_ffmpeg_error(stderr)}){cut}",
                         "truncated" if cut else "not_media")
    info = _parse_probe(str(path), stderr)
    if (container := _INPUT.search(stderr)) and container.group(1) in ANIMATED_DEMUXERS:
        info = _as_displayed(info, path, container.group(1))
    limit = max_frame_pixels()
    if limit is not None and info.width * info.height > limit:
        raise InputError(f"{path}: frames too large ({info.width}×{info.height} pixels; the limit is "
                         f"{limit} pixels, as for images (Pillow's decompression-bomb limit): raise it with "
                         "MESOCLI_MAX_IMAGE_PIXELS=PIXELS)", "too_large")
    return info


def _as_displayed(info: VideoInfo, path: Path, demuxer: str) -> VideoInfo:
    """An animated image's ``info`` timed as browsers play it (:mod:`mesocli.animation`): its duration the sum of
    its frames' delays (an APNG's or WebP's header gives none, a GIF's counts a delay of 10 ms as 10 ms), its
    frame count, and (``retime``) how ffmpeg is to time its frames where it does not as browsers do. Unchanged
    when the delays cannot be read."""
    from mesocli.animation import SHORTEST_MS, displayed, frame_delays, setpts_expression

    delays = frame_delays(path, demuxer)
    if not delays:
        return info
    duration = sum(displayed(delay) for delay in delays) / 1000.0
    retime = setpts_expression(delays) if min(delays) <= SHORTEST_MS else None
    return replace(info, duration=duration, fps=len(delays) / duration, frame_count_estimate=len(delays),
                   retime=retime)


def max_frame_pixels() -> int | None:
    """The largest frame decoded (an RGB copy of each is made): the pixels an image is refused over
    (``$MESOCLI_MAX_IMAGE_PIXELS``, else Pillow's limit)."""
    from mesocli.preprocess import pixel_limit

    return pixel_limit()


_STILL_CODECS = {"mjpeg", "png", "bmp", "gif", "webp", "tiff"}


def _cover_track(stream: tuple[int, str, str, list[str]]) -> bool:
    """Whether a further video stream is a cover as ffmpeg writes one into an MKV (``-disposition attached_pic``):
    a track of a still-image codec lasting a frame at most (its ``DURATION`` tag 0.1 s or less), which ffmpeg
    does not mark as an attached picture when it reads the file back."""
    codec = stream[2].split(",", 1)[0].split(" ", 1)[0]
    durations = [_seconds(*tag.groups()) for line in stream[3] if (tag := _DURATION_TAG.match(line))]
    return codec in _STILL_CODECS and bool(durations) and max(durations) <= 0.1


def _parse_probe(path: str, stderr: str) -> VideoInfo:
    duration = start = None
    container = ""
    streams: list[tuple[int, str, str, list[str]]] = []  # (index, type, description, following lines)
    for line in stderr.splitlines():
        if (match := _INPUT.match(line)) and not streams:
            container = match.group(1)
        elif (match := _DURATION.search(line)) and not streams:
            if match.group(1) is not None:
                duration = _seconds(*match.group(1, 2, 3))
            start = float(match.group(4)) if match.group(4) else None
        elif match := _STREAM.match(line):
            streams.append((int(match.group(1)), match.group(2), match.group(3), []))
        elif streams and line.startswith("    "):
            streams[-1][3].append(line)
    videos = [s for s in streams if s[1] == "Video" and "(attached pic)" not in s[2]]
    if not videos:
        what = ", ".join(sorted({s[1].lower() for s in streams if s[1] != "Video"}))  # any video: a cover
        if any(s[1] == "Video" for s in streams):  # cover art (a song's, an audio book's) is no video to judge
            what = f"{what} and a cover picture" if what else "a cover picture"
        raise InputError(f"{path}: no video stream ({what or 'no streams'} only)", "no_video_stream")
    index, _, description, extra = videos[0]
    size = _SIZE.search(description)
    if size is None:
        raise InputError(f"{path}: video stream without a frame size ({description[:80]})", "no_video_stream")
    width, height = int(size.group(1)), int(size.group(2))
    fps = None
    for value, kilo, _unit in _FPS.findall(description):  # "fps" comes before "tbr"
        fps = float(value) * (1000 if kilo else 1)
        break
    sar = _SAR.search(description)
    pixel_aspect = 1.0
    if sar and int(sar.group(1)) and int(sar.group(2)):  # 0:1 means unknown
        pixel_aspect = int(sar.group(1)) / int(sar.group(2))
    rotation, tag_rotation, matrix = 0, 0, False
    for line in extra:
        if match := _ROTATION.search(line):
            rotation, matrix = round(-float(match.group(1))) % 360, True
        elif match := _ROTATE_TAG.match(line):
            tag_rotation = int(match.group(1)) % 360
        elif match := _DURATION_TAG.match(line):
            duration = _seconds(*match.group(1, 2, 3))  # the stream's own duration (Matroska)
    if not matrix:  # a display matrix is what ffmpeg applies; without one, the tag says how the frames are turned
        rotation = tag_rotation
    # Frame times count from the file's start (its earliest timestamp, ``start``); the video stream may
    # begin later (after the audio). Matroska's durations are end times on a clock that
    # starts at 0 (a file cut from a stream starts at 10 s and "lasts" 13 s); others' are lengths.
    file_start = start or 0.0
    stream_start = _STREAM_START.search(description)
    video_start = float(stream_start.group(1)) if stream_start else file_start
    if duration is not None:
        end = duration if "matroska" in container else duration + file_start
        duration = max(0.0, end - video_start)
    if abs(pixel_aspect - 1.0) > 1e-3:
        width = max(1, round(width * pixel_aspect))
    if rotation in (90, 270):
        width, height = height, width
    estimate = round(duration * fps) if duration and fps else None
    codec = description.split(" ", 1)[0].rstrip(",")
    others = [s for s in streams if s[1] in ("Video", "Audio") and s[0] != index and "(attached pic)" not in s[2]]
    return VideoInfo(path, width, height, fps, duration, rotation, estimate, codec, index, pixel_aspect,
                     max(0.0, video_start - file_start), bool(others), file_start, matrix or not rotation,
                     "matroska" in container or container in ANIMATED_DEMUXERS, stream_start is not None or not others,
                     video_streams=1 + sum(not _cover_track(stream) for stream in videos[1:]),
                     uncounted=container in UNCOUNTED_DEMUXERS, interlaced=bool(_FIELD_ORDER.search(description)))


def streams_note(info: VideoInfo) -> list[str]:
    """A note when the file holds more video streams than the one read (a second picture a player may show
    instead, or beside it: its faces are not judged). Empty for one stream."""
    if info.video_streams < 2:
        return []
    return [f"{info.video_streams} video streams: only the first (stream #{info.stream}) was read; "
            "a player may show another"]


def with_start(info: VideoInfo, start: float) -> VideoInfo:
    """``info`` of a video stream found to begin ``start`` seconds after the file (its first packet), where the
    header did not say (``start_known`` False): its duration and frame estimate are shortened to match."""
    start = max(0.0, start)
    duration = None if info.duration is None else max(0.0, info.duration - (start - info.start))
    estimate = round(duration * info.fps) if duration and info.fps else None
    return replace(info, start=start, duration=duration, frame_count_estimate=estimate, start_known=True)


def count_packets(path: str | Path, info: VideoInfo) -> tuple[int | None, float | None]:
    """The video packets counted without decoding them (a demuxing pass; None if ffmpeg cannot tell), and the
    stream's start in seconds from the file's (its earliest packet; None if none has a timestamp).

    One ``framecrc`` line per packet, which every ffmpeg writes alike (the ``frame=`` of its progress line is
    missing from ffmpeg 7.0's when it copies packets). The start is looked for only where the header did not
    give it (``start_known`` False): the packets keep the file's own timestamps then (``-copyts``: without it,
    ffmpeg shifts an MPEG-TS video's to 0), in the ``#tb`` the listing names."""
    own_times = [] if info.start_known else ["-copyts"]
    try:
        code, stderr, listed = _run_ffmpeg(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", *own_times, *ffmpeg_input(path),
             "-map", f"0:{info.stream}", "-c", "copy", "-f", "framecrc", "-"], timeout=600, output=True)
    except subprocess.TimeoutExpired:
        raise InputError(f"{path}: ffmpeg took too long to count the frames", "timeout") from None
    if stopped := ffmpeg_stopped(code, stderr):
        raise InputError(f"{path}: counting the frames stopped: {stopped}", "resources")
    packets, first, base = 0, None, None
    for line in listed.splitlines():
        if line[:1].isdigit():
            packets += 1
            fields = line.split(",")
            with contextlib.suppress(IndexError, ValueError):
                pts = int(fields[2])
                if pts != _NO_PTS and (first is None or pts < first):
                    first = pts
        elif match := _TIME_BASE.match(line):
            base = int(match.group(1)) / int(match.group(2)) if int(match.group(2)) else None
    if info.start_known or first is None or base is None:
        return packets or None, None
    return packets or None, first * base - info.file_start


_FIELD_ORDER = re.compile(r"\b(?:top|bottom)(?: coded)? first\b")  # ffmpeg's field order of an interlaced stream
_TIME_BASE = re.compile(r"#tb \d+: (\d+)/(\d+)")
_NO_PTS = -(2**63)  # AV_NOPTS_VALUE, as framecrc prints a packet without a timestamp
