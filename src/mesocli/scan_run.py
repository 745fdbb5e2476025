"""``mesocli scan`` from arguments to an output: every argument and output is checked before any work,
the inputs are planned (with ``resume``: less those the output already holds), the engine is picked
(this process, local worker processes, or Ray), and each input's row is written as it comes, to
standard output or to a file (atomically; with ``resume``, appended and synced).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

from mesocli.errors import (
    OUTLIVED_STOP,
    Halted,
    OutputError,
    ParameterError,
    Terminated,
    UsageError,
    check_known,
)
from mesocli.fsutil import GuardedStream, atomic_path, check_writable, insisted, is_stream, output_errors, whole_write
from mesocli.progress import ScanProgress, note
from mesocli.scan import ScanOptions, exit_status
from mesocli.stdin_paths import Stoppable, StreamedInputs
from mesocli.writers import (
    FORMATS,
    TableWriter,
    format_for,
    make_writer,
    not_a_report,
    other_document,
    refuse_existing,
    refuse_inputs_as_outputs,
)

Rows = Callable[[Any, Any], Generator[dict[str, Any], None, None]]
"""An engine's results: called with a progress hook and an observer, it yields result rows in input order
(closing the generator stops the engine)."""
ENGINES = ("local", "ray")
RESUMABLE = ("jsonl", "csv")
"""The formats ``--resume`` appends to."""


def run_scan(
    inputs: Sequence[str], options: ScanOptions, *, model: str | None = None, arch: str | None = None,
    weights: Path | None = None, runtime: str = "onnx", fmt: str | None = None, output: Path | None = None,
    force: bool = False, resume: bool = False, fail_on_fake: bool = False, no_face_ok: bool = False,
    quiet: bool = False, engine: str = "local", address: str | None = None, workers: int | None = None,
    explain: Path | None = None, report: Path | None = None, explain_top: int | None = None, null: bool = False,
    log: Callable[[str], None] = note, command: str | None = None, csv_bom: bool = False,
) -> int:
    """Scan ``inputs`` (``-``: paths read from standard input, one per line, or with ``null`` separated by NUL
    bytes) and write one row per input in ``fmt``
    (default: by ``output``'s suffix, else a table on a terminal and JSON Lines in a pipe) to ``output``
    or standard output; heatmaps to ``explain``, an HTML report to ``report``. Notes go to ``log``; ``command``
    (the command line, as the CLI passes it) is written in the report, with the folder it ran in. ``csv_bom``: a CSV
    ``output`` file starts with a byte-order mark (for Excel on Windows).

    Returns the exit status (:func:`mesocli.scan.exit_status`; ``no_face_ok``: an input in which no face was found
    counts as scanned). Bad arguments raise ParameterError
    (naming parameters) before anything is read or written.
    """
    if weights is not None and model not in (None, "any"):  # any: the library says why it takes no --weights
        raise ParameterError("give {model} or {weights}, not both")
    model = model or "df"
    if output is not None and str(output) == "-":  # the usual spelling of standard output
        output = None
    if force and output is None and explain is None and report is None:
        raise ParameterError("{force} replaces an {output} or {report} file or fills an {explain} folder: give one")
    if explain_top is not None and explain is None and report is None:
        raise ParameterError("{explain_top} needs {explain} DIR or {report} FILE")
    explain_top = 4 if explain_top is None else explain_top
    if null and "-" not in inputs:
        raise ParameterError("{null} is for the paths on standard input: give - among the inputs")
    paths = read_inputs(inputs, null)
    fmt = _check(output, fmt, force, resume, engine, address, workers)
    if csv_bom and (fmt != "csv" or output is None or is_stream(output)):  # a mark in a stream: junk to its reader
        where = "standard output, where a program reads" if output is None else \
            "{value}, a stream that a program reads: it would read"
        raise ParameterError("{csv_bom} marks a CSV file for Excel on Windows: it goes with {output} FILE.csv"
                             + (f", not {fmt}" if fmt != "csv" else f" (not {where} the mark as part of the first "
                                "header)"), value=output)
    bom = csv_bom and output is not None and _bom_needed(output, resume)  # a resumed file: the mark it has
    explainer = _explainer(explain, report, explain_top, options, force, output, command)
    if explainer is not None and engine == "ray":
        raise ParameterError("{report} and {explain} need the local engine (the heatmaps are made where the faces are)")
    if explainer is not None and workers is not None and workers > 1:
        raise ParameterError("{report} and {explain} scan in this process (the heatmaps are drawn from its crops): "
                             "not with {workers} {value}; leave {workers} out", value=workers)
    if explainer is not None and resume:
        raise ParameterError("{report} and {explain} cover the inputs of one run: not with {resume}, whose output "
                             "holds inputs of earlier runs too")
    from mesocli.runtime import resolve

    loaded = resolve(arch, model, weights, runtime) if engine == "local" or resume else None
    statuses: list[str] = []
    verdicts: list[str | None] = []
    settings = None if loaded is None else _settings(options, loaded)
    left_out: list[str] = []  # what the plan left out (hidden files, files not media, links), for the report too

    def planning(line: str) -> None:
        log(line)
        left_out.append(line.removeprefix("mesocli: "))

    todo, stamp = plan_scan(paths, output if resume else None, statuses, verdicts, quiet,
                            log if explainer is None else planning, settings, fmt=fmt,
                            outputs=[target for target in (output, report) if target is not None],
                            output_folders=[] if explain is None else [explain], rehash=options.hash_inputs,
                            workers=_hash_workers(engine, workers), bar=_bars_wanted(quiet, fmt, output))
    if engine == "ray":
        rows = _ray_rows(todo, options, (arch, model, None if weights is None else weights.resolve(), runtime),
                         workers, address)
    else:
        rows = _local_rows(todo, options, loaded, workers, explainer, None if quiet else log)
    planned = len(todo) if isinstance(todo, list) else None
    with _said_on_stop(statuses, output, resume, fmt, log, planned, report), contextlib.ExitStack() as stack:
        if explainer is not None:
            stack.enter_context(explainer)  # a failed scan leaves no heatmap folder behind
        stream = _open(stack, output, resume, force)
        writer = make_writer(fmt, stream, color=None if output is None else False, log=log,
                             csv_form=_csv_form(output, resume, fmt), bom=bom,
                             planned=len(todo) if isinstance(todo, list) else None)
        if report is not None and isinstance(writer, TableWriter):  # --resume does not go with a report
            writer.resumable = False
        stack.enter_context(_whole_on_stop(writer, stream))
        bars = stack.enter_context(ScanProgress(_bars_wanted(quiet, fmt, output),
                                                len(todo) if isinstance(todo, list) else None))
        # closed first when the scan stops (Ctrl-C, SIGTERM, an error): workers and their ffmpeg end now
        results = stack.enter_context(contextlib.closing(rows(bars.hook, None if explainer is None
                                                               else explainer.observer)))

        def keep(row: dict[str, Any]) -> None:
            writer.write(stamp(row))
            statuses.append(row["status"])  # (written: counted, whether or not its heatmaps can be)
            verdicts.append(row["verdict"])
            if explainer is not None:
                explainer.add(row)

        held = len(statuses)  # (with resume: the inputs already in the output)
        try:
            for row in results:
                with whole_write():
                    keep(row)
        except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM: the rows of the inputs read whole are written first
            # it came as a row was written; not a second one while the row waited for its reader (that stops at once)
            if not insisted(stop) and inspect.getgeneratorstate(results) == inspect.GEN_SUSPENDED:
                for row in rows_on_stop(results, stop):  # (a second Ctrl-C or SIGTERM: no more)
                    with whole_write():
                        keep(row)
            raise
        except Exception as error:  # an error of this side (a row, a heatmap that cannot be written): the rows of
            # the inputs read whole by then are written first, where they are kept (not into an output written whole
            # at the end, which the error drops, nor a stream that failed)
            kept = len(statuses)
            interrupted: KeyboardInterrupt | None = None
            if (not stream.failed and inspect.getgeneratorstate(results) == inspect.GEN_SUSPENDED
                    and (output is None or is_stream(output) or resume)):
                try:
                    _kept_on_error(results, writer, stamp, statuses, verdicts)
                except KeyboardInterrupt as stop:  # the error, not the stop, is what the run ends with (it hid it)
                    interrupted = stop
            if len(statuses) > kept:
                more = len(statuses) - kept
                error.add_note(f"mesocli: after the error, the rows of {more} more input{'s' if more > 1 else ''} "
                               f"read whole before it were written ({len(statuses) - held} in all)")
            if interrupted is not None:
                how = interrupted.signal_name if isinstance(interrupted, Terminated) else "Ctrl-C"
                error.add_note(f"mesocli: interrupted by {how} while the rows of the inputs read whole before the "
                               "error were written; the rest of them were not")
                setattr(error, OUTLIVED_STOP, True)
            raise
        bars.__exit__()
        with whole_write():
            writer.close()
        stream.flush()  # a full disk shows here, as an OutputError, not when the file is closed
        if explainer is not None:
            if left_out:  # (a report is not made with --resume, whose notes these would be too)
                explainer.meta["not in this report"] = "; ".join(left_out)
            explainer.finish()
    return exit_status(statuses, verdicts, fail_on_fake, no_face_ok)


@contextlib.contextmanager
def _said_on_stop(statuses: list[str], output: Path | None, resume: bool, fmt: str,
                  log: Callable[[str], None], planned: int | None = None,
                  report: Path | None = None) -> Iterator[None]:
    """On Ctrl-C, one line when the rows done are not kept: an ``output`` file written whole at the end (not with
    ``resume``); with ``resume``, one line that says what ``output`` keeps, how many of the ``planned`` inputs (None:
    paths on stdin, not counted) were not scanned, and that the same command goes on (nothing else says it: no table
    is printed); with a ``report``, one line that says that it was not written (a table's last line names
    ``--resume``, which a report does not go with), and the ``output`` line names no ``--resume`` either. Rows on
    standard output, or in an ``output`` that is a stream such as ``/dev/stdout`` or a named pipe, are out already
    (a table: printed as the scan stops, of the inputs done, :meth:`TableWriter.stop`).
    SIGTERM (a subclass, from a scheduler's stop) says the same lines, ``stopped by SIGTERM`` for ``interrupted``
    (its own last line, :func:`mesocli.cli_base.run`, follows them). An error that stops the run (ffmpeg gone, a damaged
    face model) once rows are done gets the same words as a note (``add_note``), which the CLI
    prints under its one error line; with ``resume``, a note that says that ``output`` keeps the rows done (a full
    disk there too)."""

    def lost(how: str) -> str | None:
        """What is said of the rows done (``how``: the run stopped), or None where they are kept."""
        done = f"{how} after {len(statuses)} input{'' if len(statuses) == 1 else 's'}"
        streamed = output is None or is_stream(output)  # rows written into it as they are done
        if not streamed and not resume:  # --resume appends JSON Lines or CSV only: not to this JSON list or table
            keeps = "--resume" if fmt in RESUMABLE else "-o FILE.jsonl --resume"
            if report is not None:  # --resume does not go with a report: not a way on for this command
                return f"mesocli: {done}: {output} was not written (it is written whole at the end)"
            return (f"mesocli: {done}: {output} was not written (it is written whole at the end); {keeps} keeps "
                    "each row as it is done")
        if not streamed:  # --resume: appended to row by row
            count = len(statuses) - held  # rows of this run
            kept = (f"{output} keeps {'its row' if count == 1 else 'their rows'} ({len(statuses)} in all)" if count
                    else f"{output} holds {len(statuses)} row{'' if len(statuses) == 1 else 's'}")
            left = "" if planned is None else f", {planned - count} not scanned"
            when = f"after {count} input{'' if count == 1 else 's'}" if count else "before an input was done"
            return f"mesocli: {how} {when}: {kept}{left}; the same command (with --resume) goes on from there"
        return None

    held = len(statuses)  # (with resume: the inputs already in the output)
    try:
        yield
    except KeyboardInterrupt as exc:
        how = f"stopped by {exc.signal_name}" if isinstance(exc, Terminated) else "interrupted"  # (a Halted: elsewhere)
        if isinstance(exc, Terminated) or type(exc) is KeyboardInterrupt:
            if (line := lost(how)) is not None:
                log(line)
            if report is not None:
                log(f"mesocli: {how} after {len(statuses)} input{'' if len(statuses) == 1 else 's'}: {report} was "
                    "not written (a report covers a whole run, written at its end): scan again to make it")
        raise
    except Exception as exc:  # (one mesocli did not foresee too, exit 70: its rows done are said of as any stop's)
        # an error of the output itself says what became of it: not written (a full disk), or kept under another
        # name (it appeared during the run: ``kept``); one appended to (``resume``) keeps the rows done, and says so,
        # whatever the error (its own full disk too: a row cut short is cut off by the next resume)
        of_output = isinstance(exc, OutputError) or (isinstance(exc, ParameterError) and "kept" in exc.values)
        if resume and output is not None and not is_stream(output):
            if (count := len(statuses) - held) > 0:  # rows of this run
                exc.add_note(f"mesocli: stopped after {count} input{'' if count == 1 else 's'}: {output} keeps "
                             f"{'its row' if count == 1 else 'their rows'}; --resume goes on from there")
        elif statuses and not of_output and (line := lost("stopped")) is not None:
            exc.add_note(line)
        raise


@contextlib.contextmanager
def _whole_on_stop(writer: Any, stream: GuardedStream) -> Iterator[None]:
    """When the scan stops before its end (Ctrl-C, SIGTERM, an error found mid-run), the writer leaves a whole
    document of the rows done (JSON's list closed: ``| jq`` and ``> out.json`` get valid JSON; a table of the inputs
    done, then a line saying why it stopped), unless writing itself failed (a reader gone, a full disk); the stop
    itself goes on as it came (its exit status and line)."""
    try:
        yield
    except BaseException as exc:
        if not stream.failed:
            why = (exc.signal_name if isinstance(exc, Terminated) else "Ctrl-C" if isinstance(exc, KeyboardInterrupt)
                   else "an error")
            with whole_write(), contextlib.suppress(Exception):
                writer.stop(why)
        raise


def _kept_on_error(results: Generator[dict[str, Any], None, None], writer: Any,
                   stamp: Callable[[dict[str, Any]], dict[str, Any]], statuses: list[str],
                   verdicts: list[str | None]) -> None:
    """After an error of the writing side, write the rows ``results`` still gives of the inputs read whole (a
    :class:`mesocli.errors.Halted` thrown in, as Ctrl-C is: :func:`rows_on_stop`), each whole, without heatmaps (a
    failed scan leaves none); stop at the first that fails (the first error is the one the run ends with). A
    Ctrl-C or SIGTERM meanwhile stops at once."""
    with contextlib.suppress(Exception):
        for row in rows_on_stop(results, Halted()):
            with whole_write():
                writer.write(stamp(row))
            statuses.append(row["status"])
            verdicts.append(row["verdict"])


def rows_on_stop(results: Generator[dict[str, Any], None, None], stop: KeyboardInterrupt) -> Iterator[dict[str, Any]]:
    """The rows ``results`` still gives once ``stop`` (Ctrl-C, SIGTERM that came between two of its rows) is thrown in
    at its yield: those of the inputs read whole by then (:func:`mesocli.scan.scan_inputs`), until it raises
    ``stop`` again. Another stop (a second Ctrl-C) is raised at once: :func:`mesocli.workers.sent_back`, which
    does the same for the workers' results."""
    from mesocli.workers import sent_back

    return sent_back(results, stop)


def _hash_workers(engine: str, workers: int | None) -> int:
    """How many inputs a resume reads at a time to check their bytes, here: ``workers`` with the local engine,
    else (Ray's workers may be on other machines) the cores of this one."""
    from mesocli.parallel import default_workers

    return workers if engine == "local" and workers else default_workers()


def _bars_wanted(quiet: bool, fmt: str, output: Path | None) -> bool:
    """Progress bars go to a terminal's stderr, unless rows stream to that same terminal (json, jsonl and
    csv on standard output: the bars would be drawn over them); a table is printed after the bars."""
    if quiet or not sys.stderr.isatty():
        return False
    return output is not None or fmt == "table" or not sys.stdout.isatty()


def read_inputs(inputs: Sequence[str], null: bool = False) -> list[str] | StreamedInputs:
    """The inputs, each ``-`` replaced by the paths on standard input (one per line; with ``null``, separated by
    NUL bytes). With a ``-``, an iterator
    that hands out each path as its line arrives (the scan of the first path starts while ``find`` still lists
    the others); the first path is awaited now, so that an empty list is refused before any work."""
    if "-" not in inputs:
        return list(inputs)
    streamed = StreamedInputs(inputs, null)
    if not streamed.has_paths():
        raise UsageError("no inputs (stdin gave no paths)")
    return streamed


def _check(output: Path | None, fmt: str | None, force: bool, resume: bool, engine: str, address: str | None,
           workers: int | None) -> str:
    """Check the output and engine arguments (in this order: the first problem is the one reported);
    return the output format."""
    if output is not None and output.is_dir():
        raise ParameterError("{value}: {output} is a folder", value=output)
    if output is None and getattr(sys.stdout, "closed", False):
        raise ParameterError("standard output is closed: write the results to a file with {output} FILE")
    check_known("engine", engine, ENGINES)
    if engine == "local" and address is not None:
        raise ParameterError("{address} needs {engine} ray")
    if engine == "ray":
        from mesocli.ray_engine import require_ray

        require_ray()
    if resume and (output is None or force):
        raise ParameterError("{resume} needs {output} FILE (JSON Lines or CSV), and not {force}")
    if resume and (is_stream(output) or (output.exists() and not output.is_file())):  # (it would wait on a pipe)
        raise ParameterError("{resume} reads its {output} back: {value} is not a regular file (a pipe, standard "
                             "output); resume into a file", value=output)
    if fmt is None and output is not None and (instead := other_document(output)) is not None:
        raise ParameterError("{value}: {output} writes JSON Lines, JSON or CSV (chosen by its suffix): " + instead
                             + ", or give {fmt} to write one of them under this name", value=output)
    fmt = fmt or format_for(None if output is None else output.name, sys.stdout.isatty())
    resumable = ", or {resume} to add the inputs it lacks" if fmt in RESUMABLE else ""
    refuse_existing(output, force or resume, "{value}: exists; pass {force} to replace it" + resumable)
    check_known("fmt", fmt, FORMATS)
    if resume and fmt not in RESUMABLE:
        what = "a JSON list is whole only once closed" if fmt == "json" else "a table is printed at the end"
        raise ParameterError("{resume} appends to JSON Lines or CSV, not " + fmt + f" ({what}): give an {{output}} "
                             "ending in .jsonl or .csv, or {fmt} jsonl or csv")
    if output is not None:
        check_writable(output)  # before the work, not after it
    if workers is not None and workers < 1:
        raise ParameterError("{workers} must be at least 1")
    return fmt


def _settings(options: ScanOptions, loaded: Any) -> dict[str, str]:
    """What makes this run's verdicts with the ``loaded`` model, as a resumed output's rows record it
    (:func:`mesocli.resume.row_settings`)."""
    from mesocli.resume import row_settings
    from mesocli.scan import run_settings, scan_resize

    # (the runtime and library versions are not compared: no model given, none read)
    made = {**run_settings(options, None), "resize": scan_resize(options.detector, loaded)}
    return row_settings({"model": loaded.describe(), "threshold": options.threshold, "type": "video",
                         "aggregation": options.aggregation, "faces": [] if options.all_faces else None,
                         "settings": made})


def plan_scan(
    paths: list[str] | StreamedInputs, resume_from: Path | None, statuses: list[str], verdicts: list[str | None],
    quiet: bool, log: Callable[[str], None] = note, settings: dict[str, str] | None = None,
    outputs: Sequence[Path] = (), output_folders: Sequence[Path] = (), rehash: bool = False, workers: int = 1,
    bar: bool = False, fmt: str = "jsonl",
) -> tuple[list[str] | Iterator[str], Callable[[dict[str, Any]], dict[str, Any]]]:
    """What to scan, and how to stamp each row: one entry per input (a folder's media files listed, so the
    bars know the count), less those the output holds (``resume_from``: their statuses join
    ``statuses``/``verdicts``, and rows get the ``file`` key that a later resume matches; its rows must
    have been made with ``settings``; a CSV's rows (``fmt``) get it in any run: its columns are always there). With
    ``rehash``, an input whose row has a sha256 is read again
    (``workers`` files at a time, :func:`mesocli.digest.recheck`; a byte counter with ``bar``) and scanned again
    when its bytes changed (:func:`_changed`). An input that is one of ``outputs`` is refused (one that arrives on
    stdin, left out with a note: :func:`_own_output`); files found inside
    a folder given that lie in one of ``output_folders`` (the --explain folder) and are named as heatmaps
    (an earlier run's) are left out, with a note. Hidden files skipped
    inside folders are noted even when ``quiet``: the results do not cover them. ``paths`` as an iterator
    (paths on stdin): the plan is an iterator too, each path planned (and checked) as it arrives (the resume
    count is noted once the list ends)."""
    from mesocli.resume import file_field, file_key, read_done

    done, note = read_done(resume_from, fmt) if resume_from is not None else (None, None)
    if done is not None and settings is not None:
        done.check_settings(resume_from, settings)
    keys: dict[str, Any] = {}
    items = _planned(paths, log, outputs, output_folders)
    # paths on stdin are checked in the thread that draws them: the scan's stop (Ctrl-C) ends a check midway
    stopped = (lambda: False) if isinstance(paths, list) else paths.stopped
    counts = [0, 0, 0]  # inputs, inputs held, bytes checked of paths streamed
    moved: list[tuple[str, str]] = []  # inputs to scan whose file seems held under another path, and that path
    respelt: list[tuple[str, str]] = []  # inputs held under another path (the same file, or the same bytes), it
    claimed: set[str] = set()  # the rows' paths that this run's inputs matched

    def decide(batch: list[str], whole: bool) -> Iterator[str]:
        """The inputs of ``batch`` to scan; ``whole``: the whole list (its check announced as one, with a bar),
        else one path streamed (announced once the paths checked add up to a long check). An input that no row
        names as written matches the row of the same file under another path (:meth:`Done.same_file`), or else,
        hashed, that of a file of its name, size, mtime and sha256 whose path names nothing from here (the first
        run started in another folder); the rows keep their paths."""
        from mesocli import digest

        found, under = {}, {}  # input -> its row's outcome; input -> the path of that row, spelt otherwise
        for item in batch:
            keys[item] = file_key(item)
            found[item] = done.find(item, keys[item])
            if found[item] is None and (other := done.same_file(item)) is not None and other != done.form(item):
                if (outcome := done.find(other, keys[item])) is not None:
                    found[item], under[item] = outcome, other
            if found[item] is not None:
                claimed.add(under.get(item, done.form(item)))
        alike = set()  # matched by name, size, mtime and (checked below) sha256 alone
        forms = {done.form(item) for item in batch}
        for item in batch:
            if (found[item] is None and rehash and (other := done.elsewhere(item, keys[item])) is not None
                    and other not in claimed and other not in forms and not os.path.lexists(other)
                    and (outcome := done.find(other, keys[item])) is not None and outcome[2] is not None):
                found[item], under[item] = outcome, other
                claimed.add(other)
                alike.add(item)
        held = {item: outcome for item, outcome in found.items() if outcome is not None}
        if rehash and not whole and not quiet:
            before = counts[2]
            counts[2] += sum(keys[item][0] for item, outcome in held.items() if outcome[2] and keys[item])
            if before < digest.NOTED_BYTES <= counts[2]:
                log("mesocli: resume: reading the inputs already scanned again as their paths arrive, to check that "
                    f"their bytes are unchanged ({counts[2] / 1e9:.1f} GB so far; --no-hash: size and mtime only)")
        notes = log if whole and not quiet else None
        keyed = {item for item in held if done.keyed(under.get(item, item), keys[item])}
        changed, unread = (_changed(held, keyed, workers, log, notes, bar and whole, stopped, alike) if rehash
                           else (set(), set()))
        for item in batch:
            counts[0] += 1
            outcome = found[item]
            if item in alike and (item in changed or item in unread):  # other bytes: another file
                outcome = None
            elif outcome is None and (other := done.elsewhere(item, keys[item])) is not None:
                moved.append((item, other))
            if outcome is None or item in changed:
                yield item
            else:
                counts[1] += 1
                if item in under:
                    respelt.append((item, under[item]))
                statuses.append("error" if item in unread else outcome[0])  # unchecked: an error of this run
                verdicts.append(outcome[1])

    def todo() -> Iterator[str]:
        if isinstance(items, list):
            yield from decide(items, True)  # checked together, ``workers`` at a time
        else:
            for item in items:
                yield from decide([item], False)
        if note:
            log(f"mesocli: {note}")
        if not quiet:
            count, held = counts[:2]
            log(f"mesocli: resume: {held} of {count} inputs already in {resume_from}, {count - held} to scan")
        if respelt and not quiet:
            (item, other), more = respelt[0], len(respelt) - 1
            log(f"mesocli: resume: {len(respelt)} of them {'is' if len(respelt) == 1 else 'are'} in {resume_from} "
                f"under another path ({item} as {other}{f', and {more} more' if more else ''}: the same file, or one "
                "of the same name, size, time and bytes): not scanned again, "
                f"{'its row keeps' if len(respelt) == 1 else 'their rows keep'} that path")
        # a path that is one of this run's inputs is another file (a hard link, a ``cp -p`` copy), not a moved one
        inputs = {done.form(item) for item in keys}
        moved[:] = [(item, other) for item, other in moved if other not in inputs and other not in claimed]
        if moved:  # even when quiet: each gets a second row
            (item, other), more = moved[0], len(moved) - 1
            log(f"mesocli: resume: {len(moved)} input{'s' if len(moved) > 1 else ''} to scan may be in "
                f"{resume_from} under another path ({item} as {other}{f', and {more} more' if more else ''}: the "
                "same name, size and time, but no sha256 to compare, or a path that names another file from here): "
                "each gets a second row; resume from the same folder as the first run (and, with --no-hash, with the "
                "same INPUT arguments)")

    def stamp(row: dict[str, Any]) -> dict[str, Any]:
        """The row with the ``file`` of the version scanned (hashed, or when its reading began); the one seen
        when it was planned, or now, for a row that does not give it (the input was not read)."""
        if "file" in row:
            return row
        path = row["path"]
        return {**row, "file": file_field(keys[path] if path in keys else file_key(path))}

    if done is None and fmt == "csv":  # its file_size and file_mtime_ns cells are always there: always filled
        return items, stamp
    if done is None:  # JSON rows of a run that is not resumable have no ``file``
        return items, lambda row: {key: value for key, value in row.items() if key != "file"}
    return (list(todo()) if isinstance(paths, list) else Stoppable(todo(), paths.stop)), stamp


def _changed(held: dict[str, Any], keyed: set[str], workers: int, log: Callable[[str], None],
             notes: Callable[[str], None] | None, bar: bool,
             stopped: Callable[[], bool] = lambda: False, alike: set[str] = frozenset()) -> tuple[set[str], set[str]]:
    """The inputs among ``held`` (path -> its row's (status, verdict, sha256)) whose bytes are no longer those
    their row's sha256 names (a file replaced with the same size and mtime: ``cp -p``, ``rsync -t``), each noted
    to ``log`` (``keyed``: those matched by size and mtime too, not by path alone): they are scanned again, and
    their new row, appended, is the one a later resume finds. A row
    without a sha256 is not checked. Also the inputs that cannot be read to check them: they keep their row
    (noted; a scan of one would fail too, and the row of the bytes it had is worth more than an error row), and
    count as errors of this run (exit status 3). ``stopped()`` true (the scan of paths on stdin was stopped):
    the check ends at its next chunk and raises :class:`mesocli.stdin_paths.Stopped`. ``alike``: inputs matched to a
    row under another path by their name, size and mtime alone, whose other bytes say another file: no note."""
    from mesocli import digest
    from mesocli.stdin_paths import Stopped

    checked = {item: outcome[2] for item, outcome in held.items() if outcome[2] is not None}
    digests = digest.recheck(list(checked), workers, done="scanned", bar=bar, log=notes, interrupted=stopped)
    if stopped():
        raise Stopped
    changed: set[str] = set()
    unread: set[str] = set()
    for (item, old), (new, why) in zip(checked.items(), digests, strict=True):
        if item in alike and new != old:
            (unread if new is None else changed).add(item)
        elif new is None:
            unread.add(item)
            log(f"mesocli: {item}: cannot read it to check its bytes ({why}); its row of an earlier scan is kept")
        elif new != old:
            changed.add(item)
            unchanged = ", though not its size and mtime" if item in keyed else ""
            log(f"mesocli: {item}: its bytes changed since it was scanned{unchanged} "
                f"(sha256 {old[:12]} -> {new[:12]}); scanning it again")
    return changed, unread


def _leave_out(items: list[str], named: Sequence[str], folder: Path, log: Callable[[str], None]) -> list[str]:
    """``items`` less the heatmap files (named as ``--explain`` names them) found inside ``folder`` by
    expanding a folder given; files named on the command line stay."""
    from mesocli.report_html import HEATMAP_FILE

    inside = os.path.realpath(folder) + os.sep
    given = set(map(str, named))

    def earlier_heatmap(item: str) -> bool:
        return (item not in given and os.path.realpath(item).startswith(inside)
                and HEATMAP_FILE.fullmatch(os.path.basename(item)) is not None)

    kept = [item for item in items if not earlier_heatmap(item)]
    if len(kept) < len(items):
        count = len(items) - len(kept)
        log(f"mesocli: left out {count} file{'s' if count > 1 else ''} inside {folder}, this run's --explain "
            "folder (heatmaps of an earlier run)")
    return kept


def _planned(paths: list[str] | StreamedInputs, log: Callable[[str], None], outputs: Sequence[Path],
             output_folders: Sequence[Path] = ()) -> list[str] | Iterator[str]:
    """The planned inputs (:func:`mesocli.inputs.plan_inputs`), hidden files and the files of a folder that are
    not media noted: a list for a list (an output among them refused), else an iterator that plans each path as
    it arrives (an output among them left out, :func:`_own_output`: the work done so far is not lost to a
    refusal, nor the output read as an input)."""
    from mesocli.inputs import alias_notes, hidden_notes, plan_inputs, skipped_notes

    def plan(arguments: list[str], seen: dict[Any, str]) -> list[str]:
        hidden: dict[str, list[Path]] = {}
        skipped: dict[str, list[Path]] = {}
        aliases: list[tuple[str, str]] = []
        items = plan_inputs(arguments, hidden, seen, skipped, aliases)
        # each name once (a link inside a folder given, and inside its parent given too; ``./a.mp4`` as ``a.mp4``)
        firsts: dict[str, tuple[str, str]] = {}
        for alias, kept in aliases:
            if (name := os.path.normpath(alias)) not in noted:
                firsts.setdefault(name, (alias, kept))
        aliases = list(firsts.values())
        noted.update(firsts)
        skipped = {folder: [entry for entry in entries  # this scan's own output is no upload it missed
                            if not _own_output(str(entry), outputs, output_folders, lambda _line: None)]
                   for folder, entries in skipped.items()}
        if streamed and len(aliases) == 1 and told[0] >= SHOWN:  # a path on stdin: past the first few, at the end
            held_back.extend(aliases)
            aliases = []
        told[0] += len(aliases) == 1
        for line in hidden_notes(hidden) + skipped_notes(skipped) + alias_notes(aliases):
            log(f"mesocli: {line}")
        for folder in output_folders:
            items = _leave_out(items, arguments, folder, log)
        return items

    noted: set[str] = set()
    streamed = not isinstance(paths, list)
    told = [0]  # notes of one name reached again, each of one path on stdin (``find inbox -type f``)
    held_back: list[tuple[str, str]] = []  # those past the first SHOWN: one note once the list ends
    if isinstance(paths, list):
        refuse_inputs_as_outputs(planned := plan(paths, {}), outputs)
        return planned
    seen: dict[Any, str] = {}

    def planned() -> Iterator[str]:
        yield from (item for path in paths for item in plan([path], seen)
                    if not _own_output(item, outputs, output_folders, log))
        for line in alias_notes(held_back, more=True):
            log(f"mesocli: {line}")

    return Stoppable(planned(), paths.stop)


SHOWN = 3
"""How many names reached again (a link, another spelling) that arrive one by one on stdin are noted as they come: the
others are noted together, in one line, once the list ends."""


def _own_output(item: str, outputs: Sequence[Path], output_folders: Sequence[Path], log: Callable[[str], None]) -> bool:
    """Whether ``item``, a path that arrived on stdin while the scan runs (too late to refuse the run), is one this
    scan writes: one of ``outputs`` (appended to with ``--resume``; under any name: a hard link), a temporary file
    of one (``find`` lists the output being written), or a heatmap (or ``input.json``) in one of ``output_folders``
    (the ``--explain`` folder). Such a path is left out, with a note: never read as evidence."""
    from mesocli.fsutil import is_temporary_of
    from mesocli.inputs import inode
    from mesocli.report import SOURCE_FILE
    from mesocli.report_html import HEATMAP_FILE

    real = os.path.realpath(item)
    if any(real == os.path.realpath(target) or inode(item) == inode(target) is not None for target in outputs):
        log(f"mesocli: left out {item}: it is an output of this scan, not an input")
        return True
    if any(is_temporary_of(item, target) for target in outputs):
        log(f"mesocli: left out {item}: a temporary file of this scan's output, not an input")
        return True
    inside = [folder for folder in output_folders if real.startswith(os.path.realpath(folder) + os.sep)]
    name = os.path.basename(item)
    if inside and (HEATMAP_FILE.fullmatch(name) or (name.startswith(".") and name.endswith(".part"))):
        log(f"mesocli: left out {item}: a heatmap in this scan's --explain folder, not an input")
        return True
    if inside and name == SOURCE_FILE:
        log(f"mesocli: left out {item}: a heatmap folder's {SOURCE_FILE} in this scan's --explain folder, not an "
            "input")
        return True
    return False


def _ray_rows(todo: list[str] | Iterator[str], options: ScanOptions, model: tuple, workers: int | None,
              address: str | None) -> Rows:
    """Rows from a pool of Ray workers, each loading the model (``runtime.resolve`` arguments) itself."""
    from mesocli.ray_engine import RayScan
    from mesocli.runtime import resolve

    ray_scan = RayScan(list(todo), functools.partial(resolve, *model), options, workers=workers,  # the whole list
                       address=address)

    def rows(hook: Any, observer: Any) -> Iterator[dict[str, Any]]:
        for row in ray_scan.results():
            hook("done", row["path"], None)
            yield row

    return rows


def _local_rows(todo: list[str] | Iterator[str], options: ScanOptions, loaded: Any, workers: int | None,
                explainer: Any, log: Callable[[str], None] | None = None) -> Rows:
    """Rows from this process, or from worker processes (one per core unless ``workers``; one when
    heatmaps are made: they need the crops here), scored with the ``loaded`` model. Workers above the cores this
    process may use are noted to ``log`` (:func:`mesocli.workers.crowded_cores`), and run as asked."""
    from mesocli.parallel import default_workers, scan_parallel
    from mesocli.scan import scan_inputs
    from mesocli.workers import crowded_cores

    processes = 1 if explainer is not None else workers or default_workers()
    started = min(processes, len(todo)) if isinstance(todo, list) else processes  # (as scan_parallel starts them)
    crowded = crowded_cores(started) if log is not None and started > 1 else None
    if crowded is not None:
        log(f"mesocli: note: {crowded}")
    if explainer is not None:
        selection = options.selection()
        _explain_with(explainer, loaded, options.aggregation, tracks=options.all_faces, detector=options.detector,
                      sampling=(selection.mode, selection.value))

    def rows(hook: Any, observer: Any) -> Iterator[dict[str, Any]]:
        results = (scan_parallel(todo, loaded, options, processes, progress=hook) if processes > 1
                   else scan_inputs(todo, loaded, options, progress=hook, observer=observer))
        return _as_rows(results)

    return rows


def _as_rows(results: Generator[Any, None, None]) -> Generator[dict[str, Any], None, None]:
    """Each :class:`mesocli.scan.ScanResult`'s row; an exception thrown in at a yield (a stop: :func:`rows_on_stop`)
    is thrown into ``results``, whose rows then go on, as ``yield from`` passes it on."""
    with contextlib.closing(results):
        try:
            result = next(results)
            while True:
                try:
                    yield result.to_dict(file=True)
                except GeneratorExit:
                    raise
                except BaseException as exc:  # (passed on, as yield from does)
                    result = results.throw(exc)
                else:
                    result = next(results)
        except StopIteration:
            return


def _bom_needed(output: Path, resume: bool) -> bool:
    """Whether ``--csv-bom`` writes the byte-order mark: at the start of a new file; a resumed one keeps what it
    starts with (the mark: none added; nothing yet: it gets it), and one that holds other bytes first is refused
    (the mark only starts a file, and ``--resume`` only appends)."""
    from mesocli.writers import BOM

    if not resume or not output.exists():
        return True
    mark = BOM.encode("utf-8")
    with output_errors(output), open(output, "rb") as handle:
        head = handle.read(len(mark))
    if head == mark:
        return False
    if head:
        raise ParameterError("{value}: {csv_bom}: the file does not start with a byte-order mark, and {resume} only "
                             "appends to it: resume without {csv_bom}, or write a new file", value=output)
    return True


def _csv_form(output: Path | None, resume: bool, fmt: str) -> tuple[bool, str]:
    """Whether a CSV starts with its header, and its line end: a resumed one's as the file has them
    (:func:`mesocli.resume.csv_form`)."""
    from mesocli.resume import csv_form
    from mesocli.writers import CSV_LINE_END

    return csv_form(output) if resume and fmt == "csv" and output is not None else (True, CSV_LINE_END)


def _open(stack: contextlib.ExitStack, output: Path | None, resume: bool, force: bool) -> Any:
    """The stream rows are written to: standard output, a temporary file put at ``output`` when the stack
    closes without error (replacing a file there only with ``force``), or (``resume``) ``output`` opened
    for appending."""
    stream: Any = sys.stdout
    if output is not None and resume:
        from mesocli.resume import appending

        stream = stack.enter_context(appending(output))
    elif output is not None:
        target = stack.enter_context(atomic_path(output, wrap_errors=False, replace=force))
        with output_errors(output):
            stream = stack.enter_context(open(target, "w", encoding="utf-8", newline="", errors="backslashreplace"))
    return GuardedStream(stream, output or "standard output")


def _explainer(explain: Path | None, report: Path | None, top: int, options: ScanOptions, force: bool,
               output: Path | None, command: str | None = None) -> Any:
    """The scan's heatmap and report maker (:class:`mesocli.report.Explainer`; its targets are checked
    now, before any work), or None when neither ``explain`` nor ``report`` is asked for."""
    if explain is None and report is None:
        return None
    from mesocli.aggregate import threshold_shown
    from mesocli.rates import sampling_words
    from mesocli.report import Explainer

    if report is not None and str(report) == "-":  # as ``--output -``: no file of that name in the current folder
        raise ParameterError("{report} -: the report is an HTML page written to a file, not to standard output: name "
                             "it, e.g. report.html")
    if report is not None and (instead := not_a_report(report)) is not None:
        raise ParameterError("{value}: {report} writes an HTML page, to open in a browser: name it .html" + instead,
                             value=report)
    if report is not None and output is not None and report.resolve() == output.resolve():
        raise ParameterError("{report} and {output} name the same file")
    if report is not None and explain is not None and report.resolve() == explain.resolve():
        raise ParameterError("{report} and {explain} name the same path (a file and a folder)")
    selection = options.selection()
    sampling = sampling_words(selection.mode, selection.value)  # as the cards' sampling caution words it
    meta = {"sampling": f"{sampling}, detector {options.detector}" + (", all faces" if options.all_faces else ""),
            "verdict rule": f"{options.aggregation} of the frame scores, threshold "
                            f"{threshold_shown(options.threshold)}, timeline smoothed over {options.smooth} frames"}
    if options.all_faces:
        meta["verdict rule"] += f", tracks of {options.min_track_frames} sampled frames or more decide"
    if command:  # what another examiner runs to reproduce the result, and where (relative paths)
        meta["command"] = f"{command}  (run in {os.getcwd()})"
        meta["to repeat"] = (f"run it in {os.getcwd()} with --report naming a new file, not this one, then compare "
                             "the two pages (docs/scan.md, “Repeatability”)")
    return Explainer(None, explain_dir=explain, report=report, top=top, smooth=options.smooth,
                     threshold=options.threshold, meta=meta, force=force)


def _explain_with(explainer: Any, loaded: Any, rule: str = "mean", tracks: bool = False,
                  detector: str = "hog", sampling: tuple[str, float | None] | None = None) -> None:
    """Point the explainer at the scan's model: run by ONNX Runtime, as it is (no TensorFlow); Keras weights, loaded
    at the first heatmap. Each detector's measured error rates are those at the scan's threshold and, per video, by
    its ``rule`` (``--aggregate``), where its model card has them (``tracks``: the scan called videos by face tracks,
    ``--all-faces``, which the cards did not measure: said so; a frame ``sampling``, mode and value, other than the
    cards' clips had: a caution says so).

    With ``model="any"`` each face's map is drawn by the detector whose p_fake is the face's combined score
    (the largest), with ``arch="ensemble"`` by the detector's Meso4 network; the report shows every
    detector's p_fake. With ``detector`` none (the inputs are crops) the header says how a crop not 256×256 was
    resized (each detector's where they differ, as ``settings.resize``)."""
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.explain import gradcam_for
    from mesocli.probe import ffmpeg_version
    from mesocli.provenance import library_versions, versions_text
    from mesocli.rates import FACE_INTERVALS, for_scan, networks, record_words, sampling_caution, table_of
    from mesocli.runtime import OnnxModel, runtime_of
    from mesocli.writers import model_label, weights_digests

    meta = {"model": model_label(loaded.describe()), "runtime": runtime_of(loaded),
            "ffmpeg (video decoding)": ffmpeg_version() or "unknown version",
            "libraries": versions_text(library_versions(runtime_of(loaded))),
            "weights sha256": ", ".join(f"{name} {digest}" for name, digest in weights_digests(loaded.describe()))}
    counted = for_scan(loaded, explainer.threshold, rule, sampling, tracks, detector)  # as the JSON rows' numbers
    by_clips = {name: item for name, item in counted["detectors"].items() if item.get("face_detector") is not None}
    for leaf in networks(loaded):  # what the verdicts weigh: each detector's measured error rates (its model card)
        if leaf.name in by_clips:  # counted from the test clips as a scan took them, at this scan's threshold
            validation = next((said for card in (getattr(leaf, "card", None), getattr(leaf, "source_card", None))
                               if card is not None and (said := card.validation_at(explainer.threshold))), None)
            meta[f"measured error rates of {leaf.name}"] = record_words(by_clips[leaf.name], validation)
            continue
        card = getattr(leaf, "card", None)
        rates = card.rates_at(explainer.threshold, rule, tracks) if card is not None else None
        source = getattr(leaf, "source_card", None)  # an exported .onnx: the card of the weights it came from
        if rates is None and source is not None and (rates := source.rates_at(explainer.threshold, rule, tracks)):
            rates = (f"those of the weights it was exported from, {source.name} (sha256 {source.sha256[:12]}), as "
                     f"their model card gives them: {rates}")
        meta[f"measured error rates of {leaf.name}"] = rates or (
            "unknown: its model card holds only its training run's held-out figures, on faces that chose its best "
            "epoch; measure them on labelled data it never saw with mesocli eval"
            if card is not None and card.metrics.get("heldout") else
            "unknown: these weights have no model card with figures; measure them on labelled data with mesocli eval")
    from mesocli.report import SAMPLING_CAUTION

    measured = [ffpp.get("frames_per_clip") for leaf in networks(loaded) if leaf.name not in by_clips
                for card in (getattr(leaf, "card", None), getattr(leaf, "source_card", None))
                if card is not None and table_of(card.metrics) is not None
                and isinstance(ffpp := card.metrics.get("ffpp_test"), dict)]
    cautions = {caution for frames in measured if (caution := sampling_caution(frames, sampling))}
    cautions = sorted(cautions | {caution for item in by_clips.values() for caution in item["cautions"]
                                  if caution.startswith("measured at another sampling")})
    if cautions:  # the rates above were counted on clips sampled otherwise than this scan's videos
        meta[SAMPLING_CAUTION] = "CAUTION, " + "; ".join(cautions)
    if detector == "none":  # hog and cnn crops are aligned and warped to 256×256: bilinear, whatever the weights
        from mesocli.scan import scan_resize
        from mesocli.weights import describe_resize

        resize = scan_resize(detector, loaded)
        meta["crop resize"] = f"{describe_resize(resize)} (of crops not 256×256: " + (
            "each detector as its weights ask)" if isinstance(resize, dict) else "as the weights ask)")
    for name, item in (counted.get("ensembles") or {}).items():  # --model any --arch ensemble: each detector's own
        meta[f"measured error rates of the {name} ensemble (the mean of {' and '.join(item['networks'])})"] = (
            record_words(item) if "cautions" in item else f"not measured: {item['reason']}")
    if counted["combined"] is not None and "cautions" in counted["combined"]:  # counted from the clips' scores
        kind = "--model any" if isinstance(loaded, DetectorSet) else "--arch ensemble"
        meta[f"measured error rates of the combined verdict ({kind})"] = record_words(counted["combined"])
    elif isinstance(loaded, DetectorSet):  # the verdict is the combination's: no detector's rates are its own
        meta["measured error rates of the combined verdict (--model any)"] = (
            "not measured as a whole: a face, and a video by this scan's rule, is called fake when any one detector "
            "above calls it so, so real faces and videos are called fake at least as often as by the detector above "
            "that does so most, and more often where they err on different ones; measure it on labelled data with "
            "mesocli eval --model any")
    elif isinstance(loaded, Ensemble):
        meta["measured error rates of the combined verdict (--arch ensemble)"] = (
            "not measured as a whole: its p_fake is the mean of the networks' above, whose error rates do not give "
            "the mean's; measure it on labelled data with mesocli eval --arch ensemble")
    if any(key.startswith("measured error rates") and "per face at threshold" in said and "% interval" in said
           for key, said in meta.items()):  # per-face intervals shown: say once what they are not
        meta["error rate intervals"] = FACE_INTERVALS
    drawers = dict(loaded.members) if isinstance(loaded, DetectorSet) else {None: loaded}
    network = None
    for name, drawer in drawers.items():
        if isinstance(drawer, Ensemble):
            network, drawers[name] = next(iter(drawer.members.items()))
    if isinstance(loaded, DetectorSet):
        of = f", drawn by its {network} network" if network else ""
        meta["heatmaps"] = (f"Grad-CAM of the detector whose p_fake is the face's combined score (the largest), "
                            f"named in the caption ({', '.join(drawers)}{of})")
    elif network is not None:
        meta["heatmaps"] = (f"Grad-CAM of {drawers[None].name}, the {network} half of the ensemble; the p_fake in "
                            "the captions is the ensemble's (the mean of both networks')")
    # a model run by ONNX Runtime draws its maps itself (no TensorFlow: mesocli.explain.OnnxGradCam); a Keras one's
    # network is built at the first heatmap. An .onnx file as given has no Keras weights behind it: its own graph
    # draws them, made now (WeightsError for a graph mesocli did not build: refused before the scan)
    drawn = {name: gradcam_for(drawer) if getattr(drawer, "origin", None) == "exported"
             else drawer if isinstance(drawer, OnnxModel) else (lambda drawer=drawer: drawer.model)
             for name, drawer in drawers.items()}
    explainer.model = drawn if isinstance(loaded, DetectorSet) else drawn[None]
    explainer.meta = {**meta, **explainer.meta}
