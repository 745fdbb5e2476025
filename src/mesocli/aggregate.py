"""From frame scores to one score per video, and to the time ranges that look forged.

Pure functions on lists of ``p_fake`` values (no NumPy needed, no model). The rules, by name:

``mean``
    The MesoNet paper: the video's p_fake is the mean of its frame scores.
``vote``
    The authors' released code: each frame votes *fake* when its p_fake >= ``threshold``; the
    video's p_fake is the share of frames voting fake.
``confident``
    After the DFDC winner's heuristic (Seferbekov's ``confident_strategy``), with its cut-offs
    0.8 / 0.2 / 90 % and a share-only fake rule so it works for any number of frames:

    1. if *more than a quarter* of the frames have p_fake > 0.8, the mean of those frames;
    2. else if *more than 90 %* of the frames have p_fake < 0.2, the mean of those frames;
    3. else the plain mean.

    (The original fires rule 1 when more than ``n // 2.5`` and more than 11 of its 32 frames are
    confident fakes; a quarter lets a swap that shows in part of a clip count.)

Timeline: :func:`smooth` is a centred moving average over ``window`` consecutive scored frames
(truncated at both ends), and :func:`segments` turns the runs of sampled frames whose smoothed
score is >= ``threshold`` into time ranges (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

AGGREGATIONS = ("mean", "vote", "confident")
CONFIDENT_FAKE = 0.8
CONFIDENT_REAL = 0.2
CONFIDENT_FAKE_SHARE = 0.25
CONFIDENT_REAL_SHARE = 0.9
DEFAULT_WINDOW = 5
SCORE_DECIMALS = 6  # how scores are reported (JSON, CSV); a score equal to the threshold as reported is fake


def _check(scores: Sequence[float]) -> list[float]:
    values = [float(s) for s in scores]
    if not values:
        raise ValueError("no scores to aggregate")
    return values


def mean(scores: Sequence[float], threshold: float = 0.5) -> float:
    """The mean frame score (the paper's video-level rule). ``threshold`` is unused."""
    values = _check(scores)
    return sum(values) / len(values)


def vote(scores: Sequence[float], threshold: float = 0.5) -> float:
    """The share of frames whose p_fake is >= ``threshold`` (the authors' released code)."""
    values = _check(scores)
    return sum(1 for v in values if is_fake(v, threshold)) / len(values)


def confident(scores: Sequence[float], threshold: float = 0.5) -> float:
    """The DFDC-winner rule described in the module docstring. ``threshold`` is unused."""
    values = _check(scores)
    n = len(values)
    fakes = [v for v in values if v > CONFIDENT_FAKE]
    if len(fakes) > CONFIDENT_FAKE_SHARE * n:
        return sum(fakes) / len(fakes)
    reals = [v for v in values if v < CONFIDENT_REAL]
    if len(reals) > CONFIDENT_REAL_SHARE * n:
        return sum(reals) / len(reals)
    return sum(values) / n


Rule = Callable[[Sequence[float], float], float]
RULES: dict[str, Rule] = {"mean": mean, "vote": vote, "confident": confident}


def aggregate(scores: Sequence[float], rule: str = "mean", threshold: float = 0.5) -> float:
    """Apply the rule named ``rule`` to ``scores``."""
    try:
        return RULES[rule](scores, threshold)
    except KeyError:
        raise ValueError(f"unknown aggregation '{rule}'; choose one of {', '.join(AGGREGATIONS)}") from None


def check_threshold(threshold: float) -> float:
    """``threshold`` if it lies in [0, 1], else :class:`mesocli.errors.ParameterError` (NaN fails too), with the
    p_fake it may have meant: from 10 to 100 a percentage (``--threshold 70``: 0.7 for 70 %; ``72.5``: 0.725; a
    dropped ``0.`` reads the same, ``0.25`` typed ``25``), a whole number from 2 to 9 either reading (``2``: 0.2, a
    dropped ``0.``, or 0.02 for 2 %, both named: neither is more likely); none for others (``1.5``, ``150``)."""
    from mesocli.errors import ParameterError

    if not 0.0 <= threshold <= 1.0:
        meant = ""
        if 10 <= threshold <= 100:
            meant = f" (a p_fake, not a percentage: {threshold / 100:g} for {threshold:g} %)"
        elif 1 < threshold < 10 and float(threshold).is_integer():
            meant = f" (a p_fake, not a percentage: did you mean {threshold / 10:g}, or {threshold / 100:g} for " \
                    f"{threshold:g} %?)"
        raise ParameterError("{threshold} must be between 0 and 1, not {value}" + meant, value=threshold)
    return threshold



def is_fake(p_fake: float, threshold: float = 0.5) -> bool:
    """Whether ``p_fake >= threshold``, or the score as reported (6 decimals) is: a printed score equal to
    the threshold is never called real."""
    p_fake = float(p_fake)
    return p_fake >= threshold or round(p_fake, SCORE_DECIMALS) >= threshold


def verdict(p_fake: float, threshold: float = 0.5) -> str:
    """``fake`` when :func:`is_fake`, else ``real``."""
    return "fake" if is_fake(p_fake, threshold) else "real"


def threshold_shown(threshold: float) -> str:
    """``threshold`` for people: short (``0.6``), or every figure it has where the short form would be another
    number (``0.50000001``, not ``0.5``), so that no text reads a threshold as one it is not."""
    short = f"{threshold:g}"
    return short if float(short) == threshold else repr(float(threshold))


def shown(p_fake: float, threshold: float | None = None, decimals: int = 3) -> str:
    """``p_fake`` for people, with ``decimals`` decimals; with ``threshold``, the reported six where fewer
    would contradict the verdict (0.627561 at threshold 0.628 is real: shown 0.627561, not 0.628). A score
    closer to an end than one step without being it is ``<0.001`` or ``>0.999``, not the certainty ``0.000``
    or ``1.000`` nor a rounded ``0.001``; the table and the report show scores this one way."""
    short = f"{p_fake:.{decimals}f}"
    if threshold is not None and verdict(float(short), threshold) != verdict(p_fake, threshold):
        return f"{p_fake:.{SCORE_DECIMALS}f}"
    step = 10.0 ** -decimals
    if 0 < p_fake < step:
        return f"<{step:.{decimals}f}"
    if 1 - step < p_fake < 1:
        return f">{1 - step:.{decimals}f}"
    return short


def smooth(scores: Sequence[float], window: int = DEFAULT_WINDOW) -> list[float]:
    """Centred moving average over ``window`` values (odd; even is rounded up), truncated at the ends.

    Value *i* is the mean of ``scores[i - h : i + h + 1]`` clipped to the list, with ``h = window // 2``;
    ``window`` 1 returns the scores unchanged.
    """
    if window < 1:
        raise ValueError("window must be >= 1")
    half = window // 2
    values = [float(s) for s in scores]
    out = []
    for i in range(len(values)):
        part = values[max(0, i - half) : i + half + 1]
        out.append(sum(part) / len(part))
    return out


def _flagged_by(own: dict[str, dict[int, float]], run: list[int], threshold: float) -> list[str]:
    """The detectors that flagged the frames ``run`` (see :func:`segments`): those whose own smoothed score reaches
    ``threshold`` there, most fake first; else the one highest there."""
    highest = {name: max(scores[i] for i in run) for name, scores in own.items()}
    ranked = sorted(highest, key=lambda name: -highest[name])
    return [name for name in ranked if is_fake(highest[name], threshold)] or ranked[:1]


@dataclass
class Segment:
    """A time range, in seconds, whose smoothed p_fake stays >= the threshold."""

    start: float
    end: float
    frames: int
    p_fake_mean: float
    p_fake_max: float
    detectors: list[str] | None = None  # --model any: the detectors that flagged it (see segments)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "frames": self.frames,
            "p_fake_mean": round(self.p_fake_mean, 6),
            "p_fake_max": round(self.p_fake_max, 6),
        }
        if self.detectors is not None:
            out["detectors"] = list(self.detectors)
        return out


def segments(
    times: Sequence[float],
    scores: Sequence[float | None],
    threshold: float = 0.5,
    window: int = DEFAULT_WINDOW,
    duration: float | None = None,
    start: float = 0.0,
    by_detector: Mapping[str, Sequence[float | None]] | None = None,
) -> list[Segment]:
    """The time ranges where the smoothed score is >= ``threshold``.

    ``times`` are the timestamps of every *sampled* frame (ascending) and ``scores`` their p_fake,
    ``None`` where the frame has no (such) face. Scores are smoothed with :func:`smooth` over the
    scored frames only; a run is a maximal sequence of consecutive sampled frames whose smoothed
    score is >= ``threshold`` (a frame without a score ends a run). A run covers its frames' share
    of the video: from halfway between the previous sampled frame and its first frame (``start``, the
    time of the video's first frame, for the first sampled one: 0, or later in a file whose video stream
    starts late) to halfway between its last frame and the next sampled frame (``duration``, or the
    last frame's time, for the last one), clipped to ``[0, max(duration, last frame's time)]``.
    ``p_fake_mean`` and ``p_fake_max`` are of the smoothed scores in the run.

    ``by_detector`` (``--model any``, where ``scores`` is each frame's largest detector score): each detector's own
    scores, ``None`` where ``scores`` is; a range's ``detectors`` are those whose own smoothed scores reach the
    threshold in it, most fake first, or, where none alone does (the largest of each frame's went over it together),
    the one whose own smoothed score there is highest.
    """
    if len(times) != len(scores):
        raise ValueError("times and scores differ in length")
    scored = [i for i, s in enumerate(scores) if s is not None]
    smoothed: list[float | None] = [None] * len(scores)
    for i, value in zip(scored, smooth([scores[i] for i in scored], window), strict=True):  # type: ignore[misc]
        smoothed[i] = value
    own: dict[str, dict[int, float]] = {}  # each detector's smoothed score by frame index
    for name, values in (by_detector or {}).items():
        own[name] = dict(zip(scored, smooth([float(values[i]) for i in scored], window), strict=True))  # type: ignore[arg-type]
    last_time = float(times[-1]) if len(times) else 0.0
    end_of_video = max(float(duration), last_time) if duration is not None and duration > 0 else last_time
    found: list[Segment] = []
    run: list[int] = []

    def close() -> None:
        if not run:
            return
        first, last = run[0], run[-1]
        begin = min(max(0.0, start), times[first]) if first == 0 else (times[first - 1] + times[first]) / 2
        end = end_of_video if last == len(times) - 1 else (times[last] + times[last + 1]) / 2
        begin, end = max(0.0, min(begin, end_of_video)), max(0.0, min(max(end, times[last]), end_of_video))
        values = [smoothed[i] for i in run]
        found.append(Segment(begin, end, len(run), sum(values) / len(values), max(values),  # type: ignore[arg-type]
                             _flagged_by(own, run, threshold) if own else None))
        run.clear()

    for i, value in enumerate(smoothed):
        if value is not None and is_fake(value, threshold):
            run.append(i)
        else:
            close()
    close()
    return found
