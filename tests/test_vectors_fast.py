"""The fast text-row parser (:mod:`refpe._vectors_fast`, Apache Arrow's CSV reader) against the
pure reader of :mod:`refpe._vectors_io`: the same words, bit-identical values, the same errors
with the same file and line, and the fast path really taken on plain files."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import refpe
import refpe._vectors_fast as fast
import refpe._vectors_io as vio
from refpe._vectors_io import VectorFormatError

pytestmark = pytest.mark.skipif(not fast.available(), reason="pyarrow is not importable")


def _read(path, fmt, enabled, **kw):
    old = fast.ENABLED
    fast.ENABLED = enabled
    try:
        return refpe.vectors.read(path, format=fmt, **kw)
    finally:
        fast.ENABLED = old


def _both(path, fmt, **kw):
    """``(fast result or error text, pure result or error text)``."""
    out = []
    for enabled in (True, False):
        try:
            out.append(_read(path, fmt, enabled, **kw))
        except VectorFormatError as e:
            out.append(str(e))
    return out


def _decimals(g: np.random.Generator, n: int) -> list[str]:
    """Decimals of every shape the readers meet: shortest float32 and float64, long ones,
    float32 halfway neighbours (double rounding), tiny, huge, signs and bare points."""
    f32 = (g.standard_normal(n) * 10.0 ** g.integers(-40, 39, n)).astype(np.float32)
    f64 = g.standard_normal(n) * 10.0 ** g.integers(-300, 300, n)
    mid = f32.astype(np.float64) + np.spacing(f32).astype(np.float64) / 2  # float32 ties
    long = [f"{g.integers(0, 10**9)}.{g.integers(0, 10**18):018d}{g.integers(0, 10**9)}e{e}"
            for e in g.integers(-60, 30, n)]  # fmt: skip
    fixed = ["0", "-0", "0.0", "1.", ".5", "-.5", "+1", "+1.5e+3", "1E5", "1e-45", "1e-46",
             "3.4028235e38", "3.4028234e38", "1.17549435e-38", "4.9e-324",
             "2.2250738585072014e-308",
             "9007199254740993", "0.1000000000000000055511151231257827"]  # fmt: skip
    return (
        [str(x) for x in f32]
        + [repr(x) for x in f64.tolist()]
        + [f"{x:.25e}" for x in mid.tolist()]
        + long
        + fixed
    )


def _spy(monkeypatch) -> list:
    """The answers of the fast parser in this test (``None``: it declined)."""
    taken: list = []
    real = vio.parse_rows
    monkeypatch.setattr(vio, "parse_rows", lambda *a: taken.append(real(*a)) or taken[-1])
    return taken


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_values_bit_identical_to_the_pure_reader(tmp_path, monkeypatch, dtype):
    g = np.random.default_rng(5)
    with np.errstate(over="ignore"):
        values = [v for v in _decimals(g, 400) if np.isfinite(np.array(float(v)).astype(dtype))]
    g.shuffle(values)
    d = 8
    rows = [values[i : i + d] for i in range(0, len(values) - d + 1, d)]
    path = tmp_path / "v.txt"
    lines = [f"w{i} " + " ".join(r) for i, r in enumerate(rows)]
    path.write_text(f"{len(rows)} {d}\n" + "\n".join(lines) + "\n")
    taken = _spy(monkeypatch)
    got, want = _both(path, "word2vec-text", dtype=dtype)
    assert taken[0] is not None, "the fast path declined a plain file"
    assert got[0] == want[0]
    assert got[1].dtype == want[1].dtype
    assert np.array_equal(got[1].view(np.uint8), want[1].view(np.uint8))
    # the pure reader is strtod: its float64 values are the decimals correctly rounded
    if dtype == "float64":
        assert np.array_equal(want[1].ravel(), np.array([float(v) for r in rows for v in r]))


def test_the_fast_path_is_taken_on_a_plain_file(tmp_path, monkeypatch):
    g = np.random.default_rng(1)
    words = [f"wörd{i}" for i in range(500)]
    vectors = g.standard_normal((500, 16)).astype(np.float32)
    path = tmp_path / "v.txt"
    refpe.vectors.write(path, words, vectors, format="word2vec-text")
    taken = _spy(monkeypatch)
    w, v = refpe.vectors.read(path, format="word2vec-text")
    assert w == words and np.array_equal(v, vectors)
    assert taken and all(t is not None for t in taken[:-1])


@pytest.mark.parametrize("fmt", ["word2vec-text", "glove"])
def test_many_chunks_fast_and_pure_mixed(tmp_path, monkeypatch, fmt):
    """Small chunks: some plain (fast), some with a trailing space or CRLF (pure)."""
    monkeypatch.setattr(vio, "CHUNK", 512)
    g = np.random.default_rng(2)
    n, d = 300, 5
    vectors = g.standard_normal((n, d)).astype(np.float32)
    rows = [f"w{i} " + " ".join(str(x) for x in v) for i, v in enumerate(vectors)]
    rows[100] += "  "
    rows[200] += "\r"
    head = f"{n} {d}\n" if fmt != "glove" else ""
    path = tmp_path / "v.txt"
    path.write_bytes((head + "\n".join(rows) + "\n").encode())
    got, want = _both(path, fmt)
    assert got[0] == want[0] == [f"w{i}" for i in range(n)]
    assert np.array_equal(got[1], vectors) and np.array_equal(want[1], vectors)


BAD_ROWS = [
    ("w 1 2 3\nx 1 2\n", "values"),  # short row
    ("w 1 2 3\nx 1 2 3 4\n", "values"),  # long row
    ("w 1 2 3\nx 1  3\n", "empty field"),
    ("w 1 2 3\nx 1 nan 3\n", "non-finite"),
    ("w 1 2 3\nx 1 1e39 3\n", "float32 overflow"),
    ("w 1 2 3\nx 1 0x10 3\n", "hex"),
    ("w 1 2 3\nx 1 1e 3\n", "bare exponent"),
    ('w 1 2 3\nx 1 "2" 3\n', "quotes"),
    ("w 1 2 3\nx\t1 2 3\n", "tab"),
    ("w 1 2 3\n 1 2 3\n", "empty word"),
    ("w 1 2 3\n\nx 1 2 3\n", "blank line inside"),
    ("w 1 2 3\nw 1 2 3\n", "duplicate"),
    ("w 1 2 3\n\xef\xbb\xbfx 1 2 3\n", "BOM inside"),
    ("w 1 2 3\nx\x7f 1 2 3\n", "DEL in word"),
]


@pytest.mark.parametrize("fmt", ["word2vec-text", "glove"])
@pytest.mark.parametrize("body,what", BAD_ROWS, ids=[b[1] for b in BAD_ROWS])
def test_the_same_errors_and_answers_as_the_pure_reader(tmp_path, body, what, fmt):
    head = "2 3\n" if fmt == "word2vec-text" else ""
    path = tmp_path / "v.txt"
    path.write_bytes((head + body).encode("latin-1"))
    got, want = _both(path, fmt)
    if isinstance(want, str):
        assert got == want
    else:
        assert got[0] == want[0] and np.array_equal(got[1], want[1])


_PLACES = ["x%s 1 2 3", "%sx 1 2 3", "x %s1 2 3", "x 1%s 2 3", "x 1 2%s3", "x 1 2.%s5 3",
           "x 1 2 3%s", "x%s1 2 3"]  # fmt: skip


@pytest.mark.parametrize("byte", [b for b in range(32) if b not in (10, 13)] + [127])
def test_every_control_byte_anywhere_declines(tmp_path, monkeypatch, byte):
    """A control byte (a tab, which Arrow trims around a number, a NUL, DEL ...; CR ends a
    line) in a word, around or inside a value never reaches the caller by the fast path: it
    declines and the pure reader raises or reads what it always did."""
    declined = []
    real = fast.parse_rows
    monkeypatch.setattr(vio, "parse_rows", lambda *a: declined.append(real(*a) is None) or None)
    for place in _PLACES:
        body = "w 1 2 3\n" + place % chr(byte) + "\ny 4 5 6\n"
        path = tmp_path / "v.txt"
        path.write_bytes(("3 3\n" + body).encode("latin-1"))
        declined.clear()
        with contextlib.suppress(VectorFormatError):
            _read(path, "word2vec-text", True)
        assert declined and all(declined), (place, byte)
        monkeypatch.setattr(vio, "parse_rows", real)
        got, want = _both(path, "word2vec-text")
        monkeypatch.setattr(vio, "parse_rows", lambda *a: declined.append(real(*a) is None) or None)
        if isinstance(want, str):
            assert got == want
        else:
            assert got[0] == want[0] and np.array_equal(got[1], want[1])


def test_bad_utf8_word_names_its_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"3 2\na 1 2\nb 1 2\n\xff\xfe 1 2\n")
    got, want = _both(path, "word2vec-text")
    assert got == want and "line 4" in got
    got, want = _both(path, "word2vec-text", errors="replace")
    assert got[0] == want[0] == ["a", "b", "\ufffd\ufffd"]
