"""Registry entries of :mod:`refpe.rotary`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..registry import FLOAT_DTYPES, Bound, Case, ErrorModel, Spec, register
from ..rotary import ROPE_TYPES, rope, rope_inv_freq
from ._cases import horizon_positions, host_positions


def _rope_type(scaling: dict | None) -> str:
    """The scaling's ``rope_type`` (or the older ``type``) as a model config writes it;
    ``"default"`` without one. Only valid cases reach an error model: no check here."""
    if not scaling:
        return "default"
    return scaling.get("rope_type", scaling.get("type", "default"))


def _rope_scale(inputs: dict, exact: Any, dtype: str, growing: bool = True) -> np.ndarray:
    """Per element: ``a (|x_a| + |x_b|) (1 + |phi| (4 + |ln theta|))``; 0 on untouched dims.

    ``|ln theta|`` is the condition number of ``base**(-2i/r)`` in its rounded exponent; the
    4 covers the roundings of the frequency, the angle, cos/sin and the rotation. Without
    ``growing``: ``a (|x_a| + |x_b|)``, the pair's size (the exact bound).
    """
    x = np.asarray(inputs["x"], dtype=np.float64)
    pos = host_positions(inputs["positions"])
    r = inputs.get("rotary_dim") or x.shape[-1]
    scaling = inputs.get("scaling")
    n = int(pos.max()) + 1 if pos.size and _rope_type(scaling) in ("dynamic", "longrope") else None
    # The public function's float64 frequencies are the host's 60-digit values rounded once.
    theta, af = rope_inv_freq(
        r, base=inputs.get("base", 10000.0), scaling=scaling, seq_len=n, dtype="float64"
    )
    theta = np.asarray(theta)
    phi = np.abs(pos[..., None] * theta)
    half = inputs.get("layout", "half") == "half"
    xa, xb = (x[..., : r // 2], x[..., r // 2 : r]) if half else (x[..., 0:r:2], x[..., 1:r:2])
    m = abs(af) * (np.abs(xa) + np.abs(xb))
    if growing:
        m = m * (1 + phi * (4 + np.abs(np.log(theta))))
    rot = np.concatenate((m, m), -1) if half else np.stack((m, m), -1).reshape((*m.shape[:-1], r))
    return np.concatenate((rot, np.zeros_like(x[..., r:])), -1)


def _pair_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    """``a (|x_a| + |x_b|)`` per element, 0 on untouched dims: the exact bound's scale."""
    return _rope_scale(inputs, exact, dtype, growing=False)


def _rope_positions(inputs: dict) -> np.ndarray:
    """The position of each row of ``x``, broadcastable to ``x``'s shape ``(..., T, D)``."""
    return host_positions(inputs["positions"])[..., None]


def _size(inputs: dict, exact: Any, dtype: str) -> Any:
    """``|theta|`` per frequency and ``|a|`` for the attention factor: the outputs' sizes."""
    if isinstance(exact, tuple):
        return tuple(_size(inputs, e, dtype) for e in exact)
    return np.abs(np.asarray(exact, dtype=np.float64))


def _inv_freq_scale(inputs: dict, exact: Any, dtype: str) -> Any:
    """``|inv| (4 + |ln inv| [+ h/(h-l)])`` for the frequencies: a power in a rounded
    exponent, a few roundings and, for llama3, the cancellation in the smoothing factor;
    ``4 |a|`` for the attention factor (the second, 0-d output)."""
    if isinstance(exact, tuple):
        return tuple(_inv_freq_scale(inputs, e, dtype) for e in exact)
    e = np.abs(np.asarray(exact, dtype=np.float64))
    if e.ndim == 0:
        return 4.0 * e
    s = inputs.get("scaling") or {}
    k = 4.0
    if _rope_type(s) == "llama3":
        k += s["high_freq_factor"] / (s["high_freq_factor"] - s["low_freq_factor"])
    return e * (k + np.abs(np.log(e)))


def _cases_rope() -> tuple[Case, ...]:
    g = np.random.default_rng(20240601)
    big = np.array([0, 1, 2**20 - 1, 2**20, 2**20 + 1, 2**24], dtype=np.int64)
    sweep = horizon_positions()
    rows = np.array([[[0, 1, 2, 3, 4]], [[7, 8, 9, 10, 11]]], dtype=np.int64)
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0}
    llama3 |= {"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    yarn = {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096}
    return (
        Case("half", {"x": g.standard_normal((2, 3, 8, 16)), "positions": np.arange(8)}),
        Case(
            "interleaved",
            {"x": g.standard_normal((2, 3, 8, 16)), "positions": np.arange(8)}
            | {"layout": "interleaved"},
        ),
        Case(
            "partial rotary",
            {"x": g.standard_normal((1, 2, 6, 16)), "positions": np.arange(6)} | {"rotary_dim": 8},
        ),
        Case("per-row offsets", {"x": g.standard_normal((2, 2, 5, 8)), "positions": rows}),
        Case(
            "positions to 2^24",
            {"x": g.standard_normal((1, 6, 16)), "positions": big},
            edge=True,
            note="float32 angles are rounded: the usual scale grows with |p theta|",
        ),
        Case(
            "positions to 2^24, head_dim 64",
            {"x": g.standard_normal((len(sweep), 64)), "positions": sweep},
            edge=True,
        ),
        Case(
            "positions to 2^24, head_dim 64, interleaved",
            {"x": g.standard_normal((len(sweep), 64)), "positions": sweep}
            | {"layout": "interleaved"},
            edge=True,
        ),
        Case(
            "positions to 2^24, llama3",
            {"x": g.standard_normal((len(sweep), 64)), "positions": sweep}
            | {"base": 500000.0, "scaling": llama3},
            edge=True,
        ),
        Case(
            "positions to 2^24, llama3, interleaved",
            {"x": g.standard_normal((len(sweep), 64)), "positions": sweep}
            | {"base": 500000.0, "scaling": llama3, "layout": "interleaved"},
            edge=True,
        ),
        Case(
            "llama3, base 5e5",
            {"x": g.standard_normal((1, 4, 32)), "base": 500000.0}
            | {"positions": np.array([0, 1000, 8191, 131071]), "scaling": llama3},
        ),
        Case(
            "yarn attention factor",
            {"x": g.standard_normal((1, 4, 32)), "scaling": yarn}
            | {"positions": np.array([0, 10, 4096, 65535]), "layout": "interleaved"},
        ),
        Case(
            "llama3 interleaved",
            {"x": g.standard_normal((2, 5, 16)), "base": 500000.0, "scaling": llama3}
            | {"positions": np.array([0, 17, 4095, 8192, 20000]), "layout": "interleaved"},
        ),
        Case(
            "linear (PI), interleaved",
            {"x": g.standard_normal((2, 6, 8)), "positions": np.arange(0, 6000, 1000)}
            | {"layout": "interleaved", "scaling": {"rope_type": "linear", "factor": 4.0}},
        ),
        Case(
            "ntk, interleaved, per-row",
            {"x": g.standard_normal((2, 3, 8)), "positions": np.array([[0, 5, 9], [100, 101, 102]])}
            | {"layout": "interleaved", "scaling": {"rope_type": "ntk", "factor": 8.0}},
        ),
        Case("head_dim 2", {"x": g.standard_normal((3, 2)), "positions": np.arange(3)}, edge=True),
        Case(
            "odd rotary_dim",
            {"x": np.ones((2, 8)), "positions": 2, "rotary_dim": 3},
            raises=ValueError,
        ),
        Case(
            "rotary_dim > head_dim",
            {"x": np.ones((2, 8)), "positions": 2, "rotary_dim": 10},
            raises=ValueError,
        ),
    )


def _cases_scaling() -> tuple[Case, ...]:
    yarn = {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096}
    ds = {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096}
    ds |= {"mscale": 1.0, "mscale_all_dim": 0.5, "beta_fast": 32, "beta_slow": 1}
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0}
    llama3 |= {"high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    g = np.random.default_rng(7)
    longrope = {"rope_type": "longrope", "original_max_position_embeddings": 4096, "factor": 32.0}
    longrope |= {"short_factor": list(1 + g.random(8)), "long_factor": list(1 + 8 * g.random(8))}
    dyn = {"rope_type": "dynamic", "factor": 2.0, "max_position_embeddings": 2048}
    return (
        Case("default", {"rotary_dim": 128}),
        Case("linear", {"rotary_dim": 64, "scaling": {"rope_type": "linear", "factor": 4.0}}),
        Case("ntk", {"rotary_dim": 64, "scaling": {"rope_type": "ntk", "factor": 4.0}}),
        Case("dynamic", {"rotary_dim": 64, "scaling": dyn, "seq_len": 8192}),
        Case("dynamic below L0", {"rotary_dim": 64, "scaling": dyn, "seq_len": 100}, edge=True),
        Case("yarn", {"rotary_dim": 128, "scaling": yarn}),
        Case("yarn untruncated, mscale", {"rotary_dim": 64, "scaling": ds | {"truncate": False}}),
        Case("llama3", {"rotary_dim": 128, "base": 500000.0, "scaling": llama3}),
        Case("longrope short", {"rotary_dim": 16, "scaling": longrope}),
        Case("longrope long", {"rotary_dim": 16, "scaling": longrope, "seq_len": 4097}),
        Case("old 'type' key", {"rotary_dim": 8, "scaling": {"type": "linear", "factor": 2}}),
        Case(
            "unknown rope_type",
            {"rotary_dim": 8, "scaling": {"rope_type": "xpos"}},
            raises=ValueError,
        ),
        Case(
            "missing factor", {"rotary_dim": 8, "scaling": {"rope_type": "linear"}}, raises=KeyError
        ),
        Case(
            "factor < 1",
            {"rotary_dim": 8, "scaling": {"rope_type": "linear", "factor": 0.5}},
            raises=ValueError,
        ),
    )


register(
    Spec(
        id="rope",
        title="Rotary position embedding",
        latex=r"y = a\,(x \cos(p\theta) + \mathrm{rot}(x) \sin(p\theta)),\ \theta_i = b^{-2i/r}",
        sources=("Su et al. (2021), RoFormer", "seed 001 (位置嵌入, background)"),
        function=rope,
        domain={
            "x": "float array (..., T, head_dim)",
            "positions": "int T or integer array broadcasting against (..., T)",
            "layout": "'half' (GPT-NeoX, HF LLaMA) or 'interleaved' (RoFormer, GPT-J)",
            "rotary_dim": "even, <= head_dim (default head_dim)",
            "scaling": "a Hugging Face rope_scaling dict (see rope-scaling)",
        },
        cases=_cases_rope(),
        invariants=(
            "norms preserved: ||rope(x, p)|| = ||x|| (attention factor 1)",
            "<rope(q, m), rope(k, n)> depends only on m - n",
            "rope(x @ rope_permute(W).T, 'half') scores = rope(x @ W.T, 'interleaved') scores",
            "dims >= rotary_dim are returned bit-exactly",
        ),
        terms=("位置编码", "位置嵌入"),
        section="6",
        explanation="Each pair of features is rotated by an angle proportional to the position, "
        "so a query-key dot product sees only the distance between their positions.",
        float_args=("x",),
        dtypes=FLOAT_DTYPES,
        error=ErrorModel(
            K=dict.fromkeys(FLOAT_DTYPES, 2.0),
            scale=_pair_scale,
            text="|y - y*| <= K eps a (|x_a| + |x_b|) at every position: theta to 60 digits, the "
            "phase p theta reduced exactly, the rotation rounded a few times; untouched dims "
            "are bit-exact.",
            usual=Bound(
                K=dict.fromkeys(FLOAT_DTYPES, 2.0),
                scale=_rope_scale,
                text="|y - y*| <= K eps a (|x_a| + |x_b|) (1 + |p theta| (4 + |ln theta|)): the "
                "angle is rounded in the working dtype and the frequency is a power in a rounded "
                "exponent; untouched dims are bit-exact.",
            ),
        ),
        positions=_rope_positions,
    ),
    Spec(
        id="rope-scaling",
        title="RoPE frequency rescalings (linear, NTK, dynamic, YaRN, Llama 3.1, LongRoPE)",
        latex=r"\theta'_i = f_{\mathrm{type}}(\theta_i;\ s, L_0, L),\ (\theta', a)",
        sources=(
            "Chen et al. (2023), Positional Interpolation",
            "bloc97 (2023), NTK-aware scaled RoPE; emozilla (2023), dynamic NTK",
            "Peng et al. (2023), YaRN",
            "Meta (2024), Llama 3.1 apply_scaling",
            "Ding et al. (2024), LongRoPE; Microsoft Phi-3",
            "Hugging Face transformers, modeling_rope_utils.py",
        ),
        function=rope_inv_freq,
        domain={
            "rotary_dim": "even positive int",
            "scaling": f"dict with rope_type in {ROPE_TYPES} and that type's keys",
            "seq_len": "current length (dynamic, longrope)",
        },
        cases=_cases_scaling(),
        invariants=(
            "factor 1 gives the default frequencies (linear, ntk, yarn, llama3)",
            "dynamic with seq_len <= L0 gives the default frequencies",
            "yarn: the first dims keep theta, the last get theta/s",
            "llama3: wavelengths < L0/h keep theta, > L0/l get theta/s",
        ),
        terms=("位置编码",),
        section="6",
        explanation="Ways to stretch RoPE's frequencies so a model trained on short texts reads "
        "longer ones; returns the frequencies and the factor that multiplies cos and sin.",
        creates=True,
        error=ErrorModel(
            K={"float64": 1.0, "float32": 1.0},
            scale=_size,
            text="|theta - theta*| <= K eps |theta| (60 digits rounded once); the attention "
            "factor within K eps |a|.",
            usual=Bound(
                K={"float64": 2.0, "float32": 2.0},
                scale=_inv_freq_scale,
                text="|theta - theta*| <= K eps |theta| (4 + |ln theta| [+ h/(h-l) for llama3]); "
                "the attention factor within 4K eps.",
            ),
        ),
    ),
)
