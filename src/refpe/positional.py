"""Absolute positional encodings (位置编码): sinusoidal, learned, projected, linear, dual linear."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from typing import Any

from ._compat import (
    MAX_WIDTH,
    as_positions,
    default_namespace,
    device_of,
    dtype_name,
    has_float64,
    is_traced,
    namespace,
    require_choice,
    require_elements,
    require_float,
    require_int,
    require_positive_int,
    require_range,
    resolve_dtype,
    take_rows,
    to_host,
    work_float,
)
from ._precision import frequencies, require_positions, sin_cos

__all__ = [
    "pe_dual_linear",
    "pe_learned",
    "pe_linear",
    "pe_projected_sinusoid",
    "pe_sinusoidal",
    "pe_sinusoidal_learnable",
]

LAYOUTS = ("interleaved", "concatenated")
SCHEDULES = ("transformer", "t2t")
#: Largest integer up to which every integer is representable in the dtype.
EXACT_INTEGERS = {"float16": 2048, "bfloat16": 256}


def _sinusoid_options(base: Any, schedule: str, layout: str | None) -> tuple[str, str]:
    """Checked ``base``; ``(schedule, layout)``, the layout defaulting by schedule."""
    if not (isinstance(base, (int, float)) and math.isfinite(base) and base > 0):
        raise ValueError(f"base must be a finite number > 0, got {base!r}")
    schedule = require_choice("schedule", schedule, SCHEDULES)
    default = "interleaved" if schedule == "transformer" else "concatenated"
    return schedule, require_choice("layout", layout or default, LAYOUTS)


def _table_namespace(positions: Any, xp: Any, device: Any) -> tuple[Any, Any]:
    """``(xp, device)``: the given ones for an int ``n``, else those of the positions array."""
    if isinstance(positions, int):
        return default_namespace(xp), device
    given, xp = xp, namespace(positions=positions)
    if given is not None and default_namespace(given) is not xp:
        raise TypeError(f"positions is a {xp.__name__} array but xp is {given.__name__}")
    return xp, device_of(positions)


def _require_positions(p: Any, dt: Any, xp: Any, device: Any) -> None:
    """float64 asked of a device without it; positions past what :func:`sin_cos` takes exactly
    (``IndexError``); a warning past the integers the output dtype represents."""
    if dtype_name(dt) == "float64" and not has_float64(xp, device):
        raise ValueError(f"dtype 'float64' is not available on device {device!r} of {xp.__name__}")
    require_positions(p, xp, " (plus offset)")
    _warn_unrepresentable(p, dtype_name(dt), xp)


def _arrange(sin: Any, cos: Any, d: int, layout: str, xp: Any) -> Any:
    """Columns in ``layout``; an extra sine when odd (transformer), a zero column (t2t)."""
    cos = cos[..., : d // 2]
    if layout == "interleaved" and cos.shape[-1] > 0:
        m = cos.shape[-1]
        pairs = xp.stack([sin[..., :m], cos], axis=-1)
        parts = [xp.reshape(pairs, (*pairs.shape[:-2], 2 * m)), sin[..., m:]]
    else:
        parts = [sin, cos]
    width = sum(part.shape[-1] for part in parts)
    if width < d:
        parts.append(xp.zeros((*sin.shape[:-1], d - width), dtype=sin.dtype, device=device_of(sin)))
    parts = [part for part in parts if part.shape[-1] > 0]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


def _warn_unrepresentable(p: Any, name: str, xp: Any) -> None:
    limit = EXACT_INTEGERS.get(name)
    if limit is None or p.size == 0 or is_traced(p):
        return
    top = int(xp.max(xp.abs(p)))
    if top > limit:
        warnings.warn(
            f"positions up to {top} exceed {limit}, the largest integer up to which every "
            f"integer is exact in {name}: the table is right (rounded once from wider "
            f"arithmetic), but positions kept in {name} cannot address these rows",
            stacklevel=3,
        )


def pe_sinusoidal(
    positions: Any,
    d: int,
    *,
    base: float = 10000.0,
    layout: str | None = None,
    schedule: str = "transformer",
    offset: int = 0,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r"""Sinusoidal positional encoding (Vaswani et al. 2017 §3.5).

    .. math::

        \omega_i = base^{-2i/d}, \qquad
        PE[p, 2i] = \sin(p\,\omega_i), \qquad PE[p, 2i+1] = \cos(p\,\omega_i)

    for ``layout="interleaved"`` (the default for ``schedule="transformer"``); under
    ``"concatenated"`` the first :math:`\lceil d/2 \rceil` columns are the sines and the
    rest the cosines. Odd ``d``: the extra column is a sine (:math:`\lceil d/2 \rceil`
    sines, :math:`\lfloor d/2 \rfloor` cosines).

    ``schedule="t2t"`` (tensor2tensor ``get_timing_signal_1d``, fairseq
    ``SinusoidalPositionalEmbedding.get_embedding``): :math:`n = \lfloor d/2 \rfloor`
    frequencies :math:`\omega_i = base^{-i/\max(n-1, 1)}` (``base`` is
    ``max_timescale / min_timescale``), concatenated layout by default, and an odd ``d``
    gets a zero last column. tensor2tensor divides by :math:`\max(n-1, 1)`; fairseq divides
    by :math:`n - 1` (``d`` in {2, 3} raises ``ZeroDivisionError`` there); refpe follows
    tensor2tensor. fairseq reads its table from position ``padding_idx + 1``: pass
    ``offset=padding_idx + 1`` with positions counted from 0 (fairseq also zeroes the
    ``padding_idx`` row, which its non-padding tokens never read).

    ``positions`` is an int ``n`` (``0 .. n-1``) or an integer array of any shape ``S``;
    ``offset`` is added to it; the output has shape ``S + (d,)`` and ``dtype`` (default:
    the namespace's default float).

    Source: seed 004 §3 (the formula); seed 001 §5.2 (code, interleaved,
    ``exp(2i · -ln(base)/d)``); seed 003 §4.2.2 (``[sin, cos]``, concatenated).

    Precision: :math:`\omega_i` on the host to 60 digits and the phase :math:`p\,\omega_i`
    reduced exactly (:func:`refpe._precision.sin_cos`; derivation in the docs' precision
    guide), so nothing in the error grows with the position: within :math:`\epsilon_{64}`
    absolute of the exact value in float64 for :math:`|p| < 2^{31}`, rounded once to
    ``dtype`` (within :math:`\epsilon` absolute in float32/16); a device without float64
    (JAX without x64, ``array_api_strict.Device("no_float64")``) reduces in float32 for
    :math:`|p| \le 2^{24}`, within :math:`\epsilon_{32}` absolute as well.
    float16 (bfloat16) represents every integer only up to 2048 (256): positions past that
    give a warning, as code that keeps positions in that dtype cannot address them.

    Dask only: ``chunks`` are the blocks of the positions (rows per block for an int ``n``);
    the Dask kernel (:mod:`refpe.kernels.dask`) builds each block lazily with the NumPy kernel.
    """
    d = require_positive_int("d", d, MAX_WIDTH)
    schedule, layout = _sinusoid_options(base, schedule, layout)
    xp, device = _table_namespace(positions, xp, device)
    dt = resolve_dtype(xp, dtype, device)
    p = as_positions(positions, xp, device) + require_int("offset", offset)
    if chunks is not None:
        if not hasattr(p, "rechunk"):
            raise ValueError(f"chunks is for Dask arrays only, got chunks={chunks!r}")
        p = p.rechunk(chunks)
    _require_positions(p, dt, xp, device)
    sin, cos = sin_cos(p, frequencies(d, float(base), schedule), xp)
    return xp.astype(_arrange(sin, cos, d, layout, xp), dt, copy=False)


def pe_learned(positions: Any, table: Any) -> Any:
    r"""Learned absolute positions (BERT, GPT-2): a row lookup in a trainable table.

    .. math::

        PE[p] = P[p], \qquad P \in \mathbb{R}^{L \times d}, \quad 0 \le p < L

    ``P`` is initialised by an ``init-*`` initialiser and trained. Source: seed 004 §3
    (可学习编码); seed 001 §1.2.

    Precision: a gather, bit-exact. A position outside ``[0, L)`` raises ``IndexError``
    naming the value (a learned table has no row for it).
    """
    xp = namespace(positions=positions, table=table)
    if table.ndim != 2:
        raise ValueError(f"table must be 2-D (L, d), got shape {tuple(table.shape)}")
    p = as_positions(positions, xp, device_of(table))
    require_range(
        "positions", p, 0, table.shape[0], xp, f" of a learned table of {table.shape[0]} rows"
    )
    return take_rows(table, p, xp)


def pe_sinusoidal_learnable(
    max_len: int,
    d: int,
    *,
    noise_std: float = 0.0,
    seed: int | None = None,
    layout: str | None = None,
    base: float = 10000.0,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""The initial value of a learnable table started at the sinusoid, plus optional noise.

    .. math::

        P_0[p, :] = PE_{\sin}[p, :] + \sigma Z[p, :], \qquad Z \sim \mathcal N(0, 1),
        \quad 0 \le p < L

    with :math:`\sigma` = ``noise_std`` (default 0: the sinusoid itself) and ``Z`` drawn by
    :func:`refpe.init_normal` from ``seed`` (required when :math:`\sigma > 0`). Shape
    ``(max_len, d)``.

    Source: seed 001 §5.2 (``PositionalEmbedding``).

    Seed erratum (seed 001 §5.2): its code starts from ``nn.Parameter(torch.randn(d_model,
    max_len))`` and adds the sinusoid, i.e. noise of standard deviation 1 (as large as the
    signal), and keeps the table transposed ``(d, max_len)`` while indexing it as
    ``(max_len, d)``. refpe returns ``(max_len, d)`` and makes the noise an explicit
    ``noise_std`` (0 by default).

    Precision: the sinusoid (as :func:`pe_sinusoidal`) and the noise are added in the
    device's widest float and rounded once to ``dtype``.
    """
    max_len = require_positive_int("max_len", max_len)
    require_elements("max_len * d", max_len, require_positive_int("d", d, MAX_WIDTH))
    if not (isinstance(noise_std, (int, float)) and math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"noise_std must be finite and >= 0, got {noise_std!r}")
    from .init import _require_seed, init_normal

    if noise_std > 0:
        _require_seed(seed)
    xp = default_namespace(xp)
    dt = resolve_dtype(xp, dtype, device)
    wide = work_float(xp, device)
    table = pe_sinusoidal(max_len, d, base=base, layout=layout, dtype=wide, xp=xp, device=device)
    if noise_std > 0:
        noise = init_normal((max_len, d), seed=seed, std=1.0, dtype=wide, xp=xp, device=device)
        table = table + noise_std * noise
    return xp.astype(table, dt)


def pe_projected_sinusoid(positions: Any, alpha: Any, w1: Any, w2: Any) -> Any:
    r"""A sinusoid of the position projected by trainable weights (seed 001 §4.1).

    .. math::

        E_{pos}(p) = \sin(\alpha p)\, W_1 + \cos(\alpha p)\, W_2

    ``alpha`` a scalar and ``W1, W2`` of shape ``(d,)`` is the seed's formula exactly;
    generalised to ``K`` frequencies, ``alpha`` of shape ``(K,)`` and ``W1, W2`` of shape
    ``(K, d)``: :math:`\sin(p\alpha) W_1 + \cos(p\alpha) W_2` (row vectors of length ``K``
    times ``(K, d)`` matrices). Output shape ``positions.shape + (d,)``.

    Source: seed 001 §4.1–4.2 (:math:`\alpha_1` a hyper-parameter, :math:`W_1, W_2`
    trainable).

    Precision: the phase :math:`p\alpha` reduced exactly (:func:`refpe._precision.sin_cos`,
    :math:`|p| < 2^{31}` with float64, :math:`2^{24}` without; inside a traced function the
    angle is rounded), the sines, cosines and products in the device's widest float, rounded
    once to ``w1.dtype``: within a few :math:`\epsilon \sum_k (|W_{1,kj}| + |W_{2,kj}|)`
    at every position.
    """
    xp = namespace(positions=positions, alpha=alpha, w1=w1, w2=w2)
    if tuple(w1.shape) != tuple(w2.shape):
        raise ValueError(f"w1 shape {tuple(w1.shape)} and w2 shape {tuple(w2.shape)} differ")
    if w1.ndim not in (1, 2):
        raise ValueError(f"w1 must be (d,) or (K, d), got shape {tuple(w1.shape)}")
    wide = work_float(xp, device_of(w1))
    if isinstance(alpha, (int, float)):
        alpha = xp.asarray(float(alpha), dtype=wide, device=device_of(w1))
    a = xp.reshape(xp.astype(alpha, wide), (-1,))
    W1, W2 = (xp.reshape(xp.astype(w, wide), (-1, w1.shape[-1])) for w in (w1, w2))
    if a.shape[0] != W1.shape[0]:
        raise ValueError(
            f"alpha has {a.shape[0]} frequencies but w1 has {W1.shape[0]} rows "
            f"(shape {tuple(w1.shape)})"
        )
    p = as_positions(positions, xp, device_of(w1))
    host = None if is_traced(a) or is_traced(p) else [float(v) for v in to_host(a)]
    if host is not None and all(math.isfinite(v) for v in host) and p.size:
        # the phase p alpha reduced exactly (alpha taken as the value it holds): no rounded
        # angle, so the error does not grow with the position
        require_positions(p, xp, " of pe_projected_sinusoid")
        sin, cos = sin_cos(p, tuple(Decimal(v) for v in host), xp)
        sin, cos = xp.astype(sin, wide), xp.astype(cos, wide)
    else:  # traced or non-finite alpha: the angle rounded in the widest float
        angle = xp.expand_dims(xp.astype(p, wide), axis=-1) * a
        sin, cos = xp.sin(angle), xp.cos(angle)
    return xp.astype(sin @ W1 + cos @ W2, w1.dtype)


def pe_linear(positions: Any, w: Any, b: Any) -> Any:
    r"""Linear positional encoding: each position gets a linearly increasing value.

    .. math::

        PE[p] = p\, w + b, \qquad w, b \in \mathbb{R}^d

    (a scalar slope is ``w = slope * ones(d)``) — seed 003's ``nn.Linear(1, d)`` applied to
    the scalar position. With tables ``w, b`` of shape ``(L, d)``, every position has its
    own layer: :math:`PE[p] = p\, w_p + b_p` (seed 003 §5.2 keeps
    ``nn.ModuleList([nn.Linear(1, d) for _ in range(L)])``); then ``p`` must lie in
    ``[0, L)``.

    Source: seed 000 §2.3, §4.2 (线性位置编码); seed 003 §5.2.

    Precision: :math:`p w + b` in the device's widest float, rounded once to ``w.dtype``.
    """
    xp = namespace(positions=positions, w=w, b=b)
    if tuple(w.shape) != tuple(b.shape):
        raise ValueError(f"w shape {tuple(w.shape)} and b shape {tuple(b.shape)} differ")
    if w.ndim not in (1, 2):
        raise ValueError(f"w must be (d,) or (L, d), got shape {tuple(w.shape)}")
    require_float(xp, w=w, b=b)
    wide = work_float(xp, device_of(w))
    p = as_positions(positions, xp, device_of(w))
    if w.ndim == 2:
        require_range(
            "positions", p, 0, w.shape[0], xp, f" of per-position tables of {w.shape[0]} rows"
        )
        w, b = take_rows(w, p, xp), take_rows(b, p, xp)
    pw = xp.expand_dims(xp.astype(p, wide), axis=-1) * xp.astype(w, wide)
    return xp.astype(pw + xp.astype(b, wide), w.dtype)


def pe_dual_linear(pe1: Any, pe2: Any) -> Any:
    r"""Seed 000's "dual linear" (双线性) encoding: the element-wise product of two encodings.

    .. math::

        PE[p] = P_1[p] \odot P_2[p]

    ``pe1`` and ``pe2`` are encodings of the same positions (tables, or outputs of two
    refpe encodings such as :func:`pe_learned` and :func:`pe_linear`), of the same shape
    and dtype. Seed 000 §4.2 adds the result to the word vector,
    :math:`v_{seq}[i] = v_{word} + P_1[i] \odot P_2[i]`; see :func:`refpe.input_add`.

    Source: seed 000 §2.3, §4.2. Seed erratum: §2.3 calls it the "交叉和" (cross sum) of
    the two encodings, §4.2 writes an element-wise product :math:`\odot`, and its code
    implements neither; refpe follows the §4.2 formula.

    Precision: one product in the inputs' dtype, correctly rounded (bit-exact).
    """
    namespace(pe1=pe1, pe2=pe2)
    if tuple(pe1.shape) != tuple(pe2.shape):
        raise ValueError(f"pe1 shape {tuple(pe1.shape)} and pe2 shape {tuple(pe2.shape)} differ")
    if pe1.dtype != pe2.dtype:
        raise TypeError(
            f"pe1 dtype {dtype_name(pe1.dtype)} and pe2 dtype {dtype_name(pe2.dtype)} differ"
        )
    return pe1 * pe2
