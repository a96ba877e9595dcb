"""Layer normalisation and the residual blocks (seed 003 §3.2 step 6: 残差连接 + 层归一化)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from array_api_compat import device

from ._compat import dtype_name, namespace, require_finite, work_float
from ._registry import Case, ErrorModel, Spec, register

__all__ = ["layer_norm", "post_ln", "pre_ln"]


def layer_norm(x: Any, gamma: Any = None, beta: Any = None, *, eps: float = 1e-5) -> Any:
    r"""Layer normalisation over the last axis, with the biased variance.

    .. math::

        \mu = \frac1d \sum_k x_k,\quad
        \sigma^2 = \frac1d \sum_k (x_k - \mu)^2,\quad
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}\,\gamma + \beta

    ``x`` has shape ``(..., d)``; ``gamma`` and ``beta`` shape ``(d,)`` (``None``: 1 and 0).
    The variance divides by :math:`d`, not :math:`d - 1` (PyTorch, JAX/Flax, Keras).

    Source: seed 003 §3.2 step 6; Ba, Kiros & Hinton (2016), *Layer Normalization*.

    Precision: mean, variance (two passes: the mean first, then the squared deviations) and
    the normalised value are computed in the widest float of the device (float64 where it
    exists) and rounded once to ``x.dtype``.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    xp = namespace(x=x, gamma=gamma, beta=beta)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"x must be a float array, got dtype {dtype_name(x.dtype)}")
    if x.ndim < 1:
        raise ValueError("x must have at least one axis (the normalised one), got a 0-d array")
    d = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and tuple(p.shape) != (d,):
            raise ValueError(
                f"{name} must have shape ({d},) for x of width {d}, got {tuple(p.shape)}"
            )
    require_finite("x", x, xp)
    wide = work_float(xp, device(x))
    xw = xp.astype(x, wide)
    mean = xp.mean(xw, axis=-1, keepdims=True)
    var = xp.mean((xw - mean) ** 2, axis=-1, keepdims=True)
    y = (xw - mean) / xp.sqrt(var + eps)
    if gamma is not None:
        y = y * xp.astype(gamma, wide)
    if beta is not None:
        y = y + xp.astype(beta, wide)
    return xp.astype(y, x.dtype)


def post_ln(
    x: Any, f: Callable[[Any], Any], gamma: Any = None, beta: Any = None, *, eps: float = 1e-5
) -> Any:
    r"""Post-LN residual block (the original Transformer): :math:`y = \mathrm{LN}(x + f(x))`.

    Source: seed 003 §3.2 step 6 (层归一化和残差连接); Vaswani et al. (2017), §5.4.

    Precision: :math:`f` runs as it is on ``x``; the sum and the normalisation follow
    :func:`layer_norm` (wide float, one rounding to ``x.dtype``).
    """
    xp = namespace(x=x)
    fx = f(x)
    _check_same_shape(x, fx)
    wide = work_float(xp, device(x))
    return xp.astype(
        layer_norm(xp.astype(x, wide) + xp.astype(fx, wide), gamma, beta, eps=eps), x.dtype
    )


def pre_ln(
    x: Any, f: Callable[[Any], Any], gamma: Any = None, beta: Any = None, *, eps: float = 1e-5
) -> Any:
    r"""Pre-LN residual block (GPT-2 and most later models): :math:`y = x + f(\mathrm{LN}(x))`.

    Source: seed 003 §3.2 step 6; Xiong et al. (2020), *On Layer Normalization in the
    Transformer Architecture*.

    Precision: :func:`layer_norm` gives ``LN(x)`` in ``x.dtype``; :math:`f` runs on it as it
    is; the sum is computed in the wide float and rounded once to ``x.dtype``.
    """
    xp = namespace(x=x)
    fx = f(layer_norm(x, gamma, beta, eps=eps))
    _check_same_shape(x, fx)
    wide = work_float(xp, device(x))
    return xp.astype(xp.astype(x, wide) + xp.astype(fx, wide), x.dtype)


def _check_same_shape(x: Any, fx: Any) -> None:
    if tuple(fx.shape) != tuple(x.shape):
        raise ValueError(
            f"f(x) must have the shape of x {tuple(x.shape)} for the residual sum, "
            f"got {tuple(fx.shape)}"
        )


# --- spec: error model (forward-error analysis) and cases -----------------------------------


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
    return np.maximum(scale, np.finfo(np.float64).tiny)


def _rand(seed: int, *shape: int, scale: float = 1.0, loc: float = 0.0) -> np.ndarray:
    return loc + np.random.default_rng(seed).standard_normal(shape) * scale


_CASES = (
    Case("plain-4x8", {"x": _rand(1, 4, 8)}),
    Case("affine-2x3x16", {"x": _rand(2, 2, 3, 16), "gamma": _rand(3, 16), "beta": _rand(4, 16)}),
    Case(
        "bert-eps",
        {"x": _rand(5, 3, 12), "gamma": _rand(6, 12), "beta": _rand(7, 12), "eps": 1e-12},
    ),
    Case(
        "large-mean",
        {"x": _rand(8, 3, 8, loc=1000.0)},
        edge=True,
        note="mean 1000, std 1: a one-pass variance E[x^2] - mu^2 cancels here",
    ),
    Case("constant-row", {"x": np.full((2, 6), 3.25)}, edge=True, note="variance 0: y = beta"),
    Case("width-1", {"x": _rand(9, 5, 1)}, edge=True, note="d = 1: every output is beta"),
    Case("bad-eps", {"x": _rand(10, 2, 4), "eps": 0.0}, edge=True, raises=ValueError),
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
