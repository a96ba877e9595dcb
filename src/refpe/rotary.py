"""Rotary position embedding (RoPE) and its frequency rescalings.

Beyond the seeds: Su et al. (2021), *RoFormer: Enhanced Transformer with
Rotary Position Embedding*, and the context-extension rules published after it.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from typing import Any

import numpy as np

from ._compat import (
    MAX_WIDTH,
    as_positions,
    default_namespace,
    namespace,
    require_choice,
    require_float,
    require_positive_int,
    resolve_dtype,
)
from ._precision import DIGITS, PI, require_positions, rope_theta, sin_cos

__all__ = ["rope", "rope_inv_freq", "rope_permute"]

LAYOUTS = ("half", "interleaved")
ONE = Decimal(1)


def _rotary_dim(value: Any, head_dim: int | None = None, name: str = "rotary_dim") -> int:
    r = require_positive_int(name, value, MAX_WIDTH)
    if r % 2:
        raise ValueError(f"{name} must be even, got {r}")
    if head_dim is not None and r > head_dim:
        raise ValueError(f"{name} must be <= head_dim {head_dim}, got {r}")
    return r


# --- the scalings: (rotary_dim, base, scaling, seq_len) -> (theta to 60 digits, attention factor)


def _get(scaling: dict, key: str, kind: str) -> Any:
    if scaling.get(key) is None:
        raise KeyError(f"scaling is missing key {key!r} (needed by rope_type {kind!r})")
    return scaling[key]


def _factor(scaling: dict, kind: str) -> Decimal:
    factor = float(_get(scaling, "factor", kind))
    if not factor >= 1:
        raise ValueError(f"scaling['factor'] must be >= 1 for rope_type {kind!r}, got {factor!r}")
    return Decimal(factor)


def _original_max_position(scaling: dict, kind: str, key: str = "original_max_position_embeddings"):
    return require_positive_int(f"scaling[{key!r}]", _get(scaling, key, kind))


def _ntk_dim(rotary_dim: int, kind: str) -> int:
    if rotary_dim < 4:
        raise ValueError(f"rotary_dim must be >= 4 for {kind} scaling, got {rotary_dim}")
    return rotary_dim


def _default(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""RoFormer (Su et al. 2021): :math:`\theta_i = b^{-2i/r}`, :math:`i < r/2`."""
    return rope_theta(rotary_dim, base), 1.0


def _linear(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""Position interpolation (Chen et al. 2023): :math:`\theta_i / s`."""
    factor = _factor(scaling, "linear")
    return tuple(t / factor for t in rope_theta(rotary_dim, base)), 1.0


def _ntk(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""NTK-aware scaling (bloc97 2023; a fixed base change, not a Hugging Face type):
    :math:`(b\,s^{r/(r-2)})^{-2i/r}`."""
    r = _ntk_dim(rotary_dim, "NTK")
    factor = _factor(scaling, "ntk")
    return rope_theta(r, base * factor ** (Decimal(r) / (r - 2))), 1.0


def _dynamic(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""Dynamic NTK (emozilla 2023; Hugging Face ``_compute_dynamic_ntk_parameters``):
    :math:`\bigl(b\,(sL/L_0 - (s-1))^{r/(r-2)}\bigr)^{-2i/r}` with :math:`L = \max(L, L_0)`;
    ``L_0`` from ``max_position_embeddings``, else ``original_max_position_embeddings``."""
    r = _ntk_dim(rotary_dim, "dynamic NTK")
    factor = _factor(scaling, "dynamic")
    key = "max_position_embeddings"
    if scaling.get(key) is None and scaling.get("original_max_position_embeddings") is not None:
        key = "original_max_position_embeddings"
    trained = _original_max_position(scaling, "dynamic", key)
    length = trained if seq_len is None else max(require_positive_int("seq_len", seq_len), trained)
    growth = 1 + factor * (length - trained) / trained  # s L / L_0 - (s - 1), exactly 1 at L_0
    return rope_theta(r, base * growth ** (Decimal(r) / (r - 2))), 1.0


def _mscale(factor: float, mscale: float = 1.0) -> float:
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def _yarn_dim(rotations: float, rotary_dim: int, base: Decimal, original: int) -> Decimal:
    """The dimension whose wavelength makes ``rotations`` turns over ``original`` positions."""
    return rotary_dim * (original / (Decimal(rotations) * 2 * PI)).ln() / (2 * base.ln())


def _yarn(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""YaRN (Peng et al. 2023): :math:`\gamma_i\,\theta_i/s + (1-\gamma_i)\,\theta_i`,
    :math:`\gamma_i = \operatorname{clip}((i - d(\beta_f)) / (d(\beta_s) - d(\beta_f)), 0, 1)`,
    :math:`d(\beta) = r \ln(L_0 / 2\pi\beta) / 2\ln b` (floored/ceiled when ``truncate``, as
    Hugging Face does), attention factor :math:`0.1 \ln s + 1` (or
    ``mscale(s, mscale)/mscale(s, mscale_all_dim)``, or ``attention_factor``)."""
    original = _original_max_position(scaling, "yarn")
    if scaling.get("factor") is None and scaling.get("max_position_embeddings") is not None:
        scaling = {**scaling, "factor": scaling["max_position_embeddings"] / original}
    factor = _factor(scaling, "yarn")
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")
        f = float(factor)
        if mscale and mscale_all_dim:
            attention_factor = _mscale(f, mscale) / _mscale(f, mscale_all_dim)
        else:
            attention_factor = _mscale(f)
    low = _yarn_dim(scaling.get("beta_fast") or 32, rotary_dim, base, original)
    high = _yarn_dim(scaling.get("beta_slow") or 1, rotary_dim, base, original)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, rotary_dim - 1)
    if low == high:
        high += Decimal("0.001")
    out = []
    for i, t in enumerate(rope_theta(rotary_dim, base)):
        ramp = min(max((i - low) / Decimal(high - low), 0), 1)
        out.append(t if ramp == 0 else t / factor + (1 - ramp) * (t - t / factor))
    return tuple(out), float(attention_factor)


def _llama3(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""Llama 3.1 ``apply_scaling`` (Meta 2024): with :math:`\lambda_i = 2\pi/\theta_i`,
    :math:`\theta_i` if :math:`\lambda_i < L_0/h`, :math:`\theta_i/s` if
    :math:`\lambda_i > L_0/l`, else :math:`(1-\mu)\theta_i/s + \mu\theta_i`,
    :math:`\mu = (L_0/\lambda_i - l)/(h - l)`."""
    factor = _factor(scaling, "llama3")
    low_freq_factor = Decimal(float(_get(scaling, "low_freq_factor", "llama3")))
    high_freq_factor = Decimal(float(_get(scaling, "high_freq_factor", "llama3")))
    original = _original_max_position(scaling, "llama3")
    if not high_freq_factor > low_freq_factor:
        raise ValueError(
            f"scaling['high_freq_factor'] must be > low_freq_factor {float(low_freq_factor)}, "
            f"got {float(high_freq_factor)}"
        )
    out = []
    for t in rope_theta(rotary_dim, base):
        wavelength = 2 * PI / t
        if wavelength < original / high_freq_factor:
            out.append(t)
        elif wavelength > original / low_freq_factor:
            out.append(t / factor)
        else:
            smooth = (original / wavelength - low_freq_factor) / (
                high_freq_factor - low_freq_factor
            )
            out.append(t / factor + smooth * (t - t / factor))
    return tuple(out), 1.0


def _longrope(rotary_dim: int, base: Decimal, scaling: dict, seq_len: int | None):
    r"""LongRoPE (Ding et al. 2024; Microsoft Phi-3): :math:`\theta_i / e_i` with ``long_factor``
    when ``seq_len > L_0``, ``short_factor`` otherwise (``seq_len=None`` included); attention
    factor :math:`\sqrt{1 + \ln s / \ln L_0}`."""
    original = _original_max_position(scaling, "longrope")
    key, other = ("long_factor", "short_factor")
    if seq_len is None or seq_len <= original:
        key, other = other, key
    extension = [Decimal(float(v)) for v in _get(scaling, key, "longrope")]
    _get(scaling, other, "longrope")
    if len(extension) != rotary_dim // 2:
        raise ValueError(
            f"scaling[{key!r}] must have rotary_dim/2 = {rotary_dim // 2} values, "
            f"got {len(extension)}"
        )
    factor = scaling.get("factor")
    if factor is None:
        factor = _get(scaling, "max_position_embeddings", "longrope (without 'factor')") / original
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = (
            1.0 if factor <= 1 else math.sqrt(1 + math.log(factor) / math.log(original))
        )
    theta = rope_theta(rotary_dim, base)
    return tuple(t / e for t, e in zip(theta, extension, strict=True)), float(attention_factor)


#: Every ``rope_type`` (like Hugging Face's ``ROPE_INIT_FUNCTIONS``): a function
#: ``(rotary_dim, base, scaling, seq_len) -> (theta, attention_factor)``, ``theta`` to 60 digits.
ROPE_SCALINGS = {
    "default": _default, "linear": _linear, "ntk": _ntk, "dynamic": _dynamic,
    "yarn": _yarn, "llama3": _llama3, "longrope": _longrope,
}  # fmt: skip
ROPE_TYPES = tuple(ROPE_SCALINGS)


def _rope_type(scaling: dict | None) -> str:
    if not scaling:
        return "default"
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    return require_choice("scaling['rope_type']", kind, ROPE_TYPES)


def _inv_freq(
    rotary_dim: int, base: float, scaling: dict | None, seq_len: int | None
) -> tuple[tuple[Decimal, ...], float]:
    """``(theta, attention_factor)`` from ``ROPE_SCALINGS``, theta to 60 digits on the host."""
    scaling = dict(scaling or {})
    theta = scaling.get("rope_theta")
    if theta is not None and float(theta) != float(base):
        if float(base) != 10000.0:
            raise ValueError(f"base {base!r} contradicts scaling['rope_theta'] {theta!r}")
        base = float(theta)
    if not (math.isfinite(base) and base > 1):
        raise ValueError(f"base must be a finite number > 1, got {base!r}")
    with localcontext() as ctx:
        ctx.prec = DIGITS
        return ROPE_SCALINGS[_rope_type(scaling)](rotary_dim, Decimal(base), scaling, seq_len)


def _host_inv_freq(
    rotary_dim: int, base: float, scaling: dict | None, seq_len: int | None
) -> tuple[list[float], float]:
    """:func:`_inv_freq` with theta correctly rounded to float64."""
    theta, attention_factor = _inv_freq(rotary_dim, base, scaling, seq_len)
    return [float(t) for t in theta], attention_factor


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

        \theta_i = b^{-2i/r},\quad i < r/2

        \theta'_i = g(\theta_i;\ \mathrm{scaling}),\quad a = \text{attention factor}

    with :math:`g` the ``rope_type``'s rule in :data:`ROPE_SCALINGS` (``default``, ``linear``,
    ``ntk``, ``dynamic``, ``yarn``, ``llama3``, ``longrope``; each function's docstring
    gives its formula and source). ``scaling`` is Hugging Face's ``rope_scaling`` /
    ``rope_parameters`` dict as it stands in a model config (``rope_type`` or the older
    ``type``; ``factor``, ``original_max_position_embeddings``, ``beta_fast`` (32),
    ``beta_slow`` (1), ``truncate`` (True), ``attention_factor``, ``mscale``,
    ``mscale_all_dim``, ``low_freq_factor``, ``high_freq_factor``, ``short_factor``,
    ``long_factor``; ``rope_theta``, when present, is the base). Keys a type does not use are
    ignored, ``partial_rotary_factor`` included: the caller passes the rotary dim. ``a``
    multiplies cos and sin (as Hugging Face does); it is 1 except for ``yarn`` and
    ``longrope``. ``seq_len`` is the current length for ``dynamic`` and ``longrope``: this is a
    pure function of it (Hugging Face's module keeps the longest length seen so far). Peng et
    al. (2023) §3.3's "dynamic scaling" of any rescaling is a call with ``factor`` =
    :math:`\max(1, L/L_0)`.

    Sources: Su et al. (2021) RoFormer; the papers and code named in :data:`ROPE_SCALINGS`.

    Precision: :math:`\theta'_i` is computed on the host to 60 significant digits and rounded
    once to ``dtype`` (the namespace's default float when ``None``): correctly rounded.
    """
    r = _rotary_dim(rotary_dim)
    theta, attention_factor = _host_inv_freq(r, base, scaling, seq_len)
    xp = default_namespace(xp)
    return xp.asarray(
        theta, dtype=resolve_dtype(xp, dtype, device), device=device
    ), attention_factor


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

    Source: Su et al. (2021), *RoFormer*, eq. (34) (arXiv:2104.09864).

    Precision: :math:`\theta_i` to 60 digits on the host; :math:`\cos`, :math:`\sin` of the
    exact phase :math:`p\,\theta_i` (:func:`refpe._precision.sin_cos`: within one ulp at
    every position, :math:`|p| < 2^{31}` with float64, :math:`2^{24}` without) and the
    rotation in the device's widest float, rounded once to ``x.dtype``: within about
    :math:`2\epsilon\,a(|x_a| + |x_b|)` of the exact pair at every position.
    """
    xp = namespace(x=x, positions=positions if not isinstance(positions, int) else None)
    require_float(xp, x=x)
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
    require_positions(pos, xp, " of rope")
    theta, attention_factor = _inv_freq(r, base, scaling, _seq_len(pos, scaling, xp))
    sin, cos = sin_cos(pos, theta, xp)
    if attention_factor != 1:
        cos, sin = attention_factor * cos, attention_factor * sin
    wide = sin.dtype
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

    Source: Hugging Face transformers, LLaMA conversion script
    (``convert_llama_weights_to_hf.py``, ``permute``).

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
