"""Oracles of the seeded initialisers: the documented host draw, reproduced apart from refpe.

refpe's initialisers document their draw (``refpe.init``'s docstrings): the variates come
from ``numpy.random.default_rng(seed)`` in float64, in C order over the shape
(``standard_normal(shape)`` or ``random(shape)``), are transformed by the distribution's
formula in float64 and rounded once to the dtype on the way to the device. The exact answer
of a case is that formula's exact real value on the generator's (exact, dyadic) variates,
rounded once to float64; the suite then rounds it once to the dtype under test. Where the
formula has no irrational constant this is the float64 draw itself (one rounding is all
``mu + sd * z`` or ``a * (2u - 1)`` has in refpe's cases). Glorot's limit is defined as
Keras defines it: ``limit = sqrt(6 / (fan_in + fan_out))`` evaluated in Python floats (a
float64 constant), the draw ``limit * (2u - 1)`` then exact.

The variates are the generator's, not drawn by any refpe code; ``sqrt`` bounds (Glorot,
Kaiming) are computed with mpmath at :data:`~._core.DIGITS` digits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._core import DIGITS, register

_HOW = "exact rationals on the generator's variates"


def _dims(shape: Any) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(n) for n in shape)


def _float64(values: list[Any], dims: tuple[int, ...]) -> np.ndarray:
    """Exact reals (Fractions or mpf) rounded once to float64 (``float()`` rounds to nearest)."""
    return np.array([float(v) for v in values], dtype=np.float64).reshape(dims)


def normal_variates(seed: int, dims: tuple[int, ...]) -> list[Fraction]:
    """``Z``: ``default_rng(seed).standard_normal(dims)``, in C order, as exact rationals."""
    z = np.random.default_rng(seed).standard_normal(dims)
    return [Fraction(float(v)) for v in z.ravel()]


def uniform_variates(seed: int, dims: tuple[int, ...]) -> list[Fraction]:
    """``U``: ``default_rng(seed).random(dims)`` (53-bit floats in [0, 1)), C order."""
    u = np.random.default_rng(seed).random(dims)
    return [Fraction(float(v)) for v in u.ravel()]


def truncated_variates(seed: int, dims: tuple[int, ...]) -> list[Fraction]:
    """``Z | |Z| <= 2`` by rejection: the whole table first, then every entry outside
    ``[-2, 2]``, in C order, gets the generator's next draw; repeated until none is outside.

    The public docstring says only "a draw outside [-2, 2] is replaced by a fresh one from the
    same generator"; which entry takes which fresh draw (round by round, as here, or each
    entry redrawn until it fits before the next) is read from ``refpe.init._truncated``'s
    docstring ("each outside [-2, 2] drawn again"). The two readings give different tables.
    """
    g = np.random.default_rng(seed)
    z = [float(v) for v in g.standard_normal(dims).ravel()]
    bad = [i for i, v in enumerate(z) if abs(v) > 2]
    while bad:
        for i in bad:
            z[i] = float(g.standard_normal())
        bad = [i for i in bad if abs(z[i]) > 2]
    return [Fraction(v) for v in z]


def _spread(inputs: Mapping[str, Any], name: str, default: float) -> Fraction:
    return Fraction(float(inputs.get(name, default)))


def normal_table(inputs: Mapping[str, Any]) -> np.ndarray:
    r""":math:`\mu + \sigma Z` (``std`` default 0.02, ``mean`` 0)."""
    dims = _dims(inputs["shape"])
    sd, mu = _spread(inputs, "std", 0.02), _spread(inputs, "mean", 0.0)
    return _float64([mu + sd * z for z in normal_variates(inputs["seed"], dims)], dims)


def uniform_table(inputs: Mapping[str, Any]) -> np.ndarray:
    r""":math:`\mu + a(2U - 1)` (``a`` default 0.05, ``mean`` 0): uniform on :math:`[\mu - a,
    \mu + a)`."""
    dims = _dims(inputs["shape"])
    a, mu = _spread(inputs, "a", 0.05), _spread(inputs, "mean", 0.0)
    return _float64([mu + a * (2 * u - 1) for u in uniform_variates(inputs["seed"], dims)], dims)


def truncated_table(inputs: Mapping[str, Any]) -> np.ndarray:
    r""":math:`\mu + \sigma Z`, :math:`|Z| \le 2` (BERT's ``initializer_range``)."""
    dims = _dims(inputs["shape"])
    sd, mu = _spread(inputs, "std", 0.02), _spread(inputs, "mean", 0.0)
    return _float64([mu + sd * z for z in truncated_variates(inputs["seed"], dims)], dims)


def _symmetric(bound: Callable[[tuple[int, ...]], Any]) -> Callable:
    """``bound(dims) * (2U - 1)``: uniform on ``(-bound, bound)``."""

    def table(seed: int, dims: tuple[int, ...]) -> np.ndarray:
        if len(dims) != 2:
            raise ValueError(f"a linear weight has a 2-D shape, got {dims!r}")
        with mpmath.workdps(DIGITS):
            b = bound(dims)
            b = b if isinstance(b, Fraction) else mpmath.mpf(b)
            values = []
            for u in uniform_variates(seed, dims):
                t = 2 * u - 1
                values.append(b * t if isinstance(b, Fraction) else b * _mpf(t))
            return _float64(values, dims)

    return table


def _mpf(x: Fraction) -> mpmath.mpf:
    return mpmath.mpf(x.numerator) / x.denominator


def _rsqrt(n: int) -> Any:
    """``1/sqrt(n)``: a rational where ``n`` is a square, else mpmath."""
    r = math.isqrt(n)
    return Fraction(1, r) if r * r == n else 1 / mpmath.sqrt(n)


def _glorot(dims: tuple[int, ...]) -> Any:
    """Keras ``glorot_uniform``: ``limit = sqrt(6 / (fan_in + fan_out))`` for an ``(in, out)``
    kernel, a Python float as Keras computes it (keras ``initializers.GlorotUniform``), so the
    limit is that float64 constant exactly."""
    return Fraction(math.sqrt(6 / (dims[0] + dims[1])))


#: (framework, kind) -> (seed, dims) -> float64 table, from the frameworks' documentation.
FRAMEWORKS: dict[tuple[str, str], Callable[[int, tuple[int, ...]], np.ndarray]] = {
    # torch.nn.Embedding: N(0, 1)
    ("torch", "embedding"): lambda s, d: _float64(normal_variates(s, d), d),
    # torch.nn.Linear (out, in): kaiming_uniform_(a=sqrt 5) -> U(-1/sqrt(in), 1/sqrt(in))
    ("torch", "linear"): _symmetric(lambda d: _rsqrt(d[1])),
    # tf.random.uniform(shape): U[0, 1)
    ("tf", "embedding"): lambda s, d: _float64(uniform_variates(s, d), d),
    # keras Embedding: RandomUniform(-0.05, 0.05); 0.05 as the float the docs write
    ("keras", "embedding"): _symmetric(lambda d: Fraction(0.05)),
    # keras Dense (in, out): glorot_uniform
    ("keras", "linear"): _symmetric(_glorot),
}


@register("init-normal", _HOW)
def init_normal(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """Seed 004 §1 (``torch.randn(dim) * 0.02``): ``std`` is the standard deviation."""
    return [normal_table(inputs)]


@register("init-uniform", _HOW)
def init_uniform(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """Seed 004 §1: uniform on ``[mean - a, mean + a)``."""
    return [uniform_table(inputs)]


@register("init-truncated-normal", _HOW)
def init_truncated_normal(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """BERT's truncated normal, two standard deviations, by rejection."""
    return [truncated_table(inputs)]


@register("init-framework-defaults", _HOW)
def init_framework_defaults(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """The framework's default distribution, drawn from ``default_rng(seed)``."""
    draw = FRAMEWORKS[(inputs["framework"], inputs["kind"])]
    return [draw(inputs["seed"], _dims(inputs["shape"]))]
