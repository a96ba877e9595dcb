"""Registry entry of :mod:`refpe.positional_2d`: cases and error model (forward-error analysis)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..positional_2d import pe_sinusoidal_2d
from ..registry import Bound, Case, ErrorModel, Spec, register


def _scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    """``1 + |p omega| (4 + |ln omega|)`` per entry (0 on the cls row): the phase is rounded
    in the working dtype and ``omega`` is a power in a rounded exponent."""
    h, w, d = inputs["height"], inputs["width"], inputs["d"]
    k = d // 4
    omega = np.array([math.pow(inputs.get("base", 10000.0), -i / k) for i in range(k)])
    flat = np.arange(h * w)
    first, second = (
        (flat % w, flat // w) if inputs.get("order", "xy") == "xy" else (flat // w, flat % w)
    )
    kappa = 4 + np.abs(np.log(omega))
    half = [1 + np.abs(p[:, None] * omega) * kappa for p in (first, second)]
    table = np.concatenate([half[0], half[0], half[1], half[1]], axis=1)
    if inputs.get("cls_token"):
        table = np.concatenate((np.zeros((1, d)), table))
    return table


def _grid_positions(inputs: dict) -> np.ndarray:
    """Each patch's grid coordinate, the larger of its row and column index (0 on the cls
    row), broadcastable to the table ``(rows, d)``."""
    h, w = inputs["height"], inputs["width"]
    flat = np.arange(h * w)
    p = np.maximum(flat // w, flat % w)
    if inputs.get("cls_token"):
        p = np.concatenate(([0], p))
    return p[:, None]


register(
    Spec(
        id="pe-sinusoidal-2d",
        title="2-D sine-cosine position table for image patches",
        latex=r"PE[rW + c] = [\,S_{d/2}(c) \Vert S_{d/2}(r)\,],\ "
        r"S_k(p) = [\sin(p\omega) \Vert \cos(p\omega)],\ \omega_i = b^{-2i/k}",
        sources=(
            "Chen, Xie & He (2021), MoCo v3",
            "He et al. (2022), MAE, util/pos_embed.py",
            "seed 001 §8.2 (多模态位置嵌入)",
        ),
        function=pe_sinusoidal_2d,
        domain={
            "height, width": "int >= 1 (patches)",
            "d": "multiple of 4",
            "order": "'xy' (MAE: column first) or 'yx' (row first)",
            "cls_token": "prepend a zero row",
        },
        cases=(
            Case("4 x 4, d 16", {"height": 4, "width": 4, "d": 16}),
            Case("3 x 5 (not square)", {"height": 3, "width": 5, "d": 8}),
            Case("row first", {"height": 3, "width": 5, "d": 8, "order": "yx"}),
            Case("cls token", {"height": 2, "width": 2, "d": 8, "cls_token": True}),
            Case(
                "14 x 14, d 64 (ViT-B/16 at 224 px, narrowed)",
                {"height": 14, "width": 14} | {"d": 64},
            ),
            Case("1 x 1, d 4", {"height": 1, "width": 1, "d": 4}, edge=True),
            Case(
                "grid coordinates to 1023",
                {"height": 1, "width": 1024, "d": 4},
                edge=True,
                note="the API has no offset: the coordinate reaches only the grid's width",
            ),
            Case("base 100", {"height": 2, "width": 3, "d": 8, "base": 100.0}, edge=True),
            Case("d not a multiple of 4", {"height": 2, "width": 2, "d": 6}, raises=ValueError),
        ),
        invariants=(
            "sin^2 + cos^2 = 1 per frequency and axis",
            "the x half depends only on the column, the y half only on the row",
            "order 'yx' swaps the halves of order 'xy'",
        ),
        terms=("位置编码", "多模态位置嵌入"),
        section="6",
        explanation="Each image patch gets a sinusoidal code of its column in one half of the "
        "vector and of its row in the other half.",
        creates=True,
        error=ErrorModel(
            K={"float64": 1.0, "float32": 1.0},
            text="|PE - PE*| <= K eps at every grid coordinate (the sinusoid's exact phases), "
            "the cls row exact.",
            usual=Bound(
                K={"float64": 2.0, "float32": 2.0},
                scale=_scale,
                text="|PE - PE*| <= K eps (1 + |p omega| (4 + |ln omega|)), the cls row exact.",
            ),
        ),
        positions=_grid_positions,
    ),
)
