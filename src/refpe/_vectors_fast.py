"""The fast paths of the vector readers: text rows (word2vec text, GloVe, fastText ``.vec``)
by Arrow, binary records in runs.

The pure reader in :mod:`refpe._vectors_io` checks and parses a chunk of rows line by line;
this module parses the same chunk in one call of Apache Arrow's CSV reader (``pyarrow``,
pinned in ``constraints.txt``) when the chunk is plainly well formed, and *declines* (returns
``None``) on anything else, so the pure reader then reads that chunk and raises its error with
the file and the line. The fast path never raises for a bad row and never accepts a chunk the
pure path would refuse.

Why Arrow: its CSV reader splits the fields and converts the decimals with ``fast_float``
(Lemire 2021, "Number parsing at a gigabyte per second"), which rounds every decimal
correctly to the nearest float64, as the C library's ``strtod`` behind the pure path does; the
float64 is then rounded to the requested dtype by the same NumPy cast. The values are
therefore bit-identical to the pure reader's (``tests/test_vectors_fast.py`` compares them on
random, shortest, long, tiny and huge decimals). Without ``pyarrow`` every chunk declines.

For word2vec binary files, :func:`binary_run` takes runs of plain records at once: their
words are checked and decoded together and their vector bytes copied in one call, by a loop
Numba compiles where it is importable (:data:`COMPILED_FROM`), else by ``bytes.find``
record by record (``tests/test_vectors_binary_scan.py`` compares both with the
record-by-record reader).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _numba

#: Bytes that may not appear in a word taken by the fast path: every ASCII control byte but
#: the line feed (tabs, NUL, DEL ...). A chunk with one in a word declines; in a value Arrow's
#: conversion refuses every one of them but the tab, which it trims (so a tab declines too).
_CONTROLS = bytes(b for b in range(32) if b != 10) + b"\x7f"
_BOM = b"\xef\xbb\xbf"
#: Switch for the fast path (tests set it to ``False`` to compare with the pure reader).
ENABLED = True


@functools.lru_cache(maxsize=1)
def _arrow() -> Any:
    try:
        import pyarrow
        import pyarrow.csv
    except ImportError:
        return None
    return pyarrow


@functools.lru_cache(maxsize=8)
def _options(dim: int) -> tuple[Any, Any, Any]:
    """Arrow's read, parse and convert options for rows of a word and ``dim`` float64s.

    No quoting, escaping or null values: a quote is an ordinary byte (then a bad float) and
    an empty field is a bad float, so each row must have exactly ``dim + 1`` non-empty fields.
    """
    pa = _arrow()
    csv = pa.csv
    names = [f"c{i}" for i in range(dim + 1)]
    types = {name: pa.float64() for name in names[1:]}
    types[names[0]] = pa.binary()
    # blocks of 1 MiB: a chunk of about 2 MiB is parsed by two threads at once
    read = csv.ReadOptions(column_names=names, block_size=1 << 20, use_threads=True)
    parse = csv.ParseOptions(
        delimiter=" ",
        quote_char=False,
        escape_char=False,
        double_quote=False,
        newlines_in_values=False,
        ignore_empty_lines=False,
    )
    convert = csv.ConvertOptions(
        column_types=types,
        null_values=[],
        true_values=[],
        false_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return read, parse, convert


def available() -> bool:
    """Whether the fast path can run (``pyarrow`` importable)."""
    return _arrow() is not None


def parse_rows(
    body: bytes,
    lines: int,
    dim: int | None,
    dtype: np.dtype,
    codec: str,
    errors: str,
    max_word: int,
) -> tuple[list[str], np.ndarray] | None:
    """``(words, vectors)`` of the ``lines`` rows in ``body`` (joined by LF, no line end at
    the end, no CR), or ``None`` where the pure reader must read them.

    ``codec``/``errors`` decode the words, of at most ``max_word`` bytes (the rules of
    :mod:`refpe._vectors_io`, which calls this). ``dim``: the values per row (``None``: the
    first row's count, GloVe). A chunk with a non-finite value declines, whether or not they
    are allowed: the pure path decides.
    """
    pa = _arrow() if ENABLED else None
    if pa is None or not body or body.endswith(b"\n") or body.startswith((b"\n", _BOM)):
        return None  # (Arrow would skip a byte-order mark, here the start of a word)
    if b"\t" in body or b"\r" in body or b"\n\n" in body:
        return None  # a tab (Arrow trims it around a number), a CR or a blank line
    if dim is None:
        end = body.find(b"\n")
        dim = body[: end if end >= 0 else len(body)].count(b" ")
    if dim < 1:
        return None
    read, parse, convert = _options(dim)
    try:
        table = pa.csv.read_csv(
            pa.py_buffer(body), read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # a wrong field count or a field that is not a float
    n = table.num_rows
    if n != lines or table.num_columns != dim + 1:
        return None
    words = _words(table.column(0).combine_chunks(), codec, errors, max_word)
    if words is None:
        return None
    out = np.empty((n, dim), dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        for c in range(dim):
            out[:, c] = table.column(c + 1).to_numpy()
    if not np.isfinite(out).all():
        return None  # non-finite (read as such, or overflowing dtype): the pure path decides
    return words, out


def _words(column: Any, codec: str, errors: str, max_word: int) -> list[str] | None:
    """The decoded words, or ``None`` when one breaks a rule (empty, too long, a space or a
    control byte, bad encoding: the pure path reports it)."""
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[
        column.offset : column.offset + len(column) + 1
    ]
    lengths = np.diff(offsets)
    if lengths.min() < 1 or lengths.max() > max_word:
        return None
    raw = column.to_pylist()  # bytes without a space or LF (Arrow split the rows at them)
    joined = b"\n".join(raw)
    if len(joined.translate(None, _CONTROLS)) != len(joined):
        return None  # a control byte in a word (in a value Arrow's conversion refuses it)
    if codec == "utf-8" and errors == "strict":
        try:
            # LF is never part of a UTF-8 sequence: the joined text decodes exactly when
            # every word does, into the same words
            return joined.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            return None
    words = []
    for w in raw:
        try:
            text = w.decode(codec, errors)
        except UnicodeDecodeError:
            return None
        if not text:
            return None
        words.append(text)
    return words


#: Bytes no word may hold (as :data:`refpe._vectors_io._NOT_IN_WORDS`): controls and space.
_NOT_IN_WORDS = bytes(range(33)) + b"\x7f"
#: The bytes a fast binary record's word is looked for in (longer words: the pure path).
_SHORT_WORD = 256
#: Records a run must ask for before the compiled scan takes it (a smaller run costs less in
#: Python than the scan's compilation, once per process).
COMPILED_FROM = 1024


def _build_scan(numba: Any) -> Any:
    @numba.njit(cache=False)
    def scan(buf, pos, rec, n, short, spans):  # pragma: no cover - needs Numba
        size, k = buf.shape[0], 0
        while k < n:
            sp = -1
            for j in range(pos, min(pos + short + 2, size)):
                if buf[j] == 32:
                    sp = j
                    break
            if sp < 0 or sp > size - rec - 1:
                break
            start = pos
            while start < sp and (buf[start] == 10 or buf[start] == 13):
                start += 1
            if start == sp:
                break
            spans[k, 0], spans[k, 1] = start, sp
            pos = sp + 1 + rec
            k += 1
        return k

    @numba.njit(cache=False)
    def gather(buf, spans, rec, joined, rows):  # pragma: no cover - needs Numba
        w = 0
        for k in range(spans.shape[0]):
            start, sp = spans[k, 0], spans[k, 1]
            if k:
                joined[w] = 32
                w += 1
            for j in range(start, sp):
                joined[w] = buf[j]
                w += 1
            src, dst = buf[sp + 1 : sp + 1 + rec], rows[k]
            for j in range(rec):  # a loop of 1-d views: LLVM vectorises it (a slice
                dst[j] = src[j]  # assignment of the 2-d row runs at a third of the speed)

    return scan, gather


#: ``(scan, gather)`` compiled, or ``None`` where Numba cannot be imported.
_compiled = _numba.compiled(_build_scan)


def compiled_scan() -> bool:
    """Whether long runs of binary records are scanned by the compiled loop (Numba)."""
    return _compiled() is not None


def binary_run(
    buf: bytes, pos: int, rec: int, n: int, codec: str, errors: str, rows: np.ndarray
) -> tuple[list[str], np.ndarray, int]:
    """The plain word2vec binary records at ``buf[pos:]``, at most ``n``: ``(words, word
    offsets, position after the last)``, each record's ``rec`` vector bytes copied to the
    next row of the ``uint8`` array ``rows`` (rows past the words returned may be written
    too).

    A record is plain when its word (after the previous record's CR/LF bytes) is 1 to
    :data:`_SHORT_WORD` bytes without a space or control byte, decodes, and its ``rec``
    vector bytes are in ``buf``. The run stops before the first record that is not (the
    caller reads that one record the pure way, which reads it or raises its error). Where
    Numba is importable a run of :data:`COMPILED_FROM` records or more is scanned and copied
    by a compiled loop; else by ``bytes.find`` record by record (the same records).
    """
    if not ENABLED:
        return [], np.empty(0, dtype=np.int64), pos
    kernels = _compiled() if n >= COMPILED_FROM else None
    if kernels is not None:
        return _compiled_run(kernels, buf, pos, rec, n, codec, errors, rows)
    last = len(buf) - rec - 1  # the last space a record whose vector is in buf can have
    find, first = buf.find, pos
    raws: list[bytes] = []
    spaces: list[int] = []
    for _ in range(n):
        sp = find(b" ", pos, pos + _SHORT_WORD + 2)
        if sp < 0 or sp > last:
            break
        word = buf[pos:sp].lstrip(b"\r\n")
        if not word:
            break
        raws.append(word)
        spaces.append(sp)
        pos = sp + 1 + rec
    words = _decoded(b" ".join(raws), len(raws), lambda: raws, codec, errors)
    del spaces[len(words) :]
    pos = spaces[-1] + 1 + rec if spaces else first
    sps = np.array(spaces, dtype=np.int64)
    if len(sps):
        window = np.lib.stride_tricks.sliding_window_view(np.frombuffer(buf, np.uint8), rec)
        rows[: len(sps)] = window[sps + 1]
    starts = sps - np.fromiter(map(len, raws), dtype=np.int64, count=len(sps))
    return words, starts, pos


def _compiled_run(
    kernels: Any, buf: bytes, pos: int, rec: int, n: int, codec: str, errors: str, rows: Any
) -> tuple[list[str], np.ndarray, int]:
    """:func:`binary_run` by the compiled ``(scan, gather)``."""
    scan, gather = kernels
    data = np.frombuffer(buf, dtype=np.uint8)
    spans = np.empty((min(n, (len(buf) - pos) // (rec + 2) + 1), 2), dtype=np.int64)
    k = _numba.call(scan, data, pos, rec, len(spans), _SHORT_WORD, spans)
    spans = spans[:k]
    joined = np.empty(max(0, int((spans[:, 1] - spans[:, 0]).sum()) + k - 1), dtype=np.uint8)
    _numba.call(gather, data, spans, rec, joined, rows)
    words = _decoded(joined.tobytes(), k, lambda: [buf[a:b] for a, b in spans.tolist()],
                     codec, errors)  # fmt: skip
    spans = spans[: len(words)]
    after = int(spans[-1, 1]) + 1 + rec if len(words) else pos
    return words, spans[:, 0].copy(), after


def _decoded(
    joined: bytes, count: int, raws: Callable[[], list[bytes]], codec: str, errors: str
) -> list[str]:
    """The first words of ``raws()`` (``count`` of them, ``joined`` by single spaces) up to the
    first that holds a space or control byte or does not decode to a non-empty text."""
    if not count:
        return []
    clean = len(joined.translate(None, _NOT_IN_WORDS)) == len(joined) - (count - 1)
    if clean and codec == "utf-8" and errors == "strict":
        try:  # a space is never part of a UTF-8 sequence: the same words as one by one
            return joined.decode("utf-8").split(" ")
        except UnicodeDecodeError:
            pass
    words = []
    for raw in raws():
        if len(raw.translate(None, _NOT_IN_WORDS)) != len(raw):
            break
        try:
            text = raw.decode(codec, errors)
        except UnicodeDecodeError:
            break
        if not text:
            break
        words.append(text)
    return words
