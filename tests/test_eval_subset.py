"""``mesocli eval --limit N``: a quick check on a seeded subset of whole videos, per class and method folder.

The network is stubbed at ``mesocli.runtime.resolve``: each face is a solid grey PNG whose level indexes
the stub's score table, so no TensorFlow and no decoding cost; the draw itself runs on real folders.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import RunCli
from PIL import Image

from mesocli.errors import ParameterError
from mesocli.evaluate import run_eval

LEVEL = {"df": 200, "real": 20}  # grey level of each class's faces; the stub scores it
SCORES = np.full(256, 0.5)
SCORES[200], SCORES[20] = 0.8, 0.3


class Stub(SimpleNamespace):
    def describe(self) -> dict:
        return {"arch": "meso4", "name": "stub", "weights_sha256": "0" * 64}


@pytest.fixture(autouse=True)
def stub_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def make(member, *args, **kwargs):
        return SimpleNamespace(p_fake=lambda images: SCORES[np.asarray(images)[:, 0, 0, 0].astype(int)])
    monkeypatch.setattr("mesocli.runtime.make_predictor", make)
    monkeypatch.setattr("mesocli.runtime.resolve",
                        lambda *args: Stub(scores=SCORES, weights_path=Path("stub.h5"), legacy=False))


def make_split(root: Path, videos: dict[str, int], frames: int = 5, ids: bool = True) -> Path:
    """``videos``: class folder (``df/A``, ``real``) → how many videos of ``frames`` faces it holds."""
    split = root / "validation"
    for folder, count in videos.items():
        (split / folder).mkdir(parents=True, exist_ok=True)
        level = LEVEL[folder.split("/")[0]]
        for video in range(count):
            for frame in range(frames):
                stem = f"{folder.replace('/', '')}{video:02d}_{frame}" if ids else f"{video * frames + frame:04d}"
                name = f"{stem}.png"
                Image.new("RGB", (8, 8), (level,) * 3).save(split / folder / name)
    return root


LAYOUT = {"df/A": 12, "df/B": 2, "real": 14}  # 140 faces; method B is a seventh of the fakes


def cell_of(path: str) -> str:
    """``validation/df/A/dfA03_2.png`` → ``df/A``."""
    return "/".join(path.split("/")[1:-1])


def video_of(path: str) -> str:
    return path.rsplit("_", 1)[0]


def test_the_same_seed_draws_the_same_faces(tmp_path: Path) -> None:
    root = make_split(tmp_path / "data", LAYOUT)
    first = run_eval(root, limit=30, seed=4, bootstrap=0, quiet=True)
    again = run_eval(root, limit=30, seed=4, bootstrap=0, quiet=True)
    other = run_eval(root, limit=30, seed=5, bootstrap=0, quiet=True)
    timing = {"seconds": 0, "images_per_second": 0, "provenance": None}  # how long, and when
    assert first.paths == again.paths and first.to_dict() | timing == again.to_dict() | timing
    assert other.paths != first.paths  # the seed is what draws it
    assert first.data["subset"]["seed"] == 4 and other.data["subset"]["seed"] == 5


def test_videos_are_drawn_whole(tmp_path: Path) -> None:
    root = make_split(tmp_path / "data", LAYOUT)
    everything = run_eval(root, bootstrap=0, quiet=True).paths
    for seed in range(6):
        picked = set(run_eval(root, limit=30, seed=seed, bootstrap=0, quiet=True).paths)
        inside = {video_of(path) for path in picked}
        for path in everything:  # every frame of a drawn video is in, every frame of another video out
            assert (path in picked) == (video_of(path) in inside), (seed, path)


def test_the_tracks_of_a_video_are_drawn_together(tmp_path: Path) -> None:
    """``extract --all-faces`` crops, ``<video>_t<track>_<frame>``: a video's tracks were drawn one by one."""
    split = tmp_path / "data" / "validation"
    for folder in ("df", "real"):
        (split / folder).mkdir(parents=True)
        for video in range(6):
            for track in range(3):
                for frame in range(2):
                    name = f"{folder}{video}_t{track}_{frame}.png"
                    Image.new("RGB", (8, 8), (LEVEL[folder],) * 3).save(split / folder / name)
    (tmp_path / "data" / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True}}) + "\n")
    for seed in range(4):
        report = run_eval(tmp_path / "data", limit=24, seed=seed, bootstrap=0, quiet=True)
        tracks = Counter(path.rsplit("_t", 1)[0] for path in report.paths)
        assert set(tracks.values()) == {6}, (seed, tracks)  # every drawn video whole: its 3 tracks of 2 faces
        assert report.data["subset"]["videos"] == len(tracks) == report.video["videos"]


def test_every_class_and_method_keeps_its_share(tmp_path: Path) -> None:
    """About N / total of each class folder and each method folder, in whole videos: the rare method B
    (2 of 28 videos) is never drawn out of the subset, nor is a class."""
    root = make_split(tmp_path / "data", LAYOUT)
    sizes = {folder: count * 5 for folder, count in LAYOUT.items()}
    for seed in range(8):
        report = run_eval(root, limit=30, seed=seed, bootstrap=0, quiet=True)
        per_cell = Counter(cell_of(path) for path in report.paths)
        for folder, size in sizes.items():
            share = size * 30 / 140
            assert share <= per_cell[folder] < share + 5, (seed, per_cell)  # at most one video past its share
        assert set(report.methods) == {"A", "B"}
        assert report.data["df"] > 0 and report.data["real"] > 0


def test_json_records_the_subset(tmp_path: Path, run_cli: RunCli) -> None:
    root = make_split(tmp_path / "data", LAYOUT)
    code, out, err = run_cli("eval", "--data", root, "--limit", 30, "--seed", 3, "--format", "json",
                             "--bootstrap", 0)
    assert code == 0, err
    data = json.loads(out)["data"]
    subset = data["subset"]
    assert subset == {"limit": 30, "seed": 3, "unit": "video", "images": data["images"], "of_images": 140,
                      "videos": data["images"] // 5, "of_videos": 28}
    assert "subset" in err and "of 140" in err  # the note on stderr says it too
    code, out, _ = run_cli("eval", "--data", root, "--format", "json", "--bootstrap", 0, "-q")
    assert code == 0 and json.loads(out)["data"]["subset"] is None and json.loads(out)["data"]["images"] == 140


def test_the_table_says_subset_in_one_line(tmp_path: Path, run_cli: RunCli) -> None:
    root = make_split(tmp_path / "data", LAYOUT)
    code, out, err = run_cli("eval", "--data", root, "--limit", 30, "--bootstrap", 0, "-q")
    assert code == 0, err
    lines = out.splitlines()
    rows = [number for number, line in enumerate(lines) if line.startswith("│ subset ")]
    assert len(rows) == 1, out
    row = [lines[rows[0]]]  # with the lines its cells wrap onto (an empty metric cell)
    row += [line for line in lines[rows[0] + 1:] if line.startswith("│   ")][:3]
    assert len([line for line in lines if "subset" in line and "│" in line]) == 1, out
    note = " ".join(line.split("│")[-2].strip() for line in row)
    assert " of 140 images" in note and "--seed 0" in note and "not the whole split" in note, out
    code, out, _ = run_cli("eval", "--data", root, "--bootstrap", 0, "-q")
    assert code == 0 and not [line for line in out.splitlines() if "subset" in line and "│" in line]


def test_plot_titles_say_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.axes
    import matplotlib.figure

    titles: list[str] = []
    real_set, real_suptitle = matplotlib.axes.Axes.set, matplotlib.figure.Figure.suptitle
    monkeypatch.setattr(matplotlib.axes.Axes, "set",
                        lambda ax, **kw: (titles.append(kw.get("title", "")), real_set(ax, **kw))[1])
    monkeypatch.setattr(matplotlib.figure.Figure, "suptitle",
                        lambda fig, text, **kw: (titles.append(text), real_suptitle(fig, text, **kw))[1])
    root = make_split(tmp_path / "data", LAYOUT)
    report = run_eval(root, limit=30, bootstrap=0, quiet=True, plot=tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 0
    roc = next(title for title in titles if title.startswith("ROC"))
    assert "subset" in roc and f"{report.data['images']} of 140" in roc
    assert any("subset" in title and "seed 0" in title for title in titles if not title.startswith("ROC"))
    titles.clear()
    run_eval(root, bootstrap=0, quiet=True, plot=tmp_path / "full.png")
    assert titles and not any("subset" in title for title in titles)


def test_names_without_video_ids_are_drawn_as_single_faces(tmp_path: Path) -> None:
    root = make_split(tmp_path / "data", {"df": 4, "real": 4}, ids=False)
    report = run_eval(root, limit=10, bootstrap=0, quiet=True)
    assert report.data["images"] == 10 and report.data["df"] == 5 and report.data["real"] == 5
    assert report.data["subset"] | {"seed": 0} == {"limit": 10, "seed": 0, "unit": "image", "images": 10,
                                                   "of_images": 40, "videos": None, "of_videos": None}


def test_a_limit_past_the_split_is_the_whole_split(tmp_path: Path) -> None:
    root = make_split(tmp_path / "data", {"df": 2, "real": 2})
    notes: list[str] = []
    report = run_eval(root, limit=500, bootstrap=0, log=notes.append)
    assert report.data["images"] == 20 and report.data["subset"] is None
    assert any("--limit 500" in line or "limit 500" in line for line in notes) and \
        any("whole split" in line for line in notes), notes


@pytest.mark.parametrize(("limit", "videos", "ids", "message"), [
    (1, {"df": 2, "real": 2}, True, "--limit 1: must be at least 2"),
    (0, {"df": 2, "real": 2}, True, "--limit 0: must be at least 2"),
    (-3, {"df": 2, "real": 2}, True, "--limit -3: must be at least 2"),
    # 2 of 201 faces without video ids: the single real face rounds to none of the real class
    (2, {"df": 200, "real": 1}, False, "--limit 2 draws no real image"),
])
def test_limit_errors_are_one_line(limit: int, videos: dict[str, int], ids: bool, message: str, tmp_path: Path,
                                   run_cli: RunCli) -> None:
    root = make_split(tmp_path / "data", videos, frames=1 if not ids else 5, ids=ids)
    code, out, err = run_cli("eval", "--data", root, "--limit", limit, "-q")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("mesocli: error: ") and message in err, err


def test_the_library_names_its_parameter(tmp_path: Path) -> None:
    from mesocli import api

    root = make_split(tmp_path / "data", {"df": 2, "real": 2})
    with pytest.raises(ParameterError, match="^limit 1: must be at least 2$"):
        run_eval(root, limit=1, quiet=True)
    report = api.evaluate(root, limit=10, seed=2, bootstrap=0)
    assert report.data["subset"]["seed"] == 2 and report.data["images"] == 10
    by_video = defaultdict(set)
    for path in report.paths:
        by_video[cell_of(path)].add(video_of(path))
    assert {cell: len(names) for cell, names in by_video.items()} == {"df": 1, "real": 1}


def test_a_seed_without_limit_is_refused(tmp_path: Path, run_cli: RunCli) -> None:
    """``eval --seed 3`` without ``--limit`` scored the whole split, exit 0: a user who gave a seed believed a
    random subset had been drawn. Now a one-line usage error, as ``export --check`` without ``--bundled``."""
    from mesocli import api

    root = make_split(tmp_path / "data", {"df": 2, "real": 2})
    code, out, err = run_cli("eval", "--data", root, "--seed", 3, "-q")
    assert (code, out) == (2, "")
    assert err == "mesocli: error: --seed goes with --limit (it seeds the draw of a subset)\n", err
    for call in (run_eval, api.evaluate):
        with pytest.raises(ParameterError, match=r"^seed goes with limit \("):
            call(root, seed=0, bootstrap=0)
    assert run_eval(root, limit=10, bootstrap=0, quiet=True).data["subset"]["seed"] == 0  # the default seed


@pytest.mark.parametrize("ids", [True, False])
def test_a_negative_seed_is_a_one_line_error(ids: bool, tmp_path: Path, run_cli: RunCli) -> None:
    """``--seed -1`` was a traceback of NumPy's (``expected non-negative integer``)."""
    root = make_split(tmp_path / "data", {"df": 4, "real": 4}, frames=5 if ids else 1, ids=ids)
    code, out, err = run_cli("eval", "--data", root, "--limit", 4, "--seed", -1, "-q")
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("mesocli: error: ") and "--seed -1" in err, err
    with pytest.raises(ParameterError, match="^seed -1: "):
        run_eval(root, limit=4, seed=-1, quiet=True)


def test_a_rare_method_without_video_ids_is_not_drawn_out(tmp_path: Path) -> None:
    """Files without video ids were drawn file by file, each method folder's share rounded: a method folder of
    one face in 81 (--limit 20: a share of 0.25) had none in the subset, and vanished from the per-method figures
    (docs: "a rare method is not drawn out"), as it never does with video ids."""
    root = make_split(tmp_path / "data", {"df/A": 40, "df/B": 1, "real": 40}, frames=1, ids=False)
    for seed in range(4):
        report = run_eval(root, limit=20, seed=seed, bootstrap=0, quiet=True)
        per_cell = Counter(cell_of(path) for path in report.paths)
        assert per_cell["df/B"] == 1 and set(report.methods) == {"A", "B"}, (seed, per_cell)
        assert 10 <= per_cell["df/A"] <= 11 and 10 <= per_cell["real"] <= 11, (seed, per_cell)
