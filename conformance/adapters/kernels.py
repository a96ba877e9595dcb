"""refpe's own fast kernels (``refpe.backends.kernels``) as subjects, one per spec and backend.

Each subject is named ``kernel:<spec id>:<backend>`` and feeds the case's host arguments to
the kernel as that backend's arrays on the CPU (PyTorch tensors through ``torch.from_numpy``,
no copy); the suite judges the result with the spec's error model, bad inputs included, so a
kernel must raise what the reference raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..subjects import Subject, register_subject

DTYPES = {"numpy": ("float64", "float32", "float16"), "torch": ("float64", "float32")}


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


#: ``(spec id, backend, function name in refpe.backends.kernels)``, as in its ``KERNELS``.
KERNEL_NAMES = (
    ("pe-sinusoidal", "numpy", "pe_sinusoidal"),
    ("pe-sinusoidal", "torch", "pe_sinusoidal"),
    ("rope", "numpy", "rope"),
    ("rope", "torch", "rope_torch"),
    ("token-lookup", "numpy", "token_lookup"),
    ("token-lookup", "torch", "token_lookup_torch"),
    ("input-add", "numpy", "input_add"),
    ("embedding-grad", "numpy", "embedding_grad"),
    ("embedding-grad", "torch", "embedding_grad_torch"),
)


def _kernel(name: str) -> Callable[..., Any]:
    def fn(*args: Any, **kwargs: Any) -> Any:
        from ...backends import kernels

        return getattr(kernels, name)(*args, **kwargs)

    return fn


def kernel_subjects() -> list[Subject]:
    """A subject for every kernel in :data:`KERNEL_NAMES`."""
    found = []
    for spec_id, backend, name in KERNEL_NAMES:
        make = _numpy_call if backend == "numpy" else _torch_call
        found.append(
            Subject(
                name=f"kernel:{spec_id}:{backend}",
                spec=spec_id,
                library=backend,
                call=make(spec_id, _kernel(name)),
                dtypes=DTYPES[backend],
                convention={"kernel": f"refpe.backends.kernels.{name}"},
            )
        )
    return found


register_subject(*kernel_subjects())
