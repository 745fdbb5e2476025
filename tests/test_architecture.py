"""docs/architecture.md's module map is the code's (regenerate: scripts/module_map.py --write)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_module_map_in_the_docs_is_drawn_from_the_current_code() -> None:
    spec = importlib.util.spec_from_file_location("module_map", REPO / "scripts" / "module_map.py")
    module_map = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module_map)
    generated = module_map.module_map()
    assert "| `scan` |" in generated and "scan --> " in generated
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    current = doc.split(module_map.START, 1)[1].split(module_map.END, 1)[0].strip()
    assert current == generated, "docs/architecture.md: run scripts/module_map.py --write"
