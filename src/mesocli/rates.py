"""Error rates a reader weighs a verdict by: counted per face and per video over thresholds, put in words and numbers.

A model card's ``metrics.ffpp_test.error_rates`` (:func:`measure`, written by ``scripts/card_error_rates.py`` and
``scripts/bundle_weights.py``) holds, at each threshold of :data:`THRESHOLDS`, how many real faces and real videos
were called fake and how many forged ones of each method were missed, per face and per video by each video rule
of ``scan`` (``mean``, ``vote``: :func:`mesocli.metrics.video_calls`, as ``scan --aggregate`` decides).
:func:`in_words` states them for a scan at its threshold (the nearest measured one, saying so) and by its rule;
:func:`for_scan` gives them as numbers, each scan row's ``error_rates``.

A card may also hold ``metrics.ffpp_test_clips`` (:data:`CLIPS_KEY`, written by ``scripts/card_scan_clips.py``): each
test clip's per-face scores as ``mesocli scan`` itself took them (its default sampling and face detector, recorded
with them). Where every network of a scan has one, :func:`for_scan` counts from them, at the scan's exact threshold
and by its rule (``confident`` too), each detector's errors and those of the combined verdict of ``--model any``
(fake when any detector says fake) and ``--arch ensemble`` (the mean of its networks' p_fake), cautioning only where
the scan's sampling or face detector is not the recorded one. Cards without it are read as before.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from mesocli.aggregate import threshold_shown
from mesocli.metrics import called_fake, video_calls, wilson_interval

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
VIDEO_RULES = ("mean", "vote")  # the scan rules measured per video (not ``confident``)
RULE_WORDS = {"mean": "mean: the mean of the frame scores", "vote": "vote: the share of frames called fake",
              "confident": "confident: the mean of the frames scored surely fake or real, where enough are"}
KEY = "error_rates"  # of metrics.ffpp_test, and of metrics.validation (the MesoNet validation split)
VALIDATION = "validation"  # of metrics: the MesoNet validation split's figures
CLIPS_KEY = "ffpp_test_clips"  # of metrics: each test clip's scores as a default scan took them


TRACKS_CAUTION = ("measured on the largest face of each frame as one series, not by face tracks as this --all-faces "
                  "scan decides")
"""Said of rates read for an --all-faces scan: the cards' faces and clips are one series each, its verdicts by track."""


def _errors(is_fake: bool, p_fake: np.ndarray, videos: list[str | None], threshold: float) -> dict[str, Any]:
    """The errors of one class (or one method's forgeries) at ``threshold``: faces, and videos by each rule."""
    wrong = called_fake(p_fake, threshold) != is_fake
    counts: dict[str, Any] = {"face": int(wrong.sum())}
    calls = video_calls(videos, np.full(len(p_fake), is_fake), p_fake, threshold)
    for rule in VIDEO_RULES:
        counts[f"video_{rule}"] = None if calls is None else int((calls[1][rule] != is_fake).sum())
    counts["videos"] = None if calls is None else len(calls[0])
    return counts


def measure(labels_is_fake: Any, p_fake: Any, methods: Sequence[str | None], video_ids: Sequence[str | None],
            thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    """The error counts of an evaluation (an :class:`mesocli.evaluate.EvalReport`'s per-face arrays) at each of
    ``thresholds``: ``real_called_fake`` (the real faces, and videos, called fake) and ``missed`` per method of the
    forgeries (a forgery outside a method folder: ``(no method)``), each with its ``faces`` and ``videos`` (None
    where file names carry no video id) and one count per threshold for ``face``, ``video_mean``, ``video_vote``."""
    from mesocli.evaluate import NO_METHOD

    y = np.asarray(labels_is_fake, dtype=bool)
    p = np.asarray(p_fake, dtype=np.float64)
    named = np.asarray([m if m is not None else NO_METHOD for m in methods], dtype=object)
    groups = {None: ~y, **{str(m): y & (named == m) for m in sorted(set(named[y].tolist()))}}
    table: dict[str, Any] = {"thresholds": [float(t) for t in thresholds], "real_called_fake": {}, "missed": {}}
    for method, keep in groups.items():
        videos = [v for v, k in zip(video_ids, keep, strict=True) if k]
        rows = [_errors(method is not None, p[keep], videos, float(t)) for t in thresholds]
        entry: dict[str, Any] = {"faces": int(keep.sum()), "videos": rows[0]["videos"] if rows else None}
        for what in ("face", *(f"video_{rule}" for rule in VIDEO_RULES)):
            entry[what] = None if entry["videos"] is None and what != "face" else [row[what] for row in rows]
        if method is None:
            table["real_called_fake"] = entry
        else:
            table["missed"][method] = entry
    return table


def check(metrics: dict[str, Any]) -> None:
    """Raise ValueError (saying where) when ``metrics`` holds an ``ffpp_test.error_rates`` or a
    ``validation.error_rates`` that is not a table of :func:`measure` (one cut short by hand or by another version),
    which :func:`in_words` could not state; a card without one passes."""
    if isinstance(metrics, dict) and metrics.get(CLIPS_KEY) is not None:
        check_clips(metrics[CLIPS_KEY])
    for section in ("ffpp_test", VALIDATION):
        figures = metrics.get(section) if isinstance(metrics, dict) else None
        if isinstance(figures, dict) and figures.get(KEY) is not None:
            check_table(figures[KEY], f"metrics.{section}.{KEY}")


def check_table(table: Any, where: str) -> None:
    """Raise ValueError (saying ``where``) when ``table`` is not one :func:`measure` makes."""
    if not isinstance(table, dict):
        raise ValueError(f"{where}: not an object")
    thresholds = table.get("thresholds")
    if (not isinstance(thresholds, list) or not thresholds
            or not all(isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds)):
        raise ValueError(f"{where}: thresholds: not numbers from 0 to 1")
    if not isinstance(table.get("missed"), dict) or not table["missed"]:
        raise ValueError(f"{where}: no missed (the forged faces missed, per method)")
    entries = {"real_called_fake": table.get("real_called_fake"),
               **{f"missed.{name}": entry for name, entry in table["missed"].items()}}

    def counts(value: Any, name: str, most: int) -> None:
        if not isinstance(value, list) or len(value) != len(thresholds):
            raise ValueError(f"{where}: {name}: {len(value) if isinstance(value, list) else 'no'} counts for "
                             f"{len(thresholds)} thresholds")
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= most for v in value):
            raise ValueError(f"{where}: {name}: not counts from 0 to {most}")

    for name, entry in entries.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: {name}: not an object")
        faces, videos = entry.get("faces"), entry.get("videos")
        if not isinstance(faces, int) or isinstance(faces, bool) or faces < 1:
            raise ValueError(f"{where}: {name}.faces: {faces} (a count of at least 1)")
        counts(entry.get("face"), f"{name}.face", faces)
        if videos is None:
            continue
        if not isinstance(videos, int) or isinstance(videos, bool) or videos < 1:
            raise ValueError(f"{where}: {name}.videos: {videos} (a count of at least 1, or null)")
        for rule in VIDEO_RULES:
            if entry.get(f"video_{rule}") is None:
                raise ValueError(f"{where}: {name}.video_{rule}: none, though it counts {videos} videos")
            counts(entry[f"video_{rule}"], f"{name}.video_{rule}", videos)


def table_of(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """A card's table of error counts (``metrics.ffpp_test.error_rates``), or None when it has none (an older card)."""
    ffpp = metrics.get("ffpp_test")
    table = ffpp.get(KEY) if isinstance(ffpp, dict) else None
    if isinstance(table, dict) and table.get("thresholds") and isinstance(table.get("real_called_fake"), dict):
        return table
    return None


def nearest(table: dict[str, Any], threshold: float) -> int:
    """The index of the measured threshold nearest ``threshold`` (the lower one of two as near)."""
    measured = [float(t) for t in table["thresholds"]]
    return min(range(len(measured)), key=lambda i: (round(abs(measured[i] - threshold), 9), measured[i]))


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %"


LEVEL = 0.95  # of the interval given with each share


def share_interval(count: int, total: int) -> list[float] | None:
    """The 95 % Wilson score interval of the share ``count`` of ``total`` (:func:`mesocli.metrics.wilson_interval`,
    as ``eval`` gives its intervals), to four decimals rounded outward; None where ``total`` is 0."""
    if not total:
        return None
    low, high = wilson_interval(count, total, LEVEL)
    return [math.floor(low * 1e4 + 1e-9) / 1e4, math.ceil(high * 1e4 - 1e-9) / 1e4]


FACE_INTERVALS = ("the 95 % intervals per face take each face as an independent draw, which the faces of one clip, "
                  "sharing a person, a scene and a forgery, are not: they are too narrow; weigh a video's verdict by "
                  "the per-clip ones")
"""Said once wherever per-face intervals are printed (the table's closing lines, the report's header)."""


def interval_words(count: int, total: int) -> str:
    """The 95 % interval of ``count`` of ``total`` in words (:func:`share_interval`): ``0–25 %`` (whole percentages,
    rounded outward), ``0.4–3.7 %`` where it is narrower than 10 points (one decimal)."""
    interval = share_interval(count, total)
    if interval is None:
        return "none measured"
    scale = 10 if interval[1] - interval[0] < 0.1 else 1
    low, high = (rounding(round(100 * end * scale, 6)) / scale
                 for rounding, end in ((math.floor, interval[0]), (math.ceil, interval[1])))
    places = 1 if scale == 10 else 0
    return f"{low:.{places}f}–{high:.{places}f} %"


def _rate(count: int, total: int) -> str:
    """``1.4 % (95 % interval 0.6–3.7 %)``."""
    return f"{_percent(count / total)} (95 % interval {interval_words(count, total)})"


def _counted(count: int, total: int) -> str:
    """``0 of 12 (0.0 %, 95 % interval 0–25 %)``."""
    return (f"{count} of {total} ({_percent(count / total)}, 95 % interval {interval_words(count, total)})" if total
            else "none measured")


TRACKS_WORDS = (", measured on the largest face of each frame as one series, not by face tracks as this --all-faces "
                "scan decides (its video is fake when its most-fake track is, which these do not measure where a video "
                "shows several faces)")


def _video_words(table: dict[str, Any], at: int, rule: str, frames: Any, tracks: bool = False) -> str:
    """Per video by ``rule`` at the ``at``-th threshold, or why there are none; ``tracks``: for a scan that called
    videos by their face tracks (``--all-faces``), which the table did not measure (it says so)."""
    real = table["real_called_fake"]
    if rule not in VIDEO_RULES:
        return (f"per video by this scan's rule ({rule}): not measured (the model card measured the "
                f"{' and '.join(VIDEO_RULES)} rules only)")
    if real.get(f"video_{rule}") is None:
        return f"per video by this scan's rule ({rule}): not measured (the test faces name no video)"
    each = f", {frames} frames each" if frames else ""
    missed = ", ".join(f"{name} {_counted(entry[f'video_{rule}'][at], entry['videos'])}"
                       for name, entry in table["missed"].items() if entry.get(f"video_{rule}") is not None)
    return (f"per video by this scan's rule ({RULE_WORDS[rule]}) at threshold {table['thresholds'][at]:g}"
            f"{TRACKS_WORDS if tracks else ''}: "
            f"FaceForensics++ c23 test ({real['videos'] + sum(e['videos'] or 0 for e in table['missed'].values())} "
            f"clips{each}): real videos called fake {_counted(real[f'video_{rule}'][at], real['videos'])}, forged "
            f"videos missed: {missed}")


def in_words(metrics: dict[str, Any], table: dict[str, Any], threshold: float, rule: str,
             validation: str | None, tracks: bool = False) -> str:
    """The error rates of a card with a table for a scan that called faces fake from ``threshold`` by ``rule``: per
    video by that rule, then per face, at the measured threshold nearest ``threshold`` (a caution first where it is
    another one). ``validation``: the card's MesoNet validation figures in words, measured at one threshold only.
    ``tracks``: the scan called videos by their face tracks (``--all-faces``), which the table did not measure."""
    at = nearest(table, threshold)
    measured = float(table["thresholds"][at])
    ffpp = metrics.get("ffpp_test") or {}
    real = table["real_called_fake"]
    face = (f"per face at threshold {measured:g}: FaceForensics++ c23 test "
            f"({real['faces'] + sum(e['faces'] for e in table['missed'].values())} faces): "
            f"{_rate(real['face'][at], real['faces'])} of real faces called fake, forged faces missed: "
            + ", ".join(f"{name} {_rate(entry['face'][at], entry['faces'])}"
                        for name, entry in table["missed"].items()))
    parts = [_video_words(table, at, rule, ffpp.get("frames_per_clip"), tracks), face]
    if validation:
        parts.append(validation)
    text = "; ".join(parts)
    if abs(measured - threshold) < 1e-9:
        return text
    more, fewer = (("fewer", "more") if threshold > measured else ("more", "fewer"))
    listed = ", ".join(threshold_shown(t) for t in table["thresholds"])
    given = threshold_shown(threshold)
    return (f"CAUTION, NOT AT THIS SCAN'S THRESHOLD: this scan called faces fake from {given}; the model card "
            f"measured its rates at {listed}, and these are those at {threshold_shown(measured)}, the nearest: at "
            f"{given} as many or {more} real faces and videos are called fake, and as many or {fewer} forged ones "
            f"missed, than these say. {text}")


def _differs_words(measured: float, threshold: float) -> str:
    """How the rates at ``measured`` differ from those at a scan's ``threshold`` (another one), in words."""
    more, fewer = (("fewer", "more") if threshold > measured else ("more", "fewer"))
    given = threshold_shown(threshold)
    return (f"not at this scan's threshold: measured at {threshold_shown(measured)}, the nearest to {given}; at "
            f"{given} as many or {more} real ones are called fake and as many or {fewer} forged ones missed")


def validation_words(metrics: dict[str, Any], threshold: float) -> str | None:
    """A card's MesoNet validation errors per face in words, for a scan at ``threshold``: from its table
    (``metrics.validation.error_rates``) at the measured threshold nearest ``threshold``, with a caution where it is
    another one; None where the card holds no such table (an earlier version's)."""
    from mesocli.evaluate import NO_METHOD

    figures = metrics.get(VALIDATION) if isinstance(metrics, dict) else None
    table = figures.get(KEY) if isinstance(figures, dict) else None
    if not isinstance(table, dict) or not table.get("thresholds") or not isinstance(table.get("missed"), dict):
        return None
    at = nearest(table, threshold)
    measured = float(table["thresholds"][at])
    real, missed = table["real_called_fake"], table["missed"]
    total = real["faces"] + sum(entry["faces"] for entry in missed.values())
    if list(missed) == [NO_METHOD]:  # the split has no method folders
        forged = f"{_rate(missed[NO_METHOD]['face'][at], missed[NO_METHOD]['faces'])} of forged faces missed"
    else:
        forged = "forged faces missed: " + ", ".join(f"{name} {_rate(entry['face'][at], entry['faces'])}"
                                                      for name, entry in missed.items())
    caution = "" if abs(measured - threshold) < 1e-9 else f" (CAUTION: {_differs_words(measured, threshold)})"
    return (f"per face at threshold {threshold_shown(measured)}{caution}: MesoNet validation ({total} faces): "
            f"{_rate(real['face'][at], real['faces'])} of real faces called fake, {forged}")


# ------------------------------------------------------------------------------ as numbers (scan's JSON rows)

MEASURED_ON = "FaceForensics++ c23 test"  # what a card's table was counted on (metrics.ffpp_test)


def _share(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "total": total, "share": round(count / total, 4) if total else None,
            "share_interval": share_interval(count, total)}


def _counted_at(table: dict[str, Any], at: int, what: str) -> dict[str, Any] | None:
    """``real_called_fake`` and ``missed`` per method at the ``at``-th threshold, ``what`` counted (``face``,
    ``video_mean``, ``video_vote``): None when the table has no such counts (the test faces name no video)."""
    real = table["real_called_fake"]
    if real.get(what) is None:
        return None
    size = "faces" if what == "face" else "videos"
    return {"real_called_fake": _share(real[what][at], real[size]),
            "missed": {name: _share(entry[what][at], entry[size]) for name, entry in table["missed"].items()
                       if entry.get(what) is not None}}


SAMPLING_WORDS = {"frames": "{value:g} frames a video", "fps": "{value:g} frames a second",
                  "every": "one frame in {value:g}"}


def sampling_words(mode: str, value: float | None) -> str:
    """A frame sampling (mode, value) in words: ``30 frames a video``, ``one frame in 3``; ``every frame`` for
    ``--all-frames`` and ``--every 1`` (it read "one frame in 1")."""
    if mode not in SAMPLING_WORDS or not value or (mode == "every" and float(value) == 1):
        return "every frame"
    return SAMPLING_WORDS[mode].format(value=float(value))


def sampling_caution(frames_per_clip: Any, sampling: tuple[str, float | None] | None,
                     sampled: int | None = None) -> str | None:
    """The caution for a video scan whose frame ``sampling`` (mode, value) is not the card's: its clips were
    ``frames_per_clip`` evenly spaced frames each (``extract --frames``), as ``scan --frames`` picks them; None
    where it is that sampling, or not known (an image; a card that does not say). ``sampled``: how many frames the
    scan took of one video: a ``--frames N`` scan takes fewer of a video shorter than N, and one frame a second of a
    video whose length is not known (said so where it is not N)."""
    if sampling is None or not isinstance(frames_per_clip, int) or isinstance(frames_per_clip, bool):
        return None
    mode, value = sampling
    other = mode == "frames" and value is not None and sampled is not None and sampled != value
    if mode == "frames" and value is not None and float(value) == frames_per_clip and not other:
        return None
    scanned = (f"{sampled} frames of this video, not the {value:g} asked" if other else
               sampling_words(mode, value))
    return (f"measured at another sampling: {frames_per_clip} frames a clip, this scan sampled {scanned}; "
            "its per-video rates may differ")


def _items(rates: dict[str, Any]) -> list[dict[str, Any]]:
    """Each detector's rates of a row's ``error_rates``, and each ensemble's and the combined verdict's where they are
    counted."""
    combined = rates.get("combined")
    return [*rates["detectors"].values(),
            *(item for item in (rates.get("ensembles") or {}).values() if "cautions" in item),
            *([combined] if combined and "cautions" in combined else [])]


def for_video(rates: dict[str, Any], sampling: tuple[str, float | None], sampled: int) -> dict[str, Any]:
    """A video row's ``error_rates`` (:func:`for_scan`'s, made once per scan) for a video of which a ``--frames N``
    scan took ``sampled`` frames, not N (a shorter video; one of unknown length, sampled once a second): each
    detector's sampling caution and ``sampling_differs`` say so; as they are otherwise."""
    mode, value = sampling
    if mode != "frames" or value is None or sampled == value:
        return rates
    rates = copy.deepcopy(rates)
    for item in _items(rates):
        frames = item["frames_per_clip"]
        if item["videos"] is None or frames is None:
            continue
        run = sampling_caution(frames, sampling)  # the run's, last of the cautions (record)
        item["cautions"] = [caution for caution in item["cautions"] if caution != run]
        item["cautions"].append(sampling_caution(frames, sampling, sampled))
        item["sampling_differs"] = True
    return rates


def for_image(rates: dict[str, Any], faces: int) -> dict[str, Any]:
    """An image row's ``error_rates`` (:func:`for_scan`'s) for an ``--all-faces`` scan that scored ``faces`` faces
    in it: with more than one, the image is called fake when any of them is, which per-face rates understate (a
    caution says so); as they are otherwise."""
    if faces < 2:
        return rates
    rates = copy.deepcopy(rates)
    for item in _items(rates):
        if item["faces"] is not None:
            item["cautions"].append(f"measured per face: this --all-faces scan calls an image fake when any of its "
                                    f"{faces} faces is, so a real one more often than one real face is")
    return rates


def record(metrics: dict[str, Any], threshold: float, rule: str | None, sampling: tuple[str, float | None] | None,
           tracks: bool = False) -> dict[str, Any] | None:
    """The error rates of a card's table (:func:`table_of`; None when it has none) as numbers, for one scan row:
    at the measured threshold nearest ``threshold`` (``threshold_differs`` where it is another), per video by
    ``rule`` (None: an image's row, per face only) and per face, each as count, total and share of the real ones
    called fake and of each method's forged ones missed, with ``cautions`` in words (another threshold, another
    frame ``sampling``, ``tracks``: an ``--all-faces`` scan's videos called by face tracks) and ``reason`` for a
    ``videos`` that is None."""
    table = table_of(metrics)
    if table is None:
        return None
    at = nearest(table, threshold)
    measured = float(table["thresholds"][at])
    frames = (metrics.get("ffpp_test") or {}).get("frames_per_clip")
    videos, reason, cautions = None, None, []
    if abs(measured - threshold) >= 1e-9:
        more, fewer = (("fewer", "more") if threshold > measured else ("more", "fewer"))
        given = threshold_shown(threshold)
        cautions.append(f"not at this scan's threshold: measured at {threshold_shown(measured)}, the nearest to "
                        f"{given}; at {given} as many or {more} real ones are called fake and as many or {fewer} "
                        "forged ones missed")
    if rule is None:
        reason = "an image: its verdict is one face's, weighed by the per-face rates"
    elif rule not in VIDEO_RULES:
        reason = (f"not measured by this scan's rule ({rule}): the model card measured the "
                  f"{' and '.join(VIDEO_RULES)} rules")
    else:
        videos = _counted_at(table, at, f"video_{rule}")
        if videos is None:
            reason = "not measured: the test faces name no video"
        else:
            if tracks:
                cautions.append(TRACKS_CAUTION)
            if (caution := sampling_caution(frames, sampling)) is not None:
                cautions.append(caution)
    return {"measured_on": MEASURED_ON, "threshold": measured, "threshold_differs": abs(measured - threshold) >= 1e-9,
            "rule": rule, "frames_per_clip": frames if isinstance(frames, int) else None,
            "sampling_differs": None if videos is None or not isinstance(frames, int) else
            sampling_caution(frames, sampling) is not None, "face_detector": None, "detector_differs": None,
            "videos": videos, "faces": _counted_at(table, at, "face"), "cautions": cautions, "reason": reason}


def unknown(reason: str, rule: str | None) -> dict[str, Any]:
    """The rates of a detector whose card holds no table (or that has no card), as :func:`record` shapes them: None,
    and the ``reason``."""
    return {"measured_on": None, "threshold": None, "threshold_differs": None, "rule": rule, "frames_per_clip": None,
            "sampling_differs": None, "face_detector": None, "detector_differs": None, "videos": None, "faces": None,
            "cautions": [], "reason": reason}


NO_TABLE = ("its model card holds no table of error counts per threshold (a card of an earlier version, or a train "
            "run's); a --report states the per-face rates it has, at its own threshold")
HELDOUT_ONLY = ("its model card holds only its training run's held-out figures, on faces that chose its best epoch; "
                "measure them on labelled data it never saw with mesocli eval")
NO_CARD = "these weights have no model card with figures; measure them on labelled data with mesocli eval"
COMBINED = {
    "any": ("not tabulated: a face, and a video by this scan's rule, is called fake when any one detector calls it so; "
            "each detector's rates are under detectors, but the cards hold error counts, not which clips each erred "
            "on, so the combination's cannot be computed from them: real ones are called fake at least as often as by "
            "the detector that does so most; measure it on labelled data with mesocli eval --model any"),
    "ensemble": ("not tabulated: its p_fake is the mean of its networks' (their rates are under detectors), which "
                 "their error counts do not give; measure it on labelled data with mesocli eval --arch ensemble"),
}


def networks(loaded: Any) -> list[Any]:
    """The single networks behind a loaded model (a detector set's detectors, an ensemble's networks), in order."""
    members = getattr(loaded, "members", None)
    return [leaf for member in members.values() for leaf in networks(member)] if members else [loaded]


def for_scan(loaded: Any, threshold: float, rule: str | None, sampling: tuple[str, float | None] | None,
             tracks: bool = False, detector: str | None = None) -> dict[str, Any]:
    """A scan row's ``error_rates``: ``detectors``, each network's rates by name, ``ensembles`` (below) and
    ``combined``: None where the verdict is one network's, else the ``--model any`` or ``--arch ensemble`` verdict's
    own.

    A network whose card holds the test clips' scan scores (:data:`CLIPS_KEY`) is counted from them at the exact
    ``threshold`` and by ``rule`` (:func:`clips_record`, cautioned where the scan's ``sampling`` or face
    ``detector`` is not the recorded one); else from its table (:func:`record`, the nearest tabulated threshold), an
    ``.onnx`` export given as it is: those of the weights it was exported from, saying so; :func:`unknown` with why
    where its card holds neither. The combined verdict is counted where every network has clips scanned alike;
    else ``combined`` gives the reason it is not. ``ensembles``: with ``--model any --arch ensemble``, each
    manipulation's ensemble's own (its verdicts are what the row's per-detector ones are), by manipulation, with its
    ``networks`` named; None otherwise."""
    from mesocli.detectors import DetectorSet, Ensemble

    detectors: dict[str, Any] = {}
    memo: dict[int, Any] = {}  # each network's calls, made once for its own rates and the combined verdict's
    for leaf in networks(loaded):
        card, source = getattr(leaf, "card", None), getattr(leaf, "source_card", None)
        made = None
        for which in (card, source):
            if which is None or made is not None:
                continue
            section = clips_of(which.metrics)
            calls = _calls(leaf, threshold, rule, memo) if section is not None else None
            made = (clips_record(section, calls, threshold, rule, sampling, detector, tracks)
                    if section is not None and calls is not None else
                    record(which.metrics, threshold, rule, sampling, tracks))
            if made is not None and which is source:
                made["cautions"].insert(0, f"{EXPORTED} {source.name} (sha256 "
                                           f"{source.sha256[:12]}), as their model card gives them")
        if made is None:
            stated = any(c is not None and c.error_rates() is not None for c in (card, source))  # at one threshold
            made = unknown(NO_TABLE if stated else HELDOUT_ONLY if card is not None and card.metrics.get("heldout")
                           else NO_CARD, rule)
        detectors[leaf.name] = made
    def counted(node: Any, kind: str) -> dict[str, Any]:  # a combined verdict's: where its networks' clips allow
        sections = [_section(leaf) for leaf in networks(node)]
        calls = _calls(node, threshold, rule, memo) if all(s is not None for s in sections) else None
        if calls is not None and _alike(sections):  # type: ignore[arg-type]
            return clips_record(sections[0], calls, threshold, rule, sampling, detector,  # type: ignore[arg-type]
                                tracks)
        reason = COMBINED_OTHERWISE if all(s is not None for s in sections) else COMBINED[kind]
        return {"videos": None, "faces": None, "reason": reason}

    ensembles = None
    if isinstance(loaded, DetectorSet) and any(isinstance(m, Ensemble) for m in loaded.members.values()):
        ensembles = {name: {"networks": [leaf.name for leaf in networks(member)], **counted(member, "ensemble")}
                     for name, member in loaded.members.items() if isinstance(member, Ensemble)}
    combined = None
    if isinstance(loaded, DetectorSet | Ensemble):
        combined = counted(loaded, "any" if isinstance(loaded, DetectorSet) else "ensemble")
    return {"detectors": detectors, "ensembles": ensembles, "combined": combined}


# ----------------------------------------------------- counted from each test clip's scores, as a scan took them

SAMPLING_MODES = ("frames", "fps", "every", "all")
EXPORTED = "those of the weights it was exported from,"  # the caution of an .onnx export given as it is
COMBINED_OTHERWISE = ("not counted: its networks' test clips were not all scanned alike (other clips, sampling or "
                      "face detector in their model cards), so which clips they err on together is not known; "
                      "measure it on labelled data with mesocli eval")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_clips(section: Any) -> None:
    """Raise ValueError (saying where) when a card's ``metrics.ffpp_test_clips`` is not one
    ``scripts/card_scan_clips.py`` writes: a scan's sampling and face detector, and clips of named scores."""
    where = f"metrics.{CLIPS_KEY}"
    if not isinstance(section, dict):
        raise ValueError(f"{where}: not an object")
    sampling = section.get("sampling")
    if (not isinstance(sampling, dict) or sampling.get("mode") not in SAMPLING_MODES
            or not (sampling.get("value") is None or (_number(sampling["value"]) and sampling["value"] > 0))):
        raise ValueError(f"{where}.sampling: not a scan's sampling ({{mode, value}})")
    if not isinstance(section.get("detector"), str):
        raise ValueError(f"{where}.detector: not a face detector's name")
    clips = section.get("clips")
    if not isinstance(clips, list) or not clips:
        raise ValueError(f"{where}.clips: no clips")
    names: set[str] = set()
    for number, clip in enumerate(clips):
        at = f"{where}.clips[{number}]"
        if not isinstance(clip, dict) or not isinstance(clip.get("clip"), str) or clip["clip"] in names:
            raise ValueError(f"{at}: not a clip with a name of its own")
        names.add(clip["clip"])
        at = f"{at} ({clip['clip']})"
        if not isinstance(clip.get("fake"), bool) or (clip["fake"] and not isinstance(clip.get("method"), str)):
            raise ValueError(f"{at}: fake: not true or false, or a forgery without a method")
        scores = clip.get("p_fake")
        if not isinstance(scores, list) or not scores or not all(_number(v) and 0 <= v <= 1 for v in scores):
            raise ValueError(f"{at}: p_fake: not scores from 0 to 1")
        if clip.get("faces") != len(scores):
            raise ValueError(f"{at}: faces: {clip.get('faces')}, for {len(scores)} scores")
    for fake, kind in ((False, "real"), (True, "forged")):  # as a table of counts needs both (check)
        if not any(clip["fake"] is fake for clip in clips):
            raise ValueError(f"{where}.clips: no {kind} clip (the {kind} ones' errors could not be counted)")


def clips_of(metrics: Any) -> dict[str, Any] | None:
    """A card's per-clip scan scores (``metrics.ffpp_test_clips``), or None when it has none (an older card)."""
    section = metrics.get(CLIPS_KEY) if isinstance(metrics, dict) else None
    return section if isinstance(section, dict) and section.get("clips") else None


def _section(leaf: Any) -> dict[str, Any] | None:
    """A network's per-clip section: its own card's, else (an ``.onnx`` export) that of the weights it came from."""
    for card in (getattr(leaf, "card", None), getattr(leaf, "source_card", None)):
        if card is not None and (section := clips_of(card.metrics)) is not None:
            return section
    return None


def _faces_fake(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Each face called fake (:func:`mesocli.aggregate.is_fake`: a score that reads as the threshold is fake)."""
    return (scores >= threshold) | (np.round(scores, 6) >= threshold)


class Scores(NamedTuple):
    """Each clip's per-face p_fake, as one array: ``names`` of the clips, ``flat`` their faces' scores one clip after
    another, ``starts`` where each clip's begin in it."""

    names: tuple[str, ...]
    flat: np.ndarray
    starts: np.ndarray


class Calls(NamedTuple):
    """Each clip's verdict (``clips``, None for per face only) and each face's (``faces``, as :class:`Scores`)."""

    names: tuple[str, ...]
    clips: np.ndarray | None
    faces: np.ndarray
    starts: np.ndarray


def _alike_faces(each: list[Any]) -> bool:
    """Whether the :class:`Scores` or :class:`Calls` of several networks are of the same clips and faces."""
    return all(e.names == each[0].names and np.array_equal(e.starts, each[0].starts) and len(e.faces if
               isinstance(e, Calls) else e.flat) == len(each[0].faces if isinstance(e, Calls) else each[0].flat)
               for e in each)


def _scores(node: Any) -> Scores | None:
    """A network's per-face p_fake of each clip (its card's section), or an ensemble's (the mean of its networks',
    face by face, as ``scan`` scores it); None where one has no section or they were not scanned alike."""
    members = getattr(node, "members", None)
    if not members:
        section = _section(node)
        return None if section is None else _arrays(section)[0]
    each = [_scores(member) for member in members.values()]
    if any(e is None for e in each) or not _alike_faces(each):
        return None
    return Scores(each[0].names, np.mean([e.flat for e in each], axis=0), each[0].starts)  # type: ignore[union-attr]


def _calls(node: Any, threshold: float, rule: str | None, memo: dict[int, Any] | None = None) -> Calls | None:
    """Each clip's verdict by ``rule`` (None for per face only) at ``threshold``, and each face's, as ``scan``
    decides them: a network's or an ensemble's from its scores (a clip's by :mod:`mesocli.aggregate`'s rule), a
    ``--model any`` set's fake when any detector's is (a clip: any detector's own verdict on it by the rule). None
    where a member has no section. ``memo``: the calls already made of each node (by id), at this threshold and
    rule."""
    from mesocli.aggregate import aggregate
    from mesocli.detectors import DetectorSet

    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    made: Calls | None = None
    if isinstance(node, DetectorSet):
        each = [_calls(member, threshold, rule, memo) for member in node.members.values()]
        if all(e is not None for e in each) and _alike_faces(each):
            made = Calls(each[0].names, None if rule is None else np.logical_or.reduce([e.clips for e in each]),
                         np.logical_or.reduce([e.faces for e in each]), each[0].starts)  # type: ignore[union-attr]
    elif (scores := _scores(node)) is not None:
        faces = _faces_fake(scores.flat, threshold)
        sizes = np.diff(np.append(scores.starts, len(scores.flat)))
        if rule is None:
            clips = None
        elif rule == "mean":  # the mean of the scores, as aggregate.mean (to the 6 decimals verdicts are read at)
            clips = _faces_fake(np.add.reduceat(scores.flat, scores.starts) / sizes, threshold)
        elif rule == "vote":  # the share of faces called fake, as aggregate.vote
            clips = _faces_fake(np.add.reduceat(faces.astype(np.float64), scores.starts) / sizes, threshold)
        else:
            clips = _faces_fake(np.array([aggregate(part.tolist(), rule, threshold) for part in
                                          np.split(scores.flat, scores.starts[1:])]), threshold)
        made = Calls(scores.names, clips, faces, scores.starts)
    memo[id(node)] = made
    return made


class Labels(NamedTuple):
    """A section's labels, clip by clip and face by face: ``fake``, and ``group`` (0: real, i: the i-th of
    ``methods``, sorted)."""

    methods: tuple[str, ...]
    clip_fake: np.ndarray
    clip_group: np.ndarray
    face_fake: np.ndarray
    face_group: np.ndarray


_ARRAYS: dict[int, tuple[dict[str, Any], Scores, Labels]] = {}  # by id of a card's section, which it holds alive
_ARRAYS_HELD = 12  # the sections last made into arrays (two --model any --arch ensemble sets'): a process that loads
# its models anew for each scan (mesocli.scan(..., model="any")) reads new cards each time, which are not all kept


def _arrays(section: dict[str, Any]) -> tuple[Scores, Labels]:
    """A section's scores and labels as arrays, made once per section (a scan counts them for each row kind)."""
    held = _ARRAYS.get(id(section))
    if held is not None and held[0] is section:
        return held[1], held[2]
    clips = section["clips"]
    sizes = [len(clip["p_fake"]) for clip in clips]
    scores = Scores(tuple(clip["clip"] for clip in clips),
                    np.fromiter((v for clip in clips for v in clip["p_fake"]), np.float64, sum(sizes)),
                    np.cumsum([0, *sizes[:-1]]))
    methods = tuple(sorted({str(clip["method"]) for clip in clips if clip["fake"]}))
    fake = np.array([bool(clip["fake"]) for clip in clips])
    group = np.array([methods.index(str(clip["method"])) + 1 if clip["fake"] else 0 for clip in clips])
    labels = Labels(methods, fake, group, np.repeat(fake, sizes), np.repeat(group, sizes))
    _ARRAYS.pop(id(section), None)
    _ARRAYS[id(section)] = (section, scores, labels)
    for made_before in list(_ARRAYS)[:-_ARRAYS_HELD]:  # those made longest ago go (made again, in about 1 ms, if asked)
        _ARRAYS.pop(made_before, None)
    return scores, labels


def _count_calls(section: dict[str, Any], calls: Calls) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The errors of ``calls`` on the section's clips, per clip (None without clip verdicts) and per face: the
    real ones called fake and the forged ones missed per method, each as :func:`_share`."""
    _, labels = _arrays(section)
    size = len(labels.methods) + 1
    face_totals = np.bincount(labels.face_group, minlength=size)
    face_wrong = np.bincount(labels.face_group, weights=calls.faces != labels.face_fake, minlength=size)
    clip_totals = np.bincount(labels.clip_group, minlength=size)
    clip_wrong = (np.zeros(size) if calls.clips is None else
                  np.bincount(labels.clip_group, weights=calls.clips != labels.clip_fake, minlength=size))
    per_clip = {"real_called_fake": _share(int(clip_wrong[0]), int(clip_totals[0])),
                "missed": {m: _share(int(clip_wrong[i]), int(clip_totals[i])) for i, m in enumerate(labels.methods, 1)}}
    per_face = {"real_called_fake": _share(int(face_wrong[0]), int(face_totals[0])),
                "missed": {m: _share(int(face_wrong[i]), int(face_totals[i])) for i, m in enumerate(labels.methods, 1)}}
    return (per_clip if calls.clips is not None else None), per_face


def _recorded_caution(recorded: dict[str, Any], sampling: tuple[str, float | None] | None) -> str | None:
    """:func:`sampling_caution` for a section's recorded sampling (``{mode, value}``)."""
    mode, value = recorded["mode"], recorded.get("value")
    if mode == "frames" and value is not None:
        return sampling_caution(int(value), sampling)
    if sampling is None or (sampling[0] == mode and (sampling[1] is None) == (value is None)
                            and (value is None or float(sampling[1]) == float(value))):  # type: ignore[arg-type]
        return None
    return (f"measured at another sampling: {sampling_words(mode, value)}, this scan sampled "
            f"{sampling_words(*sampling)}; its per-video rates may differ")


def detector_caution(recorded: str, detector: str | None) -> str | None:
    """The caution for a scan whose face detector (``--detector``) is not the one the test clips were scanned with:
    it finds and crops other faces. None where it is that one, or not known."""
    if detector is None or detector == recorded:
        return None
    return (f"measured with the {recorded} face detector, this scan used {detector}: the faces found and cropped, "
            "and so the rates, may differ")


def clips_record(section: dict[str, Any], calls: Calls, threshold: float,
                 rule: str | None, sampling: tuple[str, float | None] | None, detector: str | None,
                 tracks: bool = False) -> dict[str, Any]:
    """The rates of ``calls`` (:func:`_calls`, at the scan's own ``threshold`` and by its ``rule``) on a section's
    clips, shaped as :func:`record`'s, with the cautions of another ``sampling`` or face ``detector``."""
    videos, faces = _count_calls(section, calls)
    recorded = section["sampling"]
    frames = (int(recorded["value"]) if recorded["mode"] == "frames" and recorded.get("value") is not None
              else None)
    cautions: list[str] = []
    reason = None
    sampling_caution_ = None
    if rule is None:
        reason, videos = "an image: its verdict is one face's, weighed by the per-face rates", None
    else:
        if tracks:
            cautions.append(TRACKS_CAUTION)
        if (sampling_caution_ := _recorded_caution(recorded, sampling)) is not None:
            cautions.append(sampling_caution_)
    if (other := detector_caution(section["detector"], detector)) is not None:
        cautions.append(other)
    return {"measured_on": section.get("measured_on") or MEASURED_ON, "threshold": float(threshold),
            "threshold_differs": False, "rule": rule, "frames_per_clip": frames,
            "sampling_differs": None if videos is None else sampling_caution_ is not None,
            "face_detector": section["detector"], "detector_differs": None if detector is None else other is not None,
            "videos": videos, "faces": faces, "cautions": cautions, "reason": reason}


def _alike(sections: list[dict[str, Any]]) -> bool:
    """Whether the sections were scanned alike: the same clips, sampling and face detector (each section's key made
    once: ``--model any --arch ensemble`` asks of its three ensembles and of the whole)."""
    def key(s: dict[str, Any]) -> Any:
        return ([(c["clip"], c["fake"], c.get("method")) for c in s["clips"]],
                (s["sampling"]["mode"], s["sampling"].get("value")), s["detector"])
    first = key(sections[0])
    return all(s is sections[0] or key(s) == first for s in sections)


def record_words(item: dict[str, Any], validation: str | None = None) -> str:
    """A :func:`clips_record`'s counts in words, for a report's header: per video by its rule (where counted), then
    per face, at the scan's own threshold, with the clips' sampling and face detector named, then ``validation``
    (the card's MesoNet validation figures in words), and its cautions but the sampling one (the header's own line)
    after."""
    at = threshold_shown(float(item["threshold"]))

    faces = item["faces"]
    total = faces["real_called_fake"]["total"] + sum(c["total"] for c in faces["missed"].values())
    parts = []
    if item["videos"] is not None:
        videos = item["videos"]
        clips = videos["real_called_fake"]["total"] + sum(c["total"] for c in videos["missed"].values())
        frames = f"{item['frames_per_clip']} frames each, " if item["frames_per_clip"] else ""
        real = videos["real_called_fake"]
        parts.append(f"per video by this scan's rule ({RULE_WORDS.get(item['rule'], item['rule'])}) at threshold {at}: "
                     f"{item['measured_on']} ({clips} clips, {frames}scanned with the {item['face_detector']} face "
                     f"detector): real videos called fake {_counted(real['count'], real['total'])}, forged videos "
                     f"missed: "
                     + ", ".join(f"{name} {_counted(c['count'], c['total'])}" for name, c in videos["missed"].items()))
    parts.append(f"per face at threshold {at}: {item['measured_on']} ({total} faces): "
                 f"{_rate(faces['real_called_fake']['count'], faces['real_called_fake']['total'])} of real faces "
                 f"called fake, forged faces missed: "
                 + ", ".join(f"{name} {_rate(c['count'], c['total'])}" for name, c in faces["missed"].items()))
    if validation:
        parts.append(validation)
    whose = [c for c in item["cautions"] if c.startswith(EXPORTED)]  # an .onnx export's: whose rates they are
    cautions = [c for c in item["cautions"] if not c.startswith(("measured at another sampling", EXPORTED))]
    return "".join(f"{c}: " for c in whose) + "; ".join(parts) + "".join(f" (CAUTION: {c})" for c in cautions)
