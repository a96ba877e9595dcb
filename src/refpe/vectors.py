"""Pretrained word vectors (预训练词向量): file formats and alignment to a vocabulary.

:func:`read` and :func:`write` handle word2vec text, word2vec C binary, GloVe and fastText
``.vec`` files (spec ``pretrained-formats``); :func:`align` builds an embedding table for a
target vocabulary from pretrained vectors plus a seeded initialiser for the rest (spec
``pretrained-align``). Seed 004 §2 (预训练词向量加载: 对齐词汇表, 冻结或微调); seed 000 §2.2, §6
(Gensim). Nothing here unpickles: the formats are parsed as bytes.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import _vectors_io as _io
from ._compat import from_host, namespace, to_host
from ._vectors_io import (
    FORMATS,
    HEADER_FORMATS,
    Progress,
    VectorFormatError,
    atomic_write,
    binary_blocks,
    is_utf8,
    read_header,
    require_fits,
    shortest,
    text_blocks,
)

__all__ = [
    "FORMATS",
    "AlignReport",
    "VectorFormatError",
    "align",
    "detect",
    "info",
    "iter_read",
    "pretrained_align",
    "pretrained_formats",
    "read",
    "write",
]

PathLike = str | os.PathLike
DUPLICATES = ("error", "first", "last")
ERRORS = ("strict", "replace", "ignore", "backslashreplace", "surrogateescape")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def _options(format: str, limit: Any, dtype: Any, encoding: str, errors: str) -> np.dtype:
    _choice("format", format, FORMATS)
    _choice("errors", errors, ERRORS)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")
    try:
        name = codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise ValueError(f"encoding {encoding!r} is not a known codec") from None
    if name.startswith(("utf-16", "utf-32")):
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible (spaces and newlines)")
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype must be a float dtype, got {dtype!r}")
    return dt


def _scan(
    path: PathLike,
    format: str,
    limit: int | None,
    dt: np.dtype,
    encoding: str,
    errors: str,
    allow_nonfinite: bool,
    progress: Progress,
    whole: bool = False,
) -> Iterator[Any]:
    """First ``(count, dim, unit)`` (``None`` where the format has no header), then blocks
    (binary: one block for the whole table when ``whole``)."""
    opts = dict(
        limit=limit,
        dtype=dt,
        encoding=encoding,
        errors=errors,
        allow_nonfinite=allow_nonfinite,
        chunk=_io.CHUNK,
    )
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if format not in HEADER_FORMATS:
            yield None, None, "line"
            yield from text_blocks(
                f,
                path,
                line=1,
                dim=None,
                count=None,
                bom=is_utf8(encoding),
                progress=progress,
                size=size,
                **opts,
            )
            return
        count, dim, offset = read_header(f, path, size, encoding)
        if format == "word2vec-binary":
            require_fits(path, count, 4 * dim + 2, size - offset, "records")
            yield count, dim, "byte offset"
            rows = max(1, count if limit is None else min(count, limit)) if whole else 1 << 16
            yield from binary_blocks(
                f,
                path,
                offset=offset,
                dim=dim,
                count=count,
                progress=progress,
                size=size,
                block_rows=rows,
                **opts,
            )
        else:
            require_fits(path, count, 2 * dim + 2, size - offset, "rows")
            yield count, dim, "line"
            yield from text_blocks(
                f,
                path,
                line=2,
                dim=dim,
                count=count,
                bom=False,
                progress=progress,
                size=size,
                **opts,
            )


def iter_read(
    path: PathLike,
    *,
    format: str,
    limit: int | None = None,
    dtype: Any = "float32",
    encoding: str = "utf-8",
    errors: str = "strict",
    allow_nonfinite: bool = False,
    progress: Progress = None,
) -> Iterator[tuple[list[str], np.ndarray]]:
    r"""Stream a vector file as blocks ``(words, vectors)`` of consecutive rows.

    .. math::

        \text{file} = \text{header}? \; \text{block}_1 \dots \text{block}_m,\qquad
        \text{block}_j = (w_i, \mathbf v_i)_{i \in I_j}

    Source: seed 004 §2; seed 000 §6 (Gensim). Same formats, checks and precision as
    :func:`read`, except duplicates: a stream does not hold the words it has passed.
    Memory stays at one block (about 16 MiB of file, or 65536 binary records) whatever
    the file size.
    """
    dt = _options(format, limit, dtype, encoding, errors)
    it = _scan(path, format, limit, dt, encoding, errors, allow_nonfinite, progress)
    next(it)
    for words, vectors, _ in it:
        yield words, vectors


def read(
    path: PathLike,
    *,
    format: str,
    limit: int | None = None,
    dtype: Any = "float32",
    encoding: str = "utf-8",
    errors: str = "strict",
    duplicates: str = "error",
    allow_nonfinite: bool = False,
    progress: Progress = None,
) -> tuple[list[str], np.ndarray]:
    r"""Read a word-vector file: ``(words, vectors)`` with ``vectors`` of shape ``(n, d)``.

    Formats (spec ``pretrained-formats``; seed 004 §2, seed 000 §6):

    - ``"word2vec-text"``, ``"fasttext-vec"``: a header line ``count dim``, then rows
      ``word v_1 ... v_d`` separated by single spaces (trailing blanks allowed);
    - ``"glove"``: the same rows without a header (``d`` from the first row);
    - ``"word2vec-binary"``: the header line, then per word the word's bytes, one space
      and ``d`` little-endian IEEE float32 (word2vec.c adds a newline after each vector,
      gensim does not: both are read; leading newlines of a word are dropped, as gensim
      does).

    .. math::

        \text{row}_i = (w_i, \mathbf v_i),\quad \mathbf v_i \in \mathbb R^d,
        \quad i = 1..\mathit{count}

    ``limit`` reads the first rows only. ``duplicates``: ``"error"`` (default),
    ``"first"`` (keep the first row, as gensim) or ``"last"`` (the last row's vector at
    the first row's place). ``encoding`` must be ASCII-compatible (UTF-8, Latin-1, GBK:
    spaces and newlines are single bytes); ``encoding``/``errors`` decode the words
    (UTF-8, strict by default; a UTF-8 byte-order mark is skipped). NaN and infinity are
    errors unless ``allow_nonfinite``.

    Precision: binary values are exact float32, converted to ``dtype`` (default float32);
    a text value is the decimal rounded to the nearest float64, then to ``dtype`` (what
    gensim does), so a float32 written by :func:`write` reads back bit-exactly.

    Safety: a header is checked against the file size before anything is allocated
    (each binary record needs at least ``4d + 2`` bytes, each text row ``2d + 2``); every
    malformed row raises :class:`VectorFormatError` naming the file, the line or byte
    offset and the problem.
    """
    dt = _options(format, limit, dtype, encoding, errors)
    _choice("duplicates", duplicates, DUPLICATES)
    it = _scan(path, format, limit, dt, encoding, errors, allow_nonfinite, progress, True)
    count, dim, unit = next(it)
    words: list[str] = []
    starts: list[int] = []
    if count is not None:
        n = count if limit is None else min(count, limit)
        table = None
        for ws, vs, st in it:
            if table is None:
                table = vs if len(ws) == n else np.empty((n, dim), dtype=dt)
            if table is not vs:
                table[len(words) : len(words) + len(ws)] = vs
            words += ws
            starts += st
        if table is None:
            table = np.empty((0, dim), dtype=dt)
    else:
        blocks = []
        for ws, vs, st in it:
            blocks.append(vs)
            words += ws
            starts += st
        table = np.concatenate(blocks) if blocks else np.empty((0, 0), dtype=dt)
    return _deduplicate(path, words, table, starts, unit, duplicates)


def _deduplicate(
    path: PathLike, words: list[str], table: np.ndarray, starts: list[int], unit: str, how: str
) -> tuple[list[str], np.ndarray]:
    seen: dict[str, int] = {}
    keep: list[int] = []
    for r, w in enumerate(words):
        j = seen.get(w)
        if j is None:
            seen[w] = len(keep)
            keep.append(r)
        elif how == "error":
            first = keep[j]
            raise VectorFormatError(
                path,
                f"{unit} {starts[r]}",
                f"duplicate word {w!r} (first at {unit} {starts[first]}); "
                "pass duplicates='first' or 'last' to keep one",
            )
        elif how == "last":
            keep[j] = r
    if len(keep) == len(words):
        return words, table
    return [words[r] for r in keep], table[np.asarray(keep, dtype=np.int64)]


def _check_words(words: Sequence[str], n: int, encoding: str) -> list[bytes]:
    if isinstance(words, str) or len(words) != n:
        raise ValueError(
            f"words must be a sequence of {n} strings (one per row), got {words!r:.80}"
        )
    seen: set[str] = set()
    out = []
    for i, w in enumerate(words):
        if not isinstance(w, str) or not w or " " in w or "\n" in w:
            raise ValueError(
                f"words[{i}] must be a non-empty string without spaces or newlines, got {w!r}"
            )
        if w in seen:
            raise ValueError(f"words[{i}] = {w!r} is a duplicate")
        seen.add(w)
        try:
            out.append(w.encode(encoding))
        except UnicodeEncodeError as e:
            raise ValueError(f"words[{i}] = {w!r} cannot be encoded as {encoding}: {e}") from None
    return out


def write(
    path: PathLike,
    words: Sequence[str],
    vectors: Any,
    *,
    format: str,
    encoding: str = "utf-8",
    newline: bool = True,
    allow_nonfinite: bool = False,
) -> None:
    r"""Write ``words`` and ``vectors`` (shape ``(n, d)``, any array library) as ``format``.

    .. math::

        \text{text row}_i = w_i \;\sqcup\; \mathrm{dec}(v_{i1}) \;\sqcup \dots \sqcup\;
        \mathrm{dec}(v_{id}),\qquad
        \mathrm{read}(\mathrm{dec}(x)) = x

    Source: seed 004 §2; seed 000 §6 (Gensim's ``save_word2vec_format``); word2vec.c.

    (:math:`\sqcup`: one space.) Precision: text formats write each value in the
    shortest decimal that reads back to the same value of the array's dtype
    (``str(numpy.float32(x))`` for float32, ``repr`` for float64), so :func:`read` with
    that dtype returns the array bit for bit. The binary format stores little-endian
    float32 (float64 values are rounded to nearest, ties to even; beyond the float32
    range they are an error); ``newline`` ends each record with ``\n`` as word2vec.c
    does. ``"glove"`` has no header line.

    The file is written to a temporary file in the same directory and renamed over
    ``path`` (``os.replace``) once complete: a failed write leaves nothing behind and
    never a half-written ``path``. Words must be unique, non-empty, without spaces or
    newlines; values finite unless ``allow_nonfinite``.
    """
    _options(format, None, "float32", encoding, "strict")
    host = to_host(vectors)
    if host.ndim != 2 or host.dtype.kind != "f":
        raise ValueError(
            f"vectors must be a 2-D float array, got shape {host.shape} dtype {host.dtype}"
        )
    n, d = host.shape
    if d == 0:
        raise ValueError("vectors must have at least one column, got shape (n, 0)")
    raw = _check_words(words, n, encoding)
    if not allow_nonfinite and not np.isfinite(host).all():
        r, c = np.argwhere(~np.isfinite(host))[0]
        raise ValueError(f"vectors[{r}, {c}] = {host[r, c]!r} is not finite (word {words[r]!r})")
    if format == "word2vec-binary" and host.dtype.itemsize > 4:
        with np.errstate(over="ignore"):
            wide = np.isinf(host.astype(np.float32)) & np.isfinite(host)
        if wide.any():
            r, c = np.argwhere(wide)[0]
            raise ValueError(
                f"vectors[{r}, {c}] = {float(host[r, c])!r} overflows float32, the type "
                "word2vec-binary stores"
            )
    atomic_write(path, lambda f: _write_rows(f, raw, host, format, newline))


def _write_rows(f: Any, raw: list[bytes], host: np.ndarray, format: str, newline: bool) -> None:
    n, d = host.shape
    if format != "glove":
        f.write(f"{n} {d}\n".encode())
    step = 4096
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        if format == "word2vec-binary":
            block = np.ascontiguousarray(host[lo:hi], dtype="<f4")
            end = b"\n" if newline else b""
            f.write(b"".join(raw[i] + b" " + block[i - lo].tobytes() + end for i in range(lo, hi)))
        else:
            f.write(
                b"".join(
                    raw[i] + b" " + " ".join(shortest(host[i])).encode() + b"\n"
                    for i in range(lo, hi)
                )
            )


def detect(path: PathLike) -> str:
    r"""Guess a file's format from its first 64 KiB.

    .. math::

        \mathrm{detect} = \begin{cases}
        \texttt{glove} & \text{no ``count dim'' first line} \\
        \texttt{word2vec-binary} & \text{header, then control or non-UTF-8 bytes} \\
        \texttt{word2vec-text} & \text{header, then text (also fastText .vec)}
        \end{cases}

    Source: seed 004 §2 (the formats of Word2Vec, GloVe). Precision: a guess from the
    first bytes; :func:`read` then checks the whole file.
    """
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    first, _, rest = head.partition(b"\n")
    parts = first.lstrip(b"\xef\xbb\xbf").split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return "glove"
    if any(b < 32 and b not in (9, 10, 13) for b in rest[:4096]):
        return "word2vec-binary"
    try:
        rest[: len(rest) - 4].decode("utf-8")
    except UnicodeDecodeError:
        return "word2vec-binary"
    return "word2vec-text"


def info(path: PathLike, *, format: str | None = None, encoding: str = "utf-8") -> dict[str, Any]:
    r"""Header facts without reading the body: format, count, dim and size in bytes.

    .. math::

        \mathit{count} \cdot (4d + 2) \le \text{bytes after the header (binary)},\quad
        \mathit{count} \cdot (2d + 2) - 1 \le \text{bytes after it (text)}

    Source: seed 004 §2. Precision: exact integers; the header is checked against the
    file size as :func:`read` does (``VectorFormatError`` otherwise). GloVe files have no
    header: ``dim`` and the first word come from the first row.
    """
    fmt = format or detect(path)
    _choice("format", fmt, FORMATS)
    size = os.path.getsize(path)
    out: dict[str, Any] = {"path": os.fspath(path), "format": fmt, "bytes": size}
    if fmt in HEADER_FORMATS:
        with open(path, "rb") as f:
            count, dim, offset = read_header(f, path, size, encoding)
        binary = fmt == "word2vec-binary"
        what = "records" if binary else "rows"
        require_fits(path, count, 4 * dim + 2 if binary else 2 * dim + 2, size - offset, what)
        out.update(count=count, dim=dim)
    else:
        for words, vectors in iter_read(path, format=fmt, limit=1, encoding=encoding):
            out.update(dim=vectors.shape[1], first=words[0])
    return out


def pretrained_formats(
    vectors: Any, *, format: str, words: Sequence[str] | None = None, newline: bool = True
) -> Any:
    r"""The values that come back when ``vectors`` are written as ``format`` and read again.

    .. math::

        \mathrm{read}(\mathrm{write}(V)) = \begin{cases}
        V & \text{text formats (shortest round-trip decimals)} \\
        \mathrm{fl}_{32}(V) & \texttt{word2vec-binary} \end{cases}

    Source: seed 004 §2; seed 000 §6 (Gensim's ``save_word2vec_format`` /
    ``load_word2vec_format``); word2vec.c (Mikolov et al., 2013).

    Precision: exact. Text keeps every value of the array's dtype; the binary format holds
    float32, so float64 values come back rounded once to float32 (then widened). The
    result has ``vectors``' dtype, library and device. ``words`` default to ``w0, w1, ...``.
    """
    xp = namespace(vectors=vectors)
    host = to_host(vectors)
    n = host.shape[0] if host.ndim else 0
    names = list(words) if words is not None else [f"w{i}" for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "vectors")
        write(path, names, host, format=format, newline=newline)
        dt = "float32" if format == "word2vec-binary" else host.dtype
        _, back = read(path, format=format, dtype=dt)
    return from_host(back.reshape(host.shape), xp, vectors.dtype, getattr(vectors, "device", None))


from ._vectors_align import AlignReport, align, pretrained_align  # noqa: E402
