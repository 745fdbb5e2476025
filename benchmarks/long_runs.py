"""Long, many-input scans: memory over time and images per second (a folder of thousands of face images,
hundreds of short videos).

    .venv/bin/python benchmarks/long_runs.py [--media DIR] [--images 2000] [--videos 300] [--repeats 3]
        [--hog-images 200] [--compare OTHER_SRC] [--skip-videos] [--skip-report]

Makes the media once in ``--media`` (default: a temporary folder, removed at the end; a folder given is
kept): ``--images`` JPEG face crops of 96-400 px (the astronaut of tests/media.py, brightness and JPEG
quality varied, so that no two files are the same bytes) and ``--videos`` short face videos (1-2 s,
256×192 to 360×240, the face turning differently in each). Then, each a whole ``mesocli scan ...
--output out.jsonl --quiet`` process:

1. memory: the resident memory of the process and its children (workers, ffmpeg), sampled every 0.5 s,
   at 10 / 50 / 95 % of the run, its peak and its last sample, with the open file descriptors and
   threads of the main process: on the videos (``--workers 1``, ``--workers 2``), on the images
   (``--workers 1``, ``--model any``, ``--report``). A plateau is the expected shape;
2. throughput: images/s on the images (``--detector none``: pre-cropped faces, ``--workers 1`` and
   ``2``; the default HOG detector on the first ``--hog-images``), ``--repeats`` runs each, the
   configurations alternated; the median is printed with every run. With ``--compare SRC``, each run
   is alternated with the same command run on another checkout's ``src`` (e.g. the main branch's), and
   the ratio of the medians is printed.

The machine's load average is printed first: on a shared machine the figures vary by tens of percent.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def make_media(root: Path, images: int, videos: int) -> tuple[Path, Path]:
    """The images and videos folders under ``root`` (made if they do not hold enough files)."""
    import numpy as np
    from media import face_crop, make_face_video
    from PIL import Image

    rng = random.Random(0)
    image_dir, video_dir = root / "images", root / "videos"
    image_dir.mkdir(parents=True, exist_ok=True)
    video_dir.mkdir(parents=True, exist_ok=True)
    for number in range(len(list(image_dir.glob("*.jpg"))), images):
        size = rng.choice([96, 128, 160, 200, 256, 320, 400])
        pixels = np.asarray(face_crop(size)).astype(np.int16) + rng.randint(-20, 20)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(image_dir / f"face_{number:05d}.jpg",
                                                                      quality=rng.choice([80, 90, 95]))
    for number in range(len(list(video_dir.glob("*.mp4"))), videos):
        frames = rng.choice([12, 18, 24])
        angles = list(np.linspace(rng.uniform(-15, 0), rng.uniform(0, 15), frames))
        make_face_video(video_dir / f"clip_{number:04d}.mp4", frames=frames, angles=angles, fps=12,
                        size=rng.choice([(320, 240), (256, 192), (360, 240)]))
    return image_dir, video_dir


def _tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as listing:
                    stack += [int(child) for child in listing.read().split()]
        except OSError:
            pass
    return pids


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _counts(pid: int) -> tuple[int, int]:
    try:
        return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0, 0


def run_scan(args: list[str], src: Path, workdir: Path, sample: bool = False) -> tuple[float, list[tuple]]:
    """One ``mesocli scan`` process (``args``, output out.jsonl in ``workdir``, with ``src`` on the path);
    (wall seconds, samples of (t, main MB, tree MB, fds, threads)) when ``sample``."""
    for name in ("out.jsonl", "report.html"):
        (workdir / name).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    command = [sys.executable, "-m", "mesocli", "scan", *args, "--output", str(workdir / "out.jsonl"), "--quiet"]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while sample and process.poll() is None:
        pids = _tree(process.pid)
        samples.append((time.perf_counter() - start, _rss_mb(process.pid), sum(map(_rss_mb, pids)),
                        *_counts(process.pid)))
        time.sleep(0.5)
    _, err = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode not in (0, 3):
        raise SystemExit(f"mesocli scan {' '.join(args)} failed ({process.returncode}): {err.strip()[-400:]}")
    return wall, samples


def memory(label: str, args: list[str], src: Path, workdir: Path) -> None:
    wall, samples = run_scan(args, src, workdir, sample=True)
    print(f"\n  {label}: {wall:.1f} s, {len(samples)} samples (MB: this process / with its children)")
    for fraction in (0.1, 0.5, 0.95):
        t, main, tree, fds, threads = samples[min(len(samples) - 1, int(len(samples) * fraction))]
        print(f"    at {t:6.1f} s ({fraction:4.0%})  {main:7.1f} / {tree:7.1f}   fds {fds}, threads {threads}")
    print(f"    peak          {max(s[1] for s in samples):7.1f} / {max(s[2] for s in samples):7.1f}")
    print(f"    last sample   {samples[-1][1]:7.1f} / {samples[-1][2]:7.1f}")


def throughput(configs: list[tuple[str, list[str], int]], src: Path, compare: Path | None, repeats: int,
               workdir: Path) -> None:
    walls: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for label, args, _count in configs:
            for name, where in [("this", src), *([("compare", compare)] if compare else [])]:
                walls.setdefault((label, name), []).append(run_scan(args, where, workdir)[0])
    for label, _args, count in configs:
        for name in ("this", "compare") if compare else ("this",):
            runs = walls[(label, name)]
            median = statistics.median(runs)
            shown = ", ".join(f"{w:.1f}" for w in runs)
            print(f"  {label:<44} {name:<8} {count / median:7.1f} images/s  (median {median:.1f} s; runs {shown})")
        if compare:
            ratio = statistics.median(walls[(label, "compare")]) / statistics.median(walls[(label, "this")])
            print(f"  {'':<44} speed-up over --compare: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--media", type=Path, default=None, help="Folder for the media (kept); default: temporary.")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--videos", type=int, default=300)
    parser.add_argument("--hog-images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", type=Path, default=None, help="Another checkout's src folder to alternate with.")
    parser.add_argument("--skip-videos", action="store_true")
    parser.add_argument("--skip-report", action="store_true", help="Skip --report (Grad-CAM per input: slow).")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    media = args.media or Path(tempfile.mkdtemp(prefix="mesocli-long-runs-"))
    src = REPO / "src"
    try:
        start = time.perf_counter()
        images, videos = make_media(media, args.images, 0 if args.skip_videos else args.videos)
        print(f"media in {media} ({time.perf_counter() - start:.0f} s to make)")
        work = media / "work"
        work.mkdir(exist_ok=True)
        hog = work / "hog_images"
        if not hog.is_dir():
            hog.mkdir()
            for path in sorted(images.glob("*.jpg"))[: args.hog_images]:
                os.link(path, hog / path.name)
        if not args.skip_memory:
            print("\n1. memory over a long run")
            if not args.skip_videos:
                memory(f"{args.videos} videos, --workers 1", [str(videos), "--workers", "1"], src, work)
                memory(f"{args.videos} videos, --workers 2", [str(videos), "--workers", "2"], src, work)
            memory(f"{args.images} images, --workers 1", [str(images), "--workers", "1"], src, work)
            any_args = [str(images), "--detector", "none", "--model", "any", "--workers", "1"]
            memory(f"{args.images} images, --detector none --model any", any_args, src, work)
            if not args.skip_report:
                memory(f"{args.images} images, --detector none --report", [str(images), "--detector", "none",
                                                                            "--report", str(work / "report.html")],
                       src, work)
        print("\n2. images per second (whole processes, start-up included)")
        throughput([(f"{args.images} images --detector none --workers 1",
                     [str(images), "--detector", "none", "--workers", "1"], args.images),
                    (f"{args.images} images --detector none --workers 2",
                     [str(images), "--detector", "none", "--workers", "2"], args.images),
                    (f"{args.hog_images} images (HOG) --workers 1", [str(hog), "--workers", "1"], args.hog_images),
                    (f"{args.hog_images} images (HOG) --workers 2", [str(hog), "--workers", "2"], args.hog_images)],
                   src, args.compare, args.repeats, work)
    finally:
        if args.media is None:
            shutil.rmtree(media, ignore_errors=True)
        else:
            shutil.rmtree(media / "work", ignore_errors=True)


if __name__ == "__main__":
    main()
