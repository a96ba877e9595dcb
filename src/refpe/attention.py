"""Attention (seed 002 §2–5): the seed's simplified formula and scaled dot-product attention."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import device

from ._compat import (
    dtype_name,
    is_traced,
    namespace,
    require_broadcast,
    require_elements,
    require_finite,
    require_float,
    require_positive_int,
    work_float,
)

__all__ = ["attn_sdpa", "attn_seed_simplified", "multi_head_attention"]


def attn_seed_simplified(
    E: Any,
    W: Any,
    b: Any,
    *,
    c: Sequence[float] = (1.0, 1.0, 1.0),
    exclude_self: bool = False,
) -> Any:
    r"""Seed 002 §4's "self-attention", exactly as its formulas are written.

    .. math::

        w_i = \operatorname{softmax}(W E_i + b),\quad
        a = \sum_{j=1}^{n} w_j \odot E_j,\quad
        v = \sum_{j=1}^{n} E_j,\quad
        h_i = c_1 w_i + c_2 a + c_3 v

    ``E`` has shape ``(..., n, d)``, ``W`` ``(d, d)``, ``b`` ``(d,)``; the softmax runs over
    the feature axis and :math:`w_j \odot E_j` is element-wise (the seed calls :math:`a_i` a
    vector). :math:`a` and :math:`v` do not depend on :math:`i`: every position receives the
    same sums. Output: shape ``(..., n, d)``.

    This is **not** scaled dot-product attention (:func:`attn_sdpa`): the weights are over
    features, computed from one position alone, not over positions from query-key products.
    Worked example, :math:`n = d = 2`, :math:`E_1 = (1, 0)`, :math:`E_2 = (0, 1)`,
    :math:`W = 0`, :math:`b = 0`, :math:`c = (1, 1, 1)`: :math:`w_1 = w_2 = (\tfrac12,
    \tfrac12)`, :math:`a = (\tfrac12, \tfrac12)`, :math:`v = (1, 1)`, so
    :math:`h_1 = h_2 = (2, 2)`. Scaled dot-product attention with :math:`Q = K = V = E`
    gives :math:`p_{11} = e^{1/\sqrt2} / (e^{1/\sqrt2} + 1) \approx 0.6698`, so
    :math:`o_1 \approx (0.6698, 0.3302)` and :math:`o_2 \approx (0.3302, 0.6698)`: each
    position mixes the others by similarity.

    Seed erratum (seed 002 §3 step 3 against §4): the text says :math:`v_i` sums the *other*
    positions; the formula sums all :math:`j`. refpe follows the formula;
    ``exclude_self=True`` gives the text's reading :math:`v_i = \sum_{j \ne i} E_j`.

    Source: seed 002 §3–4.

    Precision: computed in the widest float of the device (float64 where it exists) and
    rounded once to ``E.dtype``.
    """
    xp = namespace(E=E, W=W, b=b)
    c1, c2, c3 = _coefficients(c)
    require_float(xp, E=E, W=W, b=b)
    if E.ndim < 2:
        raise ValueError(f"E must have shape (..., n, d), got shape {tuple(E.shape)}")
    d = E.shape[-1]
    if tuple(W.shape) != (d, d):
        raise ValueError(f"W must have shape ({d}, {d}) for E of width {d}, got {tuple(W.shape)}")
    if tuple(b.shape) != (d,):
        raise ValueError(f"b must have shape ({d},) for E of width {d}, got {tuple(b.shape)}")
    wide = work_float(xp, device(E))
    E_, W_, b_ = (xp.astype(t, wide) for t in (E, W, b))
    w = softmax(E_ @ xp.matrix_transpose(W_) + b_, xp)
    a = xp.sum(w * E_, axis=-2, keepdims=True)
    v = xp.sum(E_, axis=-2, keepdims=True)
    if exclude_self:
        v = v - E_
    return xp.astype(c1 * w + c2 * a + c3 * v, E.dtype)


def attn_sdpa(
    q: Any,
    k: Any,
    v: Any,
    *,
    causal: bool = False,
    key_padding_mask: Any = None,
    bias: Any = None,
    scale: float | None = None,
) -> Any:
    r"""Scaled dot-product attention over ``(..., heads, T, d_k)``.

    .. math::

        S = \frac{Q K^\top}{\sqrt{d_k}} + B + M,\qquad
        P_{ij} = \frac{e^{S_{ij}}}{\sum_l e^{S_{il}}},\qquad
        O = P V

    ``q`` has shape ``(..., H, T_q, d_k)``, ``k`` ``(..., H, T_k, d_k)``, ``v``
    ``(..., H, T_k, d_v)``; the output ``(..., H, T_q, d_v)``. ``scale`` replaces
    :math:`1/\sqrt{d_k}`. ``bias`` :math:`B` is additive and broadcasts to
    ``(..., H, T_q, T_k)`` (ALiBi, T5 buckets; ``-inf`` entries mask). The mask :math:`M`
    is :math:`-\infty` where a key is hidden: with ``causal=True`` key :math:`j` is hidden
    from query :math:`i` when :math:`j > i` (seed 002 §2: a position depends only on the ones
    before it; rows and columns are aligned at the top-left, as in PyTorch and JAX);
    ``key_padding_mask`` is boolean of shape ``(..., T_k)`` (the batch axes, no head axis)
    with **True = a padded key, hidden** (PyTorch ``nn.MultiheadAttention``'s convention;
    ``F.scaled_dot_product_attention`` and JAX use the opposite). A query row that sees no
    key at all has output **zeros**, not NaN.

    Source: seed 002 §2, §5; Vaswani et al. (2017), *Attention Is All You Need*, §3.2.1.

    Precision: scores, softmax (max-shifted) and the weighted sum are computed in the widest
    float of the device (float64 where it exists) and rounded once to the inputs' dtype.
    """
    xp = namespace(q=q, k=k, v=v, key_padding_mask=key_padding_mask, bias=bias)
    require_float(xp, q=q, k=k, v=v)
    _check_qkv(q, k, v)
    for name, t in (("q", q), ("k", k), ("v", v)):
        require_finite(name, t, xp)
    p = attention_weights(q, k, causal, key_padding_mask, bias, scale, xp)
    return xp.astype(p @ xp.astype(v, p.dtype), xp.result_type(q, k, v))


def multi_head_attention(
    x: Any,
    w_q: Any,
    w_k: Any,
    w_v: Any,
    w_o: Any,
    *,
    num_heads: int,
    causal: bool = False,
    key_padding_mask: Any = None,
    bias: Any = None,
) -> Any:
    r"""Multi-head self-attention with the projections of seed 002 §5's code.

    .. math::

        Q = x W_q,\; K = x W_k,\; V = x W_v,\quad
        O_h = \operatorname{attn\_sdpa}(Q_h, K_h, V_h),\quad
        y = [O_1, \dots, O_H]\, W_o

    ``x`` has shape ``(..., T, d_model)``; ``w_q``, ``w_k`` ``(d_model, d_k)``, ``w_v``
    ``(d_model, d_v)``, ``w_o`` ``(d_v, d_out)`` (Keras ``Dense`` kernels: ``x @ W``; their
    biases are zero here). Head :math:`h` takes columns :math:`h\,d_k/H` to
    :math:`(h+1)\,d_k/H - 1` of :math:`Q` (reshape ``(..., T, H, d_k/H)``, then heads to the
    front: the ``split_heads`` of the TensorFlow code seed 002 follows); merging is the
    inverse. ``key_padding_mask`` ``(..., T)`` (True = padded) and ``bias`` ``(..., H, T, T)``
    are as in :func:`attn_sdpa`; the attention scale is :math:`1/\sqrt{d_k/H}`.

    Source: seed 002 §5 (``MultiHeadAttention``: ``W_q``, ``W_k``, ``W_v``, ``dense``);
    Vaswani et al. (2017), §3.2.2.

    Precision: computed in the widest float of the device and rounded once to ``x.dtype``.
    """
    xp = namespace(x=x, w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o, key_padding_mask=key_padding_mask)
    heads = require_positive_int("num_heads", num_heads)
    require_float(xp, x=x, w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o)
    _check_projections(x, w_q, w_k, w_v, w_o, heads)
    wide = work_float(xp, device(x))
    x_, wq, wk, wv, wo = (xp.astype(t, wide) for t in (x, w_q, w_k, w_v, w_o))
    q = _split_heads(x_ @ wq, heads, xp)
    k = _split_heads(x_ @ wk, heads, xp)
    v = _split_heads(x_ @ wv, heads, xp)
    o = attn_sdpa(q, k, v, causal=causal, key_padding_mask=key_padding_mask, bias=bias)
    return xp.astype(_merge_heads(o, xp) @ wo, x.dtype)


def attention_weights(
    q: Any, k: Any, causal: bool, pad: Any, bias: Any, scale: Any, xp: Any
) -> Any:
    r"""The attention weights of :func:`attn_sdpa`, in the widest float of the device.

    .. math::

        P = \operatorname{softmax}\!\left(Q K^\top \cdot scale + B + M\right)

    ``scale`` defaults to :math:`1/\sqrt{d_k}`; ``M`` hides a key (weight 0) that is later than
    the query (``causal``) or padded (``pad``, True = padded, shape ``(..., T_k)``); ``B`` is
    ``bias``. Source: Vaswani et al. (2017), eq. (1). The spec's error model uses ``P`` too.
    """
    t_q, t_k = q.shape[-2], k.shape[-2]
    wide = work_float(xp, device(q))
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    s = (xp.astype(q, wide) @ xp.matrix_transpose(xp.astype(k, wide))) * scale
    if bias is not None:
        s = s + xp.astype(_checked_bias(bias, (*tuple(q.shape[:-2]), t_q, t_k), xp), wide)
    return softmax(s, xp, _keep(q, t_q, t_k, causal, pad, xp))


def softmax(s: Any, xp: Any, keep: Any = None) -> Any:
    r"""Softmax over the last axis, max-shifted: :math:`e^{s_j - m} / \sum_l e^{s_l - m}`.

    Entries where ``keep`` is False get weight 0; a row with nothing kept is all 0 (not NaN).
    Shifting by the row's maximum :math:`m` changes nothing exactly and keeps ``exp`` from
    overflowing. Used by both attention formulas and by their specs' error models.
    """
    if keep is not None:
        s = xp.where(keep, s, -math.inf)
    m = xp.max(s, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    e = xp.exp(s - m)
    total = xp.sum(e, axis=-1, keepdims=True)
    return e / xp.where(total > 0, total, 1.0)


def _keep(q: Any, t_q: int, t_k: int, causal: bool, pad: Any, xp: Any) -> Any:
    """Boolean ``(..., H, T_q, T_k)``-broadcastable: True where query i may see key j."""
    keep = None
    if causal:
        i = xp.reshape(xp.arange(t_q, device=device(q)), (t_q, 1))
        j = xp.reshape(xp.arange(t_k, device=device(q)), (1, t_k))
        keep = j <= i
    if pad is not None:
        if not xp.isdtype(pad.dtype, "bool"):
            raise TypeError(
                f"key_padding_mask must be boolean (True = padded key), got {dtype_name(pad.dtype)}"
            )
        require_broadcast("key_padding_mask", tuple(pad.shape), (*tuple(q.shape[:-3]), t_k))
        seen = ~xp.reshape(pad, (*tuple(pad.shape[:-1]), 1, 1, t_k))
        keep = seen if keep is None else keep & seen
    return keep


def _checked_bias(bias: Any, shape: tuple[int, ...], xp: Any) -> Any:
    require_float(xp, bias=bias)
    require_broadcast("bias", tuple(bias.shape), shape)
    if not is_traced(bias) and not bool(xp.all(xp.isfinite(bias) | (bias == -math.inf))):
        raise ValueError("bias must be finite or -inf, got NaN or +inf")
    return bias


def _check_qkv(q: Any, k: Any, v: Any) -> None:
    if q.ndim < 3:
        raise ValueError(f"q must have shape (..., heads, T, d_k), got shape {tuple(q.shape)}")
    if k.ndim < 3 or k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"k must have shape (..., heads, T_k, {q.shape[-1]}), got {tuple(k.shape)}"
        )
    if v.ndim != k.ndim or tuple(v.shape[:-1]) != tuple(k.shape[:-1]):
        raise ValueError(
            f"v must have shape {tuple(k.shape[:-1])} + (d_v,) to match k, got {tuple(v.shape)}"
        )
    require_broadcast("k's leading axes", tuple(k.shape[:-2]), tuple(q.shape[:-2]))
    # the scores are (..., T_q, T_k): refused before the product allocates them
    require_elements("the scores q.shape[:-1] * T_k", *q.shape[:-1], k.shape[-2])


def _check_projections(x: Any, w_q: Any, w_k: Any, w_v: Any, w_o: Any, heads: int) -> None:
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., T, d_model), got shape {tuple(x.shape)}")
    d = x.shape[-1]
    for name, w in (("w_q", w_q), ("w_k", w_k), ("w_v", w_v)):
        if w.ndim != 2 or w.shape[0] != d:
            raise ValueError(f"{name} must have shape ({d}, width), got {tuple(w.shape)}")
        if w.shape[1] % heads:
            raise ValueError(f"num_heads={heads} does not divide the width {w.shape[1]} of {name}")
    if tuple(w_k.shape) != tuple(w_q.shape):
        raise ValueError(
            f"w_k must have the shape of w_q {tuple(w_q.shape)}, got {tuple(w_k.shape)}"
        )
    if w_o.ndim != 2 or w_o.shape[0] != w_v.shape[1]:
        raise ValueError(f"w_o must have shape ({w_v.shape[1]}, d_out), got {tuple(w_o.shape)}")
    t = x.shape[-2]
    require_elements("the scores x.shape[:-2] * num_heads * T * T", *x.shape[:-2], heads, t, t)


def _split_heads(t: Any, heads: int, xp: Any) -> Any:
    """``(..., T, H*d) -> (..., H, T, d)``: reshape to ``(..., T, H, d)``, heads forward."""
    lead, width = tuple(t.shape[:-1]), t.shape[-1]
    t = xp.reshape(t, (*lead, heads, width // heads))
    n = t.ndim
    return xp.permute_dims(t, (*range(n - 3), n - 2, n - 3, n - 1))


def _merge_heads(t: Any, xp: Any) -> Any:
    """``(..., H, T, d) -> (..., T, H*d)``, the inverse of :func:`_split_heads`."""
    n = t.ndim
    t = xp.permute_dims(t, (*range(n - 3), n - 2, n - 3, n - 1))
    return xp.reshape(t, (*tuple(t.shape[:-2]), t.shape[-2] * t.shape[-1]))


def _coefficients(c: Sequence[float]) -> tuple[float, float, float]:
    try:
        c1, c2, c3 = (float(ci) for ci in c)
    except (TypeError, ValueError):
        raise ValueError(f"c must be three numbers (c1, c2, c3), got {c!r}") from None
    return c1, c2, c3
