"""Provenance: when a result was made, and the versions of the libraries that decide it.

Read from the installed packages' metadata (:func:`importlib.metadata.version`), once per process: no library is
imported to read its version (TensorFlow alone takes seconds to import).
"""

from __future__ import annotations

import datetime as dt
import functools
from importlib import metadata

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
_DISTRIBUTIONS = {"dlib": ("dlib", "dlib-bin")}
"""Packages installed under another distribution name (``pip install dlib-bin`` gives ``import dlib``)."""


def utc_now() -> str:
    """Now, in UTC, as ISO 8601 to the second with ``Z``: ``2026-12-07T02:05:11Z``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def library_versions(runtime: str | None = None, packages: tuple[str, ...] = SCAN_PACKAGES) -> dict[str, str | None]:
    """The installed versions of the ``runtime``'s packages (none for None) and of ``packages``, in that order;
    None for one that is not installed."""
    names = (*RUNTIME_PACKAGES.get(runtime or "", ()), *packages)
    return {name: package_version(name) for name in names}


@functools.cache
def package_version(name: str) -> str | None:
    """The installed version of package ``name`` (its metadata only: nothing is imported), or None."""
    for distribution in _DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions_text(libraries: dict[str, str | None]) -> str:
    """``numpy 2.4.6, Pillow 13.0.0, …`` (a package that is not installed: ``name (not installed)``)."""
    return ", ".join(f"{name} {version or '(not installed)'}" for name, version in libraries.items())
