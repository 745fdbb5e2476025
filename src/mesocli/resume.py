"""Resumable scans: a JSON Lines or CSV output that is appended to, one whole line (record) per input, and read
back to skip the inputs it already holds (``mesocli scan INPUT --output results.jsonl --resume``; ``results.csv``).

An input counts as done when a row with its path, **file size and modification time** (``file``:
``{"size", "mtime_ns"}`` of the version scanned, written with every row of a resumable scan) is in the output, and, when
that row has a ``sha256`` (:mod:`mesocli.digest`) and hashing is on, the file still has those bytes:
it is read again to tell (``scan_run.plan_scan``), so that a file replaced with the same size and
mtime (``cp -p``, ``rsync -t``) is scanned again; its new row, appended, is the one the next resume
finds. ``--no-hash`` reads nothing: size and mtime only. Rows without a ``sha256`` (an error, an
earlier mesocli, ``--no-hash``) count as done unread. A row is found under any spelling of its path that names
the same file from here (:meth:`Done.same_file`), and, hashed, a file moved under its name by its bytes
(``scan_run.plan_scan``); a renamed file is scanned again. Rows without
``file`` (written by a plain ``--output`` run) match by path alone. Numbers are compared as
numbers, not as text, and an mtime matches to double precision (about 256 ns), so rows that went
through a tool that reads JSON numbers as doubles (``jq`` 1.6 writes ``2.0`` as ``2`` and rounds
large integers) still match.

The rows of one output must agree on what made their verdicts: the model (names and weights hashes),
the threshold, the aggregation rule, ``--all-faces`` (and ``--min-track-frames``: 1 for rows written before it),
the face detector (``none``: and how its crops were resized, bilinear for rows written before ``settings.resize``),
the frame sampling (for MPEG-TS/PS files under ``--frames N``, the rule that picks the frames:
:data:`SAMPLING_RULE`) and the smoothing; rows without the ``settings`` object (an earlier mesocli) are compared on
the model, threshold, aggregation, ``--all-faces`` and ``--min-track-frames`` (1 for them) only. A resume with other
settings is refused
(:meth:`Done.check_settings`) rather than mixing verdicts of two models in one file.

Every row is written with one ``write`` and flushed with ``fsync`` before the next input's result
is taken, so a killed job leaves whole lines, except perhaps the last one: that partial line is
cut off when the output is opened again.

A CSV holds the same: its ``file_size`` and ``file_mtime_ns`` columns are the ``file`` key, the other cells are
read back as :func:`mesocli.writers.csv_result` says (a name escaped against formulas given back, one not UTF-8
matched as its escape was written: :func:`csv_path`). Its header must be this mesocli's
(:data:`mesocli.writers.CSV_COLUMNS`); its rows are appended with the line end its header has (``\\r\\n`` where a
spreadsheet saved it). A last record without its line end is cut off, even one with every cell: its last cell
(the mtime) may be cut short, and its input is scanned again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mesocli.errors import OutputError, UsageError, printable
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
    form: Callable[[str], str] = field(default=lambda path: path, repr=False)  # an input's path as rows hold it
    paths_only: dict[str, Outcome] = field(default_factory=dict)
    settings: dict[str, set[str]] = field(default_factory=dict)  # setting -> the values the rows show
    current: dict[str, Any] = field(default_factory=dict, repr=False)  # path -> its last row's key in ``keys``
    named: dict[tuple[str, Any], str] | None = field(default=None, repr=False)  # (file name, key) -> path, of ``keys``
    order: dict[str, None] = field(default_factory=dict, repr=False)  # the paths, in the order of their current rows
    files: dict[Any, str] | None = field(default=None, repr=False)  # file identity -> the path of its last row

    def add(self, row: dict[str, Any], outcome: Outcome) -> None:
        """Count ``row`` as its path's current row, in place of any earlier one."""
        path, key = row["path"], _comparable(_key_of(row)) if "file" in row else None
        self.order.pop(path, None)
        self.order[path] = None
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
        path = self.form(path)
        return self.keys.get((path, _comparable(key)), self.paths_only.get(path))

    def same_file(self, path: str) -> str | None:
        """The path of the last row whose path names, from here, the very file ``path`` names, though spelt otherwise
        (``./inbox/a.mp4``, ``inbox/a.mp4``, an absolute path, a symbolic or a hard link: one (device, inode),
        :func:`mesocli.inputs.inode`), or None. Each row's path is looked at once, at the first input that
        no row names as written."""
        from mesocli.inputs import inode

        identity = inode(path)
        if identity is None:  # no such file (or no inode numbers): no other name to tell
            return None
        if self.files is None:
            self.files = {}
            for held in self.order:  # later rows win: the current row of a file named two ways is its last
                if (found := inode(held)) is not None:
                    self.files[found] = held
        return self.files.get(identity)

    def elsewhere(self, path: str, key: FileKey) -> str | None:
        """The path of a current row for a file of ``path``'s name, size and mtime under another path (most likely
        the same file, named from another folder or spelt otherwise: ``./inbox/a.mp4``, ``inbox/a.mp4``), or None."""
        if key is None:
            return None
        if self.named is None:  # built at the first input that no row matched
            self.named = {(os.path.basename(held), stored): held for held, stored in self.keys}
        return self.named.get((os.path.basename(self.form(path)), _comparable(key)))

    def keyed(self, path: str, key: FileKey) -> bool:
        """Whether a row for this version of ``path`` has its size and mtime (else it matched by path alone)."""
        return (self.form(path), _comparable(key)) in self.keys

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


SAMPLING_RULE = 2
"""The rule by which ``--frames N`` picks its frames, written in each row's ``settings.sampling.rule``: 2 counts the
packets of an MPEG-TS or MPEG-PS file for its length (rows without ``rule``: 1, its length guessed from the header)."""
MPEG_SUFFIXES = frozenset({".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".vob"})
"""The file names of MPEG transport and program streams, whose frames ``--frames N`` picks otherwise under rule 2."""
PICKING = {1: "from the length its header guessed (an earlier mesocli)", 2: "from its packets counted"}


def row_settings(row: dict[str, Any]) -> dict[str, str]:
    """What made a row's verdict, as text: model (name and weights hashes), threshold, whether every face
    was scored, the face detector, the resize of crops not 256×256 (per network where a set's differ), and for
    videos the aggregation, frame sampling and smoothing: those
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
    if made.get("detector") == "none" and made.get("resize", "bilinear") is not None:
        # how the crops were resized (the weights' own since settings.resize, each network's where a set's differ;
        # rows before it: bilinear whatever the weights, the authors' too, whose crops are now resized nearest);
        # hog and cnn rows: bilinear, always
        from mesocli.weights import describe_resize

        settings["crop resize"] = describe_resize(made.get("resize", "bilinear"))
    if row.get("type") == "video" and made.get("sampling"):
        sampling = made["sampling"]
        settings["frame sampling"] = f"{sampling['mode']} {_number(sampling['value'])}" if sampling["value"] else "all"
        settings["smoothing"] = _number(made["smooth"])
        mpeg = "path" not in row or Path(str(row["path"])).suffix.lower() in MPEG_SUFFIXES  # (no path: this run's)
        if sampling["mode"] == "frames" and mpeg:
            # --frames N in an MPEG-TS/PS file picks other frames since its packets are counted (rule 2): an older
            # row of one is not mixed with new ones; other files' rows pick the same frames under either rule
            settings["MPEG-TS/PS frame picking"] = PICKING[2 if sampling.get("rule", 1) >= 2 else 1]
    if row.get("type") == "video" and row.get("faces") is not None:
        # (--all-faces rows of a mesocli before --min-track-frames: every track decided, as with 1; so did rows
        # written before the settings object, which came first: their rule is 1 too, not unknown)
        settings["shortest deciding track"] = f"{_number(made.get('min_track_frames', 1))} sampled frames"
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


def read_done(output: Path, fmt: str = "jsonl") -> tuple[Done, str | None]:
    """Read a resumable output (``fmt``: ``jsonl``, or ``csv``: :func:`_read_csv`); cut off a partial last line
    (a killed writer's). Returns what it holds and a note for the user when a line was cut. One that another scan
    is appending to is refused (OutputError), untouched. A complete line that is not a scan result is an error:
    the file is not touched then."""
    done = Done()
    if not output.exists():
        return done, None
    with output_errors(output), open(output, "rb") as handle:
        _lock(handle, output)  # another scan appends to it: refused now, not after the check of its inputs
        data = handle.read()
    if fmt == "csv":
        complete = _read_csv(output, data, done)
    else:
        complete = _read_jsonl(output, data, done)
    note = None
    if complete < len(data):
        with output_errors(output), open(output, "r+b") as handle:
            handle.truncate(complete)
            os.fsync(handle.fileno())
        note = f"{output}: cut off an incomplete last line ({len(data) - complete} bytes) left by a stopped scan"
    return done, note


def _read_jsonl(output: Path, data: bytes, done: Done) -> int:
    """Add the rows of JSON Lines ``data`` to ``done``; return how many of its bytes are whole lines (a whole
    last row whose newline is missing gets it, in ``output``, and counts)."""
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
        if why is None:
            why = _add_row(done, row)
        if why is not None:
            raise UsageError(f"{output}: line {number} is not a scan result ({why}); --resume needs the JSON Lines "
                             "output of an earlier scan")
    return len(complete)


def _add_row(done: Done, row: dict[str, Any]) -> str | None:
    """Count ``row`` in ``done``; None, or why it is not a scan result."""
    try:
        sha256 = row.get("sha256")
        outcome = (str(row["status"]), row.get("verdict"), sha256 if isinstance(sha256, str) else None)
        done.add_settings(row)
        done.add(row, outcome)
    except KeyError as exc:
        return f"no {exc.args[0]!r} key"
    except (ValueError, TypeError, AttributeError, OverflowError):  # "model": "x"; a size of 1e999 (inf)
        return "a value of the wrong kind"
    return None


class _Lines:
    """The lines of a text (each with its ``\\n``), counting the characters handed to a :mod:`csv` reader, which
    takes a line only when the record it reads goes on there: after a record, ``used`` is where it ends."""

    def __init__(self, text: str) -> None:
        self.lines = iter(_split_lf(text))
        self.used = 0
        self.ended = False  # the text ended inside a record (a quoted cell left open)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self.lines)
        except StopIteration:
            self.ended = True
            raise
        self.used += len(line)
        return line


def _split_lf(text: str) -> list[str]:
    """``text`` split after each ``\\n`` only (``str.splitlines`` splits at ``\\r``, ``\\x0b``, U+2028 too)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _read_csv(output: Path, data: bytes, done: Done) -> int:
    """Add the rows of a scan's CSV ``data`` (:data:`mesocli.writers.CSV_COLUMNS`, records ended by ``\\n`` or
    ``\\r\\n``) to ``done``; return how many of its bytes are whole records. A last record without its line end
    was cut short by a stop (its last cell may be cut too: it is not kept, its input is scanned again); a file
    whose header is not this mesocli's is refused (UsageError), untouched."""
    import csv

    from mesocli.writers import CSV_COLUMNS, csv_result

    done.form = csv_path
    text = data.decode("utf-8", "surrogateescape")
    start = 1 if text.startswith("\ufeff") else 0  # a byte-order mark added for Excel
    body = text[start:]
    lines = _Lines(body)
    reader = csv.reader(lines)
    header: list[str] | None = None
    whole = number = 0  # characters of whole records; the line a record starts on
    try:
        for record in reader:
            cut = lines.ended or body[lines.used - 1 : lines.used] != "\n"
            if cut and (header is not None or ",".join(CSV_COLUMNS).startswith(",".join(record))):
                break  # only the last record can be cut short; a header cut short is written again
            if record and header is None:
                header = record
                if header != list(CSV_COLUMNS):
                    raise UsageError(f"{output}: {_other_header(header)}; --resume appends to the CSV of an earlier "
                                     "scan by this mesocli: scan to another --output")
            elif record:
                cells = dict(zip(CSV_COLUMNS, record, strict=False))
                try:
                    why = (f"{len(record)} cells, not {len(CSV_COLUMNS)}" if len(record) != len(CSV_COLUMNS)
                           else _add_row(done, csv_result(cells)))
                except KeyError as exc:
                    why = f"its {exc.args[0]} cell is empty"
                except ValueError as exc:
                    why = str(exc)
                if why is not None:
                    raise UsageError(f"{output}: line {number + 1} is not a scan result ({why}); --resume needs the "
                                     "CSV output of an earlier scan")
            whole, number = lines.used, reader.line_num
    except csv.Error as exc:  # a NUL byte; at the very end, left by a stop (a crash can leave zeros) it is cut
        if header is None or lines.used < len(body) or body.endswith("\n"):
            raise UsageError(f"{output}: line {reader.line_num} is not CSV ({exc}); --resume needs the CSV output "
                             "of an earlier scan") from None
    return len(text[: start + whole].encode("utf-8", "surrogateescape"))


def _other_header(header: list[str]) -> str:
    """Why a CSV whose first record is ``header`` is not one a resume appends to, in words."""
    from mesocli.writers import CSV_COLUMNS

    missing = [name for name in CSV_COLUMNS if name not in header]
    if set(header) < set(CSV_COLUMNS):
        named = (f"the {', '.join(missing)} column{'s' * (len(missing) > 1)}" if len(missing) <= 3
                 else f"{len(missing)} of the {len(CSV_COLUMNS)} columns")
        return f"its header lacks {named} (an earlier mesocli's CSV, or a CSV cut down)"
    if set(header) == set(CSV_COLUMNS):
        return "its header has this mesocli's columns in another order"
    return f"its header is not that of a mesocli scan CSV (it starts {printable(','.join(header))[:60]!r})"


def csv_form(output: Path) -> tuple[bool, str]:
    """How rows are appended to a scan's CSV ``output`` (read by :func:`read_done`): whether it still needs its
    header (missing or empty), and the line end of its header (``\\r\\n`` where a spreadsheet saved it so: one
    file keeps one line end)."""
    from mesocli.writers import CSV_LINE_END

    if not output.exists():
        return True, CSV_LINE_END
    with output_errors(output), open(output, "rb") as handle:
        for line in handle:
            if line.strip(b"\xef\xbb\xbf \t\r\n"):
                return False, "\r\n" if line.endswith(b"\r\n") else CSV_LINE_END
    return True, CSV_LINE_END


def csv_path(path: str) -> str:
    """``path`` as a scan's CSV output holds it: a byte of its name that is not UTF-8 as the escape written
    for it (``caf\\udce9.mp4``)."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


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
