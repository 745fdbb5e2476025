"""File-system helpers: safe writes (a temp file beside the target, renamed into place only when
complete), write failures as one-line errors, the checks every input file goes through first, and
the folder walk that every command shares."""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from mesocli.errors import InputError, OutputError

_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket"}


@contextlib.contextmanager
def output_errors(target: Path | str) -> Iterator[None]:
    """Turn an OSError raised in the block (folder not writable, disk full) into an OutputError naming ``target``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc


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


def _give_mode(tmp: Path, target: Path) -> None:
    """Give the finished file ``tmp`` the permissions of the ``target`` it replaces, or, for a new target, those
    of ``open(target, "w")`` (0o666 less the umask). Best effort: some file systems (FAT) refuse modes."""
    with contextlib.suppress(OSError):
        if not stat.S_ISREG(os.stat(tmp).st_mode):
            return
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode) & 0o777
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)


def _make_folder(folder: Path, target: Path) -> None:
    """Make ``folder`` and its parents; an existing non-folder on the way is an OutputError naming it and ``target``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in [*reversed(folder.parents), folder]
                        if os.path.lexists(p) and not os.path.isdir(p)), None)
        if blocker is None:
            raise
        raise OutputError(f"cannot write {target}: {blocker} is not a folder") from None


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str = "", *, wrap_errors: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    On failure the temporary file is removed and ``target`` is left as it was. An OSError (in the
    block too, unless ``wrap_errors`` is False) becomes an :class:`OutputError` naming ``target``.
    The file keeps the permissions of the ``target`` it replaces; a new one gets those of
    ``open(target, "w")``: 0o666 less the umask (not mkstemp's 0o600).
    """
    target = Path(target)
    with output_errors(target):
        _make_folder(target.parent, target)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".part", dir=target.parent)
        os.close(handle)
    tmp = Path(name)
    if suffix:  # some writers (Keras) insist on the file name ending with their suffix
        tmp.unlink()
        tmp = tmp.with_name(tmp.name[: -len(".part")])
    try:
        with output_errors(target) if wrap_errors else contextlib.nullcontext():
            yield tmp
        with output_errors(target):
            _give_mode(tmp, target)
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_text(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def check_writable(target: Path, *, folder: bool = False) -> None:
    """Raise OutputError now if no file can be created beside ``target`` (in it, if ``folder``): fail before the
    work, not after. The folder is made if missing; the error names ``target``."""
    target = Path(target)
    where = target if folder else target.parent
    with output_errors(target):
        _make_folder(where, target)
        with tempfile.TemporaryFile(dir=where):
            pass


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[None]:
    """Turn an OS error raised while reading ``path`` into a one-line InputError naming it."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def check_input_file(path: str | Path) -> os.stat_result:
    """Stat an input file; raise InputError unless it is a regular file (a named pipe would block a reader).

    A folder that walks could not list (:func:`walk_folder`) is ``permission denied`` here, as a file is."""
    with reading(path):
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            os.scandir(path).close()  # a folder that cannot be listed: "permission denied", as a file
            raise InputError(f"{path}: is a folder")
    if not stat.S_ISREG(info.st_mode):
        kind = _KINDS.get(stat.S_IFMT(info.st_mode), "a special file")
        raise InputError(f"{path}: not a regular file ({kind})")
    return info


def walk_folder(
    folder: Path, seen: set[tuple[int, int]], unlisted: Callable[[OSError], None]
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk`` of ``folder`` top-down, names sorted, symbolic links followed, each folder once.

    ``seen`` holds the (device, inode) of the folders walked, which cuts link loops. A folder that
    cannot be listed (its OSError names it) goes to ``unlisted``, never left out in silence. The
    caller may prune the yielded ``dirs`` in place.
    """
    for root, dirs, files in os.walk(folder, followlinks=True, onerror=unlisted):
        try:
            info = os.stat(root)
        except OSError:  # gone since it was listed
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs.sort()
        files.sort()
        yield root, dirs, files
