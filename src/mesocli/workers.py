"""Worker processes (``extract --workers``, ``scan --workers``) that stop when their main process is gone.

A main process killed by ``kill -9`` cannot stop its workers; each then stops itself: at its next frame
(:func:`stop_if_orphaned`, called as it works) or, when it waits for an input, within
:data:`CHECK_SECONDS` (:func:`watch_parent`'s thread), so no orphan keeps its models in memory.

Ctrl-C in a terminal reaches the whole process group, workers included: the main process alone handles it (and
stops its workers). Workers are started in :func:`starting_workers`, so they begin with SIGINT blocked (a worker
still starting printed Python's own traceback), and ignore it from their initializer on (:func:`ignore_ctrl_c`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator

CHECK_SECONDS = 0.5
_PARENT: list[int] = []  # the main process of this worker, once watch_parent was called


@contextlib.contextmanager
def starting_workers() -> Iterator[None]:
    """Start worker processes in the block: they begin with SIGINT blocked (this thread's mask, which a new process
    inherits, as threads started here do), so that Ctrl-C cannot interrupt one before :func:`ignore_ctrl_c`; and
    here Ctrl-C and SIGTERM wait for the block's end (:func:`mesocli.fsutil.whole_write`), so that this process
    does not stop between a worker's start and the data it sends it (the worker then printed ``EOFError``). They
    are not lost: the block's end raises KeyboardInterrupt as ever. (As :mod:`multiprocessing.resource_tracker`
    starts its process.)"""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    from multiprocessing import resource_tracker

    from mesocli.fsutil import whole_write

    resource_tracker.ensure_running()  # now, not in the block: starting its process, it unblocks SIGINT
    with whole_write():
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:  # a Ctrl-C held back by the mask comes now, to whole_write's handler
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_ctrl_c() -> None:
    """In a worker started in :func:`starting_workers`, first thing: ignore SIGINT from now on (a Ctrl-C that came
    while it started is dropped), and unblock it (its ffmpeg processes get the mask it has)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def watch_parent(parent: int) -> None:
    """In a worker: remember its main process (``parent``, its pid) and check every :data:`CHECK_SECONDS` that it
    is still there, also while the worker waits for an input."""
    _PARENT[:] = [parent]
    threading.Thread(target=_watch, daemon=True, name="parent-watch").start()


def _watch() -> None:
    while True:
        time.sleep(CHECK_SECONDS)
        stop_if_orphaned()


def stop_if_orphaned(*_: object) -> None:
    """Exit this worker at once (``os._exit``) when its main process is gone; the next run redoes its input. Its
    arguments are ignored: it serves as a progress hook as it is."""
    if _PARENT and os.getppid() != _PARENT[0]:
        os._exit(1)
