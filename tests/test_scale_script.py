"""``examples/scale_dask.py`` at tiny sizes: the sum on a LocalCluster of 2 processes equals
the NumPy table's, the Dask gradient the NumPy kernel's, and the closed form the table's sum."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

import refpe

pytest.importorskip("dask.array")
pytest.importorskip("distributed")
pytest.importorskip("mpmath")
pytest.importorskip("psutil")

PATH = pathlib.Path(__file__).resolve().parents[1] / "examples" / "scale_dask.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("scale_dask", PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_dask"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("scale_dask", None)


def test_sinusoid_sum_on_a_local_cluster_equals_numpy(scale):
    rows = 10_000
    got = scale.sinusoid_sum(rows, 2, chunk_rows=1024)
    want = refpe.pe_sinusoidal(rows, 64, dtype="float32").astype(np.float64).sum()
    assert got["sum"] == pytest.approx(want, rel=1e-12, abs=0)
    assert got["closed_form_sum"] == pytest.approx(want, rel=1e-8, abs=0)
    assert got["blocks"] == 10 and got["chunk_rows"] == 1024
    assert got["chunk_mib"] == 1024 * 64 * 4 / 2**20
    assert len(got["per_worker"]) == 2
    for w in got["per_worker"]:
        assert 0 < w["baseline_rss_mib"] <= w["peak_rss_mib"]
        assert w["growth_mib"] == pytest.approx(w["peak_rss_mib"] - w["baseline_rss_mib"], abs=0.11)
    assert got["max_growth_chunks"] == max(w["growth_chunks"] for w in got["per_worker"])


@pytest.mark.parametrize("rows", [1, 2, 999, 4096, 70_001])
def test_closed_form_is_the_table_sum(scale, rows):
    table = refpe.pe_sinusoidal(rows, 64, dtype="float64")
    assert scale.closed_form_sum(rows) == pytest.approx(table.sum(), rel=1e-10, abs=1e-9)


def test_embedding_grad_dask_equals_numpy_kernel(scale):
    got = scale.embedding_grad(5000, vocab=300, d=8, block=1000)
    assert got["bit_equal"] and got["max_abs_difference"] == 0.0
    assert got["throughput_ratio"] > 0


def test_pieces_follow_run_distributed(scale):
    results = [
        {"subject": "refpe", "backend": "numpy", "spec": "rope", "seconds": 1.0},
        {"subject": "refpe", "backend": "numpy", "spec": "rope", "seconds": 0.5},
        {"subject": "refpe", "backend": "jax", "spec": "rope", "seconds": 2.0},
        {"subject": "torch.nn.Embedding", "backend": "torch", "spec": "token-lookup",
         "seconds": None},
    ]  # fmt: skip
    assert scale._pieces(results) == {
        "refpe numpy rope": 1.5,
        "refpe jax rope": 2.0,
        "torch.nn.Embedding": 0.0,
    }
