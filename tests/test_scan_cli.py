"""`mesocli scan` through the command line: formats, schema, stdin, --output, exit statuses."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mesocli.cli import app

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "docs" / "scan.schema.json").read_text())
runner = CliRunner()


def check_schema(result: dict) -> None:
    import jsonschema

    jsonschema.validate(result, SCHEMA, cls=jsonschema.Draft202012Validator)


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from skimage import data

    folder = tmp_path_factory.mktemp("faces")
    face = Image.fromarray(data.astronaut()[20:240, 150:340]).resize((256, 256))
    paths = [folder / "one.png", folder / "two.jpg"]
    face.save(paths[0])
    face.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(paths[1], quality=90)
    return paths


def scan(own_weights: Path, *args: str, stdin: str | None = None):
    args = ("scan", "--weights", str(own_weights), "--detector", "none", *args)
    return runner.invoke(app, list(args), input=stdin)


def test_jsonl_is_the_default_on_a_pipe_and_follows_the_schema(own_weights: Path, faces: list[Path]) -> None:
    result = scan(own_weights, *map(str, faces))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, faces, strict=True):
        item = json.loads(line)
        check_schema(item)
        assert item["path"] == str(path) and item["status"] == "ok" and item["type"] == "image"
        assert item["frames"] == {"sampled": 1, "with_face": 1}
        assert item["model"]["name"] == "meso4_test" and len(item["model"]["weights_sha256"]) == 64


def test_json_is_one_list_document(own_weights: Path, faces: list[Path], tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.mp4")
    result = scan(own_weights, "--format", "json", "--detail", "--all-faces", *map(str, faces), missing)
    assert result.exit_code == 3
    items = json.loads(result.stdout)
    assert [i["status"] for i in items] == ["ok", "ok", "error"]
    for item in items:
        check_schema(item)
    assert items[0]["scores"][0]["p_fake"] == items[0]["p_fake"]
    assert items[2]["error"].endswith("no such file or folder")


def test_csv_has_one_row_per_input(own_weights: Path, faces: list[Path]) -> None:
    result = scan(own_weights, "--format", "csv", *map(str, faces))
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["path"] for r in rows] == [str(p) for p in faces]
    for row in rows:
        assert row["status"] == "ok" and row["verdict"] in ("fake", "real") and row["error"] == ""
        assert 0.0 <= float(row["p_fake"]) <= 1.0 and row["frames_sampled"] == "1"
        assert json.loads(row["segments"]) == [] and row["faces"] == ""


def test_table_lists_path_verdict_and_frames(own_weights: Path, faces: list[Path]) -> None:
    result = scan(own_weights, "--format", "table", "--threshold", "0", str(faces[0]))
    assert result.exit_code == 0
    assert faces[0].name in result.stdout and "fake" in result.stdout and "1/1" in result.stdout
    assert "1 input: 1 fake" in result.stdout


def test_paths_from_stdin(own_weights: Path, faces: list[Path]) -> None:
    result = scan(own_weights, "-", stdin="\n".join(map(str, faces)) + "\n\n")
    assert result.exit_code == 0
    assert [json.loads(line)["path"] for line in result.stdout.splitlines()] == [str(p) for p in faces]
    empty = scan(own_weights, "-", stdin="")
    assert empty.exit_code == 2 and "no inputs" in empty.output


@pytest.mark.parametrize(
    ("threshold", "extra", "code"),
    [("0", [], 0), ("0", ["--fail-on-fake"], 1), ("1", ["--fail-on-fake"], 0)],
)
def test_fail_on_fake(own_weights: Path, faces, threshold: str, extra: list[str], code: int) -> None:
    result = scan(own_weights, "--threshold", threshold, *extra, str(faces[0]))
    assert result.exit_code == code
    assert json.loads(result.stdout)["verdict"] == ("fake" if threshold == "0" else "real")


def test_an_input_error_wins_over_fail_on_fake(own_weights: Path, faces: list[Path], tmp_path: Path) -> None:
    missing = str(tmp_path / "gone.jpg")
    result = scan(own_weights, "--threshold", "0", "--fail-on-fake", str(faces[0]), missing)
    assert result.exit_code == 3
    assert [json.loads(line)["status"] for line in result.stdout.splitlines()] == ["ok", "error"]


def test_output_is_written_atomically_and_not_overwritten(own_weights: Path, faces, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = scan(own_weights, "--output", str(target), *map(str, faces))
    assert result.exit_code == 0 and result.stdout == ""
    assert len(json.loads(target.read_text())) == 2  # .json suffix -> one JSON document
    again = scan(own_weights, "--output", str(target), str(faces[0]))
    assert again.exit_code == 2 and "--force" in again.output
    forced = scan(own_weights, "--output", str(target), "--force", "--format", "jsonl", str(faces[0]))
    assert forced.exit_code == 0 and len(target.read_text().splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary file left behind


def test_bad_options_are_usage_errors(own_weights: Path, faces: list[Path]) -> None:
    for args in (["--format", "xml"], ["--aggregate", "median"], ["--frames", "5", "--fps", "2"],
                 ["--threshold", "2"], ["--detector", "sift"]):
        result = scan(own_weights, *args, str(faces[0]))
        assert result.exit_code == 2, args
        assert result.output.startswith("mesocli: error: ") and result.stdout == ""


def _mesocli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")
    command = [sys.executable, "-m", "mesocli", *args]
    return subprocess.run(command, capture_output=True, text=True, input=stdin, env=env, timeout=300)


def test_scan_help_is_instant_and_documents_exit_statuses() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom mesocli.cli import app\n"
        "out = CliRunner().invoke(app, ['scan', '--help']).output\n"
        "print('EXIT' in out.upper() and '--fail-on-fake' in out)\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'dlib', 'imageio', 'numpy', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["True", "[]"]


def test_weights_that_are_not_weights_exit_2_with_one_line(tmp_path: Path, faces: list[Path]) -> None:
    fake = tmp_path / "weights.h5"
    fake.write_text("this is not HDF5\n")
    result = _mesocli("scan", "--weights", str(fake), str(faces[0]))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mesocli: error: ") and "weights.h5" in lines[0]


def test_end_to_end_pipe_with_exit_statuses(own_weights: Path, faces: list[Path], tmp_path: Path) -> None:
    """One real process: paths on stdin, JSON Lines on a pipe, exit 3 for a corrupt file, no stderr noise."""
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    stdin = f"{faces[0]}\n{corrupt}\n{faces[1]}\n"
    result = _mesocli("scan", "--weights", str(own_weights), "--detector", "none", "-", stdin=stdin)
    assert result.returncode == 3, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert [i["status"] for i in items] == ["ok", "error", "ok"]
    assert result.stderr == ""  # no progress bars, no TensorFlow banners when stderr is not a terminal


def test_a_video_without_faces_exits_3_and_the_others_are_reported(own_weights: Path, tmp_path_factory) -> None:
    from media import MediaKit

    kit = MediaKit(tmp_path_factory.getbasetemp() / "media")
    args = ["scan", "--weights", str(own_weights), "--frames", "6", str(kit.noface_video), str(kit.face_video)]
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    items = [json.loads(line) for line in result.stdout.splitlines()]
    for item in items:
        check_schema(item)
    assert [(i["status"], i["type"], i["p_fake"] is None) for i in items] == [
        ("no_face", "video", True), ("ok", "video", False)
    ]
    assert [i["frames"] for i in items] == [{"sampled": 6, "with_face": 0}, {"sampled": 6, "with_face": 6}]
