"""What every oracle shares: exact values as double-double arrays, correct rounding, the cache.

An oracle computes a case's exact answer apart from the reference: mpmath at
:data:`DIGITS` significant digits, or exact integer and rational arithmetic. It never calls
refpe's formulas or their helpers; it reads only the case's inputs, taken as the exact
values of the dtype-rounded arrays the subject receives.

The exact value of each output element is kept as an unevaluated sum ``hi + lo`` of two
float64 numbers with ``hi`` the float64 nearest to it (106 bits in all). That is enough to
measure a float64 result's error to within a tiny fraction of an ulp and to round correctly
to every narrower dtype.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

#: Bumped whenever any oracle's answers change; part of every cache key.
VERSION = 2
#: Significant decimal digits of the mpmath oracles.
DIGITS = 60

_HOST = {"float64": np.float64, "float32": np.float32, "float16": np.float16}


def _host_dtype(dtype: str) -> Any:
    if dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return _HOST[dtype]


@dataclass(frozen=True)
class Exact:
    """The exact outputs of one case: ``hi[k] + lo[k]`` is output ``k``, element-wise."""

    hi: tuple[np.ndarray, ...]
    lo: tuple[np.ndarray, ...]
    oracle: str = ""

    def nearest(self) -> list[np.ndarray]:
        """Each output rounded to the nearest float64."""
        return [h.copy() for h in self.hi]

    def rounded(self, dtype: str) -> list[np.ndarray]:
        """Each output correctly rounded to ``dtype`` (ties to even), held as float64.

        Rounding ``hi`` alone is right except where ``hi`` is exactly halfway between two
        ``dtype`` numbers and ``lo`` says on which side the exact value lies.
        """
        out = []
        for hi, lo in zip(self.hi, self.lo, strict=True):
            if dtype == "float64":
                out.append(hi.copy())
                continue
            t = _host_dtype(dtype)
            with np.errstate(invalid="ignore", over="ignore"):  # beyond the range: infinity
                r = hi.astype(t).astype(np.float64)
                up = np.nextafter(hi.astype(t), np.asarray(np.inf, dtype=t)).astype(np.float64)
                down = np.nextafter(hi.astype(t), np.asarray(-np.inf, dtype=t)).astype(np.float64)
                tie_up = (r < hi) & (hi - r == up - hi) & (lo > 0)
                tie_down = (r > hi) & (r - hi == hi - down) & (lo < 0)
            r = np.where(tie_up, up, np.where(tie_down, down, r))
            out.append(r)
        return out

    def errors(self, got: Sequence[Any]) -> list[np.ndarray]:
        """``|y - exact|`` element-wise for float64-held results ``got`` (NaN where either is)."""
        out = []
        for y, hi, lo in zip(got, self.hi, self.lo, strict=True):
            y = np.asarray(y, dtype=np.float64)
            with np.errstate(invalid="ignore", over="ignore"):
                out.append(np.abs((y - hi) - lo))
        return out


def split(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """An array of exact numbers (mpmath ``mpf``, ``Fraction``, ``int``, ``float``) as
    ``(hi, lo)`` float64 arrays: ``hi`` the nearest float64, ``lo`` the nearest to the rest."""
    arr = np.asarray(values, dtype=object)
    hi = np.empty(arr.shape, dtype=np.float64)
    lo = np.zeros(arr.shape, dtype=np.float64)
    for idx, v in np.ndenumerate(arr):
        h, l = _split_one(v)
        hi[idx], lo[idx] = h, l
    return hi, lo


def _split_one(v: Any) -> tuple[float, float]:
    if isinstance(v, (float, np.floating)):
        return float(v), 0.0
    if isinstance(v, (int, np.integer, Fraction)):
        f = Fraction(v)
        h = float(f)  # correctly rounded
        return h, float(f - Fraction(h))
    import mpmath

    if isinstance(v, mpmath.mpf):
        h = float(v)  # mpmath rounds to nearest
        fast = _split_rest(v, h)
        if fast is not None:
            return h, fast
        if not mpmath.isfinite(v):
            return h, 0.0
        with mpmath.workprec(max(v.context.prec, 240)):
            return h, float(v - mpmath.mpf(h))
    raise TypeError(f"an oracle returned {type(v).__name__}, not an exact number")


def _split_rest(v: Any, h: float) -> float | None:
    """``v - h`` rounded to float64, in integers (several times faster than an mpmath
    subtraction at a raised precision); ``None`` where that could round twice or overflow
    (``h`` infinite, a tiny or huge rest, a mantissa past 900 bits)."""
    if not math.isfinite(h):
        return None
    sign, man, exp, _ = v._mpf_  # v = (-1)**sign * man * 2**exp
    num, den = h.as_integer_ratio()  # h = num / 2**k
    k = den.bit_length() - 1
    low = min(exp, -k)
    rest = ((-man if sign else man) << (exp - low)) - (num << (-k - low))
    if rest == 0:
        return 0.0
    if rest.bit_length() > 900 or rest.bit_length() + low < -1000:
        return None
    return math.ldexp(float(rest), low)  # float(int) rounds correctly; ldexp is then exact


#: spec id -> oracle function ``inputs -> outputs`` (a sequence of arrays of exact numbers).
ORACLES: dict[str, tuple[str, Callable[[Mapping[str, Any]], Sequence[Any]]]] = {}


def register(spec_id: str, how: str) -> Callable[[Callable], Callable]:
    """Make the decorated function the oracle of ``spec_id``; ``how`` names its arithmetic
    ("mpmath at 60 digits", "exact rationals", ...) for the reports."""

    def deco(fn: Callable) -> Callable:
        if spec_id in ORACLES:
            raise ValueError(f"spec id {spec_id!r} has an oracle already")
        ORACLES[spec_id] = (how, fn)
        return fn

    return deco


def cache_dir() -> Path | None:
    """Where exact answers are kept between runs: ``$REFPE_CACHE_DIR``, else the user's cache
    folder; ``None`` (no disk cache) when ``REFPE_CACHE_DIR`` is empty."""
    env = os.environ.get("REFPE_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "refpe" / "oracle"


def _key(spec_id: str, case: str, inputs: Mapping[str, Any]) -> str:
    h = hashlib.sha256(f"{spec_id}\0{case}\0{VERSION}".encode())
    for k in sorted(inputs):
        v = inputs[k]
        h.update(k.encode() + b"\0")
        if isinstance(v, np.ndarray):
            h.update(f"{v.dtype.str}{v.shape}".encode() + np.ascontiguousarray(v).tobytes())
        else:
            h.update(repr(v).encode())
    return h.hexdigest()[:32]


_MEMORY: dict[str, Exact] = {}


def exact(spec_id: str, case: str, inputs: Mapping[str, Any]) -> Exact:
    """The exact outputs of ``spec_id`` on ``inputs`` (the case's host arguments, float
    arrays holding the dtype-rounded values), from memory, the disk cache or the oracle."""
    if spec_id not in ORACLES:
        raise KeyError(f"no oracle for spec {spec_id!r}")
    key = _key(spec_id, case, inputs)
    if key in _MEMORY:
        return _MEMORY[key]
    how, fn = ORACLES[spec_id]
    folder = cache_dir()
    path = folder / spec_id / f"{key}.npz" if folder else None
    found = _read(path) if path else None
    if found is None:
        outputs = fn(inputs)
        parts = [split(o) for o in outputs]
        found = Exact(tuple(p[0] for p in parts), tuple(p[1] for p in parts), how)
        if path:
            _write(path, found)
    _MEMORY[key] = found
    return found


def _read(path: Path) -> Exact | None:
    """The cached answer at ``path``; ``None`` when absent, unreadable or of another version
    (plain arrays only: nothing in the cache is executed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["version"]) != VERSION:
                return None
            n = int(data["outputs"])
            hi = tuple(data[f"hi{k}"] for k in range(n))
            lo = tuple(data[f"lo{k}"] for k in range(n))
            return Exact(hi, lo, str(data["oracle"]))
    except (OSError, KeyError, ValueError, EOFError):
        return None


def _write(path: Path, value: Exact) -> None:
    """Atomically: a temporary file in the same folder, then a rename (a failure leaves none)."""
    arrays = {f"hi{k}": h for k, h in enumerate(value.hi)}
    arrays.update({f"lo{k}": l for k, l in enumerate(value.lo)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    except OSError:
        return  # a read-only or missing cache folder only costs recomputation
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, version=VERSION, outputs=len(value.hi), oracle=value.oracle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
