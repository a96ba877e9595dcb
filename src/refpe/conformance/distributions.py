"""The distributions of the random initialisers, for statistical checks of other libraries.

refpe's own draws are checked bit-exactly (same seed, same table on every backend). A
library's native initialiser draws from its own generator, so it is checked against the
distribution instead: a Kolmogorov–Smirnov test at a fixed alpha, with the seed printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from refpe.registry import Case

from .compare import normal_cdf, truncated_normal_cdf, uniform_cdf

Cdf = Callable[[np.ndarray], np.ndarray]

_FRAMEWORK = {
    ("torch", "embedding"): lambda shape: normal_cdf(0.0, 1.0),
    ("torch", "linear"): lambda shape: uniform_cdf(
        -1 / math.sqrt(shape[1]), 1 / math.sqrt(shape[1])
    ),
    ("tf", "embedding"): lambda shape: uniform_cdf(0.0, 1.0),
    ("keras", "embedding"): lambda shape: uniform_cdf(-0.05, 0.05),
    ("keras", "linear"): lambda shape: uniform_cdf(
        -math.sqrt(6 / (shape[0] + shape[1])), math.sqrt(6 / (shape[0] + shape[1]))
    ),
}


def _normal(kw: Mapping[str, Any]) -> Cdf:
    return normal_cdf(kw.get("mean", 0.0), kw.get("std", 0.02))


def _uniform(kw: Mapping[str, Any]) -> Cdf:
    a = kw.get("a", 0.05)
    return uniform_cdf(-a, a)


def _truncated(kw: Mapping[str, Any]) -> Cdf:
    mean, std = kw.get("mean", 0.0), kw.get("std", 0.02)
    return truncated_normal_cdf(mean, std, mean - 2 * std, mean + 2 * std)


def _framework(kw: Mapping[str, Any]) -> Cdf:
    shape = tuple(kw["shape"])
    # Keras' glorot_uniform reads a Dense kernel as (fan_in, fan_out); the sum is symmetric.
    return _FRAMEWORK[(kw["framework"], kw["kind"])](shape)


#: spec id -> the CDF of the distribution a case's arguments ask for.
CDFS: dict[str, Callable[[Mapping[str, Any]], Cdf]] = {
    "init-normal": _normal,
    "init-uniform": _uniform,
    "init-truncated-normal": _truncated,
    "init-framework-defaults": _framework,
}

SHAPE = (250, 40)

#: Cases with enough draws (10 000) for a KS test to have power.
STAT_CASES: dict[str, tuple[Case, ...]] = {
    "init-normal": (Case("10k draws, std 0.02", {"shape": SHAPE, "seed": 1234, "std": 0.02}),),
    "init-uniform": (Case("10k draws, a 0.05", {"shape": SHAPE, "seed": 1234, "a": 0.05}),),
    "init-truncated-normal": (
        Case("10k draws, std 0.02", {"shape": SHAPE, "seed": 1234, "std": 0.02}),
    ),
    "init-framework-defaults": tuple(
        Case(f"{fw} {kind}", {"shape": SHAPE, "seed": 1234, "framework": fw, "kind": kind})
        for fw, kind in _FRAMEWORK
    ),
}


def is_random(spec_id: str) -> bool:
    return spec_id in CDFS
