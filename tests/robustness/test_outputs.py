"""Outputs that cannot be written: refused before the work with one line (exit 2), and a write that
fails half-way (disk full, injected at the file layer) leaves the previous outputs as they were."""

from __future__ import annotations

import errno
import io
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import RunCli
from media import MediaKit, make_faces

from mesocli.manifest import LOCK, MANIFEST
from robustness.helpers import FaultyFs, tree, unwritable

# ---------------------------------------------------------------------------------------------- refused up front


def _extract(out: Path, args: dict) -> tuple:
    return ("extract", args["image"], out, "--workers", "1")


def _scan(out: Path, args: dict) -> tuple:
    return ("scan", "--weights", args["weights"], "--output", out, args["image"])


def _eval(out: Path, args: dict) -> tuple:
    return ("eval", "--data", args["data"], "--weights", args["weights"], "--scores", out, "-q")


def _train(out: Path, args: dict) -> tuple:
    return ("train", args["data"], "--out", out, "--epochs", "1", "--batch-size", "2", "-q")


def _export(fmt: str) -> Callable[[Path, dict], tuple]:
    return lambda out, args: ("export", args["weights"], "--format", fmt, "--out", out)


UNWRITABLE = [  # (id, command, the output under a read-only folder, what the error names)
    ("extract-out-dir-not-writable", _extract, "faces", "{out}"),
    ("scan-output-not-writable", _scan, "report.json", "{out}"),
    ("eval-scores-not-writable", _eval, "scores.csv", "{out}"),
    ("train-out-not-writable", _train, "run", "{out}/config.json"),
    ("export-onnx-not-writable", _export("onnx"), "m.onnx", "{out}"),
    ("export-savedmodel-not-writable", _export("savedmodel"), "m", "{out}"),
    ("export-tflite-not-writable", _export("tflite"), "m.tflite", "{out}"),
]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_faces(tmp_path_factory.mktemp("data"), {"df": 4, "real": 4})


@pytest.mark.parametrize(("command", "name", "named"), [case[1:] for case in UNWRITABLE],
                         ids=[case[0] for case in UNWRITABLE])
def test_an_output_in_a_read_only_folder_is_refused_before_any_work(
        command: Callable[[Path, dict], tuple], name: str, named: str, tmp_path: Path, face_jpeg: Path,
        own_weights: Path, tiny_data: Path, run_cli: RunCli) -> None:
    locked = tmp_path / "read-only"
    locked.mkdir()
    out = locked / name
    args = {"image": face_jpeg, "weights": own_weights, "data": tiny_data}
    with unwritable(locked):
        result = run_cli(*command(out, args))
    assert result.code == 2
    assert result.error_line() == f"cannot write {named.format(out=out)}: Permission denied"
    assert list(locked.iterdir()) == []


def test_extract_out_dir_below_a_file(tmp_path: Path, face_jpeg: Path, run_cli: RunCli) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    result = run_cli("extract", face_jpeg, tmp_path / "notes.txt" / "faces")
    assert result.code == 2
    assert result.error_line() == f"cannot write {tmp_path}/notes.txt/faces: {tmp_path}/notes.txt is not a folder"
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_extract_out_dir_that_is_a_file(tmp_path: Path, face_jpeg: Path, run_cli: RunCli) -> None:
    (tmp_path / "faces").write_text("mine\n")
    result = run_cli("extract", face_jpeg, tmp_path / "faces")
    assert result.code == 2 and result.error_line() == f"{tmp_path}/faces exists and is not a folder"
    assert (tmp_path / "faces").read_text() == "mine\n"


def test_extract_into_someone_elses_folder(tmp_path: Path, face_jpeg: Path,
                                           run_cli: RunCli) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("years of work\n")
    result = run_cli("extract", face_jpeg, theirs)
    assert result.code == 2
    assert result.error_line() == (f"{theirs} is not empty (thesis.tex) and holds no mesocli manifest: "
                                   "use another OUT_DIR, or --force to write into it")
    assert tree(theirs) == {"thesis.tex": tree(theirs)["thesis.tex"]}  # not even a lock file


@pytest.mark.parametrize("command", ["scan", "eval"])
def test_an_existing_output_file_needs_force(command: str, tmp_path: Path, face_jpeg: Path, own_weights: Path,
                                             tiny_data: Path, run_cli: RunCli) -> None:
    target = tmp_path / ("report.json" if command == "scan" else "scores.csv")
    target.write_text("earlier results\n")
    args = {"image": face_jpeg, "weights": own_weights, "data": tiny_data}
    result = run_cli(*(_scan if command == "scan" else _eval)(target, args))
    assert result.code == 2 and "exists" in result.error_line() and "--force" in result.error_line()
    assert target.read_text() == "earlier results\n" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_train_into_a_folder_that_holds_a_run(tmp_path: Path, tiny_data: Path,
                                              run_cli: RunCli) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"epochs": 30}\n')
    result = run_cli(*_train(run, {"data": tiny_data}))
    assert result.code == 2
    assert result.error_line() == (f"{run} already holds a training run: continue it with --resume {run}, "
                                   "or pass --force to start over")
    assert (run / "config.json").read_text() == '{"epochs": 30}\n'


# ---------------------------------------------------------------------------------------------- disk full


def _face_lines(out: Path) -> list[str]:
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    return sorted(json.dumps({k: v for k, v in line.items() if k != "seconds"}, sort_keys=True)
                  for line in lines if line["type"] == "face")


def test_disk_full_during_extract(tmp_path: Path, kit: MediaKit, face_jpeg: Path, monkeypatch: pytest.MonkeyPatch,
                                  run_cli: RunCli) -> None:
    out = tmp_path / "out"
    options = ("--frames", "6", "--workers", "1", "--format", "json")
    assert run_cli("extract", face_jpeg, out, *options).code == 0
    before = {k: v for k, v in tree(out).items() if k != LOCK}
    crop = out / "face" / "0.jpg"
    with monkeypatch.context() as patch:  # room for one more crop and a half
        FaultyFs(out, space=crop.stat().st_size * 3 // 2).install(patch)
        full = run_cli("extract", face_jpeg, kit.face_video, out, *options)
    assert full.code == 2
    assert re.fullmatch(rf"cannot write {re.escape(str(out))}/face-\w+/\d+\.jpg: No space left on device",
                        full.error_line())
    assert {k: v for k, v in tree(out).items() if k != LOCK} == before  # no orphan crop, no temporary file

    again = run_cli("extract", face_jpeg, kit.face_video, out, *options)  # space freed: carry on
    assert again.code == 0
    assert [i["status"] for i in json.loads(again.out)["inputs"]] == ["skipped", "ok"]
    clean = tmp_path / "clean"
    assert run_cli("extract", face_jpeg, kit.face_video, clean, *options).code == 0
    assert tree(out).keys() == tree(clean).keys()
    assert {k: v for k, v in tree(out).items() if k.endswith(".jpg")} == {
        k: v for k, v in tree(clean).items() if k.endswith(".jpg")}
    assert _face_lines(out) == _face_lines(clean)


def test_disk_full_during_scan_output(tmp_path: Path, face_jpeg: Path, own_weights: Path,
                                      monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    report = tmp_path / "report.json"
    report.write_text("[]\n")
    with monkeypatch.context() as patch:
        FaultyFs(tmp_path, space=200).install(patch)
        result = run_cli("scan", "--weights", own_weights, "--output", report, "--force", face_jpeg, face_jpeg)
    assert result.code == 2
    assert result.error_line() == f"cannot write {report}: No space left on device"
    assert report.read_text() == "[]\n" and [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_disk_full_during_a_resumed_scan_says_what_the_output_keeps(tmp_path: Path, face_jpeg: Path,
                                                                     own_weights: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     run_cli: RunCli) -> None:
    """``--resume`` into a disk that fills after the first row: the one error line, then a line that says what the
    output keeps (the rows done; a row cut short is cut off by the next ``--resume``), which goes on from there and
    ends with every input's row once. Before, only the error line: nothing said that the rows done were kept."""
    folder = tmp_path / "in"
    folder.mkdir()
    inputs = [folder / f"{name}.jpg" for name in "abc"]
    for path in inputs:
        path.write_bytes(face_jpeg.read_bytes())
    out = tmp_path / "out" / "rows.jsonl"
    common = ("scan", "--weights", own_weights, "--detector", "none", "--output", out, "--resume", *inputs)
    with monkeypatch.context() as patch:
        FaultyFs(out.parent, space=1500).install(patch)  # a row is 1.1-1.3 kB: the second is cut short
        result = run_cli(*common)
    assert result.code == 2
    assert result.err.splitlines()[-2:] == [f"mesocli: error: cannot write {out}: No space left on device",
                                       f"mesocli: stopped after 1 input: {out} keeps its row; --resume goes on from "
                                       "there"], result.err
    again = run_cli(*common)
    assert again.code == 0, again.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]  # the row cut short was cut off
    assert sorted(row["path"] for row in rows) == sorted(map(str, inputs))


class _FullStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_on_standard_output(face_jpeg: Path, own_weights: Path, monkeypatch: pytest.MonkeyPatch,
                                      run_cli: RunCli) -> None:
    monkeypatch.setattr(sys, "stdout", _FullStdout())
    result = run_cli("scan", "--weights", own_weights, face_jpeg)
    assert result.code == 2
    assert result.error_line() == "cannot write standard output: No space left on device"
