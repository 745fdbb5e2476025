"""Scanning many inputs on all cores: one worker process per core, each with the model loaded once.

Face detection (dlib HOG) is single-threaded and takes most of a scan's time, so inputs are spread
over worker processes (``--workers``). Folders are expanded here (:func:`mesocli.inputs.plan_inputs`),
each file is one task, and results come back in input order, each as soon as it and those before it
are done. Workers are started with ``spawn`` (the parent already runs ONNX Runtime threads; forking
them is unsafe) and run the network on one thread each. They stop with the main process: terminated
when it stops (Ctrl-C, SIGTERM, an error), and by themselves when it is gone (``kill -9``); a worker
that dies (out of memory) costs no input but perhaps the one that killed it
(:func:`mesocli.workers.run_retrying`, as ``extract``'s); Ctrl-C is the main process's alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesocli.detectors import DetectorSet, Ensemble
from mesocli.faces import load_models
from mesocli.inputs import plan_inputs
from mesocli.progress import note
from mesocli.scan import ProgressHook, ScanOptions, ScanResult, scan_inputs
from mesocli.stdin_paths import stop_waiting
from mesocli.workers import (
    FEED_AHEAD,
    Lost,
    WorkerPool,
    getting_ready,
    ignore_ctrl_c,
    run_retrying,
    sent_back,
    stop_if_orphaned,
    usable_cores,
    watch_parent,
)

_WORKER: dict[str, Any] = {}


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
    """The worker's model from :func:`_portable`'s form, loaded here: its ONNX Runtime session (one thread) opened,
    or TensorFlow's model read from its weights file."""
    from mesocli.runtime import OnnxModel

    if isinstance(loaded, DetectorSet):
        return DetectorSet(loaded.arch, {name: _ready(member) for name, member in loaded.members.items()})
    if isinstance(loaded, Ensemble):
        return dataclasses.replace(loaded, members={arch: _ready(member) for arch, member in loaded.members.items()})
    if isinstance(loaded, OnnxModel):
        loaded.threads = 1
        loaded.predictor()  # its session, kept for the scan's predictors: ONNX Runtime loads now, not at a first face
        return loaded
    from mesocli.weights import load_weights

    return load_weights(Path(loaded.path), loaded.arch)


def _load(model_file: str) -> None:
    with open(model_file, "rb") as stream:  # written by the main process for its workers alone (0o600)
        _WORKER["loaded"] = _ready(pickle.load(stream))


def _init(model_file: str, options: ScanOptions, parent: int) -> None:
    ignore_ctrl_c()
    watch_parent(parent)
    _WORKER["options"] = options
    getting_ready("the model", lambda: _load(model_file))  # a failure stops the scan (WorkerError), with its cause
    getting_ready("the face models", lambda: load_models(options.detector))  # (a damaged file) as well


def _scan_one(path: str) -> ScanResult:  # (run as a task of workers.run_retrying: check_ready first)
    # its progress hook: stop at the next frame when the main process is gone; its ffmpeg, whose frames nobody
    # reads any more, ends on the broken pipe
    (result,) = scan_inputs([path], _WORKER["loaded"], _WORKER["options"], progress=stop_if_orphaned)
    return result


def _lost(path: str, how: str, loaded: Any, options: ScanOptions) -> ScanResult:
    """The row of an input whose worker process died twice (:class:`mesocli.workers.Lost`): an error."""
    from mesocli.producer import Job
    from mesocli.scan import finalize, run_settings

    job = Job(path, error=f"{path}: its worker process died twice ({how}; out of memory?)", error_kind="resources")
    job.finished = job.started
    return finalize(job, options, loaded.describe(), run_settings(options, loaded))


def scan_parallel(paths: Iterable[str | Path], loaded: Any, options: ScanOptions, workers: int,
                  progress: ProgressHook | None = None, log: Callable[[str], None] = note,
                  held_back: bool = False) -> Iterator[ScanResult]:
    """Like :func:`mesocli.scan.scan_inputs` (same results, same order) with ``workers`` processes. ``paths``
    as an iterator: planned inputs (:func:`mesocli.inputs.plan_inputs`), handed out as they arrive; with
    ``held_back``, none is drawn more than :data:`mesocli.workers.FEED_AHEAD` + 2 × ``workers`` inputs past the
    first whose result is not yet yielded (a slow input holds the others back: a caller's generator, which may
    make each input, is not drawn on and on meanwhile; paths on stdin are not held back: reading them costs nothing).

    A worker that dies (the kernel's out-of-memory killer on a large video, ``kill -9``): the inputs it may have
    held are scanned again, each alone (noted to ``log``); one whose worker dies again is an ``error`` row, and
    the scan goes on (:func:`mesocli.workers.run_retrying`, as ``extract`` does). A worker that cannot load the
    model (TensorFlow or ONNX Runtime fails there, the weights file changed since it was checked) stops the scan:
    :class:`mesocli.errors.WorkerError` (the results yielded before it stay yielded; those done but not yet due,
    in input order, are dropped)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    tasks: Iterable[str | Path] = paths if isinstance(paths, Iterator) else plan_inputs(paths)
    workers = max(1, min(workers, len(tasks))) if isinstance(tasks, list) else workers
    if workers == 1:
        yield from scan_inputs(tasks, loaded, options, progress)
        return
    payload = _portable(loaded)
    context = multiprocessing.get_context("spawn")

    # the model goes to each worker in a file (its path in the start data), not with its start data: that is then
    # small, so starting a worker does not wait for it to read it (Ctrl-C waits for the workers' start:
    # starting_workers), and the workers import what they need at once, not one after another. (A queue left
    # Python's resource tracker printing "leaked semaphore" warnings at the end of 1 run in 10, and a worker killed
    # while it took the model could leave the queue's lock held.)
    folder = Path(tempfile.mkdtemp(prefix="mesocli-workers-"))  # private (0o700), removed when the scan ends
    model_file = folder / "model.pickle"
    model_file.write_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))

    def make_pool(processes: int) -> ProcessPoolExecutor:
        return WorkerPool(processes, context, _init, (str(model_file), options, os.getpid()))

    def retrying(suspects: list[tuple[int, str]], how: str) -> None:
        held = ", ".join(str(path) for _, path in suspects)
        log(f"mesocli: a worker process died ({how}; out of memory?); scanning again, each alone, the "
            f"{len(suspects)} input{'s' if len(suspects) > 1 else ''} it may have held: {held}")

    done: dict[int, ScanResult] = {}
    following = 0  # the number of the next input to yield: results come in input order
    gate = threading.Condition()  # (``held_back``: the feed's thread waits there for ``following`` to move on)
    ended = False

    def gated(items: Iterator[str | Path], window: int) -> Iterator[tuple[int, str | Path]]:
        """``items`` numbered, each drawn once it is less than ``window`` past ``following`` (in the feed's thread)."""
        for number in itertools.count():
            with gate:
                while not ended and number >= following + window:
                    gate.wait()
                if ended:
                    return
            item = next(items, None)  # (no path is None)
            if item is None:
                return
            yield number, item

    numbered = (list(enumerate(tasks)) if isinstance(tasks, list)
                else gated(tasks, FEED_AHEAD + 2 * workers) if held_back else enumerate(tasks))  # (stdin: as they come)
    outcomes = run_retrying(numbered, workers, make_pool, lambda task: (_scan_one, (task[1],)), retrying,
                            restarting=lambda how: log(f"mesocli: the worker processes died as they started ({how}; "
                                                       "out of memory?); starting them again"))

    def due() -> Iterator[ScanResult]:
        nonlocal following
        while following in done:
            result = done[following]
            if progress is not None:  # the workers' frames are not reported: no per-input bar, the count moves
                progress("done", result.path, None)
            del done[following]  # (a stop in the hook: the result stays due)
            with gate:
                following += 1
                gate.notify_all()
            yield result

    def take(number: int, path: str | Path, outcome: Any) -> None:
        done[number] = _lost(str(path), outcome.how, loaded, options) if isinstance(outcome, Lost) else outcome

    try:
        with contextlib.closing(outcomes):
            try:
                for (number, path), outcome in outcomes:
                    take(number, path, outcome)
                    yield from due()
            except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM (here, or thrown in at a yield): the workers are
                for (number, path), outcome in sent_back(outcomes, stop):  # stopped, the results they had sent
                    take(number, path, outcome)  # back taken; those due, in input order up to the first input
                yield from due()  # not done, are given first
                raise
    finally:
        with gate:
            ended = True  # (the feed's thread, held back, ends)
            gate.notify_all()
        shutil.rmtree(folder, ignore_errors=True)
        stop_waiting(tasks)  # paths on stdin: the feed no longer waits for a line
