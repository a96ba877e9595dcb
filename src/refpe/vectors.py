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

from . import _vectors_index as _index
from . import _vectors_io as _io
from . import _vectors_stream as _stream
from . import _vectors_write as _write
from ._compat import from_host, namespace, require_choice
from ._vectors_align import AlignReport, align, pretrained_align
from ._vectors_files import atomic_write, open_regular
from ._vectors_io import (
    FORMATS,
    HEADER_FORMATS,
    MAX_WORD,
    Progress,
    VectorFormatError,
    binary_blocks,
    fits,
    is_utf8,
    read_header,
    text_blocks,
    too_small,
)

__all__ = [
    "FORMATS",
    "MAX_WORD",
    "AlignReport",
    "VectorFormatError",
    "align",
    "align_file",
    "check",
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


def _options(format: str, limit: Any, dtype: Any, encoding: str, errors: str) -> np.dtype:
    require_choice("format", format, FORMATS)
    require_choice("errors", errors, ERRORS)
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
    """First ``(count, dim, unit, fits)`` (``None`` where the format has no header; ``fits``:
    the announced rows fit in the file), then blocks (binary: one block for the whole table
    when ``whole``)."""
    opts = dict(
        limit=limit,
        dtype=dt,
        encoding=encoding,
        errors=errors,
        allow_nonfinite=allow_nonfinite,
        chunk=_io.CHUNK,
    )
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if format not in HEADER_FORMATS:
            yield None, None, "line", False
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
            room = fits(count, 4 * dim + 2, size - offset, "records")
            yield count, dim, "byte offset", room
            # the whole table in one block when it fits: its records are copied to it once
            rows = max(1, count if limit is None else min(count, limit)) if whole and room else None
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
            yield count, dim, "line", fits(count, 2 * dim + 2, size - offset, "rows")
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
    chunks: int | None = None,
) -> tuple[list[str], Any]:
    r"""Read a word-vector file: ``(words, vectors)`` with ``vectors`` of shape ``(n, d)``.

    Formats (spec ``pretrained-formats``; seed 004 §2, seed 000 §6):

    - ``"word2vec-text"``, ``"fasttext-vec"``: a header line ``count dim``, then rows
      ``word v_1 ... v_d`` separated by single spaces (trailing spaces allowed; a tab is
      refused, never taken into a word or a value);
    - ``"glove"``: the same rows without a header (``d`` from the first row);
    - ``"word2vec-binary"``: the header line, then per word the word's bytes, one space
      and ``d`` little-endian IEEE float32 (word2vec.c adds a newline after each vector,
      gensim does not: both are read, and CRLF or CR too; the line-end bytes before a
      word are skipped, as word2vec.c and gensim do).

    Lines end at LF, CRLF or CR. Words are 1 to :data:`MAX_WORD` bytes without spaces or
    ASCII control bytes (the rules in :mod:`refpe._vectors_io`); in a binary file a word
    that breaks them means a misaligned record (a word that held a space) and stops the read.

    .. math::

        \text{row}_i = (w_i, \mathbf v_i),\quad \mathbf v_i \in \mathbb R^d,
        \quad i = 1..\mathit{count}

    ``limit`` reads the first rows only. ``duplicates``: ``"error"`` (default),
    ``"first"`` (keep the first row, as gensim) or ``"last"`` (the last row's vector at
    the first row's place). ``encoding`` must be ASCII-compatible (UTF-8, Latin-1, GBK:
    spaces and newlines are single bytes); ``encoding``/``errors`` decode the words
    (UTF-8, strict by default; a UTF-8 byte-order mark is skipped at byte 0 of the file,
    and only there). NaN and infinity are errors unless ``allow_nonfinite``.

    Precision: binary values are exact float32, converted to ``dtype`` (default float32);
    a text value is the decimal rounded to the nearest float64, then to ``dtype`` (what
    gensim does), so a float32 written by :func:`write` reads back bit-exactly.

    Safety: only regular files are opened (a FIFO or device is refused, never blocked
    on); the announced table is allocated only when the file is large enough to hold it
    (each binary record needs at least ``4d + 2`` bytes, each text row ``2d + 2``), and
    every malformed row raises :class:`VectorFormatError` naming the file, the line or
    byte offset and what was found.

    ``chunks``: return ``(words, dask_array)`` instead, a lazy array of blocks of ``chunks``
    rows. One pass builds an index (the words and each row's byte offset; the words, the
    row count and duplicates are checked there); each block then reads its rows by offset
    with the same parsers, so its values are bit-identical and a bad value raises the same
    error (file, line or byte offset) when the block is computed (``docs/guides/scale.md``).
    """
    dt = _options(format, limit, dtype, encoding, errors)
    require_choice("duplicates", duplicates, DUPLICATES)
    if chunks is not None:
        opts = (path, format, limit, dt, encoding, errors, allow_nonfinite, None)
        return _index.read_lazy(
            path, format=format, limit=limit, dt=dt, encoding=encoding, errors=errors,
            duplicates=duplicates, allow_nonfinite=allow_nonfinite, progress=progress,
            chunks=_index.require_chunks(chunks), eager=lambda: all(True for _ in _scan(*opts)),
        )  # fmt: skip
    it = _scan(path, format, limit, dt, encoding, errors, allow_nonfinite, progress, True)
    count, dim, unit, room = next(it)
    words: list[str] = []
    starts: list[int] = []
    if room:  # the header's table fits in the file: allocate it once
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
        table = np.concatenate(blocks) if blocks else np.empty((0, dim or 0), dtype=dt)
    return _deduplicate(path, words, table, starts, unit, duplicates)


def align_file(
    vocab: Any,
    path: PathLike,
    *,
    format: str,
    seed: int,
    init: str = "normal",
    casefold: bool = False,
    init_args: Any = None,
    dim: int | None = None,
    limit: int | None = None,
    dtype: Any = "float32",
    encoding: str = "utf-8",
    errors: str = "strict",
    duplicates: str = "error",
    allow_nonfinite: bool = False,
    progress: Progress = None,
) -> tuple[np.ndarray, AlignReport]:
    r""":func:`align` of the vectors in the file ``path``, streamed: ``(table, report)``.

    .. math::

        \mathrm{align\_file}(\mathit{vocab}, \mathit{path}) =
        \mathrm{align}(\mathit{vocab}, \mathrm{read}(\mathit{path}))

    Source: seed 004 §2 (对齐词汇表). The file is read block by block (:func:`iter_read`'s
    reader) and only the rows of vocabulary words are kept: memory is the ``(V, d)`` table
    plus one block and 8 bytes per row of the file (the duplicate check), whatever the
    file's size. Precision: exact; the table and report equal ``align(vocab, *read(path,
    ...), ...)`` bit for bit, with the same errors (the vocabulary is checked first).
    """
    dt = _options(format, limit, dtype, encoding, errors)
    require_choice("duplicates", duplicates, DUPLICATES)
    opts = (path, format, limit, dt, encoding, errors, allow_nonfinite, progress)
    return _stream.align(
        vocab, path, lambda: _scan(*opts), dtype=dt, init=init, seed=seed, casefold=casefold,
        init_args=init_args, dim=dim, duplicates=duplicates,
    )  # fmt: skip


def _deduplicate(
    path: PathLike, words: list[str], table: np.ndarray, starts: list[int], unit: str, how: str
) -> tuple[list[str], np.ndarray]:
    keep = _index.keep_rows(path, words, starts, unit, how)  # None: every row, in order
    if keep is None:
        return words, table
    return [words[r] for r in keep], table[np.asarray(keep, dtype=np.int64)]


def check(path: PathLike, *, format: str, encoding: str = "utf-8") -> tuple[int, int]:
    r"""``(count, dim)`` of the table :func:`read` would return, read block by block.

    .. math::

        \mathrm{check}(\mathit{path}) = \mathrm{shape}(\mathrm{read}(\mathit{path})[1])

    Source: seed 004 §2. Raises exactly when :func:`read` (default options) raises, with
    the same error; memory is one block plus 8 bytes per row. Precision: exact integers.
    """
    dt = _options(format, None, "float32", encoding, "strict")
    opts = (path, format, None, dt, encoding, "strict", False, None)
    return _stream.check(path, lambda: _scan(*opts))


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
    does. ``"glove"`` has no header line. Accepted dtypes: float16, float32, float64 and
    bfloat16 (any library; taken by value, as float32, which holds it exactly). Wider
    floats (``numpy.longdouble``) are refused: every reader of these formats (word2vec.c,
    gensim, :func:`read`) parses through float64, so they could not round-trip.

    Words must be unique, 1 to :data:`MAX_WORD` bytes, without spaces or control
    characters (the readers' rule: in word2vec-binary a word ends at its first space);
    a GloVe file's first word may not start with U+FEFF (it would read as a byte-order
    mark). Values must be finite unless ``allow_nonfinite``.

    Safety (``docs/guides/reliability.md``): the file is written to a temporary file in
    the target's folder and renamed over it once complete and synced; a failed or
    SIGTERM-ed write leaves no temporary file and never a half-written ``path``. The
    process umask is never changed; an existing file keeps its permission bits, a new one
    gets ``0o666`` masked by the umask; a symlink is written through (its target is
    replaced); a FIFO, device or directory is refused. A Dask array (``read(chunks=)``)
    is written block by block: memory is one block.
    """
    _options(format, None, "float32", encoding, "strict")
    if hasattr(vectors, "dask") and hasattr(vectors, "blocks"):  # a Dask array: by blocks
        return _stream.write(path, words, vectors, format, encoding, newline, allow_nonfinite)
    host = _write.host_floats(vectors)
    _write.check_vectors(host, format, allow_nonfinite)
    raw = _write.check_words(words, host.shape[0], encoding, format)
    atomic_write(path, lambda f: _write.write_rows(f, raw, host, format, newline))


def detect(path: PathLike) -> str:
    r"""Guess a file's format from its first 64 KiB.

    .. math::

        \mathrm{detect} = \begin{cases}
        \texttt{word2vec-binary} & \text{header, then control or non-UTF-8 bytes} \\
        \texttt{word2vec-text} & \text{header, then a row of } d + 1 \text{ fields
        (also fastText .vec)} \\
        \texttt{glove} & \text{otherwise}
        \end{cases}

    Source: seed 004 §2 (the formats of Word2Vec, GloVe). A first line of two integers is
    a header only when what follows agrees with it (an empty body for ``count`` 0, binary
    records, or a second line of ``dim + 1`` fields): the GloVe row ``1 2`` is a row.
    Precision: a guess from the first bytes; :func:`read` then checks the whole file.
    """
    with open_regular(path) as f:
        head = f.read(1 << 16)
    head = head[3:] if head.startswith(_io._BOM) else head
    end = _io._LINE.match(head).end()
    m = _io._HEADER.fullmatch(head[:end])
    if m is None:
        return "glove"
    count, dim = int(m.group(1)), int(m.group(2))
    rest = head[end + (2 if head[end : end + 2] == b"\r\n" else 1) :]
    if not rest.strip(b" \r\n"):
        return "word2vec-text" if count == 0 and dim > 0 else "glove"
    if any(b < 32 and b not in (9, 10, 13) for b in rest[:4096]):
        return "word2vec-binary"
    try:
        rest[: len(rest) - 4].decode("utf-8")
    except UnicodeDecodeError:
        return "word2vec-binary"
    second = rest[: _io._LINE.match(rest).end()].rstrip(b" ")
    return "word2vec-text" if len(second.split(b" ")) == dim + 1 else "glove"


def info(path: PathLike, *, format: str | None = None, encoding: str = "utf-8") -> dict[str, Any]:
    r"""Header facts without reading the body: format, count, dim and size in bytes.

    .. math::

        \begin{aligned}
        \mathit{count} \cdot (4d + 2) &\le \text{bytes after the header (binary)}, \\
        \mathit{count} \cdot (2d + 2) - 1 &\le \text{bytes after it (text)}
        \end{aligned}

    Source: seed 004 §2. Precision: exact integers. A header the file cannot hold is an
    error: the body is then read (streaming) so that the error names the row at fault, as
    :func:`read` does. GloVe files have no header: ``dim`` and the first word come from
    the first row.
    """
    fmt = format or detect(path)
    require_choice("format", fmt, FORMATS)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        out: dict[str, Any] = {"path": os.fspath(path), "format": fmt, "bytes": size}
        if fmt in HEADER_FORMATS:
            count, dim, offset = read_header(f, path, size, encoding)
    if fmt not in HEADER_FORMATS:
        for words, vectors in iter_read(path, format=fmt, limit=1, encoding=encoding):
            out.update(dim=vectors.shape[1], first=words[0])
        return out
    binary = fmt == "word2vec-binary"
    least, what = (4 * dim + 2, "records") if binary else (2 * dim + 2, "rows")
    if not fits(count, least, size - offset, what):
        for _ in iter_read(path, format=fmt, encoding=encoding):
            pass  # raises at the row that shows the header wrong
        too_small(path, count, dim, least, size - offset, what)
    out.update(count=count, dim=dim)
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
    float32, so float64 values come back rounded once to float32 (then widened); bfloat16
    and float16 pass through float32 unchanged. ``numpy.longdouble`` is refused (the
    readers parse through float64: it cannot come back exact). The result has
    ``vectors``' dtype, library and device. ``words`` default to ``w0, w1, ...``.
    """
    xp = namespace(vectors=vectors)
    host = _write.host_floats(vectors)
    n = host.shape[0] if host.ndim else 0
    names = list(words) if words is not None else [f"w{i}" for i in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "vectors")
        write(path, names, host, format=format, newline=newline)
        dt = "float32" if format == "word2vec-binary" else host.dtype
        _, back = read(path, format=format, dtype=dt)
    return from_host(back.reshape(host.shape), xp, vectors.dtype, getattr(vectors, "device", None))
