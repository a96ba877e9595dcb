"""The embedding gradient, freezing and the SGD step (seed 004 §2 冻结 / 微调, §5 反向传播)."""

from __future__ import annotations

from typing import Any

from array_api_compat import device

from ._compat import (
    dtype_name,
    integer_array,
    namespace,
    require_float,
    require_int,
    require_positive_int,
    require_range,
    require_real,
    scatter_add,
    work_float,
)

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
            \;\Big/\; \begin{cases} n_v & \mathtt{scale\_grad\_by\_freq} \\ 1 \end{cases},
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
    ids = integer_array("ids", ids, xp)
    require_float(xp, grad_out=grad_out)
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
    require_float(xp, W=W, dW=dW)
    lr = require_real("lr", lr)
    if tuple(dW.shape) != tuple(W.shape):
        raise ValueError(f"dW must have the shape of W {tuple(W.shape)}, got {tuple(dW.shape)}")
    wide = work_float(xp, device(W))
    return xp.astype(xp.astype(W, wide) - lr * xp.astype(dW, wide), W.dtype)


def _padding_row(padding_idx: int | None, n: int) -> int | None:
    if padding_idx is None:
        return None
    p = require_int("padding_idx", padding_idx)
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
