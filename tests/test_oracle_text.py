"""The text oracles (tokenisers, pretrained vector files, alignment): hand values, refpe's
reference equal to them, planted mistakes caught."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from oracle_reference import cases, oracle_inputs, oracle_values, reference, reference_error

from refpe.conformance.oracle import text

SPECS = ("tok-char", "tok-wordpiece", "tok-bpe", "pretrained-formats", "pretrained-align")
DTYPES = ("float64", "float32")


def run(spec_id: str, **inputs) -> list[np.ndarray]:
    return oracle_values(spec_id, dict(inputs, dtype="float32"))


@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_outputs_have_the_reference_shapes(spec_id, name):
    want = reference(spec_id, name, "float64")
    got = oracle_values(spec_id, oracle_inputs(spec_id, name, "float64"))
    assert [g.shape for g in got] == [w.shape for w in want]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_reference_is_exact(spec_id, name, dtype):
    err, K, where = reference_error(spec_id, name, dtype)
    assert err <= K, f"{spec_id} {name} {dtype}: {where}"


# --- hand-checked ids ---

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def ids(spec_id: str, **inputs) -> list[int]:
    return [int(i) for i in run(spec_id, **inputs)[0]]


def test_characters_by_hand():
    vocab = [*SPECIALS, "深", "度", "学", "习"]
    assert ids("tok-char", text="深度 学习", vocab=vocab) == [5, 6, 7, 8]
    assert ids("tok-char", text="[CLS]深x[SEP]", vocab=vocab) == [2, 5, 1, 3]
    assert ids("tok-char", text="\u3000\t", vocab=vocab) == []  # White_Space is dropped
    assert ids("tok-char", text="深", vocab={"深": 7, "[UNK]": 0}) == [7]


def test_wordpiece_by_hand():
    vocab = [*SPECIALS, "un", "##happy", "happy", "!", "naive", "深", "度"]
    # seed 004 §4: "unhappy" -> ["un", "##happy"]; lower-cased; "!" split off
    assert ids("tok-wordpiece", text="UNhappy!", vocab=vocab) == [5, 6, 8]
    # accents stripped (NFD, drop Mn) when lower-casing; no match at a position: [UNK]
    assert ids("tok-wordpiece", text="naïve unx", vocab=vocab) == [9, 1]
    # every CJK character is a word; cased input without the piece: [UNK]
    assert ids("tok-wordpiece", text="深度", vocab=vocab) == [10, 11]
    assert ids("tok-wordpiece", text="Happy", vocab=vocab, lowercase=False) == [1]
    assert ids("tok-wordpiece", text="happy" * 21, vocab=[*vocab, "##" + "happy"]) == [1]


def test_bpe_by_hand():
    merges = [("l", "o"), ("lo", "w"), ("e", "r"), ("low", "er"), ("e", "s"), ("es", "t")]
    vocab = ["[UNK]", *"lowerstn", "lo", "low", "er", "lower", "es", "est"]
    # low | lo+w+e+r -> low er -> lower | low est
    got = ids("tok-bpe", text="low lower lowest", merges=merges, vocab=vocab)
    assert got == [10, 12, 10, 14]
    # a character outside the vocabulary is unk; punctuation runs are words of their own
    assert ids("tok-bpe", text="lowz", merges=merges, vocab=vocab, unk="[UNK]") == [10, 0]
    # rank decides: with ("e", "r") first, "lower" still ends as one token; "ow" never merges
    got = ids("tok-bpe", text="ower", merges=["e r", *merges], vocab=vocab)
    assert got == [2, 3, 11]


# --- float32 bytes and the word2vec binary format ---


@pytest.mark.parametrize(
    "x",
    [
        0.0,
        -0.0,
        1.0,
        0.1,
        1 / 3,
        -2.5,
        1 + 2.0**-24,  # a tie: to even, 1.0
        1 + 3 * 2.0**-24,  # a tie: to even, 1 + 2^-22
        2.0**-149,  # the smallest subnormal
        2.0**-150,  # half of it: a tie to even, 0
        3 * 2.0**-151,  # above the half: the smallest subnormal
        2.0**-126 * (1 - 2.0**-24),  # rounds up to the smallest normal
        3.4028234663852886e38,  # the largest float32
        1e-300,
        5e-324,
    ],
)
def test_float32_bytes_agree_with_the_c_conversion(x):
    assert text.float32_bytes(x) == struct.pack("<f", x)
    back = text.float32_value(text.float32_bytes(x))
    assert back == struct.unpack("<f", struct.pack("<f", x))[0]
    assert np.signbit(back) == np.signbit(x)


def test_float32_bytes_overflow():
    with pytest.raises(OverflowError):
        text.float32_bytes(3.5e38)


def test_binary_file_by_hand():
    data = text.word2vec_binary(["a", "bc"], np.array([[0.1], [-2.0]]), newline=True)
    # 0.1 in float32 is 13421773 / 2^27 = 0.100000001490116119384765625
    assert data == b"2 1\na \xcd\xcc\xcc\x3d\nbc \x00\x00\x00\xc0\n"
    assert text.parse_word2vec_binary(data).tolist() == [[13421773 / 2**27], [-2.0]]
    (v,) = run("pretrained-formats", vectors=np.array([[0.1, 2.5]]), format="word2vec-binary")
    assert v.tolist() == [[0.100000001490116119384765625, 2.5]]
    (v,) = run("pretrained-formats", vectors=np.array([[0.1, 1e-300]]), format="glove")
    assert v.tolist() == [[0.1, 1e-300]]


def test_alignment_by_hand():
    vectors = np.array([[1.0, 2.0], [3.0, 4.0]])
    vocab = {"[PAD]": 0, "apple": 1, "the": 2}
    (t,) = run("pretrained-align", vocab=vocab, words=["the", "Apple"], vectors=vectors, seed=0)
    assert t[2].tolist() == [1.0, 2.0]
    assert np.abs(t[:2]).max() < 0.2  # N(0, 0.02^2) draws
    (t,) = run(
        "pretrained-align",
        vocab=vocab,
        words=["the", "Apple"],
        vectors=vectors,
        seed=0,
        casefold=True,
        init="zeros",
    )
    assert t.tolist() == [[0.0, 0.0], [3.0, 4.0], [1.0, 2.0]]
    # an OOV row is the initialiser's row of the whole table, whatever else was found
    (a,) = run("pretrained-align", vocab=vocab, words=["the"], vectors=vectors[:1], seed=3)
    (b,) = run("pretrained-align", vocab=vocab, words=["zzz"], vectors=vectors[:1], seed=3)
    assert a[:2].tolist() == b[:2].tolist()


# --- planted mistakes are caught ---


def test_wordpiece_without_the_prefix_is_caught(monkeypatch):
    true = text._wordpiece
    monkeypatch.setattr(
        text, "_wordpiece", lambda w, v, m: [p.removeprefix("##") for p in true(w, v, m)]
    )
    err, K, _ = reference_error("tok-wordpiece", "unhappy", "float32")
    assert err > K


def test_bpe_stopping_after_one_merge_is_caught(monkeypatch):
    # the plant: only the best-ranked merge is ever applied (an `if` for the `while`)
    true = text._bpe
    monkeypatch.setattr(
        text, "_bpe", lambda w, r, k, u: true(w, {p: n for p, n in r.items() if n == 0}, k, u)
    )
    err, K, _ = reference_error("tok-bpe", "low lower lowest", "float32")
    assert err > K


def test_ids_off_by_one_are_caught(monkeypatch):
    true = text._lookup
    monkeypatch.setattr(text, "_lookup", lambda t, i, u: [n + 1 for n in true(t, i, u)])
    for spec_id in ("tok-char", "tok-wordpiece", "tok-bpe"):
        err, K, _ = reference_error(spec_id, cases(spec_id)[0][1], "float32")
        assert err > K, spec_id


def test_float32_truncation_is_caught(monkeypatch):
    # the plant: round toward zero (drop the bits below float32's) instead of to nearest
    def truncate(x):
        b = int.from_bytes(struct.pack("<d", x), "little")
        b &= ~((1 << 29) - 1)
        return struct.pack("<f", struct.unpack("<d", b.to_bytes(8, "little"))[0])

    monkeypatch.setattr(text, "float32_bytes", truncate)
    err, K, _ = reference_error("pretrained-formats", "word2vec-binary typical", "float64")
    assert err > K


def test_oov_rows_of_another_seed_are_caught(monkeypatch):
    true = text._INITS["normal"]
    monkeypatch.setitem(text._INITS, "normal", lambda a: true(dict(a, seed=a["seed"] + 1)))
    err, K, _ = reference_error("pretrained-align", "normal init", "float32")
    assert err > K
