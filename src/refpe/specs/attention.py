"""Registry entries of :mod:`refpe.attention`: cases and error models (forward-error analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..attention import attention_weights, attn_sdpa, attn_seed_simplified, softmax
from ..registry import Case, Erratum, ErrorModel, Spec, register
from ._cases import TINY, normal


def _softmax_condition(terms: np.ndarray, p: np.ndarray) -> np.ndarray:
    r"""``1 + 2 max_l |s|_l`` over the seen keys.

    A score with absolute error :math:`\epsilon |s|_l` changes each softmax weight by a
    relative :math:`2 \epsilon \max_l |s|_l` at most.
    """
    return 1.0 + 2.0 * np.max(np.where(p > 0, terms, 0.0), axis=-1, keepdims=True)


def _seed_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    E, W, b = (np.asarray(inputs[n], dtype=np.float64) for n in ("E", "W", "b"))
    c1, c2, c3 = (abs(float(ci)) for ci in inputs.get("c", (1.0, 1.0, 1.0)))
    w = softmax(E @ W.T + b, _np())
    cond = _softmax_condition(np.abs(E) @ np.abs(W).T + np.abs(b), w)
    a = np.sum(w * np.abs(E) * cond, axis=-2, keepdims=True)
    v = np.sum(np.abs(E), axis=-2, keepdims=True)
    if inputs.get("exclude_self", False):
        v = v + np.abs(E)
    return np.maximum(c1 * w * cond + c2 * a + c3 * v, TINY)


def _sdpa_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    q, k, v = (np.asarray(inputs[n], dtype=np.float64) for n in ("q", "k", "v"))
    kw = {n: inputs.get(n) for n in ("key_padding_mask", "bias", "scale")}
    p = attention_weights(
        q, k, inputs.get("causal", False), kw["key_padding_mask"], kw["bias"], kw["scale"], _np()
    )
    scale = kw["scale"] if kw["scale"] is not None else 1.0 / math.sqrt(q.shape[-1])
    terms = (np.abs(q) @ np.abs(np.swapaxes(k, -1, -2))) * abs(scale)
    if kw["bias"] is not None:
        terms = terms + np.where(np.isfinite(kw["bias"]), np.abs(kw["bias"]), 0.0)
    return np.maximum(_softmax_condition(terms, p) * (p @ np.abs(v)), TINY)


def _np() -> Any:
    import array_api_compat.numpy as xp

    return xp


_SEED_CASES = (
    Case("n5-d4", {"E": normal(1, 5, 4), "W": normal(2, 4, 4), "b": normal(3, 4)}),
    Case("batch2-n3-d6", {"E": normal(4, 2, 3, 6), "W": normal(5, 6, 6), "b": normal(6, 6)}),
    Case(
        "coefficients",
        {"E": normal(7, 4, 3), "W": normal(8, 3, 3), "b": normal(9, 3), "c": (0.5, -1.0, 2.0)},
    ),
    Case(
        "exclude-self",
        {"E": normal(10, 4, 3), "W": normal(11, 3, 3), "b": normal(12, 3), "exclude_self": True},
        edge=True,
        note="seed 002 §3 step 3's reading: v sums the other positions",
    ),
    Case(
        "one-position",
        {"E": normal(13, 1, 4), "W": normal(14, 4, 4), "b": normal(15, 4)},
        edge=True,
    ),
    Case(
        "worked-example",
        {"E": np.eye(2), "W": np.zeros((2, 2)), "b": np.zeros(2)},
        edge=True,
        note="h_1 = h_2 = (2, 2)",
    ),
)

_PAD = np.array([[False, False, False, True], [False, True, True, True]])
_SDPA_CASES = (
    Case(
        "b2-h2-t4-d8",
        {"q": normal(20, 2, 2, 4, 8), "k": normal(21, 2, 2, 4, 8), "v": normal(22, 2, 2, 4, 8)},
    ),
    Case(
        "causal",
        {
            "q": normal(23, 2, 2, 5, 4),
            "k": normal(24, 2, 2, 5, 4),
            "v": normal(25, 2, 2, 5, 4),
            "causal": True,
        },
    ),
    Case(
        "key-padding",
        {
            "q": normal(26, 2, 2, 4, 4),
            "k": normal(27, 2, 2, 4, 4),
            "v": normal(28, 2, 2, 4, 4),
            "key_padding_mask": _PAD,
        },
    ),
    Case(
        "bias",
        {
            "q": normal(29, 1, 3, 4, 4),
            "k": normal(30, 1, 3, 4, 4),
            "v": normal(31, 1, 3, 4, 4),
            "bias": normal(32, 3, 4, 4),
        },
    ),
    Case(
        "cross-causal-tq3-tk5",
        {
            "q": normal(33, 1, 2, 3, 4),
            "k": normal(34, 1, 2, 5, 4),
            "v": normal(35, 1, 2, 5, 6),
            "causal": True,
        },
        edge=True,
        note="top-left alignment: query i sees keys 0..i",
    ),
    Case(
        "row-sees-no-key",
        {
            "q": normal(36, 2, 1, 3, 4),
            "k": normal(37, 2, 1, 3, 4),
            "v": normal(38, 2, 1, 3, 4),
            "key_padding_mask": np.array([[False, True, False], [True, True, True]]),
        },
        edge=True,
        note="batch 1 has every key padded: its output is zeros",
    ),
    Case(
        "large-scores",
        {
            "q": normal(39, 1, 1, 4, 4, scale=6.0),
            "k": normal(40, 1, 1, 4, 4, scale=6.0),
            "v": normal(41, 1, 1, 4, 4),
        },
        edge=True,
        note="scores up to ~100: the max shift keeps exp finite",
    ),
    Case(
        "explicit-scale",
        {
            "q": normal(42, 1, 2, 3, 4),
            "k": normal(43, 1, 2, 3, 4),
            "v": normal(44, 1, 2, 3, 4),
            "scale": 0.5,
        },
        edge=True,
    ),
    Case(
        "bad-mask-shape",
        {
            "q": normal(45, 2, 1, 3, 4),
            "k": normal(46, 2, 1, 3, 4),
            "v": normal(47, 2, 1, 3, 4),
            "key_padding_mask": np.zeros((3, 3), dtype=bool),
        },
        edge=True,
        raises=ValueError,
    ),
)

register(
    Spec(
        id="attn-seed-simplified",
        title="Seed 002's simplified self-attention",
        latex=(
            r"w_i = \operatorname{softmax}(W E_i + b),\; a = \sum_j w_j \odot E_j,\;"
            r" v = \sum_j E_j,\; h_i = c_1 w_i + c_2 a + c_3 v"
        ),
        sources=("seed 002 §3–4",),
        function=attn_seed_simplified,
        domain={
            "E": "float (..., n, d)",
            "W": "float (d, d)",
            "b": "float (d,)",
            "c": "three scalars",
            "exclude_self": "bool: v_i sums j != i (seed 002 §3's text)",
        },
        cases=_SEED_CASES,
        invariants=(
            "each w_i is a probability vector over the d features (sums to 1)",
            "a and v are the same for every position i",
            "with c = (1, 0, 0) the output is softmax(W E_i + b)",
            "exclude_self=True equals the default minus c3 * E_i",
        ),
        errata=(
            Erratum(
                seed="002 §3 step 3 vs §4",
                seed_does="the text says v_i sums the embeddings of the other positions; "
                "the formula v_i = sum_{j=1}^n E_j sums all of them",
                refpe_does="follows the formula; exclude_self=True gives the text's reading",
                why="the formula (seed 002 §4) is the precise statement; the text's variant "
                "stays available",
            ),
        ),
        terms=("自注意力机制", "注意力权重", "可加性向量", "加法向量"),
        section="4",
        explanation=(
            "Seed 002's own formula: each position gets softmax weights over its features, and "
            "every position receives the same two sums. It is not scaled dot-product attention."
        ),
        float_args=("E", "W", "b"),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_seed_scale,
            text=(
                "scale = |c1| w_i (1 + 2 max|z_i|) + |c2| sum_j w_j |E_j| (1 + 2 max|z_j|) + "
                "|c3| sum_j |E_j|, with |z| = |W||E| + |b| the absolute terms of the softmax "
                "input: the softmax turns an absolute score error into a relative weight error"
            ),
        ),
    ),
    Spec(
        id="attn-sdpa",
        title="Scaled dot-product attention",
        latex=(r"O = \operatorname{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + B + M\right) V"),
        sources=("seed 002 §2, §5", "Vaswani et al. 2017, §3.2"),
        function=attn_sdpa,
        domain={
            "q": "float (..., H, T_q, d_k)",
            "k": "float (..., H, T_k, d_k)",
            "v": "float (..., H, T_k, d_v)",
            "causal": "bool: key j hidden from query i when j > i (top-left aligned)",
            "key_padding_mask": "bool (..., T_k), True = padded key (hidden)",
            "bias": "float, broadcasts to (..., H, T_q, T_k); -inf hides",
            "scale": "float, default 1/sqrt(d_k)",
        },
        cases=_SDPA_CASES,
        invariants=(
            "each row of the weights is a probability vector over the seen keys",
            "a query row that sees no key gives zeros",
            "causal: changing keys/values after position i does not change output i",
            "adding a constant to every score of a row changes nothing",
            "multi_head_attention with identity projections equals attn_sdpa on the split heads",
        ),
        errata=(
            Erratum(
                seed="002 §2",
                seed_does="编码器通常是自回归模型: an encoder is said to be autoregressive, "
                "each position depending only on the earlier ones",
                refpe_does="causal=False by default (an encoder: every query sees every key); "
                "causal=True hides later keys (a decoder)",
                why="Vaswani et al. 2017 §3.2.3: encoder self-attention sees all positions, "
                "only the decoder masks; BERT (Devlin et al. 2019) is a bidirectional encoder",
            ),
        ),
        terms=("自注意力机制", "注意力权重", "多头注意力"),
        section="4",
        explanation=(
            "Each query mixes the values with weights from its similarity to every key it may "
            "see; masks hide keys (the future, padding), a bias shifts scores (ALiBi, T5)."
        ),
        float_args=("q", "k", "v", "bias"),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_sdpa_scale,
            text=(
                "scale_ic = (1 + 2 max_j S_ij) * sum_j p_ij |v_jc|, S_ij = |q_i| . |k_j| * scale + "
                "|B_ij| over the seen keys: the weighted sum's absolute terms, times the softmax's "
                "amplification of the score error"
            ),
        ),
    ),
)
