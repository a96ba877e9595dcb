"""Benchmarks of the embedding layer: ``token-lookup``, ``input-add`` (lookup, scale and the
positional table) and ``embedding-grad`` (the scatter-add of the backward pass)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import refpe
from refpe._compat import to_host
from refpe.backends import get
from refpe.kernels import embedding as KE
from refpe.kernels import embedding_fused, grad_fused
from refpe.kernels import grad as KG

from .work import Candidate, Work, copy_candidate, fallback_candidate, normalised, zipf_ids

#: The reference converts grad_out to float64: above this many elements it is not timed.
REFERENCE_GRAD_LIMIT = 2**26


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
                copy_candidate(backend, peer()),
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
                *fallback_candidate(
                    f"{kernel.name}, three passes (without numba)", kernel.fn, embedding_fused
                ),
                Candidate("peer", "peer", peer_name, peer),
                copy_candidate(backend, peer()),
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

    slow = []  # ATen's own kernel, where Numba's column-split sums would answer
    if backend == "torch":
        name = "aten.embedding_dense_backward (without numba)"
        slow = fallback_candidate(name, lambda: kern(ids, grad, V), grad_fused)
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
                *slow,
                Candidate("peer", "peer", peer_name, peer),
                copy_candidate(backend, grad),
            ],
            errors,
            note="ids with a Zipf(1.2) profile; errors on a sample of rows",
        )
    ]
