"""alibi, t5_bias and the initialisers on Dask: lazy blocks of queries and keys (of rows for
the initialisers), each the single NumPy array's slice bit for bit."""

from __future__ import annotations

import pickle
import re
import time

import cloudpickle
import numpy as np
import pytest

import refpe
from refpe.kernels import dask_bias, dask_init

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

TABLE = np.random.default_rng(4).standard_normal((32, 6)).astype(np.float32)


@pytest.mark.parametrize(
    ("q", "k", "chunks", "want"),
    [
        (37, 23, (10, (5, 8, 10)), ((10, 10, 10, 7), (5, 8, 10))),
        (37, 23, 37, ((37,), (23,))),
        (5, 300, (2, 64), ((2, 2, 1), (64, 64, 64, 64, 44))),
        (40, 40, 1, ((1,) * 40, (1,) * 40)),
    ],
)
@pytest.mark.parametrize("options", [{}, {"causal": False}, {"offset": 3}, {"offset": -50}])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
def test_alibi_blocks_equal_numpy(q, k, chunks, want, options, dtype):
    got = refpe.alibi(5, q, k, xp=da, chunks=chunks, dtype=dtype, **options)
    assert refpe.last_kernel() == "refpe.kernels.dask_bias.alibi_dask"
    assert got.chunks == ((5,), *want)
    np.testing.assert_array_equal(
        got.compute(), refpe.alibi(5, q, k, dtype=dtype, **options), strict=True
    )


@pytest.mark.parametrize("chunks", [(64, 50), ((100, 100, 100), (7, 193)), 299])
@pytest.mark.parametrize(
    "options", [{}, {"offset": -30}, {"bidirectional": False, "num_buckets": 32}, {"offset": 500}]
)
def test_t5_bias_blocks_equal_numpy(chunks, options):
    got = refpe.t5_bias(da.from_array(TABLE, chunks=(7, 4)), 300, 200, chunks=chunks, **options)
    assert refpe.last_kernel() == "refpe.kernels.dask_bias.t5_bias_dask"
    assert got.chunks[0] == (6,)
    np.testing.assert_array_equal(
        got.compute(), refpe.t5_bias(TABLE, 300, 200, **options), strict=True
    )


def test_huge_bias_is_lazy_with_default_blocks_of_128_mib():
    t0 = time.perf_counter()
    x = refpe.alibi(32, 10**6, 10**6, xp=da)
    t5 = refpe.t5_bias(da.from_array(np.ones((32, 32))), 10**6, 10**6)
    assert time.perf_counter() - t0 < 2.0
    for a in (x, t5):
        assert a.shape == (32, 10**6, 10**6) and a.chunks[0] == (32,)
        assert 2**26 < 32 * 8 * max(a.chunks[1]) * max(a.chunks[2]) <= dask_bias.BLOCK_BYTES
    got = x[:, -3:, 700:704].compute()
    want = refpe.alibi(32, 3, 4, offset=10**6 - 3 - 700)
    np.testing.assert_array_equal(got, want, strict=True)
    block = x.blocks[0, 2, 1].compute()
    q0, k0 = sum(x.chunks[1][:2]), x.chunks[2][0]
    np.testing.assert_array_equal(
        block, refpe.alibi(32, *block.shape[1:], offset=q0 - k0), strict=True
    )


def test_bias_chunks_refused_outside_dask_and_checked_on_dask():
    for call in (
        lambda: refpe.alibi(2, 10, 10, chunks=5),
        lambda: refpe.t5_bias(TABLE, 10, 10, chunks=5),
        lambda: refpe.alibi(2, 10, 10, chunks=5, kernel="reference"),
    ):
        with pytest.raises(ValueError, match=r"chunks is for Dask arrays only, got chunks=5"):
            call()
    for bad in (0, (1, 2, 3), ((3, 3), 5)):
        with pytest.raises(ValueError, match=r"chunks must be Dask chunks .* got chunks="):
            refpe.alibi(2, 10, 10, xp=da, chunks=bad)
        with pytest.raises(ValueError, match=r"chunks must be Dask chunks .* got chunks="):
            refpe.t5_bias(da.from_array(TABLE), 10, 10, chunks=bad)
    with pytest.raises(ValueError, match="max_distance"):  # checked at call time, no data
        refpe.t5_bias(da.from_array(TABLE), 10**6, 10**6, max_distance=3)


def test_the_reference_on_dask_takes_the_same_chunks():
    got = refpe.alibi(3, 30, 20, xp=da, chunks=7, kernel="reference")
    assert got.chunks == ((3,), (7, 7, 7, 7, 2), (7, 7, 6))
    np.testing.assert_array_equal(got.compute(), refpe.alibi(3, 30, 20))


# --- the initialisers ----------------------------------------------------------------------

INITS = [
    (refpe.init_normal, {"std": 0.3, "mean": 1.0}),
    (refpe.init_uniform, {"a": 0.2, "mean": -1.0}),
    (refpe.init_truncated_normal, {"std": 0.5}),
    (refpe.init_framework_default, {"framework": "torch", "kind": "embedding"}),
    (refpe.init_framework_default, {"framework": "torch", "kind": "linear"}),
    (refpe.init_framework_default, {"framework": "keras", "kind": "linear"}),
    (refpe.init_framework_default, {"framework": "tf", "kind": "embedding"}),
    (refpe.init_framework_default, {"framework": "keras", "kind": "embedding"}),
]
SHAPES = [((37, 5), 10), ((37, 5), (3, 30, 4)), ((101,), 17), ((20, 3, 4), 7), ((9, 4), None)]


def test_default_rng_is_pcg64_of_the_seed_sequence_and_advance_skips_one_output_per_value():
    a = np.random.default_rng(5).random(1000)
    assert np.random.default_rng(5).bit_generator.state == (
        np.random.PCG64(np.random.SeedSequence(5)).state
    )
    for s in (0, 1, 377, 999):
        bg = np.random.PCG64(np.random.SeedSequence(5))
        bg.advance(s)
        np.testing.assert_array_equal(np.random.Generator(bg).random(1000 - s), a[s:])


@pytest.mark.parametrize(("fn", "options"), INITS)
@pytest.mark.parametrize(("shape", "chunks"), SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_init_blocks_equal_the_host_draw(fn, options, shape, chunks, dtype):
    if options.get("kind") == "linear" and len(shape) != 2:
        pytest.skip("a linear weight is 2-D")
    got = fn(shape, seed=11, xp=da, chunks=chunks, dtype=dtype, **options)
    assert refpe.last_kernel().startswith("refpe.kernels.dask_init.init_")
    assert got.chunks[0] == dask_init.row_blocks(chunks, shape, np.dtype(dtype).itemsize)
    assert all(len(c) == 1 for c in got.chunks[1:])
    np.testing.assert_array_equal(
        got.compute(), fn(shape, seed=11, dtype=dtype, **options), strict=True
    )


def test_truncated_normal_with_many_redraws_across_blocks():
    """std draws rejected often (one in 22): the redraw rounds span the blocks in order."""
    got = refpe.init_truncated_normal((500, 8), seed=3, xp=da, chunks=(1, 2, 97, 400))
    np.testing.assert_array_equal(got.compute(), refpe.init_truncated_normal((500, 8), seed=3))


def test_init_is_lazy_with_default_blocks_and_one_block_computes():
    t0 = time.perf_counter()
    x = refpe.init_uniform((10**8, 1000), seed=0, xp=da, dtype="float32")
    n = refpe.init_normal((10**6, 1000), seed=0, xp=da)
    t = refpe.init_truncated_normal((10**6, 1000), seed=0, xp=da)
    assert time.perf_counter() - t0 < 5.0
    for a, size in ((x, 4), (n, 8), (t, 8)):
        assert 2**26 < max(a.chunks[0]) * 1000 * size <= dask_init.BLOCK_BYTES
    got = x[-2:, :3].compute()
    bg = np.random.PCG64(np.random.SeedSequence(0))
    bg.advance((10**8 - 2) * 1000)
    u = np.random.Generator(bg).random((2, 1000))[:, :3]
    np.testing.assert_array_equal(got, (0.05 * (2.0 * u - 1.0)).astype(np.float32))


def test_init_chunks_refused_outside_dask_and_checked_on_dask():
    with pytest.raises(ValueError, match=r"chunks is for Dask arrays only, got chunks=3"):
        refpe.init_normal((10, 4), seed=1, chunks=3)
    for bad in (0, (3, 3)):
        with pytest.raises(
            ValueError, match=r"chunks must be Dask .* got chunks=" + re.escape(repr(bad))
        ):
            refpe.init_uniform((10, 4), seed=1, chunks=bad, xp=da)
    assert refpe.init_normal((), seed=1, xp=da).compute() == refpe.init_normal((), seed=1)
    assert refpe.init_normal((0, 3), seed=1, xp=da, chunks=2).shape == (0, 3)


# --- travel ------------------------------------------------------------------------------


def test_graphs_pickle_and_run_in_other_processes():
    arrays = [
        refpe.alibi(4, 30, 20, xp=da, chunks=8, causal=False),
        refpe.t5_bias(da.from_array(TABLE), 30, 20, chunks=(8, 9)),
        refpe.init_uniform((50, 3), seed=2, xp=da, chunks=7),
        refpe.init_normal((50, 3), seed=2, xp=da, chunks=7),
        refpe.init_truncated_normal((50, 3), seed=2, xp=da, chunks=7),
    ]
    wants = [
        refpe.alibi(4, 30, 20, causal=False),
        refpe.t5_bias(TABLE, 30, 20),
        refpe.init_uniform((50, 3), seed=2),
        refpe.init_normal((50, 3), seed=2),
        refpe.init_truncated_normal((50, 3), seed=2),
    ]
    for a in arrays:
        assert pickle.loads(pickle.dumps(a)).shape == a.shape
        assert b"<lambda>" not in cloudpickle.dumps(a.__dask_graph__())
    with dask.config.set(scheduler="processes", num_workers=2):
        got = dask.compute(*arrays)
    for g, w in zip(got, wants, strict=True):
        np.testing.assert_array_equal(g, w, strict=True)


def test_blocks_run_on_a_local_cluster(cluster_client):
    a = refpe.alibi(8, 300, 200, xp=da, chunks=(64, 50), dtype="float32")
    np.testing.assert_array_equal(
        cluster_client.compute(a).result(), refpe.alibi(8, 300, 200, dtype="float32")
    )
    w = refpe.init_truncated_normal((400, 16), seed=9, xp=da, chunks=33)
    np.testing.assert_array_equal(
        cluster_client.compute(w).result(), refpe.init_truncated_normal((400, 16), seed=9)
    )
    u = refpe.init_uniform((400, 16), seed=9, xp=da, chunks=33)
    np.testing.assert_array_equal(
        cluster_client.compute(u).result(), refpe.init_uniform((400, 16), seed=9)
    )
