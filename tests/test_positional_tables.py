"""pe-learned, pe-sinusoidal-learnable, pe-projected-sinusoid, pe-linear, pe-dual-linear."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import has_float64, no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

from refpe import (
    init_normal,
    pe_dual_linear,
    pe_learned,
    pe_linear,
    pe_projected_sinusoid,
    pe_sinusoidal,
    pe_sinusoidal_learnable,
)

RNG = np.random.default_rng(11)
P = RNG.standard_normal((12, 5))


def _wide(xp):
    return "float64" if has_float64(xp) else "float32"


# --- pe-learned ---------------------------------------------------------------------------


def test_learned_is_a_bit_exact_lookup(xp):
    table = xp_asarray(xp, P, "float32")
    pos = xp.asarray(np.array([[0, 11], [3, 3]]))
    with no_change(table, pos):
        out = pe_learned(pos, table)
    np.testing.assert_array_equal(to_numpy(out), P.astype(np.float32)[[[0, 11], [3, 3]]])
    np.testing.assert_array_equal(to_numpy(pe_learned(4, table)), P.astype(np.float32)[:4])


def test_learned_errors(xp):
    table = xp_asarray(xp, P, "float32")
    with pytest.raises(
        IndexError, match=r"positions out of range of a learned table of 12 rows: value 12"
    ):
        pe_learned(xp.asarray(np.array([1, 12])), table)
    with pytest.raises(IndexError, match=r"positions out of range.*value 12 at flat index 12"):
        pe_learned(14, table)
    with pytest.raises(IndexError, match="value -1"):
        pe_learned(xp.asarray(np.array([-1])), table)
    with pytest.raises(TypeError, match="positions must be an integer array, got dtype float32"):
        pe_learned(xp_asarray(xp, [1.0], "float32"), table)


def test_learned_mixed_namespaces():
    torch = pytest.importorskip("torch")
    with pytest.raises(
        TypeError, match=r"mixed array libraries: positions is numpy.*table is torch"
    ):
        pe_learned(np.array([0]), torch.asarray(P))


# --- pe-sinusoidal-learnable --------------------------------------------------------------


def test_learnable_without_noise_is_the_sinusoid(xp):
    out = pe_sinusoidal_learnable(9, 7, xp=xp)
    assert tuple(out.shape) == (9, 7)
    np.testing.assert_array_equal(
        to_numpy(out), to_numpy(pe_sinusoidal(9, 7, xp=xp, kernel="reference"))
    )


def test_learnable_noise_is_seeded_and_scaled(xp):
    wide = _wide(xp)
    a = pe_sinusoidal_learnable(40, 8, noise_std=0.1, seed=5, xp=xp, dtype=wide)
    b = pe_sinusoidal_learnable(40, 8, noise_std=0.1, seed=5, xp=xp, dtype=wide)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    noise = to_numpy(init_normal((40, 8), seed=5, std=1.0, xp=xp, dtype=wide))
    expected = to_numpy(pe_sinusoidal(40, 8, xp=xp, dtype=wide, kernel="reference")) + 0.1 * noise
    np.testing.assert_array_equal(to_numpy(a), expected)


def test_learnable_errors():
    with pytest.raises(TypeError, match="seed is required"):
        pe_sinusoidal_learnable(4, 4, noise_std=1.0)
    with pytest.raises(ValueError, match="noise_std must be finite and >= 0, got -1"):
        pe_sinusoidal_learnable(4, 4, noise_std=-1.0, seed=0)
    with pytest.raises(ValueError, match="max_len must be positive, got 0"):
        pe_sinusoidal_learnable(0, 4)


# --- pe-projected-sinusoid ----------------------------------------------------------------


def test_projected_k1_is_the_seed_formula():
    """Seed 001 §4.1: E_pos(p) = sin(α p) W1 + cos(α p) W2, in float64 within a few ulps of
    the seed's form (refpe reduces the phase α p exactly; NumPy rounds the angle first), the
    same for a scalar, 0-d and (1,) alpha."""
    alpha, w1, w2 = 0.37, RNG.standard_normal(6), RNG.standard_normal(6)
    p = np.arange(20)
    seed_form = np.sin(alpha * p)[:, None] * w1 + np.cos(alpha * p)[:, None] * w2
    first = pe_projected_sinusoid(20, alpha, w1, w2)
    np.testing.assert_allclose(first, seed_form, rtol=0, atol=8 * 2.0**-52 * 4)
    for a in (np.array(alpha), np.array([alpha])):
        ws = (w1, w2) if np.ndim(a) < 1 else (w1[None], w2[None])
        np.testing.assert_array_equal(pe_projected_sinusoid(20, a, *ws), first)


def _projected_exact(p, alpha, w1, w2):
    out = np.zeros((*p.shape, w1.shape[-1]))
    with mpmath.workdps(40):
        for idx in np.ndindex(p.shape):
            for j in range(w1.shape[-1]):
                acc = mpmath.mpf(0)
                for k, a in enumerate(alpha):
                    angle = int(p[idx]) * mpmath.mpf(float(a))
                    acc += mpmath.sin(angle) * float(w1[k, j]) + mpmath.cos(angle) * float(w2[k, j])
                out[(*idx, j)] = float(acc)
    return out


def test_projected_general_k_against_mpmath(xp):
    alpha = np.array([1.0, 0.1, 1e-3])
    w1, w2 = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    p = np.array([[0, 5, 10**4], [7, 2**20, 3]])
    dt = _wide(xp)
    a32, w132, w232 = (x.astype(dt).astype(np.float64) for x in (alpha, w1, w2))
    exact = _projected_exact(p, a32, w132, w232)
    out = pe_projected_sinusoid(
        xp.asarray(p), xp_asarray(xp, a32, dt), xp_asarray(xp, w132, dt), xp_asarray(xp, w232, dt)
    )
    assert tuple(out.shape) == (2, 3, 4)
    scale = (1.0 + 3 + np.abs(p[..., None] * a32)) @ (np.abs(w132) + np.abs(w232))
    bound = 2 if dt == "float64" else 1  # float32 inputs: formed in float64, rounded once
    assert normalised_error(out, exact, dt, scale) <= bound


def test_projected_errors():
    with pytest.raises(ValueError, match=r"w1 shape \(4,\) and w2 shape \(5,\) differ"):
        pe_projected_sinusoid(3, 0.1, np.ones(4), np.ones(5))
    with pytest.raises(ValueError, match="alpha has 2 frequencies but w1 has 3 rows"):
        pe_projected_sinusoid(3, np.array([0.1, 0.2]), np.ones((3, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"w1 must be \(d,\) or \(K, d\), got shape \(1, 2, 3\)"):
        pe_projected_sinusoid(3, 0.1, np.ones((1, 2, 3)), np.ones((1, 2, 3)))


# --- pe-linear -----------------------------------------------------------------------------


def _check_linear(out, exact, scale, wide):
    if wide:  # formed in float64, rounded once
        np.testing.assert_array_equal(out, exact.astype(np.float32))
    else:  # float32 arithmetic: the product and the sum each rounded
        assert normalised_error(out, exact, "float32", scale) <= 1


def test_linear_shared_and_per_position(xp):
    w, b = (RNG.standard_normal(4).astype(np.float32).astype(np.float64) for _ in range(2))
    out = to_numpy(pe_linear(6, xp_asarray(xp, w, "float32"), xp_asarray(xp, b, "float32")))
    pw = np.arange(6)[:, None] * w
    _check_linear(out, pw + b, np.abs(pw) + np.abs(b), has_float64(xp))
    W, B = (RNG.standard_normal((5, 3)).astype(np.float32).astype(np.float64) for _ in range(2))
    pos = np.array([[0, 4], [2, 2]])
    out = to_numpy(
        pe_linear(xp.asarray(pos), xp_asarray(xp, W, "float32"), xp_asarray(xp, B, "float32"))
    )
    pw = pos[..., None] * W[pos]
    _check_linear(out, pw + B[pos], np.abs(pw) + np.abs(B[pos]), has_float64(xp))


@settings(max_examples=30, deadline=None)
@given(p=st.integers(0, 2**20))
def test_linear_steps_by_w(p):
    w, b = np.array([0.5, -2.0, 3.0]), np.array([1.0, 0.0, -1.0])
    rows = pe_linear(np.array([p, p + 1]), w, b)
    np.testing.assert_array_equal(rows[1] - rows[0], w)


def test_linear_errors():
    with pytest.raises(ValueError, match=r"w shape \(4,\) and b shape \(3,\) differ"):
        pe_linear(3, np.ones(4), np.ones(3))
    with pytest.raises(
        IndexError, match="positions out of range of per-position tables of 4 rows: value 4"
    ):
        pe_linear(np.array([4]), np.ones((4, 2)), np.ones((4, 2)))


# --- pe-dual-linear ------------------------------------------------------------------------


def test_dual_linear_is_the_elementwise_product(xp):
    a, b = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))
    x, y = xp_asarray(xp, a, "float32"), xp_asarray(xp, b, "float32")
    with no_change(x, y):
        out = pe_dual_linear(x, y)
    exact = a.astype(np.float32).astype(np.float64) * b.astype(np.float32)
    np.testing.assert_array_equal(to_numpy(out), exact.astype(np.float32))
    learned = pe_learned(4, xp_asarray(xp, P[:, :3], "float32"))
    linear = pe_linear(
        4, xp_asarray(xp, [1.0, 2.0, 3.0], "float32"), xp_asarray(xp, [0.0] * 3, "float32")
    )
    assert tuple(pe_dual_linear(learned, linear).shape) == (4, 3)


def test_dual_linear_errors():
    with pytest.raises(ValueError, match=r"pe1 shape \(5, 4\) and pe2 shape \(4, 4\) differ"):
        pe_dual_linear(np.ones((5, 4)), np.ones((4, 4)))
    with pytest.raises(TypeError, match="pe1 dtype float32 and pe2 dtype float64 differ"):
        pe_dual_linear(np.ones(3, dtype=np.float32), np.ones(3))
