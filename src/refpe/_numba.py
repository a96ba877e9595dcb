"""Numba, where it is importable: kernels compiled on first use, called safely from any thread.

Numba is optional (the ``fast`` extra). A kernel module gives :func:`compiled` a builder,
``build(numba) -> function``, and calls the result through :func:`call`. Compilation uses
``fastmath=False`` everywhere: Numba then contracts no product and sum into a fused
multiply-add, so a compiled loop rounds each operation as the NumPy kernel it replaces does.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["call", "compiled"]

_ONE_AT_A_TIME = threading.Lock()


def compiled(build: Callable[[Any], Any]) -> Callable[[], Any]:
    """A cached getter of ``build(numba)``: the compiled kernel, or ``None`` without Numba."""

    @functools.lru_cache(maxsize=1)
    def get() -> Any:
        try:
            import numba
        except ImportError:
            return None
        return build(numba)

    return get


def call(kernel: Callable[..., Any], *args: Any) -> Any:
    """``kernel(*args)``, one call at a time where Numba's thread pool needs it."""
    if _threadsafe():
        return kernel(*args)
    with _ONE_AT_A_TIME:  # Numba's workqueue pool aborts the process on concurrent calls
        return kernel(*args)


def _threadsafe() -> bool:
    """Whether Numba's threading layer (known after the first parallel call) takes calls from
    several threads at once: OpenMP and TBB do; the fallback ``workqueue`` does not."""
    import numba

    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel call yet: the first one takes the lock
        return False
