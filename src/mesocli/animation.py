"""Frame timing of animated images (GIF, APNG, animated WebP) as browsers play them.

Each frame of an animated image carries a delay: how long it stays up. Browsers do not honour very short
ones: a frame of 10 ms or less is shown for 100 ms, whatever the format (Chromium:
``DeferredImageDecoder::FrameDurationAtIndex`` in ``third_party/blink/renderer/platform/graphics/
deferred_image_decoder.cc``; Firefox: ``FrameTimeout::FromRawMilliseconds`` in ``image/FrameTimeout.h``, which
its GIF and PNG (APNG) decoders use; WebKit's ``ImageSource::frameDurationAtIndex`` follows Firefox). Tools that
wrote 0 or 1 centisecond meant "the default speed", and a viewer sees the animation at that pace.

ffmpeg times them otherwise (a GIF delay of 1 cs is kept at 10 ms, an APNG delay of 0 becomes 1/15 s), and
records no duration for an APNG or an animated WebP. :func:`frame_delays` reads each frame's delay from the
file's own blocks (no pixel is decoded: a pass over the GIF's data blocks, a walk over the PNG or RIFF chunks),
:func:`displayed` applies the browsers' rule, and :func:`setpts_expression` gives ffmpeg those times.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

SHORTEST_MS = 10.0
"""A frame delay of this many milliseconds or less is played for :data:`SHOWN_MS` (the browsers' rule)."""
SHOWN_MS = 100.0
MAX_RUNS = 2000
"""The most runs of equal delays :func:`setpts_expression` writes (about 60 characters each: ffmpeg's argument
stays under the 128 KiB a command-line argument may hold, :data:`MAX_EXPRESSION` checked)."""
MAX_EXPRESSION = 100_000
"""The longest ``setpts`` expression written (characters)."""


def displayed(delay_ms: float) -> float:
    """How long a browser shows a frame whose recorded delay is ``delay_ms`` milliseconds."""
    return SHOWN_MS if delay_ms <= SHORTEST_MS else delay_ms


def frame_delays(path: str | Path, demuxer: str) -> list[float] | None:
    """Each frame's delay in milliseconds, as the file records it, for ffmpeg's demuxer ``gif``, ``apng`` or
    ``webp_anim``; None when the file cannot be read so (another format, no frame, an I/O error). The file is
    walked block by block (its pixel data skipped, never held): a file cut short gives the frames begun."""
    reader = {"gif": _gif_delays, "apng": _apng_delays, "webp_anim": _webp_delays}.get(demuxer)
    if reader is None:
        return None
    try:
        with open(path, "rb") as handle:
            delays = reader(handle)
    except (OSError, ValueError):
        return None
    return delays or None


def _gif_delays(handle: BinaryIO) -> list[float]:
    """GIF: a Graphic Control Extension (0x21 0xF9) gives the delay, in hundredths of a second, of the image
    (0x2C) that follows it; an image without one has none (0)."""
    head = handle.read(13)
    if head[:6] not in (b"GIF87a", b"GIF89a") or len(head) < 13:
        raise ValueError("not a GIF")
    handle.seek(_colour_table(head[10]), 1)
    delays: list[float] = []
    pending = 0
    while (block := handle.read(1)) and block != b"\x3b":  # up to the trailer
        if block == b"\x21":  # an extension: its label, then sub-blocks
            label, size = handle.read(1), handle.read(1)
            if label == b"\xf9" and size and size[0] >= 4:
                control = handle.read(size[0])
                pending = int.from_bytes(control[1:3], "little")
            elif size:
                handle.seek(size[0], 1)
            if not size or size == b"\x00":
                continue  # (an extension without sub-blocks ends at its empty one)
        elif block == b"\x2c":  # an image: its descriptor, local colour table, LZW code size, then sub-blocks
            descriptor = handle.read(9)
            if len(descriptor) < 9:
                break
            delays.append(pending * 10.0)
            pending = 0
            handle.seek(_colour_table(descriptor[8]) + 1, 1)
        else:  # not a block: the rest is garbage
            break
        while (size := handle.read(1)) and size != b"\x00":  # sub-blocks, each its length then its bytes
            handle.seek(size[0], 1)
    return delays


def _colour_table(flags: int) -> int:
    """The bytes of the colour table that a GIF's screen or image descriptor flags announce."""
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _apng_delays(handle: BinaryIO) -> list[float]:
    """APNG: one ``fcTL`` chunk per frame, its delay a fraction of a second (a denominator of 0 means 100)."""
    if handle.read(8) != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    delays: list[float] = []
    while len(header := handle.read(8)) == 8:
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        if kind == b"fcTL" and length >= 26:
            control = handle.read(26)
            if len(control) < 26:
                break
            numerator, denominator = struct.unpack(">HH", control[20:24])
            delays.append(1000.0 * numerator / (denominator or 100))
            length -= 26
        handle.seek(length + 4, 1)  # the rest, and the CRC
    return delays


def _webp_delays(handle: BinaryIO) -> list[float]:
    """Animated WebP: one ``ANMF`` chunk per frame, its duration in milliseconds (24 bits, at byte 12)."""
    head = handle.read(12)
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        raise ValueError("not a WebP")
    delays: list[float] = []
    while len(header := handle.read(8)) == 8:
        kind, length = struct.unpack("<4sI", header)
        if kind == b"ANMF" and length >= 16:
            frame = handle.read(16)
            if len(frame) < 16:
                break
            delays.append(float(int.from_bytes(frame[12:15], "little")))
            length -= 16
        handle.seek(length + (length & 1), 1)  # chunks are padded to an even length
    return delays


def setpts_expression(delays_ms: Sequence[float]) -> str | None:
    """An ffmpeg ``setpts`` expression that gives frame N the time a browser shows it at (the sum of the
    :func:`displayed` delays before it), in the stream's time base; None when the delays change too often to
    write (over :data:`MAX_RUNS` runs, or :data:`MAX_EXPRESSION` characters).

    Written as runs of equal delays, ``start_a+(N-a)*delay`` for frames a onwards, looked up in a balanced tree
    of ``if(lt(N,b),…,…)`` (the last run open-ended): ffmpeg's expression parser refuses a sum of a hundred terms
    or so ("Cannot allocate memory"), and a tree of 2000 runs is 11 levels deep."""
    runs: list[tuple[int, float, float]] = []  # (first frame, its start, the delay), in seconds
    now = 0.0  # in milliseconds (whole numbers, mostly: exact)
    for n, delay in enumerate(map(displayed, delays_ms)):
        if not runs or runs[-1][2] != delay / 1000.0:
            runs.append((n, now / 1000.0, delay / 1000.0))
        now += delay
    if not runs or len(runs) > MAX_RUNS:
        return None
    expression = f"round(({_lookup(runs)})/TB)"
    return expression if len(expression) <= MAX_EXPRESSION else None


def _lookup(runs: list[tuple[int, float, float]]) -> str:
    """The time of frame N in ``runs`` (sorted by first frame), a binary search written out."""
    if len(runs) == 1:
        first, start, delay = runs[0]
        return f"{start!r}+(N-{first})*{delay!r}"
    middle = len(runs) // 2
    return f"if(lt(N,{runs[middle][0]}),{_lookup(runs[:middle])},{_lookup(runs[middle:])})"
