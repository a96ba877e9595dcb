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
    """The largest ``|p|`` for which :func:`sin_cos` is exact on ``device``."""
    return 2**53 if has_float64(xp, device) else 2**24 - 1


def require_positions(p: Any, xp: Any, what: str = "") -> None:
    """``IndexError`` naming the value unless ``|p| <=`` :func:`max_position` (checked only
    where the integer dtype can exceed it)."""
    bound = max_position(xp, device_of(p))
    if xp.iinfo(p.dtype).max > bound:
        wide = "float64" if has_float64(xp, device_of(p)) else "float32"
        require_range("positions", p, -bound, bound + 1, xp, f"{what} for {wide}")


def sin_cos(p: Any, omega: Sequence[Decimal], xp: Any) -> tuple[Any, Any]:
    r"""``sin(p ω_i)``, ``cos(p ω_i)`` of shape ``p.shape + (len(ω),)`` in the widest float.

    ``p`` is an integer array with :math:`|p| \le` :func:`max_position`; ``ω`` are host
    values to 60 digits. float64 where the device has it; else the exact float32 phase
    reduction (:func:`_sin_cos_f32`).
    """
    if has_float64(xp, device_of(p)):
        return _sin_cos_f64(p, omega, xp)
    return _sin_cos_f32(p, omega, xp)


def _sin_cos_f64(p: Any, omega: Sequence[Decimal], xp: Any) -> tuple[Any, Any]:
    """``sin(p ω)``, ``cos(p ω)`` with ω correctly rounded to float64 and p ω in float64."""
    w = from_host([float(o) for o in omega], xp, xp.float64, device_of(p))
    angle = xp.expand_dims(xp.astype(p, xp.float64), axis=-1) * w
    return xp.sin(angle), xp.cos(angle)


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
