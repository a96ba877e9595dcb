"""``refpe bench``: throughput of the hot specs against a memory copy and the usual peers.

The harness lives in ``refpe.bench`` (imported when the command runs); this module adds the
sub-command to ``refpe``'s parser and prints the harness's results.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from .common import UsageError, console, split_csv


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit == "s":
        return f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s"
    if unit == "err":
        return f"{v:.3g}" if v != float("inf") else "inf"
    return f"{v:.3g}"


def _strict(v: Any) -> Any:
    """``v`` with non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"`` (strict
    JSON has no such numbers; the conformance report writes an unbounded error as ``"inf"``)."""
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _bench(args: argparse.Namespace) -> int:
    # Before any OpenMP runtime starts: PyTorch's and Numba's idle threads sleep instead of
    # spinning, so that one library timed right after the other is not slowed by them.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rich.table import Table

    from refpe import bench

    if args.markdown:  # print a kept report's tables; nothing is measured
        import json

        from refpe.bench.summary import markdown

        try:
            with open(args.markdown, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError(f"--markdown: cannot read {args.markdown}: {e}") from None
        if doc.get("schema") != "refpe-bench/1":
            raise UsageError(f"--markdown: {args.markdown} is not a refpe-bench/1 report")
        print(markdown(doc))
        return 0

    known_specs = list(bench.LARGE) if args.large else list(bench.SPECS)
    specs = list(args.specs) or known_specs
    for s in specs:
        if s not in known_specs:
            what = "--large benchmark" if args.large else "benchmark"
            raise UsageError(f"no {what} for spec {s!r}; benchmarked: {', '.join(known_specs)}")
    if args.large and (args.quick or args.sweep or args.device != "cpu"):
        raise UsageError("--large runs alone: without --quick, --sweep and --device cuda")
    backends = split_csv(args.backend) or list(bench.BACKENDS)
    known = (*bench.BACKENDS, *bench.OPTIONAL)
    for b in backends:
        if b not in known:
            raise UsageError(f"unknown bench backend {b!r}; known: {', '.join(known)}")
    if args.repeats is not None and args.repeats < 1:
        raise UsageError(f"--repeats must be >= 1, got {args.repeats}")
    out = console()

    def progress(rec: dict[str, Any]) -> None:
        out.print(f"measured {rec['spec']} {rec['case']} [{rec['backend']}]")

    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got {args.device!r}")
    doc = bench.run(
        specs, backends, quick=args.quick, sweeps=args.sweep, repeats=args.repeats,
        progress=progress, device=args.device, large=args.large,
    )  # fmt: skip
    if doc.get("skipped"):
        out.print(f"nothing measured: {doc['skipped']}")
    sizes = "large" if args.large else "quick" if args.quick else "full"
    t = Table(title=f"refpe bench ({sizes} sizes)")
    for col in ("spec", "case", "backend", "candidate", "median", "GB/s", "vs copy", "vs peer",
                "error", "what ran"):  # fmt: skip
        t.add_column(col, overflow="fold")
    for r in doc["results"]:
        for label, c in r["candidates"].items():
            t.add_row(
                r["spec"], r["case"], r["backend"], label, _fmt(c.get("median_s"), "s"),
                _fmt(c.get("gbytes_per_s")), _fmt(c.get("vs_copy")), _fmt(c.get("vs_peer")),
                _fmt(c.get("error"), "err"), c.get("skipped") or c["name"],
            )  # fmt: skip
    out.print(t)
    for tg in doc["targets"]:
        mark = "met" if tg["met"] else "NOT met"
        out.print(f"target {mark}: {tg['name']}: measured {tg['measured']:.3g}")
    if args.json:
        from refpe.conformance.report import write_json

        write_json(args.json, _strict(doc))  # atomically
        out.print(f"JSON written to {args.json}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``bench`` to ``refpe``'s sub-command parsers."""
    b = subparsers.add_parser("bench", help="time the hot specs against a copy and their peers")
    b.add_argument("specs", nargs="*", metavar="SPEC", help="spec ids (default: all benchmarked)")
    b.add_argument(
        "--backend",
        action="append",
        help="numpy, torch (the default), jax (rope only); comma-separated or repeated",
    )
    b.add_argument(
        "--device",
        default="cpu",
        help="cpu (default) or cuda: rope, the sinusoid table and the embedding gradient on "
        "the CUDA device (PyTorch and CuPy), against PyTorch's copy there",
    )
    b.add_argument("--json", metavar="PATH", help="write the results to PATH (refpe-bench/1)")
    b.add_argument("--quick", action="store_true", help="small sizes (tests, CI)")
    b.add_argument("--sweep", action="store_true", help="also time against T and d")
    b.add_argument(
        "--large",
        action="store_true",
        help="the vector file readers on a 10^6-row text and a 3*10^6-row binary file "
        "(about 7 GB of disk under the temporary directory and 15 GB of memory; one round)",
    )
    b.add_argument("--repeats", type=int, help="timed rounds (default 7, 3 with --quick)")
    b.add_argument(
        "--markdown",
        metavar="REPORT",
        help="print a kept report's results and targets as the README's tables",
    )
    b.set_defaults(handler=_bench)
