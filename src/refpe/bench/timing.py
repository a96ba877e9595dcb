"""Timing for ``refpe bench``: candidates round-robin, the peak memory of one call, one
work's JSON record, and the machine and library versions the report records."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import refpe
from refpe.backends import get

from .work import BACKENDS, OPTIONAL, Candidate, Work

#: Seconds of timed rounds per work above which fewer rounds are run (never fewer than 3).
BUDGET_S = 60.0


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
            if c.role != "copy":  # a copy's output is never judged: its memory is not kept
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


def _rss_child(fn: Callable[[], Any], warm: Callable[[], Any] | None) -> int:
    """In the measuring process: the resident-set growth over one call of ``fn``."""

    def status(key: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    if warm is not None:
        warm()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the high-water mark starts again from the current resident set
    base = status("VmRSS:")
    fn()
    return status("VmHWM:") - base


_CHILD = """
import pickle, sys
from refpe.bench.timing import _rss_child
args = pickle.load(sys.stdin.buffer)
try:
    out = _rss_child(*args)
except BaseException as exc:
    out = repr(exc)
sys.stdout.buffer.write(pickle.dumps(out))
"""


def peak_rss_bytes(fn: Callable[[], Any], warm: Callable[[], Any] | None = None) -> int | None:
    """How far one call of ``fn`` raises the resident set of a fresh process above what it
    held before the call (every allocator counted, Arrow's memory pool too, which tracemalloc
    does not see), after one call of ``warm`` there (a library's one-time start: imports,
    thread pools). ``None`` off Linux; ``fn`` and ``warm`` must pickle (module-level
    functions or ``functools.partial`` of them)."""
    import pickle
    import subprocess

    if not os.path.exists("/proc/self/clear_refs"):
        return None
    # a plain interpreter on this one's import path: no __main__ module is imported again
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps((fn, warm)),
                          capture_output=True, env=env, check=False)  # fmt: skip
    try:
        got = pickle.loads(done.stdout)
    except Exception:
        got = f"the measuring process exited with code {done.returncode}: {done.stderr[-500:]!r}"
    if isinstance(got, str):
        raise RuntimeError(f"peak memory of {fn!r}: {got}")
    return got


def _peak(c: Candidate) -> int | None:
    if c.peak == "rss":
        return peak_rss_bytes(c.fn, c.warm)  # type: ignore[arg-type]
    return peak_bytes(c.fn) if c.peak else None  # type: ignore[arg-type]


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
                peak_bytes=_peak(c),
                peak_how=("rss" if c.peak == "rss" else "tracemalloc") if c.peak else None,
            )
            if rec["peak_bytes"] and "array_bytes" in work.extra:
                rec["peak_vs_array"] = rec["peak_bytes"] / work.extra["array_bytes"]
        cands[c.label] = rec
    return {
        "spec": work.spec, "case": work.case, "backend": work.backend, "device": work.device,
        "dtype": work.dtype, "shape": work.shape, "bytes": work.bytes, "note": work.note,
        "candidates": cands,
    }  # fmt: skip


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
