"""JAX: x64 switched on only inside :meth:`JAX.context` for float64, never leaked."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import array_api_compat
import numpy as np

from ._base import Backend


class JAX(Backend):
    name = "jax"
    module = "jax"
    compiler = "jax.jit"

    def namespace(self) -> Any:
        import jax.numpy as jnp

        return jnp

    def devices(self) -> list[str]:
        # JAX calls an NVIDIA GPU's platform "gpu": named "cuda:<i>" here, as PyTorch and CuPy
        # name theirs, so ``--device cuda`` selects all three
        jax = self.lib
        return [_name(d, i) for i, d in enumerate(jax.devices())]

    def unavailable_devices(self) -> dict[str, str]:
        if any(d.platform == "gpu" for d in self.lib.devices()):
            return {}
        return {"cuda": "jax sees no GPU (jax.devices() lists only the CPU)"}

    def dtypes(self, device: str) -> tuple[str, ...]:
        return ("float64", "float32", "float16", "bfloat16")

    def device_object(self, device: str) -> Any:
        jax = self.lib
        if device == "cpu":
            return jax.devices("cpu")[0]
        return {_name(d, i): d for i, d in enumerate(jax.devices())}[device]

    def owns(self, x: Any) -> bool:
        return array_api_compat.is_jax_array(x)

    def asarray(self, host: np.ndarray, dtype: str | None, device: str) -> Any:
        import jax.numpy as jnp

        return self.lib.device_put(jnp.asarray(host, dtype=dtype), self.device_object(device))

    def sync(self, x: Any) -> None:
        self.lib.block_until_ready(x)

    def compile(self, fn: Callable[..., Any], static: tuple[str, ...] = ()) -> Callable[..., Any]:
        jax = self.lib

        def compiled(**kwargs: Any) -> Any:
            arrays = {k: v for k, v in kwargs.items() if isinstance(v, jax.Array)}
            fixed = {k: v for k, v in kwargs.items() if k not in arrays}
            return jax.jit(functools.partial(fn, **fixed))(**arrays)

        return compiled

    def settings(self) -> dict[str, str]:
        jax = self.lib
        return {
            "jax_enable_x64": str(jax.config.jax_enable_x64) + " (on only while checking float64)",
            "jax_default_matmul_precision": "highest (set while checking)",
        }

    @contextlib.contextmanager
    def context(self, dtype: str) -> Iterator[None]:
        jax = self.lib
        with jax.enable_x64(dtype == "float64"), jax.default_matmul_precision("highest"):
            yield


def _name(d: Any, i: int) -> str:
    """``"cpu"``, ``"cuda:<i>"`` for a GPU, ``"<platform>:<i>"`` otherwise (``i``: the
    device's place in ``jax.devices()``)."""
    if d.platform == "cpu":
        return "cpu"
    return f"cuda:{i}" if d.platform in ("gpu", "cuda") else f"{d.platform}:{i}"
