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
    # In float32 itself the spec's bound grows with |p theta|: the same code conforms.
    assert check(rope_float32_angle, "rope", dtypes=["float32"]).ok


def test_rope_bfloat16_angle():
    def bf16_angle(x, positions, **kw):
        from refpe.conformance.mistakes import rope_narrow_angle

        out = rope_narrow_angle("bfloat16", usual=False)(refpe.spec("rope"), dict(x=x, positions=positions, **kw))
        return out.astype(x.dtype)

    text = _diagnoses(check(bf16_angle, "rope", dtypes=["float32"]))
    assert "matches the angle computed in bfloat16" in text
