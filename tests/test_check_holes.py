"""Checking your own function: each hole found by trying real implementations is planted here
and seen closed — no wrong pass, harness trouble not charged to the subject, "not applicable",
refusals of any type, and the run stopped (not passed) by a subject that exits."""

from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

import refpe
from refpe import backends as B
from refpe.conformance import Aborted, NotApplicable, check


def _reasons(report):
    return " | ".join(r.reason for r in report.results)


# --- no wrong pass ------------------------------------------------------------------------------


def complex_sinusoid(positions, d, *, base=10000.0, schedule="transformer", offset=0, **kw):
    out = refpe.pe_sinusoidal(positions, d, base=base, schedule=schedule, offset=offset, **kw)
    return out + 1000j  # the right real part, and an imaginary part


def test_a_complex_output_fails_whatever_its_real_part():
    report = check(complex_sinusoid, "pe-sinusoidal", dtypes=["float64"])
    assert not report.ok
    fails = [r for r in report.results if r.verdict == "fail"]
    assert fails and all("complex" in r.reason for r in fails)
    assert not any(r.verdict == "pass" and r.error is not None for r in report.results)


def wrong_size_draw(shape, *, seed=None, std=0.02, mean=0.0, dtype=None, xp=None, device=None):
    return np.random.default_rng().normal(mean, std, size=997)  # wrong shape, float64, no seed


def test_a_draw_of_the_wrong_shape_or_dtype_fails_before_the_statistics():
    report = check(wrong_size_draw, "init-normal")
    assert not report.ok
    assert "has shape (997,), the case asks for (250, 40)" in _reasons(report)
    float64_draw = check(
        lambda shape, **kw: np.random.default_rng(1).normal(0, 0.02, shape),
        "init-normal",
        dtypes=["float32"],
    )
    assert "float64, the case asks for float32" in _reasons(float64_draw)


def scalar_lookup(ids, table, *, scale=None, padding_idx=None):
    return 0.0


def test_a_python_number_where_an_array_is_due_fails():
    report = check(scalar_lookup, "token-lookup", dtypes=["float32"])
    assert not report.ok
    assert "Python float, where an array of float32 is due" in _reasons(report)


def test_a_float64_result_for_a_float32_case_fails():
    report = check(
        lambda ids, table, **kw: np.asarray(table, dtype=np.float64)[ids],
        "token-lookup",
        dtypes=["float32"],
    )
    assert any("float64, the case asks for float32" in r.reason for r in report.problems())


def test_a_subject_that_edits_its_arguments_reaches_neither_the_oracle_nor_the_next_check():
    spec = refpe.spec("rope-scaling")
    before = copy.deepcopy([c.kwargs for c in spec.cases])

    def meddler(rotary_dim, *, base=10000.0, scaling=None, seq_len=None, **kw):
        out = refpe.rope_inv_freq(rotary_dim, base=base, scaling=scaling, seq_len=seq_len, **kw)
        if isinstance(scaling, dict):
            scaling["factor"] = 1  # answered, then changes the dict it was given
            scaling.pop("rope_type", None)
        return out

    check(meddler, "rope-scaling")
    assert [c.kwargs for c in spec.cases] == before
    own = check(refpe.rope_inv_freq, "rope-scaling")
    assert own.ok, str(own)


def test_a_subject_that_writes_into_its_input_arrays_does_not_change_the_bounds():
    def scribbler(ids, table, *, scale=None, padding_idx=None):
        out = refpe.token_lookup(ids, table, scale=scale, padding_idx=padding_idx)
        table[...] = 0  # the case's table must not be the one the judge reads
        return out

    assert check(scribbler, "token-lookup", dtypes=["float32"]).ok


def only_positions_and_d(positions, d, dtype):
    return refpe.pe_sinusoidal(positions, d, dtype=dtype)


_AS_REFPE = {"schedule": "transformer", "base": 10000.0, "offset": 0}


def test_a_function_without_the_conventions_keywords_is_not_ok_by_skipping():
    report = check(only_positions_and_d, "pe-sinusoidal")
    assert not report.ok and report.mostly_skipped
    assert not any(r.verdict == "pass" for r in report.results)
    declared = check(only_positions_and_d, "pe-sinusoidal", supports=_AS_REFPE)
    assert declared.ok, str(declared)


def d6_only(positions, d, dtype):
    if d != 6:
        raise NotApplicable("this table is built for d=6 only")
    return refpe.pe_sinusoidal(positions, d, dtype=dtype)


def test_mostly_skipped_is_not_ok_unless_skips_are_accepted():
    report = check(d6_only, "pe-sinusoidal", supports=_AS_REFPE)
    assert any(r.verdict == "pass" for r in report.results)
    assert not report.problems(), str(report)
    assert report.mostly_skipped and not report.ok
    assert "cases skipped" in str(report)
    assert "d=6 only" in _reasons(report)
    assert check(d6_only, "pe-sinusoidal", supports=_AS_REFPE, accept=("skipped",)).ok


def exits(ids, table, **kw):
    sys.exit(0)


def test_a_subject_that_exits_stops_the_check_naming_the_case():
    with pytest.raises(Aborted) as info:
        check(exits, "token-lookup")
    last = info.value.result
    assert last.verdict == "error" and "SystemExit" in last.reason
    assert last.case == refpe.spec("token-lookup").cases[0].name
    assert info.value.results[-1] is last


# --- not applicable, defaults not assumed, refusals --------------------------------------------


def interleaved_only(x, positions, *, base=10000.0, rotary_dim=None, scaling=None):
    """An interleaved-only RoPE (GPT-J's layout), which has no ``layout`` keyword."""
    return refpe.rope(
        x, positions, base=base, layout="interleaved", rotary_dim=rotary_dim, scaling=scaling
    )


def test_a_default_the_function_does_not_take_is_not_assumed():
    report = check(interleaved_only, "rope", dtypes=["float64"])
    verdicts = {r.case: r.verdict for r in report.results}
    assert verdicts["half"] == "skipped"  # relies on layout='half': not run, not failed
    assert "relies on the default layout='half'" in _reasons(report)
    assert verdicts["interleaved"] == "skipped"  # the case passes layout=: takes no 'layout'
    declared = check(
        interleaved_only, "rope", dtypes=["float64"], supports={"layout": "interleaved"}
    )
    by_case = {r.case: r for r in declared.results}
    assert by_case["interleaved"].verdict == "pass"
    assert by_case["half"].verdict == "skipped" and "not applicable" in by_case["half"].reason
    assert not declared.problems(), str(declared)


def test_supports_names_keywords_of_the_spec():
    with pytest.raises(ValueError, match="supports names no keyword"):
        check(interleaved_only, "rope", supports={"layuot": "interleaved"})


def causal_only(q, k, v, *, causal=False, **kw):
    if not causal:
        raise NotApplicable("this kernel is causal-only")
    return refpe.attn_sdpa(q, k, v, causal=causal, **kw)


def test_not_applicable_is_skipped_with_the_reason():
    report = check(causal_only, "attn-sdpa", dtypes=["float64"])
    skipped = [r for r in report.results if r.verdict == "skipped"]
    assert skipped and all("causal-only" in r.reason for r in skipped)
    assert not any(r.verdict in ("fail", "error") for r in report.results), str(report)


def refuses_with_runtime_error(ids, table, *, scale=None, padding_idx=None):
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise RuntimeError("id out of range")
    return refpe.token_lookup(ids, table, scale=scale, padding_idx=padding_idx)


def test_refusals_accept_any_exception_unless_strict():
    lenient = check(refuses_with_runtime_error, "token-lookup", dtypes=["float32"])
    assert lenient.ok, str(lenient)
    assert "refused: RuntimeError" in _reasons(lenient)
    strict = check(
        refuses_with_runtime_error, "token-lookup", dtypes=["float32"], strict_errors=True
    )
    assert not strict.ok
    assert "raised RuntimeError where the spec raises" in _reasons(strict)


# --- refpe's own functions pass as user subjects on every backend ------------------------------

# The harness errors were charged on torch in bfloat16 (float arrays passed in) and on JAX in
# float64 (inputs built outside x64); those dtypes are what each backend is checked in here.
_OWN = ("rope", "t5-bias", "layer-norm", "attn-sdpa", "pe-sinusoidal", "token-lookup")
_DTYPES = {"torch": ("float64", "bfloat16"), "jax": ("float64",)}


def _own_passes(spec_id, backend):
    spec = refpe.spec(spec_id)
    offered = B.get(backend).dtypes("cpu")
    dtypes = [d for d in _DTYPES.get(backend, spec.dtypes) if d in spec.dtypes and d in offered]
    report = check(spec.function, spec_id, backend=backend, dtypes=dtypes)
    assert report.ok, str(report)
    assert not report.mostly_skipped
    assert {r.dtype for r in report.results if r.verdict == "pass"} == set(dtypes)


@pytest.mark.parametrize("spec_id", [s.id for s in refpe.specs()])
def test_every_refpe_function_passes_as_a_numpy_user_subject(spec_id):
    _own_passes(spec_id, "numpy")


@pytest.mark.parametrize("backend", ["torch", "jax"])
@pytest.mark.parametrize("spec_id", _OWN)
def test_refpe_functions_pass_as_user_subjects_on_torch_and_jax(spec_id, backend):
    pytest.importorskip(backend)
    _own_passes(spec_id, backend)
