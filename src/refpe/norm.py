"""Layer normalisation and the residual blocks (seed 003 §3.2 step 6: 残差连接 + 层归一化)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import device

from ._compat import namespace, require_finite, require_float, work_float

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
    return _layer_norm(x, gamma, beta, eps, "x")


def _layer_norm(x: Any, gamma: Any, beta: Any, eps: float, name: str) -> Any:
    """:func:`layer_norm` of ``x``, whose errors call it ``name`` (the public expression)."""
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    xp = namespace(x=x, gamma=gamma, beta=beta)
    require_float(xp, **{name: x}, gamma=gamma, beta=beta)
    if x.ndim < 1:
        raise ValueError("x must have at least one axis (the normalised one), got a 0-d array")
    d = x.shape[-1]
    for which, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and tuple(p.shape) != (d,):
            raise ValueError(
                f"{which} must have shape ({d},) for {name} of width {d}, got {tuple(p.shape)}"
            )
    require_finite(name, x, xp)
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
    require_float(xp, x=x)
    fx = f(x)
    _check_same_shape(x, fx)
    wide = work_float(xp, device(x))
    total = xp.astype(x, wide) + xp.astype(fx, wide)
    return xp.astype(_layer_norm(total, gamma, beta, eps, "x + f(x)"), x.dtype)


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
    require_float(xp, x=x)
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
