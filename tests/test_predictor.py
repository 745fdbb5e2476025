"""The compiled, batched predictor agrees with the Keras model for any number of faces."""

from __future__ import annotations

import numpy as np
import pytest

from mesocli.models import build_model
from mesocli.predictor import Predictor


@pytest.fixture(scope="module")
def model():
    return build_model("meso4")


@pytest.mark.parametrize("count", [1, 5, 33])
def test_predictor_matches_the_model_and_reports_p_fake(model, count: int) -> None:
    faces = np.random.default_rng(count).integers(0, 256, (count, 256, 256, 3), dtype=np.uint8)
    predictor = Predictor(model, batch_size=16)
    expected = model(faces.astype(np.float32) / 255.0, training=False).numpy()[:, 0]
    np.testing.assert_allclose(predictor.p_real(faces), expected, atol=1e-5)
    np.testing.assert_allclose(predictor.p_fake(faces), 1 - expected, atol=1e-5)


def test_predictor_refuses_wrong_shapes(model) -> None:
    with pytest.raises(ValueError, match="256, 256, 3"):
        Predictor(model).p_fake(np.zeros((2, 128, 128, 3), np.uint8))


@pytest.fixture(scope="module")
def nan_weights(tmp_path_factory: pytest.TempPathFactory):
    """Meso4 weights whose last layer holds NaN (a damaged or hostile file): every face scores NaN."""
    from mesocli.weights import ModelCard, save_own

    model = build_model("meso4")
    last = model.trainable_variables[-1]
    last.assign(np.full(last.shape, np.nan, dtype="float32"))
    path = tmp_path_factory.mktemp("nan") / "meso4_nan.weights.h5"
    save_own(model, path, ModelCard(arch="meso4", manipulation="df", weights_file=path.name, sha256="",
                                    name="meso4_nan"))
    return path


@pytest.mark.parametrize("runtime", ["onnx", "tensorflow"])
def test_weights_that_score_nan_stop_the_scan(nan_weights, run_cli, kit, runtime: str) -> None:
    """A NaN score was written as ``"p_fake": NaN`` (not JSON) with the verdict ``real`` and exit status 0."""
    result = run_cli("scan", kit.face_jpeg, "--weights", nan_weights, "--runtime", runtime, "--format", "jsonl")
    assert result.code == 2 and "NaN" not in result.out and '"real"' not in result.out
    assert result.error_line() == (f"{nan_weights.name}: the network's score of a face is not a number (NaN): "
                                   "these weights are unusable")


def test_weights_that_score_nan_stop_eval_in_one_line(nan_weights, run_cli, tmp_path) -> None:
    from test_evaluate import make_scored_dataset

    root = make_scored_dataset(tmp_path / "data", extras=False)
    result = run_cli("eval", "--data", root, "--weights", nan_weights, "--bootstrap", 0, "-q")
    assert result.code == 2 and "Traceback" not in result.err  # was a ValueError traceback (scores must be finite)
    assert result.error_line().endswith("the network's score of a face is not a number (NaN): these weights are "
                                        "unusable")


def test_weights_that_score_nan_stop_explain(nan_weights, run_cli, kit, tmp_path) -> None:
    """As scan and eval: explain wrote ``"p_fake": NaN`` (not JSON) with the verdict ``real``, a heatmap captioned
    ``p_fake nan``, and exit status 0."""
    out = tmp_path / "maps"
    result = run_cli("explain", kit.face_jpeg, "--weights", nan_weights, "--out", out)
    assert result.code == 2 and "NaN" not in result.out and '"real"' not in result.out
    assert result.error_line() == (f"{nan_weights.name}: the network's score of a face is not a number (NaN): "
                                   "these weights are unusable")
    assert not out.exists() or list(out.iterdir()) == []


def test_eval_stops_at_the_first_batch_that_scores_nan(nan_weights, tmp_path, monkeypatch) -> None:
    """eval decoded and scored the whole dataset (55 s for the 7,104 validation faces) before saying that the
    weights score NaN: it stops at the first batch, as scan does."""
    import importlib

    from PIL import Image

    from mesocli.datasets import find_dataset
    from mesocli.errors import WeightsError
    from mesocli.weights import load_weights

    for cls in ("df", "real"):
        (tmp_path / cls).mkdir()
        for n in range(150):
            Image.new("RGB", (32, 32), (n, 90, 40)).save(tmp_path / cls / f"v{n}_0.png")
    evaluating = importlib.import_module("mesocli.evaluate")  # the module (the package exports the function)
    batches: list[int] = []
    iter_decoded = evaluating.iter_decoded

    def counted(*args, **kwargs):
        for batch in iter_decoded(*args, **kwargs):
            batches.append(batch.start)
            yield batch

    monkeypatch.setattr(evaluating, "iter_decoded", counted)
    with pytest.raises(WeightsError, match="not a number"):
        evaluating.evaluate(load_weights(nan_weights), find_dataset(tmp_path, None), bootstrap=0)
    assert batches == [0]  # of 3 batches of 128
