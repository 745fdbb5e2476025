"""Third-party imports under the user's warning filters: a library's own deprecation notices (matplotlib 3.8-3.10
under pyparsing 3.3) are not errors under ``PYTHONWARNINGS=error``; mesocli's own warnings stay the user's."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

# matplotlib's own modules call pyparsing's deprecated names (pyparsing >= 3.3 warns, attributed to matplotlib)
MATPLOTLIB = ("matplotlib", "pyparsing")


@contextlib.contextmanager
def their_deprecations(*packages: str) -> Iterator[None]:
    """A block in which (Pending)DeprecationWarnings raised by ``packages``' own code are ignored; every other
    warning, mesocli's own included, follows the user's filters, which are as they were after the block."""
    module = "(" + "|".join(map(re.escape, packages)) + r")(\.|$)"
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=module)
        yield
