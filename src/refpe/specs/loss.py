"""Registry entries of :mod:`refpe.loss`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..loss import softmax_xent
from ..registry import Case, ErrorModel, Spec, register
from ._cases import TINY, normal


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
    return np.maximum(r, TINY)


def _ids(seed: int, n: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=shape).astype(np.int64)


_CASES = (
    Case("n6-c5", {"logits": normal(1, 6, 5), "targets": _ids(2, 5, 6)}),
    Case("b2-t4-c7", {"logits": normal(3, 2, 4, 7), "targets": _ids(4, 7, 2, 4)}),
    Case(
        "ignore-index",
        {"logits": normal(5, 5, 4), "targets": np.array([1, -100, 3, -100, 0])},
        note="the mean is over the 3 counted targets",
    ),
    Case(
        "label-smoothing",
        {
            "logits": normal(6, 5, 6),
            "targets": np.array([0, 5, 2, -100, 1]),
            "label_smoothing": 0.1,
        },
    ),
    Case("sum", {"logits": normal(7, 4, 3), "targets": _ids(8, 3, 4), "reduction": "sum"}),
    Case(
        "none",
        {
            "logits": normal(9, 4, 3),
            "targets": np.array([2, -1, 0, 1]),
            "ignore_index": -1,
            "reduction": "none",
        },
    ),
    Case(
        "large-logits",
        {"logits": normal(10, 3, 4, scale=60.0), "targets": _ids(11, 4, 3)},
        edge=True,
        note="|logits| up to ~150: exp overflows float32 without the max shift",
    ),
    Case(
        "all-ignored",
        {"logits": normal(12, 3, 4), "targets": np.full(3, -100)},
        edge=True,
        note="mean over no target: NaN, as PyTorch",
    ),
    Case(
        "target-out-of-range",
        {"logits": normal(13, 3, 4), "targets": np.array([0, 4, 1])},
        edge=True,
        raises=IndexError,
    ),
    Case(
        "float-targets",
        {"logits": normal(14, 3, 4), "targets": np.array([0.0, 1.0, 2.0])},
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
