"""What runs under the ``mesocli`` commands: library errors as one-line messages with flag names and
their exit statuses, Ctrl-C and SIGTERM, and printing what a command returns."""

from __future__ import annotations

import codecs
import contextlib
import functools
import io
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import typer
from typer.core import TyperCommand

from mesocli.errors import (
    OUTLIVED_STOP,
    HungUp,
    MesocliError,
    OutputError,
    ParameterError,
    Terminated,
    json_escape,
    printable,
)
from mesocli.fsutil import SAME_STOP_SECONDS, GuardedStream, environment_error

DEBUG = {"on": False}
BROKEN_PIPE = 141
"""Exit status when the reader of standard output went away (``| head``): 128 + SIGPIPE, as a shell reports it."""
UNEXPECTED = 70
"""Exit status of an error mesocli did not foresee (a bug, a ``MemoryError``): ``EX_SOFTWARE`` of BSD's sysexits.h,
so that it is never read as one of the documented outcomes (Python's own 1 is ``scan --fail-on-fake``'s fake)."""
TERMINATED: dict[str, Any] = {"on": False, "how": Terminated}
"""Set when SIGTERM (or SIGHUP) arrived: the run then exits 143 (129), however the interruption came out of the
command; ``how``: the class raised, :class:`Terminated` or :class:`HungUp`."""
FLAGS = {"aggregation": "--aggregate", "fmt": "--format", "name_or_path": "--model"}
"""Library parameters whose flag is not ``--`` + the name with dashes."""


def fail(message: str, code: int = 2, exc: BaseException | None = None) -> NoReturn:
    """Print a one-line error on stderr (then ``exc``'s notes, see :func:`say_error`) and exit with ``code``."""
    say_error(message, exc)
    raise typer.Exit(code)


def say_error(message: str, exc: BaseException | None = None) -> None:
    """The one error line on stderr, then each note the library added to ``exc`` (``add_note``: what the stop
    lost, e.g. scan's rows done of an output written whole at the end), one line each."""
    _say(f"mesocli: error: {printable(message)}")
    for note in getattr(exc, "__notes__", ()):
        _say(printable(note))


def _say(line: str) -> None:
    """``line`` on stderr; where stderr cannot be written (``2>>run.log`` on a full disk) the line is lost, not the
    exit status of what it reports (the failure to write it ended the run in Python's status 1)."""
    with contextlib.suppress(OSError):
        typer.echo(line, err=True)


def flag(parameter: str) -> str:
    """The command-line flag of a library parameter (``batch_size`` -> ``--batch-size``)."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def message(exc: MesocliError, names: dict[str, str] | None = None) -> str:
    """An error's one-line message, with flag names (or a command's own ``names``) where the library
    speaks of parameters."""
    if not isinstance(exc, ParameterError):
        return str(exc)
    return exc.render(lambda parameter: (names or {}).get(parameter) or flag(parameter))


class FlagPairHelp(TyperCommand):
    """A command whose help names a flag's negative form (``--no-jit``) in the flag's help text instead of in a
    column of its own: at 80 columns that column left ``train --help`` 17 characters of text a line, and names
    were cut short (``--no-class-wei…``). Parsing is untouched: the pairs are put back once the help is drawn."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        pairs = [param for param in self.params if getattr(param, "secondary_opts", None)]
        saved = [(param, param.secondary_opts, param.help, param.show_default) for param in pairs]
        try:
            for param in pairs:
                negative = ", ".join(param.secondary_opts)
                state = f"on; {negative} turns it off" if param.default else f"off ({negative})"
                param.help = f"{(param.help or '').rstrip()} Default: {state}."
                param.secondary_opts, param.show_default = [], False
            super().format_help(ctx, formatter)
        finally:
            for param, negative, text, show_default in saved:
                param.secondary_opts, param.help, param.show_default = negative, text, show_default


def command_of(app: typer.Typer) -> Callable[..., Any]:
    """``app``'s command decorator: ``command(name, names=..., quiet_interrupt=..., **settings)`` registers a
    command whose library errors become one-line errors with their exit status (a traceback with
    ``--debug``), parameters named by their flags or the command's own ``names``; with ``quiet_interrupt``
    Ctrl-C exits 130 without a message (SIGTERM always says so: 143, one line, see :func:`run`)."""

    def command(name: str | None = None, *, names: dict[str, str] | None = None, quiet_interrupt: bool = False,
                **settings: Any) -> Callable[[Callable[..., Any]], Any]:
        settings.setdefault("cls", FlagPairHelp)
        return lambda function: app.command(name, **settings)(_guarded(function, names, quiet_interrupt))

    return command


def _guarded(function: Callable[..., Any], names: dict[str, str] | None, quiet_interrupt: bool) -> Callable[..., Any]:
    """``function`` with its library errors (and Ctrl-C) turned into exits, as :func:`command_of` says."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except MesocliError as exc:
            if getattr(exc, OUTLIVED_STOP, False):  # a SIGTERM that came in its cleanup is noted under it: not 143
                TERMINATED["on"] = False
            debug_traceback(exc)
            fail(message(exc, names), exc.exit_code, exc)
        except KeyboardInterrupt as exc:
            if not quiet_interrupt:
                raise
            for note in getattr(exc, "__notes__", ()):  # what a stop dropped (scan: a batch cut short)
                _say(printable(note))
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
            _discard_stdout()
            raise typer.Exit(BROKEN_PIPE) from None
        except ModuleNotFoundError as exc:
            missing = missing_dependency(exc)
            if missing is None:
                raise
            debug_traceback(exc)
            fail(missing, 2)

    return guarded


# import name -> distribution of mesocli's required dependencies (a damaged install may lack one)
_DISTRIBUTIONS = {
    "tensorflow": "tensorflow", "keras": "tensorflow", "onnxruntime": "onnxruntime", "onnx": "onnx",
    "matplotlib": "matplotlib", "sklearn": "scikit-learn", "dlib": "dlib-bin", "h5py": "h5py",
    "face_recognition_models": "face_recognition_models", "PIL": "Pillow", "imageio_ffmpeg": "imageio-ffmpeg",
}


def shell_line(args: list[str]) -> str:
    """``args`` as one line a POSIX shell reads back as them (:func:`shlex.join`); an argument with a byte that is not
    UTF-8 (``\\udcff`` in ``sys.argv``) or a character that is not printable (a newline) in bash's ``$'...'`` quoting
    (``$'bad\\xff.mp4'``), so that the line stays one line and names the very bytes."""
    import shlex

    return " ".join(shlex.quote(arg) if arg.isprintable() else _ansi_quoted(arg) for arg in args)


def _ansi_quoted(arg: str) -> str:
    """``arg`` in bash's ``$'...'`` quoting: escapes for the bytes of what is not printable, the rest as it is."""
    out = []
    for char in arg:
        if char in "\\'":
            out.append("\\" + char)
        elif char.isprintable() or char in "\n\t\r":
            out.append(char if char.isprintable() else {"\n": "\\n", "\t": "\\t", "\r": "\\r"}[char])
        else:  # a byte that is not UTF-8 (surrogateescape) as it is, else the character's UTF-8 bytes
            raw = os.fsencode(char) if "\udc80" <= char <= "\udcff" else char.encode("utf-8", "surrogatepass")
            out.append("".join(f"\\x{byte:02x}" for byte in raw))
    return "$'" + "".join(out) + "'"


def missing_dependency(exc: ModuleNotFoundError) -> str | None:
    """The one-line error for a required dependency that is not installed, or None for any other module."""
    top = (exc.name or "").split(".")[0]
    if top not in _DISTRIBUTIONS:
        return None
    hint = "; or scan with --runtime tensorflow" if top == "onnxruntime" else ""
    return (f"this command needs the Python package {_DISTRIBUTIONS[top]}, which is not installed (a damaged "
            f"installation): reinstall mesocli, or pip install {_DISTRIBUTIONS[top]}{hint}")


def err(text: str) -> None:
    """Print a line on stderr, its control characters escaped (a name with a newline or an escape sequence in
    a note, such as the hidden files skipped in a folder, split the line or reached the terminal raw)."""
    _say(printable(text))


def echo(text: str, nl: bool = True) -> None:
    """Print on standard output as :func:`run` set it up: what its encoding lacks as JSON escapes. (Without a
    file, typer.echo writes to click's own copy of an ASCII stdout, UTF-8 with ``?`` for a name's
    undecodable bytes: the names in explain's and extract's JSON were lost.)"""
    typer.echo(text, nl=nl, file=sys.stdout)


def show(view: Any) -> None:
    """Print text as it is, rich renderables (a table, or a list of them) through rich: each at least as wide as
    it needs (no column is cut short or left out); on a terminal too narrow for a table, as a list, a line a field
    (:func:`mesocli.writers.fitted`, as scan's table). In a file or a pipe a table takes its full width, no cell
    folded (as scan's table there)."""
    if isinstance(view, str):
        echo(view)
        return
    from mesocli.writers import console, fitted, needed_width

    width = console().width
    terminal = sys.stdout.isatty()
    for item in view if isinstance(view, list) else [view]:
        if terminal:  # a table too wide for the terminal: a list, a line a field (its lines would wrap)
            item = fitted(item, width)
        wide = width if isinstance(item, str) else max(width, needed_width(item, whole=not terminal))
        console(width=wide).print(item)


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """Codec error handler: a character the stream's encoding lacks becomes a JSON escape (``\\u00e9``), which
    reads back, inside a JSON string, as the very character."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(map(json_escape, error.object[error.start:error.end])), error.end


def _raw_or_json_escape(error: UnicodeError) -> tuple[bytes, int]:
    """Codec error handler: a file name's undecodable bytes (surrogates) as the bytes themselves, as
    ``surrogateescape`` writes them; any other character the encoding lacks as a JSON escape."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    written = bytearray()
    for char in error.object[error.start:error.end]:
        code = ord(char)
        written += bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else json_escape(char).encode("ascii")
    return bytes(written), error.end


JSON_ESCAPE = "mesocli.jsonescape"
RAW_OR_JSON_ESCAPE = "mesocli.rawjsonescape"
codecs.register_error(JSON_ESCAPE, _json_escape)
codecs.register_error(RAW_OR_JSON_ESCAPE, _raw_or_json_escape)


def _tolerant_stdout() -> None:
    """Make standard output write what its encoding lacks instead of failing: any character as a JSON escape
    (``\\u00fc``; ``\\udce9`` for a file name's byte that is not UTF-8), so that JSON output stays valid JSON.
    A UTF-8 standard output is always valid UTF-8: such a byte is the escape there too, also where Python chose
    surrogateescape (the ``C.UTF-8`` locale, or ``C`` in UTF-8 mode), which wrote the raw byte; a locale of another
    encoding that chose surrogateescape (``C`` without UTF-8 mode: ASCII) keeps a name's raw bytes, with JSON
    escapes for the rest (a table's ``≥`` was a UnicodeEncodeError there)."""
    errors = getattr(sys.stdout, "errors", None) or ""
    try:
        utf8 = codecs.lookup(getattr(sys.stdout, "encoding", None) or "ascii").name == "utf-8"
    except LookupError:
        utf8 = False
    handler = {"strict": JSON_ESCAPE, "backslashreplace": JSON_ESCAPE,
               "surrogateescape": JSON_ESCAPE if utf8 else RAW_OR_JSON_ESCAPE}.get(errors)
    if handler is not None and hasattr(sys.stdout, "reconfigure"):
        with contextlib.suppress(ValueError, io.UnsupportedOperation):
            sys.stdout.reconfigure(errors=handler)


class ClosedOutput(io.TextIOBase):
    """Standard output when the shell closed it (``>&-``): reported as closed, so a command that needs it
    refuses before any work, and a write fails with one clear line rather than a traceback."""

    name = "<stdout>"

    @property
    def closed(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        raise OutputError("cannot write standard output: it is closed")

    def flush(self) -> None:
        pass


def _usable_standard_streams() -> None:
    """A standard stream the shell closed (``<&-``, ``>&-``, ``2>&-``) is ``None`` in Python: input reads as
    empty, error output goes nowhere, standard output is a :class:`ClosedOutput`. Its descriptor (0, 1, 2) is
    opened on the null device, so that no file opened later takes it: what a library or ffmpeg writes to
    descriptor 2 would land in that file (an output, a crop), and code that saves and restores descriptor 2
    failed with "Bad file descriptor"."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: ``fd`` itself
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 (open for the process's life)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    if sys.stdout is None:
        sys.stdout = ClosedOutput()


def _discard_stdout() -> None:
    """Point standard output's descriptor at the null device, so that what Python still buffers for a reader
    that went away (``| head``) is dropped at exit rather than raising BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


@contextlib.contextmanager
def _no_world_writable_outputs() -> Iterator[None]:
    """In the block, the umask also withholds write permission from others (``umask 000`` acts as ``002``):
    crops, reports and exports of evidence are never world-writable. The caller's umask is restored after."""
    previous = os.umask(0o077)
    os.umask(previous | 0o002)
    try:
        yield
    finally:
        os.umask(previous)


STOP_SIGNALS = {signal.SIGTERM: Terminated, signal.SIGHUP: HungUp} if hasattr(signal, "SIGHUP") else {
    signal.SIGTERM: Terminated}
"""The signals a command stops on as on Ctrl-C (cleaning up), and what each raises: SIGTERM, and SIGHUP (a closed
terminal or SSH session), which exit with status 143 and 129."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """In the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the main thread, and SIGHUP
    :class:`HungUp` (one), so that a command stops as on Ctrl-C: temporary files removed, workers and their ffmpeg
    stopped. Each time, as Ctrl-C: a second one while the first is handled stops at once as a second Ctrl-C does (a
    scan drops the batch being scored); one within :data:`SAME_STOP_SECONDS` of the one before is that same stop, and
    does nothing. A signal ignored from the start (``nohup`` ignores SIGHUP), or handled by the program that calls
    :func:`run`, is left alone."""
    TERMINATED["on"] = False
    in_main = threading.current_thread() is threading.main_thread()
    previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
    taken = [number for number, handler in previous.items() if handler == signal.SIG_DFL] if in_main else []
    heard: list[float] = []  # when the last one that stopped came

    def stop(number: int, frame: Any) -> None:
        now = time.monotonic()
        if heard and now - heard[0] < SAME_STOP_SECONDS:  # the same stop, sent twice (timeout: then to the group)
            return
        heard[:] = [now]
        TERMINATED["on"] = True
        TERMINATED["how"] = STOP_SIGNALS[signal.Signals(number)]
        raise TERMINATED["how"]

    for number in taken:
        signal.signal(number, stop)
    try:
        yield
    finally:
        for number in taken:
            signal.signal(number, previous[number])


def run(app: typer.Typer) -> None:
    """Run ``app`` on ``sys.argv`` and exit: every error is one line on stderr (a traceback only with
    --debug), with its exit status. MesocliError carries its own status (2 usage, 3 input); a
    command-line parsing error is 2; Ctrl-C 130; SIGTERM, once the command has cleaned up, 143."""
    _usable_standard_streams()
    _tolerant_stdout()
    if os.environ.get("COLUMNS", "1").strip() in ("0", ""):  # rich takes it as is: --help printed nothing
        del os.environ["COLUMNS"]
    # where the home folder cannot be written (a container's HOME=/), matplotlib's two-line notice that it
    # made a temporary cache folder instead: not the user's concern, the plots are the same
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    # a full disk on standard output is one line and exit status 2 in every command (it was a traceback, exit 1);
    # what is still buffered is dropped, or it would fail again at exit
    guarded = GuardedStream(sys.stdout, "standard output", on_failure=_discard_stdout)
    stdout, sys.stdout = sys.stdout, guarded
    try:
        with _sigterm_as_interrupt(), _no_world_writable_outputs():
            _run(app)
    except SystemExit as exc:
        # the help (rich) and --version (click) catch a closed pipe themselves and exit with status 1, which
        # says "failed" (and "fake" for scan --fail-on-fake): the reader went away, 141 as for every command
        if guarded.reader_gone and exc.code == 1:
            _discard_stdout()
            sys.exit(BROKEN_PIPE)
        raise
    except Exception as exc:  # not foreseen: Python's traceback and status 1 read as "a fake" (--fail-on-fake)
        _unexpected(exc)
    finally:
        sys.stdout = stdout


STOPPED_STATUSES = (130, 143, 129)
"""The exit statuses of a run stopped by Ctrl-C, SIGTERM and SIGHUP."""


def run_process(app: typer.Typer) -> NoReturn:
    """:func:`run` as the ``mesocli`` process: a run stopped by Ctrl-C, SIGTERM or SIGHUP, once its cleanup is done
    (outputs whole, temporary files gone, ffmpeg and workers stopped), runs the exit handlers and ends at once.
    The interpreter's teardown is skipped: it waited for threads still at work (a hash of a large file) and
    destroyed native libraries under threads still inside them (dlib, ONNX Runtime), which aborted the process
    now and then (status -6, "terminate called without an active exception") instead of the status it had said."""
    try:
        run(app)
    except SystemExit as exc:
        if exc.code not in STOPPED_STATUSES:
            raise
        import atexit

        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()  # (ffmpeg processes killed, worker processes ended, logging flushed)
        os._exit(int(exc.code))
    sys.exit(0)


def _unexpected(exc: Exception) -> NoReturn:
    """An exception mesocli did not foresee: its traceback on stderr (for a bug report), then one line that names
    it, and exit status :data:`UNEXPECTED`, which no documented outcome has (also with ``--debug``)."""
    _traceback(exc)
    text = " ".join(str(exc).split())
    say_error(f"unexpected {type(exc).__name__}{': ' if text else ''}{text} (exit status {UNEXPECTED}: not a verdict "
              "or an input's error; the traceback above is for a bug report)", exc)
    sys.exit(UNEXPECTED)


def debug_traceback(exc: BaseException) -> None:
    """With ``--debug``, ``exc``'s traceback on stderr; the caller then prints the error's one line and exits with
    the status the run has without ``--debug`` (the exception was raised as it was: Python's status 1, which
    ``scan --fail-on-fake`` gives for a fake)."""
    if DEBUG["on"]:
        _traceback(exc)


def _traceback(exc: BaseException) -> None:
    """``exc``'s traceback on stderr, after what the command left buffered on standard output; its notes are left
    out (they come under the one line, as for any error)."""
    import traceback

    with contextlib.suppress(Exception):  # (what the command left buffered: written before the traceback)
        sys.stdout.flush()
    notes = exc.__dict__.pop("__notes__", None)  # (what became of the rows done: under the one line, as for any error)
    with contextlib.suppress(OSError):  # (stderr that cannot be written: the status stays)
        traceback.print_exception(exc, file=sys.stderr)
    if notes is not None:
        exc.__notes__ = notes


def _help_of(ctx: typer.Context | None) -> str:
    """The help command for the parser's error in ``ctx``: ``mesocli scan --help`` for a bad option of ``scan``
    (``mesocli --help`` lists the commands, not their options), ``mesocli --help`` outside a command."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return " ".join(["mesocli", *filter(None, names), "--help"])


def _run(app: typer.Typer) -> None:
    try:
        code = app(standalone_mode=False)
    except MesocliError as exc:
        debug_traceback(exc)
        say_error(message(exc), exc)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _exit_interrupted()
        _say("mesocli: interrupted")
        sys.exit(130)
    except OSError as exc:
        line = environment_error(exc)
        if line is None:
            raise
        debug_traceback(exc)
        say_error(line, exc)
        sys.exit(2)
    except Exception as exc:  # the parser's errors (bad option, missing argument) come as ClickException
        if not hasattr(exc, "format_message"):
            raise
        debug_traceback(exc)
        if type(exc).__name__ == "NoArgsIsHelpError":
            _say(exc.format_message())
            sys.exit(2)
        text = exc.format_message().replace("Value error, ", "")  # the parser's validator prefix says nothing
        _say(f"mesocli: error: {printable(text)} (see '{_help_of(getattr(exc, 'ctx', None))}')")
        sys.exit(getattr(exc, "exit_code", 2))
    _exit_interrupted()  # the command ended on SIGTERM (typer turns the KeyboardInterrupt into status 130)
    try:
        sys.stdout.flush()  # what is still buffered: a reader that went away shows here, not at exit
    except BrokenPipeError:
        _discard_stdout()
        sys.exit(BROKEN_PIPE)
    except OutputError as exc:  # a full disk
        _discard_stdout()
        _say(f"mesocli: error: {printable(str(exc))}")
        sys.exit(exc.exit_code)
    except ValueError:  # closed by the command
        pass
    sys.exit(code if isinstance(code, int) else 0)


def _exit_interrupted() -> None:
    """After SIGTERM (SIGHUP): one line, exit status 143 (129)."""
    if TERMINATED["on"]:
        how = TERMINATED["how"]
        _say(f"mesocli: stopped by {how.signal_name}")
        sys.exit(how.exit_code)
