"""What every backend is: a small class around a lazily imported array library."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

FLOATS = ("float64", "float32", "float16", "bfloat16")


class Backend:
    """An array library as the suite uses it.

    Subclasses set ``name`` and ``module`` and override what differs from these defaults
    (which suit a host library such as NumPy).
    """

    name = ""
    module = ""
    #: The compiler the library offers for the same reference code, if any.
    compiler: str | None = None

    def available(self) -> str | None:
        """``None`` when usable here, else the reason it is skipped."""
        if importlib.util.find_spec(self.module) is None:
            return f"{self.module} is not installed"
        return None

    @property
    def lib(self) -> Any:
        return importlib.import_module(self.module)

    def namespace(self) -> Any:
        """The standard-compatible namespace (array-api-compat's wrapper where needed)."""
        import array_api_compat

        return array_api_compat.array_namespace(self.asarray(np.zeros(1), "float32", "cpu"))

    def version(self) -> str:
        return str(getattr(self.lib, "__version__", "?"))

    def devices(self) -> list[str]:
        return ["cpu"]

    def unavailable_devices(self) -> dict[str, str]:
        """Devices the suite knows of that are absent here, with the reason."""
        return {}

    def dtypes(self, device: str) -> tuple[str, ...]:
        return ("float64", "float32", "float16")

    def device_object(self, device: str) -> Any:
        return None

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        """Host data as this library's array on ``device`` (``dtype`` a float name or ``None``)."""
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        """Any result of this library as a NumPy array (DLPack where possible)."""
        try:
            return np.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError, AttributeError):
            return np.asarray(x)

    def sync(self, x: Any) -> None:
        """Wait until ``x`` is computed (for timing)."""

    def compile(self, fn: Callable[..., Any], static: tuple[str, ...] = ()) -> Callable[..., Any]:
        """``fn`` compiled by the library's compiler; the eager ``fn`` where it has none."""
        return fn

    def settings(self) -> dict[str, str]:
        """Library defaults that change results, set explicitly by :meth:`context`."""
        return {}

    @contextlib.contextmanager
    def context(self, dtype: str) -> Iterator[None]:
        """The state the library needs to run ``dtype`` exactly (JAX's x64, TF32 off)."""
        yield
