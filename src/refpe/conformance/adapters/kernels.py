"""The hot specs' public functions, as users call them, as subjects: one per spec and backend.

``refpe.rope`` and the other hot functions answer through a fast kernel
(``refpe.kernels``) where one takes the call. Each subject is named
``kernel:<spec id>:<backend>`` and feeds the case's host arguments to the public function
as that backend's arrays on the CPU (PyTorch tensors through ``torch.from_numpy``,
no copy); the suite judges the result with the spec's error model, bad inputs included, so a
kernel must raise what the reference raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from refpe.kernels import HOT

from ..subjects import Subject, register_subject

DTYPES = {
    "numpy": ("float64", "float32", "float16"),
    "torch": ("float64", "float32"),
    "jax": ("float64", "float32"),
    "dask": ("float64", "float32"),
}


def _creates(spec_id: str) -> bool:
    import refpe

    return refpe.spec(spec_id).creates


def _numpy_call(spec_id: str, fn: Callable[..., Any]) -> Callable[[Mapping[str, Any], str], Any]:
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        extra = {"dtype": dtype, "xp": np} if _creates(spec_id) else {}
        return np.asarray(fn(**kwargs, **extra))

    return call


def _torch_call(spec_id: str, fn: Callable[..., Any]) -> Callable[[Mapping[str, Any], str], Any]:
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        import array_api_compat.torch as xp
        import torch

        args = {
            k: torch.from_numpy(np.array(v, order="C")) if isinstance(v, np.ndarray) else v
            for k, v in kwargs.items()
        }
        if _creates(spec_id):
            args.update(dtype=getattr(torch, dtype), xp=xp, device=torch.device("cpu"))
        return fn(**args).detach().cpu().numpy()

    return call


def _jax_call(spec_id: str, fn: Callable[..., Any]) -> Callable[[Mapping[str, Any], str], Any]:
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(dtype == "float64"):  # on only for this call, as the backend does
            args = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v
                    for k, v in kwargs.items()}  # fmt: skip
            if _creates(spec_id):
                args.update(dtype=dtype, xp=jnp)
            return np.asarray(fn(**args))

    return call


def _dask_call(spec_id: str, fn: Callable[..., Any]) -> Callable[[Mapping[str, Any], str], Any]:
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        import dask.array as da

        def blocks(a: np.ndarray) -> Any:  # two blocks per axis: the kernels meet block edges
            return da.from_array(a, chunks=tuple(max(1, (n + 1) // 2) for n in a.shape) or ())

        args = {k: blocks(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        if _creates(spec_id):
            args.update(dtype=dtype, xp=da)
        out = fn(**args)
        return np.asarray(out.compute() if hasattr(out, "compute") else out)

    return call


CALLS = {"numpy": _numpy_call, "torch": _torch_call, "jax": _jax_call, "dask": _dask_call}


def _public(name: str) -> Callable[..., Any]:
    def fn(*args: Any, **kwargs: Any) -> Any:
        import refpe

        return getattr(refpe, name)(*args, **kwargs)

    return fn


def kernel_subjects() -> list[Subject]:
    """A subject for every hot spec and library with a kernel (:data:`refpe.kernels.HOT`):
    ``refpe.<function>`` as users call it (``kernel="auto"``); each result names what
    answered (:func:`refpe.last_kernel`)."""
    return [
        Subject(
            name=f"kernel:{spec_id}:{backend}",
            spec=spec_id,
            library=backend,
            call=CALLS[backend](spec_id, _public(hot.function)),
            dtypes=DTYPES[backend],
            convention={"kernel": "auto"},
        )
        for spec_id, hot in HOT.items()
        for backend in hot.libraries
    ]


register_subject(*kernel_subjects())
