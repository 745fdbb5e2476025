"""Detection metrics on plain arrays: ``labels_is_fake`` (bool/0-1) and ``p_fake`` (float) per image.

Conventions, shared with ``mesocli scan``: the positive class is **fake**, and the verdict is fake
when ``p_fake >= threshold``. Every function here is pure (numpy in, Python numbers out) and built
on scikit-learn, so it can be checked by hand without a network.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

import numpy as np

from mesocli.aggregate import SCORE_DECIMALS


def _arrays(labels_is_fake: Any, p_fake: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert: 1-D, same length, finite scores, both classes present."""
    y = np.asarray(labels_is_fake)
    p = np.asarray(p_fake, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape:
        raise ValueError(f"labels and scores must be 1-D of the same length, got {y.shape} and {p.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0/1 or booleans (1 = fake)")
    y = y.astype(bool)
    if not np.isfinite(p).all():
        raise ValueError("scores must be finite")
    if y.all() or not y.any():
        raise ValueError("metrics need images of both classes (df and real)")
    return y, p


def eer(labels_is_fake: Any, p_fake: Any) -> float:
    """Equal error rate: where the ROC curve (linear between its points) crosses FPR = FNR = 1 - TPR."""
    from sklearn.metrics import roc_curve

    y, p = _arrays(labels_is_fake, p_fake)
    fpr, tpr, _ = roc_curve(y, p)
    return _eer_of_curve(fpr, tpr)


def _eer_of_curve(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Where a ROC curve (linear between its points) crosses FPR = FNR."""
    gap = (1.0 - tpr) - fpr  # FNR - FPR: from +1 at (0, 0) down to -1 at (1, 1), never increasing
    i = int(np.argmax(gap <= 0))
    if gap[i] == 0:
        return float(fpr[i])
    t = gap[i - 1] / (gap[i - 1] - gap[i])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def best_threshold(labels_is_fake: Any, p_fake: Any) -> tuple[float, float]:
    """The threshold that maximises accuracy, and that accuracy.

    Every distinct way to cut the sorted scores is tried; the threshold returned is the midpoint
    between the two scores on either side of the cut (below the lowest score: half of it; above
    the highest: halfway to 1), so it is not on a score. Ties go to the threshold closest to
    0.5, then to the higher one. The cuts are those the verdict rule (:func:`called_fake`) can make
    with a threshold in [0, 1]: it sees a score as the larger of the score and its 6-decimal value, so
    two scores apart only below that rounding (0.4999996 and 0.4999999 both show 0.500000) are never
    split, and where the highest is shown 1.000000, no threshold calls every image real; ``eval --threshold``
    at the threshold returned gets the accuracy returned.
    """
    y, p = _arrays(labels_is_fake, p_fake)
    fpr, tpr, thresholds = _cuts(y, p)
    positives, negatives = int(y.sum()), int((~y).sum())
    correct = np.rint(tpr * positives) + np.rint((1.0 - fpr) * negatives)
    usable = thresholds <= 1.0  # a threshold lies in [0, 1] (check_threshold)
    pick = _nearest_half(thresholds, usable & (correct == correct[usable].max()))
    return float(thresholds[pick]), float(correct[pick] / len(y))


def eer_threshold(labels_is_fake: Any, p_fake: Any) -> float:
    """The threshold at which the error rates are closest to equal: of the cuts of :func:`best_threshold` (each
    a threshold in [0, 1] that ``eval --threshold`` takes, the verdict rule's 6-decimal rounding included), the
    one whose FNR − FPR is nearest 0 (where :func:`eer` is: between that cut's FPR and FNR). Ties (one cut on
    either side of the crossing, as near): the one closest to 0.5, then the higher one."""
    y, p = _arrays(labels_is_fake, p_fake)
    fpr, tpr, thresholds = _cuts(y, p)
    positives, negatives = int(y.sum()), int((~y).sum())
    missed, false_alarms = positives - np.rint(tpr * positives), np.rint(fpr * negatives)
    gap = np.abs(missed * negatives - false_alarms * positives)  # |FNR - FPR| * positives * negatives, exact
    usable = thresholds <= 1.0
    return float(thresholds[_nearest_half(thresholds, usable & (gap == gap[usable].min()))])


def _cuts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every operating point the verdict rule can reach, from nothing called fake to everything: its FPR, its
    TPR, and a threshold that reaches it (not on a score; ``inf`` where no threshold in [0, 1] does)."""
    from sklearn.metrics import roc_curve

    q = np.maximum(p, np.round(p, SCORE_DECIMALS))  # called_fake(p, t) is exactly q >= t
    fpr, tpr, cuts = roc_curve(y, q, drop_intermediate=False)  # cuts[0] = inf: nothing called fake
    # the raw scores at each level of q (cuts[1:], descending): the lowest and the highest
    levels, group = np.unique(q, return_inverse=True)
    low, high = np.full(len(levels), np.inf), np.full(len(levels), -np.inf)
    np.minimum.at(low, group, p)
    np.maximum.at(high, group, p)
    at = np.searchsorted(levels, cuts[1:])
    low, high = low[at], high[at]
    # cut k calls fake every q >= cuts[k]: any threshold in (cuts[k+1], cuts[k]] does the same
    upper, lower = cuts[1:-1], cuts[2:]
    middle = (low[:-1] + high[1:]) / 2.0  # between the raw scores on either side, where that cuts there
    rounded = (upper + lower) / 2.0
    middle = np.where(middle > lower, middle, np.where(rounded > lower, rounded, upper))  # else one ulp apart
    highest, lowest = cuts[1], low[-1]
    above = (high[0] + 1.0) / 2.0
    if not above > highest:
        above = (highest + 1.0) / 2.0 if highest < 1.0 else np.inf  # a score shown 1.000000: fake at every t <= 1
    below = lowest / 2.0 if lowest > 0.0 else lowest
    return fpr, tpr, np.concatenate([[above], middle, [below]])


def _nearest_half(thresholds: np.ndarray, candidates: np.ndarray) -> int:
    """The index of the candidate threshold closest to 0.5, the higher on a tie (thresholds descend)."""
    best = np.flatnonzero(candidates)
    return int(best[np.argmin(np.abs(thresholds[best] - 0.5))])


def called_fake(p_fake: Any, threshold: float) -> np.ndarray:
    """The verdict rule of :func:`mesocli.aggregate.is_fake` on an array: ``p_fake >= threshold``, or the score
    as reported (6 decimals) is."""
    p = np.asarray(p_fake, dtype=np.float64)
    return (p >= threshold) | (np.round(p, SCORE_DECIMALS) >= threshold)


def threshold_text(threshold: float, p_fake: Any, decimals: int = SCORE_DECIMALS) -> str:
    """``threshold`` written with ``decimals`` decimals, or with the fewest more that make the same cut of
    ``p_fake`` (:func:`called_fake`): the text, passed to ``--threshold``, calls the same images fake."""
    p = np.asarray(p_fake, dtype=np.float64)
    cut = called_fake(p, threshold)
    for places in range(decimals, 18):
        text = f"{threshold:.{places}f}"
        if np.array_equal(called_fake(p, float(text)), cut):
            return text
    return repr(float(threshold))


def binary_report(labels_is_fake: Any, p_fake: Any, threshold: float = 0.5) -> dict[str, Any]:
    """Image-level figures at ``threshold`` (fake when ``p_fake >= threshold``) and threshold-free ones.

    Keys: accuracy, accuracy_df (share of fakes called fake), accuracy_real (share of reals called
    real), auc (ROC AUC), eer, eer_threshold (:func:`eer_threshold`), average_precision (positive = fake),
    confusion {tp, fp, tn, fn, positive}, best_threshold, best_accuracy.
    """
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        confusion_matrix,
        recall_score,
        roc_auc_score,
    )

    y, p = _arrays(labels_is_fake, p_fake)
    predicted = called_fake(p, threshold)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[False, True]).ravel())
    best_t, best_acc = best_threshold(y, p)
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "accuracy_df": float(recall_score(y, predicted, pos_label=True)),
        "accuracy_real": float(recall_score(y, predicted, pos_label=False)),
        "auc": float(roc_auc_score(y, p)),
        "eer": eer(y, p),
        "eer_threshold": eer_threshold(y, p),
        "average_precision": float(average_precision_score(y, p)),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "positive": "fake"},
        "best_threshold": best_t,
        "best_accuracy": best_acc,
    }


CALIBRATION_BINS = 10


def calibration(labels_is_fake: Any, p_fake: Any, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """How far p_fake is from a probability of forgery on this data: the Brier score (mean squared
    distance to the label), the expected calibration error (over ``bins`` equal-width bins of p_fake,
    the face-weighted mean of |share of fakes − mean p_fake|), and the bins themselves (a reliability
    table: ``range``, ``faces``, ``mean_p_fake``, ``fake_share``; empty bins left out). Both depend on
    the share of fakes in the data."""
    from sklearn.metrics import brier_score_loss

    y, p = _arrays(labels_is_fake, p_fake)
    edges = np.arange(bins + 1) / bins  # each k / bins as its nearest double (linspace: 0.30000000000000004)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)  # [0, .1), ..., [.9, 1]
    rows, gap = [], 0.0
    for number in range(bins):
        members = index == number
        if not members.any():
            continue
        mean_p, share = float(p[members].mean()), float(y[members].mean())
        gap += members.sum() / len(p) * abs(share - mean_p)
        rows.append({"range": [round(float(edges[number]), 6), round(float(edges[number + 1]), 6)],
                     "faces": int(members.sum()), "mean_p_fake": mean_p, "fake_share": share})
    return {"brier": float(brier_score_loss(y, p)), "ece": float(gap), "bins": rows}


MIN_TRACK_FRAMES = 3
"""A track of fewer frames than this decides no video (``scan --all-faces --min-track-frames``' default)."""


def video_level(
    video_ids: Sequence[str | None], labels_is_fake: Any, p_fake: Any, threshold: float = 0.5,
    by_detector: Sequence[Any] | None = None, min_track_frames: int = MIN_TRACK_FRAMES,
) -> dict[str, Any] | None:
    """Video-level accuracy with two aggregations of the frames of each video (the paper's video figure), and
    the AUC of the videos' mean p_fake (``auc_mean``: how well the videos rank, whatever the threshold).

    A video is the frames sharing a video id *and* a class. ``mean``: the video is fake when the
    mean p_fake of its frames is ``>= threshold``. ``vote``: fake when the share of its frames that are
    fake (``p_fake >= threshold``) is ``>= threshold``, as ``scan --aggregate vote`` decides. With
    ``by_detector`` (each detector's p_fake per frame, ``--model any``), each detector aggregates the
    video on its own and the video is fake when any detector's aggregate says so, as ``scan`` decides.
    The tracks of a video (:class:`TrackId`, from an ``extract --all-faces`` dataset) are aggregated each on its
    own and make one video, which takes the largest over its tracks of ``min_track_frames`` frames or more, as
    ``scan --all-faces --min-track-frames`` decides: a shorter track decides nothing, one track alone always
    decides, and when none is that long the video's frames are aggregated as one series.
    Returns {videos, accuracy_mean, accuracy_vote, auc_mean}, or None when some frame has no video id.
    """
    from sklearn.metrics import accuracy_score, roc_auc_score

    scores = video_scores(video_ids, labels_is_fake, p_fake, threshold, by_detector, min_track_frames)
    if scores is None:
        return None
    video_is_fake, video_mean, video_share = scores
    return {
        "videos": len(video_mean),
        "accuracy_mean": float(accuracy_score(video_is_fake, called_fake(video_mean, threshold))),
        "accuracy_vote": float(accuracy_score(video_is_fake, called_fake(video_share, threshold))),
        "auc_mean": float(roc_auc_score(video_is_fake, video_mean)),
    }


def video_scores(
    video_ids: Sequence[str | None], labels_is_fake: Any, p_fake: Any, threshold: float = 0.5,
    by_detector: Sequence[Any] | None = None, min_track_frames: int = MIN_TRACK_FRAMES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Each video's (is fake, mean p_fake, share of frames fake), as :func:`video_level` aggregates them; None
    when some frame has no video id."""
    y, p = _arrays(labels_is_fake, p_fake)
    return _video_series(video_ids, y, p, threshold, by_detector, min_track_frames)


def video_calls(
    video_ids: Sequence[str | None], labels_is_fake: Any, p_fake: Any, threshold: float = 0.5,
    by_detector: Sequence[Any] | None = None, min_track_frames: int = MIN_TRACK_FRAMES,
) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Each video's label and its calls (fake: True) by the ``mean`` and ``vote`` rules of :func:`video_level`
    (whose rules these are; frames of one class are enough here), or None when some frame has no video id."""
    y = np.asarray(labels_is_fake).astype(bool)
    p = np.asarray(p_fake, dtype=np.float64)
    series = _video_series(video_ids, y, p, threshold, by_detector, min_track_frames)
    if series is None:
        return None
    video_is_fake, video_mean, video_share = series
    return video_is_fake, {"mean": called_fake(video_mean, threshold), "vote": called_fake(video_share, threshold)}


def _video_series(
    video_ids: Sequence[str | None], y: np.ndarray, p: np.ndarray, threshold: float,
    by_detector: Sequence[Any] | None, min_track_frames: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`video_scores` of labels ``y`` (bool) and scores ``p`` already checked."""
    if len(video_ids) != len(y):
        raise ValueError(f"{len(video_ids)} video ids for {len(y)} scores")
    if len(y) == 0 or any(not vid for vid in video_ids):
        return None
    keys = np.asarray([f"{int(label)}/{vid}" for label, vid in zip(y, video_ids, strict=True)])
    _, group = np.unique(keys, return_inverse=True)  # a track (a video without tracks: the video)
    # the tracks of a video (extract --all-faces) make one video
    videos = np.asarray([f"{int(label)}/{video_of_track(vid)}" for label, vid in zip(y, video_ids, strict=True)])
    _, video = np.unique(videos, return_inverse=True)
    of_track = np.zeros(group.max() + 1, dtype=np.int64)
    of_track[group] = video
    track_frames = np.bincount(group)
    tracks_of_video = np.bincount(of_track)
    # a frame counts for its track, or (every track of its video short) for its video's one pooled series
    short = (track_frames < min_track_frames) & (tracks_of_video[of_track] > 1)
    pooled = np.bincount(of_track, weights=(~short).astype(np.float64)) == 0  # no track of the video decides: pool them
    decides = ~short | pooled[of_track]
    unit = np.where(pooled[video], video + len(track_frames), group)  # a deciding track, or a pooled video
    _, unit = np.unique(unit, return_inverse=True)
    frames = np.bincount(unit).astype(np.float64)
    series = [np.asarray(scores, dtype=np.float64) for scores in by_detector] if by_detector else [p]
    mean_p = np.max([np.bincount(unit, weights=s) / frames for s in series], axis=0)
    fake_share = np.max([np.bincount(unit, weights=called_fake(s, threshold).astype(np.float64)) / frames
                         for s in series], axis=0)
    of_unit = np.zeros(len(frames), dtype=np.int64)
    of_unit[unit] = video
    counts = np.zeros(len(frames), dtype=bool)  # whether the unit decides its video
    counts[unit] = decides[group]
    video_mean, video_share = np.full(video.max() + 1, -1.0), np.full(video.max() + 1, -1.0)
    np.maximum.at(video_mean, of_unit[counts], mean_p[counts])
    np.maximum.at(video_share, of_unit[counts], fake_share[counts])
    video_is_fake = np.zeros(len(video_mean), dtype=bool)
    video_is_fake[video] = y
    return video_is_fake, video_mean, video_share


class TrackId(str):
    """The id of one face track of a video (``<video>_t<track>``, from an ``extract --all-faces`` dataset) that
    knows its ``video``: a video's tracks make one video (:func:`video_level`, the intervals' units)."""

    video: str

    def __new__(cls, track: str, video: str) -> TrackId:
        made = super().__new__(cls, track)
        made.video = video
        return made


_TRACK_SUFFIX = re.compile(r"_t\d+$")


def track_id(video: str) -> str:
    """``video`` (``<video>_t<track>`` of an ``extract --all-faces`` dataset) as a :class:`TrackId` of its video;
    an id without a track suffix as it is."""
    whole = _TRACK_SUFFIX.sub("", video)
    return TrackId(video, whole) if whole and whole != video else video


def video_of_track(video: str) -> str:
    """The video of a :class:`TrackId`; any other video id as it is."""
    return video.video if isinstance(video, TrackId) else video


INTERVAL_KEYS = ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer")


def resampled_indices(labels_is_fake: Any, units: Sequence[Any] | None = None, resamples: int = 1000,
                      seed: int = 0) -> Iterator[np.ndarray]:
    """Bootstrap resamples of a labelled set, as index arrays into it: whole ``units`` (one per image,
    e.g. its video id; ``None``: each image its own) drawn with replacement within each class, so that
    every resample holds both classes in their observed numbers of units. Seeded."""
    y = np.asarray(labels_is_fake).astype(bool)
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    codes = np.arange(len(y)) if units is None else np.unique(
        np.asarray([f"{int(label)}/{unit}" for label, unit in zip(y, units, strict=True)]), return_inverse=True)[1]
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    unit_is_fake = np.zeros(len(counts), dtype=bool)
    unit_is_fake[codes] = y
    per_class = [np.flatnonzero(unit_is_fake), np.flatnonzero(~unit_is_fake)]
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        picked = np.concatenate([rng.choice(group, size=len(group)) for group in per_class])
        lengths = counts[picked]
        offsets = np.repeat(starts[picked] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        yield order[offsets]


def _figures(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The INTERVAL_KEYS figures of one (resampled) set, without input checks."""
    from sklearn.metrics import auc, roc_curve

    called = called_fake(p, threshold)
    fpr, tpr, _ = roc_curve(y, p)
    return {"accuracy": float(np.mean(called == y)), "accuracy_df": float(np.mean(called[y])),
            "accuracy_real": float(np.mean(~called[~y])), "auc": float(auc(fpr, tpr)),
            "eer": _eer_of_curve(fpr, tpr)}


def _percentiles(draws: dict[str, list[float]], level: float) -> dict[str, list[float]]:
    tail = (1.0 - level) / 2.0 * 100.0
    return {key: [float(v) for v in np.percentile(values, [tail, 100.0 - tail])] for key, values in draws.items()}


def bootstrap_intervals(
    labels_is_fake: Any, p_fake: Any, threshold: float = 0.5, units: Sequence[Any] | None = None,
    resamples: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, list[float]]:
    """Percentile-bootstrap intervals of accuracy (overall, per class), AUC and EER.

    Whole ``units`` are resampled (see :func:`resampled_indices`): frames of one video are not
    independent draws, so resampling frames would give intervals far too narrow.
    """
    y, p = _arrays(labels_is_fake, p_fake)
    draws: dict[str, list[float]] = {key: [] for key in INTERVAL_KEYS}
    for index in resampled_indices(y, units, resamples, seed):
        for key, value in _figures(y[index], p[index], threshold).items():
            draws[key].append(value)
    return _percentiles(draws, level)


def paired_difference(
    labels_is_fake: Any, p_fake_a: Any, p_fake_b: Any, threshold: float = 0.5, units: Sequence[Any] | None = None,
    resamples: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """How much better B scores than A on the same images: each figure's difference (B − A) and its
    percentile-bootstrap interval, both models scored on the same resampled units each time (a paired
    comparison, far tighter than two separate intervals). An interval that excludes 0 is a difference
    this data shows; for EER lower is better, so a negative difference favours B."""
    y, p_a = _arrays(labels_is_fake, p_fake_a)
    _, p_b = _arrays(labels_is_fake, p_fake_b)
    observed_a, observed_b = _figures(y, p_a, threshold), _figures(y, p_b, threshold)
    draws: dict[str, list[float]] = {key: [] for key in INTERVAL_KEYS}
    for index in resampled_indices(y, units, resamples, seed):
        a, b = _figures(y[index], p_a[index], threshold), _figures(y[index], p_b[index], threshold)
        for key in INTERVAL_KEYS:
            draws[key].append(b[key] - a[key])
    bounds = _percentiles(draws, level)
    return {key: {"difference": observed_b[key] - observed_a[key], "interval": bounds[key]} for key in INTERVAL_KEYS}


def video_auc_interval(video_is_fake: Any, video_mean: Any, resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> list[float] | None:
    """Percentile-bootstrap interval of the videos' AUC (``auc_mean``): videos drawn with replacement within each
    class; None when a class holds fewer than 2 videos (every resample would be the same)."""
    draws = _video_auc_draws(video_is_fake, [video_mean], resamples, seed)
    return None if draws is None else _percentiles({"auc": draws[0]}, level)["auc"]


def paired_video_auc(video_is_fake: Any, video_mean_a: Any, video_mean_b: Any, resamples: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, Any]:
    """How much better B ranks the videos than A (each video's mean p_fake, the same videos): the difference of
    their AUCs (B − A) and its percentile-bootstrap interval, both AUCs computed on the same resampled videos
    each time (:func:`resampled_indices`, as :func:`paired_difference` draws the videos of the images); the
    interval is None when a class holds fewer than 2 videos."""
    y, a = _arrays(video_is_fake, video_mean_a)
    _, b = _arrays(video_is_fake, video_mean_b)
    draws = _video_auc_draws(y, [a, b], resamples, seed)
    every = np.arange(len(y))
    difference = _rank_auc(y, b, every) - _rank_auc(y, a, every)
    interval = None if draws is None else _percentiles({"auc": draws[1] - draws[0]}, level)["auc"]
    return {"difference": difference, "interval": interval}


def paired_video_accuracy(video_is_fake: Any, calls_a: dict[str, Any], calls_b: dict[str, Any], resamples: int = 1000,
                          seed: int = 0, level: float = 0.95) -> dict[str, dict[str, Any]]:
    """How many more of the videos B calls right than A, per rule (``calls_*``: rule -> each video's call, fake:
    True, the same videos): the difference of their video accuracies (B − A) and its percentile-bootstrap interval,
    both accuracies computed on the same resampled videos each time, the very resamples of
    :func:`paired_video_auc` (same ``seed``); the interval is None when a class holds fewer than 2 videos."""
    y = np.asarray(video_is_fake).astype(bool)
    right = {rule: (np.asarray(calls_b[rule]).astype(bool) == y).astype(np.float64)
             - (np.asarray(calls_a[rule]).astype(bool) == y).astype(np.float64) for rule in calls_a}
    intervals: dict[str, list[float] | None] = dict.fromkeys(right)
    if min(int(y.sum()), int((~y).sum())) >= 2:
        draws: dict[str, list[float]] = {rule: [] for rule in right}
        for index in resampled_indices(y, None, resamples, seed):
            for rule, gained in right.items():
                draws[rule].append(float(gained[index].mean()))
        intervals.update(_percentiles(draws, level))
    return {rule: {"difference": float(gained.mean()), "interval": intervals[rule]} for rule, gained in right.items()}


def _video_auc_draws(video_is_fake: Any, series: Sequence[Any], resamples: int,
                     seed: int) -> list[np.ndarray] | None:
    """Per series of video scores, its AUC on each of ``resamples`` resamples of the videos (the same for every
    series); None when a class holds fewer than 2 videos."""
    y = np.asarray(video_is_fake).astype(bool)
    scores = [_arrays(y, values)[1] for values in series]
    if min(int(y.sum()), int((~y).sum())) < 2:
        return None
    draws: list[list[float]] = [[] for _ in scores]
    for index in resampled_indices(y, None, resamples, seed):
        for drawn, values in zip(draws, scores, strict=True):
            drawn.append(_rank_auc(y, values, index))
    return [np.asarray(drawn) for drawn in draws]


def _rank_auc(y: np.ndarray, p: np.ndarray, index: np.ndarray) -> float:
    """The AUC of ``p[index]`` against ``y[index]`` in its Mann-Whitney form (ties count half), as roc_auc_score
    gives it, without its checks per draw: --model any draws it for each detector, and roc_auc_score's checks took
    4 s of 1000 draws each."""
    from scipy.stats import rankdata

    fakes = int(y[index].sum())
    reals = len(index) - fakes
    return float((rankdata(p[index])[y[index]].sum() - fakes * (fakes + 1) / 2) / (fakes * reals))


@cache
def _normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p``, once per level: the standard library's (scipy's ``norm.ppf`` to 1e-15),
    since importing ``scipy.stats`` costs a scan that gives error rates a second or more before its first row."""
    return statistics.NormalDist().inv_cdf(p)


def wilson_interval(successes: float, trials: float, level: float = 0.95) -> list[float]:
    """Wilson score interval of ``successes`` of ``trials``: a proportion (e.g. video accuracy, whole counts:
    scipy's ``binomtest(...).proportion_ci(method="wilson")`` to 12 decimals) or an effective count, both possibly
    fractional (e.g. a class's accuracy times its number of videos). Unlike a percentile bootstrap it is not of
    width 0 at 0 or 1; its ends lie in [0, 1]."""
    z = _normal_quantile(0.5 + level / 2.0)
    trials = float(trials)
    share = float(successes) / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [max(0.0, round(float(centre - half), 12)), min(1.0, round(float(centre + half), 12))]
