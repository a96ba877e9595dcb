"""Reports: the terminal table (rich) and the JSON report with its versioned schema.

JSON schema ``refpe-conformance/2`` (documented in the docs' report-schema guide)::

    {
      "schema": "refpe-conformance/2",
      "refpe_version": str, "created": ISO-8601 UTC, "wall_seconds": float,
      "machine": {"platform": str, "python": str, "processor": str, "cpu_count": int},
      "libraries": {name: version},
      "backends": [{"name", "available", "reason", "devices", "settings", "compiler"}],
      "accepted": [verdict, ...],   # verdicts that did not fail the run ("loose", ...)
      "summary": {"pass": int, "loose": int, "fail": int, "differs": int, "skipped": int,
                  "error": int},
      "results": [{"spec", "case", "subject", "backend", "device", "dtype", "mode",
                   "verdict" (pass / loose / fail / differs / skipped / error),
                   "error" (normalised under the exact bound; "inf" when unbounded),
                   "K" (the exact bound's constant), "error_usual", "K_usual" (the same
                   under the usual bound), "horizon" (largest position within the exact
                   bound, or null), "curve" ([[position, error], ...] ascending),
                   "oracle" (what computed the exact answer), "reason", "where",
                   "diagnosis", "seconds", "kernel"}]
    }

Version 2 added ``loose``, ``error_usual``, ``K_usual``, ``horizon``, ``curve``, ``oracle``
and ``accepted``; the exact answer is the oracle's, not refpe's own float64 output.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from refpe import backends as B
from refpe._vectors_files import atomic_write

from .judge import describe_horizon, measured
from .judge import fmt as _fmt
from .runner import Result

SCHEMA = "refpe-conformance/2"
VERDICTS = ("pass", "loose", "fail", "differs", "skipped", "error")
#: Verdicts a user may accept (``--accept``): they then do not fail the run. ``skipped``
#: fails a run only where more than half of a subject's cases were skipped.
ACCEPTABLE = ("loose", "skipped")
_LIBRARIES = (
    "refpe",
    "numpy",
    "array-api-compat",
    "array-api-strict",
    "torch",
    "jax",
    "jaxlib",
    "cupy",
    "dask",
    "transformers",
)


def summary(results: Iterable[Result]) -> dict[str, int]:
    counts = Counter(r.verdict for r in results)
    return {v: counts.get(v, 0) for v in VERDICTS}


def failing(accept: Iterable[str] = ()) -> set[str]:
    """The verdicts that fail a run by themselves: ``fail``, ``error``, and ``loose`` unless
    accepted (``skipped`` may be accepted too: see :func:`too_many_skipped`)."""
    accept = set(accept)
    unknown = accept - set(ACCEPTABLE)
    if unknown:
        raise ValueError(
            f"accept must name verdicts among {', '.join(ACCEPTABLE)}, got {sorted(unknown)!r}"
        )
    return {"fail", "error", *(v for v in ("loose",) if v not in accept)}


def too_many_skipped(
    results: Iterable[Result], subjects: Iterable[str] | None = None
) -> dict[str, str]:
    """Subjects (all, or those named) more than half of whose cases were skipped, each with
    a sentence saying so. A subject skipped as a whole (not installed) is not counted here."""
    names = None if subjects is None else set(subjects)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        if (names is None or r.subject in names) and r.case != "*":
            counts[r.subject][r.verdict] += 1
    out = {}
    for subject, c in counts.items():
        total = sum(c.values())
        if c["skipped"] * 2 > total:
            out[subject] = (
                f"{subject}: {c['skipped']} of {total} cases skipped, so it is not counted as "
                "passing (accept skips with --accept skipped / accept=('skipped',))"
            )
    return out


def failed(
    results: Iterable[Result], accept: Iterable[str] = (), subjects: Iterable[str] = ()
) -> bool:
    """Whether the run fails: any ``fail`` or ``error`` verdict, ``loose`` not accepted, or
    (``skipped`` not accepted) more than half of the cases of one of ``subjects`` skipped."""
    results = list(results)
    bad = failing(accept)
    if "skipped" not in set(accept) and too_many_skipped(results, subjects):
        return True
    return any(r.verdict in bad for r in results)


def libraries() -> dict[str, str]:
    found = {}
    for name in _LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def backend_info() -> list[dict[str, Any]]:
    out = []
    for b in B.backends():
        reason = b.available()
        info: dict[str, Any] = {"name": b.name, "available": reason is None, "reason": reason or ""}
        if reason is None:
            info.update(devices=b.devices(), settings=b.settings(), compiler=b.compiler or "")
        out.append(info)
    return out


def to_json(results: list[Result], wall: float, accept: Iterable[str] = ()) -> dict[str, Any]:
    import refpe

    return {
        "schema": SCHEMA,
        "refpe_version": refpe.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 3),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count() or 0,
        },
        "libraries": libraries(),
        "backends": backend_info(),
        "accepted": sorted(set(accept)),
        "summary": summary(results),
        "results": [r.to_json() for r in results],
    }


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file in the same folder, renamed),
    with the rules of :func:`refpe._vectors_files.atomic_write`: an existing file keeps its
    permission bits, a new one gets ``0o666`` masked by the umask."""
    text = (json.dumps(data, indent=1, allow_nan=False) + "\n").encode("utf-8")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, lambda f: f.write(text), "--json")


def table(
    results: list[Result], wall: float, console: Any = None, accept: Iterable[str] = ()
) -> None:
    """Print one row per spec × subject × backend × device × dtype × mode, then the problems."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    groups: dict[tuple[str, ...], list[Result]] = defaultdict(list)
    for r in results:
        groups[(r.spec, r.subject, r.backend, r.device, r.dtype, r.mode)].append(r)
    t = Table(title="refpe conformance", show_lines=False)
    for col in (
        "spec",
        "subject",
        "backend",
        "device",
        "dtype",
        "mode",
        "cases",
        "worst err",
        "K",
        "verdict",
        "horizon",
    ):
        t.add_column(col, justify="right" if col in ("cases", "worst err", "K") else "left")
    style = {
        "pass": "green",
        "loose": "magenta",
        "fail": "bold red",
        "error": "bold red",
        "differs": "yellow",
        "skipped": "dim",
    }
    skipped: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key, rs in groups.items():
        counts = Counter(r.verdict for r in rs)
        order = ("error", "fail", "loose", "differs", "pass", "skipped")
        verdict = next(v for v in order if counts[v])
        errs = [r.error for r in rs if r.error is not None]
        ks = [r.K for r in rs if r.K is not None]
        note = ", ".join(f"{counts[v]} {v}" for v in VERDICTS if counts[v])
        if rs[0].subject.startswith("kernel:"):  # the public function: what answered
            note += f" ({sum(r.kernel not in ('reference', '') for r in rs)} by a kernel)"
        if verdict == "skipped":
            skipped[(r0 := rs[0]).subject, r0.backend, r0.device, r0.reason].append(r0.spec)
            continue
        t.add_row(
            *key,
            str(len(rs)),
            _fmt(max(errs) if errs else None),
            _fmt(max(ks) if ks else None),
            f"[{style[verdict]}]{note}[/]",
            _horizon(rs),
        )
    console.print(t)
    for (subject, backend, device, reason), specs in skipped.items():
        where = f"{backend} {device}".replace(" *", "")
        what = "" if specs == ["*"] else f" ({len(set(specs))} specs)"
        console.print(f"[dim]skipped: {subject} on {where}{what}: {reason}[/]", soft_wrap=True)
    problems = [r for r in results if r.verdict in ("fail", "error", "loose", "differs")]
    for r in problems[:50]:
        console.print(
            f"[{style[r.verdict]}]{r.verdict.upper()}[/] {r.spec} / {r.case} / {r.subject} "
            f"({r.backend} {r.device} {r.dtype} {r.mode}): {measured(r.error, r.K, r.verdict)}"
            f"{_usual(r)}{_reach(r)}{r.reason} {r.where} "
            f"{('— ' + r.diagnosis) if r.diagnosis else ''}".rstrip(),
            soft_wrap=True,
        )
    if len(problems) > 50:
        console.print(f"... and {len(problems) - 50} more (see --json)")
    s = summary(results)
    console.print(
        " · ".join(f"{s[v]} {v}" for v in VERDICTS) + f" · wall time {wall:.1f} s",
        style="bold red" if failed(results, accept) else "bold green",
    )


def _reach(r: Result) -> str:
    text = describe_horizon(r.horizon, [tuple(c) for c in r.curve], r.K or 0.0)
    return f"[{text}] " if text else ""


def _usual(r: Result) -> str:
    if r.verdict != "loose":
        return ""
    return f"(usual bound: err={_fmt(r.error_usual)} K={_fmt(r.K_usual)}) "


def _horizon(rs: list[Result]) -> str:
    """The group's worst horizon: the case that stays exact over the shortest range."""
    swept = [r for r in rs if r.curve]
    if not swept:
        return ""
    worst = min(swept, key=lambda r: -1 if r.horizon is None else r.horizon)
    return describe_horizon(worst.horizon, [tuple(c) for c in worst.curve], worst.K or 0.0)
