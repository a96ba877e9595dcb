"""JAX's own encoder pieces as subjects: ``jax.nn.dot_product_attention`` and the embedding
gradient that ``jax.grad`` gives through ``jnp.take``.

JAX's attention takes ``(batch, T, heads, d)`` (refpe: ``(..., heads, T, d)``) and a boolean
``mask`` that is True for a key that takes part (refpe's ``key_padding_mask`` is True for a
padded key); the adapter transposes and inverts. float64 runs inside ``jax.enable_x64``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..subjects import Subject, register_subject


def _precision(dtype: str) -> Any:
    import jax

    return jax.enable_x64(True) if dtype == "float64" else contextlib.nullcontext()


def _seen_keys(kwargs: Mapping[str, Any]) -> np.ndarray:
    """Boolean ``(..., H, T_q, T_k)``: True where query i may see key j (refpe's rules)."""
    q, k = kwargs["q"], kwargs["k"]
    t_q, t_k = q.shape[-2], k.shape[-2]
    seen = np.ones((*q.shape[:-1], t_k), dtype=bool)
    if kwargs.get("causal", False):
        seen = seen & (np.arange(t_k)[None, :] <= np.arange(t_q)[:, None])
    pad = kwargs.get("key_padding_mask")
    if pad is not None:
        seen = seen & ~pad.reshape(*pad.shape[:-1], 1, 1, t_k)
    return seen


def _sdpa(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``jax.nn.dot_product_attention`` on refpe's layout; ``is_causal`` when only causal."""
    import jax
    import jax.numpy as jnp

    q, k, v = kwargs["q"], kwargs["k"], kwargs["v"]
    lead, heads, t_q, t_k = q.shape[:-3], q.shape[-3], q.shape[-2], k.shape[-2]
    n = int(np.prod(lead, dtype=np.int64))

    def btnh(t: np.ndarray) -> Any:
        t = np.broadcast_to(t, (*lead, *t.shape[-3:])).reshape(n, *t.shape[-3:])
        return jnp.asarray(np.swapaxes(t, 1, 2))

    def bnts(t: np.ndarray) -> Any:
        return jnp.asarray(np.broadcast_to(t, (*lead, heads, t_q, t_k)).reshape(n, heads, t_q, t_k))

    only_causal = kwargs.get("key_padding_mask") is None
    with _precision(dtype):
        bias = kwargs.get("bias")
        out = jax.nn.dot_product_attention(
            btnh(q),
            btnh(k),
            btnh(v),
            bias=None if bias is None else bnts(bias),
            mask=None if only_causal else bnts(_seen_keys(kwargs)),
            scale=kwargs.get("scale"),
            is_causal=only_causal and bool(kwargs.get("causal", False)),
            implementation="xla",
        )
        out = np.asarray(out)
    return np.swapaxes(out, 1, 2).reshape(*lead, heads, t_q, v.shape[-1])


def _sdpa_differs(case: Any) -> str | None:
    """JAX masks with a large finite negative number: a row that sees no key averages all."""
    if case.raises is None and not np.all(np.any(_seen_keys(case.kwargs), axis=-1)):
        return (
            "a query row that sees no key: JAX's xla attention masks with a large finite "
            "negative score, so that row is the plain mean of the values (refpe: zeros)"
        )
    return None


def _embedding_grad(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``jax.grad`` of ``sum(jnp.take(W, ids, axis=0) * grad_out)`` with respect to ``W``.

    Freezing the JAX way: ``jax.lax.stop_gradient`` on the frozen rows (or the whole table).
    """
    import jax
    import jax.numpy as jnp

    n = kwargs["num_embeddings"]
    frozen = kwargs.get("frozen")
    with _precision(dtype):
        g = jnp.asarray(kwargs["grad_out"])
        ids = jnp.asarray(kwargs["ids"])
        mask = jnp.asarray(
            np.broadcast_to(
                np.asarray(bool(frozen) if frozen is None or isinstance(frozen, bool) else frozen),
                (n,),
            )
        )

        def loss(W: Any) -> Any:
            W = jnp.where(mask[:, None], jax.lax.stop_gradient(W), W)
            return jnp.sum(jnp.take(W, ids, axis=0) * g)

        return np.asarray(jax.grad(loss)(jnp.zeros((n, g.shape[-1]), dtype=g.dtype)))


def _sdpa_applies(case: Any) -> str | None:
    if case.kwargs["v"].shape[-1] != case.kwargs["k"].shape[-1]:
        return "jax.nn.dot_product_attention needs value of the key's shape (d_v == d_k)"
    return None


def _float32_softmax(case: Any) -> str | None:
    return (
        "JAX computes the scores' softmax in float32 whatever the input dtype "
        "(jax/_src/nn/functions.py, _dot_product_attention_core): float64 results are only "
        "float32-accurate"
    )


def _grad_applies(case: Any) -> str | None:
    if case.kwargs.get("padding_idx") is not None:
        return "jnp.take has no padding_idx (Flax's nn.Embed neither)"
    if case.kwargs.get("scale_grad_by_freq", False):
        return "jnp.take has no scale_grad_by_freq"
    return None


_SDPA_CONVENTION = {
    "layout": "(batch, T, heads, d): BTNH",
    "mask": "boolean, True = takes part (refpe's padding mask inverted)",
    "no key seen": "mean of the values (finite large negative mask)",
    "precision": "softmax always in float32",
}

register_subject(
    Subject(
        name="jax.nn.dot_product_attention",
        refuses=False,
        spec="attn-sdpa",
        library="jax",
        call=_sdpa,
        dtypes=("float32",),
        convention=_SDPA_CONVENTION,
        applies=_sdpa_applies,
        differs=_sdpa_differs,
    ),
    Subject(
        name="jax.nn.dot_product_attention (float64 input)",
        refuses=False,
        spec="attn-sdpa",
        library="jax",
        call=_sdpa,
        dtypes=("float64",),
        convention=_SDPA_CONVENTION,
        applies=_sdpa_applies,
        differs=_float32_softmax,
    ),
    Subject(
        name="jax.grad through jnp.take",
        refuses=False,
        spec="embedding-grad",
        library="jax",
        call=_embedding_grad,
        convention={"frozen": "jax.lax.stop_gradient on the frozen rows"},
        applies=_grad_applies,
    ),
)
