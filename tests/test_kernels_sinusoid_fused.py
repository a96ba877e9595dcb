"""The one-pass float32 sinusoid table (:mod:`refpe.kernels.positional_fused`, Numba) against
the NumPy kernel's complex products: bit for bit, every layout, partial last block, offsets
past 2^24."""

from __future__ import annotations

import numpy as np
import pytest

from refpe.kernels import positional, positional_fused


def _numpy_path(monkeypatch, *args):
    monkeypatch.setattr(positional_fused, "available", lambda: False)
    try:
        return positional.build_sinusoid_table(*args)
    finally:
        monkeypatch.undo()


@pytest.mark.skipif(not positional_fused.available(), reason="numba is not importable")
@pytest.mark.parametrize(
    ("n", "d", "layout", "schedule", "offset"),
    [
        (1000, 64, "interleaved", "vaswani", 0),
        (130, 62, "half", "vaswani", 7),  # a partial last block of 64 rows
        (257, 96, "interleaved", "t2t", 2**24 + 3),
        (64, 9, "half", "vaswani", 10**9),  # odd d: a column of zeros
        (1, 512, "interleaved", "vaswani", 2**31 - 2),
    ],
)
def test_fused_is_the_numpy_kernel_bit_for_bit(monkeypatch, n, d, layout, schedule, offset):
    args = (n, d, 10000.0, layout, schedule, offset, "float32")
    want = _numpy_path(monkeypatch, *args)
    got = positional.build_sinusoid_table(*args)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


def test_without_numba_the_fused_kernel_says_so(monkeypatch):
    monkeypatch.setattr(positional_fused, "_compiled", lambda: None)
    with pytest.raises(RuntimeError, match="numba"):
        z = np.zeros((1, 4))
        positional_fused.sinusoid_pairs_fused(np.zeros((1, 8), np.float32), z, z, z, z)


def test_the_kernel_body_with_a_stand_in_numba(monkeypatch):
    """Where Numba is missing its body still runs as Python (``njit`` the identity, ``prange``
    the range) on a small table: bit for bit the NumPy kernel's complex products."""
    import sys
    import types

    stub = types.ModuleType("numba")
    stub.njit = lambda **kw: lambda f: f
    stub.prange = range
    stub.threading_layer = lambda: "workqueue"
    args = (70, 12, 10000.0, "interleaved", "vaswani", 5, "float32")
    want = _numpy_path(monkeypatch, *args)
    monkeypatch.setitem(sys.modules, "numba", stub)
    positional_fused._compiled.cache_clear()
    try:
        got = positional.build_sinusoid_table(*args)
    finally:
        positional_fused._compiled.cache_clear()
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
