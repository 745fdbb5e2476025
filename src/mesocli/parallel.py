"""Scanning many inputs on all cores: one worker process per core, each with the model loaded once.

Face detection (dlib HOG) is single-threaded and takes most of a scan's time, so inputs are spread
over worker processes (``--workers``). Folders are expanded here, each file is one task, and results
come back in input order, each as soon as it and those before it are done (``Pool.imap``). Workers
are started with ``spawn`` (the parent already runs ONNX Runtime threads; forking them is unsafe)
and run the network on one thread each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mesocli.detectors import DetectorSet
from mesocli.scan import ProgressHook, ScanOptions, ScanResult, scan_inputs

_WORKER: dict[str, Any] = {}


def default_workers() -> int:
    """``$MESOCLI_WORKERS`` if set, else the number of cores."""
    value = os.environ.get("MESOCLI_WORKERS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def expand_tasks(paths: Sequence[str | Path]) -> list[str]:
    """Files to scan, one task each: folders expanded as the scan expands them; anything else (a file,
    a missing path, a folder that cannot be listed or holds no media) is left for the scan to report."""
    from mesocli.errors import MesocliError
    from mesocli.inputs import expand_inputs

    tasks: list[str] = []
    for raw in paths:
        path = Path(raw)
        files: list[Path] = []
        if path.is_dir():
            try:
                files = expand_inputs([path], media_only=True)
            except (MesocliError, OSError):
                files = []
        if files:
            tasks.extend(str(file) for file in files)
        else:
            tasks.append(str(raw))
    return tasks


def _portable(loaded: Any) -> Any:
    """What a spawned worker can receive: ONNX models without their session, else a (runtime, path, arch) triple."""
    import dataclasses

    from mesocli.runtime import OnnxModel

    if isinstance(loaded, DetectorSet):
        return DetectorSet(loaded.arch, {name: _portable(member) for name, member in loaded.members.items()})
    if isinstance(loaded, OnnxModel):
        return dataclasses.replace(loaded, session=None)
    return ("tensorflow", str(loaded.weights_path), loaded.arch)


def _ready(loaded: Any) -> Any:
    """The worker's model from :func:`_portable`'s form: one ONNX Runtime thread, or TensorFlow loaded here."""
    from mesocli.runtime import OnnxModel

    if isinstance(loaded, DetectorSet):
        return DetectorSet(loaded.arch, {name: _ready(member) for name, member in loaded.members.items()})
    if isinstance(loaded, OnnxModel):
        loaded.threads = 1
        return loaded
    from mesocli.weights import load_weights

    return load_weights(Path(loaded[1]), loaded[2])


def _init(loaded: Any, options: ScanOptions) -> None:
    _WORKER["loaded"], _WORKER["options"] = _ready(loaded), options


def _scan_one(path: str) -> ScanResult:
    (result,) = scan_inputs([path], _WORKER["loaded"], _WORKER["options"])
    return result


def scan_parallel(paths: Sequence[str | Path], loaded: Any, options: ScanOptions, workers: int,
                  progress: ProgressHook | None = None) -> Iterator[ScanResult]:
    """Like :func:`mesocli.scan.scan_inputs` (same results, same order) with ``workers`` processes."""
    import multiprocessing

    tasks = expand_tasks(paths)
    workers = max(1, min(workers, len(tasks)))
    if workers == 1:
        yield from scan_inputs(tasks, loaded, options, progress)
        return
    payload = _portable(loaded)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init, initargs=(payload, options)) as pool:
        for result in pool.imap(_scan_one, tasks, chunksize=1):
            if progress is not None:
                progress("start", result.path, None)
                progress("done", result.path, None)
            yield result
