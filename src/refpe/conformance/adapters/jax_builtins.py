"""JAX's own gather and initialisers, checked against the embedding and init specs.

``jnp.take`` is compared with the error model (bit-exact); ``jax.nn.initializers`` draw from
JAX's own generator, so they are checked statistically (Kolmogorov–Smirnov, seed printed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refpe.backends import to_host
from refpe.registry import FLOAT_DTYPES

from ..subjects import Subject, on_bad_input, register_subject


def _take(kw: dict[str, Any], dtype: str) -> Any:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(dtype == "float64"):
        table = jnp.asarray(np.asarray(kw["table"], dtype=np.float64), dtype=dtype)
        out = jnp.take(table, jnp.asarray(kw["ids"]), axis=0)
        if kw.get("padding_idx") is not None:
            out = jnp.where((jnp.asarray(kw["ids"]) == kw["padding_idx"])[..., None], 0, out)
        if kw.get("scale") is not None:
            out = out * kw["scale"]
        return to_host(out)


_FILLS_NAN = on_bad_input(
    "jnp.take's default mode='fill' wraps negative ids and returns NaN rows for ids >= V "
    "instead of refusing them (jax.numpy gathers cannot raise on data)"
)


def _draw(make: Any):
    def call(kw: dict[str, Any], dtype: str) -> Any:
        import jax

        with jax.enable_x64(True):
            key = jax.random.key(int(kw["seed"]))
            return np.asarray(make(jax, kw)(key, tuple(kw["shape"]), jax.numpy.float64))

    return call


def _normal(jax: Any, kw: dict[str, Any]) -> Any:
    init = jax.nn.initializers.normal(kw["std"])
    return lambda key, shape, dtype: init(key, shape, dtype) + kw.get("mean", 0.0)


def _uniform(jax: Any, kw: dict[str, Any]) -> Any:
    a = kw["a"]
    return lambda key, shape, dtype: jax.random.uniform(key, shape, dtype, -a, a)


def _truncated(jax: Any, kw: dict[str, Any]) -> Any:
    init = jax.nn.initializers.truncated_normal(kw["std"])
    return lambda key, shape, dtype: init(key, shape, dtype) + kw.get("mean", 0.0)


def _glorot(jax: Any, kw: dict[str, Any]) -> Any:
    return jax.nn.initializers.glorot_uniform()


def _keras_linear_only(case: Any) -> str | None:
    if (case.kwargs.get("framework"), case.kwargs.get("kind")) != ("keras", "linear"):
        return "jax.nn.initializers.glorot_uniform is Keras' Dense default only"
    return None


register_subject(
    Subject("jnp.take", "token-lookup", "jax", _take, dtypes=FLOAT_DTYPES, differs=_FILLS_NAN),
    Subject(
        "jax.nn.initializers.normal",
        "init-normal",
        "jax",
        _draw(_normal),
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "jax.random.uniform (minval=-a, maxval=a)",
        "init-uniform",
        "jax",
        _draw(_uniform),
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "jax.nn.initializers.truncated_normal",
        "init-truncated-normal",
        "jax",
        _draw(_truncated),
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "jax.nn.initializers.glorot_uniform (Keras Dense default)",
        "init-framework-defaults",
        "jax",
        _draw(_glorot),
        dtypes=("float64",),
        kind="statistical",
        applies=_keras_linear_only,
    ),
)
