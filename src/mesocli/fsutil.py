"""File-system helpers: safe writes (a temp file beside the target, renamed into place only when
complete), write failures as one-line errors, the checks every input file goes through first, and
the folder walk that every command shares."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import itertools
import os
import re
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mesocli.errors import InputError, OutputError, ParameterError, UsageError

_FD_FOLDER = re.compile(r"/proc/(self|thread-self|\d+)(/task/\d+)?/fd|/dev/fd")
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}
APPEARED = ("{value}: exists (it appeared during the run), so this run's output is in {kept}; pass {force} to "
            "replace the file instead")
"""The refusal of an output that another process wrote while this run worked (a ParameterError template)."""
_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


NAME_MAX, PATH_MAX = 255, 4095  # Linux: the bytes of one name, of a whole path (4096 with its NUL)


def shortened(path: str, cut: int = 80) -> str:
    """``path`` in at most ``cut`` characters: its middle left out (``...``) when longer."""
    return path if len(path) <= cut else f"{path[:cut * 2 // 3]}...{path[len(path) - cut // 3:]}"


def environment_error(exc: OSError) -> str | None:
    """The one-line message for an OSError that the environment, not a file's content, caused: a name longer
    than the file system allows (the path shortened: one short line), or a current folder that was deleted;
    None for any other error."""
    if exc.errno == errno.ENAMETOOLONG:
        path = os.fsdecode(exc.filename) if exc.filename is not None else ""
        longest = max((len(os.fsencode(part)) for part in path.split(os.sep)), default=0)
        if longest > NAME_MAX:
            return (f"{shortened(path)}: name too long ({longest} bytes in one name; the file system allows "
                    f"{NAME_MAX}): give a shorter one")
        length = len(os.fsencode(path))
        if length > PATH_MAX:  # every name short, the whole path too long
            return (f"{shortened(path)}: path too long ({length} bytes; the system allows {PATH_MAX}): "
                    "give a shorter one")
        return f"{shortened(path)}: name too long for the file system: give a shorter one"
    try:
        os.getcwd()
    except FileNotFoundError:
        return ("the current folder no longer exists (it was deleted or moved): cd to a folder that exists, "
                "or give absolute paths")
    return None


def cache_folder() -> Path | None:
    """mesocli's cache: ``$MESOCLI_CACHE``, else ``$XDG_CACHE_HOME/mesocli`` (an absolute one, as the XDG rules
    say), else ``~/.cache/mesocli``; None where there is no home folder (``HOME`` unset and the user not in the
    password database, as in containers run with an arbitrary user id): ``~`` stayed ``~``, and a folder named
    ``~`` was made in the current one (the analyst's evidence folder)."""
    if os.environ.get("MESOCLI_CACHE"):
        return Path(os.environ["MESOCLI_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg, "mesocli")
    home = os.path.expanduser("~")
    return Path(home, ".cache", "mesocli") if os.path.isabs(home) else None


def trusted_cache_file(path: Path, *others: Path) -> bool:
    """Whether a cached file (and ``others`` beside it) may be used: each, and their folder, belong to this user
    (or root) and other users (outside the group) may not write them. A cache that others can write (a shared
    ``MESOCLI_CACHE``, one made under ``umask 000``) could hold someone else's model or face detector, with the
    sha256 recorded beside it, and so change the verdicts: it is not read (each run converts, or builds the
    detector). The group is trusted: under the common ``umask 002`` every file is group-writable."""
    try:
        return all(_owned(os.stat(entry)) for entry in (path, *others, path.parent))
    except OSError:
        return False


def _owned(info: os.stat_result) -> bool:
    """Whether a file or folder belongs to this user (or root) and others may not write it."""
    return info.st_uid in (os.geteuid(), 0) and not info.st_mode & stat.S_IWOTH


def cache_file_writable(path: Path, *others: Path) -> bool:
    """Whether a cached file (and ``others`` beside it) may be written now: their folder is made, and trusted
    as :func:`trusted_cache_file` trusts it; an untrusted file at one of the paths (another user's, one others
    may write, a symbolic link) is removed first, so that the new one gets this run's mode (it kept the old one's:
    a file once 0666 was converted again on every run) and no link is followed (one planted in a folder others
    may write made the run overwrite the file it pointed to). False in a folder others may write: nothing is
    written there. Raises OSError when the folder cannot be made."""
    make_folders(path.parent)
    if not _owned(os.stat(path.parent)):
        return False
    for entry in (path, *others):
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(entry)
            if stat.S_ISLNK(info.st_mode) or not _owned(info):
                entry.unlink()
    return True


@contextlib.contextmanager
def output_errors(target: Path | str) -> Iterator[None]:
    """Turn an OSError raised in the block (folder not writable, disk full) into an OutputError naming ``target``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc


class GuardedStream:
    """A text stream whose write failures (disk full, ...) become an OutputError naming it (``cannot write
    standard output: No space left on device``), after ``on_failure`` runs; a closed pipe stays a
    BrokenPipeError (the reader went away), and :attr:`reader_gone` says it happened (a library that catches the
    error, as rich and click do, exits with status 1); :attr:`failed` says that a write or flush failed at all."""

    def __init__(self, stream: Any, name: object, on_failure: Callable[[], None] | None = None) -> None:
        self._stream = stream
        self._name = name
        self._on_failure = on_failure
        self.reader_gone = False
        self.failed = False

    def write(self, text: str) -> int:
        with self._errors():
            return self._stream.write(text)

    def flush(self) -> None:
        with self._errors():
            self._stream.flush()

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            self.reader_gone = self.failed = True
            raise
        except OutputError:
            self.failed = True
            raise
        except OSError as exc:
            self.failed = True
            if self._on_failure is not None:
                self._on_failure()
            with output_errors(str(self._name)):
                raise exc from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


SAME_STOP_SECONDS = 1.0
"""A SIGTERM this soon after the one before is the same stop, not a second one (GNU ``timeout`` sends its SIGTERM to
the command, then to the command's process group: the command again, at once)."""

INSISTED = "mesocli_insisted"
"""The attribute set (True) on the exception of a second Ctrl-C or SIGTERM that came while :func:`whole_write` held
the first: the user insists, the run stops at once (:func:`insisted`)."""


def insisted(exc: BaseException) -> bool:
    """Whether ``exc`` is a second Ctrl-C or SIGTERM that came while a row's write held the first."""
    return bool(getattr(exc, INSISTED, False))


_HELD = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
"""The signals :func:`whole_write` holds: Ctrl-C, and those the CLI stops on as on it (SIGTERM, SIGHUP)."""


@contextlib.contextmanager
def whole_write() -> Iterator[None]:
    """In the block, Ctrl-C, SIGTERM and SIGHUP wait: their Python handlers run as it ends, so that what the block
    writes (a row of results) is written whole or not at all, never cut in the middle. A second one while one waits
    runs at once (the write may wait for a reader that reads no more: the user insists), but a SIGTERM or SIGHUP
    within :data:`SAME_STOP_SECONDS` of a SIGTERM or SIGHUP that waits is that one again. In the main thread only,
    and only for signals that a Python handler takes (one ignored, or left to the system, is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {number: signal.getsignal(number) for number in _HELD}
    handlers = {number: handler for number, handler in handlers.items() if callable(handler)}
    arrived: list[int] = []
    holding = [True]
    came: list[float] = []  # when the one that waits came

    def hold(number: int, frame: Any) -> None:
        if holding and not arrived:
            arrived.append(number)
            came[:] = [time.monotonic()]
            return
        if (arrived and signal.SIGINT not in (number, arrived[0])
                and time.monotonic() - came[0] < SAME_STOP_SECONDS):
            return  # the same stop, sent twice (timeout: to the process, then to its group; systemd: SIGTERM, then
            # SIGHUP at once): it still waits, as the CLI's handler takes both for one stop
        again = bool(arrived)
        arrived.clear()  # a second one, or one after the block, whose handler was not back yet: now
        try:
            handlers[number](number, frame)
        except BaseException as exc:
            if again:
                setattr(exc, INSISTED, True)
            raise

    try:  # a signal may come between two of these calls: every handler is back however the block ends
        for number in handlers:
            signal.signal(number, hold)
        yield
    finally:
        holding.clear()
        for number, handler in handlers.items():
            if signal.getsignal(number) is hold:  # not one a handler set meanwhile (one that replaced itself)
                signal.signal(number, handler)
        for number in arrived:
            handlers[number](number, None)


@functools.cache
def _umask() -> int:
    """The process umask, read once: from /proc where Linux shows it, else set (to 0o077) and at once restored."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o077)  # restrictive meanwhile: a file another thread creates now is not world-writable
    os.umask(mask)
    return mask


NEW_FILE = 0o664
"""The mode every new output file is opened with (``os.open``), before the umask: never writable by others."""
NEW_FOLDER = 0o775
"""The mode every new output folder is made with, before the umask: never writable by others."""


def _output_mask() -> int:
    """The umask, also withholding write permission from others: under ``umask 000`` crops, reports and exports of
    evidence are not world-writable, whichever entry point (the CLI, the Python API) wrote them. The process's
    umask itself is left as it is."""
    return _umask() | 0o002


def folder_mode() -> int:
    """The mode a new output folder gets: 0o777 less the umask, never writable by others (for a folder made by
    ``mkdtemp``, 0o700)."""
    return 0o777 & ~_output_mask()


def make_folders(folder: Path) -> None:
    """Make ``folder`` and its missing parents (as ``mkdir -p``) with :data:`NEW_FOLDER` less the umask: not
    writable by others under ``umask 000`` (``Path.mkdir`` makes parents 0o777 less the umask)."""
    folder = Path(folder)
    missing = [path for path in (folder, *folder.parents) if not os.path.isdir(path)]
    for path in reversed(missing):  # outermost first
        try:
            path.mkdir(NEW_FOLDER)
        except FileExistsError:
            if not path.is_dir():
                raise


def no_world_write(root: Path) -> None:
    """Withhold write permission from others on ``root`` and everything under it (what a library such as
    TensorFlow wrote there by the process's umask). Best effort: some file systems (FAT) refuse modes."""
    for folder, folders, files in os.walk(root):
        for path in (folder, *(os.path.join(folder, name) for name in folders + files)):
            with contextlib.suppress(OSError):
                info = os.lstat(path)
                if not stat.S_ISLNK(info.st_mode) and info.st_mode & stat.S_IWOTH:
                    os.chmod(path, stat.S_IMODE(info.st_mode) & ~stat.S_IWOTH)


def _give_mode(tmp: Path, target: Path) -> None:
    """Give the finished file ``tmp`` the permissions of the ``target`` it replaces, or, for a new target, those
    of ``open(target, "w")`` less write permission for others (0o666 less :func:`_output_mask`). Best effort:
    some file systems (FAT) refuse modes."""
    with contextlib.suppress(OSError):
        if not stat.S_ISREG(os.stat(tmp).st_mode):
            return
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode) & 0o777
        except OSError:
            mode = 0o666 & ~_output_mask()
        os.chmod(tmp, mode)


def _make_folder(folder: Path, target: Path) -> None:
    """Make ``folder`` and its parents; an existing non-folder on the way is an OutputError naming it and ``target``."""
    try:
        make_folders(folder)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [*reversed(folder.parents), folder]
                        if os.path.lexists(p) and not os.path.isdir(p)), None)
        if blocker is None:
            raise
        what = "a broken symbolic link" if os.path.islink(blocker) else "not a folder"
        raise OutputError(f"cannot write {target}: {blocker} is {what}") from None


def is_stream(target: Path | str) -> bool:
    """Whether an output is written straight into rather than replaced: a character device (``/dev/null``),
    a named pipe, or an open descriptor (``/dev/stdout``, ``/dev/fd/N``, a link to one): not a file that a
    run could overwrite."""
    if _names_descriptor(Path(target)):
        return True
    try:
        mode = os.stat(target).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _names_descriptor(path: Path) -> bool:
    """Whether ``path`` (through its symbolic links) names an entry of a process's ``fd`` folder."""
    for _ in range(40):  # the system's own limit on links followed
        parent = os.path.realpath(path.parent)
        if _FD_FOLDER.fullmatch(parent):
            return True
        if not path.is_symlink():
            return False
        path = Path(parent) / os.readlink(path)
    return False


def real_target(target: Path | str) -> Path:
    """The file an output path names: ``target``, or for a symbolic link the file it leads to (what is
    protected and replaced; the link itself stays). A stream (:func:`is_stream`) is itself."""
    target = Path(target)
    if not target.is_symlink() or is_stream(target):
        return target
    return Path(os.path.realpath(target))


def _temp_prefix(folder: Path, name: str, suffix: str) -> str:
    """``.{name}.`` for the temporary file beside ``name``, ``name`` cut short where the whole temporary name
    (with mkstemp's 8 characters and ``suffix``) would pass the file system's limit on a name's length."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    room = limit - len(os.fsencode(f"..{suffix}")) - 8
    encoded = os.fsencode(name)
    return f".{os.fsdecode(encoded[:room]) if len(encoded) > room else name}."


def is_temporary_of(path: str | Path, target: str | Path) -> bool:
    """Whether ``path`` is named as a temporary file that :func:`atomic_path` makes for ``target`` (``.NAME.`` and
    mkstemp's 8 characters, beside it), be it this run's or one a killed run left."""
    real = real_target(Path(target))
    if os.path.realpath(Path(path).parent) != os.path.realpath(real.parent):
        return False
    prefix = _temp_prefix(real.parent, real.name, ".part")
    return re.fullmatch(re.escape(prefix) + r"[a-z0-9_]{8}(\.[^/]*)?", Path(path).name) is not None


def _publish(tmp: Path, target: Path, replace: bool) -> bool:
    """Put the finished ``tmp`` at ``target``: replacing whatever is there, or (not ``replace``) only where
    nothing is; False when a file appeared there meanwhile (another run), which is left as it is."""
    if replace:
        os.replace(tmp, target)
        return True
    try:
        os.link(tmp, target)  # atomic: fails if target exists
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(target):  # a file system without hard links: checked, then renamed
            return False
        os.replace(tmp, target)
        return True
    os.unlink(tmp)
    return True


def _keep(tmp: Path, target: Path) -> Path:
    """Put a finished output whose ``target`` another run took meanwhile beside it, at the first free
    ``<stem>-<n><suffix>``: the work is not lost. Returns where."""
    for number in itertools.count(2):
        kept = target.with_name(f"{target.stem}-{number}{target.suffix}")
        if _publish(tmp, kept, replace=False):
            return kept
    raise AssertionError("unreachable")


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = "", *, wrap_errors: bool = True, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; put it at ``target`` if the block succeeds.

    On failure the temporary file is removed and ``target`` is left as it was. An OSError (in the
    block too, unless ``wrap_errors`` is False) becomes an :class:`OutputError` naming ``target``.
    The file keeps the permissions of the ``target`` it replaces; a new one gets those of
    ``open(target, "w")``: 0o666 less the umask, never writable by others (not mkstemp's 0o600). Without
    ``replace`` (a user's output without ``--force``) a file at ``target`` is never replaced, also one that
    appeared meanwhile.
    A symbolic link's file is replaced, not the link; a stream (:func:`is_stream`) is yielded itself.
    """
    if is_stream(target):
        with output_errors(target) if wrap_errors else contextlib.nullcontext():
            yield Path(target)
        return
    shown, target = target, real_target(target)
    with output_errors(shown):
        _make_folder(target.parent, shown)
        handle, name = tempfile.mkstemp(prefix=_temp_prefix(target.parent, target.name, suffix + ".part"),
                                        suffix=suffix + ".part", dir=target.parent)
        os.close(handle)
    tmp = Path(name)
    if suffix:  # some writers (Keras) insist on the file name ending with their suffix
        tmp.unlink()
        tmp = tmp.with_name(tmp.name[: -len(".part")])
    try:
        with output_errors(shown) if wrap_errors else contextlib.nullcontext():
            yield tmp
        with output_errors(shown):
            _give_mode(tmp, target)
            published = _publish(tmp, target, replace)
        if not published:
            raise ParameterError(APPEARED, value=shown, kept=_keep(tmp, target))
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(target: Path, text: str, *, replace: bool = True) -> None:
    """Write ``text`` to ``target`` atomically (``replace``: as :func:`atomic_path`)."""
    with atomic_path(target, replace=replace) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: Path, data: bytes, *, replace: bool = True) -> None:
    """Write ``data`` to ``target`` atomically (``replace``: as :func:`atomic_path`)."""
    with atomic_path(target, replace=replace) as tmp:
        tmp.write_bytes(data)


def check_writable(target: Path, *, folder: bool = False) -> None:
    """Raise OutputError now if no file can be created beside ``target`` (in it, if ``folder``): fail before the
    work, not after. Nothing is left: folders made for the check are removed (the writer makes them again).
    The error names ``target``; a stream (:func:`is_stream`) needs no check."""
    target = Path(target)
    if not folder and is_stream(target):
        return
    where = target if folder else real_target(target).parent
    made = [path for path in (where, *where.parents) if not os.path.lexists(path)]  # innermost first
    try:
        with output_errors(target):
            _make_folder(where, target)
            with tempfile.TemporaryFile(dir=where):
                pass
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()


@contextlib.contextmanager
def holding_lock(path: Path, refusal: str) -> Iterator[int]:
    """Hold an exclusive lock (fcntl) on the file ``path``, made with its folder if missing, whose first line the
    holder writes its pid to; yield its descriptor. Held by another process: UsageError from ``refusal``, its
    ``{who}`` filled with `` (pid N)``. A lock file removed by its holder meanwhile is made anew."""
    while True:
        with output_errors(path.parent):
            make_folders(path.parent)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).split(b"\n")[0].decode("ascii", "replace").strip()
                who = f" (pid {holder})" if holder.isdigit() else ""
                raise UsageError(refusal.replace("{who}", who)) from None  # not format: a path may hold braces
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                yield fd
                return
        finally:
            os.close(fd)


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn an OS error raised while reading ``path`` into a one-line InputError naming it."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", "not_found") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied", "permission") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})", "read_failed") from None


def check_input_file(path: str | Path) -> os.stat_result:
    """Stat an input file; raise InputError unless it is a regular file (a named pipe would block a reader).

    A folder that walks could not list (:func:`walk_folder`) is ``permission denied`` here, as a file is."""
    with reading(path):
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            os.scandir(path).close()  # a folder that cannot be listed: "permission denied", as a file
            raise InputError(f"{path}: is a folder", "not_a_file")
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        raise InputError(f"{path}: not a regular file ({kind})", "not_a_file")
    return info


def walk_folder(
    folder: Path, seen: set[tuple[int, int]] | dict[tuple[int, int], str], unlisted: Callable[[OSError], None],
    again: Callable[[str, str], None] | None = None,
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` of ``folder`` top-down, names sorted, symbolic links followed, each folder once.

    ``seen`` holds the (device, inode) of the folders walked, which cuts link loops; a dict (to the path it
    was walked as) also tells ``again`` each folder cut so (a link to a folder walked: its path, that path). A
    folder that cannot be listed (its OSError names it) goes to ``unlisted``, never left out in silence. The
    caller may prune the yielded ``dirs`` in place.
    """
    for root, dirs, files in os.walk(folder, followlinks=True, onerror=unlisted):
        try:
            info = os.stat(root)
        except OSError:  # gone since it was listed
            dirs[:] = []
            continue
        key = (info.st_dev, info.st_ino)
        if key in seen:
            dirs[:] = []
            if again is not None and isinstance(seen, dict):
                again(root, seen[key])
            continue
        if isinstance(seen, dict):
            seen[key] = root
        else:
            seen.add(key)
        dirs.sort()
        files.sort()
        yield root, dirs, files
