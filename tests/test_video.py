"""Decoding with the bundled ffmpeg: header probing, frame selection, rotation, broken files."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import KillFfmpeg
from hypothesis import given
from hypothesis import strategies as st
from media import MediaKit, encode, ffmpeg, plan_transforms, render
from PIL import Image, ImageSequence

from mesocli.errors import InputError, UsageError
from mesocli.probe import ffmpeg_stopped
from mesocli.video import FrameReader, FrameSelection, VideoInfo, _plan, iter_frames, probe_video


@pytest.fixture(scope="module")
def all_frames(kit: MediaKit) -> list:
    return list(iter_frames(kit.face_video, FrameSelection("all")))


def test_probe_reads_the_header(kit: MediaKit) -> None:
    info = probe_video(kit.face_video)
    assert (info.width, info.height, info.fps, info.rotation) == (320, 240, 12.0, 0)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert info.frame_count_estimate == kit.FACE_FRAMES
    assert info.codec == "h264"


def test_all_frames_are_rgb_in_order(kit: MediaKit, all_frames: list) -> None:
    assert [f.index for f in all_frames] == list(range(kit.FACE_FRAMES))
    assert [f.time for f in all_frames] == pytest.approx([i / kit.FPS for i in range(kit.FACE_FRAMES)], abs=1e-3)
    for frame in all_frames:
        assert frame.image.shape == (240, 320, 3) and frame.image.dtype == np.uint8
    # the face moves right across the clip: the decoded pixels follow the rendered ones
    first = np.asarray(render(kit.face_transforms[0], kit.FACE_SIZE), dtype=np.int16)
    assert np.abs(all_frames[0].image.astype(np.int16) - first).mean() < 4


@pytest.mark.parametrize(
    ("selection", "indices"),
    [
        (FrameSelection("frames", 5), [math.floor((i + 0.5) * 24 / 5) for i in range(5)]),
        (FrameSelection("frames", 12), list(range(1, 24, 2))),  # exact boundaries: (i + 0.5) × 2
        (FrameSelection("frames", 30), list(range(24))),  # more than the clip holds: all of them
        (FrameSelection("every", 5), [0, 5, 10, 15, 20]),
        (FrameSelection("fps", 4.0), [0, 3, 6, 9, 12, 15, 18, 21]),
        (FrameSelection("fps", 5.0), [0, 2, 5, 7, 10, 12, 14, 17, 19, 22]),  # round(k * 12 / 5)
    ],
)
def test_selection_yields_exactly_the_planned_frames(kit: MediaKit, all_frames: list, selection: FrameSelection,
                                                     indices: list[int]) -> None:
    frames = list(iter_frames(kit.face_video, selection))
    assert [f.index for f in frames] == indices
    for frame in frames:  # ffmpeg's select and the Python predicate agree on which frame is which
        assert np.array_equal(frame.image, all_frames[frame.index].image)
        assert frame.time == pytest.approx(frame.index / kit.FPS, abs=1e-3)


def test_fps_on_variable_frame_rate_video_is_spaced_in_time(kit: MediaKit, tmp_path: Path) -> None:
    # a phone-like clip: its first 12 frames at 24 frames a second (0-0.46 s), the other 12 at 4 (0.5-3.25 s)
    path = tmp_path / "vfr.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(kit.face_video), "-vf",
                    "settb=1/96,setpts='if(lt(N,12),N/24,0.5+(N-12)/4)/TB'", "-fps_mode", "vfr",
                    "-enc_time_base", "1:96", "-c:v", "libx264",
                    "-crf", "16", "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
    every = list(iter_frames(path, FrameSelection("all")))
    assert [f.time for f in every] == pytest.approx([n / 24 for n in range(12)] + [0.5 + n / 4 for n in range(12)],
                                                   abs=1e-6)
    frames = list(iter_frames(path, FrameSelection("fps", 2.0)))
    # by time: one frame each half second (frame numbers at the average rate, 7 a second, gave 4 frames
    # in the first half second and then one every 1.75 s)
    assert [f.time for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    assert [f.index for f in frames] == [0, 12, 14, 16, 18, 20, 22]
    for frame in frames:  # each frame's number is its own in the stream
        assert np.array_equal(frame.image, every[frame.index].image)
    assert [f.index for f in iter_frames(path, FrameSelection("fps", 48.0))] == list(range(24))  # no copies


@pytest.mark.parametrize("second", ["160x120", "640x480"])
def test_a_stream_whose_size_changes_midway_is_read_at_one_size(tmp_path: Path, second: str) -> None:
    """Two MPEG-TS clips of different sizes joined with `cat` (an ordinary file): the smaller second half
    hung the reader for good (the frame bytes out of step with the sizes ffmpeg reported), the larger one
    gave frames made of tiled pieces, scored "ok"."""
    import threading

    parts = []
    for number, (size, offset) in enumerate([("320x240", 0), (second, 1)]):
        part = tmp_path / f"{number}.ts"
        subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10", "-t", "1",
                        "-c:v", "libx264", "-output_ts_offset", str(offset), str(part)], check=True)
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    frames: list = []
    reader = threading.Thread(target=lambda: frames.extend(iter_frames(joined, FrameSelection("all"))), daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "the reader hung"
    assert len(frames) == 20 and {frame.image.shape for frame in frames} == {(240, 320, 3)}
    last = np.asarray(frames[-1].image, dtype=np.int16)
    assert np.abs(last[:120] - last[120:]).mean() > 10  # one picture, not two copies of a half-size frame


def _log_headers(lines: list[str], by_time: bool) -> tuple[list[tuple], list[str]]:
    """The frame headers and warnings FrameReader's log reader takes from ffmpeg log ``lines``."""
    import queue
    import types

    reader = object.__new__(FrameReader)
    reader._process = types.SimpleNamespace(stderr=[line.encode() + b"\n" for line in lines])
    reader.plan = types.SimpleNamespace(by_time=by_time)
    reader.warnings, reader._signal_note, reader._starved, reader._partial = [], "", None, False
    headers: queue.Queue = queue.Queue()
    reader._read_log(headers)
    found = []
    while (header := headers.get()) is not FrameReader.__init__.__globals__["_END"]:
        found.append(header)
    return found, reader.warnings


_KEPT = "[showinfo@kept @ 0x7fcd580959c0] [info] "
_ALL = "[showinfo@all @ 0x7fcd580959d0] [info] "


def _frame(n: int, pts: int) -> str:
    return (f"n:{n:4d} pts:{pts:7d} pts_time:{pts / 90000:<7g} duration:   9000 duration_time:0.1     "
            "fmt:yuv444p cl:unspecified sar:1/1 s:320x240 i:P iskey:0 type:P ")


@pytest.mark.parametrize("by_time", [False, True])
def test_a_frame_line_glued_onto_another_threads_line_is_still_a_frame(by_time: bool) -> None:
    """ffmpeg logs from several threads: a showinfo frame line written while the muxer's two-part
    "Non-monotonic DTS" warning was half out came glued onto it, without its prefix (seen on the joined
    MPEG-TS clip above, about 1 run in 100 under load). It was dropped: the next frame's bytes went under its
    header and the last frame was lost (19 frames of 20)."""
    muxer = "[vost#0:0/rawvideo @ 0x560ca11aa880] [warning] "
    lines = [f"{_KEPT}config in time_base: 1/90000, frame_rate: 10/1"]
    for n in range(4):
        pts = 216000 + 9000 * n
        if by_time:
            glued = f"{muxer}Non-monotonic DTS; previous: 25, current: 24; {_frame(n, pts)}"
            lines.append(f"{_ALL}{_frame(n, pts)}" if n != 1 else glued)
        kept = f"{_KEPT}{_frame(n, pts)}"
        lines.append(kept if n != 2 else f"{muxer}Non-monotonic DTS; previous: 26, current: 25; {_frame(n, pts)}")
        lines.append(f"{_KEPT}color_range:unknown color_space:unknown color_primaries:unknown color_trc:unknown")
    lines.append(f"{muxer}changing to 27. This may result in incorrect timestamps in the output file.")
    lines.append("[in#0/mpegts @ 0x560ca11423c0] [error] corrupt input packet in stream 0; " + _frame(9, 0))
    headers, warnings = _log_headers(lines, by_time)
    # (by time, the last glued line has no "all" line before it: it is one, a frame decoded, not kept)
    assert [(round(seconds, 3), width, height) for seconds, width, height, _ in headers] == [
        (2.4, 320, 240), (2.5, 320, 240), (2.6, 320, 240), (2.7, 320, 240), *([] if by_time else [(0.0, 320, 240)])]
    if by_time:  # each kept frame's number from its "all" line, glued or not
        assert [number for *_, number in headers] == [0, 1, 2, 3]
    assert warnings == ["corrupt input packet in stream 0;"]  # the other thread's words are still read


def test_a_files_own_words_before_the_filters_start_are_not_frames() -> None:
    """A title or comment that reads like a frame line is printed (unprefixed) in the input's dump, before
    any filter has started: it is not a frame header (that would put the frames' bytes out of step)."""
    lines = ["Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':", "  Metadata:",
             f"    title           : {_frame(0, 0)}", f"{_KEPT}config in time_base: 1/90000, frame_rate: 10/1",
             f"{_KEPT}{_frame(0, 9000)}"]
    headers, _ = _log_headers(lines, by_time=False)
    assert [round(seconds, 3) for seconds, *_ in headers] == [0.1]


def test_an_ffmpeg_still_running_when_mesocli_exits_is_killed() -> None:
    """A thread can be waiting on an ffmpeg that never ends (a file on a hung mount) when mesocli exits,
    on SIGTERM say: ffmpeg, in its own process group, was left running for good."""
    code = ("import threading, time\n"
            "from mesocli.probe import ffmpeg_exe, start_ffmpeg\n"
            "process = start_ffmpeg([ffmpeg_exe(), '-v', 'quiet', '-re', '-f', 'lavfi', '-i', 'testsrc', '-f', "
            "'null', '-'])\n"
            "threading.Thread(target=process.wait, daemon=True).start()\n"
            "time.sleep(0.5)\n"
            "print('PID', process.pid)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    pid = int(done.stdout.split("PID")[1])
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):  # killed, waiting to be reaped by whoever adopted it
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError("ffmpeg outlived mesocli")


def test_fps_is_one_setting_however_written() -> None:
    # a resumed output compares settings as text: the API's fps=2 and the CLI's --fps 2 must read the same
    assert FrameSelection("fps", 2).value == FrameSelection("fps", 2.0).value == 2.0
    assert isinstance(FrameSelection("fps", 2).value, float)


@given(total=st.integers(1, 5000), wanted=st.integers(1, 400))
def test_frames_plan_is_evenly_spaced(total: int, wanted: int) -> None:
    info = VideoInfo("x", 8, 8, 25.0, total / 25.0, 0, total)
    plan = _plan(FrameSelection("frames", wanted), info, total)
    picked = [n for n in range(total + 10) if plan.keep(n)]
    if wanted >= total:
        assert plan.expression is None
    else:
        assert picked == [math.floor((i + 0.5) * total / wanted) for i in range(wanted)]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(kit: MediaKit, all_frames: list, rotation: int) -> None:
    path = kit.rotated_video(rotation)
    info = probe_video(path)
    assert info.rotation == (-rotation) % 360  # clockwise, as players turn it
    assert (info.width, info.height) == (320, 240)  # as displayed
    frames = list(iter_frames(path, FrameSelection("frames", 3)))
    assert len(frames) == 3
    for frame in frames:
        assert frame.image.shape == (240, 320, 3)
        upright = all_frames[frame.index].image.astype(np.int16)
        assert np.abs(frame.image.astype(np.int16) - upright).mean() < 6


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_an_old_style_rotate_tag_is_applied(kit: MediaKit, all_frames: list, tmp_path: Path, rotation: int) -> None:
    """A Matroska file remuxed by an older ffmpeg keeps a phone's rotation as a ``rotate`` tag (degrees clockwise),
    without a display matrix: ffmpeg no longer turns such frames itself, mesocli does (they were squeezed to
    the turned size, sideways)."""
    from PIL import Image

    stored = encode(tmp_path / "stored.mp4", [Image.fromarray(f.image).rotate(rotation, expand=True)
                                              for f in all_frames[:6]])
    path = tmp_path / "tagged.mkv"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(stored), "-c", "copy", "-metadata:s:v",
                    f"rotate={rotation}", str(path)], check=True)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (320, 240, rotation)
    frames = list(iter_frames(path, FrameSelection("all")))
    assert len(frames) == 6
    for frame in frames:
        assert frame.image.shape == (240, 320, 3)
        upright = all_frames[frame.index].image.astype(np.int16)
        assert np.abs(frame.image.astype(np.int16) - upright).mean() < 6


def test_non_square_pixels_are_made_square(tmp_path) -> None:
    images = [render(t, (160, 120)) for t in plan_transforms(4, (160, 120))]
    path = encode(tmp_path / "anamorphic.mp4", images, sar="2/1")
    info = probe_video(path)
    assert (info.width, info.height, info.pixel_aspect) == (320, 120, 2.0)
    frames = list(iter_frames(path, FrameSelection("all")))
    assert [f.image.shape for f in frames] == [(120, 320, 3)] * 4


def test_a_rotated_video_with_non_square_pixels_keeps_its_displayed_size(tmp_path) -> None:
    """Stored 60×160 with 2:1 pixels (120×160 displayed), rotated 90° by the player: 160×120 frames."""
    import subprocess

    from media import ffmpeg

    images = [render(t, (60, 160)) for t in plan_transforms(4, (60, 160))]
    stored = encode(tmp_path / "stored.mp4", images, sar="2/1")
    path = tmp_path / "rotated.mp4"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-display_rotation:v", "90", "-i", str(stored), "-c", "copy",
                    str(path)], check=True)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (160, 120, 270)
    assert [f.image.shape for f in iter_frames(path, FrameSelection("all"))] == [(120, 160, 3)] * 4


def test_unknown_length_falls_back_to_counting_packets(tmp_path) -> None:
    images = [render(t, (160, 120)) for t in plan_transforms(20, (160, 120))]
    path = encode(tmp_path / "raw.h264", images)
    assert probe_video(path).frame_count_estimate is None  # a raw stream says nothing of its length
    frames = list(iter_frames(path, FrameSelection("frames", 4)))
    assert [f.index for f in frames] == [2, 7, 12, 17]


@pytest.mark.parametrize(
    ("name", "options", "first_time"),
    [
        ("offset.ts", ["-c", "copy", "-output_ts_offset", "100"], 0.0),  # MPEG-TS: starts at 101.4 s
        ("offset.mkv", ["-c", "copy", "-output_ts_offset", "10"], 0.0),  # Matroska: "lasts" 12 s from 10 s
        ("late.mp4", "late", 1.0),  # the video stream begins 1 s after the audio
        ("late.ts", "late", 1.0),  # the same in MPEG-TS (ffmpeg itself would count from the video's start)
    ],
)
def test_frame_times_count_from_the_files_start(tmp_path, kit: MediaKit, name: str, options, first_time: float) -> None:
    import subprocess

    from media import ffmpeg

    path = tmp_path / name
    if options == "late":
        command = ["-itsoffset", "1", "-i", str(kit.face_video), "-f", "lavfi", "-i", "sine=d=3",
                   "-map", "1:a", "-map", "0:v", "-c:v", "copy", "-c:a", "aac"]
    else:
        command = ["-i", str(kit.face_video), *options]
    subprocess.run([ffmpeg(), "-y", "-v", "error", *command, str(path)], check=True)
    with FrameReader(path, FrameSelection("frames", 4)) as reader:  # (ffmpeg 5.1 to 7.0: the start counted)
        frames = list(reader)
    info = reader.info
    assert info.duration == pytest.approx(2.0, abs=0.1) and info.start == pytest.approx(first_time, abs=0.1)
    assert info.frame_count_estimate == kit.FACE_FRAMES
    assert [f.index for f in frames] == [3, 9, 15, 21]  # spread over the whole clip, as in the original
    assert [f.time for f in frames] == pytest.approx([info.start + i / 12 for i in (3, 9, 15, 21)], abs=0.02)


def test_frames_spread_over_the_video_when_the_audio_outlasts_it(tmp_path, kit: MediaKit) -> None:
    """The header's duration is the file's (5 s of audio); the 2 s video's frames are counted instead."""
    import subprocess

    from media import ffmpeg

    path = tmp_path / "long_audio.mp4"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(kit.face_video), "-f", "lavfi", "-i", "sine=d=5",
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(path)], check=True)
    info = probe_video(path)
    assert info.other_streams and info.frame_count_estimate == 60  # 5 s × 12 fps: a guess, too high
    frames = list(iter_frames(path, FrameSelection("frames", 4)))
    assert [f.index for f in frames] == [3, 9, 15, 21]  # as in the file without audio


FFMPEG_6_0_LOG = """#!/bin/bash
# ffmpeg 6.0 names a filter in its log by its instance name alone: [kept @ 0x...], not [showinfo@kept @ 0x...]
exec {real} "$@" 2> >(sed -u -E 's/^\\[showinfo@([A-Za-z0-9_]+) @/[\\1 @/' >&2)
"""


def _read_in_a_thread(path: Path, selection: FrameSelection) -> list:
    """The frames, or what was raised; an AssertionError if the reader still waits after 60 s."""
    import threading

    outcome: list = []

    def read() -> None:
        try:
            outcome.extend(iter_frames(path, selection))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=60)
    assert not reader.is_alive(), "the reader waited for good"
    return outcome


@pytest.mark.parametrize(("selection", "indices"), [(FrameSelection("all"), list(range(24))),
                                                    (FrameSelection("fps", 4.0), list(range(0, 24, 3)))])
def test_an_ffmpeg_that_names_filters_by_instance_is_read(kit: MediaKit, all_frames: list, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          selection: FrameSelection, indices: list[int]) -> None:
    """ffmpeg 6.0 logs its filters as ``[kept @ 0x...]``: mesocli saw no frame, ffmpeg filled the pipe and waited,
    and so did the scan, for good (a video under 1 MB of RGB frames gave no frames instead)."""
    exe = tmp_path / "ffmpeg"
    exe.write_text(FFMPEG_6_0_LOG.format(real=ffmpeg()))
    exe.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    frames = _read_in_a_thread(kit.face_video, selection)
    wanted = [all_frames[i] for i in indices]
    assert [f.index for f in frames] == indices
    assert [f.time for f in frames] == pytest.approx([f.time for f in wanted], abs=1e-5)  # 6.0 logs 6 digits
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, wanted, strict=True))


FFMPEG_7_0_STATS = """#!/bin/bash
# ffmpeg 7.0 leaves frame= out of its progress line when it copies packets: size=N/A time=... bitrate=N/A speed=...
exec {real} "$@" 2> >(sed -u -E 's/frame= *[0-9]+ fps= *[0-9.]+ q=[-0-9.]+ +//g' >&2)
"""


def test_frames_are_counted_with_an_ffmpeg_whose_progress_has_no_frame_count(
        tmp_path: Path, kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg 7.0 gives no ``frame=`` when it copies packets: the count came back empty, so a video whose audio
    outlasts it got fewer frames than asked, none from its end (27 of 30 on a 10 s clip), and a raw H.264 stream
    one frame a second instead of the number asked."""
    long_audio = tmp_path / "long_audio.mp4"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(kit.face_video), "-f", "lavfi", "-i", "sine=d=5",
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(long_audio)], check=True)
    raw = encode(tmp_path / "raw.h264", [render(t, (160, 120)) for t in plan_transforms(20, (160, 120))])
    exe = tmp_path / "ffmpeg"
    exe.write_text(FFMPEG_7_0_STATS.format(real=ffmpeg()))
    exe.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    assert [f.index for f in iter_frames(long_audio, FrameSelection("frames", 4))] == [3, 9, 15, 21]
    assert [f.index for f in iter_frames(raw, FrameSelection("frames", 4))] == [2, 7, 12, 17]


FFMPEG_5_1_TIMES = """#!{python}
# ffmpeg 5.1 and 6.0 log a frame's time with 6 significant digits: pts_time:10000.1, not pts_time:10000.083333
import re, subprocess, sys
process = subprocess.Popen([{real!r}, *sys.argv[1:]], stderr=subprocess.PIPE)
for line in process.stderr:
    sys.stderr.buffer.write(re.sub(rb"pts_time:(\\S+)", lambda m: b"pts_time:%.6g" % float(m.group(1)), line))
    sys.stderr.flush()
sys.exit(process.wait())
"""


def test_frame_times_do_not_depend_on_how_ffmpeg_rounds_them(tmp_path: Path, kit: MediaKit,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Frame times were read from showinfo's ``pts_time``, which ffmpeg 5.1 and 6.0 round to 6 significant digits:
    at 10000 s from the stream's first timestamp they moved by up to 0.05 s. They come from ``pts`` × time base."""
    path = tmp_path / "late.mkv"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(kit.face_video), "-c", "copy", "-output_ts_offset",
                    "10000", str(path)], check=True)
    exe = tmp_path / "ffmpeg"
    exe.write_text(FFMPEG_5_1_TIMES.format(python=sys.executable, real=ffmpeg()))
    exe.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    for selection in (FrameSelection("all"), FrameSelection("fps", 4.0)):
        frames = list(iter_frames(path, selection))
        assert [f.time for f in frames] == pytest.approx([f.index / kit.FPS for f in frames], abs=1e-3)  # in ms


FFMPEG_NO_STREAM_START = """#!/bin/bash
# ffmpeg 5.1, 6.0 and 7.0 print no stream's own start in the header: "29.97 tbn (default)", not "29.97 tbn,
# start 0.852019 (default)" (the file's "Duration: ..., start: 0.008005" they do print)
exec {real} "$@" 2> >(sed -u -E '/^ *Stream #/s/, start -?[0-9.]+//' >&2)
"""


def test_a_video_that_starts_after_its_audio_with_an_ffmpeg_that_prints_no_stream_start(
        tmp_path: Path, kit: MediaKit, monkeypatch: pytest.MonkeyPatch, own_weights: Path) -> None:
    """ffmpeg 5.1 to 7.0 do not print a stream's own start: a video that begins 1 s after its audio was taken to
    begin with the file. Its frames were right (they were counted), but its length was 2 s from the file's start,
    so its timeline ended at its last sampled frame (2.75 s), not at its end (3 s). Now the start comes from the
    first packet of the counting pass that ``--frames`` already makes of such a file."""
    from mesocli.scan import ScanOptions, scan_inputs
    from mesocli.weights import load_weights

    late = tmp_path / "late.mp4"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-itsoffset", "1", "-i", str(kit.face_video), "-f", "lavfi", "-i",
                    "sine=d=3", "-map", "1:a", "-map", "0:v", "-c:v", "copy", "-c:a", "aac", str(late)], check=True)
    exe = tmp_path / "ffmpeg"
    exe.write_text(FFMPEG_NO_STREAM_START.format(real=ffmpeg()))
    exe.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))
    assert probe_video(late).start == 0.0  # the header alone does not tell
    with FrameReader(late, FrameSelection("frames", 4)) as reader:
        frames = list(reader)
    assert reader.info.start == pytest.approx(1.0, abs=0.03) and reader.duration == pytest.approx(2.0, abs=0.1)
    assert [f.index for f in frames] == [3, 9, 15, 21]
    assert [f.time for f in frames] == pytest.approx([1 + i / 12 for i in (3, 9, 15, 21)], abs=0.03)
    (result,) = scan_inputs([str(late)], load_weights(own_weights), ScanOptions(frames=4, threshold=0.0))
    assert result.status == "ok" and result.segments[-1].end == pytest.approx(3.0, abs=0.1)  # the video's end


def test_a_timeline_begins_where_a_late_video_stream_does(tmp_path, kit: MediaKit, own_weights) -> None:
    """A video stream that starts 1 s after the file (its audio first): its frames are timed from the file's start,
    as a player shows them, but a flagged range that began at its first sampled frame began at 0 s, a second in
    which the file shows no picture; a report said "flagged 0.0-3.0 s" of a clip seen from 1 s on. It begins
    at the video's first frame now."""
    import subprocess

    from media import ffmpeg

    from mesocli.scan import ScanOptions, scan_inputs
    from mesocli.weights import load_weights

    late = tmp_path / "late.mp4"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-itsoffset", "1", "-i", str(kit.face_video), "-f", "lavfi", "-i",
                    "sine=d=3", "-map", "1:a", "-map", "0:v", "-c:v", "copy", "-c:a", "aac", str(late)], check=True)
    (result,) = scan_inputs([str(late)], load_weights(own_weights), ScanOptions(frames=4, threshold=0.0))
    assert result.status == "ok" and len(result.segments) == 1
    assert result.segments[0].start == pytest.approx(1.0, abs=0.03)  # was 0.0
    assert result.segments[0].end == pytest.approx(3.0, abs=0.1)


def test_stopping_early_stops_ffmpeg(kit: MediaKit) -> None:
    started = time.perf_counter()
    reader = FrameReader(kit.face_video, FrameSelection("all"))
    first = next(iter(reader))
    reader.close()
    assert first.index == 0 and reader._process is None
    frames = iter_frames(kit.face_video, FrameSelection("all"))
    assert next(frames).index == 0
    frames.close()
    assert time.perf_counter() - started < 10


def test_damaged_stream_yields_what_it_can(tmp_path, kit: MediaKit) -> None:
    images = [render(t, (160, 120)) for t in plan_transforms(24, (160, 120))]
    whole = encode(tmp_path / "whole.mp4", images, faststart=True)  # index first: a cut file stays readable
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    reader = FrameReader(cut, FrameSelection("all"))
    frames = list(reader)
    assert 0 < len(frames) < 24
    assert reader.warnings  # ffmpeg's complaints are kept for the manifest


@pytest.mark.parametrize(
    ("number", "reason"),
    [(signal.SIGKILL, "ffmpeg was killed by signal 9 (SIGKILL)"),
     (signal.SIGTERM, "ffmpeg was stopped by signal 15 (SIGTERM)"),  # ffmpeg's own handler: status 255
     (signal.SIGINT, "ffmpeg was stopped by signal 2 (SIGINT)")],
)
def test_ffmpeg_ended_by_a_signal_is_an_input_error(kit: MediaKit, kill_ffmpeg: KillFfmpeg, number: int,
                                                    reason: str) -> None:
    """Frames stop where ffmpeg was stopped, not where the file ends: never taken as the whole video.

    Found by an auditor: the frames decoded so far were scored ``ok`` (the intact file called "damaged").
    """
    signalled = kill_ffmpeg(number)
    reader = FrameReader(kit.long_face_video, FrameSelection("all"))
    with pytest.raises(InputError) as raised:
        for _frame in reader:
            pass
    assert signalled and reader.decoded > 0  # on SIGTERM and SIGINT, ffmpeg hands out the frames it holds first
    assert str(raised.value) == f"{kit.long_face_video}: decoding stopped: {reason}"


@pytest.mark.parametrize(
    ("code", "log", "reason"),
    [(0, "", None), (1, "", None), (183, "", None), (None, "", None),
     (-9, "", "ffmpeg was killed by signal 9 (SIGKILL)"),
     (255, "[info] Exiting normally, received signal 15.", "ffmpeg was stopped by signal 15 (SIGTERM)"),
     (255, "", "ffmpeg was stopped by a signal (exit status 255)")],
)
def test_ffmpeg_stopped_tells_a_signal_from_an_error(code: int | None, log: str, reason: str | None) -> None:
    assert ffmpeg_stopped(code, log) == reason


_IGNORING_CTRL_C = textwrap.dedent("""
    import signal, sys
    from mesocli.video import FrameReader, FrameSelection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a job started with & from a script
    reader = FrameReader(sys.argv[1], FrameSelection("all"))
    count = 0
    for frame in reader:
        count += 1
        if count == 1:
            print("ready", flush=True)
            sys.stdin.readline()  # the test sends Ctrl-C to the job's process group meanwhile
    print(count, reader.warnings)
""")


def test_ctrl_c_that_mesocli_ignores_does_not_stop_its_ffmpeg(kit: MediaKit) -> None:
    """Found by an auditor: a scan started with & from a script ignores Ctrl-C, but its ffmpeg took it and
    stopped; the current video was cut short and the scan went on."""
    child = subprocess.Popen([sys.executable, "-c", _IGNORING_CTRL_C, str(kit.long_face_video)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert child.stdout.readline() == "ready\n"
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C at the terminal does: the whole foreground group
        out, _ = child.communicate("go\n", timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0 and out == "504 []\n"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("zero_byte", "empty file"), ("text_mp4", "not a readable video"), ("truncated", "moov atom not found"),
     ("audio_only", "no video stream")],
)
def test_unusable_files_raise_a_clear_input_error(kit: MediaKit, name: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        probe_video(getattr(kit, name))


def test_a_read_error_under_ffmpeg_is_read_failed_not_not_media(kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose reading fails under ffmpeg (EIO: a bad sector, a network share gone) was "not a readable video",
    kind ``not_media``: a verdict on its content. It is ``read_failed``, as when mesocli reads or hashes it. The
    error is ffmpeg's own, from a file that gives EIO on Linux (``/proc/self/mem`` at offset 0); where a sandbox
    answers otherwise, the lines ffmpeg printed for it when this test was written."""
    from mesocli import probe

    done = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-i", "/proc/self/mem"], capture_output=True,
                          text=True, timeout=60)
    stderr = done.stderr if "Input/output error" in done.stderr else (
        "[in#0 @ 0x564c61230d00] Error opening input: Input/output error\n"
        "Error opening input file /proc/self/mem.\nError opening input files: Input/output error\n")
    monkeypatch.setattr(probe, "_run_ffmpeg", lambda *args, **kwargs: (1, stderr, ""))
    with pytest.raises(InputError) as raised:
        probe_video(kit.face_video)  # its header cannot be read: the same failure as on a bad sector
    assert (str(raised.value), raised.value.kind) == (f"{kit.face_video}: cannot read (Input/output error)",
                                                      "read_failed")
    monkeypatch.undo()
    with pytest.raises(InputError) as raised:
        probe_video(kit.text_mp4)
    assert raised.value.kind == "not_media"  # a file read whole that is no video is still not_media


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        probe_video(tmp_path / "nope.mp4")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"frames": 3, "fps": 2.0}, "only one of"),
        ({"every": 2, "all_frames": True}, "only one of"),
        ({"frames": 0}, "positive"),
        ({"fps": -1.0}, "positive"),
        ({"fps": float("nan")}, "positive"),
        ({"fps": 1e308}, "at most 1000000 frames a second"),  # was OverflowError per video (inf frames)
        ({"fps": 1e7}, "at most 1000000 frames a second"),
        ({"every": 0}, "positive"),
    ],
)
def test_bad_selections_are_usage_errors(options: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        FrameSelection.from_options(**options)


def test_selection_defaults_to_30_frames() -> None:
    assert FrameSelection.from_options() == FrameSelection("frames", 30)
    assert FrameSelection.from_options(all_frames=True) == FrameSelection("all", None)
    assert FrameSelection("frames", 30.0).value == 30
    with pytest.raises(UsageError):
        FrameSelection("frames", 2.5)


def test_an_ffmpeg_short_of_memory_does_not_blame_the_file(kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg under ``ulimit -v`` cannot start its threads (EAGAIN): the error blamed the file with ffmpeg's last
    line ("Nothing was written into output file ...") instead of naming the shortage."""
    import resource

    from conftest import unpinned

    from mesocli import video

    start = video.start_ffmpeg

    def limited(arguments: list[str], **options: object) -> subprocess.Popen:
        limit = 300 * 2**20  # enough to start ffmpeg, too little for its decoding and scaling threads
        def starved() -> None:
            unpinned()  # ffmpeg starts a thread per core it may use
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        return start(arguments, **options, preexec_fn=starved)

    monkeypatch.setattr(video, "start_ffmpeg", limited)
    monkeypatch.setattr(video, "STARVED_GRACE", 1.0)  # short of a thread, it sometimes hangs (or crashes) instead
    with pytest.raises(InputError) as caught:
        list(FrameReader(kit.face_video, FrameSelection("frames", 4)))
    assert str(caught.value).startswith(f"{kit.face_video}: could not decode: ffmpeg ran out of memory or threads (")
    assert str(caught.value).endswith("the file may be fine: raise the memory limit (ulimit -v) or free memory")


def test_an_ffmpeg_5_1_short_of_threads_does_not_blame_the_file(kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg 5.1 under ``ulimit -v`` often says only that its encoder threads did not start (3 runs in 8 of the
    test above with Debian's 5.1): the error blamed the file with "Error initializing output stream 0:0 …"."""
    from mesocli import video

    words = ("[rawvideo @ 0x5603ab190600] [error] ff_frame_thread_encoder_init failed\n[error] Error initializing "
             "output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters "
             "such as bit_rate, rate, width or height\n")
    failing = [sys.executable, "-c", f"import sys\nsys.stderr.write({words!r})\nsys.exit(1)"]
    start = video.start_ffmpeg
    monkeypatch.setattr(video, "start_ffmpeg", lambda arguments, **options: start(failing, **options))
    with pytest.raises(InputError) as caught:
        list(FrameReader(kit.face_video, FrameSelection("frames", 4)))
    assert str(caught.value) == (f"{kit.face_video}: could not decode: ffmpeg ran out of memory or threads "
                                 "(ff_frame_thread_encoder_init failed); the file may be fine: raise the memory limit "
                                 "(ulimit -v) or free memory")


def test_an_ffmpeg_that_hangs_short_of_threads_is_stopped(kit: MediaKit, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under ``ulimit -v``, ffmpeg sometimes logs ``pthread_create() failed`` and then waits for good (a quarter
    of the runs of the test above): the scan hung with it. A reader that gets no frame within a grace after such
    a line stops ffmpeg and names the shortage."""
    from mesocli import video

    hanging = [sys.executable, "-c", "import sys, time\nsys.stderr.write('[error] pthread_create() failed: "
               "Resource temporarily unavailable\\n'); sys.stderr.flush(); time.sleep(600)"]
    start = video.start_ffmpeg
    monkeypatch.setattr(video, "start_ffmpeg", lambda arguments, **options: start(hanging, **options))
    monkeypatch.setattr(video, "STARVED_GRACE", 0.5, raising=False)
    outcome = _read_in_a_thread(kit.face_video, FrameSelection("frames", 4))
    assert isinstance(outcome[0], InputError)
    assert "ffmpeg ran out of memory or threads (pthread_create() failed: Resource temporarily unavailable)" in str(
        outcome[0])


def test_evenly_spaced_frames_of_a_variable_frame_rate_matroska_file(tmp_path, kit: MediaKit) -> None:
    """Matroska and WebM record no frame count or average rate: the header's fps is the stream's base rate, and
    on variable-frame-rate video (screen recordings) duration × fps overstated the frames (93 for 20 here), so
    ``--frames 10`` gave 2 frames. Their frames are counted (a demuxing pass), as for a raw stream."""
    import subprocess

    from media import ffmpeg

    path = tmp_path / "vfr.mkv"  # 8 frames 1/12 s apart, then 12 frames 1/3 s apart: 20 frames in 7.7 s
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(kit.face_video), "-vf",
                    "setpts='if(lt(N,12),N*0.5,N*4)/12/TB'", "-fps_mode", "vfr", "-c:v", "libx264", "-preset",
                    "veryfast", str(path)], check=True)
    counted = len(list(iter_frames(path, FrameSelection("all"))))
    frames = list(iter_frames(path, FrameSelection("frames", 10)))
    assert [f.index for f in frames] == [(2 * i + 1) * counted // 20 for i in range(10)]


# ------------------------------------------------------------------------------------------ animated images

ANIMATED = [("gif", "GIF"), ("png", "PNG"), ("webp", "WEBP")]  # GIF, APNG, animated WebP


@pytest.mark.parametrize(("suffix", "fmt"), ANIMATED)
def test_frames_of_10_ms_or_less_are_timed_as_browsers_play_them(tmp_path: Path, suffix: str, fmt: str) -> None:
    """Browsers show a frame whose delay is 10 ms or less for 100 ms (tools write 0 or 1 centisecond for "the
    default speed"). ffmpeg kept a GIF's 10 ms and an APNG's or WebP's (and made an APNG's 0 ms 67 ms): such an
    image's times, length and ``--fps`` sampling were up to 10× short of what a viewer sees."""
    from media import make_face_animation

    path = tmp_path / f"fast.{suffix}"
    make_face_animation(path, [0] * 6 + [10] * 6 + [50] * 6, size=(64, 48), format=fmt)
    shown = [0.1 * i for i in range(12)] + [1.2 + 0.05 * i for i in range(6)]  # 1.5 s in all
    info = probe_video(path)
    assert (info.duration, info.frame_count_estimate) == (pytest.approx(1.5), 18)
    every = list(iter_frames(path, FrameSelection("all"), info))
    assert [f.time for f in every] == pytest.approx(shown, abs=1e-6)
    by_time = list(iter_frames(path, FrameSelection("fps", 2.0), info))
    assert [(f.index, f.time) for f in by_time] == [(0, 0.0), (5, 0.5), (10, 1.0)]  # 1.5 s is past the last frame
    with FrameReader(path, FrameSelection("frames", 3), info) as reader:
        assert [(f.index, f.time) for f in reader] == [(3, pytest.approx(0.3)), (9, pytest.approx(0.9)),
                                                       (15, pytest.approx(1.35))]
        assert reader.duration == pytest.approx(1.5)


@pytest.mark.parametrize(("suffix", "fmt"), ANIMATED)
def test_an_animated_image_lasts_to_its_last_frames_end(tmp_path: Path, suffix: str, fmt: str) -> None:
    """An APNG or animated WebP records no duration: ffmpeg gave none, and its timeline ended at its last sampled
    frame. Its length is the sum of its frame delays, as a GIF's (whose frames ffmpeg times right here)."""
    from media import make_face_animation

    path = tmp_path / f"slow.{suffix}"
    times = make_face_animation(path, [100] * 4 + [250] * 4, size=(64, 48), format=fmt)
    info = probe_video(path)
    assert (info.duration, info.frame_count_estimate) == (pytest.approx(1.4), 8)
    assert info.retime is None  # no delay of 10 ms or less: ffmpeg's own times stand
    assert [f.time for f in iter_frames(path, FrameSelection("all"), info)] == pytest.approx(times, abs=1e-6)


def test_a_cut_short_gif_keeps_the_browser_times_of_the_frames_it_holds(tmp_path: Path) -> None:
    """The delays are read from the GIF's own blocks (a comment among them): a file cut short in its 10th frame
    keeps 100 ms a frame for the frames that decode, and says it is damaged."""
    from media import make_face_animation

    whole, cut = tmp_path / "whole.gif", tmp_path / "cut.gif"
    make_face_animation(whole, [10] * 20, size=(64, 48))
    with Image.open(whole) as image:  # the same frames, a comment extension before them
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
    frames[0].save(whole, save_all=True, append_images=frames[1:], duration=10, loop=0, comment=b"a reaction")
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert probe_video(whole).duration == pytest.approx(2.0)
    with FrameReader(cut, FrameSelection("all")) as reader:
        times = [frame.time for frame in reader]
        assert reader.warnings and 5 <= len(times) < 20
    assert times == pytest.approx([0.1 * i for i in range(len(times))], abs=1e-6)


def test_an_animated_image_whose_delays_change_often_is_decoded_with_browser_times(tmp_path: Path) -> None:
    """A GIF whose delays change at each frame (a screen recording's) with some of 10 ms: the ``setpts``
    expression was a sum of one term a run of equal delays, and ffmpeg's expression parser refuses a sum of 100
    terms or so ("Cannot allocate memory"): such a file could not be decoded at all. Its runs are now looked up
    in a tree of ``if``, a few levels deep."""
    path = tmp_path / "irregular.gif"
    delays = [10, 20] * 60  # 120 runs of one frame
    frames = [Image.new("RGB", (16, 16), (2 * i, 255 - 2 * i, i)) for i in range(len(delays))]  # none alike
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=delays, loop=0)
    info = probe_video(path)
    assert info.retime is not None and info.duration == pytest.approx(60 * 0.12)
    times = [frame.time for frame in iter_frames(path, FrameSelection("all"), info)]
    assert times == pytest.approx([0.12 * (i // 2) + 0.1 * (i % 2) for i in range(len(delays))], abs=1e-6)


def test_an_animated_webp_with_a_chunk_ffmpeg_skips_is_timed_from_its_delays(tmp_path: Path) -> None:
    """A WebP may hold chunks a reader does not know (it skips them): ffmpeg says so ("Skipping chunk") before its
    ``Input #0`` line, and the container was looked for at the start of the log only: such an image got no
    duration (its timeline ended at its last sampled frame) and none of the browsers' timing."""
    import struct

    path = tmp_path / "odd.webp"
    frames = [Image.new("RGB", (16, 16), (40 * i, 0, 0)) for i in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[100, 100, 200, 200], loop=0)
    data = bytearray(path.read_bytes())
    at = data.find(b"ANMF")
    data[at:at] = b"ZZZZ" + struct.pack("<I", 3) + b"abc\x00"  # an odd length, padded to an even one
    data[4:8] = struct.pack("<I", len(data) - 8)
    path.write_bytes(data)
    info = probe_video(path)
    assert (info.duration, info.frame_count_estimate) == (pytest.approx(0.6), 4)


def test_an_mp4_cut_short_says_so_in_plain_words(kit: MediaKit, tmp_path: Path) -> None:
    """A moderator scanning an upload still being copied read only ffmpeg's "moov atom not found": the error now
    says what that means. Random bytes named .mp4 (the same ffmpeg message) get no such guess."""
    with pytest.raises(InputError) as cut:
        probe_video(kit.truncated)
    assert str(cut.value) == (f"{kit.truncated}: not a readable video (moov atom not found; Invalid data found when "
                              "processing input): its index is missing, as in an MP4 or MOV cut short (an upload "
                              "or copy not finished?)")
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputError) as other:
        probe_video(noise)
    assert "moov atom not found" in str(other.value) and "cut short" not in str(other.value)


def test_cover_pictures_are_no_video_stream(kit: MediaKit, tmp_path: Path) -> None:
    """Cover art (an attached picture) is a video stream to ffmpeg but no picture a player plays: an MP4 of audio
    with a cover read "no video stream (audio, video only)", and a video with a cover must not be noted as
    holding a second video stream."""
    from mesocli.probe import streams_note

    song, clip = tmp_path / "song.mp4", tmp_path / "clip.mp4"
    for path, first in ((song, kit.audio_only), (clip, kit.face_video)):
        subprocess.run([ffmpeg(), "-v", "error", "-i", str(first), "-i", str(kit.face_jpeg), "-map", "0", "-map",
                        "1", "-c", "copy", "-disposition:v:" + ("0" if path == song else "1"), "attached_pic",
                        str(path)], check=True, capture_output=True)
    with pytest.raises(InputError) as caught:
        probe_video(song)
    assert str(caught.value) == f"{song}: no video stream (audio and a cover picture only)"
    info = probe_video(clip)
    assert (info.video_streams, streams_note(info)) == (1, [])


def test_a_cover_ffmpeg_writes_into_an_mkv_is_no_second_video_stream(kit: MediaKit, tmp_path: Path) -> None:
    """ffmpeg writes a cover (``-disposition attached_pic``) into an MKV as a one-frame MJPEG track, not marked as
    a cover when read back: a music video so made was noted "2 video streams: … a player may show another"."""
    from mesocli.probe import streams_note

    clip = tmp_path / "clip.mkv"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(kit.face_video), "-i", str(kit.face_jpeg), "-map", "0",
                    "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", str(clip)], check=True,
                   capture_output=True)
    info = probe_video(clip)
    assert (info.stream, info.video_streams, streams_note(info)) == (0, 1, [])


def test_a_clip_rewrapped_as_mpeg_ts_gives_the_frames_of_its_mp4(tmp_path) -> None:
    """MPEG-TS records no frame count: its length is guessed from timestamps (2 frames too long for this stream-copied
    FF++ cut), which sampled other frames than the MP4 of the same stream and 29 of the 30 asked; the packets are
    counted instead, so that an examiner gets the same frame numbers from either file."""
    from conftest import require_shared

    source = require_shared("data", "ffpp-c23", "test", "Deepfakes", "055_147.mp4")
    rewrapped = tmp_path / "055_147.ts"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-i", str(source), "-c", "copy", str(rewrapped)], check=True)
    for wanted in (10, 30):
        with FrameReader(source, FrameSelection("frames", wanted)) as reader:
            original = [(f.index, f.time) for f in reader]
        with FrameReader(rewrapped, FrameSelection("frames", wanted)) as reader:
            frames = [(f.index, f.time) for f in reader]
        assert len(original) == wanted and [n for n, _ in frames] == [n for n, _ in original]
        assert [t for _, t in frames] == pytest.approx([t for _, t in original], abs=1e-4)
        assert reader.duration == pytest.approx(77 / 30)


def test_an_mpeg_ps_file_whose_timestamps_guess_it_short_is_sampled_over_all_its_frames(tmp_path: Path) -> None:
    """An MPEG-2 stream with B-frames written straight into MPEG-PS (as a DVD camcorder does): ffmpeg guesses its
    length from its timestamps or bit rate one frame short (24 of 25). Its packets are counted and, the video being
    progressive (one packet a frame), the count decides: evenly spaced frames over all 25, as over any file of them."""
    clip = tmp_path / "camcorder.mpg"
    subprocess.run([ffmpeg(), "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1",
                    "-c:v", "mpeg2video", "-bf", "2", str(clip)], check=True, capture_output=True)
    assert len(list(iter_frames(clip, FrameSelection("all")))) == 25
    with FrameReader(clip, FrameSelection("frames", 5)) as reader:
        assert [f.index for f in reader] == [2, 7, 12, 17, 22]  # (i + 0.5) × 25 / 5
        assert reader.duration == pytest.approx(1.0)
