"""reST helpers shared by the page generators: writing files, headings, tables, escaping."""

from __future__ import annotations

import contextlib
import os
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any


def write(path: str, content: str | bytes) -> bool:
    """Write ``content`` to ``path`` unless it is there already; whether it was written."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return True


def heading(text: str, char: str = "=") -> str:
    # Chinese characters take two columns: docutils wants the underline as wide as the title.
    width = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return f"{text}\n{char * max(width, 3)}\n"


def indent(text: str, n: int = 3) -> str:
    pad = " " * n
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def literal(text: Any) -> str:
    """``text`` as inline literal reST (backquotes and edge spaces made safe)."""
    s = str(text).replace("`", "'").strip()
    return f"``{s}``" if s else ""


def escape(text: Any) -> str:
    """Plain text safe inside reST paragraphs and table cells."""
    s = str(text)
    for ch in ("\\", "*", "`", "|", "_"):
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def list_table(header: Iterable[str], rows: Iterable[Iterable[str]], widths: str = "") -> str:
    rows = list(rows)
    out = [".. list-table::", "   :header-rows: 1", "   :class: refpe-table"]
    if widths:
        out.append(f"   :widths: {widths}")
    out.append("")
    for row in [list(header), *rows]:
        # a cell of several lines (a bullet list) continues under its first line
        cells = [str(c).replace("\n", "\n       ") if str(c).strip() else " " for c in row]
        out.append(f"   * - {cells[0]}")
        out.extend(f"     - {c}" for c in cells[1:])
    return "\n".join(out) + "\n"


def env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated environment variable as a tuple, ``default`` when unset."""
    return tuple(v for v in os.environ.get(name, ",".join(default)).split(",") if v)


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def spec_ref(sid: str) -> str:
    """A link to a spec's page, or the id as text when no such spec is registered."""
    import refpe

    known = {s.id for s in refpe.specs()}
    return f":ref:`{sid} <spec-{sid}>`" if sid in known else literal(sid)
