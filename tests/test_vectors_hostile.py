"""refpe.vectors on hostile input: each test is a file or an argument that once gave a wrong
answer or a misleading error (spaces in binary words, CR line ends, tabs, stray byte-order
marks, long words, wide dtypes, headers that disagree with the rows)."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from refpe import vectors as V
from refpe.cli import vectors as cli_vectors
from refpe.vectors import VectorFormatError

LIMIT = 1 << 16  # refpe.vectors.MAX_WORD, the documented word limit


def record(word: bytes, values, end: bytes = b"\n") -> bytes:
    return word + b" " + np.asarray(values, dtype="<f4").tobytes() + end


def new_york(tmp_path):
    p = tmp_path / "ny.bin"
    p.write_bytes(b"2 3\n" + record(b"new york", [1, 2, 3]) + record(b"b", [4, 5, 6]))
    return p


def test_binary_word_with_a_space_raises_at_its_record(tmp_path):
    p = new_york(tmp_path)
    with pytest.raises(VectorFormatError, match=r"byte offset 20 \(record 1\): .*misaligned") as e:
        V.read(p, format="word2vec-binary")
    assert e.value.kind == "misaligned" and str(p) in str(e.value)


def test_info_check_agrees_with_read(tmp_path, capsys):
    p = argparse.ArgumentParser(prog="refpe")
    cli_vectors.add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["vectors", "info", str(new_york(tmp_path)), "--check"])
    assert args.handler(args) == 1
    captured = capsys.readouterr()
    assert "checked" not in captured.out and "misaligned" in captured.err


def test_binary_word_with_a_space_refused_by_the_writer(tmp_path):
    with pytest.raises(ValueError, match=r"words\[1\] = 'new york' cannot be written"):
        V.write(tmp_path / "v", ["a", "new york"], np.ones((2, 2)), format="word2vec-binary")


@pytest.mark.parametrize("end", [b"\r\n", b"\r", b"\n", b""])
def test_binary_record_line_ends(tmp_path, end):
    p = tmp_path / "v.bin"
    p.write_bytes(b"2 2\r\n" + record(b"a", [1, 2], end) + record(b"b", [3, 4], end))
    words, v = V.read(p, format="word2vec-binary")
    assert words == ["a", "b"] and v.tolist() == [[1, 2], [3, 4]]


@pytest.mark.parametrize("end", [b"\r\n", b"\r"])
def test_text_line_ends(tmp_path, end):
    p = tmp_path / "v.txt"
    p.write_bytes(end.join([b"2 2", b"a 1 2", b"b 3 4 ", b""]))
    words, v = V.read(p, format="word2vec-text")
    assert words == ["a", "b"] and v.tolist() == [[1, 2], [3, 4]]


def test_glove_tab_is_refused(tmp_path):
    p = tmp_path / "g.txt"
    p.write_bytes(b"the\t0.1 0.2 0.3\n")
    with pytest.raises(VectorFormatError, match=r"line 1: tab at byte 3 of the row") as e:
        V.read(p, format="glove")
    assert e.value.kind == "tab"


def test_bom_only_at_byte_0(tmp_path):
    with pytest.raises(ValueError, match=r"words\[0\] = '\\ufeffthe' starts with U\+FEFF"):
        V.write(tmp_path / "g", ["\ufeffthe", "a"], np.ones((2, 1)), format="glove")
    V.write(tmp_path / "g", ["a", "\ufeffthe"], np.ones((2, 1)), format="glove")
    assert V.read(tmp_path / "g", format="glove")[0] == ["a", "\ufeffthe"]
    V.write(tmp_path / "t", ["\ufeffthe"], np.ones((1, 1)), format="word2vec-text")
    assert V.read(tmp_path / "t", format="word2vec-text")[0] == ["\ufeffthe"]
    (tmp_path / "d").write_bytes(b"\xef\xbb\xbf\xef\xbb\xbfx 1\n")  # a BOM, then U+FEFF
    assert V.read(tmp_path / "d", format="glove")[0] == ["\ufeffx"]


@pytest.mark.parametrize("fmt", V.FORMATS)
def test_word_limit_is_the_same_for_writer_and_reader(tmp_path, fmt):
    longest = "a" * (LIMIT - 1) + "b"
    V.write(tmp_path / "v", [longest, "x"], np.ones((2, 2)), format=fmt)
    assert V.read(tmp_path / "v", format=fmt)[0] == [longest, "x"]
    with pytest.raises(ValueError, match=r"words\[0\] = 'aaa.*longer than the limit of 65536"):
        V.write(tmp_path / "w", ["a" * 70_000], np.ones((1, 2)), format=fmt)
    assert not (tmp_path / "w").exists()
    data = b"a" * (LIMIT + 1) + b" 1 2\n"
    (tmp_path / "long").write_bytes(data if fmt == "glove" else b"1 2\n" + data)
    message = "no space ending the word within" if fmt == "word2vec-binary" else "longer than"
    with pytest.raises(VectorFormatError, match=f"{message} .*65536 bytes"):
        V.read(tmp_path / "long", format=fmt)


def test_longdouble_is_refused_not_rounded():
    v = np.array([[1, 1 + np.finfo(np.longdouble).eps]], dtype=np.longdouble)
    if np.finfo(np.longdouble).nmant <= 52:
        pytest.skip("longdouble is float64 here")
    with pytest.raises(ValueError, match="vectors dtype float128 is wider than float64"):
        V.pretrained_formats(v, format="word2vec-text")


def test_torch_bfloat16_taken_by_value(tmp_path):
    torch = pytest.importorskip("torch")
    t = torch.tensor([[1.0078125, -3.0, 2.0**-130]], dtype=torch.bfloat16)
    for fmt in V.FORMATS:
        back = V.pretrained_formats(t, format=fmt)
        assert back.dtype == torch.bfloat16 and torch.equal(back, t)
    V.write(tmp_path / "b", ["a"], t, format="word2vec-binary")
    got = V.read(tmp_path / "b", format="word2vec-binary")[1]
    assert got.tolist() == t.float().tolist()


def test_short_row_named_with_what_was_found(tmp_path):
    p = tmp_path / "v.txt"
    p.write_bytes(b"2 3\na 1 2 3\nb 1\n")  # too short to hold 2 rows of dim 3
    with pytest.raises(
        VectorFormatError, match=r"line 3: row 3 has 1 values, the header announces dim 3"
    ):
        V.read(p, format="word2vec-text")
    with pytest.raises(VectorFormatError, match=r"row 3 has 1 values"):
        V.info(p, format="word2vec-text")


def test_glove_first_row_of_two_integers_is_a_row(tmp_path):
    p = tmp_path / "g.txt"
    p.write_bytes(b"1 2\n3 4\n")
    assert V.detect(p) == "glove"
    assert V.read(p, format=V.detect(p))[1].tolist() == [[2], [4]]
    p.write_bytes(b"1 2\n3 4 5\n")
    assert V.detect(p) == "word2vec-text"
