"""Add the per-clip scan scores (``metrics.ffpp_test_clips``, :mod:`mesocli.rates`) to the bundled model cards.

Usage (from the repository root)::

    .venv/bin/python scripts/card_scan_clips.py ../shared/data/ffpp-c23

Runs ``mesocli scan --model any --arch ARCH --format json --detail`` itself, with its default sampling (30 frames a
video) and face detector (hog), over the 36 FaceForensics++ c23 test clips (``ROOT/test/<method>/<id>.mp4``), once
per network: one pass gives every detector of that network its score of each scanned face. Writes into each bundled
card ``metrics.ffpp_test_clips``: the scan's command, sampling, face detector, threshold-free per-frame scores and the
mesocli version, and for each clip its method, whether it is forged, the frames sampled, the faces scored, the mean
p_fake and each scored face's p_fake (the largest face of each sampled frame, as the scan printed it, 6 decimals).
From these :mod:`mesocli.rates` counts, at a scan's exact threshold and by its rule, how often a single detector, a
``--model any`` set and an ``--arch ensemble`` errs. Nothing else in a card changes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mesocli import __version__
from mesocli.fsutil import atomic_write_text
from mesocli.models import ARCHITECTURES
from mesocli.rates import CLIPS_KEY
from mesocli.weights import bundled_cards, bundled_dir, card_path_for

REAL = "original"  # FF++'s folder of the source videos


def scan(root: Path, arch: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The scan's command (as a card records it) and its JSON rows for the test clips under ``root``."""
    args = ["scan", "--model", "any", "--arch", arch, "--format", "json", "--detail", "-q"]
    done = subprocess.run([sys.executable, "-m", "mesocli", *args, str(root / "test")], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"mesocli scan ({arch}) exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return ["mesocli", *args], json.loads(done.stdout)


def clips_of(rows: list[dict[str, Any]], root: Path, manipulation: str) -> list[dict[str, Any]]:
    """Each clip's entry for ``manipulation``'s detector, in the order of their names (``method/id.mp4``)."""
    clips = []
    for row in sorted(rows, key=lambda row: Path(row["path"]).relative_to(root / "test").as_posix()):
        name = Path(row["path"]).relative_to(root / "test").as_posix()
        if row["status"] != "ok":
            raise SystemExit(f"{name}: {row['status']} ({row['error']}): every test clip must be scored")
        scores = [round(float(face["detectors"][manipulation]), 6) for face in row["scores"]]
        mean = sum(scores) / len(scores)
        if abs(mean - row["detectors"][manipulation]["p_fake"]) > 2e-6:  # what the scan's mean rule gave
            raise SystemExit(f"{name}: {manipulation}: mean {mean:.6f}, the scan's {row['detectors'][manipulation]}")
        method = Path(name).parent.name
        clips.append({"clip": name, "method": None if method == REAL else method, "fake": method != REAL,
                      "frames": row["frames"]["sampled"], "faces": len(scores), "mean": round(mean, 6),
                      "p_fake": scores})
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ffpp", type=Path, help="the FF++ c23 videos: ROOT/test/<method>/<id>.mp4")
    parser.add_argument("--recorded-as", default="../shared/data/ffpp-c23",
                        help="ROOT as the cards record it (never a machine's absolute path)")
    args = parser.parse_args()
    root = args.ffpp.resolve()
    sections: dict[tuple[str, str], dict[str, Any]] = {}
    for arch in ARCHITECTURES:
        command, rows = scan(root, arch)
        settings = rows[0]["settings"]
        for manipulation in rows[0]["detectors"]:
            sections[(arch, manipulation)] = {
                "measured_on": "FaceForensics++ c23 test", "data": f"{args.recorded_as}/test",
                "command": " ".join([*command, f"{args.recorded_as}/test"]), "mesocli": __version__,
                "sampling": {key: settings["sampling"][key] for key in ("mode", "value")},
                "detector": settings["detector"], "clips": clips_of(rows, root, manipulation)}
    for card in bundled_cards():
        section = sections.get((card.arch, card.manipulation))
        if section is None:
            raise SystemExit(f"{card.name}: not scanned by --model any --arch {card.arch}")
        card.metrics[CLIPS_KEY] = section
        atomic_write_text(card_path_for(bundled_dir() / card.weights_file), card.to_json())
        print(f"{card.name}: {len(section['clips'])} clips, {sum(c['faces'] for c in section['clips'])} faces")


if __name__ == "__main__":
    main()
