"""Planted mistakes: ``tests/test_exact_bound.py``'s comparison catches them.

Each test runs a wrong reference (a base off by 1 %, theta off by 1e-3, an angle rounded in
the working float) through the same runner and judge as ``test_exact_bound`` and asserts the
exact-normalised error exceeds the spec's ``K``; the unplanted run stays within it.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from test_exact_bound import exact_error, run

import refpe
import refpe.rotary as rotary
from refpe.backends import get
from refpe.conformance.compare import as_arrays
from refpe.conformance.inputs import cast_inputs, host_inputs

SWEEP = "positions to 2^24"


def _numpy(spec_id: str, name: str, dtype: str) -> list[np.ndarray]:
    return run(get("numpy"), False, spec_id, name, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sinusoid_base_off_by_one_percent_is_caught(dtype):
    error, K, _, _ = exact_error(
        "pe-sinusoidal", SWEEP, dtype, _numpy("pe-sinusoidal", SWEEP, dtype)
    )
    assert error <= K
    spec = refpe.spec("pe-sinusoidal")
    right = spec.function

    def planted(positions, d, *, base=10000.0, **kw):
        return right(positions, d, base=base * 1.01, **kw)

    case = next(c for c in spec.cases if c.name == SWEEP)
    got = as_arrays(planted(**host_inputs(case, dtype), dtype=dtype))
    error, K, where, _ = exact_error("pe-sinusoidal", SWEEP, dtype, got)
    assert error > K, where


@pytest.mark.parametrize(
    "name, dtype",
    [
        ("positions to 2^24, head_dim 64", "float64"),
        ("positions to 2^24, head_dim 64", "float32"),
        ("positions to 2^24, head_dim 64", "bfloat16"),
        ("half", "float64"),  # positions 0..7: the 1e-3 shows only above bfloat16's eps
        ("half", "float32"),
    ],
)
def test_rope_theta_off_by_1e3_is_caught(dtype, name, monkeypatch):
    right = rotary._inv_freq

    def planted(*args):
        theta, af = right(*args)
        return tuple(t * Decimal("1.001") for t in theta), af

    backend = get("torch") if dtype == "bfloat16" else get("numpy")
    if backend.available():
        pytest.skip(backend.available())
    error, K, _, _ = exact_error("rope", name, dtype, run(backend, False, "rope", name, dtype))
    assert error <= K
    monkeypatch.setattr(rotary, "_inv_freq", planted)
    error, K, where, _ = exact_error("rope", name, dtype, run(backend, False, "rope", name, dtype))
    assert error > K, where


def test_rope_with_a_rounded_float32_angle_is_caught():
    # the sloppy evaluation the issue names: cos/sin of the float32 angle p * theta; within
    # the usual bound, far outside the exact one at long positions
    name, dtype = "positions to 2^24, head_dim 64", "float32"
    case = next(c for c in refpe.spec("rope").cases if c.name == name)
    kw = cast_inputs(host_inputs(case, dtype), dtype)
    theta = np.asarray(refpe.rope_inv_freq(64, dtype="float32")[0])
    phi = kw["positions"].astype(np.float32)[:, None] * theta
    cos, sin = np.cos(phi), np.sin(phi)
    xa, xb = kw["x"][..., :32], kw["x"][..., 32:]
    y = np.concatenate([xa * cos - xb * sin, xb * cos + xa * sin], axis=-1)
    error, K, _, horizon = exact_error("rope", name, dtype, as_arrays(y))
    assert error > 100 * K
    assert horizon is not None and horizon < 2**24
