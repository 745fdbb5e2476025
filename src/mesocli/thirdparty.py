"""Third-party imports under the user's warning filters: a library's own deprecation notices (matplotlib 3.8-3.10
under pyparsing 3.3) are not errors under ``PYTHONWARNINGS=error``; mesocli's own warnings stay the user's."""

from __future__ import annotations

import contextlib
import re
import threading
import warnings
from collections.abc import Iterator

# matplotlib's own modules call pyparsing's deprecated names (pyparsing >= 3.3 warns, attributed to matplotlib)
MATPLOTLIB = ("matplotlib", "pyparsing")

FILTERS_LOCK = threading.RLock()
"""Held by every mesocli block that changes the warning filters for a while (``warnings.catch_warnings``, which in
Python 3.11 saves and restores the filters of the whole process): two such blocks in two threads (a scan's input
reader opening an image while the main thread imports matplotlib for a report) would restore each other's filters
and leave one set for good."""


@contextlib.contextmanager
def their_deprecations(*packages: str) -> Iterator[None]:
    """A block in which (Pending)DeprecationWarnings raised by ``packages``' own code are ignored; every other
    warning, mesocli's own included, follows the user's filters. After it, the filters are the user's and those
    that the block added itself (a library's import: scipy ignores "numpy.ndarray size changed"), as without it."""
    module = "(" + "|".join(map(re.escape, packages)) + r")(\.|$)"
    with FILTERS_LOCK:
        with warnings.catch_warnings():
            before = list(warnings.filters)
            for category in (DeprecationWarning, PendingDeprecationWarning):
                warnings.filterwarnings("ignore", category=category, module=module)
            ours = warnings.filters[:2]
            try:
                yield
            finally:
                added = [entry for entry in warnings.filters
                         if entry not in before and not any(entry is mine for mine in ours)]
        for action, message, category, where, lineno in reversed(added):  # each goes in front, in its order
            warnings.filterwarnings(action, message.pattern if message else "", category,
                                    where.pattern if where else "", lineno)
