"""The performance page: ``refpe bench`` reports kept in ``docs/reports/``, their targets, and
their size sweeps as figures (one panel per swept benchmark)."""

from __future__ import annotations

import os
from typing import Any

import refpe_figures
import refpe_gpu
from refpe_conformance import kept_reports
from refpe_rst import escape, heading, list_table, literal, warnings_off, write


def _num(v: Any, unit: str = "") -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, (int, float)):
        if unit == "s":
            return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
        return f"{v:.3g}"
    return escape(v)


def _peak(c: dict[str, Any]) -> str:
    if not c.get("peak_bytes"):
        return ""
    how = {"rss": "resident set", "tracemalloc": "tracemalloc"}.get(c.get("peak_how"), "")
    ratio = f", {c['peak_vs_array']:.2f} × the array" if c.get("peak_vs_array") else ""
    return escape(f"; peak {c['peak_bytes'] / 2**20:.0f} MiB ({how}{ratio})".replace("()", ""))


def bench_block(name: str, data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in data.get("libraries", {}).items())
    out = [
        f"**Measured** {escape(data.get('created', '?'))} · "
        f"**{'large' if data.get('large') else 'quick' if data.get('quick') else 'full'} sizes** · "
        f"**run time** {_num(data.get('seconds'), 's')}\n",
        "**Machine** " + escape(", ".join(f"{k} {v}" for k, v in machine.items())) + "\n",
        f"**Libraries** {escape(libs)}\n" if libs else "",
        f":download:`JSON <../reports/{name}>`\n",
    ]
    rows = []
    for r in data.get("results", []):
        for label, c in r.get("candidates", {}).items():
            rows.append(
                (
                    literal(r.get("spec", "")),
                    escape(r.get("case", "")),
                    literal(f"{r.get('backend', '')} {r.get('device', '')} {r.get('dtype', '')}"),
                    escape(f"{label} ({c.get('role', '')})"),
                    _num(c.get("median_s"), "s"),
                    _num(c.get("gbytes_per_s")),
                    _num(c.get("vs_copy")),
                    _num(c.get("vs_peer")),
                    _num(c.get("error")),
                    escape(c.get("skipped") or c.get("name", "")) + _peak(c),
                )
            )
    if rows:
        header = ("spec", "case", "where", "candidate", "median", "GB/s", "vs copy", "vs peer",
                  "error", "what ran")  # fmt: skip
        out.append(list_table(header, rows, "9 10 11 10 8 7 7 7 7 24"))
    targets = data.get("targets", [])
    if targets:
        out.append(heading("Targets", "~"))
        out.append(
            list_table(
                ("target", "measured", "wanted", "met"),
                (
                    (
                        escape(t.get("name", "")),
                        _num(t.get("measured")),
                        _num(t.get("target")),
                        "**yes**" if t.get("met") else "**no**",
                    )
                    for t in targets
                ),
                "55 15 15 15",
            )
        )
    return "\n".join(o for o in out if o)


def sweep_figures(srcdir: str, out: str) -> dict[str, list[tuple[str, int, str]]]:
    """For each bench report with sweeps, one figure per swept benchmark (a readable panel):
    report name -> ``[(file, width, alt text), ...]``."""
    made: dict[str, list[tuple[str, int, str]]] = {}
    for name, data in kept_reports(srcdir, "bench"):
        if not (isinstance(data, dict) and data.get("sweeps")):
            continue
        stem = os.path.splitext(name)[0]
        for n, sw in enumerate(data["sweeps"]):
            file = f"bench-{stem}-sweep-{n}.png"
            with warnings_off():
                png, width = refpe_figures.render(
                    lambda _, sw=sw: refpe_figures.bench_sweep(sw), None
                )
            write(os.path.join(out, "figures", file), png)
            alt = (
                f"Median seconds against {sw.get('axis', 'size')} on log-log axes for "
                f"{sw.get('spec', '?')} on {sw.get('backend', '?')}, one line per candidate"
            )
            made.setdefault(name, []).append((file, width, alt))
    return made


def target_notes(data: dict[str, Any]) -> str:
    """For each target the report misses, why (``refpe.bench.target_table.WHY``, the README's
    reasons too)."""
    from refpe.bench.target_table import WHY

    notes = []
    for t in data.get("targets", []):
        if t.get("met") is False:
            why = WHY.get(t.get("name", ""), "Not explained.").replace("`", "``")
            notes.append(f"* **Not met:** {escape(t.get('name', ''))}. {why}")
    return "\n".join(notes) + "\n" if notes else ""


def performance_page(
    srcdir: str, sweeps: dict[str, list[tuple[str, int, str]]] | None = None
) -> str:
    out = [heading("Performance")]
    out.append(
        "``refpe bench`` times the reference, refpe's kernels and the usual peers on the same "
        "inputs in one run, against a memory copy of the output's bytes (``vs copy`` = 1: copy "
        "speed; ``vs peer`` > 1: faster than the peer), and measures each output's normalised "
        "error. Numbers come only from reports kept in ``docs/reports/``. The public "
        "functions answer through these kernels by default (:doc:`/guides/kernels`); the "
        '``reference`` rows are ``kernel="reference"``.\n'
    )
    found = kept_reports(srcdir, "bench")
    on_gpu = any(
        r.get("device", "cpu") != "cpu"
        for _, data in found
        if isinstance(data, dict)
        for r in data.get("results", [])
    )
    if not on_gpu:
        out.append(heading("GPUs: not measured", "-"))
        out.append(
            "No report here was measured on a GPU, so the GPU target (RoPE on PyTorch CUDA and "
            "CuPy at 60 % or more of the GPU's copy bandwidth) is open: ``refpe bench --device "
            "cuda`` (or ``scripts/gpu_reports.py``, which also runs the GPU conformance) "
            "measures it on a CUDA machine; the CuPy kernels and the PyTorch kernels' CUDA "
            "paths are tested on the CPU only so far.\n"
        )
    out.append(refpe_gpu.gpu_section(srcdir, "bench"))  # the GPU reports' summary, if any
    if not found:
        out.append(
            "Not measured yet: ``docs/reports/`` holds no ``bench*.json`` report. "
            "``refpe bench --json docs/reports/bench-NAME.json`` writes one; it is rendered here "
            "with the machine and the date it was measured on.\n"
        )
        return "\n".join(out)
    for name, data in found:
        out.append(heading(name, "-"))
        if isinstance(data, dict) and data.get("schema", "").startswith("refpe-bench/"):
            out.append(bench_block(name, data))
            out.append(target_notes(data))
            for file, width, alt in (sweeps or {}).get(name, []):
                out.append(
                    f".. figure:: /_generated/figures/{file}\n   :width: {width}px\n"
                    f"   :alt: {escape(alt)}\n\n"
                    "   Time against size (``refpe bench --sweep``, log-log): a slope of one is "
                    "linear growth in the bytes; a step shows a working set leaving a cache.\n"
                )
            continue
        out.append(f"A report of unknown schema; :download:`JSON <../reports/{name}>`.\n")
        rows = data.get("results") if isinstance(data, dict) else None
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
            keys = list(dict.fromkeys(k for r in rows for k in r))
            out.append(list_table(keys, ([escape(r.get(k, "")) for k in keys] for r in rows)))
    return "\n".join(out)
