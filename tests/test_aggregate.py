"""Aggregation rules and the timeline, on given score lists against hand-computed values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesocli import aggregate
from mesocli.aggregate import Segment, confident, mean, segments, smooth, verdict, vote


def test_mean_is_the_mean_frame_score() -> None:
    assert mean([0.1, 0.4, 0.7, 0.9]) == pytest.approx(0.525)
    assert mean([0.3]) == pytest.approx(0.3)


def test_vote_is_the_share_of_frames_at_or_above_the_threshold() -> None:
    scores = [0.1, 0.4, 0.5, 0.9]
    assert vote(scores, 0.5) == pytest.approx(0.5)  # 0.5 and 0.9 vote fake (>=)
    assert vote(scores, 0.45) == pytest.approx(0.5)
    assert vote(scores, 0.05) == pytest.approx(1.0)
    assert vote(scores, 0.95) == pytest.approx(0.0)


def test_confident_falls_back_to_the_mean_when_neither_rule_fires() -> None:
    # 2 of 8 frames > 0.8 is not *more* than a quarter; 1 of 8 < 0.2 is not more than 90 %.
    scores = [0.9, 0.85, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert confident(scores) == pytest.approx(3.85 / 8)


def test_confident_averages_the_confident_fakes_when_more_than_a_quarter() -> None:
    scores = [0.9, 0.85, 0.95, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]  # 3 of 9 > 0.8, 3 > 2.25
    assert confident(scores) == pytest.approx(0.9)


def test_confident_averages_the_confident_reals_when_more_than_90_percent() -> None:
    assert confident([0.1] * 9 + [0.5]) == pytest.approx(1.4 / 10)  # 9 of 10 is not more than 90 %
    assert confident([0.1] * 10 + [0.05] * 9 + [0.5]) == pytest.approx(1.45 / 19)  # 19 of 20 is


def test_confident_cutoffs_are_strict() -> None:
    assert confident([0.8] * 4) == pytest.approx(0.8)  # 0.8 is not > 0.8
    assert confident([0.2] * 4) == pytest.approx(0.2)


def test_fake_rule_wins_over_real_rule() -> None:
    # 3 of 10 confident fakes (> 2.5) fire rule 1 even though 7 frames are confidently real.
    assert confident([0.9, 0.9, 0.96] + [0.01] * 7) == pytest.approx(0.92)


def test_aggregate_dispatches_by_name_and_refuses_unknown_or_empty() -> None:
    scores = [0.2, 0.6, 0.9]
    assert aggregate.aggregate(scores, "mean") == pytest.approx(1.7 / 3)
    assert aggregate.aggregate(scores, "vote", 0.5) == pytest.approx(2 / 3)
    assert aggregate.aggregate(scores, "confident") == pytest.approx(0.9)  # 1 of 3 > 0.75
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate.aggregate(scores, "median")
    with pytest.raises(ValueError, match="no scores"):
        aggregate.aggregate([], "mean")


def test_verdict_is_fake_at_or_above_the_threshold() -> None:
    assert verdict(0.5, 0.5) == "fake"
    assert verdict(0.4999, 0.5) == "real"
    assert verdict(0.0, 0.0) == "fake"
    assert verdict(0.999, 1.0) == "real"


def test_verdicts_agree_with_the_printed_scores() -> None:
    # scores are reported with 6 decimals: 0.62756149 prints as 0.627561, so at threshold 0.627561 it is fake
    assert verdict(0.62756149, 0.627561) == "fake"  # it was called real beside "p_fake": 0.627561
    assert verdict(0.62756149, 0.6275615) == "real"  # 0.627561 < 0.6275615, as printed
    assert verdict(0.26953125, 0.26953125) == "fake" and verdict(0.0, 1e-7) == "real"  # and p >= threshold
    assert vote([0.62756149, 0.1], 0.627561) == 0.5
    assert aggregate.shown(0.627561, 0.628) == "0.627561"  # 0.628 would read as fake at 0.628
    assert aggregate.shown(0.627561, 0.627561) == "0.628" and aggregate.shown(0.4, 0.5) == "0.400"


def test_eval_calls_faces_as_scan_does() -> None:
    from mesocli.metrics import called_fake

    scores = [0.4999996, 0.4999994, 0.5, 0.26953125]
    called = [True, False, True, False]
    assert called_fake(scores, 0.5).tolist() == [verdict(p, 0.5) == "fake" for p in scores] == called
    assert called_fake([0.26953125], 0.26953125).tolist() == [True]


def test_smooth_is_a_centred_truncated_moving_average() -> None:
    assert smooth([0, 0, 1, 0, 0], 3) == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3, 0])
    assert smooth([1, 2, 3, 4, 5, 6], 5) == pytest.approx([2, 2.5, 3, 4, 4.5, 5])
    assert smooth([0.3, 0.9], 1) == pytest.approx([0.3, 0.9])
    assert smooth([], 5) == []
    with pytest.raises(ValueError):
        smooth([0.1], 0)


TIMES = [float(t) for t in range(10)]


def test_segment_spans_halfway_to_the_neighbouring_samples() -> None:
    scores = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert segments(TIMES, scores, 0.5, window=1, duration=10) == [Segment(2.5, 5.5, 3, 1.0, 1.0)]
    (smoothed,) = segments(TIMES, scores, 0.5, window=3, duration=10)
    assert (smoothed.start, smoothed.end, smoothed.frames) == (2.5, 5.5, 3)
    assert smoothed.p_fake_mean == pytest.approx((2 / 3 + 1 + 2 / 3) / 3)
    assert smoothed.p_fake_max == pytest.approx(1.0)


def test_segments_reach_the_start_and_the_end_of_the_video() -> None:
    scores = [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    found = segments(TIMES, scores, 0.5, window=1, duration=10)
    assert [(s.start, s.end) for s in found] == [(0.0, 1.5), (7.5, 10.0)]
    without_duration = segments(TIMES, scores, 0.5, window=1)
    assert without_duration[-1].end == 9.0


def test_frames_without_a_face_end_a_run_and_are_skipped_by_smoothing() -> None:
    found = segments([0.0, 1.0, 2.0], [1.0, None, 1.0], 0.5, window=1, duration=3)
    assert [(s.start, s.end) for s in found] == [(0.0, 0.5), (1.5, 3.0)]
    # smoothing over the scored frames [1, 0, 0] -> [0.5, 1/3, 0]
    found = segments([0.0, 1.0, 2.0, 3.0], [1.0, None, 0.0, 0.0], 0.3, window=3, duration=4)
    assert [(s.start, s.end) for s in found] == [(0.0, 0.5), (1.5, 2.5)]
    assert found[1].p_fake_mean == pytest.approx(1 / 3)


def test_a_range_names_the_detectors_that_flagged_it() -> None:
    """``--model any``: a flagged range said nothing of which detector flagged it (the timeline is each frame's
    largest score). It names those whose own smoothed scores reach the threshold there, most fake first, or, where
    none alone does (each frame's largest went over it together), the one highest there."""
    df = [0.0, 0.9, 0.9, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0, 0.0]
    fs = [0.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.0, 0.6, 0.0, 0.0]
    largest = [max(pair) for pair in zip(df, fs, strict=True)]
    found = segments(TIMES, largest, 0.5, window=1, duration=10, by_detector={"df": df, "fs": fs})
    assert [(s.start, s.end, s.detectors) for s in found] == [(0.5, 2.5, ["df", "fs"]), (5.5, 7.5, ["df", "fs"])]
    found = segments(TIMES, largest, 0.5, window=3, duration=10, by_detector={"df": df, "fs": fs})
    # smoothed over 3: df 0.6 at frames 1-2 (fs at most 0.233); frame 6-7: the largest 0.4 and 0.4, under 0.5
    assert [(s.start, s.end, s.detectors) for s in found] == [(0.5, 2.5, ["df"])]
    assert found[0].to_dict()["detectors"] == ["df"]
    # together over it, neither alone: the highest of them is named
    alternate = {"df": [0.65, 0.1, 0.65, 0.1], "fs": [0.1, 0.6, 0.1, 0.6]}  # smoothed: at most 0.467 and 0.433
    (both,) = segments(TIMES[:4], [0.65, 0.6, 0.65, 0.6], 0.5, window=3, duration=4, by_detector=alternate)
    assert both.detectors == ["df"] and both.frames == 4
    assert "detectors" not in segments(TIMES, df, 0.5, window=1, duration=10)[0].to_dict()  # one detector


def test_no_segment_below_the_threshold_and_dict_form() -> None:
    assert segments(TIMES, [0.2] * 10, 0.5, duration=10) == []
    assert segments([], [], 0.5) == []
    segment = Segment(1.23456, 2.5, 2, 0.71234567, 0.9)
    expected = {"start": 1.235, "end": 2.5, "frames": 2, "p_fake_mean": 0.712346, "p_fake_max": 0.9}
    assert segment.to_dict() == expected


unit = st.floats(0, 1, allow_nan=False)


@given(st.lists(unit, min_size=1, max_size=60), unit)
def test_every_rule_gives_a_probability_within_the_scores(scores: list[float], threshold: float) -> None:
    for rule in aggregate.AGGREGATIONS:
        value = aggregate.aggregate(scores, rule, threshold)
        assert 0.0 <= value <= 1.0
        if rule != "vote":
            assert min(scores) - 1e-12 <= value <= max(scores) + 1e-12


@given(st.lists(st.one_of(st.none(), unit), min_size=1, max_size=60), unit, st.integers(1, 9))
def test_segments_are_ordered_disjoint_and_inside_the_video(scores, threshold: float, window: int) -> None:
    times = [i * 0.5 for i in range(len(scores))]
    duration = len(scores) * 0.5
    found = segments(times, scores, threshold, window, duration)
    for segment in found:
        assert 0.0 <= segment.start <= segment.end <= duration
        # a frame is fake when its score, or its score to 6 decimals, reaches the threshold
        assert segment.p_fake_mean >= threshold - 5e-7 and segment.p_fake_max >= segment.p_fake_mean - 1e-12
    for before, after in zip(found, found[1:], strict=False):
        assert before.end <= after.start


def test_scores_near_the_ends_are_not_shown_as_certainties() -> None:
    """The table showed 0.9996 as ``1.000`` and 0.0004 as ``0.000`` (the report: ``>0.999``, ``<0.001``)."""
    assert aggregate.shown(0.9996, 0.5) == ">0.999" and aggregate.shown(0.0004, 0.5) == "<0.001"
    assert aggregate.shown(1.0, 0.5) == "1.000" and aggregate.shown(0.0, 0.5) == "0.000"  # exact ends as they are
    assert aggregate.shown(0.9996, 0.9999) == "0.999600"  # still: never a figure that contradicts the verdict


def test_the_table_and_the_report_show_a_score_the_same_way() -> None:
    """0.0007 was ``0.001`` in the table and ``<0.001`` in the report (two formatters)."""
    from mesocli.report_html import fmt_p

    for score in (0.0, 0.0004, 0.0007, 0.25, 0.5, 0.9993, 0.9996, 1.0):
        assert fmt_p(score, 0.5) == aggregate.shown(score, 0.5).replace("<", "&lt;").replace(">", "&gt;")
    assert aggregate.shown(0.0007, 0.5) == "<0.001" and aggregate.shown(0.9993, 0.5) == ">0.999"
    assert fmt_p(0.0007) == "&lt;0.001" and fmt_p(None) == "—"
