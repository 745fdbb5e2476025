"""Exceptions that the CLI turns into one-line messages and exit statuses, and the checks of a
parameter's value against its choices."""

import reprlib
from collections.abc import Callable, Collection
from string import Formatter


def printable(text: str) -> str:
    """``text`` as it is safe to show on a terminal: control characters (escape sequences that could
    move the cursor or erase a line, newlines, tabs) written as Python escapes, e.g. ``\\x1b``."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a line's worth (``'xxxx...xxx'``): a message quotes a wrong value, never pages of it."""
    shortened = reprlib.Repr()
    shortened.maxstring = shortened.maxother = 80
    return shortened.repr(value)


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


class InputError(MesocliError):
    """One input (video, image) could not be read; the run goes on with the others."""

    exit_code = 3


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
