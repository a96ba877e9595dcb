"""refpe.vectors reads gensim's own test files exactly as gensim does (real data, no network)."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

from refpe import vectors as V
from refpe.vectors import VectorFormatError

if importlib.util.find_spec("gensim") is None:
    pytest.skip("gensim is not installed", allow_module_level=True)

from gensim.models import KeyedVectors

DATA = pathlib.Path(importlib.util.find_spec("gensim").origin).parent / "test" / "test_data"

READABLE = {
    "EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt": "word2vec-text",
    "IT.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt": "word2vec-text",
    "high_precision.kv.txt": "word2vec-text",
    "word2vec_pre_kv_c": "word2vec-text",
    "toy-model.vec": "fasttext-vec",
    "lee_fasttext.vec": "fasttext-vec",
    "crime-and-punishment.vec": "fasttext-vec",
    "euclidean_vectors.bin": "word2vec-binary",
    "high_precision.kv.bin": "word2vec-binary",
    "poincare_vectors.bin": "word2vec-binary",
}


def gensim_read(path, binary, **kw):
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary, **kw)
    return kv.index_to_key, kv.vectors


@pytest.mark.parametrize("name", sorted(READABLE))
def test_same_words_and_vectors_as_gensim(name):
    fmt = READABLE[name]
    words, vectors = V.read(DATA / name, format=fmt)
    g_words, g_vectors = gensim_read(DATA / name, fmt == "word2vec-binary")
    assert words == g_words
    assert vectors.dtype == g_vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors.view(np.uint32), g_vectors.view(np.uint32))


@pytest.mark.parametrize("name", sorted(READABLE))
def test_float64_like_gensim_datatype(name):
    fmt = READABLE[name]
    _, vectors = V.read(DATA / name, format=fmt, dtype="float64", limit=50)
    _, g = gensim_read(DATA / name, fmt == "word2vec-binary", datatype=np.float64, limit=50)
    np.testing.assert_array_equal(vectors, g)


def test_glove_file():
    words, vectors = V.read(DATA / "test_glove.txt", format="glove")
    g_words, g_vectors = gensim_read(DATA / "test_glove.txt", False, no_header=True)
    assert words == g_words and vectors.shape == g_vectors.shape
    np.testing.assert_array_equal(vectors, g_vectors)


@pytest.mark.parametrize("errors", ["replace", "ignore"])
def test_truncated_utf8_words_like_gensim(errors):
    path = DATA / "w2v_keyedvectors_load_test.modeldata"
    words, vectors = V.read(path, format="word2vec-text", errors=errors)
    g_words, g_vectors = gensim_read(path, False, unicode_errors=errors)
    assert words == g_words
    np.testing.assert_array_equal(vectors, g_vectors)


def test_non_utf8_fasttext_vec_like_gensim():
    path = DATA / "pang_lee_polarity_fasttext.vec"
    with pytest.raises(VectorFormatError, match=r"line 150: word b'\\x97' is not valid utf-8"):
        V.read(path, format="fasttext-vec")
    words, vectors = V.read(path, format="fasttext-vec", errors="replace", duplicates="first")
    g_words, g_vectors = gensim_read(path, False, unicode_errors="replace")
    assert words == g_words
    np.testing.assert_array_equal(vectors, g_vectors)


def test_written_files_load_in_gensim(tmp_path):
    words = ["the", "深度", "naïve", "😀"]
    vectors = np.random.default_rng(1).standard_normal((4, 7)).astype(np.float32)
    for fmt, binary in (("word2vec-text", False), ("word2vec-binary", True)):
        for newline in (True, False):
            V.write(tmp_path / fmt, words, vectors, format=fmt, newline=newline)
            g_words, g_vectors = gensim_read(tmp_path / fmt, binary)
            assert g_words == words
            np.testing.assert_array_equal(g_vectors, vectors)


MALFORMED = [
    ("pretrained.vec", "fasttext-vec", r"line 3: file ends after 1 rows; the header announces 3"),
    ("w2v_keyedvectors_load_test.modeldata", "word2vec-text", r"line 2: word .* not valid utf-8"),
    ("crime-and-punishment.bin", "word2vec-binary", r"line 1: header must be 'count dim'"),
    ("lee_fasttext.bin", "word2vec-binary", r"line 1: header must be 'count dim'"),
    ("toy-model.bin", "word2vec-text", r"line 1: header must be 'count dim'"),
    ("model-from-gensim-3.8.0.w2v", "word2vec-binary", r"line 1: header must be 'count dim'"),
    ("model-from-gensim-3.8.0.w2v", "glove", r"line 1: word b'\\x80\\x02cgensim.* holds the"),
    ("euclidean_vectors.bin", "word2vec-text", r"line 2: .*(announces dim 10|bad float|utf-8)"),
    ("test_glove.txt", "word2vec-text", r"line 1: header must be 'count dim'"),
    ("lee_fasttext.vec", "word2vec-binary", r"byte offset 634 \(record 14\): empty word"),
]


@pytest.mark.parametrize(("name", "fmt", "message"), MALFORMED)
def test_malformed_or_foreign_files_refused(name, fmt, message):
    with pytest.raises(VectorFormatError, match=message) as e:
        V.read(DATA / name, format=fmt)
    assert name in str(e.value)


def test_gensim_refuses_what_refpe_refuses():
    with pytest.raises(EOFError):
        gensim_read(DATA / "pretrained.vec", False)
    with pytest.raises(UnicodeDecodeError):
        gensim_read(DATA / "w2v_keyedvectors_load_test.modeldata", False)
