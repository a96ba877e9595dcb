"""The CuPy kernels (``refpe.kernels.cupy``): import-safe without CuPy; their host-side logic
and their CUDA C run on the CPU through a fake CuPy (``fake_cupy``: the same source compiled
by the host C++ compiler), judged by the conformance suite; on a CUDA device, the real thing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import fake_cupy
import numpy as np
import pytest

import refpe
from refpe.kernels import HOT
from refpe.kernels import _cupy_source as KS
from refpe.kernels import cupy as KC

#: The hot specs whose only kernel is Dask's (blocks of a bias too large for one array).
DASK_ONLY = {
    "alibi", "t5-bias", "init-normal", "init-uniform", "init-truncated-normal",
    "init-framework-defaults",
}  # fmt: skip

needs_compiler = pytest.mark.skipif(fake_cupy.COMPILER is None, reason="no host C++ compiler")


def _cuda_reason() -> str | None:
    from refpe.backends import get

    return get("cupy").available()


@pytest.fixture
def cp(monkeypatch):
    """The fake CuPy in ``sys.modules`` (the kernels' caches emptied around it)."""
    fake = fake_cupy.module()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    _clear()
    yield fake
    _clear()


def _clear():
    KC._COMPILED.clear()
    KC._device_rope.cache_clear()
    KC._device_table.cache_clear()


def test_the_module_imports_without_cupy():
    code = (
        "import sys; from refpe.kernels import cupy as k; k.source('float32'); "
        "print('cupy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_hot_spec_has_a_cupy_kernel_tried_for_cupy_arrays_only():
    for spec_id, hot in HOT.items():
        if spec_id in DASK_ONLY:
            assert hot.libraries == ("dask",)
            continue
        assert "cupy" in hot.libraries
        assert any(".cupy." in name for name in refpe.kernels(spec_id))
    x = np.ones((2, 4, 8), np.float32)
    refpe.rope(x, 4)
    assert refpe.last_kernel() == "refpe.kernels.rotary.rope"


def test_source_is_made_for_float32_and_float64_only():
    for dtype, word in (("float32", "__fmul_rn"), ("float64", "__dmul_rn")):
        code = KC.source(dtype)
        assert "$" not in code and word in code
    with pytest.raises(ValueError, match="dtype must be one of float32, float64, got 'float16'"):
        KC.source("float16")


@needs_compiler
def test_the_suite_passes_every_cupy_kernel_on_the_fake(cp):
    from refpe.conformance import Plan, run

    results = run(Plan(backends=("cupy",), subjects=("cupy",)))
    bad = [(r.subject, r.case, r.dtype, r.reason) for r in results if r.verdict != "pass"]
    assert not bad, bad[:5]
    answered = {r.spec for r in results if r.kernel.startswith("refpe.kernels.cupy.")}
    assert answered == set(HOT) - DASK_ONLY


@needs_compiler
@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_rope_kernel_matches_the_reference_and_rotates_in_place(cp, layout):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 12)).astype(np.float32)
    want = refpe.rope(x.astype(np.float64), 7, layout=layout, rotary_dim=8, kernel="reference")
    y = refpe.rope(cp.asarray(x), 7, layout=layout, rotary_dim=8)
    assert refpe.last_kernel() == "refpe.kernels.cupy.rope_cupy"
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(y.get(), want, rtol=0, atol=4e-7 * 4)
    np.testing.assert_array_equal(y.get()[..., 8:], x[..., 8:])  # the tail copied exactly
    inplace = cp.asarray(x.copy())
    assert KC.rope_cupy(inplace, 7, layout=layout, rotary_dim=8, out=inplace) is inplace
    np.testing.assert_array_equal(inplace.get(), y.get())
    pos = cp.asarray(np.array([5, 0, 3, 1, 1, 2, 9]))
    want = refpe.rope(x.astype(np.float64), pos.get(), layout=layout, kernel="reference")
    np.testing.assert_allclose(KC.rope_cupy(cp.asarray(x), pos, layout=layout).get(), want,
                               rtol=0, atol=2e-6)  # fmt: skip


@needs_compiler
def test_rope_kernel_declines_and_checks_out(cp):
    x = cp.asarray(np.ones((2, 4, 6), np.float16))
    assert KC.rope_cupy(x, 4) is NotImplemented
    assert KC.rope_cupy(np.ones((2, 4, 6), np.float32), 4) is NotImplemented  # not CuPy's
    x32 = cp.asarray(np.ones((2, 4, 6), np.float32))
    assert KC.rope_cupy(x32, 3) is NotImplemented  # positions != T: the reference says why
    with pytest.raises(ValueError, match=r"out must be a C-contiguous CuPy array"):
        KC.rope_cupy(x32, 4, out=cp.asarray(np.ones((2, 4, 6), np.float64)))


@needs_compiler
def test_sinusoid_kernel_is_the_host_kernels_table(cp):
    from refpe.kernels.positional import sinusoid_table

    for layout in ("interleaved", "concatenated"):
        for d in (7, 12):
            key = (200, d, 10000.0, layout, "transformer", 5, "float32")
            got = KC._build_table(cp, key).get()
            np.testing.assert_array_equal(got, sinusoid_table(*key))
    t = refpe.pe_sinusoidal(64, 8, dtype="float32", xp=cp)
    t[0, 0] = 99  # a copy: the cached table stays exact
    assert refpe.pe_sinusoidal(64, 8, dtype="float32", xp=cp)[0, 0] == 0
    assert KC.pe_sinusoidal_cupy(64, 8, dtype="float16", xp=cp) is NotImplemented
    assert KC.pe_sinusoidal_cupy(64, 8, dtype="float32", xp=np) is NotImplemented


@needs_compiler
def test_gathers_and_gradient_refuse_bad_ids_as_the_reference(cp):
    table = cp.asarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    with pytest.raises(IndexError, match="ids out of range"):
        refpe.token_lookup(cp.asarray(np.array([0, 4])), table)
    g = cp.asarray(np.ones((3, 2), np.float32))
    with pytest.raises(IndexError, match="ids out of range"):
        KC.embedding_grad_cupy(cp.asarray(np.array([0, 1, -1])), g, 4)
    got = KC.embedding_grad_cupy(cp.asarray(np.array([2, 0, 2])), g, 4, padding_idx=0)
    np.testing.assert_array_equal(got.get(), [[0, 0], [0, 0], [2, 2], [0, 0]])
    mean = KC.embedding_grad_cupy(cp.asarray(np.array([2, 0, 2])), g, 4, scale_grad_by_freq=True)
    np.testing.assert_array_equal(mean.get()[[0, 2]], [[1, 1], [1, 1]])


@needs_compiler
def test_the_fake_catches_a_wrong_argument_type(cp):
    kernel = cp.RawKernel(KC.source("float32"), "lookup_f32")
    ids, table = cp.asarray(np.zeros(2, np.int32)), cp.asarray(np.zeros((2, 2), np.float32))
    out = cp.asarray(np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="argument 0"):  # int32 ids where long long* is declared
        kernel(
            (1,), (256,), (ids, table, out, np.int64(2), np.int64(2), np.float32(1), np.int32(0))
        )


@pytest.mark.skipif(_cuda_reason() is not None, reason=f"CuPy on CUDA: {_cuda_reason()}")
def test_the_suite_passes_every_cupy_kernel_on_the_device():  # pragma: no cover (GPU only)
    assert importlib.util.find_spec("cupy") is not None
    from refpe.conformance import Plan, run

    results = run(Plan(backends=("cupy",), subjects=("cupy",)))
    bad = [(r.subject, r.case, r.dtype, r.reason) for r in results if r.verdict != "pass"]
    assert not bad, bad[:5]


@needs_compiler
def test_a_planted_mistake_in_the_cuda_source_fails_the_suite(cp, monkeypatch):
    from refpe.conformance import Plan, run

    wrong = KS.SOURCE.replace("y[base + h + j] = $ADD(", "y[base + h + j] = $SUB(", 1)
    assert wrong != KS.SOURCE
    monkeypatch.setattr(KS, "SOURCE", wrong)
    results = run(Plan(specs=("rope",), backends=("cupy",), subjects=("cupy",)))
    assert any(r.verdict == "fail" for r in results)
