r"""Oracles for rotary position embedding (RoPE) and its frequency rescalings.

Written from the published definitions, with the key names of Hugging Face's
``rope_scaling`` dicts (``modeling_rope_utils.py``):

- default: Su et al. (2021), RoFormer: :math:`\theta_i = b^{-2i/r}`, :math:`i < r/2`;
- linear: Chen et al. (2023), Positional Interpolation: :math:`\theta_i / s`;
- ntk: bloc97 (2023), NTK-aware scaled RoPE: the base :math:`b\,s^{r/(r-2)}`;
- dynamic: emozilla (2023), dynamically scaled RoPE: the base
  :math:`b\,(sL/L_0 - (s - 1))^{r/(r-2)}` with :math:`L = \max(L, L_0)`;
- yarn: Peng et al. (2023), YaRN: a ramp between :math:`\theta_i` and :math:`\theta_i/s` over
  the correction range, attention factor :math:`0.1 \ln s + 1`;
- llama3: Meta's Llama 3.1 ``apply_scaling``;
- longrope: Ding et al. (2024), LongRoPE / Phi-3: :math:`\theta_i / e_i` and the attention
  factor :math:`\sqrt{1 + \ln s / \ln L_0}`.

Every quantity is an exact real evaluated with mpmath at :data:`DIGITS` digits; the floors and
ceilings of YaRN's correction range are taken of those exact reals.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._core import DIGITS, register
from .positional import frequencies, positions_of, sin_cos

__all__ = ["inv_freq"]


def _mp(v: Any) -> mpmath.mpf:
    return mpmath.mpf(float(v)) if isinstance(v, float) else mpmath.mpf(v)


def _theta(r: int, base: Any) -> list[mpmath.mpf]:
    """:math:`base^{-2i/r}`, ``i < r/2``, for an exact real ``base`` (mpf or float)."""
    if isinstance(base, float):
        return frequencies(base, [Fraction(2 * i, r) for i in range(r // 2)])
    return [mpmath.power(base, -mpmath.mpf(2 * i) / r) for i in range(r // 2)]


def _mscale(s: mpmath.mpf, m: Any = 1) -> mpmath.mpf:
    """YaRN's :math:`0.1\\,m \\ln s + 1` for :math:`s > 1`, else 1 (Peng et al. 2023 §3.4)."""
    return mpmath.mpf(1) if s <= 1 else mpmath.mpf("0.1") * _mp(m) * mpmath.log(s) + 1


def _yarn(r: int, base: float, s: Mapping[str, Any]) -> tuple[list[mpmath.mpf], mpmath.mpf]:
    """YaRN (Peng et al. 2023 §3.2–3.4), Hugging Face's ``_compute_yarn_parameters`` keys.

    The correction range :math:`d(\\beta) = r \\ln(L_0 / 2\\pi\\beta) / (2 \\ln b)` for
    ``beta_fast`` (32) and ``beta_slow`` (1), floored/ceiled when ``truncate`` (default),
    clipped to ``[0, r - 1]``; the ramp :math:`\\gamma_i = \\mathrm{clip}((i - lo)/(hi - lo))`
    mixes :math:`\\theta_i/s` (weight :math:`\\gamma_i`) and :math:`\\theta_i`.
    """
    n0 = int(s["original_max_position_embeddings"])
    f = s.get("factor")
    f = _mp(f) if f is not None else mpmath.mpf(int(s["max_position_embeddings"])) / n0
    af = s.get("attention_factor")
    if af is not None:
        a = _mp(af)
    elif s.get("mscale") and s.get("mscale_all_dim"):
        a = _mscale(f, s["mscale"]) / _mscale(f, s["mscale_all_dim"])
    else:
        a = _mscale(f)
    b = _mp(base)

    def dim(rotations: Any) -> mpmath.mpf:
        return r * mpmath.log(n0 / (_mp(rotations) * 2 * mpmath.pi)) / (2 * mpmath.log(b))

    lo, hi = dim(s.get("beta_fast") or 32), dim(s.get("beta_slow") or 1)
    if s.get("truncate", True):
        lo, hi = mpmath.floor(lo), mpmath.ceil(hi)
    lo, hi = max(lo, mpmath.mpf(0)), min(hi, mpmath.mpf(r - 1))
    if lo == hi:
        hi += mpmath.mpf("0.001")  # Hugging Face's guard against a zero-width ramp
    out = []
    for i, t in enumerate(_theta(r, base)):
        g = min(max((i - lo) / (hi - lo), mpmath.mpf(0)), mpmath.mpf(1))
        out.append(g * t / f + (1 - g) * t)
    return out, a


def _llama3(r: int, base: float, s: Mapping[str, Any]) -> list[mpmath.mpf]:
    """Llama 3.1 ``apply_scaling``: wavelength :math:`\\lambda = 2\\pi/\\theta`; keep
    :math:`\\theta` below :math:`L_0/h`, :math:`\\theta/s` above :math:`L_0/l`, in between
    :math:`(1-\\mu)\\theta/s + \\mu\\theta` with :math:`\\mu = (L_0/\\lambda - l)/(h - l)`."""
    f, lo, hi = _mp(s["factor"]), _mp(s["low_freq_factor"]), _mp(s["high_freq_factor"])
    n0 = mpmath.mpf(int(s["original_max_position_embeddings"]))
    out = []
    for t in _theta(r, base):
        wavelen = 2 * mpmath.pi / t
        if wavelen < n0 / hi:
            out.append(t)
        elif wavelen > n0 / lo:
            out.append(t / f)
        else:
            mu = (n0 / wavelen - lo) / (hi - lo)
            out.append((1 - mu) * t / f + mu * t)
    return out


def _longrope(
    r: int, base: float, s: Mapping[str, Any], seq_len: Any
) -> tuple[list[mpmath.mpf], mpmath.mpf]:
    """LongRoPE (Ding et al. 2024) as in Phi-3: ``long_factor`` when ``seq_len > L_0``, else
    ``short_factor``; :math:`a = \\sqrt{1 + \\ln s / \\ln L_0}` (1 for :math:`s \\le 1`), ``s``
    the ``factor`` or ``max_position_embeddings / L_0``."""
    n0 = int(s["original_max_position_embeddings"])
    ext = s["long_factor"] if seq_len is not None and seq_len > n0 else s["short_factor"]
    f = s.get("factor")
    f = _mp(f) if f is not None else mpmath.mpf(int(s["max_position_embeddings"])) / n0
    af = s.get("attention_factor")
    if af is not None:
        a = _mp(af)
    else:
        a = mpmath.mpf(1) if f <= 1 else mpmath.sqrt(1 + mpmath.log(f) / mpmath.log(n0))
    return [t / _mp(float(e)) for t, e in zip(_theta(r, base), ext, strict=True)], a


def inv_freq(
    r: int, base: float, scaling: Mapping[str, Any] | None, seq_len: Any
) -> tuple[list[mpmath.mpf], mpmath.mpf]:
    """The exact inverse frequencies of ``r`` rotary dims and the attention factor (call at
    :data:`DIGITS` digits). ``scaling["rope_theta"]``, when given, is the base."""
    s = dict(scaling or {})
    if s.get("rope_theta") is not None:
        base = float(s["rope_theta"])
    base = float(base)
    kind = s.get("rope_type", s.get("type", "default")) if s else "default"
    one = mpmath.mpf(1)
    if kind == "default":
        return _theta(r, base), one
    if kind == "linear":
        return [t / _mp(s["factor"]) for t in _theta(r, base)], one
    if kind == "ntk":
        return _theta(r, _mp(base) * _mp(s["factor"]) ** (mpmath.mpf(r) / (r - 2))), one
    if kind == "dynamic":
        f = _mp(s["factor"])
        n0 = int(s.get("max_position_embeddings") or s["original_max_position_embeddings"])
        n = max(int(seq_len), n0) if seq_len is not None else n0
        grown = f * n / n0 - (f - 1)
        return _theta(r, _mp(base) * grown ** (mpmath.mpf(r) / (r - 2))), one
    if kind == "yarn":
        return _yarn(r, base, s)
    if kind == "llama3":
        return _llama3(r, base, s), one
    if kind == "longrope":
        return _longrope(r, base, s, seq_len)
    raise ValueError(f"no oracle for rope_type {kind!r}")


@register("rope-scaling", "mpmath at 60 digits")
def rope_scaling(inputs: Mapping[str, Any]) -> list[Any]:
    with mpmath.workdps(DIGITS):
        theta, a = inv_freq(
            int(inputs["rotary_dim"]),
            inputs.get("base", 10000.0),
            inputs.get("scaling"),
            inputs.get("seq_len"),
        )
    return [np.array(theta, dtype=object), a]


def _rope_type(scaling: Mapping[str, Any] | None) -> str:
    return (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))


@register("rope", "mpmath at 60 digits")
def rope(inputs: Mapping[str, Any]) -> list[Any]:
    r"""RoFormer eq. (34): for each pair :math:`(x_a, x_b)` and :math:`\phi = p\,\theta_i`,
    :math:`y_a = a(x_a\cos\phi - x_b\sin\phi)`, :math:`y_b = a(x_b\cos\phi + x_a\sin\phi)`.

    Pairs ``(i, i + r/2)`` in the ``"half"`` layout (GPT-NeoX), ``(2i, 2i+1)`` in
    ``"interleaved"`` (RoFormer, GPT-J); dims from ``rotary_dim`` on are ``x`` itself. For
    ``dynamic`` and ``longrope`` the current length is ``max(positions) + 1`` (Hugging Face's
    ``position_ids``).
    """
    x = np.asarray(inputs["x"], dtype=np.float64)
    r = int(inputs.get("rotary_dim") or x.shape[-1])
    pos = np.broadcast_to(positions_of(inputs["positions"]), x.shape[:-1])
    scaling = inputs.get("scaling")
    seq_len = None
    if _rope_type(scaling) in ("dynamic", "longrope") and pos.size:
        seq_len = int(pos.max()) + 1
    if inputs.get("layout", "half") == "half":
        pairs = [(i, i + r // 2) for i in range(r // 2)]
    else:
        pairs = [(2 * i, 2 * i + 1) for i in range(r // 2)]
    out = np.empty(x.shape, dtype=object)
    out[...] = x  # dims past rotary_dim: x itself, exactly
    with mpmath.workdps(DIGITS):
        theta, a = inv_freq(r, inputs.get("base", 10000.0), scaling, seq_len)
        table = sin_cos(pos, theta)
        for idx, p in np.ndenumerate(pos):
            s, c = table[int(p)]
            row = x[idx]
            for i, (ia, ib) in enumerate(pairs):
                xa, xb = mpmath.mpf(float(row[ia])), mpmath.mpf(float(row[ib]))
                out[(*idx, ia)] = a * (xa * c[i] - xb * s[i])
                out[(*idx, ib)] = a * (xb * c[i] + xa * s[i])
    return [out]
