"""The one-file HTML report of a scan (``scan --report FILE``): what it shows of each input, and the page.

The page is self-contained: images inlined as base64 (timelines PNG, heatmap panels JPEG), CSS inline, no script,
no external resource (its Content-Security-Policy allows none either), so it opens offline in any browser and can be
mailed or archived as it is. Each input is a :class:`ReportEntry`: its result (the documented JSON,
:meth:`mesocli.scan.ScanResult.to_dict`), its timeline plot, its heatmap faces (:class:`FaceImage`) and the sampled
frames without a face; :mod:`mesocli.report` gathers them while the scan runs. A result carrying ``detectors`` (a
mapping from a detector's name to its p_fake, or to an object with ``p_fake``) gets one row per detector.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import itertools
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mesocli.aggregate import shown, verdict
from mesocli.digest import CHANGED
from mesocli.errors import printable
from mesocli.producer import box_text, is_damage
from mesocli.writers import flagged_by, other_flags, pooled, ranked_warnings, track_flag_text, warnings_text


def fmt_p(value: float | None, threshold: float | None = None) -> str:
    """A p_fake for people (HTML), as the table shows it (:func:`mesocli.aggregate.shown`), an em dash for
    none."""
    return "—" if value is None else html.escape(shown(value, threshold))


def detector_scores(result: dict[str, Any]) -> list[tuple[str, float | None]]:
    """(detector, p_fake) pairs of a result: its ``detectors`` mapping when present, else its one model."""
    detectors = result.get("detectors")
    if isinstance(detectors, dict) and detectors:
        rows = []
        for name, value in detectors.items():
            if isinstance(value, dict):
                value = value.get("p_fake")
            rows.append((str(name), None if value is None else float(value)))
        return rows
    model = result.get("model") or {}
    if isinstance(model.get("detectors"), dict):  # --model any, but no score (an error or no face)
        return [(str(name), None) for name in model["detectors"]]
    name = model.get("name") or model.get("arch") or "model"
    return [(str(name), result.get("p_fake"))]


@dataclass
class FaceImage:
    """One explained face: its panel as PNG (the ``--explain`` file) and as JPEG (the report's), and what it shows."""

    png: bytes | None  # None when no --explain file is written
    caption: str
    p_fake: float
    frame: int
    time: float
    track: int | None
    target: str
    group: str = "most fake"  # or "most real"
    detector: str | None = None  # --model any: the detector that drew the map (the one whose score is p_fake)
    jpeg: bytes | None = None  # the panel in the report (a quarter of the PNG's size); None: the PNG is shown

    def file_name(self, rank: int, kind: str | None) -> str:
        """``01_pfake0.931_frame000120_track1_fs.png`` (frame only for videos, track when known, the
        detector with ``--model any``)."""
        name = f"{rank:02d}_pfake{self.p_fake:.3f}"
        if kind == "video":
            name += f"_frame{self.frame:06d}"
        if self.track is not None:
            name += f"_track{self.track}"
        if self.detector is not None:
            name += f"_{self.detector}"
        return name + ".png"


# the names file_name gives
HEATMAP_FILE = re.compile(r"\d{2,}_pfake\d\.\d{3}(_frame\d{6,})?(_track\d+)?(_[a-z][a-z0-9]*)?\.png")


@dataclass
class ReportEntry:
    """What the report shows of one input."""

    result: dict[str, Any]
    timeline: bytes | None = None
    faces: list[FaceImage] = field(default_factory=list)
    no_face: list[tuple[int, float]] = field(default_factory=list)
    sampled_times: list[float] = field(default_factory=list)
    sampled_frames: list[tuple[int, float]] = field(default_factory=list)  # (frame number, time) of each sampled


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1180px;
padding:16px 24px;color:#111;background:#fff;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;border-bottom:2px solid #ddd;
padding-bottom:.2em;overflow-wrap:anywhere}h3{font-size:1.02em;margin:1em 0 .3em}h4{font-size:.95em;margin:.8em 0 .3em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.path{overflow-wrap:anywhere;max-width:420px;min-width:14em}td.input{overflow-wrap:anywhere;min-width:14em}
.range{white-space:nowrap}@media (max-width:1100px),print{td.path,td.input{min-width:0}}
.badge{display:inline-block;white-space:nowrap;padding:1px 8px;border-radius:4px;font-weight:700;border:2px solid}
.fake{background:#fbe3d6;color:#8a3200;border-color:#D55E00}.real{background:#dbeaf6;color:#00456e;
border-color:#0072B2}.no_face{background:#eee;color:#333;border-color:#888;border-style:dashed}
.error{background:#fff;color:#000;border-color:#000;border-style:dotted}
.errmsg{font-family:ui-monospace,monospace;background:#f7f7f7;border-left:4px solid #000;padding:6px 10px;
overflow-wrap:anywhere}
.meta{color:#444;font-size:.92em}.sha256{overflow-wrap:anywhere}.note{color:#444;font-size:.92em;max-width:60em}
figure{margin:6px 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.88em;color:#333}
.faces{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:10px}
section.input{page-break-inside:avoid}
ul.meta li{overflow-wrap:anywhere}
@media print{h2,h3,h4{break-after:avoid;page-break-after:avoid}figure,tr{break-inside:avoid;page-break-inside:avoid}
body{padding:0}header .meta{font-size:.8em;line-height:1.3}#summary thead th{font-size:.9em}
#summary table{width:100%;table-layout:fixed;font-size:.75em}#summary th,#summary td{padding:2px 4px}
#summary .badge{padding:0 3px}#summary th{width:6%}#summary th:first-child{width:2.5%}
#summary th:nth-child(2){width:auto}#summary th:nth-child(4){width:9%}#summary th:nth-last-child(2){width:8%}
#summary th:last-child{width:15%}#summary td.input{font-size:.9em}}
a{color:#0050a0}
"""

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""The page's Content-Security-Policy: its own inline CSS and data: images, nothing else. Every untrusted string
is escaped; should one ever slip through, a browser still runs no script of it and loads nothing from outside
(a report is evidence, mailed and opened far from where it was made)."""

UNSEEN = ("The measured error rates below hold for forgeries like those they were measured on (the methods they "
          "name, in FaceForensics++ c23 clips and the MesoNet dataset); for another forgery method or source they are "
          "not known and may be far higher: on one labelled clip of each (a DFDC clip, a FaceForensics++ "
          "NeuralTextures clip) every bundled detector scored the forgery 0.384 at most: real at the default "
          "threshold 0.5 (docs/scan.md, “Verdicts on the labelled clips”).")
"""The header's caveat on forgeries unlike the measured ones (docs/scan.md measures it): the rates do not extend to
them, so a verdict of real on such a video clears nothing. It says what was measured (one clip each, the highest
p_fake of any bundled detector, the threshold), shown in reports made at any threshold."""

MAP_LIMITS = ("The map shows where that evidence concentrates, coarsely (a 32×32 grid, smoothed), not why the network "
              "decided, nor how a forgery was made; a map of a face the network gets wrong looks as sure as any other "
              "(docs/explain.md, “Method: Grad-CAM on the last convolution”).")
"""What a heatmap does not show, beside every group of maps: as docs/explain.md states its limits (the page said
the map showed "what made it say fake", which a map of where evidence concentrates does not)."""

GROUP_LABELS = {"most fake": "highest p_fake", "most real": "lowest p_fake"}  # a real clip's "most fake" is real
STATUS_TEXT = {"ok": "scanned", "no_face": "no face found", "error": "not scanned"}


def _esc(value: object) -> str:
    """``value`` as HTML text, its control and invisible characters written as escapes (:func:`printable`): a file
    name with a right-to-left override (``evil\\u202egnp.mp4`` read as ``evil4pm.png``), a zero-width space or a
    newline is shown as it is, not as another name."""
    return html.escape(printable(str(value)), quote=True)


def _path_cell(path: object) -> str:
    """``path`` as HTML (:func:`_esc`) for a table cell: a line may break after a ``/``, ``_`` or ``-`` (``<wbr>``),
    and elsewhere only where one part is wider than the cell (``hamilton.j`` / ``pg`` was shown)."""
    parts = re.split(r"(?<=[/_-])(?=.)", printable(str(path)))
    return "<wbr>".join(html.escape(part, quote=True) for part in parts)


def _name_note(path: object) -> str:
    """A note under an input's title when its name holds characters :func:`_esc` shows as escapes, else ""."""
    name = str(path)
    hidden = sorted({repr(c)[1:-1] for c in name if not c.isprintable()})
    if not hidden:
        return ""
    return ('<p class="note">Note: its name holds characters that are invisible or change how it reads (or bytes '
            f"that are not text), shown as escapes: {_esc(', '.join(hidden))}. The JSON and CSV outputs keep the "
            "name exactly.</p>")


def _img(image: bytes, alt: str, width: int | None = None, kind: str = "png") -> str:
    data = base64.b64encode(image).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img src="data:image/{kind};base64,{data}" alt="{_esc(alt)}"{size}>'


def _face_img(face: FaceImage, alt: str) -> str:
    """A heatmap panel: its JPEG when it has one, else its PNG."""
    if face.jpeg is not None:
        return _img(face.jpeg, alt, kind="jpeg")
    assert face.png is not None, "a face with neither a JPEG nor a PNG"
    return _img(face.png, alt)


def _badge(result: dict[str, Any]) -> str:
    status = result.get("status")
    if status == "ok":
        verdict = result.get("verdict") or "?"
        return f'<span class="badge {_esc(verdict)}">{_esc(verdict.upper())}</span>'
    label = "NO FACE" if status == "no_face" else "ERROR"
    return f'<span class="badge {_esc(status)}">{label}</span>'


def _ranges(times: Sequence[float], all_times: Sequence[float]) -> str:
    """Sampled times as runs of consecutive sampled frames: ``0.00–2.50 s, 7.10 s``."""
    if not times:
        return ""
    position = {t: i for i, t in enumerate(all_times)}
    runs: list[list[float]] = []
    for t in times:
        if runs and position.get(t, -10) == position.get(runs[-1][-1], -20) + 1:
            runs[-1].append(t)
        else:
            runs.append([t])
    return ", ".join(f"{r[0]:.2f} s" if len(r) == 1 else f"{r[0]:.2f}–{r[-1]:.2f} s" for r in runs)


def _by(segment: dict[str, Any]) -> str:
    """``; flagged by fs, df`` (``--model any``: the detectors whose own smoothed p_fake reached the threshold there,
    or the highest one's), escaped; "" for one detector."""
    names = segment.get("detectors")
    return _esc(f"; flagged by {', '.join(str(name) for name in names)}") if names else ""


def _summary(entries: Sequence[ReportEntry]) -> str:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.result.get("status", "?")] = counts.get(entry.result.get("status", "?"), 0) + 1
    fakes = sum(1 for e in entries if e.result.get("verdict") == "fake")
    parts = [f"{len(entries)} input{'s' if len(entries) != 1 else ''}:",
             f"{counts.get('ok', 0)} scanned ({fakes} called fake by the detector)",
             f"{counts.get('no_face', 0)} with no face", f"{counts.get('error', 0)} failed"]
    names = sorted({n for e in entries for n, _ in detector_scores(e.result)})
    several = len(names) > 1
    head = "<thead><tr><th>#</th><th>input</th><th>type</th><th>verdict</th><th>p_fake</th>"
    if several:
        head += "".join(f"<th>p_fake {_esc(n)}</th>" for n in names)
    head += "<th>faces / sampled frames</th><th>flagged</th><th>error or warning</th></tr></thead>"
    rows = []
    for number, entry in enumerate(entries, 1):
        r = entry.result
        frames = r.get("frames") or {}
        flagged = ", ".join(f'<span class="range">{s["start"]:.1f}–{s["end"]:.1f} s</span>{_esc(flagged_by(s))}'
                            for s in r.get("segments") or [])  # --model any: `` (fs)``, the detectors that did
        others = "; ".join(track_flag_text(t, r.get("threshold", 0.5), pooled(r)) for t in other_flags(r))
        flagged += _esc(("; " if flagged else "") + others) if others else ""  # a short track set aside, …
        cells = [f'<td class="num">{number}</td>',
                 f'<td class="input"><a href="#input-{number}">{_path_cell(r.get("path"))}</a></td>',
                 f"<td>{_esc(r.get('type') or '—')}</td>", f"<td>{_badge(r)}</td>",
                 f'<td class="num">{fmt_p(r.get("p_fake"), r.get("threshold"))}</td>']
        if several:
            scores = dict(detector_scores(r))
            cells += [f'<td class="num">{fmt_p(scores.get(n), r.get("threshold"))}</td>' for n in names]
        cells += [f'<td class="num">{frames.get("with_face", 0)} / {frames.get("sampled", 0)}</td>',
                  f"<td>{flagged}</td>",  # ranges (numbers) and other tracks' notes, escaped
                  f'<td class="path">{_esc(r.get("error") or warnings_text(r.get("warnings") or []))}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<section id="summary"><h2>Summary</h2><p>{_esc(" ".join(parts[:1]))} '
            f'{_esc(", ".join(parts[1:]))}.</p><table>{head}<tbody>{"".join(rows)}</tbody></table></section>')


def _section(number: int, entry: ReportEntry) -> str:
    r = entry.result
    status = r.get("status")
    out = [f'<section class="input" id="input-{number}">',
           f"<h2>{number}. {_esc(r.get('path'))}</h2>",
           _name_note(r.get("path")),
           _digest(r),
           f"<p>{_badge(r)} &nbsp;{_esc(STATUS_TEXT.get(status, str(status)))}"
           f" · type {_esc(r.get('type') or 'unknown')}"]
    if status == "ok":
        aggregation = r.get("aggregation")
        how = {"vote": " (vote: the share of frames whose p_fake is at or above the threshold",
               "confident": " (the confident rule on the frame scores",
               None: ""}.get(aggregation, f" ({_esc(aggregation)} of the frame scores")
        tracks = r.get("faces") or []
        deciding = [t for t in tracks if t.get("decides") is not False]
        if how and tracks and not deciding:  # every track too short to decide: their faces pooled
            how += f" of the faces of its {len(tracks)} face tracks, pooled: each is too short to decide"
        elif how and tracks:  # --all-faces: the input's score is its most-fake track's, not one over every face
            top = max(deciding, key=lambda t: t.get("p_fake") or 0.0)
            how += (f"{', in' if aggregation == 'vote' else ' of'} its most-fake face track, track "
                    f"{_esc(top.get('track'))}: {_esc(top.get('frames'))} frame{'s' if top.get('frames') != 1 else ''}")
        how += ")" if how else ""
        out.append(f" · p_fake <b>{fmt_p(r.get('p_fake'), r.get('threshold'))}</b>{how}, "
                   f"threshold {_esc(r.get('threshold'))}")
    out.append("</p>")
    if status == "ok":  # on the input's own page too: a printed page is read alone
        said = r.get("verdict")
        out.append('<p class="note">' + ("The detector's call, not a finding: p_fake reached the threshold. "
                   if said == "fake" else "The detector's call, not a finding: p_fake stayed under the threshold, "
                   "which does not show that the input is authentic. ")
                   + "Weigh it by the detector's measured error rates (in the header above).</p>")
    if status == "error":
        out.append(f'<p class="errmsg">{_esc(r.get("error") or "unknown error")}</p>'
                   "<p class=\"note\">This input could not be read, so it has no score: a failure is never "
                   "shown as a verdict.</p></section>")
        return "".join(out)
    frames = r.get("frames") or {}
    out.append(f"<p class=\"meta\">{frames.get('sampled', 0)} sampled frame(s), "
               f"{frames.get('with_face', 0)} with a face.</p>")
    changed = [w for w in r.get("warnings") or [] if w.startswith(CHANGED)]
    damage = [w for w in r.get("warnings") or [] if is_damage(w)]
    notes = [w for w in ranked_warnings(r.get("warnings") or []) if not w.startswith(CHANGED) and not is_damage(w)]
    if changed:
        out.append('<p class="errmsg">Warning: the file changed while it was scanned; its sha256 may not be of the '
                   "bytes judged.</p><ul>" + "".join(f"<li>{_esc(w)}</li>" for w in changed) + "</ul>")
    if damage:
        out.append('<p class="errmsg">Warning: the video is damaged; its score rests on the frames that could be '
                   "decoded.</p><ul>" + "".join(f"<li>{_esc(w)}</li>" for w in damage) + "</ul>")
    out.extend(f'<p class="note">Note: {_esc(w)}</p>' for w in notes)
    image = r.get("type") == "image"
    if status == "no_face":
        where = "in the image" if image else "in any sampled frame"
        out.append(f"<p class=\"note\">No face was found {where}, so there is no score: "
                   f"{'an image' if image else 'a clip'} without a face is not called real.</p>")
    if status == "ok":
        threshold = float(r.get("threshold", 0.5))
        rows = "".join(
            f"<tr><td>{_esc(name)}</td><td class=\"num\">{fmt_p(p, threshold)}</td><td>"
            f"{'fired (≥ threshold)' if p is not None and verdict(p, threshold) == 'fake' else 'below threshold'}"
            "</td></tr>"
            for name, p in detector_scores(r))
        out.append(f"<h3>p_fake per detector</h3><table><thead><tr><th>detector</th><th>p_fake</th><th></th></tr>"
                   f"</thead><tbody>{rows}</tbody></table>")
        tracks = r.get("faces") or []
        if tracks:
            rows = "".join(f"<tr><td>{t['track']}</td><td>{_badge(t | {'status': 'ok'})}</td>"
                           f"<td class=\"num\">{fmt_p(t['p_fake'])}</td><td class=\"num\">{t['frames']}</td>"
                           f"<td>{_esc(box_text(t.get('box')) or '—')}</td>"
                           f"<td>{'no: too short' if t.get('decides') is False else 'yes'}</td></tr>"
                           for t in tracks)
            out.append("<h3>Face tracks</h3><table><thead><tr><th>track</th><th>verdict</th><th>p_fake</th>"
                       f"<th>frames</th><th>where in the frame (pixels)</th><th>decides</th></tr></thead>"
                       f"<tbody>{rows}</tbody></table>")
    if entry.timeline:
        out.append(f"<h3>Timeline</h3><figure>{_img(entry.timeline, 'p_fake over time for ' + str(r.get('path')))}"
                   "<figcaption>p_fake of each sampled frame (dots; several face tracks: each its own colour, marker "
                   "and line style), its moving average (line), the threshold "
                   "(dashed), flagged time ranges (shaded), frames with no face (grey ticks below 0)."
                   "</figcaption></figure>")
    segments = r.get("segments") or []
    if status == "ok" and r.get("type") == "video":
        others = other_flags(r)  # --all-faces: another person called fake or flagged, a short track set aside too
        # every track too short: the verdict pools their faces, so it rests on each of them (none is left out)
        together = pooled(r)
        if segments:
            items = "".join(f"<li>{s['start']:.2f}–{s['end']:.2f} s: {s['frames']} sampled frame(s)"
                            f"{_ends(s, entry.sampled_frames)}, smoothed p_fake mean {fmt_p(s['p_fake_mean'])}, "
                            f"max {fmt_p(s['p_fake_max'])}{_by(s)}</li>" for s in segments)
            out.append(f"<h3>Flagged time ranges</h3><ul>{items}</ul>")
        elif others:
            out.append("<h3>Flagged time ranges</h3><p>None on the "
                       f"{'faces pooled' if together else 'track the verdict rests on'}.</p>")
        else:
            out.append("<h3>Flagged time ranges</h3><p>None: the smoothed p_fake stays under the threshold.</p>")
        if others:
            items = "".join(f"<li>{_esc(track_flag_text(t, r.get('threshold', 0.5), together))}</li>"
                            for t in others)
            title, why = (("Face tracks", "their faces are pooled with the others, where their own scores and ranges "
                           "are diluted") if together else ("Other face tracks", "the verdict does not rest on them"))
            out.append(f"<p><b>{title} called fake or flagged</b> ({why}: look at them too):</p><ul>{items}</ul>")
    if entry.no_face and not image:  # an image is one frame: its time says nothing
        times = [t for _, t in entry.no_face]
        out.append(f"<h3>Frames with no face</h3><p>{len(times)} of {frames.get('sampled', len(times))} sampled "
                   f"frames: {_esc(_ranges(times, entry.sampled_times))}.</p>")
    if entry.faces:
        out.append("<h3>Where the network looked</h3>"
                   "<p class=\"note\">Left: the aligned 256×256 crop the network scored. Right: the same crop "
                   "with its Grad-CAM heatmap (viridis colour scale: yellow, the lightest also in a greyscale "
                   "printout, = strongest evidence) for the class "
                   f"the network decided for that face. {_esc(MAP_LIMITS)}</p>")
        for group in ("most fake", "most real"):
            faces = [face for face in entry.faces if face.group == group]
            if group == "most real":  # stored most fake first, as the --explain files; shown most real first
                faces.reverse()
            if not faces:
                continue
            label = GROUP_LABELS[group]
            title = f"The {len(faces)} face{'s' if len(faces) != 1 else ''} with the {label}"
            only = image and len(entry.faces) == 1
            if only:
                title = "The face"
            out.append(f'<h4>{_esc(title)}</h4><div class="faces">')
            for rank, face in enumerate(faces, 1):
                alt = f"{face.caption} · map: evidence for {face.target}"  # written in the panel itself
                caption = "" if only else f"<figcaption>{_esc(label)} #{rank}</figcaption>"
                out.append(f"<figure>{_face_img(face, alt)}{caption}</figure>")
            out.append("</div>")
    out.append("</section>")
    return "".join(out)


def _ends(segment: dict[str, Any], sampled: Sequence[tuple[int, float]]) -> str:
    """The numbers of a flagged range's first and last sampled frames (``frame`` in ``scores``: ffmpeg's
    ``select=eq(n\\,N)`` gives the very frame), so that an examiner points at them; empty when unknown."""
    inside = [number for number, time in sampled if segment["start"] <= time <= segment["end"]]
    if not inside:
        return ""
    return f" (frame {inside[0]})" if len(inside) == 1 else f" (the first frame {inside[0]}, the last {inside[-1]})"


def media_text(media: dict[str, Any] | None) -> str:
    """A row's ``media`` in words: ``2,313,570 bytes; video stream h264, 640×480, 25 fps, 30.04 s``; empty when
    unknown (an error, a row of an earlier version)."""
    if not media or media.get("bytes") is None:
        return ""
    words = [f"{media['bytes']:,} bytes"]
    if "codec" in media:
        stream = [str(media.get("codec") or "codec unknown"), f"{media.get('width')}×{media.get('height')}"]
        stream.append(f"{media['fps']:g} fps" if media.get("fps") else "frame rate unknown")
        stream.append(f"{media['duration']:.2f} s" if media.get("duration") else "length unknown")
        words.append("video stream " + ", ".join(stream))
    return "; ".join(words)


def _digest(r: dict[str, Any]) -> str:
    """The input file's SHA-256 in full, under its path (or why there is none), its size and video stream (what
    the file is, for an examiner to check it against), and when its scan finished."""
    when = f" · scanned {_esc(r['scanned_at'])}" if r.get("scanned_at") else ""
    what = media_text(r.get("media"))
    when = f" · {_esc(what)}{when}" if what else when
    if r.get("sha256"):
        return f'<p class="meta">sha256 <code class="sha256">{_esc(r["sha256"])}</code>{when}</p>'
    why = "the input could not be read" if r.get("status") == "error" else "not computed (--no-hash)"
    return f'<p class="meta">sha256: none, {why}{when}</p>'


def page_title(entries: Sequence[ReportEntry], created: str) -> str:
    """What the page is about, as a browser tab and a printed PDF's page header show it: the single input's file
    name, or how many inputs, and the day the report was made (``clip.mp4 · mesocli scan report, 2026-12-07``)."""
    if len(entries) == 1:
        path = str(entries[0].result.get("path"))
        subject = os.path.basename(path.rstrip("/")) or path
    else:
        subject = f"{len(entries)} inputs"
    return f"{subject} · mesocli scan report, {created[:10]}"


def render_html(entries: Sequence[ReportEntry], meta: dict[str, Any] | None = None) -> str:
    """The whole report as one HTML document (see the module docstring)."""
    return "".join(html_parts(entries, meta))


def html_parts(entries: Sequence[ReportEntry], meta: dict[str, Any] | None = None) -> Iterator[str]:
    """The report's document in parts (head and summary, one section per input, end) to write one after another:
    part by part, a report of thousands of inputs (hundreds of MB of images) is never held whole in memory."""
    from mesocli import __version__
    from mesocli.provenance import code_digest

    meta = dict(meta or {})
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = "".join(f"<li>{_esc(k)}: {_esc(v)}</li>" for k, v in meta.items())
    head = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(page_title(entries, created))}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>mesocli scan report</h1>",
        f'<p class="meta">mesocli {_esc(__version__)} (code {_esc(code_digest())}) · {_esc(created)}. Every score is '
        "<b>p_fake</b>, the "
        "network's score that a face is forged, from 0 (real) to 1: it ranks faces but is not a calibrated "
        "probability; a verdict is <i>fake</i> when p_fake ≥ the threshold. A verdict of <i>real</i> means only "
        "that p_fake stayed under it, not that the input is authentic: a detector misses forgery methods it was "
        "not trained on (its model card, <code>mesocli models</code>, lists what it was trained and tested on).",
        f" {_esc(UNSEEN)}</p>",
        f'<ul class="meta">{lines}</ul></header>' if lines else "</header>",
        _summary(entries),
    ]
    parts = itertools.chain(["\n".join(head) + "\n"],
                            (_section(number, entry) + "\n" for number, entry in enumerate(entries, 1)),
                            ["</body></html>\n"])
    # a file name that is not UTF-8 (its bytes kept as surrogates, as os.fsdecode keeps them) is shown with the
    # escape the JSON output uses, ``caf\\udce9.mp4``: the page is UTF-8 (writing it failed after the scan)
    return (part.encode("utf-8", "backslashreplace").decode("utf-8") for part in parts)
