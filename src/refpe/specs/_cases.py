"""Helpers shared by the registry entries: seeded case data and host-side error-model pieces."""

from __future__ import annotations

from typing import Any

import numpy as np

#: The smallest positive scale: where the exact result is 0 it must be matched exactly.
TINY = np.finfo(np.float64).tiny


def normal(seed: int, *shape: int, scale: float = 1.0, loc: float = 0.0) -> np.ndarray:
    """``loc + scale Z`` of ``shape``, ``Z`` standard normal from ``default_rng(seed)``."""
    return loc + np.random.default_rng(seed).standard_normal(shape) * scale


def host_positions(positions: Any) -> np.ndarray:
    """``arange(positions)`` for a count, else the given positions, as a NumPy array."""
    return np.arange(positions) if isinstance(positions, int) else np.asarray(positions)


def horizon_positions(top: int = 2**24) -> np.ndarray:
    """Positions log-spaced up to ``top`` for the horizon sweeps: ``0, 1, 2, 3`` and then
    ``2^k, 1.5 * 2^k`` for every ``k >= 2`` while they are at most ``top``."""
    out = {0, 1, 2, 3}
    k = 2
    while 2**k <= top:
        out.update(q for q in (2**k, 3 * 2 ** (k - 1)) if q <= top)
        k += 1
    return np.array(sorted(out), dtype=np.int64)
