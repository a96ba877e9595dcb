"""2-D sine-cosine position tables for image patches (ViT / MAE / MoCo v3)."""

from __future__ import annotations

from typing import Any

from ._compat import (
    MAX_WIDTH,
    default_namespace,
    require_choice,
    require_elements,
    require_positive_int,
    resolve_dtype,
)
from .positional import pe_sinusoidal

__all__ = ["pe_sinusoidal_2d"]

ORDERS = ("xy", "yx")


def pe_sinusoidal_2d(
    height: int,
    width: int,
    d: int,
    *,
    base: float = 10000.0,
    order: str = "xy",
    cls_token: bool = False,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
) -> Any:
    r"""2-D sin-cos position table of an ``height x width`` patch grid, shape ``(H W, d)``.

    .. math::

        \begin{aligned}
        PE[r W + c] &= \bigl[\,S_{d/2}(c)\ \Vert\ S_{d/2}(r)\,\bigr]\ (\text{order "xy"}),\\
        S_{k}(p) &= \bigl[\sin(p\,\omega_0..\omega_{k/2-1})\ \Vert\
        \cos(p\,\omega_0..\omega_{k/2-1})\bigr],\ \omega_i = b^{-2i/k}
        \end{aligned}

    Patches are in row-major order (row ``r``, column ``c`` at index ``r W + c``, as a ViT
    flattens its patch grid); half the width encodes one axis, half the other, each with
    :func:`refpe.pe_sinusoidal` of width ``d/2`` in the concatenated layout. ``order="xy"``
    puts the column (x) first: MAE's ``get_2d_sincos_pos_embed``, whose
    ``meshgrid(grid_w, grid_h)`` makes ``grid[0]`` the column index although it is named
    ``emb_h``. ``order="yx"`` puts the row first: MoCo v3's
    ``build_2d_sincos_position_embedding(h, w)`` uses ``meshgrid(..., indexing="ij")`` and
    flattens ``w``-major, which is ``pe_sinusoidal_2d(w, h, d, order="yx")``, the same
    as ``order="yx"`` here for a square grid. ``cls_token`` prepends a zero row (MAE).

    Source: Chen, Xie & He (2021), MoCo v3, §4; He et al. (2022), MAE, ``util/pos_embed.py``;
    seed 001 §8.2 (多模态位置嵌入: position embeddings for images as a future direction).

    Precision: that of :func:`refpe.pe_sinusoidal` (float64 phases where the device has
    them, rounded once to ``dtype``); the concatenation is exact.
    """
    h = require_positive_int("height", height)
    w = require_positive_int("width", width)
    d = require_positive_int("d", d, MAX_WIDTH)
    require_elements("height * width * d", h, w, d)
    if d % 4:
        raise ValueError(f"d must be a multiple of 4 (sin and cos for two axes), got {d}")
    order = require_choice("order", order, ORDERS)
    xp = default_namespace(xp)
    dt = resolve_dtype(xp, dtype, device)
    flat = xp.arange(h * w, device=device)
    rows, cols = flat // w, flat % w
    enc = {"base": base, "layout": "concatenated", "dtype": dt}
    x, y = pe_sinusoidal(cols, d // 2, **enc), pe_sinusoidal(rows, d // 2, **enc)
    table = xp.concat((x, y) if order == "xy" else (y, x), axis=-1)
    if cls_token:
        table = xp.concat((xp.zeros((1, d), dtype=dt, device=device), table), axis=0)
    return table
