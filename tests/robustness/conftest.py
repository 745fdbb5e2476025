"""Fixtures of the robustness suite (the CLI runner and the test media come from tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from media import MediaKit


@pytest.fixture(scope="session")
def face_jpeg(kit: MediaKit) -> Path:
    """A good input that every run carries beside the bad one: it must still be processed."""
    return kit.face_jpeg
