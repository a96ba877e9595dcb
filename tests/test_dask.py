"""refpe on Dask: public functions that travel to workers, lazy chunked tables whose blocks run
the NumPy kernels, the tree-summed embedding gradient, the conformance suite spread over
processes with the sequential run's results."""

from __future__ import annotations

import dataclasses
import multiprocessing
import pickle
import time
from concurrent.futures import ProcessPoolExecutor

import cloudpickle
import numpy as np
import pytest

import refpe
from refpe.kernels import HOT

da = pytest.importorskip("dask.array")
import dask  # noqa: E402


@pytest.mark.parametrize("name", [hot.function for hot in HOT.values()])
def test_public_functions_pickle_by_reference(name):
    fn = getattr(refpe, name)
    assert pickle.loads(pickle.dumps(fn)) is fn
    assert pickle.loads(cloudpickle.dumps(fn)) is fn
    assert len(cloudpickle.dumps(fn)) < 200  # a reference, not the dispatcher's state


def test_sinusoid_table_is_lazy_and_chunked():
    t0 = time.perf_counter()
    x = refpe.pe_sinusoidal(10**9, 64, xp=da, dtype="float32")
    assert time.perf_counter() - t0 < 2.0  # nothing of 10^9 rows is computed or checked
    assert x.shape == (10**9, 64) and x.dtype == np.float32
    assert max(x.chunks[0]) * 64 * 4 <= 2**27
    assert refpe.last_kernel() == "refpe.kernels.dask.pe_sinusoidal_dask"
    block = x[-3:].compute()
    want = refpe.pe_sinusoidal(np.arange(10**9 - 3, 10**9), 64, dtype="float32", kernel="reference")
    np.testing.assert_array_equal(block, want)


@pytest.mark.parametrize(
    "options",
    [{}, {"schedule": "t2t"}, {"layout": "concatenated", "offset": 5}, {"offset": -40}],
)
@pytest.mark.parametrize("d", [8, 7])
def test_sinusoid_blocks_equal_the_reference_float64(options, d):
    got = refpe.pe_sinusoidal(300, d, xp=da, chunks=77, **options)
    assert got.chunks[0] == (77, 77, 77, 69)
    want = refpe.pe_sinusoidal(300, d, kernel="reference", **options)
    np.testing.assert_array_equal(got.compute(), want)


def test_sinusoid_float32_far_rows_are_the_reference():
    got = refpe.pe_sinusoidal(2000, 64, xp=da, chunks=512, offset=2**30, dtype="float32")
    want = refpe.pe_sinusoidal(2000, 64, offset=2**30, dtype="float32", kernel="reference")
    np.testing.assert_array_equal(got.compute(), want)


def test_sinusoid_of_dask_positions_checks_each_block_when_computed():
    p = np.arange(600).reshape(20, 30) * 13
    got = refpe.pe_sinusoidal(da.from_array(p, chunks=(7, 11)), 6, schedule="t2t")
    np.testing.assert_array_equal(
        got.compute(), refpe.pe_sinusoidal(p, 6, schedule="t2t", kernel="reference")
    )
    bad = refpe.pe_sinusoidal(da.from_array(np.array([1, 2, 2**40]), chunks=1), 4)  # lazy
    with pytest.raises(IndexError, match="1099511627776"):
        bad.compute()


def test_sinusoid_range_of_int_n_checked_at_call_without_data():
    with pytest.raises(IndexError, match="2147483652"):
        refpe.pe_sinusoidal(2**31 + 5, 4, xp=da)


def test_chunks_refused_outside_dask():
    with pytest.raises(ValueError, match="chunks"):
        refpe.pe_sinusoidal(10, 4, chunks=5)


@pytest.fixture
def batch():
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 300, size=(40, 30))
    table = rng.standard_normal((300, 8)).astype(np.float32)
    return ids, table, da.from_array(ids, chunks=(9, 7))


def test_token_lookup_and_input_add_per_block(batch):
    ids, table, dids = batch
    for tab in (table, da.from_array(table, chunks=(100, 4))):
        got = refpe.token_lookup(dids, tab, scale=2.0)
        np.testing.assert_array_equal(got.compute(), refpe.token_lookup(ids, table, scale=2.0))
    pe = refpe.pe_sinusoidal(30, 8, dtype="float32")
    got = refpe.input_add(dids, table, pe, scale=3.0, start=0)
    np.testing.assert_array_equal(got.compute(), refpe.input_add(ids, table, pe, scale=3.0))
    bad = refpe.token_lookup(da.from_array(np.array([0, 300]), chunks=1), table)  # lazy
    with pytest.raises(IndexError, match="300"):
        bad.compute()


@pytest.mark.parametrize(
    "options",
    [{}, {"scale_grad_by_freq": True}, {"padding_idx": -3, "frozen": np.arange(300) % 7 == 0}],
)
def test_embedding_grad_tree_is_bit_exact_when_float64_sums_are(batch, options):
    """float32 gradients m 2^e (24-bit m, e in [-20, 0]): multiples of 2^-20 below 2^23, so
    every float64 sum is exact in any order (43 bits plus the count's) while float32 sums are
    not; the tree of block sums must equal the NumPy kernel and the reference bit for bit."""
    ids, _, dids = batch
    rng = np.random.default_rng(3)
    m = rng.integers(-(2**23), 2**23, size=(*ids.shape, 8))
    g = np.ldexp(m.astype(float), rng.integers(-20, 1, size=m.shape)).astype(np.float32)
    got = refpe.embedding_grad(dids, da.from_array(g, chunks=(9, 7, 8)), 300, **options)
    assert refpe.last_kernel() == "refpe.kernels.dask.embedding_grad_dask"
    got = got.compute()
    np.testing.assert_array_equal(got, refpe.embedding_grad(ids, g, 300, **options))
    want = refpe.embedding_grad(ids, g, 300, kernel="reference", **options)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.float32


def test_embedding_grad_out_of_range_raises_when_computed(batch):
    _, _, dids = batch
    lazy = refpe.embedding_grad(dids, da.zeros((*dids.shape, 8), chunks=(9, 7, 8)), 100)
    with pytest.raises(IndexError, match="ids out of range"):
        lazy.compute()


def test_blocks_run_in_other_processes():
    """The multiprocessing scheduler pickles every task (cloudpickle) into worker processes."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50, size=200)
    g = rng.standard_normal((200, 4))
    with dask.config.set(scheduler="processes", num_workers=2):
        table = refpe.pe_sinusoidal(100, 4, xp=da, chunks=30).compute()
        grad = refpe.embedding_grad(da.from_array(ids, chunks=60), g, 50).compute()
    np.testing.assert_array_equal(table, refpe.pe_sinusoidal(100, 4, kernel="reference"))
    np.testing.assert_allclose(grad, refpe.embedding_grad(ids, g, 50), rtol=1e-15, atol=1e-15)


def test_public_functions_run_on_a_local_cluster(cluster_client):
    x = refpe.pe_sinusoidal(1000, 16, xp=da, chunks=300, dtype="float32")
    assert float(cluster_client.compute(x.sum()).result()) == pytest.approx(
        float(refpe.pe_sinusoidal(1000, 16, dtype="float32").astype(float).sum()), rel=1e-6
    )
    for hot in HOT.values():  # each public function itself travels by reference
        fn = getattr(refpe, hot.function)
        assert cluster_client.submit(lambda f: f.__qualname__, fn).result() == hot.function
    ids = np.array([[1, 2], [3, 1]])
    table = np.arange(20.0).reshape(5, 4)
    out = cluster_client.submit(refpe.token_lookup, ids, table).result()
    np.testing.assert_array_equal(out, table[ids])


PLAN = dict(specs=("pe-sinusoidal", "alibi", "embedding-grad"), backends=("numpy", "dask", "cupy"))


def _key(result):
    fields = dataclasses.asdict(result)
    fields.pop("seconds")
    return fields


def test_distributed_conformance_merges_the_sequential_results():
    from refpe.conformance import Plan, run
    from refpe.conformance.distributed import pieces, run_distributed

    plan = Plan(**PLAN)
    assert len(pieces(plan)) > 3
    seen = []
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        spread = run_distributed(plan, lambda r, total: seen.append(r), client=pool)
    sequential = run(plan)
    assert [_key(r) for r in spread] == [_key(r) for r in sequential]
    assert len(seen) == len(sequential)


def test_distributed_conformance_on_a_local_cluster(cluster_client):
    from refpe.conformance import Plan, run
    from refpe.conformance.distributed import run_distributed

    def prefixes(dask_scheduler):
        return set(dask_scheduler.task_prefixes)

    plan = Plan(**PLAN)
    before = cluster_client.run_on_scheduler(prefixes)
    spread = run_distributed(plan, client=cluster_client)
    # the Dask reference inside a piece computed on the worker's own threads: the only new
    # tasks the cluster's scheduler saw are the pieces, not their arrays' graphs
    assert cluster_client.run_on_scheduler(prefixes) - before == {"run_piece"}
    assert [_key(r) for r in spread] == [_key(r) for r in run(plan)]
