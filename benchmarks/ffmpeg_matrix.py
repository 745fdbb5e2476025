"""mesocli with other ffmpeg builds than the bundled one: same frames, same scores, how fast?

    .venv/bin/python benchmarks/ffmpeg_matrix.py FFMPEG [FFMPEG ...] [--shared ../shared] [--speed]
                                                 [--tests tests/test_video.py ...]

Each FFMPEG (a path, or a name on PATH) is what a user would name with ``IMAGEIO_FFMPEG_EXE``; the
ffmpeg that imageio-ffmpeg bundles is the reference and comes first. For each one, on the clips of
``../shared/videos``:

- ``scan``: the real command (``python -m mesocli scan VIDEOS --format json``, a fresh process with
  ``IMAGEIO_FFMPEG_EXE`` set), and the largest difference of a video's p_fake from the reference's;
- ``frames``: the 30 frames ``scan`` samples, decoded by :class:`mesocli.video.FrameReader`: whether they
  are the reference's frame numbers, the largest difference of a frame time and of a pixel (0-255);
- ``--speed``: every frame of every clip decoded to RGB (frames/s, best of two runs; the load average
  is printed: on a shared machine the figures depend on what else runs);
- ``--tests``: pytest on the given files with ``IMAGEIO_FFMPEG_EXE`` set (the test videos are encoded
  with the bundled ffmpeg all the same: ``tests/media.py``), as passed/failed/skipped.

An ffmpeg older than 5.1 is refused by ``scan`` (exit 2, before any input): its row says so. Results:
docs/extract.md, "Other ffmpeg builds".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def version(exe: str) -> str:
    done = subprocess.run([exe, "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    found = re.search(r"ffmpeg version (\S+)", done.stdout)
    return found.group(1) if found else "?"


def using(exe: str | None) -> dict[str, str]:
    """The environment in which mesocli runs ``exe`` (None: the bundled one)."""
    env = {k: v for k, v in os.environ.items() if k != "IMAGEIO_FFMPEG_EXE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    if exe is not None:
        env["IMAGEIO_FFMPEG_EXE"] = exe
    return env


def scan(exe: str | None, videos: Path) -> tuple[dict[str, float | None], str]:
    """p_fake per video (None: not ``ok``) from the real command, or the command's error line."""
    try:
        done = subprocess.run([sys.executable, "-m", "mesocli", "scan", str(videos), "--format", "json", "--quiet"],
                              capture_output=True, text=True, env=using(exe), check=False, timeout=1800)
    except subprocess.TimeoutExpired:
        return {}, "still running after 30 min"
    if done.returncode not in (0, 1):
        return {}, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    rows = json.loads(done.stdout)
    return {row["path"]: (row["p_fake"] if row["status"] == "ok" else None) for row in rows}, ""


def decode(exe: str | None, video: Path, keep: bool = True) -> list | int:
    """The 30 frames :class:`FrameReader` gives with ``exe`` (``scan``'s default), or (not ``keep``) how many
    frames it decodes of the whole video, none of them kept."""
    from mesocli.video import FrameReader, FrameSelection

    os.environ.pop("IMAGEIO_FFMPEG_EXE", None)
    if exe is not None:
        os.environ["IMAGEIO_FFMPEG_EXE"] = exe
    try:
        with FrameReader(video, FrameSelection() if keep else FrameSelection("all")) as reader:
            return list(reader) if keep else sum(1 for _ in reader)
    finally:
        os.environ.pop("IMAGEIO_FFMPEG_EXE", None)


def compare(reference: list, frames: list) -> tuple[bool, float, int]:
    """Whether the frame numbers are the reference's, the largest difference of a frame's time (s), and of a
    pixel (0-255; 255 when the frames are not the same ones)."""
    if [f.index for f in reference] != [f.index for f in frames] or any(
            a.image.shape != b.image.shape for a, b in zip(reference, frames, strict=True)):
        return False, math.inf, 255
    pairs = list(zip(reference, frames, strict=True))
    times = max((abs(a.time - b.time) for a, b in pairs), default=0.0)
    pixels = max((int(np.abs(a.image.astype(np.int16) - b.image).max()) for a, b in pairs), default=0)
    return True, times, pixels


def speed(exe: str | None, clips: list[Path]) -> float:
    """Every frame of every clip, decoded to RGB: frames per second (best of two runs)."""
    best = 0.0
    for _ in range(2):
        started, count = time.perf_counter(), 0
        for clip in clips:
            count += decode(exe, clip, keep=False)
        best = max(best, count / (time.perf_counter() - started))
    return best


def tests(exe: str | None, files: list[str]) -> str:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                          capture_output=True, text=True, env=using(exe), cwd=REPO, check=False)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else f"exit {done.returncode}"
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}
    failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    return f"{counts.get('passed', 0)} passed, {failed} failed, {counts.get('skipped', 0)} skipped"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ffmpeg", nargs="+", help="ffmpeg binaries to compare with the bundled one")
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--speed", action="store_true", help="also time decoding every frame")
    parser.add_argument("--tests", nargs="*", default=[], help="test files to run with each ffmpeg")
    args = parser.parse_args()
    videos = args.shared / "videos"
    clips = sorted(videos.rglob("*.mp4"))
    if not clips:
        raise SystemExit(f"needs {videos} (third-party clips, not in the repository)")
    from mesocli.probe import _ffmpeg_problem, ffmpeg_exe

    os.environ.pop("IMAGEIO_FFMPEG_EXE", None)
    binaries: list[tuple[str, str | None]] = [(ffmpeg_exe(), None)]
    for name in args.ffmpeg:
        exe = shutil.which(name) or name
        binaries.append((str(Path(exe).resolve()), str(Path(exe).resolve())))
    print(f"{len(clips)} clips in {videos}; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    reference_scores, error = scan(None, videos)
    if error:
        raise SystemExit(f"scan with the bundled ffmpeg failed: {error}")
    reference_frames = {clip: decode(None, clip) for clip in clips}
    header = ["ffmpeg", "binary", "scan", "max |Δ p_fake|", "frame numbers", "max |Δ time| s", "max |Δ pixel|"]
    header += ["decode frames/s"] if args.speed else []
    header += ["tests"] if args.tests else []
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for path, exe in binaries:
        row = [version(path), path + ("" if exe else " (bundled)")]
        if problem := _ffmpeg_problem(path):
            row += [f"refused: {problem.split(':')[0]}", "", "", "", ""]
        else:
            scores, error = scan(exe, videos)
            deltas = [abs(scores[k] - v) for k, v in reference_scores.items()
                      if v is not None and scores.get(k) is not None]
            failed = sum(1 for k in reference_scores if scores.get(k) is None)
            row += [error or f"{len(scores) - failed} ok, {failed} not ok", f"{max(deltas, default=0.0):.6f}"]
            compared = []
            for clip in clips:
                try:
                    compared.append(compare(reference_frames[clip], decode(exe, clip)))
                except Exception as exc:  # noqa: BLE001 - a clip this ffmpeg cannot decode is a row's finding
                    print(f"  {clip.name}: {exc}", file=sys.stderr)
                    compared.append((False, math.inf, 255))
            same = sum(1 for same, _, _ in compared if same)
            row += [f"{same}/{len(clips)} same", f"{max(t for _, t, _ in compared):.6f}",
                    str(max(p for _, _, p in compared))]
        if args.speed:
            row.append("" if problem else f"{speed(exe, clips):.0f}")
        if args.tests:
            row.append(tests(exe, args.tests))
        print("| " + " | ".join(row) + " |", flush=True)
    print(f"load average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
