"""The embedding gradient on CPU tensors (:mod:`refpe.kernels.grad_fused`, Numba) against
ATen's ``embedding_dense_backward``: bit for bit, with padding rows, both id dtypes, both
float dtypes and widths that do not split evenly between threads."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from refpe.kernels import grad, grad_fused  # noqa: E402

needs_numba = pytest.mark.skipif(not grad_fused.available(), reason="numba is not importable")
CASES = [
    ((1000,), 50, 512, None, torch.int64, torch.float32),
    ((3, 40), 17, 33, 4, torch.int32, torch.float32),  # 33 columns over the threads, padding
    ((2, 2, 9), 5, 3, -1, torch.int64, torch.float64),  # narrower than one slice
    ((0,), 4, 8, None, torch.int64, torch.float32),  # no ids: zeros
]


def _inputs(shape, V, d, id_dtype, dtype):
    g = torch.Generator().manual_seed(V * d)
    ids = torch.randint(0, V, shape, generator=g, dtype=torch.int64).to(id_dtype)
    ids.view(-1)[: min(ids.numel(), 7)] = 0  # a row that many ids add into, in order
    grad_out = (torch.randn((*shape, d), generator=g, dtype=torch.float64) * 1e3).to(dtype)
    return ids, grad_out


def _aten(ids, grad_out, V, padding_idx):
    pad = -1 if padding_idx is None else padding_idx % V
    g = grad_out.reshape(ids.numel(), grad_out.shape[-1])
    return torch.ops.aten.embedding_dense_backward(g, ids.reshape(-1), V, pad, False)


def _bits(t):
    return t.view(torch.int64 if t.dtype == torch.float64 else torch.int32)


@needs_numba
@pytest.mark.parametrize(("shape", "V", "d", "padding_idx", "id_dtype", "dtype"), CASES)
def test_fused_is_aten_bit_for_bit(monkeypatch, shape, V, d, padding_idx, id_dtype, dtype):
    ids, grad_out = _inputs(shape, V, d, id_dtype, dtype)
    taken = []
    real = grad_fused.embedding_grad_fused
    monkeypatch.setattr(grad_fused, "embedding_grad_fused", lambda *a: taken.append(1) or real(*a))
    got = grad.embedding_grad_torch(ids, grad_out, V, padding_idx=padding_idx)
    assert taken, "the fused kernel was not taken"
    assert torch.equal(_bits(got), _bits(_aten(ids, grad_out, V, padding_idx)))


@needs_numba
def test_scale_grad_by_freq_stays_with_aten(monkeypatch):
    ids, grad_out = _inputs((50,), 6, 8, torch.int64, torch.float32)
    monkeypatch.setattr(grad_fused, "embedding_grad_fused", None)  # would fail if called
    got = grad.embedding_grad_torch(ids, grad_out, 6, scale_grad_by_freq=True)
    want = torch.ops.aten.embedding_dense_backward(grad_out, ids, 6, -1, True)
    assert torch.equal(got, want)


def test_without_numba_the_fused_kernel_says_so(monkeypatch):
    monkeypatch.setattr(grad_fused, "_compiled", lambda: None)
    assert not grad_fused.available()
    ids, grad_out = _inputs((20,), 5, 4, torch.int64, torch.float32)
    assert torch.equal(grad.embedding_grad_torch(ids, grad_out, 5), _aten(ids, grad_out, 5, None))
    with pytest.raises(RuntimeError, match="numba"):
        grad_fused.embedding_grad_fused(ids.numpy(), grad_out.numpy(), -1, np.zeros((5, 4)))


def test_the_kernel_body_with_a_stand_in_numba(monkeypatch):
    """Where Numba is missing its body still runs as Python (``njit`` the identity,
    ``prange`` the range, two threads): bit for bit ATen's sums."""
    stub = types.ModuleType("numba")
    stub.njit = lambda **kw: lambda f: f
    stub.prange = range
    stub.get_num_threads = lambda: 2
    stub.threading_layer = lambda: "workqueue"
    ids, grad_out = _inputs((60,), 9, 40, torch.int64, torch.float32)
    monkeypatch.setitem(sys.modules, "numba", stub)
    grad_fused._compiled.cache_clear()
    try:
        got = grad.embedding_grad_torch(ids, grad_out, 9, padding_idx=2)
    finally:
        grad_fused._compiled.cache_clear()
    assert torch.equal(_bits(got), _bits(_aten(ids, grad_out, 9, 2)))
