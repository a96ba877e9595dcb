#!/usr/bin/env python
"""The GPU conformance and bench reports in one run, on a CUDA machine.

Writes ``docs/reports/conformance-gpu-<device>-<date>.json`` (the reference on PyTorch, JAX
and CuPy on the CUDA device, every spec and dtype, bfloat16 and float16 included, with TF32
off and JAX's matmul precision "highest" while checking, as the ``settings`` block records;
the ``kernel:<spec>:cupy`` subjects) and ``docs/reports/bench-gpu-<device>-<date>.json``
(``refpe bench --device cuda``). Without a CUDA device it says so and exits 0.

The image needs torch, jax, cupy, transformers, numpy (and mpmath for the oracle). refpe's
own pure-Python dependencies array-api-compat and rich travel as wheels: on a connected
machine ::

    python -m pip download --only-binary=:all: --dest wheels array-api-compat rich

(rich brings markdown-it-py, mdurl and pygments), copy ``wheels/`` next to this repository's
root, then on the GPU machine ::

    python scripts/gpu_reports.py            # installs wheels/ if they are missing

which runs ``pip install --no-index --find-links wheels array-api-compat rich`` first when
``array_api_compat`` or ``rich`` cannot be imported; refpe itself is used from ``src/``.

Options: ``--out DIR`` (default ``docs/reports``), ``--quick`` (small bench sizes),
``--spec ID`` (repeatable; default all), ``--device-prefix`` (``cuda``; the tests pass
``cpu`` to run the same steps on the CPU).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU_BACKENDS = ("torch", "jax", "cupy")


def ensure_dependencies(wheels: str = os.path.join(ROOT, "wheels")) -> None:
    """Install array-api-compat and rich from ``wheels/`` when they cannot be imported."""
    missing = [m for m in ("array_api_compat", "rich") if importlib.util.find_spec(m) is None]
    if not missing:
        return
    if not os.path.isdir(wheels):
        sys.exit(f"missing {', '.join(missing)} and no {wheels}/: see this script's header")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", wheels,
         "array-api-compat", "rich"],
        check=True,
    )  # fmt: skip


def cuda_devices() -> tuple[str | None, dict[str, str]]:
    """The CUDA device's name (``None`` when there is none) and each library's reason."""
    from refpe.backends import get

    reasons, name = {}, None
    for b in GPU_BACKENDS:
        backend = get(b)
        why = backend.available()
        if why is None:
            why = backend.unavailable_devices().get("cuda")
            if why is None and not any(d.startswith("cuda") for d in backend.devices()):
                why = f"{b} lists no CUDA device"
        if why is None and b == "torch":
            name = backend.lib.cuda.get_device_name(0)
        if why is None and name is None and b == "cupy":
            props = backend.lib.cuda.runtime.getDeviceProperties(0)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        if why:
            reasons[b] = why
    if name is None and len(reasons) < len(GPU_BACKENDS):
        name = "cuda"
    return name, reasons


def slug(name: str) -> str:
    """A device name as a file-name part: ``NVIDIA H200`` -> ``nvidia-h200``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "device"


def conformance(prefix: str, specs: tuple[str, ...]) -> dict:
    """The suite on ``prefix`` devices of PyTorch, JAX and CuPy, and the CuPy kernels."""
    from refpe import backends as B
    from refpe.conformance import Plan, report, run

    plan = Plan(specs=specs, backends=GPU_BACKENDS, devices=(prefix,),
                subjects=("refpe", *(f"kernel:{s}:cupy" for s in _hot())))  # fmt: skip
    import time

    t0 = time.perf_counter()
    results = run(plan)
    doc = report.to_json(results, time.perf_counter() - t0)
    settings = {}
    for b in GPU_BACKENDS:
        backend = B.get(b)
        if backend.available() is None:
            with backend.context("float32"):  # the state the checks ran in
                settings[b] = backend.settings()
    doc["gpu"] = {"device_prefix": prefix, "settings_while_checking": settings}
    return doc


def _hot() -> tuple[str, ...]:
    from refpe.kernels import HOT

    return tuple(s for s, hot in HOT.items() if "cupy" in hot.libraries)  # not Dask-only ones


def bench(prefix: str, specs: tuple[str, ...], quick: bool) -> dict:
    from refpe import bench as RB

    chosen = [s for s in (specs or RB.GPU_SPECS) if s in RB.GPU_SPECS]
    device = "cuda" if prefix == "cuda" else "cpu"
    backends = ("torch",) if device == "cpu" else RB.BACKENDS
    doc = RB.run(chosen, backends, quick=quick, device=device)
    return json.loads(json.dumps(doc, default=str).replace("Infinity", '"inf"'))


def write(path: str, doc: dict) -> None:
    from refpe.conformance.report import write_json

    write_json(path, doc)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "reports"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--spec", action="append", default=[])
    p.add_argument("--device-prefix", default="cuda", choices=("cuda", "cpu"))
    args = p.parse_args(argv)
    ensure_dependencies()
    sys.path.insert(0, os.path.join(ROOT, "src"))
    if args.device_prefix == "cuda":
        name, reasons = cuda_devices()
        if name is None:
            print("no CUDA device: nothing to report")
            for b, why in reasons.items():
                print(f"  {b}: {why}")
            return 0
    else:
        name = "cpu-test"
    date = datetime.date.today().isoformat()
    tag = f"{slug(name)}-{date}"
    specs = tuple(args.spec)
    os.makedirs(args.out, exist_ok=True)
    write(
        os.path.join(args.out, f"conformance-gpu-{tag}.json"),
        conformance(args.device_prefix, specs),
    )
    write(
        os.path.join(args.out, f"bench-gpu-{tag}.json"),
        bench(args.device_prefix, specs, args.quick),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
