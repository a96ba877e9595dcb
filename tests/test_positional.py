"""pe-sinusoidal against mpmath, its layouts and schedules, invariants, warnings and errors."""

from __future__ import annotations

import functools
import math
import warnings

import mpmath
import numpy as np
import pytest
from helpers import has_float64, normalised_error, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe import pe_sinusoidal

EPS32, EPS64 = 2.0**-23, 2.0**-52
FAR = (0, 1, 1000, 2**16, 10**6, 2**24 - 1)
WIDTHS = (6, 7, 512, 4096)


def _columns(d: int, every: bool = False) -> tuple[int, ...]:
    """All columns of a small table; a spread sample (both ends, odd and even) of a big one."""
    if d <= 16 or every:
        return tuple(range(d))
    return tuple(sorted({0, 1, 2, 3, d // 2, d // 2 + 1, d - 4, d - 3, d - 2, d - 1, 101, 102}))


@functools.cache
def exact(positions: tuple[int, ...], d: int, every: bool = False) -> tuple:
    """mpmath (40 digits) values and angles of the interleaved table at ``_columns(d)``."""
    values, angles = [], []
    with mpmath.workdps(40):
        for p in positions:
            row_v, row_a = [], []
            for c in _columns(d, every):
                angle = p * mpmath.power(mpmath.mpf(10000), mpmath.mpf(-2 * (c // 2)) / d)
                row_v.append(float(mpmath.sin(angle) if c % 2 == 0 else mpmath.cos(angle)))
                row_a.append(float(angle))
            values.append(row_v)
            angles.append(row_a)
    return np.array(values), np.array(angles)


def _on(xp, values, device=None):
    return xp.asarray(np.asarray(values), device=device)


@pytest.mark.parametrize("d", WIDTHS)
def test_float64_against_mpmath(xp, d):
    if not has_float64(xp):
        pytest.skip(f"{xp.__name__} has no float64 here (JAX: see the x64 test)")
    y = to_numpy(pe_sinusoidal(_on(xp, FAR), d, dtype=xp.float64))[:, list(_columns(d))]
    values, angles = exact(FAR, d)
    assert normalised_error(y, values, "float64", 1 + angles) <= 2


@pytest.mark.parametrize("d", WIDTHS)
def test_float64_against_mpmath_jax_x64(jax_x64, d):
    import jax.numpy as jnp

    y = to_numpy(pe_sinusoidal(jnp.asarray(np.array(FAR)), d, dtype=jnp.float64))
    values, angles = exact(FAR, d)
    assert normalised_error(y[:, list(_columns(d))], values, "float64", 1 + angles) <= 2


@pytest.mark.parametrize("d", WIDTHS)
def test_float32_within_one_eps_absolute(xp, d):
    """float32 tables (rounded once from float64, or the float32 phase reduction)."""
    y = to_numpy(pe_sinusoidal(_on(xp, FAR), d, dtype=xp.float32))[:, list(_columns(d))]
    assert normalised_error(y, exact(FAR, d)[0], "float32") <= 1


@pytest.mark.parametrize("d", (7, 512))
def test_float32_only_device(d):
    """array_api_strict's device without float64 takes the float32 phase reduction."""
    import array_api_strict as xs

    dev = xs.Device("no_float64")
    out = pe_sinusoidal(xs.asarray(np.array(FAR), device=dev), d)
    assert out.dtype == xs.float32 and out.device == dev
    y = to_numpy(out)[:, list(_columns(d))]
    assert normalised_error(y, exact(FAR, d)[0], "float32") <= 1
    with pytest.raises(ValueError, match=r"float64.*not available"):
        pe_sinusoidal(4, d, xp=xs, device=dev, dtype="float64")
    # 2^24 itself is exact there (its high half 2^12 is a power of two); one past is refused
    edge = (2**24, -(2**24))
    y = to_numpy(pe_sinusoidal(xs.asarray(np.array(edge), device=dev), d))[:, list(_columns(d))]
    assert normalised_error(y, exact(edge, d)[0], "float32") <= 1
    with pytest.raises(IndexError, match=f"positions out of range.*value {2**24 + 1}"):
        pe_sinusoidal(xs.asarray(np.array([3, 2**24 + 1]), device=dev), d)


@pytest.mark.parametrize("schedule", ["transformer", "t2t"])
def test_float32_phase_reduction_on_random_positions(schedule):
    """The float32-only path against the float64 path (itself within 0.06 eps32 here)."""
    import array_api_strict as xs

    rng = np.random.default_rng(8)
    p = np.concatenate([rng.integers(1 - 2**24, 2**24, 2000), [2**24 - 1, 1 - 2**24, 0]])
    for d, base in ((768, 1e4), (31, 500.0)):
        ref = pe_sinusoidal(p, d, base=base, schedule=schedule)
        out = pe_sinusoidal(
            xs.asarray(p, device=xs.Device("no_float64")), d, base=base, schedule=schedule
        )
        assert normalised_error(out, ref, "float32") <= 1


def test_common_float32_pow_form_is_off_where_refpe_is_not():
    """``exp(arange(0, d, 2) * -ln(10000)/d)`` and ``p * div`` in float32 (seed 001 §5.2)."""
    torch = pytest.importorskip("torch")
    d, p = 512, 10**6
    div = torch.exp(torch.arange(0, d, 2).float() * (-math.log(10000.0) / d))
    angle = torch.tensor([float(p)]).unsqueeze(1) * div
    common = torch.zeros(1, d)
    common[:, 0::2], common[:, 1::2] = torch.sin(angle), torch.cos(angle)
    values = exact((p,), d, every=True)[0]
    assert np.max(np.abs(common.numpy() - values)) > 0.01
    ours = pe_sinusoidal(torch.tensor([p]), d, dtype=torch.float32)
    assert normalised_error(ours.numpy(), values, "float32") <= 1


@pytest.mark.parametrize("d", (6, 768, 4096))
def test_frequencies_correctly_rounded(d):
    """ω_i in float64 against mpmath: within half an ulp; the float forms are not."""
    omega = refpe.positional.frequencies(d, 10000.0, "transformer")
    ours, pow_form, exp_form = [], [], []
    with mpmath.workdps(50):
        for i in range(d // 2):
            w = mpmath.power(10000, mpmath.mpf(-2 * i) / d)
            ulp = math.ulp(float(w))
            ours.append(float(abs(float(omega[i]) - w)) / ulp)
            pow_form.append(float(abs(10000.0 ** (-2 * i / d) - w)) / ulp)
            exp_form.append(float(abs(math.exp(2 * i * (-math.log(10000.0) / d)) - w)) / ulp)
    assert max(ours) <= 0.5
    assert max(exp_form) > 2  # seed 001 §5.2's exp(2i * -ln(10000)/d), even in float64
    if d != 4096:  # -2i/4096 is a dyadic fraction: the exponent itself is exact there
        assert max(pow_form) > 1


def test_layouts_and_odd_width(xp):
    inter = to_numpy(pe_sinusoidal(5, 7, xp=xp))
    concat = to_numpy(pe_sinusoidal(5, 7, layout="concatenated", xp=xp))
    # interleaved columns 0,2,4,6 are the 4 sines, 1,3,5 the 3 cosines
    np.testing.assert_array_equal(concat, inter[:, [0, 2, 4, 6, 1, 3, 5]])
    p = np.arange(5)[:, None]
    omega = np.array([float(w) for w in refpe.positional.frequencies(7, 1e4, "transformer")])
    np.testing.assert_allclose(inter[:, 6], np.sin(p[:, 0] * omega[3]), atol=EPS32)
    assert inter.shape == (5, 7)


def test_t2t_schedule_matches_tensor2tensor_formula():
    """``inv_timescales = exp(i * -ln(10000)/(n-1))``, ``[sin, cos]``, odd d: a zero column."""
    d, n = 9, 4
    y = pe_sinusoidal(np.arange(6), d, schedule="t2t")
    inc = math.log(10000.0) / (n - 1)
    with mpmath.workdps(40):
        for p in range(6):
            for i in range(n):
                angle = p * mpmath.exp(-i * mpmath.log(10000) / (n - 1))
                assert abs(y[p, i] - float(mpmath.sin(angle))) <= 2 * EPS64 * (1 + float(angle))
                assert abs(y[p, n + i] - float(mpmath.cos(angle))) <= 2 * EPS64 * (1 + float(angle))
    np.testing.assert_array_equal(y[:, 8], 0.0)
    t2t = np.arange(6)[:, None] * np.exp(np.arange(n) * -inc)
    np.testing.assert_allclose(y[:, :8], np.concatenate([np.sin(t2t), np.cos(t2t)], 1), atol=1e-13)
    # n = 1: tensor2tensor's max(n - 1, 1) keeps the single frequency at 1 (fairseq: NaN)
    np.testing.assert_array_equal(
        pe_sinusoidal(3, 2, schedule="t2t"),
        [[0, 1], [np.sin(1), np.cos(1)], [np.sin(2), np.cos(2)]],
    )


def test_offset_shifts_positions(xp):
    shifted = to_numpy(pe_sinusoidal(4, 6, offset=2, xp=xp))
    np.testing.assert_array_equal(shifted, to_numpy(pe_sinusoidal(_on(xp, [2, 3, 4, 5]), 6)))


def test_shapes_and_default_dtype(xp):
    pos = _on(xp, [[0, 1, 2], [7, 8, 9]])
    out = pe_sinusoidal(pos, 4)
    assert tuple(out.shape) == (2, 3, 4)
    default = xp.__array_namespace_info__().default_dtypes()["real floating"]
    assert out.dtype == default
    assert tuple(pe_sinusoidal(0, 4, xp=xp).shape) == (0, 4)
    assert tuple(pe_sinusoidal(_on(xp, 5), 3).shape) == (3,)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(0, 2**20), d=st.integers(2, 64))
def test_pythagoras_per_pair(p, d):
    y = pe_sinusoidal(np.array([p]), d)[0]
    m = d // 2
    np.testing.assert_allclose(y[0 : 2 * m : 2] ** 2 + y[1 : 2 * m : 2] ** 2, 1.0, atol=4 * EPS64)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(0, 2**16), k=st.integers(-500, 500), d=st.sampled_from([2, 8, 9, 32]))
def test_rows_related_by_fixed_rotation(p, k, d):
    """[sin, cos](p + k) = R(k ω_i) [sin, cos](p), R the 2x2 rotation by k ω_i."""
    rows = pe_sinusoidal(np.array([p, p + k, k]), d)
    m = d // 2
    s, c = rows[0, 0 : 2 * m : 2], rows[0, 1 : 2 * m : 2]
    sk, ck = rows[2, 0 : 2 * m : 2], rows[2, 1 : 2 * m : 2]
    tol = 16 * EPS64 * (1 + abs(p) + abs(k))
    np.testing.assert_allclose(rows[1, 0 : 2 * m : 2], s * ck + c * sk, atol=tol)
    np.testing.assert_allclose(rows[1, 1 : 2 * m : 2], c * ck - s * sk, atol=tol)


@pytest.mark.parametrize(("dtype", "limit"), [("float16", 2048), ("bfloat16", 256)])
def test_warns_past_exact_integers(dtype, limit):
    torch = pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pe_sinusoidal(torch.arange(limit + 1), 8, dtype=dtype)
    with pytest.warns(UserWarning, match=f"positions up to {limit + 1} exceed {limit}.*{dtype}"):
        out = pe_sinusoidal(torch.tensor([0, limit + 1]), 8, dtype=dtype)
    exact16 = pe_sinusoidal(np.array([0, limit + 1]), 8)
    eps = {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    assert np.max(np.abs(out.float().numpy() - exact16)) <= 0.5 * eps


def test_errors():
    with pytest.raises(ValueError, match="d must be positive, got 0"):
        pe_sinusoidal(4, 0)
    with pytest.raises(ValueError, match="d must be positive, got -3"):
        pe_sinusoidal(4, -3)
    with pytest.raises(TypeError, match="positions must be an integer array, got dtype float64"):
        pe_sinusoidal(np.array([0.5, 1.0]), 4)
    with pytest.raises(TypeError, match="positions must be an integer array, got dtype bool"):
        pe_sinusoidal(np.array([True]), 4)
    with pytest.raises(ValueError, match=r"layout must be one of .* got 'diagonal'"):
        pe_sinusoidal(4, 4, layout="diagonal")
    with pytest.raises(ValueError, match=r"schedule must be one of .* got 'rope'"):
        pe_sinusoidal(4, 4, schedule="rope")
    with pytest.raises(ValueError, match="base must be a finite number > 0, got -1"):
        pe_sinusoidal(4, 4, base=-1.0)
    with pytest.raises(ValueError, match="positions must be >= 0 when an int, got -2"):
        pe_sinusoidal(-2, 4)
    with pytest.raises(TypeError, match="positions must be an array"):
        pe_sinusoidal([0, 1], 4)
    import array_api_strict as xs

    with pytest.raises(TypeError, match=r"positions is a .*numpy array but xp is array_api_strict"):
        pe_sinusoidal(np.arange(3), 4, xp=xs)


def test_no_change_to_positions(xp):
    pos = _on(xp, [3, 1, 2])
    before = to_numpy(pos).copy()
    pe_sinusoidal(pos, 6, offset=5)
    np.testing.assert_array_equal(to_numpy(pos), before)


def test_inside_jax_jit():
    """Traced positions: the data checks step aside, the formula is unchanged."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    table = jax.jit(lambda p: pe_sinusoidal(p, 8))(jnp.asarray(np.array(FAR)))
    assert normalised_error(table, exact(FAR, 8)[0], "float32") <= 1
