"""Conversions shared by the adapters: a case's arguments to a library's arrays and back.

Each library is imported inside the helper that needs it, so importing this module costs
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def positions(kwargs: Mapping[str, Any]) -> np.ndarray:
    """A case's ``positions``: ``arange(n)`` for a count ``n``, else the array given."""
    p = kwargs["positions"]
    return np.arange(p) if isinstance(p, int) else np.asarray(p)


def shifted_positions(kwargs: Mapping[str, Any]) -> np.ndarray:
    """:func:`positions` plus the case's ``offset`` (0 without one)."""
    return positions(kwargs) + kwargs.get("offset", 0)


def torch_float(a: Any, dtype: str) -> Any:
    """A host float array (already rounded to ``dtype``) as a torch tensor of ``dtype``.

    Values pass through float64 for float64 and float32 otherwise, exact either way (torch
    cannot read NumPy's bfloat16 directly).
    """
    import torch

    host = np.asarray(a, dtype=np.float64 if dtype == "float64" else np.float32)
    return torch.from_numpy(host.copy()).to(getattr(torch, dtype))


def torch_numpy(t: Any) -> np.ndarray:
    """A torch result on the host (bfloat16, which NumPy lacks, widened exactly to float32)."""
    import torch

    t = t.detach().cpu()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()
