"""A case's arguments as the suite hands them out: rounded to the dtype under test.

Shared by the runner (which feeds subjects) and the diagnoses (which recompute the case
under other conventions), so that both see the very same inputs.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.registry import Case, Spec

from .compare import host_dtype, round_to


def host_inputs(case: Case, dtype: str) -> dict[str, Any]:
    """The case's arguments with every float array rounded to ``dtype`` (held as float64);
    every other value a deep copy, so that whoever is handed them cannot change the case."""
    out = {}
    for k, v in case.kwargs.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = round_to(v, dtype)
        else:
            v = copy.deepcopy(v)
        out[k] = v
    return out


def cast_inputs(host: Mapping[str, Any], dtype: str) -> dict[str, Any]:
    """Host inputs with float arrays in ``dtype`` itself (what an adapter receives)."""
    return {
        k: v.astype(host_dtype(dtype)) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in host.items()
    }


def float64_kwargs(spec: Spec, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs`` as the float64 NumPy reference takes them (a creating spec gets ``dtype``)."""
    return dict(inputs, dtype="float64") if spec.creates else dict(inputs)
