"""Worker processes (``extract --workers``, ``scan --workers``): they stop with their main process; one that dies
costs no input but the one that killed it.

A main process killed by ``kill -9`` cannot stop its workers; each then stops itself: at its next frame
(:func:`stop_if_orphaned`, called as it works) or, when it waits for an input, within
:data:`CHECK_SECONDS` (:func:`watch_parent`'s thread), so no orphan keeps its models in memory.

Ctrl-C in a terminal reaches the whole process group, workers included: the main process alone handles it (and
stops its workers). Workers are started in :func:`starting_workers`, so they begin with SIGINT blocked (a worker
still starting printed Python's own traceback), and ignore it from their initializer on (:func:`ignore_ctrl_c`).

A worker that dies (the kernel's out-of-memory killer on a large input, ``kill -9``): :func:`run_retrying` (both
commands' pools) runs the inputs it may have held again, each alone, so that only one that kills its worker twice
is lost.

A worker that cannot get ready (its model fails to load there: TensorFlow or ONNX Runtime, the weights file, the
face models) is not a dead one: :func:`getting_ready` keeps the cause, each task raises it (:func:`check_ready`),
and the run stops with it (:class:`mesocli.errors.WorkerError`). Nor is one that dies as it starts, before its
initializer (Python or mesocli cannot be loaded in it): a :class:`WorkerPool` counts the workers that got that
far, and a pool that breaks while none did stops the run too, with the last line of the worker's own error (its
standard error goes to a file of its own until it reaches its initializer: :class:`_Worker`). A pool whose workers
were all killed (a signal: the out-of-memory killer) before any got ready (its initializer done) ran no input:
it is started again with the same inputs, and when that one too dies before any worker got ready, the run stops.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import multiprocessing
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import reduction
from typing import Any, Generic, TypeVar

from mesocli.errors import MesocliError, WorkerError

CHECK_SECONDS = 0.5
_PARENT: list[int] = []  # the main process of this worker, once watch_parent was called
T = TypeVar("T")


CGROUPS = "/sys/fs/cgroup"
"""Where the cgroup file systems are mounted (:func:`quota_cores`)."""
OWN_CGROUPS = "/proc/self/cgroup"
"""The file that names this process's cgroups."""


def usable_cores() -> int:
    """The cores this process may run on, not the machine's: its CPU affinity (``taskset``, ``docker --cpuset-cpus``),
    and no more than its CPU quota allows (``docker --cpus``, a Kubernetes CPU limit: :func:`quota_cores`), which
    leaves the affinity at every core of the host."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = quota_cores()
    return max(1, min(cores, quota)) if quota is not None else cores


def restricted_cores() -> int | None:
    """:func:`usable_cores` where this process may use fewer cores than the machine has (a CPU quota, or an
    affinity narrower than every CPU: ``taskset``, ``docker --cpuset-cpus``), else None: no restriction."""
    cores = usable_cores()
    return cores if quota_cores() is not None or cores < (os.cpu_count() or cores) else None


WORKER_MEMORY_MB = 450
"""About the memory a scan's worker process holds: its own model and ONNX Runtime arena (docs/scan.md)."""


def crowded_cores(workers: int) -> str | None:
    """What to say of ``workers`` scan worker processes above the cores this process may use (:func:`usable_cores`):
    they share those cores, and each holds its own model; None where they fit."""
    cores = usable_cores()
    if workers <= cores:
        return None
    return (f"{workers} workers exceed the {cores} CPU{'' if cores == 1 else 's'} this process may use (its CPU "
            f"affinity and quota); each takes about {WORKER_MEMORY_MB} MB of memory: running {workers} as asked")


def quota_cores() -> int | None:
    """The cores the tightest CPU quota of this process's cgroup and those above it allows, rounded up (a quota of
    1.5 cores: 2), or None without one: cgroup v2's ``cpu.max`` (``150000 100000``; ``max …``: none), v1's
    ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us`` (-1: none). The groups are those :data:`OWN_CGROUPS` names,
    under :data:`CGROUPS` (a container's own group is its mount's root)."""
    import math

    cgroups = CGROUPS
    try:
        with open(OWN_CGROUPS, encoding="utf-8") as listing:
            lines = listing.read().splitlines()
    except OSError:
        lines = []
    places = [("", "/")]  # (controller folder, group): the mount's root, a container's own group
    for line in lines:
        _, controllers, group = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":  # v2
            places.append(("", group))
        elif "cpu" in controllers.split(","):  # v1: the cpu controller's own mount
            places += [(controllers, group), (controllers, "/")]
    allowed: list[float] = []
    for folder, group in dict.fromkeys(places):
        root = os.path.normpath(os.path.join(cgroups, folder))
        path = os.path.normpath(os.path.join(root, group.strip("/")))
        while path.startswith(root):  # the group, then each above it up to the mount's root
            allowed += _quota_at(path)
            if path == root:
                break
            path = os.path.dirname(path)
    return max(1, math.ceil(min(allowed) - 1e-9)) if allowed else None


def _quota_at(folder: str) -> list[float]:
    """The CPU quota in cores that the cgroup ``folder`` sets, as a list of none or one."""

    def read(name: str) -> list[str]:
        try:
            with open(os.path.join(folder, name), encoding="ascii") as file:
                return file.read().split()
        except (OSError, ValueError):
            return []

    try:
        quota, period = read("cpu.max") or (read("cpu.cfs_quota_us") + read("cpu.cfs_period_us"))
        if quota not in ("max", "-1") and float(quota) > 0 and float(period) > 0:
            return [float(quota) / float(period)]
    except ValueError:  # (missing, or not numbers)
        pass
    return []


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
    while it started is dropped), and unblock it (its ffmpeg processes get the mask it has); ignore SIGHUP too (a
    closed terminal sends it to the whole group: the main process stops its workers, as on Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
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


# ---------------------------------------------------------------------------------- a worker that cannot get ready

_UNREADY: list[str] = []  # in a worker whose getting_ready failed: why


def getting_ready(what: str, prepare: Callable[[], object]) -> None:
    """In a worker's initializer: ``prepare()`` (load ``what``: ``the model``). An error it raises is kept, not
    raised: Python's pool takes an initializer that raises for a dead worker (every worker printed a traceback,
    then each input was run again alone and lost as "died twice"). Each task raises it instead
    (:func:`check_ready`), and the run stops with its cause (the first, when several were getting ready)."""
    if _UNREADY:
        return
    try:
        prepare()
    except Exception as exc:  # noqa: BLE001 (TensorFlow, ONNX Runtime, pickle, the file system: many kinds)
        _UNREADY[:] = [f"the workers could not load {what}: {cause(exc)}"]


def check_ready() -> None:
    """In a worker, before each task (and as the warm-up task of :func:`_in_pool`): raise
    :class:`mesocli.errors.WorkerError` when :func:`getting_ready` failed."""
    if _UNREADY:
        raise WorkerError(_UNREADY[0])


def check_spawnable(processes: int) -> None:
    """Raise :class:`mesocli.errors.WorkerError` where spawned workers cannot start: Python's ``spawn`` runs the
    program's main script again in each, which a script read from standard input (``python - < job.py``: its
    ``__file__`` is ``<stdin>``) or deleted since is not. (Run by module name, or with no script, as in a
    notebook: nothing to run again; a frozen program's workers run the program itself, whose main script is in
    its bundle, not on disk.)"""
    from multiprocessing import process

    if getattr(sys, "frozen", False):  # PyInstaller, cx_Freeze: multiprocessing.freeze_support starts each worker
        return
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if getattr(getattr(main, "__spec__", None), "name", None) is not None or path is None:
        return
    if not os.path.isabs(path) and process.ORIGINAL_DIR is not None:  # as spawn finds it
        path = os.path.join(process.ORIGINAL_DIR, path)
    if not os.path.isfile(path):
        raise WorkerError(f"{processes} worker processes cannot start: Python starts each by running this program's "
                          f"main script again, and {getattr(main, '__file__', None)!r} is no file (a script read from "
                          "standard input?): run the script from a file, or use one worker")


class WorkerPool(ProcessPoolExecutor):
    """A pool of ``processes`` workers started by ``spawn`` (``context``), each running ``initializer(*initargs)``
    first, that counts the workers that got as far as that (:attr:`started`) and those that got past it
    (:attr:`ready`): one that dies before (its Python cannot start, mesocli or a library it imports cannot be loaded
    there) has no input to blame (:func:`_check_started`). An error the initializer raises is kept, as
    :func:`getting_ready` keeps one, for each task to raise.

    Its worker processes are its own (:attr:`processes`, made through its context: Python's pool keeps them in a
    private attribute), each with its standard error in a file until it reaches its initializer (:class:`_Worker`).
    """

    def __init__(self, processes: int, context: Any, initializer: Callable[..., object], initargs: tuple) -> None:
        if context.get_start_method() != "spawn":
            raise ValueError("a WorkerPool starts its workers with spawn")
        check_spawnable(processes)
        self.started = context.RawValue("i", 0)  # shared memory: no lock (zero or not is all that is read)
        self.ready = context.RawValue("i", 0)
        self.processes: list[_Worker] = []
        super().__init__(processes, mp_context=_Spawning(self.processes), initializer=_starting,
                         initargs=(self.started, self.ready, _RealStderr(), initializer, initargs))


_SpawnContext: Any = type(multiprocessing.get_context("spawn"))
_SpawnProcess: Any = multiprocessing.get_context("spawn").Process


class _Spawning(_SpawnContext):
    """The ``spawn`` context, whose processes are :class:`_Worker` ones, each added to ``processes`` as it is made
    (Python's pool makes its workers with its context's ``Process``)."""

    def __init__(self, processes: list[_Worker]) -> None:
        super().__init__()
        self._made = processes

    def Process(self, *args: Any, **kwargs: Any) -> _Worker:  # type: ignore[override]  # noqa: N802 (the API's name)
        process = _Worker(*args, **kwargs)
        self._made.append(process)
        return process


_SAVED_STDERR: list[int] = []  # in the main process, while a _Worker starts: its own standard error (a copy)
_SWAPPING = threading.Lock()  # (one worker started at a time with its file as standard error)


class _Worker(_SpawnProcess):  # type: ignore[misc,valid-type]
    """A worker process whose standard error is a file of its own (:attr:`errors`) until it reaches its
    initializer (:func:`_starting`), which then writes what it holds (warnings of an import) to the main process's
    standard error and writes there from then on: the error of one that dies before (a traceback) is kept for the
    run's one-line error (:func:`_check_started`), not printed. (POSIX: elsewhere it writes there all along.)

    The main process's standard error (file descriptor 2) is that file for the moment the worker is started (as a
    new process gets it); a line written there meanwhile by another thread of the main process is written on to
    its standard error by the worker, unless it dies first."""

    errors: Any = None

    def start(self) -> None:
        """Start the process, its standard error in :attr:`errors` (a new temporary file)."""
        if os.name != "posix" or not hasattr(reduction, "DupFd"):  # (no way to give it the real one back)
            super().start()
            return
        with _SWAPPING:
            self._start_capturing()

    def _start_capturing(self) -> None:
        self.errors = tempfile.TemporaryFile()
        with contextlib.suppress(AttributeError, ValueError, OSError):  # replaced, closed: nothing of it to lose
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no standard error (closed)
            super().start()
            return
        os.dup2(self.errors.fileno(), 2)
        _SAVED_STDERR[:] = [saved]
        try:
            super().start()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            _SAVED_STDERR.clear()

    def __getstate__(self) -> dict[str, Any]:  # sent to the worker: without the main process's file
        return {key: value for key, value in self.__dict__.items() if key != "errors"}

    def error_line(self) -> tuple[str, str]:
        """What the dead worker wrote before its initializer: its last line (``ImportError: ...``) and all of it
        (its last 64 KiB; "" each when nothing was kept)."""
        if self.errors is None:
            return "", ""
        with contextlib.suppress(OSError, ValueError):
            size = os.fstat(self.errors.fileno()).st_size
            text = os.pread(self.errors.fileno(), 64 * 1024, max(0, size - 64 * 1024)).decode("utf-8", "replace")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            return (lines[-1] if lines else ""), text
        return "", ""


class _RealStderr:
    """The main process's standard error, sent to a :class:`_Worker` as it starts (a descriptor passed to it)."""

    def __init__(self, passed: Any = None) -> None:
        self.passed = passed

    def __reduce__(self) -> tuple[Any, tuple]:
        # (multiprocessing's own way to hand a descriptor to the process it starts, as its Connection objects are:
        # the descriptor is passed to it, open, under the same number)
        return _RealStderr, (reduction.DupFd(_SAVED_STDERR[0]) if _SAVED_STDERR else None,)

    def restore(self) -> None:
        """In the worker: write what its file of errors holds to the real standard error, which is its own from
        now on."""
        if self.passed is None:
            return
        real = self.passed.detach()
        with contextlib.suppress(AttributeError, ValueError, OSError):
            sys.stderr.flush()
        with contextlib.suppress(OSError):
            kept = b""
            while chunk := os.pread(2, 64 * 1024, len(kept)):
                kept += chunk
            with open(real, "wb", closefd=False) as stream:
                stream.write(kept)
        os.dup2(real, 2)
        os.close(real)


def _starting(started: Any, ready: Any, stderr: _RealStderr, initializer: Callable[..., object],
              initargs: tuple) -> None:
    started.value += 1
    stderr.restore()
    try:
        initializer(*initargs)
    except Exception as exc:  # noqa: BLE001 (Python's pool took it for a dead worker, "killed")
        if not _UNREADY:
            _UNREADY[:] = [f"the workers could not start: {cause(exc)}"]
    ready.value += 1


def _checked(function: Callable[..., T], *arguments: object) -> T:
    """A task: ``function(*arguments)`` in a worker that got ready (:func:`check_ready`)."""
    check_ready()
    return function(*arguments)


class _WorkerOutput(Exception):
    """What a worker that could not start wrote (its traceback): the cause of its WorkerError, shown with
    ``--debug``."""


def _check_started(pool: ProcessPoolExecutor, processes: list[Any]) -> None:
    """Raise :class:`mesocli.errors.WorkerError` when the broken ``pool`` (a :class:`WorkerPool`, its
    ``processes`` ended) broke before any worker reached its initializer, a worker having exited by itself (an
    exit status; a signal, the out-of-memory killer, may strike a worker as it starts once: :func:`_check_ready`).
    No input ran there: running them again, each alone, only lost each as "died twice". The message ends with the
    last line of the worker's own error (``ModuleNotFoundError: No module named 'mesocli'``)."""
    started = getattr(pool, "started", None)
    if started is None or started.value:
        return
    exited = [process for process in processes if process.exitcode not in (None, 0, -signal.SIGTERM)]
    if exited and all(process.exitcode > 0 for process in exited):  # (SIGTERM: the pool stops the others)
        line, text = next((found for process in exited if (found := _error_of(process))[0]), ("", ""))
        error = WorkerError(f"the worker processes could not start ({how_it_died(exited[0].exitcode)}, before their "
                            f"first input): Python or mesocli could not be loaded in them"
                            + (f": {line}" if line else ""))
        raise error from (_WorkerOutput(text.rstrip()) if text else None)


def _error_of(process: Any) -> tuple[str, str]:
    return process.error_line() if isinstance(process, _Worker) else ("", "")


def _check_ready(pool: ProcessPoolExecutor, how: str, unready: list[int]) -> bool:
    """Whether the broken ``pool`` broke before any of its workers got ready (its initializer done; ``how``: how
    one died): then no input ran there, and the inputs in flight are not to blame. ``unready[0]`` counts such
    pools in a row; at the second, raise :class:`mesocli.errors.WorkerError`: the workers cannot start (killed
    as they start: too little memory for them)."""
    ready = getattr(pool, "ready", None)
    if ready is None or ready.value:
        unready[0] = 0
        return False
    unready[0] += 1
    if unready[0] >= 2:
        killed = ": too little memory for them, or another program stops them" if how.startswith("killed") else ""
        raise WorkerError(f"the worker processes could not start ({how}, before their first input, twice){killed}")
    return True


def cause(exc: BaseException) -> str:
    """An error in one line: mesocli's own message as it is, another's with its type
    (``ImportError: libonnxruntime.so: ...``)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(exc, MesocliError) and line:
        return line
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


# ---------------------------------------------------------------------------------------------- a worker that dies

STOP_SECONDS = 2.0
"""How long a worker whose item is done (run again, alone) may take to exit by itself before it is terminated
(:func:`stop_pool`)."""
_NOTHING = object()  # no item to hand out now


@dataclass(frozen=True)
class Lost:
    """What :func:`run_retrying` gives for an item whose worker process died twice: ``how`` it died
    (``killed by signal 9``)."""

    how: str


def how_it_died(code: int | None) -> str:
    """A dead process's exit code in words: ``killed by signal 9``, ``exit status 1``."""
    if code is None:
        return "killed"
    return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


FEED_AHEAD = 16
"""The most items of a streamed feed drawn before they are handed out."""


class _Feed(Generic[T]):
    """The items to hand out: a list at once; an iterator (paths on standard input, a caller's generator) drawn by
    a thread, so that waiting for its next item holds back no result, at most :data:`FEED_AHEAD` items ahead of
    those taken (an endless generator is not read whole) and no more once :meth:`close` is called. An error it
    raises comes after the items before it."""

    def __init__(self, items: Iterable[T]) -> None:
        self.streamed = isinstance(items, Iterator)
        self._items: queue.Queue[Any] = queue.Queue(maxsize=FEED_AHEAD if self.streamed else 0)
        self._again: collections.deque[T] = collections.deque()  # (taken first: :meth:`again`)
        self._ended = not self.streamed
        self._closed = threading.Event()
        self.error: BaseException | None = None
        if not self.streamed:
            for item in items:
                self._items.put(item)
            return
        threading.Thread(target=self._draw, args=(items,), daemon=True, name="mesocli-feed").start()

    def _draw(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return  # closed: the iterator is not read further
        except BaseException as exc:  # noqa: BLE001 (raised in the main thread, after the items before it)
            self._put(_Failed(exc))
        else:
            self._put(_END)

    def _put(self, item: Any) -> bool:
        """Queue ``item`` once there is room; False when the feed was closed first."""
        while not self._closed.is_set():
            try:
                self._items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Draw no more items (the run ended, or its generator was closed)."""
        self._closed.set()

    def take(self, timeout: float | None = None) -> Any:
        """The next item; :data:`_NOTHING` when none is there now (or within ``timeout`` seconds) or all were
        taken (:attr:`done`)."""
        if self._again:
            return self._again.popleft()
        if self._ended and self._items.empty():
            return _NOTHING
        try:
            item = self._items.get(timeout=timeout) if timeout else self._items.get_nowait()
        except queue.Empty:
            return _NOTHING
        if item is _END or isinstance(item, _Failed):
            self._ended = True
            self.error = item.error if isinstance(item, _Failed) else None
            return _NOTHING
        return item

    @property
    def done(self) -> bool:
        """Whether every item was taken."""
        return self._ended and self._items.empty() and not self._again

    def left(self) -> int | None:
        """How many items are left, when that is known (a list)."""
        return None if self.streamed else self._items.qsize() + len(self._again)

    def again(self, items: list[T]) -> None:
        """Hand out ``items`` again, before the others."""
        self._again.extend(items)


_END = object()


@dataclass(frozen=True)
class _Failed:
    error: BaseException


def run_retrying(items: Iterable[T], workers: int, make_pool: Callable[[int], ProcessPoolExecutor],
                 call: Callable[[T], tuple[Callable[..., Any], tuple]],
                 retrying: Callable[[list[T], str], None] = lambda items, how: None,
                 retried: Callable[[], None] = lambda: None,
                 restarting: Callable[[str], None] = lambda how: None) -> Iterator[tuple[T, Any]]:
    """Run ``function(*arguments)`` (``call(item)`` gives them) for each of ``items`` in worker processes
    (``make_pool(n)``: a pool of ``n``, at most ``workers``); yield ``(item, its result)`` as each finishes.

    A worker process that dies (the kernel's out-of-memory killer, ``kill -9``) breaks its pool: the items in
    flight then (any of them may have killed it; at most twice ``workers``) are run again, each alone in a pool
    of its own, ``workers`` at a time (``retrying(them, how the worker died)`` first, ``retried()`` after); one
    whose worker dies again gives :class:`Lost`. The items not yet started go on in a new pool. A pool whose
    workers all died before any got ready ran no item: its items go on in a new pool (``restarting(how the
    worker died)`` first), and when that one too dies so, the run stops (:func:`_check_ready`). An error the
    function raises is raised here (:class:`mesocli.errors.WorkerError`: a worker could not load its model). When
    the generator ends or is closed (Ctrl-C), no worker is left running; a KeyboardInterrupt (Ctrl-C, SIGTERM)
    thrown in at a yield or raised while it waits first gives the results the workers had sent back, then is
    raised."""
    feed = _Feed(items)
    unready = [0]  # pools in a row whose workers died before any got ready
    try:
        while not feed.done or feed.error is not None:
            suspects, how = yield from _in_pool(feed, workers, make_pool, call, unready)
            if suspects:
                retrying(suspects, how)
                yield from _each_alone(suspects, workers, make_pool, call, unready, restarting)
                retried()
            elif how:
                restarting(how)
            elif feed.error is not None:
                raise feed.error
    finally:
        feed.close()


def sent_back(outcomes: Generator[Any, None, None], stop: KeyboardInterrupt) -> Iterator[Any]:
    """The results that ``outcomes`` (:func:`run_retrying`) still gives once ``stop`` is thrown in at its yield (a
    Ctrl-C that came while its caller handled a result): those the workers had sent back, not yet taken (its
    workers are stopped). None when the stop came from it (it gave them before it raised). Another stop (a second
    Ctrl-C) is raised at once."""
    step: Callable[[], Any] = functools.partial(outcomes.throw, stop)
    while True:
        try:
            outcome = step()
        except StopIteration:
            return
        except KeyboardInterrupt as again:
            if again is stop:
                return
            raise
        yield outcome
        step = functools.partial(next, outcomes)


def _in_pool(feed: _Feed[T], workers: int, make_pool: Callable[[int], ProcessPoolExecutor],
             call: Callable[[T], tuple[Callable[..., Any], tuple]], unready: list[int]) -> Iterator[tuple[T, Any]]:
    """Run the items of ``feed`` (taken as they are submitted, at most twice ``workers`` in flight: those a dead
    worker may have held are known, and none waits for the next) in one pool; yield each result as it comes.
    When a worker process dies, stop and return the items in flight that did not finish, and how it died; else
    ([], "") once the feed is done; ([], how it died) when the pool's workers died before any got ready (its items
    then go back to the feed: :func:`_check_ready` with ``unready``).

    Paths on stdin: every worker is started now, with a warm-up task each (:func:`check_ready`; a submit starts
    one more worker while none is idle), so that the paths that come while the first is scanned find them ready
    (a list's first submits start them all); one that could not load the model stops the run as soon as it
    reports it, whether or not an item is in flight."""
    left = feed.left()
    pool = make_pool(workers if left is None else max(1, min(workers, left)))
    running: dict[Future, T] = {}
    warming: list[Future] = []
    try:
        if feed.streamed:
            with starting_workers():
                warming = [pool.submit(check_ready) for _ in range(workers)]
        while True:
            for future in [future for future in warming if future.done()]:
                warming.remove(future)
                if isinstance(future.exception(), WorkerError):
                    raise future.exception()  # type: ignore[misc]
            while len(running) < 2 * workers:
                item = feed.take(timeout=None if running else CHECK_SECONDS / 5)
                if item is _NOTHING:
                    break
                with starting_workers():  # (a submit may start a worker)
                    function, arguments = call(item)
                    running[_submitted(pool, function, arguments)] = item
            if not running:
                if feed.done:
                    return [], ""
                continue
            finished, _ = wait(running, timeout=CHECK_SECONDS / 5 if feed.streamed and not feed.done else None,
                               return_when=FIRST_COMPLETED)
            if any(isinstance(future.exception(), BrokenProcessPool) for future in finished):
                processes = _processes_of(pool)
                pool.shutdown(wait=True)  # every future of the pool is done now, with its result or broken
                _check_started(pool, processes)
                how = _how(processes)
                again = _check_ready(pool, how, unready)
                broken = []
                for future, item in list(running.items()):
                    if future.exception() is None:
                        del running[future]  # (given: not again by a stop thrown in at this yield)
                        yield item, future.result()
                    elif isinstance(future.exception(), BrokenProcessPool):
                        broken.append(item)
                    else:
                        raise future.exception()  # type: ignore[misc]
                running.clear()
                if again:  # no item ran in this pool: none is to blame
                    feed.again(broken)
                    return [], how
                return broken, how
            for future in [future for future in running if future in finished]:
                item = running.pop(future)
                yield item, future.result()
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM (here, or thrown in at a yield): the workers stopped now, the
        terminate(pool)  # results they had sent back first (a stop is not a crash: no worker died with them)
        for future, item in [(future, item) for future, item in running.items() if _sent(future)]:
            del running[future]
            yield item, future.result()
        raise
    except BaseException:  # the generator closed, an error: stop the workers now
        terminate(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _close_errors(pool)


def _sent(future: Future) -> bool:
    """Whether ``future``'s worker sent its result back (done, neither cancelled nor failed)."""
    return future.done() and not future.cancelled() and future.exception() is None


def _submitted(pool: ProcessPoolExecutor, function: Callable[..., Any], arguments: tuple) -> Future:
    """``pool.submit(function, *arguments)``; a pool broken already (a worker died while it started, before any
    item was in flight) gives a future that failed with BrokenProcessPool, as one in flight would."""
    try:
        return pool.submit(_checked, function, *arguments)
    except BrokenProcessPool as exc:
        failed: Future = Future()
        failed.set_exception(exc)
        return failed


def _each_alone(items: list[T], workers: int, make_pool: Callable[[int], ProcessPoolExecutor],
                call: Callable[[T], tuple[Callable[..., Any], tuple]], unready: list[int],
                restarting: Callable[[str], None]) -> Iterator[tuple[T, Any]]:
    """Run ``items``, each in a pool of one process of its own (``workers`` at a time, the next started as soon as
    one is done: a long item holds back no other): a worker that dies costs its own item only (:class:`Lost`),
    unless it died before it got ready (the item did not run: it is run again, ``restarting(how)`` first;
    :func:`_check_ready`). A KeyboardInterrupt (Ctrl-C, SIGTERM: raised while it waits, or thrown in at a yield)
    first gives the results the workers had sent back, as :func:`_in_pool` does, then is raised."""
    waiting = collections.deque(items)
    running: dict[Future, tuple[ProcessPoolExecutor, T]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                item = waiting.popleft()
                pool = make_pool(1)
                with starting_workers():  # (a submit starts the pool's worker)
                    function, arguments = call(item)
                    running[pool.submit(_checked, function, *arguments)] = (pool, item)
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in [future for future in running if future in finished]:
                pool, item = running[future]
                processes = stop_pool(pool)  # (a stop meanwhile: the item is still running's, its result given)
                del running[future]
                try:
                    if isinstance(future.exception(), BrokenProcessPool):
                        _check_started(pool, processes)
                        if _check_ready(pool, _how(processes), unready):
                            restarting(_how(processes))
                            waiting.appendleft(item)
                        else:
                            yield item, Lost(_how(processes))
                    else:
                        unready[0] = 0
                        yield item, future.result()
                finally:
                    _close_errors(pool)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM (here, or thrown in at a yield): the workers stopped now, the
        for pool, _ in running.values():  # results they had sent back given first (they were dropped)
            terminate(pool)
        for future, (_, item) in [(future, held) for future, held in running.items() if _sent(future)]:
            yield item, future.result()  # (its pool stays running's: shut down below, however this ends)
        raise
    finally:  # Ctrl-C, the generator closed, an error: stop the workers, all at once
        for pool, _ in running.values():
            terminate(pool)
        for pool, _ in running.values():
            pool.shutdown(wait=True, cancel_futures=True)
            _close_errors(pool)


def _how(processes: list[Any]) -> str:
    """How the worker of a broken pool died, in words: the first whose exit was not SIGTERM (the pool sends it to
    the others when one dies)."""
    codes = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
    chosen = next((code for code in codes if code != -signal.SIGTERM), codes[0] if codes else None)
    return how_it_died(chosen)


def _processes_of(pool: ProcessPoolExecutor) -> list[Any]:
    """The worker processes a pool started (a :class:`WorkerPool`'s own list; none for another pool)."""
    return list(getattr(pool, "processes", []))


def _close_errors(pool: ProcessPoolExecutor) -> None:
    """Close the files that kept what the pool's workers wrote as they started (:class:`_Worker`)."""
    for process in _processes_of(pool):
        if getattr(process, "errors", None) is not None:
            process.errors.close()


def terminate(pool: ProcessPoolExecutor, processes: list | None = None) -> None:
    """Send the pool's worker processes (or ``processes``) SIGTERM, without waiting for them."""
    for process in _processes_of(pool) if processes is None else processes:
        process.terminate()


def stop_pool(pool: ProcessPoolExecutor) -> list[Any]:
    """Stop a pool of one whose item is done (its result is in, or its worker died), and return its processes. Its
    worker may still be sending its last progress events: it is given :data:`STOP_SECONDS` to exit, then
    terminated, since one killed while it held a queue's lock left it held, and a worker beside it then never
    exits."""
    from multiprocessing.connection import wait as wait_for

    processes = _processes_of(pool)
    pool.shutdown(wait=False)
    with contextlib.suppress(OSError, ValueError):  # (a sentinel already closed: that worker is gone)
        wait_for([process.sentinel for process in processes], timeout=STOP_SECONDS)
    terminate(pool, processes)
    pool.shutdown(wait=True)
    _reaped(processes)
    return processes


def _reaped(processes: list[Any]) -> None:
    """Wait (at most :data:`STOP_SECONDS`) until the exit code of each of ``processes``, ended or terminated, is
    known. The pool's own thread reaps them too: one that reaped a process first leaves the other's
    ``join`` without the exit code for a moment (Python's ``Popen.poll`` takes the ECHILD of a process reaped
    already for one not yet ended)."""
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        with contextlib.suppress(ValueError, AssertionError):  # (closed; never started)
            process.join(max(0.0, deadline - time.monotonic()))
            while process.exitcode is None and time.monotonic() < deadline:
                time.sleep(0.01)
