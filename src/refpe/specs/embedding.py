"""Registry entries of :mod:`refpe.embedding`: cases and error models (forward-error analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..embedding import token_lookup, token_one_hot
from ..registry import FLOAT_DTYPES, Case, Erratum, ErrorModel, Spec, register


def _cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(0)
    table = rng.standard_normal((10, 8))
    ids = rng.integers(0, 10, size=(2, 5))
    ends = np.array([0, 9, 9, 0])
    return (
        Case("batch of ids", {"ids": ids, "table": table}),
        Case("scaled by sqrt(d)", {"ids": ids, "table": table, "scale": math.sqrt(8)}),
        Case("first and last row", {"ids": ends, "table": table}, edge=True),
        Case("0-d id", {"ids": np.array(3), "table": table}, edge=True),
        Case("empty ids", {"ids": np.zeros((0,), dtype=np.int64), "table": table}, edge=True),
        Case(
            "one-row table", {"ids": np.zeros((3,), dtype=np.int64), "table": table[:1]}, edge=True
        ),
        Case("tiny and huge values", {"ids": ends, "table": table * 1e-30}, edge=True),
        Case(
            "id out of range",
            {"ids": np.array([1, 10]), "table": table},
            edge=True,
            raises=IndexError,
        ),
        Case("negative id", {"ids": np.array([-1]), "table": table}, edge=True, raises=IndexError),
    )


def _scale_bound(inputs: Any, exact: Any, dtype: str) -> Any:
    """Bit-exact without ``scale``; one rounding of the product (and of ``scale``) with it."""
    return np.abs(exact) if inputs.get("scale") is not None else np.zeros_like(exact)


_ERROR = ErrorModel(
    K=dict.fromkeys(FLOAT_DTYPES, 1),
    scale=_scale_bound,
    text="bit-exact without scale; with scale one rounding of the product and of scale itself",
)
_TERMS = ("词嵌入", "嵌入矩阵", "静态编码", "初始词向量")

register(
    Spec(
        id="token-lookup",
        title="Token embedding lookup",
        latex=r"\mathrm{out}[s,:] = c\,W[\mathrm{ids}[s],:]",
        sources=("seed 000 §3.1", "seed 004 §1", "seed 003 §4.2.1", "Vaswani et al. 2017 §3.4"),
        function=token_lookup,
        domain={"ids": "integers in [0, V), any shape", "table": "(V, d) float", "scale": "finite"},
        cases=_cases(),
        error=_ERROR,
        invariants=("bit-exact gather", "padding_idx rows read as zeros"),
        terms=_TERMS,
        section="1",
        explanation="Each token id picks one row of the embedding matrix.",
        float_args=("table",),
        dtypes=FLOAT_DTYPES,
    ),
    Spec(
        id="token-one-hot",
        title="Token embedding as a one-hot product",
        latex=r"\mathrm{out}[s,:] = c\,\mathrm{onehot}(\mathrm{ids}[s], V)\,W",
        sources=("seed 003 §4.2.1",),
        function=token_one_hot,
        domain={"ids": "integers in [0, V), any shape", "table": "(V, d) finite float"},
        cases=_cases(),
        error=_ERROR,
        invariants=("equals token-lookup bit for bit",),
        errata=(
            Erratum(
                seed="003 §4.2.1",
                seed_does="假设输入单词的维度为d ... Word_Embedding = W · X: the input word X "
                "is said to have the embedding's dimension d",
                refpe_does="X = onehot(id, V) has V entries; d is the output width; "
                "the row form onehot(id, V) W with W of shape (V, d)",
                why="a one-hot input has one entry per vocabulary word (Mikolov et al. 2013); "
                "W · X with W of shape (d, V) is the same product transposed",
            ),
        ),
        terms=_TERMS,
        section="1",
        explanation="The same lookup written as a matrix product of one-hot vectors with W.",
        float_args=("table",),
        dtypes=FLOAT_DTYPES,
    ),
)
