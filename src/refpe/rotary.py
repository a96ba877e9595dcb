"""Rotary position embedding (RoPE) and its frequency rescalings.

Beyond the seeds (FORMULAS.md §6): Su et al. (2021), *RoFormer: Enhanced Transformer with
Rotary Position Embedding*, and the context-extension rules published after it.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from ._compat import (
    as_positions,
    default_namespace,
    namespace,
    require_choice,
    require_positive_int,
    resolve_dtype,
    work_float,
)

__all__ = ["rope", "rope_inv_freq", "rope_permute"]

ROPE_TYPES = ("default", "linear", "ntk", "dynamic", "yarn", "llama3", "longrope")
LAYOUTS = ("half", "interleaved")


def _rotary_dim(value: Any, head_dim: int | None = None, name: str = "rotary_dim") -> int:
    r = require_positive_int(name, value)
    if r % 2:
        raise ValueError(f"{name} must be even, got {r}")
    if head_dim is not None and r > head_dim:
        raise ValueError(f"{name} must be <= head_dim {head_dim}, got {r}")
    return r


def _theta(r: int, base: float) -> list[float]:
    r"""``base**(-2i/r)`` for ``i < r/2`` on the host, within about one float64 ulp.

    ``math.pow`` sees the exponent ``e = fl(2i/r)``; the exact residual
    :math:`\delta = 2i/r - e` (a :class:`~fractions.Fraction`) is put back to first order:
    :math:`b^{-2i/r} = b^{-e}(1 - \delta \ln b)`.
    """
    if not (math.isfinite(base) and base > 1):
        raise ValueError(f"base must be a finite number > 1, got {base!r}")
    out = []
    for i in range(r // 2):
        e = 2 * i / r
        delta = float(Fraction(2 * i, r) - Fraction(e))
        p = math.pow(base, -e)
        out.append(p - p * delta * math.log(base))
    return out


def _key(s: dict, key: str, kind: str) -> Any:
    if s.get(key) is None:
        raise KeyError(f"scaling is missing key {key!r} (needed by rope_type {kind!r})")
    return s[key]


def _factor(s: dict, kind: str, key: str = "factor") -> float:
    f = float(_key(s, key, kind))
    if not f >= 1:
        raise ValueError(f"scaling[{key!r}] must be >= 1 for rope_type {kind!r}, got {f!r}")
    return f


def _original_length(s: dict, kind: str, key: str = "original_max_position_embeddings") -> int:
    return require_positive_int(f"scaling[{key!r}]", _key(s, key, kind))


def _linear(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    f = _factor(s, "linear")
    return [t / f for t in _theta(r, base)], 1.0


def _ntk(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    if r < 4:
        raise ValueError(f"rotary_dim must be >= 4 for NTK scaling, got {r}")
    f = _factor(s, "ntk")
    return _theta(r, base * f ** (r / (r - 2))), 1.0


def _dynamic(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    if r < 4:
        raise ValueError(f"rotary_dim must be >= 4 for dynamic NTK scaling, got {r}")
    f = _factor(s, "dynamic")
    key = "max_position_embeddings"
    if s.get(key) is None and s.get("original_max_position_embeddings") is not None:
        key = "original_max_position_embeddings"
    n0 = _original_length(s, "dynamic", key)
    n = n0 if seq_len is None else max(require_positive_int("seq_len", seq_len), n0)
    return _theta(r, base * (f * n / n0 - (f - 1)) ** (r / (r - 2))), 1.0


def _mscale(s: float, m: float = 1.0) -> float:
    return 1.0 if s <= 1 else 0.1 * m * math.log(s) + 1.0


def _yarn_dim(rotations: float, r: int, base: float, n0: int) -> float:
    return r * math.log(n0 / (rotations * 2 * math.pi)) / (2 * math.log(base))


def _yarn(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    n0 = _original_length(s, "yarn")
    if s.get("factor") is None and s.get("max_position_embeddings") is not None:
        s = {**s, "factor": s["max_position_embeddings"] / n0}
    f = _factor(s, "yarn")
    af = s.get("attention_factor")
    if af is None:
        m, m_all = s.get("mscale"), s.get("mscale_all_dim")
        af = _mscale(f, m) / _mscale(f, m_all) if m and m_all else _mscale(f)
    low = _yarn_dim(s.get("beta_fast") or 32, r, base, n0)
    high = _yarn_dim(s.get("beta_slow") or 1, r, base, n0)
    if s.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, r - 1)
    if low == high:
        high += 0.001
    out = []
    for i, t in enumerate(_theta(r, base)):
        ramp = min(max((i - low) / (high - low), 0.0), 1.0)
        out.append(t if ramp == 0 else t / f + (1 - ramp) * (t - t / f))
    return out, float(af)


def _llama3(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    f = _factor(s, "llama3")
    lo, hi = (
        float(_key(s, "low_freq_factor", "llama3")),
        float(_key(s, "high_freq_factor", "llama3")),
    )
    n0 = _original_length(s, "llama3")
    if not hi > lo:
        raise ValueError(f"scaling['high_freq_factor'] must be > low_freq_factor {lo}, got {hi}")
    out = []
    for t in _theta(r, base):
        wavelen = 2 * math.pi / t
        if wavelen < n0 / hi:
            out.append(t)
        elif wavelen > n0 / lo:
            out.append(t / f)
        else:
            smooth = (n0 / wavelen - lo) / (hi - lo)
            out.append(t / f + smooth * (t - t / f))
    return out, 1.0


def _longrope(r: int, base: float, s: dict, seq_len: int | None) -> tuple[list[float], float]:
    n0 = _original_length(s, "longrope")
    long = seq_len is not None and seq_len > n0
    key = "long_factor" if long else "short_factor"
    ext = [float(v) for v in _key(s, key, "longrope")]
    _key(s, "short_factor" if long else "long_factor", "longrope")
    if len(ext) != r // 2:
        raise ValueError(
            f"scaling[{key!r}] must have rotary_dim/2 = {r // 2} values, got {len(ext)}"
        )
    f = s.get("factor")
    if f is None:
        f = _key(s, "max_position_embeddings", "longrope (without 'factor')") / n0
    af = s.get("attention_factor")
    if af is None:
        af = 1.0 if f <= 1 else math.sqrt(1 + math.log(f) / math.log(n0))
    return [t / e for t, e in zip(_theta(r, base), ext, strict=True)], float(af)


_SCALINGS = {"linear": _linear, "ntk": _ntk, "dynamic": _dynamic, "yarn": _yarn}
_SCALINGS |= {"llama3": _llama3, "longrope": _longrope}


def _rope_type(scaling: dict | None) -> str:
    if not scaling:
        return "default"
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    return require_choice("scaling['rope_type']", kind, ROPE_TYPES)


def _host_inv_freq(
    rotary_dim: int, base: float, scaling: dict | None, seq_len: int | None
) -> tuple[list[float], float]:
    s = dict(scaling or {})
    if s.get("rope_theta") is not None and float(s["rope_theta"]) != float(base):
        if float(base) != 10000.0:
            raise ValueError(f"base {base!r} contradicts scaling['rope_theta'] {s['rope_theta']!r}")
        base = float(s["rope_theta"])
    kind = _rope_type(scaling)
    if kind == "default":
        return _theta(rotary_dim, float(base)), 1.0
    return _SCALINGS[kind](rotary_dim, float(base), s, seq_len)


def rope_inv_freq(
    rotary_dim: int,
    *,
    base: float = 10000.0,
    scaling: dict | None = None,
    seq_len: int | None = None,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> tuple[Any, float]:
    r"""RoPE inverse frequencies and the attention factor, for every published rescaling.

    .. math::

        \theta_i = b^{-2i/r},\ i < r/2;\qquad
        \text{linear: } \theta_i/s;\qquad
        \text{ntk: } (b\,s^{r/(r-2)})^{-2i/r};\qquad
        \text{dynamic: } \bigl(b\,(sL/L_0 - (s-1))^{r/(r-2)}\bigr)^{-2i/r},\ L = \max(L, L_0)

        \text{yarn: } \gamma_i\,\theta_i/s + (1-\gamma_i)\,\theta_i,\quad
        \gamma_i = \operatorname{clip}\Bigl(\frac{i - \lfloor d(\beta_f)\rfloor}
        {\lceil d(\beta_s)\rceil - \lfloor d(\beta_f)\rfloor}, 0, 1\Bigr),\quad
        d(\beta) = \frac{r \ln(L_0 / 2\pi\beta)}{2\ln b},\quad
        a = 0.1\ln s + 1

        \text{llama3: } \lambda_i = 2\pi/\theta_i;\ \theta_i \text{ if } \lambda_i < L_0/h,\
        \theta_i/s \text{ if } \lambda_i > L_0/l,\ \text{else }
        (1-\mu)\theta_i/s + \mu\theta_i,\ \mu = \frac{L_0/\lambda_i - l}{h - l}

        \text{longrope: } \theta_i / e_i,\ e = \text{long\_factor if } L > L_0
        \text{ else short\_factor},\quad a = \sqrt{1 + \ln s / \ln L_0}

    ``scaling`` is Hugging Face's ``rope_scaling`` / ``rope_parameters`` dict as it stands in
    a model config (``rope_type`` or the older ``type``; ``factor``,
    ``original_max_position_embeddings``, ``beta_fast`` (32), ``beta_slow`` (1), ``truncate``
    (True), ``attention_factor``, ``mscale``, ``mscale_all_dim``, ``low_freq_factor``,
    ``high_freq_factor``, ``short_factor``, ``long_factor``; ``rope_theta``, when present, is
    the base). Keys a type does not use are ignored, ``partial_rotary_factor`` included: the
    caller passes the rotary dim. ``attention_factor`` ``a`` multiplies cos and sin (as
    Hugging Face does); it is 1 except for ``yarn`` and ``longrope``.

    Sources: Su et al. (2021) RoFormer (``default``); Chen et al. (2023), *Extending Context
    Window of LLMs via Positional Interpolation* (``linear``); bloc97 (2023), "NTK-Aware Scaled
    RoPE" (``ntk``, a fixed base change, not a Hugging Face type); emozilla (2023), "Dynamically
    Scaled RoPE" and Hugging Face ``_compute_dynamic_ntk_parameters`` (``dynamic``: ``L_0`` is
    the model's ``max_position_embeddings``, read from the key of that name or else from
    ``original_max_position_embeddings``; ``L`` is ``seq_len``, at least ``L_0``); Peng et al.
    (2023), *YaRN* (``yarn``: ``truncate`` floors/ceils the correction range as Hugging Face
    does, ``a`` is ``mscale(s, mscale)/mscale(s, mscale_all_dim)`` when both are given, the
    ``factor`` defaults to ``max_position_embeddings / L_0`` when only those are given); Meta
    (2024), Llama 3.1 release, ``apply_scaling`` (``llama3``); Ding et al. (2024), *LongRoPE*,
    and Microsoft's Phi-3 (``longrope``: the long factors apply when ``seq_len > L_0``, the
    short ones otherwise, ``seq_len=None`` included).

    Dynamic NTK has two meanings. (1) emozilla's rule above, which Hugging Face calls
    ``dynamic``: the NTK base is recomputed from the current length. Hugging Face's module
    recomputes it only when the length grows past the longest seen so far and resets it below
    ``L_0``, so in a generation loop its frequencies depend on history; this function is a pure
    function of ``seq_len``. (2) Peng et al. (2023) §3.3 "dynamic scaling": any rescaling
    (PI, YaRN) applied at inference with ``s = max(1, L / L_0)`` recomputed per length; here
    that is a call with that ``factor``.

    Precision: computed on the host in float64, ``base**(-2i/r)`` within one ulp (``math.pow``
    with the rounding of the exponent ``2i/r`` put back to first order), then rounded once to
    ``dtype`` (the namespace's default float when ``None``).
    """
    r = _rotary_dim(rotary_dim)
    freqs, af = _host_inv_freq(r, base, scaling, seq_len)
    xp = default_namespace(xp)
    return xp.asarray(freqs, dtype=resolve_dtype(xp, dtype, device), device=device), af


def _seq_len(positions: Any, scaling: dict | None, xp: Any) -> int | None:
    if _rope_type(scaling) not in ("dynamic", "longrope") or positions.size == 0:
        return None
    return int(xp.max(positions)) + 1


def rope(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
) -> Any:
    r"""Rotary position embedding of ``x`` of shape ``(..., T, head_dim)`` at ``positions``.

    .. math::

        \phi_{p,i} = p\,\theta_i,\qquad
        \begin{pmatrix} y_a \\ y_b \end{pmatrix} = a
        \begin{pmatrix} \cos\phi_{p,i} & -\sin\phi_{p,i} \\
        \sin\phi_{p,i} & \cos\phi_{p,i} \end{pmatrix}
        \begin{pmatrix} x_a \\ x_b \end{pmatrix},\quad i < r/2

    with the pair ``(a, b) = (i, i + r/2)`` in the ``"half"`` layout (GPT-NeoX, Hugging Face
    LLaMA) and ``(2i, 2i+1)`` in the ``"interleaved"`` layout (RoFormer, GPT-J, Meta's original
    LLaMA code, MLX ``traditional=True``); that is ``y = x cos + rot(x) sin``. Dims
    ``>= rotary_dim`` (default ``head_dim``) are returned untouched (partial rotary, GPT-NeoX).
    ``theta`` and the attention factor ``a`` come from :func:`rope_inv_freq` with ``base`` and
    ``scaling``; ``a`` multiplies cos and sin as Hugging Face does. For ``dynamic`` and
    ``longrope`` the current length is ``max(positions) + 1``, as Hugging Face takes it.

    ``positions`` is an int ``T`` (``0..T-1``) or an integer array broadcasting against
    ``x.shape[:-1]``, e.g. ``(T,)`` or per-row offsets ``(batch, 1, T)`` for cached decoding.

    Source: Su et al. (2021), *RoFormer*, eq. (34); FORMULAS.md §6 ``rope``.

    Precision: frequencies on the host in float64, angles ``p*theta``, cos, sin and the
    rotation in the device's widest float (float64 where it exists), rounded once to
    ``x.dtype``.
    """
    xp = namespace(x=x, positions=positions if not isinstance(positions, int) else None)
    layout = require_choice("layout", layout, LAYOUTS)
    head_dim = x.shape[-1]
    if rotary_dim is None:
        r = _rotary_dim(head_dim, name="head_dim")
    else:
        r = _rotary_dim(rotary_dim, head_dim)
    dev = getattr(x, "device", None)
    pos = as_positions(positions, xp, dev)
    lead = tuple(x.shape[:-1])
    try:
        ok = np.broadcast_shapes(lead, tuple(pos.shape)) == lead
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"positions of shape {tuple(pos.shape)} do not broadcast to {lead}")
    wide = work_float(xp, dev)
    theta, af = rope_inv_freq(
        r,
        base=base,
        scaling=scaling,
        seq_len=_seq_len(pos, scaling, xp),
        dtype=wide,
        xp=xp,
        device=dev,
    )
    phi = xp.astype(pos, wide)[..., None] * theta
    cos, sin = af * xp.cos(phi), af * xp.sin(phi)
    xw = xp.astype(x, wide)
    if layout == "half":
        xa, xb = xw[..., : r // 2], xw[..., r // 2 : r]
    else:
        xa, xb = xw[..., 0:r:2], xw[..., 1:r:2]
    ya, yb = xa * cos - xb * sin, xb * cos + xa * sin
    if layout == "half":
        y = xp.concat((ya, yb), axis=-1)
    else:
        y = xp.reshape(xp.stack((ya, yb), axis=-1), (*lead, r))
    return xp.concat((xp.astype(y, x.dtype), x[..., r:]), axis=-1)


def rope_permute(
    w: Any, *, num_heads: int, head_dim: int, to: str = "half", num_kv_heads: int | None = None
) -> Any:
    r"""Reorder a q/k projection's output rows between the two RoPE layouts, head by head.

    .. math::

        \text{to half: } W'_{h,\,j} = W_{h,\,2j},\ W'_{h,\,j + d/2} = W_{h,\,2j+1};\qquad
        \text{to interleaved: the inverse}

    for head ``h`` and ``j < head_dim/2``. Then ``rope(x W'^T, layout="half")`` gives the
    same attention scores as ``rope(x W^T, layout="interleaved")``. This is the ``permute``
    of Hugging Face's ``convert_llama_weights_to_hf.py`` (``to="half"``) and its inverse.
    ``w`` has shape ``(heads * head_dim, ...)`` (a weight or a bias); for a key projection
    with grouped-query attention pass ``num_kv_heads``, the number of heads ``w`` holds.

    Source: FORMULAS.md §6 ``rope``; Hugging Face transformers, LLaMA conversion script.

    Precision: a permutation, bit-exact.
    """
    xp = namespace(w=w)
    to = require_choice("to", to, LAYOUTS)
    n = require_positive_int("num_heads", num_heads)
    if num_kv_heads is not None:
        n = require_positive_int("num_kv_heads", num_kv_heads)
    d = _rotary_dim(head_dim, name="head_dim")
    rest = tuple(w.shape[1:])
    if w.ndim < 1 or w.shape[0] != n * d:
        raise ValueError(f"w must have {n} heads x {d} = {n * d} rows, got shape {tuple(w.shape)}")
    split = (n, d // 2, 2) if to == "half" else (n, 2, d // 2)
    axes = (0, 2, 1, *range(3, 3 + len(rest)))
    return xp.reshape(xp.permute_dims(xp.reshape(w, split + rest), axes), (n * d, *rest))
