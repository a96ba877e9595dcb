"""keras-hub: the ``SinePositionEncoding`` and ``RotaryEmbedding`` layers (Keras 3, run on
the torch backend).

keras-hub's dependencies pull TensorFlow and tensorflow-text (several hundred MB), so it is
not part of the test environment; where it is installed these subjects run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from refpe.backends import to_host

from ..subjects import Subject, register_subject
from ._convert import shifted_positions

LIB = "keras_hub"


def _layers() -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras_hub

    return keras_hub.layers


def _sine(kwargs: Mapping[str, Any], dtype: str) -> Any:
    p = shifted_positions(kwargs)
    rows = p.reshape(-1, p.shape[-1]) if p.ndim else p.reshape(1, 1)
    layer = _layers().SinePositionEncoding(max_wavelength=kwargs.get("base", 10000.0), dtype=dtype)
    x = np.zeros((*rows.shape, kwargs["d"]), dtype=dtype)
    out = layer(x, positions=rows.astype(dtype))
    return to_host(out).reshape((*p.shape, kwargs["d"]))


def _sine_differs(case: Any) -> str | None:
    return (
        "SinePositionEncoding computes fl(1/max_wavelength), its powers, p * omega and sin/cos "
        "in the compute dtype: float32 phases err by about eps (1 + |p omega| |ln omega|), "
        "beyond pe-sinusoidal's 1 eps absolute at far positions"
    )


def _sine_applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("schedule", "transformer") != "transformer" or kw.get("layout") == "concatenated":
        return "SinePositionEncoding is the interleaved transformer schedule"
    return None


_TYPES = {"default": "linear", "linear": "linear", "yarn": "yarn", "ntk": "dynamic"}


def _rope(kwargs: Mapping[str, Any], dtype: str) -> Any:
    x = np.asarray(kwargs["x"], dtype=np.float32)
    s = dict(kwargs.get("scaling") or {})
    kind = s.get("rope_type", s.get("type", "default"))
    options = {
        "max_wavelength": float(s.get("rope_theta") or kwargs.get("base", 10000.0)),
        "scaling_factor": float(s.get("factor") or 1.0),
        "rope_type": _TYPES[kind],
    }
    if kind == "yarn":
        options |= {"beta_fast": float(s.get("beta_fast") or 32)}
        options |= {"beta_slow": float(s.get("beta_slow") or 1)}
        options |= {"original_max_position_embeddings": s["original_max_position_embeddings"]}
        options |= {"truncate": bool(s.get("truncate", True))}
    layer = _layers().RotaryEmbedding(**options, dtype=dtype)
    d, t = x.shape[-1], x.shape[-2]
    pos = np.broadcast_to(shifted_positions(kwargs), x.shape[:-1]).reshape(-1, t)
    out = layer(x.reshape(-1, t, d).astype(np.float32), positions=pos.astype(np.float32))
    return to_host(out).reshape(x.shape)


def _rope_applies(case: Any) -> str | None:
    kw = case.kwargs
    if kw.get("layout", "half") != "half":
        return "keras-hub RotaryEmbedding uses the half layout"
    s = kw.get("scaling") or {}
    kind = s.get("rope_type", s.get("type", "default"))
    if kind not in _TYPES:
        return f"keras-hub RotaryEmbedding has no {kind!r} scaling"
    if kind == "yarn" and (s.get("attention_factor") or s.get("mscale")):
        return "keras-hub's YaRN attention factor is always 0.1 ln s + 1"
    if kw.get("rotary_dim") not in (None, kw["x"].shape[-1]):
        return "keras-hub RotaryEmbedding rotates the whole feature axis"
    return None


def _rope_differs(case: Any) -> str | None:
    s = case.kwargs.get("scaling") or {}
    if s.get("rope_type", s.get("type")) == "ntk":
        return (
            "keras-hub's rope_type='dynamic' divides every frequency by s^(r/(r-2)), a fixed "
            "linear factor: neither NTK-aware (base * s^(r/(r-2))) nor length-dependent"
        )
    return None


register_subject(
    Subject(
        name="keras_hub.layers.SinePositionEncoding",
        refuses=False,
        spec="pe-sinusoidal",
        library=LIB,
        call=_sine,
        dtypes=("float32",),
        applies=_sine_applies,
        differs=_sine_differs,
        requires=("keras", "torch"),
        convention={
            "layout": "interleaved (sin on even columns, cos on odd, by masks)",
            "schedule": "fl(1/max_wavelength)^(2 floor(k/2)/d)",
            "frequency dtype": "the layer's compute dtype",
            "offset": "start_index, or positions",
        },
    ),
    Subject(
        name="keras_hub.layers.RotaryEmbedding",
        refuses=False,
        spec="rope",
        library=LIB,
        call=_rope,
        dtypes=("float32",),
        applies=_rope_applies,
        differs=_rope_differs,
        requires=("keras", "torch"),
        convention={
            "layout": "half (split in two, stack(-x2, x1))",
            "schedule": "max_wavelength^(-2i/r), float32",
            "frequency dtype": "float32; cos/sin cast to the compute dtype",
            "offset": "start_index, or positions (batch, T)",
            "scalings": "linear (scaling_factor), yarn (a = 0.1 ln s + 1), 'dynamic' = "
            "frequencies / s^(r/(r-2))",
        },
    ),
)
