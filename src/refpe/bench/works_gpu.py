"""Benchmarks on a CUDA device (``refpe bench --device cuda``): RoPE, the sinusoid table and
the embedding gradient, each against a PyTorch copy of the same bytes on the same device
(``vs_copy``: the fraction of the device's copy bandwidth) and the usual peer there.

Every candidate synchronises the device itself (PyTorch's and CuPy's streams), so the
round-robin timing of :mod:`refpe.bench.timing` measures finished work. CuPy candidates
(:mod:`refpe.kernels.cupy`) run on the same memory as PyTorch's (``cupy.asarray`` of a CUDA
tensor is a view) and are skipped, with the reason, where CuPy or its device is missing.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .work import Candidate, Work
from .works_rope import _hf_cos_sin, _rope_errors
from .works_tables import _sinusoid_errors

#: The specs measured on a CUDA device.
GPU_SPECS = ("rope", "pe-sinusoidal", "embedding-grad")


def cuda_reason() -> str | None:
    """``None`` when PyTorch sees a CUDA device (the copy baseline runs there), else why not."""
    if importlib.util.find_spec("torch") is None:
        return "no CUDA device: torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device: torch.cuda.is_available() is False"
    return None


def _cupy_reason() -> str | None:
    from refpe.backends import get

    return get("cupy").available()


def _sync() -> None:
    import torch

    torch.cuda.synchronize()
    if "cupy" in sys.modules:
        sys.modules["cupy"].cuda.Device().synchronize()


def _synced(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        out = fn()
        _sync()
        return out

    return run


def _cand(label: str, role: str, name: str, fn: Callable[[], Any] | None, why: str = "") -> Any:
    return Candidate(label, role, name, _synced(fn) if fn else None, why)


def _copy(src: Any) -> Candidate:
    dst = src.clone()
    return _cand("copy", "copy", "Tensor.copy_ (CUDA)", lambda: dst.copy_(src))


def _cupy_kernel(label: str, name: str, make: Callable[[Any], Callable[[], Any]]) -> Candidate:
    """A CuPy candidate (``make(cupy)`` returns its function), or skipped with the reason."""
    why = _cupy_reason()
    if why:
        return Candidate(label, "kernel", name, None, why)
    import cupy

    return _cand(label, "kernel", name, make(cupy))


def rope_gpu(shape: tuple) -> Work:
    import torch

    from refpe.kernels import cupy as KC
    from refpe.kernels import rotary_torch as KT

    T, D = shape[-2], shape[-1]
    g = np.random.default_rng(2)
    hq, hk = (g.standard_normal(shape).astype(np.float32) for _ in range(2))
    q, k = (torch.from_numpy(a).cuda() for a in (hq, hk))
    oq, ok = torch.empty_like(q), torch.empty_like(k)
    cos, sin = (t.cuda() for t in _hf_cos_sin(T, D))
    try:
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb
    except ImportError as exc:
        peer = Candidate("peer", "peer", "transformers apply_rotary_pos_emb", None, f"{exc}")
    else:
        peer = _cand("peer", "peer", "transformers apply_rotary_pos_emb (eager, CUDA)",
                     lambda: apply_rotary_pos_emb(q, k, cos, sin))  # fmt: skip

    def cupy_rope(cp: Any) -> Callable[[], Any]:
        cq, ck, coq, cok = (cp.asarray(t) for t in (q, k, oq, ok))  # views of the tensors
        return lambda: (KC.rope_cupy(cq, T, out=coq), KC.rope_cupy(ck, T, out=cok))

    return Work(
        "rope", "apply q, k", "cuda", "float32", {"q": shape, "k": shape}, 2 * q.numel() * 4,
        [
            _cand("kernel", "kernel", "kernels.rope_torch(out=buffer) (CUDA)",
                  lambda: (KT.rope_torch(q, T, out=oq), KT.rope_torch(k, T, out=ok))),
            _cupy_kernel("kernel-cupy", "kernels.rope_cupy(out=buffer) (RawKernel)", cupy_rope),
            peer,
            _copy(torch.cat([q.reshape(-1), k.reshape(-1)])),
        ],
        _rope_errors(hq, T),
        note="half layout, positions 0..T-1; copy: PyTorch copying q and k's bytes on the device",
        device="cuda:0",
    )  # fmt: skip


def sinusoid_gpu(T: int, d: int) -> Work:
    import array_api_compat.torch as txp
    import torch

    from refpe.kernels import cupy as KC
    from refpe.kernels import positional as KP

    key = (T, d, 10000.0, "interleaved", "transformer", 0, "float32")

    def pow_form() -> Any:
        pos = torch.arange(T, dtype=torch.float32, device="cuda")[:, None]
        i = torch.arange(0, d, 2, dtype=torch.float32, device="cuda")
        div = torch.exp(i * (-math.log(10000.0) / d))
        pe = torch.zeros(T, d, device="cuda")
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * div), torch.cos(pos * div)
        return pe

    table = pow_form()
    x = torch.rand_like(table) * 100
    return Work(
        "pe-sinusoidal", "table", "cuda", "float32", {"T": T, "d": d}, T * d * 4,
        [
            _cand("kernel", "kernel", "kernels.pe_sinusoidal_torch (cached, copied to a tensor)",
                  lambda: KP.pe_sinusoidal_torch(T, d, dtype="float32", xp=txp, device="cuda")),
            _cupy_kernel("kernel-cupy", "kernels.cupy sinusoid RawKernel (uncached)",
                         lambda cp: lambda: KC._build_table(cp, key)),
            _cand("peer", "peer", "torch pow form in float32 (CUDA)", pow_form),
            _cand("sin", "baseline", "torch.sin (CUDA, a new tensor)", lambda: torch.sin(x)),
            _copy(table),
        ],
        _sinusoid_errors(T, d, skip=("copy", "sin")),
        note="the table for positions 0..T-1 on the device",
        device="cuda:0",
    )  # fmt: skip


def grad_gpu(V: int, d: int, N: int) -> Work:
    import torch

    from refpe.kernels import cupy as KC
    from refpe.kernels import grad as KG

    from .work import zipf_ids

    g = np.random.default_rng(5)
    ids = torch.from_numpy(zipf_ids(N, V)).cuda()
    grad = torch.from_numpy(g.standard_normal((N, d), dtype=np.float32)).cuda()

    def cupy_grad(cp: Any) -> Callable[[], Any]:
        cids, cg = cp.asarray(ids), cp.asarray(grad)
        return lambda: KC.embedding_grad_cupy(cids, cg, V)

    return Work(
        "embedding-grad", "scatter-add", "cuda", "float32", {"V": V, "d": d, "N": N}, N * d * 4,
        [
            _cand("kernel", "kernel", "kernels.embedding_grad_torch (CUDA)",
                  lambda: KG.embedding_grad_torch(ids, grad, V)),
            _cupy_kernel("kernel-cupy", "kernels.embedding_grad_cupy (RawKernel)", cupy_grad),
            _cand("peer", "peer", "torch.zeros(V, d).index_add_(0, ids, g) (CUDA)",
                  lambda: torch.zeros(V, d, device="cuda").index_add_(0, ids, grad)),
            _copy(grad),
        ],
        note="ids with a Zipf(1.2) profile; copy: grad_out's bytes",
        device="cuda:0",
    )  # fmt: skip


def gpu_works(specs: list[str], sizes: dict[str, dict]) -> list[Work]:
    """The CUDA works of ``specs`` (those in :data:`GPU_SPECS`) at ``sizes``."""
    found = []
    for spec in specs:
        s = sizes[spec]
        if spec == "rope":
            found.append(rope_gpu(s["shape"]))
        elif spec == "pe-sinusoidal":
            found.append(sinusoid_gpu(s["T"], s["d"]))
        elif spec == "embedding-grad":
            found.append(grad_gpu(s["V"], s["d"], s["N"]))
    return found
