"""keras-hub: ``SinePositionEncoding`` and ``RotaryEmbedding`` layers (Keras 3, torch backend).

keras-hub pulls TensorFlow and tensorflow-text (several hundred MB), so it is not part of
the test environment; where it is installed these subjects run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..subjects import Subject, register_subject

LIB = "keras_hub"


def _layers() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras_hub

    return keras_hub.layers


def _rows(kwargs: Mapping[str, Any]) -> np.ndarray | None:
    """The positions as one contiguous run ``start .. start + n - 1``, else ``None``."""
    p = kwargs["positions"]
    p = np.arange(p) if isinstance(p, int) else np.asarray(p)
    if p.ndim != 1 or p.size == 0 or not np.array_equal(p, p[0] + np.arange(p.size)):
        return None
    return p


def _sine(kwargs: Mapping[str, Any], dtype: str) -> Any:
    p = _rows(kwargs) + kwargs.get("offset", 0)
    layer = _layers().SinePositionEncoding(max_wavelength=kwargs.get("base", 10000.0), dtype=dtype)
    x = np.zeros((1, p.size, kwargs["d"]), dtype=dtype)
    return np.asarray(layer(x, start_index=int(p[0]))[0].cpu(), dtype=np.float64)


def _sine_applies(case: Any) -> str | None:
    kw = case.kwargs
    if case.raises is not None:
        return "bad-input case: not checked on keras-hub"
    if kw.get("schedule", "transformer") != "transformer" or kw.get("layout") == "concatenated":
        return "SinePositionEncoding is the interleaved transformer schedule"
    if _rows(kw) is None:
        return "SinePositionEncoding encodes a contiguous run from start_index"
    return None


def _rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    x = np.asarray(kwargs["x"], dtype=np.float32)
    s = kwargs.get("scaling") or {}
    layer = _layers().RotaryEmbedding(
        max_wavelength=float(s.get("rope_theta") or kwargs.get("base", 10000.0)),
        scaling_factor=float(s.get("factor", 1.0)),
        sequence_axis=-2,
        feature_axis=-1,
        dtype=dtype,
    )
    p = _rows(kwargs)
    return np.asarray(layer(x.astype(dtype), start_index=int(p[0])).cpu(), dtype=np.float64)


def _rope_applies(case: Any) -> str | None:
    kw = case.kwargs
    if case.raises is not None:
        return "bad-input case: not checked on keras-hub"
    if kw.get("layout", "half") != "half":
        return "keras-hub RotaryEmbedding uses the half layout"
    s = kw.get("scaling") or {}
    if s.get("rope_type", s.get("type", "default")) not in ("default", "linear"):
        return "keras-hub RotaryEmbedding has linear scaling (scaling_factor) only"
    if kw.get("rotary_dim") not in (None, kw["x"].shape[-1]):
        return "keras-hub RotaryEmbedding rotates the whole feature axis"
    if _rows(kw) is None:
        return "keras-hub RotaryEmbedding takes a contiguous run from start_index"
    return None


register_subject(
    Subject(
        name="keras_hub.layers.SinePositionEncoding",
        spec="pe-sinusoidal",
        library=LIB,
        call=_sine,
        dtypes=("float32",),
        applies=_sine_applies,
        requires=("keras",),
        convention={
            "layout": "interleaved (sin on even columns, cos on odd, by masks)",
            "schedule": "max_wavelength^(-2 floor(k/2)/d)",
            "frequency dtype": "the layer's compute dtype",
            "offset": "start_index",
        },
    ),
    Subject(
        name="keras_hub.layers.RotaryEmbedding",
        spec="rope",
        library=LIB,
        call=_rope,
        dtypes=("float32",),
        applies=_rope_applies,
        requires=("keras",),
        convention={
            "layout": "half (split in two, stack(-x2, x1))",
            "schedule": "max_wavelength^(-2i/r)",
            "frequency dtype": "the layer's compute dtype",
            "offset": "start_index",
            "scalings": "linear (scaling_factor divides the frequencies)",
        },
    ),
)
