"""Hugging Face transformers: rotary embeddings (LLaMA and GPT-J styles), the RoPE init
functions of ``modeling_rope_utils``, Bloom's ALiBi, T5's bucketed bias and RoBERTa's
position ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.specs._cases import host_positions

from ..subjects import Subject, register_subject
from ._convert import torch_float

LIB = "transformers"


def _positions(kwargs: Mapping[str, Any], lead: tuple[int, ...]) -> np.ndarray:
    p = host_positions(kwargs["positions"])
    return np.broadcast_to(p, lead)


def _rope_parameters(kwargs: Mapping[str, Any]) -> tuple[dict, int]:
    """Hugging Face ``rope_parameters`` and ``max_position_embeddings`` for a case."""
    s = dict(kwargs.get("scaling") or {})
    kind = s.pop("type", None) or s.get("rope_type", "default")
    s["rope_type"] = kind
    s.setdefault("rope_theta", float(kwargs.get("base", 10000.0)))
    n0 = s.get("original_max_position_embeddings")
    n_max = s.pop("max_position_embeddings", None)
    if n_max is None:
        n_max = int(n0 * (s.get("factor") or 1)) if n0 else 2048
    return s, int(n_max)


def _config(kwargs: Mapping[str, Any], r: int) -> Any:
    from transformers import LlamaConfig

    params, n_max = _rope_parameters(kwargs)
    return LlamaConfig(
        hidden_size=r,
        num_attention_heads=1,
        head_dim=r,
        max_position_embeddings=n_max,
        rope_parameters=params,
    )


def _no_ntk(case: Any) -> str | None:
    s = case.kwargs.get("scaling") or {}
    if s.get("rope_type", s.get("type")) == "ntk":
        return "Hugging Face has no static NTK rope_type (only 'dynamic')"
    return None


def _llama_rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    x = torch_float(kwargs["x"], dtype)
    d, t = x.shape[-1], x.shape[-2]
    r = kwargs.get("rotary_dim") or d
    lead = tuple(x.shape[:-1])
    pos = torch.from_numpy(_positions(kwargs, lead).reshape(-1, t).copy())
    xs = x.reshape(-1, 1, t, d)
    emb = LlamaRotaryEmbedding(_config(kwargs, r))
    cos, sin = emb(xs, pos)
    rot, _ = apply_rotary_pos_emb(xs[..., :r], xs[..., :r], cos, sin)
    return to_host(torch.cat((rot, xs[..., r:]), dim=-1).reshape(x.shape))


def _llama_applies(case: Any) -> str | None:
    if case.kwargs.get("layout", "half") != "half":
        return "LlamaRotaryEmbedding uses the half layout"
    return _no_ntk(case)


def _gptj_rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from transformers.models.gptj.modeling_gptj import (
        apply_rotary_pos_emb,
        create_sinusoidal_positions,
    )

    x = torch_float(kwargs["x"], dtype)
    d, t = x.shape[-1], x.shape[-2]
    r = kwargs.get("rotary_dim") or d
    pos = _positions(kwargs, tuple(x.shape[:-1])).reshape(-1, t)
    table = create_sinusoidal_positions(int(pos.max()) + 1, r)
    sin, cos = torch.split(table[torch.from_numpy(pos.copy())].to(x.dtype), r // 2, dim=-1)
    xs = x.reshape(-1, t, 1, d)
    rot = apply_rotary_pos_emb(xs[..., :r], sin, cos)
    return to_host(torch.cat((rot, xs[..., r:]), dim=-1).reshape(x.shape))


def _gptj_applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("layout", "half") != "interleaved":
        return "GPT-J rotates interleaved pairs (rotate_every_two)"
    if kw.get("scaling") or kw.get("base", 10000.0) != 10000.0:
        return "GPT-J's create_sinusoidal_positions has base 10000 and no scaling"
    p = np.asarray(kw["positions"])
    if p.min() < 0 or p.max() >= 2**21:
        return "GPT-J looks positions up in a precomputed table (0 <= p < 2^21 here)"
    return None


def _rope_init(kwargs: Mapping[str, Any], dtype: str) -> Any:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    r = kwargs["rotary_dim"]
    config = _config(kwargs, r)
    kind = config.rope_parameters["rope_type"]
    if kind == "default":
        inv, af = LlamaRotaryEmbedding.compute_default_rope_parameters(config)
    else:
        inv, af = ROPE_INIT_FUNCTIONS[kind](config, "cpu", seq_len=kwargs.get("seq_len"))
    return inv.numpy().astype(dtype), float(af)


def _bloom_alibi(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    h, q, k = kwargs["num_heads"], kwargs["q_len"], kwargs["k_len"]
    m = build_alibi_tensor(torch.ones(1, 2, dtype=torch.long), h, torch.float32)[:, 0, 1]
    off = kwargs.get("offset")
    i = np.arange(q) + (k - q if off is None else off)
    dist = np.arange(k)[None, :] - i[:, None]
    return (m.double().numpy()[:, None, None] * dist).astype(dtype)


def _bloom_applies(case: Any) -> str | None:
    return None if case.kwargs.get("causal", True) else "Bloom's ALiBi is causal only"


def _t5_bias(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5Attention

    table = torch_float(kwargs["table"], dtype)
    b, heads = table.shape
    q, k = kwargs["q_len"], kwargs["k_len"]
    config = T5Config(
        d_model=8 * heads,
        d_kv=8,
        num_heads=heads,
        relative_attention_num_buckets=b,
        relative_attention_max_distance=kwargs.get("max_distance", 128),
        is_decoder=not kwargs.get("bidirectional", True),
    )
    att = T5Attention(config, has_relative_attention_bias=True, layer_idx=0).to(table.dtype)
    with torch.no_grad():
        att.relative_attention_bias.weight.copy_(table)
        off = kwargs.get("offset")
        return to_host(att.compute_bias(q, k, past_seen_tokens=k - q if off is None else off)[0])


def _roberta_learned(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    from transformers.models.roberta.modeling_roberta import RobertaEmbeddings

    table = torch_float(kwargs["table"], dtype)
    p = kwargs["positions"]
    shape = (p,) if isinstance(p, int) else np.shape(p)
    ids = torch.full((int(np.prod(shape[:-1], dtype=int)), shape[-1]), 5, dtype=torch.long)
    pos = RobertaEmbeddings.create_position_ids_from_input_ids(ids, padding_idx=1)
    padded = torch.cat((torch.zeros(2, table.shape[1], dtype=table.dtype), table))
    return to_host(torch.nn.functional.embedding(pos, padded).reshape((*shape, table.shape[1])))


def _roberta_applies(case: Any) -> str | None:
    p = case.kwargs.get("positions")
    if p is None or "table" not in case.kwargs:
        return "RoBERTa needs positions and a table"
    if isinstance(p, int):
        return None
    p = np.asarray(p)
    if p.ndim == 0 or not np.array_equal(p, np.broadcast_to(np.arange(p.shape[-1]), p.shape)):
        return (
            "RoBERTa derives positions 0..T-1 (+2) from the input ids; arbitrary ones don't apply"
        )
    return None


_ROPE_TYPES = "default, linear, dynamic, yarn, llama3, longrope"


register_subject(
    Subject(
        name="transformers.LlamaRotaryEmbedding",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_llama_rope,
        dtypes=("float32", "float16", "bfloat16"),
        applies=_llama_applies,
        requires=("torch",),
        convention={
            "layout": "half (rotate_half)",
            "schedule": "base^(-2i/r)",
            "frequency dtype": "float32 (cos/sin in float32, cast to x.dtype)",
            "offset": "position_ids as given",
            "scalings": _ROPE_TYPES,
            "attention factor": "multiplies cos and sin",
            "partial rotary": "first rotary_dim dims (GPT-NeoX); this adapter concatenates",
        },
    ),
    Subject(
        name="transformers.gptj.apply_rotary_pos_emb",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_gptj_rope,
        dtypes=("float32", "float16", "bfloat16"),
        applies=_gptj_applies,
        requires=("torch",),
        convention={
            "layout": "interleaved (rotate_every_two)",
            "schedule": "10000^(-2i/r), base fixed",
            "frequency dtype": "float32 table of sin|cos by position, cast to x.dtype",
            "offset": "position_ids index a table of max_position_embeddings rows",
            "scalings": "none",
            "partial rotary": "first rotary_dim dims",
        },
    ),
    Subject(
        name="transformers.modeling_rope_utils",
        refuses=False,
        spec="rope-scaling",
        library=LIB,
        call=_rope_init,
        dtypes=("float32",),
        applies=_no_ntk,
        requires=("torch",),
        convention={
            "frequency dtype": "float32 (base ** (arange/dim) in float32)",
            "scalings": _ROPE_TYPES + ", proportional",
            "dynamic": "L0 = config.max_position_embeddings; module recomputes on growth only",
            "yarn": "truncate=True floors/ceils the correction range; a = 0.1 ln s + 1",
            "longrope": "long factors when max(position_ids) + 1 > original length",
        },
    ),
    Subject(
        name="transformers.bloom.build_alibi_tensor",
        refuses=False,
        spec="alibi",
        library=LIB,
        call=_bloom_alibi,
        dtypes=("float32",),
        applies=_bloom_applies,
        requires=("torch",),
        convention={
            "form": "key-only m_h * j; the adapter takes Bloom's slopes (its j = 1 column) and "
            "applies them as m_h * (j - i), which differs by the row constant softmax cancels",
            "slopes": "float32 powers of a float32 ratio (ALiBi repo rule for any H)",
            "offset": "keys from the attention mask's cumsum (left padding aware)",
        },
    ),
    Subject(
        name="transformers.T5Attention.compute_bias",
        refuses=False,
        spec="t5-bias",
        library=LIB,
        call=_t5_bias,
        dtypes=("float64", "float32", "float16", "bfloat16"),
        requires=("torch",),
        convention={
            "buckets": "float32 log, truncated to long, min(., num_buckets - 1)",
            "bidirectional": "encoder (not is_decoder)",
            "offset": "past_seen_tokens (cache position)",
        },
    ),
    Subject(
        name="transformers.RobertaEmbeddings.position_ids",
        refuses=False,
        spec="pe-learned",
        library=LIB,
        call=_roberta_learned,
        dtypes=("float64", "float32"),
        applies=_roberta_applies,
        requires=("torch",),
        convention={
            "offset": "padding_idx + 1 = 2 (fairseq make_positions): row p + 2 holds position p",
            "positions": "cumsum of the non-padding mask",
        },
    ),
)
