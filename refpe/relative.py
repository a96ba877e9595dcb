"""Relative position biases added to attention scores: ALiBi and T5's bucketed bias.

Beyond the seeds (FORMULAS.md §6): Press, Smith & Lewis (2022), *Train Short, Test Long:
Attention with Linear Biases*; Raffel et al. (2020), *Exploring the Limits of Transfer
Learning with a Unified Text-to-Text Transformer* (T5).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ._compat import (
    default_namespace,
    namespace,
    require_integer,
    require_positive_int,
    resolve_dtype,
    take_rows,
    work_float,
)
from ._registry import Case, ErrorModel, Spec, register

__all__ = ["alibi", "alibi_slopes", "t5_bias", "t5_bucket"]


def _geometric(num_heads: int) -> list[tuple[float, int]]:
    """``(exponent, g)`` per head: ``m_h = 2**exponent``, ``g`` its index in its geometric run."""
    n = 2 ** math.floor(math.log2(num_heads))
    first = [(-8 * h / n, h) for h in range(1, n + 1)]
    extra = [(-4 * g / n, g) for g in range(1, 2 * (num_heads - n), 2)]
    return first + extra


def alibi_slopes(num_heads: int, *, dtype: Any = None, xp: Any = None, device: Any = None) -> Any:
    r"""ALiBi head slopes.

    .. math::

        m_h = 2^{-8h/H},\quad h = 1..H \quad (H = 2^k);\qquad
        \text{else with } n = 2^{\lfloor \log_2 H \rfloor}:\
        m = (2^{-8h/n})_{h=1}^{n} \,\Vert\, (2^{-4g/n})_{g = 1, 3, 5, \dots}^{\,H - n \text{ terms}}

    For a power of two the slopes are a geometric sequence of ratio :math:`2^{-8/H}`. For
    other ``H``, the first ``n`` slopes are those of ``n`` heads and the rest are every other
    slope of ``2n`` heads (Press et al. (2022), ``get_slopes`` in the ALiBi repository; Bloom's
    ``build_alibi_tensor`` in Hugging Face transformers).

    Source: Press, Smith & Lewis (2022), §3 and the reference code.

    Precision: each slope is ``2.0 ** exponent`` in float64 on the host with an exact
    exponent (``8h/n`` with ``n`` a power of two), then rounded once to ``dtype``.
    """
    h = require_positive_int("num_heads", num_heads)
    xp = default_namespace(xp)
    slopes = [2.0**e for e, _ in _geometric(h)]
    return xp.asarray(slopes, dtype=resolve_dtype(xp, dtype, device), device=device)


def _offset(q_len: int, k_len: int, offset: int | None) -> int:
    return k_len - q_len if offset is None else operator.index(offset)


def alibi(
    num_heads: int,
    q_len: int,
    k_len: int,
    *,
    causal: bool = True,
    offset: int | None = None,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""ALiBi attention bias of shape ``(num_heads, q_len, k_len)``.

    .. math::

        B_{h,i,j} = m_h\,(j - i) \ \text{(causal)},\qquad
        B_{h,i,j} = -m_h\,\lvert j - i\rvert \ \text{(symmetric)},\qquad i \leftarrow i + o

    with slopes ``m_h`` from :func:`alibi_slopes`. Query ``i`` sits at position ``i + offset``;
    ``offset=None`` means ``k_len - q_len`` (the queries are the last positions of the keys,
    as in cached decoding; 0 when the lengths are equal). The causal form is meant with a
    causal mask: entries ``j > i`` are the formula's values, not ``-inf``.

    Bloom (Hugging Face ``build_alibi_tensor``) and the ALiBi repository use the key-only form
    :math:`m_h\,j`, which differs from :math:`m_h(j-i)` by the per-row constant
    :math:`m_h i`; softmax over ``j`` cancels it, so the attention weights are the same.

    Source: Press, Smith & Lewis (2022), §3, eq. in Fig. 3.

    Precision: slopes in float64 on the host, ``m_h * (j - i)`` in the widest float of the
    device, rounded once to ``dtype``.
    """
    h = require_positive_int("num_heads", num_heads)
    q, k = require_positive_int("q_len", q_len), require_positive_int("k_len", k_len)
    xp = default_namespace(xp)
    wide = work_float(xp, device)
    m = alibi_slopes(h, dtype=wide, xp=xp, device=device)
    i = xp.arange(q, device=device) + _offset(q, k, offset)
    dist = xp.astype(xp.arange(k, device=device)[None, :] - i[:, None], wide)
    bias = m[:, None, None] * (dist if causal else -xp.abs(dist))
    return xp.astype(bias, resolve_dtype(xp, dtype, device))


def _t5_thresholds(max_exact: int, steps: int, max_distance: int) -> list[int]:
    r"""Smallest ``n`` in each log bucket ``k = 1..steps-1``, exactly, in integers.

    ``floor(steps * ln(n/e) / ln(D/e)) >= k`` iff :math:`n^{steps} e^k \ge D^k e^{steps}`.
    """
    e, s, d = max_exact, steps, max_distance
    out = []
    for k in range(1, s):
        n = max(e, math.ceil(e * (d / e) ** (k / s)))
        while n > e and (n - 1) ** s * e**k >= d**k * e**s:
            n -= 1
        while n**s * e**k < d**k * e**s:
            n += 1
        out.append(n)
    return out


def t5_bucket(
    relative_position: Any,
    *,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> Any:
    r"""T5's relative position bucket of ``relative_position = key - query``.

    .. math::

        N = \begin{cases} \lfloor B/2 \rfloor & \text{bidirectional} \\ B \end{cases},\quad
        n = \begin{cases} |r| \\ \max(-r, 0) \end{cases},\quad e = \lfloor N/2 \rfloor

        \text{bucket} = [\,r > 0\,]\,N\ (\text{bidirectional}) + \begin{cases}
        n & n < e \\
        \min\Bigl(e + \Bigl\lfloor \frac{\ln(n/e)}{\ln(D/e)}\,(N - e) \Bigr\rfloor,\ N - 1\Bigr)
        & n \ge e \end{cases}

    with ``B = num_buckets``, ``D = max_distance``: half the buckets are exact distances,
    the other half log-spaced up to ``D``; farther distances share the last bucket. Without
    ``bidirectional`` a key after the query (``r > 0``) falls in bucket 0.

    Source: Raffel et al. (2020) §2.1; ``_relative_position_bucket`` of Mesh TensorFlow and
    Hugging Face transformers (``T5Attention``), whose float ``log`` and truncation to an
    integer are the floor above.

    Precision: exact. The floor is decided in integer arithmetic on the host (the smallest
    distance of each log bucket), so no rounding of ``ln`` can move a distance that sits
    on a bucket boundary; the output has the integer dtype of ``relative_position``.
    """
    xp = namespace(relative_position=relative_position)
    require_integer("relative_position", relative_position, xp)
    b = require_positive_int("num_buckets", num_buckets)
    if b < 2 or (bidirectional and b < 4):
        least = 4 if bidirectional else 2
        raise ValueError(f"num_buckets must be >= {least} (bidirectional={bidirectional}), got {b}")
    r = relative_position
    n_b = b // 2 if bidirectional else b
    e = n_b // 2
    dmax = require_positive_int("max_distance", max_distance)
    if dmax <= e:
        raise ValueError(f"max_distance must be > {e} (the exact buckets), got {dmax}")
    zero = xp.zeros_like(r)
    n = xp.abs(r) if bidirectional else xp.maximum(-r, zero)
    side = xp.where(r > 0, zero + n_b, zero) if bidirectional else zero
    thresholds = _t5_thresholds(e, n_b - e, dmax)
    large = zero + e
    if thresholds:
        t = xp.asarray(thresholds, dtype=r.dtype, device=getattr(r, "device", None))
        large = large + xp.astype(xp.searchsorted(t, n, side="right"), r.dtype)
    return side + xp.where(n < e, n, large)


def t5_bias(
    table: Any,
    q_len: int,
    k_len: int,
    *,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
    offset: int | None = None,
) -> Any:
    r"""T5's relative position bias, shape ``(heads, q_len, k_len)``, from a ``(B, heads)`` table.

    .. math::

        A_{h,i,j} = T\bigl[\operatorname{bucket}(j - (i + o)),\ h\bigr]

    with :func:`t5_bucket`. Query ``i`` sits at position ``i + offset``; ``offset=None``
    means ``k_len - q_len`` (0 for equal lengths, the last positions in cached decoding, as
    Hugging Face's ``cache_position``). The bias is added to the scores before softmax.

    Source: Raffel et al. (2020) §2.1; Hugging Face ``T5Attention.compute_bias``.

    Precision: a gather, bit-exact in ``table.dtype``.
    """
    xp = namespace(table=table)
    b = require_positive_int("num_buckets", num_buckets)
    if table.ndim != 2 or table.shape[0] != b:
        raise ValueError(
            f"table must have shape (num_buckets={b}, heads), got {tuple(table.shape)}"
        )
    q, k = require_positive_int("q_len", q_len), require_positive_int("k_len", k_len)
    dev = getattr(table, "device", None)
    i = xp.arange(q, device=dev) + _offset(q, k, offset)
    rel = xp.arange(k, device=dev)[None, :] - i[:, None]
    buckets = t5_bucket(rel, bidirectional=bidirectional, num_buckets=b, max_distance=max_distance)
    return xp.permute_dims(take_rows(table, buckets, xp), (2, 0, 1))


def _alibi_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    """``|B| (1 + g_h)``: a slope computed as the ``g``-th power of a rounded ratio (ALiBi's
    reference code, Bloom) carries ``g`` roundings; the product adds one."""
    g = np.array([float(gh) for _, gh in _geometric(inputs["num_heads"])])
    return np.abs(np.asarray(exact)) * (1 + g[:, None, None])


def _cases_alibi() -> tuple[Case, ...]:
    return (
        Case("8 heads causal", {"num_heads": 8, "q_len": 5, "k_len": 5}),
        Case("12 heads (not a power of two)", {"num_heads": 12, "q_len": 4, "k_len": 6}),
        Case("16 heads symmetric", {"num_heads": 16, "q_len": 4, "k_len": 4, "causal": False}),
        Case("6 heads, decoding one query", {"num_heads": 6, "q_len": 1, "k_len": 9}, edge=True),
        Case("1 head", {"num_heads": 1, "q_len": 3, "k_len": 3}, edge=True),
        Case("64 heads, long", {"num_heads": 64, "q_len": 2, "k_len": 4096}, edge=True),
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
        sources=("Press, Smith & Lewis (2022), ALiBi", "FORMULAS.md §6"),
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
        dtypes=("float64", "float32", "float16", "bfloat16"),
        error=ErrorModel(
            K={"float64": 1.0, "float32": 1.0, "float16": 1.0, "bfloat16": 1.0},
            scale=_alibi_scale,
            text="|B - B*| <= K eps |B| (1 + g_h), g_h the slope's index in its geometric run.",
        ),
    ),
    Spec(
        id="t5-bias",
        title="T5 relative position buckets and bias",
        latex=r"A_{h,i,j} = T[\operatorname{bucket}(j - i), h]",
        sources=("Raffel et al. (2020), T5 §2.1", "Hugging Face T5Attention", "FORMULAS.md §6"),
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
        dtypes=("float64", "float32", "float16", "bfloat16"),
        error=ErrorModel(
            K={"float64": 0.0, "float32": 0.0, "float16": 0.0, "bfloat16": 0.0},
            text="a gather: bit-exact.",
        ),
    ),
)
