"""``mesocli scan --engine ray``: the inputs spread over a pool of Ray actors (see docs/scale.md).

Each actor loads the model once, through the same loader the local scan calls, and scans whole
inputs with :func:`mesocli.scan.scan_inputs`, one input per call: a result is the very result a
local scan gives (same code, same schema, same statuses), computed elsewhere.

Plain Ray core actors, not Ray Data: a task here is a whole file that takes seconds and yields one
small row, so there is nothing to stream between stages, and a pool of actors fed one input at a
time keeps every worker busy, hands back each row as soon as it exists (for ``--resume``) and lets
one lost input be reported as such.

Faults: an actor whose process dies is restarted by Ray (``max_restarts``) and its input retried
(``max_task_retries``). An input whose worker still fails after that becomes an ``error`` row, the
actor is probed and replaced when dead for good, and the job goes on: no input is dropped.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from mesocli.errors import MesocliError, OutputError, UsageError

INSTALL_HINT = "--engine ray needs Ray, which is not installed: pip install 'mesocli[ray]'"
RESTARTS = 2  # Ray restarts a killed actor and retries its input this many times
LOCAL_OBJECT_STORE = 128 * 1024 * 1024  # results are small rows: a local Ray needs little shared memory


def require_ray() -> Any:
    """The ``ray`` module, or a UsageError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


class ScanWorker:
    """A Ray actor's state: one loaded model and the scan options; scans one input per call."""

    def __init__(self, loader: Callable[[], Any], options: Any) -> None:
        self.options = options
        self.failure: tuple[str, int] | None = None
        from mesocli.scan import run_settings

        try:
            self.loaded = loader()
            self.model_info = self.loaded.describe()
            from mesocli.faces import load_models

            load_models(options.detector)  # a damaged face model file stops the job too
        except MesocliError as exc:  # unusable weights: said once to the driver, which stops the job
            self.failure = (str(exc), exc.exit_code)
            self.loaded, self.model_info = None, {}
        self.settings = run_settings(options, self.loaded)

    def ready(self) -> dict[str, Any]:
        """This worker's process id, model description, row settings, and its loading error if any."""
        return {"pid": os.getpid(), "model": self.model_info, "settings": self.settings, "failure": self.failure}

    def scan(self, item: str) -> list[dict[str, Any]]:
        """Scan one planned input (see :func:`mesocli.inputs.plan_inputs`): its result rows."""
        from mesocli.scan import scan_inputs

        return [result.to_dict(file=True) for result in scan_inputs([item], self.loaded, self.options)]


@dataclass
class _Slot:
    """One actor of the pool."""

    handle: Any
    pid: int | None = None


class RayScan:
    """Scan planned inputs on a pool of Ray actors; iterate :meth:`results` for result rows.

    ``address``: a Ray cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); without it,
    ``$RAY_ADDRESS`` if set, else a local Ray on this machine with ``workers`` CPUs. A Ray already
    initialised in this process (tests, notebooks) is used as it is and left running.
    ``workers``: actors (one CPU each); default one per CPU of the cluster, at most one per input.
    """

    def __init__(self, items: Sequence[str], loader: Callable[[], Any], options: Any,
                 workers: int | None = None, address: str | None = None) -> None:
        if workers is not None and workers < 1:
            raise UsageError("--workers must be at least 1")
        self.items = list(items)
        self.loader = loader
        self.options = options
        self.workers = workers
        self.address = address
        self.slots: list[_Slot] = []
        self.model_info: dict[str, Any] = {}
        self.settings: dict[str, Any] | None = None  # the rows' settings, as the first ready worker gives them
        self.replacements = 0
        self.running: dict[Any, tuple[_Slot, str]] = {}  # task -> (actor, input) while it runs
        self._actor_class: Any = None
        self.first_task: float | None = None  # perf_counter() when the first input went to a worker
        self.last_failure = ""  # why the last actor that died for good died

    # -- Ray set-up ---------------------------------------------------------------------------------

    def _start(self, ray: Any) -> bool:
        """Join or start Ray; True when this call started it (and must shut it down)."""
        if ray.is_initialized():
            return False
        import logging

        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        settings: dict[str, Any] = dict(
            include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
            configure_logging=True,
        )
        if address == "local":
            from mesocli.parallel import usable_cores

            settings.update(num_cpus=self.workers or usable_cores(), object_store_memory=LOCAL_OBJECT_STORE)
        import signal
        import threading

        main = threading.current_thread() is threading.main_thread()
        sigterm = signal.getsignal(signal.SIGTERM) if main else None
        try:
            ray.init(address=address, **settings)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UsageError(f"cannot start or join Ray at '{address}': {exc}".splitlines()[0]) from None
        finally:
            if sigterm is not None:  # ray.init sets one that exits with status 15, skipping mesocli's handling
                signal.signal(signal.SIGTERM, sigterm)
        return True

    def _new_actor(self, ray: Any) -> _Slot:
        if self._actor_class is None:
            self._actor_class = ray.remote(num_cpus=1, max_restarts=RESTARTS, max_task_retries=RESTARTS)(ScanWorker)
        return _Slot(self._actor_class.remote(self.loader, self.options))

    # -- the scheduling loop ------------------------------------------------------------------------

    def results(self) -> Iterator[dict[str, Any]]:
        """Result rows, in the order the inputs finish, one or more per planned input; never drops one."""
        if not self.items:
            return
        ray = require_ray()
        started = self._start(ray)
        try:
            yield from self._run(ray)
        finally:
            for slot in self.slots:
                try:
                    ray.kill(slot.handle, no_restart=True)
                except Exception:  # already gone
                    pass
            if started:
                ray.shutdown()

    def _run(self, ray: Any) -> Iterator[dict[str, Any]]:
        from ray.exceptions import RayActorError, RayError

        wanted = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        count = min(wanted, len(self.items))
        self.slots = [self._new_actor(ray) for _ in range(count)]
        queue: deque[str] = deque(self.items)
        probing: dict[Any, _Slot] = {slot.handle.ready.remote(): slot for slot in self.slots}
        running = self.running
        idle: list[_Slot] = []
        limit = 3 * count  # actors replaced after dying for good, before the rest is given up

        while queue or running:
            while idle and queue:
                slot, item = idle.pop(), queue.popleft()
                self.first_task = self.first_task or time.perf_counter()
                running[slot.handle.scan.remote(item)] = (slot, item)
            if not running and not probing:  # every actor is gone and none may be replaced
                if not self.model_info:  # none ever started: a job-level failure, not the inputs'
                    raise MesocliError(f"no Ray worker could start: {self.last_failure}")
                while queue:
                    yield self._error_row(queue.popleft(), "no Ray worker left to scan it", "resources")
                break
            (ref,), _ = ray.wait([*running, *probing], num_returns=1)
            if ref in probing:
                slot = probing.pop(ref)
                try:
                    info = ray.get(ref)
                except RayActorError as exc:  # dead for good: replace it while the budget lasts
                    self.last_failure = _first_line(exc)
                    self.slots.remove(slot)
                    if self.replacements < limit:
                        self.replacements += 1
                        fresh = self._new_actor(ray)
                        self.slots.append(fresh)
                        probing[fresh.handle.ready.remote()] = fresh
                    continue
                if info["failure"] is not None:
                    message, code = info["failure"]
                    error = MesocliError(message)
                    error.exit_code = code
                    raise error
                slot.pid, self.model_info, self.settings = info["pid"], info["model"], info["settings"]
                idle.append(slot)
                continue
            slot, item = running.pop(ref)
            try:
                rows = ray.get(ref)
            except RayError as exc:  # the worker died RESTARTS + 1 times on it, or a bug raised
                if isinstance(getattr(exc, "cause", None), (UsageError, OutputError)):
                    raise exc.cause from None  # not the input's fault (its face models, its disk): stop the job
                yield self._error_row(item, _describe(exc), _kind(exc))
                probing[slot.handle.ready.remote()] = slot  # alive (restarted) or dead for good?
                continue
            yield from rows
            idle.append(slot)

    def _error_row(self, item: str, message: str, kind: str) -> dict[str, Any]:
        """The ``error`` result of an input that no worker could scan (same schema as any result); ``kind``: its
        ``error_kind``."""
        from mesocli.scan import ScanResult

        return ScanResult(
            path=item, type=None, status="error", error=f"{item}: {message}", error_kind=kind, p_fake=None,
            verdict=None,
            threshold=self.options.threshold, aggregation=None, model=self.model_info,
            faces=[] if self.options.all_faces else None, settings=self.settings,
        ).to_dict()


def _describe(exc: BaseException) -> str:
    """One line on why a Ray task failed."""
    from ray.exceptions import RayActorError, RayTaskError

    if isinstance(exc, RayActorError):
        return f"the Ray worker scanning it was lost {RESTARTS + 1} times ({type(exc).__name__})"
    if isinstance(exc, RayTaskError) and exc.cause is not None:
        cause = exc.cause
        return f"Ray worker failed: {type(cause).__name__}: {cause}".splitlines()[0]
    return f"Ray worker failed: {type(exc).__name__}: {exc}".splitlines()[0]


def _kind(exc: BaseException) -> str:
    """The ``error_kind`` of an input whose Ray task failed: ``resources`` when its worker was lost (killed, out of
    memory: as a ``--workers`` process that died on it), else its cause's (``other`` for a bug)."""
    from ray.exceptions import RayActorError, RayTaskError

    from mesocli.errors import error_kind

    if isinstance(exc, RayActorError):
        return "resources"
    return error_kind(exc.cause) if isinstance(exc, RayTaskError) and exc.cause is not None else "other"


def _first_line(exc: BaseException) -> str:
    """The most telling line of a Ray error: its cause's (an actor's failed start), else its own first line."""
    cause = getattr(exc, "cause", None) or getattr(exc, "__cause__", None)
    for candidate in (cause, exc):
        if candidate is not None:
            lines = [line.strip() for line in str(candidate).splitlines() if line.strip()]
            if lines:
                return f"{type(candidate).__name__}: {lines[-1] if candidate is exc else lines[0]}"[:300]
    return type(exc).__name__
