"""A stand-in for CuPy on the CPU, for the host-side logic of :mod:`refpe.kernels.cupy`.

Arrays are NumPy arrays (a subclass named ``cupy.ndarray``, so ``array_api_compat`` takes them
for CuPy's). ``RawKernel`` compiles the kernels' own CUDA C with the host C++ compiler (a
prelude defines ``__global__``, the thread indices and the rounding intrinsics, with
contraction off) and runs each launch as a small grid of serial "threads"; the kernels'
grid-stride loops make any grid cover the work. Every launch checks what a GPU would not:
each argument against the kernel's declared parameter type (an array of the wrong dtype or
a non-contiguous array is an error here, silent garbage there) and the grid and block sizes.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import os
import re
import shutil
import subprocess
import tempfile
import types
from typing import Any, ClassVar

import numpy as np

PRELUDE = r"""
struct refpe_dim3 { unsigned int x, y, z; };
extern "C" { refpe_dim3 blockIdx, threadIdx, blockDim, gridDim; }
#define __global__
#define __fmul_rn(a, b) ((float)(a) * (float)(b))
#define __fadd_rn(a, b) ((float)(a) + (float)(b))
#define __fsub_rn(a, b) ((float)(a) - (float)(b))
#define __dmul_rn(a, b) ((double)(a) * (double)(b))
#define __dadd_rn(a, b) ((double)(a) + (double)(b))
#define __dsub_rn(a, b) ((double)(a) - (double)(b))
#define __ddiv_rn(a, b) ((double)(a) / (double)(b))
"""
#: The grid every launch is emulated with (blocks, threads per block).
GRID = (2, 3)
COMPILER = shutil.which("g++") or shutil.which("c++")
_SCALARS = {"long long": np.int64, "int": np.int32, "float": np.float32, "double": np.float64}
_CTYPES = {np.int64: ctypes.c_longlong, np.int32: ctypes.c_int, np.float32: ctypes.c_float,
           np.float64: ctypes.c_double}  # fmt: skip
_POINTERS = {"long long": np.int64, "float": np.float32, "double": np.float64}
_LIBS: dict[str, ctypes.CDLL] = {}


class Dim3(ctypes.Structure):
    _fields_ = [("x", ctypes.c_uint), ("y", ctypes.c_uint), ("z", ctypes.c_uint)]


class ndarray(np.ndarray):
    """A host array standing for a device array."""

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))

    @property
    def device(self) -> Device:
        return Device(0)


class Device:
    """CUDA device 0, the only one; a context manager as CuPy's."""

    def __init__(self, device: int | None = None) -> None:
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise ValueError(f"fake CuPy has device 0 only, got {device}")

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _view(r: Any) -> Any:
    if isinstance(r, np.ndarray) and not isinstance(r, ndarray):
        return r.view(ndarray)
    if isinstance(r, tuple):
        return tuple(_view(v) for v in r)
    return r


def _wrap(fn: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _view(fn(*args, **kwargs))

    wrapped.__name__ = getattr(fn, "__name__", "fn")
    return wrapped


def compile_source(code: str) -> ctypes.CDLL:
    """The kernels of ``code`` as a host shared library (cached by the source's hash)."""
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    if digest not in _LIBS:
        folder = os.path.join(tempfile.gettempdir(), f"refpe-fake-cupy-{os.getuid()}")
        os.makedirs(folder, exist_ok=True)
        lib = os.path.join(folder, f"{digest}.so")
        if not os.path.exists(lib):
            src = os.path.join(folder, f"{digest}.cpp")
            with open(src, "w") as f:
                f.write(PRELUDE + code)
            tmp = f"{lib}.{os.getpid()}"
            subprocess.run(
                [COMPILER, "-shared", "-fPIC", "-O1", "-ffp-contract=off", "-Wall", "-Werror",
                 "-o", tmp, src],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            os.replace(tmp, lib)
        _LIBS[digest] = ctypes.CDLL(lib)
    return _LIBS[digest]


def parameters(code: str, name: str) -> list[tuple[str, bool]]:
    """``(base type, is pointer)`` of each parameter of kernel ``name`` in ``code``."""
    found = re.search(rf"__global__\s+void\s+{name}\s*\(([^)]*)\)", code)
    if not found:
        raise AttributeError(f"no kernel {name!r} in the source")
    params = []
    for p in found.group(1).split(","):
        p = " ".join(p.replace("const", "").split())
        pointer = "*" in p
        params.append((p.split("*")[0].strip() if pointer else p.rsplit(" ", 1)[0], pointer))
    return params


class RawKernel:
    """CuPy's ``RawKernel(code, name)``, run on the host."""

    launches: ClassVar[list[tuple[str, tuple, tuple]]] = []

    def __init__(self, code: str, name: str) -> None:
        self.code, self.name = code, name
        self.params = parameters(code, name)

    def __call__(self, grid: tuple, block: tuple, args: tuple) -> None:
        for what, dims in (("grid", grid), ("block", block)):
            ok = (
                isinstance(dims, tuple) and dims and all(isinstance(v, int) and v > 0 for v in dims)
            )
            if not ok:
                raise ValueError(f"{self.name}: {what} must be a tuple of positive ints: {dims}")
        if block[0] > 1024 or grid[0] > 2**31 - 1:
            raise ValueError(f"{self.name}: grid {grid}, block {block} past CUDA's limits")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: {len(self.params)} parameters, {len(args)} arguments")
        converted = [self._argument(i, a) for i, a in enumerate(args)]
        fn = getattr(compile_source(self.code), self.name)
        lib = compile_source(self.code)
        dims = {n: Dim3.in_dll(lib, n) for n in ("blockIdx", "threadIdx", "blockDim", "gridDim")}
        dims["gridDim"].x, dims["blockDim"].x = GRID
        for b in range(GRID[0]):
            for t in range(GRID[1]):
                dims["blockIdx"].x, dims["threadIdx"].x = b, t
                fn(*converted)
        RawKernel.launches.append((self.name, grid, block))

    def _argument(self, i: int, a: Any) -> Any:
        base, pointer = self.params[i]
        if pointer:
            if not isinstance(a, ndarray):
                raise TypeError(f"{self.name}: argument {i} must be an array, got {type(a)}")
            if a.dtype != _POINTERS[base] or not a.flags.c_contiguous:
                raise TypeError(f"{self.name}: argument {i} ({base}*) got a {a.dtype} array, "
                                f"contiguous: {a.flags.c_contiguous}")  # fmt: skip
            return ctypes.c_void_p(a.ctypes.data)
        want = _SCALARS[base]
        if type(a) is not want:
            raise TypeError(f"{self.name}: argument {i} ({base}) must be {want.__name__}, "
                            f"got {type(a).__name__}")  # fmt: skip
        return _CTYPES[want](a)


def module() -> types.ModuleType:
    """A fresh fake ``cupy`` module (NumPy's functions, returning fake device arrays)."""
    cp = types.ModuleType("cupy")
    cp.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    cp.__version__ = "0.0-fake"
    for name in dir(np):
        if name.startswith("_"):
            continue
        obj = getattr(np, name)
        setattr(cp, name, _wrap(obj) if callable(obj) and not isinstance(obj, type) else obj)
    cp.ndarray = ndarray
    cp.RawKernel = RawKernel
    cp.asnumpy = lambda a: np.array(a.view(np.ndarray)) if isinstance(a, np.ndarray) else a
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    stream = types.SimpleNamespace(synchronize=lambda: None)
    cp.cuda = types.SimpleNamespace(Device=Device, runtime=runtime,
                                    get_current_stream=lambda: stream)  # fmt: skip
    return cp
