"""Layer normalisation (seed 003 §3.2 step 6: 残差连接 + 层归一化)."""

from __future__ import annotations

from typing import Any

from ._compat import namespace, work_float

__all__ = ["layer_norm"]


def layer_norm(x: Any, gamma: Any = None, beta: Any = None, *, eps: float = 1e-5) -> Any:
    r"""Layer normalisation over the last axis, with the biased variance.

    .. math::

        \mu = \frac1d \sum_k x_k,\quad
        \sigma^2 = \frac1d \sum_k (x_k - \mu)^2,\quad
        y = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}\,\gamma + \beta

    Source: seed 003 §3.2 step 6; Ba, Kiros & Hinton (2016), *Layer Normalization*.

    Precision: mean, variance and the normalised value are computed in the widest float
    of the device (float64 where it exists) and rounded once to ``x.dtype``.
    """
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps!r}")
    xp = namespace(x=x, gamma=gamma, beta=beta)
    wide = work_float(xp, getattr(x, "device", None))
    xw = xp.astype(x, wide)
    mean = xp.mean(xw, axis=-1, keepdims=True)
    var = xp.mean((xw - mean) ** 2, axis=-1, keepdims=True)
    y = (xw - mean) / xp.sqrt(var + eps)
    if gamma is not None:
        y = y * xp.astype(gamma, wide)
    if beta is not None:
        y = y + xp.astype(beta, wide)
    return xp.astype(y, x.dtype)
