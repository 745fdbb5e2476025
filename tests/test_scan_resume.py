"""`mesocli scan --output results.jsonl --resume` with the local engine: a killed scan, resumed,
reports every input exactly once; partial lines are cut; changed files are scanned again."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import RunCli
from media import MediaKit, a_face_and_a_noface_video_of_one_size

from mesocli import digest
from mesocli.errors import InputError, UsageError
from mesocli.inputs import plan_inputs
from mesocli.resume import file_key, read_done
from mesocli.writers import CSV_COLUMNS, make_writer


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, kit: MediaKit) -> list[Path]:
    """Six copies of the test face video in one folder (a small archive)."""
    folder = tmp_path_factory.mktemp("archive")
    return [Path(shutil.copy(kit.face_video, folder / f"clip{n}.mp4")) for n in range(6)]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_a_killed_scan_resumes_with_every_input_exactly_once(clips, run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    args = ["scan", str(clips[0].parent), "--frames", "12", "--output", str(output), "--resume", "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "mesocli", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300  # not a speed target: only a guard against a hung test
    while not (output.exists() and output.read_bytes().count(b"\n") >= 1):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _rows(output)
    assert 1 <= len(before) < len(clips)  # killed midway
    with open(output, "ab") as handle:  # what a write cut short by the kill would leave
        handle.write(b'{"path": "' + str(clips[-1]).encode() + b'", "status": "o')

    code, _, err = run_cli(*args[:-1])
    assert code == 0, err
    assert "cut off an incomplete last line" in err
    assert f"resume: {len(before)} of {len(clips)} inputs already in" in err
    after = _rows(output)
    assert after[: len(before)] == before
    assert sorted(row["path"] for row in after) == [str(c) for c in clips]
    assert {row["status"] for row in after} == {"ok"}
    for row in after:
        assert row["file"] == {"size": clips[0].stat().st_size, "mtime_ns": Path(row["path"]).stat().st_mtime_ns}

    code, _, err = run_cli(*args)  # nothing left to do: nothing appended
    assert code == 0 and _rows(output) == after



def test_a_video_replaced_with_the_same_size_and_mtime_is_scanned_again(run_cli: RunCli, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: a video replaced by another of the same size, its mtime kept (``cp -p``, ``rsync -t``),
    was skipped as done, and the output kept the verdict of a video no longer there under its name."""
    first, second = a_face_and_a_noface_video_of_one_size(tmp_path)
    clip, output = tmp_path / "in" / "clip.mp4", tmp_path / "results.jsonl"
    clip.parent.mkdir()
    shutil.copy2(first, clip)
    args = ("scan", clip, "--frames", "4", "-o", output, "--resume")
    assert run_cli(*args).code == 0
    [old] = _rows(output)
    assert old["status"] == "ok"
    stamp = clip.stat().st_mtime_ns
    shutil.copyfile(second, clip)
    os.utime(clip, ns=(stamp, stamp))  # what cp -p, rsync -t or touch -r leave
    assert file_key(clip) == (old["file"]["size"], old["file"]["mtime_ns"])

    code, _, err = run_cli(*args)
    assert code == 3, err  # the new video has no face
    new = hashlib.sha256(second.read_bytes()).hexdigest()
    assert err.splitlines() == [
        f"mesocli: {clip}: its bytes changed since it was scanned, though not its size and mtime "
        f"(sha256 {old['sha256'][:12]} -> {new[:12]}); scanning it again",
        f"mesocli: resume: 0 of 1 inputs already in {output}, 1 to scan",
    ]
    rows = _rows(output)
    assert rows[0] == old  # kept as written; the last row for a path is current
    assert (rows[1]["path"], rows[1]["status"], rows[1]["sha256"], rows[1]["file"]) == (
        str(clip), "no_face", new, old["file"])

    code, _, err = run_cli(*args)  # the new row matches: nothing to do
    assert code == 3 and err.splitlines() == [f"mesocli: resume: 1 of 1 inputs already in {output}, 0 to scan"]
    assert _rows(output) == rows

    # --no-hash: a resume compares size and mtime only, and reads nothing
    shutil.copyfile(first, clip)
    os.utime(clip, ns=(stamp, stamp))
    monkeypatch.setattr(digest, "fingerprint", lambda *_, **__: pytest.fail("hashed with --no-hash"))
    code, _, err = run_cli(*args, "--no-hash")
    assert code == 3 and "1 of 1 inputs already in" in err and "changed" not in err
    assert _rows(output) == rows
    monkeypatch.undo()
    code, _, err = run_cli(*args)  # hashing again: the row's digest is not the file's
    assert code == 0 and "its bytes changed since it was scanned" in err
    assert _rows(output)[-1]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()


def test_an_input_that_cannot_be_read_to_check_it_keeps_its_row(clips, run_cli: RunCli, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume that cannot read a done input to check its bytes (permissions, a failing disk) keeps its row,
    says so, and scans nothing (the row of the bytes it had is worth more than an error row); the input is an
    error of this run (exit status 3), as in extract."""
    output = tmp_path / "results.jsonl"
    args = ("scan", clips[0], "--frames", "3", "-o", output, "--resume")
    assert run_cli(*args).code == 0
    rows = _rows(output)

    def unreadable(path: str, *_: object) -> None:
        raise InputError(f"{path}: cannot read it to hash it (Permission denied)")

    monkeypatch.setattr(digest, "fingerprint", unreadable)
    code, _, err = run_cli(*args)
    assert code == 3 and _rows(output) == rows
    assert err.splitlines() == [
        f"mesocli: {clips[0]}: cannot read it to check its bytes (cannot read it to hash it (Permission denied)); "
        "its row of an earlier scan is kept",
        f"mesocli: resume: 1 of 1 inputs already in {output}, 0 to scan",
    ]


def test_paths_on_stdin_are_checked_as_they_arrive_and_a_long_check_noted_once(
        clips, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    output = tmp_path / "results.jsonl"
    args = ("scan", "-", "--frames", "3", "-o", output, "--resume")
    paths = f"{clips[0]}\n{clips[1]}\n"
    assert run_cli(*args, stdin=paths).code == 0
    checked, fingerprint = [], digest.fingerprint
    monkeypatch.setattr(digest, "NOTED_BYTES", 1)  # as for a large archive
    monkeypatch.setattr(digest, "fingerprint", lambda path, *rest: checked.append(path) or fingerprint(path, *rest))
    code, _, err = run_cli(*args, stdin=paths)
    assert code == 0, err
    assert checked == [str(clips[0]), str(clips[1])]
    size = clips[0].stat().st_size
    assert err.splitlines() == [
        "mesocli: resume: reading the inputs already scanned again as their paths arrive, to check that their "
        f"bytes are unchanged ({size / 1e9:.1f} GB so far; --no-hash: size and mtime only)",
        f"mesocli: resume: 2 of 2 inputs already in {output}, 0 to scan",
    ]
    code, _, err = run_cli(*args, "-q", stdin=paths)
    assert code == 0 and err == "", err


def test_a_row_without_size_and_mtime_is_checked_by_its_bytes(clips, run_cli: RunCli, tmp_path: Path) -> None:
    """A row of a plain --output scan (no ``file`` key) matches by path alone; its sha256 tells a file that
    changed since (here: a free box appended), which is scanned again."""
    clip, output = Path(shutil.copy(clips[0], tmp_path / "clip.mp4")), tmp_path / "results.jsonl"
    assert run_cli("scan", clip, "--frames", "3", "-o", output, "-q").code == 0
    [old] = _rows(output)
    assert "file" not in old
    with open(clip, "ab") as handle:
        handle.write((16).to_bytes(4, "big") + b"free" + bytes(8))
    new = hashlib.sha256(clip.read_bytes()).hexdigest()
    code, _, err = run_cli("scan", clip, "--frames", "3", "-o", output, "--resume")
    assert code == 0, err
    assert err.splitlines()[0] == (f"mesocli: {clip}: its bytes changed since it was scanned "
                                   f"(sha256 {old['sha256'][:12]} -> {new[:12]}); scanning it again")
    assert [row["sha256"] for row in _rows(output)] == [old["sha256"], new]

def test_a_changed_file_is_scanned_again_and_a_missing_one_once(clips, run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    missing = tmp_path / "missing.mp4"
    args = ["scan", str(clips[0]), str(missing), "--frames", "3", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 3  # the missing input: an error row, exit 3
    assert run_cli(*args)[0] == 3  # resumed: nothing to do, the same exit status
    assert [row["path"] for row in _rows(output)] == [str(clips[0]), str(missing)]
    stats = clips[0].stat()
    os.utime(clips[0], ns=(stats.st_atime_ns, stats.st_mtime_ns + 1_000_000_000))
    assert run_cli(*args)[0] == 3
    rows = _rows(output)
    assert [row["path"] for row in rows] == [str(clips[0]), str(missing), str(clips[0])]
    assert rows[2]["file"]["mtime_ns"] == stats.st_mtime_ns + 1_000_000_000


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--resume needs --output FILE"),
        (["-o", "out.json"], "--resume appends to JSON Lines or CSV, not json (a JSON list is whole only once "
                             "closed): give an --output ending in .jsonl or .csv, or --format jsonl or csv"),
        (["-o", "out.txt", "--format", "table"], "--resume appends to JSON Lines or CSV, not table (a table is "
                                                 "printed at the end)"),
        (["-o", "out.csv", "--force"], "--resume needs --output FILE (JSON Lines or CSV), and not --force"),
        (["--address", "auto"], "--address needs --engine ray"),
    ],
)
def test_resume_usage_errors(monkeypatch, run_cli: RunCli, tmp_path: Path, extra: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("scan", "nothing.mp4", "--resume", *extra)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err


@pytest.mark.parametrize("target", ["/dev/stdout", "fifo"])
def test_resume_to_an_output_that_is_not_a_regular_file_is_refused(run_cli: RunCli, tmp_path: Path,
                                                                   target: str) -> None:
    """Found in review: ``--resume -o /dev/stdout`` (or a named pipe) read the pipe back before the scan, and hung."""
    if target == "fifo":
        target = str(tmp_path / "rows.csv")
        os.mkfifo(target)
    keep = os.open(target, os.O_RDWR | os.O_NONBLOCK) if target != "/dev/stdout" else None  # a writer: no EOF

    def hung(*_: object) -> None:
        raise TimeoutError("the scan hung reading its output back")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)  # only a guard against a hung test
    try:
        code, out, err = run_cli("scan", tmp_path / "x.mp4", "-o", target, "--format", "csv", "--resume")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        if keep is not None:
            os.close(keep)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert f"--resume reads its --output back: {target} is not a regular file" in err


def test_an_output_that_is_not_scan_results_is_refused_untouched(run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "notes.jsonl"
    output.write_text("not json\n{}\n")
    code, _, err = run_cli("scan", tmp_path / "x.mp4", "-o", output, "--resume")
    assert code == 2 and "line 1 is not a scan result" in err
    assert output.read_text() == "not json\n{}\n"


@pytest.mark.parametrize(("line", "why"), [("not json", "not JSON"), ("[1, 2]", "not a JSON object"),
                                           ("null", "not a JSON object"),
                                           ('{"a": 1}', "no 'status' key"), ('{"status": "ok"}', "no 'path' key"),
                                           # found in review: these two were tracebacks (AttributeError,
                                           # OverflowError), exit 1
                                           ('{"path": "a", "status": "ok", "model": "meso4"}',
                                            "a value of the wrong kind"),
                                           ('{"path": "a", "status": "ok", "file": {"size": 1e999, "mtime_ns": 1}}',
                                            "a value of the wrong kind")])
def test_a_line_that_is_not_a_scan_result_says_why_in_words(run_cli: RunCli, tmp_path: Path, line: str,
                                                             why: str) -> None:
    """The reason was the name of a Python exception: ``line 2 is not a scan result (KeyError)``."""
    output = tmp_path / "notes.jsonl"
    output.write_text(line + "\n")
    result = run_cli("scan", tmp_path / "x.mp4", "-o", output, "--resume")
    assert (result.code, result.error_line()) == (2, f"{output}: line 1 is not a scan result ({why}); --resume "
                                                     "needs the JSON Lines output of an earlier scan")


def test_plan_and_keys(clips, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    folder = str(clips[0].parent)
    assert plan_inputs([folder, str(empty), "nope.mp4"]) == [str(c) for c in clips] + [str(empty), "nope.mp4"]
    assert file_key(clips[0]) == (clips[0].stat().st_size, clips[0].stat().st_mtime_ns)
    assert file_key(empty) is None and file_key(tmp_path / "nope") is None
    done, note = read_done(tmp_path / "absent.jsonl")
    assert note is None and done.find("a", None) is None


def test_a_resume_with_other_settings_is_refused_untouched(clips, run_cli: RunCli, tmp_path: Path) -> None:
    """One output, one model and rule: rows of df at 0.5 are not joined by f2f or 0.9 rows, nor do they
    answer for them (the exit status of a resume comes from its output's rows)."""
    output = tmp_path / "results.jsonl"
    args = ["scan", str(clips[0]), "--frames", "3", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 0
    before = output.read_bytes()
    for extra, differs in ((["--model", "f2f"], "model meso4_df"), (["--threshold", "0.9"], "threshold 0.5, not 0.9"),
                           (["--aggregate", "vote"], "aggregation mean, not vote"), (["--all-faces"], "all faces"),
                           (["--detector", "none"], "face detector hog, not none"),  # these three were joined
                           (["--smooth", "3"], "smoothing 5, not 3")):
        code, _, err = run_cli(*args, str(clips[1]), *extra)
        assert code == 2 and differs in err and len(err.splitlines()) == 1, err
        assert output.read_bytes() == before
    code, _, err = run_cli(*[a if a != "3" else "4" for a in args], str(clips[1]))
    assert code == 2 and "frame sampling frames 3, not frames 4" in err and output.read_bytes() == before
    assert run_cli(*args, str(clips[1]), "--threshold", "0.50")[0] == 0  # the same settings, spelled otherwise
    assert len(_rows(output)) == 2


def test_a_resume_with_another_min_track_frames_is_refused_untouched(clips, run_cli: RunCli, tmp_path: Path) -> None:
    """--min-track-frames decides which --all-faces tracks make a video's verdict: rows made with another
    value would mix two rules in one output (it was not in the rows, so not compared)."""
    output = tmp_path / "results.jsonl"
    args = ["scan", str(clips[0]), "--frames", "3", "--all-faces", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 0
    before = output.read_bytes()
    assert _rows(output)[0]["settings"]["min_track_frames"] == 3
    code, _, err = run_cli(*args, str(clips[1]), "--min-track-frames", "1")
    assert code == 2 and "shortest deciding track 3 sampled frames, not 1 sampled frames" in err, err
    assert output.read_bytes() == before


def _through_doubles(line: str) -> str:
    """A row as ``jq`` 1.6 writes it back: every number read as a double, integral ones written without
    ``.0`` (``2.0`` becomes ``2``; an mtime in ns is rounded to the nearest double)."""
    def whole(value):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {key: whole(item) for key, item in value.items()}
        return [whole(item) for item in value] if isinstance(value, list) else value

    return json.dumps(whole(json.loads(line, parse_int=float)), separators=(",", ":"))


def test_the_documented_retry_of_errors_through_jq_resumes(clips, run_cli: RunCli, tmp_path: Path) -> None:
    """docs/scale.md: keep the rows that are not errors (``jq -c 'select(.status != "error")'``) and resume.
    jq 1.6 reads numbers as doubles: the kept rows must still match their settings and their files."""
    clip = Path(shutil.copy(clips[0], tmp_path / "clip.mp4"))
    os.utime(clip, ns=(clip.stat().st_atime_ns, 1_796_546_034_123_456_789))  # no double holds this mtime
    missing = tmp_path / "missing.mp4"
    output, retry = tmp_path / "results.jsonl", tmp_path / "retry.jsonl"
    args = ["scan", str(clip), str(missing), "--fps", "2", "--resume", "-q"]
    assert run_cli(*args, "-o", output)[0] == 3
    kept = [_through_doubles(line) for line in output.read_text().splitlines() if '"status":"error"' not in line]
    assert '"value":2,"rule":2}' in kept[0] and '"mtime_ns":1796546034123456768}' in kept[0]  # as jq 1.6 writes them
    retry.write_text("".join(line + "\n" for line in kept))
    code, _, err = run_cli(*args, "-o", retry)
    assert code == 3 and "other settings" not in err, err
    assert [row["path"] for row in _rows(retry)] == [str(clip), str(missing)]  # the clip kept, the error tried again


def test_a_whole_last_row_without_its_newline_is_kept(clips, run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "results.jsonl"
    args = ["scan", str(clips[0]), "--frames", "3", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 0
    output.write_bytes(output.read_bytes().rstrip(b"\n"))  # e.g. edited by hand, or joined by a script
    code, _, err = run_cli(*args, str(clips[1]))
    assert code == 0 and "cut off" not in err
    assert [row["path"] for row in _rows(output)] == [str(clips[0]), str(clips[1])]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--report", "{clip}", "--force"], "--report writes an HTML page"),  # refused by its name first
        (["-o", "{clip}", "--force"], "an output cannot be one of the inputs"),
        (["--report", "{tmp}/x.html", "--explain", "{tmp}/x.html"], "--report and --explain name the same path"),
        (["-o", "{tmp}/r.jsonl", "--resume", "--report", "{tmp}/r.html"], "not with --resume"),
    ],
)
def test_outputs_that_would_destroy_inputs_or_each_other_are_refused_first(
        clips, run_cli: RunCli, tmp_path: Path, extra: list[str], message: str) -> None:
    before = clips[0].read_bytes()
    code, out, err = run_cli("scan", clips[0], *(a.format(clip=clips[0], tmp=tmp_path) for a in extra))
    assert code == 2 and out == "" and message in err and len(err.splitlines()) == 1, err
    assert clips[0].read_bytes() == before and list(tmp_path.iterdir()) == []


def test_dash_output_is_standard_output(clips, run_cli: RunCli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("scan", clips[0], "--frames", "3", "-o", "-", "-q")
    assert code == 0 and json.loads(out)["status"] == "ok" and not (tmp_path / "-").exists()


def test_a_stopped_scan_of_paths_on_stdin_does_not_finish_the_check_of_a_large_input(tmp_path: Path) -> None:
    """Found in review: with the paths on stdin, a resume checks each input done as it arrives, in the thread
    that draws the paths; Ctrl-C stopped the scan, but the check went on to the input's last byte (a 40 GB
    archive: half a minute and more before the shell came back, then a note that it would be scanned again).
    The stop that ends the wait for the next path now ends the check too, between two chunks."""
    from mesocli.scan_run import plan_scan
    from mesocli.stdin_paths import Stopped, StreamedInputs

    large, output = tmp_path / "large.mp4", tmp_path / "results.jsonl"
    with open(large, "wb") as handle:  # sparse: nothing on disk, read as zeros
        handle.truncate(digest.NOTED_BYTES)
    size, mtime_ns = file_key(large)
    output.write_text(json.dumps({"path": str(large), "status": "ok", "verdict": "real", "sha256": "0" * 64,
                                  "file": {"size": size, "mtime_ns": mtime_ns}}) + "\n", encoding="utf-8")
    paths = StreamedInputs([str(large)])
    lines: list[str] = []

    def log(line: str) -> None:  # the long check is announced: Ctrl-C, as a user would press it now
        lines.append(line)
        paths.stop()

    todo, _ = plan_scan(paths, output, [], [], quiet=False, log=log, rehash=True, workers=2)
    with pytest.raises(Stopped):
        next(todo)
    assert len(lines) == 1 and "reading the inputs already scanned again as their paths arrive" in lines[0]


def test_an_input_restored_to_an_earlier_version_is_scanned_again(run_cli: RunCli, tmp_path: Path) -> None:
    """Found in review: the last row for a path is current, but a resume matched any earlier row of the path. A
    video scanned (row 1), replaced by another (row 2), then restored from a backup with its size and mtime
    (``cp -p``, ``rsync -t``) matched row 1 and was skipped: the output's current row for it (row 2) kept the
    verdict of the bytes that had replaced it. A row matches only while it is its path's last."""
    first, second = a_face_and_a_noface_video_of_one_size(tmp_path)
    clip, output = tmp_path / "in" / "clip.mp4", tmp_path / "results.jsonl"
    clip.parent.mkdir()
    shutil.copy2(first, clip)
    stamp = clip.stat().st_mtime_ns
    args = ("scan", clip, "--frames", "4", "-o", output, "--resume", "-q")
    assert run_cli(*args).code == 0
    shutil.copyfile(second, clip)
    assert run_cli(*args).code == 3  # the other video: no face, a second row
    assert [row["status"] for row in _rows(output)] == ["ok", "no_face"]
    shutil.copyfile(first, clip)
    os.utime(clip, ns=(stamp, stamp))  # the backup restored as rsync -t or cp -p leave it
    assert file_key(clip) == (_rows(output)[0]["file"]["size"], _rows(output)[0]["file"]["mtime_ns"])

    code, _, err = run_cli(*args)
    assert code == 0, err  # this run judged the video at the path, not the one before it
    rows = _rows(output)
    assert [row["status"] for row in rows] == ["ok", "no_face", "ok"]
    assert rows[-1]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert run_cli(*args).code == 0 and len(_rows(output)) == 3  # the last row matches: nothing to do


def test_a_resume_of_an_output_another_scan_appends_to_is_refused_before_its_check(
        clips, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: a second ``--resume`` of an output that a running scan appends to read every input done
    again (an hour for a large archive) before it was refused ("another scan is writing to it"). It is refused
    first now, the output untouched."""
    from mesocli.resume import appending

    output = tmp_path / "results.jsonl"
    args = ("scan", clips[0], "--frames", "3", "-o", output, "--resume")
    assert run_cli(*args).code == 0
    rows = output.read_bytes()
    monkeypatch.setattr(digest, "recheck", lambda *_, **__: pytest.fail("checked the inputs of a locked output"))
    with appending(output):  # the running scan
        result = run_cli(*args)
    assert (result.code, result.error_line()) == (2, f"{output}: another scan is writing to it")
    assert output.read_bytes() == rows


@pytest.mark.parametrize("hashed", [True, False], ids=["hashed", "no-hash"])
def test_a_row_gives_the_size_and_mtime_of_the_bytes_scanned(kit: MediaKit, run_cli: RunCli, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch, hashed: bool) -> None:
    """An input rewritten after the resumed scan planned its inputs and before its turn (a copy still arriving
    while the inputs before it are scanned: hours, on a large archive) was scanned, and hashed, as it then was,
    but its row's ``file`` gave the size and mtime seen when the run was planned: not the bytes its sha256 and
    scores come from, so the next resume scanned it again for nothing. Now they are those seen when it was
    hashed (``--no-hash``: when its reading began)."""
    from mesocli.producer import Producer

    first, later, output = tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "results.jsonl"
    shutil.copy(kit.face_jpeg, first)
    shutil.copy(kit.face_jpeg, later)
    read = Producer._input

    def rewritten_before_its_turn(self, path: Path, shown: str) -> None:
        if Path(path) == later:
            shutil.copy(kit.face_png_named_mp4, later)  # another image, another size
        read(self, path, shown)

    monkeypatch.setattr(Producer, "_input", rewritten_before_its_turn)
    args = ("scan", first, later, "--workers", "1", "-o", output, "--resume", *(() if hashed else ("--no-hash",)))
    assert run_cli(*args).code in (0, 1)
    row, info = {r["path"]: r for r in _rows(output)}[str(later)], later.stat()
    assert row["file"] == {"size": info.st_size, "mtime_ns": info.st_mtime_ns}
    assert row["sha256"] == (hashlib.sha256(later.read_bytes()).hexdigest() if hashed else None)
    monkeypatch.undo()
    code, _, err = run_cli(*args)
    assert f"2 of 2 inputs already in {output}, 0 to scan" in err  # not scanned again for nothing
    assert len(_rows(output)) == 2


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_csv_output_resumes_with_names_given_back_and_a_cut_row_cut_off(clips, run_cli: RunCli, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o results.csv --resume`` was refused ("--resume appends JSON Lines"): a CSV scan of an archive that was
    stopped had to start again. Its rows are read back (a name escaped as a formula, or not UTF-8, as written),
    a row cut short by the stop is cut off, and new rows follow with no second header."""
    monkeypatch.chdir(tmp_path)
    names = ["=SUM(1).mp4", "plain.mp4", "+1.mp4", os.fsdecode(b"caf\xe9.mp4")]
    for name in names:
        shutil.copy(clips[0], name)
    args = ("scan", "--frames", "3", "-o", "results.csv", "--resume")
    code, _, err = run_cli(*args, *names[:2])
    assert code == 0, err
    first = Path("results.csv").read_bytes()
    assert first.startswith(b"path,") and first.count(b"\n") == 3 and b"\r" not in first
    assert first.splitlines()[1].startswith(b"'=SUM(1).mp4,")
    with open("results.csv", "ab") as handle:  # what a write cut short by a kill would leave
        handle.write(b"+1.mp4," + bytes(16))

    code, _, err = run_cli(*args, *names)
    assert code == 0, err
    assert err.splitlines() == ["mesocli: results.csv: cut off an incomplete last line (23 bytes) left by a stopped "
                                "scan", "mesocli: resume: 2 of 4 inputs already in results.csv, 2 to scan"]
    data = Path("results.csv").read_bytes()
    assert data.startswith(first) and data.count(b"path,") == 1 and b"\r" not in data
    rows = _csv(Path("results.csv"))
    assert [row["path"] for row in rows] == ["'=SUM(1).mp4", "plain.mp4", "'+1.mp4", "caf\\udce9.mp4"]
    size, mtime = clips[0].stat().st_size, Path(names[3]).stat().st_mtime_ns
    assert (rows[3]["status"], rows[3]["file_size"], rows[3]["file_mtime_ns"]) == ("ok", str(size), str(mtime))

    code, _, err = run_cli(*args, *names)  # nothing left to do: nothing appended
    assert (code, err) == (0, "mesocli: resume: 4 of 4 inputs already in results.csv, 0 to scan\n")
    assert Path("results.csv").read_bytes() == data
    code, _, err = run_cli(*args, *names, "--threshold", "0.9")  # one output, one rule, as in JSON Lines
    assert code == 2 and "threshold 0.5, not 0.9" in err and Path("results.csv").read_bytes() == data


def test_a_csv_saved_with_crlf_line_ends_gets_rows_with_crlf(clips, run_cli: RunCli, tmp_path: Path) -> None:
    """A scan's CSV saved again by a spreadsheet or ``unix2dos`` ends its lines with ``\\r\\n`` (here with the
    byte-order mark Excel adds): it is resumed, and the rows added end as its lines do (one file, one line end)."""
    output = tmp_path / "results.csv"
    args = ("scan", "--frames", "3", "-o", output, "--resume", "-q")
    assert run_cli(*args, clips[0]).code == 0
    output.write_bytes(b"\xef\xbb\xbf" + output.read_bytes().replace(b"\n", b"\r\n"))
    code, _, err = run_cli(*args, clips[0], clips[1])
    assert code == 0 and err == "", err
    data = output.read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") == 3
    assert [row["path"] for row in _csv(output)] == [str(clips[0]), str(clips[1])]
    code, _, err = run_cli(*args[:-1], clips[0], clips[1])
    assert code == 0 and "2 of 2 inputs already in" in err and output.read_bytes() == data


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("name,score\na.mp4,1\n", "its header is not that of a mesocli scan CSV (it starts 'name,score')"),
        (",".join(CSV_COLUMNS[:-2]) + "\n", "its header lacks the file_size, file_mtime_ns columns (an earlier "
                                            "mesocli's CSV, or a CSV cut down)"),
        ('{"path": "a.mp4", "status": "ok"}\n', "its header is not that of a mesocli scan CSV (it starts "
                                                "'{\"path\": \"a.mp4\", \"status\": \"ok\"}')"),
    ],
    ids=["not-mesocli", "earlier-mesocli", "json-lines"],
)
def test_a_csv_of_another_header_is_refused_untouched(run_cli: RunCli, tmp_path: Path, text: str, why: str) -> None:
    output = tmp_path / "results.csv"
    output.write_text(text)
    result = run_cli("scan", tmp_path / "x.mp4", "-o", output, "--resume")
    assert (result.code, result.error_line()) == (2, f"{output}: {why}; --resume appends to the CSV of an earlier "
                                                     "scan by this mesocli: scan to another --output")
    assert output.read_text() == text


def _csv_text(*paths: str) -> str:
    stream = io.StringIO(newline="")
    writer = make_writer("csv", stream)
    for path in paths:
        writer.write({"path": path, "status": "error", "error": "x", "threshold": 0.5, "model": {}})
    return stream.getvalue()


@pytest.mark.parametrize(
    ("tail", "note"),
    [
        ("c.mp4,,,err", True),  # a row cut short
        ('"c\n.mp4', True),  # in a quoted cell that holds a line feed
        ("\0" * 8, True),  # zeros where the last write was lost
        ("c.mp4" + ",x" * 23, True),  # every cell, but its line end missing: the last cell may be cut
        ("c.mp4" + ",x" * 24 + "\n", False),  # a whole record of too many cells
        ("c.mp4,,,ok\n", False),  # a whole record too short
        ("c.mp4,,,error" + "," * 18 + ",1,1.79661E+18\n", False),  # an mtime a spreadsheet rounded
    ],
    ids=["cut-row", "cut-quoted-cell", "zeros", "no-line-end", "too-many-cells", "too-few-cells", "rounded-mtime"],
)
def test_a_cut_last_csv_row_is_cut_off_and_a_bad_one_refused(tmp_path: Path, tail: str, note: bool) -> None:
    output = tmp_path / "results.csv"
    whole = _csv_text("a.mp4", "=b.mp4")
    output.write_bytes((whole + tail).encode())
    if note:
        done, said = read_done(output, "csv")
        assert said == f"{output}: cut off an incomplete last line ({len(tail.encode())} bytes) left by a stopped scan"
        assert output.read_text() == whole
        assert done.find("=b.mp4", None) == ("error", None, None) and done.find("c\n.mp4", None) is None
    else:
        with pytest.raises(UsageError) as refused:
            read_done(output, "csv")
        cells = tail.count(",") + 1
        why = (f"{cells} cells, not 24" if cells != 24
               else "its file_mtime_ns cell is not a whole number: '1.79661E+18'")
        assert str(refused.value) == (f"{output}: line 4 is not a scan result ({why}); --resume needs the CSV output "
                                      "of an earlier scan")
        assert output.read_text() == whole + tail


def test_a_csv_header_cut_short_is_written_again(clips, run_cli: RunCli, tmp_path: Path) -> None:
    output = tmp_path / "results.csv"
    output.write_text(",".join(CSV_COLUMNS)[:30])  # stopped while the header was written
    code, _, err = run_cli("scan", clips[0], "--frames", "3", "-o", output, "--resume", "-q")
    assert code == 0 and "cut off an incomplete last line (30 bytes)" in err
    assert [row["path"] for row in _csv(output)] == [str(clips[0])]


def test_a_plain_csv_resumes_and_a_missing_input_that_appears_is_scanned(clips, run_cli: RunCli,
                                                                         tmp_path: Path) -> None:
    """Every CSV row has its input's file_size and file_mtime_ns (the columns are always there), so the CSV of a
    plain ``--output`` scan resumes by size and mtime too; the empty cells of an input that was missing match only
    an input still missing: once the file is there, it is scanned."""
    output, later = tmp_path / "results.csv", tmp_path / "later.mp4"
    args = ("scan", clips[0], later, "--frames", "3", "-o", output, "-q")
    assert run_cli(*args).code == 3  # later.mp4 is missing: an error row
    stats = clips[0].stat()
    assert [(row["path"], row["status"], row["file_size"], row["file_mtime_ns"]) for row in _csv(output)] == [
        (str(clips[0]), "ok", str(stats.st_size), str(stats.st_mtime_ns)), (str(later), "error", "", "")]
    code, _, err = run_cli(*args[:-1], "--resume")
    assert code == 3 and err == f"mesocli: resume: 2 of 2 inputs already in {output}, 0 to scan\n"  # still missing
    shutil.copy(clips[0], later)
    code, _, err = run_cli(*args[:-1], "--resume")
    assert code == 0 and err == f"mesocli: resume: 1 of 2 inputs already in {output}, 1 to scan\n"
    assert [(row["path"], row["status"]) for row in _csv(output)] == [
        (str(clips[0]), "ok"), (str(later), "error"), (str(later), "ok")]


def test_the_csv_header_a_resume_needs_is_documented() -> None:
    """A resume refuses a CSV of another header: the header is part of the interface, written out in docs/scan.md."""
    assert f"\n  {','.join(CSV_COLUMNS)}\n" in (Path(__file__).parents[1] / "docs" / "scan.md").read_text()


def test_min_track_frames_is_compared_in_a_csv_and_in_rows_of_an_earlier_mesocli(clips, run_cli: RunCli,
                                                                                  tmp_path: Path) -> None:
    """A CSV row carries --min-track-frames in its settings cell: a resume with another value is refused there too.
    Rows written with --all-faces before the option existed had every track decide (the rule of
    --min-track-frames 1), but carried no value: a resume at the default 3 appended rows of another rule unasked."""
    output = tmp_path / "results.csv"
    args = ["scan", str(clips[0]), "--frames", "3", "--all-faces", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 0
    before = output.read_bytes()
    code, _, err = run_cli(*args, str(clips[1]), "--min-track-frames", "1")
    assert code == 2 and "shortest deciding track 3 sampled frames, not 1 sampled frames" in err, err
    assert output.read_bytes() == before
    older = tmp_path / "older.jsonl"
    assert run_cli(*args[:-4], "-o", str(older), "--resume", "-q")[0] == 0
    row = _rows(older)[0]
    del row["settings"]["min_track_frames"]  # as an earlier mesocli wrote it
    older.write_text(json.dumps(row) + "\n")
    code, _, err = run_cli(*args[:-4], str(clips[1]), "-o", str(older), "--resume", "-q")
    assert code == 2 and "shortest deciding track 1 sampled frames, not 3 sampled frames" in err, err
    assert _rows(older) == [row]
    assert run_cli(*args[:-4], str(clips[1]), "-o", str(older), "--resume", "-q", "--min-track-frames", "1")[0] == 0
    assert len(_rows(older)) == 2


def test_all_faces_rows_written_before_the_settings_object_count_as_min_track_frames_1(
        clips, run_cli: RunCli, tmp_path: Path) -> None:
    """``--all-faces`` rows of a mesocli before the ``settings`` object came before ``--min-track-frames`` too: every
    track decided (the rule of 1). Their rule was not compared (it was read from ``settings`` only), so a resume at
    the default 3 appended rows of another rule to them unasked. It is refused in one line, the file untouched;
    ``--min-track-frames 1`` resumes them."""
    output = tmp_path / "results.jsonl"
    args = ["scan", "--frames", "3", "--all-faces", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args, str(clips[0]))[0] == 0
    row = _rows(output)[0]
    del row["settings"]  # as a mesocli before the settings object wrote it
    output.write_text(json.dumps(row) + "\n")
    before = output.read_bytes()
    code, _, err = run_cli(*args, str(clips[1]))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "shortest deciding track 1 sampled frames, not 3 sampled frames" in err, err
    assert output.read_bytes() == before
    assert run_cli(*args, str(clips[1]), "--min-track-frames", "1")[0] == 0
    assert [r["path"] for r in _rows(output)] == [str(clips[0]), str(clips[1])]


def test_rows_of_mpeg_ts_ps_picked_by_an_earlier_rule_are_not_joined_and_mp4_rows_are(
        clips, run_cli: RunCli, tmp_path: Path) -> None:
    """--frames N picks other frames of an MPEG-TS or MPEG-PS file since its packets are counted: a resume over rows
    of such files written before (no ``sampling.rule``) is refused in one line naming --output, the file untouched;
    older rows of other files (an MP4's frames are picked alike) still resume, as do rows of the current rule."""
    output = tmp_path / "results.jsonl"
    args = ["scan", str(clips[0]), "--frames", "3", "-o", str(output), "--resume", "-q"]
    assert run_cli(*args)[0] == 0
    row = _rows(output)[0]
    assert row["settings"]["sampling"]["rule"] == 2
    old_mp4 = {**row, "settings": {**row["settings"], "sampling": {"mode": "frames", "value": 3}}}
    old_ts = {**old_mp4, "path": str(tmp_path / "cut.ts"), "file": None}
    output.write_text(json.dumps(old_mp4) + "\n" + json.dumps(old_ts) + "\n")
    before = output.read_bytes()
    code, _, err = run_cli(*args, str(clips[1]))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert ("MPEG-TS/PS frame picking from the length its header guessed (an earlier mesocli), not from its "
            "packets counted" in err and "--output" in err), err
    assert output.read_bytes() == before
    output.write_text(json.dumps(old_mp4) + "\n" + json.dumps({**row, "path": str(tmp_path / "cut.ts")}) + "\n")
    assert run_cli(*args, str(clips[1]))[0] == 0  # an older MP4 row and a TS row of this rule: joined
    assert [r["path"] for r in _rows(output)][-1] == str(clips[1])


def test_detector_none_rows_of_an_earlier_mesocli_resized_bilinear_are_not_joined_by_nearest_ones(
        run_cli: RunCli, tmp_path: Path, authors_weights: Path) -> None:
    """``--detector none`` rows written before ``settings.resize`` resized every crop bilinear, the authors' weights
    too; their crops are now resized nearest. A resume appended nearest rows to bilinear ones of the same weights
    unasked (the resize was not compared): it is refused in one line, the file untouched."""
    from PIL import Image

    crops = []
    for n in range(2):
        crops.append(tmp_path / f"crop{n}.png")
        Image.new("RGB", (90, 110), (120 + n, 90, 80)).save(crops[-1])
    output = tmp_path / "results.jsonl"
    args = ["scan", "--detector", "none", "--weights", str(authors_weights / "Meso4_DF.h5"), "-o", str(output),
            "--resume", "-q"]
    assert run_cli(*args, str(crops[0]))[0] == 0
    row = _rows(output)[0]
    assert row["settings"]["resize"] == "nearest"
    del row["settings"]["resize"]  # as a mesocli before settings.resize wrote it (it resized bilinear)
    output.write_text(json.dumps(row) + "\n")
    before = output.read_bytes()
    code, _, err = run_cli(*args, str(crops[1]))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "crop resize bilinear, not nearest" in err, err
    assert output.read_bytes() == before
    row["settings"]["resize"] = "nearest"  # this mesocli's rows of those weights are joined
    output.write_text(json.dumps(row) + "\n")
    assert run_cli(*args, str(crops[1]))[0] == 0
    assert [r["path"] for r in _rows(output)] == [str(crops[0]), str(crops[1])]


def test_a_resume_from_another_folder_finds_the_rows_of_the_same_bytes(
        kit: MediaKit, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A moderator's ``scan build/inbox -o rows.jsonl --resume``, stopped, then resumed from inside ``build`` as
    ``scan inbox -o rows.jsonl --resume``: rows were matched by the path as written, so every input was scanned
    again and got a second row (a note said so). A row's path that names no file from here, of the input's name,
    size, mtime and sha256, is now its row: no second row, the row's path kept. With ``--no-hash`` (no bytes to
    compare) the input still gets a second row, and the note says why."""
    folder = tmp_path / "build" / "inbox"
    folder.mkdir(parents=True)
    photo = Path(shutil.copy(kit.face_jpeg, folder / "photo.jpg"))
    output = tmp_path / "build" / "rows.jsonl"
    monkeypatch.chdir(tmp_path)
    assert run_cli("scan", "build/inbox", "--detector", "none", "-o", output, "--resume", "-q").code == 0
    monkeypatch.chdir(tmp_path / "build")
    code, _, err = run_cli("scan", "inbox", "--detector", "none", "-o", output, "--resume")
    assert code == 0, err
    assert err.splitlines() == [
        f"mesocli: resume: 1 of 1 inputs already in {output}, 0 to scan",
        f"mesocli: resume: 1 of them is in {output} under another path (inbox/{photo.name} as build/inbox/"
        f"{photo.name}: the same file, or one of the same name, size, time and bytes): not scanned again, its row "
        "keeps that path"]
    assert [row["path"] for row in _rows(output)] == [f"build/inbox/{photo.name}"]
    code, _, err = run_cli("scan", "inbox", "--detector", "none", "-o", output, "--resume", "-q", "--no-hash")
    assert code == 0, err
    assert err.splitlines() == [
        f"mesocli: resume: 1 input to scan may be in {output} under another path (inbox/{photo.name} as "
        f"build/inbox/{photo.name}: the same name, size and time, but no sha256 to compare, or a path that names "
        "another file from here): each gets a second row; resume from the same folder as the first run (and, with "
        "--no-hash, with the same INPUT arguments)"]
    assert [row["path"] for row in _rows(output)] == [f"build/inbox/{photo.name}", f"inbox/{photo.name}"]


def test_a_resume_finds_the_row_of_a_file_however_its_path_is_spelt(
        kit: MediaKit, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan inbox -o rows.jsonl --resume``, resumed as ``./inbox``, by absolute path, through a link to the folder
    or to the file, or by a hard link: rows were matched by the path as written, so each such resume scanned the
    file again and wrote a second row (with ``--no-hash`` too, which compares size and mtime). The row of the same
    file (device and inode) is now its row, whatever spelling it has, and its path is kept."""
    monkeypatch.chdir(tmp_path)
    Path("inbox").mkdir()
    shutil.copy(kit.face_jpeg, "inbox/photo.jpg")
    Path("linked").symlink_to("inbox")
    os.link("inbox/photo.jpg", "hard.jpg")
    args = ("--detector", "none", "-o", "rows.jsonl", "--resume", "-q")
    assert run_cli("scan", "inbox", *args).code == 0
    first = _rows(tmp_path / "rows.jsonl")
    for spelt in ("./inbox", "./inbox/photo.jpg", str(tmp_path / "inbox"), "linked", "linked/photo.jpg", "hard.jpg"):
        for hashing in ((), ("--no-hash",)):
            code, _, err = run_cli("scan", spelt, *args, *hashing)
            assert (code, err) == (0, ""), spelt
            assert _rows(tmp_path / "rows.jsonl") == first, spelt


def test_a_file_changed_since_its_row_is_scanned_again_under_any_spelling(
        kit: MediaKit, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file matched to its row under another spelling keeps no stale verdict: once its bytes changed, it is
    scanned again and its new row, under this run's spelling, is the file's current one, which a resume under the
    first spelling then finds (and does not scan it a third time)."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    Path("inbox").mkdir()
    shutil.copy(kit.face_jpeg, "inbox/photo.jpg")
    args = ("--detector", "none", "-o", "rows.jsonl", "--resume", "-q")
    assert run_cli("scan", "./inbox/photo.jpg", *args).code == 0
    Image.open(kit.face_jpeg).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save("inbox/photo.jpg", quality=70)
    assert run_cli("scan", "inbox/photo.jpg", *args).code == 0
    rows = _rows(tmp_path / "rows.jsonl")
    assert [row["path"] for row in rows] == ["./inbox/photo.jpg", "inbox/photo.jpg"]
    assert rows[1]["sha256"] == hashlib.sha256(Path("inbox/photo.jpg").read_bytes()).hexdigest() != rows[0]["sha256"]
    code, _, err = run_cli("scan", "./inbox/photo.jpg", *args)
    assert (code, err) == (0, "")
    assert _rows(tmp_path / "rows.jsonl") == rows


def test_a_resume_says_nothing_of_another_path_when_that_path_is_an_input_too(
        kit: MediaKit, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan inbox/a -o rows.jsonl --resume``, then the whole ``scan inbox -o rows.jsonl --resume``, whose
    ``inbox/b/photo.jpg`` is a ``cp -p`` copy of ``inbox/a/photo.jpg``: the same name, size and mtime, so the note
    said that it "may be in rows.jsonl under another path" and to resume "with the same INPUT arguments", though
    that other path is one of this very run's inputs, held: a second file, not a moved one (a hard link is one
    file: noted as another name of it, one row)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inbox" / "a").mkdir(parents=True)
    (tmp_path / "inbox" / "b").mkdir()
    shutil.copy(kit.face_jpeg, "inbox/a/photo.jpg")
    shutil.copy2("inbox/a/photo.jpg", "inbox/b/photo.jpg")
    assert run_cli("scan", "inbox/a", "--detector", "none", "-o", "rows.jsonl", "--resume", "-q").code == 0
    code, _, err = run_cli("scan", "inbox", "--detector", "none", "-o", "rows.jsonl", "--resume", "-q")
    assert (code, err) == (0, "")
    assert [row["path"] for row in _rows(tmp_path / "rows.jsonl")] == ["inbox/a/photo.jpg", "inbox/b/photo.jpg"]
    os.remove("inbox/b/photo.jpg")
    os.link("inbox/a/photo.jpg", "inbox/b/photo.jpg")
    Path("rows.jsonl").write_text(Path("rows.jsonl").read_text().splitlines(keepends=True)[0])
    code, _, err = run_cli("scan", "inbox", "--detector", "none", "-o", "rows.jsonl", "--resume", "-q")
    assert code == 0
    assert err == ("mesocli: inbox/b/photo.jpg: the same file as inbox/a/photo.jpg (a link, or another spelling of "
                   "its path): scanned once, its row is under that name\n")
    assert [row["path"] for row in _rows(tmp_path / "rows.jsonl")] == ["inbox/a/photo.jpg"]
