"""Every CSV mesocli writes (``scan --format csv``, ``eval --scores``, ``train``'s ``log.csv``) follows one rule:
records end in a line feed, and a text cell a spreadsheet would run as a formula gets a leading ``'`` that one rule
takes off again."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from conftest import RunCli
from media import make_faces

from mesocli.writers import FORMULA_STARTS, spreadsheet_safe, spreadsheet_text

# a name a spreadsheet may run, for each start that makes it one; the full-width forms as Excel's East Asian input
# takes them for =, +, -, @
FORMULA_NAMES = ["=x.png", "+1.png", "-1.png", "@a.png", "\tt.png", "\rr.png", "\nn.png",
                 "\uff1dHYPERLINK(1).png", "\uff0b1.png", "\uff0d1.png", "\uff20SUM(1).png"]


def _records(data: bytes) -> list[bytes]:
    """``data`` split at its line feeds, checked to end with one (the last record whole)."""
    assert data.endswith(b"\n"), data[-40:]
    return data[:-1].split(b"\n")


def test_every_csv_ends_its_records_with_a_line_feed(tmp_path: Path, own_weights: Path, run_cli: RunCli) -> None:
    """``scan --format csv`` ended its records with ``\\n``, ``eval --scores`` and ``train``'s ``log.csv`` with
    ``\\r\\n`` (Python's csv default): a ``\\r`` in the last cell for ``cut`` or ``awk`` on two of them. One rule
    now: ``\\n`` (a cell holding a carriage return is quoted)."""
    from mesocli.checkpoint import write_log

    data = make_faces(tmp_path / "data", {"df": 2, "real": 2})
    shutil.copy(data / "real" / "v0_0.png", data / "real" / "a\rb_9.png")  # quoted, its \r inside the quotes
    scan_csv, scores = tmp_path / "scan.csv", tmp_path / "scores.csv"
    images = sorted((data / "real").iterdir())
    scanned = run_cli("scan", "--weights", own_weights, "--detector", "none", "--no-hash", "--output", scan_csv,
                      *images)
    assert scanned.code == 0, scanned.err
    evaluated = run_cli("eval", "--data", data, "--weights", own_weights, "--scores", scores, "--bootstrap", "0",
                        "-q")
    assert evaluated.code == 0, evaluated.err
    write_log(tmp_path, [{"epoch": 1, "loss": 0.25}, {"epoch": 2, "loss": 0.125}])

    for path, rows in ((scan_csv, 3), (scores, 5), (tmp_path / "log.csv", 2)):
        written = path.read_bytes()
        assert b"\r\n" not in written, path.name
        lines = _records(written.replace(b"a\rb", b"a_b"))  # the quoted \r (path, video): no record end
        assert len(lines) == rows + 1 and b"\r" not in b"".join(lines), path.name
        parsed = list(csv.DictReader(io.StringIO(written.decode("utf-8"), newline="")))
        assert len(parsed) == rows, path.name
    assert any(row["path"] == "real/a\rb_9.png" for row in csv.DictReader(scores.open(newline="")))


def test_the_formula_escape_of_each_start_is_undone_by_one_rule() -> None:
    """Each start of :data:`FORMULA_STARTS`, a name's own leading ``'`` and a plain name: escaped, then given back
    by the documented rule; numbers never change."""
    names = [*FORMULA_NAMES, "'=x.png", "''=x.png", "'\uff1dx.png", "'plain.png", "plain.png", "\u3000x.png"]
    cells = [spreadsheet_safe(name) for name in names]
    assert cells == [f"'{name}" if name[:1] in (*FORMULA_STARTS, "'") else name for name in names]
    assert all(cell == f"'{name}" for cell, name in zip(cells, FORMULA_NAMES, strict=False))
    assert [spreadsheet_text(cell) for cell in cells] == names
    assert len(set(cells)) == len(names)
    assert spreadsheet_safe(-1.5) == -1.5


@pytest.mark.parametrize("command", ["scan", "eval"])
def test_full_width_formula_starts_are_escaped_in_each_csv(command: str, tmp_path: Path, own_weights: Path,
                                                           run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file named ``＝HYPERLINK(…).png`` (a full-width ``＝``, U+FF1D; ``＋``, ``－``, ``＠`` alike) was written
    as it is: a spreadsheet that takes ``＝`` for ``=`` ran it. It gets the ``'`` of ``=HYPERLINK(…)`` now, in
    ``scan``'s CSV (``ls | mesocli scan -``: bare names) and in the ``video`` cell of ``eval --scores`` (the name
    before ``_<frame>``), and the documented rule gives the text back."""
    data = make_faces(tmp_path / "data", {"df": 1, "real": 1})
    videos = ["\uff1dHYPERLINK(1)", "\uff0b1", "\uff0d1", "\uff20SUM(1)", "\nn"]
    names = [f"{video}_0.png" for video in videos]
    for name in names:
        shutil.copy(data / "real" / "v0_0.png", data / "real" / name)
    target = tmp_path / "out.csv"
    if command == "scan":
        monkeypatch.chdir(data / "real")
        result = run_cli("scan", "--weights", own_weights, "--detector", "none", "--no-hash", "--output", target,
                         "--null", "-", stdin="".join(f"{name}\0" for name in names))
        column, expected = "path", names
    else:
        result = run_cli("eval", "--data", data, "--weights", own_weights, "--scores", target, "--bootstrap", "0",
                         "-q")
        column, expected = "video", videos[:-1]  # a name with a newline has no video id
    assert result.code == 0, result.err
    cells = [row[column] for row in csv.DictReader(target.open(encoding="utf-8", newline=""))]
    assert {f"'{text}" for text in expected} <= set(cells), cells
    assert {spreadsheet_text(cell) for cell in cells} >= set(expected)
