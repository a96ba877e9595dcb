"""The GPU reports kept in ``docs/reports/`` (written by ``scripts/gpu_reports.py``), as a
section of reStructuredText for the conformance and performance pages.

``gpu_section(srcdir, "conformance")`` lists ``conformance-gpu-<device>-<date>.json`` (verdict
counts by backend and device, the settings the checks ran under); ``gpu_section(srcdir,
"bench")`` lists ``bench-gpu-<device>-<date>.json`` (each kernel's fraction of the device's
copy bandwidth and its speed against the peer, and the targets). Either is ``""`` when no
such report is kept, so a page can call it unconditionally.
"""

from __future__ import annotations

import glob
import json
import os
from collections import Counter
from typing import Any

PREFIX = {"conformance": "conformance-gpu-", "bench": "bench-gpu-"}


def gpu_reports(srcdir: str, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """``(file name, report)`` of the kept GPU reports of ``kind``, newest name last."""
    found = []
    for path in sorted(glob.glob(os.path.join(srcdir, "reports", f"{PREFIX[kind]}*.json"))):
        with open(path, encoding="utf-8") as f:
            found.append((os.path.basename(path), json.load(f)))
    return found


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}" if isinstance(v, (int, float)) else str(v)


def gpu_section(srcdir: str, kind: str) -> str:
    """The reStructuredText of the kept GPU reports of ``kind`` (``""`` when none)."""
    reports = gpu_reports(srcdir, kind)
    if not reports:
        return ""
    out = ["GPU reports\n-----------\n"]
    for name, data in reports:
        out.append(f"``{name}`` (:download:`JSON <../reports/{name}>`)\n")
        if kind == "conformance":
            counts = Counter(
                (r.get("backend"), r.get("device"), r.get("verdict"))
                for r in data.get("results", [])
            )
            for (b, dev, verdict), n in sorted(counts.items(), key=str):
                out.append(f"- {b} {dev}: {n} {verdict}")
            for b, s in data.get("gpu", {}).get("settings_while_checking", {}).items():
                out.append(
                    f"- {b} while checking: " + ", ".join(f"``{k}={v}``" for k, v in s.items())
                )
        else:
            if data.get("skipped"):
                out.append(f"- nothing measured: {data['skipped']}")
            for r in data.get("results", []):
                for label, c in r.get("candidates", {}).items():
                    if c.get("role") == "kernel":
                        out.append(
                            f"- {r['spec']} {r['case']} {label}: vs copy "
                            f"{_num(c.get('vs_copy'))}, vs peer {_num(c.get('vs_peer'))}"
                        )
            for t in data.get("targets", []):
                out.append(
                    f"- target {'met' if t['met'] else 'NOT met'}: {t['name']} "
                    f"({_num(t['measured'])})"
                )
        out.append("")
    return "\n".join(out) + "\n"
