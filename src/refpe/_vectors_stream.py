"""Streaming over word-vector files: align, check and convert with memory bounded by a block.

Each function here takes ``scan``, a callable that starts the eager block reader of
:mod:`refpe.vectors` (first ``(count, dim, unit, fits)``, then blocks ``(words, vectors,
starts)``), so the rows, values and errors are the eager reader's. What is held: the result
(the aligned table), one block, and one 64-bit hash per row for the duplicate check (a word
seen twice under ``duplicates="error"`` raises the eager error; a second pass over the file
confirms a repeated hash and finds the rows to name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ._compat import from_host
from ._vectors_align import INITS, AlignReport, _vocab_ids
from ._vectors_index import distinct
from ._vectors_io import VectorFormatError

Scan = Callable[[], Iterator[Any]]
#: Rows drawn at once for the OOV rows of a streamed alignment.
DRAW_ROWS = 4096


class Seen:
    """One hash per row; :meth:`check` raises the eager duplicate error."""

    def __init__(self) -> None:
        self.hashes: list[np.ndarray] = []

    def add(self, words: list[str]) -> None:
        self.hashes.append(np.fromiter(map(hash, words), dtype=np.int64, count=len(words)))

    def check(self, path: Any, scan: Scan) -> None:
        h = np.concatenate(self.hashes) if self.hashes else np.empty(0, dtype=np.int64)
        self.hashes = []
        h.sort()
        twice = set(h[1:][h[1:] == h[:-1]].tolist())
        del h
        if not twice:
            return
        it = scan()
        unit = next(it)[2]
        first: dict[str, int] = {}
        for words, _, starts in it:  # the rows whose hash repeats, in file order
            for w, s in zip(words, starts, strict=True):
                if hash(w) in twice:
                    if w in first:
                        raise VectorFormatError(
                            path,
                            f"{unit} {s}",
                            f"duplicate word {w!r} (first at {unit} {first[w]}); "
                            "pass duplicates='first' or 'last' to keep one",
                        )
                    first[w] = s


def check(path: Any, scan: Scan) -> tuple[int, int]:
    """``(rows, dim)`` of a file read to the end the eager way (``duplicates="error"``)."""
    it = scan()
    _, dim, _, _ = next(it)
    seen, rows = Seen(), 0
    for words, vectors, _ in it:
        rows += len(words)
        dim = vectors.shape[1]
        seen.add(words)
    seen.check(path, scan)
    return rows, dim or 0


def _sampler(init: str, args: Mapping[str, Any], seed: int, dt: Any) -> Callable | None:
    """Row-block draws equal to the initialiser's whole draw (``None``: draw it whole).

    ``normal`` and ``uniform`` take one value per element from ``default_rng(seed)`` in
    row-major order, so consecutive row blocks from one generator give the same values; the
    initialiser itself is first called on zero rows to check the arguments its way.
    """
    from . import init as I
    from ._compat import require_real
    from .init import _require_spread

    fn = {"normal": I.init_normal, "uniform": I.init_uniform}.get(init)
    if fn is None:
        return None
    fn((0, 1), seed=seed, dtype=dt, xp=np, **args)
    mu = require_real("mean", args.get("mean", 0.0))
    if init == "normal":
        sd = _require_spread("std", args.get("std", 0.02))
        return lambda g, s: mu + sd * g.standard_normal(s)
    half = _require_spread("a", args.get("a", 0.05))
    return lambda g, s: mu + half * (2.0 * g.random(s) - 1.0)


def _fill_drawn(table: np.ndarray, hit: np.ndarray, init: str, seed: int, args: Mapping) -> None:
    """Write the initialiser's rows into the rows of ``table`` not ``hit``."""
    from ._vectors_align import _draw

    if init == "zeros":
        table[~hit] = 0
        return
    sample = _sampler(init, args, seed, table.dtype)
    if sample is None:  # truncated-normal (rejection draws): the whole table at once
        drawn = _draw(init, table.shape, seed, args, table.dtype, np, None)
        table[~hit] = drawn[~hit]
        return
    g = np.random.default_rng(seed)
    for lo in range(0, table.shape[0], DRAW_ROWS):
        hi = min(table.shape[0], lo + DRAW_ROWS)
        block = from_host(sample(g, (hi - lo, table.shape[1])), np, table.dtype)
        miss = ~hit[lo:hi]
        table[lo:hi][miss] = block[miss]


def align(
    vocab: Mapping[str, int] | Sequence[str],
    path: Any,
    scan: Scan,
    *,
    dtype: Any,
    init: str,
    seed: int,
    casefold: bool,
    init_args: Mapping[str, Any] | None,
    dim: int | None,
    duplicates: str,
) -> tuple[np.ndarray, AlignReport]:
    """:func:`refpe.vectors.align` of the file's ``(words, vectors)``, one block at a time."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    tokens = _vocab_ids(vocab)
    ids = {t: i for i, t in enumerate(tokens)}
    folds: dict[str, list[int]] = {}
    if casefold:
        for i, t in enumerate(tokens):
            folds.setdefault(t.casefold(), []).append(i)
    fold_word: dict[str, str] = {}
    last = duplicates == "last"
    exact = np.zeros(len(tokens), dtype=bool)
    table = None
    it = scan()
    d = next(it)[1]
    seen = Seen() if duplicates == "error" else None
    for words, vectors, _ in it:
        d = vectors.shape[1]
        if table is None:
            table = _allocate(len(tokens), d, dim, vectors.dtype)
        if seen is not None:
            seen.add(words)
        for r in [r for r, w in enumerate(words) if w in ids]:
            i = ids[words[r]]
            if last or not exact[i]:
                exact[i] = True
                table[i] = vectors[r]
        if not casefold:
            continue
        for r, w in enumerate(words):
            f = w.casefold()
            rows = folds.get(f)
            if rows is None:
                continue
            if f not in fold_word:
                fold_word[f] = w
            elif not (last and fold_word[f] == w):
                continue
            for i in rows:
                if not exact[i]:
                    table[i] = vectors[r]
    if seen is not None:
        seen.check(path, scan)
    if table is None:
        table = _allocate(len(tokens), d or 0, dim, np.dtype(dtype))
    found, done, folded, oov = [], [], [], []
    for i, t in enumerate(tokens):
        w = fold_word.get(t.casefold()) if casefold and not exact[i] else None
        if exact[i]:
            done.append(t)
        elif w is not None:
            folded.append((t, w))
        else:
            oov.append(t)
        found.append(exact[i] or w is not None)
    hit = np.asarray(found, dtype=bool)
    _fill_drawn(table, hit, init, seed, init_args or {})
    report = AlignReport(len(tokens), tuple(done), tuple(folded), tuple(oov), hit, init, seed)
    return table, report


def _allocate(rows: int, d: int, dim: int | None, dt: Any) -> np.ndarray:
    if dim is not None and dim != d:
        raise ValueError(
            f"width mismatch: vectors have width {d}, the table needs dim={dim}; "
            "refpe never truncates or pads vectors"
        )
    return np.empty((rows, d), dtype=dt)


def write(path: Any, words: Sequence[str], vectors: Any, format: str, encoding: str,
          newline: bool, allow_nonfinite: bool) -> None:  # fmt: skip
    """:func:`refpe.vectors.write` of a Dask array, one block at a time (same checks: the
    words of each block, unique across blocks; the values of each block)."""
    from . import _vectors_write as _write
    from ._vectors_files import atomic_write

    if isinstance(words, str) or len(words) != vectors.shape[0]:
        _write.check_words(words, vectors.shape[0], encoding, format)  # raises
    _write.check_vectors(np.empty((0, vectors.shape[1]), vectors.dtype), format, True)
    unique = distinct(words if isinstance(words, list) else list(words))

    def rows(f: Any) -> None:
        n, d = vectors.shape
        if format != "glove":
            f.write(f"{n} {d}\n".encode())
        lo = 0
        for block in vectors.blocks:
            host = _write.host_floats(block.compute())
            hi = lo + host.shape[0]
            try:
                _write.check_vectors(host, format, allow_nonfinite)
                raw = _write.check_words(words[lo:hi], hi - lo, encoding, format if lo == 0 else "")
            except ValueError as e:  # the eager message, with the row in the whole table
                raise ValueError(_shift(str(e), lo)) from None
            _write.write_rows(f, raw, host, format, newline, header=False)
            lo = hi

    if not unique:
        _write.check_words(words, len(words), encoding, format)  # raises the eager error
    atomic_write(path, rows)


def _shift(message: str, lo: int) -> str:
    """``words[i]``/``vectors[i, j]`` of a block's message as the whole table's row."""
    import re

    return re.sub(r"^(words|vectors)\[(\d+)", lambda m: f"{m[1]}[{int(m[2]) + lo}", message)
