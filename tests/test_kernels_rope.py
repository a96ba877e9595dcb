"""The rope kernels (refpe.kernels.rotary, rotary_torch) against the reference and the spec's error
model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers import no_change, random_array, spec_error, to_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.kernels import rotary as KR
from refpe.kernels import rotary_torch as KT
from refpe.registry import EPS

torch = pytest.importorskip("torch")

#: The readable reference of each hot spec (the public functions dispatch to the kernels).
REF = SimpleNamespace(
    **{
        n: getattr(refpe, n).reference
        for n in ("pe_sinusoidal", "rope", "token_lookup", "input_add", "embedding_grad")
    }
)

# --- rope -------------------------------------------------------------------------------------

ROPE_CASES = [
    {"layout": "half"},
    {"layout": "interleaved"},
    {"layout": "half", "rotary_dim": 8},
    {"layout": "interleaved", "rotary_dim": 6},
    {"layout": "half", "scaling": {"rope_type": "linear", "factor": 4.0}},
    {
        "layout": "half",
        "scaling": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64},
    },
]


_x = random_array


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", ROPE_CASES)
def test_rope_within_the_error_model(kw, dtype, monkeypatch):
    x = _x((2, 3, 700, 16), dtype)
    for positions in (700, np.random.default_rng(1).integers(0, 5000, 700)):
        with no_change(x):
            y = refpe.rope(x, positions, **kw)
        assert y.dtype == x.dtype and y.shape == x.shape
        assert spec_error("rope", y, {"x": x, "positions": positions, **kw}, dtype) <= 2
        tpos = positions if isinstance(positions, int) else torch.from_numpy(positions)
        for device_path in (False, True):  # True: the path other devices take, on the CPU
            monkeypatch.setattr(KT, "_ON_DEVICE_PATH", device_path)
            yt = KT.rope_torch(torch.from_numpy(x), tpos, **kw)
            assert spec_error("rope", yt, {"x": x, "positions": positions, **kw}, dtype) <= 2


def test_rope_untouched_dims_are_bit_exact():
    x = _x((3, 50, 12), "float32")
    for layout in ("half", "interleaved"):
        y = refpe.rope(x, 50, layout=layout, rotary_dim=4)
        np.testing.assert_array_equal(y[..., 4:], x[..., 4:])


def test_rope_torch_in_place():
    x = _x((2, 4, 64, 8), "float32")
    want = refpe.rope(x, 64)
    t = torch.from_numpy(x.copy())
    assert refpe.rope(t, 64, out=t) is t
    assert spec_error("rope", t, {"x": x, "positions": 64}, "float32") <= 2
    np.testing.assert_allclose(t.numpy(), want, rtol=0, atol=4 * EPS["float32"] * np.abs(x).max())


@pytest.mark.parametrize("rotary_dim", [None, 4])
@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_rope_non_finite_stays_where_the_reference_puts_it(layout, rotary_dim, monkeypatch):
    x = _x((2, 40, 8), "float32")
    x[0, 0, 1], x[0, 3, 1], x[1, 7, 6], x[1, 9, 3] = np.inf, np.inf, np.nan, -np.inf
    kw = {"layout": layout, "rotary_dim": rotary_dim}
    with np.errstate(invalid="ignore"):  # inf * 0 is NaN, as IEEE says: no warning wanted
        want = REF.rope(x, 40, **kw)
    got = [refpe.rope(x, 40, **kw), KT.rope_torch(torch.from_numpy(x), 40, **kw)]
    monkeypatch.setattr(KT, "_ON_DEVICE_PATH", True)
    got.append(KT.rope_torch(torch.from_numpy(x), 40, **kw))
    for y in map(to_numpy, got):
        np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.sign(y[finite]), np.sign(want[finite]))


def test_rope_torch_requiring_grad_goes_to_the_reference():
    x = torch.from_numpy(_x((2, 6, 8), "float32")).requires_grad_()
    assert KT.rope_torch(x, 6) is NotImplemented
    refpe.rope(x, 6).sum().backward()
    assert refpe.last_kernel() == "reference" and x.grad is not None


def test_rope_other_shapes_go_to_the_reference():
    x = _x((2, 1, 5, 4), "float32")
    pos = np.array([[[0, 1, 2, 3, 4]], [[7, 8, 9, 10, 11]]])
    np.testing.assert_array_equal(refpe.rope(x, pos), REF.rope(x, pos))
    dyn = {"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 4}
    np.testing.assert_array_equal(refpe.rope(x, 5, scaling=dyn), REF.rope(x, 5, scaling=dyn))


def test_rope_bad_input_raises_like_the_reference():
    x = _x((2, 5, 4), "float32")
    with pytest.raises(ValueError, match=r"positions of shape \(3,\) do not broadcast"):
        refpe.rope(x, np.arange(3))
    with pytest.raises(ValueError, match="layout must be one of"):
        refpe.rope(x, 5, layout="x")
    with pytest.raises(ValueError, match="layout must be one of"):
        refpe.rope(torch.from_numpy(x), 5, layout="x")


@settings(max_examples=25, deadline=None)
@given(
    T=st.integers(1, 40),
    half=st.integers(1, 6),
    lead=st.integers(1, 3),
    layout=st.sampled_from(["half", "interleaved"]),
    start=st.integers(0, 10**6),
)
def test_rope_property_within_the_error_model(T, half, lead, layout, start):
    x = _x((lead, T, 2 * half), "float32", seed=T * half)
    pos = np.arange(start, start + T)
    y = refpe.rope(x, pos, layout=layout)
    assert spec_error("rope", y, {"x": x, "positions": pos, "layout": layout}, "float32") <= 2


def test_rope_numpy_out_buffer_and_in_place():
    x = _x((2, 3, 40, 8), "float32")
    want = refpe.rope(x, 40)
    buf = np.empty_like(x)
    assert refpe.rope(x, 40, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    y = x.copy()
    assert refpe.rope(y, 40, out=y) is y
    np.testing.assert_array_equal(y, want)
    with pytest.raises(
        ValueError, match=r"out must be C-contiguous with x's shape \(2, 3, 40, 8\)"
    ):
        refpe.rope(x, 40, out=np.empty((2, 3, 40, 4), dtype=np.float32))


# --- JAX --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", ROPE_CASES)
def test_rope_jax_within_the_error_model(kw, dtype):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = _x((2, 3, 70, 16), dtype)
    with jax.enable_x64(dtype == "float64"):  # only inside: never leaked to other tests
        for positions in (70, np.random.default_rng(1).integers(0, 5000, 70)):
            jpos = positions if isinstance(positions, int) else jnp.asarray(positions)
            y = refpe.rope(jnp.asarray(x), jpos, **kw)
            assert refpe.last_kernel() == "refpe.kernels.rotary.rope_jax"
            assert y.dtype == jnp.dtype(dtype) and y.shape == x.shape
            inputs = {"x": x, "positions": positions, **kw}
            assert spec_error("rope", np.asarray(y), inputs, dtype) <= 2


def test_rope_jax_declines_tracers_so_jit_and_grad_trace_the_reference():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.asarray(_x((3, 8, 4), "float32"))
    y = jax.jit(lambda a: refpe.rope(a, 8))(x)
    assert refpe.last_kernel() == "reference"
    np.testing.assert_allclose(np.asarray(y), np.asarray(refpe.rope(x, 8)), rtol=0, atol=1e-6)
    g = jax.grad(lambda a: refpe.rope(a, 8).sum())(x)
    assert g.shape == x.shape and refpe.last_kernel() == "reference"
    assert KR.rope_jax(_x((3, 8, 4), "float32"), 8) is NotImplemented  # NumPy: not its arrays


def test_rope_torch_into_a_strided_out_buffer():
    x = _x((2, 4, 16, 8), "float32")
    out = torch.empty(2, 4, 8, 16).transpose(-1, -2)  # (2, 4, 16, 8), not contiguous
    assert KT.rope_torch(torch.from_numpy(x), 16, out=out) is out
    np.testing.assert_array_equal(out.numpy(), refpe.rope(x, 16))
