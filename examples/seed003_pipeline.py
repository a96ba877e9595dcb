"""Seed 003's pipeline end to end on refpe: characters in, cross-entropy out, and training.

Seed 003 §3.2 lists the steps of a Transformer language model; each is one refpe call here:

1. 输入预处理 (tokenise): :class:`refpe.tokenize.CharTokenizer`, one id per character
   (seed 004 §4: 字符级分词, for Chinese);
2.–4. 词嵌入 + 位置编码, 向量相加: :func:`refpe.input_add` of a token table and
   :func:`refpe.pe_sinusoidal` (seed 003 §4.1: ``Vector = Word_Embedding +
   Positional_Encoding``);
5. 自注意力计算: :func:`refpe.multi_head_attention`, causal, padded keys hidden;
6. 层归一化和残差连接: :func:`refpe.post_ln`, ``LN(x + Attention(x))``;
7. 输出层: :func:`refpe.output_projection` (a linear layer to the vocabulary);
8. 损失函数: :func:`refpe.softmax_xent` (next-character prediction, padding ignored).

Training (seed 004 §5): autodiff gives the gradient of the loss with respect to the input
vectors ``x``; :func:`refpe.embedding_grad` turns it into the token table's gradient (a
scatter-add: each character's row gets the sum over its occurrences; ``[PAD]`` gets none),
and :func:`refpe.sgd_step` updates every parameter. ``frozen=True`` is seed 004 §2's 冻结:
the table stays as it is while the rest trains.

Run it as a script (``python examples/seed003_pipeline.py``: 50 steps on PyTorch and on
JAX, where installed) or import it (``forward``, ``train_torch``, ``train_jax``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

import refpe
from refpe.tokenize import CharTokenizer

#: The seeds' own sentences: seed 001 §4.3 (情感分类的例子), seed 003 §4.3 and §3.2 step 4.
CORPUS = (
    "我很开心。",
    "我今天很不开心。",
    "你好，世界！",
    "将词嵌入和位置编码向量相加，得到每个单词的综合向量表示。",
)
D_MODEL, NUM_HEADS = 16, 2


def make_batch(texts: tuple[str, ...] = CORPUS) -> tuple[CharTokenizer, np.ndarray, np.ndarray]:
    """Character ids ``[CLS] c_1 .. c_n [PAD]..`` and next-character targets ``c_1 .. c_n [SEP]``.

    Returns the tokenizer, ``ids`` and ``targets`` (int64, shape ``(len(texts), T)``); padded
    places have id ``[PAD]`` and target ``-100`` (ignored by the loss).
    """
    tok = CharTokenizer.from_texts(texts)
    rows = [tok.encode(t) for t in texts]
    cls, sep, pad = (tok.vocab[s] for s in ("[CLS]", "[SEP]", "[PAD]"))
    T = max(len(r) for r in rows) + 1
    ids = np.full((len(rows), T), pad, dtype=np.int64)
    targets = np.full((len(rows), T), -100, dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r) + 1] = [cls, *r]
        targets[i, : len(r) + 1] = [*r, sep]
    return tok, ids, targets


def init_params(vocab_size: int, d: int = D_MODEL, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded float64 parameters: token table ``N(0, 0.02^2)`` (seed 004 §1), projections
    ``N(0, 1/d)``, LayerNorm ``gamma = 1``, ``beta = 0``, output bias 0."""
    proj = {
        name: refpe.init_normal(shape, seed=seed + k + 1, std=d**-0.5)
        for k, (name, shape) in enumerate(
            [
                ("w_q", (d, d)),
                ("w_k", (d, d)),
                ("w_v", (d, d)),
                ("w_o", (d, d)),
                ("w_out", (d, vocab_size)),
            ]
        )
    }
    return {
        "table": refpe.init_normal((vocab_size, d), seed=seed, std=0.02),
        **proj,
        "gamma": np.ones(d),
        "beta": np.zeros(d),
        "b_out": np.zeros(vocab_size),
    }


def encoder(x: Any, p: Mapping[str, Any], pad: Any) -> dict[str, Any]:
    """Steps 5–7 on the input vectors ``x``: attention, residual + LayerNorm, output layer."""

    def attention(a: Any) -> Any:
        return refpe.multi_head_attention(
            a,
            p["w_q"],
            p["w_k"],
            p["w_v"],
            p["w_o"],
            num_heads=NUM_HEADS,
            causal=True,
            key_padding_mask=pad,
        )

    h = refpe.post_ln(x, attention, p["gamma"], p["beta"])
    return {"h": h, "logits": refpe.output_projection(h, p["w_out"], p["b_out"])}


def forward(p: Mapping[str, Any], ids: Any, targets: Any, pe: Any, pad_id: int) -> dict[str, Any]:
    """Steps 2–8: every intermediate (``x``, ``h``, ``logits``) and the ``loss``."""
    x = refpe.input_add(ids, p["table"], pe)
    out = {"x": x, **encoder(x, p, ids == pad_id)}
    out["loss"] = refpe.softmax_xent(out["logits"], targets)
    return out


def train_torch(
    steps: int = 50, lr: float = 0.5, *, frozen: bool = False, dtype: str = "float32"
) -> dict[str, Any]:
    """SGD on PyTorch: autograd gives dL/dx and the other gradients, refpe the table's."""
    import torch

    tok, ids, targets = make_batch()
    pad = tok.vocab["[PAD]"]
    params = {
        k: torch.tensor(v, dtype=getattr(torch, dtype))
        for k, v in init_params(len(tok.vocab)).items()
    }
    ids_t, targets_t = torch.from_numpy(ids), torch.from_numpy(targets)
    pe = refpe.pe_sinusoidal(ids.shape[1], D_MODEL, dtype=dtype, xp=torch)

    def step(p: dict[str, Any]) -> tuple[float, Any, dict[str, Any]]:
        x = refpe.input_add(ids_t, p["table"], pe).requires_grad_(True)
        weights = {k: v.clone().requires_grad_(True) for k, v in p.items() if k != "table"}
        loss = refpe.softmax_xent(encoder(x, weights, ids_t == pad)["logits"], targets_t)
        loss.backward()
        return float(loss.detach()), x.grad, {k: v.grad for k, v in weights.items()}

    return _train(params, ids_t, pad, step, steps, lr, frozen, tok)


def train_jax(steps: int = 50, lr: float = 0.5, *, frozen: bool = False) -> dict[str, Any]:
    """SGD on JAX (float32): ``jax.value_and_grad`` (compiled) gives dL/dx, refpe the table's."""
    import jax
    import jax.numpy as jnp

    tok, ids, targets = make_batch()
    pad = tok.vocab["[PAD]"]
    device = jax.devices()[0]
    params = {
        k: jax.device_put(v.astype(np.float32), device)
        for k, v in init_params(len(tok.vocab)).items()
    }
    ids_j, targets_j = jax.device_put(ids, device), jax.device_put(targets, device)
    pe = refpe.pe_sinusoidal(ids.shape[1], D_MODEL, dtype="float32", xp=jnp, device=device)
    grad_fn = _jax_value_and_grad()

    def step(p: dict[str, Any]) -> tuple[float, Any, dict[str, Any]]:
        x = refpe.input_add(ids_j, p["table"], pe)
        weights = {k: v for k, v in p.items() if k != "table"}
        loss, (g_x, g_w) = grad_fn(x, weights, ids_j == pad, targets_j)
        return float(loss), g_x, g_w

    return _train(params, ids_j, pad, step, steps, lr, frozen, tok)


@functools.cache
def _jax_value_and_grad() -> Callable[..., Any]:
    """``(loss, (dL/dx, dL/dweights))``, compiled once for every call of :func:`train_jax`."""
    import jax

    def loss_fn(x: Any, weights: dict[str, Any], pad: Any, targets: Any) -> Any:
        return refpe.softmax_xent(encoder(x, weights, pad)["logits"], targets)

    return jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1)))


def _train(
    params: dict[str, Any],
    ids: Any,
    pad: int,
    step: Callable[[dict[str, Any]], tuple[float, Any, dict[str, Any]]],
    steps: int,
    lr: float,
    frozen: bool,
    tok: CharTokenizer,
) -> dict[str, Any]:
    """The loop both libraries share: ``dW = embedding_grad(ids, dL/dx)``, then SGD."""
    table_before = params["table"]
    losses = []
    for _ in range(steps):
        loss, g_x, g_w = step(params)
        losses.append(loss)
        d_table = refpe.embedding_grad(ids, g_x, len(tok.vocab), padding_idx=pad, frozen=frozen)
        params = {"table": refpe.sgd_step(params["table"], d_table, lr)} | {
            k: refpe.sgd_step(params[k], g, lr) for k, g in g_w.items()
        }
    return {
        "losses": losses,
        "table_before": table_before,
        "table_after": params["table"],
        "tokenizer": tok,
    }


def main(steps: int = 50) -> None:
    tok, ids, _ = make_batch()
    print(
        f"corpus: {len(CORPUS)} sentences, batch {ids.shape}, d_model={D_MODEL}, heads={NUM_HEADS}"
    )
    print(f"a uniform guess scores ln V = {math.log(len(tok.vocab)):.3f}")
    for name, train in (("torch", train_torch), ("jax", train_jax)):
        try:
            run = train(steps)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        moved = np.flatnonzero(
            np.any(np.asarray(run["table_after"]) != np.asarray(run["table_before"]), axis=1)
        )
        losses, vocab = run["losses"], run["tokenizer"].vocab
        print(
            f"{name}: loss {losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} steps; "
            f"{moved.size} of {len(vocab)} embedding rows moved"
        )


if __name__ == "__main__":
    main()
