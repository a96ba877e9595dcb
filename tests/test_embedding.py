"""token-lookup and token-one-hot: bit-exact gathers, scale, padding_idx and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import has_float64, no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

from refpe import token_lookup, token_one_hot

RNG = np.random.default_rng(7)
TABLE = RNG.standard_normal((10, 6))
IDS = np.array([[3, 0, 9], [9, 9, 1]])


def _float_dtypes(xp):
    return ["float64", "float32"] if has_float64(xp) else ["float32"]


@pytest.mark.parametrize("f", [token_lookup, token_one_hot])
def test_bit_exact_rows(xp, f):
    for dt in _float_dtypes(xp):
        table = xp_asarray(xp, TABLE, dt)
        ids = xp.asarray(IDS)
        with no_change(ids, table):
            out = f(ids, table)
        assert out.dtype == table.dtype
        np.testing.assert_array_equal(to_numpy(out), to_numpy(table)[IDS])


def test_one_hot_equals_lookup_float64(xp):
    if not has_float64(xp):
        pytest.skip("no float64 in this namespace here (JAX without x64)")
    table = xp_asarray(xp, TABLE, "float64")
    ids = xp.asarray(np.array([[0, 1, 2, 3], [9, 8, 7, 7]]))
    a, b = token_lookup(ids, table), token_one_hot(ids, table)
    assert to_numpy(a).tobytes() == to_numpy(b).tobytes()


@settings(max_examples=30, deadline=None)
@given(
    ids=st.lists(st.integers(0, 9), min_size=0, max_size=12),
    scale=st.one_of(st.none(), st.floats(-100, 100, allow_nan=False)),
)
def test_one_hot_is_lookup_for_any_ids(ids, scale):
    ids = np.array(ids, dtype=np.int64)
    a = token_lookup(ids, TABLE, scale=scale)
    b = token_one_hot(ids, TABLE, scale=scale)
    assert a.shape == (*ids.shape, 6)
    assert (a + 0.0).tobytes() == (b + 0.0).tobytes()  # equal up to the sign of zero


def test_scale_rounds_once(xp):
    s = math.sqrt(6)
    t32 = TABLE.astype(np.float32)
    exact = t32.astype(np.float64)[IDS] * s  # the product of float64 values, rounded once
    ids, table = xp.asarray(IDS), xp_asarray(xp, t32, "float32")
    out = token_lookup(ids, table, scale=s, kernel="reference")
    assert out.dtype == xp.float32
    # the default (a kernel where one takes the call) meets the spec's one-ulp bound
    assert normalised_error(token_lookup(ids, table, scale=s), exact, "float32", np.abs(exact)) <= 1
    if has_float64(xp):  # formed in float64, rounded once: the correctly rounded product
        np.testing.assert_array_equal(to_numpy(out), exact.astype(np.float32))
        assert normalised_error(out, exact, "float32", np.abs(exact)) <= 0.5
    else:  # float32 only: scale and the product are each rounded
        assert normalised_error(out, exact, "float32", np.abs(exact)) <= 1


def test_scale_float64_exact():
    np.testing.assert_array_equal(token_lookup(IDS, TABLE, scale=8.0**0.5), TABLE[IDS] * 8.0**0.5)


def test_padding_idx_reads_zeros(xp):
    table = xp_asarray(xp, TABLE, "float32")
    ids = xp.asarray(IDS)
    with no_change(table):
        out = to_numpy(token_lookup(ids, table, padding_idx=9))
        neg = to_numpy(token_lookup(ids, table, padding_idx=-1))
    expected = TABLE.astype(np.float32)[IDS]
    expected[IDS == 9] = 0.0
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(neg, expected)


def test_nan_rows_pass_through_lookup_but_not_one_hot():
    table = TABLE.copy()
    table[4, 2] = np.nan
    out = token_lookup(np.array([4, 1]), table)
    assert np.isnan(out[0, 2]) and np.isfinite(out[1]).all()
    with pytest.raises(ValueError, match="table must be finite"):
        token_one_hot(np.array([1]), table)
    table[4, 2] = np.inf
    with pytest.raises(ValueError, match="table must be finite"):
        token_one_hot(np.array([1]), table)


@pytest.mark.parametrize("f", [token_lookup, token_one_hot])
def test_bad_ids(xp, f):
    table = xp_asarray(xp, TABLE, "float32")
    with pytest.raises(
        IndexError, match=r"ids out of range: value 10 at flat index 1 is not in \[0, 10\)"
    ):
        f(xp.asarray(np.array([2, 10])), table)
    with pytest.raises(IndexError, match=r"ids out of range: value -1 at flat index 0"):
        f(xp.asarray(np.array([[-1, 3]])), table)
    with pytest.raises(TypeError, match="ids must be an integer array, got dtype float32"):
        f(xp_asarray(xp, [1.0, 2.0], "float32"), table)
    with pytest.raises(TypeError, match="ids must be an integer array, got dtype bool"):
        f(xp.asarray(np.array([True, False])), table)
    with pytest.raises(ValueError, match=r"table must be 2-D \(V, d\), got shape \(10,\)"):
        f(xp.asarray(np.array([1])), xp_asarray(xp, TABLE[:, 0], "float32"))


def test_bad_scale_and_padding_idx():
    with pytest.raises(ValueError, match="scale must be a finite real number, got nan"):
        token_lookup(IDS, TABLE, scale=float("nan"))
    with pytest.raises(
        IndexError, match=r"padding_idx out of range: value 10 is not in \[-10, 10\)"
    ):
        token_lookup(IDS, TABLE, padding_idx=10)
    with pytest.raises(TypeError, match=r"padding_idx must be an integer, got 1\.5"):
        token_lookup(IDS, TABLE, padding_idx=1.5)


def test_mixed_namespaces_named():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"mixed array libraries: ids is numpy.*table is torch"):
        token_lookup(IDS, torch.asarray(TABLE))
