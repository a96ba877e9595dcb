r"""The one-pass ``rope`` kernel for NumPy (half layout), compiled by Numba when it is importable.

The NumPy kernel (:func:`refpe.kernels.rotary.rope`) makes three passes over each cache-sized
block: ``x C``, the swapped halves times ``S = [-\sin, \sin]``, and their sum. This kernel
makes one: each pair :math:`(x_a, x_b)` is read once and both outputs are written at once,

.. math::

    y_a = x_a C_a + x_b S_a,\quad y_b = x_b C_b + x_a S_b,\quad y_{r:} = x_{r:} \cdot 1,

with the same two products and one sum per element, each rounded in ``x.dtype`` (Numba
contracts nothing into a fused multiply-add without ``fastmath``), so its results are the
NumPy kernel's bit for bit, non-finite values included. Rows run in parallel (``prange``).

Numba comes with the ``fast`` extra (``pip install "refpe[fast]"``); without it
:func:`available` is ``False`` and the NumPy kernel keeps its three passes.
Source: Su et al. (2021), RoFormer eq. (34).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import refpe._numba as _numba

__all__ = ["available", "rope_half_fused"]


def _build(numba: Any) -> Any:
    @numba.njit(parallel=True, cache=False, fastmath=False)
    def half(x, out, C, S, r):  # pragma: no cover - runs only where Numba is installed
        rows, T, D = x.shape
        h = r // 2
        for k in numba.prange(rows * T):
            b, t = k // T, k % T
            xr, yr, c, s = x[b, t], out[b, t], C[t], S[t]  # 1-d rows: LLVM vectorises the loops
            for i in range(h):
                xa, xb = xr[i], xr[i + h]
                yr[i] = xa * c[i] + xb * s[i]
                yr[i + h] = xb * c[i + h] + xa * s[i + h]
            for i in range(r, D):
                yr[i] = xr[i] * c[i]

    return half


#: The compiled kernel, or ``None`` where Numba cannot be imported.
_compiled = _numba.compiled(_build)


def available() -> bool:
    """Whether the fused kernel can run (Numba importable)."""
    return _compiled() is not None


def rope_half_fused(x: np.ndarray, out: np.ndarray, C: np.ndarray, S: np.ndarray, r: int) -> None:
    r"""``out = x C + \mathrm{swap}(x_{:r}) S`` for ``x`` and ``out`` of shape ``(rows, T, D)``
    (C-contiguous, ``out`` may be ``x``), ``C`` of shape ``(T, D)`` and ``S`` of shape
    ``(T, r)`` (the tables of :func:`refpe.kernels.rotary.rope_tables`, in ``x.dtype``)."""
    kernel = _compiled()
    if kernel is None:
        raise RuntimeError("the fused rope kernel needs numba, which is not importable")
    _numba.call(kernel, x, out, np.ascontiguousarray(C), np.ascontiguousarray(S), r)
