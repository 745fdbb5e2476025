"""The command-line shell: instant help, version, model listing, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from mesocli import __version__
from mesocli.cli import app

runner = CliRunner()


def test_help_does_not_import_tensorflow_or_dlib() -> None:
    code = (
        "import sys, runpy; sys.argv = ['mesocli', '--help']\n"
        "try:\n    runpy.run_module('mesocli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "names = ('tensorflow', 'keras', 'dlib', 'h5py', 'sklearn', 'matplotlib', 'ray')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "scan" in out and "extract" in out and "train" in out
    assert "HEAVY []" in out


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_models_lists_bundled_cards_as_json() -> None:
    result = runner.invoke(app, ["models", "--format", "json"])
    assert result.exit_code == 0
    cards = json.loads(result.output)
    assert isinstance(cards, list)
    for card in cards:
        assert {"arch", "manipulation", "weights_file", "sha256", "metrics"} <= set(card)


def test_models_table_names_missing_choices() -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "f2f" in result.output and "--weights" in result.output


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "mesocli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"mesocli {__version__}"
