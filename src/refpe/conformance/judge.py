"""Judging one result against the exact answer: two bounds, three verdicts, the horizon.

Every spec states two bounds on ``|y - y*|`` in a dtype, each ``K * eps(dtype) * scale``:

- the **exact** bound: ``scale`` is the natural size of the output (1 for a sinusoid entry,
  ``|x_a| + |x_b|`` for a RoPE pair, the sum of absolute terms for a sum), with nothing that
  grows with the position or the angle;
- the **usual** bound: the forward-error bound of the textbook evaluation in that dtype (the
  angle rounded in the dtype, ...): what computing the formula in that dtype usually gives.

A result within the exact bound is ``pass``; beyond it but within the usual one, ``loose``;
beyond both, ``fail``. For specs with positions the judgement also gives the **horizon**: the
largest tested position up to which every element is within the exact bound, and the curve of
the worst exact-normalised error at each tested position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from refpe.registry import EPS


@dataclass(frozen=True)
class Judgement:
    """How one result compares with the exact answer."""

    verdict: str
    #: ``max |y - y*| / (eps * scale)`` under the exact bound, and under the usual one.
    error: float
    error_usual: float
    K: float
    K_usual: float
    where: str = ""
    #: Largest tested position within the exact bound (``None``: no positions, or none within).
    horizon: int | None = None
    #: ``(position, worst exact-normalised error there)`` for each tested position, ascending.
    curve: list[tuple[int, float]] = field(default_factory=list)


def normalised(err: np.ndarray, eps: float, scale: np.ndarray) -> np.ndarray:
    """``err / (eps * scale)`` with 0 where the error is 0 and ``inf`` where it is NaN (a NaN on
    one side only) or where the scale is 0 and the error is not."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        norm = err / (eps * scale)
    norm = np.where(err == 0, 0.0, norm)
    return np.where(np.isnan(norm), math.inf, norm)


def element_errors(got: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``|y - (hi + lo)|``; 0 where both are NaN or equal infinities, ``inf`` where one side
    only is NaN or infinite."""
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs((got - hi) - lo)
    same = (np.isnan(got) & np.isnan(hi)) | (np.isinf(got) & (got == hi))
    err = np.where(same, 0.0, err)
    return np.where(np.isnan(err), math.inf, err)


def where(got: np.ndarray, want: np.ndarray, bad: np.ndarray) -> str:
    """The first element outside the bound, with both values; NaNs and infinities on one side
    only are named, with their count."""
    index = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    idx = tuple(int(i) for i in index)
    g, w = got[idx], want[idx]
    if np.isnan(g) != np.isnan(w) or (np.isinf(g) and g != w):
        if np.isnan(g):
            what, which = "NaN where a value was due", np.isnan(got) & ~np.isnan(want)
        elif np.isinf(g):
            what, which = f"an infinite value ({g})", np.isinf(got) & (got != want)
        else:
            what, which = f"a value ({g!r}) where NaN was due", ~np.isnan(got) & np.isnan(want)
        count = int(np.count_nonzero(which))
        return f"{what} at index {idx} (expected {w!r}; {count} of {got.size} elements)"
    return f"first difference at index {idx}: expected {w!r}, got {g!r}"


def horizon(positions: np.ndarray, norm: np.ndarray, K: float) -> tuple[int | None, list]:
    """The largest position up to which ``norm <= K`` everywhere, and the error curve.

    ``positions`` holds each element's position (broadcastable to ``norm``); distances are taken
    as ``|position|``.
    """
    p = np.abs(np.broadcast_to(positions, norm.shape)).ravel()
    e = norm.ravel()
    if p.size == 0:
        return None, []
    order = np.argsort(p, kind="stable")
    p, e = p[order], e[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    worst = np.maximum.reduceat(e, starts)
    curve = [(int(q), float(w)) for q, w in zip(p[starts], worst, strict=True)]
    within = None
    for q, w in curve:
        if w > K:
            break
        within = q
    return within, curve


def judge(
    got: list[np.ndarray],
    exact: Any,
    dtype: str,
    *,
    K: float,
    scale: list[np.ndarray],
    K_usual: float,
    scale_usual: list[np.ndarray],
    positions: np.ndarray | None = None,
) -> Judgement:
    """The verdict on ``got`` (float64-held outputs) against ``exact`` (an oracle ``Exact``).

    ``K = 0`` asks for bit-exactness: each element must equal the exact value correctly rounded
    to ``dtype``. ``positions`` (for the first output) gives the horizon and the curve.
    """
    if len(got) != len(exact.hi):
        n = len(exact.hi)
        return Judgement(
            "fail",
            math.inf,
            math.inf,
            K,
            K_usual,
            f"a different number of outputs: {len(got)} outputs, expected {n}",
        )
    worst, worst_usual, first = 0.0, 0.0, ""
    first_norm = None
    rounded = exact.rounded(dtype)
    for k, (y, hi, lo) in enumerate(zip(got, exact.hi, exact.lo, strict=True)):
        if y.shape != hi.shape:
            return Judgement(
                "fail",
                math.inf,
                math.inf,
                K,
                K_usual,
                f"a different shape {y.shape}, expected {hi.shape}",
            )
        if K == 0:
            want = rounded[k]
            bad = ~((y == want) | (np.isnan(y) & np.isnan(want)))
            norm = np.where(bad, math.inf, 0.0)
            norm_usual = norm
        else:
            want = hi
            # an exact value beyond the dtype's range rounds to infinity: that is its answer
            overflow = np.isinf(rounded[k]) & np.isfinite(hi) & (y == rounded[k])
            err = np.where(overflow, 0.0, element_errors(y, hi, lo))
            norm = normalised(err, EPS[dtype], scale[k])
            norm_usual = normalised(err, EPS[dtype], scale_usual[k])
            bad = norm > K
        if k == 0:
            first_norm = norm
        if norm.size:
            worst = max(worst, float(norm.max()))
            worst_usual = max(worst_usual, float(norm_usual.max()))
            if not first and bad.any():
                first = where(y, want, bad)
    if worst <= K:
        verdict = "pass"
    elif worst_usual <= K_usual:
        verdict = "loose"
    else:
        verdict = "fail"
    reach, curve = (None, [])
    if positions is not None and first_norm is not None:
        reach, curve = horizon(positions, first_norm, K)
    return Judgement(verdict, worst, worst_usual, K, K_usual, first, reach, curve)


def power_of_two(p: int) -> str:
    """``2^13`` for a power of two, else the number."""
    return f"2^{p.bit_length() - 1}" if p > 0 and p & (p - 1) == 0 else str(p)


def fmt(x: float | None) -> str:
    """A measured error or bound for the terminal: 3 digits, ``inf``, or ``-`` for none."""
    return "-" if x is None else "inf" if x == float("inf") else f"{x:.3g}"


def measured(error: float | None, K: float | None, verdict: str) -> str:
    """``"err=E K=K "`` for a printed verdict; nothing for an ``error`` (the call raised or
    returned no array: there is no error to measure, and the reason says what happened)."""
    return "" if verdict == "error" else f"err={fmt(error)} K={fmt(K)} "


def describe_horizon(reach: int | None, curve: list[tuple[int, float]], K: float) -> str:
    """One line for the terminal: ``exact to 2^13, 2.8e4 eps at 2^17``."""
    if not curve:
        return ""
    beyond = [(p, e) for p, e in curve if e > K]
    if not beyond:
        return f"exact to {power_of_two(curve[-1][0])}"
    p_bad, e_bad = max(beyond, key=lambda pe: pe[1])
    head = "exact nowhere" if reach is None else f"exact to {power_of_two(reach)}"
    return f"{head}, {e_bad:.2g} eps at {power_of_two(p_bad)}"
