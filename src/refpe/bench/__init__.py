"""``refpe bench``: throughput of the hot specs, as ratios measured in the same run.

Every benchmark (a *work*: one spec, one backend, one size) runs a few *candidates* on the
same inputs: ``reference`` (the refpe function with ``kernel="reference"``), ``kernel``
(``refpe.kernels``: what the public function answers through by default),
``peer`` (what people use: the float32 ``pow``-form sinusoid, Hugging Face's
``apply_rotary_pos_emb``, ``np.take`` / ``F.embedding``, ``np.add.at`` / ``index_add_``,
gensim, ``tokenizers``), ``copy`` (a memory copy of the output's bytes on the same
backend; for file readers, reading the file's bytes) and, where an optional package gives
a fast path, ``fallback`` (what runs without it: the three-pass NumPy RoPE, the blocked
sinusoid table, the three-pass input layer, ATen's embedding gradient and the binary reader's
record-by-record scan without ``numba``; the pure text reader without ``pyarrow``).
Candidates are timed round-robin (warm-up rounds first, then ``repeats`` rounds, each candidate
once per round, the backend synchronised after each call) so a shared machine's load falls on
all of them alike; the median is reported (a work whose rounds would take over a minute gets
fewer, at least 3). ``vs_copy = t_copy / t`` (1.0: copy speed) and ``vs_peer = t_peer / t``
(above 1: faster than the peer) compare within the run; for the sinusoid table ``vs_sin = t_sin
/ t`` compares with the library's own float32 ``sin`` over as many elements. Where cheap, each
output's normalised error under the spec's error model is measured against the float64
reference.

JSON (``--json PATH``), schema ``refpe-bench/1``::

    {"schema": "refpe-bench/1", "created": ISO-8601 UTC, "quick": bool, "large": bool,
     "seconds": float,
     "device": "cpu" or "cuda", "skipped": why nothing was measured (no CUDA device; absent
     otherwise),
     "machine": {"platform", "processor", "cpus", "memory_bytes", "python",
                 "load_before": [1, 5, 15 min], "load_after": [...], "torch_threads"},
     "libraries": {name: version},
     "settings": {"repeats": int, "warmup": int, "OMP_WAIT_POLICY": str | None},
     "results": [{"spec", "case", "backend", "device", "dtype", "shape": {...},
                  "bytes": int (the bytes the copy baseline moves), "note": str,
                  "candidates": {label: {"role": "reference"|"kernel"|"peer"|"copy"|"baseline"
                                                 |"fallback",
                                         "name": what ran, "median_s", "min_s",
                                         "runs_s": [...], "gbytes_per_s",
                                         "vs_copy", "vs_peer", "vs_sin", "error",
                                         "peak_bytes", "peak_how", "peak_vs_array",
    "peak_rss_bytes",
                                         "skipped": reason (then no timings)}}}],
     "targets": [{"name", "measured", "target", "met"}],
     "sweeps": [{"spec", "backend", "axis": "T"|"d", "fixed": {...},
                 "points": [{"T", "d", "seconds": {label: median_s}}]}]}

``error`` is ``max |y - y64| / (eps * scale)`` (``scale`` from the spec; 0 means
bit-exact) or ``null`` where not measured; ``peak_bytes`` is the peak memory of one extra,
untimed call: ``peak_how`` ``"tracemalloc"`` (NumPy's buffers; the embedding gradient) or
``"rss"`` (the resident-set growth of a fresh process over the call, every allocator
counted, after one read of a 2-row file there so that a library's one-time start,
Arrow's thread pools, is not counted; the file readers, whose parser allocates in Arrow's
pool), and ``peak_vs_array``
that peak over the bytes of the array read. ``--large`` (``large``: true) runs the file
readers on a 10^6-row text and a 3·10^6-row binary file, once each.

The pieces: ``work`` (what is measured, at which sizes; a work and its candidates),
``works_tables``, ``works_rope``, ``works_embedding`` and ``works_text`` (the works of each
spec), ``timing`` (round-robin timing, peak memory, the machine) and ``target_table``
(the performance targets). This module puts them together: ``run``.
"""

from __future__ import annotations

import datetime
import gc
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

from refpe.backends import get

from .target_table import TARGETS, targets
from .timing import (
    BUDGET_S,
    machine,
    peak_bytes,
    peak_rss_bytes,
    run_work,
    time_round_robin,
    versions,
)
from .work import (
    BACKENDS,
    FULL,
    LARGE,
    OPTIONAL,
    QUICK,
    SPECS,
    Candidate,
    Work,
    copy_candidate,
    fallback,
    fallback_candidate,
    normalised,
    zipf_ids,
)
from .works_embedding import REFERENCE_GRAD_LIMIT, grad_works, input_add_works, lookup_works
from .works_gpu import GPU_SPECS, cuda_reason, gpu_works
from .works_rope import rope_works
from .works_tables import FAR, far_table_work, sinusoid_works
from .works_text import reader_works, wordpiece_works

__all__ = [
    "BACKENDS",
    "BUDGET_S",
    "BUILDERS",
    "FAR",
    "FULL",
    "GPU_SPECS",
    "HOST_ONLY",
    "LARGE",
    "OPTIONAL",
    "QUICK",
    "REFERENCE_GRAD_LIMIT",
    "SCHEMA",
    "SPECS",
    "SWEEP_D",
    "SWEEP_HEAD",
    "SWEEP_T",
    "TARGETS",
    "Candidate",
    "Work",
    "copy_candidate",
    "cuda_reason",
    "fallback",
    "fallback_candidate",
    "far_table_work",
    "gpu_works",
    "grad_works",
    "input_add_works",
    "lookup_works",
    "machine",
    "normalised",
    "peak_bytes",
    "peak_rss_bytes",
    "reader_works",
    "rope_works",
    "run",
    "run_work",
    "sinusoid_works",
    "sweep",
    "targets",
    "time_round_robin",
    "versions",
    "wordpiece_works",
    "works_for",
    "zipf_ids",
]

SCHEMA = "refpe-bench/1"
SWEEP_T = (128, 512, 2048, 8192, 32768)
SWEEP_D = (64, 256, 1024, 4096)
SWEEP_HEAD = (64, 128, 256, 512)

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


def works_for(
    specs: Iterable[str], backends: Iterable[str], quick: bool, tmp: str, sizes: dict | None = None
) -> list[Work]:
    """The works of ``specs`` on ``backends`` at the quick or full sizes (or ``sizes``):
    host-only specs on the first backend only, optional backends on their own specs only;
    files go under ``tmp``."""
    sizes = sizes or (QUICK if quick else FULL)
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
    device: str = "cpu",
    large: bool = False,
) -> dict[str, Any]:
    """Run the benchmarks; the JSON document described in this module's docstring.

    ``device="cuda"``: the CUDA works of :mod:`refpe.bench.works_gpu` instead (``backends``
    unused); without a CUDA device nothing is measured and ``"skipped"`` says why.
    ``large``: the specs of :data:`LARGE` at its sizes (files of gigabytes: one timed round
    and no warm-up unless ``repeats``/``warmup`` say otherwise)."""
    if large:
        specs = [s for s in specs if s in LARGE]
        repeats, warmup = repeats or 1, warmup if repeats else 0
    specs, backends = list(specs), [b for b in backends if get(b).available() is None]
    repeats = repeats or (3 if quick else 7)
    t0 = time.perf_counter()
    info = machine()
    results = []
    skipped = cuda_reason() if device.startswith("cuda") else None
    with tempfile.TemporaryDirectory(prefix="refpe-bench-") as tmp:
        for spec in specs:
            if skipped:
                break
            if device.startswith("cuda"):
                sized = QUICK if quick else FULL
                chosen = gpu_works([spec], sized) if spec in GPU_SPECS else []
            else:
                chosen = works_for([spec], backends, quick, tmp, LARGE if large else None)
            for work in chosen:
                results.append(run_work(work, repeats, warmup))
                if progress:
                    progress(results[-1])
                del work
                gc.collect()
    curves = []
    if sweeps and not device.startswith("cuda"):
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
        "large": large,
        "seconds": time.perf_counter() - t0,
        "device": device,
        **({"skipped": skipped} if skipped else {}),
        "machine": info,
        "libraries": versions(),
        "settings": {
            "repeats": repeats,
            "warmup": warmup,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        },
        "results": results,
        "targets": [] if quick else targets(results),
        "sweeps": curves,
    }
