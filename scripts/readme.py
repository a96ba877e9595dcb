"""Write the README's generated blocks: the spec table (``refpe specs --markdown``) and the
performance tables of the kept ``refpe bench`` reports (``make readme``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from refpe.bench.summary import markdown
from refpe.cli import specs_markdown

ROOT = Path(__file__).resolve().parents[1]
#: README marker name -> the kept report whose tables go between its markers.
REPORTS = {
    "bench": "docs/reports/bench-cpu.json",
    "bench-large": "docs/reports/bench-vectors-large.json",
}


def blocks() -> dict[str, str]:
    """Each marker's text, from the registry and the kept reports."""
    out = {"specs": specs_markdown()}
    for marker, report in REPORTS.items():
        out[marker] = markdown(json.loads((ROOT / report).read_text(encoding="utf-8")))
    return out


def main() -> None:
    path = ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    for marker, body in blocks().items():
        pattern = rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)"
        if not re.search(pattern, text, flags=re.S):
            raise SystemExit(f"README.md has no <!-- {marker}:start/end --> markers")
        text = re.sub(pattern, lambda m, b=body: m[1] + b.strip() + "\n" + m[2], text, flags=re.S)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
