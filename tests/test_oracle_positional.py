"""The token and position oracles: refpe's reference within its error model, hand-worked values,
a planted mistake caught, the cache."""

from __future__ import annotations

import math
import time

import mpmath
import numpy as np
import pytest
from oracle_positions import SPECS, case_error, cases, oracle_exact

import refpe
from refpe.conformance.oracle import ORACLES, _core, exact, positional
from refpe.registry import EPS


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_reference_within_error_model(spec_id: str, name: str, dtype: str) -> None:
    error, K = case_error(spec_id, name, dtype)
    assert error <= K, f"{spec_id} / {name} in {dtype}: normalised error {error:.3g} > K = {K}"


def test_every_spec_has_an_oracle() -> None:
    assert set(SPECS) <= set(ORACLES)


def _one(spec_id: str, **inputs: object) -> np.ndarray:
    return oracle_exact(spec_id, inputs).hi[0]


def test_sinusoid_by_hand() -> None:
    s1, c1 = math.sin(1), math.cos(1)
    # d 4, base 10^4: ω = (1, 10^-2); interleaved sin, cos per frequency
    got = _one("pe-sinusoidal", positions=2, d=4)
    np.testing.assert_allclose(got, [[0, 1, 0, 1], [s1, c1, math.sin(0.01), math.cos(0.01)]])
    # concatenated: sines first
    got = _one("pe-sinusoidal", positions=np.array([1]), d=4, layout="concatenated")
    np.testing.assert_allclose(got, [[s1, math.sin(0.01), c1, math.cos(0.01)]])
    # odd d 3: ω = (1, 10^(-8/3)) (2i/d = 2/3 of the 4 decades), the extra column a sine
    w = 10.0 ** (-8 / 3)
    np.testing.assert_allclose(
        _one("pe-sinusoidal", positions=np.array([1]), d=3), [[s1, c1, math.sin(w)]]
    )
    # t2t d 5, base 100: n = 2, ω = (1, 1/100), concatenated, a zero last column; offset 1
    got = _one("pe-sinusoidal", positions=1, d=5, schedule="t2t", base=100.0, offset=1)
    np.testing.assert_allclose(got, [[s1, math.sin(0.01), c1, math.cos(0.01), 0]])
    # d 1: a single sine of ω = 1
    np.testing.assert_allclose(_one("pe-sinusoidal", positions=3, d=1)[:, 0], np.sin([0, 1, 2]))


@pytest.mark.parametrize("p", [2**24, 2**31 - 1, 10**9 + 7])
def test_far_sinusoid_matches_a_correctly_rounded_sine(p: int) -> None:
    """At ω_0 = 1 the column is sin p itself: the C library's sin of an exact float64 ``p``
    is within one ulp (glibc's is correctly rounded in practice)."""
    got = _one("pe-sinusoidal", positions=np.array([p]), d=2)[0]
    assert abs(got[0] - math.sin(p)) <= math.ulp(math.sin(p))
    assert abs(got[1] - math.cos(p)) <= math.ulp(math.cos(p))


def test_far_position_sweep_is_fast_and_refpe_within_model() -> None:
    """25 log-spaced positions to 2^31 at d 128 (each (p, ω) once): the oracle in seconds,
    refpe's float64 table within 2 eps (1 + |p ω|)."""
    p = np.unique(np.round(np.logspace(0, 31, 25, base=2)).astype(np.int64))
    p[-1] = 2**31 - 1
    t0 = time.perf_counter()
    want = oracle_exact("pe-sinusoidal", {"positions": p, "d": 128})
    assert time.perf_counter() - t0 < 10
    got = refpe.pe_sinusoidal(p, 128, dtype="float64")
    omega = np.array([10000.0 ** (-2 * i / 128) for i in range(64)])
    scale = 1 + np.repeat(np.abs(p[:, None] * omega), 2, axis=1)
    assert float(np.max(want.errors([got])[0] / (EPS["float64"] * scale))) <= 2


def test_sinusoid_2d_by_hand() -> None:
    # d 4: one frequency ω = 1 per axis; patch (row 0, column 1) of a 1 x 2 grid
    got = _one("pe-sinusoidal-2d", height=1, width=2, d=4)
    np.testing.assert_allclose(got[1], [math.sin(1), math.cos(1), 0, 1])
    got = _one("pe-sinusoidal-2d", height=1, width=2, d=4, order="yx", cls_token=True)
    np.testing.assert_allclose(got, [[0, 0, 0, 0], [0, 1, 0, 1], [0, 1, math.sin(1), math.cos(1)]])


def test_lookups_and_sums_by_hand() -> None:
    table = np.array([[1.0, -2.0], [0.5, 3.0], [4.0, 0.25]])
    ids = np.array([[2, 0]])
    np.testing.assert_array_equal(
        _one("token-lookup", ids=ids, table=table), [[[4, 0.25], [1, -2]]]
    )
    np.testing.assert_array_equal(
        _one("token-one-hot", ids=np.array([1]), table=table, scale=2.0), [[1, 6]]
    )
    np.testing.assert_array_equal(
        _one("token-lookup", ids=np.array([0, 1]), table=table, padding_idx=-3), [[0, 0], [0.5, 3]]
    )
    np.testing.assert_array_equal(
        _one("pe-learned", positions=np.array([2]), table=table), [[4, 0.25]]
    )
    w, b = np.array([1.0, -1.0]), np.array([0.5, 2.0])
    np.testing.assert_array_equal(
        _one("pe-linear", positions=3, w=w, b=b), [[0.5, 2], [1.5, 1], [2.5, 0]]
    )
    np.testing.assert_array_equal(_one("pe-dual-linear", pe1=table, pe2=table), table * table)
    pe = np.array([[10.0, 20.0], [30.0, 40.0]])
    got = _one("input-add", ids=np.array([[1, 2]]), table=table, pe_table=pe, scale=2.0)
    np.testing.assert_array_equal(got, [[[11, 26], [38, 40.5]]])
    # 1/3 is not a float: one rounding of the exact sum 0.1 + 1/3-as-float, not two
    third, tenth = np.array([[1 / 3]]), np.array([[0.1]])
    got = oracle_exact("input-add", {"ids": np.array([[0]]), "table": tenth, "pe_table": third})
    assert mpmath.mpf(got.hi[0].item()) + got.lo[0].item() == mpmath.mpf(0.1) + mpmath.mpf(1 / 3)


def test_projected_sinusoid_by_hand() -> None:
    got = _one(
        "pe-projected-sinusoid",
        positions=np.array([2]),
        alpha=np.array(0.5),
        w1=np.array([1.0, 2.0]),
        w2=np.array([3.0, 0.0]),
    )
    np.testing.assert_allclose(got, [[math.sin(1) + 3 * math.cos(1), 2 * math.sin(1)]], rtol=1e-15)


def test_learnable_noise_is_the_documented_draw() -> None:
    base = _one("pe-sinusoidal-learnable", max_len=4, d=6)
    noisy = _one("pe-sinusoidal-learnable", max_len=4, d=6, noise_std=0.25, seed=9)
    z = np.random.default_rng(9).standard_normal((4, 6))
    np.testing.assert_allclose(noisy - base, 0.25 * z, atol=1e-15)
    np.testing.assert_array_equal(base, _one("pe-sinusoidal", positions=4, d=6))


def test_planted_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base 1% too large in the oracle's frequencies: refpe's sinusoid, 2-D table and
    RoPE are then far outside their error models."""
    frequencies = positional.frequencies
    monkeypatch.setattr(positional, "frequencies", lambda base, e: frequencies(base * 1.01, e))
    from refpe.conformance.oracle import rotary

    monkeypatch.setattr(rotary, "frequencies", positional.frequencies)
    positional_tests = _fresh()
    for spec_id, name in (
        ("pe-sinusoidal", "8 positions, d 6"),
        ("pe-sinusoidal-2d", "4 x 4, d 16"),
        ("rope", "half"),
        ("rope-scaling", "default"),
    ):
        error, K = positional_tests(spec_id, name, "float64")
        assert error > 1e6 * K, (spec_id, name, error)


def test_planted_lookup_mistake_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An off-by-one row in the oracle's lookup: the bit-exact comparison fails."""
    lookup = positional._lookup
    monkeypatch.setattr(positional, "_lookup", lambda ids, *a: lookup(np.asarray(ids) * 0, *a))
    error, _ = _fresh()("token-lookup", "batch of ids", "float64")
    assert error == math.inf


def _fresh():
    """``case_error`` without the test module's memo (the oracle is monkeypatched)."""
    import oracle_positions

    def run(spec_id: str, name: str, dtype: str) -> tuple[float, float]:
        oracle_positions._MEMO.clear()
        try:
            return oracle_positions.case_error(spec_id, name, dtype)
        finally:
            oracle_positions._MEMO.clear()

    return run


def test_cache_reads_the_file_and_recomputes_a_corrupt_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_core, "_MEMORY", {})
    inputs = {"positions": 3, "d": 4, "dtype": "float64"}
    first = exact("pe-sinusoidal", "cache test", inputs)
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    calls = []
    how, fn = ORACLES["pe-sinusoidal"]
    monkeypatch.setitem(ORACLES, "pe-sinusoidal", (how, lambda i: calls.append(1) or fn(i)))
    monkeypatch.setattr(_core, "_MEMORY", {})
    again = exact("pe-sinusoidal", "cache test", inputs)
    assert calls == [] and np.array_equal(again.hi[0], first.hi[0])
    files[0].write_bytes(b"not an npz file")
    monkeypatch.setattr(_core, "_MEMORY", {})
    redone = exact("pe-sinusoidal", "cache test", inputs)
    assert calls == [1] and np.array_equal(redone.hi[0], first.hi[0])
    assert np.array_equal(np.load(files[0])["hi0"], first.hi[0])  # rewritten


def test_empty_cache_dir_writes_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("REFPE_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(_core, "_MEMORY", {})
    exact("pe-sinusoidal", "no cache", {"positions": 2, "d": 2, "dtype": "float64"})
    assert list(tmp_path.rglob("*")) == []
