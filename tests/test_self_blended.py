"""scripts/make_self_blended.py on real face crops: a blend per face, paired names, resumable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from media import face_crop
from PIL import Image

from mesocli.sources import Source, load_sources, split_by_groups

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_self_blended.py"


def run_script(*args: object) -> str:
    done = subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_real_face_gets_a_blend_of_itself_at_the_same_jpeg_quality(tmp_path: Path) -> None:
    source = tmp_path / "faces"
    (source / "train" / "real").mkdir(parents=True)
    (source / "train" / "df").mkdir()
    face = face_crop(256)
    for i in range(3):
        face.rotate(3 * i).save(source / "train" / "real" / f"real{i:05d}.jpg", quality=95)
    Image.new("RGB", (256, 256), (120, 120, 120)).save(source / "train" / "real" / "real00099.jpg")  # no face
    face.save(source / "train" / "df" / "df00000.jpg")  # fakes are not blended
    out = tmp_path / "sbi"

    assert "3 pairs written, 0 already there, 1 real faces without a detected face (skipped), of 4" in run_script(
        source, out)
    names = [f"real{i:05d}_0.jpg" for i in range(3)]
    for folder in ("real", "df"):
        assert sorted(p.name for p in (out / "train" / folder).iterdir()) == names
    for name in names:
        real, fake = (Image.open(out / "train" / folder / name) for folder in ("real", "df"))
        assert real.size == fake.size == (256, 256)
        assert real.quantization == fake.quantization  # one JPEG quality per pair
        diff = np.abs(np.asarray(real, dtype=np.int16) - np.asarray(fake, dtype=np.int16)).mean(axis=2)
        assert diff[100:160, 100:160].mean() > 2 * diff[:16, :16].mean() + 1  # changed inside the face, not the corner

    # resumable: a second run writes nothing new
    assert "0 pairs written, 3 already there" in run_script(source, out)

    # as a training source, a real face and its blend share a group, so a held-out draw keeps them together
    data = load_sources([Source(str(out))])
    assert data.combined.counts == {"df": 3, "real": 3}
    train, held = split_by_groups(data.labels, data.source_index, data.groups, 0.3, seed=0)
    held_names = [data.combined.paths[i].name for i in held]
    assert held_names and all(held_names.count(name) == 2 for name in held_names)
    assert not {data.combined.paths[i].name for i in train} & set(held_names)
