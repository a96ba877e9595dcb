"""The 14 specs of catalogue §1–§3: registered as promised, cases run, error models hold."""

from __future__ import annotations

import numpy as np
import pytest

import refpe
from refpe.registry import EPS

IDS = (
    "token-lookup",
    "token-one-hot",
    "init-normal",
    "init-uniform",
    "init-truncated-normal",
    "init-framework-defaults",
    "pe-sinusoidal",
    "pe-learned",
    "pe-sinusoidal-learnable",
    "pe-projected-sinusoid",
    "pe-linear",
    "pe-dual-linear",
    "input-add",
    "input-bert",
)
NAMES = {"init-framework-defaults": "init_framework_default"}


@pytest.mark.parametrize("sid", IDS)
def test_registered_with_docs(sid):
    s = refpe.spec(sid)
    assert s.name == NAMES.get(sid, sid.replace("-", "_"))
    public = getattr(refpe, s.name)
    assert getattr(public, "reference", public) is s.function
    doc = s.function.__doc__
    assert ".. math::" in doc and "Precision" in doc and "Source" in doc
    assert s.latex and s.sources and s.terms and s.section and s.explanation
    assert any(not c.edge for c in s.cases) and any(c.edge for c in s.cases)
    for e in s.errata:
        assert e.seed.split()[0] in doc or "erratum" in doc.lower()
    assert set(s.dtypes) <= set(s.error.K)


def _rounded(kwargs, dtype):
    """Float arrays rounded to ``dtype``: as that dtype, and as float64."""
    cast, wide = {}, {}
    for k, v in kwargs.items():
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            cast[k] = v.astype(dtype)
            wide[k] = cast[k].astype(np.float64)
        else:
            cast[k] = wide[k] = v
    return cast, wide


def _valid_cases():
    """The cases with valid input (bad ones: tests/test_spec_cases.py)."""
    for sid in IDS:
        for case in refpe.spec(sid).cases:
            if case.raises is None:
                yield pytest.param(sid, case, id=f"{sid}:{case.name}")


@pytest.mark.parametrize(("sid", "case"), list(_valid_cases()))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cases_within_error_model(sid, case, dtype):
    """refpe in ``dtype`` against refpe in float64 on the rounded inputs, by the spec's model."""
    s = refpe.spec(sid)
    cast, wide = _rounded(case.kwargs, dtype)
    extra = {"dtype": dtype} if s.creates else {}
    exact = np.asarray(s.function(**wide, **({"dtype": "float64"} if s.creates else {})))
    y = np.asarray(s.function(**cast, **extra))
    assert y.dtype == np.dtype(dtype) and y.shape == exact.shape
    K = s.error.K[dtype]
    if K == 0:
        np.testing.assert_array_equal(y, exact.astype(dtype))
        return
    scale = s.error.bound_scale(wide, exact, dtype)
    diff = np.abs(y.astype(np.float64) - exact)
    assert np.all(diff <= K * EPS[dtype] * scale), f"worst {np.max(diff / (EPS[dtype] * scale))}"
