r"""The one-pass input layer for float32, compiled by Numba when it is importable.

The NumPy and PyTorch ``input-add`` kernels gather the rows into the output, then scale
them and add the positional rows in place: three passes over the output. This kernel
writes each output row once, from the table row and the positional row, with the same
float32 operations,

.. math::

    x[s, t, j] = \mathrm{fl}_{32}\bigl(\mathrm{fl}_{32}(c\,E[\mathrm{ids}[s, t], j])
    + PE[t, j]\bigr),\qquad c = \mathrm{fl}_{32}(\mathrm{scale}),

each product and sum rounded in float32 (Numba contracts nothing into a fused multiply-add
without ``fastmath``), so its values are the three-pass kernels' bit for bit. Tokens run
in parallel (``prange``). The ids must be in range: the callers check them first.

Without Numba (the ``fast`` extra installs it) :func:`available` is ``False`` and the
three-pass kernels run. Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import refpe._numba as _numba

__all__ = ["available", "input_add_fused"]


def _build(numba: Any) -> Any:
    @numba.njit(parallel=True, cache=False, fastmath=False)
    def add_rows(ids, table, pe, c, out):  # pragma: no cover - needs Numba
        n, T = ids.shape
        for st in numba.prange(n * T):
            s = st // T
            t = st - s * T
            row, p, o = table[ids[s, t]], pe[t], out[s, t]
            for j in range(o.shape[0]):
                o[j] = c * row[j] + p[j]

    return add_rows


#: The compiled kernel, or ``None`` where Numba cannot be imported.
_compiled = _numba.compiled(_build)


def available() -> bool:
    """Whether the fused kernel can run (Numba importable)."""
    return _compiled() is not None


def input_add_fused(ids: np.ndarray, table: np.ndarray, pe: np.ndarray, scale: float) -> np.ndarray:
    """``fl32(fl32(scale) * table[ids]) + pe`` as a new float32 array of shape
    ``ids.shape + (d,)``: ``table`` ``(V, d)`` and ``pe`` ``(T, d)`` float32, ``T`` the last
    axis of ``ids``, every id in ``[0, V)``."""
    kernel = _compiled()
    if kernel is None:
        raise RuntimeError("the fused input-add kernel needs numba, which is not importable")
    T, d = ids.shape[-1], table.shape[1]
    out = np.empty((*ids.shape, d), dtype=np.float32)
    if out.size:
        rows = np.ascontiguousarray(ids).reshape(-1, T)
        table, pe = np.ascontiguousarray(table), np.ascontiguousarray(pe)
        _numba.call(kernel, rows, table, pe, np.float32(scale), out.reshape(-1, T, d))
    return out
