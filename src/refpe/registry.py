"""The spec registry: every formula of the catalogue described once, as data.

A :class:`Spec` is what the conformance suite runs, what the docs render and what
``refpe specs`` lists. The family modules of :mod:`refpe.specs` call :func:`register` when
they are imported, in catalogue order; :func:`specs` and :func:`spec` read them back. This
module imports nothing of refpe: the formulas, the specs and the suite all build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Unit round-off scale of each floating dtype, ``eps = 2**-(mantissa bits)``.
EPS: Mapping[str, float] = {
    "float64": 2.0**-52,
    "float32": 2.0**-23,
    "float16": 2.0**-10,
    "bfloat16": 2.0**-7,
}

FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Case:
    """One set of arguments for a spec's function.

    ``kwargs`` holds host values: NumPy float arrays (float64) are cast by the suite to the
    dtype under test, NumPy integer arrays become the backend's integer arrays, anything
    else is passed as it is. ``edge`` marks a case that probes a boundary; ``raises`` marks
    bad input that a conforming implementation refuses with that exception type.
    """

    name: str
    kwargs: Mapping[str, Any]
    edge: bool = False
    note: str = ""
    #: The exception type a conforming implementation raises on these arguments (bad input).
    raises: type[Exception] | None = None


@dataclass(frozen=True)
class Bound:
    r"""One bound on a result's error: :math:`|y - y^*| \le K \cdot \epsilon(dtype) \cdot scale`.

    ``K`` maps dtype names to the constant (``K = 0``: bit-exact, the exact value correctly
    rounded); ``scale(inputs, exact, dtype)`` gives the per-element scale (``None``: 1), where
    ``inputs`` are the case's host arguments after rounding to the dtype, as float64, and
    ``exact`` the exact outputs (float64 nearest).
    """

    K: Mapping[str, float]
    scale: Callable[[Mapping[str, Any], Any, str], Any] | None = None
    text: str = ""

    def bound_scale(self, inputs: Mapping[str, Any], exact: Any, dtype: str) -> Any:
        if self.scale is None:
            return np.ones_like(np.asarray(exact, dtype=np.float64))
        return np.broadcast_to(
            np.asarray(self.scale(inputs, exact, dtype), dtype=np.float64), np.shape(exact)
        )

    def K_of(self, dtype: str) -> float:
        """``K`` for ``dtype`` (float32's where the dtype has none of its own)."""
        return float(self.K.get(dtype, self.K.get("float32", 0)))


@dataclass(frozen=True)
class ErrorModel(Bound):
    r"""How far a correct result in a dtype may be from the exact value: two bounds.

    ``K``, ``scale`` and ``text`` are the **exact** bound: ``scale`` is the natural size of the
    output (1 for a table of sines, :math:`|x_a| + |x_b|` for a rotated pair, the sum of the
    absolute terms for a sum), with no factor that grows with the position or the angle, and
    ``K`` small (at most 2 for tables, 4 for reductions). refpe's own results meet it on every
    backend and dtype; a result within it is ``pass``.

    ``usual`` is the forward-error bound of the textbook evaluation in the dtype (the angle
    rounded in the dtype, a power with a rounded exponent, ...): what computing the formula in
    that dtype usually gives. A result beyond the exact bound but within this one is ``loose``;
    beyond both, ``fail``. ``None``: the usual bound is the exact one (lookups, seeded draws,
    integer buckets, where any correct evaluation is exact).

    ``statistical`` describes the check of a library's own random draws (moments, KS test).
    """

    statistical: Mapping[str, Any] | None = None
    usual: Bound | None = None

    @property
    def exact(self) -> Bound:
        """The exact bound, as a :class:`Bound`."""
        return Bound(self.K, self.scale, self.text)

    @property
    def usual_bound(self) -> Bound:
        """The usual bound (the exact one where the spec states none of its own)."""
        return self.usual if self.usual is not None else self.exact


@dataclass(frozen=True)
class Erratum:
    """A place where a seed's code contradicts its own text, and what refpe does."""

    seed: str
    seed_does: str
    refpe_does: str
    why: str


@dataclass(frozen=True)
class Spec:
    """A formula of the catalogue: its math, sources, function, domain, cases and error model."""

    id: str
    title: str
    latex: str
    sources: tuple[str, ...]
    function: Callable[..., Any]
    domain: Mapping[str, str]
    cases: tuple[Case, ...]
    error: ErrorModel
    invariants: tuple[str, ...] = ()
    errata: tuple[Erratum, ...] = ()
    terms: tuple[str, ...] = ()
    section: str = ""
    explanation: str = ""
    #: Positional argument names that are float arrays to be cast to the dtype under test.
    float_args: tuple[str, ...] = ()
    #: Whether the function creates its output and takes ``dtype=``/``xp=``/``device=``.
    creates: bool = False
    #: dtypes the spec is checked in (float16/bfloat16 only where meaningful).
    dtypes: tuple[str, ...] = ("float64", "float32")
    #: The position (or the distance between positions) each element of the first output stands
    #: for; ``positions(inputs)`` is an integer array broadcastable to that output's shape. It
    #: gives the horizon (the largest position within the exact bound); ``None`` when the spec
    #: has no positions.
    positions: Callable[[Mapping[str, Any]], Any] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        """The public function name: the id with ``-`` replaced by ``_``."""
        return self.function.__name__


_SPECS: dict[str, Spec] = {}


def register(*new: Spec) -> None:
    """Add specs to the registry; an id may be registered once."""
    for s in new:
        if s.id in _SPECS:
            raise ValueError(f"spec id {s.id!r} is registered twice")
        _SPECS[s.id] = s


def specs() -> tuple[Spec, ...]:
    """Every registered :class:`Spec`, in catalogue order."""
    return tuple(_SPECS.values())


def spec(id: str) -> Spec:
    """The :class:`Spec` with this id; ``KeyError`` naming the known ids otherwise."""
    try:
        return _SPECS[id]
    except KeyError:
        known = ", ".join(sorted(_SPECS))
        raise KeyError(f"unknown spec id {id!r}; known ids: {known}") from None
