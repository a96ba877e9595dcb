"""Oracles of the encoder pieces: layer norm, BERT's input layer, both attentions, the loss and
the embedding gradient.

Each is written from the published definition, never from refpe's code: sums of the (exact,
dyadic) inputs are kept as :class:`~fractions.Fraction`, and only ``exp``, ``log`` and
``sqrt`` go through mpmath at :data:`~._core.DIGITS` significant digits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ._core import DIGITS, register

_MP = f"mpmath at {DIGITS} digits"
_RATIONAL = "exact rationals"


def _q(x: Any) -> Fraction:
    """A float (or int) as the exact rational it is."""
    return Fraction(float(x)) if not isinstance(x, (int, np.integer)) else Fraction(int(x))


def _mp(x: Fraction | float) -> mpmath.mpf:
    """A rational (or float) at the working precision (floats exactly)."""
    if isinstance(x, Fraction):
        return mpmath.mpf(x.numerator) / x.denominator
    return mpmath.mpf(float(x))


def _rationals(a: Any) -> np.ndarray:
    """A float array as an object array of exact Fractions."""
    a = np.asarray(a, dtype=np.float64)
    out = np.empty(a.shape, dtype=object)
    for idx, v in np.ndenumerate(a):
        out[idx] = Fraction(float(v))
    return out


def _softmax(scores: Sequence[mpmath.mpf]) -> list[mpmath.mpf]:
    """``e^{s_k} / sum_l e^{s_l}``; shifting by the maximum changes nothing in exact arithmetic
    and keeps mpmath's numbers moderate."""
    m = max(scores)
    e = [mpmath.exp(s - m) for s in scores]
    total = mpmath.fsum(e)
    return [x / total for x in e]


# --- layer norm (Ba, Kiros & Hinton 2016) and BERT's embedding layer (Devlin et al. 2019) ---


def _normalise(row: Sequence[Fraction], gamma: Any, beta: Any, eps: Fraction) -> list[Any]:
    r"""One row: :math:`(x - \mu)/\sqrt{\sigma^2 + \varepsilon}\,\gamma + \beta` with the
    biased variance :math:`\sigma^2 = \frac1d\sum (x_k - \mu)^2`; mean and variance exact."""
    d = len(row)
    mu = sum(row, Fraction(0)) / d
    dev = [x - mu for x in row]
    var = sum((t * t for t in dev), Fraction(0)) / d
    inv_sigma = 1 / mpmath.sqrt(_mp(var + eps))
    out = []
    for k, t in enumerate(dev):
        y = _mp(t) * inv_sigma
        if gamma is not None:
            y = y * _mp(float(gamma[k]))
        if beta is not None:
            y = y + _mp(float(beta[k]))
        out.append(y)
    return out


def _layer_norm(x: np.ndarray, gamma: Any, beta: Any, eps: float) -> np.ndarray:
    """Layer norm over the last axis of an object array of Fractions."""
    d = x.shape[-1]
    rows = x.reshape(-1, d)
    out = np.empty(rows.shape, dtype=object)
    with mpmath.workdps(DIGITS):
        for r in range(rows.shape[0]):
            out[r] = _normalise(list(rows[r]), gamma, beta, _q(eps))
    return out.reshape(x.shape)


@register("layer-norm", _MP)
def layer_norm(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """Seed 003 §3.2 step 6; Ba, Kiros & Hinton (2016): biased variance, eps inside the sqrt."""
    x = _rationals(inputs["x"])
    return [_layer_norm(x, inputs.get("gamma"), inputs.get("beta"), inputs.get("eps", 1e-5))]


@register("input-bert", _MP)
def input_bert(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    """BERT's ``BertEmbeddings``: ``LN(word[ids] + position[pos] + token_type[tt])`` (no
    dropout outside training); ``pos`` defaults to ``0..T-1``, ``tt`` to zeros."""
    if inputs.get("training") and inputs.get("dropout", 0.0) > 0:
        raise NotImplementedError("the oracle has no dropout mask (a seeded draw)")
    ids = np.asarray(inputs["ids"])
    pos = inputs.get("positions")
    pos = np.arange(ids.shape[-1]) if pos is None else np.asarray(pos)
    pos = np.broadcast_to(pos, ids.shape)
    tt = inputs.get("token_type_ids")
    tt = np.zeros(ids.shape, dtype=np.int64) if tt is None else np.asarray(tt)
    word, position, types = (_rationals(inputs[k]) for k in ("word", "position", "token_type"))
    d = word.shape[1]
    x = np.empty((*ids.shape, d), dtype=object)
    for idx in np.ndindex(ids.shape):
        w, p, t = word[ids[idx]], position[pos[idx]], types[tt[idx]]
        x[idx] = [w[c] + p[c] + t[c] for c in range(d)]
    return [_layer_norm(x, inputs["gamma"], inputs["beta"], inputs.get("eps", 1e-12))]


# --- attention (seed 002; Vaswani et al. 2017, §3.2.1) ---


@register("attn-seed-simplified", _MP)
def attn_seed_simplified(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    r"""Seed 002 §4 as written: :math:`w_i = \mathrm{softmax}(W E_i + b)` over the features,
    :math:`a = \sum_j w_j \odot E_j`, :math:`v = \sum_j E_j` (:math:`j \ne i` with
    ``exclude_self``, seed 002 §3's text), :math:`h_i = c_1 w_i + c_2 a + c_3 v`."""
    E, W, b = (_rationals(inputs[k]) for k in ("E", "W", "b"))
    c1, c2, c3 = (_q(c) for c in inputs.get("c", (1.0, 1.0, 1.0)))
    exclude = bool(inputs.get("exclude_self", False))
    n, d = E.shape[-2:]
    out = np.empty(E.shape, dtype=object)
    with mpmath.workdps(DIGITS):
        for lead in np.ndindex(E.shape[:-2]):
            e = E[lead]
            w = []
            for i in range(n):
                z = [sum((W[k, m] * e[i, m] for m in range(d)), b[k]) for k in range(d)]
                w.append(_softmax([_mp(zk) for zk in z]))
            a = [mpmath.fsum(w[j][k] * _mp(e[j, k]) for j in range(n)) for k in range(d)]
            v = [sum((e[j, k] for j in range(n)), Fraction(0)) for k in range(d)]
            for i in range(n):
                for k in range(d):
                    vi = v[k] - e[i, k] if exclude else v[k]
                    out[(*lead, i, k)] = _mp(c1) * w[i][k] + _mp(c2) * a[k] + _mp(c3 * vi)
    return [out]


def _seen(shape: tuple[int, ...], inputs: Mapping[str, Any], batch: tuple[int, ...]) -> Any:
    """Boolean ``shape`` = ``(..., H, T_q, T_k)``: True where query i may see key j.

    Causal: key j is hidden from query i when j > i (top-left aligned); the key padding mask
    ``(..., T_k)`` has True = padded (hidden) and no head axis."""
    t_q, t_k = shape[-2:]
    seen = np.ones(shape, dtype=bool)
    if inputs.get("causal", False):
        seen &= np.arange(t_k)[None, :] <= np.arange(t_q)[:, None]
    pad = inputs.get("key_padding_mask")
    if pad is not None:
        pad = np.broadcast_to(np.asarray(pad, dtype=bool), (*batch, t_k))
        seen &= ~pad.reshape((*batch, 1, 1, t_k))
    bias = inputs.get("bias")
    if bias is not None:
        seen &= ~np.broadcast_to(np.asarray(bias) == -math.inf, shape)
    return seen


@register("attn-sdpa", _MP)
def attn_sdpa(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    r""":math:`O = \mathrm{softmax}(Q K^\top s + B + M)\,V` with :math:`s = 1/\sqrt{d_k}` (exact)
    unless ``scale`` is given, :math:`M = -\infty` on hidden keys, and zeros for a query row
    that sees no key."""
    q, k, v = (np.asarray(inputs[n], dtype=np.float64) for n in ("q", "k", "v"))
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    t_q, d_k = q.shape[-2:]
    t_k, d_v = v.shape[-2:]
    Q = _rationals(np.broadcast_to(q, (*lead, t_q, d_k)))
    K = _rationals(np.broadcast_to(k, (*lead, t_k, d_k)))
    V = _rationals(np.broadcast_to(v, (*lead, t_k, d_v)))
    shape = (*lead, t_q, t_k)
    seen = _seen(shape, inputs, lead[:-1])
    bias = inputs.get("bias")
    bias = None if bias is None else np.broadcast_to(np.asarray(bias, dtype=np.float64), shape)
    out = np.empty((*lead, t_q, d_v), dtype=object)
    with mpmath.workdps(DIGITS):
        given = inputs.get("scale")
        scale = 1 / mpmath.sqrt(d_k) if given is None else _mp(float(given))
        for idx in np.ndindex(lead):
            for i in range(t_q):
                keys = [j for j in range(t_k) if seen[(*idx, i, j)]]
                if not keys:
                    out[(*idx, i)] = [Fraction(0)] * d_v
                    continue
                scores = []
                for j in keys:
                    dot = sum((Q[(*idx, i, c)] * K[(*idx, j, c)] for c in range(d_k)), Fraction(0))
                    s = _mp(dot) * scale
                    if bias is not None:
                        s += _mp(float(bias[(*idx, i, j)]))
                    scores.append(s)
                p = _softmax(scores)
                out[(*idx, i)] = [
                    mpmath.fsum(p[n] * _mp(V[(*idx, j, c)]) for n, j in enumerate(keys))
                    for c in range(d_v)
                ]
    return [out]


# --- the loss (seed 003 §3.2 step 8; PyTorch F.cross_entropy; Szegedy et al. 2016) ---


@register("softmax-xent", _MP)
def softmax_xent(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    r""":math:`\ell_n = (1-\varepsilon)(\mathrm{lse}_n - x_{n,t_n}) + \varepsilon(\mathrm{lse}_n
    - \bar x_n)` (PyTorch's smoothing: uniform over all C classes), 0 for ignored targets;
    ``"mean"`` divides by the number of counted targets (0/0 = NaN), ``"sum"`` adds,
    ``"none"`` returns every :math:`\ell_n`."""
    x = _rationals(inputs["logits"])
    t = np.asarray(inputs["targets"])
    ignore = inputs.get("ignore_index", -100)
    eps = _q(inputs.get("label_smoothing", 0.0))
    reduction = inputs.get("reduction", "mean")
    C = x.shape[-1]
    losses = np.empty(t.shape, dtype=object)
    with mpmath.workdps(DIGITS):
        for idx in np.ndindex(t.shape):
            if t[idx] == ignore:
                losses[idx] = Fraction(0)
                continue
            row = list(x[idx])
            m = max(row)
            lse = _mp(m) + mpmath.log(mpmath.fsum(mpmath.exp(_mp(r - m)) for r in row))
            mean = sum(row, Fraction(0)) / C
            losses[idx] = _mp(1 - eps) * (lse - _mp(row[int(t[idx])])) + _mp(eps) * (
                lse - _mp(mean)
            )
        if reduction == "none":
            return [losses]
        total = mpmath.fsum(losses.ravel().tolist()) if losses.size else mpmath.mpf(0)
        if reduction == "sum":
            return [np.array(total, dtype=object)]
        count = int(np.count_nonzero(t != ignore))
        return [np.array(total / count if count else math.nan, dtype=object)]


# --- the embedding gradient (seed 004 §5; PyTorch F.embedding backward) ---


@register("embedding-grad", _RATIONAL)
def embedding_grad(inputs: Mapping[str, Any]) -> list[np.ndarray]:
    r""":math:`dW_v = \sum_{s: \mathrm{ids}_s = v} g_s` (over :math:`n_v` with
    ``scale_grad_by_freq``), exactly; rows of ``padding_idx`` (negative: from the end) and
    frozen rows (``True``: all) are 0."""
    ids = np.asarray(inputs["ids"]).reshape(-1)
    g = _rationals(inputs["grad_out"])
    g = g.reshape(ids.size, g.shape[-1])
    n, d = int(inputs["num_embeddings"]), g.shape[1]
    dW = np.array([[Fraction(0)] * d for _ in range(n)], dtype=object).reshape(n, d)
    count = [0] * n
    for s, v in enumerate(ids):
        count[v] += 1
        for c in range(d):
            dW[v, c] += g[s, c]
    if inputs.get("scale_grad_by_freq", False):
        for v in range(n):
            if count[v]:
                dW[v] = [x / count[v] for x in dW[v]]
    frozen = inputs.get("frozen")
    zero = [bool(frozen)] * n if frozen is None or isinstance(frozen, bool) else list(frozen)
    pad = inputs.get("padding_idx")
    if pad is not None:
        zero[pad % n] = True
    for v in range(n):
        if zero[v]:
            dW[v] = [Fraction(0)] * d
    return [dW]
