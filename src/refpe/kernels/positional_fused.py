r"""The one-pass sinusoid table for float32, compiled by Numba when it is importable.

The NumPy kernel (:func:`refpe.kernels.positional.build_sinusoid_table`) forms each block of
64 rows as a complex128 product in a buffer, then rounds the buffer into the table. This
kernel computes each pair in registers and stores it rounded, with the same float64
operations as NumPy's complex product,

.. math::

    (s_a + i c_a)(c_b - i s_b):\quad
    \mathrm{re} = s_a c_b - c_a(-s_b),\quad \mathrm{im} = s_a(-s_b) + c_a c_b,

each rounded in float64 (Numba contracts nothing into a fused multiply-add without
``fastmath``), then once to float32. Rows of blocks run in parallel (``prange``).

Without Numba (the ``fast`` extra installs it) :func:`available` is ``False`` and the NumPy
kernel builds the table. Source: Vaswani et al. (2017) §3.5.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import refpe._numba as _numba

__all__ = ["available", "sinusoid_pairs_fused"]


def _build(numba: Any) -> Any:
    @numba.njit(parallel=True, cache=False, fastmath=False)
    def pairs_of(pairs, sin_a, cos_a, sin_b, cos_b):  # pragma: no cover - needs Numba
        n, m = pairs.shape[0], pairs.shape[1] // 2
        B = sin_b.shape[0]
        for k in numba.prange(sin_a.shape[0]):
            for b in range(min(B, n - k * B)):
                row = k * B + b
                for j in range(m):
                    ar, ai = sin_a[k, j], cos_a[k, j]
                    br, bi = cos_b[b, j], -sin_b[b, j]
                    pairs[row, 2 * j] = ar * br - ai * bi
                    pairs[row, 2 * j + 1] = ar * bi + ai * br

    return pairs_of


#: The compiled kernel, or ``None`` where Numba cannot be imported.
_compiled = _numba.compiled(_build)


def available() -> bool:
    """Whether the fused kernel can run (Numba importable)."""
    return _compiled() is not None


def sinusoid_pairs_fused(
    pairs: np.ndarray, sin_a: np.ndarray, cos_a: np.ndarray, sin_b: np.ndarray, cos_b: np.ndarray
) -> None:
    """Fill the float32 ``pairs`` of shape ``(n, 2m)`` (C-contiguous): row ``a B + b`` holds
    the interleaved ``(sin, cos)`` of the angle sum, from the float64 block starts ``sin_a``,
    ``cos_a`` (``(ceil(n / B), m)``) and offsets ``sin_b``, ``cos_b`` (``(B, m)``)."""
    kernel = _compiled()
    if kernel is None:
        raise RuntimeError("the fused sinusoid kernel needs numba, which is not importable")
    _numba.call(kernel, pairs, *(np.ascontiguousarray(t) for t in (sin_a, cos_a, sin_b, cos_b)))
