"""Bundle a training run's best weights into weights/, with validation figures in the model card.

Usage (from the repository root)::

    .venv/bin/python scripts/bundle_weights.py runs/meso4_df --data ../shared/data/mesonet-df \
        --ffpp build/ffpp-test20

Copies ``RUN_DIR/best.weights.h5`` (``--weights averaged``: ``averaged.weights.h5``) to
``weights/<arch>_<manipulation>.weights.h5``, evaluates it
with ``mesocli eval``'s code on the MesoNet ``validation`` split and (``--ffpp``) on the FaceForensics++
test faces (``scripts/build_ffpp_faces.sh ... --frames 20``, split ``test``), and writes the model
card beside it with ``metrics.validation`` and ``metrics.ffpp_test`` = the ``mesocli eval --format
json`` objects (what ``mesocli models`` shows and what tests/test_eval_shared.py re-checks), with
``metrics.ffpp_test.error_rates`` and ``metrics.validation.error_rates`` (:mod:`mesocli.rates`: the error counts per
face and per video at 0.1…0.9). Then
regenerates ``weights/<arch>_<manipulation>.onnx`` (what ``scan`` and ``eval`` run; ``mesocli
export``), checked against the Keras model.

The card it writes has no ``metrics.ffpp_test_clips`` (each test clip's scores as ``scan`` takes them, from which a
scan counts its own and a ``--model any`` or ``--arch ensemble`` verdict's error rates): once every detector of the
network is bundled, run ``scripts/card_scan_clips.py ../shared/data/ffpp-c23``, which scans the clips with them all
in one pass and writes it into each bundled card. Until then ``scan`` reads the card's table, as for an older card.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from mesocli.datasets import find_dataset
from mesocli.digest import sha256_file
from mesocli.evaluate import evaluate
from mesocli.export import default_output, export, read_source, verify
from mesocli.fsutil import atomic_path, atomic_write_text
from mesocli.rates import KEY, measure
from mesocli.runtime import load_onnx
from mesocli.weights import ModelCard, card_path_for

REPO = Path(__file__).resolve().parents[1]


def as_recorded(root: Path) -> str:
    """``root`` as a model card records it: relative to the repository (``../shared/data/mesonet-df``,
    ``build/ffpp-test20``), never the absolute path of the machine that bundled it; the same from any folder, through
    a link to the repository or from inside a linked ``build/``."""
    absolute = Path(os.path.abspath(root))  # as named (a linked build/ stays build/), from the real working folder
    for ancestor in (absolute, *absolute.parents):  # the repository reached through a link to it
        if ancestor.exists() and os.path.samefile(ancestor, REPO):
            return absolute.relative_to(ancestor).as_posix()
    real = absolute.resolve()
    for entry in sorted(REPO.iterdir()):  # inside a folder of the repository that links elsewhere (build/ -> a disk)
        if entry.is_symlink() and entry.is_dir() and real.is_relative_to(target := entry.resolve()):
            return (Path(entry.name) / real.relative_to(target)).as_posix()
    return Path(os.path.relpath(absolute, REPO)).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--ffpp", type=Path, help="FF++ test faces: ROOT/test/{df,real}/<method>/")
    parser.add_argument("--weights", default="best", choices=("best", "averaged"),
                        help="which of the run's weights: its best epoch, or averaged (scripts/average_checkpoints.py)")
    args = parser.parse_args()

    card = ModelCard.from_json(args.run_dir / f"{args.weights}.json")
    splits = [("validation", args.data, args.split, {})]
    if args.ffpp:
        splits.append(("ffpp_test", args.ffpp, "test", {"frames_per_clip": 20}))
    datasets = {key: find_dataset(root, split) for key, root, split, _ in splits}  # before weights/ is written to
    name = f"{card.arch}_{card.manipulation}"
    target = REPO / "weights" / f"{name}.weights.h5"
    with atomic_path(target, suffix=".weights.h5") as tmp:
        shutil.copyfile(args.run_dir / f"{args.weights}.weights.h5", tmp)
    card.weights_file = target.name
    card.name = name
    atomic_write_text(card_path_for(target), card.to_json())  # the run's card (its sha256) replaces any older one
    source = read_source(target, card.arch)
    written = export(source, default_output(target, "onnx"), stamp=False)  # as `mesocli export --bundled` writes it
    print(f"{written}: max |p_fake - Keras| {verify(source, written, 'onnx'):.1e}")
    card.onnx_sha256 = sha256_file(written)  # as export recorded it in the card file, which is written again below
    loaded = load_onnx(target, card.arch)  # evaluated as scan and eval run it (ONNX Runtime)
    for key, root, split, extra in splits:
        evaluated = evaluate(loaded, datasets[key], progress=True)
        report = evaluated.to_dict()
        report["model"]["name"] = name
        report["data"]["root"] = as_recorded(root)
        card.metrics[key] = {"split": split, **extra, **report}
        # the error rates a scan quotes (FF++), per face and per video, at 0.1…0.9 (mesocli.rates); MesoNet's too
        card.metrics[key][KEY] = measure(evaluated.labels_is_fake, evaluated.p_fake, evaluated.image_methods,
                                         evaluated.video_ids)
    atomic_write_text(card_path_for(target), card.to_json())
    print(json.dumps({key: card.metrics[key] for key, *_ in splits}, indent=1))

if __name__ == "__main__":
    main()
