r"""The random initialisers on Dask: row blocks drawn from the seed, bit-identical to the
single array.

The single array is ``sample(numpy.random.default_rng(seed), shape)`` in float64, C order,
rounded once to the dtype; ``default_rng(seed)`` is ``Generator(PCG64(SeedSequence(seed)))``.
The blocks are whole rows (the first axis), so each block is a contiguous run of the draws:

- **uniform-based** draws (``Generator.random``: each value is one 64-bit output of PCG64):
  the block that starts at flat index ``s`` draws from ``PCG64(SeedSequence(seed))``
  advanced by ``s`` (``PCG64.advance``, O(log s)). The blocks are independent and computed
  in parallel.
- **normal** draws (the ziggurat takes a variable number of outputs per value) cannot skip
  ahead: block ``k`` starts from the generator state that block ``k - 1`` leaves, so the
  blocks are computed one after another (a chain of tasks, one block in memory per task).
- **truncated normal** draws (rejection: the host draws all ``N`` values, then redraws the
  ones outside ``[-2, 2]`` together, round after round): a chain of tasks draws each block
  and keeps only its generator state and its count of rejected values; one task runs the
  redraw rounds for all the rejected values (about 4.6 % of ``N``), which depend only on
  their number and the generator state after the ``N`` draws; then every block is drawn
  again from its state, in parallel, and its rejected values replaced by its run of the
  redraws, in order.

Each block is rounded to the dtype as the host rounds the whole array (one NumPy
``astype`` of the same float64 values), so every block is the single array's slice bit for
bit. Every function sent to the workers is a module-level function (it pickles by reference).

Source: NumPy ``Generator``, ``PCG64.advance`` (O'Neill 2014, PCG's jump-ahead).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .dask import BLOCK_BYTES

__all__ = [
    "draw_dask",
    "init_framework_default_dask",
    "init_normal_dask",
    "init_truncated_normal_dask",
    "init_uniform_dask",
    "row_blocks",
]


def row_blocks(chunks: Any, dims: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """The rows of each block: ``chunks`` as Dask reads it for the first axis (an int: rows
    per block), or by default about :data:`~refpe.kernels.dask.BLOCK_BYTES` per block."""
    from refpe._compat import dask_chunks

    if not dims:
        return ()
    given = chunks
    if chunks is None:
        row = math.prod(dims[1:]) * itemsize
        chunks = max(1, BLOCK_BYTES // max(row, 1))
    if isinstance(chunks, tuple) and len(chunks) == 1 and len(dims) == 1:
        chunks = chunks[0]
    return dask_chunks((chunks,) + (-1,) * (len(dims) - 1), dims, np.float64, given)[0]


class _Rows:
    """A generator that draws ``rows`` rows where the sampler asks for the whole ``dims``
    (so the sampler's formula, fans included, is the single array's)."""

    def __init__(self, g: np.random.Generator, dims: tuple[int, ...], rows: int) -> None:
        self.g, self.dims, self.block = g, dims, (rows, *dims[1:])

    def _shape(self, shape: Any) -> Any:
        return self.block if tuple(np.atleast_1d(shape)) == self.dims else shape

    def random(self, shape: Any) -> np.ndarray:
        return self.g.random(self._shape(shape))

    def standard_normal(self, shape: Any) -> np.ndarray:
        return self.g.standard_normal(self._shape(shape))


def _generator(state: dict) -> np.random.Generator:
    bg = np.random.PCG64()
    bg.state = state
    return np.random.Generator(bg)


def _uniform_block(seed: int, start: int, rows: int, sample: Any, dims: tuple, dt: str) -> Any:
    """Rows ``start .. start + rows - 1`` of a uniform-based draw: PCG64 advanced to them."""
    bg = np.random.PCG64(np.random.SeedSequence(seed))
    bg.advance(start * math.prod(dims[1:]))
    g = _Rows(np.random.Generator(bg), dims, rows)
    return np.asarray(sample(g, dims), dtype=dt)


def _normal_step(state: dict, rows: int, sample: Any, dims: tuple, dt: str) -> tuple:
    """One block of a normal draw from ``state``, and the state it leaves."""
    g = _generator(state)
    block = np.asarray(sample(_Rows(g, dims, rows), dims), dtype=dt)
    return block, g.bit_generator.state


def _truncated_step(state: dict, n: int) -> tuple:
    """The state after ``n`` standard normals from ``state``, and how many fell outside
    ``[-2, 2]``."""
    g = _generator(state)
    bad = int(np.count_nonzero(np.abs(g.standard_normal(n)) > 2.0))
    return g.bit_generator.state, bad


def _redraws(state: dict, *counts: int) -> np.ndarray:
    """The final values of all the rejected draws, in order: the host's redraw rounds."""
    w = np.full(sum(counts), np.inf)  # every one rejected: the first round redraws them all
    g = _generator(state)
    bad = np.ones(w.size, dtype=bool)
    while bad.any():
        w[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(w) > 2.0
    return w


def _truncated_block(
    state: dict, rows: int, w: np.ndarray, first: int, affine: tuple, dims: tuple, dt: str
) -> Any:
    """One block of a truncated normal draw: its draws from ``state``, the rejected ones
    replaced by the redraws ``w[first:]`` in order, then ``mu + sd * z``."""
    z = _generator(state).standard_normal((rows, *dims[1:]))
    bad = np.abs(z) > 2.0
    n = int(np.count_nonzero(bad))
    z[bad] = w[first : first + n]
    mu, sd = affine
    return np.asarray(mu + sd * z, dtype=dt)


def draw_dask(
    sample: Callable[..., np.ndarray] | tuple[float, float],
    kind: str,
    dims: tuple[int, ...],
    seed: int,
    dtype: Any,
    chunks: Any = None,
) -> Any:
    """The draw of ``sample`` (a module-level sampler, or ``(mu, sd)`` for a truncated
    normal) as a lazy Dask array in row blocks; ``kind`` is ``"uniform"``, ``"normal"`` or
    ``"truncated"`` (the module docstring); ``NotImplemented`` for a dtype NumPy lacks."""
    import dask
    import dask.array as da

    from ._common import np_dtype

    dt = np_dtype(dtype)
    if dt is None:
        return NotImplemented
    rows = row_blocks(chunks, dims, dt.itemsize)
    if not dims or 0 in dims:
        return NotImplemented  # no draws, or one: the host's
    starts = np.cumsum((0, *rows[:-1])).tolist()
    if kind == "uniform":
        rows_ = da.from_array(np.asarray(starts), chunks=1)
        return da.map_blocks(
            _block_at, rows_, seed, rows, sample, dims, dt.name, dtype=dt,
            chunks=(rows, *((n,) for n in dims[1:])), new_axis=list(range(1, len(dims))),
            meta=np.empty((0,) * len(dims), dt),
        )  # fmt: skip
    state = np.random.PCG64(np.random.SeedSequence(seed)).state
    delayed = dask.delayed
    blocks = []
    if kind == "normal":
        for r in rows:
            block, state = delayed(_normal_step, nout=2, pure=True)(state, r, sample, dims, dt.name)
            blocks.append(block)
    else:
        row = math.prod(dims[1:])
        states, counts = [], []
        for r in rows:
            states.append(state)
            state, bad = delayed(_truncated_step, nout=2, pure=True)(state, r * row)
            counts.append(bad)
        w = delayed(_redraws, pure=True)(state, *counts)
        first: Any = 0
        for k, r in enumerate(rows):
            if k:
                first = delayed(operator.add, pure=True)(first, counts[k - 1])
            blocks.append(delayed(_truncated_block, pure=True)(
                states[k], r, w, first, sample, dims, dt.name))  # fmt: skip
    parts = [da.from_delayed(b, (r, *dims[1:]), dtype=dt, meta=np.empty((0,) * len(dims), dt))
             for b, r in zip(blocks, rows, strict=True)]  # fmt: skip
    return da.concatenate(parts, axis=0)


def _block_at(start: np.ndarray, seed: int, rows: tuple, sample: Any, dims: tuple, dt: str) -> Any:
    """The uniform-based block that starts at row ``start[0]``."""
    s = int(start[0])
    k = int(np.searchsorted(np.cumsum((0, *rows)), s))
    return _uniform_block(seed, s, rows[k], sample, dims, dt).reshape((rows[k], *dims[1:]))


def _dask(kind: str, shape: Any, seed: Any, sample: Any, dtype: Any, xp: Any, device: Any,
          chunks: Any, blocks: Any = None) -> Any:  # fmt: skip
    """The initialiser's draw in row blocks: the reference's checks (the size limit is a
    block's: nothing else is in memory at once), then :func:`draw_dask`."""
    from refpe._compat import default_namespace, require_elements, resolve_dtype
    from refpe.init import _require_seed, _require_shape

    if device is not None or xp is None:
        return NotImplemented
    dims, s = _require_shape(shape, whole=False), _require_seed(seed)
    dt = resolve_dtype(default_namespace(xp), dtype, device)
    y = draw_dask(sample if blocks is None else blocks, kind, dims, s, dt, chunks)
    if y is NotImplemented:
        require_elements("shape", *dims)
    return y


def init_normal_dask(shape: Any, *, seed: Any, std: float = 0.02, mean: float = 0.0,
                     dtype: Any = None, xp: Any = None, device: Any = None,
                     chunks: Any = None) -> Any:  # fmt: skip
    """:func:`refpe.init_normal` on Dask: a chain of row blocks (the module docstring)."""
    from refpe._compat import require_real
    from refpe.init import _normal, _require_spread

    sd, mu = _require_spread("std", std), require_real("mean", mean)
    return _dask("normal", shape, seed, partial(_normal, mu, sd), dtype, xp, device, chunks)


def init_uniform_dask(shape: Any, *, seed: Any, a: float = 0.05, mean: float = 0.0,
                      dtype: Any = None, xp: Any = None, device: Any = None,
                      chunks: Any = None) -> Any:  # fmt: skip
    """:func:`refpe.init_uniform` on Dask: row blocks in parallel (PCG64 advanced)."""
    from refpe._compat import require_real
    from refpe.init import _require_spread, _uniform

    half, mu = _require_spread("a", a), require_real("mean", mean)
    return _dask("uniform", shape, seed, partial(_uniform, mu, half), dtype, xp, device, chunks)


def init_truncated_normal_dask(shape: Any, *, seed: Any, std: float = 0.02, mean: float = 0.0,
                               dtype: Any = None, xp: Any = None, device: Any = None,
                               chunks: Any = None) -> Any:  # fmt: skip
    """:func:`refpe.init_truncated_normal` on Dask: chained states, the redraws in one task,
    then row blocks in parallel (the module docstring)."""
    from refpe._compat import require_real
    from refpe.init import _require_spread, _truncated_normal

    sd, mu = _require_spread("std", std), require_real("mean", mean)
    sample = partial(_truncated_normal, mu, sd)
    return _dask("truncated", shape, seed, sample, dtype, xp, device, chunks, (mu, sd))


def init_framework_default_dask(shape: Any, *, framework: str, kind: str, seed: Any,
                                dtype: Any = None, xp: Any = None, device: Any = None,
                                chunks: Any = None) -> Any:  # fmt: skip
    """:func:`refpe.init_framework_default` on Dask: normal draws chained, uniform ones in
    parallel."""
    from refpe.init import FRAMEWORK_DEFAULTS, _standard_normal

    sample = FRAMEWORK_DEFAULTS.get((framework, kind))
    if sample is None:
        return NotImplemented  # the reference lists the known ones
    how = "normal" if sample is _standard_normal else "uniform"
    return _dask(how, shape, seed, sample, dtype, xp, device, chunks)
