"""The initialiser oracles: refpe's seeded draws against the documented draw, bit for bit."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from oracle_reference import cases, oracle_inputs, oracle_values, reference, reference_error

from refpe.conformance.oracle import ORACLES
from refpe.conformance.oracle import init as draws

SPECS = ("init-normal", "init-uniform", "init-truncated-normal", "init-framework-defaults")
DTYPES = ("float64", "float32")

#: Where refpe's float64 draw is not the documented formula rounded once (strict: a fix shows).
KNOWN: dict[tuple[str, str, str], str] = {}


def _params():
    out = []
    for spec_id, name in cases(*SPECS):
        for dtype in DTYPES:
            why = KNOWN.get((spec_id, name, dtype))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            out.append(pytest.param(spec_id, name, dtype, marks=marks))
    return out


def run(spec_id: str, **inputs) -> np.ndarray:
    return oracle_values(spec_id, dict(inputs, dtype="float64"))[0]


@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_outputs_have_the_reference_shapes(spec_id, name):
    want = reference(spec_id, name, "float64")
    got = oracle_values(spec_id, oracle_inputs(spec_id, name, "float64"))
    assert [g.shape for g in got] == [w.shape for w in want]


@pytest.mark.parametrize(("spec_id", "name", "dtype"), _params())
def test_reference_is_bit_exact(spec_id, name, dtype):
    err, K, where = reference_error(spec_id, name, dtype)
    assert err <= K, f"{spec_id} {name} {dtype}: {where}"


def test_keras_linear_limit_is_the_float64_constant():
    # Keras computes limit = sqrt(6 / (in + out)) in Python floats; the draw is that float64
    # constant times (2U - 1), rounded once: the real sqrt instead moves 4 of 24 entries by 1 ulp
    inputs = oracle_inputs("init-framework-defaults", "keras linear", "float64")
    want = oracle_values("init-framework-defaults", inputs)[0]
    got = reference("init-framework-defaults", "keras linear", "float64")[0]
    np.testing.assert_array_equal(got, want)


def test_keras_linear_with_the_real_sqrt_is_told_apart(monkeypatch):
    # planted: the limit as the real square root, not Keras' float constant
    real = lambda dims: mpmath.sqrt(mpmath.mpf(6) / (dims[0] + dims[1]))  # noqa: E731
    monkeypatch.setitem(draws.FRAMEWORKS, ("keras", "linear"), draws._symmetric(real))
    inputs = oracle_inputs("init-framework-defaults", "keras linear", "float64")
    _, fn = ORACLES["init-framework-defaults"]
    planted = np.asarray(fn(inputs)[0], dtype=np.float64)  # the oracle itself, no cache
    got = reference("init-framework-defaults", "keras linear", "float64")[0]
    assert np.count_nonzero(got != planted) > 0


# --- hand-checked values ---


def test_numpy_generator_values_by_hand():
    # default_rng(0): standard_normal() = 0.1257302..., -0.1321048...; random() = 0.6369616...
    z = run("init-normal", shape=2, seed=0, std=1.0)
    assert z.tolist() == pytest.approx([0.12573022, -0.13210486], abs=1e-8)
    u = run("init-framework-defaults", shape=(1, 1), seed=0, framework="tf", kind="embedding")
    assert u[0, 0] == pytest.approx(0.63696169, abs=1e-8)
    # torch linear (out, in) = (1, 4): bound 1/sqrt(4) = 1/2, so the draw is U - 1/2 exactly
    w = run("init-framework-defaults", shape=(1, 4), seed=0, framework="torch", kind="linear")
    u = run("init-framework-defaults", shape=(1, 4), seed=0, framework="tf", kind="embedding")
    assert w.tolist() == (u - 0.5).tolist()


def test_spreads_by_hand():
    assert run("init-normal", shape=(2, 3), seed=4, std=0.0, mean=3.0).tolist() == [[3.0] * 3] * 2
    u = run("init-uniform", shape=500, seed=4, a=1.0, mean=10.0)
    assert u.min() >= 9.0 and u.max() < 11.0
    z = run("init-truncated-normal", shape=2000, seed=4, std=1.0)
    assert np.abs(z).max() <= 2.0 and np.abs(z).max() > 1.9
    # std is a standard deviation (seed 004 §1's code, not its text's "variance")
    z = run("init-normal", shape=20000, seed=4, std=0.02)
    assert np.std(z) == pytest.approx(0.02, rel=0.03)
    k = run("init-framework-defaults", shape=(4, 6), seed=4, framework="keras", kind="linear")
    assert np.abs(k).max() <= math.sqrt(6 / 10)
    assert run("init-normal", shape=(0, 4), seed=1).shape == (0, 4)


def test_the_rejection_order_matters():
    """The documented "a draw outside [-2, 2] is replaced by a fresh one" leaves open which
    entry takes which fresh draw; redrawing each entry until it fits gives another table."""
    g = np.random.default_rng(9)
    z = list(g.standard_normal(1000))
    for i in range(1000):
        while abs(z[i]) > 2:
            z[i] = g.standard_normal()
    ours = [float(v) for v in draws.truncated_variates(9, (50, 20))]
    assert ours != z
    assert all(abs(v) <= 2 for v in ours)


# --- planted mistakes are caught ---


def test_a_uniform_on_0_a_is_caught(monkeypatch):
    # the plant: U(0, a) in place of U(-a, a)
    def half(inputs):
        dims = draws._dims(inputs["shape"])
        a = draws._spread(inputs, "a", 0.05)
        return draws._float64([a * u for u in draws.uniform_variates(inputs["seed"], dims)], dims)

    monkeypatch.setattr(draws, "uniform_table", half)
    err, K, _ = reference_error("init-uniform", "6x4 table", "float64")
    assert err > K


def test_one_ulp_is_caught(monkeypatch):
    true = draws._float64
    monkeypatch.setattr(draws, "_float64", lambda v, d: np.nextafter(true(v, d), np.inf))
    for spec_id in SPECS:
        name = cases(spec_id)[0][1]
        err, K, _ = reference_error(spec_id, name, "float64")
        assert err > K, spec_id


def test_another_seed_is_caught(monkeypatch):
    true = draws.normal_variates
    monkeypatch.setattr(draws, "normal_variates", lambda s, d: true(s + 1, d))
    err, K, _ = reference_error("init-normal", "6x4 table", "float32")
    assert err > K
