"""The embedding gradient, freezing and the SGD step (seed 004 §2 冻结 / 微调, §5 反向传播)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from array_api_compat import device

from ._compat import (
    dtype_name,
    namespace,
    require_integer,
    require_positive_int,
    require_range,
    scatter_add,
    work_float,
)
from ._registry import Case, ErrorModel, Spec, register

__all__ = ["embedding_grad", "sgd_step"]


def embedding_grad(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r"""Gradient of a token lookup with respect to its table.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}
            \;\Big/\; \begin{cases} n_v & \text{scale\_grad\_by\_freq} \\ 1 \end{cases},
        \qquad n_v = \#\{s : \mathrm{ids}_s = v\}

    then set to 0 for ``padding_idx`` and for frozen rows. ``ids`` is an integer array of
    shape ``S``, ``grad_out`` has shape ``S + (d,)``; the result ``(num_embeddings, d)``.
    A token that occurs twice gets both gradients (a scatter-*add*: duplicates accumulate).
    ``scale_grad_by_freq`` divides row :math:`v` by its count :math:`n_v` in this batch
    (PyTorch ``nn.Embedding``). ``padding_idx`` may be negative (counted from the end, as in
    PyTorch). ``frozen`` is ``True`` (the whole table: 冻结), ``False``/``None`` (微调: all
    rows train) or a boolean row mask of shape ``(num_embeddings,)``, True = frozen.

    Source: seed 004 §5 (反向传播: 梯度回传到嵌入层), §2 (冻结或微调); PyTorch
    ``torch.nn.functional.embedding`` backward.

    Precision: the scatter-add and the division are computed in the widest float of the
    device (float64 where it exists) and rounded once to ``grad_out.dtype``.
    """
    xp = namespace(ids=ids, grad_out=grad_out, frozen=None if isinstance(frozen, bool) else frozen)
    n = require_positive_int("num_embeddings", num_embeddings)
    require_integer("ids", ids, xp)
    if not xp.isdtype(grad_out.dtype, "real floating"):
        raise TypeError(f"grad_out must be a float array, got dtype {dtype_name(grad_out.dtype)}")
    if grad_out.ndim != ids.ndim + 1 or tuple(grad_out.shape[:-1]) != tuple(ids.shape):
        raise ValueError(
            f"grad_out must have shape {tuple(ids.shape)} + (d,) for ids of shape "
            f"{tuple(ids.shape)}, got {tuple(grad_out.shape)}"
        )
    require_range("ids", ids, 0, n, xp)
    pad = _padding_row(padding_idx, n)
    keep = _trainable_rows(frozen, n, xp, device(grad_out))
    wide = work_float(xp, device(grad_out))
    flat = xp.reshape(ids, (-1,))
    g = xp.reshape(xp.astype(grad_out, wide), (-1, grad_out.shape[-1]))
    dW = scatter_add(n, flat, g, xp)
    if scale_grad_by_freq:
        count = scatter_add(n, flat, xp.ones(flat.shape, dtype=wide, device=device(g)), xp)
        dW = dW / xp.reshape(xp.where(count > 0, count, 1.0), (n, 1))
    if pad is not None:
        keep = keep & (xp.arange(n, device=device(g)) != pad)
    return xp.astype(xp.where(xp.reshape(keep, (n, 1)), dW, 0.0), grad_out.dtype)


def sgd_step(W: Any, dW: Any, lr: float) -> Any:
    r"""One plain gradient-descent step, as a new array: :math:`W' = W - \eta\, dW`.

    Source: seed 004 §5 (反向传播, 更新嵌入矩阵中的数值).

    Precision: computed in the widest float of the device and rounded once to ``W.dtype``;
    ``W`` itself is not written.
    """
    xp = namespace(W=W, dW=dW)
    if tuple(dW.shape) != tuple(W.shape):
        raise ValueError(f"dW must have the shape of W {tuple(W.shape)}, got {tuple(dW.shape)}")
    wide = work_float(xp, device(W))
    return xp.astype(xp.astype(W, wide) - lr * xp.astype(dW, wide), W.dtype)


def _padding_row(padding_idx: int | None, n: int) -> int | None:
    if padding_idx is None:
        return None
    p = operator.index(padding_idx)
    if not -n <= p < n:
        raise IndexError(f"padding_idx out of range: {p} is not in [{-n}, {n})")
    return p % n


def _trainable_rows(frozen: Any, n: int, xp: Any, dev: Any) -> Any:
    """Boolean ``(n,)``: True for the rows that receive a gradient."""
    if frozen is None or isinstance(frozen, bool):
        return xp.full((n,), not frozen, dtype=xp.bool, device=dev)
    if not xp.isdtype(frozen.dtype, "bool"):
        raise TypeError(
            f"frozen must be True/False or a boolean row mask, got dtype {dtype_name(frozen.dtype)}"
        )
    if tuple(frozen.shape) != (n,):
        raise ValueError(f"frozen must have shape ({n},), got {tuple(frozen.shape)}")
    return ~frozen


# --- spec: error model (forward-error analysis) and cases -----------------------------------


def _grad_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    r"""Per row :math:`\sqrt{n_v} \sum |g_s|` over the :math:`n_v` gradients that land there
    (divided by :math:`n_v` when scaled), the probabilistic bound of a sum of :math:`n_v` terms
    (Higham & Mary 2019); the smallest positive float for padding, frozen and absent rows,
    which must be exactly 0."""
    ids = np.asarray(inputs["ids"]).reshape(-1)
    g = np.abs(np.asarray(inputs["grad_out"], dtype=np.float64)).reshape(ids.size, -1)
    n = inputs["num_embeddings"]
    total = np.zeros((n, g.shape[1]))
    np.add.at(total, ids, g)
    count = np.maximum(np.bincount(ids, minlength=n), 1)[:, None]
    total = total * np.sqrt(count)
    if inputs.get("scale_grad_by_freq", False):
        total = total / count
    frozen = inputs.get("frozen")
    zero = np.full(n, bool(frozen)) if frozen is None or isinstance(frozen, bool) else frozen
    if inputs.get("padding_idx") is not None:
        zero = zero | (np.arange(n) == inputs["padding_idx"] % n)
    return np.maximum(np.where(zero[:, None], 0.0, total), np.finfo(np.float64).tiny)


def _rand(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


_DUP = np.array([[1, 3, 1, 0], [3, 3, 5, 1]])
_CASES = (
    Case("b2-t4-duplicates", {"ids": _DUP, "grad_out": _rand(1, 2, 4, 3), "num_embeddings": 7}),
    Case(
        "padding-idx",
        {"ids": _DUP, "grad_out": _rand(2, 2, 4, 3), "num_embeddings": 7, "padding_idx": 3},
    ),
    Case(
        "scale-grad-by-freq",
        {
            "ids": _DUP,
            "grad_out": _rand(3, 2, 4, 3),
            "num_embeddings": 7,
            "scale_grad_by_freq": True,
        },
    ),
    Case(
        "negative-padding-idx",
        {
            "ids": np.array([0, 6, 6, 2]),
            "grad_out": _rand(4, 4, 2),
            "num_embeddings": 7,
            "padding_idx": -1,
        },
        edge=True,
        note="padding_idx=-1 is row 6, as in PyTorch",
    ),
    Case(
        "frozen-table",
        {"ids": _DUP, "grad_out": _rand(5, 2, 4, 3), "num_embeddings": 7, "frozen": True},
        edge=True,
        note="冻结: the whole table gets no gradient",
    ),
    Case(
        "frozen-rows",
        {
            "ids": _DUP,
            "grad_out": _rand(6, 2, 4, 3),
            "num_embeddings": 7,
            "frozen": np.array([False, True, False, False, False, True, False]),
        },
        edge=True,
        note="rows 1 and 5 frozen (e.g. pretrained vectors), the rest fine-tuned",
    ),
    Case(
        "all-one-id",
        {"ids": np.zeros(6, dtype=np.int64), "grad_out": _rand(7, 6, 4), "num_embeddings": 2},
        edge=True,
        note="six gradients accumulate into row 0",
    ),
    Case(
        "id-out-of-range",
        {"ids": np.array([0, 7]), "grad_out": _rand(8, 2, 3), "num_embeddings": 7},
        edge=True,
        raises=IndexError,
    ),
    Case(
        "padding-idx-out-of-range",
        {
            "ids": np.array([0, 1]),
            "grad_out": _rand(9, 2, 3),
            "num_embeddings": 7,
            "padding_idx": 7,
        },
        edge=True,
        raises=IndexError,
    ),
)

register(
    Spec(
        id="embedding-grad",
        title="Embedding gradient (scatter-add), freezing and the SGD step",
        latex=(
            r"\frac{\partial L}{\partial W_v} = \sum_{s:\,\mathrm{ids}_s = v}"
            r" \frac{\partial L}{\partial \mathrm{out}_s},\quad W \leftarrow W - \eta\,dW"
        ),
        sources=("seed 004 §5", "seed 004 §2 (冻结 / 微调)", "PyTorch F.embedding backward"),
        function=embedding_grad,
        domain={
            "ids": "int S, in [0, num_embeddings)",
            "grad_out": "float S + (d,)",
            "num_embeddings": "int > 0",
            "padding_idx": "int in [-V, V) or None",
            "scale_grad_by_freq": "bool: divide row v by its count in the batch",
            "frozen": "True / False / None / bool (V,) row mask (True = frozen)",
        },
        cases=_CASES,
        invariants=(
            "duplicated ids accumulate (the gradient of row v sums every occurrence)",
            "equals the autodiff gradient of sum(token_lookup(ids, W) * grad_out) (PyTorch, JAX)",
            "rows that do not occur, padding_idx and frozen rows are exactly 0",
            "sum over rows of dW equals the sum of grad_out (without padding, freezing, scaling)",
        ),
        terms=("反向传播", "嵌入层", "冻结", "微调", "梯度"),
        section="1",
        explanation=(
            "Training moves each token's vector by the sum of the gradients of every place it "
            "was used; padding and frozen rows do not move."
        ),
        float_args=("grad_out",),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_grad_scale,
            text="per row: sqrt(n_v) times the sum of the n_v |grad_out| rows that land there "
            "(over n_v when scale_grad_by_freq): the probabilistic bound of a sum of n_v terms",
        ),
    ),
)
