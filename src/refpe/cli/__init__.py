"""The ``refpe`` command: specs, conformance, conventions, vectors, bench.

Exit status: 0 when everything asked for passed, 1 when anything failed, 2 for bad usage.
The suite and the backends are imported only by the sub-commands that need them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import bench, conformance, specs, vectors
from .common import USAGE_ERROR, UsageError
from .specs import specs_markdown

__all__ = ["USAGE_ERROR", "UsageError", "main", "parser", "specs_markdown"]


def parser() -> argparse.ArgumentParser:
    """The ``refpe`` argument parser, its sub-commands in the order ``--help`` lists them."""
    p = argparse.ArgumentParser(prog="refpe", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    for module in (specs, conformance, vectors, bench):
        module.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``refpe`` with ``argv`` (default: the process's arguments); the exit status."""
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"refpe: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
