"""Facts about Hugging Face's RoPE that the exact bound and the horizon make visible.

``LlamaRotaryEmbedding`` forms the angle ``p * theta`` in float32 and casts cos and sin to the
input dtype: exact at short positions, drifting with the position. Under the old error model
(a bound that grew with the angle) it passed at every position in every dtype.
"""

from __future__ import annotations

import pytest

from refpe.conformance import Plan, run

pytest.importorskip("torch")
pytest.importorskip("transformers")

SUBJECT = "transformers.LlamaRotaryEmbedding"
SWEEP = "positions to 2^24"


@pytest.fixture(scope="module")
def results():
    return run(Plan(specs=("rope",), subjects=(SUBJECT,)))


def _one(results, case, dtype):
    (r,) = [r for r in results if r.case == case and r.dtype == dtype]
    return r


def test_float32_is_exact_below_its_horizon_and_loose_beyond(results):
    r = _one(results, SWEEP, "float32")
    assert r.verdict == "loose", r
    assert r.horizon is not None and 1 <= r.horizon < 2**24
    below = [e for p, e in r.curve if p <= r.horizon]
    beyond = [e for p, e in r.curve if p > r.horizon]
    assert below and max(below) <= r.K  # pass below the horizon
    assert beyond and max(beyond) > r.K  # loose beyond it
    assert "angle computed in float32" in r.diagnosis
    assert _one(results, "half", "float32").verdict == "pass"  # short positions: exact


def test_bfloat16_does_not_pass_at_2_24(results):
    r = _one(results, SWEEP, "bfloat16")
    assert r.verdict != "pass"
    assert r.horizon is not None and r.horizon < 2**24
    assert dict(r.curve)[2**24] > r.K
