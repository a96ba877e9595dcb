"""rope, rope_permute and the RoPE frequencies: mpmath ground truth, invariants, errors."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import has_float64, no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe._precision import rope_theta
from refpe.registry import EPS
from refpe.rotary import _host_inv_freq
from refpe.specs.rotary import _rope_scale

SPEC = refpe.spec("rope")
K = SPEC.error.K
CASES = {c.name: c for c in SPEC.cases if c.raises is None}


def _mp_rope(x, positions, *, base=10000.0, layout="half", rotary_dim=None, scaling=None):
    """The rotation in 40-digit arithmetic (theta exact for the default schedule)."""
    mpmath.mp.dps = 40
    x = np.asarray(x, dtype=np.float64)
    pos = np.broadcast_to(
        np.arange(positions) if isinstance(positions, int) else positions, x.shape[:-1]
    )
    r = rotary_dim or x.shape[-1]
    theta, af = _host_inv_freq(r, base, scaling, int(pos.max()) + 1)
    if not scaling:
        theta = [mpmath.power(base, -mpmath.mpf(2 * i) / r) for i in range(r // 2)]
    out = np.empty(x.shape, dtype=np.float64)
    out[..., r:] = x[..., r:]
    for idx in np.ndindex(x.shape[:-1]):
        for i in range(r // 2):
            phi = int(pos[idx]) * mpmath.mpf(theta[i])
            c, s = af * mpmath.cos(phi), af * mpmath.sin(phi)
            a, b = (i, i + r // 2) if layout == "half" else (2 * i, 2 * i + 1)
            xa, xb = mpmath.mpf(x[(*idx, a)]), mpmath.mpf(x[(*idx, b)])
            out[(*idx, a)] = float(xa * c - xb * s)
            out[(*idx, b)] = float(xb * c + xa * s)
    return out


def test_theta_within_one_ulp_of_mpmath():
    mpmath.mp.dps = 40
    worst = 0.0
    for r in (2, 6, 16, 64, 96, 128, 256):
        for base in (10.0, 10000.0, 500000.0, 1e6):
            for i, t in enumerate(float(t) for t in rope_theta(r, base)):
                exact = mpmath.power(base, -mpmath.mpf(2 * i) / r)
                worst = max(worst, float(abs((t - exact) / exact)) / EPS["float64"])
    assert worst <= 1.0


@pytest.mark.parametrize(
    "name", ["half", "interleaved", "partial rotary", "positions to 2^24", "head_dim 2"]
)
def test_float64_against_mpmath(name):
    kw = CASES[name].kwargs
    y = refpe.rope(**kw)
    exact = _mp_rope(**kw)
    scale = _rope_scale(kw, exact, "float64")
    assert normalised_error(y, exact, "float64", np.where(scale > 0, scale, 1)) <= K["float64"]
    r = kw.get("rotary_dim") or kw["x"].shape[-1]
    np.testing.assert_array_equal(y[..., r:], kw["x"][..., r:])


@pytest.mark.parametrize("name", list(CASES))
def test_float32_within_error_model(xp, name):
    kw = dict(CASES[name].kwargs)
    x32 = kw["x"].astype(np.float32)
    exact_in = kw | {"x": x32.astype(np.float64)}
    exact = refpe.rope(**exact_in)
    pos = kw["positions"]
    args = kw | {"x": xp_asarray(xp, x32, "float32")}
    args["positions"] = pos if isinstance(pos, int) else xp_asarray(xp, pos)
    with no_change(args["x"]):
        y = refpe.rope(**args)
    assert y.dtype == xp.float32
    scale = _rope_scale(exact_in, exact, "float32")
    r = kw.get("rotary_dim") or x32.shape[-1]
    assert normalised_error(y[..., :r], exact[..., :r], "float32", scale[..., :r]) <= K["float32"]
    np.testing.assert_array_equal(to_numpy(y)[..., r:], x32[..., r:])


def test_bfloat16_torch():
    torch = pytest.importorskip("torch")
    kw = CASES["half"].kwargs
    x = torch.from_numpy(kw["x"]).to(torch.bfloat16)
    y = refpe.rope(x, torch.from_numpy(kw["positions"]))
    assert y.dtype == torch.bfloat16
    exact_in = kw | {"x": x.double().numpy()}
    exact = refpe.rope(**exact_in)
    scale = _rope_scale(exact_in, exact, "bfloat16")
    assert normalised_error(y.double(), exact, "bfloat16", scale) <= K["bfloat16"]


def _close(a, b, bound):
    assert np.all(np.abs(np.asarray(a) - np.asarray(b)) <= bound)


@settings(max_examples=30, deadline=None)
@given(half=st.integers(1, 8), p=st.integers(-(2**16), 2**16), seed=st.integers(0, 2**16))
def test_norm_preserved(half, p, seed):
    x = np.random.default_rng(seed).standard_normal((1, 2 * half))
    y = refpe.rope(x, np.array([p]))
    scale = _rope_scale({"x": x, "positions": np.array([p])}, y, "float64")
    bound = K["float64"] * EPS["float64"] * np.linalg.norm(scale)
    _close(np.linalg.norm(y), np.linalg.norm(x), bound)


@settings(max_examples=30, deadline=None)
@given(
    half=st.integers(1, 8),
    m=st.integers(0, 4096),
    n=st.integers(0, 4096),
    shift=st.integers(0, 4096),
    layout=st.sampled_from(["half", "interleaved"]),
    seed=st.integers(0, 2**16),
)
def test_score_depends_only_on_distance(half, m, n, shift, layout, seed):
    g = np.random.default_rng(seed)
    q, k = g.standard_normal((1, 2 * half)), g.standard_normal((1, 2 * half))

    def score(a, b):
        qa = refpe.rope(q, np.array([a]), layout=layout)
        kb = refpe.rope(k, np.array([b]), layout=layout)
        return float(qa[0] @ kb[0])

    big = max(m, n) + shift + 1
    bound = 8 * K["float64"] * EPS["float64"] * (1 + big * 14) * np.abs(q).sum() * np.abs(k).sum()
    _close(score(m, n), score(m + shift, n + shift), bound)


@settings(max_examples=20, deadline=None)
@given(
    heads=st.integers(1, 3),
    kv=st.integers(1, 3),
    half=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_permuted_weights_give_the_same_scores(heads, kv, half, seed):
    g = np.random.default_rng(seed)
    d, model, t = 2 * half, 6, 5
    x = g.standard_normal((t, model))
    wq, wk = g.standard_normal((heads * d, model)), g.standard_normal((kv * d, model))

    def scores(wq, wk, layout):
        q = (x @ wq.T).reshape(t, heads, d).transpose(1, 0, 2)
        k = (x @ wk.T).reshape(t, kv, d).transpose(1, 0, 2)
        q, k = refpe.rope(q, t, layout=layout), refpe.rope(k, t, layout=layout)
        return np.einsum("hid,gjd->hgij", q, k)

    a = scores(wq, wk, "interleaved")
    hq = refpe.rope_permute(wq, num_heads=heads, head_dim=d, to="half")
    hk = refpe.rope_permute(wk, num_heads=heads, head_dim=d, to="half", num_kv_heads=kv)
    b = scores(hq, hk, "half")
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12 * np.abs(x).sum() ** 2 * d * 64)
    back = refpe.rope_permute(hk, num_heads=heads, head_dim=d, to="interleaved", num_kv_heads=kv)
    np.testing.assert_array_equal(back, wk)


def test_permute_matches_hugging_face_conversion(xp):
    heads, d, model = 2, 8, 3
    w = np.arange(heads * d * model, dtype=np.float64).reshape(heads * d, model)
    hf = w.reshape(heads, d // 2, 2, model).transpose(0, 2, 1, 3).reshape(heads * d, model)
    wx = xp_asarray(xp, w)
    with no_change(wx):
        got = refpe.rope_permute(wx, num_heads=heads, head_dim=d)
    np.testing.assert_array_equal(to_numpy(got), hf)
    bias = xp_asarray(xp, np.arange(heads * d, dtype=np.float64))
    back = refpe.rope_permute(
        refpe.rope_permute(bias, num_heads=2, head_dim=d), num_heads=2, head_dim=d, to="interleaved"
    )
    np.testing.assert_array_equal(to_numpy(back), np.arange(heads * d))


def test_per_row_offsets_equal_separate_calls():
    x = CASES["per-row offsets"].kwargs["x"]
    pos = CASES["per-row offsets"].kwargs["positions"]
    y = refpe.rope(x, pos, kernel="reference")  # the kernels build their own tables
    for b in range(x.shape[0]):
        np.testing.assert_array_equal(y[b], refpe.rope(x[b], pos[b, 0], kernel="reference"))
    np.testing.assert_array_equal(
        refpe.rope(x[0], 5, kernel="reference"), refpe.rope(x[0], np.arange(5), kernel="reference")
    )


def test_layouts_are_a_permutation_of_each_other():
    x = np.random.default_rng(1).standard_normal((4, 8))
    perm = np.concatenate([np.arange(0, 8, 2), np.arange(1, 8, 2)])
    a = refpe.rope(x, 4, layout="interleaved", kernel="reference")
    b = refpe.rope(x[:, perm], 4, layout="half", kernel="reference")
    np.testing.assert_array_equal(a[:, perm], b)


def test_position_zero_is_identity_and_float64_default(xp):
    x = xp_asarray(xp, np.random.default_rng(2).standard_normal((3, 6)), "float32")
    y = refpe.rope(x, xp_asarray(xp, np.zeros(3, dtype=np.int64)))
    np.testing.assert_array_equal(to_numpy(y), to_numpy(x))
    if has_float64(xp):
        f, af = refpe.rope_inv_freq(4, xp=xp, dtype="float64")
        np.testing.assert_array_equal(to_numpy(f), [1.0, 0.01])
        assert af == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"rotary_dim": 3}, ValueError, "rotary_dim must be even, got 3"),
        ({"rotary_dim": 10}, ValueError, "rotary_dim must be <= head_dim 8, got 10"),
        ({"rotary_dim": 0}, ValueError, "rotary_dim must be positive, got 0"),
        ({"layout": "neox"}, ValueError, "layout must be one of .*'neox'"),
        ({"base": 1.0}, ValueError, "base must be a finite number > 1, got 1.0"),
        ({"positions": np.arange(3)}, ValueError, r"positions of shape \(3,\) do not broadcast"),
        ({"positions": np.arange(4.0)}, TypeError, "positions must be an integer array"),
        ({"scaling": {"rope_type": "xpos"}}, ValueError, "rope_type.*'xpos'"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"x": np.zeros((4, 8)), "positions": 4} | kwargs
    with pytest.raises(error, match=match):
        refpe.rope(**args)


def test_odd_head_dim_is_named():
    with pytest.raises(ValueError, match="head_dim must be even, got 5"):
        refpe.rope(np.zeros((2, 5)), 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"w": np.zeros((12, 3)), "num_heads": 2, "head_dim": 8}, r"16 rows, got shape \(12, 3\)"),
        ({"w": np.zeros((6, 3)), "num_heads": 1, "head_dim": 6, "to": "x"}, "to must be one of"),
        ({"w": np.zeros((6, 3)), "num_heads": 1, "head_dim": 3}, "head_dim must be even, got 3"),
        ({"w": np.zeros((6, 3)), "num_heads": 0, "head_dim": 6}, "num_heads must be positive"),
        (
            {"w": np.zeros((6, 3)), "num_heads": 2, "head_dim": 6, "num_kv_heads": -1},
            "num_kv_heads must be positive, got -1",
        ),
    ],
)
def test_permute_bad_input(kwargs, match):
    w = kwargs.pop("w")
    with pytest.raises(ValueError, match=match):
        refpe.rope_permute(w, **kwargs)
