"""x-transformers (Phil Wang): ``RotaryEmbedding`` and ``apply_rotary_pos_emb``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.specs._cases import host_positions

from ..subjects import Subject, register_subject
from ._convert import torch_float

LIB = "x_transformers"


def _library() -> Any:
    """The module, imported without its torch.jit.script deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from x_transformers import x_transformers

    return x_transformers


def _scaling(case: Any) -> tuple[str | None, dict]:
    s = case.kwargs.get("scaling") or {}
    kind = s.get("rope_type", s.get("type", "default"))
    return kind, s


def _factors(kwargs: Mapping[str, Any]) -> dict:
    s = kwargs.get("scaling") or {}
    kind = s.get("rope_type", s.get("type", "default"))
    base = float(s.get("rope_theta") or kwargs.get("base", 10000.0))
    return {
        "base": base,
        "interpolation_factor": float(s["factor"]) if kind == "linear" else 1.0,
        "base_rescale_factor": float(s["factor"]) if kind == "ntk" else 1.0,
    }


def _rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch

    lib = _library()

    host = np.asarray(kwargs["x"])
    x = torch_float(host, dtype)
    d, t = x.shape[-1], x.shape[-2]
    r = kwargs.get("rotary_dim") or d
    p = host_positions(kwargs["positions"])
    pos = torch.from_numpy(np.broadcast_to(p, x.shape[:-1]).reshape(-1, t).copy())
    freqs, scale = lib.RotaryEmbedding(r, **_factors(kwargs))(pos)
    return to_host(lib.apply_rotary_pos_emb(x.reshape(-1, 1, t, d), freqs, scale).reshape(x.shape))


def _rope_applies(case: Any) -> str | None:
    if case.kwargs.get("layout", "half") != "interleaved":
        return "x-transformers rotates interleaved pairs"
    kind, _ = _scaling(case)
    if kind not in ("default", "linear", "ntk"):
        return f"x-transformers has no {kind!r} scaling (only interpolation and NTK base rescale)"
    return None


def _inv_freq(kwargs: Mapping[str, Any], dtype: str) -> Any:
    f = _factors(kwargs)
    rot = _library().RotaryEmbedding(
        kwargs["rotary_dim"], base=f["base"], base_rescale_factor=f["base_rescale_factor"]
    )
    return rot.inv_freq.numpy().astype(dtype), 1.0


def _inv_freq_applies(case: Any) -> str | None:
    kind, _ = _scaling(case)
    if kind not in ("default", "ntk"):
        return f"x-transformers' inv_freq holds the default or NTK-rescaled base only, not {kind!r}"
    return None


register_subject(
    Subject(
        name="x_transformers.RotaryEmbedding",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope,
        dtypes=("float32", "bfloat16"),
        applies=_rope_applies,
        requires=("torch",),
        convention={
            "layout": "interleaved (rotate_half over '(d r)', r = 2)",
            "schedule": "base^(-2i/r)",
            "frequency dtype": "float32 (positions cast to float32, autocast off)",
            "offset": "positions as given (forward(t)); freqs sliced to the last seq_len",
            "scalings": "linear (interpolation_factor divides p*theta), ntk (base_rescale_factor)",
            "partial rotary": "first rot_dim dims",
        },
    ),
    Subject(
        name="x_transformers.RotaryEmbedding.inv_freq",
        refuses=False,
        spec="rope-scaling",
        library=LIB,
        call=_inv_freq,
        dtypes=("float32",),
        applies=_inv_freq_applies,
        requires=("torch",),
        convention={
            "frequency dtype": "float32",
            "scalings": "ntk: base * factor^(r/(r-2)) (bloc97)",
        },
    ),
)
