"""scripts/make_self_blended.py on real face crops: a blend per face, paired names, resumable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from media import face_crop
from PIL import Image

from mesocli.sources import Source, identity_tokens, load_sources, split_by_groups

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


@pytest.mark.parametrize("mode", [[], ["--other-person"]], ids=["own face", "other person"])
def test_blends_of_video_frames_keep_their_people_out_of_training(tmp_path: Path, mode: list[str]) -> None:
    """Blends of FaceForensics++-named frames (``<video>_<frame>``) are named ``<video>_<frame>_0``, or with
    ``--other-person`` ``<video>_<other video>_<frame>``: as an auxiliary source beside the FaceSwap/original
    source they came from, every blend showing a held-out person is left out of training and every other
    blend is kept, and the held-out part is the one drawn without them."""
    from mesocli.training import TrainConfig, load_run_data, split_run_data

    ffpp = tmp_path / "ffpp"
    face = face_crop(256)
    for person in range(6):
        partner = person ^ 1
        for frame in range(2):
            for folder, video in (("real/original", f"{person:03d}"), ("df/FaceSwap", f"{person:03d}_{partner:03d}")):
                (ffpp / "train" / folder).mkdir(parents=True, exist_ok=True)
                face.rotate(2 * person + frame).save(ffpp / "train" / folder / f"{video}_{frame}.jpg", quality=95)
    sbi = tmp_path / "sbi"
    assert "12 pairs written" in run_script(ffpp, sbi, *mode)
    names = sorted(path.name for path in (sbi / "train" / "df").iterdir())
    assert names == sorted(path.name for path in (sbi / "train" / "real").iterdir())
    if mode:  # the other person's video is named beside this face's, and is never this face's own
        pairs = [identity_tokens(Path(name)) for name in names]
        assert all(len(tokens) == 2 for tokens in pairs) and len(set(pairs)) > 1
    else:
        assert "003_1_0.jpg" in names

    fs = {"root": str(ffpp), "methods": ["FaceSwap", "original"]}
    alone = TrainConfig(data="", sources=[fs], val_fraction=0.3, seed=0)
    data_alone = load_run_data(alone)
    _, held_alone = split_run_data(alone, data_alone, np.arange(len(data_alone.labels)))
    config = TrainConfig(data="", sources=[fs, {"root": str(sbi), "heldout": False}], val_fraction=0.3, seed=0)
    data = load_run_data(config)
    train, held = split_run_data(config, data, np.arange(len(data.labels)))
    paths = data.combined.paths
    assert sorted(paths[i] for i in held) == sorted(data_alone.combined.paths[i] for i in held_alone)
    held_people = frozenset().union(*(identity_tokens(paths[i]) for i in held))
    blends = [paths[i] for i in np.flatnonzero(data.source_index == 1)]
    kept = {paths[i] for i in train if data.source_index[i] == 1}
    expected = {path for path in blends if not identity_tokens(path) & held_people}
    assert held_people and kept == expected and len(kept) < len(blends)
