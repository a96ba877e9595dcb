"""The backends: availability with reasons, transfer both ways, settings restored, no leaks."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from refpe import backends as B

INSTALLED = [b.name for b in B.backends() if b.available() is None]


def test_every_library_has_a_backend():
    names = {b.name for b in B.backends()}
    assert names == {"numpy", "array_api_strict", "torch", "jax", "cupy", "dask"}


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown backend 'tensorflow'; known: numpy"):
        B.get("tensorflow")


def test_unavailable_backends_give_a_reason():
    for b in B.backends():
        reason = b.available()
        assert reason is None or (isinstance(reason, str) and reason)
    if importlib.util.find_spec("cupy") is None:
        assert B.get("cupy").available() == "cupy is not installed"


@pytest.mark.parametrize("name", INSTALLED)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_round_trip_is_exact(name, dtype):
    b = B.get(name)
    if dtype not in b.dtypes("cpu"):
        pytest.skip(f"{name} does not offer {dtype} on the CPU")
    host = np.linspace(-3, 3, 24).reshape(2, 3, 4).astype(dtype)
    with b.context(dtype):
        a = b.asarray(host, dtype, "cpu")
        back = b.to_numpy(a)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, host)


@pytest.mark.parametrize("name", INSTALLED)
def test_integer_arrays_stay_integer_and_zero_d_stays_zero_d(name):
    b = B.get(name)
    a = b.asarray(np.array(7), None, "cpu")
    back = b.to_numpy(a)
    assert back.shape == () and back.dtype.kind == "i" and int(back) == 7


@pytest.mark.parametrize("name", INSTALLED)
def test_to_host_recognises_each_library(name):
    b = B.get(name)
    a = b.asarray(np.arange(3.0), "float32", "cpu")
    out = B.to_host((a, a))
    assert isinstance(out, tuple) and all(isinstance(o, np.ndarray) for o in out)


def test_jax_x64_is_on_only_inside_the_float64_context():
    pytest.importorskip("jax")
    import jax

    b = B.get("jax")
    assert not jax.config.jax_enable_x64
    with b.context("float64"):
        assert jax.config.jax_enable_x64
        assert b.to_numpy(b.asarray(np.ones(2), "float64", "cpu")).dtype == np.float64
    assert not jax.config.jax_enable_x64
    with b.context("float32"):
        assert not jax.config.jax_enable_x64


def test_torch_tf32_is_off_inside_the_context_and_restored():
    pytest.importorskip("torch")
    import torch

    b = B.get("torch")
    before = torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision()
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        with b.context("float32"):
            assert torch.backends.cuda.matmul.allow_tf32 is False
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before[0]
        torch.set_float32_matmul_precision(before[1])
    assert "torch.backends.cuda.matmul.allow_tf32" in b.settings()


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_cuda_absence_is_reported_with_a_reason(name):
    b = B.get(name)
    if b.available():
        pytest.skip(b.available())
    missing = b.unavailable_devices()
    if any(d.startswith(("cuda", "gpu")) for d in b.devices()):
        assert missing == {}
    else:
        assert "cuda" in missing and "no" in missing["cuda"].lower()


def test_jax_compile_runs_the_same_code():
    pytest.importorskip("jax")
    b = B.get("jax")

    def f(*, x, k):
        return x * k

    out = b.compile(f)(x=b.asarray(np.arange(3.0), "float32", "cpu"), k=2)
    np.testing.assert_array_equal(b.to_numpy(out), [0.0, 2.0, 4.0])


def test_importing_backends_loads_no_array_library():
    import subprocess
    import sys

    code = (
        "import sys, refpe.backends as B; B.backends(); "
        "libs = ('torch', 'jax', 'cupy', 'dask', 'array_api_strict'); "
        "print(sorted(m for m in libs if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
