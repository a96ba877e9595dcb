r"""The ``rope`` kernels for NumPy and JAX (PyTorch: :mod:`refpe.kernels.rotary_torch`).

================  ==========================================================================
library           kernel
================  ==========================================================================
NumPy             three passes per cache-sized block (``x C``, the swapped halves times
                  ``[-sin, sin]``, the sum), leading rows split between threads; one
                  pass where Numba is importable (:mod:`refpe.kernels.rotary_fused`);
                  interleaved layout as one complex multiply; ``out=`` buffers, ``out=x``
                  in place
JAX               the formula under ``jax.jit`` with the cached tables on ``x``'s device
================  ==========================================================================

Source: Su et al. (2021), RoFormer eq. (34).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import is_jax_array

from refpe._compat import is_traced, to_host
from refpe._precision import exact_sin_cos_table
from refpe.rotary import _inv_freq
from refpe.rotary import rope as rope_reference

from . import _common, rotary_fused
from ._common import in_threads

__all__ = ["BLOCK_ELEMENTS", "rope", "rope_jax"]

#: Elements per block of the NumPy rope kernel (its seven block-sized arrays stay in cache).
BLOCK_ELEMENTS = 1024 * 128


def _rope_coefficients(pos: np.ndarray, r: int, D: int, base: float, scaling: str, layout: str,
                       dtype: str) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Coefficient tables at positions ``pos``: ``(C, S)`` (half layout; ``C`` of shape
    ``(len(pos), D)``, 1 past ``r``; ``S = [-sin, sin]`` of shape ``(len(pos), r)``) or the
    complex ``cos + i sin`` of shape ``(len(pos), D/2)`` (interleaved)."""
    # theta to 60 digits and the phase p theta reduced exactly, as the reference does: a table
    # within an ulp of float64 at every position (np.cos of a rounded float64 angle is not)
    theta, af = _inv_freq(r, base, json.loads(scaling), None)
    sin, cos = exact_sin_cos_table(pos, theta)
    if af != 1:
        cos, sin = af * cos, af * sin
    n, h = len(pos), r // 2
    if layout == "interleaved":
        e = np.ones((n, D // 2), dtype=np.complex128)
        e[:, :h] = cos + 1j * sin
        return (e.astype(np.complex64 if dtype == "float32" else np.complex128),)
    C, S = np.ones((n, D)), np.empty((n, r))
    C[:, :h], C[:, h:r], S[:, :h], S[:, h:] = cos, cos, -sin, sin
    return C.astype(dtype, copy=False), S.astype(dtype, copy=False)


@functools.lru_cache(maxsize=16)
def _rope_tables(n: int, r: int, D: int, base: float, scaling: str, layout: str, dtype: str):
    """:func:`_rope_coefficients` at positions ``0..n-1``, cached."""
    return _rope_coefficients(np.arange(n), r, D, base, scaling, layout, dtype)


def _rope_half_block(x: np.ndarray, out: np.ndarray, u: np.ndarray, C, S, r: int) -> None:
    r"""``out = x C + \mathrm{swap}(x_{:r}) S`` on a block ``(k, rows, D)``.

    ``swap`` exchanges the two halves of the rotated part (a view, no copy), so with
    :math:`S = [-\sin, \sin]` the second product is :math:`[-x_b \sin, x_a \sin]`:
    the same two products and one sum per element as the formula, so non-finite values
    land where the reference puts them. Three passes, the first and last contiguous.
    """
    h = r // 2
    np.multiply(x, C, out=out)
    halves = (*x.shape[:-1], 2, h)
    swapped = x[..., :r].reshape(halves)[..., ::-1, :]
    np.multiply(swapped, S.reshape(*S.shape[:-1], 2, h), out=u.reshape(halves))
    np.add(out[..., :r], u, out=out[..., :r])


def rope_fast_args(x: Any, positions: Any, rotary_dim: Any, layout: str, scaling: Any) -> Any:
    """``(n, r)`` when the fast path applies (``n``: the rows of the cached tables), else
    ``None``. Shared by the NumPy, PyTorch and JAX kernels."""
    T, D = x.shape[-2], x.shape[-1]
    r = D if rotary_dim is None else rotary_dim
    if not (isinstance(r, int) and 0 < r <= D and r % 2 == 0 and layout in ("half", "interleaved")):
        return None
    if layout == "interleaved" and D % 2:
        return None
    if scaling is not None:
        if not isinstance(scaling, dict) or str(scaling.get("rope_type", scaling.get("type"))) in (
            "dynamic",
            "longrope",
        ):
            return None
        try:
            json.dumps(scaling)
        except (TypeError, ValueError):
            return None
    if isinstance(positions, int) and not isinstance(positions, bool):
        return (positions, r) if positions == T else None
    if not hasattr(positions, "dtype") or not _common.integer(positions):
        return None
    if positions.ndim != 1 or positions.shape[0] != T or T == 0:
        return None
    lo, hi = int(positions.min()), int(positions.max())
    return (max(1024, 1 << hi.bit_length()), r) if lo >= 0 and hi < _common.MAX_CACHED else None


def rope_tables(x: Any, positions: Any, n: int, r: int, base: float, scaling: Any, layout: str):
    """The float64-computed tables of :func:`_rope_coefficients` in ``x.dtype``, at
    ``positions`` (cached for ``0..n-1``, rows taken for an array of positions)."""
    key = json.dumps(scaling, sort_keys=True)
    dt = str(x.dtype).rsplit(".", 1)[-1]
    D = x.shape[-1]
    if isinstance(positions, int):
        return _rope_tables(n, r, D, float(base), key, layout, dt)
    pos = to_host(positions)
    if n * D > _common.CACHE_ELEMENTS:
        return _rope_coefficients(pos, r, D, float(base), key, layout, dt)
    return tuple(
        np.take(t, pos, axis=0) for t in _rope_tables(n, r, D, float(base), key, layout, dt)
    )


def rope(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
    out: np.ndarray | None = None,
) -> Any:
    r""":func:`refpe.rope` for NumPy, blocked to cache size; ``out=`` a preallocated buffer
    (C-contiguous, ``x``'s shape and dtype; ``out=x`` rotates in place).

    .. math::

        y_a = x_a \cos\phi - x_b \sin\phi,\quad y_b = x_b \cos\phi + x_a \sin\phi,
        \quad \phi = p\,\theta_i

    Half layout: :func:`_rope_half_block` (three passes) on blocks of about
    :data:`BLOCK_ELEMENTS` elements, the leading rows split between threads. Interleaved
    layout: ``x`` viewed as complex pairs times :math:`e^{i\phi}`; with ``rotary_dim < D`` a
    block whose result holds a NaN is recomputed by the reference (an infinite :math:`x_b`
    times the 0 of an unrotated pair leaks a NaN into :math:`x_a`). Positions: ``T`` or a 1-D
    array of ``T`` positions in ``[0, 2^{24})``; other shapes, ``dynamic`` and ``longrope``
    scaling go to the reference (with ``out=``, its result is written there).

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: ``cos``, ``sin`` of the exact phase (:func:`refpe._precision.exact_sin_cos_table`,
    theta to 60 digits; times the attention factor) in float64, rounded once to ``x.dtype``;
    the rotation in ``x.dtype``: within about :math:`1.5\,\epsilon\,a(|x_a| + |x_b|)` at
    every position, inside the spec's exact bound :math:`2\,\epsilon\,a(|x_a|+|x_b|)`.
    """

    def declined() -> Any:  # with out=, the reference's result written there
        if out is None:
            return NotImplemented
        out[...] = rope_reference(
            x, positions, base=base, layout=layout, rotary_dim=rotary_dim, scaling=scaling
        )
        return out

    if not isinstance(x, np.ndarray):
        return declined()  # not an array: the reference converts or refuses it
    if x.dtype not in (np.float32, np.float64) or x.ndim < 2 or not x.size:
        return NotImplemented
    fast = rope_fast_args(x, positions, rotary_dim, layout, scaling)
    if fast is None:
        return declined()
    n, r = fast
    tables = rope_tables(x, positions, n, r, base, scaling, layout)
    if out is None:
        out = np.empty_like(x, order="C")
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be C-contiguous with x's shape {x.shape} and dtype {x.dtype}, got "
            f"shape {out.shape}, dtype {out.dtype}"
        )
    rope_into(
        np.ascontiguousarray(x), out, tables, positions, layout, r, (base, rotary_dim, scaling)
    )
    return out


def rope_into(x: np.ndarray, out: np.ndarray, tables, positions, layout, r, options) -> None:
    """Rotate C-contiguous ``x`` into ``out`` (which may be ``x``), the leading rows split
    between threads."""
    T, D = x.shape[-2:]
    xs, os_ = x.reshape(-1, T, D), out.reshape(-1, T, D)
    if layout == "half" and rotary_fused.available():  # one pass, the same values
        rotary_fused.rope_half_fused(xs, os_, tables[0][:T], tables[1][:T], r)
        return

    def part(i: range) -> None:
        _rope_blocks(xs[i.start : i.stop], os_[i.start : i.stop], tables, positions, layout, r,
                     options)  # fmt: skip

    in_threads(part, xs.shape[0], threads=_common.THREADS if x.size > 2**18 else 1)


@np.errstate(invalid="ignore", over="ignore")  # entered in each thread that runs it
def _rope_blocks(xs, out, tables, positions, layout, r, options) -> None:
    """Blocks of about :data:`BLOCK_ELEMENTS`: row ranges of one leading index, or several
    whole leading indices when one ``(T, D)`` slice is smaller."""
    base, rotary_dim, scaling = options
    T, D = xs.shape[1:]
    rows = max(1, min(T, BLOCK_ELEMENTS // D))
    k = max(1, BLOCK_ELEMENTS // (T * D)) if rows == T else 1
    u, orig = np.empty(k * rows * r, dtype=xs.dtype), np.empty(k * rows * D, dtype=xs.dtype)
    for t0 in range(0, T, rows):
        t1 = min(T, t0 + rows)
        tab = [t[t0:t1] for t in tables]
        for i in range(0, xs.shape[0], k):
            xb, ob = xs[i : i + k, t0:t1], out[i : i + k, t0:t1]
            if np.may_share_memory(ob, xb):
                xb = orig[: xb.size].reshape(xb.shape)
                np.copyto(xb, ob)
            if layout == "half":
                ub = u[: xb.size // D * r].reshape(*xb.shape[:-1], r)
                _rope_half_block(xb, ob, ub, *tab, r)
                continue
            c = tab[0].dtype
            np.multiply(xb.view(c), tab[0], out=ob.view(c))
            if r < D and np.isnan(np.minimum.reduce(ob, axis=None)):
                # x_b = inf times the 0 of an unrotated pair leaks a NaN into x_a: the reference
                pos = np.arange(t0, t1) if isinstance(positions, int) else positions[t0:t1]
                ob[...] = rope_reference(xb, pos, base=base, layout=layout,
                                         rotary_dim=rotary_dim, scaling=scaling)  # fmt: skip


@functools.lru_cache(maxsize=8)
def _rope_jit(layout: str, r: int) -> Callable[..., Any]:
    """The rotation as one ``jax.jit`` function (XLA fuses it into one pass over ``x``)."""
    import jax
    import jax.numpy as jnp

    h = r // 2

    def half(x: Any, cos: Any, sin: Any) -> Any:
        a, b = x[..., :h], x[..., h:r]
        return jnp.concatenate([a * cos - b * sin, b * cos + a * sin, x[..., r:]], axis=-1)

    def interleaved(x: Any, cos: Any, sin: Any) -> Any:
        pairs = x[..., :r].reshape(*x.shape[:-1], h, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        y = jnp.stack([a * cos - b * sin, b * cos + a * sin], axis=-1)
        return jnp.concatenate([y.reshape(*x.shape[:-1], r), x[..., r:]], axis=-1)

    return jax.jit(half if layout == "half" else interleaved)


def rope_jax(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
) -> Any:
    r""":func:`refpe.rope` for concrete JAX arrays: the formula under ``jax.jit``, with the
    cached float64-rounded ``cos``/``sin`` tables put on ``x``'s device.

    .. math::

        y_a = x_a \cos\phi - x_b \sin\phi,\quad y_b = x_b \cos\phi + x_a \sin\phi

    Inside a traced function (``jax.jit``, ``grad``) ``x`` is a tracer, which the dispatcher
    never passes here: the reference traces as usual. ``x`` that is not a JAX array (a
    direct call) is declined. Positions and scalings as :func:`rope`.

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: tables as :func:`rope`; the rotation in ``x.dtype`` (XLA may contract a
    product and the sum into one fused multiply-add, which rounds once instead of twice).
    """
    if not is_jax_array(x) or is_traced(x) or np.dtype(x.dtype) not in (np.float32, np.float64):
        return NotImplemented  # called directly with another library's array, or a tracer
    fast = rope_fast_args(x, positions, rotary_dim, layout, scaling) if x.ndim >= 2 else None
    if fast is None or not x.size:
        return NotImplemented
    import jax

    n, r = fast
    C, S = rope_tables(x, positions, n, r, base, scaling, "half")
    h, device = r // 2, next(iter(x.devices()))
    cos, sin = (jax.device_put(t, device) for t in (C[:, :h], S[:, h:]))
    return _rope_jit(layout, r)(x, cos, sin)
