"""The one-pass float32 input layer (:mod:`refpe.kernels.embedding_fused`, Numba) against the
three-pass NumPy and PyTorch kernels (gather, scale, add): bit for bit, and the reference's
errors for ids out of range."""

from __future__ import annotations

import numpy as np
import pytest

import refpe
from refpe.kernels import embedding, embedding_fused

needs_numba = pytest.mark.skipif(not embedding_fused.available(), reason="numba is not importable")
CASES = [
    ((3, 40), 50, 16, 512**0.5, 0),
    ((7,), 9, 5, 1.0, 3),  # one sequence, scale 1, positions from 3
    ((2, 2, 33), 1000, 64, 3, 10),  # an int scale, more leading axes
    ((4, 0), 10, 8, 2.5, 0),  # no positions: an empty output
]


def _inputs(shape, V, d, start):
    g = np.random.default_rng(V + d)
    ids = g.integers(0, V, shape)
    table = (g.standard_normal((V, d)) * 3).astype(np.float32)
    pe = g.standard_normal((start + shape[-1] + 2, d)).astype(np.float32)
    return ids, table, pe


def _three_passes(monkeypatch, fn, *args, **kw):
    monkeypatch.setattr(embedding_fused, "available", lambda: False)
    try:
        return fn(*args, **kw)
    finally:
        monkeypatch.undo()


@needs_numba
@pytest.mark.parametrize(("shape", "V", "d", "scale", "start"), CASES)
def test_fused_is_the_numpy_kernel_bit_for_bit(monkeypatch, shape, V, d, scale, start):
    ids, table, pe = _inputs(shape, V, d, start)
    want = _three_passes(monkeypatch, embedding.input_add, ids, table, pe, scale=scale, start=start)
    got = embedding.input_add(ids, table, pe, scale=scale, start=start)
    assert got.dtype == np.float32 and got.shape == (*shape, d)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))


@needs_numba
@pytest.mark.parametrize(("shape", "V", "d", "scale", "start"), CASES)
def test_fused_is_the_torch_kernel_bit_for_bit(monkeypatch, shape, V, d, scale, start):
    torch = pytest.importorskip("torch")
    ids, table, pe = (torch.from_numpy(a) for a in _inputs(shape, V, d, start))
    args = (ids, table, pe)
    want = _three_passes(monkeypatch, embedding.input_add_torch, *args, scale=scale, start=start)
    got = embedding.input_add_torch(*args, scale=scale, start=start)
    assert got.dtype == torch.float32 and tuple(got.shape) == (*shape, table.shape[1])
    assert np.array_equal(got.numpy().view(np.uint32), want.numpy().view(np.uint32))


@needs_numba
def test_a_numpy_float64_scale_keeps_the_three_passes():
    """NumPy multiplies float32 by a float64 scalar in float64: not the fused kernel's float32
    product, so such a scale keeps the three passes (and their values)."""
    ids, table, pe = _inputs((2, 30), 40, 8, 0)
    scale = np.float64(1 / 3)
    want = np.take(table, ids, axis=0)
    np.multiply(want, scale, out=want)
    want += pe[:30]
    got = embedding.input_add(ids, table, pe, scale=scale)
    assert np.array_equal(got, want)


def test_ids_out_of_range_are_refused_before_the_kernel():
    ids, table, pe = _inputs((2, 5), 10, 4, 0)
    ids[1, 3] = 10
    with pytest.raises(IndexError, match="10"):
        refpe.input_add(ids, table, pe)


def test_without_numba_the_fused_kernel_says_so(monkeypatch):
    monkeypatch.setattr(embedding_fused, "_compiled", lambda: None)
    ids, table, pe = _inputs((1, 3), 5, 2, 0)
    with pytest.raises(RuntimeError, match="numba"):
        embedding_fused.input_add_fused(ids, table, pe[:3], 1.0)


def test_the_kernel_body_with_a_stand_in_numba(monkeypatch):
    """Where Numba is missing its body still runs as Python (``njit`` the identity,
    ``prange`` the range): bit for bit the three passes."""
    import sys
    import types

    stub = types.ModuleType("numba")
    stub.njit = lambda **kw: lambda f: f
    stub.prange = range
    stub.threading_layer = lambda: "workqueue"
    ids, table, pe = _inputs((2, 6), 20, 5, 1)
    want = _three_passes(monkeypatch, embedding.input_add, ids, table, pe, scale=1.7, start=1)
    monkeypatch.setitem(sys.modules, "numba", stub)
    embedding_fused._compiled.cache_clear()
    try:
        got = embedding_fused.input_add_fused(ids, table, pe[1:7], 1.7)
    finally:
        embedding_fused._compiled.cache_clear()
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
