"""Interruptions: ``kill -9`` and Ctrl-C in the middle of ``extract``, ``kill -9`` in ``train``, a full disk
during training.

The killed runs are real child processes stopped at a chosen point (a crop written under its temporary
name; the second step of epoch 2), so the tests are deterministic. Each is resumed and compared with an
uninterrupted run: same files, same manifest lines; the same trained variables.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROW_END, RunCli, parsed_rows, read_until
from media import MediaKit, make_face_video, make_faces

from mesocli.cli_base import SAME_STOP_SECONDS
from mesocli.manifest import LOCK, MANIFEST
from mesocli.scan import ScanOptions
from mesocli.training import Trainer
from robustness.helpers import FaultyFs, kill_9, start_paused, tree

pytestmark = pytest.mark.slow  # every test here kills or resumes a real run (or trains the reference run)

# ---------------------------------------------------------------------------------------------- extract

EXTRACT = ("--frames", "4", "--workers", "1", "--format", "json")


def _face_lines(out: Path) -> list[str]:
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    return sorted(json.dumps(line, sort_keys=True) for line in lines if line["type"] == "face")


def _crops(out: Path) -> dict[str, str]:
    return {name: digest for name, digest in tree(out).items() if name.endswith(".jpg")}


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory, kit: MediaKit) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for i in range(3):
        make_face_video(folder / f"v{i}.mp4", frames=8, angles=[4.0 * i] * 8)
    return folder


def test_kill_9_during_extract_then_resume(videos: Path, tmp_path: Path, run_cli: RunCli) -> None:
    out = tmp_path / "out"
    child = start_paused(["extract", videos, out, *EXTRACT], "crop", 6, tmp_path / "stopped")
    try:
        # meanwhile a second extract into the same OUT_DIR is refused, and leaves the manifest alone
        manifest = (out / MANIFEST).read_bytes()
        second = run_cli("extract", videos, out, *EXTRACT)
        assert second.code == 2
        assert second.error_line() == (f"{out} is in use by another 'mesocli extract' (pid {child.pid}): "
                                       "wait for it to end, or use another OUT_DIR")
        assert (out / MANIFEST).read_bytes() == manifest
    finally:
        kill_9(child)
    # what the kill left: v0 complete, a crop of v1 renamed into place but unlisted, one half-way (.part)
    left = tree(out)
    assert any(name.endswith(".part") for name in left), left
    assert [json.loads(line)["name"] for line in (out / MANIFEST).read_text().splitlines()
            if '"type": "input"' in line] == ["v0"]

    resumed = run_cli("extract", videos, out, *EXTRACT)
    assert resumed.code == 0 and resumed.err == ""
    assert [i["status"] for i in json.loads(resumed.out)["inputs"]] == ["skipped", "ok", "ok"]
    clean = tmp_path / "clean"
    assert run_cli("extract", videos, clean, *EXTRACT).code == 0
    assert _crops(out) == _crops(clean) and len(_crops(out)) == 12
    assert _face_lines(out) == _face_lines(clean)
    assert set(tree(out)) == set(_crops(out)) | {MANIFEST, LOCK}  # no orphan, no temporary file


DATASET = ("--layout", "dataset", "--label", "real", "--workers", "1", "--format", "json")


def _stop_in_v1(videos: Path, out: Path, marker: Path) -> subprocess.Popen:
    """A dataset extract (4 frames of 8: 1, 3, 5, 7) stopped at its 7th crop: v0 done, v1's frames 1 and 3
    written but not listed, frame 5 half-way. ``out`` holds someone's file named like a crop of v1."""
    theirs = out / "real" / "v1_9.jpg"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("theirs\n")
    os.utime(theirs, (1.6e9, 1.6e9))
    return start_paused(["extract", videos, out, "--frames", "4", *DATASET, "--force"], "crop", 7, marker)


@pytest.mark.parametrize("then", ["force-other-settings", "resume-without-it"])
def test_no_unlisted_crop_after_kill_9(then: str, videos: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """A killed run's unfinished crops are deleted by the next run, whatever its settings and inputs; a file
    mesocli did not write is kept, even if named like one of them.

    Found by an auditor: ``--force`` with other settings left them, unlisted, in the dataset ``train`` reads.
    """
    out = tmp_path / "out"
    kill_9(_stop_in_v1(videos, out, tmp_path / "stopped"))
    assert {"real/v1_1.jpg", "real/v1_3.jpg"} <= set(_crops(out))
    if then == "force-other-settings":  # frames 2 and 6: none of the old names is written again
        inputs, options = [videos], ["--frames", "2"]
        assert run_cli("extract", *inputs, out, *options, *DATASET).code == 2  # refused: deletes nothing yet
        resumed = run_cli("extract", *inputs, out, *options, *DATASET, "--force")
    else:  # same settings, but v1 is left out
        inputs, options = [videos / "v0.mp4", videos / "v2.mp4"], ["--frames", "4"]
        resumed = run_cli("extract", *inputs, out, *options, *DATASET)
    assert resumed.code == 0, resumed.err
    clean = tmp_path / "clean"
    assert run_cli("extract", *inputs, clean, *options, *DATASET).code == 0
    assert _crops(out) == _crops(clean) | {"real/v1_9.jpg": _crops(out)["real/v1_9.jpg"]}
    assert _face_lines(out) == _face_lines(clean)
    assert set(tree(out)) == set(_crops(out)) | {MANIFEST, LOCK}
    assert (out / LOCK).read_text().count("\n") == 1  # the pid only: nothing left unfinished



@pytest.fixture(autouse=True)
def _sighup_at_its_default() -> Iterator[None]:
    """Under ``nohup`` (a background job, some CI runners) SIGHUP is ignored, and a child inherits that: mesocli then
    rightly leaves it ignored, and a test's SIGHUP would find nothing to stop. The children here get it as a closed
    terminal sends it, to a process whose SIGHUP has its default action."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGHUP, previous)

@pytest.mark.parametrize(("number", "status", "said"), [(signal.SIGINT, 130, b""),
                                                      (signal.SIGTERM, 143, b"mesocli: stopped by SIGTERM\n"),
                                                      (signal.SIGHUP, 129, b"mesocli: stopped by SIGHUP\n")])
def test_ctrl_c_or_sigterm_during_extract_leaves_only_listed_crops(number: int, status: int, said: bytes,
                                                                   videos: Path, tmp_path: Path) -> None:
    """SIGTERM (kill, timeout, a scheduler) stops as Ctrl-C does. Found by an auditor: it ended the process on
    the spot, leaving the crops of the input being extracted for the next run to delete. SIGHUP (a closed terminal or
    SSH session) too: it ended the process on the spot (status 129 from the system, nothing cleaned up)."""
    out = tmp_path / "out"
    child = _stop_in_v1(videos, out, tmp_path / "stopped")
    child.send_signal(number)
    assert child.wait(timeout=60) == status
    assert child.stderr.read() == said  # no traceback
    child.stderr.close()
    listed = {json.loads(line)["file"] for line in _face_lines(out)}
    assert len(listed) == 4  # v0's; v1's crops are deleted, someone's file is not
    assert set(tree(out)) == listed | {MANIFEST, LOCK, "real/v1_9.jpg"}
    assert (out / "real" / "v1_9.jpg").read_text() == "theirs\n"
    assert (out / LOCK).read_text().count("\n") == 1  # nothing left for the next run to clean up


_PAUSED_IN_WORKERS = '''
import os, pathlib, signal
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" in pathlib.Path("/proc/self/cmdline").read_text():
    _real_replace, _marks = os.replace, pathlib.Path(os.environ["MESOCLI_TEST_MARKS"])
    def _replace(src, dst, **kwargs):  # a worker: every video but v0 stops at its second crop, written in place
        result = _real_replace(src, dst, **kwargs)
        video = pathlib.Path(dst).parent.name  # (crops go to OUT_DIR/<video>/<frame>.jpg)
        if pathlib.Path(dst).name == "3.jpg" and video != "v0":
            (_marks / video).touch()
            signal.pause()
        return result
    os.replace = _replace
'''


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_ctrl_c_during_extract_with_workers_keeps_the_inputs_done(videos: Path, tmp_path: Path) -> None:
    """``extract --workers 2`` stopped by Ctrl-C once v0 is done while v1 and v2 are half-way in their workers (a
    ``sitecustomize`` that only the workers run holds each after its second crop): exit 130, quietly; the
    manifest lists v0's crops, the crops of v1 and v2 are deleted, nothing is left unfinished; a rerun keeps v0
    and extracts the other two."""
    hooks, marks, out = tmp_path / "hooks", tmp_path / "marks", tmp_path / "out"
    hooks.mkdir(), marks.mkdir()
    (hooks / "sitecustomize.py").write_text(_PAUSED_IN_WORKERS)
    env = {**os.environ, "MESOCLI_TEST_MARKS": str(marks),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}
    options = ["--frames", "4", "--format", "json"]
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "extract", videos, out, *options, "--workers", "2"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not ((marks / "v1").exists() and (marks / "v2").exists()
                   and (out / MANIFEST).exists() and len(_face_lines(out)) == 4):
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "v0 not done, or v1 and v2 not held, in 120 s"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)  # to mesocli alone: its workers ignore Ctrl-C
        assert child.wait(timeout=60) == 130
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
    err = child.stderr.read().decode()
    child.stderr.close()
    assert "Traceback" not in err, err
    listed = {json.loads(line)["file"] for line in _face_lines(out)}
    assert len(listed) == 4 and all(name.startswith("v0/") for name in listed), listed
    assert set(tree(out)) == listed | {MANIFEST, LOCK}  # v1's and v2's crops deleted
    assert (out / LOCK).read_text().count("\n") == 1  # nothing left for the next run to clean up
    again = subprocess.run([sys.executable, "-m", "mesocli", "extract", videos, out, *options, "--workers", "1"],
                           capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    statuses = {Path(row["source"]).name: row["status"] for row in json.loads(again.stdout)["inputs"]}
    assert statuses == {"v0.mp4": "skipped", "v1.mp4": "ok", "v2.mp4": "ok"}, statuses
    assert len(_face_lines(out)) == 12 and set(tree(out)) == set(_crops(out)) | {MANIFEST, LOCK}


# ---------------------------------------------------------------------------------------------- scan


def _processes() -> dict[int, tuple[int, str, str]]:
    """Every process: pid -> (parent pid, state, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(entry)] = (int(fields[1]), fields[0], command)
    return found


def _descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (workers, their ffmpeg): pid -> command line."""
    table, found, todo = _processes(), {}, [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, _state, command) in table.items():
            if ppid == parent and child not in found:
                found[child] = command
                todo.append(child)
    return found


def _running(pids: Iterable[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie has stopped: it waits for its parent, or init, to reap it)."""
    table = _processes()
    return [pid for pid in pids if pid in table and table[pid][1] != "Z"]


@pytest.mark.parametrize(("number", "status", "workers"), [(signal.SIGTERM, 143, 1), (signal.SIGTERM, 143, 2),
                                                          (signal.SIGHUP, 129, 1)])
def test_sigterm_stops_scan_with_its_workers_and_ffmpeg(number: int, status: int, workers: int, kit: MediaKit,
                                                        tmp_path: Path) -> None:
    """Found by an auditor: SIGTERM ended scan on the spot; its workers and their ffmpeg ran on for ~20 s,
    then printed BrokenPipeError tracebacks, and the output's temporary file stayed behind. Found by a pipeline
    engineer: SIGHUP (a closed terminal or SSH session) ended scan on the spot too (status 129 from the system). Both
    stop it now: the temporary file removed, the workers stopped, one line, status 143 (129)."""
    name = signal.Signals(number).name
    output = tmp_path / "out.json"
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", kit.long_face_video, kit.face_video,
                              "--all-frames", "--workers", str(workers), "-q", "-o", output],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        below: dict[int, str] = {}
        while not any("face_long" in command and "ffmpeg" in command for command in below.values()):
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
            below = _descendants(child.pid)
        child.send_signal(number)  # mid-video: the output's temporary file is there, ffmpeg decoding
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, out) == (status, b""), err
    assert err.decode() == (f"mesocli: stopped by {name} after 0 inputs: {output} was not written (it is written "
                            "whole at the end); -o FILE.jsonl --resume keeps each row as it is done\n"
                            f"mesocli: stopped by {name}\n")
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file
    deadline = time.monotonic() + 10  # the workers are gone (terminated); an orphaned ffmpeg ends on its pipe
    while _running(below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(below) == [], below


def _scan_rows(out: bytes) -> list[tuple[str, str, float | None]]:
    return [(row["path"], row["status"], row["p_fake"]) for row in map(json.loads, out.decode().splitlines())]


def test_a_scan_worker_killed_once_costs_no_input(kit: MediaKit, tmp_path: Path) -> None:
    """A ``scan --workers`` worker killed (the kernel's out-of-memory killer on a large video, a stray kill -9):
    the scan waited for its input for ever; then it stopped there (one line, exit 3), the rest of a long batch
    undone. Now the inputs it may have held are scanned again, each alone: every input gets the row (and the
    p_fake) of a run without the kill, in input order, exit status 0, no worker left."""
    command = [sys.executable, "-m", "mesocli", "scan", kit.long_face_video, kit.face_video, kit.face_jpeg,
               "--frames", "60", "--workers", "2", "-q", "--format", "jsonl"]
    clean = subprocess.run(command, capture_output=True, timeout=240)
    assert clean.returncode == 0, clean.stderr.decode()[-2000:]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        workers: list[int] = []
        while not workers:  # the worker whose ffmpeg reads the long video (one snapshot: an ffmpeg may end)
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
            table = _processes()
            workers = [ppid for ppid, _state, command in table.values() if "face_long" in command
                       and "ffmpeg" in command and table.get(ppid, (0,))[0] == child.pid]
        below = _descendants(child.pid)
        os.kill(workers[0], signal.SIGKILL)
        try:
            out, err = child.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail("the scan hung after its worker was killed")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 0, err
    assert _scan_rows(out) == _scan_rows(clean.stdout)
    assert [status for _, status, _ in _scan_rows(out)] == ["ok"] * 3
    assert err.decode().startswith("mesocli: a worker process died (killed by signal 9; out of memory?); scanning "
                                   "again, each alone, the "), err
    assert "Traceback" not in err.decode()
    deadline = time.monotonic() + 10  # Python's resource tracker ends once it sees the scan's end
    while _running(below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(below) == [], below


_KILLED_ON = '''
import os, pathlib, signal
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" in pathlib.Path("/proc/self/cmdline").read_text():
    import mesocli.parallel as parallel  # a worker: killed (kill -9) by every input named die*, or else hangs
    _scan_one, _marks = parallel._scan_one, pathlib.Path(os.environ["MESOCLI_TEST_MARKS"])
    def _killed_on_die(path):
        if pathlib.Path(path).name.startswith("die"):
            with open(_marks / "die.attempts", "a") as attempts:
                attempts.write("x")
            if os.environ.get("MESOCLI_TEST_HANG") and (_marks / "die.attempts").stat().st_size > 1:
                (_marks / "hanging").touch()
                signal.pause()
            os.kill(os.getpid(), signal.SIGKILL)
        return _scan_one(path)
    parallel._scan_one = _killed_on_die
'''


def _killing_hook(tmp_path: Path, **env: str) -> tuple[dict[str, str], Path]:
    return _hooked(tmp_path, _KILLED_ON, **env)


def _hooked(tmp_path: Path, hook: str, **env: str) -> tuple[dict[str, str], Path]:
    """The environment of a child process that runs ``hook`` as its ``sitecustomize`` (its marks in the folder
    returned, MESOCLI_TEST_MARKS), with ``env`` added."""
    hooks, marks = tmp_path / "hooks", tmp_path / "marks"
    hooks.mkdir(), marks.mkdir()
    (hooks / "sitecustomize.py").write_text(hook)
    return {**os.environ, **env, "MESOCLI_TEST_MARKS": str(marks),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}, marks


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_an_input_that_kills_its_worker_every_time_is_an_error_row(kit: MediaKit, tmp_path: Path) -> None:
    """An input whose worker dies every time (here: a ``sitecustomize`` that only the spawned workers run kills
    them on ``die.jpg``): it is an ``error`` row (``its worker process died twice``), the others are ``ok``, in
    input order, exit status 3; the --resume output holds one whole row each, and a resume of the others
    scans that input alone."""
    env, marks = _killing_hook(tmp_path)
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["a.jpg", "die.jpg", "b.jpg", "c.jpg", "d.jpg"]
    for name in names:
        shutil.copy(kit.face_jpeg, folder / name)
    output = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "mesocli", "scan", *(folder / name for name in names), "--workers", "2", "-q",
               "-o", output, "--resume"]
    done = subprocess.run(command, env=env, capture_output=True, timeout=240)
    assert done.returncode == 3, done.stderr.decode()[-2000:]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(Path(row["path"]).name, row["status"]) for row in rows] == [
        (name, "error" if name == "die.jpg" else "ok") for name in names]
    assert rows[1]["error"] == f"{folder / 'die.jpg'}: its worker process died twice (killed by signal 9; out of " \
                               "memory?)"
    assert (marks / "die.attempts").read_text() == "xx"
    assert "Traceback" not in done.stderr.decode()
    # its errors tried again as docs/scale.md says (the other rows kept, then resumed; here without the hook)
    output.write_text("".join(line + "\n" for line in output.read_text().splitlines()
                              if json.loads(line)["status"] != "error"))
    again = subprocess.run(command, capture_output=True, timeout=240)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(Path(row["path"]).name, row["status"]) for row in rows] == [
        *[(name, "ok") for name in names if name != "die.jpg"], ("die.jpg", "ok")]


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_ctrl_c_while_an_input_is_scanned_again_stops_cleanly(kit: MediaKit, tmp_path: Path) -> None:
    """Ctrl-C while the inputs of a dead worker are scanned again, each alone: the scan stops as ever (130, its
    one line), no worker left."""
    env, marks = _killing_hook(tmp_path, MESOCLI_TEST_HANG="1")
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "die.jpg", "b.jpg"):
        shutil.copy(kit.face_jpeg, folder / name)
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", folder, "--workers", "2", "-q", "--format",
                              "jsonl"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (marks / "hanging").exists():
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        below = _descendants(child.pid)
        os.killpg(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, err
    assert "Traceback" not in err.decode()
    # the note that it scans die.jpg again, and nothing else (no "leaked semaphore" warning of Python's resource
    # tracker: the model reached the workers on a queue, whose locks it reported, 1 run in 10)
    lines = err.decode().splitlines()
    assert [line.startswith("mesocli: a worker process died (killed by signal 9") for line in lines] == [True], lines
    deadline = time.monotonic() + 10
    while _running(below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(below) == [], below


_KILLED_THEN_HELD = '''
import os, pathlib, signal, time
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" in pathlib.Path("/proc/self/cmdline").read_text():
    import mesocli.parallel as parallel  # a worker: die.jpg kills it the first time; every other input waits for
    _scan_one, _marks = parallel._scan_one, pathlib.Path(os.environ["MESOCLI_TEST_MARKS"])  # the test's mark
    def _hooked(path):
        name = pathlib.Path(path).name
        if name == "die.jpg" and not (_marks / "died").exists():
            (_marks / "died").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        while name != "die.jpg" and not (_marks / "stopping").exists():  # (in the first pool: until it breaks)
            time.sleep(0.02)
        (_marks / f"{name}.scanning").touch()
        return _scan_one(path)
    parallel._scan_one = _hooked
'''


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_stop_while_inputs_are_scanned_again_keeps_the_results_sent_back(kit: MediaKit, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop (Ctrl-C) while the inputs of a dead worker are scanned again, each alone (here: as the first input's
    row is out), once another of them has sent its result back: that result is given too, in input order, then
    the stop. It was dropped with its pool (counted not scanned, scanned again by ``--resume``), as the main
    pool's were before they were kept."""
    import gc
    from concurrent.futures import Future

    from mesocli.parallel import scan_parallel
    from mesocli.runtime import resolve

    hooks, marks = tmp_path / "hooks", tmp_path / "marks"
    hooks.mkdir(), marks.mkdir()
    (hooks / "sitecustomize.py").write_text(_KILLED_THEN_HELD)
    monkeypatch.setenv("MESOCLI_TEST_MARKS", str(marks))  # (the spawned workers get this process's environment)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")])))
    paths = [str(tmp_path / name) for name in ("die.jpg", "a.jpg", "b.jpg")]
    for path in paths:
        shutil.copy(kit.face_jpeg, path)
    stop = KeyboardInterrupt()
    stopped: list[str] = []

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "done" and not stopped:  # die.jpg, scanned again: a.jpg is scanned again beside it, b.jpg waits
            stopped.append(path)
            (marks / "stopping").touch()
            for _ in range(1200):  # a.jpg's result is back (each task is a Future of a pool)
                if (marks / "a.jpg.scanning").exists() and \
                        all(future.done() for future in gc.get_objects() if isinstance(future, Future)):
                    break
                time.sleep(0.05)
            raise stop

    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in scan_parallel(paths, resolve(None, "df", None), ScanOptions(frames=1), workers=2,
                                    progress=hook, log=lambda line: None):
            got.append((Path(result.path).name, result.status))
    assert raised.value is stop and stopped == paths[:1]
    assert got == [("die.jpg", "ok"), ("a.jpg", "ok")]  # b.jpg was not started again


_HELD_AFTER_THE_ERROR = '''
import os, pathlib, time
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" not in pathlib.Path("/proc/self/cmdline").read_text():
    import mesocli.scan_run as scan_run  # the scan itself: after the error, its second row waits for a signal
    _rows_on_stop, _marks = scan_run.rows_on_stop, pathlib.Path(os.environ["MESOCLI_TEST_MARKS"])
    def _held(results, stop):
        for number, row in enumerate(_rows_on_stop(results, stop)):
            if number == 1:
                (_marks / "held").touch()
                time.sleep(120)  # (Ctrl-C ends it)
            yield row
    scan_run.rows_on_stop = _held
'''


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
@pytest.mark.parametrize(("number", "how"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_while_the_rows_after_an_error_are_written_keeps_the_error(number: int, how: str, kit: MediaKit,
                                                                          tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) while the rows of the inputs read whole before an error of the writing side (a heatmap
    that cannot be written) are written: the error is still what the run ends with, its one line and exit status
    (2), with the rows written after it and the interrupt said under it. The interrupt hid it: exit 130 (143),
    no error line, as if the user had stopped a run that had not failed."""
    env, marks = _hooked(tmp_path, _HELD_AFTER_THE_ERROR)
    paths = [tmp_path / f"{name}.jpg" for name in "abcd"]
    for path in paths:
        shutil.copy(kit.face_jpeg, path)
    heat = tmp_path / "heat"
    heat.mkdir()
    (heat / "b").write_text("not a folder")  # where b.jpg's heatmaps go
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *paths, "--workers", "1", "--detector", "none",
                              "--format", "jsonl", "--explain", heat, "--force", "-q"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (marks / "held").exists():  # c's row written after the error; d's waits
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        child.send_signal(number)
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    lines = err.decode().splitlines()
    assert child.returncode == 2, err
    assert [row["path"] for row in map(json.loads, out.decode().splitlines())] == [str(p) for p in paths[:3]]
    assert lines[0].startswith("mesocli: error: ") and "is not a folder" in lines[0], lines
    assert lines[1:] == ["mesocli: after the error, the rows of 1 more input read whole before it were written "
                         "(3 in all)",
                         f"mesocli: interrupted by {how} while the rows of the inputs read whole before the error "
                         "were written; the rest of them were not"]


_A_LONG_BATCH = '''
import ctypes, os, pathlib, signal, threading, time
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" not in pathlib.Path("/proc/self/cmdline").read_text():
    import mesocli.runtime as runtime  # the scan itself: its first batch runs in C until the test's "release" mark
    _marks, _libc = pathlib.Path(os.environ["MESOCLI_TEST_MARKS"]), ctypes.CDLL(None)
    _p_real = runtime.OnnxPredictor.p_real
    _mutex, _held = ctypes.create_string_buffer(64), threading.Event()  # (zeros: a pthread mutex, unlocked)
    def _holder():
        _libc.pthread_mutex_lock(_mutex)
        _held.set()
        while not (_marks / "release").exists():
            time.sleep(0.05)
        _libc.pthread_mutex_unlock(_mutex)
    def _long(self, faces):  # as a network's batch of --batch-size 512 with --model any: no signal ends the call
        if not _held.is_set():
            threading.Thread(target=_holder, daemon=True).start()
            _held.wait()
            (_marks / "scoring").touch()
            _libc.pthread_mutex_lock(_mutex)  # (signals do not end it: the handlers run once it returns)
            _libc.pthread_mutex_unlock(_mutex)
        return _p_real(self, faces)
    runtime.OnnxPredictor.p_real = _long
    _heard = []
    def _interrupt(number, frame):  # Python's own handler, which says when it runs
        _heard.append(number)
        (_marks / f"sigint-{len(_heard)}").touch()
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, _interrupt)
    import mesocli.errors as _errors  # the CLI's SIGTERM handler raises Terminated: made, it says so
    _terminated = []
    def _made(self, *args):
        _terminated.append(1)
        (_marks / f"sigterm-{len(_terminated)}").touch()
        KeyboardInterrupt.__init__(self, *args)
    _errors.Terminated.__init__ = _made
'''
_WAIT = {"x86_64": "202", "aarch64": "98"}.get(os.uname().machine)
"""The number of the futex system call here (a thread waiting for a lock or an event); None: not known."""


@pytest.mark.skipif(_WAIT is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_second_ctrl_c_drops_the_batch_being_scored(number: signal.Signals, kit: MediaKit, tmp_path: Path) -> None:
    """Ctrl-C while the network scores a long batch (``--batch-size 512 --model any``: 10 s and more), then Ctrl-C
    again: the scan stops at once (130), the batch dropped, and one line says so. Neither was heard until the batch
    was done (the network ran in the main thread: a signal's handler waits for the call's end), so the stop took as
    long as the batch, the second Ctrl-C too, though the documentation said that it stops at once. (Here a batch that
    runs until the test releases it.) A second SIGTERM does the same (143, then its own line): it did nothing (the
    first had set a handler that ignored the next), and the scan waited for the batch."""
    env, marks = _hooked(tmp_path, _A_LONG_BATCH)
    first = "sigint-1" if number == signal.SIGINT else "sigterm-1"
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", kit.face_jpeg, kit.face_jpeg, "--workers", "1",
                              "--detector", "none", "--batch-size", "512", "--format", "jsonl"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def waits() -> bool:  # the scan's main thread waits (for the batch), after its handler of the last signal
        return Path(f"/proc/{child.pid}/syscall").read_text().split()[0] == _WAIT

    try:
        for step, seconds in (("scoring", 240), (first, 60)):
            deadline = time.monotonic() + seconds
            while not ((marks / step).exists() and waits()):
                assert child.poll() is None, child.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, f"no {step}: the signal is not heard while a batch is scored"
                time.sleep(0.05)
            if step == "sigterm-1":  # (one within SAME_STOP_SECONDS of the first is the same stop)
                time.sleep(SAME_STOP_SECONDS + 0.2)
            child.send_signal(number)
        try:
            out, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the second {number.name} did not stop the scan: it waits for the batch")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert (child.returncode, out) == ((130, b"") if number == signal.SIGINT else (143, b"")), err
    assert err.decode().splitlines() == ["mesocli: stopped at once: the face being scored was dropped, with the "
                                         "inputs that waited for it (not reported)",  # (the first photo's)
                                         *(["mesocli: stopped by SIGTERM"] if number == signal.SIGTERM else [])]


@pytest.mark.skipif(_WAIT is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
def test_a_sigterm_sent_twice_at_once_is_one_stop(kit: MediaKit, tmp_path: Path) -> None:
    """``timeout 60 mesocli scan ...``: GNU timeout sends its SIGTERM to the command, then to the command's process
    group, the command again: two at once. That is one stop: the batch being scored is finished, its input
    reported, 143. The second was taken for a user who insists (a second SIGTERM stops at once): the batch was
    dropped, now and then (when the first had been handled before the second came). Here the second comes just after
    the first was handled, as it did then."""
    env, marks = _hooked(tmp_path, _A_LONG_BATCH)
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", kit.face_jpeg, "--workers", "1",
                              "--detector", "none", "--batch-size", "512", "--format", "jsonl"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (marks / "scoring").exists():
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the batch was not scored"
            time.sleep(0.05)
        child.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        while not (marks / "sigterm-1").exists():
            assert child.poll() is None and time.monotonic() < sent + 60, child.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        os.killpg(child.pid, signal.SIGTERM)  # (its group: the same process)
        assert time.monotonic() - sent < SAME_STOP_SECONDS, "the first SIGTERM was handled too late to test this"
        time.sleep(1)
        (marks / "release").touch()
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert (child.returncode, err) == (143, b"mesocli: stopped by SIGTERM\n"), err
    assert [json.loads(line)["status"] for line in out.decode().splitlines()] == ["ok"]  # the batch's input
    assert not (marks / "sigterm-2").exists()


@pytest.mark.skipif(_WAIT is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
def test_one_ctrl_c_while_a_batch_is_scored_finishes_it_first(kit: MediaKit, tmp_path: Path) -> None:
    """One Ctrl-C while the network scores a batch: the batch is finished (its faces count), then the scan stops as
    ever: the rows of the inputs read whole, 130, nothing on stderr. (The network now runs in a thread of its own,
    so that a second Ctrl-C is heard: the first must still not drop the batch.)"""
    env, marks = _hooked(tmp_path, _A_LONG_BATCH)
    photos = [tmp_path / f"{name}.jpg" for name in "ab"]
    for photo in photos:
        shutil.copy(kit.face_jpeg, photo)
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *photos, "--workers", "1", "--detector", "none",
                              "--batch-size", "512", "--format", "jsonl"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (marks / "scoring").exists():
            assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        while not _taken(child.pid):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        (marks / "release").touch()
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert (child.returncode, err) == (130, b"")
    rows = [(row["path"], row["status"]) for row in parsed_rows("jsonl", out)]
    assert rows and rows == [(str(p), "ok") for p in photos][:len(rows)]  # the first, scored in that batch, at least


@pytest.mark.parametrize("when", ["scoring", "starting"])
def test_a_second_ctrl_c_keeps_the_inputs_scored_before_the_batch_it_drops(when: str, kit: MediaKit, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the first batch is scored (the photos after it read meanwhile), then Ctrl-C again while the stop
    scores their faces 8 at a time, in its second batch (``starting``: as its thread starts): the rows of the inputs
    whose faces were all scored before it are given, then the stop, whose note names the faces dropped. They were
    dropped too (counted not scanned), though not among the inputs that waited for the batch dropped, as the note and
    the documentation say. And a Ctrl-C while the thread of a batch started (Thread.start waits for it) escaped the
    stop's handling: no note, the batch not cancelled (ONNX Runtime may abort a process that exits while it runs)."""
    import threading

    from mesocli import runtime

    scanning = sys.modules[ScanOptions.__module__]  # (mesocli.scan: the package's name is the API's function)
    paths = [tmp_path / f"{number:02}.jpg" for number in range(20)]
    for path in paths:
        shutil.copy(kit.face_jpeg, path)
    monkeypatch.setattr(scanning, "STOP_SCORING_SECONDS", 120.0)  # (the stop's second batch is started however slow)
    p_real, calls, read = runtime.OnnxPredictor.p_real, [], threading.Event()
    events: list[str] = []

    def hook(event: str, path: str, total: int | None) -> None:  # (in the producer's thread)
        events.append(event)
        deadline = time.monotonic() + 120
        while event == "read" and events.count("read") == 1 and not calls:  # the first batch: the first photo's face
            assert time.monotonic() < deadline
            time.sleep(0.01)
        if events.count("read") == len(paths):
            read.set()

    def waiting() -> bool:  # the main thread waits for the network's thread to end (not to start)
        frame, names = sys._current_frames().get(threading.main_thread().ident), []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        return names[:3] == ["wait", "wait", "_network_scores"]

    def scored(self: Any, faces: Any) -> Any:  # (in the network's thread)
        calls.append(len(faces))
        deadline = time.monotonic() + 120
        if len(calls) == 1:
            while not (waiting() and read.is_set()):
                assert time.monotonic() < deadline
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGINT)
        if len(calls) == 3:
            while when == "scoring" and not waiting():
                assert time.monotonic() < deadline
                time.sleep(0.01)
            if when == "scoring":
                os.kill(os.getpid(), signal.SIGINT)
            while not self._run_options.terminate:  # cancelled by the second Ctrl-C, as ONNX Runtime's run is
                assert time.monotonic() < deadline
                time.sleep(0.01)
            raise RuntimeError("cancelled")
        return p_real(self, faces)

    start, starts = threading.Thread.start, []

    def starting(self: threading.Thread) -> None:  # the second Ctrl-C as the stop's second batch's thread starts
        starts.append(self.name)  # (Thread.start waits for the thread: a Ctrl-C then escaped the stop's handling)
        if when == "starting" and starts.count("mesocli-network") == 3 and self.name == "mesocli-network":
            os.kill(os.getpid(), signal.SIGINT)
        start(self)

    monkeypatch.setattr(runtime.OnnxPredictor, "p_real", scored)
    monkeypatch.setattr(threading.Thread, "start", starting)
    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in scanning.scan_inputs(paths, runtime.resolve(None, "df", None),
                                           ScanOptions(detector="none", batch_size=512), progress=hook):
            got.append(result.path)
    assert calls == [1, 8, 8]
    assert got == [str(path) for path in paths[:9]]  # (the first photo's face was scored in the first batch)
    assert raised.value.__notes__ == ["mesocli: stopped at once: the 8 faces being scored were dropped, with the "
                                      "inputs that waited for them (not reported)"]


_SLOW_TO_START = '''
import os, pathlib, time
if os.environ.get("MESOCLI_TEST_MARKS") and "spawn_main" in pathlib.Path("/proc/self/cmdline").read_text():
    _marks = pathlib.Path(os.environ["MESOCLI_TEST_MARKS"])
    (_marks / f"starting-{os.getpid()}").touch()
    try:
        for _ in range(200):  # a worker process still starting (as an import of a large package): 10 s
            time.sleep(0.05)
    except KeyboardInterrupt:  # (its traceback may not come out: the main process may stop it first)
        (_marks / "interrupted").touch()
        raise
'''


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
@pytest.mark.parametrize("command", ["extract", "scan"])
def test_ctrl_c_to_the_group_while_workers_start_prints_no_traceback(command: str, kit: MediaKit,
                                                                      tmp_path: Path) -> None:
    """Ctrl-C in a terminal reaches the whole process group: a worker process still starting (here: held in
    its ``sitecustomize``) printed Python's own traceback (``Fatal Python error: init_import_site``, or a
    KeyboardInterrupt inside an import of ``spawn_main``) after mesocli's exit. Now the workers ignore Ctrl-C
    from their first instruction; the main process alone stops the run (130, quietly) and its workers."""
    env, marks = _hooked(tmp_path, _SLOW_TO_START)
    work = ["extract", kit.face_video, kit.face_jpeg, tmp_path / "out"] if command == "extract" else [
        "scan", kit.face_video, kit.face_jpeg, "-q"]
    child = subprocess.Popen([sys.executable, "-m", "mesocli", *work, "--workers", "2"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list(marks.glob("starting-*")) and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        assert list(marks.glob("starting-*")), child.stderr.read().decode()[-2000:] if child.poll() else "no worker"
        below = _descendants(child.pid)
        for mark in marks.glob("starting-*"):  # a terminal's Ctrl-C reaches the whole group at once: the workers'
            os.kill(int(mark.name.split("-")[1]), signal.SIGINT)  # share first here, so that it shows what it
        time.sleep(0.5)  # does to them before the main process (here on a busy machine) stops them
        os.killpg(child.pid, signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    assert (child.returncode, err.decode()) == (130, "")
    assert out == b""
    assert not (marks / "interrupted").exists()  # no worker was interrupted: the main process stopped them
    deadline = time.monotonic() + 10  # its workers are gone too
    while _running(below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _running(below) == [], below


# ---------------------------------------------------------------------------------------------- train

TRAIN = ("--epochs", "2", "--batch-size", "2", "--val-fraction", "0.25", "--seed", "5", "-q")
STEPS_PER_EPOCH = 4  # 6 + 6 images, 2 + 2 held out: 8 to train on in batches of 2


@pytest.fixture(scope="module")
def train_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ROOT/train/{df,real}``: 6 + 6 images, with a file that is not an image and one that is broken."""
    root = tmp_path_factory.mktemp("train_data")
    make_faces(root / "train", {"df": 6, "real": 6}, size=(64, 64), seed=3)
    (root / "train" / "df" / "notes.txt").write_text("not an image\n")
    (root / "train" / "real" / "broken_9.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    return root


@pytest.fixture(scope="module")
def reference_run(train_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run."""
    from mesocli.training import TrainConfig, start_run

    run = tmp_path_factory.mktemp("reference") / "run"
    config = TrainConfig(data=str(train_data), epochs=2, batch_size=2, val_fraction=0.25, seed=5)
    assert start_run(config, run, progress=False).finished
    return run


def _same_run(run: Path, reference: Path) -> None:
    with np.load(run / "checkpoint" / "last.npz") as got, np.load(reference / "checkpoint" / "last.npz") as want:
        assert got.files == want.files
        for key in set(want.files) - {"state"}:  # every model, optimizer and dropout-seed variable
            np.testing.assert_allclose(got[key], want[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours, theirs = (json.loads((folder / "log.json").read_text()) for folder in (run, reference))
    assert [row["heldout_accuracy"] for row in ours] == [row["heldout_accuracy"] for row in theirs]
    assert json.loads((run / "best.json").read_text())["epochs"] == json.loads((reference / "best.json").read_text())[
        "epochs"]


def test_kill_9_then_a_full_disk_during_train_then_resume(train_data: Path, reference_run: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           run_cli: RunCli) -> None:
    """One run, two faults: killed in epoch 2; resumed, the disk fills up as epoch 2 is saved; resumed again."""
    run = tmp_path / "run"
    child = start_paused(["train", train_data, "--out", run, *TRAIN], "step", STEPS_PER_EPOCH + 2,
                         tmp_path / "stopped")
    kill_9(child)  # in epoch 2, one step done: the last checkpoint is epoch 1's
    epoch_1 = tree(run / "checkpoint")
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["epoch"], state["step"], state["finished"]) == (1, 0, False)

    with monkeypatch.context() as patch:
        disk = FaultyFs(run).install(patch)
        end_epoch = Trainer.end_epoch

        def fill_up_in_epoch_2(self: Trainer, state, record) -> None:
            if record["epoch"] == 2:
                disk.space = disk.used  # the disk is full when epoch 2 is to be saved
            end_epoch(self, state, record)

        patch.setattr(Trainer, "end_epoch", fill_up_in_epoch_2)
        full = run_cli("train", "--resume", run, "-q")
    assert full.code == 2
    assert full.error_line() in {f"cannot write {run}/{name}: No space left on device"
                                 for name in ("checkpoint/last.npz", "best.json", "log.csv")}
    assert tree(run / "checkpoint") == epoch_1  # epoch 1's checkpoint, intact
    assert not [name for name in tree(run) if name.split("/")[-1].startswith(".")]  # no temporary file

    resumed = run_cli("train", "--resume", run)  # with progress output: it names the files it skips
    assert resumed.code == 0, resumed.err
    assert f"skipped (not an image): {train_data}/train/df/notes.txt" in resumed.err
    assert f"skipped (unreadable): {train_data}/train/real/broken_9.jpg: not a readable image" in resumed.err
    assert "Traceback" not in resumed.err
    assert f"best epoch {json.loads((reference_run / 'best.json').read_text())['epochs']}" in resumed.out
    _same_run(run, reference_run)


@pytest.mark.parametrize("damage", ["state", "variables", "config"])
def test_resume_from_a_damaged_run_folder(damage: str, reference_run: Path, tmp_path: Path,
                                          run_cli: RunCli) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference_run, run)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    (run / "checkpoint" / "state.json").write_text(json.dumps(state | {"finished": False}))
    target = {"state": "checkpoint/state.json", "variables": "checkpoint/last.npz", "config": "config.json"}[damage]
    data = (run / target).read_bytes()
    (run / target).write_bytes(data[: len(data) // 2])  # cut short, as by a failing disk
    before = tree(run)
    result = run_cli("train", "--resume", run, "-q")
    assert result.code == 2
    where = f"{run}/config.json: unreadable" if damage == "config" else f"{run}/checkpoint: damaged checkpoint"
    assert result.error_line().startswith(f"{where}, cannot resume (")
    assert tree(run) == before  # nothing written over it


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
@pytest.mark.parametrize(("number", "status", "said"), [(signal.SIGINT, 130, b""),
                                                      (signal.SIGTERM, 143, b"mesocli: stopped by SIGTERM\n")])
def test_a_scan_stopped_after_its_first_row_leaves_a_whole_document_on_stdout(
        fmt: str, number: int, status: int, said: bytes, kit: MediaKit) -> None:
    """``scan a.mp4 b.mp4 --format json > out.json`` stopped by Ctrl-C or SIGTERM once a's row is out: the output
    is the list of the rows done, for ``jq`` to read. It was ``[`` and a's row, without the ``]``."""
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", kit.face_video, kit.long_face_video,
                              kit.long_face_video.parent / "later.mp4", "--all-frames", "--workers", "1", "-q",
                              "--format", fmt], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = read_until(child.stdout, ROW_END[fmt])
        child.send_signal(number)  # the long video is being read
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, err) == (status, said)
    assert [row["path"] for row in parsed_rows(fmt, out + rest)] == [str(kit.face_video)]


_LINGERING = """
import atexit, sys, threading, time
threading.Thread(target=time.sleep, args=(600,), name="still-at-work").start()  # not a daemon: exit waits for it
atexit.register(lambda: print("exit handlers ran", file=sys.stderr))
sys.argv = ["mesocli", *sys.argv[1:]]
from mesocli.cli import entry
entry()
"""


@pytest.mark.parametrize(("number", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_scan_ends_at_once_after_its_cleanup(number: int, status: int, kit: MediaKit) -> None:
    """Once a stopped run has cleaned up, the ``mesocli`` process runs its exit handlers and ends with its status:
    the interpreter's teardown, which waited for threads still at work and tore native libraries down under
    threads still inside them (status -6 now and then: "terminate called without an active exception", seen in
    CI on the test above), is skipped. Here a thread that would hold the exit for ten minutes."""
    child = subprocess.Popen([sys.executable, "-c", _LINGERING, "scan", kit.face_video, kit.long_face_video,
                              "--all-frames", "--workers", "1", "-q", "--format", "jsonl"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = read_until(child.stdout, ROW_END["jsonl"])
        child.send_signal(number)
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == status
    assert err.decode().splitlines()[-1] == "exit handlers ran"
    assert [row["path"] for row in parsed_rows("jsonl", out + rest)] == [str(kit.face_video)]


# Ctrl-C, and SIGTERM (a scheduler's stop of a batch job, where these lines matter most: before this version it
# said only its own last line): the signal, the exit status, the words of the stop and the lines after them
STOPS = [pytest.param(signal.SIGINT, 130, "interrupted", "", id="ctrl-c"),
         pytest.param(signal.SIGTERM, 143, "stopped by SIGTERM", "mesocli: stopped by SIGTERM\n", id="sigterm")]


@pytest.mark.parametrize(("number", "status", "how", "last"), STOPS)
@pytest.mark.parametrize(("name", "keeps"), [("results.jsonl", "--resume"), ("results.json", "-o FILE.jsonl --resume")])
def test_ctrl_c_says_that_the_rows_done_were_not_kept(name: str, keeps: str, number: int, status: int, how: str,
                                                      last: str, kit: MediaKit, tmp_path: Path) -> None:
    """A moderator's ``scan uploads/ -o results.jsonl`` stopped with Ctrl-C after a while: exit 130 and nothing on
    stderr, and no file: the rows done were gone without a word, and nothing said that ``--resume`` keeps them. Now
    one line says so (the file is still not written: it is atomic). For ``-o results.json`` it named ``--resume``,
    which does not append to a JSON list (refused): it names a JSON Lines file with it. SIGTERM says the same."""
    out = tmp_path / "out" / name
    out.parent.mkdir()
    # stopped while the long video is read: the output is open
    code, stdout, err = _stopped_while_reading([kit.face_video, kit.long_face_video, "--all-frames", "--workers", "1",
                                                "-q", "-o", out],
                                               kit.long_face_video, number)
    assert code == status and stdout == b""
    assert not out.exists() and list(out.parent.iterdir()) == []
    text = err.decode()
    assert text.endswith(last), text
    line = text[: len(text) - len(last)]
    assert line.count("\n") == 1 and line.startswith(f"mesocli: {how} after "), text
    assert line.endswith(f"{out} was not written (it is written whole at the end); {keeps} keeps each row as it is "
                         "done\n"), text


@pytest.mark.parametrize(("number", "status", "how", "last"), STOPS)
def test_ctrl_c_of_a_resume_scan_says_what_the_output_keeps_and_how_to_go_on(number: int, status: int, how: str,
                                                                             last: str, kit: MediaKit,
                                                                             tmp_path: Path) -> None:
    """A moderator's ``scan uploads/ -o results.jsonl --resume`` stopped with Ctrl-C: exit 130 and nothing else on
    the terminal (no table with ``-o``), so nothing said how far it got or that the same command goes on. Now one
    line says what the file keeps, how many inputs were not scanned, and how to go on. A batch job's SIGTERM (exit
    143) said only ``mesocli: stopped by SIGTERM``: it says the same line first."""
    out = tmp_path / "results.jsonl"
    # stopped while the long video is read: face.mp4's row is written (it was read whole first)
    code, stdout, err = _stopped_while_reading([kit.face_video, kit.long_face_video, "--all-frames", "--workers", "1",
                                                "-q", "-o", out, "--resume"],
                                               kit.long_face_video, number)
    assert code == status and stdout == b""
    assert [row["path"] for row in parsed_rows("jsonl", out.read_bytes())] == [str(kit.face_video)]
    text = err.decode()
    assert text.endswith(f"mesocli: {how} after 1 input: {out} keeps its row (1 in all), 1 not scanned; the same "
                         f"command (with --resume) goes on from there\n{last}"), text


@pytest.mark.parametrize(("number", "status", "how", "last"), STOPS)
def test_ctrl_c_of_a_report_scan_says_that_the_report_was_not_written(number: int, status: int, how: str, last: str,
                                                                      kit: MediaKit, tmp_path: Path) -> None:
    """A moderator's ``scan uploads/ --report report.html`` stopped with Ctrl-C: the table of the inputs done, whose
    last line names ``--resume`` (which a report does not go with), and no report, without a word about it. Now one
    line says that the report was not written and how to make it; SIGTERM says it too (it said only its own line)."""
    report = tmp_path / "report.html"
    code, stdout, err = _stopped_while_reading([kit.face_video, kit.long_face_video, "--all-frames", "-q", "--format",
                                                "jsonl", "--report", report],
                                               kit.long_face_video, number)
    assert code == status
    assert [row["path"] for row in parsed_rows("jsonl", stdout)] == [str(kit.face_video)]
    assert list(tmp_path.iterdir()) == []
    assert err.decode() == (f"mesocli: {how} after 1 input: {report} was not written (a report covers a whole "
                            f"run, written at its end): scan again to make it\n{last}")


def test_a_stopped_table_scan_with_a_report_names_no_resume(kit: MediaKit, tmp_path: Path) -> None:
    """``scan uploads/ --report report.html`` on a terminal stopped with Ctrl-C: the table's last line said
    "-o FILE.jsonl --resume keeps each row as it is done and goes on from there", the next line that the report was
    not written: a moderator who followed it had the command refused (a report does not go with ``--resume``). Now
    the table's last line says how far the scan got, the report line how to make the report."""
    report = tmp_path / "report.html"
    code, out, err = _stopped_while_reading([kit.face_video, kit.long_face_video, "--all-frames", "-q", "--format",
                                             "table", "--report", report],
                                            kit.long_face_video, signal.SIGINT)
    assert code == 130
    assert out.decode().splitlines()[-1].rstrip() == "stopped by Ctrl-C after 1 of 2 inputs: 1 not scanned"
    assert err.decode() == (f"mesocli: interrupted after 1 input: {report} was not written (a report covers a whole "
                            "run, written at its end): scan again to make it\n")


def test_ctrl_c_of_a_report_scan_with_an_output_names_no_resume(tmp_path: Path) -> None:
    """``scan uploads/ -o rows.json --report report.html`` stopped with Ctrl-C: the line about rows.json said
    "-o FILE.jsonl --resume keeps each row as it is done", and the next one that the report was not written: a
    moderator who followed it had the command refused (a report does not go with ``--resume``). With a report,
    the line says what became of the output, not to use ``--resume``."""
    from mesocli.scan_run import _said_on_stop

    lines: list[str] = []
    output, report = tmp_path / "rows.json", tmp_path / "report.html"
    with pytest.raises(KeyboardInterrupt), _said_on_stop(statuses := [], output, False, "json", lines.append, 3,
                                                         report):
        statuses.append("ok")
        raise KeyboardInterrupt
    assert lines == [f"mesocli: interrupted after 1 input: {output} was not written (it is written whole at the end)",
                     f"mesocli: interrupted after 1 input: {report} was not written (a report covers a whole run, "
                     "written at its end): scan again to make it"]


@pytest.mark.parametrize(("number", "status", "said", "how"), [
    (signal.SIGINT, 130, b"", "Ctrl-C"), (signal.SIGTERM, 143, b"mesocli: stopped by SIGTERM\n", "SIGTERM")])
def test_a_stopped_table_scan_prints_the_verdicts_made_so_far(number: int, status: int, said: bytes, how: str,
                                                                kit: MediaKit, tmp_path: Path) -> None:
    """A moderator's ``scan uploads/`` on a terminal (the table, printed at the end) stopped with Ctrl-C or SIGTERM
    after a while: exit 130 (143) and not a row of the verdicts already made (Ctrl-C said only that the table is
    printed at the end). Now the table of the inputs done is printed, with its "needs a look" list, then a line:
    stopped, and how many inputs were not scanned; the exit status is as before."""
    from mesocli.rates import FACE_INTERVALS

    missing = tmp_path / "gone.jpg"
    inputs = [kit.face_jpeg, missing, kit.face_video, kit.long_face_video, tmp_path / "later.mp4"]
    # the long video is being read: the photo and the missing file were done while face.mp4 was read (each crop
    # is scored at once), face.mp4 may be done or not
    code, out, err = _stopped_while_reading([*inputs, "--all-frames", "--workers", "1", "--batch-size", "1", "-q",
                                             "--format", "table"],
                                            kit.long_face_video, number)
    assert (code, err) == (status, said)
    lines = [line.rstrip() for line in out.decode().splitlines()]
    rows = [line.split(" ")[0] for line in lines[2:] if line.startswith("/")]
    assert rows in ([str(kit.face_jpeg), str(missing)], [str(kit.face_jpeg), str(missing), str(kit.face_video)])
    done = len(rows)
    assert lines[done + 2].startswith("error rates of meso4_df (")  # what the verdicts above are weighed by
    rated = done + 2 + sum(line.startswith("error rates of ") for line in lines)  # (face.mp4 done: also the images')
    assert lines[rated] == f"({FACE_INTERVALS})"  # the photo's per-face rates: what their intervals are not
    rated += 1
    assert lines[rated:rated + 2] == ["needs a look: 1 failed", f"  error  {missing}: no such file or folder"]
    assert lines[-2].startswith(f"{done} inputs: ") and lines[-2].endswith(", 1 error")
    assert lines[-1] == (f"stopped by {how} after {done} of 5 inputs: {5 - done} not scanned; -o FILE.jsonl --resume "
                         "keeps each row as it is done and goes on from there")


def test_ctrl_c_does_not_say_that_a_stream_output_was_not_written(kit: MediaKit) -> None:
    """``scan -o /dev/stdout`` (or a named pipe, ``-o >(gzip …)``) writes each row into the stream as it is done:
    stopped with Ctrl-C once a row is out, it said ``/dev/stdout was not written (it is written whole at the end)``
    under that very row. Now nothing is said, as for rows on standard output."""
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", kit.face_video, kit.long_face_video,
                              "--all-frames", "--workers", "1", "-q", "-o", "/dev/stdout"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = read_until(child.stdout, ROW_END["jsonl"])
        child.send_signal(signal.SIGINT)  # the long video is being read
        rest, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert (child.returncode, err) == (130, b"")
    assert [row["path"] for row in parsed_rows("jsonl", out + rest)] == [str(kit.face_video)]


def _stopped_while_reading(args: list[Any], video: Path, number: int) -> tuple[int, bytes, bytes]:
    """``mesocli scan ARGS`` sent signal ``number`` once its ffmpeg reads ``video``: its exit status, stdout, stderr."""
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_ffmpeg(child.pid, video)
        child.send_signal(number)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    return child.returncode, out, err


def _wait_for_ffmpeg(pid: int, video: Path) -> None:
    """Until the scan's ffmpeg reads ``video``, at most 120 s."""
    from conftest import children_of

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for child in children_of(pid):
            with contextlib.suppress(OSError):
                if b"file:" + os.fsencode(video) in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                    return
        time.sleep(0.05)
    raise AssertionError(f"no ffmpeg read {video} within 120 s")


_WRITE = {"x86_64": {"1", "18", "20"}, "aarch64": {"64", "66", "68"}}.get(os.uname().machine)
"""The numbers of the write system calls here (write, pwrite64, writev: a C library or Python may write with any);
None: not known on this machine."""


def _full_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose buffer is full: a process that writes into it waits until it is read
    (a reader that reads slowly, ``| less`` left on its first page)."""
    import fcntl

    read, write = os.pipe()
    flags = fcntl.fcntl(write, fcntl.F_GETFL)
    fcntl.fcntl(write, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(write, b"\n" * 4096)
    fcntl.fcntl(write, fcntl.F_SETFL, flags)
    return read, write


def _stopped_while_writing(command: list[Any], number: int, *then: Path,
                           twice: bool = False) -> tuple[int, bytes, bytes]:
    """Run ``mesocli scan`` (``command``: its arguments) into a full pipe; once its main thread waits to write its
    first row to standard output (and an ffmpeg reads each of ``then``), send it ``number``, then read the pipe:
    (exit status, what it wrote after the pipe's filling, stderr). ``twice``: once the first is taken (held while
    the row waits), ``number`` again, and the scan must end before the pipe is read (a reader that reads no more)."""
    from conftest import children_of

    read, write = _full_pipe()
    with os.fdopen(read, "rb") as reader:
        child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *command], stdout=write,
                                 stderr=subprocess.PIPE, start_new_session=True)
        os.close(write)
        try:
            deadline = time.monotonic() + 240

            def ready() -> bool:
                reading = b"".join(Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children_of(child.pid)
                                   if Path(f"/proc/{pid}/cmdline").exists())
                try:
                    syscall = Path(f"/proc/{child.pid}/syscall").read_text().split()[:2]  # number, first argument
                except PermissionError:  # (a kernel that lets no process read another's: ptrace_scope)
                    pytest.skip("/proc/PID/syscall of a child is not readable here")
                return (len(syscall) == 2 and syscall[0] in _WRITE and syscall[1] == "0x1"
                        and all(os.fsencode(path) in reading for path in then))

            while not ready():
                assert child.poll() is None and time.monotonic() < deadline, child.stderr.read().decode()[-2000:]
                time.sleep(0.05)
            child.send_signal(number)  # held while its row is written: then the scan stops
            if twice:
                while not _taken(child.pid):
                    assert child.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
                while not ready():  # back to its write: the first one is held
                    assert child.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
                child.send_signal(number)  # the user insists: the scan stops at once
                child.wait(timeout=60)
            out = reader.read()
            err = child.stderr.read()
            child.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.stderr.close()
    return child.returncode, out.lstrip(b"\n"), err


@pytest.mark.skipif(_WRITE is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
@pytest.mark.parametrize(("number", "status", "said"), [(signal.SIGINT, 130, b""),
                                                      (signal.SIGTERM, 143, b"mesocli: stopped by SIGTERM\n")])
def test_a_scan_stopped_as_a_row_is_written_keeps_the_inputs_read_whole(number: int, status: int, said: bytes,
                                                                         kit: MediaKit, tmp_path: Path) -> None:
    """``scan a.jpg b.jpg c.jpg long.mp4 | less``, Ctrl-C (or SIGTERM) while a's row waits for the reader: b and c
    were read whole (their faces found, waiting to be scored, or scored), yet their rows were dropped, and counted
    not scanned (a ``--resume`` run read them again). Now their faces are scored (one batch at most) and their rows
    written, in input order, before the scan stops as ever (130, 143)."""
    photos = [tmp_path / f"{name}.jpg" for name in "abc"]
    for photo in photos:
        shutil.copy(kit.face_jpeg, photo)
    code, out, err = _stopped_while_writing([*photos, kit.long_face_video, "--all-frames", "--workers", "1", "-q",
                                             "--format", "jsonl"], number, kit.long_face_video)
    assert (code, err) == (status, said)
    assert [(row["path"], row["status"]) for row in parsed_rows("jsonl", out)] == [(str(p), "ok") for p in photos]


def _taken(pid: int) -> bool:
    """Whether no signal waits for ``pid`` (every one sent was delivered to its handler)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["ShdPnd"], 16) == 0 and int(fields["SigPnd"], 16) == 0


@pytest.mark.skipif(_WRITE is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
def test_a_second_ctrl_c_while_a_row_waits_for_the_reader_stops_at_once(kit: MediaKit, tmp_path: Path) -> None:
    """``scan a.jpg b.jpg c.jpg long.mp4 | less``, less left on its first page: Ctrl-C (held while a's row waits for
    the reader), then Ctrl-C again: the scan stops at once, 130, as documented. It went on to write the rows of b and
    c (read whole) into the same pipe, and waited there: two more Ctrl-C were needed."""
    photos = [tmp_path / f"{name}.jpg" for name in "abc"]
    for photo in photos:
        shutil.copy(kit.face_jpeg, photo)
    code, _, err = _stopped_while_writing([*photos, kit.long_face_video, "--all-frames", "--workers", "1", "-q",
                                           "--format", "jsonl"], signal.SIGINT, kit.long_face_video, twice=True)
    assert (code, err) == (130, b"")


@pytest.mark.skipif(_WRITE is None or not Path("/proc/self/syscall").exists(), reason="reads /proc/PID/syscall")
def test_a_scan_with_workers_stopped_as_a_row_is_written_writes_the_rows_then_due(kit: MediaKit,
                                                                                    tmp_path: Path) -> None:
    """``scan --workers 2 long.mp4 a.jpg b.jpg | less``: the photos are done while the video is scanned; its row
    comes, then theirs (input order). Ctrl-C while the video's row waits for the reader dropped the photos' rows,
    done and due. Now they are written, in input order, and the scan stops as ever (130)."""
    photos = [tmp_path / f"{name}.jpg" for name in "ab"]
    for photo in photos:
        shutil.copy(kit.face_jpeg, photo)
    inputs = [kit.long_face_video, *photos]
    code, out, err = _stopped_while_writing([*inputs, "--all-frames", "--workers", "2", "-q", "--format", "jsonl"],
                                            signal.SIGINT)
    assert (code, err) == (130, b"")
    assert [(row["path"], row["status"]) for row in parsed_rows("jsonl", out)] == [(str(p), "ok") for p in inputs]
