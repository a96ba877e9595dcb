"""Registry entries of ``pretrained-formats`` and ``pretrained-align``."""

from __future__ import annotations

import numpy as np

from ..registry import Case, ErrorModel, Spec, register
from ..vectors import pretrained_align, pretrained_formats

_EXACT = ErrorModel(
    K={"float64": 0, "float32": 0},
    text="bit-exact: copies of stored values and seeded draws rounded once to the dtype",
)
_WORDS = ["the", "深度", "学习", "naïve", "😀", "x"]


def _format_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(4)
    typical = rng.standard_normal((6, 5))
    extreme = np.array(
        [
            [0.0, -0.0, 1.401298464324817e-45, -3.4028234663852886e38, 1e-300],
            [5e-324, 1.0, -1.0, 0.1, 1 / 3],
        ]
    )
    cases = []
    for fmt in ("word2vec-text", "word2vec-binary", "glove", "fasttext-vec"):
        cases.append(Case(f"{fmt} typical", {"vectors": typical, "format": fmt, "words": _WORDS}))
        cases.append(
            Case(
                f"{fmt} extremes",
                {"vectors": extreme, "format": fmt},
                edge=True,
                note="signed zero, float32 subnormal and max, float64-only magnitudes",
            )
        )
    cases.append(
        Case(
            "binary without newline",
            {"vectors": typical, "format": "word2vec-binary", "newline": False},
            edge=True,
        )
    )
    cases.append(
        Case("one value", {"vectors": np.array([[2.5]]), "format": "word2vec-text"}, edge=True)
    )
    cases.append(
        Case(
            "word with a space",
            {"vectors": typical[:1], "format": "glove", "words": ["new york"]},
            edge=True,
            raises=ValueError,
        )
    )
    return tuple(cases)


def _align_cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((5, 4))
    words = ["the", "Apple", "深度", "学习", "naïve"]
    vocab = {"[PAD]": 0, "the": 1, "apple": 2, "深度": 3, "模型": 4, "naïve": 5}
    base = {"vocab": vocab, "words": words, "vectors": vectors, "seed": 0}
    return (
        Case("normal init", dict(base, init="normal")),
        Case("case folding", dict(base, init="uniform", casefold=True)),
        Case("truncated normal", dict(base, init="truncated-normal", init_args={"std": 0.5})),
        Case("nothing found", dict(base, vocab=["a", "b", "c"], init="normal"), edge=True),
        Case("zeros", dict(base, init="zeros"), edge=True),
        Case("width mismatch", dict(base, init="normal", dim=8), edge=True, raises=ValueError),
    )


register(
    Spec(
        id="pretrained-formats",
        title="Pretrained word-vector files (word2vec, GloVe, fastText)",
        latex=r"\mathrm{read}(\mathrm{write}(V)) = V \ (\text{text}),\quad "
        r"\mathrm{fl}_{32}(V)\ (\text{word2vec binary})",
        sources=(
            "seed 004 §2",
            "seed 000 §6 (Gensim)",
            "Mikolov et al. 2013 (word2vec.c)",
            "Pennington et al. 2014 (GloVe)",
            "Bojanowski et al. 2017 (fastText)",
        ),
        function=pretrained_formats,
        domain={
            "vectors": "float array (n, d), d >= 1",
            "format": "word2vec-text | word2vec-binary | glove | fasttext-vec",
            "words": "n unique non-empty strings without spaces or newlines",
        },
        cases=_format_cases(),
        error=_EXACT,
        invariants=(
            "write then read returns the same words and bit-identical values "
            "(float32 for word2vec-binary)",
            "a text value is written in the fewest digits that read back to the same float",
            "every malformed file raises VectorFormatError naming the file and line/offset",
        ),
        terms=("预训练词向量", "词向量库", "对齐词汇表"),
        section="1. Token embeddings",
        explanation=(
            "Pretrained vectors (Word2Vec, GloVe, fastText) come as files: a word and its "
            "numbers per row, as text or as raw float32. Loading them must give exactly "
            "the numbers that were saved, and a damaged file must be refused with a clear "
            "message instead of silently producing wrong vectors."
        ),
        float_args=("vectors",),
    ),
    Spec(
        id="pretrained-align",
        title="Aligning pretrained vectors to a vocabulary",
        latex=r"E_t = \begin{cases} \mathbf v_{w(t)} & t \in \text{pretrained} \\ "
        r"\operatorname{init}(V, d; \text{seed})_t & \text{otherwise} \end{cases}",
        sources=("seed 004 §2", "seed 000 §2.2", "seed 000 §3.1"),
        function=pretrained_align,
        domain={
            "vocab": "token -> id with ids 0..V-1, or a list of tokens",
            "words, vectors": "unique pretrained words and their (n, d) vectors",
            "init": "normal | uniform | truncated-normal | zeros, with an explicit seed",
        },
        cases=_align_cases(),
        error=_EXACT,
        invariants=(
            "found rows equal the pretrained vectors bit for bit",
            "OOV rows equal the seeded initialiser's rows (independent of what was found)",
            "report.frozen is True exactly on the found rows",
            "a width mismatch raises; nothing is truncated or padded",
        ),
        terms=("预训练词向量加载", "对齐词汇表", "随机初始化", "冻结", "微调"),
        section="1. Token embeddings",
        explanation=(
            "A model's vocabulary rarely matches a pretrained file's words. Each token that "
            "the file has gets its pretrained vector; the others get random vectors drawn "
            "from a seeded initialiser, and a report says how many were found. The mask of "
            "pretrained rows lets training freeze them (冻结) or fine-tune them (微调)."
        ),
        float_args=("vectors",),
    ),
)
