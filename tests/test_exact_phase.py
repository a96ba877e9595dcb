"""Exact at every position: the float64 sinusoid and RoPE (float64, and float32 on a device
without float64) against mpmath, with no factor growing with the position or the angle."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import to_numpy

import refpe
from refpe._precision import exact_sin_cos_table, frequencies
from refpe.rotary import _inv_freq

EPS64, EPS32 = 2.0**-52, 2.0**-23
#: Positions log-spaced to 2^31 - 1, both signs, and the ends.
FAR = np.unique(
    np.concatenate(
        [np.round(np.logspace(0, np.log10(2**31 - 1), 60)).astype(np.int64), [0, 2**31 - 1]]
    )
)
FAR = np.concatenate([FAR, -FAR[-5:]])


def _mp_table(p, omega, columns):
    """Exact sin and cos (50 digits) of ``p * omega_j`` for the 60-digit ``omega``."""
    with mpmath.workdps(50):
        w = [mpmath.mpf(str(omega[j])) for j in columns]
        angles = [[int(q) * wj for wj in w] for q in p]
        sin = np.array([[float(mpmath.sin(a)) for a in row] for row in angles])
        cos = np.array([[float(mpmath.cos(a)) for a in row] for row in angles])
    return sin, cos


@pytest.mark.parametrize(
    ("d", "base", "schedule"),
    [(64, 1e4, "transformer"), (1024, 1e4, "transformer"), (31, 500.0, "t2t"), (768, 1e4, "t2t")],
)
def test_float64_sinusoid_within_one_eps_at_every_position(d, base, schedule):
    omega = frequencies(d, base, schedule)
    columns = sorted(
        {0, 1, 2, len(omega) // 2, len(omega) - 2, len(omega) - 1} & set(range(len(omega)))
    )
    sin, cos = _mp_table(FAR, omega, columns)
    layout = "concatenated"
    y = refpe.pe_sinusoidal(
        FAR, d, base=base, schedule=schedule, layout=layout, dtype="float64", kernel="reference"
    )
    m = len(omega)
    got_sin, got_cos = y[:, columns], y[:, [m + j for j in columns if m + j < d]]
    assert np.max(np.abs(got_sin - sin)) <= EPS64
    assert np.max(np.abs(got_cos - cos[:, : got_cos.shape[1]])) <= EPS64
    # correctly rounded in the vast majority (the plain float64 angle: about a fifth)
    assert np.mean(got_sin == sin) > 0.7


def test_exact_sin_cos_table_for_kernels():
    omega = frequencies(512, 1e4, "transformer")
    sin, cos = exact_sin_cos_table(FAR, omega)
    want_sin, want_cos = _mp_table(FAR, omega, range(0, 256, 17))
    assert np.max(np.abs(sin[:, 0:256:17] - want_sin)) <= EPS64
    assert np.max(np.abs(cos[:, 0:256:17] - want_cos)) <= EPS64


def _mp_rope(x, pos, theta, attention_factor):
    """The half-layout rotation of ``x`` (float64 values taken exactly) at ``pos``, 50 digits."""
    r = x.shape[-1]
    out = np.empty_like(x, dtype=np.float64)
    with mpmath.workdps(50):
        th = [mpmath.mpf(str(t)) for t in theta]
        for k, q in enumerate(pos):
            for i in range(r // 2):
                phi = int(q) * th[i]
                c, s = attention_factor * mpmath.cos(phi), attention_factor * mpmath.sin(phi)
                xa, xb = mpmath.mpf(float(x[k, i])), mpmath.mpf(float(x[k, i + r // 2]))
                out[k, i], out[k, i + r // 2] = float(xa * c - xb * s), float(xb * c + xa * s)
    return out


def _pair_error(y, exact, x, attention_factor):
    """``max |y - y*| / (|a| (|x_a| + |x_b|))`` per pair, in units of the bound's ``eps``."""
    h = x.shape[-1] // 2
    size = abs(attention_factor) * (np.abs(x[:, :h]) + np.abs(x[:, h:]))
    size = np.concatenate([size, size], axis=-1)
    return np.max(np.abs(np.asarray(y, dtype=np.float64) - exact) / size)


SCALINGS = [
    None,
    {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0}
    | {"original_max_position_embeddings": 8192},
    {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096},
]  # fmt: skip
POSITIONS = np.unique(np.round(np.logspace(0, 24, 40, base=2)).astype(np.int64))


@pytest.mark.parametrize("scaling", SCALINGS)
def test_rope_float64_within_two_eps_of_the_pair_at_every_position(scaling):
    x = np.random.default_rng(5).standard_normal((len(POSITIONS), 32))
    theta, af = _inv_freq(32, 500000.0, scaling, None)
    exact = _mp_rope(x, POSITIONS, theta, af)
    y = refpe.rope(x, POSITIONS, base=500000.0, scaling=scaling, kernel="reference")
    assert _pair_error(y, exact, x, af) <= 2 * EPS64


@pytest.mark.parametrize("scaling", SCALINGS)
def test_rope_float32_device_without_float64(scaling):
    """array_api_strict's device without float64: the float32 exact phase reduction."""
    import array_api_strict as xs

    dev = xs.Device("no_float64")
    x32 = np.random.default_rng(6).standard_normal((len(POSITIONS), 32)).astype(np.float32)
    theta, af = _inv_freq(32, 500000.0, scaling, None)
    exact = _mp_rope(x32.astype(np.float64), POSITIONS, theta, af)
    x = xs.asarray(x32, device=dev)
    y = refpe.rope(
        x, xs.asarray(POSITIONS.astype(np.int32), device=dev), base=500000.0, scaling=scaling
    )
    assert y.dtype == xs.float32 and y.device == dev
    assert _pair_error(to_numpy(y), exact, x32, af) <= 2 * EPS32
