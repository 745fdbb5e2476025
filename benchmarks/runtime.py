"""The issue's speed targets, each beside today's TensorFlow path, measured in one run.

    .venv/bin/python benchmarks/runtime.py [--shared DIR] [--repeat 3] [--skip-videos]

1. cold start: ``mesocli scan one_face.jpg --detector none`` whole process, ONNX Runtime (default)
   and ``--runtime tensorflow``, against ``python -c "import tensorflow"`` (target: ONNX <= 0.25x of
   the import); ``mesocli --help`` (target < 0.3 s). Medians of ``--repeat`` processes.
2. faces/s at batch 32, both networks: ONNX Runtime (all cores, and one thread) vs the TensorFlow
   Predictor (tf.function + XLA). Targets: Meso4 >= 400, MesoInception4 >= 150.
3. ``mesocli scan SHARED/videos --frames 30``, whole process: ONNX Runtime with the default workers
   (all cores) and with one, and the TensorFlow path in one process; the authors' pipeline
   figure is the one quoted in the issue (194.7 s on the same clips, not re-run here: their
   ``pipeline.py`` needs Keras 2 and ``face_recognition``). Target >= 20x.
4. ``--all-frames`` on the 720p clip, whole process, both runtimes (target >= 40 fps), and where the
   time goes in-process, stage by stage, on one thread: decode / detect / landmarks / align / classify.
5. peak memory (max RSS) of a one-image scan process, both runtimes.

Numbers depend on what else the machine runs (the load average is printed first): read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
HD = "videos/fake/ffpp_c23_NeuralTextures_004_982.mp4"
AUTHORS_PIPELINE_S = 194.7  # the issue's measurement of the authors' pipeline.py on SHARED/videos, 30 frames


def run(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    return time.perf_counter() - start


def median_run(repeat: int, *args: str) -> tuple[float, list[float]]:
    runs = [run(*args) for _ in range(repeat)]
    return statistics.median(runs), runs


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<52} {value:>12}  {note}", flush=True)


def max_rss_mib(*cli: str) -> float:
    code = (
        "import atexit, resource, sys\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "atexit.register(lambda: sys.stderr.write('MAXRSS %d\\n' % peak()))\n"
        f"sys.argv = ['mesocli', *{list(cli)!r}]\n"
        "from mesocli.cli import main\nmain()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    line = [x for x in done.stderr.splitlines() if x.startswith("MAXRSS")][-1]
    return int(line.split()[1]) / 1024


def cold_start(repeat: int) -> None:
    print("\n1. cold start (whole process, median)")
    sys.path.insert(0, str(REPO / "tests"))
    from media import save_face_image

    with tempfile.TemporaryDirectory() as folder:
        face = str(Path(folder) / "one_face.jpg")
        save_face_image(Path(face), size=(256, 256))
        scan = ["-m", "mesocli", "scan", "--detector", "none", face]
        run(*scan)  # warm the file cache once
        onnx, onnx_runs = median_run(repeat, *scan)
        tf_scan, _ = median_run(repeat, *scan, "--runtime", "tensorflow")
        tf_import, _ = median_run(repeat, "-c", "import tensorflow")
        helped, _ = median_run(repeat, "-m", "mesocli", "--help")
        runs = ", ".join(f"{r:.2f}" for r in onnx_runs)
        row("scan one_face.jpg --detector none, onnx", f"{onnx:.2f} s", f"runs {runs}")
        row("scan one_face.jpg --detector none, --runtime tensorflow", f"{tf_scan:.2f} s")
        row("python -c 'import tensorflow'", f"{tf_import:.2f} s")
        row("ratio onnx scan / import tensorflow", f"{onnx / tf_import:.2f}x", "target <= 0.25x")
        row("ratio tensorflow scan / import tensorflow", f"{tf_scan / tf_import:.2f}x", "(today's path)")
        row("mesocli --help", f"{helped:.2f} s", "target < 0.3 s")
        print("\n5. peak memory of a one-image scan (max RSS)")
        onnx_mem = max_rss_mib(*scan[2:])
        tf_mem = max_rss_mib(*scan[2:], "--runtime", "tensorflow")
        row("onnx", f"{onnx_mem:.0f} MiB")
        row("tensorflow", f"{tf_mem:.0f} MiB", f"onnx uses {onnx_mem / tf_mem:.0%} of it")


def _rate(fn, faces: np.ndarray, batch: int) -> float:
    fn(faces[:batch])
    start = time.perf_counter()
    for i in range(0, len(faces), batch):
        fn(faces[i : i + batch])
    return len(faces) / (time.perf_counter() - start)


def throughput(n: int) -> None:
    from mesocli.predictor import Predictor
    from mesocli.runtime import resolve
    from mesocli.weights import load_weights

    print(f"\n2. faces/s at batch 32 ({n} random faces)")
    faces = np.random.default_rng(0).integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    targets = {"meso4": 400, "mesoinception4": 150}
    for arch, target in targets.items():
        onnx = resolve(arch, "df", None)
        ort_all = _rate(onnx.predictor(32).p_fake, faces, 32)
        ort_one = _rate(onnx.predictor(32, threads=1).p_fake, faces, 32)
        keras = Predictor(load_weights(onnx.weights_path).model, batch_size=32, jit_compile=True)
        tf_rate = _rate(keras.p_fake, faces, 32)
        row(f"{arch}: onnx (all cores) / 1 thread", f"{ort_all:.0f} / {ort_one:.0f}", f"target >= {target}")
        row(f"{arch}: tensorflow Predictor (XLA)", f"{tf_rate:.0f}", f"onnx {ort_all / tf_rate:.1f}x faster")


def videos(shared: Path) -> None:
    folder = shared / "videos"
    print(f"\n3. scan {folder} --frames 30 (whole process)")
    scan = ["-m", "mesocli", "scan", "--quiet", "--frames", "30", str(folder)]
    cases = [
        (f"onnx, --workers {os.cpu_count()} (default: all cores)", []),
        ("onnx, --workers 1", ["--workers", "1"]),
        ("tensorflow, --workers 1 (today's path)", ["--runtime", "tensorflow", "--workers", "1"]),
    ]
    for label, extra in cases:
        took = run(*scan, *extra)
        row(label, f"{took:.1f} s", f"{AUTHORS_PIPELINE_S / took:.1f}x the authors' pipeline (target >= 20x)")
    row("authors' pipeline (quoted in the issue, not re-run)", f"{AUTHORS_PIPELINE_S:.1f} s")


def all_frames(shared: Path) -> None:
    from mesocli.probe import probe_video

    hd = shared / HD
    frames = probe_video(hd).frame_count_estimate or 0
    print(f"\n4. scan --all-frames, 1280x720 clip ({frames} frames, whole process)")
    for runtime in ("onnx", "tensorflow"):  # one input: one process either way
        took = run("-m", "mesocli", "scan", "--quiet", "--all-frames", "--runtime", runtime, str(hd))
        row(runtime, f"{frames / took:.1f} fps", f"{took:.1f} s; target >= 40 fps")
    stages(hd)


def stages(hd: Path) -> None:
    """Decode, detect, landmarks, align and classify timed separately on one thread, in-process."""
    import mesocli.faces as faces_module
    from mesocli.faces import FaceFinder
    from mesocli.runtime import resolve
    from mesocli.scan import ScanOptions
    from mesocli.video import FrameReader

    spent = dict.fromkeys(("decode", "detect", "landmarks", "align", "classify"), 0.0)

    def timed(stage: str, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - start
        return wrapper

    finder = FaceFinder("hog")
    finder.tracker.locate = timed("detect", finder.tracker.locate)  # the searches it asks for: detection
    finder._landmarks = timed("landmarks", finder._landmarks)
    faces_module.aligned_crop = timed("align", faces_module.aligned_crop)
    faces_module.face_geometry = timed("align", faces_module.face_geometry)
    predictor = resolve("meso4", "df", None).predictor(32, threads=1)
    crops, frames = [], 0
    with FrameReader(hd, ScanOptions(all_frames=True).selection()) as reader:
        iterator = iter(reader)
        while True:
            start = time.perf_counter()
            frame = next(iterator, None)
            spent["decode"] += time.perf_counter() - start
            if frame is None:
                break
            frames += 1
            records = finder.find(frame, str(hd))
            if records:
                crops.append(max(records, key=lambda r: float(r.size)).crop)
    start = time.perf_counter()
    predictor.p_fake(np.stack(crops)) if crops else None
    spent["classify"] = time.perf_counter() - start
    total = sum(spent.values())
    print(f"   where the time goes, one thread, {frames} frames, {len(crops)} faces (Meso4):")
    for stage, seconds in spent.items():
        row(f"  {stage}", f"{seconds:.2f} s", f"{seconds / total:.0%}, {1000 * seconds / max(frames, 1):.1f} ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--faces", type=int, default=256)
    parser.add_argument("--skip-videos", action="store_true", help="Skip 3 and 4 (the shared clips).")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    cold_start(args.repeat)
    throughput(args.faces)
    if not args.skip_videos:
        videos(args.shared)
        all_frames(args.shared)


if __name__ == "__main__":
    main()
