r"""Fast kernels for the hot specs, kept apart from the readable reference in ``refpe/``.

Each kernel has the signature of the refpe public function for its spec and the same
errors; for a call it does not accelerate (an option, a dtype or an array library it has no
fast path for) it returns ``NotImplemented`` and the reference answers. :func:`register`,
the ``refpe.kernels`` entry point, makes them the default of the public functions
(``refpe.rope`` ...); :func:`fastest` gives one with that fallback for direct use. The
conformance suite runs the public functions on NumPy and PyTorch (``kernel:<spec>:<lib>``
subjects) and holds whatever answered to the spec's error model.

================  ==========================================================================
spec              kernel
================  ==========================================================================
pe-sinusoidal     angle addition in complex128 blocks, rounded once; cached by all parameters
rope              NumPy: three passes per cache-sized block (``x C``, the swapped halves
                  times ``[-sin, sin]``, the sum), leading rows split between threads;
                  interleaved layout as one complex multiply; ``out=`` buffers, ``out=x``
                  in place. PyTorch: CPU tensors through the NumPy kernel (no copy), other
                  devices the same form
token-lookup      ``take`` with the id range checked once (min and max)
input-add         ``take`` (``F.embedding``) into the output, scaled and summed in place
embedding-grad    NumPy: stable sort, float64 segment sums on contiguous rows, rounded
                  once. PyTorch: ATen's ``embedding_dense_backward`` (float32 sums in id
                  order, parallel over rows)
================  ==========================================================================
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
import os
from collections.abc import Callable
from typing import Any

import numpy as np

import refpe
from refpe._compat import require_range

__all__ = [
    "KERNELS",
    "embedding_grad",
    "embedding_grad_torch",
    "fastest",
    "input_add",
    "input_add_torch",
    "pe_sinusoidal",
    "register",
    "rope",
    "rope_jax",
    "rope_torch",
    "sinusoid_table",
    "token_lookup",
    "token_lookup_torch",
]

#: Elements per block of the NumPy rope kernel (its seven block-sized arrays stay in cache).
BLOCK_ELEMENTS = 1024 * 128
#: Threads the NumPy rope kernel splits its leading rows between (NumPy's loops release the GIL).
THREADS = min(4, os.cpu_count() or 1)
#: Tests set this to run PyTorch CPU tensors through the device (non-NumPy) rope path.
_ON_DEVICE_PATH = False
#: Larger sinusoid tables are built (as fast) but not kept.
CACHE_ELEMENTS = 2**27
#: Largest position the cached float32 tables hold (angles exact to far below eps32).
MAX_CACHED = 2**24


def _is_numpy(*arrays: Any) -> bool:
    return all(type(a) is np.ndarray for a in arrays if a is not None)


def _is_torch(*arrays: Any) -> bool:
    return all(type(a).__module__.startswith("torch") for a in arrays if a is not None)


NUMPY_XP, TORCH_XP = "array_api_compat.numpy", "array_api_compat.torch"


def _is_jax(*arrays: Any) -> bool:
    """Concrete JAX arrays (a tracer, inside ``jax.jit``, is not one: the reference traces)."""
    return all(type(a).__name__ == "ArrayImpl" and type(a).__module__.startswith("jax")
               for a in arrays if a is not None)  # fmt: skip


def _integer(a: Any) -> bool:
    """Whether ``a`` is a NumPy, JAX or PyTorch integer array (bool excluded)."""
    if _is_torch(a):
        return not (a.dtype.is_floating_point or a.dtype.is_complex or str(a.dtype) == "torch.bool")
    return np.dtype(a.dtype).kind in "iu"


def _size(a: Any) -> int:
    return a.numel() if _is_torch(a) else a.size


def _host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array on the host."""
    return a.cpu().numpy() if _is_torch(a) else np.asarray(a)


def _np_dtype(dtype: Any) -> np.dtype | None:
    """The NumPy dtype named by ``dtype`` (a name, NumPy or torch dtype); ``None``: not in NumPy."""
    if dtype is None:
        return np.dtype(np.float64)
    name = str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].strip("'>")
    return np.dtype(name) if name in ("float64", "float32", "float16") else None


# --- pe-sinusoidal ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def sinusoid_table(
    n: int, d: int, base: float, layout: str, schedule: str, offset: int, dtype: str
) -> np.ndarray:
    r"""The read-only table ``pe_sinusoidal(n, d, ...)`` in ``dtype``, cached by every parameter.

    .. math::

        \sin((a + b)\,\omega) + i\cos((a + b)\,\omega)
        = \bigl(\sin a\omega + i\cos a\omega\bigr)\bigl(\cos b\omega - i \sin b\omega\bigr)

    for rows ``p = a + b`` with ``a`` a multiple of 64 and ``b < 64``: two small float64
    tables of sines and cosines and one complex128 product per element, whose real and
    imaginary parts are the interleaved ``(sin, cos)`` pair. float64 is computed directly,
    as the reference does.

    Source: Vaswani et al. (2017) §3.5; ``omega`` from :func:`refpe.positional.frequencies`.

    Precision: every float64 rounding is below :math:`2^{-28}` here (positions
    :math:`< 2^{24}`), so float32/float16 tables are the exact values rounded once
    (within :math:`\epsilon/4`); float64 tables are bit-identical to the reference.
    """
    from refpe.positional import frequencies

    w = np.array([float(o) for o in frequencies(d, float(base), schedule)])
    m, B = len(w), 64
    pairs = np.empty((n, 2 * m), dtype=dtype)
    if dtype == "float64":
        angle = (np.arange(n) + offset)[:, None] * w
        pairs[:, 0::2], pairs[:, 1::2] = np.sin(angle), np.cos(angle)
    elif n:
        A = (np.arange(0, n, B) + offset)[:, None] * w
        z = np.sin(A) + 1j * np.cos(A)
        b = np.arange(B)[:, None] * w
        e = np.cos(b) - 1j * np.sin(b)

        def rows_of(ks: range) -> None:
            block = np.empty((B, m), dtype=np.complex128)
            for k in ks:
                rows = pairs[k * B : (k + 1) * B]
                np.multiply(z[k], e[: len(rows)], out=block[: len(rows)])
                np.copyto(rows, block[: len(rows)].view(np.float64), casting="same_kind")

        _in_threads(rows_of, len(z), threads=THREADS if n * m > 2**18 else 1)
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
    table.flags.writeable = False
    return table


def _in_threads(work: Callable[[range], None], n: int, threads: int = THREADS) -> None:
    """``work(range)`` over ``range(n)`` on ``threads`` threads (NumPy's loops release the
    GIL), in four pieces per thread taken as threads come free, so a core another process
    holds delays one piece, not half the work; each call sets its own error state (it is
    per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, min(threads, n))
    if threads == 1:
        work(range(n))
        return
    bounds = np.linspace(0, n, min(n, 4 * threads) + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [range(a, b) for a, b in itertools.pairwise(bounds)]))


#: Which library an array of positions belongs to.
_LIBRARIES: dict[str, Callable[[Any], bool]] = {
    "numpy": _is_numpy, "torch": _is_torch, "jax": _is_jax,
}  # fmt: skip


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


def _to_torch(table: np.ndarray, device: Any) -> Any:
    import torch

    return torch.from_numpy(table).to(device or "cpu")


def _torch_table(key: tuple, device: Any) -> Any:
    return _torch_cached(key, str(device))


@functools.lru_cache(maxsize=32)
def _torch_cached(key: tuple, device: str) -> Any:
    import torch

    return torch.from_numpy(sinusoid_table(*key).copy()).to(device)


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
) -> Any:
    r""":func:`refpe.pe_sinusoidal` from a cached table (:func:`sinusoid_table`).

    .. math::

        PE[p, 2i] = \sin(p\,\omega_i),\quad PE[p, 2i+1] = \cos(p\,\omega_i)

    An int ``n`` returns the cached read-only table itself (NumPy: ``writeable`` is False;
    PyTorch: a copy of a cached tensor); an array of positions in ``[0, 2^24)``
    is a row lookup (``take``) in the cached table of the next power-of-two length, when that
    table is small (at most ``CACHE_ELEMENTS`` values, at most 8 times the rows asked for);
    other positions are computed by the reference.

    Source: Vaswani et al. (2017) §3.5; seed 004 §3. Precision: as :func:`sinusoid_table`.
    """
    name = getattr(xp, "__name__", "numpy")
    is_int = isinstance(positions, int) and not isinstance(positions, bool)
    if not is_int and (not hasattr(positions, "dtype") or xp is not None or device is not None):
        return NotImplemented  # the reference checks xp and device against the positions
    if is_int:
        lib = {"numpy": "numpy", NUMPY_XP: "numpy", "torch": "torch", TORCH_XP: "torch",
               "jax.numpy": "jax"}.get(name)  # fmt: skip
    else:
        lib = next((k for k, test in _LIBRARIES.items() if test(positions)), None)
    torch_out, jax_out = lib == "torch", lib == "jax"
    if dtype is None and lib in ("torch", "jax"):  # the namespace's default float, as the reference
        dtype = _default_float(lib)
    dt = _np_dtype(dtype)
    if jax_out and dt is not None and _default_float("jax") == "float32" and dt.name == "float64":
        return NotImplemented  # JAX without x64: the reference says what it does
    lay = layout or ("interleaved" if schedule == "transformer" else "concatenated")
    ok = (
        lib is not None
        and dt is not None
        and isinstance(d, int)
        and not isinstance(d, bool)
        and d > 0
        and isinstance(base, (int, float))
        and math.isfinite(base)
        and base > 0
        and lay in ("interleaved", "concatenated")
        and schedule in ("transformer", "t2t")
        and isinstance(offset, int)
        and offset >= 0
        and (is_int or _integer(positions))
    )
    if not ok:
        return NotImplemented
    top = positions - 1 if is_int else int(positions.max()) if _size(positions) else -1
    if top + offset > (2048 if dt.name == "float16" else MAX_CACHED - 1):
        return NotImplemented  # past float16's exact integers the reference warns
    if is_int:
        if positions <= 0:
            return NotImplemented
        key = (positions, d, float(base), lay, schedule, offset, dt.name)
        if positions * d > CACHE_ELEMENTS:
            table = sinusoid_table.__wrapped__(*key)
            table.flags.writeable = True
            if jax_out:
                import jax

                return jax.device_put(table, device)
            return _to_torch(table, device) if torch_out else table
        if torch_out:  # a tensor cannot be read-only: a copy, so the cache stays exact
            return _torch_table(key, device or "cpu").clone()
        return _jax_table(key, device) if jax_out else sinusoid_table(*key)
    if _size(positions) == 0:
        return NotImplemented
    lo, hi = int(positions.min()), top
    if lo < 0:
        return NotImplemented
    rows = max(1024, 1 << hi.bit_length())
    if rows * d > CACHE_ELEMENTS or rows > 8 * max(1024, _size(positions)):
        return NotImplemented  # a table far larger than the rows asked for: the reference
    key = (rows, d, float(base), lay, schedule, offset, dt.name)
    if torch_out:
        import torch

        return torch.nn.functional.embedding(positions, _torch_table(key, positions.device))
    if jax_out:
        import jax.numpy as jnp

        return jnp.take(_jax_table(key, next(iter(positions.devices()))), positions, axis=0)
    return np.take(sinusoid_table(*key), positions, axis=0)


# --- rope -------------------------------------------------------------------------------------


def _rope_coefficients(pos: np.ndarray, r: int, D: int, base: float, scaling: str, layout: str,
                       dtype: str) -> tuple[np.ndarray, ...]:  # fmt: skip
    """Coefficient tables at positions ``pos``: ``(C, S)`` (half layout; ``C`` of shape
    ``(len(pos), D)``, 1 past ``r``; ``S = [-sin, sin]`` of shape ``(len(pos), r)``) or the
    complex ``cos + i sin`` of shape ``(len(pos), D/2)`` (interleaved)."""
    theta, af = refpe.rope_inv_freq(r, base=base, scaling=json.loads(scaling), dtype="float64")
    phi = pos.astype(np.float64)[:, None] * np.asarray(theta)
    cos, sin = af * np.cos(phi), af * np.sin(phi)
    n, h = len(pos), r // 2
    if layout == "interleaved":
        e = np.ones((n, D // 2), dtype=np.complex128)
        e[:, :h] = cos + 1j * sin
        return (e.astype(np.complex64 if dtype == "float32" else np.complex128),)
    C, S = np.ones((n, D)), np.empty((n, r))
    C[:, :h], C[:, h:r], S[:, :h], S[:, h:] = cos, cos, -sin, sin
    return C.astype(dtype), S.astype(dtype)


@functools.lru_cache(maxsize=16)
def _rope_tables(n: int, r: int, D: int, base: float, scaling: str, layout: str, dtype: str):
    """:func:`_rope_coefficients` at positions ``0..n-1``, cached."""
    return _rope_coefficients(np.arange(n), r, D, base, scaling, layout, dtype)


def _rope_half_block(x: np.ndarray, out: np.ndarray, u: np.ndarray, C, S, r: int) -> None:
    r"""``out = x C + \mathrm{swap}(x_{:r}) S`` on a block ``(k, rows, D)``.

    ``swap`` exchanges the two halves of the rotated part (a view, no copy), so with
    :math:`S = [-\sin, \sin]` the second product is :math:`[-x_b \sin, x_a \sin]`:
    the same two products and one sum per element as the formula, so non-finite values
    land where the reference puts them. Three passes, the first and last contiguous.
    """
    h = r // 2
    np.multiply(x, C, out=out)
    halves = (*x.shape[:-1], 2, h)
    swapped = x[..., :r].reshape(halves)[..., ::-1, :]
    np.multiply(swapped, S.reshape(*S.shape[:-1], 2, h), out=u.reshape(halves))
    np.add(out[..., :r], u, out=out[..., :r])


def _rope_fast_args(x: Any, positions: Any, rotary_dim: Any, layout: str, scaling: Any) -> Any:
    """``(n, r)`` when the fast path applies, else ``None``."""
    T, D = x.shape[-2], x.shape[-1]
    r = D if rotary_dim is None else rotary_dim
    if not (isinstance(r, int) and 0 < r <= D and r % 2 == 0 and layout in ("half", "interleaved")):
        return None
    if layout == "interleaved" and D % 2:
        return None
    if scaling is not None:
        if not isinstance(scaling, dict) or str(scaling.get("rope_type", scaling.get("type"))) in (
            "dynamic",
            "longrope",
        ):
            return None
        try:
            json.dumps(scaling)
        except (TypeError, ValueError):
            return None
    if isinstance(positions, int) and not isinstance(positions, bool):
        return (positions, r) if positions == T else None
    if not hasattr(positions, "dtype") or not _integer(positions):
        return None
    if positions.ndim != 1 or positions.shape[0] != T or T == 0:
        return None
    lo, hi = int(positions.min()), int(positions.max())
    return (max(1024, 1 << hi.bit_length()), r) if lo >= 0 and hi < MAX_CACHED else None


def _tables_for(x: Any, positions: Any, n: int, r: int, base: float, scaling: Any, layout: str):
    key = json.dumps(scaling, sort_keys=True)
    dt = str(x.dtype).rsplit(".", 1)[-1]
    D = x.shape[-1]
    if isinstance(positions, int):
        return _rope_tables(n, r, D, float(base), key, layout, dt)
    pos = _host(positions)
    if n * D > CACHE_ELEMENTS:
        return _rope_coefficients(pos, r, D, float(base), key, layout, dt)
    return tuple(
        np.take(t, pos, axis=0) for t in _rope_tables(n, r, D, float(base), key, layout, dt)
    )


def rope(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
    out: np.ndarray | None = None,
) -> Any:
    r""":func:`refpe.rope` for NumPy, blocked to cache size; ``out=`` a preallocated buffer
    (C-contiguous, ``x``'s shape and dtype; ``out=x`` rotates in place).

    .. math::

        y_a = x_a \cos\phi - x_b \sin\phi,\quad y_b = x_b \cos\phi + x_a \sin\phi,
        \quad \phi = p\,\theta_i

    Half layout: :func:`_rope_half_block` (three passes) on blocks of about
    :data:`BLOCK_ELEMENTS` elements, the leading rows split between :data:`THREADS`
    threads. Interleaved layout: ``x`` viewed as complex pairs times :math:`e^{i\phi}`;
    with ``rotary_dim < D`` a block whose result holds a NaN is recomputed by the reference
    (an infinite :math:`x_b` times the 0 of an unrotated pair leaks a NaN into :math:`x_a`).
    Positions: ``T`` or a 1-D array of ``T`` positions in ``[0, 2^{24})``; other shapes,
    ``dynamic`` and ``longrope`` scaling go to the reference.

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: ``cos``, ``sin`` (times the attention factor) in float64, rounded once to
    ``x.dtype``; the rotation in ``x.dtype``: within
    :math:`1.5\,\epsilon\,(|x_a| + |x_b|)` plus the table's rounding, inside the spec's
    :math:`2\,\epsilon\,a(|x_a|+|x_b|)(1 + \dots)`.
    """

    def ref() -> Any:
        if out is None:
            return NotImplemented
        out[...] = refpe.rope(
            x, positions, base=base, layout=layout, rotary_dim=rotary_dim, scaling=scaling,
            kernel="reference",
        )  # fmt: skip
        return out

    if not (_is_numpy(x, None if isinstance(positions, int) else positions)):
        return ref()
    if x.dtype not in (np.float32, np.float64) or x.ndim < 2 or not x.size:
        return NotImplemented
    fast = _rope_fast_args(x, positions, rotary_dim, layout, scaling)
    if fast is None:
        return ref()
    n, r = fast
    tables = _tables_for(x, positions, n, r, base, scaling, layout)
    if out is None:
        out = np.empty_like(x, order="C")
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ValueError(
            f"out must be C-contiguous with x's shape {x.shape} and dtype {x.dtype}, got "
            f"shape {out.shape}, dtype {out.dtype}"
        )
    _rope_into(
        np.ascontiguousarray(x), out, tables, positions, layout, r, (base, rotary_dim, scaling)
    )
    return out


def _rope_into(x: np.ndarray, out: np.ndarray, tables, positions, layout, r, options) -> None:
    """Rotate C-contiguous ``x`` into ``out`` (which may be ``x``), the leading rows split
    between threads."""
    T, D = x.shape[-2:]
    xs, os_ = x.reshape(-1, T, D), out.reshape(-1, T, D)

    def part(i: range) -> None:
        _rope_blocks(xs[i.start : i.stop], os_[i.start : i.stop], tables, positions, layout, r,
                     options)  # fmt: skip

    _in_threads(part, xs.shape[0], threads=THREADS if x.size > 2**18 else 1)


@np.errstate(invalid="ignore", over="ignore")  # entered in each thread that runs it
def _rope_blocks(xs, out, tables, positions, layout, r, options) -> None:
    """Blocks of about :data:`BLOCK_ELEMENTS`: row ranges of one leading index, or several
    whole leading indices when one ``(T, D)`` slice is smaller."""
    base, rotary_dim, scaling = options
    T, D = xs.shape[1:]
    rows = max(1, min(T, BLOCK_ELEMENTS // D))
    k = max(1, BLOCK_ELEMENTS // (T * D)) if rows == T else 1
    u, orig = np.empty(k * rows * r, dtype=xs.dtype), np.empty(k * rows * D, dtype=xs.dtype)
    for t0 in range(0, T, rows):
        t1 = min(T, t0 + rows)
        tab = [t[t0:t1] for t in tables]
        for i in range(0, xs.shape[0], k):
            xb, ob = xs[i : i + k, t0:t1], out[i : i + k, t0:t1]
            if np.may_share_memory(ob, xb):
                xb = orig[: xb.size].reshape(xb.shape)
                np.copyto(xb, ob)
            if layout == "half":
                ub = u[: xb.size // D * r].reshape(*xb.shape[:-1], r)
                _rope_half_block(xb, ob, ub, *tab, r)
                continue
            c = tab[0].dtype
            np.multiply(xb.view(c), tab[0], out=ob.view(c))
            if r < D and np.isnan(np.minimum.reduce(ob, axis=None)):
                # x_b = inf times the 0 of an unrotated pair leaks a NaN into x_a: the reference
                pos = np.arange(t0, t1) if isinstance(positions, int) else positions[t0:t1]
                ob[...] = refpe.rope(
                    xb, pos, base=base, layout=layout, rotary_dim=rotary_dim, scaling=scaling,
                    kernel="reference",
                )  # fmt: skip


def rope_torch(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
    out: Any = None,
) -> Any:
    r""":func:`refpe.rope` for PyTorch tensors; ``out=x`` rotates ``x`` in place.

    .. math::

        y = x \odot C + \mathrm{swap}(x_{:r}) \odot S,\quad S = [-\sin\phi, \sin\phi]

    (half layout, tables as in :func:`_rope_half_block`). CPU tensors run the NumPy kernel
    on their memory, without a copy (PyTorch's own elementwise operations were measured
    slower here). Other devices: the same form on blocks of leading indices (``flip`` for
    the swap); interleaved layout: ``view_as_complex(x) *`` the complex table. Tensors that
    require grad go to the reference, which keeps the autograd graph.

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: as :func:`rope` (float32/float64 rotation in ``x.dtype``, tables from float64).
    """

    def ref(xx: Any, pos: Any) -> Any:
        return refpe.rope(
            xx, pos, base=base, layout=layout, rotary_dim=rotary_dim, scaling=scaling,
            kernel="reference",
        )  # fmt: skip

    if not _is_torch(x, None if isinstance(positions, int) else positions):
        return _into(ref, x, positions, out)  # not PyTorch's: torch is not even imported
    import torch

    if x.dtype not in (torch.float32, torch.float64) or x.ndim < 2:
        return _into(ref, x, positions, out)
    fast = _rope_fast_args(x, positions, rotary_dim, layout, scaling) if x.numel() else None
    if fast is None:
        return _into(ref, x, positions, out)
    n, r = fast
    host = _tables_for(x, positions, n, r, base, scaling, layout)
    options = (base, rotary_dim, scaling)
    if x.requires_grad:
        return _into(ref, x, positions, out)  # the reference keeps the autograd graph
    if x.device.type == "cpu" and not _ON_DEVICE_PATH:
        src = x if x.is_contiguous() else x.contiguous()
        dest = torch.empty_like(src) if out is None else out
        if not dest.is_contiguous():
            return _into(rope_torch(x, positions, base=base, layout=layout,
                                    rotary_dim=rotary_dim, scaling=scaling), out)  # fmt: skip
        pos = positions if isinstance(positions, int) else positions.numpy()
        _rope_into(src.numpy(), dest.numpy(), host, pos, layout, r, options)
        return dest
    tables = [torch.from_numpy(t).to(x.device) for t in host]
    T, D = x.shape[-2:]
    xs = x.reshape(-1, T, D)
    dest = torch.empty_like(xs) if out is None else out.view(-1, T, D)
    k = max(1, (1 << 22) // (T * D))
    h = r // 2
    for i in range(0, xs.shape[0], k):
        xb, ob = xs[i : i + k], dest[i : i + k]
        if out is x:
            xb = xb.clone()
        if layout == "interleaved":
            pairs = (*xb.shape[:-1], D // 2, 2)
            zo = torch.view_as_complex(ob.view(pairs))
            torch.mul(torch.view_as_complex(xb.reshape(pairs)), tables[0], out=zo)
            if r < D and bool(torch.isnan(ob).any()):  # as in _rope_blocks: the reference
                pos = torch.arange(T, device=x.device) if isinstance(positions, int) else positions
                ob.copy_(ref(xb, pos))
        else:
            C, S = tables
            torch.mul(xb, C, out=ob)
            swapped = xb[..., :r].unflatten(-1, (2, h)).flip(-2).flatten(-2)
            ob[..., :r] += swapped * S
    return dest.view(x.shape) if out is None else out


@functools.lru_cache(maxsize=8)
def _rope_jit(layout: str, r: int) -> Callable[..., Any]:
    """The rotation as one ``jax.jit`` function (XLA fuses it into one pass over ``x``)."""
    import jax
    import jax.numpy as jnp

    h = r // 2

    def half(x: Any, cos: Any, sin: Any) -> Any:
        a, b = x[..., :h], x[..., h:r]
        return jnp.concatenate([a * cos - b * sin, b * cos + a * sin, x[..., r:]], axis=-1)

    def interleaved(x: Any, cos: Any, sin: Any) -> Any:
        pairs = x[..., :r].reshape(*x.shape[:-1], h, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        y = jnp.stack([a * cos - b * sin, b * cos + a * sin], axis=-1)
        return jnp.concatenate([y.reshape(*x.shape[:-1], r), x[..., r:]], axis=-1)

    return jax.jit(half if layout == "half" else interleaved)


def rope_jax(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
) -> Any:
    r""":func:`refpe.rope` for concrete JAX arrays: the formula under ``jax.jit``, with the
    cached float64-rounded ``cos``/``sin`` tables put on ``x``'s device.

    .. math::

        y_a = x_a \cos\phi - x_b \sin\phi,\quad y_b = x_b \cos\phi + x_a \sin\phi

    Inside a traced function (``jax.jit``, ``grad``) ``x`` is a tracer and the reference
    answers, so it traces as usual. Positions and scalings as :func:`rope`.

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: tables as :func:`rope`; the rotation in ``x.dtype`` (XLA may contract a
    product and the sum into one fused multiply-add, which rounds once instead of twice).
    """
    pos_arr = None if isinstance(positions, int) else positions
    if not _is_jax(x, pos_arr) or np.dtype(x.dtype) not in (np.float32, np.float64):
        return NotImplemented
    fast = _rope_fast_args(x, positions, rotary_dim, layout, scaling) if x.ndim >= 2 else None
    if fast is None or not x.size:
        return NotImplemented
    import jax

    n, r = fast
    C, S = _tables_for(x, positions, n, r, base, scaling, "half")
    h, device = r // 2, next(iter(x.devices()))
    cos, sin = (jax.device_put(t, device) for t in (C[:, :h], S[:, h:]))
    return _rope_jit(layout, r)(x, cos, sin)


def _into(ref: Callable[..., Any], x: Any, positions: Any, out: Any) -> Any:
    """A declined call: ``NotImplemented`` (the reference answers), or with ``out=`` the
    reference's result written into ``out``."""
    if out is None:
        return NotImplemented
    out.copy_(ref(x, positions))
    return out


# --- token-lookup, input-add ------------------------------------------------------------------


def _finite_scale(scale: Any, *allowed: Any) -> bool:
    """A finite real ``scale`` (bool refused), or one of ``allowed`` (``None``)."""
    if any(scale is a for a in allowed):
        return True
    real = isinstance(scale, (int, float)) and not isinstance(scale, bool)
    return real and math.isfinite(scale)


def _check_ids(name: str, ids: Any, n: int, what: str = "") -> None:
    """The range check done once: min and max; the reference's message when one is out."""
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= n):
        import array_api_compat

        require_range(name, ids, 0, n, array_api_compat.array_namespace(ids), what)


def token_lookup(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for NumPy: ``np.take`` with the range checked once.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    Source: seed 000 §3.1; seed 004 §1. Precision: the gather is bit-exact; ``scale`` is
    applied in ``table.dtype`` (``scale`` rounded to it, then one rounded product: within
    the spec's one-ulp bound, which allows both roundings).
    """

    if not (_is_numpy(ids, table) and ids.dtype.kind in "iu" and table.ndim == 2):
        return NotImplemented
    if table.dtype.kind != "f" or padding_idx is not None or not _finite_scale(scale, None):
        return NotImplemented
    _check_ids("ids", ids, table.shape[0])
    out = np.take(table, ids.reshape(-1), axis=0, mode="clip").reshape(*ids.shape, table.shape[1])
    if scale is not None:
        np.multiply(out, scale, out=out)
    return out


def _torch_in_range(ids: Any, n: int) -> bool:
    """Whether every id of a PyTorch tensor is in ``[0, n)``: one ``aminmax``, the twin of
    :func:`_check_ids` (which raises the reference's message instead)."""
    import torch

    if not ids.numel():
        return True
    lo, hi = torch.aminmax(ids)
    return int(lo) >= 0 and int(hi) < n


def token_lookup_torch(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for PyTorch: ``F.embedding`` with the range checked once.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    Source: seed 000 §3.1; seed 004 §1. Precision: as :func:`token_lookup`.
    """
    if not _is_torch(ids, table):
        return NotImplemented  # not PyTorch's: torch is not even imported
    import torch

    if ids.dtype not in (torch.int64, torch.int32):
        return NotImplemented
    if not table.dtype.is_floating_point or table.ndim != 2 or padding_idx is not None:
        return NotImplemented
    if not _finite_scale(scale, None):
        return NotImplemented
    if not _torch_in_range(ids, table.shape[0]):
        return NotImplemented  # the reference names the id
    out = torch.nn.functional.embedding(ids.reshape(-1), table)
    out = out.reshape(*ids.shape, table.shape[1])
    return out.mul_(scale) if scale is not None else out


def input_add(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for NumPy: one gather into the output, then in-place updates.

    .. math::

        x[s, t] = c\,E[\mathrm{ids}[s, t]] + PE[\mathrm{pos}[s, t]]

    Default positions ``start + arange(T)`` read a contiguous slice of ``pe_table`` that is
    broadcast, not gathered. Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3.

    Precision: in ``table.dtype``: ``c`` rounded, the product rounded, the sum rounded
    (within :math:`1.5\,\epsilon\,(|cE| + |PE|)`, the spec's float32 bound); float64
    tables go to the reference, which rounds once.
    """

    fast = (
        _is_numpy(ids, table, pe_table, positions)
        and combine == "add"
        and ids.dtype.kind in "iu"
        and ids.ndim >= 1
        and table.dtype == np.float32
        and pe_table.dtype == table.dtype
        and table.ndim == pe_table.ndim == 2
        and table.shape[1] == pe_table.shape[1]
        and _finite_scale(scale)
    )
    if not fast:
        return NotImplemented
    _check_ids("ids", ids, table.shape[0])
    T = ids.shape[-1]
    if positions is None:
        s = operator.index(start)
        if s < 0 or s + T > pe_table.shape[0]:
            return NotImplemented
        where = pe_table[s : s + T]
    else:
        if positions.dtype.kind not in "iu":
            return NotImplemented
        try:
            pos = np.broadcast_to(positions, ids.shape)
        except ValueError:
            return NotImplemented
        _check_ids("positions", pos, pe_table.shape[0], " of pe_table")
        where = np.take(pe_table, pos, axis=0, mode="clip")
    out = np.take(table, ids.reshape(-1), axis=0, mode="clip").reshape(*ids.shape, table.shape[1])
    if scale != 1:
        np.multiply(out, scale, out=out)
    out += where
    return out


def input_add_torch(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for PyTorch float32: one ``F.embedding``, then the scale and
    the positional rows added in place.

    .. math::

        x[s, t] = c\,E[\mathrm{ids}[s, t]] + PE[\mathrm{start} + t]

    Default positions only (a contiguous slice of ``pe_table``, broadcast); tensors on one
    device, not requiring grad. Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3.

    Precision: as :func:`input_add` (three roundings in float32).
    """
    if not _is_torch(ids, table, pe_table):
        return NotImplemented  # not PyTorch's: torch is not even imported
    import torch

    fast = (
        positions is None
        and combine == "add"
        and ids.dtype in (torch.int64, torch.int32)
        and ids.ndim >= 1
        and table.dtype == pe_table.dtype == torch.float32
        and table.ndim == pe_table.ndim == 2
        and table.shape[1] == pe_table.shape[1]
        and ids.device == table.device == pe_table.device
        and not (table.requires_grad or pe_table.requires_grad)
        and _finite_scale(scale)
        and isinstance(start, int)
        and not isinstance(start, bool)
    )
    if not fast or start < 0 or start + ids.shape[-1] > pe_table.shape[0]:
        return NotImplemented
    T = ids.shape[-1]
    if not _torch_in_range(ids, table.shape[0]):
        return NotImplemented  # the reference names the id
    out = torch.nn.functional.embedding(ids, table)
    if scale != 1:
        out.mul_(scale)
    return out.add_(pe_table[start : start + T])


# --- embedding-grad ---------------------------------------------------------------------------

#: Segments up to this many rows are summed together by length; longer ones one by one.
SHORT = 64
#: Elements gathered at a time into one reused buffer (it stays in cache; no fresh pages).
GATHER_ELEMENTS = 2**17


def _segment_sums(ids: np.ndarray, g: np.ndarray, out: np.ndarray, mean: bool) -> None:
    """``out[v]`` = the float64 sum (``mean``: the mean) of the rows of ``g`` with id ``v``,
    rounded once to ``out.dtype``. Rows are visited in id order; every reduction runs over
    contiguous rows."""
    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if ids.size else np.zeros(0, int)
    counts = np.diff(np.r_[starts, ids.size])
    seg = sid[starts]
    single = counts == 1
    out[seg[single]] = g[order[starts[single]]]
    d = g.shape[1]
    R = max(SHORT, GATHER_ELEMENTS // max(d, 1))
    buf = np.empty((R, d), dtype=g.dtype)
    for L in np.unique(counts[(counts > 1) & (counts <= SHORT)]):
        which = np.flatnonzero(counts == L)
        step = R // int(L)
        for k in range(0, which.size, step):
            w = which[k : k + step]
            rows = buf[: w.size * L]
            np.take(g, order[starts[w][:, None] + np.arange(L)].reshape(-1), axis=0, out=rows)
            total = np.add.reduce(rows.reshape(w.size, L, d), axis=1, dtype=float)
            out[seg[w]] = total / L if mean else total
    part = np.empty(d)
    for j in np.flatnonzero(counts > SHORT):
        a, b = starts[j], starts[j] + counts[j]
        total = np.zeros(d)
        for c in range(a, b, R):
            rows = buf[: min(b, c + R) - c]
            np.take(g, order[c : c + rows.shape[0]], axis=0, out=rows)
            total += np.add.reduce(rows, axis=0, dtype=float, out=part)
        out[seg[j]] = total / counts[j] if mean else total


def embedding_grad(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for NumPy: sorted segment sums instead of ``np.add.at``.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    The ids are sorted (stably); an id seen once copies its row; ids seen ``L <= 64``
    times are summed together, all segments of one length at once (a gather to
    ``(segments, L, d)`` and a float64 reduction over the middle axis); longer segments
    are reduced one by one in chunks of contiguous rows. ``scale_grad_by_freq``,
    ``padding_idx`` and ``frozen`` as the reference.

    Source: seed 004 §5; PyTorch ``embedding_backward``.

    Precision: every sum is accumulated in float64 and rounded once to ``grad_out.dtype``
    (float32: within :math:`\epsilon/2` of the exact sum plus :math:`n\,2^{-53}\sum|g|`,
    inside the spec's :math:`2\epsilon\sum|g|`).
    """

    frozen_arr = None if frozen is None or isinstance(frozen, bool) else frozen
    if not (_is_numpy(ids, grad_out, frozen_arr) and ids.dtype.kind in "iu"):
        return NotImplemented
    if grad_out.dtype.kind != "f" or grad_out.shape[:-1] != ids.shape or grad_out.ndim < 1:
        return NotImplemented
    if not isinstance(num_embeddings, int) or num_embeddings <= 0 or frozen is True:
        return NotImplemented
    if frozen_arr is not None and (
        frozen_arr.dtype != bool or frozen_arr.shape != (num_embeddings,)
    ):
        return NotImplemented
    n = num_embeddings
    if padding_idx is not None and not (isinstance(padding_idx, int) and -n <= padding_idx < n):
        return NotImplemented
    _check_ids("ids", ids, n)
    flat = ids.reshape(-1)
    g = grad_out.reshape(flat.size, grad_out.shape[-1])
    out = np.zeros((n, g.shape[1]), dtype=grad_out.dtype)
    _segment_sums(flat, g, out, bool(scale_grad_by_freq))
    if padding_idx is not None:
        out[padding_idx % n] = 0
    if frozen_arr is not None:
        out[frozen_arr] = 0
    return out


def embedding_grad_torch(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for PyTorch: ATen's ``embedding_dense_backward`` (the
    backward of ``F.embedding``, parallel over rows of the result) after one range check.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    ``padding_idx`` and ``scale_grad_by_freq`` are ATen's own (the same definitions);
    ``frozen`` rows are zeroed after. Tensors requiring grad, other dtypes and bad input go
    to the reference.

    Source: seed 004 §5; PyTorch ``embedding_dense_backward``.

    Precision: each row is summed in ``grad_out.dtype`` in the order of ``ids``: within
    :math:`(n_v - 1)\,u \sum|g|` (:math:`u = \epsilon/2`) always, inside the spec's
    :math:`2\epsilon\sqrt{n_v}\sum|g|` for :math:`n_v \le 65`; for longer sums inside it
    with the probability of the spec's model (Higham & Mary 2019: rounding errors of random
    sign). :func:`embedding_grad` sums in float64 instead.
    """
    frozen_arr = None if frozen is None or isinstance(frozen, bool) else frozen
    tensors = [t for t in (ids, grad_out, frozen_arr) if t is not None]
    if not _is_torch(*tensors):
        return NotImplemented  # not PyTorch's: torch is not even imported
    import torch

    fast = (
        len({t.device for t in tensors}) == 1
        and ids.dtype in (torch.int64, torch.int32)
        and grad_out.dtype in (torch.float32, torch.float64)
        and not grad_out.requires_grad
        and grad_out.ndim >= 1
        and tuple(grad_out.shape[:-1]) == tuple(ids.shape)
        and isinstance(num_embeddings, int)
        and not isinstance(num_embeddings, bool)
        and num_embeddings > 0
        and frozen is not True
        and (frozen_arr is None or (frozen_arr.dtype == torch.bool
                                    and tuple(frozen_arr.shape) == (num_embeddings,)))
        and (padding_idx is None or (isinstance(padding_idx, int)
                                     and -num_embeddings <= padding_idx < num_embeddings))
    )  # fmt: skip
    if not fast:
        return NotImplemented
    flat = ids.reshape(-1)
    if not _torch_in_range(flat, num_embeddings):
        return NotImplemented  # the reference names the id
    g = grad_out.reshape(flat.numel(), grad_out.shape[-1])
    pad = -1 if padding_idx is None else padding_idx % num_embeddings
    out = torch.ops.aten.embedding_dense_backward(
        g, flat, num_embeddings, pad, bool(scale_grad_by_freq)
    )
    if frozen_arr is not None:
        out[frozen_arr] = 0
    return out


# --- which kernel -----------------------------------------------------------------------------

#: ``(spec id, backend name) -> kernel``.
KERNELS: dict[tuple[str, str], Callable[..., Any]] = {
    ("pe-sinusoidal", "numpy"): pe_sinusoidal,
    ("pe-sinusoidal", "torch"): pe_sinusoidal,
    ("pe-sinusoidal", "jax"): pe_sinusoidal,
    ("rope", "numpy"): rope,
    ("rope", "torch"): rope_torch,
    ("rope", "jax"): rope_jax,
    ("token-lookup", "numpy"): token_lookup,
    ("token-lookup", "torch"): token_lookup_torch,
    ("input-add", "numpy"): input_add,
    ("input-add", "torch"): input_add_torch,
    ("embedding-grad", "numpy"): embedding_grad,
    ("embedding-grad", "torch"): embedding_grad_torch,
}


def fastest(spec_id: str, backend: str = "numpy") -> Callable[..., Any]:
    """The function to call for ``spec_id`` on ``backend``: its kernel, answered by the
    reference where the kernel declines (returns ``NotImplemented``); the reference when
    there is no kernel."""
    reference = refpe.spec(spec_id).function
    kernel = KERNELS.get((spec_id, backend))
    if kernel is None:
        return reference

    @functools.wraps(kernel)
    def call(*args: Any, **kwargs: Any) -> Any:
        y = kernel(*args, **kwargs)
        return reference(*args, **kwargs) if y is NotImplemented else y

    return call


def register() -> None:
    """Register every kernel with :func:`refpe.register_kernel` (the ``refpe.kernels`` entry
    point); a library's kernels are tried only on its own arrays, and decline the rest."""
    libraries: dict[tuple[str, Callable[..., Any]], list[str]] = {}
    for (spec_id, library), kernel in KERNELS.items():
        libraries.setdefault((spec_id, kernel), []).append(library)
    for (spec_id, kernel), libs in libraries.items():
        # one library: tried once it is imported; several: the kernel tells them apart itself
        only = libs[0] if len(libs) == 1 else None
        refpe.register_kernel(spec_id, kernel, f"refpe.backends.kernels.{kernel.__name__}", only)
