"""The two networks: exact parameter counts, input/output shapes, output orientation."""

from __future__ import annotations

import numpy as np
import pytest

from mesocli.models import TRAINABLE_PARAMS, build_model, count_trainable


@pytest.mark.parametrize(("arch", "published"), [("meso4", 27_977), ("mesoinception4", 28_615)])
def test_trainable_parameter_counts_match_the_paper_code(arch: str, published: int) -> None:
    model = build_model(arch)
    assert count_trainable(model) == published == TRAINABLE_PARAMS[arch]
    assert model.input_shape == (None, 256, 256, 3)
    assert model.output_shape == (None, 1)


def test_output_is_a_sigmoid_probability() -> None:
    model = build_model("meso4")
    out = model(np.random.default_rng(0).random((3, 256, 256, 3), dtype=np.float32), training=False).numpy()
    assert out.shape == (3, 1)
    assert np.all((out >= 0) & (out <= 1))


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet")
