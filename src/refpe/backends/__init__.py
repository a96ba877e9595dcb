"""Backends: one small module per array library, each a class around a lazily imported module.

:func:`backends` lists them all (available or not); :func:`get` returns one by name. Nothing
here imports an array library until a backend is used.
"""

from __future__ import annotations

from ._base import Backend, to_host
from .array_api_strict import ArrayApiStrict
from .cupy import CuPy
from .dask import Dask
from .jax import JAX
from .numpy import NumPy
from .torch import Torch

__all__ = ["Backend", "backends", "get", "to_host"]

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
