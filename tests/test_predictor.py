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
