"""Tokenisers, as far as they decide the ids (seed 004 §4, 分词方式对初始向量的影响).

:class:`CharTokenizer` (one token per code point, spec ``tok-char``), :class:`WordPiece`
(BERT, spec ``tok-wordpiece``) and :class:`BPE` (GPT-2 style ranked merges, spec
``tok-bpe``), each with ``tokenize(text) -> list[str]`` and ``encode(text) -> list[int]``.
The functions :func:`tok_char`, :func:`tok_wordpiece` and :func:`tok_bpe` give the ids as
an integer array (what the conformance suite compares).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from ._compat import default_namespace
from ._tokenize_text import (
    WHITESPACE,
    bert_normalize,
    bert_split,
    gpt2_split,
    to_byte_symbols,
    whitespace_split,
)

__all__ = ["BPE", "CharTokenizer", "WordPiece", "tok_bpe", "tok_char", "tok_wordpiece"]

Vocab = Mapping[str, int] | Sequence[str]


def _vocab(vocab: Vocab) -> dict[str, int]:
    if isinstance(vocab, str):
        raise TypeError("vocab must be a mapping token -> id or a sequence of tokens, got a str")
    if isinstance(vocab, Mapping):
        out = dict(vocab)
        for t, i in out.items():
            if not isinstance(t, str) or isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ValueError(f"vocab entries must be str -> int >= 0, got {t!r} -> {i!r}")
        return out
    out = {}
    for i, t in enumerate(vocab):
        if not isinstance(t, str):
            raise ValueError(f"vocab[{i}] must be a str, got {t!r}")
        out.setdefault(t, i)
    return out


def _require(vocab: dict[str, int], token: str | None, name: str) -> None:
    if token is not None and token not in vocab:
        raise ValueError(f"{name} {token!r} is not in the vocabulary")


def _split_specials(text: str, specials: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut around special tokens (longest first): ``(piece, is_special)``."""
    order = sorted(set(specials), key=len, reverse=True)
    out: list[tuple[str, bool]] = []
    i = start = 0
    while i < len(text):
        hit = next((s for s in order if s and text.startswith(s, i)), None)
        if hit is None:
            i += 1
            continue
        if start < i:
            out.append((text[start:i], False))
        out.append((hit, True))
        i = start = i + len(hit)
    if start < len(text):
        out.append((text[start:], False))
    return out


class _Tokenizer:
    vocab: dict[str, int]
    unk: str | None
    specials: tuple[str, ...]

    def _pieces(self, text: str) -> list[str]:
        raise NotImplementedError

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (special tokens in the text are kept whole)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        out: list[str] = []
        for piece, special in _split_specials(text, self.specials):
            out += [piece] if special else self._pieces(piece)
        return out

    def encode(self, text: str) -> list[int]:
        """The ids of :meth:`tokenize`'s tokens; unknown tokens get the ``unk`` id."""
        ids = []
        for i, t in enumerate(self.tokenize(text)):
            j = self.vocab.get(t)
            if j is None:
                if self.unk is None:
                    raise ValueError(
                        f"token {t!r} (token {i} of text) is not in the vocabulary and no "
                        "unk token is set"
                    )
                j = self.vocab[self.unk]
            ids.append(j)
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids``; ``ValueError`` naming an id that is not in the vocabulary."""
        inv = getattr(self, "_inverse", None)
        if inv is None:
            inv = self._inverse = {i: t for t, i in self.vocab.items()}
        out = []
        for k, i in enumerate(ids):
            if i not in inv:
                raise ValueError(f"ids[{k}] = {i!r} is not an id of the vocabulary")
            out.append(inv[i])
        return out


class CharTokenizer(_Tokenizer):
    r"""One token per Unicode code point (字符级分词), with special tokens and ``[UNK]``.

    .. math::

        \mathrm{ids}(c_1 c_2 \dots c_n) = (\mathrm{id}(c_1), \dots, \mathrm{id}(c_n)),
        \quad \mathrm{id}(c) = \mathrm{id}(\texttt{[UNK]})\ \text{if}\ c \notin V

    Source: seed 004 §4 (字符级分词: 每个字符单独向量化, 适用于中文等无空格语言).
    Special tokens (default: those of ``[PAD] [UNK] [CLS] [SEP] [MASK]`` in the vocabulary)
    are matched in the text first, longest first. Whitespace characters are dropped unless
    ``keep_whitespace``. Code points are not normalised: "é" precomposed and "e" + U+0301
    are different texts.
    """

    DEFAULT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

    def __init__(
        self,
        vocab: Vocab,
        *,
        unk: str | None = "[UNK]",
        specials: Sequence[str] | None = None,
        keep_whitespace: bool = False,
    ) -> None:
        self.vocab = _vocab(vocab)
        _require(self.vocab, unk, "unk")
        if specials is None:
            specials = [s for s in self.DEFAULT_SPECIALS if s in self.vocab]
        for s in specials:
            _require(self.vocab, s, "special token")
        self.unk, self.specials, self.keep_whitespace = unk, tuple(specials), keep_whitespace

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], *, specials: Sequence[str] = DEFAULT_SPECIALS, **kw: Any
    ) -> CharTokenizer:
        """A vocabulary of ``specials`` then every character of ``texts`` in first-seen order."""
        vocab: dict[str, int] = {}
        for s in specials:
            vocab.setdefault(s, len(vocab))
        for text in texts:
            for c in text:
                if c not in WHITESPACE or kw.get("keep_whitespace"):
                    vocab.setdefault(c, len(vocab))
        return cls(vocab, specials=specials, **kw)

    def _pieces(self, text: str) -> list[str]:
        return [c for c in text if self.keep_whitespace or c not in WHITESPACE]


class WordPiece(_Tokenizer):
    r"""BERT's WordPiece: basic tokeniser, then greedy longest-match-first sub-words.

    For each word :math:`w = c_1 \dots c_n` of the basic tokeniser, from :math:`s = 1`:
    take the longest :math:`c_s \dots c_e` in the vocabulary (written ``##c_s...c_e`` when
    :math:`s > 1`), continue at :math:`e + 1`.

    .. math::

        \mathrm{piece}(s) = \operatorname*{arg\,max}_{e}\,\{\, e : p_s\, c_s \dots c_e \in V \},
        \quad p_s = \begin{cases} \varepsilon & s = 1 \\ \mathtt{\#\#} & s > 1\end{cases}

    If some position has no piece, or :math:`n >` ``max_chars`` (100), the whole word is
    ``[UNK]``.

    The basic tokeniser (Devlin et al., 2019; Hugging Face ``BertNormalizer`` +
    ``BertPreTokenizer``): drop NUL, U+FFFD and control characters and turn whitespace
    into spaces (``clean_text``); put spaces around CJK characters (``chinese_chars``);
    strip accents (NFD, drop Mn; by default when ``lowercase``); lower-case each code
    point; split on whitespace and around every punctuation character. Special tokens in
    the text (``[CLS]``, ``[SEP]``, ``[MASK]``, ... of the vocabulary) are kept whole.

    Source: seed 004 §4 (WordPiece (BERT): "unhappy" → ["un", "##happy"]). Seed 004 §4
    also says WordPiece "may split 深度学习 into [深, 度学, 习]": with BERT's basic
    tokeniser every CJK character is a word of its own, so refpe (like BERT) gives
    [深, 度, 学, 习]; with ``chinese_chars=False`` a CJK run is one word and the greedy
    match decides, continuation pieces then carry the ``##`` prefix (深, ##度学, ##习).

    Precision: exact (the tests check the ids against Hugging Face ``tokenizers`` on a
    BERT vocabulary); character categories come from Python's ``unicodedata``.
    """

    def __init__(
        self,
        vocab: Vocab,
        *,
        unk: str = "[UNK]",
        prefix: str = "##",
        max_chars: int = 100,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        clean_text: bool = True,
        chinese_chars: bool = True,
        specials: Sequence[str] | None = None,
        cls_token: str = "[CLS]",
        sep_token: str = "[SEP]",
    ) -> None:
        self.vocab = _vocab(vocab)
        _require(self.vocab, unk, "unk")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars must be an int >= 1, got {max_chars!r}")
        if specials is None:
            specials = [s for s in CharTokenizer.DEFAULT_SPECIALS if s in self.vocab]
        for s in specials:
            _require(self.vocab, s, "special token")
        self.unk, self.prefix, self.max_chars, self.specials = (
            unk,
            prefix,
            max_chars,
            tuple(specials),
        )
        self.cls_token, self.sep_token = cls_token, sep_token
        self.options = dict(
            clean_text=clean_text,
            chinese_chars=chinese_chars,
            strip_accents=lowercase if strip_accents is None else strip_accents,
            lowercase=lowercase,
        )

    @classmethod
    def from_vocab_file(cls, path: str | os.PathLike, **kw: Any) -> WordPiece:
        """BERT's ``vocab.txt``: one token per line (UTF-8), the id is the line number."""
        with open(path, encoding="utf-8") as f:
            tokens = [line.rstrip("\r\n") for line in f]
        vocab = {t: i for i, t in enumerate(tokens)}
        return cls(vocab, **kw)

    def basic(self, text: str) -> list[str]:
        """The words of BERT's basic tokeniser (normalise, split on space and punctuation)."""
        return bert_split(bert_normalize(text, **self.options))

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first pieces of one word, or ``[unk]``."""
        if len(word) > self.max_chars:
            return [self.unk]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = (self.prefix if start else "") + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return [self.unk]
            pieces.append(piece)
            start = end
        return pieces

    def _pieces(self, text: str) -> list[str]:
        return [p for w in self.basic(text) for p in self.wordpiece(w)]

    def encode(self, text: str, *, add_special_tokens: bool = False) -> list[int]:
        """Token ids; ``add_special_tokens`` wraps them as ``[CLS] ... [SEP]`` like BERT."""
        ids = super().encode(text)
        if add_special_tokens:
            _require(self.vocab, self.cls_token, "cls_token")
            _require(self.vocab, self.sep_token, "sep_token")
            ids = [self.vocab[self.cls_token], *ids, self.vocab[self.sep_token]]
        return ids


PRE_TOKENIZERS = ("whitespace", "space", "byte-level")


class BPE(_Tokenizer):
    r"""Byte-pair encoding with ranked merges (GPT-2 style).

    A word starts as its characters (or, with ``pre_tokenizer="byte-level"``, its UTF-8
    bytes in GPT-2's byte alphabet). While some adjacent pair is a merge, the pair of
    lowest rank :math:`r(a, b)` (its line in ``merges``) is merged everywhere in the
    word, left to right:

    .. math::

        (a^*, b^*) = \operatorname*{arg\,min}_{(x_i, x_{i+1})} r(x_i, x_{i+1}),\qquad
        \dots a^* b^* \dots \ \to\ \dots (a^* b^*) \dots

    Source: seed 004 §4 (BPE (GPT): 通过统计合并高频子词); Sennrich et al. (2016);
    Radford et al. (2019) for the byte-level pre-tokeniser.

    ``merges``: pairs ``(a, b)`` or ``"a b"`` strings, highest priority first, as
    trained (each merge's parts exist before it). ``vocab``: token -> id. Pre-tokenisers:
    ``"whitespace"`` (``\w+|[^\w\s]+``, Hugging Face's ``Whitespace``), ``"space"``
    (split on whitespace) or ``"byte-level"`` (GPT-2's pattern, then bytes; with
    ``add_prefix_space`` a space is put before the text). A character that is not in the
    vocabulary becomes ``unk`` (an error when ``unk`` is None; Hugging Face drops it).
    """

    def __init__(
        self,
        merges: Iterable[tuple[str, str] | str],
        vocab: Vocab,
        *,
        unk: str | None = None,
        pre_tokenizer: str = "whitespace",
        add_prefix_space: bool = False,
        specials: Sequence[str] = (),
    ) -> None:
        self.vocab = _vocab(vocab)
        _require(self.vocab, unk, "unk")
        if pre_tokenizer not in PRE_TOKENIZERS:
            raise ValueError(
                f"pre_tokenizer must be one of {PRE_TOKENIZERS}, got {pre_tokenizer!r}"
            )
        self.ranks: dict[tuple[str, str], int] = {}
        for r, m in enumerate(merges):
            pair = tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
            if len(pair) != 2 or not all(isinstance(p, str) and p for p in pair):
                raise ValueError(f"merges[{r}] must be a pair of tokens, got {m!r}")
            for t in (*pair, pair[0] + pair[1]):
                if t not in self.vocab:
                    raise ValueError(f"merges[{r}] = {m!r}: {t!r} is not in the vocabulary")
            self.ranks.setdefault(pair, r)
        for s in specials:
            _require(self.vocab, s, "special token")
        self.unk, self.specials = unk, tuple(specials)
        self.pre_tokenizer, self.add_prefix_space = pre_tokenizer, add_prefix_space

    def words(self, text: str) -> list[str]:
        """The pre-tokeniser's words (byte-level: already in the byte alphabet)."""
        if self.pre_tokenizer == "whitespace":
            return whitespace_split(text)
        if self.pre_tokenizer == "space":
            return "".join(" " if c in WHITESPACE else c for c in text).split()
        if self.add_prefix_space and text and not text.startswith(" "):
            text = " " + text
        return [to_byte_symbols(w) for w in gpt2_split(text)]

    def merge(self, word: str) -> list[str]:
        """The symbols of ``word`` after applying the merges (unknown characters: ``unk``)."""
        syms = [c if c in self.vocab or self.unk is None else self.unk for c in word]
        while len(syms) > 1:
            ranked = [(self.ranks[p], i) for i, p in enumerate(pairwise(syms)) if p in self.ranks]
            if not ranked:
                break
            a, b = syms[min(ranked)[1]], syms[min(ranked)[1] + 1]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return syms

    def _pieces(self, text: str) -> list[str]:
        return [s for w in self.words(text) for s in self.merge(w)]


def _ids(ids: list[int], xp: Any, device: Any) -> Any:
    xp = default_namespace(xp)
    integer = xp.__array_namespace_info__().default_dtypes(device=device)["integral"]
    return xp.asarray(ids, dtype=integer, device=device)


def tok_char(
    text: str,
    vocab: Vocab,
    *,
    unk: str | None = "[UNK]",
    specials: Sequence[str] | None = None,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""Character-level ids of ``text`` as an integer array of ``xp`` on ``device``.

    .. math::

        \mathrm{ids}_k = \mathrm{id}(c_k)\ \text{for each code point}\ c_k\ \text{(not
        whitespace)},\ \text{else}\ \mathrm{id}(\texttt{[UNK]})

    Source: seed 004 §4 (字符级分词). Precision: exact (integers); ``dtype`` is accepted
    for the suite's creating-function protocol and does not apply to ids.
    """
    return _ids(CharTokenizer(vocab, unk=unk, specials=specials).encode(text), xp, device)


def tok_wordpiece(
    text: str,
    vocab: Vocab,
    *,
    lowercase: bool = True,
    max_chars: int = 100,
    chinese_chars: bool = True,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""BERT WordPiece ids of ``text`` (see :class:`WordPiece`) as an integer array.

    .. math::

        \mathrm{ids} = \mathrm{id}\big(\mathrm{wordpiece}(\mathrm{basic}(text))\big)

    Source: seed 004 §4 (WordPiece, BERT). Precision: exact (integers); ``dtype`` does not
    apply to ids.
    """
    tok = WordPiece(vocab, lowercase=lowercase, max_chars=max_chars, chinese_chars=chinese_chars)
    return _ids(tok.encode(text), xp, device)


def tok_bpe(
    text: str,
    merges: Sequence[tuple[str, str] | str],
    vocab: Vocab,
    *,
    unk: str | None = None,
    pre_tokenizer: str = "whitespace",
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""BPE ids of ``text`` (see :class:`BPE`) as an integer array.

    .. math::

        \mathrm{ids} = \mathrm{id}\big(\mathrm{merge}^{*}(\mathrm{pre}(text))\big)

    Source: seed 004 §4 (BPE, GPT). Precision: exact (integers); ``dtype`` does not apply
    to ids.
    """
    tok = BPE(merges, vocab, unk=unk, pre_tokenizer=pre_tokenizer)
    return _ids(tok.encode(text), xp, device)
