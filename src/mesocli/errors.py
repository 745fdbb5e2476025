"""Exceptions that the CLI turns into one-line messages and exit statuses, and the checks of a
parameter's value against its choices, its type (the Python API's arguments: numbers, switches, paths)."""

import numbers
import os
import reprlib
import sys
from collections.abc import Callable, Collection, Iterable
from string import Formatter
from typing import Any


def printable(text: str) -> str:
    """``text`` as it is safe to show on a terminal: control characters (escape sequences that could
    move the cursor or erase a line, newlines, tabs) written as Python escapes, e.g. ``\\x1b``."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a line's worth (``'xxxx...xxx'``): a message quotes a wrong value, never pages of it."""
    shortened = reprlib.Repr()
    shortened.maxstring = shortened.maxother = 80
    text = shortened.repr(value)
    return " ".join(text.split()) if "\n" in text else text  # a NumPy array's repr spans lines: one, here


def json_escape(char: str) -> str:
    """``char`` as a JSON escape: ``\\u00fc``; a surrogate pair beyond the BMP."""
    code = ord(char)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


class MesocliError(Exception):
    """A user-facing failure: the message is printed as is, without a traceback."""

    exit_code = 2


class UsageError(MesocliError):
    """Bad arguments or unusable input files given by the user (exit status 2)."""

    exit_code = 2


class WeightsError(UsageError):
    """A weights file that is missing, unreadable, corrupted or does not fit the architecture."""


class WorkerError(UsageError):
    """A worker process (``--workers``) could not get ready: its model (TensorFlow, ONNX Runtime, the weights file)
    failed to load there. The run stops (exit status 2), as it does when the model fails to load in the main
    process."""


class CheckFailed(MesocliError):
    """A check the user asked for found a problem (``export --verify``): exit status 1."""

    exit_code = 1


ERROR_KINDS = {
    "not_found": "no such file or folder, or a broken symbolic link",
    "permission": "permission denied",
    "not_a_file": "a folder, named pipe or device where a file was expected",
    "empty": "an empty file, or a folder that holds no video or image",
    "not_media": "not a video or image mesocli can read (a text file, random bytes, an unknown container)",
    "unsupported": "an image format mesocli does not read (HEIC/HEIF): convert it",
    "no_video_stream": "a media file without a video to judge (audio only, a cover picture)",
    "truncated": "cut short (an upload or copy not finished: an MP4 or MOV without its index or cut before its first "
                 "frame, an image whose data ends early): try again once it is whole",
    "decode_failed": "the file is media but its frames or pixels could not be decoded",
    "too_large": "frames or an image over the pixel limit (MESOCLI_MAX_IMAGE_PIXELS), or too large to decode",
    "timeout": "ffmpeg took too long to read the file",
    "resources": "the machine ran short (memory, threads) or the decoder or worker was killed: the file may be fine",
    "read_failed": "the file could not be read (an I/O error) or hashed",
    "other": "anything else (an unforeseen error, a Ray task that raised one)",
}
"""The ``error_kind`` of a scan's error row (docs/scan.md, docs/scan.schema.json): a stable name a pipeline routes on
(retry, reject, convert), by what each means; the ``error`` text beside it is for people and may change."""


class InputError(MesocliError):
    """One input (video, image) could not be read; the run goes on with the others. ``kind``: one of
    :data:`ERROR_KINDS`, what a scan's row gives as ``error_kind``."""

    exit_code = 3

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind if kind in ERROR_KINDS else "other"

    def __reduce__(self) -> tuple[Any, ...]:  # (kept across processes: a worker's error)
        return type(self), (str(self), self.kind)


def error_kind(exc: BaseException) -> str:
    """The :data:`ERROR_KINDS` name of an input's error ``exc`` (``other`` where it is not an InputError)."""
    return getattr(exc, "kind", "other") if isinstance(exc, InputError) else "other"


class OutputError(MesocliError, OSError):
    """An output that cannot be written (folder not writable, disk full): exit status 2.

    Also an OSError, so that code that tolerates failed writes (a cache) still does.
    """

    exit_code = 2


class ParameterError(UsageError):
    """A bad parameter value. ``template`` names parameters as ``{name}``; other fields come from ``values``.

    ``str()`` speaks of the library's parameter names (``frames must be at least 1``); the CLI renders
    the same error with its flag names (``--frames must be at least 1``) through :meth:`render`.
    """

    def __init__(self, template: str, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(self.render())

    def render(self, name: Callable[[str], str] = str) -> str:
        """The message, each parameter named by ``name(parameter)``."""
        fields = {field for _, field, _, _ in Formatter().parse(self.template) if field}
        params = {field: name(field) for field in fields if field not in self.values}
        return self.template.format(**params, **self.values)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a scheduler) under the CLI: the run stops as on Ctrl-C, cleaning up as it
    goes (temporary files removed, workers stopped), then exits with status 143 (128 + 15)."""

    exit_code = 143
    signal_name = "SIGTERM"


class HungUp(Terminated):
    """SIGHUP (a closed terminal or SSH session, ``kill -HUP``) under the CLI: the run stops as on SIGTERM, then
    exits with status 129 (128 + 1)."""

    exit_code = 129
    signal_name = "SIGHUP"


OUTLIVED_STOP = "mesocli_outlived_stop"
"""The attribute set (True) on an error during whose cleanup a Ctrl-C or SIGTERM came and was noted under it (scan's
rows written after an error of the writing side): the run ends with the error, its line and exit status, not 143."""


class Halted(KeyboardInterrupt):
    """An error (not a signal: a row or heatmap that cannot be written) stopped a scan: thrown into its engine's rows
    as Ctrl-C is, for the rows of the inputs read whole by then; never raised to the user (the error is)."""


def check_choice(parameter: str, value: object, choices: Collection[str]) -> None:
    """Raise ParameterError (``detector must be one of hog, cnn, none, not 'sift'``) unless ``value`` is a choice."""
    if value not in choices:
        raise ParameterError("{" + parameter + "} must be one of {choices}, not {value}", choices=", ".join(choices),
                             value=short_repr(value))


def check_known(parameter: str, value: str, choices: Collection[str]) -> None:
    """Raise ParameterError (``unknown fmt 'xml'; choose table or json``) unless ``value`` is a choice."""
    if value not in choices:
        listed = " or ".join(choices) if len(choices) == 2 else "one of " + ", ".join(choices)
        raise ParameterError("unknown {" + parameter + "} '{value}'; choose {choices}", value=value, choices=listed)


def check_path(name: str, value: object, optional: bool = False) -> None:
    """Refuse, naming the parameter, a path that is not a ``str`` or ``os.PathLike`` (or None, where ``optional``)
    or that holds a NUL character: a TypeError or ValueError from deep inside os and pathlib otherwise."""
    if value is None and optional:
        return
    if not isinstance(value, str | os.PathLike):
        kinds = "(str or os.PathLike)" + (" or None" if optional else "")
        raise ParameterError("{" + name + "} must be a path " + kinds + ", not {value}", value=short_repr(value))
    text = os.fspath(value)
    if "\0" in (text if isinstance(text, str) else os.fsdecode(text)):
        raise ParameterError("{" + name + "} holds a NUL character: {value}", value=short_repr(text))


def check_paths(inputs: "str | os.PathLike[str] | Iterable[str | os.PathLike[str]]",
                parameter: str = "inputs") -> list[str]:
    """``inputs`` (one path, or an iterable of them) as a list of path strings; refused, naming ``parameter``, where
    one is not a path or there is none."""
    if isinstance(inputs, str | bytes | os.PathLike) or _numpy_or_pillow(inputs) or not isinstance(inputs, Iterable):
        items: list[object] = [inputs]  # an array is one wrong value, not its rows
    else:
        items = list(inputs)
    paths = [os.fspath(item) for item in items if isinstance(item, str | os.PathLike)]
    if len(paths) < len(items):
        wrong = next(item for item in items if not isinstance(item, str | os.PathLike))
        raise ParameterError("{" + parameter + "} must be a path or paths (str or os.PathLike), not {value}"
                             + (" (pictures in memory: scan and iter_scan take them; save them to files for this)"
                                if _picture(wrong) else ""),
                             value=short_repr(wrong))
    if not items:
        raise ParameterError("{" + parameter + "} is empty")
    return paths


def _numpy_or_pillow(value: object) -> bool:
    """Whether ``value`` is a NumPy or Pillow object (an array, a number, an image), told without importing
    either."""
    return type(value).__module__.partition(".")[0] in ("numpy", "PIL")


def _picture(value: object) -> bool:
    """Whether ``value`` is a NumPy array or a Pillow image (which :func:`mesocli.api.scan` takes); a NumPy
    number, of 0 dimensions, is none."""
    return _numpy_or_pillow(value) and (type(value).__module__.startswith("PIL") or getattr(value, "ndim", 0) > 0)


def check_numbers(**values: tuple[object, Any]) -> tuple[Any, ...]:
    """Refuse, naming the parameter, a value that is not of its type: ``int`` (a whole number) or ``float``
    (any number), ``| None`` where None is allowed. NumPy numbers count; bool is neither. Returns the values,
    in order, as Python's ``int`` or ``float``: a NumPy number kept would reach the results, which
    ``json.dumps`` then refuses (and ``threshold=1`` would be written ``1``, not the CLI's ``1.0``)."""
    plain: list[Any] = []
    for name, (value, kind) in values.items():
        whole = int in (kinds := getattr(kind, "__args__", (kind,)))
        if value is None and type(None) in kinds:
            plain.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole else numbers.Real):
            raise ParameterError("{" + name + "} must be " + ("a whole number" if whole else "a number")
                                 + ", not {value!r}", value=value)
        number: Any = value
        try:
            plain.append(int(number) if whole else float(number))
        except OverflowError:  # an int beyond any float
            raise ParameterError("{" + name + "} is too large: {value}", value=short_repr(value)) from None
    return tuple(plain)


def check_flags(**values: object) -> tuple[bool, ...]:
    """Refuse, naming the parameter, a switch that is not ``True`` or ``False`` (NumPy's count): ``"no"`` and 1
    would otherwise be taken as switched on. Returns the values, in order, as Python's ``bool``."""
    numpy = sys.modules.get("numpy")
    for name, value in values.items():
        if not (isinstance(value, bool) or numpy is not None and isinstance(value, numpy.bool_)):
            raise ParameterError("{" + name + "} must be True or False, not {value!r}", value=value)
    return tuple(bool(value) for value in values.values())


def check_texts(**values: object) -> None:
    """Refuse, naming the parameter, a value that is neither a string nor None (a split, a label)."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ParameterError("{" + name + "} must be a string or None, not {value!r}", value=value)


def check_callback(name: str, value: object, takes: str) -> None:
    """Refuse a ``value`` that is neither None nor callable (a progress callback, called with a ``takes``)."""
    if value is not None and not callable(value):
        raise ParameterError("{" + name + "} must be a function that takes " + takes + ", or None, not {value}",
                             value=short_repr(value))


def check_workers(workers: int | None) -> int | None:
    """A number of worker processes: a whole number of at least 1, or None (the default)."""
    (workers,) = check_numbers(workers=(workers, int | None))
    if workers is not None and workers < 1:
        raise ParameterError("{workers} must be at least 1, not {value}", value=workers)
    return workers


def check_sampling(frames: Any, fps: Any, every: Any) -> tuple[Any, ...]:
    """The types of the frame sampling numbers, and the numbers as Python's (a whole one an ``int``); their
    values are :class:`mesocli.video.FrameSelection`'s to check (``frames=30.0`` is 30 frames)."""
    check_numbers(frames=(frames, float | None), fps=(fps, float | None), every=(every, float | None))
    return tuple(value if value is None else int(value) if isinstance(value, numbers.Integral) else float(value)
                 for value in (frames, fps, every))
