"""layer-norm and the residual blocks: mpmath, error model, invariants, bad input."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.registry import EPS

mpmath.mp.dps = 40
SPEC = refpe.spec("layer-norm")


def mp_layer_norm(x, gamma, beta, eps):
    x = x.reshape(-1, x.shape[-1])
    out = np.zeros(x.shape)
    for r, row in enumerate(x):
        v = [mpmath.mpf(a) for a in row]
        mu = mpmath.fsum(v) / len(v)
        var = mpmath.fsum((a - mu) ** 2 for a in v) / len(v)
        inv = 1 / mpmath.sqrt(var + mpmath.mpf(eps))
        for k, a in enumerate(v):
            g = 1 if gamma is None else mpmath.mpf(gamma[k])
            b = 0 if beta is None else mpmath.mpf(beta[k])
            out[r, k] = float((a - mu) * inv * g + b)
    return out


def rounded(kwargs, dtype):
    host = {}
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = v.astype(dtype).astype(np.float64)
        host[k] = v
    return host


@pytest.mark.parametrize("case", SPEC.cases, ids=lambda c: c.name)
def test_float64_against_mpmath(case):
    kw = case.kwargs
    if case.raises is not None:
        with pytest.raises(case.raises, match="eps must be > 0"):
            refpe.layer_norm(**kw)
        return
    y = refpe.layer_norm(**kw)
    exact = mp_layer_norm(kw["x"], kw.get("gamma"), kw.get("beta"), kw.get("eps", 1e-5))
    err = normalised_error(
        y, exact.reshape(y.shape), "float64", SPEC.error.bound_scale(kw, y, "float64")
    )
    assert err <= SPEC.error.K["float64"]


@pytest.mark.parametrize("case", [c for c in SPEC.cases if c.raises is None], ids=lambda c: c.name)
def test_float32_on_every_library(xp, case):
    host = rounded(case.kwargs, np.float32)
    args = {
        k: xp_asarray(xp, v, "float32") if isinstance(v, np.ndarray) else v for k, v in host.items()
    }
    with no_change(args["x"]):
        y = refpe.layer_norm(**args)
    assert y.dtype == xp.float32
    exact = refpe.layer_norm(**host)
    err = normalised_error(y, exact, "float32", SPEC.error.bound_scale(host, exact, "float32"))
    assert err <= SPEC.error.K["float32"]


def test_constant_row_gives_beta_exactly(xp):
    x = xp_asarray(xp, np.full((2, 5), 7.5), "float32")
    beta = xp_asarray(xp, np.arange(5.0), "float32")
    y = to_numpy(refpe.layer_norm(x, None, beta))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(5.0), (2, 5)))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.integers(2, 16),
    st.integers(0, 2**32 - 1),
    st.floats(-1e3, 1e3),
    st.floats(1e-2, 1e2),
)
def test_invariants(rows, d, seed, shift, stretch):
    x = np.random.default_rng(seed).standard_normal((rows, d))
    y = refpe.layer_norm(x, eps=1e-12)
    var = np.var(x, axis=-1)
    # x - mean is rounded relative to |x|, then divided by the row's std: the mean of y is 0
    # up to a few eps * max|x| / std (a row of nearly equal values has a tiny std)
    bound = 4 * EPS["float64"] * np.abs(x).max(-1) / np.sqrt(var + 1e-12)
    assert np.all(np.abs(y.mean(-1)) <= bound)
    np.testing.assert_allclose(np.var(y, axis=-1), var / (var + 1e-12), rtol=1e-12)
    ys = refpe.layer_norm(x + shift, eps=1e-12)
    scale = SPEC.error.bound_scale({"x": x + shift, "eps": 1e-12}, ys, "float64")
    assert normalised_error(ys, y, "float64", scale) <= 4
    yk = refpe.layer_norm(x * stretch, eps=1e-12 * stretch**2)
    scale = SPEC.error.bound_scale({"x": x, "eps": 1e-12}, y, "float64")
    assert normalised_error(yk, y, "float64", scale) <= 4


def test_residual_blocks(xp):
    x = xp_asarray(xp, np.random.default_rng(1).standard_normal((2, 3, 4)), "float32")
    g = xp_asarray(xp, [1.0, 2.0, 0.5, -1.0], "float32")
    b = xp_asarray(xp, [0.0, 0.1, 0.2, 0.3], "float32")

    def f(h):
        return 2.0 * h - 1.0

    post = refpe.post_ln(x, f, g, b, eps=1e-6)
    pre = refpe.pre_ln(x, f, g, b, eps=1e-6)
    xn = to_numpy(x).astype(np.float64)
    gn, bn = to_numpy(g).astype(np.float64), to_numpy(b).astype(np.float64)
    exact_post = refpe.layer_norm(xn + (2 * xn - 1), gn, bn, eps=1e-6)
    exact_pre = xn + 2 * to_numpy(refpe.layer_norm(x, g, b, eps=1e-6)).astype(np.float64) - 1
    assert post.dtype == pre.dtype == xp.float32
    scale = SPEC.error.bound_scale(
        {"x": 3 * xn - 1, "gamma": gn, "beta": bn}, exact_post, "float32"
    )
    assert normalised_error(post, exact_post, "float32", scale) <= 2
    assert normalised_error(pre, exact_pre, "float32", 1 + np.abs(xn) + np.abs(exact_pre)) <= 2


def test_bad_input():
    x = np.zeros((2, 4))
    for eps in (0.0, -1e-5):
        with pytest.raises(ValueError, match=f"eps must be > 0, got {eps}"):
            refpe.layer_norm(x, eps=eps)
    with pytest.raises(
        ValueError, match=r"gamma must have shape \(4,\) for x of width 4, got \(3,\)"
    ):
        refpe.layer_norm(x, np.ones(3))
    with pytest.raises(
        ValueError, match=r"beta must have shape \(4,\) for x of width 4, got \(2, 4\)"
    ):
        refpe.layer_norm(x, None, np.ones((2, 4)))
    with pytest.raises(TypeError, match="x must be a float array, got dtype int64"):
        refpe.layer_norm(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="x must be finite"):
        refpe.layer_norm(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"f\(x\) must have the shape of x \(2, 4\).*got \(2, 3\)"):
        refpe.post_ln(x, lambda h: h[..., :3])
    with pytest.raises(ValueError, match=r"f\(x\) must have the shape of x \(2, 4\).*got \(4,\)"):
        refpe.pre_ln(x, lambda h: h[0])
