"""The conformance pages: one grid of spec × library from a real run made while the site
builds (every installed library), the failures grouped by subject and reason, each spec's
own section, and any report kept in ``docs/reports/`` (GPU machines).

A report row is the JSON of a :class:`refpe.conformance.runner.Result`. Fields added by later
schemas (``horizon``, ``curve``, verdict ``loose``) are used when present and never required.
"""

from __future__ import annotations

import contextlib
import glob
import html
import io
import json
import os
import time
from collections import Counter, defaultdict
from typing import Any

import refpe_gpu
from refpe_rst import env_list, escape, heading, indent, list_table, literal, warnings_off, write
from sphinx.util import logging

LOG = logging.getLogger(__name__)
CONFORMANCE_SCHEMA = "refpe-conformance/2"
#: The array libraries refpe runs on in the build-time run (CPU).
ARRAY_BACKENDS = ("numpy", "array_api_strict", "torch", "jax")
#: Worst first: a cell shows its worst verdict.
ORDER = ("error", "fail", "differs", "loose", "pass", "skipped")
#: A subject's column in the grid: refpe (every backend and kernel), then one per library.
LIBRARY_COLUMNS = {
    "torch": "PyTorch built-ins",
    "jax": "JAX built-ins",
    "flax": "Flax",
    "optax": "optax",
    "transformers": "Hugging Face transformers",
    "torchtune": "torchtune",
    "x_transformers": "x-transformers",
    "rotary_embedding_torch": "rotary-embedding-torch",
    "timm": "timm",
    "keras_hub": "Keras Hub",
    "numpy": "transcribed reference code",
}


def column_of(row: dict[str, Any]) -> str:
    subject = str(row.get("subject", ""))
    if subject == "refpe" or subject.startswith("kernel:"):
        return "refpe"
    if "(transcribed)" in subject:
        return "transcribed reference code"
    return LIBRARY_COLUMNS.get(str(row.get("backend", "")), str(row.get("backend", "")))


def fmt_err(x: Any) -> str:
    if x is None:
        return "–"
    if x == "inf":
        return "∞"
    return f"{float(x):.3g}"


def fmt_horizon(h: Any) -> str:
    """A position horizon as a power of two where it is one (``2^24``), else the number."""
    if h is None:
        return "–"
    h = int(h)
    return f"2^{h.bit_length() - 1}" if h > 0 and h & (h - 1) == 0 else f"{h:,}"


def group_verdict(rows: list[dict[str, Any]]) -> tuple[str, str]:
    counts = Counter(r["verdict"] for r in rows)
    verdict = next((v for v in ORDER if counts[v]), "skipped")
    errs = [r["error"] for r in rows if r.get("error") is not None and r["verdict"] != "skipped"]
    worst = "∞" if "inf" in errs else (fmt_err(max(errs)) if errs else "–")
    text = ", ".join(f"{counts[v]} {v}" for v in reversed(ORDER) if counts[v])
    return verdict, f"{text}; worst {worst}"


def cell(rows: list[dict[str, Any]]) -> tuple[str, str, str]:
    """A grid cell: ``(verdict, text shown, text on hover)``; dtypes and horizons in both."""
    verdict, _ = group_verdict(rows)
    if verdict == "skipped":
        why = sorted({r.get("reason") or "no reason given" for r in rows})
        return verdict, "skipped: " + why[0][:90], "; ".join(why)
    by_dtype: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["verdict"] != "skipped":
            by_dtype[r["dtype"]].append(r)
    parts, hover = [], []
    for dtype, rs in sorted(by_dtype.items()):
        v, text = group_verdict(rs)
        horizons = [r.get("horizon") for r in rs if r.get("horizon") is not None]
        reach = f", horizon {fmt_horizon(min(horizons))}" if horizons else ""
        parts.append(f"{dtype} {v}{reach}")
        hover.append(f"{dtype}: {text}{reach}")
    return verdict, "; ".join(parts), " | ".join(hover)


def grid_html(data: dict[str, Any]) -> str:
    """Spec × library, each cell coloured by its worst verdict."""
    rows = [r for r in data["results"] if r["spec"] != "*"]
    cols = list(dict.fromkeys(["refpe", *sorted({column_of(r) for r in rows} - {"refpe"})]))
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        cells[(r["spec"], column_of(r))].append(r)
    import refpe

    order = [s.id for s in refpe.specs()]
    spec_ids = sorted(
        {r["spec"] for r in rows},
        key=lambda s: (s not in order, order.index(s) if s in order else 0, s),
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for sid in spec_ids:
        tds = []
        for c in cols:
            rs = cells.get((sid, c))
            if not rs:
                tds.append('<td class="v-none">–</td>')
                continue
            verdict, text, hover = cell(rs)
            tds.append(
                f'<td class="v-{verdict}" title="{html.escape(hover)}">'
                f"<b>{verdict}</b><br><small>{html.escape(text)}</small></td>"
            )
        link = f'<a href="specs/{html.escape(sid)}.html"><code>{html.escape(sid)}</code></a>'
        body.append(f"<tr><th>{link}</th>{''.join(tds)}</tr>")
    table = (
        '<div class="refpe-matrix"><table><thead><tr><th>spec</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    return ".. raw:: html\n\n" + indent(table) + "\n"


def absent(data: dict[str, Any]) -> str:
    rows = [
        (literal(r["subject"]), literal(r["backend"]), literal(r["device"]), escape(r["reason"]))
        for r in data.get("results", [])
        if r["case"] == "*" and r["verdict"] == "skipped"
    ]
    if not rows:
        return ""
    return "Not run here, with the reason:\n\n" + list_table(
        ("subject", "library", "device", "reason"), rows, "30 15 10 45"
    )


def _reason_key(reason: str) -> str:
    """A reason without its numbers, so that the same cause groups together."""
    return " ".join("#" if any(ch.isdigit() for ch in w) else w for w in reason.split())[:160]


def failures(data: dict[str, Any]) -> str:
    """Everything that did not pass, grouped by subject and reason."""
    bad = [
        r
        for r in data["results"]
        if r["verdict"] in ("fail", "error", "differs", "loose") and r["case"] != "*"
    ]
    if not bad:
        return "Every case that ran passed.\n"
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in bad:
        reason = r.get("reason") or r.get("diagnosis") or "outside the error model"
        groups[(r["subject"], r["verdict"], _reason_key(reason))].append(r)
    rows = []
    for (subject, verdict, _), rs in sorted(
        groups.items(), key=lambda kv: (ORDER.index(kv[0][1]), kv[0][0])
    ):
        first = rs[0]
        where = sorted({f"{r['spec']}: {r['case']} ({r['dtype']})" for r in rs})
        shown = "; ".join(where[:6]) + (f"; and {len(where) - 6} more" if len(where) > 6 else "")
        reason = (first.get("reason") or "") + (
            " — " + first["diagnosis"] if first.get("diagnosis") else ""
        )
        rows.append(
            (
                escape(subject),
                f"**{verdict}**",
                str(len(rs)),
                escape(reason.strip() or "outside the error model")[:400],
                escape(shown),
            )
        )
    return list_table(("subject", "verdict", "cases", "reason", "where"), rows, "20 8 6 36 30")


def report_devices(data: dict[str, Any]) -> str:
    """The devices on which something ran (not those skipped as absent)."""
    devices = sorted(
        {
            f"{r['backend']} {r['device']}"
            for r in data.get("results", [])
            if r.get("verdict") != "skipped" and r.get("device") not in ("*", None)
        }
    )
    return ", ".join(devices) or "–"


def report_block(name: str, data: dict[str, Any], level: str) -> str:
    s = data.get("summary", {})
    machine = data.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in data.get("libraries", {}).items())
    out = [
        f"**Created** {escape(data.get('created', '?'))} · "
        f"**devices** {escape(report_devices(data))} · "
        f"**wall time** {data.get('wall_seconds', '?')} s · **machine** "
        f"{escape(machine.get('platform', '?'))}, Python {escape(machine.get('python', '?'))}\n",
        "**Summary** " + " · ".join(f"{s.get(v, 0)} {v}" for v in reversed(ORDER)) + "\n",
        f"**Libraries** {escape(libs)}\n" if libs else "",
        f":download:`JSON report <{name}>`\n" if name else "",
        heading("Spec × library", level),
        grid_html(data),
        absent(data),
        heading("What did not pass, by subject and reason", level),
        failures(data),
    ]
    return "\n".join(o for o in out if o)


LEGEND = (
    "Verdicts: **pass** (within the error model's exact bound), **loose** (within the usual "
    "textbook bound only), **differs** (a documented convention of that library), **fail** "
    "(outside both, or bad input not refused), **error** (the subject raised) and **skipped** "
    "(with the reason: a library or device that is absent is never counted as passed). Each "
    "cell shows its worst verdict over the spec's cases, per dtype, with the position "
    "*horizon* (the largest position still within the exact bound) where the run measured "
    "one; hover for the counts and the worst normalised error. refpe's column folds its "
    "backends (NumPy, array-api-strict, PyTorch, JAX) and kernels together "
    "(:doc:`/guides/error-model`).\n"
)


def conformance_page(srcdir: str, report: dict[str, Any] | None) -> str:
    out = [".. _conformance-matrix:\n", heading("Conformance matrix")]
    out.append(LEGEND)
    out.append(heading("CPU, run while this site was built", "-"))
    if report:
        backends = ", ".join(report.get("docs_backends", []))
        out.append(
            f"Libraries asked for: {escape(backends)}. ``REFPE_DOCS_BACKENDS`` and "
            "``REFPE_DOCS_SUBJECTS`` choose others; the full suite is ``refpe conformance``.\n"
        )
        out.append(report_block("reports/conformance-cpu.json", report, "~"))
    else:
        out.append("The build-time run is not available.\n")
    out.append(heading("Reports kept in the repository (GPU and other machines)", "-"))
    kept = [
        (n, d)
        for n, d in kept_reports(srcdir)
        if str(d.get("schema", "")).startswith("refpe-conformance/")
    ]
    if not kept:
        out.append(
            "No GPU report is kept in the repository yet: ``docs/reports/`` holds no "
            "``refpe-conformance`` JSON file. A report written on a machine with a GPU by "
            "``refpe conformance --json docs/reports/NAME.json`` is rendered here, labelled "
            "with its device and date.\n"
        )
    for name, data in kept:
        label = f"{name}: {report_devices(data)}, {data.get('created', '?')}"
        out.append(heading(label, "~"))
        out.append(report_block(f"/reports/{name}", data, "^"))
    out.append(refpe_gpu.gpu_section(srcdir, "conformance"))  # the GPU reports' summary, if any
    return "\n".join(out)


def spec_conformance(spec: Any, report: dict[str, Any] | None) -> str:
    """A spec page's conformance section: one row per column of the grid."""
    if not report:
        return "No build-time conformance report is available.\n"
    rows = [r for r in report["results"] if r["spec"] == spec.id]
    if not rows:
        return "The build-time conformance run did not cover this spec.\n"
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[column_of(r)].append(r)
    table = []
    for col in sorted(groups, key=lambda c: (c != "refpe", c)):
        verdict, text, _ = cell(groups[col])
        subjects = sorted({r["subject"] for r in groups[col]})
        table.append((escape(col), f"**{verdict}**", escape(text), escape(", ".join(subjects))))
    return (
        "From the conformance run made while this site was built (CPU; "
        ":doc:`/_generated/conformance`).\n\n"
        + list_table(("library", "verdict", "per dtype", "implementations"), table, "18 10 37 35")
    )


def kept_reports(srcdir: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(glob.glob(os.path.join(srcdir, "reports", f"{prefix}*.json"))):
        with open(path, encoding="utf-8") as f:
            found.append((os.path.basename(path), json.load(f)))
    return found


#: Why refpe's own reference is not run on JAX while the site builds (a fact about the build,
#: shown under "Not run here"); JAX's own implementations and refpe's JAX kernels are run.
JAX_REFERENCE_SKIPPED = (
    "not run while the site builds: refpe's reference in eager JAX takes about ten CPU "
    "minutes over the whole catalogue; `refpe conformance --backend jax` runs it, and so "
    "does the test suite"
)


def default_plans() -> list[Any]:
    """Every array library and every library a registered subject comes from: refpe's
    reference on NumPy, array-api-strict and PyTorch, every library's own implementations
    (JAX's included) and refpe's kernels."""
    from refpe.conformance import Plan, subjects

    everything = tuple(dict.fromkeys([*ARRAY_BACKENDS, *(s.library for s in subjects())]))
    jax_subjects = tuple(s.name for s in subjects() if s.library == "jax")
    plans = [Plan(backends=tuple(b for b in everything if b != "jax"))]
    if jax_subjects:
        plans.append(Plan(backends=("jax",), subjects=jax_subjects))
    return plans


def build_time_report(app: Any, out: str) -> dict[str, Any] | None:
    """Run the suite on every installed library (html builds), or reuse the last run's JSON."""
    path = os.path.join(out, "reports", "conformance-cpu.json")
    if app.builder.name != "html" and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    from refpe.conformance import Plan, run
    from refpe.conformance.report import to_json

    chosen = os.environ.get("REFPE_DOCS_BACKENDS") or os.environ.get("REFPE_DOCS_SUBJECTS")
    if chosen:
        backends = env_list("REFPE_DOCS_BACKENDS", ())
        plans = [Plan(backends=backends, subjects=env_list("REFPE_DOCS_SUBJECTS", ()))]
    else:
        plans = default_plans()
    t0 = time.perf_counter()
    results = []
    with contextlib.redirect_stderr(io.StringIO()), warnings_off():
        for plan in plans:
            results += run(plan)
    data = to_json(results, time.perf_counter() - t0)
    data["docs_backends"] = list(dict.fromkeys(b for p in plans for b in p.backends))
    data["docs_subjects"] = list(dict.fromkeys(s for p in plans for s in p.subjects))
    if not chosen:
        data["results"].append(_skipped_row("refpe", "jax", JAX_REFERENCE_SKIPPED))
    write(path, json.dumps(data, indent=1, allow_nan=False) + "\n")
    LOG.info("refpe: conformance in %.1f s: %s", data["wall_seconds"], data["summary"])
    return data


def _skipped_row(subject: str, backend: str, reason: str) -> dict[str, Any]:
    return {
        "spec": "*",
        "case": "*",
        "subject": subject,
        "backend": backend,
        "device": "cpu",
        "dtype": "*",
        "mode": "eager",
        "verdict": "skipped",
        "error": None,
        "K": None,
        "reason": reason,
        "where": "",
        "diagnosis": "",
        "seconds": 0.0,
        "kernel": "reference",
    }
