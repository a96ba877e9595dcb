"""refpe.vectors: word2vec / GloVe / fastText files (spec pretrained-formats)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refpe import _vectors_io, _vectors_write
from refpe import vectors as V
from refpe.vectors import VectorFormatError

WORDS = ["the", "深度", "naïve", "😀", "\ufeffbom", "x"]


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint8)


def sample(n=6, d=5, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


@pytest.fixture(params=V.FORMATS)
def fmt(request):
    return request.param


def test_round_trip_bit_exact(tmp_path, fmt):
    v = sample()
    v[0, :3] = [0.0, -0.0, np.finfo(np.float32).smallest_subnormal]
    v[1, :2] = [np.finfo(np.float32).max, np.finfo(np.float32).min]
    p = tmp_path / "v"
    V.write(p, WORDS, v, format=fmt)
    words, back = V.read(p, format=fmt)
    assert words == WORDS
    assert back.dtype == np.float32
    np.testing.assert_array_equal(bits(back), bits(v))


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_text_round_trip_keeps_other_dtypes(tmp_path, dtype):
    v = sample(dtype=dtype) / 3
    V.write(tmp_path / "v", WORDS, v, format="word2vec-text")
    _, back = V.read(tmp_path / "v", format="word2vec-text", dtype=dtype)
    np.testing.assert_array_equal(bits(back), bits(v))


def test_binary_holds_float32(tmp_path):
    v = sample(dtype=np.float64) / 3
    V.write(tmp_path / "v", WORDS, v, format="word2vec-binary")
    _, back = V.read(tmp_path / "v", format="word2vec-binary", dtype="float64")
    np.testing.assert_array_equal(back, v.astype(np.float32).astype(np.float64))


@settings(max_examples=60, deadline=None)
@given(
    v=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    ),
    fmt=st.sampled_from(V.FORMATS),
)
def test_round_trip_any_float32(tmp_path_factory, v, fmt):
    p = tmp_path_factory.mktemp("rt") / "v"
    words = [f"w{i}" for i in range(v.shape[0])]
    V.write(p, words, v, format=fmt)
    got_words, back = V.read(p, format=fmt)
    assert got_words == words
    np.testing.assert_array_equal(bits(back), bits(v))


def test_text_uses_shortest_digits(tmp_path):
    v = np.array([[0.1, 1 / 3, 1e-8, 100.0]], dtype=np.float32)
    V.write(tmp_path / "v", ["w"], v, format="glove")
    row = (tmp_path / "v").read_text().split()
    assert row == ["w", "0.1", "0.33333334", "1e-08", "100.0"]


def test_binary_newline_optional(tmp_path):
    v = sample(2, 3)
    V.write(tmp_path / "a", ["a", "b"], v, format="word2vec-binary", newline=True)
    V.write(tmp_path / "b", ["a", "b"], v, format="word2vec-binary", newline=False)
    a, b = (tmp_path / "a").read_bytes(), (tmp_path / "b").read_bytes()
    assert len(a) == len(b) + 2 and a.endswith(b"\n") and b.startswith(b"2 3\na ")
    for p in (tmp_path / "a", tmp_path / "b"):
        words, back = V.read(p, format="word2vec-binary")
        assert words == ["a", "b"]
        np.testing.assert_array_equal(back, v)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_chunk_boundaries(tmp_path, monkeypatch, fmt, chunk):
    v = sample(9, 4)
    words = [f"w{i}" * (i + 1) for i in range(9)]
    V.write(tmp_path / "v", words, v, format=fmt)
    monkeypatch.setattr(_vectors_io, "CHUNK", chunk)
    got, back = V.read(tmp_path / "v", format=fmt)
    assert got == words
    np.testing.assert_array_equal(back, v)


def test_limit_and_stream(tmp_path, fmt):
    v = sample(6, 3)
    V.write(tmp_path / "v", WORDS, v, format=fmt)
    words, back = V.read(tmp_path / "v", format=fmt, limit=2)
    assert words == WORDS[:2]
    np.testing.assert_array_equal(back, v[:2])
    assert V.read(tmp_path / "v", format=fmt, limit=0)[0] == []
    blocks = list(V.iter_read(tmp_path / "v", format=fmt))
    assert [w for ws, _ in blocks for w in ws] == WORDS
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), v)


def test_limit_stops_before_damage(tmp_path):
    (tmp_path / "v").write_bytes(b"3 2\na 1 2\nb 3 4\nc oops 1\n")
    words, back = V.read(tmp_path / "v", format="word2vec-text", limit=2)
    assert words == ["a", "b"] and back.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(VectorFormatError, match=r"line 4: column 1: bad float b'oops'"):
        V.read(tmp_path / "v", format="word2vec-text")


def test_progress_reports_bytes(tmp_path, fmt):
    V.write(tmp_path / "v", WORDS, sample(), format=fmt)
    seen = []
    V.read(tmp_path / "v", format=fmt, progress=lambda done, total: seen.append((done, total)))
    size = os.path.getsize(tmp_path / "v")
    assert seen and all(total == size and done <= size for done, total in seen)
    assert seen[-1][0] == size


def test_hand_written_text(tmp_path):
    (tmp_path / "v").write_bytes(b"\xef\xbb\xbf2 3\r\nfoo 1 -2.5e-1 .5 \r\nbar +3. 1E2 -0\n\n")
    words, back = V.read(tmp_path / "v", format="word2vec-text")
    assert words == ["foo", "bar"]
    assert back.tolist() == [[1.0, -0.25, 0.5], [3.0, 100.0, -0.0]]
    assert np.signbit(back[1, 2])


@pytest.mark.parametrize("chunk", [1, 2, 1 << 20])
def test_glove_bom_and_no_header(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(_vectors_io, "CHUNK", chunk)
    (tmp_path / "g").write_bytes(b"\xef\xbb\xbfthe 0.5 1\nof 2 3")
    words, back = V.read(tmp_path / "g", format="glove")
    assert words == ["the", "of"] and back.tolist() == [[0.5, 1], [2, 3]]
    words, _ = V.read(tmp_path / "g", format="glove", encoding="latin-1")
    assert words[0] == "\xef\xbb\xbfthe"


def test_empty_files(tmp_path):
    (tmp_path / "e").write_bytes(b"0 4\n")
    words, back = V.read(tmp_path / "e", format="word2vec-binary")
    assert words == [] and back.shape == (0, 4)
    (tmp_path / "g").write_bytes(b"")
    words, back = V.read(tmp_path / "g", format="glove")
    assert words == [] and back.shape == (0, 0)


def test_duplicates(tmp_path):
    (tmp_path / "v").write_bytes(b"3 1\na 1\nb 2\na 3\n")
    with pytest.raises(VectorFormatError, match=r"line 4: duplicate word 'a' \(first at line 2\)"):
        V.read(tmp_path / "v", format="word2vec-text")
    words, back = V.read(tmp_path / "v", format="word2vec-text", duplicates="first")
    assert words == ["a", "b"] and back.ravel().tolist() == [1, 2]
    words, back = V.read(tmp_path / "v", format="word2vec-text", duplicates="last")
    assert words == ["a", "b"] and back.ravel().tolist() == [3, 2]


def test_nonfinite_allowed_on_request(tmp_path):
    (tmp_path / "v").write_bytes(b"a nan -inf Infinity 1e39\n")
    with pytest.raises(VectorFormatError, match=r"line 1: column 1: non-finite value 'nan'"):
        V.read(tmp_path / "v", format="glove")
    _, back = V.read(tmp_path / "v", format="glove", allow_nonfinite=True)
    assert np.isnan(back[0, 0]) and back[0, 1:].tolist() == [-np.inf, np.inf, np.inf]
    v = np.array([[np.nan, np.inf]], dtype=np.float32)
    with pytest.raises(ValueError, match=r"vectors\[0, 0\] = .*nan.* is not finite"):
        V.write(tmp_path / "w", ["a"], v, format="word2vec-binary")
    V.write(tmp_path / "w", ["a"], v, format="word2vec-binary", allow_nonfinite=True)
    _, back = V.read(tmp_path / "w", format="word2vec-binary", allow_nonfinite=True)
    np.testing.assert_array_equal(bits(back), bits(v))


def test_overflow_in_target_dtype(tmp_path):
    (tmp_path / "v").write_bytes(b"a 1 70000\n")
    assert V.read(tmp_path / "v", format="glove")[1].tolist() == [[1, 70000]]
    with pytest.raises(
        VectorFormatError, match=r"column 2: value 70000.0 is not finite in float16"
    ):
        V.read(tmp_path / "v", format="glove", dtype="float16")


def test_encoding_errors(tmp_path):
    (tmp_path / "v").write_bytes(b"1 2\nab\xff 1 2\n")
    with pytest.raises(VectorFormatError, match=r"line 2: word b'ab\\xff' is not valid utf-8"):
        V.read(tmp_path / "v", format="word2vec-text")
    assert V.read(tmp_path / "v", format="word2vec-text", errors="replace")[0] == ["ab\ufffd"]
    assert V.read(tmp_path / "v", format="word2vec-text", errors="ignore")[0] == ["ab"]
    assert V.read(tmp_path / "v", format="word2vec-text", encoding="latin-1")[0] == ["abÿ"]


TEXT_DAMAGE = [
    (b"2 3\na 1.00 2.00 3.00\n", r"line 3: file ends after 1 rows; the header announces 2"),
    (b"1 3\na 1 2 3\nb 4 5 6\n", r"line 3: more rows than the 1 the header announces"),
    (b"2 3\na 1.00 2.00\nb 1 2 3\n", r"line 2: row 2 has 2 values, the header announces dim 3"),
    (b"1 3\na 1  2 3\n", r"line 2: row 2 has 4 values, the header .* \(two spaces in a row"),
    (b"1 3\na 1 2 x\n", r"line 2: column 3: bad float b'x'"),
    (b"1 3\na 1 2 0x1p3\n", r"line 2: column 3: bad float b'0x1p3'"),
    (b"1 3\na 1 2 1_0\n", r"line 2: column 3: bad float b'1_0'"),
    (b"1 3\na 1 2 1e\n", r"line 2: column 3: bad float b'1e'"),
    (b"1 3\n 1 2 3\n", r"line 2: empty word"),
    (b"1 3\nword_with_no_values\n", r"line 2: no values after the word b'word_with_no_values'"),
    (b"2 1\na 1\n\nb 2\n", r"line 3: empty line inside the table"),
    (b"2 x\n", r"line 1: header must be 'count dim'"),
    (b"2 3 4\n", r"line 1: header must be 'count dim'"),
    (b"-2 3\n", r"line 1: header must be 'count dim'"),
    (b"2 0\n", r"line 1: header dimension is 0"),
    (b"", r"line 1: no header line"),
    (b"1000000000000 300\na 1\n", r"line 2: row 2 has 1 values, the header announces dim 300"),
    (b"2 3\na 1 2 3\nb 1 2\n", r"line 3: row 3 has 2 values, the header announces dim 3"),
    (b"1 3\na\t1 2 3\n", r"line 2: tab at byte 1 of the row"),
    (b"1 3\na 1 2\t3\n", r"line 2: tab at byte 5 of the row"),
    (b"1\t3\na 1 2 3\n", r"line 1: header must be 'count dim'"),
    (b"1 3\na\x01 1 2 3\n", r"line 2: word b'a\\x01' holds the byte b'\\x01'"),
]


@pytest.mark.parametrize(("data", "message"), TEXT_DAMAGE)
def test_damaged_text(tmp_path, data, message):
    p = tmp_path / "bad.vec"
    p.write_bytes(data)
    with pytest.raises(VectorFormatError, match=message) as e:
        V.read(p, format="word2vec-text")
    assert str(p) in str(e.value) and e.value.path == str(p)


def _binary(words, rows, *, header=None, newline=False):
    out = header if header is not None else f"{len(words)} {len(rows[0])}\n".encode()
    for w, r in zip(words, rows, strict=True):
        out += w + b" " + np.asarray(r, dtype="<f4").tobytes() + (b"\n" if newline else b"")
    return out


BINARY_DAMAGE = [
    (
        _binary([b"a" * 8, b"b" * 8], [[1, 2], [3, 4]])[:-3],
        r"byte offset 21 \(record 1\): truncated vector: 5 of 8 bytes",
    ),
    (
        _binary([b"a"], [[1, 2]], header=b"2 2\n"),
        r"byte offset 14 \(record 1\): file ends; the header announces 2 records",
    ),
    (_binary([b"a"], [[1, 2]]) + b"\n" + b"c" * 20, r"byte offset 15: data after the records"),
    (_binary([b"", b"abc"], [[1, 2], [3, 4]]), r"byte offset 4 \(record 0\): empty word"),
    (_binary([b"\n\n"], [[1, 2]]), r"byte offset 6 \(record 0\): empty word"),
    (
        _binary([b"a"], [[1, np.nan]]),
        r"byte offset 4: column 2: value nan is not finite in float32",
    ),
    (_binary([b"\xff"], [[1, 2]]), r"record 0\): word b'\\xff' is not valid utf-8"),
    (b"1 2\n" + b"a" * 70000 + b" " + bytes(8), r"no space ending the word within 65536 bytes"),
    (b"1 2\n" + b"a" * 65537 + b" " + bytes(8), r"no space ending the word within 65536 bytes"),
    (b"1 2\nabcdefghijkl", r"byte offset 4 \(record 0\): file ends inside a word"),
    (b"1 1\n" + b"\x80\x02" * 3, r"record 0\): file ends inside a word"),
]


@pytest.mark.parametrize(("data", "message"), BINARY_DAMAGE)
def test_damaged_binary(tmp_path, data, message):
    p = tmp_path / "bad.bin"
    p.write_bytes(data)
    with pytest.raises(VectorFormatError, match=message):
        V.read(p, format="word2vec-binary")


def test_binary_leading_newlines_dropped(tmp_path):
    p = tmp_path / "v"
    p.write_bytes(_binary([b"a", b"\n\nb"], [[1, 2], [3, 4]], newline=True))
    assert V.read(p, format="word2vec-binary")[0] == ["a", "b"]


def test_bad_arguments(tmp_path):
    p = tmp_path / "v"
    V.write(p, ["a"], sample(1, 2), format="glove")
    with pytest.raises(ValueError, match=r"format must be one of .* got 'csv'"):
        V.read(p, format="csv")
    with pytest.raises(ValueError, match=r"limit must be None or an int >= 0, got -1"):
        V.read(p, format="glove", limit=-1)
    with pytest.raises(ValueError, match=r"dtype must be a float dtype, got 'int32'"):
        V.read(p, format="glove", dtype="int32")
    with pytest.raises(ValueError, match=r"encoding 'nope' is not a known codec"):
        V.read(p, format="glove", encoding="nope")
    with pytest.raises(ValueError, match=r"encoding 'utf-16' is not ASCII-compatible"):
        V.read(p, format="glove", encoding="utf-16")
    with pytest.raises(ValueError, match=r"errors must be one of .* got 'loose'"):
        V.read(p, format="glove", errors="loose")
    with pytest.raises(ValueError, match=r"duplicates must be one of .* got 'both'"):
        V.read(p, format="glove", duplicates="both")


@pytest.mark.parametrize(
    ("words", "vectors", "message"),
    [
        (["a b"], sample(1, 2), r"words\[0\] = 'a b' cannot be written .* without spaces"),
        (["a\nb"], sample(1, 2), r"words\[0\] = 'a\\nb' cannot be written"),
        (["a\tb"], sample(1, 2), r"words\[0\] = 'a\\tb' cannot be written"),
        ([""], sample(1, 2), r"words\[0\] = '' cannot be written \(empty word\)"),
        (["a", "a"], sample(2, 2), r"words\[1\] = 'a' is a duplicate"),
        (["a"], sample(2, 2), r"words must be a sequence of 2 strings"),
        (["a"], np.zeros((1, 0), np.float32), r"at least one column"),
        (["a"], np.zeros((1, 2), np.int64), r"vectors must be a 2-D float array"),
        (["a"], np.zeros(2, np.float32), r"vectors must be a 2-D float array"),
    ],
)
def test_write_refuses_bad_input(tmp_path, words, vectors, message):
    with pytest.raises(ValueError, match=message):
        V.write(tmp_path / "v", words, vectors, format="word2vec-text")
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "v"
    V.write(p, ["a"], sample(1, 2), format="word2vec-text")
    before = p.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_vectors_write, "shortest", boom)
    with pytest.raises(OSError, match="disk full"):
        V.write(p, ["b"], sample(1, 2), format="word2vec-text")
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["v"]
    assert oct(p.stat().st_mode & 0o777) != "0o600"


def test_write_accepts_any_library(xp, tmp_path):
    v = sample(3, 2)
    V.write(tmp_path / "v", ["a", "b", "c"], xp.asarray(v), format="word2vec-binary")
    np.testing.assert_array_equal(V.read(tmp_path / "v", format="word2vec-binary")[1], v)


def test_detect_and_info(tmp_path, fmt):
    V.write(tmp_path / "v", WORDS, sample(), format=fmt)
    expected = "word2vec-text" if fmt == "fasttext-vec" else fmt
    assert V.detect(tmp_path / "v") == expected
    facts = V.info(tmp_path / "v")
    assert facts["format"] == expected and facts["dim"] == 5
    assert facts.get("count", 6) == 6 and facts["bytes"] == os.path.getsize(tmp_path / "v")
    (tmp_path / "big").write_bytes(b"99999 300\nx 1\n")
    assert V.detect(tmp_path / "big") == "glove"  # the second row does not agree with a header
    with pytest.raises(VectorFormatError, match="line 2: row 2 has 1 values, the header"):
        V.info(tmp_path / "big", format="word2vec-text")


def test_reader_never_unpickles():
    files = (V.__file__, _vectors_io.__file__, _vectors_write.__file__)
    src = "".join(open(f).read() for f in files)
    assert "pickle" not in src.replace("unpickles", "")


@pytest.mark.parametrize(
    "data", [b"\na 1", b"\na 1\n", b"\r\na 1\n", b"\n\na 1\nb 2\n", b"a 1\n\nb 2\n"]
)
def test_a_blank_line_before_a_row_is_refused(tmp_path, data):
    # Blank lines may only end a file; one before the first row is as wrong as one inside.
    p = tmp_path / "g"
    p.write_bytes(data)
    with pytest.raises(VectorFormatError, match=r"empty line inside the table"):
        V.read(p, format="glove")
    p.write_bytes(data.lstrip(b"\r\n").replace(b"\n\n", b"\n") + b"\n\n")
    assert V.read(p, format="glove")[0][0] == "a"  # the same rows, blank lines at the end
