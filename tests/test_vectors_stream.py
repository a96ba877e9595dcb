"""Vector files at scale: ``read(chunks=)`` (lazy Dask arrays over a row index), and the
streamed ``align_file``, ``check``, block-by-block ``write`` and ``refpe vectors
align|convert|info --check``: the eager results, bit for bit, in bounded memory."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pytest

from refpe import _vectors_io, _vectors_stream
from refpe import vectors as V
from refpe.bench.timing import peak_bytes
from refpe.cli import vectors as cli_vectors

da = pytest.importorskip("dask.array")

WORDS = ["the", "深度", "naïve", "Apple", "apple", "APPLE", "x" * 40, "Ünïcode", "b", "c", "d"]


def run(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="refpe")
    cli_vectors.add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["vectors", *argv])
    return args.handler(args)


def _table(n: int, d: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}{'é' * (i % 5)}{'z' * (i % 13)}" for i in range(n)]
    return words, rng.standard_normal((n, d)).astype(np.float32) * 10.0 ** rng.integers(-30, 30)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit (NaN and -0.0 included)


def _error(fn) -> str:
    with pytest.raises(V.VectorFormatError) as e:
        fn()
    return str(e.value)


@pytest.mark.parametrize("fmt", V.FORMATS)
@pytest.mark.parametrize("chunks", [1, 7, 64, 1000])
def test_lazy_read_is_the_eager_read(tmp_path, fmt, chunks):
    words, vectors = _table(203, 6)  # 203 = 29 x 7: blocks of 64 leave 11, of 1000 one
    path = tmp_path / "v"
    V.write(path, words, vectors, format=fmt, newline=chunks % 2 == 1)
    want_words, want = V.read(path, format=fmt)
    got_words, lazy = V.read(path, format=fmt, chunks=chunks)
    assert isinstance(lazy, da.Array) and lazy.shape == want.shape
    assert lazy.chunks[0] == tuple([chunks] * (203 // chunks) + [203 % chunks] * (203 % chunks > 0))
    assert got_words == want_words
    _same(lazy.compute(), want)
    _same(lazy[150:160].compute(), want[150:160])


@pytest.mark.parametrize(
    "body, fmt, options",
    [
        (b"3 2\r\na 1 2\r\nb 3 4\rc 5 6\r\n\n", "word2vec-text", {}),
        (b"\xef\xbb\xbfa 1 2 \nb 3 4\n\n\n", "glove", {}),
        (b"a 1 2\nb 3 4\nc 5 6", "glove", {"limit": 2}),
        (b"4 2\na 1 2\nb 3 4\na 5 6\nc 7 8\n", "fasttext-vec", {"duplicates": "last"}),
        (b"4 2\na 1 2\nb 3 4\na 5 6\nc 7 8\n", "word2vec-text", {"duplicates": "first"}),
        (b"2 2\n\xe9t\xe9 1e-40 2\nb 3e39 4\n", "word2vec-text", {"encoding": "latin-1",
                                                                 "dtype": "float64"}),
        (b"2 2\nx 1e-3 .5\ny -0 1e4\n", "word2vec-text", {"dtype": "float16"}),
        (b"a\xff 1 2\nb 3 4\n", "glove", {"errors": "replace"}),
        (b"2 1\na nan\nb inf\n", "word2vec-text", {"allow_nonfinite": True}),
    ],
)  # fmt: skip
def test_lazy_read_of_unusual_files(tmp_path, body, fmt, options):
    path = tmp_path / "v"
    path.write_bytes(body)
    want_words, want = V.read(path, format=fmt, **options)
    for chunks in (1, 2, 100):
        words, lazy = V.read(path, format=fmt, chunks=chunks, **options)
        assert words == want_words
        _same(lazy.compute(), want)


def test_lazy_binary_records_with_line_ends_and_duplicates(tmp_path):
    words, vectors = _table(50, 3, seed=4)
    path = tmp_path / "b"
    records = [
        w.encode() + b" " + v.astype("<f4").tobytes() for w, v in zip(words, vectors, strict=True)
    ]
    path.write_bytes(b"50 3\r\n" + b"\r\n".join(records) + b"\r\n")  # CRLF line ends
    for opts in ({}, {"limit": 17}, {"dtype": "float64"}):
        want_words, want = V.read(path, format="word2vec-binary", **opts)
        got_words, lazy = V.read(path, format="word2vec-binary", chunks=4, **opts)
        assert got_words == want_words
        _same(lazy.compute(), want)
    dup = tmp_path / "d"
    V.write(dup, ["a", "b", "c"], vectors[:3], format="word2vec-binary")
    data = dup.read_bytes()
    first = data.index(b"a ")
    dup.write_bytes(data.replace(b"3 3\n", b"4 3\n") + data[first : first + 2 + 12 + 1])
    for how in ("first", "last"):
        want_words, want = V.read(dup, format="word2vec-binary", duplicates=how)
        got_words, lazy = V.read(dup, format="word2vec-binary", chunks=2, duplicates=how)
        assert got_words == want_words
        _same(lazy.compute(), want)
    eager = _error(lambda: V.read(dup, format="word2vec-binary"))
    assert _error(lambda: V.read(dup, format="word2vec-binary", chunks=2)) == eager


@pytest.mark.parametrize("chunks", [0, -3, True, 2.0, "8"])
def test_chunks_is_checked(tmp_path, chunks):
    path = tmp_path / "v"
    V.write(path, ["a"], np.ones((1, 2)), format="glove")
    with pytest.raises(ValueError, match="chunks"):
        V.read(path, format="glove", chunks=chunks)


def test_a_bad_value_in_a_later_block_raises_when_computed(tmp_path):
    words, vectors = _table(100, 4)
    text = tmp_path / "t"
    V.write(text, words, vectors, format="word2vec-text")
    lines = text.read_bytes().split(b"\n")
    lines[90] = lines[90].rsplit(b" ", 1)[0] + b" 1.2.3"  # row 90, line 91
    text.write_bytes(b"\n".join(lines))
    eager = _error(lambda: V.read(text, format="word2vec-text"))
    assert "line 91" in eager and "bad float" in eager
    _, lazy = V.read(text, format="word2vec-text", chunks=30)  # the index reads no values
    _same(lazy[:30].compute(), V.read(text, format="word2vec-text", limit=30)[1])
    assert _error(lazy.compute) == eager
    binary = tmp_path / "b"
    vectors[77, 2] = np.nan
    V.write(binary, words, vectors, format="word2vec-binary", allow_nonfinite=True)
    eager = _error(lambda: V.read(binary, format="word2vec-binary"))
    _, lazy = V.read(binary, format="word2vec-binary", chunks=25)
    assert _error(lazy.compute) == eager and "byte offset" in eager
    assert _error(lambda: V.check(binary, format="word2vec-binary")) == eager


@pytest.mark.parametrize(
    "body, fmt",
    [
        (b"3 2\na 1 2\n\nb 3 4\nc 5 6\n", "word2vec-text"),  # a blank line inside
        (b"3 2\na 1 2\nb 3 4\n", "word2vec-text"),  # fewer rows than announced
        (b"2 2\na 1 2\nb 3 4\nc 5 6\n", "fasttext-vec"),  # more rows
        (b"a 1 2\nb\t3 4\n", "glove"),  # a tab in a word
        (b"a 1 2\n\xff 3 4\n", "glove"),  # not UTF-8
        (b"a 1 2\nbb   \n", "glove"),  # no values
        (b"a 1 2\n 3 4\n", "glove"),  # the line starts with a space
        (b"a 1 2\nb 3 4\nb 5 6\n", "glove"),  # a duplicate
        (b"2 2\na 1 2\nb 3 x\n", "word2vec-text"),  # a bad float (raised when computed)
        (b"a 1 2\nb 3\n", "glove"),  # a short row (raised when computed)
    ],
)
def test_errors_are_the_eager_errors(tmp_path, body, fmt):
    path = tmp_path / "v"
    path.write_bytes(body)
    eager = _error(lambda: V.read(path, format=fmt))
    assert _error(lambda: V.read(path, format=fmt, chunks=1)[1].compute()) == eager
    assert _error(lambda: V.check(path, format=fmt)) == eager


def test_blocks_on_a_local_cluster_of_two_processes(tmp_path):
    distributed = pytest.importorskip("distributed")
    words, vectors = _table(301, 5)
    path = tmp_path / "b"
    V.write(path, words, vectors, format="word2vec-binary")
    text = tmp_path / "t"
    V.write(text, words, vectors, format="glove")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        for p, fmt in ((path, "word2vec-binary"), (text, "glove")):
            _, lazy = V.read(p, format=fmt, chunks=40)
            got = client.compute(lazy).result()
            _same(got, V.read(p, format=fmt)[1])


ALIGN_CASES = [
    {"init": "normal", "seed": 3},
    {"init": "uniform", "seed": 1, "init_args": {"a": 0.5, "mean": 1.0}, "casefold": True},
    {"init": "truncated-normal", "seed": 2, "casefold": True},
    {"init": "zeros", "seed": 0, "casefold": True, "dtype": "float64"},
    {"init": "normal", "seed": 9, "init_args": {"std": 2.0}, "casefold": True, "limit": 5},
]


@pytest.mark.parametrize("case", ALIGN_CASES)
@pytest.mark.parametrize("fmt", ["word2vec-binary", "glove"])
def test_align_file_is_align_of_read(tmp_path, monkeypatch, case, fmt):
    monkeypatch.setattr(_vectors_stream, "DRAW_ROWS", 3)  # draws in row blocks
    monkeypatch.setattr(_vectors_io, "BLOCK_BYTES", 64)  # binary blocks of a few records
    monkeypatch.setattr(_vectors_io, "CHUNK", 32)  # text chunks of a line or two
    vectors = np.random.default_rng(5).standard_normal((len(WORDS), 4)).astype(np.float32)
    path = tmp_path / "v"
    V.write(path, WORDS, vectors, format=fmt)
    vocab = ["[PAD]", "apple", "APPLE", "Naïve", "the", "ünïcode", "深度", "zz", "c", "Ǆ"] * 1
    opts = {k: case[k] for k in ("limit", "dtype") if k in case}
    rest = {k: v for k, v in case.items() if k not in opts}
    words, vecs = V.read(path, format=fmt, **opts)
    want, want_report = V.align(vocab, words, vecs, **rest)
    got, report = V.align_file(vocab, path, format=fmt, **opts, **rest)
    _same(got, want)
    assert report.frozen.tolist() == np.asarray(want_report.frozen).tolist()
    for field in ("size", "found", "casefolded", "oov", "init", "seed"):
        assert getattr(report, field) == getattr(want_report, field)
    assert str(report) == str(want_report)


@pytest.mark.parametrize("how", ["first", "last"])
def test_align_file_with_duplicate_words(tmp_path, how):
    body = b"a 1 2\nB 3 4\nb 5 6\nB 7 8\nA 9 10\na 11 12\nCat 1 1\nCat 2 2\ncAT 3 3\n"
    path = tmp_path / "v"
    path.write_bytes(body)
    words, vecs = V.read(path, format="glove", duplicates=how)
    vocab = {"a": 0, "b": 1, "A": 2, "bb": 3, "B": 4, "cat": 5}
    for casefold in (False, True):
        want, wr = V.align(vocab, words, vecs, seed=1, casefold=casefold)
        got, r = V.align_file(vocab, path, format="glove", seed=1, casefold=casefold,
                              duplicates=how)  # fmt: skip
        _same(got, want)
        assert (r.found, r.casefolded, r.oov) == (wr.found, wr.casefolded, wr.oov)
    eager = _error(lambda: V.read(path, format="glove"))
    assert _error(lambda: V.align_file(vocab, path, format="glove", seed=1)) == eager


def test_align_file_checks_like_align(tmp_path):
    path = tmp_path / "v"
    V.write(path, ["a", "b"], np.ones((2, 3)), format="glove")
    with pytest.raises(ValueError, match="width mismatch"):
        V.align_file(["a"], path, format="glove", seed=0, dim=4)
    with pytest.raises(ValueError, match="init must be one of"):
        V.align_file(["a"], path, format="glove", seed=0, init="xavier")
    with pytest.raises(ValueError, match="twice"):
        V.align_file(["a", "a"], path, format="glove", seed=0)
    with pytest.raises(ValueError, match="std"):
        V.align_file(["a", "c"], path, format="glove", seed=0, init_args={"std": -1.0})


@pytest.mark.parametrize("to", V.FORMATS)
@pytest.mark.parametrize("source", ["word2vec-binary", "glove", "word2vec-text"])
def test_streamed_convert_writes_the_eager_bytes(tmp_path, monkeypatch, source, to):
    monkeypatch.setattr(cli_vectors, "BLOCK_ROWS", 5)
    words, vectors = _table(23, 3)
    words[0] = "\ufeffbom" if source != "glove" else words[0]
    src = tmp_path / "s"
    V.write(src, words, vectors, format=source)
    if to == "glove" and words[0].startswith("\ufeff"):
        assert run("convert", str(src), str(tmp_path / "o"), "--to", to) == 1
        assert not (tmp_path / "o").exists()
        return
    for extra in ([], ["--limit", "11"], ["--no-newline"]):
        assert run("convert", str(src), str(tmp_path / "o"), "--to", to, *extra) == 0
        w, v = V.read(src, format=source, limit=11 if extra[:1] == ["--limit"] else None)
        V.write(tmp_path / "e", w, v, format=to, newline=extra != ["--no-newline"])
        assert (tmp_path / "o").read_bytes() == (tmp_path / "e").read_bytes()


def test_streamed_info_check(tmp_path, capsys):
    words, vectors = _table(40, 3)
    path = tmp_path / "v"
    V.write(path, words, vectors, format="word2vec-text")
    assert run("info", str(path), "--check", "--json") == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["checked"] and (facts["count"], facts["dim"]) == (40, 3)
    assert V.check(path, format="word2vec-text") == (40, 3)
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert V.check(empty, format="glove") == V.read(empty, format="glove")[1].shape


def test_memory_is_bounded_by_blocks_not_the_file(tmp_path, monkeypatch, capsys):
    """200k x 50 float32 (40 MB of vectors): streamed commands hold a few blocks."""
    monkeypatch.setattr(_vectors_io, "BLOCK_BYTES", 1 << 20)
    monkeypatch.setattr(_vectors_io, "CHUNK", 1 << 20)
    monkeypatch.setattr(cli_vectors, "BLOCK_ROWS", 4096)
    n, d = 200_000, 50
    path = tmp_path / "big.bin"
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(n)]
    V.write(path, words, rng.standard_normal((n, d), dtype=np.float32), format="word2vec-binary")
    held = sys.getsizeof(words) + sum(map(sys.getsizeof, words))  # the words convert holds
    del words
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(f"w{i}" for i in range(0, n, 200)) + "\nmissing\n")
    size = n * d * 4
    small = tmp_path / "small.bin"  # a first run of each command: its imports are done
    V.write(small, ["w0", "w1"], np.ones((2, d)), format="word2vec-binary")
    for cmd in (["info", str(small), "--check"], ["convert", str(small), str(tmp_path / "s"),
                "--to", "glove"], ["align", str(small), str(vocab), str(tmp_path / "t.npy"),
                "--seed", "0"]):  # fmt: skip
        assert run(*cmd) == 0
    check = peak_bytes(lambda: run("info", str(path), "--check"))
    align = peak_bytes(
        lambda: run("align", str(path), str(vocab), str(tmp_path / "t.npy"), "--seed", "0")
    )
    convert = peak_bytes(lambda: run("convert", str(path), str(tmp_path / "o.bin"), "--to",
                                "word2vec-binary"))  # fmt: skip
    capsys.readouterr()
    assert (tmp_path / "o.bin").read_bytes() == path.read_bytes()
    assert np.load(tmp_path / "t.npy").shape == (1001, d)
    assert check < size / 4, check  # a block, a chunk and 8 bytes a row (1.6 MB)
    assert align < size / 3, align  # and the (1001, 50) table
    assert convert < held + size / 4, (convert, held)  # the words (11 MB) and the row index
