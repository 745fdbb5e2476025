"""Bad and odd input files through ``scan`` and ``extract``: one table, one case a row.

Every case runs both commands on [the case's file, a good face image] and checks (a) a one-line
error that names the file and says what is wrong (never a score), (b) the documented exit status
(scan: 0 all ok, 3 an input is error/no_face; extract: 0, or 3 when an input failed), (c) that
nothing is half-written (every crop is listed in the manifest, no temporary file, nothing outside
OUT_DIR) and (d) that the good image is still processed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, RunCli
from media import MediaKit, make_face_video, truncate
from PIL import Image

from mesocli.manifest import LOCK, MANIFEST
from robustness.helpers import (
    VFR_TICKS,
    face_image,
    make_png_bomb,
    make_sized_video,
    make_vfr_video,
    png_named,
    save_mode_image,
    seeded_bytes,
    strip_moov,
    tree,
    unreadable,
)

Make = Callable[[Path, MediaKit], Path]


@dataclass(frozen=True)
class FileCase:
    """One input file: how to make it, and what scan and extract must say about it."""

    id: str
    make: Make
    status: str | tuple[str, ...]  # scan's status (several: any of them is honest)
    message: str = ""  # in the one-line error of both commands
    setup: Callable[[Path], Any] = field(default=contextlib.nullcontext)  # a context around both runs
    check: Callable[[dict, list[dict]], None] | None = None  # more checks: scan's item, extract's face lines
    slow: bool = False  # left out by `pytest -m "not slow"`


def _copy(source: Callable[[MediaKit], Path], name: str) -> Make:
    return lambda folder, kit: Path(shutil.copy(source(kit), folder / name))


def _write(name: str, data: bytes) -> Make:
    def make(folder: Path, kit: MediaKit) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


def _fifo(folder: Path, kit: MediaKit) -> Path:
    os.mkfifo(folder / "stream.mp4")
    return folder / "stream.mp4"


def _dangling(folder: Path, kit: MediaKit) -> Path:
    (folder / "gone.mp4").symlink_to(folder / "nowhere.mp4")
    return folder / "gone.mp4"


def _vfr(folder: Path, kit: MediaKit) -> Path:
    make_vfr_video(folder / "vfr.mp4")
    return folder / "vfr.mp4"


def _check_vfr(item: dict, faces: list[dict]) -> None:
    """Each sampled frame carries its real timestamp (bursts with gaps), not index / fps."""
    times = {n: tick / 12 for n, tick in enumerate(VFR_TICKS)}
    assert item["scores"] and faces, (item, faces)
    for score in item["scores"]:
        assert score["time"] == pytest.approx(times[score["frame"]], abs=1e-3), score
    for face in faces:
        assert face["time"] == pytest.approx(times[face["frame"]], abs=1e-3), face


def _portrait(folder: Path, kit: MediaKit) -> Path:
    """A phone video: stored landscape with a 90° rotation flag, displayed 240×320."""
    make_face_video(folder / "portrait.mp4", frames=4, angles=[0.0] * 4, size=(240, 320), display_rotation=90)
    return folder / "portrait.mp4"


def _check_upright(item: dict, faces: list[dict]) -> None:
    assert item["frames"]["with_face"] == item["frames"]["sampled"] == 3
    assert faces and all(abs(face["angle"]) < 10 for face in faces)  # turned upright before detection
    assert all(face["box"][3] > 240 * 0.5 for face in faces)  # in a 240-wide, 320-high frame


def _one_frame(folder: Path, kit: MediaKit) -> Path:
    make_face_video(folder / "single.mp4", frames=1)
    return folder / "single.mp4"


def _check_one_frame(item: dict, faces: list[dict]) -> None:
    assert item["frames"] == {"sampled": 1, "with_face": 1} and [f["frame"] for f in faces] == [0]


def _no_moov(folder: Path, kit: MediaKit) -> Path:
    return strip_moov(kit.face_video, folder / "no_moov.mp4")


def _image(name: str, mode: str, **save: Any) -> Make:
    return lambda folder, kit: save_mode_image(folder / name, mode, **save)


def _non_utf8(folder: Path, kit: MediaKit) -> Path:
    path = Path(os.fsdecode(bytes(folder) + b"/caf\xe9 \xff.jpg"))
    shutil.copy(kit.face_jpeg, path)
    return path


def _check_name_kept(item: dict, faces: list[dict]) -> None:
    assert os.path.exists(item["path"])  # the path read back from the JSON opens the very file
    assert faces and all(face["file"].isascii() for face in faces)


CASES = [
    FileCase("zero-byte", _write("zero.mp4", b""), "error", "empty file"),
    FileCase("random-bytes-mp4", _write("noise.mp4", seeded_bytes(4096, 1)), "error", "not a readable video or image"),
    FileCase("random-bytes-jpg", _write("noise.jpg", seeded_bytes(4096, 2)), "error", "not a readable video or image"),
    FileCase("text-named-mp4", _copy(lambda kit: kit.text_mp4, "notes.mp4"), "error",
             "a text file, not a video or image"),
    FileCase("truncated-mp4", _copy(lambda kit: kit.truncated, "truncated.mp4"), "error",
             "not a readable video (moov atom not found"),
    FileCase("moov-missing", _no_moov, "error", "not a readable video (moov atom not found"),
    FileCase("audio-only", _copy(lambda kit: kit.audio_only, "tone.mp4"), "error", "no video stream (audio only)"),
    FileCase("one-frame-video", _one_frame, "ok", check=_check_one_frame),
    FileCase("variable-frame-rate", _vfr, "ok", check=_check_vfr),
    FileCase("portrait-rotation-metadata", _portrait, "ok", check=_check_upright),
    FileCase("4k-frame", lambda folder, kit: make_sized_video(folder / "uhd.mp4", (3840, 2160), 2, 6.0), "ok",
             slow=True),
    FileCase("64x64-frame", lambda folder, kit: make_sized_video(folder / "tiny.mp4", (64, 64), 3, 0.3),
             ("ok", "no_face")),
    FileCase("grayscale-png", _image("grey.png", "L"), "ok"),
    FileCase("cmyk-jpeg", _image("cmyk.jpg", "CMYK", quality=95), "ok"),
    FileCase("rgba-png", _image("rgba.png", "RGBA"), "ok"),
    FileCase("palette-png", _image("palette.png", "P"), "ok"),
    FileCase("16-bit-png", _image("deep.png", "I;16"), "ok"),
    FileCase("png-named-jpg", lambda folder, kit: png_named(folder / "really_a_png.jpg"), "ok"),
    FileCase("decompression-bomb", lambda folder, kit: make_png_bomb(folder / "bomb.png"), "error",
             "image too large (Pillow's decompression-bomb limit: Image size (400000000 pixels) exceeds limit"),
    FileCase("corrupt-png", _write("corrupt.png", b"\x89PNG\r\n\x1a\n" + seeded_bytes(300, 3)), "error",
             "not a readable image"),
    FileCase("truncated-jpeg", lambda folder, kit: truncate(kit.face_jpeg, folder / "half.jpg"), "error",
             "not a readable image (image file is truncated"),
    FileCase("named-pipe", _fifo, "error", "not a regular file (a named pipe)"),
    FileCase("dangling-symlink", _dangling, "error", "broken symbolic link"),
    FileCase("unreadable-permission", _copy(lambda kit: kit.face_jpeg, "secret.jpg"), "error", "permission denied",
             setup=unreadable),
    FileCase("non-utf8-name", _non_utf8, "ok", check=_check_name_kept),
    FileCase("spaces-in-name", _copy(lambda kit: kit.face_jpeg, "my holiday (1).jpg"), "ok"),
    FileCase("path-does-not-exist", lambda folder, kit: folder / "missing.mp4", "error", "no such file"),
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, kit: MediaKit) -> Iterator[Callable[[FileCase], Path]]:
    """Each case's file, made once, in a folder of its own."""
    root = tmp_path_factory.mktemp("cases")
    paths: dict[str, Path] = {}

    def get(case: FileCase) -> Path:
        if case.id not in paths:
            folder = root / case.id
            folder.mkdir()
            paths[case.id] = case.make(folder, kit)
        return paths[case.id]

    yield get


def _scan_checks(case: FileCase, path: Path, good: Path, result: CliResult) -> dict:
    statuses = (case.status,) if isinstance(case.status, str) else case.status
    assert result.err == "", result.err  # no traceback, no noise: the reasons are in the results
    item, other = result.jsonl()
    assert item["path"] == str(path) and item["status"] in statuses, item
    assert other["path"] == str(good) and other["status"] == "ok" and 0 <= other["p_fake"] <= 1
    assert result.code == (0 if item["status"] == "ok" else 3)
    if item["status"] == "ok":
        assert 0.0 <= item["p_fake"] <= 1.0 and item["verdict"] in ("fake", "real") and item["error"] is None
    else:  # never a made-up score
        assert item["p_fake"] is None and item["verdict"] is None
    if item["status"] == "error":
        assert case.message in item["error"] and str(path) in item["error"] and "\n" not in item["error"]
    return item


def _extract_checks(case: FileCase, path: Path, good: Path, out: Path, result: CliResult) -> list[dict]:
    summary = json.loads(result.out)
    first, other = summary["inputs"]
    assert first["source"] == str(path) and other["status"] == "ok" and other["faces"] == 1
    assert other["sha256"] == hashlib.sha256(good.read_bytes()).hexdigest()
    if first["status"] != "error" and first["sha256"] == other["sha256"]:  # a copy of the good input: said so
        (note,) = result.err.splitlines()
        assert note.startswith(f"mesocli: {good}: same bytes as ") and note.endswith("; extracting it again")
    else:
        assert result.err == "", result.err
    if first["status"] == "error":
        assert first["sha256"] is None
    if case.status == "error":
        assert first["status"] == "error" and result.code == 3
        assert case.message in first["message"] and str(path) in first["message"] and "\n" not in first["message"]
    else:
        assert first["status"] in ("ok", "no_face") and result.code == 0
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    inputs = [line for line in lines if line["type"] == "input"]
    faces = [line for line in lines if line["type"] == "face"]
    assert [line["status"] for line in inputs] == [first["status"], "ok"]  # the failure is on record
    listed = {face["file"] for face in faces}
    assert set(tree(out)) == listed | {MANIFEST, LOCK}  # every crop listed, nothing half-written
    for face in faces:
        with Image.open(out / face["file"]) as crop:
            assert crop.size == (256, 256)
    return [face for face in faces if face["source"] == str(path)]


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.slow else [])
                                  for case in CASES])
def test_scan_and_extract(case: FileCase, made: Callable[[FileCase], Path], face_jpeg: Path, own_weights: Path,
                          run_cli: RunCli, tmp_path: Path) -> None:
    path = made(case)
    out = tmp_path / "out"
    with case.setup(path):
        scanned = run_cli("scan", "--weights", own_weights, "--frames", "3", "--detail", path, face_jpeg)
        extracted = run_cli("extract", path, face_jpeg, out, "--frames", "3", "--workers", "1", "--format", "json")
    item = _scan_checks(case, path, face_jpeg, scanned)
    faces = _extract_checks(case, path, face_jpeg, out, extracted)
    if case.check is not None:
        case.check(item, faces)


def test_video_frames_over_the_pixel_limit_are_refused(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       run_cli: RunCli) -> None:
    """The images' pixel limit applies to video frames too (each is copied as RGB); $MESOCLI_MAX_IMAGE_PIXELS sets
    it (there was no way to), and a frame refused names it."""
    small = tmp_path / "small.png"
    face_image((200, 150)).save(small)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)  # restored after the test
    monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", str(320 * 240 - 2))
    scanned = run_cli("scan", "--weights", own_weights, "--detector", "none", kit.face_video, small)
    assert scanned.code == 3 and scanned.err == ""
    video, image = scanned.jsonl()
    assert image["status"] == "ok" and video["status"] == "error" and video["p_fake"] is None
    assert video["error"] == (f"{kit.face_video}: frames too large (320×240 pixels; the limit is 76798 pixels, "
                              "as for images (Pillow's decompression-bomb limit): raise it with "
                              "MESOCLI_MAX_IMAGE_PIXELS=PIXELS)")
    for value in ("lots", "-5", "12"):  # a bad value stops the run before any input is read
        monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", value)
        refused = run_cli("scan", "--weights", own_weights, "--detector", "none", small)
        assert (refused.code, refused.out) == (2, "")
        assert refused.err == (f"mesocli: error: MESOCLI_MAX_IMAGE_PIXELS='{value}': not a number of pixels of "
                               "1000 or more (e.g. 400000000 for images of up to 400 megapixels)\n")
    assert run_cli("models", "--format", "json").code == 0  # a command that reads no image is not stopped


def test_a_folder_with_a_symlink_loop_is_walked_once(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                      run_cli: RunCli) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(kit.face_jpeg, folder / "sub" / "face.jpg")
    (folder / "sub" / "loop").symlink_to(folder)  # in/sub/loop -> in: a cycle
    (folder / "sub" / "self").symlink_to(".")
    scanned = run_cli("scan", "--weights", own_weights, folder)
    # one note names both links, which are not walked again (a link's files are never left out without a word)
    assert scanned.code == 0 and scanned.err.count("\n") == 1 and scanned.err.startswith("mesocli: 2 names ")
    assert f"{folder / 'sub' / 'loop'} is {folder}; {folder / 'sub' / 'self'} is {folder / 'sub'}" in scanned.err
    assert [item["path"] for item in scanned.jsonl()] == [str(folder / "sub" / "face.jpg")]
    out = tmp_path / "out"
    extracted = run_cli("extract", folder, out, "--workers", "1", "--format", "json")
    assert extracted.code == 0 and json.loads(extracted.out)["counts"] == {
        "inputs": 1, "ok": 1, "no_face": 0, "error": 0, "skipped": 0, "frames": 1, "faces": 1}


def test_a_folder_without_media_is_an_error_result(tmp_path: Path, face_jpeg: Path, own_weights: Path,
                                                   run_cli: RunCli) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing to see\n")
    scanned = run_cli("scan", "--weights", own_weights, folder, face_jpeg)
    first, second = scanned.jsonl()
    assert scanned.code == 3 and first["status"] == "error" and second["status"] == "ok"
    assert first["error"] == f"{folder}: folder holds no video or image"
    alone = run_cli("extract", folder, tmp_path / "out")
    assert alone.code == 2 and alone.error_line() == "no video or image among the inputs"
    assert not (tmp_path / "out").exists()


def test_unreadable_entries_of_a_folder_are_error_results(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                          run_cli: RunCli) -> None:
    """Nothing in a folder vanishes unread: a sub-folder that cannot be listed, and an unreadable file
    without a media extension, are error results (exit 3); the readable image is still processed."""
    folder = tmp_path / "in"
    for name in ("sub/one.jpg", "locked/two.jpg", "lockedfile"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(kit.face_jpeg, folder / name)
    locked, locked_file, good = folder / "locked", folder / "lockedfile", folder / "sub" / "one.jpg"
    with unreadable(locked), unreadable(locked_file):
        scanned = run_cli("scan", "--weights", own_weights, folder)
        extracted = run_cli("extract", folder, tmp_path / "out", "--workers", "1", "--format", "json")
        alone = run_cli("scan", "--weights", own_weights, locked)
    expected = [(str(locked), "error", f"{locked}: permission denied"),
                (str(locked_file), "error", f"{locked_file}: permission denied"), (str(good), "ok", None)]
    assert scanned.code == 3 and scanned.err == ""
    assert [(row["path"], row["status"], row["error"]) for row in scanned.jsonl()] == expected
    assert extracted.code == 3 and extracted.err == ""
    assert [(row["source"], row["status"], row["message"] or None)
            for row in json.loads(extracted.out)["inputs"]] == expected
    assert alone.code == 3 and [row["error"] for row in alone.jsonl()] == [f"{locked}: permission denied"]


def test_a_file_that_names_other_files_is_not_followed(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                       run_cli: RunCli) -> None:
    """A DASH playlist named .mp4 that points at another local video, and random bytes named with ffmpeg's
    image-sequence pattern beside numbered images: ffmpeg read those other files, and their faces were
    scored (and written as crops, and into reports) under the hostile file's name."""
    dash = tmp_path / "holiday.mp4"
    dash.write_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<!-- \xff\xfe -->\n'
                     b'<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
                     b'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011" type="static" '
                     b'mediaPresentationDuration="PT2S" '
                     b'minBufferTime="PT1S"><Period><AdaptationSet mimeType="video/mp4"><Representation id="v" '
                     b'bandwidth="500000" width="320" height="240" codecs="avc1.64001e"><BaseURL>'
                     + os.fsencode(kit.face_video) + b"</BaseURL></Representation></AdaptationSet></Period></MPD>\n")
    sequence = tmp_path / "v%d.jpg"
    sequence.write_bytes(os.urandom(3000))
    for number in (1, 2):
        shutil.copy(kit.face_jpeg, tmp_path / f"v{number}.jpg")
    result = run_cli("scan", "--weights", own_weights, dash, sequence, "--frames", "3")
    rows = result.jsonl()
    assert result.code == 3 and [row["status"] for row in rows] == ["error", "error"]
    assert "playlists (HLS, DASH), file lists and image sequences, which name other files, are refused" in \
        rows[0]["error"]
    code, _, _ = run_cli("extract", dash, tmp_path / "crops", "--frames", "3", "-q")
    assert code == 3 and not list((tmp_path / "crops").rglob("*.jpg"))


def test_a_link_loop_in_a_folder_is_skipped_as_a_dangling_link(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                               run_cli: RunCli) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(kit.face_jpeg, folder / "a.jpg")
    (folder / "self").symlink_to("self")  # ELOOP: it was an error row "broken symbolic link", exit 3
    result = run_cli("scan", "--weights", own_weights, folder, "-q")
    assert result.code == 0 and [row["path"] for row in result.jsonl()] == [str(folder / "a.jpg")]


def test_files_of_a_folder_that_are_not_media_are_skipped_with_a_note(tmp_path: Path, kit: MediaKit,
                                                                       own_weights: Path, run_cli: RunCli) -> None:
    """A folder's files that are neither videos nor images (an audio upload, a text file, a dangling link or a
    link loop) are skipped, and one note on stderr (even with -q) says how many and names the first: a folder of
    uploads shows which files got no row. Before, they vanished in silence (4 files, 1 row, no word)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    shutil.copy(kit.face_jpeg, folder / "face.jpg")
    with wave.open(str(folder / "voice.wav"), "wb") as audio:  # a voice message
        audio.setnchannels(1), audio.setsampwidth(2), audio.setframerate(8000), audio.writeframes(bytes(1600))
    (folder / "notes.txt").write_text("not media\n")
    (folder / "gone").symlink_to("nowhere")
    (folder / "self").symlink_to("self")
    note = (f"mesocli: {folder}: skipped 4 files that are not videos or images (gone, notes.txt, self and 1 more); "
            "name one as an input to see why\n")
    scanned = run_cli("scan", "--weights", own_weights, folder, "-q")
    assert scanned.code == 0 and scanned.err == note
    assert [row["path"] for row in scanned.jsonl()] == [str(folder / "face.jpg")]
    extracted = run_cli("extract", folder, tmp_path / "out", "--workers", "1", "--format", "json", "-q")
    assert extracted.code == 0 and extracted.err == note
    alone = run_cli("scan", "--weights", own_weights, folder / "face.jpg", "-q")
    assert alone.code == 0 and alone.err == ""


def test_hidden_entries_of_a_folder_are_skipped_with_a_note(tmp_path: Path, kit: MediaKit, own_weights: Path,
                                                            run_cli: RunCli) -> None:
    """Hidden files and folders inside a folder are skipped, and a note on stderr (even with -q) says how
    many; named on the command line, they are processed."""
    folder = tmp_path / "in"
    (folder / ".git").mkdir(parents=True)
    for name in ("face.jpg", ".hidden.jpg", ".git/x.jpg"):
        shutil.copy(kit.face_jpeg, folder / name)
    note = (f"mesocli: {folder}: skipped 2 hidden files or folders (names starting with '.'); name them as inputs "
            "to include them\n")
    scanned = run_cli("scan", "--weights", own_weights, folder, "-q")
    assert scanned.code == 0 and scanned.err == note
    assert [row["path"] for row in scanned.jsonl()] == [str(folder / "face.jpg")]
    named = run_cli("scan", "--weights", own_weights, folder / ".hidden.jpg", folder / ".git")
    assert named.code == 0 and named.err == ""
    assert [row["path"] for row in named.jsonl()] == [str(folder / ".hidden.jpg"), str(folder / ".git" / "x.jpg")]
    extracted = run_cli("extract", folder, tmp_path / "out", "--workers", "1", "--format", "json", "-q")
    assert extracted.code == 0 and extracted.err == note
    assert [row["source"] for row in json.loads(extracted.out)["inputs"]] == [str(folder / "face.jpg")]
