r"""The Dask kernels of the relative position biases: ALiBi and T5's bucketed bias in blocks
of queries and keys.

A bias of shape ``(heads, q_len, k_len)`` is a lazy Dask array whose blocks split the query
and the key axes (the heads stay whole in every block). Block ``(a, b)`` holds queries
``q0 .. q1-1`` and keys ``k0 .. k1-1``; it is the NumPy reference called for a
``(q1 - q0) x (k1 - k0)`` bias with the offset ``o + q0 - k0``, since

.. math::

    j - (i + o) = (j - k_0) - \bigl((i - q_0) + (o + q_0 - k_0)\bigr),

so each entry is computed from the same integer distance, by the same float64 operations,
as in the single NumPy array: every block is that array's slice bit for bit. The arguments
are checked at call time without data; each block's NumPy call checks only its block. Every
function sent to the workers is a module-level function (it pickles by reference).

Sources: Press, Smith & Lewis (2022) §3 (ALiBi); Raffel et al. (2020) §2.1 (T5).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ._common import np_dtype
from .dask import BLOCK_BYTES, _in_memory

__all__ = ["alibi_dask", "t5_bias_dask"]


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def bias_chunks(chunks: Any, q: int, k: int, heads: int, itemsize: int) -> tuple:
    """The blocks of the query and key axes: ``chunks`` as Dask reads it for ``(q, k)``, or
    by default square-ish blocks of at most :data:`~refpe.kernels.dask.BLOCK_BYTES` (all
    heads in each)."""
    from refpe._compat import dask_chunks

    if chunks is None:
        cells = max(1, BLOCK_BYTES // (heads * itemsize))
        side = max(1, math.isqrt(cells))
        qb = min(q, side)
        chunks = (qb, min(k, max(1, cells // qb)))
    return dask_chunks(chunks, (q, k), np.float64)


def _offset(q: int, k: int, offset: Any) -> int:
    return k - q if offset is None else offset


def _ranges(q: int, k: int, qc: tuple, kc: tuple) -> tuple:
    """The query and key indices as Dask arrays in the blocks ``qc`` and ``kc``."""
    import dask.array as da

    return da.arange(q, chunks=(qc,), dtype=np.int64), da.arange(k, chunks=(kc,), dtype=np.int64)


def _outer(func: Any, qi: Any, kj: Any, heads: int, dtype: Any, *args: Any) -> Any:
    """``func(qi block, kj block, *args)`` for every pair of blocks: ``(heads, q, k)``."""
    import dask.array as da
    from dask.array import PerformanceWarning

    with warnings.catch_warnings():  # one block per pair of index blocks is the point
        warnings.simplefilter("ignore", PerformanceWarning)
        return da.blockwise(
            func, "hqk", qi, "q", kj, "k", *(x for a in args for x in (a, None)), dtype=dtype,
            new_axes={"h": heads}, concatenate=True, meta=np.empty((0, 0, 0), dtype),
        )  # fmt: skip


def _alibi_block(qi: np.ndarray, kj: np.ndarray, h: int, o: int, causal: Any, dt: str) -> Any:
    """The ALiBi bias of queries ``qi`` and keys ``kj`` (consecutive): the NumPy reference
    with the block's offset."""
    from refpe.relative import alibi

    if qi.size == 0 or kj.size == 0:
        return np.zeros((h, qi.size, kj.size), dtype=dt)
    off = o + int(qi[0]) - int(kj[0])
    return alibi(h, qi.size, kj.size, causal=causal, offset=off, dtype=dt)


def alibi_dask(
    num_heads: int,
    q_len: int,
    k_len: int,
    *,
    causal: bool = True,
    offset: int | None = None,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r""":func:`refpe.alibi` as a lazy Dask array in blocks of queries and keys.

    .. math::

        B_{h,i,j} = m_h\,(j - (i + o)) \ \text{(causal)},\qquad
        B_{h,i,j} = -m_h\,\lvert j - (i + o)\rvert \ \text{(symmetric)}

    ``chunks``: the blocks of the ``(q_len, k_len)`` axes as Dask reads them (an int for
    both, a pair, tuples of block sizes); default: about 128 MiB of output per block, all
    heads in each. Each block is the NumPy reference with the block's offset.

    Source: Press, Smith & Lewis (2022) §3. Precision: the NumPy reference's, bit for bit.
    """

    from refpe._compat import MAX_WIDTH

    dt = np_dtype(dtype)
    ok = (
        device is None
        and dt is not None
        and all(_is_int(n) and n > 0 for n in (num_heads, q_len, k_len))
        and num_heads <= MAX_WIDTH
        and (offset is None or _is_int(offset))
    )
    if not ok:
        return NotImplemented  # the reference says what is wrong
    h, q, k = num_heads, q_len, k_len
    qc, kc = bias_chunks(chunks, q, k, h, dt.itemsize)
    qi, kj = _ranges(q, k, qc, kc)
    return _outer(_alibi_block, qi, kj, h, dt, h, _offset(q, k, offset), causal, dt.name)


def _t5_block(qi: np.ndarray, kj: np.ndarray, table: np.ndarray, o: int, options: dict) -> Any:
    """T5's bias of queries ``qi`` and keys ``kj`` (consecutive): the NumPy reference with
    the block's offset."""
    from refpe.relative import t5_bias

    if qi.size == 0 or kj.size == 0:
        return np.zeros((table.shape[1], qi.size, kj.size), dtype=table.dtype)
    off = o + int(qi[0]) - int(kj[0])
    return t5_bias(np.asarray(table), qi.size, kj.size, offset=off, **options)


def t5_bias_dask(
    table: Any,
    q_len: int,
    k_len: int,
    *,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
    offset: int | None = None,
    chunks: Any = None,
) -> Any:
    r""":func:`refpe.t5_bias` for a Dask table, a lazy Dask array in blocks of queries and
    keys.

    .. math::

        A_{h,i,j} = T\bigl[\operatorname{bucket}(j - (i + o)),\ h\bigr]

    The ``(B, heads)`` table is read as one block. ``chunks``: the blocks of the
    ``(q_len, k_len)`` axes as Dask reads them; default: about 128 MiB of output per block,
    all heads in each. The bucket options are checked at call time (on one distance); each
    block is the NumPy reference with the block's offset.

    Source: Raffel et al. (2020) §2.1. Precision: a gather, bit for bit.
    """
    import dask.array as da

    from refpe.relative import t5_bucket

    if not isinstance(table, da.Array) or table.ndim != 2 or table.shape[0] != num_buckets:
        return NotImplemented  # the reference says what is wrong
    if not all(_is_int(n) and n > 0 for n in (q_len, k_len)):
        return NotImplemented
    if not (offset is None or _is_int(offset)) or any(math.isnan(n) for n in table.shape):
        return NotImplemented
    options = dict(bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance)
    t5_bucket(np.zeros(1, np.int64), **options)  # the reference's errors, without data
    q, k = q_len, k_len
    heads = table.shape[1]
    qc, kc = bias_chunks(chunks, q, k, max(heads, 1), table.dtype.itemsize)
    qi, kj = _ranges(q, k, qc, kc)
    o = _offset(q, k, offset)
    return _outer(_t5_block, qi, kj, heads, table.dtype, _in_memory(table), o, options)
