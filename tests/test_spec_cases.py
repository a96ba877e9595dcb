"""Every registered bad-input case: the reference raises the exception its case names."""

from __future__ import annotations

import pytest

import refpe


@pytest.mark.parametrize(
    ("spec", "case"),
    [
        pytest.param(s, c, id=f"{s.id}:{c.name}")
        for s in refpe.specs()
        for c in s.cases
        if c.raises is not None
    ],
)
def test_registered_bad_cases_raise(spec, case):
    with pytest.raises(case.raises):
        spec.function(**case.kwargs)
