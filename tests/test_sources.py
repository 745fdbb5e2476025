"""Training on several sources: identity groups, a held-out part without leaks, loss shares, multi-root runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import RunCli
from media import make_faces
from PIL import Image

from mesocli.datasets import find_dataset, identity_groups, video_id
from mesocli.errors import UsageError
from mesocli.sources import Source, load_sources, read_mix, sample_weights, split_by_groups


def test_identity_groups_join_the_people_of_ffpp_pairs() -> None:
    names = ["033_097_1.jpg", "097_5.jpg", "033_2.jpg", "500_600_3.jpg", "600_1.jpg", "601_500_0.jpg",
             "700_1.jpg", "00012.jpg", "00013.jpg"]
    groups = identity_groups([Path(name) for name in names])
    assert groups[0] == groups[1] == groups[2]  # 033 and 097 are tied by the pair 033_097
    assert groups[3] == groups[4] == groups[5]  # 500-600 and 601-500: one connected group
    assert len({groups[0], groups[3], groups[6], groups[7], groups[8]}) == 5  # files without ids stand alone


def test_celeb_df_names_are_held_out_by_the_person_of_their_video() -> None:
    """Celeb-DF's names (``id0_0003``: person 0's 4th video; ``id0_id16_0003``: it with person 16's face swapped in;
    ``YouTube-real/00003``) tied every person's 4th video through the token ``0003``, and the swaps tie nearly every
    person to every other: a Celeb-DF folder was one group, so ``train`` refused any held-out part. A video and
    the fakes made from it now go with its person; no other name changes."""
    from mesocli.sources import drop_shared_identities, identity_tokens

    names = [f"id{person}_{video:04d}_{frame}.jpg" for person in range(4) for video in range(2) for frame in range(2)]
    names += [f"id{person}_id{(person + 1) % 4}_{video:04d}_{frame}.jpg" for person in range(4) for video in range(2)
              for frame in range(2)]
    names += ["00000_3.jpg", "00001_3.jpg", "033_097_1.jpg", "097_0000_2.jpg", "id0_x_0001_1.jpg"]
    paths = [Path(name) for name in names]
    groups = identity_groups(paths)
    person = {path: path.name.split("_")[0] for path in paths[:32]}
    for path, group in zip(paths[:32], groups[:32], strict=True):  # a group per person: its videos and their fakes
        assert {person[other] for other, its in zip(paths[:32], groups[:32], strict=True) if its == group} == {
            person[path]}
    assert len(set(groups[:32])) == 4 and len(set(groups[32:34])) == 2  # YouTube-real's plain numbers stand alone
    assert groups[34] == groups[35] and groups[36] == groups[0]  # other names tie by every token, as before
    assert identity_tokens(Path("id3_id16_0003_12.jpg")) == {"id3"} and identity_tokens(Path("id3_0003_5.jpg")) == {
        "id3"}
    assert identity_tokens(Path("097_0000_2.jpg")) == {"097", "0000"}  # not Celeb-DF: every token, as before
    assert identity_tokens(Path("id0_x_0001_1.jpg")) == {"id0", "x", "0001"}
    assert identity_tokens(Path("id3_id16_0003_12.jpg"), celeb_df=False) == {"id3", "id16", "0003"}  # older versions
    labels = np.array([1] * 16 + [0] * 16 + [1, 1, 0, 1, 1])
    train, held = split_by_groups(labels, np.zeros(len(paths), dtype=np.int64), groups, 0.25, 0)
    assert set(labels[train]) == set(labels[held]) == {0, 1}  # a held-out part of both classes can be drawn
    assert not {person[paths[i]] for i in train if i < 32} & {person[paths[i]] for i in held if i < 32}
    assert drop_shared_identities(paths, train, held)[1] == 0


def make_ffpp_like(root: Path, people: int = 24, frames: int = 6, seed: int = 0) -> Path:
    """ROOT/train/{df/Deepfakes,df/Face2Face,real/original}/<id>[_<id>]_<frame>.png: noise faces, df redder."""
    rng = np.random.default_rng(seed)
    for person in range(people):
        partner = (person + 1) % people if person % 2 == 0 else (person - 1)
        for folder, video in (("real/original", f"{person:03d}"), ("df/Deepfakes", f"{person:03d}_{partner:03d}"),
                              ("df/Face2Face", f"{person:03d}_{partner:03d}")):
            target = root / "train" / folder
            target.mkdir(parents=True, exist_ok=True)
            for frame in range(frames):
                pixels = rng.integers(0, 200, size=(64, 64, 3))
                pixels[..., 0] += 50 if folder.startswith("df") else 0
                Image.fromarray(pixels.astype(np.uint8)).save(target / f"{video}_{frame}.png")
    return root


def make_numbered(root: Path, count: int = 30, seed: int = 1) -> Path:
    """A MesoNet-like source: ROOT/train/{df,real}/<number>.jpg (no video ids)."""
    rng = np.random.default_rng(seed)
    for cls in ("df", "real"):
        (root / "train" / cls).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 200, size=(80, 80, 3))
            pixels[..., 0] += 50 if cls == "df" else 0
            Image.fromarray(pixels.astype(np.uint8)).save(root / "train" / cls / f"{i:05d}.jpg")
    return root


@pytest.fixture(scope="module")
def two_roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("sources")
    return make_ffpp_like(base / "ffpp"), make_numbered(base / "mesonet")


def _people(path: Path) -> set[str]:
    video = video_id(path)
    return set(video.split("_")) if video else {str(path)}


def test_held_out_part_shares_no_person_or_video_with_training(two_roots: tuple[Path, Path]) -> None:
    ffpp, mesonet = two_roots
    data = load_sources([Source(str(ffpp)), Source(str(mesonet))])
    train, held = split_by_groups(data.labels, data.source_index, data.groups, 0.25, seed=3)
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(data.labels)
    paths = data.combined.paths
    for source in (0, 1):
        mine = data.source_index == source
        held_mine, train_mine = held[mine[held]], train[mine[train]]
        assert 0.2 <= len(held_mine) / mine.sum() <= 0.35  # about the fraction asked, in whole groups
        held_people = set().union(*(_people(paths[i]) for i in held_mine))
        train_people = set().union(*(_people(paths[i]) for i in train_mine))
        assert not held_people & train_people, "a person (or file) is on both sides"
        assert set(np.unique(data.labels[held_mine])) == {0, 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_limit_draws_single_faces_and_holds_out_whole_people(two_roots: tuple[Path, Path], seed: int) -> None:
    """``train --limit N`` draws N single faces (not whole videos, as ``eval --limit`` does; docs/training.md says
    why): the same faces as every earlier version for the same seed, so an earlier ``--limit`` run resumes on them;
    its held-out part is then drawn by identity inside the subset, so no person or video is on both sides."""
    from dataclasses import asdict

    from mesocli.training import TrainConfig, load_run_data, split_run_data

    ffpp, _ = two_roots
    whole = load_sources([Source(str(ffpp))])
    config = TrainConfig(data=str(ffpp), sources=[asdict(Source(str(ffpp)))], limit=60, seed=seed,
                         val_fraction=0.25)
    data = load_run_data(config)
    picked = np.sort(np.random.default_rng(seed).permutation(len(whole.labels))[:60])  # the draw runs recorded
    assert list(data.combined.paths) == [whole.combined.paths[i] for i in picked]
    assert len({video_id(path) for path in data.combined.paths}) > 60 // 6  # more videos than whole ones would give
    train, held = split_run_data(config, data, np.arange(len(data.labels)))
    paths = data.combined.paths
    held_people = set().union(*(_people(paths[i]) for i in held))
    train_people = set().union(*(_people(paths[i]) for i in train))
    assert held.size and not held_people & train_people, "a person (or video) is on both sides"


@pytest.mark.parametrize("order", ["aux last", "aux first"])
def test_a_source_outside_the_held_out_part_is_trained_on_whole(two_roots: tuple[Path, Path], order: str) -> None:
    ffpp, mesonet = two_roots
    alone = load_sources([Source(str(ffpp))])
    _, held_alone = split_by_groups(alone.labels, alone.source_index, alone.groups, 0.25, seed=3)
    sources = [Source(str(ffpp)), Source(str(mesonet), heldout=False)]
    if order == "aux first":
        sources.reverse()
    data = load_sources(sources)
    aux = 0 if order == "aux first" else 1
    train, held = split_by_groups(data.labels, data.source_index, data.groups, 0.25, seed=3,
                                  train_only=frozenset({aux}))
    assert set(data.source_index[held]) == {1 - aux}  # nothing of the auxiliary source is held out
    assert np.all(np.isin(np.flatnonzero(data.source_index == aux), train))
    paths = data.combined.paths
    assert sorted(paths[i] for i in held) == sorted(alone.combined.paths[i] for i in held_alone)


def test_a_held_out_person_is_dropped_from_training_in_every_source(two_roots: tuple[Path, Path]) -> None:
    """The same people in two sources (Face2Face vs originals held out; Deepfakes and originals as
    auxiliary data): the held-out part is the one the first source draws alone, and no training file of
    either source shows a held-out person."""
    from mesocli.training import TrainConfig, load_run_data, split_run_data

    ffpp, _ = two_roots
    alone = TrainConfig(data="", sources=[{"root": str(ffpp), "methods": ["Face2Face", "original"]}],
                        val_fraction=0.25, seed=3)
    data_alone = load_run_data(alone)
    train_alone, held_alone = split_run_data(alone, data_alone, np.arange(len(data_alone.labels)))
    assert len(train_alone) + len(held_alone) == len(data_alone.labels)  # one source: nothing dropped

    both = TrainConfig(data="", sources=[{"root": str(ffpp), "methods": ["Face2Face", "original"]},
                                         {"root": str(ffpp), "methods": ["Deepfakes", "original"],
                                          "heldout": False}], val_fraction=0.25, seed=3)
    data = load_run_data(both)
    train, held = split_run_data(both, data, np.arange(len(data.labels)))
    paths = data.combined.paths
    assert sorted(paths[i] for i in held) == sorted(data_alone.combined.paths[i] for i in held_alone)
    held_people = set().union(*(_people(paths[i]) for i in held))
    train_people = set().union(*(_people(paths[i]) for i in train))
    assert held_people and not held_people & train_people
    aux_train = train[data.source_index[train] == 1]
    dropped = len(data.labels) - len(train) - len(held)
    assert dropped == int(np.sum(data.source_index == 1)) - len(aux_train) > 0
    assert {data.combined.methods[i] for i in aux_train} == {"Deepfakes", "original"}


def test_methods_and_frame_stride_select_files(two_roots: tuple[Path, Path]) -> None:
    ffpp, _ = two_roots
    data = load_sources([Source(str(ffpp), methods=["Face2Face", "original"], every=2)])
    methods = set(data.combined.methods)
    assert methods == {"Face2Face", "original"}
    frames = {int(p.stem.rsplit("_", 1)[1]) for p in data.combined.paths}
    assert frames == {0, 2, 4}
    assert data.combined.counts == {"df": 24 * 3, "real": 24 * 3}


def test_sample_weights_give_each_source_its_share_split_by_class() -> None:
    labels = np.array([0] * 10 + [1] * 30 + [0] * 2 + [1] * 4)
    sources = np.array([0] * 40 + [1] * 6)
    weights = sample_weights(labels, sources, np.array([1.0, 3.0]), class_balance=True)
    total = weights.sum()
    cell = {(s, c): weights[(sources == s) & (labels == c)].sum() / total for s in (0, 1) for c in (0, 1)}
    assert cell[(0, 0)] == pytest.approx(0.125) and cell[(0, 1)] == pytest.approx(0.125)
    assert cell[(1, 0)] == pytest.approx(0.375) and cell[(1, 1)] == pytest.approx(0.375)
    assert weights.mean() == pytest.approx(1.0)
    flat = sample_weights(labels, sources, np.array([1.0, 1.0]), class_balance=False)
    assert flat[sources == 0].sum() == pytest.approx(flat[sources == 1].sum())
    assert len(set(np.round(flat[sources == 0], 6))) == 1


def test_mixing_file_is_read_relative_to_itself_and_checked(tmp_path: Path, two_roots: tuple[Path, Path]) -> None:
    ffpp, _ = two_roots
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(ffpp), "methods": ["Deepfakes", "original"]},
                                           {"root": "relative/data", "weight": 2}]}))
    first, second = read_mix(mix)
    assert first.methods == ["Deepfakes", "original"] and second.root == str(tmp_path / "relative/data")
    mix.write_text(json.dumps({"sources": [{"root": str(ffpp), "colour": "blue"}]}))
    with pytest.raises(UsageError, match="not a mixing file"):
        read_mix(mix)
    with pytest.raises(UsageError, match="every must be a whole number of 1 or more, not 0"):
        load_sources([Source(str(ffpp), every=0)])
    with pytest.raises(UsageError, match="runs must be 0 .single files. or more, not 1.5"):
        load_sources([Source(str(ffpp), runs=1.5)])  # type: ignore[arg-type]


@pytest.mark.slow
def test_train_on_two_roots_records_every_source_in_the_card(
    two_roots: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    from mesocli.weights import load_weights

    ffpp, mesonet = two_roots
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [
        {"root": str(mesonet)},
        {"root": str(ffpp), "methods": ["Deepfakes", "original"], "every": 2, "weight": 2.0},
    ]}))
    run = tmp_path / "run"
    code, out, err = run_cli("train", "--mix", str(mix), "--out", str(run), "--epochs", "1",
                             "--batch-size", "8", "--val-fraction", "0.25", "--degrade-prob", "0.5",
                             "--select", "auc")
    assert code == 0, err
    assert "source 0" in err and "source 1" in err
    card = load_weights(run / "best.weights.h5").card
    assert card is not None
    described = card.data["sources"]
    assert [s["root"] for s in described] == [str(mesonet), str(ffpp)]
    assert described[1]["methods"] == ["Deepfakes", "original"] and described[1]["every"] == 2
    assert described[1]["counts"] == {"df": 24 * 3, "real": 24 * 3}
    assert all(len(s["file_list_sha256"]) == 64 for s in described)
    assert card.data["dropped_shared_identity"] == 0  # the two roots share no people
    heldout = card.metrics["heldout"]
    assert {"heldout_auc_source0", "heldout_auc_source1", "heldout_auc"} <= set(heldout)
    mean_auc = (heldout["heldout_auc_source0"] + heldout["heldout_auc_source1"]) / 2
    assert heldout["heldout_auc"] == pytest.approx(mean_auc)

    # warm start: a second run starts from the first one's weights, and its card says so
    again = tmp_path / "again"
    code, out, err = run_cli("train", str(mesonet), "--out", str(again), "--epochs", "1",
                             "--batch-size", "8", "--init-weights", str(run / "best.weights.h5"))
    assert code == 0, err
    init = load_weights(again / "best.weights.h5").card.data["init_weights"]
    assert init == {"file": "best.weights.h5", "sha256": card.sha256}


def test_runs_group_consecutive_numbered_files_of_a_folder() -> None:
    names = ["df/df100.jpg", "df/df9.jpg", "df/df1.jpg", "df/df11.jpg", "df/df2.jpg", "df/df10.jpg",
             "real/00003.jpg", "real/00000.jpg", "real/00002.jpg", "real/00001.jpg", "real/033_7.jpg"]
    paths = [Path(name) for name in names]
    group = dict(zip(names, identity_groups(paths, runs=2), strict=True))
    # numbers compared as numbers: df1 df2 | df9 df10 | df11 df100, whatever the order given
    assert group["df/df1.jpg"] == group["df/df2.jpg"] != group["df/df9.jpg"] == group["df/df10.jpg"]
    assert group["df/df11.jpg"] == group["df/df100.jpg"] != group["df/df10.jpg"]
    assert group["real/00000.jpg"] == group["real/00001.jpg"] != group["real/00002.jpg"] == group["real/00003.jpg"]
    assert {group[n] for n in names if n.startswith("df/")}.isdisjoint(group[n] for n in names[6:])  # folders apart
    assert list(group.values()).count(group["real/033_7.jpg"]) == 1  # a video id keeps its identity group
    assert len(set(identity_groups(paths))) == len(paths)  # without runs: one group per numbered file


def test_runs_sort_names_with_digits_that_are_no_decimal_numbers() -> None:
    """A name with a superscript digit ("²", a digit to str.isdigit but no decimal number) made the sort a
    ValueError; numbers in other scripts ("٣" is 3) still sort as numbers."""
    names = ["df/²1.jpg", "df/3.jpg", "df/٣.jpg", "df/10.jpg"]
    group = dict(zip(names, identity_groups([Path(name) for name in names], runs=2), strict=True))
    assert group["df/3.jpg"] == group["df/٣.jpg"] != group["df/10.jpg"] == group["df/²1.jpg"]


def test_runs_hold_out_whole_runs_of_each_class(tmp_path: Path) -> None:
    """A source of numbered frames in video order: the held-out part is whole runs, a fraction of each class."""
    from mesocli.training import TrainConfig, Trainer

    root = make_numbered(tmp_path / "numbered", count=40)
    data = load_sources([Source(str(root), runs=5)])
    train, held = split_by_groups(data.labels, data.source_index, data.groups, 0.25, seed=3,
                                  by_class=frozenset({0}))
    paths = data.combined.paths
    for label in (0, 1):
        numbers = sorted(int(paths[i].stem) for i in held if data.labels[i] == label)
        assert len(numbers) == 10  # a quarter of the class's 40 files: two runs of 5
        runs = {number // 5 for number in numbers}
        assert numbers == [number for run in sorted(runs) for number in range(5 * run, 5 * run + 5)]
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == len(paths)

    # a run draws the same part, and says how it holds out; without runs it points at the option
    config = TrainConfig(data=str(root), sources=[{"root": str(root), "runs": 5}], val_fraction=0.25, seed=3,
                         batch_size=8)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.prepare()
    np.testing.assert_array_equal(trainer.held_idx, held)


def test_a_class_by_class_draw_counts_groups_of_both_classes_once() -> None:
    """Groups holding both classes (a fake's video id names its original's person): the groups drawn for the
    fakes took their reals along, and the reals' own draw then took a quarter more (190 files of 400 held out)."""
    groups, labels = np.repeat(np.arange(40), 10), np.tile([0] * 5 + [1] * 5, 40)
    _, held = split_by_groups(labels, np.zeros(400, dtype=np.int64), groups, 0.25, seed=3, by_class=frozenset({0}))
    assert [int((labels[held] == label).sum()) for label in (0, 1)] == [50, 50]


def test_runs_leave_a_source_whose_files_all_name_their_video_drawn_as_before(
    two_roots: tuple[Path, Path], tmp_path: Path
) -> None:
    """--heldout-runs applies to every root given: a FaceForensics++ root (every file names its video) keeps its
    draw of identity groups; it was drawn class by class, holding out about half of it for a quarter asked."""
    from mesocli.training import TrainConfig, Trainer

    ffpp, mesonet = two_roots
    held = []
    for runs in (0, 5):
        config = TrainConfig(data=str(ffpp), sources=[{"root": str(ffpp), "runs": runs},
                                                      {"root": str(mesonet), "runs": 5}],
                             val_fraction=0.25, seed=3, batch_size=8)
        trainer = Trainer(config, tmp_path / f"run{runs}", progress=False)
        trainer.prepare()
        held.append(trainer.held_idx[trainer.data.source_index[trainer.held_idx] == 0])
    np.testing.assert_array_equal(held[1], held[0])


@pytest.mark.slow
def test_training_without_runs_notes_that_single_frames_are_held_out(
    two_roots: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    _, mesonet = two_roots
    code, out, err = run_cli("train", str(mesonet), "--out", str(tmp_path / "run"), "--epochs", "1",
                             "--batch-size", "8", "--val-fraction", "0.25")
    assert code == 0, err
    assert "no video ids in the file names" in err and "--heldout-runs N" in err
    code, out, err = run_cli("train", str(mesonet), "--out", str(tmp_path / "runs"), "--epochs", "1",
                             "--batch-size", "8", "--val-fraction", "0.25", "--heldout-runs", "10")
    assert code == 0, err
    assert "no video ids" not in err and "runs=10" in err
    from mesocli.weights import load_weights

    card = load_weights(tmp_path / "runs" / "best.weights.h5").card
    assert card is not None and card.data["sources"][0]["runs"] == 10


@pytest.mark.parametrize(("args", "message"), [
    (["--mix", "nowhere.json"], "mixing file not found"),
    (["--mix", "nowhere.json", "--heldout-runs", "5"], "--heldout-runs goes with DATA roots"),
    # the sources of a mixing file name their own split: --split was ignored, each source's split trained on
    (["--mix", "nowhere.json", "--split", "validation"], "--split goes with DATA roots; in a mixing file, give "
     "each source \"split\""),
    (["--mix", "nowhere.json", "--split", "train"], "--split goes with DATA roots"),
    # without a held-out part the epoch was picked by the training loss whatever --select said, and
    # --heldout-seed drew nothing: both ignored, exit 0
    (["--val-fraction", "0", "--select", "auc", "--epochs", "1", "--batch-size", "8"],
     "--select auc picks the epoch by a held-out figure: it needs a held-out part (--val-fraction above 0)"),
    (["--val-fraction", "0", "--heldout-seed", "3", "--epochs", "1", "--batch-size", "8"],
     "--heldout-seed draws the held-out part and the --limit subset: it needs --val-fraction above 0 or --limit"),
    (["--heldout-runs", "-1"], "--heldout-runs -1: must be 0 (single files) or more"),
    (["--select", "speed"], "--select speed: must be one of accuracy, auc, loss"),
    (["--degrade-prob", "2"], "--degrade-prob 2.0: must be in [0, 1]"),
])
def test_bad_training_sources_are_one_line_errors(
    args: list[str], message: str, two_roots: tuple[Path, Path], tmp_path: Path,
    run_cli: RunCli,
) -> None:
    data = [] if args[0] == "--mix" else [str(two_roots[1])]
    code, out, err = run_cli("train", *data, *args, "--out", str(tmp_path / "run"))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_the_library_refuses_a_split_beside_a_mixing_file(tmp_path: Path) -> None:
    """``api.train(mix=..., split="validation")`` trained on each source's own split, as if split were not given."""
    from mesocli import api
    from mesocli.errors import ParameterError

    message = '^split goes with data roots; in a mixing file, give each source "split"$'
    with pytest.raises(ParameterError, match=message):
        api.train(mix=tmp_path / "nowhere.json", split="validation", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_method_folders_are_read_from_the_class_folders(two_roots: tuple[Path, Path]) -> None:
    dataset = find_dataset(two_roots[0], "train")
    assert set(dataset.methods) == {"Deepfakes", "Face2Face", "original"}
    assert find_dataset(two_roots[1], "train").methods == [None] * 60


def test_a_heldout_seed_keeps_the_held_out_part_while_the_training_seed_changes(
    two_roots: tuple[Path, Path], tmp_path: Path
) -> None:
    from dataclasses import asdict

    from mesocli.averaging import heldout_key
    from mesocli.training import TrainConfig, Trainer

    ffpp, mesonet = two_roots
    sources = [asdict(Source(str(mesonet))), asdict(Source(str(ffpp)))]

    def held(**seeds: int) -> tuple[np.ndarray, TrainConfig]:
        config = TrainConfig(data=str(mesonet), sources=sources, val_fraction=0.25, batch_size=8, **seeds)
        trainer = Trainer(config, tmp_path / "run", progress=False)
        trainer.prepare()
        return trainer.held_idx, config

    base, base_config = held(seed=0)
    shared, shared_config = held(seed=5, heldout_seed=0)
    own, own_config = held(seed=5)
    np.testing.assert_array_equal(base, shared)
    assert not np.array_equal(base, own)  # seed 5 alone draws other identity groups
    assert heldout_key(base_config) == heldout_key(shared_config) != heldout_key(own_config)


def test_all_faces_track_and_frame_numbers_are_no_identity() -> None:
    """``extract --all-faces --layout dataset`` names ``<video>_t<track>_<frame>``: ``t0`` ties no one."""
    from mesocli.sources import drop_shared_identities, identity_tokens

    names = ["000_003_t0_0012.jpg", "000_003_t1_0012.jpg", "003_t0_0005.jpg", "001_t0_0012.jpg", "001_t1_0007.jpg",
             "002_t1_0012.jpg", "t1_0003.jpg", "t1_0004.jpg", "00012.jpg"]
    paths = [Path(name) for name in names]
    assert [identity_tokens(path, tracks=True) for path in paths[:3]] == [{"000", "003"}, {"000", "003"}, {"003"}]
    groups = identity_groups(paths, tracks=True)
    assert groups[0] == groups[1] == groups[2]  # both tracks of video 000_003, and person 003's own video
    assert groups[3] == groups[4]  # the tracks of one video stay together
    assert len({groups[0], groups[3], groups[5], groups[6], groups[8]}) == 5  # one track number ties no videos
    assert groups[6] == groups[7] and identity_tokens(paths[6], tracks=True) == {"t1"}  # a video named t1
    train, dropped = drop_shared_identities(paths, np.arange(1, len(paths)), np.array([0]), tracks=[True] * 9)
    assert dropped == 2 and train.tolist() == [3, 4, 5, 6, 7, 8]  # only the held-out people 000 and 003 go


def test_track_tokens_are_no_person_only_in_an_all_faces_dataset(tmp_path: Path) -> None:
    """Found in review: train's identity groups dropped every ``t<digits>`` token whatever the manifest said, while
    eval groups tracks only in an ``extract --all-faces`` dataset (its manifest says so). Without that manifest
    ``a_t1`` and ``b_t1`` are FaceForensics++-style ids that share the person ``t1``; with it they are the tracks
    ``t1`` of the videos ``a`` and ``b``, and only the last ``_t<digits>`` of a video id is its track, as in eval."""
    from mesocli.sources import drop_shared_identities, identity_tokens

    root = tmp_path / "data"
    names = {"df": ["a_t1_0.png", "a_t1_1.png", "scene_t3_t0_0.png"], "real": ["b_t1_0.png", "c_t2_0.png"]}
    for label, files in names.items():
        (root / "train" / label).mkdir(parents=True)
        for name in files:
            Image.new("RGB", (8, 8)).save(root / "train" / label / name)

    def groups() -> dict[str, int]:
        data = load_sources([Source(str(root))])
        return {path.name: int(group) for path, group in zip(data.combined.paths, data.groups, strict=True)}

    plain = groups()
    assert plain["a_t1_0.png"] == plain["a_t1_1.png"] == plain["b_t1_0.png"]  # the person t1
    assert len({plain["a_t1_0.png"], plain["c_t2_0.png"], plain["scene_t3_t0_0.png"]}) == 3
    assert identity_tokens(Path("a_t1_0.png")) == {"a", "t1"}
    (root / "manifest.jsonl").write_text(json.dumps({"type": "header", "settings": {"all_faces": True}}) + "\n")
    tracked = groups()
    assert tracked["a_t1_0.png"] == tracked["a_t1_1.png"] != tracked["b_t1_0.png"]  # track 1 of a and of b
    assert identity_tokens(Path("scene_t3_t0_0.png"), tracks=True) == {"scene", "t3"}  # the video scene_t3
    paths = [Path("a_t1_0.png"), Path("b_t1_0.png")]
    assert drop_shared_identities(paths, np.array([1]), np.array([0]), tracks=[False, False])[1] == 1
    assert drop_shared_identities(paths, np.array([1]), np.array([0]), tracks=[True, True])[1] == 0


def test_a_source_holding_out_one_class_is_noted(tmp_path: Path, two_roots: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A source whose held-out part is all real (whole videos of one class drawn) has no AUC: train says so."""
    from mesocli.training import TrainConfig, Trainer

    root = tmp_path / "videos"
    for cls, videos in (("df", ["a"]), ("real", ["b", "c", "d", "e", "f", "g", "h"])):
        (root / "train" / cls).mkdir(parents=True)
        for video in videos:
            for frame in range(4):
                Image.fromarray(np.full((64, 64, 3), ord(video) + frame, dtype=np.uint8)).save(
                    root / "train" / cls / f"{video}_{frame}.png")
    sources = [{"root": str(two_roots[1])}, {"root": str(root)}]
    seed = next(seed for seed in range(50) if set(np.unique(_held_labels(sources, seed))) == {1})
    config = TrainConfig(data=str(root), sources=sources, val_fraction=0.1, seed=seed, batch_size=8)
    Trainer(config, tmp_path / "run", progress=True).prepare()
    assert f"note: the held-out part of {root} holds real faces only" in capsys.readouterr().err


def _held_labels(sources: list[dict], seed: int) -> np.ndarray:
    data = load_sources([Source(**source) for source in sources])
    _, held = split_by_groups(data.labels, data.source_index, data.groups, 0.1, seed)
    return data.labels[held][data.source_index[held] == 1]


@pytest.mark.parametrize("empty", [False, True], ids=["no-real-folder", "empty-real-folder"])
def test_a_source_of_one_class_in_a_mix_is_a_one_line_error(
    empty: bool, two_roots: tuple[Path, Path], tmp_path: Path, run_cli: RunCli
) -> None:
    """Each source of a mixing file needs both classes (a one-class source is made with ``methods`` only)."""
    lone = tmp_path / "lone"
    make_faces(lone / "train", {"df": 4}, size=(32, 32))
    if empty:
        (lone / "train" / "real").mkdir()
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(two_roots[1])}, {"root": str(lone)}]}))
    code, out, err = run_cli("train", "--mix", mix, "--out", tmp_path / "run", "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.strip().endswith(f"{lone}/train: no images of class real; both df and real are needed")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("entry", "message"), [
    ({"every": "2"}, "every must be a whole number of 1 or more, not '2'"),
    ({"every": 1.5}, "every must be a whole number of 1 or more, not 1.5"),
    ({"weight": "1"}, "weight must be a finite number above 0, not '1'"),
    ({"weight": None}, "weight must be a finite number above 0, not None"),
    ({"weight": True}, "weight must be a finite number above 0, not True"),
    ({"weight": 0}, "weight must be a finite number above 0, not 0"),
    ({"weight": 1e999}, "weight must be a finite number above 0, not inf"),
    ({"split": 5}, "split must be a folder name (text) or null, not 5"),
    ({"methods": "Deepfakes"}, "methods must be a list of method folder names, not 'Deepfakes'"),
    ({"methods": ["Deepfakes", 3]}, "methods must be a list of method folder names, not ['Deepfakes', 3]"),
    ({"heldout": "no"}, "heldout must be true or false, not 'no'"),
    ({"runs": "5"}, "runs must be 0 (single files) or more, not '5'"),
])
def test_a_mixing_file_of_wrong_value_types_is_a_one_line_error(
    entry: dict, message: str, two_roots: tuple[Path, Path], tmp_path: Path, run_cli: RunCli,
) -> None:
    """These were tracebacks (TypeError in a comparison or a path join, after TensorFlow loaded), or silently taken:
    ``"heldout": "no"`` held files out, ``"every": 1.5`` kept the frames whose number is a multiple of 1.5, a weight
    of 1e999 (infinite) trained a whole epoch on NaN weights before a traceback."""
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(two_roots[0]), **entry}]}).replace("Infinity", "1e999"))
    code, out, err = run_cli("train", "--mix", mix, "--out", tmp_path / "run", "--epochs", "1", "-q")
    assert (code, err.count("\n")) == (2, 1), err
    assert err == f"mesocli: error: {mix}: source {two_roots[0]}: {message}\n"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("alias", ["same root", "symbolic link"])
def test_a_file_in_two_sources_is_never_trained_on_when_one_holds_it_out(
    alias: str, two_roots: tuple[Path, Path], tmp_path: Path,
) -> None:
    """Two sources that list the same files (one root twice, or under a link; say the originals beside two fake
    methods): the held-out draws are per source, and files without video ids have no identity to drop them by, so
    a face held out by one source was trained on through the other: the held-out figures scored training faces."""
    from mesocli.training import TrainConfig, split_run_data

    mesonet = two_roots[1]
    other = mesonet
    if alias == "symbolic link":
        other = tmp_path / "link"
        other.symlink_to(mesonet, target_is_directory=True)
    config = TrainConfig(data=str(mesonet), val_fraction=0.2, sources=[{"root": str(mesonet)}, {"root": str(other)}])
    data = load_sources(config.source_list())
    train, held = split_run_data(config, data, np.arange(len(data.labels)))
    real = [path.resolve() for path in data.combined.paths]
    held_files = {real[index] for index in held}
    assert held_files and not held_files & {real[index] for index in train}
    assert len(train) == len(data.labels) - len(held) - len([i for i in range(len(real)) if i not in held
                                                              and real[i] in held_files])


def test_select_auc_without_a_held_out_auc_is_refused(two_roots: tuple[Path, Path], tmp_path: Path,
                                                      run_cli: RunCli) -> None:
    """Sources of one class each (a method folder apiece): no held-out part has an AUC, and ``--select auc`` chose
    every epoch by the held-out loss, its tie-breaker, with no word beyond a note per source."""
    ffpp = two_roots[0]
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(ffpp), "methods": ["Deepfakes"]},
                                           {"root": str(ffpp), "methods": ["original"]}]}))
    code, out, err = run_cli("train", "--mix", mix, "--out", tmp_path / "run", "--select", "auc", "--epochs", "1",
                             "--val-fraction", "0.25", "--batch-size", "8", "-q")
    assert code == 2 and err.count("\n") == 1, err
    assert err == ("mesocli: error: --select auc: no source's held-out part holds both classes, so there is no "
                   "held-out AUC to select by; select by accuracy or loss, or put both classes of a domain in one "
                   "source\n")
    assert not (tmp_path / "run").exists()


def test_a_mixing_file_may_give_whole_numbers_as_floats(two_roots: tuple[Path, Path], tmp_path: Path) -> None:
    """A JSON generator writes ``2.0`` for a whole number (Python's ``json`` does for a float): ``"every": 2.0``
    trained on every 2nd frame before the value checks, then was refused ("every must be a whole number ..., not
    2.0"), as was ``"runs": 3.0``, and so was the resume of a run started with them. They are taken as 2 and 3."""
    ffpp, mesonet = two_roots
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(ffpp), "every": 2.0, "weight": 2},
                                           {"root": str(mesonet), "runs": 3.0}]}))
    sources = read_mix(mix)
    assert [(type(s.every), s.every, type(s.runs), s.runs) for s in sources] == [(int, 2, int, 0), (int, 1, int, 3)]
    as_ints = load_sources([Source(str(ffpp), every=2), Source(str(mesonet), runs=3)])
    data = load_sources(sources)
    assert data.combined.paths == as_ints.combined.paths and list(data.groups) == list(as_ints.groups)
    with pytest.raises(UsageError, match=r"every must be a whole number of 1 or more, not 2\.5$"):
        Source(str(ffpp), every=2.5).check()  # type: ignore[arg-type]


def test_large_finite_weights_keep_their_shares() -> None:
    """A weight is any finite number above 0 (the mixing-file check says so), but two sources of weight 1e308
    summed to infinity: every loss weight was 0/0, NaN, and training stopped as 'diverged' at its first step."""
    labels = np.array([0, 1, 0, 1])
    source_index = np.array([0, 0, 1, 1])
    huge = sample_weights(labels, source_index, np.array([1e308, 1e308]), class_balance=True)
    assert np.all(np.isfinite(huge)) and np.allclose(huge, 1.0)
    assert np.allclose(sample_weights(labels, source_index, np.array([1e308, 1e307]), True),
                       sample_weights(labels, source_index, np.array([10.0, 1.0]), True))
