"""Subjects: implementations the suite checks against the reference.

A :class:`Subject` wraps one implementation of one spec: a library's built-in
(``torch.nn.functional.embedding``), a model library's function (Hugging Face's rotary
code), or the user's own function. ``call(kwargs, dtype)`` receives a case's host
arguments (NumPy arrays: floats already cast to ``dtype``, integers as int64) and returns
the result as any array (or a tuple of arrays); the suite converts it to NumPy.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from refpe.registry import Case


@dataclass(frozen=True)
class Subject:
    """One implementation of one spec, as the suite calls it."""

    name: str
    spec: str
    library: str
    call: Callable[[Mapping[str, Any], str], Any]
    dtypes: tuple[str, ...] = ("float32", "float64")
    #: The conventions this implementation uses (layout, schedule, offset, ...), for the crosswalk.
    convention: Mapping[str, str] = field(default_factory=dict)
    #: Returns a reason when a case does not apply to this subject (the case is then skipped).
    applies: Callable[[Case], str | None] | None = None
    #: Returns a reason when this subject is known to differ by convention on a case.
    differs: Callable[[Case], str | None] | None = None
    #: ``"value"`` (compared with the error model) or ``"statistical"`` (a random draw).
    kind: str = "value"
    #: Extra libraries needed besides ``library``.
    requires: tuple[str, ...] = ()
    #: Whether the subject is run on bad-input cases, to see that it refuses them; an adapter
    #: that checks values only sets it False and those cases are skipped with the reason.
    refuses: bool = True

    def skip(self, case: Case) -> str | None:
        """Why ``case`` is not run on this subject (``None``: it is run)."""
        if case.raises is not None and not self.refuses:
            return f"a bad-input case: {self.name} is checked on valid input only"
        return self.applies(case) if self.applies else None

    def unavailable(self) -> str | None:
        """Why this subject cannot run here (a library not installed), else ``None``."""
        for lib in (self.library, *self.requires):
            if lib and importlib.util.find_spec(lib) is None:
                return f"{lib} is not installed"
        return None


def on_bad_input(reason: str) -> Callable[[Case], str | None]:
    """A ``differs`` for a library that does not refuse bad input: ``reason`` on those cases."""
    return lambda case: reason if case.raises is not None else None


_SUBJECTS: list[Subject] = []


def register_subject(*subjects: Subject) -> None:
    """Add subjects (adapters call this at import)."""
    _SUBJECTS.extend(subjects)


def subjects(spec: str | None = None) -> tuple[Subject, ...]:
    """Registered subjects, all or those of one spec id."""
    from . import adapters  # noqa: F401  (registers the built-in adapters)

    return tuple(s for s in _SUBJECTS if spec is None or s.spec == spec)
