"""README.md and docs/*.md against the code: every option a documented command line gives exists for its
command, and every link between the docs reaches a file and a heading that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from mesocli.cli import app

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "examples" / "README.md"]


def _options(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)
            if name.startswith("-")} | {"--help"}


ROOT = typer.main.get_command(app)
COMMANDS = {name: _options(command) for name, command in ROOT.commands.items()}
ROOT_OPTIONS = _options(ROOT)


FENCED = r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```"
"""A fenced code block (its lines), at the margin or indented under a list item."""


def _code(text: str) -> list[str]:
    """Each line of the fenced blocks (a line ending in ``\\`` joined with the next) and each inline code span."""
    lines = []
    for block in re.findall(FENCED, text, re.S | re.M):  # also one indented under a list item
        lines += block.replace("\\\n", " ").splitlines()
    fenceless = re.sub(FENCED, "", text, flags=re.S | re.M)
    return lines + re.findall(r"(?<!`)`([^`\n]+)`(?!`)", fenceless)


def _arguments(text: str) -> list[str]:
    """The words of a command line that may be its options: not another program's inside ``$(…)``
    (``$(find videos -name '*.mp4')``), none after ``--`` (the end of the options: file names follow)."""
    words = re.sub(r"\$\([^()]*\)", " ", text).split()
    return words[: words.index("--")] if "--" in words else words


def _command_lines(code: str) -> list[tuple[str, list[str]]]:
    """``(command, words after it)`` of each mesocli command in a code line: after ``mesocli`` (or a path ending
    in it), or a span that starts with a command's name (```scan --report FILE```); up to a pipe or a comment."""
    found = []
    for match in re.finditer(r"(?:^|[\s/(;&|])mesocli((?:\s+[^|;&#]*)?)", code):
        words = _arguments(match.group(1))
        while words and words[0] in ROOT_OPTIONS:
            words.pop(0)
        if words and words[0] in COMMANDS:
            found.append((words[0], words[1:]))
    words = _arguments(re.split(r"[|;#]", code, maxsplit=1)[0])
    if len(words) > 1 and words[0] in COMMANDS and words[1].startswith("-"):
        found.append((words[0], words[1:]))
    return found


def _documented_command_lines() -> list[tuple[str, str, list[str]]]:
    return [(doc.relative_to(REPO).as_posix(), command, words)
            for doc in DOCS for code in _code(doc.read_text(encoding="utf-8"))
            for command, words in _command_lines(code)]


def test_the_docs_show_many_command_lines() -> None:
    """The parser below finds the docs' commands (so that the next test checks something)."""
    seen = {command for _, command, _ in _documented_command_lines()}
    assert seen == set(COMMANDS), set(COMMANDS) - seen


def _unknown_options(command: str, words: list[str]) -> list[str]:
    """``COMMAND --option`` of each word of a command line that is an option the command does not have."""
    options = (re.match(r"--?[A-Za-z0-9][\w-]*", word) for word in words if not re.fullmatch(r"-[\d.e+-]+", word))
    return [f"{command} {option.group(0)}" for option in options
            if option and option.group(0) not in COMMANDS[command]]


def test_every_option_of_a_documented_command_line_exists() -> None:
    wrong = [f"{doc}: mesocli {option}" for doc, command, words in _documented_command_lines()
             for option in _unknown_options(command, words)]
    assert not wrong, "options the docs give that the command does not have:\n" + "\n".join(sorted(set(wrong)))


def _anchors(doc: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``doc`` (lower case, punctuation dropped, spaces as ``-``)."""
    anchors: set[str] = set()
    text = re.sub(FENCED, "", doc.read_text(encoding="utf-8"), flags=re.S | re.M)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.M):
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        number = 1
        unique = anchor
        while unique in anchors:
            unique = f"{anchor}-{number}"
            number += 1
        anchors.add(unique)
    return anchors


def _links(text: str) -> list[str]:
    """The targets of the links of a Markdown text: not of what looks like one in code, which is shown as it is
    (``hooks["done"](row)`` in a Python block, an inline span)."""
    prose = re.sub(r"(?<!`)`[^`\n]+`(?!`)", "", re.sub(FENCED, "", text, flags=re.S | re.M))
    return re.findall(r"\]\(([^)\s]+)\)", prose)


def test_links_in_code_are_not_links() -> None:
    text = "See [scan](scan.md) and [`eval`](training.md#eval).\n\n```python\nhooks['done'](row)\n```\n" \
           "Call `handlers[name](path)` per row.\n"
    assert _links(text) == ["scan.md", "training.md#eval"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.relative_to(REPO).as_posix())
def test_every_link_reaches_a_file_and_a_heading(doc: Path) -> None:
    broken = []
    for target in _links(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path) if path else doc
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(target)
    assert not broken, f"{doc.name}: links to nothing: {broken}"


def test_every_script_benchmark_test_and_mixing_file_the_docs_name_exists() -> None:
    pattern = r"(?<![\w/.-])((?:scripts|benchmarks|tests|tests/robustness)/\w+\.(?:py|sh)|mix-[\w.-]+\.json)"
    named = {(doc.relative_to(REPO).as_posix(), name)
             for doc in DOCS for name in re.findall(pattern, doc.read_text(encoding="utf-8"))}
    assert len(named) > 20
    missing = [f"{doc}: {name}" for doc, name in sorted(named)
               if not (REPO / (f"docs/mixes/{name}" if name.startswith("mix-") else name)).exists()]
    assert not missing, missing


def test_every_option_given_to_a_script_or_benchmark_in_the_docs_is_one_it_takes() -> None:
    """``benchmarks/scan_hash.py --minutes 5``: the option is in that file (its argument parser or shell case)."""
    given = set()
    for doc in DOCS:
        for code in _code(doc.read_text(encoding="utf-8")):
            for match in re.finditer(r"((?:scripts|benchmarks)/\w+\.(?:py|sh))([^|;&#]*)", code):
                given |= {(doc.relative_to(REPO).as_posix(), match.group(1), option)
                          for option in re.findall(r"(?<!\S)(--[a-z][\w-]*)", match.group(2))}
    assert len(given) > 10
    wrong = [f"{doc}: {script} {option}" for doc, script, option in sorted(given)
             if option not in (REPO / script).read_text(encoding="utf-8")]
    assert not wrong, wrong


def _wrong_options(code: str) -> list[str]:
    return [option for command, words in _command_lines(code) for option in _unknown_options(command, words)]


def test_the_parser_checks_indented_blocks_and_takes_no_file_name_or_subshell_word_for_an_option() -> None:
    """The guard missed the command lines of a block indented under a list item (docs/scale.md's Ray job), and it
    failed legitimate lines: a file name after ``--`` (``mesocli scan -- -clip.mp4``: the end of the options) and
    another program's option inside ``$(…)`` (``mesocli scan $(find videos -name '*.mp4')``)."""
    text = "1. Run it:\n\n   ```\n   mesocli scan videos --framez 5\n   ```\n"
    assert any(_wrong_options(code) for code in _code(text))  # a typo in an indented block is caught
    assert any("--engine ray" in code for code in _code((REPO / "docs" / "scale.md").read_text(encoding="utf-8")))
    assert _wrong_options("mesocli scan --frames 10 -- -clip.mp4 --odd.mp4") == []
    assert _wrong_options("scan --frames 10 -- -clip.mp4") == [] and _wrong_options("scan --framez 1") == [
        "scan --framez"]
    assert _wrong_options("mesocli scan $(find videos -name '*.mp4' -newer x) --frames 10") == []
    assert _wrong_options("mesocli scan $(find videos -name '*.mp4') --framez 10") == ["scan --framez"]
