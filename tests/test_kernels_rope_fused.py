"""The one-pass rope kernel (:mod:`refpe.kernels.rotary_fused`, Numba) against the three-pass
NumPy kernel: bit for bit, non-finite values, in place, a partial rotary width."""

from __future__ import annotations

import numpy as np
import pytest

from refpe.kernels import rotary, rotary_fused


def _three_pass(x: np.ndarray, r: int, out: np.ndarray) -> np.ndarray:
    """The NumPy kernel's blocks (``_rope_blocks``) on ``x`` of shape ``(rows, T, D)``."""
    T, D = x.shape[1:]
    tables = rotary._rope_tables(T, r, D, 10000.0, "null", "half", str(x.dtype))
    rotary._rope_blocks(x, out, [t[:T] for t in tables], T, "half", r, (10000.0, r, None))
    return out


def test_without_numba_the_fused_kernel_says_so():
    if rotary_fused.available():
        pytest.skip("numba is importable: the fused kernel runs")
    x = np.ones((1, 2, 4), np.float32)
    with pytest.raises(RuntimeError, match="numba"):
        rotary_fused.rope_half_fused(x, x.copy(), np.ones((2, 4)), np.ones((2, 4)), 4)


@pytest.mark.skipif(not rotary_fused.available(), reason="numba is not importable")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("r", [16, 8])
def test_fused_is_the_three_pass_kernel_bit_for_bit(dtype, r):
    g = np.random.default_rng(4)
    x = (g.standard_normal((6, 40, 16)) * 10.0 ** g.integers(-3, 4, (6, 40, 16))).astype(dtype)
    x[0, 3, 2], x[1, 5, 9], x[2, 7, 1], x[3, 9, 15] = np.inf, np.nan, -np.inf, np.inf
    T, D = x.shape[1:]
    C, S = rotary._rope_tables(T, r, D, 10000.0, "null", "half", dtype)
    want = _three_pass(x, r, np.empty_like(x))
    got = np.empty_like(x)
    rotary_fused.rope_half_fused(x, got, C[:T], S[:T], r)
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
    inplace = x.copy()
    rotary_fused.rope_half_fused(inplace, inplace, C[:T], S[:T], r)
    assert np.array_equal(inplace.view(np.uint8), want.view(np.uint8))


def test_the_kernel_body_with_a_stand_in_numba(monkeypatch):
    """Where Numba is missing, its body still runs as Python (``njit`` the identity, ``prange``
    the range) on a small array: the same algorithm, bit for bit the three passes."""
    import sys
    import types

    stub = types.ModuleType("numba")
    stub.njit = lambda **kw: lambda f: f
    stub.prange = range
    stub.threading_layer = lambda: "workqueue"  # calls go one at a time
    monkeypatch.setitem(sys.modules, "numba", stub)
    rotary_fused._compiled.cache_clear()
    try:
        g = np.random.default_rng(8)
        for r in (8, 6):
            x = g.standard_normal((2, 5, 8)).astype(np.float32)
            x[0, 1, 1], x[1, 2, 5] = np.inf, np.nan
            C, S = rotary._rope_tables(5, r, 8, 10000.0, "null", "half", "float32")
            want = _three_pass(x, r, np.empty_like(x))
            got = np.full_like(x, 7.0)
            rotary_fused.rope_half_fused(x, got, C[:5], S[:5], r)
            assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
            rotary_fused.rope_half_fused(x, x, C[:5], S[:5], r)  # in place
            assert np.array_equal(x.view(np.uint8), want.view(np.uint8))
    finally:
        rotary_fused._compiled.cache_clear()


@pytest.mark.skipif(not rotary_fused.available(), reason="numba is not importable")
def test_threads_calling_at_once_get_the_single_thread_answer():
    # Numba's workqueue layer aborts on concurrent calls; OpenMP/TBB take them. Either way
    # four threads at once must give what one thread gives.
    import threading

    x = np.random.default_rng(5).standard_normal((4, 64, 32)).astype(np.float32)
    C, S = rotary._rope_tables(64, 32, 32, 10000.0, "null", "half", "float32")
    want = _three_pass(x, 32, np.empty_like(x))
    outs = [np.empty_like(x) for _ in range(4)]

    def run(out):
        for _ in range(25):
            rotary_fused.rope_half_fused(x, out, C[:64], S[:64], 32)

    threads = [threading.Thread(target=run, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(o.view(np.uint32), want.view(np.uint32)) for o in outs)
