"""Chain of custody: every scan result names the SHA-256 of the bytes it judged, in every output (JSON, CSV,
the HTML report, the Python API), null for an error and with --no-hash; old outputs without it resume."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from conftest import RunCli, check_schema
from media import MediaKit
from test_report import check_report

import mesocli
from mesocli.digest import CHANGED, fingerprint
from mesocli.errors import ParameterError


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_json_and_report_name_the_bytes_of_a_video_and_an_image(
    run_cli: RunCli, own_weights: Path, kit: MediaKit, tmp_path: Path
) -> None:
    missing, report = tmp_path / "gone.mp4", tmp_path / "report.html"
    inputs = [kit.face_video, kit.face_jpeg, kit.truncated, missing]
    code, out, err = run_cli("scan", *inputs, "--weights", own_weights, "--frames", 4, "--format", "json",
                             "--report", report, "--explain-top", 0)
    assert code == 3, err
    rows = json.loads(out)
    for row in rows:
        check_schema(row)
    assert [row["status"] for row in rows] == ["ok", "ok", "error", "error"]
    video, image = rows[:2]
    assert video["sha256"] == sha256_of(kit.face_video) and image["sha256"] == sha256_of(kit.face_jpeg)
    assert [row["sha256"] for row in rows[2:]] == [None, None]  # unreadable, not there: no bytes judged
    assert not any(CHANGED in w for row in rows for w in row["warnings"])
    _, text = check_report(report)
    for row in rows[:2]:  # in full, under the input's path
        assert f"{row['path']} sha256 {row['sha256']}" in text
    assert text.count("sha256: none, the input could not be read") == 2


def test_csv_has_a_sha256_column(run_cli: RunCli, own_weights: Path, kit: MediaKit, tmp_path: Path) -> None:
    code, out, err = run_cli("scan", kit.face_jpeg, tmp_path / "gone.jpg", "--weights", own_weights,
                             "--detector", "none", "--format", "csv")
    assert code == 3, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["sha256"] for row in rows] == [sha256_of(kit.face_jpeg), ""]
    assert list(rows[0])[:3] == ["path", "sha256", "type"]


def test_no_hash_gives_null_and_says_so(run_cli: RunCli, own_weights: Path, kit: MediaKit, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code, out, err = run_cli("scan", kit.face_jpeg, "--weights", own_weights, "--detector", "none", "--no-hash",
                             "--format", "jsonl", "--report", report, "--explain-top", 0)
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    check_schema(row)
    assert row["status"] == "ok" and row["sha256"] is None
    assert "sha256: none, not computed (--no-hash)" in check_report(report)[1]
    code, out, _ = run_cli("scan", "--help")
    assert code == 0 and "--no-hash" in out and "sha256" in out and "null" in out


def test_api_results_are_the_cli_rows(run_cli: RunCli, kit: MediaKit, tmp_path: Path) -> None:
    inputs = [kit.face_video, kit.face_jpeg, tmp_path / "gone.mp4"]
    code, out, err = run_cli("scan", *inputs, "--frames", 4, "--format", "json", "--workers", 1)
    assert code == 3, err
    results = mesocli.scan(inputs, model="df", frames=4)
    assert [r.sha256 for r in results] == [sha256_of(kit.face_video), sha256_of(kit.face_jpeg), None]

    def steady(row: dict) -> dict:  # all but the wall time and when the scan finished
        return {key: value for key, value in row.items() if key not in ("seconds", "scanned_at")}

    assert [steady(r.to_dict()) for r in results] == [steady(row) for row in json.loads(out)]
    (off,) = mesocli.scan(kit.face_jpeg, model="df", hash_inputs=False)
    assert off.sha256 is None and off.to_dict()["sha256"] is None
    with pytest.raises(ParameterError, match="^hash_inputs must be True or False, not 'no'"):
        mesocli.scan(kit.face_jpeg, model="df", hash_inputs="no")


def test_resume_keeps_old_rows_without_sha256(run_cli: RunCli, own_weights: Path, kit: MediaKit,
                                              tmp_path: Path) -> None:
    """Rows written before the key existed still count as done; the inputs added get their sha256."""
    output = tmp_path / "results.jsonl"
    args = ["scan", "--weights", own_weights, "--frames", 4, "--workers", 1, "-o", output, "--resume", "-q"]
    code, _, err = run_cli(*args, kit.face_video)
    assert code == 0, err
    (row,) = [json.loads(line) for line in output.read_text().splitlines()]
    assert row["sha256"] == sha256_of(kit.face_video)
    del row["sha256"]  # as an earlier mesocli wrote it
    old = json.dumps(row) + "\n"
    output.write_text(old)
    code, _, err = run_cli(*args[:-1], kit.face_video, kit.face_jpeg)
    assert code == 0, err
    assert "resume: 1 of 2 inputs already in" in err
    text = output.read_text()
    assert text.startswith(old)
    (added,) = [json.loads(line) for line in text[len(old):].splitlines()]
    check_schema(added)
    assert added["path"] == str(kit.face_jpeg) and added["sha256"] == sha256_of(kit.face_jpeg)


def test_a_file_that_changes_during_its_scan_is_flagged(
    run_cli: RunCli, own_weights: Path, kit: MediaKit, tmp_path: Path, touched_after_hashing: None
) -> None:
    """The digest is taken before decoding; a file touched after it (here: right after) gets a warning."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(kit.face_video.read_bytes())
    original = sha256_of(clip)

    report = tmp_path / "report.html"
    code, out, err = run_cli("scan", clip, "--weights", own_weights, "--frames", 4, "--workers", 1, "--format", "jsonl",
                             "--report", report, "--explain-top", 0)
    assert code == 0, err
    (row,) = [json.loads(line) for line in out.splitlines()]
    check_schema(row)
    assert row["sha256"] == original
    (warning,) = [w for w in row["warnings"] if w.startswith(CHANGED)]
    assert "mtime_ns" in warning and "may not be the bytes judged" in warning
    text = check_report(report)[1]
    assert "the file changed while it was scanned" in text and "the video is damaged" not in text


def test_a_file_replaced_between_its_probe_and_its_hash_is_described_as_the_bytes_hashed(
    run_cli: RunCli, own_weights: Path, kit: MediaKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row's ``media`` names the file its ``sha256`` names: its size came from the hash, but its video stream
    (codec, picture size, frame rate, length) from the header read before the hash, so a file replaced in between (a
    copy landing) got the sha256 and size of the new file with the stream of the old one, and no warning (the bytes
    hashed were still the file's at the end); its frames were picked by the old header too (here: ``no_face``, the
    new file's 4 frames read as the old one's 24). The header is now read again when the file hashed is not the one
    probed."""
    import mesocli.inputs

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(kit.face_video.read_bytes())
    identify, replaced = mesocli.inputs.identify, []

    def identify_then_replaced(path: str | Path) -> object:
        found = identify(path)
        if Path(path) == clip and not replaced:
            clip.write_bytes(kit.slideshow_video.read_bytes())
            os.utime(clip, ns=(os.stat(clip).st_atime_ns, os.stat(clip).st_mtime_ns + 1_000_000_000))
            replaced.append(path)
        return found

    monkeypatch.setattr(mesocli.inputs, "identify", identify_then_replaced)
    code, out, err = run_cli("scan", clip, "--weights", own_weights, "--detector", "none", "--frames", 2,
                             "--workers", 1, "--format", "json", "-q")
    assert code == 0, (err, out)
    assert replaced
    (row,) = json.loads(out)
    check_schema(row)
    assert row["sha256"] == sha256_of(kit.slideshow_video)
    assert row["media"] == {"bytes": kit.slideshow_video.stat().st_size, "codec": "h264", "width": 128,
                            "height": 128, "fps": 0.1, "duration": 40.0}


def test_fingerprint_streams_and_stops(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * (1 << 20) + 5))  # more than one chunk, and a partial last one
    taken = fingerprint(big)
    assert taken is not None and taken.sha256 == sha256_of(big) and taken.read == big.stat().st_size
    assert fingerprint(big, lambda: True) is None  # the scan was stopped: no digest


def test_one_code_path_hashes_a_file(tmp_path: Path) -> None:
    """A file's sha256 had two copies of the chunked read (``digest.fingerprint`` for scan's inputs,
    ``weights.sha256_file`` for weights, exports and model cards): one now, in :mod:`mesocli.digest`, so that a
    fix to one reaches every digest mesocli records."""
    import ast

    from mesocli import digest, weights

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(2 * (1 << 20) + 7))
    assert digest.sha256_file(big) == sha256_of(big) == fingerprint(big).sha256
    assert weights.sha256_file is digest.sha256_file
    readers = {"open", "read", "readinto"}  # a file read in pieces to hash it (not bytes read whole to be used:
    # the ONNX model whose digest is checked is the very bytes that run)
    for source in sorted(Path(mesocli.__file__).parent.glob("*.py")):
        if source.name == "digest.py":
            continue
        for function in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(function, ast.FunctionDef):
                continue
            called = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                      for node in ast.walk(function) if isinstance(node, ast.Call)}
            assert not ("sha256" in called and called & readers), f"{source.name}: {function.name} hashes a file"


def test_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """A path that is now a named pipe (a resume checks the bytes of a path its earlier row names): one line at once.
    Opening it for reading waited for a writer, for good."""
    import threading

    from mesocli.errors import InputError

    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    outcome: list[str] = []

    def take() -> None:
        try:
            fingerprint(fifo)
        except InputError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=take, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # the old code waits for a writer: give it one, so that the thread ends
        with open(fifo, "wb"):
            pass
        reader.join(5)
        pytest.fail("fingerprint waited for a writer on a named pipe")
    assert outcome == [f"{fifo}: not a regular file: cannot hash it"]
