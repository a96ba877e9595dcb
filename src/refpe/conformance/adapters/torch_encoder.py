"""PyTorch's own encoder pieces as subjects: attention, layer norm, cross-entropy, and the
embedding gradient that autograd gives.

Each ``call`` receives a case's host arguments (NumPy; floats already in the dtype under
test) and maps refpe's conventions onto PyTorch's: refpe's ``key_padding_mask`` is True for a
padded key, ``F.scaled_dot_product_attention``'s boolean ``attn_mask`` is True for a key that
takes part, so the adapter passes one additive float mask (``-inf`` = hidden) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..subjects import Subject, register_subject


def hidden_keys(kwargs: Mapping[str, Any]) -> np.ndarray | None:
    """Boolean, broadcast to ``(..., H, T_q, T_k)``: True where refpe hides key j from query i."""
    q, k = kwargs["q"], kwargs["k"]
    t_q, t_k = q.shape[-2], k.shape[-2]
    hidden = np.zeros((*q.shape[:-1], t_k), dtype=bool)
    if kwargs.get("causal", False):
        hidden = hidden | (np.arange(t_k)[None, :] > np.arange(t_q)[:, None])
    pad = kwargs.get("key_padding_mask")
    if pad is not None:
        hidden = hidden | pad.reshape(*pad.shape[:-1], 1, 1, t_k)
    return hidden


def additive_mask(kwargs: Mapping[str, Any]) -> np.ndarray:
    """``bias`` plus ``-inf`` where a key is hidden, broadcast to ``(..., H, T_q, T_k)``."""
    hidden = hidden_keys(kwargs)
    bias = kwargs.get("bias")
    base = np.zeros(hidden.shape, dtype=kwargs["q"].dtype) if bias is None else bias
    return np.where(hidden, -np.inf, base).astype(kwargs["q"].dtype)


# --- attention ------------------------------------------------------------------------------


def _sdpa(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(kwargs[n]) for n in ("q", "k", "v"))
    only_causal = kwargs.get("key_padding_mask") is None and kwargs.get("bias") is None
    if only_causal:
        mask, is_causal = None, bool(kwargs.get("causal", False))
    else:
        mask, is_causal = torch.from_numpy(additive_mask(kwargs)), False
    with torch.no_grad():
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal, scale=kwargs.get("scale")
        )
    return out.numpy()


def torch_mha(w_q: Any, w_k: Any, w_v: Any, w_o: Any, num_heads: int, dtype: Any) -> Any:
    """An ``nn.MultiheadAttention`` holding refpe's weights (``x @ W`` kernels, no biases).

    PyTorch stores ``y = x W^T`` weights: ``in_proj_weight = [w_q^T; w_k^T; w_v^T]`` and
    ``out_proj.weight = w_o^T``; it splits heads the same way (head h = columns
    ``h d/H .. (h+1) d/H - 1``), so refpe's ``multi_head_attention`` and this module agree.
    """
    import torch

    d = w_q.shape[0]
    mha = torch.nn.MultiheadAttention(d, num_heads, bias=False, batch_first=True, dtype=dtype)
    with torch.no_grad():
        w_in = np.concatenate([w_q.T, w_k.T, w_v.T], axis=0)
        mha.in_proj_weight.copy_(torch.from_numpy(np.ascontiguousarray(w_in)))
        mha.out_proj.weight.copy_(torch.from_numpy(np.ascontiguousarray(w_o.T)))
    return mha.eval()


def _mha_identity(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``attn_sdpa`` through ``nn.MultiheadAttention`` with identity projections."""
    import torch

    q, k, v = kwargs["q"], kwargs["k"], kwargs["v"]
    lead, heads, t_q, d_k = q.shape[:-3], q.shape[-3], q.shape[-2], q.shape[-1]
    k = np.broadcast_to(k, (*lead, *k.shape[-3:]))
    v = np.broadcast_to(v, (*lead, *v.shape[-3:]))
    n = int(np.prod(lead, dtype=np.int64))

    def merged(t: np.ndarray) -> Any:
        t = np.swapaxes(t, -3, -2).reshape(n, t.shape[-2], heads * t.shape[-1])
        return torch.from_numpy(np.array(t))

    eye = np.eye(heads * d_k, dtype=q.dtype)
    mha = torch_mha(eye, eye, eye, eye, heads, getattr(torch, dtype))
    mask = np.broadcast_to(additive_mask(kwargs), (*lead, heads, t_q, k.shape[-2]))
    attn_mask = torch.from_numpy(np.array(mask.reshape(n * heads, t_q, -1)))
    with torch.no_grad():
        out, _ = mha(merged(q), merged(k), merged(v), attn_mask=attn_mask, need_weights=False)
    out = out.numpy().reshape(*lead, t_q, heads, d_k)
    return np.swapaxes(out, -3, -2)


def _mha_applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("scale") is not None:
        return "nn.MultiheadAttention has no scale argument (always 1/sqrt(head_dim))"
    if kw["v"].shape[-1] != kw["q"].shape[-1]:
        return "nn.MultiheadAttention has one head width for queries and values (d_v == d_k)"
    return None


# --- layer norm, cross-entropy ------------------------------------------------------------


def _layer_norm(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(kwargs["x"])
    gamma, beta = (kwargs.get(n) for n in ("gamma", "beta"))
    return F.layer_norm(
        x,
        (x.shape[-1],),
        weight=None if gamma is None else torch.from_numpy(gamma),
        bias=None if beta is None else torch.from_numpy(beta),
        eps=kwargs.get("eps", 1e-5),
    ).numpy()


def _cross_entropy(kwargs: Mapping[str, Any], dtype: str) -> Any:
    import torch
    import torch.nn.functional as F

    logits, targets = kwargs["logits"], kwargs["targets"]
    reduction = kwargs.get("reduction", "mean")
    out = F.cross_entropy(
        torch.from_numpy(logits.reshape(-1, logits.shape[-1])),
        torch.from_numpy(np.asarray(targets).reshape(-1)),
        ignore_index=kwargs.get("ignore_index", -100),
        label_smoothing=kwargs.get("label_smoothing", 0.0),
        reduction=reduction,
    ).numpy()
    return out.reshape(targets.shape) if reduction == "none" else out


# --- the embedding gradient through autograd ------------------------------------------------


def _embedding_grad(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``W.grad`` after ``F.embedding(ids, W).backward(grad_out)``.

    Freezing the PyTorch way: ``frozen=True`` is ``W.requires_grad_(False)`` (no gradient:
    read as zeros); a row mask is a gradient hook that zeroes those rows.
    """
    import torch
    import torch.nn.functional as F

    g = torch.from_numpy(kwargs["grad_out"])
    n = kwargs["num_embeddings"]
    frozen = kwargs.get("frozen")
    W = torch.zeros((n, g.shape[-1]), dtype=g.dtype, requires_grad=frozen is not True)
    if isinstance(frozen, np.ndarray):
        rows = torch.from_numpy(frozen)[:, None]
        W.register_hook(lambda grad: grad.masked_fill(rows, 0.0))
    out = F.embedding(
        torch.from_numpy(kwargs["ids"]),
        W,
        padding_idx=kwargs.get("padding_idx"),
        scale_grad_by_freq=kwargs.get("scale_grad_by_freq", False),
    )
    if not W.requires_grad:
        return np.zeros((n, g.shape[-1]), dtype=kwargs["grad_out"].dtype)
    out.backward(g)
    return W.grad.numpy()


register_subject(
    Subject(
        name="torch.nn.functional.scaled_dot_product_attention",
        refuses=False,
        spec="attn-sdpa",
        library="torch",
        call=_sdpa,
        convention={
            "mask": "boolean attn_mask True = takes part; refpe's padding mask becomes -inf",
            "causal": "is_causal, top-left aligned (tril)",
        },
    ),
    Subject(
        name="torch.nn.MultiheadAttention (identity projections)",
        refuses=False,
        spec="attn-sdpa",
        library="torch",
        call=_mha_identity,
        convention={
            "weights": "in_proj_weight = [w_q^T; w_k^T; w_v^T], out_proj.weight = w_o^T",
            "key_padding_mask": "True = padded (ignored), as refpe",
            "layout": "(batch, T, heads * d_k) with batch_first=True",
        },
        applies=_mha_applies,
    ),
    Subject(
        name="torch.nn.functional.layer_norm",
        refuses=False,
        spec="layer-norm",
        library="torch",
        call=_layer_norm,
        convention={"variance": "biased (divides by d)"},
    ),
    Subject(
        name="torch.nn.functional.cross_entropy",
        refuses=False,
        spec="softmax-xent",
        library="torch",
        call=_cross_entropy,
        convention={
            "label_smoothing": "(1 - eps) onehot + eps / C",
            "mean": "over non-ignored targets; NaN when all are ignored",
        },
    ),
    Subject(
        name="torch autograd of F.embedding",
        refuses=False,
        spec="embedding-grad",
        library="torch",
        call=_embedding_grad,
        convention={
            "frozen": "requires_grad_(False) for the table, a zeroing hook for rows",
            "padding_idx": "negative counts from the end",
        },
    ),
)
