"""Run TensorFlow quietly: no oneDNN/CUDA banner lines, absl warnings or deprecation notices in the
user's terminal (``MESOCLI_TF_VERBOSE=1`` shows them)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from types import ModuleType

from mesocli.errors import UsageError

# Descriptor 2 is the process's: captures from two threads at once end in any order, and the one that saved the
# other's temporary file as "the" stderr would put it back at its end (nested in one thread, they end in order).
_CAPTURE = threading.RLock()
_IMPORT = threading.Lock()  # TensorFlow is imported by one thread; the others wait for it
_imported: ModuleType | None = None


@contextlib.contextmanager
def _stderr_captured() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; replay it only if the block raises. One thread at a time."""
    with _CAPTURE:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile(mode="w+b") as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            except BaseException:
                sys.stderr.flush()
                os.dup2(saved, 2)
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))
                raise
            finally:
                sys.stderr.flush()  # what Python still buffers (warnings, absl logging) goes where it was written
                os.dup2(saved, 2)
                os.close(saved)


def quiet() -> contextlib.AbstractContextManager[None]:
    """A block whose stderr (TensorFlow's C++ logs, absl warnings, deprecation notices) is captured and
    replayed only if it raises; shown as it comes when ``MESOCLI_TF_VERBOSE`` is set (not 0)."""
    verbose = os.environ.get("MESOCLI_TF_VERBOSE", "") not in ("", "0")
    return contextlib.nullcontext() if verbose else _stderr_captured()


def import_tensorflow() -> ModuleType:
    """Return the ``tensorflow`` module, imported with its C++ start-up logging silenced.

    TensorFlow writes oneDNN/CUDA notices straight to file descriptor 2 before its logging is
    configured, so the import and device discovery run with that descriptor captured.
    Set ``MESOCLI_TF_VERBOSE=1`` to see them. Threads that ask at once wait for the one that imports it: the
    module in ``sys.modules`` is only partly initialised until then ("no attribute 'keras'").
    """
    global _imported
    if _imported is not None and sys.modules.get("tensorflow") is _imported:
        return _imported
    with _IMPORT:
        if _imported is None or sys.modules.get("tensorflow") is not _imported:
            _imported = _import_tensorflow()
        return _imported


def _import_tensorflow() -> ModuleType:
    if "tensorflow" in sys.modules:  # the user's own import, finished (a thread of theirs importing it: not known)
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's kernels: TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI, BF16 or AMX; on the others
    # (AVX2 only: older cloud VMs, most laptops) its own kernels train mesocli's networks three to four times slower
    # (docs/training.md "Speed"). The same seed still trains the same weights. TF_ENABLE_ONEDNN_OPTS=0 keeps
    # TensorFlow's own kernels.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    # mesocli's networks, heatmaps and exports are TensorFlow code: a KERAS_BACKEND the user exported for other
    # work (jax, torch) made every TensorFlow path a traceback ("Keras cannot be imported")
    os.environ["KERAS_BACKEND"] = "tensorflow"
    # Keras's own deprecation notices (NumPy 2's copy keyword) are not the user's to fix: under
    # PYTHONWARNINGS=error they were tracebacks
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(keras|tensorflow)(\.|$)")
    from mesocli.thirdparty import MATPLOTLIB, their_deprecations

    try:
        # Keras imports matplotlib.pyplot (keras.visualization), whose deprecations (pyparsing 3.3) are not the
        # user's to fix either
        with quiet(), their_deprecations(*MATPLOTLIB):
            import tensorflow as tf

            _threads_within_quota(tf)
            tf.config.list_physical_devices()
            tf.get_logger().setLevel("ERROR")
    except ModuleNotFoundError:
        raise
    except ImportError as exc:  # a library that cannot be mapped: too little memory (ulimit -v), a damaged install
        sys.modules.pop("tensorflow", None)
        raise UsageError(f"TensorFlow cannot be loaded ({exc}): too little memory for it (see ulimit -v), or a "
                         "damaged installation") from None
    return tf


def _threads_within_quota(tf: ModuleType) -> None:
    """Under a CPU quota (``docker --cpus``, a Kubernetes CPU limit), TensorFlow's two thread pools get the cores this
    process may use (:func:`mesocli.workers.usable_cores`), as ONNX Runtime's do (:func:`mesocli.runtime._session`):
    TensorFlow sizes them by the CPUs it may run on (its affinity), every core of the host under a quota. Without a
    quota, TensorFlow's defaults. Only before TensorFlow's runtime starts (a user's own import may have started it)."""
    from mesocli.workers import quota_cores, usable_cores

    if quota_cores() is None:
        return
    cores = usable_cores()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(cores)
    except RuntimeError:  # its runtime already started: its pools are made
        pass
