"""Error rates a reader weighs a verdict by: counted per face and per video over thresholds, and put in words.

A model card's ``metrics.ffpp_test.error_rates`` (:func:`measure`, written by ``scripts/card_error_rates.py`` and
``scripts/bundle_weights.py``) holds, at each threshold of :data:`THRESHOLDS`, how many real faces and real videos
were called fake and how many forged ones of each method were missed, per face and per video by each video rule
of ``scan`` (``mean``, ``vote``: :func:`mesocli.metrics.video_calls`, as ``scan --aggregate`` decides).
:func:`in_words` states them for a scan at its threshold (the nearest measured one, saying so) and by its rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mesocli.aggregate import threshold_shown
from mesocli.metrics import called_fake, video_calls

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
VIDEO_RULES = ("mean", "vote")  # the scan rules measured per video (not ``confident``)
RULE_WORDS = {"mean": "mean: the mean of the frame scores", "vote": "vote: the share of frames called fake"}
KEY = "error_rates"  # of metrics.ffpp_test


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
    """Raise ValueError (saying where) when ``metrics`` holds an ``ffpp_test.error_rates`` that is not a table of
    :func:`measure` (one cut short by hand or by another version), which :func:`in_words` could not state; a card
    without one passes."""
    ffpp = metrics.get("ffpp_test") if isinstance(metrics, dict) else None
    if not isinstance(ffpp, dict) or ffpp.get(KEY) is None:
        return
    table = ffpp[KEY]
    where = f"metrics.ffpp_test.{KEY}"
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


def _counted(count: int, total: int) -> str:
    return f"{count} of {total} ({_percent(count / total)})" if total else "none measured"


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
            f"{_percent(real['face'][at] / real['faces'])} of real faces called fake, forged faces missed: "
            + ", ".join(f"{name} {_percent(entry['face'][at] / entry['faces'])}"
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
