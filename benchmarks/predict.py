"""Faces/s of both networks: Keras ``model.predict`` vs mesocli's compiled Predictor, batch 1 and 32.

Run: ``.venv/bin/python benchmarks/predict.py [--faces 256]``. Prints one line per case and the
speed-up ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mesocli.models import ARCHITECTURES, DISPLAY_NAMES, build_model
from mesocli.predictor import Predictor


def _rate(fn, faces: np.ndarray, batch: int) -> float:
    fn(faces[:batch])  # warm-up / compile
    started = time.perf_counter()
    for start in range(0, len(faces), batch):
        fn(faces[start : start + batch])
    return len(faces) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=256)
    args = parser.parse_args()
    faces = np.random.default_rng(0).integers(0, 256, (args.faces, 256, 256, 3), dtype=np.uint8)
    print(f"{'network':16} {'batch':>5} {'model.predict':>14} {'Predictor':>10} {'ratio':>6}  (faces/s)")
    for arch in ARCHITECTURES:
        model = build_model(arch)
        for batch in (1, 32):
            n = min(len(faces), 64) if batch == 1 else len(faces)
            def keras_predict(x: np.ndarray, b: int = batch, m=model) -> np.ndarray:
                return m.predict(x.astype(np.float32) / 255, batch_size=b, verbose=0)

            keras_rate = _rate(keras_predict, faces[:n], batch)
            predictor = Predictor(model, batch_size=batch)
            ours = _rate(predictor.p_fake, faces[:n], batch)
            print(f"{DISPLAY_NAMES[arch]:16} {batch:>5} {keras_rate:>14.1f} {ours:>10.1f} {ours / keras_rate:>6.2f}")


if __name__ == "__main__":
    main()
