"""One page per registered spec, and the catalogue's index."""

from __future__ import annotations

import importlib
from collections import defaultdict
from typing import Any

import refpe_demos
from refpe_checkyours import check_section
from refpe_rst import escape, heading, indent, list_table, literal
from refpe_sources import link_source
from sphinx.util import logging

LOG = logging.getLogger(__name__)
SECTIONS = {
    "1": "Token embeddings (静态编码 / 初始词向量)",
    "2": "Absolute positional encodings (位置编码)",
    "3": "The input layer",
    "4": "The encoder pieces around the input layer",
    "5": "Tokenisation",
    "6": "Beyond the seeds",
}


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


def split_sources(sources: Any) -> tuple[list[str], list[str]]:
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
    # one literal each, so that a line breaks between arguments (never inside one)
    return ", ".join(literal(p) for p in parts)


def spec_page(
    spec: Any,
    figures: list[tuple[str, str, int]],
    report: dict[str, Any] | None,
    conformance: str = "",
) -> str:
    """The page of ``spec``; ``conformance`` is its section from the build-time run."""
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
            "Seed sections (Chinese source documents, :doc:`/seeds`): "
            + "; ".join(map(link_source, seeds))
            + "\n"
        )
    if papers:
        out.append("Papers and libraries: " + "; ".join(map(link_source, papers)) + "\n")
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
            alt = escape(caption.split(". ")[0]).replace("\n", " ")
            out.append(
                f".. figure:: /_generated/figures/{file}\n   :width: {width}px\n"
                f"   :alt: {alt}\n\n   {escape(caption)}\n"
            )
    out.append(check_section(spec))
    out.append(cases_section(spec))
    out.append(heading("Conformance", "-"))
    out.append(conformance or "No build-time conformance report is available.\n")
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


def specs_index(specs: list[Any]) -> str:
    out = [heading("Formula catalogue")]
    out.append(
        "Every formula refpe implements, generated from the spec registry (``refpe.specs()``). "
        "Each page shows the formula, where it comes from (the seed section and its Chinese "
        "term, the paper), its parameters, its precision and error model, its invariants, the "
        "seed errata with a runnable demonstration, figures, how to check your own "
        "implementation, and its conformance.\n"
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
                "; ".join(map(link_source, s.sources)),
            )
            for s in by_section[sec]
        ]
        out.append(list_table(("spec id", "function", "what", "sources"), rows, "18 24 28 30"))
    out.append(".. toctree::\n   :hidden:\n\n" + "\n".join(f"   {s.id}" for s in specs) + "\n")
    return "\n".join(out)
