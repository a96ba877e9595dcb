"""Measure ``refpe vectors align`` and ``info --check`` on a large word2vec binary file.

Writes a ``ROWS x DIM`` float32 word2vec binary file (3M x 300 by default: 3.6 GB) block by
block into a temporary folder, aligns it to a vocabulary of ``VOCAB`` tokens (95% of them in
the file) with the command line in a child process, and records each command's peak resident
memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a child that runs only that command) and
wall time under the ``vectors_align`` key of ``docs/reports/scale.json``. The file is deleted
afterwards. Run it as ``nice -n 10 python scripts/scale_vectors.py [--rows N --dim D
--vocab V --folder DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "reports" / "scale.json"
#: Runs one command in a child and prints its peak RSS in KiB (Linux ``ru_maxrss``).
MEASURE = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def write_file(path: Path, rows: int, dim: int, block: int = 20_000) -> None:
    """``w0 .. w{rows-1}`` with seeded normal float32 vectors, one block in memory at a time."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(f"{rows} {dim}\n".encode())
        for lo in range(0, rows, block):
            hi = min(rows, lo + block)
            values = rng.standard_normal((hi - lo, dim), dtype=np.float32).astype("<f4")
            f.write(b"".join(f"w{i} ".encode() + values[i - lo].tobytes() + b"\n"
                             for i in range(lo, hi)))  # fmt: skip


def measure(argv: list[str]) -> tuple[float, float]:
    """``(seconds, peak RSS in MiB)`` of ``python -m refpe`` with ``argv``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "refpe", *argv],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return time.perf_counter() - t0, int(out.stdout.split()[-1]) / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=3_000_000)
    p.add_argument("--dim", type=int, default=300)
    p.add_argument("--vocab", type=int, default=100_000)
    p.add_argument("--folder", default=tempfile.gettempdir())
    p.add_argument("--no-report", dest="report", action="store_false")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder, prefix="refpe-scale-") as folder:
        path = Path(folder) / "vectors.bin"
        t0 = time.perf_counter()
        write_file(path, args.rows, args.dim)
        made = time.perf_counter() - t0
        found = args.vocab * 95 // 100
        step = max(1, args.rows // found)
        tokens = [f"w{i}" for i in range(0, step * found, step)][:found]
        tokens += [f"oov{i}" for i in range(args.vocab - len(tokens))]
        (Path(folder) / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
        out = Path(folder) / "table.npy"
        seconds, rss = measure(["vectors", "align", str(path), str(Path(folder) / "vocab.txt"),
                                str(out), "--seed", "0", "--no-progress"])  # fmt: skip
        table = np.load(out, mmap_mode="r")
        check_seconds, check_rss = measure(["vectors", "info", str(path), "--check"])
        facts = {
            "rows": args.rows,
            "d": args.dim,
            "file_bytes": path.stat().st_size,
            "vocab": args.vocab,
            "found": found,
            "table_shape": list(table.shape),
            "table_mib": round(table.nbytes / 2**20, 1),
            "write_file_seconds": round(made, 1),
            "align_seconds": round(seconds, 1),
            "align_peak_rss_mib": round(rss, 1),
            "check_seconds": round(check_seconds, 1),
            "check_peak_rss_mib": round(check_rss, 1),
            "command": "refpe vectors align FILE vocab.txt table.npy --seed 0 (child process)",
            "python": platform.python_version(),
        }
        del table
    print(json.dumps(facts, indent=1))
    if args.report:
        report = json.loads(REPORT.read_text(encoding="utf-8"))
        report["vectors_align"] = facts
        REPORT.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")


if __name__ == "__main__":
    main()
