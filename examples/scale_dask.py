"""Measure refpe on Dask at scale and write ``docs/reports/scale.json``.

    PYTHONPATH=src python examples/scale_dask.py [--rows 1e9] [--ids 1e7]
        [--backends all] [--only sinusoid_sum,embedding_grad,conformance] [--out PATH]

- ``sinusoid_sum``: the sum of a ``rows x 64`` float32 sinusoid table (blocks of 2^19 rows,
  128 MiB) on a ``distributed.LocalCluster`` of 2 processes of 1 thread each; each worker's
  resident memory is sampled every 0.2 s and its peak read from ``ru_maxrss``; the sum is
  compared with its closed form.
- ``embedding_grad``: the Dask gradient (one thread, blocks of 2^18 ids) against the NumPy
  kernel, in a fresh process.
- ``conformance``: the command users run, ``refpe conformance --backend B`` against
  ``refpe conformance --backend B --workers 2``, each the wall time of the whole command
  in a child process, with the JSON reports compared.

Only the measurements named by ``--only`` are replaced in the report; the others (and
``vectors_align``, written by ``scripts/scale_vectors.py``) are kept.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MiB = 2**20
CLUSTER = "LocalCluster(n_workers=2, threads_per_worker=1, processes=True)"
TARGETS = {
    "sinusoid_sum": "10^9 x 64 float32 on a LocalCluster(2), peak worker memory <= 2 chunks",
    "embedding_grad": "10^7 ids into 50000 x 64, Dask >= 0.5x the NumPy kernel per core",
    "conformance": "the whole suite on 2 workers >= 1.5x the sequential run",
    "vectors_align": "3M x 300 binary file aligned to 100k words, peak RSS <= 300 MB",
}


@contextlib.contextmanager
def _cluster(workers: int) -> Iterator[Any]:
    """A client of a ``LocalCluster`` of ``workers`` one-thread processes, all started, and
    closed on the way out."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        client.wait_for_workers(workers)
        yield client


def machine() -> str:
    cores = f"{os.cpu_count()} cores (shared)"
    return f"{platform.machine()}, {cores}, Python {platform.python_version()}"


def closed_form_sum(rows: int, d: int = 64, base: float = 10000.0) -> float:
    """``sum_p sum_i sin(p w_i) + cos(p w_i)`` over ``p < rows``, ``w_i = base^(-2i/d)``,
    from the Dirichlet sums, in 40-digit arithmetic (``d`` even)."""
    import mpmath

    with mpmath.workdps(40):
        n, total = mpmath.mpf(rows), mpmath.mpf(0)
        for i in range(d // 2):
            w = mpmath.power(base, mpmath.mpf(-2 * i) / d)
            h = (n - 1) * w / 2
            total += mpmath.sin(n * w / 2) / mpmath.sin(w / 2) * (mpmath.sin(h) + mpmath.cos(h))
        return float(total)


class _RSSPoller:
    """The largest resident memory of each process in ``pids`` ({name: pid}), sampled every
    ``interval`` seconds in a thread while the ``with`` block runs."""

    def __init__(self, pids: dict, interval: float = 0.2) -> None:
        import psutil

        self.procs = {k: psutil.Process(p) for k, p in pids.items()}
        self.peak = dict.fromkeys(pids, 0.0)
        self.interval, self.samples = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for k, p in self.procs.items():
                try:
                    self.peak[k] = max(self.peak[k], p.memory_info().rss / MiB)
                except Exception:  # a worker gone: keep its last peak
                    pass
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> _RSSPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sinusoid_sum(
    rows: int, workers: int = 2, chunk_rows: int | None = None, progress: bool = False
) -> dict:
    """The float64 sum of ``refpe.pe_sinusoidal(rows, 64, xp=dask.array, dtype="float32")``
    (blocks of ``chunk_rows`` rows; default: refpe's, 2^19 rows = 128 MiB) on a
    ``LocalCluster`` of ``workers`` processes of one thread; per worker, the resident memory
    before, the peak during, and the growth in MiB and in chunks."""
    import dask.array as da
    import numpy as np

    import refpe

    def rss() -> tuple[int, float, float]:  # runs in a worker: pid, current and peak RSS
        import resource

        import psutil

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return os.getpid(), psutil.Process().memory_info().rss / MiB, peak

    kw = {} if chunk_rows is None else {"chunks": chunk_rows}
    t_start = time.perf_counter()
    with _cluster(workers) as client:
        warm = refpe.pe_sinusoidal(8 * workers, 64, xp=da, dtype="float32", chunks=4)
        client.compute(warm.sum(dtype=np.float64)).result()  # imports refpe on the workers
        startup = time.perf_counter() - t_start
        before = client.run(rss)
        t0 = time.perf_counter()
        x = refpe.pe_sinusoidal(rows, 64, xp=da, dtype="float32", **kw)
        call = time.perf_counter() - t0
        with _RSSPoller({w: v[0] for w, v in before.items()}) as poll:
            future = client.compute(x.sum(dtype=np.float64))
            if progress:
                from distributed import progress as bar

                bar(future)
                print(file=sys.stderr)
            total = float(future.result())
            wall = time.perf_counter() - t0
        after = client.run(rss)
    chunk_mib = max(x.chunks[0]) * 64 * 4 / MiB
    per_worker = []
    for w, (_, base, peak_before) in sorted(before.items()):
        peak = max(after[w][2], poll.peak[w])
        per_worker.append({
            "baseline_rss_mib": round(base, 1), "peak_rss_before_mib": round(peak_before, 1),
            "peak_rss_mib": round(peak, 1),
            "sampled_peak_rss_mib": round(poll.peak[w], 1),
            "growth_mib": round(peak - base, 1),
            "growth_chunks": round((peak - base) / chunk_mib, 2),
        })  # fmt: skip
    want = closed_form_sum(rows)
    return {
        "rows": rows, "d": 64, "dtype": "float32", "blocks": len(x.chunks[0]),
        "chunk_rows": max(x.chunks[0]), "chunk_mib": chunk_mib, "workers": workers,
        "scheduler": f"dask.distributed {CLUSTER}", "machine": machine(),
        "cluster_start_seconds": round(startup, 2), "call_seconds": round(call, 4),
        "seconds": round(wall, 2), "rows_per_second": round(rows / wall),
        "sum": total, "closed_form_sum": want, "difference": total - want,
        "memory": "peak: the larger of ru_maxrss after the run and RSS sampled every 0.2 s; "
        "growth: peak minus the RSS before the run",
        "per_worker": per_worker,
        "max_growth_chunks": max(p["growth_chunks"] for p in per_worker),
    }  # fmt: skip


def embedding_grad(ids: int, vocab: int = 50_000, d: int = 64, block: int = 2**18) -> dict:
    """Dask (one thread, blocks of ``block`` ids) against the NumPy kernel, per core."""
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
    lazy = refpe.embedding_grad(
        da.from_array(idx, chunks=block), da.from_array(g, chunks=(block, d)), vocab
    )
    with dask.config.set(scheduler="threads", num_workers=1):
        t0 = time.perf_counter()
        got = lazy.compute()
        dask_s = time.perf_counter() - t0
    return {
        "ids": ids, "vocab": vocab, "d": d, "dtype": "float32", "block_ids": block,
        "scheduler": "dask threads, num_workers=1 (one core)", "machine": machine(),
        "numpy_kernel_seconds": round(numpy_s, 3), "dask_one_thread_seconds": round(dask_s, 3),
        "throughput_ratio": round(numpy_s / dask_s, 3),
        "max_abs_difference": float(np.abs(got.astype(float) - want).max()),
        "bit_equal": bool(np.array_equal(got, want)),
    }  # fmt: skip


def _refpe_command() -> list[str]:
    exe = shutil.which("refpe", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "refpe"]


def _command(args: list[str], report: str) -> tuple[float, int, dict]:
    """Wall time and exit status of ``refpe conformance ARGS --json REPORT``, and the report."""
    cmd = [*_refpe_command(), "conformance", *args, "--no-progress", "--json", report]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if not os.path.exists(report):
        raise RuntimeError(f"{' '.join(cmd)} wrote no report:\n{done.stdout}\n{done.stderr}")
    with open(report) as f:
        return wall, done.returncode, json.load(f)


def _pieces(results: list[dict]) -> dict[str, float]:
    """The seconds of each piece ``run_distributed`` sends to a worker (the reference per
    backend and spec, other subjects one each), from a report's per-result seconds."""
    out: dict[str, float] = {}
    for r in results:
        key = f"refpe {r['backend']} {r['spec']}" if r["subject"] == "refpe" else r["subject"]
        out[key] = out.get(key, 0.0) + (r["seconds"] or 0.0)
    return out


def worker_startup(workers: int, modules: tuple[str, ...]) -> float:
    """Seconds to start a ``LocalCluster`` of ``workers`` processes and import ``modules``
    on each worker: the fixed cost of ``--workers``."""

    def load() -> None:
        import importlib

        for m in modules:
            importlib.import_module(m)

    t0 = time.perf_counter()
    with _cluster(workers) as client:
        client.run(load)
        return time.perf_counter() - t0


def conformance(workers: int, backends: str, spec: str | None = None) -> dict:
    """``refpe conformance --backend BACKENDS`` sequential and with ``--workers``: the wall
    time of each command, its exit status, and whether the reports' results are identical
    (all fields but the per-result seconds). ``best_possible_seconds`` estimates the
    fastest distributed command: its overhead outside the run (interpreter, imports, the
    report), the workers' start with the backends imported, and the larger of the pieces'
    seconds shared among the workers and the largest piece."""
    base = ["--backend", backends, *(["--spec", spec] if spec else [])]
    with tempfile.TemporaryDirectory() as tmp:
        # once first, so that both timed runs read the libraries from the page cache
        _command([*base, "--spec", spec or "token-lookup"], os.path.join(tmp, "warm.json"))
        seq_s, seq_rc, seq = _command(base, os.path.join(tmp, "seq.json"))
        flags = [*base, "--workers", str(workers)]
        par_s, par_rc, par = _command(flags, os.path.join(tmp, "par.json"))

    def strip(rep: dict) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rep["results"]]

    a, b = strip(seq), strip(par)
    differing = sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
    first = next(({k: [x[k], y.get(k)] for k in x if x[k] != y.get(k)} | {"spec": x["spec"],
                   "case": x["case"], "subject": x["subject"], "backend": x["backend"]}
                  for x, y in zip(a, b, strict=False) if x != y), None)  # fmt: skip
    pieces = _pieces(seq["results"])
    busy = sum(pieces.values())
    largest = max(pieces, key=pieces.__getitem__)
    libs = {r["backend"] for r in seq["results"]} & {"torch", "jax", "array_api_strict", "dask"}
    startup = worker_startup(workers, ("refpe.conformance", "numpy", *sorted(libs)))
    overhead = seq_s - seq["wall_seconds"]  # interpreter, imports, report: not spread
    best = overhead + startup + max(busy / workers, pieces[largest])
    return {
        "command": f"refpe conformance {' '.join(base)} [--workers {workers}]",
        "workers": workers, "scheduler": f"dask.distributed {CLUSTER} (--workers {workers})",
        "machine": machine(), "results": len(a), "summary": seq["summary"],
        "exit_status": [seq_rc, par_rc], "identical": a == b and seq_rc == par_rc,
        "differing_results": differing, **({"first_difference": first} if first else {}),
        "sequential_seconds": round(seq_s, 1), "distributed_seconds": round(par_s, 1),
        "speedup": round(seq_s / par_s, 2),
        "report_wall_seconds": [seq["wall_seconds"], par["wall_seconds"]],
        "pieces": len(pieces), "pieces_busy_seconds": round(busy, 1),
        "largest_piece": [largest, round(pieces[largest], 1)],
        "command_overhead_seconds": round(overhead, 1),
        "worker_startup_seconds": round(startup, 1),
        "best_possible_seconds": round(best, 1),
        "best_possible_speedup": round(seq_s / best, 2),
    }  # fmt: skip


def _in_fresh_process(fn: object, *args: object) -> dict:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e9)
    parser.add_argument("--ids", type=float, default=1e7)
    parser.add_argument("--backends", default="all", help="--backend of refpe conformance")
    parser.add_argument("--spec", default=None, help="--spec of refpe conformance (default: all)")
    parser.add_argument("--only", default="sinusoid_sum,embedding_grad,conformance")
    parser.add_argument("--out", default="docs/reports/scale.json")
    args = parser.parse_args()
    only = args.only.split(",")
    unknown = set(only) - {"sinusoid_sum", "embedding_grad", "conformance"}
    if unknown:
        parser.error(f"unknown measurement(s) {sorted(unknown)}")
    report: dict = {"schema": "refpe-scale/1", "machine": machine()}
    if os.path.exists(args.out):  # keep what is not measured now
        with open(args.out) as f:
            report.update({k: v for k, v in json.load(f).items() if k not in ("schema", "machine")})
    if "sinusoid_sum" in only:
        report["sinusoid_sum"] = sinusoid_sum(int(args.rows), 2, progress=True)
    if "embedding_grad" in only:
        report["embedding_grad"] = _in_fresh_process(embedding_grad, int(args.ids))
    if "conformance" in only:  # the whole suite (all backends) and any other selection apart
        whole = args.backends == "all" and not args.spec
        key = "conformance_whole_suite" if whole else "conformance"
        report[key] = conformance(2, args.backends, args.spec)
    report["targets"] = TARGETS
    order = ["schema", "machine", "sinusoid_sum", "embedding_grad", "conformance"]
    order += ["conformance_whole_suite", "targets"]
    report = {k: report[k] for k in [*order, *report] if k in report}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v for k, v in report.items() if k in only}, indent=1))


if __name__ == "__main__":
    main()
