"""CuPy: CUDA devices only; skipped with the reason where there is none."""

from __future__ import annotations

from typing import Any

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
        import array_api_compat.cupy as xp

        return xp

    def devices(self) -> list[str]:
        return [f"cuda:{i}" for i in range(self.lib.cuda.runtime.getDeviceCount())]

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        with self.lib.cuda.Device(int(device.split(":")[1])):
            return self.lib.asarray(host, dtype=dtype)

    def to_numpy(self, x: Any) -> np.ndarray:
        return self.lib.asnumpy(x)

    def settings(self) -> dict[str, str]:
        cp = self.lib
        return {"cupy.cuda.runtime.runtimeGetVersion": str(cp.cuda.runtime.runtimeGetVersion())}

    def sync(self, x: Any) -> None:
        self.lib.cuda.get_current_stream().synchronize()
