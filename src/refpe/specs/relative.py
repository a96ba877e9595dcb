"""Registry entries of :mod:`refpe.relative`: cases and error models (forward-error analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..registry import FLOAT_DTYPES, Bound, Case, ErrorModel, Spec, register
from ..relative import alibi, t5_bias


def _powers(num_heads: int) -> np.ndarray:
    """Per head, the power ``g`` in ALiBi's reference code ``slope = ratio**g`` (Press et al.
    2022, ``get_slopes``): ``1..n`` for the ``n`` heads of the largest power of two
    ``n <= num_heads``, then ``1, 3, 5, ...`` for the extra heads (the odd slopes of ``2n``)."""
    n = 2 ** math.floor(math.log2(num_heads))
    return np.array([*range(1, n + 1), *range(1, 2 * (num_heads - n), 2)], dtype=np.float64)


def _alibi_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    """``|B| (1 + g_h)``: a slope computed as the ``g``-th power of a rounded ratio (ALiBi's
    reference code, Bloom) carries ``g`` roundings; the product adds one."""
    g = _powers(inputs["num_heads"])
    return np.abs(np.asarray(exact)) * (1 + g[:, None, None])


def _abs_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    """``|B|``: the bias's own size."""
    return np.abs(np.asarray(exact, dtype=np.float64))


def _distances(inputs: dict) -> np.ndarray:
    """``|j - (i + offset)|`` per query and key, broadcastable to ``(heads, q_len, k_len)``."""
    q, k = inputs["q_len"], inputs["k_len"]
    offset = inputs.get("offset")
    i = np.arange(q) + (k - q if offset is None else offset)
    return np.abs(np.arange(k)[None, :] - i[:, None])[None]


#: Far windows of the distance sweeps: with one query at ``offset = -(end - k_len + 1)`` the
#: ``k_len`` keys sit at distances ``end - k_len + 1 .. end`` (ascending), so the dense
#: ``(heads, 1, k_len)`` output stays small however far the window lies.
_WINDOWS = (2**12, 2**16, 2**20, 2**24)


def _sweep_cases(base: dict, k_len: int, what: str) -> tuple[Case, ...]:
    near = Case(
        f"{what} 0 to {k_len - 1}", base | {"q_len": 1, "k_len": k_len, "offset": 0}, edge=True
    )
    far = tuple(
        Case(
            f"{what} to 2^{end.bit_length() - 1}",
            base | {"q_len": 1, "k_len": k_len, "offset": -(end - k_len + 1)},
            edge=True,
            note="one query, k_len keys ending at that distance (bounded memory)",
        )
        for end in _WINDOWS
    )
    return (near, *far)


def _cases_alibi() -> tuple[Case, ...]:
    return (
        Case("8 heads causal", {"num_heads": 8, "q_len": 5, "k_len": 5}),
        Case("12 heads (not a power of two)", {"num_heads": 12, "q_len": 4, "k_len": 6}),
        Case("16 heads symmetric", {"num_heads": 16, "q_len": 4, "k_len": 4, "causal": False}),
        Case("6 heads, decoding one query", {"num_heads": 6, "q_len": 1, "k_len": 9}, edge=True),
        Case("1 head", {"num_heads": 1, "q_len": 3, "k_len": 3}, edge=True),
        Case("64 heads, long", {"num_heads": 64, "q_len": 2, "k_len": 4096}, edge=True),
        *_sweep_cases({"num_heads": 12, "causal": False}, 256, "distances"),
        Case("0 heads", {"num_heads": 0, "q_len": 2, "k_len": 2}, raises=ValueError),
    )


def _cases_t5() -> tuple[Case, ...]:
    g = np.random.default_rng(5)
    return (
        Case("bidirectional", {"table": g.standard_normal((32, 4)), "q_len": 7, "k_len": 7}),
        Case(
            "causal, long",
            {"table": g.standard_normal((32, 2)), "q_len": 1, "k_len": 300}
            | {"bidirectional": False},
        ),
        Case(
            "16 buckets, max distance 64",
            {"table": g.standard_normal((16, 3)), "q_len": 200, "k_len": 200}
            | {"num_buckets": 16, "max_distance": 64},
        ),
        Case(
            "odd bucket count",
            {"table": g.standard_normal((9, 2)), "q_len": 40, "k_len": 40}
            | {"num_buckets": 9, "max_distance": 20},
            edge=True,
        ),
        *_sweep_cases({"table": g.standard_normal((32, 2))}, 512, "distances"),
        Case(
            "1 bucket",
            {"table": np.zeros((1, 2)), "q_len": 2, "k_len": 2, "num_buckets": 1}
            | {"bidirectional": False},
            raises=ValueError,
        ),
    )


register(
    Spec(
        id="alibi",
        title="ALiBi: attention with linear biases",
        latex=r"B_{h,i,j} = m_h (j - i)\ \text{(causal)},\ -m_h |j - i|,\ m_h = 2^{-8h/H}",
        sources=("Press, Smith & Lewis (2022), ALiBi",),
        function=alibi,
        domain={
            "num_heads": "int >= 1",
            "q_len, k_len": "int >= 1",
            "causal": "bool",
            "offset": "int or None (k_len - q_len)",
        },
        cases=_cases_alibi(),
        invariants=(
            "slopes are geometric with ratio 2^(-8/H) for a power of two H",
            "the first n slopes of H heads are those of n = 2^floor(log2 H) heads",
            "softmax(scores + alibi) equals softmax(scores + key-only m_h j) row by row",
        ),
        terms=("位置编码",),
        section="6",
        explanation="A penalty proportional to the distance between query and key, with a "
        "different slope per head; no position vectors at all.",
        creates=True,
        dtypes=FLOAT_DTYPES,
        error=ErrorModel(
            K=dict.fromkeys(FLOAT_DTYPES, 1.0),
            scale=_abs_scale,
            text="|B - B*| <= K eps |B|: the slope (a power of two with an exact exponent) and "
            "the product each rounded at most once.",
            usual=Bound(
                K=dict.fromkeys(FLOAT_DTYPES, 1.0),
                scale=_alibi_scale,
                text="|B - B*| <= K eps |B| (1 + g_h), g_h the slope's index in its geometric "
                "run (the reference code's powers of a rounded ratio).",
            ),
        ),
        positions=_distances,
    ),
    Spec(
        id="t5-bias",
        title="T5 relative position buckets and bias",
        latex=r"A_{h,i,j} = T[\operatorname{bucket}(j - i), h]",
        sources=("Raffel et al. (2020), T5 §2.1", "Hugging Face T5Attention"),
        function=t5_bias,
        domain={
            "table": "float array (num_buckets, heads)",
            "q_len, k_len": "int >= 1",
            "num_buckets": ">= 4 bidirectional, >= 2 otherwise",
            "max_distance": "> the number of exact buckets",
        },
        cases=_cases_t5(),
        invariants=(
            "buckets are non-decreasing in |r| and lie in [0, num_buckets)",
            "distances below num_buckets/4 (bidirectional) have their own bucket",
            "every distance >= max_distance shares the last bucket of its side",
        ),
        terms=("位置编码",),
        section="6",
        explanation="Each query-key distance falls into a bucket (exact for short distances, "
        "logarithmic for long ones) and each bucket has a learned bias per head.",
        float_args=("table",),
        dtypes=FLOAT_DTYPES,
        error=ErrorModel(
            K=dict.fromkeys(FLOAT_DTYPES, 0.0),
            text="a gather: bit-exact.",
        ),
        positions=_distances,
    ),
)
