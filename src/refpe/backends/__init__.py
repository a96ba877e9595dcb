"""Backends: one small module per array library, each a class around a lazily imported module.

:func:`backends` lists them all (available or not); :func:`get` returns one by name. Nothing
here imports an array library until a backend is used.
"""

from __future__ import annotations

from ._base import FLOATS, Backend
from .array_api_strict import ArrayApiStrict
from .cupy import CuPy
from .dask import Dask
from .jax import JAX
from .numpy import NumPy
from .torch import Torch

__all__ = ["FLOATS", "Backend", "backends", "get", "to_host"]

_ALL: dict[str, Backend] = {
    b.name: b for b in (NumPy(), ArrayApiStrict(), Torch(), JAX(), CuPy(), Dask())
}


def backends() -> tuple[Backend, ...]:
    """Every backend refpe knows, installed or not."""
    return tuple(_ALL.values())


def get(name: str) -> Backend:
    """The backend called ``name``; ``KeyError`` listing the known names otherwise."""
    try:
        return _ALL[name]
    except KeyError:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(_ALL)}") from None


def to_host(x: object) -> object:
    """Any library's array (or a tuple of them) as NumPy; other values unchanged."""
    import numpy as np

    if isinstance(x, (tuple, list)):
        return type(x)(to_host(v) for v in x)
    module = type(x).__module__.split(".")[0]
    for b in _ALL.values():
        if b.module == module:
            return b.to_numpy(x)
    if module == "jaxlib":
        return _ALL["jax"].to_numpy(x)
    return np.asarray(x) if hasattr(x, "__array__") or hasattr(x, "__dlpack__") else x
