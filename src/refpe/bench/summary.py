"""The README's performance tables, written from a kept ``refpe bench`` report.

``refpe bench --markdown REPORT.json`` prints them; ``make readme`` puts them between the
README's ``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers, and a test checks that
the README carries the tables of ``docs/reports/bench-cpu.json``.
"""

from __future__ import annotations

from typing import Any

from .target_table import WHY, targets

__all__ = ["markdown"]


def _time(s: float) -> str:
    return f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"


def _ratio(v: Any) -> str:
    return "—" if v is None else f"{v:.3g}"


def _shape(shape: dict[str, Any]) -> str:
    return ", ".join(f"{k} {'×'.join(map(str, v)) if isinstance(v, list) else v}"
                     for k, v in shape.items())  # fmt: skip


def _candidate(r: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """refpe's fastest timed candidate of a result: a kernel where one ran, else the reference."""
    timed = [(k, c) for k, c in r["candidates"].items()
             if c["role"] in ("kernel", "reference") and c.get("median_s")]  # fmt: skip
    kernels = [kc for kc in timed if kc[1]["role"] == "kernel" and "cached" not in kc[0]]
    pool = kernels or timed
    return min(pool, key=lambda kc: kc[1]["median_s"]) if pool else None


def _notes(c: dict[str, Any], r: dict[str, Any]) -> str:
    out = []
    fb = r["candidates"].get("fallback", {})
    if fb.get("median_s") and c.get("median_s"):
        without = fb["name"][fb["name"].rfind("(") :]  # "(without numba)"
        out.append(f"{without[1:-1]}: {fb['median_s'] / c['median_s']:.3g} × the time")
    if c.get("error") is not None:
        out.append(f"error {c['error']:.3g} eps")
    if c.get("vs_sin") is not None:
        out.append(f"{c['vs_sin']:.3g} × sin")
    if c.get("peak_bytes"):
        ratio = c.get("peak_vs_array")
        out.append(f"peak {c['peak_bytes'] / 2**20:.0f} MiB"
                   + (f" ({ratio:.2f} × the array)" if ratio else ""))  # fmt: skip
    return "; ".join(out)


def markdown(doc: dict[str, Any]) -> str:
    """The results (refpe's fastest candidate against copy and the peer) of a ``refpe-bench/1``
    report and the targets of :data:`~refpe.bench.target_table.TARGETS` that its results
    measure, as two Markdown tables, then why each missed target is missed
    (:data:`~refpe.bench.target_table.WHY`)."""
    lines = [
        "| work | shape | refpe (what ran) | time | vs copy | vs peer (peer) | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in doc["results"]:
        pick = _candidate(r)
        if pick is None:
            continue
        _, c = pick
        peer = next((p for p in r["candidates"].values() if p["role"] == "peer"), None)
        versus = f"{_ratio(c.get('vs_peer'))} ({peer['name']})" if peer else "—"
        work = f"{r['spec']} {r['case']}, {r['backend']} {r['dtype']}"
        lines.append(f"| {work} | {_shape(r['shape'])} | `{c['name']}` | {_time(c['median_s'])} "
                     f"| {_ratio(c.get('vs_copy'))} | {versus} | {_notes(c, r)} |")  # fmt: skip
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    found = targets(doc["results"])  # today's targets, on the kept measurements
    for t in found:
        lines.append(f"| {t['name']} | {t['measured']:.3g} | {'yes' if t['met'] else '**no**'} |")
    missed = [t["name"] for t in found if not t["met"]]
    if missed:
        lines += ["", "Why the missed targets are missed, with the measurements that show it:", ""]
        lines += [f"- **{name}**: {WHY.get(name, 'no reason recorded.')}" for name in missed]
    return "\n".join(lines)
