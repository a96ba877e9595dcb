"""Fuzzing the vector readers against a slow, independent parser of the same grammar.

Random bytes, mutated valid files and random numeric fields go to every reader. Each
example must finish within a time bound, raise nothing but ``VectorFormatError``, and
agree with the oracle below: the oracle accepts exactly when refpe does, with the same
words and bit-identical vectors (no silent wrong vector). ``REFPE_FUZZ_EXAMPLES`` sets the
examples per test (default 2500, over 10^4 in all); e.g. ``REFPE_FUZZ_EXAMPLES=200000``
for a long run.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refpe import vectors as V
from refpe.vectors import VectorFormatError

EXAMPLES = int(os.environ.get("REFPE_FUZZ_EXAMPLES", "2500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
HEADER = re.compile(rb"[ \t]*([0-9]+)[ \t]+([0-9]+)[ \t\r]*")


class Refused(Exception):
    pass


def refuse(ok: bool) -> None:
    if not ok:
        raise Refused


def oracle_header(data: bytes) -> tuple[int, int, bytes]:
    line, nl, body = data.partition(b"\n")
    m = HEADER.fullmatch(line)
    refuse(m is not None and (nl or not body))
    count, dim = int(m.group(1)), int(m.group(2))
    refuse(dim > 0)
    return count, dim, body


def oracle_text(data: bytes, header: bool):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    count = dim = None
    if header:
        count, dim, data = oracle_header(data)
    rows = [r.rstrip(b" \t\r") for r in data.split(b"\n")]
    while rows and not rows[-1]:
        rows.pop()
    refuse(all(rows) and (count is None or len(rows) == count))
    words, vectors = [], []
    for r in rows:
        word, _, rest = r.partition(b" ")
        fields = rest.split(b" ") if rest else []
        dim = len(fields) if dim is None else dim
        refuse(bool(word) and 0 < len(fields) == dim)
        refuse(all(NUMBER.fullmatch(f) for f in fields))
        words.append(word.decode("utf-8"))
        vectors.append([float(f) for f in fields])
    with np.errstate(over="ignore"):
        out = np.array(vectors, dtype=np.float64).astype(np.float32)
    refuse(bool(np.isfinite(out).all()) and len(set(words)) == len(words))
    return words, out.reshape(len(words), dim or 0)


def oracle_binary(data: bytes):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    count, dim, data = oracle_header(data)
    words, vectors, pos = [], [], 0
    for _ in range(count):
        sp = data.find(b" ", pos)
        refuse(sp >= 0 and len(data) - sp - 1 >= 4 * dim)
        word = data[pos:sp].lstrip(b"\n")
        refuse(bool(word))
        words.append(word.decode("utf-8"))
        vectors.append(np.frombuffer(data, "<f4", dim, sp + 1))
        pos = sp + 1 + 4 * dim
    refuse(not data[pos:].strip(b" \t\r\n"))
    out = np.array(vectors, dtype=np.float32).reshape(count, dim)
    refuse(bool(np.isfinite(out).all()) and len(set(words)) == len(words))
    return words, out


def oracle(data: bytes, fmt: str):
    try:
        if fmt == "word2vec-binary":
            return oracle_binary(data)
        return oracle_text(data, header=fmt != "glove")
    except (Refused, UnicodeDecodeError):
        return None


@contextlib.contextmanager
def bounded(seconds: float):
    if not hasattr(signal, "setitimer"):
        yield
        return

    def stop(*_):
        raise TimeoutError(f"reader took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check(path, data: bytes, fmt: str) -> None:
    path.write_bytes(data)
    want = oracle(data, fmt)
    try:
        with bounded(5.0):
            got = V.read(path, format=fmt)
    except VectorFormatError as e:
        assert str(path) in str(e)
        assert want is None, f"refpe refused a valid file: {e}"
        return
    assert want is not None, f"refpe accepted a malformed file: {data!r}"
    assert got[0] == want[0]
    assert got[1].shape == want[1].shape
    np.testing.assert_array_equal(got[1].view(np.uint32), want[1].view(np.uint32))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        import tempfile

        with tempfile.TemporaryDirectory(dir="/dev/shm") as folder:
            yield pathlib.Path(folder) / "vectors"
        return
    yield tmp_path_factory.mktemp("fuzz") / "vectors"


@FUZZ
@given(data=st.binary(max_size=200), fmt=st.sampled_from(V.FORMATS))
def test_random_bytes(target, data, fmt):
    check(target, data, fmt)


ALPHABET = st.sampled_from(["a", "b", "深", "é", "😀", "_", "\t"])
PIECES = [b" ", b"\n", b"\r", b"\t", b"-", b".", b"e", b"0", b"9", b"n", b"\xff", b"\x00", b"  "]


@st.composite
def valid_files(draw):
    n, d = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    words = draw(
        st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=n, max_size=n, unique=True)
    )
    values = draw(
        st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=n * d,
                 max_size=n * d)
    )  # fmt: skip
    vectors = np.array(values, dtype=np.float32).reshape(n, d)
    fmt = draw(st.sampled_from(V.FORMATS))
    return words, vectors, fmt, draw(st.booleans())


@st.composite
def mutations(draw, data: bytes):
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        i = draw(st.integers(0, len(out)))
        if kind == "flip" and i < len(out):
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[i:i] = draw(st.sampled_from(PIECES))
        elif kind == "delete":
            del out[i : i + draw(st.integers(1, 4))]
        elif kind == "truncate":
            del out[i:]
        else:
            j = draw(st.integers(i, len(out)))
            out[j:j] = out[i:j]
    return bytes(out)


@FUZZ
@given(spec=valid_files(), data=st.data())
def test_mutated_valid_files(target, spec, data):
    words, vectors, fmt, newline = spec
    buffer = io.BytesIO()
    V._write_rows(buffer, [w.encode() for w in words], vectors, fmt, newline)
    valid = buffer.getvalue()
    target.write_bytes(valid)
    got_words, got = V.read(target, format=fmt)
    if fmt != "glove" or words:
        assert got_words == words
        np.testing.assert_array_equal(got.view(np.uint32), vectors.view(np.uint32))
    check(target, data.draw(mutations(valid)), fmt)


FIELD = st.text(st.sampled_from("0123456789.eE+-naifINTY\t "), min_size=0, max_size=8)


@FUZZ
@given(
    rows=st.lists(st.lists(FIELD, min_size=1, max_size=3), min_size=1, max_size=3),
    header=st.booleans(),
)
def test_numeric_fields(target, rows, header):
    body = "".join(f"w{i} " + " ".join(r) + "\n" for i, r in enumerate(rows)).encode()
    head = f"{len(rows)} {len(rows[0])}\n".encode() if header else b""
    check(target, head + body, "word2vec-text" if header else "glove")


@FUZZ
@given(
    words=st.lists(st.binary(min_size=0, max_size=4), min_size=1, max_size=3),
    dim=st.integers(1, 3),
    raw=st.binary(min_size=0, max_size=40),
    count=st.integers(0, 4),
)
def test_binary_records(target, words, dim, raw, count):
    body = b"".join(w + b" " + raw[i * 4 * dim : (i + 1) * 4 * dim] for i, w in enumerate(words))
    check(target, f"{count} {dim}\n".encode() + body, "word2vec-binary")
