"""See why: the timeline plot, heatmap faces written per input (``scan --explain DIR``) and the one-file
HTML report (``scan --report FILE``).

:class:`Explainer` gathers, as the scan runs, what the report shows of each input: the scan's result
objects (the documented JSON, :meth:`mesocli.scan.ScanResult.to_dict`) plus, when the scan ran with an
:class:`mesocli.evidence.EvidenceCollector`, every sampled frame and the crops of the most-fake and
most-real faces. The page itself is drawn by :mod:`mesocli.report_html`.

Matplotlib draws through its Agg canvas directly (no pyplot state); TensorFlow is imported only
when heatmaps are computed (:class:`mesocli.explain.GradCam`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesocli import aggregate
from mesocli.errors import UsageError
from mesocli.evidence import DEFAULT_TOP, EvidenceCollector, InputEvidence
from mesocli.report_html import FaceImage, ReportEntry, html_parts
from mesocli.report_html import render_html as render_html  # re-exported: mesocli.report.render_html

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
SOURCE_FILE = "input.json"
"""In each input's ``--explain`` folder: ``{"path", "sha256"}`` of the input its heatmaps are of, and when and with
what they were made (:func:`drawn_by`)."""
TRACK_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
TRACK_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
TRACK_LINES: tuple[Any, ...] = ("-", ":", "-.", (0, (6, 2, 1, 2, 1, 2)), (0, (1, 3)), (0, (8, 2)), (0, (3, 1, 3, 4)))
"""Each track's dot marker and line style beside its colour, so that tracks stay apart in a greyscale printout
(the threshold line is dashed: no track's is)."""


# --------------------------------------------------------------------------------------------------
# Timeline plot


@dataclass
class Series:
    """One face track's scores over time: per sampled frame, the largest p_fake of that track."""

    track: int
    times: list[float]
    scores: list[float]


def series_of(faces: Iterable[Any]) -> list[Series]:
    """Group face samples (objects or dicts with frame, time, track, p_fake) into per-track series."""
    per_track: dict[int, dict[int, tuple[float, float]]] = {}
    for face in faces:
        get = face.get if isinstance(face, dict) else lambda k, f=face: getattr(f, k)
        track = int(get("track") or 0)
        frame, time, p = int(get("frame")), float(get("time")), float(get("p_fake"))
        frames = per_track.setdefault(track, {})
        if frame not in frames or p > frames[frame][1]:
            frames[frame] = (time, p)
    out = []
    for track in sorted(per_track):
        points = sorted(per_track[track].values())
        out.append(Series(track, [t for t, _ in points], [p for _, p in points]))
    return out


def timeline_png(result: dict[str, Any], evidence: InputEvidence | None, smooth: int = aggregate.DEFAULT_WINDOW,
                 width: float = 9.0, height: float = 2.9) -> bytes | None:
    """The p_fake-over-time plot of one video result as PNG; None for images and failed inputs.

    Per track: a dot per sampled frame, the smoothed curve (the scan's moving average over ``smooth``
    scored frames), the flagged segments shaded; the threshold as a dashed line; sampled frames with
    no face as grey ticks under the axis. Scores come from ``evidence`` or else from the result's
    ``scores`` (``--detail``).
    """
    if result.get("type") != "video" or result.get("status") == "error":
        return None
    faces: Sequence[Any] = evidence.faces if evidence is not None else (result.get("scores") or [])
    no_face = [t for _, t in evidence.no_face_frames()] if evidence is not None else []
    if not faces and not no_face:
        return None
    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    with their_deprecations(*MATPLOTLIB):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

    threshold = float(result.get("threshold", 0.5))
    figure = Figure(figsize=(width, height), dpi=100)  # laid out below, once (see _place)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    series = series_of(faces)
    tracks = result.get("faces") or []
    spans = {int(t["track"]): t.get("segments") or [] for t in tracks} if tracks else {}
    several = len(series) > 1
    shaded_label = "flagged (smoothed ≥ threshold)"
    if not several:
        for segment in result.get("segments") or []:
            axes.axvspan(segment["start"], segment["end"], color="0.82", zorder=0, label=shaded_label)
            shaded_label = None
    for number, item in enumerate(series):
        colour = TRACK_COLOURS[number % len(TRACK_COLOURS)]
        marker, line = TRACK_MARKERS[number % len(TRACK_MARKERS)], TRACK_LINES[number % len(TRACK_LINES)]
        name = f"track {item.track}" if several else "face"
        if several:
            for segment in spans.get(item.track, []):
                axes.axvspan(segment["start"], segment["end"], color=colour, alpha=0.13, zorder=0, lw=0)
        axes.plot(item.times, item.scores, ls="none", marker=marker, ms=3.5, color=colour, alpha=0.75,
                  label=f"{name}: p_fake per frame")
        axes.plot(item.times, aggregate.smooth(item.scores, smooth), ls=line, lw=2, color=colour,
                  label=f"{name}: smoothed ({smooth} frames)")
    axes.axhline(threshold, color="black", ls="--", lw=1, label=f"threshold {threshold:g}")
    if no_face:
        axes.plot(no_face, [-0.06] * len(no_face), "|", ms=9, mew=1.5, color="0.45", label="no face found")
    duration = max([*no_face, *(t for s in series for t in s.times), 0.0])
    for segment in result.get("segments") or []:
        duration = max(duration, float(segment["end"]))
    axes.set_xlim(-0.02 * max(duration, 1.0), max(duration, 1.0) * 1.02)
    axes.set_ylim(-0.12, 1.04)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("p_fake")
    axes.grid(alpha=0.3)
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _place(figure, legend)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


# the plot's margins (fractions of the figure): room for the y label and ticks, the x label, a little at the top
LEFT, BOTTOM, TOP = 0.062, 0.164, 0.986
RIGHT_PAD = 4  # pixels between the legend and the figure's right edge


def _place(figure: Any, legend: Any) -> None:
    """Fit the axes beside the legend (anchored at 1.01 of the axes' width): its width is measured, no figure drawn.

    The margins are constant (the y range and labels are), only the legend's width varies; matplotlib's constrained
    layout found the same place but drew each figure twice, a third of the plot's time."""
    wide, guess = figure.bbox.width, 0.7
    figure.subplots_adjust(left=LEFT, bottom=BOTTOM, top=TOP, right=guess)
    over = legend.get_window_extent(figure.canvas.get_renderer()).x1 - (wide - RIGHT_PAD)
    # the legend starts 1 % of the axes' width (and a fixed pad) right of them: it moves 1.01 px per px of axes
    figure.subplots_adjust(right=max(guess - over / 1.01 / wide, LEFT + 0.3))


# --------------------------------------------------------------------------------------------------
# Heatmap faces of one input


def explain_faces(gradcam: Any, evidence: InputEvidence, kind: str | None, threshold: float, *, png: bool = True,
                  jpeg: bool = False) -> list[FaceImage]:
    """Heatmap panels of the input's most-fake then most-real faces (see :meth:`InputEvidence.extremes`), encoded
    as PNG (``png``: the ``--explain`` files) and as JPEG (``jpeg``: the report's), each only when asked for.

    ``gradcam``: a :class:`mesocli.explain.GradCam` (or ``OnnxGradCam``), or (``--model any``) a callable giving the
    GradCam of a detector by name: each face's map is then drawn by the detector whose p_fake is the face's score."""
    from mesocli.explain import caption_for, face_panel, jpeg_bytes, png_bytes

    kept = evidence.extremes()
    if not kept:
        return []
    # the class the scan decided for each face, also when another network drew the map (--arch ensemble):
    # the map shows that network's evidence for the decided class
    targets = [aggregate.verdict(face.sample.p_fake, threshold) for _, face in kept]
    explanations: list[Any] = [None] * len(kept)
    by_detector: dict[str | None, list[int]] = {}
    for number, (_, face) in enumerate(kept):
        by_detector.setdefault(face.sample.detector if callable(gradcam) else None, []).append(number)
    for detector, numbers in by_detector.items():
        cam = gradcam(detector) if callable(gradcam) else gradcam
        found = cam.explain([kept[n][1].crop for n in numbers], target=[targets[n] for n in numbers],
                            threshold=threshold)
        for number, explanation in zip(numbers, found, strict=True):
            explanations[number] = explanation
    images = []
    for (group, face), explanation in zip(kept, explanations, strict=True):
        s = face.sample
        detector = s.detector if callable(gradcam) else None
        caption = caption_for(s.p_fake, s.frame, s.time, s.track, kind, detector)
        panel = face_panel(face.crop, explanation, caption)
        images.append(FaceImage(png_bytes(panel) if png else None, caption, s.p_fake, s.frame, s.time, s.track,
                                explanation.target, group, detector, jpeg_bytes(panel) if jpeg else None))
    return images


# --------------------------------------------------------------------------------------------------
# The scan command's side: --explain DIR and --report FILE


class Explainer:
    """Collects a scan's evidence, writes heatmap faces per input and, at :meth:`finish`, the report.

    Pass :attr:`observer` to :func:`mesocli.scan.scan_inputs` and each result to :meth:`add` as it
    comes. The network for heatmaps (and TensorFlow) is loaded on the first input that has faces. Used
    as a context manager, a failure in the block removes what it wrote (the folders it made, the files
    it added): a failed scan leaves ``explain_dir`` as it was.
    """

    def __init__(self, model: Any, *, explain_dir: Path | None = None, report: Path | None = None,
                 top: int = DEFAULT_TOP, smooth: int = aggregate.DEFAULT_WINDOW, threshold: float = 0.5,
                 meta: dict[str, Any] | None = None, force: bool = False) -> None:
        if top < 0:
            raise UsageError("--explain-top must be 0 or more")
        # a Keras model, a model run by ONNX Runtime (:class:`mesocli.runtime.OnnxModel`: its maps need no TensorFlow),
        # a callable returning one, or (--model any) a dict of such per detector
        self.model = model
        self.explain_dir = explain_dir
        self.report = report
        self.top = top
        self.smooth = smooth
        self.threshold = threshold
        self.meta = meta or {}
        self.observer = EvidenceCollector(top)
        self.entries: list[ReportEntry] = []
        self._gradcams: dict[str | None, Any] = {}
        self._names: set[str] = set()
        self.force = force
        self._added: list[Path] = []  # files this run created (not replaced), then folders it made, innermost first
        self._made = [] if explain_dir is None else [p for p in (explain_dir, *explain_dir.parents)
                                                      if not os.path.lexists(p)]
        check_targets(explain_dir, report, force)

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            return
        for path in self._added:
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in self._made:  # one that holds anything else stays
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _cam(self) -> Any:
        """The GradCam of the model, or with a model per detector a callable giving each one's (made once)."""
        if isinstance(self.model, dict):
            return self._cam_of
        return self._cam_of(None)

    def _cam_of(self, detector: str | None) -> Any:
        if detector not in self._gradcams:
            from mesocli.explain import gradcam_for

            model = self.model[detector] if isinstance(self.model, dict) else self.model
            model = model() if callable(model) and not hasattr(model, "layers") else model
            self._gradcams[detector] = gradcam_for(model)
        return self._gradcams[detector]

    def add(self, result: Any) -> ReportEntry:
        """Explain one scan result (a ScanResult or its dict); return what the report will show of it."""
        data = result.to_dict() if hasattr(result, "to_dict") else dict(result)
        evidence = self.observer.take(data["path"])
        entry = ReportEntry(data)
        if evidence is not None and data.get("status") != "error":
            entry.no_face = evidence.no_face_frames()
            entry.sampled_times = [t for _, t, _ in evidence.sampled]
            entry.sampled_frames = [(n, t) for n, t, _ in evidence.sampled]
            if data.get("status") == "ok" and self.top > 0:
                entry.faces = explain_faces(self._cam(), evidence, data.get("type"), self.threshold,
                                            png=self.explain_dir is not None, jpeg=self.report is not None)
        if self.report is not None:
            entry.timeline = timeline_png(data, evidence, self.smooth)
            self.entries.append(entry)
        if self.explain_dir is not None and entry.faces:
            self._write_faces(data, entry.faces)
        return entry

    def _write_faces(self, data: dict[str, Any], faces: list[FaceImage]) -> None:
        from mesocli.fsutil import atomic_write_bytes
        from mesocli.manifest import unique_name
        from mesocli.writers import json_text

        assert self.explain_dir is not None
        folder = self.explain_dir / unique_name(Path(data["path"]).stem, data["path"], self._names)
        if not os.path.lexists(folder):
            self._made.insert(0, folder)
        for rank, face in enumerate(faces, 1):
            target = folder / face.file_name(rank, data.get("type"))
            if not os.path.lexists(target):
                self._added.append(target)
            assert face.png is not None  # explain_faces encodes PNGs when there is an explain_dir
            atomic_write_bytes(target, face.png, replace=self.force)
        # which input these faces are of: a folder's name is its stem, or the stem and a hash of its path
        source = folder / SOURCE_FILE
        if not os.path.lexists(source):
            self._added.append(source)
        # as the JSON output writes names: UTF-8, invisible characters escaped, a byte that is not UTF-8 as its
        # \udcXX escape (backslashreplace writes it so, inside a JSON string)
        text = json_text(json.dumps({"path": data["path"], "sha256": data.get("sha256"), **drawn_by(data)},
                                    indent=1, ensure_ascii=False)) + "\n"
        atomic_write_bytes(source, text.encode("utf-8", "backslashreplace"), replace=self.force)

    def finish(self) -> None:
        """Write the report (atomically), if one was asked for."""
        if self.report is None:
            return
        from mesocli.fsutil import atomic_path

        meta = self.meta  # a caution on how videos were sampled: not in a report of images alone
        videos = [entry.result for entry in self.entries if entry.result.get("type") == "video"]
        if not videos:
            meta = {key: value for key, value in meta.items() if key not in VIDEO_ONLY}
        elif SAMPLING_CAUTION not in meta and (caution := other_frames_caution(videos)):
            meta = {**meta, SAMPLING_CAUTION: caution}  # the scan's sampling is the cards', not every video's
        with atomic_path(self.report, replace=self.force) as tmp, open(tmp, "w", encoding="utf-8") as stream:
            for part in html_parts(self.entries, meta):  # part by part: never the whole document in memory
                stream.write(part)


SAMPLING_CAUTION = "measured error rates: sampling"  # the header line: the cards' clips were sampled otherwise
VIDEO_ONLY = (SAMPLING_CAUTION,)
"""The header lines of :attr:`Explainer.meta` about videos alone, left out of a report without one."""


def other_frames_caution(rows: list[dict[str, Any]]) -> str | None:
    """The header's sampling caution for a scan at the cards' sampling (``--frames 20``) of which some videos gave
    other than the frames asked (a shorter video): those rows' ``error_rates`` say so; None when none did."""
    other = {row["path"]: item["frames_per_clip"] for row in rows
             for item in ((row.get("error_rates") or {}).get("detectors") or {}).values() if item["sampling_differs"]}
    if not other:
        return None
    named = ", ".join(list(other)[:3]) + (f" and {len(other) - 3} more" if len(other) > 3 else "")
    some = f"{len(other)} video{'s' if len(other) > 1 else ''}"
    return (f"CAUTION, measured at another sampling: {next(iter(other.values()))} frames a clip, this scan took "
            f"other than the frames asked of {some} ({named}; the JSON rows' error_rates say how many); their "
            "per-video rates may differ")


def drawn_by(row: dict[str, Any]) -> dict[str, Any]:
    """What ``input.json`` says of when and with what the heatmaps of the input of scan ``row`` were made: the
    row's ``scanned_at``, ``explained_at`` (now, UTC), the mesocli version, the runtime that drew the maps and the
    versions of the libraries that drew and wrote them (the runtime's, numpy, Pillow)."""
    from mesocli import __version__
    from mesocli.provenance import EVAL_PACKAGES, code_digest, library_versions, utc_now

    runtime = (row.get("settings") or {}).get("runtime")
    return {"scanned_at": row.get("scanned_at"), "explained_at": utc_now(), "mesocli": __version__,
            "mesocli_code": code_digest(),
            "runtime": runtime, "libraries": library_versions(runtime, EVAL_PACKAGES)}


def check_targets(explain_dir: Path | None, report: Path | None, force: bool) -> None:
    """Refuse, before any work, a --report file or a non-empty --explain folder that exists (unless ``force``),
    and a place where nothing can be written."""
    from mesocli.fsutil import check_writable
    from mesocli.writers import refuse_existing

    if report is not None:
        if report.is_dir():
            raise UsageError(f"{report}: --report is a folder")
        refuse_existing(report, force)
        check_writable(report)
    if explain_dir is not None:
        if explain_dir.exists() and not explain_dir.is_dir():
            raise UsageError(f"{explain_dir}: --explain is not a folder")
        if explain_dir.is_dir() and any(os.scandir(explain_dir)) and not force:
            raise UsageError(f"{explain_dir}: folder is not empty; pass --force to write into it")
        check_writable(explain_dir, folder=True)
