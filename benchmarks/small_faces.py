"""Which small faces in large frames are found, and at what cost per frame.

    .venv/bin/python benchmarks/small_faces.py [--shared ../shared] [--work build/small_faces]
                                               [--clip data/ffpp-c23/test/original/055.mp4]
                                               [--heights 30,40,50,64,80,100] [--frames 10] [--scan]

Shrinks the first 2 s of an FF++ clip so that its face's HOG box is each height (px), pads it with grey
into a 1920×1080 and a 3840×2160 frame (the face left of centre), and saves its middle frame so placed as a
JPEG photo, into ``--work`` (made once). Then finds the faces of each (``scan`` and ``extract`` share this
pipeline): ``--frames N`` sampled frames, one face and ``--all-faces``, and the photo; and prints the frames
with a face, the median box height found, and the CPU time per frame; and the CPU time per frame of 10 s
without a face (ffmpeg's test pattern) sampled once a second, where each frame gets every whole-frame search.
Run it with a checkout before and after a change to compare (``PYTHONPATH`` picks the source). About 4 min on
2 busy cores. ``--scan``: instead, ``mesocli scan --frames N --format json`` of all the videos and photos (one
process, the bundled ``df`` model): each one's status, p_fake and whether it warns of small faces.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

CANVASES = ((1920, 1080), (3840, 2160))


def face_height(clip: Path) -> float:
    """The median HOG box height of the clip's face at its own size."""
    from mesocli.faces import faces_in_video
    from mesocli.video import FrameSelection

    heights = [face.box[3] - face.box[1] for frame in faces_in_video(clip, FrameSelection("frames", 10))
               for face in frame.faces]
    return statistics.median(heights)


def make_inputs(clip: Path, work: Path, heights: list[int]) -> list[tuple[str, int, Path, Path]]:
    """(canvas name, face height, video, photo) for each canvas and height, made once."""
    import imageio_ffmpeg
    from PIL import Image

    work.mkdir(parents=True, exist_ok=True)
    native = face_height(clip)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    made = []
    for width, height in CANVASES:
        for wanted in heights:
            scale = wanted / native
            video, photo = work / f"{height}p_{wanted}px.mp4", work / f"{height}p_{wanted}px.jpg"
            if not video.exists():
                scaled = f"scale=trunc(iw*{scale:.5f}/2)*2:trunc(ih*{scale:.5f}/2)*2"
                pad = f"pad={width}:{height}:{width // 3}:{height // 3}:color=gray"
                subprocess.run([ffmpeg, "-v", "error", "-y", "-i", str(clip), "-t", "2", "-an", "-vf",
                                f"{scaled},{pad}", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
                                "-pix_fmt", "yuv420p", str(video)], check=True)
            if not photo.exists():
                subprocess.run([ffmpeg, "-v", "error", "-y", "-ss", "1", "-i", str(video), "-frames:v", "1",
                                "-q:v", "2", str(photo)], check=True)
                Image.open(photo).verify()
            made.append((f"{width}×{height}", wanted, video, photo))
    return made


def make_faceless(work: Path) -> list[tuple[str, Path]]:
    """10 s of ffmpeg's test pattern (no face) at each canvas size, made once."""
    import imageio_ffmpeg

    made = []
    for width, height in CANVASES:
        path = work / f"{height}p_noface.mp4"
        if not path.exists():
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                            f"testsrc2=size={width}x{height}:rate=25:duration=10", "-c:v", "libx264", "-preset",
                            "veryfast", "-pix_fmt", "yuv420p", str(path)], check=True)
        made.append((f"{width}×{height}", path))
    return made


def faceless_cost(video: Path) -> str:
    """CPU time per frame of a video without a face, one frame a second (each one's whole-frame searches)."""
    from mesocli.faces import faces_in_video
    from mesocli.video import FrameSelection

    start = time.process_time()
    found = list(faces_in_video(video, FrameSelection("fps", 1)))
    spent = (time.process_time() - start) / len(found)
    return f"{sum(bool(frame.faces) for frame in found)}/{len(found)} frames with a face, {spent * 1000:.0f} ms a frame"


def measure(video: Path, photo: Path, frames: int) -> list[str]:
    """Cells: for one face and --all-faces, frames with a face / sampled, median box height, ms per frame;
    then the photo's faces and ms."""
    from mesocli.faces import faces_in_image, faces_in_video
    from mesocli.video import FrameSelection

    cells = []
    for all_faces in (False, True):
        start = time.process_time()
        found = list(faces_in_video(video, FrameSelection("frames", frames), all_faces=all_faces))
        spent = (time.process_time() - start) / max(1, len(found))
        boxes = [face.box[3] - face.box[1] for frame in found for face in frame.faces]
        with_face = sum(bool(frame.faces) for frame in found)
        median = f"{statistics.median(boxes):.0f}" if boxes else "-"
        cells.append(f"{with_face}/{len(found)}, {median} px, {spent * 1000:.0f} ms")
    start = time.process_time()
    faces = faces_in_image(photo)
    spent = time.process_time() - start
    cells.append(f"{len(faces)} face(s){f' {faces[0].box[3] - faces[0].box[1]} px' if faces else ''}, "
                 f"{spent * 1000:.0f} ms")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--work", type=Path, default=Path("build/small_faces"))
    parser.add_argument("--clip", default="data/ffpp-c23/test/original/055.mp4")
    parser.add_argument("--heights", default="30,40,50,64,80,100")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--scan", action="store_true")
    args = parser.parse_args()
    inputs = make_inputs(args.shared / args.clip, args.work, [int(h) for h in args.heights.split(",")])
    if args.scan:
        scanned = scan([path for _, _, video, photo in inputs for path in (video, photo)], args.frames)
        print("| frame | face | video: status, p_fake | photo |")
        print("|---|---|---|---|")
        for canvas, wanted, video, photo in inputs:
            print(f"| {canvas} | {wanted} px | {scanned[str(video)]} | {scanned[str(photo)]} |")
        return
    print("| frame | face | one face: frames, box, CPU/frame | --all-faces | photo |")
    print("|---|---|---|---|---|")
    for canvas, wanted, video, photo in inputs:
        print(f"| {canvas} | {wanted} px | " + " | ".join(measure(video, photo, args.frames)) + " |", flush=True)
    for canvas, video in make_faceless(args.work):
        print(f"| {canvas} | no face, `--fps 1` | {faceless_cost(video)} | | |", flush=True)


def scan(paths: list[Path], frames: int) -> dict[str, str]:
    """``mesocli scan`` of ``paths`` in one process: a cell per path (status, p_fake, small-faces warning)."""
    done = subprocess.run([sys.executable, "-m", "mesocli", "scan", *map(str, paths), "--frames", str(frames),
                           "--format", "json", "-q"], capture_output=True, text=True)
    cells = {}
    for row in json.loads(done.stdout):
        small = " (small faces warned)" if any(w.startswith("small faces") for w in row["warnings"]) else ""
        p_fake = f", {row['p_fake']:.3f}" if row["p_fake"] is not None else ""
        cells[row["path"]] = f"{row['status']}{p_fake}{small}"
    return cells


if __name__ == "__main__":
    main()
