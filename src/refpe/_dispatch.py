"""Public functions that answer through a registered fast kernel, the reference otherwise.

The hot specs' public functions (:data:`HOT`) try the kernels registered for their spec
(:func:`register_kernel`), in order; a kernel returns ``NotImplemented`` for a call it has no
fast path for, and the reference answers it. ``kernel="reference"`` calls the reference
directly; it is also the function of the same name in its module (``refpe.rotary.rope``) and
the spec's ``function``. :func:`last_kernel` says which one answered.

Kernels come from the entry points of group ``refpe.kernels``, loaded at the first call:
each is a function that calls :func:`register_kernel`. ``refpe`` itself names no kernel;
``refpe.backends.kernels`` registers its own this way, and every registered kernel is held
to the spec's error model by the conformance suite. ``REFPE_KERNELS=reference`` in the
environment turns every kernel off.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

#: Specs whose public function dispatches to kernels.
HOT = ("pe-sinusoidal", "rope", "token-lookup", "input-add", "embedding-grad")
GROUP = "refpe.kernels"

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
    for bad input it accepts. With ``library`` (a module name: ``"torch"``), it is tried
    only once that module is imported (no array of it can exist before). Registered twice
    under one ``name``: the later one replaces it.
    """
    if spec_id not in _KERNELS:
        raise ValueError(f"spec_id must be one of {', '.join(HOT)}, got {spec_id!r}")
    if not callable(kernel):
        raise TypeError(f"kernel must be callable, got {kernel!r}")
    name = name or f"{kernel.__module__}.{kernel.__qualname__}"
    found = _KERNELS[spec_id]
    found[:] = [k for k in found if k[0] != name] + [(name, kernel, library)]


def kernels(spec_id: str) -> tuple[str, ...]:
    """The names of the kernels registered for ``spec_id``, in the order they are tried."""
    _load()
    return tuple(k[0] for k in _KERNELS.get(spec_id, ()))


def last_kernel() -> str:
    """What answered (or raised for) the latest dispatching call in this thread or task: a
    kernel's name, or ``"reference"``; ``""`` before any call."""
    return _LAST.get()


def entry_points(group: str) -> Any:
    """The installed entry points of ``group``."""
    from importlib.metadata import entry_points as found

    return found(group=group)


def _load() -> None:
    """Load the ``refpe.kernels`` entry points, once (a lock: threads may call first together)."""
    if _LOADED:
        return
    with _LOCK:
        if _LOADED:
            return
        if os.environ.get("REFPE_KERNELS", "").strip().lower() != "reference":
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


def dispatching(spec_id: str, reference: Callable[..., Any]) -> Callable[..., Any]:
    """``reference`` with a ``kernel=`` keyword: ``"auto"`` (default) tries the kernels of
    ``spec_id``, ``"reference"`` calls ``reference`` itself."""

    @functools.wraps(reference)
    def public(*args: Any, kernel: str = "auto", **kwargs: Any) -> Any:
        if kernel not in ("auto", "reference"):
            raise ValueError(f"kernel must be 'auto' or 'reference', got {kernel!r}")
        if kernel == "auto":
            _load()
            for name, fast, library in _KERNELS[spec_id]:
                if library is not None and library not in sys.modules:
                    continue
                _LAST.set(name)  # set first: a kernel that raises is the one named
                y = fast(*args, **kwargs)
                if y is not NotImplemented:
                    return y
        _LAST.set("reference")
        return reference(*args, **kwargs)

    sig = inspect.signature(reference)
    extra = inspect.Parameter("kernel", inspect.Parameter.KEYWORD_ONLY, default="auto")
    public.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    public.__doc__ = (reference.__doc__ or "") + _KEYWORD_DOC
    public.reference = reference  # type: ignore[attr-defined]
    return public


_KEYWORD_DOC = """
    Kernel: by default (``kernel="auto"``) the call is answered by the fastest registered
    kernel that takes it (``refpe.backends.kernels``: cached tables, blocked NumPy, in-place
    PyTorch), held by the conformance suite to the error model above, else by the readable
    reference; ``kernel="reference"`` always runs the reference. :func:`refpe.last_kernel`
    names the one that answered.
"""
