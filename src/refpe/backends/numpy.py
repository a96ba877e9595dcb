"""NumPy: the host library, and the float64 reference's own home."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ._base import Backend


class NumPy(Backend):
    name = "numpy"
    module = "numpy"

    def namespace(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def owns(self, x: Any) -> bool:
        return array_api_compat.is_numpy_array(x)

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        return np.array(host, dtype=dtype, copy=True)
