"""What every sub-command of ``refpe`` shares: the usage error and its exit status, the
comma-separated option values, and the console the tables are printed on."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

#: Exit status for bad usage (argparse's own).
USAGE_ERROR = 2


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


def split_csv(values: Sequence[str] | None) -> tuple[str, ...]:
    """The values of a repeated option, each possibly comma-separated: ``["a,b", "c"]`` gives
    ``("a", "b", "c")``; empty items are dropped."""
    return tuple(v for item in values or () for v in item.split(",") if v)


def console() -> Any:
    """A rich console; wide when the output is not a terminal (CI logs, files)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)
