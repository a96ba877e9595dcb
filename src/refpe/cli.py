"""The ``refpe`` command: specs, conformance, conventions, vectors, bench.

Exit status: 0 when everything asked for passed, 1 when anything failed, 2 for bad usage.
The suite and the backends are imported only by the sub-commands that need them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad usage: printed as one line, exit status 2."""


def _specs(args: argparse.Namespace) -> int:
    import refpe

    rows = [
        {
            "id": s.id,
            "name": s.name,
            "title": s.title,
            "section": s.section,
            "sources": list(s.sources),
            "dtypes": list(s.dtypes),
            "cases": len(s.cases),
            "K": dict(s.error.K),
        }
        for s in refpe.specs()
    ]
    if args.json:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    if args.markdown:
        print(specs_markdown())
        return 0
    from rich.table import Table

    t = Table(title=f"refpe specs ({len(rows)})")
    for col in ("id", "function", "title", "sources"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["id"], f"refpe.{r['name']}", r["title"], "; ".join(r["sources"]))
    _console().print(t)
    return 0


def _console() -> Any:
    """A rich console; wide when the output is not a terminal (CI logs, files)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def specs_markdown() -> str:
    """The spec list as the Markdown table the README carries (kept current by a test)."""
    import refpe

    lines = ["| spec id | function | what | sources |", "|---|---|---|---|"]
    for s in refpe.specs():
        lines.append(f"| `{s.id}` | `refpe.{s.name}` | {s.title} | {'; '.join(s.sources)} |")
    return "\n".join(lines)


def _csv(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(v for item in values or () for v in item.split(",") if v)


def _plan(args: argparse.Namespace) -> Any:
    import refpe
    from refpe import backends as B
    from refpe._registry import FLOAT_DTYPES
    from refpe.conformance import Plan, load, user_subject

    spec_ids = _csv(args.spec)
    for s in spec_ids:
        try:
            refpe.spec(s)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    backend_names = _csv(args.backend)
    known = {b.name for b in B.backends()}
    for b in backend_names:
        if b not in known:
            raise UsageError(f"unknown backend {b!r}; known: {', '.join(sorted(known))}")
    for d in _csv(args.dtype):
        if d not in FLOAT_DTYPES:
            raise UsageError(f"unknown dtype {d!r}; known: {', '.join(FLOAT_DTYPES)}")
    extra = ()
    subjects = _csv(args.subject)
    from refpe.conformance import subjects as registered

    known_subjects = {s.name for s in registered()}
    user = [s for s in subjects if ":" in s and s not in known_subjects]
    if user:
        if len(spec_ids) != 1:
            raise UsageError("--subject module:function needs exactly one --spec")
        from refpe.conformance.check import SubjectError

        try:
            extra = tuple(
                user_subject(load(u), spec_ids[0], backend_names[0] if backend_names else "numpy")
                for u in user
            )
        except SubjectError as exc:
            raise UsageError(str(exc)) from None
        subjects = tuple(s for s in subjects if s not in user) or ("__none__",)
        backend_names = ()
    return Plan(
        specs=spec_ids,
        backends=backend_names,
        devices=_csv(args.device),
        dtypes=_csv(args.dtype),
        subjects=subjects,
        compiled=args.compile,
        torch_compile=args.torch_compile,
        extra=extra,
    )


def _conformance(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from refpe.conformance import report, run

    plan = _plan(args)
    console = _console()
    t0 = time.perf_counter()
    if args.progress:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("checking", total=None)

            def progress(result: Any, total: int) -> None:
                bar.update(
                    task,
                    total=total,
                    advance=1,
                    description=f"{result.spec} {result.backend} {result.dtype}",
                )

            results = run(plan, progress)
    else:
        results = run(plan)
    wall = time.perf_counter() - t0
    report.table(results, wall, console)
    if args.json:
        report.write_json(args.json, report.to_json(results, wall))
        console.print(f"JSON report written to {args.json}")
    if not any(r.verdict == "pass" for r in results):
        console.print("nothing passed: no case ran (check the filters)", style="bold red")
        return 1
    return 1 if report.failed(results) else 0


def _conventions(args: argparse.Namespace) -> int:
    from refpe.conformance.conventions import COLUMNS, crosswalk, crosswalk_json

    if args.json:
        print(json.dumps(crosswalk_json(), indent=1, ensure_ascii=False))
        return 0
    from rich.table import Table

    rows, keys = crosswalk(), list(COLUMNS)
    t = Table(title="conventions crosswalk")
    for k in keys:
        t.add_column(k, overflow="fold")
    for r in rows:
        t.add_row(*(str(r.get(k, "")) for k in keys))
    _console().print(t)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="refpe", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("specs", help="list the registered specs")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--markdown", action="store_true", help="print the README's Markdown table")
    s.set_defaults(handler=_specs)

    c = sub.add_parser("conformance", help="run the conformance suite")
    c.add_argument("--spec", action="append", help="spec id(s), comma-separated or repeated")
    c.add_argument("--backend", action="append", help="numpy, array_api_strict, torch, jax, ...")
    c.add_argument("--device", action="append", help="cpu, cuda, ...")
    c.add_argument("--dtype", action="append", help="float64, float32, float16, bfloat16")
    c.add_argument(
        "--subject",
        action="append",
        help="refpe, builtins, a library name, a subject name, or module:function",
    )
    c.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    c.add_argument("--compile", action="store_true", help="also run compiled (jax.jit)")
    c.add_argument("--torch-compile", action="store_true", help="with --compile: torch.compile too")
    c.add_argument("--no-progress", dest="progress", action="store_false")
    c.set_defaults(handler=_conformance)

    v = sub.add_parser("conventions", help="which convention each library uses")
    v.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v.set_defaults(handler=_conventions)

    for name in ("refpe._cli_vectors", "refpe._cli_bench"):
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UsageError as exc:
        print(f"refpe: error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
