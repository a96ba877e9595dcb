"""The pe-sinusoidal kernels (refpe.kernels.positional): cached tables against the reference."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import no_change, spec_error, to_numpy, xp_asarray
from helpers import random_array as _x

import refpe
from refpe.kernels import _common
from refpe.kernels import positional as KP
from refpe.registry import EPS

torch = pytest.importorskip("torch")

#: The readable reference of each hot spec (the public functions dispatch to the kernels).
REF = SimpleNamespace(
    **{
        n: getattr(refpe, n).reference
        for n in ("pe_sinusoidal", "rope", "token_lookup", "input_add", "embedding_grad")
    }
)

# --- pe-sinusoidal ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        {"d": 64},
        {"d": 7},
        {"d": 10, "layout": "concatenated"},
        {"d": 9, "schedule": "t2t", "offset": 2},
        {"d": 9, "schedule": "t2t", "layout": "interleaved"},
        {"d": 32, "base": 500.0, "offset": 70000},
    ],
)
def test_sinusoid_table_float32_is_the_exact_value_rounded_once(kw):
    n = 3000
    got = refpe.pe_sinusoidal(n, dtype="float32", **kw)
    want = REF.pe_sinusoidal(n, dtype="float64", **kw)
    # rounding a value of magnitude <= 1 once: at most eps32 / 4, plus the float64 reference's
    # own 2 eps64 (1 + |p w|) <= 2**-52 * 4e4, far below that
    assert np.abs(got.astype(np.float64) - want).max() <= EPS["float32"] / 4 + 2e-11
    assert got.dtype == np.float32 and got.shape == (n, kw["d"])


def test_sinusoid_float64_is_the_reference_bit_for_bit():
    got = refpe.pe_sinusoidal(777, 30, dtype="float64", offset=3)
    np.testing.assert_array_equal(got, REF.pe_sinusoidal(777, 30, dtype="float64", offset=3))


def test_sinusoid_table_is_cached_and_read_only():
    a = refpe.pe_sinusoidal(100, 16, dtype="float32")
    cached = KP.sinusoid_table(100, 16, 10000.0, "interleaved", "transformer", 0, "float32")
    assert cached is KP.sinusoid_table(100, 16, 10000.0, "interleaved", "transformer", 0, "float32")
    assert not cached.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        cached[0, 0] = 1.0
    with pytest.raises(ValueError):
        cached.flags.writeable = True
    # the caller gets a copy of its own (tests/test_reliability_cache.py tries every way in)
    assert a is not refpe.pe_sinusoidal(100, 16, dtype=np.float32) and a.flags.writeable
    assert not np.shares_memory(a, cached)
    np.testing.assert_array_equal(a, cached)


def test_sinusoid_positions_array_is_a_lookup_in_the_table():
    pos = np.array([[0, 5, 2047], [9, 9, 1]])
    got = refpe.pe_sinusoidal(pos, 24, dtype="float32")
    assert got.flags.writeable and got.shape == (2, 3, 24)
    np.testing.assert_array_equal(got, refpe.pe_sinusoidal(2048, 24, dtype="float32")[pos])
    with no_change(pos):
        refpe.pe_sinusoidal(pos, 24, dtype="float32", offset=1)


def test_sinusoid_outside_the_cache_goes_to_the_reference():
    pos = np.array([-3, 0, 2**30])
    np.testing.assert_array_equal(
        refpe.pe_sinusoidal(pos, 8, dtype="float32"), REF.pe_sinusoidal(pos, 8, dtype="float32")
    )


def test_sinusoid_bad_input_raises_like_the_reference():
    with pytest.raises(ValueError, match="d must be positive, got 0"):
        refpe.pe_sinusoidal(3, 0)
    with pytest.raises(ValueError, match="layout must be one of"):
        refpe.pe_sinusoidal(3, 4, layout="x")
    with pytest.raises(TypeError, match="positions must be an integer array"):
        refpe.pe_sinusoidal(np.array([0.5]), 4)


def test_sinusoid_torch_table_matches_numpy():
    import array_api_compat.torch as txp

    t = refpe.pe_sinusoidal(300, 12, dtype=torch.float32, xp=txp)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), refpe.pe_sinusoidal(300, 12, dtype="float32"))
    rows = refpe.pe_sinusoidal(torch.tensor([[3, 1]]), 12, dtype="float32")
    np.testing.assert_array_equal(
        rows.numpy(), refpe.pe_sinusoidal(300, 12, dtype="float32")[[[3, 1]]]
    )


def test_sinusoid_each_library_gets_its_kernel_or_the_reference(xp):
    pos = xp_asarray(xp, [0, 3, 7], dtype=xp.int32)
    got = refpe.pe_sinusoidal(pos, 6, dtype="float32")
    name = refpe.last_kernel()
    assert type(got) is type(pos)
    if xp.__name__.endswith(("numpy", "torch", "jax.numpy")):
        assert name == "refpe.kernels.positional.pe_sinusoidal"
        # the exact value rounded once (the float32-only reference is within 1 eps32)
        exact = REF.pe_sinusoidal(np.array([0, 3, 7]), 6)
        assert np.abs(to_numpy(got) - exact).max() <= EPS["float32"] / 4 + 1e-12
    else:
        assert name == "reference"
        want = REF.pe_sinusoidal(pos, 6, dtype="float32")
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


def test_large_tables_are_not_cached(monkeypatch):
    monkeypatch.setattr(_common, "CACHE_ELEMENTS", 64)
    a = refpe.pe_sinusoidal(50, 8, dtype="float32")
    assert a is not refpe.pe_sinusoidal(50, 8, dtype="float32") and a.flags.writeable
    assert np.abs(a - REF.pe_sinusoidal(50, 8)).max() <= EPS["float32"] / 4 + 1e-15
    x = _x((2, 5, 8), "float32")
    pos = np.array([0, 3, 2**23, 7, 9])
    assert spec_error("rope", refpe.rope(x, pos), {"x": x, "positions": pos}, "float32") <= 2


def test_pe_sinusoidal_jax_is_a_copy_of_the_cached_table_on_the_device():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    t = refpe.pe_sinusoidal(300, 12, xp=jnp)
    assert refpe.last_kernel() == "refpe.kernels.positional.pe_sinusoidal"
    # a copy: DLPack hands a JAX buffer to PyTorch, which can write it
    assert t.dtype == jnp.float32 and t is not refpe.pe_sinusoidal(300, 12, xp=jnp)
    np.testing.assert_array_equal(np.asarray(t), refpe.pe_sinusoidal(300, 12, dtype="float32"))
    rows = refpe.pe_sinusoidal(jnp.asarray([[3, 1]]), 12)
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(t)[[[3, 1]]])
    # float64 without x64: the reference answers (and refuses); with it, the kernel
    with pytest.raises(ValueError, match="dtype 'float64' is not available"):
        refpe.pe_sinusoidal(10, 4, xp=jnp, dtype="float64")
    with jax.enable_x64(True):
        t64 = refpe.pe_sinusoidal(10, 4, xp=jnp, dtype="float64")
        assert t64.dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(t64), REF.pe_sinusoidal(10, 4))
