"""Provenance: when a result was made, and the versions of the libraries that decide it.

A library's version is that of the distribution holding the module this process imports (or would import: it is
located, never imported, so TensorFlow's seconds of import are not spent on a record), read from that distribution's
metadata once per process:

- the distribution of the package's own name in the folder the module comes from, as a rule: ``"1.32.0"``;
- else the one there whose ``RECORD`` lists the module's file, named with its version (``"onnxruntime-gpu 1.20.1"``,
  ``"dlib-bin 20.0.1.post1"``): a variant installed under another name is what runs; when several there list it (a
  variant installed over the package, a stale dist-info), the one whose ``RECORD`` hash is the file's;
- else ``"unknown (…)"``, saying why: the module comes from no installed distribution (a ``PYTHONPATH`` folder, a
  second site-packages), so the version of one installed elsewhere is not taken for that of the code that runs; or
  the hash cannot tell which of several it is;
- ``None`` when the package is neither importable nor installed.

:func:`importlib.metadata.packages_distributions` maps modules to distributions too, but it reads every installed
distribution's metadata (0.2 to 0.4 s for 85 distributions, at each start) and trusts ``top_level.txt``, which need
not name the package (``dlib-bin``'s names ``_dlib_pybind11`` only).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import os
import re
import sys
from importlib import metadata
from pathlib import Path

RUNTIME_PACKAGES = {"onnx": ("onnxruntime",), "tensorflow": ("tensorflow", "keras")}
"""The packages that run the network, per runtime."""
SCAN_PACKAGES = ("numpy", "Pillow", "dlib", "face_recognition_models", "imageio-ffmpeg")
"""What a scan's (and extract's) results also rest on: arrays, the image reader and resizer, the face detector and
landmarks (dlib, and the models it loads), and the package that finds (bundles) ffmpeg."""
EVAL_PACKAGES = ("numpy", "Pillow")
"""What eval's figures also rest on: it reads face crops (Pillow) and scores them; no face detection, no ffmpeg."""
EXPLAIN_PACKAGES = ("numpy", "Pillow", "dlib")
"""What explain's lines also rest on: it reads crops (Pillow), draws their maps, and looks for a face in each with
dlib's detector (the no-face warning), as scan does; named ``dlib-bin …`` where that variant is what runs."""
TRAIN_PACKAGES = ("onnxruntime", "numpy", "Pillow", "h5py")
"""What a training run also rests on (besides TensorFlow and Keras): the runtime that scores its held-out part (the
figures that choose the epoch), arrays, the image reader that decodes the faces, and the HDF5 library that writes the
weights."""
IMPORT_NAMES = {"Pillow": "PIL", "imageio-ffmpeg": "imageio_ffmpeg"}
"""The module a package is imported as, where it is not the package's name."""
UNKNOWN = "unknown"
"""How a version that cannot be told begins: ``unknown (the copy imported is not the installed numpy 2.4.6)``."""


PACKAGED_DATA = {"weights": "weights", "scan.schema.json": "docs/scan.schema.json"}
"""The data the wheel packages inside ``mesocli/`` (``pyproject.toml``'s force-include): its name there, and where it
lies in a source tree (relative to the repository's root)."""
CODE_DIGITS = 12
"""The hexadecimal digits of :func:`code_digest` written (48 bits: builds told apart, short enough to read out)."""
TEXT_SUFFIXES = (".py", ".json")
"""The files :func:`digest_of` hashes as text (the code, the model cards, the scan schema): CRLF read as LF."""


def packaged_path(name: str, package: Path | None = None) -> Path:
    """Packaged data ``name`` (a key of :data:`PACKAGED_DATA`) of ``package`` (mesocli's folder: this one by
    default): inside it (an installed package), else in the source tree around it."""
    package = package or Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.exists() else package.parents[1] / PACKAGED_DATA[name]


@functools.cache
def code_digest() -> str:
    """:func:`digest_of` this mesocli's folder, once per process (a record or ``--version`` asks first)."""
    return digest_of(Path(__file__).resolve().parent)


def digest_of(package: Path) -> str:
    """Which mesocli runs, beyond its version (every unreleased change carries the same one): the first
    :data:`CODE_DIGITS` hex digits of a sha256 over mesocli's own files, ``mesocli/*.py`` and the data packaged
    with them (:data:`PACKAGED_DATA`: the bundled weights and their cards, the scan schema), each named as the wheel
    names it, so that a wheel and the source tree it was built from give the same digest (2.5 MB read and hashed:
    under 10 ms). Text files (:data:`TEXT_SUFFIXES`) are hashed with LF line endings, so that a checkout with CRLF
    ones (git's ``core.autocrlf``) gives the digest of the same commit elsewhere. Hidden files (``.DS_Store``, an
    editor's swap file or lock) are left out. ``unknown (…)`` when a file cannot be read."""
    import hashlib

    files = {f"mesocli/{path.name}": path for path in package.glob("*.py") if not path.name.startswith(".")}
    for name in PACKAGED_DATA:
        path = packaged_path(name, package)
        if path.is_dir():
            inside = {inner.relative_to(path): inner for inner in path.rglob("*") if inner.is_file()}
            files.update({f"mesocli/{name}/{relative.as_posix()}": inner for relative, inner in inside.items()
                          if not any(part.startswith(".") for part in relative.parts)})
        else:
            files[f"mesocli/{name}"] = path
    whole = hashlib.sha256()
    for name in sorted(files):
        try:
            data = files[name].read_bytes()
        except OSError as error:
            return f"{UNKNOWN} (cannot read {name}: {error.strerror or error})"
        if name.endswith(TEXT_SUFFIXES):
            data = data.replace(b"\r\n", b"\n")
        whole.update(f"{name}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    return whole.hexdigest()[:CODE_DIGITS]


def utc_now() -> str:
    """Now, in UTC, as ISO 8601 to the second with ``Z``: ``2026-12-07T02:05:11Z``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def library_versions(runtime: str | None = None, packages: tuple[str, ...] = SCAN_PACKAGES) -> dict[str, str | None]:
    """The versions of the ``runtime``'s packages (none for None) and of ``packages``, in that order, as
    :func:`package_version` gives them."""
    names = (*RUNTIME_PACKAGES.get(runtime or "", ()), *packages)
    return {name: package_version(name) for name in names}


def package_version(name: str) -> str | None:
    """The version of package ``name`` that this process imports (see the module's docstring): ``"1.32.0"``, a
    variant's ``"onnxruntime-gpu 1.20.1"``, ``"unknown (…)"`` when the module imported is from no installed
    distribution, or None when the package is neither importable nor installed. Nothing is imported."""
    return _version(name, _imported_from(IMPORT_NAMES.get(name, name)))


def version_text(name: str, version: object) -> str:
    """``numpy 2.4.6``; ``onnxruntime-gpu 1.20.1`` (a variant names itself); ``dlib unknown (…)``;
    ``dlib (not installed)`` (``version`` None). A value from a file is taken as text, whatever it is."""
    if version is None:
        return f"{name} (not installed)"
    text = str(version)
    return text if " " in text and not text.startswith(UNKNOWN) else f"{name} {text}"


def versions_text(libraries: dict[str, str | None]) -> str:
    """``numpy 2.4.6, Pillow 13.0.0, onnxruntime-gpu 1.20.1, …`` (see :func:`version_text`)."""
    return ", ".join(version_text(name, version) for name, version in libraries.items())


def _imported_from(module: str) -> tuple[str, str] | None:
    """Where ``module`` (top-level) is imported from, as (the folder it lies in, a ``sys.path`` entry with links
    resolved; the module's file relative to it, ``/``-separated): the module imported if it is, else the one an
    import would find (located, not imported). None when it cannot be imported, or not from a file in a folder (a
    namespace package, a zip)."""
    loaded = sys.modules.get(module)
    try:
        spec = getattr(loaded, "__spec__", None) if loaded is not None else importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    if not origin or not getattr(spec, "has_location", False):
        return None
    path = Path(os.path.realpath(origin))  # the file that runs (a folder linked into site-packages is not another)
    root = path.parent.parent if spec.submodule_search_locations is not None else path.parent
    if not root.is_dir():
        return None
    return str(root), path.relative_to(root).as_posix()  # root: a real path, as os.path.realpath gives


@functools.cache
def _version(name: str, where: tuple[str, str] | None) -> str | None:
    """:func:`package_version` of ``name`` imported from ``where`` (:func:`_imported_from`), once per process."""
    if where is None:  # not importable (or not from a folder): the installed distribution's, as metadata says
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    root, file = where
    found = _owners(root, name, file)
    if len(found) == 1:
        return found[0][1] if _normal(found[0][0]) == _normal(name) else " ".join(found[0])
    if found:  # its file is listed, with its hash, by several (a variant installed over it, a stale dist-info)
        return f"{UNKNOWN} (the copy imported could be {_either(found)})"
    for entry in sys.path:  # the module comes from no distribution: is one installed elsewhere?
        if entry and os.path.isdir(entry) and os.path.realpath(entry) != root:
            other = _owners(entry, name, file, check=False)
            if other:
                return f"{UNKNOWN} (the copy imported is not the installed {_either(other, '')})"
    return f"{UNKNOWN} (the copy imported is from no installed distribution)"


def _either(found: list[tuple[str, str]], owned: str = "'s") -> str:
    """``Pillow 13.0.0's or Pillow-SIMD 9.0.0.post1's``."""
    named = [f"{name} {version}{owned}" for name, version in found]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} or {named[-1]}"


def _owners(folder: str, name: str, file: str, check: bool = True) -> list[tuple[str, str]]:
    """(name, version) of the distributions in ``folder`` that hold ``file`` (relative to it), one as a rule.

    The one of the package's own name when no other there is named ``<name>-…`` (its metadata alone is read); else
    those of that name or ``<name>-…`` (``onnxruntime-gpu``) whose ``RECORD`` lists ``file``; when none does, any
    other there whose ``RECORD`` lists it; when none does, the one of the package's own name, at its word. When
    several list it, those whose ``RECORD`` hash is the file's, else those that list it with no hash (an egg-info's
    ``installed-files.txt``: one whose hash is not the file's was installed over) (with ``check``: the file is the
    one in ``folder``, not a copy elsewhere). [] when none holds it."""
    installed = _distributions_in(folder)
    wanted = _normal(name)
    own = installed.get(wanted, [])
    variants = [info for other, infos in installed.items() if other.startswith(wanted + "-") for info in infos]
    if len(own) == 1 and not variants:
        return [_name_version(own[0])]
    records = {info: _record(info, file) for info in (*own, *variants)}
    listing = [info for info, entry in records.items() if entry is not None]
    if not listing:  # listed by none of those: by another there?
        others = {info: _record(info, file) for infos in installed.values() for info in infos if info not in records}
        records.update(others)
        listing = [info for info, entry in others.items() if entry is not None]
    if not listing:  # by none: the package's own distribution there (if any) is taken at its word
        listing = own
    if len(listing) > 1 and check:  # the one whose hash is the file's; else those that give none (an egg-info)
        digest = _digest(Path(folder, file))
        listing = ([info for info in listing if records.get(info) == digest]
                   or [info for info in listing if not records.get(info)] or listing)
    return [_name_version(info) for info in listing]


@functools.cache
def _distributions_in(folder: str) -> dict[str, list[Path]]:
    """The metadata folders (``*.dist-info``, ``*.egg-info``) in ``folder``, by normalized distribution name, in
    sorted order; for an ``*.egg`` folder (``setup.py install``), its ``EGG-INFO``."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return {}
    found: dict[str, list[Path]] = {}
    if folder.endswith(".egg") and "EGG-INFO" in entries:  # the egg is on the path, its metadata inside it
        found[_normal(os.path.basename(folder).split("-", 1)[0])] = [Path(folder, "EGG-INFO")]
    for entry in entries:
        if entry.endswith((".dist-info", ".egg-info")):
            found.setdefault(_normal(entry.rsplit(".", 1)[0].split("-", 1)[0]), []).append(Path(folder, entry))
    return found


def _record(info: Path, file: str) -> str | None:
    """The hash (``sha256=…``, maybe empty) with which the distribution whose metadata is in ``info`` lists
    ``file`` (relative to its folder) among the files it installed; None when it does not list it."""
    try:
        record = b"\n" + (info / "RECORD").read_bytes()
    except OSError:  # an egg-info: installed-files.txt (no hashes), relative to the egg-info folder, as written
        try:  # (not ``PathDistribution.files``: SOURCES.txt, the source tree's, before Python 3.12, and relative to
            listed = (info / "installed-files.txt").read_text(errors="replace").splitlines()  # the folder since)
        except OSError:
            return None
        target = os.path.normpath(info.parent / file)
        return "" if any(os.path.normpath(info / path) == target for path in listed if path) else None
    for line in (f"\n{file},".encode(), f'\n"{file}",'.encode()):  # searched, not parsed: TensorFlow's is 3 MB
        at = record.find(line)
        if at >= 0:
            start = at + len(line)
            ends = [end for end in (record.find(b",", start), record.find(b"\n", start)) if end >= 0]
            return record[start:min(ends, default=len(record))].strip().decode("ascii", "replace")
    return None


def _digest(path: Path) -> str | None:
    """``sha256=…`` of ``path``'s bytes as ``RECORD`` writes it (urlsafe base64, unpadded); None if unreadable."""
    import base64
    import hashlib

    try:
        digest = hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return None
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _name_version(info: Path) -> tuple[str, str]:
    """The name (as its metadata spells it, else as its folder does) and version of the distribution whose
    metadata is in ``info``."""
    read = metadata.PathDistribution(info).metadata  # parsed once (``.version`` would parse it again)
    return read["Name"] or info.name.rsplit(".", 1)[0].split("-", 1)[0], read["Version"] or UNKNOWN


def _normal(name: str) -> str:
    """A distribution name normalized (PEP 503): ``Pillow_SIMD`` -> ``pillow-simd``."""
    return re.sub(r"[-_.]+", "-", name).lower()
