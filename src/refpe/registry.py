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

#: Unit round-off scale of each floating dtype: ``eps = 2**-(mantissa bits)``.
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
class ErrorModel:
    r"""How far a correct result in a dtype may be from the exact value.

    A result conforms when :math:`|y - y_{exact}| \le K \cdot \epsilon(dtype) \cdot scale`
    element-wise. ``K`` maps dtype names to the bound's constant; ``K = 0`` means
    bit-exact (a lookup, a seeded draw). ``scale(inputs, exact, dtype)`` returns the
    per-element scale from the formula's forward-error analysis (``None`` means 1);
    ``inputs`` are the case's host arguments after rounding to the dtype, as float64.
    """

    K: Mapping[str, float]
    scale: Callable[[Mapping[str, Any], Any, str], Any] | None = None
    text: str = ""
    statistical: Mapping[str, Any] | None = None

    def bound_scale(self, inputs: Mapping[str, Any], exact: Any, dtype: str) -> Any:
        if self.scale is None:
            return np.ones_like(np.asarray(exact, dtype=np.float64))
        return np.broadcast_to(
            np.asarray(self.scale(inputs, exact, dtype), dtype=np.float64), np.shape(exact)
        )


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
