"""Writers of results: scan rows in four formats, eval's table, CSV and ROC plot, the model cards'
listing, and the rules every output file follows (exists: refused unless forced).

Scan writers take result dicts (``ScanResult.to_dict()``):

``json``  one JSON document, a list, written as results arrive (``[`` first, ``]`` on close);
``jsonl`` one compact object per line, flushed as each input finishes (for ``| jq``);
``csv``   one row per input, nested values (faces, segments, detectors, scores, warnings) as compact JSON
          in their cell, a list cut where a spreadsheet would cut it (32,767 characters), saying so;
``table`` a rich table for people, printed when the scan is over (or stopped: of the inputs done, then a line
          saying so), in input order, then (for more than one input) a "needs a look" list of the inputs called
          fake, most fake first, of those called real whose timeline is flagged in part, of those that failed, and
          of those in which no face was found.
"""

from __future__ import annotations

import csv
import errno
import functools
import json
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from mesocli.errors import ParameterError, check_known, json_escape, printable, short_repr
from mesocli.fsutil import atomic_path, is_stream

if TYPE_CHECKING:
    from mesocli.evaluate import EvalReport

FORMATS = ("table", "json", "jsonl", "csv")
REPORT_FORMATS = ("table", "json")
"""Formats of ``eval`` and ``models``: a table for people, or one JSON document."""
SCORES_COLUMNS = ("path", "label", "video", "p_fake", "verdict")
COMPARED_COLUMN = "p_fake_compared"  # eval --compare's model, after any p_fake_<detector> column
EXISTS = "{value}: exists; pass {force} to replace it"
CSV_COLUMNS = (
    "path", "sha256", "type", "status", "error", "p_fake", "verdict", "threshold", "aggregation",
    "model_arch", "model_name", "model_weights_sha256", "frames_sampled", "frames_with_face",
    "faces", "segments", "seconds", "detectors", "warnings", "scores", "settings", "scanned_at", "file_size",
    "file_mtime_ns",
)
"""The header of ``scan --format csv``: the last two are the JSON ``file`` key, in every CSV (JSON has it only with
``--resume``), empty for an input that is not a regular file."""


def console(**settings: Any) -> Any:
    """A rich Console for mesocli's output (``settings``: rich's). A reader that went away (``| head``) raises
    BrokenPipeError, which the CLI turns into exit status 141 (rich itself exits with status 1: "fake" for
    ``scan --fail-on-fake``); a terminal width of 0 (``COLUMNS=0``, which rich takes as is and prints
    nothing) is the usual 80."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    made = _Console(**settings)
    if made.width < 1:
        made.width = 80
    return made


def needed_width(renderable: Any, whole: bool = False) -> int:
    """The fewest columns ``renderable`` (a rich Table) takes without cutting a cell short or leaving one out;
    ``whole``: without folding any cell either (its natural width)."""
    from rich.console import Console

    measured = Console(width=1 << 16).measure(renderable)
    return measured.maximum if whole else measured.minimum


class Writer(Protocol):
    def write(self, result: dict[str, Any]) -> None: ...

    def close(self) -> None: ...

    def stop(self, why: str) -> None:
        """The scan stopped before its end (``why``: ``Ctrl-C``, ``SIGTERM``, ``an error``): leave a whole document
        of the rows written so far (JSON: the list closed; a table: of the inputs done, then a line saying that the
        scan was stopped and how many inputs it did not scan)."""


def _compact(value: Any) -> str:
    return json_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def json_text(text: str) -> str:
    """JSON text with its invisible characters as ``\\u`` escapes (the same JSON value): a line or paragraph
    separator (U+2028, U+2029, U+0085) in a name split a row for ``str.splitlines()``, and a right-to-left override
    or a zero-width space made a row read otherwise on a terminal. Newlines (the layout; JSON escapes those in
    strings) and undecodable bytes (surrogates: the stream writes them) are left as they are."""
    if text.replace("\n", "").isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" or "\ud800" <= c <= "\udfff" else json_escape(c) for c in text)


class JsonlWriter:
    """One object per line, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, result: dict[str, Any]) -> None:
        self.stream.write(_compact(result) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def stop(self, why: str) -> None:
        self.close()


class JsonWriter:
    """A JSON list, streamed item by item; valid JSON only once closed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.count = 0
        self.closed = False

    def write(self, result: dict[str, Any]) -> None:
        text = json_text(json.dumps(result, indent=2, ensure_ascii=False))
        self.stream.write(("[\n" if self.count == 0 else ",\n") + text)
        self.stream.flush()
        self.count += 1

    def close(self) -> None:
        if not self.closed:  # once: a stop after the close (the report, written last, failed) adds nothing
            self.closed = True
            self.stream.write("[]\n" if self.count == 0 else "\n]\n")
            self.stream.flush()

    def stop(self, why: str) -> None:
        self.close()


def weights_digests(model: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every weights file behind a JSON ``model`` object, as (name, sha256): its own hash, else those of its
    ``detectors`` (``--model any``) and ``networks`` (``--arch ensemble``; ``df.meso4`` inside ``any``)."""
    if model.get("weights_sha256"):
        return [(prefix.rstrip(".") or str(model.get("name")), model["weights_sha256"])]
    found = []
    for key in ("detectors", "networks"):
        for name, member in (model.get(key) or {}).items():
            found += weights_digests(member, f"{prefix}{name}.")
    return found


def model_label(model: dict[str, Any], legacy: bool = False) -> str:
    """One line naming a model and its weights: ``meso4_df (meso4, sha256 d7b09a477023)``, or each file's
    short hash for ``--model any`` / ``--arch ensemble``."""
    if model.get("weights_sha256"):
        hashes = f"sha256 {model['weights_sha256'][:12]}"
    else:
        hashes = "sha256 " + ", ".join(f"{name} {digest[:12]}" for name, digest in weights_digests(model))
    origin = ", the authors' legacy file" if legacy else ""
    return f"{model.get('name')} ({model.get('arch')}{origin}, {hashes})"


CELL_LIMIT = 32_767
"""The most characters a spreadsheet cell holds (Excel, LibreOffice): a longer one is cut, or split over the next
cells, and the sheet no longer lines up."""
_CUT = " (+{more} more, cut: a spreadsheet cell holds 32,767 characters; --format jsonl has them all)"


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _units(text: str) -> int:
    """The length of ``text`` as a spreadsheet counts it: UTF-16 code units (a character beyond U+FFFF, an emoji in
    a file name, counts twice), a file name's byte that is not UTF-8 (a lone surrogate) counted as the escape an
    ``--output`` file and a UTF-8 standard output write for it (``\\udce9``: 6)."""
    lone = sum(1 for _ in _LONE_SURROGATE.finditer(text))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2 + 5 * lone


def list_cell(items: list[Any], column: str, path: object, log: Callable[[str], None] | None = None) -> str:
    """A list as the compact JSON text of a CSV cell, at most :data:`CELL_LIMIT` characters: where the whole list
    is longer (``--detail`` of a long video), the items that fit, then ``(+N more, cut: …)``, which no JSON reader
    takes for the whole list; ``log`` is told."""
    parts = [_compact(item) for item in items]
    text = "[" + ",".join(parts) + "]"
    if _units(text) <= CELL_LIMIT:
        return text
    kept, length = 0, 2 + _units(_CUT.format(more=len(parts)))
    while kept < len(parts) and length + _units(parts[kept]) + (kept > 0) <= CELL_LIMIT:
        length += _units(parts[kept]) + (kept > 0)
        kept += 1
    if log is not None:
        log(f"mesocli: {path}: its {column} cell holds {kept} of {len(parts)} items, what a spreadsheet cell holds "
            "(32,767 characters): --format jsonl has them all")
    return "[" + ",".join(parts[:kept]) + "]" + _CUT.format(more=len(parts) - kept)


def csv_row(result: dict[str, Any], log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The flat CSV row of a result: model and frames split into columns, lists as JSON text (each cell at most
    :data:`CELL_LIMIT` characters, :func:`list_cell`; ``log`` hears of a cut one)."""
    path = printable(str(result.get("path")))
    model = result.get("model") or {}
    frames = result.get("frames") or {}
    row = {key: result.get(key) for key in CSV_COLUMNS}
    row.update(
        model_arch=model.get("arch"), model_name=model.get("name"),
        model_weights_sha256=model.get("weights_sha256")
        or " ".join(f"{name}={digest}" for name, digest in weights_digests(model)) or None,
        frames_sampled=frames.get("sampled"), frames_with_face=frames.get("with_face"),
        faces=None if result.get("faces") is None else list_cell(result["faces"], "faces", path, log),
        segments=list_cell(result.get("segments") or [], "segments", path, log),
        detectors=None if result.get("detectors") is None
        else _compact({name: item["p_fake"] for name, item in result["detectors"].items()}),
        warnings=list_cell(result["warnings"], "warnings", path, log) if result.get("warnings") else None,
        scores=None if result.get("scores") is None else list_cell(result["scores"], "scores", path, log),
        settings=None if result.get("settings") is None else _compact(result["settings"]),
        file_size=(result.get("file") or {}).get("size"), file_mtime_ns=(result.get("file") or {}).get("mtime_ns"),
    )
    return {key: "" if value is None else spreadsheet_safe(value) for key, value in row.items()}


_READ_BACK = ("path", "sha256", "type", "status", "verdict", "threshold", "aggregation", "model_arch", "model_name",
              "model_weights_sha256", "faces", "settings", "file_size", "file_mtime_ns")


def csv_result(cells: dict[str, str]) -> dict[str, Any]:
    """What a resume reads of a row of :func:`csv_row` (``cells``: by :data:`CSV_COLUMNS`), as the JSON row holds
    it: path, status, verdict, sha256, the ``file`` key and what made the verdict (:func:`mesocli.resume.row_settings`).
    Raises KeyError (its name) for an empty path or status cell, ValueError (why, in words) for a cell that is not of
    its kind (a size that is not a whole number)."""
    text = {key: spreadsheet_text(cells[key]) for key in _READ_BACK}
    digests = text["model_weights_sha256"]
    model: dict[str, Any] = {"name": text["model_name"] or None, "arch": text["model_arch"] or None}
    if "=" in digests:  # --model any, --arch ensemble: name=sha256 pairs, as weights_digests names them
        model["detectors"] = {name: {"weights_sha256": digest}
                              for name, _, digest in (pair.partition("=") for pair in digests.split())}
    else:
        model["weights_sha256"] = digests or None
    row: dict[str, Any] = {
        "path": text["path"], "sha256": text["sha256"] or None, "type": text["type"] or None,
        "status": text["status"] or None, "verdict": text["verdict"] or None,
        "aggregation": text["aggregation"] or None,
        "model": model if any(model.values()) else {}, "faces": [] if text["faces"] else None,
        "settings": _cell(json.loads, text, "settings", "JSON") if text["settings"] else None,
    }
    if not row["path"] or not row["status"]:
        raise KeyError("path" if not row["path"] else "status")
    if text["threshold"]:
        row["threshold"] = _cell(float, text, "threshold", "a number")
    row["file"] = None  # empty cells: not a regular file (missing), matched only by an input that still is not one
    if text["file_size"] or text["file_mtime_ns"]:
        row["file"] = {"size": _cell(int, text, "file_size", "a whole number"),
                       "mtime_ns": _cell(int, text, "file_mtime_ns", "a whole number")}
    return row


def _cell(read: Callable[[str], Any], text: dict[str, str], column: str, kind: str) -> Any:
    """``read`` of the ``column`` cell, or ValueError: it is not ``kind``."""
    try:
        return read(text[column])
    except ValueError:
        raise ValueError(f"its {column} cell is not {kind}: {short_repr(text[column])}") from None


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""A text cell starting with one of these may be run as a formula by a spreadsheet: OWASP's CSV injection list
(``=``, ``+``, ``-``, ``@``, a tab, a carriage return, a line feed) and the full-width ``＝``, ``＋``, ``－``, ``＠``
(U+FF1D, U+FF0B, U+FF0D, U+FF20), which a spreadsheet may take for ``=``, ``+``, ``-``, ``@``: escaped as a
precaution."""


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet will not run: text starting with one of :data:`FORMULA_STARTS` (a file named
    ``=HYPERLINK(…).mp4`` or ``＝HYPERLINK(…).mp4``) gets a leading ``'``, and so does text starting with ``'`` (a
    file really named ``'=x.mp4`` is ``''=x.mp4``, not the cell of ``=x.mp4``): one rule gives the text back,
    :func:`spreadsheet_text`. Numbers as they are."""
    return f"'{value}" if isinstance(value, str) and value[:1] in (*FORMULA_STARTS, "'") else value


def spreadsheet_text(cell: str) -> str:
    """The text of a CSV cell written by :func:`spreadsheet_safe`: the first ``'`` dropped where the cell starts
    with ``'`` then one of :data:`FORMULA_STARTS` or ``'``."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in (*FORMULA_STARTS, "'") else cell


CSV_LINE_END = "\n"
"""How every CSV mesocli writes (``scan --format csv``, ``eval --scores``, ``train``'s ``log.csv``) ends a record:
a line feed, as line tools (``grep``, ``cut``, ``awk``, ``wc -l``, a shell's ``read``) and every CSV reader take it
(Python's :mod:`csv`, pandas, R, Excel, LibreOffice); RFC 4180's ``\r\n`` left a ``\r`` in the last cell for the
line tools. A cell holding a line feed or a carriage return is quoted."""


class _RecordEnds:
    """A stream that ends each CSV record with :data:`CSV_LINE_END`: :mod:`csv` quotes a cell holding a character
    of its line terminator only, so records are made with ``\r\n`` (a name's lone carriage return is quoted: it
    split the row for every reader) and written with ``\n``. ``csv`` writes a record in one call."""

    def __init__(self, stream: IO[str], line_end: str = CSV_LINE_END) -> None:
        self.stream = stream
        self.line_end = line_end

    def write(self, text: str) -> int:
        return self.stream.write(text[:-2] + self.line_end if text.endswith("\r\n") else text)


def csv_writer(stream: IO[str], fieldnames: Sequence[str] | None = None, line_end: str = CSV_LINE_END) -> Any:
    """A :mod:`csv` writer on ``stream`` (opened with ``newline=""``) that ends records with ``line_end``
    (:data:`CSV_LINE_END`): a ``csv.DictWriter`` of ``fieldnames``, else a ``csv.writer``."""
    if fieldnames is not None:
        return csv.DictWriter(_RecordEnds(stream, line_end), fieldnames=fieldnames, lineterminator="\r\n")
    return csv.writer(_RecordEnds(stream, line_end), lineterminator="\r\n")


class CsvWriter:
    """A header (unless ``header`` is false: rows appended to a scan's CSV), then one row per input (empty cell for
    null; ``log`` hears of a cell cut to a spreadsheet's limit), each ended by ``line_end``; ``bom``: a byte-order mark
    before the header (``--csv-bom``: Excel on Windows then reads the file as UTF-8)."""

    def __init__(self, stream: IO[str], log: Callable[[str], None] | None = None, header: bool = True,
                 line_end: str = CSV_LINE_END, bom: bool = False) -> None:
        self.stream = stream
        self.log = log
        self.writer = csv_writer(stream, CSV_COLUMNS, line_end)
        if header and bom:  # (a file appended to keeps what it starts with)
            stream.write(BOM)
        if header:
            self.writer.writeheader()

    def write(self, result: dict[str, Any]) -> None:
        self.writer.writerow(csv_row(result, self.log))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def stop(self, why: str) -> None:
        self.close()


BOM = "\ufeff"
"""The byte-order mark (EF BB BF in UTF-8) ``--csv-bom`` starts a CSV with: Excel on Windows reads a CSV without one
in its ANSI code page (``é`` as ``Ã©``); Python's ``csv``, pandas' default and ``cut`` read it as part of the first
header (``\ufeffpath``), hence not by default."""


LOOK_LIMIT = 10
"""The most inputs of each kind (called fake, failed, no face found) the table's "needs a look" list names; the rest
are counted (``… and 37 more called fake``): the table above lists every input."""


def field_list(names: Sequence[str], rows: Sequence[Sequence[Any]], skip_empty: bool = False) -> Any:
    """``rows`` of a table whose columns are ``names`` as a list, for a terminal too narrow for the table: one row
    after another (a blank line between two), a line a field: its name (bold), then its value, which folds over
    lines (none is cut, as a table's cell too narrow for it is: ``0.9…``). ``skip_empty``: a field without a
    value is left out."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold", ratio=1)  # (a list made as wide as the terminal: the values take the room)
    for number, cells in enumerate(rows):
        if number:
            grid.add_row("", "")
        for name, cell in zip(names, cells, strict=True):
            if not (skip_empty and not str(cell).strip()):
                grid.add_row(name, cell)
    return grid


def fitted(table: Any, width: int) -> Any:
    """``table`` (a rich Table) as it is, or where ``width`` columns are too few for it without cutting a cell,
    as a :func:`field_list` (its title and caption kept, each heading on one line, empty cells left out): a
    terminal narrower than a table wraps its lines, which then read as no table. Other renderables as they are."""
    from rich.table import Table

    if not isinstance(table, Table) or needed_width(table) <= width:
        return table
    names = [" ".join(str(column.header).split()) for column in table.columns]
    rows = [[list(column.cells)[number] for column in table.columns] for number in range(table.row_count)]
    listed = field_list(names, rows, skip_empty=True)
    listed.title, listed.title_justify, listed.title_style = table.title, "left", "bold"
    listed.caption, listed.caption_justify = table.caption, "left"
    listed.expand = True  # the terminal's width: the caption not wrapped to the narrow list's
    return listed


class TableWriter:
    """A rich table (path, verdict, p_fake, frames with a face / sampled, the flagged time ranges when a row has
    one, status; with ``--all-faces`` the track each verdict rests on, with ``--model any`` each detector's p_fake),
    in input order, then what its verdicts are weighed by (:func:`rates_lines`); for more than one input a "needs a
    look" list of those called fake (most fake first), those called real but flagged in part, those that failed
    and those in which no face was found (:func:`look_lines`); and a summary line, last. ``planned``: how many
    inputs the scan has (None: not known, paths on stdin), said when it is stopped (:meth:`stop`); ``resumable``
    false (a scan with ``--report``, which ``--resume`` does not go with): the stop line names no ``--resume``."""

    def __init__(self, stream: IO[str], color: bool | None = None, planned: int | None = None,
                 resumable: bool = True) -> None:
        self.stream = stream
        self.color = color
        self.planned = planned
        self.resumable = resumable
        self.rows: list[dict[str, Any]] = []
        self.stopped: str | None = None
        self.printed = False

    def write(self, result: dict[str, Any]) -> None:
        self.rows.append(result)

    def stop(self, why: str) -> None:
        """The table of the inputs done, then a last line: the scan was stopped (``why``) and how many inputs it did
        not scan. A moderator who stops a long run keeps the verdicts made so far on the screen."""
        if self.printed:  # the scan was over, the table out (the report, written last, failed; Ctrl-C meanwhile)
            return
        self.stopped = why
        if self.rows or why != "an error":  # an error that stops the run before any row: its line says it all
            self.close()

    def stop_line(self) -> str:
        """``stopped by Ctrl-C after 6 of 240 inputs: 234 not scanned; …``, the table's last line after a stop."""
        done = len(self.rows)
        if self.planned is None:
            count = f"{done} input{'s' if done != 1 else ''}: the rest of the list was not scanned"
        else:
            count = f"{done} of {self.planned} inputs: {self.planned - done} not scanned"
        if not self.resumable:
            return f"stopped by {self.stopped} after {count}"
        return (f"stopped by {self.stopped} after {count}; -o FILE.jsonl --resume keeps each row as it is done and "
                "goes on from there")

    def close(self) -> None:
        from rich.markup import escape
        from rich.table import Table

        from mesocli.aggregate import shown

        self.printed = True  # once: a stop after the close adds nothing
        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        # on a terminal rows fold to its width; in a file or pipe no cell is ever cut or folded
        width = None if terminal else 1 << 16
        # colour: never in a file; elsewhere as NO_COLOR says (no_color=False made rich ignore NO_COLOR)
        out = console(file=self.stream, width=width, no_color=True if self.color is False else None, highlight=False)

        # (name, whether it folds): a cell that does not fold (verdict, p_fake, frames) is never cut or folded
        columns = [("path", True), ("verdict", False), ("p_fake", False), ("frames", False)]
        # a timeline at or above the threshold: the row's, or with --all-faces any track's (a short one set aside)
        with_flagged = any(row.get("segments") or other_flags(row) for row in self.rows)
        if with_flagged:  # where in a clip (a real verdict's too: a short forged stretch the mean hides)
            columns.append(("flagged", True))
        columns.append(("status", True))
        with_tracks = any(row.get("faces") is not None for row in self.rows)  # --all-faces
        if with_tracks:
            columns.append(("verdict from", True))
        with_detectors = any(row.get("detectors") for row in self.rows)  # --model any
        if with_detectors:
            columns.append(("detectors (p_fake)", True))
        counts: dict[str, int] = {}
        rows: list[list[Any]] = []
        for row in self.rows:
            verdict = row.get("verdict")
            label = row["status"] if verdict is None else verdict
            counts[label] = counts.get(label, 0) + 1
            style = {"fake": "bold red", "real": "green"}.get(verdict or "", "yellow")
            frames = row.get("frames") or {}
            error = _error_text(row)
            status = f"error: {error}" if error else row["status"].replace("_", " ")
            if row.get("warnings"):  # the most decisive in full, the others named
                status += f" ({warnings_text(row['warnings'])})"
            cells = [
                FoldedPath(printable(row["path"])),  # folded at a '/' where it can be
                f"[{style}]{verdict or '-'}[/]",
                "-" if row.get("p_fake") is None else shown(row["p_fake"], row.get("threshold", 0.5)),
                f"{frames.get('with_face', 0)}/{frames.get('sampled', 0)}",
                *([all_flagged_text(row) or "-"] if with_flagged else []),
                escape(printable(status)),
            ]
            if with_tracks:
                cells.append(escape(verdict_source(row)))
            if with_detectors:
                detectors = row.get("detectors") or {}
                cells.append(" ".join(f"{name} {shown(item['p_fake'], row.get('threshold', 0.5))}"
                                      for name, item in detectors.items()) or "-")
            rows.append(cells)
        if self.rows or self.stopped is None:
            if _table_fits(columns, rows, out.width):
                table = Table(show_edge=False, pad_edge=False)
                for name, folds in columns:
                    table.add_column(name, justify="right" if name in ("p_fake", "frames") else "left",
                                     overflow="fold", no_wrap=not folds)
                for cells in rows:
                    table.add_row(*cells)
            else:  # a narrow terminal: one input after another, a line a field (values fold, none is cut)
                table = field_list([name.split(" (")[0] for name, _ in columns], rows)
            out.print(table)
        for line in rates_lines(self.rows):  # what the verdicts above are weighed by; the summary line stays last
            out.print(escape(printable(line)))  # (a --weights file's name, shown as the paths are)
        for line in look_lines(self.rows) if len(self.rows) > 1 else []:
            out.print(line)
        order = ("fake", "real", "no_face", "error")
        summary = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in order if k in counts)
        if self.rows or self.stopped is None:
            out.print(f"{len(self.rows)} input{'s' if len(self.rows) != 1 else ''}: {summary or 'none'}")
        if self.stopped is not None:
            from rich.text import Text

            out.print(Text(self.stop_line(), style="bold yellow"))


def _errs(counts: dict[str, Any]) -> str:
    """``real called fake 0/12 (0–25 %); missed Deepfakes 4/12 (13–61 %), Face2Face 6/6 (60–100 %)``: a table of
    :mod:`mesocli.rates` counts, each with its 95 % interval."""
    from mesocli.rates import interval_words

    def one(item: dict[str, Any]) -> str:
        return f"{item['count']}/{item['total']} ({interval_words(item['count'], item['total'])})"

    missed = ", ".join(f"{name} {one(item)}" for name, item in counts["missed"].items())
    return f"real called fake {one(counts['real_called_fake'])}; missed {missed}"


def rates_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The table's closing lines on what its verdicts are weighed by, one per detector (a row's ``error_rates``: a
    video's, per video by the scan's rule, else an image's, per face; a run of both: a second line per detector,
    per face, for the images), per manipulation's ensemble (``--model any --arch ensemble``), and for the combined
    verdict of ``--model any`` or ``--arch ensemble`` (or one saying it is not tabulated), then, where a line gives
    per-face counts, one saying what their intervals are not (:data:`mesocli.rates.FACE_INTERVALS`); none when no
    row has a verdict."""
    from mesocli.rates import FACE_INTERVALS

    video, image = (next((row["error_rates"] for row in rows if row.get("type") == kind and row.get("error_rates")),
                         None) for kind in ("video", "image"))
    rates = video or image
    if rates is None:
        return []
    lines = []
    combined = rates.get("combined")
    counted = combined is not None and "cautions" in combined  # the combined verdict's own, from per-clip scores

    def detector(name: str) -> Any:
        return lambda found: (found.get("detectors") or {}).get(name)

    def ensemble(name: str) -> Any:
        return lambda found: (found.get("ensembles") or {}).get(name)

    items = [*((name, item, detector(name)) for name, item in rates["detectors"].items()),
             *((f"the {name} ensemble of {' and '.join(item['networks'])}", item, ensemble(name))
               for name, item in (rates.get("ensembles") or {}).items()),
             *([("the combined verdict", combined, lambda found: found.get("combined"))] if counted else [])]
    per_face = False  # whether a line gives per-face counts, whose intervals take faces as independent
    for name, item, same in items:
        if item["faces"] is None:
            lines.append(f"error rates of {name}: unknown ({item['reason'].split(';')[0]}; JSON: error_rates)")
            continue
        per, counts = ("clips", item["videos"]) if item["videos"] is not None else ("faces", item["faces"])
        rule = f"{item['rule']}, " if per == "clips" else ""
        at = f"at {item['threshold']:g}" + (", the nearest measured" if item["threshold_differs"] else "")
        sampled = per == "clips" and any(  # any video's (one shorter than --frames N: its own)
            (same(row.get("error_rates") or {}) or {}).get("sampling_differs")
            for row in rows if row.get("type") == "video")
        notes = [f"measured at {item['frames_per_clip']} frames a clip"] if sampled else []
        if item.get("detector_differs"):
            notes.append(f"measured with the {item['face_detector']} face detector")
        if item["videos"] is None and item["rule"] is not None:
            notes.append(f"not measured per clip by {item['rule']}")
        where = str(item["measured_on"]).replace("FaceForensics++", "FF++")
        lines.append(f"error rates of {name} ({where} {per}, {rule}{at}): {_errs(counts)}"
                     + (f" ({'; '.join(notes)})" if notes else ""))
        per_face = per_face or per == "faces"
        if per == "clips" and image is not None and same(image) is not None:  # an image's verdict: one face's
            lines.append(f"error rates of {name} for the images ({where} faces, {at}): {_errs(item['faces'])}")
            per_face = True
    if combined and not counted:
        lines.append("error rates of the combined verdict: not tabulated, each detector's are above "
                     "(JSON: error_rates.combined)")
    if per_face:  # what a per-face interval is not
        lines.append(f"({FACE_INTERVALS})")
    return lines


PATH_MIN_WIDTH = 10
"""The narrowest path column the scan table is printed with (a path folds over lines of it); on a terminal too narrow
for it and the columns that do not fold, the table is a list: a line a field."""


FOLD_AFTER = re.compile(r"[^/]*/+|[^/]+")
"""A path's components, each with the ``/`` after it: where a folded path breaks first."""

FOLD_WITHIN = re.compile(r"[^_\-. ]+[_\-. ]*|[_\-. ]+")
"""A component's words, each with the ``_``, ``-``, ``.`` or space after it: where one too long for a line breaks."""


def fold_at_separators(text: str, width: int) -> list[str]:
    """``text`` (a path, maybe with words after it) in lines of at most ``width`` cells, broken after a ``/`` where it
    can be (a component that does not fit the rest of a line starts the next), a component too long for a line after
    a ``_``, ``-``, ``.`` or space in it, a word too long for one anywhere; joined, the lines are ``text``."""
    from rich.cells import cell_len

    width = max(1, width)
    lines = [""]

    def put(piece: str) -> None:  # a piece that fits a line: on this one, or on the next
        if lines[-1] and cell_len(lines[-1]) + cell_len(piece) > width:
            lines.append("")
        lines[-1] += piece

    for component in FOLD_AFTER.findall(text):
        if cell_len(lines[-1]) + cell_len(component) <= width or cell_len(component) <= width:
            put(component)
            continue
        for word in FOLD_WITHIN.findall(component):
            if cell_len(word) <= width:
                put(word)
                continue
            for character in word:  # (a character wider than the line goes alone on one)
                put(character)
    return lines


class FoldedPath:
    """A path for the scan table (and its "needs a look" list), folded to its column at a ``/`` rather than in the
    middle of a folder's or a file's name (:func:`fold_at_separators`); nothing of it is left out. Plain text, as
    shown: no markup."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.cells import cell_len
        from rich.measure import Measurement

        words = [word for part in FOLD_AFTER.findall(self.text) for word in FOLD_WITHIN.findall(part)] or [""]
        longest = max(cell_len(word) for word in words)
        return Measurement(min(longest, options.max_width), min(cell_len(self.text), options.max_width))

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        yield Text("\n".join(fold_at_separators(self.text, options.max_width)), overflow="fold", no_wrap=True)

    def __str__(self) -> str:
        return self.text


def _table_fits(columns: list[tuple[str, bool]], rows: list[list[Any]], width: int) -> bool:
    """Whether the scan table fits ``width`` without cutting a cell: the columns that do not fold (verdict, p_fake,
    frames) at their widest cell or heading, each other one at least as wide as its heading's longest word (the path:
    :data:`PATH_MIN_WIDTH`), with the three characters between two columns."""
    from rich.text import Text

    needed = 3 * (len(columns) - 1)
    for number, (name, folds) in enumerate(columns):
        if number == 0:
            needed += PATH_MIN_WIDTH
        elif folds:
            needed += max(len(word) for word in name.split())
        else:
            needed += max([len(name), *(Text.from_markup(cells[number]).cell_len for cells in rows)])
    return needed <= width


WARNING_KINDS = (
    (re.compile("file changed while"), "file changed"),
    (re.compile(r"\d+ face tracks? of fewer than"), "short track set aside"),
    (re.compile("no face track has"), "tracks pooled"),
    (re.compile(r"\d+ faces in view"), "faces not scored"),
    (re.compile("damaged or cut short"), "damaged"),
    (re.compile("ffmpeg: "), "ffmpeg message"),
    (re.compile("small faces"), "small faces"),
    (re.compile(r"\d+ faces? before the first upright face"), "turn not checked"),
    (re.compile("sampled (one frame every|frames up to)"), "sparse sampling"),
    (re.compile(r"\d+ video streams"), "several video streams"),
    (re.compile("no face upright; scanned turned"), "scanned turned"),
    (re.compile("animated or multi-page image"), "first frame only"),
)
"""A row's warnings, the most decisive first (how each begins, and its short name in the table): the file judged
may not be the file hashed; a person seen too briefly to decide was set aside (they may be the forged one); people
in view were not scored; the video is damaged; then what makes the verdict less sure (small faces, faces
perhaps turned, sparse sampling), then notes on how the input was read. Any other warning comes last, named ``note``."""


def _warning_kind(warning: str) -> tuple[int, str]:
    """Where ``warning`` ranks in :data:`WARNING_KINDS` and its short name."""
    for rank, (pattern, name) in enumerate(WARNING_KINDS):
        if pattern.match(warning):
            return rank, name
    return len(WARNING_KINDS), "note"


def ranked_warnings(warnings: Sequence[str]) -> list[str]:
    """``warnings`` the most decisive first (:data:`WARNING_KINDS`; a stable sort: their order within a kind)."""
    return sorted(warnings, key=lambda warning: _warning_kind(warning)[0])


def warnings_text(warnings: Sequence[str]) -> str:
    """What the table shows of a row's warnings: the most decisive in full, then the others by their short names,
    ``… ; +2 more: small faces, sparse sampling`` (each name once, ``ffmpeg message ×3``: ``--format json`` has them
    whole); "" without a warning. A row stays one line on a wide terminal and in a pipe, and none is silent."""
    if not warnings:
        return ""
    first, *rest = ranked_warnings(warnings)
    if not rest:
        return first
    names: dict[str, int] = {}
    for warning in rest:
        name = _warning_kind(warning)[1]
        names[name] = names.get(name, 0) + 1
    listed = ", ".join(name if count == 1 else f"{name} ×{count}" for name, count in names.items())
    return f"{first}; +{len(rest)} more: {listed}"


def _error_text(row: dict[str, Any]) -> str:
    """A row's error without its path in front (the path is shown beside it already); "" without an error."""
    error = row.get("error") or ""
    if error.startswith(row["path"] + ": "):
        error = error[len(row["path"]) + 2 :]
    return error


FLAGGED_SHOWN = 3
"""The most flagged time ranges the table names per input; the rest are counted (``+2 more``)."""


def flagged_text(segments: Sequence[dict[str, Any]], limit: int = FLAGGED_SHOWN) -> str:
    """A row's flagged time ranges as the report shows them, ``13.0–15.0 s, 21.5–22.0 s`` (at most ``limit``, then
    ``+N more``), with ``--model any`` each with the detectors that flagged it, ``13.0–15.0 s (fs)``; "" without
    one."""
    text = ", ".join(f"{s['start']:.1f}–{s['end']:.1f} s{flagged_by(s)}" for s in segments[:limit])
    return text + (f" +{len(segments) - limit} more" if len(segments) > limit else "")


def flagged_by(segment: dict[str, Any]) -> str:
    """`` (fs)``, `` (fs, df)``: the detectors that flagged a range (``--model any``); "" for one detector."""
    names = segment.get("detectors")
    return f" ({', '.join(str(name) for name in names)})" if names else ""


def called_fake_by(row: dict[str, Any]) -> list[str]:
    """With ``--model any``, the detectors whose own score calls a row (or a track) fake, most fake first; [] for one
    detector."""
    detectors = row.get("detectors")
    if not isinstance(detectors, dict):
        return []
    fired = [(name, value) for name, value in detectors.items()
             if isinstance(value, dict) and value.get("verdict") == "fake"]
    return [name for name, value in sorted(fired, key=lambda item: -(item[1].get("p_fake") or 0.0))]


def _deciding_track(row: dict[str, Any]) -> dict[str, Any] | None:
    """With ``--all-faces``, the track a row's verdict and ``segments`` are (its most-fake deciding one; the first on
    a tie); None without tracks, or when every track was too short and their faces were pooled."""
    deciding = [t for t in row.get("faces") or [] if t.get("decides") is not False]
    return max(deciding, key=lambda t: t.get("p_fake") or 0.0) if deciding else None


def other_flags(row: dict[str, Any]) -> list[dict[str, Any]]:
    """With ``--all-faces``, the tracks other than the verdict's (:func:`_deciding_track`) called fake or flagged in
    part: a person the row's verdict and ranges do not speak for (a short track set aside, a second person called
    fake beside a more-fake one), whom the analyst must still look at. Empty without such a track."""
    deciding = _deciding_track(row)
    return [track for track in row.get("faces") or []
            if track is not deciding and (track.get("segments") or track.get("verdict") == "fake")]


def pooled(row: dict[str, Any]) -> bool:
    """With ``--all-faces``, whether every track of a row was too short to decide, and the verdict pools their faces
    (none was set aside: the verdict rests on each)."""
    tracks = row.get("faces") or []
    return bool(tracks) and all(track.get("decides") is False for track in tracks)


def track_flag_text(track: dict[str, Any], threshold: float, pooled: bool = False) -> str:
    """``track 1 (set aside: 2 frames) 0.681, flagged 1.0–2.0 s``: one of :func:`other_flags` for people; with
    ``pooled`` (:func:`pooled`), ``(pooled: 2 frames)``; with ``--model any``, ``0.681 (fake by fs), flagged 1.0–2.0 s
    (fs)``."""
    from mesocli.aggregate import shown

    frames = track.get("frames")
    how = "pooled" if pooled else "set aside"
    aside = f" ({how}: {frames} frame{'s' if frames != 1 else ''})" if track.get("decides") is False else ""
    text = f"track {track.get('track')}{aside} {shown(track.get('p_fake') or 0.0, threshold)}"
    if by := called_fake_by(track):  # --model any: which detectors call it fake
        text += f" (fake by {', '.join(by)})"
    ranges = flagged_text(track.get("segments") or [])
    return text + (f", flagged {ranges}" if ranges else "")


def all_flagged_text(row: dict[str, Any]) -> str:
    """The table's ``flagged`` cell: the row's ranges (its verdict's track), then, with ``--all-faces``, each other
    track called fake or flagged (:func:`other_flags`), ``13.0–15.0 s; track 1 (set aside: 2 frames) 0.681, flagged
    1.0–2.0 s``; "" without any."""
    parts = [flagged_text(row.get("segments") or [])] if row.get("segments") else []
    parts += [track_flag_text(track, row.get("threshold", 0.5), pooled(row)) for track in other_flags(row)]
    return "; ".join(parts)


def look_lines(rows: Sequence[dict[str, Any]], limit: int = LOOK_LIMIT) -> list[Any]:
    """The table's "needs a look" list, to print (rich renderables, no markup: names come from the disk, their
    control characters escaped): a heading, then a grid of the inputs called fake, most fake first (input order on
    a tie), as ``fake   0.982  path``, then those called real whose timeline is flagged in part (a short forged
    stretch that the clip's mean hides), or with ``--all-faces`` one of whose other tracks is called fake or flagged
    (a short track set aside: :func:`other_flags`), most fake first, as ``real   0.369  path: flagged 13.0–15.0 s``
    or ``real   0.212  path: track 1 (set aside: 2 frames) 0.681, flagged 1.0–2.0 s``, then
    those that failed, in input order, as ``error  path: why``, then those in which no face was found, in input
    order, as ``no face  path`` (a face the detector missed may be a forged one: no verdict is no all-clear); at
    most ``limit`` of each, the rest counted (``… and 37 more called fake: the table above lists every input``). On
    a terminal a long path folds within its column. Empty when none is fake, flagged, failed or without a face."""
    from rich.table import Table
    from rich.text import Text

    from mesocli.aggregate import shown

    fakes = sorted((row for row in rows if row.get("verdict") == "fake"), key=lambda row: -(row.get("p_fake") or 0.0))
    flagged = sorted((row for row in rows
                      if row.get("verdict") == "real" and (row.get("segments") or other_flags(row))),
                     key=lambda row: -(row.get("p_fake") or 0.0))
    errors = [row for row in rows if row.get("status") == "error"]
    faceless = [row for row in rows if row.get("status") == "no_face"]
    if not fakes and not flagged and not errors and not faceless:
        return []
    kinds = [f"{len(fakes)} called fake (most fake first)"] if fakes else []
    kinds += [f"{len(flagged)} called real but flagged in part"] if flagged else []
    kinds += [f"{len(errors)} failed"] if errors else []
    kinds += [f"{len(faceless)} with no face found"] if faceless else []
    scored = bool(fakes or flagged)
    grid = Table.grid(padding=(0, 0, 0, 2), pad_edge=True)
    grid.add_column(no_wrap=True)
    if scored:
        grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")

    def add(kind: Text | str, score: str, text: str) -> None:
        grid.add_row(kind, *([score] if scored else []), FoldedPath(text))  # folded at a '/' where it can be

    for row in fakes[:limit]:
        by = called_fake_by(row)  # --model any: which detectors, most fake first
        add(Text("fake", style="bold red"), shown(row["p_fake"], row.get("threshold", 0.5)),
            printable(row["path"]) + (f": called fake by {', '.join(by)}" if by else ""))
    if len(fakes) > limit:
        add("", "", f"… and {len(fakes) - limit} more called fake: the table above lists every input")
    for row in flagged[:limit]:
        tracks = "; ".join(track_flag_text(track, row.get("threshold", 0.5), pooled(row))
                           for track in other_flags(row))
        ranges = f"flagged {flagged_text(row['segments'])}" if row.get("segments") else ""
        add(Text("real", style="green"), shown(row["p_fake"], row.get("threshold", 0.5)),
            printable(row["path"]) + ": " + "; ".join(part for part in (ranges, tracks) if part))
    if len(flagged) > limit:
        add("", "", f"… and {len(flagged) - limit} more flagged in part: the table above lists every input")
    for row in errors[:limit]:
        why = _error_text(row)
        add(Text("error", style="yellow"), "", printable(row["path"] + (f": {why}" if why else "")))
    if len(errors) > limit:
        add("", "", f"… and {len(errors) - limit} more failed: the table above lists every input")
    for row in faceless[:limit]:
        add(Text("no face", style="yellow"), "", printable(row["path"]))
    if len(faceless) > limit:
        add("", "", f"… and {len(faceless) - limit} more with no face found: the table above lists every input")
    return [Text("needs a look: " + ", ".join(kinds), style="bold"), grid]


def verdict_source(row: dict[str, Any]) -> str:
    """With ``--all-faces``, the track a row's verdict rests on (its most-fake one of those that decide), its
    frames and, when there are several, how many and where it is: ``track 2, 6 frames (of 3 tracks) at x 1006–1089,
    y 113–196``; ``30 tracks pooled`` when every track was too short to decide; an image's faces: ``face 1 (of 2
    faces) at …``; ``-`` without a track."""
    from mesocli.producer import box_text

    tracks = row.get("faces") or []
    if not tracks:
        return "-"
    deciding = [t for t in tracks if t.get("decides") is not False]  # rows of earlier versions: every track
    if not deciding:  # every track too short: their faces pooled
        return f"{len(tracks)} tracks pooled"
    top = max(deciding, key=lambda t: t.get("p_fake") or 0.0)  # the input's score (the first on a tie)
    if row.get("type") == "image":
        text, unit = f"face {top.get('track')}", "faces"
    else:
        frames = top.get("frames")
        text, unit = f"track {top.get('track')}, {frames} frame{'s' if frames != 1 else ''}", "tracks"
    text += f" (of {len(tracks)} {unit})" if len(tracks) > 1 else ""
    return text + (f" at {box_text(top.get('box'))}" if len(tracks) > 1 and top.get("box") else "")


def refuse_existing(target: Path | str | None, force: bool, template: str = EXISTS, **values: object) -> None:
    """The rule of every output: a file that exists is replaced only with ``force`` (else ParameterError,
    from ``template``: ``{value}`` is the path). A stream (``/dev/stdout``, a named pipe) is no such file."""
    if target is not None and Path(target).exists() and not force and not is_stream(target):
        raise ParameterError(template, value=target, **values)


def refuse_inputs_as_outputs(inputs: Iterable[str | Path], outputs: Iterable[Path | None],
                             folders: Sequence[Path] = ()) -> None:
    """The rule of every output: it never replaces one of the ``inputs`` (the evidence being read; under any name:
    a hard link to one) nor is
    written inside one of the ``folders`` being read (a dataset's class folders); else ParameterError."""
    targets = [(target, Path(target).resolve()) for target in outputs if target is not None]
    if not targets:  # nothing written to files: no path of an archive to resolve
        return
    from mesocli.inputs import inode

    inputs = list(inputs)
    read = {Path(item).resolve() for item in inputs}
    files = {found for target, _ in targets if (found := inode(target)) is not None}  # an output there already
    linked = {found for item in inputs if (found := inode(item)) in files} if files else set()  # a hard link to it
    for target, real in targets:
        inside = next((folder for folder in folders if real.is_relative_to(Path(folder).resolve())), None)
        if real in read or inode(target) in linked or (inside is not None and real.exists()):
            raise ParameterError("{value}: an output cannot be one of the inputs", value=target)
        if inside is not None:
            raise ParameterError("{value}: an output cannot be written inside {folder}, whose files are inputs",
                                 value=target, folder=inside)


def make_writer(fmt: str, stream: IO[str], color: bool | None = None,
                log: Callable[[str], None] | None = None, csv_form: tuple[bool, str] = (True, CSV_LINE_END),
                planned: int | None = None, bom: bool = False) -> Writer:
    """The writer for ``fmt`` (one of :data:`FORMATS`) on ``stream``; ``log``: notes (a CSV cell cut short);
    ``csv_form``: whether a CSV starts with its header, and its line end (rows appended to a CSV: as it has them);
    ``planned``: how many inputs the scan has, which a table stopped before its end says (None: not known); ``bom``:
    a CSV's header starts with a byte-order mark."""
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream, log, *csv_form, bom=bom)
    if fmt == "table":
        return TableWriter(stream, color, planned)
    raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")


OTHER_DOCUMENTS = {
    **dict.fromkeys((".html", ".htm"), "for the HTML report give {report} {value}"),
    **dict.fromkeys((".xlsx", ".xls", ".ods", ".numbers"), "a .csv file opens in a spreadsheet"),
}
"""Suffixes of documents that scan's ``--output`` does not write (JSON Lines under that name was taken for a
damaged file), and what to give instead."""


NOT_A_REPORT = {
    **dict.fromkeys((".csv", ".json", ".jsonl", ".ndjson"), "for the rows in this format give {output} {value}"),
    **dict.fromkeys((".xlsx", ".xls", ".ods", ".numbers"), "for rows in a spreadsheet give {output} FILE.csv"),
}
"""Suffixes of documents that scan's ``--report`` (an HTML page) does not write (an HTML page under a .csv name was
opened as a broken spreadsheet), and what to give instead."""


REPORT_SUFFIXES = (".html", ".htm")
"""The names ``--report`` takes (in any case: ``.HTML`` too; browsers and file managers open those as HTML)."""


def html_name(path: Path) -> Path:
    """``path`` named as an HTML page: ``r.tsv``: ``r.html``; ``r``: ``r.html``; a suffix that is no file kind kept,
    ``case.v2``: ``case.v2.html``; a folder (``.`` too) a page in it, ``out/report.html``; a bare ``.html``:
    ``report.html``."""
    if path.name.lower() in REPORT_SUFFIXES:  # (``"$case.html"`` with ``$case`` empty)
        return path.with_name("report.html")
    if not path.name or path.is_dir():  # no name to put a suffix on (``.``, ``/``), or a folder to put it in
        return path / "report.html"
    kind = path.suffix[1:]
    return path.with_suffix(".html") if kind.isalpha() else path.with_name(path.name + ".html")


def not_a_report(path: Path) -> str | None:
    """None when ``path`` is named as the HTML report (``.html``/``.htm``, any case), else what follows "name it
    .html" in the refusal: what to give instead of a document of rows (``; for the rows … {output} {value}``), or
    the same name as a page (``, e.g. r.html``); part of a ParameterError template: ``{output}`` names scan's
    output parameter, ``{value}`` the path."""
    suffix = path.suffix.lower()
    if suffix in REPORT_SUFFIXES:
        return None
    if (rows := NOT_A_REPORT.get(suffix)) is not None:
        return "; " + rows
    # a page under another name (.tsv, .txt, .pdf, none): opened as text, or by no program at all
    page = ", e.g. " + str(html_name(path)).replace("{", "{{").replace("}", "}}")
    return page + " (a browser prints it to PDF)" if suffix == ".pdf" else page


def other_document(path: Path) -> str | None:
    """What to give instead when ``path``'s suffix names a document that is not JSON Lines, JSON or CSV (part of
    a ParameterError template: ``{report}`` names the parameter, ``{value}`` the path)."""
    return OTHER_DOCUMENTS.get(path.suffix.lower())


def format_for(path_name: str | None, stdout_is_tty: bool) -> str:
    """The default format: by ``--output``'s suffix, else a table on a terminal and JSON Lines in a pipe."""
    if path_name is not None:
        lowered = path_name.lower()
        for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
            if lowered.endswith(suffix):
                return fmt
        return "jsonl"
    return "table" if stdout_is_tty else "jsonl"


# --------------------------------------------------------------------------------------------------
# eval


# what matplotlib writes without an outside program (pgf needs LaTeX; plot_roc turns usetex off)
PLOT_FORMATS = ("png", "jpg", "jpeg", "pdf", "svg", "svgz", "eps", "ps", "tif", "tiff", "webp", "avif", "gif",
                "raw", "rgba")


def check_plot_format(target: Path) -> None:
    """Raise ParameterError unless matplotlib writes ``target``'s extension by itself (not pgf: LaTeX)."""
    from PIL import features

    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    with their_deprecations(*MATPLOTLIB):
        from matplotlib.backend_bases import FigureCanvasBase

    supported = FigureCanvasBase.get_supported_filetypes()
    formats = [f for f in PLOT_FORMATS if f in supported and (f not in ("webp", "avif") or features.check(f))]
    if Path(target).suffix.lower().lstrip(".") not in formats:
        raise ParameterError("{value}: {plot} needs one of the extensions .{choices}", value=target,
                             choices=", .".join(sorted(formats)))


def write_scores(report: EvalReport, target: Path, *, replace: bool = True) -> None:
    """Per-image CSV (path relative to the dataset root, label, video id, p_fake, verdict, with ``--model any``
    each detector's ``p_fake_<name>``, and with ``--compare`` the compared model's ``p_fake_compared``),
    atomically (``replace``: as :func:`atomic_path`)."""
    from mesocli.aggregate import verdict

    detectors = list(report.p_fake_by_detector)
    series = [report.p_fake_by_detector[name] for name in detectors]
    columns = [f"p_fake_{name}" for name in detectors]
    if report.compared_p_fake is not None:  # eval --compare: the other model's score of the same face
        series.append(report.compared_p_fake)
        columns.append(COMPARED_COLUMN)
    rows = zip(report.paths, report.labels_is_fake, report.video_ids, report.p_fake, *series, strict=True)
    # a file name that is not UTF-8 is written with a \udce9-style escape rather than failing
    with atomic_path(Path(target), suffix=".csv", replace=replace) as tmp, open(
        tmp, "w", newline="", encoding="utf-8", errors="backslashreplace"
    ) as out:
        writer = csv_writer(out)
        writer.writerow([*SCORES_COLUMNS, *columns])
        for path, fake, vid, p, *by_detector in rows:
            writer.writerow([spreadsheet_safe(path), "df" if fake else "real", spreadsheet_safe(vid or ""), f"{p:.6f}",
                             verdict(p, report.threshold),
                             *(f"{value:.6f}" for value in by_detector)])


def plot_roc(report: EvalReport, target: Path, *, replace: bool = True) -> None:
    """:func:`roc_figure` written to ``target`` (the format by its suffix), atomically (``replace``: as
    :func:`atomic_path`)."""
    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    with their_deprecations(*MATPLOTLIB):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.usetex": False, "ps.usedistiller": None}):  # no LaTeX, no ghostscript
        fig = roc_figure(report)
        suffix = Path(target).suffix
        try:
            with atomic_path(Path(target), suffix=suffix, replace=replace) as tmp:
                # "tight": whatever the layout left outside the figure (a long legend) is in the file
                fig.savefig(tmp, dpi=110, format=suffix.lstrip(".").lower() or None, bbox_inches="tight")
        finally:
            plt.close(fig)


def roc_figure(report: EvalReport) -> Any:
    """The ``eval --plot`` figure (pyplot, Agg; the caller closes it): the ROC curve (positive = fake) with the
    operating point at the report's threshold and the EER point, and beside it the reliability diagram of its
    calibration. When the fakes sit in method folders, each method's curve (its fakes against every real image,
    :func:`mesocli.evaluate.roc_curves`) is drawn beside the overall one, which is drawn thicker, in black. With
    ``eval --compare``, the compared model's overall curve too (dashed, grey)."""
    from mesocli.evaluate import compared_curve, roc_curves, subset_note
    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    with their_deprecations(*MATPLOTLIB):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

    overall, *by_method = roc_curves(report)
    compared = compared_curve(report)  # eval --compare: the other model, every fake

    def wrapped(label: str) -> str:  # a weights file's long name broken too: the legend stays within the figure
        return textwrap.fill(label, 56, break_on_hyphens=False)

    compared_label = "" if compared is None else wrapped(
        f"--compare {_literal(report.comparison['model']['name'])}: all {compared.fakes} fakes "
        f"(AUC {compared.auc:.3f})")
    name = _literal(report.model["name"])
    overall_label = (f"{name}: all {overall.fakes} fakes (AUC {overall.auc:.3f})" if by_method
                     else f"{name} (AUC {overall.auc:.3f})")
    c = report.confusion
    op_fpr, op_tpr = c["fp"] / (c["fp"] + c["tn"]), c["tp"] / (c["tp"] + c["fn"])
    # the legend below the ROC panel with method folders or --compare (a curve may run anywhere, and --compare's
    # entry is too wide for the panel's corner): taller by it (its title and a row per two entries) and a subset's
    # suptitle
    below = bool(by_method) or compared is not None
    if below:
        overall_label = wrapped(overall_label)
    rows = (len(by_method) + 5 + overall_label.count("\n") + (compared_label.count("\n") + 1 if compared else 0)
            ) // 2 + 1 if below else 0
    height = 5 + (0.3 + 0.2 * rows + (0.35 if report.data.get("subset") else 0) if below else 0)
    fig, (ax, reliability) = plt.subplots(1, 2, figsize=(10, height))
    if by_method:  # the overall curve first in the legend and on top, the methods' in the default colour cycle
        ax.plot(overall.fpr, overall.tpr, lw=2.2, color="black", zorder=2.5, label=overall_label)
        for index, curve in enumerate(by_method):
            ax.plot(curve.fpr, curve.tpr, lw=1.2, color=f"C{index % 10}", ls="-" if index < 10 else "--",
                    label=f"{_literal(curve.method or '')}: {curve.fakes} fakes (AUC {curve.auc:.3f})")
    else:
        ax.plot(overall.fpr, overall.tpr, lw=1.5, label=overall_label)
    if compared is not None:
        ax.plot(compared.fpr, compared.tpr, lw=1.5, ls="--", color="dimgrey", zorder=2.4, label=compared_label)
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey", label="chance")
    ax.plot([0, 1], [1, 0], ls=":", lw=0.8, color="grey")
    # not clipped: a point on the frame (nothing called fake: (0, 0)) is drawn whole, not a quarter of it
    ax.scatter([report.eer], [1 - report.eer], marker="x", color="black", zorder=3, clip_on=False,
               label=f"EER {report.eer:.3f}")
    ax.scatter([op_fpr], [op_tpr], color="red", zorder=3, clip_on=False,
               label=f"p_fake ≥ {report.threshold:g}: acc {report.accuracy:.3f}")
    split = report.data["split"] or Path(report.data["root"]).name
    drawn = report.data.get("subset")
    size = (f"subset: {drawn['images']} of {drawn['of_images']} images" if drawn
            else f"{report.data['images']} images")
    ax.set(xlabel="false positive rate (real called fake)", ylabel="true positive rate (fake called fake)",
           title=f"ROC on {_literal(split)} ({size})", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    if below:  # below the panel: a method's or the compared model's curve may run anywhere, under the chance line too
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8, title_fontsize=8,
                  title=f"each against all {report.data['real']} reals; EER and operating point: all fakes")
    else:
        ax.legend(loc="lower right", fontsize=8)
    _plot_reliability(reliability, report)
    if drawn:  # over both panels: a subset's figure is never taken for the whole split's
        fig.suptitle(_literal(f"subset: {subset_note(drawn)}, not the whole split"), fontsize=10, color="firebrick")
    if below:  # both panels at the top of their cells, the legend in the room below (tight_layout is not
        ax.set_anchor("N")  # aware of the equal aspect: centred, the legend ran off a figure with a suptitle)
        reliability.set_anchor("N")
    fig.tight_layout()
    return fig


def _literal(name: str) -> str:
    """A name (a folder, a weights file) as matplotlib shows it as it is: its ``$`` are not mathtext delimiters,
    its control characters escaped (:func:`printable`)."""
    return printable(name).replace("$", r"\$")


def _plot_reliability(ax: Any, report: EvalReport) -> None:
    """The reliability diagram of ``report.calibration``: share of fakes against mean p_fake per bin."""
    bins = (report.calibration or {}).get("bins", [])
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey", label="calibrated")
    ax.bar([(b["range"][0] + b["range"][1]) / 2 for b in bins], [b["fake_share"] for b in bins],
           width=[0.9 * (b["range"][1] - b["range"][0]) for b in bins], alpha=0.35, label="share of fakes per bin")
    ax.plot([b["mean_p_fake"] for b in bins], [b["fake_share"] for b in bins], marker="o", lw=1.2,
            label=f"ECE {report.calibration['ece']:.3f}" if report.calibration else None)
    over_bins = ax.get_xaxis_transform()  # x in data, y in axes: a row above the plot, clear of curve and legend
    for b in bins:
        ax.text((b["range"][0] + b["range"][1]) / 2, 1.01, str(b["faces"]), transform=over_bins, ha="center",
                va="bottom", fontsize=7, color="dimgrey")
    ax.set(xlabel="p_fake (mean of the bin)", ylabel="share of fakes", xlim=(0, 1), ylim=(0, 1.05))
    ax.set_title("Calibration (faces per bin above)", pad=14)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)


def _interval(intervals: dict[str, Any] | None, key: str) -> str:
    """``0.912–0.961`` for ``key`` of an ``intervals`` dict, ``1.000 on every resample`` for one of width 0 (its
    rule :data:`mesocli.evaluate.WIDTH_0`: not a certainty), or "" when there is none."""
    bounds = (intervals or {}).get(key)
    if bounds and ((intervals or {}).get("rules") or {}).get(key) == "bootstrap-width-0":
        return f"{round(bounds[0], 3) + 0.0:.3f} on every resample"  # + 0.0: -1e-17 shows as 0.000
    return f"{bounds[0]:.3f}–{bounds[1]:.3f}" if bounds else ""


def _difference_interval(item: dict[str, Any]) -> str:
    """The interval cell of a paired difference of ``eval --compare``: ``+0.002 to +0.025``, ``+0.0000 on every
    resample`` for one of width 0 (its ``rule``; reports of earlier versions have none), "" without one."""
    low_high = item["interval"]
    if low_high is None:
        return ""
    if item.get("rule") == "bootstrap-width-0":
        return f"{round(low_high[0], 4) + 0.0:+.4f} on every resample"  # + 0.0: -1e-17 shows as +0.0000
    return f"{low_high[0]:+.4f} to {low_high[1]:+.4f}"


def _resize_note(resize: Any, comparison: dict[str, Any] | None, origin: str | None = None) -> str:
    """The eval table's note on the resize of face crops not 256×256 (the weights' own; per member where a set's or
    ensemble's differ): where it was taken from (``origin``; a report of an earlier version has none), and the
    compared model's."""
    from mesocli.weights import describe_resize

    # nearest: a card that asks for it (train --resize nearest: the bundled df detectors), or the authors' files
    note = (f"of crops not 256×256: from {origin}" if origin and not isinstance(resize, dict)
            else "of crops not 256×256: the weights' own (model card; the authors' Keras loader's for their original "
                 "files)" if resize == "nearest"
            else "of crops not 256×256: each network's own (model cards)" if isinstance(resize, dict)
            else "of crops not 256×256: the weights' own (model card)")
    other = (comparison or {}).get("resize")
    if other and other != resize:
        note += f"; {comparison['model']['name']}: {describe_resize(other)}"  # type: ignore[index]
    return note


def _resize_text(resize: Any) -> str:
    """The eval table's resize cell: the one resize, or each member's (``df nearest, f2f bilinear``)."""
    from mesocli.weights import describe_resize

    return describe_resize(resize)


def _extract_cells(made: dict[str, Any]) -> tuple[str, str, str]:
    """The eval table's ``extracted`` row (``data.extract``): the alignment rule of the crops, and in its note the
    mesocli that extracted them and the settings that decide them (``mesocli 1.4.0, hog, every 10 frames, one face,
    JPEG 95``), or why the manifest could not be read."""
    settings = made.get("settings") or {}
    if not settings:
        return "unknown", "", made.get("note") or "no settings in its manifest"
    frames = settings.get("frames") or {}
    parts = [f"mesocli {made.get('mesocli') or '?'}", f"detector {settings.get('detector', '?')}",
             f"frames {frames.get('mode', '?')} {frames.get('value', '?')}",
             "all faces" if settings.get("all_faces") else "one face"]
    if settings.get("jpeg_quality") is not None:
        parts.append(f"JPEG {settings['jpeg_quality']}")
    if made.get("earlier"):
        parts.append("resumed by other software")
    return str(settings.get("alignment") or "?"), "", ", ".join(parts)


def eval_table(report: EvalReport) -> Any:
    """An eval report as a rich Table (with a 95 % interval column when the report has intervals). Every cell is
    text, not rich markup, its control characters escaped: folder and file names (the dataset's root, its
    method folders, the weights) come from the disk."""
    from rich.table import Table

    from mesocli.evaluate import NOTE_SEPARATOR, subset_note
    from mesocli.metrics import threshold_text

    data, c, ci = report.data, report.confusion, report.intervals
    split = data["split"] or "(single split)"
    title = f"{report.model['name']} ({report.model['arch']}) on {data['root']} {split}"
    table = Table(title=_plain_text(title), show_header=True, title_justify="left")
    table.add_column("metric", overflow="fold")  # a long method folder name whole, over lines
    table.add_column("value", justify="right")
    if ci is not None:
        table.add_column("95 % interval", justify="right")
    table.add_column("note", style="dim", overflow="fold")
    rows = [
        ("images", f"{data['images']}", "", f"df {data['df']}, real {data['real']}, skipped {data['skipped']}"),
        *([("subset", f"{drawn['images']} of {drawn['of_images']}", "", f"{subset_note(drawn)}: not the whole "
            "split")] if (drawn := data.get("subset")) else []),
        *([("extracted", *_extract_cells(made))] if (made := data.get("extract")) else []),
        *([("resize", _resize_text(resize), "", _resize_note(resize, report.comparison,
                                                             (report.provenance or {}).get("resize_from")))]
          if (resize := (report.provenance or {}).get("resize")) else []),
        ("accuracy", f"{report.accuracy:.4f}", _interval(ci, "accuracy"), f"fake when p_fake ≥ {report.threshold:g}"),
        ("accuracy df", f"{report.accuracy_df:.4f}", _interval(ci, "accuracy_df"), "fakes called fake"),
        ("accuracy real", f"{report.accuracy_real:.4f}", _interval(ci, "accuracy_real"), "reals called real"),
        ("AUC", f"{report.auc:.4f}", _interval(ci, "auc"), "ROC, positive = fake"),
        ("EER", f"{report.eer:.4f}", _interval(ci, "eer"), "equal error rate"),
        ("EER threshold", threshold_text(report.eer_threshold, report.p_fake), "",
         "FPR nearest FNR: fake when p_fake ≥ it"),
        ("average precision", f"{report.average_precision:.4f}", "", "positive = fake"),
        ("confusion", f"tp {c['tp']} fn {c['fn']}", "", f"fp {c['fp']} tn {c['tn']} (positive = fake)"),
        ("best threshold", threshold_text(report.best_threshold, report.p_fake), "",
         f"accuracy {report.best_accuracy:.4f}"),
    ]
    if report.calibration is not None:
        cal = report.calibration
        rows.append(("ECE", f"{cal['ece']:.4f}", "",
                     f"calibration error (0: p_fake = share of fakes among faces so scored); Brier {cal['brier']:.4f}"))
    if report.video is not None:
        video = report.video
        grouped = "frames grouped by <video>_<frame> names"
        if "min_track_frames" in video:  # an extract --all-faces dataset: the rule that decides by its face tracks
            least = video["min_track_frames"]
            grouped += (f"; a video's face tracks of {least} crop{'s' * (least != 1)} or more decide "
                        "(--min-track-frames)")
        rows += [
            ("videos", f"{video['videos']}", "", grouped),
            ("video accuracy (mean)", f"{video['accuracy_mean']:.4f}", _interval(ci, "video_accuracy_mean"),
             "mean p_fake ≥ threshold"),
            ("video accuracy (vote)", f"{video['accuracy_vote']:.4f}", _interval(ci, "video_accuracy_vote"),
             "share of frames fake ≥ threshold"),
        ]
        if video.get("auc_mean") is not None:
            rows.append(("video AUC (mean)", f"{video['auc_mean']:.4f}", _interval(ci, "video_auc_mean"),
                         "videos ranked by mean p_fake"))
    for title, groups in (("method", report.methods), ("detector", report.detectors)):
        for name, item in (groups or {}).items():
            video = item.get("video")
            note = f"acc {item['accuracy']:.4f} (df {item['accuracy_df']:.4f}, real {item['accuracy_real']:.4f})"
            if video is not None:
                note += f", video {video['accuracy_mean']:.4f}"
            rows.append((f"{title} {name}: AUC", f"{item['auc']:.4f}", _interval(item.get("intervals"), "auc"), note))
    if (compared := report.comparison) is not None:
        other = compared["model"]["name"]
        for key, label in (("accuracy", "accuracy"), ("auc", "AUC"), ("eer", "EER")):
            item = compared[key]
            low_high = item["interval"]
            shown = _difference_interval(item)
            rows.append((f"{label} minus {other}", f"{item['difference']:+.4f}", shown,
                         f"{item['this']:.4f} against {item['other']:.4f}; paired, "
                         + (f"by {compared['unit']}" if low_high is not None else compared.get("note", ""))
                         + ("; lower is better" if key == "eer" else "")))
        if (paired := compared.get("video")) is not None:  # both models' videos grouped by the same rule
            least = paired.get("min_track_frames")
            rule = f"; tracks of {least} crop{'s' * (least != 1)} or more decide" if least is not None else ""
            for key, how in (("accuracy_mean", "mean"), ("accuracy_vote", "vote")):
                if (item := paired.get(key)) is None or (key == "accuracy_vote" and "interval" not in item):
                    continue  # (reports of earlier versions: the mean's row alone, without an interval)
                by = ("; paired, by video" if item.get("interval") is not None else
                      f"; paired, {paired['note']}" if "interval" in item and paired.get("note") else "")
                rows.append((f"video accuracy ({how}) minus {other}", f"{item['difference']:+.4f}",
                             _difference_interval(item) if "interval" in item else "",
                             f"{item['this']:.4f} against {item['other']:.4f} ({paired['videos']} videos{rule}){by}"))
            if (item := paired.get("auc_mean")) is not None:  # absent from reports of earlier versions
                low_high = item["interval"]
                rows.append((f"video AUC (mean) minus {other}", f"{item['difference']:+.4f}",
                             _difference_interval(item),
                             f"{item['this']:.4f} against {item['other']:.4f}; paired, "
                             + ("by video" if low_high is not None else paired.get("note", ""))))
        for name, item in (compared.get("methods") or {}).items():  # each method's fakes against every real
            low_high = item["auc"]["interval"]
            rows.append((f"method {name}: AUC minus {other}", f"{item['auc']['difference']:+.4f}",
                         _difference_interval(item["auc"]),
                         f"{item['auc']['this']:.4f} against {item['auc']['other']:.4f}; paired, "
                         + (f"by {item['unit']}" if low_high is not None else item.get("note", ""))))
    rows.append(("speed", f"{report.images_per_second:.1f} img/s", "", f"{report.seconds:.1f} s"))
    if ci is not None:
        wilson = "; video accuracy: Wilson" if report.video is not None else ""  # no video rows: no rule to name
        rows.append(("intervals", f"{ci['resamples']}", "", f"bootstrap resamples of the {ci['unit']}s of each "
                     f"class{wilson}"))
        # each part of the note on a row of its own: the table keeps the width its longest cell needs
        rows.extend(("", "", "", part) for part in (ci.get("note") or "").split(NOTE_SEPARATOR) if part)
    for metric, value, interval, note in rows:
        cells = (metric, value, *([interval] if ci is not None else []), note)
        table.add_row(*(_plain_text(cell) for cell in cells))
    return table


def _plain_text(text: str) -> Any:
    """``text`` as a rich Text shown as it is (no markup), its control characters escaped (:func:`printable`)."""
    from rich.text import Text

    return Text(printable(text))


def eval_view(report: EvalReport, fmt: str) -> Any:
    """What ``eval`` prints: the report as indented JSON text, or as a rich Table."""
    return json.dumps(report.to_dict(), indent=2) if fmt == "json" else eval_table(report)


# --------------------------------------------------------------------------------------------------
# models


def models_view(fmt: str, width: int = 80) -> str | list[Any]:
    """What ``models`` prints: the bundled model cards as JSON text, or rich Tables (one, or where it is
    wider than ``width`` columns and they are not, the validation and the FaceForensics++ figures apart) and a
    line naming the detectors without bundled weights."""
    from mesocli.weights import MANIPULATIONS, bundled_cards, bundled_dir

    cards = bundled_cards()
    if fmt == "json":  # each card with its file's absolute path (for train --init-weights, scan --weights)
        folder = bundled_dir().resolve()
        return json.dumps([{**card.as_dict(), "path": str(folder / card.weights_file)} for card in cards], indent=2)
    check_known("fmt", fmt, REPORT_FORMATS)
    ffpp_methods = {"DF": "Deepfakes", "F2F": "Face2Face", "FS": "FaceSwap"}
    columns: dict[str, Callable[[Any], str]] = {
        "val\nacc": lambda card: _figure(card.metrics.get("validation", {}).get("accuracy")),
        "val\nAUC": lambda card: _figure(card.metrics.get("validation", {}).get("auc")),
        "val\nvideo": lambda card: _figure((card.metrics.get("validation", {}).get("video") or {})
                                           .get("accuracy_mean")),
        **{f"FF++\n{short}": functools.partial(_ffpp_auc, method=method) for short, method in ffpp_methods.items()},
        "best\nepoch": lambda card: str(card.epochs or ("soup" if "soup" in card.metrics else "")),
        "sha256": lambda card: card.sha256[:6],
    }
    val_legend = "val: MesoNet validation split (accuracy, AUC, video accuracy)"
    ffpp_legend = "FF++: AUC on FaceForensics++ test faces per method (Deepfakes, Face2Face, FaceSwap)"
    soup_legend = "soup: a weight average of epochs (its card lists them)"
    nearest = [card.name or card.weights_file for card in cards if card.resize == "nearest"]
    if nearest:  # how eval and scan --detector none resize a crop for them (train --resize nearest)
        soup_legend += ("; resize of crops not 256×256 (eval, scan --detector none): nearest for "
                        f"{', '.join(nearest)}; bilinear for the others")
    tables = [_cards_table(cards, "Bundled weights", columns, f"{val_legend}; {ffpp_legend}; {soup_legend}")]
    if needed_width(tables[0]) > width:  # too narrow: rich would crop the right columns
        ffpp = [name for name in columns if name.startswith("FF++")]
        halves = [
            _cards_table(cards, "Bundled weights", {k: v for k, v in columns.items() if k not in ffpp},
                         f"{val_legend}; {soup_legend}"),
            _cards_table(cards, "FaceForensics++ test figures", {k: columns[k] for k in ffpp}, ffpp_legend),
        ]
        if all(needed_width(half) <= width for half in halves):  # else one table (a terminal lists it: a card once)
            tables = halves
    bundled = {(card.arch, card.manipulation) for card in cards}
    missing = [f"{a}/{m}" for a in ("meso4", "mesoinception4") for m in MANIPULATIONS if (a, m) not in bundled]
    if not missing:
        return tables
    return [*tables, f"No bundled weights for: {', '.join(missing)}; use --weights PATH (e.g. the authors' .h5 files)."]


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _ffpp_auc(card: Any, method: str) -> str:
    return _figure(((card.metrics.get("ffpp_test", {}).get("methods") or {}).get(method) or {}).get("auc"))


def _cards_table(cards: list[Any], title: str, columns: dict[str, Callable[[Any], str]], caption: str) -> Any:
    """One row per model card: its network and detector, then ``columns`` (header → cell of a card)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
                  caption=caption, caption_justify="left")
    table.add_column("arch", no_wrap=True)
    table.add_column("model", no_wrap=True)
    for header in columns:
        table.add_column(header, no_wrap=True, justify="left" if header == "sha256" else "right", min_width=5)
    for card in cards:
        table.add_row(card.arch, card.manipulation, *(cell(card) for cell in columns.values()))
    return table
