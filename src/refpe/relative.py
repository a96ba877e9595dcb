"""Relative position biases added to attention scores: ALiBi and T5's bucketed bias.

Beyond the seeds: Press, Smith & Lewis (2022), *Train Short, Test Long:
Attention with Linear Biases*; Raffel et al. (2020), *Exploring the Limits of Transfer
Learning with a Unified Text-to-Text Transformer* (T5).
"""

from __future__ import annotations

import math
from typing import Any

from ._compat import (
    MAX_WIDTH,
    dask_chunks,
    default_namespace,
    integer_array,
    namespace,
    refuse_chunks,
    require_elements,
    require_int,
    require_positive_int,
    resolve_dtype,
    take_rows,
    work_float,
)

__all__ = ["alibi", "alibi_slopes", "t5_bias", "t5_bucket"]

#: The most buckets :func:`t5_bucket` takes (T5 uses 32; the largest models, a few hundred):
#: the exact bucket boundaries cost one comparison of big integers or logarithms per bucket.
MAX_BUCKETS = 2**12


def _geometric(num_heads: int) -> list[tuple[float, int]]:
    """``(exponent, g)`` per head: ``m_h = 2**exponent``, ``g`` its index in its geometric run."""
    n = 2 ** math.floor(math.log2(num_heads))
    first = [(-8 * h / n, h) for h in range(1, n + 1)]
    extra = [(-4 * g / n, g) for g in range(1, 2 * (num_heads - n), 2)]
    return first + extra


def alibi_slopes(num_heads: int, *, dtype: Any = None, xp: Any = None, device: Any = None) -> Any:
    r"""ALiBi head slopes.

    .. math::

        \begin{aligned}
        &m_h = 2^{-8h/H},\quad h = 1..H \quad (H = 2^k);\\
        &\text{else with } n = 2^{\lfloor \log_2 H \rfloor}:\
        m = (2^{-8h/n})_{h=1}^{n} \,\Vert\, (2^{-4g/n})_{g = 1, 3, 5, \dots}^{\,H - n \text{ terms}}
        \end{aligned}

    For a power of two the slopes are a geometric sequence of ratio :math:`2^{-8/H}`. For
    other ``H``, the first ``n`` slopes are those of ``n`` heads and the rest are every other
    slope of ``2n`` heads (Press et al. (2022), ``get_slopes`` in the ALiBi repository; Bloom's
    ``build_alibi_tensor`` in Hugging Face transformers).

    Source: Press, Smith & Lewis (2022), §3 and the reference code.

    Precision: each slope is ``2.0 ** exponent`` in float64 on the host with an exact
    exponent (``8h/n`` with ``n`` a power of two), then rounded once to ``dtype``.
    """
    h = require_positive_int("num_heads", num_heads, MAX_WIDTH)
    xp = default_namespace(xp)
    slopes = [2.0**e for e, _ in _geometric(h)]
    return xp.asarray(slopes, dtype=resolve_dtype(xp, dtype, device), device=device)


def _offset(q_len: int, k_len: int, offset: int | None) -> int:
    return k_len - q_len if offset is None else require_int("offset", offset)


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
    chunks: Any = None,
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

    Dask only (``xp=dask.array``): ``chunks`` are the blocks of the ``(q_len, k_len)`` axes
    (the heads whole in each); the Dask kernel (:mod:`refpe.kernels.dask_bias`) builds each
    block lazily with this function in NumPy.
    """
    h = require_positive_int("num_heads", num_heads, MAX_WIDTH)
    q, k = require_positive_int("q_len", q_len), require_positive_int("k_len", k_len)
    xp = default_namespace(xp)
    refuse_chunks(chunks, hasattr(xp.empty(0), "rechunk"))
    require_elements("num_heads * q_len * k_len", h, q, k)
    wide = work_float(xp, device)
    m = alibi_slopes(h, dtype=wide, xp=xp, device=device)
    i = xp.arange(q, device=device) + _offset(q, k, offset)
    dist = xp.astype(xp.arange(k, device=device)[None, :] - i[:, None], wide)
    if chunks is not None:
        dist = dist.rechunk(dask_chunks(chunks, (q, k), dist.dtype))
    bias = m[:, None, None] * (dist if causal else -xp.abs(dist))
    return xp.astype(bias, resolve_dtype(xp, dtype, device))


def _reaches(n: int, k: int, e: int, s: int, d: int) -> bool:
    r"""Whether :math:`n^{s} e^{k} \ge D^{k} e^{s}`, exactly.

    The logarithms decide when they are apart by far more than their rounding (each side is
    a few float64 operations, within 4 ulp, about 5e-16 relative; the margin is 1e-12); the
    big integers decide the rest.
    """
    lhs = s * math.log(n) + k * math.log(e)
    rhs = k * math.log(d) + s * math.log(e)
    if abs(lhs - rhs) > 1e-12 * (abs(lhs) + abs(rhs)):
        return lhs > rhs
    return n**s * e**k >= d**k * e**s


def _t5_thresholds(max_exact: int, steps: int, max_distance: int) -> list[int]:
    r"""Smallest ``n`` in each log bucket ``k = 1..steps-1``, exactly, in integers.

    ``floor(steps * ln(n/e) / ln(D/e)) >= k`` iff :math:`n^{steps} e^k \ge D^k e^{steps}`.
    """
    e, s, d = max_exact, steps, max_distance
    out = []
    for k in range(1, s):
        n = max(e, math.ceil(e * (d / e) ** (k / s)))
        while n > e and _reaches(n - 1, k, e, s, d):
            n -= 1
        while not _reaches(n, k, e, s, d):
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
    relative_position = integer_array("relative_position", relative_position, xp)
    b = require_positive_int("num_buckets", num_buckets, MAX_BUCKETS)
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
    chunks: Any = None,
) -> Any:
    r"""T5's relative position bias, shape ``(heads, q_len, k_len)``, from a ``(B, heads)`` table.

    .. math::

        A_{h,i,j} = T\bigl[\operatorname{bucket}(j - (i + o)),\ h\bigr]

    with :func:`t5_bucket`. Query ``i`` sits at position ``i + offset``; ``offset=None``
    means ``k_len - q_len`` (0 for equal lengths, the last positions in cached decoding, as
    Hugging Face's ``cache_position``). The bias is added to the scores before softmax.

    Source: Raffel et al. (2020) §2.1; Hugging Face ``T5Attention.compute_bias``.

    Precision: a gather, bit-exact in ``table.dtype``.

    Dask only (a Dask ``table``): ``chunks`` are the blocks of the ``(q_len, k_len)`` axes;
    the Dask kernel (:mod:`refpe.kernels.dask_bias`) builds each block lazily with this
    function in NumPy.
    """
    xp = namespace(table=table)
    refuse_chunks(chunks, hasattr(table, "rechunk"))
    b = require_positive_int("num_buckets", num_buckets, MAX_BUCKETS)
    if table.ndim != 2 or table.shape[0] != b:
        raise ValueError(
            f"table must have shape (num_buckets={b}, heads), got {tuple(table.shape)}"
        )
    q, k = require_positive_int("q_len", q_len), require_positive_int("k_len", k_len)
    require_elements("table.shape[1] * q_len * k_len", table.shape[1], q, k)
    dev = getattr(table, "device", None)
    i = xp.arange(q, device=dev) + _offset(q, k, offset)
    rel = xp.arange(k, device=dev)[None, :] - i[:, None]
    buckets = t5_bucket(rel, bidirectional=bidirectional, num_buckets=b, max_distance=max_distance)
    out = xp.permute_dims(take_rows(table, buckets, xp), (2, 0, 1))
    if chunks is not None:
        out = out.rechunk((-1, *dask_chunks(chunks, (q, k), table.dtype)))
    return out
