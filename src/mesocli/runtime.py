"""Inference without TensorFlow: the networks as ONNX graphs run by ONNX Runtime.

``scan`` and ``eval`` use this runtime by default (``--runtime onnx``); ``--runtime tensorflow`` is
the Keras :class:`mesocli.predictor.Predictor`. Where the ONNX graph comes from:

1. bundled weights: ``weights/<name>.onnx`` beside ``<name>.weights.h5``, made by ``mesocli export
   --bundled``; used only when the model card records both files' sha256 (else 2.);
2. any other file (``--weights``): converted once, without TensorFlow (the weights are read with
   h5py, the graph built with the ``onnx`` package), and cached by the file's sha256 in
   ``$MESOCLI_CACHE`` (default ``$XDG_CACHE_HOME/mesocli`` or ``~/.cache/mesocli``) with the
   converted graph's own sha256 beside it (a cached graph that differs is converted again); a cache
   that cannot be written is skipped. Only a ``.weights.h5`` written by a Keras that does not name its
   layers in the file needs TensorFlow to be read, once;
3. an ``.onnx`` file written by ``mesocli export`` (``--weights``): run as it is, reported by its own
   sha256.

The weights file is checked as :func:`mesocli.weights.load_weights` checks it (regular file,
sha256 against its model card, architecture against ``--arch``) with the same one-line errors.
ONNX Runtime runs with its telemetry off (``ORT_DISABLE_TELEMETRY=1`` unless set otherwise): nothing of a
run is written to ``~/.cache/Microsoft``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mesocli.errors import WeightsError
from mesocli.preprocess import face_batch

if TYPE_CHECKING:
    from mesocli.detectors import DetectorSet, Ensemble
    from mesocli.weights import LoadedModel

RUNTIMES = ("onnx", "tensorflow")
DEFAULT_RUNTIME = "onnx"
DEFAULT_BATCH = 32
_BUILDING = threading.Lock()  # a model's sessions are built once, however many threads ask at once


def _free_building() -> None:
    """In a forked child: a free lock, not the parent's, which a thread of the parent may have held (by no
    thread of the child's, it would never be released)."""
    global _BUILDING
    _BUILDING = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_free_building)


def cache_dir() -> Path | None:
    """Cache of converted models: ``$MESOCLI_CACHE``, else ``$XDG_CACHE_HOME/mesocli`` or ``~/.cache/mesocli``;
    None without a home folder (:func:`mesocli.fsutil.cache_folder`): each run converts."""
    from mesocli.fsutil import cache_folder

    return cache_folder()


def _session(model: bytes | Path, threads: int | None = None) -> Any:
    # ONNX Runtime's telemetry (unless the user chose): no device id and event database written to the user's
    # cache folder, and no warning with colour codes on stderr at every start where that folder cannot be written
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # EXTENDED, not ALL: ALL adds the NCHWc layout transforms, which make these small networks slower
    # (docs/models.md)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    if not threads:
        # ONNX Runtime's default is a thread per physical core of the host, each pinned to a core by ONNX Runtime
        # itself: also in a container whose CPU quota allows fewer (docker --cpus, a Kubernetes CPU limit), and also
        # under taskset or docker --cpuset-cpus (the pinning overrides the process's affinity). There, no more than
        # the cores this process may use, unpinned; without a restriction, None: ONNX Runtime's default
        from mesocli.workers import restricted_cores

        threads = restricted_cores()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _onnxruntime() -> Any:
    """The onnxruntime module. A Ctrl-C or SIGTERM during its first import (its native module's initialisation
    turns it into ``ImportError: initialization failed``) is raised as itself: a stop, not a traceback."""
    try:
        import onnxruntime
    except ImportError as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            raise exc.__cause__ from None
        raise
    return onnxruntime


def _run_options() -> Any:
    """ONNX Runtime's options of one predictor's runs: :meth:`OnnxPredictor.cancel` ends them."""
    return _onnxruntime().RunOptions()


class OnnxPredictor:
    """Scores face crops with an ONNX Runtime session; the same interface as :class:`mesocli.predictor.Predictor`.

    Faces are (256, 256, 3) uint8 arrays; the graph divides by 255. :meth:`p_fake` is ``1 - P(real)``
    computed in float64, as the Keras predictor computes it.
    """

    def __init__(self, model: bytes | Path, batch_size: int = DEFAULT_BATCH, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self._session = _session(model, threads)
        self._run_options = _run_options()

    def cancel(self) -> bool:
        """End the batch being scored (in another thread) now, and any later one: they raise (a scan stopped at
        once by a second Ctrl-C drops the batch it was scoring). True: it can be."""
        self._run_options.terminate = True
        return True

    def p_real(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """The network's raw output, P(real), as float64 for each face."""
        batch = face_batch(faces)
        out = np.empty(len(batch), dtype=np.float64)
        for start in range(0, len(batch), self.batch_size):
            chunk = np.ascontiguousarray(batch[start : start + self.batch_size])
            (p_real,) = self._session.run(["p_real"], {"image": chunk}, self._run_options)
            out[start : start + len(chunk)] = p_real
        return out

    def p_fake(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Probability that each face is forged: ``1 - P(real)``."""
        return 1.0 - self.p_real(faces)


@dataclass
class OnnxModel:
    """Weights ready for ONNX Runtime; ``describe()`` is the same as :class:`mesocli.weights.LoadedModel`'s."""

    arch: str
    name: str
    weights_path: Path
    sha256: str
    onnx: bytes | Path = field(repr=False)  # the graph (its bytes: hundreds of KB) or its file
    origin: str  # "bundled", "cache", "converted" or "exported" (an .onnx file given as it is)
    card: Any = field(default=None, repr=False)  # the model card (its figures: thousands of characters)
    legacy: bool = False
    # an ONNX Runtime session opened on ``onnx`` (default threads; with the activations heatmaps need as one more
    # output: mesocli.onnx_graph.explainable)
    session: Any = field(default=None, repr=False)
    threads: int | None = None  # ONNX Runtime threads of the predictors made (None: the default, within a CPU quota)
    # an .onnx given as it is (origin "exported"): the bundled card of the weights it was exported from, found by
    # the sha256 its own card records (its figures are theirs); None when they are not bundled weights
    source_card: Any = field(default=None, repr=False)
    # an .onnx given as it is: the resize of a crop not 256×256 its own card carries (None: an export without it)
    export_resize: str | None = None
    # sessions opened with a thread count, kept: a worker scans input after input with one model
    _sessions: dict[int, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        """The ``model`` object of mesocli's JSON outputs."""
        return {"arch": self.arch, "name": self.name, "weights_sha256": self.sha256}

    def predictor(self, batch_size: int = DEFAULT_BATCH, threads: int | None = None) -> OnnxPredictor:
        threads = threads or self.threads
        predictor = OnnxPredictor.__new__(OnnxPredictor)
        predictor.batch_size = batch_size
        predictor._session = self._session_for(threads)
        predictor._run_options = _run_options()
        return predictor

    def default_session(self) -> Any:
        """The session with the default thread count (opened now if not yet): it scores faces and gives heatmaps
        (:class:`mesocli.explain.OnnxGradCam`) the last convolution's activations."""
        return self._session_for(None)

    def _session_for(self, threads: int | None) -> Any:
        """The model's session for ``threads`` (None: the default), built on first use, once: threads that ask
        at the same time wait for it (a session runs batches from several threads safely). One session per
        thread count."""
        session = self._sessions.get(threads) if threads else self.session
        if session is not None:
            return session
        with _BUILDING:  # not per model: a model travels to worker processes by pickle, a lock cannot
            session = self._sessions.get(threads) if threads else self.session
            if session is None:
                from mesocli.onnx_graph import explainable

                # the default session gives heatmaps their activations too, as the one load_onnx opens
                graph = self.onnx if threads or not isinstance(self.onnx, bytes) else explainable(self.onnx)
                session = _session(graph, threads)
                if threads:
                    self._sessions[threads] = session
                else:
                    self.session = session
            return session

    @property
    def model(self) -> Any:
        """The Keras model of the same weights (imports TensorFlow), for code that needs Keras itself."""
        from mesocli.weights import load_weights

        return load_weights(self.weights_path, self.arch).model


def _onnx_card(model: bytes) -> tuple[Any, Any]:
    """(card, session) of a mesocli ONNX model, read with ONNX Runtime (no ``onnx`` import); card None if unusable.

    The session runs the graph with its last convolution's activations as one more output
    (:func:`mesocli.onnx_graph.explainable`: the scores are the same, bit for bit), so that heatmaps
    (:class:`mesocli.explain.OnnxGradCam`) need no second session."""
    from mesocli.export import ExportCard
    from mesocli.onnx_graph import explainable

    try:
        session = _session(explainable(model))
        meta = session.get_modelmeta().custom_metadata_map
    except Exception:  # a damaged or foreign file is not used
        return None, None
    return ExportCard.from_metadata(dict(meta)), session


def runtime_of(loaded: Any) -> str:
    """``onnx`` or ``tensorflow``: what runs ``loaded`` (a model, or a detector set or ensemble of them)."""
    members = getattr(loaded, "members", None)
    if members:
        return runtime_of(next(iter(members.values())))
    return "onnx" if isinstance(loaded, OnnxModel) else "tensorflow"


def cached_path(digest: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / "onnx" / f"{digest}.onnx"


def _recorded_sha256(onnx_path: Path) -> Path:
    """Where the cache records the sha256 of a converted model (``<weights sha256>.sha256``)."""
    return onnx_path.with_suffix(".sha256")


def _verified(candidate: Path, expected: str | None) -> bytes | None:
    """The bytes of an ONNX file whose sha256 is ``expected`` (read once: what is checked is what runs);
    None when it is missing, unreadable, not recorded or different (damaged or replaced)."""
    if not expected:
        return None
    try:
        data = candidate.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == expected else None


def load_onnx(path: Path, arch: str | None = None) -> OnnxModel:
    """Check a weights file and return it ready for ONNX Runtime (bundled export, cache, or converted now).

    A bundled export is used only when its own sha256 is the one its model card records, a cached one
    when it is the one the cache recorded beside it: the graph that runs is the weights file reported.
    """
    from mesocli import weights as w
    from mesocli.export import default_output
    from mesocli.fsutil import trusted_cache_file

    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return _exported(path, arch)
    card = w.card_beside(path)
    digest = w.check_file(path, card)
    candidates = [(default_output(path, "onnx"), "bundled", card.onnx_sha256)] if card is not None else []
    cached = cached_path(digest)
    if cached is not None and trusted_cache_file(cached, _recorded_sha256(cached)):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            candidates.append((cached, "cache", _recorded_sha256(cached).read_text(encoding="ascii").strip()))
    for candidate, origin, expected in candidates:
        data = _verified(candidate, expected)
        found, session = _onnx_card(data) if data is not None else (None, None)
        if found is None or found.source_sha256 != digest:
            continue  # stale, damaged or foreign: convert instead
        if arch is not None and arch != found.arch:
            raise WeightsError(f"{path}: holds {w.DISPLAY_NAMES[found.arch]} weights, not "
                               f"{w.DISPLAY_NAMES[arch]} (drop --arch or fix it)")
        name = card.name if card is not None and card.name and not found.legacy else path.name
        return OnnxModel(found.arch, name, path, digest, data, origin, None if found.legacy else card,
                         found.legacy, session)
    return convert(path, arch, digest)


def _exported(path: Path, arch: str | None) -> OnnxModel:
    """An ONNX file written by ``mesocli export``, run as it is; it reports its own sha256 (what ran), and
    the weights it was exported from in its name."""
    from mesocli import weights as w

    w.check_file(path, None)  # a regular, readable file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    found, session = _onnx_card(data)
    if found is None:
        raise WeightsError(f"{path}: not an ONNX model written by `mesocli export` (no model card inside)")
    if arch is not None and arch != found.arch:
        raise WeightsError(f"{path}: holds {w.DISPLAY_NAMES[found.arch]} weights, not {w.DISPLAY_NAMES[arch]} "
                           "(drop --arch or fix it)")
    if found.resize is not None:  # (an unknown one: refused, as in a model card)
        w.ModelCard(found.arch, found.manipulation or "", found.source_file, "", resize=found.resize).check_resize(path)
    name = f"{path.name} (exported from {found.name or found.source_file}, sha256 {found.source_sha256[:12]})"
    digest = hashlib.sha256(data).hexdigest()
    try:  # a bundled export's card (its resize, its figures): the weights' it came from
        beside = w.card_beside(path)
    except w.UnknownResize:  # a model card whose resize is unknown: refused when it is this export's (not guessed)
        if _card_of(w.card_path_for(path), found.source_sha256, digest):
            raise
        beside = None  # another file's card (stale, of other weights): not its card, as one with a known resize
    except WeightsError:  # a JSON file beside it that is no readable model card (a scan's output): not its card
        beside = None
    source = beside if beside is not None and beside.sha256 == found.source_sha256 else next(
        (card for card in w.bundled_cards() if card.sha256 == found.source_sha256), None)
    return OnnxModel(found.arch, name, path, digest, data, "exported", None,
                     found.legacy, session, source_card=source, export_resize=found.resize)


def _card_of(card_file: Path, source_sha256: str, onnx_sha256: str) -> bool:
    """Whether the model card ``card_file`` (read as JSON, its resize unchecked) is an export's: of the weights it
    was exported from (``sha256``), or recording this very export (``onnx_sha256``)."""
    import json

    try:
        raw = json.loads(card_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(raw, dict) and (raw.get("sha256") == source_sha256
                                      or bool(onnx_sha256) and raw.get("onnx_sha256") == onnx_sha256)


def convert(path: Path, arch: str | None = None, digest: str | None = None) -> OnnxModel:
    """Read and convert a weights file now; keep the result in the cache when it can be written."""
    from mesocli.export import onnx_bytes, read_source
    from mesocli.fsutil import atomic_path, atomic_write_text, cache_file_writable

    source = read_source(Path(path), arch, digest)
    data = onnx_bytes(source.arrays, source.arch, source.card())
    cached = cached_path(source.sha256)
    if cached is not None:
        with contextlib.suppress(OSError):  # a read-only or full cache only costs the next run a conversion
            if cache_file_writable(cached, _recorded_sha256(cached)):  # never in a folder others may write
                with atomic_path(cached, suffix=".onnx") as tmp:
                    tmp.write_bytes(data)
                atomic_write_text(_recorded_sha256(cached), hashlib.sha256(data).hexdigest() + "\n")
    from mesocli.weights import ModelCard, card_path_for

    card_file = card_path_for(source.path)
    card = ModelCard.from_json(card_file) if not source.legacy and card_file.is_file() else None
    return OnnxModel(source.arch, source.name, source.path, source.sha256, data, "converted", card, source.legacy)


def resolve(arch: str | None, manipulation: str, weights: Path | None,
            runtime: str = DEFAULT_RUNTIME) -> OnnxModel | LoadedModel | DetectorSet | Ensemble:
    """The CLI's model selection (see :func:`mesocli.weights.resolve_model`) for ``runtime``."""
    from mesocli import weights as w
    from mesocli.detectors import ANY, ENSEMBLE, bundled_set, resolve_ensemble
    from mesocli.errors import UsageError

    if runtime not in RUNTIMES:
        raise UsageError(f"unknown --runtime '{runtime}'; choose one of {', '.join(RUNTIMES)}")
    if arch == ENSEMBLE and runtime != "tensorflow":
        return resolve_ensemble(manipulation, weights, load_onnx)
    if runtime == "tensorflow" or manipulation == ANY and weights is not None:
        return w.resolve_model(arch, manipulation, weights)
    if manipulation == ANY:
        return bundled_set(arch, load_onnx)
    w.check_manipulation(manipulation)
    if weights is not None:
        return load_onnx(weights, arch)
    arch = arch or "meso4"
    return load_onnx(w.bundled_weights_path(arch, manipulation), arch)


def keras_onnx_predictor(model: Any, arch: str, batch_size: int = DEFAULT_BATCH) -> OnnxPredictor:
    """An ONNX Runtime predictor of a Keras ``model``'s weights as they are now: the graph that ``eval`` and ``scan``
    (``--runtime onnx``, their default) convert the weights file it is saved as to, so that training scores its
    held-out part as they score it. Keras and ONNX Runtime differ by up to about 2e-6 in P(real), which matters
    where the float32 sigmoid saturates: faces tied at 1.0 in one runtime are not in the other, and an AUC of a few
    hundred faces moved by 0.003 (docs/training.md)."""
    from mesocli.export import ExportCard, keras_arrays, onnx_bytes

    card = ExportCard("", arch, None, "", "", False)  # metadata only: the graph and its scores do not depend on it
    return OnnxPredictor(onnx_bytes(keras_arrays(model), arch, card), batch_size)


def require_onnx() -> None:
    """Import ONNX Runtime and the ``onnx`` package, which :func:`keras_onnx_predictor` needs: a missing one raises
    ModuleNotFoundError now (``train``: before an epoch is trained, not when its held-out part is scored)."""
    import importlib

    _onnxruntime()
    importlib.import_module("onnx")


def check_scores(p_fake: np.ndarray, loaded: Any) -> None:
    """Raise WeightsError unless every score of ``loaded`` (a model, or a member of a set) is a number: weights
    holding NaN (a damaged or hostile file) score every face NaN, which compares as below any threshold."""
    if np.isfinite(p_fake).all():
        return
    path = getattr(loaded, "weights_path", None)
    name = Path(path).name if path else loaded.describe().get("name") if hasattr(loaded, "describe") else loaded.name
    raise WeightsError(f"{name}: the network's score of a face is not a number (NaN): these weights are unusable")


def make_predictor(loaded: Any, batch_size: int = DEFAULT_BATCH, jit_compile: bool = True,
                   threads: int | None = None) -> Any:
    """A predictor for ``loaded``: ONNX Runtime for an :class:`OnnxModel`, the mean of its networks' for an
    :class:`mesocli.detectors.Ensemble`, else the Keras Predictor."""
    from mesocli.detectors import Ensemble, ensemble_predictor

    if isinstance(loaded, Ensemble):
        return ensemble_predictor(loaded, lambda member: make_predictor(member, batch_size, jit_compile, threads))
    if isinstance(loaded, OnnxModel):
        return loaded.predictor(batch_size, threads)
    from mesocli.predictor import Predictor

    return Predictor(loaded.model, batch_size=batch_size, jit_compile=jit_compile)
