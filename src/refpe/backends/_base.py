"""What every backend is: a small class around a lazily imported array library.

A backend owns its arrays: it recognises them (:meth:`Backend.owns`), makes them from host
data (:meth:`Backend.asarray`), brings them back (:meth:`Backend.to_host`) and runs a
function on them (:meth:`Backend.call`), the one way the suite calls code on a library.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

import numpy as np

from refpe import _compat


def to_host(x: Any) -> Any:
    """Any library's array, or a tuple or list of them, as NumPy (:func:`refpe._compat.to_host`);
    other values (Python numbers, strings, ``None``) unchanged."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_host(v) for v in x)
    if hasattr(x, "__array__") or hasattr(x, "__dlpack__"):
        return _compat.to_host(x)
    return x


def _is_float(a: np.ndarray) -> bool:
    # NumPy files bfloat16 (ml_dtypes) under kind "V", not "f".
    return a.dtype.kind == "f" or a.dtype.name == "bfloat16"


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

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is an array of this library (``array_api_compat.is_*_array``, which
        imports no library)."""
        raise NotImplementedError

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        """Host data as this library's array on ``device`` (``dtype`` a float name or ``None``:
        the host's own dtype, integers as they are)."""
        raise NotImplementedError

    def to_host(self, x: Any) -> np.ndarray:
        """An array of this library as a NumPy array (:func:`refpe._compat.to_host`)."""
        return _compat.to_host(x)

    def call(
        self,
        fn: Callable[..., Any],
        host: Mapping[str, Any],
        dtype: str,
        device: str = "cpu",
        *,
        creates: bool = False,
        accepts: Collection[str] | None = None,
        dtype_object: bool = False,
    ) -> Any:
        """``fn(**host)`` run on this library: the one way the suite calls code on a backend.

        Host NumPy arrays are moved to ``device`` (float arrays in ``dtype``, integer arrays
        as the library's integers); other values are passed as they are. A spec that creates
        a table (``creates``) also gets ``dtype``, ``xp`` and ``device`` — only those of them
        named in ``accepts`` when given (a user's function may take fewer), and ``dtype`` as
        the library's dtype object when ``dtype_object`` (else its name). The call runs
        inside :meth:`context`, each output is waited for (:meth:`sync`) and comes back as
        NumPy (:func:`to_host`): an array, or a tuple or list of them as ``fn`` returned.
        """
        with self.context(dtype):
            kwargs = {
                k: self.asarray(v, dtype if _is_float(v) else None, device)
                if isinstance(v, np.ndarray)
                else v
                for k, v in host.items()
            }
            if creates:
                xp = self.namespace()
                extra = {
                    "dtype": getattr(xp, dtype) if dtype_object else dtype,
                    "xp": xp,
                    "device": self.device_object(device),
                }
                kwargs.update({k: v for k, v in extra.items() if accepts is None or k in accepts})
            out = fn(**kwargs)
            for o in out if isinstance(out, (tuple, list)) else (out,):
                self.sync(o)
            return to_host(out)

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
