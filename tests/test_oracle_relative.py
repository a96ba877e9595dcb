"""The ALiBi and T5 oracles by hand: slopes from the authors' ``get_slopes``, T5's buckets."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from oracle_positions import oracle_exact

from refpe.conformance.oracle import ORACLES, relative


def get_slopes(n: int) -> list[float]:
    """The ALiBi repository's ``get_slopes`` (Press et al. 2022), as published."""

    def get_slopes_power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return (
        get_slopes_power_of_2(closest_power_of_2)
        + get_slopes(2 * closest_power_of_2)[0::2][: n - closest_power_of_2]
    )


def test_slopes_by_hand() -> None:
    assert relative.alibi_slopes(8) == [Fraction(1, 2**h) for h in range(1, 9)]
    assert relative.alibi_slopes(6) == [Fraction(1, 2**k) for k in (2, 4, 6, 8, 1, 3)]
    assert relative.alibi_slopes(3) == [Fraction(1, 16), Fraction(1, 256), Fraction(1, 4)]
    with mpmath.workdps(60):
        twelve = relative.alibi_slopes(12)
        assert twelve[8] == mpmath.sqrt(mpmath.mpf(2)) / 2  # 2^(-1/2), from the 16-head run


@pytest.mark.parametrize("heads", [1, 2, 5, 6, 8, 12, 16, 24, 64, 80])
def test_slopes_match_get_slopes(heads: int) -> None:
    with mpmath.workdps(60):
        exact = [float(m) for m in relative.alibi_slopes(heads)]
    np.testing.assert_allclose(exact, get_slopes(heads), rtol=1e-14)


def test_alibi_bias_by_hand() -> None:
    got = oracle_exact("alibi", {"num_heads": 2, "q_len": 2, "k_len": 3}).hi[0]
    # offset k - q = 1: query i at i + 1; head 0 slope 1/16, head 1 slope 1/256
    np.testing.assert_array_equal(got[0], [[-1 / 16, 0, 1 / 16], [-2 / 16, -1 / 16, 0]])
    sym = {"num_heads": 1, "q_len": 2, "k_len": 2, "causal": False, "offset": 0}
    m = 1 / 256  # one head: 2^(-8/1)
    np.testing.assert_array_equal(oracle_exact("alibi", sym).hi[0], [[[0, -m], [-m, 0]]])


def test_t5_buckets_by_hand() -> None:
    """32 buckets, max distance 128: 16 per side, 8 exact, 8 log-spaced up to 128."""
    b = lambda r, bid=True: relative.t5_bucket(r, bid, 32, 128)  # noqa: E731
    assert [b(r) for r in (0, -1, -7, 1, 7)] == [0, 1, 7, 17, 23]
    # n = 12: 8 + floor(ln 1.5 / ln 16 * 8) = 8 + floor(1.17) = 9
    assert b(-12) == 9 and b(12) == 25
    # n = 16: ln 2 / ln 16 * 8 = 2 exactly (a boundary, decided in integers)
    assert b(-16) == 10 and b(-15) == 9
    assert b(-128) == b(-(10**6)) == 15 and b(10**6) == 31
    # causal: a later key (r > 0) is bucket 0; 32 buckets of which 16 exact
    assert [b(r, False) for r in (5, 0, -15, -16)] == [0, 0, 15, 16]
    assert b(-(10**6), False) == 31


def test_t5_bias_is_a_gather() -> None:
    table = np.arange(64.0).reshape(32, 2)
    got = oracle_exact("t5-bias", {"table": table, "q_len": 1, "k_len": 3}).hi[0]
    # offset 2: the query at position 2; r = -2, -1, 0 -> buckets 2, 1, 0
    np.testing.assert_array_equal(got, [[[4, 2, 0]], [[5, 3, 1]]])


def test_planted_bucket_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """One log bucket too far in the oracle: the bit-exact comparison with refpe fails."""
    import oracle_positions

    log_bucket = relative._log_bucket
    monkeypatch.setattr(relative, "_log_bucket", lambda *a: min(log_bucket(*a) + 1, a[2]))
    monkeypatch.setattr(oracle_positions, "_MEMO", {})
    error, _ = oracle_positions.case_error("t5-bias", "causal, long", "float64")
    assert error == math.inf


def test_planted_slope_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import oracle_positions

    slopes = relative.alibi_slopes
    monkeypatch.setattr(relative, "alibi_slopes", lambda h: [m * 1.01 for m in slopes(h)])
    monkeypatch.setattr(oracle_positions, "_MEMO", {})
    error, K = oracle_positions.case_error("alibi", "8 heads causal", "float64")
    assert error > 1e6 * K
    assert "alibi" in ORACLES
