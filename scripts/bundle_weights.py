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

The card names the weights the run started from as the run recorded them (``config.json``'s ``init_weights_record``,
else, a run of an older version, its ``best.json``'s: :func:`mesocli.training.start_record_of`): a card naming others
(an average or soup of an older version re-hashed the file then at the ``--init-weights`` path) is bundled with the
run's, said in one note. A soup card of an older version (its ingredients name no run, epoch or start) is refused in
one line: re-run ``scripts/greedy_soup.py``. ``--out DIR`` bundles into DIR instead of ``weights/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from mesocli.datasets import find_dataset
from mesocli.digest import sha256_file
from mesocli.errors import MesocliError, UsageError
from mesocli.evaluate import evaluate, limit_dataset
from mesocli.export import default_output, export, read_source, verify
from mesocli.fsutil import atomic_path, atomic_write_text
from mesocli.rates import KEY, measure
from mesocli.runtime import load_onnx
from mesocli.training import read_config, start_record_of
from mesocli.weights import VALIDATION_SAMPLE, ModelCard, card_path_for, sample_figures

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


SOUP_FIELDS = ("file", "run", "epoch", "sha256", "start")  # a soup ingredient as greedy_soup.py names it


def check_run_card(card: ModelCard, card_file: Path, run_dir: Path) -> str | None:
    """Refuse a soup card of an older version; set ``card``'s ``data.init_weights`` to the start weights the run
    recorded (:func:`mesocli.training.start_record_of`) and return a one-line note when the card named others."""
    soup = card.metrics.get("soup")
    if soup is not None and (not isinstance(soup, list) or not all(
            isinstance(item, dict) and all(key in item for key in SOUP_FIELDS) for item in soup)):
        kept = " ".join(str(item.get("file")) for item in soup if isinstance(item, dict)) if isinstance(
            soup, list) else ""
        raise UsageError(f"{card_file}: a soup card of an older version (its ingredients name no run, epoch or start "
                         f"weights): re-run scripts/greedy_soup.py {run_dir} with its candidates (it kept: "
                         f"{kept or 'none named'}) to rewrite it, then bundle it")
    config = read_config(run_dir)
    record, where, _ = start_record_of(config, run_dir)
    if config.init_weights and record is None:  # a run of an older version that records none: the card's stands
        return None
    expected: dict[str, Any] | None = dict(record) if config.init_weights and record else None
    named = card.data.get("init_weights")
    if named == expected or (isinstance(named, dict) and expected is not None
                             and {key: named.get(key) for key in ("file", "sha256")} == expected):
        return None
    card.data["init_weights"] = expected

    def said(start: Any) -> str:
        if not isinstance(start, dict):
            return "none"
        digest = start.get("sha256")
        return f"{start.get('file')}, sha256 {digest[:12] + '…' if isinstance(digest, str) else digest}"

    theirs = f"the run recorded in its {where} ({said(expected)})" if expected else "the run (random weights)"
    return (f"note: {card_file}: names other start weights ({said(named)}) than {theirs}; the bundled card names "
            "the run's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--ffpp", type=Path, help="FF++ test faces: ROOT/test/{df,real}/<method>/")
    parser.add_argument("--weights", default="best", choices=("best", "averaged"),
                        help="which of the run's weights: its best epoch, or averaged (scripts/average_checkpoints.py)")
    parser.add_argument("--out", type=Path, default=REPO / "weights",
                        help="the folder to bundle into (default: the repository's weights/)")
    args = parser.parse_args()

    card_file = args.run_dir / f"{args.weights}.json"
    card = ModelCard.from_json(card_file)
    corrected = check_run_card(card, card_file, args.run_dir)  # refused before anything is written
    if corrected:
        print(corrected, file=sys.stderr)
    splits = [("validation", args.data, args.split, {})]
    if args.ffpp:
        splits.append(("ffpp_test", args.ffpp, "test", {"frames_per_clip": 20}))
    datasets = {key: find_dataset(root, split) for key, root, split, _ in splits}  # before weights/ is written to
    name = f"{card.arch}_{card.manipulation}"
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{args.out}: cannot bundle into it ({exc.strerror or exc})") from None
    target = args.out / f"{name}.weights.h5"
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
    sample = limit_dataset(datasets["validation"], **VALIDATION_SAMPLE)  # the suite re-checks the card on it
    card.metrics["validation"]["sample"] = sample_figures(evaluate(loaded, sample, bootstrap=0).to_dict())
    atomic_write_text(card_path_for(target), card.to_json())
    print(json.dumps({key: card.metrics[key] for key, *_ in splits}, indent=1))


if __name__ == "__main__":
    try:
        main()
    except MesocliError as exc:  # a refused card or run, an unreadable card: one line, not a traceback
        sys.exit(f"error: {exc}")
