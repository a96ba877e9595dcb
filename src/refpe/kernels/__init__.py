"""Fast kernels for the hot specs, and the public functions that answer through them.

The hot specs (:data:`HOT`) have public functions (``refpe.rope`` ...) that try the kernels
registered for their spec (:func:`register_kernel`), in order; a kernel returns
``NotImplemented`` for a call it has no fast path for, and the reference answers it.
``kernel="reference"`` calls the reference directly; it is also the function of the same name
in its module (``refpe.rotary.rope``) and the spec's ``function``. :func:`last_kernel` says
which one answered.

A kernel registered for a library (``library="torch"``) is called only with that library's
arrays: the dispatcher looks at the call's arrays once (``array_api_compat.is_numpy_array``,
``is_torch_array``, ``is_jax_array``, ``is_cupy_array``, which import nothing); a call that
makes a table from no array (``pe_sinusoidal(n, d, xp=...)``) belongs to the library of
``xp``, NumPy when ``None``. JAX tracers (inside ``jax.jit``), arrays of two libraries, and
every other library get the reference. So a library's kernel is never tried before that
library is imported.

The built-in kernels (one module per family: :mod:`refpe.kernels.positional`,
:mod:`~refpe.kernels.rotary`, :mod:`~refpe.kernels.rotary_torch`,
:mod:`~refpe.kernels.embedding`, :mod:`~refpe.kernels.grad`; for CUDA arrays of CuPy:
:mod:`~refpe.kernels.cupy`) are registered at the first call, then those of the entry points
of group ``refpe.kernels`` (other packages): each is a function that calls
:func:`register_kernel`. Every registered kernel is held to the spec's error model by the
conformance suite. ``REFPE_KERNELS=reference`` in the environment turns every kernel off, the
built-in ones included.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import array_api_compat as compat
import numpy as np

from refpe._compat import is_traced

from ._common import namespace_library

__all__ = ["GROUP", "HOT", "Hot", "dispatching", "kernels", "last_kernel", "register_kernel"]


class Hot(NamedTuple):
    """A hot spec: the name of its public function (``refpe.<function>``) and its built-in
    kernels, ``library -> "module:function"`` in this package, registered in that order."""

    function: str
    builtin: Mapping[str, str]

    @property
    def libraries(self) -> tuple[str, ...]:
        """The libraries with a built-in kernel."""
        return tuple(self.builtin)


#: The specs whose public function dispatches to kernels, with their built-in kernels.
HOT: dict[str, Hot] = {
    "pe-sinusoidal": Hot("pe_sinusoidal", {
        "numpy": "positional:pe_sinusoidal",
        "torch": "positional:pe_sinusoidal_torch",
        "jax": "positional:pe_sinusoidal_jax",
        "cupy": "cupy:pe_sinusoidal_cupy",
        "dask": "dask:pe_sinusoidal_dask",
    }),
    "rope": Hot("rope", {
        "numpy": "rotary:rope", "torch": "rotary_torch:rope_torch", "jax": "rotary:rope_jax",
        "cupy": "cupy:rope_cupy",
    }),
    "token-lookup": Hot("token_lookup", {
        "numpy": "embedding:token_lookup", "torch": "embedding:token_lookup_torch",
        "cupy": "cupy:token_lookup_cupy",
        "dask": "dask:token_lookup_dask",
    }),
    "input-add": Hot("input_add", {
        "numpy": "embedding:input_add", "torch": "embedding:input_add_torch",
        "cupy": "cupy:input_add_cupy",
                "dask": "dask:input_add_dask",
    }),
    "embedding-grad": Hot("embedding_grad", {
        "numpy": "grad:embedding_grad", "torch": "grad:embedding_grad_torch",
        "cupy": "cupy:embedding_grad_cupy",
                "dask": "dask:embedding_grad_dask",
    }),
    "alibi": Hot("alibi", {"dask": "dask_bias:alibi_dask"}),
    "t5-bias": Hot("t5_bias", {"dask": "dask_bias:t5_bias_dask"}),
    "init-normal": Hot("init_normal", {"dask": "dask_init:init_normal_dask"}),
    "init-uniform": Hot("init_uniform", {"dask": "dask_init:init_uniform_dask"}),
    "init-truncated-normal": Hot(
        "init_truncated_normal", {"dask": "dask_init:init_truncated_normal_dask"}
    ),
    "init-framework-defaults": Hot(
        "init_framework_default", {"dask": "dask_init:init_framework_default_dask"}
    ),
}  # fmt: skip
#: The entry-point group of other packages' kernels.
GROUP = "refpe.kernels"
#: The libraries whose arrays the dispatcher tells apart.
LIBRARIES = ("numpy", "torch", "jax", "cupy", "dask")

_KERNELS: dict[str, list[tuple[str, Callable[..., Any], str | None]]] = {s: [] for s in HOT}
_LOADED: list[bool] = []
_LOCK = threading.Lock()
_LAST: contextvars.ContextVar[str] = contextvars.ContextVar("refpe_last_kernel", default="")


def register_kernel(
    spec_id: str, kernel: Callable[..., Any], name: str | None = None, library: str | None = None
) -> None:
    """Make ``kernel`` a fast path of the public function of ``spec_id``.

    ``kernel`` takes the public function's arguments and returns the result, or
    ``NotImplemented`` for a call it does not accelerate; it raises the reference's errors
    for bad input it accepts. With ``library`` ``"numpy"``, ``"torch"`` or ``"jax"``, it is
    called only with that library's arrays; another module name (``"mylib"``): only once
    that module is imported (no array of it can exist before); ``None``: with every call.
    Registered twice under one ``name`` and ``library``: the later one replaces it.
    """
    if spec_id not in _KERNELS:
        raise ValueError(f"spec_id must be one of {', '.join(HOT)}, got {spec_id!r}")
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, got {kernel!r}")
    name = name or f"{kernel.__module__}.{kernel.__qualname__}"
    found = _KERNELS[spec_id]
    found[:] = [k for k in found if k[0::2] != (name, library)] + [(name, kernel, library)]


def kernels(spec_id: str) -> tuple[str, ...]:
    """The names of the kernels registered for ``spec_id``, in the order they are tried."""
    _load()
    return tuple(dict.fromkeys(k[0] for k in _KERNELS.get(spec_id, ())))


def last_kernel() -> str:
    """What answered (or raised for) the latest dispatching call in this thread or task: a
    kernel's name, or ``"reference"``; ``""`` before any call."""
    return _LAST.get()


def entry_points(group: str) -> Any:
    """The installed entry points of ``group``."""
    from importlib.metadata import entry_points as found

    return found(group=group)


def _register_builtin() -> None:
    """Register the kernels of :data:`HOT`, each for its library, named by its dotted path."""
    for spec_id, hot in HOT.items():
        for library, path in hot.builtin.items():
            module, attr = path.split(":")
            kernel = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
            register_kernel(spec_id, kernel, f"{kernel.__module__}.{kernel.__name__}", library)


def _load() -> None:
    """Register the built-in kernels, then load the ``refpe.kernels`` entry points, once (a
    lock: threads may call first together)."""
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        if os.environ.get("REFPE_KERNELS", "").strip().lower() != "reference":
            _register_builtin()
            for point in entry_points(group=GROUP):
                try:
                    point.load()()
                except Exception as exc:  # a broken plugin must not break refpe: the rest load
                    warnings.warn(
                        f"refpe: the kernels of entry point {point.name!r} ({point.value}) were "
                        f"not loaded: {exc!r}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
        _LOADED.append(True)


def _array_library(a: Any) -> str | None:
    """``"numpy"``, ``"torch"``, ``"jax"``, ``"cupy"`` for an array of one (a concrete one for JAX),
    ``None`` for any other array (a NumPy subclass, a tracer, another library's), ``""``
    for what is no array (a scalar, a list, ``None``: the kernel or the reference reads it)."""
    if a is None or isinstance(a, (bool, int, float, str, dict, type, np.generic)):
        return ""
    if compat.is_cupy_array(a):  # first: an ndarray subclass (a test's fake CuPy) is CuPy's
        return "cupy"
    if compat.is_numpy_array(a):
        return "numpy" if type(a) is np.ndarray else None
    if compat.is_torch_array(a):
        return "torch"
    if compat.is_jax_array(a):
        return None if is_traced(a) else "jax"
    if compat.is_dask_array(a):
        return "dask"
    return None if compat.is_array_api_obj(a) else ""


def call_library(args: tuple, kwargs: Mapping[str, Any]) -> str | None:
    """The library of a call's arrays (all of one library), or of its ``xp`` when it has no
    array; ``None`` when no kernel's library can take it. Dask arrays with NumPy ones (ids
    in Dask, a table in memory) are a Dask call: each block meets the NumPy arrays there."""
    found = {_array_library(a) for a in (*args, *kwargs.values())} - {""}
    if not found:
        return namespace_library(kwargs.get("xp"))
    if found == {"dask", "numpy"}:
        return "dask"
    return found.pop() if len(found) == 1 else None


def dispatching(spec_id: str, reference: Callable[..., Any]) -> Callable[..., Any]:
    """``reference`` with a ``kernel=`` keyword: ``"auto"`` (default) tries the kernels of
    ``spec_id``, ``"reference"`` calls ``reference`` itself."""

    @functools.wraps(reference)
    def public(*args: Any, kernel: str = "auto", **kwargs: Any) -> Any:
        if kernel not in ("auto", "reference"):
            raise ValueError(f"kernel must be 'auto' or 'reference', got {kernel!r}")
        if kernel == "auto":
            _load()
            found, lib = _KERNELS[spec_id], ...
            for name, fast, library in found:
                if library in LIBRARIES:
                    if lib is ...:  # looked at once, and only when a kernel asks
                        lib = call_library(args, kwargs)
                    if library != lib:
                        continue
                elif library is not None and library not in sys.modules:
                    continue
                _LAST.set(name)  # set first: a kernel that raises is the one named
                y = fast(*args, **kwargs)
                if y is not NotImplemented:
                    return y
        _LAST.set("reference")
        return reference(*args, **kwargs)

    # Pickled by reference, as ``refpe.<function>`` (the name it is bound to), so that it
    # travels to Dask workers without the dispatcher's state (a ContextVar, a lock).
    public.__module__ = "refpe"
    public.__name__ = public.__qualname__ = HOT[spec_id].function
    sig = inspect.signature(reference)
    extra = inspect.Parameter("kernel", inspect.Parameter.KEYWORD_ONLY, default="auto")
    public.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    public.__doc__ = (reference.__doc__ or "") + _KEYWORD_DOC
    public.reference = reference  # type: ignore[attr-defined]
    return public


_KEYWORD_DOC = """
    Kernel: by default (``kernel="auto"``) the call is answered by the fastest registered
    kernel that takes it (``refpe.kernels``: cached tables, blocked NumPy, in-place
    PyTorch), held by the conformance suite to the error model above, else by the readable
    reference; ``kernel="reference"`` always runs the reference. :func:`refpe.last_kernel`
    names the one that answered.
"""
