"""Fixtures of the robustness suite: the session's test media and the CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from media import MediaKit

from robustness.helpers import CliResult, run_cli


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> MediaKit:
    """The standard media (made once per session, shared with the module tests)."""
    return MediaKit(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture
def mesocli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Callable[..., CliResult]:
    """``mesocli(*args, stdin=None)``: run the command in this process, return its exit status and output."""

    def run(*args: object, stdin: str | None = None) -> CliResult:
        return run_cli(monkeypatch, capsys, *args, stdin=stdin)

    return run


@pytest.fixture(scope="session")
def face_jpeg(kit: MediaKit) -> Path:
    """A good input that every run carries beside the bad one: it must still be processed."""
    return kit.face_jpeg
