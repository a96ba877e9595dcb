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
        back = b.to_host(a)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, host)


@pytest.mark.parametrize("name", INSTALLED)
def test_integer_arrays_stay_integer_and_zero_d_stays_zero_d(name):
    b = B.get(name)
    a = b.asarray(np.array(7), None, "cpu")
    back = b.to_host(a)
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
        assert b.to_host(b.asarray(np.ones(2), "float64", "cpu")).dtype == np.float64
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
    np.testing.assert_array_equal(b.to_host(out), [0.0, 2.0, 4.0])


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


# --- each backend owns its arrays, and `call` is the one way code runs on it ---

ARRAY_MAKERS = {
    "numpy": lambda a: np.asarray(a),
    "array_api_strict": lambda a: __import__("array_api_strict").asarray(a),
    "torch": lambda a: __import__("torch").from_numpy(np.array(a)),
    "jax": lambda a: __import__("jax.numpy").numpy.asarray(a),
    "dask": lambda a: __import__("dask.array").array.from_array(np.asarray(a)),
    "cupy": lambda a: __import__("cupy").asarray(a),
}


@pytest.mark.parametrize("name", INSTALLED)
def test_each_backend_owns_its_arrays_and_no_other(name):
    """Arrays made with each library's own call, not through the backend under test."""
    a = ARRAY_MAKERS[name](np.arange(6.0, dtype=np.float32).reshape(2, 3))
    owners = [b.name for b in B.backends() if b.name in INSTALLED and b.owns(a)]
    assert owners == [name]
    assert not B.get(name).owns(3.0) and not B.get(name).owns([1.0, 2.0])


@pytest.mark.parametrize("name", INSTALLED)
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
def test_to_host_of_asarray_gives_the_host_values_back(name, dtype):
    b = B.get(name)
    if dtype not in b.dtypes("cpu"):
        pytest.skip(f"{name} does not offer {dtype} on the CPU")
    from refpe.conformance.compare import host_dtype

    host = (np.linspace(-3, 3, 24).reshape(2, 3, 4) * np.pi).astype(host_dtype(dtype))
    with b.context(dtype):
        a = b.asarray(host, dtype, "cpu")
        assert b.owns(a)
        back = b.to_host(a)
    # NumPy has no bfloat16 of its own: it comes back widened, exactly, to float32.
    assert back.dtype == (np.float32 if dtype == "bfloat16" else np.dtype(dtype))
    np.testing.assert_array_equal(back, host.astype(back.dtype))


def _by_hand(name, fn, host, dtype, creates):
    """``fn`` on ``name``'s arrays, made and read back with the library's own calls (the way
    each caller of the suite did it before :meth:`Backend.call`)."""
    import contextlib

    make = ARRAY_MAKERS[name]
    arrays = {k: v for k, v in host.items() if isinstance(v, np.ndarray)}
    wide = {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays.items()}
    kwargs = {**host, **{k: make(v) for k, v in wide.items()}}
    if creates:
        kwargs.update(dtype=dtype, xp=B.get(name).namespace(), device=None)
    x64 = contextlib.nullcontext()
    if name == "jax":
        import jax

        x64 = jax.enable_x64(dtype == "float64")
    with x64:
        out = fn(**kwargs)
    items = out if isinstance(out, tuple) else (out,)
    if name == "torch":
        items = tuple(o.detach().numpy() if hasattr(o, "detach") else o for o in items)
    elif name == "dask":
        items = tuple(o.compute() if hasattr(o, "compute") else o for o in items)
    elif name == "array_api_strict":
        items = tuple(np.from_dlpack(o) if hasattr(o, "__dlpack__") else o for o in items)
    return tuple(np.asarray(o) for o in items)


def _one_case_per_family():
    import refpe

    seen, chosen = set(), []
    for s in refpe.specs():
        family = s.function.__module__
        valid = [c for c in s.cases if c.raises is None]
        if family not in seen and valid and "float32" in s.dtypes:
            seen.add(family)
            chosen.append(pytest.param(s.id, valid[0].name, id=f"{s.id}:{valid[0].name}"))
    return chosen


@pytest.mark.parametrize("name", [n for n in INSTALLED if n != "cupy"])
@pytest.mark.parametrize(("spec_id", "case_name"), _one_case_per_family())
def test_call_gives_what_the_library_gives_by_hand(name, spec_id, case_name):
    import refpe
    from refpe.conformance.inputs import cast_inputs, host_inputs

    spec = refpe.spec(spec_id)
    case = next(c for c in spec.cases if c.name == case_name)
    host = cast_inputs(host_inputs(case, "float32"), "float32")
    b = B.get(name)
    got = b.call(spec.function, host, "float32", creates=spec.creates)
    want = _by_hand(name, spec.function, host, "float32", spec.creates)
    got = got if isinstance(got, tuple) else (got,)
    assert all(isinstance(g, np.ndarray) for g in got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", [n for n in INSTALLED if n != "cupy"])
def test_call_passes_only_accepted_keywords_and_the_dtype_object_when_asked(name):
    b = B.get(name)
    seen = {}

    def table(n, dtype, xp):
        seen.update(dtype=dtype, xp=xp)
        return xp.ones((n,), dtype=dtype)

    accepts = {"n", "dtype", "xp"}
    out = b.call(table, {"n": 3}, "float32", creates=True, accepts=accepts, dtype_object=True)
    assert seen["dtype"] == b.namespace().float32 and seen["xp"] is b.namespace()
    np.testing.assert_array_equal(out, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="device"):
        b.call(table, {"n": 3}, "float32", creates=True)


@pytest.mark.parametrize("name", [n for n in INSTALLED if n != "cupy"])
def test_call_moves_float_arrays_in_the_case_dtype_and_ints_as_ints(name):
    b = B.get(name)
    if "float64" not in b.dtypes("cpu"):
        pytest.skip(f"{name} has no float64")
    dtypes = {}

    def probe(x, ids):
        dtypes.update(x=str(x.dtype), ids=str(ids.dtype))
        return x, ids

    x, ids = b.call(probe, {"x": np.ones(2), "ids": np.array([1, 2])}, "float64")
    assert dtypes["x"].endswith("float64") and "int" in dtypes["ids"]
    assert x.dtype == np.float64 and ids.dtype.kind == "i"
    x, _ = b.call(probe, {"x": np.ones(2), "ids": np.array([1, 2])}, "float32")
    assert x.dtype == np.float32


def test_torch_call_takes_bfloat16_host_arrays():
    pytest.importorskip("torch")
    import ml_dtypes

    host = np.array([1.5, -2.25, 3.0], dtype=ml_dtypes.bfloat16)
    out = B.get("torch").call(lambda x: x * 2, {"x": host}, "bfloat16")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [3.0, -4.5, 6.0])


def test_jax_call_runs_float64_inside_x64():
    pytest.importorskip("jax")
    out = B.get("jax").call(lambda x: x + 2.0**-40, {"x": np.ones(2)}, "float64")
    assert out.dtype == np.float64 and out[0] == 1 + 2.0**-40
