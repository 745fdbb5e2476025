"""Output paths come from input stems only, made safe: no input name or path writes outside OUT_DIR,
and a tampered manifest cannot make ``--force`` delete files outside it either."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import RunCli

from mesocli.manifest import LOCK, MANIFEST
from robustness.helpers import tree

ODD_NAMES = ["..jpg", "...jpg", "-rf.jpg", ".hidden.jpg", "a\\b.jpg", "line\nbreak.jpg", "${HOME}.jpg",
             "CON.jpg", "ü" * 100 + ".jpg", "x" * 240 + ".jpg", " .jpg"]


def test_odd_input_names_stay_inside_out_dir(tmp_path: Path, face_jpeg: Path,
                                             run_cli: RunCli) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    paths = [Path(shutil.copy(face_jpeg, inputs / name)) for name in ODD_NAMES]
    out = tmp_path / "deep" / "out"
    before = tree(tmp_path)
    result = run_cli("extract", *paths, out, "--workers", "1", "--format", "json")
    assert result.code == 0
    notes = result.err.splitlines()  # copies of one file: each after the first is said to be one, on one line
    assert len(notes) == len(ODD_NAMES) - 1, result.err
    assert all(f"same bytes as {paths[0]}, already extracted" in note for note in notes), notes
    summary = json.loads(result.out)
    names = [item["name"] for item in summary["inputs"]]
    assert [item["status"] for item in summary["inputs"]] == ["ok"] * len(ODD_NAMES)
    assert len({name.lower() for name in names}) == len(names)  # one folder each
    for name in names:
        assert name and "/" not in name and "\\" not in name and not name.startswith((".", "-", " "))
        assert len(name.encode()) <= 120 and name not in (".", "..")
    after = tree(tmp_path)
    written = {path for path in after if path not in before}
    assert all(path.startswith("deep/out/") for path in written), written  # nothing outside OUT_DIR
    assert {path.split("/")[2] for path in written} == set(names) | {MANIFEST, LOCK}


def test_relative_and_absolute_input_paths(tmp_path: Path, face_jpeg: Path, monkeypatch: pytest.MonkeyPatch,
                                           run_cli: RunCli) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(face_jpeg, tmp_path / "a" / "face.jpg")
    monkeypatch.chdir(tmp_path / "a" / "b")
    given = ["../face.jpg", f"{tmp_path}/a/b/../../a/./face.jpg"]  # the same file twice
    before = tree(tmp_path)
    result = run_cli("extract", *given, "out", "--workers", "1", "--format", "json")
    assert result.code == 0
    assert [item["name"] for item in json.loads(result.out)["inputs"]] == ["face"]  # each file once
    written = set(tree(tmp_path)) - set(before)
    assert written == {"a/b/out/face/0.jpg", f"a/b/out/{MANIFEST}", f"a/b/out/{LOCK}"}


@pytest.mark.parametrize("split", ["../escape", "/tmp/escape", "a/b", ".."])
def test_a_split_is_a_plain_folder_name(split: str, tmp_path: Path, face_jpeg: Path,
                                        run_cli: RunCli) -> None:
    result = run_cli("extract", face_jpeg, tmp_path / "out", "--layout", "dataset", "--label", "df",
                     "--split", split)
    assert result.code == 2
    assert result.error_line() == f"--split must be a plain folder name (letters, digits, '._-'), not {split!r}"
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_manifest_cannot_delete_outside_out_dir(tmp_path: Path, face_jpeg: Path,
                                                            run_cli: RunCli) -> None:
    out = tmp_path / "out"
    assert run_cli("extract", face_jpeg, out, "--workers", "1").code == 0
    victims = [tmp_path / "victim.jpg", tmp_path / "elsewhere" / "victim.jpg"]
    for victim in victims:
        victim.parent.mkdir(exist_ok=True)
        victim.write_text("precious\n")
    (out / "link").symlink_to(tmp_path / "elsewhere")
    lines = (out / MANIFEST).read_text().splitlines()
    face = next(json.loads(line) for line in lines if '"type": "face"' in line)
    forged = [dict(face, file=file) for file in ("../victim.jpg", str(victims[1]), "link/victim.jpg")]
    extra = "".join(json.dumps(line) + "\n" for line in forged)
    (out / MANIFEST).write_text("\n".join(lines[:-1]) + "\n" + extra + lines[-1] + "\n")
    # other settings with --force: the crops the manifest lists are deleted, but only inside OUT_DIR
    result = run_cli("extract", face_jpeg, out, "--workers", "1", "--frames", "7", "--force")
    assert result.code == 0
    assert [victim.read_text() for victim in victims] == ["precious\n", "precious\n"]


def test_scan_paths_from_stdin(tmp_path: Path, face_jpeg: Path, own_weights: Path, monkeypatch: pytest.MonkeyPatch,
                               run_cli: RunCli) -> None:
    """Absolute, relative and ``..`` paths, blank lines, CRLF, a missing one: each is reported, nothing is written."""
    (tmp_path / "sub").mkdir()
    shutil.copy(face_jpeg, tmp_path / "face.jpg")
    shutil.copy(face_jpeg, tmp_path / "other.jpg")  # another file: one file named twice is scanned once
    monkeypatch.chdir(tmp_path / "sub")
    stdin = f"{tmp_path}/face.jpg\r\n\n../other.jpg\n   \n{tmp_path}/sub/../missing.jpg\n"
    before = tree(tmp_path)
    result = run_cli("scan", "--weights", own_weights, "-", stdin=stdin)
    assert result.code == 3 and result.err == ""
    items = result.jsonl()
    assert [(item["path"], item["status"]) for item in items] == [
        (f"{tmp_path}/face.jpg", "ok"), ("../other.jpg", "ok"), (f"{tmp_path}/sub/../missing.jpg", "error")]
    assert items[2]["error"] == f"{tmp_path}/sub/../missing.jpg: no such file or folder"
    assert tree(tmp_path) == before


def test_scan_paths_from_stdin_that_are_not_utf8(tmp_path: Path, face_jpeg: Path, own_weights: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 run_cli: RunCli) -> None:
    """A file list piped in with a name that is not UTF-8, on a strict UTF-8 stdin (no crash, the file is found)."""
    import io
    import sys

    name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jpg")
    shutil.copy(face_jpeg, name)
    raw = io.BytesIO(os.fsencode(name) + b"\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, encoding="utf-8", errors="strict"))
    result = run_cli("scan", "--weights", own_weights, "-")
    assert result.code == 0, result.err
    (item,) = result.jsonl()
    assert item["path"] == name and item["status"] == "ok"
