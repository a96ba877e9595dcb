r"""The embedding gradient for CPU tensors, compiled by Numba when it is importable.

ATen's ``embedding_dense_backward`` splits the rows of the result into contiguous ranges,
one per thread, and each thread adds the gradient rows of its ids in the order of ``ids``.
With the usual Zipf-like ids nearly all of them fall in the first range, so one thread does
nearly all the work. This kernel splits the *columns* between threads instead (each adds its
slice of every row: the same work for each), in the same order with the same operations,

.. math::

    W'_v \leftarrow \mathrm{fl}(W'_v + g_s)\quad\text{for } s = 0, 1, \ldots
    \text{ with } \mathrm{ids}_s = v \ne \mathrm{padding\_idx},\qquad W'_v = 0 \text{ first},

so its result is ATen's bit for bit. Without Numba (the ``fast`` extra installs it)
:func:`available` is ``False`` and ATen's kernel runs. Source: seed 004 §5; PyTorch
``embedding_dense_backward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import refpe._numba as _numba

__all__ = ["available", "embedding_grad_fused"]


def _build(numba: Any) -> Any:
    @numba.njit(parallel=True, cache=False, fastmath=False)
    def add_rows(ids, g, pad, parts, out):  # pragma: no cover - needs Numba
        d = out.shape[1]
        for part in numba.prange(parts):
            lo, hi = part * d // parts, (part + 1) * d // parts
            for s in range(ids.shape[0]):
                v = ids[s]
                if v != pad:
                    src, dst = g[s, lo:hi], out[v, lo:hi]
                    for j in range(hi - lo):
                        dst[j] += src[j]

    return add_rows, numba.get_num_threads


#: ``(kernel, thread count)`` compiled, or ``None`` where Numba cannot be imported.
_compiled = _numba.compiled(_build)


def available() -> bool:
    """Whether the fused kernel can run (Numba importable)."""
    return _compiled() is not None


def embedding_grad_fused(ids: np.ndarray, g: np.ndarray, pad: int, out: np.ndarray) -> None:
    """Add the rows of ``g`` (``(N, d)``, C-contiguous) into the zeroed ``out`` (``(V, d)``)
    at the 1-d ``ids`` (every one in ``[0, V)``), skipping ``pad`` (``-1``: none)."""
    got = _compiled()
    if got is None:
        raise RuntimeError("the fused embedding gradient needs numba, which is not importable")
    kernel, threads = got
    parts = max(1, min(threads(), out.shape[1] // 16))  # slices of 16 values at least
    _numba.call(kernel, ids, g, pad, parts, out)
