"""array-api-strict: the standard and nothing else, so no library-only call can hide."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Backend


class ArrayApiStrict(Backend):
    name = "array_api_strict"
    module = "array_api_strict"

    def namespace(self) -> Any:
        return self.lib

    def dtypes(self, device: str) -> tuple[str, ...]:
        return ("float64", "float32")

    def owns(self, x: Any) -> bool:
        # array_api_compat has no is_*_array for it; the type's module says it, importing nothing.
        return type(x).__module__.split(".")[0] == self.module

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        xp = self.lib
        return xp.asarray(np.array(host), dtype=getattr(xp, dtype) if dtype else None)
