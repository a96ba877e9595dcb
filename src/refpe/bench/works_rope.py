"""Benchmarks of RoPE (``rope``): rotating ``q`` and ``k`` on NumPy, PyTorch and JAX against
Hugging Face's ``apply_rotary_pos_emb`` and the usual ``rotate_half`` form under ``jax.jit``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import refpe
from refpe.kernels import rotary as KR
from refpe.kernels import rotary_fused
from refpe.kernels import rotary_torch as KT

from .work import Candidate, Work, copy_candidate, fallback_candidate, normalised


def _rope_errors(x: np.ndarray, T: int) -> Callable[[dict[str, Any]], dict[str, float]]:
    """Errors of float32 rotations of ``x`` (the first output) against the float64 reference."""

    def errors(out: dict[str, Any]) -> dict[str, float]:
        exact = refpe.rope(x.astype(np.float64), T, kernel="reference")
        return {
            lab: normalised("rope", v, exact, {"x": x, "positions": T}, "float32")
            for lab, v in out.items()
            if lab != "copy"
        }

    return errors


def _hf_cos_sin(T: int, D: int) -> tuple[Any, Any]:
    """cos and sin as Hugging Face's LlamaRotaryEmbedding computes them (float32)."""
    import torch

    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    freqs = (inv[None, :, None] @ torch.arange(T, dtype=torch.float32)[None, None, :]).transpose(
        1, 2
    )
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def _rope_jax_works(q: np.ndarray, k: np.ndarray, shape: tuple, hf: Candidate) -> list[Work]:
    """RoPE on JAX arrays: the kernel (``jax.jit``) against the usual ``rotate_half`` form
    under ``jax.jit`` with float32 ``pow``-form tables (as Flax/HF write it)."""
    import jax
    import jax.numpy as jnp

    T, D = shape[-2], shape[-1]
    jq, jk = jnp.asarray(q), jnp.asarray(k)
    inv = 1.0 / (10000.0 ** (jnp.arange(0, D, 2, dtype=jnp.float32) / D))
    ang = jnp.arange(T, dtype=jnp.float32)[:, None] * inv
    cos, sin = jnp.cos(jnp.concatenate([ang, ang], -1)), jnp.sin(jnp.concatenate([ang, ang], -1))

    @jax.jit
    def usual(a: Any, b: Any) -> Any:
        def rot(x: Any) -> Any:
            return jnp.concatenate([-x[..., D // 2 :], x[..., : D // 2]], -1)

        return a * cos + rot(a) * sin, b * cos + rot(b) * sin

    copy = jax.jit(lambda a: a + 0.0)
    both = jnp.concatenate([jq.reshape(-1), jk.reshape(-1)])

    def ref() -> Any:
        return refpe.rope(jq, T, kernel="reference"), refpe.rope(jk, T, kernel="reference")

    return [
        Work(
            "rope",
            "apply q, k",
            "jax",
            "float32",
            {"q": shape, "k": shape},
            2 * q.nbytes,
            [
                Candidate("reference", "reference", "refpe.rope", ref),
                Candidate(
                    "kernel",
                    "kernel",
                    "kernels.rope_jax (jax.jit)",
                    lambda: (KR.rope_jax(jq, T), KR.rope_jax(jk, T)),
                ),
                Candidate(
                    "peer",
                    "peer",
                    "rotate_half form under jax.jit (float32 tables)",
                    lambda: usual(jq, jk),
                ),
                Candidate("peer-hf", "baseline", hf.name, hf.fn, hf.skipped),
                Candidate("copy", "copy", "jax.jit(x + 0)", lambda: copy(both)),
            ],
            _rope_errors(q, T),
            note="half layout, positions 0..T-1; the peer is the usual form compiled by XLA",
        )
    ]


def rope_works(backend: str, size: dict) -> list[Work]:
    import torch

    shape = size["shape"]
    T, D = shape[-2], shape[-1]
    g = np.random.default_rng(2)
    q = g.standard_normal(shape).astype(np.float32)
    k = g.standard_normal(shape).astype(np.float32)
    cos, sin = _hf_cos_sin(T, D)
    try:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    except ImportError as exc:
        peer = Candidate("peer", "peer", "transformers apply_rotary_pos_emb", None, f"{exc}")
    else:
        tq, tk = torch.from_numpy(q), torch.from_numpy(k)
        peer = Candidate(
            "peer",
            "peer",
            "transformers apply_rotary_pos_emb (eager, torch CPU)",
            lambda: apply_rotary_pos_emb(tq, tk, cos, sin),
        )
    errors = _rope_errors(q, T)  # q on the host (torch tensors below share its memory)
    tables = [rope_tables_float64_work(4 * T, D)] if backend == "numpy" else []
    oq, ok = np.empty_like(q), np.empty_like(k)
    if backend == "jax":
        return _rope_jax_works(q, k, shape, peer)
    if backend == "torch":
        q, k, oq, ok = (torch.from_numpy(a) for a in (q, k, oq, ok))
        kern = KT.rope_torch
        copy_src = torch.cat([q.reshape(-1), k.reshape(-1)])
    else:
        kern = KR.rope
        copy_src = np.concatenate([q.reshape(-1), k.reshape(-1)])
    slow = []  # the three-pass NumPy kernel, where Numba's one pass would answer
    if backend == "numpy":
        name = "kernels.rope(out=buffer), three passes (without numba)"
        slow = fallback_candidate(name, lambda: (kern(q, T, out=oq), kern(k, T, out=ok)),
                                  rotary_fused)  # fmt: skip

    return [
        Work(
            "rope",
            "apply q, k",
            backend,
            "float32",
            {"q": shape, "k": shape},
            2 * q.numel() * 4 if backend == "torch" else 2 * q.nbytes,
            [
                Candidate(
                    "reference",
                    "reference",
                    "refpe.rope",
                    lambda: (
                        refpe.rope(q, T, kernel="reference"),
                        refpe.rope(k, T, kernel="reference"),
                    ),
                ),
                Candidate(
                    "kernel",
                    "kernel",
                    f"kernels.{kern.__name__}(out=buffer)",
                    lambda: (kern(q, T, out=oq), kern(k, T, out=ok)),
                ),
                Candidate(
                    "kernel-alloc",
                    "kernel",
                    f"kernels.{kern.__name__} (new output)",
                    lambda: (kern(q, T), kern(k, T)),
                ),
                *slow,
                peer,
                copy_candidate(backend, copy_src),
            ],
            errors,
            note="half layout, positions 0..T-1, cos/sin tables precomputed (cached)",
        ),
        *tables,
    ]


def rope_tables_float64_work(T: int, D: int) -> Work:
    """The float64 cos/sin tables of the half layout: the kernel's (the exact phase reduction)
    against the plain float64 form ``cos(cat(f, f))``, ``sin(cat(f, f))`` with
    ``f = outer(p, inv_freq)``, as Hugging Face computes them (the cost of exactness)."""
    from refpe._precision import exact_sin_cos_table

    inv = 1.0 / (10000.0 ** (np.arange(0, D, 2, dtype=np.float64) / D))
    pos = np.arange(T, dtype=np.float64)

    def plain() -> tuple[np.ndarray, np.ndarray]:
        emb = np.outer(pos, inv)
        emb = np.concatenate([emb, emb], axis=-1)
        sin = np.sin(emb)
        sin[:, : D // 2] *= -1.0
        return np.cos(emb), sin

    def errors(out: dict[str, Any]) -> dict[str, float]:
        theta = KR._inv_freq(D, 10000.0, None, None)[0]
        sin, cos = exact_sin_cos_table(np.arange(T), theta)  # within an ulp of float64
        exact = np.concatenate([cos, cos], -1), np.concatenate([-sin, sin], -1)
        eps = np.finfo(np.float64).eps
        return {lab: max(float(np.max(np.abs(a - b))) for a, b in zip(v, exact, strict=True)) / eps
                for lab, v in out.items() if lab != "copy"}  # fmt: skip

    table = np.concatenate([a.reshape(-1) for a in plain()])
    return Work(
        "rope",
        "tables float64",
        "numpy",
        "float64",
        {"T": T, "D": D},
        table.nbytes,
        [
            Candidate(
                "kernel",
                "kernel",
                "kernels.rotary tables float64 (uncached)",
                lambda: KR._rope_coefficients(
                    np.arange(T), D, D, 10000.0, "null", "half", "float64"
                ),
            ),
            Candidate("peer", "peer", "plain float64 form: cos, sin of cat(p*inv, p*inv)", plain),
            copy_candidate("numpy", table),
        ],
        errors,
        note="the half layout's C = cos and S = [-sin, sin] at positions 0..T-1; error in "
        "float64 eps (absolute) against the exact phase reduction",
    )
