r"""The ``pe-sinusoidal`` kernels: a cached table, built by angle addition and rounded once.

================  ==========================================================================
library           kernel
================  ==========================================================================
NumPy             a copy of the cached read-only table (:func:`sinusoid_table`); rows by ``take``
PyTorch           a copy of the cached table on the device; rows by ``F.embedding``
JAX               a copy of the cached table on the device; rows by ``jnp.take``
================  ==========================================================================

Every call returns memory of its own: an array shared with the cache can be written through
by any library that ignores NumPy's read-only flag (``torch.from_numpy``, ``torch.asarray``,
DLPack), and one such write would change every later answer of the process. The copy costs a
``memcpy`` of the table, far less than computing it.

Source: Vaswani et al. (2017) §3.5; seed 004 §3.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from refpe._compat import MAX_WIDTH
from refpe._precision import exact_sin_cos_table, frequencies

from . import _common, positional_fused
from ._common import in_threads, integer, namespace_library, np_dtype, size

__all__ = [
    "build_sinusoid_table",
    "pe_sinusoidal",
    "pe_sinusoidal_jax",
    "pe_sinusoidal_torch",
    "sinusoid_request",
    "sinusoid_table",
]


@functools.lru_cache(maxsize=32)
def sinusoid_table(
    n: int, d: int, base: float, layout: str, schedule: str, offset: int, dtype: str
) -> np.ndarray:
    """:func:`build_sinusoid_table`, cached by every parameter, as a read-only view of a
    read-only ``memoryview``: its ``writeable`` flag cannot be set again (NumPy refuses), so no
    caller of this function can change the cache by accident. The kernels never hand it out:
    callers get copies (see the module's docstring)."""
    table = build_sinusoid_table(n, d, base, layout, schedule, offset, dtype)
    if table.size == 0:
        table.flags.writeable = False
        return table
    frozen = np.frombuffer(memoryview(table).toreadonly(), dtype=table.dtype)
    return frozen.reshape(table.shape)


def build_sinusoid_table(
    n: int, d: int, base: float, layout: str, schedule: str, offset: int, dtype: str
) -> np.ndarray:
    r"""The table ``pe_sinusoidal(n, d, ...)`` in ``dtype``, a new writeable array.

    .. math::

        \sin((a + b)\,\omega) + i\cos((a + b)\,\omega)
        = \bigl(\sin a\omega + i\cos a\omega\bigr)\bigl(\cos b\omega - i \sin b\omega\bigr)

    for rows ``p = a + b`` with ``a`` a multiple of 64 and ``b < 64``: two small float64
    tables of sines and cosines and one complex128 product per element, whose real and
    imaginary parts are the interleaved ``(sin, cos)`` pair. The block starts come the same
    way from multiples of 4096 (:func:`_block_starts`); the tables at ``0 .. 63`` and at
    ``0, 64, .., 4032`` do not depend on the rows and are cached. float64 is computed
    directly, as the reference does.

    Source: Vaswani et al. (2017) §3.5; ``omega`` from :func:`refpe.positional.frequencies`.

    Precision: the sines and cosines at the multiples of 4096 and at the two small steps come
    from the exact phase reduction (:func:`refpe._precision.exact_sin_cos_table`, within an ulp
    of float64); two products later each value is within a few float64 ulps, so float32/float16
    tables are the exact values rounded once (within :math:`\epsilon/2` plus far below it);
    float64 tables are the reference's exact table itself, bit for bit.
    """
    omega = frequencies(d, float(base), schedule)
    m, B = len(omega), 64
    pairs = np.empty((n, 2 * m), dtype=dtype)
    if dtype == "float64":  # the reference's own values, rows split between threads

        def exact_rows(ks: range) -> None:
            rows = pairs[ks.start : ks.stop]
            rows[:, 0::2], rows[:, 1::2] = exact_sin_cos_table(
                np.arange(ks.start, ks.stop) + offset, omega
            )

        in_threads(exact_rows, n, threads=_common.THREADS if n * m > 2**16 else 1)
    elif n:
        sin_a, cos_a = _block_starts(n, offset, tuple(omega))
        sin_b, cos_b = _steps(tuple(omega), 1)
        if dtype == "float32" and positional_fused.available():  # one pass, the same values
            positional_fused.sinusoid_pairs_fused(pairs, sin_a, cos_a, sin_b, cos_b)
            return _laid_out(pairs, d, m, layout, dtype)
        z = sin_a + 1j * cos_a
        e = cos_b - 1j * sin_b

        def rows_of(ks: range) -> None:
            block = np.empty((B, m), dtype=np.complex128)
            for k in ks:
                rows = pairs[k * B : (k + 1) * B]
                np.multiply(z[k], e[: len(rows)], out=block[: len(rows)])
                np.copyto(rows, block[: len(rows)].view(np.float64), casting="same_kind")

        in_threads(rows_of, len(z), threads=_common.THREADS if n * m > 2**18 else 1)
    return _laid_out(pairs, d, m, layout, dtype)


@functools.lru_cache(maxsize=16)
def _steps(omega: tuple, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact ``(sin, cos)`` at positions ``0, step, .., 63 step`` (read-only, cached by the
    frequencies themselves: they do not depend on the table's rows)."""
    tables = exact_sin_cos_table(np.arange(64) * step, omega)
    for t in tables:
        t.flags.writeable = False
    return tables


def _block_starts(n: int, offset: int, omega: tuple) -> tuple[np.ndarray, np.ndarray]:
    r"""``(sin, cos)`` at the block starts ``offset + 64 k`` for ``64 k < n``, by the same
    angle addition one level up: ``offset + 4096 s + 64 j`` from the exact values at
    ``offset + 4096 s`` and at ``64 j`` (cached), one complex128 product each (within a few
    float64 ulps of the exact values)."""
    sin_s, cos_s = exact_sin_cos_table(np.arange(0, n, 4096) + offset, omega)
    sin_j, cos_j = _steps(omega, 64)
    z = (sin_s + 1j * cos_s)[:, None, :] * (cos_j - 1j * sin_j)[None, :, :]
    z = z.reshape(-1, len(omega))[: -(-n // 64)]
    return z.real, z.imag


def _laid_out(pairs: np.ndarray, d: int, m: int, layout: str, dtype: str) -> np.ndarray:
    """The ``(n, d)`` table of the interleaved ``(sin, cos)`` pairs in ``layout``."""
    n = len(pairs)
    if layout == "interleaved" and 2 * m == d:
        table = pairs
    elif layout == "interleaved":
        table = np.zeros((n, d), dtype=dtype)
        width = min(2 * m, d)
        table[:, :width] = pairs[:, :width]
    else:
        table = np.zeros((n, d), dtype=dtype)
        cos = min(m, d - m)
        table[:, :m], table[:, m : m + cos] = pairs[:, 0::2], pairs[:, 1 : 2 * cos : 2]
    return table


def _default_float(lib: str) -> str:
    """The default real floating dtype of ``lib`` (JAX: float32 unless x64 is on)."""
    if lib == "torch":
        import torch

        return str(torch.get_default_dtype()).rsplit(".", 1)[-1]
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.asarray(0.0).dtype.name
    return "float64"


@functools.lru_cache(maxsize=32)
def _jax_table(key: tuple, device: Any) -> Any:
    """The cached table as a JAX array on ``device`` (JAX arrays are immutable: no copy)."""
    import jax

    return jax.device_put(sinusoid_table(*key), device)


@functools.lru_cache(maxsize=32)
def _torch_table(key: tuple, device: str) -> Any:
    """The cached table as a tensor on ``device`` (a copy: a tensor cannot be read-only)."""
    import torch

    return torch.from_numpy(sinusoid_table(*key).copy()).to(device)


def _uncached(lib: str, key: tuple, device: Any) -> Any:
    """A table too large to keep, built for this call, in ``lib`` on ``device``."""
    table = build_sinusoid_table(*key)
    if lib == "jax":
        import jax

        return jax.device_put(table, device)
    if lib == "torch":
        import torch

        return torch.from_numpy(table).to(device or "cpu")
    return table


def _rows(lib: str, key: tuple, positions: Any) -> Any:
    """The rows at ``positions`` of the cached table ``key``, in ``lib``."""
    if lib == "torch":
        import torch

        return torch.nn.functional.embedding(positions, _torch_table(key, str(positions.device)))
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.take(_jax_table(key, next(iter(positions.devices()))), positions, axis=0)
    return np.take(sinusoid_table(*key), positions, axis=0)


def sinusoid_request(lib: str, positions: Any, d: int, *, base: float, layout: str | None,
                     schedule: str, offset: int, dtype: Any, xp: Any,
                     device: Any) -> Any:  # fmt: skip
    """What the kernel of library ``lib`` answers: ``NotImplemented`` (the reference does), or
    ``(how, key)`` with ``key`` the arguments of :func:`sinusoid_table` and ``how``
    ``"table"`` (an int ``n``: the cached table), ``"uncached"`` (an int ``n`` whose table is
    too large to keep) or ``"rows"`` (an array of positions: rows of the cached table).
    Shared by every library's kernel (the CuPy one included)."""
    is_int = isinstance(positions, int) and not isinstance(positions, bool)
    if not is_int and (not hasattr(positions, "dtype") or xp is not None or device is not None):
        return NotImplemented  # the reference checks xp and device against the positions
    if is_int and namespace_library(xp) != lib:
        return NotImplemented  # a table for another library
    if dtype is None and lib in ("torch", "jax"):  # the namespace's default float, as the reference
        dtype = _default_float(lib)
    dt = np_dtype(dtype)
    if lib == "jax" and dt is not None and _default_float("jax") == "float32" and dt == np.float64:
        return NotImplemented  # JAX without x64: the reference says what it does
    lay = layout or ("interleaved" if schedule == "transformer" else "concatenated")
    ok = (
        dt is not None
        and isinstance(d, int)
        and not isinstance(d, bool)
        and 0 < d <= MAX_WIDTH
        and isinstance(base, (int, float))
        and math.isfinite(base)
        and base > 0
        and lay in ("interleaved", "concatenated")
        and schedule in ("transformer", "t2t")
        and isinstance(offset, int)
        and not isinstance(offset, bool)
        and offset >= 0
        and (is_int or integer(positions))
        and (is_int or lib != "torch" or str(positions.dtype) in ("torch.int64", "torch.int32"))
    )  # PyTorch indexes with int32/int64 only: other dtypes go to the reference
    if not ok:
        return NotImplemented
    top = positions - 1 if is_int else int(positions.max()) if size(positions) else -1
    if top + offset > (2048 if dt.name == "float16" else _common.MAX_CACHED - 1):
        return NotImplemented  # past float16's exact integers the reference warns
    if is_int:
        if positions <= 0:
            return NotImplemented
        key = (positions, d, float(base), lay, schedule, offset, dt.name)
        return ("uncached" if positions * d > _common.CACHE_ELEMENTS else "table"), key
    if size(positions) == 0 or int(positions.min()) < 0:
        return NotImplemented
    rows = max(1024, 1 << top.bit_length())
    if rows * d > _common.CACHE_ELEMENTS or rows > 8 * max(1024, size(positions)):
        return NotImplemented  # a table far larger than the rows asked for: the reference
    return "rows", (rows, d, float(base), lay, schedule, offset, dt.name)


def _sinusoid(lib: str, positions: Any, d: int, **options: Any) -> Any:
    """The kernel of library ``lib`` (whose arrays, or namespace, the call has)."""
    request = sinusoid_request(lib, positions, d, **options)
    if request is NotImplemented:
        return NotImplemented
    how, key = request
    device = options["device"]
    if how == "uncached":
        return _uncached(lib, key, device)
    if how == "rows":
        return _rows(lib, key, positions)
    # a copy for every library: nothing the caller gets shares memory with the cache (a
    # read-only NumPy array is still writable through torch.from_numpy or DLPack)
    if lib == "torch":
        return _torch_table(key, str(device or "cpu")).clone()
    if lib == "jax":
        import jax.numpy as jnp

        return jnp.array(_jax_table(key, device), copy=True)
    return sinusoid_table(*key).copy()


def _kernel(lib: str) -> Callable[..., Any]:
    """The ``pe-sinusoidal`` kernel of ``lib``; all three are named ``pe_sinusoidal``."""

    def pe_sinusoidal(
        positions: Any,
        d: int,
        *,
        base: float = 10000.0,
        layout: str | None = None,
        schedule: str = "transformer",
        offset: int = 0,
        dtype: Any = None,
        xp: Any = None,
        device: Any = None,
        chunks: Any = None,
    ) -> Any:
        if chunks is not None:
            return NotImplemented  # Dask's blocks: the reference refuses them elsewhere
        return _sinusoid(lib, positions, d, base=base, layout=layout, schedule=schedule,
                         offset=offset, dtype=dtype, xp=xp, device=device)  # fmt: skip

    pe_sinusoidal.__qualname__ = "pe_sinusoidal"
    pe_sinusoidal.__doc__ = _DOC.format(library=lib)
    return pe_sinusoidal


_DOC = r""":func:`refpe.pe_sinusoidal` for {library} from a cached table (:func:`sinusoid_table`).

    .. math::

        PE[p, 2i] = \sin(p\,\omega_i),\quad PE[p, 2i+1] = \cos(p\,\omega_i)

    An int ``n`` returns a copy of the cached table (nothing the caller gets shares memory
    with the cache, so no write of the caller's can change a later answer); an array of positions in
    ``[0, 2^24)`` is a row lookup (``take``) in the cached table of the next power-of-two
    length, when that table is small (at most ``CACHE_ELEMENTS`` values, at most 8 times the
    rows asked for); other positions are computed by the reference.

    Source: Vaswani et al. (2017) §3.5; seed 004 §3. Precision: as :func:`sinusoid_table`.
    """

pe_sinusoidal = _kernel("numpy")
pe_sinusoidal_torch = _kernel("torch")
pe_sinusoidal_jax = _kernel("jax")
