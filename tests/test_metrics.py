"""mesocli.metrics against figures computed by hand (positive = fake, fake when p_fake >= threshold)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesocli.metrics import (
    best_threshold,
    binary_report,
    bootstrap_intervals,
    calibration,
    eer,
    paired_difference,
    video_level,
    wilson_interval,
)

# 4 fakes, 6 reals. Sorted by p_fake: F.9 F.8 R.7 F.6 R.4 F.3 R.2 R.2 R.1 R.05
FAKE = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
P = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.2, 0.1, 0.05])


def test_binary_report_by_hand() -> None:
    report = binary_report(FAKE, P, threshold=0.5)
    # at 0.5: fakes .9 .8 .6 called fake (tp 3), .3 missed (fn 1); real .7 called fake (fp 1), 5 tn
    assert report["confusion"] == {"tp": 3, "fp": 1, "tn": 5, "fn": 1, "positive": "fake"}
    assert report["accuracy"] == pytest.approx(8 / 10)
    assert report["accuracy_df"] == pytest.approx(3 / 4)
    assert report["accuracy_real"] == pytest.approx(5 / 6)
    # AUC: fake/real pairs ranked right: .9 -> 6, .8 -> 6, .6 -> 5, .3 -> 4; 21 of 24
    assert report["auc"] == pytest.approx(21 / 24)
    # AP: fakes at ranks 1, 2, 4, 6 -> precisions 1, 1, 3/4, 4/6
    assert report["average_precision"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    # ROC runs (1/6, .75) -> (2/6, .75): FNR = .25 = FPR there
    assert report["eer"] == pytest.approx(0.25)
    # 8/10 correct at the cuts >= .8, >= .6, >= .3 -> thresholds .75, .5, .25; .5 is closest to .5
    assert report["best_threshold"] == pytest.approx(0.5)
    assert report["best_accuracy"] == pytest.approx(0.8)


def test_threshold_is_inclusive_and_moves_the_operating_point() -> None:
    at_06 = binary_report(FAKE, P, threshold=0.6)  # p_fake == 0.6 is fake
    assert at_06["confusion"] == {"tp": 3, "fp": 1, "tn": 5, "fn": 1, "positive": "fake"}
    at_075 = binary_report(FAKE, P, threshold=0.75)
    assert at_075["confusion"] == {"tp": 2, "fp": 0, "tn": 6, "fn": 2, "positive": "fake"}
    assert at_075["auc"] == at_06["auc"]


def test_separable_scores() -> None:
    fake = [1, 1, 0, 0]
    p = [0.9, 0.4, 0.35, 0.1]
    assert eer(fake, p) == 0.0
    assert best_threshold(fake, p) == (pytest.approx(0.375), 1.0)
    report = binary_report(fake, p)
    assert report["auc"] == 1.0 and report["accuracy"] == 0.75 and report["accuracy_real"] == 1.0


def test_best_threshold_at_the_ends() -> None:
    # every image called real is best: the threshold lies above the highest score, below 1
    threshold, accuracy = best_threshold([0, 0, 0, 1], [0.6, 0.7, 0.8, 0.5])
    assert accuracy == 0.75 and 0.8 < threshold <= 1.0
    # scores of exactly 1.0 (saturated sigmoid): no threshold in [0, 1] lies above them (one above 1 was returned,
    # which eval --threshold refuses); the best that a threshold up to 1 reaches: every image called fake
    threshold, accuracy = best_threshold([0, 0, 1], [1.0, 1.0, 0.0])
    assert accuracy == pytest.approx(1 / 3)
    assert threshold == 0.0


def test_inverted_scores() -> None:
    report = binary_report([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9])
    assert report["auc"] == 0.0 and report["eer"] == 1.0 and report["accuracy"] == 0.0


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([1, 1, 1], [0.1, 0.5, 0.9], "both classes"),
        ([0, 0], [0.1, 0.5], "both classes"),
        ([], [], "both classes"),
        ([1, 0], [0.1], "same length"),
        ([1, 0], [0.1, float("nan")], "finite"),
        ([2, 0], [0.1, 0.2], "0/1"),
    ],
)
def test_bad_input(labels: list, scores: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_report(labels, scores)


def test_video_level_by_hand() -> None:
    frames = [
        # video, fake?, p_fake          mean -> verdict      vote (share >= .5 fake)
        ("A", 1, [0.9, 0.8, 0.2]),    # .633 fake  right   2/3 fake  right
        ("B", 1, [0.6, 0.3, 0.3, 0.1]),  # .325 real wrong  1/4 real  wrong
        ("C", 0, [0.7, 0.4]),         # .55 fake   wrong   1/2 fake  wrong
        ("D", 0, [0.2, 0.6, 0.1]),    # .3 real    right   1/3 real  right
        ("F", 1, [0.95, 0.4, 0.4]),   # .583 fake  right   1/3 real  wrong
        ("G", 0, [0.1, 0.6, 0.6, 0.05]),  # .3375 real right 2/4 fake wrong
    ]
    ids = [vid for vid, _, ps in frames for _ in ps]
    fake = [label for _, label, ps in frames for _ in ps]
    p = [x for _, _, ps in frames for x in ps]
    assert video_level(ids, fake, p, 0.5) == {"videos": 6, "accuracy_mean": 4 / 6, "accuracy_vote": 2 / 6,
                                              "auc_mean": pytest.approx(7 / 9)}
    # threshold .7, every mean is below it: A B F wrong, C D G right -> 3/6
    # votes as scan casts them (share of frames >= .7, fake when the share is >= .7): A 2/3 real wrong,
    # B 0 wrong, C 1/2 real right, D right, F 1/3 wrong, G right -> 3/6
    result = video_level(ids, fake, p, 0.7)
    assert result == {
        "videos": 6, "accuracy_mean": pytest.approx(3 / 6), "accuracy_vote": pytest.approx(3 / 6),
        "auc_mean": pytest.approx(7 / 9),
    }
    # a fake video of frames .75 .72 .1 at .7: 2/3 of its frames vote fake, under the .7 scan needs
    assert video_level(["H"] * 3 + ["R"], [1, 1, 1, 0], [0.75, 0.72, 0.1, 0.1], 0.7)["accuracy_vote"] == 0.5


def test_video_level_ranks_the_videos_auc_with_its_interval() -> None:
    """A paper's video figure is often an AUC, which eval did not give (video accuracies only, at one threshold):
    ``auc_mean`` is the AUC of the videos' mean p_fake, whatever the threshold, and its interval resamples videos."""
    from mesocli.metrics import video_auc_interval, video_scores

    means = {"a": (1, 0.9), "b": (1, 0.6), "c": (1, 0.35), "d": (0, 0.4), "e": (0, 0.2), "f": (0, 0.1)}
    ids = [vid for vid in means for _ in range(2)]
    fake = [means[vid][0] for vid in ids]
    p = [means[vid][1] + offset for vid in means for offset in (-0.05, 0.05)]
    for threshold in (0.3, 0.5, 0.8):  # c (0.35) is below d (0.4): 8 of 9 pairs ranked right
        assert video_level(ids, fake, p, threshold)["auc_mean"] == pytest.approx(8 / 9)
    is_fake, mean, _ = video_scores(ids, fake, p)
    low, high = video_auc_interval(is_fake, mean, resamples=200)
    assert 0.0 <= low < 8 / 9 <= high == 1.0
    assert video_auc_interval([1, 0, 0], [0.9, 0.2, 0.1]) is None  # one fake video: no interval


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.62, 0.7])
def test_video_vote_is_the_verdict_of_scan_aggregate_vote(threshold: float) -> None:
    from mesocli.aggregate import is_fake, vote

    rng = np.random.default_rng(7)
    videos = {f"v{i}": (int(rng.integers(0, 2)), rng.random(int(rng.integers(1, 9))).round(2)) for i in range(40)}
    ids = [vid for vid, (_, ps) in videos.items() for _ in ps]
    fake = [label for _, (label, ps) in videos.items() for _ in ps]
    p = [float(x) for _, (_, ps) in videos.items() for x in ps]
    right = [is_fake(vote(ps, threshold), threshold) == bool(label) for label, ps in videos.values()]
    assert video_level(ids, fake, p, threshold)["accuracy_vote"] == pytest.approx(np.mean(right))


def test_a_short_track_decides_no_video_as_in_scan() -> None:
    """``extract --all-faces`` tracks of a video: the video took the largest of all its tracks' aggregates, as
    ``scan --all-faces --min-track-frames 1`` (a real video called fake on a face seen in 1 frame). It now takes
    scan's default rule: a track of fewer than 3 frames decides nothing, one track alone always decides, and when
    every track is short the video's frames are one series; ``min_track_frames=1`` is the rule before."""
    from mesocli.metrics import track_id

    frames = [
        ("r1_t0", 0, [0.1, 0.2, 0.1, 0.2]), ("r1_t1", 0, [0.9]),  # real: its 1-frame track set aside
        ("f1_t0", 1, [0.8, 0.9]),  # fake: one track alone decides (2 frames)
        ("r2_t0", 0, [0.1, 0.2]), ("r2_t1", 0, [0.1, 0.9]),  # real: every track short, one series: .325
        ("f2_t0", 1, [0.9, 0.6]), ("f2_t1", 1, [0.3]),  # fake: every track short, one series: .6
    ]
    ids = [track_id(name) for name, _, ps in frames for _ in ps]
    fake = [label for _, label, ps in frames for _ in ps]
    p = [x for _, _, ps in frames for x in ps]
    assert video_level(ids, fake, p, 0.5) == {"videos": 4, "accuracy_mean": 1.0, "accuracy_vote": 1.0,
                                              "auc_mean": 1.0}
    before = video_level(ids, fake, p, 0.5, min_track_frames=1)  # r1 and r2 called fake on their most-fake track
    assert before == {"videos": 4, "accuracy_mean": 0.5, "accuracy_vote": 0.5, "auc_mean": 0.5}
    df, fs = np.asarray(p), np.asarray(p)[::-1].copy()  # --model any: each detector aggregates the pooled series
    assert video_level(ids, fake, np.maximum(df, fs), 0.5, [df, fs])["videos"] == 4


def test_video_level_keys_videos_by_class_and_needs_ids() -> None:
    # the same name in df/ and real/ is two videos
    assert video_level(["x", "x", "x", "x"], [1, 1, 0, 0], [0.9, 0.8, 0.1, 0.2])["videos"] == 2
    assert video_level(["x", None, "y", "y"], [1, 1, 0, 0], [0.9, 0.8, 0.1, 0.2]) is None
    with pytest.raises(ValueError, match="video ids"):
        video_level(["x"], [1, 0], [0.9, 0.1])


# scores on a 1/1000 grid: ties happen, and 1 - p stays exact enough for the symmetry check
scored = st.lists(
    st.tuples(st.booleans(), st.integers(0, 1000).map(lambda k: k / 1000)), min_size=2, max_size=60
).filter(lambda rows: 0 < sum(label for label, _ in rows) < len(rows))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 8).map(lambda k: k / 8)), min_size=4, max_size=30)
       .filter(lambda rows: 2 <= sum(label for label, _ in rows) <= len(rows) - 2), st.integers(0, 2**31))
def test_the_video_auc_interval_draws_roc_auc_score_ties_included(rows: list, seed: int) -> None:
    """The video AUC's interval ranks each draw itself (Mann-Whitney, ties count half) instead of calling
    roc_auc_score: on a coarse grid of scores (ties in most draws) it is the interval of roc_auc_score's draws."""
    from sklearn.metrics import roc_auc_score

    from mesocli.metrics import _percentiles, resampled_indices, video_auc_interval

    fake = np.array([label for label, _ in rows])
    p = np.array([score for _, score in rows])
    draws = [float(roc_auc_score(fake[index], p[index])) for index in resampled_indices(fake, None, 10, seed)]
    assert video_auc_interval(fake, p, 10, seed) == pytest.approx(_percentiles({"auc": draws}, 0.95)["auc"],
                                                                   abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(scored, st.floats(0.0, 1.0))
def test_best_threshold_is_achieved_and_optimal(rows: list, threshold: float) -> None:
    fake = np.array([label for label, _ in rows])
    p = np.array([score for _, score in rows])
    best_t, best_acc = best_threshold(fake, p)
    assert np.mean((p >= best_t) == fake) == pytest.approx(best_acc)
    assert best_acc >= np.mean((p >= threshold) == fake) - 1e-12
    report = binary_report(fake, p, threshold)
    assert 0.0 <= report["eer"] <= 1.0
    # EER is symmetric in the classes
    assert eer(~fake, 1.0 - p) == pytest.approx(report["eer"], abs=1e-9)


def test_video_level_with_several_detectors_calls_a_video_fake_when_any_detectors_aggregate_does() -> None:
    """--model any: each detector aggregates the video, then the largest counts (what scan decides)."""
    videos, fake = ["a", "a", "b", "b"], [True, True, False, False]
    df = [0.9, 0.2, 0.1, 0.1]  # a: mean 0.55 (fake), 1 of 2 frames fake (vote: fake); b: real
    fs = [0.1, 0.1, 0.7, 0.2]  # a: real; b: mean 0.45 (real), 1 of 2 frames fake (vote: fake, wrong)
    assert video_level(videos, fake, np.maximum(df, fs), 0.5, [df, fs]) == {
        "videos": 2, "accuracy_mean": 1.0, "accuracy_vote": 0.5, "auc_mean": 1.0}
    # where the rules part: b's per-frame maximum averages 0.45 (fake at 0.4), each detector's 0.275 (real)
    df, fs = [0.9, 0.2, 0.45, 0.1], [0.1, 0.1, 0.1, 0.45]
    assert video_level(videos, fake, np.maximum(df, fs), 0.4)["accuracy_mean"] == 0.5
    assert video_level(videos, fake, np.maximum(df, fs), 0.4, [df, fs])["accuracy_mean"] == 1.0


def _correlated_frames(videos: int, frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Videos whose frames share one score (plus a little noise): the case frame resampling gets wrong."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(videos) % 2 == 0, frames)
    level = np.repeat(rng.normal(0.5, 0.2, videos), frames) + 0.15 * y
    return y, np.clip(level + rng.normal(0, 0.01, len(y)), 0, 1), [f"v{i // frames}" for i in range(len(y))]


def test_bootstrap_intervals_hold_the_estimate_are_seeded_and_widen_for_correlated_frames() -> None:
    y, p, videos = _correlated_frames(videos=40, frames=25)
    figures = binary_report(y, p)
    by_video = bootstrap_intervals(y, p, units=videos, resamples=300)
    for key in ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer"):
        low, high = by_video[key]
        assert 0 <= low <= figures[key] <= high <= 1, key
    assert bootstrap_intervals(y, p, units=videos, resamples=300) == by_video  # seeded
    assert bootstrap_intervals(y, p, units=videos, resamples=300, seed=1) != by_video
    by_frame = bootstrap_intervals(y, p, resamples=300)  # 1,000 "independent" frames: far too sure
    width = {name: found["auc"][1] - found["auc"][0] for name, found in (("video", by_video), ("frame", by_frame))}
    assert width["video"] > 3 * width["frame"]


def test_bootstrap_of_perfect_scores_and_of_one_unit_per_class() -> None:
    y = np.array([1, 1, 0, 0], bool)
    assert bootstrap_intervals(y, [0.9, 0.8, 0.2, 0.1], resamples=50)["auc"] == [1.0, 1.0]
    # one video per class: every resample is the data itself
    fixed = bootstrap_intervals(y, [0.9, 0.4, 0.6, 0.1], units=["a", "a", "b", "b"], resamples=20)
    figures = binary_report(y, [0.9, 0.4, 0.6, 0.1])
    assert all(fixed[key] == [figures[key]] * 2 for key in fixed)
    with pytest.raises(ValueError, match="both classes"):
        bootstrap_intervals([1, 1], [0.2, 0.3])


def test_wilson_interval_by_hand() -> None:
    # 27 of 36 right: p = 0.75, z = 1.96: centre (p + z²/2n) / (1 + z²/n), half-width as Wilson
    z, n, k = 1.959964, 36, 27
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert wilson_interval(k, n) == pytest.approx([centre - half, centre + half], abs=1e-6)
    assert wilson_interval(36, 36)[1] == pytest.approx(1.0)


def test_wilson_interval_of_an_effective_count() -> None:
    """One Wilson interval for eval's video accuracies (whole counts) and its fallback for a width-0 bootstrap
    (effective counts): scipy's on whole counts, at 0 and 1 too (not of width 0, within [0, 1]), and one between
    its neighbours on a fractional count. (eval had two functions for it, scipy's for whole counts.)"""
    from scipy.stats import binomtest

    def scipys(k: int, n: int) -> list[float]:
        found = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        return [found.low, found.high]

    for n in range(1, 60):
        for k in range(n + 1):
            assert wilson_interval(k, n) == pytest.approx(scipys(k, n), abs=1e-11)
    assert wilson_interval(0, 6)[0] == 0.0 and wilson_interval(4, 4)[1] == 1.0
    assert wilson_interval(4, 4)[0] < 0.6 and wilson_interval(0, 6)[1] > 0.3
    low, high = wilson_interval(2.25, 3)
    assert wilson_interval(2, 3)[0] < low < wilson_interval(3, 3)[0]
    assert wilson_interval(2, 3)[1] < high <= 1.0


def test_paired_difference_is_zero_for_the_same_scores_and_tighter_than_two_separate_intervals() -> None:
    y, p, videos = _correlated_frames(videos=40, frames=25)
    same = paired_difference(y, p, p, units=videos, resamples=200)
    assert all(item["difference"] == 0 and item["interval"] == [0.0, 0.0] for item in same.values())
    better = np.clip(p + 0.05 * np.where(y, 1, -1), 0, 1)  # B: every fake a little more fake, every real less
    found = paired_difference(y, p, better, units=videos, resamples=200)
    low, high = found["auc"]["interval"]
    assert found["auc"]["difference"] > 0 and 0 < low <= high  # a difference this data shows
    assert found["eer"]["difference"] < 0  # lower is better for EER
    separate = [bootstrap_intervals(y, scores, units=videos, resamples=200)["auc"] for scores in (p, better)]
    assert separate[0][1] > separate[1][0]  # the two unpaired intervals overlap: they could not tell


def test_calibration_by_hand() -> None:
    fake = [1, 1, 0, 0, 1, 0]
    p = [0.95, 0.85, 0.92, 0.05, 0.15, 0.12]
    result = calibration(fake, p)
    # bins [0, .1): .05 real; [.1, .2): .15 fake, .12 real; [.8, .9): .85 fake; [.9, 1]: .95 fake, .92 real
    assert [(b["range"], b["faces"]) for b in result["bins"]] == [
        ([0.0, 0.1], 1), ([0.1, 0.2], 2), ([0.8, 0.9], 1), ([0.9, 1.0], 2)]
    assert [b["fake_share"] for b in result["bins"]] == [0.0, 0.5, 1.0, 0.5]
    assert [b["mean_p_fake"] for b in result["bins"]] == pytest.approx([0.05, 0.135, 0.85, 0.935])
    # ECE: (1 * .05 + 2 * .365 + 1 * .15 + 2 * .435) / 6; Brier: mean squared distance to the label
    assert result["ece"] == pytest.approx(1.8 / 6)
    assert result["brier"] == pytest.approx((0.05**2 + 0.15**2 + 0.92**2 + 0.05**2 + 0.85**2 + 0.12**2) / 6)
    edges = calibration([1, 0], [1.0, 0.1])["bins"]  # 1.0 is in the last bin, 0.1 opens the second
    assert [b["range"] for b in edges] == [[0.1, 0.2], [0.9, 1.0]]
    # every edge opens its bin: 0.3, 0.6 and 0.7 fell in the bin below (np.linspace gives 0.30000000000000004)
    opening = calibration([1, 0] * 5, [number / 10 for number in range(10)])["bins"]
    assert [(b["range"][0], b["mean_p_fake"]) for b in opening] == [(n / 10, n / 10) for n in range(10)]
    assert calibration([1, 0, 1, 0], [1.0, 0.0, 1.0, 0.0]) == {
        "brier": 0.0, "ece": 0.0, "bins": [{"range": [0.0, 0.1], "faces": 2, "mean_p_fake": 0.0, "fake_share": 0.0},
                                           {"range": [0.9, 1.0], "faces": 2, "mean_p_fake": 1.0, "fake_share": 1.0}]}


def test_the_video_auc_interval_follows_the_short_track_rule_and_the_detectors() -> None:
    """eval's video AUC interval groups the videos as its ``video`` block does: by ``--min-track-frames`` (a merge
    of the two changes had to pass the rule on) and, with ``--model any``, each detector's own aggregate."""
    from mesocli.evaluate import figure_intervals, video_figures
    from mesocli.metrics import track_id, video_auc_interval, video_scores

    frames = [("r1_t0", 0, [0.1, 0.2, 0.1, 0.2]), ("r1_t1", 0, [0.9]), ("f1_t0", 1, [0.8, 0.9]),
              ("r2_t0", 0, [0.1, 0.2]), ("r2_t1", 0, [0.1, 0.9]), ("f2_t0", 1, [0.9, 0.6]), ("f2_t1", 1, [0.3])]
    ids = [track_id(name) for name, _, ps in frames for _ in ps]
    fake = np.array([label for _, label, ps in frames for _ in ps], dtype=bool)
    p = np.array([x for _, _, ps in frames for x in ps])
    for rule, auc in ((3, 1.0), (1, 0.5)):  # rule 1: r1 and r2 decided by their most-fake track
        video = video_figures(ids, fake, p, 0.5, None, rule)
        assert video["auc_mean"] == auc
        low, high = figure_intervals(fake, p, 0.5, ids, video, 200, None, rule)["video_auc_mean"]
        assert (low, high) == ((1.0, 1.0) if rule == 3 else (0.0, 1.0))
    df, fs = p, p[::-1].copy()
    is_fake, mean, _ = video_scores(ids, fake, np.maximum(df, fs), 0.5, [df, fs])
    video = video_figures(ids, fake, np.maximum(df, fs), 0.5, [df, fs])
    assert figure_intervals(fake, np.maximum(df, fs), 0.5, ids, video, 200, [df, fs])["video_auc_mean"] == \
        video_auc_interval(is_fake, mean, 200, seed=0)
