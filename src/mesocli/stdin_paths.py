"""``scan -``: the paths listed on standard input, each handed to the scan as soon as its line arrives.

A daemon thread reads the descriptor (never Python's stdin object, whose lock a thread waiting for the next
line would hold at exit: the interpreter aborted) and queues the lines; the scan takes them, and a scan that
stops (an error, Ctrl-C, SIGTERM) is not held by a read that waits for a line that may never come (``tail -f``).
"""

from __future__ import annotations

import codecs
import io
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mesocli.errors import ParameterError, UsageError

_END = None
"""What the reader queues when standard input ends."""


class Stopped(Exception):
    """Raised by a :class:`StreamedInputs` stopped while the scan waited for its next path."""


class StreamedInputs(Iterator[str]):
    """The scan's inputs, each ``-`` replaced by the paths on standard input (one per line, blank lines
    skipped, a trailing CR stripped; with ``null``, separated by NUL bytes and taken whole, as ``find -print0``
    writes them), read as they arrive; :meth:`stop` ends the wait for more."""

    def __init__(self, inputs: Sequence[str], null: bool = False) -> None:
        self._null = null
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stopped = threading.Event()
        self._reader: threading.Thread | None = None
        self._ended = False
        self._first: str | None = None
        self._error: OSError | None = None
        self._paths = self._walk(inputs)

    def __next__(self) -> str:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return next(self._paths)

    def has_paths(self) -> bool:
        """Whether there is a path at all: waits for the first one (kept, the first that ``next`` gives)."""
        if self._first is None:
            self._first = next(self._paths, None)
        return self._first is not None

    def stop(self) -> None:
        """End the wait for the next path: the scan is over."""
        self._stopped.set()

    def stopped(self) -> bool:
        """Whether :meth:`stop` was called: work done for the next path (a resume's check) ends too."""
        return self._stopped.is_set()

    def _walk(self, inputs: Sequence[str]) -> Iterator[str]:
        for item in inputs:
            if item != "-":
                yield item
                continue
            if self._reader is None:
                self._reader = threading.Thread(target=self._read, name="mesocli-stdin", daemon=True)
                self._reader.start()
            for line in self._arrived():
                if self._null:
                    if line.rstrip("\0"):
                        yield line.rstrip("\0")
                elif "\0" in line:  # no name holds one: a list that find -print0 wrote
                    raise ParameterError("the paths on standard input are separated by NUL bytes (find -print0): "
                                         "give {null}")
                elif line.strip():
                    yield line.rstrip("\r\n")

    def _arrived(self) -> Iterator[str]:
        while not self._ended:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                if self._stopped.is_set():
                    raise Stopped from None
                continue
            if line is _END:
                self._ended = True
                if self._error is not None:
                    raise UsageError(f"cannot read the paths on standard input ({self._error.strerror or self._error})")
                return
            yield line

    def _read(self) -> None:
        try:
            for line in stdin_lines(b"\0" if self._null else b"\n"):
                self._lines.put(line)
        except OSError as exc:  # EIO, a descriptor closed under it: the list is cut, not complete
            self._error = exc
        finally:
            self._lines.put(_END)


def stdin_lines(separator: bytes = b"\n") -> Iterator[str]:
    """Standard input's lines (with their ``separator``), each as soon as it arrives, decoded as ``os.fsdecode``
    decodes file names: ``ls`` and ``find`` write the names' bytes, whatever stdin's text encoding
    (``PYTHONIOENCODING=latin-1`` found no UTF-8-named file)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (io.UnsupportedOperation too)
        text = _text_stdin()
        yield from (text if separator == b"\n" else (part + "\0" for part in text.read().split("\0")))
        return
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        *lines, pending = (pending + chunk).split(separator)
        yield from (os.fsdecode(line + separator) for line in lines)
    if pending:
        yield os.fsdecode(pending)


def _text_stdin() -> Any:
    """Standard input (one without a descriptor) as text decoded as ``os.fsdecode`` decodes file names."""
    buffer = getattr(sys.stdin, "buffer", None)
    encoding, errors = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()
    if buffer is None or (codecs.lookup(sys.stdin.encoding or "ascii").name, sys.stdin.errors) == (
            codecs.lookup(encoding).name, errors):
        return sys.stdin
    return io.TextIOWrapper(buffer, encoding=encoding, errors=errors)


class Stoppable(Iterator[str]):
    """Paths drawn from a :class:`StreamedInputs` (planned, filtered) that keep its :meth:`stop`."""

    def __init__(self, paths: Iterator[str], stop: Callable[[], None]) -> None:
        self._paths = paths
        self.stop = stop

    def __next__(self) -> str:
        return next(self._paths)


def stop_waiting(paths: object) -> None:
    """The scan of ``paths`` is over: if they arrive on stdin (:class:`StreamedInputs`, :class:`Stoppable`),
    stop waiting for the next one, so that the thread that draws them ends now."""
    stop = getattr(paths, "stop", None)
    if callable(stop):
        stop()
