"""mesocli eval: the evaluation driver and the command, on tiny datasets made at test time.

A "grey-level" network (p_real = mean pixel value) turns each solid-colour PNG into a known score,
so the whole path (files -> decode -> network -> metrics -> outputs) is checked against figures
computed by hand (the same 10 scores as tests/test_metrics.py).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import RunCli
from media import MediaKit
from PIL import Image

from mesocli.datasets import decode_dataset, find_dataset
from mesocli.errors import ParameterError, UsageError
from mesocli.evaluate import REPORT_KEYS, evaluate
from mesocli.metrics import wilson_interval
from mesocli.weights import LoadedModel

# (class folder, video, p_fake): p_fake = 1 - grey / 255
IMAGES = [
    ("df", "f1", 0.9), ("df", "f1", 0.8), ("df", "f2", 0.6), ("df", "f2", 0.3),
    ("real", "r1", 0.7), ("real", "r1", 0.4), ("real", "r2", 0.2), ("real", "r2", 0.2),
    ("real", "r3", 0.1), ("real", "r3", 0.05),
]


def _grey(p_fake: float) -> int:
    return int(round(255 * (1 - p_fake)))


def make_scored_dataset(root: Path, split: str | None = "validation", extras: bool = True) -> Path:
    """Solid-colour PNG faces named <video>_<frame>.png, plus an unreadable .jpg and a .txt file."""
    folder = root / split if split else root
    for frame, (cls, video, p_fake) in enumerate(IMAGES):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        size = (120, 90) if frame % 2 else (256, 256)
        Image.new("RGB", size, (_grey(p_fake),) * 3).save(folder / cls / f"{video}_{frame}.png")
    if extras:
        (folder / "real" / "r9_0.jpg").write_bytes(b"not a jpeg")
        (folder / "df" / "notes.txt").write_text("not an image")
    return root


@pytest.fixture(scope="module")
def grey_model() -> LoadedModel:
    from mesocli._tf import import_tensorflow

    keras = import_tensorflow().keras
    inputs = keras.Input(shape=(256, 256, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    mean = keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(1 / 3))
    output = mean(pooled)
    return LoadedModel("meso4", "grey-level", Path("grey.weights.h5"), "0" * 64, keras.Model(inputs, output))


@pytest.fixture
def scored_root(tmp_path: Path) -> Path:
    return make_scored_dataset(tmp_path / "data")


def check_known_figures(report: dict) -> None:
    assert report["data"]["images"] == 10 and report["data"]["df"] == 4 and report["data"]["real"] == 6
    assert report["data"]["skipped"] == 2
    assert report["confusion"] == {"tp": 3, "fp": 1, "tn": 5, "fn": 1, "positive": "fake"}
    assert report["accuracy"] == pytest.approx(0.8)
    assert report["accuracy_df"] == pytest.approx(0.75)
    assert report["accuracy_real"] == pytest.approx(5 / 6)
    assert report["auc"] == pytest.approx(21 / 24)
    assert report["average_precision"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    assert report["eer"] == pytest.approx(0.25)
    assert report["best_threshold"] == pytest.approx(0.5, abs=0.01)
    assert report["best_accuracy"] == pytest.approx(0.8)
    # videos: f1 (.9, .8) f2 (.6, .3) r1 (.7, .4) r2 (.2, .2) r3 (.1, .05)
    # mean: f1 right, f2 .45 wrong, r1 .55 wrong, r2 r3 right -> 3/5; vote: f2 1/2 fake right, r1 wrong -> 4/5
    # AUC of the means (.85 .45 against .55 .2 .075): 5 of 6 pairs ranked right
    assert report["video"] == {
        "videos": 5, "accuracy_mean": pytest.approx(0.6), "accuracy_vote": pytest.approx(0.8),
        "auc_mean": pytest.approx(5 / 6),
    }
    calibrated = report["calibration"]  # squared distances: fakes .01 .04 .16 .49, reals .49 .16 .04 .04 .01 .0025
    assert calibrated["brier"] == pytest.approx(1.4425 / 10, abs=1e-3)
    assert sum(b["faces"] for b in calibrated["bins"]) == 10
    gaps = sum(b["faces"] * abs(b["fake_share"] - b["mean_p_fake"]) for b in calibrated["bins"]) / 10
    assert calibrated["ece"] == pytest.approx(gaps)


def test_the_report_says_which_software_made_it_and_when(grey_model: LoadedModel, scored_root: Path) -> None:
    """``eval --format json`` named the model and the data, not the mesocli version, runtime and library versions
    that made its figures, nor when: a report could not be cited. Now its last key, ``provenance``, says so."""
    import datetime as dt
    import re
    from importlib import metadata

    import numpy as np
    import PIL

    from mesocli import __version__

    def now() -> str:
        return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    before = now()
    report = evaluate(grey_model, find_dataset(scored_root, "validation"), 0.5, bootstrap=0).to_dict()
    after = now()
    made = report["provenance"]
    assert list(report)[-1] == "provenance"
    assert set(made) == {"mesocli", "mesocli_code", "runtime", "resize", "resize_from", "libraries", "finished_at"}
    assert made["resize"] == "bilinear"  # the grey model has no card: mesocli's resize
    assert (made["mesocli"], made["runtime"]) == (__version__, "tensorflow")  # the grey model is a Keras one
    from mesocli.provenance import code_digest

    assert made["mesocli_code"] == code_digest()
    assert made["libraries"] == {"tensorflow": metadata.version("tensorflow"), "keras": metadata.version("keras"),
                                 "numpy": np.__version__, "Pillow": PIL.__version__}  # no ffmpeg, no dlib: crops
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", made["finished_at"])
    assert before <= made["finished_at"] <= after
    json.dumps(report)  # plain JSON


def test_evaluate_known_scores(grey_model: LoadedModel, scored_root: Path) -> None:
    dataset = find_dataset(scored_root, "validation")
    report = evaluate(grey_model, dataset, 0.5)
    result = report.to_dict()
    assert list(result) == list(REPORT_KEYS)
    check_known_figures(result)
    assert result["model"] == {"arch": "meso4", "name": "grey-level", "weights_sha256": "0" * 64}
    assert result["data"]["root"] == str(scored_root) and result["data"]["split"] == "validation"
    assert result["seconds"] > 0 and result["images_per_second"] > 0
    assert any("r9_0.jpg" in line for line in report.skipped)
    assert any("notes.txt" in line for line in report.skipped)
    expected = {f"{video}_{i}": 1 - _grey(p) / 255 for i, (_, video, p) in enumerate(IMAGES)}
    got = {Path(path).stem: p for path, p in zip(report.paths, report.p_fake, strict=True)}
    assert got == pytest.approx(expected, abs=1e-5)
    # same figures from pre-decoded images (the path shared-data tests use)
    intervals = result["intervals"]  # 95 %: resampling the 5 videos within each class, Wilson for video accuracy
    assert intervals["unit"] == "video" and intervals["resamples"] == 1000 and intervals["level"] == 0.95
    for key in ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer"):
        assert intervals[key][0] <= result[key] <= intervals[key][1], key
    assert intervals["video_accuracy_mean"] == pytest.approx([0.2307, 0.8824], abs=1e-3)  # 3 of 5 right
    assert evaluate(grey_model, dataset, 0.5).to_dict()["intervals"] == intervals  # seeded: the same each time
    again = evaluate(grey_model, dataset, 0.5, decoded=decode_dataset(dataset, progress=False)).to_dict()
    assert {k: again[k] for k in ("accuracy", "auc", "eer", "video")} == {
        k: result[k] for k in ("accuracy", "auc", "eer", "video")}


def test_no_interval_from_a_class_of_one_video(grey_model: LoadedModel, tmp_path: Path) -> None:
    root = tmp_path / "one"
    for frame, (cls, video, p) in enumerate(IMAGES):
        (root / cls).mkdir(parents=True, exist_ok=True)
        name = "f1" if cls == "df" else video  # all four fakes from one video
        Image.new("RGB", (64, 64), (_grey(p),) * 3).save(root / cls / f"{name}_{frame}.png")
    report = evaluate(grey_model, find_dataset(root, "validation"), 0.5)
    intervals = report.to_dict()["intervals"]
    # resampling one video gives the same figures each time: the interval had width 0 ("0.750–0.750")
    assert "accuracy" not in intervals and "auc" not in intervals
    assert intervals["note"] == ("image figures' intervals not computed: 1 video in the df class (a bootstrap "
                                 "needs at least 2 in each)")
    assert intervals["video_accuracy_mean"][0] < intervals["video_accuracy_mean"][1]  # Wilson: still honest
    from rich.console import Console

    from mesocli.writers import eval_table

    console = Console(width=200, record=True)
    console.print(eval_table(report))
    assert "1 video in the df class" in console.export_text()


def test_evaluate_without_video_ids(grey_model: LoadedModel, tmp_path: Path) -> None:
    root = tmp_path / "flat"
    for i, (cls, _, p) in enumerate(IMAGES):
        (root / cls).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (_grey(p),) * 3).save(root / cls / f"{i:05d}.png")
    report = evaluate(grey_model, find_dataset(root, "validation"), 0.75)  # ROOT/{df,real}: one split
    assert report.data["split"] is None and report.video is None
    assert report.intervals is not None and report.intervals["unit"] == "image"
    assert "video_accuracy_mean" not in report.intervals
    assert evaluate(grey_model, find_dataset(root, "validation"), 0.75, bootstrap=0).intervals is None
    assert report.confusion == {"tp": 2, "fp": 0, "tn": 6, "fn": 2, "positive": "fake"}


def test_evaluate_one_class_readable(grey_model: LoadedModel, tmp_path: Path) -> None:
    root = tmp_path / "data"
    make_scored_dataset(root, extras=False)
    for png in (root / "validation" / "real").iterdir():
        png.write_bytes(b"broken")
    with pytest.raises(UsageError, match="no readable images of class real"):
        evaluate(grey_model, find_dataset(root, "validation"))


def test_cli_json_scores_plot(
    grey_model: LoadedModel, scored_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
) -> None:
    calls = []

    def fake_resolve(arch, manipulation, weights, runtime):
        calls.append((arch, manipulation, weights, runtime))
        return grey_model

    monkeypatch.setattr("mesocli.runtime.resolve", fake_resolve)
    monkeypatch.setenv("MESOCLI_DATA", str(scored_root))
    scores, plot = tmp_path / "out" / "scores.csv", tmp_path / "out" / "roc.png"
    code, out, err = run_cli("eval", "--format", "json", "--scores", str(scores), "--plot", str(plot), "--quiet")
    assert code == 0, err
    assert calls == [(None, "df", None, "onnx")]
    report = json.loads(out)
    assert list(report) == list(REPORT_KEYS)
    check_known_figures(report)
    assert "skipped" in err and "r9_0.jpg" in err and "notes.txt" in err
    rows = list(csv.DictReader(scores.open()))
    assert len(rows) == 10 and set(rows[0]) == {"path", "label", "video", "p_fake", "verdict"}
    first = next(row for row in rows if row["path"] == "validation/df/f1_0.png")
    assert first["label"] == "df" and first["video"] == "f1" and first["verdict"] == "fake"
    assert float(first["p_fake"]) == pytest.approx(1 - _grey(0.9) / 255, abs=1e-5)
    assert sum(row["verdict"] == "fake" for row in rows) == 4  # tp 3 + fp 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in scores.parent.iterdir() if p.name.startswith(".")]  # no temp files left

    # existing outputs are refused before any work, then replaced with --force
    before = scores.stat().st_mtime_ns
    code, out, err = run_cli("eval", "--scores", str(scores), "-q")
    # worded as every other command's refusal (it said "… exists; pass --force to overwrite it")
    assert (code, err) == (2, f"mesocli: error: {scores}: exists; pass --force to replace it\n")
    assert calls == [(None, "df", None, "onnx")] and scores.stat().st_mtime_ns == before
    code, out, err = run_cli("eval", "--scores", str(scores), "--force", "-q",
                             "--threshold", "0.75", "--model", "f2f", "--arch", "mesoinception4")
    assert code == 0, err
    assert calls[-1] == ("mesoinception4", "f2f", None, "onnx")
    assert sum(row["verdict"] == "fake" for row in csv.DictReader(scores.open())) == 2
    assert "accuracy" in out and "video accuracy (mean)" in out  # the rich table
    assert "interval" in out and "Wilson" in out  # the 95 % interval column and how it was drawn


def test_cli_real_weights_file(own_weights: Path, scored_root: Path, run_cli: RunCli) -> None:
    code, out, err = run_cli("eval", "--data", str(scored_root), "--weights",
                             str(own_weights), "--format", "json", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert report["model"]["arch"] == "meso4" and report["model"]["name"] == "meso4_test"
    assert len(report["model"]["weights_sha256"]) == 64
    assert 0.0 <= report["auc"] <= 1.0 and report["data"]["images"] == 10
    # without -q, notes go to stderr but no progress bar when stderr is not a terminal (a log file)
    code, out, err = run_cli("eval", "--data", str(scored_root), "--weights", str(own_weights), "--format", "json")
    assert code == 0 and json.loads(out)["auc"] == report["auc"]
    assert "\r" not in err and "img/s" not in err and err.startswith("data: ") and err.endswith("\n")


def _empty(root: Path) -> None:
    (root / "validation" / "df").mkdir(parents=True)
    (root / "validation" / "real").mkdir(parents=True)


def _one_class(root: Path) -> None:
    (root / "validation" / "df").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(root / "validation" / "df" / "a_1.png")
    (root / "validation" / "real").mkdir(parents=True)
    (root / "validation" / "real" / "README").write_text("no images here")


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (None, ["--data", "{missing}"], "dataset not found: {missing} is not a folder"),
        (lambda root: root.mkdir(), ["--data", "{root}"],
         "no class folders (df|fake, real) in {root}/validation or {root}"),
        (_empty, ["--data", "{root}"], "no images of class df and real"),
        (_one_class, ["--data", "{root}"], "no images of class real; both df and real are needed"),
        (_one_class, ["--data", "{root}", "--split", "test"],  # the split that exists is named
         "no class folders (df|fake, real) in {root}/test or {root}; splits with them: validation (--split)\n"),
        (None, [], "no dataset: pass --data ROOT or set MESOCLI_DATA"),
        (None, ["--data", "{root}", "--format", "xml"], "unknown --format 'xml'"),
        (None, ["--data", "{root}", "--threshold", "1.5"], "--threshold must be between 0 and 1, not 1.5"),
        (None, ["--data", "{root}", "--model", "df", "--weights", "w.h5"],
         "give --model or --weights, not both"),
        (None, ["--data", "{root}", "--bootstrap", "-5"], "--bootstrap -5: must be 0 (no intervals) or more"),
    ],
)
def test_cli_errors_are_one_line(
    setup, args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    run_cli: RunCli,
) -> None:
    root, missing = tmp_path / "data", tmp_path / "nowhere"
    if setup is not None:
        setup(root)
    monkeypatch.delenv("MESOCLI_DATA", raising=False)
    argv = [a.format(root=root, missing=missing) for a in args]
    code, out, err = run_cli("eval", *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mesocli: error: ")
    assert message.format(root=root, missing=missing) in err


def test_cli_env_data_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.setenv("MESOCLI_DATA", str(tmp_path / "gone"))
    code, _, err = run_cli("eval")
    assert code == 2 and err.count("\n") == 1
    assert f"{tmp_path / 'gone'} is not a folder (from $MESOCLI_DATA)" in err


def test_cli_plot_extension_checked_first(scored_root: Path, tmp_path: Path, run_cli: RunCli) -> None:
    code, _, err = run_cli("eval", "--data", str(scored_root), "--plot", str(tmp_path / "roc.xyz"))
    assert code == 2 and err.count("\n") == 1 and "--plot needs one of the extensions" in err


def test_single_split_root_fallback(tmp_path: Path) -> None:
    root = make_scored_dataset(tmp_path / "flat", split=None, extras=False)
    dataset = find_dataset(root, "validation")
    assert dataset.split is None and dataset.counts == {"df": 4, "real": 6}
    assert dataset.paths[:4] == sorted(dataset.paths[:4])


def test_a_missing_split_beside_split_folders_is_not_the_roots_own_classes(tmp_path: Path) -> None:
    """A root that holds split folders and, beside them, class folders of its own (``extract --layout dataset``
    run once without ``--split``): ``--split tset`` (a typo) evaluated the root's own faces, exit 0, and with
    only ``real/`` there said "no images of class df". The split asked for must be one of its split folders."""
    root = make_scored_dataset(tmp_path / "data", split="test", extras=False)
    make_scored_dataset(root, split=None, extras=False)  # root/df, root/real beside root/test
    assert find_dataset(root, "test").split == "test"
    assert find_dataset(root, None).split is None  # no split asked for: the root itself, as before
    with pytest.raises(ParameterError, match=r"in \S+/tset; splits with them: test \(split\)$"):
        find_dataset(root, "tset")
    shutil.rmtree(root / "df")  # root/real alone beside the split folder
    with pytest.raises(ParameterError, match=r"in \S+/tset; splits with them: test \(split\)$"):
        find_dataset(root, "tset")


def write_grey_faces(split: Path, files: list[tuple[str, str, float]]) -> None:
    """``(folder, video, p_fake)`` → ``split/folder/<video>_<n>.png``, grey so that ``grey_model`` scores it p_fake."""
    for frame, (folder, video, p_fake) in enumerate(files):
        (split / folder).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (256, 256), (_grey(p_fake),) * 3).save(split / folder / f"{video}_{frame}.png")


def test_per_method_figures_match_hand_computed_values(tmp_path: Path, grey_model: LoadedModel) -> None:
    """Fakes in method folders are each scored against every real image (AUC by counting pairs)."""
    files = [("df/A", "a1", 0.9), ("df/A", "a1", 0.6), ("df/B", "a1", 0.8), ("df/B", "a1", 0.3),
             ("real/orig", "r1", 0.7), ("real/orig", "r1", 0.4), ("real/orig", "r2", 0.2), ("real/orig", "r2", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    report = evaluate(grey_model, find_dataset(tmp_path, "test"))
    methods = report.to_dict()["methods"]
    assert set(methods) == {"A", "B"}
    a, b = methods["A"], methods["B"]
    assert (a["images"], a["df"], a["real"]) == (6, 2, 4)
    assert a["auc"] == pytest.approx(7 / 8) and b["auc"] == pytest.approx(6 / 8)  # fake-real pairs ranked right
    assert (a["accuracy"], a["accuracy_df"], a["accuracy_real"]) == pytest.approx((5 / 6, 1.0, 0.75))
    assert (b["accuracy"], b["accuracy_df"], b["accuracy_real"]) == pytest.approx((4 / 6, 0.5, 0.75))
    # videos are told apart by method: A/a1 and B/a1 are two videos although both files say "a1"
    assert a["video"]["videos"] == 3 and a["video"]["accuracy_mean"] == pytest.approx(2 / 3)
    assert report.video["videos"] == 4
    assert report.auc == pytest.approx(13 / 16)  # the total: both methods' pairs together


def test_the_tracks_of_a_video_are_one_video(tmp_path: Path, grey_model: LoadedModel) -> None:
    """``extract --all-faces`` names crops ``<video>_t<track>_<frame>``: each track was a video of its own, so 4
    videos read as 8 and a fake video whose forged face was one of two people counted once right, once wrong.
    A video is now its tracks together, each aggregated and the video taking the largest, as ``scan
    --all-faces`` decides, and the intervals resample whole videos."""
    files = [("df", "f1_t0", 0.2), ("df", "f1_t0", 0.2), ("df", "f1_t1", 0.9), ("df", "f1_t1", 0.9),
             ("df", "f2_t0", 0.8), ("df", "f2_t0", 0.7),
             ("real", "r1_t0", 0.1), ("real", "r1_t0", 0.1), ("real", "r1_t3", 0.3), ("real", "r1_t3", 0.4),
             ("real", "r2_t0", 0.2), ("real", "r2_t1", 0.1)]
    write_grey_faces(tmp_path / "test", files)
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True}}) + "\n")  # extract's
    report = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=200)
    assert report.video == {"videos": 4, "accuracy_mean": 1.0, "accuracy_vote": 1.0, "auc_mean": 1.0,
                            "min_track_frames": 3}
    assert report.intervals["video_accuracy_mean"] == pytest.approx(wilson_interval(4, 4))
    # the tracks of one video are drawn together: f1 (half its faces right) with f2, never f1_t0 (none) alone
    assert report.intervals["accuracy_df"][0] >= 0.5


def test_a_split_folder_of_an_all_faces_dataset_groups_its_tracks(tmp_path: Path, grey_model: LoadedModel) -> None:
    """Found in review: ``eval --data OUT_DIR/test`` (the split folder itself, which holds df/ and real/) did not
    see extract's manifest, one folder up, so each ``--all-faces`` track counted as a video (4 videos read as 6)."""
    files = [("df", "f1_t0", 0.2), ("df", "f1_t1", 0.9), ("df", "f2_t0", 0.8),
             ("real", "r1_t0", 0.1), ("real", "r1_t3", 0.3), ("real", "r2_t0", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    header = {"tool": "mesocli extract", "settings": {"all_faces": True, "layout": "dataset"}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(header) + "\n")
    dataset = find_dataset(tmp_path / "test", None)
    assert dataset.split is None and dataset.tracks
    assert evaluate(grey_model, dataset, bootstrap=0).video["videos"] == 4
    (tmp_path / "manifest.jsonl").write_text(json.dumps({**header, "settings": {"all_faces": True,
                                                                                  "layout": "video"}}) + "\n")
    assert not find_dataset(tmp_path / "test", None).tracks  # a video-layout manifest names no split folders


def test_a_split_folder_that_is_an_extract_output_of_its_own_groups_its_tracks(
        tmp_path: Path, grey_model: LoadedModel) -> None:
    """Found in review: ``extract ... data/test --layout dataset --all-faces`` (no ``--split``: the split folder is
    an OUT_DIR, its manifest inside it), then ``eval --data data --split test``, read only ``data/manifest.jsonl``:
    each track counted as a video (4 videos read as 7) and ``--min-track-frames`` was refused, naming ``data`` as if
    its manifest said no ``--all-faces``; ``--data data/test`` grouped them. Each split follows its own manifest."""
    from mesocli.evaluate import check_min_track_frames

    write_grey_faces(tmp_path / "test", SHORT_TRACKS)  # data/test: an extract output folder of its own
    (tmp_path / "test" / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True,
                                                                               "layout": "dataset"}}) + "\n")
    write_grey_faces(tmp_path / "train", [("df", "a_t0", 0.9), ("df", "a_t1", 0.8), ("real", "b_t0", 0.1)])
    (tmp_path / "train" / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": False}}) + "\n")
    dataset = find_dataset(tmp_path, "test")
    assert dataset.tracks and check_min_track_frames(2, dataset) == 2
    assert evaluate(grey_model, dataset, bootstrap=0, min_track_frames=2).video == {
        "videos": 4, "accuracy_mean": 0.75, "accuracy_vote": 0.75, "auc_mean": 1.0, "min_track_frames": 2}
    assert not find_dataset(tmp_path, "train").tracks  # the other split's own manifest: not --all-faces
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True}}) + "\n")
    assert not find_dataset(tmp_path, "train").tracks  # the split's own manifest before the root's


@pytest.mark.parametrize("manifest", [None, {"settings": {"all_faces": False}}, "torn"])
def test_names_ending_in_t_and_digits_are_videos_of_their_own_without_all_faces(
    tmp_path: Path, grey_model: LoadedModel, manifest: object
) -> None:
    """Found in review: ``take_t1.mp4`` and ``take_t2.mp4`` (crops ``take_t1_<frame>``) were read as two tracks
    of one video ``take``. Tracks are grouped only where extract's manifest says ``--all-faces``."""
    files = [("df", "take_t1", 0.9), ("df", "take_t1", 0.9), ("df", "take_t2", 0.2), ("df", "take_t2", 0.2),
             ("df", "fake_a", 0.8), ("real", "r1", 0.1), ("real", "r1", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    if manifest is not None:
        (tmp_path / "manifest.jsonl").write_text("{\"sett" if manifest == "torn" else json.dumps(manifest) + "\n")
    report = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=0)
    assert report.video == {"videos": 4, "accuracy_mean": 0.75, "accuracy_vote": 0.75, "auc_mean": 1.0}
    assert sorted(set(report.video_ids)) == ["fake_a", "r1", "take_t1", "take_t2"]


# extract --all-faces crops whose video figures turn on the short-track rule: r1's 1-crop track and r2's 2-crop track
# are called fake; f2's tracks are 2 and 1 crops long (videos right under --min-track-frames 1 / 2 / 3: 2 / 3 / 4)
SHORT_TRACKS = [("df/X", "f1_t0", 0.8), ("df/X", "f1_t0", 0.9),
                ("df/X", "f2_t0", 0.9), ("df/X", "f2_t0", 0.6), ("df/X", "f2_t1", 0.3),
                *[("real", "r1_t0", p) for p in (0.1, 0.2, 0.1, 0.2)], ("real", "r1_t1", 0.9),
                ("real", "r2_t0", 0.1), ("real", "r2_t0", 0.2), ("real", "r2_t1", 0.2), ("real", "r2_t1", 0.9)]
RIGHT_UNDER = {1: 0.5, 2: 0.75, 3: 1.0}  # video accuracy (mean and vote) under each --min-track-frames


def _short_tracks(root: Path) -> Path:
    write_grey_faces(root / "test", SHORT_TRACKS)
    (root / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True, "layout": "dataset"}}) + "\n")
    return root


def test_min_track_frames_decides_every_video_figure_alike(tmp_path: Path, grey_model: LoadedModel) -> None:
    """eval followed scan's short-track rule at its default (3) only, and did not say so: ``min_track_frames`` now
    picks it, as ``scan --all-faces --min-track-frames`` does, for the report's video figures, each method's, each
    detector's (``--model any``) and both sides of ``--compare``, and the video block names the rule it used."""
    import mesocli
    from mesocli.detectors import DetectorSet
    from mesocli.metrics import video_level

    dataset = find_dataset(_short_tracks(tmp_path), "test")
    inverted = _inverted(grey_model)
    for rule, right in RIGHT_UNDER.items():
        report = evaluate(grey_model, dataset, bootstrap=0, min_track_frames=rule, compare_with=inverted)
        assert {key: value for key, value in report.video.items() if key != "auc_mean"} == {
            "videos": 4, "accuracy_mean": right, "accuracy_vote": right, "min_track_frames": rule}
        assert report.methods["X"]["video"] == report.video
        theirs = video_level(report.video_ids, report.labels_is_fake, 1 - report.p_fake, 0.5, min_track_frames=rule)
        paired = report.comparison["video"]
        assert paired["videos"] == 4 and paired["min_track_frames"] == rule, paired
        for key in ("accuracy_mean", "accuracy_vote"):
            assert paired[key] == {"this": right, "other": pytest.approx(theirs[key]),
                                   "difference": pytest.approx(right - theirs[key]), "interval": None,
                                   "rule": None}  # (--bootstrap 0)
        both = evaluate(DetectorSet("meso4", {"df": grey_model, "f2f": grey_model}), dataset, bootstrap=0,
                        min_track_frames=rule)
        assert both.video == report.video
        for own in both.detectors.values():
            assert own["video"] == report.video and own["methods"]["X"]["video"] == report.video
    assert evaluate(grey_model, dataset, bootstrap=0).video["min_track_frames"] == 3  # scan's default
    assert mesocli.evaluate(tmp_path, grey_model, split="test", bootstrap=0, min_track_frames=2).video == {
        "videos": 4, "accuracy_mean": 0.75, "accuracy_vote": 0.75, "auc_mean": 1.0, "min_track_frames": 2}


def test_cli_min_track_frames(tmp_path: Path, grey_model: LoadedModel, monkeypatch: pytest.MonkeyPatch,
                              run_cli: RunCli) -> None:
    """``eval --min-track-frames K``: in the JSON's video block and the table's videos row; under 1, or for a
    dataset without face tracks (not ``extract --all-faces``: it would be ignored), a one-line error, exit 2,
    before any face is scored; a dataset without tracks names no rule."""
    monkeypatch.setattr("mesocli.runtime.resolve", lambda *args: grey_model)
    root = _short_tracks(tmp_path / "data")
    args = ["eval", "--data", root, "--split", "test", "--bootstrap", "0", "-q"]
    code, out, err = run_cli(*args, "--min-track-frames", "2", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["video"] == {"videos": 4, "accuracy_mean": 0.75, "accuracy_vote": 0.75, "auc_mean": 1.0,
                                        "min_track_frames": 2}
    code, out, err = run_cli(*args, "--compare", tmp_path / "other.onnx")
    assert code == 0, err
    assert "a video's face tracks of 3 crops or more decide (--min-track-frames)" in out
    assert re.search(r"video accuracy \(mean\) minus grey-level .* 1\.0000 against 1\.0000 \(4 videos; tracks of 3 "
                     r"crops or more decide\)", out), out
    plain = make_scored_dataset(tmp_path / "plain")
    for data, value, message in ((root, "0", "--min-track-frames must be at least 1"),
                                 (tmp_path / "missing", "0", "--min-track-frames must be at least 1"),
                                 (plain, "2", f"--min-track-frames goes with a dataset of extract --all-faces (which "
                                  f"face tracks decide a video's figures): {plain} has no face tracks")):
        result = run_cli("eval", "--data", data, "--min-track-frames", value, "-q")
        assert result.code == 2 and message in result.error_line(), result.err
    code, out, _ = run_cli("eval", "--data", plain, "--bootstrap", "0", "-q", "--format", "json")
    assert code == 0 and "min_track_frames" not in json.loads(out)["video"]


def test_min_track_frames_refusal_names_an_unreadable_manifest_whose_path_has_braces(tmp_path: Path) -> None:
    """Found in review: the refusal of ``--min-track-frames`` for a dataset whose manifest cannot be read put the
    manifest's note, its path, into the message's template: a folder named ``data{`` gave a traceback (exit 1), one
    named ``data{x}`` a message naming ``data--x``. The path is given as it is."""
    from mesocli.errors import ParameterError
    from mesocli.evaluate import check_min_track_frames

    for name in ("data{", "data{x}", "data{}"):
        root = tmp_path / name
        write_grey_faces(root / "test", SHORT_TRACKS[:1] + SHORT_TRACKS[-1:])
        (root / "manifest.jsonl").write_text("{\"sett")  # torn
        with pytest.raises(ParameterError) as caught:
            check_min_track_frames(2, find_dataset(root, "test"))
        message = caught.value.render(lambda field: f"--{field.replace('_', '-')}")
        assert message.startswith("--min-track-frames goes with a dataset of extract --all-faces"), message
        assert f"{root} has no face tracks" in message and f"({root / 'manifest.jsonl'}: cannot read its header" \
            in message, message


def test_min_track_frames_refusal_for_a_dataset_without_manifest_speaks_of_none(tmp_path: Path) -> None:
    """Found in review: for crops without any ``manifest.jsonl`` (copied elsewhere, made by another tool) the refusal
    said "its manifest.jsonl does not say all_faces", sending the user to look for a file that is not there. It now
    says that no extract manifest there says so, true of both a missing manifest and one without ``--all-faces``."""
    from mesocli.errors import ParameterError
    from mesocli.evaluate import check_min_track_frames

    plain = make_scored_dataset(tmp_path / "plain", extras=False)
    extracted = make_scored_dataset(tmp_path / "extracted", extras=False)
    (extracted / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": False}}) + "\n")
    for root in (plain, extracted):
        with pytest.raises(ParameterError) as caught:
            check_min_track_frames(2, find_dataset(root, "validation"))
        assert str(caught.value).endswith(f"{root} has no face tracks: no manifest.jsonl of extract there says "
                                          "all_faces"), caught.value


def test_the_tables_comparison_row_of_video_accuracy_says_1_crop(tmp_path: Path, grey_model: LoadedModel) -> None:
    """Found in review: under ``--min-track-frames 1`` the ``--compare`` row of the video accuracy said "tracks of 1
    crops or more decide" (the ``videos`` row above it said "1 crop")."""
    from rich.console import Console

    from mesocli.writers import eval_table

    report = evaluate(grey_model, find_dataset(_short_tracks(tmp_path), "test"), bootstrap=0, min_track_frames=1,
                      compare_with=_inverted(grey_model))
    console = Console(width=250, record=True)
    console.print(eval_table(report))
    text = console.export_text()
    assert "a video's face tracks of 1 crop or more decide" in text
    assert "(4 videos; tracks of 1 crop or more decide)" in text, text


def test_fakes_outside_method_folders_get_a_row_of_their_own(tmp_path: Path, grey_model: LoadedModel) -> None:
    """Fakes directly in df/ beside df/A/ are reported as "(no method)", not left out of every method row."""
    files = [("df/A", "a1", 0.9), ("df/A", "a1", 0.6), ("df", "d1", 0.3), ("df", "d1", 0.8),
             ("real", "r1", 0.7), ("real", "r1", 0.4), ("real", "r2", 0.2), ("real", "r2", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    methods = evaluate(grey_model, find_dataset(tmp_path, "test")).to_dict()["methods"]
    assert set(methods) == {"A", "(no method)"}
    loose = methods["(no method)"]
    assert (loose["images"], loose["df"], loose["real"]) == (6, 2, 4)
    assert loose["auc"] == pytest.approx(6 / 8)  # fake-real pairs ranked right: .3 beats the two .2, .8 all four
    assert sum(row["df"] for row in methods.values()) == 4  # every fake is in a method row


def test_any_scores_csv_has_each_detectors_column(grey_model: LoadedModel, scored_root: Path, tmp_path: Path) -> None:
    """With several detectors, --scores adds p_fake_<detector> beside the combined (largest) p_fake."""
    from mesocli.detectors import DetectorSet
    from mesocli.writers import write_scores

    keras = grey_model.model
    inverted = LoadedModel("meso4", "inverted", Path("inv.weights.h5"), "1" * 64,
                           type(keras)(keras.inputs, 1 - keras.outputs[0]))  # p_fake' = 1 - p_fake
    both = DetectorSet("meso4", {"df": grey_model, "f2f": inverted})
    report = evaluate(both, find_dataset(scored_root, "validation"))
    target = tmp_path / "scores.csv"
    write_scores(report, target)
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 10 and list(rows[0]) == ["path", "label", "video", "p_fake", "verdict", "p_fake_df",
                                                 "p_fake_f2f"]
    for row in rows:
        df, f2f = float(row["p_fake_df"]), float(row["p_fake_f2f"])
        assert f2f == pytest.approx(1 - df, abs=1e-5)
        assert float(row["p_fake"]) == pytest.approx(max(df, f2f), abs=1e-6)
    write_scores(evaluate(grey_model, find_dataset(scored_root, "validation")), target)
    assert target.read_text().splitlines()[0] == "path,label,video,p_fake,verdict"  # one detector: no extra columns


def test_method_and_detector_objects_keep_their_keys_without_intervals(grey_model: LoadedModel,
                                                                      tmp_path: Path) -> None:
    """--bootstrap 0: ``intervals`` is null inside each method and each detector, as at the top, not missing
    (and, as with intervals, absent inside a detector's methods)."""
    from mesocli.detectors import DetectorSet

    files = [("df/A", "a1", 0.9), ("df/A", "a2", 0.6), ("df/B", "b1", 0.8), ("df/B", "b2", 0.3),
             ("real", "r1", 0.7), ("real", "r2", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    both = DetectorSet("meso4", {"df": grey_model, "f2f": grey_model})
    for bootstrap in (0, 20):
        report = evaluate(both, find_dataset(tmp_path, "test"), bootstrap=bootstrap).to_dict()
        objects = [*report["methods"].values(), *report["detectors"].values()]
        assert len(objects) == 4 and all("intervals" in item for item in objects), bootstrap
        assert all((item["intervals"] is None) == (bootstrap == 0) for item in objects)
        assert all("intervals" not in item for detector in report["detectors"].values()
                   for item in detector["methods"].values())
    assert report["intervals"]["resamples"] == 20


def test_images_per_second_counts_the_scored_images_only(grey_model: LoadedModel, scored_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """11 image files, one unreadable (skipped): 10 scored in 2 s are 5 images/s, not 5.5."""
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(sys.modules[evaluate.__module__], "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    dataset = find_dataset(scored_root, "validation")
    report = evaluate(grey_model, dataset, bootstrap=0)
    assert len(dataset.paths) == 11 and report.data["images"] == 10
    assert (report.seconds, report.images_per_second) == (2.0, 5.0)


def test_plot_formats_are_those_matplotlib_writes_by_itself(grey_model: LoadedModel, scored_root: Path,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every extension --plot accepts is written (no LaTeX, no ghostscript, even with usetex in the
    user's matplotlibrc); pgf, which needs LaTeX, is refused up front."""
    import matplotlib
    from matplotlib.backend_bases import FigureCanvasBase

    from mesocli.writers import check_plot_format, plot_roc

    monkeypatch.setitem(matplotlib.rcParams, "text.usetex", True)
    report = evaluate(grey_model, find_dataset(scored_root, "validation"), bootstrap=0)
    accepted = []
    for fmt in sorted(FigureCanvasBase.get_supported_filetypes()):
        target = tmp_path / f"roc.{fmt}"
        try:
            check_plot_format(target)
        except ParameterError:
            continue
        plot_roc(report, target)
        assert target.stat().st_size > 1000, fmt
        accepted.append(fmt)
    assert {"png", "pdf", "svg", "eps"} <= set(accepted) and "pgf" not in accepted


def test_cli_pgf_plot_is_refused_before_scoring(scored_root: Path, tmp_path: Path, run_cli: RunCli) -> None:
    result = run_cli("eval", "--data", scored_root, "--plot", tmp_path / "roc.pgf", "--scores", tmp_path / "s.csv")
    line = result.error_line()
    assert result.code == 2 and line.startswith(f"{tmp_path / 'roc.pgf'}: --plot needs one of the extensions .")
    assert ".png" in line and ".pgf" not in line.split("extensions")[1] and not (tmp_path / "s.csv").exists()


def test_a_missing_dependency_is_one_line(scored_root: Path, tmp_path: Path, run_cli: RunCli,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # a damaged install: `import matplotlib` fails
    result = run_cli("eval", "--data", scored_root, "--plot", tmp_path / "roc.png")
    assert result.code == 2 and "Traceback" not in result.err  # it was a ModuleNotFoundError traceback, exit 1
    assert result.error_line() == ("this command needs the Python package matplotlib, which is not installed (a "
                                   "damaged installation): reinstall mesocli, or pip install matplotlib")


@pytest.mark.skipif(shutil.which("xelatex") is not None, reason="xelatex is installed: a pgf plot would be written")
def test_cli_plot_failing_after_scoring_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    run_cli: RunCli) -> None:
    """Past the up-front check (here: switched off), matplotlib's own failure is one line, exit 2."""
    from mesocli import writers

    root = make_scored_dataset(tmp_path / "data", extras=False)
    monkeypatch.setattr(writers, "check_plot_format", lambda target: None)
    plot, scores = tmp_path / "roc.pgf", tmp_path / "s.csv"
    result = run_cli("eval", "--data", root, "--plot", plot, "--scores", scores, "--bootstrap", "0", "-q")
    assert result.code == 2 and result.error_line().startswith(f"cannot write {plot}: 'xelatex' not found")
    assert len(scores.read_text().splitlines()) == 11 and not plot.exists()


HOSTILE_METHOD = "[bold red]A\x1b[2J"  # rich markup and an escape sequence (erase the screen) in a folder name


def test_eval_table_shows_folder_names_as_they_are(grey_model: LoadedModel, tmp_path: Path) -> None:
    """Names from the disk (dataset root, method folders) are text, not rich markup, and reach no terminal raw:
    a root holding ``[/]`` crashed the table (MarkupError traceback) after the whole evaluation."""
    from rich.console import Console

    from mesocli.writers import eval_table

    root = tmp_path / "faces [/]x"
    files = [(f"df/{HOSTILE_METHOD}", "a1", 0.9), (f"df/{HOSTILE_METHOD}", "a1", 0.6), ("df/B", "b1", 0.8),
             ("df/B", "b1", 0.3), ("real", "r1", 0.7), ("real", "r1", 0.4), ("real", "r2", 0.2), ("real", "r2", 0.2)]
    write_grey_faces(root / "test", files)
    report = evaluate(grey_model, find_dataset(root, "test"), bootstrap=0)
    console = Console(width=400, record=True, force_terminal=True)
    console.print(eval_table(report))
    text = console.export_text(styles=True)
    assert "faces [/]x" in text
    assert "method [bold red]A\\x1b[2J: AUC" in text
    assert "\x1b[2J" not in text


def test_plot_keeps_dollar_signs_in_names(grey_model: LoadedModel, tmp_path: Path) -> None:
    """A dollar pair in the split's folder name or the weights' name is text, not matplotlib mathtext: the plot
    failed after the whole evaluation (``cannot write roc.png: ValueError``)."""
    from dataclasses import replace

    from mesocli.writers import plot_roc

    root = make_scored_dataset(tmp_path / "data", split="set $\\bad$ 1", extras=False)
    report = evaluate(grey_model, find_dataset(root, "set $\\bad$ 1"), bootstrap=0)
    report = replace(report, model=report.model | {"name": "run$_{x$.weights.h5"})
    plot_roc(report, tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000


def test_calibration_counts_do_not_sit_on_the_curve(grey_model: LoadedModel, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``eval --plot``: each bin's face count was written just above its point of the reliability curve, so where
    the curve dips (bins of FF++ test faces: 0.63, 0.43, 0.54) the line ran through the number. The counts now sit
    in a row above the plot, clear of the curve, the bars and the legend, each over its bin."""
    from dataclasses import replace

    import matplotlib.pyplot as plt

    from mesocli.writers import plot_roc

    root = make_scored_dataset(tmp_path / "data", extras=False)
    report = evaluate(grey_model, find_dataset(root, "validation"), bootstrap=0)
    shares = [0.544, 0.630, 0.429, 0.536, 0.725, 0.930, 1.0, 1.0, 1.0, 1.0]
    faces = [263, 92, 56, 56, 91, 43, 46, 25, 24, 24]
    bins = [{"range": [i / 10, (i + 1) / 10], "faces": n, "mean_p_fake": i / 10 + 0.05, "fake_share": share}
            for i, (n, share) in enumerate(zip(faces, shares, strict=True))]
    report = replace(report, calibration={"brier": 0.35, "ece": 0.375, "bins": bins})
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), real_close(fig))[1])
    plot_roc(report, tmp_path / "roc.png")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figure = figures[-1]
    canvas = FigureCanvasAgg(figure)  # closed by plot_roc: draw it again, off screen
    canvas.draw()
    renderer = canvas.get_renderer()
    reliability = figure.axes[1]
    counts = [t for t in reliability.texts if t.get_text().isdigit()]
    assert sorted(int(t.get_text()) for t in counts) == sorted(faces)
    curve = next(line for line in reliability.lines if line.get_marker() == "o")
    path = curve.get_transform().transform_path(curve.get_path())
    frame = reliability.get_window_extent(renderer)
    for text in counts:
        box = text.get_window_extent(renderer)
        assert not path.intersects_bbox(box, filled=False), text.get_text()
        assert box.y0 >= frame.y1 - 1, text.get_text()  # above the plotting area: clear of bars and legend


def test_eval_table_in_a_pipe_is_as_wide_as_it_needs(own_weights: Path, scored_root: Path, run_cli: RunCli,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped or redirected, eval's table was 80 columns wide and its note column wrapped over several lines.
    Now, as scan's table in a file, it takes the width its cells need: each note on its row's one line."""
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, err = run_cli("eval", "--data", scored_root, "--weights", own_weights, "-q")
    assert code == 0, err
    lines = out.splitlines()
    calibration = next(line for line in lines if line.lstrip("│ ").startswith("ECE"))
    assert "fakes among faces so scored); Brier" in calibration
    assert any("bootstrap resamples of the" in line and "of each class; video accuracy: Wilson" in line
               for line in lines), out
    assert max(map(len, lines)) < 200  # its own width, not padded out


def test_the_operating_point_in_a_corner_of_the_roc_is_drawn_whole(grey_model: LoadedModel, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``eval --plot`` of weights that call every face real (a first short training run does) puts the operating
    point at (0, 0): the axes cut its marker to a quarter, in the corner, and the EER cross likewise at an edge.
    Both markers are now drawn whole over the frame."""
    from dataclasses import replace

    import matplotlib.pyplot as plt

    from mesocli.writers import plot_roc

    root = make_scored_dataset(tmp_path / "data", extras=False)
    report = evaluate(grey_model, find_dataset(root, "validation"), bootstrap=0)
    fakes, reals = int(sum(report.labels_is_fake)), len(report.labels_is_fake) - int(sum(report.labels_is_fake))
    report = replace(report, confusion={"tp": 0, "fn": fakes, "fp": 0, "tn": reals, "positive": "fake"})
    figures = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), real_close(fig))[1])
    plot_roc(report, tmp_path / "roc.png")
    roc = figures[-1].axes[0]
    points = {tuple(map(float, c.get_offsets()[0])): c for c in roc.collections}
    assert (0.0, 0.0) in points  # the operating point: nothing called fake
    assert all(not c.get_clip_on() for c in points.values())


def test_compare_gives_paired_differences_by_video(grey_model: LoadedModel, scored_root: Path) -> None:
    """``eval --compare``: a paired comparison of two models on the same faces (docs/training.md's "How sure the
    test figures are" used it through a script the package does not install); it was not offered."""
    from dataclasses import replace

    from mesocli.evaluate import compare

    report = evaluate(grey_model, find_dataset(scored_root, "validation"), 0.5, bootstrap=0)
    perfect = replace(report, p_fake=report.labels_is_fake * 0.8 + 0.1, model={"name": "perfect"})
    found = compare(report, perfect, resamples=200)
    assert found["model"] == {"name": "perfect"} and found["unit"] == "video" and found["resamples"] == 200
    assert found["accuracy"]["this"] == pytest.approx(0.8) and found["accuracy"]["other"] == pytest.approx(1.0)
    assert found["accuracy"]["difference"] == pytest.approx(-0.2)
    assert found["auc"]["difference"] == pytest.approx(21 / 24 - 1)
    assert found["eer"]["difference"] == pytest.approx(0.25)
    for key in ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer"):
        low, high = found[key]["interval"]
        assert low <= found[key]["difference"] <= high
    assert found["accuracy_real"]["interval"][1] <= 0  # the perfect model never does worse on any resample
    same = compare(report, report, resamples=50)
    assert all(same[key]["difference"] == 0 and same[key]["interval"] == [0, 0] for key in ("accuracy", "auc"))
    assert compare(report, perfect, resamples=0)["auc"]["interval"] is None
    shorter = replace(perfect, paths=perfect.paths[:-1])
    with pytest.raises(UsageError, match="the images changed between the two models' scoring"):
        compare(report, shorter)
    import mesocli

    through_api = mesocli.evaluate(scored_root, grey_model, compare=grey_model, bootstrap=20).comparison
    assert through_api is not None and through_api["auc"]["interval"] == [0, 0] and through_api["unit"] == "video"


def test_cli_compare(own_weights: Path, scored_root: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """The JSON report's ``comparison`` and the table's rows; a bad ``--compare`` file is refused before scoring."""
    code, out, err = run_cli("eval", "--data", scored_root, "--weights", own_weights, "--compare", own_weights,
                             "--format", "json", "-q", "--bootstrap", "100")
    assert code == 0, err
    report = json.loads(out)
    assert list(report) == list(REPORT_KEYS) and report["comparison"]["model"]["name"] == "meso4_test"
    assert report["comparison"]["auc"] == {"this": report["auc"], "other": report["auc"], "difference": 0.0,
                                           "interval": [0.0, 0.0], "rule": "bootstrap-width-0"}  # alike: width 0
    code, out, err = run_cli("eval", "--data", scored_root, "--weights", own_weights, "--compare", own_weights, "-q")
    assert code == 0, err
    assert "AUC minus meso4_test" in out and "paired, by video" in out
    scores = tmp_path / "scores.csv"
    result = run_cli("eval", "--data", scored_root, "--compare", tmp_path / "missing.h5", "--scores", scores, "-q")
    assert result.code == 2
    assert result.err.strip() == f"mesocli: error: {tmp_path / 'missing.h5'}: weights file not found"
    assert not scores.exists()
    code, out, _ = run_cli("eval", "--data", scored_root, "--weights", own_weights, "--format", "json", "-q")
    assert json.loads(out)["comparison"] is None


def test_cli_warns_when_the_weights_were_trained_on_the_very_files(own_weights: Path, scored_root: Path,
                                                                   tmp_path: Path, run_cli: RunCli) -> None:
    """A fine-tuned model evaluated on the split it was trained on scored its own training faces without a word
    (AUC 0.92 on a split whose held-out quarter alone is unseen): its model card lists the files it trained on."""
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model
    from mesocli.weights import ModelCard, save_own

    import_tensorflow().keras.utils.set_random_seed(1234)
    listed = find_dataset(scored_root, "validation").file_list_sha256()
    tuned = tmp_path / "tuned.weights.h5"
    card = ModelCard(arch="meso4", manipulation="df", weights_file=tuned.name, sha256="", name="tuned",
                     data={"sources": [{"root": "data", "split": "validation", "heldout": True,
                                        "file_list_sha256": listed}], "heldout_fraction": 0.25})
    save_own(build_model("meso4"), tuned, card)
    warning = ("mesocli: warning: tuned was trained on these very files (its model card's source data, split "
               "validation: all but the held-out part (--val-fraction 0.25) trained on): these figures overstate how "
               "it does on faces it has not seen; evaluate it on another split")
    result = run_cli("eval", "--data", scored_root, "--weights", tuned, "--compare", own_weights, "-q",
                     "--bootstrap", "0", "--format", "json")
    assert result.code == 0 and warning in result.err.splitlines(), result.err
    assert "meso4_test" not in result.err  # no card sources: no warning
    result = run_cli("eval", "--data", scored_root, "--weights", own_weights, "--compare", tuned, "-q",
                     "--bootstrap", "0", "--format", "json")
    assert [line for line in result.err.splitlines() if "warning" in line] == [
        warning.replace("warning: tuned", "warning: --compare tuned")]
    (scored_root / "validation" / "real" / "r4_0.png").write_bytes((scored_root / "validation" / "real" /
                                                                  "r3_8.png").read_bytes())
    result = run_cli("eval", "--data", scored_root, "--weights", tuned, "-q", "--bootstrap", "0", "--format", "json")
    assert result.code == 0 and "warning" not in result.err  # other files than it trained on


def test_the_training_files_warning_sees_a_selected_source_and_another_root(grey_model: LoadedModel,
                                                                            scored_root: Path) -> None:
    """The warning compared the card's file-list hash with the whole split's only: a source trained with ``methods``
    or ``every`` (the bundled f2f and fs cards: Face2Face and originals, every 2nd frame), or named as ``ROOT/split``
    where eval reads ``ROOT --split split``, lists other names, so a model scored on its own training faces drew no
    warning."""
    from dataclasses import replace

    from mesocli.evaluate import trained_on
    from mesocli.sources import Source, _select
    from mesocli.weights import ModelCard

    dataset = find_dataset(scored_root, "validation")

    def card(**source: object) -> LoadedModel:
        data = {"sources": [{"root": "data", "heldout": True, **source}], "heldout_fraction": 0.25}
        return replace(grey_model, card=ModelCard(arch="meso4", manipulation="df", weights_file="t.weights.h5",
                                                   sha256="", name="tuned", data=data))

    every_2nd = _select(dataset, Source(str(scored_root), "validation", every=2)).file_list_sha256()
    assert every_2nd != dataset.file_list_sha256()
    warned = trained_on(card(split="validation", every=2, file_list_sha256=every_2nd), dataset)
    assert warned is not None and warned.startswith("warning: grey-level was trained on 6 of these files (")
    whole_folder = find_dataset(scored_root / "validation", None).file_list_sha256()  # train --data ROOT/validation
    assert trained_on(card(split=None, file_list_sha256=whole_folder), dataset) is not None
    assert trained_on(card(split="validation", file_list_sha256=whole_folder), dataset) is None
    assert trained_on(card(split="validation", every=3, file_list_sha256=every_2nd), dataset) is None
    assert trained_on(card(split="validation", methods="df", every="2", file_list_sha256=every_2nd), dataset) is None
    held_unrecorded = trained_on(card(split=None, heldout=None, file_list_sha256=whole_folder), dataset)
    assert held_unrecorded is not None and "all but the held-out part (--val-fraction 0.25)" in held_unrecorded
    assert "(its model card's source data, split validation: all but" in warned and "6 of these files" in warned
    from mesocli.detectors import DetectorSet, Ensemble

    tuned = card(split=None, file_list_sha256=whole_folder)  # --model any, --arch ensemble: each detector's card
    detectors = DetectorSet("ensemble", {"f2f": grey_model, "df": Ensemble("df", {"meso4": grey_model, "x": tuned})})
    assert trained_on(detectors, dataset, "--compare") == trained_on(tuned, dataset, "--compare") is not None
    assert trained_on(DetectorSet("meso4", {"f2f": grey_model}), dataset) is None


def test_compare_decodes_each_face_once(grey_model: LoadedModel, scored_root: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``eval --compare`` decoded and resized every face a second time for the second model (on 2 cores, about a
    third of a Meso4 evaluation's time), and refused when a file changed in between: each decoded batch is now
    scored by both models."""
    import mesocli
    from mesocli import datasets

    read: list[Path] = []
    decode = datasets.load_faces  # each file decoded once, resized each way its models need
    monkeypatch.setattr(datasets, "load_faces", lambda path, *args, **kwargs: read.append(path) or decode(path, *args,
                                                                                                          **kwargs))
    report = mesocli.evaluate(scored_root, grey_model, compare=grey_model, bootstrap=20)
    listed = find_dataset(scored_root, "validation").paths
    assert sorted(read) == sorted(listed)  # once each, the unreadable one too
    assert report.comparison is not None and report.comparison["auc"]["interval"] == [0, 0]
    assert report.data["images"] == 10 and report.seconds > 0


def _inverted(grey_model: LoadedModel) -> LoadedModel:
    """A model that scores each grey face ``1 - p_fake`` of ``grey_model``'s."""
    keras = grey_model.model
    return LoadedModel("meso4", "inverted", Path("inv.weights.h5"), "1" * 64,
                       type(keras)(keras.inputs, 1 - keras.outputs[0]))


def test_compare_gives_each_methods_paired_difference(tmp_path: Path, grey_model: LoadedModel) -> None:
    """``eval --compare`` gave the totals' differences only: with fakes in method folders, each method's fakes
    against every real image now get theirs, with paired intervals, and the JSON names the bootstrap's seed."""
    from mesocli.metrics import paired_difference

    files = [("df/A", "a1", 0.9), ("df/A", "a2", 0.6), ("df/B", "b1", 0.8), ("df/B", "b2", 0.3),
             ("real/orig", "r1", 0.7), ("real/orig", "r1", 0.4), ("real/orig", "r2", 0.2), ("real/orig", "r2", 0.2)]
    write_grey_faces(tmp_path / "test", files)
    report = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=40, compare_with=_inverted(grey_model))
    found = report.to_dict()["comparison"]
    assert found["seed"] == 0 and found["resamples"] == 40 and set(found["methods"]) == {"A", "B"}
    assert report.intervals is not None and report.intervals["seed"] == 0  # the report's own intervals too
    # the inverted model ranks every fake-real pair the other way: AUC 1/8 (A) and 2/8 (B) against 7/8 and 6/8
    a, b = found["methods"]["A"], found["methods"]["B"]
    assert (a["images"], a["df"], a["real"], a["unit"]) == (6, 2, 4, "video")
    assert (a["auc"]["this"], a["auc"]["other"], a["auc"]["difference"]) == pytest.approx((7 / 8, 1 / 8, 6 / 8))
    assert (b["auc"]["this"], b["auc"]["other"], b["auc"]["difference"]) == pytest.approx((6 / 8, 2 / 8, 4 / 8))
    # at 0.5: A 5 of 6 right against 1 of 6; B 4 of 6 against 2 of 6
    assert a["accuracy"]["difference"] == pytest.approx(4 / 6) and b["accuracy"]["difference"] == pytest.approx(2 / 6)
    assert found["auc"]["difference"] == pytest.approx(13 / 16 - 3 / 16)
    keep = ~report.labels_is_fake | (np.array(report.image_methods, dtype=object) == "A")
    videos = [v for v, k in zip(report.video_ids, keep, strict=True) if k]
    expected = paired_difference(report.labels_is_fake[keep], report.compared_p_fake[keep], report.p_fake[keep],
                                 0.5, videos, 40, seed=0)
    for key, item in a.items():
        if isinstance(item, dict):
            assert item["interval"] == expected[key]["interval"]
            assert item["interval"][0] <= item["difference"] <= item["interval"][1]
    plain = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=0, compare_with=grey_model).comparison
    assert plain is not None and plain["methods"]["A"]["note"] == "no intervals: --bootstrap 0"


def test_compare_scores_column_and_roc_curve(grey_model: LoadedModel, scored_root: Path, tmp_path: Path) -> None:
    """``--scores`` had no column for ``--compare``'s model and ``--plot`` drew the evaluated model's curve only."""
    import matplotlib.pyplot as plt

    from mesocli.writers import roc_figure, write_scores

    report = evaluate(grey_model, find_dataset(scored_root, "validation"), bootstrap=0,
                      compare_with=_inverted(grey_model))
    assert report.comparison is not None and report.comparison["methods"] is None
    target = tmp_path / "scores.csv"
    write_scores(report, target)
    rows = list(csv.DictReader(target.open()))
    assert list(rows[0]) == ["path", "label", "video", "p_fake", "verdict", "p_fake_compared"]
    for row in rows:
        assert float(row["p_fake_compared"]) == pytest.approx(1 - float(row["p_fake"]), abs=1e-5)
    fig = roc_figure(report)
    try:
        lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    finally:
        plt.close(fig)
    # 3 of the 24 fake-real pairs ranked right by the inverted model (21 by the evaluated one)
    compared = lines["--compare inverted: all 4 fakes (AUC 0.125)"]
    assert np.trapezoid(compared.get_ydata(), compared.get_xdata()) == pytest.approx(3 / 24)
    assert compared.get_ydata()[-1] == 1.0 and "grey-level (AUC 0.875)" in lines


def test_compare_legend_stays_clear_of_the_roc_panel_and_within_the_figure(grey_model: LoadedModel,
                                                                            scored_root: Path, tmp_path: Path) -> None:
    """Without method folders the legend sat inside the ROC panel, lower right: ``--compare``'s entry (a weights
    file's long name) made it wider than the panel's free corner, and it covered the y axis' label and the curves.
    With method folders, below the panel, a long name (not wrapped: no space in it) ran off the figure's left edge.
    The legend now sits below the panel either way, within the figure, the long name broken over lines."""
    import matplotlib.pyplot as plt

    from mesocli.writers import roc_figure

    long = _inverted(grey_model)
    long = LoadedModel(long.arch, "retrained_mesoinception4_after_the_december_fixes_run_2026-12-07_best.weights.h5",
                       long.weights_path, long.sha256, long.model)
    write_grey_faces(tmp_path / "test", [("df/A", "a1", 0.9), ("df/B", "b1", 0.8), ("df/B", "b2", 0.3),
                                         ("real/orig", "r1", 0.7), ("real/orig", "r2", 0.2)])
    for root, split, methods in ((scored_root, "validation", None), (tmp_path, "test", {"A", "B"})):
        report = evaluate(grey_model, find_dataset(root, split), bootstrap=0, compare_with=long)
        assert report.comparison is not None and set(report.comparison["methods"] or ()) == set(methods or ())
        fig = roc_figure(report)
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            ax = fig.axes[0]
            legend = ax.get_legend().get_window_extent(renderer)
            assert not any(legend.overlaps(axis.label.get_window_extent(renderer)) for axis in (ax.xaxis, ax.yaxis))
            assert not legend.overlaps(ax.get_window_extent(renderer))  # the panel itself: no curve hidden
            assert fig.bbox.contains(legend.x0, legend.y0) and fig.bbox.contains(legend.x1, legend.y1)
            entry = next(text.get_text() for text in ax.get_legend().get_texts() if text.get_text().startswith("--"))
            other = report.comparison['auc']['other']
            whole = f"--compare {long.name}: all {report.data['df']} fakes (AUC {other:.3f})"
            assert "".join(entry.split()) == "".join(whole.split()) and entry.count("\n") == 2
        finally:
            plt.close(fig)


def test_compare_table_in_a_narrow_terminal_keeps_each_methods_name(grey_model: LoadedModel, tmp_path: Path) -> None:
    """In an 80-column terminal the metric column cut a long method folder's name short (``method
    NeuralTextures_c…``), so ``--compare``'s per-method rows (and the methods' own) of two methods named alike
    could not be told apart. The name now folds onto the next line, whole."""
    from rich.console import Console

    from mesocli.writers import eval_table

    methods = ("NeuralTextures_c23_second_batch_2026", "NeuralTextures_c40_second_batch_2026")
    write_grey_faces(tmp_path / "test", [(f"df/{methods[0]}", "a1", 0.9), (f"df/{methods[1]}", "b1", 0.8),
                                         ("real/orig", "r1", 0.7), ("real/orig", "r2", 0.2)])
    report = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=0, compare_with=_inverted(grey_model))
    console = Console(width=80, record=True)
    console.print(eval_table(report))
    lines = [line.split("│") for line in console.export_text().splitlines() if line.startswith("│")]
    metric = "".join("".join(cells[1].split()) for cells in lines)  # the metric column, its folds joined
    for name in methods:
        assert f"method{name}:AUCminusinverted" in metric and f"method{name}:AUC" in metric
    assert "…" not in console.export_text()


def test_the_resize_follows_the_weights(tmp_path: Path) -> None:
    """The authors' original files read crops resized nearest, as their Keras loader did; mesocli's weights what
    their card records, bilinear when a card (an older one) has no such field."""
    from mesocli.detectors import DetectorSet
    from mesocli.weights import ModelCard, resize_of

    def model(legacy: bool = False, card: ModelCard | None = None) -> LoadedModel:
        return LoadedModel("meso4", "m", Path("m.h5"), "0" * 64, None, card, legacy)

    older = tmp_path / "older.json"
    older.write_text(json.dumps({"arch": "meso4", "manipulation": "df", "weights_file": "m", "sha256": "0" * 64}))
    told = ModelCard("meso4", "df", "m", "0" * 64, resize="nearest")
    assert resize_of(model(legacy=True)) == "nearest"
    assert resize_of(model(card=ModelCard.from_json(older))) == "bilinear"
    assert resize_of(model(card=told)) == "nearest" and resize_of(model()) == "bilinear"
    assert json.loads(ModelCard("meso4", "df", "m", "0" * 64).to_json())["resize"] == "bilinear"  # cards say it now
    assert resize_of(DetectorSet("meso4", {"df": model(), "f2f": model(card=ModelCard.from_json(older))})) == "bilinear"


def test_eval_resizes_crops_as_the_authors_loader_for_their_weights(authors_weights: Path, tmp_path: Path) -> None:
    """Crops not 256×256 reach the authors' Meso4_DF.h5 nearest-resized and bundled weights whose card says bilinear
    (meso4_f2f) bilinear-resized, in one eval --compare (each file read once); the report and the table say which."""
    from mesocli.runtime import make_predictor, resolve
    from mesocli.writers import eval_table

    rng = np.random.default_rng(5)
    crops = {}
    for label in ("df", "real"):
        (tmp_path / "validation" / label).mkdir(parents=True)
        for number in range(2):
            crop = Image.fromarray(rng.integers(0, 256, (40 + 9 * number, 52, 3), dtype=np.uint8))
            crop.save(tmp_path / "validation" / label / f"v{label}{number}_0.png")
            crops[f"validation/{label}/v{label}{number}_0.png"] = crop
    authors, bundled = resolve(None, "df", authors_weights / "Meso4_DF.h5"), resolve("meso4", "f2f", None)
    report = evaluate(authors, find_dataset(tmp_path, "validation"), bootstrap=0, compare_with=bundled)

    def expected(loaded: object, resample: Image.Resampling) -> np.ndarray:
        faces = np.stack([np.asarray(crops[path].resize((256, 256), resample)) for path in report.paths])
        return make_predictor(loaded).p_fake(faces)

    nearest, bilinear = expected(authors, Image.Resampling.NEAREST), expected(authors, Image.Resampling.BILINEAR)
    assert np.abs(nearest - bilinear).max() > 1e-3  # the two resizes tell apart on these crops
    np.testing.assert_allclose(report.p_fake, nearest, atol=1e-6)
    np.testing.assert_allclose(report.compared_p_fake, expected(bundled, Image.Resampling.BILINEAR), atol=1e-6)
    result = report.to_dict()
    assert result["provenance"]["resize"] == "nearest" and result["comparison"]["resize"] == "bilinear"
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(eval_table(report))
    shown = console.export_text()
    assert "resize" in shown and "nearest" in shown and "authors' Keras loader" in shown


def test_the_report_says_how_extract_made_the_faces_it_scored(tmp_path: Path, kit: MediaKit,
                                                             grey_model: LoadedModel) -> None:
    """A report named the data's folder, not how its faces were cropped: figures could not be published with their
    preprocessing. ``data.extract`` now carries the header of extract's manifest (its settings and the software
    that made the crops), the table an ``extracted`` row; the figures are those of the same faces without it."""
    from rich.console import Console

    from mesocli.crops import ExtractOptions, FrameSelection
    from mesocli.extract import extract
    from mesocli.writers import eval_table

    out = tmp_path / "data"
    for label in ("df", "real"):
        extract([kit.face_jpeg], out, ExtractOptions(FrameSelection("frames", 1), layout="dataset", label=label,
                                                     split="test"), workers=1)
    header = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    report = evaluate(grey_model, find_dataset(out, "test"), bootstrap=0)
    made = report.data["extract"]
    assert made == {"manifest": "manifest.jsonl", "settings": header["settings"], "mesocli": header["mesocli"],
                    "mesocli_code": header["mesocli_code"],
                    "ffmpeg": header["ffmpeg"], "libraries": header["libraries"], "started_at": header["started_at"],
                    "earlier": None, "note": None}
    assert made["settings"]["alignment"].startswith("mesonet-pipeline/") and made["settings"]["detector"] == "hog"
    json.dumps(report.to_dict())
    console = Console(record=True, width=300)
    console.print(eval_table(report))
    row = next(line for line in console.export_text().splitlines() if "extracted" in line)
    assert made["settings"]["alignment"] in row and f"mesocli {header['mesocli']}, detector hog" in row
    (out / "manifest.jsonl").unlink()  # the same faces: the same figures, no extract block
    bare = evaluate(grey_model, find_dataset(out, "test"), bootstrap=0)
    assert bare.data["extract"] is None
    assert {k: v for k, v in bare.to_dict().items() if k not in ("data", "seconds", "images_per_second",
                                                                   "provenance")} \
        == {k: v for k, v in report.to_dict().items() if k not in ("data", "seconds", "images_per_second",
                                                                     "provenance")}


def test_data_extract_reads_the_manifest_that_decides_and_says_when_it_cannot(tmp_path: Path,
                                                                             grey_model: LoadedModel) -> None:
    """``data.extract`` is null for crops without extract's manifest (another tool's too); a split folder's own
    manifest comes before the root's, the root's serves ``--data ROOT/<split>``; an unreadable one gives its note."""
    files = [("df", "f1", 0.9), ("df", "f2", 0.3), ("real", "r1", 0.1), ("real", "r2", 0.6)]
    write_grey_faces(tmp_path / "test", files)
    assert find_dataset(tmp_path, "test").extract is None
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"tool": "another", "rows": 3}) + "\n")
    assert find_dataset(tmp_path, "test").extract is None
    root = {"type": "header", "tool": "mesocli extract", "mesocli": "1.0.0",
            "settings": {"detector": "cnn", "layout": "dataset", "all_faces": False, "jpeg_quality": 90}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(root) + "\n" + json.dumps({"type": "face"}) + "\n")
    made = evaluate(grey_model, find_dataset(tmp_path, "test"), bootstrap=0).data["extract"]
    assert (made["manifest"], made["settings"], made["mesocli"], made["ffmpeg"], made["note"]) \
        == ("manifest.jsonl", root["settings"], "1.0.0", None, None)  # an earlier header: no ffmpeg
    above = find_dataset(tmp_path / "test", None).extract
    assert above["manifest"] == str((tmp_path / "manifest.jsonl").absolute()) and above["settings"]["detector"] == "cnn"
    own = {**root, "settings": {**root["settings"], "detector": "hog"}}
    (tmp_path / "test" / "manifest.jsonl").write_text(json.dumps(own) + "\n")
    made = find_dataset(tmp_path, "test").extract
    assert (made["manifest"], made["settings"]["detector"]) == ("test/manifest.jsonl", "hog")
    (tmp_path / "test" / "manifest.jsonl").write_text("{\"sett")  # torn
    dataset = find_dataset(tmp_path, "test")
    assert dataset.extract == {"manifest": None, "settings": None, "mesocli": None, "mesocli_code": None,
                               "ffmpeg": None, "libraries": None, "started_at": None, "earlier": None,
                               "note": dataset.manifest_note}
    assert dataset.manifest_note.startswith(f"{tmp_path / 'test' / 'manifest.jsonl'}: cannot read its header (torn")
    assert evaluate(grey_model, dataset, bootstrap=0).data["extract"]["note"] == dataset.manifest_note


def test_compare_pairs_the_video_auc_over_the_videos_the_other_figures_resample(tmp_path: Path,
                                                                              grey_model: LoadedModel) -> None:
    """``comparison.video`` paired the video accuracies only: the video AUC (``auc_mean``), which eval reports
    with an interval per model, had no paired difference. It now has one, its interval drawn on the videos the
    paired image figures resample (the same draws: each resample's videos, both models' AUC of them), in the JSON
    and the table; without a bootstrap, no interval and a note."""
    from rich.console import Console
    from sklearn.metrics import roc_auc_score

    from mesocli.metrics import resampled_indices
    from mesocli.writers import eval_table

    files = [("df", "f1", 0.9), ("df", "f1", 0.8), ("df", "f2", 0.6), ("df", "f2", 0.3), ("df", "f3", 0.55),
             ("df", "f3", 0.5), ("real", "r1", 0.7), ("real", "r1", 0.4), ("real", "r2", 0.2), ("real", "r2", 0.2),
             ("real", "r3", 0.1), ("real", "r3", 0.05)]
    write_grey_faces(tmp_path / "test", files)
    dataset = find_dataset(tmp_path, "test")
    report = evaluate(grey_model, dataset, bootstrap=200, compare_with=_inverted(grey_model))
    paired = report.to_dict()["comparison"]["video"]["auc_mean"]
    # video means f1 .85 f2 .45 f3 .525 against r1 .55 r2 .2 r3 .075: 7 of 9 pairs right; inverted, 2 of 9
    assert (paired["this"], paired["other"], paired["difference"]) == pytest.approx((7 / 9, 2 / 9, 5 / 9))
    assert paired["this"] == report.video["auc_mean"]
    y, videos = report.labels_is_fake, report.video_ids
    means = {}
    for video in set(videos):
        mine = np.array([v == video for v in videos])
        means[video] = (bool(y[mine][0]), report.p_fake[mine].mean(), report.compared_p_fake[mine].mean())
    differences = []
    for index in resampled_indices(y, videos, 200, seed=0):  # as the paired image figures draw their videos
        drawn = [means[videos[i]] for i in index[::2]]  # two frames a video, each drawn video's frames together
        fake = [item[0] for item in drawn]
        differences.append(roc_auc_score(fake, [item[1] for item in drawn])
                           - roc_auc_score(fake, [item[2] for item in drawn]))
    assert paired["interval"] == pytest.approx(list(np.percentile(differences, [2.5, 97.5])))
    assert paired["interval"][0] < paired["difference"] <= paired["interval"][1]
    console = Console(record=True, width=300)
    console.print(eval_table(report))
    row = next(line for line in console.export_text().splitlines() if "video AUC (mean) minus inverted" in line)
    low, high = paired["interval"]
    assert f"+{5 / 9:.4f}" in row and f"{low:+.4f} to {high:+.4f}" in row and "paired, by video" in row
    plain = evaluate(grey_model, dataset, bootstrap=0, compare_with=_inverted(grey_model)).comparison["video"]
    assert plain["auc_mean"]["interval"] is None and plain["note"] == "no interval: --bootstrap 0"
    assert plain["auc_mean"]["difference"] == pytest.approx(5 / 9)


def test_compare_pairs_the_video_accuracies_over_the_same_resampled_videos(tmp_path: Path,
                                                                          grey_model: LoadedModel) -> None:
    """``comparison.video`` gave the video accuracies' difference without an interval (each model had its own
    Wilson interval), while the image figures and the video AUC had a paired one. Each rule's (mean, vote) now has
    a paired bootstrap interval, drawn on the very resamples of the videos that the video AUC's draws, with its
    ``rule``, in the JSON and the table; without a bootstrap, none."""
    from rich.console import Console

    from mesocli.metrics import called_fake, resampled_indices
    from mesocli.writers import eval_table

    files = [("df", "f1", 0.9), ("df", "f1", 0.8), ("df", "f2", 0.6), ("df", "f2", 0.3), ("df", "f3", 0.55),
             ("df", "f3", 0.45), ("real", "r1", 0.7), ("real", "r1", 0.4), ("real", "r2", 0.2), ("real", "r2", 0.2),
             ("real", "r3", 0.1), ("real", "r3", 0.05)]
    write_grey_faces(tmp_path / "test", files)
    dataset = find_dataset(tmp_path, "test")
    report = evaluate(grey_model, dataset, bootstrap=200, compare_with=_inverted(grey_model))
    video = report.to_dict()["comparison"]["video"]
    y, videos = report.labels_is_fake, report.video_ids
    right = {}  # video -> (is fake, each rule's call right by this model, by the other)
    for name in sorted(set(videos)):
        mine = np.array([v == name for v in videos])
        fake = bool(y[mine][0])
        calls = [(called_fake(p[mine].mean(), 0.5), called_fake(called_fake(p[mine], 0.5).mean(), 0.5))
                 for p in (report.p_fake, report.compared_p_fake)]
        right[name] = (fake, [[bool(call) == fake for call in model] for model in calls])
    for at, (key, rule) in enumerate((("accuracy_mean", "mean"), ("accuracy_vote", "vote"))):
        paired = video[key]
        assert paired["this"] == report.video[key] and paired["rule"] == "bootstrap"
        differences = []
        for index in resampled_indices(y, videos, 200, seed=0):  # as the AUC's and the image figures' draws
            drawn = [right[videos[i]][1] for i in index[::2]]  # two frames a video
            differences.append(np.mean([item[0][at] for item in drawn]) - np.mean([item[1][at] for item in drawn]))
        assert paired["difference"] == pytest.approx(np.mean([item[1][0][at] - item[1][1][at]
                                                              for item in right.values()]))
        assert paired["interval"] == pytest.approx(list(np.percentile(differences, [2.5, 97.5]))), rule
        assert paired["interval"][0] < paired["interval"][1]
    console = Console(record=True, width=300)
    console.print(eval_table(report))
    lines = console.export_text().splitlines()
    for key, rule in (("accuracy_mean", "mean"), ("accuracy_vote", "vote")):
        row = next(line for line in lines if f"video accuracy ({rule}) minus inverted" in line)
        low, high = video[key]["interval"]
        assert f"{low:+.4f} to {high:+.4f}" in row and "paired, by video" in row, row
    plain = evaluate(grey_model, dataset, bootstrap=0, compare_with=_inverted(grey_model)).comparison["video"]
    assert (plain["accuracy_mean"]["interval"], plain["accuracy_mean"]["rule"]) == (None, None)
    assert plain["accuracy_vote"]["difference"] == pytest.approx(video["accuracy_vote"]["difference"])


@pytest.mark.parametrize("columns", [40, 60])
def test_the_eval_table_on_a_narrow_terminal_fits_it_and_loses_no_cell(
    columns: int, grey_model: LoadedModel, scored_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``COLUMNS=40 mesocli eval`` on a terminal printed its table 56 columns wide (an interval, ``0.538–0.625``,
    does not fold): the terminal wrapped each line into the next. Where the table does not fit it is now a list, a
    line a field (as scan's); every cell of the table is there whole, none cut (``0.9…``)."""
    import io

    from rich.text import Text

    from mesocli.cli_base import show
    from mesocli.writers import eval_table, eval_view

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    report = evaluate(grey_model, find_dataset(scored_root, "validation"), bootstrap=50)
    cells = [cell.plain if isinstance(cell, Text) else str(cell) for column in eval_table(report).columns
             for cell in column.cells]
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys, "stdout", Terminal())
    show(eval_view(report, "table"))
    text = re.sub(r"\x1b\[[0-9;]*m", "", sys.stdout.getvalue())
    assert max(len(line) for line in text.splitlines()) <= columns, text
    assert "…" not in text
    if "│" in text:  # a table (it folds its cells over lines: read back by scan's tests)
        return
    joined = "".join(text.split())
    for cell in cells:  # the list: each cell whole, folds joined
        assert "".join(cell.split()) in joined, (cell, text)
