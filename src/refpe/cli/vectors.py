"""``refpe vectors info|convert|align``: word-vector files from the command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from refpe.vectors import FORMATS

#: Files at least this large get a progress bar (on stderr).
PROGRESS_BYTES = 16 << 20
#: Rows ``convert`` reads and writes at a time (``read(chunks=)``): memory is one block.
BLOCK_ROWS = 1 << 14


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``vectors`` sub-command (``info``, ``convert``, ``align``) to ``subparsers``."""
    p = subparsers.add_parser("vectors", help="read, convert and align word-vector files")
    sub = p.add_subparsers(dest="vectors_command", required=True)

    def reading(q: argparse.ArgumentParser, fmt_flag: str = "--format") -> None:
        q.add_argument(fmt_flag, choices=FORMATS, help="file format (default: detected)")
        q.add_argument("--encoding", default="utf-8")
        q.add_argument("--errors", default="strict", help="strict, replace, ignore, ...")
        q.add_argument("--limit", type=int, help="read the first LIMIT vectors only")
        q.add_argument("--duplicates", choices=("error", "first", "last"), default="error")
        q.add_argument("--no-progress", dest="progress", action="store_false")

    i = sub.add_parser("info", help="format, count and dimension of a vector file")
    i.add_argument("path")
    i.add_argument("--format", choices=FORMATS, help="file format (default: detected)")
    i.add_argument("--check", action="store_true", help="also read every vector")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(handler=_info)

    c = sub.add_parser("convert", help="convert between word-vector formats")
    c.add_argument("source")
    c.add_argument("target")
    reading(c, "--from")
    c.add_argument("--to", required=True, choices=FORMATS)
    c.add_argument(
        "--no-newline",
        dest="newline",
        action="store_false",
        help="word2vec-binary: no newline after each vector",
    )
    c.set_defaults(handler=_convert)

    a = sub.add_parser("align", help="embedding table for a vocabulary from pretrained vectors")
    a.add_argument("vectors", help="the pretrained vector file")
    a.add_argument("vocab", help="vocab.txt (one token per line) or a JSON token -> id map")
    a.add_argument("out", help="where to save the table (.npy)")
    reading(a)
    a.add_argument(
        "--init", choices=("normal", "uniform", "truncated-normal", "zeros"), default="normal"
    )
    a.add_argument("--std", type=float, help="std of normal / truncated-normal draws")
    a.add_argument("--a", dest="bound", type=float, help="bound of uniform draws U(-a, a)")
    a.add_argument("--seed", type=int, required=True)
    a.add_argument("--casefold", action="store_true", help="fall back to case-folded words")
    a.add_argument("--frozen", help="also save the pretrained-row mask (.npy)")
    a.add_argument("--report", help="also write the coverage report (JSON)")
    a.set_defaults(handler=_align)
    return p


@contextlib.contextmanager
def _progress(path: str, show: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not show or os.path.getsize(path) < PROGRESS_BYTES:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(os.path.basename(path), total=os.path.getsize(path))
        yield lambda done, total: bar.update(task, completed=done)


def _options(path: str, fmt: str | None, args: argparse.Namespace) -> dict[str, Any]:
    from refpe.vectors import detect

    return dict(
        format=fmt or detect(path),
        limit=args.limit,
        encoding=args.encoding,
        errors=args.errors,
        duplicates=args.duplicates,
    )


def _failing(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except (OSError, ValueError, TypeError) as exc:
            print(f"refpe vectors: error: {exc}", file=sys.stderr)
            return 1

    return run


@_failing
def _info(args: argparse.Namespace) -> int:
    from refpe.vectors import check, info

    facts = info(args.path, format=args.format)
    if args.check:  # the same reader as read(), streamed: fails exactly when read() would
        count, dim = check(args.path, format=facts["format"])
        facts.update(count=count, dim=dim, checked=True)
    if args.json:
        print(json.dumps(facts, ensure_ascii=False))
    else:
        for k, v in facts.items():
            print(f"{k}: {v}")
    return 0


@_failing
def _convert(args: argparse.Namespace) -> int:
    from refpe.vectors import read, write

    opts = _options(args.source, args.__dict__["from"], args)
    with _progress(args.source, args.progress) as progress:  # lazy: one block at a time
        words, vectors = read(args.source, progress=progress, chunks=BLOCK_ROWS, **opts)
    write(args.target, words, vectors, format=args.to, newline=args.newline)
    print(f"wrote {len(words)} vectors of dimension {vectors.shape[1]} to {args.target}")
    return 0


def _vocab(path: str) -> Any:
    import io

    from refpe._vectors_files import open_regular

    with io.TextIOWrapper(open_regular(path, "vocab"), encoding="utf-8") as f:
        if path.endswith(".json"):
            return json.load(f)
        return [line.rstrip("\r\n") for line in f]


@_failing
def _align(args: argparse.Namespace) -> int:
    import numpy as np

    from refpe.vectors import align_file

    vocab = _vocab(args.vocab)
    init_args = {"std": args.std} if args.std is not None else {}
    if args.bound is not None:
        init_args["a"] = args.bound
    with _progress(args.vectors, args.progress) as progress:  # streamed: table + one block
        table, report = align_file(
            vocab,
            args.vectors,
            progress=progress,
            **_options(args.vectors, args.format, args),
            init=args.init,
            seed=args.seed,
            casefold=args.casefold,
            init_args=init_args,
        )
    np.save(args.out, table, allow_pickle=False)
    if args.frozen:
        np.save(args.frozen, np.asarray(report.frozen), allow_pickle=False)
    if args.report:
        facts = {
            "size": report.size,
            "coverage_percent": report.coverage,
            "found": list(report.found),
            "casefolded": [list(p) for p in report.casefolded],
            "oov": list(report.oov),
            "init": report.init,
            "seed": report.seed,
        }
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(facts, f, ensure_ascii=False, indent=1)
    print(report)
    return 0
