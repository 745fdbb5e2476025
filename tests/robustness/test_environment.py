"""The environments analysts run mesocli in: locales and stdout encodings, closed pipes and descriptors,
narrow terminals, a deleted current folder, names longer than the file system allows, the umask, caches
that cannot be written, warnings turned into errors and a TensorFlow that cannot be loaded."""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import io
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import ROW_END, RunCli, children_of, read_until
from media import face_crop, make_faces

LONG_NAME = "x" * 252 + ".json"  # 257 bytes: one more than a name may hold
COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-8]|9[0-7])[;m]")  # an SGR sequence that sets a foreground colour
NAMES = ["ünïcödé☃😀.png", os.fsdecode(b"caf\xe9 \xff.png")]  # non-ASCII; not UTF-8 at all


@pytest.fixture(scope="module")
def crops(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Aligned face crops (``--detector none``) with the odd names of :data:`NAMES`, and a plain one."""
    folder = tmp_path_factory.mktemp("crops")
    paths = [folder / "plain.png", *(folder / name for name in NAMES)]
    for path in paths:
        face_crop().save(path)
    return paths


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_faces(tmp_path_factory.mktemp("data"), {"df": 4, "real": 4})


def mesocli(*args: object, env: dict[str, str] | None = None, **options: object) -> subprocess.CompletedProcess:
    """``python -m mesocli ARGS`` in a new process (bytes out), with ``env`` added to this one's."""
    if "stdout" not in options and "stderr" not in options:
        options.setdefault("capture_output", True)
    return subprocess.run([sys.executable, "-m", "mesocli", *map(os.fsencode, map(str, args))],
                          env={**os.environ, **(env or {})}, timeout=300, **options)


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_json_stays_valid_json_on_a_stdout_that_lacks_characters(encoding: str, crops: list[Path],
                                                                  own_weights: Path) -> None:
    """A non-UTF-8 stdout (``PYTHONIOENCODING``, a Latin-1 locale) writes what it lacks as JSON escapes that
    read back to the very file name (it wrote ``\\xfc``, which no JSON reader accepts)."""
    for fmt in ("jsonl", "json"):
        done = mesocli("scan", "--weights", own_weights, "--detector", "none", "--format", fmt, *crops,
                       env={"PYTHONIOENCODING": encoding})
        assert done.returncode == 0, done.stderr
        text = done.stdout.decode(encoding)
        rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
        assert [row["path"] for row in rows] == [str(path) for path in crops]


def test_an_ascii_locale_prints_every_name_and_every_table(crops: list[Path], own_weights: Path,
                                                           tiny_data: Path) -> None:
    """``LC_ALL=C`` without UTF-8 mode (an ASCII locale; any non-UTF-8 one alike): eval's table (its ``≥``) was a
    UnicodeEncodeError traceback, exit 1, and explain's JSON named the files ``??n??c...``, lost; now a name's
    bytes are written as they are (as scan writes them there) and other characters as JSON escapes."""
    env = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    evaluated = mesocli("eval", "--data", tiny_data, "--weights", own_weights, "--bootstrap", "0", "-q", env=env)
    assert evaluated.returncode == 0, evaluated.stderr.decode()
    assert b"\\u2265 0.5" in evaluated.stdout  # fake when p_fake >= 0.5
    explained = mesocli("explain", *crops, "--out", crops[0].parent / "heatmaps", "--weights", own_weights, env=env)
    assert explained.returncode == 0, explained.stderr.decode()
    rows = [json.loads(os.fsdecode(line)) for line in explained.stdout.splitlines()]
    assert [row["path"] for row in rows] == [str(path) for path in crops]


def test_a_report_names_a_file_that_is_not_utf8(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                run_cli: RunCli) -> None:
    """``scan --report`` on a file whose name is not UTF-8 ended in a UnicodeEncodeError traceback after the
    scan, the report lost; the page names it with the JSON output's escape."""
    report = tmp_path / "report.html"
    result = run_cli("scan", "--weights", own_weights, "--detector", "none", "--report", report, *crops)
    assert result.code == 0, result.err
    page = report.read_text(encoding="utf-8")
    assert "caf\\udce9 \\udcff.png" in page and "ünïcödé☃😀.png" in page


def test_a_name_that_is_not_utf8_in_every_scan_format_and_output(tmp_path: Path, crops: list[Path],
                                                                  own_weights: Path) -> None:
    """Guard: a name whose bytes are not UTF-8 (``caf\\xe9 \\xff.png``) in each format. JSON and JSON Lines (file
    or stdout) read back to the very file; CSV and the table write the escape ``caf\\udce9 \\udcff.png`` to a
    file and to a UTF-8 stdout (the ``eval --scores`` CSV and the report do the same), and the name's own bytes
    where Python's stdout keeps them (the C locale's surrogateescape)."""
    import csv

    def escaped(path: Path) -> str:
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")

    scan = ("scan", "--weights", own_weights, "--detector", "none", "--no-hash", *crops)
    for fmt in ("csv", "jsonl", "json"):
        output = tmp_path / f"rows.{fmt}"
        done = mesocli(*scan, "--output", output)
        assert done.returncode == 0, done.stderr
        text = output.read_text(encoding="utf-8")  # valid UTF-8
        if fmt == "csv":
            assert [row["path"] for row in csv.DictReader(io.StringIO(text))] == list(map(escaped, crops))
            continue
        rows = json.loads(text) if fmt == "json" else [json.loads(line) for line in text.splitlines()]
        assert [row["path"] for row in rows] == list(map(str, crops)) and all(map(os.path.exists, crops))
    utf8 = mesocli(*scan, "--format", "csv", env={"PYTHONIOENCODING": "utf-8"})
    assert [row["path"] for row in csv.DictReader(io.StringIO(utf8.stdout.decode()))] == list(map(escaped, crops))
    table = mesocli(*scan, "--format", "table", env={"PYTHONIOENCODING": "utf-8", "COLUMNS": "400"})
    assert table.returncode == 0 and all(escaped(path) in table.stdout.decode() for path in crops)
    raw = mesocli(*scan, "--format", "csv", env={"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""})
    assert raw.returncode == 0 and bytes(crops[2]) in raw.stdout  # the name's own bytes
    assert [row["path"] for row in csv.DictReader(io.StringIO(os.fsdecode(raw.stdout)))] == list(map(str, crops))


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_a_utf8_locale_prints_a_name_that_is_not_utf8_as_valid_utf8(fmt: str, tmp_path: Path, crops: list[Path],
                                                                    own_weights: Path) -> None:
    """``LC_ALL=C.UTF-8`` (Python's standard output: UTF-8 with surrogateescape; ``C`` in UTF-8 mode alike): a
    name's bytes that are not UTF-8 (``caf\\xe9 \\xff.png``) reached standard output raw in JSON, JSON Lines and
    CSV, which were then not UTF-8 (``json.loads`` of the bytes failed; jq read U+FFFD). Every format now writes the
    escape ``caf\\udce9 \\udcff.png``, as an ``--output`` file and the ``--report`` page do: JSON reads it back to
    the very file."""
    import csv

    def escaped(path: Path) -> str:
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")

    report = tmp_path / "report.html"
    done = mesocli("scan", "--weights", own_weights, "--detector", "none", "--no-hash", "--format", fmt,
                   "--report", report, *crops,
                   env={"LC_ALL": "C.UTF-8", "PYTHONUTF8": "0", "PYTHONIOENCODING": "", "COLUMNS": "400"})
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("utf-8")  # strict: valid UTF-8
    assert all(escaped(path) in report.read_text(encoding="utf-8") for path in crops[1:])
    if fmt == "csv":
        assert [row["path"] for row in csv.DictReader(io.StringIO(text, newline=""))] == list(map(escaped, crops))
    elif fmt == "table":
        assert all(escaped(path) in text for path in crops)
    else:
        rows = json.loads(done.stdout) if fmt == "json" else [json.loads(line) for line in done.stdout.splitlines()]
        assert [row["path"] for row in rows] == list(map(str, crops)) and all(map(os.path.exists, crops))


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_scan_dash_finds_the_files_whatever_stdins_encoding(encoding: str, crops: list[Path],
                                                            own_weights: Path) -> None:
    """``ls | mesocli scan -`` gives the names' bytes: with ``PYTHONIOENCODING=latin-1`` a UTF-8 name was decoded
    as Latin-1 and reported "no such file or folder"; read as ``os.fsdecode`` reads a name, each is found."""
    listing = b"".join(os.fsencode(path) + b"\n" for path in crops)
    done = mesocli("scan", "--weights", own_weights, "--detector", "none", "-", input=listing,
                   env={"PYTHONIOENCODING": encoding})
    assert done.returncode == 0, done.stdout
    rows = [json.loads(line) for line in done.stdout.decode(encoding).splitlines()]
    assert [(row["path"], row["status"]) for row in rows] == [(str(path), "ok") for path in crops]


@pytest.mark.parametrize("args", [["models"], ["scan", "--format", "table"], ["scan", "--format", "jsonl"],
                                  ["eval", "--bootstrap", "0", "-q"]], ids=lambda args: "-".join(args[:3]))
def test_a_reader_that_went_away_exits_141_not_1(args: list[str], crops: list[Path], own_weights: Path,
                                                 tiny_data: Path) -> None:
    """``mesocli ... | head``: the reader closed the pipe. Status 141 (SIGPIPE) and nothing on stderr, as for
    any command of a pipeline; it was 1, which ``scan --fail-on-fake`` uses for "a verdict is fake"."""
    extra = {"scan": ["--weights", own_weights, "--detector", "none", crops[0]],
             "eval": ["--data", tiny_data, "--weights", own_weights]}.get(args[0], [])
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write
    try:
        done = mesocli(*args, *extra, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr.decode()) == (141, "")


@pytest.mark.parametrize("args", [["--help"], ["--version"], [], ["scan", "--help"], ["extract", "--help"],
                                  ["train", "--help"], ["eval", "--help"], ["explain", "--help"], ["export", "--help"],
                                  ["models", "--help"]], ids=lambda args: "-".join(args) or "no-args")
def test_help_and_version_to_a_reader_that_went_away_exit_141(args: list[str]) -> None:
    """``mesocli --help | head -1``: the help (rich) and the version (click) exited with status 1, the status of
    a failure, where every command exits 141 (SIGPIPE) and says nothing."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write
    try:
        done = mesocli(*args, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr.decode()) == (141, "")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("args", [["--help"], ["models"], ["eval", "--bootstrap", "0", "-q"], ["explain"], ["extract"],
                                  ["export"]], ids=lambda args: args[0])
def test_a_full_disk_on_stdout_is_one_line_in_every_command(args: list[str], tmp_path: Path, crops: list[Path],
                                                            own_weights: Path, tiny_data: Path) -> None:
    """``> /dev/full`` (a full disk under a redirection): only scan said so; the other commands ended in an
    OSError traceback with exit 1, after their work."""
    extra = {"eval": ["--data", tiny_data, "--weights", own_weights],
             "explain": [crops[0], "--out", tmp_path / "heatmaps", "--weights", own_weights],
             "extract": [crops[0], tmp_path / "faces"],
             "export": [own_weights, "-o", tmp_path / "w.onnx"]}.get(args[0], [])
    with open("/dev/full", "w") as full:
        done = mesocli(*args, *extra, stdout=full, stderr=subprocess.PIPE)
    assert (done.returncode, done.stderr.decode()) == (
        2, "mesocli: error: cannot write standard output: No space left on device\n")


def test_narrow_and_zero_width_terminals_leave_no_column_out(tiny_data: Path, own_weights: Path,
                                                             monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """``COLUMNS=0`` printed nothing at all (exit 0), ``--help`` a blank line; ``COLUMNS=20`` left the model
    column out of ``models`` and cut names short (``mesoi…``): a table is printed at least as wide as it needs,
    the terminal wraps it."""
    from mesocli.weights import bundled_cards

    for columns in ("0", "20"):
        monkeypatch.setenv("COLUMNS", columns)
        listed = run_cli("models")
        assert listed.code == 0 and "…" not in listed.out
        rows = [line.split()[:2] for line in listed.out.splitlines() if line.startswith(" meso")]
        for card in bundled_cards():
            assert [card.arch, card.manipulation] in rows
        evaluated = run_cli("eval", "--data", tiny_data, "--weights", own_weights, "--bootstrap", "0", "-q")
        assert evaluated.code == 0 and "accuracy" in evaluated.out and "…" not in evaluated.out
        monkeypatch.setenv("COLUMNS", columns)
        helped = run_cli("--help")  # COLUMNS=0: typer's help was one blank line
        assert helped.code == 0 and "Usage:" in helped.out and "scan" in helped.out


def _on_a_terminal(args: Sequence[object], columns: int) -> bytes:
    """What ``python -m mesocli ARGS`` writes to a pseudo-terminal ``columns`` wide (0: one whose size nobody set,
    as ``script`` or ``docker exec -t`` give), its stdin, stdout and stderr."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24 if columns else 0, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    child = subprocess.Popen([sys.executable, "-m", "mesocli", *map(str, args)], stdin=terminal, stdout=terminal,
                             stderr=terminal, env=env)
    os.close(terminal)
    written = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 300)
            chunk = os.read(main, 65536) if ready else b""
            if not chunk:
                break
            written += chunk
    except OSError:  # EIO: the terminal's last process is gone
        pass
    finally:
        os.close(main)
        child.kill()
    assert child.wait() == 0, written.decode(errors="replace")
    return written


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="a pseudo-terminal of a chosen size")
def test_train_on_a_terminal_of_no_size_prints_no_blank_line_before_an_epoch(tiny_data: Path, tmp_path: Path) -> None:
    """On a terminal whose size nobody set (0 columns: ``script``, ``docker exec -t``, some CI runners), tqdm drew
    its counters 0 wide, nothing at all, then ended each with a newline: a blank line before each epoch's log
    line (and after the dataset's decoding). Now a counter is as wide as ``COLUMNS``, or 80, there."""
    written = _on_a_terminal(["train", tiny_data, "--out", tmp_path / "run", "--epochs", "2", "--batch-size", "2",
                              "--val-fraction", "0.25", "--seed", "5"], columns=0)
    lines = written.replace(b"\r\n", b"\n").split(b"\n")
    epochs = [number for number, line in enumerate(lines) if line.startswith(b'{"epoch": ')]
    assert len(epochs) == 2, written
    for number in epochs:  # the line before: the epoch's counter, drawn and left
        assert re.search(rb"epoch \d/2: 100%.* (\d+)/\1 ", lines[number - 1]), lines[number - 1]
    assert b"\n\n" not in written.replace(b"\r\n", b"\n"), written  # no blank line anywhere


def test_no_color_is_obeyed_by_the_scan_table(crops: list[Path], own_weights: Path,
                                              monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """``NO_COLOR=1`` on a terminal (``FORCE_COLOR`` stands in for one here): the verdicts were still green and red."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = run_cli("scan", "--weights", own_weights, "--detector", "none", "--format", "table", crops[0])
    assert coloured.code == 0 and COLOUR.search(coloured.out)  # the control: colour where it is allowed
    monkeypatch.setenv("NO_COLOR", "1")
    plain = run_cli("scan", "--weights", own_weights, "--detector", "none", "--format", "table", crops[0])
    assert plain.code == 0 and "real" in plain.out and not COLOUR.search(plain.out)


def test_names_in_notes_reach_the_terminal_escaped(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                   tiny_data: Path, run_cli: RunCli) -> None:
    """The notes on stderr (hidden files skipped in a folder, files an eval skipped) printed names raw: a newline
    split the line, an escape sequence (``\\x1b[31m``, ``\\x1b[2J``) reached the terminal."""
    import shutil

    folder = tmp_path / "ev\x1b[31mil\nfolder"
    folder.mkdir()
    shutil.copy(crops[0], folder / "a.png")
    shutil.copy(crops[0], folder / ".hidden.png")
    data = Path(shutil.copytree(tiny_data, tmp_path / "data"))
    (data / "real" / "notes\x1b[2J.txt").write_text("not an image\n")
    runs = [("scan", "--weights", own_weights, "--detector", "none", folder),
            ("extract", folder, tmp_path / "faces", "--detector", "none"),
            ("eval", "--data", data, "--weights", own_weights, "--bootstrap", "0", "--format", "json")]
    for args in runs:
        result = run_cli(*args)
        assert result.code == 0, result.err
        assert "\x1b" not in result.err and "\\x1b" in result.err, args[0]
        (skipped,) = [line for line in result.err.splitlines() if "skipped" in line]  # one line, not split
        assert skipped.startswith("mesocli: "), result.err


def test_a_deleted_current_folder_is_one_line(tmp_path: Path, crops: list[Path], own_weights: Path,
                                              tiny_data: Path, monkeypatch: pytest.MonkeyPatch,
                                              run_cli: RunCli) -> None:
    """Outputs named relative to a current folder that was deleted (another shell's ``rm -r``): one line,
    exit 2; it was a FileNotFoundError traceback with exit 1 ("fake" for scan)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    runs = [("scan", "--weights", own_weights, "--detector", "none", crops[0], "-o", "out.json"),
            ("extract", crops[0], "out"),
            ("explain", crops[0], "--out", "heatmaps", "--weights", own_weights),
            ("eval", "--data", tiny_data, "--weights", own_weights, "--scores", "scores.csv", "-q"),
            ("export", own_weights, "-o", "w.onnx")]
    for args in runs:
        result = run_cli(*args)
        assert (result.code, result.error_line()) == (2, "the current folder no longer exists (it was deleted or "
                                                          "moved): cd to a folder that exists, or give absolute paths")


def test_a_name_longer_than_the_file_system_allows(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                   tiny_data: Path, run_cli: RunCli) -> None:
    """An output name of 257 bytes is one line, exit 2; an input of that name is an error result and the other
    inputs are processed. Each was an OSError traceback (exit 1), after the other inputs were scanned."""
    long = tmp_path / LONG_NAME
    page = long.with_suffix(".html")  # (a report named .json is refused as rows, before its length is looked at)

    def expected(name: Path) -> str:
        shown = f"{str(name)[:53]}...{str(name)[-26:]}"  # one short line: the name's middle left out
        return f"{shown}: name too long (257 bytes in one name; the file system allows 255): give a shorter one"

    runs = [("scan", "--weights", own_weights, "--detector", "none", crops[0], "-o", long),
            ("scan", "--weights", own_weights, "--detector", "none", crops[0], "--report", page),
            ("extract", crops[0], long),
            ("explain", crops[0], "--out", long, "--weights", own_weights),
            ("eval", "--data", tiny_data, "--weights", own_weights, "--scores", long, "-q"),
            ("export", own_weights, "-o", long)]
    for args in runs:
        result = run_cli(*args)
        assert (result.code, result.error_line()) == (2, expected(page if page in args else long)), args[0]
    scanned = run_cli("scan", "--weights", own_weights, "--detector", "none", crops[0], long)
    assert scanned.code == 3
    assert [(row["status"], row["error"]) for row in scanned.jsonl()] == [
        ("ok", None), ("error", f"{long}: cannot read (File name too long)")]
    explained = run_cli("explain", crops[0], long, "--out", tmp_path / "heatmaps", "--weights", own_weights)
    assert explained.code == 3
    assert [json.loads(line)["status"] for line in explained.out.splitlines()] == ["ok", "error"]


def _closing(*descriptors: int):
    def close() -> None:
        for fd in descriptors:
            os.close(fd)

    return close


def test_closed_stdout_and_stderr_leave_no_descriptor_for_a_file_to_take(tmp_path: Path, crops: list[Path],
                                                                         own_weights: Path) -> None:
    """``>&- 2>&-`` (cron, a daemon): the first file opened took descriptor 2, where TensorFlow, ONNX Runtime and
    ffmpeg write; saving and restoring it failed, and the bundled weights were called a "damaged HDF5 file
    (Bad file descriptor)", exit 2, no output."""
    out = tmp_path / "out.json"
    done = mesocli("scan", "--weights", own_weights, "--detector", "none", "--runtime", "tensorflow", crops[0],
                   "-o", out, stdin=subprocess.DEVNULL, capture_output=False, preexec_fn=_closing(1, 2))
    assert done.returncode == 0
    assert [row["status"] for row in json.loads(out.read_text())] == ["ok"]


def _others_may_write(root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in [root, *root.rglob("*")]
            if stat.S_IMODE(path.lstat().st_mode) & stat.S_IWOTH and not path.is_symlink()]


def test_umask_000_makes_no_evidence_world_writable(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                    face_jpeg: Path) -> None:
    """Under ``umask 000`` crops, manifests, results, reports and heatmaps were 0666 and their folders 0777: anyone
    on the machine could change them. The CLI withholds write permission from others (``umask 000`` acts as 002)."""
    for args in (("extract", face_jpeg, tmp_path / "faces"),
                 ("scan", "--weights", own_weights, "--detector", "none", crops[0], "-o", tmp_path / "r" / "s.json",
                  "--report", tmp_path / "r" / "report.html", "--explain", tmp_path / "r" / "heatmaps")):
        done = mesocli(*args, umask=0)
        assert done.returncode == 0, done.stderr
    assert (tmp_path / "faces" / "manifest.jsonl").is_file() and (tmp_path / "r" / "report.html").is_file()
    assert _others_may_write(tmp_path / "faces") == []
    assert _others_may_write(tmp_path / "r") == []
    made = tmp_path / "r" / "s.json"
    assert stat.S_IMODE(made.stat().st_mode) == 0o664  # group-writable, as umask 000 asks: only others lose it


def test_the_python_api_under_umask_000_makes_no_evidence_world_writable(tmp_path: Path, crops: list[Path],
                                                                        own_weights: Path, face_jpeg: Path) -> None:
    """Only the CLI withheld write permission from others under ``umask 000``: a script calling ``mesocli.extract``,
    ``explain``, ``export_weights`` wrote 0666 crops and manifests in 0777 folders (new parent folders too). Every
    write withholds it now, and the caller's umask is left as it was."""
    code = f"""
import os
os.umask(0)
from pathlib import Path
import mesocli
from mesocli import api
out = Path({str(tmp_path)!r})
summary = mesocli.extract([{str(face_jpeg)!r}], out / "faces" / "deep")
assert [r.status for r in summary.results] == ["ok"], summary
mesocli.extract([{str(face_jpeg)!r}], out / "set", layout="dataset", label="df", split="train")
rows = list(api.explain([{str(crops[0])!r}], out / "heat" / "maps", weights={str(own_weights)!r}))
assert [r["status"] for r in rows] == ["ok"], rows
api.export_weights([{str(own_weights)!r}], "onnx", out / "onnx" / "w.onnx", echo=lambda line: None)
api.export_weights([{str(own_weights)!r}], "savedmodel", out / "saved", echo=lambda line: None)
print("umask", oct(os.umask(0)))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["umask", "0o0"]  # the library did not change the caller's umask
    assert (tmp_path / "faces" / "deep" / "manifest.jsonl").is_file() and (tmp_path / "saved").is_dir()
    assert _others_may_write(tmp_path) == []
    made = tmp_path / "onnx" / "w.onnx"
    assert stat.S_IMODE(made.stat().st_mode) == 0o664  # group-writable, as umask 000 asks: only others lose it
    assert stat.S_IMODE(made.parent.stat().st_mode) == 0o775


def test_a_savedmodel_export_folder_gets_the_umask_mode(tmp_path: Path, own_weights: Path, run_cli: RunCli) -> None:
    """``export --format savedmodel``: the folder was 0o700 (mkdtemp's) whatever the umask, so that the account
    that serves the model could not read it, while every file in it followed the umask."""
    from mesocli import fsutil

    saved = os.umask(0o022)
    fsutil._umask.cache_clear()  # read again: this umask
    try:
        result = run_cli("export", own_weights, "--format", "savedmodel", "-o", tmp_path / "model")
    finally:
        os.umask(saved)
        fsutil._umask.cache_clear()
    assert result.code == 0, result.err
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755


def test_a_savedmodel_export_under_umask_000_makes_no_world_writable_parent_folder(tmp_path: Path,
                                                                                  own_weights: Path) -> None:
    """The parent folders that ``api.export_weights(..., "savedmodel", "new/sub/model")`` made were 0777 under
    ``umask 000`` (made by mkdir, not as every other output's folders are)."""
    code = f"""
import os
os.umask(0)
from mesocli import api
api.export_weights([{str(own_weights)!r}], "savedmodel", {str(tmp_path / "new" / "sub" / "model")!r},
                   echo=lambda line: None)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "sub" / "model" / "saved_model.pb").is_file()
    assert _others_may_write(tmp_path / "new") == []


def test_an_unwritable_cache_gives_no_onnx_runtime_warning(tmp_path: Path, crops: list[Path],
                                                           own_weights: Path) -> None:
    """ONNX Runtime's telemetry wrote a device id and an event database to ``$XDG_CACHE_HOME/Microsoft``, and
    where that folder cannot be made (``XDG_CACHE_HOME`` a file, a read-only ``HOME``) printed a coloured,
    timestamped warning on stderr at every scan, ``--quiet`` or not."""
    env = {key: value for key, value in os.environ.items() if key != "ORT_DISABLE_TELEMETRY"}
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    cache = tmp_path / "cache"
    cache.mkdir()
    for xdg in (blocker, cache):
        done = subprocess.run([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                               "none", "-q", str(crops[0])], env={**env, "XDG_CACHE_HOME": str(xdg)},
                              capture_output=True, text=True, timeout=300)
        assert (done.returncode, done.stderr) == (0, "")
    assert list(cache.iterdir()) == []


def test_without_a_home_folder_nothing_is_cached_in_the_current_one(tmp_path: Path, own_weights: Path,
                                                                    face_jpeg: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    run_cli: RunCli) -> None:
    """``HOME`` unset and a user id without a password entry (a container run with an arbitrary id): ``~`` stays
    ``~``, so the converted model went to ``./~/.cache/mesocli`` in the current (evidence) folder, and the face
    detector's cache (``Path.home()``) raised RuntimeError. Now nothing is cached there."""
    import pwd

    from mesocli import faces

    def no_entry(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("HOME", "MESOCLI_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    work = tmp_path / "evidence"
    work.mkdir()
    monkeypatch.chdir(work)
    faces._hog_state.cache_clear()  # made (and cached) anew, here
    try:
        result = run_cli("scan", "--weights", own_weights, face_jpeg)
    finally:
        faces._hog_state.cache_clear()
    assert result.code == 0, result.out + result.err
    assert [row["status"] for row in result.jsonl()] == ["ok"]
    assert list(work.iterdir()) == []


def test_a_path_longer_than_the_system_allows_made_of_short_names(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                                  run_cli: RunCli) -> None:
    """An output path of 4,600 bytes whose every name is short (100 bytes): the error said "100 bytes in one name;
    the file system allows 255", which is not what is wrong. It now names the path's length."""
    deep = tmp_path.joinpath(*["d" * 100] * 45, "out.json")
    result = run_cli("scan", "--weights", own_weights, "--detector", "none", crops[0], "-o", deep)
    assert result.code == 2, result.err
    line = result.error_line()
    assert "in one name" not in line, line
    assert re.search(rf": path too long \({len(os.fsencode(str(deep)))} bytes; the system allows 4095\)", line), line
    assert len(line) < 200

def test_a_cache_that_others_can_write_is_not_used(tmp_path: Path, own_weights: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The converted model is checked against the sha256 recorded beside it, in the same folder: whoever can
    write that folder (a shared ``MESOCLI_CACHE``, a cache made under ``umask 000``) could put another network
    there, and its verdicts would be reported under these weights. Such a cache is now not read."""
    from mesocli import runtime

    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "cache"))
    assert runtime.load_onnx(own_weights).origin == "converted"
    assert runtime.load_onnx(own_weights).origin == "cache"  # the control: a cache of one's own is used
    cached = runtime.cached_path(runtime.load_onnx(own_weights).sha256)
    cached.parent.chmod(0o777)
    assert runtime.load_onnx(own_weights).origin == "converted"
    cached.parent.chmod(0o755)
    cached.chmod(0o666)
    assert runtime.load_onnx(own_weights).origin == "converted"


def test_an_untrusted_cache_file_is_replaced_by_a_trusted_one(tmp_path: Path, own_weights: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A cached model that others may write (made under ``umask 000``) was converted again and rewritten with
    its old mode, 0666, on every run: it is replaced by a file of this run's mode, which the next run reads."""
    from mesocli import runtime

    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "cache"))
    cached = runtime.cached_path(runtime.load_onnx(own_weights).sha256)
    cached.chmod(0o666)
    assert runtime.load_onnx(own_weights).origin == "converted"
    assert not stat.S_IMODE(cached.stat().st_mode) & stat.S_IWOTH
    assert runtime.load_onnx(own_weights).origin == "cache"


def test_a_link_planted_in_a_cache_others_can_write_is_not_followed(tmp_path: Path, own_weights: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared cache folder that anyone may write: a symbolic link put there under the converted model's name
    made the run write the model into the file it pointed to (any file the user may write). Nothing is written
    in such a folder now."""
    from mesocli import runtime
    from mesocli.weights import sha256_file

    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "shared"))
    cached = runtime.cached_path(sha256_file(own_weights))
    cached.parent.mkdir(parents=True)
    cached.parent.chmod(0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    cached.symlink_to(victim)
    assert runtime.load_onnx(own_weights).origin == "converted"
    assert victim.read_text() == "precious\n"
    assert sorted(path.name for path in cached.parent.iterdir()) == [cached.name]  # the link, as it was


def test_the_face_detector_cache_follows_no_link_planted_by_others(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The same for the face detector's cache file: a link in a folder others may write is not written through."""
    import dlib

    from mesocli import faces

    monkeypatch.setenv("MESOCLI_CACHE", str(tmp_path / "shared"))
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared").chmod(0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "shared" / f"dlib-{dlib.__version__}-frontal_face_detector.svm").symlink_to(victim)
    faces._hog_state.cache_clear()
    try:
        assert faces._hog_detector() is not None
    finally:
        faces._hog_state.cache_clear()
    assert victim.read_text() == "precious\n"


def test_an_unwritable_home_gives_no_matplotlib_notice(tmp_path: Path, own_weights: Path, tiny_data: Path) -> None:
    """A container's ``HOME=/`` (or a read-only one): ``eval --plot`` printed matplotlib's "mkdir -p failed for path
    ..." and "Matplotlib created a temporary cache directory ... it is highly recommended to set the MPLCONFIGDIR
    environment variable ..." on stderr, ``-q`` or not."""
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {key: value for key, value in os.environ.items()
           if key not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    plot = tmp_path / "roc.png"
    done = subprocess.run([sys.executable, "-m", "mesocli", "eval", "--data", str(tiny_data), "--weights",
                           str(own_weights), "--bootstrap", "0", "-q", "--plot", str(plot)],
                          env={**env, "HOME": str(home)}, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stderr) == (0, "")
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_warnings_as_errors_do_not_stop_the_tensorflow_runtime(crops: list[Path], own_weights: Path) -> None:
    """``PYTHONWARNINGS=error`` (CI): Keras's NumPy 2 deprecation notice was a traceback, exit 1."""
    done = mesocli("scan", "--weights", own_weights, "--detector", "none", "--runtime", "tensorflow", crops[0],
                   env={"PYTHONWARNINGS": "error"})
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["status"] == "ok"


# Run as ``python -c``: each module of DEPRECATING warns, in its own code, at the end of its import, as matplotlib
# 3.8-3.10 did under pyparsing 3.3 ("'oneOf' deprecated - use 'one_of'", from matplotlib._fontconfig_pattern),
# whatever versions are installed here; then mesocli runs its command.
WARNING_IMPORTS = """
import importlib.abc, importlib.util, runpy, sys

DEPRECATING = {"matplotlib._fontconfig_pattern", "matplotlib.colors", "keras", "tensorflow"}
WARN = "import warnings; warnings.warn(\\"'oneOf' deprecated - use 'one_of'\\", DeprecationWarning)"


class Deprecating(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in DEPRECATING:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            exec(compile(WARN, module.__file__, "exec"), vars(module))

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, Deprecating())
sys.argv[0] = "mesocli"
runpy.run_module("mesocli", run_name="__main__", alter_sys=True)
"""


def mesocli_warning_at_import(*args: object) -> subprocess.CompletedProcess:
    """``mesocli ARGS`` under ``PYTHONWARNINGS=error``, where matplotlib, Keras and TensorFlow warn at import."""
    return subprocess.run([sys.executable, "-c", WARNING_IMPORTS, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "error"}, timeout=300)


def test_the_injected_import_warning_is_an_error_outside_mesocli() -> None:
    """The injection works: a plain ``import matplotlib`` under it fails, as with matplotlib 3.8-3.10 and
    pyparsing 3.3."""
    done = subprocess.run([sys.executable, "-c", WARNING_IMPORTS.replace('runpy.run_module("mesocli", '
                                                                         'run_name="__main__", alter_sys=True)',
                                                                         "import matplotlib.pyplot")],
                          capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "error"}, timeout=300)
    assert done.returncode == 1 and "DeprecationWarning: 'oneOf' deprecated" in done.stderr


@pytest.mark.parametrize("command", ["eval --plot", "explain", "scan --report", "export --format tflite",
                                     "scan --runtime tensorflow", pytest.param("train", marks=pytest.mark.slow)])
def test_a_libraries_own_deprecation_at_import_is_not_an_error(command: str, tmp_path: Path, crops: list[Path],
                                                               tiny_data: Path, own_weights: Path) -> None:
    """``PYTHONWARNINGS=error`` with matplotlib 3.8-3.10 and pyparsing 3.3: matplotlib's import warned
    (DeprecationWarning), and ``eval --plot``, ``explain``, ``scan --report`` and ``train`` ended in a traceback,
    exit 1; so did every TensorFlow path (Keras imports matplotlib.pyplot). A library's own deprecation notices
    at its import are not the user's to fix."""
    args = {
        "eval --plot": ["eval", "--data", tiny_data, "--weights", own_weights, "--bootstrap", "0", "-q",
                        "--plot", tmp_path / "roc.png"],
        "explain": ["explain", crops[0], "--weights", own_weights, "--out", tmp_path / "heat"],
        "scan --report": ["scan", crops[0], "--weights", own_weights, "--detector", "none", "-q",
                          "--report", tmp_path / "report.html"],
        "export --format tflite": ["export", own_weights, "--format", "tflite", "-o", tmp_path / "m.tflite"],
        "scan --runtime tensorflow": ["scan", crops[0], "--weights", own_weights, "--detector", "none",
                                      "--runtime", "tensorflow"],
        "train": ["train", tiny_data, "--split", "train", "--out", tmp_path / "run", "--epochs", "1",
                  "--batch-size", "4", "--val-fraction", "0.25", "-q"],
    }[command]
    done = mesocli_warning_at_import(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_a_users_warning_filters_still_apply_to_mesocli() -> None:
    """Only the libraries' own deprecations are let through: one from mesocli's code is still an error, and
    the user's filters are as they were after the import."""
    import warnings

    from mesocli.thirdparty import their_deprecations

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = list(warnings.filters)
        with their_deprecations("matplotlib"):
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="matplotlib._fontconfig_pattern")
            warnings.warn_explicit("old", PendingDeprecationWarning, "x.py", 1, module="matplotlib.cbook")
            with pytest.raises(DeprecationWarning):
                warnings.warn_explicit("ours", DeprecationWarning, "x.py", 1, module="mesocli.report")
            with pytest.raises(DeprecationWarning):
                warnings.warn_explicit("theirs", DeprecationWarning, "x.py", 1, module="matplotlibextra")
            with pytest.raises(UserWarning):
                warnings.warn_explicit("not a deprecation", UserWarning, "x.py", 1, module="matplotlib.pyplot")
        assert warnings.filters == before


def test_the_filters_a_library_sets_at_its_import_stay() -> None:
    """What the libraries set while they are imported (scipy ignores "numpy.ndarray size changed", urllib3 its
    DependencyWarning) stays set after the import, as without the block, in front of the user's filters."""
    import warnings

    from mesocli.thirdparty import their_deprecations

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        users = list(warnings.filters)
        with their_deprecations("scipy"):
            warnings.filterwarnings("ignore", message="numpy.ndarray size changed")  # as scipy's import does
            warnings.simplefilter("always", ResourceWarning)
        assert warnings.filters[2:] == users
        warnings.warn_explicit("numpy.ndarray size changed, may indicate binary incompatibility", RuntimeWarning,
                               "x.py", 1, module="scipy._lib")
        with pytest.raises(DeprecationWarning):
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="scipy.sparse")


@pytest.fixture(scope="module")
def onnx_scan_of_a_crop(crops: list[Path], own_weights: Path) -> dict:
    """The ONNX runtime's row for ``crops[0]`` (no Keras settings reach it), scanned once for the module."""
    env = {key: value for key, value in os.environ.items() if key != "KERAS_HOME"}
    onnx = subprocess.run([sys.executable, "-m", "mesocli", "scan", "--weights", str(own_weights), "--detector",
                           "none", str(crops[0])], env=env, capture_output=True, timeout=300)
    assert onnx.returncode == 0, onnx.stderr
    return json.loads(onnx.stdout)


@pytest.mark.parametrize("setting", [{"floatx": "float16"}, {"image_data_format": "channels_first"}],
                         ids=["float16", "channels-first"])
def test_a_users_keras_settings_do_not_change_the_scores(setting: dict[str, str], tmp_path: Path, crops: list[Path],
                                                         own_weights: Path, onnx_scan_of_a_crop: dict) -> None:
    """``~/.keras/keras.json`` written for other work: ``floatx`` float16 changed the TensorFlow runtime's p_fake
    (0.061101 -> 0.061523 for a bundled detector), ``channels_first`` made the weights "a damaged HDF5 file"."""
    args = ("scan", "--weights", own_weights, "--detector", "none", crops[0])
    env = {key: value for key, value in os.environ.items() if key != "KERAS_HOME"}
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "tensorflow", **setting}))
    keras = subprocess.run([sys.executable, "-m", "mesocli", *map(str, args), "--runtime", "tensorflow"],
                           env={**env, "HOME": str(tmp_path)}, capture_output=True, timeout=300)
    assert keras.returncode == 0, keras.stderr.decode()
    assert json.loads(keras.stdout)["p_fake"] == pytest.approx(onnx_scan_of_a_crop["p_fake"], abs=2e-6)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_users_keras_backend_does_not_stop_the_tensorflow_runtime(backend: str, crops: list[Path],
                                                                    own_weights: Path) -> None:
    """``KERAS_BACKEND=jax`` exported for other work: every TensorFlow path (``--runtime tensorflow``, heatmaps,
    exports) was an ImportError traceback, "Keras cannot be imported", exit 1."""
    done = mesocli("scan", "--weights", own_weights, "--detector", "none", "--runtime", "tensorflow", crops[0],
                   env={"KERAS_BACKEND": backend})
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["status"] == "ok"


class _Unmappable(importlib.abc.MetaPathFinder):
    """TensorFlow whose library cannot be mapped, as under ``ulimit -v``."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: object = None) -> None:
        if name == "tensorflow":
            raise ImportError("libtensorflow_cc.so.2: failed to map segment from shared object")


def test_a_tensorflow_that_cannot_be_loaded_is_one_line(crops: list[Path], own_weights: Path,
                                                        monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """It was an ImportError traceback, exit 1."""
    for name in [name for name in sys.modules if name == "tensorflow" or name.startswith("tensorflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Unmappable(), *sys.meta_path])
    result = run_cli("scan", "--weights", own_weights, "--detector", "none", "--runtime", "tensorflow", crops[0])
    assert (result.code, result.error_line()) == (
        2, "TensorFlow cannot be loaded (libtensorflow_cc.so.2: failed to map segment from shared object): too little "
           "memory for it (see ulimit -v), or a damaged installation")


_UNLOADABLE_IN_WORKERS = """
import os, pathlib, sys
if os.environ.get("MESOCLI_TEST_UNLOADABLE") and b"spawn_main" in pathlib.Path("/proc/self/cmdline").read_bytes():
    class _Unloadable:  # a worker process: the shared library of this package cannot be loaded there
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == os.environ["MESOCLI_TEST_UNLOADABLE"]:
                raise ImportError(f"lib{name}.so: cannot open shared object file: No such file or directory")
    sys.meta_path.insert(0, _Unloadable())
"""


def _unloadable_in_workers(tmp_path: Path, package: str) -> dict[str, str]:
    """The environment of a run whose worker processes alone cannot import ``package`` (a ``sitecustomize``)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_UNLOADABLE_IN_WORKERS)
    return {"MESOCLI_TEST_UNLOADABLE": package,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_an_onnx_runtime_the_workers_cannot_load_stops_the_scan_with_its_cause(tmp_path: Path, crops: list[Path],
                                                                               run_cli: RunCli) -> None:
    """ONNX Runtime that loads in the main process but not in its workers: the scan ended on a traceback at the
    first face, exit 1. Now it stops as its workers start, with the cause, one line, exit 2, and the rows of the
    --resume output stay as they were."""
    output = tmp_path / "rows.jsonl"
    assert run_cli("scan", crops[0], "--detector", "none", "-o", output, "--resume", "-q").code == 0
    kept = output.read_bytes()
    result = mesocli("scan", *crops, "--detector", "none", "--workers", "2", "-o", output, "--resume", "-q",
                     env=_unloadable_in_workers(tmp_path, "onnxruntime"))
    assert (result.returncode, os.fsdecode(result.stderr)) == (
        2, "mesocli: error: the workers could not load the model: ImportError: libonnxruntime.so: cannot open "
           "shared object file: No such file or directory\n")
    assert output.read_bytes() == kept


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_tensorflow_the_workers_cannot_load_is_one_line_not_dead_workers(
        tmp_path: Path, crops: list[Path], own_weights: Path, monkeypatch: pytest.MonkeyPatch,
        run_cli: RunCli) -> None:
    """A model that the workers cannot load (here TensorFlow fails there; or the weights file was replaced since
    the main process checked it) looked like workers that died: every input was scanned again, alone, and ended
    as "its worker process died twice (killed; out of memory?)", exit 3, after twice the time. Now the scan
    stops with the cause, one line, exit 2."""
    for name, value in _unloadable_in_workers(tmp_path, "tensorflow").items():
        monkeypatch.setenv(name, value)  # this process has TensorFlow: the workers alone fail
    result = run_cli("scan", *crops[:2], "--weights", own_weights, "--runtime", "tensorflow", "--detector", "none",
                     "--workers", "2", "-q", "--format", "jsonl")
    assert (result.code, result.error_line()) == (
        2, "the workers could not load the model: TensorFlow cannot be loaded (libtensorflow.so: cannot open shared "
           "object file: No such file or directory): too little memory for it (see ulimit -v), or a damaged "
           "installation")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_workers_that_cannot_load_mesocli_stop_scan_and_extract_in_one_line(tmp_path: Path,
                                                                            crops: list[Path]) -> None:
    """Worker processes that die as they start (mesocli cannot be imported there): no input ever ran, yet every
    input was run again alone and ended as "its worker process died twice (exit status 1; out of memory?)",
    exit 3. Then the run stopped, exit 2, under each worker's traceback ("their error is above"). Now it is one
    line, ending with the last line of the workers' own error."""
    env = _unloadable_in_workers(tmp_path, "mesocli")
    wanted = ("mesocli: error: the worker processes could not start (exit status 1, before their first input): "
              "Python or mesocli could not be loaded in them: ImportError: libmesocli.so: cannot open shared object "
              "file: No such file or directory\n")
    for args in (["scan", *crops, "--detector", "none", "--workers", "2", "-q", "--format", "jsonl"],
                 ["extract", *crops, tmp_path / "out", "--detector", "none", "--workers", "2", "-q"]):
        result = mesocli(*args, env=env)
        assert (result.returncode, os.fsdecode(result.stderr), result.stdout) == (2, wanted, b"")


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_debug_shows_the_traceback_of_workers_that_could_not_start(tmp_path: Path, crops: list[Path],
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   run_cli: RunCli) -> None:
    """``--debug``: the one-line error's cause, in its traceback, is what the workers wrote, their traceback; the
    exit status stays 2."""
    for name, value in _unloadable_in_workers(tmp_path, "mesocli").items():
        monkeypatch.setenv(name, value)
    result = run_cli("--debug", "scan", *crops[:2], "--detector", "none", "--workers", "2", "-q", "--format", "jsonl")
    assert result.code == 2, result.err
    written = result.err.split("_WorkerOutput: ", 1)[1].split("\n\nThe above exception was the direct cause")[0]
    assert written.startswith("Traceback (most recent call last):"), written
    assert written.endswith("ImportError: libmesocli.so: cannot open shared object file: No such file or directory")
    assert result.err.splitlines()[-1].startswith("mesocli: error: the worker processes could not start"), result.err


_KILLED_AS_THEY_START = """
import os, pathlib, signal
if os.environ.get("MESOCLI_TEST_KILLED") and b"spawn_main" in pathlib.Path("/proc/self/cmdline").read_bytes():
    if os.environ["MESOCLI_TEST_KILLED"] == "loading":  # killed as it loads the model (its initializer)
        from mesocli import parallel
        parallel._load = lambda model_file: os.kill(os.getpid(), signal.SIGKILL)
    elif os.environ["MESOCLI_TEST_KILLED"] == "starting":  # killed before it reaches its initializer
        os.kill(os.getpid(), signal.SIGKILL)
    else:  # the first worker only is killed as it starts; the others say hello on their standard error
        try:
            os.close(os.open(os.path.join(os.environ["MESOCLI_TEST_KILLED"], "killed"), os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            print("hello from a worker", flush=True, file=__import__("sys").stderr)
        else:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_as_they_start(tmp_path: Path, how: str) -> dict[str, str]:
    """The environment of a run whose worker processes are killed (SIGKILL, as by the out-of-memory killer) as
    they start (``how``: ``starting``, ``loading``; a folder: only the first one)."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_KILLED_AS_THEY_START)
    return {"MESOCLI_TEST_KILLED": how,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))}


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
@pytest.mark.parametrize("when", ["starting", "loading"])
def test_workers_killed_as_they_start_stop_the_scan(when: str, tmp_path: Path, crops: list[Path],
                                                    monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """Workers killed by a signal (the out-of-memory killer) each time they start, before their first input or
    as they load the model: every input was scanned again, alone, and was an error row "its worker process died
    twice (killed by signal 9; out of memory?)", exit 3. Now the workers are started once more (noted), then the
    scan stops, one line, exit 2."""
    for name, value in _killed_as_they_start(tmp_path, when).items():
        monkeypatch.setenv(name, value)
    result = run_cli("scan", *crops, "--detector", "none", "--workers", "2", "-q", "--format", "jsonl")
    assert (result.code, result.out, result.err) == (2, "", (
        "mesocli: the worker processes died as they started (killed by signal 9; out of memory?); starting them "
        "again\nmesocli: error: the worker processes could not start (killed by signal 9, before their first input, "
        "twice): too little memory for them, or another program stops them\n"))


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_extract_workers_killed_as_they_start_stop_the_run(tmp_path: Path, crops: list[Path],
                                                           monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """As for scan: each input was extracted again, alone, and failed ("the worker process died (killed) while it
    was extracted, twice"), exit 3; now the run stops, exit 2."""
    for name, value in _killed_as_they_start(tmp_path, "starting").items():
        monkeypatch.setenv(name, value)
    result = run_cli("extract", *crops, tmp_path / "out", "--detector", "none", "--workers", "2", "-q")
    assert (result.code, result.out, result.err) == (2, "", (
        "mesocli: the worker processes died as they started (killed by signal 9); starting them again\n"
        "mesocli: error: the worker processes could not start (killed by signal 9, before their first input, "
        "twice): too little memory for them, or another program stops them\n"))


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_a_worker_killed_once_as_it_starts_costs_no_input(tmp_path: Path, crops: list[Path]) -> None:
    """A worker killed once as it starts: no input ran in it, yet each input in flight was scanned again, alone,
    as if it had killed its worker. Now the workers are started again with them, noted; what a worker writes on
    its standard error as it starts is still shown."""
    (marks := tmp_path / "marks").mkdir()
    result = mesocli("scan", *crops, "--detector", "none", "--workers", "2", "--format", "jsonl",
                     env=_killed_as_they_start(tmp_path, str(marks)))
    err = os.fsdecode(result.stderr)
    assert result.returncode == 0, err
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["ok"] * len(crops)
    assert "mesocli: the worker processes died as they started (killed by signal 9; out of memory?); starting them " \
           "again\n" in err, err
    assert "each alone" not in err and "hello from a worker\n" in err, err


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
@pytest.mark.parametrize("damaged", ["shape_predictor_68_face_landmarks.dat",
                                     "dlib_face_recognition_resnet_model_v1.dat"])
def test_a_face_model_file_the_workers_cannot_read_stops_the_scan(tmp_path: Path, crops: list[Path],
                                                                  damaged: str) -> None:
    """A damaged face model file (here the landmarks, cut short) under --workers: each input was an error row
    with dlib's many-line message, exit 3. Now the workers find it as they get ready: one line, exit 2. The face
    descriptor model too (found in review: read only at a cut, a scan of inputs without one went on as if
    nothing were wrong)."""
    import face_recognition_models

    package = tmp_path / "site" / "face_recognition_models"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    real = Path(face_recognition_models.__file__).parent / "models"
    landmarks = package / "models" / damaged
    for name in ("mmod_human_face_detector.dat", "shape_predictor_68_face_landmarks.dat",
                 "dlib_face_recognition_resnet_model_v1.dat"):
        if name != damaged:
            (package / "models" / name).symlink_to(real / name)
    with open(real / landmarks.name, "rb") as installed:
        landmarks.write_bytes(installed.read(1000))  # cut short (a new file: the installed one stays as it is)
    path = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
    result = mesocli("scan", *crops[:2], "--workers", "2", "-q", "--format", "jsonl", env={"PYTHONPATH": path})
    err = os.fsdecode(result.stderr)
    assert result.returncode == 2 and len(err.splitlines()) == 1 and not result.stdout, err
    assert err.startswith(f"mesocli: error: the workers could not load the face models: face model file damaged or "
                          f"unreadable: {landmarks} ("), err
    assert err.endswith("): reinstall face_recognition_models\n"), err


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
def test_scan_dash_starts_every_worker_at_its_first_path(crops: list[Path]) -> None:
    """``scan -`` with workers: its first path starts them all (each loads the model), so that the paths that come
    later find them ready; a submit alone starts one worker at a time."""
    child = subprocess.Popen([sys.executable, "-m", "mesocli", "scan", "-", "--detector", "none", "--workers", "2",
                              "-q", "--format", "jsonl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        child.stdin.write(os.fsencode(crops[0]) + b"\n")
        child.stdin.flush()  # and stdin stays open: no other path comes yet
        assert read_until(child.stdout, ROW_END["jsonl"]).endswith(ROW_END["jsonl"])
        workers = [pid for pid in children_of(child.pid) if b"spawn_main" in _cmdline(pid)]
        child.stdin.close()
        assert child.wait(timeout=120) == 0, child.stderr.read()
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        child.stdout.close(), child.stderr.close()
    assert len(workers) == 2


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it ended
        return b""


OLD_FFMPEG = """#!/bin/sh
# ffmpeg 4.2 as the oldest allowed imageio-ffmpeg bundled it (and as older distributions ship it): no -fps_mode
case " $* " in
  *" -version "*) echo "ffmpeg version 4.2.2-static https://johnvansickle.com/ffmpeg/"; exit 0;;
  *" -fps_mode "*) echo "Unrecognized option 'fps_mode'." >&2
                   echo "Error splitting the argument list: Option not found" >&2; exit 1;;
esac
exec {real} "$@"
"""


@pytest.mark.parametrize("kind", ["old", "unrunnable"])
def test_an_ffmpeg_too_old_or_unrunnable_is_one_line_before_any_input(
        kind: str, tmp_path: Path, own_weights: Path) -> None:
    """An ffmpeg older than 5.1 (a system one, IMAGEIO_FFMPEG_EXE, an old imageio-ffmpeg) failed every video
    with "could not decode (Error splitting the argument list: Option not found)", exit 3, as if the files
    were damaged; one that cannot be run failed every input with a PermissionError."""
    from media import ffmpeg, make_face_video

    exe = tmp_path / "ffmpeg"
    exe.write_text(OLD_FFMPEG.format(real=ffmpeg()))
    exe.chmod(0o755 if kind == "old" else 0o644)
    if kind == "unrunnable" and os.geteuid() == 0:  # root may run a file without x bits only if one is set
        exe.write_text("not a program\n")
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=6)
    wanted = ("ffmpeg 4.2.2 is too old: mesocli needs ffmpeg 5.1 or later" if kind == "old"
              else "cannot run ffmpeg")
    for args in (["scan", "--weights", own_weights, video], ["extract", video, tmp_path / "out"]):
        result = mesocli(*args, env={"IMAGEIO_FFMPEG_EXE": str(exe)})
        err = os.fsdecode(result.stderr).strip()
        assert result.returncode == 2 and len(err.splitlines()) == 1, err
        assert err.startswith("mesocli: error: ") and wanted in err, err
        assert not result.stdout and not (tmp_path / "out").exists()


def test_an_ffmpeg_that_cannot_be_run_any_more_stops_the_run(tmp_path: Path, crops: list[Path], own_weights: Path,
                                                             monkeypatch: pytest.MonkeyPatch, run_cli: RunCli) -> None:
    """An ffmpeg that passed the check before the first input and then cannot be started (removed, its mode
    changed, no process left): each video was an error row (``PermissionError``, ``FileNotFoundError``), exit 3,
    as if the files were damaged. Now the run stops, one line, exit 2; the rows before it stay (and a second line
    says so, naming --resume)."""
    exe, video = _ffmpeg_broken_after_its_check(tmp_path, monkeypatch)
    output = tmp_path / "rows.jsonl"
    for args in (["scan", "--weights", own_weights, "--detector", "none", crops[0], video, "-o", output, "--resume"],
                 ["extract", video, tmp_path / "out", "--workers", "1"]):
        exe.chmod(0o755)
        result = run_cli(*args, "-q")
        assert result.code == 2, result.err
        line = (f"mesocli: error: cannot run ffmpeg {exe} (Permission denied): set IMAGEIO_FFMPEG_EXE to a recent "
                "ffmpeg, or reinstall imageio-ffmpeg (0.8 or later bundles one)")
        kept = [f"mesocli: stopped after 1 input: {output} keeps its row; --resume goes on from there"]
        assert not result.out and result.err.splitlines() == [line, *(kept if args[0] == "scan" else [])]
    assert [row["path"] for row in map(json.loads, output.read_text().splitlines())] == [str(crops[0])]


def _ffmpeg_broken_after_its_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """An ffmpeg (``IMAGEIO_FFMPEG_EXE``) that passes scan's and extract's check, then loses its x bit; and a
    short face video for it to fail on."""
    from media import ffmpeg, make_face_video

    from mesocli.probe import require_ffmpeg

    exe = tmp_path / "ffmpeg"
    exe.write_text(f"#!/bin/sh\nexec {ffmpeg()} \"$@\"\n")
    exe.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(exe))

    def checked_then_broken() -> None:
        require_ffmpeg()
        exe.chmod(0o644)  # (root too may run no file without an x bit)

    for module in ("mesocli.scan", "mesocli.crops"):  # (mesocli.scan is also the package's scan function)
        monkeypatch.setattr(importlib.import_module(module), "require_ffmpeg", checked_then_broken)
    video = tmp_path / "clip.mp4"
    make_face_video(video, frames=4)
    return exe, video


def test_an_error_that_stops_a_scan_says_that_the_rows_done_were_not_kept(
        tmp_path: Path, crops: list[Path], own_weights: Path, monkeypatch: pytest.MonkeyPatch,
        run_cli: RunCli) -> None:
    """``scan a.png clip.mp4 -o rows.jsonl`` stopped by an environment error (here ffmpeg made unrunnable
    after its check) wrote nothing (the file is written whole at the end) and, unlike Ctrl-C, said nothing of the
    rows already done. Now the error line is followed by one line saying so and naming ``--resume``; not when no
    row was done, nor when rows went to standard output as they were done (a table: printed as the run stops)."""
    exe, video = _ffmpeg_broken_after_its_check(tmp_path, monkeypatch)
    error = f"mesocli: error: cannot run ffmpeg {exe} (Permission denied)"
    output = tmp_path / "rows.jsonl"
    weights = ["--weights", own_weights, "--detector", "none", "-q"]
    result = run_cli("scan", *weights, crops[0], video, "-o", output)
    assert result.code == 2 and result.out == "" and not output.exists(), result.err
    first, second = result.err.splitlines()
    assert first.startswith(error), result.err
    assert second == (f"mesocli: stopped after 1 input: {output} was not written (it is written whole at the "
                      "end); --resume keeps each row as it is done")
    exe.chmod(0o755)
    # the table (printed at the end) is printed as the error stops the run, of the inputs done (it was not printed,
    # and a second line said so): its last line says that the scan stopped, under the summary of the inputs done
    result = run_cli("scan", *weights, crops[0], video, "--format", "table")
    assert result.code == 2 and result.err.count("\n") == 1 and result.err.startswith(error), result.err
    lines = result.out.splitlines()
    assert str(crops[0]) in lines[2] and str(video) not in result.out
    assert lines[-2].startswith("1 input: ") and lines[-1] == (
        "stopped by an error after 1 of 2 inputs: 1 not scanned; -o FILE.jsonl --resume keeps each row as it is done "
        "and goes on from there")
    for where in (["-o", output], ["--format", "jsonl"]):  # no row done; rows out as they were done
        exe.chmod(0o755)
        inputs = [video, crops[0]] if where[0] == "-o" else [crops[0], video]
        result = run_cli("scan", *weights, *inputs, *where)
        assert result.code == 2 and result.err.count("\n") == 1 and result.err.startswith(error), result.err
    assert [row["path"] for row in result.jsonl()] == [str(crops[0])]


@pytest.mark.parametrize(("listing", "files", "workers"), [
    # cgroup v2, a Kubernetes pod limited to 1.5 cores (its container's own group unlimited): 2 workers
    ("0::/kubepods/pod1/ctr\n", {"kubepods/pod1/cpu.max": "150000 100000", "kubepods/pod1/ctr/cpu.max": "max 100000"},
     2),
    # cgroup v2 inside the container's own namespace (docker run --cpus 3): its group is the mount's root
    ("0::/\n", {"cpu.max": "300000 100000"}, 3),
    # cgroup v1 (docker run --cpus 0.5 on an older host): at least 1
    ("4:cpu,cpuacct:/docker/abc\n1:memory:/docker/abc\n",
     {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000", "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}, 1),
    # no quota (v1's -1, v2's max): every core of the affinity
    ("4:cpu:/\n0::/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000", "cpu.max": "max 100000"},
     64),
])
def test_default_workers_keep_to_a_containers_cpu_quota(listing: str, files: dict[str, str], workers: int,
                                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container limited by a CPU quota (``docker run --cpus 2``, a Kubernetes CPU limit) keeps every core of the
    host in its affinity: scan and extract started one worker per core of the host (64 workers, about 450 MB each,
    on a pod allowed 1.5 cores) where the quota allows 2. The default is now no more than the quota, rounded up."""
    from mesocli import parallel
    from mesocli import workers as pool

    extract = importlib.import_module("mesocli.extract")  # the module (mesocli.extract is also the API's function)
    (tmp_path / "self").write_text(listing)
    for name, text in files.items():
        (tmp_path / "fs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fs" / name).write_text(text + "\n")
    monkeypatch.setattr(pool, "CGROUPS", str(tmp_path / "fs"))
    monkeypatch.setattr(pool, "OWN_CGROUPS", str(tmp_path / "self"))
    monkeypatch.delenv("MESOCLI_WORKERS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)  # a big host's cores
    assert parallel.default_workers() == extract.default_workers() == workers


def test_the_networks_threads_keep_to_a_containers_cpu_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ONNX Runtime runs a thread per physical core of the host by default, also in a container whose CPU quota
    allows 1.5 cores (``scan --workers 1`` and the Python API score in the calling process): 64 threads taking
    turns on 2 cores' worth of time. The session now runs no more threads than the quota, rounded up."""
    import dataclasses

    from mesocli import api
    from mesocli import workers as pool

    (tmp_path / "self").write_text("0::/pod\n")
    (tmp_path / "fs" / "pod").mkdir(parents=True)
    (tmp_path / "fs" / "pod" / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(pool, "CGROUPS", str(tmp_path / "fs"))
    monkeypatch.setattr(pool, "OWN_CGROUPS", str(tmp_path / "self"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)  # a big host's cores
    model = dataclasses.replace(api.load_model("df"), session=None)  # a session of its own, opened here
    assert model.default_session().get_session_options().intra_op_num_threads == 2


def test_the_networks_threads_keep_to_the_affinity_under_a_cpu_quota(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a CPU quota of 1.5 cores, a process pinned to one core (``taskset -c 0``, ``docker --cpuset-cpus 0``)
    opened its ONNX Runtime session with 2 threads, the quota's, more than the cores it may run on: the threads took
    turns on the one core. The session runs no more threads than the cores the process may use, quota and
    affinity alike (the default workers' count)."""
    import dataclasses

    from mesocli import api
    from mesocli import workers as pool

    (tmp_path / "self").write_text("0::/pod\n")
    (tmp_path / "fs" / "pod").mkdir(parents=True)
    (tmp_path / "fs" / "pod" / "cpu.max").write_text("150000 100000\n")
    monkeypatch.setattr(pool, "CGROUPS", str(tmp_path / "fs"))
    monkeypatch.setattr(pool, "OWN_CGROUPS", str(tmp_path / "self"))
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    model = dataclasses.replace(api.load_model("df"), session=None)  # a session of its own, opened here
    assert model.default_session().get_session_options().intra_op_num_threads == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2, reason="needs 2 cores")
def test_the_networks_threads_keep_to_a_narrowed_affinity_without_a_quota() -> None:
    """Under ``taskset -c 0`` or ``docker --cpuset-cpus 0`` (an affinity, no quota), ONNX Runtime's default pool (a
    thread per physical core of the host, each pinned by ONNX Runtime itself) overrode the affinity: scoring ran on
    every core the user had kept it off (measured: 3.2–4.0 ms of wall and 6.4–8.0 ms of CPU a face with one core
    allowed). The session now runs one unpinned thread per core the process may use."""
    from conftest import fresh_python

    out, _ = fresh_python(
        "import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "from mesocli import api, workers\nworkers.CGROUPS = '/nonexistent'\n"  # no quota: the affinity alone
        "print(api.load_model('df').default_session().get_session_options().intra_op_num_threads)\n")
    assert out.split() == ["1"], out  # the old code: 0, ONNX Runtime's default


def test_tensorflows_threads_and_the_decoding_threads_keep_to_a_containers_cpu_quota(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a CPU quota, TensorFlow (``train``, ``--runtime tensorflow``, ``explain``, ``export``) ran its two thread
    pools at a thread per core it may run on (its affinity: every core of the host under a quota), and ``eval`` and
    ``train`` decoded images with a thread per core of the host. Both now run the cores the quota allows, rounded up:
    1 for a quota of one core, 2 for 1.5 cores on a host of 64."""
    from concurrent import futures

    from conftest import fresh_python

    from mesocli import workers as pool
    from mesocli.datasets import decode_dataset, find_dataset

    def quota(name: str, cpu_max: str) -> tuple[str, str]:
        (tmp_path / name / "fs" / "pod").mkdir(parents=True)
        (tmp_path / name / "fs" / "pod" / "cpu.max").write_text(f"{cpu_max}\n")
        (tmp_path / name / "self").write_text("0::/pod\n")
        return str(tmp_path / name / "fs"), str(tmp_path / name / "self")

    out, _ = fresh_python(
        f"from mesocli import workers\nworkers.CGROUPS, workers.OWN_CGROUPS = {quota('one', '100000 100000')!r}\n"
        "from mesocli._tf import import_tensorflow\ntf = import_tensorflow()\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), "
        "tf.config.threading.get_inter_op_parallelism_threads())\n")
    assert out.split() == ["1", "1"], out  # the old code left TensorFlow's default: 0, a thread per core it may use

    cgroups, own = quota("one_and_a_half", "150000 100000")
    monkeypatch.setattr(pool, "CGROUPS", cgroups)
    monkeypatch.setattr(pool, "OWN_CGROUPS", own)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    sizes: list[int | None] = []
    executor = futures.ThreadPoolExecutor

    def counted(max_workers: int | None = None, *args: object, **kwargs: object) -> futures.ThreadPoolExecutor:
        sizes.append(max_workers)
        return executor(max_workers, *args, **kwargs)

    monkeypatch.setattr(futures, "ThreadPoolExecutor", counted)
    for cls in ("df", "real"):
        (tmp_path / "data" / "train" / cls).mkdir(parents=True)
        face_crop().save(tmp_path / "data" / "train" / cls / "a.jpg")
    decoded = decode_dataset(find_dataset(tmp_path / "data", "train"), progress=False)
    assert decoded.ok.all() and sizes == [2]  # was 64


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_an_error_keeps_its_exit_status_when_standard_error_cannot_be_written() -> None:
    """``2>>run.log`` on a full disk: the error line could not be written, and that failure ended the run in
    Python's status 1 (``--fail-on-fake``'s fake) instead of the error's own, a usage error's 2, an unforeseen
    error's 70. The line is lost (there is nowhere to say it), the status is not."""
    crash = ("import mesocli.writers\n"
             "def broken(*args, **kwargs):\n"
             "    raise MemoryError('Unable to allocate 1.2 GiB for an array')\n"
             "mesocli.writers.models_view = broken\n"
             "from mesocli.cli import main\n"
             "import sys\n"
             "sys.argv = ['mesocli', 'models']\n"
             "main()\n")
    with open("/dev/full", "w") as full:
        usage = mesocli("scan", "--bogus", stdout=subprocess.PIPE, stderr=full)
        unforeseen = subprocess.run([sys.executable, "-c", crash], stdout=subprocess.PIPE, stderr=full, timeout=300)
    assert (usage.returncode, usage.stdout) == (2, b"")
    assert (unforeseen.returncode, unforeseen.stdout) == (70, b"")
