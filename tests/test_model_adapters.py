"""Model-library adapters (transformers, x-transformers, rotary-embedding-torch, torchtune,
keras-hub, the tensor2tensor / fairseq transcriptions) against the reference, case by case,
within each spec's usual bound: what evaluating the formula in that dtype usually gives (refpe
itself is held to the exact bound; the libraries' horizons are in test_hf_horizon).
Independent of the suite's runner."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import normalised_error

import refpe
from refpe.conformance.subjects import subjects

MODULES = {
    "hf_transformers",
    "x_transformers",
    "rotary_embedding_torch",
    "torchtune",
    "keras_hub",
    "fairseq_t2t",
}
OURS = [s for s in subjects() if s.call.__module__.rsplit(".", 1)[-1] in MODULES]


def _runs():
    for s in OURS:
        spec = refpe.spec(s.spec)
        for case in spec.cases:
            if s.skip(case):
                continue
            for dtype in s.dtypes:
                if dtype in spec.dtypes:
                    yield pytest.param(s, spec, case, dtype, id=f"{s.name}-{case.name}-{dtype}")


def _round(a, dtype):
    a = np.asarray(a, dtype=np.float64)
    if dtype == "bfloat16":
        torch = pytest.importorskip("torch")
        return torch.from_numpy(a).to(torch.bfloat16).double().numpy()
    return a.astype(dtype).astype(np.float64)


def _host(spec, case, dtype):
    rounded = {k: _round(v, dtype) if k in spec.float_args else v for k, v in case.kwargs.items()}
    wire = "float32" if dtype == "bfloat16" else dtype
    host = {k: v.astype(wire) if k in spec.float_args else v for k, v in rounded.items()}
    return rounded, host


def _check(spec, case, dtype, subject):
    rounded, host = _host(spec, case, dtype)
    exact = spec.function(**(rounded | ({"dtype": "float64"} if spec.creates else {})))
    got = subject.call(host, dtype)
    exact = exact if isinstance(exact, tuple) else (exact,)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(exact)
    bound = spec.error.usual_bound
    K = bound.K_of(dtype)
    worst = 0.0
    for y, e in zip(got, exact, strict=True):
        y = np.asarray(y.detach().double() if hasattr(y, "detach") else y, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        assert y.shape == e.shape
        if K == 0:
            worst = max(worst, 0.0 if np.array_equal(y, _round(e, dtype)) else np.inf)
            continue
        scale = bound.bound_scale(rounded, e, dtype)
        exact_zero = (scale == 0) & (y == e)
        worst = max(
            worst,
            normalised_error(y[~exact_zero], e[~exact_zero], dtype, scale[~exact_zero])
            if (~exact_zero).any()
            else 0.0,
        )
    return worst, K


@pytest.mark.parametrize(("subject", "spec", "case", "dtype"), list(_runs()))
def test_adapter_conforms(subject, spec, case, dtype):
    missing = subject.unavailable()
    if missing:
        pytest.skip(missing)
    differs = subject.differs(case) if subject.differs else None
    if differs:
        try:
            worst, K = _check(spec, case, dtype, subject)
        except Exception as exc:
            pytest.xfail(f"differs by convention ({type(exc).__name__}): {differs}")
        if worst > K:
            pytest.xfail(f"differs by convention (error {worst:.3g} > K = {K}): {differs}")
        return
    worst, K = _check(spec, case, dtype, subject)
    assert worst <= K, f"normalised error {worst:.3g} > K = {K}"


def test_cases_that_do_not_apply_say_why():
    for s in OURS:
        for case in refpe.spec(s.spec).cases:
            why = s.skip(case)
            assert why is None or (isinstance(why, str) and why), (s.name, case.name)


def test_every_library_has_a_subject_and_a_convention():
    libraries = {s.call.__module__.rsplit(".", 1)[-1] for s in OURS}
    assert libraries == MODULES
    for s in OURS:
        assert s.convention, s.name
        assert s.spec in {sp.id for sp in refpe.specs()}, s.spec


def test_absent_libraries_are_skipped_with_the_reason():
    keras = [s for s in OURS if s.library == "keras_hub"]
    assert keras
    for s in keras:
        reason = s.unavailable()
        import importlib.util

        if importlib.util.find_spec("keras_hub") is None:
            assert reason == "keras_hub is not installed"


def test_bloom_is_key_only_and_softmax_equivalent():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    h, t = 12, 7
    bloom = build_alibi_tensor(torch.ones(1, t, dtype=torch.long), h, torch.float64)
    bloom = bloom.reshape(h, 1, t).numpy()
    slopes = bloom[:, 0, 1]
    key_only = slopes.astype(np.float32)[:, None] * np.arange(t, dtype=np.float32)
    np.testing.assert_array_equal(bloom[:, 0], key_only)
    np.testing.assert_allclose(slopes, refpe.alibi_slopes(h), rtol=2.0**-23 * 14)
    scores = np.random.default_rng(0).standard_normal((h, t, t))

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    np.testing.assert_allclose(
        softmax(scores + bloom), softmax(scores + refpe.alibi(h, t, t)), rtol=1e-6
    )


def test_t5_buckets_match_hugging_face_over_many_configs():
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers.models.t5.modeling_t5 import T5Attention

    r = np.arange(-1500, 1500)
    for nb, md in [(32, 128), (16, 64), (9, 20), (64, 1000), (4, 3), (128, 256)]:
        for bi in (True, False):
            if bi and nb < 4:
                continue
            hf = T5Attention._relative_position_bucket(
                torch.from_numpy(r), bidirectional=bi, num_buckets=nb, max_distance=md
            ).numpy()
            np.testing.assert_array_equal(
                refpe.t5_bucket(r, bidirectional=bi, num_buckets=nb, max_distance=md), hf
            )


@pytest.mark.parametrize("d", [4, 7, 64])
def test_fairseq_rows_alone_are_the_full_tables_rows(d):
    """The fairseq transcription computes only the rows its positions index; fairseq's
    ``get_embedding`` builds the whole table first. Both, bit for bit, at positions up to 5000
    (the full table beyond that is what the subject avoids)."""
    torch = pytest.importorskip("torch")
    import math

    from refpe.conformance.adapters.fairseq_t2t import _fairseq

    pos = np.random.default_rng(d).integers(0, 5000, (3, 17))
    half = d // 2
    emb = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000.0) / (half - 1)))
    table = torch.arange(5000, dtype=torch.float).unsqueeze(1) * emb.unsqueeze(0)
    table = torch.cat([torch.sin(table), torch.cos(table)], dim=1)
    if d % 2:
        table = torch.cat([table, torch.zeros(5000, 1)], dim=1)
    want = table[torch.from_numpy(pos)].numpy()
    got = _fairseq({"positions": pos, "d": d}, "float32")
    assert got.shape == (3, 17, d) and np.array_equal(got, want)
