"""`mesocli scan` through the command line: formats, schema, stdin, --output, exit statuses."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import PIL
import pytest
from conftest import (
    ROW_END,
    CliResult,
    RunCli,
    check_schema,
    children_of,
    cli_code,
    fresh_python,
    parsed_rows,
    read_until,
    running,
    unpinned,
)
from media import MediaKit, face_crop, grey_jpeg, make_face_animation, make_noface_video
from PIL import Image

from mesocli import __version__
from mesocli.provenance import code_digest, library_versions


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("faces")
    face = face_crop()
    paths = [folder / "one.png", folder / "two.jpg"]
    face.save(paths[0])
    face.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths[1], quality=90)
    return paths


@pytest.fixture
def scan(run_cli: RunCli, own_weights: Path) -> RunCli:
    """``scan(*args, stdin=None)``: ``mesocli scan`` with the test weights and no face detection."""

    def run(*args: object, stdin: str | None = None) -> CliResult:
        return run_cli("scan", "--weights", own_weights, "--detector", "none", *args, stdin=stdin)

    return run


def test_jsonl_is_the_default_on_a_pipe_and_follows_the_schema(scan, faces: list[Path]) -> None:
    result = scan(*faces)
    assert result.code == 0, result.err
    lines = result.out.strip().splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, faces, strict=True):
        item = json.loads(line)
        check_schema(item)
        assert item["path"] == str(path) and item["status"] == "ok" and item["type"] == "image"
        assert item["frames"] == {"sampled": 1, "with_face": 1}
        assert item["model"]["name"] == "meso4_test" and len(item["model"]["weights_sha256"]) == 64
        # provenance; a still image has no frames to sample and no timeline to smooth
        assert item["settings"] == {"mesocli": __version__, "mesocli_code": code_digest(), "runtime": "onnx",
                                    "detector": "none",
                                    "resize": "bilinear", "sampling": None, "smooth": None, "ffmpeg": None,
                                    "libraries": library_versions("onnx")}


def test_a_row_says_when_its_scan_finished_and_which_library_versions_made_it(scan, faces: list[Path],
                                                                               kit: MediaKit) -> None:
    """A forensic analyst must say when a result was made and by exactly which software: a row named mesocli's,
    the runtime and ffmpeg, but neither the time nor the libraries that decide the scores. Now each row has
    ``scanned_at`` (UTC, ISO 8601 to the second) and ``settings.libraries`` (the installed versions, read from the
    packages' metadata), in the JSON and the CSV alike (``scanned_at`` the CSV's column after ``settings``)."""
    from importlib import metadata

    def now() -> str:
        return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    before = now()
    result = scan("--format", "json", "--frames", "2", faces[0], kit.face_video)
    after = now()
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    wanted = {"onnxruntime": metadata.version("onnxruntime"), "numpy": np.__version__,
              "Pillow": PIL.__version__, "dlib": dlib_version(),
              "face_recognition_models": metadata.version("face_recognition_models"),
              "imageio-ffmpeg": metadata.version("imageio-ffmpeg")}
    for row in rows:
        check_schema(row)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["scanned_at"]) and \
            before <= row["scanned_at"] <= after, (before, row["scanned_at"], after)
        assert row["settings"]["libraries"] == wanted and "tensorflow" not in row["settings"]["libraries"]
    assert rows[0]["scanned_at"] <= rows[1]["scanned_at"]  # each input's own time, in the order they finished
    result = scan("--format", "csv", "--frames", "2", faces[0])
    assert result.code == 0, result.err
    header, cells = next(csv.reader(io.StringIO(result.out))), next(csv.DictReader(io.StringIO(result.out)))
    assert header[-4:-2] == ["settings", "scanned_at"]  # added after settings: the others stay where they were
    assert before <= cells["scanned_at"] <= now() and json.loads(cells["settings"])["libraries"] == wanted


def dlib_version() -> str:
    """dlib's installed version as a row names it: ``20.0`` (the ``dlib`` distribution) or, installed by the
    ``dlib-bin`` wheel, ``dlib-bin 20.0.1.post1`` (a variant names itself)."""
    from importlib import metadata

    for name, label in (("dlib", ""), ("dlib-bin", "dlib-bin ")):
        try:
            return label + metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    raise AssertionError("dlib is not installed")


def test_an_image_row_says_no_frame_sampling_a_video_row_does(scan, faces: list[Path], kit: MediaKit) -> None:
    """An image's row said ``settings.sampling {"mode": "frames", "value": 30}`` (and a smoothing window), which
    nothing was sampled or smoothed with; now both are null there, as its aggregation, and set for a video."""
    result = scan("--every", "3", "--smooth", "3", "--format", "json", faces[0], kit.face_video)
    assert result.code == 0, result.err
    image, video = json.loads(result.out)
    for item in (image, video):
        check_schema(item)
    assert (image["type"], image["aggregation"], image["settings"]["sampling"], image["settings"]["smooth"]) == (
        "image", None, None, None)
    assert video["settings"]["sampling"] == {"mode": "every", "value": 3, "rule": 2}
    assert video["settings"]["smooth"] == 3


def test_a_video_row_names_the_ffmpeg_that_decoded_it(scan, faces: list[Path], kit: MediaKit) -> None:
    """A video's frames (and so its scores) come from ffmpeg, which a user may swap (IMAGEIO_FFMPEG_EXE): a row
    said which mesocli, runtime, detector and sampling made it, but not which ffmpeg, so a report could not be
    re-run as it was made. Now ``settings.ffmpeg`` is the version ``ffmpeg -version`` prints (null for a still
    image, which Pillow reads), in the JSON and the CSV alike."""
    from mesocli.probe import ffmpeg_exe

    banner = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True,
                            check=True).stdout.split("\n")[0]
    version = banner.split()[2]  # "ffmpeg version <version> Copyright ..."
    result = scan("--format", "csv", faces[0], kit.face_video)
    assert result.code == 0, result.err
    image, video = (json.loads(row["settings"]) for row in csv.DictReader(io.StringIO(result.out)))
    assert (image["ffmpeg"], video["ffmpeg"]) == (None, version)


def test_json_is_one_list_document(scan, faces: list[Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    result = scan("--format", "json", "--detail", "--all-faces", *faces, missing)
    assert result.code == 3
    items = json.loads(result.out)
    assert [i["status"] for i in items] == ["ok", "ok", "error"]
    for item in items:
        check_schema(item)
    assert items[0]["scores"][0]["p_fake"] == items[0]["p_fake"]
    assert items[2]["error"].endswith("no such file or folder")


def test_csv_has_one_row_per_input(scan, faces: list[Path]) -> None:
    result = scan("--format", "csv", *faces)
    assert result.code == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [r["path"] for r in rows] == [str(p) for p in faces]
    for row in rows:
        assert row["status"] == "ok" and row["verdict"] in ("fake", "real") and row["error"] == ""
        assert 0.0 <= float(row["p_fake"]) <= 1.0 and row["frames_sampled"] == "1"
        assert json.loads(row["segments"]) == [] and row["faces"] == ""


def test_csv_keeps_what_json_has(run_cli: RunCli, faces: list[Path]) -> None:
    """Each detector's p_fake (--model any) and the frame scores (--detail) are cells, as in JSON."""
    common = ("scan", "--model", "any", "--detector", "none", "--detail", faces[0])
    table = list(csv.DictReader(io.StringIO(run_cli(*common, "--format", "csv").out)))
    (item,) = json.loads(run_cli(*common, "--format", "json").out)
    assert len(table) == 1
    assert json.loads(table[0]["detectors"]) == {name: d["p_fake"] for name, d in item["detectors"].items()}
    assert json.loads(table[0]["scores"]) == item["scores"] and table[0]["warnings"] == ""
    assert json.loads(table[0]["settings"]) == item["settings"]


def test_table_lists_path_verdict_and_frames(scan, faces: list[Path]) -> None:
    result = scan("--format", "table", "--threshold", "0", faces[0])
    assert result.code == 0
    assert faces[0].name in result.out and "fake" in result.out and "1/1" in result.out
    assert "1 input: 1 fake" in result.out
    assert "needs a look" not in result.out  # one input: its row says it all


def test_table_ends_with_the_inputs_that_need_a_look(scan, faces: list[Path], tmp_path: Path) -> None:
    """Among many uploads the few fakes were scattered through the table in input order, marked only by a word
    once piped: after the table, a list names those called fake, most fake first, then those that failed (why);
    the table keeps input order and the summary line stays last."""
    third = tmp_path / "three.png"
    Image.open(faces[0]).rotate(8).save(third)
    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image\n")
    scores = {row["path"]: row["p_fake"] for row in json.loads(scan("--format", "json", *faces, third).out)}
    low, middle, high = sorted(scores, key=scores.__getitem__)
    assert scores[low] < scores[middle] < scores[high]
    inputs = [low, middle, broken, high]  # the most fake last: input order is not the list's
    result = scan("--format", "table", "--threshold", str((scores[low] + scores[middle]) / 2), *inputs)
    assert result.code == 3, result.err  # an input failed
    lines = result.out.splitlines()
    rows = [next(i for i, line in enumerate(lines) if str(path) in line) for path in inputs]
    assert rows == sorted(rows)  # the table: input order, as JSON has it
    start = lines.index("needs a look: 2 called fake (most fake first), 1 failed")
    assert start > rows[-1]
    assert [line.rstrip() for line in lines[start + 1:]] == [
        f"  fake   {scores[high]:.3f}  {high}",
        f"  fake   {scores[middle]:.3f}  {middle}",
        f"  error         {broken}: a text file, not a video or image",
        "4 inputs: 2 fake, 1 real, 1 error",
    ]


def test_the_needs_a_look_list_is_capped_and_counts_the_rest(scan, faces: list[Path]) -> None:
    """A run of hundreds of fakes, failures or inputs without a face names the first ten of each; the rest are
    counted, and the table above still lists every input."""
    from mesocli.writers import make_writer

    (row,) = json.loads(scan("--format", "json", faces[0]).out)
    fakes = [{**row, "path": f"up/fake{i:02}.mp4", "p_fake": 0.6 + i / 100, "verdict": "fake"} for i in range(13)]
    errors = [{**row, "path": f"up/bad{i:02}.mp4", "status": "error", "error": f"up/bad{i:02}.mp4: unreadable",
               "verdict": None, "p_fake": None} for i in range(12)]
    errors[0] = {**errors[0], "path": "up/bad00\x1b[2K.mp4", "error": "up/bad00\x1b[2K.mp4: unreadable"}
    faceless = [{**row, "path": f"up/none{i:02}.jpg", "status": "no_face", "verdict": None, "p_fake": None}
                for i in range(11)]
    stream = io.StringIO()
    writer = make_writer("table", stream, color=False)
    for item in [*fakes, *errors, *faceless]:
        writer.write(item)
    writer.close()
    lines = stream.getvalue().splitlines()
    start = lines.index("needs a look: 13 called fake (most fake first), 12 failed, 11 with no face found")
    assert [line.rstrip() for line in lines[start + 1:]] == [
        *(f"  fake     {0.6 + i / 100:.3f}  up/fake{i:02}.mp4" for i in range(12, 2, -1)),
        f"{'':18}… and 3 more called fake: the table above lists every input",
        "  error           up/bad00\\x1b[2K.mp4: unreadable",  # a name's control characters as escapes
        *(f"  error           up/bad{i:02}.mp4: unreadable" for i in range(1, 10)),
        f"{'':18}… and 2 more failed: the table above lists every input",
        *(f"  no face         up/none{i:02}.jpg" for i in range(10)),
        f"{'':18}… and 1 more with no face found: the table above lists every input",
        "36 inputs: 13 fake, 11 no face, 12 error",
    ]
    assert sum("up/fake" in line or "up/bad" in line or "up/none" in line for line in lines[:start]) == 36
    assert "\x1b" not in stream.getvalue()


def _table(rows: list[dict[str, Any]]) -> list[str]:
    """The table writer's lines for ``rows`` (no colour, as in a pipe)."""
    from mesocli.writers import make_writer

    stream = io.StringIO()
    writer = make_writer("table", stream, color=False)
    for item in rows:
        writer.write(item)
    writer.close()
    return [line.rstrip() for line in stream.getvalue().splitlines()]


def test_the_table_shows_every_warning_the_most_decisive_first(scan, faces: list[Path]) -> None:
    """The table showed a row's first warning only: a short track set aside (a person who may be the forged one)
    hid behind a small-faces note. The most decisive is shown in full, the others named after it."""
    (row,) = json.loads(scan("--format", "json", faces[0]).out)
    small = ("small faces: 10 of 10 faces are under 64 px (the aligned square, in frame pixels): too small for "
             "MesoNet to judge, their crops enlarged over 4×; a verdict drawn from them is unreliable")
    aside = ("1 face track of fewer than 3 sampled frames set aside (track 1; most fake 0.681): the verdict rests on "
             "the longer tracks (--min-track-frames)")
    sparse = "sampled one frame every 20.0 s, 30 over 600 s: a forged stretch shorter than that may be missed"
    lines = _table([{**row, "path": "clip.mp4", "warnings": [small, sparse, aside]}])
    line = next(line for line in lines if "clip.mp4" in line)
    assert f"ok ({aside}; +2 more: small faces, sparse sampling)" in line


def test_a_person_flagged_on_a_short_track_needs_a_look(scan, faces: list[Path]) -> None:
    """With ``--all-faces`` a clip called real on its long track, whose 2-frame track (set aside) is called fake and
    flagged, was in no "needs a look" list and its table row showed only the deciding track's ranges (none): the
    person was silent. The list names the clip and that track, and the flagged column shows its ranges."""
    (row,) = json.loads(scan("--format", "json", faces[0]).out)

    def track(number: int, p_fake: float, frames: int, segments: list[dict[str, Any]]) -> dict[str, Any]:
        return {"track": number, "p_fake": p_fake, "verdict": "fake" if p_fake >= 0.5 else "real", "frames": frames,
                "segments": segments, "decides": frames >= 3, "box": [10, 10, 90, 90]}

    stretch = {"start": 1.0, "end": 2.5, "frames": 2, "p_fake_mean": 0.68, "p_fake_max": 0.7}
    clip = {**row, "path": "meeting.mp4", "type": "video", "p_fake": 0.212, "verdict": "real", "segments": [],
            "faces": [track(0, 0.212, 28, []), track(1, 0.681, 2, [stretch])]}
    lines = _table([clip, {**row, "path": "other.png"}])
    assert "flagged" in lines[0].split()
    assert "track 1 (set aside: 2 frames) 0.681, flagged 1.0–2.5 s" in next(line for line in lines
                                                                        if "meeting.mp4" in line)
    start = lines.index("needs a look: 1 called real but flagged in part")
    assert lines[start + 1] == "  real  0.212  meeting.mp4: track 1 (set aside: 2 frames) 0.681, flagged 1.0–2.5 s"


def test_a_flagged_track_of_a_pooled_verdict_is_not_said_to_be_set_aside(scan, faces: list[Path]) -> None:
    """With every track too short, their faces are pooled into the verdict (``2 tracks pooled``); a flagged track
    was still listed as ``(set aside: 2 frames)`` in the flagged column and the "needs a look" list, the opposite of
    what the verdict did with it. It is said to be pooled."""
    (row,) = json.loads(scan("--format", "json", faces[0]).out)
    stretch = {"start": 1.0, "end": 1.5, "frames": 2, "p_fake_mean": 0.68, "p_fake_max": 0.7}
    tracks = [{"track": number, "p_fake": p_fake, "verdict": "fake" if p_fake >= 0.5 else "real", "frames": 2,
               "segments": segments, "decides": False, "box": [10, 10, 90, 90]}
              for number, p_fake, segments in ((0, 0.1, []), (1, 0.681, [stretch]))]
    clip = {**row, "path": "meeting.mp4", "type": "video", "p_fake": 0.3, "verdict": "real", "segments": [],
            "faces": tracks}
    lines = _table([clip, {**row, "path": "other.png"}])
    assert "set aside" not in "\n".join(lines)
    assert "track 1 (pooled: 2 frames) 0.681, flagged 1.0–1.5 s" in next(line for line in lines if "meeting" in line)
    start = lines.index("needs a look: 1 called real but flagged in part")
    assert lines[start + 1] == "  real  0.300  meeting.mp4: track 1 (pooled: 2 frames) 0.681, flagged 1.0–1.5 s"


def test_inputs_without_a_face_need_a_look_and_no_face_ok_keeps_them_from_exit_3(run_cli: RunCli, kit: MediaKit,
                                                                                 tmp_path: Path) -> None:
    """A photo or a clip in which no face was found may be a fake whose face the detector missed (small, turned,
    dark): the table's "needs a look" list named the fakes and the failures only, so such inputs hid among the
    table's rows. Now they are a group of their own, after the failures, counted. A gate over uploads where some
    photos show no person exited 3 as for an unreadable file, and still does; ``--no-face-ok`` counts them as
    scanned (same rows): 0, or 1 with ``--fail-on-fake``; a failed input still gives 3."""
    blank = grey_jpeg(tmp_path / "landscape.jpg", 320, 240)
    table = run_cli("scan", kit.face_jpeg, kit.noface_video, blank, "--format", "table", "-q")
    assert table.code == 3, table.err
    lines = [line.rstrip() for line in table.out.splitlines()]
    start = lines.index("needs a look: 2 with no face found")
    assert lines[start + 1:] == [f"  no face  {kit.noface_video}", f"  no face  {blank}", "3 inputs: 1 real, 2 no face"]
    for extra, code in (([], 0), (["--threshold", "0", "--fail-on-fake"], 1)):
        gate = run_cli("scan", kit.face_jpeg, blank, "--no-face-ok", *extra)
        assert gate.code == code, gate.err
        assert [row["status"] for row in gate.jsonl()] == ["ok", "no_face"]
    failed = run_cli("scan", kit.face_jpeg, blank, tmp_path / "gone.jpg", "--no-face-ok")
    assert failed.code == 3 and [row["status"] for row in failed.jsonl()] == ["ok", "no_face", "error"]


def test_table_shows_where_a_clip_called_real_is_flagged(scan, faces: list[Path], kit: MediaKit) -> None:
    """A clip whose forged part is a few seconds of its length is called real by its mean, while its timeline
    flags that part: the table said only ``real`` and left it out of the "needs a look" list (the HTML report
    showed the range). The table has a ``flagged`` column, and the list names such a clip with its ranges."""
    common = ("--frames", "24", "--smooth", "1", kit.face_video)
    (row,) = json.loads(scan("--format", "json", "--detail", *common).out)
    scores = [face["p_fake"] for face in row["scores"]]
    assert max(scores) - row["p_fake"] > 1e-4  # the frames differ: a threshold between the mean and the top
    threshold = str(round((row["p_fake"] + max(scores)) / 2, 6))
    (row,) = json.loads(scan("--format", "json", "--threshold", threshold, *common).out)
    assert row["verdict"] == "real" and row["segments"]  # called real, flagged in part
    result = scan("--format", "table", "--threshold", threshold, *common, faces[0])
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    first = "{start:.1f}–{end:.1f} s".format(**row["segments"][0])  # as the report shows a range
    assert "flagged" in lines[0].split()
    assert first in next(line for line in lines if "face.mp4" in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("needs a look:"))
    assert "1 called real but flagged in part" in lines[start]
    assert any(line.split()[:2] == ["real", f"{row['p_fake']:.3f}"] and f"face.mp4: flagged {first}" in line
               for line in lines[start + 1:])


def test_all_faces_table_says_which_track_a_verdict_rests_on(run_cli: RunCli, own_weights: Path,
                                                              kit: MediaKit) -> None:
    """With --all-faces a verdict is its most-fake track's: a real clip was called fake on a 6-frame track of
    someone else, and only the JSON ``faces`` showed it. The table now says which track, of how many, and its
    frames; the default table (one face per input) stays as narrow as it was."""
    common = ("scan", "--weights", own_weights, "--frames", "6", kit.two_face_video, kit.face_video)
    code, out, err = run_cli(*common, "--all-faces", "--format", "json", "-q")
    assert code == 0, err
    two, one = json.loads(out)
    assert len(two["faces"]) == 2 and len(one["faces"]) == 1
    top = max(two["faces"], key=lambda t: t["p_fake"])
    code, table, err = run_cli(*common, "--all-faces", "--format", "table", "-q")
    assert code == 0, err
    assert "verdict from" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if "two_faces.mp4" in line)
    assert f"track {top['track']}, {top['frames']} frames (of 2 tracks)" in row
    row = next(line for line in table.splitlines() if "face.mp4" in line and "two_faces" not in line)
    assert f"track 0, {one['faces'][0]['frames']} frames" in row and "(of" not in row
    code, plain, err = run_cli(*common, "--format", "table", "-q")
    assert code == 0 and "verdict from" not in plain and "track" not in plain
    # (the two-face clip's status notes its unscored face: compared without it)
    code, one_input, err = run_cli(*common[:-2], kit.face_video, "--format", "table", "-q")
    assert code == 0 and max(map(len, one_input.splitlines())) < max(map(len, table.splitlines()))


def test_a_long_video_sampled_sparsely_says_what_its_timeline_cannot_see(scan, kit: MediaKit) -> None:
    """``--frames 30`` (the default) over a 10-minute clip samples one frame every 20 s: 2 forged seconds in its
    middle were missed with no trace (real, no flagged range, no warning). A video sampled more than 5 s apart
    has a note saying so and how to sample more; one sampled closer has none."""
    video = kit.long_face_video  # 42 s
    (sparse,) = json.loads(scan("--format", "json", "--frames", "4", video).out)
    assert sparse["status"] == "ok"
    assert sparse["warnings"] == ["sampled one frame every 10.5 s, 4 over 42 s: a forged stretch shorter than "
                                  "that may be missed; --fps 2 samples every 0.5 s"]
    check_schema(sparse)
    (dense,) = json.loads(scan("--format", "json", "--frames", "12", video).out)
    assert dense["status"] == "ok" and dense["warnings"] == []  # 3.5 s apart


def test_a_long_gap_between_samples_of_a_variable_frame_rate_clip_is_noted(scan, kit: MediaKit) -> None:
    """A variable-frame-rate clip (20 frames in its first 1.7 s, then one every 8 s) sampled by ``--frames 12`` (by
    frame count): its samples are 2.1 s apart on average, so it had no note, while 16 s of it (9.7–25.7 s) lay
    between two samples with a frame skipped. The largest gap decides."""
    (row,) = json.loads(scan("--format", "json", "--frames", "12", kit.vfr_video).out)
    assert row["status"] == "ok" and row["frames"]["sampled"] == 12
    assert row["warnings"] == ["sampled frames up to 16.0 s apart (none between 9.7 s and 25.7 s), 12 over 26 s: a "
                               "forged stretch shorter than that may be missed; --all-frames scores every frame"]
    check_schema(row)


def test_a_video_whose_every_frame_was_scored_has_no_sparse_sampling_note(scan, kit: MediaKit,
                                                                          tmp_path: Path) -> None:
    """A slideshow (one frame every 10 s; a GIF of 8 s frames) scanned whole, by ``--frames 30`` (more than it has),
    ``--all-frames`` or ``--fps 2``, has every frame scored: nothing lies between two samples to be missed, yet it
    said ``a forged stretch shorter than that may be missed; --fps 2 samples every 0.5 s`` (``--fps 2`` gives the
    same 4 frames). A selection that skips frames between its samples still says so."""
    video = kit.slideshow_video
    gif = tmp_path / "slow.gif"
    make_face_animation(gif, [8000] * 4)
    for selection in ((), ("--all-frames",), ("--fps", "2")):
        for source in (video, gif):
            (row,) = json.loads(scan("--format", "json", *selection, source).out)
            assert row["status"] == "ok" and row["frames"]["sampled"] == 4, (selection, source)
            assert row["warnings"] == [], (selection, source)
    (skipped,) = json.loads(scan("--format", "json", "--every", "2", video).out)
    assert skipped["frames"]["sampled"] == 2
    assert skipped["warnings"] == ["sampled one frame every 20.0 s, 2 over 40 s: a forged stretch shorter than "
                                   "that may be missed; --fps 2 samples every 0.5 s"]


def test_a_long_video_sampled_sparsely_with_no_face_found_says_so_too(run_cli: RunCli, own_weights: Path,
                                                                     tmp_path: Path) -> None:
    """No face in frames sampled 10 s apart: a face on screen for a few seconds between two samples is missed
    whole, and the row said only ``no face``. Its warnings say how far apart its samples were, as an ``ok`` row's
    do (the note is of the sampling, whatever was found)."""
    video = make_noface_video(tmp_path / "pattern.mp4", frames=4, fps=0.2)  # 20 s, a frame every 5 s
    code, out, err = run_cli("scan", "--weights", own_weights, "--every", "2", "--format", "json", video)
    (row,) = json.loads(out)
    assert code == 3 and row["status"] == "no_face", err
    assert row["warnings"] == ["sampled one frame every 10.0 s, 2 over 20 s: a forged stretch shorter than that "
                               "may be missed; --fps 2 samples every 0.5 s"]
    check_schema(row)


def test_all_faces_says_where_each_face_is(run_cli: RunCli, own_weights: Path, kit: MediaKit,
                                          tmp_path: Path) -> None:
    """A split screen (two people side by side, one of them forged): ``faces`` gave each track a verdict but not
    where it is, so which person was called fake could be told only from the report's crops. Each track has its
    ``box`` (median over its frames, frame pixels), the table's ``verdict from`` names the verdict's, and the
    report's face tracks table each one's."""
    common = ("scan", "--weights", own_weights, "--frames", "6", "--all-faces", kit.two_face_video, "-q")
    code, out, err = run_cli(*common, "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    check_schema(row)
    width = 480  # the kit's two-face clip (media.make_two_face_video): the photo a quarter across, its mirror 3/4
    centres = sorted(((t["box"][0] + t["box"][2]) / 2, t["track"]) for t in row["faces"])
    assert len(centres) == 2 and centres[0][0] < width / 2 < centres[1][0]
    assert abs(centres[0][0] - width * 0.27) < 30 and abs(centres[1][0] - width * 0.73) < 30
    for track in row["faces"]:
        left, top, right, bottom = track["box"]
        assert 0 <= left < right <= width and 0 <= top < bottom <= 240
    top = max(row["faces"], key=lambda t: t["p_fake"])
    code, table, err = run_cli(*common, "--format", "table", "--report", tmp_path / "report.html",
                               "--explain-top", "1")
    assert code == 0, err
    box = top["box"]
    assert f"(of 2 tracks) at x {box[0]}–{box[2]}, y {box[1]}–{box[3]}" in table
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "where in the frame" in page
    assert all(f"x {t['box'][0]}–{t['box'][2]}, y {t['box'][1]}–{t['box'][3]}" in page for t in row["faces"])


def test_a_face_filling_the_picture_has_its_box_inside_it(run_cli: RunCli, own_weights: Path,
                                                         tmp_path: Path) -> None:
    """A face filling a 300×316 photo: HOG's box runs past the top edge (y -36), which the JSON ``box`` and the
    report's face tracks table showed as it was. The box shown is clipped to the picture."""
    from media import astronaut

    photo = tmp_path / "close.png"
    Image.fromarray(np.asarray(astronaut())[90:180, 180:270]).resize((300, 316)).save(photo)
    code, out, err = run_cli("scan", "--weights", own_weights, "--all-faces", photo, "-q", "--format", "json")
    assert code == 0, err
    (row,) = json.loads(out)
    check_schema(row)
    left, top, right, bottom = row["faces"][0]["box"]
    assert 0 <= left < right <= 300 and 0 <= top < bottom <= 316
    assert top == 0  # the face runs past the top edge


def test_control_characters_in_names_reach_no_terminal(scan, run_cli: RunCli, faces: list[Path],
                                                        tmp_path: Path) -> None:
    # an untrusted file name that moves the cursor up and erases a line: it could hide another input's row
    hostile = tmp_path / "b\x1b[1A\x1b[2K.jpg"
    hostile.write_bytes(faces[1].read_bytes())
    result = scan("--format", "table", faces[0], hostile)
    assert result.code == 0 and "\x1b" not in result.out
    assert "b\\x1b[1A\\x1b[2K.jpg" in result.out  # shown as escapes
    assert json.loads(scan("--format", "json", hostile).out)[0]["path"] == str(hostile)  # JSON keeps the name
    code, out, _ = run_cli("extract", hostile, tmp_path / "crops", "--detector", "none", "-q")
    assert code == 0 and "\x1b" not in out and "\\x1b[1A" in out
    result = run_cli("scan", tmp_path / "missing\x1b[2K.mp4")
    assert result.code == 3 and "\x1b" not in result.err


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_rows_stay_one_line_whatever_the_name(scan, faces: list[Path], tmp_path: Path, fmt: str) -> None:
    """A name holding a line or paragraph separator (U+2028, U+2029, U+0085) split a JSONL row for ``splitlines()``,
    and a right-to-left override reordered the row on a terminal (``cat``): they are \\u escapes, the same JSON."""
    names = [tmp_path / f"a{char}b.jpg" for char in "\u2028\u2029\x85\u202e\u200b"]
    for name in names:
        name.write_bytes(faces[0].read_bytes())
    result = scan("--format", fmt, *names)
    assert result.code == 0
    for char in "\u2028\u2029\x85\u202e\u200b":
        assert char not in result.out
    rows = [json.loads(line) for line in result.out.splitlines()] if fmt == "jsonl" else json.loads(result.out)
    assert [row["path"] for row in rows] == [str(name) for name in names]


def test_a_file_reached_twice_is_scanned_once(scan, faces: list[Path], tmp_path: Path) -> None:
    link = tmp_path / "link.png"
    link.symlink_to(faces[0])
    listing = "\n".join(map(str, [faces[0].parent, *faces, link])) + "\n"  # what `find DIR` prints
    result = scan("-", stdin=listing)
    assert result.code == 0 and [row["path"] for row in result.jsonl()] == [str(p) for p in faces]  # it was 5 rows


def test_default_workers_are_the_cores_this_process_may_use(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from mesocli import parallel

    extract = importlib.import_module("mesocli.extract")  # the module (mesocli.extract is also the API's function)
    monkeypatch.delenv("MESOCLI_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # a big host ...
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)  # ... lending this process 1 core
    assert parallel.default_workers() == extract.default_workers() == 1  # scan started 64 workers


@pytest.mark.parametrize(("cores", "workers", "quiet", "noted"), [
    (1, "2", False, True), (1, "2", True, False), (2, "2", False, False), (4, "2", False, False)])
def test_more_workers_than_cores_are_noted_and_run(scan, faces: list[Path], monkeypatch: pytest.MonkeyPatch,
                                                   cores: int, workers: str, quiet: bool, noted: bool) -> None:
    """``scan --workers N`` above the K cores this process may use (its affinity, its CPU quota) ran N workers of
    about 450 MB each without a word: one note says so (not with -q), and the N workers run as asked."""
    from mesocli import parallel
    from mesocli import workers as workers_module

    started: list[int] = []
    scan_parallel = parallel.scan_parallel

    def recorded(paths: Any, loaded: Any, options: Any, processes: int, **settings: Any) -> Any:
        started.append(processes)
        return scan_parallel(paths, loaded, options, processes, **settings)

    monkeypatch.setattr(parallel, "scan_parallel", recorded)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(workers_module, "quota_cores", lambda: None)
    result = scan(*faces, "--workers", workers, *(["-q"] if quiet else []))
    assert result.code == 0 and [row["status"] for row in result.jsonl()] == ["ok", "ok"], result.err
    assert started == [int(workers)]  # as asked
    note = (f"mesocli: note: {workers} workers exceed the {cores} CPU this process may use (its CPU affinity and "
            f"quota); each takes about 450 MB of memory: running {workers} as asked")
    assert result.err.splitlines().count(note) == noted and ("exceed the" in result.err) is noted, result.err


def test_csv_cells_are_not_formulas(scan, faces: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = tmp_path / '=HYPERLINK("evil.example","click").png'
    hostile.write_bytes(faces[0].read_bytes())
    monkeypatch.chdir(tmp_path)  # `ls | mesocli scan -`: names without a folder before them
    result = scan("--format", "csv", "-", stdin=f"{hostile.name}\n@SUM(1+1).png\n")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    # a spreadsheet ran them as formulas; JSON keeps the exact names
    assert [row["path"] for row in rows] == [f"'{hostile.name}", "'@SUM(1+1).png"]
    assert rows[1]["error"].startswith("'@SUM(1+1).png: ")


def test_a_csv_escape_is_undone_by_one_rule(scan, faces: list[Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``=x.png`` and a file really named ``'=x.png`` were both the cell ``'=x.png``: the CSV no longer said which
    file a row is. A text cell starting with ``'`` now gets one more too, so that dropping the one added ``'``
    (where a cell starts with ``'`` then ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or ``'``) gives every
    name back (names without a folder before them: ``ls | mesocli scan -``)."""
    names = ["=x.png", "'=x.png", "''=x.png", "'plain.png", "+1.png", "@a.png", "plain.png", "\tt.png"]
    for name in names:
        (tmp_path / name).write_bytes(faces[0].read_bytes())
    monkeypatch.chdir(tmp_path)
    result = scan("--format", "csv", "--null", "-", stdin="".join(f"{name}\0" for name in names))
    assert result.code == 0, result.err
    cells = [row["path"] for row in csv.DictReader(io.StringIO(result.out, newline=""))]
    assert len(set(cells)) == len(names)
    assert cells == [f"'{name}" if name[:1] in "=+-@\t\r'" else name for name in names]
    assert [cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r", "'") else cell
            for cell in cells] == names


def test_a_carriage_return_in_a_name_stays_in_its_csv_cell(faces: list[Path], tmp_path: Path,
                                                           own_weights: Path) -> None:
    """A name holding a lone carriage return (``a\\rb.png``) was written unquoted: every CSV reader (Python's,
    a spreadsheet's) split the row in two there, the rest of the row under the wrong columns. (A new process:
    pytest's capture reads a carriage return as a newline.)"""
    hostile = tmp_path / "a\rb.png"
    hostile.write_bytes(faces[0].read_bytes())
    target = tmp_path / "out.csv"
    for args in ([], ["--output", target]):
        done = subprocess.run([sys.executable, "-m", "mesocli", "scan", "--weights", own_weights, "--detector", "none",
                               "--format", "csv", *args, hostile, faces[0]], capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        text = (target.read_bytes() if args else done.stdout).decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        assert [row["path"] for row in rows] == [str(hostile), str(faces[0])]
        assert [row["status"] for row in rows] == ["ok", "ok"]
        assert text.count("\r") == 1 and text.endswith("\n") and not text.endswith("\r\n")  # rows end in \n


def test_paths_from_stdin(scan, faces: list[Path]) -> None:
    result = scan("-", stdin="\n".join(map(str, faces)) + "\n\n")
    assert result.code == 0
    assert [item["path"] for item in result.jsonl()] == [str(p) for p in faces]
    empty = scan("-", stdin="")
    assert empty.code == 2 and "no inputs" in empty.error_line()


@pytest.mark.parametrize(
    ("threshold", "extra", "code"),
    [("0", [], 0), ("0", ["--fail-on-fake"], 1), ("1", ["--fail-on-fake"], 0)],
)
def test_fail_on_fake(scan, faces: list[Path], threshold: str, extra: list[str], code: int) -> None:
    result = scan("--threshold", threshold, *extra, faces[0])
    assert result.code == code
    assert json.loads(result.out)["verdict"] == ("fake" if threshold == "0" else "real")


def test_an_input_error_wins_over_fail_on_fake(scan, faces: list[Path], tmp_path: Path) -> None:
    result = scan("--threshold", "0", "--fail-on-fake", faces[0], tmp_path / "gone.jpg")
    assert result.code == 3
    assert [item["status"] for item in result.jsonl()] == ["ok", "error"]


def test_output_is_written_atomically_and_not_overwritten(scan, faces: list[Path], tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = scan("--output", target, *faces)
    assert result.code == 0 and result.out == ""
    assert len(json.loads(target.read_text())) == 2  # .json suffix -> one JSON document
    again = scan("--output", target, faces[0])
    assert again.code == 2 and "--force" in again.error_line()
    forced = scan("--output", target, "--force", "--format", "jsonl", faces[0])
    assert forced.code == 0 and len(target.read_text().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind


@pytest.mark.parametrize("name, hint", [("earlier.jsonl", True), ("earlier.csv", True), ("earlier.json", False)])
def test_an_existing_output_suggests_resume_only_where_resume_works(scan, faces: list[Path], tmp_path: Path,
                                                                     name: str, hint: bool) -> None:
    """``-o report.csv`` over an existing file said "pass --force to replace it, or --resume to add the inputs it
    lacks"; the --resume it suggested was then refused ("--resume appends JSON Lines")."""
    target = tmp_path / name
    target.write_text("earlier\n")
    result = scan("--output", target, faces[0])
    expected = f"{target}: exists; pass --force to replace it" + (", or --resume to add the inputs it lacks" * hint)
    assert (result.code, result.error_line()) == (2, expected)


@pytest.mark.parametrize(
    "args",
    [["--format", "xml"], ["--aggregate", "median"], ["--frames", "5", "--fps", "2"], ["--threshold", "2"],
     ["--detector", "sift"]],
)
def test_bad_options_are_usage_errors(scan, faces: list[Path], args: list[str]) -> None:
    result = scan(*args, faces[0])
    assert result.code == 2
    assert result.error_line()


def test_an_fps_too_large_to_mean_anything_is_a_usage_error(scan, kit: MediaKit) -> None:
    """``--fps 1e308`` gave each valid video an error row (``OverflowError: cannot convert float infinity to
    integer``) and exit 3; it is refused with the other bad values, before any input is read."""
    result = scan("--fps", "1e308", kit.face_video)
    assert (result.code, result.error_line()) == (2, "--fps needs at most 1000000 frames a second (more than any "
                                                     "video holds), got 1e+308")
    assert scan("--fps", "1000000", kit.face_video).code == 0  # the largest accepted: every frame


def test_a_bad_choice_names_the_option_and_the_choices(scan, faces: list[Path]) -> None:
    result = scan("--model", "bogus", faces[0])
    assert result.code == 2
    assert result.error_line() == ("Invalid value for '--model': 'bogus' is not one of 'df', 'f2f', 'fs', 'any'. "
                                   "(see 'mesocli scan --help')")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "fs"], "give --model or --weights, not both"),  # the fixture passes --weights
        (["--model", "df"], "give --model or --weights, not both"),
        (["--force"], "--force replaces an --output or --report file or fills an --explain folder: give one"),
        (["--explain-top", "2"], "--explain-top needs --explain DIR or --report FILE"),
    ],
)
def test_options_that_would_be_ignored_are_refused(scan, faces: list[Path], args: list[str], message: str) -> None:
    result = scan(*args, faces[0])
    assert result.code == 2
    assert result.error_line() == message


def test_scan_help_is_instant_and_documents_exit_statuses() -> None:
    out, modules = fresh_python(cli_code("scan", "--help"))
    assert "EXIT" in out.upper() and "--fail-on-fake" in out
    assert not modules & {"tensorflow", "keras", "dlib", "imageio", "numpy", "ray"}


def test_end_to_end_pipe_with_exit_statuses(own_weights: Path, faces: list[Path], tmp_path: Path) -> None:
    """One real process: paths on stdin, JSON Lines on a pipe, exit 3 for a corrupt file, no stderr noise."""
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    stdin = f"{faces[0]}\n{corrupt}\n{faces[1]}\n"
    command = [sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector", "none", "-"]
    result = subprocess.run(command, capture_output=True, text=True, input=stdin, env=dict(os.environ, COLUMNS="200"),
                            timeout=300)
    assert result.returncode == 3, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert [i["status"] for i in items] == ["ok", "error", "ok"]
    assert result.stderr == ""  # no progress bars, no TensorFlow banners when stderr is not a terminal


class _Lines:
    """The lines a process writes to a pipe, read as they come (a thread), each awaited with a generous
    timeout that only guards against a hang."""

    def __init__(self, stream: Any) -> None:
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(b"")

    def next(self) -> bytes:
        return self._lines.get(timeout=120)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_paths_on_stdin_are_scanned_as_they_arrive(workers: str, own_weights: Path, faces: list[Path],
                                                   tmp_path: Path) -> None:
    """``find ... | mesocli scan -`` read the whole list before scanning its first path: a slow ``find`` (or a
    ``tail -f`` of a list that never ends) gave no result until it finished. Now each line is scanned as it
    arrives and its row written at once; blank lines, CRLF, a missing path (an error row, in order), a file
    listed twice (one row) and the exit status are as for a list read whole."""
    process = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                                "none", "--workers", workers, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=unpinned)  # 2 workers on 2 cores: no note
    try:
        rows = _Lines(process.stdout)
        process.stdin.write(os.fsencode(faces[0]) + b"\r\n\n")
        process.stdin.flush()  # the list goes on: stdin stays open
        first = json.loads(rows.next())
        assert (first["path"], first["status"]) == (str(faces[0]), "ok")
        process.stdin.write(b"%s\n%s\n%s" % (os.fsencode(tmp_path / "gone.png"), os.fsencode(faces[0]),
                                              os.fsencode(faces[1])))  # the last line without its newline
        process.stdin.close()
        rest = [json.loads(line) for line in iter(rows.next, b"")]
        assert [(row["path"], row["status"]) for row in rest] == [(str(tmp_path / "gone.png"), "error"),
                                                                  (str(faces[1]), "ok")]
        assert process.wait(timeout=240) == 3
        assert process.stderr.read() == b""
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_scan_waiting_for_its_next_path_stops_on_sigterm(workers: str, own_weights: Path, faces: list[Path]) -> None:
    """SIGTERM while the list on stdin goes on (``tail -f list | mesocli scan -``): the scan stops (143) rather
    than wait for a line that may never come (the worker pool's feeder waited for ever)."""
    process = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                                "none", "--workers", workers, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, preexec_fn=unpinned)  # 2 workers on 2 cores: no note
    try:
        process.stdin.write(os.fsencode(faces[0]) + b"\n")
        process.stdin.flush()
        assert json.loads(_Lines(process.stdout).next())["status"] == "ok"
        process.terminate()
        assert process.wait(timeout=120) == 143
        assert process.stderr.read() == b"mesocli: stopped by SIGTERM\n"
    finally:
        process.kill()
        process.wait()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_idle_workers_of_a_killed_scan_stop(own_weights: Path, faces: list[Path]) -> None:
    """kill -9 of a scan whose workers wait for their next path (the list on stdin goes on): they stop too (the
    pool's workers see the end of their task pipe; :mod:`mesocli.workers` checks besides), holding no model."""
    process = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                                "none", "--workers", "2", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        process.stdin.write(os.fsencode(faces[0]) + b"\n")
        process.stdin.flush()
        assert json.loads(_Lines(process.stdout).next())["status"] == "ok"
        workers = [pid for pid in children_of(process.pid)
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(workers) == 2
    finally:
        process.kill()
        process.wait()
    give_up = time.monotonic() + 30  # they stop within a second; only a guard against a hang
    while time.monotonic() < give_up and any(map(running, workers)):
        time.sleep(0.1)
    left = [pid for pid in workers if running(pid)]
    for pid in left:
        os.kill(pid, 9)
    assert left == []


def test_a_resumed_scan_of_paths_on_stdin_appends_each_row_as_it_comes(own_weights: Path, faces: list[Path],
                                                                      tmp_path: Path) -> None:
    """``--resume`` with paths on stdin: inputs the output holds are skipped, each new row is on disk before the
    next line arrives, and the resume count is given once the list ends."""
    output = tmp_path / "results.jsonl"
    command = [sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector", "none",
               "--workers", "1", "-o", str(output), "--resume", "-"]
    first = subprocess.run(command, input=os.fsencode(faces[0]) + b"\n", capture_output=True, timeout=240)
    assert first.returncode == 0, first.stderr
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        notes = _Lines(process.stderr)
        process.stdin.write(b"%s\n%s\n" % (os.fsencode(faces[0]), os.fsencode(faces[1])))
        process.stdin.flush()
        give_up = time.monotonic() + 120  # only a guard against a hang
        with open(output, "rb") as written:
            written.readline()
            while not (line := written.readline()).endswith(b"\n"):  # the new row, before stdin closes
                assert process.poll() is None and time.monotonic() < give_up, "no row before the list ended"
                written.seek(-len(line), os.SEEK_CUR)
                time.sleep(0.05)
        assert json.loads(line)["path"] == str(faces[1])
        process.stdin.close()
        assert process.wait(timeout=240) == 0
        assert notes.next().decode().startswith(f"mesocli: resume: 1 of 2 inputs already in {output}")
    finally:
        process.kill()
        process.wait()
    assert [json.loads(line)["path"] for line in output.read_text().splitlines()] == [str(p) for p in faces]


def test_closed_standard_streams_give_one_line_not_a_traceback(own_weights: Path, faces: list[Path],
                                                                tmp_path: Path) -> None:
    """A shell's ``>&-``, ``2>&-``, ``<&-``: scans that do not need the closed stream work; one that does
    is refused before any work, in one line, with exit 2 (exit 1 would mean "fake")."""
    base = [sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector", "none"]

    def run(*args: object, close: int) -> subprocess.CompletedProcess:
        """The scan with standard stream ``close`` (0, 1, 2) closed in the child, the others piped."""
        return subprocess.run([*base, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300, preexec_fn=lambda: os.close(close))

    written = tmp_path / "out.jsonl"
    done = run("-o", written, faces[0], close=1)  # the results go to a file: stdout is not needed
    assert done.returncode == 0 and done.stderr == "" and json.loads(written.read_text())["status"] == "ok"
    done = run(faces[0], close=1)
    assert done.returncode == 2 and done.stderr.strip() == (
        "mesocli: error: standard output is closed: write the results to a file with --output FILE")
    done = run("--format", "jsonl", faces[0], close=2)
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "ok"
    done = run("-", close=0)
    assert done.returncode == 2 and done.stderr.strip() == "mesocli: error: no inputs (stdin gave no paths)"


def test_a_video_without_faces_exits_3_and_the_others_are_reported(run_cli: RunCli, own_weights: Path,
                                                                   kit: MediaKit) -> None:
    result = run_cli("scan", "--weights", own_weights, "--frames", "6", kit.noface_video, kit.face_video)
    assert result.code == 3
    items = result.jsonl()
    for item in items:
        check_schema(item)
    assert [(i["status"], i["type"], i["p_fake"] is None) for i in items] == [
        ("no_face", "video", True), ("ok", "video", False)
    ]
    assert [i["frames"] for i in items] == [{"sampled": 6, "with_face": 0}, {"sampled": 6, "with_face": 6}]


def test_the_scan_plan_lists_a_folders_media_so_the_progress_bar_knows_its_total(
    faces: list[Path], tmp_path: Path
) -> None:
    from mesocli.scan_run import plan_scan

    (tmp_path / "empty").mkdir()
    folder = faces[0].parent
    (folder / "notes.txt").write_text("not media")
    todo, stamp = plan_scan([str(folder), str(faces[0]), str(tmp_path / "empty")], None, [], [], quiet=True)
    # the empty folder: its error; faces[0], reached twice (as `find DIR | mesocli scan -` gives it), once
    assert todo == [str(faces[0]), str(faces[1]), str(tmp_path / "empty")]
    assert stamp({"path": "x"}) == {"path": "x"}


def test_a_link_among_the_uploads_is_noted_not_left_out_without_a_word(faces: list[Path], tmp_path: Path) -> None:
    """An inbox whose subfolder holds a link to one of its files (``sub/again.png -> ../one.png``): the link was
    scanned once, as the file it names, and left out of the table, the JSON and the report without a word: a
    moderator counting uploads found one missing. Now a note names it and the name its row is under (once, though
    the folder and its subfolder are both given); the same name reached twice (``find DIR | mesocli scan -`` lists
    the folder, then its files) is no alias."""
    from mesocli.scan_run import plan_scan

    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    kept = folder / "one.png"
    kept.write_bytes(faces[0].read_bytes())
    (folder / "sub" / "again.png").symlink_to(Path("..") / "one.png")
    notes: list[str] = []
    todo, _ = plan_scan([str(folder), str(folder / "sub"), str(kept)], None, [], [], quiet=True, log=notes.append)
    assert todo == [str(kept)]
    assert notes == [f"mesocli: {folder / 'sub' / 'again.png'}: the same file as {kept} (a link, or another spelling "
                     "of its path): scanned once, its row is under that name"]


def test_a_hard_link_among_the_uploads_is_one_file_noted_once(faces: list[Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """An inbox holding a file and a hard link to it (two names, one inode: ``ln one.png two.png``, as a sync tool
    or a deduplicating backup leaves them): the two names were two rows of one file, where a symbolic link is one
    row and a note. The hard link is now one file too, found the same way (device and inode), named in the note;
    a file named by an absolute path and by a relative one is one file too, without a note of its own name."""
    from mesocli.scan_run import plan_scan

    monkeypatch.chdir(tmp_path)
    Path("inbox").mkdir()
    Path("inbox/one.png").write_bytes(faces[0].read_bytes())
    os.link("inbox/one.png", "inbox/two.png")
    Path("inbox/three.png").write_bytes(faces[0].read_bytes())  # a copy: another file, its own row
    notes: list[str] = []
    todo, _ = plan_scan(["inbox", str(tmp_path / "inbox" / "two.png")], None, [], [], quiet=True, log=notes.append)
    assert todo == ["inbox/one.png", "inbox/three.png"]
    assert notes == ["mesocli: 2 names of files reached again (links, or other spellings of a path): each file "
                     f"scanned once, its row under its first name: inbox/two.png is inbox/one.png; {tmp_path}/inbox/"
                     "two.png is inbox/one.png"]


def test_hard_links_listed_one_by_one_on_stdin_are_noted_in_a_few_lines(faces: list[Path], tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``find inbox -type f | mesocli scan -`` over an inbox of a deduplicating backup (one file, many hard links):
    each link arriving alone got a note of its own, a line per link on stderr. The first three are noted as they
    arrive, the rest in one line when the list ends."""
    from mesocli.scan_run import plan_scan
    from mesocli.stdin_paths import StreamedInputs

    monkeypatch.chdir(tmp_path)
    Path("inbox").mkdir()
    Path("inbox/a.png").write_bytes(faces[0].read_bytes())
    for number in range(1, 7):
        os.link("inbox/a.png", f"inbox/h{number}.png")
    notes: list[str] = []
    todo, _ = plan_scan(StreamedInputs([f"inbox/{name}.png" for name in ("a", "h1", "h2", "h3", "h4", "h5", "h6")]),
                        None, [], [], quiet=True, log=notes.append)
    assert list(todo) == ["inbox/a.png"]
    assert notes == [*(f"mesocli: inbox/h{number}.png: the same file as inbox/a.png (a link, or another spelling of "
                       "its path): scanned once, its row is under that name" for number in (1, 2, 3)),
                     "mesocli: 3 more names of files reached again (links, or other spellings of a path): each file "
                     "scanned once, its row under its first name: inbox/h4.png is inbox/a.png; inbox/h5.png is "
                     "inbox/a.png; inbox/h6.png is inbox/a.png"]


def test_a_linked_folder_among_the_uploads_is_noted(faces: list[Path], tmp_path: Path) -> None:
    """An inbox whose ``b`` is a link to its folder ``a``: ``a`` was walked, ``b`` cut as a folder already walked,
    and its files left out of the table, the JSON and the report without a word (a link to one file is noted)."""
    from mesocli.scan_run import plan_scan

    folder = tmp_path / "inbox"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "one.png").write_bytes(faces[0].read_bytes())
    (folder / "b").symlink_to("a")
    notes: list[str] = []
    todo, _ = plan_scan([str(folder)], None, [], [], quiet=True, log=notes.append)
    assert todo == [str(folder / "a" / "one.png")]
    assert notes == [f"mesocli: {folder / 'b'}: the same folder as {folder / 'a'} (a link, or another spelling of "
                     "its path): its files scanned once, their rows are under that name"]


def test_a_path_spelt_with_dot_slash_is_no_alias(faces: list[Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``find ./inbox | mesocli scan -`` lists the folder (``./inbox``, planned as ``inbox/one.png``), then each of
    its files as ``./inbox/one.png``: every file got a note "the same file as inbox/one.png (a link, or another
    spelling of its path)", one line per upload, on stderr and in the report's header. The same name but for
    ``./`` is no other name; a link still is."""
    from mesocli.scan_run import plan_scan

    monkeypatch.chdir(tmp_path)
    Path("inbox").mkdir()
    Path("inbox/one.png").write_bytes(faces[0].read_bytes())
    Path("inbox/two.png").symlink_to("one.png")
    notes: list[str] = []
    todo, _ = plan_scan(["./inbox", "./inbox/one.png", "./inbox/two.png"], None, [], [], quiet=True,
                        log=notes.append)
    assert todo == ["inbox/one.png"]
    assert notes == ["mesocli: inbox/two.png: the same file as inbox/one.png (a link, or another spelling of its "
                     "path): scanned once, its row is under that name"]


def test_the_skipped_note_leaves_out_the_scans_own_outputs(faces: list[Path], tmp_path: Path) -> None:
    """A scan writing into the folder it scans (``scan uploads -o uploads/rows.csv --resume``, or with its
    ``--explain`` folder there) found its own output and the heatmaps' input.json among the files "skipped"
    and told the user to name them as inputs; they are this scan's, not uploads it missed. A user's file stays."""
    from mesocli.scan_run import plan_scan

    folder = tmp_path / "uploads"
    folder.mkdir()
    shown = [folder / face.name for face in faces]
    for face, copy in zip(faces, shown, strict=True):
        copy.write_bytes(face.read_bytes())
    output, explain = folder / "rows.csv", folder / "heat"
    output.write_text("path,status\n")
    (folder / f".{output.name}.x1y2.part").write_text("")  # the output being written, hidden
    (explain / "clip").mkdir(parents=True)
    (explain / "clip" / "input.json").write_text("{}")
    (folder / "notes.txt").write_text("not media")
    notes: list[str] = []
    todo, _ = plan_scan([str(folder)], None, [], [], quiet=True, log=notes.append, outputs=[output],
                        output_folders=[explain])
    assert todo == list(map(str, shown)), notes
    assert [n for n in notes if "hidden" not in n] == [
        f"mesocli: {folder}: skipped 1 file that is not a video or image (notes.txt); name one as an input to see why"]


@pytest.mark.parametrize(
    ("stdout_tty", "fmt", "output", "bars"),
    [
        (True, "table", None, True),  # the table is printed once the bars are gone
        (True, "jsonl", None, False),  # rows stream to the terminal the bars are drawn on
        (True, "json", None, False),
        (True, "csv", None, False),
        (True, "jsonl", "out.jsonl", True),  # rows go to a file
        (False, "jsonl", None, True),  # rows go to a pipe
    ],
)
def test_progress_bars_are_never_drawn_over_rows_on_the_same_terminal(
        monkeypatch: pytest.MonkeyPatch, stdout_tty: bool, fmt: str, output: str | None, bars: bool) -> None:
    from mesocli.scan_run import _bars_wanted

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: stdout_tty)
    assert _bars_wanted(False, fmt, None if output is None else Path(output)) is bars
    assert _bars_wanted(True, fmt, None) is False  # --quiet


@pytest.mark.parametrize("package", ["dlib", "face_recognition_models"])
def test_a_missing_face_detector_package_is_one_line_before_any_input(
    run_cli: RunCli, own_weights: Path, faces: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    package: str,
) -> None:
    """A damaged install without dlib (or its models) stops scan and extract at once, with the package named;
    it used to give one error row per input. ``--detector none`` needs neither."""
    monkeypatch.setitem(sys.modules, package, None)  # `import dlib` fails, as when it is not installed
    wanted = "dlib-bin" if package == "dlib" else package
    for args in (["scan", "--weights", own_weights, *faces], ["extract", *faces, tmp_path / "out"]):
        result = run_cli(*args)
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err
        assert f"needs the Python package {wanted}, which is not installed" in result.error_line()
        assert not result.out and not (tmp_path / "out").exists()
    assert run_cli("scan", "--weights", own_weights, "--detector", "none", *faces).code == 0


@pytest.mark.parametrize(("damage", "model"), [("missing", "shape_predictor_68_face_landmarks.dat"),
                                               ("damaged", "shape_predictor_68_face_landmarks.dat"),
                                               ("damaged", "dlib_face_recognition_resnet_model_v1.dat")])
def test_a_missing_or_damaged_face_model_file_stops_scan_and_extract(
    run_cli: RunCli, own_weights: Path, faces: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    damage: str, model: str,
) -> None:
    """A face model file of face_recognition_models missing (or cut short: dlib cannot read it) is the
    installation's fault: scan gave an error row per input (``face model file missing``, or dlib's many-line
    RuntimeError), exit 3, and extract an error row per input for a damaged one. Now both stop, one line, exit 2,
    and the rows of a --resume output stay as they were. The face descriptor model (read at a cut) too, found in
    review: damaged, it stopped a run only at its first cut (inputs without one scanned as if nothing were wrong,
    the rows of a long run without --resume lost at that stop)."""
    import mesocli.faces

    models = tmp_path / "models"
    models.mkdir()
    for name in mesocli.faces.MODEL_FILES:
        (models / name).symlink_to(mesocli.faces.models_dir() / name)
    output = tmp_path / "rows.jsonl"
    assert run_cli("scan", "--weights", own_weights, faces[0], "-o", output, "--resume", "-q").code == 0
    kept = output.read_bytes()
    landmarks = models / model
    landmarks.unlink()  # the link only: the installed file stays as it is
    if damage == "damaged":
        with open(mesocli.faces.models_dir() / landmarks.name, "rb") as installed:
            landmarks.write_bytes(installed.read(1000))  # cut short
    monkeypatch.setattr(mesocli.faces, "models_dir", lambda: models)
    mesocli.faces._landmark_model.cache_clear()
    mesocli.faces._descriptor_model_readable.cache_clear()
    try:
        wanted = (f"face model file damaged or unreadable: {landmarks} (" if damage == "damaged"
                  else f"face model file missing: {landmarks} (reinstall face_recognition_models)")
        for args in (["scan", "--weights", own_weights, *faces, "-o", output, "--resume", "-q"],
                     ["extract", *faces, tmp_path / "out", "--workers", "1"]):  # (in this process)
            result = run_cli(*args)
            assert result.code == 2 and result.error_line().startswith(wanted), result.err
        assert output.read_bytes() == kept
    finally:
        mesocli.faces._landmark_model.cache_clear()
        mesocli.faces._descriptor_model_readable.cache_clear()


def test_streamed_inputs_read_stdin_as_scan_reads_a_list(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The paths of ``-`` among other inputs, in order: blank lines skipped, CRLF and a last line without its
    newline read, a second ``-`` empty; a standard input that cannot be read is an error, not a shorter list."""
    from mesocli.errors import UsageError
    from mesocli.stdin_paths import StreamedInputs

    read, write = os.pipe()
    os.write(write, b"a\n\n  \nb\r\nc\xff")
    os.close(write)
    with open(read, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        assert list(StreamedInputs(["x", "-", "y", "-"])) == ["x", "a", "b", os.fsdecode(b"c\xff"), "y"]
    folder = os.open(tmp_path, os.O_RDONLY)  # read(2) fails: EISDIR
    try:
        monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(fileno=lambda: folder))
        with pytest.raises(UsageError, match="cannot read the paths on standard input"):
            list(StreamedInputs(["-"]))
    finally:
        os.close(folder)


def test_a_nul_separated_list_on_stdin(scan, faces: list[Path], tmp_path: Path) -> None:
    """``find … -print0 | mesocli scan --null -``: names with a newline (or ending in spaces) are read whole.
    Without ``--null`` such a list was one path holding NUL bytes: an error row, and with ``-o`` a ValueError
    traceback ("embedded null byte"); now one line that says to give ``--null``."""
    odd = tmp_path / "two\nlines .png"
    odd.write_bytes(faces[0].read_bytes())
    listing = b"".join(os.fsencode(path) + b"\0" for path in [odd, faces[1], odd])
    result = scan("--null", "-", stdin=os.fsdecode(listing))
    assert result.code == 0, result.err
    assert [row["path"] for row in result.jsonl()] == [str(odd), str(faces[1])]
    plain = b"".join(os.fsencode(path) + b"\0" for path in faces)
    for extra in ([], ["-o", tmp_path / "out.jsonl"]):
        result = scan(*extra, "-", stdin=os.fsdecode(plain))
        assert (result.code, result.error_line()) == (2, "the paths on standard input are separated by NUL bytes "
                                                         "(find -print0): give --null")
    assert not (tmp_path / "out.jsonl").exists()
    result = scan("--null", faces[0])
    assert result.code == 2 and "--null is for the paths on standard input" in result.error_line()


def test_a_nul_separated_list_streams_from_a_pipe(own_weights: Path, faces: list[Path], tmp_path: Path) -> None:
    """``--null`` through a real pipe, the list held open after its first name: that name's row comes first."""
    process = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                                "none", "--workers", "1", "-0", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    try:
        rows = _Lines(process.stdout)
        process.stdin.write(os.fsencode(faces[0]) + b"\0")
        process.stdin.flush()
        assert json.loads(rows.next())["path"] == str(faces[0])
        process.stdin.write(os.fsencode(faces[1]))
        process.stdin.close()
        assert json.loads(rows.next())["path"] == str(faces[1])
        assert process.wait(timeout=120) == 0
    finally:
        process.kill()
        process.wait()


def _scan_stdin_after_first_row(args: list[str], first: Path, fmt: str,
                                then: Callable[[subprocess.Popen], Any]) -> tuple[int, bytes, bytes]:
    """``mesocli scan ARGS -`` given ``first`` on stdin: once its row is out, ``then(process)``, stdin closed; the
    exit status, all of standard output and standard error."""
    process = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", *args, "-"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        process.stdin.write(os.fsencode(first) + b"\n")
        process.stdin.flush()
        out = read_until(process.stdout, ROW_END[fmt])
        then(process)
        process.stdin.close()
        rest, err = process.stdout.read(), process.stderr.read()
        process.wait(timeout=120)
    finally:
        process.kill()
        process.wait()
    return process.returncode, out + rest, err


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_a_usage_error_found_mid_run_leaves_the_rows_done_as_a_whole_document(own_weights: Path, faces: list[Path],
                                                                               fmt: str) -> None:
    """A line of the list found bad after the first row was written (a NUL byte without ``--null``): exit 2 and
    its one line, and standard output a whole document of the rows done. JSON was ``[`` and a row, no ``]``."""
    def bad_line(process: subprocess.Popen) -> None:
        process.stdin.write(os.fsencode(faces[1]) + b"\0\n")

    code, out, err = _scan_stdin_after_first_row(["--weights", str(own_weights), "--detector", "none", "--workers",
                                                  "1", "--format", fmt], faces[0], fmt, bad_line)
    assert (code, err) == (2, b"mesocli: error: the paths on standard input are separated by NUL "
                                            b"bytes (find -print0): give --null\n")
    assert [row["path"] for row in parsed_rows(fmt, out)] == [str(faces[0])]


@pytest.mark.parametrize("resume", [False, True])
def test_an_output_listed_on_stdin_is_left_out_not_read(scan, faces: list[Path], tmp_path: Path,
                                                        resume: bool) -> None:
    """``find case -type f | mesocli scan - -o case/results.json``: the list streams, so the output cannot be
    refused before the work. It was refused when its line came (exit 2: the rows done lost with ``-o``), and the
    output's temporary file, which ``find`` lists while the scan writes it, was scanned as evidence (an error
    row, exit 3). Both are now left out, with a note; the output is written whole."""
    output = tmp_path / ("results.jsonl" if resume else "results.json")
    output.write_text("")  # an earlier run's (replaced with --force; appended to with --resume)
    temporary = tmp_path / f".{output.name}.k2x_9q0z.part"  # as the scan's own temporary file is named
    temporary.write_text("[\n")
    listing = "".join(f"{path}\n" for path in [faces[0], output, temporary, faces[1]])
    result = scan("-", "-o", output, "--resume" if resume else "--force", "--workers", "1", stdin=listing)
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in output.read_text().splitlines()] if resume else json.loads(
        output.read_text())
    assert [row["path"] for row in rows] == [str(faces[0]), str(faces[1])]
    assert f"mesocli: left out {output}: it is an output of this scan, not an input\n" in result.err
    assert f"mesocli: left out {temporary}: a temporary file of this scan's output, not an input\n" in result.err


def test_a_hard_link_to_the_output_is_no_input(faces: list[Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A backup that hard-links the rows file into the case folder (``backup/rows.jsonl``, the same file: one device
    and inode): named among the inputs, it was read as evidence while the scan appends to it (an error row of the
    output itself in the output, exit 3), as the output under its own name is not; on stdin it is now left out with
    a note, and named on the command line the run is refused, as for the output's own name."""
    from mesocli.errors import ParameterError
    from mesocli.scan_run import plan_scan
    from mesocli.stdin_paths import StreamedInputs

    monkeypatch.chdir(tmp_path)
    Path("backup").mkdir()
    Path("rows.jsonl").write_text("")
    os.link("rows.jsonl", "backup/rows.jsonl")
    notes: list[str] = []
    todo, _ = plan_scan(StreamedInputs([str(faces[0]), "backup/rows.jsonl"]), None, [], [], quiet=True,
                        log=notes.append, outputs=[Path("rows.jsonl")])
    assert list(todo) == [str(faces[0])]
    assert notes == ["mesocli: left out backup/rows.jsonl: it is an output of this scan, not an input"]
    with pytest.raises(ParameterError, match="an output cannot be one of the inputs"):
        plan_scan([str(faces[0]), "backup/rows.jsonl"], None, [], [], quiet=True, outputs=[Path("rows.jsonl")])


def _hour_of_scores(fps: int = 30) -> dict[str, Any]:
    """A result row of a 1-hour video scored at every frame (``--all-frames --detail``): 108,000 faces."""
    scores = [{"frame": n, "time": round(n / fps, 6), "p_fake": round((n * 7919 % 1000003) / 1000003, 6), "track": 0}
              for n in range(3600 * fps)]
    return {"path": "hour.mp4", "status": "ok", "scores": scores, "segments": [], "warnings": []}


def test_a_csv_cell_is_never_longer_than_a_spreadsheet_cell() -> None:
    """``--format csv --detail`` of a 1-hour video at every frame wrote a 7 MB ``scores`` cell: a spreadsheet cuts a
    cell at 32,767 characters, or splits it over the next cells, and the sheet no longer lines up; Python's csv
    module refused it (field larger than field limit). The cell now holds the faces that fit, then says how many
    more there are and where to find them (JSON Lines), and a note on stderr says so."""
    from mesocli.writers import CELL_LIMIT, make_writer

    row = _hour_of_scores()
    stream, notes = io.StringIO(), []
    writer = make_writer("csv", stream, log=notes.append)
    writer.write(row)
    writer.close()
    (cells,) = list(csv.DictReader(io.StringIO(stream.getvalue())))  # within csv's field size limit, too
    assert CELL_LIMIT == 32_767 and max(map(len, cells.values())) <= CELL_LIMIT
    kept, _, rest = cells["scores"].rpartition("] (+")
    kept = json.loads(kept + "]")
    assert 400 < len(kept) < 600 and kept == row["scores"][: len(kept)]
    assert rest == (f"{len(row['scores']) - len(kept)} more, cut: a spreadsheet cell holds 32,767 characters; "
                    "--format jsonl has them all)")
    assert notes == [f"mesocli: hour.mp4: its scores cell holds {len(kept)} of {len(row['scores'])} items, what a "
                     "spreadsheet cell holds (32,767 characters): --format jsonl has them all"]


def test_a_csv_cell_counts_characters_as_a_spreadsheet_does() -> None:
    """A spreadsheet counts a cell in UTF-16 units: a character beyond U+FFFF (an emoji in a file name) counts twice.
    Warnings naming such files fit in 32,767 Python characters but not in a cell."""
    from mesocli.writers import CELL_LIMIT, list_cell

    items = ["\U0001f600" * 100] * 200  # 20,000 characters, 40,000 UTF-16 units, as JSON text
    cell = list_cell(items, "warnings", "clip.mp4")
    assert len(cell.encode("utf-16-le")) // 2 <= CELL_LIMIT
    assert cell.endswith("more, cut: a spreadsheet cell holds 32,767 characters; --format jsonl has them all)")


def test_a_csv_cell_counts_a_name_that_is_not_utf8_as_it_is_written() -> None:
    """A file name's bytes that are not UTF-8 (``caf\\xe9``: the surrogate U+DCE9 in Python) are written as the
    escape ``\\udce9`` (6 characters) to an ``--output`` file and to a UTF-8 standard output: counted as one
    character, a cell of warnings naming such files came out longer than a spreadsheet cell."""
    from mesocli.writers import CELL_LIMIT, list_cell

    items = [os.fsdecode(b"\xe9" * 100)] * 100  # 10,000 surrogates: 60,000 characters once written
    cell = list_cell(items, "warnings", "clip.mp4")
    written = cell.encode("utf-8", "backslashreplace").decode("ascii")  # as scan_run opens --output
    assert len(written) <= CELL_LIMIT
    assert written.startswith('["\\udce9') and written.endswith("--format jsonl has them all)")
    assert list_cell(items[:2], "warnings", "clip.mp4") == json.dumps(items[:2], separators=(",", ":"),
                                                                      ensure_ascii=False)  # short: whole


def test_a_report_that_fails_at_the_end_leaves_the_json_on_stdout_whole(own_weights: Path, faces: list[Path],
                                                                        tmp_path: Path) -> None:
    """The rows are all out and the list closed when the report, written last, is refused (a file appeared at its
    path meanwhile): exit 2 and its line, and standard output the closed list, not closed twice."""
    report = tmp_path / "report.html"
    code, out, err = _scan_stdin_after_first_row(["--weights", str(own_weights), "--detector", "none", "--format",
                                                  "json", "--report", str(report)], faces[0], "json",
                                                 lambda process: report.write_text("someone else's\n"))
    assert code == 2 and b"report.html: exists (it appeared during the run)" in err, err
    assert [row["path"] for row in parsed_rows("json", out)] == [str(faces[0])]
    assert report.read_text() == "someone else's\n"


def test_a_table_printed_before_the_report_fails_is_printed_once(own_weights: Path, faces: list[Path],
                                                                tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The table is printed when the scan is over, then the report is written: when the report is refused (a file
    appeared at its path meanwhile; or Ctrl-C while it is written) the table was printed a second time, under a
    line that said the scan stopped with 0 inputs not scanned. Now the table stands once, as a whole run's."""
    from mesocli.errors import ParameterError
    from mesocli.scan import ScanOptions
    from mesocli.scan_run import run_scan

    folder = tmp_path / "uploads"
    folder.mkdir()
    for face in faces:
        (folder / face.name).write_bytes(face.read_bytes())
    (folder / ".thumbs").write_bytes(b"")  # its note comes once the report's path was checked, before the scan
    report = tmp_path / "report.html"

    def appear(line: str) -> None:
        if "hidden" in line:
            report.write_text("someone else's\n")

    capsys.readouterr()
    with pytest.raises(ParameterError, match="appeared during the run"):
        run_scan([str(folder)], ScanOptions(detector="none"), weights=own_weights, fmt="table", report=report,
                 quiet=True, log=appear)
    out = capsys.readouterr().out
    assert report.read_text() == "someone else's\n"
    assert [line for line in out.splitlines() if line.startswith("2 inputs: ")] == ["2 inputs: 2 real"], out
    assert "stopped by" not in out, out
    assert [line.split(" ")[0] for line in out.splitlines() if line.startswith(str(folder))] == [
        str(folder / "one.png"), str(folder / "two.jpg")]


def test_a_heatmap_listed_on_stdin_is_left_out_not_read(scan, faces: list[Path], tmp_path: Path) -> None:
    """``find case -type f | mesocli scan - --explain case/heatmaps``: ``find`` lists the heatmaps the scan writes
    meanwhile (or an earlier run's, replaced with ``--force``); each was scanned as a face image, a row of
    evidence that the scan itself drew. Now left out, with a note."""
    explain = tmp_path / "heatmaps"
    heatmap = explain / "one" / "01_pfake0.731_frame000000.png"
    heatmap.parent.mkdir(parents=True)
    heatmap.write_bytes(faces[1].read_bytes())
    source = heatmap.parent / "input.json"  # the folder's note of the input its heatmaps are of
    source.write_text('{"path": "one.png", "sha256": null}\n')
    result = scan("-", "--explain", explain, "--force", "--format", "jsonl",
                  stdin=f"{faces[0]}\n{heatmap}\n{source}\n")
    assert result.code == 0, result.err
    assert [row["path"] for row in result.jsonl()] == [str(faces[0])]
    assert f"mesocli: left out {heatmap}: a heatmap in this scan's --explain folder, not an input\n" in result.err
    assert f"mesocli: left out {source}: a heatmap folder's input.json in this scan's --explain folder" in result.err


@pytest.mark.parametrize(("name", "hint"), [("results.html", "for the HTML report give --report {out}"),
                                            ("results.xlsx", "a .csv file opens in a spreadsheet"),
                                            ("Results.ODS", "a .csv file opens in a spreadsheet")])
def test_an_output_named_as_another_kind_of_document_is_refused(scan, faces: list[Path], tmp_path: Path,
                                                                name: str, hint: str) -> None:
    """A moderator's ``scan uploads/ -o results.html`` (meaning ``--report``) or ``-o results.xlsx``: JSON Lines
    were written under that name without a word (any other suffix meant JSON Lines), and the browser showed
    a wall of text, the spreadsheet said the file was damaged. Refused before any work; ``--format`` says
    the name is meant."""
    out = tmp_path / name
    result = scan(*faces, "-o", out)
    assert result.code == 2
    line = result.error_line()
    assert line.startswith(f"{out}: --output writes JSON Lines, JSON or CSV (chosen by its suffix)")
    assert hint.format(out=out) in line and "or give --format" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []
    result = scan(*faces, "-o", out, "--format", "csv")  # meant: a CSV file under that name
    assert result.code == 0, result.err
    assert out.read_text().startswith("path,")
    for plain in ("results", "results.txt", "results.log"):  # no suffix of another document: JSON Lines, as documented
        assert scan(*faces, "-o", tmp_path / plain).code == 0
        assert (tmp_path / plain).read_text().startswith('{"path"')


@pytest.mark.parametrize(("name", "hint"), [("report.csv", "for the rows in this format give --output {out}"),
                                            ("Report.JSON", "for the rows in this format give --output {out}"),
                                            ("report.xlsx", "for rows in a spreadsheet give --output FILE.csv")])
def test_a_report_named_as_rows_is_refused(scan, faces: list[Path], tmp_path: Path, name: str, hint: str) -> None:
    """A moderator's ``scan uploads/ --report report.csv`` (meaning ``--output``, "a CSV for a spreadsheet"): the
    HTML page was written under that name without a word, and the spreadsheet showed HTML source. Refused before
    any work (``--output results.html`` already was), naming what to give instead."""
    out = tmp_path / name
    result = scan(*faces, "--report", out)
    assert result.code == 2
    assert result.error_line() == (f"{out}: --report writes an HTML page, to open in a browser: name it .html; "
                                   + hint.format(out=out))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("name", "hint"), [("r.tsv", ", e.g. {dir}/r.html"), ("r.txt", ", e.g. {dir}/r.html"),
                                            ("r.pdf", ", e.g. {dir}/r.html (a browser prints it to PDF)"),
                                            ("report", ", e.g. {dir}/report.html"),
                                            ("r.xhtml", ", e.g. {dir}/r.html")])
def test_a_report_not_named_as_a_page_is_refused(scan, faces: list[Path], tmp_path: Path, name: str,
                                                 hint: str) -> None:
    """``scan uploads/ --report r.tsv`` (or ``.txt``, ``.pdf``, no suffix): the HTML page was written under that
    name without a word, and opened as text, or by no program at all. Any name not ``.html``/``.htm`` is refused
    before any work, naming the page's name; ``.HTML``/``.Htm`` are HTML names (browsers open them as pages)."""
    out = tmp_path / name
    result = scan(*faces, "--report", out)
    assert result.code == 2
    assert result.error_line() == (f"{out}: --report writes an HTML page, to open in a browser: name it .html"
                                   + hint.format(dir=tmp_path))
    assert list(tmp_path.iterdir()) == []
    for page in ("r.HTML", "r.Htm") if name == "report" else ():
        assert scan(*faces, "--report", tmp_path / page).code == 0
        assert (tmp_path / page).read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize(("name", "hint"), [("folder", "folder/report.html"), (".html", "report.html"),
                                            (".HTM", "report.html"), ("case.v2", "case.v2.html"),
                                            ("scan.2024-03-15", "scan.2024-03-15.html"), ("r.txt", "r.html")])
def test_a_refused_report_name_hints_a_name_that_keeps_it(scan, faces: list[Path], tmp_path: Path, name: str,
                                                          hint: str) -> None:
    """The name a refused ``--report`` was told to use instead: ``--report out/`` (a folder) was told ``out.html``
    beside it (it used to be told it is a folder), a bare ``.html`` (``--report "$case.html"`` with ``$case``
    empty) ``.html.html``, and ``case.v2`` ``case.html``, dropping part of the name. A folder is told a page in it,
    a bare suffix ``report.html``, a name whose suffix is not a file kind keeps it (``case.v2.html``)."""
    (tmp_path / "folder").mkdir()
    before = sorted(tmp_path.iterdir())
    result = scan(*faces, "--report", tmp_path / name)
    assert result.code == 2
    assert result.error_line() == (f"{tmp_path / name}: --report writes an HTML page, to open in a browser: name it "
                                   f".html, e.g. {tmp_path / hint}")
    assert sorted(tmp_path.iterdir()) == before


def test_a_report_named_dash_is_refused(scan, faces: list[Path], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan uploads/ --report -`` (``-`` as ``--output -`` means: standard output): the HTML page was written to a
    file named ``-`` in the current folder, without a word. Refused before any work, naming what to give."""
    monkeypatch.chdir(tmp_path)
    result = scan(*faces, "--report", "-")
    assert result.code == 2
    assert result.error_line() == ("--report -: the report is an HTML page written to a file, not to standard "
                                   "output: name it, e.g. report.html")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("value", "hint"), [
    ("2", " (a p_fake, not a percentage: did you mean 0.2, or 0.02 for 2 %?)"),
    ("50", " (a p_fake, not a percentage: 0.5 for 50 %)"),
    ("70", " (a p_fake, not a percentage: 0.7 for 70 %)"),
    ("72.5", " (a p_fake, not a percentage: 0.725 for 72.5 %)"),
    ("100", " (a p_fake, not a percentage: 1 for 100 %)"),
    ("150", ""), ("1.5", "")])
def test_a_threshold_over_one_names_what_it_may_have_meant(scan, faces: list[Path], value: str, hint: str) -> None:
    """``--threshold 2`` was told "0.02 for 2 %" alone, where a dropped ``0.`` (0.2) is as likely; both are named
    for 2 to 9. From 10 to 100 the percentage is the reading (a dropped ``0.`` of 0.25 reads 25, the same p_fake),
    decimals too; no guess over 100, nor for 1.5."""
    result = scan("--threshold", value, faces[0])
    assert result.code == 2
    assert result.error_line() == f"--threshold must be between 0 and 1, not {float(value)}{hint}"


def test_a_min_track_frames_under_one_is_a_usage_error(scan, faces: list[Path]) -> None:
    result = scan("--all-faces", "--min-track-frames", "0", faces[0])
    assert (result.code, result.error_line()) == (2, "--min-track-frames must be at least 1")


def test_min_track_frames_without_all_faces_is_refused(scan, faces: list[Path]) -> None:
    """--min-track-frames sets which --all-faces tracks decide; without --all-faces it was silently ignored (a user
    who meant it got the one-face verdict). It is refused, as --seed without --limit is; the API too."""
    result = scan("--min-track-frames", "5", faces[0])
    assert (result.code, result.error_line()) == (
        2, "--min-track-frames goes with --all-faces (which tracks decide a video's verdict)")
    from mesocli.errors import UsageError
    from mesocli.scan import ScanOptions

    with pytest.raises(UsageError, match="^min_track_frames goes with all_faces"):
        ScanOptions(detector="none", min_track_frames=1)
    assert ScanOptions(detector="none", all_faces=True).min_track_frames == 3
    assert ScanOptions(detector="none").min_track_frames is None


def test_an_error_writing_a_heatmap_keeps_the_rows_of_the_inputs_read_whole(scan, faces: list[Path],
                                                                            tmp_path: Path) -> None:
    """An error of the writing side that stops the scan (here a heatmap that cannot be written: a file stands where
    its folder goes) writes the rows of the inputs read whole by then, after the row it came with, in input order,
    and says so under its error line; the heatmap folder is left as it was, as after any failed scan. They were dropped:
    only the rows up to the failed one were out."""
    paths = []
    for name in "abcd":
        paths.append(tmp_path / f"{name}.png")
        paths[-1].write_bytes(faces[0].read_bytes())
    heat = tmp_path / "heat"
    heat.mkdir()
    (heat / "b").write_text("not a folder")  # where b.png's heatmaps go
    result = scan("--format", "jsonl", "--explain", heat, "--force", *paths)
    assert result.code == 2, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [row["path"] for row in rows] == [str(p) for p in paths]  # (the images are read long before b's row)
    assert [row["status"] for row in rows] == ["ok"] * 4
    lines = result.err.splitlines()
    assert lines[-2].startswith("mesocli: error: ") and "is not a folder" in lines[-2], result.err
    assert lines[-1] == ("mesocli: after the error, the rows of 2 more inputs read whole before it were written "
                         "(4 in all)")
    assert sorted(heat.iterdir()) == [heat / "b"] and (heat / "b").read_text() == "not a folder"  # as it was


class _Terminal(io.StringIO):
    """A terminal's standard output (the table folds to its width, ``COLUMNS``)."""

    def isatty(self) -> bool:
        return True


def _read_back(text: str) -> list[dict[str, str]]:
    """What a reader gets of each input from a scan table on a terminal, or from its list layout: each field's text
    (its lines joined, spaces dropped: a cell may fold anywhere), up to the "needs a look" list."""
    lines = text.splitlines()
    records: list[dict[str, str]] = []
    if any("╇" in line for line in lines):  # the table: a row goes on over lines whose verdict cell is empty
        rule = next(number for number, line in enumerate(lines) if "╇" in line)
        heads = [line.split("┃") for line in lines[:rule]]
        names = [" ".join(head[i].strip() for head in heads).strip() for i in range(len(heads[0]))]
        for line in lines[rule + 1:]:
            if "│" not in line:
                break
            cells = [cell.strip() for cell in line.split("│")]
            if cells[1]:
                records.append(dict.fromkeys(names, ""))
            for name, cell in zip(names, cells, strict=True):
                records[-1][name] += cell
        return [{name.split(" (")[0]: "".join(value.split()) for name, value in record.items()} for record in records]
    start = len(lines[0]) - len(lines[0][len("path"):].lstrip())  # the list: where its values begin
    key = ""
    for line in lines:
        if not line.strip():
            continue
        named = line[:start].strip()
        key = named or key
        if named == "path":
            records.append({})
        elif key not in ("path", "verdict", "p_fake", "frames", "flagged", "status", "verdict from", "detectors"):
            break  # the "needs a look" list
        records[-1][key] = records[-1].get(key, "") + "".join(line[start:].split())
    return records


@pytest.mark.parametrize("columns", [40, 60, 100])
def test_a_narrow_terminal_loses_nothing_of_a_scan_table(columns: int, run_cli: RunCli, faces: list[Path],
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``COLUMNS=40 mesocli scan``: the table cut cells to fit (``verdict`` and ``p_fake`` as ``0.1…``, each
    detector's score with ``--model any``). Every input's path, verdict, p_fake, status (its error), flagged time
    ranges and detector scores are now there in full: the table folds the paths and texts and never the verdict,
    p_fake or frames; where even that does not fit, one input after another, a line a field."""
    from mesocli.aggregate import shown
    from mesocli.writers import _error_text, make_writer

    photo = tmp_path / "a_rather_long_file_name_for_an_uploaded_photo_of_a_face.png"
    photo.write_bytes(faces[0].read_bytes())
    result = run_cli("scan", photo, faces[1], tmp_path / "gone.jpg", "--detector", "none", "--model", "any",
                     "--format", "jsonl")
    rows = result.jsonl()
    stretch = {"start": 1.0, "end": 2.5, "frames": 2, "p_fake_mean": 0.68, "p_fake_max": 0.7}
    rows.append({**rows[0], "path": "clip.mp4", "type": "video", "segments": [stretch]})
    assert [row["status"] for row in rows] == ["ok", "ok", "error", "ok"], result.err
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = _Terminal()
    writer = make_writer("table", stream, color=False)
    for row in rows:
        writer.write(row)
    writer.close()
    text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())  # (bold: no colour asked, not no style)
    assert max(len(line) for line in text.splitlines()) <= columns, text
    seen = _read_back(text)
    assert len(seen) == len(rows), text
    for row, got in zip(rows, seen, strict=True):
        assert got["path"] == "".join(row["path"].split()), text
        assert got["verdict"] == (row["verdict"] or "-"), text
        assert got["p_fake"] == ("-" if row["p_fake"] is None else shown(row["p_fake"], row["threshold"])), text
        status = f"error: {_error_text(row)}" if row["error"] else row["status"]  # (its path said once: the row's)
        assert got["status"].startswith("".join(status.split())), text
        scores = " ".join(f"{name} {shown(item['p_fake'], row['threshold'])}"
                          for name, item in (row.get("detectors") or {}).items())
        assert got["detectors"] == ("".join(scores.split()) or "-"), text
    assert seen[-1]["flagged"] == "1.0–2.5s", text


@pytest.mark.parametrize("columns", [80, 120])
def test_a_scan_table_folds_long_paths_at_a_slash_not_inside_a_name(columns: int, scan, faces: list[Path],
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``COLUMNS=80 mesocli scan uploads/`` with 60-character file names: the path folded wherever the column ended,
    in the middle of a folder's or a file's name (``batch_`` / ``03/interview_with_the_regional_director_rec`` /
    ``orded_…``). It breaks after a ``/`` where it can, a name too long for the column after a ``_``, ``-`` or ``.``
    in it, so a file name that fits the column is on one line; the whole path is still there (the JSON has it as
    it is)."""
    from mesocli.writers import make_writer

    folder = tmp_path / "case-2024-0457" / "uploads" / "batch_03"
    folder.mkdir(parents=True)
    names = ["interview_with_the_regional_director_recorded_2024_03_15.png",
             "another-rather-long-uploaded-photo-name-from-a-case-file.jpg"]
    assert all(len(name) == 60 for name in names)
    for name, face in zip(names, faces, strict=True):
        (folder / name).write_bytes(face.read_bytes())
    result = scan(folder, "--format", "jsonl")
    rows = result.jsonl()
    assert sorted(row["path"] for row in rows) == sorted(str(folder / name) for name in names), result.err
    rows[0]["verdict"] = "fake"  # (the "needs a look" list below the table names it)
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = _Terminal()
    writer = make_writer("table", stream, color=False)
    for row in rows:
        writer.write(row)
    writer.close()
    text = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue())
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= columns, text
    rule = next(number for number, line in enumerate(lines) if "╇" in line)
    cells = [line.split("│")[0].strip() for line in lines[rule + 1:] if "│" in line]
    parts: list[list[str]] = []
    for line, cell in zip([line for line in lines[rule + 1:] if "│" in line], cells, strict=True):
        if line.split("│")[1].strip():  # a row's first line (its verdict)
            parts.append([])
        parts[-1].append(cell)
    assert ["".join(part) for part in parts] == [row["path"] for row in rows], text
    for part in parts:
        assert all(piece[-1] in "/_-." for piece in part[:-1]), text  # never inside a word
    if columns == 120:  # a 60-character name fits the column: whole on its line
        assert all(any(piece.endswith(name) for name in names) for piece in (part[-1] for part in parts)), text
    look = [line.strip() for line in lines[lines.index("needs a look: 1 called fake (most fake first)") + 1:-1]]
    assert "".join(look).endswith(rows[0]["path"]) and all(line[-1] in "/_-." for line in look[:-1]), text


def test_csv_bom_marks_a_csv_file_for_excel_and_goes_with_one_only(scan, faces: list[Path], tmp_path: Path) -> None:
    """Excel on Windows reads a CSV without a byte-order mark in its ANSI code page (``é`` as ``Ã©``), and the
    documented way to add one (``printf … | cat``) is a Unix shell's. ``--csv-bom`` starts the ``--output`` CSV with
    the mark (EF BB BF); the default stays without (Python's ``csv`` read it into the first header). A ``--resume``
    appends no second mark. Refused before any work with another format or standard output."""
    named = tmp_path / "visage_é_日本.png"
    named.write_bytes(faces[0].read_bytes())
    out = tmp_path / "rows.csv"
    assert scan(named, "-o", out, "--csv-bom").code == 0
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpath,") and data.count(b"\xef\xbb\xbf") == 1
    with out.open(encoding="utf-8-sig", newline="") as handle:  # as Excel and pandas' "utf-8-sig" read it
        assert [row["path"] for row in csv.DictReader(handle)] == [str(named)]
    result = scan(named, faces[1], "-o", out, "--csv-bom", "--resume")  # appended: the mark stays the first bytes
    assert result.code == 0, result.err
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpath,") and data.count(b"\xef\xbb\xbf") == 1 and data.count(b"\n") == 3
    plain = tmp_path / "plain.csv"
    assert scan(named, "-o", plain).code == 0 and plain.read_bytes().startswith(b"path,")  # the default: no mark
    for args, why in ((("-o", tmp_path / "rows.jsonl"), ", not jsonl"), (("--format", "csv"), " (not standard output, "
                      "where a program reads the mark as part of the first header)")):
        result = scan(named, *args, "--csv-bom")
        assert result.code == 2
        assert result.error_line() == ("--csv-bom marks a CSV file for Excel on Windows: it goes with --output "
                                       "FILE.csv" + why)
    assert not (tmp_path / "rows.jsonl").exists()


def test_csv_bom_with_resume_leaves_one_mark_at_the_start_or_refuses(scan, faces: list[Path], tmp_path: Path) -> None:
    """``--csv-bom --resume`` onto a file that holds only the mark (``printf '\\xef\\xbb\\xbf' > rows.csv``, a
    Windows editor's empty "UTF-8 with BOM" file, or a scan stopped before its header) wrote a second one before the
    header: Excel showed it in the first cell, and the next ``--resume`` refused the file (its header was not
    mesocli's). Onto a CSV already started without the mark it added none, without a word: Excel still garbled its
    names. Now a file that has the mark keeps that one; one that has rows without it is refused before any work,
    untouched."""
    from mesocli.writers import CSV_COLUMNS

    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf")
    assert scan(faces[0], "-o", marked, "--csv-bom", "--resume").code == 0
    data = marked.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfpath,") and data.count(b"\xef\xbb\xbf") == 1, data[:20]
    result = scan(*faces, "-o", marked, "--csv-bom", "--resume")  # resumable: one row added
    assert result.code == 0, result.err
    assert marked.read_bytes().count(b"\n") == 3
    plain = tmp_path / "plain.csv"
    plain.write_text(",".join(CSV_COLUMNS) + "\n", encoding="utf-8")
    before = plain.read_bytes()
    result = scan(faces[0], "-o", plain, "--csv-bom", "--resume")
    assert result.code == 2
    assert result.error_line() == (f"{plain}: --csv-bom: the file does not start with a byte-order mark, and "
                                   "--resume only appends to it: resume without --csv-bom, or write a new file")
    assert plain.read_bytes() == before


def test_csv_bom_is_refused_for_a_stream_named_as_the_output(scan, faces: list[Path]) -> None:
    """``--csv-bom`` is refused on standard output (a program reading it takes the mark into its first header), but
    ``-o /dev/stdout --format csv --csv-bom`` (standard output by name, as a pipe or device is) wrote the mark into
    the stream. Refused alike, before any work."""
    result = scan(faces[0], "-o", "/dev/stdout", "--format", "csv", "--csv-bom")
    assert result.code == 2
    assert result.error_line() == ("--csv-bom marks a CSV file for Excel on Windows: it goes with --output FILE.csv "
                                   "(not /dev/stdout, a stream that a program reads: it would read the mark as part "
                                   "of the first header)")
    assert "\ufeff" not in result.out
