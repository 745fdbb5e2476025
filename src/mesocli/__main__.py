"""``python -m mesocli``: the same as the ``mesocli`` command."""
from mesocli.cli import entry

entry()
