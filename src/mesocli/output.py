"""Writers for scan results, one per format; each takes result dicts (``ScanResult.to_dict()``).

``json``  one JSON document, a list, written as results arrive (``[`` first, ``]`` on close);
``jsonl`` one compact object per line, flushed as each input finishes (for ``| jq``);
``csv``   one row per input, nested values (faces, segments) as compact JSON in their cell;
``table`` a rich table for people, printed when the scan is over.
"""

from __future__ import annotations

import csv
import json
from typing import IO, Any, Protocol

FORMATS = ("table", "json", "jsonl", "csv")
CSV_COLUMNS = (
    "path", "type", "status", "error", "p_fake", "verdict", "threshold", "aggregation",
    "model_arch", "model_name", "model_weights_sha256", "frames_sampled", "frames_with_face",
    "faces", "segments", "seconds",
)


class Writer(Protocol):
    def write(self, result: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class JsonlWriter:
    """One object per line, flushed at once."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, result: dict[str, Any]) -> None:
        self.stream.write(_compact(result) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class JsonWriter:
    """A JSON list, streamed item by item; valid JSON only once closed."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.count = 0

    def write(self, result: dict[str, Any]) -> None:
        text = json.dumps(result, indent=2, ensure_ascii=False)
        self.stream.write(("[\n" if self.count == 0 else ",\n") + text)
        self.stream.flush()
        self.count += 1

    def close(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


def csv_row(result: dict[str, Any]) -> dict[str, Any]:
    """The flat CSV row of a result: model and frames split into columns, lists as JSON text."""
    model = result.get("model") or {}
    frames = result.get("frames") or {}
    row = {key: result.get(key) for key in CSV_COLUMNS}
    row.update(
        model_arch=model.get("arch"), model_name=model.get("name"),
        model_weights_sha256=model.get("weights_sha256"),
        frames_sampled=frames.get("sampled"), frames_with_face=frames.get("with_face"),
        faces=None if result.get("faces") is None else _compact(result["faces"]),
        segments=_compact(result.get("segments") or []),
    )
    return {key: "" if value is None else value for key, value in row.items()}


class CsvWriter:
    """A header, then one row per input (empty cell for null)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, lineterminator="\n")
        self.writer.writeheader()

    def write(self, result: dict[str, Any]) -> None:
        self.writer.writerow(csv_row(result))
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class TableWriter:
    """A rich table (path, verdict, p_fake, frames with a face / sampled, status) and a summary line."""

    def __init__(self, stream: IO[str], color: bool | None = None) -> None:
        self.stream = stream
        self.color = color
        self.rows: list[dict[str, Any]] = []

    def write(self, result: dict[str, Any]) -> None:
        self.rows.append(result)

    def close(self) -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        # on a terminal rows fold to its width; in a file or pipe paths are never cut
        longest = max([0] + [len(row["path"]) + len(row.get("error") or "") for row in self.rows])
        width = None if terminal else max(100, longest + 50)
        console = Console(file=self.stream, width=width, no_color=self.color is False, highlight=False)

        table = Table(show_edge=False, pad_edge=False)
        table.add_column("path", overflow="fold")
        table.add_column("verdict")
        table.add_column("p_fake", justify="right")
        table.add_column("frames", justify="right")
        table.add_column("status", overflow="fold")
        with_detectors = any(row.get("detectors") for row in self.rows)  # --model any
        if with_detectors:
            table.add_column("detectors (p_fake)")
        counts: dict[str, int] = {}
        for row in self.rows:
            verdict = row.get("verdict")
            label = row["status"] if verdict is None else verdict
            counts[label] = counts.get(label, 0) + 1
            style = {"fake": "bold red", "real": "green"}.get(verdict or "", "yellow")
            frames = row.get("frames") or {}
            error = row.get("error") or ""
            if error.startswith(row["path"] + ": "):  # the path is in the first column already
                error = error[len(row["path"]) + 2 :]
            status = f"error: {error}" if error else row["status"].replace("_", " ")
            cells = [
                escape(row["path"]),
                f"[{style}]{verdict or '-'}[/]",
                "-" if row.get("p_fake") is None else f"{row['p_fake']:.3f}",
                f"{frames.get('with_face', 0)}/{frames.get('sampled', 0)}",
                escape(status),
            ]
            if with_detectors:
                detectors = row.get("detectors") or {}
                cells.append(" ".join(f"{name} {item['p_fake']:.3f}" for name, item in detectors.items()) or "-")
            table.add_row(*cells)
        console.print(table)
        order = ("fake", "real", "no_face", "error")
        summary = ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in order if k in counts)
        console.print(f"{len(self.rows)} input{'s' if len(self.rows) != 1 else ''}: {summary or 'none'}")


def make_writer(fmt: str, stream: IO[str], color: bool | None = None) -> Writer:
    """The writer for ``fmt`` (one of :data:`FORMATS`) on ``stream``."""
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream)
    if fmt == "table":
        return TableWriter(stream, color)
    raise ValueError(f"unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")


def format_for(path_name: str | None, stdout_is_tty: bool) -> str:
    """The default format: by ``--output``'s suffix, else a table on a terminal and JSON Lines in a pipe."""
    if path_name is not None:
        lowered = path_name.lower()
        for suffix, fmt in ((".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "json"), (".csv", "csv")):
            if lowered.endswith(suffix):
                return fmt
        return "jsonl"
    return "table" if stdout_is_tty else "jsonl"


class ScanProgress:
    """Progress bars on stderr (one per input being read, and a count of inputs done); a no-op when off.

    Use as a context manager and pass :meth:`hook` to :func:`mesocli.scan.scan_inputs`; it is called
    from the scan's producer thread (rich's Progress is thread-safe).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        self.overall: Any = None

    def __enter__(self) -> ScanProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}", style="cyan"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True,
            )
            self.progress.start()
            self.overall = self.progress.add_task("inputs done", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def hook(self, event: str, path: str, total: int | None) -> None:
        if self.progress is None:
            return
        if event == "start":
            name = path if len(path) <= 40 else "…" + path[-39:]
            self.tasks[path] = self.progress.add_task(name, total=total)
        elif event == "frame" and path in self.tasks:
            self.progress.advance(self.tasks[path])
        elif event == "done":
            task = self.tasks.pop(path, None)
            if task is not None:
                self.progress.remove_task(task)
            self.progress.advance(self.overall)
