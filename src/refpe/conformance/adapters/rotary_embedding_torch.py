"""rotary-embedding-torch (Phil Wang): ``RotaryEmbedding`` and ``apply_rotary_emb``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.specs._cases import host_positions

from ..subjects import Subject, register_subject
from ._convert import torch_float

LIB = "rotary_embedding_torch"


def _kind(case: Any) -> str:
    s = case.kwargs.get("scaling") or {}
    return s.get("rope_type", s.get("type", "default"))


def _module(kwargs: Mapping[str, Any], r: int) -> Any:
    from rotary_embedding_torch import RotaryEmbedding

    s = kwargs.get("scaling") or {}
    kind = s.get("rope_type", s.get("type", "default"))
    return RotaryEmbedding(
        r,
        theta=float(s.get("rope_theta") or kwargs.get("base", 10000.0)),
        interpolate_factor=float(s["factor"]) if kind == "linear" else 1.0,
        theta_rescale_factor=float(s["factor"]) if kind == "ntk" else 1.0,
    )


def _rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from rotary_embedding_torch import apply_rotary_emb

    x = torch_float(kwargs["x"], dtype)
    d, t = x.shape[-1], x.shape[-2]
    r = kwargs.get("rotary_dim") or d
    rot = _module(kwargs, r)
    p = host_positions(kwargs["positions"])
    rows = np.broadcast_to(p, x.shape[:-1]).reshape(-1, t)
    xs = x.reshape(-1, t, d)
    if np.all(rows == rows[:, :1] + np.arange(t)) and np.all(rows[:, 0] == rows[0, 0]):
        out = rot.rotate_queries_or_keys(xs, offset=int(rows[0, 0]))
    else:
        seq = torch.from_numpy(rows.copy()).to(torch.float32) / rot.interpolate_factor
        out = apply_rotary_emb(rot(seq)[:, :, :], xs, seq_dim=-2)
    return to_host(out.reshape(x.shape))


def _applies(case: Any) -> str | None:
    if case.kwargs.get("layout", "half") != "interleaved":
        return "rotary-embedding-torch rotates interleaved pairs"
    if _kind(case) not in ("default", "linear", "ntk"):
        return f"rotary-embedding-torch has no {_kind(case)!r} scaling"
    return None


register_subject(
    Subject(
        name="rotary_embedding_torch.RotaryEmbedding",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope,
        dtypes=("float32",),
        applies=_applies,
        requires=("torch",),
        convention={
            "layout": "interleaved (rotate_half over '(d r)', r = 2)",
            "schedule": "theta^(-2i/r), freqs_for='lang'",
            "frequency dtype": "float32; positions are made in x.dtype (get_seq_pos), so "
            "bfloat16/float16 inputs round positions past 256/2048: checked in float32 only",
            "offset": "rotate_queries_or_keys(offset=...): contiguous positions from an offset",
            "scalings": "linear (interpolate_factor divides positions), ntk (theta_rescale_factor)",
            "partial rotary": "first rot_dim dims (start_index=0)",
        },
    ),
)
