"""Benchmarks of the sinusoidal table (``pe-sinusoidal``): the table, a cached lookup, the
table at positions past ``10^6`` where float32 ``sin`` leaves its fast path, and the exact
float64 table against the plain float64 formula."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

import refpe
from refpe.backends import get
from refpe.kernels import positional as KP
from refpe.kernels import positional_fused

from .work import Candidate, Work, copy_candidate, fallback_candidate, normalised


def _sin(backend: str, like: Any) -> list[Candidate]:
    """The library's own float32 ``sin`` over as many elements (the issue's yardstick): into a
    new array, as the table is built (``sin``), and into a buffer already touched
    (``sin-into``, which skips the first writes to fresh memory the table cannot skip)."""
    if backend == "torch":
        import torch

        x, out = torch.rand_like(like) * 100, torch.empty_like(like)
        return [Candidate("sin", "baseline", "torch.sin (a new tensor)", lambda: torch.sin(x)),
                Candidate("sin-into", "baseline", "torch.sin(out=buffer)",
                          lambda: torch.sin(x, out=out))]  # fmt: skip
    x = (np.random.default_rng(0).random(like.shape) * 100).astype(like.dtype)
    out = np.empty_like(like)
    return [Candidate("sin", "baseline", "np.sin (a new array)", lambda: np.sin(x)),
            Candidate("sin-into", "baseline", "np.sin(out=buffer)",
                      lambda: np.sin(x, out=out))]  # fmt: skip


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


def sinusoid_works(backend: str, size: dict) -> list[Work]:
    T, d = size["T"], size["d"]
    B = get(backend)
    xp = B.namespace()
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
            return torch.from_numpy(KP.build_sinusoid_table(*key))

        peer_name = "torch pow form: exp(arange(0,d,2)*(-ln(1e4)/d)) in float32"
    else:

        def pow_form() -> Any:
            return _numpy_pow_form(T, d)

        def build() -> Any:
            return KP.build_sinusoid_table(*key)

        peer_name = "NumPy pow form: exp(arange(0,d,2)*(-ln(1e4)/d)) in float32"
    table = pow_form()
    slow = []  # the NumPy kernel's blocks, where Numba's one pass would answer
    if backend == "numpy":
        name = "kernels.sinusoid_table (uncached), NumPy blocks (without numba)"
        slow = fallback_candidate(name, build, positional_fused)

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
            *slow,
            Candidate("peer", "peer", peer_name, pow_form),
            *_sin(backend, table),
            copy_candidate(backend, table),
        ],
        _sinusoid_errors(T, d, skip=("copy", "sin", "sin-into")),
        note="the table for positions 0..T-1; vs_sin: the library's own sin over T*d floats "
        "into a new array, as the table (sin-into: into a buffer already written)",
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
            copy_candidate(backend, take()),
        ],
        note="rows of a cached table at an array of positions",
    )
    numpy_only = [far_table_work(T, d), float64_table_work(T, d)] if backend == "numpy" else []
    return [table_work, lookup, *numpy_only]


#: The first position of the far table: past it float32 ``sin`` takes its slow path.
FAR = 10**6


def far_table_work(T: int, d: int) -> Work:
    """The table at positions ``FAR .. FAR+T-1``: the float32 ``pow`` form (and ``np.sin``
    itself) meet arguments past ``|x| = 10^5``, where NumPy's float32 ``sin`` leaves its
    vectorised path; the kernel computes sines of block starts in float64 only."""

    def pow_form() -> Any:
        return _numpy_pow_form(T, d, FAR)

    far = (np.random.default_rng(0).random((T, d)) * FAR + FAR).astype(np.float32)
    table = pow_form()
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
                lambda: KP.build_sinusoid_table(*key),
            ),
            Candidate("peer", "peer", "NumPy pow form at positions 10^6..", pow_form),
            Candidate(
                "sin",
                "baseline",
                "np.sin over floats in [10^6, 2 10^6) (a new array)",
                lambda: np.sin(far),
            ),
            copy_candidate("numpy", table),
        ],
        _sinusoid_errors(T, d, FAR, skip=("copy", "sin", "sin-into")),
        note="positions 10^6 .. 10^6+T-1: float32 sin past its fast range",
    )


def float64_table_work(T: int, d: int) -> Work:
    """The float64 table: the kernel (the exact phase reduction, bit for bit the reference's)
    against the plain float64 formula ``sin(p * omega)``, ``cos(p * omega)`` over as many
    elements (the issue's yardstick for the cost of exactness)."""
    key = (T, d, 10000.0, "interleaved", "transformer", 0, "float64")
    omega = np.exp(np.arange(0, d, 2, dtype=np.float64) * (-math.log(1e4) / d))
    pos = np.arange(T, dtype=np.float64)[:, None]

    def plain() -> np.ndarray:
        pe = np.empty((T, d), np.float64)
        phase = pos * omega
        pe[:, 0::2], pe[:, 1::2] = np.sin(phase), np.cos(phase)
        return pe

    def errors(out: dict[str, Any]) -> dict[str, float]:
        exact = refpe.pe_sinusoidal(T, d, dtype="float64", kernel="reference")
        return {k: float(np.max(np.abs(np.asarray(v) - exact)) / np.finfo(np.float64).eps)
                for k, v in out.items() if k != "copy"}  # fmt: skip

    table = plain()
    return Work(
        "pe-sinusoidal",
        "table float64",
        "numpy",
        "float64",
        {"T": T, "d": d},
        T * d * 8,
        [
            Candidate(
                "reference",
                "reference",
                "refpe.pe_sinusoidal(dtype=float64)",
                lambda: refpe.pe_sinusoidal(T, d, dtype="float64", kernel="reference"),
            ),
            Candidate(
                "kernel",
                "kernel",
                "kernels.sinusoid_table float64 (uncached)",
                lambda: KP.build_sinusoid_table(*key),
            ),
            Candidate("peer", "peer", "plain float64 formula: sin(p*omega), cos(p*omega)", plain),
            copy_candidate("numpy", table),
        ],
        errors,
        note="the exact float64 table (error 0: bit for bit the reference) against the plain "
        "float64 formula; error in float64 eps (absolute)",
    )
