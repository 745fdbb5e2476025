"""``mesocli eval``: score a labelled dataset split with a model and report detection figures.

The verdict rule is scan's: fake when ``p_fake >= threshold``. Unreadable and non-image files are
skipped and counted. Figures come from :mod:`mesocli.metrics`; video-level figures are added when
every file name carries a video id (``<video>_<frame>.jpg``). When the fake class holds method
sub-folders (``df/Face2Face/...``), each method is also scored against all the real images
(``methods``); with ``--model any`` each detector's own figures are added (``detectors``) beside
the combined ones (largest p_fake). ``--limit N`` scores a seeded subset of about N faces instead
(:func:`limit_dataset`: whole videos, per class and method folder), marked as such in every output.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mesocli.aggregate import check_threshold
from mesocli.datasets import DecodedImages, FolderDataset, iter_decoded, video_id
from mesocli.detectors import DetectorSet, Ensemble, combine
from mesocli.errors import OutputError, ParameterError, UsageError, check_known
from mesocli.metrics import (
    INTERVAL_KEYS,
    MIN_TRACK_FRAMES,
    TrackId,
    binary_report,
    bootstrap_intervals,
    calibration,
    called_fake,
    paired_difference,
    paired_video_accuracy,
    paired_video_auc,
    track_id,
    video_auc_interval,
    video_level,
    video_of_track,
    video_scores,
    wilson_interval,
)
from mesocli.progress import note
from mesocli.runtime import OnnxModel
from mesocli.sources import split_by_groups
from mesocli.weights import LoadedModel, resize_record, resizes_needed

REPORT_KEYS = (
    "model", "data", "threshold", "accuracy", "accuracy_df", "accuracy_real", "auc", "eer", "eer_threshold",
    "average_precision", "confusion", "best_threshold", "best_accuracy", "calibration", "video", "seconds",
    "images_per_second", "intervals", "methods", "detectors", "comparison", "provenance",
)
DEFAULT_BOOTSTRAP = 1000  # resamples for the 95 % intervals (0: none)
BOOTSTRAP_SEED = 0  # every bootstrap of eval draws with it: the same data gives the same intervals (in the JSON)
IMAGES_ONE_BY_ONE = ("images resampled one by one (no file name carries a video id): if they are frames of few "
                     "videos, these intervals are far too narrow (name the crops <video>_<frame> or use extract's "
                     "dataset layout)")  # the caution of an interval (or paired one) over faces without video ids
SHORT_KEYS = ("accuracy", "accuracy_df", "accuracy_real", "auc", "eer", "eer_threshold")


@dataclass
class EvalReport:
    """The figures of one evaluation; :meth:`to_dict` is the ``--format json`` object."""

    model: dict[str, Any]
    data: dict[str, Any]
    threshold: float
    accuracy: float
    accuracy_df: float
    accuracy_real: float
    auc: float
    eer: float
    eer_threshold: float  # the threshold (in [0, 1], one --threshold takes) nearest FPR = FNR
    average_precision: float
    confusion: dict[str, Any]
    best_threshold: float
    best_accuracy: float
    video: dict[str, Any] | None
    seconds: float
    images_per_second: float
    methods: dict[str, Any] | None = None
    detectors: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None  # Brier score, ECE and the reliability bins of p_fake
    intervals: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None  # when it finished, and the software that made it (see provenance())
    comparison: dict[str, Any] | None = None  # eval --compare: the paired differences from other weights (compare())
    # per-image detail for --scores and --plot (not part of the JSON object)
    paths: list[str] = field(default_factory=list, repr=False)
    labels_is_fake: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)
    p_fake: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    p_fake_by_detector: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # --model any
    video_ids: list[str | None] = field(default_factory=list, repr=False)
    image_methods: list[str | None] = field(default_factory=list, repr=False)  # each image's method folder
    compared_p_fake: np.ndarray | None = field(default=None, repr=False)  # eval --compare: the other model's p_fake
    skipped: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The report with stable keys, in a fixed order (see REPORT_KEYS)."""
        return {key: getattr(self, key) for key in REPORT_KEYS}


@dataclass(frozen=True)
class EvalStep:
    """What the ``on_progress`` callback of :func:`mesocli.api.evaluate` receives, in the calling thread (what it
    raises comes out of ``evaluate``, which writes nothing). ``phase``: ``score`` (one more batch of faces was read
    and scored: ``faces`` of ``total`` so far), ``figures`` (all are scored; the figures and their bootstrap
    intervals are being computed)."""

    phase: Literal["score", "figures"]
    faces: int
    total: int


def _scores(
    models: list[LoadedModel | OnnxModel | DetectorSet | Ensemble], dataset: FolderDataset,
    decoded: DecodedImages | None, progress: bool, tell: Callable[[EvalStep], object] = lambda step: None,
) -> tuple[list[dict[str, np.ndarray]], np.ndarray, dict[int, str], list[float]]:
    """Per model of ``models``, p_fake of every file per detector (NaN where unreadable); the readable mask, the
    read errors, and per model the seconds it took: the files are decoded once, each batch scored by every model
    (``eval --compare``), and the decoding counted in each model's seconds. ``tell``: told after each batch."""
    from mesocli.runtime import check_scores, make_predictor

    every = [loaded.members if isinstance(loaded, DetectorSet) else {"": loaded} for loaded in models]
    predictors = [{name: make_predictor(member) for name, member in members.items()} for members in every]
    # each member's resizes: one, or an ensemble's networks' where they differ (each network fed its own)
    resized = [{name: resizes_needed(member) for name, member in members.items()} for members in every]
    resizes = list(dict.fromkeys(resize for own in resized for wanted in own.values() for resize in wanted))
    n = len(dataset.paths)
    p_fakes = [{name: np.full(n, np.nan) for name in own} for own in predictors]
    scoring, timed = [0.0] * len(models), len(models) > 1  # one model: its seconds are the whole loop's
    started = time.perf_counter()

    def score(start: int, faces: Callable[[str], np.ndarray]) -> None:
        """Score the faces from ``start`` on, ``faces(resize)`` as each model's resize gives them."""
        for number, (members, own, p_fake, resize) in enumerate(zip(every, predictors, p_fakes, resized,
                                                                     strict=True)):
            began = time.perf_counter() if timed else 0.0
            for name, predictor in own.items():
                wanted = resize[name]
                images = faces(wanted[0]) if len(wanted) == 1 else {each: faces(each) for each in wanted}
                scores = predictor.p_fake(images)
                check_scores(scores, members[name])  # at the first batch (an unreadable file's stand-in scores too)
                p_fake[name][start : start + len(scores)] = scores
            if timed:
                scoring[number] += time.perf_counter() - began

    if decoded is not None:
        if len(decoded.ok) != n:
            raise ValueError(f"{len(decoded.ok)} decoded images for {n} files")
        for resize in resizes:
            decoded.faces(resize)  # a ValueError now, not after a model has scored
        for start in range(0, n, 1024):
            score(start, lambda resize, start=start: decoded.faces(resize)[start : start + 1024])
            tell(EvalStep("score", min(start + 1024, n), n))
        ok, errors = decoded.ok.copy(), dict(decoded.errors)
    else:
        ok = np.zeros(n, dtype=bool)
        errors: dict[int, str] = {}
        for batch in iter_decoded(dataset, batch_size=128, progress=progress, desc="eval", resizes=resizes):
            score(batch.start, batch.faces)
            ok[batch.start : batch.start + len(batch.ok)] = batch.ok
            errors.update(batch.errors)
            tell(EvalStep("score", batch.start + len(batch.ok), n))
    for p_fake in p_fakes:
        for values in p_fake.values():
            values[~ok] = np.nan
    shared = time.perf_counter() - started - sum(scoring)  # decoding (and waiting for it)
    return p_fakes, ok, errors, [shared + seconds for seconds in scoring]


def check_limit(limit: int | None, seed: int | None = None) -> None:
    """Refuse a ``limit`` under 2 (a subset needs a face of each class), a ``seed`` without ``limit`` (it would
    draw nothing: the whole split is scored) and a negative ``seed`` (NumPy draws with none)."""
    if limit is not None and limit < 2:
        raise ParameterError("{limit} {value}: must be at least 2", value=limit)
    if seed is None:
        return
    if limit is None:
        raise ParameterError("{seed} goes with {limit} (it seeds the draw of a subset)")
    if seed < 0:
        raise ParameterError("{seed} {value}: must be 0 or more", value=seed)


def limit_dataset(dataset: FolderDataset, limit: int | None, seed: int | None = None) -> FolderDataset:
    """About ``limit`` files of ``dataset`` (``eval --limit``), drawn with ``seed`` (None: 0) as training draws its
    held-out part (:func:`mesocli.sources.split_by_groups`): whole videos (file names ``<video>_<frame>``; a
    file without a video id is a unit of its own), ``limit / len`` of each class folder and of each method
    folder in it (a method folder keeps at least one), so a cell may pass its share by less than one video.
    ``dataset.drawn`` records the draw.

    ``dataset`` itself when ``limit`` is None or at least its size; ParameterError when ``limit`` is under 2
    or the draw leaves a class without a file, or ``seed`` is negative or given without ``limit``."""
    check_limit(limit, seed)
    if limit is None:
        return dataset
    seed = 0 if seed is None else seed
    total = len(dataset.paths)
    if limit >= total:
        return dataset
    cells: dict[tuple[int, str], int] = {}
    units: dict[tuple[int, str | int], int] = {}
    strata, groups = np.empty(total, np.int64), np.empty(total, np.int64)
    videos = [video_id(path) for path in dataset.paths]
    if dataset.tracks:  # a video's tracks drawn together
        videos = [video_of_track(track_id(video)) if video else None for video in videos]
    for index, (label, method, video) in enumerate(zip(dataset.labels.tolist(), dataset.methods, videos,
                                                         strict=True)):
        strata[index] = cells.setdefault((label, method or ""), len(cells))
        groups[index] = units.setdefault((int(strata[index]), video if video else index), len(units))
    _, picked = split_by_groups(dataset.labels, strata, groups, limit / total, seed)
    # files without video ids are drawn one by one, each folder's share rounded: a method folder whose share
    # rounds to none keeps one unit (drawn with the seed), as a drawn video always keeps it
    rng, kept = np.random.default_rng(seed), np.isin(np.arange(total), picked)
    for (_, method), stratum in cells.items():
        if method and not kept[strata == stratum].any():
            kept |= groups == rng.choice(np.unique(groups[strata == stratum]))
    picked = np.flatnonzero(kept)
    counts = np.bincount(dataset.labels[picked], minlength=2)
    missing = [name for name, count in zip(("df", "real"), counts, strict=True) if count == 0]
    if missing:
        shown = ", ".join(f"{name} {count} of {of}" for name, count, of in
                          zip(("df", "real"), counts, np.bincount(dataset.labels, minlength=2), strict=True))
        raise ParameterError("{limit} {value} draws no {missing} image ({shown}); give a larger {limit}",
                             value=limit, missing=" and ".join(missing), shown=shown)
    with_id = np.array([video is not None for video in videos])
    by_video = bool(with_id.any())
    drawn = {"limit": limit, "seed": seed, "unit": "video" if by_video else "image", "images": len(picked),
             "of_images": total, "videos": len(np.unique(groups[picked][with_id[picked]])) if by_video else None,
             "of_videos": len(np.unique(groups[with_id])) if by_video else None}
    return replace(dataset.subset(picked), ignored=dataset.ignored, folders=dataset.folders, drawn=drawn)


def subset_note(drawn: dict[str, Any]) -> str:
    """What the table, the plot and stderr say of an ``eval --limit`` subset (``FolderDataset.drawn``)."""
    videos = f", {drawn['videos']} of {drawn['of_videos']} videos" if drawn["videos"] is not None else ""
    return f"{drawn['images']} of {drawn['of_images']} images{videos} (--limit {drawn['limit']} --seed {drawn['seed']})"


def check_bootstrap(resamples: int) -> None:
    """Refuse a negative number of resamples (0 turns the intervals off)."""
    if resamples < 0:
        raise ParameterError("{bootstrap} {value}: must be 0 (no intervals) or more", value=resamples)


def figure_intervals(labels_is_fake: np.ndarray, p_fake: np.ndarray, threshold: float, videos: list[str | None],
              video: dict[str, Any] | None, resamples: int,
              by_detector: list[np.ndarray] | None = None, rule: int = MIN_TRACK_FRAMES) -> dict[str, Any] | None:
    """95 % intervals of the image figures (bootstrap over videos where images name one, an image without
    a video id a unit of its own; over images where none does), of the video accuracies (Wilson) and of the
    videos' AUC (bootstrap over videos; ``by_detector`` and ``rule``, the shortest deciding track, as for
    :func:`video_level`); None when ``resamples`` is 0. An accuracy whose bootstrap interval has width 0 (every
    unit of its class alike, e.g. all right) gets a Wilson interval on its count of units instead (faces of one
    video are not independent: the videos, not the faces, are the draws); ``rules`` names each interval's rule
    (:data:`WIDTH_0` for an AUC, EER or video AUC bootstrap whose every resample gave the same value:
    :func:`mark_width_0`)."""
    if resamples <= 0:
        return None
    by_video = any(videos)
    unit = "video" if by_video else "image"
    keys = [video_of_track(v) if v else f"\x00{i}" for i, v in enumerate(videos)]  # NUL: in no file name
    units = [len({k for k, fake in zip(keys, labels_is_fake, strict=True) if fake == cls}) for cls in (True, False)]
    result: dict[str, Any] = {"level": 0.95, "resamples": resamples, "seed": BOOTSTRAP_SEED, "unit": unit}
    rules: dict[str, str] = {}
    notes: list[str] = []
    if not by_video:
        notes.append(IMAGES_ONE_BY_ONE)
    loose = sum(1 for v in videos if not v) if by_video else 0
    if min(units) < 2:  # resampling one unit gives the same figures every time: an interval of width 0
        notes.append(f"image figures' intervals not computed: {min(units)} {unit} in the "
                     f"{'df' if units[0] < 2 else 'real'} class (a bootstrap needs at least 2 in each)")
    else:
        result.update(bootstrap_intervals(labels_is_fake, p_fake, threshold, keys if by_video else None, resamples,
                                           seed=BOOTSTRAP_SEED))
        rules.update(dict.fromkeys(INTERVAL_KEYS, "bootstrap"))
        notes.extend(_wilson_where_degenerate(result, rules, labels_is_fake, p_fake, threshold, units, unit))
        notes.extend(mark_width_0(result, rules, units, unit))
        if loose:
            notes.append(f"{loose} image{'s' if loose > 1 else ''} without a video id (not named "
                         "<video>_<frame>) resampled as units of their own")
    if video is not None:
        for key in ("accuracy_mean", "accuracy_vote"):
            right = round(video[key] * video["videos"])
            result[f"video_{key}"] = wilson_interval(right, video["videos"])
            rules[f"video_{key}"] = "wilson"
        scores = video_scores(videos, labels_is_fake, p_fake, threshold, by_detector, rule)
        if scores is not None:
            bounds = video_auc_interval(scores[0], scores[1], resamples, seed=BOOTSTRAP_SEED)
            if bounds is not None:
                result["video_auc_mean"] = bounds
                rules["video_auc_mean"] = "bootstrap"
                fakes = int(scores[0].sum())
                notes.extend(mark_width_0(result, rules, [fakes, len(scores[0]) - fakes], "video",
                                          keys=("video_auc_mean",)))
    result["rules"] = rules
    if notes:
        result["note"] = NOTE_SEPARATOR.join(notes)
    return result


WIDTH_0 = "bootstrap-width-0"
"""The rule (in ``intervals.rules``, and ``rule`` of each figure of ``comparison``) of a percentile-bootstrap
interval of width 0: every resample gave the same value (a perfect ranking of few videos: AUC 1.000, EER 0.000;
two models alike on every resample), which the data cannot show to be certain."""


WIDTH_0_SPREAD = 1e-12
"""An interval no wider is of width 0: resamples alike give AUCs that differ in their last bits at most (1e-16
measured, to 50,000 faces a class), while one AUC step is 1/(fakes × reals), 1.6e-10 on 80,000 faces a class
(1e-9 called such a genuine spread width 0)."""


def mark_width_0(intervals: dict[str, Any], rules: dict[str, str], units: list[int], unit: str,
                 keys: tuple[str, ...] = ("auc", "eer")) -> list[str]:
    """Mark each bootstrap interval of ``keys`` in ``intervals`` whose ends are equal with the rule
    :data:`WIDTH_0` in ``rules``; return the notes that say so (``units``: the df and real units resampled)."""
    notes = []
    for key in keys:
        bounds = intervals.get(key)
        if rules.get(key) != "bootstrap" or not bounds or bounds[1] - bounds[0] > WIDTH_0_SPREAD:
            continue
        rules[key] = WIDTH_0
        value = round(bounds[0], 3) + 0.0  # + 0.0: -1e-17 shows as 0.000
        notes.append(f"{key.replace('_', ' ')}: {value:.3f} on every resample of {units[0]} df and {units[1]} "
                     f"real {unit}s, an interval of width 0 that no such data can show to be certain")
    return notes


NOTE_SEPARATOR = "; "
"""Between the parts of ``intervals.note`` (none holds it): the table shows each part on a row of its own."""


def _wilson_where_degenerate(result: dict[str, Any], rules: dict[str, str], labels_is_fake: np.ndarray,
                             p_fake: np.ndarray, threshold: float, units: list[int], unit: str) -> list[str]:
    """Replace each accuracy interval of width 0 in ``result`` by a Wilson interval on the class's (classes')
    number of ``units``, the observed accuracy times it right (an effective count: a video's faces count as one
    draw); mark it in ``rules`` and return the notes that say so."""
    y = np.asarray(labels_is_fake, dtype=bool)
    called = called_fake(np.asarray(p_fake, dtype=np.float64), threshold)
    observed = {"accuracy": (float(np.mean(called == y)), units[0] + units[1]),
                "accuracy_df": (float(np.mean(called[y])), units[0]),
                "accuracy_real": (float(np.mean(~called[~y])), units[1])}
    notes = []
    for key, (share, count) in observed.items():
        low, high = result[key]
        if high - low > 0:
            continue
        result[key] = wilson_interval(share * count, count)
        rules[key] = "wilson"
        notes.append(f"{key.replace('_', ' ')}: {share:.3f} of {count} {unit}s, Wilson interval on the {unit}s "
                     "(a bootstrap gives width 0)")
    return notes


def compare(report: EvalReport, other: EvalReport, resamples: int = DEFAULT_BOOTSTRAP,
            rule: int = MIN_TRACK_FRAMES) -> dict[str, Any]:
    """``report``'s figures minus ``other``'s, both scored on the same images (``eval --compare``), with paired 95 %
    percentile-bootstrap intervals: both models' figures computed on the same ``resamples`` resamples (whole videos
    within each class where names carry video ids, as :func:`figure_intervals` draws; ``0``: no intervals), drawn
    with ``seed`` :data:`BOOTSTRAP_SEED`. An interval that excludes 0 is a difference these faces show; two separate
    intervals that overlap are not evidence of none. For ``eer`` lower is better. When the fakes sit in method
    folders, ``methods`` holds each method's differences (its fakes against every real image, as ``methods`` of the
    report), with their own paired intervals; else None. ``video``: both models' video accuracies and video AUCs,
    their videos grouped by one rule, ``rule`` (``min_track_frames``; :func:`_paired_videos`)."""
    if other.paths != report.paths or not np.array_equal(other.labels_is_fake, report.labels_is_fake):
        raise UsageError("the images changed between the two models' scoring (files added, removed or unreadable "
                         "meanwhile): evaluate again")
    y = report.labels_is_fake
    result: dict[str, Any] = {"model": other.model, "resize": (other.provenance or {}).get("resize"), "level": 0.95,
                              "resamples": resamples, "seed": BOOTSTRAP_SEED}
    result.update(_paired(y, report.p_fake, other.p_fake, report.threshold, report.video_ids, resamples))
    methods = None
    if any(m is not None for m, fake in zip(report.image_methods, y, strict=True) if fake):
        named = np.array([m if m is not None else NO_METHOD for m in report.image_methods], dtype=object)
        methods = {}
        for name in sorted({m for m, fake in zip(named, y, strict=True) if fake}):
            keep = ~y | (named == name)
            methods[name] = {"images": int(keep.sum()), "df": int(y[keep].sum()), "real": int((~y[keep]).sum()),
                             **_paired(y[keep], report.p_fake[keep], other.p_fake[keep], report.threshold,
                                       [v for v, k in zip(report.video_ids, keep, strict=True) if k], resamples)}
    result["methods"] = methods
    result["video"] = _paired_videos(report, other, resamples, rule)
    return result


def _paired_videos(report: EvalReport, other: EvalReport, resamples: int,
                   rule: int = MIN_TRACK_FRAMES) -> dict[str, Any] | None:
    """:func:`compare`'s ``video``: both models' video accuracies and video AUCs (``auc_mean``), their videos grouped
    by the same rule (``min_track_frames`` where the videos are made of face tracks), and their differences; the
    AUC's with a paired interval (:func:`mesocli.metrics.paired_video_auc`: the videos resampled together within
    each class, drawn as :func:`_paired` draws them; null with ``resamples`` 0 or a class of one video, ``note``
    says why), the accuracies' without (see the Wilson intervals of each model's own); None without video figures."""
    mine, theirs = report.video, other.video
    if mine is None or theirs is None:
        return None
    paired: dict[str, Any] = {"videos": mine["videos"]}
    if "min_track_frames" in mine:
        paired["min_track_frames"] = mine["min_track_frames"]
    rules = {key: key.removeprefix("accuracy_") for key in ("accuracy_mean", "accuracy_vote")
             if mine.get(key) is not None and theirs.get(key) is not None}
    y = report.labels_is_fake
    scores = [video_scores(model.video_ids, y, model.p_fake, report.threshold,
                           list(model.p_fake_by_detector.values()) or None, rule) for model in (report, other)]
    interval = None
    accuracies: dict[str, dict[str, Any]] = {}
    if scores[0] is not None and scores[1] is not None:
        video_is_fake = scores[0][0]
        fakes = int(video_is_fake.sum())
        fewest = min(fakes, len(video_is_fake) - fakes)
        if resamples > 0 and fewest >= 2:
            interval = paired_video_auc(video_is_fake, scores[1][1], scores[0][1], resamples,
                                        seed=BOOTSTRAP_SEED)["interval"]
            # each video called by the mean of its p_fake or the share of its frames called fake, as video accuracy
            calls = [{"mean": called_fake(found[1], report.threshold), "vote": called_fake(found[2], report.threshold)}
                     for found in scores]
            accuracies = paired_video_accuracy(video_is_fake, {rule: calls[1][rule] for rule in rules.values()},
                                               {rule: calls[0][rule] for rule in rules.values()}, resamples,
                                               seed=BOOTSTRAP_SEED)
        else:
            paired["note"] = ("no interval: --bootstrap 0" if resamples <= 0 else
                              f"no interval: {fewest} video in the {'df' if fakes < 2 else 'real'} class (a "
                              "bootstrap needs at least 2 in each)")
    for key, name in rules.items():  # the same resampled videos as the AUC's
        bounds = accuracies[name]["interval"] if name in accuracies else None
        paired[key] = {"this": mine[key], "other": theirs[key], "difference": mine[key] - theirs[key],
                       "interval": bounds, "rule": _paired_rule(bounds)}
    paired["auc_mean"] = {"this": mine["auc_mean"], "other": theirs["auc_mean"],
                          "difference": mine["auc_mean"] - theirs["auc_mean"], "interval": interval,
                          "rule": _paired_rule(interval)}
    return paired


def _paired(y: np.ndarray, ours: np.ndarray, theirs: np.ndarray, threshold: float, videos: list[str | None],
            resamples: int) -> dict[str, Any]:
    """:func:`compare`'s ``unit``, ``note`` (when there are no intervals) and ``{this, other, difference,
    interval}`` of each figure, of one set of images."""
    keys = [video_of_track(v) if v else f"\x00{i}" for i, v in enumerate(videos)] if any(videos) else None
    units = [len({k for k, fake in zip(keys or range(len(y)), y, strict=True) if fake == cls}) for cls in (True, False)]
    result: dict[str, Any] = {"unit": "video" if keys else "image"}
    mine, other = binary_report(y, ours, threshold), binary_report(y, theirs, threshold)
    if resamples > 0 and min(units) >= 2:
        found = paired_difference(y, theirs, ours, threshold, keys, resamples, seed=BOOTSTRAP_SEED)
    else:
        found = {}
        result["note"] = ("no intervals: --bootstrap 0" if resamples <= 0 else
                          f"no intervals: {min(units)} {result['unit']} in the {'df' if units[0] < 2 else 'real'} "
                          "class (a bootstrap needs at least 2 in each)")
    for key in INTERVAL_KEYS:
        interval = found[key]["interval"] if key in found else None
        result[key] = {"this": mine[key], "other": other[key], "difference": mine[key] - other[key],
                       "interval": interval, "rule": _paired_rule(interval)}
    return result


def _paired_rule(interval: list[float] | None) -> str | None:
    """The rule of a paired interval: ``bootstrap``, or :data:`WIDTH_0` where every resample gave the same
    difference (two models alike on every resample: no evidence that they are alike); None without an interval."""
    if interval is None:
        return None
    return WIDTH_0 if interval[1] - interval[0] <= WIDTH_0_SPREAD else "bootstrap"


def trained_on(loaded: Any, dataset: FolderDataset, option: str = "") -> str | None:
    """A warning when ``loaded``'s model card (mesocli's own weights) lists ``dataset``'s very files as one of the
    sources it was trained on (the same file-list hash: names and labels, of the files the source's ``methods`` and
    ``every`` select, named from the split folder as the source's ``split`` named them, so ``ROOT --split train``
    and ``ROOT/train`` are the same files): its figures then score faces the model trained on (or selected its
    epoch on), not unseen ones. None otherwise, also for files without a card. ``option``: the option that named
    the model (``--compare``), shown before its name. ``--model any``, ``--arch ensemble``: each detector's card."""
    members = getattr(loaded, "members", None)
    if isinstance(members, dict):
        return next((found for member in members.values() if (found := trained_on(member, dataset, option))), None)
    data = getattr(getattr(loaded, "card", None), "data", None)
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list):
        return None
    for source in sources:
        if isinstance(source, dict) and (selected := _as_trained(dataset, source)) is not None:
            held = data.get("heldout_fraction")
            part = (f"all but the held-out part (--val-fraction {held:g}) trained on" if isinstance(held, int | float)
                    and source.get("heldout") is not False and held > 0 else "every one trained on")
            named = f"{option} {loaded.name}" if option else loaded.name
            files = "these very files" if selected == len(dataset.paths) else f"{selected} of these files"
            return (f"warning: {named} was trained on {files} (its model card's source "
                    f"{source.get('root')}, split {source.get('split')}: {part}): these figures overstate how it "
                    "does on faces it has not seen; evaluate it on another split")
    return None


def _as_trained(dataset: FolderDataset, source: dict[str, Any]) -> int | None:
    """How many of ``dataset``'s files a model card's ``source`` lists, when its ``file_list_sha256`` is that of
    the files its ``methods`` and ``every`` select from ``dataset``, named as its ``split`` names them; else None."""
    from mesocli.sources import Source, _select

    recorded, split = source.get("file_list_sha256"), source.get("split")
    if not isinstance(recorded, str) or not (split is None or isinstance(split, str)):
        return None
    try:
        settings = Source(str(dataset.root), dataset.split, source.get("methods"), source.get("every", 1))
        settings.check()
    except UsageError:  # not settings this version reads: not a source it can tell
        return None
    selected = _select(dataset, settings) if settings.methods is not None or settings.every > 1 else dataset
    base = dataset.root / dataset.split if dataset.split else dataset.root
    prefix = f"{split}/" if split else ""
    digest = hashlib.sha256()
    for path, label in sorted(zip(selected.paths, selected.labels.tolist(), strict=True)):
        name = prefix + path.relative_to(base).as_posix()
        digest.update(f"{name}\t{label}\n".encode("utf-8", "surrogateescape"))
    return len(selected.paths) if digest.hexdigest() == recorded else None


def check_min_track_frames(min_track_frames: int | None, dataset: FolderDataset | None = None) -> int:
    """The shortest face track that decides a video's figures (``eval --min-track-frames``, the meaning of scan's):
    ``min_track_frames``, or scan's default (3) when None. Refused (ParameterError) under 1, and, given the
    ``dataset``, for one without face tracks (not made by ``extract --all-faces``), where it would be ignored."""
    if min_track_frames is None:
        return MIN_TRACK_FRAMES
    if isinstance(min_track_frames, bool) or not isinstance(min_track_frames, int) or min_track_frames < 1:
        raise ParameterError("{min_track_frames} must be at least 1")
    if dataset is not None and not dataset.tracks:
        why = f" ({dataset.manifest_note})" if dataset.manifest_note else ""  # a value: a path may hold braces
        raise ParameterError("{min_track_frames} goes with a dataset of extract --all-faces (which face tracks decide "
                             "a video's figures): {value} has no face tracks: no manifest.jsonl of extract there "
                             "says all_faces{why}", value=dataset.root, why=why)
    return min_track_frames


def video_figures(videos: list[str | None], labels_is_fake: np.ndarray, p_fake: np.ndarray, threshold: float,
                  by_detector: list[np.ndarray] | None = None, rule: int = MIN_TRACK_FRAMES) -> dict[str, Any] | None:
    """:func:`mesocli.metrics.video_level` with ``min_track_frames`` ``rule``; when the videos are made of face
    tracks (an ``extract --all-faces`` dataset), the block names the rule: ``min_track_frames``."""
    video = video_level(videos, labels_is_fake, p_fake, threshold, by_detector, rule)
    if video is not None and any(isinstance(vid, TrackId) for vid in videos):
        video["min_track_frames"] = rule
    return video


def _short(labels_is_fake: np.ndarray, p_fake: np.ndarray, threshold: float, videos: list[str | None],
           by_detector: list[np.ndarray] | None = None, resamples: int | None = None,
           rule: int = MIN_TRACK_FRAMES) -> dict:
    """Accuracy (overall, per class), AUC and EER, plus the video-level figures (:func:`video_figures`, ``rule``:
    ``min_track_frames``), of one subset (``by_detector``: each detector's scores, for ``--model any``'s video rule),
    and with ``resamples`` their 95 % ``intervals`` (null when it is 0, as the report's own; ``None``: no such key)."""
    figures = binary_report(labels_is_fake, p_fake, threshold)
    short: dict[str, Any] = {"images": len(p_fake), "df": int(labels_is_fake.sum()),
                             "real": int((~labels_is_fake).sum())}
    short.update({key: figures[key] for key in SHORT_KEYS})
    short["video"] = video_figures(videos, labels_is_fake, p_fake, threshold, by_detector, rule)
    if resamples is not None:
        short["intervals"] = figure_intervals(labels_is_fake, p_fake, threshold, videos, short["video"], resamples,
                                              by_detector, rule)
    return short


NO_METHOD = "(no method)"  # fakes directly in the class folder when others sit in method folders


def per_method(labels_is_fake: np.ndarray, p_fake: np.ndarray, methods: list[str | None], threshold: float,
               videos: list[str | None], by_detector: list[np.ndarray] | None = None,
               resamples: int | None = None, rule: int = MIN_TRACK_FRAMES) -> dict[str, Any] | None:
    """Figures for each fake method against every real image; None when the fakes carry no method. Fakes
    directly in the class folder, beside method folders, are the method ``(no method)``."""
    named = [m if m is not None else NO_METHOD for m in methods]
    if all(m is None for m, fake in zip(methods, labels_is_fake, strict=True) if fake):
        return None
    names = sorted({m for m, fake in zip(named, labels_is_fake, strict=True) if fake})
    result = {}
    for name in names:
        keep = ~labels_is_fake | np.array([m == name for m in named])
        result[name] = _short(labels_is_fake[keep], p_fake[keep], threshold,
                              [v for v, k in zip(videos, keep, strict=True) if k],
                              [scores[keep] for scores in by_detector] if by_detector else None, resamples, rule)
    return result


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve of ``eval --plot``: ``method`` None for every fake, else that method's fakes; each against
    every real image. ``auc`` is the report's figure for it (``auc``, ``methods[method].auc``)."""

    method: str | None
    fakes: int
    fpr: np.ndarray
    tpr: np.ndarray
    auc: float


def roc_curves(report: EvalReport) -> list[RocCurve]:
    """The ROC curves of ``report.p_fake`` (positive = fake): every fake against every real image first, then,
    when the report has ``methods``, each method's fakes against every real image, in the order of ``methods``
    (with ``--model any``, of the combined p_fake, as ``methods`` is)."""
    from sklearn.metrics import roc_curve

    def curve(method: str | None, keep: np.ndarray, auc: float) -> RocCurve:
        fpr, tpr, _ = roc_curve(report.labels_is_fake[keep], report.p_fake[keep])
        return RocCurve(method, int(report.labels_is_fake[keep].sum()), fpr, tpr, float(auc))

    curves = [curve(None, np.ones(len(report.p_fake), bool), report.auc)]
    named = np.array([m if m is not None else NO_METHOD for m in report.image_methods], dtype=object)
    for method, figures in (report.methods or {}).items():
        curves.append(curve(method, ~report.labels_is_fake | (named == method), figures["auc"]))
    return curves


def compared_curve(report: EvalReport) -> RocCurve | None:
    """``eval --compare``'s other model's ROC curve on every fake against every real image (its ``auc`` is
    ``comparison.auc.other``); None without ``--compare``."""
    if report.compared_p_fake is None or report.comparison is None:
        return None
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(report.labels_is_fake, report.compared_p_fake)
    return RocCurve(None, int(report.labels_is_fake.sum()), fpr, tpr, float(report.comparison["auc"]["other"]))


def evaluate(
    loaded: LoadedModel | OnnxModel | DetectorSet | Ensemble,
    dataset: FolderDataset,
    threshold: float = 0.5,
    *,
    decoded: DecodedImages | None = None,
    progress: bool = False,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    compare_with: LoadedModel | OnnxModel | DetectorSet | Ensemble | None = None,
    on_progress: Callable[[EvalStep], object] | None = None,
    min_track_frames: int | None = None,
) -> EvalReport:
    """Score every image of ``dataset`` with ``loaded`` and compute the report, with 95 % intervals
    (``bootstrap`` resamples; 0: none) of the overall, per-method and per-detector figures.

    ``decoded`` (from :func:`mesocli.datasets.decode_dataset`) skips decoding, for callers that
    evaluate several models on the same data; otherwise files are decoded and scored in a stream.
    ``compare_with``: a second model scoring each decoded batch too; ``report.comparison`` is :func:`compare`'s.
    Raises UsageError when the readable images do not hold both classes. ``on_progress``: see :class:`EvalStep`.
    ``min_track_frames``: the shortest face track of an ``extract --all-faces`` dataset that decides its video's
    figures, for both models and every detector (:func:`check_min_track_frames`; None: scan's default, 3).
    """
    check_threshold(threshold)
    rule = check_min_track_frames(min_track_frames, dataset)
    models = [loaded] if compare_with is None else [loaded, compare_with]
    tell = on_progress or (lambda step: None)
    scored, ok, errors, seconds_each = _scores(models, dataset, decoded, progress, tell)
    tell(EvalStep("figures", len(dataset.paths), len(dataset.paths)))
    report = _report(loaded, dataset, threshold, scored[0], ok, errors, seconds_each[0], bootstrap, rule)
    if compare_with is not None:
        other = _report(compare_with, dataset, threshold, scored[1], ok, errors, seconds_each[1], 0, rule)
        report.comparison = compare(report, other, bootstrap, rule)
        report.compared_p_fake = other.p_fake
    return report


def _report(loaded: LoadedModel | OnnxModel | DetectorSet | Ensemble, dataset: FolderDataset, threshold: float,
            by_detector: dict[str, np.ndarray], ok: np.ndarray, errors: dict[int, str], seconds: float,
            bootstrap: int, rule: int = MIN_TRACK_FRAMES) -> EvalReport:
    """:func:`evaluate`'s report of ``loaded``'s scores (:func:`_scores`); ``rule``: ``min_track_frames``."""
    p_all = combine(by_detector)
    skipped = [errors[i] for i in sorted(errors)] + [f"{path}: not an image file" for path in dataset.ignored]
    used = np.flatnonzero(ok)
    labels_is_fake = dataset.labels[used] == 0
    paths = [dataset.paths[i] for i in used]
    n_df, n_real = int(labels_is_fake.sum()), int((~labels_is_fake).sum())
    if n_df == 0 or n_real == 0:
        missing = " and ".join(name for name, count in (("df", n_df), ("real", n_real)) if count == 0)
        raise UsageError(
            f"no readable images of class {missing} in {dataset.root}; both df and real are needed"
        )
    p_fake = p_all[used]
    methods = [dataset.methods[i] for i in used]
    videos = [_video_key(path, method, dataset.tracks) for path, method in zip(paths, methods, strict=True)]
    figures = binary_report(labels_is_fake, p_fake, threshold)
    detectors = None
    used_by_detector = ({name: scores[used] for name, scores in by_detector.items()}
                        if isinstance(loaded, DetectorSet) else {})
    series = list(used_by_detector.values()) or None  # --model any: each detector aggregates a video
    video = video_figures(videos, labels_is_fake, p_fake, threshold, series, rule)
    if isinstance(loaded, DetectorSet):
        detectors = {}
        for name, scores in by_detector.items():
            detectors[name] = _short(labels_is_fake, scores[used], threshold, videos, resamples=bootstrap, rule=rule)
            detectors[name]["methods"] = per_method(labels_is_fake, scores[used], methods, threshold, videos,
                                                    rule=rule)
    return EvalReport(
        model=loaded.describe(),
        data={"root": str(dataset.root), "split": dataset.split, "images": len(used), "df": n_df,
              "real": n_real, "skipped": len(skipped), "subset": dataset.drawn, "extract": dataset.extract},
        threshold=float(threshold),
        **figures,
        video=video,
        calibration=calibration(labels_is_fake, p_fake),
        seconds=round(seconds, 3),
        images_per_second=round(len(used) / seconds, 1) if seconds > 0 else 0.0,  # scored images only
        methods=per_method(labels_is_fake, p_fake, methods, threshold, videos, series, bootstrap, rule),
        detectors=detectors,
        intervals=figure_intervals(labels_is_fake, p_fake, threshold, videos, video, bootstrap, series, rule),
        provenance=provenance(loaded),
        paths=[_relative(path, dataset.root) for path in paths],
        labels_is_fake=labels_is_fake,
        p_fake=p_fake,
        p_fake_by_detector=used_by_detector,
        video_ids=videos,
        image_methods=methods,
        skipped=skipped,
    )


def provenance(loaded: Any) -> dict[str, Any]:
    """The report's ``provenance``: the mesocli version, the runtime that ran the network, the versions of the
    libraries that decide the scores (the runtime's, numpy, Pillow: eval reads face crops, finds no faces and
    decodes no video), the resize of crops not 256×256 (:func:`mesocli.weights.resize_record`: the weights', per
    member where a set's differ) and where it was taken from (``resize_from``, :func:`mesocli.weights.resize_origin`:
    the model card, a checkpoint's run configuration, mesocli's default…) and when the evaluation finished (UTC, ISO
    8601 to the second)."""
    from mesocli import __version__
    from mesocli.provenance import EVAL_PACKAGES, code_digest, library_versions, utc_now
    from mesocli.runtime import runtime_of
    from mesocli.weights import resize_origin

    runtime = runtime_of(loaded)
    return {"mesocli": __version__, "mesocli_code": code_digest(), "runtime": runtime, "resize": resize_record(loaded),
            "resize_from": resize_origin(loaded), "libraries": library_versions(runtime, EVAL_PACKAGES),
            "finished_at": utc_now()}


def _video_key(path: Path, method: str | None, tracks: bool = False) -> str | None:
    """The video a frame belongs to, qualified by its method folder (FF++ reuses ids across methods); with
    ``tracks`` (an ``extract --all-faces`` dataset), its track of that video (:class:`mesocli.metrics.TrackId`)."""
    video = video_id(path)
    key = f"{method}/{video}" if video is not None and method is not None else video
    return track_id(key) if tracks and key is not None else key


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def run_eval(
    data: Path | None, split: str | None = "validation", *, model: str | None = None, arch: str | None = None,
    weights: Path | None = None, runtime: str = "onnx", threshold: float = 0.5, fmt: str = "table",
    plot: Path | None = None, scores: Path | None = None, force: bool = False, quiet: bool = False,
    bootstrap: int = DEFAULT_BOOTSTRAP, limit: int | None = None, seed: int | None = None,
    compare_with: Path | None = None, log: Callable[[str], None] = note, min_track_frames: int | None = None,
) -> EvalReport:
    """``mesocli eval``: check the arguments and the outputs first, evaluate (see
    :func:`mesocli.datasets.open_dataset` for ``data``; with ``limit``, :func:`limit_dataset`'s subset), then write
    per-image ``scores`` (CSV) and the ROC ``plot``. Notes (unless ``quiet``) and skipped files go to ``log``.
    ``compare_with``: a weights file also scored on the same images; the report's ``comparison`` holds the paired
    differences (:func:`compare`). ``min_track_frames``: :func:`check_min_track_frames`."""
    from mesocli import writers
    from mesocli.datasets import open_dataset  # not mesocli.api, which imports scan and extract
    from mesocli.fsutil import check_writable
    from mesocli.runtime import resolve

    check_known("fmt", fmt, writers.REPORT_FORMATS)
    if model is not None and weights is not None:
        raise ParameterError("give {model} or {weights}, not both")
    check_threshold(threshold)
    check_bootstrap(bootstrap)
    check_limit(limit, seed)
    check_min_track_frames(min_track_frames)
    dataset = open_dataset(data, split)
    check_min_track_frames(min_track_frames, dataset)
    writers.refuse_inputs_as_outputs((), (plot, scores), dataset.folders)  # the images being evaluated
    for target in (plot, scores):
        if target is not None and Path(target).is_dir():
            raise UsageError(f"{target} is a folder; give a file name")
        writers.refuse_existing(target, force)
    if plot is not None:
        writers.check_plot_format(plot)
    if plot is not None and scores is not None and plot.resolve() == scores.resolve():
        raise ParameterError("{plot} and {scores} name the same file")
    for target in (scores, plot):
        if target is not None:
            check_writable(target)  # before the evaluation, not after it
    say = (lambda text: None) if quiet else log
    whole_split = dataset
    counts = dataset.counts
    say(f"data: {dataset.root} split={dataset.split or '(none)'}: df {counts['df']}, real {counts['real']} "
         f"({len(dataset.paths)} images)")
    if dataset.manifest_note:  # an unreadable manifest: --all-faces tracks cannot be told from videos
        say(dataset.manifest_note)
    whole = len(dataset.paths)
    dataset = limit_dataset(dataset, limit, seed)
    if dataset.drawn is not None:
        counts = dataset.counts
        say(f"subset: {subset_note(dataset.drawn)}: df {counts['df']}, real {counts['real']}, whole videos per class "
            "and method folder")
    elif limit is not None:
        say(f"--limit {limit} is not under the split's {whole} images: evaluating the whole split")
    loaded = resolve(arch, model or "df", weights, runtime)
    other = resolve(None, "df", compare_with, runtime) if compare_with is not None else None
    say(f"model: {writers.model_label(loaded.describe(), loaded.legacy)}")
    for scored, option in ((loaded, ""), (other, "--compare")):
        warning = trained_on(scored, whole_split, option) if scored is not None else None
        if warning:  # even with --quiet: the figures are not what they seem
            log(f"mesocli: {warning}")
    if other is not None:
        say(f"compared with: {writers.model_label(other.describe(), other.legacy)}")
    report = evaluate(loaded, dataset, threshold, progress=not quiet and sys.stderr.isatty(),  # no bar in logs
                      bootstrap=bootstrap, compare_with=other, min_track_frames=min_track_frames)
    for line in report.skipped[:10]:
        log(f"mesocli: skipped {line}")
    if len(report.skipped) > 10:
        log(f"mesocli: … and {len(report.skipped) - 10} more files skipped")
    loose = [path for path, video in zip(report.paths, report.video_ids, strict=True) if not video]
    if report.video is None and len(loose) < len(report.paths):  # some frames name their video, not all
        say(f"no video figures: {len(loose)} of {len(report.paths)} images have no video id (not named "
            f"<video>_<frame>), e.g. {loose[0]}")
    if scores is not None:
        writers.write_scores(report, scores, replace=force)
        say(f"scores: {scores}")
    if plot is not None:
        try:
            writers.plot_roc(report, plot, replace=force)
        except OutputError:
            raise
        except Exception as exc:  # matplotlib failing after the scoring: one line, not a traceback
            reason = next(iter(str(exc).splitlines()), "") or type(exc).__name__
            raise OutputError(f"cannot write {plot}: {reason}") from exc
        say(f"ROC plot: {plot}")
    return report
