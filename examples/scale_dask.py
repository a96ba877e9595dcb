"""Measure refpe on Dask at scale and write ``docs/reports/scale.json``.

    PYTHONPATH=src python examples/scale_dask.py [--rows 1e8] [--ids 1e6] [--out PATH]

Each measurement runs in a fresh process so that its peak resident memory (``ru_maxrss``)
is its own. The defaults are scaled down from the targets (10^9 rows, 10^7 ids) to fit a
shared 2-core machine; every entry records the size it ran at and the target.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import time
from concurrent.futures import ProcessPoolExecutor

MiB = 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sinusoid_sum(rows: int, workers: int) -> dict:
    """The sum of a ``rows x 64`` float32 table, blocks of 2^19 rows (128 MiB), on
    ``workers`` threads; the peak memory above the process's baseline, in chunks."""
    import dask
    import dask.array as da
    import numpy as np

    import refpe

    refpe.pe_sinusoidal(8, 64, xp=da, dtype="float32").sum().compute()  # imports, warm-up
    base = _peak_mib()
    t0 = time.perf_counter()
    x = refpe.pe_sinusoidal(rows, 64, xp=da, dtype="float32")
    call = time.perf_counter() - t0
    chunk_mib = max(x.chunks[0]) * 64 * 4 / MiB
    with dask.config.set(scheduler="threads", num_workers=workers):
        total = float(x.sum(dtype=np.float64).compute())
    wall = time.perf_counter() - t0
    grown = _peak_mib() - base
    return {
        "rows": rows, "d": 64, "dtype": "float32", "workers": workers, "scheduler": "threads",
        "call_seconds": round(call, 4), "seconds": round(wall, 2), "sum": total,
        "chunk_mib": chunk_mib, "peak_growth_mib": round(grown, 1),
        "peak_growth_chunks_per_worker": round(grown / chunk_mib / workers, 2),
        "rows_per_second": round(rows / wall),
    }  # fmt: skip


def embedding_grad(ids: int, vocab: int = 50_000, d: int = 64) -> dict:
    """Dask (one thread, blocks of 2^18 ids) against the NumPy kernel, per core."""
    import dask
    import dask.array as da
    import numpy as np

    import refpe

    rng = np.random.default_rng(0)
    idx = rng.integers(0, vocab, size=ids)
    g = rng.standard_normal((ids, d), dtype=np.float32)
    t0 = time.perf_counter()
    want = refpe.embedding_grad(idx, g, vocab)
    numpy_s = time.perf_counter() - t0
    block = 2**18
    lazy = refpe.embedding_grad(
        da.from_array(idx, chunks=block), da.from_array(g, chunks=(block, d)), vocab
    )
    with dask.config.set(scheduler="threads", num_workers=1):
        t0 = time.perf_counter()
        got = lazy.compute()
        dask_s = time.perf_counter() - t0
    return {
        "ids": ids, "vocab": vocab, "d": d, "dtype": "float32", "block_ids": block,
        "numpy_kernel_seconds": round(numpy_s, 3), "dask_one_thread_seconds": round(dask_s, 3),
        "throughput_ratio": round(numpy_s / dask_s, 3),
        "max_abs_difference": float(np.abs(got.astype(float) - want).max()),
        "bit_equal": bool(np.array_equal(got, want)),
    }  # fmt: skip


def conformance(workers: int, backends: tuple[str, ...]) -> dict:
    """The suite on ``backends``: sequential, then on ``workers`` processes."""
    import dataclasses

    from refpe.conformance import Plan, run
    from refpe.conformance.distributed import run_distributed

    plan = Plan(backends=backends)
    t0 = time.perf_counter()
    seq = run(plan)
    seq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        spread = run_distributed(plan, client=pool)
    par_s = time.perf_counter() - t0

    def key(r: object) -> dict:
        fields = dataclasses.asdict(r)  # type: ignore[call-overload]
        fields.pop("seconds")
        return fields

    return {
        "backends": list(backends), "workers": workers, "pool": "ProcessPoolExecutor(spawn)",
        "results": len(seq), "identical": [key(r) for r in seq] == [key(r) for r in spread],
        "sequential_seconds": round(seq_s, 1), "distributed_seconds": round(par_s, 1),
        "speedup": round(seq_s / par_s, 2),
    }  # fmt: skip


def _in_fresh_process(fn: object, *args: object) -> dict:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e8)
    parser.add_argument("--ids", type=float, default=1e6)
    parser.add_argument("--backends", default="numpy")
    parser.add_argument("--out", default="docs/reports/scale.json")
    args = parser.parse_args()
    report = {
        "schema": "refpe-scale/1",
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores (shared)",
        "sinusoid_sum": _in_fresh_process(sinusoid_sum, int(args.rows), 2),
        "embedding_grad": _in_fresh_process(embedding_grad, int(args.ids)),
        "conformance": _in_fresh_process(conformance, 2, tuple(args.backends.split(","))),
    }
    report["targets"] = {
        "sinusoid_sum": "10^9 x 64 float32 on a LocalCluster(2), peak worker memory <= 2 chunks",
        "embedding_grad": "10^7 ids into 50000 x 64, Dask >= 0.5x the NumPy kernel per core",
        "conformance": "the whole suite on 2 workers >= 1.5x the sequential run",
        "vectors_align": "3M x 300 binary file aligned to 100k words, peak RSS <= 300 MB",
    }
    if os.path.exists(args.out):  # keep what scripts/scale_vectors.py measured
        with open(args.out) as f:
            kept = json.load(f).get("vectors_align")
        if kept is not None:
            report["vectors_align"] = kept
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
