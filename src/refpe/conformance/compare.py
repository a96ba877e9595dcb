"""Comparisons: normalised error against the error model, bit-exactness, and statistical tests."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from refpe.registry import EPS, ErrorModel

_HOST_DTYPES: dict[str, Any] = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def host_dtype(dtype: str) -> Any:
    """The NumPy dtype that holds ``dtype`` on the host (bfloat16 through ml_dtypes)."""
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return _HOST_DTYPES[dtype]


def round_to(x: Any, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (round to nearest even) and held as float64."""
    return np.asarray(x, dtype=np.float64).astype(host_dtype(dtype)).astype(np.float64)


def as_arrays(result: Any) -> list[np.ndarray]:
    """A result (an array, a number, or a tuple of them) as a list of float64 arrays."""
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [np.asarray(r, dtype=np.float64) for r in items]


@dataclass(frozen=True)
class Comparison:
    """How one result compares with the exact one."""

    ok: bool
    error: float
    where: str = ""


def _where(got: np.ndarray, exact: np.ndarray, bad: np.ndarray) -> str:
    index = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    idx = tuple(int(i) for i in index)
    return f"first difference at index {idx}: expected {exact[idx]!r}, got {got[idx]!r}"


def compare(
    got: list[np.ndarray],
    exact: list[np.ndarray],
    model: ErrorModel,
    inputs: Mapping[str, Any],
    dtype: str,
) -> Comparison:
    """Normalised error ``max |y - y_exact| / (eps * scale)`` and whether it is within ``K``.

    ``K = 0`` asks for bit-exactness: ``y`` must equal ``y_exact`` rounded to ``dtype``.
    NaN matches NaN; a NaN on one side only is an infinite error.
    """
    if len(got) != len(exact):
        return Comparison(False, math.inf, f"{len(got)} outputs, expected {len(exact)}")
    K = model.K.get(dtype, model.K.get("float32", 0))
    worst, where = 0.0, ""
    for y, e in zip(got, exact, strict=True):
        if y.shape != e.shape:
            return Comparison(False, math.inf, f"shape {y.shape}, expected {e.shape}")
        both_nan = np.isnan(y) & np.isnan(e)
        if K == 0:
            target = round_to(e, dtype)
            bad = ~((y == target) | both_nan)
            err = float(np.count_nonzero(bad))
            if err and not where:
                where = _where(y, target, bad)
            worst = max(worst, math.inf if err else 0.0)
            continue
        scale = model.bound_scale(inputs, e, dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(both_nan | (y == e), 0.0, np.abs(y - e))
            norm = diff / (EPS[dtype] * scale)
        norm = np.where(diff == 0, 0.0, np.where(np.isnan(norm), math.inf, norm))
        if norm.size and float(norm.max()) > worst:
            worst = float(norm.max())
            if worst > K:
                where = _where(y, e, norm > K)
    return Comparison(worst <= K, worst, where)


# --- statistics for random draws: Kolmogorov–Smirnov with the asymptotic p-value ---

ALPHA = 1e-3


def ks_statistic(sample: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    """The one-sample Kolmogorov–Smirnov statistic ``sup |F_n(x) - F(x)|``."""
    x = np.sort(np.asarray(sample, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - f), np.max(f - (i - 1) / n)))


def ks_pvalue(d: float, n: int) -> float:
    """Asymptotic p-value of the KS statistic (Kolmogorov's series, Stephens' correction)."""
    t = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if t < 0.2:
        return 1.0
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 101))
    return max(0.0, min(1.0, 2 * total))


def normal_cdf(mean: float, std: float) -> Callable[[np.ndarray], np.ndarray]:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return lambda x: 0.5 * (1 + erf((x - mean) / (std * math.sqrt(2))))


def uniform_cdf(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def truncated_normal_cdf(mean: float, std: float, lo: float, hi: float):
    base = normal_cdf(mean, std)
    a, b = base(np.array([lo]))[0], base(np.array([hi]))[0]
    return lambda x: np.clip((base(x) - a) / (b - a), 0.0, 1.0)


@dataclass(frozen=True)
class StatTest:
    ok: bool
    statistic: float
    pvalue: float
    where: str


def ks_test(sample: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray], seed: Any) -> StatTest:
    """KS test at :data:`ALPHA`; the message carries the seed so a failure reproduces."""
    d = ks_statistic(sample, cdf)
    p = ks_pvalue(d, np.asarray(sample).size)
    msg = f"KS D={d:.4g}, p={p:.3g} (alpha={ALPHA}, n={np.asarray(sample).size}, seed={seed})"
    return StatTest(p >= ALPHA, d, p, msg)
