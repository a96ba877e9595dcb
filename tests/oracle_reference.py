"""refpe's reference against the oracle: the checks shared by the ``test_oracle_*`` files.

``reference_error`` runs refpe's NumPy reference on a case in a dtype (float64: float64
arrays; float32: float32 arrays, the suite's ``refpe`` subject) and returns its normalised
error against the oracle under the spec's current error model (``inf`` where a bit-exact
spec differs). The oracle's inputs are the case's arguments rounded to that dtype.
"""

from __future__ import annotations

import numpy as np

import refpe
from refpe.conformance.compare import as_arrays, compare
from refpe.conformance.oracle import ORACLES, split
from refpe.conformance.runner import cast_inputs, host_inputs


def cases(*spec_ids: str) -> list[tuple[str, str]]:
    """``(spec id, case name)`` of every case without ``raises``."""
    return [(s, c.name) for s in spec_ids for c in refpe.spec(s).cases if c.raises is None]


def case(spec_id: str, name: str):
    return next(c for c in refpe.spec(spec_id).cases if c.name == name)


def oracle_inputs(spec_id: str, name: str, dtype: str) -> dict:
    spec = refpe.spec(spec_id)
    inputs = host_inputs(case(spec_id, name), dtype)
    return dict(inputs, dtype=dtype) if spec.creates else inputs


def oracle_values(spec_id: str, inputs: dict) -> list[np.ndarray]:
    """The oracle's outputs, each as the nearest float64 (computed afresh, no cache)."""
    return [split(o)[0] for o in ORACLES[spec_id][1](inputs)]


def reference(spec_id: str, name: str, dtype: str) -> list[np.ndarray]:
    """refpe's NumPy result on the case's inputs in ``dtype`` itself, as float64 arrays."""
    spec = refpe.spec(spec_id)
    kwargs = cast_inputs(host_inputs(case(spec_id, name), dtype), dtype)
    if spec.creates:
        kwargs["dtype"] = dtype
    return as_arrays(spec.function(**kwargs))


def reference_error(spec_id: str, name: str, dtype: str, want: list[np.ndarray] | None = None):
    """``(normalised error, K, where)`` of refpe's result against ``want`` (the oracle's)."""
    spec = refpe.spec(spec_id)
    inputs = oracle_inputs(spec_id, name, dtype)
    if want is None:
        want = oracle_values(spec_id, inputs)
    got = reference(spec_id, name, dtype)
    cmp = compare(got, want, spec.error, inputs, dtype)
    return cmp.error, spec.error.K.get(dtype, spec.error.K.get("float32", 0)), cmp.where
