"""What ``refpe bench`` measures: the specs, backends and sizes, a work and its candidates,
and what every work shares (Zipf ids, the normalised error, the memory-copy candidate)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import refpe
from refpe._compat import to_host

SPECS = (
    "pe-sinusoidal",
    "rope",
    "token-lookup",
    "input-add",
    "embedding-grad",
    "pretrained-formats",
    "tok-wordpiece",
)
BACKENDS = ("numpy", "torch")
#: Backends benchmarked when asked for (``--backend jax``), on these specs only.
OPTIONAL = {"jax": ("rope",)}
FULL = {
    "pe-sinusoidal": {"T": 8192, "d": 1024, "ids": (16, 2048)},
    "rope": {"shape": (4, 32, 2048, 128)},
    "token-lookup": {"V": 50000, "d": 512, "ids": (16, 2048)},
    "input-add": {"V": 50000, "d": 512, "ids": (16, 2048)},
    "embedding-grad": {"V": 50000, "d": 512, "N": 10**6},
    "pretrained-formats": {"n": 100000, "d": 300},
    "tok-wordpiece": {"words": 200000},
}
QUICK = {
    "pe-sinusoidal": {"T": 512, "d": 64, "ids": (2, 64)},
    "rope": {"shape": (1, 2, 64, 16)},
    "token-lookup": {"V": 1000, "d": 32, "ids": (2, 32)},
    "input-add": {"V": 1000, "d": 32, "ids": (2, 32)},
    "embedding-grad": {"V": 500, "d": 16, "N": 2000},
    "pretrained-formats": {"n": 300, "d": 20},
    "tok-wordpiece": {"words": 300},
}
#: ``refpe bench --large``: the file readers on files of gigabytes (rows per format).
LARGE = {
    "pretrained-formats": {"n": {"word2vec-text": 10**6, "word2vec-binary": 3 * 10**6}, "d": 300},
}


@dataclass
class Candidate:
    """One implementation of a work: ``fn()`` computes the output from prepared inputs."""

    label: str
    role: str
    name: str
    fn: Callable[[], Any] | None
    skipped: str = ""
    #: Measure one extra call's peak memory: ``True`` with tracemalloc (NumPy's buffers),
    #: ``"rss"`` as the resident-set growth in a fresh process (every allocator; ``fn`` must
    #: pickle).
    peak: bool | str = False
    #: A call the fresh process makes before an ``"rss"`` measurement (picklable): a
    #: library's one-time start (imports, thread pools, allocator) is not the call's memory.
    warm: Callable[[], Any] | None = None


@dataclass
class Work:
    """One benchmark: a spec on a backend at one size, with its candidates."""

    spec: str
    case: str
    backend: str
    dtype: str
    shape: dict[str, Any]
    bytes: int
    candidates: list[Candidate]
    #: ``outputs -> {label: normalised error}`` under the spec's error model.
    errors: Callable[[dict[str, Any]], dict[str, float]] | None = None
    note: str = ""
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


def zipf_ids(n: int, V: int, seed: int = 0) -> np.ndarray:
    """``n`` token ids with a Zipf(1.2) frequency profile folded into ``[0, V)``."""
    return (np.random.default_rng(seed).zipf(1.2, n) - 1) % V


def normalised(spec_id: str, y: Any, exact: np.ndarray, inputs: dict, dtype: str) -> float:
    """``max |y - exact| / (eps(dtype) * scale)`` with the spec's scale (0/0 counts as 0).

    A candidate with two outputs (RoPE's rotated ``q, k``) is judged on the first: ``exact``
    is the first's exact value.
    """
    from refpe.registry import EPS

    first = y[0] if isinstance(y, tuple) else y
    scale = refpe.spec(spec_id).error.bound_scale(inputs, exact, dtype)
    diff = np.abs(to_host(first).astype(np.float64) - exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(diff == 0, 0.0, diff / (EPS[dtype] * scale))
    return float(err.max()) if err.size else 0.0


def fallback(fn: Callable[[], Any], module: Any, name: str, value: Any) -> Callable[[], Any]:
    """``fn`` with ``module.name`` set to ``value`` for the call: the optional fast path off,
    so that what a machine without its package runs is timed beside it (role ``fallback``)."""

    def call() -> Any:
        saved = getattr(module, name)
        setattr(module, name, value)
        try:
            return fn()
        finally:
            setattr(module, name, saved)

    return call


def fallback_candidate(
    name: str,
    fn: Callable[[], Any],
    module: Any,
    attr: str = "available",
    off: Any = None,
    fast: Callable[[], bool] | None = None,
) -> list[Candidate]:
    """``[Candidate("fallback", ...)]``: ``fn`` with ``module.attr`` set to ``off`` (default:
    an ``available()`` that says no), timed where the fast path can run (``fast()``, default
    ``module.available()``); ``[]`` where it cannot (then the kernel already is the
    fallback)."""
    if not (fast or module.available)():
        return []
    off = (lambda: False) if off is None else off
    return [Candidate("fallback", "fallback", name, fallback(fn, module, attr, off))]


def copy_candidate(backend: str, src: Any) -> Candidate:
    """A memory copy of ``src`` into a buffer on the same backend (the ``vs_copy`` yardstick)."""
    if backend == "torch":
        dst = src.clone()
        return Candidate("copy", "copy", "Tensor.copy_", lambda: dst.copy_(src))
    dst = np.empty_like(src)
    return Candidate("copy", "copy", "np.copyto", lambda: np.copyto(dst, src))
