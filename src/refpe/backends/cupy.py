"""CuPy: CUDA devices only; skipped with the reason where there is none."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._base import Backend


class CuPy(Backend):
    name = "cupy"
    module = "cupy"

    def available(self) -> str | None:
        reason = super().available()
        if reason:
            return reason
        try:
            count = self.lib.cuda.runtime.getDeviceCount()
        except Exception as exc:  # the CUDA runtime raises its own error types
            return f"cupy sees no CUDA device ({type(exc).__name__}: {exc})"
        return None if count > 0 else "cupy sees no CUDA device"

    def namespace(self) -> Any:
        try:
            import array_api_compat.cupy as xp
        except ImportError:  # a CuPy that array-api-compat cannot wrap: CuPy's own namespace
            return self.lib
        return xp

    def devices(self) -> list[str]:
        return [f"cuda:{i}" for i in range(self.lib.cuda.runtime.getDeviceCount())]

    def owns(self, x: Any) -> bool:
        return array_api_compat.is_cupy_array(x)

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        with self.lib.cuda.Device(int(device.split(":")[1])):
            return self.lib.asarray(host, dtype=dtype)

    def settings(self) -> dict[str, str]:
        cp = self.lib
        return {"cupy.cuda.runtime.runtimeGetVersion": str(cp.cuda.runtime.runtimeGetVersion())}

    def sync(self, x: Any) -> None:
        self.lib.cuda.get_current_stream().synchronize()
