r"""Oracles for relative position biases: ALiBi and T5's bucketed bias.

ALiBi slopes follow ``get_slopes`` of Press, Smith & Lewis (2022): :math:`2^{-8h/H}` for a
power-of-two ``H``; otherwise the ``n = 2^{\lfloor \log_2 H \rfloor}`` slopes of ``n`` heads,
then every other slope of ``2n`` heads. A slope is an exact dyadic rational where the exponent
is an integer and a 60-digit mpmath power otherwise.

T5's buckets (Raffel et al. 2020 §2.1; Mesh TensorFlow / Hugging Face
``_relative_position_bucket``) are decided in integers: for a distance ``n >= e``, the log
bucket :math:`\lfloor s \ln(n/e) / \ln(D/e) \rfloor` is the largest ``k`` with
:math:`(n/e)^s \ge (D/e)^k`, i.e. :math:`n^s e^k \ge D^k e^s`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._core import DIGITS, register

__all__ = ["alibi_slopes", "t5_bucket"]


def _slope(numerator: int, denominator: int) -> Any:
    """:math:`2^{-numerator/denominator}`: exact where the exponent is an integer."""
    e = Fraction(numerator, denominator)
    if e.denominator == 1:
        return Fraction(1, 2 ** int(e))
    return mpmath.power(2, -mpmath.mpf(e.numerator) / e.denominator)


def alibi_slopes(num_heads: int) -> list[Any]:
    """The ALiBi repository's ``get_slopes(num_heads)`` as exact numbers (call at 60 digits)."""

    def power_of_two(n: int) -> list[Any]:
        # start = 2**(-2**-(log2(n) - 3)) = 2**(-8/n); slope h = start**h, h = 1..n
        return [_slope(8 * h, n) for h in range(1, n + 1)]

    n = 1 << (num_heads.bit_length() - 1)  # the largest power of two <= num_heads
    if n == num_heads:
        return power_of_two(n)
    return power_of_two(n) + power_of_two(2 * n)[0::2][: num_heads - n]


@register("alibi", "exact rationals and mpmath at 60 digits")
def alibi(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`B_{h,i,j} = m_h (j - (i + o))` (causal) or :math:`-m_h |j - (i + o)|`, ``o`` the
    query offset (``k_len - q_len`` when not given). Press et al. (2022) §3."""
    H, q, k = int(inputs["num_heads"]), int(inputs["q_len"]), int(inputs["k_len"])
    offset = inputs.get("offset")
    o = k - q if offset is None else int(offset)
    dist = np.arange(k)[None, :] - (np.arange(q) + o)[:, None]
    if not inputs.get("causal", True):
        dist = -np.abs(dist)
    low = int(dist.min())
    distances = range(low, int(dist.max()) + 1)
    out = np.empty((H, q, k), dtype=object)
    with mpmath.workdps(DIGITS):
        for h, m in enumerate(alibi_slopes(H)):
            # each distinct distance once; a dyadic slope times an integer is a float exactly
            values = np.empty(len(distances), dtype=object)
            values[:] = [float(m * j) if isinstance(m, Fraction) else m * j for j in distances]
            out[h] = values[dist - low]
    return [out]


def _log_bucket(n: int, e: int, steps: int, dmax: int) -> int:
    """The largest ``k <= steps`` with :math:`n^{steps} e^k \\ge D^k e^{steps}` (``n >= e``)."""
    k = 0
    while k < steps and n**steps * e ** (k + 1) >= dmax ** (k + 1) * e**steps:
        k += 1
    return k


def t5_bucket(r: int, bidirectional: bool, num_buckets: int, max_distance: int) -> int:
    """T5's bucket of ``r = key - query`` (Raffel et al. 2020 §2.1): half the buckets (of a
    side) exact distances, the rest log-spaced up to ``max_distance``, then the last one."""
    if bidirectional:
        n_b = num_buckets // 2
        side, n = (n_b if r > 0 else 0), abs(r)
    else:
        n_b = num_buckets
        side, n = 0, max(-r, 0)
    e = n_b // 2
    if n < e:
        return side + n
    return side + min(e + _log_bucket(n, e, n_b - e, max_distance), n_b - 1)


@register("t5-bias", "exact integers")
def t5_bias(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`A_{h,i,j} = T[\\mathrm{bucket}(j - (i + o)), h]`, ``o`` as in ALiBi."""
    table = np.asarray(inputs["table"])
    q, k = int(inputs["q_len"]), int(inputs["k_len"])
    offset = inputs.get("offset")
    o = k - q if offset is None else int(offset)
    args = (
        bool(inputs.get("bidirectional", True)),
        int(inputs.get("num_buckets", 32)),
        int(inputs.get("max_distance", 128)),
    )
    buckets = {r: t5_bucket(r, *args) for r in range(-(q - 1 + o), k - o)}
    idx = np.array([[buckets[j - (i + o)] for j in range(k)] for i in range(q)], dtype=np.int64)
    return [np.moveaxis(table[idx], -1, 0)]
