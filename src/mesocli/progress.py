"""Progress on stderr: rich bars for work done per input (scan, extract), tqdm counters for loops over
images or batches (eval, dataset decoding, training), and notes. Every bar is a no-op when it is
turned off."""

from __future__ import annotations

import os
import sys
from typing import Any

from mesocli.errors import printable


def note(text: str) -> None:
    """Print a line on stderr (the default ``log`` of the commands' library functions), its control characters
    escaped (:func:`mesocli.errors.printable`): a folder or file name in it reaches no terminal raw."""
    print(printable(text), file=sys.stderr, flush=True)


class InputBars:
    """Rich bars on stderr: a count of the inputs done, and one bar per input being worked on, each with the time
    elapsed and, where its total is known, the time left (``eta 00:42``; ``eta --:--`` until it has a pace).

    Use as a context manager; the bars vanish when it ends (``transient``). Safe to call from
    another thread (rich's Progress is thread-safe).
    """

    def __init__(self, enabled: bool, title: str, total: int | None = None, style: str = "none") -> None:
        self._bars: Any = None
        self._tasks: dict[object, Any] = {}
        self._finished: set[object] = set()  # done before their start arrived (events from worker processes)
        self._read: set[object] = set()  # bars removed when the input was read, their rows not yet out
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            # the time left (``eta 01:12``) where a bar's total is known; none where it is not (paths on stdin)
            self._bars = Progress(TextColumn("{task.description}", style=style), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), TextColumn("[progress.remaining]{task.fields[eta]}"),
                                  TimeRemainingColumn(compact=True), console=Console(stderr=True), transient=True)
            self._overall = self._bars.add_task(title, total=total, eta="eta" if total else "")

    @property
    def enabled(self) -> bool:
        return self._bars is not None

    def __enter__(self) -> InputBars:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def start(self, key: object, label: str, total: int | None) -> None:
        """A bar for one input (``total`` steps, or None when unknown); ``label`` is shown as it is. An input
        started again (extracted again after its worker died) gets a new bar in place of its old one."""
        if self._bars is not None and key in self._finished:  # its start came late: no bar for a finished input
            self._finished.discard(key)
        elif self._bars is not None:
            from rich.markup import escape

            if key in self._tasks:
                self._bars.remove_task(self._tasks.pop(key))
            self._tasks[key] = self._bars.add_task(escape(printable(label)), total=total, eta="eta" if total else "")

    def advance(self, key: object, steps: int = 1) -> None:
        if self._bars is not None and key in self._tasks:
            self._bars.advance(self._tasks[key], steps)

    def read(self, key: object) -> None:
        """Remove the input's bar: it is read, its row is yet to come (it is counted at :meth:`done`)."""
        if self._bars is not None and key in self._tasks:
            self._bars.remove_task(self._tasks.pop(key))
            self._read.add(key)

    def done(self, key: object) -> None:
        """Remove the input's bar and count it done."""
        if self._bars is None:
            return
        if key in self._tasks:
            self._bars.remove_task(self._tasks.pop(key))
        elif key in self._read:
            self._read.discard(key)
        else:
            self._finished.add(key)
        self._bars.advance(self._overall)


class ScanProgress(InputBars):
    """The scan's bars; pass :meth:`hook` to :func:`mesocli.scan.scan_inputs` (a ``ProgressHook``)."""

    def __init__(self, enabled: bool, total: int | None = None) -> None:
        super().__init__(enabled, "inputs done", total, style="cyan")

    def hook(self, event: str, path: str, total: int | None) -> None:
        if event == "start":
            self.start(path, path if len(path) <= 40 else "…" + path[-39:], total)
        elif event == "frame":
            self.advance(path)
        elif event == "read":
            self.read(path)
        elif event == "done":
            self.done(path)


class ExtractProgress(InputBars):
    """The bars of ``extract``: its jobs report ``(number, event, value)``, ``start`` with the frames
    expected, ``frame`` with the frames done since."""

    def __init__(self, enabled: bool, jobs: list[Any]) -> None:
        super().__init__(enabled and bool(jobs), "inputs", total=len(jobs))
        self._names = {job.number: job.name for job in jobs}

    def report(self, number: int, event: str, value: int) -> None:
        if event == "start":
            self.start(number, f"  {self._names.get(number, str(number))[:30]}", value or None)
        elif event == "frame":
            self.advance(number, value)


def counter(total: int, *, desc: str, unit: str, enabled: bool, **options: Any) -> Any:
    """A tqdm counter on stderr (disabled when not ``enabled``); ``options`` go to tqdm. On a terminal that says it
    has 0 columns and lines (a pseudo-terminal whose size nobody set: ``script``, ``docker exec -t``), as wide as
    ``COLUMNS`` (or 80), as rich's bars are: tqdm drew it nowhere (-1 wide, on line -1), then ended it with a
    newline, a blank line."""
    from tqdm import tqdm

    if enabled:
        options = {**_unsized_terminal(), **options}
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, **options)


def _unsized_terminal() -> dict[str, int]:
    """tqdm's ``ncols`` and ``nrows`` where stderr is a terminal that says 0 (``COLUMNS``, ``LINES``, else 80 by
    24); none where it tells its size (tqdm reads it), or is no terminal."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # not a terminal, or no file descriptor (a test's capture)
        return {}
    shape = {}
    for option, told, variable, default in (("ncols", size.columns, "COLUMNS", 80), ("nrows", size.lines, "LINES", 24)):
        if told <= 0:
            value = os.environ.get(variable, "").strip()
            shape[option] = int(value) if value.isdigit() and int(value) > 0 else default
    return shape
