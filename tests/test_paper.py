"""``benchmarks/paper.py``: the paper's figures beside the authors' and the bundled weights (docs/models.md)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO, require_shared


def _paper() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paper", REPO / "benchmarks" / "paper.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_table_runs_on_a_subset_and_has_every_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shared = require_shared("data", "mesonet-df", "validation")
    require_shared("reference", "authors-weights")
    # a few validation faces as a stand-in FF++ folder: the Face2Face section's layout, not its figures
    faces = tmp_path / "f2f"
    for label, method in (("df", "Face2Face"), ("real", "original")):
        (faces / "test" / label / method).mkdir(parents=True)
        for path in sorted((shared / label).glob("*.jpg"))[:6]:
            shutil.copy(path, faces / "test" / label / method / path.name)
    out = tmp_path / "paper.json"
    assert _paper().main(["--shared", str(shared.parents[2]), "--ffpp-faces", str(faces), "--limit", "40",
                          "--bootstrap", "0", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    names = [row["weights"] for row in report["df"]]
    assert names == ["paper, Meso4", "authors' Meso4_DF.h5", "authors' Meso4_DF.h5, bilinear resize",
                     "bundled Meso4 df", "paper, MesoInception4", "authors' MesoInception_DF.h5",
                     "authors' MesoInception_DF.h5, bilinear resize", "bundled MesoInception4 df"]
    assert [row["weights"] for row in report["f2f"]] == ["authors' Meso4_F2F.h5", "bundled Meso4 f2f",
                                                          "authors' MesoInception_F2F.h5", "bundled MesoInception4 f2f"]
    for row in report["df"] + report["f2f"]:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["video_mean"] <= 1
        if not row["weights"].startswith("paper"):
            assert 0 <= row["auc"] <= 1 and 0 <= row["video_vote"] <= 1 and 0 < row["images"] < 1000
            assert row["weights"] in printed and row["command"]
    assert "| paper, Meso4 | 0.891 |" in printed and "frame accuracy ≈ 0.95" in printed


def test_paper_table_says_which_data_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _paper().main(["--shared", str(tmp_path), "--bootstrap", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"paper.py: missing {tmp_path / 'data' / 'mesonet-df' / 'validation'}, ")
    assert "Meso4_DF.h5" in captured.err and "MESOCLI_SHARED" in captured.err and captured.err.count("\n") == 1
