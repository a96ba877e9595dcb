r"""The hot specs' kernels for CuPy arrays on CUDA devices: ``RawKernel`` source, host tables.

================  ==========================================================================
spec              kernel
================  ==========================================================================
rope              one pass over ``x``: a thread per rotated pair (half or interleaved
                  layout), the unrotated tail copied; ``cos``/``sin`` from float64 host
                  tables rounded once to ``x.dtype``, kept on the device
pe-sinusoidal     float32: the table by angle addition on the device from the exact
                  float64 sines and cosines of block starts and offsets (as
                  :func:`refpe.kernels.positional.sinusoid_table` does on the host);
                  float64: the host's exact table uploaded; rows by ``take``
token-lookup      a gather, the range checked once, times the scale rounded to the dtype
input-add         the gather, the scale and the positional row (float32, three roundings)
embedding-grad    ids sorted, then a thread per (segment, column) summing in float64,
                  rounded once
================  ==========================================================================

CUDA may contract ``a * b + c`` into one fused multiply-add; the kernels spell every
product and sum with the ``__fmul_rn``/``__dadd_rn`` intrinsics, which are never contracted,
so they round as the host kernels and the error models assume. Every loop is a grid-stride
loop, so a launch of any size covers the array (and a test may run the source serially).

This module imports no CuPy at import time: the dispatcher calls these kernels only with
CuPy arrays (:mod:`refpe.kernels`), so CuPy is imported by then. Calls they do not
accelerate return ``NotImplemented`` and the reference answers.

Source: Su et al. (2021), RoFormer eq. (34); Vaswani et al. (2017) §3.5; seed 000 §3.1-3.2;
seed 004 §1, §3, §5.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from refpe.rotary import rope as rope_reference

from ._common import check_ids, finite_scale
from ._cupy_source import _TYPES, SOURCE, source
from .positional import build_sinusoid_table, sinusoid_request
from .rotary import _rope_tables, rope_fast_args, rope_tables

__all__ = [
    "SOURCE",
    "THREADS",
    "embedding_grad_cupy",
    "input_add_cupy",
    "pe_sinusoidal_cupy",
    "rope_cupy",
    "source",
    "token_lookup_cupy",
]

#: Threads per block; blocks are capped at :data:`MAX_BLOCKS` (the loops stride the grid).
THREADS = 256
MAX_BLOCKS = 65535


def _cupy() -> Any:
    """The CuPy module (imported already when the dispatcher calls a kernel here)."""
    import cupy

    return cupy


_COMPILED: dict[tuple[int, str, str], Any] = {}


def _kernel(cp: Any, name: str, dtype: str) -> Any:
    """The ``RawKernel`` ``<name>_<f32|f64>`` of ``cp`` (compiled once per CuPy module)."""
    key = (id(cp), name, dtype)
    if key not in _COMPILED:
        _COMPILED[key] = cp.RawKernel(source(dtype), f"{name}_{_TYPES[dtype][1]}")
    return _COMPILED[key]


def _launch(kernel: Any, n: int, args: tuple) -> None:
    """``kernel`` over ``n`` work items (a grid-stride loop: any grid covers them)."""
    if n > 0:
        kernel((max(1, min(-(-n // THREADS), MAX_BLOCKS)),), (THREADS,), args)


def _is_cupy(cp: Any, *arrays: Any) -> bool:
    return all(isinstance(a, cp.ndarray) for a in arrays)


def _dtype_name(a: Any) -> str:
    return np.dtype(a.dtype).name


# --- rope -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _device_rope(n: int, r: int, D: int, base: float, key: str, dt: str, device: int) -> tuple:
    """The cached ``cos``, ``sin`` (``(n, r/2)``, ``dt``) for positions ``0..n-1`` on ``device``."""
    cp = _cupy()
    C, S = _rope_tables(n, r, D, base, key, "half", dt)
    with cp.cuda.Device(device):
        return tuple(cp.asarray(np.ascontiguousarray(t)) for t in (C[:, : r // 2], S[:, r // 2 :]))


def rope_cupy(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
    out: Any = None,
) -> Any:
    r""":func:`refpe.rope` for CuPy float32/float64 arrays: one ``RawKernel`` pass;
    ``out=`` a C-contiguous buffer of ``x``'s shape and dtype (``out=x`` rotates in place).

    .. math::

        y_a = x_a \cos\phi - x_b \sin\phi,\quad y_b = x_b \cos\phi + x_a \sin\phi,
        \quad \phi = p\,\theta_i

    Positions: ``T`` or a 1-D integer array of ``T`` positions in ``[0, 2^{24})``; other
    calls (other dtypes, ``dynamic`` and ``longrope`` scaling) go to the reference (with
    ``out=``, its result is written there).

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: ``cos``, ``sin`` (times the attention factor) in float64 on the host, rounded
    once to ``x.dtype``; each product and the sum rounded in ``x.dtype`` (no fused
    multiply-add): within :math:`1.5\,\epsilon\,(|x_a| + |x_b|)` plus the tables' rounding.
    """
    cp = _cupy()

    def declined() -> Any:
        if out is None:
            return NotImplemented
        out[...] = rope_reference(x, positions, base=base, layout=layout,
                                  rotary_dim=rotary_dim, scaling=scaling)  # fmt: skip
        return out

    if not _is_cupy(cp, x) or not (isinstance(positions, int) or _is_cupy(cp, positions)):
        return declined()
    if _dtype_name(x) not in _TYPES or x.ndim < 2 or not x.size:
        return declined()
    fast = rope_fast_args(x, positions, rotary_dim, layout, scaling)
    if fast is None:
        return declined()
    n, r = fast
    T, D = x.shape[-2:]
    dt = _dtype_name(x)
    if out is not None and (
        not _is_cupy(cp, out) or out.shape != x.shape or out.dtype != x.dtype
        or not out.flags.c_contiguous
    ):  # fmt: skip
        raise ValueError(
            f"out must be a C-contiguous CuPy array with x's shape {x.shape} and dtype "
            f"{x.dtype}, got {type(out).__name__} of shape {getattr(out, 'shape', None)}, "
            f"dtype {getattr(out, 'dtype', None)}"
        )
    with x.device:
        if isinstance(positions, int):
            key = json.dumps(scaling, sort_keys=True)
            cos, sin = _device_rope(n, r, D, float(base), key, dt, x.device.id)
        else:
            C, S = rope_tables(x, positions, n, r, base, scaling, "half")
            cos, sin = (
                cp.asarray(np.ascontiguousarray(t)) for t in (C[:, : r // 2], S[:, r // 2 :])
            )
        src = cp.ascontiguousarray(x)
        dest = cp.empty_like(src) if out is None else out
        rows = x.size // D
        args = (src, dest, cos, sin, np.int64(rows), np.int64(T), np.int64(D), np.int64(r))
        _launch(_kernel(cp, f"rope_{layout}", dt), rows * (D - r // 2), args)
    return dest


# --- the sinusoid table -----------------------------------------------------------------------


def _build_table(cp: Any, key: tuple) -> Any:
    """The table ``key`` (the arguments of :func:`sinusoid_table`) on the current device."""
    n, d, base, layout, schedule, offset, dt = key
    if dt == "float64":  # the reference's exact table itself, as the NumPy kernel returns it
        return cp.asarray(build_sinusoid_table(*key))
    from refpe._precision import exact_sin_cos_table, frequencies

    omega = frequencies(d, float(base), schedule)
    m = len(omega)
    sa, ca = exact_sin_cos_table(np.arange(0, n, 64) + offset, omega)
    sb, cb = exact_sin_cos_table(np.arange(64), omega)
    y = cp.empty((n, d), dtype=dt)
    small = tuple(cp.asarray(np.ascontiguousarray(t)) for t in (sa, ca, sb, cb))
    args = (y, *small, np.int64(n), np.int64(d), np.int64(m), np.int32(layout == "interleaved"))
    _launch(_kernel(cp, "sinusoid", dt), n * d, args)
    return y


@functools.lru_cache(maxsize=32)
def _device_table(key: tuple, device: int) -> Any:
    """The cached table ``key`` on ``device`` (callers get copies: it must stay exact)."""
    cp = _cupy()
    with cp.cuda.Device(device):
        return _build_table(cp, key)


def _device_id(cp: Any, device: Any) -> int | None:
    """The CUDA device of a table-creating call: ``None`` (current), an int or a ``Device``."""
    if device is None:
        return int(cp.cuda.Device().id)
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    return getattr(device, "id", None) if isinstance(device, cp.cuda.Device) else None


def pe_sinusoidal_cupy(
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
) -> Any:
    r""":func:`refpe.pe_sinusoidal` for CuPy (``xp`` CuPy's namespace, or CuPy positions).

    .. math::

        PE[p, 2i] = \sin(p\,\omega_i),\quad PE[p, 2i+1] = \cos(p\,\omega_i)

    An int ``n``: a copy of the table cached on the device (float32 built there by angle
    addition, float64 the host's exact table); an array of positions: rows of the cached
    table (``take``), as :func:`refpe.kernels.positional.pe_sinusoidal` chooses them.
    float16 and other calls go to the reference.

    Source: Vaswani et al. (2017) §3.5; seed 004 §3.

    Precision: as :func:`refpe.kernels.positional.sinusoid_table`: the float64 product of
    exact sines and cosines (no fused multiply-add), rounded once to float32.
    """
    cp = _cupy()
    is_int = isinstance(positions, int) and not isinstance(positions, bool)
    if not is_int and not _is_cupy(cp, positions):
        return NotImplemented
    request = sinusoid_request("cupy", positions, d, base=base, layout=layout,
                               schedule=schedule, offset=offset, dtype=dtype, xp=xp,
                               device=device)  # fmt: skip
    if request is NotImplemented or request[1][-1] not in _TYPES:
        return NotImplemented
    how, key = request
    dev = _device_id(cp, device) if is_int else positions.device.id
    if dev is None:
        return NotImplemented  # a device CuPy does not name: the reference says what it is
    if how == "uncached":
        with cp.cuda.Device(dev):
            return _build_table(cp, key)
    table = _device_table(key, dev)
    if how == "table":
        return table.copy()
    with positions.device:
        return cp.take(table, positions, axis=0)


# --- token lookup and the input layer ---------------------------------------------------------


def token_lookup_cupy(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for CuPy: one gather kernel, the range checked once.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    Source: seed 000 §3.1; seed 004 §1. Precision: the gather is bit-exact; ``scale`` is
    rounded to ``table.dtype``, then one rounded product.
    """
    cp = _cupy()
    if not _is_cupy(cp, ids, table) or np.dtype(ids.dtype).kind not in "iu":
        return NotImplemented
    if _dtype_name(table) not in _TYPES or table.ndim != 2 or padding_idx is not None:
        return NotImplemented
    if not finite_scale(scale, None):
        return NotImplemented
    check_ids("ids", ids, table.shape[0])
    dt, d = _dtype_name(table), table.shape[1]
    with table.device:
        flat = cp.ascontiguousarray(ids.reshape(-1).astype(cp.int64))
        out = cp.empty((*ids.shape, d), dtype=table.dtype)
        c = np.dtype(dt).type(1.0 if scale is None else scale)
        args = (flat, cp.ascontiguousarray(table), out, np.int64(flat.size), np.int64(d), c,
                np.int32(scale is not None))  # fmt: skip
        _launch(_kernel(cp, "lookup", dt), flat.size * d, args)
    return out


def input_add_cupy(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for CuPy float32, default positions: one kernel.

    .. math::

        x[s, t] = c\,E[\mathrm{ids}[s, t]] + PE[\mathrm{start} + t]

    Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3. Precision: as
    :func:`refpe.kernels.embedding.input_add` (``c`` rounded, the product rounded, the sum
    rounded, in float32; no fused multiply-add).
    """
    cp = _cupy()
    fast = (
        _is_cupy(cp, ids, table, pe_table)
        and positions is None
        and combine == "add"
        and np.dtype(ids.dtype).kind in "iu"
        and ids.ndim >= 1
        and _dtype_name(table) == _dtype_name(pe_table) == "float32"
        and table.ndim == pe_table.ndim == 2
        and table.shape[1] == pe_table.shape[1]
        and finite_scale(scale)
        and isinstance(start, int)
        and not isinstance(start, bool)
    )
    if not fast or start < 0 or start + ids.shape[-1] > pe_table.shape[0]:
        return NotImplemented
    check_ids("ids", ids, table.shape[0])
    T, d = ids.shape[-1], table.shape[1]
    with table.device:
        flat = cp.ascontiguousarray(ids.reshape(-1).astype(cp.int64))
        out = cp.empty((*ids.shape, d), dtype=table.dtype)
        args = (flat, cp.ascontiguousarray(table), cp.ascontiguousarray(pe_table), out,
                np.int64(flat.size), np.int64(T), np.int64(d), np.int64(start),
                np.float32(scale))  # fmt: skip
        _launch(_kernel(cp, "input_add", "float32"), flat.size * d, args)
    return out


# --- the embedding gradient -------------------------------------------------------------------


def embedding_grad_cupy(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for CuPy: sorted ids, then a thread per (segment, column)
    summing its rows in float64.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    Deterministic (no atomics). ``scale_grad_by_freq``, ``padding_idx`` and ``frozen`` as
    the reference. Source: seed 004 §5; PyTorch ``embedding_backward``.

    Precision: as :func:`refpe.kernels.grad.embedding_grad`: every sum in float64, rounded
    once to ``grad_out.dtype``.
    """
    cp = _cupy()
    frozen_arr = None if frozen is None or isinstance(frozen, bool) else frozen
    arrays = (ids, grad_out) if frozen_arr is None else (ids, grad_out, frozen_arr)
    if not _is_cupy(cp, *arrays) or np.dtype(ids.dtype).kind not in "iu":
        return NotImplemented
    if _dtype_name(grad_out) not in _TYPES or grad_out.ndim < 1:
        return NotImplemented
    if tuple(grad_out.shape[:-1]) != tuple(ids.shape) or frozen is True:
        return NotImplemented
    n = num_embeddings
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        return NotImplemented
    if frozen_arr is not None and (frozen_arr.dtype != np.bool_ or frozen_arr.shape != (n,)):
        return NotImplemented
    if padding_idx is not None and not (
        isinstance(padding_idx, int) and not isinstance(padding_idx, bool) and -n <= padding_idx < n
    ):
        return NotImplemented
    check_ids("ids", ids, n)
    dt, d = _dtype_name(grad_out), grad_out.shape[-1]
    with grad_out.device:
        flat = ids.reshape(-1).astype(cp.int64)
        g = cp.ascontiguousarray(grad_out.reshape(flat.size, d))
        out = cp.zeros((n, d), dtype=grad_out.dtype)
        if flat.size:
            order = cp.ascontiguousarray(cp.argsort(flat).astype(cp.int64))
            sid = flat[order]
            first = cp.concatenate([cp.ones(1, dtype=bool), sid[1:] != sid[:-1]])
            starts = cp.ascontiguousarray(cp.flatnonzero(first).astype(cp.int64))
            counts = cp.diff(cp.concatenate([starts, cp.asarray([flat.size], dtype=cp.int64)]))
            rows = cp.ascontiguousarray(sid[starts])
            nseg = int(starts.size)
            args = (order, starts, cp.ascontiguousarray(counts), rows, g, out, np.int64(nseg),
                    np.int64(d), np.int32(bool(scale_grad_by_freq)))  # fmt: skip
            _launch(_kernel(cp, "segment_sums", dt), nseg * d, args)
        if padding_idx is not None:
            out[padding_idx % n] = 0
        if frozen_arr is not None:
            out[frozen_arr] = 0
    return out
