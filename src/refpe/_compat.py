"""Small named helpers for what the Array API standard leaves to each library.

Every helper takes the namespace ``xp`` of its inputs. Library-specific paths are chosen by
namespace with ``array_api_compat.is_*_namespace`` (which imports nothing), and each keeps a
pure-standard fallback, so the reference also runs under ``array-api-strict``.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import array_api_compat as compat

from .registry import FLOAT_DTYPES

Array = Any

#: The largest width a feature axis, a rotary axis or a head count may have: every size of
#: that kind is checked against it before anything is allocated (a width of 10**12 fails at
#: once instead of running for minutes into a ``MemoryError``).
MAX_WIDTH = 2**16
#: The largest length (positions, rows, queries, keys, vocabulary): the position horizon of
#: the exact phase reduction, :math:`2^{31}`.
MAX_LENGTH = 2**31 - 1
#: The most elements one output table may have (32 GiB of float64).
MAX_ELEMENTS = 2**32


def namespace(**arrays: Array) -> Any:
    """The common namespace of named arrays; ``TypeError``/``ValueError`` naming the odd one.

    Python scalars and ``None`` are ignored. Arrays of two libraries, or on two devices,
    are an error that names both arguments.
    """
    for name, value in arrays.items():
        if isinstance(value, (list, tuple)):
            raise TypeError(
                f"{name} must be an array (NumPy, PyTorch, JAX, CuPy, Dask, ...), got a Python "
                f"{type(value).__name__}: convert it once, e.g. numpy.asarray({name}, "
                f"dtype=...), choosing the dtype the formula needs"
            )
    named = {k: v for k, v in arrays.items() if v is not None and compat.is_array_api_obj(v)}
    if not named:
        raise TypeError(f"no array among the arguments {sorted(arrays)}")
    first_name, first = next(iter(named.items()))
    xp = compat.array_namespace(first)
    for name, a in named.items():
        other = compat.array_namespace(a)
        if other is not xp:
            raise TypeError(
                f"mixed array libraries: {first_name} is {type(first).__module__}."
                f"{type(first).__name__}, {name} is {type(a).__module__}.{type(a).__name__}"
            )
    if not compat.is_lazy_array(first):
        dev = compat.device(first)
        for name, a in named.items():
            if compat.device(a) != dev:
                raise ValueError(
                    f"arrays on different devices: {first_name} is on {dev}, "
                    f"{name} is on {compat.device(a)}"
                )
    return xp


def default_namespace(xp: Any) -> Any:
    """``xp`` made standard-compatible; NumPy when ``None``."""
    if xp is None:
        import numpy

        xp = numpy
    return compat.array_namespace(xp.empty(0))


def dtype_name(dtype: Any) -> str:
    """``'float32'`` for any library's float32 dtype object (or the name itself)."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).rsplit(".", 1)[-1].strip("'>")


def resolve_dtype(xp: Any, dtype: Any, device: Any = None) -> Any:
    """The namespace's dtype object for ``dtype`` (a name, a dtype or ``None``: default float)."""
    if dtype is None:
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    if isinstance(dtype, str):
        if dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be one of {FLOAT_DTYPES}, got {dtype!r}")
        found = getattr(xp, dtype, None)
        if found is None:
            raise ValueError(f"dtype {dtype!r} is not available in {xp.__name__}")
        return found
    if not xp.isdtype(dtype, "real floating"):
        raise ValueError(f"dtype must be a real floating dtype, got {dtype!r}")
    return dtype


def has_float64(xp: Any, device: Any = None) -> bool:
    """Whether ``device`` in ``xp`` supports float64 (JAX without x64, MPS, ... do not)."""
    dtypes = xp.__array_namespace_info__().dtypes(device=device, kind="real floating")
    return "float64" in dtypes


def work_float(xp: Any, device: Any = None) -> Any:
    """The widest float on the device: float64 where it exists, else float32."""
    return xp.float64 if has_float64(xp, device) else xp.float32


def is_traced(x: Array) -> bool:
    """True for values whose data cannot be read now (a JAX tracer inside ``jit``)."""
    return compat.is_jax_array(x) and type(x).__name__.endswith("Tracer")


def require_integer(name: str, x: Array, xp: Any) -> None:
    """``TypeError`` unless ``x`` is an integer array (bool and float ids are refused)."""
    if not xp.isdtype(x.dtype, "integral"):
        raise TypeError(f"{name} must be an integer array, got dtype {dtype_name(x.dtype)}")


def integer_array(name: str, x: Array, xp: Any) -> Array:
    """``x`` checked as :func:`require_integer` does, in a dtype its library indexes with.

    NumPy, JAX and the standard index with every integer dtype. PyTorch indexes
    (``index_select``, ``F.embedding``, ``index_add``) with int32 and int64 only, reads a uint8
    index as a boolean mask, and has almost no operation for uint16/32/64: those tensors are
    converted to int64 once, here, exactly (a uint64 value past ``2**63 - 1`` is refused with
    ``IndexError``, as it is out of every table's range).
    """
    require_integer(name, x, xp)
    if not compat.is_torch_array(x):
        return x
    import torch

    if x.dtype in (torch.int64, torch.int32):
        return x
    if x.dtype == torch.uint64 and x.numel():
        signed = x.view(torch.int64)
        if bool((signed < 0).any()):
            i = int(torch.argmax((signed < 0).reshape(-1).to(torch.int8)))
            value = int(x.reshape(-1)[i : i + 1].cpu().numpy()[0])
            raise IndexError(f"{name} out of range: value {value} at flat index {i} is too large")
        return signed
    return x.to(torch.int64)


def require_range(name: str, x: Array, lo: int, hi: int, xp: Any, what: str = "") -> None:
    """``IndexError`` unless every value of ``x`` is in ``[lo, hi)``, naming the first bad one.

    Reading the values synchronises; inside ``jax.jit`` the values are unknown and the
    check is skipped (a traced call cannot raise on data).
    """
    if x.size == 0 or is_traced(x):
        return
    if compat.is_dask_array(x):
        x = x.compute()
        xp = compat.array_namespace(x)
    # the bounds are compared as the dtype holds them: a negative ``lo`` against unsigned
    # values, or ``hi`` past the dtype's top, would wrap (JAX casts the scalar to the dtype)
    info = xp.iinfo(x.dtype)
    if lo > info.max or hi <= max(lo, info.min):
        bad = xp.ones(x.shape, dtype=xp.bool, device=compat.device(x))  # no value can be in
    else:
        bad = xp.zeros(x.shape, dtype=xp.bool, device=compat.device(x))
        if lo > info.min:
            bad = bad | (x < lo)
        if hi <= info.max:
            bad = bad | (x >= hi)
    if bool(xp.any(bad)):
        flat = xp.reshape(bad, (-1,))
        i = int(xp.argmax(xp.astype(flat, xp.int8)))
        value = int(xp.reshape(x, (-1,))[i])
        raise IndexError(
            f"{name} out of range{what}: value {value} at flat index {i} is not in [{lo}, {hi})"
        )


def require_int(name: str, value: Any) -> int:
    """``value`` as an int (``operator.index``: NumPy and 0-d integer scalars too); ``bool``
    is refused (``True`` is no size, seed or offset), as is every float."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        raise TypeError(f"{name} must be an integer, got the bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def require_positive_int(name: str, value: Any, maximum: int = MAX_LENGTH) -> int:
    """``value`` as an int in ``[1, maximum]``, else ``TypeError``/``ValueError`` naming it.

    The bound is checked before anything is allocated: :data:`MAX_LENGTH` for lengths,
    :data:`MAX_WIDTH` for widths and head counts.
    """
    v = require_int(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be positive, got {v}")
    if v > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {v}")
    return v


def require_elements(what: str, *sizes: int) -> None:
    """``ValueError`` when an output of shape ``sizes`` would pass :data:`MAX_ELEMENTS`
    (``what`` names the arguments that set the shape)."""
    if math.prod(sizes) > MAX_ELEMENTS:
        raise ValueError(
            f"{what} = {' * '.join(map(str, sizes))} elements is more than the {MAX_ELEMENTS} "
            f"one output may have"
        )


def require_finite(name: str, x: Array, xp: Any) -> None:
    """``ValueError`` if ``x`` holds NaN or infinity."""
    if x.size == 0 or is_traced(x):
        return
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"{name} must be finite, got NaN or infinity")


def require_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` when it is one of ``choices``, else ``ValueError`` listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def take_rows(table: Array, ids: Array, xp: Any) -> Array:
    """``table[ids]`` for integer ``ids`` of any shape: shape ``ids.shape + table.shape[1:]``."""
    flat = xp.reshape(ids, (-1,))
    rows = xp.take(table, flat, axis=0)
    return xp.reshape(rows, tuple(ids.shape) + tuple(table.shape[1:]))


def scatter_add(n: int, ids: Array, values: Array, xp: Any) -> Array:
    """``out[v] = sum of values[s] over s with ids[s] == v`` for ``v < n``; duplicates accumulate.

    ``ids`` is 1-D, ``values`` has shape ``(len(ids),) + row``. Uses ``np.add.at``,
    ``Tensor.index_add``, ``.at[].add`` or ``cupyx.scatter_add``; the standard fallback is
    the one-hot product ``onehot(ids)^T @ values``.
    """
    shape = (n, *values.shape[1:])
    if compat.is_numpy_namespace(xp):
        import numpy as np

        out = np.zeros(shape, dtype=values.dtype)
        np.add.at(out, ids, values)
        return out
    if compat.is_torch_namespace(xp):
        out = xp.zeros(shape, dtype=values.dtype, device=values.device)
        return out.index_add(0, ids, values)
    if compat.is_jax_namespace(xp):
        out = xp.zeros(shape, dtype=values.dtype, device=compat.device(values))
        return out.at[ids].add(values)
    if compat.is_cupy_namespace(xp):
        import cupyx

        out = xp.zeros(shape, dtype=values.dtype)
        cupyx.scatter_add(out, ids, values)
        return out
    rows = xp.reshape(values, (values.shape[0], -1))
    onehot = xp.astype(
        xp.reshape(ids, (1, -1)) == xp.reshape(xp.arange(n, device=compat.device(ids)), (-1, 1)),
        values.dtype,
    )
    return xp.reshape(onehot @ rows, shape)


def require_broadcast(name: str, shape: tuple[int, ...], target: tuple[int, ...]) -> None:
    """``ValueError`` unless an array of ``shape`` broadcasts to ``target`` (names both)."""
    ok = len(shape) <= len(target) and all(
        s in (1, t) for s, t in zip(reversed(shape), reversed(target), strict=False)
    )
    if not ok:
        raise ValueError(f"{name} of shape {tuple(shape)} does not broadcast to {tuple(target)}")


def from_host(values: Any, xp: Any, dtype: Any, device: Any = None) -> Array:
    """Host (NumPy) values as an ``xp`` array of ``dtype`` on ``device``, rounded once.

    float64/float32/float16 are rounded on the host (round to nearest even) and
    transferred; other dtypes (bfloat16) travel in the device's widest float and are
    cast there.
    """
    import numpy

    name = dtype_name(dtype)
    if name == "float64" and not has_float64(xp, device):
        raise ValueError(f"dtype 'float64' is not available on device {device!r} of {xp.__name__}")
    if name in ("float64", "float32", "float16"):
        host = numpy.asarray(values, dtype=name)
        return xp.astype(xp.asarray(host, device=device), dtype)
    wide = work_float(xp, device)
    host = numpy.asarray(values, dtype=dtype_name(wide))
    return xp.astype(xp.asarray(host, device=device), dtype)


def to_host(x: Any) -> Any:
    """Any library's array as a NumPy array on the host (a copy where the data lives elsewhere).

    The one place that tells the libraries' arrays apart for the way out
    (``array_api_compat.is_*_array``, which imports nothing). bfloat16, which NumPy lacks,
    comes back widened exactly to float32; anything that is not an array goes through
    ``numpy.asarray``.
    """
    import numpy

    if isinstance(x, numpy.ndarray):
        return x
    if compat.is_torch_array(x):
        x = x.detach().cpu()
        return (x.float() if str(x.dtype) == "torch.bfloat16" else x).numpy()
    if compat.is_cupy_array(x):
        return x.get()
    if compat.is_dask_array(x):
        return numpy.asarray(x.compute())
    if compat.is_jax_array(x):
        y = numpy.asarray(x)
        return y.astype(numpy.float32) if y.dtype.name == "bfloat16" else y
    if compat.is_array_api_obj(x):
        try:
            return numpy.from_dlpack(x)
        except (TypeError, BufferError, RuntimeError, AttributeError):
            return numpy.asarray(x)
    return numpy.asarray(x)


def as_positions(positions: Any, xp: Any, device: Any = None) -> Array:
    """An int ``n`` means ``arange(n)`` in the default integer dtype (JAX without x64 has no
    int64: its default integer is int32); an integer array is returned in it when its values
    fit (int8 ... int32, uint8 ... uint32 for int64), else as it is."""
    if isinstance(positions, int) and not isinstance(positions, bool):
        if positions < 0:
            raise ValueError(f"positions must be >= 0 when an int, got {positions}")
        if positions > MAX_LENGTH:
            raise ValueError(f"positions must be at most {MAX_LENGTH} when an int, got {positions}")
        return xp.arange(positions, device=device)
    if not compat.is_array_api_obj(positions):
        raise TypeError(f"positions must be an int or an integer array, got {positions!r}")
    p = integer_array("positions", positions, xp)
    # Narrow dtypes are widened to the default integer dtype, exactly: the phase arithmetic and
    # an offset added to int8 positions would wrap (JAX's float32 reduction did, silently).
    wide = xp.__array_namespace_info__().default_dtypes(device=compat.device(p))["integral"]
    top, info = xp.iinfo(p.dtype), xp.iinfo(wide)
    if p.dtype != wide and info.min <= top.min and top.max <= info.max:
        p = xp.astype(p, wide)
    return p


def device_of(x: Array) -> Any:
    """The device of ``x`` (``array_api_compat.device``: Dask arrays have no ``.device``)."""
    return compat.device(x)


def compiled(fn: Any, xp: Any) -> Any:
    """``fn`` compiled as one program where eager dispatch costs a compilation per operation
    (``jax.jit`` for JAX); ``fn`` itself elsewhere. ``fn`` must be pure array code."""
    if compat.is_jax_namespace(xp):
        import jax

        return jax.jit(fn)
    return fn


def require_real(name: str, value: Any) -> float:
    """``value`` as a float; ``ValueError`` naming it and its value unless it is a finite real
    number (``bool`` is not one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def require_float(xp: Any, **arrays: Array) -> None:
    """``TypeError`` naming the first of ``arrays`` whose dtype is not real floating.

    The input policy (docs: ``guides/inputs.md``): a float formula computes in its input's
    float dtype and returns it, so an integer or bool array has no dtype to answer in
    (casting the answer back to it truncates: ``rope`` of ``[3, 4]`` gave ``[-1, 4]``), and
    a complex one would lose its imaginary part. Both are refused; ``None`` is skipped.
    """
    for name, t in arrays.items():
        if t is None:
            continue
        if not xp.isdtype(t.dtype, "real floating"):
            kind = "complex" if xp.isdtype(t.dtype, "complex floating") else "integer or bool"
            raise TypeError(
                f"{name} must be a float array, got dtype {dtype_name(t.dtype)} ({kind} arrays "
                f"are refused, as the result would be cast back to that dtype: convert {name} "
                f"to float64, float32, float16 or bfloat16 first)"
            )


def dask_chunks(
    chunks: Any, shape: tuple[int, ...], dtype: Any, given: Any = None
) -> tuple[tuple[int, ...], ...]:
    """Dask's blocks of ``shape`` for ``chunks`` (an int, a tuple per axis, ``"auto"``), or
    ``ValueError`` naming ``chunks`` (as the caller ``given`` it)."""
    from dask.array.core import normalize_chunks

    try:
        return normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError, NotImplementedError) as exc:
        raise ValueError(
            f"chunks must be Dask chunks of the axes of shape {shape}, got "
            f"chunks={chunks if given is None else given!r} "
            f"({exc})"
        ) from None


def refuse_chunks(chunks: Any, is_dask: bool) -> None:
    """``ValueError`` naming ``chunks`` when blocks are asked of an output that is not Dask's."""
    if chunks is not None and not is_dask:
        raise ValueError(f"chunks is for Dask arrays only, got chunks={chunks!r}")
