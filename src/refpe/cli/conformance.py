"""``refpe conformance`` (the suite, its table and JSON report) and ``refpe conventions`` (which
convention each library uses)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

from .common import UsageError, console, split_csv

#: What runs when no ``--backend`` is given: the host libraries, quick to import.
DEFAULT_BACKENDS = ("numpy", "array_api_strict")


def _user_subjects(targets: list[str], spec_id: str, backend: str) -> tuple:
    """The user's ``module:function`` subjects, with the current directory on ``sys.path``
    first (as ``python -m`` does) so that ``mymod:fn`` finds ``./mymod.py``."""
    from refpe.conformance import load, user_subject
    from refpe.conformance.check import SubjectError

    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
    try:
        return tuple(user_subject(load(u), spec_id, backend) for u in targets)
    except SubjectError as exc:
        cause = exc.__cause__
        module = targets[0].partition(":")[0] if len(targets) == 1 else "the module"
        for u in targets:
            if f"'{u.partition(':')[0]}'" in str(exc):
                module = u.partition(":")[0]
        # The module itself (or its package) not found, rather than something it imports.
        missing = isinstance(cause, ModuleNotFoundError) and (
            cause.name == module or module.startswith(f"{cause.name}.")
        )
        if cause is not None and not missing:
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
            hint = f" (hint: {module!r} was found but failed to import: see the traceback above)"
        elif missing:
            hint = (
                f" (hint: refpe looks for {module!r} in the current directory {here} and on "
                "PYTHONPATH; run it from the folder that holds the module, or set PYTHONPATH)"
            )
        else:
            hint = ""
        raise UsageError(f"{exc}{hint}") from None


def _plan(args: argparse.Namespace) -> Any:
    import refpe
    from refpe import backends as B
    from refpe.conformance import Plan
    from refpe.registry import FLOAT_DTYPES

    spec_ids = split_csv(args.spec)
    for s in spec_ids:
        try:
            refpe.spec(s)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
    backend_names = split_csv(args.backend)
    explicit = bool(backend_names)
    if "all" in backend_names:
        backend_names = ()
    known = {b.name for b in B.backends()}
    for b in backend_names:
        if b not in known:
            raise UsageError(f"unknown backend {b!r}; known: {', '.join(sorted(known))}")
    for d in split_csv(args.dtype):
        if d not in FLOAT_DTYPES:
            raise UsageError(f"unknown dtype {d!r}; known: {', '.join(FLOAT_DTYPES)}")
    extra: tuple = ()
    subjects = split_csv(args.subject)
    # Subjects named as module:function are the user's; a registered subject's name never
    # holds a colon... except the kernels' ("kernel:rope"), so those are looked up first.
    user = [s for s in subjects if ":" in s and not s.startswith("kernel:")]
    if user:
        if len(spec_ids) != 1:
            raise UsageError("--subject module:function needs exactly one --spec")
        extra = _user_subjects(user, spec_ids[0], backend_names[0] if backend_names else "numpy")
        subjects = tuple(s for s in subjects if s not in user) or ("__none__",)
        backend_names = ()
    elif not explicit and (not subjects or set(subjects) <= {"refpe"}):
        backend_names = DEFAULT_BACKENDS
    return Plan(
        specs=spec_ids,
        backends=backend_names,
        devices=split_csv(args.device),
        dtypes=split_csv(args.dtype),
        subjects=subjects,
        compiled=args.compile,
        torch_compile=args.torch_compile,
        extra=extra,
        strict_errors=args.strict_errors,
    )


def _run(args: argparse.Namespace, plan: Any, progress: Any) -> tuple[list, Any]:
    """The suite in this process, or spread over Dask workers (``--workers``, ``--scheduler``):
    the same results in the same order; and the :class:`Aborted` that stopped a run in this
    process early (else ``None``)."""
    from refpe.conformance import run
    from refpe.conformance.runner import Aborted

    if not args.workers and not args.scheduler:
        try:
            return run(plan, progress), None
        except Aborted as stop:
            return stop.results, stop
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be >= 1, got {args.workers}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError("--workers and --scheduler need dask.distributed (refpe[dask])") from None
    from refpe.conformance.distributed import run_distributed

    found = run_distributed(plan, progress, workers=args.workers, scheduler=args.scheduler)
    return found, None


def _conformance(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from refpe.conformance import report

    plan = _plan(args)
    accept = split_csv(args.accept)
    try:
        report.failing(accept)
    except ValueError as exc:
        raise UsageError(str(exc).replace("accept must", "--accept must")) from None
    out = console()
    t0 = time.perf_counter()
    if args.progress:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=out, transient=True) as bar:
            task = bar.add_task("checking", total=None)

            def progress(result: Any, total: int) -> None:
                bar.update(
                    task,
                    total=total,
                    advance=1,
                    description=f"{result.spec} {result.backend} {result.dtype}",
                )

            results, aborted = _run(args, plan, progress)
    else:
        results, aborted = _run(args, plan, None)
    wall = time.perf_counter() - t0
    report.table(results, wall, out, accept)
    if args.json:
        report.write_json(args.json, report.to_json(results, wall, accept))
        out.print(f"JSON report written to {args.json}")
    if aborted is not None:
        r = aborted.result
        out.print(
            f"the run stopped: {r.subject} raised {r.reason.split(' raised')[0]} on "
            f"{r.spec} / {r.case} ({r.backend} {r.dtype})",
            style="bold red",
            soft_wrap=True,
        )
        return 1
    users = [s.name for s in plan.extra]
    skips = report.too_many_skipped(results, users)
    for line in skips.values():
        out.print(line, style="bold red" if "skipped" not in accept else "yellow", soft_wrap=True)
    if not any(r.verdict == "pass" for r in results):
        out.print("nothing passed: no case ran (check the filters)", style="bold red")
        return 1
    return 1 if report.failed(results, accept, users) else 0


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
    console().print(t)
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``conformance`` and ``conventions`` to ``refpe``'s sub-command parsers."""
    c = subparsers.add_parser("conformance", help="run the conformance suite")
    c.add_argument("--spec", action="append", help="spec id(s), comma-separated or repeated")
    c.add_argument(
        "--backend",
        action="append",
        help="numpy, array_api_strict, torch, jax, cupy, dask, or all (default: numpy and "
        "array_api_strict; for module:function, the library the function takes: numpy)",
    )
    c.add_argument("--device", action="append", help="cpu, cuda, ...")
    c.add_argument("--dtype", action="append", help="float64, float32, float16, bfloat16")
    c.add_argument(
        "--subject",
        action="append",
        help="refpe, builtins, a library name, a subject name, or module:function (the "
        "current directory is put first on sys.path, as python -m does, so mymod:fn finds "
        "./mymod.py)",
    )
    c.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    c.add_argument("--compile", action="store_true", help="also run compiled (jax.jit)")
    c.add_argument("--torch-compile", action="store_true", help="with --compile: torch.compile too")
    c.add_argument("--no-progress", dest="progress", action="store_false")
    c.add_argument(
        "--accept",
        action="append",
        metavar="VERDICT",
        help="verdicts that do not fail the run (exit 0): 'loose' (beyond the exact bound, "
        "within the usual one), 'skipped' (more than half of a subject's cases skipped)",
    )
    c.add_argument(
        "--strict-errors",
        action="store_true",
        help="bad-input cases require the spec's exception type (ValueError), not any exception",
    )
    c.add_argument(
        "--workers", type=int, metavar="N", help="run on a Dask LocalCluster of N processes"
    )
    c.add_argument("--scheduler", metavar="ADDRESS", help="run on the Dask scheduler at ADDRESS")
    c.set_defaults(handler=_conformance)

    v = subparsers.add_parser("conventions", help="which convention each library uses")
    v.add_argument("--json", action="store_true", help="print JSON instead of a table")
    v.set_defaults(handler=_conventions)
