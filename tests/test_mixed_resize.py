"""Detectors that resize face crops differently, used together: a Meso4 df detector trained with
``train --resize nearest`` beside bilinear f2f and MesoInception4 detectors (``--model any``, ``--arch ensemble``).
Each network is fed the crops resized as its card says, and the outputs say which read which."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import RunCli, check_schema, write_bundle
from PIL import Image

from mesocli import weights as weights_module
from mesocli.datasets import find_dataset
from mesocli.errors import WeightsError
from mesocli.evaluate import evaluate
from mesocli.preprocess import face_to_uint8
from mesocli.runtime import load_onnx, make_predictor, resolve
from mesocli.scan import ScanOptions, scan_inputs
from mesocli.weights import resize_of

MIXED = {"df": {"meso4": "nearest", "mesoinception4": "bilinear"}}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Meso4 df (its card: nearest) and f2f, MesoInception4 df (bilinear): real networks from seeded inits."""
    return write_bundle(tmp_path_factory.mktemp("mixed-bundle"),
                        [("meso4", "df", 41, 1.5), ("meso4", "f2f", 45, 1.5), ("mesoinception4", "df", 43, 1.5)],
                        nearest=("meso4_df",))


@pytest.fixture
def bundled(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(weights_module, "bundled_dir", lambda: bundle)
    return bundle


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MesoNet-like split of face crops none of which is 256×256 (so the two resizes give other pixels)."""
    root = tmp_path_factory.mktemp("mixed-crops")
    rng = np.random.default_rng(9)
    for label in ("df", "real"):
        (root / "validation" / label).mkdir(parents=True)
        for number in range(2):
            pixels = rng.integers(0, 256, (40 + 9 * number, 52, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "validation" / label / f"v{label}{number}_0.png")
    return root


def _faces(paths: list[str], root: Path, resize: str) -> np.ndarray:
    return np.stack([face_to_uint8(Image.open(root / path).convert("RGB"), resize) for path in paths])


def test_eval_feeds_each_member_its_own_resize(bundled: Path, crops: Path) -> None:
    """``eval --model any`` and ``--arch ensemble`` (with ``--compare``): the df member reads its crops nearest, the
    others bilinear (each file read once); ``provenance.resize`` (and ``comparison.resize``) give each member's.
    Before, every member read the bilinear crops and the report said ``bilinear``."""
    from rich.console import Console

    from mesocli.writers import eval_table

    detectors, ensemble = resolve("meso4", "any", None), resolve("ensemble", "df", None)
    report = evaluate(detectors, find_dataset(crops, "validation"), bootstrap=0, compare_with=ensemble)
    paths = report.paths
    nearest, bilinear = _faces(paths, crops, "nearest"), _faces(paths, crops, "bilinear")
    df, f2f = detectors.members["df"], detectors.members["f2f"]
    assert np.abs(make_predictor(df).p_fake(nearest) - make_predictor(df).p_fake(bilinear)).max() > 1e-3
    np.testing.assert_allclose(report.p_fake_by_detector["df"], make_predictor(df).p_fake(nearest), atol=1e-6)
    np.testing.assert_allclose(report.p_fake_by_detector["f2f"], make_predictor(f2f).p_fake(bilinear), atol=1e-6)
    meso4, inception = ensemble.members["meso4"], ensemble.members["mesoinception4"]
    mean = (make_predictor(meso4).p_fake(nearest) + make_predictor(inception).p_fake(bilinear)) / 2
    np.testing.assert_allclose(report.compared_p_fake, mean, atol=1e-6)
    result = report.to_dict()
    assert result["provenance"]["resize"] == {"df": "nearest", "f2f": "bilinear"}
    assert result["comparison"]["resize"] == MIXED["df"]
    console = Console(record=True, width=220)
    console.print(eval_table(report))
    shown = console.export_text()
    assert "df nearest, f2f bilinear" in shown and "meso4 nearest, mesoinception4 bilinear" in shown
    same = evaluate(resolve("meso4", "f2f", None), find_dataset(crops, "validation"), bootstrap=0)
    assert same.to_dict()["provenance"]["resize"] == "bilinear"  # one network: the single value, as before


class Seen:
    """A scan observer that keeps the crops it is shown."""

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []

    def started(self, key: int, path: str) -> None: ...

    def sampled(self, key: int, frame: int, time: float, faces: int) -> None: ...

    def scored(self, key: int, frame: int, time: float, track: int | None, crop: np.ndarray, p_fake: float,
               detectors: dict[str, float] | None = None) -> None:
        self.crops.append(crop)


def test_scan_detector_none_scores_each_member_on_its_own_resize(bundled: Path, crops: Path) -> None:
    """``scan --detector none`` with a set (or an ensemble inside one) whose networks resize differently scores
    each on its own resize of the crop and says so per member in ``settings.resize``; the crop shown to observers
    (heatmaps, reports) is the deciding detector's. It was refused."""
    path = crops / "validation" / "df" / "vdf1_0.png"
    nearest, bilinear = _faces([path.name], path.parent, "nearest"), _faces([path.name], path.parent, "bilinear")
    detectors = resolve("meso4", "any", None)
    seen = Seen()
    (result,) = scan_inputs([str(path)], detectors, ScanOptions(detector="none"), observer=seen)
    row = result.to_dict()
    check_schema(row)
    assert row["settings"]["resize"] == {"df": "nearest", "f2f": "bilinear"}
    assert row["detectors"]["df"]["p_fake"] == pytest.approx(
        float(make_predictor(detectors.members["df"]).p_fake(nearest)[0]), abs=1e-4)
    assert row["detectors"]["f2f"]["p_fake"] == pytest.approx(
        float(make_predictor(detectors.members["f2f"]).p_fake(bilinear)[0]), abs=1e-4)
    assert row["detectors"]["f2f"]["p_fake"] > row["detectors"]["df"]["p_fake"]  # f2f decides, df's crop first
    (shown,) = seen.crops  # what a heatmap is drawn on: the crop as the deciding detector read it
    np.testing.assert_array_equal(shown, bilinear[0])
    ensembles = resolve("ensemble", "any", None)
    (result,) = scan_inputs([str(path)], ensembles, ScanOptions(detector="none"))
    row = result.to_dict()
    check_schema(row)
    assert row["settings"]["resize"] == MIXED
    networks = ensembles.members["df"].members
    mean = (make_predictor(networks["meso4"]).p_fake(nearest) + make_predictor(networks["mesoinception4"]).p_fake(
        bilinear)) / 2
    assert row["p_fake"] == pytest.approx(float(mean[0]), abs=1e-4)
    (result,) = scan_inputs([str(path)], detectors, ScanOptions(detector="hog"))
    assert result.settings["resize"] == "bilinear"  # aligned crops: warped to 256×256, whatever the weights


def test_onnx_exports_carry_the_resize_of_their_card(bundled: Path, tmp_path: Path) -> None:
    """``mesocli export`` writes the card's resize into the ONNX card, and the .onnx run as it is reads crops so
    resized; a bundled .onnx whose own card has no resize (exported before cards had one) finds it in the model
    card beside it, as its .weights.h5 does. Both read bilinear before."""
    from mesocli.export import ExportCard, export, onnx_bytes, read_source
    from mesocli.runtime import _onnx_card

    source = read_source(bundled / "meso4_df.weights.h5")
    older = ExportCard(source.sha256, source.arch, source.manipulation, source.name, source.path.name, source.legacy)
    beside = bundled / "meso4_df.onnx"  # as the bundled exports are: no resize in their own card
    beside.write_bytes(onnx_bytes(source.arrays, source.arch, older))
    try:
        assert resize_of(load_onnx(beside)) == "nearest" == resize_of(load_onnx(bundled / "meso4_df.weights.h5"))
    finally:
        beside.unlink()
    exported = export(source, tmp_path / "df.onnx")
    card, _ = _onnx_card(exported.read_bytes())
    assert card is not None and card.resize == "nearest"
    assert resize_of(load_onnx(exported)) == "nearest"
    (tmp_path / "df.json").write_text("[]")  # a JSON beside it that is no model card (a scan's output): ignored
    assert resize_of(load_onnx(exported)) == "nearest"
    later = tmp_path / "later.onnx"  # a resize this mesocli does not know (a later version's): refused, as in a card
    later.write_bytes(onnx_bytes(source.arrays, source.arch, replace(older, resize="bicubic")))
    with pytest.raises(WeightsError, match=r"later.onnx: model card's resize \"bicubic\" is not one this mesocli "
                                           r"knows \(bilinear, nearest\)"):
        load_onnx(later)
    f2f = read_source(bundled / "meso4_f2f.weights.h5")
    assert resize_of(load_onnx(export(f2f, tmp_path / "f2f.onnx"))) == "bilinear"


def test_resume_refuses_rows_of_another_resize(bundled: Path, crops: Path, tmp_path: Path, run_cli: RunCli) -> None:
    """Rows record ``settings.resize``; a resume whose resize differs from the rows' is refused (exit 2, one line,
    the output untouched); rows without it (an earlier mesocli) count as bilinear."""
    first, second = crops / "validation" / "df" / "vdf0_0.png", crops / "validation" / "real" / "vreal0_0.png"
    output = tmp_path / "rows.jsonl"
    code, _, err = run_cli("scan", first, "--detector", "none", "--model", "df", "--output", output, "-q")
    assert code == 0, err
    code, _, err = run_cli("scan", first, second, "--detector", "none", "--model", "df", "--output", output,
                           "--resume", "-q")
    assert code == 0, err  # its own rows: resumed
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert [row["settings"]["resize"] for row in rows] == ["nearest", "nearest"]
    for older in ("bilinear", None):  # written bilinear, or by a mesocli before settings.resize
        for row in rows:
            row["settings"]["resize"] = older
            if older is None:
                del row["settings"]["resize"]
        written = "".join(json.dumps(row) + "\n" for row in rows[:1])
        output.write_text(written)
        code, _, err = run_cli("scan", first, second, "--detector", "none", "--model", "df", "--output", output,
                               "--resume", "-q")
        assert code == 2 and output.read_text() == written
        assert len(err.strip().splitlines()) == 1
        assert "other settings (crop resize bilinear, not nearest)" in err


def test_scan_report_says_how_each_detector_resized_the_crops(bundled: Path, crops: Path, tmp_path: Path,
                                                              run_cli: RunCli) -> None:
    """``scan --detector none --report`` names the resize of crops not 256×256 in the report's header (each
    detector's where they differ), as ``settings.resize`` does in the rows; a hog scan's report leaves it out
    (its aligned crops are warped to 256×256). The report said nothing of it."""
    path = crops / "validation" / "df" / "vdf1_0.png"
    report = tmp_path / "report.html"
    code, _, err = run_cli("scan", path, "--detector", "none", "--model", "any", "--report", report, "-q",
                           "--format", "json")
    assert code == 0, err
    assert "<li>crop resize: df nearest, f2f bilinear (of crops not 256×256: each detector as its weights ask)" in (
        report.read_text(encoding="utf-8"))
    code, _, err = run_cli("scan", path, "--detector", "none", "--model", "f2f", "--report", report, "-q",
                           "--format", "json", "--force")
    assert code == 0, err
    assert "<li>crop resize: bilinear (of crops not 256×256: as the weights ask)" in report.read_text(encoding="utf-8")


def test_eval_table_does_not_call_a_nearest_card_the_authors_loader(bundled: Path, crops: Path) -> None:
    """Weights whose model card asks for nearest (``train --resize nearest``: the bundled df detectors) are not the
    authors' files: eval's table said their crops were resized by "the authors' Keras loader's, for their original
    weights"."""
    from rich.console import Console

    from mesocli.writers import eval_table

    report = evaluate(resolve("meso4", "df", None), find_dataset(crops, "validation"), bootstrap=0)
    assert report.to_dict()["provenance"]["resize"] == "nearest"
    console = Console(record=True, width=220)
    console.print(eval_table(report))
    row = next(line for line in console.export_text().splitlines() if "resize" in line)
    assert "for their original weights" not in row and "from the model card" in row


def test_a_crop_256_already_is_made_once_and_shared_by_every_resize(tmp_path: Path) -> None:
    """``--detector none`` with detectors that resize differently (the bundled ``--model any``: df nearest, f2f and fs
    bilinear): a crop 256×256 already is the same bytes by either resize (none is applied), so it is made once and
    every network scores that one array; it was made once per resize and stacked into a batch per resize. A batch
    that holds it beside a crop of another size still feeds each network that one its own resize."""
    from mesocli.faces import _whole_frame
    from mesocli.scan import _batch, crop_resizes
    from mesocli.video import Frame

    detectors = resolve(None, "any", None)
    resizes = crop_resizes("none", detectors)
    assert set(resizes) == {"nearest", "bilinear"}
    rng = np.random.default_rng(5)
    square, other = rng.integers(0, 256, (256, 256, 3), np.uint8), rng.integers(0, 256, (170, 150, 3), np.uint8)
    for image in (square, square[:, :, :1]):  # (grey too: the same bytes either way)
        assert face_to_uint8(image, "nearest").tobytes() == face_to_uint8(image, "bilinear").tobytes()
    shared = _whole_frame(Frame(0, 0.0, square), "square.png", resizes).crop
    assert isinstance(shared, np.ndarray) and shared.tobytes() == square.tobytes()
    made = _whole_frame(Frame(0, 0.0, other), "other.png", resizes).crop
    assert isinstance(made, dict) and set(made) == set(resizes)
    batch = _batch([shared, made])
    for resize in resizes:
        np.testing.assert_array_equal(batch[resize], np.stack([square, face_to_uint8(other, resize)]))
    paths = [tmp_path / "square.png", tmp_path / "other.png"]
    for path, pixels in zip(paths, (square, other), strict=True):
        Image.fromarray(pixels).save(path)
    rows = [result.to_dict() for result in scan_inputs([str(p) for p in paths], detectors,
                                                       ScanOptions(detector="none"))]
    for row, pixels in zip(rows, (square, other), strict=True):
        for name, member in detectors.members.items():
            face = face_to_uint8(pixels, resize_of(member))[None]
            assert row["detectors"][name]["p_fake"] == pytest.approx(float(make_predictor(member).p_fake(face)[0]),
                                                                     abs=1e-4), (row["path"], name)
