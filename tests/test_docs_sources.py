"""The documentation's sources, without a build: every LaTeX string refpe renders is free of
control characters (a non-raw ``"\\theta"`` holds a TAB) and of escapes that MathJax shows
inside ``\\text``; nothing cites the formula catalogue file; every source has an address; the
worked wrapper of the rope page runs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import refpe

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_TEXT_UNDERSCORE = re.compile(r"\\text(?:tt|rm|it|bf)?\{[^}]*\\[_#%&$]")


def _latex_texts() -> list[tuple[str, str]]:
    """Every LaTeX string refpe renders: the registry's formulas and the docstrings of the
    modules the API page documents (``.. math::`` blocks and ``:math:`` roles)."""
    import importlib
    import inspect
    import pkgutil

    found = [(f"spec {s.id}: latex", s.latex) for s in refpe.specs()]
    for info in pkgutil.walk_packages(refpe.__path__, "refpe."):
        if ".cli" in info.name or info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        found.append((f"{info.name} docstring", mod.__doc__ or ""))
        for name, obj in vars(mod).items():
            if getattr(obj, "__module__", None) != info.name:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found.append((f"{info.name}.{name} docstring", obj.__doc__ or ""))
    return found


def test_latex_has_no_control_characters_or_escaped_underscores_in_text():
    texts = _latex_texts()
    assert len(texts) > 100, len(texts)
    bad = [(where, repr(t[max(0, m.start() - 20) : m.end() + 20]))
           for where, t in texts if (m := _CONTROL.search(t))]  # fmt: skip
    assert not bad, f"control characters (a non-raw \\t, \\f, \\b... in LaTeX): {bad[:5]}"
    escaped = [where for where, t in texts if _TEXT_UNDERSCORE.search(t)]
    assert not escaped, f"\\text{{..\\_..}} shows a backslash; use \\mathtt: {escaped}"


def test_latex_check_catches_planted_mistakes():
    assert _CONTROL.search("y = \\cos(p\theta)")  # "\t" of a non-raw string: a TAB
    assert _CONTROL.search("\frac12")  # "\f": a form feed
    assert _TEXT_UNDERSCORE.search(r"\text{scale\_grad}")
    assert _TEXT_UNDERSCORE.search(r"\texttt{\#\#}")  # MathJax shows both backslashes
    assert not _TEXT_UNDERSCORE.search(r"\mathrm{fan\_in}")


def test_nothing_cites_the_formula_catalogue_file():
    hits = [
        str(path.relative_to(ROOT))
        for folder in (ROOT / "src", DOCS)
        for path in folder.rglob("*")
        if path.suffix in (".py", ".md", ".rst", ".txt")
        and "_generated" not in path.parts
        and "_build" not in path.parts
        and "FORMULAS.md" in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not hits, hits


def test_sources_link_to_papers_or_seed_sections():
    import refpe_sources

    unlinked = {s.id: refpe_sources.unlinked(s.sources) for s in refpe.specs()}
    unlinked = {k: v for k, v in unlinked.items() if v}
    assert not unlinked, f"sources with no address (add them to refpe_sources.PAPERS): {unlinked}"
    assert refpe_sources.link_source("seed 001 §5.2").endswith("<seed-001>`")


def test_rope_check_yours_wrapper_runs():
    """The worked Hugging Face wrapper on the rope page runs and is judged, not errored."""
    import refpe_checkyours

    pytest.importorskip("transformers")
    from refpe.conformance import check

    _, code = refpe_checkyours.WRAPPERS["rope"]
    scope = {"check": check}
    exec(compile(code, "rope wrapper", "exec"), scope)
    verdicts = {r.verdict for r in scope["report"].results}
    assert "error" not in verdicts, str(scope["report"])
    assert "pass" in verdicts or "loose" in verdicts, str(scope["report"])
    skipped = [r.reason for r in scope["report"].results if r.verdict == "skipped"]
    assert any("layout" in why for why in skipped), skipped


def test_seed_errata_render_on_their_spec_pages():
    """Every seed erratum of the registry is a numbered section of its spec's page, with the
    seed's words, refpe's choice and the reason; the known ones are all there."""
    import refpe_docs
    from refpe_rst import escape

    found = {(s.id, e.seed) for s in refpe.specs() for e in s.errata}
    known = {
        ("init-normal", "004 §1"),
        ("init-framework-defaults", "004 §1"),
        ("token-one-hot", "003 §4.2.1"),
        ("pe-sinusoidal", "003 §4.2.2"),
        ("pe-sinusoidal", "001 §5.2"),
        ("pe-sinusoidal-learnable", "001 §5.2"),
        ("pe-projected-sinusoid", "001 §3.2, §4.2"),
        ("pe-linear", "000 §4"),
        ("pe-linear", "003 §5.2"),
        ("pe-dual-linear", "000 §2.3, §4.2"),
        ("input-add", "000 §4"),
        ("attn-seed-simplified", "002 §3 step 3 vs §4"),
        ("attn-sdpa", "002 §2"),
        ("tok-wordpiece", "004 §4"),
    }
    assert known <= found, sorted(known - found)
    assert len(found) == sum(len(s.errata) for s in refpe.specs()), "two errata share a key"
    for s in refpe.specs():
        page = refpe_docs.spec_page(s, [], None)
        assert ("Seed errata\n---" in page) == bool(s.errata), s.id
        for n, e in enumerate(s.errata, 1):
            assert f"Erratum {n}: seed {e.seed}" in page, (s.id, e.seed)
            for text in (e.seed_does, e.refpe_does, e.why):
                assert escape(text)[:30] in page, (s.id, e.seed)
            assert re.search(r"\d{4}|seed 0\d\d", e.why), f"{s.id} {e.seed}: why cites nothing"
    assert "i为词嵌入的维度" in refpe_docs.spec_page(refpe.spec("pe-sinusoidal"), [], None)


def test_error_figure_curves_from_a_report():
    """Coinciding backends become one labelled curve, kernels are left out, the horizon is read
    off the merged curve (not the smallest case's last position), and both panels show the
    highest curve (one y scale)."""
    import refpe_position_figures as F

    def row(subject, backend, curve):
        return {"spec": "pe-sinusoidal", "subject": subject, "backend": backend, "curve": curve,
                "dtype": "float32", "K": 1.0}  # fmt: skip

    rows = [row("kernel:pe-sinusoidal:numpy", "numpy", [[1, 0.3]])]
    for backend in ("numpy", "torch"):
        rows += [row("refpe", backend, [[0, 0.2], [2, 0.2]]), row("refpe", backend, [[1, 0.25]])]
        rows.append(row("refpe", backend, [[2**24, 0.25]]))
    rows.append(row("t2t (transcribed)", "numpy", [[1, 0.5], [8, 2.0], [2**24, 4e6]]))
    curves = {c[0]: c for c in F.report_curves("pe-sinusoidal", {"results": rows})}
    assert set(curves) == {"refpe (numpy, torch)", "t2t (transcribed)"}
    assert curves["refpe (numpy, torch)"][3] == 2**24 and curves["t2t (transcribed)"][3] == 1
    fig = F.error_figure(refpe.spec("pe-sinusoidal"), list(curves.values()), "test")
    assert all(ax.get_ylim()[1] >= 4e6 for ax in fig.axes[:2])
    assert "position p" in fig.axes[0].get_xlabel() and "normalised" in fig.axes[0].get_ylabel()
    gap = F._binned([(1, 0.1), (2, 0.1), (2**20, 0.1)])
    assert len(gap) == 4 and gap[2][1] != gap[2][1]  # a NaN breaks the line over the gap
