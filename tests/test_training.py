"""mesocli train on a tiny dataset made at test time: one short epoch, the model card, exact resume."""

from __future__ import annotations

import json
import re
import shutil
import signal
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RunCli, write_bundle
from media import MediaKit
from PIL import Image

from mesocli import __version__
from mesocli.cli_base import _sigterm_as_interrupt
from mesocli.errors import Terminated, UsageError
from mesocli.provenance import code_digest, library_versions
from mesocli.training import TrainConfig, Trainer, interrupts_held, resume_run, start_run
from mesocli.weights import load_weights

N_DF, N_REAL = 20, 28


def make_tiny_dataset(root: Path, seed: int = 0) -> Path:
    """ROOT/{train,validation}/{df,real}: noise JPEGs of varied sizes (df a little redder), plus junk."""
    rng = np.random.default_rng(seed)
    for split, scale in (("train", 1), ("validation", 0.5)):
        for cls, count in (("df", N_DF), ("real", N_REAL)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(int(count * scale)):
                h, w = (int(v) for v in rng.integers(64, 300, size=2))
                pixels = rng.integers(0, 200, size=(h, w, 3))
                pixels[..., 0] += 50 if cls == "df" else 0
                name = f"v{i % 3}_{i}.jpg" if split == "validation" else f"{i:05d}.jpg"
                Image.fromarray(pixels.astype(np.uint8)).save(folder / name, quality=90)
    (root / "train" / "df" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "train" / "real" / "Thumbs.db").write_bytes(b"junk")
    return root


@pytest.fixture(autouse=True)
def default_sigterm() -> Iterator[None]:
    """SIGTERM as a new process has it: a library started earlier in the test session (Ray) may have set its own."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny"))


ONE_EPOCH = ("--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25")  # `mesocli train` options


def config_for(data: Path, epochs: int) -> TrainConfig:
    return TrainConfig(data=str(data), epochs=epochs, batch_size=8, val_fraction=0.25, patience=10, seed=7,
                       command="pytest")


def test_a_checkpoint_is_read_with_its_runs_resize(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """A run's checkpoint has no model card: ``eval --weights RUN/checkpoints/epoch_001.weights.h5`` of a
    ``--resize nearest`` run read its crops (JPEGs of odd sizes) bilinear, so its figures were not the run's. It now
    takes the run's resize from ``RUN/config.json`` and says so; the scores are those of the same weights with their
    card (``best.weights.h5``, the one epoch)."""
    run = tmp_path / "run"
    code, _, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--resize", "nearest", "--limit", "24",
                           "--seed", "3")
    assert code == 0, err

    def scored(weights: Path, name: str) -> tuple[dict, list[str]]:
        scores = tmp_path / f"{name}.csv"
        result = run_cli("eval", "--data", tiny_data, "--weights", weights, "--bootstrap", "0", "--format", "json",
                         "--scores", scores)
        assert result.code == 0, result.err
        return json.loads(result.out), [line.split(",")[3] for line in scores.read_text().splitlines()[1:]]

    best, best_scores = scored(run / "best.weights.h5", "best")
    checkpoint, checkpoint_scores = scored(run / "checkpoints" / "epoch_001.weights.h5", "checkpoint")
    assert (checkpoint["provenance"]["resize"], checkpoint_scores) == ("nearest", best_scores)
    assert checkpoint["auc"] == best["auc"]
    assert (best["provenance"]["resize"], best["provenance"]["resize_from"]) == ("nearest", "the model card")
    assert checkpoint["provenance"]["resize_from"] == (f"{run / 'config.json'} (the run's train --resize: a "
                                                       "checkpoint has no model card)")


def test_heldout_ensemble_draws_the_held_out_part_training_drew(tiny_data: Path, tmp_path: Path) -> None:
    """``scripts/heldout_ensemble.py`` drew its held-out part among every listed file, training among the readable
    ones: with an unreadable file in the data (``broken.jpg``) it scored another part than the run held out."""
    import runpy

    from mesocli.training import load_run_data, split_run_data

    config = config_for(tiny_data, 1)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.prepare()  # decodes the tiny split; trains nothing
    drew = [trainer.data.combined.paths[i] for i in trainer.held_idx]
    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "heldout_ensemble.py"))
    data, held = script["heldout_part"](config)
    assert [data.combined.paths[i] for i in held] == drew
    every = load_run_data(config)  # the draw among every listed file: another part (what the script scored)
    assert [every.combined.paths[i] for i in split_run_data(config, every, np.arange(len(every.labels)))[1]] != drew


@pytest.mark.slow
def test_train_one_epoch_writes_a_loadable_model_card(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--seed", "3")
    assert code == 0, err
    assert f"{run}/best.weights.h5" in out
    # class counts, skipped files and the imbalance weights N / (2 N_class) are reported
    assert f"df={N_DF + 1} real={N_REAL}" in err  # as listed, broken.jpg included
    assert "broken.jpg" in err and "Thumbs.db" in err
    assert "training on 36 (df 15, real 21), held out 12" in err
    assert "class weights df=1.200 real=0.857" in err
    for name in ("config.json", "best.weights.h5", "best.json", "log.csv", "log.json", "training.png",
                 "checkpoints/epoch_001.weights.h5", "checkpoint/state.json", "checkpoint/last.npz"):
        assert (run / name).is_file(), name

    loaded = load_weights(run / "best.weights.h5")
    card = loaded.card
    assert card is not None and card.sha256 == loaded.sha256
    # written with Z, as every other time mesocli writes (it was +00:00)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", json.loads((run / "best.json").read_text())["created"])
    assert (card.arch, card.manipulation, card.epochs, card.seed) == ("meso4", "df", 1, 3)
    (source,) = card.data["sources"]
    assert card.data["counts"] == source["counts"] == {"df": N_DF + 1, "real": N_REAL} and source["split"] == "train"
    assert len(source["file_list_sha256"]) == 64 and len(card.data["sources_sha256"]) == 64
    assert len(card.data["content_sha256"]) == 64 and card.metrics["loss"] == "mse"
    assert card.metrics["trainable_params"] == 27_977
    assert 0.0 <= card.metrics["heldout"]["heldout_accuracy"] <= 1.0
    log = json.loads((run / "log.json").read_text())
    assert [row["epoch"] for row in log] == [1] and log[0]["images_per_second"] > 0
    assert (run / "training.png").read_bytes()[:4] == b"\x89PNG"

    # the card's weights evaluate through `mesocli eval`
    code, out, err = run_cli("eval", "--data", str(tiny_data), "--weights",
                             str(run / "best.weights.h5"), "--format", "json", "-q")
    assert code == 0, err
    report = json.loads(out)
    assert report["data"]["images"] == 24 and report["video"]["videos"] == 6
    assert report["model"]["weights_sha256"] == card.sha256

    # a second start in the same folder is refused
    with pytest.raises(UsageError, match="already holds a training run"):
        start_run(config_for(tiny_data, 1), run, progress=False)


@pytest.mark.slow
def test_early_stop_names_the_selected_figure(
    tiny_data: Path, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mesocli.training.selection_score", lambda select, record: [0.0])  # never improves
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH[2:], "--epochs", "3",
                             "--patience", "1", "--select", "auc")
    assert code == 0, err
    assert "early stop: held-out auc did not improve for 1 epochs" in err
    assert [row["epoch"] for row in json.loads((run / "log.json").read_text())] == [1, 2]


def _final_state(run: Path) -> dict[str, np.ndarray]:
    with np.load(run / "checkpoint" / "last.npz") as arrays:  # the variables (not the state saved with them)
        return {key: arrays[key] for key in arrays.files if key != "state"}


@pytest.fixture(scope="module")
def uninterrupted(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("uninterrupted")
    state = start_run(config_for(tiny_data, 2), run, progress=False)
    assert state.finished and state.epoch == 2
    return run


@pytest.fixture
def run_copy(uninterrupted: Path, tmp_path: Path) -> Path:
    """A private copy of the two-epoch run, for tests that write into it."""
    run = tmp_path / "run"
    shutil.copytree(uninterrupted, run)
    return run


@pytest.fixture(scope="module")
def one_epoch(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run on the tiny data (trained once for the module; tests use :func:`one_epoch_copy`)."""
    run = tmp_path_factory.mktemp("one-epoch")
    assert start_run(config_for(tiny_data, 1), run, progress=False).finished
    return run


@pytest.fixture
def one_epoch_copy(one_epoch: Path, tiny_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(data, run): private copies of the tiny data and of :func:`one_epoch`'s run, the copy's config.json
    pointing at the copied data: as ``start_run(config_for(data, 1), run)`` on a private dataset leaves them
    (the run's split and data hashes hold paths relative to the data's root), for tests that change either."""
    data, run = tmp_path / "data", tmp_path / "run"
    shutil.copytree(tiny_data, data)
    shutil.copytree(one_epoch, run)
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(tiny_data)
    (run / "config.json").write_text(json.dumps({**config, "data": str(data)}, indent=1))
    return data, run


@pytest.mark.slow
@pytest.mark.parametrize("interrupt", ["after_epoch_1", "mid_epoch_2"])
def test_resume_equals_uninterrupted_run(
    interrupt: str, uninterrupted: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        if interrupt == "after_epoch_1":  # Ctrl-C right after epoch 1's checkpoint
            end_epoch = Trainer.end_epoch

            def end_then_stop(self: Trainer, state, record) -> None:
                end_epoch(self, state, record)
                raise KeyboardInterrupt

            patch.setattr(Trainer, "end_epoch", end_then_stop)
        else:  # Ctrl-C before the 8th training step: epoch 2 (5 steps an epoch, the last of 4 faces), step 2
            prepare = Trainer.prepare

            def prepare_then_count(self: Trainer) -> None:
                prepare(self)
                step, done = self.train_step, [0]

                def counted(x, y, w):
                    if done[0] == 7:
                        raise KeyboardInterrupt
                    done[0] += 1
                    return step(x, y, w)

                self.train_step = counted

            patch.setattr(Trainer, "prepare", prepare_then_count)
        with pytest.raises(KeyboardInterrupt):
            start_run(config_for(tiny_data, 2), run, progress=False)

    saved = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (saved["epoch"], saved["step"], saved["finished"]) == (
        (1, 0, False) if interrupt == "after_epoch_1" else (1, 2, False)
    )
    state = resume_run(run, progress=False)
    assert state.finished and state.epoch == 2 and state.global_step == 10

    expected, got = _final_state(uninterrupted), _final_state(run)
    assert expected.keys() == got.keys()  # model, optimizer and dropout-seed variables
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours = json.loads((run / "log.json").read_text())
    reference = json.loads((uninterrupted / "log.json").read_text())
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine["heldout_accuracy"] == theirs["heldout_accuracy"]
        assert mine["heldout_loss"] == pytest.approx(theirs["heldout_loss"], rel=1e-4)
    assert json.loads((run / "best.json").read_text())["epochs"] == json.loads(
        (uninterrupted / "best.json").read_text())["epochs"]
    # finished runs are not trained further
    assert resume_run(run, progress=False).global_step == 10



@pytest.mark.slow
def test_ctrl_c_after_an_early_stopping_epoch_resumes_to_the_stopped_run(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Patience 1 and a learning rate too small to move a weight (every block frozen, so no batch-norm
    statistic moves either): epoch 2 ties epoch 1 and the run stops. A Ctrl-C just after epoch 2's checkpoint
    used to leave a state that --resume trained a third epoch from."""
    from mesocli.models import build_model

    start = tmp_path / "start.weights.h5"
    build_model("meso4").save_weights(start)
    config = replace(config_for(tiny_data, 3), patience=1, learning_rate=1e-20, lr_min=1e-20, freeze_blocks=4,
                     init_weights=str(start))
    plain = start_run(replace(config), tmp_path / "plain", progress=False)
    assert plain.finished and plain.epoch == 2 and plain.history[0]["heldout_loss"] == plain.history[1]["heldout_loss"]
    end_epoch = Trainer.end_epoch

    def end_then_stop(self: Trainer, state: Any, record: dict[str, Any]) -> None:
        end_epoch(self, state, record)
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "end_epoch", end_then_stop)
        with pytest.raises(KeyboardInterrupt):
            start_run(replace(config), tmp_path / "cut", progress=True)
    said = capsys.readouterr().err  # the run had ended: no "continue with --resume", which would do nothing
    assert "interrupted after the run had ended (early stop" in said and "continue with" not in said
    resumed = resume_run(tmp_path / "cut", progress=False)
    assert resumed.finished and (resumed.epoch, resumed.global_step) == (plain.epoch, plain.global_step)


def test_sigterm_waits_for_a_held_block_as_ctrl_c_does() -> None:
    """Under the CLI, SIGTERM stops a run as Ctrl-C does, so it must wait for a step or checkpoint as well."""
    done = []
    with _sigterm_as_interrupt(), pytest.raises(Terminated):
        with interrupts_held():
            signal.raise_signal(signal.SIGTERM)
            done.append("the whole block")
    assert done == ["the whole block"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # as before the command


def test_sighup_waits_for_a_held_block_as_sigterm_does() -> None:
    """Found in review: SIGHUP (a closed terminal or SSH session) stops a run under the CLI as SIGTERM does, but
    :func:`interrupts_held` did not hold it back: it cut a training step between its update and its bookkeeping, or
    a checkpoint as it was written. It waits for the block, then stops the run (status 129)."""
    from mesocli.errors import HungUp

    previous = signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as a new process has it
    done = []
    try:
        with _sigterm_as_interrupt(), pytest.raises(HungUp):
            with interrupts_held():
                signal.raise_signal(signal.SIGHUP)
                done.append("the whole block")
        assert done == ["the whole block"]
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # as before the command
    finally:
        signal.signal(signal.SIGHUP, previous)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "saved_at", "number"),
    # (SIGTERM under the CLI is a Ctrl-C: the two are tried at two points each, not at every point, for time)
    [("after_update_8", (1, 3), signal.SIGTERM),  # epoch 2: the 8th step applied its update, its bookkeeping not done
     ("after_update_5", (0, 5), signal.SIGINT),  # the same after the last (partial) step of epoch 1
     ("heldout_scoring", (0, 5), signal.SIGINT),  # epoch 1 trained, its held-out part being scored
     ("saving_best", (1, 0), signal.SIGINT),  # epoch 1 being checkpointed: its best weights being written
     ("saving_best", (1, 0), signal.SIGTERM)],
)
def test_ctrl_c_at_any_point_resumes_to_the_uninterrupted_run_and_its_log(
    point: str, saved_at: tuple[int, int], number: int, uninterrupted: Path, tiny_data: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run = tmp_path / "run"

    def _ctrl_c() -> None:
        """A real Ctrl-C (or SIGTERM) to this process, handled (KeyboardInterrupt, or held back) before this
        returns."""
        signal.raise_signal(number)

    with monkeypatch.context() as patch:
        if point.startswith("after_update"):
            prepare, at = Trainer.prepare, int(point[-1])

            def prepare_then_count(self: Trainer) -> None:
                prepare(self)
                step, done = self.train_step, [0]

                def counted(x, y, w):
                    result = step(x, y, w)
                    done[0] += 1
                    if done[0] == at:
                        _ctrl_c()
                    return result

                self.train_step = counted

            patch.setattr(Trainer, "prepare", prepare_then_count)
        else:
            name = "evaluate_heldout" if point == "heldout_scoring" else "_save_best"
            original = getattr(Trainer, name)

            def interrupted(self: Trainer, *args):
                _ctrl_c()
                return original(self, *args)

            patch.setattr(Trainer, name, interrupted)
        with _sigterm_as_interrupt(), pytest.raises(KeyboardInterrupt):
            start_run(config_for(tiny_data, 2), run, progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is itself again

    saved = json.loads((run / "checkpoint" / "state.json").read_text())
    epoch, step = saved_at
    assert (saved["epoch"], saved["step"], saved["global_step"]) == (epoch, step, 5 * epoch + step)
    assert len(saved["history"]) == epoch
    state = resume_run(run, progress=False)
    assert state.finished and state.global_step == 10

    expected, got = _final_state(uninterrupted), _final_state(run)
    assert expected.keys() == got.keys()
    for key in expected:  # the optimizer's iteration count too: no step applied twice
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours = json.loads((run / "log.json").read_text())
    reference = json.loads((uninterrupted / "log.json").read_text())
    assert [row["epoch"] for row in ours] == [1, 2]
    for mine, theirs in zip(ours, reference, strict=True):  # the resumed epoch's row covers the whole epoch
        for key in ("learning_rate", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-4), (mine["epoch"], key)
        assert mine["seconds"] > 0 and mine["images_per_second"] > 0
    assert json.loads((run / "best.json").read_text())["epochs"] == json.loads(
        (uninterrupted / "best.json").read_text())["epochs"]


@pytest.mark.slow
def test_a_finished_run_extended_with_more_epochs_trains_as_one_planned_longer(
    uninterrupted: Path, one_epoch_copy: tuple[Path, Path], run_cli: RunCli
) -> None:
    _, run = one_epoch_copy  # start_run(config_for(data, 1), run): finished
    first_card = json.loads((run / "best.json").read_text())
    (started,) = json.loads((run / "config.json").read_text())["provenance"]  # when, and with what, it started
    versions = library_versions("tensorflow", ("onnxruntime", "numpy", "Pillow", "h5py"))
    assert started == {"started_at": started["started_at"], "epoch": 1, "step": 0, "mesocli": __version__,
                       "mesocli_code": code_digest(), "libraries": versions} and all(versions.values())
    assert first_card["provenance"] == {"mesocli": __version__, "mesocli_code": code_digest(), "libraries": versions,
                                        "sessions": [started]}

    code, out, err = run_cli("train", "--resume", run, "--epochs", "2")
    assert code == 0, err
    resumed = json.loads((run / "config.json").read_text())["provenance"]  # the start kept, the resume added
    assert resumed[0] == started and resumed[1]["epoch"] == 2 and len(resumed) == 2
    assert started["started_at"] <= resumed[1]["started_at"] and resumed[1]["libraries"] == versions
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["epoch"], state["global_step"], state["finished"]) == (2, 10, True)
    expected, got = _final_state(uninterrupted), _final_state(run)
    for key in expected:  # batches, augmentation and learning rate depend on (seed, epoch, step) only
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    config = json.loads((run / "config.json").read_text())
    assert config["epochs"] == 2 and config["patience"] == 10
    assert config["extensions"] == [{"after_epoch": 1, "epochs": [1, 2], "patience": [10, 10],
                                     "command": f"mesocli train --resume {run} --epochs 2"}]
    card = json.loads((run / "best.json").read_text())
    if card["epochs"] == 2:  # a card written after the extension says how the run got there
        assert card["command"] == f"pytest && mesocli train --resume {run} --epochs 2"
        assert card["provenance"]["sessions"] == resumed
    else:
        assert card == first_card
    assert len(json.loads((run / "log.json").read_text())) == 2

    # the same plan again is not a change: nothing is trained, nothing recorded
    code, _, err = run_cli("train", "--resume", run, "--epochs", "2")
    assert code == 0 and "already finished" in err
    assert json.loads((run / "config.json").read_text()) == config


@pytest.mark.parametrize(("stop", "sessions"), [
    ("ctrl_c_reading_the_data", 1),  # Ctrl-C before the first step: no session
    ("crash_reading_the_data", 1),  # an error that is no UsageError (a bug, memory): no session either
    ("ctrl_c_after_the_first_step", 2),  # the resume trained a step: it is a session of the run
])
def test_a_resume_stopped_before_its_first_step_records_no_session(
    stop: str, sessions: int, one_epoch_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train --resume`` stopped by Ctrl-C or a crash while it read the data still added a session to
    ``config.json``'s ``provenance``, as if it had trained; a session is written at its first step."""
    _, run = one_epoch_copy  # start_run(config_for(data, 1), run): finished
    started = json.loads((run / "config.json").read_text())["provenance"]
    prepare = Trainer.prepare

    def prepare_then_stop(self: Trainer) -> None:
        prepare(self)
        if stop == "ctrl_c_reading_the_data":
            raise KeyboardInterrupt
        if stop == "crash_reading_the_data":
            raise RuntimeError("out of memory")
        step = self.train_step

        def stepped(x, y, w):
            result = step(x, y, w)
            signal.raise_signal(signal.SIGINT)  # held until the step is counted
            return result

        self.train_step = stepped

    monkeypatch.setattr(Trainer, "prepare", prepare_then_stop)
    with pytest.raises(KeyboardInterrupt if "ctrl_c" in stop else RuntimeError):
        resume_run(run, progress=False, epochs=2)
    recorded = json.loads((run / "config.json").read_text())
    assert len(recorded["provenance"]) == sessions and recorded["provenance"][0] == started[0]
    assert recorded["epochs"] == 2  # the plan as extended (an extension records its own command)
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (state["epoch"], state["step"]) == (1, sessions - 1)
    if sessions == 2:
        assert recorded["provenance"][1]["epoch"] == 2 and recorded["provenance"][1]["step"] == 0


@pytest.mark.slow
def test_a_run_started_on_a_relative_path_resumes_from_another_folder(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    monkeypatch.chdir(tiny_data.parent)
    run = tmp_path / "run"
    assert start_run(config_for(Path(tiny_data.name), 1), run, progress=False).finished
    monkeypatch.chdir(tmp_path)  # the data's relative path does not open from here
    code, _, err = run_cli("train", "--resume", run, "--epochs", "2")
    assert code == 0, err
    card = json.loads((run / "best.json").read_text())
    assert card["data"]["sources"][0]["root"] == tiny_data.name  # recorded as given
    assert card["name"] == "run/best.weights.h5"  # a trained file is not named like a bundled detector
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 2


@pytest.mark.slow
def test_an_early_stopped_run_given_more_epochs_says_to_raise_patience_and_trains_one_more(
    run_copy: Path, run_cli: RunCli
) -> None:
    state_file = run_copy / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    state["stale_epochs"] = 10  # as if the run had stopped early on patience 10
    state_file.write_text(json.dumps(state))

    code, _, err = run_cli("train", "--resume", run_copy, "--epochs", "4")
    assert code == 0, err
    assert "raise --patience too" in err
    after = json.loads(state_file.read_text())
    assert after["finished"] and after["epoch"] == 3 and "early stop" in err  # one epoch, then the rule again

    code, _, err = run_cli("train", "--resume", run_copy, "--patience", "20")
    assert code == 0 and "raise --patience" not in err
    assert json.loads(state_file.read_text())["epoch"] == 4
    assert [change["patience"] for change in json.loads((run_copy / "config.json").read_text())["extensions"]] == [
        [10, 10], [10, 20]]


@pytest.mark.slow
def test_an_extension_refused_because_the_data_moved_is_not_recorded(
    one_epoch_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    """``--resume --epochs N`` on a run whose data folder was moved fails before any step; its config.json and
    state are as they were, so the run resumes as planned once the data is back."""
    data, run = one_epoch_copy  # start_run(config_for(data, 1), run)
    before = {name: (run / name).read_bytes() for name in ("config.json", "checkpoint/state.json")}
    data.rename(tmp_path / "moved")
    with pytest.raises(UsageError, match="dataset not found"):
        resume_run(run, progress=False, epochs=2)
    assert {name: (run / name).read_bytes() for name in before} == before


def test_resume_and_soups_refuse_a_run_whose_data_changed(one_epoch_copy: tuple[Path, Path], tmp_path: Path) -> None:
    """Files added after a run started would redraw its held-out part (faces it trained on held out, the
    batches' order another): --resume and the held-out scoring of averaging refuse instead."""
    from mesocli.averaging import greedy_soup

    data, run = one_epoch_copy  # start_run(config_for(data, 1), run)
    rng = np.random.default_rng(5)
    for cls in ("df", "real"):
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, size=(80, 80, 3), dtype=np.uint8)).save(
                data / "train" / cls / f"{900 + i:05d}.jpg")
    saved = (run / "checkpoint" / "state.json").read_text()
    planned = (run / "config.json").read_text()
    with pytest.raises(UsageError, match="the run's data changed since it started"):
        resume_run(run, progress=False, epochs=2)
    assert (run / "config.json").read_text() == planned  # the refused extension is not recorded
    with pytest.raises(UsageError, match="the run's data changed since it started"):
        greedy_soup(run, [run / "checkpoints" / "epoch_001.weights.h5", run / "best.weights.h5"], write=False,
                    progress=False)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == json.loads(saved)["epoch"]
    later = tmp_path / "later"  # the same settings on the changed data: the same held-out key, other faces
    start_run(config_for(data, 1), later, progress=False)
    for cls in ("df", "real"):  # the data as it was: the run goes on
        for i in range(4):
            (data / "train" / cls / f"{900 + i:05d}.jpg").unlink()
    with pytest.raises(UsageError, match="the data changed between the runs"):
        greedy_soup(run, [run / "checkpoints" / "epoch_001.weights.h5", later / "best.weights.h5"], write=False,
                    progress=False)
    assert resume_run(run, progress=False, epochs=2).epoch == 2


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--epochs", "1"), "--epochs 1: the run in {run} has reached epoch 2; give at least 2"),
        (("--patience", "0"), "--patience 0: must be at least 1"),
        (("--learning-rate", "0.01", "--epochs", "3"),
         "--resume continues a run with the settings in its config.json; only --epochs and --patience can "
         "change: drop --learning-rate"),
        (("--seed", "1", "--out", "elsewhere"), "drop --out, --seed"),
    ],
)
def test_resume_refuses_what_it_cannot_change_and_leaves_the_run_as_it_was(
    args: tuple[str, ...], message: str, run_copy: Path, run_cli: RunCli
) -> None:
    before = {path: path.read_bytes() for path in run_copy.rglob("*") if path.is_file()}
    code, out, err = run_cli("train", "--resume", run_copy, *args)
    assert code == 2 and out == ""
    assert err.strip().endswith(message.format(run=run_copy)) and len(err.strip().splitlines()) == 1
    assert {path: path.read_bytes() for path in run_copy.rglob("*") if path.is_file()} == before


def _gradient_energy(images: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3))


def test_rescale_augmentation_blurs_the_chosen_share_and_is_seeded() -> None:
    from mesocli._tf import import_tensorflow
    from mesocli.augment import augment_fn

    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    faces = tf.constant(rng.integers(0, 256, size=(16, 256, 256, 3), dtype=np.uint8))
    seed = tf.constant([0, 5], tf.int64)
    paper = augment_fn(tf)(faces, seed).numpy()
    assert np.array_equal(augment_fn(tf, 0.0)(faces, seed).numpy(), paper)  # 0 = the paper's recipe

    always = augment_fn(tf, 1.0)(faces, seed).numpy()
    assert always.shape == paper.shape and 0.0 <= always.min() and always.max() <= 1.0
    assert (_gradient_energy(always) < 0.9 * _gradient_energy(paper)).all()  # every face lost fine texture
    assert np.array_equal(augment_fn(tf, 1.0)(faces, seed).numpy(), always)  # a function of the seed

    half = augment_fn(tf, 0.5)(faces, seed).numpy()
    changed = np.abs(half - paper).reshape(16, -1).max(axis=1) > 0
    assert 0 < changed.sum() < 16
    assert np.allclose(half[~changed], paper[~changed])


def test_degradations_change_the_picked_faces_only_and_are_seeded() -> None:
    from mesocli._tf import import_tensorflow
    from mesocli.augment import degrade

    tf = import_tensorflow()
    rng = np.random.default_rng(1)
    # smooth faces (a gradient plus a little texture): blur, noise and JPEG each leave a measurable trace
    ramp = np.linspace(0, 200, 256, dtype=np.float32)[None, :, None, None] + np.zeros((12, 256, 256, 3), np.float32)
    faces = tf.constant(ramp + rng.normal(0, 10, size=ramp.shape).astype(np.float32))
    seed = tf.constant([3, 9], tf.int64)
    assert np.array_equal(degrade(tf, faces, seed, 0.0).numpy(), faces.numpy())  # nothing picked
    always = degrade(tf, faces, seed, 1.0).numpy()
    assert 0.0 <= always.min() and always.max() <= 255.0
    assert (np.abs(always - faces.numpy()).reshape(12, -1).mean(axis=1) > 0.5).all()  # every face changed
    assert (_gradient_energy(always) < _gradient_energy(faces.numpy())).all()  # blur + JPEG remove fine texture
    assert np.array_equal(degrade(tf, faces, seed, 1.0).numpy(), always)  # a function of the seed
    some = degrade(tf, faces, seed, 0.3).numpy()
    untouched = np.abs(some - faces.numpy()).reshape(12, -1).max(axis=1) == 0
    assert 0 < untouched.sum() < 12


def test_no_augment_still_applies_the_degradations_and_resampling_blur_asked_for(
    tiny_data: Path, tmp_path: Path
) -> None:
    """``--no-augment`` turns off the paper's augmentation only: ``--degrade-prob`` / ``--rescale-prob`` stay on
    (they were silently dropped), without flips or rotations; with neither, faces reach the step as decoded."""

    def first_batch(**settings: Any) -> tuple[np.ndarray, np.ndarray]:
        config = replace(config_for(tiny_data, 1), augment=False, **settings)
        trainer = Trainer(config, tmp_path / "run", progress=False)
        trainer.prepare()  # decodes the tiny split; trains nothing
        x, _, _ = next(iter(trainer.batches(0)[1]))
        order = np.random.default_rng([config.seed, 0]).permutation(trainer.train_idx)[: config.batch_size]
        return x.numpy(), trainer.images[order].astype(np.float32) / 255

    plain, decoded = first_batch()
    np.testing.assert_array_equal(plain, decoded)
    for settings in ({"degrade_prob": 1.0}, {"rescale_prob": 1.0}):
        changed, decoded = first_batch(**settings)
        difference = np.abs(changed - decoded).reshape(len(decoded), -1).mean(axis=1)
        assert (difference > 0.002).all(), settings  # every face degraded or resampled ...
        assert (difference < 0.15).all(), settings  # ... in place: no flip, rotation, zoom or colour change


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--rescale-prob", "1.5", "--rescale-prob 1.5: must be in [0, 1]"),
     ("--val-fraction", "1", "--val-fraction 1.0: must be in [0, 1)"),
     ("--epochs", "0", "--epochs 0: must be at least 1"),
     ("--label-smoothing", "1", "--label-smoothing 1.0: must be in [0, 1)"),
     ("--resize", "bicubic", "--resize bicubic: must be one of bilinear, nearest"),
     # NumPy's seeds: these were tracebacks (ValueError: expected non-negative integer) after TensorFlow loaded
     ("--seed", "-1", "--seed -1: must be in [0, 4294967295]"),
     ("--seed", "4294967296", "--seed 4294967296: must be in [0, 4294967295]"),
     ("--heldout-seed", "-2", "--heldout-seed -2: must be 0 or more")],
)
def test_out_of_range_training_options_are_refused_before_anything_is_written(
    option: str, value: str, message: str, tiny_data: Path, tmp_path: Path,
    run_cli: RunCli,
) -> None:
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, option, value)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not run.exists()



@pytest.mark.slow
def test_the_largest_seed_trains(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """Each epoch seeds Keras with ``seed * 1000 + epoch``: from --seed 4294968 on that passed NumPy's 2**32 - 1
    and the run stopped with a traceback at its first epoch, leaving a folder that every --resume stopped in."""
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--seed", "4294967295", "-q")
    assert code == 0, err
    assert json.loads((run / "best.json").read_text())["seed"] == 4294967295


@pytest.mark.parametrize(
    ("data", "option", "message"),
    [("tiny", ("--batch-size", "100"),
      "only 43 training images, fewer than one batch (100): give a smaller --batch-size, or more images"),
     ("missing", (), "is not a folder")],
)
def test_a_start_refused_on_its_data_leaves_no_folder_behind(
    data: str, option: tuple[str, ...], message: str, tiny_data: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    root = tiny_data if data == "tiny" else tmp_path / "missing"
    code, out, err = run_cli("train", root, "--out", tmp_path / "new" / "runs" / "run", *option, "-q")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()  # nor the folders above --out that the start made
    kept = tmp_path / "kept"  # a folder that was there before stays
    kept.mkdir()
    assert run_cli("train", root, "--out", kept, *option, "-q").code == 2
    assert kept.is_dir() and not any(kept.iterdir())


@pytest.mark.slow
def test_no_class_weights_trains_with_equal_weights(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--no-class-weights")
    assert code == 0, err
    assert "class weights df=1.000 real=1.000" in err
    assert json.loads((run / "config.json").read_text())["class_weights"] is False


@pytest.mark.slow
def test_label_smoothing_trains_towards_softened_targets(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """The training step's loss is cross-entropy against the targets 1 - e/2 and e/2, on a fixed batch through the
    real model; the loss against the hard 0 / 1 targets differs from it by far more than round-off. (The old check,
    losses above the entropy of the soft targets, held with the option ignored: the tiny run's losses are ~2.)"""
    run = tmp_path / "run"
    code, _, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--loss", "bce",
                           "--learning-rate", "0.01", "--label-smoothing", "0.4")
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["label_smoothing"] == 0.4

    trainer = Trainer(replace(config_for(tiny_data, 1), loss="bce", label_smoothing=0.4), tmp_path / "step",
                      progress=False)
    trainer.prepare()
    labels = trainer.labels[trainer.train_idx]
    index = np.concatenate([trainer.train_idx[labels == c][:4] for c in (0, 1)])  # a fixed batch of both classes
    x = trainer.images[index].astype(np.float32) / 255.0
    y, w = trainer.labels[index], trainer.sample_weights[index]
    variables = trainer._variables()  # model (with dropout's seed state) and optimizer
    before = [v.numpy() for v in variables]
    loss, _ = trainer.train_step(x, y, w)
    for variable, value in zip(variables, before, strict=True):
        variable.assign(value)  # the same weights, batch statistics and dropout masks as the step saw
    p = np.clip(trainer.model(x, training=True).numpy()[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)

    def cross_entropy(target: np.ndarray) -> float:
        return float(np.sum(w * -(target * np.log(p) + (1 - target) * np.log(1 - p))) / np.sum(w))

    smoothed, hard = cross_entropy(y * 0.6 + 0.2), cross_entropy(y)
    assert abs(smoothed - hard) > 0.05
    assert float(loss) == pytest.approx(smoothed, rel=1e-4)


@pytest.mark.slow
def test_resize_nearest_trains_on_nearest_resized_faces_and_the_card_says_so(
    tiny_data: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    """``--resize nearest`` decodes the (varied-size) crops as the authors' Keras loader did; the card records it,
    so eval and explain read faces the same way for these weights."""
    from mesocli.preprocess import load_face
    from mesocli.weights import resize_of

    trainer = Trainer(replace(config_for(tiny_data, 1), resize="nearest"), tmp_path / "step", progress=False)
    trainer.prepare()
    index = int(trainer.train_idx[0])
    path = trainer.data.combined.paths[index]
    assert Image.open(path).size != (256, 256)
    np.testing.assert_array_equal(trainer.images[index], load_face(path, resize="nearest"))
    assert not np.array_equal(trainer.images[index], load_face(path, resize="bilinear"))

    start = write_bundle(tmp_path, [("meso4", "df", 5, 1.0)]) / "meso4_df.weights.h5"  # its card: bilinear
    run = tmp_path / "run"
    code, _, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--resize", "nearest", "--init-weights",
                           start)
    assert code == 0, err
    assert "note: meso4_df.weights.h5 was trained on crops resized bilinear; this run resizes nearest" in err
    assert json.loads((run / "config.json").read_text())["resize"] == "nearest"
    card = json.loads((run / "best.json").read_text())
    assert card["resize"] == "nearest" and "nearest resize" in card["preprocessing"]
    assert resize_of(load_weights(run / "best.weights.h5", "meso4")) == "nearest"


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["meso4", "mesoinception4"])
def test_frozen_blocks_keep_their_starting_weights_while_the_rest_learns(
    tiny_data: Path, tmp_path: Path, run_cli: RunCli, arch: str
) -> None:
    from mesocli.models import build_model, count_trainable

    start = write_bundle(tmp_path, [(arch, "df", 5, 1.0)]) / f"{arch}_df.weights.h5"  # seeded init, with its card
    run = tmp_path / "run"
    code, _, err = run_cli("train", tiny_data, "--out", run, "--arch", arch, *ONE_EPOCH, "--learning-rate", "0.01",
                           "--init-weights", start, "--freeze-blocks", "2")
    assert code == 0, err
    assert "frozen: the first 2 feature blocks" in err
    before, after = load_weights(start), load_weights(run / "best.weights.h5")
    layers = [(a.name, a.get_weights(), b.get_weights()) for a, b in zip(before.model.layers, after.model.layers,
                                                                         strict=True) if a.weights]
    norms = [i for i, (name, _, _) in enumerate(layers) if name.startswith("batch_normalization")]
    frozen, free = layers[: norms[1] + 1], layers[norms[1] + 1:]
    for name, old, new in frozen:  # kernels, biases and the batch norms' moving statistics
        assert all(np.array_equal(o, n) for o, n in zip(old, new, strict=True)), name
    for name, old, new in free:
        assert not all(np.array_equal(o, n) for o, n in zip(old, new, strict=True)), name
    card = after.card
    assert card is not None and card.data["frozen_blocks"] == 2
    assert card.metrics["trainable_params"] < count_trainable(build_model(arch))  # what an unfrozen run trains


def test_freezing_more_blocks_than_the_network_has_is_refused(tiny_data: Path, tmp_path: Path,
                                                              run_cli: RunCli) -> None:
    code, _, err = run_cli("train", tiny_data, "--out", tmp_path / "run", *ONE_EPOCH, "--freeze-blocks", "5")
    assert code != 0 and "--freeze-blocks 5: must be in [0, 4]" in err
    assert not (tmp_path / "run").exists()


def test_freezing_blocks_without_starting_weights_is_refused(tiny_data: Path, tmp_path: Path,
                                                            run_cli: RunCli) -> None:
    """Frozen blocks keep the weights they start with: without --init-weights, random ones (it trained that way)."""
    code, _, err = run_cli("train", tiny_data, "--out", tmp_path / "run", *ONE_EPOCH, "--freeze-blocks", "2")
    assert code == 2 and "--freeze-blocks 2 keeps blocks as they start: it needs --init-weights" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_force_drops_the_old_runs_epochs_so_averaging_never_mixes_two_runs(run_copy: Path, tiny_data: Path) -> None:
    """A two-epoch run started over with --force for one epoch (another seed, so another held-out part): only the
    new run's epoch is left to average; files that are not the run's stay."""
    from mesocli.averaging import epoch_files

    (run_copy / "averaged.weights.h5").write_bytes(b"old")
    (run_copy / "notes.txt").write_text("mine")
    config = replace(config_for(tiny_data, 1), seed=8)
    start_run(config, run_copy, force=True, progress=False)
    assert list(epoch_files(run_copy)) == [1]
    assert not (run_copy / "averaged.weights.h5").exists() and (run_copy / "notes.txt").read_text() == "mine"
    card = load_weights(run_copy / "best.weights.h5", "meso4").card
    assert card is not None and card.seed == 8 and card.epochs == 1
    assert [row["epoch"] for row in json.loads((run_copy / "log.json").read_text())] == [1]


@pytest.mark.slow
def test_averaging_a_run_writes_the_mean_of_its_epochs_scored_on_its_held_out_part(
    run_copy: Path
) -> None:
    from mesocli.averaging import average_run, epoch_files

    run = run_copy
    files = epoch_files(run)
    assert list(files) == [1, 2]
    result = average_run(run, progress=False)
    assert result.epochs == [1, 2] and result.path == run / "averaged.weights.h5"
    assert set(result.heldout) >= {"heldout_loss", "heldout_accuracy", "heldout_auc"}
    assert result.best_epoch in (1, 2) and "heldout_auc" in result.best_heldout
    epochs = [load_weights(path, "meso4").model.get_weights() for path in files.values()]
    averaged = load_weights(result.path, "meso4")
    assert averaged.card is not None and averaged.card.metrics["averaged_epochs"] == [1, 2]
    for got, first, second in zip(averaged.model.get_weights(), *epochs, strict=True):
        np.testing.assert_allclose(got, (first + second) / 2, rtol=1e-6, atol=1e-7)
    assert not np.allclose(epochs[0][0], epochs[1][0])  # two different epochs, so the mean is a new point
    with pytest.raises(UsageError, match="need at least two kept epochs"):
        average_run(run, [2], write=False, progress=False)
    with pytest.raises(UsageError, match="kept: 1, 2"):
        average_run(run, [1, 5], write=False, progress=False)


@pytest.mark.slow
def test_interpolating_a_run_with_its_start_keeps_the_alpha_its_held_out_part_prefers(
    run_copy: Path
) -> None:
    from mesocli.averaging import average_run, epoch_files
    from mesocli.training import selection_score

    run = run_copy
    with pytest.raises(UsageError, match="did not start from weights"):
        average_run(run, [2], write=False, progress=False, alphas=[0.5])
    files = epoch_files(run)
    log = {row["epoch"]: row for row in json.loads((run / "log.json").read_text())}
    # an explicit start file needs no --init-weights; α = 0 is that file itself
    explicit = average_run(run, [2], progress=False, alphas=[0.0], start=files[1])
    assert explicit.heldout["heldout_auc"] == pytest.approx(log[1]["heldout_auc"], abs=1e-6)
    start_card = load_weights(explicit.path, "meso4").card
    assert start_card is not None and start_card.metrics["start"]["file"] == files[1].name
    config = json.loads((run / "config.json").read_text())
    config["init_weights"] = str(files[1])  # pretend the run started from its first epoch
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match=r"in \[0, 1\]"):
        average_run(run, [2], write=False, progress=False, alphas=[0.5, 1.5])

    result = average_run(run, [2], progress=False, alphas=[0.0, 0.5, 1.0])
    assert result.epochs == [2] and [tried["alpha"] for tried in result.sweep] == [0.0, 0.5, 1.0]
    best = max(result.sweep, key=lambda tried: selection_score(config["select"], tried["heldout"]))
    assert result.alpha == best["alpha"] and result.heldout == best["heldout"]
    # α = 0 is the start and α = 1 the epoch itself: their held-out figures are the log's
    for alpha, epoch in ((0.0, 1), (1.0, 2)):
        tried = next(tried for tried in result.sweep if tried["alpha"] == alpha)
        assert tried["heldout"]["heldout_auc"] == pytest.approx(log[epoch]["heldout_auc"], abs=1e-6)
    first, second = (load_weights(files[epoch], "meso4").model.get_weights() for epoch in (1, 2))
    kept = load_weights(result.path, "meso4")
    assert kept.card is not None and kept.card.metrics["interpolated_with_start"] == result.alpha
    for got, start, end in zip(kept.model.get_weights(), first, second, strict=True):
        np.testing.assert_allclose(got, (1 - result.alpha) * start + result.alpha * end, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_a_greedy_soup_keeps_ingredients_that_help_and_refuses_runs_with_another_held_out_part(
    run_copy: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    from mesocli.averaging import epoch_files, greedy_soup
    from mesocli.training import selection_score

    run = run_copy
    other = tmp_path / "other-seed"
    shutil.copytree(uninterrupted, other)
    config = json.loads((other / "config.json").read_text())
    config["seed"] += 1
    (other / "config.json").write_text(json.dumps(config))
    files = epoch_files(run)
    with pytest.raises(UsageError, match="did not draw the held-out part"):
        greedy_soup(run, [files[1], epoch_files(other)[2]], write=False, progress=False)
    with pytest.raises(UsageError, match="no such weights file"):
        greedy_soup(run, [files[1], run / "missing.weights.h5"], write=False, progress=False)
    with pytest.raises(UsageError, match="at least two"):
        greedy_soup(run, [files[1]], write=False, progress=False)

    soup = greedy_soup(run, [files[1], files[2]], progress=False)
    select = json.loads((run / "config.json").read_text())["select"]
    ranked = [selection_score(select, entry["heldout"]) for entry in soup.candidates]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == 2
    assert soup.ingredients[0] == soup.candidates[0]["file"]
    second = soup.candidates[1]
    kept = len(soup.ingredients) == 2
    assert kept == (selection_score(select, second["soup_heldout"]) >= ranked[0])
    assert soup.heldout == (second["soup_heldout"] if kept else soup.candidates[0]["heldout"])
    written = load_weights(soup.path, "meso4")
    assert written.card is not None and [item["file"] for item in written.card.metrics["soup"]] == soup.ingredients
    members = [load_weights(Path(item), "meso4").model.get_weights() for item in soup.ingredients]
    for got, *arrays in zip(written.model.get_weights(), *members, strict=True):
        np.testing.assert_allclose(got, np.mean(arrays, axis=0), rtol=1e-6, atol=1e-7)


def test_a_soup_refuses_runs_that_held_out_runs_of_files_or_nothing(tiny_data: Path, tmp_path: Path) -> None:
    """Same root, seed and fraction, but ``runs`` or ``heldout: false``: another held-out part (or none, so
    a run that trained on every face), not soup material."""
    from dataclasses import asdict

    from mesocli.averaging import greedy_soup, heldout_key
    from mesocli.sources import Source

    single = config_for(tiny_data, 1)
    configs = {"single": single,
               "runs": replace(single, sources=[asdict(Source(str(tiny_data), "train", runs=4))]),
               "whole": replace(single, sources=[asdict(Source(str(tiny_data), "train", heldout=False))])}
    held = {}
    for name, config in configs.items():
        trainer = Trainer(config, tmp_path / name, progress=False)
        trainer.prepare()  # decodes the tiny split; trains nothing
        held[name] = set(trainer.held_idx.tolist())
        (tmp_path / name / "checkpoints").mkdir(parents=True)
        (tmp_path / name / "config.json").write_text(json.dumps(asdict(config)))
        (tmp_path / name / "checkpoints" / "epoch_001.weights.h5").write_bytes(b"")
    assert held["single"] != held["runs"] and not held["whole"]  # the other runs trained on held-out faces
    for other in ("runs", "whole"):
        assert heldout_key(configs[other]) != heldout_key(single)
        with pytest.raises(UsageError, match="did not draw the held-out part"):
            greedy_soup(tmp_path / "single", [tmp_path / "single" / "checkpoints" / "epoch_001.weights.h5",
                                              tmp_path / other / "checkpoints" / "epoch_001.weights.h5"],
                        write=False, progress=False)


@pytest.mark.slow
def test_heldout_ensemble_rebuilds_a_runs_held_out_part_from_its_card_and_refuses_another_draw(
    run_copy: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "heldout_ensemble.py"
    spec = importlib.util.spec_from_file_location("heldout_ensemble", script)
    heldout_ensemble = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(heldout_ensemble)
    card = run_copy / "best.json"
    monkeypatch.setattr(sys, "argv", ["heldout_ensemble.py", str(card), str(card)])
    heldout_ensemble.main()
    report = json.loads(capsys.readouterr().out)
    logged = json.loads(card.read_text())["metrics"]["heldout"]
    alone, mean = report["results"].values()  # the same detector twice: the mean is the detector itself
    # the run's own held-out figures, to the script's 4 digits: both score on ONNX Runtime
    assert alone["auc"] == pytest.approx(logged["heldout_auc"], abs=5.1e-5)
    assert alone["accuracy"] == pytest.approx(logged["heldout_accuracy"], abs=5.1e-5)
    assert mean == alone and report["faces"] == 12
    other = run_copy / "other.json"
    drawn = json.loads(card.read_text())
    drawn["data"]["heldout_seed"] = 8
    other.write_text(json.dumps(drawn))
    monkeypatch.setattr(sys, "argv", ["heldout_ensemble.py", str(card), str(other)])
    with pytest.raises(SystemExit, match="did not draw the same held-out part"):
        heldout_ensemble.main()
    drawn = json.loads(card.read_text())
    drawn["data"]["sources"][0]["runs"] = 4  # same files and seed, but runs of files held out
    other.write_text(json.dumps(drawn))
    with pytest.raises(SystemExit, match="did not draw the same held-out part"):
        heldout_ensemble.main()


@pytest.mark.slow
def test_a_dataset_of_all_faces_crops_trains_with_no_person_on_both_sides(tmp_path: Path, run_cli: RunCli) -> None:
    """``extract --all-faces --layout dataset`` names crops ``<video>_t<track>_<frame>``: the track token is
    no person, so the held-out part is drawn by video pair, not the whole source (was: 0 training images)."""
    from media import make_faces

    from mesocli.sources import identity_tokens
    from mesocli.training import load_run_data, split_run_data

    root = tmp_path / "data"
    make_faces(root / "train", {"df": 32, "real": 32})
    videos = {"real": [f"{i:03d}" for i in range(8)], "df": [f"{i:03d}_{i ^ 1:03d}" for i in range(8)]}
    for label, names in videos.items():  # 4 pairs of people, 16 faces each: 2 tracks x 2 frames a video
        new = [f"{video}_t{track}_{frame:04d}.png" for video in names for track in (0, 1) for frame in (0, 12)]
        for path, name in zip(sorted((root / "train" / label).iterdir()), new, strict=True):
            path.rename(path.with_name(name))
    header = {"type": "header", "settings": {"all_faces": True, "layout": "dataset"}}  # as extract writes it
    (root / "manifest.jsonl").write_text(json.dumps(header) + "\n")
    code, out, err = run_cli("train", root, "--out", tmp_path / "run", *ONE_EPOCH, "--seed", "7")
    assert code == 0, err
    assert "training on 48 (df 24, real 24), held out 16" in err  # one pair of people of four held out
    assert "note: held out" not in err  # 25 % as --val-fraction asks: no note

    config = config_for(root, 1)
    data = load_run_data(config)
    train, held = split_run_data(config, data, np.arange(len(data.labels)))
    people = [identity_tokens(path, tracks=True) for path in data.combined.paths]
    held_people, train_people = (frozenset().union(*(people[i] for i in part)) for part in (held, train))
    assert len(held_people) == 2 and len(train_people) == 6 and not held_people & train_people
    assert not any(token.startswith("t") for token in held_people | train_people)


@pytest.mark.slow
def test_an_extension_refused_on_changed_data_leaves_an_early_stopped_run_stopped(
    one_epoch_copy: tuple[Path, Path]
) -> None:
    """--resume --epochs N on changed data is refused: neither config.json nor the saved state may keep the
    extension (a reopened state made a later plain --resume train on after the early stop)."""
    data, run = one_epoch_copy  # start_run(config_for(data, 1), run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "epochs": 3}))  # as if it stopped early at epoch 1 of 3
    before = {path: path.read_bytes() for path in (run / "config.json", run / "checkpoint" / "state.json")}
    added = data / "train" / "df" / "00900.jpg"
    Image.fromarray(np.zeros((80, 80, 3), dtype=np.uint8)).save(added)
    with pytest.raises(UsageError, match="the run's data changed since it started"):
        resume_run(run, progress=False, epochs=4)
    assert {path: path.read_bytes() for path in before} == before
    added.unlink()  # the data as it was: the run is still the early-stopped one
    state = resume_run(run, progress=False)
    assert state.finished and state.epoch == 1
    assert not (run / "checkpoints" / "epoch_002.weights.h5").exists()


def test_an_epoch_trains_on_every_training_image_once(tmp_path: Path) -> None:
    """With N mod B images over whole batches, the last, partial batch is trained on too (it was left out:
    3 of these 11 faces were never seen that epoch)."""
    from media import make_faces

    from mesocli.checkpoint import TrainState

    data = make_faces(tmp_path / "data", {"df": 6, "real": 5}, size=(32, 32), seed=4)
    config = TrainConfig(data=str(data), epochs=1, batch_size=4, val_fraction=0.0, augment=False, seed=2,
                         command="pytest")
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer.prepare()
    step, fed = trainer.train_step, []

    def counted(x, y, w):
        fed.extend(np.round(x.numpy() * 255).astype(np.uint8))  # --no-augment: the decoded faces, /255
        return step(x, y, w)

    trainer.train_step = counted
    state = TrainState()
    record = trainer.run_epoch(state)
    assert len(trainer.train_idx) == 11 and len(fed) == 11 and state.step == 3
    assert sorted(face.tobytes() for face in fed) == sorted(trainer.images[i].tobytes() for i in trainer.train_idx)
    assert record["images_per_second"] > 0
    assert step.experimental_get_tracing_count() == 1  # batches of 4, 4 and 3: the smaller one was traced again


def test_the_held_out_loss_is_the_runs_loss(tiny_data: Path, tmp_path: Path) -> None:
    """``--loss bce``: the held-out loss is binary cross-entropy as training's (it was always the MSE), of the
    P(real) the held-out part is scored with (ONNX Runtime's, as eval's): the same to the last digits."""
    from mesocli.runtime import keras_onnx_predictor

    for loss in ("mse", "bce"):
        trainer = Trainer(replace(config_for(tiny_data, 1), loss=loss), tmp_path / loss, progress=False)
        trainer.prepare()  # an untrained network scores the held-out part
        p = keras_onnx_predictor(trainer.model, trainer.config.arch).p_real(trainer.images[trainer.held_idx])
        p = np.clip(p, 1e-7, 1 - 1e-7)
        y = trainer.labels[trainer.held_idx]
        expected = (np.mean((p - y) ** 2) if loss == "mse"
                    else np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))
        assert trainer.evaluate_heldout()["heldout_loss"] == pytest.approx(float(expected), rel=1e-12), loss


def test_the_held_out_figures_are_evals_of_the_saved_weights(tiny_data: Path, tmp_path: Path) -> None:
    """Training scores its held-out part as ``eval`` scores the weights it saves (ONNX Runtime, eval's and scan's
    default): the same figures. It scored with Keras, whose P(real) differs from ONNX Runtime's by ~1e-7: where the
    float32 sigmoid saturates near 1.0 that breaks or makes ties, and this held-out AUC was 0.43 in training and 0.73
    in eval (0.8855 and 0.8888 on a real run's FF++ part)."""
    from mesocli.evaluate import evaluate
    from mesocli.runtime import load_onnx
    from mesocli.training import heldout_loss

    trainer = Trainer(config_for(tiny_data, 1), tmp_path / "run", progress=False)  # crops of 64-300 px, JPEG
    trainer.prepare()
    before = trainer.evaluate_heldout()  # a graph kept from this scoring would score the weights set below wrong
    head = [layer for layer in trainer.model.layers if layer.weights][-1]
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 50, bias * 50 + 16])  # P(real) near 1, on float32's coarse steps there
    figures = trainer.evaluate_heldout()
    weights = tmp_path / "saturated.weights.h5"
    trainer.save_model(weights, 1, figures)
    report = evaluate(load_onnx(weights), trainer.data.combined.subset(trainer.held_idx), bootstrap=0)
    assert len(np.unique(report.p_fake)) < len(report.p_fake)  # ties: what the runtimes decided differently
    y = trainer.labels[trainer.held_idx]
    assert figures["heldout_auc"] == pytest.approx(report.auc, abs=1e-12)
    assert figures["heldout_accuracy"] == report.accuracy
    assert figures["heldout_loss"] == heldout_loss(trainer.config.loss, 1 - report.p_fake, y) != before["heldout_loss"]


def test_the_run_records_the_onnx_runtime_that_scored_its_held_out_part() -> None:
    """The held-out figures (a card's ``metrics.heldout``, the epoch they choose) are ONNX Runtime's: ``config.json``
    and the model cards name its version among the libraries, as eval's ``provenance`` does (they named TensorFlow,
    Keras, numpy, Pillow and h5py only)."""
    from mesocli.training import session

    libraries = session()["libraries"]
    assert libraries["onnxruntime"] == library_versions("onnx", ())["onnxruntime"] is not None
    assert libraries == library_versions("tensorflow", ("onnxruntime", "numpy", "Pillow", "h5py"))


def test_a_missing_onnxruntime_stops_train_before_an_epoch_is_trained(
    tiny_data: Path, tmp_path: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The held-out part is scored on ONNX Runtime: without it (a damaged install) ``train`` trained a whole epoch,
    then failed scoring it, and left a run folder holding no epoch that a new start refuses. Now it fails before the
    folder is made; a run without a held-out part does not need ONNX Runtime."""
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` fails
    run = tmp_path / "run"
    result = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "-q")
    assert result.code == 2
    assert "needs the Python package onnxruntime, which is not installed" in result.error_line()
    assert not run.exists()  # nothing trained, nothing left to clear before the next start
    trainer = Trainer(replace(config_for(tiny_data, 1), val_fraction=0.0), tmp_path / "whole", progress=False)
    trainer.prepare()  # no held-out part to score: ONNX Runtime is not needed
    assert len(trainer.held_idx) == 0


def test_resume_refuses_a_run_whose_images_were_rewritten_under_their_names(one_epoch_copy: tuple[Path, Path]) -> None:
    """Faces replaced in place between a kill and the resume (``extract --force`` with other settings): the file
    list is the same, the faces are not. The resume went on silently, training on other faces than it started."""
    data, run = one_epoch_copy  # start_run(config_for(data, 1), run)
    planned = (run / "config.json").read_text()
    victim = data / "train" / "real" / "00003.jpg"
    original = victim.read_bytes()
    Image.fromarray(np.full((90, 70, 3), 128, np.uint8)).save(victim, quality=90)
    with pytest.raises(UsageError, match="the run's data changed since it started .images rewritten"):
        resume_run(run, progress=False, epochs=2)
    assert (run / "config.json").read_text() == planned  # the refused extension is not recorded
    victim.write_bytes(original)  # the data as it was: the run goes on
    assert resume_run(run, progress=False, epochs=2).epoch == 2



def _stop_at_step(patch: pytest.MonkeyPatch, steps: int, error: BaseException) -> None:
    """Runs started under ``patch`` raise ``error`` instead of their training step number ``steps`` (from 0): a
    Ctrl-C or a crash at a known point of a run."""
    prepare = Trainer.prepare

    def prepare_then_stop(self: Trainer) -> None:
        prepare(self)
        step, done = self.train_step, [0]

        def counted(x, y, w):
            if done[0] == steps:
                raise error
            done[0] += 1
            return step(x, y, w)

        self.train_step = counted

    patch.setattr(Trainer, "prepare", prepare_then_stop)

@pytest.mark.slow
def test_a_run_with_every_augmentation_and_bce_resumes_after_a_crash_as_the_uninterrupted_run(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume tests above use the default recipe; this one ``--loss bce --label-smoothing --rescale-prob
    --degrade-prob`` (the bundled weights' kind of run), crashed in epoch 2 with nothing saved (as ``kill -9``
    leaves it: the state of epoch 1's checkpoint), then resumed."""
    config = replace(config_for(tiny_data, 2), loss="bce", label_smoothing=0.1, rescale_prob=0.5, degrade_prob=0.5)
    reference = tmp_path / "reference"
    start_run(replace(config), reference, progress=False)
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        _stop_at_step(patch, 7, RuntimeError("power cut"))  # epoch 2, step 2
        with pytest.raises(RuntimeError, match="power cut"):
            start_run(replace(config), run, progress=False)
    saved = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (saved["epoch"], saved["step"]) == (1, 0)  # nothing of epoch 2 was saved
    assert resume_run(run, progress=False).global_step == 10
    expected, got = _final_state(reference), _final_state(run)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours, theirs = (json.loads((folder / "log.json").read_text()) for folder in (run, reference))
    assert [row["heldout_loss"] for row in ours] == pytest.approx([row["heldout_loss"] for row in theirs], rel=1e-4)


@pytest.mark.slow
def test_the_same_seed_trains_the_same_run_and_another_seed_another(tmp_path: Path) -> None:
    """``--seed`` fixes the held-out draw, the initialisation, the order of the batches and their augmentation."""
    from media import make_faces

    data = make_faces(tmp_path / "data", {"df": 9, "real": 8}, size=(32, 32), seed=6)

    def trained(seed: int, name: str) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
        config = TrainConfig(data=str(data), epochs=1, batch_size=4, val_fraction=0.3, seed=seed, command="pytest")
        start_run(config, tmp_path / name, progress=False)
        return _final_state(tmp_path / name), json.loads((tmp_path / name / "log.json").read_text())

    (first, first_log), (again, again_log), (other, _) = trained(3, "a"), trained(3, "b"), trained(4, "c")
    assert first.keys() == again.keys() == other.keys()
    for key in first:
        np.testing.assert_array_equal(again[key], first[key], err_msg=key)
    assert [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in again_log] == [
        {k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in first_log]
    assert any(not np.array_equal(other[key], first[key]) for key in first)


def _as_saved_before_the_runs_own_held_out_loss(run: Path) -> list[float]:
    """Rewrite a ``--loss bce`` run's state, log and best card as mesocli saved them before the held-out loss was the
    run's own loss: the MSE of each epoch's weights as held-out loss, the best and stale epochs chosen by it, no
    ``data_sha256``. Returns the MSE figures, epoch by epoch."""
    from mesocli.checkpoint import write_log
    from mesocli.training import read_config, selection_score

    config = read_config(run)
    scorer = Trainer(replace(config, loss="mse"), run / "mse-scorer", progress=False)
    scorer.prepare()
    state_path = run / "checkpoint" / "state.json"
    saved = json.loads(state_path.read_text())
    best = [-np.inf, -np.inf]
    for row in saved["history"]:
        scorer.model.load_weights(run / "checkpoints" / f"epoch_{row['epoch']:03d}.weights.h5")
        row["heldout_loss"] = scorer.evaluate_heldout()["heldout_loss"]
        if selection_score(config.select, row) > best:
            best, saved["best_epoch"], saved["stale_epochs"] = selection_score(config.select, row), row["epoch"], 0
        else:
            saved["stale_epochs"] += 1
    saved.update(best_score=best, data_sha256=None)
    state_path.write_text(json.dumps(saved, indent=1))
    write_log(run, saved["history"])
    card = json.loads((run / "best.json").read_text())
    card["metrics"]["heldout"]["heldout_loss"] = saved["history"][saved["best_epoch"] - 1]["heldout_loss"]
    (run / "best.json").write_text(json.dumps(card))
    return [row["heldout_loss"] for row in saved["history"]]


@pytest.mark.slow
def test_a_bce_run_logged_with_mse_held_out_losses_is_rescored_on_resume(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``--loss bce --select loss`` run saved before the held-out loss was the run's own (its epochs logged the
    MSE, never above the BCE of the same predictions) and resumed: new epochs' BCE was compared with the old best's
    MSE, so no new epoch could become the best, and log.csv mixed the two. Its old epochs are now re-scored from
    their weights, and the resumed run is the one a run of this version would have been."""
    from mesocli.training import heldout_loss

    p, y = np.random.default_rng(0).random(50), (np.arange(50) % 2).astype(np.float32)
    assert heldout_loss("mse", p, y) == float(np.mean((p - y) ** 2))  # an MSE run's held-out loss never changed
    config = replace(config_for(tiny_data, 2), loss="bce", select="loss")
    reference = tmp_path / "reference"
    start_run(replace(config), reference, progress=False)
    old = tmp_path / "old"
    shutil.copytree(reference, old)
    mse = _as_saved_before_the_runs_own_held_out_loss(old)

    orphan = tmp_path / "orphan"
    shutil.copytree(old, orphan)

    resume_run(reference, progress=False, epochs=4)
    capsys.readouterr()
    resume_run(old, progress=True, epochs=4)
    notes = capsys.readouterr().err

    ours, theirs = (json.loads((run / "checkpoint" / "state.json").read_text()) for run in (old, reference))
    assert ours["best_score"] == pytest.approx(theirs["best_score"], rel=1e-6)
    assert (ours["best_epoch"], ours["stale_epochs"], ours["epoch"]) == (
        theirs["best_epoch"], theirs["stale_epochs"], theirs["epoch"])
    assert "earlier epochs logged the held-out loss as MSE" in notes
    logs = [json.loads((run / "log.json").read_text()) for run in (old, reference)]
    assert [row["heldout_loss"] for row in logs[0]] == pytest.approx([row["heldout_loss"] for row in logs[1]],
                                                                      rel=1e-6)
    assert [row.get("heldout_mse") for row in logs[0]] == [*mse, None, None]  # kept, and named as what it is
    cards = [json.loads((run / "best.json").read_text()) for run in (old, reference)]
    assert cards[0]["epochs"] == cards[1]["epochs"]
    assert cards[0]["metrics"]["heldout"]["heldout_loss"] == pytest.approx(
        cards[1]["metrics"]["heldout"]["heldout_loss"], rel=1e-6)
    expected, got = _final_state(reference), _final_state(old)
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)

    for path in (orphan / "checkpoints" / "epoch_001.weights.h5", orphan / "best.weights.h5"):
        path.unlink()  # an epoch without weights: nothing to compare new epochs' loss with
    planned = (orphan / "config.json").read_text()
    with pytest.raises(UsageError, match="logged the held-out loss as MSE"):
        resume_run(orphan, progress=False, epochs=4)
    assert (orphan / "config.json").read_text() == planned  # the refused extension is not recorded
    (orphan / "config.json").write_text(planned.replace('"select": "loss"', '"select": "accuracy"'))
    resume_run(orphan, progress=False, epochs=3)  # accuracy selects; the unscored epoch loses its ties
    log = json.loads((orphan / "log.json").read_text())
    assert "heldout_loss" not in log[0] and log[0]["heldout_mse"] == mse[0]
    assert log[1]["heldout_loss"] == pytest.approx(logs[1][1]["heldout_loss"], rel=1e-6)


def test_the_training_plot_shows_a_one_epoch_run_and_whole_epochs() -> None:
    """training.png of a one-epoch run was empty (one point of a line without markers draws nothing), and the
    epoch axis of a short run was ticked 1.2, 1.4, ... where only whole epochs exist."""
    from mesocli.checkpoint import history_figure

    row = {"epoch": 1, "train_loss": 0.36, "heldout_loss": 0.26, "train_accuracy": 0.44, "heldout_accuracy": 0.5}
    for history in ([row], [row, {**row, "epoch": 2}], [{**row, "epoch": epoch} for epoch in range(1, 31)]):
        figure = history_figure(history)
        try:
            for axes in figure.axes:
                for line in axes.get_lines():
                    assert line.get_marker() not in (None, "", "None", " "), line.get_label()
                ticks = [tick for tick in axes.get_xticks() if axes.get_xlim()[0] <= tick <= axes.get_xlim()[1]]
                assert ticks and all(float(tick).is_integer() for tick in ticks), ticks
        finally:
            import matplotlib.pyplot as plt

            plt.close(figure)


def test_the_start_says_how_many_videos_are_held_out(tiny_data: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """A run on 16 clips held out 2 of them whole and said only "held out 40" (faces): its held-out AUC of 1.0
    read as a measurement, where it ranked one fake video against one real. The start names the videos held out,
    per class, where the names carry video ids."""
    import dataclasses

    config = dataclasses.replace(config_for(tiny_data, 1), split="validation")  # names v0_1.jpg: 3 videos a class
    trainer = Trainer(config, tmp_path / "run", progress=True)
    trainer.prepare()
    line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("training on"))
    held = trainer.data.combined.paths
    videos = {(int(trainer.data.labels[i]), held[i].stem.split("_")[0]) for i in trainer.held_idx}
    df = sum(1 for label, _ in videos if label == 0)
    assert videos and f"held out {len(trainer.held_idx)} ({len(videos)} videos: df {df}, real {len(videos) - df});" \
        in line, line


def test_the_held_out_videos_of_two_methods_sharing_an_id_are_two(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """FaceForensics++ names a fake by its ids in every method folder (df/Deepfakes/000_003 and df/Face2Face/000_003
    are two videos, which eval tells apart): the start line counted them as one video, and said a held-out part of
    8 fake videos held 4."""
    rng = np.random.default_rng(0)
    for folder, videos in (("df/Deepfakes", ("000_003", "001_004", "002_005", "006_007")),
                           ("df/Face2Face", ("000_003", "001_004", "002_005", "006_007")),
                           ("real", ("000", "001", "002", "003", "004", "005", "006", "007"))):
        (tmp_path / "data" / "train" / folder).mkdir(parents=True)
        for video in videos:
            for frame in range(2):
                pixels = rng.integers(0, 255, size=(64, 64, 3)).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / "data" / "train" / folder / f"{video}_{frame}.jpg")
    config = replace(config_for(tmp_path / "data", 1), val_fraction=0.5)
    trainer = Trainer(config, tmp_path / "run", progress=True)
    trainer.prepare()
    line = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("training on"))
    data = trainer.data
    held = {(int(data.labels[i]), data.combined.methods[i], data.combined.paths[i].stem.rsplit("_", 1)[0])
            for i in trainer.held_idx}
    df = sum(1 for label, _, _ in held if label == 0)
    assert any((0, "Face2Face", video) in held for _, method, video in held if method == "Deepfakes"), held
    assert f"({len(held)} videos: df {df}, real {len(held) - df});" in line, line


def test_train_accuracy_is_an_exact_share_of_faces(tiny_data: Path, tmp_path: Path) -> None:
    """A batch's accuracy comes out of the graph as a float32 mean (1 of 3 right: 0.33333334), and the faces right
    were counted as that mean times the batch size: the log held 0.6499999878661973 for 182 of 280 faces right.
    Each batch's count is a whole number of faces now, so the log holds the exact share."""
    import dataclasses

    import numpy as np

    from mesocli.checkpoint import TrainState

    trainer = Trainer(dataclasses.replace(config_for(tiny_data, 1), batch_size=3), tmp_path / "run", progress=False)
    trainer.prepare()
    trained = len(trainer.train_idx)
    trainer.train_step = lambda x, y, w: (np.float32(0.25), np.float32(1) / np.float32(int(x.shape[0])))
    record = trainer.run_epoch(TrainState())
    steps = -(-trained // 3)
    assert record["train_accuracy"] == steps / trained  # one face right a batch, exactly


@pytest.mark.slow
def test_train_accuracy_is_the_share_of_the_epochs_faces_called_right(uninterrupted: Path, tmp_path: Path) -> None:
    """``train_accuracy`` was the mean of the batches' accuracies, so the last batch's few faces weighed as much
    as a full batch: 20 faces in batches of 16 and 4 logged 0.4375 ((6 of 16 + 2 of 4) / 2) for 8 right of 20,
    0.40. It is now the share of the epoch's trained faces called right: a whole number of faces."""
    from mesocli.training import read_config

    config = read_config(uninterrupted)
    trainer = Trainer(config, tmp_path / "scorer", progress=False)
    trainer.prepare()
    trained = len(trainer.train_idx)
    assert trained % config.batch_size  # a last batch smaller than the others
    log = json.loads((uninterrupted / "log.json").read_text())
    for row in log:
        right = row["train_accuracy"] * trained
        assert right == pytest.approx(round(right), abs=1e-6), row




def test_the_training_plot_marks_the_epoch_kept() -> None:
    """training.png showed every epoch but not which one best.weights.h5 holds: a dashed line now marks it."""
    from mesocli.checkpoint import history_figure

    row = {"epoch": 1, "train_loss": 0.36, "heldout_loss": 0.26, "train_accuracy": 0.44, "heldout_accuracy": 0.5}
    history = [{**row, "epoch": epoch} for epoch in (1, 2, 3)]
    for best, marked in ((2, [2.0]), (None, [])):
        figure = history_figure(history, best)
        try:
            for axes in figure.axes:
                lines = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
                assert [float(line.get_xdata()[0]) for line in lines] == marked
                assert all(line.get_label() == f"kept (epoch {best})" for line in lines)
        finally:
            import matplotlib.pyplot as plt

            plt.close(figure)

def test_train_accuracy_weighs_each_face_once(uninterrupted: Path, tmp_path: Path) -> None:
    """Batches that are all right but a small last one all wrong: the share of faces called right is
    (trained - last) / trained, where the batches' mean (the old figure) is (steps - 1) / steps."""
    from mesocli.checkpoint import TrainState
    from mesocli.training import read_config

    config = read_config(uninterrupted)
    trainer = Trainer(config, tmp_path / "scorer", progress=False)
    trainer.prepare()
    trained, size = len(trainer.train_idx), config.batch_size
    last = trained % size
    assert last  # a last batch smaller than the others
    trainer.train_step = lambda x, y, w: (0.25, 1.0 if int(x.shape[0]) == size else 0.0)
    record = trainer.run_epoch(TrainState())
    assert record["train_accuracy"] == pytest.approx((trained - last) / trained)
    steps = -(-trained // size)
    assert record["train_accuracy"] != pytest.approx((steps - 1) / steps)

@pytest.mark.slow
def test_a_held_out_part_far_from_val_fraction_is_noted(tmp_path: Path, run_cli: RunCli) -> None:
    """A first run on a few extracted FF++ clips (3 fakes, 3 originals, 10 frames each; two clips share people)
    with --val-fraction 0.2 said "training on 20 (df 10, real 10), held out 40" and nothing else: two thirds of
    the faces held out, without a word on why. A note now gives the share against the one asked for, and why."""
    from media import make_faces

    root = tmp_path / "data"
    make_faces(root / "train", {"df": 30, "real": 30})
    videos = {"df": ["266_252", "654_648", "036_035"], "real": ["033", "035", "036"]}
    for label, names in videos.items():
        new = [f"{video}_{frame}.png" for video in names for frame in range(0, 60, 6)]
        for path, name in zip(sorted((root / "train" / label).iterdir()), new, strict=True):
            path.rename(path.with_name(name))
    code, out, err = run_cli("train", root, "--out", tmp_path / "run", "--epochs", "1", "--batch-size", "8",
                             "--val-fraction", "0.2")
    assert code == 0, err
    assert "training on 20 (df 10, real 10), held out 40" in err
    assert ("note: held out 40 of 60 faces (67 %) where --val-fraction asks for 20 %: a person's faces are held out "
            "whole (by the video ids of their names), and these faces show few people") in err


def test_a_state_saved_mid_epoch_before_faces_were_counted_keeps_the_batches_mean(tmp_path: Path) -> None:
    """A state saved part-way through an epoch by a mesocli that summed batch accuracies only has no count of faces
    right: resumed, that epoch's row keeps the batches' mean (counting from the resume would leave out its first
    part); a state saved between epochs counts faces from the next epoch on."""
    from dataclasses import asdict

    from mesocli.checkpoint import STATE_FILE, VARIABLES_FILE, TrainState, load_state

    (tmp_path / "checkpoint").mkdir()
    np.savez(tmp_path / "checkpoint" / VARIABLES_FILE)
    for step, expected in ((3, None), (0, 0.0)):
        saved = asdict(TrainState(step=step, epoch_accuracy=2.25))
        del saved["epoch_correct"]
        (tmp_path / "checkpoint" / STATE_FILE).write_text(json.dumps(saved))
        assert load_state(tmp_path, [], "meso4").epoch_correct == expected


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["disk full", "killed"])
def test_a_checkpoint_cut_between_its_variables_and_its_state_resumes_to_the_uninterrupted_run(
    fault: str, uninterrupted: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint is two files: ``last.npz`` (the variables), then ``state.json`` (the step they are at). Cut
    between the two (the disk full once the variables fit, or ``kill -9``), the state pointed at the start of the
    epoch whose end the variables held: the resumed run trained that epoch twice over, with no word said, and the
    log had lost the epoch."""
    from mesocli import checkpoint
    from mesocli.errors import OutputError

    run = tmp_path / "run"
    write = checkpoint.atomic_write_text

    class Killed(BaseException):
        """``kill -9``: nothing runs after it (no ``except Exception``, no Ctrl-C handling)."""

    def cut(path: Path, text: str, *args: Any, **kwargs: Any) -> None:
        if Path(path).name == "state.json" and json.loads(text)["epoch"] == 2:
            if fault == "killed":
                raise Killed
            raise OutputError(f"cannot write {path}: No space left on device")
        write(path, text, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write_text", cut)
        with pytest.raises(Killed if fault == "killed" else OutputError):
            start_run(config_for(tiny_data, 2), run, progress=False)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1  # behind last.npz
    state = resume_run(run, progress=False)
    assert state.finished and state.global_step == 10 and [row["epoch"] for row in state.history] == [1, 2]
    expected, got = _final_state(uninterrupted), _final_state(run)
    for key in expected:  # the optimizer's iteration count too: epoch 2 trained once
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert [row["epoch"] for row in json.loads((run / "log.json").read_text())] == [1, 2]


@pytest.mark.slow
def test_a_run_cut_as_it_stopped_early_can_be_extended(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut between ``last.npz`` and ``state.json`` in the checkpoint that stops a run early, ``--resume`` goes by
    the state saved with the variables (stopped), but ``--resume --epochs N`` read ``state.json`` (an epoch behind,
    not stopped): it did not reopen the run, which then said "run already finished; nothing to do" with N
    recorded in config.json, so the same command never trained again."""
    from mesocli import checkpoint

    run = tmp_path / "run"
    write = checkpoint.atomic_write_text

    class Killed(BaseException):
        """``kill -9``."""

    def cut(path: Path, text: str, *args: Any, **kwargs: Any) -> None:
        if Path(path).name == "state.json" and json.loads(text)["finished"]:
            raise Killed
        write(path, text, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "atomic_write_text", cut)
        patch.setattr(Trainer, "_stop_reason", lambda self, state: "early stop: test" if state.epoch == 2 else None)
        with pytest.raises(Killed):
            start_run(config_for(tiny_data, 4), run, progress=False)
    assert json.loads((run / "checkpoint" / "state.json").read_text())["epoch"] == 1  # behind last.npz
    assert resume_run(run, progress=False).finished  # stopped early, as saved with the variables
    state = resume_run(run, progress=False, epochs=3)
    assert (state.epoch, [row["epoch"] for row in state.history]) == (3, [1, 2, 3])



@pytest.mark.slow
def test_a_run_killed_as_its_last_epoch_is_logged_keeps_that_epoch_in_its_log(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log was written after the state: killed in between, at the last epoch, the run was finished as far as
    --resume could tell, and log.csv, log.json and training.png lacked that epoch for good."""
    from mesocli import training

    run = tmp_path / "run"
    write_log = training.write_log

    class Killed(BaseException):
        """``kill -9``."""

    def killed_at_epoch_2(run_dir: Path, history: list[dict[str, Any]], *rest: Any) -> None:
        if len(history) == 2:
            raise Killed
        write_log(run_dir, history, *rest)

    with monkeypatch.context() as patch:
        patch.setattr(training, "write_log", killed_at_epoch_2)
        with pytest.raises(Killed):
            start_run(config_for(tiny_data, 2), run, progress=False)
    assert resume_run(run, progress=False).finished
    assert [row["epoch"] for row in json.loads((run / "log.json").read_text())] == [1, 2]
    assert (run / "log.csv").read_text().count("\n") == 3


@pytest.mark.slow
def test_a_run_that_trained_on_files_it_held_out_in_another_source_says_so_on_resume(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Since files listed by two sources are never trained on when one holds them out, a run an older mesocli
    started on such sources draws another training part: ``--resume`` refused it saying the data had changed
    ("files added, removed or unreadable"; "restore the data"), though not a byte had. It now says why."""
    from mesocli import training
    from mesocli.sources import identity_tokens

    def older(paths: list[Path], train: np.ndarray, held: np.ndarray, *_: Any) -> tuple[np.ndarray, int]:
        """drop_shared_identities as an older mesocli had it: by video-id token only."""
        tokens = frozenset().union(*(identity_tokens(paths[index]) for index in held))
        keep = np.array([not (identity_tokens(paths[index]) & tokens) for index in train], dtype=bool)
        return train[keep], int((~keep).sum())

    run = tmp_path / "run"
    config = replace(config_for(tiny_data, 1), sources=[{"root": str(tiny_data)}, {"root": str(tiny_data)}])
    with monkeypatch.context() as patch:
        patch.setattr(training, "drop_shared_identities", older)
        start_run(config, run, progress=False)
    plan = (run / "config.json").read_text()
    with pytest.raises(UsageError) as raised:
        resume_run(run, progress=False, epochs=2)
    message = str(raised.value)
    assert "\n" not in message and "files added" not in message and "restore the data" not in message, message
    assert message.startswith(f"{run}: this run was started by an older mesocli that trained on ") and (
        "held out through another source" in message and message.endswith("start a new run")), message
    assert (run / "config.json").read_text() == plan  # the extension is not kept


@pytest.mark.slow
def test_a_run_that_grouped_celeb_df_names_by_video_number_says_so_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celeb-DF names are now held out by the person of their video (``id0_id4_0000``: person 0), not by every token:
    a run an older mesocli started on them draws another held-out part, and ``--resume`` said the data had changed
    ("restore the data"), though not a byte had. It now says why, also for an ``extract --all-faces`` dataset
    (``id0_0000_t0_5.png``: the track suffix is no person), which the check read as other names and still said
    "restore the data"."""
    import re

    from media import make_faces

    from mesocli import datasets

    root = make_faces(tmp_path / "data", {"df": 12, "real": 24})
    (root / "manifest.jsonl").write_text(json.dumps({"settings": {"all_faces": True}}) + "\n")  # extract's header
    stems = {"real": [f"id{p}_{p:04d}_t0_{f}" for p in range(8) for f in range(3)],
             "df": [f"id{p}_id{p + 4}_{p:04d}_t{f % 2}_{f}" for p in range(4) for f in range(3)]}
    for label, names in stems.items():
        for image, stem in zip(sorted((root / label).iterdir()), names, strict=True):
            image.rename(image.with_name(f"{stem}{image.suffix}"))
    run = tmp_path / "run"
    with monkeypatch.context() as patch:  # an older mesocli: every token of a video id is a person
        patch.setattr(datasets, "_CELEB_DF", re.compile(r"(?!)"), raising=False)
        start_run(config_for(root, 1), run, progress=False)
    with pytest.raises(UsageError) as raised:
        resume_run(run, progress=False, epochs=2)
    message = str(raised.value)
    assert "\n" not in message and "restore the data" not in message, message
    assert message == (f"{run}: this run was started by an older mesocli that grouped Celeb-DF names (id0_0003) by "
                       "their video number too; this mesocli groups them by person and would hold out other faces: "
                       "start a new run (or resume it with the mesocli that started it)")


@pytest.mark.slow
def test_split_csv_lists_each_file_and_its_part(one_epoch_copy: tuple[Path, Path]) -> None:
    """A run did not say which faces it held out: a researcher could not evaluate the held-out videos with eval's
    figures, nor report which they were. ``split.csv`` lists every file of the run with its part; a run started
    before it existed gets it at its next resume (a finished one too, which trains nothing). Which person goes to
    which side (Celeb-DF names included) is ``tests/test_sources.py``'s."""
    import csv

    from mesocli.checkpoint import SPLIT_FILE

    data, run = one_epoch_copy
    with open(run / SPLIT_FILE, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == N_DF + 1 + N_REAL and list(rows[0]) == ["source", "path", "label", "video", "part"]
    parts = {row["path"]: row["part"] for row in rows}
    assert parts["train/df/broken.jpg"] == "unreadable" and "train/real/Thumbs.db" not in parts
    assert all((data / row["path"]).is_file() and row["path"].split("/")[1] == row["label"] and row["source"] == "0"
               and row["video"] == "" for row in rows)
    for part in ("train", "heldout"):  # both classes on each side; the held-out quarter of the readable faces
        assert {row["label"] for row in rows if row["part"] == part} == {"df", "real"}
    assert sum(row["part"] == "heldout" for row in rows) == pytest.approx((N_DF + N_REAL) / 4, abs=1)
    listed = (run / SPLIT_FILE).read_bytes()
    (run / SPLIT_FILE).unlink()  # a run of an older version
    kept = {path: path.read_bytes() for path in (run / "config.json", run / "checkpoint" / "state.json")}
    assert resume_run(run, progress=False).finished
    assert (run / SPLIT_FILE).read_bytes() == listed
    assert all(path.read_bytes() == content for path, content in kept.items())  # no session: nothing trained
    (run / SPLIT_FILE).unlink()
    (data / "train" / "real" / "00000.jpg").unlink()  # its data changed since: no split.csv, and no error
    assert resume_run(run, progress=False).finished and not (run / SPLIT_FILE).exists()


def test_a_held_out_seed_above_legacy_seeding_is_taken(tiny_data: Path) -> None:
    """``--heldout-seed`` draws with ``numpy.random.default_rng``, which takes any whole number from 0: a seed of
    2**32 or more drew the held-out part before the seed checks, then was refused as ``--seed`` is (whose legacy
    seeding stops at 2**32 - 1), and so was ``--resume --epochs`` of a run started with one."""
    from mesocli.training import load_run_data, split_run_data

    config = replace(config_for(tiny_data, 1), heldout_seed=5_000_000_000)
    config.check()
    config.check_together()
    data = load_run_data(config)
    train, held = split_run_data(config, data, np.arange(len(data.labels)))
    assert len(held) and len(train) + len(held) == len(data.labels)
    with pytest.raises(UsageError, match=r"heldout_seed -1: must be 0 or more"):
        replace(config, heldout_seed=-1).check()


def test_a_learning_rate_below_the_floor_is_the_learning_rate_trained_with() -> None:
    """``--learning-rate 1e-7`` trained at 1e-6 (the floor of the decay, ``lr_min``), and logged 1e-6: ten times
    what was asked, with no word said. The floor bounds the decay, not the rate given."""
    from mesocli._tf import import_tensorflow
    from mesocli.training import _step_decay, learning_rate_at

    tf = import_tensorflow()
    config = TrainConfig(data="unused", learning_rate=1e-7, lr_decay_every=10)
    schedule = _step_decay(tf.keras, tf, config)
    for step in (0, 10, 100):
        assert learning_rate_at(config, step) == 1e-7
        assert float(schedule(step)) == pytest.approx(1e-7)
    paper = TrainConfig(data="unused", lr_decay_every=10)  # 1e-3 ÷ 10 every 10 steps, floored at 1e-6
    assert [learning_rate_at(paper, step) for step in (0, 10, 30, 40)] == pytest.approx([1e-3, 1e-4, 1e-6, 1e-6])
    assert [float(_step_decay(tf.keras, tf, paper)(step)) for step in (0, 10, 30, 40)] == pytest.approx(
        [1e-3, 1e-4, 1e-6, 1e-6])


@pytest.mark.slow
def test_a_run_whose_loss_becomes_nan_stops_with_one_line(tiny_data: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """A learning rate far too large turns the weights into NaN: the held-out AUC then stopped the run with a
    traceback (scikit-learn's "Input contains NaN"), and --resume replayed it to the same traceback."""
    run = tmp_path / "run"
    code, out, err = run_cli("train", tiny_data, "--out", run, *ONE_EPOCH, "--learning-rate", "1e30", "--loss", "bce",
                             "-q")
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("mesocli: error: the training diverged: the loss is not a number at epoch 1, step ")
    assert err.endswith("(learning rate 1e+30); start a new run with a lower --learning-rate\n")


def test_init_weights_takes_a_path_object(tmp_path: Path) -> None:
    """``api.train(..., init_weights=mesocli.load_model("df").weights_path)`` (a Path) trained its first epoch,
    then stopped with a raw ``TypeError: Object of type PosixPath is not JSON serializable`` writing config.json,
    leaving an empty run folder; a value that is no path at all is refused, naming the setting."""
    from mesocli import api
    from mesocli.errors import ParameterError

    config = TrainConfig(data="data", init_weights=Path("weights") / "w.h5")  # type: ignore[arg-type]
    config.check()
    assert config.init_weights == "weights/w.h5" and json.loads(json.dumps(config.__dict__))["init_weights"]
    with pytest.raises(ParameterError, match=r"^init_weights must be a path \(str or os.PathLike\), not 5$"):
        api.train(tmp_path / "data", tmp_path / "run", init_weights=5, progress=False)
    assert not (tmp_path / "run").exists()


def test_train_says_once_when_the_manifest_that_tells_tracks_apart_cannot_be_read(
    tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dataset whose ``manifest.jsonl`` could not be read (a torn header) was taken as not made by ``extract
    --all-faces`` without a word from train (eval says so): each track of a video was a person of its own. Train
    now says so once, however many sources read the manifest; with a readable manifest, or none, nothing."""
    from dataclasses import asdict

    from mesocli.sources import Source

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    manifest = data / "manifest.jsonl"
    config = config_for(data, 1)

    def notes(sources: int = 1) -> list[str]:
        setting = [asdict(Source(str(data), "train"))] * sources
        Trainer(replace(config, sources=setting), tmp_path / "run", progress=True).prepare()  # trains nothing
        return [line for line in capsys.readouterr().err.splitlines() if "manifest.jsonl" in line]

    manifest.write_bytes(b'{"type": "header", "settings": {"all_faces": tr')
    for sources in (1, 2):
        (line,) = notes(sources)
        assert line == (f"{manifest}: cannot read its header (torn: not JSON, no end of line): a video's "
                        "--all-faces tracks are counted as videos")
    manifest.write_text(json.dumps({"type": "header", "settings": {"all_faces": True, "layout": "dataset"}}) + "\n")
    assert notes() == []
    manifest.unlink()
    assert notes() == []


@pytest.mark.slow
def test_the_card_says_how_extract_made_each_sources_crops_and_keeps_the_starts_record(
        tmp_path: Path, kit: MediaKit, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card recorded each source's root, counts and hashes, not how its crops were made: a figure of a run on
    ``extract`` output could not name the detector, alignment or frames. Each source's ``extract`` is now eval's
    ``data.extract`` (one function), null without extract's manifest; ``config.json`` keeps it as read at the start,
    which a resumed run's card keeps though the manifest changed (the crops' bytes are checked, not the manifest);
    a run of an older version (no record in config.json) resumes and records the manifest as read then."""
    from media import make_faces

    from mesocli.crops import ExtractOptions, FrameSelection
    from mesocli.datasets import find_dataset
    from mesocli.extract import extract
    from mesocli.sources import read_mix

    monkeypatch.setattr("mesocli.training.selection_score", lambda select, record: [float(record["epoch"])])

    made, bare = tmp_path / "made", tmp_path / "bare"
    for label in ("df", "real"):
        extract([kit.face_jpeg], made, ExtractOptions(FrameSelection("frames", 1), layout="dataset", label=label,
                                                      split="train"), workers=1)
    make_faces(made / "train", {"df": 12, "real": 12})
    make_faces(bare / "train", {"df": 12, "real": 12}, seed=1)
    header = json.loads((made / "manifest.jsonl").read_text().splitlines()[0])
    record = find_dataset(made, "train").extract
    assert record is not None and record["settings"] == header["settings"]
    mix = tmp_path / "mix.json"
    mix.write_text(json.dumps({"sources": [{"root": str(made)}, {"root": str(bare)}]}))
    config = replace(config_for(made, 1), sources=[asdict(source) for source in read_mix(mix)])
    run = tmp_path / "run"
    start_run(config, run, progress=False)
    card = load_weights(run / "best.weights.h5").card
    assert card is not None
    assert [source["extract"] for source in card.data["sources"]] == [record, None]
    assert record["settings"]["detector"] == "hog" and record["settings"]["alignment"].startswith("mesonet-pipeline/")
    assert record["settings"]["frames"] == header["settings"]["frames"] and record["mesocli"] == header["mesocli"]
    assert json.loads((run / "config.json").read_text())["source_extracts"] == [record, None]

    lines = (made / "manifest.jsonl").read_text().splitlines(keepends=True)  # the header edited, the crops not
    (made / "manifest.jsonl").write_text(json.dumps({**header, "mesocli": "0.0.1"}) + "\n" + "".join(lines[1:]))
    capsys.readouterr()
    resume_run(run, progress=True, epochs=2)
    assert f"note: {made}: extract's manifest no longer says what it said when the run started" \
        in capsys.readouterr().err
    assert [source["extract"] for source in load_weights(run / "best.weights.h5").card.data["sources"]] \
        == [record, None]

    older = json.loads((run / "config.json").read_text())
    del older["source_extracts"]  # as a run started before the record existed
    (run / "config.json").write_text(json.dumps(older, indent=1))
    assert resume_run(run, progress=False, epochs=3).epoch == 3
    now = find_dataset(made, "train").extract
    assert now is not None and now["mesocli"] == "0.0.1"
    assert [source["extract"] for source in load_weights(run / "best.weights.h5").card.data["sources"]] == [now, None]


@pytest.fixture(scope="module")
def warm_started(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run, init): a finished two-epoch run started from ``init`` (a seeded network with its card), for
    :func:`warm_copy`."""
    folder = tmp_path_factory.mktemp("warm")
    init = _seeded_weights(folder / "weights", 5)
    assert start_run(replace(config_for(tiny_data, 2), init_weights=str(init)), folder / "run",
                     progress=False).finished
    return folder / "run", init


def _seeded_weights(folder: Path, seed: int) -> Path:
    """``folder/meso4_df.weights.h5`` with its card: a network of seed ``seed`` (a newer bundle: another seed)."""
    folder.mkdir(exist_ok=True)
    return write_bundle(folder, [("meso4", "df", seed, 1.0)]) / "meso4_df.weights.h5"


@pytest.fixture
def warm_copy(warm_started: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """(run, init): private copies of :func:`warm_started`'s run and start weights, the run naming the copy."""
    run, init = warm_started
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(init.parent, tmp_path / "weights")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    copied = tmp_path / "weights" / init.name
    (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "init_weights": str(copied)}, indent=1))
    return tmp_path / "run", copied


def test_the_cards_name_the_init_weights_the_run_started_from_though_the_file_was_replaced(
        warm_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A greedy soup (and an average) re-read the run's --init-weights file and recorded the sha256 of the file
    now at that path, replaced since by a newer bundle, not of the weights the run started from; a resume did too.
    config.json now records the start's file name and sha256, which every card of the run keeps."""
    from mesocli.averaging import average_run, epoch_files, greedy_soup
    from mesocli.digest import sha256_file

    run, init = warm_copy
    started = {"file": init.name, "sha256": sha256_file(init)}
    _seeded_weights(init.parent, 6)  # a newer bundle at the same path
    assert sha256_file(init) != started["sha256"]
    files = epoch_files(run)
    soup = greedy_soup(run, [files[1], files[2]], progress=False)
    assert load_weights(soup.path).card.data["init_weights"] == started
    averaged = average_run(run, progress=False)
    assert load_weights(averaged.path).card.data["init_weights"] == started
    with pytest.raises(UsageError, match=r"holds other weights than the run started from .*--start"):
        average_run(run, [2], write=False, progress=False, alphas=[0.5])  # it would mix in the newer weights

    monkeypatch.setattr("mesocli.training.selection_score", lambda select, record: [float(record["epoch"])])
    capsys.readouterr()
    assert resume_run(run, progress=True, epochs=3).epoch == 3
    assert f"note: {init.name}: the init weights file holds other weights than the run started from" \
        in capsys.readouterr().err
    card = load_weights(run / "best.weights.h5").card
    assert card.epochs == 3 and card.data["init_weights"] == started
    assert json.loads((run / "config.json").read_text())["init_weights_record"] == started  # as the start wrote it


def test_a_run_whose_init_weights_are_gone_still_resumes_and_averages(warm_copy: tuple[Path, Path]) -> None:
    """A resumed run continues from its checkpoint and an average from its kept epochs, never from the weights it
    started from, yet both failed when the --init-weights file had been moved or deleted."""
    from mesocli.averaging import average_run
    from mesocli.digest import sha256_file

    run, init = warm_copy
    started = {"file": init.name, "sha256": sha256_file(init)}
    shutil.rmtree(init.parent)
    assert resume_run(run, progress=False, epochs=3).epoch == 3
    averaged = average_run(run, progress=False)
    assert averaged.epochs == [1, 2, 3] and load_weights(averaged.path).card.data["init_weights"] == started
    with pytest.raises(UsageError, match=r"the weights the run started from are gone; .*--start"):
        average_run(run, [2], write=False, progress=False, alphas=[0.5])


def test_a_run_of_an_older_version_without_the_init_record_resumes(
        warm_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A run started before config.json recorded its init weights: its cards take the record from best.json's card
    (the file now at the path is another); without best.json the file is hashed, and when it is gone a note says so
    and the card names the file without a sha256."""
    from mesocli.digest import sha256_file

    run, init = warm_copy
    started = {"file": init.name, "sha256": sha256_file(init)}
    older = json.loads((run / "config.json").read_text())
    older.pop("init_weights_record", None)
    (run / "config.json").write_text(json.dumps(older, indent=1))
    _seeded_weights(init.parent, 6)
    monkeypatch.setattr("mesocli.training.selection_score", lambda select, record: [float(record["epoch"])])
    assert resume_run(run, progress=False, epochs=3).epoch == 3
    assert load_weights(run / "best.weights.h5").card.data["init_weights"] == started

    (run / "best.json").unlink()  # no card to take it from
    (run / "best.weights.h5").unlink()
    init.unlink()
    capsys.readouterr()
    assert resume_run(run, progress=True, epochs=4).epoch == 4
    assert f"note: {init.name}: the init weights the run started from are gone and the run recorded no sha256" \
        in capsys.readouterr().err
    assert load_weights(run / "best.weights.h5").card.data["init_weights"] == {"file": init.name, "sha256": None}


def test_a_soups_card_names_each_ingredients_run_epoch_and_start(
        warm_copy: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A soup's card named each ingredient's file and sha256 only, and the start of RUN_DIR's run alone, though
    ingredients may come from other runs (chains of warm starts): each now names its run, its epoch and the weights
    its run started from, as its config.json recorded them, else (an older version's run) as its best.json names
    them, saying so, else that none is recorded. A best.json naming other start weights than config.json (an older
    version's resume re-hashed the file then at the path) is not used, and is said in one line."""
    from mesocli.averaging import average_run, epoch_files, greedy_soup
    from mesocli.digest import sha256_file

    run, init = warm_copy
    started = {"file": init.name, "sha256": sha256_file(init)}
    older, bare = tmp_path / "older", tmp_path / "bare"  # the same run, as older versions left it
    for copy in (older, bare):
        shutil.copytree(run, copy)
        config = json.loads((copy / "config.json").read_text())
        config.pop("init_weights_record")
        (copy / "config.json").write_text(json.dumps(config, indent=1))
    (bare / "best.json").unlink()
    best = json.loads((run / "best.json").read_text())
    best["data"]["init_weights"] = {"file": init.name, "sha256": "0" * 64}  # a wrong start, by an old resume
    (run / "best.json").write_text(json.dumps(best, indent=1))
    monkeypatch.setattr("mesocli.averaging.selection_score", lambda select, record: [0.0])  # every one is kept
    notes: list[str] = []
    candidates = [epoch_files(run)[1], older / "best.weights.h5", epoch_files(bare)[2]]
    soup = greedy_soup(run, candidates, progress=False, log=notes.append)
    assert notes == [f"note: {run / 'best.json'}: names other start weights ({init.name}, sha256 000000000000…) "
                     f"than the run recorded in config.json when it started ({init.name}, sha256 "
                     f"{started['sha256'][:12]}…); config.json's are used"]
    card = load_weights(soup.path).card
    assert card.data["init_weights"] == started
    named = {item["run"]: item for item in card.metrics["soup"]}
    assert [named[name]["epoch"] for name in ("run", "older", "bare")] == [1, best["epochs"], 2]
    for item, path in zip((named["run"], named["older"], named["bare"]), candidates, strict=True):
        assert item["file"] == str(path) and item["sha256"] == sha256_file(path)
    assert named["run"]["start"] == {**started, "recorded_in": "config.json", "note": notes[0].removeprefix("note: ")}
    assert named["older"]["start"] == {**started, "recorded_in": "best.json", "note": (
        "the run's config.json records no start (a run of an older version): as its best.json names it")}
    assert named["bare"]["start"]["sha256"] is None and named["bare"]["start"]["recorded_in"] is None
    assert named["bare"]["start"]["note"].startswith("not recorded: ")
    notes.clear()
    average_run(run, write=False, progress=False, log=notes.append)
    assert len(notes) == 1 and "config.json's are used" in notes[0]
    capsys.readouterr()
    assert resume_run(run, progress=True, epochs=3).epoch == 3  # a resume says it too, once
    assert capsys.readouterr().err.count(f"note: {run / 'best.json'}: names other start weights") == 1


def test_a_soups_ingredient_made_by_averaging_is_named_as_such_not_as_one_epoch(warm_copy: tuple[Path, Path]) -> None:
    """A soup's ingredient that is an average (``averaged.weights.h5`` of scripts/average_checkpoints.py, whose card
    names the last epoch averaged) was named as that one epoch: it is named ``"epoch": null`` with the epochs
    averaged (and, of a soup, its own ingredients)."""
    from mesocli.averaging import average_run, ingredient

    run, _ = warm_copy
    averaged = average_run(run, [1, 2], progress=False).path
    assert averaged is not None
    named = ingredient(averaged)
    assert named["epoch"] is None and named["averaged_epochs"] == [1, 2] and named["run"] == "run", named
    card = json.loads((run / "averaged.json").read_text())
    card["metrics"].pop("averaged_epochs")
    card["metrics"]["soup"] = [ingredient(run / "checkpoints" / "epoch_001.weights.h5")]
    card["epochs"] = None
    (run / "averaged.json").write_text(json.dumps(card, indent=1))
    named = ingredient(averaged)
    assert named["epoch"] is None and named["soup"] == card["metrics"]["soup"] and "averaged_epochs" not in named


def _soup_card(run: Path, soup: list[dict[str, Any]], init_weights: Any) -> None:
    """``RUN/averaged.weights.h5`` and its card as a soup leaves them: the run's best weights (one ingredient), the
    card naming ``soup`` and ``init_weights`` (as a soup of an older version may have named them)."""
    shutil.copyfile(run / "best.weights.h5", run / "averaged.weights.h5")
    card = json.loads((run / "best.json").read_text())
    card["weights_file"] = "averaged.weights.h5"
    card["metrics"]["soup"] = soup
    card["data"]["init_weights"] = init_weights
    (run / "averaged.json").write_text(json.dumps(card, indent=1))


def _bundle(run: Path, data: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scripts/bundle_weights.py RUN --weights averaged --data DATA --out OUT``, in this process."""
    import runpy
    import sys

    monkeypatch.setattr(sys, "argv", ["bundle_weights.py", str(run), "--weights", "averaged", "--data", str(data),
                                      "--out", str(out)])
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "bundle_weights.py"), run_name="__main__")


def test_bundling_an_older_versions_soup_card_is_refused_in_one_line(
        warm_copy: tuple[Path, Path], tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scripts/bundle_weights.py --weights averaged`` copied a soup card of an older version as it was: its
    ingredients naming no run, epoch or start, and its start weights re-hashed from the file then at the path (the
    run's own epoch 1, for the bundled mesoinception4_df). It is refused in one line, saying to re-run
    greedy_soup.py, and nothing is bundled."""
    from mesocli.digest import sha256_file

    run, _ = warm_copy
    first = run / "checkpoints" / "epoch_001.weights.h5"
    _soup_card(run, [{"file": str(first), "sha256": sha256_file(first)}],
               {"file": "meso4_df.weights.h5", "sha256": sha256_file(first)})
    out = tmp_path / "bundled"
    with pytest.raises(SystemExit) as stopped:
        _bundle(run, tiny_data, out, monkeypatch)
    message = str(stopped.value.code)
    assert message.startswith(f"error: {run / 'averaged.json'}: a soup card of an older version ") and (
        "\n" not in message), message
    assert f"re-run scripts/greedy_soup.py {run} " in message and str(first) in message, message
    assert not out.exists() or not any(out.iterdir())


def test_bundling_a_run_without_its_card_is_refused_in_one_line(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scripts/bundle_weights.py RUN --weights averaged`` of a run never averaged (no averaged.json) ended in a
    traceback: one line now, nothing bundled."""
    (tmp_path / "run").mkdir()
    with pytest.raises(SystemExit) as stopped:
        _bundle(tmp_path / "run", tiny_data, tmp_path / "bundled", monkeypatch)
    message = str(stopped.value.code)
    assert message.startswith(f"error: {tmp_path / 'run' / 'averaged.json'}: unreadable model card ") and (
        "\n" not in message), message
    assert not (tmp_path / "bundled").exists()


def test_bundling_a_card_naming_other_start_weights_than_the_run_recorded_names_the_runs(
        warm_copy: tuple[Path, Path], tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``scripts/bundle_weights.py`` copied the card's ``data.init_weights`` unchecked: a soup card naming other
    start weights than the run recorded in its config.json is bundled with the run's, said in one note, its
    ingredients kept as greedy_soup.py named them."""
    from mesocli.averaging import ingredient
    from mesocli.digest import sha256_file

    run, init = warm_copy
    started = {"file": init.name, "sha256": sha256_file(init)}
    first = run / "checkpoints" / "epoch_001.weights.h5"
    soup = [ingredient(first)]
    _soup_card(run, soup, {"file": init.name, "sha256": sha256_file(first)})  # a wrong start: epoch 1's own
    out = tmp_path / "bundled"
    capsys.readouterr()
    _bundle(run, tiny_data, out, monkeypatch)
    err = capsys.readouterr().err
    assert err.count("note: ") == 1 and (
        f"note: {run / 'averaged.json'}: names other start weights ({init.name}, sha256 {sha256_file(first)[:12]}…) "
        f"than the run recorded in its config.json ({init.name}, sha256 {started['sha256'][:12]}…); the bundled "
        "card names the run's") in err, err
    bundled = json.loads((out / "meso4_df.json").read_text())
    assert bundled["data"]["init_weights"] == started
    assert bundled["metrics"]["soup"] == json.loads(json.dumps(soup)) and bundled["metrics"]["validation"]
    assert (out / "meso4_df.weights.h5").is_file() and (out / "meso4_df.onnx").is_file()
    validation = bundled["metrics"]["validation"]  # the suite's sample (eval --limit 2000): here the whole split
    assert validation["sample"]["subset"] is None and validation["sample"]["confusion"] == {
        key: validation["confusion"][key] for key in ("tp", "fp", "tn", "fn")}
    assert validation["sample"]["auc"] == validation["auc"]


@pytest.mark.parametrize("script", ["average_checkpoints.py", "greedy_soup.py"])
def test_the_averaging_scripts_refuse_in_one_line(
        script: str, warm_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``scripts/average_checkpoints.py --alphas`` without ``--start`` refuses a run whose init weights file is gone
    (and a soup given one candidate): the refusal was a Python traceback, not one line."""
    import runpy
    import sys

    run, init = warm_copy
    init.unlink()
    argv = [str(run), "--alphas", "0.5", "--dry-run"] if script == "average_checkpoints.py" else [
        str(run), str(run / "missing.weights.h5"), "--dry-run"]
    monkeypatch.setattr(sys, "argv", [script, *argv])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / script), run_name="__main__")
    message = str(stopped.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    if script == "average_checkpoints.py":
        assert "the weights the run started from are gone" in message and "--start" in message


@pytest.mark.slow
def test_a_warm_started_frozen_run_resumed_mid_epoch_equals_the_uninterrupted_run(
        tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume no longer loads the --init-weights file (its weights come from the checkpoint): the model, the
    frozen blocks, the optimizer and the random streams must still be those of the run that was not stopped."""
    init = _seeded_weights(tmp_path / "weights", 5)
    config = replace(config_for(tiny_data, 2), init_weights=str(init), freeze_blocks=1)
    reference = tmp_path / "reference"
    assert start_run(replace(config), reference, progress=False).finished
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        _stop_at_step(patch, 7, KeyboardInterrupt())  # epoch 2, step 2
        with pytest.raises(KeyboardInterrupt):
            start_run(replace(config), run, progress=False)
    saved = json.loads((run / "checkpoint" / "state.json").read_text())
    assert (saved["epoch"], saved["step"]) == (1, 2)
    init.unlink()  # not needed by a resume
    assert resume_run(run, progress=False).global_step == 10
    expected, got = _final_state(reference), _final_state(run)
    assert expected.keys() == got.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    ours, theirs = (json.loads((folder / "log.json").read_text()) for folder in (run, reference))
    assert [row["heldout_loss"] for row in ours] == pytest.approx([row["heldout_loss"] for row in theirs], rel=1e-4)
    assert (load_weights(run / "best.weights.h5").card.data["init_weights"]
            == load_weights(reference / "best.weights.h5").card.data["init_weights"])


@pytest.mark.slow
def test_a_warm_started_run_that_crashed_before_its_first_checkpoint_starts_again_from_its_init_weights(
        warm_started: tuple[Path, Path], warm_copy: tuple[Path, Path], tiny_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume with no saved state (a crash in the first epoch, ``kill -9``) starts the run again: it must load the
    --init-weights file, which a resume from a checkpoint no longer reads, and train as the run that did not stop."""
    reference, _ = warm_started
    _, init = warm_copy
    run = tmp_path / "crashed"
    with monkeypatch.context() as patch:
        _stop_at_step(patch, 0, RuntimeError("power cut"))
        with pytest.raises(RuntimeError, match="power cut"):
            start_run(replace(config_for(tiny_data, 2), init_weights=str(init)), run, progress=False)
    assert not (run / "checkpoint" / "state.json").exists()
    assert resume_run(run, progress=False).global_step == 10
    expected, got = _final_state(reference), _final_state(run)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)
    assert (load_weights(run / "best.weights.h5").card.data["init_weights"]
            == load_weights(reference / "best.weights.h5").card.data["init_weights"])


def test_an_interpolation_with_a_replaced_init_file_is_refused_before_the_data_is_read(
        warm_copy: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """``average_checkpoints.py --alphas`` without ``--start`` refuses a run whose init weights file holds other
    weights: it said so only once the run's data was read and decoded (minutes for a full dataset)."""
    from mesocli.averaging import average_run

    run, init = warm_copy
    _seeded_weights(init.parent, 6)  # a newer bundle at the same path

    def read(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the run's data was read")

    monkeypatch.setattr("mesocli.training.load_run_data", read)
    with pytest.raises(UsageError, match=r"holds other weights than the run started from .*--start"):
        average_run(run, [2], write=False, progress=False, alphas=[0.5])


def test_log_csv_columns_follow_the_documented_order_with_sources_by_number(tmp_path: Path) -> None:
    """``log.csv`` sorted its columns alphabetically: ``learning_rate`` after ``images_per_second``, the held-out
    figures of ``source10`` and ``source11`` before those of ``source2``. Its columns are now those of
    ``LOG_COLUMNS`` in that order, then each source's in the order of its number, whatever order rows hold keys in."""
    import csv

    from mesocli.checkpoint import write_log

    def row(epoch: int, rescored: bool = False) -> dict[str, Any]:
        per_source = {f"heldout_{figure}_source{source}": 0.5 + source / 100
                      for source in range(12) for figure in ("loss", "accuracy", "auc")}
        mse = {"heldout_mse": 0.2, **{f"heldout_mse_source{source}": 0.2 for source in range(12)}} if rescored else {}
        return {"epoch": epoch, "learning_rate": 1e-3, "train_loss": 0.3, "train_accuracy": 0.6, "seconds": 1.5,
                "images_per_second": 20.0, **per_source, "heldout_loss": 0.25, "heldout_accuracy": 0.6,
                "heldout_auc": 0.7, **mse}

    history = [row(1, rescored=True), row(2)]
    write_log(tmp_path, history)
    with open(tmp_path / "log.csv", newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    per_source = [f"heldout_{figure}_source{source}" for source in range(12)
                  for figure in ("loss", "accuracy", "auc", "mse")]
    assert header == ["epoch", "learning_rate", "train_loss", "train_accuracy", "heldout_loss", "heldout_accuracy",
                      "heldout_auc", "heldout_mse", "seconds", "images_per_second", *per_source]
    assert len(rows) == 2 and all(len(cells) == len(header) for cells in rows)
    second = dict(zip(header, rows[1], strict=True))
    assert second["heldout_mse"] == "" and second["heldout_auc_source11"] == "0.61"


def test_a_rate_decayed_to_its_floor_is_at_the_floor_and_an_extension_says_the_run_stops_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The paper's 1e-3 decayed three times was ``1e-3 * 0.1 ** 3`` = 1.0000000000000002e-06, above the 1e-6 floor:
    ``log.csv`` logged that figure, and the floor's stop (two epochs without improvement) waited for the fourth
    decay, when the rate decayed was below 1e-6. A run so stopped and given more epochs trained one and stopped
    again without a word, ``--patience`` notwithstanding: the extension now says so."""
    from types import SimpleNamespace

    from mesocli.checkpoint import TrainState
    from mesocli.training import extend_run, learning_rate_at

    paper = TrainConfig(data="unused", epochs=5, lr_decay_every=1000)
    assert [learning_rate_at(paper, step) for step in (0, 1000, 2000, 3000, 4000)] == [1e-3, 1e-4, 1e-5, 1e-6, 1e-6]
    assert learning_rate_at(replace(paper, lr_decay_every=1), 10**6) == 1e-6  # a million decays: the floor
    at_floor = TrainState(epoch=5, global_step=3000, stale_epochs=2, finished=True)
    assert Trainer._stop_reason(SimpleNamespace(config=paper), at_floor) == (
        "learning rate at its floor and no improvement: stopping")
    assert Trainer._stop_reason(SimpleNamespace(config=paper), replace(at_floor, global_step=2999)) is None

    (tmp_path / "checkpoint").mkdir()
    extend_run(tmp_path, paper, asdict(at_floor), epochs=10, patience=20, command="mesocli train --resume")
    note = capsys.readouterr().err
    assert "learning rate at its floor (1e-06)" in note and "whatever --patience says" in note
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 10
