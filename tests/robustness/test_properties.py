"""Properties over any input: aggregation and the timeline (any scores, times, threshold, window,
duration), and the one preprocessing (any image mode and size, any array)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mesocli import aggregate
from mesocli.preprocess import to_network_input

unit = st.floats(0, 1, allow_nan=False)


@st.composite
def timelines(draw: st.DrawFn) -> tuple[list[float], list[float | None], float | None]:
    """Sampled frames as a decoder gives them: ascending times (gaps, repeats, any start), a p_fake or
    None (no face) each, and the header's duration (missing, shorter or longer than the frames)."""
    gaps = draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 30)), max_size=80))
    times = [float(t) for t in np.cumsum([draw(st.floats(0, 1000)), *gaps])]
    scores = draw(st.lists(st.one_of(st.none(), unit), min_size=len(times), max_size=len(times)))
    duration = draw(st.one_of(st.none(), st.floats(0, 2000, allow_nan=False)))
    return times, scores, duration


@settings(max_examples=300, deadline=None)
@given(timelines(), unit, st.integers(1, 15))
def test_segments_are_well_formed_and_inside_the_video(timeline, threshold: float, window: int) -> None:
    times, scores, duration = timeline
    found = aggregate.segments(times, scores, threshold, window, duration)
    end_of_video = max([duration or 0.0, *times]) if times else 0.0
    for segment in found:
        assert 0.0 <= segment.start <= segment.end <= end_of_video
        assert 1 <= segment.frames <= len(times)
        assert threshold - 1e-9 <= segment.p_fake_mean <= segment.p_fake_max + 1e-12  # a mean may be 1 ulp over
        assert segment.p_fake_max <= 1.0
    for before, after in zip(found, found[1:], strict=False):
        assert before.end <= after.start  # sorted, not overlapping
    rounded = [segment.to_dict() for segment in found]  # as written in the JSON
    for item in rounded:
        assert 0.0 <= item["start"] <= item["end"] and item["p_fake_mean"] <= item["p_fake_max"] <= 1.0
    for before, after in zip(rounded, rounded[1:], strict=False):
        assert before["end"] <= after["start"]
    assert sum(segment.frames for segment in found) <= sum(score is not None for score in scores)


@settings(max_examples=300, deadline=None)
@given(st.lists(unit, min_size=1, max_size=200), unit, st.sampled_from(aggregate.AGGREGATIONS))
def test_every_rule_gives_a_probability_and_a_verdict(scores: list[float], threshold: float, rule: str) -> None:
    p_fake = aggregate.aggregate(scores, rule, threshold)
    assert 0.0 <= p_fake <= 1.0
    # fake when the score, or the score as reported (6 decimals), reaches the threshold
    fake = p_fake >= threshold or round(p_fake, 6) >= threshold
    assert aggregate.verdict(p_fake, threshold) == ("fake" if fake else "real")
    assert all(0.0 <= value <= 1.0 for value in aggregate.smooth(scores, 5))


MODES = ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV", "I", "F",
         "I;16", "I;16B", "I;16L", "I;16N"]


@st.composite
def images(draw: st.DrawFn) -> Image.Image:
    """Any Pillow image: every mode, sizes from 1×1 to 700 px, any pixel bytes (NaN and inf for F)."""
    mode = draw(st.sampled_from(MODES))
    size = (draw(st.integers(1, 700)), draw(st.integers(1, 700)))
    image = Image.new(mode, size)
    raw = len(image.tobytes())
    seed = draw(st.integers(0, 2**32 - 1))
    image.frombytes(np.random.default_rng(seed).integers(0, 256, raw, dtype=np.uint8).tobytes())
    return image


@settings(max_examples=150, deadline=None)
@given(images())
def test_any_image_becomes_network_input(image: Image.Image) -> None:
    x = to_network_input(image)
    assert x.shape == (256, 256, 3) and x.dtype == np.float32
    assert np.isfinite(x).all() and 0.0 <= x.min() and x.max() <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.sampled_from([None, 1, 2, 3, 4]), st.integers(0, 2**32 - 1))
def test_any_uint8_array_becomes_network_input(height: int, width: int, channels: int | None, seed: int) -> None:
    shape = (height, width) if channels is None else (height, width, channels)
    x = to_network_input(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))
    assert x.shape == (256, 256, 3) and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
