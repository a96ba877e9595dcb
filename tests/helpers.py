"""Helpers shared by the tests (importable as ``helpers``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import contextlib

import numpy as np

import refpe
from refpe.registry import EPS


def to_numpy(x) -> np.ndarray:
    """Any library's array as a NumPy array (a copy through DLPack or the host)."""
    mod = type(x).__module__
    if mod.startswith("torch"):
        return x.detach().cpu().numpy()
    if mod.startswith("array_api_strict"):
        return np.from_dlpack(x)
    return np.asarray(x)


def xp_asarray(xp, a, dtype=None):
    """Host values ``a`` as an array of ``xp`` with ``dtype`` (a name or dtype object)."""
    if isinstance(dtype, str):
        dtype = getattr(xp, dtype)
    return xp.asarray(np.asarray(a), dtype=dtype)


def has_float64(xp) -> bool:
    return "float64" in xp.__array_namespace_info__().dtypes(kind="real floating")


@contextlib.contextmanager
def no_change(*arrays):
    """Assert the arrays are not written in place by the block."""
    before = [to_numpy(a).copy() for a in arrays]
    yield
    for b, a in zip(before, arrays, strict=True):
        np.testing.assert_array_equal(to_numpy(a), b)


def normalised_error(y, exact, dtype: str, scale=1.0) -> float:
    """``max |y - exact| / (eps(dtype) * scale)``, the figure the error model bounds."""
    y = to_numpy(y).astype(np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    err = np.abs(y - exact) / (EPS[dtype] * np.asarray(scale, dtype=np.float64))
    return float(err.max()) if err.size else 0.0


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


def random_array(shape, dtype, seed=0) -> np.ndarray:
    """Standard normal values of ``shape`` in ``dtype``, from ``seed``."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
