"""``refpe specs``: the registered specs as a table, JSON or the README's Markdown table."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import console


def specs_markdown() -> str:
    """The spec list as the Markdown table the README carries (kept current by a test)."""
    import refpe

    lines = ["| spec id | function | what | sources |", "|---|---|---|---|"]
    for s in refpe.specs():
        lines.append(f"| `{s.id}` | `refpe.{s.name}` | {s.title} | {'; '.join(s.sources)} |")
    return "\n".join(lines)


def _specs(args: argparse.Namespace) -> int:
    import refpe

    rows = [
        {
            "id": s.id,
            "name": s.name,
            "title": s.title,
            "section": s.section,
            "sources": list(s.sources),
            "dtypes": list(s.dtypes),
            "cases": len(s.cases),
            "K": dict(s.error.K),
        }
        for s in refpe.specs()
    ]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    if args.markdown:
        print(specs_markdown())
        return 0
    from rich.table import Table

    t = Table(title=f"refpe specs ({len(rows)})")
    for col in ("id", "function", "title", "sources"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["id"], f"refpe.{r['name']}", r["title"], "; ".join(r["sources"]))
    console().print(t)
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``specs`` to ``refpe``'s sub-command parsers."""
    s = subparsers.add_parser("specs", help="list the registered specs")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--markdown", action="store_true", help="print the README's Markdown table")
    s.set_defaults(handler=_specs)
