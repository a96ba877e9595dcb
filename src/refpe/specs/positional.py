"""Registry entries of :mod:`refpe.positional`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..positional import (
    frequencies,
    pe_dual_linear,
    pe_learned,
    pe_linear,
    pe_projected_sinusoid,
    pe_sinusoidal,
    pe_sinusoidal_learnable,
)
from ..registry import FLOAT_DTYPES, Bound, Case, Erratum, ErrorModel, Spec, register
from ._cases import horizon_positions, host_positions


def _columns(a: np.ndarray, d: int, layout: str) -> np.ndarray:
    """``a`` (one value per frequency) placed where the table puts that frequency's sine and
    cosine: ``interleaved`` pairs ``sin, cos``, ``concatenated`` all sines then all cosines,
    an odd width's last column a sine (transformer), zero columns up to ``d`` (t2t)."""
    m = d // 2  # frequencies with a cosine column
    if layout == "interleaved" and m > 0:
        pairs = np.stack([a[..., :m], a[..., :m]], axis=-1)
        parts = [pairs.reshape((*pairs.shape[:-2], 2 * m)), a[..., m:]]
    else:
        parts = [a, a[..., :m]]
    width = sum(part.shape[-1] for part in parts)
    return np.concatenate([*parts, np.zeros((*a.shape[:-1], d - width))], axis=-1)


def _angles(inputs: Any) -> np.ndarray:
    """``|p ω|`` per output element (0 in a zero column), from a case's host arguments."""
    d, schedule = inputs["d"], inputs.get("schedule", "transformer")
    layout = inputs.get("layout") or (
        "interleaved" if schedule == "transformer" else "concatenated"
    )
    p = host_positions(inputs["positions"])
    omega = np.array([float(o) for o in frequencies(d, float(inputs.get("base", 1e4)), schedule)])
    return _columns(np.abs((p + inputs.get("offset", 0))[..., None] * omega), d, layout)


def _sinusoid_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    return 1.0 + _angles(inputs) if dtype == "float64" else 1.0


def _sinusoid_positions(inputs: Any) -> np.ndarray:
    """Each row's position, ``positions + offset``, broadcastable to the table ``(..., n, d)``."""
    return (host_positions(inputs["positions"]) + inputs.get("offset", 0))[..., None]


def _size_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    """``1 + |y*|``: the sinusoid's size 1 plus that of the added noise."""
    return 1.0 + np.abs(np.asarray(exact, dtype=np.float64))


def _learnable_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    if dtype == "float64":
        return 1.0 + _angles({**inputs, "positions": inputs["max_len"]}) + np.abs(exact)
    return np.maximum(1.0, np.abs(exact))


def _projected_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    p = host_positions(inputs["positions"])
    a = np.reshape(np.asarray(inputs["alpha"], dtype=np.float64), (-1,))
    d = np.shape(inputs["w1"])[-1]
    w = np.abs(np.reshape(inputs["w1"], (-1, d))) + np.abs(np.reshape(inputs["w2"], (-1, d)))
    return (1.0 + a.size + np.abs(p[..., None] * a)) @ w


def _projected_size(inputs: Any, exact: Any, dtype: str) -> Any:
    """``sum_k |W1_kj| + |W2_kj|``: the sum of the absolute terms (a sine or cosine is at
    most 1), with nothing that grows with the position."""
    d = np.shape(inputs["w1"])[-1]
    w = np.abs(np.reshape(inputs["w1"], (-1, d))) + np.abs(np.reshape(inputs["w2"], (-1, d)))
    p = host_positions(inputs["positions"])
    return np.broadcast_to(w.sum(axis=0), (*p.shape, d))


def _linear_scale(inputs: Any, exact: Any, dtype: str) -> Any:
    p, w, b = host_positions(inputs["positions"]), np.asarray(inputs["w"]), np.asarray(inputs["b"])
    if w.ndim == 2:
        w, b = w[p], b[p]
    return np.abs(p[..., None] * w) + np.abs(b)


rng = np.random.default_rng(1)
far = np.array([0, 1, 1000, 2**16, 10**6, 2**24 - 1])
sweep = horizon_positions()
table = rng.standard_normal((12, 6))
terms = ("位置编码", "位置嵌入")
register(
    Spec(
        id="pe-sinusoidal",
        title="Sinusoidal positional encoding",
        latex=r"\omega_i = b^{-2i/d},\ PE[p,2i] = \sin(p\omega_i),"
        r"\ PE[p,2i+1] = \cos(p\omega_i)",
        sources=("seed 004 §3", "seed 001 §5.2", "seed 003 §4.2.2", "Vaswani et al. 2017 §3.5"),
        function=pe_sinusoidal,
        domain={"positions": "int n or integers, |p| < 2^53", "d": "int > 0", "base": "> 0"},
        cases=(
            Case("8 positions, d 6", {"positions": 8, "d": 6}),
            Case("odd d 7", {"positions": np.arange(5), "d": 7}),
            Case("concatenated", {"positions": 6, "d": 8, "layout": "concatenated"}),
            Case(
                "t2t, odd d 9, offset 2",
                {"positions": 5, "d": 9, "schedule": "t2t", "offset": 2},
            ),
            Case("batch of positions", {"positions": np.array([[0, 1, 2], [5, 6, 7]]), "d": 4}),
            Case("far positions", {"positions": far, "d": 16}, edge=True),
            Case("d 512, base 500", {"positions": 4, "d": 512, "base": 500.0}, edge=True),
            Case("d 1", {"positions": 3, "d": 1}, edge=True),
            Case("t2t d 2", {"positions": 3, "d": 2, "schedule": "t2t"}, edge=True),
            Case("positions to 2^24", {"positions": sweep, "d": 64}, edge=True),
            Case(
                "positions to 2^24, concatenated",
                {"positions": sweep, "d": 64, "layout": "concatenated"},
                edge=True,
            ),
            Case(
                "positions to 2^24, t2t",
                {"positions": sweep, "d": 64, "schedule": "t2t"},
                edge=True,
            ),
            Case("d 0", {"positions": 3, "d": 0}, edge=True, raises=ValueError),
            Case(
                "bad layout",
                {"positions": 3, "d": 4, "layout": "x"},
                edge=True,
                raises=ValueError,
            ),
        ),
        error=ErrorModel(
            K=dict.fromkeys(FLOAT_DTYPES, 1),
            text="1 eps absolute at every position: the phase p ω reduced exactly, the sine "
            "and cosine within an ulp of the working float, rounded once to the dtype",
            usual=Bound(
                K={"float64": 2, "float32": 1, "float16": 1, "bfloat16": 1},
                scale=_sinusoid_scale,
                text="float64: 2 eps (1 + |p ω|), the angle is rounded; float32, float16, "
                "bfloat16: 1 eps absolute (rounded once from float64, or an exact float32 "
                "phase reduction)",
            ),
        ),
        invariants=(
            "sin^2 + cos^2 = 1 for every frequency pair",
            "rows p and p + k are related by the block-diagonal rotation by k ω_i",
        ),
        errata=(
            Erratum(
                seed="003 §4.2.2",
                seed_does="[sin(p/10000^(2i/d)), cos(p/10000^(2i/d))] with i为词嵌入的维度 "
                "(i is the embedding dimension)",
                refpe_does="i is the frequency index, 0 <= i < d/2; d is the width; "
                "layout='concatenated' gives the seed's [sin..., cos...] order",
                why="Vaswani et al. 2017 §3.5: each i is one sinusoid, wavelengths 2π to "
                "10000·2π (seed 004 §3: i 是维度索引); i = d makes every column 10000^-2",
            ),
            Erratum(
                seed="001 §5.2",
                seed_does="position * div_term with position (max_len,), div_term (d/2,); "
                "-torch.log(10000.0) on a Python float",
                refpe_does="the outer product p ω_i, shape (positions, d/2), "
                "ω_i = exp(-2i ln(base)/d)",
                why="Vaswani et al. 2017 §3.5 defines one value per (position, i); the shapes "
                "do not broadcast and torch.log takes a tensor (math.log, position[:, None])",
            ),
        ),
        terms=terms,
        section="2",
        explanation="Each pair of columns is a sine and cosine of the position at one "
        "frequency; frequencies fall geometrically from 1 to 1/base.",
        creates=True,
        dtypes=FLOAT_DTYPES,
        positions=_sinusoid_positions,
    ),
    Spec(
        id="pe-learned",
        title="Learned positional table",
        latex=r"PE[p] = P[p],\ 0 \le p < L",
        sources=("seed 004 §3", "seed 001 §1.2"),
        function=pe_learned,
        domain={"positions": "int n or integers in [0, L)", "table": "(L, d) float"},
        cases=(
            Case("first 5 rows", {"positions": 5, "table": table}),
            Case("batch", {"positions": np.array([[0, 11], [3, 3]]), "table": table}),
            Case("last row", {"positions": np.array([11]), "table": table}, edge=True),
            Case(
                "past the table",
                {"positions": np.array([12]), "table": table},
                edge=True,
                raises=IndexError,
            ),
        ),
        error=ErrorModel(K=dict.fromkeys(FLOAT_DTYPES, 0), text="bit-exact gather"),
        invariants=("bit-exact gather",),
        terms=(*terms, "可学习编码"),
        section="2",
        explanation="A trainable table with one row per position.",
        float_args=("table",),
        dtypes=FLOAT_DTYPES,
    ),
    Spec(
        id="pe-sinusoidal-learnable",
        title="Learnable table started at the sinusoid",
        latex=r"P_0[p] = PE_{\sin}[p] + \sigma Z[p],\ Z \sim \mathcal N(0,1)",
        sources=("seed 001 §5.2",),
        function=pe_sinusoidal_learnable,
        domain={"max_len": "int > 0", "d": "int > 0", "noise_std": ">= 0", "seed": "int"},
        cases=(
            Case("no noise", {"max_len": 8, "d": 6}),
            Case("noise 0.1", {"max_len": 8, "d": 6, "noise_std": 0.1, "seed": 3}),
            Case("odd d", {"max_len": 4, "d": 5, "noise_std": 1.0, "seed": 4}, edge=True),
            Case(
                "noise without seed",
                {"max_len": 4, "d": 4, "noise_std": 0.5},
                edge=True,
                raises=TypeError,
            ),
        ),
        error=ErrorModel(
            K={"float64": 1, "float32": 1, "float16": 1},
            scale=_size_scale,
            text="eps (1 + |P_0|): the exact sinusoid plus the float64 draw, rounded once",
            usual=Bound(
                K={"float64": 2, "float32": 1, "float16": 1},
                scale=_learnable_scale,
                text="float64: the sinusoid's bound plus one rounding of the sum; "
                "others: rounded once from float64",
            ),
        ),
        invariants=("noise_std = 0 gives pe-sinusoidal exactly",),
        errata=(
            Erratum(
                seed="001 §5.2",
                seed_does="nn.Parameter(torch.randn(d_model, max_len)) + sinusoid: "
                "noise of std 1, table transposed (d, max_len)",
                refpe_does="table (max_len, d); noise of std noise_std (default 0), seeded",
                why="std-1 noise is as large as the signal; the model indexes the table "
                "as (max_len, d), as PE(pos, i) of Vaswani et al. 2017 §3.5",
            ),
        ),
        terms=terms,
        section="2",
        explanation="The sinusoid used as the starting value of a trainable table.",
        creates=True,
        dtypes=("float64", "float32", "float16"),
    ),
    Spec(
        id="pe-projected-sinusoid",
        title="Projected sinusoid",
        latex=r"E_{pos}(p) = \sin(\alpha p) W_1 + \cos(\alpha p) W_2",
        sources=("seed 001 §4.1", "seed 001 §4.2"),
        function=pe_projected_sinusoid,
        domain={"alpha": "scalar or (K,)", "w1, w2": "(d,) or (K, d)"},
        cases=(
            Case(
                "seed's form, K = 1",
                {
                    "positions": 6,
                    "alpha": np.array(0.3),
                    "w1": rng.standard_normal(8),
                    "w2": rng.standard_normal(8),
                },
            ),
            Case(
                "K = 3, batch",
                {
                    "positions": np.array([[0, 4], [9, 2]]),
                    "alpha": np.array([1.0, 0.1, 0.01]),
                    "w1": rng.standard_normal((3, 5)),
                    "w2": rng.standard_normal((3, 5)),
                },
            ),
            Case(
                "far positions",
                {
                    "positions": far,
                    "alpha": np.array([1.0, 1e-3]),
                    "w1": rng.standard_normal((2, 4)),
                    "w2": rng.standard_normal((2, 4)),
                },
                edge=True,
            ),
            Case(
                "w1, w2 differ",
                {"positions": 3, "alpha": np.array(0.3), "w1": np.ones(4), "w2": np.ones(5)},
                edge=True,
                raises=ValueError,
            ),
        ),
        error=ErrorModel(
            K={"float64": 2, "float32": 2},
            scale=_projected_size,
            text="sum over k of |W1_kj| + |W2_kj| (the absolute terms): the phase reduced "
            "exactly, the length-2K dot product in the widest float, rounded once",
            usual=Bound(
                K={"float64": 2, "float32": 2},
                scale=_projected_scale,
                text="sum over k of (1 + K + |p α_k|)(|W1_kj| + |W2_kj|): angle, sine and "
                "the length-2K dot product each rounded",
            ),
        ),
        invariants=("K = 1 with scalar alpha is the seed's formula",),
        errata=(
            Erratum(
                seed="001 §3.2, §4.2",
                seed_does="将位置信息 p 转换为 2p 维向量，其中 p 为嵌入维度: p is both the "
                "position and the embedding width; W_1, W_2 are called matrices",
                refpe_does="p is the position, d the width; W_1, W_2 are (d,) vectors for a "
                "scalar α_1, (K, d) for K frequencies (2K inputs: the text's 2p)",
                why="in seed 001 §4.1's E_pos(p) = sin(α_1 p) W_1 + cos(α_1 p) W_2 the "
                "argument p is the position and sin(α_1 p) one number: W_1 maps it to d",
            ),
        ),
        terms=terms,
        section="2",
        explanation="A sine and cosine of the position, mixed into d dimensions by two "
        "trainable weight vectors.",
        float_args=("alpha", "w1", "w2"),
    ),
    Spec(
        id="pe-linear",
        title="Linear positional encoding",
        latex=r"PE[p] = p\,w + b",
        sources=("seed 000 §2.3", "seed 000 §4.2", "seed 003 §5.2"),
        function=pe_linear,
        domain={"w, b": "(d,) or per-position (L, d)"},
        cases=(
            Case(
                "shared w, b",
                {"positions": 5, "w": rng.standard_normal(4), "b": rng.standard_normal(4)},
            ),
            Case(
                "per-position tables",
                {
                    "positions": np.array([[0, 3], [2, 1]]),
                    "w": rng.standard_normal((4, 3)),
                    "b": rng.standard_normal((4, 3)),
                },
            ),
            Case(
                "far positions",
                {"positions": far, "w": rng.standard_normal(3), "b": rng.standard_normal(3)},
                edge=True,
            ),
            Case(
                "past the tables",
                {"positions": np.array([4]), "w": np.ones((4, 2)), "b": np.ones((4, 2))},
                edge=True,
                raises=IndexError,
            ),
        ),
        error=ErrorModel(
            K={"float64": 1, "float32": 1},
            scale=_linear_scale,
            text="one rounding of the product and one of the sum: eps (|p w| + |b|)",
        ),
        invariants=("PE[p + 1] - PE[p] = w for shared w, b",),
        errata=(
            Erratum(
                seed="000 §4",
                seed_does="生成线性位置编码: tf.Variable(tf.random.uniform([sequence_length, "
                "embedding_dim])), a random table that does not grow with the position",
                refpe_does="PE[p] = p w + b; a trainable random table is pe-learned",
                why="§2.3 defines the linear encoding as a value that increases linearly "
                "with the position; a learned table is BERT's (Devlin et al. 2019)",
            ),
            Erratum(
                seed="003 §5.2",
                seed_does="positional_encoding[i](torch.tensor([[i]])) for i in range(100): "
                "an int64 input to nn.Linear(1, 100), never added to the embeddings",
                refpe_does="positions cast to the weights' float: PE[p] = p w_p + b_p; "
                "input-add adds the encoding to the token embeddings",
                why="nn.Linear multiplies by float weights and PyTorch does not promote "
                "int64 there (a dtype error); Vaswani et al. 2017 §3.5 sums PE and embedding",
            ),
        ),
        terms=(*terms, "线性位置编码"),
        section="2",
        explanation="Every position gets a value that grows linearly with it.",
        float_args=("w", "b"),
    ),
    Spec(
        id="pe-dual-linear",
        title="Dual linear positional encoding",
        latex=r"PE[p] = P_1[p] \odot P_2[p]",
        sources=("seed 000 §2.3", "seed 000 §4.2"),
        function=pe_dual_linear,
        domain={"pe1, pe2": "float arrays of one shape"},
        cases=(
            Case(
                "two tables",
                {"pe1": rng.standard_normal((5, 4)), "pe2": rng.standard_normal((5, 4))},
            ),
            Case(
                "batch",
                {"pe1": rng.standard_normal((2, 3, 4)), "pe2": rng.standard_normal((2, 3, 4))},
            ),
            Case("empty", {"pe1": np.zeros((0, 4)), "pe2": np.zeros((0, 4))}, edge=True),
            Case(
                "shapes differ",
                {"pe1": np.ones((5, 4)), "pe2": np.ones((4, 4))},
                edge=True,
                raises=ValueError,
            ),
        ),
        error=ErrorModel(K=dict.fromkeys(FLOAT_DTYPES, 0), text="one correctly rounded product"),
        invariants=("commutative",),
        errata=(
            Erratum(
                seed="000 §2.3, §4.2",
                seed_does="§2.3 says 交叉和 (cross sum); §4.2 writes P1[i] ⊙ P2[i]; "
                "the code implements neither",
                refpe_does="the element-wise product of §4.2",
                why="the only formula the seed gives (seed 000 §4.2)",
            ),
        ),
        terms=(*terms, "双线性位置编码"),
        section="2",
        explanation="Two encodings of the same positions multiplied element by element.",
        float_args=("pe1", "pe2"),
        dtypes=FLOAT_DTYPES,
    ),
)
