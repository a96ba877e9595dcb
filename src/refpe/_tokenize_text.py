"""Character classes and pre-tokenisers shared by the tokenisers (seed 004 §4)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Unicode ``White_Space`` (what Rust's ``char::is_whitespace`` and the GPT-2 ``\s`` mean).
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
#: BERT's "Chinese character" blocks (CJK Unified Ideographs and extensions, compatibility).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def is_control(c: str) -> bool:
    """BERT's control characters: category C* (Cc, Cf, Cn, Co, Cs) except tab, LF, CR."""
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_punctuation(c: str) -> bool:
    """ASCII punctuation and symbols (33-47, 58-64, 91-96, 123-126) or a P* category."""
    o = ord(c)
    return (
        33 <= o <= 47
        or 58 <= o <= 64
        or 91 <= o <= 96
        or 123 <= o <= 126
        or (unicodedata.category(c).startswith("P"))
    )


def is_cjk(c: str) -> bool:
    o = ord(c)
    return any(lo <= o <= hi for lo, hi in CJK_RANGES)


def bert_normalize(
    text: str, *, clean_text: bool, chinese_chars: bool, strip_accents: bool, lowercase: bool
) -> str:
    """BERT's normaliser, in the order of Hugging Face's ``BertNormalizer``.

    Clean (drop NUL, U+FFFD and control characters; whitespace becomes a space), put
    spaces around CJK characters, strip accents (NFD, drop category Mn), lower-case each
    code point on its own (no context: a final capital sigma becomes σ).
    """
    if clean_text:
        text = "".join(
            " " if c in WHITESPACE else c
            for c in text
            if not (c == "\0" or c == "\ufffd" or is_control(c))
        )
    if chinese_chars:
        text = "".join(f" {c} " if is_cjk(c) else c for c in text)
    if strip_accents:
        text = "".join(
            c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn"
        )
    if lowercase:
        text = "".join(c.lower() for c in text)
    return text


def bert_split(text: str) -> list[str]:
    """BERT's pre-tokeniser: split on whitespace, each punctuation character on its own."""
    words: list[str] = []
    cur: list[str] = []
    for c in text:
        if c in WHITESPACE or is_punctuation(c):
            if cur:
                words.append("".join(cur))
                cur = []
            if c not in WHITESPACE:
                words.append(c)
        else:
            cur.append(c)
    if cur:
        words.append("".join(cur))
    return words


_WHITESPACE_SPLIT = re.compile(r"\w+|[^\w\s]+")


def whitespace_split(text: str) -> list[str]:
    r"""Runs of word characters and runs of other non-space characters (``\w+|[^\w\s]+``)."""
    return _WHITESPACE_SPLIT.findall(text)


def _cls(c: str) -> str:
    if c in WHITESPACE:
        return "s"
    cat = unicodedata.category(c)[0]
    return cat if cat in "LN" else "o"


_CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")


def gpt2_split(text: str) -> list[str]:
    r"""GPT-2's pattern ``'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|``
    ``\s+(?!\S)|\s+``, scanned alternative by alternative (letters: category L*,
    numbers: N*, whitespace: ``White_Space``)."""
    kinds = [_cls(c) for c in text]
    n, i, out = len(text), 0, []
    while i < n:
        if text[i] == "'":
            tail = next((t for t in _CONTRACTIONS if text.startswith(t, i + 1)), None)
            if tail is not None:
                out.append(text[i : i + 1 + len(tail)])
                i += 1 + len(tail)
                continue
        j = i + 1 if text[i] == " " and i + 1 < n and kinds[i + 1] != "s" else i
        if kinds[j] != "s":
            k = j + 1
            while k < n and kinds[k] == kinds[j]:
                k += 1
            out.append(text[i:k])
            i = k
            continue
        k = i
        while k < n and kinds[k] == "s":
            k += 1
        if k < n and k - 1 > i:
            k -= 1
        out.append(text[i:k])
        i = k
    return out


@lru_cache(maxsize=1)
def byte_alphabet() -> dict[int, str]:
    """GPT-2's ``bytes_to_unicode``: printable bytes map to themselves, the rest to 256+."""
    keep = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def to_byte_symbols(word: str) -> str:
    """The UTF-8 bytes of ``word`` written in GPT-2's byte alphabet."""
    table = byte_alphabet()
    return "".join(table[b] for b in word.encode("utf-8"))
