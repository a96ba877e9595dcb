"""The suite catches mistakes: planted wrong functions are flagged with the right diagnosis,
and correct functions written independently (NumPy, PyTorch, JAX) pass."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refpe
from refpe.conformance import Plan, check, run


def _verdicts(report):
    return {r.verdict for r in report.results}


def _diagnoses(report):
    return " | ".join(r.diagnosis for r in report.problems())


# --- planted mistakes -------------------------------------------------------------------------


def swapped_layout(positions, d, *, layout="interleaved", **kw):
    other = "concatenated" if layout == "interleaved" else "interleaved"
    return refpe.pe_sinusoidal(positions, d, layout=other, **kw)


def offset_by_one(positions, d, *, offset=0, **kw):
    return refpe.pe_sinusoidal(positions, d, offset=offset + 1, **kw)


def pow_form(
    positions,
    d,
    *,
    base=10000.0,
    layout="interleaved",
    offset=0,
    dtype=None,
    schedule="transformer",
    xp=None,
    device=None,
):
    """The usual float32 code: exp(2i * -ln(base)/d) and the angle, both in float32."""
    p = np.arange(positions) if isinstance(positions, int) else np.asarray(positions)
    omega = np.exp(np.arange(0, d, 2, dtype=np.float32) * np.float32(-math.log(base) / d))
    angle = (p.astype(np.float32)[..., None] + np.float32(offset)) * omega
    out = np.zeros((*p.shape, d), dtype=np.float32)
    out[..., 0::2] = np.sin(angle)
    out[..., 1::2] = np.cos(angle[..., : d // 2])
    return out.astype(dtype or np.float32)


def variance_not_std(shape, *, seed, std=0.02, mean=0.0, dtype=None, xp=None, device=None):
    return np.random.default_rng(seed).normal(mean, math.sqrt(std), shape)


def clamping_lookup(ids, table, *, scale=None, padding_idx=None):
    out = table[np.clip(ids, 0, table.shape[0] - 1)]
    return out * scale if scale is not None else out


def bf16_one_hot(ids, table, *, scale=None):
    import torch

    onehot = torch.nn.functional.one_hot(ids, table.shape[0]).to(torch.bfloat16)
    out = (onehot @ table.to(torch.bfloat16)).to(table.dtype)
    return out * scale if scale is not None else out


def test_swapped_layout_is_flagged_as_the_other_layout():
    report = check(swapped_layout, "pe-sinusoidal")
    assert not report.ok
    assert "layout=" in _diagnoses(report)


def test_offset_by_one_is_flagged_as_an_offset():
    report = check(offset_by_one, "pe-sinusoidal")
    assert not report.ok
    assert "offset by +1" in _diagnoses(report)


def test_float32_pow_form_fails_at_large_positions_with_its_diagnosis():
    report = check(pow_form, "pe-sinusoidal", dtypes=["float32"])
    assert not report.ok
    bad = report.problems()
    assert any("pow-form" in r.diagnosis for r in bad), report
    big = [r for r in report.results if r.verdict == "pass"]
    assert big, "small positions should still pass"


def test_variance_read_for_std_is_flagged_statistically():
    report = check(variance_not_std, "init-normal")
    assert not report.ok
    assert "read as the variance" in _diagnoses(report)
    assert "seed=1234" in report.problems()[0].where


def test_clamping_lookup_is_flagged_on_out_of_range_ids():
    report = check(clamping_lookup, "token-lookup")
    assert not report.ok
    bad = report.problems()
    assert all("returned a value where the spec raises IndexError" in r.reason for r in bad)
    assert "clamps out-of-range ids" in _diagnoses(report)


def test_reduced_precision_one_hot_is_flagged():
    pytest.importorskip("torch")
    report = check(bf16_one_hot, "token-one-hot", backend="torch", dtypes=["float32"])
    assert not report.ok
    assert "reduced-precision product" in _diagnoses(report)


# --- correct functions written independently pass ---------------------------------------------


def torch_sinusoid(
    positions, d, *, base=10000.0, layout="interleaved", offset=0, dtype=None, xp=None, device=None
):
    import torch

    if not (isinstance(d, int) and d > 0):
        raise ValueError(f"d must be a positive int, got {d!r}")
    if layout not in ("interleaved", "concatenated"):
        raise ValueError(f"unknown layout {layout!r}")
    p = torch.arange(positions) if isinstance(positions, int) else positions
    if p.is_floating_point():
        raise TypeError("positions must be integers")
    i = torch.arange((d + 1) // 2, dtype=torch.float64)
    omega = torch.tensor(
        [math.pow(base, -2 * k / d) for k in range(i.numel())], dtype=torch.float64
    )
    angle = (p.to(torch.float64)[..., None] + offset) * omega
    sin, cos = torch.sin(angle), torch.cos(angle)[..., : d // 2]
    if layout == "interleaved":
        out = torch.zeros((*p.shape, d), dtype=torch.float64)
        out[..., 0::2], out[..., 1::2] = sin, cos
    else:
        out = torch.cat([sin, cos], dim=-1)
    return out.to(dtype)


def jax_lookup(ids, table, *, scale=None, padding_idx=None):
    import jax.numpy as jnp

    ids_host = np.asarray(ids)
    if ids_host.size and (ids_host.min() < 0 or ids_host.max() >= table.shape[0]):
        raise IndexError(f"ids out of range: {ids_host.min()}..{ids_host.max()}")
    out = jnp.take(table, ids, axis=0)
    if padding_idx is not None:
        out = jnp.where((ids == padding_idx)[..., None], 0, out)
    return out * scale if scale is not None else out


def test_an_independent_torch_sinusoid_passes():
    pytest.importorskip("torch")
    report = check(torch_sinusoid, "pe-sinusoidal", backend="torch")
    # cases with keywords it does not take (schedule="t2t"), or relying on a default of one
    # (schedule="transformer"), are skipped, never passed
    skipped = [r for r in report.results if r.verdict == "skipped"]
    assert skipped
    assert all("takes no" in r.reason or "relies on the default" in r.reason for r in skipped)
    assert report.ok or report.mostly_skipped, str(report)
    declared = check(
        torch_sinusoid, "pe-sinusoidal", backend="torch", supports={"schedule": "transformer"}
    )
    # the plain float64 formula rounds the angle p * omega: exact at short positions, loose
    # (within the usual bound, beyond the exact one) at long ones; float32 and narrower are
    # rounded once from it and pass
    loose = [r for r in declared.results if r.verdict == "loose"]
    assert loose and all(r.dtype == "float64" for r in loose)
    assert not declared.ok and declared.problems() == loose
    declared = check(
        torch_sinusoid,
        "pe-sinusoidal",
        backend="torch",
        supports={"schedule": "transformer"},
        accept=("loose",),
    )
    assert declared.ok, str(declared)
    assert sum(r.verdict == "pass" for r in declared.results) > sum(
        r.verdict == "pass" for r in report.results
    )


def test_an_independent_jax_lookup_passes():
    pytest.importorskip("jax")
    report = check(jax_lookup, "token-lookup", backend="jax", dtypes=["float32"])
    assert report.ok, str(report)


# --- the suite itself --------------------------------------------------------------------------


def test_reference_passes_on_numpy_and_strict():
    results = run(Plan(backends=("numpy", "array_api_strict"), subjects=("refpe",)))
    bad = [r for r in results if r.verdict in ("fail", "error")]
    assert not bad, bad[:5]
    assert sum(r.verdict == "pass" for r in results) > 100


def test_skipped_backends_are_reported_not_passed():
    results = run(Plan(specs=("token-lookup",), backends=("cupy",)))
    assert results and all(r.verdict == "skipped" for r in results)
    assert all(r.reason for r in results)


def test_a_subject_returning_a_non_array_is_an_error_verdict():
    report = check(lambda ids, table, **kw: "not an array", "token-lookup")
    assert {"error"} <= _verdicts(report)
    assert any("not an array" in r.reason for r in report.results)


def test_a_subject_returning_the_wrong_shape_fails_with_the_shapes():
    report = check(lambda ids, table, **kw: np.zeros((1, 1)), "token-lookup")
    assert any("has shape (1, 1), the case asks for" in r.reason for r in report.problems())


# --- the libraries' own built-ins ---------------------------------------------------------------


def _by_subject(names):
    results = run(Plan(subjects=tuple(names)))
    return {n: [r for r in results if r.subject == n] for n in names}


def test_torch_builtins_conform_or_carry_their_convention():
    pytest.importorskip("torch")
    names = [
        "torch.nn.functional.embedding",
        "torch.take_along_dim",
        "torch.nn.init.normal_",
        "torch.nn.init.uniform_",
        "torch.nn.init.trunc_normal_ (a=-2*std, b=2*std)",
        "torch.nn.init.trunc_normal_ (default a=-2, b=2)",
        "torch.nn.Embedding / nn.Linear default init",
    ]
    got = _by_subject(names)
    for name in names:
        verdicts = {r.verdict for r in got[name]}
        assert verdicts and not verdicts & {"fail", "error"}, (name, verdicts)
    # F.embedding refuses bad ids on the CPU like the spec; take_along_dim wraps them
    assert {r.verdict for r in got["torch.nn.functional.embedding"]} == {"pass"}
    wrapped = [r for r in got["torch.take_along_dim"] if r.verdict == "differs"]
    assert wrapped and all("modulo V" in r.diagnosis for r in wrapped if "range" in r.case)
    # trunc_normal_'s default bounds are absolute: a statistical difference, explained
    (default,) = got["torch.nn.init.trunc_normal_ (default a=-2, b=2)"]
    assert default.verdict == "differs" and "absolute bounds" in default.reason
    assert "seed=1234" in default.where


def test_jax_builtins_conform_or_carry_their_convention():
    pytest.importorskip("jax")
    names = [
        "jnp.take",
        "jax.nn.initializers.normal",
        "jax.nn.initializers.truncated_normal",
        "jax.random.uniform (minval=-a, maxval=a)",
        "jax.nn.initializers.glorot_uniform (Keras Dense default)",
    ]
    got = _by_subject(names)
    for name in names:
        verdicts = {r.verdict for r in got[name]}
        assert "pass" in verdicts and not verdicts & {"fail", "error"}, (name, verdicts)
    nan_rows = [r for r in got["jnp.take"] if r.case == "id out of range"]
    assert nan_rows and all("NaN" in r.diagnosis for r in nan_rows)


def test_a_values_only_subject_skips_bad_input_with_the_reason():
    from refpe.conformance import Subject

    spec = refpe.spec("token-lookup")
    bad = next(c for c in spec.cases if c.raises is not None)
    good = next(c for c in spec.cases if c.raises is None)
    values_only = Subject(
        "values-only", "token-lookup", "numpy", lambda kw, dt: None, refuses=False
    )
    assert values_only.skip(bad) == "a bad-input case: values-only is checked on valid input only"
    assert values_only.skip(good) is None
    checked = Subject(
        "checked", "token-lookup", "numpy", lambda kw, dt: None, applies=lambda c: "not this one"
    )
    assert checked.skip(bad) == "not this one"
