"""Mistakes planted in refpe itself show as failing refpe rows: the suite judges refpe against
the independent oracle, not against refpe's own float64 output.

Each test plants one mistake (in the reference, in a kernel, in the float32 phase of a device
without float64), runs the suite's refpe rows, and expects a verdict other than ``pass``.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

import refpe
from refpe import _precision, positional, rotary
from refpe.conformance import Plan, run
from refpe.kernels import positional as kernel_positional
from refpe.kernels import rotary as kernel_rotary


def _not_passing(spec: str, subjects: tuple[str, ...], backends=("numpy",), dtypes=()):
    results = run(Plan(specs=(spec,), backends=backends, subjects=subjects, dtypes=dtypes))
    ran = [r for r in results if r.verdict not in ("skipped",)]
    assert ran, "nothing ran"
    return [r for r in ran if r.verdict != "pass"]


def test_refpe_rows_pass_without_a_planted_mistake():
    assert _not_passing("pe-sinusoidal", ("refpe",)) == []
    assert _not_passing("rope", ("refpe",)) == []


def test_sinusoid_base_times_1_01_in_the_reference_fails(monkeypatch):
    frequencies = positional.frequencies

    def planted(d, base, schedule):
        return frequencies(d, base * 1.01, schedule)

    monkeypatch.setattr(positional, "frequencies", planted)
    bad = _not_passing("pe-sinusoidal", ("refpe",))
    assert any(r.verdict == "fail" for r in bad)


def test_sinusoid_base_times_1_01_in_the_kernel_fails(monkeypatch):
    frequencies = kernel_positional.frequencies
    monkeypatch.setattr(
        kernel_positional, "frequencies", lambda d, base, s: frequencies(d, base * 1.01, s)
    )
    kernel_positional.sinusoid_table.cache_clear()
    try:
        bad = _not_passing("pe-sinusoidal", ("kernel:pe-sinusoidal:numpy",))
    finally:
        kernel_positional.sinusoid_table.cache_clear()
    assert any(r.verdict == "fail" and r.kernel != "reference" for r in bad)


def test_rope_theta_times_1_plus_1e_3_in_the_reference_fails(monkeypatch):
    inv_freq = rotary._inv_freq

    def planted(*args, **kwargs):
        theta, factor = inv_freq(*args, **kwargs)
        return tuple(t * Decimal("1.001") for t in theta), factor

    monkeypatch.setattr(rotary, "_inv_freq", planted)
    bad = _not_passing("rope", ("refpe",))
    assert bad and all(r.verdict in ("loose", "fail") for r in bad)


def _reach(case) -> int:
    p = case.kwargs.get("positions")
    if p is None or case.raises is not None:
        return -1
    return p - 1 if isinstance(p, int) else int(np.max(np.abs(np.asarray(p))))


def _far_cases(spec: str) -> set[str]:
    """The names of the spec's cases whose positions reach past 2^20 (the horizon sweeps)."""
    far = {c.name for c in refpe.spec(spec).cases if _reach(c) >= 2**20}
    assert far, f"{spec} has no case with positions past 2^20"
    return far


def test_an_off_by_one_past_2_20_in_a_kernel_fails():
    far = _far_cases("rope")
    name, original = "refpe.kernels.rotary.rope", kernel_rotary.rope

    def planted(x, positions, **kwargs):
        # a kernel that answers every NumPy call, exact but for positions past 2^20 (shifted by
        # one); the built-in kernel leaves such far positions to the reference
        if isinstance(positions, np.ndarray):
            positions = np.where(positions >= 2**20, positions + 1, positions)
        return rotary.rope(x, positions, **kwargs)

    refpe.register_kernel("rope", planted, name, library="numpy")
    try:
        results = run(Plan(specs=("rope",), backends=("numpy",), subjects=("kernel:rope:numpy",)))
    finally:
        refpe.register_kernel("rope", original, name, library="numpy")
    swept = [r for r in results if r.case in far]
    assert swept and all(r.verdict != "pass" for r in swept)
    assert all(r.horizon is not None and 2**19 <= r.horizon < 2**20 for r in swept)
    others = [r for r in results if r.case not in far and r.verdict not in ("pass", "skipped")]
    assert others == []  # only the positions past 2^20 are wrong


def test_a_float32_angle_on_jax_without_x64_fails(monkeypatch):
    pytest.importorskip("jax")

    def planted(p, omega, xp):
        # the classic long-context mistake: the angle p * theta formed in float32
        w = xp.asarray([float(o) for o in omega], dtype=xp.float32)
        angle = xp.astype(p, xp.float32)[..., None] * w
        return xp.sin(angle), xp.cos(angle)

    monkeypatch.setattr(_precision, "_sin_cos_f32", planted)
    bad = _not_passing("rope", ("refpe",), backends=("jax",), dtypes=("float32",))
    swept = [r for r in bad if r.case in _far_cases("rope")]
    assert swept and all(r.verdict in ("loose", "fail") for r in swept)
