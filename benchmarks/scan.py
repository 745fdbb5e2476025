"""Speed of ``mesocli scan``: one video, every frame of a 720p clip, many videos per call, cold start.

    .venv/bin/python benchmarks/scan.py [--shared DIR] [--weights FILE] [--model df|any] [--runtime onnx|tensorflow]
        [--videos 20] [--skip-separate]

Figures (wall time, measured in one run, on whatever else the machine is doing: the load average is
printed first):

1. ``mesocli scan --frames 30`` on the 30 s 640×480 FF++ Deepfakes clip: a whole process (cold:
   Python, runtime import, weights) and the scan alone in a warm process;
2. ``--all-frames`` on the 12 s 1280×720 NeuralTextures clip (warm): frames/s, and the ratio to the
   clip's own frame rate (>= 1 is real time);
3. N short face videos (made with tests/media.py, 2 s 320×240) in one call vs N separate calls;
4. cold start: ``mesocli scan one_face.jpg --detector none`` (median of 3 processes), next to a bare
   import of the runtime (``onnxruntime`` or ``tensorflow``).

Weights: the bundled Meso4 detector named by ``--model`` (df by default) if present, else the
authors' Meso4_DF.h5 from the shared folder; ``--runtime`` as ``scan``'s (onnx by default).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEEPFAKES = "videos/fake/ffpp_c23_Deepfakes_519_515.mp4"
HD = "videos/fake/ffpp_c23_NeuralTextures_004_982.mp4"


def mesocli(*args: str, stdin: str | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run the CLI in a fresh process; return (wall seconds, the completed process)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mesocli", *args], capture_output=True, text=True, input=stdin)
    return time.perf_counter() - start, done


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def weights_args(shared: Path, weights: Path | None, model: str, runtime: str) -> list[str]:
    """The CLI options that pick the weights and runtime the benchmark measures."""
    chosen = ["--runtime", runtime]
    if weights is not None:
        return [*chosen, "--weights", str(weights)]
    if (REPO / "weights" / "meso4_df.json").exists():
        return [*chosen, "--model", model]
    return [*chosen, "--weights", str(shared / "reference" / "authors-weights" / "Meso4_DF.h5")]


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<48} {value:>12}  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared")))
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--model", choices=("df", "f2f", "fs", "any"), default="df")
    parser.add_argument("--runtime", choices=("onnx", "tensorflow"), default="onnx")
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--skip-separate", action="store_true", help="Skip the N separate processes (slow).")
    args = parser.parse_args()
    wargs = weights_args(args.shared, args.weights, args.model, args.runtime)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {' '.join(wargs)}")

    from mesocli.probe import probe_video
    from mesocli.runtime import resolve
    from mesocli.scan import ScanOptions, scan_inputs

    # 1. one 30 s 640x480 video, 30 frames
    print("\n1. scan --frames 30, 30 s 640x480 FF++ Deepfakes clip")
    video = args.shared / DEEPFAKES
    cold, done = mesocli("scan", *wargs, "--frames", "30", "--quiet", str(video))
    result = json.loads(done.stdout)
    row("whole process (cold)", f"{cold:.2f} s", f"status {result['status']}, p_fake {result['p_fake']}")
    weights = Path(wargs[wargs.index("--weights") + 1]) if "--weights" in wargs else None
    model = args.model if weights is None else "df"
    t_load, loaded = timed(lambda: resolve("meso4" if weights is None else None, model, weights, args.runtime))
    row(f"loading the runtime ({args.runtime}) + weights in-process", f"{t_load:.2f} s")
    list(scan_inputs([str(video)], loaded, ScanOptions(frames=2)))  # warm the detector and the predictor
    warm, _ = timed(lambda: list(scan_inputs([str(video)], loaded, ScanOptions(frames=30))))
    row("scan alone (warm process)", f"{warm:.2f} s", f"{30 / warm:.1f} sampled frames/s")

    # 2. every frame of a 720p clip
    print("\n2. scan --all-frames, 12 s 1280x720 FF++ NeuralTextures clip (warm)")
    hd = args.shared / HD
    info = probe_video(hd)
    seconds, (hd_result,) = timed(lambda: list(scan_inputs([str(hd)], loaded, ScanOptions(all_frames=True))))
    frames = hd_result.frames_sampled
    row("wall time", f"{seconds:.2f} s", f"{frames} frames, {hd_result.frames_with_face} with a face")
    row("throughput", f"{frames / seconds:.1f} fps", f"target >= 25; clip plays at {info.fps:g} fps")
    row("real-time factor (clip length / scan time)", f"{info.duration / seconds:.2f}x")

    # 3. many videos: one call vs separate calls
    n = args.videos
    print(f"\n3. {n} short face videos (2 s, 320x240, 24 frames each)")
    sys.path.insert(0, str(REPO / "tests"))
    from media import make_face_video

    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"clip{i:02d}.mp4" for i in range(n)]
        for i, path in enumerate(paths):
            make_face_video(path, 24, angles=[(-10 + i) % 20 - 10.0] * 24)
        one, done = mesocli("scan", *wargs, "--quiet", "-", stdin="\n".join(map(str, paths)))
        statuses = [json.loads(line)["status"] for line in done.stdout.splitlines()]
        row(f"one call, {n} videos", f"{one:.2f} s", f"{one / n:.2f} s/video; {statuses.count('ok')} ok")
        if not args.skip_separate:
            separate = 0.0
            for path in paths:
                took, _ = mesocli("scan", *wargs, "--quiet", str(path))
                separate += took
            row(f"{n} separate calls", f"{separate:.2f} s", f"{separate / n:.2f} s/video")
            row("ratio separate / one call", f"{separate / one:.1f}x")

    # 4. cold start on one face crop
    print("\n4. cold start: mesocli scan one_face.jpg --detector none")
    from media import save_face_image

    with tempfile.TemporaryDirectory() as folder:
        face = Path(folder) / "one_face.jpg"
        save_face_image(face, size=(256, 256))
        runs = [mesocli("scan", *wargs, "--detector", "none", str(face))[0] for _ in range(3)]
        module = {"onnx": "onnxruntime", "tensorflow": "tensorflow"}[args.runtime]
        imports = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=True)
            imports.append(time.perf_counter() - start)
        row("mesocli scan (median of 3)", f"{statistics.median(runs):.2f} s",
            f"target < 4 s; runs {', '.join(f'{r:.2f}' for r in runs)}")
        row(f"python -c 'import {module}' (median of 3)", f"{statistics.median(imports):.2f} s",
            f"{statistics.median(imports) / statistics.median(runs):.0%} of the cold start")


if __name__ == "__main__":
    main()
