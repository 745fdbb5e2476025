"""mesocli: find faces in videos and tell whether they were tampered with (MesoNet).

From Python: :func:`load_model`, :func:`scan` (and :func:`iter_scan`), :func:`extract`, :func:`evaluate`
(see :mod:`mesocli.api`), and the result types :class:`ScanResult`, :class:`ExtractSummary`,
:class:`EvalReport`. They are imported on first use, so ``import mesocli`` stays light (PEP 562).

``mesocli.scan``, ``mesocli.extract`` and ``mesocli.evaluate`` are always the functions, even once the
modules of the same names are imported: reach those with ``from mesocli.scan import ...``.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "load_model": "mesocli.api", "scan": "mesocli.api", "iter_scan": "mesocli.api", "extract": "mesocli.api",
    "evaluate": "mesocli.api", "ScanResult": "mesocli.scan", "ExtractSummary": "mesocli.extract",
    "EvalReport": "mesocli.evaluate",
}
_MODULES = ("api", "errors")  # reachable as attributes without their own import
__all__ = ["EvalReport", "ExtractSummary", "ScanResult", "__version__", "evaluate", "extract", "iter_scan",
           "load_model", "scan"]

if TYPE_CHECKING:
    from mesocli.api import evaluate, extract, iter_scan, load_model, scan
    from mesocli.evaluate import EvalReport
    from mesocli.extract import ExtractSummary
    from mesocli.scan import ScanResult


class _Package(ModuleType):
    """The package, whose API names win over its submodules of the same names (scan, extract, evaluate),
    which the import system would otherwise bind on the package when they are first imported."""

    def __getattribute__(self, name: str) -> Any:
        if name in _API:
            return getattr(import_module(_API[name]), name)
        return super().__getattribute__(name)

    def __getattr__(self, name: str) -> Any:
        """``mesocli.api``, ``mesocli.errors``: the modules the README names, imported on first use."""
        if name in _MODULES:
            return import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        """The API, its modules and the dunders: not what the package imports for itself (``sys``, ``Any``)."""
        dunders = {name for name in super().__dir__() if name.startswith("__")}
        return sorted({*dunders, *__all__, *_MODULES})


sys.modules[__name__].__class__ = _Package
