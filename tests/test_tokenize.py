"""refpe.tokenize: character, WordPiece and BPE tokenisers (tok-char, tok-wordpiece, tok-bpe)."""

from __future__ import annotations

from itertools import pairwise

import pytest
from helpers import to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.tokenize import BPE, CharTokenizer, WordPiece, tok_bpe, tok_char, tok_wordpiece

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WP_VOCAB = [
    *SPECIALS,
    "un",
    "##happy",
    "happy",
    "深",
    "度",
    "学",
    "习",
    "!",
    "the",
    "play",
    "##ing",
]


def test_char_one_token_per_code_point():
    tok = CharTokenizer([*SPECIALS, "深", "度", "学", "习"])
    assert tok.tokenize("深度 学习") == ["深", "度", "学", "习"]
    assert tok.encode("深度学习") == [5, 6, 7, 8]
    assert tok.encode("[CLS]深😀[SEP]") == [2, 5, 1, 3]
    assert tok.tokenize("e\u0301") == ["e", "\u0301"]
    assert tok.decode([5, 1]) == ["深", "[UNK]"]


def test_char_from_texts_and_whitespace():
    tok = CharTokenizer.from_texts(["ab a", "ba\tc"])
    assert list(tok.vocab) == [*SPECIALS, "a", "b", "c"]
    tok = CharTokenizer({"a": 0, " ": 1, "[UNK]": 2}, keep_whitespace=True)
    assert tok.encode("a a\n") == [0, 1, 0, 2]


def test_seed_examples():
    wp = WordPiece(WP_VOCAB)
    assert wp.tokenize("unhappy") == ["un", "##happy"]
    assert wp.tokenize("深度学习") == ["深", "度", "学", "习"]
    joined = WordPiece([*SPECIALS, "深", "##度学", "##习"], chinese_chars=False)
    assert joined.tokenize("深度学习") == ["深", "##度学", "##习"]
    bpe = BPE([("l", "o"), ("lo", "w"), ("e", "r")], [*"lowerd", "lo", "low", "er"])
    assert bpe.tokenize("low lower") == ["low", "low", "er"]


def test_wordpiece_basic_tokenizer():
    wp = WordPiece(WP_VOCAB)
    assert wp.basic("Héllo,\tWORLD!!\x00\u200b x\ufffdy 深度") == [
        "hello", ",", "world", "!", "!", "xy", "深", "度",
    ]  # fmt: skip
    assert wp.basic("ΟΔΟΣ") == ["οδοσ"]
    cased = WordPiece(WP_VOCAB, lowercase=False)
    assert cased.basic("Héllo") == ["Héllo"]
    assert WordPiece(WP_VOCAB, lowercase=False, strip_accents=True).basic("Héllo") == ["Hello"]


def test_wordpiece_greedy_and_unk():
    wp = WordPiece(WP_VOCAB)
    assert wp.tokenize("Unhappy playing!") == ["un", "##happy", "play", "##ing", "!"]
    assert wp.tokenize("unplay happyx") == ["[UNK]", "[UNK]"]
    assert wp.tokenize("un" * 50) == ["[UNK]"]
    long = WordPiece([*SPECIALS, "a", "##a"])
    assert long.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert long.tokenize("a" * 101) == ["[UNK]"]
    assert WordPiece([*SPECIALS, "a", "##a"], max_chars=3).tokenize("aaaa aaa") == [
        "[UNK]", "a", "##a", "##a",
    ]  # fmt: skip
    assert wp.encode("the [MASK]!", add_special_tokens=True) == [2, 13, 4, 12, 3]


def test_wordpiece_vocab_file(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(WP_VOCAB) + "\n", encoding="utf-8")
    wp = WordPiece.from_vocab_file(tmp_path / "vocab.txt")
    assert wp.vocab == {t: i for i, t in enumerate(WP_VOCAB)}
    assert wp.encode("unhappy") == [5, 6]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="unhapyig深度学习!. \tUNH", max_size=30))
def test_wordpiece_pieces_rebuild_the_words(text):
    wp = WordPiece(WP_VOCAB)
    for word in wp.basic(text):
        pieces = wp.wordpiece(word)
        if pieces != ["[UNK]"]:
            assert "".join(p.removeprefix("##") for p in pieces) == word
            assert all(p in wp.vocab for p in pieces)


def bpe_merges():
    return [("l", "o"), ("lo", "w"), ("e", "r"), ("low", "er"), ("e", "s"), ("es", "t")]


BPE_VOCAB = ["[UNK]", *"lowerstn", "lo", "low", "er", "lower", "es", "est"]


def test_bpe_ranked_merges():
    bpe = BPE(bpe_merges(), BPE_VOCAB, unk="[UNK]")
    assert bpe.tokenize("lowest lower slow") == ["low", "est", "lower", "s", "low"]
    assert bpe.merge("lowz") == ["low", "[UNK]"]
    assert BPE(["l o", "lo w"], BPE_VOCAB).tokenize("low") == ["low"]
    ranked = BPE([("o", "w"), ("l", "o")], [*BPE_VOCAB, "ow"])
    assert ranked.tokenize("low") == ["l", "ow"]


def test_bpe_merges_every_occurrence_left_to_right():
    bpe = BPE([("a", "a")], ["a", "aa"])
    assert bpe.tokenize("aaaaa") == ["aa", "aa", "a"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="lowerstn ", max_size=25))
def test_bpe_invariants(text):
    bpe = BPE(bpe_merges(), BPE_VOCAB)
    for word in bpe.words(text):
        syms = bpe.merge(word)
        assert "".join(syms) == word
        assert not any(p in bpe.ranks for p in pairwise(syms))


def test_bpe_byte_level():
    vocab = {chr(c): c for c in range(33, 127)} | {"Ġ": 200, "Ġh": 201, "Ġhi": 202}
    from refpe._tokenize_text import byte_alphabet

    vocab |= {ch: 300 + b for b, ch in byte_alphabet().items() if ch not in vocab}
    bpe = BPE([("Ġ", "h"), ("Ġh", "i")], vocab, pre_tokenizer="byte-level")
    assert bpe.tokenize("hi hi") == ["h", "i", "Ġhi"]
    assert len(bpe.tokenize("é")) == 2
    assert BPE([], vocab, pre_tokenizer="byte-level", add_prefix_space=True).tokenize("a") == [
        "Ġ", "a",
    ]  # fmt: skip


def test_gpt2_pattern():
    from refpe._tokenize_text import gpt2_split

    assert gpt2_split("I'm here  now\n\n x's 3.5") == [
        "I", "'m", " here", " ", " now", "\n\n", " x", "'s", " 3", ".", "5",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: CharTokenizer(["a"]), ValueError, r"unk '\[UNK\]' is not in the vocabulary"),
        (lambda: CharTokenizer(["a"], unk=None).encode("b"), ValueError, r"token 'b' \(token 0"),
        (lambda: CharTokenizer(["a", "[UNK]"]).encode(b"a"), TypeError, r"text must be a str"),
        (lambda: CharTokenizer("abc"), TypeError, r"vocab must be a mapping"),
        (lambda: CharTokenizer({"a": -1}), ValueError, r"got 'a' -> -1"),
        (lambda: WordPiece(WP_VOCAB, max_chars=0), ValueError, r"max_chars must be an int >= 1"),
        (lambda: WordPiece(WP_VOCAB).decode([99]), ValueError, r"ids\[0\] = 99 is not an id"),
        (lambda: BPE([("l", "q")], BPE_VOCAB), ValueError, r"merges\[0\] = .*'q' is not in"),
        (lambda: BPE(["l o w"], BPE_VOCAB), ValueError, r"merges\[0\] must be a pair"),
        (lambda: BPE([], BPE_VOCAB, pre_tokenizer="x"), ValueError, r"pre_tokenizer must be"),
        (lambda: BPE([], BPE_VOCAB).encode("lz"), ValueError, r"token 'z' \(token 1 of text\)"),
    ],
)
def test_bad_input(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_spec_functions_give_integer_arrays(xp):
    ids = tok_char("深度x", [*SPECIALS, "深", "度"], xp=xp)
    assert to_numpy(ids).tolist() == [5, 6, 1]
    assert xp.isdtype(ids.dtype, "integral")
    assert to_numpy(tok_wordpiece("unhappy", WP_VOCAB, xp=xp)).tolist() == [5, 6]
    assert to_numpy(tok_bpe("lower", bpe_merges(), BPE_VOCAB, xp=xp)).tolist() == [12]


@pytest.mark.parametrize("spec_id", ["tok-char", "tok-wordpiece", "tok-bpe"])
def test_registered_specs(spec_id):
    s = refpe.spec(spec_id)
    assert s.function.__module__ == "refpe.tokenize" and s.creates and s.error.K["float32"] == 0
    assert "math::" in s.function.__doc__ and "seed 004 §4" in s.function.__doc__
    for case in s.cases:
        if case.raises is not None:
            with pytest.raises(case.raises):
                s.function(**case.kwargs)
        else:
            out = to_numpy(s.function(**case.kwargs))
            assert out.ndim == 1
