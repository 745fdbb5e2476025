"""Provenance: when a result was made, and the versions of the libraries that decide it.

A library's version is its distribution's, the one that holds the module this process imports (or would import: it
is located, never imported, so TensorFlow's seconds of import are not spent on a record), read from that
distribution's metadata once per process:

- the distribution of the package's own name in the folder the module comes from, as a rule: ``"1.32.0"``;
- else the one there whose ``RECORD`` lists the module's file, named with its version (``"onnxruntime-gpu 1.20.1"``,
  ``"dlib-bin 20.0.1.post1"``, ``"Pillow-SIMD 9.0.0.post1"``): a variant installed under another name is what ran;
- else ``"unknown (…)"``: the module comes from no installed distribution (a ``PYTHONPATH`` folder, a second
  site-packages), and the version of one installed elsewhere is not that of the code that ran, so it is named as
  such and not taken for it;
- ``None`` when the package is neither importable nor installed.

:func:`importlib.metadata.packages_distributions` would map modules to distributions too, but it reads every
installed distribution's metadata (about 0.25 s on a 90-distribution environment, at each start) and trusts
``top_level.txt``, which need not name the package (``dlib-bin``'s names ``_dlib_pybind11`` only).
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
TRAIN_PACKAGES = ("numpy", "Pillow", "h5py")
"""What a training run also rests on (besides TensorFlow and Keras): arrays, the image reader that decodes the
faces, and the HDF5 library that writes the weights."""
IMPORT_NAMES = {"Pillow": "PIL", "imageio-ffmpeg": "imageio_ffmpeg"}
"""The module a package is imported as, where it is not the package's name."""
UNKNOWN = "unknown"
"""How a version that cannot be told begins: ``unknown (the copy imported is not the installed numpy 2.4.6)``."""


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
    """Where ``module`` (top-level) is imported from, as (the folder on ``sys.path``, the module's file relative to
    it, ``/``-separated): the module imported if it is, else the one an import would find (located, not imported).
    None when it cannot be imported, or not from a file in a folder (a namespace package, a zip)."""
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
    return str(root), path.relative_to(root).as_posix()


@functools.cache
def _version(name: str, where: tuple[str, str] | None) -> str | None:
    """:func:`package_version` of ``name`` imported from ``where`` (:func:`_imported_from`), once per process."""
    if where is None:  # not importable (or not from a folder): the installed distribution's, as metadata says
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    root, file = where
    found = _owner(root, name, file)
    if found is not None:
        return found[1] if _normal(found[0]) == _normal(name) else f"{found[0]} {found[1]}"
    for entry in sys.path:  # the module comes from no distribution: is one installed elsewhere?
        if entry and os.path.isdir(entry) and os.path.realpath(entry) != os.path.realpath(root):
            other = _owner(entry, name, file)
            if other is not None:
                return f"{UNKNOWN} (the copy imported is not the installed {other[0]} {other[1]})"
    return f"{UNKNOWN} (the copy imported is from no installed distribution)"


def _owner(folder: str, name: str, file: str) -> tuple[str, str] | None:
    """(name, version) of the distribution in ``folder`` that holds ``file`` (relative to it): the one of the
    package's own name if there is one (its metadata alone is read), else one whose ``RECORD`` lists ``file``,
    those named ``<name>-…`` (``onnxruntime-gpu``) first; None if none does."""
    installed = _distributions_in(folder)
    wanted = _normal(name)
    if wanted in installed:
        return _name_version(installed[wanted], name)
    variants = sorted(installed, key=lambda other: not other.startswith(wanted + "-"))
    for other in variants:
        if _lists(installed[other], file):
            return _name_version(installed[other], other)
    return None


@functools.cache
def _distributions_in(folder: str) -> dict[str, Path]:
    """The metadata folders (``*.dist-info``, ``*.egg-info``) in ``folder``, by normalized distribution name (the
    first of a name, in sorted order)."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return {}
    found: dict[str, Path] = {}
    for entry in entries:
        if entry.endswith((".dist-info", ".egg-info")):
            found.setdefault(_normal(entry.rsplit(".", 1)[0].split("-", 1)[0]), Path(folder, entry))
    return found


def _lists(info: Path, file: str) -> bool:
    """Whether the distribution whose metadata is in ``info`` installed ``file`` (relative to its folder)."""
    try:
        record = (info / "RECORD").read_text(encoding="utf-8", errors="replace")
    except OSError:  # an egg-info: installed-files.txt, relative to the egg-info folder
        files = metadata.PathDistribution(info).files or []
        target = os.path.normpath(info.parent / file)
        return any(os.path.normpath(info / str(listed)) == target for listed in files)
    return any(line.split(",", 1)[0].strip('"') == file for line in record.splitlines() if line.startswith(
        (file, f'"{file}')))


def _name_version(info: Path, fallback: str) -> tuple[str, str]:
    """The name (as its metadata spells it) and version of the distribution whose metadata is in ``info``."""
    read = metadata.PathDistribution(info).metadata  # parsed once (``.version`` would parse it again)
    return read["Name"] or fallback, read["Version"]


def _normal(name: str) -> str:
    """A distribution name normalized (PEP 503): ``Pillow_SIMD`` -> ``pillow-simd``."""
    return re.sub(r"[-_.]+", "-", name).lower()
