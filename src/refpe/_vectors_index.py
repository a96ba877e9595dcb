"""Lazy reading of word-vector files into Dask arrays (``refpe.vectors.read(chunks=)``).

One pass over the file builds an index: the words, and where each row starts (word2vec
binary: the byte offset of each record, found by the same record reader as the eager path,
which locates ``word SP`` then skips ``4 d`` bytes; text formats: the byte offset of each
line). Each Dask block then reads its rows from the file by offset with the eager parsers
(:func:`refpe._vectors_io.binary_blocks`, :func:`refpe._vectors_io.text_blocks`), so its values
are bit-identical to :func:`refpe.vectors.read` and a bad value raises the same
:class:`~refpe._vectors_io.VectorFormatError` (file, line or byte offset) when the block is
computed. What the index needs (the words, the row count, blank lines, line lengths) is
checked during the pass: there, anything unusual makes the eager reader run over the file so
that the error raised is exactly the eager one. The block functions are module-level (they
pickle by reference and run on Dask workers).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ._vectors_files import open_regular
from ._vectors_io import (
    _BOM,
    CHUNK,
    HEADER_FORMATS,
    MAX_LINE,
    VectorFormatError,
    binary_blocks,
    decode_word,
    is_utf8,
    read_header,
    text_blocks,
    word_problem,
)

_ENDS = re.compile(rb"\r\n|\r|\n")


class _Unusual(Exception):
    """Something the index does not handle: the eager reader names the error."""


def require_chunks(chunks: Any) -> int:
    if isinstance(chunks, bool) or not isinstance(chunks, int) or chunks < 1:
        raise ValueError(f"chunks must be a positive int (rows per block), got {chunks!r}")
    return chunks


def distinct(words: list[str]) -> bool:
    """Whether no word repeats, in 8 bytes a word (their hashes, sorted; a set of the
    words would take about 40)."""
    h = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
    h.sort()
    return not (h[1:] == h[:-1]).any() or len(set(words)) == len(words)


def keep_rows(path: Any, words: list[str], starts: Any, unit: str, how: str) -> list[int] | None:
    """The rows :func:`refpe.vectors.read` keeps under ``duplicates=how`` (``None``: all,
    in order); ``"error"`` raises its error at the first repeated word."""
    if distinct(words):
        return None
    seen: dict[str, int] = {}
    keep: list[int] = []
    for r, w in enumerate(words):
        j = seen.get(w)
        if j is None:
            seen[w] = len(keep)
            keep.append(r)
        elif how == "error":
            raise VectorFormatError(
                path,
                f"{unit} {int(starts[r])}",
                f"duplicate word {w!r} (first at {unit} {int(starts[keep[j]])}); "
                "pass duplicates='first' or 'last' to keep one",
            )
        elif how == "last":
            keep[j] = r
    return None if len(keep) == len(words) else keep


def _line_ends(buf: bytes, final: bool) -> list[tuple[int, int]]:
    """``(end of content, start of next line)`` of each complete line of ``buf``."""
    if b"\r" not in buf:
        nl = np.flatnonzero(np.frombuffer(buf, dtype=np.uint8) == 10).tolist()
        return [(e, e + 1) for e in nl]
    out = [(m.start(), m.end()) for m in _ENDS.finditer(buf)]
    if out and not final and out[-1][1] == len(buf) and buf.endswith(b"\r"):
        out.pop()  # a CR at the end of the data read so far: maybe the first half of a CRLF
    return out


def _words(raws: list[bytes], path: Any, lines: list[int], encoding: str, errors: str) -> list[str]:
    joined = b"\n".join(raws)
    if (
        is_utf8(encoding)
        and errors == "strict"
        and len(joined.translate(None, bytes(range(33)) + b"\x7f")) == len(joined) - len(raws) + 1
        and all(len(r) <= 1 << 16 for r in raws)
    ):
        try:
            return joined.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            pass
    out = []
    for raw, line in zip(raws, lines, strict=True):
        if word_problem(raw) is not None:
            raise _Unusual
        try:
            out.append(decode_word(raw, path, f"line {line}", encoding, errors))
        except VectorFormatError:
            raise _Unusual from None
    return out


def _text_index(f, path, *, line, count, limit, dim, encoding, errors, progress, size):
    """``(words, row offsets + [end], dim)`` of the text rows from the current position."""
    want = count if limit is None else (limit if count is None else min(count, limit))
    cut = limit is not None and (count is None or limit < count)
    base, tail = f.tell(), b""
    words: list[str] = []
    offsets: list[Any] = []
    end, rows, blank = base, 0, False
    while True:
        data = f.read(CHUNK)
        if progress is not None:
            progress(base + len(tail) + len(data), size)
        buf = tail + data
        final = not data
        ends = _line_ends(buf, final)
        if final and (not ends or ends[-1][1] < len(buf)):
            ends.append((len(buf), len(buf)))  # the last line, without a line end
        raws, starts, lines, s = [], [], [], 0
        for e, nxt in ends:
            content = buf[s:e]
            if want is not None and rows == want:
                if cut:
                    break
                if content.strip(b" "):
                    raise _Unusual  # more rows than the header announces
            elif not content.rstrip(b" "):
                blank = True
            else:
                sp = content.find(b" ")
                if blank or sp <= 0 or not content[sp:].strip(b" "):
                    raise _Unusual  # a blank line inside the table, no word or no values
                if dim is None:
                    dim = content.rstrip(b" ").count(b" ")
                raws.append(content[:sp])
                starts.append(base + s)
                lines.append(line)
                rows += 1
                end = base + nxt
            s = nxt
            line += 1
        if raws:
            words += _words(raws, path, lines, encoding, errors)
            offsets.append(np.asarray(starts, dtype=np.int64))
        if final or (cut and rows == want):
            break
        tail, base = buf[s:], base + s
        if len(tail) > MAX_LINE:
            raise _Unusual
    if count is not None and rows < want:
        raise _Unusual  # the file ends before the announced rows
    offsets.append(np.asarray([end], dtype=np.int64))
    return words, np.concatenate(offsets), dim


def _binary_index(f, path, *, offset, dim, count, limit, encoding, errors, progress, size):
    """``(words, record offsets)``: the eager record reader, with values left unchecked."""
    words: list[str] = []
    starts = []
    for ws, _, st in binary_blocks(
        f, path, offset=offset, dim=dim, count=count, limit=limit, dtype=np.dtype("<f4"),
        encoding=encoding, errors=errors, allow_nonfinite=True, progress=progress, size=size,
    ):  # fmt: skip
        words += ws
        starts.append(np.asarray(st, dtype=np.int64))
    return words, np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def read_rows(
    path: str,
    format: str,
    runs: tuple[tuple[int, int, int, int], ...],
    dim: int,
    count: int | None,
    dtype: str,
    encoding: str,
    errors: str,
    allow_nonfinite: bool,
) -> np.ndarray:
    """One Dask block: the rows of ``runs``, each ``(start byte, end byte, first line,
    rows)``, read with the eager parsers."""
    dt = np.dtype(dtype)
    parts = []
    opts = dict(dtype=dt, encoding=encoding, errors=errors, allow_nonfinite=allow_nonfinite)
    with open_regular(path) as f:
        for start, stop, line, n in runs:
            f.seek(start)
            if format == "word2vec-binary":
                blocks = binary_blocks(f, path, offset=start, dim=dim, count=count, limit=n, **opts)
            else:
                body = io.BytesIO(f.read(stop - start))
                blocks = text_blocks(
                    body, path, line=line, dim=dim, count=None if count is None else n,
                    limit=None, bom=False, **opts,
                )  # fmt: skip
            parts += [vs for _, vs, _ in blocks]
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


def _runs(rows: list[int], offsets: np.ndarray, line: int, binary: bool) -> tuple:
    """Consecutive file rows grouped into ``(start, end, first line, n)`` runs."""
    out, i = [], 0
    while i < len(rows):
        j = i + 1
        while j < len(rows) and rows[j] == rows[j - 1] + 1:
            j += 1
        a, b = rows[i], rows[j - 1] + 1
        stop = 0 if binary else int(offsets[b])
        out.append((int(offsets[a]), stop, line + a, b - a))
        i = j
    return tuple(out)


def read_lazy(
    path: Any,
    *,
    format: str,
    limit: int | None,
    dt: np.dtype,
    encoding: str,
    errors: str,
    duplicates: str,
    allow_nonfinite: bool,
    progress: Any,
    chunks: int,
    eager: Callable[[], None],
) -> tuple[list[str], Any]:
    """``(words, dask array)``; ``eager`` reads the file the eager way (to raise its error)."""
    import dask
    import dask.array as da

    binary = format == "word2vec-binary"
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        count, line = None, 1
        if format in HEADER_FORMATS:
            count, dim, offset = read_header(f, path, size, encoding)
            line = 2
        else:
            dim = None
            if is_utf8(encoding) and f.read(3) != _BOM:
                f.seek(0)
        opts = dict(count=count, limit=limit, encoding=encoding, errors=errors)
        opts.update(progress=progress, size=size)
        if binary:
            words, offsets = _binary_index(f, path, offset=offset, dim=dim, **opts)
        else:
            try:
                words, offsets, dim = _text_index(f, path, line=line, dim=dim, **opts)
            except _Unusual:
                eager()  # raises the eager reader's error
                raise VectorFormatError(path, "line 1", "unreadable table") from None
    unit = "byte offset" if binary else "line"
    starts = offsets if binary else np.arange(line, line + len(words))
    keep = keep_rows(path, words, starts, unit, duplicates)
    if keep is not None:
        words = [words[r] for r in keep]
    n, dim = len(words), dim or 0
    if n == 0:
        return words, da.zeros((0, dim), dtype=dt, chunks=(chunks, dim))
    name = os.path.abspath(os.fspath(path))
    st = os.stat(name)
    token = (name, st.st_size, st.st_mtime_ns, format, dt.str, encoding, errors, allow_nonfinite)
    blocks = []
    for lo in range(0, n, chunks):
        rows = list(range(lo, min(n, lo + chunks))) if keep is None else keep[lo : lo + chunks]
        runs = _runs(rows, offsets, line, binary)
        args = (name, format, runs, dim, count, dt.str, encoding, errors, allow_nonfinite)
        task = dask.delayed(read_rows, pure=True)(*args, dask_key_name=_key(token, runs))
        blocks.append(da.from_delayed(task, shape=(len(rows), dim), dtype=dt))
    return words, da.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def _key(token: tuple, runs: tuple) -> str:
    from dask.base import tokenize

    return f"refpe-vectors-{tokenize(token, runs)}"
