"""Planted mistakes: each wrong function is caught, and its diagnosis names the mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest

import refpe
from refpe.conformance import check


def _diagnoses(report):
    return " | ".join(r.diagnosis for r in report.problems())


def _positions(p):
    return np.arange(p) if isinstance(p, int) else np.asarray(p)


# --- RoPE ------------------------------------------------------------------------------------


def rope_plus_one(x, positions, **kw):
    return refpe.rope(x, _positions(positions) + 1, **kw)


def rope_always_interleaved(x, positions, *, layout="half", **kw):
    return refpe.rope(x, positions, layout="interleaved", **kw)


def rope_always_half(x, positions, *, layout="half", **kw):
    return refpe.rope(x, positions, layout="half", **kw)


def rope_float32_angle(x, positions, *, base=10000.0, layout="half", rotary_dim=None, **kw):
    """Hugging Face's LlamaRotaryEmbedding in NumPy: inv_freq, positions, angle, cos and sin
    all in float32, then the rotation in the input dtype."""
    if kw.get("scaling"):
        return refpe.rope(x, positions, base=base, layout=layout, rotary_dim=rotary_dim, **kw)
    d = rotary_dim or x.shape[-1]
    inv = np.float32(1.0) / np.float32(base) ** (np.arange(0, d, 2).astype(np.float32) / d)
    angle = _positions(positions).astype(np.float32)[..., None] * inv
    cos, sin = np.cos(angle).astype(x.dtype), np.sin(angle).astype(x.dtype)
    out = x.copy()
    if layout == "half":
        a, b = x[..., : d // 2], x[..., d // 2 : d]
        out[..., : d // 2], out[..., d // 2 : d] = a * cos - b * sin, b * cos + a * sin
    else:
        a, b = x[..., 0:d:2], x[..., 1:d:2]
        out[..., 0:d:2], out[..., 1:d:2] = a * cos - b * sin, b * cos + a * sin
    return out


def test_rope_positions_plus_one():
    assert "matches positions + 1" in _diagnoses(check(rope_plus_one, "rope"))


def test_rope_always_interleaved_names_the_half_layout():
    text = _diagnoses(check(rope_always_interleaved, "rope", dtypes=["float64"]))
    assert "layout='interleaved' (GPT-J) where 'half' (GPT-NeoX/Llama) is asked" in text
    assert "None" not in text


def test_rope_always_half_names_the_layout():
    text = _diagnoses(check(rope_always_half, "rope", dtypes=["float64"]))
    assert "matches layout='half' (GPT-NeoX/Llama) where 'interleaved' (GPT-J) is asked" in text


def test_rope_float32_angle_at_long_positions():
    """The angle in float32 where float64 is asked: wrong by radians at 2^20."""
    report = check(rope_float32_angle, "rope", dtypes=["float64"])
    long = [r for r in report.problems() if r.case == "positions to 2^24"]
    assert long and "matches the angle computed in float32" in long[0].diagnosis, report
    # In float32 itself the code is what evaluating the formula in float32 usually gives:
    # beyond the exact bound at long positions, within the usual one (loose), and named so
    in32 = check(rope_float32_angle, "rope", dtypes=["float32"])
    long32 = [r for r in in32.results if r.case == "positions to 2^24"]
    assert long32 and long32[0].verdict == "loose"
    assert "matches the angle computed in float32" in long32[0].diagnosis
    assert check(rope_float32_angle, "rope", dtypes=["float32"], accept=("loose",)).ok


def test_rope_bfloat16_angle():
    def bf16_angle(x, positions, **kw):
        from refpe.conformance.mistakes import rope_narrow_angle

        out = rope_narrow_angle("bfloat16", usual=False)(
            refpe.spec("rope"), dict(x=x, positions=positions, **kw)
        )
        return out.astype(x.dtype)

    text = _diagnoses(check(bf16_angle, "rope", dtypes=["float32"]))
    assert "matches the angle computed in bfloat16" in text


# --- ALiBi -------------------------------------------------------------------------------------


def _alibi_from(slopes, num_heads, q_len, k_len, *, causal=True, offset=None, dtype=None, **kw):
    i = np.arange(q_len) + (k_len - q_len if offset is None else offset)
    dist = (np.arange(k_len)[None, :] - i[:, None]).astype(np.float64)
    bias = slopes[:, None, None] * (dist if causal else -np.abs(dist))
    return bias.astype(dtype or np.float64)


def alibi_naive(num_heads, q_len, k_len, **kw):
    slopes = 2.0 ** (-8.0 * np.arange(1, num_heads + 1) / num_heads)
    return _alibi_from(slopes, num_heads, q_len, k_len, **kw)


def alibi_bf16_slopes(num_heads, q_len, k_len, **kw):
    import torch

    m = torch.from_numpy(np.asarray(refpe.alibi_slopes(num_heads, dtype="float64")))
    slopes = m.to(torch.bfloat16).to(torch.float64).numpy()
    return _alibi_from(slopes, num_heads, q_len, k_len, **kw)


def alibi_always_causal(num_heads, q_len, k_len, *, causal=True, **kw):
    return refpe.alibi(num_heads, q_len, k_len, causal=True, **kw)


def alibi_always_symmetric(num_heads, q_len, k_len, *, causal=True, **kw):
    return refpe.alibi(num_heads, q_len, k_len, causal=False, **kw)


def test_alibi_naive_slopes_at_12_heads():
    report = check(alibi_naive, "alibi", dtypes=["float64"])
    bad = {r.case: r.diagnosis for r in report.problems()}
    assert "12 heads (not a power of two)" in bad
    assert (
        "ALiBi slopes of the naive 2^(-8h/H) for non-power-of-two H"
        in bad["12 heads (not a power of two)"]
    )
    assert "8 heads causal" not in bad  # a power of two: the naive slopes are the right ones


def test_alibi_bfloat16_slopes():
    pytest.importorskip("torch")
    report = check(alibi_bf16_slopes, "alibi", dtypes=["float64"])
    assert "matches slopes rounded to bfloat16" in _diagnoses(report)


def test_alibi_causal_where_symmetric_is_asked_and_vice_versa():
    assert "matches causal ALiBi where symmetric is asked" in _diagnoses(
        check(alibi_always_causal, "alibi", dtypes=["float64"])
    )
    assert "matches symmetric ALiBi where causal is asked" in _diagnoses(
        check(alibi_always_symmetric, "alibi", dtypes=["float64"])
    )


# --- T5 ----------------------------------------------------------------------------------------


def t5_flipped(table, q_len, k_len, *, bidirectional=True, num_buckets=32, max_distance=128, **kw):
    rel = np.arange(q_len)[:, None] - np.arange(k_len)[None, :]  # query - key: flipped
    b = refpe.t5_bucket(
        rel, bidirectional=bidirectional, num_buckets=num_buckets, max_distance=max_distance
    )
    return np.transpose(table[np.asarray(b)], (2, 0, 1))


def test_t5_direction_flipped():
    report = check(t5_flipped, "t5-bias", dtypes=["float64"])
    assert "matches T5 buckets with the direction flipped" in _diagnoses(report)


# --- the sinusoid ------------------------------------------------------------------------------


def sinusoid_base_1000(positions, d, *, base=10000.0, **kw):
    return refpe.pe_sinusoidal(positions, d, base=1000.0, **kw)


def test_sinusoid_base_is_fitted():
    report = check(sinusoid_base_1000, "pe-sinusoidal", dtypes=["float32"])
    assert "matches base=1000 instead of 10000" in _diagnoses(report)


def sinusoid_2d_row_first(height, width, d, *, order="xy", **kw):
    return refpe.pe_sinusoidal_2d(height, width, d, order="yx", **kw)


def test_2d_order():
    report = check(sinusoid_2d_row_first, "pe-sinusoidal-2d", dtypes=["float64"])
    assert "matches a 2-D table in (y, x) order (row first, MoCo v3) where (x, y)" in (
        _diagnoses(report)
    )


# --- layer norm --------------------------------------------------------------------------------


def _ln(x, gamma, beta, eps, *, ddof=0, eps_outside=False):
    mu = x.mean(-1, keepdims=True)
    sd = x.std(-1, keepdims=True, ddof=ddof)
    y = (x - mu) / (sd + eps if eps_outside else np.sqrt(sd**2 + eps))
    return y * (1 if gamma is None else gamma) + (0 if beta is None else beta)


def ln_unbiased(x, gamma=None, beta=None, *, eps=1e-5):
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return _ln(x, gamma, beta, eps, ddof=1)


def ln_eps_outside(x, gamma=None, beta=None, *, eps=1e-5):
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    return _ln(x, gamma, beta, eps, eps_outside=True)


def test_layer_norm_unbiased_variance():
    report = check(ln_unbiased, "layer-norm", dtypes=["float64"])
    assert "matches unbiased variance (divides by n-1)" in _diagnoses(report)


def test_layer_norm_eps_outside_the_sqrt():
    report = check(ln_eps_outside, "layer-norm", dtypes=["float64"])
    assert "matches eps added outside the square root" in _diagnoses(report)


# --- attention ---------------------------------------------------------------------------------


def sdpa_finite_mask(q, k, v, *, causal=False, key_padding_mask=None, bias=None, scale=None):
    """Masks written with masked_fill(mask, finfo.min): a row that sees no key is uniform."""
    s = q @ np.swapaxes(k, -1, -2) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    low = np.finfo(s.dtype).min
    if bias is not None:
        s = s + np.where(np.isneginf(bias), low, bias)
    if causal:
        s = np.where(np.arange(k.shape[-2])[None, :] > np.arange(q.shape[-2])[:, None], low, s)
    if key_padding_mask is not None:
        s = np.where(key_padding_mask[..., None, None, :], low, s)
    w = np.exp(s - s.max(-1, keepdims=True))
    return (w / w.sum(-1, keepdims=True)) @ v


def test_fully_masked_rows_return_the_mean():
    report = check(sdpa_finite_mask, "attn-sdpa", dtypes=["float64"])
    bad = {r.case: r.diagnosis for r in report.problems()}
    assert "fully masked rows: yours returns the mean of the values, the spec returns 0" in bad.get(
        "row-sees-no-key", ""
    ), bad


# --- what happened instead of err=inf ----------------------------------------------------------


def sinusoid_with_a_nan(positions, d, **kw):
    out = np.array(refpe.pe_sinusoidal(positions, d, **kw))
    out.reshape(-1)[1] = np.nan
    return out


def sinusoid_with_an_inf(positions, d, **kw):
    out = np.array(refpe.pe_sinusoidal(positions, d, **kw))
    out.reshape(-1)[0] = np.inf
    return out


def test_a_nan_is_named_with_its_index_and_count():
    report = check(sinusoid_with_a_nan, "pe-sinusoidal", dtypes=["float64"])
    assert report.problems()
    assert all(
        "NaN where a value was due at index" in r.where and "1 of " in r.where
        for r in report.problems()
    )


def test_an_infinite_value_is_named():
    report = check(sinusoid_with_an_inf, "pe-sinusoidal", dtypes=["float64"])
    assert all("an infinite value (inf)" in r.where for r in report.problems())


def test_a_raised_error_is_printed_without_a_measured_error():
    import io

    from rich.console import Console

    from refpe.conformance.report import table

    def raises(positions, d, **kw):
        raise RuntimeError("no table today")

    report = check(raises, "pe-sinusoidal", dtypes=["float64"])
    errors = [r for r in report.results if r.verdict == "error"]
    assert errors and all("RuntimeError" in r.reason for r in errors)
    text = str(report)
    assert "error: " in text and "err=" not in text  # no "err=inf" for a call that raised
    out = io.StringIO()
    table(report.results, 0.0, Console(file=out, width=200))
    printed = out.getvalue()
    assert "ERROR" in printed and "no table today" in printed and "err=" not in printed


# --- refpe's own warnings stay out of the reasons ---------------------------------------------


def test_only_the_subjects_own_warnings_are_recorded():
    import warnings

    def noisy(positions, d, **kw):
        warnings.warn("the subject's own warning", UserWarning, stacklevel=1)
        return refpe.pe_sinusoidal(positions, d, **kw)

    report = check(noisy, "pe-sinusoidal", dtypes=["float64"])
    assert all("the subject's own warning" in r.reason for r in report.results if r.case != "*")
    quiet = check(sinusoid_with_an_inf, "pe-sinusoidal", dtypes=["float64"])
    assert not any("warned" in r.reason for r in quiet.results), [r.reason for r in quiet.results]


def test_refpes_own_warnings_are_left_out():
    import warnings

    import refpe.conformance.judge as inside

    def calls_into_refpe(positions, d, **kw):
        # A warning attributed to a refpe module, as numpy attributes its RuntimeWarnings.
        warnings.warn_explicit("overflow encountered in divide", RuntimeWarning, inside.__file__, 1)
        return refpe.pe_sinusoidal(positions, d, **kw)

    report = check(calls_into_refpe, "pe-sinusoidal", dtypes=["float64"])
    assert report.ok
    assert not any("overflow" in r.reason for r in report.results)


# --- the check guide's examples run ------------------------------------------------------------


def test_check_guide_examples_run():
    """docs/guides/check.md: the failing report, its diagnosis and the HF wrapper."""
    import doctest
    from pathlib import Path

    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    guide = Path(__file__).resolve().parents[1] / "docs" / "guides" / "check.md"
    # MyST fences end a doctest block; stdlib doctest would read them as expected output.
    text = "\n".join(
        "" if line.startswith("```") else line for line in guide.read_text().splitlines()
    )
    test = doctest.DocTestParser().get_doctest(
        text, {"np": np, "refpe": refpe}, "check.md", str(guide), 0
    )
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 10 and result.failed == 0, result
