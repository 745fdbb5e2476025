"""The scanning engine with real components: weights, predictor, decoders, detectors."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import KillFfmpeg, check_schema
from media import MediaKit, face_crop, grey_jpeg
from PIL import Image

from mesocli.errors import UsageError
from mesocli.preprocess import face_to_uint8, open_image
from mesocli.scan import ScanOptions, exit_status, finalize, read_path_list, scan_inputs
from mesocli.video import FrameReader, FrameSelection


@pytest.fixture(scope="module")
def loaded(own_weights: Path):
    from mesocli.weights import load_weights

    return load_weights(own_weights)


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Face crops in several sizes and modes (RGB JPEG, RGBA PNG, grayscale, small)."""
    folder = tmp_path_factory.mktemp("crops")
    face = face_crop(300)
    paths = [folder / "a_rgb.jpg", folder / "b_rgba.png", folder / "c_gray.png", folder / "d_small.jpg"]
    face.save(paths[0], quality=92)
    face.convert("RGBA").save(paths[1])
    face.convert("L").save(paths[2])
    face.resize((90, 110)).save(paths[3])
    return paths


def scan_all(paths, loaded, **options) -> list:
    return list(scan_inputs([str(p) for p in paths], loaded, ScanOptions(**options)))


def test_face_crops_score_one_minus_the_model_output(crops: list[Path], loaded) -> None:
    results = scan_all(crops, loaded, detector="none")
    x = np.stack([face_to_uint8(open_image(p)) for p in crops]).astype(np.float32) / 255.0
    expected = 1.0 - loaded.model(x, training=False).numpy()[:, 0]
    assert [r.path for r in results] == [str(p) for p in crops]
    for result, p_fake in zip(results, expected, strict=True):
        assert result.status == "ok" and result.type == "image" and result.error is None
        assert result.p_fake == pytest.approx(float(p_fake), abs=1e-5)
        assert (result.frames_sampled, result.frames_with_face) == (1, 1)
        assert result.aggregation is None and result.segments == []
        check_schema(result.to_dict())


def test_batches_across_inputs_do_not_change_scores_or_order(crops: list[Path], loaded) -> None:
    many = crops * 3
    small = [r.p_fake for r in scan_all(many, loaded, detector="none", batch_size=2)]
    large = [r.p_fake for r in scan_all(many, loaded, detector="none", batch_size=32)]
    assert small == pytest.approx(large, abs=1e-5)
    assert small[:4] == pytest.approx(small[4:8], abs=1e-6)


def test_threshold_decides_the_verdict(crops: list[Path], loaded) -> None:
    assert {r.verdict for r in scan_all(crops[:2], loaded, detector="none", threshold=0.0)} == {"fake"}
    assert {r.verdict for r in scan_all(crops[:2], loaded, detector="none", threshold=1.0)} == {"real"}


def test_bad_inputs_are_errors_and_the_others_still_scan(crops: list[Path], loaded, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.open(crops[0]).save(folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (folder / "clip.mp4").write_bytes(b"not a video at all" * 10)
    (folder / "notes.txt").write_text("skipped: not media")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = tmp_path / "missing.mp4"
    results = scan_all([folder, missing, empty, crops[1]], loaded, detector="none")
    by_name = {Path(r.path).name: r for r in results}
    assert list(by_name) == ["broken.jpg", "clip.mp4", "good.jpg", "missing.mp4", "empty", crops[1].name]
    for name in ("broken.jpg", "clip.mp4", "missing.mp4", "empty"):
        result = by_name[name]
        assert result.status == "error" and result.p_fake is None and result.verdict is None, name
        assert name in result.error and "\n" not in result.error
        check_schema(result.to_dict())
    assert "no such file" in by_name["missing.mp4"].error
    assert "no video or image" in by_name["empty"].error
    assert by_name["good.jpg"].status == by_name[crops[1].name].status == "ok"


def test_detail_adds_frame_scores_and_all_faces_adds_tracks(crops: list[Path], loaded) -> None:
    (result,) = scan_all(crops[:1], loaded, detector="none", detail=True, all_faces=True)
    data = result.to_dict()
    check_schema(data)
    assert data["scores"] == [{"frame": 0, "time": 0.0, "p_fake": data["p_fake"], "track": 0}]
    with Image.open(crops[0]) as image:  # without a detector the face is the whole picture
        whole = [0, 0, image.width, image.height]
    assert data["faces"] == [{"track": 0, "p_fake": data["p_fake"], "verdict": data["verdict"], "frames": 1,
                              "segments": [], "decides": True, "box": whole}]
    (plain,) = scan_all(crops[:1], loaded, detector="none")
    assert "scores" not in plain.to_dict() and plain.to_dict()["faces"] is None


def test_weights_load_while_the_producer_reads_and_their_errors_raise_first(crops: list[Path], loaded) -> None:
    from mesocli.errors import WeightsError

    producer_alive = []

    def load():
        producer_alive.append(any(t.name == "mesocli-scan-producer" for t in threading.enumerate()))
        return loaded

    results = list(scan_inputs([str(p) for p in crops * 30], load, ScanOptions(detector="none")))
    assert len(results) == 120 and producer_alive == [True]

    def broken():
        raise WeightsError("w.h5: not an HDF5 weights file")

    scan = scan_inputs([str(crops[0])], broken, ScanOptions(detector="none"))
    with pytest.raises(WeightsError):
        next(scan)


def test_closing_the_generator_early_stops_the_producer(crops: list[Path], loaded) -> None:
    results = scan_inputs([str(p) for p in crops * 50], loaded, ScanOptions(detector="none", batch_size=4))
    first = next(results)
    assert first.status == "ok"
    results.close()
    assert not [t for t in threading.enumerate() if t.name == "mesocli-scan-producer" and t.is_alive()]


def test_a_stop_at_a_yield_gives_the_inputs_read_whole_then_raises(crops: list[Path], loaded) -> None:
    """A stop (Ctrl-C, SIGTERM) thrown in as a result is used (its row written): the inputs read whole by then
    are scored and given, in input order, with the scores of a whole run, then the stop is raised and the producer
    stopped. It was raised at once, and their results were lost."""
    paths = [str(p) for p in crops]
    got = _stopped_once_all_read(paths, loaded, {"detector": "none"})  # every input read (its faces scored or not)
    whole = scan_all(paths, loaded, detector="none")
    assert [(r.path, r.status, r.p_fake) for r in got] == [(r.path, r.status, r.p_fake) for r in whole]
    assert not [t for t in threading.enumerate() if t.name == "mesocli-scan-producer" and t.is_alive()]


def _stopped_once_all_read(paths: list[str], loaded, options: dict) -> list:
    """The results of a scan of ``paths`` stopped (a KeyboardInterrupt thrown in) after its first result, once its
    last input was read: those given before the stop is raised again, which must be that very stop."""
    read = threading.Event()

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "read" and path == paths[-1]:
            read.set()

    results = scan_inputs(paths, loaded, ScanOptions(**options), progress=hook)
    got = [next(results)]
    assert read.wait(60)
    stop = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as raised:
        got.append(results.throw(stop))
        while True:
            got.append(next(results))
    assert raised.value is stop
    return got


def test_a_stop_scores_the_inputs_read_whole_beyond_one_batch(crops: list[Path], kit: MediaKit, loaded) -> None:
    """A stop with more faces of inputs read whole waiting than one batch holds (here 2 faces a batch: 4 frames of
    a video, then 3 images) scores them all, batch after batch (a few seconds at most), and gives every input read
    whole, in input order, with the scores of a whole run. Only one batch was scored: the video, the first input
    waiting, was dropped with every input after it, and scanned again by ``--resume``."""
    paths = [str(crops[0]), str(kit.face_video), *map(str, crops[1:])]
    options = {"detector": "none", "frames": 4, "batch_size": 2}
    got = _stopped_once_all_read(paths, loaded, options)  # every input read: 7 faces wait, 3 batches' worth
    whole = scan_all(paths, loaded, **options)
    assert [(r.path, r.status, r.p_fake) for r in got] == [(r.path, r.status, r.p_fake) for r in whole]


def test_a_stop_scores_in_small_batches_whatever_the_batch_size(crops: list[Path], kit: MediaKit, loaded,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On a stop, the faces of the inputs read whole are scored :data:`mesocli.scan.NETWORK_BATCH` at a time, the
    time bound checked between them, not ``batch_size`` at a time: with its time spent (here at once), one such
    batch is scored, and the inputs whose faces are not all scored are not given. All waiting faces were scored in
    ``batch_size`` batches: ``--batch-size 512`` with ``--model any`` took 40 s to stop, not 5."""
    import importlib

    scan_module = importlib.import_module("mesocli.scan")  # (the package's ``scan`` is the function)
    monkeypatch.setattr(scan_module, "STOP_SCORING_SECONDS", 0.0)
    paths = [str(crops[0]), str(kit.face_video), *map(str, crops[1:])]
    first_out, read = threading.Event(), threading.Event()

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "start" and path == paths[1]:
            first_out.wait(60)  # the video's faces are read once the first result is out: none is scored before
        if event == "read" and path == paths[-1]:
            read.set()

    scored: list[int] = []

    class Counter:
        def started(self, key: int, path: str) -> None:
            pass

        def sampled(self, key: int, frame: int, time: float, faces: int) -> None:
            pass

        def scored(self, key: int, *args: object, **kwargs: object) -> None:
            scored.append(key)

    options = ScanOptions(detector="none", frames=12, batch_size=64)  # 15 faces wait: one batch of 64
    results = scan_inputs(paths, loaded, options, progress=hook, observer=Counter())
    got = [next(results)]
    first_out.set()
    assert read.wait(60)
    before = len(scored)
    stop = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt) as raised:
        got.append(results.throw(stop))
        while True:
            got.append(next(results))
    assert raised.value is stop
    assert len(scored) - before == scan_module.NETWORK_BATCH  # 8 of the video's 12 faces, not all 15
    assert [r.path for r in got] == paths[:1]


def test_a_stop_as_an_input_is_reported_done_keeps_its_result(crops: list[Path], loaded) -> None:
    """A stop (Ctrl-C in a notebook) landing in the progress hook as the first input is reported done: its result
    comes first, then those of the inputs read whole, in input order, then the stop. It was dropped (taken off the
    queue before the hook) while the later inputs' results were given: a gap in input order."""
    paths = [str(p) for p in crops]
    read = threading.Event()
    stop = KeyboardInterrupt()
    stopped: list[str] = []

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "read" and path == paths[-1]:
            read.set()
        if event == "done" and not stopped:
            assert read.wait(60)  # every input is read (its faces scored or not)
            stopped.append(path)
            raise stop

    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in scan_inputs(paths, loaded, ScanOptions(detector="none"), progress=hook):
            got.append(result)
    assert raised.value is stop and stopped == paths[:1]
    assert [(r.path, r.status) for r in got] == [(path, "ok") for path in paths]


def test_options_are_checked() -> None:
    for bad in ({"detector": "sift"}, {"aggregation": "median"}, {"threshold": 1.5}, {"smooth": 0},
                {"frames": 10, "fps": 2.0}, {"fps": 1.0, "all_frames": True}, {"frames": 0}, {"fps": -1.0}):
        with pytest.raises(UsageError):
            ScanOptions(**bad)
    assert ScanOptions().frames == 30 and ScanOptions(fps=2.0).frames is None


def test_exit_status_rules() -> None:
    assert exit_status(["ok", "ok"], ["real", "fake"]) == 0
    assert exit_status(["ok", "ok"], ["real", "fake"], fail_on_fake=True) == 1
    assert exit_status(["ok", "ok"], ["real", "real"], fail_on_fake=True) == 0
    assert exit_status(["ok", "no_face"], ["real", None]) == 3
    assert exit_status(["ok", "error"], ["fake", None], fail_on_fake=True) == 3
    # --no-face-ok: an input without a face counts as scanned; a failed one still gives 3
    assert exit_status(["ok", "no_face"], ["real", None], no_face_ok=True) == 0
    assert exit_status(["ok", "no_face"], ["fake", None], fail_on_fake=True, no_face_ok=True) == 1
    assert exit_status(["no_face", "error"], [None, None], no_face_ok=True) == 3


def test_read_path_list_skips_blank_lines() -> None:
    import io

    assert read_path_list(io.StringIO("a.mp4\n\n  \nb c.jpg\r\n")) == ["a.mp4", "b c.jpg"]


def test_finalize_never_scores_a_failed_input() -> None:
    from mesocli.producer import Face, Job

    job = Job("x.mp4", kind="video", error="x.mp4: decoder failed", done=True)
    job.sampled = [(0, 0.0)]
    job.faces = [Face(0, 0.0, 0, 0.9)]
    result = finalize(job, ScanOptions(), {"arch": "meso4", "name": "n", "weights_sha256": "0" * 64})
    assert (result.status, result.p_fake, result.verdict) == ("error", None, None)


def test_a_row_names_its_schema_version_and_the_schema_takes_keys_added_later() -> None:
    """Found by a pipeline engineer: the schema refused any key it did not list (``additionalProperties: false``), so
    a consumer holding the schema of one version rejected every row of the next one that added a key. Rows name the
    schema version they follow; the schema lets any object hold keys added later (keys are only added within a
    major version, docs/scan.md)."""
    import jsonschema

    from mesocli.api import scan_schema
    from mesocli.producer import Job
    from mesocli.scan import SCHEMA_VERSION

    schema = scan_schema()
    job = Job("x.mp4", kind="video", error="x.mp4: no such file", error_kind="not_found", done=True)
    settings = {"mesocli": "1", "runtime": None, "detector": "hog", "sampling": None, "smooth": 1}
    row = finalize(job, ScanOptions(), {"arch": "meso4", "name": "n", "weights_sha256": "0" * 64}, settings).to_dict()
    assert row["schema_version"] == schema["version"] == SCHEMA_VERSION
    assert (row["error"], row["error_kind"]) == ("x.mp4: no such file", "not_found")
    later = {**row, "added_later": {"any": 1}, "model": {**row["model"], "added_later": 1},
             "settings": {**row["settings"], "added_later": True}, "schema_version": "1.9"}
    jsonschema.Draft202012Validator(schema).validate(later)  # a row of a later minor version
    with pytest.raises(jsonschema.ValidationError):  # a key retyped is still refused
        jsonschema.Draft202012Validator(schema).validate({**row, "error": 3})


def test_the_tests_schema_check_refuses_a_key_the_schema_does_not_name_in_any_object() -> None:
    """Found in review: with ``additionalProperties: false`` gone from the schema, the tests' own check looked only at
    a row's top-level keys, so a key misspelt or left undocumented inside ``settings``, ``media``, ``model`` or
    ``error_rates`` passed every test silently. The check refuses an unnamed key in any object the schema describes
    by its properties, while the schema itself still takes keys added later."""
    import jsonschema

    from mesocli.api import scan_schema
    from mesocli.producer import Job

    job = Job("x.mp4", kind="video", done=True, sampled=[(0, 0.0)], sha256="0" * 64,
              media={"bytes": 5, "codec": "h264", "width": 2, "height": 2, "fps": 1.0, "duration": 1.0})
    settings = {"mesocli": "1", "runtime": None, "detector": "hog", "sampling": None, "smooth": 1}
    row = finalize(job, ScanOptions(), {"arch": "meso4", "name": "n", "weights_sha256": "0" * 64}, settings).to_dict()
    check_schema(row)
    for typo in ({**row, "settings": {**row["settings"], "mesocli_cdoe": "x"}},
                 {**row, "media": {**row["media"], "widht": 2}},
                 {**row, "model": {**row["model"], "weights_sha265": "0" * 64}},
                 {**row, "frames": {**row["frames"], "with_faces": 0}}):
        jsonschema.Draft202012Validator(scan_schema()).validate(typo)  # a consumer takes it (a later key, perhaps)
        with pytest.raises((AssertionError, jsonschema.ValidationError)):
            check_schema(typo)  # but a row mesocli writes names only keys its schema documents


# ------------------------------------------------------------------------------------------ videos


def test_a_face_video_scans_ok_with_frames_counted(kit: MediaKit, loaded) -> None:
    (every, ten) = [
        scan_all([kit.face_video], loaded, frames=frames, detail=True)[0] for frames in (30, 10)
    ]
    assert every.status == "ok" and every.type == "video" and every.aggregation == "mean"
    assert (every.frames_sampled, every.frames_with_face) == (kit.FACE_FRAMES, kit.FACE_FRAMES)  # 30 > 24
    assert (ten.frames_sampled, ten.frames_with_face) == (10, 10)
    scores = [s.p_fake for s in every.scores]
    assert len(scores) == kit.FACE_FRAMES and every.p_fake == pytest.approx(sum(scores) / len(scores))
    times = [s.time for s in every.scores]
    assert times == sorted(times) and times[0] == pytest.approx(0.0) and times[-1] < 2.0 + 1e-6
    assert [s.frame for s in ten.scores] == sorted({s.frame for s in ten.scores})
    for result in (every, ten):
        check_schema(result.to_dict())


def test_aggregation_rules_apply_to_the_frame_scores(kit: MediaKit, loaded) -> None:
    options = {"frames": 12, "detail": True, "threshold": 0.1}
    results = {rule: scan_all([kit.face_video], loaded, aggregation=rule, **options)[0]
               for rule in ("mean", "vote", "confident")}
    scores = [s.p_fake for s in results["mean"].scores]
    from mesocli import aggregate

    for rule, result in results.items():
        assert [s.p_fake for s in result.scores] == pytest.approx(scores, abs=1e-6)
        assert result.aggregation == rule
        assert result.p_fake == pytest.approx(aggregate.aggregate(scores, rule, 0.1), abs=1e-6)
    assert results["vote"].p_fake == pytest.approx(sum(s >= 0.1 for s in scores) / len(scores))


def test_timeline_covers_the_video_when_every_frame_is_over_the_threshold(kit: MediaKit, loaded) -> None:
    (result,) = scan_all([kit.face_video], loaded, threshold=0.0)
    (segment,) = result.segments
    assert (segment.start, segment.frames) == (0.0, kit.FACE_FRAMES)
    assert segment.end == pytest.approx(2.0, abs=0.05)
    (none,) = scan_all([kit.face_video], loaded, threshold=1.0)
    assert none.segments == []


def test_detector_none_scores_every_sampled_frame_whole(kit: MediaKit, loaded) -> None:
    (result,) = scan_all([kit.noface_video], loaded, detector="none", frames=5)
    assert result.status == "ok" and (result.frames_sampled, result.frames_with_face) == (5, 5)


def test_a_video_without_faces_is_no_face_not_real(kit: MediaKit, loaded) -> None:
    (result,) = scan_all([kit.noface_video], loaded)
    assert (result.status, result.p_fake, result.verdict, result.error) == ("no_face", None, None, None)
    assert (result.frames_sampled, result.frames_with_face) == (12, 0)
    check_schema(result.to_dict())


def test_broken_videos_are_errors_among_good_inputs(kit: MediaKit, loaded) -> None:
    inputs = [kit.face_video, kit.truncated, kit.zero_byte, kit.text_mp4, kit.audio_only, kit.face_jpeg,
              kit.face_png_named_mp4]
    results = scan_all(inputs, loaded, frames=4)
    assert [r.path for r in results] == [str(p) for p in inputs]
    assert [r.status for r in results] == ["ok", "error", "error", "error", "error", "ok", "ok"]
    assert [r.type for r in results] == ["video", None, None, None, None, "image", "image"]
    for result in results:
        check_schema(result.to_dict())
        if result.status == "error":
            assert result.error.startswith(result.path) and "\n" not in result.error
            assert result.p_fake is None and result.seconds < 30
    assert "empty" in results[2].error and "text file" in results[3].error
    assert "no video stream" in results[4].error
    assert (results[5].frames_sampled, results[5].frames_with_face) == (1, 1)


def test_an_error_row_names_its_kind_for_a_pipeline_to_route_on(tmp_path: Path, kit: MediaKit, loaded) -> None:
    """Found by a pipeline engineer: a row's ``error`` is free text, so a router could not tell a cut-short upload
    (retry later) from a file that is no media (reject) or an audio file without matching words. Each error row
    names its kind (``error_kind``, one of ERROR_KINDS); the text is as it was; other rows have null."""
    from mesocli.errors import ERROR_KINDS

    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "notes.txt").write_text("no media here\n")
    heic = tmp_path / "photo.heic"
    heic.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 200)  # what an iPhone photo starts with
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(kit.face_jpeg.read_bytes()[: kit.face_jpeg.stat().st_size // 2])  # an upload not finished
    inputs = {kit.face_jpeg: None, cut: "truncated", kit.truncated: "truncated", kit.zero_byte: "empty",
              kit.text_mp4: "not_media", kit.audio_only: "no_video_stream", tmp_path / "gone.mp4": "not_found",
              tmp_path / "nothing": "empty", heic: "unsupported"}
    results = scan_all(list(inputs), loaded, frames=4)
    assert {r.path: r.error_kind for r in results} == {str(path): kind for path, kind in inputs.items()}
    for result in results:
        row = result.to_dict()
        check_schema(row)
        assert row["error_kind"] == result.error_kind and (row["error_kind"] is None) == (row["status"] != "error")
        assert row["error_kind"] is None or row["error_kind"] in ERROR_KINDS
    errors = {r.path: r.error for r in results}
    assert errors[str(kit.truncated)].endswith(": its index is missing, as in an MP4 or MOV cut short (an upload or "
                                               "copy not finished?)")  # the text is kept as it was
    assert errors[str(tmp_path / "gone.mp4")] == f"{tmp_path / 'gone.mp4'}: no such file or folder"
    assert errors[str(cut)].startswith(f"{cut}: not a readable image (image file is truncated")


def test_an_mp4_with_its_index_first_cut_before_its_frames_is_truncated(tmp_path: Path, loaded) -> None:
    """Found in review: an MP4 written for streaming (``-movflags +faststart``: its index first, as most uploads)
    and cut short before its first frame's data read its header, then decoded no frame: ``error_kind`` was
    ``decode_failed`` (a router rejects it), where ffmpeg had said the file ends early ("partial file"): it is
    ``truncated`` (try again once the upload is whole), as one cut short without its index is."""
    import struct

    from media import make_face_video

    whole = tmp_path / "whole.mp4"
    make_face_video(whole, 6, faststart=True)
    data = whole.read_bytes()
    boxes, index_end = [], 0
    while data[index_end + 4:index_end + 8] != b"mdat":  # ftyp, moov (the index, first), ...: then the frames' data
        boxes.append(data[index_end + 4:index_end + 8])
        index_end += struct.unpack(">I", data[index_end:index_end + 4])[0]
    assert b"moov" in boxes, boxes
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: index_end + 64])
    (result,) = scan_all([cut], loaded, frames=4)
    assert (result.status, result.error_kind) == ("error", "truncated"), result.error
    check_schema(result.to_dict())


def test_a_video_whose_ffmpeg_is_killed_is_an_error_not_a_score(kit: MediaKit, loaded,
                                                                 kill_ffmpeg: KillFfmpeg) -> None:
    """Found by an auditor: the frames decoded before the kill were scored ``ok``, the intact file called
    "damaged or cut short"."""
    kill_ffmpeg(signal.SIGKILL)
    killed, other = scan_all([kit.long_face_video, kit.face_video], loaded, all_frames=True)
    assert killed.status == "error" and killed.p_fake is None and killed.verdict is None
    assert killed.error == f"{kit.long_face_video}: decoding stopped: ffmpeg was killed by signal 9 (SIGKILL)"
    assert killed.error_kind == "resources"  # not the file's fault, perhaps: worth a retry
    assert other.status == "ok" and other.frames_sampled == kit.FACE_FRAMES  # the next input is read as usual
    check_schema(killed.to_dict())


def test_a_cut_short_video_is_scored_on_what_decodes_and_says_so(tmp_path: Path, kit: MediaKit, loaded) -> None:
    from media import encode, plan_transforms, render

    images = [render(t, kit.FACE_SIZE) for t in plan_transforms(kit.FACE_FRAMES, kit.FACE_SIZE)]
    whole = encode(tmp_path / "whole.mp4", images, fps=kit.FPS, faststart=True)  # index first: the cut stays readable
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    clean, damaged = scan_all([whole, cut], loaded, frames=8, threshold=0.0)  # every frame flagged
    assert clean.status == "ok" and clean.warnings == [] and clean.to_dict()["warnings"] == []
    assert damaged.status == "ok" and 0 < damaged.frames_sampled < 8
    assert damaged.warnings[0] == f"damaged or cut short: {damaged.frames_sampled} of 8 planned frames decoded"
    assert any(w.startswith("ffmpeg: ") for w in damaged.warnings[1:])
    assert clean.segments[-1].end == pytest.approx(2.0, abs=0.1)  # the clip's end, from the header
    assert damaged.segments[-1].end < 2.0 * 2 / 3  # where decoding stopped, not the header's 2 s
    check_schema(damaged.to_dict())


def test_the_default_face_is_a_larger_one_that_comes_into_view(kit: MediaKit, loaded) -> None:
    """A small face from the start, a close-up beside it from 1.5 s on: once it is in view, the scores are
    the close-up's (they used to stay the small face's for the whole video)."""
    from mesocli.faces import faces_in_video
    from mesocli.video import FrameSelection

    (result,) = scan_all([kit.larger_face_video], loaded, frames=36, detail=True)
    crops = {r.frame: r.faces[0] for r in faces_in_video(kit.larger_face_video, FrameSelection("frames", 36))}
    assert result.status == "ok" and [s.frame for s in result.scores] == sorted(crops)
    late = [s for s in result.scores if s.time >= 2.6]
    assert late and all(crops[s.frame].size > 180 for s in late)  # the close-up's crops (see test_faces)
    x = np.stack([crops[s.frame].crop for s in late]).astype(np.float32) / 255.0
    expected = 1.0 - loaded.model(x, training=False).numpy()[:, 0]
    assert [s.p_fake for s in late] == pytest.approx(expected.tolist(), abs=1e-4)


def test_all_faces_gives_a_verdict_per_track_and_the_most_fake_wins(kit: MediaKit, loaded) -> None:
    (result,) = scan_all([kit.two_face_video], loaded, all_faces=True, detail=True)
    assert result.status == "ok"
    assert len(result.faces) == 2, "expected both people of the two-face video"
    tracks = {t.track for t in result.faces}
    assert {s.track for s in result.scores} == tracks
    for track in result.faces:
        own = [s.p_fake for s in result.scores if s.track == track.track]
        assert track.frames == len(own) and track.p_fake == pytest.approx(sum(own) / len(own), abs=1e-6)
    assert result.p_fake == max(t.p_fake for t in result.faces)
    (largest,) = scan_all([kit.two_face_video], loaded)
    assert largest.faces is None and largest.frames_with_face == 12


def test_all_faces_gives_each_shot_of_a_hard_cut_its_own_track(kit: MediaKit, loaded) -> None:
    """Another face at the same place after a hard cut took the first face's track: one verdict over two
    people. Each is now a track of its own, scored on its own frames."""
    (result,) = scan_all([kit.cut_video], loaded, frames=24, all_faces=True, detail=True)
    assert result.status == "ok"
    assert [(t.track, t.frames) for t in result.faces] == [(0, 12), (1, 12)]
    assert {s.track for s in result.scores if s.frame < 12} == {0} and {s.track for s in result.scores
                                                                      if s.frame >= 12} == {1}


def test_finalize_takes_the_most_fake_track_and_its_timeline() -> None:
    from mesocli.producer import Face, Job

    job = Job("two.mp4", kind="video", done=True, duration=4.0)
    job.sampled = [(i, float(i)) for i in range(4)]
    job.faces = [Face(i, float(i), 0, 0.1) for i in range(4)]
    job.faces += [Face(i, float(i), 1, p) for i, p in zip(range(4), (0.2, 0.9, 0.9, None), strict=True)
                  if p is not None]
    options = ScanOptions(all_faces=True, smooth=1)
    result = finalize(job, options, {"arch": "meso4", "name": "n", "weights_sha256": "0" * 64})
    assert [(t.track, t.frames) for t in result.faces] == [(0, 4), (1, 3)]
    assert result.faces[1].p_fake == pytest.approx(2.0 / 3) and result.p_fake == result.faces[1].p_fake
    assert result.verdict == "fake" and result.faces[0].verdict == "real"
    # frame 3 has no face of track 1: the segment ends halfway to it
    assert [(s.start, s.end, s.frames) for s in result.segments] == [(0.5, 2.5, 2)]
    assert result.frames_with_face == 4


def _finalize_tracks(tracks: dict[int, list[float | None]], **options):
    """finalize() on a 30-frame video whose track ``t`` has a face of score ``scores[i]`` in frame ``i``."""
    from mesocli.producer import Face, Job

    job = Job("tracks.mp4", kind="video", done=True, duration=30.0)
    job.sampled = [(i, float(i)) for i in range(30)]
    job.faces = [Face(i, float(i), track, p) for track, scores in tracks.items()
                 for i, p in enumerate(scores) if p is not None]
    job.faces.sort(key=lambda face: face.frame)
    return finalize(job, ScanOptions(all_faces=True, smooth=1, **options),
                    {"arch": "meso4", "name": "n", "weights_sha256": "0" * 64})


def test_a_track_of_one_sampled_frame_does_not_decide_the_verdict() -> None:
    """--all-faces called a video fake on one sampled frame of a track (the most-fake track won, however
    short): a track of fewer than 3 sampled frames is now set aside while a longer one decides, and says so."""
    result = _finalize_tracks({0: [0.1] * 30, 1: [None] * 29 + [0.9]})
    assert (result.p_fake, result.verdict) == (pytest.approx(0.1), "real")
    assert [(t.track, t.frames, t.decides) for t in result.faces] == [(0, 30, True), (1, 1, False)]
    assert result.faces[1].verdict == "fake" and result.segments == []  # the deciding track's timeline
    assert any("1 face track of fewer than 3 sampled frames set aside (track 1; most fake 0.900)" in w
               for w in result.warnings)
    check_schema(result.to_dict())
    from mesocli.writers import verdict_source

    assert verdict_source(result.to_dict()) == "track 0, 30 frames (of 2 tracks)"
    before = _finalize_tracks({0: [0.1] * 30, 1: [None] * 29 + [0.9]}, min_track_frames=1)  # the rule before
    assert (before.p_fake, before.verdict, before.warnings) == (pytest.approx(0.9), "fake", [])
    assert all(t.decides for t in before.faces)


def test_when_every_track_is_short_their_faces_are_pooled() -> None:
    """A long clip with a cut between every two samples (a looped clip) made one track per sampled frame, and
    its verdict was its most-fake frame's. With no track of 3 sampled frames, the faces of every track are
    scored as one series, as without --all-faces."""
    scores = [0.6 if i == 7 else 0.2 for i in range(30)]
    result = _finalize_tracks({i: [None] * i + [p] + [None] * (29 - i) for i, p in enumerate(scores)})
    assert (result.p_fake, result.verdict) == (pytest.approx(sum(scores) / 30), "real")
    assert len(result.faces) == 30 and not any(t.decides for t in result.faces)
    assert any("no face track has 3 sampled frames or more" in w for w in result.warnings)
    from mesocli.writers import verdict_source

    assert verdict_source(result.to_dict()) == "30 tracks pooled"
    check_schema(result.to_dict())


def test_a_face_seen_once_after_a_cut_is_set_aside(kit: MediaKit, tmp_path: Path, loaded) -> None:
    """Two shots joined by a cut, the second one frame long: its face is a track of one sampled frame, which
    is listed but does not decide the verdict (the 13-frame track does)."""
    from media import make_cut_video

    video = tmp_path / "cut_at_the_end.mp4"
    make_cut_video(video, frames=14, cut=13)
    (result,) = scan_all([video], loaded, frames=14, all_faces=True)
    assert [(t.track, t.frames, t.decides) for t in result.faces] == [(0, 13, True), (1, 1, False)]
    assert result.p_fake == result.faces[0].p_fake and result.segments == result.faces[0].segments
    assert any("set aside (track 1;" in w for w in result.warnings)


def test_worker_processes_report_each_input_done_without_empty_bars(crops: list[Path], own_weights: Path) -> None:
    """With --workers, frames are scanned in other processes: the bars get one ``done`` per input, in order
    (no ``start`` of a bar that could only be empty, 0/?, and gone at once)."""
    from mesocli.parallel import scan_parallel
    from mesocli.runtime import load_onnx

    events: list[tuple[str, str]] = []
    results = list(scan_parallel([str(p) for p in crops[:2]], load_onnx(own_weights), ScanOptions(detector="none"),
                                 workers=2, progress=lambda event, path, total: events.append((event, path))))
    assert [r.status for r in results] == ["ok", "ok"]
    assert events == [("done", str(crops[0])), ("done", str(crops[1]))]


def test_worker_processes_stopped_as_an_input_is_reported_done_keep_its_result(crops: list[Path],
                                                                              own_weights: Path) -> None:
    """With --workers, a stop (Ctrl-C) landing in the progress hook as the first input is reported done: its result
    still comes first (then those done and due, in input order), then the stop. It was dropped."""
    from mesocli.parallel import scan_parallel
    from mesocli.runtime import load_onnx

    paths = [str(p) for p in crops[:3]]
    stop = KeyboardInterrupt()
    stopped: list[str] = []

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "done" and not stopped:
            stopped.append(path)
            raise stop

    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in scan_parallel(paths, load_onnx(own_weights), ScanOptions(detector="none"), workers=2,
                                    progress=hook):
            got.append(result.path)
    assert raised.value is stop and stopped == paths[:1]
    assert got and got == paths[:len(got)]


def test_worker_processes_stopped_keep_the_results_they_had_sent_back(crops: list[Path], own_weights: Path) -> None:
    """With --workers, a stop (Ctrl-C) as the first input is reported done, once the workers have sent back every
    other input's result: those results are given too, in input order, then the stop. They were dropped (the
    workers' results not yet taken from the pool), counted as not scanned and scanned again by ``--resume``."""
    import gc
    from concurrent.futures import Future

    from mesocli.parallel import scan_parallel
    from mesocli.runtime import load_onnx

    paths = [str(p) for p in crops]
    stop = KeyboardInterrupt()
    stopped: list[str] = []
    # (futures of earlier tests in this process, never resolved, are not this scan's: counting them kept the wait
    # below going for its whole minute and more, gc.get_objects being slow in a large process)
    earlier = {id(o) for o in gc.get_objects() if isinstance(o, Future)}

    def sent_back() -> bool:
        futures = [o for o in gc.get_objects() if isinstance(o, Future) and id(o) not in earlier]
        return len(futures) >= len(paths) and all(future.done() for future in futures)

    def hook(event: str, path: str, total: int | None) -> None:
        if event == "done" and not stopped:
            stopped.append(path)
            deadline = threading.Event()
            for _ in range(600):  # every input's result is back (each task is a Future of the pool)
                if sent_back():
                    break
                deadline.wait(0.1)
            raise stop

    got = []
    with pytest.raises(KeyboardInterrupt) as raised:
        for result in scan_parallel(paths, load_onnx(own_weights), ScanOptions(detector="none"), workers=2,
                                    progress=hook):
            got.append((result.path, result.status))
    assert raised.value is stop and stopped == paths[:1]
    assert got == [(path, "ok") for path in paths]


def test_one_process_shows_one_input_bar_not_a_stack(crops: list[Path], kit: MediaKit, loaded) -> None:
    """``scan --workers 1``: every input read ahead of the scores kept its full bar until its row was out, so
    the terminal showed a stack of finished bars (up to the inputs read ahead) under the count, where the
    default (worker processes) shows the count alone. An input's bar now goes once it is read: one at a time."""
    from mesocli.progress import ScanProgress

    paths = [str(p) for p in [*crops, kit.face_video]]
    bars = ScanProgress(True, total=len(paths))
    read_all = threading.Event()
    peak = 0
    last_event = [time.monotonic()]

    def hook(event: str, path: str, total: int | None) -> None:
        nonlocal peak
        last_event[0] = time.monotonic()
        bars.hook(event, path, total)
        peak = max(peak, len(bars._tasks))
        if event == "start" and path == paths[-1]:
            read_all.set()

    def model():
        # the scores wait until the producer has read every input it can ahead of them (all of them, or until it
        # waits for the weights' resize, which crops not 256x256 need with --detector none): the most bars there
        # can be. (It waited two minutes for an input the producer could not start.)
        while not read_all.is_set() and time.monotonic() - last_event[0] < 3:
            time.sleep(0.05)
        return loaded

    with bars:
        results = list(scan_inputs(paths, model, ScanOptions(detector="none", frames=4), progress=hook))
    assert [r.status for r in results] == ["ok"] * len(paths)
    assert peak == 1 and bars._tasks == {}


def test_progress_bars_with_a_total_show_the_time_left() -> None:
    """The bars showed the time elapsed only: a scan of a folder of 2,000 images gave no idea of when it would end.
    A bar whose total is known (the inputs of a folder, an input's frames) shows the time left; one without (paths
    on stdin, a video whose length is not known) shows none."""
    import io

    from rich.console import Console

    from mesocli.progress import ScanProgress

    bars = ScanProgress(True, total=40)
    bars.hook("start", "known.mp4", 30)
    bars.hook("start", "unknown.mp4", None)
    for _ in range(3):
        bars.hook("frame", "known.mp4", None)
        bars.hook("frame", "unknown.mp4", None)
    bars.hook("done", "first.jpg", None)
    bars.hook("done", "second.jpg", None)
    shown = io.StringIO()
    Console(file=shown, width=150, color_system=None).print(bars._bars.make_tasks_table(bars._bars.tasks))
    lines = {line.split()[0]: line for line in shown.getvalue().splitlines() if line.strip()}
    left = re.compile(r"eta (\d\d:\d\d|--:--)")
    assert left.search(lines["inputs"]) and left.search(lines["known.mp4"])
    assert "eta" not in lines["unknown.mp4"]
    assert not ScanProgress(False, total=40).enabled  # off (--quiet, stderr not a terminal): nothing drawn


def test_a_worker_opens_its_onnx_session_once_not_once_per_input(crops: list[Path], own_weights: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan --workers N``: each worker scans one input at a time with the model it loaded once, but opened a new
    ONNX Runtime session (one network thread) for every input: over a folder of thousands of images that setup
    was paid per image. The worker now opens it once, as it starts (a model it cannot load stops the scan)."""
    from mesocli import parallel, runtime

    opened: list[object] = []
    real_session = runtime._session
    monkeypatch.setattr(runtime, "_session", lambda *a, **k: opened.append(a) or real_session(*a, **k))
    portable = parallel._portable(runtime.load_onnx(own_weights))
    opened.clear()
    monkeypatch.setattr(parallel, "_WORKER", {"loaded": parallel._ready(portable),
                                              "options": ScanOptions(detector="none")})
    assert len(opened) == 1  # as the worker starts
    results = [parallel._scan_one(str(path)) for path in [*crops, *crops]]
    assert [r.status for r in results] == ["ok"] * 2 * len(crops)
    assert len(opened) == 1


def test_a_second_person_left_unscored_is_said(kit: MediaKit, loaded, tmp_path: Path) -> None:
    """A clip or photo of two people, scanned without ``--all-faces``: one face was scored and the verdict read
    as the clip's with ``warnings: []``; a moderator had no way to know that the other person was not looked at."""
    from media import FaceTransform, render

    photo = tmp_path / "two.png"
    canvas = Image.new("RGB", (480, 240), (96, 112, 128))
    render(FaceTransform(0, (120, 120), 1.1, 0.0), (480, 240), canvas=canvas)
    render(FaceTransform(0, (360, 120), 1.1, 0.0), (480, 240), mirror=True, canvas=canvas)
    canvas.save(photo)
    inputs = [kit.two_face_video, photo, kit.face_video]
    video, image, one = scan_all(inputs, loaded, frames=6)
    note = "2 faces in view: only the largest was scored; --all-faces scores each"
    assert video.status == image.status == "ok" and note in video.warnings and note in image.warnings
    assert one.warnings == []  # one person: nothing to say
    assert all(r.warnings == [] for r in scan_all(inputs, loaded, frames=6, all_faces=True))
    check_schema(video.to_dict())


def test_a_verdict_on_small_faces_says_it_is_unreliable(kit: MediaKit, loaded, tmp_path: Path) -> None:
    """A face of about 36 px in 1080p video was ``no_face``; now found, its crop is that face enlarged over 4×,
    whose texture MesoNet cannot judge: the verdict is given, with a warning that says so."""
    small, normal = scan_all([kit.small_face_video, kit.face_video], loaded, frames=3)
    assert (small.status, small.frames_with_face) == ("ok", 3) and small.verdict is not None
    assert small.warnings == ["small faces: 3 of 3 faces are under 64 px (the aligned square, in frame pixels): "
                              "too small for MesoNet to judge, their crops enlarged over 4×; a verdict drawn from "
                              "them is unreliable"]
    assert normal.warnings == []
    check_schema(small.to_dict())
    photo = tmp_path / "wide.png"  # the video's first frame
    with FrameReader(kit.small_face_video, FrameSelection("frames", 1)) as reader:
        Image.fromarray(next(iter(reader)).image).save(photo)
    assert scan_all([photo], loaded)[0].warnings == [
        "small faces: the face is under 64 px (the aligned square, in frame pixels): too small for MesoNet to "
        "judge, its crop enlarged over 4×; a verdict drawn from it is unreliable"]


# ------------------------------------------------------------------------------------------ animated images

ANIMATED = [("gif", "GIF"), ("png", "PNG"), ("webp", "WEBP")]  # GIF, APNG, animated WebP
DELAYS = [100] * 12 + [150] * 12  # ms: a GIF counts in hundredths, so the times are exact in every format


@pytest.mark.parametrize(("suffix", "fmt"), ANIMATED)
def test_an_animated_image_is_scanned_as_a_video(tmp_path: Path, loaded, suffix: str, fmt: str) -> None:
    """A reaction GIF (or APNG, animated WebP) was scored on its first frame only, with a note: a face swapped in
    after it went unseen. It is sampled over its length as a video is, its frame times from its frame delays."""
    from media import make_face_animation

    path = tmp_path / f"reaction.{suffix}"
    times = make_face_animation(path, DELAYS, format=fmt)
    every, few, by_time = (scan_all([path], loaded, detail=True, **options)[0]
                           for options in ({}, {"frames": 6}, {"fps": 2.0}))
    for result in (every, few, by_time):
        assert (result.status, result.type, result.aggregation, result.warnings) == ("ok", "video", "mean", [])
        assert result.frames_with_face == result.frames_sampled
        check_schema(result.to_dict())
    assert every.frames_sampled == 24  # 30 asked, 24 held
    assert [s.time for s in every.scores] == pytest.approx(times, abs=1e-3)
    assert [s.frame for s in few.scores] == [2, 6, 10, 14, 18, 22]
    assert [s.time for s in by_time.scores] == pytest.approx([0.0, 0.5, 1.0, 1.5, 1.95, 2.55], abs=1e-3)


@pytest.mark.parametrize(("suffix", "fmt"), ANIMATED)
def test_an_animated_images_timeline_is_as_long_as_browsers_play_it(tmp_path: Path, loaded, suffix: str,
                                                                    fmt: str) -> None:
    """The timeline ended at an APNG's or WebP's last sampled frame (ffmpeg gives them no duration), and frames of
    10 ms or less (a browser shows them 100 ms) made a GIF's 10× short: here 1.5 s, read as 0.6 s or less."""
    from media import make_face_animation

    path = tmp_path / f"fast.{suffix}"
    make_face_animation(path, [10] * 12 + [150] * 2, size=(64, 48), format=fmt)
    (result,) = scan_all([path], loaded, detail=True, detector="none", threshold=0.0, frames=4)
    assert [(s.frame, s.time) for s in result.scores] == [(1, 0.1), (5, 0.5), (8, 0.8), (12, 1.2)]
    (segment,) = result.segments
    assert (segment.start, segment.end) == (0.0, pytest.approx(1.5))


@pytest.mark.parametrize(("suffix", "fmt"), ANIMATED)
def test_a_still_gif_webp_or_png_stays_an_image(tmp_path: Path, loaded, suffix: str, fmt: str) -> None:
    from media import save_face_image

    path = tmp_path / f"still.{suffix}"
    save_face_image(path, format=fmt)
    (result,) = scan_all([path], loaded)
    assert (result.status, result.type, result.frames_sampled, result.warnings) == ("ok", "image", 1, [])


# ------------------------------------------------------------------------------------------ sideways inputs


def _sideways(source: Path, target: Path, turn: str, turning: str = "") -> Path:
    """``source`` re-encoded with its frames turned (``transpose=clock``/``cclock``, or the filter ``turning``) and
    no rotation metadata: a phone video whose rotation was lost on upload."""
    from media import turned_copy

    return turned_copy(source, target, turning or f"transpose={turn}")


@pytest.mark.parametrize(("turn", "back"), [("clock", "counter-clockwise"), ("cclock", "clockwise")])
def test_a_video_stored_sideways_is_scanned_turned_and_says_so(kit: MediaKit, loaded, tmp_path: Path, turn: str,
                                                               back: str) -> None:
    """A phone video that lost its rotation metadata gave ``no_face`` and no hint. With no face upright in any
    sampled frame, the frames are tried turned a quarter either way; the face found, the video is scanned so."""
    sideways = _sideways(kit.face_video, tmp_path / f"sideways_{turn}.mp4", turn)
    (result,) = scan_all([sideways], loaded, frames=12, detail=True)
    (upright,) = scan_all([kit.face_video], loaded, frames=12, detail=True)
    assert (result.status, result.type, result.frames_sampled, result.frames_with_face) == ("ok", "video", 12, 12)
    assert result.warnings == [f"no face upright; scanned turned 90° {back}: the file's rotation metadata may be "
                               "missing or wrong"]
    assert [s.frame for s in result.scores] == [s.frame for s in upright.scores]
    assert result.p_fake == pytest.approx(upright.p_fake, abs=0.05)  # the same faces (re-encoded once more)
    check_schema(result.to_dict())


def test_an_image_stored_sideways_is_scanned_turned_and_says_so(kit: MediaKit, loaded, tmp_path: Path) -> None:
    sideways = tmp_path / "sideways.png"
    Image.open(kit.face_jpeg).transpose(Image.Transpose.ROTATE_90).save(sideways)  # no EXIF orientation
    (result,) = scan_all([sideways], loaded)
    (upright,) = scan_all([kit.face_jpeg], loaded)
    assert (result.status, result.type, result.frames_with_face) == ("ok", "image", 1)
    assert result.warnings == ["no face upright; scanned turned 90° clockwise: the file's rotation metadata may be "
                               "missing or wrong"]
    assert result.p_fake == pytest.approx(upright.p_fake, abs=0.05)


def test_a_video_and_a_photo_stored_upside_down_are_scanned_turned_and_say_so(kit: MediaKit, loaded,
                                                                             tmp_path: Path) -> None:
    """A video or photo whose pixels are upside down, without rotation metadata (a phone recording re-encoded by a
    tool that dropped its display matrix), gave ``no_face``: only quarter turns were tried. It is now tried upside
    down too, scanned turned 180°, scored as the upright one, with a note."""
    video = _sideways(kit.face_video, tmp_path / "upside_down.mp4", "", turning="hflip,vflip")
    photo = tmp_path / "upside_down.png"
    Image.open(kit.face_jpeg).transpose(Image.Transpose.ROTATE_180).save(photo)  # no EXIF orientation
    turned_video, turned_photo = scan_all([video, photo], loaded, frames=12, detail=True)
    upright_video, upright_photo = scan_all([kit.face_video, kit.face_jpeg], loaded, frames=12, detail=True)
    note = "no face upright; scanned turned 180°: the file's rotation metadata may be missing or wrong"
    assert (turned_video.status, turned_video.frames_with_face, turned_video.warnings) == ("ok", 12, [note])
    assert (turned_photo.status, turned_photo.frames_with_face, turned_photo.warnings) == ("ok", 1, [note])
    assert [s.frame for s in turned_video.scores] == [s.frame for s in upright_video.scores]
    assert turned_video.p_fake == pytest.approx(upright_video.p_fake, abs=0.05)
    assert turned_photo.p_fake == pytest.approx(upright_photo.p_fake, abs=0.05)
    check_schema(turned_video.to_dict())


def test_a_sideways_video_with_a_few_faces_found_sideways_is_still_scanned_turned(kit: MediaKit, loaded,
                                                                                  tmp_path: Path) -> None:
    """HOG found the sideways face in 2 of 10 sampled frames, its landmarks fitted as if upright: the video was
    never tried turned, and its verdict rested on those two sideways crops, a confident false "fake" (0.81). A
    face whose crop does not look upright no longer counts as a face upright: the video is scanned turned."""
    sideways = _sideways(kit.face_video, tmp_path / "sideways.mp4", "cclock")
    (result,) = scan_all([sideways], loaded, frames=10)
    (upright,) = scan_all([kit.face_video], loaded, frames=10)
    assert (result.status, result.frames_with_face) == ("ok", 10)
    assert result.warnings == ["no face upright; scanned turned 90° clockwise: the file's rotation metadata may be "
                               "missing or wrong"]
    assert result.p_fake == pytest.approx(upright.p_fake, abs=0.05)


def test_an_input_without_a_face_either_way_is_no_face_without_a_note(kit: MediaKit, loaded) -> None:
    (result,) = scan_all([kit.noface_video], loaded)
    assert (result.status, result.frames_sampled, result.warnings) == ("no_face", 12, [])


def test_a_second_video_stream_left_unread_is_said(kit: MediaKit, loaded, tmp_path: Path) -> None:
    """An MKV holding two video streams (a face clip, then a clip without a face that a player may be set to
    show): only the first is read, and the row said nothing; a moderator now reads that another picture was
    not judged. ``extract`` notes it the same way."""
    from media import ffmpeg

    both = tmp_path / "two streams.mkv"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(kit.face_video), "-i", str(kit.noface_video), "-map", "0:v",
                    "-map", "1:v", "-c", "copy", str(both)], check=True, capture_output=True)
    two, one = scan_all([both, kit.face_video], loaded, frames=4)
    assert two.status == "ok" and two.warnings == [
        "2 video streams: only the first (stream #0) was read; a player may show another"]
    assert one.warnings == []
    check_schema(two.to_dict())


def test_a_photo_over_pillows_limit_is_scanned_not_refused(loaded, tmp_path: Path) -> None:
    """A JPEG over Pillow's decompression-bomb limit (184 megapixels here; a 200 MP phone photo) was an error
    (`image too large`); it is decoded reduced and searched for faces (this one, all grey, shows none)."""
    path = grey_jpeg(tmp_path / "huge.jpg", 65_496, 2_816)
    (result,) = scan_all([path], loaded)
    assert (result.status, result.type, result.error, result.warnings) == ("no_face", "image", None, [])


def test_detector_none_resizes_crops_as_the_weights_want(crops: list[Path], kit: MediaKit, loaded) -> None:
    """``--detector none`` (inputs that are already face crops) resizes an image or video frame not 256×256 as
    ``eval`` does for the weights: what their card records (nearest here, as the authors' files want), bilinear
    for a card without it; ``settings.resize`` says which. It resized bilinear whatever the weights."""
    from dataclasses import replace

    from mesocli.scan import run_settings

    nearest = replace(loaded, card=replace(loaded.card, resize="nearest"))  # the same network, another card
    older = replace(loaded, card=replace(loaded.card, resize=None))  # a card of an earlier version: bilinear
    with FrameReader(kit.face_video, FrameSelection("frames", 2)) as reader:
        frames = [frame.image for frame in reader]
    pictures = [open_image(crops[0]), open_image(crops[3])]  # 300×300 (shrunk) and 90×110 (enlarged)
    inputs = [crops[0], crops[3], kit.face_video]
    for weights, resize in ((nearest, "nearest"), (older, "bilinear")):
        faces = np.stack([face_to_uint8(image, resize) for image in [*pictures, *frames]])
        expected = 1.0 - loaded.model(faces.astype(np.float32) / 255.0, training=False).numpy()[:, 0]
        results = scan_all(inputs, weights, detector="none", frames=2, detail=True)
        got = [results[0].p_fake, results[1].p_fake, *[score.p_fake for score in results[2].scores]]
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert {result.settings["resize"] for result in results} == {resize}
        check_schema(results[2].to_dict())
    other = [face_to_uint8(image, "bilinear") for image in pictures]
    assert min(np.abs(face_to_uint8(image, "nearest").astype(int) - face.astype(int)).max()
               for image, face in zip(pictures, other, strict=True)) > 0  # the two resizes differ on these crops
    assert run_settings(ScanOptions(detector="hog"), nearest)["resize"] == "bilinear"  # aligned crops: bilinear


def test_detector_none_records_each_networks_resize_where_they_differ(loaded) -> None:
    """A set or ensemble whose networks want different resizes gets a crop per resize (each network scores its
    own, tests/test_mixed_resize.py): ``settings.resize`` gives each member's; one value where they agree."""
    from dataclasses import replace

    from mesocli.detectors import DetectorSet
    from mesocli.scan import crop_resizes, scan_resize

    mixed = DetectorSet("meso4", {"df": replace(loaded, card=replace(loaded.card, resize="nearest")), "f2f": loaded})
    assert scan_resize("none", mixed) == {"df": "nearest", "f2f": "bilinear"}
    assert crop_resizes("none", mixed) == ("nearest", "bilinear")
    assert scan_resize("none", DetectorSet("meso4", {"df": loaded, "f2f": loaded})) == "bilinear"
    assert scan_resize("hog", mixed) == "bilinear"  # aligned crops are warped, not resized by the weights' rule
    assert crop_resizes("hog", mixed) == ("bilinear",)


def test_faces_before_the_first_upright_face_past_the_cap_are_named_in_a_warning(
        loaded, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found in review: a face held before a video's first upright face whose part of the frame no longer fits the
    cap (256 MB of them) is scored as found, perhaps on an upside-down crop, and nothing said so. The scan's
    warnings do (the cap set to nothing here: the one face held, FF++ train original 192 upside down)."""
    from conftest import require_shared
    from media import turned_copy

    from mesocli import faces
    from mesocli.writers import warnings_text

    clip = require_shared("data", "ffpp-c23", "train", "original", "192.mp4")
    flipped = "lt(t\\,0.5)"  # a frame upside down (0.23 s), then one upright (0.73 s)
    start = turned_copy(clip, tmp_path / "start.mp4",
                        f"trim=duration=1,hflip=enable='{flipped}',vflip=enable='{flipped}'")
    monkeypatch.setattr(faces, "HELD_VIEW_BYTES", 0)
    (result,) = scan_all([start], loaded, frames=2)
    assert (result.status, result.frames_with_face) == ("ok", 2)
    assert result.warnings == ["1 face before the first upright face was not checked for a turn (over 0 MB of frames "
                               "held around such faces): its crop may be upside down or sideways"]
    check_schema(result.to_dict())
    small = "small faces: 1 of 2 faces are under 64 px"
    assert warnings_text([*result.warnings, small]) == f"{small}; +1 more: turn not checked"  # its name in the table
