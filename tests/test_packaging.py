"""The wheel a user installs: what it holds, and that an installed mesocli (not this source tree) finds its
bundled weights from any folder. Builds the wheel with hatchling (the ``test`` extra installs it), offline."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("hatchling") is None,
                       reason="hatchling is not installed (pip install -e '.[test]')"),
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out)], check=True, capture_output=True, timeout=300)
    (found,) = out.glob("mesocli-*.whl")
    return found


def test_the_wheel_holds_the_package_every_bundled_model_and_the_notices_and_nothing_else(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    dist_info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
    for card in sorted((REPO / "weights").glob("*.json")):
        weights = json.loads(card.read_text())["weights_file"]
        onnx = weights.removesuffix(".weights.h5") + ".onnx"
        assert {f"mesocli/weights/{card.name}", f"mesocli/weights/{weights}", f"mesocli/weights/{onnx}"} <= names
    assert {f"{dist_info}/licenses/LICENSE", f"{dist_info}/licenses/NOTICE"} <= names
    sources = {f"mesocli/{path.name}" for path in (REPO / "src" / "mesocli").glob("*.py")}
    assert sources <= names
    assert "mesocli/py.typed" in names  # PEP 561: a type checker reads the API's hints, not Any everywhere
    assert "mesocli/scan.schema.json" in names  # mesocli.api.scan_schema(): the rows' schema of this version
    stray = [name for name in names if not name.startswith(("mesocli/", f"{dist_info}/"))
             or "__pycache__" in name or name.endswith(".pyc")]
    assert not stray, stray


def test_an_installed_wheel_scans_with_its_bundled_weights_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    """Installed elsewhere and run from an unrelated folder, mesocli finds its weights inside the package (not
    in a source tree's weights/), for every bundled model and network."""
    from mesocli.provenance import code_digest

    target, work = tmp_path / "site", tmp_path / "work"
    work.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=300)
    shutil.copy(REPO / "examples" / "astronaut.mp4", work)
    env = {**os.environ, "PYTHONPATH": str(target), "MESOCLI_CACHE": str(tmp_path / "cache")}

    def mesocli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mesocli", *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)

    where = subprocess.run([sys.executable, "-c", "import mesocli.weights as w; print(w.__file__); "
                            "print(w.bundled_dir())"], cwd=work, env=env, capture_output=True, text=True,
                           check=True).stdout.split()
    assert [Path(line).is_relative_to(target) for line in where] == [True, True], where
    schema = subprocess.run([sys.executable, "-c", "import json, mesocli.api as a; print(json.dumps(a.scan_schema()))"],
                            cwd=work, env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(schema) == json.loads((REPO / "docs" / "scan.schema.json").read_text())
    version = mesocli("--version")
    # the installed wheel's code digest is the source tree's it was built from (the data inside the package)
    assert version.stdout.strip() == f"mesocli {wheel.name.split('-')[1]} (code {code_digest()})"
    models = mesocli("models")
    rows = [line for line in models.stdout.splitlines() if line.split()[:1] in (["meso4"], ["mesoinception4"])]
    assert models.returncode == 0 and len(rows) == len(list((REPO / "weights").glob("*.json"))), models.stdout
    assert mesocli("export", "--bundled", "--check").returncode == 0
    for args in ([], ["--model", "any"], ["--arch", "mesoinception4"], ["--arch", "ensemble"]):
        result = mesocli("scan", "astronaut.mp4", "--frames", "3", "--format", "json", *args)
        assert result.returncode == 0, result.stderr
        (row,) = json.loads(result.stdout)
        assert row["status"] == "ok" and row["p_fake"] is not None
