"""Registry entries of ``tok-char``, ``tok-wordpiece`` and ``tok-bpe``."""

from __future__ import annotations

from ..registry import Case, Erratum, ErrorModel, Spec, register
from ..tokenize import tok_bpe, tok_char, tok_wordpiece

_IDS = ErrorModel(
    K={"float64": 0, "float32": 0},
    text="exact: ids are integers and must be equal",
)
_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_CHARS = [*_SPECIALS, "深", "度", "学", "习", "是", "的", "a", "b", "!"]
_WORDPIECE = [
    *_SPECIALS,
    *"深度学习!,.",
    "un",
    "##happy",
    "happy",
    "play",
    "##ing",
    "##s",
    "naive",
    "the",
    "##a",
]
_BPE_MERGES = [("l", "o"), ("lo", "w"), ("e", "r"), ("low", "er"), ("e", "s"), ("es", "t")]
_BPE_VOCAB = ["[UNK]", *"lowerstn", "lo", "low", "er", "lower", "es", "est"]


common = dict(error=_IDS, creates=True, dtypes=("float32",), section="5. Tokenisation")
register(
    Spec(
        id="tok-char",
        title="Character-level tokenisation",
        latex=r"\mathrm{ids}_k = \mathrm{id}(c_k),\ \mathrm{id}(c) = "
        r"\mathrm{id}(\texttt{[UNK]})\ \text{for}\ c \notin V",
        sources=("seed 004 §4",),
        function=tok_char,
        domain={"text": "any str", "vocab": "token -> id, or a token list"},
        cases=(
            Case("chinese", {"text": "深度学习是深度的", "vocab": _CHARS}),
            Case("mixed with specials", {"text": "[CLS]深度 ab![SEP]", "vocab": _CHARS}),
            Case("unknown characters", {"text": "深😀x度", "vocab": _CHARS}, edge=True),
            Case("empty", {"text": "", "vocab": _CHARS}, edge=True),
        ),
        invariants=(
            "one id per non-whitespace code point (special tokens count as one)",
            "an unknown character maps to the [UNK] id",
        ),
        terms=("字符级分词", "分词"),
        explanation=(
            "Each character is its own token, the usual choice for Chinese text, which "
            "has no spaces between words. Characters missing from the vocabulary become "
            "[UNK]."
        ),
        **common,
    ),
    Spec(
        id="tok-wordpiece",
        title="WordPiece (BERT)",
        latex=r"\mathrm{piece}(s) = \operatorname*{arg\,max}_e \{ e : p_s\,c_s..c_e \in V \},"
        r"\ p_1 = \varepsilon,\ p_{s>1} = \mathtt{\#\#}",
        sources=("seed 004 §4", "Devlin et al. 2019 (BERT)", "Wu et al. 2016 (GNMT)"),
        function=tok_wordpiece,
        domain={"text": "any str", "vocab": "BERT vocab (token -> id)", "max_chars": ">= 1"},
        cases=(
            Case("unhappy", {"text": "Unhappy playing!", "vocab": _WORDPIECE}),
            Case("chinese characters split", {"text": "深度学习", "vocab": _WORDPIECE}),
            Case("accents stripped", {"text": "Naïve, the", "vocab": _WORDPIECE}),
            Case("no split: [UNK]", {"text": "happyx unplay", "vocab": _WORDPIECE}, edge=True),
            Case(
                "word longer than max_chars",
                {"text": "un" * 51 + " happy", "vocab": _WORDPIECE},
                edge=True,
            ),
            Case("cased", {"text": "Unhappy", "vocab": _WORDPIECE, "lowercase": False}, edge=True),
        ),
        invariants=(
            "pieces of a word concatenate (without ##) to the word, or the word is [UNK]",
            "each piece is the longest vocabulary match at its position",
            "CJK characters, punctuation and whitespace always end a word",
        ),
        errata=(
            Erratum(
                seed="004 §4",
                seed_does="says WordPiece may split 深度学习 into [深, 度学, 习]",
                refpe_does="[深, 度, 学, 习]: BERT's basic tokeniser makes every CJK "
                "character a word; continuation pieces would be written ##度学",
                why="BERT (Devlin et al. 2019; every WordPiece using its basic tokeniser) "
                "isolates CJK characters before WordPiece runs",
            ),
        ),
        terms=("分词", "子词", "WordPiece"),
        explanation=(
            "BERT cleans the text, lower-cases it, strips accents and splits it into words "
            "and punctuation; then each word is cut greedily into the longest pieces found "
            "in the vocabulary ('unhappy' becomes 'un', '##happy'). A word that cannot be "
            "cut, or is longer than 100 characters, becomes [UNK]."
        ),
        **common,
    ),
    Spec(
        id="tok-bpe",
        title="Byte-pair encoding (ranked merges)",
        latex=r"(a^*, b^*) = \operatorname*{arg\,min}_{i} r(x_i, x_{i+1}),\ "
        r"a^* b^* \to (a^* b^*)\ \text{until no pair is a merge}",
        sources=("seed 004 §4", "Sennrich et al. 2016", "Radford et al. 2019 (GPT-2)"),
        function=tok_bpe,
        domain={
            "text": "any str",
            "merges": "ranked pairs, as trained",
            "vocab": "token -> id containing every merge's parts and result",
        },
        cases=(
            Case(
                "low lower lowest",
                {"text": "low lower lowest", "merges": _BPE_MERGES, "vocab": _BPE_VOCAB},
            ),
            Case(
                "unknown character",
                {
                    "text": "slow 😀 newest",
                    "merges": _BPE_MERGES,
                    "vocab": _BPE_VOCAB,
                    "unk": "[UNK]",
                },
                edge=True,
            ),
            Case(
                "no merges apply",
                {"text": "ton", "merges": _BPE_MERGES, "vocab": _BPE_VOCAB},
                edge=True,
            ),
            Case(
                "unknown character without unk",
                {"text": "lowz", "merges": _BPE_MERGES, "vocab": _BPE_VOCAB},
                edge=True,
                raises=ValueError,
            ),
        ),
        invariants=(
            "the symbols of a word concatenate to the word",
            "no adjacent pair of the result is a merge",
            "'low' and 'lower' share the token 'low' (seed 004 §4)",
        ),
        terms=("BPE", "合并高频子词", "分词"),
        explanation=(
            "Byte-pair encoding starts from characters (or bytes) and repeatedly joins the "
            "adjacent pair that ranks highest in the learned list of merges, so frequent "
            "pieces such as 'low' become single tokens shared by 'low' and 'lower'."
        ),
        **common,
    ),
)
