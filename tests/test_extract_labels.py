"""``mesocli extract --layout dataset --labels FILE``: labels from a DFDC ``metadata.json`` or a CSV, with real
videos and real faces."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import RunCli
from media import MediaKit

from mesocli.datasets import identity_groups
from mesocli.errors import UsageError
from mesocli.extract import ExtractOptions, extract
from mesocli.labels import read_labels
from mesocli.manifest import MANIFEST
from mesocli.video import FrameSelection

FAKE, ORIGINAL, OTHER = "aapnvogymq", "jdubbvfswz", "unlistedxx"


def dfdc_part(root: Path, kit: MediaKit) -> Path:
    """A DFDC-like part folder: a fake, its original and a video that metadata.json does not list."""
    part = root / "dfdc_train_part_0"
    part.mkdir(parents=True)
    for stem in (FAKE, ORIGINAL, OTHER):
        shutil.copy(kit.face_video, part / f"{stem}.mp4")
    (part / "metadata.json").write_text(json.dumps({
        f"{FAKE}.mp4": {"label": "FAKE", "split": "train", "original": f"{ORIGINAL}.mp4"},
        f"{ORIGINAL}.mp4": {"label": "REAL", "split": "train", "original": None}}))
    return part


def options(labels: Path) -> ExtractOptions:
    return ExtractOptions(FrameSelection("frames", 2), layout="dataset", split="train",
                          labels=read_labels(labels).sha256)


def test_a_dfdc_metadata_json_labels_each_input_and_ties_a_fake_to_its_original(tmp_path: Path,
                                                                                kit: MediaKit) -> None:
    part, out, notes = dfdc_part(tmp_path, kit), tmp_path / "faces", []
    labels = read_labels(part / "metadata.json")
    summary = extract([part], out, options(part / "metadata.json"), workers=1, labels=labels, log=notes.append)
    assert [(Path(r.source).stem, r.status) for r in summary.results] == [
        (FAKE, "ok"), (ORIGINAL, "ok"), (OTHER, "unlabelled")]
    assert summary.counts()["unlabelled"] == 1 and summary.exit_code == 0
    assert any(f"1 input is not in metadata.json, not extracted (listed as unlabelled): {part / OTHER}.mp4" in note
               for note in notes)
    assert not any("metadata.json" in note and "not a video or image" in note for note in notes)
    crops = sorted(out.rglob("*.jpg"))
    assert {path.parent.relative_to(out).as_posix() for path in crops} == {"train/df", "train/real"}
    assert {path.name.rsplit("_", 1)[0] for path in crops if path.parent.name == "df"} == {f"{ORIGINAL}_{FAKE}"}
    assert {path.name.rsplit("_", 1)[0] for path in crops if path.parent.name == "real"} == {ORIGINAL}
    assert len(set(identity_groups(crops).tolist())) == 1  # train's held-out part keeps them together
    lines = [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]
    assert lines[0]["settings"]["labels_sha256"] == labels.sha256
    assert [line["status"] for line in lines if line["type"] == "input" and line["status"] == "unlabelled"] == [
        "unlabelled"]
    again = extract([part], out, options(part / "metadata.json"), workers=1, labels=labels, log=notes.append)
    assert [r.status for r in again.results] == ["skipped", "skipped", "unlabelled"]
    assert sorted(out.rglob("*.jpg")) == crops
    assert (out / MANIFEST).read_text().count('"unlabelled"') == 1  # listed once, not once per run


def test_a_csv_of_labels_matches_paths_relative_to_it_and_takes_1_for_fake(tmp_path: Path, kit: MediaKit,
                                                                          run_cli: RunCli) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(kit.face_jpeg, tmp_path / folder / "img.jpg")
    (tmp_path / "labels.csv").write_text("File,Label\na/img.jpg,1\nb/img.jpg,0\n")
    result = run_cli("extract", tmp_path / "a", tmp_path / "b", tmp_path / "out", "--layout", "dataset",
                     "--labels", tmp_path / "labels.csv", "--workers", "1")
    assert result.code == 0, result.err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg")) == [
        "df/img_0.jpg", "real/img_0.jpg"]
    assert ", 0 unlabelled (not in labels.csv); " in result.out.splitlines()[-1]


@pytest.mark.parametrize(("text", "args", "message"), [
    ("file,label\nclip.mp4,FAKE\nimg.jpg,maybe\n", (),
     "labels.csv: row 3: label 'maybe' is not FAKE/REAL, fake/real, df/real or 1/0 (1 = fake)"),
    ("file,label\nclip.mp4,fake\nclip.mp4,real\n", (),
     "labels.csv: row 3: clip.mp4 is labelled twice (also row 2): keep one entry per file"),
    ("file,class\nclip.mp4,fake\n", (), "labels.csv: its header (file,class) names no label column"),
    ("file,label\nother.mp4,fake\n", (), "none of the 2 inputs is in"),
    ("file,label\nclip.mp4,fake\n", ("--label", "df"), "give --label or --labels, not both"),
    ("file,label\nclip.mp4,fake\n", ("--layout", "video"), "--labels goes with --layout dataset"),
])
def test_a_bad_labels_file_is_refused_in_one_line_and_nothing_is_written(
        tmp_path: Path, kit: MediaKit, run_cli: RunCli, text: str, args: tuple, message: str) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(kit.face_video, inputs / "clip.mp4")
    shutil.copy(kit.face_jpeg, inputs / "img.jpg")
    (tmp_path / "labels.csv").write_text(text)
    result = run_cli("extract", inputs, tmp_path / "out", "--layout", "dataset", "--labels", tmp_path / "labels.csv",
                     *args)
    assert result.code == 2 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_name_twice_in_metadata_json_or_matching_two_inputs_is_refused(tmp_path: Path, kit: MediaKit) -> None:
    (tmp_path / "metadata.json").write_text('{"a.mp4": {"label": "FAKE"}, "a.mp4": {"label": "REAL"}}')
    with pytest.raises(UsageError, match='"a.mp4" is labelled twice'):
        read_labels(tmp_path / "metadata.json")
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        shutil.copy(kit.face_jpeg, tmp_path / folder / "a.jpg")
    (tmp_path / "labels.csv").write_text("name,label\na.jpg,real\n")
    labels = read_labels(tmp_path / "labels.csv")
    with pytest.raises(UsageError, match="row 2: a.jpg matches two inputs, .*x/a.jpg and .*y/a.jpg: give its path "
                                         "relative to labels.csv's folder"):
        extract([tmp_path / "x", tmp_path / "y"], tmp_path / "out", options(tmp_path / "labels.csv"), labels=labels)
    assert not (tmp_path / "out").exists()


def test_a_resume_with_another_labels_file_is_refused_and_changes_nothing(tmp_path: Path, kit: MediaKit,
                                                                          run_cli: RunCli) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    shutil.copy(kit.face_jpeg, inputs / "img.jpg")
    (tmp_path / "one.csv").write_text("file,label\nimg.jpg,real\n")
    (tmp_path / "two.csv").write_text("file,label\nimg.jpg,fake\n")
    first = run_cli("extract", inputs, out, "--layout", "dataset", "--labels", tmp_path / "one.csv")
    assert first.code == 0, first.err
    manifest = (out / MANIFEST).read_bytes()
    second = run_cli("extract", inputs, out, "--layout", "dataset", "--labels", tmp_path / "two.csv")
    assert second.code == 2 and "was extracted with another labels file (sha256 " in second.err, second.err
    assert "give the same --labels, use another OUT_DIR, or --force" in second.err
    assert (out / MANIFEST).read_bytes() == manifest and [p.name for p in out.rglob("*.jpg")] == ["img_0.jpg"]
    assert run_cli("extract", inputs, out, "--layout", "dataset", "--labels", tmp_path / "one.csv").code == 0


def test_labels_are_read_as_documented_and_a_bad_one_is_named(tmp_path: Path) -> None:
    """Found while writing --labels: every accepted spelling, the 1 = fake convention, and the row of a bad value."""
    (tmp_path / "l.csv").write_text("\ufeffID,Video,Label,Original\n1,a.mp4,FAKE,b.mp4\n2,b.mp4,Real,\n3,c.mp4,df,\n"
                                    "4,d/e.mp4,1,\n5,f.mp4,0,\n")
    labels = read_labels(tmp_path / "l.csv")
    assert {key: (entry.label, entry.original) for key, entry in {**labels.by_name, **{
        e.key: e for e in labels.by_path.values()}}.items()} == {
        "a.mp4": ("df", "b.mp4"), "b.mp4": ("real", None), "c.mp4": ("df", None), "d/e.mp4": ("df", None),
        "f.mp4": ("real", None)}
    (tmp_path / "metadata.json").write_text('{"a.mp4": {"label": 1}, "b.mp4": {"label": true}}')
    with pytest.raises(UsageError, match=r'metadata.json: "b.mp4": label True is not FAKE/REAL'):
        read_labels(tmp_path / "metadata.json")
    (tmp_path / "metadata.json").write_text('{"a.mp4": {"label": "FAKE", "original": 3}}')
    with pytest.raises(UsageError, match=r'metadata.json: "a.mp4": original 3 is not a file name'):
        read_labels(tmp_path / "metadata.json")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "e.mp4").touch()
    (tmp_path / "both.csv").write_text("file,label\nd/e.mp4,fake\ne.mp4,real\n")
    with pytest.raises(UsageError, match=r"d/e.mp4 matches two entries of .*both.csv \(row 2, row 3\)"):
        read_labels(tmp_path / "both.csv").assign([tmp_path / "d" / "e.mp4"])


def test_a_fake_whose_name_already_carries_its_originals_people_keeps_its_name(tmp_path: Path) -> None:
    """Celeb-DF and FF++ fakes name their original's person already: prefixing it would add a video number as a
    person (``0003`` would tie every person's 4th video together)."""
    from mesocli.extract import _labelled

    names = ("id0_id16_0003.mp4", "033_097.mp4", "aapnvogymq.mp4", "zzz.mp4")
    for name in names:
        (tmp_path / name).touch()
    (tmp_path / "labels.csv").write_text("file,label,original\nid0_id16_0003.mp4,fake,id0_0003.mp4\n"
                                         "033_097.mp4,fake,033.mp4\naapnvogymq.mp4,fake,jdubbvfswz.mp4\n"
                                         "zzz.mp4,real,yyy.mp4\n")
    items, unlabelled = _labelled([tmp_path / name for name in names], options(tmp_path / "labels.csv"),
                                  read_labels(tmp_path / "labels.csv"), print)
    assert [(label, stem) for _, _, label, stem in items] == [
        ("df", "id0_id16_0003"), ("df", "033_097"), ("df", "jdubbvfswz_aapnvogymq"), ("real", "zzz")]
    assert unlabelled == []


def test_a_csv_from_a_spreadsheet_or_windows_or_a_mac_matches_its_files(tmp_path: Path) -> None:
    """Found in review: a CSV saved by a spreadsheet in a European locale (``;``-separated, quoted, CRLF, an extra
    column, a last empty line) was refused ("its header (file;label) names no file column"); a path written on
    Windows (``sub\\\\b.mp4``) or a name spelled decomposed as macOS writes it (NFD ``é``) matched no input, and the
    run went on with every such input unlabelled."""
    import unicodedata

    (tmp_path / "sub").mkdir()
    files = [tmp_path / "a.mp4", tmp_path / "sub" / "b.mp4", tmp_path / unicodedata.normalize("NFC", "café.mp4"),
             tmp_path / "sub" / "c.mp4"]
    for file in files:
        file.touch()
    nfd = unicodedata.normalize("NFD", "café.mp4")
    (tmp_path / "labels.csv").write_bytes(
        ('\ufeff"File";"Label";"Note"\r\n"a.mp4";"FAKE";"x; y"\r\nsub\\b.mp4;REAL;\r\n'
         f'{nfd};1;\r\n.\\sub\\c.mp4;0;\r\n;;\r\n').encode())
    labels = read_labels(tmp_path / "labels.csv")
    assert [(entry.label, entry.line) if entry else None for entry in labels.assign(files)] == [
        ("df", 2), ("real", 3), ("df", 4), ("real", 5)]
    (tmp_path / "metadata.json").write_text(json.dumps({nfd: {"label": "REAL"}, "sub\\b.mp4": {"label": "FAKE"}}))
    assert [entry.label if entry else None for entry in read_labels(tmp_path / "metadata.json").assign(files)] == [
        None, "df", "real", None]


def test_excels_sep_line_names_the_separator(tmp_path: Path) -> None:
    """Excel's ``sep=;`` first line (it writes one to say how cells are separated) was read as the header: ``its
    header (sep=,) names no file column``. It now names the separator, and rows are still lines of the file."""
    (tmp_path / "labels.csv").write_text("sep=;\r\nfile;label;note\r\na.mp4;fake;x, y, z\r\nb.mp4;0;\r\n")
    labels = read_labels(tmp_path / "labels.csv")
    assert [(key, entry.label, entry.line) for key, entry in labels.by_name.items()] == [
        ("a.mp4", "df", 3), ("b.mp4", "real", 4)]
    (tmp_path / "tabs.csv").write_text("SEP=\t\nfile\tlabel\na.mp4\tmaybe\n")
    with pytest.raises(UsageError, match=r"tabs.csv: row 3: label 'maybe' is not"):
        read_labels(tmp_path / "tabs.csv")


def test_letter_case_matches_only_a_unique_entry_and_says_so(tmp_path: Path) -> None:
    """A list written where file names ignore case (``Video.MP4`` for ``video.mp4`` on disk) left every such input
    unlabelled. An input matched by no entry as written now takes the one entry that differs by case alone, when
    no other input matches it; a note names each; one with two such entries, or whose entry is another input's, is
    not guessed: unlabelled, its manifest message saying why."""
    from mesocli.extract import _labelled

    names = ["video.mp4", "sub/Clip.mp4", "Twin.mp4", "exact.mp4", "other/EXACT.mp4", "a/Solo.mp4", "b/SOLO.mp4"]
    files = [tmp_path / name for name in names]
    for file in files:
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch()
    (tmp_path / "labels.csv").write_text("file,label\nVideo.MP4,fake\nSUB/clip.mp4,real\ntwin.mp4,fake\n"
                                         "TWIN.mp4,real\nexact.mp4,real\nsolo.mp4,fake\n")
    notes: list[str] = []
    items, unlabelled = _labelled(files, options(tmp_path / "labels.csv"), read_labels(tmp_path / "labels.csv"),
                                  notes.append)
    assert [(file.relative_to(tmp_path).as_posix(), label) for _, file, label, _ in items] == [
        ("video.mp4", "df"), ("sub/Clip.mp4", "real"), ("exact.mp4", "real")]
    assert notes[0] == (f'mesocli: 2 inputs matched labels.csv only with letter case ignored (a single entry each): '
                        f'{files[0]} ("Video.MP4"), {files[1]} ("SUB/clip.mp4")')
    messages = {Path(result.source).relative_to(tmp_path).as_posix(): result.message for _, result, _ in unlabelled}
    assert messages == {
        "Twin.mp4": f"{files[2]}: not in labels.csv (by letter case alone it matches row 4, row 5)",
        "other/EXACT.mp4": f"{files[4]}: not in labels.csv (by letter case alone it matches row 6, which another "
                           "input matches too)",
        "a/Solo.mp4": f"{files[5]}: not in labels.csv (by letter case alone it matches row 7, which another input "
                      "matches too)",
        "b/SOLO.mp4": f"{files[6]}: not in labels.csv (by letter case alone it matches row 7, which another input "
                      "matches too)"}


def test_a_split_other_than_splits_is_said(tmp_path: Path) -> None:
    """DFDC's ``metadata.json`` says each file's ``split``, which was not read: a part listed as ``train`` extracted
    to ``--split test`` went by without a word. It is now said (the inputs are still extracted where ``--split``
    says); a CSV's ``split`` column likewise; a split that is not a name is refused."""
    from mesocli.extract import _labelled

    files = [tmp_path / name for name in ("a.mp4", "b.mp4", "c.mp4")]
    for file in files:
        file.touch()
    (tmp_path / "metadata.json").write_text(json.dumps({
        "a.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"}, "b.mp4": {"label": "REAL", "split": "train"},
        "c.mp4": {"label": "REAL", "split": "test"}}))
    labels = read_labels(tmp_path / "metadata.json")
    assert [labels.by_name[f"{name}.mp4"].split for name in "abc"] == ["train", "train", "test"]
    for split, said in (("test", [f'mesocli: 2 inputs are in split "train" of metadata.json, extracted to --split '
                                  f'test: {files[0]}, {files[1]}']),
                        ("train", [f'mesocli: 1 input is in split "test" of metadata.json, extracted to --split '
                                   f'train: {files[2]}'])):
        notes: list[str] = []
        items, _ = _labelled(files, ExtractOptions(FrameSelection("frames", 2), layout="dataset", split=split,
                                                   labels=labels.sha256), labels, notes.append)
        assert notes == said and len(items) == 3
    (tmp_path / "labels.csv").write_text("file,label,split\na.mp4,fake,test\nb.mp4,real,\n")
    assert [e.split for e in read_labels(tmp_path / "labels.csv").by_name.values()] == ["test", None]
    (tmp_path / "metadata.json").write_text('{"a.mp4": {"label": "FAKE", "split": 1}}')
    with pytest.raises(UsageError, match=r'metadata.json: "a.mp4": split 1 is not a name'):
        read_labels(tmp_path / "metadata.json")


def test_a_quoted_sep_line_and_a_sep_line_the_file_does_not_follow(tmp_path: Path) -> None:
    """A ``sep=;`` line written as a CSV cell (``"sep=;"``: a CSV writer quotes the separator) was taken as the
    header, refused as naming no file column. And when the file's cells are not separated as its ``sep=`` line
    says, the refusal showed the whole header line as one column (``its header (file,label) names no file
    column``) without saying why: it now names the separator the first line set."""
    (tmp_path / "quoted.csv").write_text('"sep=;"\r\nfile;label\r\na.mp4;fake\r\nb.mp4;real\r\n')
    assert [(key, entry.label, entry.line) for key, entry in read_labels(tmp_path / "quoted.csv").by_name.items()] == [
        ("a.mp4", "df", 3), ("b.mp4", "real", 4)]
    (tmp_path / "commas.csv").write_text("sep=;\nfile,label\na.mp4,fake\n")
    with pytest.raises(UsageError, match=r'commas.csv: its header \(file,label\) names no file column .*, with '
                                         r'cells separated by ";" as its first line sep=; says'):
        read_labels(tmp_path / "commas.csv")
