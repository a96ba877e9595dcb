"""How precisely an angle's sine and cosine are formed: the precision machinery of the tables.

The formulas (:mod:`refpe.positional`, :mod:`refpe.rotary`) read like their equations and ask
this module for two things:

- frequencies on the host to 60 significant digits (:func:`frequencies` for the sinusoid,
  :func:`rope_theta` for RoPE), as :class:`~decimal.Decimal`;
- :func:`sin_cos`: :math:`\\sin(p\\,\\omega)` and :math:`\\cos(p\\,\\omega)` for integer positions
  ``p`` on the device, with the phase :math:`p\\,\\omega` reduced exactly.

The derivations are in the docs (``docs/guides/precision.md``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import array_api_compat as compat

from ._compat import compiled, device_of, from_host, has_float64, namespace, require_range

#: Significant digits of the host-side frequencies.
DIGITS = 60
#: pi to 75 digits (more than :data:`DIGITS` needs).
PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628")


@functools.lru_cache(maxsize=128)
def frequencies(d: int, base: float, schedule: str) -> tuple[Decimal, ...]:
    r"""The sinusoid's angular frequencies :math:`\omega_i` to 60 significant digits.

    ``"transformer"``: :math:`\omega_i = base^{-2i/d}`, :math:`i < \lceil d/2 \rceil`.
    ``"t2t"``: :math:`\omega_i = base^{-i/\max(n-1, 1)}`, :math:`i < n = \lfloor d/2 \rfloor`.
    """
    with localcontext() as ctx:
        ctx.prec = DIGITS
        log_base = Decimal(base).ln()
        if schedule == "transformer":
            return tuple((Decimal(-2 * i) / d * log_base).exp() for i in range((d + 1) // 2))
        n = d // 2
        return tuple((Decimal(-i) / max(n - 1, 1) * log_base).exp() for i in range(n))


@functools.lru_cache(maxsize=128)
def rope_theta(rotary_dim: int, base: Decimal) -> tuple[Decimal, ...]:
    r"""RoPE's inverse frequencies :math:`\theta_i = b^{-2i/r}`, :math:`i < r/2`, to 60 digits.

    ``base`` is taken as the exact value it holds (a float converts exactly to Decimal).
    """
    with localcontext() as ctx:
        ctx.prec = DIGITS
        log_base = Decimal(base).ln()
        return tuple(
            (Decimal(-2 * i) / rotary_dim * log_base).exp() for i in range(rotary_dim // 2)
        )


def max_position(xp: Any, device: Any = None) -> int:
    """The largest ``|p|`` for which :func:`sin_cos` is exact on ``device``: :math:`2^{31} - 1`
    in float64, :math:`2^{24}` in float32 (every product of the reduction is exact there)."""
    return 2**31 - 1 if has_float64(xp, device) else 2**24


def require_positions(p: Any, xp: Any, what: str = "", top: int | None = None) -> None:
    """``IndexError`` naming the value unless ``|p| <= min(top,`` :func:`max_position` ``)``
    (checked only where the integer dtype can exceed it)."""
    bound = max_position(xp, device_of(p))
    bound = bound if top is None else min(top, bound)
    if xp.iinfo(p.dtype).max > bound:
        wide = "float64" if has_float64(xp, device_of(p)) else "float32"
        require_range("positions", p, -bound, bound + 1, xp, f"{what} for {wide}")


def sin_cos(p: Any, omega: Sequence[Decimal], xp: Any) -> tuple[Any, Any]:
    r"""``sin(p ω_i)``, ``cos(p ω_i)`` of shape ``p.shape + (len(ω),)`` in the widest float.

    ``p`` is an integer array with :math:`|p| \le` :func:`max_position`; ``ω`` are host
    values to 60 digits. The phase :math:`p\,\omega/2\pi` is reduced exactly (whole turns
    removed without rounding), so the result is within one unit :math:`\epsilon` of the
    working float (absolute) of the exact values at every position: float64 where the device
    has it (:func:`_sin_cos_f64`), else float32 (:func:`_sin_cos_f32`).
    """
    if has_float64(xp, device_of(p)):
        return _sin_cos_f64(p, omega, xp)
    return _sin_cos_f32(p, omega, xp)


def exact_sin_cos_table(positions: Any, omega: Sequence[Decimal]) -> tuple[Any, Any]:
    """For kernels: ``(sin, cos)`` as host NumPy float64 arrays of shape ``(len(positions),
    len(omega))``, within one float64 ulp of the exact values (correctly rounded in all but a
    few per million), for integer ``|positions| < 2^31``."""
    import array_api_compat.numpy as npx
    import numpy

    p = numpy.asarray(positions, dtype=numpy.int64).reshape(-1)
    require_positions(p, npx, " of the table")
    return sin_cos(p, tuple(omega), npx)


# --- float64: the exact phase reduction (double-double) ---------------------------------------

#: Elements per block of the NumPy float64 reduction (about 128 KiB per array).
_BLOCK = 16384
#: 2π rounded to 26 significant bits (so ``h * TAU_HI`` is exact for ``h`` of 26 bits), and the
#: rest of 2π in float64.
TAU_HI = round(2 * math.pi * 2**23) / 2**23
TAU_LO = float(Fraction(2 * PI) - Fraction(TAU_HI))


@functools.lru_cache(maxsize=128)
def _turn_parts(omega: tuple[Decimal, ...]) -> tuple[tuple[float, ...], ...]:
    r"""``f = ω/2π`` as ``f0 + f1 + f2 + tail``: ``f0, f1, f2`` on the grids
    :math:`2^{E-22}, 2^{E-44}, 2^{E-66}` (22 significant bits each, so :math:`p f_k` is exact
    for :math:`|p| < 2^{31}`), ``tail`` the rest rounded to float64; :math:`2^E > \max f`,
    :math:`E \ge -8` (so the turns left by ``f0`` and ``f1`` add exactly)."""
    turns = _in_turns(omega)
    top = max((abs(t) for t in turns), default=Fraction(0))
    e = max(-8, math.frexp(float(top))[1] if top else -8)
    rows = []
    for t in turns:
        row = []
        for k in (1, 2, 3):
            unit = Fraction(2) ** (e - 22 * k)
            part = round(t / unit) * unit
            row.append(float(part))
            t -= part
        rows.append((*row, float(t)))
    return tuple(zip(*rows, strict=True)) if rows else ((), (), (), ())


def _sin_cos_f64(p: Any, omega: Sequence[Decimal], xp: Any) -> tuple[Any, Any]:
    r"""``sin(p ω)``, ``cos(p ω)`` in float64 for :math:`|p| < 2^{31}`, within one ulp.

    Cody–Waite / Payne–Hanek style: the phase in turns :math:`p f`, :math:`f = \omega/2\pi`
    from 60 digits, is :math:`p f_0 + p f_1 + p f_2 + p\,tail` with the first three products
    exact (:func:`_turn_parts`); whole turns are removed exactly; the phase :math:`s + lo`
    becomes the angle :math:`x + e` (double-double, TwoSum) in :math:`[-\pi, \pi]`, and
    :math:`\sin(x + e) = \sin x + e \cos x` to far below an ulp.
    """
    parts = [from_host(c, xp, xp.float64, device_of(p)) for c in _turn_parts(tuple(omega))]
    if not compat.is_numpy_namespace(xp) or p.size * len(omega) <= _BLOCK:
        return compiled(_phase_f64, xp)(p, *parts)
    # NumPy evaluates each step over the whole array: in blocks of about _BLOCK elements the
    # thirty steps stay in cache (2.3x faster at 8192 x 512), with the same values.
    flat = xp.reshape(p, (-1,))
    rows = max(1, _BLOCK // len(omega))
    blocks = [_phase_f64(flat[i : i + rows], *parts) for i in range(0, flat.shape[0], rows)]
    shape = (*p.shape, len(omega))
    return tuple(xp.reshape(xp.concat([b[k] for b in blocks]), shape) for k in (0, 1))


def _phase_f64(p: Any, f0: Any, f1: Any, f2: Any, tail: Any) -> tuple[Any, Any]:
    xp = namespace(p=p)
    q = xp.expand_dims(xp.astype(p, xp.float64), axis=-1)
    t0, t1 = q * f0, q * f1
    s = (t0 - xp.round(t0)) + (t1 - xp.round(t1))  # both exact, on the grid 2^(E-44): exact
    s = s - xp.round(s)  # the phase in turns, |s| <= 1/2, exact
    lo = q * f2 + q * tail  # |lo| < 2^(E-13): its roundings are below 2^-67 turns
    h = xp.round(s * 2**26) * 2**-26  # 26 bits: h * TAU_HI is exact
    x, e = two_sum(h * TAU_HI, h * TAU_LO + ((s - h) + lo) * math.tau)
    sin_x, cos_x = xp.sin(x), xp.cos(x)
    return sin_x + e * cos_x, cos_x - e * sin_x


# --- float32: the exact phase reduction -------------------------------------------------------


def _chunks(x: Fraction, parts: int = 5, bits: int = 12) -> list[float]:
    """``x`` as a sum of ``parts`` floats of at most ``bits`` significant bits each."""
    out = []
    for _ in range(parts):
        if x == 0:
            out.append(0.0)
            continue
        e = math.frexp(float(x))[1]
        unit = Fraction(2) ** (e - bits)
        c = round(x / unit) * unit
        out.append(float(c))
        x -= c
    return out


def _in_turns(omega: Sequence[Decimal]) -> list[Fraction]:
    """``ω / 2π`` (turns per position) to 60 digits, as exact fractions of those digits."""
    with localcontext() as ctx:
        ctx.prec = DIGITS
        return [Fraction(o / (2 * PI)) for o in omega]


@functools.lru_cache(maxsize=128)
def _turns(omega: tuple[Decimal, ...]) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """``f = ω/2π`` and ``4096 f`` in 12-bit parts: ``(parts of f, parts of 4096 f)``."""
    turns = _in_turns(omega)
    fine = list(zip(*(_chunks(t) for t in turns), strict=True))
    coarse = list(zip(*(_chunks(4096 * t) for t in turns), strict=True))
    return fine, coarse


def two_sum(a: Any, b: Any) -> tuple[Any, Any]:
    """``s + e == a + b`` exactly, ``s`` the rounded sum (TwoSum, Knuth TAOCP vol. 2 §4.2.2)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _sin_cos_f32(p: Any, omega: Sequence[Decimal], xp: Any) -> tuple[Any, Any]:
    r"""``sin(p ω)``, ``cos(p ω)`` in float32 arithmetic only, for :math:`|p| < 2^{24}`.

    Cody–Waite style: the phase in turns, :math:`p\,\omega / 2\pi \bmod 1`, is formed
    exactly from 12-bit pieces of ``p`` and of :math:`\omega/2\pi` (every product exact),
    each product loses its whole turns exactly and TwoSum adds them with the rounding
    errors kept; the quarter turn is split off and applied by symmetry.
    """
    f32 = xp.float32
    fine, coarse = (
        [from_host(c, xp, f32, device_of(p)) for c in part] for part in _turns(tuple(omega))
    )
    return compiled(_phase_f32, xp)(p, fine, coarse)


def _phase_f32(p: Any, fine: list[Any], coarse: list[Any]) -> tuple[Any, Any]:
    xp = namespace(p=p)
    high = p // 4096
    ph = xp.expand_dims(xp.astype(high, xp.float32), axis=-1)
    pl = xp.expand_dims(xp.astype(p - high * 4096, xp.float32), axis=-1)
    s, err = xp.zeros_like(ph * fine[0]), xp.zeros_like(ph * fine[0])
    for term in reversed([pl * c for c in fine] + [ph * c for c in coarse]):
        s, e = two_sum(s, term - xp.round(term))
        s, err = s - xp.round(s), err + e
    q = xp.round(4 * s)
    r = ((s - q / 4) + err) * math.tau
    k = q - 4 * xp.floor(q / 4)
    sin_r, cos_r = xp.sin(r), xp.cos(r)
    sin = xp.where(k == 0, sin_r, xp.where(k == 1, cos_r, xp.where(k == 2, -sin_r, -cos_r)))
    cos = xp.where(k == 0, cos_r, xp.where(k == 1, -sin_r, xp.where(k == 2, -cos_r, sin_r)))
    return sin, cos
