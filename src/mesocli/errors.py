"""Exceptions that the CLI turns into one-line messages and exit statuses."""


class MesocliError(Exception):
    """A user-facing failure: the message is printed as is, without a traceback."""

    exit_code = 2


class UsageError(MesocliError):
    """Bad arguments or unusable input files given by the user (exit status 2)."""

    exit_code = 2


class WeightsError(UsageError):
    """A weights file that is missing, unreadable, corrupted or does not fit the architecture."""


class InputError(MesocliError):
    """One input (video, image) could not be read; the run goes on with the others."""

    exit_code = 3


class OutputError(MesocliError, OSError):
    """An output that cannot be written (folder not writable, disk full): exit status 2.

    Also an OSError, so that code that tolerates failed writes (a cache) still does.
    """

    exit_code = 2
