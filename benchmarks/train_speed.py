"""Training speed of both networks and the decode speed of the tf.data pipeline.

    .venv/bin/python benchmarks/train_speed.py [--data ROOT] [--batches 4] [--decode 1500] [--degrade-prob 0 0.3]

Times a few real training steps (mesocli.training.Trainer's own input pipeline with augmentation
and its compiled step, batch 75) after warm-up, and extrapolates to one epoch of the 12,353-image
train split: 90 % trained on (148 steps of 75), 10 % held out and scored at the end of the epoch.
Decode speed is measured on a seeded sample of the train split, with the CPU time it took (the
pipeline should keep every core busy). The data defaults to $MESOCLI_DATA, else ../shared/data/mesonet-df.
Figures depend on what else runs on the machine: the load average is printed first.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.runtime import keras_onnx_predictor
from mesocli.training import TrainConfig, Trainer

TRAIN_SPLIT_IMAGES = 12_353
HELDOUT_FRACTION = 0.1
BATCH = 75


def default_data() -> Path:
    env = os.environ.get("MESOCLI_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mesonet-df"


def decode_speed(root: Path, count: int) -> dict[str, float]:
    """Images/s of mesocli.datasets.decode_dataset on ``count`` train files, and cores kept busy."""
    dataset = find_dataset(root, "train")
    picked = np.sort(np.random.default_rng(0).permutation(len(dataset.paths))[:count])
    sample = dataset.subset(picked)
    decode_dataset(sample.subset(np.arange(min(64, count))), progress=False)  # tf.data start-up
    wall, cpu = time.perf_counter(), time.process_time()
    decoded = decode_dataset(sample, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"images": int(decoded.ok.sum()), "seconds": wall, "images_per_second": count / wall,
            "cores_busy": cpu / wall}


def train_speed(root: Path, arch: str, batches: int, warmup: int, degrade_prob: float = 0.0) -> dict[str, float]:
    """Images/s of the real training step (input pipeline + augmentation + update) and of held-out scoring."""
    needed = int(np.ceil((warmup + batches) * BATCH / (1 - HELDOUT_FRACTION))) + BATCH
    config = TrainConfig(data=str(root), arch=arch, limit=needed, batch_size=BATCH,
                         val_fraction=HELDOUT_FRACTION, degrade_prob=degrade_prob)
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(config, Path(run_dir), progress=False)
        trainer.prepare()  # the trainer's own data, model and compiled step
        _, pipeline = trainer.batches(0)
        iterator = iter(pipeline)
        for _ in range(warmup):
            trainer.train_step(*next(iterator))
        started = time.perf_counter()
        for _ in range(batches):
            loss, _ = trainer.train_step(*next(iterator))
        float(loss)
        seconds = time.perf_counter() - started
        faces = trainer.images[trainer.held_idx[:64]]
        predictor = keras_onnx_predictor(trainer.model, arch)  # as the epoch's held-out scoring runs
        predictor.p_real(faces[:32])  # warm-up
        scored = time.perf_counter()
        predictor.p_real(faces)
        infer_ips = len(faces) / (time.perf_counter() - scored)
    train_ips = batches * BATCH / seconds
    heldout = round(TRAIN_SPLIT_IMAGES * HELDOUT_FRACTION)
    steps = (TRAIN_SPLIT_IMAGES - heldout) // BATCH
    epoch = steps * BATCH / train_ips + heldout / infer_ips
    return {"train_images_per_second": train_ips, "inference_images_per_second": infer_ips,
            "steps_per_epoch": steps, "epoch_seconds": epoch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data(), help="dataset root with a train split")
    parser.add_argument("--batches", type=int, default=4, help="timed training steps per network")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (graph tracing)")
    parser.add_argument("--decode", type=int, default=1500, help="files to decode for the decode figure")
    parser.add_argument("--arch", nargs="+", default=["meso4", "mesoinception4"])
    parser.add_argument("--degrade-prob", type=float, nargs="+", default=[0.0],
                        help="train with these --degrade-prob values (JPEG, blur, noise), one figure each")
    args = parser.parse_args()
    if not (args.data / "train").is_dir():
        sys.exit(f"train_speed: no train split in {args.data} (pass --data or set MESOCLI_DATA)")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} cores, load average {load}; data {args.data}", flush=True)

    d = decode_speed(args.data, args.decode)
    print(f"decode (tf.data, Pillow bilinear to 256x256): {d['images_per_second']:.0f} images/s "
          f"({d['images']} files in {d['seconds']:.1f} s, {d['cores_busy']:.2f} cores busy)", flush=True)
    for arch, degrade in itertools.product(args.arch, args.degrade_prob):
        t = train_speed(args.data, arch, args.batches, args.warmup, degrade)
        print(f"{arch:>15}, degrade {degrade}: train {t['train_images_per_second']:.1f} images/s (batch {BATCH}, "
              f"augmented), held-out scoring {t['inference_images_per_second']:.0f} images/s; one epoch of the "
              f"{TRAIN_SPLIT_IMAGES:,}-image train split ({t['steps_per_epoch']} steps) "
              f"~ {t['epoch_seconds'] / 60:.1f} min", flush=True)

if __name__ == "__main__":
    main()
