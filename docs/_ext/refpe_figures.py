"""Figures drawn at build time from the reference itself (matplotlib, Agg backend).

``FIGURES`` maps a spec id to its figures: ``(name, caption, function)``. Each function takes
the ``refpe`` module and returns a matplotlib ``Figure``; a spec that is not registered gets
no figure.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.titlesize": 10})


def sinusoid_layouts(refpe: Any) -> Any:
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True, constrained_layout=True)
    for ax, layout in zip(axes, ("interleaved", "concatenated"), strict=True):
        pe = refpe.pe_sinusoidal(64, 64, layout=layout)
        im = ax.imshow(pe, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_title(f'layout="{layout}"')
        ax.set_xlabel("column (feature)")
    axes[0].set_ylabel("position p")
    fig.colorbar(im, ax=axes, shrink=0.9, label="PE[p, column] (unitless, -1 to 1)")
    return fig


def sinusoid_schedules(refpe: Any) -> Any:
    d = 64
    fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
    for schedule, style in (("transformer", "o-"), ("t2t", "s--")):
        row = np.asarray(
            refpe.pe_sinusoidal(np.asarray([1]), d, layout="concatenated", schedule=schedule)
        )
        omega = np.arcsin(row[0, : d // 2])
        ax.semilogy(np.arange(d // 2), omega, style, ms=3, label=f'schedule="{schedule}"')
    ax.set_xlabel("frequency index i")
    ax.set_ylabel(r"$\omega_i$ (read back as arcsin PE[1, i])")
    ax.set_title(f"frequency schedules, d = {d}, base = 10000")
    ax.legend()
    return fig


def sinusoid_pow_error(refpe: Any) -> Any:
    d = 128
    positions = np.unique(np.geomspace(1, 2**20, 160).astype(np.int64))
    exact = np.asarray(refpe.pe_sinusoidal(positions, d, dtype="float64"))
    ours = np.asarray(refpe.pe_sinusoidal(positions, d, dtype="float32"), dtype=np.float64)
    i = np.arange(d // 2, dtype=np.float32)
    p32 = positions.astype(np.float32)[:, None]
    angle = p32 / np.power(np.float32(10000.0), np.float32(2.0) * i / np.float32(d))
    naive = np.empty((positions.size, d), dtype=np.float32)
    naive[:, 0::2], naive[:, 1::2] = np.sin(angle), np.cos(angle)
    eps = 2.0**-23
    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    for y, label in ((naive, "pow form, float32: p / 10000**(2i/d)"), (ours, "refpe, float32")):
        err = np.max(np.abs(np.asarray(y, dtype=np.float64) - exact), axis=1) / eps
        ax.loglog(positions, np.maximum(err, 1e-3), label=label)
    ax.set_ylim(1e-3 / 1.5, None)
    K = refpe.spec("pe-sinusoidal").error.K.get("float32")
    if K:
        ax.axhline(K, color="k", lw=0.8, ls=":", label=f"error model: K = {K:g}")
    ax.set_xlabel("position p")
    ax.set_ylabel("max |y - exact| / eps(float32)")
    ax.set_title(f"float32 error along positions, d = {d}")
    ax.legend()
    return fig


def rope_rotation(refpe: Any) -> Any:
    head_dim, steps = 8, 25
    radii = np.array([1.0, 0.8, 0.6, 0.4])
    x = np.zeros((steps, head_dim))
    x[:, 0::2] = radii
    y = np.asarray(refpe.rope(x, np.arange(steps), layout="interleaved", base=10.0))
    fig, ax = plt.subplots(figsize=(5.5, 5.2), constrained_layout=True)
    theta = refpe.rope_inv_freq(head_dim, base=10.0)[0]
    for k in range(head_dim // 2):
        ax.plot(y[:, 2 * k], y[:, 2 * k + 1], color=f"C{k}", lw=0.6, alpha=0.35)
        ax.scatter(
            y[:, 2 * k],
            y[:, 2 * k + 1],
            s=10,
            color=f"C{k}",
            label=rf"pair {k}: $\theta_{k}$ = {float(theta[k]):.3g}",
        )
    ax.set_aspect("equal")
    ax.set_xlabel("first feature of the pair, y[2k]")
    ax.set_ylabel("second feature of the pair, y[2k+1]")
    ax.set_title("RoPE: each pair turns by p·θ_i (p = 0..24, base 10)")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def rope_relative(refpe: Any) -> Any:
    rng = np.random.default_rng(0)
    T, head_dim = 48, 32
    q, k = rng.standard_normal(head_dim), rng.standard_normal(head_dim)
    pos = np.arange(T)
    rq = np.asarray(refpe.rope(np.tile(q, (T, 1)), pos))
    rk = np.asarray(refpe.rope(np.tile(k, (T, 1)), pos))
    scores = rq @ rk.T
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6), constrained_layout=True)
    im = a.imshow(scores, cmap="viridis", interpolation="nearest")
    a.set_title(r"$\langle R_m q, R_n k\rangle$: constant along diagonals")
    a.set_xlabel("key position n")
    a.set_ylabel("query position m")
    fig.colorbar(im, ax=a, shrink=0.85)
    for m in (15, 30, 47):
        n = np.arange(m + 1)
        b.plot(m - n, scores[m, n], lw=1.2, label=f"m = {m}")
    b.set_xlabel("m - n (query position minus key position)")
    b.set_ylabel("score (unitless)")
    b.set_title("the same score curve from every m (the curves coincide)")
    b.legend()
    return fig


def alibi_matrices(refpe: Any) -> Any:
    H, T = 8, 12
    fig, axes = plt.subplots(2, 4, figsize=(9, 5), constrained_layout=True)
    slopes = np.asarray(refpe.alibi_slopes(H))
    for row, causal in enumerate((True, False)):
        bias = np.asarray(refpe.alibi(H, T, T, causal=causal))
        if causal:
            bias = np.where(np.tril(np.ones((T, T), dtype=bool)), bias, np.nan)
        for col, h in enumerate((0, 2, 4, 7)):
            ax = axes[row, col]
            im = ax.imshow(bias[h], cmap="magma", interpolation="nearest")
            ax.set_title(rf"head {h}: $m = 2^{{{int(np.log2(slopes[h]))}}}$")
            ax.set_xticks([0, T - 1])
            ax.set_yticks([0, T - 1])
            ax.set_xlabel("key j", fontsize=7)
            fig.colorbar(im, ax=ax, shrink=0.7, label="bias")
        kind = "causal (future blank)" if causal else "bidirectional"
        axes[row, 0].set_ylabel(f"{kind}\nquery i")
    fig.suptitle(f"ALiBi biases, H = {H} heads, {T} x {T} (query rows, key columns)")
    return fig


def t5_buckets(refpe: Any) -> Any:
    rel = np.arange(-160, 161)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.5, 3.6), constrained_layout=True)
    for bidirectional in (True, False):
        a.step(
            rel,
            np.asarray(refpe.t5_bucket(rel, bidirectional=bidirectional)),
            where="mid",
            label=f"bidirectional={bidirectional}",
        )
    a.axvline(-128, color="k", lw=0.6, ls=":")
    a.axvline(128, color="k", lw=0.6, ls=":", label="max_distance = 128")
    a.set_xlabel("relative position (key - query)")
    a.set_ylabel("bucket (num_buckets = 32)")
    a.legend(fontsize=7)
    T = 64
    grid = np.arange(T)[None, :] - np.arange(T)[:, None]
    im = b.imshow(np.asarray(refpe.t5_bucket(grid)), cmap="tab20c", interpolation="nearest")
    b.set_title(f"bucket map, {T} x {T}, bidirectional")
    b.set_xlabel("key position")
    b.set_ylabel("query position")
    fig.colorbar(im, ax=b, shrink=0.85, label="bucket index")
    return fig


def _hist(ax: Any, w: Any, label: str, **kw: Any) -> None:
    ax.hist(
        np.asarray(w).ravel(), bins=120, density=True, histtype="step", lw=1.2, label=label, **kw
    )


def init_std_vs_variance(refpe: Any) -> Any:
    n = 200_000
    fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
    _hist(ax, refpe.init_normal((n,), seed=0, std=0.02), "refpe: std = 0.02 (the seed's code)")
    _hist(
        ax, refpe.init_normal((n,), seed=0, std=0.02**0.5), "the text read literally: variance 0.02"
    )
    ax.set_xlim(-0.6, 0.6)
    ax.set_xlabel("weight value")
    ax.set_ylabel("density")
    ax.set_title("seed 004 §1: 'variance 0.02' vs torch.randn(dim) * 0.02")
    ax.legend(fontsize=8)
    return fig


def init_shapes(refpe: Any) -> Any:
    n = 200_000
    fig, ax = plt.subplots(figsize=(8, 3.4), constrained_layout=True)
    _hist(ax, refpe.init_normal((n,), seed=1, std=0.02), "normal, std 0.02")
    _hist(
        ax,
        refpe.init_truncated_normal((n,), seed=1, std=0.02),
        "truncated normal, std 0.02, ±2 std",
    )
    _hist(ax, refpe.init_uniform((n,), seed=1, a=0.05), "uniform, a = 0.05")
    for x in (-0.04, 0.04):
        ax.axvline(x, color="k", lw=0.6, ls=":")
    ax.set_xlabel("weight value")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    return fig


def init_framework(refpe: Any) -> Any:
    shape = (400, 256)
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), constrained_layout=True)
    cases = (
        ("torch", "embedding", "torch nn.Embedding: N(0, 1)"),
        ("torch", "linear", "torch nn.Linear: U(±1/sqrt(fan_in))"),
        ("keras", "embedding", "Keras Embedding: U(±0.05)"),
        ("tf", "embedding", "tf.random.uniform: U[0, 1)"),
    )
    for ax, (fw, kind, title) in zip(axes, cases, strict=True):
        w = refpe.init_framework_default(shape, framework=fw, kind=kind, seed=0)
        ax.hist(np.asarray(w).ravel(), bins=80, density=True, color="C0")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("weight value")
        ax.set_yticks([])
    axes[0].set_ylabel("density")
    return fig


def rope_scalings(refpe: Any) -> Any:
    r = 128
    configs = (
        ("linear, factor 4", 1e4, {"rope_type": "linear", "factor": 4.0}),
        ("ntk, factor 4", 1e4, {"rope_type": "ntk", "factor": 4.0}),
        ("yarn, factor 16, L0 4096", 1e4,
         {"rope_type": "yarn", "factor": 16.0, "original_max_position_embeddings": 4096}),
        ("llama3, factor 8, L0 8192 (base 5e5)", 5e5,
         {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8192}),
    )  # fmt: skip
    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    for label, base, scaling in configs:
        scaled, factor = refpe.rope_inv_freq(r, base=base, scaling=scaling)
        plain, _ = refpe.rope_inv_freq(r, base=base)
        ratio = np.asarray(scaled) / np.asarray(plain)
        ax.semilogy(np.arange(r // 2), ratio, label=f"{label}; attention factor {factor:.3g}")
    ax.set_xlabel("frequency index i (high frequency on the left)")
    ax.set_ylabel(r"$\theta_i^{scaled} / \theta_i$")
    ax.set_title(f"RoPE frequency rescalings, rotary_dim = {r}")
    ax.legend(fontsize=8)
    return fig


def sinusoid_2d(refpe: Any) -> Any:
    h = w = 14
    d = 16
    table = np.asarray(refpe.pe_sinusoidal_2d(h, w, d, base=100.0))
    fig, axes = plt.subplots(1, 4, figsize=(9, 2.8), constrained_layout=True)
    for ax, col in zip(axes, (0, 1, d // 2, d // 2 + 1), strict=True):
        ax.imshow(table[:, col].reshape(h, w), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"column {col}")
        ax.set_xlabel("patch column c")
        ax.set_ylabel("patch row r")
        ax.set_xticks([0, w - 1])
        ax.set_yticks([0, h - 1])
    fig.suptitle(f"2-D sin-cos table, {h} x {w} patches, d = {d}, base 100: columns on the grid")
    return fig


def seed_attention_vs_sdpa(refpe: Any) -> Any:
    rng = np.random.default_rng(0)
    n, d = 6, 8
    E = rng.standard_normal((n, d))
    W = rng.standard_normal((d, d)) * 0.5
    w = np.asarray(refpe.attn_seed_simplified(E, W, np.zeros(d), c=(1.0, 0.0, 0.0)))
    a = np.asarray(refpe.attn_sdpa(E[None], E[None], np.eye(n)[None]))[0]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    im = left.imshow(w, cmap="viridis", vmin=0)
    left.set_title("seed 002: w_i = softmax(W E_i + b)\nover the d features")
    left.set_xlabel("feature k")
    left.set_ylabel("position i")
    fig.colorbar(im, ax=left, shrink=0.8)
    im = right.imshow(a, cmap="viridis", vmin=0)
    right.set_title("scaled dot-product attention\nsoftmax(Q K^T / sqrt(d)) over the positions")
    right.set_xlabel("key position j")
    right.set_ylabel("query position i")
    fig.colorbar(im, ax=right, shrink=0.8)
    return fig


Figure = tuple[str, str, Callable[[Any], Any]]

FIGURES: dict[str, tuple[Figure, ...]] = {
    "pe-sinusoidal": (
        (
            "layouts",
            "Both layouts of the same table (d = 64): pairs of columns, or all sines "
            "then all cosines.",
            sinusoid_layouts,
        ),
        (
            "schedules",
            "The two frequency schedules: the Transformer's base^(-2i/d) and "
            "tensor2tensor's base^(-i/(d/2 - 1)).",
            sinusoid_schedules,
        ),
        (
            "pow-error",
            "Error of a float32 table along positions: the common pow form rounds "
            "the angle in float32, so its error grows with p; refpe rounds once.",
            sinusoid_pow_error,
        ),
    ),
    "rope": (
        (
            "rotation",
            "RoPE turns each pair of features by an angle proportional to the "
            "position, at its own frequency.",
            rope_rotation,
        ),
        (
            "relative",
            "The score between a rotated query and a rotated key depends only on m - n.",
            rope_relative,
        ),
    ),
    "rope-scaling": (
        (
            "ratios",
            "How each rescaling changes the rotary frequencies: linear divides all of them, NTK "
            "raises the base, YaRN and Llama 3 keep the high frequencies and divide the low ones.",
            rope_scalings,
        ),
    ),
    "pe-sinusoidal-2d": (
        (
            "grid",
            "The first half of the columns encodes one axis of the patch grid, the second half "
            "the other.",
            sinusoid_2d,
        ),
    ),
    "attn-seed-simplified": (
        (
            "vs-sdpa",
            "Not scaled dot-product attention: seed 002's weights are a softmax over each "
            "position's features (rows of length d), SDPA's a softmax over the positions.",
            seed_attention_vs_sdpa,
        ),
    ),
    "alibi": (("matrices", "ALiBi bias matrices for four of eight heads.", alibi_matrices),),
    "t5-bias": (
        (
            "buckets",
            "T5 relative-position buckets: exact near 0, log-spaced up to "
            "max_distance, then constant.",
            t5_buckets,
        ),
    ),
    "init-normal": (
        (
            "std-vs-variance",
            "The seed 004 erratum: std 0.02 (what the code does "
            "and refpe does) against variance 0.02 (what the text says).",
            init_std_vs_variance,
        ),
    ),
    "init-truncated-normal": (
        (
            "shapes",
            "Normal, truncated normal and uniform initialisers (200 000 draws each).",
            init_shapes,
        ),
    ),
    "init-framework-defaults": (
        ("defaults", "The framework defaults, drawn by refpe.", init_framework),
    ),
}


def render(fn: Callable[[Any], Any], refpe: Any) -> tuple[bytes, int]:
    """``fn(refpe)`` as PNG bytes at 150 dpi (no timestamp: a rebuild gives the same file) and
    the width in CSS pixels to show it at (100 per inch)."""
    fig = fn(refpe)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, metadata={"Software": None})
    width = round(fig.get_figwidth() * 100)
    plt.close(fig)
    return buf.getvalue(), width


def bench_sweep(sw: dict[str, Any]) -> Any:
    """One swept benchmark of a ``refpe-bench/1`` report: median time against size, log-log."""
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    axis = sw["axis"]
    xs = [p[axis] for p in sw["points"]]
    styles = ("o-", "s--", "^-.", "d:", "v-", "x--")
    labels = sorted({k for p in sw["points"] for k in p["seconds"]})
    for n, label in enumerate(labels):
        ys = [p["seconds"].get(label) for p in sw["points"]]
        pts = [(x, y) for x, y in zip(xs, ys, strict=True) if y]
        if pts:
            ax.loglog(*zip(*pts, strict=True), styles[n % len(styles)], ms=4, label=label)
    fixed = ", ".join(f"{k}={v}" for k, v in sw.get("fixed", {}).items())
    ax.set_title(f"{sw['spec']} on {sw['backend']} ({fixed})")
    ax.set_xlabel(f"{axis} (elements along the swept axis)")
    ax.set_ylabel("median time (s)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig
