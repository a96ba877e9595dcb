"""The tensor2tensor / fairseq sinusoid schedule, transcribed from the published code.

Neither library installs here (tensor2tensor needs TensorFlow 1, fairseq no longer builds),
so these subjects are the published formulas written out with the same dtype and order of
operations: tensor2tensor ``common_attention.get_timing_signal_1d`` (float32) and fairseq
``SinusoidalPositionalEmbedding.get_embedding`` (a float32 torch table indexed from
``padding_idx + 1``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..subjects import Subject, register_subject
from ._convert import shifted_positions


def _t2t(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``get_timing_signal_1d(length, channels, min_timescale=1, max_timescale=base)``."""
    channels, f32 = kwargs["d"], np.float32
    position = shifted_positions(kwargs).astype(f32)
    n = channels // 2
    increment = math.log(float(kwargs.get("base", 1.0e4)) / 1.0) / max(float(n) - 1, 1.0)
    inv = f32(1.0) * np.exp(np.arange(n, dtype=f32) * f32(-increment))
    scaled = position[..., None] * inv
    signal = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=-1)
    pad = [(0, 0)] * (signal.ndim - 1) + [(0, channels % 2)]
    return np.pad(signal, pad).astype(dtype)


def _fairseq(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``get_embedding(num_embeddings, embedding_dim, padding_idx)``, then the lookup.

    Only the rows the positions index are computed: each row of ``get_embedding`` is its own
    index times the frequencies, through ``sin`` and ``cos`` element by element, so a row is
    the same alone, and the whole table to position 2^24 would hold gigabytes."""
    import torch

    d, pos = kwargs["d"], shifted_positions(kwargs)
    half = d // 2
    emb = math.log(float(kwargs.get("base", 10000.0))) / (half - 1)
    emb = torch.exp(torch.arange(half, dtype=torch.float) * -emb)
    rows = torch.from_numpy(pos.reshape(-1).copy()).to(torch.float)  # arange(n)[pos], as float
    emb = rows.unsqueeze(1) * emb.unsqueeze(0)
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
    if d % 2 == 1:
        emb = torch.cat([emb, torch.zeros(emb.shape[0], 1)], dim=1)
    return emb.reshape(*pos.shape, d).to(getattr(torch, dtype)).numpy()


def _applies(case: Any) -> str | None:
    kw = case.kwargs
    if (
        kw.get("schedule", "transformer") != "t2t"
        or kw.get("layout", "concatenated") != "concatenated"
    ):
        return "tensor2tensor / fairseq use the t2t schedule, concatenated"
    return None


#: Both compute the table in float32 from the angle p * omega formed in float32: exact at
#: short positions, off by up to |p omega| eps32 at long ones.
_FLOAT32_ANGLE = (
    "the angle p * omega is formed in float32 (the table is float32 throughout): exact at short "
    "positions only"
)


def _far(case: Any) -> bool:
    positions = shifted_positions(case.kwargs)
    return positions.size > 0 and int(np.abs(positions).max()) >= 2**12


def _t2t_differs(case: Any) -> str | None:
    return _FLOAT32_ANGLE if _far(case) else None


def _fairseq_differs(case: Any) -> str | None:
    if case.kwargs["d"] < 4:
        return (
            "fairseq divides by d/2 - 1 in Python: d in {2, 3} raises ZeroDivisionError "
            "(tensor2tensor divides by max(d/2 - 1, 1))"
        )
    return _t2t_differs(case)


register_subject(
    Subject(
        name="tensor2tensor.get_timing_signal_1d (transcribed)",
        refuses=False,
        spec="pe-sinusoidal",
        library="numpy",
        call=_t2t,
        dtypes=("float32",),
        applies=_applies,
        differs=_t2t_differs,
        convention={
            "library": "tensor2tensor (transcribed)",
            "layout": "concatenated [sin | cos], odd d padded with a zero column",
            "schedule": "t2t: exp(-i ln(max/min) / max(d/2 - 1, 1))",
            "frequency dtype": "float32",
            "offset": "start_index",
        },
    ),
    Subject(
        name="fairseq.SinusoidalPositionalEmbedding (transcribed)",
        refuses=False,
        spec="pe-sinusoidal",
        library="torch",
        call=_fairseq,
        dtypes=("float32",),
        applies=_applies,
        differs=_fairseq_differs,
        convention={
            "library": "fairseq (transcribed)",
            "layout": "concatenated [sin | cos], odd d padded with a zero column",
            "schedule": "t2t: exp(-i ln(10000) / (d/2 - 1))",
            "frequency dtype": "float32 table",
            "offset": "padding_idx + 1 (make_positions); padding_idx row zeroed",
        },
    ),
)
