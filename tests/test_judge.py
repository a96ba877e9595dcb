"""The two bounds, the three verdicts and the horizon (conformance/judge.py)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from refpe.conformance.judge import describe_horizon, horizon, judge, power_of_two
from refpe.conformance.oracle import Exact, split

EPS32 = 2.0**-23


def _exact(values) -> Exact:
    hi, lo = split(values)
    return Exact((hi,), (lo,))


def _judge(got, exact, dtype="float32", K=1.0, K_usual=100.0, positions=None):
    ones = [np.ones_like(h) for h in exact.hi]
    return judge(
        [np.asarray(got, dtype=np.float64)],
        exact,
        dtype,
        K=K,
        scale=ones,
        K_usual=K_usual,
        scale_usual=ones,
        positions=positions,
    )


def test_pass_loose_fail_by_the_size_of_the_error():
    exact = _exact([Fraction(1, 3), Fraction(2, 3)])
    y = np.array([1 / 3, 2 / 3], dtype=np.float32).astype(np.float64)
    assert _judge(y, exact).verdict == "pass"
    assert _judge(y + np.array([0, 10 * EPS32]), exact).verdict == "loose"
    assert _judge(y + np.array([0, 1000 * EPS32]), exact).verdict == "fail"


def test_errors_are_measured_against_the_exact_value_not_its_float64_rounding():
    # 1/3 rounded to float64 is off by 2^-54 / 3 = eps64 / 12: measured from the exact value
    # the float64 result carries that error, not 0
    exact = _exact([Fraction(1, 3)])
    j = _judge([1 / 3], exact, dtype="float64", K=0.5)
    assert j.error == pytest.approx(1 / 12, rel=1e-12)


def test_bit_exact_compares_with_the_correctly_rounded_value():
    # 1 + 2**-24 + 2**-60 lies just above the float32 halfway point between 1 and 1 + 2**-23:
    # it rounds up; rounding its float64 neighbour alone would tie to even (down)
    value = 1 + Fraction(1, 2**24) + Fraction(1, 2**60)
    exact = _exact([value])
    assert _judge([1 + 2.0**-23], exact, K=0).verdict == "pass"
    assert _judge([1.0], exact, K=0).verdict == "fail"


def test_nan_on_one_side_is_an_infinite_error_and_on_both_sides_none():
    exact = Exact((np.array([np.nan, 1.0]),), (np.zeros(2),))
    assert _judge([np.nan, 1.0], exact).error == 0
    j = _judge([0.0, np.nan], exact)
    assert j.error == math.inf and j.verdict == "fail"


def test_a_wrong_shape_or_count_fails():
    exact = _exact([1, 2])
    assert "shape" in _judge([[1.0, 2.0]], exact).where
    two = judge([np.ones(2), np.ones(2)], exact, "float32", K=1, scale=[np.ones(2)],
                K_usual=1, scale_usual=[np.ones(2)])  # fmt: skip
    assert two.verdict == "fail" and "2 outputs" in two.where


def test_horizon_is_the_last_position_before_the_first_miss():
    p = np.array([0, 1, 2, 4, 8, 16])
    norm = np.array([0.1, 0.2, 0.5, 3.0, 0.2, 9.0])  # position 8 is within again: not counted
    reach, curve = horizon(p, norm, 1.0)
    assert reach == 2
    assert curve == [(0, 0.1), (1, 0.2), (2, 0.5), (4, 3.0), (8, 0.2), (16, 9.0)]


def test_horizon_takes_the_worst_element_per_position_and_distances():
    p = np.array([[-3], [3], [5]])
    norm = np.array([[0.1, 0.5], [2.0, 0.1], [0.1, 0.1]])
    reach, curve = horizon(p, norm, 1.0)
    assert reach is None and curve[0] == (3, 2.0)


def test_judge_reports_the_horizon_of_a_sloppy_result():
    positions = np.array([1, 2**10, 2**17, 2**20])[:, None]
    exact = _exact(np.array([[Fraction(1, 3)] * 2] * 4))
    y = np.full((4, 2), np.float32(1 / 3), dtype=np.float64)
    y[2:] += 50 * EPS32  # sloppy from 2^17 on
    j = _judge(y, exact, positions=positions)
    assert j.verdict == "loose" and j.horizon == 2**10
    assert describe_horizon(j.horizon, j.curve, j.K) == "exact to 2^10, 50 eps at 2^17"


@pytest.mark.parametrize(("p", "text"), [(1, "2^0"), (2**24, "2^24"), (3, "3"), (0, "0")])
def test_power_of_two(p, text):
    assert power_of_two(p) == text


def test_an_exact_value_beyond_the_dtype_range_rounds_to_infinity():
    exact = _exact([Fraction(-524160), Fraction(1)])
    assert _judge([-np.inf, 1.0], exact, dtype="float16").verdict == "pass"
    assert _judge([np.inf, 1.0], exact, dtype="float16").verdict == "fail"  # the wrong sign
    assert _judge([-np.inf, 1.0], exact, dtype="float32").verdict == "fail"  # float32 has it
