"""attn-seed-simplified, attn-sdpa and multi_head_attention: mpmath, error model, invariants,
bad input."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import has_float64, no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe

mpmath.mp.dps = 40
RNG = np.random.default_rng(2024)


def rand(*shape, scale=1.0):
    return RNG.standard_normal(shape) * scale


def model_error(spec_id, kwargs, y, dtype):
    """Normalised error of ``y`` against the float64 reference on the same (rounded) inputs."""
    s = refpe.spec(spec_id)
    exact = s.function(**kwargs)
    return normalised_error(y, exact, dtype, s.error.bound_scale(kwargs, exact, dtype))


# --- mpmath ground truth ------------------------------------------------------------------


def mp_softmax(z):
    e = [mpmath.exp(mpmath.mpf(zi)) for zi in z]
    total = mpmath.fsum(e)
    return [ei / total for ei in e]


def mp_sdpa(q, k, v, hidden=None, bias=None, scale=None):
    """One head, (T, d) lists, in 40 digits."""
    d = q.shape[-1]
    scale = mpmath.mpf(1) / mpmath.sqrt(d) if scale is None else mpmath.mpf(scale)
    out = np.zeros((q.shape[0], v.shape[-1]))
    for i in range(q.shape[0]):
        seen = [j for j in range(k.shape[0]) if hidden is None or not hidden[i, j]]
        if not seen:
            continue
        z = [
            mpmath.fdot([mpmath.mpf(x) for x in q[i]], [mpmath.mpf(x) for x in k[j]]) * scale
            + (0 if bias is None else mpmath.mpf(bias[i, j]))
            for j in seen
        ]
        p = mp_softmax(z)
        for c in range(v.shape[-1]):
            out[i, c] = float(
                mpmath.fsum(pj * mpmath.mpf(v[j, c]) for pj, j in zip(p, seen, strict=False))
            )
    return out


def mp_seed(E, W, b, c, exclude_self):
    n, d = E.shape
    w = [
        mp_softmax([mpmath.fdot(W[r], E[i]) + mpmath.mpf(b[r]) for r in range(d)]) for i in range(n)
    ]
    out = np.zeros((n, d))
    for k in range(d):
        a = mpmath.fsum(w[j][k] * mpmath.mpf(E[j, k]) for j in range(n))
        v = mpmath.fsum(mpmath.mpf(E[j, k]) for j in range(n))
        for i in range(n):
            vi = v - mpmath.mpf(E[i, k]) if exclude_self else v
            out[i, k] = float(c[0] * w[i][k] + c[1] * a + c[2] * vi)
    return out


@pytest.mark.parametrize("case", refpe.spec("attn-sdpa").cases, ids=lambda c: c.name)
def test_sdpa_float64_against_mpmath(case):
    if case.raises is not None:
        with pytest.raises(case.raises):
            refpe.attn_sdpa(**case.kwargs)
        return
    kw = case.kwargs
    y = refpe.attn_sdpa(**kw)
    q, k, v = (np.broadcast_to(kw[n], (*kw["q"].shape[:-2], *kw[n].shape[-2:])) for n in "qkv")
    t_q, t_k = q.shape[-2], k.shape[-2]
    hidden = np.zeros((*q.shape[:-1], t_k), dtype=bool)
    if kw.get("causal"):
        hidden |= np.arange(t_k)[None, :] > np.arange(t_q)[:, None]
    if kw.get("key_padding_mask") is not None:
        pad = kw["key_padding_mask"]
        hidden |= pad.reshape(*pad.shape[:-1], 1, 1, t_k)
    bias = None if kw.get("bias") is None else np.broadcast_to(kw["bias"], hidden.shape)
    exact = np.zeros(y.shape)
    for idx in np.ndindex(q.shape[:-2]):
        exact[idx] = mp_sdpa(
            q[idx],
            k[idx],
            v[idx],
            hidden[idx],
            None if bias is None else bias[idx],
            kw.get("scale"),
        )
    scale = refpe.spec("attn-sdpa").error.bound_scale(kw, y, "float64")
    assert normalised_error(y, exact, "float64", scale) <= 1.0


@pytest.mark.parametrize("case", refpe.spec("attn-seed-simplified").cases, ids=lambda c: c.name)
def test_seed_float64_against_mpmath(case):
    kw = case.kwargs
    y = refpe.attn_seed_simplified(**kw)
    E = kw["E"].reshape(-1, *kw["E"].shape[-2:])
    c = kw.get("c", (1.0, 1.0, 1.0))
    exact = np.stack([mp_seed(e, kw["W"], kw["b"], c, kw.get("exclude_self", False)) for e in E])
    scale = refpe.spec("attn-seed-simplified").error.bound_scale(kw, y, "float64")
    assert normalised_error(y, exact.reshape(y.shape), "float64", scale) <= 1.0


def test_seed_worked_example_differs_from_sdpa():
    E = np.eye(2)
    h = refpe.attn_seed_simplified(E, np.zeros((2, 2)), np.zeros(2))
    np.testing.assert_array_equal(h, [[2.0, 2.0], [2.0, 2.0]])
    o = refpe.attn_sdpa(E[None], E[None], E[None])[0]
    p = np.exp(1 / np.sqrt(2)) / (np.exp(1 / np.sqrt(2)) + 1)
    np.testing.assert_allclose(o, [[p, 1 - p], [1 - p, p]], rtol=0, atol=4e-16)


# --- every library, float32 within the error model ----------------------------------------


@pytest.mark.parametrize("case", refpe.spec("attn-sdpa").cases, ids=lambda c: c.name)
def test_sdpa_float32_on_every_library(xp, case):
    if case.raises is not None:
        return
    kw32 = {
        k: v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in case.kwargs.items()
    }
    args = {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw32.items()}
    with no_change(args["q"], args["k"], args["v"]):
        y = refpe.attn_sdpa(**args)
    assert y.dtype == xp.float32
    host = {
        k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in kw32.items()
    }
    assert (
        model_error("attn-sdpa", host, y, "float32") <= refpe.spec("attn-sdpa").error.K["float32"]
    )


@pytest.mark.parametrize("case", refpe.spec("attn-seed-simplified").cases, ids=lambda c: c.name)
def test_seed_float32_on_every_library(xp, case):
    kw = case.kwargs
    args = {
        k: xp_asarray(xp, v, "float32") if isinstance(v, np.ndarray) else v for k, v in kw.items()
    }
    y = refpe.attn_seed_simplified(**args)
    assert y.dtype == xp.float32
    host = {k: to_numpy(v).astype(np.float64) if k in "EWb" else v for k, v in args.items()}
    err = model_error("attn-seed-simplified", host, y, "float32")
    assert err <= refpe.spec("attn-seed-simplified").error.K["float32"]


def test_float64_in_float64_out(xp, request):
    if not has_float64(xp):
        request.getfixturevalue("jax_x64")
    q = xp_asarray(xp, rand(1, 2, 3, 4), "float64")
    y = refpe.attn_sdpa(q, q, q)
    assert y.dtype == xp.float64
    host = {"q": to_numpy(q), "k": to_numpy(q), "v": to_numpy(q)}
    assert (
        model_error("attn-sdpa", host, y, "float64") <= refpe.spec("attn-sdpa").error.K["float64"]
    )


def test_row_that_sees_no_key_is_zero_not_nan(xp):
    q = xp_asarray(xp, rand(2, 1, 3, 4), "float32")
    pad = xp.asarray(np.array([[False, False, True], [True, True, True]]))
    y = to_numpy(refpe.attn_sdpa(q, q, q, key_padding_mask=pad))
    assert np.all(np.isfinite(y))
    np.testing.assert_array_equal(y[1], 0.0)
    assert np.all(np.abs(y[0]) > 0)
    bias = xp.asarray(np.where(np.eye(3, dtype=bool), -np.inf, 0.0).astype(np.float32))
    y = to_numpy(refpe.attn_sdpa(q[:, :, :1, :], q[:, :, :1, :], q[:, :, :1, :], bias=bias[:1, :1]))
    np.testing.assert_array_equal(y, 0.0)


def test_key_padding_mask_true_means_padded():
    q, k, v = rand(1, 1, 2, 4), rand(1, 1, 3, 4), rand(1, 1, 3, 5)
    pad = np.array([[False, True, False]])
    y = refpe.attn_sdpa(q, k, v, key_padding_mask=pad)
    keep = [0, 2]
    np.testing.assert_allclose(
        y, refpe.attn_sdpa(q, k[:, :, keep], v[:, :, keep]), rtol=0, atol=1e-15
    )


def test_causal_is_top_left_aligned():
    q, k, v = rand(1, 1, 3, 4), rand(1, 1, 5, 4), np.eye(5)[None, None]
    p = refpe.attn_sdpa(q, k, v, causal=True)[0, 0]
    assert np.all(p[np.triu_indices(3, 1, 5)] == 0)
    assert np.all(p[np.tril_indices(3, 0, 5)] > 0)


# --- invariants ---------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.integers(1, 6))


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**32 - 1), st.booleans())
def test_weights_are_probabilities(shape, seed, causal):
    b, h, t, _d = shape
    g = np.random.default_rng(seed)
    q, k = g.standard_normal(shape), g.standard_normal(shape)
    p = refpe.attn_sdpa(q, k, np.broadcast_to(np.eye(t), (b, h, t, t)), causal=causal)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=0, atol=1e-14)
    if causal:
        assert np.all(np.triu(p, 1) == 0)


@settings(max_examples=30, deadline=None)
@given(shapes, st.integers(0, 2**32 - 1), st.floats(-50, 50))
def test_row_shift_changes_nothing(shape, seed, shift):
    g = np.random.default_rng(seed)
    q, k, v = (g.standard_normal(shape) for _ in range(3))
    bias = g.standard_normal(shape[-2:][:1] * 2)
    y0 = refpe.attn_sdpa(q, k, v, bias=bias)
    y1 = refpe.attn_sdpa(q, k, v, bias=bias + shift)
    scale = refpe.spec("attn-sdpa").error.bound_scale(
        {"q": q, "k": k, "v": v, "bias": bias}, y0, "float64"
    )
    assert normalised_error(y1, y0, "float64", scale * (1 + abs(shift))) <= 8


@settings(max_examples=20, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_causal_output_ignores_the_future(t, seed):
    g = np.random.default_rng(seed)
    q, k, v = (g.standard_normal((1, 2, t, 3)) for _ in range(3))
    k2, v2 = k.copy(), v.copy()
    k2[..., -1, :] += 5.0
    v2[..., -1, :] -= 3.0
    y, y2 = refpe.attn_sdpa(q, k, v, causal=True), refpe.attn_sdpa(q, k2, v2, causal=True)
    np.testing.assert_array_equal(y[..., :-1, :], y2[..., :-1, :])


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_seed_invariants(n_batch, n, seed):
    g = np.random.default_rng(seed)
    E, W, b = g.standard_normal((n_batch, n, 4)), g.standard_normal((4, 4)), g.standard_normal(4)
    w = refpe.attn_seed_simplified(E, W, b, c=(1.0, 0.0, 0.0))
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=0, atol=1e-15)
    h = refpe.attn_seed_simplified(E, W, b, c=(0.5, 2.0, -1.0))
    a_and_v = h - 0.5 * w
    np.testing.assert_allclose(a_and_v, np.broadcast_to(a_and_v[:, :1], a_and_v.shape), atol=1e-13)
    hx = refpe.attn_seed_simplified(E, W, b, c=(0.5, 2.0, -1.0), exclude_self=True)
    np.testing.assert_allclose(hx, h + E, rtol=0, atol=1e-13)


# --- multi-head attention -----------------------------------------------------------------


def split(t, heads):
    *lead, T, width = t.shape
    return np.swapaxes(t.reshape(*lead, T, heads, width // heads), -3, -2)


def test_mha_with_identity_projections_is_sdpa_on_the_split_heads(xp):
    x = rand(2, 5, 6)
    eye = np.eye(6)
    xs = split(x, 3)
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    args = [xp_asarray(xp, a, "float32") for a in (x, eye, eye, eye, eye)]
    y = refpe.multi_head_attention(
        *args, num_heads=3, causal=True, key_padding_mask=xp.asarray(pad)
    )
    o = refpe.attn_sdpa(xs, xs, xs, causal=True, key_padding_mask=pad)
    merged = np.swapaxes(o, -3, -2).reshape(2, 5, 6)
    host = {"q": xs.astype(np.float32).astype(np.float64)}
    host.update(k=host["q"], v=host["q"], causal=True, key_padding_mask=pad)
    exact = refpe.attn_sdpa(**host)
    scale = refpe.spec("attn-sdpa").error.bound_scale(host, exact, "float32")
    merged_scale = np.swapaxes(scale, -3, -2).reshape(2, 5, 6)
    assert (
        normalised_error(y, np.swapaxes(exact, -3, -2).reshape(2, 5, 6), "float32", merged_scale)
        <= 8
    )
    np.testing.assert_allclose(to_numpy(y), merged, rtol=0, atol=1e-5)


def test_mha_heads_are_contiguous_column_blocks():
    x, wq, wk, wv, wo = rand(4, 8), rand(8, 8), rand(8, 8), rand(8, 6), rand(6, 5)
    y = refpe.multi_head_attention(x, wq, wk, wv, wo, num_heads=2)
    q, k, v = x @ wq, x @ wk, x @ wv
    heads = []
    for h in range(2):
        s = q[:, 4 * h : 4 * h + 4] @ k[:, 4 * h : 4 * h + 4].T / 2.0
        p = np.exp(s - s.max(-1, keepdims=True))
        heads.append((p / p.sum(-1, keepdims=True)) @ v[:, 3 * h : 3 * h + 3])
    np.testing.assert_allclose(y, np.concatenate(heads, -1) @ wo, rtol=1e-12, atol=1e-12)


def test_mha_bias_per_head():
    x, w = rand(1, 3, 4), np.eye(4)
    bias = np.stack([np.zeros((3, 3)), np.where(np.eye(3) > 0, 0.0, -np.inf)])
    y = refpe.multi_head_attention(x, w, w, w, w, num_heads=2, bias=bias)
    np.testing.assert_allclose(y[..., 2:], x[..., 2:], rtol=0, atol=1e-15)


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_names_argument_and_value():
    q = rand(2, 1, 3, 4)
    with pytest.raises(
        ValueError, match=r"key_padding_mask of shape \(3, 3\) does not broadcast to \(2, 3\)"
    ):
        refpe.attn_sdpa(q, q, q, key_padding_mask=np.zeros((3, 3), dtype=bool))
    with pytest.raises(TypeError, match=r"key_padding_mask must be boolean.*int64"):
        refpe.attn_sdpa(q, q, q, key_padding_mask=np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(
        ValueError, match=r"bias of shape \(4, 4\) does not broadcast to \(2, 1, 3, 3\)"
    ):
        refpe.attn_sdpa(q, q, q, bias=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="bias must be finite or -inf"):
        refpe.attn_sdpa(q, q, q, bias=np.full((3, 3), np.nan))
    with pytest.raises(
        ValueError, match=r"q must have shape \(\.\.\., heads, T, d_k\), got shape \(3, 4\)"
    ):
        refpe.attn_sdpa(q[0, 0], q[0, 0], q[0, 0])
    with pytest.raises(ValueError, match=r"k must have shape \(\.\.\., heads, T_k, 4\)"):
        refpe.attn_sdpa(q, rand(2, 1, 3, 5), q)
    with pytest.raises(ValueError, match="v must have shape"):
        refpe.attn_sdpa(q, q, rand(2, 1, 4, 4))
    with pytest.raises(TypeError, match="q must be a float array, got dtype int64"):
        refpe.attn_sdpa(np.zeros((1, 2, 2), dtype=np.int64), q, q)
    with pytest.raises(ValueError, match="q must be finite"):
        refpe.attn_sdpa(np.full((1, 2, 4), np.inf), np.zeros((1, 2, 4)), np.zeros((1, 2, 4)))


def test_mha_bad_input():
    x, w = rand(2, 3, 6), np.eye(6)
    with pytest.raises(ValueError, match="num_heads=4 does not divide the width 6 of w_q"):
        refpe.multi_head_attention(x, w, w, w, w, num_heads=4)
    with pytest.raises(ValueError, match="num_heads must be positive, got 0"):
        refpe.multi_head_attention(x, w, w, w, w, num_heads=0)
    with pytest.raises(ValueError, match=r"w_k must have shape \(6, width\), got \(5, 6\)"):
        refpe.multi_head_attention(x, w, np.eye(5, 6), w, w, num_heads=2)
    with pytest.raises(ValueError, match=r"w_o must have shape \(6, d_out\), got \(4, 6\)"):
        refpe.multi_head_attention(x, w, w, w, np.zeros((4, 6)), num_heads=2)
    with pytest.raises(ValueError, match=r"key_padding_mask of shape \(3, 3\) does not broadcast"):
        refpe.multi_head_attention(
            x, w, w, w, w, num_heads=2, key_padding_mask=np.zeros((3, 3), bool)
        )


def test_seed_bad_input():
    E = rand(3, 4)
    with pytest.raises(
        ValueError, match=r"W must have shape \(4, 4\) for E of width 4, got \(3, 4\)"
    ):
        refpe.attn_seed_simplified(E, rand(3, 4), rand(4))
    with pytest.raises(ValueError, match=r"b must have shape \(4,\) for E of width 4, got \(3,\)"):
        refpe.attn_seed_simplified(E, rand(4, 4), rand(3))
    with pytest.raises(
        ValueError, match=r"c must be three numbers \(c1, c2, c3\), got \(1.0, 2.0\)"
    ):
        refpe.attn_seed_simplified(E, rand(4, 4), rand(4), c=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"E must have shape \(\.\.\., n, d\), got shape \(4,\)"):
        refpe.attn_seed_simplified(rand(4), rand(4, 4), rand(4))
