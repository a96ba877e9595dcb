"""embedding-grad and sgd_step: exact sums, duplicates on every library, freezing, error
model, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe._compat import scatter_add

SPEC = refpe.spec("embedding-grad")


def exact_grad(ids, grad_out, n, padding_idx=None, scale_grad_by_freq=False, frozen=None):
    """Row sums with math.fsum (correctly rounded), then the zeroing rules."""
    ids = np.asarray(ids).reshape(-1)
    g = np.asarray(grad_out, dtype=np.float64).reshape(ids.size, -1)
    out = np.zeros((n, g.shape[1]))
    for v in range(n):
        rows = g[ids == v]
        for c in range(g.shape[1]):
            out[v, c] = math.fsum(rows[:, c]) / (max(len(rows), 1) if scale_grad_by_freq else 1)
    if padding_idx is not None:
        out[padding_idx % n] = 0.0
    if frozen is True:
        out[:] = 0.0
    elif isinstance(frozen, np.ndarray):
        out[frozen] = 0.0
    return out


@pytest.mark.parametrize("case", SPEC.cases, ids=lambda c: c.name)
def test_float64_against_exact_sums(case):
    if case.raises is not None:
        with pytest.raises(case.raises, match="out of range"):
            refpe.embedding_grad(**case.kwargs)
        return
    y = refpe.embedding_grad(**case.kwargs)
    exact = exact_grad(
        **{k: v for k, v in case.kwargs.items() if k != "num_embeddings"},
        n=case.kwargs["num_embeddings"],
    )
    assert (
        normalised_error(y, exact, "float64", SPEC.error.bound_scale(case.kwargs, exact, "float64"))
        <= 1
    )
    zero = SPEC.error.bound_scale(case.kwargs, exact, "float64") < 1e-300
    np.testing.assert_array_equal(y[zero], 0.0)


@pytest.mark.parametrize("case", [c for c in SPEC.cases if c.raises is None], ids=lambda c: c.name)
def test_float32_on_every_library(xp, case):
    kw = dict(case.kwargs)
    g32 = kw["grad_out"].astype(np.float32)
    args = dict(kw, ids=xp.asarray(kw["ids"]), grad_out=xp.asarray(g32))
    if isinstance(kw.get("frozen"), np.ndarray):
        args["frozen"] = xp.asarray(kw["frozen"])
    with no_change(args["grad_out"]):
        y = refpe.embedding_grad(**args)
    assert y.dtype == xp.float32
    host = dict(kw, grad_out=g32.astype(np.float64))
    exact = refpe.embedding_grad(**host)
    assert (
        normalised_error(y, exact, "float32", SPEC.error.bound_scale(host, exact, "float32")) <= 2
    )


def test_duplicates_accumulate_on_every_library(xp):
    ids = xp.asarray(np.array([2, 2, 2, 0, 2]))
    g = xp_asarray(xp, np.ones((5, 3)), "float32")
    dW = to_numpy(refpe.embedding_grad(ids, g, 4))
    np.testing.assert_array_equal(dW, [[1, 1, 1], [0, 0, 0], [4, 4, 4], [0, 0, 0]])
    dW = to_numpy(scatter_add(4, ids, g, xp))
    np.testing.assert_array_equal(dW[2], [4, 4, 4])


def test_array_api_extra_at_add_does_not_accumulate_duplicates_on_numpy():
    xpx = pytest.importorskip("array_api_extra")
    x = np.zeros(3)
    out = xpx.at(x, np.array([1, 1, 2])).add(np.ones(3))
    assert out[1] == 1.0, "array-api-extra now accumulates duplicates; refpe could use it"
    np.testing.assert_array_equal(scatter_add(3, np.array([1, 1, 2]), np.ones(3), np), [0, 2, 1])


def test_scale_grad_by_freq_and_padding_match_torch():
    torch = pytest.importorskip("torch")
    ids = np.array([[1, 3, 1, 0], [3, 3, 5, 1]])
    g = np.random.default_rng(2).standard_normal((2, 4, 3))
    for padding_idx in (None, 3, -2):
        W = torch.zeros(7, 3, dtype=torch.float64, requires_grad=True)
        out = torch.nn.functional.embedding(
            torch.from_numpy(ids), W, padding_idx=padding_idx, scale_grad_by_freq=True
        )
        out.backward(torch.from_numpy(g))
        ours = refpe.embedding_grad(ids, g, 7, padding_idx=padding_idx, scale_grad_by_freq=True)
        np.testing.assert_allclose(ours, W.grad.numpy(), rtol=0, atol=1e-15)


def test_freezing(xp):
    ids = xp.asarray(np.array([0, 1, 2, 1]))
    g = xp_asarray(xp, np.ones((4, 2)), "float32")
    assert np.all(to_numpy(refpe.embedding_grad(ids, g, 3, frozen=True)) == 0)
    mask = xp.asarray(np.array([False, True, False]))
    dW = to_numpy(refpe.embedding_grad(ids, g, 3, frozen=mask))
    np.testing.assert_array_equal(dW, [[1, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(
        to_numpy(refpe.embedding_grad(ids, g, 3, frozen=False))[1], [2, 2]
    )


def test_sgd_step(xp):
    W = xp_asarray(xp, np.arange(6.0).reshape(3, 2), "float32")
    dW = xp_asarray(xp, np.ones((3, 2)), "float32")
    with no_change(W, dW):
        W2 = refpe.sgd_step(W, dW, 0.5)
    np.testing.assert_array_equal(to_numpy(W2), np.arange(6.0).reshape(3, 2) - 0.5)
    assert W2.dtype == xp.float32
    with pytest.raises(ValueError, match=r"dW must have the shape of W \(3, 2\), got \(2, 3\)"):
        refpe.sgd_step(W, xp.reshape(dW, (2, 3)), 0.1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 12), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_equals_dense_one_hot_product(n, length, d, seed):
    g = np.random.default_rng(seed)
    ids = g.integers(0, n, length)
    grad_out = g.standard_normal((length, d))
    dW = refpe.embedding_grad(ids, grad_out, n)
    onehot = (ids[:, None] == np.arange(n)).astype(np.float64)
    np.testing.assert_allclose(dW, onehot.T @ grad_out, rtol=0, atol=1e-14)
    np.testing.assert_allclose(dW.sum(0), grad_out.sum(0), rtol=0, atol=1e-13)
    assert np.all(dW[np.bincount(ids, minlength=n) == 0] == 0)


def test_bad_input():
    ids, g = np.array([0, 1]), np.zeros((2, 3))
    with pytest.raises(
        IndexError, match=r"ids out of range: value 7 at flat index 1 is not in \[0, 7\)"
    ):
        refpe.embedding_grad(np.array([0, 7]), g, 7)
    with pytest.raises(IndexError, match=r"ids out of range: value -1 at flat index 0"):
        refpe.embedding_grad(np.array([-1, 0]), g, 7)
    for bad in (7, -8):
        with pytest.raises(
            IndexError, match=rf"padding_idx out of range: {bad} is not in \[-7, 7\)"
        ):
            refpe.embedding_grad(ids, g, 7, padding_idx=bad)
    with pytest.raises(TypeError, match="ids must be an integer array, got dtype float64"):
        refpe.embedding_grad(np.array([0.0, 1.0]), g, 7)
    with pytest.raises(
        ValueError,
        match=r"grad_out must have shape \(2,\) \+ \(d,\) for ids of shape \(2,\), got \(3, 3\)",
    ):
        refpe.embedding_grad(ids, np.zeros((3, 3)), 7)
    with pytest.raises(ValueError, match=r"frozen must have shape \(7,\), got \(6,\)"):
        refpe.embedding_grad(ids, g, 7, frozen=np.zeros(6, dtype=bool))
    with pytest.raises(
        TypeError, match="frozen must be True/False or a boolean row mask, got dtype int64"
    ):
        refpe.embedding_grad(ids, g, 7, frozen=np.zeros(7, dtype=np.int64))
    with pytest.raises(ValueError, match="num_embeddings must be positive, got 0"):
        refpe.embedding_grad(ids, g, 0)
    with pytest.raises(TypeError, match="grad_out must be a float array, got dtype int64"):
        refpe.embedding_grad(ids, np.zeros((2, 3), dtype=np.int64), 7)
