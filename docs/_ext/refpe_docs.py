"""Sphinx extension: the pages made from the spec registry and from conformance reports.

At ``builder-inited`` it writes, under ``docs/_generated/``: one page per registered spec
(``specs/<id>.rst``, :mod:`refpe_specpages`) and their index, the figures
(:mod:`refpe_figures`, :mod:`refpe_position_figures`), the API and CLI references and the
conventions crosswalk (:mod:`refpe_reference`), the conformance grid (:mod:`refpe_conformance`,
from a run on every installed library made while the site builds, plus any report kept in
``docs/reports/``) and the performance page (:mod:`refpe_performance`). Files are rewritten
only when their content changes, so a second builder (``doctest``) reuses the first one's work.
``REFPE_DOCS_BACKENDS`` and ``REFPE_DOCS_SUBJECTS`` (comma-separated) choose the build-time run.
"""

from __future__ import annotations

import glob
import os
from typing import Any

import refpe_demos
import refpe_figures
import refpe_position_figures
from refpe_conformance import (
    CONFORMANCE_SCHEMA,
    build_time_report,
    conformance_page,
    spec_conformance,
)
from refpe_performance import performance_page, sweep_figures
from refpe_reference import api_page, cli_page, conventions_page, seed003_snippet, subcommands
from refpe_rst import heading, warnings_off, write
from refpe_specpages import public_path, spec_page, specs_index

__all__ = [
    "CONFORMANCE_SCHEMA",
    "api_page",
    "cli_page",
    "conformance_page",
    "conventions_page",
    "figure_files",
    "generate",
    "heading",
    "performance_page",
    "public_path",
    "refpe_demos",
    "spec_page",
    "subcommands",
]


def figure_files(
    spec_ids: set[str], refpe: Any, out: str, report: dict[str, Any] | None = None
) -> dict[str, list[tuple[str, str, int]]]:
    """Draw every figure of the registered specs: spec id -> ``[(file, caption, width)]``.
    The error-against-position figures use the report's curves when it has them."""
    made: dict[str, list[tuple[str, str, int]]] = {}
    figures = {sid: list(figs) for sid, figs in refpe_figures.FIGURES.items()}
    for sid, fig in refpe_position_figures.figures(report, spec_ids).items():
        figures.setdefault(sid, []).append(fig)
    for sid, figs in figures.items():
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
    figures = figure_files({s.id for s in specs}, refpe, out, report)
    pages = {
        f"specs/{s.id}.rst": spec_page(
            s, figures.get(s.id, []), report, spec_conformance(s, report)
        )
        for s in specs
    }
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
    keep |= {f"figures/{file}" for fs in sweeps.values() for file, _, _ in fs}
    for path in glob.glob(os.path.join(out, "**", "*.*"), recursive=True):
        if os.path.relpath(path, out).replace(os.sep, "/") not in keep:
            os.remove(path)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
