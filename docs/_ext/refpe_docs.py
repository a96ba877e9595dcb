"""Sphinx extension: the pages made from the spec registry and from conformance reports.

At ``builder-inited`` it writes, under ``docs/_generated/``: one page per registered spec
(``specs/<id>.rst``) and their index, the figures, the API reference, the CLI reference, the
conventions crosswalk, the conformance matrix (from a report run on the CPU backends while the
site builds, plus any GPU report kept in ``docs/reports/``) and the performance page. Files are
rewritten only when their content changes, so a second builder (``doctest``) reuses the first
one's work. ``REFPE_DOCS_BACKENDS`` and ``REFPE_DOCS_SUBJECTS`` (comma-separated) choose
the build-time run.
"""

from __future__ import annotations

import contextlib
import glob
import html
import importlib
import io
import json
import os
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

import refpe_demos
import refpe_figures
import refpe_gpu
from sphinx.util import logging

LOG = logging.getLogger(__name__)
DEFAULT_BACKENDS = ("numpy", "array_api_strict", "torch")
SECTIONS = {
    "1": "Token embeddings (静态编码 / 初始词向量)",
    "2": "Absolute positional encodings (位置编码)",
    "3": "The input layer",
    "4": "The encoder pieces around the input layer",
    "5": "Tokenisation",
    "6": "Beyond the seeds",
}
CONFORMANCE_SCHEMA = "refpe-conformance/2"


# --- writing ---------------------------------------------------------------------------------


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
        cells = [c if str(c).strip() else " " for c in row]
        out.append(f"   * - {cells[0]}")
        out.extend(f"     - {c}" for c in cells[1:])
    return "\n".join(out) + "\n"


# --- the registry -----------------------------------------------------------------------------


def public_path(fn: Any) -> str:
    """The documented dotted name of a spec's function: its public module's page for the
    vector and tokeniser specs (also exported at the top level), else the top level."""
    import refpe

    name = fn.__name__
    for public in ("refpe.vectors", "refpe.tokenize"):
        mod = importlib.import_module(public)
        if name in getattr(mod, "__all__", ()) and getattr(mod, name) is fn:
            return f"{public}.{name}"
    public = getattr(refpe, name, None)
    if getattr(public, "reference", public) is fn:  # the hot specs' functions dispatch
        return f"refpe.{name}"
    return f"{fn.__module__}.{name}"


def section_of(spec: Any) -> str:
    head = str(spec.section).strip().split(".")[0].split()[0] if str(spec.section).strip() else ""
    return head if head in SECTIONS else "6"


def split_sources(sources: Iterable[str]) -> tuple[list[str], list[str]]:
    seeds = [s for s in sources if s.lower().startswith("seed")]
    return seeds, [s for s in sources if not s.lower().startswith("seed")]


def summarise_kwargs(kwargs: dict[str, Any]) -> str:
    parts = []
    for k, v in kwargs.items():
        shape = getattr(v, "shape", None)
        if shape is not None and getattr(v, "ndim", 0) > 0:
            parts.append(f"{k}: {getattr(v, 'dtype', '')} {tuple(shape)}")
        else:
            text = repr(v)
            parts.append(f"{k}={text if len(text) <= 40 else text[:37] + '...'}")
    return literal(", ".join(parts))


# --- one spec's page --------------------------------------------------------------------------


def spec_page(spec: Any, figures: list[tuple[str, str, int]], report: dict[str, Any] | None) -> str:
    path = public_path(spec.function)
    seeds, papers = split_sources(spec.sources)
    out = [f".. _spec-{spec.id}:\n", heading(spec.title)]
    facts = [f"**spec id** {literal(spec.id)}", f"**function** :func:`{path}`"]
    sec = section_of(spec)
    facts.append(f"**catalogue** §{sec} {escape(SECTIONS[sec])}")
    out.append(" · ".join(facts) + "\n")
    if spec.terms:
        out.append(
            ".. rst-class:: refpe-terms\n\n"
            + indent("**中文术语 / seed terms:** " + " · ".join(escape(t) for t in spec.terms))
            + "\n"
        )
    out.append(".. math::\n\n" + indent(spec.latex) + "\n")
    if spec.explanation:
        out.append(escape(spec.explanation) + "\n")
    out.append(heading("Sources", "-"))
    if seeds:
        out.append(
            "Seed sections (Chinese source documents): " + "; ".join(map(escape, seeds)) + "\n"
        )
    if papers:
        out.append("Papers and libraries: " + "; ".join(map(escape, papers)) + "\n")
    out.append(heading("Parameters", "-"))
    out.append(
        list_table(
            ("argument", "domain"),
            ((literal(k), escape(v)) for k, v in spec.domain.items()),
            "25 75",
        )
    )
    if spec.float_args:
        out.append(
            "Float arguments the suite casts to the dtype under test: "
            + ", ".join(literal(a) for a in spec.float_args)
            + ".\n"
        )
    if spec.creates:
        out.append("The function builds its output from ``dtype=``, ``xp=`` and ``device=``.\n")
    out.append(heading("Function", "-"))
    out.append(f".. autofunction:: {path}\n   :no-index:\n")
    out.append(error_model_section(spec))
    if spec.invariants:
        out.append(heading("Invariants", "-"))
        out.append("\n".join(f"- {escape(i)}" for i in spec.invariants) + "\n")
    out.append(errata_section(spec))
    if figures:
        out.append(heading("Figures", "-"))
        for file, caption, width in figures:
            out.append(
                f".. figure:: /_generated/figures/{file}\n   :width: {width}px\n\n"
                f"   {escape(caption)}\n"
            )
    out.append(cases_section(spec))
    out.append(heading("Conformance", "-"))
    out.append(spec_conformance(spec, report))
    return "\n".join(out)


def error_model_section(spec: Any) -> str:
    from refpe.registry import EPS

    out = [heading("Precision and error model", "-")]
    out.append(
        "A result :math:`y` in a dtype conforms when, element-wise, "
        r":math:`|y - y_{exact}| \le K\,\epsilon(\mathrm{dtype})\cdot\mathrm{scale}` "
        "(:doc:`/guides/error-model`). ``K = 0`` means bit-exact.\n"
    )
    rows = []
    for dtype in spec.dtypes:
        K = spec.error.K.get(dtype, spec.error.K.get("float32", 0))
        rows.append(
            (
                literal(dtype),
                literal(f"{K:g}"),
                literal(f"{EPS.get(dtype, float('nan')):.3g}"),
                "bit-exact" if K == 0 else f"{K:g} eps · scale",
            )
        )
    out.append(list_table(("dtype", "K", "eps", "bound"), rows, "20 15 25 40"))
    if spec.error.text:
        out.append("Error analysis: " + escape(spec.error.text) + "\n")
    if spec.error.statistical:
        stat = ", ".join(f"{k} = {v}" for k, v in spec.error.statistical.items())
        out.append(
            "A library's own random generator is checked statistically: " + escape(stat) + ".\n"
        )
    return "\n".join(out)


def errata_section(spec: Any) -> str:
    if not spec.errata:
        return ""
    out = [heading("Seed errata", "-")]
    for n, e in enumerate(spec.errata, 1):
        out.append(heading(f"Erratum {n}: seed {e.seed}", "~"))
        out.append(
            list_table(
                ("", ""),
                (
                    ("the seed", escape(e.seed_does)),
                    ("refpe", escape(e.refpe_does)),
                    ("why", escape(e.why)),
                ),
                "15 85",
            )
        )
        demo = getattr(e, "demo", "") or refpe_demos.DEMOS.get((spec.id, e.seed), "")
        if demo:
            out.append("Demonstration (a doctest, run with the docs):\n")
            out.append(f".. doctest:: {spec.id}\n\n" + indent(demo.strip("\n")) + "\n")
        else:
            LOG.warning(
                "spec %s: erratum of seed %s has no demonstration (docs/_ext/refpe_demos.py)",
                spec.id,
                e.seed,
            )
    return "\n".join(out)


def cases_section(spec: Any) -> str:
    rows = []
    for c in spec.cases:
        kind = "edge" if c.edge else "typical"
        if c.raises is not None:
            kind += f", raises {c.raises.__name__}"
        rows.append((escape(c.name), kind, summarise_kwargs(dict(c.kwargs)), escape(c.note)))
    return (
        heading("Conformance cases", "-")
        + "\n"
        + list_table(("case", "kind", "arguments", "note"), rows, "20 15 40 25")
    )


# --- conformance reports ----------------------------------------------------------------------


def fmt_err(x: Any) -> str:
    if x is None:
        return "–"
    if x == "inf":
        return "∞"
    return f"{float(x):.3g}"


def group_verdict(rows: list[dict[str, Any]]) -> tuple[str, str]:
    counts = Counter(r["verdict"] for r in rows)
    verdict = next(v for v in ("error", "fail", "differs", "pass", "skipped") if counts[v])
    errs = [r["error"] for r in rows if r.get("error") is not None and r["verdict"] != "skipped"]
    worst = "∞" if "inf" in errs else (fmt_err(max(errs)) if errs else "–")
    text = ", ".join(
        f"{counts[v]} {v}" for v in ("pass", "fail", "error", "differs", "skipped") if counts[v]
    )
    return verdict, f"{text}; worst {worst}"


def spec_conformance(spec: Any, report: dict[str, Any] | None) -> str:
    if not report:
        return "No build-time conformance report is available.\n"
    rows = [r for r in report["results"] if r["spec"] == spec.id]
    if not rows:
        return "The build-time conformance run did not cover this spec.\n"
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["subject"], r["backend"], r["dtype"])].append(r)
    table = []
    for (subject, backend, dtype), rs in sorted(groups.items()):
        verdict, text = group_verdict(rs)
        table.append(
            (escape(subject), literal(backend), literal(dtype), f"**{verdict}**", escape(text))
        )
    return (
        "From the conformance run made while this site was built (CPU; worst normalised error "
        "against K; see :doc:`/_generated/conformance`).\n\n"
        + list_table(("subject", "backend", "dtype", "verdict", "cases"), table, "30 15 12 10 33")
    )


def build_time_report(app: Any, out: str) -> dict[str, Any] | None:
    """Run the suite on the CPU backends (html builds), or reuse the last run's JSON."""
    path = os.path.join(out, "reports", "conformance-cpu.json")
    if app.builder.name != "html" and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    from refpe.conformance import Plan, run
    from refpe.conformance.report import to_json

    backends = _env_list("REFPE_DOCS_BACKENDS", DEFAULT_BACKENDS)
    subjects = _env_list("REFPE_DOCS_SUBJECTS", default_subjects(backends))
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), warnings_off():
        results = run(Plan(backends=backends, subjects=subjects))
    data = to_json(results, time.perf_counter() - t0)
    data["docs_backends"], data["docs_subjects"] = list(backends), list(subjects)
    write(path, json.dumps(data, indent=1, allow_nan=False) + "\n")
    LOG.info(
        "refpe: conformance on %s in %.1f s: %s",
        ", ".join(backends),
        data["wall_seconds"],
        data["summary"],
    )
    return data


def default_subjects(backends: tuple[str, ...]) -> tuple[str, ...]:
    """The reference, the public functions through their kernels, and the libraries' own
    implementations."""
    from refpe.conformance import subjects

    names = [s.name for s in subjects() if s.library in backends]
    return ("refpe", *dict.fromkeys(names))


def _env_list(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v for v in os.environ.get(name, ",".join(default)).split(",") if v)


@contextlib.contextmanager
def warnings_off() -> Any:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def kept_reports(srcdir: str, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(glob.glob(os.path.join(srcdir, "reports", f"{prefix}*.json"))):
        with open(path, encoding="utf-8") as f:
            found.append((os.path.basename(path), json.load(f)))
    return found


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


def absent(data: dict[str, Any]) -> str:
    rows = [
        (literal(r["backend"]), literal(r["device"]), escape(r["reason"]))
        for r in data.get("results", [])
        if r["spec"] == "*" and r["verdict"] == "skipped"
    ]
    if not rows:
        return ""
    return "Skipped here, with the reason:\n\n" + list_table(
        ("backend", "device", "reason"), rows, "20 15 65"
    )


def matrix_html(data: dict[str, Any]) -> str:
    """The reference's matrix (spec × backend/device) and the library subjects, as HTML."""
    ref = [r for r in data["results"] if r["subject"] == "refpe" and r["spec"] != "*"]
    cols = sorted({(r["backend"], r["device"]) for r in ref})
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in ref:
        cells[(r["spec"], r["backend"], r["device"])].append(r)
    order = [r["spec"] for r in ref]
    spec_ids = sorted(set(order), key=order.index)
    head = "".join(f"<th>{html.escape(b)}<br><small>{html.escape(d)}</small></th>" for b, d in cols)
    body = []
    for sid in spec_ids:
        tds = []
        for b, d in cols:
            rs = cells.get((sid, b, d))
            if not rs:
                tds.append('<td class="v-none">–</td>')
                continue
            verdict, text = group_verdict(rs)
            dtypes = ", ".join(sorted({r["dtype"] for r in rs}))
            tds.append(
                f'<td class="v-{verdict}" title="{html.escape(dtypes)}">'
                f"<b>{verdict}</b><br><small>{html.escape(text)}</small></td>"
            )
        link = f'<a href="specs/{html.escape(sid)}.html"><code>{html.escape(sid)}</code></a>'
        body.append(f"<tr><th>{link}</th>{''.join(tds)}</tr>")
    table = (
        '<div class="refpe-matrix"><table><thead><tr><th>spec</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )
    return ".. raw:: html\n\n" + indent(table) + "\n"


def subjects_table(data: dict[str, Any]) -> str:
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in data["results"]:
        if r["subject"] != "refpe":
            groups[(r["subject"], r["spec"], r["backend"], r["dtype"])].append(r)
    if not groups:
        return "No library subject ran in this report.\n"
    rows = []
    for (subject, sid, backend, dtype), rs in groups.items():
        verdict, text = group_verdict(rs)
        if subject.startswith("kernel:"):
            ran = Counter(r["kernel"].rsplit(".", 1)[-1] for r in rs if r["verdict"] != "skipped")
            text += "; answered by " + ", ".join(f"{k} ({n})" for k, n in sorted(ran.items()))
        rows.append(
            (
                escape(subject),
                spec_ref(sid),
                literal(backend),
                literal(dtype),
                f"**{verdict}**",
                escape(text),
            )
        )
    return list_table(
        ("subject", "spec", "library", "dtype", "verdict", "cases"), rows, "30 18 10 10 10 22"
    )


def spec_ref(sid: str) -> str:
    """A link to a spec's page, or the id as text when no such spec is registered."""
    import refpe

    known = {s.id for s in refpe.specs()}
    return f":ref:`{sid} <spec-{sid}>`" if sid in known else literal(sid)


def problems_table(data: dict[str, Any], limit: int = 60) -> str:
    bad = [
        r
        for r in data["results"]
        if r["verdict"] in ("fail", "error", "differs", "skipped")
        and not (r["spec"] == "*" and r["verdict"] == "skipped")
    ]
    if not bad:
        return "Every case passed.\n"
    rows = [
        (
            literal(r["spec"]),
            escape(r["case"]),
            escape(r["subject"]),
            literal(f"{r['backend']} {r['device']} {r['dtype']}"),
            f"**{r['verdict']}**",
            escape(
                (r.get("reason") or "") + (" — " + r["diagnosis"] if r.get("diagnosis") else "")
            )[:300],
        )
        for r in bad[:limit]
    ]
    more = f"\n… and {len(bad) - limit} more in the JSON report.\n" if len(bad) > limit else ""
    return (
        list_table(
            ("spec", "case", "subject", "where", "verdict", "reason"), rows, "13 13 14 16 8 36"
        )
        + more
    )


def report_block(name: str, data: dict[str, Any], level: str) -> str:
    s = data.get("summary", {})
    machine = data.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in data.get("libraries", {}).items())
    out = [
        f"**Created** {escape(data.get('created', '?'))} · "
        f"**devices** {escape(report_devices(data))} · "
        f"**wall time** {data.get('wall_seconds', '?')} s · **machine** "
        f"{escape(machine.get('platform', '?'))}, Python {escape(machine.get('python', '?'))}\n",
        "**Summary** "
        + " · ".join(f"{s.get(v, 0)} {v}" for v in ("pass", "fail", "differs", "skipped", "error"))
        + "\n",
        f"**Libraries** {escape(libs)}\n" if libs else "",
        f":download:`JSON report <{name}>`\n" if name else "",
        heading("The reference on every backend", level),
        absent(data),
        matrix_html(data),
        heading("Library implementations", level),
        subjects_table(data),
        heading("Everything that did not pass", level),
        problems_table(data),
    ]
    return "\n".join(o for o in out if o)


def conformance_page(srcdir: str, report: dict[str, Any] | None) -> str:
    out = [".. _conformance-matrix:\n", heading("Conformance matrix")]
    out.append(
        "Verdicts: **pass** (within the error model), **fail** (outside it, or bad input not "
        "refused), **differs** (a documented convention of that library), **skipped** (with the "
        "reason: a backend or device that is absent is never counted as passed) and **error** "
        "(the subject raised). Each cell gives the counts over the spec's cases and dtypes and "
        "the worst normalised error; hover a cell for its dtypes. Schema: "
        "``refpe-conformance/2`` (:doc:`/guides/error-model`).\n"
    )
    out.append(heading("CPU, run while this site was built", "-"))
    if report:
        backends = ", ".join(report.get("docs_backends", []))
        subjects = ", ".join(report.get("docs_subjects", []))
        out.append(
            f"Backends: {escape(backends)}; subjects: {escape(subjects)}. "
            "``REFPE_DOCS_BACKENDS`` and ``REFPE_DOCS_SUBJECTS`` choose others; "
            "the full suite is ``refpe conformance``.\n"
        )
        out.append(report_block("reports/conformance-cpu.json", report, "~"))
    else:
        out.append("The build-time run is not available.\n")
    out.append(heading("Reports kept in the repository (GPU and other machines)", "-"))
    kept = [(n, d) for n, d in kept_reports(srcdir) if d.get("schema") == CONFORMANCE_SCHEMA]
    if not kept:
        out.append(
            "No GPU report is kept in the repository yet: ``docs/reports/`` holds no "
            "``refpe-conformance/2`` JSON file. A report written on a machine with a GPU by "
            "``refpe conformance --json docs/reports/NAME.json`` is rendered here, labelled "
            "with its device and date.\n"
        )
    for name, data in kept:
        label = f"{name}: {report_devices(data)}, {data.get('created', '?')}"
        out.append(heading(label, "~"))
        out.append(report_block(f"/reports/{name}", data, "^"))
    return "\n".join(out)


def _num(v: Any, unit: str = "") -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, (int, float)):
        if unit == "s":
            return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
        return f"{v:.3g}"
    return escape(v)


def bench_block(name: str, data: dict[str, Any]) -> str:
    machine = data.get("machine", {})
    libs = ", ".join(f"{k} {v}" for k, v in data.get("libraries", {}).items())
    out = [
        f"**Measured** {escape(data.get('created', '?'))} · "
        f"**{'quick' if data.get('quick') else 'full'} sizes** · "
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
                    escape(c.get("skipped") or c.get("name", "")),
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


def sweep_figures(srcdir: str, out: str) -> dict[str, tuple[str, int]]:
    """One figure of time against size per bench report that has sweeps: name -> file."""
    made = {}
    for name, data in kept_reports(srcdir, "bench"):
        if not (isinstance(data, dict) and data.get("sweeps")):
            continue
        file = f"bench-{os.path.splitext(name)[0]}-sweeps.png"
        with warnings_off():
            png, width = refpe_figures.render(lambda _, d=data: refpe_figures.bench_sweeps(d), None)
        write(os.path.join(out, "figures", file), png)
        made[name] = (file, width)
    return made


_SIN_NOTE = (
    "The exact table costs one complex128 product per element, rounded once from float64, "
    "against NumPy's float32 ``sin`` on its vectorised fast path (arguments below about "
    "10^5). That ratio moves with the machine's load: between 0.37 and 0.50 in runs on the "
    "same 2-core machine. The table's other speed target, exact *and* at least as fast as "
    "the float32 ``pow`` form, is met. Past 10^5 NumPy's float32 ``sin`` slows down "
    "about 20-fold while the kernel does not (the *table at 10^6* work: several times "
    "``np.sin`` there, and exact where the ``pow`` form is off by nearly 10^6 eps)."
)
#: Why a target can be missed, by the start of its name: shown under a report that misses it.
TARGET_NOTES = {
    "sinusoid table float32: kernel >= 1x np.sin": _SIN_NOTE,
    "read word2vec text: refpe >= 10x gensim": (
        "Text rows are parsed by Arrow's CSV reader (correctly rounded float64, then the same "
        "cast as the pure reader), about twice the pure reader's speed on the shared 2-core "
        "machine; the decimal conversion itself (``fast_float``) is most of what is left."
    ),
    "sinusoid table float32: kernel >= 0.5x np.sin": _SIN_NOTE,
}


def target_notes(data: dict[str, Any]) -> str:
    """For each target the report misses, why (:data:`TARGET_NOTES`)."""
    notes = []
    for t in data.get("targets", []):
        if t.get("met") is False:
            why = next((v for k, v in TARGET_NOTES.items() if t.get("name", "").startswith(k)), "")
            notes.append(f"* **Not met:** {escape(t.get('name', ''))}. {why or 'Not explained.'}")
    return "\n".join(notes) + "\n" if notes else ""


def performance_page(srcdir: str, sweeps: dict[str, tuple[str, int]] | None = None) -> str:
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
            if sweeps and name in sweeps:
                file, width = sweeps[name]
                out.append(
                    f".. figure:: /_generated/figures/{file}\n   :width: {width}px\n\n"
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


# --- the other generated pages ----------------------------------------------------------------


def specs_index(specs: list[Any]) -> str:
    out = [heading("Formula catalogue")]
    out.append(
        "Every formula refpe implements, generated from the spec registry (``refpe.specs()``). "
        "Each page shows the formula, where it comes from (the seed section and its Chinese "
        "term, the paper), its parameters, its precision and error model, its invariants, the "
        "seed errata with a runnable demonstration, figures, and its conformance.\n"
    )
    by_section: dict[str, list[Any]] = defaultdict(list)
    for s in specs:
        by_section[section_of(s)].append(s)
    for sec in sorted(by_section):
        out.append(heading(f"{sec}. {SECTIONS[sec]}", "-"))
        rows = [
            (
                f":ref:`{s.id} <spec-{s.id}>`",
                f":func:`{public_path(s.function)}`",
                escape(s.title),
                escape("; ".join(s.sources)),
            )
            for s in by_section[sec]
        ]
        out.append(list_table(("spec id", "function", "what", "sources"), rows, "18 24 28 30"))
    out.append(".. toctree::\n   :hidden:\n\n" + "\n".join(f"   {s.id}" for s in specs) + "\n")
    return "\n".join(out)


API_MODULES = (
    "embedding",
    "init",
    "positional",
    "inputs",
    "attention",
    "norm",
    "loss",
    "grad",
    "rotary",
    "relative",
    "positional_2d",
)


def _documenter(obj: Any) -> str:
    if isinstance(obj, type):
        return "autoclass"
    return "autofunction" if callable(obj) else "autodata"


def api_page() -> str:
    import refpe
    from refpe.kernels import HOT

    spec_fns = {s.function: s for s in refpe.specs()}
    out = [heading("API reference")]
    out.append(
        "Every public name. A function that implements a spec is named after its id "
        "(``pe-sinusoidal`` is :func:`refpe.pe_sinusoidal`); its page in the "
        ":doc:`catalogue </_generated/specs/index>` has the formula, sources and error model.\n"
    )
    out.append(heading("Formulas (``refpe``)", "-"))
    for mod_name in API_MODULES:
        try:
            mod = importlib.import_module(f"refpe.{mod_name}")
        except ImportError:
            continue
        names = [n for n in getattr(mod, "__all__", []) if hasattr(refpe, n)]
        if not names:
            continue
        out.append(heading(f"refpe.{mod_name}", "~"))
        doc = (mod.__doc__ or "").strip().splitlines()
        if doc:
            out.append(doc[0] + "\n")
        for n in names:
            obj = getattr(refpe, n)
            spec = spec_fns.get(getattr(obj, "reference", obj))
            out.append(f".. {_documenter(obj)}:: refpe.{n}\n")
            if spec is not None:
                out.append(f"   Spec: :ref:`{spec.id} <spec-{spec.id}>`.\n")
    for mod_name, title in (
        ("refpe.vectors", "Pretrained vectors (``refpe.vectors``)"),
        ("refpe.tokenize", "Tokenisers (``refpe.tokenize``)"),
        ("refpe.conformance", "The conformance suite (``refpe.conformance``)"),
    ):
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        out.append(heading(title, "-"))
        out.append(f".. automodule:: {mod_name}\n   :no-members:\n")
        for n in getattr(mod, "__all__", []):
            obj = getattr(mod, n)
            opts = "\n   :members:\n" if isinstance(obj, type) else "\n"
            out.append(f".. {_documenter(obj)}:: {mod_name}.{n}{opts}")
    out.append(heading("Kernels", "-"))
    out.append(
        "The hot specs' functions answer through fast kernels (:doc:`/guides/kernels`); "
        '``kernel="reference"`` runs the readable reference.\n'
    )
    for n in ("last_kernel", "kernels", "register_kernel"):
        out.append(f".. autofunction:: refpe.{n}\n")
    out.append(".. autodata:: refpe.kernels.HOT\n   :no-value:\n")
    for mod_name in sorted(
        {path.split(":")[0] for h in HOT.values() for path in h.builtin.values()}
    ):
        out.append(f".. automodule:: refpe.kernels.{mod_name}\n   :no-members:\n")
    out.append(".. autofunction:: refpe.kernels.positional.sinusoid_table\n")
    out.append(heading("The registry", "-"))
    for n in ("spec", "specs"):
        out.append(f".. autofunction:: refpe.{n}\n")
    for n in ("Spec", "Case", "ErrorModel", "Erratum"):
        out.append(f".. autoclass:: refpe.{n}\n   :members:\n")
    return "\n".join(out)


def subcommands(parser: Any, prefix: str) -> list[tuple[str, Any]]:
    """Every sub-command under ``parser``, depth first, as ``(full name, parser)``."""
    found = []
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, p in action.choices.items():
                found.append((f"{prefix} {name}", p))
                found.extend(subcommands(p, f"{prefix} {name}"))
    return found


def cli_page() -> str:
    import refpe.cli

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"
    try:
        parser = refpe.cli.parser()
        out = [heading("Command-line reference")]
        out.append(
            "The ``refpe`` command (installed with the package; ``python -m refpe`` runs the "
            "same). Exit status: 0 when everything asked for passed, 1 when anything failed, 2 "
            "for bad usage. Generated from ``refpe.cli.parser()``.\n"
        )
        out.append(".. code-block:: text\n\n" + indent(parser.format_help()) + "\n")
        for name, p in subcommands(parser, "refpe"):
            out.append(heading(name, "-"))
            out.append(".. code-block:: text\n\n" + indent(p.format_help()) + "\n")
        return "\n".join(out)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def conventions_page() -> str:
    out = [heading("Conventions crosswalk")]
    out.append(
        "Which convention each library uses for the same formula (layout, frequency schedule, "
        "position offset, default constants), from "
        "``refpe.conformance.conventions.crosswalk()``: every row is recorded by the adapter "
        "that the conformance suite runs, so the table is what the suite checks. "
        "``refpe conventions`` prints the same table.\n"
    )
    try:
        from refpe.conformance import conventions
    except ImportError:
        out.append(
            "The crosswalk module is not part of this build yet. The subjects registered with the "
            "conformance suite and the conventions they declare:\n"
        )
        return "\n".join(out) + subject_conventions()
    rows = conventions.crosswalk()
    if not rows:
        return "\n".join(out) + "The crosswalk is empty.\n"
    columns = getattr(conventions, "COLUMNS", None) or list(
        dict.fromkeys(k for r in rows for k in r)
    )
    by_spec: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_spec[str(r.get("spec", ""))].append(r)
    for sid, group in by_spec.items():
        out.append(heading(sid or "(no spec)", "-"))
        out.append(f"Spec: {spec_ref(sid)}.\n" if sid else "")
        keys = [k for k in columns if k != "spec" and any(str(r.get(k, "")).strip() for r in group)]
        out.append(list_table(keys, ([escape(r.get(k, "")) for k in keys] for r in group)))
    return "\n".join(out)


def subject_conventions() -> str:
    from refpe.conformance import subjects

    rows = [
        (
            escape(s.name),
            spec_ref(s.spec),
            literal(s.library),
            escape(", ".join(f"{k}: {v}" for k, v in s.convention.items()) or "–"),
        )
        for s in subjects()
    ]
    if not rows:
        return "No subject is registered.\n"
    return list_table(("subject", "spec", "library", "convention"), rows, "35 20 15 30")


def seed003_snippet(srcdir: str) -> str:
    example = os.path.join(os.path.dirname(srcdir), "examples", "seed003_pipeline.py")
    if not os.path.exists(example):
        return (
            "The complete script, ``examples/seed003_pipeline.py``, is not part of this "
            "build; the steps above are the pipeline.\n"
        )
    return (
        "``examples/seed003_pipeline.py`` runs the whole pipeline as one script:\n\n"
        "```{literalinclude} /../examples/seed003_pipeline.py\n:language: python\n```\n"
    )


# --- the build hook ---------------------------------------------------------------------------


def figure_files(spec_ids: set[str], refpe: Any, out: str) -> dict[str, list[tuple[str, str, int]]]:
    made: dict[str, list[tuple[str, str, int]]] = {}
    for sid, figs in refpe_figures.FIGURES.items():
        if sid not in spec_ids:
            continue
        for name, caption, fn in figs:
            file = f"{sid}-{name}.png"
            with warnings_off():
                png, width = refpe_figures.render(fn, refpe)
            write(os.path.join(out, "figures", file), png)
            made.setdefault(sid, []).append((file, caption, width))
    return made


def generate(app: Any) -> None:
    import refpe

    out = os.path.join(app.srcdir, "_generated")
    specs = list(refpe.specs())
    report = build_time_report(app, out)
    figures = figure_files({s.id for s in specs}, refpe, out)
    pages = {f"specs/{s.id}.rst": spec_page(s, figures.get(s.id, []), report) for s in specs}
    pages["specs/index.rst"] = specs_index(specs)
    pages["api.rst"] = api_page()
    pages["cli.rst"] = cli_page()
    pages["conventions.rst"] = conventions_page()
    pages["conformance.rst"] = conformance_page(app.srcdir, report)
    sweeps = sweep_figures(app.srcdir, out)
    pages["performance.rst"] = performance_page(app.srcdir, sweeps)
    pages["snippets/seed003.md"] = seed003_snippet(app.srcdir)
    for rel, text in pages.items():
        write(os.path.join(out, rel), text)
    keep = set(pages) | {f"figures/{f}" for fs in figures.values() for f, _, _ in fs}
    keep.add("reports/conformance-cpu.json")
    keep |= {f"figures/{file}" for file, _ in sweeps.values()}
    for path in glob.glob(os.path.join(out, "**", "*.*"), recursive=True):
        if os.path.relpath(path, out).replace(os.sep, "/") not in keep:
            os.remove(path)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
