"""Weight files: the authors' legacy files (parity), mesocli's own format, and bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import require_shared

from mesocli.errors import WeightsError
from mesocli.models import build_model
from mesocli.predictor import Predictor
from mesocli.weights import (
    ModelCard,
    bundled_weights_path,
    card_path_for,
    inspect_weights,
    load_weights,
    resolve_model,
    save_own,
)

LEGACY = ["Meso4_DF.h5", "Meso4_F2F.h5", "MesoInception_DF.h5", "MesoInception_F2F.h5"]


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, dict]:
    root = require_shared("reference")
    inputs = np.load(root / "inputs_256.npy")
    outputs = json.loads((root / "reference_outputs.json").read_text())["outputs"]
    return inputs, outputs


@pytest.mark.slow
@pytest.mark.parametrize("name", LEGACY)
def test_legacy_weights_reproduce_the_reference_outputs(name: str, reference, authors_weights: Path) -> None:
    inputs, outputs = reference
    loaded = load_weights(authors_weights / name)
    assert loaded.legacy
    assert loaded.arch == {"Meso4": "meso4", "MesoInception4": "mesoinception4"}[outputs[name]["architecture"]]
    p_real = loaded.model(inputs, training=False).numpy()[:, 0]
    np.testing.assert_allclose(p_real, outputs[name]["p_real"], atol=1e-5, rtol=0)
    # the compiled predictor (uint8 in, /255 in the graph) gives the same numbers, as p_fake = 1 - p_real
    faces = np.rint(inputs * 255).astype(np.uint8)
    np.testing.assert_allclose(
        Predictor(loaded.model).p_fake(faces), 1 - np.asarray(outputs[name]["p_real"]), atol=1e-5, rtol=0
    )


def test_legacy_branch_order_matters(reference, authors_weights: Path) -> None:
    """Swapping the identically shaped inception branches b and c must change the output (the test has teeth)."""
    inputs, outputs = reference
    loaded = load_weights(authors_weights / "MesoInception_DF.h5")
    layers = {layer.name: layer for layer in loaded.model.layers}
    b, c = layers["conv2d_3"].get_weights(), layers["conv2d_5"].get_weights()
    layers["conv2d_3"].set_weights(c)
    layers["conv2d_5"].set_weights(b)
    p_real = loaded.model(inputs, training=False).numpy()[:, 0]
    assert np.abs(p_real - outputs["MesoInception_DF.h5"]["p_real"]).max() > 1e-3


def test_own_format_round_trip(tmp_path: Path) -> None:
    model = build_model("mesoinception4")
    x = np.random.default_rng(3).random((2, 256, 256, 3), dtype=np.float32)
    path = tmp_path / "mi4.weights.h5"
    card = save_own(model, path, ModelCard(arch="mesoinception4", manipulation="f2f", weights_file="", sha256=""))
    assert card.weights_file == "mi4.weights.h5"
    assert card_path_for(path) == tmp_path / "mi4.json"
    assert json.loads((tmp_path / "mi4.json").read_text())["sha256"] == card.sha256
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*"))
    loaded = load_weights(path)
    assert (loaded.arch, loaded.legacy, loaded.card.manipulation) == ("mesoinception4", False, "f2f")
    np.testing.assert_allclose(loaded.model(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6)


def test_architecture_is_inferred_and_checked(own_weights: Path) -> None:
    assert inspect_weights(own_weights) == ("meso4", False)
    with pytest.raises(WeightsError, match="holds Meso4 weights, not MesoInception4"):
        load_weights(own_weights, arch="mesoinception4")


def test_corrupted_weights_are_refused_by_their_card(own_weights: Path, tmp_path: Path) -> None:
    copy = tmp_path / own_weights.name
    shutil.copy(own_weights, copy)
    shutil.copy(card_path_for(own_weights), card_path_for(copy))
    card = json.loads(card_path_for(copy).read_text())
    card["sha256"] = "0" * 64
    card_path_for(copy).write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_weights(copy)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"hello, not weights\n", "not an HDF5 weights file"), (b"PK\x03\x04", "not an HDF5")],
)
def test_bad_weight_files_give_clear_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "w.h5"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


@pytest.mark.parametrize(("content", "problem"), [
    (None, "weights file not found"), (b"hello, not weights\n", "not an HDF5 weights file"),
    ("folder", "is a folder, not a weights file")])
def test_compare_weights_refuses_a_bad_weights_path_in_one_line(
        tmp_path: Path, content: bytes | str | None, problem: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``scripts/compare_weights.py`` given a weights path that does not exist or is not a weights file ended in a
    Python traceback: it is one line on stderr naming the path and the problem, and exit status 2, as mesocli's
    commands say it."""
    import runpy
    import sys

    from PIL import Image

    for label in ("df", "real"):
        (tmp_path / "data" / "test" / label).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "data" / "test" / label / "000_0.jpg")
    bad = tmp_path / "w.h5"
    if content == "folder":
        bad.mkdir()
    elif content is not None:
        bad.write_bytes(content)
    script = Path(__file__).resolve().parents[1] / "scripts" / "compare_weights.py"
    monkeypatch.setattr(sys, "argv", ["compare_weights.py", "--data", str(tmp_path / "data"), str(bad)])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        runpy.run_path(str(script), run_name="__main__")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == f"error: {bad}: {problem}\n"


def test_keras_archives_are_refused_without_loading_code(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    build_model("meso4").save(path)
    with pytest.raises(WeightsError, match="full-model .keras archive"):
        load_weights(path)


def test_an_unrelated_hdf5_file_is_refused(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["x"] = np.zeros(3)
    with pytest.raises(WeightsError, match="fit neither"):
        load_weights(path)


def test_missing_bundled_choice_says_how_to_pass_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("mesocli.weights.bundled_dir", lambda: tmp_path)
    with pytest.raises(
        WeightsError, match=r"no bundled MesoInception4 weights for 'f2f'.*--weights.*MesoInception_F2F\.h5"
    ):
        bundled_weights_path("mesoinception4", "f2f")
    with pytest.raises(WeightsError, match="unknown --model"):
        resolve_model(None, "neuraltextures", None)


def test_readme_weights_table_quotes_the_model_cards() -> None:
    """Each bundled row of README's weights table gives its card's figures, rounded as `mesocli models` rounds."""
    from mesocli.weights import bundled_cards

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`") and cells[0].endswith("`"):
            rows[cells[0].strip("`")] = [figure.strip() for cell in cells[2:] for figure in cell.split("/")]
    cards = bundled_cards()
    assert cards and set(rows) == {card.weights_file.removesuffix(".weights.h5") for card in cards}
    for card in cards:
        val, methods = card.metrics["validation"], card.metrics["ffpp_test"]["methods"]
        figures = [val["accuracy"], val["auc"], *(methods[m]["auc"] for m in ("Deepfakes", "Face2Face", "FaceSwap"))]
        assert rows[card.weights_file.removesuffix(".weights.h5")] == [f"{value:.3f}" for value in figures], card.name


def test_the_bundled_cards_name_their_data_as_the_repository_sees_it() -> None:
    """A bundled card records where its figures' data lay relative to the repository (``../shared/data/mesonet-df``,
    ``build/ffpp-test20``), as its rebuild commands name them: never an absolute path of the machine that bundled it
    (two cards held one, and the bundling script wrote them so)."""
    from mesocli.weights import bundled_cards

    def strings(value: object) -> list[str]:
        if isinstance(value, dict):
            return [text for item in value.values() for text in strings(item)]
        if isinstance(value, list):
            return [text for item in value for text in strings(item)]
        return [value] if isinstance(value, str) else []

    cards = bundled_cards()
    assert cards
    for card in cards:
        absolute = [text for text in strings(card.as_dict()) if text.startswith("/") or text[1:3] == ":\\"]
        assert not absolute, (card.name, absolute)
        assert {card.metrics[key]["data"]["root"] for key in ("validation", "ffpp_test")} == {
            "../shared/data/mesonet-df", "build/ffpp-test20"}, card.name


def test_a_cards_created_time_is_read_with_z_whichever_way_it_was_written(tmp_path: Path) -> None:
    """Found by a pipeline engineer: model cards wrote ``created`` as ``…+00:00`` while every other time mesocli
    writes is ``…Z``. New cards write ``Z`` (tests/test_training.py), the bundled ones hold it; a card written before
    reads as ``Z`` too, so ``models --format json`` gives one form; other text is kept as it is."""
    from mesocli.weights import bundled_cards

    bundled = json.loads(card_path_for(bundled_weights_path("meso4", "df")).read_text())
    cards = {card.weights_file: card for card in bundled_cards()}
    assert bundled["created"].endswith("Z") and cards["meso4_df.weights.h5"].created == bundled["created"]
    for created, read in (("2026-12-07T09:45:20Z", "2026-12-07T09:45:20Z"), ("2026-12-07T09:45:20+00:00",
                          "2026-12-07T09:45:20Z"), ("2026-12-07T11:45:20+02:00", "2026-12-07T11:45:20+02:00"),
                          ("yesterday", "yesterday"), ("", "")):
        path = tmp_path / "card.json"
        path.write_text(json.dumps({**bundled, "created": created}))
        assert ModelCard.from_json(path).created == read, created


def test_a_training_run_folder_given_as_weights_names_its_best_weights(tmp_path: Path) -> None:
    """``eval --weights runs/mine`` (the run folder ``train --out`` made) said only "is a folder"."""
    import mesocli

    run = tmp_path / "run"
    run.mkdir()
    (run / "best.weights.h5").write_bytes(b"")
    with pytest.raises(WeightsError) as caught:
        mesocli.load_model(run)
    assert str(caught.value) == f"{run}: is a folder, not a weights file (a training run: give {run}/best.weights.h5)"


def test_a_card_whose_resize_is_unknown_is_refused(own_weights: Path, tmp_path: Path, run_cli) -> None:
    """A model card whose ``resize`` this mesocli does not know (a later version's, a typo) is refused as the
    weights are loaded, one line naming it and the known ones, exit 2, nothing scanned: it fell back to bilinear,
    silently feeding the weights crops resized another way than they were trained on."""
    from PIL import Image

    copy = tmp_path / own_weights.name
    shutil.copy(own_weights, copy)
    card = json.loads(card_path_for(own_weights).read_text())
    crop = tmp_path / "crop.png"
    Image.new("RGB", (90, 110), (120, 90, 80)).save(crop)
    for value in ("bicubic", 3):
        card_path_for(copy).write_text(json.dumps({**card, "resize": value}))
        expected = (f"{card_path_for(copy)}: model card's resize {json.dumps(value)} is not one this mesocli knows "
                    "(bilinear, nearest): written by a later mesocli, or a mistake in the card")
        with pytest.raises(WeightsError) as raised:
            load_weights(copy)
        assert str(raised.value) == expected
        result = run_cli("scan", crop, "--detector", "none", "--weights", copy, "--format", "jsonl")
        assert (result.code, result.out) == (2, "")
        assert result.err.strip().splitlines() == [f"mesocli: error: {expected}"]
    card_path_for(copy).write_text(json.dumps({**card, "resize": "nearest"}))
    assert load_weights(copy).card.resize == "nearest"  # the known ones load


def test_a_checkpoint_takes_its_runs_resize_and_an_unknown_one_is_refused(own_weights: Path, tmp_path: Path,
                                                                          run_cli) -> None:
    """A file in a run's ``checkpoints/`` folder has no model card: its resize is the run's ``config.json``'s (a
    config of another network, or one that cannot be read, is not its run's: bilinear, as any file without a card);
    an unknown resize there is refused in one line, exit 2, nothing scanned, as in a card."""
    from dataclasses import asdict

    from PIL import Image

    from mesocli.training import TrainConfig
    from mesocli.weights import resize_of, resize_origin

    checkpoint = tmp_path / "run" / "checkpoints" / "epoch_002.weights.h5"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(own_weights, checkpoint)
    config = tmp_path / "run" / "config.json"
    config.write_text(json.dumps(asdict(TrainConfig(data="data", resize="nearest")), indent=1))
    loaded = load_weights(checkpoint)
    assert loaded.card is None and resize_of(loaded) == "nearest"
    assert resize_origin(loaded) == f"{config} (the run's train --resize: a checkpoint has no model card)"
    for other in (json.dumps(asdict(TrainConfig(data="data", arch="mesoinception4", resize="nearest"))), "{"):
        config.write_text(other)
        assert (resize_of(loaded), resize_origin(loaded)) == ("bilinear", "mesocli's default (no model card)")
    config.write_text(json.dumps({**asdict(TrainConfig(data="data")), "resize": "bicubic"}))
    crop = tmp_path / "crop.png"
    Image.new("RGB", (90, 110), (120, 90, 80)).save(crop)
    result = run_cli("scan", crop, "--detector", "none", "--weights", checkpoint, "--format", "jsonl")
    assert (result.code, result.out) == (2, "")
    assert result.err.strip().splitlines() == [
        f"mesocli: error: {config}: the run's resize \"bicubic\" is not one this mesocli knows (bilinear, nearest): "
        f"its checkpoint {checkpoint.name} would be fed crops resized another way than it was trained on"]


def test_a_link_to_a_checkpoint_takes_its_runs_resize(own_weights: Path, tmp_path: Path) -> None:
    """A link to a run's checkpoint (``latest.weights.h5 -> run/checkpoints/epoch_002.weights.h5``) holds the
    checkpoint's weights: it is read with the run's resize, as the checkpoint is, not mesocli's default. A file
    merely named like a checkpoint, in no run's ``checkpoints/`` folder, keeps the default."""
    from dataclasses import asdict

    from mesocli.training import TrainConfig
    from mesocli.weights import resize_of, resize_origin

    checkpoint = tmp_path / "run" / "checkpoints" / "epoch_002.weights.h5"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(own_weights, checkpoint)
    config = tmp_path / "run" / "config.json"
    config.write_text(json.dumps(asdict(TrainConfig(data="data", resize="nearest")), indent=1))
    link = tmp_path / "latest.weights.h5"
    link.symlink_to(checkpoint)
    loaded = load_weights(link)
    assert (resize_of(loaded), resize_origin(loaded)) == (
        "nearest", f"{config} (the run's train --resize: a checkpoint has no model card)")
    alone = tmp_path / "elsewhere" / "epoch_002.weights.h5"
    alone.parent.mkdir()
    shutil.copy(own_weights, alone)
    assert resize_of(load_weights(alone)) == "bilinear"


@pytest.mark.parametrize("own", [None, "bilinear"], ids=["export-without-resize", "export-with-resize"])
def test_a_card_beside_an_onnx_export_whose_resize_is_unknown_is_refused(own: str | None, tmp_path: Path,
                                                                         run_cli) -> None:
    """A model card beside an exported ``.onnx`` whose ``resize`` this mesocli does not know (``"lanczos"``, a
    typo, a number) is refused as the export is loaded, by scan, eval and explain: one line naming the card, the
    value and the known ones, exit 2, nothing scanned. It was read as no card at all: the export ran, its crops
    resized as its own card or the bundled weights it came from said, else bilinear (a guess)."""
    from dataclasses import replace

    from PIL import Image

    from mesocli.export import onnx_bytes, read_source
    from mesocli.runtime import load_onnx

    source = read_source(bundled_weights_path("meso4", "f2f"))
    exported = tmp_path / "f2f.onnx"
    exported.write_bytes(onnx_bytes(source.arrays, source.arch, replace(source.card(), resize=own)))
    card = json.loads(card_path_for(source.path).read_text())
    crop = tmp_path / "crop.png"
    Image.new("RGB", (90, 110), (120, 90, 80)).save(crop)
    for label in ("df", "real"):
        (tmp_path / "data" / label).mkdir(parents=True)
        shutil.copy(crop, tmp_path / "data" / label / f"{label}.png")
    for value in ("lanczos", 3):
        (tmp_path / "f2f.json").write_text(json.dumps({**card, "resize": value}))
        expected = (f"{tmp_path / 'f2f.json'}: model card's resize {json.dumps(value)} is not one this mesocli "
                    "knows (bilinear, nearest): written by a later mesocli, or a mistake in the card")
        with pytest.raises(WeightsError) as raised:
            load_onnx(exported)
        assert str(raised.value) == expected
        for command in (("scan", crop, "--detector", "none", "--format", "jsonl"),
                        ("eval", "--data", tmp_path / "data", "--bootstrap", "0", "-q"),
                        ("explain", crop, "--out", tmp_path / "maps")):
            result = run_cli(*command, "--weights", exported)
            assert (result.code, result.error_line()) == (2, expected), command
    assert not (tmp_path / "maps").exists()
    (tmp_path / "f2f.json").write_text(json.dumps({**card, "resize": "bilinear"}))
    assert load_onnx(exported).source_card.resize == "bilinear"  # a known one loads


def test_a_card_of_other_weights_beside_an_onnx_export_is_not_its_card(tmp_path: Path, run_cli) -> None:
    """A stale model card beside an exported ``.onnx`` (of other weights: another ``sha256``, no ``onnx_sha256`` of
    this export) whose ``resize`` this mesocli does not know refused the export, as if it were its card; a card of
    other weights with a known resize was already passed over (the export runs on its own card and the bundled
    weights it came from). Now both are; a card that records this very export (its ``onnx_sha256``) is its card,
    and refused."""
    from dataclasses import replace

    from PIL import Image

    from mesocli.digest import sha256_file
    from mesocli.export import onnx_bytes, read_source
    from mesocli.runtime import load_onnx

    source = read_source(bundled_weights_path("meso4", "f2f"))
    exported = tmp_path / "f2f.onnx"
    exported.write_bytes(onnx_bytes(source.arrays, source.arch, replace(source.card(), resize=None)))
    card = json.loads(card_path_for(source.path).read_text())
    stale = {**card, "sha256": "0" * 64, "onnx_sha256": "1" * 64, "resize": "lanczos"}
    (tmp_path / "f2f.json").write_text(json.dumps(stale))
    model = load_onnx(exported)
    assert model.source_card is not None and model.source_card.sha256 == card["sha256"]  # the bundled card
    crop = tmp_path / "crop.png"
    Image.new("RGB", (90, 110), (120, 90, 80)).save(crop)
    result = run_cli("scan", crop, "--detector", "none", "--format", "jsonl", "--weights", exported)
    assert result.code == 0, result.err
    assert json.loads(result.out)["settings"]["resize"] == "bilinear"
    (tmp_path / "f2f.json").write_text(json.dumps({**stale, "onnx_sha256": sha256_file(exported)}))  # this export's
    with pytest.raises(WeightsError, match="model card's resize \"lanczos\" is not one this mesocli knows"):
        load_onnx(exported)


def test_an_export_describes_the_resize_its_weights_are_fed(tmp_path: Path) -> None:
    """An export's card says how a crop not 256×256 is resized for it (``input``): nearest for weights whose card
    says so (the bundled df detectors, as exported and as bundled), bilinear for the others. Every export said
    "Pillow bilinear resize", the bundled nearest df exports too, beside ``resize: nearest`` in the same card."""
    from mesocli.export import export, onnx_card, read_source
    from mesocli.weights import bundled_cards, bundled_dir

    def said(resize: str) -> str:
        return f"image: uint8 (N, 256, 256, 3), RGB, NHWC; 256x256 face crops (Pillow {resize} resize)"

    for manipulation, resize in (("df", "nearest"), ("f2f", "bilinear")):
        written = export(read_source(bundled_weights_path("meso4", manipulation)), tmp_path / f"{manipulation}.onnx")
        card = onnx_card(written)
        assert card is not None and card.input == said(resize), manipulation
    for own in bundled_cards():
        card = onnx_card(bundled_dir() / own.weights_file.replace(".weights.h5", ".onnx"))
        assert card is not None and card.input == said(own.resize or "bilinear"), own.name


def test_an_export_of_the_authors_file_describes_their_resize(authors_weights: Path, tmp_path: Path) -> None:
    """The authors' files are read nearest (their Keras loader's resize): their exports say so (they said bilinear)."""
    from mesocli.export import export, onnx_card, read_source

    card = onnx_card(export(read_source(authors_weights / "Meso4_DF.h5"), tmp_path / "authors.onnx"))
    assert card is not None and card.legacy and card.resize is None
    assert card.input == "image: uint8 (N, 256, 256, 3), RGB, NHWC; 256x256 face crops (Pillow nearest resize)"


def test_bundle_weights_records_data_roots_relative_to_the_repository_through_links(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/bundle_weights.py records ``--data``/``--ffpp`` relative to the repository: from its root, from another
    folder, and also from inside a ``build/`` that links to another disk, or through a link to the repository (these
    recorded ``../big/build/ffpp-test20``, ``../repo-link/build/ffpp-test20``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bundle_weights", Path(__file__).resolve().parents[1] / "scripts" / "bundle_weights.py")
    bundle_weights = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle_weights)
    repo, shared, build = tmp_path / "repo", tmp_path / "shared" / "data" / "mesonet-df", tmp_path / "big" / "build"
    for folder in (repo, shared, build / "ffpp-test20"):
        folder.mkdir(parents=True)
    (repo / "build").symlink_to(build)
    (tmp_path / "repo-link").symlink_to(repo)
    monkeypatch.setattr(bundle_weights, "REPO", repo.resolve())
    for cwd, root, recorded in [
        (repo, "../shared/data/mesonet-df", "../shared/data/mesonet-df"),  # the rebuild commands
        (repo, "build/ffpp-test20", "build/ffpp-test20"),
        (tmp_path, "shared/data/mesonet-df", "../shared/data/mesonet-df"),  # another folder
        (tmp_path, "repo/build/ffpp-test20", "build/ffpp-test20"),
        (repo / "build", "ffpp-test20", "build/ffpp-test20"),  # inside the linked build/
        (tmp_path, str(tmp_path / "repo-link" / "build" / "ffpp-test20"), "build/ffpp-test20"),  # a linked repository
        (tmp_path / "repo-link", "build/ffpp-test20", "build/ffpp-test20"),
    ]:
        monkeypatch.chdir(cwd)
        assert bundle_weights.as_recorded(Path(root)) == recorded, (cwd, root)
