"""PyTorch's own lookups and initialisers, checked against the embedding and init specs.

Lookups are compared with the error model (bit-exact); initialisers draw from torch's own
generator, so they are checked statistically (Kolmogorov–Smirnov, seed printed).
"""

from __future__ import annotations

from typing import Any

from refpe.backends import to_host

from ..subjects import Subject, on_bad_input, register_subject
from ._convert import torch_float


def _torch() -> Any:
    import torch

    return torch


def _no_padding_idx(case: Any) -> str | None:
    return "take_along_dim has no padding_idx" if "padding_idx" in case.kwargs else None


_WRAPS = on_bad_input(
    "torch.take_along_dim wraps ids modulo V on the CPU (negative and too-large ids alike) "
    "instead of refusing them; torch.gather raises RuntimeError"
)


def _lookup_args(kw: dict[str, Any], dtype: str) -> tuple[Any, Any, Any]:
    ids = _torch().from_numpy(kw["ids"].copy())
    return ids, torch_float(kw["table"], dtype), kw.get("scale")


def _scaled(out: Any, scale: Any) -> Any:
    return to_host(out if scale is None else out * scale)


def _embedding(kw: dict[str, Any], dtype: str) -> Any:
    ids, table, scale = _lookup_args(kw, dtype)
    out = _torch().nn.functional.embedding(ids, table, padding_idx=kw.get("padding_idx"))
    if kw.get("padding_idx") is not None:
        out = out * (ids != kw["padding_idx"]).unsqueeze(-1).to(out.dtype)
    return _scaled(out, scale)


def _take_along_dim(kw: dict[str, Any], dtype: str) -> Any:
    torch = _torch()
    ids, table, scale = _lookup_args(kw, dtype)
    flat = ids.reshape(-1, 1).expand(-1, table.shape[1])
    out = torch.take_along_dim(table, flat, dim=0).reshape(*ids.shape, table.shape[1])
    return _scaled(out, scale)


def _generator(kw: dict[str, Any]) -> Any:
    return _torch().Generator().manual_seed(int(kw["seed"]))


def _empty(kw: dict[str, Any]) -> Any:
    return _torch().empty(tuple(kw["shape"]), dtype=_torch().float64)


def _normal(kw: dict[str, Any], dtype: str) -> Any:
    t = _torch().nn.init.normal_(_empty(kw), kw.get("mean", 0.0), kw["std"], _generator(kw))
    return to_host(t)


def _uniform(kw: dict[str, Any], dtype: str) -> Any:
    return to_host(_torch().nn.init.uniform_(_empty(kw), -kw["a"], kw["a"], _generator(kw)))


def _trunc_normal(absolute_defaults: bool):
    def call(kw: dict[str, Any], dtype: str) -> Any:
        mean, std = kw.get("mean", 0.0), kw["std"]
        bounds = {} if absolute_defaults else {"a": mean - 2 * std, "b": mean + 2 * std}
        init = _torch().nn.init.trunc_normal_
        return to_host(init(_empty(kw), mean, std, generator=_generator(kw), **bounds))

    return call


def _framework(kw: dict[str, Any], dtype: str) -> Any:
    torch = _torch()
    torch.manual_seed(int(kw["seed"]))
    out_features, in_features = kw["shape"]
    if kw["kind"] == "embedding":
        layer = torch.nn.Embedding(out_features, in_features)
    else:
        layer = torch.nn.Linear(in_features, out_features)
    return to_host(layer.weight.detach().double())


def _only_torch(case: Any) -> str | None:
    if case.kwargs.get("framework") != "torch":
        return f"{case.kwargs.get('framework')} defaults are not PyTorch's"
    return None


def _absolute_bounds(case: Any) -> str:
    return (
        "torch.nn.init.trunc_normal_'s a=-2, b=2 are absolute bounds, not multiples of std: "
        f"with std={case.kwargs['std']} they truncate almost nothing (pass a=-2*std, b=2*std)"
    )


FLOATS = ("float32", "float64")
register_subject(
    Subject(
        "torch.nn.functional.embedding",
        "token-lookup",
        "torch",
        _embedding,
        dtypes=("float64", "float32", "float16", "bfloat16"),
    ),
    Subject(
        "torch.take_along_dim",
        "token-lookup",
        "torch",
        _take_along_dim,
        dtypes=FLOATS,
        applies=_no_padding_idx,
        differs=_WRAPS,
    ),
    Subject(
        "torch.nn.init.normal_",
        "init-normal",
        "torch",
        _normal,
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "torch.nn.init.uniform_",
        "init-uniform",
        "torch",
        _uniform,
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "torch.nn.init.trunc_normal_ (a=-2*std, b=2*std)",
        "init-truncated-normal",
        "torch",
        _trunc_normal(False),
        dtypes=("float64",),
        kind="statistical",
    ),
    Subject(
        "torch.nn.init.trunc_normal_ (default a=-2, b=2)",
        "init-truncated-normal",
        "torch",
        _trunc_normal(True),
        dtypes=("float64",),
        kind="statistical",
        differs=_absolute_bounds,
    ),
    Subject(
        "torch.nn.Embedding / nn.Linear default init",
        "init-framework-defaults",
        "torch",
        _framework,
        dtypes=("float64",),
        kind="statistical",
        applies=_only_torch,
    ),
)
