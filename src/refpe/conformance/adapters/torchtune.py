"""torchtune: ``RotaryPositionalEmbeddings`` and Llama 3.1's ``Llama3ScaledRoPE``.

torchtune's package ``__init__`` needs torchao, whose releases that match this torch no
longer have what torchtune 0.6 imports; both classes live in torch-only source files, which
this adapter loads by path, so the classes themselves are what is checked.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.specs._cases import host_positions

from ..subjects import Subject, register_subject
from ._convert import torch_float

LIB = "torchtune"


_FILES = {
    "RotaryPositionalEmbeddings": "modules/position_embeddings.py",
    "Llama3ScaledRoPE": "models/llama3_1/_position_embeddings.py",
}


def _class(name: str) -> Any:
    root = Path(importlib.util.find_spec(LIB).submodule_search_locations[0])
    spec = importlib.util.spec_from_file_location(f"_refpe_torchtune_{name}", root / _FILES[name])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def _kind(case: Any) -> str:
    s = case.kwargs.get("scaling") or {}
    return s.get("rope_type", s.get("type", "default"))


def _module(kwargs: Mapping[str, Any], d: int, n: int) -> Any:
    s = kwargs.get("scaling") or {}
    base = float(s.get("rope_theta") or kwargs.get("base", 10000.0))
    if not s:
        return _class("RotaryPositionalEmbeddings")(d, max_seq_len=n, base=base)
    return _class("Llama3ScaledRoPE")(
        d,
        max_seq_len=n,
        base=base,
        scale_factor=s["factor"],
        low_freq_factor=s["low_freq_factor"],
        high_freq_factor=s["high_freq_factor"],
        old_context_len=s["original_max_position_embeddings"],
    )


def _rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch

    x = torch_float(kwargs["x"], dtype)
    d, t = x.shape[-1], x.shape[-2]
    p = host_positions(kwargs["positions"])
    rows = np.broadcast_to(p, x.shape[:-1]).reshape(-1, t)
    rope = _module(kwargs, d, int(rows.max()) + 1)
    out = rope(x.reshape(-1, t, 1, d), input_pos=torch.from_numpy(rows.copy()))
    return to_host(out.reshape(x.shape))


def _applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("layout", "half") != "interleaved":
        return "torchtune rotates interleaved pairs (reshape(..., -1, 2))"
    if _kind(case) not in ("default", "llama3"):
        return f"torchtune has no {_kind(case)!r} scaling (Llama3ScaledRoPE only)"
    if kw.get("rotary_dim") not in (None, kw["x"].shape[-1]):
        return "torchtune rotates the whole head (no partial rotary)"
    p = np.asarray(kw["positions"])
    if p.min() < 0 or p.max() >= 2**21:
        return "torchtune indexes a cache of max_seq_len positions (0 <= p < 2^21 here)"
    return None


def _inv_freq(kwargs: Mapping[str, Any], dtype: str) -> Any:
    r = kwargs["rotary_dim"]
    return _module(kwargs, r, 1).theta.numpy().astype(dtype), 1.0


def _inv_freq_applies(case: Any) -> str | None:
    if _kind(case) not in ("default", "llama3"):
        return f"torchtune has no {_kind(case)!r} scaling (Llama3ScaledRoPE only)"
    return None


_CONVENTION = {
    "layout": "interleaved (x.reshape(..., -1, 2))",
    "schedule": "base^(-2i/r)",
    "frequency dtype": "float32 cache of cos/sin by position; x computed in float32",
    "offset": "input_pos indexes the cache (packed samples, decoding)",
    "scalings": "llama3 (Llama3ScaledRoPE, Meta's apply_scaling)",
}

register_subject(
    Subject(
        name="torchtune.RotaryPositionalEmbeddings",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope,
        dtypes=("float32", "bfloat16"),
        applies=_applies,
        requires=("torch",),
        convention=_CONVENTION,
    ),
    Subject(
        name="torchtune.theta (RotaryPositionalEmbeddings, Llama3ScaledRoPE)",
        refuses=False,
        spec="rope-scaling",
        library=LIB,
        call=_inv_freq,
        dtypes=("float32",),
        applies=_inv_freq_applies,
        requires=("torch",),
        convention={"frequency dtype": "float32", "scalings": "default, llama3"},
    ),
)
