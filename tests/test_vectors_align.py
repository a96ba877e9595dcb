"""refpe.vectors.align: pretrained rows, seeded OOV rows, coverage report (pretrained-align)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import no_change, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe import vectors as V

WORDS = ["the", "Apple", "深度", "学习", "naïve", "APPLE"]
VOCAB = {"[PAD]": 0, "the": 1, "apple": 2, "深度": 3, "模型": 4, "naïve": 5, "Naïve": 6}


def pretrained(dtype="float32"):
    return np.random.default_rng(3).standard_normal((len(WORDS), 4)).astype(dtype)


@pytest.mark.parametrize("init", ["normal", "uniform", "truncated-normal", "zeros"])
def test_rows_are_pretrained_or_seeded(xp, init):
    vec = pretrained()
    x = xp_asarray(xp, vec, "float32")
    with no_change(x):
        table, report = V.align(VOCAB, WORDS, x, init=init, seed=7)
    t = to_numpy(table)
    assert t.dtype == np.float32 and t.shape == (7, 4)
    if init == "zeros":
        drawn = np.zeros((7, 4), np.float32)
    else:
        fn = {"normal": refpe.init_normal, "uniform": refpe.init_uniform}.get(
            init, refpe.init_truncated_normal
        )
        drawn = fn((7, 4), seed=7, dtype="float32")
    mask = to_numpy(report.frozen)
    assert mask.tolist() == [False, True, False, True, False, True, False]
    np.testing.assert_array_equal(t[[1, 3, 5]], vec[[0, 2, 4]])
    np.testing.assert_array_equal(t[~mask], drawn[~mask])
    assert report.found == ("the", "深度", "naïve")
    assert report.oov == ("[PAD]", "apple", "模型", "Naïve")
    assert report.casefolded == ()


def test_casefold_takes_first_file_word():
    vec = pretrained()
    table, report = V.align(VOCAB, WORDS, vec, seed=0, casefold=True)
    assert report.casefolded == (("apple", "Apple"), ("Naïve", "naïve"))
    assert report.oov == ("[PAD]", "模型")
    np.testing.assert_array_equal(table[2], vec[1])
    np.testing.assert_array_equal(table[6], vec[4])
    assert report.frozen.tolist() == [False, True, True, True, False, True, True]
    assert report.coverage == pytest.approx(500 / 7)
    assert str(report).startswith("5 of 7 tokens found (71.43%): 3 exact, 2 after case folding")


def test_frozen_mask_feeds_embedding_grad():
    _, report = V.align(VOCAB, WORDS, pretrained(), seed=0)
    if not hasattr(refpe, "embedding_grad"):
        pytest.skip("refpe.embedding_grad is not there yet")
    ids = np.array([1, 2, 3, 4], dtype=np.int64)
    grad = refpe.embedding_grad(ids, np.ones((4, 4), np.float32), 7, frozen=report.frozen)
    assert np.all(grad[report.frozen] == 0) and np.all(grad[[2, 4]] == 1)


@settings(max_examples=25, deadline=None)
@given(
    tokens=st.lists(st.sampled_from(["a", "b", "c", "d", "A", "e", "é"]), unique=True, min_size=1),
    known=st.lists(st.sampled_from(["a", "b", "C", "x"]), unique=True),
    seed=st.integers(0, 2**32),
)
def test_oov_rows_do_not_depend_on_what_was_found(tokens, known, seed):
    vec = np.arange(len(known) * 3, dtype=np.float64).reshape(-1, 3) + 100
    table, report = V.align(tokens, known, vec, seed=seed, init="uniform")
    drawn = refpe.init_uniform((len(tokens), 3), seed=seed, dtype="float64")
    for i, t in enumerate(tokens):
        want = vec[known.index(t)] if t in known else drawn[i]
        np.testing.assert_array_equal(table[i], want)
        assert bool(report.frozen[i]) == (t in known)
    assert len(report.found) + len(report.oov) == len(tokens)


def test_init_args_are_passed_on():
    a, _ = V.align(["x"], [], np.zeros((0, 3)), seed=1, init="normal", init_args={"std": 2.0})
    np.testing.assert_array_equal(a, refpe.init_normal((1, 3), seed=1, std=2.0, dtype="float64"))


def test_width_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"width mismatch: vectors have width 4, .* dim=8"):
        V.align(VOCAB, WORDS, pretrained(), seed=0, dim=8)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"vocab": {"a": 0, "b": 2}},
            ValueError,
            r"vocab ids must be 0 \.\. 1: token 'b' has id 2",
        ),
        ({"vocab": {"a": 0, "b": True}}, ValueError, r"token 'b' has id True"),
        ({"vocab": ["a", "b", "a"]}, ValueError, r"vocab lists token 'a' twice"),
        ({"vocab": "abc"}, TypeError, r"vocab must be a mapping .* got a str"),
        ({"words": WORDS[:-1]}, ValueError, r"words has 5 entries but vectors has 6 rows"),
        ({"words": ["a"] * 6}, ValueError, r"words has 'a' twice \(rows 0 and 1\)"),
        ({"init": "xavier"}, ValueError, r"init must be one of .* got 'xavier'"),
        ({"vectors": np.zeros(6)}, ValueError, r"vectors must be 2-D \(n, d\), got shape \(6,\)"),
        ({"seed": -1}, ValueError, r"seed must be a non-negative int, got -1"),
    ],
)
def test_bad_input(kwargs, error, message):
    args = {"vocab": VOCAB, "words": WORDS, "vectors": pretrained(), "seed": 0, **kwargs}
    with pytest.raises(error, match=message):
        V.align(args.pop("vocab"), args.pop("words"), args.pop("vectors"), **args)


def test_read_then_align(tmp_path):
    V.write(tmp_path / "v.bin", WORDS, pretrained(), format="word2vec-binary")
    words, vectors = V.read(tmp_path / "v.bin", format="word2vec-binary")
    table, report = V.align(VOCAB, words, vectors, seed=3)
    np.testing.assert_array_equal(table[report.frozen], pretrained()[[0, 2, 4]])
