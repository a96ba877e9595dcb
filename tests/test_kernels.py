"""The dispatch of the hot specs' public functions to the kernels (refpe.kernels)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import spec_error

import refpe
from refpe.kernels import HOT
from refpe.kernels import cupy as KC
from refpe.kernels import dask as KD
from refpe.kernels import dask_bias as KDB
from refpe.kernels import dask_init as KDI
from refpe.kernels import embedding as KE
from refpe.kernels import grad as KG
from refpe.kernels import positional as KP
from refpe.kernels import rotary as KR
from refpe.kernels import rotary_torch as KT

torch = pytest.importorskip("torch")

#: The readable reference of each hot spec (the public functions dispatch to the kernels).
REF = SimpleNamespace(
    **{
        n: getattr(refpe, n).reference
        for n in ("pe_sinusoidal", "rope", "token_lookup", "input_add", "embedding_grad")
    }
)

#: The kernel modules, by their name in :data:`HOT`.
KERNEL_MODULES = {
    "positional": KP, "rotary": KR, "rotary_torch": KT, "embedding": KE, "grad": KG,
    "cupy": KC, "dask": KD, "dask_bias": KDB,
    "dask_init": KDI,
}  # fmt: skip


def test_every_kernel_is_a_subject_and_the_default():
    from refpe.conformance.adapters.kernels import kernel_subjects

    pairs = {(s, lib) for s, hot in HOT.items() for lib in hot.libraries}
    assert {(sub.spec, sub.library) for sub in kernel_subjects()} == pairs
    for s, hot in HOT.items():
        for path in hot.builtin.values():
            module, attr = path.split(":")
            name = f"refpe.kernels.{module}.{getattr(KERNEL_MODULES[module], attr).__name__}"
            assert name in refpe.kernels(s)
        assert getattr(refpe, hot.function).reference is refpe.spec(s).function


def test_public_functions_dispatch_and_say_which_kernel_answered():
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 8)).astype(np.float32)
    fast = refpe.rope(x, 16)
    assert refpe.last_kernel() == "refpe.kernels.rotary.rope"
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
    assert refpe.last_kernel() == "refpe.kernels.embedding.token_lookup"
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
    _dispatch = importlib.import_module("refpe.kernels")  # refpe.kernels is the function

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
        assert len(calls) == 1 and refpe.last_kernel() == "refpe.kernels.embedding.token_lookup"
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


def test_conformance_reports_which_kernel_answered(tmp_path, capsys):
    import json

    from refpe.cli import main

    path = tmp_path / "k.json"
    argv = ["conformance", "--subject", "kernel:rope:numpy", "--dtype", "float32",
            "--no-progress", "--json", str(path)]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = json.loads(path.read_text())["results"]
    fast = [r for r in rows if r["kernel"] == "refpe.kernels.rotary.rope"]
    assert fast and all(r["verdict"] == "pass" for r in rows)
    assert {r["kernel"] for r in rows} == {"refpe.kernels.rotary.rope", "reference"}
    assert f"({len(fast)} by a kernel)" in out


def test_a_broken_kernel_plugin_warns_and_the_others_load(monkeypatch):
    _dispatch = importlib.import_module("refpe.kernels")

    class Point:
        def __init__(self, name, fn):
            self.name, self.value, self.fn = name, f"pkg:{name}", fn

        def load(self):
            return self.fn

    def broken():
        raise ImportError("no module named pkg")

    saved = {k: list(v) for k, v in _dispatch._KERNELS.items()}
    points = [Point("broken", broken)]  # the built-in kernels are registered all the same
    monkeypatch.setattr(_dispatch, "entry_points", lambda group: points)
    monkeypatch.setattr(_dispatch, "_LOADED", [])
    try:
        for v in _dispatch._KERNELS.values():
            v.clear()
        with pytest.warns(RuntimeWarning, match=r"entry point 'broken' \(pkg:broken\) were not"):
            refpe.rope(np.ones((4, 8), np.float32), 4)
        assert refpe.last_kernel() == "refpe.kernels.rotary.rope"
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


def test_a_kernel_is_called_only_with_the_arrays_of_its_library():
    _dispatch = importlib.import_module("refpe.kernels")
    saved = list(_dispatch._KERNELS["token-lookup"])
    calls = []

    def spy(ids, table, **kw):
        calls.append(type(ids).__module__)
        return NotImplemented

    try:
        refpe.register_kernel("token-lookup", spy, "test.spy", library="torch")
        _dispatch._KERNELS["token-lookup"].insert(0, _dispatch._KERNELS["token-lookup"].pop())
        table = np.eye(3, dtype=np.float32)
        refpe.token_lookup(np.array([1]), table)  # NumPy's: not tried
        assert not calls and refpe.last_kernel() == "refpe.kernels.embedding.token_lookup"
        refpe.token_lookup(torch.tensor([1]), torch.from_numpy(table))
        assert calls == ["torch"]
        # arrays of two libraries: no kernel is tried, the reference refuses them
        with pytest.raises(TypeError, match="mixed array libraries"):
            refpe.token_lookup(torch.tensor([1]), table)
        assert calls == ["torch"] and refpe.last_kernel() == "reference"
    finally:
        _dispatch._KERNELS["token-lookup"][:] = saved


def test_a_table_from_no_array_belongs_to_the_library_of_xp():
    import array_api_compat.torch as txp

    call_library = importlib.import_module("refpe.kernels").call_library
    assert call_library((8, 4), {}) == "numpy"
    assert call_library((8, 4), {"xp": np}) == "numpy"
    assert call_library((8, 4), {"xp": txp, "dtype": torch.float32}) == "torch"
    assert call_library((np.arange(3), 4), {"xp": txp}) == "numpy"  # the arrays decide
    assert call_library((np.arange(3), torch.arange(3)), {}) is None
    assert call_library((np.ma.masked_array([1]),), {}) is None  # a subclass: the reference
    assert isinstance(refpe.pe_sinusoidal(8, 4, xp=txp), torch.Tensor)
    assert refpe.last_kernel() == "refpe.kernels.positional.pe_sinusoidal"


def test_kernel_modules_import_only_numpy_and_the_formulas():
    import ast
    from pathlib import Path

    allowed = ("numpy", "array_api_compat", "refpe._compat", "refpe._precision", "refpe.registry")
    allowed += ("refpe._numba",)
    allowed += ("refpe.kernels",)
    formulas = {
        "refpe." + name
        for name in ("positional", "rotary", "embedding", "inputs", "grad", "relative", "init")
    }
    folder = Path(importlib.import_module("refpe.kernels").__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                ok = name in formulas or name.split(".")[0] in (
                    "__future__", "collections", "concurrent", "contextvars", "functools",
                    "importlib", "inspect", "itertools", "json", "math", "operator", "os", "sys",
                    "threading", "typing", "warnings", "torch", "jax", "cupy", "dask", "numba",
                ) or name.startswith(allowed)  # fmt: skip
                assert ok and name != "refpe", f"{path.name} imports {name}"
