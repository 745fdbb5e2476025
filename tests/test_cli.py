"""The command-line shell: instant help, version, model listing, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import RunCli, cli_code, fresh_python
from media import MediaKit

from mesocli import __version__
from mesocli import weights as weights_module


def test_help_does_not_import_tensorflow_or_dlib() -> None:
    out, modules = fresh_python(cli_code("--help"))
    assert "scan" in out and "extract" in out and "train" in out and "exit 0" in out
    assert not modules & {"tensorflow", "keras", "dlib", "h5py", "sklearn", "matplotlib", "ray", "numpy", "PIL",
                          "onnxruntime", "scipy"}  # --help stays instant: no scientific stack at all


@pytest.mark.parametrize(
    ("args", "start", "help_command"),
    [
        (["scan", "--frame", "5", "x.mp4"], "No such option: --frame", "mesocli scan --help"),
        (["eval", "--limit", "many"], "Invalid value for '--limit': 'many' is not a valid int.", "mesocli eval --help"),
        (["explain", "face.jpg"], "Missing option '--out'.", "mesocli explain --help"),
        (["--frames", "5"], "No such option: --frames", "mesocli --help"),
        (["sacn", "x.mp4"], "No such command 'sacn'.", "mesocli --help"),
    ],
)
def test_a_parser_error_points_to_the_help_that_lists_the_options(run_cli: RunCli, args: list[str], start: str,
                                                                   help_command: str) -> None:
    """A bad option of a command pointed to ``mesocli --help``, which lists the commands, not that command's
    options; it points to ``mesocli COMMAND --help``."""
    result = run_cli(*args)
    assert (result.code, result.out) == (2, "")
    assert result.error_line().startswith(start) and result.error_line().endswith(f" (see '{help_command}')")


def test_version(run_cli: RunCli) -> None:
    """The version, and the digest of the code that runs: every unreleased change is 0.1.0."""
    from mesocli.provenance import code_digest

    assert re.fullmatch(r"[0-9a-f]{12}", code_digest())
    assert run_cli("--version") == (0, f"mesocli {__version__} (code {code_digest()})\n", "")


def test_help_does_not_hash_the_code() -> None:
    """The code digest is computed when a record or ``--version`` asks for it, never for ``--help``."""
    out, modules = fresh_python(cli_code("--help"))
    assert "exit 0" in out and "mesocli.provenance" not in modules


def test_the_package_and_the_module_give_one_version() -> None:
    """``pyproject.toml``'s version (the wheel's, the installed distribution's) is the one ``mesocli --version``,
    the JSON rows, the model cards and the report give (``mesocli.__version__``): two strings to bump together."""
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["version"] == __version__


def test_models_lists_bundled_cards_as_json(run_cli: RunCli) -> None:
    result = run_cli("models", "--format", "json")
    assert result.code == 0
    cards = json.loads(result.out)
    assert cards and [card["name"] for card in cards] == [card.name for card in weights_module.bundled_cards()]
    for card in cards:
        assert {"arch", "manipulation", "weights_file", "sha256", "metrics"} <= set(card)


def test_models_json_shows_each_card_as_its_file_holds_it(run_cli: RunCli) -> None:
    """A bundled card's file has no ``provenance`` key; the listing showed ``"provenance": null`` for each."""
    folder = weights_module.bundled_dir()
    for card in json.loads(run_cli("models", "--format", "json").out):
        stored = json.loads((folder / card["weights_file"]).with_suffix("").with_suffix(".json").read_text())
        assert card == {**stored, "path": card["path"]}


def test_models_json_gives_each_bundled_files_path(run_cli: RunCli) -> None:
    """A researcher fine-tuning a bundled detector (``train --init-weights FILE``) needs its file: an installed
    package keeps it in site-packages, and the cards gave only its name."""
    import hashlib

    for card in json.loads(run_cli("models", "--format", "json").out):
        path = Path(card["path"])
        assert path.is_absolute() and path.name == card["weights_file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"]


def test_models_table_names_missing_choices(run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = run_cli("models")
    assert result.code == 0 and "No bundled weights" not in result.out  # every network/detector pair ships
    assert "…" not in result.out  # an 80-column terminal shows every figure and name whole
    for card in weights_module.bundled_cards():
        assert card.sha256[:6] in result.out and f"{card.metrics['validation']['accuracy']:.3f}" in result.out
        row = next(line for line in result.out.splitlines() if card.sha256[:6] in line)
        assert row.split()[-2] == (str(card.epochs) if card.epochs else "soup")  # the best epoch, or a soup's
    shutil.copy(weights_module.bundled_dir() / "meso4_df.json", tmp_path)  # a bundle of one detector
    monkeypatch.setattr(weights_module, "bundled_dir", lambda: tmp_path)
    result = run_cli("models")
    assert result.code == 0
    missing = result.out.split("No bundled weights for:", 1)[1]
    assert "meso4/f2f" in missing and "mesoinception4/df" in missing and "meso4/df" not in missing
    assert "--weights" in missing


def test_models_table_names_the_weights_that_resize_crops_nearest(run_cli: RunCli,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Cards that resize a crop not 256×256 nearest (trained with ``train --resize nearest``: the df detectors) are
    named under the table, as eval and ``scan --detector none`` feed them; it showed no resize."""
    nearest = [card.name for card in weights_module.bundled_cards() if card.resize == "nearest"]
    assert nearest  # the df detectors
    for columns in ("80", "60"):  # one table, or two
        monkeypatch.setenv("COLUMNS", columns)
        result = run_cli("models")
        assert result.code == 0
        assert (f"resize of crops not 256×256 (eval, scan --detector none): nearest for {', '.join(nearest)}; "
                "bilinear for the others") in " ".join(result.out.split())


def test_models_table_in_a_narrow_terminal_loses_no_column(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")  # too narrow for one table: rich used to crop sha256 and the best epoch
    result = run_cli("models")
    assert result.code == 0 and "…" not in result.out
    assert max(len(line) for line in result.out.splitlines()) <= 60
    assert "FaceForensics++ test figures" in result.out  # the FF++ figures in a table of their own
    for card in weights_module.bundled_cards():
        assert card.sha256[:6] in result.out
        assert f"{card.metrics['ffpp_test']['methods']['FaceSwap']['auc']:.3f}" in result.out


def test_help_shows_no_value_placeholder_for_flags(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    for command in ("scan", "train", "extract"):
        result = run_cli(command, "--help")
        assert result.code == 0 and "--quiet" in result.out
        assert "<bool>" not in result.out  # flags take no value (typer 0.29 showed "--quiet <bool>")


def test_explain_help_offers_only_what_explain_takes(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """explain draws maps with one network: its help offered --model any, which it refuses. (It refused exported
    .onnx files too, and said so; it now explains them.)"""
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli("explain", "--help")
    assert result.code == 0
    model_line = next(line for line in result.out.splitlines() if "--model" in line)
    assert "<df|f2f|fs>" in model_line and "any" not in model_line
    weights_line = next(line for line in result.out.splitlines() if "--weights" in line)
    assert "an .onnx written by mesocli export" in weights_line
    assert any("--runtime" in line for line in result.out.splitlines())


def test_train_help_names_every_key_of_a_mixing_file(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    from mesocli.sources import Source

    monkeypatch.setenv("COLUMNS", "250")
    mix_line = next(line for line in run_cli("train", "--help").out.splitlines() if "--mix" in line)
    keys = list(Source.__dataclass_fields__)
    assert keys and all(key in mix_line for key in keys), (keys, mix_line)


def test_eval_help_says_the_plot_holds_the_reliability_diagram(run_cli: RunCli,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """eval --plot draws the calibration's reliability diagram beside the ROC curve; its help named the curve only."""
    monkeypatch.setenv("COLUMNS", "250")
    plot_line = next(line for line in run_cli("eval", "--help").out.splitlines() if "--plot" in line)
    assert "ROC curve" in plot_line and "reliability diagram" in plot_line


def test_the_cli_imports_no_private_typer_module_and_no_click() -> None:
    """``cli_options`` imported ``typer._click.types`` (typer's private copy of click, whose ``types`` typer 0.29
    dropped), else ``click``, which typer 0.26 and later do not install: a typer outside the pin broke every
    command at import. Only typer's public API (and no click) is imported now."""
    import ast

    import mesocli

    for path in sorted(Path(mesocli.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith("typer._") and name.split(".")[0] != "click", (path.name, name)


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "mesocli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith(f"mesocli {__version__} (code ")


def test_help_shows_the_choices_of_every_option_that_has_them(run_cli: RunCli,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan --help`` showed ``--detector <str>``, ``--aggregate <str>``, ``--format <str>``, ``--engine <str>``
    beside ``--model <df|f2f|fs|any>``: the choices are the value's type, as for --model."""
    monkeypatch.setenv("COLUMNS", "250")
    expected = {"scan": {"--detector": "<hog|cnn|none>", "--aggregate": "<mean|vote|confident>",
                         "--format": "<table|json|jsonl|csv>", "--engine": "<local|ray>"},
                "eval": {"--format": "<table|json>"}, "models": {"--format": "<table|json>"},
                "extract": {"--detector": "<hog|cnn|none>"}}
    for command, options in expected.items():
        lines = run_cli(command, "--help").out.splitlines()
        for option, metavar in options.items():
            line = next(line for line in lines if re.match(rf"│\s+(\*\s+)?{option}\s", line))
            assert metavar in line and "<str>" not in line, (command, line)


def test_help_shows_what_kind_of_value_each_option_takes(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """``export --out <str>``, ``scan --address <str>``, ``train --select <str>`` (whose choices are fixed), ...:
    a bare type where the help could say what is given (a file, a folder, HOST:PORT, the choices). No option of
    any command shows ``<str>`` now, and files and folders are named as such."""
    monkeypatch.setenv("COLUMNS", "250")
    expected = {"scan": {"--address": "HOST:PORT", "--output": "FILE", "--weights": "FILE"},
                "export": {"--out": "FILE|DIR"},
                "eval": {"--data": "ROOT", "--split": "NAME", "--weights": "FILE"},
                "explain": {"--out": "DIR", "--weights": "FILE"},
                "extract": {"--label": "<df|real>[/METHOD]", "--split": "NAME"},
                "train": {"--select": "<accuracy|auc|loss>", "--split": "NAME", "--out": "DIR", "--mix": "FILE",
                          "--init-weights": "FILE", "--resume": "DIR"}}
    # arguments: (name, what it takes); ``scan INPUTS... <str>`` said neither that a folder or - will do
    arguments = {"scan": [("INPUT...", "PATH|-")], "extract": [("INPUT...", "PATH"), ("OUT_DIR", "DIR")],
                 "explain": [("FACE...", "FILE|DIR")], "export": [("WEIGHTS...", "FILE")],
                 "train": [("DATA...", "ROOT")]}
    for command in ("scan", "eval", "explain", "export", "extract", "train", "models"):
        lines = run_cli(command, "--help").out.splitlines()
        options = [line for line in lines if re.match(r"│\s+(\*\s+)?-", line)]
        assert options and not [line for line in options if "<str>" in line], (command, options)
        for option, metavar in expected.get(command, {}).items():
            line = next(line for line in options if re.match(rf"│\s+(\*\s+)?{option}\s", line))
            assert re.search(rf"\s{re.escape(metavar)}\s", line) and "<path>" not in line, (command, line)
        start = next((i for i, line in enumerate(lines) if "─ Arguments ─" in line), len(lines))
        panel = lines[start : next((i for i, line in enumerate(lines) if i > start and line.startswith("╰")), start)]
        shown = [line for line in panel if re.match(r"│\s+(\*\s+)?[A-Z]", line)]
        assert len(shown) == len(arguments.get(command, [])), (command, shown)
        for line, (name, kind) in zip(shown, arguments.get(command, []), strict=True):
            assert re.match(rf"│\s+(\*\s+)?{re.escape(name)}\s+{re.escape(kind)}\s", line), (command, line)
        usage = next(line for line in lines if "Usage:" in line)
        assert all(name in usage for name, _ in arguments.get(command, [])), (command, usage)


def test_scan_and_explain_help_say_what_p_fake_and_target_are(run_cli: RunCli,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan --help`` said "status ok (with p_fake and a verdict)" without saying what p_fake is; ``explain --help``
    listed a ``target`` key without saying what it holds."""
    monkeypatch.setenv("COLUMNS", "250")
    scan = " ".join(run_cli("scan", "--help").out.split())
    assert "p_fake is the network's score that a face is forged, from 0 (real) to 1 (forged)" in scan
    assert "not a calibrated probability" in scan
    explain = " ".join(run_cli("explain", "--help").out.split())
    assert "target: the class the map shows evidence for" in explain


def test_eval_and_models_help_say_what_they_write_and_show(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """``eval --help`` ended --plot and --scores with "(roc.png)" and "(scores.csv)", read as fixed file names;
    ``models --help`` said "(validation split)" of a table that also shows FaceForensics++ test AUCs."""
    monkeypatch.setenv("COLUMNS", "250")
    lines = run_cli("eval", "--help").out.splitlines()
    plot = next(line for line in lines if re.match(r"│\s+--plot\s", line))
    assert "FILE" in plot and "e.g. roc.png" in plot and "its suffix picks the format" in plot
    scores = next(line for line in lines if re.match(r"│\s+--scores\s", line))
    assert "FILE" in scores and "e.g. scores.csv" in scores and "path, label, video, p_fake, verdict" in scores
    models = " ".join(run_cli("models", "--help").out.split())
    assert "MesoNet validation split" in models and "FaceForensics++ test" in models
    listing = run_cli("--help").out.splitlines()  # one sentence, wrapped only where the terminal ends
    assert any("models" in line and "FaceForensics++ test)" in line for line in listing), listing


def test_command_help_paragraphs_are_not_broken_inside(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """Typer's rich help keeps a docstring's line breaks: ``explain --help`` broke its first paragraph after
    "target: the class the map", in the middle of a sentence, whatever the terminal's width."""
    from mesocli import cli

    monkeypatch.setenv("COLUMNS", "100")
    for info in cli.app.registered_commands:
        name = info.name or info.callback.__name__
        text = run_cli(name, "--help").out.split("╭", 1)[0].splitlines()
        lines = [line.rstrip() for line in text[text.index(next(t for t in text if "Usage:" in t)) + 1:]]
        for line, after in zip(lines, lines[1:], strict=False):
            if line and after:  # a line of a paragraph ends where the next word would not have fitted
                assert len(line) + 1 + len(after.split()[0]) > 100 - 2, (name, line)


def test_help_is_shown_whatever_mesocli_max_image_pixels_holds(run_cli: RunCli,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad $MESOCLI_MAX_IMAGE_PIXELS stops a command that reads media before any input (exit 2), but asking that
    command for its help was stopped too: `mesocli scan --help` gave the variable's error, not the help."""
    monkeypatch.setenv("MESOCLI_MAX_IMAGE_PIXELS", "lots")
    for command in ("train", "eval", "extract", "explain", "scan"):
        result = run_cli(command, "--help")
        assert (result.code, result.err) == (0, ""), (command, result.err)
        assert "Usage: mesocli " + command in " ".join(result.out.split())
    refused = run_cli("scan", "--detector", "none", "missing.png")
    assert (refused.code, refused.out) == (2, "")
    assert refused.err.startswith("mesocli: error: MESOCLI_MAX_IMAGE_PIXELS='lots': not a number of pixels")


def test_help_fits_an_80_column_terminal_whole(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns the negative form of a flag (``--no-class-weights``) took a column of its own, which left
    ``train --help`` 17 characters of help text a line and cut names short: ``--no-class-wei…``,
    ``(docs/training.…``, scan's ``<mean|vote|confide…``. The help now names the negative form in its text."""
    monkeypatch.setenv("COLUMNS", "80")
    for command in ("scan", "eval", "train", "extract", "explain", "export", "models"):
        result = run_cli(command, "--help")
        lines = result.out.splitlines()
        assert result.code == 0 and all(len(line) <= 80 for line in lines), command
        assert "…" not in result.out, (command, [line for line in lines if "…" in line])
    text = " ".join(line.strip("│ ") for line in run_cli("train", "--help").out.splitlines())
    for negative in ("--no-augment", "--no-class-weights", "--no-jit"):
        assert negative in text
    help_widths = [len(line.split("  ")[-1].strip("│ ")) for line in run_cli("train", "--help").out.splitlines()
                   if re.match(r"│\s+--", line)]
    assert max(help_widths) >= 24, help_widths  # 17 characters a line before


def test_an_unforeseen_error_has_an_exit_status_of_its_own(run_cli: RunCli, kit: MediaKit,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception mesocli did not foresee (a bug, a ``MemoryError`` in the network) ended in Python's traceback
    and exit status 1, which ``scan --fail-on-fake`` gives for a fake: a pipeline routed a crash as a fake found.
    It is 70 now, with the traceback and one last line naming it; the rows done stay on standard output."""
    from mesocli import runtime

    scored = runtime.OnnxPredictor.p_real
    batches: list[int] = []

    def short_of_memory(self, faces):
        batches.append(len(faces))
        if len(batches) == 2:
            raise MemoryError("Unable to allocate 1.2 GiB for an array")
        return scored(self, faces)

    monkeypatch.setattr(runtime.OnnxPredictor, "p_real", short_of_memory)
    result = run_cli("scan", kit.face_jpeg, kit.face_jpeg.with_name("missing.jpg"), kit.face_video, "--workers", "1",
                     "--batch-size", "1", "--format", "json", "--fail-on-fake", "-q")
    assert result.code == 70, result.err
    assert "Traceback (most recent call last):" in result.err
    assert result.err.splitlines()[-1] == (
        "mesocli: error: unexpected MemoryError: Unable to allocate 1.2 GiB for an array (exit status 70: not a "
        "verdict or an input's error; the traceback above is for a bug report)")
    rows = json.loads(result.out)  # still one JSON document, of the rows done before the error
    assert [row["status"] for row in rows] == ["ok", "error"]


def test_scan_help_lists_the_status_of_an_unforeseen_error(run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scan --help`` lists every exit status a script routes on, 70 (an error mesocli did not foresee) too."""
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli("scan", "--help")
    assert result.code == 0
    assert "70 an error mesocli did not foresee" in " ".join(result.out.replace("│", " ").split()), result.out


@pytest.mark.parametrize(("args", "status", "last"), [
    (["scan", "--batch-size", "0", "x.mp4"], 2, "mesocli: error: --batch-size must be at least 1"),
    (["scan", "--bogus", "x.mp4"], 2, "mesocli: error: No such option: --bogus (see 'mesocli scan --help')"),
    (["eval", "--data", "{tmp}/none"], 2, "mesocli: error: dataset not found: {tmp}/none is not a folder"),
])
@pytest.mark.parametrize("debug", [False, True])
def test_debug_shows_the_traceback_and_keeps_the_exit_status(args: list[str], status: int, last: str, debug: bool,
                                                             tmp_path: Path) -> None:
    """``mesocli --debug`` raised the error as it was: its traceback, then Python's exit status 1, which ``scan
    --fail-on-fake`` gives for a fake. The traceback is still shown, then the error's one line, and the run exits
    with the status it has without ``--debug``."""
    args = [arg.format(tmp=tmp_path) for arg in args]
    done = subprocess.run([sys.executable, "-m", "mesocli", *(["--debug"] if debug else []), *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == status, done.stderr
    assert ("Traceback (most recent call last):" in done.stderr) is debug, done.stderr
    assert done.stderr.splitlines()[-1] == last.format(tmp=tmp_path), done.stderr


@pytest.mark.parametrize("debug", [False, True])
def test_debug_keeps_the_exit_status_of_an_unforeseen_error(debug: bool) -> None:
    """An error mesocli did not foresee exits 70, also with ``--debug`` (Python's 1 there): one traceback, then the
    line that names it."""
    code = ("import sys\nfrom mesocli import writers\n"
            "def broken(*args, **kwargs):\n    raise RuntimeError('a bug')\n"
            "writers.models_view = broken\nfrom mesocli.cli import entry\n"
            f"sys.argv = ['mesocli', *{['--debug'] if debug else []!r}, 'models']\nentry()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 70, done.stderr
    assert done.stderr.count("Traceback (most recent call last):") == 1, done.stderr
    assert done.stderr.splitlines()[-1].startswith("mesocli: error: unexpected RuntimeError: a bug (exit status 70"), (
        done.stderr)


@pytest.mark.parametrize("columns", [40, 60, 80])
def test_models_on_a_narrow_terminal_fits_it_and_loses_no_figure(columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """``COLUMNS=40 mesocli models`` on a terminal printed its tables 59 and 44 columns wide: the terminal wrapped
    each line, which then read as no table. Where a table does not fit it is now a list, a line a field (as scan's),
    and every figure of every card is there whole."""
    import io

    from mesocli.cli_base import show
    from mesocli.writers import console, models_view

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys, "stdout", Terminal())
    show(models_view("table", console().width))
    text = re.sub(r"\x1b\[[0-9;]*m", "", sys.stdout.getvalue())
    assert max(len(line) for line in text.splitlines()) <= columns, text
    assert "…" not in text
    joined = "".join(text.split())
    for card in weights_module.bundled_cards():
        validation, ffpp = card.metrics["validation"], card.metrics["ffpp_test"]["methods"]
        for figure in (validation["accuracy"], validation["auc"], validation["video"]["accuracy_mean"],
                       *(ffpp[method]["auc"] for method in ("Deepfakes", "Face2Face", "FaceSwap"))):
            assert f"{figure:.3f}" in joined, (card.name, figure, text)
        assert card.sha256[:6] in joined and f"{card.arch}" in joined
    if columns == 40:  # too narrow even for the validation and the FF++ figures apart: one list, each card once
        assert sum(line.split()[:1] == ["arch"] for line in text.splitlines()) == len(weights_module.bundled_cards())


@pytest.mark.parametrize("command", ["scan", "extract"])
def test_workers_help_says_the_default_keeps_to_the_cpu_quota(command: str, run_cli: RunCli,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """``--workers`` defaults to the cores this process may use, no more than its container's CPU quota; its help
    said "all cores", which a user limited by ``docker --cpus 2`` on a 64-core host read as 64 workers."""
    monkeypatch.setenv("COLUMNS", "200")
    result = run_cli(command, "--help")
    text = " ".join(result.out.replace("│", " ").split())
    assert result.code == 0
    assert "all cores" not in text, text
    assert "no more than its CPU quota" in text, text


def test_an_unforeseen_error_says_what_became_of_the_rows_done(run_cli: RunCli, kit: MediaKit, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """An error mesocli did not foresee (exit 70) after some inputs were done said nothing of their rows, as every
    other stop does: ``-o rows.json`` (written whole at the end) dropped them silently, and ``-o rows.jsonl
    --resume`` did not say that the file keeps them and that ``--resume`` goes on. The lines now follow the error's."""
    from mesocli import runtime

    scored = runtime.OnnxPredictor.p_real
    batches: list[int] = []

    def short_of_memory(self, faces):
        batches.append(len(faces))
        if len(batches) % 2 == 0:  # the video's first face, in each run
            raise MemoryError("Unable to allocate 1.2 GiB for an array")
        return scored(self, faces)

    monkeypatch.setattr(runtime.OnnxPredictor, "p_real", short_of_memory)
    inputs = [kit.face_jpeg, kit.face_jpeg.with_name("missing.jpg"), kit.face_video]
    whole, appended = tmp_path / "rows.json", tmp_path / "rows.jsonl"
    result = run_cli("scan", *inputs, "--workers", "1", "--batch-size", "1", "-o", whole, "-q")
    assert result.code == 70, result.err
    assert result.err.splitlines()[-2].startswith("mesocli: error: unexpected MemoryError"), result.err
    assert result.err.splitlines()[-1] == (
        f"mesocli: stopped after 2 inputs: {whole} was not written (it is written whole at the end); "
        "-o FILE.jsonl --resume keeps each row as it is done")
    assert not whole.exists() and list(tmp_path.iterdir()) == []
    result = run_cli("scan", *inputs, "--workers", "1", "--batch-size", "1", "-o", appended, "--resume", "-q")
    assert result.code == 70, result.err
    assert result.err.splitlines()[-1] == (
        f"mesocli: stopped after 2 inputs: {appended} keeps their rows; --resume goes on from there")
    assert [json.loads(line)["status"] for line in appended.read_text().splitlines()] == ["ok", "error"]
