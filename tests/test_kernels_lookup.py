"""The token-lookup, input-add and embedding-grad kernels (refpe.kernels.embedding, grad)
against the reference and the spec's error model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import no_change, spec_error
from helpers import random_array as _x
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.kernels import embedding as KE
from refpe.kernels import grad as KG
from refpe.kernels import positional as KP
from refpe.kernels import rotary as KR
from refpe.kernels import rotary_torch as KT
from refpe.registry import EPS

torch = pytest.importorskip("torch")

#: The readable reference of each hot spec (the public functions dispatch to the kernels).
REF = SimpleNamespace(
    **{
        n: getattr(refpe, n).reference
        for n in ("pe_sinusoidal", "rope", "token_lookup", "input_add", "embedding_grad")
    }
)

# --- token-lookup, input-add ------------------------------------------------------------------


def test_token_lookup_is_the_reference():
    table = _x((50, 6), "float32")
    ids = np.random.default_rng(2).integers(0, 50, (4, 9))
    np.testing.assert_array_equal(refpe.token_lookup(ids, table), REF.token_lookup(ids, table))
    got = refpe.token_lookup(ids, table, scale=math.sqrt(6))
    assert (
        spec_error("token-lookup", got, {"ids": ids, "table": table, "scale": 6**0.5}, "float32")
        <= 1
    )
    t = refpe.token_lookup(torch.from_numpy(ids), torch.from_numpy(table), scale=2.5)
    assert spec_error("token-lookup", t, {"ids": ids, "table": table, "scale": 2.5}, "float32") <= 1
    assert refpe.token_lookup(np.zeros((0, 3), dtype=np.int64), table).shape == (0, 3, 6)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_token_lookup_refuses_ids_out_of_range(library):
    fn = refpe.token_lookup
    table = _x((5, 3), "float32")
    wrap = (lambda a: a) if library == "numpy" else torch.from_numpy
    with pytest.raises(
        IndexError, match=r"ids out of range: value 7 at flat index 3 is not in \[0, 5\)"
    ):
        fn(wrap(np.array([0, 1, 2, 7])), wrap(table))
    with pytest.raises(IndexError, match="value -1 at flat index 0"):
        fn(wrap(np.array([-1, 2])), wrap(table))
    with pytest.raises(TypeError, match="ids must be an integer array"):
        fn(wrap(np.array([0.0])), wrap(table))
    with pytest.raises(ValueError, match="scale must be a finite real number, got True"):
        fn(wrap(np.array([0])), wrap(table), scale=True)


def test_input_add_within_the_error_model():
    table, pe = _x((40, 8), "float32"), _x((30, 8), "float32", seed=1)
    ids = np.random.default_rng(3).integers(0, 40, (3, 12))
    for kw in (
        {},
        {"scale": math.sqrt(8)},
        {"start": 5},
        {"positions": np.arange(12)[::-1].copy()},
    ):
        inputs = {"ids": ids, "table": table, "pe_table": pe, **kw}
        with no_change(ids, table, pe):
            got = refpe.input_add(**inputs)
        assert got.dtype == np.float32 and got.shape == (3, 12, 8)
        assert spec_error("input-add", got, inputs, "float32") <= 1.5


def test_input_add_torch_within_the_error_model_and_declines_the_rest():
    table, pe = _x((40, 8), "float32"), _x((30, 8), "float32", seed=1)
    ids = np.random.default_rng(3).integers(0, 40, (3, 12))
    t = [torch.from_numpy(a) for a in (ids, table, pe)]
    for kw in ({}, {"scale": math.sqrt(8)}, {"start": 5}):
        inputs = {"ids": ids, "table": table, "pe_table": pe, **kw}
        with no_change(*t):
            got = KE.input_add_torch(*t, **kw)
        assert got.dtype == torch.float32 and tuple(got.shape) == (3, 12, 8)
        assert spec_error("input-add", got, inputs, "float32") <= 1.5
    # what it has no fast path for goes to the reference, which refuses bad input
    assert KE.input_add_torch(*t, positions=torch.arange(12)) is NotImplemented
    assert KE.input_add_torch(*t, start=20) is NotImplemented
    assert KE.input_add_torch(t[0] + 40, *t[1:]) is NotImplemented
    with pytest.raises(IndexError, match=r"ids out of range: value \d+ at flat index 0"):
        refpe.input_add(t[0] + 40, *t[1:])
    assert refpe.last_kernel() == "reference"


def test_kernels_decline_what_they_do_not_accelerate():
    x = np.ones((4, 8), np.float32)
    dynamic = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 2}
    assert KR.rope(x, 4, scaling=dynamic) is NotImplemented
    assert KR.rope(torch.from_numpy(x), 4) is NotImplemented
    assert KT.rope_torch(x, 4) is NotImplemented
    assert KE.token_lookup(np.array([0]), np.eye(2), padding_idx=0) is NotImplemented
    assert KP.pe_sinusoidal(np.array([0.5]), 4) is NotImplemented
    assert KG.embedding_grad_torch(np.array([0]), np.ones((1, 2)), 2) is NotImplemented
    # with out=, a declined rope writes the reference's result there
    out = np.empty_like(x)
    assert KR.rope(x, 4, scaling=dynamic, out=out) is out
    np.testing.assert_array_equal(out, REF.rope(x, 4, scaling=dynamic))


def test_input_add_refuses_positions_past_the_table():
    table, pe = _x((40, 8), "float32"), _x((10, 8), "float32")
    ids = np.zeros((2, 12), dtype=np.int64)
    with pytest.raises(IndexError, match="positions out of range of pe_table: value 10"):
        refpe.input_add(ids, table, pe)
    with pytest.raises(IndexError, match="ids out of range: value 40"):
        refpe.input_add(ids + 40, table, pe[:, :8], positions=np.zeros(12, dtype=np.int64))


# --- embedding-grad ---------------------------------------------------------------------------


def _grad_case(seed=0, n=40, N=3000, d=5, dtype="float32"):
    g = np.random.default_rng(seed)
    ids = (g.zipf(1.3, N) % n).reshape(30, -1)
    return ids, g.standard_normal((*ids.shape, d)).astype(dtype) * 10.0 ** g.integers(
        -3, 3, (*ids.shape, 1)
    )


@pytest.mark.parametrize(
    "kw",
    [{}, {"scale_grad_by_freq": True}, {"padding_idx": -1}, {"frozen": np.arange(40) % 3 == 0}],
)
def test_embedding_grad_is_the_float64_sum_rounded_once(kw):
    ids, g = _grad_case()
    assert np.bincount(ids.ravel()).max() > KG.SHORT  # long segments and short ones
    with no_change(ids, g):
        got = refpe.embedding_grad(ids, g, 40, **kw)
    inputs = {"ids": ids, "grad_out": g, "num_embeddings": 40, **kw}
    # one rounding of a float64 sum: eps/2 of |sum| <= eps/2 of the sum of |terms|
    assert spec_error("embedding-grad", got, inputs, "float32") <= 0.5 + 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"scale_grad_by_freq": True}, {"padding_idx": -1}, {"frozen": np.arange(40) % 3 == 0}],
)
def test_embedding_grad_torch_sums_in_order_within_the_error_model(kw, dtype):
    ids, g = _grad_case()
    g = g.astype(dtype)
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    t_ids, t_g = torch.from_numpy(ids), torch.from_numpy(g)
    with no_change(t_ids, t_g):
        got = refpe.embedding_grad(t_ids, t_g, 40, **tkw)
    assert refpe.last_kernel() == "refpe.kernels.grad.embedding_grad_torch"
    assert got.dtype == t_g.dtype and tuple(got.shape) == (40, 5)
    inputs = {"ids": ids, "grad_out": g, "num_embeddings": 40, **kw}
    assert spec_error("embedding-grad", got, inputs, dtype) <= 2
    # the deterministic bound of a recursive sum: (n_v - 1) u sum|g| (+ one rounding to scale)
    exact = REF.embedding_grad(ids, g.astype(np.float64), 40, **kw)
    n = np.bincount(ids.ravel(), minlength=40)[:, None]
    absum = np.zeros((40, 5))
    np.add.at(absum, ids.ravel(), np.abs(g.reshape(-1, 5).astype(np.float64)))
    if kw.get("scale_grad_by_freq"):
        absum /= np.maximum(n, 1)
    u = EPS[dtype] / 2
    assert (np.abs(got.numpy() - exact) <= (np.maximum(n - 1, 0) + 1) * u * absum).all()


def test_embedding_grad_float64_and_empty():
    ids, g = _grad_case(seed=1, dtype="float64")
    got = refpe.embedding_grad(ids, g, 40)
    assert (
        spec_error(
            "embedding-grad", got, {"ids": ids, "grad_out": g, "num_embeddings": 40}, "float64"
        )
        <= 2
    )
    assert not refpe.embedding_grad(np.zeros(0, dtype=np.int64), np.zeros((0, 3)), 4).any()


def test_embedding_grad_bad_input_raises_like_the_reference():
    g = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(
        IndexError, match=r"ids out of range: value 9 at flat index 2 is not in \[0, 4\)"
    ):
        refpe.embedding_grad(np.array([0, 1, 9]), g, 4)
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2,\) \+ \(d,\)"):
        refpe.embedding_grad(np.array([0, 1]), g, 4)
    with pytest.raises(IndexError, match="padding_idx out of range"):
        refpe.embedding_grad(np.array([0, 1, 2]), g, 4, padding_idx=4)
    with pytest.raises(ValueError, match="num_embeddings must be positive, got 0"):
        refpe.embedding_grad(torch.tensor([0]), torch.ones(1, 2), 0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), N=st.integers(1, 300), d=st.integers(1, 4), seed=st.integers(0, 99))
def test_embedding_grad_property(n, N, d, seed):
    g = np.random.default_rng(seed)
    ids = g.integers(0, n, N) if seed % 2 else np.minimum(g.zipf(1.5, N) - 1, n - 1)
    grad = g.standard_normal((N, d)).astype(np.float32)
    got = refpe.embedding_grad(ids, grad, n)
    inputs = {"ids": ids, "grad_out": grad, "num_embeddings": n}
    assert spec_error("embedding-grad", got, inputs, "float32") <= 0.5 + 1e-6
