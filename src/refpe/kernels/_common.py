"""What the kernel families share: thread splitting, cache limits, argument checks.

Nothing here tells array libraries apart: the dispatcher (:mod:`refpe.kernels`) calls each
kernel only with the arrays of the library it was registered for.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from refpe._compat import require_range

#: Threads the NumPy kernels split their work between (NumPy's loops release the GIL).
THREADS = min(4, os.cpu_count() or 1)
#: Larger sinusoid and RoPE tables are built (as fast) but not kept.
CACHE_ELEMENTS = 2**27
#: Largest position the cached float32 tables hold (angles exact to far below eps32).
MAX_CACHED = 2**24

#: The library of each array namespace a table-creating call may name with ``xp=``.
NAMESPACES = {
    "numpy": "numpy",
    "array_api_compat.numpy": "numpy",
    "torch": "torch",
    "array_api_compat.torch": "torch",
    "jax.numpy": "jax",
    "cupy": "cupy",
    "array_api_compat.cupy": "cupy",
    "dask.array": "dask",
    "array_api_compat.dask.array": "dask",
}


def namespace_library(xp: Any) -> str | None:
    """The library of the namespace ``xp`` (NumPy when ``None``); ``None``: none with a kernel."""
    return "numpy" if xp is None else NAMESPACES.get(getattr(xp, "__name__", ""))


def in_threads(work: Callable[[range], None], n: int, threads: int = THREADS) -> None:
    """``work(range)`` over ``range(n)`` on ``threads`` threads (NumPy's loops release the
    GIL), in four pieces per thread taken as threads come free, so a core another process
    holds delays one piece, not half the work; each call sets its own error state (it is
    per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, min(threads, n))
    if threads == 1:
        work(range(n))
        return
    bounds = np.linspace(0, n, min(n, 4 * threads) + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [range(a, b) for a, b in itertools.pairwise(bounds)]))


def integer(a: Any) -> bool:
    """Whether the dtype of ``a`` (NumPy, JAX or PyTorch) is an integer one (bool excluded)."""
    dt = a.dtype
    if hasattr(dt, "is_floating_point"):  # a torch.dtype, which NumPy cannot read
        return not (dt.is_floating_point or dt.is_complex or str(dt) == "torch.bool")
    return np.dtype(dt).kind in "iu"


def size(a: Any) -> int:
    """The number of elements of ``a`` (``numel`` for a tensor, ``size`` for an ndarray)."""
    return math.prod(a.shape)


def np_dtype(dtype: Any) -> np.dtype | None:
    """The NumPy dtype named by ``dtype`` (a name, NumPy or torch dtype); ``None``: not in NumPy."""
    if dtype is None:
        return np.dtype(np.float64)
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].strip("'>")
    return np.dtype(name) if name in ("float64", "float32", "float16") else None


def finite_scale(scale: Any, *allowed: Any) -> bool:
    """A finite real ``scale`` (bool refused), or one of ``allowed`` (``None``)."""
    if any(scale is a for a in allowed):
        return True
    real = isinstance(scale, (int, float)) and not isinstance(scale, bool)
    return real and math.isfinite(scale)


def check_ids(name: str, ids: Any, n: int, what: str = "") -> None:
    """The range check done once: min and max; the reference's message when one is out."""
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
        import array_api_compat

        require_range(name, ids, 0, n, array_api_compat.array_namespace(ids), what)


def torch_in_range(ids: Any, n: int) -> bool:
    """Whether every id of a PyTorch tensor is in ``[0, n)``: one ``aminmax``, the twin of
    :func:`check_ids` (which raises the reference's message instead)."""
    import torch

    if not ids.numel():
        return True
    lo, hi = torch.aminmax(ids)
    return int(lo) >= 0 and int(hi) < n
