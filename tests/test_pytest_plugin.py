"""The pytest face of the suite: the ``refpe_conformance`` fixture, and the suite itself run
as ``pytest --pyargs refpe.conformance``."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import refpe


def clamping_lookup(ids, table, *, scale=None, padding_idx=None):
    out = table[np.clip(ids, 0, table.shape[0] - 1)]
    return out if scale is None else out * scale


def test_fixture_accepts_a_conforming_function(refpe_conformance):
    report = refpe_conformance(refpe.token_lookup, spec="token-lookup")
    assert report.ok and report.worst is not None


def test_fixture_fails_the_test_with_the_report(refpe_conformance):
    with pytest.raises(pytest.fail.Exception, match="token-lookup: not conforming") as info:
        refpe_conformance(clamping_lookup, spec="token-lookup")
    assert "clamps out-of-range ids" in str(info.value)


def test_suite_runs_as_pytest_pyargs(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "refpe.conformance", "-q",
         "-p", "no:cacheprovider", "-k", "test_reference and token-lookup and numpy"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
