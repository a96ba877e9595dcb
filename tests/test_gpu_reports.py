"""``scripts/gpu_reports.py``: without CUDA it says so and exits 0; its steps run on the CPU
(``--device-prefix cpu``) and write both reports; on a CUDA machine it runs for real."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "scripts" / "gpu_reports.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_reports", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_says_so_and_exits_cleanly(capsys, tmp_path):
    script = _script()
    name, _ = script.cuda_devices()
    if name is not None:
        pytest.skip(f"a CUDA device is present ({name})")
    assert script.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "no CUDA device" in out and "torch:" in out
    assert not os.listdir(tmp_path)


def test_the_steps_write_both_reports_on_the_cpu(tmp_path):
    script = _script()
    assert script.main(["--device-prefix", "cpu", "--spec", "rope", "--quick",
                        "--out", str(tmp_path)]) == 0  # fmt: skip
    files = sorted(p.name for p in tmp_path.iterdir())
    assert [f.split("-cpu-test-")[0] for f in files] == ["bench-gpu", "conformance-gpu"]
    conf = json.loads((tmp_path / files[1]).read_text())
    assert conf["gpu"]["device_prefix"] == "cpu"
    assert conf["gpu"]["settings_while_checking"]["torch"][
        "torch.backends.cuda.matmul.allow_tf32"] == "False"  # fmt: skip
    bench = json.loads((tmp_path / files[0]).read_text())
    assert bench["schema"] == "refpe-bench/1" and bench["results"]
    assert script.slug("NVIDIA H200") == "nvidia-h200"


def test_bench_on_cuda_without_a_device_measures_nothing_and_says_why():
    from refpe import bench

    if bench.cuda_reason() is None:
        pytest.skip("a CUDA device is present")
    doc = bench.run(["rope"], quick=True, device="cuda")
    assert doc["results"] == [] and doc["skipped"].startswith("no CUDA device")
