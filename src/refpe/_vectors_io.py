"""Parsers and writers of the word-vector file formats (spec ``pretrained-formats``).

Text rows are ``word SP v1 SP ... SP vd`` with optional trailing blanks; word2vec binary
records are ``word SP`` then ``d`` little-endian float32, optionally followed by a newline.
Every reader streams the file in chunks and yields blocks ``(words, vectors, starts)``
where ``starts`` holds each row's line number (text) or byte offset (binary).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import numpy as np

FORMATS = ("word2vec-text", "word2vec-binary", "glove", "fasttext-vec")
HEADER_FORMATS = ("word2vec-text", "word2vec-binary", "fasttext-vec")

CHUNK = 1 << 21
#: Largest block of vectors a reader hands out at once (bounds the peak memory of a read).
BLOCK_BYTES = 1 << 22
MAX_LINE = 1 << 26
MAX_WORD = 1 << 16
_BOM = b"\xef\xbb\xbf"
_NUMBER_BYTES = b"0123456789.eE+- "
_FINITE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(rb"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_HEADER = re.compile(rb"[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t\r]*")

Block = tuple[list[str], np.ndarray, list[int]]
Progress = Callable[[int, int], None] | None


class VectorFormatError(ValueError):
    """A vector file that breaks its format: ``path: where: problem``.

    ``where`` is ``"line N"`` for text formats or ``"byte offset N (record k)"`` for
    binary ones; ``problem`` says what is wrong (wrong column count, bad float, NaN or
    infinity, truncated record, header/body mismatch, empty or duplicate word, bad
    encoding). It is the only exception the readers raise for a malformed file.
    """

    def __init__(self, path: Any, where: str, problem: str) -> None:
        self.path, self.where, self.problem = str(path), where, problem
        super().__init__(f"{path}: {where}: {problem}")


def is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig", "u8")


def _decoding(encoding: str) -> str:
    return "utf-8" if is_utf8(encoding) else encoding


def decode_word(raw: bytes, path: Any, where: str, encoding: str, errors: str) -> str:
    try:
        word = raw.decode(_decoding(encoding), errors)
    except UnicodeDecodeError as e:
        raise VectorFormatError(
            path, where, f"word {raw!r} is not valid {encoding} (byte {e.start}: {e.reason})"
        ) from None
    if not word:
        raise VectorFormatError(path, where, f"empty word (raw bytes {raw!r})")
    return word


def read_header(f: BinaryIO, path: Any, size: int, encoding: str) -> tuple[int, int, int]:
    """``(count, dim, offset after the header)`` from the ``"count dim"`` first line."""
    head = f.read(min(size, 4096))
    skip = 3 if is_utf8(encoding) and head.startswith(_BOM) else 0
    end = head.find(b"\n", skip)
    if end < 0:
        if len(head) < size or not head:
            raise VectorFormatError(path, "line 1", "no header line 'count dim' found")
        end = len(head)
    m = _HEADER.fullmatch(head[skip:end])
    if m is None:
        raise VectorFormatError(
            path,
            "line 1",
            f"header must be 'count dim' (two integers), got {head[skip:end][:40]!r}",
        )
    count, dim = int(m.group(1)), int(m.group(2))
    if dim == 0:
        raise VectorFormatError(path, "line 1", "header dimension is 0")
    f.seek(end + 1)
    return count, dim, min(end + 1, size)


def require_fits(path: Any, count: int, least: int, room: int, what: str) -> None:
    """Refuse a header whose ``count`` rows of at least ``least`` bytes exceed the file.

    Text rows count their newline in ``least``; the last one may lack it (one byte less).
    """
    if count * least - (what == "rows") > room:
        raise VectorFormatError(
            path,
            "line 1",
            f"header announces {count} {what} but the {room} bytes after it hold at most "
            f"{room // least} (each needs at least {least} bytes)",
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
                raise VectorFormatError(path, f"line {starts[r]}", f"column {c + 1}: {value}")
            out[r, c] = value
    return out


def _to_dtype(
    values: np.ndarray, dtype: np.dtype, starts: list[int], where: str, path: Any, ok: bool
) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(dtype, copy=False)
    if not ok and not np.isfinite(out).all():
        r, c = np.argwhere(~np.isfinite(out))[0]
        raise VectorFormatError(
            path,
            f"{where} {starts[r]}",
            f"column {c + 1}: value {float(values[r, c])!r} is not finite in {dtype.name}",
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
    """Rows of a text file from the current position; ``line`` is the next line's number."""
    want = count if limit is None else (limit if count is None else min(count, limit))
    cut = limit is not None and (count is None or limit < count)
    rows, tail, blank = 0, b"", None
    if bom:
        tail = f.read(3)
        tail = b"" if tail == _BOM else tail
    done = f.tell()
    while True:
        data = f.read(chunk)
        done += len(data)
        if progress is not None:
            progress(done, size)
        buf = tail + data
        if data:
            nl = buf.rfind(b"\n")
            lines, tail = (buf[:nl].split(b"\n"), buf[nl + 1 :]) if nl >= 0 else ([], buf)
            if len(tail) > MAX_LINE:
                raise VectorFormatError(path, f"line {line}", f"line longer than {MAX_LINE} bytes")
        else:
            lines, tail = (buf.split(b"\n") if buf else []), b""
        words, rests, starts = [], [], []
        for raw in lines:
            if cut and rows == want:
                break
            s = raw.rstrip(b" \t\r")
            if not s:
                blank = line if blank is None else blank
                line += 1
                continue
            if blank is not None:
                raise VectorFormatError(path, f"line {blank}", "empty line inside the table")
            if want is not None and rows == want:
                raise VectorFormatError(
                    path, f"line {line}", f"more rows than the {count} the header announces"
                )
            word, _, rest = s.partition(b" ")
            if not word:
                raise VectorFormatError(
                    path, f"line {line}", "empty word (line starts with a space)"
                )
            n = rest.count(b" ") + 1 if rest else 0
            dim = dim if dim is not None else n
            if n == 0:
                raise VectorFormatError(path, f"line {line}", f"no values after the word {word!r}")
            if n != dim:
                why = " (two spaces in a row: an empty field)" if b"  " in rest else ""
                raise VectorFormatError(path, f"line {line}", f"{n} values, expected {dim}{why}")
            words.append(decode_word(word, path, f"line {line}", encoding, errors))
            rests.append(rest)
            starts.append(line)
            rows += 1
            line += 1
        if words:
            yield words, _parse_rows(rests, starts, dim, path, dtype, allow_nonfinite), starts
        if cut and rows == want:
            return
        if not data:
            break
    if count is not None and rows < want:
        raise VectorFormatError(
            path, f"line {line}", f"file ends after {rows} rows; the header announces {count}"
        )


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
    block_rows: int = 1 << 16,
) -> Iterator[Block]:
    """Records of a word2vec C binary file after its header (at byte ``offset``)."""
    rec = 4 * dim
    want = count if limit is None else min(count, limit)
    codec = _decoding(encoding)
    buf, pos, base, k = f.read(chunk), 0, offset, 0
    view = memoryview(buf)
    if progress is not None:
        progress(offset + len(buf), size)
    block_rows = max(1, min(block_rows, BLOCK_BYTES // rec))
    while k < want:
        n = min(block_rows, want - k)
        out = np.empty((n, dim), dtype="<f4")
        raw = memoryview(out).cast("B")
        words, starts = [], []
        for i in range(n):
            while True:
                sp = buf.find(b" ", pos, pos + MAX_WORD)
                if sp >= 0 and len(buf) - sp - 1 >= rec:
                    break
                if sp < 0 and len(buf) - pos >= MAX_WORD:
                    raise VectorFormatError(
                        path,
                        f"byte offset {base + pos} (record {k + i})",
                        f"no space ending the word within {MAX_WORD} bytes",
                    )
                more = f.read(max(chunk, rec + MAX_WORD))
                if not more:
                    where = f"byte offset {base + pos} (record {k + i})"
                    if sp < 0:
                        problem = "file ends" + (" inside a word" if buf[pos:].strip() else "")
                    else:
                        problem = f"truncated vector: {len(buf) - sp - 1} of {rec} bytes"
                    raise VectorFormatError(
                        path, where, f"{problem}; the header announces {count} records"
                    )
                if progress is not None:
                    progress(base + len(buf) + len(more), size)
                view.release()
                buf, base, pos = buf[pos:] + more, base + pos, 0
                view = memoryview(buf)
            word = buf[pos:sp].lstrip(b"\n")
            try:
                text = word.decode(codec, errors)
            except UnicodeDecodeError:
                text = ""
            if not text:
                where = f"byte offset {base + pos} (record {k + i})"
                text = decode_word(word, path, where, encoding, errors)
            words.append(text)
            starts.append(base + pos)
            raw[i * rec : (i + 1) * rec] = view[sp + 1 : sp + 1 + rec]
            pos = sp + 1 + rec
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
                path, f"byte offset {at + first}", "data after the records the header announces"
            )
        at += len(rest)
        rest = f.read(chunk)
        if not rest:
            return


def shortest(v: np.ndarray) -> list[str]:
    """Each value in the shortest decimal that reads back to the same value of its dtype."""
    return [str(x) for x in v] if v.dtype != np.float64 else [repr(x) for x in v.tolist()]


def atomic_write(path: Any, write: Callable[[BinaryIO], None]) -> None:
    """Write through a temporary file in the same directory, then ``os.replace``."""
    import tempfile

    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
