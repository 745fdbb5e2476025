"""Draw the module map of docs/architecture.md from the code: each module's job (the first line of its
docstring) and a graph of which module imports which (lazy imports inside functions
included; the helpers every module may use are left out of the graph).

Usage (from the repository root)::

    .venv/bin/python scripts/module_map.py          # print the map
    .venv/bin/python scripts/module_map.py --write  # replace it in docs/architecture.md

tests/test_architecture.py fails when the map in the docs is not the code's.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mesocli"
DOC = REPO / "docs" / "architecture.md"
START, END = "<!-- module-map:start -->", "<!-- module-map:end -->"
HELPERS = {"errors", "fsutil", "_tf", "progress", "__init__", "__main__"}  # used everywhere: not drawn


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if parts[0] == "mesocli" and len(parts) > 1:
                found.add(parts[1])
            elif node.module == "mesocli":
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("mesocli."))
    return found & known


def module_map() -> str:
    """The map as markdown: a table of modules, then a mermaid graph of their imports."""
    modules = _modules()
    known = set(modules)
    rows = ["| module | its job |", "|---|---|"]
    for name, tree in modules.items():
        doc = (ast.get_docstring(tree) or "").split("\n\n")[0].replace("\n", " ")
        first = doc.split(". ")[0].rstrip(".").replace("|", "\\|")
        rows.append(f"| `{name}` | {first} |")
    edges = []
    for name, tree in modules.items():
        if name in HELPERS:
            continue
        for target in sorted(_imports(tree, known) - HELPERS - {name}):
            edges.append(f"    {name} --> {target}")
    graph = ["```mermaid", "flowchart LR", *edges, "```"]
    note = (f"Left out of the graph: {', '.join(f'`{h}`' for h in sorted(HELPERS))} (used everywhere). "
            "An arrow is an import, lazy ones (inside functions) included.")
    return "\n".join([*rows, "", note, "", *graph])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="replace the map in docs/architecture.md")
    args = parser.parse_args()
    generated = module_map()
    if not args.write:
        print(generated)
        return
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{generated}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
