"""The reference pages: the API (with a summary table), the command line, and the conventions
crosswalk (third-party libraries only)."""

from __future__ import annotations

import importlib
import os
from collections import defaultdict
from typing import Any

from refpe_rst import escape, heading, indent, list_table, spec_ref
from refpe_specpages import public_path

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


def _first_line(obj: Any) -> str:
    """The docstring's first paragraph on one line (a role may span its lines)."""
    import inspect

    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def _api_names() -> list[tuple[str, list[str]]]:
    """``(module, names)`` for each formula module, the names exported by ``refpe``."""
    import refpe

    found = []
    for mod_name in API_MODULES:
        try:
            mod = importlib.import_module(f"refpe.{mod_name}")
        except ImportError:
            continue
        names = [n for n in getattr(mod, "__all__", []) if hasattr(refpe, n)]
        if names:
            found.append((mod_name, names))
    return found


def api_summary() -> str:
    """One row per public formula: the name, its spec, what it does (its docstring's first
    line, which may hold math and so is left as reST)."""
    import refpe

    spec_fns = {s.function: s for s in refpe.specs()}
    rows = []
    for _, names in _api_names():
        for n in names:
            obj = getattr(refpe, n)
            spec = spec_fns.get(getattr(obj, "reference", obj))
            rows.append(
                (
                    f":py:obj:`refpe.{n}`",
                    f":ref:`{spec.id} <spec-{spec.id}>`" if spec else "",
                    _first_line(getattr(obj, "reference", obj)).replace("|", "\\|"),
                )
            )
    return list_table(("name", "spec", "what"), rows, "28 20 52")


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
    out.append(heading("Summary", "-"))
    out.append(api_summary())
    out.append(
        "Also: :mod:`refpe.vectors` (pretrained vectors), :mod:`refpe.tokenize` (tokenisers), "
        ":mod:`refpe.conformance` (:func:`~refpe.conformance.check`, "
        ":func:`~refpe.conformance.run`), the kernels and the registry, below.\n"
    )
    out.append(heading("Formulas (``refpe``)", "-"))
    for mod_name, names in _api_names():
        mod = importlib.import_module(f"refpe.{mod_name}")
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


#: The most columns an "Every spec" table shows side by side; a wider one lists each
#: implementation's conventions in one cell instead.
WIDEST = 4
#: Crosswalk columns that describe the build machine, not the library: never shown as facts.
BUILD_COLUMNS = ("available",)
#: The specs whose conventions differ most between libraries: one quick table per group, with
#: the crosswalk columns that group needs (small tables fit the page at 1280 px; one table of
#: every column would scroll). Rotary scalings are in the rope-scaling group's table.
WHERE = ("rope", "alibi", "t5-bias", "pe-learned")
WHICH_GROUPS = (
    ("Rotary embedding", ("rope",), ("layout", "schedule")),
    ("Sinusoidal encoding", ("pe-sinusoidal",), ("layout", "schedule", "offset")),
    ("Rotary frequency scalings", ("rope-scaling",), ("scalings",)),
    ("Positions: where they start, what indexes them", WHERE, ("offset",)),
)
WHICH_SPECS = tuple(dict.fromkeys(sid for _, group, _ in WHICH_GROUPS for sid in group))
#: The quick tables' headings for the crosswalk keys.
WHICH_HEADINGS = {"schedule": "frequencies", "offset": "positions"}


def third_party(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The crosswalk rows of other libraries: refpe's own kernels are on the kernels guide."""
    return [r for r in rows if not str(r.get("subject", "")).startswith("kernel:")]


def which_table(rows: list[dict[str, Any]]) -> str:
    """ "Which convention does my library use": one small table per group of specs (a group of
    several specs gets a spec column)."""
    out = []
    for title, group, keys in WHICH_GROUPS:
        keep = sorted(
            (r for r in rows if r.get("spec") in group),
            key=lambda r: (group.index(r["spec"]), str(r.get("subject"))),
        )
        if not keep:
            continue
        many = len(group) > 1
        header = ["implementation", *(["spec"] if many else [])]
        header += [WHICH_HEADINGS.get(k, k) for k in keys]
        table = [
            [
                escape(r.get("subject", "")),
                *([spec_ref(r["spec"])] if many else []),
                *(escape(r.get(k, "") or "–") for k in keys),
            ]
            for r in keep
        ]
        out.append(f"**{title}** ({', '.join(spec_ref(sid) for sid in group)})\n")
        out.append(list_table(header, table))
    return "\n".join(out)


def conventions_page() -> str:
    out = [".. _conventions:\n", heading("Conventions crosswalk")]
    out.append(
        "Which convention each library uses for the same formula (layout, frequency schedule, "
        "position offset, default constants), from "
        "``refpe.conformance.conventions.crosswalk()``: every row is recorded by the adapter "
        "that the conformance suite runs, so the table is what the suite checks. "
        "``refpe conventions`` prints the same table. Only other libraries are listed; refpe's "
        "own kernels are in :doc:`/guides/kernels`.\n"
    )
    from refpe.conformance import conventions

    rows = third_party(conventions.crosswalk())
    if not rows:
        return "\n".join(out) + "The crosswalk is empty.\n"
    out.append(".. _which-convention:\n")
    out.append(heading("Which convention does my library use?", "-"))
    out.append(
        "The positional formulas, one row per library's implementation. refpe's own "
        'functions take the convention as a keyword (``layout="half"``, '
        '``schedule="t2t"``, ...).\n'
    )
    out.append(which_table(rows))
    columns = getattr(conventions, "COLUMNS", None) or list(
        dict.fromkeys(k for r in rows for k in r)
    )
    by_spec: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_spec[str(r.get("spec", ""))].append(r)
    out.append(heading("Every spec", "-"))
    for sid, group in by_spec.items():
        out.append(heading(sid or "(no spec)", "~"))
        out.append(f"Spec: {spec_ref(sid)}.\n" if sid else "")
        keys = [
            k
            for k in columns
            if k not in ("spec", *BUILD_COLUMNS) and any(str(r.get(k, "")).strip() for r in group)
        ]
        if len(keys) <= WIDEST:
            out.append(list_table(keys, ([escape(r.get(k, "")) for k in keys] for r in group)))
            continue
        # many columns would not fit at 1280 px: the implementation, then its conventions
        out.append(list_table((keys[0], "conventions"), ((escape(r.get(keys[0], "")), "\n".join(
            f"- **{k}**: {escape(r[k])}" for k in keys[1:] if str(r.get(k, "")).strip()
        )) for r in group)))  # fmt: skip
    return "\n".join(out)


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


__all__ = ["api_page", "cli_page", "conventions_page", "public_path", "subcommands"]
