"""Every kernel of :data:`refpe.kernels.HOT` gives the reference's answer, or its error.

For each public function with kernels, Hypothesis draws an array library (NumPy, PyTorch,
JAX), an integer dtype for the positions or ids (every one the library has), and values among
the edges (none, negative, out of range, the dtype's extremes) and ordinary ones; the default
call (``kernel="auto"``) and ``kernel="reference"`` must return bit-identical arrays of the
same dtype, or raise the same exception type with the same message. The kernels are
documented bit-identical to the reference on these inputs (float64 tables; float32 tables
rounded once from the same exact values); a kernel that is only within the spec's bound
would have to be listed in ``WITHIN_BOUND`` with that bound.

``REFPE_PARITY_EXAMPLES`` sets the examples per test (default 400: 2000 in all).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from helpers import to_numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refpe
from refpe.kernels import HOT
from refpe.registry import EPS

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

EXAMPLES = int(os.environ.get("REFPE_PARITY_EXAMPLES", "400"))
PARITY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LAYOUTS = ["half", "interleaved"]
LAYOUTS = ["half", "interleaved"]
INTEGER_DTYPES = ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")
#: Kernels documented as within the spec's bound rather than bit-identical to the reference:
#: JAX without x64 has no float64, so its reference reduces the phase in float32, within
#: ``EPS32`` absolute of the exact value, while the kernel's table is the float64 exact value
#: rounded once (within ``EPS32 / 2``): the two agree within the sum of the bounds.
#: The bound is in units of the output dtype's eps.
WITHIN_BOUND: dict[tuple[str, str], float] = {
    ("pe-sinusoidal", "jax"): 1.5,
    # the rope kernels rotate in x.dtype (float32: the reference rotates in float64 and rounds
    # once; float64 interleaved: a complex product): each within 2 eps (|x_a| + |x_b|) of the
    # exact pair (the spec's bound), |x| < 0.75 below
    ("rope", "jax"): 6,
    ("rope", "numpy"): 6,
    ("rope", "torch"): 6,
}


def _jax_dtypes() -> tuple[str, ...]:
    """JAX without x64 turns 64-bit arrays into 32-bit ones: those dtypes are not JAX's."""
    x64 = jnp.asarray(np.int64(0)).dtype == np.int64
    return INTEGER_DTYPES if x64 else tuple(d for d in INTEGER_DTYPES if "64" not in d)


LIBRARIES = {"numpy": INTEGER_DTYPES, "torch": INTEGER_DTYPES, "jax": _jax_dtypes()}


def _to(lib: str, a: np.ndarray):
    if lib == "torch":
        return torch.from_numpy(np.ascontiguousarray(a))
    if lib == "jax":
        return jnp.asarray(a)
    return a


@st.composite
def integers(draw, shape_max: int = 5, size: int = 6):
    """``(library, integer array of that library as NumPy, its dtype name)`` with edge values."""
    lib = draw(st.sampled_from(sorted(LIBRARIES)))
    dtype = np.dtype(draw(st.sampled_from(LIBRARIES[lib])))
    info = np.iinfo(dtype)
    edges = [0, 1, 2, size - 1, size, size + 1, -1, -2, info.max, info.min, info.max - 1, 2**24]
    values = [v for v in edges if info.min <= v <= info.max]
    n = draw(st.integers(0, shape_max))
    picked = draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
    return lib, np.array(picked, dtype=dtype)


def _float(lib: str, a: np.ndarray):
    return _to(lib, a)


def _same(spec_id: str, lib: str, call) -> None:
    """``call(kernel=...)`` gives the same answer or the same error both ways."""
    results = []
    for kernel in ("auto", "reference"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                results.append(("value", call(kernel)))
            except Exception as exc:  # the error itself is compared
                results.append(("error", (type(exc), str(exc))))
    (kind_a, a), (kind_r, r) = results
    assert kind_a == kind_r, f"{spec_id}: kernel gave {kind_a} {a!r}, reference {kind_r} {r!r}"
    if kind_a == "error":
        assert a == r
        return
    assert type(a) is type(r) and str(a.dtype) == str(r.dtype)
    got, want = to_numpy(a), to_numpy(r)
    assert got.shape == want.shape
    bound = WITHIN_BOUND.get((spec_id, lib))
    if bound is None:
        np.testing.assert_array_equal(got, want, strict=True)
    else:
        eps = EPS[str(got.dtype)]
        np.testing.assert_allclose(got, want, rtol=0, atol=bound * eps)


def _x(lib: str, shape, dtype: str):
    rng = np.random.default_rng(len(shape) + sum(shape))
    return _float(lib, rng.uniform(-0.75, 0.75, shape).astype(dtype))


def test_every_hot_spec_is_tested():
    # alibi, t5-bias and init-* have only Dask kernels: tests/test_dask_chunked.py
    assert set(HOT) == {"pe-sinusoidal", "rope", "token-lookup", "input-add", "embedding-grad",
                        "alibi", "t5-bias", "init-normal", "init-uniform",
                        "init-truncated-normal", "init-framework-defaults"}  # fmt: skip


@PARITY
@given(integers(), st.sampled_from(["float32", "float64"]), st.sampled_from([1, 6, 8]))
def test_pe_sinusoidal(drawn, dtype, d):
    lib, pos = drawn
    if lib == "jax" and dtype == "float64":
        dtype = "float32"
    p = _to(lib, pos)
    _same("pe-sinusoidal", lib, lambda k: refpe.pe_sinusoidal(p, d, dtype=dtype, kernel=k))


@PARITY
@given(integers(), st.sampled_from(["float32", "float64"]), st.sampled_from(LAYOUTS))
def test_rope(drawn, dtype, layout):
    lib, pos = drawn
    if lib == "jax" and dtype == "float64":
        dtype = "float32"
    x = _x(lib, (2, max(len(pos), 1), 4), dtype)
    p = _to(lib, pos)
    _same("rope", lib, lambda k: refpe.rope(x, p, layout=layout, kernel=k))


@PARITY
@given(integers(), st.sampled_from([None, 2.0]))
def test_token_lookup(drawn, scale):
    lib, ids = drawn
    table, i = _x(lib, (6, 3), "float32"), _to(lib, ids)
    _same("token-lookup", lib, lambda k: refpe.token_lookup(i, table, scale=scale, kernel=k))


@PARITY
@given(integers(), st.integers(0, 3))
def test_input_add(drawn, start):
    lib, ids = drawn
    table, pe = _x(lib, (6, 3), "float32"), _x(lib, (7, 3), "float32")
    i = _to(lib, ids[None, :])
    _same("input-add", lib, lambda k: refpe.input_add(i, table, pe, start=start, kernel=k))


@PARITY
@given(integers(), st.sampled_from([6, 1, True, 0]), st.sampled_from(["float32", "float64"]))
def test_embedding_grad(drawn, n, dtype):
    lib, ids = drawn
    if lib == "jax" and dtype == "float64":
        dtype = "float32"
    g, i = _x(lib, (len(ids), 3), dtype), _to(lib, ids)
    _same("embedding-grad", lib, lambda k: refpe.embedding_grad(i, g, num_embeddings=n, kernel=k))
