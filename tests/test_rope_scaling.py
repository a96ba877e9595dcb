"""rope_inv_freq under every rescaling: mpmath versions of the published formulas, the
invariants each rescaling promises, Hugging Face's conventions, and bad configs."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from helpers import normalised_error, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.rotary import _inv_freq
from refpe.specs.rotary import _inv_freq_scale

SPEC = refpe.spec("rope-scaling")
CASES = {c.name: c for c in SPEC.cases if c.raises is None}


def _mp_theta(r, base):
    mpmath.mp.dps = 40
    return [mpmath.power(mpmath.mpf(base), -mpmath.mpf(2 * i) / r) for i in range(r // 2)]


def _mp(rotary_dim, base=10000.0, scaling=None, seq_len=None):
    """The published formulas, written again in 40-digit arithmetic."""
    r, s = rotary_dim, dict(scaling or {})
    kind = s.get("rope_type", s.get("type", "default"))
    th = _mp_theta(r, base)
    f = mpmath.mpf(s.get("factor") or 1)
    if kind == "default":
        return th, 1
    if kind == "linear":
        return [t / f for t in th], 1
    if kind == "ntk":
        return _mp_theta(r, mpmath.mpf(base) * f ** (mpmath.mpf(r) / (r - 2))), 1
    if kind == "dynamic":
        n0 = s["max_position_embeddings"]
        n = max(seq_len or n0, n0)
        return _mp_theta(r, base * (f * n / n0 - (f - 1)) ** (mpmath.mpf(r) / (r - 2))), 1
    if kind == "yarn":
        n0 = s["original_max_position_embeddings"]

        def dim(rot):
            return r * mpmath.log(n0 / (rot * 2 * mpmath.pi)) / (2 * mpmath.log(base))

        lo, hi = dim(s.get("beta_fast", 32)), dim(s.get("beta_slow", 1))
        if s.get("truncate", True):
            lo, hi = mpmath.floor(lo), mpmath.ceil(hi)
        lo, hi = max(lo, 0), min(hi, r - 1)
        ramp = [min(max((i - lo) / (hi - lo), 0), 1) for i in range(r // 2)]

        def ms(m):
            return 0.1 * m * mpmath.log(f) + 1

        a = ms(s["mscale"]) / ms(s["mscale_all_dim"]) if "mscale" in s else ms(1)
        return [t / f * g + t * (1 - g) for t, g in zip(th, ramp, strict=True)], a
    if kind == "llama3":
        n0, lo, hi = (
            s["original_max_position_embeddings"],
            s["low_freq_factor"],
            s["high_freq_factor"],
        )
        out = []
        for t in th:
            wl = 2 * mpmath.pi / t
            if wl < n0 / hi:
                out.append(t)
            elif wl > n0 / lo:
                out.append(t / f)
            else:
                mu = (n0 / wl - lo) / (hi - lo)
                out.append((1 - mu) * t / f + mu * t)
        return out, 1
    n0 = s["original_max_position_embeddings"]
    ext = s["long_factor"] if seq_len and seq_len > n0 else s["short_factor"]
    a = mpmath.sqrt(1 + mpmath.log(f) / mpmath.log(n0))
    return [t / mpmath.mpf(e) for t, e in zip(th, ext, strict=True)], a


@pytest.mark.parametrize("name", list(CASES))
def test_float64_against_mpmath(name):
    kw = CASES[name].kwargs
    inv, af = refpe.rope_inv_freq(**kw, dtype="float64")
    theta, a = _mp(**kw)
    exact = np.array([float(t) for t in theta])
    scale = _inv_freq_scale(kw, exact, "float64")
    assert normalised_error(inv, exact, "float64", scale) <= SPEC.error.K["float64"]
    assert abs(af - float(a)) <= 4 * SPEC.error.K["float64"] * 2.0**-52 * float(a)


@pytest.mark.parametrize("name", list(CASES))
def test_namespace_and_dtype(xp, name):
    inv, af = refpe.rope_inv_freq(**CASES[name].kwargs, xp=xp, dtype="float32")
    assert inv.dtype == xp.float32
    exact, _ = refpe.rope_inv_freq(**CASES[name].kwargs, dtype="float64")
    assert normalised_error(inv, exact, "float32", np.abs(exact)) <= 0.5
    assert isinstance(af, float)


@pytest.mark.parametrize("kind", ["linear", "ntk", "yarn", "llama3"])
def test_factor_one_is_the_default(kind):
    s = {"rope_type": kind, "factor": 1.0, "original_max_position_embeddings": 4096}
    s |= {"low_freq_factor": 1.0, "high_freq_factor": 4.0}
    inv, af = refpe.rope_inv_freq(64, scaling=s)
    np.testing.assert_array_equal(inv, refpe.rope_inv_freq(64)[0])
    assert af == 1.0


@settings(max_examples=25, deadline=None)
@given(seq_len=st.integers(1, 2048), factor=st.floats(1.0, 16.0))
def test_dynamic_is_default_up_to_the_trained_length(seq_len, factor):
    s = {"rope_type": "dynamic", "factor": factor, "max_position_embeddings": 2048}
    np.testing.assert_array_equal(
        refpe.rope_inv_freq(32, scaling=s, seq_len=seq_len)[0], refpe.rope_inv_freq(32)[0]
    )


def test_dynamic_grows_the_base_with_the_length():
    s = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 2048}
    a = refpe.rope_inv_freq(32, scaling=s, seq_len=4096)[0]
    b = refpe.rope_inv_freq(32, scaling=s, seq_len=8192)[0]
    assert a[0] == b[0] == 1.0 and np.all(b[1:] < a[1:])
    base = 10000 * (2 * 4096 / 2048 - 1) ** (32 / 30)
    np.testing.assert_allclose(a, refpe.rope_inv_freq(32, base=base)[0], rtol=4e-16)
    with_original = {
        "rope_type": "dynamic",
        "factor": 2.0,
        "original_max_position_embeddings": 2048,
    }
    np.testing.assert_array_equal(
        refpe.rope_inv_freq(32, scaling=with_original, seq_len=4096)[0], a
    )


def test_yarn_keeps_high_frequencies_and_interpolates_low_ones():
    s = CASES["yarn"].kwargs["scaling"]
    inv, af = refpe.rope_inv_freq(128, scaling=s)
    theta = refpe.rope_inv_freq(128)[0]
    assert np.array_equal(inv[:10], theta[:10])
    np.testing.assert_allclose(inv[-10:], theta[-10:] / 16, rtol=1e-15)
    assert af == pytest.approx(0.1 * math.log(16) + 1, rel=1e-15)
    untruncated = refpe.rope_inv_freq(128, scaling=s | {"truncate": False})[0]
    assert not np.array_equal(untruncated, inv)


def test_yarn_attention_factor_forms():
    base = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}
    assert refpe.rope_inv_freq(8, scaling=base | {"attention_factor": 0.5})[1] == 0.5
    m = refpe.rope_inv_freq(8, scaling=base | {"mscale": 1.0, "mscale_all_dim": 1.0})[1]
    assert m == 1.0
    implied = base | {"factor": None, "max_position_embeddings": 8192}
    np.testing.assert_array_equal(
        refpe.rope_inv_freq(8, scaling=implied)[0], refpe.rope_inv_freq(8, scaling=base)[0]
    )


def test_llama3_bands():
    kw = CASES["llama3"].kwargs
    inv = refpe.rope_inv_freq(**kw)[0]
    theta = refpe.rope_inv_freq(128, base=500000.0)[0]
    wavelen = 2 * np.pi / theta
    high, low = wavelen < 8192 / 4, wavelen > 8192 / 1
    np.testing.assert_array_equal(inv[high], theta[high])
    np.testing.assert_array_equal(inv[low], theta[low] / 8)
    mid = ~high & ~low
    assert mid.any() and np.all(inv[mid] <= theta[mid]) and np.all(inv[mid] >= theta[mid] / 8)


def test_longrope_switches_after_the_original_length():
    s = CASES["longrope short"].kwargs["scaling"]
    theta = _mp_theta(16, 10000.0)
    short = [float(t / mpmath.mpf(e)) for t, e in zip(theta, s["short_factor"], strict=True)]
    long = [float(t / mpmath.mpf(e)) for t, e in zip(theta, s["long_factor"], strict=True)]
    for seq_len, want in ((None, short), (4096, short), (4097, long)):  # correctly rounded
        np.testing.assert_array_equal(refpe.rope_inv_freq(16, scaling=s, seq_len=seq_len)[0], want)
    af = refpe.rope_inv_freq(16, scaling=s)[1]
    assert af == pytest.approx(math.sqrt(1 + math.log(32) / math.log(4096)), rel=1e-15)
    no_factor = s | {"factor": None, "max_position_embeddings": 4096 * 32}
    assert refpe.rope_inv_freq(16, scaling=no_factor)[1] == af


def test_rope_uses_max_position_plus_one_as_the_length():
    s = {"rope_type": "dynamic", "factor": 4.0, "max_position_embeddings": 1024}
    x = np.random.default_rng(3).standard_normal((3, 8))
    pos = np.array([5, 4000, 17])
    y = refpe.rope(x, pos, scaling=s)
    theta = _inv_freq(8, 10000.0, s, 4001)[0]  # the 60-digit frequencies at length 4001
    with mpmath.workdps(50):
        phi = [[int(p) * mpmath.mpf(str(t)) for t in theta] for p in pos]
        c = np.array([[float(mpmath.cos(a)) for a in row] for row in phi])
        sn = np.array([[float(mpmath.sin(a)) for a in row] for row in phi])
    want = np.concatenate([x[:, :4] * c - x[:, 4:] * sn, x[:, 4:] * c + x[:, :4] * sn], axis=1)
    size = np.abs(x[:, :4]) + np.abs(x[:, 4:])
    np.testing.assert_array_less(np.abs(y - want), 3 * 2.0**-52 * np.concatenate([size, size], 1))


def test_attention_factor_multiplies_cos_and_sin():
    s = CASES["yarn"].kwargs["scaling"]
    x = np.random.default_rng(4).standard_normal((5, 16))
    y = refpe.rope(x, 5, scaling=s)
    af = refpe.rope_inv_freq(16, scaling=s)[1]
    np.testing.assert_allclose(
        np.linalg.norm(y, axis=1), af * np.linalg.norm(x, axis=1), rtol=1e-14
    )


def test_rope_theta_in_the_dict_is_the_base():
    s = {"rope_type": "default", "rope_theta": 500000.0}
    np.testing.assert_array_equal(
        refpe.rope_inv_freq(8, scaling=s)[0], refpe.rope_inv_freq(8, base=500000.0)[0]
    )
    with pytest.raises(ValueError, match=r"base 1000.0 contradicts scaling\['rope_theta'\]"):
        refpe.rope_inv_freq(8, base=1000.0, scaling=s)


LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
LLAMA3 |= {"original_max_position_embeddings": 8192}


@pytest.mark.parametrize(
    ("r", "scaling", "error", "match"),
    [
        (8, {"rope_type": "xpos"}, ValueError, r"scaling\['rope_type'\] must be one of .*'xpos'"),
        (8, {"rope_type": "linear"}, KeyError, "missing key 'factor'"),
        (8, {"rope_type": "linear", "factor": 0.5}, ValueError, "factor'] must be >= 1.*0.5"),
        (8, {"rope_type": "ntk", "factor": 0.9}, ValueError, r"scaling\['factor'\] must be >= 1"),
        (2, {"rope_type": "ntk", "factor": 2.0}, ValueError, "rotary_dim must be >= 4"),
        (8, {"rope_type": "dynamic", "factor": 2.0}, KeyError, "'max_position_embeddings'"),
        (8, {"rope_type": "yarn", "factor": 2.0}, KeyError, "'original_max_position_embeddings'"),
        (8, {k: v for k, v in LLAMA3.items() if k != "low_freq_factor"}, KeyError, "low_freq"),
        (8, LLAMA3 | {"high_freq_factor": 1.0}, ValueError, "high_freq_factor'] must be > "),
        (8, LLAMA3 | {"factor": 0.0}, ValueError, "must be >= 1 for rope_type 'llama3', got 0.0"),
        (
            8,
            {"rope_type": "longrope", "original_max_position_embeddings": 16, "factor": 2.0}
            | {"short_factor": [1.0] * 4},
            KeyError,
            "missing key 'long_factor'",
        ),
        (
            8,
            {"rope_type": "longrope", "original_max_position_embeddings": 16, "factor": 2.0}
            | {"short_factor": [1.0] * 3, "long_factor": [1.0] * 4},
            ValueError,
            r"short_factor'\] must have rotary_dim/2 = 4 values, got 3",
        ),
        (7, None, ValueError, "rotary_dim must be even, got 7"),
        (-2, None, ValueError, "rotary_dim must be positive, got -2"),
    ],
)
def test_bad_scaling(r, scaling, error, match):
    with pytest.raises(error, match=match):
        refpe.rope_inv_freq(r, scaling=scaling)


def test_same_values_in_every_namespace(xp):
    kw = CASES["llama3"].kwargs
    a = to_numpy(refpe.rope_inv_freq(**kw, xp=xp, dtype="float32")[0])
    b = refpe.rope_inv_freq(**kw, dtype="float32")[0]
    np.testing.assert_array_equal(a, b)
