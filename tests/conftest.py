"""Shared test fixtures.

Tests that need the third-party data in ``../shared`` (or ``$MESOCLI_SHARED``) use the
``shared_dir`` fixture: they skip with a reason when it is absent, and fail instead when
``MESOCLI_REQUIRE_SHARED=1`` (set by ``.ci/run``), so CI always runs them.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The standard test media (tests/media.py), each file made once per session."""
    from media import MediaKit

    return MediaKit(tmp_path_factory.getbasetemp() / "media")


def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: object, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run ``mesocli ARGS`` in this process through ``cli.main`` (one-line errors, exit statuses).

    Returns (exit status, stdout, stderr).
    """
    from mesocli import cli

    monkeypatch.setattr(sys, "argv", ["mesocli", *(os.fspath(a) if isinstance(a, Path) else str(a) for a in args)])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()
    try:
        cli.main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return (0 if code is None else int(code)), out, err
