"""Bad datasets for ``train`` and ``eval``: one-line errors (exit 2) that say where mesocli looked,
and a failed ``train`` leaves no half-made run behind (no config.json that ``--resume`` would take up)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, RunCli
from media import make_faces

from robustness.helpers import unreadable

TRAIN = ("--epochs", "1", "--batch-size", "2", "--val-fraction", "0.25", "-q")


def _split_missing(root: Path) -> None:
    make_faces(root / "validation", {"df": 2, "real": 2})


def _split_missing_beside_root_classes(root: Path) -> None:
    make_faces(root / "validation", {"df": 2, "real": 2})
    make_faces(root, {"df": 2, "real": 2})  # extract --layout dataset once without --split: ROOT/{df,real}


def _one_class(root: Path) -> None:
    make_faces(root / "test", {"df": 3})


def _empty_class(root: Path) -> None:
    make_faces(root / "test", {"df": 3})
    (root / "test" / "real").mkdir()


def _unreadable_class(root: Path) -> None:
    make_faces(root / "test", {"df": 3, "real": 3})
    for png in (root / "test" / "real").iterdir():
        png.write_bytes(b"\x89PNG\r\n\x1a\n broken")


def _no_root(root: Path) -> None:
    pass


DATASET_CASES = [  # (id, setup, message with {root}): the same for eval and train
    ("missing-split", _split_missing, "no class folders (df|fake, real) in {root}/test or {root}"),
    ("missing-split-beside-root-classes", _split_missing_beside_root_classes,  # not ROOT's own faces, exit 0
     "no class folders (df|fake, real) in {root}/test; splits with them: validation (--split)"),
    ("one-class-only", _one_class, "{root}/test: no images of class real; both df and real are needed"),
    ("empty-class-folder", _empty_class, "{root}/test: no images of class real; both df and real are needed"),
    ("no-readable-image-of-a-class", _unreadable_class,
     "no readable images of class real in {root}; both df and real are needed"),
    ("dataset-root-missing", _no_root, "dataset not found: {root} is not a folder"),
]


def _run(run_cli: RunCli, command: str, root: Path, run: Path, weights: Path) -> CliResult:
    if command == "eval":
        return run_cli("eval", "--data", root, "--split", "test", "--weights", weights, "-q")
    return run_cli("train", root, "--out", run, "--split", "test", *TRAIN)


@pytest.mark.parametrize("command", ["eval", "train"])
@pytest.mark.parametrize(("setup", "message"), [case[1:] for case in DATASET_CASES],
                         ids=[case[0] for case in DATASET_CASES])
def test_unusable_datasets_are_one_line_usage_errors(setup: Callable[[Path], None], message: str, command: str,
                                                     own_weights: Path, tmp_path: Path,
                                                     run_cli: RunCli) -> None:
    root, run = tmp_path / "data", tmp_path / "run"
    setup(root)
    result = _run(run_cli, command, root, run, own_weights)
    assert result.code == 2
    assert message.format(root=root) in result.error_line()
    assert not (run / "config.json").exists()  # no half-made run: nothing for --resume to take up
    if command == "train":
        again = run_cli("train", "--resume", run)
        assert again.code == 2 and "no training run to resume" in again.error_line()


@pytest.mark.parametrize("command", ["eval", "train"])
def test_a_class_sub_folder_that_cannot_be_listed_is_refused(command: str, own_weights: Path, tmp_path: Path,
                                                             run_cli: RunCli) -> None:
    """Its images would be missing from the figures unseen (eval counted 3 of 6 real images, exit 0)."""
    root, run = tmp_path / "data", tmp_path / "run"
    make_faces(root / "test", {"df": 3, "real": 3})
    locked = make_faces(root / "test" / "real", {"locked": 3}) / "locked"
    with unreadable(locked):
        result = _run(run_cli, command, root, run, own_weights)
    assert result.code == 2
    assert result.error_line() == (f"{locked}: cannot list this dataset folder (Permission denied): its images "
                                   "would be missing from the figures; fix its permissions or move it out of the "
                                   "dataset")
    assert not (run / "config.json").exists()


def test_linked_sub_folders_of_a_class_are_followed_once(own_weights: Path, tmp_path: Path,
                                                         run_cli: RunCli) -> None:
    """As scan and extract do: a linked sub-folder counts, a link loop is walked once."""
    root = make_faces(tmp_path / "data", {"df": 3, "real": 3})
    (root / "real" / "more").symlink_to(make_faces(tmp_path / "elsewhere", {"more": 2}) / "more")
    (root / "df" / "loop").symlink_to(root / "df")
    result = run_cli("eval", "--data", root, "--weights", own_weights, "--format", "json", "-q")
    assert result.code == 0
    assert json.loads(result.out)["data"] | {"root": ""} == {
        "root": "", "split": None, "images": 8, "df": 3, "real": 5, "skipped": 0, "subset": None, "extract": None}


def _renamed_faces(root: Path, names: dict[str, list[str]]) -> Path:
    """``ROOT/<class>/<name>.png`` faces (the names decide the identity groups of the held-out split)."""
    make_faces(root, {label: len(stems) for label, stems in names.items()})
    for label, stems in names.items():
        for png, stem in zip(sorted((root / label).iterdir()), stems, strict=True):
            png.rename(png.with_name(f"{stem}.png"))
    return root


SPLIT_CASES = [  # (id, file names per class, the start of the message)
    ("a-video-per-class", {"df": [f"a_{i}" for i in range(6)], "real": [f"b_{i}" for i in range(6)]},
     "the training part holds no "),  # one group held out whole: a whole class
    ("too-few-to-hold-out", {"df": ["da", "db", "dc"], "real": ["ra"]},
     "the held-out part holds no real image (training 3: df 2, real 1; held-out 1: df 1, real 0; "),
]


@pytest.mark.parametrize(("names", "message"), [case[1:] for case in SPLIT_CASES],
                         ids=[case[0] for case in SPLIT_CASES])
def test_train_refuses_a_split_part_without_both_classes(names: dict[str, list[str]], message: str, tmp_path: Path,
                                                         run_cli: RunCli) -> None:
    """It trained on one class (numpy warnings, held-out accuracy 0.0), or chose epochs by one class, exit 0."""
    root, run = _renamed_faces(tmp_path / "data", names), tmp_path / "run"
    result = run_cli("train", root, "--out", run, *TRAIN)
    assert result.code == 2
    line = result.error_line()
    assert line.startswith(message) and line.endswith("change --val-fraction (now 0.25) or add images of more people")
    assert not (run / "config.json").exists()


def test_train_says_when_file_names_tie_every_video_into_one_identity_group(tmp_path: Path, run_cli: RunCli) -> None:
    """Names that share a token (``studio_p0v1``: the studio's name ties every video, as ``0003`` tied FaceForensics++
    ``033_097``-style ids) make one group, held out whole, and the error said to add images of more people, which
    could never help."""
    names = {"real": [f"studio_p{person}v{video}_{frame}" for person in range(4) for video in range(2)
                      for frame in range(2)],
             "df": [f"studio_p{person}p{(person + 1) % 4}v{video}_{frame}" for person in range(4)
                    for video in range(2) for frame in range(2)]}
    root, run = _renamed_faces(tmp_path / "data", names), tmp_path / "run"
    result = run_cli("train", root, "--out", run, *TRAIN)
    assert result.code == 2
    line = result.error_line()
    assert line.startswith("the training part holds no df and real image (training 0: df 0, real 0; held-out 32: ")
    assert line.endswith(f"one identity group holds 32 of the 32 files of {root}: their names tie their videos "
                         "through shared '_' tokens (studio_p0p1v0_0.png: the tokens studio and p0p1v0; see "
                         "\"Held-out part by identity\" in docs/training.md); rename the files so that each '_' token "
                         "of a video id names a person, or train with --val-fraction 0")
    assert not (run / "config.json").exists()


def test_non_images_are_skipped_and_reported(own_weights: Path, tmp_path: Path,
                                             run_cli: RunCli) -> None:
    root = make_faces(tmp_path / "data", {"df": 3, "real": 3})
    (root / "df" / "notes.txt").write_text("not an image\n")
    (root / "real" / "Thumbs.db").write_bytes(b"\x00junk")
    (root / "real" / "broken_0.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    os.mkfifo(root / "df" / "stream_0.png")  # would block a reader forever
    result = run_cli("eval", "--data", root, "--weights", own_weights, "--format", "json", "-q")
    assert result.code == 0
    report = json.loads(result.out)
    assert report["data"]["images"] == 6 and report["data"]["skipped"] == 4
    skipped = sorted(line for line in result.err.splitlines() if line.startswith("mesocli: skipped "))
    assert len(skipped) == 4 and "Traceback" not in result.err
    assert any("broken_0.jpg: not a readable image" in line for line in skipped)
    assert any("stream_0.png: not a regular file (a named pipe)" in line for line in skipped)
    assert any("notes.txt: not an image file" in line for line in skipped)


def test_a_fake_folder_is_the_df_class(own_weights: Path, tmp_path: Path, run_cli: RunCli) -> None:
    root = make_faces(tmp_path / "data", {"fake": 4, "real": 3})
    result = run_cli("eval", "--data", root, "--weights", own_weights, "--format", "json", "-q")
    assert result.code == 0
    assert json.loads(result.out)["data"] | {"root": ""} == {
        "root": "", "split": None, "images": 7, "df": 4, "real": 3, "skipped": 0, "subset": None, "extract": None}


def test_non_utf8_file_names_reach_the_scores(own_weights: Path, tmp_path: Path,
                                              run_cli: RunCli) -> None:
    root = make_faces(tmp_path / "data", {"df": 2, "real": 2})
    odd = Path(os.fsdecode(bytes(root / "real") + b"/caf\xe9_9.png"))
    shutil.copy(root / "real" / "v0_0.png", odd)
    scores = tmp_path / "scores.csv"
    result = run_cli("eval", "--data", root, "--weights", own_weights, "--scores", scores, "-q")
    assert result.code == 0, result.err
    rows = list(csv.DictReader(scores.open(encoding="utf-8")))
    assert len(rows) == 5 and "real/caf\\udce9_9.png" in {row["path"] for row in rows}


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"


@pytest.fixture
def fake_ghostscript(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``gs`` first on PATH that leaves a marker file when anything runs it; the marker's path."""
    from PIL import EpsImagePlugin

    folder, marker = tmp_path / "bin", tmp_path / "ghostscript-ran"
    folder.mkdir()
    (folder / "gs").write_text(f"#!/bin/sh\necho ran > '{marker}'\nexit 1\n")
    (folder / "gs").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow looks it up again
    return marker


def test_an_eps_file_named_jpg_is_not_rendered(fake_ghostscript: Path, own_weights: Path, tmp_path: Path,
                                               run_cli: RunCli) -> None:
    """Pillow would hand an EPS file to Ghostscript; mesocli lets Pillow read raster formats only."""
    root = make_faces(tmp_path / "data", {"df": 2, "real": 2})
    (root / "df" / "v9_0.jpg").write_bytes(EPS)
    result = run_cli("eval", "--data", root, "--weights", own_weights, "--format", "json", "-q")
    assert result.code == 0 and json.loads(result.out)["data"]["skipped"] == 1
    assert f"mesocli: skipped {root}/df/v9_0.jpg: not a readable image (cannot identify image file" in result.err
    assert not fake_ghostscript.exists()


def test_pillow_alone_would_run_ghostscript(fake_ghostscript: Path, tmp_path: Path) -> None:
    """The control: the same file through a plain ``Image.open`` runs ``gs`` (the test above has teeth)."""
    from PIL import Image

    (tmp_path / "face.jpg").write_bytes(EPS)
    with pytest.raises(Exception), Image.open(tmp_path / "face.jpg") as image:  # noqa: B017 - Pillow raises many kinds
        image.load()
    assert fake_ghostscript.exists()
