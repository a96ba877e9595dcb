"""Shared fixtures: the ``xp`` fixture runs a test on every installed array library.

``xp`` yields a standard-compatible namespace (array-api-compat's wrappers for NumPy, PyTorch
and JAX; array-api-strict as it is). A library that is not installed is skipped with the
reason. JAX runs here without x64 (float32 default); tests that need JAX float64 use the
``jax_x64`` fixture, which switches x64 on for that test alone.
"""

from __future__ import annotations

import importlib.util

import pytest

LIBRARIES = ("numpy", "array_api_strict", "torch", "jax")


def _namespace(name: str):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "array_api_strict":
        import array_api_strict as xp
    elif name == "torch":
        import array_api_compat.torch as xp
    else:
        import jax.numpy as xp
    return xp


@pytest.fixture(params=LIBRARIES)
def xp(request):
    """A standard namespace for each installed library (skipped with the reason if absent)."""
    return _namespace(request.param)


@pytest.fixture
def jax_x64():
    """JAX with x64 switched on for one test, restored after it."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    import jax

    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def cluster_client():
    """A LocalCluster of 2 processes of 1 thread each, closed after the module."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client
