"""Which warnings caught while a subject ran are the subject's own.

The suite records a subject's warnings in the result's reason. Warnings that refpe itself
raises while preparing or judging a case (an expected overflow in a bound, a deprecation on a
lazy import) say nothing about the subject and are left out.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import refpe

_PACKAGE = os.path.dirname(os.path.abspath(refpe.__file__)) + os.sep
_IMPORT_CATEGORIES = (DeprecationWarning, PendingDeprecationWarning, ImportWarning)


def from_refpe(w: warnings.WarningMessage) -> bool:
    """Whether ``w`` was raised from refpe's own code, or by the import machinery."""
    filename = os.path.abspath(w.filename) if w.filename else ""
    if filename.startswith(_PACKAGE):
        return True
    return str(w.filename).startswith("<frozen") and issubclass(w.category, _IMPORT_CATEGORIES)


def subject_warnings(caught: Iterable[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    """``caught`` without refpe's own warnings."""
    return [w for w in caught if not from_refpe(w)]
