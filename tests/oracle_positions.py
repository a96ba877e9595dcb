"""refpe's reference against the token and position oracles: the shared comparison.

The oracle's inputs are a case's arguments rounded to the dtype under test (held as float64,
plus ``dtype`` for table-creating specs); refpe's NumPy reference runs on the same values in
that dtype. The error is the suite's normalised error ``max |y - y*| / (eps * scale)`` under
the spec's current error model, measured against the double-double exact value; a bit-exact
spec (``K = 0``) must equal the exact value correctly rounded to the dtype (``inf`` if not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import refpe
from refpe.conformance.compare import as_arrays
from refpe.conformance.oracle import ORACLES, Exact, split
from refpe.conformance.runner import cast_inputs, host_inputs
from refpe.registry import EPS

SPECS = (
    "token-lookup",
    "token-one-hot",
    "pe-sinusoidal",
    "pe-learned",
    "pe-sinusoidal-learnable",
    "pe-projected-sinusoid",
    "pe-linear",
    "pe-dual-linear",
    "input-add",
    "rope",
    "rope-scaling",
    "alibi",
    "t5-bias",
    "pe-sinusoidal-2d",
)


def cases(*spec_ids: str) -> list[tuple[str, str]]:
    """``(spec id, case name)`` of every case without ``raises``."""
    return [(s, c.name) for s in spec_ids for c in refpe.spec(s).cases if c.raises is None]


def case(spec_id: str, name: str) -> Any:
    return next(c for c in refpe.spec(spec_id).cases if c.name == name)


def oracle_inputs(spec_id: str, name: str, dtype: str) -> dict:
    inputs = host_inputs(case(spec_id, name), dtype)
    return dict(inputs, dtype=dtype) if refpe.spec(spec_id).creates else inputs


def oracle_exact(spec_id: str, inputs: dict) -> Exact:
    """The oracle's outputs computed afresh (no cache), as double-double."""
    parts = [split(o) for o in ORACLES[spec_id][1](inputs)]
    return Exact(tuple(p[0] for p in parts), tuple(p[1] for p in parts))


def reference(spec_id: str, name: str, dtype: str) -> list[np.ndarray]:
    """refpe's NumPy result on the case's inputs in ``dtype`` itself, as float64 arrays."""
    kwargs = cast_inputs(host_inputs(case(spec_id, name), dtype), dtype)
    if refpe.spec(spec_id).creates:
        kwargs["dtype"] = dtype
    return as_arrays(refpe.spec(spec_id).function(**kwargs))


def normalised_error(spec_id: str, inputs: dict, got: list[np.ndarray], want: Exact, dtype: str):
    """``(error, K)`` of ``got`` against ``want`` under the spec's error model in ``dtype``."""
    model = refpe.spec(spec_id).error
    K = model.K.get(dtype, model.K.get("float32", 0))
    assert len(got) == len(want.hi)
    worst = 0.0
    for y, hi, err, rounded in zip(
        got, want.hi, want.errors(got), want.rounded(dtype), strict=True
    ):
        assert y.shape == hi.shape, (y.shape, hi.shape)
        if K == 0:
            worst = max(worst, 0.0 if np.array_equal(y, rounded, equal_nan=True) else math.inf)
            continue
        scale = model.bound_scale(inputs, hi, dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            norm = np.where(err == 0, 0.0, err / (EPS[dtype] * scale))
        if norm.size:
            worst = max(worst, float(np.where(np.isnan(norm), math.inf, norm).max()))
    return worst, K


_MEMO: dict[tuple[str, str, str], Exact] = {}


def case_error(spec_id: str, name: str, dtype: str) -> tuple[float, float]:
    """refpe's ``(error, K)`` on a case in ``dtype``. A creating spec's inputs do not depend
    on the dtype (no float arrays) and these oracles ignore ``dtype``: computed once."""
    creates = refpe.spec(spec_id).creates
    key = (spec_id, name, "any" if creates else dtype)
    inputs = oracle_inputs(spec_id, name, dtype)
    if key not in _MEMO:
        _MEMO[key] = oracle_exact(spec_id, inputs)
    return normalised_error(spec_id, inputs, reference(spec_id, name, dtype), _MEMO[key], dtype)
