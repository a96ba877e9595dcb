"""Fuzzing the vector readers and writer against a slow, independent parser of the same grammar.

Random bytes, mutated valid files and random numeric fields go to every reader; random words
and arrays of every accepted dtype go to the writer. Each example must finish within a time
bound, raise nothing but ``VectorFormatError`` (readers) or ``ValueError`` (writer), and
agree with the oracle below: the oracle accepts exactly when refpe does, with the same words
and bit-identical vectors (no silent wrong answer). ``REFPE_FUZZ_EXAMPLES`` sets the examples
per test (default 2000, 10^4 in all; the long run 20000, 10^5 in all);
``REFPE_FUZZ_REPORT=path.json`` writes the figures (examples, accepted, refusals by kind,
crashes, hangs, wrong answers). The long run kept in
``docs/reports/fuzz-vectors.json``::

    REFPE_FUZZ_EXAMPLES=20000 REFPE_FUZZ_REPORT=docs/reports/fuzz-vectors.json \\
        nice python -m pytest -q -p no:randomly tests/test_fuzz_vectors.py
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import pathlib
import platform
import re
import signal
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refpe
from refpe import _vectors_write
from refpe import vectors as V
from refpe.vectors import MAX_WORD, VectorFormatError

EXAMPLES = int(os.environ.get("REFPE_FUZZ_EXAMPLES", "2000"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
HEADER = re.compile(rb" *([0-9]+) +([0-9]+) *")
NOT_IN_WORDS = set(range(33)) | {0x7F}
#: test -> counter of outcomes: "examples", "accepted", "refused:<kind>", "crash", "hang", "wrong"
STATS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


class Refused(Exception):
    pass


def refuse(ok: bool) -> None:
    if not ok:
        raise Refused


def word_ok(word: bytes) -> bool:
    return 0 < len(word) <= MAX_WORD and not NOT_IN_WORDS.intersection(word)


def split_line(data: bytes) -> tuple[bytes, bytes, bool]:
    """First line, the rest after its LF / CRLF / CR, and whether a line end was there."""
    for i, b in enumerate(data):
        if b in b"\r\n":
            step = 2 if data[i : i + 2] == b"\r\n" else 1
            return data[:i], data[i + step :], True
    return data, b"", False


def oracle_header(data: bytes) -> tuple[int, int, bytes]:
    line, body, nl = split_line(data)
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
    rows = [r.rstrip(b" ") for r in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")]
    while rows and not rows[-1]:
        rows.pop()
    refuse(all(rows) and (count is None or len(rows) == count))
    words, vectors = [], []
    for r in rows:
        refuse(b"\t" not in r)
        word, _, rest = r.partition(b" ")
        fields = rest.split(b" ") if rest else []
        dim = len(fields) if dim is None else dim
        refuse(word_ok(word) and 0 < len(fields) == dim)
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
        while data[pos : pos + 1] in (b"\r", b"\n"):
            pos += 1
        sp = data.find(b" ", pos)
        refuse(sp >= 0 and len(data) - sp - 1 >= 4 * dim)
        word = data[pos:sp]
        refuse(word_ok(word))
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


@contextlib.contextmanager
def counted(test: str):
    """Count the example and any crash, hang or wrong answer before the test fails on it."""
    stats = STATS[test]
    stats["examples"] += 1
    out = os.environ.get("REFPE_FUZZ_REPORT")
    if out and stats["examples"] % 5000 == 0:
        write_report(out, complete=False)  # a long run that is stopped keeps its figures
    try:
        yield stats
    except TimeoutError:
        stats["hang"] += 1
        raise
    except AssertionError:
        stats["wrong"] += 1
        raise
    except Exception:
        stats["crash"] += 1
        raise


def check(path, data: bytes, fmt: str, test: str) -> None:
    path.write_bytes(data)
    want = oracle(data, fmt)
    with counted(test) as stats:
        try:
            with bounded(5.0):
                got = V.read(path, format=fmt)
        except VectorFormatError as e:
            assert str(path) in str(e)
            assert want is None, f"refpe refused a valid file: {e}"
            stats[f"refused:{e.kind}"] += 1
            return
        assert want is not None, f"refpe accepted a malformed file: {data!r}"
        assert got[0] == want[0]
        assert got[1].shape == want[1].shape
        np.testing.assert_array_equal(got[1].view(np.uint32), want[1].view(np.uint32))
        stats["accepted"] += 1


START = time.perf_counter()


def write_report(out: str, complete: bool) -> None:
    tests = {name: dict(sorted(c.items())) for name, c in sorted(STATS.items())}
    total = sum((c for c in STATS.values()), collections.Counter())
    facts = {
        "schema": "refpe-fuzz-vectors/1",
        "command": "REFPE_FUZZ_EXAMPLES=N REFPE_FUZZ_REPORT=PATH "
        "python -m pytest -q -p no:randomly tests/test_fuzz_vectors.py",
        "refpe": refpe.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "examples_per_test": EXAMPLES,
        "complete": complete,
        "seconds": round(time.perf_counter() - START, 1),
        "inputs_tried": total["examples"],
        "accepted": total["accepted"],
        "refused_by_kind": {
            k.split(":", 1)[1]: v for k, v in sorted(total.items()) if k.startswith("refused:")
        },
        "crashes": total["crash"],
        "hangs": total["hang"],
        "silent_wrong_answers": total["wrong"],
        "tests": tests,
    }
    with open(out + ".part", "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(out + ".part", out)


@pytest.fixture(autouse=True)
def report(request):
    """With ``REFPE_FUZZ_REPORT``, the figures so far after every test (a long run that is
    stopped keeps what it did); ``complete`` once the last test of the module is done."""
    yield
    out = os.environ.get("REFPE_FUZZ_REPORT")
    if out:
        last = request.node is request.session.items[-1]
        write_report(out, complete=last and request.session.testsfailed == 0)


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
    check(target, data, fmt, "random_bytes")


ALPHABET = st.sampled_from(["a", "b", "深", "é", "😀", "_", "\ufeff"])
PIECES = [b" ", b"\n", b"\r", b"\r\n", b"\t", b"-", b".", b"e", b"0", b"9", b"n", b"\xff", b"\x00"]
PIECES += [b"  ", b"\xef\xbb\xbf"]


@st.composite
def valid_files(draw):
    n, d = draw(st.integers(0, 4)), draw(st.integers(1, 4))
    words = draw(
        st.lists(st.text(ALPHABET, min_size=1, max_size=3), min_size=n, max_size=n, unique=True)
    )
    fmt = draw(st.sampled_from(V.FORMATS))
    if fmt == "glove" and words and words[0].startswith("\ufeff"):
        words[0] = "a" + words[0]  # the writer refuses it (it would read as a BOM)
        assume(words[0] not in words[1:])  # the new word must stay unique
    values = draw(
        st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), min_size=n * d,
                 max_size=n * d)
    )  # fmt: skip
    vectors = np.array(values, dtype=np.float32).reshape(n, d)
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
    _vectors_write.write_rows(buffer, [w.encode() for w in words], vectors, fmt, newline)
    valid = buffer.getvalue()
    target.write_bytes(valid)
    got_words, got = V.read(target, format=fmt)
    if fmt != "glove" or words:
        assert got_words == words
        np.testing.assert_array_equal(got.view(np.uint32), vectors.view(np.uint32))
    check(target, data.draw(mutations(valid)), fmt, "mutated_valid_files")


FIELD = st.text(st.sampled_from("0123456789.eE+-naifINTY\t "), min_size=0, max_size=8)


@FUZZ
@given(
    rows=st.lists(st.lists(FIELD, min_size=1, max_size=3), min_size=1, max_size=3),
    header=st.booleans(),
)
def test_numeric_fields(target, rows, header):
    body = "".join(f"w{i} " + " ".join(r) + "\n" for i, r in enumerate(rows)).encode()
    head = f"{len(rows)} {len(rows[0])}\n".encode() if header else b""
    check(target, head + body, "word2vec-text" if header else "glove", "numeric_fields")


@FUZZ
@given(
    words=st.lists(st.binary(min_size=0, max_size=4), min_size=1, max_size=3),
    dim=st.integers(1, 3),
    raw=st.binary(min_size=0, max_size=40),
    count=st.integers(0, 4),
)
def test_binary_records(target, words, dim, raw, count):
    ends = [b"", b"\n", b"\r\n", b"\r"]
    body = b"".join(
        ends[i % 4] + w + b" " + raw[i * 4 * dim : (i + 1) * 4 * dim] for i, w in enumerate(words)
    )
    check(target, f"{count} {dim}\n".encode() + body, "word2vec-binary", "binary_records")


WORD_CHARS = st.sampled_from(
    ["a", "深", "😀", "é", " ", "\t", "\n", "\r", "\x00", "\x7f", "\ufeff"]
)
WIDTHS = {"float16": 16, "float32": 32, "float64": 64, "longdouble": 64}


def writer_refuses(words: list[str], v: np.ndarray, fmt: str) -> bool:
    """The oracle of :func:`refpe.vectors.write`: what it must refuse."""
    raw = [w.encode() for w in words]
    if not all(word_ok(r) for r in raw) or len(set(words)) != len(words):
        return True
    if fmt == "glove" and words[0].startswith("\ufeff"):
        return True
    if v.dtype.itemsize > 8 or not np.isfinite(v).all():
        return True
    with np.errstate(over="ignore"):
        return fmt == "word2vec-binary" and not np.isfinite(v.astype(np.float32)).all()


@st.composite
def writer_inputs(draw):
    n, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    words = draw(st.lists(st.text(WORD_CHARS, max_size=3), min_size=n, max_size=n))
    long = draw(st.sampled_from([None] * 6 + [MAX_WORD - 1, MAX_WORD, MAX_WORD + 1]))
    if long is not None:
        words[0] = "a" * long
    dtype = draw(st.sampled_from(list(WIDTHS)))
    elements = st.floats(width=WIDTHS[dtype], allow_nan=False)
    v = draw(hnp.arrays(np.dtype(dtype), (n, d), elements=elements))
    return words, v, draw(st.sampled_from(V.FORMATS)), draw(st.booleans())


@FUZZ
@given(spec=writer_inputs())
def test_writer(target, spec):
    words, v, fmt, newline = spec
    refused = writer_refuses(words, v, fmt)
    with counted("writer") as stats:
        try:
            with bounded(5.0):
                V.write(target, words, v, format=fmt, newline=newline)
        except ValueError as e:
            assert refused, f"refpe refused a writable input: {e}"
            stats["refused:writer"] += 1
            return
        finally:
            assert not [n for n in os.listdir(target.parent) if ".refpe-" in n]
        assert not refused, f"refpe wrote what it must refuse: {words!r} {v!r}"
        dtype = np.float32 if fmt == "word2vec-binary" else v.dtype
        got_words, back = V.read(target, format=fmt, dtype=dtype)
        assert got_words == words
        want = v.astype(dtype)
        np.testing.assert_array_equal(back.view(np.uint8), want.view(np.uint8))
        stats["accepted"] += 1
