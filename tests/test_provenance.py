"""Provenance names the software that ran: the distribution that holds the module imported, whatever its name, and
says so when the module imported is from none (fake distributions in a folder put first on ``sys.path``)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from mesocli import provenance
from mesocli.extract import software_change
from mesocli.provenance import library_versions, package_version, versions_text

NOT_TO_IMPORT = "raise ImportError('provenance imported me')\n"
"""A fake package's code: recording its version must not import it."""


def fake_package(folder: Path, module: str, distribution: str | None = None, version: str = "1.20.1",
                 code: str = NOT_TO_IMPORT) -> Path:
    """``folder/module/__init__.py`` (``code``, written over one there: a distribution installed over another), and
    with ``distribution`` its ``*.dist-info`` (METADATA, RECORD with ``code``'s hash, top_level.txt) as pip writes
    it; ``folder``."""
    init = folder / module / "__init__.py"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(code)
    if distribution is not None:
        info = folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        (info / "top_level.txt").write_text(f"{module}\n")
        digest = base64.urlsafe_b64encode(hashlib.sha256(code.encode()).digest()).rstrip(b"=").decode()
        (info / "RECORD").write_text(f"{module}/__init__.py,sha256={digest},{len(code)}\n{info.name}/METADATA,,\n"
                                     f"{info.name}/top_level.txt,,\n{info.name}/RECORD,,\n")
    importlib.invalidate_caches()  # the folder's listing, which the import system caches, is not that of before
    return folder


@pytest.fixture
def first_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty folder put first on ``sys.path``, the provenance caches emptied before and after."""
    def forget() -> None:
        for value in vars(provenance).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()

    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    forget()
    yield folder
    forget()


def test_a_variant_distribution_is_named_with_its_version(first_on_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``onnxruntime-gpu`` (a second site-packages first on the path, the venv's ``onnxruntime`` after it) is what
    runs: the record named the venv's onnxruntime instead; a variant of a package not installed under its own name
    read as not installed."""
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)  # not imported yet: located, not imported
    fake_package(first_on_path, "onnxruntime", "onnxruntime-gpu")
    fake_package(first_on_path, "mesofake", "mesofake-cuda12", "2.0")
    versions = library_versions("onnx", ("numpy",))
    assert versions == {"onnxruntime": "onnxruntime-gpu 1.20.1", "numpy": metadata.version("numpy")}
    assert package_version("mesofake") == "mesofake-cuda12 2.0"
    assert "onnxruntime" not in sys.modules and "mesofake" not in sys.modules
    # the text of the HTML report and of extract's note names the variant
    assert versions_text(versions) == f"onnxruntime-gpu 1.20.1, numpy {versions['numpy']}"
    assert software_change({"mesocli": "0", "ffmpeg": None, "libraries": {"onnxruntime": "1.32.0"}},
                           {"mesocli": "0", "ffmpeg": None, "libraries": {"onnxruntime": versions["onnxruntime"]}}) \
        == "its crops so far were made with onnxruntime 1.32.0; this run's with onnxruntime-gpu 1.20.1"


def test_a_module_imported_from_outside_its_distribution_is_flagged_not_given_its_version(
        first_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module imported (or found first) from a folder with no distribution of it, as PYTHONPATH gives one, is not
    the installed one: its version is unknown and the record says so, naming the distribution installed elsewhere
    (the record gave that distribution's version as if it had run)."""
    fake_package(first_on_path, "face_recognition_models")  # no metadata: a source tree on PYTHONPATH
    shadow = importlib.util.spec_from_file_location("face_recognition_models",
                                                    first_on_path / "face_recognition_models" / "__init__.py")
    monkeypatch.setitem(sys.modules, "face_recognition_models", importlib.util.module_from_spec(shadow))
    installed = metadata.version("face_recognition_models")
    assert package_version("face_recognition_models") == \
        f"unknown (the copy imported is not the installed face_recognition_models {installed})"
    fake_package(first_on_path, "mesofake")  # importable, installed nowhere
    assert package_version("mesofake") == "unknown (the copy imported is from no installed distribution)"
    assert package_version("mesofake-absent") is None  # neither importable nor installed: not installed
    assert versions_text({"mesofake": package_version("mesofake"), "mesofake-absent": None}) == (
        "mesofake unknown (the copy imported is from no installed distribution), mesofake-absent (not installed)")


def test_a_package_folder_linked_elsewhere_is_still_its_distributions(first_on_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The check follows links to the file that runs: the venv's package linked into another folder on the path is
    the installed one, not flagged."""
    installed = Path(importlib.util.find_spec("imageio_ffmpeg").origin).parent
    monkeypatch.delitem(sys.modules, "imageio_ffmpeg", raising=False)
    (first_on_path / "imageio_ffmpeg").symlink_to(installed, target_is_directory=True)
    assert importlib.util.find_spec("imageio_ffmpeg").origin.startswith(str(first_on_path))
    assert package_version("imageio-ffmpeg") == metadata.version("imageio-ffmpeg")


def test_a_variant_installed_over_the_package_is_told_by_its_files_hash(first_on_path: Path) -> None:
    """Two distributions in one folder list the module's file (``Pillow-SIMD`` installed over ``Pillow``, a stale
    dist-info an upgrade left): the one whose RECORD hash is the file's is what runs (the record took the package's
    own name's); when the hash cannot tell them apart the record says which it could be."""
    fake_package(first_on_path, "mesofake", "mesofake", "1.0", code="# the plain build\n")
    fake_package(first_on_path, "mesofake", "mesofake-simd", "2.0")  # installed over it: its file is the one there
    fake_package(first_on_path, "mesotwo", "mesotwo", "1.0", code="# an older one\n")
    fake_package(first_on_path, "mesotwo", "mesotwo", "2.0")  # upgraded, 1.0's dist-info left behind
    fake_package(first_on_path, "mesothree", "mesothree", "1.0")
    fake_package(first_on_path, "mesothree", "mesothree-gpu", "1.1")  # the same file: either could be what runs
    assert package_version("mesofake") == "mesofake-simd 2.0"
    assert package_version("mesotwo") == "2.0"
    assert package_version("mesothree") == "unknown (the copy imported could be mesothree 1.0's or mesothree-gpu 1.1's)"


def test_a_legacy_egg_info_install_is_told_by_its_installed_files(first_on_path: Path) -> None:
    """A package installed the legacy way (``setup.py install``: an ``*.egg-info`` whose ``installed-files.txt``
    lists its files relative to that folder, no hashes) over a variant's wheel: the file is the egg-info's, not the
    variant's (whose RECORD hash is not the file's). The egg-info's list was read as relative to the wrong folder,
    so it never listed the file, and the record named the variant whose file had been overwritten."""
    fake_package(first_on_path, "mesofake", "mesofake-gpu", "2.0", code="# the variant's wheel\n")
    fake_package(first_on_path, "mesofake", code="# built from source, installed over it\n")
    info = first_on_path / "mesofake-1.0-py3.11.egg-info"
    info.mkdir()
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: mesofake\nVersion: 1.0\n")
    (info / "installed-files.txt").write_text("../mesofake/__init__.py\nPKG-INFO\ninstalled-files.txt\n")
    assert package_version("mesofake") == "1.0"


def test_a_package_installed_as_an_egg_folder_is_its_eggs(first_on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python setup.py install`` (as dlib's own instructions long said) puts a package in an ``*.egg`` folder on the
    path, its metadata in that folder's ``EGG-INFO``: Python's metadata finds it there, the record read
    ``unknown (the copy imported is from no installed distribution)``."""
    egg = first_on_path / "mesofake-1.5-py3.11-linux-x86_64.egg"
    fake_package(egg, "mesofake")
    (egg / "EGG-INFO").mkdir()
    (egg / "EGG-INFO" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: mesofake\nVersion: 1.5\n")
    monkeypatch.syspath_prepend(str(egg))  # as easy-install.pth puts it
    assert metadata.version("mesofake") == "1.5"
    assert package_version("mesofake") == "1.5"


def test_the_code_digest_tells_two_builds_of_one_version_apart(tmp_path: Path) -> None:
    """Every unreleased change is mesocli 0.1.0: the digest of its files tells which code ran. A wheel (the data
    inside the package) and the source tree it was built from (the data beside it) give the same digest; a changed
    source file or bundled card gives another."""
    import shutil

    from mesocli.provenance import code_digest, digest_of

    package = Path(provenance.__file__).resolve().parent
    tree = tmp_path / "tree"
    shutil.copytree(package, tree / "src" / "mesocli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(package.parents[1] / "weights", tree / "weights")
    (tree / "docs").mkdir()
    shutil.copy(package.parents[1] / "docs" / "scan.schema.json", tree / "docs")
    wheel = tmp_path / "wheel" / "mesocli"
    shutil.copytree(tree / "src" / "mesocli", wheel)
    shutil.copytree(tree / "weights", wheel / "weights")
    shutil.copy(tree / "docs" / "scan.schema.json", wheel)
    assert digest_of(tree / "src" / "mesocli") == digest_of(wheel) == code_digest()
    with (wheel / "scan.py").open("a") as file:
        file.write("# a fix\n")
    assert digest_of(wheel) != code_digest()
    card = next((tree / "weights").glob("*.json"))
    card.write_text(card.read_text() + " ")
    assert digest_of(tree / "src" / "mesocli") not in (code_digest(), digest_of(wheel))


def test_a_resumed_extract_notes_another_build_and_does_not_refuse() -> None:
    """An extract header written before the code digest (none recorded) or by another build of the same version:
    a resume notes it, as another ffmpeg (its crops are mixed, not refused); the same build is no change."""
    old = {"mesocli": "0.1.0", "ffmpeg": "9.0", "libraries": {"numpy": "2.4.6"}}
    this = {**old, "mesocli_code": "0123456789ab"}
    assert software_change(this, this) is None
    assert software_change(old, this) == ("its crops so far were made with mesocli code (not recorded); this run's "
                                          "with mesocli code 0123456789ab")
    assert software_change({**old, "mesocli_code": "ba9876543210"}, this) == (
        "its crops so far were made with mesocli code ba9876543210; this run's with mesocli code 0123456789ab")


def test_an_extract_header_of_the_bare_version_names_the_same_variant() -> None:
    """A manifest header written before variants named themselves recorded dlib-bin's version bare
    (``"dlib": "20.0.1.post1"``): resuming the extract with the same dlib-bin noted that its crops so far were made with
    another dlib (``dlib 20.0.1.post1``; this run's ``dlib-bin 20.0.1.post1``), and kept that as an earlier software.
    The same version under the variant's name is the same software; another version is still noted."""
    old = {"mesocli": "0", "ffmpeg": None, "libraries": {"dlib": "20.0.1.post1", "numpy": "2.4.6"}}
    assert software_change(old, {**old, "libraries": {"dlib": "dlib-bin 20.0.1.post1", "numpy": "2.4.6"}}) is None
    assert software_change(old, {**old, "libraries": {"dlib": "dlib-bin 20.0.2", "numpy": "2.4.6"}}) == (
        "its crops so far were made with dlib 20.0.1.post1; this run's with dlib-bin 20.0.2")
    unknown = "unknown (the copy imported is not the installed dlib-bin 20.0.1.post1)"
    assert software_change(old, {**old, "libraries": {"dlib": unknown, "numpy": "2.4.6"}}) == (
        f"its crops so far were made with dlib 20.0.1.post1; this run's with dlib {unknown}")


def test_the_code_digest_ignores_line_endings(tmp_path: Path) -> None:
    """A checkout that turns the text files' line endings into CRLF (git's ``core.autocrlf`` on Windows) holds the
    same code as the wheel built elsewhere: the digest of its text files is taken with LF endings. The weights'
    binary files are hashed as they are."""
    import shutil

    from mesocli.provenance import code_digest, digest_of

    package = Path(provenance.__file__).resolve().parent
    copy = tmp_path / "mesocli"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(package.parents[1] / "weights", copy / "weights")
    shutil.copy(package.parents[1] / "docs" / "scan.schema.json", copy)
    for path in [*copy.glob("*.py"), *copy.glob("weights/*.json"), copy / "scan.schema.json"]:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert digest_of(copy) == code_digest()
    onnx = next((copy / "weights").glob("*.onnx"))
    onnx.write_bytes(onnx.read_bytes().replace(b"\n", b"\r\n"))
    assert digest_of(copy) != code_digest()


def test_rewriting_the_cards_clip_scores_from_the_same_scans_gives_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``scripts/card_scan_clips.py`` writes into the bundled cards, which the code digest covers: a card that
    recorded the digest would change it, so that every rerun from the same scans wrote another card. Run twice on a
    copy of the package (its scans replayed from the cards' own clips), the cards are the same bytes."""
    import json
    import shutil

    from mesocli.provenance import digest_of
    from mesocli.weights import ModelCard

    repo = Path(provenance.__file__).resolve().parents[2]
    package = tmp_path / "mesocli"
    shutil.copytree(repo / "src" / "mesocli", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo / "weights", package / "weights")
    shutil.copy(repo / "docs" / "scan.schema.json", package)
    weights, root = package / "weights", tmp_path / "ffpp"
    cards = [ModelCard.from_json(path) for path in sorted(weights.glob("*.json"))]

    def scan(_root: Path, arch: str) -> tuple[list[str], list[dict]]:
        """The rows a ``--model any --arch ARCH --detail`` scan gave, from the cards' clips."""
        mine = {card.manipulation: card.metrics["ffpp_test_clips"] for card in cards if card.arch == arch}
        first = next(iter(mine.values()))
        rows = []
        for index, clip in enumerate(first["clips"]):
            rows.append({"path": str(root / "test" / clip["clip"]), "status": "ok", "error": None,
                         "frames": {"sampled": clip["frames"]},
                         "settings": {"sampling": first["sampling"], "detector": first["detector"]},
                         "detectors": {name: {"p_fake": section["clips"][index]["mean"]}
                                       for name, section in mine.items()},
                         "scores": [{"detectors": {name: section["clips"][index]["p_fake"][face]
                                                   for name, section in mine.items()}}
                                    for face in range(clip["faces"])]})
        return first["command"].split()[:-1], rows

    spec = importlib.util.spec_from_file_location("card_scan_clips", repo / "scripts" / "card_scan_clips.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(script, "scan", scan)
    monkeypatch.setattr(script, "bundled_dir", lambda: weights)
    monkeypatch.setattr(script, "bundled_cards", lambda: [ModelCard.from_json(path)
                                                          for path in sorted(weights.glob("*.json"))])
    monkeypatch.setattr(script, "code_digest", lambda: digest_of(package), raising=False)  # this copy's
    monkeypatch.setattr(sys, "argv", ["card_scan_clips.py", str(root)])
    script.main()
    first = {path.name: path.read_bytes() for path in weights.glob("*.json")}
    script.main()
    assert {path.name: path.read_bytes() for path in weights.glob("*.json")} == first
    assert all("mesocli_code" not in json.loads(data)["metrics"]["ffpp_test_clips"] for data in first.values())


def test_the_code_digest_ignores_hidden_files(tmp_path: Path) -> None:
    """Hidden files are no part of mesocli: a ``.DS_Store`` that Finder leaves in the weights folder, an editor's
    swap file or its lock (``.#scan.py``, a link to nowhere, which made the digest ``unknown``) leave it as it is."""
    import shutil

    from mesocli.provenance import code_digest, digest_of

    package = Path(provenance.__file__).resolve().parent
    copy = tmp_path / "mesocli"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(package.parents[1] / "weights", copy / "weights")
    shutil.copy(package.parents[1] / "docs" / "scan.schema.json", copy)
    (copy / "weights" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (copy / "weights" / ".meso4_df.json.swp").write_bytes(b"b0VIM")
    (copy / ".#scan.py").symlink_to("user@host.1234:1700000000")
    assert digest_of(copy) == code_digest()
