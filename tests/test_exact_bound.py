"""refpe meets every spec's exact bound, against the oracle, on every backend and dtype.

For every case without ``raises`` and every dtype the spec lists, refpe's result (the
reference ``spec.function`` on NumPy, array-api-strict (also on its ``no_float64`` device for
the specs that create a table), PyTorch CPU, JAX without and with x64, and the default kernels
behind the public ``refpe.<name>`` on NumPy, PyTorch and JAX arrays) is judged against the
oracle's exact answer (:func:`refpe.conformance.oracle.exact`, cached) under the spec's exact
bound: the normalised error ``max |y - y*| / (eps * scale)`` must be at most ``K``. The oracle's
inputs are the case's arguments rounded to the dtype; refpe never checks itself.

``tests/test_exact_bound_planted.py`` plants mistakes and shows :func:`exact_error` catches them.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import refpe
from refpe.backends import Backend, get
from refpe.conformance.compare import as_arrays
from refpe.conformance.inputs import host_inputs
from refpe.conformance.judge import judge
from refpe.conformance.oracle import exact
from refpe.kernels import HOT

#: Specs whose functions take strings or files: run on the host (NumPy) only.
HOST_ONLY = ("pretrained-formats", "pretrained-align", "tok-char", "tok-wordpiece", "tok-bpe")

FLOAT16_MAX = 65504.0

#: JAX compiles every new shape (seconds a call on a busy machine): by default its subjects run
#: the float32 horizon sweeps of pe-sinusoidal and rope only; ``REFPE_TEST_JAX_ALL=1`` runs
#: every case and dtype on JAX too (about 15 minutes on two busy cores).
JAX_ALL = os.environ.get("REFPE_TEST_JAX_ALL", "") not in ("", "0")
JAX_DEFAULT = ("pe-sinusoidal", "rope")


class JaxX64(get("jax").__class__):
    """JAX with x64 switched on for every dtype (float32 and narrower included), only inside
    the call: ``jax.enable_x64(True)`` is a context, never left on."""

    name = "jax:x64"

    @contextlib.contextmanager
    def context(self, dtype: str) -> Iterator[None]:
        jax = self.lib
        with jax.enable_x64(True), jax.default_matmul_precision("highest"):
            yield


class StrictNoFloat64(get("array_api_strict").__class__):
    """array-api-strict's ``Device("no_float64")``: tables built without float64 (the float32
    phase reduction)."""

    name = "array_api_strict:no_float64"

    def dtypes(self, device: str) -> tuple[str, ...]:
        return ("float32",)

    def device_object(self, device: str) -> Any:
        return self.lib.Device("no_float64")

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        xp = self.lib
        kind = getattr(xp, dtype) if dtype else None
        return xp.asarray(np.array(host), dtype=kind, device=xp.Device("no_float64"))


#: ``(label, backend, kernel)``: ``kernel`` runs the public ``refpe.<name>`` (its kernels).
SUBJECTS: tuple[tuple[str, Backend, bool], ...] = (
    ("numpy", get("numpy"), False),
    ("array_api_strict", get("array_api_strict"), False),
    ("array_api_strict:no_float64", StrictNoFloat64(), False),
    ("torch", get("torch"), False),
    ("jax", get("jax"), False),
    ("jax:x64", JaxX64(), False),
    ("kernel:numpy", get("numpy"), True),
    ("kernel:torch", get("torch"), True),
    ("kernel:jax", get("jax"), True),
)


def _cases() -> list[Any]:
    out = []
    for spec in refpe.specs():
        for case in spec.cases:
            if case.raises is None:
                out.append(pytest.param(spec.id, case.name, id=f"{spec.id}:{case.name}"))
    return out


def _case(spec_id: str, name: str) -> Any:
    return next(c for c in refpe.spec(spec_id).cases if c.name == name)


def oracle_inputs(spec_id: str, name: str, dtype: str) -> dict:
    """The case's arguments rounded to ``dtype`` (and ``dtype`` for a creating spec)."""
    inputs = host_inputs(_case(spec_id, name), dtype)
    return dict(inputs, dtype=dtype) if refpe.spec(spec_id).creates else inputs


def exact_error(
    spec_id: str, name: str, dtype: str, got: list[np.ndarray], function: Callable | None = None
) -> tuple[float, float, str, int | None]:
    """``(error, K, where, horizon)`` of ``got`` against the oracle under the exact bound."""
    spec = refpe.spec(spec_id)
    inputs = oracle_inputs(spec_id, name, dtype)
    want = exact(spec_id, name, inputs)
    model = spec.error
    scales = [model.bound_scale(inputs, hi, dtype) for hi in want.hi]
    usual = model.usual_bound
    usual_scales = [usual.bound_scale(inputs, hi, dtype) for hi in want.hi]
    positions = spec.positions(inputs) if spec.positions is not None else None
    j = judge(got, want, dtype, K=model.K_of(dtype), scale=scales, K_usual=usual.K_of(dtype),
              scale_usual=usual_scales, positions=positions)  # fmt: skip
    return j.error, j.K, j.where, j.horizon


def run(backend: Backend, kernel: bool, spec_id: str, name: str, dtype: str) -> list[np.ndarray]:
    """refpe's result on the case in ``dtype`` on ``backend``, as float64 host arrays."""
    spec = refpe.spec(spec_id)
    fn = getattr(refpe, spec.name) if kernel else spec.function
    host = host_inputs(_case(spec_id, name), dtype)
    return as_arrays(backend.call(fn, host, dtype, creates=spec.creates))


def _skip_reason(
    label: str, backend: Backend, kernel: bool, spec_id: str, name: str, dtype: str
) -> str:
    spec = refpe.spec(spec_id)
    if dtype not in spec.dtypes:
        return f"{spec_id} is not checked in {dtype}"
    if label != "numpy" and spec_id in HOST_ONLY:
        return f"{spec_id} takes strings or files: checked on the host only"
    if label == "array_api_strict:no_float64" and not spec.creates:
        return "the no_float64 device matters only where the spec creates a table"
    if kernel and getattr(refpe, spec.name) is spec.function:
        return f"refpe.{spec.name} has no kernels: the reference is checked already"
    if kernel and backend.name not in HOT[spec_id].libraries:
        return f"{spec_id} has no {backend.name} kernel"
    if "jax" in label and not JAX_ALL:
        sweep = spec_id in JAX_DEFAULT and "to 2^24" in name and dtype == "float32"
        if not sweep:
            return "JAX: float32 horizon sweeps only unless REFPE_TEST_JAX_ALL=1 (compile time)"
    why = backend.available()
    if why:
        return why
    if dtype not in backend.dtypes("cpu"):
        return f"{label} has no {dtype}"
    if label == "jax:x64" and dtype == "float64":
        return "float64 on JAX runs with x64 already (label 'jax')"
    return ""


@pytest.mark.parametrize("label, backend, kernel", SUBJECTS, ids=[s[0] for s in SUBJECTS])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "bfloat16"])
@pytest.mark.parametrize("spec_id, name", _cases())
def test_exact_bound(spec_id, name, dtype, label, backend, kernel):
    reason = _skip_reason(label, backend, kernel, spec_id, name, dtype)
    if reason:
        pytest.skip(reason)
    want = exact(spec_id, name, oracle_inputs(spec_id, name, dtype))
    if dtype == "float16" and any(np.abs(h).max(initial=0) > FLOAT16_MAX for h in want.hi):
        pytest.skip("exact values beyond float16's range: inf is their correct rounding")
    got = run(backend, kernel, spec_id, name, dtype)
    error, K, where, _ = exact_error(spec_id, name, dtype, got)
    assert error <= K, f"{label} {dtype}: {error:.3g} eps > K = {K}; {where}"
    assert not math.isnan(error)
