"""The hot specs' public functions, as users call them, as subjects: one per spec and backend.

``refpe.rope`` and the other hot functions answer through a fast kernel
(``refpe.kernels``) where one takes the call. Each subject is named
``kernel:<spec id>:<backend>`` and feeds the case's host arguments to the public function
as that backend's arrays on the CPU (PyTorch tensors through ``torch.from_numpy``,
no copy), or for CuPy on its current CUDA device (skipped, with the reason, where CuPy or a
device is missing); the suite judges the result with the spec's error model, bad inputs
included, so a kernel must raise what the reference raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from refpe.kernels import HOT

from ..subjects import Subject, register_subject

DTYPES = {
    "numpy": ("float64", "float32", "float16"),
    "torch": ("float64", "float32"),
    "jax": ("float64", "float32"),
    "cupy": ("float64", "float32"),
    "dask": ("float64", "float32"),
}


def _call(spec_id: str, backend: str) -> Callable[[Mapping[str, Any], str], Any]:
    """``refpe.<function>`` of ``spec_id`` on ``backend``'s arrays
    (:meth:`refpe.backends.Backend.call`): on the CPU, or CuPy's first CUDA device."""
    device = "cuda:0" if backend == "cupy" else "cpu"

    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        import refpe
        from refpe import backends

        spec = refpe.spec(spec_id)
        fn = getattr(refpe, spec.function.__name__)
        return backends.get(backend).call(fn, kwargs, dtype, device, creates=spec.creates)

    return call


@dataclass(frozen=True)
class DeviceSubject(Subject):
    """A subject whose library needs a device: unavailable, with the backend's reason (no
    CUDA device), where the library is installed but has no device to run on."""

    def unavailable(self) -> str | None:
        from refpe.backends import get

        return super().unavailable() or get(self.library).available()


def kernel_subjects() -> list[Subject]:
    """A subject for every hot spec and library with a kernel (:data:`refpe.kernels.HOT`):
    ``refpe.<function>`` as users call it (``kernel="auto"``); each result names what
    answered (:func:`refpe.last_kernel`)."""
    return [
        (DeviceSubject if backend == "cupy" else Subject)(
            name=f"kernel:{spec_id}:{backend}",
            spec=spec_id,
            library=backend,
            call=_call(spec_id, backend),
            dtypes=DTYPES[backend],
            convention={"kernel": "auto"},
        )
        for spec_id, hot in HOT.items()
        for backend in hot.libraries
    ]


register_subject(*kernel_subjects())
