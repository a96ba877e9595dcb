"""The output layer and its loss (seed 003 §3.2 steps 7–8: 输出层, 交叉熵损失)."""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import device

from ._compat import (
    integer_array,
    namespace,
    require_choice,
    require_finite,
    require_float,
    require_range,
    work_float,
)

__all__ = ["log_softmax", "output_projection", "softmax_xent"]

_REDUCTIONS = ("mean", "sum", "none")


def log_softmax(logits: Any, *, axis: int = -1) -> Any:
    r"""Numerically stable log-softmax.

    .. math::

        \log \operatorname{softmax}(x)_c = x_c - m - \log \sum_{c'} e^{x_{c'} - m},
        \qquad m = \max_{c'} x_{c'}

    Shifting by the maximum keeps every exponent :math:`\le 0` (no overflow) and the sum
    :math:`\ge 1` (no log of an underflowed 0).

    Source: seed 003 §3.2 step 7 (softmax 输出层).

    Precision: computed in the widest float of the device (float64 where it exists) and
    rounded once to ``logits.dtype``.
    """
    xp = namespace(logits=logits)
    _require_float_logits(logits, xp)
    wide = work_float(xp, device(logits))
    return xp.astype(_log_softmax(xp.astype(logits, wide), xp, axis), logits.dtype)


def output_projection(h: Any, weight: Any, bias: Any = None, *, tied: bool = False) -> Any:
    r"""The output layer's logits: :math:`z = h W + b`, or tied to the embedding table
    :math:`z = h E^\top + b`.

    Untied, ``weight`` is :math:`W` of shape ``(d, V)``; with ``tied=True`` it is the token
    table :math:`E` of shape ``(V, d)`` (Press & Wolf 2017, the Transformer's shared
    weights). ``h`` has shape ``(..., d)``, ``bias`` ``(V,)``; the logits ``(..., V)``.

    Source: seed 003 §3.2 step 7 (全连接层), §5.2 (``nn.Linear(100, 1000)``).

    Precision: the product and the sum are computed in the widest float of the device and
    rounded once to ``h.dtype``.
    """
    xp = namespace(h=h, weight=weight, bias=bias)
    require_float(xp, h=h, weight=weight, bias=bias)
    d = h.shape[-1]
    want = "(V, d)" if tied else "(d, V)"
    if weight.ndim != 2 or weight.shape[1 if tied else 0] != d:
        raise ValueError(
            f"weight must have shape {want} with d={d} (tied={tied}), got {tuple(weight.shape)}"
        )
    n_out = weight.shape[0 if tied else 1]
    if bias is not None and tuple(bias.shape) != (n_out,):
        raise ValueError(f"bias must have shape ({n_out},), got {tuple(bias.shape)}")
    wide = work_float(xp, device(h))
    w = xp.astype(weight, wide)
    z = xp.astype(h, wide) @ (xp.matrix_transpose(w) if tied else w)
    if bias is not None:
        z = z + xp.astype(bias, wide)
    return xp.astype(z, h.dtype)


def softmax_xent(
    logits: Any,
    targets: Any,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> Any:
    r"""Softmax cross-entropy from logits, with PyTorch's ``ignore_index`` and label smoothing.

    .. math::

        \ell_n = (1 - \varepsilon)\,\bigl(-\log p_{n, t_n}\bigr)
                 + \frac{\varepsilon}{C} \sum_{c=1}^{C} \bigl(-\log p_{n,c}\bigr),\qquad
        L = \frac{\sum_{n:\, t_n \ne \text{ignore}} \ell_n}{\#\{n : t_n \ne \text{ignore}\}}

    with :math:`\log p_n` = :func:`log_softmax` of ``logits[n]`` (shape ``(..., C)``) and
    integer ``targets`` :math:`t` (shape ``(...)``). Label smoothing :math:`\varepsilon`
    replaces the one-hot target by :math:`(1 - \varepsilon)\,\mathrm{onehot} +
    \varepsilon/C` (a uniform over all :math:`C` classes, the target included), as
    ``torch.nn.functional.cross_entropy`` does. Targets equal to ``ignore_index`` give
    :math:`\ell_n = 0` and are left out of the mean's count; ``reduction="mean"`` with every
    target ignored is :math:`0/0` = NaN, as in PyTorch. ``"sum"`` sums the :math:`\ell_n`,
    ``"none"`` returns them (shape of ``targets``). Targets are class ids: float targets
    (PyTorch reads them as class probabilities) are refused with ``TypeError``, and an id
    outside ``[0, C)`` other than ``ignore_index`` with ``IndexError``.

    Source: seed 003 §3.2 step 8 (交叉熵损失), §5.2 (``nn.CrossEntropyLoss``);
    Szegedy et al. (2016) for label smoothing.

    Precision: log-softmax, the per-target losses and the reduction are computed in the
    widest float of the device (float64 where it exists) and rounded once to ``logits.dtype``.
    """
    xp = namespace(logits=logits, targets=targets)
    _require_float_logits(logits, xp)
    targets = integer_array("targets", targets, xp)
    require_choice("reduction", reduction, _REDUCTIONS)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    if logits.ndim < 1 or tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"targets must have shape {tuple(logits.shape[:-1])} for logits of shape "
            f"{tuple(logits.shape)}, got {tuple(targets.shape)}"
        )
    n_classes = logits.shape[-1]
    counted = targets != ignore_index
    require_range(
        "targets",
        xp.where(counted, targets, 0),
        0,
        n_classes,
        xp,
        what=f" (ignore_index={ignore_index} aside)",
    )
    wide = work_float(xp, device(logits))
    lp = _log_softmax(xp.astype(logits, wide), xp, -1)
    classes = xp.arange(n_classes, dtype=targets.dtype, device=device(targets))
    onehot = xp.reshape(targets, (*tuple(targets.shape), 1)) == classes
    nll = -xp.sum(xp.where(onehot, lp, 0.0), axis=-1)
    smooth = -xp.mean(lp, axis=-1)
    loss = xp.where(counted, (1.0 - label_smoothing) * nll + label_smoothing * smooth, 0.0)
    if reduction == "none":
        return xp.astype(loss, logits.dtype)
    total = xp.sum(loss)
    if reduction == "sum":
        return xp.astype(total, logits.dtype)
    count = xp.sum(xp.astype(counted, wide))
    mean = xp.where(count > 0, total / xp.where(count > 0, count, 1.0), math.nan)
    return xp.astype(mean, logits.dtype)


def _log_softmax(x: Any, xp: Any, axis: int) -> Any:
    z = x - xp.max(x, axis=axis, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True))


def _require_float_logits(logits: Any, xp: Any) -> None:
    require_float(xp, logits=logits)
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a class axis of size >= 1, got {tuple(logits.shape)}")
    require_finite("logits", logits, xp)
