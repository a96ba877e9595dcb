"""timm (PyTorch Image Models): ``timm.layers.pos_embed_sincos``'s 2-D sin-cos table and its
rotary embedding (``RotaryEmbedding`` / ``RotaryEmbeddingCat``, ``apply_rot_embed`` /
``apply_rot_embed_cat``), run on one axis for the rope spec.

``import timm.layers`` needs torchvision (``create_norm`` imports ``FrozenBatchNorm2d``), which
would bring another torch build; ``pos_embed_sincos.py`` itself needs only torch. Without
torchvision the adapter loads that file (and the three helpers it imports relatively:
``_fx``, ``grid``, ``trace_utils``) from timm's installed ``layers`` folder as a private
package, so the code checked is timm's own file either way.

timm's rotary embedding is axial: ``dim // 4`` frequency bands per spatial axis, sin and cos
of width ``dim / 2`` per axis. With one axis (``feat_shape=[T]``) and ``dim = 2 r`` that is
RoPE of width ``r``: bands ``temperature^(-i / (r/2)) = base^(-2i/r)``, ``in_pixels=False``
(integer grid ``arange(T) + grid_offset``). A row of positions is split into runs of
consecutive positions; each run is one table (``grid_offset`` = its first position).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.specs._cases import host_positions

from ..subjects import Subject, register_subject
from ._convert import torch_float

LIB = "timm"
#: The private package name timm's ``layers`` folder is loaded under without torchvision.
_STANDALONE = "_refpe_timm_layers"


@functools.cache
def sincos() -> types.ModuleType:
    """``timm.layers.pos_embed_sincos``: imported, or loaded from its file when ``import
    timm.layers`` fails for want of torchvision."""
    try:
        from timm.layers import pos_embed_sincos
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("torchvision"):
            raise
    else:
        return pos_embed_sincos
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is not installed", name="timm")
    package = types.ModuleType(_STANDALONE)
    package.__path__ = [str(Path(next(iter(spec.submodule_search_locations))) / "layers")]
    sys.modules.setdefault(_STANDALONE, package)
    return importlib.import_module(f"{_STANDALONE}.pos_embed_sincos")


# --- the 2-D sin-cos table ------------------------------------------------------------------


def _sincos2d(interleave: bool):
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        out = sincos().build_sincos2d_pos_embed(
            [int(kwargs["height"]), int(kwargs["width"])],
            dim=int(kwargs["d"]),
            temperature=float(kwargs.get("base", 10000.0)),
            interleave_sin_cos=interleave,
        )
        return to_host(out)

    return call


def _no_cls(case: Any) -> str | None:
    if case.kwargs.get("cls_token"):
        return "build_sincos2d_pos_embed has no cls row (the caller prepends one)"
    return None


def _row_first(case: Any) -> str | None:
    if case.raises is None and case.kwargs.get("order", "xy") != "yx":
        return (
            "build_sincos2d_pos_embed encodes feat_shape's first axis first: with "
            "feat_shape=(H, W) the row, refpe's order 'yx'; reverse_coord=True also flattens the "
            "patches column-major (pe_sinusoidal_2d(W, H, order='yx'), MoCo v3's table; on a "
            "square grid the same), so no argument gives MAE's column-first order 'xy'"
        )
    return None


def _sin_sin_cos_cos(case: Any) -> str:
    return (
        "interleave_sin_cos=False (the default) lays the table out as "
        "[sin(r omega) | sin(c omega) | cos(r omega) | cos(c omega)], the sines of both axes "
        "before the cosines; refpe, MAE and MoCo v3 keep each axis's [sin | cos] together "
        "(interleave_sin_cos=True with feat_shape=(H, W) is refpe's order 'yx')"
    )


# --- rotary ---------------------------------------------------------------------------------


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``(first position, length)`` of each run of consecutive positions in ``row``."""
    cuts = np.flatnonzero(np.diff(row) != 1) + 1
    return [(int(r[0]), len(r)) for r in np.split(row, cuts) if len(r)]


def _tables(kind: str, r: int, base: float, half: bool, row: np.ndarray) -> tuple[Any, ...]:
    """timm's ``(sin, cos)`` (``kind`` ``"tuple"``) or ``(sin|cos,)`` (``"cat"``) for one row
    of positions, float32, ``(T, r)`` each (``(T, 2 r)`` concatenated)."""
    import torch

    m = sincos()
    cls = m.RotaryEmbeddingCat if kind == "cat" else m.RotaryEmbedding
    parts = []
    for first, n in _runs(row):
        rot = cls(2 * r, temperature=base, in_pixels=False, grid_offset=first, rotate_half=half)
        out = rot.get_embed([n])
        parts.append(out if kind == "cat" else torch.stack(out))
    return (torch.cat(parts, dim=-2),) if kind == "cat" else tuple(torch.cat(parts, dim=-2))


def _rope(kind: str):
    def call(kwargs: Mapping[str, Any], dtype: str) -> Any:
        import torch

        m = sincos()
        x = torch_float(kwargs["x"], dtype)
        d, t = x.shape[-1], x.shape[-2]
        half = kwargs.get("layout", "half") == "half"
        base = float(kwargs.get("base", 10000.0))
        rows = np.broadcast_to(host_positions(kwargs["positions"]), x.shape[:-1]).reshape(-1, t)
        xs = x.reshape(-1, t, d)
        cache: dict[bytes, tuple[Any, ...]] = {}
        out = []
        for i, row in enumerate(rows):
            key = row.tobytes()
            if key not in cache:
                cache[key] = _tables(kind, d, base, half, row)
            emb = cache[key]
            if kind == "cat":
                out.append(m.apply_rot_embed_cat(xs[i], emb[0], half=half))
            else:
                out.append(m.apply_rot_embed(xs[i], emb[0], emb[1], half=half))
        return to_host(torch.stack(out).reshape(x.shape))

    return call


def _pixels(kwargs: Mapping[str, Any], dtype: str) -> Any:
    """``RotaryEmbedding(dim=2 r, rotate_half=...)`` with timm's defaults (``in_pixels=True``)."""
    m = sincos()
    x = torch_float(kwargs["x"], dtype)
    half = kwargs.get("layout", "half") == "half"
    sin, cos = m.RotaryEmbedding(2 * x.shape[-1], rotate_half=half).get_embed([x.shape[-2]])
    return to_host(m.apply_rot_embed(x, sin, cos, half=half))


def _scaling_kind(case: Any) -> str:
    s = case.kwargs.get("scaling") or {}
    return s.get("rope_type", s.get("type", "default"))


def _rope_applies(case: Any) -> str | None:
    kw = case.kwargs
    if _scaling_kind(case) != "default":
        return (
            f"timm's rotary embedding has no {_scaling_kind(case)!r} scaling (ref_feat_shape "
            "rescales an image grid)"
        )
    if kw.get("rotary_dim") not in (None, kw["x"].shape[-1]):
        return "timm's apply_rot_embed rotates the whole feature axis it is given"
    return None


def _pixels_applies(case: Any) -> str | None:
    p = host_positions(case.kwargs["positions"])
    if _rope_applies(case) or np.array_equal(p, np.arange(p.shape[-1])):
        return _rope_applies(case)
    return "in_pixels=True spreads the grid over [-1, 1]: run on positions 0..T-1 only"


def _pixel_grid(case: Any) -> str:
    return (
        "in_pixels=True (RotaryEmbedding's default) is a Fourier feature of image coordinates: "
        "bands pi * linspace(1, max_res / 2, dim / 4) on a grid linspace(-1, 1, T), not RoPE's "
        "base^(-2i/r) on integer positions (pass in_pixels=False)"
    )


_ROPE_CONVENTION = {
    "layout": "interleaved (rot: [-x1, x0, ...]) by default; rotate_half=True: half",
    "schedule": "temperature^(-i / (dim/4)) per axis; one axis with dim = 2r: base^(-2i/r)",
    "frequency dtype": "float32 bands, grid and angle; the rotation in float32, cast to x's dtype",
    "offset": "grid_offset (the grid is arange(T) + grid_offset)",
    "scalings": "none for 1-D (ref_feat_shape rescales an image grid)",
    "axes": "axial over feat_shape; dim / 4 bands per axis",
}

register_subject(
    Subject(
        name="timm.layers.build_sincos2d_pos_embed (interleave_sin_cos=True)",
        spec="pe-sinusoidal-2d",
        library=LIB,
        call=_sincos2d(True),
        dtypes=("float32",),
        applies=_no_cls,
        differs=_row_first,
        requires=("torch",),
        convention={
            "layout": "per axis [sin | cos], feat_shape's first axis (the row) first: order 'yx'",
            "schedule": "temperature^(-i / (d/4)), float32",
            "frequency dtype": "float32 (grid, bands, angle and sin/cos)",
            "patch order": "row-major over feat_shape",
        },
    ),
    Subject(
        name="timm.layers.build_sincos2d_pos_embed (default)",
        spec="pe-sinusoidal-2d",
        library=LIB,
        call=_sincos2d(False),
        dtypes=("float32",),
        applies=_no_cls,
        differs=_sin_sin_cos_cos,
        requires=("torch",),
        convention={
            "layout": "[sin(row) | sin(col) | cos(row) | cos(col)] (interleave_sin_cos=False)",
            "schedule": "temperature^(-i / (d/4)), float32",
            "frequency dtype": "float32",
        },
    ),
    Subject(
        name="timm.layers.RotaryEmbedding + apply_rot_embed (in_pixels=False)",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope("tuple"),
        dtypes=("float32", "bfloat16"),
        applies=_rope_applies,
        requires=("torch",),
        convention=_ROPE_CONVENTION,
    ),
    Subject(
        name="timm.layers.RotaryEmbeddingCat + apply_rot_embed_cat (in_pixels=False)",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope("cat"),
        dtypes=("float32",),
        applies=_rope_applies,
        requires=("torch",),
        convention=_ROPE_CONVENTION | {"tables": "one (T, 2 dim) tensor: [sin | cos]"},
    ),
    Subject(
        name="timm.layers.RotaryEmbedding (default in_pixels=True)",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_pixels,
        dtypes=("float32",),
        applies=_pixels_applies,
        differs=_pixel_grid,
        requires=("torch",),
        convention={
            "schedule": "pi * linspace(1, max_res / 2, dim / 4) (pixel bands)",
            "offset": "none: the grid is linspace(-1, 1, T)",
        },
    ),
)
