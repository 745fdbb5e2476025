"""Scanning many inputs on all cores: one worker process per core, each with the model loaded once.

Face detection (dlib HOG) is single-threaded and takes most of a scan's time, so inputs are spread
over worker processes (``--workers``). Folders are expanded here (:func:`mesocli.inputs.plan_inputs`),
each file is one task, and results come back in input order, each as soon as it and those before it
are done (``Pool.imap``). Workers are started with ``spawn`` (the parent already runs ONNX Runtime
threads; forking them is unsafe) and run the network on one thread each. They stop with the main
process: terminated when it stops (Ctrl-C, SIGTERM, an error), and by themselves when it is gone
(``kill -9``; :mod:`mesocli.workers`), as ``extract``'s do; Ctrl-C is the main process's alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesocli.detectors import DetectorSet, Ensemble
from mesocli.errors import InputError
from mesocli.inputs import plan_inputs
from mesocli.scan import ProgressHook, ScanOptions, ScanResult, scan_inputs
from mesocli.stdin_paths import stop_waiting
from mesocli.workers import CHECK_SECONDS, ignore_ctrl_c, starting_workers, stop_if_orphaned, watch_parent

_WORKER: dict[str, Any] = {}


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or ``taskset``'s limit), not the
    machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """``$MESOCLI_WORKERS`` if set, else the cores this process may use."""
    value = os.environ.get("MESOCLI_WORKERS", "")
    return int(value) if value.isdigit() and int(value) > 0 else usable_cores()


@dataclass(frozen=True)
class KerasFile:
    """What a spawned worker gets of a TensorFlow model: its weights file and network, to load there."""

    path: str
    arch: str


def _portable(loaded: Any) -> Any:
    """What a spawned worker can receive: ONNX models without their session, Keras models as a :class:`KerasFile`."""
    from mesocli.runtime import OnnxModel

    if isinstance(loaded, DetectorSet):
        return DetectorSet(loaded.arch, {name: _portable(member) for name, member in loaded.members.items()})
    if isinstance(loaded, Ensemble):
        return dataclasses.replace(loaded, members={arch: _portable(member) for arch, member in loaded.members.items()})
    if isinstance(loaded, OnnxModel):
        return dataclasses.replace(loaded, session=None)
    return KerasFile(str(loaded.weights_path), loaded.arch)


def _ready(loaded: Any) -> Any:
    """The worker's model from :func:`_portable`'s form: one ONNX Runtime thread, or TensorFlow loaded here."""
    from mesocli.runtime import OnnxModel

    if isinstance(loaded, DetectorSet):
        return DetectorSet(loaded.arch, {name: _ready(member) for name, member in loaded.members.items()})
    if isinstance(loaded, Ensemble):
        return dataclasses.replace(loaded, members={arch: _ready(member) for arch, member in loaded.members.items()})
    if isinstance(loaded, OnnxModel):
        loaded.threads = 1
        return loaded
    from mesocli.weights import load_weights

    return load_weights(Path(loaded.path), loaded.arch)


def _init(models: Any, options: ScanOptions, parent: int) -> None:
    ignore_ctrl_c()
    watch_parent(parent)
    _WORKER.update(loaded=_ready(models.get()), options=options)


def _scan_one(path: str) -> ScanResult:
    # its progress hook: stop at the next frame when the main process is gone; its ffmpeg, whose frames nobody
    # reads any more, ends on the broken pipe
    (result,) = scan_inputs([path], _WORKER["loaded"], _WORKER["options"], progress=stop_if_orphaned)
    return result


def _check_alive(workers: list[Any]) -> None:
    """Raise InputError when one of the pool's ``workers`` died (the kernel's out-of-memory killer, ``kill -9``):
    the input it held would never be done, and the scan waited for it for ever."""
    for worker in workers:
        code = worker.exitcode
        if code not in (None, 0):
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            # not "scan the rest": an --output FILE without --resume is written whole at the end, so not at all
            raise InputError(f"a worker process died ({how}; out of memory?) and its input was lost: the scan stops "
                             "here; scan again (with --output FILE --resume, the inputs done are kept and skipped)")


def scan_parallel(paths: Iterable[str | Path], loaded: Any, options: ScanOptions, workers: int,
                  progress: ProgressHook | None = None) -> Iterator[ScanResult]:
    """Like :func:`mesocli.scan.scan_inputs` (same results, same order) with ``workers`` processes. ``paths``
    as an iterator: planned inputs (:func:`mesocli.inputs.plan_inputs`), handed out as they arrive."""
    import multiprocessing

    tasks: Iterable[str | Path] = paths if isinstance(paths, Iterator) else plan_inputs(paths)
    workers = max(1, min(workers, len(tasks))) if isinstance(tasks, list) else workers
    if workers == 1:
        yield from scan_inputs(tasks, loaded, options, progress)
        return
    payload = _portable(loaded)
    context = multiprocessing.get_context("spawn")
    # the model goes to each worker on a queue, not with its start data: that is then small, so starting a worker
    # does not wait for it to read it (Ctrl-C waits for the workers' start: starting_workers), and the workers
    # import what they need at once, not one after another
    models = context.Queue()
    models.cancel_join_thread()  # a model no worker took (Ctrl-C, a worker died) is not waited for at exit
    with contextlib.ExitStack() as stack:
        stack.callback(models.close)
        for _ in range(workers):
            models.put(payload)
        with starting_workers():  # (its threads too: one starts a worker again when one dies)
            pool = stack.enter_context(context.Pool(workers, initializer=_init,
                                                    initargs=(models, options, os.getpid())))
        started = list(getattr(pool, "_pool", []))  # its workers: one killed is replaced, its input never done
        results = pool.imap(_scan_one, tasks, chunksize=1)
        try:
            while True:
                try:
                    result = results.next(timeout=CHECK_SECONDS)
                except multiprocessing.TimeoutError:
                    _check_alive(started)
                    continue
                except StopIteration:
                    break
                if progress is not None:  # the workers' frames are not reported: no per-input bar, the count moves
                    progress("done", result.path, None)
                yield result
        finally:
            stop_waiting(tasks)  # paths on stdin: the pool's feeder no longer waits for a line (it would hang)
