"""Chain of custody for ``extract``: each input line of the manifest names the SHA-256 of the input's bytes
(null for a failed input and with --no-hash), old manifests without it resume, and an input whose bytes are
another input's (a renamed or copied file) is noted, and still extracted."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import RunCli
from media import MediaKit, make_face_video, pad_to_the_same_size

import mesocli
from mesocli import digest, progress
from mesocli.crops import extract_one
from mesocli.errors import InputError, ParameterError
from mesocli.extract import ExtractOptions, extract
from mesocli.manifest import MANIFEST
from mesocli.video import FrameSelection

extract_module = importlib.import_module("mesocli.extract")  # not mesocli.extract: the function
FAST = ExtractOptions(FrameSelection("frames", 2), detector="none")
FAST_ARGS = ("--frames", 2, "--detector", "none", "--workers", 1, "--format", "json")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_lines(out: Path) -> dict[str, dict]:
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    return {Path(line["source"]).name: line for line in lines if line["type"] == "input"}


def test_each_input_line_names_the_bytes_extracted(tmp_path: Path, kit: MediaKit) -> None:
    out = tmp_path / "out"
    inputs = [kit.face_video, kit.face_jpeg, kit.text_mp4, kit.truncated, tmp_path / "gone.mp4"]
    summary = extract(inputs, out, FAST, workers=2)  # hashed in the worker processes
    assert [r.status for r in summary.results] == ["ok", "ok", "error", "error", "error"]
    lines = input_lines(out)
    assert lines["face.mp4"]["sha256"] == sha256_of(kit.face_video)
    assert lines["face.jpg"]["sha256"] == sha256_of(kit.face_jpeg)
    for name in ("notes.mp4", "truncated.mp4", "gone.mp4"):  # failed: no bytes were extracted
        assert "sha256" in lines[name] and lines[name]["sha256"] is None
    assert not any("warnings" in line for line in lines.values() if line["status"] == "ok")
    assert [r.sha256 for r in summary.results] == [sha256_of(kit.face_video), sha256_of(kit.face_jpeg), None, None,
                                                   None]
    again = extract(inputs, out, FAST, workers=1)  # the skipped inputs keep their digest in the summary
    assert [r.sha256 for r in again.results[:2]] == [sha256_of(kit.face_video), sha256_of(kit.face_jpeg)]


def test_no_hash_writes_null_and_shares_a_manifest_with_hashed_lines(tmp_path: Path, kit: MediaKit,
                                                                     run_cli: RunCli) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli("extract", kit.face_jpeg, out, *FAST_ARGS, "--no-hash")
    assert code == 0, err
    assert json.loads(stdout)["inputs"][0]["sha256"] is None
    assert input_lines(out)["face.jpg"]["sha256"] is None
    code, stdout, err = run_cli("extract", kit.face_jpeg, kit.face_video, out, *FAST_ARGS)  # not other settings
    assert code == 0, err
    assert [i["status"] for i in json.loads(stdout)["inputs"]] == ["skipped", "ok"]
    lines = input_lines(out)
    assert lines["face.jpg"]["sha256"] is None and lines["face.mp4"]["sha256"] == sha256_of(kit.face_video)
    (off,) = mesocli.extract(kit.face_jpeg, tmp_path / "api", detector="none", hash_inputs=False).results
    assert off.status == "ok" and off.sha256 is None
    with pytest.raises(ParameterError, match="^hash_inputs must be True or False, not 'no'"):
        mesocli.extract(kit.face_jpeg, tmp_path / "api", detector="none", hash_inputs="no")


def test_a_manifest_of_an_earlier_version_resumes(tmp_path: Path, kit: MediaKit) -> None:
    out = tmp_path / "out"
    extract([kit.face_jpeg, kit.face_video], out, FAST, workers=1)
    old = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    for line in old:
        if line["type"] == "input":
            del line["sha256"]  # as mesocli 0.x wrote it
    text = "".join(json.dumps(line) + "\n" for line in old)
    (out / MANIFEST).write_text(text)
    again = extract([kit.face_jpeg, kit.face_video], out, FAST, workers=1)
    assert [(r.status, r.sha256) for r in again.results] == [("skipped", None), ("skipped", None)]
    assert (out / MANIFEST).read_text() == text  # nothing redone, nothing rewritten
    third = extract([kit.face_jpeg, kit.face_video, kit.face_png_named_mp4], out, FAST, workers=1)
    assert [r.status for r in third.results] == ["skipped", "skipped", "ok"]
    assert (out / MANIFEST).read_text().startswith(text)
    assert input_lines(out)[kit.face_png_named_mp4.name]["sha256"] == sha256_of(kit.face_png_named_mp4)


def test_an_input_with_the_bytes_of_another_is_noted_and_extracted_again(tmp_path: Path, kit: MediaKit,
                                                                          run_cli: RunCli) -> None:
    """A renamed (or copied) input is a new path: it is extracted again, as before, but now said so."""
    first, out = tmp_path / "first.jpg", tmp_path / "out"
    shutil.copy(kit.face_jpeg, first)
    code, _, err = run_cli("extract", first, out, *FAST_ARGS)
    assert code == 0 and "same bytes" not in err, err
    renamed = tmp_path / "renamed.jpg"
    first.rename(renamed)
    code, stdout, err = run_cli("extract", renamed, out, *FAST_ARGS)
    assert code == 0, err
    digest = sha256_of(renamed)
    assert err.splitlines() == [f"mesocli: {renamed}: same bytes as {first}, already extracted "
                                f"(sha256 {digest[:12]}); extracting it again"]
    assert [i["status"] for i in json.loads(stdout)["inputs"]] == ["ok"]
    lines = input_lines(out)
    assert lines["first.jpg"]["sha256"] == lines["renamed.jpg"]["sha256"] == digest
    # a file copied twice into the inputs of one run: one note, for the second
    twice = tmp_path / "twice"
    twice.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(kit.face_jpeg, twice / name)
    code, stdout, err = run_cli("extract", twice, tmp_path / "out2", *FAST_ARGS)
    assert code == 0, err
    assert err.splitlines() == [f"mesocli: {twice / 'b.jpg'}: same bytes as {twice / 'a.jpg'}, already extracted "
                                f"(sha256 {digest[:12]}); extracting it again"]
    # the same file under another label (on purpose): no note; nothing is skipped by content
    data = tmp_path / "data"
    for label in ("df", "real"):
        code, stdout, err = run_cli("extract", renamed, data, *FAST_ARGS, "--layout", "dataset", "--label", label)
        assert code == 0 and "same bytes" not in err, err
        assert [i["status"] for i in json.loads(stdout)["inputs"]] == ["ok"]


def test_a_file_that_changes_during_its_extraction_is_flagged(tmp_path: Path, kit: MediaKit,
                                                              touched_after_hashing: None) -> None:
    clip = tmp_path / "clip.mp4"
    shutil.copy(kit.face_video, clip)
    original = sha256_of(clip)

    extract([clip], tmp_path / "out", FAST, workers=1)
    line = input_lines(tmp_path / "out")["clip.mp4"]
    assert line["sha256"] == original
    (warning,) = line["warnings"]
    assert warning.startswith("file changed while it was extracted (size") and "mtime_ns" in warning
    assert "may not be the bytes the crops were taken from" in warning


def test_a_video_replaced_with_the_same_size_and_mtime_is_extracted_again(tmp_path: Path, run_cli: RunCli,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: a video replaced by another of the same size, its mtime kept (``cp -p``, ``rsync -t``),
    was skipped as done, and the dataset kept the crops of a video no longer there under its name."""
    first, second = tmp_path / "first.mp4", tmp_path / "second.mp4"
    make_face_video(first, frames=8, angles=[0.0] * 8)
    make_face_video(second, frames=8, angles=[14.0] * 8)
    pad_to_the_same_size(first, second)
    clip, out = tmp_path / "in" / "clip.mp4", tmp_path / "out"
    args = ("--frames", 2, "--workers", 1, "--format", "json")
    clip.parent.mkdir()
    shutil.copy2(first, clip)
    assert run_cli("extract", clip, out, *args).code == 0
    old = input_lines(out)["clip.mp4"]
    stamp = clip.stat().st_mtime_ns
    shutil.copyfile(second, clip)
    os.utime(clip, ns=(stamp, stamp))  # what cp -p, rsync -t or touch -r leave
    assert (clip.stat().st_size, clip.stat().st_mtime_ns) == (old["size"], old["mtime_ns"])

    code, stdout, err = run_cli("extract", clip, out, *args)
    assert code == 0, err
    new = sha256_of(second)
    assert err.splitlines() == [f"mesocli: {clip}: its bytes changed since it was extracted, though not its size "
                                f"and mtime (sha256 {old['sha256'][:12]} -> {new[:12]}); extracting it again"]
    assert [i["status"] for i in json.loads(stdout)["inputs"]] == ["ok"]
    assert input_lines(out)["clip.mp4"]["sha256"] == new
    fresh = tmp_path / "fresh" / "clip.mp4"
    fresh.parent.mkdir()
    shutil.copy(second, fresh)
    assert run_cli("extract", fresh, tmp_path / "out2", *args).code == 0
    assert crops_of(out) == crops_of(tmp_path / "out2") != {}

    # --no-hash: no hashing at all, a resume compares size and mtime only (and reads nothing)
    shutil.copyfile(first, clip)
    os.utime(clip, ns=(stamp, stamp))
    monkeypatch.setattr(digest, "fingerprint", lambda *_: pytest.fail("hashed with --no-hash"))
    code, stdout, err = run_cli("extract", clip, out, *args, "--no-hash")
    assert code == 0 and err == "", err
    assert [i["status"] for i in json.loads(stdout)["inputs"]] == ["skipped"]
    monkeypatch.undo()
    code, stdout, err = run_cli("extract", clip, out, *args)  # hashing again: the line's digest is not the file's
    assert code == 0 and "its bytes changed since it was extracted" in err
    assert input_lines(out)["clip.mp4"]["sha256"] == sha256_of(first)


def crops_of(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): sha256_of(p) for p in sorted(out.rglob("*.jpg"))}


def test_same_bytes_notes_do_not_depend_on_the_order_workers_finish_in(tmp_path: Path, kit: MediaKit, run_cli: RunCli,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With --workers, inputs finish in any order: the note names the later input (in input order) and the first
    with those bytes, once each, as a run with one worker does."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        shutil.copy(kit.face_jpeg, folder / name)
    in_order = run_cli("extract", folder, tmp_path / "one", *FAST_ARGS)
    assert in_order.code == 0
    digest_ = sha256_of(folder / "a.jpg")[:12]
    expected = [f"mesocli: {folder / name}: same bytes as {folder / 'a.jpg'}, already extracted (sha256 {digest_}); "
                "extracting it again" for name in ("b.jpg", "c.jpg")]
    assert in_order.err.splitlines() == expected

    def last_first(jobs, out_dir, options, workers, record, bars, **_) -> None:  # workers finishing in reverse order
        for job in reversed(jobs):
            record(job, *extract_one(job, out_dir, options, bars.report))
            bars.done(job.number)

    monkeypatch.setattr(extract_module, "_run_jobs", last_first)
    reversed_ = run_cli("extract", folder, tmp_path / "two", *FAST_ARGS)
    assert reversed_.code == 0
    assert reversed_.err.splitlines() == expected


def test_an_input_that_cannot_be_read_to_check_it_keeps_its_crops(tmp_path: Path, kit: MediaKit,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume that cannot read a done input to check its bytes (permissions, a failing disk) does not delete
    its crops: the input is an error of this run alone."""
    out = tmp_path / "out"
    extract([kit.face_jpeg, kit.face_video], out, FAST, workers=1)
    manifest = (out / MANIFEST).read_bytes()

    def unreadable(path: str, *_: object) -> None:
        raise InputError(f"{path}: cannot read it to hash it (Permission denied)")

    monkeypatch.setattr(digest, "fingerprint", unreadable)
    again = extract([kit.face_jpeg, kit.face_video], out, FAST, workers=1)
    assert [(r.status, r.message) for r in again.results] == [
        ("error", f"{kit.face_jpeg}: cannot read it to hash it (Permission denied); its crops of an earlier run "
                  "are kept"),
        ("error", f"{kit.face_video}: cannot read it to hash it (Permission denied); its crops of an earlier run "
                  "are kept")]
    assert (out / MANIFEST).read_bytes() == manifest
    assert len(list(out.rglob("*.jpg"))) == 3


def test_a_long_check_of_the_inputs_done_is_announced_unless_quiet(tmp_path: Path, kit: MediaKit, run_cli: RunCli,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: a resume over a large archive read every input done again without a word for minutes.
    A check of digest.NOTED_BYTES or more is announced first (not with -q); small ones stay silent."""
    out = tmp_path / "out"
    args = ("extract", kit.face_video, kit.face_jpeg, out, "--frames", 2, "--workers", 1)
    assert run_cli(*args).code == 0
    code, _, err = run_cli(*args)  # a few kB: no note
    assert code == 0 and err == "", err
    monkeypatch.setattr(digest, "NOTED_BYTES", 1)
    size = kit.face_video.stat().st_size + kit.face_jpeg.stat().st_size
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert err.splitlines() == [f"mesocli: resume: reading 2 inputs already extracted again ({size / 1e6:.1f} MB) "
                                "to check that their bytes are unchanged (--no-hash: size and mtime only)"]
    code, _, err = run_cli(*args, "-q")
    assert code == 0 and err == "", err


def test_recheck_counts_the_bytes_it_reads_on_a_bar(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte counter of a resume's check (shown on a terminal's stderr) ends at the bytes read; an unreadable
    file is told, not raised."""
    files = [tmp_path / "a.bin", tmp_path / "b.bin"]
    files[0].write_bytes(b"a" * (digest.CHUNK + 5))
    files[1].write_bytes(b"b" * 7)
    monkeypatch.setattr(digest, "NOTED_BYTES", 1)
    bars = []

    def counter(*args: object, **options: object) -> object:
        bars.append(made(*args, **options))
        return bars[-1]

    made = progress.counter
    monkeypatch.setattr(progress, "counter", counter)
    notes: list[str] = []
    result = digest.recheck([str(files[0]), str(tmp_path / "gone"), str(files[1])], 2, done="scanned", bar=True,
                            log=notes.append)
    assert result[0] == (sha256_of(files[0]), None) and result[2] == (sha256_of(files[1]), None)
    assert result[1][0] is None and "cannot read it to hash it" in result[1][1]
    assert len(notes) == 1 and "3 inputs already scanned" in notes[0]
    assert "checking sha256" in capsys.readouterr().err
    assert [(bar.n, bar.total) for bar in bars] == [(digest.CHUNK + 12, digest.CHUNK + 12)]


def test_ctrl_c_while_a_resume_checks_the_bytes_stops_the_hashing(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM) while a resume hashes the inputs it would skip: the files being hashed stop between two
    chunks, as a scan's do. The run waited until each was hashed to its end (minutes for large videos on network
    storage, ``--workers`` of them at once)."""
    import signal
    import threading

    videos = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for video in videos:
        video.write_bytes(os.urandom(1 << 20))
    stopped: list[bool] = []
    real = digest.fingerprint

    def fingerprint(path: str, interrupted=lambda: False, progress=None) -> digest.Fingerprint | None:
        if path == str(videos[1]):  # Ctrl-C while b is hashed (the run waits for its result)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            for _ in range(3000):  # until the main thread stops waiting for it (bounded: never hangs the suite)
                if interrupted():
                    break
                threading.Event().wait(0.01)
            stopped.append(interrupted())
        return real(path, interrupted, progress)

    monkeypatch.setattr(extract_module.digest, "fingerprint", fingerprint)
    with pytest.raises(KeyboardInterrupt):
        extract_module._changed_bytes([(video, str(video), {"sha256": "0" * 64}) for video in videos], FAST, 1,
                                      lambda text: None)
    assert stopped == [True]


@pytest.mark.parametrize("hashed", [True, False])
def test_an_input_line_gives_the_size_and_mtime_of_the_bytes_extracted(tmp_path: Path, kit: MediaKit,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       hashed: bool) -> None:
    """An input rewritten after the run started and before its turn (a copy still arriving in the folder while
    the inputs before it are extracted: hours, on a large set) was extracted, and hashed, as it then was, but
    its line gave the size and mtime seen when the run started: a size that is not the bytes its sha256 and its
    crops come from. Now they are those seen when its extraction began."""
    first, later = tmp_path / "a.jpg", tmp_path / "b.jpg"
    shutil.copy(kit.face_jpeg, first)
    shutil.copy(kit.face_jpeg, later)

    def then_rewrite(job, *args):
        done = extract_one(job, *args)
        if job.source == str(first):
            shutil.copy(kit.face_png_named_mp4, later)  # another image, another size
        return done

    monkeypatch.setattr(extract_module, "extract_one", then_rewrite)
    options = ExtractOptions(FrameSelection("frames", 2), detector="none", hash_inputs=hashed)
    extract([first, later], tmp_path / "out", options, workers=1)
    line, info = input_lines(tmp_path / "out")["b.jpg"], later.stat()
    assert (line["size"], line["mtime_ns"]) == (info.st_size, info.st_mtime_ns)
    assert line["sha256"] == (sha256_of(later) if hashed else None)
    again = extract([first, later], tmp_path / "out", options, workers=1)
    assert [r.status for r in again.results] == ["skipped", "skipped"]  # not extracted again for nothing
