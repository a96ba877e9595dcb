"""PyTorch: CPU, CUDA (or ROCm) and MPS devices; TF32 switched off while checking."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat
import numpy as np

from ._base import Backend


class Torch(Backend):
    name = "torch"
    module = "torch"
    compiler = "torch.compile"

    def namespace(self) -> Any:
        import array_api_compat.torch as xp

        return xp

    def devices(self) -> list[str]:
        torch = self.lib
        found = ["cpu"]
        if torch.cuda.is_available():
            found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            found.append("mps")
        return found

    def unavailable_devices(self) -> dict[str, str]:
        if self.lib.cuda.is_available():
            return {}
        return {"cuda": "torch sees no CUDA device (torch.cuda.is_available() is False)"}

    def dtypes(self, device: str) -> tuple[str, ...]:
        if device == "mps":
            return ("float32", "float16", "bfloat16")
        return ("float64", "float32", "float16", "bfloat16")

    def device_object(self, device: str) -> Any:
        return self.lib.device(device)

    def owns(self, x: Any) -> bool:
        return array_api_compat.is_torch_array(x)

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        torch = self.lib
        host = np.array(host, order="C", copy=True)
        if host.dtype.name == "bfloat16":  # torch cannot read NumPy's bfloat16: widen, exactly
            host = host.astype(np.float32)
        t = torch.from_numpy(host)
        return t.to(device=device, dtype=getattr(torch, dtype) if dtype else None)

    def sync(self, x: Any) -> None:
        if getattr(x, "is_cuda", False):
            self.lib.cuda.synchronize(x.device)

    def compile(self, fn: Callable[..., Any], static: tuple[str, ...] = ()) -> Callable[..., Any]:
        return self.lib.compile(fn, dynamic=False)

    def settings(self) -> dict[str, str]:
        torch = self.lib
        return {
            "torch.backends.cuda.matmul.allow_tf32": str(torch.backends.cuda.matmul.allow_tf32),
            "torch.backends.cudnn.allow_tf32": str(torch.backends.cudnn.allow_tf32),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        }

    @contextlib.contextmanager
    def context(self, dtype: str) -> Iterator[None]:
        torch = self.lib
        saved = (
            torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision(),
        )
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved[0]
            torch.backends.cudnn.allow_tf32 = saved[1]
            torch.set_float32_matmul_precision(saved[2])
