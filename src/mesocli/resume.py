"""Resumable scans: a JSON Lines output that is appended to, one whole line per input, and read back
to skip the inputs it already holds (``mesocli scan INPUT --output results.jsonl --resume``).

An input counts as done when a row with its path, **file size and modification time** (``file``:
``{"size", "mtime_ns"}`` of the version scanned, written with every row of a resumable scan) is in the output, and, when
that row has a ``sha256`` (:mod:`mesocli.digest`) and hashing is on, the file still has those bytes:
it is read again to tell (``scan_run.plan_scan``), so that a file replaced with the same size and
mtime (``cp -p``, ``rsync -t``) is scanned again; its new row, appended, is the one the next resume
finds. ``--no-hash`` reads nothing: size and mtime only. Rows without a ``sha256`` (an error, an
earlier mesocli, ``--no-hash``) count as done unread. A renamed file is scanned again. Rows without
``file`` (written by a plain ``--output`` run) match by path alone. Numbers are compared as
numbers, not as text, and an mtime matches to double precision (about 256 ns), so rows that went
through a tool that reads JSON numbers as doubles (``jq`` 1.6 writes ``2.0`` as ``2`` and rounds
large integers) still match.

The rows of one output must agree on what made their verdicts: the model (names and weights hashes),
the threshold, the aggregation rule, ``--all-faces``, the face detector, the frame sampling and the
smoothing. A resume with other settings is refused
(:meth:`Done.check_settings`) rather than mixing verdicts of two models in one file.

Every row is written with one ``write`` and flushed with ``fsync`` before the next input's result
is taken, so a killed job leaves whole lines, except perhaps the last one: that partial line is
cut off when the output is opened again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mesocli.errors import OutputError, UsageError
from mesocli.fsutil import NEW_FILE, make_folders, output_errors

FileKey = tuple[int, int] | None
"""(size, mtime_ns) of a regular file; None for a path that is missing or not a regular file."""


def file_key(path: str | Path) -> FileKey:
    """The (size, mtime_ns) that identifies a version of an input file, or None."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_size, info.st_mtime_ns) if stat.S_ISREG(info.st_mode) else None


def file_field(key: FileKey) -> dict[str, int] | None:
    """The ``file`` object of a resumable scan's row."""
    return None if key is None else {"size": key[0], "mtime_ns": key[1]}


Outcome = tuple[str, str | None, str | None]
"""What a resume needs of a row: its status, verdict and sha256 (None: an error, ``--no-hash``, an older mesocli)."""


@dataclass
class Done:
    """What an output already holds: rows by (path, file key), and the paths of rows without a key; only the
    last row for a path counts (it is current): an earlier one, of a version of the file replaced since, matches
    no more (that version restored with its size and mtime is scanned again, its row then the last)."""

    keys: dict[tuple[str, tuple[int, float] | None], Outcome] = field(default_factory=dict)
    paths_only: dict[str, Outcome] = field(default_factory=dict)
    settings: dict[str, set[str]] = field(default_factory=dict)  # setting -> the values the rows show
    current: dict[str, Any] = field(default_factory=dict, repr=False)  # path -> its last row's key in ``keys``

    def add(self, row: dict[str, Any], outcome: Outcome) -> None:
        """Count ``row`` as its path's current row, in place of any earlier one."""
        path, key = row["path"], _comparable(_key_of(row)) if "file" in row else None
        self.paths_only.pop(path, None)
        if path in self.current:
            del self.keys[(path, self.current.pop(path))]
        if "file" in row:
            self.keys[(path, key)] = outcome
            self.current[path] = key
        else:
            self.paths_only[path] = outcome

    def find(self, path: str, key: FileKey) -> Outcome | None:
        """The (status, verdict, sha256) of the row for this version of ``path``, or None when there is none."""
        return self.keys.get((path, _comparable(key)), self.paths_only.get(path))

    def keyed(self, path: str, key: FileKey) -> bool:
        """Whether a row for this version of ``path`` has its size and mtime (else it matched by path alone)."""
        return (path, _comparable(key)) in self.keys

    def add_settings(self, row: dict[str, Any]) -> None:
        for name, value in row_settings(row).items():
            self.settings.setdefault(name, set()).add(value)

    def check_settings(self, output: Path, wanted: dict[str, str]) -> None:
        """Refuse (UsageError) to add rows made with settings other than the ones the output's rows show."""
        differ = [f"{name} {' / '.join(sorted(self.settings[name]))}, not {value}"
                  for name, value in wanted.items() if self.settings.get(name, {value}) != {value}]
        if differ:
            raise UsageError(f"{output}: its rows were made with other settings ({'; '.join(differ)}); resume "
                             "with the same model and options, or write to another --output")


def row_settings(row: dict[str, Any]) -> dict[str, str]:
    """What made a row's verdict, as text: model (name and weights hashes), threshold, whether every face
    was scored, the face detector, and for videos the aggregation, frame sampling and smoothing: those
    the row carries (a failed input's row has no aggregation). The runtime is not among them: both give
    the same scores."""
    from mesocli.writers import weights_digests

    model = row.get("model") or {}
    settings: dict[str, str] = {}
    if "threshold" in row:
        settings["threshold"] = _number(row["threshold"])
    if "faces" in row:
        settings["all faces"] = "yes" if row["faces"] is not None else "no"
    if model:
        digests = ", ".join(f"{name} {digest[:12]}" for name, digest in weights_digests(model))
        settings["model"] = f"{model.get('name')} ({model.get('arch')}; {digests})"
    if row.get("type") == "video" and row.get("aggregation"):
        settings["aggregation"] = str(row["aggregation"])
    made = row.get("settings") or {}  # rows written before this key: not compared
    if "detector" in made:
        settings["face detector"] = str(made["detector"])
    if row.get("type") == "video" and made.get("sampling"):
        sampling = made["sampling"]
        settings["frame sampling"] = f"{sampling['mode']} {_number(sampling['value'])}" if sampling["value"] else "all"
        settings["smoothing"] = _number(made["smooth"])
    return settings


def _number(value: Any) -> str:
    """A JSON number as text that does not depend on how it was written: ``2``, ``2.0`` and ``2e0`` give ``2``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _comparable(key: FileKey) -> tuple[int, float] | None:
    """A file key as rows are matched: the mtime as the nearest double, which a JSON tool that rounds
    integers to doubles (``jq`` 1.6) leaves unchanged."""
    return None if key is None else (key[0], float(key[1]))


def _key_of(row: dict[str, Any]) -> FileKey:
    stats = row.get("file")
    if not isinstance(stats, dict):
        return None
    return int(stats["size"]), int(stats["mtime_ns"])


def read_done(output: Path) -> tuple[Done, str | None]:
    """Read a resumable output; cut off a partial last line (a killed writer's). Returns what it holds
    and a note for the user when a line was cut. One that another scan is appending to is refused
    (OutputError), untouched. A complete line that is not a scan result is an error:
    the file is not touched then."""
    done = Done()
    if not output.exists():
        return done, None
    with output_errors(output), open(output, "rb") as handle:
        _lock(handle, output)  # another scan appends to it: refused now, not after the check of its inputs
        data = handle.read()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) < len(data) and _is_row(data[len(complete):]):  # whole, only its newline missing
        with output_errors(output), open(output, "ab") as handle:
            handle.write(b"\n")
            os.fsync(handle.fileno())
        data += b"\n"
        complete = data
    for number, line in enumerate(complete.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            why = None if isinstance(row, dict) else "not a JSON object"
        except ValueError:
            why = "not JSON"
        try:
            if why is None:
                sha256 = row.get("sha256")
                outcome = (str(row["status"]), row.get("verdict"), sha256 if isinstance(sha256, str) else None)
                done.add_settings(row)
                done.add(row, outcome)
        except KeyError as exc:
            why = f"no {exc.args[0]!r} key"
        except (ValueError, TypeError, AttributeError, OverflowError):  # "model": "x"; a size of 1e999 (inf)
            why = "a value of the wrong kind"
        if why is not None:
            raise UsageError(f"{output}: line {number} is not a scan result ({why}); --resume needs the JSON Lines "
                             "output of an earlier scan")
    note = None
    if len(complete) < len(data):
        with output_errors(output), open(output, "r+b") as handle:
            handle.truncate(len(complete))
            os.fsync(handle.fileno())
        note = f"{output}: cut off an incomplete last line ({len(data) - len(complete)} bytes) left by a stopped scan"
    return done, note


def _is_row(line: bytes) -> bool:
    """Whether ``line`` is a whole scan result (a JSON object with a path and a status)."""
    try:
        row = json.loads(line)
    except ValueError:
        return False
    return isinstance(row, dict) and "path" in row and "status" in row


class SyncedStream:
    """A text stream whose ``flush`` also fsyncs, so that each flushed row is on disk."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def appending(output: Path) -> Iterator[IO[str]]:
    """Open ``output`` for appending whole rows, locked against a second scan writing to it."""
    with output_errors(output):
        make_folders(output.parent)
        handle = open(os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, NEW_FILE), "a", encoding="utf-8",
                      newline="", errors="backslashreplace")
    with handle:
        _lock(handle, output)
        yield SyncedStream(handle)  # type: ignore[misc]


def _lock(handle: IO[Any], output: Path) -> None:
    """Lock ``output`` (open as ``handle``) against a second scan appending to it, or refuse (OutputError)."""
    if sys.platform != "win32":
        import fcntl

        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OutputError(f"{output}: another scan is writing to it") from None
