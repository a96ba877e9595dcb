"""ALiBi and T5 relative biases: mpmath / integer ground truth, invariants, errors."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from helpers import normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe
from refpe.registry import EPS
from refpe.specs.relative import _alibi_scale

ALIBI = refpe.spec("alibi")
T5 = refpe.spec("t5-bias")
ALIBI_CASES = [c for c in ALIBI.cases if c.raises is None]
T5_CASES = [c for c in T5.cases if c.raises is None]


def _mp_slopes(h):
    mpmath.mp.dps = 40
    n = 2 ** math.floor(math.log2(h))
    first = [mpmath.power(2, -mpmath.mpf(8 * k) / n) for k in range(1, n + 1)]
    return first + [mpmath.power(2, -mpmath.mpf(4 * g) / n) for g in range(1, 2 * (h - n), 2)]


@pytest.mark.parametrize("h", [1, 2, 3, 5, 6, 8, 12, 16, 20, 24, 32, 40, 64, 80, 96, 128])
def test_slopes_against_mpmath(h):
    got = refpe.alibi_slopes(h)
    exact = np.array([float(m) for m in _mp_slopes(h)])
    assert got.shape == (h,)
    assert normalised_error(got, exact, "float64", exact) <= 0.5


@settings(max_examples=20, deadline=None)
@given(k=st.integers(0, 8), seed=st.integers(0, 100))
def test_slopes_geometric_for_powers_of_two(k, seed):
    h = 2**k
    m = refpe.alibi_slopes(h)
    ratio = 2.0 ** (-8 / h)
    np.testing.assert_allclose(m[1:] / m[:-1], ratio, rtol=4 * EPS["float64"])
    assert m[0] == pytest.approx(ratio, rel=EPS["float64"])


@pytest.mark.parametrize("h", [3, 5, 6, 7, 12, 24, 48, 100])
def test_other_head_counts_follow_the_published_rule(h):
    n = 2 ** math.floor(math.log2(h))
    m = refpe.alibi_slopes(h)
    np.testing.assert_array_equal(m[:n], refpe.alibi_slopes(n))
    np.testing.assert_array_equal(m[n:], refpe.alibi_slopes(2 * n)[0::2][: h - n])


@pytest.mark.parametrize("case", ALIBI_CASES, ids=lambda c: c.name)
def test_alibi_float64_against_mpmath(case):
    kw = case.kwargs
    b = refpe.alibi(**kw, dtype="float64")
    h, q, k = kw["num_heads"], kw["q_len"], kw["k_len"]
    assert b.shape == (h, q, k)
    m = _mp_slopes(h)
    i = np.arange(q)[:, None] + kw.get("offset", k - q)
    dist = np.arange(k)[None, :] - i
    if not kw.get("causal", True):
        dist = -np.abs(dist)
    exact = np.array([[[float(m[a] * int(d)) for d in row] for row in dist] for a in range(h)])
    assert normalised_error(b, exact, "float64", np.where(exact == 0, 1, np.abs(exact))) <= 1.0


@pytest.mark.parametrize("case", ALIBI_CASES, ids=lambda c: c.name)
def test_alibi_in_every_namespace(xp, case):
    exact = refpe.alibi(**case.kwargs, dtype="float64")
    got = refpe.alibi(**case.kwargs, xp=xp, dtype="float32")
    assert got.dtype == xp.float32
    scale = _alibi_scale(case.kwargs, exact, "float32")
    scale = np.where(scale == 0, 1, scale)
    assert normalised_error(got, exact, "float32", scale) <= ALIBI.error.K["float32"]
    default = xp.__array_namespace_info__().default_dtypes()["real floating"]
    assert refpe.alibi(**case.kwargs, xp=xp).dtype == default


def test_softmax_cancels_the_key_only_form():
    h, t = 6, 9
    scores = np.random.default_rng(0).standard_normal((h, t, t))
    m = refpe.alibi_slopes(h)
    key_only = m[:, None, None] * np.arange(t)[None, None, :]

    def softmax(z):
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    np.testing.assert_allclose(
        softmax(scores + refpe.alibi(h, t, t)), softmax(scores + key_only), rtol=1e-13, atol=0
    )


def test_symmetric_and_offset():
    b = refpe.alibi(4, 3, 3, causal=False)
    np.testing.assert_array_equal(b, np.transpose(b, (0, 2, 1)))
    assert np.all(b <= 0) and np.all(np.diagonal(b, axis1=1, axis2=2) == 0)
    last = refpe.alibi(4, 1, 6)
    np.testing.assert_array_equal(last[:, 0], refpe.alibi(4, 6, 6)[:, -1])
    np.testing.assert_array_equal(refpe.alibi(4, 2, 5, offset=0), refpe.alibi(4, 5, 5)[:, :2])


# --- T5 -------------------------------------------------------------------------------


def _bucket_mp(r, bidirectional, nb, md):
    """T5's formula with the log in 50 digits."""
    mpmath.mp.dps = 50
    b = 0
    if bidirectional:
        nb //= 2
        b += nb if r > 0 else 0
        n = abs(r)
    else:
        n = max(-r, 0)
    e = nb // 2
    if n < e:
        return b + n
    large = e + int(
        mpmath.floor(mpmath.log(mpmath.mpf(n) / e) / mpmath.log(mpmath.mpf(md) / e) * (nb - e))
    )
    return b + min(large, nb - 1)


@settings(max_examples=40, deadline=None)
@given(
    nb=st.integers(4, 80),
    md=st.integers(1, 600),
    bidirectional=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_buckets_against_mpmath(nb, md, bidirectional, seed):
    e = (nb // 2 if bidirectional else nb) // 2
    md = max(md, e + 1)
    r = np.random.default_rng(seed).integers(-3 * md, 3 * md, size=60)
    got = refpe.t5_bucket(r, bidirectional=bidirectional, num_buckets=nb, max_distance=md)
    want = [_bucket_mp(int(v), bidirectional, nb, md) for v in r]
    np.testing.assert_array_equal(got, want)


def test_bucket_boundaries_are_exact():
    r = np.arange(-130, 131)
    b = refpe.t5_bucket(r)
    assert b[r == -16][0] == 10 and b[r == -15][0] == 9 and b[r == -8][0] == 8
    assert b[r == 16][0] == 26 and b[r == 127][0] == 31 and b[r == 128][0] == 31
    assert b[r == -128][0] == 15 and b[r == 7][0] == 23
    uni = refpe.t5_bucket(r, bidirectional=False)
    assert np.all(uni[r > 0] == 0) and uni[r == -8][0] == 8


@pytest.mark.parametrize("bidirectional", [True, False])
def test_buckets_monotone_and_in_range(xp, bidirectional):
    r = np.arange(-400, 401)
    got = to_numpy(refpe.t5_bucket(xp_asarray(xp, r), bidirectional=bidirectional))
    np.testing.assert_array_equal(got, refpe.t5_bucket(r, bidirectional=bidirectional))
    assert got.min() >= 0 and got.max() <= 31
    side = got[r <= 0][::-1]
    assert np.all(np.diff(side) >= 0)
    assert np.all(got[r <= -128] == got[r == -128][0])


@pytest.mark.parametrize("case", T5_CASES, ids=lambda c: c.name)
def test_t5_bias_is_a_gather(xp, case):
    kw = dict(case.kwargs)
    table = kw.pop("table")
    got = refpe.t5_bias(xp_asarray(xp, table, "float32"), **kw)
    assert got.dtype == xp.float32
    q, k = kw["q_len"], kw["k_len"]
    rel = np.arange(k)[None, :] - (np.arange(q)[:, None] + kw.get("offset", k - q))
    kw.pop("offset", None)
    opts = {n: kw[n] for n in ("bidirectional", "num_buckets", "max_distance") if n in kw}
    want = table.astype(np.float32)[refpe.t5_bucket(rel, **opts)].transpose(2, 0, 1)
    np.testing.assert_array_equal(to_numpy(got), want)


def test_t5_bias_offset_and_decoding():
    table = np.random.default_rng(1).standard_normal((32, 2))
    full = refpe.t5_bias(table, 6, 6)
    np.testing.assert_array_equal(refpe.t5_bias(table, 1, 6)[:, 0], full[:, -1])
    np.testing.assert_array_equal(refpe.t5_bias(table, 2, 6, offset=0), full[:, :2])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: refpe.alibi_slopes(0), ValueError, "num_heads must be positive, got 0"),
        (lambda: refpe.alibi(-3, 2, 2), ValueError, "num_heads must be positive, got -3"),
        (lambda: refpe.alibi(2, 0, 2), ValueError, "q_len must be positive, got 0"),
        (lambda: refpe.alibi(2.5, 2, 2), TypeError, "num_heads must be an integer, got 2.5"),
        (
            lambda: refpe.t5_bucket(np.arange(3), num_buckets=1, bidirectional=False),
            ValueError,
            r"num_buckets must be >= 2 \(bidirectional=False\), got 1",
        ),
        (
            lambda: refpe.t5_bucket(np.arange(3), num_buckets=3),
            ValueError,
            r"num_buckets must be >= 4 \(bidirectional=True\), got 3",
        ),
        (
            lambda: refpe.t5_bucket(np.arange(3), max_distance=8),
            ValueError,
            "max_distance must be > 8 .*got 8",
        ),
        (
            lambda: refpe.t5_bucket(np.arange(3.0)),
            TypeError,
            "relative_position must be an integer array, got dtype float64",
        ),
        (
            lambda: refpe.t5_bias(np.zeros((16, 2)), 2, 2),
            ValueError,
            r"table must have shape \(num_buckets=32, heads\), got \(16, 2\)",
        ),
        (lambda: refpe.t5_bias(np.zeros((32, 2)), 2, 0), ValueError, "k_len must be positive"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _thresholds_in_integers(e, s, d):
    """Each bucket's smallest distance by the definition alone: big integers, no logarithm."""
    out = []
    lo = e
    for k in range(1, s):
        hi = max(lo, d)  # the smallest n >= lo with n**s e**k >= d**k e**s (monotone in n)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if mid**s * e**k < d**k * e**s else (lo, mid)
        out.append(lo)
    return out


@pytest.mark.parametrize(
    ("e", "s", "d"),
    [
        (8, 8, 128),
        (4, 4, 64),
        (16, 16, 2**20),
        (64, 64, 2**31 - 1),
        (3, 5, 3 * 7**5),
        (512, 512, 10**6),
    ],
)
def test_t5_bucket_boundaries_match_the_integer_definition(e, s, d):
    # (4, 4, 64) and (3, 5, 3 * 7**5) put boundaries exactly on integers: n**s e**k == D**k e**s
    from refpe.relative import _t5_thresholds

    assert _t5_thresholds(e, s, d) == _thresholds_in_integers(e, s, d)


def test_linear_defaults_of_an_empty_weight_are_empty():
    for framework in ("torch", "keras"):
        for shape in ((0, 0), (0, 5), (5, 0)):
            w = refpe.init_framework_default(shape, framework=framework, kind="linear", seed=0)
            assert w.shape == shape
