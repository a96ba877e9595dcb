"""``refpe bench``: throughput of the hot specs, as ratios measured in the same run.

Every benchmark (a *work*: one spec, one backend, one size) runs a few *candidates* on the
same inputs: ``reference`` (the refpe function with ``kernel="reference"``), ``kernel``
(``refpe.kernels``: what the public function answers through by default),
``peer`` (what people use: the float32 ``pow``-form sinusoid, Hugging Face's
``apply_rotary_pos_emb``, ``np.take`` / ``F.embedding``, ``np.add.at`` / ``index_add_``,
gensim, ``tokenizers``) and ``copy`` (a memory copy of the output's bytes on the same
backend; for file readers, reading the file's bytes). Candidates are timed round-robin
(warm-up rounds first, then ``repeats`` rounds, each candidate once per round, the backend
synchronised after each call) so a shared machine's load falls on all of them alike; the
median is reported (a work whose rounds would take over a minute gets fewer, at least 3).
``vs_copy = t_copy / t`` (1.0: copy speed) and ``vs_peer = t_peer / t`` (> 1: faster than
the peer) compare within the run; for the sinusoid table ``vs_sin = t_sin / t`` compares with
the library's own float32 ``sin`` over as many elements. Where cheap, each output's normalised
error under the spec's error model is measured against the float64 reference.

JSON (``--json PATH``), schema ``refpe-bench/1``::

    {"schema": "refpe-bench/1", "created": ISO-8601 UTC, "quick": bool, "seconds": float,
     "machine": {"platform", "processor", "cpus", "memory_bytes", "python",
                 "load_before": [1, 5, 15 min], "load_after": [...], "torch_threads"},
     "libraries": {name: version},
     "settings": {"repeats": int, "warmup": int},
     "results": [{"spec", "case", "backend", "device", "dtype", "shape": {...},
                  "bytes": int (the bytes the copy baseline moves), "note": str,
                  "candidates": {label: {"role": "reference"|"kernel"|"peer"|"copy"|"baseline",
                                         "name": what ran, "median_s", "min_s",
                                         "runs_s": [...], "gbytes_per_s",
                                         "vs_copy", "vs_peer", "vs_sin", "error",
                                         "peak_bytes",
                                         "skipped": reason (then no timings)}}}],
     "targets": [{"name", "measured", "target", "met"}],
     "sweeps": [{"spec", "backend", "axis": "T"|"d", "fixed": {...},
                 "points": [{"T", "d", "seconds": {label: median_s}}]}]}

``error`` is ``max |y - y64| / (eps * scale)`` (``scale`` from the spec; 0 means
bit-exact) or ``null`` where not measured; ``peak_bytes`` is the tracemalloc peak of one
extra, untimed call (NumPy candidates of file readers and of the embedding gradient).
"""

from __future__ import annotations

import datetime
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import refpe
from refpe.kernels import embedding as KE
from refpe.kernels import grad as KG
from refpe.kernels import positional as KP
from refpe.kernels import rotary as KR
from refpe.kernels import rotary_torch as KT

from . import get

SCHEMA = "refpe-bench/1"
SPECS = (
    "pe-sinusoidal",
    "rope",
    "token-lookup",
    "input-add",
    "embedding-grad",
    "pretrained-formats",
    "tok-wordpiece",
)
BACKENDS = ("numpy", "torch")
#: Backends benchmarked when asked for (``--backend jax``), on these specs only.
OPTIONAL = {"jax": ("rope",)}
FULL = {
    "pe-sinusoidal": {"T": 8192, "d": 1024, "ids": (16, 2048)},
    "rope": {"shape": (4, 32, 2048, 128)},
    "token-lookup": {"V": 50000, "d": 512, "ids": (16, 2048)},
    "input-add": {"V": 50000, "d": 512, "ids": (16, 2048)},
    "embedding-grad": {"V": 50000, "d": 512, "N": 10**6},
    "pretrained-formats": {"n": 100000, "d": 300},
    "tok-wordpiece": {"words": 200000},
}
QUICK = {
    "pe-sinusoidal": {"T": 512, "d": 64, "ids": (2, 64)},
    "rope": {"shape": (1, 2, 64, 16)},
    "token-lookup": {"V": 1000, "d": 32, "ids": (2, 32)},
    "input-add": {"V": 1000, "d": 32, "ids": (2, 32)},
    "embedding-grad": {"V": 500, "d": 16, "N": 2000},
    "pretrained-formats": {"n": 300, "d": 20},
    "tok-wordpiece": {"words": 300},
}
SWEEP_T = (128, 512, 2048, 8192, 32768)
SWEEP_D = (64, 256, 1024, 4096)
SWEEP_HEAD = (64, 128, 256, 512)
#: Seconds of timed rounds per work above which fewer rounds are run (never fewer than 3).
BUDGET_S = 60.0
#: The reference converts grad_out to float64: above this many elements it is not timed.
REFERENCE_GRAD_LIMIT = 2**26


@dataclass
class Candidate:
    """One implementation of a work: ``fn()`` computes the output from prepared inputs."""

    label: str
    role: str
    name: str
    fn: Callable[[], Any] | None
    skipped: str = ""
    peak: bool = False


@dataclass
class Work:
    """One benchmark: a spec on a backend at one size, with its candidates."""

    spec: str
    case: str
    backend: str
    dtype: str
    shape: dict[str, Any]
    bytes: int
    candidates: list[Candidate]
    #: ``outputs -> {label: normalised error}`` under the spec's error model.
    errors: Callable[[dict[str, Any]], dict[str, float]] | None = None
    note: str = ""
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)


def zipf_ids(n: int, V: int, seed: int = 0) -> np.ndarray:
    """``n`` token ids with a Zipf(1.2) frequency profile folded into ``[0, V)``."""
    return (np.random.default_rng(seed).zipf(1.2, n) - 1) % V


def normalised(spec_id: str, y: Any, exact: np.ndarray, inputs: dict, dtype: str) -> float:
    """``max |y - exact| / (eps(dtype) * scale)`` with the spec's scale (0/0 counts as 0)."""
    from refpe.registry import EPS

    scale = refpe.spec(spec_id).error.bound_scale(inputs, exact, dtype)
    diff = np.abs(to_host(y).astype(np.float64) - exact)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(diff == 0, 0.0, diff / (EPS[dtype] * scale))
    return float(err.max()) if err.size else 0.0


def to_host(x: Any) -> np.ndarray:
    from . import to_host as host

    return np.asarray(host(x[0] if isinstance(x, tuple) else x))


# --- works ------------------------------------------------------------------------------------


def _copy(backend: str, src: Any) -> Candidate:
    if backend == "torch":
        dst = src.clone()
        return Candidate("copy", "copy", "Tensor.copy_", lambda: dst.copy_(src))
    dst = np.empty_like(src)
    return Candidate("copy", "copy", "np.copyto", lambda: np.copyto(dst, src))


def _sin(backend: str, like: Any) -> Candidate:
    """The library's own float32 ``sin`` over as many elements (the issue's yardstick)."""
    if backend == "torch":
        import torch

        x, out = torch.rand_like(like) * 100, torch.empty_like(like)
        return Candidate("sin", "baseline", "torch.sin", lambda: torch.sin(x, out=out))
    x = (np.random.default_rng(0).random(like.shape) * 100).astype(like.dtype)
    out = np.empty_like(like)
    return Candidate("sin", "baseline", "np.sin", lambda: np.sin(x, out=out))


def _xp(backend: str) -> Any:
    return get(backend).namespace()


def _numpy_pow_form(T: int, d: int, start: int = 0) -> np.ndarray:
    """The usual float32 table: ``exp(arange(0, d, 2) * (-ln(10^4) / d))``, then sin/cos of
    the float32 products, at positions ``start .. start+T-1``."""
    pos = np.arange(start, start + T, dtype=np.float32)[:, None]
    div = np.exp(np.arange(0, d, 2, dtype=np.float32) * np.float32(-math.log(1e4) / d))
    pe = np.zeros((T, d), np.float32)
    pe[:, 0::2], pe[:, 1::2] = np.sin(pos * div), np.cos(pos * div)
    return pe


def _sinusoid_errors(
    T: int, d: int, offset: int = 0, skip: tuple[str, ...] = ("copy",)
) -> Callable[[dict[str, Any]], dict[str, float]]:
    """Errors of float32 tables at positions ``offset ..`` against the float64 reference."""

    def errors(out: dict[str, Any]) -> dict[str, float]:
        exact = refpe.pe_sinusoidal(T, d, offset=offset, dtype="float64", kernel="reference")
        inputs = {"positions": T, "d": d, "offset": offset}
        return {k: normalised("pe-sinusoidal", v, exact, inputs, "float32") for k, v in out.items()
                if k not in skip}  # fmt: skip

    return errors


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


def sinusoid_works(backend: str, size: dict) -> list[Work]:
    T, d = size["T"], size["d"]
    xp = _xp(backend)
    B = get(backend)
    key = (T, d, 10000.0, "interleaved", "transformer", 0, "float32")
    sinusoid = KP.pe_sinusoidal_torch if backend == "torch" else KP.pe_sinusoidal
    if backend == "torch":
        import torch

        def pow_form() -> Any:
            pos = torch.arange(T, dtype=torch.float32)[:, None]
            div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
            pe = torch.zeros(T, d)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
            return pe

        def build() -> Any:
            table = KP.sinusoid_table.__wrapped__(*key)
            table.flags.writeable = True
            return torch.from_numpy(table)

        peer_name = "torch pow form: exp(arange(0,d,2)*(-ln(1e4)/d)) in float32"
    else:

        def pow_form() -> Any:
            return _numpy_pow_form(T, d)

        def build() -> Any:
            return KP.sinusoid_table.__wrapped__(*key)

        peer_name = "NumPy pow form: exp(arange(0,d,2)*(-ln(1e4)/d)) in float32"
    table = pow_form()

    table_work = Work(
        "pe-sinusoidal",
        "table",
        backend,
        "float32",
        {"T": T, "d": d},
        T * d * 4,
        [
            Candidate(
                "reference",
                "reference",
                "refpe.pe_sinusoidal",
                lambda: refpe.pe_sinusoidal(T, d, dtype="float32", xp=xp, kernel="reference"),
            ),
            Candidate("kernel", "kernel", "kernels.sinusoid_table (uncached)", build),
            Candidate(
                "kernel-cached",
                "kernel",
                "kernels.pe_sinusoidal (cached)",
                lambda: sinusoid(T, d, dtype="float32", xp=xp),
            ),
            Candidate("peer", "peer", peer_name, pow_form),
            _sin(backend, table),
            _copy(backend, table),
        ],
        _sinusoid_errors(T, d),
        note="the table for positions 0..T-1; vs_sin: the library's own sin over T*d floats",
    )
    ids = np.random.default_rng(1).integers(0, T, size["ids"])
    pos = B.asarray(ids, None, "cpu")
    cached = sinusoid(T, d, dtype="float32", xp=xp)
    if backend == "torch":
        import torch

        def take() -> Any:
            return torch.nn.functional.embedding(pos, cached)

        take_name = "F.embedding(positions, table)"
    else:

        def take() -> Any:
            return np.take(cached, pos, axis=0)

        take_name = "np.take(table, positions, axis=0)"
    lookup = Work(
        "pe-sinusoidal",
        "lookup",
        backend,
        "float32",
        {"positions": size["ids"], "d": d},
        ids.size * d * 4,
        [
            Candidate(
                "reference",
                "reference",
                "refpe.pe_sinusoidal(positions)",
                lambda: refpe.pe_sinusoidal(pos, d, dtype="float32", kernel="reference"),
            ),
            Candidate(
                "kernel",
                "kernel",
                "kernels.pe_sinusoidal(positions), cached table",
                lambda: sinusoid(pos, d, dtype="float32"),
            ),
            Candidate("peer", "peer", take_name, take),
            _copy(backend, take()),
        ],
        note="rows of a cached table at an array of positions",
    )
    return [table_work, lookup, *([far_table_work(T, d)] if backend == "numpy" else [])]


#: The first position of the far table: past it float32 ``sin`` takes its slow path.
FAR = 10**6


def far_table_work(T: int, d: int) -> Work:
    """The table at positions ``FAR .. FAR+T-1``: the float32 ``pow`` form (and ``np.sin``
    itself) meet arguments past ``|x| = 10^5``, where NumPy's float32 ``sin`` leaves its
    vectorised path; the kernel computes sines of block starts in float64 only."""

    def pow_form() -> Any:
        return _numpy_pow_form(T, d, FAR)

    far = (np.random.default_rng(0).random((T, d)) * FAR + FAR).astype(np.float32)
    sin_out, table = np.empty_like(far), pow_form()
    key = (T, d, 10000.0, "interleaved", "transformer", FAR, "float32")
    return Work(
        "pe-sinusoidal",
        "table at 10^6",
        "numpy",
        "float32",
        {"T": T, "d": d, "offset": FAR},
        T * d * 4,
        [
            Candidate(
                "reference",
                "reference",
                "refpe.pe_sinusoidal(offset=10**6)",
                lambda: refpe.pe_sinusoidal(T, d, offset=FAR, dtype="float32", kernel="reference"),
            ),
            Candidate(
                "kernel",
                "kernel",
                "kernels.sinusoid_table (uncached)",
                lambda: KP.sinusoid_table.__wrapped__(*key),
            ),
            Candidate("peer", "peer", "NumPy pow form at positions 10^6..", pow_form),
            Candidate(
                "sin",
                "baseline",
                "np.sin over floats in [10^6, 2 10^6)",
                lambda: np.sin(far, out=sin_out),
            ),
            _copy("numpy", table),
        ],
        _sinusoid_errors(T, d, FAR, skip=("copy", "sin")),
        note="positions 10^6 .. 10^6+T-1: float32 sin past its fast range",
    )


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
                peer,
                _copy(backend, copy_src),
            ],
            errors,
            note="half layout, positions 0..T-1, cos/sin tables precomputed (cached)",
        )
    ]


def lookup_works(backend: str, size: dict) -> list[Work]:
    V, d, shape = size["V"], size["d"], size["ids"]
    g = np.random.default_rng(3)
    host_table = g.standard_normal((V, d)).astype(np.float32)
    host_ids = zipf_ids(int(np.prod(shape)), V).reshape(shape)
    B = get(backend)
    table, ids = B.asarray(host_table, "float32", "cpu"), B.asarray(host_ids, None, "cpu")
    if backend == "torch":
        import torch

        def peer() -> Any:
            return torch.nn.functional.embedding(ids, table)

        peer_name, kern = "F.embedding", KE.token_lookup_torch
    else:

        def peer() -> Any:
            return np.take(table, ids, axis=0)

        peer_name, kern = "np.take(table, ids, axis=0)", KE.token_lookup

    def errors(out: dict[str, Any]) -> dict[str, float]:
        exact = host_table[host_ids].astype(np.float64)
        inputs = {"ids": host_ids, "table": host_table}
        return {
            lab: normalised("token-lookup", v, exact, inputs, "float32")
            for lab, v in out.items()
            if lab != "copy"
        }

    return [
        Work(
            "token-lookup",
            "lookup",
            backend,
            "float32",
            {"V": V, "d": d, "ids": shape},
            host_ids.size * d * 4,
            [
                Candidate(
                    "reference",
                    "reference",
                    "refpe.token_lookup",
                    lambda: refpe.token_lookup(ids, table, kernel="reference"),
                ),
                Candidate("kernel", "kernel", f"kernels.{kern.__name__}", lambda: kern(ids, table)),
                Candidate("peer", "peer", peer_name, peer),
                _copy(backend, peer()),
            ],
            errors,
            note="ids with a Zipf(1.2) profile",
        )
    ]


def input_add_works(backend: str, size: dict) -> list[Work]:
    V, d, shape = size["V"], size["d"], size["ids"]
    T = shape[-1]
    g = np.random.default_rng(4)
    host = {
        "ids": zipf_ids(int(np.prod(shape)), V).reshape(shape),
        "table": g.standard_normal((V, d)).astype(np.float32),
        "pe_table": refpe.pe_sinusoidal(T, d, dtype="float32"),
        "scale": math.sqrt(d),
    }
    B = get(backend)
    ids = B.asarray(host["ids"], None, "cpu")
    table, pe = (B.asarray(host[n], "float32", "cpu") for n in ("table", "pe_table"))
    c = host["scale"]
    if backend == "torch":
        import torch

        def peer() -> Any:
            return torch.nn.functional.embedding(ids, table) * c + pe[:T]

        peer_name, kern = "F.embedding(ids, E) * c + pe[:T]", KE.input_add_torch
    else:

        def peer() -> Any:
            return np.take(table, ids, axis=0) * c + pe[:T]

        peer_name, kern = "np.take(E, ids, axis=0) * c + pe[:T]", KE.input_add

    def errors(out: dict[str, Any]) -> dict[str, float]:
        h64 = {**host, "table": host["table"].astype(np.float64)}
        h64["pe_table"] = host["pe_table"].astype(np.float64)
        exact = refpe.input_add(
            h64["ids"], h64["table"], h64["pe_table"], scale=c, kernel="reference"
        )
        return {
            lab: normalised("input-add", v, exact, host, "float32")
            for lab, v in out.items()
            if lab != "copy"
        }

    kernel = Candidate(
        "kernel", "kernel", f"kernels.{kern.__name__}", lambda: kern(ids, table, pe, scale=c)
    )
    return [
        Work(
            "input-add",
            "add",
            backend,
            "float32",
            {"V": V, "d": d, "ids": shape},
            host["ids"].size * d * 4,
            [
                Candidate(
                    "reference",
                    "reference",
                    "refpe.input_add",
                    lambda: refpe.input_add(ids, table, pe, scale=c, kernel="reference"),
                ),
                kernel,
                Candidate("peer", "peer", peer_name, peer),
                _copy(backend, peer()),
            ],
            errors,
            note="scale sqrt(d), sinusoidal table, positions 0..T-1",
        )
    ]


def grad_works(backend: str, size: dict) -> list[Work]:
    V, d, N = size["V"], size["d"], size["N"]
    g = np.random.default_rng(5)
    host_ids = zipf_ids(N, V)
    host_g = g.standard_normal((N, d), dtype=np.float32)
    B = get(backend)
    ids, grad = B.asarray(host_ids, None, "cpu"), B.asarray(host_g, "float32", "cpu")
    if backend == "torch":
        import torch

        def peer() -> Any:
            return torch.zeros(V, d).index_add_(0, ids, grad)

        peer_name, kern = "torch.zeros(V, d).index_add_(0, ids, g)", KG.embedding_grad_torch
    else:

        def peer() -> Any:
            out = np.zeros((V, d), np.float32)
            np.add.at(out, ids, grad)
            return out

        peer_name, kern = "np.add.at(zeros, ids, g)", KG.embedding_grad
    sample = np.unique(np.r_[np.arange(min(V, 50)), g.integers(0, V, 200)])

    def errors(out: dict[str, Any]) -> dict[str, float]:
        # every occurrence of the sampled ids: their rows' sums and the spec's own scale
        keep = np.isin(host_ids, sample)
        exact = np.zeros((V, d))
        np.add.at(exact, host_ids[keep], host_g[keep].astype(np.float64))
        inputs = {"ids": host_ids[keep], "grad_out": host_g[keep], "num_embeddings": V}
        scale = refpe.spec("embedding-grad").error.bound_scale(inputs, exact, "float32")
        eps = 2.0**-23
        res = {}
        for lab, v in out.items():
            if lab != "copy":
                diff = np.abs(to_host(v)[sample].astype(np.float64) - exact[sample])
                with np.errstate(divide="ignore", invalid="ignore"):
                    e = np.where(diff == 0, 0.0, diff / (eps * scale[sample]))
                res[lab] = float(e.max())
        return res

    big = N * d > REFERENCE_GRAD_LIMIT
    ref = Candidate(
        "reference",
        "reference",
        "refpe.embedding_grad",
        None if big else (lambda: refpe.embedding_grad(ids, grad, V, kernel="reference")),
        "the reference converts grad_out to float64 (a copy twice its size): timed at "
        "--quick sizes only"
        if big
        else "",
        peak=backend == "numpy",
    )
    return [
        Work(
            "embedding-grad",
            "scatter-add",
            backend,
            "float32",
            {"V": V, "d": d, "N": N},
            N * d * 4,
            [
                ref,
                Candidate(
                    "kernel",
                    "kernel",
                    f"kernels.{kern.__name__}",
                    lambda: kern(ids, grad, V),
                    peak=backend == "numpy",
                ),
                Candidate("peer", "peer", peer_name, peer),
                _copy(backend, grad),
            ],
            errors,
            note="ids with a Zipf(1.2) profile; errors on a sample of rows",
        )
    ]


def reader_works(backend: str, size: dict, tmp: str) -> list[Work]:
    from pathlib import Path

    n, d = size["n"], size["d"]
    g = np.random.default_rng(6)
    words = [f"w{i}_{g.integers(0, 1 << 30):x}" for i in range(n)]
    vectors = g.standard_normal((n, d)).astype(np.float32)
    works = []
    for fmt, binary in (("word2vec-binary", True), ("word2vec-text", False)):
        path = os.path.join(tmp, f"vectors-{fmt}")
        refpe.vectors.write(path, words, vectors, format=fmt)
        size_bytes = os.path.getsize(path)
        try:
            from gensim.models import KeyedVectors
        except ImportError as exc:
            peer = Candidate("peer", "peer", "gensim", None, str(exc))
        else:
            peer = Candidate(
                "peer",
                "peer",
                f"gensim KeyedVectors.load_word2vec_format(binary={binary})",
                lambda p=path, b=binary: KeyedVectors.load_word2vec_format(p, binary=b).vectors,
                peak=True,
            )

        def errors(out: dict[str, Any]) -> dict[str, float]:
            got = {lab: to_host(v[1] if isinstance(v, tuple) else v) for lab, v in out.items()
                   if lab != "copy"}  # fmt: skip
            return {lab: 0.0 if np.array_equal(v, vectors) else math.inf for lab, v in got.items()}

        works.append(
            Work(
                "pretrained-formats",
                f"read {fmt}",
                "numpy",
                "float32",
                {"n": n, "d": d},
                size_bytes,
                [
                    Candidate(
                        "reference",
                        "reference",
                        "refpe.vectors.read",
                        lambda p=path, f=fmt: refpe.vectors.read(p, format=f),
                        peak=True,
                    ),
                    peer,
                    Candidate(
                        "copy", "copy", "Path.read_bytes", lambda p=path: Path(p).read_bytes()
                    ),
                ],
                errors,
                note=f"a generated {n} x {d} file of {size_bytes} bytes; error 0: "
                "every vector read back bit-exactly",
            )
        )
    return works


def wordpiece_works(backend: str, size: dict) -> list[Work]:
    from refpe.tokenize import WordPiece

    g = np.random.default_rng(7)
    stems = ["play", "run", "happy", "un", "token", "embed", "posit", "rot", "learn", "deep"]
    tails = ["##ing", "##s", "##ed", "##er", "##ness", "##ion", "##al", "##ly"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab_list = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *stems, *tails, *".,!?",
                  *(f"##{c}" for c in letters), *letters]  # fmt: skip
    vocab = {t: i for i, t in enumerate(vocab_list)}
    pieces = [s + t[2:] for s in stems for t in tails] + stems + ["qzx", "Play", "RUN!"]
    text = " ".join(g.choice(pieces, size["words"]).tolist())
    tok = WordPiece(vocab)
    cands = [Candidate("reference", "reference", "refpe.tokenize.WordPiece.encode",
                       lambda: tok.encode(text))]  # fmt: skip
    try:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    except ImportError as exc:
        cands.append(Candidate("peer", "peer", "tokenizers", None, str(exc)))
        hf = None
    else:
        hf = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        hf.normalizer = normalizers.BertNormalizer(lowercase=True)
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cands.append(Candidate("peer", "peer", "tokenizers WordPiece (Rust)",
                               lambda: hf.encode(text).ids))  # fmt: skip
    cands.append(Candidate("copy", "copy", "str.encode", lambda: text.encode()))

    def errors(out: dict[str, Any]) -> dict[str, float]:
        want = out.get("reference")
        return {lab: 0.0 if list(v) == list(want) else math.inf for lab, v in out.items()
                if lab != "copy"}  # fmt: skip

    return [
        Work(
            "tok-wordpiece",
            "encode",
            "numpy",
            "ids",
            {"words": size["words"]},
            len(text.encode()),
            cands,
            errors,
            note="generated English-like text; error 0: the same ids as the reference",
        )
    ]


BUILDERS: dict[str, Callable[..., list[Work]]] = {
    "pe-sinusoidal": sinusoid_works,
    "rope": rope_works,
    "token-lookup": lookup_works,
    "input-add": input_add_works,
    "embedding-grad": grad_works,
    "pretrained-formats": reader_works,
    "tok-wordpiece": wordpiece_works,
}
#: Specs measured once whatever the backend (host file readers and tokenisers).
HOST_ONLY = ("pretrained-formats", "tok-wordpiece")


# --- timing -----------------------------------------------------------------------------------


def time_round_robin(
    cands: list[Candidate],
    sync: Callable[[Any], None],
    repeats: int,
    warmup: int,
    budget_s: float | None = None,
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each runnable candidate once per round, synchronised; warm-up rounds are not kept.

    With ``budget_s``, the timed rounds are cut (to no fewer than 3) when a round, as
    the first one took, would make them run past the budget.
    """
    runs: dict[str, list[float]] = {c.label: [] for c in cands if c.fn}
    last: dict[str, Any] = {}
    r, rounds = 0, warmup + repeats
    while r < rounds:
        spent = 0.0
        for c in cands:
            if c.fn is None:
                continue
            t0 = time.perf_counter()
            out = c.fn()
            for o in out if isinstance(out, tuple) else (out,):
                sync(o)
            dt = time.perf_counter() - t0
            spent += dt
            if r >= warmup:
                runs[c.label].append(dt)
            last[c.label] = out
            del out
        if r == 0 and budget_s is not None and spent * repeats > budget_s:
            rounds = warmup + min(repeats, max(3, int(budget_s / spent)))
        r += 1
    return runs, last


def peak_bytes(fn: Callable[[], Any]) -> int:
    """tracemalloc's peak over one call (NumPy reports its buffers to tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run_work(work: Work, repeats: int, warmup: int) -> dict[str, Any]:
    """Time one work; its JSON record."""
    backend = get(work.backend) if work.backend in (*BACKENDS, *OPTIONAL) else get("numpy")
    runs, last = time_round_robin(work.candidates, backend.sync, repeats, warmup, BUDGET_S)
    med = {k: statistics.median(v) for k, v in runs.items()}
    copy = med.get("copy")
    peer = med.get("peer")
    errors = work.errors(last) if work.errors else {}
    cands = {}
    for c in work.candidates:
        rec: dict[str, Any] = {"role": c.role, "name": c.name}
        if c.fn is None:
            rec["skipped"] = c.skipped
        else:
            t = med[c.label]
            rec.update(
                median_s=t,
                min_s=min(runs[c.label]),
                runs_s=runs[c.label],
                gbytes_per_s=work.bytes / t / 1e9 if t > 0 else None,
                vs_copy=copy / t if copy and t > 0 else None,
                vs_peer=peer / t if peer and t > 0 else None,
                vs_sin=med["sin"] / t if "sin" in med and t > 0 else None,
                error=errors.get(c.label),
                peak_bytes=peak_bytes(c.fn) if c.peak else None,
            )
        cands[c.label] = rec
    return {
        "spec": work.spec, "case": work.case, "backend": work.backend, "device": work.device,
        "dtype": work.dtype, "shape": work.shape, "bytes": work.bytes, "note": work.note,
        "candidates": cands,
    }  # fmt: skip


# --- targets, sweeps, the run ------------------------------------------------------------------


def _find(results: list[dict], spec: str, case: str, backend: str) -> dict | None:
    for r in results:
        if (r["spec"], r["case"], r["backend"]) == (spec, case, backend):
            return r
    return None


def _get(r: dict | None, label: str, key: str) -> float | None:
    if r is None:
        return None
    v = r["candidates"].get(label, {}).get(key)
    return None if v is None else float(v)


#: ``(name, (spec, case, backend), candidate, measure, target)``: what each target compares.
TARGETS = (
    ("rope numpy float32: kernel >= 40% of copy bandwidth",
     ("rope", "apply q, k", "numpy"), "kernel", "vs_copy", 0.40),
    ("rope torch CPU: kernel >= 2x Hugging Face eager apply_rotary_pos_emb",
     ("rope", "apply q, k", "torch"), "kernel", "vs_peer", 2.0),
    ("rope jax: kernel >= 1x the usual rotate_half form under jax.jit",
     ("rope", "apply q, k", "jax"), "kernel", "vs_peer", 1.0),
    ("sinusoid table float32: kernel >= 1x the float32 pow form",
     ("pe-sinusoidal", "table", "numpy"), "kernel", "vs_peer", 1.0),
    ("sinusoid table float32: kernel >= 0.5x np.sin over T*d float32s",
     ("pe-sinusoidal", "table", "numpy"), "kernel", "vs_sin", 0.5),
    ("sinusoid table float32: kernel error <= 1 eps32",
     ("pe-sinusoidal", "table", "numpy"), "kernel", "error", 1.0),
    ("sinusoid cached lookup >= 80% of np.take",
     ("pe-sinusoidal", "lookup", "numpy"), "kernel", "vs_peer", 0.80),
    ("embedding grad numpy: kernel >= 1x np.add.at",
     ("embedding-grad", "scatter-add", "numpy"), "kernel", "vs_peer", 1.0),
    ("embedding grad torch: kernel >= 1x index_add_",
     ("embedding-grad", "scatter-add", "torch"), "kernel", "vs_peer", 1.0),
)  # fmt: skip


def targets(results: list[dict]) -> list[dict[str, Any]]:
    """The performance targets (:data:`TARGETS`), each with the value measured in this run."""
    rows = [(name, _get(_find(results, *where), label, key), target)
            for name, where, label, key, target in TARGETS]  # fmt: skip
    out = []
    for name, measured, target in rows:
        if measured is None:
            continue
        met = measured <= target if "error" in name else measured >= target
        out.append({"name": name, "measured": measured, "target": target, "met": met})
    return out


def sweep(
    spec: str,
    backend: str,
    repeats: int,
    t_values: Iterable[int] = SWEEP_T,
    d_values: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Time against size: ``T`` at fixed ``d`` and ``d`` at fixed ``T`` (rope: ``d`` is the
    head width of ``(1, 8, T, d)``, 64..512)."""
    if d_values is None:
        d_values = SWEEP_HEAD if spec == "rope" else SWEEP_D
    fixed_d = 128 if spec == "rope" else 512
    curves = []
    for axis, values, fixed in (("T", t_values, {"d": fixed_d}), ("d", d_values, {"T": 2048})):
        points = []
        for v in values:
            T, d = (v, fixed["d"]) if axis == "T" else (fixed["T"], v)
            if spec == "pe-sinusoidal":
                work = sinusoid_works(backend, {"T": T, "d": d, "ids": (1, T)})[0]
            elif spec == "rope":
                work = rope_works(backend, {"shape": (1, 8, T, d)})[0]
            else:
                work = lookup_works(backend, {"V": 50000, "d": d, "ids": (1, T)})[0]
            work.errors = None
            rec = run_work(work, repeats, 1)
            seconds = {k: c.get("median_s") for k, c in rec["candidates"].items()}
            points.append({"T": T, "d": d, "seconds": seconds})
        curves.append(
            {"spec": spec, "backend": backend, "axis": axis, "fixed": fixed, "points": points}
        )
    return curves


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"refpe": getattr(refpe, "__version__", "?")}
    for name in ("numpy", "torch", "jax", "transformers", "gensim", "tokenizers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_before": list(os.getloadavg()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["processor"] = names[0] if names else info["processor"]
        with open("/proc/meminfo") as f:
            info["memory_bytes"] = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def works_for(specs: Iterable[str], backends: Iterable[str], quick: bool, tmp: str) -> list[Work]:
    sizes = QUICK if quick else FULL
    found: list[Work] = []
    backends = list(backends)
    for spec in specs:
        for b in backends[:1] if spec in HOST_ONLY else backends:
            if spec not in OPTIONAL.get(b, SPECS):
                continue
            if spec == "pretrained-formats":
                found += reader_works(b, sizes[spec], tmp)
            else:
                found += BUILDERS[spec](b, sizes[spec])
    return found


def run(
    specs: Iterable[str] = SPECS,
    backends: Iterable[str] = BACKENDS,
    *,
    quick: bool = False,
    sweeps: bool = False,
    repeats: int | None = None,
    warmup: int = 1,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmarks; the JSON document described in this module's docstring."""
    specs, backends = list(specs), [b for b in backends if get(b).available() is None]
    repeats = repeats or (3 if quick else 7)
    t0 = time.perf_counter()
    info = machine()
    results = []
    with tempfile.TemporaryDirectory(prefix="refpe-bench-") as tmp:
        for spec in specs:
            for work in works_for([spec], backends, quick, tmp):
                results.append(run_work(work, repeats, warmup))
                if progress:
                    progress(results[-1])
                del work
                gc.collect()
    curves = []
    if sweeps:
        for spec in ("pe-sinusoidal", "rope", "token-lookup"):
            if spec in specs:
                for b in backends:
                    if b in BACKENDS:
                        curves += sweep(spec, b, 3)
    info["load_after"] = list(os.getloadavg())
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "seconds": time.perf_counter() - t0,
        "machine": info,
        "libraries": versions(),
        "settings": {"repeats": repeats, "warmup": warmup},
        "results": results,
        "targets": [] if quick else targets(results),
        "sweeps": curves,
    }
