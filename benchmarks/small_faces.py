"""Which small faces in large frames are found, and at what cost per frame.

    .venv/bin/python benchmarks/small_faces.py [--shared ../shared] [--work build/small_faces]
                                               [--clip data/ffpp-c23/test/original/055.mp4]
                                               [--heights 30,40,50,64,80,100] [--frames 10]

Shrinks the first 2 s of an FF++ clip so that its face's HOG box is each height (px), pads it with grey
into a 1920×1080 and a 3840×2160 frame (the face left of centre), and saves its middle frame so placed as a
JPEG photo, into ``--work`` (made once). Then finds the faces of each (``scan`` and ``extract`` share this
pipeline): ``--frames N`` sampled frames, one face and ``--all-faces``, and the photo; and prints the frames
with a face, the median box height found, and the CPU time per frame. Run it with a checkout before and
after a change to compare (``PYTHONPATH`` picks the source). About 3 min on 2 busy cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
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
    args = parser.parse_args()
    inputs = make_inputs(args.shared / args.clip, args.work, [int(h) for h in args.heights.split(",")])
    print("| frame | face | one face: frames, box, CPU/frame | --all-faces | photo |")
    print("|---|---|---|---|---|")
    for canvas, wanted, video, photo in inputs:
        print(f"| {canvas} | {wanted} px | " + " | ".join(measure(video, photo, args.frames)) + " |", flush=True)


if __name__ == "__main__":
    main()
