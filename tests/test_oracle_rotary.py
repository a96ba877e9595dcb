"""The RoPE oracles by hand: rotations of known angles and every rescaling's frequencies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle_positions import oracle_exact

import refpe
from refpe.conformance.oracle import ORACLES, rotary
from refpe.registry import EPS


def _rope(**inputs: object) -> np.ndarray:
    return oracle_exact("rope", inputs).hi[0]


def _inv(**inputs: object) -> tuple[np.ndarray, float]:
    got = oracle_exact("rope-scaling", inputs).hi
    return got[0], float(got[1])


def test_rotation_by_hand() -> None:
    # head_dim 2: (1, 0) rotated by p θ_0 = p
    np.testing.assert_allclose(
        _rope(x=np.array([[1.0, 0.0]]), positions=np.array([1])), [[math.cos(1), math.sin(1)]]
    )
    # head_dim 4, base 16: θ = (1, 1/4); p = 2: angles 2 and 1/2
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    c2, s2, ch, sh = math.cos(2), math.sin(2), math.cos(0.5), math.sin(0.5)
    half = [1 * c2 - 3 * s2, 2 * ch - 4 * sh, 3 * c2 + 1 * s2, 4 * ch + 2 * sh]
    np.testing.assert_allclose(_rope(x=x, positions=np.array([2]), base=16.0), [half], rtol=1e-15)
    inter = [1 * c2 - 2 * s2, 2 * c2 + 1 * s2, 3 * ch - 4 * sh, 4 * ch + 3 * sh]
    got = _rope(x=x, positions=np.array([2]), base=16.0, layout="interleaved")
    np.testing.assert_allclose(got, [inter], rtol=1e-15)
    # rotary_dim 2 of 4: the last two dims untouched
    got = _rope(x=x, positions=np.array([2]), base=16.0, rotary_dim=2)
    np.testing.assert_allclose(got, [[1 * c2 - 2 * s2, 2 * c2 + 1 * s2, 3, 4]], rtol=1e-15)


def test_frequencies_by_hand() -> None:
    np.testing.assert_allclose(_inv(rotary_dim=4)[0], [1, 0.01], rtol=1e-16)
    linear = {"rope_type": "linear", "factor": 4.0}
    np.testing.assert_allclose(_inv(rotary_dim=4, scaling=linear)[0], [0.25, 0.0025], rtol=1e-16)
    # ntk, r 4: base 10^4 * 4^(4/2) = 160000, θ_1 = 1/400
    ntk = {"rope_type": "ntk", "factor": 4.0}
    np.testing.assert_allclose(_inv(rotary_dim=4, scaling=ntk)[0], [1, 1 / 400], rtol=1e-16)
    # dynamic, r 4, L0 100, L 300, s 2: base 10^4 (2*3 - 1)^2, θ_1 = 1/500; at L <= L0: default
    dyn = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 100}
    np.testing.assert_allclose(_inv(rotary_dim=4, scaling=dyn, seq_len=300)[0], [1, 1 / 500])
    np.testing.assert_allclose(_inv(rotary_dim=4, scaling=dyn, seq_len=50)[0], [1, 0.01])
    # llama3, r 4: wavelengths 2π (kept) and 200π, between L0/h = 250 and L0/l = 1000: smoothed
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0}
    llama3 |= {"high_freq_factor": 4.0, "original_max_position_embeddings": 1000}
    mu = (1000 / (200 * math.pi) - 1) / 3
    np.testing.assert_allclose(
        _inv(rotary_dim=4, scaling=llama3)[0], [1, (1 - mu) * 0.01 / 8 + mu * 0.01], rtol=1e-15
    )
    # longrope: θ_i / e_i; a = sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12) exactly
    lr = {"rope_type": "longrope", "original_max_position_embeddings": 4096, "factor": 32.0}
    lr |= {"short_factor": [1.0, 2.0], "long_factor": [4.0, 8.0]}
    theta, a = _inv(rotary_dim=4, scaling=lr)
    np.testing.assert_allclose(theta, [1, 0.005], rtol=1e-16)
    assert a == pytest.approx(math.sqrt(17 / 12), rel=1e-16)
    np.testing.assert_allclose(_inv(rotary_dim=4, scaling=lr, seq_len=4097)[0], [0.25, 0.01 / 8])


def test_yarn_by_hand() -> None:
    """r 128, L0 4096, s 16, base 10^4: d(β) = 64 ln(4096 / 2πβ) / ln 10^4; floor d(32) = 20,
    ceil d(1) = 46; θ_i for i <= 20, θ_i / s for i >= 46, a linear mix between;
    a = 0.1 ln 16 + 1."""
    yarn = {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096}
    assert math.floor(64 * math.log(4096 / (2 * math.pi * 32)) / math.log(1e4)) == 20
    assert math.ceil(64 * math.log(4096 / (2 * math.pi)) / math.log(1e4)) == 46
    theta, a = _inv(rotary_dim=128, scaling=yarn)
    plain = 1e4 ** (-np.arange(64) / 64)
    np.testing.assert_allclose(theta[:21], plain[:21], rtol=1e-15)
    np.testing.assert_allclose(theta[46:], plain[46:] / 16, rtol=1e-15)
    g = (33 - 20) / 26
    assert theta[33] == pytest.approx(g * plain[33] / 16 + (1 - g) * plain[33], rel=1e-15)
    assert a == pytest.approx(0.1 * math.log(16) + 1, rel=1e-16)
    both = yarn | {"mscale": 1.0, "mscale_all_dim": 0.5}
    ratio = (0.1 * math.log(16) + 1) / (0.05 * math.log(16) + 1)
    assert _inv(rotary_dim=128, scaling=both)[1] == pytest.approx(ratio, rel=1e-16)


def test_far_rope_sweep_is_fast_and_refpe_within_model() -> None:
    """25 log-spaced positions to 2^24 at head_dim 128: each (p, θ) once, refpe's float64
    result within its error model."""
    p = np.unique(np.round(np.logspace(0, 24, 25, base=2)).astype(np.int64))
    x = np.random.default_rng(0).standard_normal((p.size, 128))
    want = oracle_exact("rope", {"x": x, "positions": p})
    got = refpe.rope(x, p)
    spec = refpe.spec("rope")
    scale = spec.error.bound_scale({"x": x, "positions": p}, want.hi[0], "float64")
    assert (
        float(np.max(want.errors([got])[0] / (EPS["float64"] * scale))) <= spec.error.K["float64"]
    )


def test_planted_rope_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle given the wrong pairs (interleaved for half): refpe fails the comparison."""
    import oracle_positions

    planted = ("planted", lambda inputs: rotary.rope({**inputs, "layout": "interleaved"}))
    monkeypatch.setitem(ORACLES, "rope", planted)
    monkeypatch.setattr(oracle_positions, "_MEMO", {})
    error, K = oracle_positions.case_error("rope", "half", "float64")
    assert error > 1e6 * K
