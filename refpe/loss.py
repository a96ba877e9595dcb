"""The output layer and its loss (seed 003 §3.2 steps 7–8: 输出层, 交叉熵损失)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from array_api_compat import device

from ._compat import (
    dtype_name,
    namespace,
    require_choice,
    require_finite,
    require_integer,
    require_range,
    work_float,
)
from ._registry import Case, ErrorModel, Spec, register

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
    for name, t in (("h", h), ("weight", weight)):
        if not xp.isdtype(t.dtype, "real floating"):
            raise TypeError(f"{name} must be a float array, got dtype {dtype_name(t.dtype)}")
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
    require_integer("targets", targets, xp)
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
    if not xp.isdtype(logits.dtype, "real floating"):
        raise TypeError(f"logits must be a float array, got dtype {dtype_name(logits.dtype)}")
    if logits.ndim < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits must have a class axis of size >= 1, got {tuple(logits.shape)}")
    require_finite("logits", logits, xp)


# --- spec: error model (forward-error analysis) and cases -----------------------------------


def _xent_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    r"""Per target :math:`r_n = 1 + (1-\varepsilon)|x_{t_n}| + \varepsilon\,\overline{|x|}
    + \max|x| + \log\sum e^{x - m}`, the absolute terms of :math:`\ell_n`; the smallest
    positive float where a target is ignored (its loss must be exactly 0).

    ``"sum"`` adds the :math:`r_n`, ``"mean"`` averages them over the counted targets.
    """
    x = np.asarray(inputs["logits"], dtype=np.float64)
    t = np.asarray(inputs["targets"])
    eps = inputs.get("label_smoothing", 0.0)
    counted = t != inputs.get("ignore_index", -100)
    m = np.max(x, axis=-1)
    lse = np.log(np.sum(np.exp(x - m[..., None]), axis=-1))
    x_t = np.take_along_axis(x, np.where(counted, t, 0)[..., None], axis=-1)[..., 0]
    r = 1 + (1 - eps) * np.abs(x_t) + eps * np.mean(np.abs(x), axis=-1) + np.abs(m) + lse
    r = np.where(counted, r, 0.0)
    reduction = inputs.get("reduction", "mean")
    if reduction != "none":
        r = np.sum(r) / (max(int(np.sum(counted)), 1) if reduction == "mean" else 1)
    return np.maximum(r, np.finfo(np.float64).tiny)


def _rand(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _ids(seed: int, n: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=shape).astype(np.int64)


_CASES = (
    Case("n6-c5", {"logits": _rand(1, 6, 5), "targets": _ids(2, 5, 6)}),
    Case("b2-t4-c7", {"logits": _rand(3, 2, 4, 7), "targets": _ids(4, 7, 2, 4)}),
    Case(
        "ignore-index",
        {"logits": _rand(5, 5, 4), "targets": np.array([1, -100, 3, -100, 0])},
        note="the mean is over the 3 counted targets",
    ),
    Case(
        "label-smoothing",
        {"logits": _rand(6, 5, 6), "targets": np.array([0, 5, 2, -100, 1]), "label_smoothing": 0.1},
    ),
    Case("sum", {"logits": _rand(7, 4, 3), "targets": _ids(8, 3, 4), "reduction": "sum"}),
    Case(
        "none",
        {
            "logits": _rand(9, 4, 3),
            "targets": np.array([2, -1, 0, 1]),
            "ignore_index": -1,
            "reduction": "none",
        },
    ),
    Case(
        "large-logits",
        {"logits": _rand(10, 3, 4, scale=60.0), "targets": _ids(11, 4, 3)},
        edge=True,
        note="|logits| up to ~150: exp overflows float32 without the max shift",
    ),
    Case(
        "all-ignored",
        {"logits": _rand(12, 3, 4), "targets": np.full(3, -100)},
        edge=True,
        note="mean over no target: NaN, as PyTorch",
    ),
    Case(
        "target-out-of-range",
        {"logits": _rand(13, 3, 4), "targets": np.array([0, 4, 1])},
        edge=True,
        raises=IndexError,
    ),
    Case(
        "float-targets",
        {"logits": _rand(14, 3, 4), "targets": np.array([0.0, 1.0, 2.0])},
        edge=True,
        raises=TypeError,
    ),
)

register(
    Spec(
        id="softmax-xent",
        title="Softmax cross-entropy (output layer and loss)",
        latex=(
            r"\ell_n = (1-\varepsilon)(-\log p_{n,t_n}) + \tfrac{\varepsilon}{C}\sum_c"
            r" (-\log p_{n,c}),\; \log p = x - m - \log\textstyle\sum e^{x - m}"
        ),
        sources=("seed 003 §3.2 steps 7–8", "PyTorch F.cross_entropy"),
        function=softmax_xent,
        domain={
            "logits": "float (..., C), finite",
            "targets": "int (...), in [0, C) or ignore_index",
            "ignore_index": "int, default -100",
            "label_smoothing": "float in [0, 1]",
            "reduction": '"mean" | "sum" | "none"',
        },
        cases=_CASES,
        invariants=(
            "log_softmax(x) rows log-sum-exp to 0",
            "adding a constant to a row of logits changes nothing",
            "loss >= 0; label_smoothing=0 gives -log p_target",
            "mean = sum / number of counted targets",
            "output_projection(h, E, tied=True) == h @ E.T",
        ),
        terms=("交叉熵损失", "输出层", "概率分布"),
        section="4",
        explanation=(
            "The output layer turns each vector into scores over the vocabulary; the loss is "
            "minus the log-probability that softmax gives the right token, averaged."
        ),
        float_args=("logits",),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_xent_scale,
            text=(
                "per target: 1 + (1-eps)|x_t| + eps mean|x| + max|x| + log sum exp(x - max), "
                "the absolute terms of the loss; summed or averaged like the loss"
            ),
        ),
    ),
)
