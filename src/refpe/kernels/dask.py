r"""The Dask kernels: lazy, chunked calls whose every block runs refpe's NumPy kernels.

================  ==========================================================================
spec              kernel
================  ==========================================================================
pe-sinusoidal     an int ``n``: row blocks built by :func:`~refpe.kernels.positional.
                  build_sinusoid_table` from their first row (the range checked analytically);
                  positions: the NumPy ``pe_sinusoidal`` per block (checked per block)
token-lookup      the NumPy ``token_lookup`` per block of ids (the table in memory, or one
                  Dask block); ids out of range raise when the block is computed
input-add         the NumPy ``input_add`` per block of ids (the last axis in one block)
embedding-grad    per-block float64 segment sums (the NumPy kernel's), added in a tree of
                  ``split_every=2``, rounded once to the dtype
alibi, t5-bias    blocks of queries and keys (``chunks``), each the NumPy reference with the
                  block's offset (:mod:`refpe.kernels.dask_bias`, Press et al. 2022,
                  Raffel et al. 2020)
init-*            row blocks drawn from the seed: PCG64 advanced to each block for uniform
                  draws (in parallel), the generator state chained for normal draws
                  (:mod:`refpe.kernels.dask_init`)
================  ==========================================================================

Nothing here computes its input at call time: a check that needs the data runs inside the
block that holds it, when the result is computed (``IndexError`` then, naming the value as
the NumPy kernel does). Every function sent to the workers is a module-level function, so
it pickles by reference.

Exactness of ``embedding-grad``: each row of the result is :math:`\mathrm{round}(\sum_b P_b)`
with :math:`P_b` the float64 sum of the rows of block ``b``. When every float64 addition is
exact — the gradients are multiples of :math:`2^{-k}` and every partial sum is below
:math:`2^{53-k}` in magnitude (float32 data of bounded range: a few million terms of
magnitude at most :math:`2^{10}` with 24 significant bits) — every order of summation gives
the same float64 value, so the result is the NumPy kernel's and the reference's bit for bit
(the tests check this). Otherwise the float64 sums of different orders differ by at most
:math:`n\,2^{-53}\sum|g|`, which the single rounding to float32 hides except at a rounding
boundary; both stay inside the spec's error model.

Source: Vaswani et al. (2017) §3.5; seed 004 §1, §3, §5.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._common import finite_scale, np_dtype

__all__ = ["embedding_grad_dask", "input_add_dask", "pe_sinusoidal_dask", "token_lookup_dask"]

#: Bytes of output per block when no ``chunks`` are given (the NumPy kernels' working size).
BLOCK_BYTES = 2**27


def _rows_per_block(d: int, itemsize: int) -> int:
    return max(1, BLOCK_BYTES // (d * itemsize))


def _table_block(first: np.ndarray, key: tuple) -> np.ndarray:
    """Rows ``first[0] .. first[0] + len(first) - 1`` of the table ``key`` (one NumPy build,
    not cached: a worker holds only the blocks it is computing)."""
    from .positional import build_sinusoid_table

    _, d, base, layout, schedule, offset, dtype = key
    if first.size == 0:
        return np.zeros((0, d), dtype=dtype)
    table = build_sinusoid_table(first.size, d, base, layout, schedule,
                                       offset + int(first[0]), dtype)  # fmt: skip
    table.flags.writeable = True
    return table


def _numpy(kernel: Any, reference: Any, *args: Any, **kwargs: Any) -> Any:
    """One block through the NumPy kernel, or the reference where the kernel declines (the
    public function's dispatch, for NumPy blocks)."""
    y = kernel(*args, **kwargs)
    return reference(*args, **kwargs) if y is NotImplemented else y


def _positions_block(p: np.ndarray, d: int, options: dict) -> np.ndarray:
    """``pe_sinusoidal`` of one block of positions with NumPy (its kernel, or the reference
    past the cached tables): the range is checked here, at compute time."""
    from refpe.positional import pe_sinusoidal

    from .positional import pe_sinusoidal as kernel

    return _numpy(kernel, pe_sinusoidal, p, d, **options)


def pe_sinusoidal_dask(
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
    r""":func:`refpe.pe_sinusoidal` as a lazy Dask array, one NumPy kernel call per block.

    .. math::

        PE[p, 2i] = \sin(p\,\omega_i),\quad PE[p, 2i+1] = \cos(p\,\omega_i)

    An int ``n``: rows in blocks of ``chunks`` rows (default: 128 MiB of output per block),
    each built by :func:`~refpe.kernels.positional.build_sinusoid_table` with the block's first
    row as its offset; the range ``[offset, offset + n)`` is checked at call time without
    data (the NumPy reference is asked about its two ends). A Dask array of positions:
    ``refpe.pe_sinusoidal`` with NumPy per block (rechunked to ``chunks`` when given); each
    block checks its own positions when computed.

    Source: Vaswani et al. (2017) §3.5; seed 004 §3. Precision: the NumPy kernel's (float64:
    the reference's table bit for bit; float32: the exact value rounded once).
    """
    import dask.array as da

    from refpe.positional import LAYOUTS, SCHEDULES

    is_int = isinstance(positions, int) and not isinstance(positions, bool)
    if device is not None or not (is_int or isinstance(positions, da.Array)):
        return NotImplemented
    if not is_int and xp is not None:
        return NotImplemented  # the reference checks xp against the positions
    dt = np_dtype(dtype)
    lay = layout or ("interleaved" if schedule == "transformer" else "concatenated")
    ok = (
        dt is not None
        and isinstance(d, int)
        and not isinstance(d, bool)
        and d > 0
        and isinstance(base, (int, float))
        and math.isfinite(base)
        and base > 0
        and lay in LAYOUTS
        and schedule in SCHEDULES
        and isinstance(offset, int)
        and not isinstance(offset, bool)
    )
    if not ok or (is_int and positions <= 0):
        return NotImplemented  # the reference says what is wrong
    options = dict(base=float(base), layout=lay, schedule=schedule, offset=offset, dtype=dt.name)
    if not is_int:
        if not np.issubdtype(positions.dtype, np.integer):
            return NotImplemented
        p = positions if chunks is None else positions.rechunk(chunks)
        return p.map_blocks(
            _positions_block, d, options, dtype=dt, new_axis=p.ndim, chunks=(*p.chunks, (d,))
        )
    # The analytic check: the NumPy reference on the first and the last position raises
    # (or warns) as it would on all of them.
    from refpe.positional import pe_sinusoidal as reference

    with warnings.catch_warnings():
        warnings.simplefilter("error" if dt.name in ("float16",) else "ignore")
        try:
            reference(np.asarray([0, positions - 1]), d, **options)
        except UserWarning as exc:
            warnings.warn(str(exc), stacklevel=3)
    if offset < 0:
        rows = da.arange(positions, chunks=chunks or _rows_per_block(d, dt.itemsize))
        return rows.map_blocks(
            _positions_block, d, options, dtype=dt, new_axis=1, chunks=(*rows.chunks, (d,))
        )
    rows = da.arange(positions, chunks=chunks or _rows_per_block(d, dt.itemsize), dtype=np.int64)
    key = (positions, d, float(base), lay, schedule, offset, dt.name)
    return rows.map_blocks(_table_block, key, dtype=dt, new_axis=1, chunks=(*rows.chunks, (d,)))


def _in_memory(table: Any) -> Any:
    """A NumPy table as it is; a Dask table as one delayed block (a lookup table must be whole
    in each task that reads it)."""
    import dask.array as da

    if isinstance(table, da.Array):
        return table.rechunk(table.shape).to_delayed().reshape(-1)[0]
    return table


def _lookup_block(ids: np.ndarray, table: np.ndarray, scale: Any, padding_idx: Any) -> Any:
    from refpe.embedding import token_lookup

    from .embedding import token_lookup as kernel

    return _numpy(kernel, token_lookup, ids, table, scale=scale, padding_idx=padding_idx)


def token_lookup_dask(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for Dask ids: the NumPy lookup per block of ids.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    ``table`` is a NumPy array, or a Dask array read as one block. Nothing is computed at
    call time: ids out of range raise ``IndexError`` when their block is computed.

    Source: seed 000 §3.1; seed 004 §1. Precision: the NumPy kernel's (bit-exact gather).
    """
    import dask.array as da

    if not isinstance(ids, da.Array) or not np.issubdtype(ids.dtype, np.integer):
        return NotImplemented
    if getattr(table, "ndim", 0) != 2 or not np.issubdtype(table.dtype, np.floating):
        return NotImplemented
    if not finite_scale(scale, None):
        return NotImplemented
    d = table.shape[1]
    return ids.map_blocks(
        _lookup_block, _in_memory(table), scale, padding_idx, dtype=table.dtype,
        new_axis=ids.ndim, chunks=(*ids.chunks, (d,)),
    )  # fmt: skip


def _input_add_block(ids: np.ndarray, table: Any, pe_table: Any, options: dict) -> Any:
    from refpe.inputs import input_add

    from .embedding import input_add as kernel

    return _numpy(kernel, input_add, ids, table, pe_table, **options)


def input_add_dask(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for Dask ids: the NumPy ``input_add`` per block of ids.

    .. math::

        x[s, t] = c\, E[\mathrm{ids}[s, t]] + PE[\mathrm{start} + t]

    The last axis of ``ids`` (the positions ``t``) is kept in one block so that each block
    counts its positions from ``start``; given ``positions`` go to the reference. The tables
    are NumPy arrays or Dask arrays read as one block each.

    Source: seed 000 §3.2; seed 004 §3. Precision: the NumPy kernel's.
    """
    import dask.array as da

    if positions is not None or not isinstance(ids, da.Array) or ids.ndim < 1:
        return NotImplemented
    if not np.issubdtype(ids.dtype, np.integer) or combine not in ("add", "concat"):
        return NotImplemented
    if getattr(table, "ndim", 0) != 2 or getattr(pe_table, "ndim", 0) != 2:
        return NotImplemented
    if not finite_scale(scale) or not isinstance(start, int):
        return NotImplemented
    if combine == "add" and table.shape[1] != pe_table.shape[1]:
        return NotImplemented  # the reference names the shapes
    width = table.shape[1] + (pe_table.shape[1] if combine == "concat" else 0)
    ids = ids.rechunk({ids.ndim - 1: -1})
    options = dict(scale=scale, combine=combine, start=start)
    return ids.map_blocks(
        _input_add_block, _in_memory(table), _in_memory(pe_table), options,
        dtype=table.dtype, new_axis=ids.ndim, chunks=(*ids.chunks, (width,)),
    )  # fmt: skip


def _partial_sums(ids: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """The float64 sums of the rows of ``g`` per id of one block, shape ``(1, n, d)``, and the
    counts of the ids in the last column (exact: integers far below ``2^53``)."""
    from ._common import check_ids
    from .grad import _segment_sums

    ids = ids.reshape(-1)
    check_ids("ids", ids, n)
    out = np.zeros((n, g.shape[-1] + 1))
    _segment_sums(ids, g.reshape(ids.size, -1), out[:, :-1], False)
    out[:, -1] = np.bincount(ids, minlength=n)
    return out[None]


def _finish(total: np.ndarray, dtype: Any, mean: bool, pad: Any, frozen: Any) -> np.ndarray:
    """The summed blocks rounded once to ``dtype``: the mean per id when ``mean``, the
    padding row and the frozen rows zeroed."""
    sums, counts = total[:, :-1], total[:, -1:]
    if mean:
        sums = sums / np.where(counts > 0, counts, 1.0)
    out = sums.astype(dtype)
    if pad is not None:
        out[pad] = 0
    if frozen is not None:
        out[frozen] = 0
    return out


def embedding_grad_dask(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for Dask: per-block float64 segment sums, a tree of sums.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{b} \sum_{s \in b:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    Each block of ids (with its rows of ``grad_out``) gives its float64 sums per id
    (``(num_embeddings, d)``, the NumPy kernel's sorted segment sums) and its id counts; the
    blocks are added pairwise (``split_every=2``: a task holds two partial tables and the
    sum), then rounded once to ``grad_out.dtype``. Cost linear in the ids; ids out of range
    raise ``IndexError`` when their block is computed. ``frozen`` as a NumPy mask or bool.

    Source: seed 004 §5; PyTorch ``embedding_backward``. Precision: see the module
    docstring (bit-exact with the NumPy kernel when the float64 sums are exact).
    """
    import dask.array as da

    if not isinstance(ids, da.Array) or not np.issubdtype(ids.dtype, np.integer):
        return NotImplemented
    if not isinstance(grad_out, (da.Array, np.ndarray)) or grad_out.dtype.kind != "f":
        return NotImplemented
    if grad_out.ndim != ids.ndim + 1 or tuple(grad_out.shape[:-1]) != tuple(ids.shape):
        return NotImplemented
    n = num_embeddings
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0 or frozen is True:
        return NotImplemented
    mask = None if frozen is None or frozen is False else frozen
    if mask is not None and not (
        isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (n,)
    ):
        return NotImplemented
    if padding_idx is not None and not (isinstance(padding_idx, int) and -n <= padding_idx < n):
        return NotImplemented
    d = grad_out.shape[-1]
    flat = ids.reshape(-1)
    g = da.asarray(grad_out).reshape(-1, d).rechunk((flat.chunks[0], (d,)))
    parts = da.blockwise(
        _partial_sums, "bvk", flat, "b", g, "bj", n, None, dtype=np.float64,
        new_axes={"v": n, "k": d + 1}, adjust_chunks={"b": 1}, concatenate=True,
    )  # fmt: skip
    total = parts.sum(axis=0, split_every=2)
    pad = None if padding_idx is None else padding_idx % n
    return total.map_blocks(
        _finish, grad_out.dtype, bool(scale_grad_by_freq), pad, mask,
        dtype=grad_out.dtype, chunks=((n,), (d,)),
    )  # fmt: skip
