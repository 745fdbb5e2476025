"""Shared test fixtures.

Tests that need the third-party data in ``../shared`` (or ``$MESOCLI_SHARED``) use the
``shared_dir`` fixture: they skip with a reason when it is absent, and fail instead when
``MESOCLI_REQUIRE_SHARED=1`` (set by ``.ci/run``), so CI always runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

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


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder (skip/fail as described above)."""
    return require_shared()


@pytest.fixture(scope="session")
def authors_weights() -> Path:
    """Folder holding the authors' four legacy weight files."""
    return require_shared("reference", "authors-weights")
