"""The fast kernels (refpe.backends.kernels) against the reference, with each spec's error model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import no_change, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe._registry import EPS
from refpe.backends import kernels as K
from refpe.conformance.adapters.kernels import KERNEL_SPECS

torch = pytest.importorskip("torch")


#: Each kernel as :func:`K.fastest` gives it: answered by the reference where it declines.
KF = SimpleNamespace(**{
    name: K.fastest(spec_id, backend) for name, (spec_id, backend) in {
        "pe_sinusoidal": ("pe-sinusoidal", "numpy"), "rope": ("rope", "numpy"),
        "rope_torch": ("rope", "torch"), "token_lookup": ("token-lookup", "numpy"),
        "token_lookup_torch": ("token-lookup", "torch"), "input_add": ("input-add", "numpy"),
        "embedding_grad": ("embedding-grad", "numpy"),
        "embedding_grad_torch": ("embedding-grad", "torch"),
    }.items()
})  # fmt: skip


#: The readable reference of each hot spec (the public functions dispatch to the kernels).
REF = SimpleNamespace(
    **{
        n: getattr(refpe, n).reference
        for n in ("pe_sinusoidal", "rope", "token_lookup", "input_add", "embedding_grad")
    }
)


def spec_error(spec_id: str, y, inputs: dict, dtype: str) -> float:
    """The normalised error of ``y`` against the float64 reference on ``inputs`` (as the suite)."""
    spec = refpe.spec(spec_id)
    host = {k: v.astype(np.float64) if getattr(v, "dtype", None) == dtype else v for k, v in
            inputs.items()}  # fmt: skip
    exact = np.asarray(spec.function(**host), dtype=np.float64)
    scale = spec.error.bound_scale(host, exact, dtype)
    diff = np.abs(to_numpy(y).astype(np.float64) - exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(diff == 0, 0.0, diff / (EPS[dtype] * scale))
    return float(err.max()) if err.size else 0.0


def test_every_kernel_is_a_subject_and_the_default():
    assert set(KERNEL_SPECS) == set(K.KERNELS)
    for s, b in KERNEL_SPECS:
        name = f"refpe.backends.kernels.{K.KERNELS[(s, b)].__name__}"
        assert name in refpe.kernels(s)
    assert K.fastest("layer-norm", "numpy") is refpe.layer_norm
    assert K.fastest("rope", "dask") is refpe.spec("rope").function
    with pytest.raises(KeyError, match="unknown spec id 'nope'"):
        K.fastest("nope")


def test_public_functions_dispatch_and_say_which_kernel_answered():
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 8)).astype(np.float32)
    fast = refpe.rope(x, 16)
    assert refpe.last_kernel() == "refpe.backends.kernels.rope"
    slow = refpe.rope(x, 16, kernel="reference")
    assert refpe.last_kernel() == "reference"
    assert spec_error("rope", fast, {"x": x, "positions": 16}, "float32") <= 2
    assert spec_error("rope", slow, {"x": x, "positions": 16}, "float32") <= 2
    # the readable reference is one module away, and is the spec's function
    assert refpe.rotary.rope is refpe.spec("rope").function is refpe.rope.reference
    np.testing.assert_array_equal(refpe.rotary.rope(x, 16), slow)
    # a call no kernel takes (an odd rotary_dim is refused by the reference) names it
    with pytest.raises(ValueError, match="rotary_dim"):
        refpe.rope(x, 16, rotary_dim=3)
    assert refpe.last_kernel() == "reference"
    # bad input a kernel accepts is refused with the reference's message, the kernel named
    with pytest.raises(IndexError, match=r"ids out of range: value -1"):
        refpe.token_lookup(np.array([0, -1]), np.zeros((4, 2), np.float32))
    assert refpe.last_kernel() == "refpe.backends.kernels.token_lookup"
    assert "kernel=" in refpe.rope.__doc__ and "Su et al." in refpe.rope.__doc__


def test_kernel_keyword_is_checked():
    with pytest.raises(ValueError, match=r"kernel must be 'auto' or 'reference', got 'fast'"):
        refpe.rope(np.zeros((2, 4)), 2, kernel="fast")


def test_register_kernel_refuses_specs_without_dispatch_and_non_callables():
    with pytest.raises(ValueError, match=r"spec_id must be one of .*, got 'layer-norm'"):
        refpe.register_kernel("layer-norm", lambda *a, **k: NotImplemented)
    with pytest.raises(TypeError, match="kernel must be callable, got 3"):
        refpe.register_kernel("rope", 3)


def test_a_registered_kernel_answers_first_it_declines_and_is_replaced_by_name():
    from refpe import _dispatch

    saved = list(_dispatch._KERNELS["token-lookup"])
    calls = []

    def declines(ids, table, **kw):
        calls.append(ids)
        return NotImplemented

    try:
        refpe.register_kernel("token-lookup", declines, "test.declines")
        refpe.register_kernel("token-lookup", declines, "test.declines")
        assert refpe.kernels("token-lookup").count("test.declines") == 1
        y = refpe.token_lookup(np.array([1]), np.eye(3, dtype=np.float32))
        assert refpe.last_kernel() != "test.declines" and not calls  # tried last: never reached
        _dispatch._KERNELS["token-lookup"].insert(0, _dispatch._KERNELS["token-lookup"].pop())
        y = refpe.token_lookup(np.array([1]), np.eye(3, dtype=np.float32))
        assert len(calls) == 1 and refpe.last_kernel() == "refpe.backends.kernels.token_lookup"
        np.testing.assert_array_equal(y, [[0, 1, 0]])
    finally:
        _dispatch._KERNELS["token-lookup"][:] = saved


def test_refpe_kernels_reference_turns_kernels_off(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import numpy as np, refpe; refpe.rope(np.ones((4, 8), np.float32), 4);"
        "print(refpe.last_kernel(), refpe.kernels('rope'))"
    )
    env = {**os.environ, "REFPE_KERNELS": "reference"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout  # fmt: skip
    assert out.split() == ["reference", "()"]


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
    got = KF.pe_sinusoidal(n, dtype="float32", **kw)
    want = REF.pe_sinusoidal(n, dtype="float64", **kw)
    # rounding a value of magnitude <= 1 once: at most eps32 / 4, plus the float64 reference's
    # own 2 eps64 (1 + |p w|) <= 2**-52 * 4e4, far below that
    assert np.abs(got.astype(np.float64) - want).max() <= EPS["float32"] / 4 + 2e-11
    assert got.dtype == np.float32 and got.shape == (n, kw["d"])


@pytest.mark.xfail(
    strict=True,
    reason="the NumPy kernel still forms p*omega in float64; the reference reduces the phase "
    "exactly (refpe._precision.exact_sin_cos_table is the kernel's way back to bit-identity)",
)
def test_sinusoid_float64_is_the_reference_bit_for_bit():
    got = KF.pe_sinusoidal(777, 30, dtype="float64", offset=3)
    np.testing.assert_array_equal(got, REF.pe_sinusoidal(777, 30, dtype="float64", offset=3))


def test_sinusoid_table_is_cached_and_read_only():
    a = KF.pe_sinusoidal(100, 16, dtype="float32")
    assert a is KF.pe_sinusoidal(100, 16, dtype=np.float32)
    assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a[0, 0] = 1.0
    assert KF.pe_sinusoidal(100, 16, dtype="float32", base=100.0) is not a


def test_sinusoid_positions_array_is_a_lookup_in_the_table():
    pos = np.array([[0, 5, 2047], [9, 9, 1]])
    got = KF.pe_sinusoidal(pos, 24, dtype="float32")
    assert got.flags.writeable and got.shape == (2, 3, 24)
    np.testing.assert_array_equal(got, KF.pe_sinusoidal(2048, 24, dtype="float32")[pos])
    with no_change(pos):
        KF.pe_sinusoidal(pos, 24, dtype="float32", offset=1)


def test_sinusoid_outside_the_cache_goes_to_the_reference():
    pos = np.array([-3, 0, 2**30])
    np.testing.assert_array_equal(
        KF.pe_sinusoidal(pos, 8, dtype="float32"), REF.pe_sinusoidal(pos, 8, dtype="float32")
    )


def test_sinusoid_bad_input_raises_like_the_reference():
    with pytest.raises(ValueError, match="d must be positive, got 0"):
        KF.pe_sinusoidal(3, 0)
    with pytest.raises(ValueError, match="layout must be one of"):
        KF.pe_sinusoidal(3, 4, layout="x")
    with pytest.raises(TypeError, match="positions must be an integer array"):
        KF.pe_sinusoidal(np.array([0.5]), 4)


def test_sinusoid_torch_table_matches_numpy():
    import array_api_compat.torch as txp

    t = KF.pe_sinusoidal(300, 12, dtype=torch.float32, xp=txp)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_array_equal(t.numpy(), KF.pe_sinusoidal(300, 12, dtype="float32"))
    rows = KF.pe_sinusoidal(torch.tensor([[3, 1]]), 12, dtype="float32")
    np.testing.assert_array_equal(
        rows.numpy(), KF.pe_sinusoidal(300, 12, dtype="float32")[[[3, 1]]]
    )


def test_sinusoid_each_library_gets_its_kernel_or_the_reference(xp):
    pos = xp_asarray(xp, [0, 3, 7], dtype=xp.int32)
    got = refpe.pe_sinusoidal(pos, 6, dtype="float32")
    name = refpe.last_kernel()
    assert type(got) is type(pos)
    if xp.__name__.endswith(("numpy", "torch", "jax.numpy")):
        assert name == "refpe.backends.kernels.pe_sinusoidal"
        # the exact value rounded once (the float32-only reference is within 1 eps32)
        exact = REF.pe_sinusoidal(np.array([0, 3, 7]), 6)
        assert np.abs(to_numpy(got) - exact).max() <= EPS["float32"] / 4 + 1e-12
    else:
        assert name == "reference"
        want = REF.pe_sinusoidal(pos, 6, dtype="float32")
        np.testing.assert_array_equal(to_numpy(got), to_numpy(want))


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


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", ROPE_CASES)
def test_rope_within_the_error_model(kw, dtype, monkeypatch):
    x = _x((2, 3, 700, 16), dtype)
    for positions in (700, np.random.default_rng(1).integers(0, 5000, 700)):
        with no_change(x):
            y = KF.rope(x, positions, **kw)
        assert y.dtype == x.dtype and y.shape == x.shape
        assert spec_error("rope", y, {"x": x, "positions": positions, **kw}, dtype) <= 2
        tpos = positions if isinstance(positions, int) else torch.from_numpy(positions)
        for device_path in (False, True):  # True: the path other devices take, on the CPU
            monkeypatch.setattr(K, "_ON_DEVICE_PATH", device_path)
            yt = K.rope_torch(torch.from_numpy(x), tpos, **kw)
            assert spec_error("rope", yt, {"x": x, "positions": positions, **kw}, dtype) <= 2


def test_rope_untouched_dims_are_bit_exact():
    x = _x((3, 50, 12), "float32")
    for layout in ("half", "interleaved"):
        y = KF.rope(x, 50, layout=layout, rotary_dim=4)
        np.testing.assert_array_equal(y[..., 4:], x[..., 4:])


def test_rope_torch_in_place():
    x = _x((2, 4, 64, 8), "float32")
    want = KF.rope(x, 64)
    t = torch.from_numpy(x.copy())
    assert KF.rope_torch(t, 64, out=t) is t
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
    got = [KF.rope(x, 40, **kw), K.rope_torch(torch.from_numpy(x), 40, **kw)]
    monkeypatch.setattr(K, "_ON_DEVICE_PATH", True)
    got.append(K.rope_torch(torch.from_numpy(x), 40, **kw))
    for y in map(to_numpy, got):
        np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
        np.testing.assert_array_equal(np.isinf(y), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.sign(y[finite]), np.sign(want[finite]))


def test_rope_torch_requiring_grad_goes_to_the_reference():
    x = torch.from_numpy(_x((2, 6, 8), "float32")).requires_grad_()
    assert K.rope_torch(x, 6) is NotImplemented
    refpe.rope(x, 6).sum().backward()
    assert refpe.last_kernel() == "reference" and x.grad is not None


def test_rope_other_shapes_go_to_the_reference():
    x = _x((2, 1, 5, 4), "float32")
    pos = np.array([[[0, 1, 2, 3, 4]], [[7, 8, 9, 10, 11]]])
    np.testing.assert_array_equal(KF.rope(x, pos), REF.rope(x, pos))
    dyn = {"rope_type": "dynamic", "factor": 2.0, "original_max_position_embeddings": 4}
    np.testing.assert_array_equal(KF.rope(x, 5, scaling=dyn), REF.rope(x, 5, scaling=dyn))


def test_rope_bad_input_raises_like_the_reference():
    x = _x((2, 5, 4), "float32")
    with pytest.raises(ValueError, match=r"positions of shape \(3,\) do not broadcast"):
        KF.rope(x, np.arange(3))
    with pytest.raises(ValueError, match="layout must be one of"):
        KF.rope(x, 5, layout="x")
    with pytest.raises(ValueError, match="layout must be one of"):
        KF.rope_torch(torch.from_numpy(x), 5, layout="x")


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
    y = KF.rope(x, pos, layout=layout)
    assert spec_error("rope", y, {"x": x, "positions": pos, "layout": layout}, "float32") <= 2


# --- token-lookup, input-add ------------------------------------------------------------------


def test_token_lookup_is_the_reference():
    table = _x((50, 6), "float32")
    ids = np.random.default_rng(2).integers(0, 50, (4, 9))
    np.testing.assert_array_equal(KF.token_lookup(ids, table), REF.token_lookup(ids, table))
    got = KF.token_lookup(ids, table, scale=math.sqrt(6))
    assert (
        spec_error("token-lookup", got, {"ids": ids, "table": table, "scale": 6**0.5}, "float32")
        <= 1
    )
    t = KF.token_lookup_torch(torch.from_numpy(ids), torch.from_numpy(table), scale=2.5)
    assert spec_error("token-lookup", t, {"ids": ids, "table": table, "scale": 2.5}, "float32") <= 1
    assert KF.token_lookup(np.zeros((0, 3), dtype=np.int64), table).shape == (0, 3, 6)


@pytest.mark.parametrize("name", ["token_lookup", "token_lookup_torch"])
def test_token_lookup_refuses_ids_out_of_range(name):
    fn = getattr(KF, name)
    table = _x((5, 3), "float32")
    wrap = (lambda a: a) if name == "token_lookup" else torch.from_numpy
    with pytest.raises(
        IndexError, match=r"ids out of range: value 7 at flat index 3 is not in \[0, 5\)"
    ):
        fn(wrap(np.array([0, 1, 2, 7])), wrap(table))
    with pytest.raises(IndexError, match="value -1 at flat index 0"):
        fn(wrap(np.array([-1, 2])), wrap(table))
    with pytest.raises(TypeError, match="ids must be an integer array"):
        fn(wrap(np.array([0.0])), wrap(table))
    with pytest.raises(ValueError, match="scale must be a finite real number, got True"):
        fn(wrap(np.array([0])), wrap(table), scale=True)


def test_input_add_within_the_error_model():
    table, pe = _x((40, 8), "float32"), _x((30, 8), "float32", seed=1)
    ids = np.random.default_rng(3).integers(0, 40, (3, 12))
    for kw in (
        {},
        {"scale": math.sqrt(8)},
        {"start": 5},
        {"positions": np.arange(12)[::-1].copy()},
    ):
        inputs = {"ids": ids, "table": table, "pe_table": pe, **kw}
        with no_change(ids, table, pe):
            got = KF.input_add(**inputs)
        assert got.dtype == np.float32 and got.shape == (3, 12, 8)
        assert spec_error("input-add", got, inputs, "float32") <= 1.5


def test_input_add_torch_within_the_error_model_and_declines_the_rest():
    table, pe = _x((40, 8), "float32"), _x((30, 8), "float32", seed=1)
    ids = np.random.default_rng(3).integers(0, 40, (3, 12))
    t = [torch.from_numpy(a) for a in (ids, table, pe)]
    for kw in ({}, {"scale": math.sqrt(8)}, {"start": 5}):
        inputs = {"ids": ids, "table": table, "pe_table": pe, **kw}
        with no_change(*t):
            got = K.input_add_torch(*t, **kw)
        assert got.dtype == torch.float32 and tuple(got.shape) == (3, 12, 8)
        assert spec_error("input-add", got, inputs, "float32") <= 1.5
    # what it has no fast path for goes to the reference, which refuses bad input
    assert K.input_add_torch(*t, positions=torch.arange(12)) is NotImplemented
    assert K.input_add_torch(*t, start=20) is NotImplemented
    assert K.input_add_torch(t[0] + 40, *t[1:]) is NotImplemented
    with pytest.raises(IndexError, match=r"ids out of range: value \d+ at flat index 0"):
        refpe.input_add(t[0] + 40, *t[1:])
    assert refpe.last_kernel() == "reference"


def test_kernels_decline_what_they_do_not_accelerate():
    x = np.ones((4, 8), np.float32)
    dynamic = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 2}
    assert K.rope(x, 4, scaling=dynamic) is NotImplemented
    assert K.rope(torch.from_numpy(x), 4) is NotImplemented
    assert K.rope_torch(x, 4) is NotImplemented
    assert K.token_lookup(np.array([0]), np.eye(2), padding_idx=0) is NotImplemented
    assert K.pe_sinusoidal(np.array([0.5]), 4) is NotImplemented
    assert K.embedding_grad_torch(np.array([0]), np.ones((1, 2)), 2) is NotImplemented
    # with out=, a declined rope writes the reference's result there
    out = np.empty_like(x)
    assert K.rope(x, 4, scaling=dynamic, out=out) is out
    np.testing.assert_array_equal(out, REF.rope(x, 4, scaling=dynamic))


def test_input_add_refuses_positions_past_the_table():
    table, pe = _x((40, 8), "float32"), _x((10, 8), "float32")
    ids = np.zeros((2, 12), dtype=np.int64)
    with pytest.raises(IndexError, match="positions out of range of pe_table: value 10"):
        KF.input_add(ids, table, pe)
    with pytest.raises(IndexError, match="ids out of range: value 40"):
        KF.input_add(ids + 40, table, pe[:, :8], positions=np.zeros(12, dtype=np.int64))


# --- embedding-grad ---------------------------------------------------------------------------


def _grad_case(seed=0, n=40, N=3000, d=5, dtype="float32"):
    g = np.random.default_rng(seed)
    ids = (g.zipf(1.3, N) % n).reshape(30, -1)
    return ids, g.standard_normal((*ids.shape, d)).astype(dtype) * 10.0 ** g.integers(
        -3, 3, (*ids.shape, 1)
    )


@pytest.mark.parametrize(
    "kw",
    [{}, {"scale_grad_by_freq": True}, {"padding_idx": -1}, {"frozen": np.arange(40) % 3 == 0}],
)
def test_embedding_grad_is_the_float64_sum_rounded_once(kw):
    ids, g = _grad_case()
    assert np.bincount(ids.ravel()).max() > K.SHORT  # long segments and short ones
    with no_change(ids, g):
        got = KF.embedding_grad(ids, g, 40, **kw)
    inputs = {"ids": ids, "grad_out": g, "num_embeddings": 40, **kw}
    # one rounding of a float64 sum: eps/2 of |sum| <= eps/2 of the sum of |terms|
    assert spec_error("embedding-grad", got, inputs, "float32") <= 0.5 + 1e-6


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kw",
    [{}, {"scale_grad_by_freq": True}, {"padding_idx": -1}, {"frozen": np.arange(40) % 3 == 0}],
)
def test_embedding_grad_torch_sums_in_order_within_the_error_model(kw, dtype):
    ids, g = _grad_case()
    g = g.astype(dtype)
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    t_ids, t_g = torch.from_numpy(ids), torch.from_numpy(g)
    with no_change(t_ids, t_g):
        got = refpe.embedding_grad(t_ids, t_g, 40, **tkw)
    assert refpe.last_kernel() == "refpe.backends.kernels.embedding_grad_torch"
    assert got.dtype == t_g.dtype and tuple(got.shape) == (40, 5)
    inputs = {"ids": ids, "grad_out": g, "num_embeddings": 40, **kw}
    assert spec_error("embedding-grad", got, inputs, dtype) <= 2
    # the deterministic bound of a recursive sum: (n_v - 1) u sum|g| (+ one rounding to scale)
    exact = REF.embedding_grad(ids, g.astype(np.float64), 40, **kw)
    n = np.bincount(ids.ravel(), minlength=40)[:, None]
    absum = np.zeros((40, 5))
    np.add.at(absum, ids.ravel(), np.abs(g.reshape(-1, 5).astype(np.float64)))
    if kw.get("scale_grad_by_freq"):
        absum /= np.maximum(n, 1)
    u = EPS[dtype] / 2
    assert (np.abs(got.numpy() - exact) <= (np.maximum(n - 1, 0) + 1) * u * absum).all()


def test_embedding_grad_float64_and_empty():
    ids, g = _grad_case(seed=1, dtype="float64")
    got = KF.embedding_grad(ids, g, 40)
    assert (
        spec_error(
            "embedding-grad", got, {"ids": ids, "grad_out": g, "num_embeddings": 40}, "float64"
        )
        <= 2
    )
    assert not KF.embedding_grad(np.zeros(0, dtype=np.int64), np.zeros((0, 3)), 4).any()


def test_embedding_grad_bad_input_raises_like_the_reference():
    g = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(
        IndexError, match=r"ids out of range: value 9 at flat index 2 is not in \[0, 4\)"
    ):
        KF.embedding_grad(np.array([0, 1, 9]), g, 4)
    with pytest.raises(ValueError, match=r"grad_out must have shape \(2,\) \+ \(d,\)"):
        KF.embedding_grad(np.array([0, 1]), g, 4)
    with pytest.raises(IndexError, match="padding_idx out of range"):
        KF.embedding_grad(np.array([0, 1, 2]), g, 4, padding_idx=4)
    with pytest.raises(ValueError, match="num_embeddings must be positive, got 0"):
        KF.embedding_grad_torch(torch.tensor([0]), torch.ones(1, 2), 0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 30), N=st.integers(1, 300), d=st.integers(1, 4), seed=st.integers(0, 99))
def test_embedding_grad_property(n, N, d, seed):
    g = np.random.default_rng(seed)
    ids = g.integers(0, n, N) if seed % 2 else np.minimum(g.zipf(1.5, N) - 1, n - 1)
    grad = g.standard_normal((N, d)).astype(np.float32)
    got = KF.embedding_grad(ids, grad, n)
    inputs = {"ids": ids, "grad_out": grad, "num_embeddings": n}
    assert spec_error("embedding-grad", got, inputs, "float32") <= 0.5 + 1e-6


def test_rope_numpy_out_buffer_and_in_place():
    x = _x((2, 3, 40, 8), "float32")
    want = KF.rope(x, 40)
    buf = np.empty_like(x)
    assert KF.rope(x, 40, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    y = x.copy()
    assert KF.rope(y, 40, out=y) is y
    np.testing.assert_array_equal(y, want)
    with pytest.raises(
        ValueError, match=r"out must be C-contiguous with x's shape \(2, 3, 40, 8\)"
    ):
        KF.rope(x, 40, out=np.empty((2, 3, 40, 4), dtype=np.float32))


def test_large_tables_are_not_cached(monkeypatch):
    monkeypatch.setattr(K, "CACHE_ELEMENTS", 64)
    a = KF.pe_sinusoidal(50, 8, dtype="float32")
    assert a is not KF.pe_sinusoidal(50, 8, dtype="float32") and a.flags.writeable
    assert np.abs(a - REF.pe_sinusoidal(50, 8)).max() <= EPS["float32"] / 4 + 1e-15
    x = _x((2, 5, 8), "float32")
    pos = np.array([0, 3, 2**23, 7, 9])
    assert spec_error("rope", KF.rope(x, pos), {"x": x, "positions": pos}, "float32") <= 2


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
            assert refpe.last_kernel() == "refpe.backends.kernels.rope_jax"
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
    assert K.rope_jax(_x((3, 8, 4), "float32"), 8) is NotImplemented  # NumPy: not its arrays


def test_pe_sinusoidal_jax_is_the_cached_table_on_the_device():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    t = refpe.pe_sinusoidal(300, 12, xp=jnp)
    assert refpe.last_kernel() == "refpe.backends.kernels.pe_sinusoidal"
    assert t.dtype == jnp.float32 and t is refpe.pe_sinusoidal(300, 12, xp=jnp)  # immutable
    np.testing.assert_array_equal(np.asarray(t), KF.pe_sinusoidal(300, 12, dtype="float32"))
    rows = refpe.pe_sinusoidal(jnp.asarray([[3, 1]]), 12)
    np.testing.assert_array_equal(np.asarray(rows), np.asarray(t)[[[3, 1]]])
    # float64 without x64: the reference answers (and refuses); with it, the kernel
    with pytest.raises(ValueError, match="dtype 'float64' is not available"):
        refpe.pe_sinusoidal(10, 4, xp=jnp, dtype="float64")
    with jax.enable_x64(True):
        t64 = refpe.pe_sinusoidal(10, 4, xp=jnp, dtype="float64")
        assert t64.dtype == jnp.float64


@pytest.mark.xfail(
    strict=True,
    reason="the kernel's float64 table forms p*omega in float64; the reference reduces the phase "
    "exactly (refpe._precision.exact_sin_cos_table is the kernel's way back to bit-identity)",
)
def test_pe_sinusoidal_jax_float64_kernel_is_the_reference():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        t64 = refpe.pe_sinusoidal(10, 4, xp=jax.numpy, dtype="float64")
    np.testing.assert_array_equal(np.asarray(t64), REF.pe_sinusoidal(10, 4))


def test_conformance_reports_which_kernel_answered(tmp_path, capsys):
    import json

    from refpe.cli import main

    path = tmp_path / "k.json"
    argv = ["conformance", "--subject", "kernel:rope:numpy", "--dtype", "float32",
            "--no-progress", "--json", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = json.loads(path.read_text())["results"]
    fast = [r for r in rows if r["kernel"] == "refpe.backends.kernels.rope"]
    assert fast and all(r["verdict"] == "pass" for r in rows)
    assert {r["kernel"] for r in rows} == {"refpe.backends.kernels.rope", "reference"}
    assert f"({len(fast)} by a kernel)" in out


def test_a_broken_kernel_plugin_warns_and_the_others_load(monkeypatch):
    from refpe import _dispatch

    class Point:
        def __init__(self, name, fn):
            self.name, self.value, self.fn = name, f"pkg:{name}", fn

        def load(self):
            return self.fn

    def broken():
        raise ImportError("no module named pkg")

    saved = {k: list(v) for k, v in _dispatch._KERNELS.items()}
    points = [Point("broken", broken), Point("builtin", K.register)]
    monkeypatch.setattr(_dispatch, "entry_points", lambda group: points)
    monkeypatch.setattr(_dispatch, "_LOADED", [])
    try:
        for v in _dispatch._KERNELS.values():
            v.clear()
        with pytest.warns(RuntimeWarning, match=r"entry point 'broken' \(pkg:broken\) were not"):
            refpe.rope(np.ones((4, 8), np.float32), 4)
        assert refpe.last_kernel() == "refpe.backends.kernels.rope"
    finally:
        for k, v in saved.items():
            _dispatch._KERNELS[k][:] = v


def test_kernels_never_import_a_library_that_is_not_loaded(tmp_path):
    import subprocess
    import sys

    # torch and jax made unimportable: every hot function still answers on NumPy (kernel or
    # reference) and neither library is imported by trying a kernel
    code = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "jax", "jaxlib"):
            raise ImportError(f"{name} is absent here")
sys.meta_path.insert(0, Absent())
import numpy as np, refpe
x16 = np.ones((2, 4, 8), np.float16)
refpe.rope(x16, 4); assert refpe.last_kernel() == "reference"
refpe.rope(x16.astype(np.float32), 4); assert refpe.last_kernel().endswith(".rope")
refpe.pe_sinusoidal(np.array([1, 2]), 8, dtype="float16")
refpe.token_lookup(np.array([0]), np.eye(2), padding_idx=0)
refpe.input_add(np.array([[0]]), np.eye(2), np.eye(2), combine="concat")
refpe.embedding_grad(np.array([0]), np.ones((1, 2), np.float16), 2)
assert not {"torch", "jax"} & set(sys.modules)
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
