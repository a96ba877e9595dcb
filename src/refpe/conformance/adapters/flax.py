"""Flax (and optax, its loss library): ``nn.Embed`` / ``nnx.Embed``, ``nn.dot_product_attention``,
``nn.LayerNorm`` and ``optax.softmax_cross_entropy_with_integer_labels``.

Flax's attention takes ``(batch..., T, heads, d)`` (refpe: ``(..., heads, T, d)``) and a boolean
``mask`` that is True for a key that takes part (refpe's ``key_padding_mask`` is True for a
padded key); the adapter transposes and inverts. float64 runs inside ``jax.enable_x64``.
Parameters are handed over as Flax holds them: ``{"params": {"embedding": table}}``,
``{"params": {"scale": gamma, "bias": beta}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.registry import FLOAT_DTYPES

from ..subjects import Subject, on_bad_input, register_subject
from .jax_encoder import _seen_keys

LIB = "flax"


def _x64(dtype: str) -> Any:
    import jax

    return jax.enable_x64(dtype == "float64")


# --- token lookup ---------------------------------------------------------------------------


def _table(kw: Mapping[str, Any], dtype: str) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(kw["table"], dtype=np.float64), dtype=dtype)


def _linen_embed(kw: Mapping[str, Any], dtype: str) -> Any:
    import flax.linen as nn
    import jax.numpy as jnp

    with _x64(dtype):
        table = _table(kw, dtype)
        layer = nn.Embed(*table.shape, dtype=table.dtype, param_dtype=table.dtype)
        return to_host(layer.apply({"params": {"embedding": table}}, jnp.asarray(kw["ids"])))


def _nnx_embed(kw: Mapping[str, Any], dtype: str) -> Any:
    import jax.numpy as jnp
    from flax import nnx

    with _x64(dtype):
        table = _table(kw, dtype)
        layer = nnx.Embed(
            *table.shape, dtype=table.dtype, param_dtype=table.dtype, rngs=nnx.Rngs(0)
        )
        layer.embedding[...] = table
        return to_host(layer(jnp.asarray(kw["ids"])))


def _embed_applies(case: Any) -> str | None:
    if case.kwargs.get("scale") is not None:
        return "Embed has no scale (a model multiplies by sqrt(d) itself)"
    if case.kwargs.get("padding_idx") is not None:
        return "Embed has no padding_idx"
    return None


_TAKE_FILLS = on_bad_input(
    "Embed gathers with jnp.take's default mode='fill': a negative id wraps and an id >= V "
    "gives a NaN row, instead of refusing them (only non-integer ids raise ValueError)"
)


# --- attention --------------------------------------------------------------------------------


def _attention(kw: Mapping[str, Any], dtype: str) -> Any:
    import flax.linen as nn
    import jax.numpy as jnp

    q, k, v = kw["q"], kw["k"], kw["v"]
    lead = q.shape[:-3]

    def bthd(t: np.ndarray) -> Any:
        return jnp.asarray(np.swapaxes(np.broadcast_to(t, (*lead, *t.shape[-3:])), -3, -2))

    masked = kw.get("causal", False) or kw.get("key_padding_mask") is not None
    with _x64(dtype):
        bias = kw.get("bias")
        out = nn.dot_product_attention(
            bthd(q),
            bthd(k),
            bthd(v),
            bias=None if bias is None else jnp.asarray(bias),
            mask=jnp.asarray(_seen_keys(kw)) if masked else None,
            deterministic=True,
        )
        return np.swapaxes(to_host(out), -3, -2)


def _attention_applies(case: Any) -> str | None:
    if case.kwargs.get("scale") is not None:
        return "flax.linen.dot_product_attention has no scale: it divides the query by sqrt(d_k)"
    return None


def _no_key_seen(case: Any) -> str | None:
    if case.raises is None and not np.all(np.any(_seen_keys(case.kwargs), axis=-1)):
        return (
            "a query row that sees no key: Flax masks with jnp.finfo(dtype).min, a finite "
            "score, so that row is the plain mean of the values (refpe: zeros)"
        )
    return None


# --- layer norm -------------------------------------------------------------------------------

#: refpe's default ``eps`` (PyTorch's) and Flax's LayerNorm default epsilon.
REFPE_EPS = 1e-5
FLAX_EPS = 1e-6


def _layer_norm(pass_eps: bool, fast: bool | None):
    def call(kw: Mapping[str, Any], dtype: str) -> Any:
        import flax.linen as nn
        import jax.numpy as jnp

        gamma, beta = kw.get("gamma"), kw.get("beta")
        options: dict[str, Any] = {"use_scale": gamma is not None, "use_bias": beta is not None}
        if pass_eps:
            options["epsilon"] = kw.get("eps", REFPE_EPS)
        if fast is not None:
            options["use_fast_variance"] = fast
        with _x64(dtype):
            x = jnp.asarray(kw["x"])
            params = {
                n: jnp.asarray(a) for n, a in (("scale", gamma), ("bias", beta)) if a is not None
            }
            layer = nn.LayerNorm(dtype=x.dtype, param_dtype=x.dtype, **options)
            return to_host(layer.apply({"params": params}, x))

    return call


def _one_pass(case: Any) -> str | None:
    x = np.asarray(case.kwargs["x"], dtype=np.float64)
    spread = np.var(x, axis=-1) + case.kwargs.get("eps", REFPE_EPS)
    if case.raises is None and np.max(np.mean(x, axis=-1) ** 2 / spread, initial=0.0) > 1:
        return (
            "use_fast_variance=True (the default) takes the variance in one pass, "
            "E[x^2] - E[x]^2: it cancels when the mean is large against the spread"
        )
    return None


def _flax_defaults(case: Any) -> str | None:
    x = np.asarray(case.kwargs["x"], dtype=np.float64)
    eps = case.kwargs.get("eps", REFPE_EPS)
    reasons = [_one_pass(case)] if case.raises is None else []
    if case.raises is None and eps != FLAX_EPS and np.any(np.var(x, axis=-1) > 0):
        reasons.append(f"Flax's default epsilon is 1e-6, the case's eps {eps:g}")
    return "; ".join(r for r in reasons if r) or None


# --- cross-entropy (optax) --------------------------------------------------------------------


def _optax_xent(kw: Mapping[str, Any], dtype: str) -> Any:
    import jax.numpy as jnp
    import optax

    with _x64(dtype):
        losses = optax.softmax_cross_entropy_with_integer_labels(
            jnp.asarray(kw["logits"]), jnp.asarray(kw["targets"])
        )
        reduction = kw.get("reduction", "mean")
        if reduction != "none":
            losses = jnp.sum(losses) if reduction == "sum" else jnp.mean(losses)
        return to_host(losses)


def _xent_applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("label_smoothing", 0.0):
        return (
            "softmax_cross_entropy_with_integer_labels has no label smoothing "
            "(optax.smooth_labels works on one-hot targets)"
        )
    if case.raises is None and np.any(np.asarray(kw["targets"]) == kw.get("ignore_index", -100)):
        return "optax has no ignore_index: every target is a class id"
    return None


_GATHER_FILLS = on_bad_input(
    "optax gathers the target's logit with jnp.take_along_axis (mode 'fill'): a target >= C "
    "gives a NaN loss and a negative one wraps, instead of an error (non-integer targets are "
    "refused with TypeError)"
)

_ATTENTION_CONVENTION = {
    "layout": "(batch..., T, heads, d)",
    "mask": "boolean, True = takes part (refpe's padding mask inverted)",
    "scale": "the query divided by sqrt(d_k) before Q K^T; no scale argument",
    "no key seen": "mean of the values (jnp.finfo(dtype).min mask)",
}

register_subject(
    Subject(
        "flax.linen.Embed",
        "token-lookup",
        LIB,
        _linen_embed,
        dtypes=FLOAT_DTYPES,
        applies=_embed_applies,
        differs=_TAKE_FILLS,
        requires=("jax",),
        convention={"gather": "jnp.take(embedding, ids, axis=0), mode 'fill'"},
    ),
    Subject(
        "flax.nnx.Embed",
        "token-lookup",
        LIB,
        _nnx_embed,
        dtypes=FLOAT_DTYPES,
        applies=_embed_applies,
        differs=_TAKE_FILLS,
        requires=("jax",),
        convention={"gather": "jnp.take(embedding, ids, axis=0), mode 'fill'"},
    ),
    Subject(
        name="flax.linen.dot_product_attention",
        refuses=False,
        spec="attn-sdpa",
        library=LIB,
        call=_attention,
        applies=_attention_applies,
        differs=_no_key_seen,
        requires=("jax",),
        convention=_ATTENTION_CONVENTION,
    ),
    Subject(
        name="flax.linen.LayerNorm (epsilon=eps, use_fast_variance=False)",
        refuses=False,
        spec="layer-norm",
        library=LIB,
        call=_layer_norm(pass_eps=True, fast=False),
        requires=("jax",),
        convention={"variance": "two passes, biased; statistics in at least float32"},
    ),
    Subject(
        name="flax.linen.LayerNorm (epsilon=eps)",
        refuses=False,
        spec="layer-norm",
        library=LIB,
        call=_layer_norm(pass_eps=True, fast=None),
        differs=_one_pass,
        requires=("jax",),
        convention={"variance": "one pass, E[x^2] - E[x]^2 clipped at 0 (use_fast_variance)"},
    ),
    Subject(
        name="flax.linen.LayerNorm() (defaults)",
        refuses=False,
        spec="layer-norm",
        library=LIB,
        call=_layer_norm(pass_eps=False, fast=None),
        differs=_flax_defaults,
        requires=("jax",),
        convention={"epsilon": "1e-6 by default", "variance": "one pass by default"},
    ),
    Subject(
        "optax.softmax_cross_entropy_with_integer_labels",
        "softmax-xent",
        "optax",
        _optax_xent,
        applies=_xent_applies,
        differs=_GATHER_FILLS,
        requires=("jax",),
        convention={
            "reduction": "none (per target); the caller's .mean() or .sum()",
            "ignore_index": "none",
            "label smoothing": "none (optax.smooth_labels on one-hot targets)",
        },
    ),
)
