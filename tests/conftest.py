"""Shared test fixtures and helpers.

Tests that need the third-party data in ``../shared`` (or ``$MESOCLI_SHARED``) use the
``shared_dir`` fixture or ``require_shared``: they skip with a reason when it is absent, and fail
instead when ``MESOCLI_REQUIRE_SHARED=1`` (set by ``.ci/run``), so CI always runs them.

The command line is run in this process through ``cli.main`` (the ``run_cli`` fixture), so a test sees
the exit status and the one-line error a user sees. A separate process (``fresh_python``) is for what
only a new interpreter shows: which modules an import loads, ``python -m``, a process killed or signalled.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from media import MediaKit

REPO = Path(__file__).resolve().parents[1]

# A suite started with & from a script (a CI runner, nohup) inherits Ctrl-C ignored, and so would every
# mesocli process the tests start: the tests that send Ctrl-C need it to be Ctrl-C, as at a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# `.ci/run` runs the files in two processes (pytest-xdist, --dist loadfile), each file's tests in one of them, a
# process taking the next file in the queue as it runs out of tests. xdist queued the files by their number of
# tests, so the suite's longest file, tests/test_training.py (about 15 of the 16 minutes one process worked),
# set the suite's time while the other process finished early. It now runs as two halves, one in each process,
# queued first; the other files follow, the long ones first (their times measured on 2 cores), so that the two
# processes end together.
_HALVED = "tests/test_training.py"
_LONG_FILES_FIRST = (
    _HALVED, "tests/robustness/test_environment.py", "tests/test_eval_shared.py",
    "tests/robustness/test_interrupts.py", "tests/test_api.py", "tests/test_evaluate.py", "tests/test_scan_cli.py",
    "tests/test_faces.py", "tests/test_extract.py", "tests/test_scan_ray.py", "tests/test_scan.py",
    "tests/test_runtime.py", "tests/test_explain.py", "tests/test_scan_shared.py", "tests/test_sources.py",
)


UNPINNED_CORES = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()
"""The cores the suite was started with, before :func:`pytest_configure` kept this process to one of them."""


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist with no more processes than cores, each process (and every process it starts) keeps to a
    core of its own: the thread pools that size themselves by the cores a process may use (ONNX Runtime's,
    TensorFlow's, the decoding pool) then run one thread each instead of two processes' pools contending for the
    same cores (measured: ONNX Runtime spends 10–40 % more CPU a face with 2 threads than with 1)."""
    worker, count = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and count.isdigit() and hasattr(os, "sched_setaffinity")):
        return
    cores = sorted(UNPINNED_CORES)
    if int(count) <= len(cores):
        os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})


def unpinned() -> None:
    """``preexec_fn`` of a process whose test needs the cores the suite was started with (a scan of ``--workers 2``
    that must not note them crowded, ffmpeg sizing its threads by the cores)."""
    if UNPINNED_CORES:
        os.sched_setaffinity(0, UNPINNED_CORES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long test files first (see :data:`_LONG_FILES_FIRST`); the tests of a file keep their order."""
    rank = {name: number for number, name in enumerate(_LONG_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with :data:`_HALVED` as two halves (its test functions in file order, a function's
    parameters together) and the files queued in collection order (see :func:`pytest_collection_modifyitems`)."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class HalvedLongFile(LoadFileScheduling):
        halves: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            if scope != _HALVED or self.collection is None:
                return scope
            if self.halves is None:
                functions = list(dict.fromkeys(node.split("[")[0] for node in self.collection
                                               if node.split("::")[0] == _HALVED))
                self.halves = {name: f"{_HALVED} (half {1 + 2 * number // len(functions)})"
                               for number, name in enumerate(functions)}
            return self.halves.get(nodeid.split("[")[0], scope)

    config.option.loadscopereorder = False  # (xdist's own order: by number of tests)
    return HalvedLongFile(config, log)


def shared_root() -> Path:
    return Path(os.environ.get("MESOCLI_SHARED", REPO.parent / "shared"))


def require_shared(*parts: str) -> Path:
    """Return ``shared_root()/parts``; skip (or fail under MESOCLI_REQUIRE_SHARED=1) if it is missing."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        message = f"needs {path} (third-party data, not in the repository; set MESOCLI_SHARED)"
        if os.environ.get("MESOCLI_REQUIRE_SHARED") == "1":
            pytest.fail(message + " -- required here because MESOCLI_REQUIRE_SHARED=1")
        pytest.skip(message)
    return path


@functools.cache
def _scan_validator():  # a jsonschema validator, the schema itself checked once
    import jsonschema

    schema = json.loads((REPO / "docs" / "scan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


_CONDITIONS = ("if", "then", "else", "not")  # constraints on keys described elsewhere, not descriptions


def _documented_keys_only(node: Any, part: str = "") -> Any:
    """``node`` (a part of the schema) with ``unevaluatedProperties: false`` in each object it describes by its
    properties (or by ``allOf`` parts) and leaves open (no ``additionalProperties``): keys named in an ``allOf``,
    ``oneOf`` or ``if``/``then`` branch count. An ``allOf`` part gets none (its keys and its siblings' count together,
    where the parts meet), nor anything under an ``if``/``then``/``else``/``not`` (it constrains what is described
    elsewhere)."""
    if part == "condition":
        return node
    if isinstance(node, list):
        return [_documented_keys_only(item, part) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _documented_keys_only(value, "condition" if key in _CONDITIONS else "allOf" if key == "allOf" else "")
           for key, value in node.items()}
    described = (out.get("type") == "object" and "properties" in out) or "allOf" in out
    if described and part != "allOf" and not {"additionalProperties", "unevaluatedProperties"} & set(out):
        out["unevaluatedProperties"] = False
    return out


@functools.cache
def _strict_scan_validator():  # the schema as the tests hold rows to it: no key it does not document, in any object
    import jsonschema

    return jsonschema.Draft202012Validator(_documented_keys_only(_scan_validator().schema))


def check_schema(result: dict) -> None:
    """Assert that one scan result (a JSON row) follows docs/scan.schema.json, and that each of its keys, at any
    depth, is documented there (the schema itself lets any object have keys it does not know: those a later version
    adds; a row mesocli writes has none)."""
    _scan_validator().validate(result)
    _strict_scan_validator().validate(result)


# ---------------------------------------------------------------------------------------------- the CLI


class CliResult(NamedTuple):
    """What one ``mesocli`` run printed, and its exit status."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The run's one error line (asserted: one line, ``mesocli: error: ``, no traceback, nothing on stdout)."""
        assert self.out == "", self.out
        assert "Traceback" not in self.err, self.err
        assert self.err.count("\n") == 1 and self.err.startswith("mesocli: error: "), self.err
        return self.err[len("mesocli: error: "):].rstrip("\n")

    def jsonl(self) -> list[dict]:
        """stdout as JSON Lines."""
        return [json.loads(line) for line in self.out.splitlines()]


RunCli = Callable[..., CliResult]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> RunCli:
    """``run_cli(*args, stdin=None)``: run ``mesocli ARGS`` in this process through ``cli.main``.

    Arguments may be paths or numbers. Monkeypatches of the test apply (scans run in-process, see
    ``_private_model_cache``).
    """
    from mesocli import cli

    def run(*args: object, stdin: str | None = None) -> CliResult:
        argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
        monkeypatch.setattr(sys, "argv", ["mesocli", *argv])
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            cli.main()
            code: object = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return CliResult(0 if code is None else int(code), out, err)

    return run


def fresh_python(code: str, timeout: float = 300) -> tuple[str, set[str]]:
    """Run ``code`` in a new interpreter; return its stdout and the top-level modules it had imported."""
    probe = "\nimport sys as _sys\nprint('\\nMODULES', *sorted({_m.split('.')[0] for _m in _sys.modules}))\n"
    done = subprocess.run([sys.executable, "-c", code + probe], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    out, _, modules = done.stdout.rpartition("\nMODULES ")
    return out, set(modules.split())


def cli_code(*argv: object) -> str:
    """Python source that runs ``mesocli ARGV`` through ``cli.main`` and prints ``exit N``."""
    return ("import sys\nfrom mesocli.cli import main\n"
            f"sys.argv = ['mesocli', *{[str(a) for a in argv]!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    print('exit', exc.code)\n")

def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (from /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"



def read_until(stream: Any, end: bytes) -> bytes:
    """What a process wrote to ``stream`` (a pipe), read until ``end`` is among it (or the pipe closes)."""
    got = b""
    while end not in got:
        chunk = os.read(stream.fileno(), 1 << 16)
        if not chunk:
            break
        got += chunk
    return got


ROW_END = {"json": b"\n}", "jsonl": b"}\n", "csv": b"\n/"}
"""What shows that a scan's first row is all there on standard output (csv: the next line starts, an absolute
path)."""


def parsed_rows(fmt: str, out: bytes) -> list[dict[str, Any]]:
    """The rows of a whole ``fmt`` document of ``scan`` (fails on a torn one)."""
    text = out.decode()
    if fmt == "json":
        return json.loads(text)
    if fmt == "jsonl":
        assert text == "" or text.endswith("\n"), text[-200:]
        return [json.loads(line) for line in text.splitlines()]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "path" and all(len(row) == len(rows[0]) for row in rows), rows
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", autouse=True)
def _private_model_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Converted models go to a cache of this test session (subprocesses inherit it), not the user's;
    scans run in one process unless a test passes --workers."""
    os.environ["MESOCLI_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    os.environ.setdefault("MESOCLI_WORKERS", "1")  # scans in-process (monkeypatches apply); tests ask for more


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder (skip/fail as described above)."""
    return require_shared()


@pytest.fixture(scope="session")
def authors_weights() -> Path:
    """Folder holding the authors' four legacy weight files."""
    return require_shared("reference", "authors-weights")


@pytest.fixture(scope="session")
def own_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real Meso4 (seeded random init) saved in mesocli's own format with its model card."""
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model
    from mesocli.weights import ModelCard, save_own

    import_tensorflow().keras.utils.set_random_seed(1234)
    path = tmp_path_factory.mktemp("weights") / "meso4_test.weights.h5"
    card = ModelCard(arch="meso4", manipulation="df", weights_file=path.name, sha256="", name="meso4_test")
    save_own(build_model("meso4"), path, card)
    return path


def write_bundle(folder: Path, detectors: list[tuple[str, str, int, float]], nearest: tuple[str, ...] = ()) -> Path:
    """A weights folder as ``weights/`` is: per (arch, manipulation, seed, scale) a real network from a
    seeded init, its weights scaled by ``scale`` (so detectors disagree), saved with its model card; the cards of
    those named in ``nearest`` (``meso4_df``) say ``"resize": "nearest"`` (trained with ``train --resize nearest``),
    the others bilinear."""
    from mesocli._tf import import_tensorflow
    from mesocli.models import build_model
    from mesocli.weights import ModelCard, save_own

    for arch, manipulation, seed, scale in detectors:
        import_tensorflow().keras.utils.set_random_seed(seed)
        model = build_model(arch)
        for variable in model.trainable_variables:
            variable.assign(variable.numpy() * scale)
        path = folder / f"{arch}_{manipulation}.weights.h5"
        name = f"{arch}_{manipulation}"
        save_own(model, path, ModelCard(arch=arch, manipulation=manipulation, weights_file=path.name, sha256="",
                                        name=name, resize="nearest" if name in nearest else "bilinear"))
    return folder


KillFfmpeg = Callable[[int], list[int]]


@pytest.fixture
def kill_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> KillFfmpeg:
    """``kill_ffmpeg(signal)``: the next FrameReader's ffmpeg gets ``signal`` as its first frame comes out (it
    is still decoding then, on :attr:`MediaKit.long_face_video`); returns the list of the pids signalled,
    filled as it happens."""
    from mesocli.video import FrameReader

    def arm(number: int) -> list[int]:
        signalled: list[int] = []
        next_frame = FrameReader.__next__

        def first_then_signal(reader: FrameReader):
            frame = next_frame(reader)
            if reader.decoded == 1 and not signalled:
                assert reader._process is not None and reader._process.poll() is None, "ffmpeg ended already"
                reader._process.send_signal(number)
                signalled.append(reader._process.pid)
            return frame

        monkeypatch.setattr(FrameReader, "__next__", first_then_signal)
        return signalled

    return arm


@pytest.fixture
def touched_after_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file that mesocli hashes is touched right after (its mtime one second later): a file that changed
    while it was scanned or extracted."""
    import mesocli.digest

    fingerprint = mesocli.digest.fingerprint

    def then_touched(path: Path, interrupted: Callable[[], bool] = lambda: False) -> object:
        taken = fingerprint(path, interrupted)
        stats = os.stat(path)
        os.utime(path, ns=(stats.st_atime_ns, stats.st_mtime_ns + 1_000_000_000))
        return taken

    monkeypatch.setattr(mesocli.digest, "fingerprint", then_touched)


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> MediaKit:
    """The standard test media (tests/media.py), each file made once per session."""
    return MediaKit(tmp_path_factory.getbasetemp() / "media")
