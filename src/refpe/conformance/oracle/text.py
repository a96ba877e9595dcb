"""Oracles of text: the tokenisers' ids and the pretrained word-vector files.

Tokenisers are exact integer algorithms, written here from their papers and reference code
(BERT's ``tokenization.py``, Sennrich et al.'s and GPT-2's ``bpe``). A word2vec binary file
holds little-endian IEEE float32, so its values are exact dyadic numbers: the file's bytes
are built and parsed here with integer arithmetic alone. Text formats write the shortest
decimal that reads back to the same value, so reading them gives the values themselves.
Aligned tables take the initialisers' documented draws from :mod:`.init`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from . import init as draws
from ._core import register

_EXACT = "exact integers"

#: The Unicode White_Space code points (PropList.txt).
WHITE_SPACE = frozenset(
    [*map(chr, range(0x09, 0x0E)), " ", "\x85", "\xa0", "\u1680", "\u2028", "\u2029"]
    + [chr(c) for c in range(0x2000, 0x200B)]
    + ["\u202f", "\u205f", "\u3000"]
)
DEFAULT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _ids_by_token(vocab: Mapping[str, int] | Sequence[str]) -> dict[str, int]:
    """token -> id; a list gives each token its first position."""
    if isinstance(vocab, Mapping):
        return dict(vocab)
    out: dict[str, int] = {}
    for i, t in enumerate(vocab):
        out.setdefault(t, i)
    return out


def _cut_specials(text: str, specials: Sequence[str]) -> list[tuple[str, bool]]:
    """Scan left to right; at each position the longest special token that starts there is
    one piece of its own; the text between specials is returned as plain pieces."""
    longest_first = sorted(set(specials), key=len, reverse=True)
    pieces: list[tuple[str, bool]] = []
    plain = ""
    i = 0
    while i < len(text):
        hit = next((s for s in longest_first if s and text.startswith(s, i)), "")
        if hit:
            if plain:
                pieces.append((plain, False))
            pieces.append((hit, True))
            plain, i = "", i + len(hit)
        else:
            plain, i = plain + text[i], i + 1
    if plain:
        pieces.append((plain, False))
    return pieces


def _lookup(tokens: Sequence[str], ids: Mapping[str, int], unk: str | None) -> list[int]:
    return [ids[t] if t in ids else ids[unk] for t in tokens]


# --- characters (seed 004 §4, 字符级分词) ---


@register("tok-char", _EXACT)
def tok_char(inputs: Mapping[str, Any]) -> list[list[int]]:
    """One id per code point that is not White_Space; special tokens of the vocabulary are
    one token each; unknown characters take the ``[UNK]`` id."""
    ids = _ids_by_token(inputs["vocab"])
    specials = inputs.get("specials")
    specials = [s for s in DEFAULT_SPECIALS if s in ids] if specials is None else specials
    tokens: list[str] = []
    for piece, special in _cut_specials(inputs["text"], specials):
        tokens += [piece] if special else [c for c in piece if c not in WHITE_SPACE]
    return [_lookup(tokens, ids, inputs.get("unk", "[UNK]"))]


# --- WordPiece (Devlin et al. 2019, BERT's tokenization.py; Wu et al. 2016) ---


def _is_control(c: str) -> bool:
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_whitespace(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_punctuation(c: str) -> bool:
    """BERT: every non-letter, non-digit ASCII printable character, and Unicode P*."""
    o = ord(c)
    ascii_symbol = 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126
    return ascii_symbol or unicodedata.category(c).startswith("P")


def _is_cjk(c: str) -> bool:
    """BERT's CJK Unified Ideographs blocks (with extensions and compatibility ideographs)."""
    o = ord(c)
    blocks = (
        (0x4E00, 0x9FFF),
        (0x3400, 0x4DBF),
        (0x20000, 0x2A6DF),
        (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F),
        (0x2B820, 0x2CEAF),
        (0xF900, 0xFAFF),
        (0x2F800, 0x2FA1F),
    )
    return any(lo <= o <= hi for lo, hi in blocks)


def _basic_words(text: str, lowercase: bool, chinese_chars: bool) -> list[str]:
    """BERT's ``BasicTokenizer``: clean, isolate CJK characters, split on whitespace, lower-case
    and strip accents (NFD, drop Mn) when ``lowercase``, split off each punctuation mark."""
    clean = "".join(
        " " if _is_whitespace(c) else c
        for c in text
        if not (ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c))
    )
    if chinese_chars:
        clean = "".join(f" {c} " if _is_cjk(c) else c for c in clean)
    words = []
    for token in clean.split():
        if lowercase:
            token = unicodedata.normalize("NFD", token.lower())
            token = "".join(c for c in token if unicodedata.category(c) != "Mn")
        current = ""
        for c in token:
            if _is_punctuation(c):
                words += [current, c] if current else [c]
                current = ""
            else:
                current += c
        if current:
            words.append(current)
    return words


def _wordpiece(word: str, vocab: Mapping[str, int], max_chars: int) -> list[str]:
    """Greedy longest-match-first; ``##`` marks a piece that does not start the word; a word
    with an unmatchable position, or longer than ``max_chars``, is ``[UNK]``."""
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        for end in range(len(word), start, -1):
            piece = ("##" if start > 0 else "") + word[start:end]
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            return ["[UNK]"]
    return pieces


@register("tok-wordpiece", _EXACT)
def tok_wordpiece(inputs: Mapping[str, Any]) -> list[list[int]]:
    """BERT's basic tokeniser, then WordPiece on each word; special tokens kept whole."""
    ids = _ids_by_token(inputs["vocab"])
    lowercase = inputs.get("lowercase", True)
    specials = [s for s in DEFAULT_SPECIALS if s in ids]
    tokens: list[str] = []
    for piece, special in _cut_specials(inputs["text"], specials):
        if special:
            tokens.append(piece)
            continue
        for word in _basic_words(piece, lowercase, inputs.get("chinese_chars", True)):
            tokens += _wordpiece(word, ids, inputs.get("max_chars", 100))
    return [_lookup(tokens, ids, "[UNK]")]


# --- byte-pair encoding (Sennrich et al. 2016; GPT-2's bpe) ---


def _bpe(word: str, ranks: Mapping[tuple[str, str], int], known: Any, unk: str | None) -> list:
    """Start from the characters (unknown ones: ``unk``); merge every occurrence, left to
    right, of the adjacent pair of lowest rank until no adjacent pair is a merge."""
    if unk is not None:
        symbols = [c if c in known else unk for c in word]
    elif any(c not in known for c in word):
        raise ValueError(f"a character of {word!r} is not in the vocabulary and no unk is set")
    else:
        symbols = list(word)
    while len(symbols) > 1:
        pairs = [(symbols[i], symbols[i + 1]) for i in range(len(symbols) - 1)]
        best = min(pairs, key=lambda p: ranks.get(p, math.inf))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(symbols):
            if symbols[i : i + 2] == list(best):
                merged.append(best[0] + best[1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


@register("tok-bpe", _EXACT)
def tok_bpe(inputs: Mapping[str, Any]) -> list[list[int]]:
    r"""Words of Hugging Face's ``Whitespace`` pre-tokeniser (``\w+|[^\w\s]+``), then ranked
    merges (rank = position in ``merges``, the first occurrence counting)."""
    if inputs.get("pre_tokenizer", "whitespace") != "whitespace":
        raise NotImplementedError("the oracle covers the whitespace pre-tokeniser")
    ids = _ids_by_token(inputs["vocab"])
    ranks: dict[tuple[str, str], int] = {}
    for r, m in enumerate(inputs["merges"]):
        a, b = m.split(" ") if isinstance(m, str) else m
        ranks.setdefault((a, b), r)
    unk = inputs.get("unk")
    tokens = []
    for word in re.findall(r"\w+|[^\w\s]+", inputs["text"]):
        tokens += _bpe(word, ranks, ids, unk)
    return [_lookup(tokens, ids, unk)]


# --- pretrained word vectors (seed 004 §2; word2vec.c, GloVe, fastText) ---


def float32_bytes(x: float) -> bytes:
    """The little-endian IEEE binary32 encoding of ``x`` rounded to nearest, ties to even
    (exact integer arithmetic); ``OverflowError`` beyond the float32 range."""
    negative = math.copysign(1.0, x) < 0
    f = abs(Fraction(x))
    bits = 0
    if f:
        e = f.numerator.bit_length() - f.denominator.bit_length()
        if Fraction(2) ** e > f:
            e -= 1  # now 2**e <= f < 2**(e + 1)
        e = max(e, -126)  # below 2**-126 the spacing stays 2**-149 (subnormals)
        m = round(f * Fraction(2) ** (23 - e))  # Fraction rounds half to even
        if m == 1 << 24:
            m, e = m >> 1, e + 1
        if e > 127:
            raise OverflowError(f"{x!r} is beyond the float32 range")
        bits = m if m < 1 << 23 else ((e + 127) << 23) | (m - (1 << 23))
    return (bits | (negative << 31)).to_bytes(4, "little")


def float32_value(raw: bytes) -> float:
    """The value of four little-endian binary32 bytes (finite ones), exactly."""
    bits = int.from_bytes(raw, "little")
    sign, exponent, fraction = bits >> 31, (bits >> 23) & 0xFF, bits & ((1 << 23) - 1)
    if exponent == 0xFF:
        raise ValueError("not a finite float32")
    if exponent == 0:
        value = Fraction(fraction, 1 << 149)
    else:
        value = Fraction((1 << 23) | fraction) * Fraction(2) ** (exponent - 150)
    return -float(value) if sign else float(value)  # a dyadic of <= 24 bits: float is exact


def word2vec_binary(words: Sequence[str], rows: np.ndarray, newline: bool) -> bytes:
    """word2vec.c's file: ``"count dim\\n"``, then per word its UTF-8 bytes, a space, ``dim``
    float32 values, and a newline (word2vec.c; gensim writes none)."""
    n, d = rows.shape
    out = [f"{n} {d}\n".encode()]
    for w, row in zip(words, rows, strict=True):
        out.append(w.encode() + b" " + b"".join(float32_bytes(float(v)) for v in row))
        out.append(b"\n" if newline else b"")
    return b"".join(out)


def parse_word2vec_binary(data: bytes) -> np.ndarray:
    """The values of a word2vec binary file, as float64 (a word's leading newlines skipped)."""
    header, _, body = data.partition(b"\n")
    n, d = (int(t) for t in header.split())
    values = np.empty((n, d), dtype=np.float64)
    pos = 0
    for r in range(n):
        while body[pos : pos + 1] == b"\n":
            pos += 1
        pos = body.index(b" ", pos) + 1
        for c in range(d):
            values[r, c] = float32_value(body[pos : pos + 4])
            pos += 4
    return values


@register("pretrained-formats", "exact (float32 bytes by integer arithmetic)")
def pretrained_formats(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """``read(write(V))``: ``V`` for the text formats (shortest round-trip decimals); the
    float32 values the binary file holds for ``word2vec-binary``."""
    v = np.asarray(inputs["vectors"], dtype=np.float64)
    if inputs["format"] != "word2vec-binary":
        return [v.copy()]
    words = inputs.get("words") or [f"w{i}" for i in range(v.shape[0])]
    data = word2vec_binary(words, v, inputs.get("newline", True))
    return [parse_word2vec_binary(data).reshape(v.shape)]


_INITS = {
    "normal": draws.normal_table,
    "uniform": draws.uniform_table,
    "truncated-normal": draws.truncated_table,
}


@register("pretrained-align", "exact (copies and the initialisers' documented draws)")
def pretrained_align(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """Row ``t`` is the vector of the pretrained word spelled like token ``t`` (else, with
    ``casefold``, of the first word in file order with the same ``str.casefold``), else row
    ``t`` of the whole ``(V, d)`` table drawn from ``init`` with ``seed``."""
    vocab = inputs["vocab"]
    if isinstance(vocab, Mapping):
        tokens = sorted(vocab, key=vocab.__getitem__)
    else:
        tokens = list(vocab)
    words, vectors = list(inputs["words"]), np.asarray(inputs["vectors"], dtype=np.float64)
    shape = (len(tokens), vectors.shape[1])
    init = inputs.get("init", "normal")
    if init == "zeros":
        table = np.zeros(shape)
    else:
        args = {"shape": shape, "seed": inputs["seed"], **(inputs.get("init_args") or {})}
        table = _INITS[init](args)
    folded: dict[str, int] = {}
    for j, w in enumerate(words):
        folded.setdefault(w.casefold(), j)
    for t, token in enumerate(tokens):
        if token in words:
            table[t] = vectors[words.index(token)]
        elif inputs.get("casefold", False) and token.casefold() in folded:
            table[t] = vectors[folded[token.casefold()]]
    return [table]
