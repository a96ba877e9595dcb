"""Registry entries of :mod:`refpe.inputs`: cases and error models (forward-error analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..inputs import input_add, input_bert
from ..registry import Case, Erratum, ErrorModel, Spec, register
from ._cases import horizon_positions


def _add_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    ids, table, pe = (np.asarray(inputs[k]) for k in ("ids", "table", "pe_table"))
    pos = inputs.get("positions")
    pos = np.arange(ids.shape[-1]) + inputs.get("start", 0) if pos is None else np.asarray(pos)
    word = np.abs(inputs.get("scale", 1.0) * table[ids])
    where = np.abs(pe[np.broadcast_to(pos, ids.shape)])
    if inputs.get("combine", "add") == "concat":
        return np.concatenate([word, where], axis=-1)
    return word + where


def _token_positions(inputs: Any) -> Any:
    """The position of each token (``positions``, else ``start + arange(T)``), broadcastable
    to the output ``(..., T, d)``."""
    ids, pos = np.asarray(inputs["ids"]), inputs.get("positions")
    pos = np.arange(ids.shape[-1]) + inputs.get("start", 0) if pos is None else np.asarray(pos)
    return np.broadcast_to(pos, ids.shape)[..., None]


def _bert_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    ids = np.asarray(inputs["ids"])
    tt = inputs.get("token_type_ids")
    tt = np.zeros_like(ids) if tt is None else np.asarray(tt)
    pos = inputs.get("positions")
    pos = np.arange(ids.shape[-1]) if pos is None else np.asarray(pos)
    terms = (
        np.abs(inputs["word"][ids])
        + np.abs(inputs["position"][np.broadcast_to(pos, ids.shape)])
        + np.abs(inputs["token_type"][tt])
    )
    x = inputs["word"][ids] + inputs["position"][np.broadcast_to(pos, ids.shape)]
    x = x + inputs["token_type"][tt]
    sigma = np.sqrt(np.var(x, axis=-1, keepdims=True) + inputs.get("eps", 1e-12))
    xhat = (x - x.mean(axis=-1, keepdims=True)) / sigma
    spread = np.max(terms, axis=-1, keepdims=True) / sigma
    gamma, beta = np.abs(inputs["gamma"]), np.abs(inputs["beta"])
    return gamma * (1.0 + np.abs(xhat) + spread) + beta


rng = np.random.default_rng(2)
V, L, d = 11, 9, 6
table, pe = rng.standard_normal((V, d)), rng.standard_normal((L, d))
ids = rng.integers(0, V, size=(2, 5))
#: The position sweep: a 4096-row pe_table of width 4 (small arrays) read at log-spaced rows.
far_rows = horizon_positions(2**12 - 1)
far = {
    "ids": rng.integers(0, V, size=(1, len(far_rows))),
    "table": rng.standard_normal((V, 4)),
    "pe_table": rng.standard_normal((2**12, 4)),
    "positions": far_rows,
    "scale": 2.0,
}
bert = {
    "word": rng.standard_normal((V, d)) * 0.02,
    "position": rng.standard_normal((L, d)) * 0.02,
    "token_type": rng.standard_normal((2, d)) * 0.02,
    "gamma": 1.0 + 0.1 * rng.standard_normal(d),
    "beta": 0.1 * rng.standard_normal(d),
}
register(
    Spec(
        id="input-add",
        title="Token embedding plus positional encoding",
        latex=r"x[s,t] = c\,E[\mathrm{ids}[s,t]] + PE[\mathrm{pos}[s,t]]",
        sources=("seed 000 §3.2", "seed 000 §4.2", "seed 003 §4.1", "seed 004 §3"),
        function=input_add,
        domain={"ids": "(..., T) in [0, V)", "table": "(V, d)", "pe_table": "(L, d), L > pos"},
        cases=(
            Case("batch", {"ids": ids, "table": table, "pe_table": pe}),
            Case("scaled", {"ids": ids, "table": table, "pe_table": pe, "scale": math.sqrt(d)}),
            Case(
                "per-row positions",
                {
                    "ids": ids,
                    "table": table,
                    "pe_table": pe,
                    "positions": np.array([[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]]),
                },
            ),
            Case("start 4", {"ids": ids, "table": table, "pe_table": pe, "start": 4}, edge=True),
            Case(
                "concat",
                {"ids": ids, "table": table, "pe_table": pe[:, :3], "combine": "concat"},
                edge=True,
            ),
            Case("positions to 4095", far, edge=True, note="as far as the 4096-row pe_table"),
            Case(
                "sequence past pe_table",
                {"ids": ids, "table": table, "pe_table": pe, "start": 5},
                edge=True,
                raises=IndexError,
            ),
            Case(
                "widths differ",
                {"ids": ids, "table": table, "pe_table": pe[:, :3]},
                edge=True,
                raises=ValueError,
            ),
        ),
        error=ErrorModel(
            K={"float64": 1, "float32": 1.5},
            scale=_add_scale,
            text="roundings of scale, of the product and of the sum: "
            "K eps (|c E| + |PE|), K = 1.5 where scale itself is rounded to the dtype",
        ),
        invariants=("positions default to start + arange(T)",),
        positions=_token_positions,
        errata=(
            Erratum(
                seed="000 §4",
                seed_does="tf.concat([initial_embeddings, position_encoding], axis=0): "
                "stacks the vocabulary table on the position table",
                refpe_does="adds E[ids] and PE[pos] per token; combine='concat' is explicit",
                why="the seed's own formula v_seq[i] = v_word + p_i is a per-token sum, as in "
                "Vaswani et al. 2017 §3.5",
            ),
        ),
        terms=("输入层", "词嵌入", "位置编码"),
        section="3",
        explanation="Each token's vector is its embedding plus the encoding of its position.",
        float_args=("table", "pe_table"),
    ),
    Spec(
        id="input-bert",
        title="BERT embedding layer",
        latex=r"\mathrm{LN}(W_{word}[\mathrm{ids}] + W_{pos}[\mathrm{pos}]"
        r" + W_{type}[\mathrm{tt}])",
        sources=("Devlin et al. 2019 (BertEmbeddings)",),
        function=input_bert,
        domain={"ids": "(..., T)", "word, position, token_type": "(rows, d)", "eps": "> 0"},
        cases=(
            Case("batch", {"ids": ids, **bert}),
            Case(
                "token types",
                {"ids": ids, **bert, "token_type_ids": (ids > 5).astype(np.int64)},
            ),
            Case("positions", {"ids": ids[:1], **bert, "positions": np.array([3, 4, 5, 6, 7])}),
            Case("eps 1e-5", {"ids": ids, **bert, "eps": 1e-5}, edge=True),
            Case(
                "past the table",
                {"ids": ids, **bert, "positions": np.array([5, 6, 7, 8, 9])},
                edge=True,
                raises=IndexError,
            ),
        ),
        error=ErrorModel(
            K={"float64": 4, "float32": 4},
            scale=_bert_scale,
            text="|γ| (1 + |x̂| + max|terms|/σ) + |β|: the sum's rounding, amplified by "
            "1/σ, and the normalisation's",
        ),
        invariants=("before γ and β, each row has mean 0 and variance 1 (up to eps)",),
        terms=("输入层", "层归一化"),
        section="3",
        explanation="BERT adds word, position and segment embeddings, then layer-normalises.",
        float_args=("word", "position", "token_type", "gamma", "beta"),
    ),
)
