"""The suite as pytest: ``pytest --pyargs refpe.conformance`` runs every spec on every backend
and every registered subject; a skipped backend or subject is reported as skipped, with its
reason."""

from __future__ import annotations

import pytest

import refpe
from refpe import backends as B
from refpe.conformance import Plan, run, subjects
from refpe.conformance.judge import measured


def _explain(results):
    return "\n".join(
        f"{r.verdict}: {r.spec}/{r.case} {r.subject} {r.backend} {r.dtype}: "
        f"{measured(r.error, r.K, r.verdict)}{r.reason} {r.where} {r.diagnosis}"
        for r in results
        if r.verdict in ("fail", "error")
    )


def _judge(results):
    bad = [r for r in results if r.verdict in ("fail", "error")]
    assert not bad, _explain(bad)
    if not any(r.verdict in ("pass", "differs") for r in results):
        reasons = {r.reason for r in results if r.reason}
        pytest.skip("; ".join(sorted(reasons)) or "no case applies")


@pytest.mark.parametrize("backend", [b.name for b in B.backends()])
@pytest.mark.parametrize("spec_id", [s.id for s in refpe.specs()])
def test_reference(spec_id, backend):
    reason = B.get(backend).available()
    if reason:
        pytest.skip(reason)
    _judge(run(Plan(specs=(spec_id,), backends=(backend,), subjects=("refpe",))))


@pytest.mark.parametrize("name", sorted({s.name for s in subjects()}))
def test_subject(name):
    _judge(run(Plan(subjects=(name,))))
