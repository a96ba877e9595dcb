"""Conversions shared by the adapters: a case's arguments as a library's arrays.

Results come back through :func:`refpe.backends.to_host`; positions through
:func:`refpe.specs._cases.host_positions`. Each library is imported inside the helper that needs
it, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe import backends
from refpe.specs._cases import host_positions


def shifted_positions(kwargs: Mapping[str, Any]) -> np.ndarray:
    """The case's ``positions`` (a count ``n`` is ``arange(n)``) plus its ``offset`` (0 without
    one)."""
    return host_positions(kwargs["positions"]) + kwargs.get("offset", 0)


def torch_float(a: Any, dtype: str) -> Any:
    """A host float array (already rounded to ``dtype``) as a CPU torch tensor of ``dtype``."""
    return backends.get("torch").asarray(np.asarray(a), dtype, "cpu")
