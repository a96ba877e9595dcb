"""Parsers and writers of the word-vector file formats (spec ``pretrained-formats``).

Text rows are ``word SP v1 SP ... SP vd`` with optional trailing spaces; word2vec binary
records are ``word SP`` then ``d`` little-endian float32, optionally followed by a line end
(word2vec.c, Mikolov et al. 2013, writes ``\\n``). Every reader streams the file in chunks
and yields blocks ``(words, vectors, starts)`` where ``starts`` holds each row's line
number (text) or byte offset (binary).

Rules (one set for every format; ``docs/guides/reliability.md``):

- Line ends: LF, CRLF or a lone CR end a text line (and the header line); in binary files
  the CR and LF bytes before a word are the previous record's line end and are skipped.
- Tabs: text fields are separated by single spaces, as gensim and GloVe write and read
  them; a tab anywhere in a text row or header is refused (never part of a word or a value).
- Words: 1 to :data:`MAX_WORD` bytes (encoded), no space and no ASCII control byte
  (0x00-0x1F, 0x7F). word2vec.c ends a binary word at the first space, so a word with a
  space cannot be stored; a control byte in a binary word means the records are misaligned
  (a word that held a space, or a wrong ``dim``) and is reported as such. The writer refuses
  exactly the words the reader refuses.
- Byte-order mark: only the three bytes ``EF BB BF`` at byte 0 of a UTF-8 file; anywhere
  else U+FEFF is part of a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

from ._vectors_fast import binary_run, parse_rows

FORMATS = ("word2vec-text", "word2vec-binary", "glove", "fasttext-vec")
HEADER_FORMATS = ("word2vec-text", "word2vec-binary", "fasttext-vec")

CHUNK = 1 << 21
#: Largest block of vectors a reader hands out at once (bounds the peak memory of a read).
BLOCK_BYTES = 1 << 22
MAX_LINE = 1 << 26
#: Values checked for finiteness at a time (the mask of a whole table would cost a quarter of it).
FINITE_CHECK = 1 << 20
#: Longest word in bytes (encoded) that the writer writes and the readers read.
MAX_WORD = 1 << 16
_BOM = b"\xef\xbb\xbf"
#: Bytes no word may hold: ASCII controls and the space.
_NOT_IN_WORDS = bytes(range(33)) + b"\x7f"
_LINE = re.compile(rb"[^\r\n]*")
_NUMBER_BYTES = b"0123456789.eE+- "
_FINITE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(rb"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_HEADER = re.compile(rb" *([0-9]+) +([0-9]+) *")

Block = tuple[list[str], np.ndarray, list[int]]
Progress = Callable[[int, int], None] | None


class VectorFormatError(ValueError):
    """A vector file that breaks its format: ``path: where: problem``.

    ``where`` is ``"line N"`` for text formats or ``"byte offset N (record k)"`` for
    binary ones; ``problem`` says what is wrong (wrong column count, bad float, NaN or
    infinity, truncated record, header/body mismatch, empty or duplicate word, bad
    encoding). It is the only exception the readers raise for a malformed file.
    """

    def __init__(self, path: Any, where: str, problem: str, kind: str = "format") -> None:
        self.path, self.where, self.problem, self.kind = str(path), where, problem, kind
        super().__init__(f"{path}: {where}: {problem}")


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig", "u8")


def _decoding(encoding: str) -> str:
    return "utf-8" if is_utf8(encoding) else encoding


def word_problem(raw: bytes) -> str | None:
    """Why ``raw`` (a word's encoded bytes) cannot be a word, or ``None`` when it can."""
    if not raw:
        return "empty word"
    if len(raw) > MAX_WORD:
        return f"word of {len(raw)} bytes, longer than the limit of {MAX_WORD} bytes"
    if len(raw.translate(None, _NOT_IN_WORDS)) != len(raw):
        i = next(i for i, b in enumerate(raw) if b in _NOT_IN_WORDS)
        return f"word {raw[:40]!r} holds the byte {raw[i : i + 1]!r} (space or control) at {i}"
    return None


def decode_word(raw: bytes, path: Any, where: str, encoding: str, errors: str) -> str:
    try:
        word = raw.decode(_decoding(encoding), errors)
    except UnicodeDecodeError as e:
        raise VectorFormatError(
            path,
            where,
            f"word {raw!r} is not valid {encoding} (byte {e.start}: {e.reason})",
            "encoding",
        ) from None
    if not word:
        raise VectorFormatError(path, where, f"empty word (raw bytes {raw!r})", "word")
    return word


def read_header(f: BinaryIO, path: Any, size: int, encoding: str) -> tuple[int, int, int]:
    """``(count, dim, offset after the header)`` from the ``"count dim"`` first line.

    The line ends at LF, CRLF or CR; a UTF-8 byte-order mark is skipped at byte 0 only.
    """
    head = f.read(min(size, 4096))
    skip = 3 if is_utf8(encoding) and head.startswith(_BOM) else 0
    end = _LINE.match(head, skip).end()
    if end == len(head) and (len(head) < size or not head):
        raise VectorFormatError(path, "line 1", "no header line 'count dim' found", "header")
    m = _HEADER.fullmatch(head[skip:end])
    if m is None:
        raise VectorFormatError(
            path,
            "line 1",
            f"header must be 'count dim' (two integers, one space), got {head[skip:end][:40]!r}",
            "header",
        )
    count, dim = int(m.group(1)), int(m.group(2))
    if dim == 0:
        raise VectorFormatError(path, "line 1", "header dimension is 0", "header")
    after = end + (2 if head[end : end + 2] == b"\r\n" else 1 if end < len(head) else 0)
    f.seek(after)
    return count, dim, after


def fits(count: int, least: int, room: int, what: str) -> bool:
    """Whether ``count`` rows of at least ``least`` bytes fit in ``room`` bytes.

    Text rows count their newline in ``least``; the last one may lack it (one byte less).
    A reader allocates the announced table only when it fits: a header that lies cannot
    make it allocate more than the file holds.
    """
    return count * least - (what == "rows") <= room


def too_small(path: Any, count: int, dim: int, least: int, room: int, what: str) -> None:
    """The error of a header that announces more rows than the file can hold."""
    raise VectorFormatError(
        path,
        "line 1",
        f"header announces {count} {what} of dim {dim} but the {room} bytes after it hold at "
        f"most {room // least} (each needs at least {least} bytes)",
        "header",
    )


def _parse_field(field: bytes, allow_nonfinite: bool) -> float | str:
    """The value of one text field, or a message saying why it is not a number."""
    if _FINITE.fullmatch(field):
        return float(field)
    if _NONFINITE.fullmatch(field):
        return float(field) if allow_nonfinite else f"non-finite value {field.decode()!r}"
    return f"bad float {field[:40]!r}"


def _parse_rows_slowly(
    rests: list[bytes], starts: list[int], dim: int, path: Any, allow_nonfinite: bool
) -> np.ndarray:
    out = np.empty((len(rests), dim), dtype=np.float64)
    for r, rest in enumerate(rests):
        for c, field in enumerate(rest.split(b" ")):
            value = _parse_field(field, allow_nonfinite)
            if isinstance(value, str):
                kind = "nonfinite" if value.startswith("non") else "float"
                raise VectorFormatError(path, f"line {starts[r]}", f"column {c + 1}: {value}", kind)
            out[r, c] = value
    return out


def _to_dtype(
    values: np.ndarray, dtype: np.dtype, starts: list[int], where: str, path: Any, ok: bool
) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(dtype, copy=False)
    step = max(1, FINITE_CHECK // max(1, out.shape[1]))  # rows: no mask as large as the table
    for i in range(0, len(out) if not ok else 0, step):
        block = out[i : i + step]
        if not np.isfinite(block).all():
            r, c = np.argwhere(~np.isfinite(block))[0]
            raise VectorFormatError(
                path,
                f"{where} {starts[i + r]}",
                f"column {c + 1}: value {float(values[i + r, c])!r} is not finite in {dtype.name}",
                "nonfinite",
            )
    return out


def _parse_rows(
    rests: list[bytes], starts: list[int], dim: int, path: Any, dtype: np.dtype, ok: bool
) -> np.ndarray:
    joined = b" ".join(rests)
    values = None
    if not joined.translate(None, _NUMBER_BYTES):
        try:
            values = np.fromstring(joined, dtype=np.float64, sep=" ")
        except ValueError:
            values = None
        if values is not None and values.size != len(rests) * dim:
            values = None
    if values is None:
        values = _parse_rows_slowly(rests, starts, dim, path, ok)
    return _to_dtype(values.reshape(len(rests), dim), dtype, starts, "line", path, ok)


def _lines(
    f: BinaryIO,
    first: bytes,
    chunk: int,
    on_read: Callable[[int], None],
    too_long: Callable[[], None],
) -> Iterator[bytes]:
    """The rest of ``f`` (after ``first``) as chunks of whole lines joined by LF.

    LF, CRLF and a lone CR each end a line (all become LF); a CR at the end of a chunk waits
    for the next chunk (it may be the first half of a CRLF). The last chunk is the rest of
    the file, whatever it ends with; every chunk holds at least one line (an empty chunk is
    one blank line).
    """
    tail = first
    while True:
        data = f.read(chunk)
        on_read(len(data))
        buf = tail + data
        held = b"\r" if data and buf.endswith(b"\r") else b""
        buf = buf[:-1] if held else buf
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not data:
            if buf:  # the last line, without its line end
                yield buf
            return
        nl = buf.rfind(b"\n")
        body, tail = (buf[:nl], buf[nl + 1 :] + held) if nl >= 0 else (None, buf + held)
        if body is not None:
            yield body
        if len(tail) > MAX_LINE:
            too_long()


def text_blocks(
    f: BinaryIO,
    path: Any,
    *,
    line: int,
    dim: int | None,
    count: int | None,
    limit: int | None,
    dtype: np.dtype,
    encoding: str,
    errors: str,
    allow_nonfinite: bool,
    bom: bool,
    chunk: int = CHUNK,
    progress: Progress = None,
    size: int = 0,
) -> Iterator[Block]:
    """Rows of a text file from the current position; ``line`` is the next line's number.

    ``bom``: the position is byte 0 of the file, where a UTF-8 byte-order mark is skipped.
    """
    want = count if limit is None else (limit if count is None else min(count, limit))
    cut = limit is not None and (count is None or limit < count)
    rows, blank, first = 0, None, b""
    if bom:
        first = f.read(3)
        first = b"" if first == _BOM else first
    done = [f.tell()]

    def on_read(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], size)

    def too_long() -> None:
        raise VectorFormatError(
            path, f"line {line}", f"line longer than {MAX_LINE} bytes", "length"
        )

    for body in _lines(f, first, chunk, on_read, too_long):
        k = body.count(b"\n") + 1
        fast = None
        if blank is None and (want is None or rows + k <= want):
            fast = parse_rows(body, k, dim, dtype, _decoding(encoding), errors, MAX_WORD)
        if fast is not None:  # the same rows the loop below would read, or None
            dim = fast[1].shape[1]
            yield fast[0], fast[1], list(range(line, line + k))
            rows, line = rows + k, line + k
            if cut and rows == want:
                return
            continue
        words, rests, starts = [], [], []
        for raw in body.split(b"\n"):  # an empty body is one blank line
            if cut and rows == want:
                break
            s = raw.rstrip(b" ")
            if not s:
                blank = line if blank is None else blank
                line += 1
                continue
            where = f"line {line}"
            if blank is not None:
                raise VectorFormatError(
                    path, f"line {blank}", "empty line inside the table", "blank"
                )
            if want is not None and rows == want:
                raise VectorFormatError(
                    path, where, f"more rows than the {count} the header announces", "values"
                )
            tab = s.find(b"\t")
            if tab >= 0:
                raise VectorFormatError(
                    path,
                    where,
                    f"tab at byte {tab} of the row: fields are separated by single spaces "
                    "(tabs are refused)",
                    "tab",
                )
            word, _, rest = s.partition(b" ")
            problem = word_problem(word)
            if problem is not None:
                problem += " (line starts with a space)" if not word else ""
                raise VectorFormatError(path, where, problem, "word")
            n = rest.count(b" ") + 1 if rest else 0
            dim = dim if dim is not None else n
            if n == 0:
                raise VectorFormatError(path, where, f"no values after the word {word!r}", "values")
            if n != dim:
                why = " (two spaces in a row: an empty field)" if b"  " in rest else ""
                said = "the header announces" if count is not None else "the first row has"
                raise VectorFormatError(
                    path, where, f"row {line} has {n} values, {said} dim {dim}{why}", "values"
                )
            words.append(decode_word(word, path, where, encoding, errors))
            rests.append(rest)
            starts.append(line)
            rows += 1
            line += 1
        if words:
            yield words, _parse_rows(rests, starts, dim, path, dtype, allow_nonfinite), starts
        if cut and rows == want:
            return
    if count is not None and rows < want:
        raise VectorFormatError(
            path,
            f"line {line}",
            f"file ends after {rows} rows; the header announces {count}",
            "truncated",
        )


_MISALIGNED = "; the records are misaligned (a word with a space, or a wrong dim in the header)"


def binary_blocks(
    f: BinaryIO,
    path: Any,
    *,
    offset: int,
    dim: int,
    count: int,
    limit: int | None,
    dtype: np.dtype,
    encoding: str,
    errors: str,
    allow_nonfinite: bool,
    chunk: int = CHUNK,
    progress: Progress = None,
    size: int = 0,
    block_rows: int | None = None,
) -> Iterator[Block]:
    """Records of a word2vec C binary file after its header (at byte ``offset``).

    A word starts after the previous record's line end (CR and LF bytes, skipped) and ends
    at the first space, as word2vec.c reads it; a word that breaks :func:`word_problem`
    stops the read with its byte offset (it is how a misaligned record shows). Blocks hold
    ``block_rows`` records (default: at most :data:`BLOCK_BYTES` of vectors).
    """
    rec = 4 * dim
    want = count if limit is None else min(count, limit)
    codec = _decoding(encoding)
    buf, pos, base, k = f.read(chunk), 0, offset, 0
    view = memoryview(buf)
    if progress is not None:
        progress(offset + len(buf), size)
    block_rows = block_rows or max(1, min(1 << 16, BLOCK_BYTES // rec))
    while k < want:
        n = min(block_rows, want - k)
        out = np.empty((n, dim), dtype="<f4")
        raw = memoryview(out).cast("B")
        words, starts = [], []
        i = 0
        while i < n:
            rows = out.view(np.uint8).reshape(n, rec)[i:]
            got, at, after = binary_run(buf, pos, rec, n - i, codec, errors, rows)
            if got:  # a run of plain records: words checked at once, vectors copied at once
                words += got
                starts += (at + base).tolist()
                i, pos = i + len(got), after
                continue
            while True:
                start = pos
                while start < len(buf) and buf[start] in (10, 13):
                    start += 1
                sp = buf.find(b" ", start, start + MAX_WORD + 1)
                if sp >= 0 and len(buf) - sp - 1 >= rec:
                    break
                where = f"byte offset {base + start} (record {k + i})"
                if sp < 0 and len(buf) - start > MAX_WORD:
                    raise VectorFormatError(
                        path,
                        where,
                        f"no space ending the word within {MAX_WORD} bytes (the word limit)"
                        + _MISALIGNED * (k + i > 0),
                        "length",
                    )
                more = f.read(max(chunk, rec + MAX_WORD + 2))
                if not more:
                    if sp < 0:
                        problem = "file ends" + (" inside a word" if buf[start:].strip() else "")
                    else:
                        problem = f"truncated vector: {len(buf) - sp - 1} of {rec} bytes"
                    raise VectorFormatError(
                        path, where, f"{problem}; the header announces {count} records", "truncated"
                    )
                if progress is not None:
                    progress(base + len(buf) + len(more), size)
                view.release()
                buf, base, pos = buf[pos:] + more, base + pos, 0
                view = memoryview(buf)
            word = buf[start:sp]
            problem = word_problem(word)
            if problem is not None:
                where = f"byte offset {base + start} (record {k + i})"
                bad = "word" if not word else "misaligned"
                raise VectorFormatError(path, where, problem + _MISALIGNED * bool(word), bad)
            try:
                text = word.decode(codec, errors)
            except UnicodeDecodeError:
                text = ""
            if not text:
                where = f"byte offset {base + start} (record {k + i})"
                text = decode_word(word, path, where, encoding, errors)
            words.append(text)
            starts.append(base + start)
            raw[i * rec : (i + 1) * rec] = view[sp + 1 : sp + 1 + rec]
            pos = sp + 1 + rec
            i += 1
        vectors = _to_dtype(out, dtype, starts, "byte offset", path, allow_nonfinite)
        k += n
        yield words, vectors, starts
    if limit is None or limit >= count:
        _require_rest_blank(f, path, buf[pos:], base + pos, chunk)


def _require_rest_blank(f: BinaryIO, path: Any, rest: bytes, at: int, chunk: int) -> None:
    while True:
        if rest.strip(b" \t\r\n"):
            first = len(rest) - len(rest.lstrip(b" \t\r\n"))
            raise VectorFormatError(
                path,
                f"byte offset {at + first}",
                "data after the records the header announces",
                "trailing",
            )
        at += len(rest)
        rest = f.read(chunk)
        if not rest:
            return


def shortest(v: np.ndarray) -> list[str]:
    """Each value in the shortest decimal that reads back to the same value of its dtype."""
    return [str(x) for x in v] if v.dtype != np.float64 else [repr(x) for x in v.tolist()]
