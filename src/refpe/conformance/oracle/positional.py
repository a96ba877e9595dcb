"""Oracles for tokens and absolute positions: lookups, sinusoids, learned and linear tables.

Each oracle is written from the formula and its published source, never from refpe's code:
lookups, products and sums of the inputs are exact rationals (every float input is a dyadic
rational, taken exactly); sines and cosines are mpmath at :data:`DIGITS` significant digits.

The sinusoid is what matters most at far positions: :math:`p\\,\\omega` is formed from an
integer ``p`` and a 60-digit :math:`\\omega`, so for :math:`|p| < 2^{31}` the angle is off by
about :math:`10^{-50}` and its sine and cosine are exact to far below a float64 ulp. Each
distinct ``(p, ω)`` is evaluated once per call (:func:`sin_cos`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._core import DIGITS, register

__all__ = ["frequencies", "positions_of", "rational", "sin_cos", "sinusoid_columns"]


def rational(values: Any) -> np.ndarray:
    """A float (or integer) array as an object array of exact :class:`Fraction` values."""
    arr = np.asarray(values)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = Fraction(float(v)) if arr.dtype.kind == "f" else Fraction(int(v))
    return out


def positions_of(positions: Any) -> np.ndarray:
    """``0 .. n-1`` for an int ``n``, else the given integer positions, as an int64 array."""
    if isinstance(positions, (int, np.integer)):
        return np.arange(int(positions), dtype=np.int64)
    return np.asarray(positions, dtype=np.int64)


def frequencies(base: float, exponents: Iterable[Fraction]) -> list[mpmath.mpf]:
    """:math:`base^{-e}` for each exact rational exponent ``e``, at the current precision.

    ``base`` is taken as the exact value of the float; :math:`b^{-e} = \\exp(-e \\ln b)`.
    """
    log_b = mpmath.log(mpmath.mpf(float(base)))
    return [mpmath.exp(-mpmath.mpf(e.numerator) / e.denominator * log_b) for e in exponents]


def sin_cos(
    positions: np.ndarray, omegas: Sequence[mpmath.mpf]
) -> dict[int, tuple[list[mpmath.mpf], list[mpmath.mpf]]]:
    """``p -> ([sin(p ω_i)], [cos(p ω_i)])`` for every distinct integer ``p``, each once."""
    out = {}
    for p in np.unique(positions):
        angles = [int(p) * w for w in omegas]
        out[int(p)] = ([mpmath.sin(a) for a in angles], [mpmath.cos(a) for a in angles])
    return out


def sinusoid_columns(sin: Sequence[Any], cos: Sequence[Any], d: int, layout: str) -> list[Any]:
    """One row of a sinusoidal table of width ``d``: sines and cosines placed by ``layout``.

    ``"interleaved"`` (Vaswani et al. 2017 §3.5): ``sin ω_0, cos ω_0, sin ω_1, ...``, an extra
    sine last where there is one sine more than cosines. ``"concatenated"`` (tensor2tensor,
    seed 003 §4.2.2): all sines, then all cosines. Columns left over are zeros (tensor2tensor
    pads an odd width with one zero column).
    """
    if layout == "interleaved":
        row: list[Any] = []
        for i, s in enumerate(sin):
            row.append(s)
            if i < len(cos):
                row.append(cos[i])
    else:
        row = [*sin, *cos]
    return row + [0] * (d - len(row))


def _sinusoid_table(
    positions: np.ndarray, d: int, base: float, schedule: str, layout: str | None
) -> np.ndarray:
    """Vaswani et al. (2017) §3.5 (``"transformer"``) or tensor2tensor's
    ``get_timing_signal_1d`` (``"t2t"``) at integer ``positions``, shape ``positions.shape + (d,)``.

    transformer: :math:`\\omega_i = b^{-2i/d}`, :math:`\\lceil d/2 \\rceil` sines and
    :math:`\\lfloor d/2 \\rfloor` cosines. t2t: :math:`n = \\lfloor d/2 \\rfloor` timescales,
    :math:`\\omega_i = b^{-i/\\max(n-1, 1)}` (``log_timescale_increment`` divides by
    ``max(num_timescales - 1, 1)``), ``n`` sines and ``n`` cosines, zero-padded to ``d``.
    """
    if schedule == "transformer":
        n_sin, n_cos = (d + 1) // 2, d // 2
        exps = [Fraction(2 * i, d) for i in range(n_sin)]
        layout = layout or "interleaved"
    else:
        n_sin = n_cos = d // 2
        exps = [Fraction(i, max(n_sin - 1, 1)) for i in range(n_sin)]
        layout = layout or "concatenated"
    table = sin_cos(positions, frequencies(base, exps))
    out = np.empty((*positions.shape, d), dtype=object)
    for idx, p in np.ndenumerate(positions):
        s, c = table[int(p)]
        out[idx] = sinusoid_columns(s, c[:n_cos], d, layout)
    return out


@register("pe-sinusoidal", "mpmath at 60 digits")
def pe_sinusoidal(inputs: Mapping[str, Any]) -> list[Any]:
    p = positions_of(inputs["positions"]) + int(inputs.get("offset", 0))
    with mpmath.workdps(DIGITS):
        return [
            _sinusoid_table(
                p,
                int(inputs["d"]),
                float(inputs.get("base", 10000.0)),
                inputs.get("schedule", "transformer"),
                inputs.get("layout"),
            )
        ]


@register("pe-sinusoidal-learnable", "mpmath at 60 digits; the seeded draw in float64")
def pe_sinusoidal_learnable(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`P_0 = PE_{\\sin} + \\sigma Z` (seed 001 §5.2, with the noise made explicit).

    ``Z`` is refpe's documented host draw: ``numpy.random.default_rng(seed).standard_normal(
    (max_len, d))`` in float64, taken as exact; :math:`\\sigma Z` and the sum are exact.
    """
    L, d = int(inputs["max_len"]), int(inputs["d"])
    sigma = float(inputs.get("noise_std", 0.0))
    with mpmath.workdps(DIGITS):
        table = _sinusoid_table(
            np.arange(L), d, float(inputs.get("base", 10000.0)), "transformer", inputs.get("layout")
        )
        if sigma > 0:
            z = np.random.default_rng(int(inputs["seed"])).standard_normal((L, d))
            for idx, v in np.ndenumerate(z):
                table[idx] = table[idx] + mpmath.mpf(sigma) * mpmath.mpf(float(v))
    return [table]


@register("pe-sinusoidal-2d", "mpmath at 60 digits")
def pe_sinusoidal_2d(inputs: Mapping[str, Any]) -> list[Any]:
    """MAE's ``get_2d_sincos_pos_embed`` (He et al. 2022, ``util/pos_embed.py``).

    Patch ``r W + c`` (row-major grid); each axis gets width ``k = d/2`` as
    ``[sin(p ω) || cos(p ω)]`` with :math:`\\omega_i = b^{-i/(k/2)}`, ``i < k/2`` (MAE:
    ``omega = arange(D/2) / (D/2)``, ``1 / 10000**omega``). ``"xy"``: the column half first
    (MAE's ``meshgrid(grid_w, grid_h)`` makes ``grid[0]`` the column); ``"yx"``: the row half
    first (MoCo v3). ``cls_token`` puts a zero row first.
    """
    h, w, d = int(inputs["height"]), int(inputs["width"]), int(inputs["d"])
    quarter = d // 4
    flat = np.arange(h * w)
    rows, cols = flat // w, flat % w
    first, second = (cols, rows) if inputs.get("order", "xy") == "xy" else (rows, cols)
    with mpmath.workdps(DIGITS):
        omegas = frequencies(
            float(inputs.get("base", 10000.0)), [Fraction(i, quarter) for i in range(quarter)]
        )
        table = sin_cos(flat[: max(h, w)], omegas)
        out = np.empty((h * w, d), dtype=object)
        for k in range(h * w):
            a, b = table[int(first[k])], table[int(second[k])]
            out[k] = [*a[0], *a[1], *b[0], *b[1]]
    if inputs.get("cls_token"):
        out = np.concatenate((np.zeros((1, d), dtype=object), out))
    return [out]


@register("pe-learned", "exact rationals")
def pe_learned(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`PE[p] = P[p]` (seed 004 §3): a row of the table, exactly."""
    return [np.asarray(inputs["table"])[positions_of(inputs["positions"])]]


@register("pe-projected-sinusoid", "mpmath at 60 digits")
def pe_projected_sinusoid(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`\\sum_k \\sin(\\alpha_k p) W_1[k] + \\cos(\\alpha_k p) W_2[k]` (seed 001 §4.1).

    A scalar ``alpha`` with ``(d,)`` weights is the seed's form, ``K = 1``.
    """
    p = positions_of(inputs["positions"])
    alpha = np.reshape(np.asarray(inputs["alpha"], dtype=np.float64), (-1,))
    d = np.shape(inputs["w1"])[-1]
    w1, w2 = (np.reshape(np.asarray(inputs[k], dtype=np.float64), (-1, d)) for k in ("w1", "w2"))
    out = np.empty((*p.shape, d), dtype=object)
    with mpmath.workdps(DIGITS):
        a = [mpmath.mpf(float(v)) for v in alpha]
        W1 = [[mpmath.mpf(float(v)) for v in row] for row in w1]
        W2 = [[mpmath.mpf(float(v)) for v in row] for row in w2]
        table = sin_cos(p, a)
        for idx, q in np.ndenumerate(p):
            s, c = table[int(q)]
            out[idx] = [
                mpmath.fsum(s[k] * W1[k][j] + c[k] * W2[k][j] for k in range(len(a)))
                for j in range(d)
            ]
    return [out]


@register("pe-linear", "exact rationals")
def pe_linear(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`PE[p] = p\\,w + b`, or :math:`p\\,w_p + b_p` with per-position tables
    (seed 000 §2.3, seed 003 §5.2)."""
    p = positions_of(inputs["positions"])
    w, b = rational(inputs["w"]), rational(inputs["b"])
    if w.ndim == 2:
        w, b = w[p], b[p]
    return [p[..., None] * w + b]


@register("pe-dual-linear", "exact rationals")
def pe_dual_linear(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`P_1[p] \\odot P_2[p]` (seed 000 §4.2): the exact element-wise product."""
    return [rational(inputs["pe1"]) * rational(inputs["pe2"])]


def _lookup(ids: Any, table: Any, scale: Any, padding_idx: Any = None) -> np.ndarray:
    """:math:`c\\,W[ids]`: a row per id, times ``scale`` (exactly) when given; the
    ``padding_idx`` id (negative counts from the end) reads as a zero row."""
    ids = np.asarray(ids, dtype=np.int64)
    rows = rational(np.asarray(table)[ids])
    if padding_idx is not None:
        pad = int(padding_idx) % np.shape(table)[0]
        rows[ids == pad] = Fraction(0)
    return rows if scale is None else rows * Fraction(float(scale))


@register("token-lookup", "exact rationals")
def token_lookup(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`c\\,W[ids]` (seed 000 §3.1; Vaswani et al. 2017 §3.4 for :math:`c = \\sqrt d`)."""
    return [_lookup(inputs["ids"], inputs["table"], inputs.get("scale"), inputs.get("padding_idx"))]


@register("token-one-hot", "exact rationals")
def token_one_hot(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`c\\,\\mathrm{onehot}(ids)\\,W` (seed 003 §4.2.1): in exact arithmetic the one-hot
    product picks the row, so the exact value is the lookup's."""
    return [_lookup(inputs["ids"], inputs["table"], inputs.get("scale"))]


@register("input-add", "exact rationals")
def input_add(inputs: Mapping[str, Any]) -> list[Any]:
    """:math:`c\\,E[ids] + PE[pos]` (seed 000 §4.2, seed 003 §4.1), ``pos`` by default
    ``start + arange(T)``; ``combine="concat"``: :math:`[c\\,E[ids] \\Vert PE[pos]]`."""
    ids = np.asarray(inputs["ids"], dtype=np.int64)
    pos = inputs.get("positions")
    if pos is None:
        pos = np.arange(ids.shape[-1]) + int(inputs.get("start", 0))
    pos = np.broadcast_to(np.asarray(pos, dtype=np.int64), ids.shape)
    word = _lookup(ids, inputs["table"], inputs.get("scale", 1.0))
    where = rational(np.asarray(inputs["pe_table"])[pos])
    if inputs.get("combine", "add") == "concat":
        return [np.concatenate((word, where), axis=-1)]
    return [word + where]
