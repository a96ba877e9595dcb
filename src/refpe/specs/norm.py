"""Registry entries of :mod:`refpe.norm`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..norm import layer_norm
from ..registry import Case, ErrorModel, Spec, register
from ._cases import TINY, normal


def _ln_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    r"""``|gamma| (1 + |x_hat| + max|x| / sigma) + |beta|``.

    The deviation :math:`x_k - \mu` is rounded relative to :math:`\max|x|` (the mean's error),
    divided by :math:`\sigma`; the variance and square root add a relative error on
    :math:`\hat x`; the affine step adds :math:`|\gamma \hat x| + |\beta|`.
    """
    x = np.asarray(inputs["x"], dtype=np.float64)
    eps = inputs.get("eps", 1e-5)
    gamma, beta = inputs.get("gamma"), inputs.get("beta")
    g = np.abs(gamma) if gamma is not None else 1.0
    b = np.abs(beta) if beta is not None else 0.0
    sigma = np.sqrt(np.var(x, axis=-1, keepdims=True) + eps)
    x_hat = (x - np.mean(x, axis=-1, keepdims=True)) / sigma
    scale = g * (1.0 + np.abs(x_hat) + np.max(np.abs(x), axis=-1, keepdims=True) / sigma) + b
    return np.maximum(scale, TINY)


_CASES = (
    Case("plain-4x8", {"x": normal(1, 4, 8)}),
    Case(
        "affine-2x3x16", {"x": normal(2, 2, 3, 16), "gamma": normal(3, 16), "beta": normal(4, 16)}
    ),
    Case(
        "bert-eps",
        {"x": normal(5, 3, 12), "gamma": normal(6, 12), "beta": normal(7, 12), "eps": 1e-12},
    ),
    Case(
        "large-mean",
        {"x": normal(8, 3, 8, loc=1000.0)},
        edge=True,
        note="mean 1000, std 1: a one-pass variance E[x^2] - mu^2 cancels here",
    ),
    Case("constant-row", {"x": np.full((2, 6), 3.25)}, edge=True, note="variance 0: y = beta"),
    Case("width-1", {"x": normal(9, 5, 1)}, edge=True, note="d = 1: every output is beta"),
    Case("bad-eps", {"x": normal(10, 2, 4), "eps": 0.0}, edge=True, raises=ValueError),
)

register(
    Spec(
        id="layer-norm",
        title="Layer normalisation",
        latex=(
            r"y = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}\,\gamma + \beta,\;"
            r"\mu = \tfrac1d \textstyle\sum_k x_k,\; \sigma^2 = \tfrac1d \sum_k (x_k - \mu)^2"
        ),
        sources=("seed 003 §3.2 step 6", "Ba, Kiros & Hinton 2016"),
        function=layer_norm,
        domain={
            "x": "float (..., d), finite",
            "gamma": "float (d,) or None (1)",
            "beta": "float (d,) or None (0)",
            "eps": "float > 0 (PyTorch 1e-5, BERT 1e-12)",
        },
        cases=_CASES,
        invariants=(
            "without gamma/beta each row has mean 0 and biased variance var/(var + eps)",
            "adding a constant to a row changes nothing",
            "LN(s x; eps s^2) = LN(x; eps) for s > 0",
            "post_ln(x, f) = LN(x + f(x)); pre_ln(x, f) = x + f(LN(x))",
        ),
        terms=("层归一化", "残差连接"),
        section="4",
        explanation=(
            "Each vector is shifted to mean 0 and scaled to variance 1 over its features, then "
            "stretched and shifted by learned gamma and beta."
        ),
        float_args=("x", "gamma", "beta"),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_ln_scale,
            text=(
                "scale = |gamma| (1 + |x_hat| + max|x| / sqrt(var + eps)) + |beta| per element: "
                "x - mean is rounded relative to max|x| and divided by sigma"
            ),
        ),
    ),
)
