"""Worker processes (``extract --workers``, ``scan --workers``) that stop when their main process is gone.

A main process killed by ``kill -9`` cannot stop its workers; each then stops itself: at its next frame
(:func:`stop_if_orphaned`, called as it works) or, when it waits for an input, within
:data:`CHECK_SECONDS` (:func:`watch_parent`'s thread), so no orphan keeps its models in memory.
"""

from __future__ import annotations

import os
import threading
import time

CHECK_SECONDS = 0.5
_PARENT: list[int] = []  # the main process of this worker, once watch_parent was called


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
