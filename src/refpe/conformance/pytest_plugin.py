"""A pytest plugin: assert in one test that your function conforms to a refpe spec.

Installed with refpe (entry point ``pytest11``), it provides the ``refpe_conformance``
fixture::

    def test_my_sinusoid(refpe_conformance):
        refpe_conformance(my_sinusoid, spec="pe-sinusoidal", backend="torch")

Keywords go to :func:`refpe.conformance.check`: ``accept=("loose",)`` lets results beyond the
exact bound but within the usual one pass the test, ``accept=("skipped",)`` a check where most
cases were skipped; ``supports={...}`` declares the conventions the function implements and
``strict_errors=True`` requires the spec's exception type on bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def refpe_conformance() -> Callable[..., Any]:
    """``check(func, spec=..., backend=...)`` that fails the test with the report."""
    from .check import check

    def assert_conforms(func: Callable[..., Any], spec: str, **kwargs: Any) -> Any:
        report = check(func, spec, **kwargs)
        if not report.ok:
            pytest.fail(f"{spec}: not conforming\n{report}", pytrace=False)
        return report

    return assert_conforms
