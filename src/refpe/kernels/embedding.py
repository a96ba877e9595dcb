r"""The ``token-lookup`` and ``input-add`` kernels: one gather, the range checked once.

================  ==========================================================================
spec              kernel
================  ==========================================================================
token-lookup      NumPy ``take`` / PyTorch ``F.embedding`` with the id range checked once
input-add         the same gather into the output, scaled and summed in place (float32);
                  one pass where Numba is importable (:mod:`refpe.kernels.embedding_fused`)
================  ==========================================================================

Source: seed 000 §3.1-3.2; seed 003 §4.1; seed 004 §1, §3.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import embedding_fused
from ._common import check_ids, finite_scale, torch_in_range

__all__ = ["input_add", "input_add_torch", "token_lookup", "token_lookup_torch"]


def token_lookup(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for NumPy: ``np.take`` with the range checked once.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    Source: seed 000 §3.1; seed 004 §1. Precision: the gather is bit-exact; ``scale`` is
    applied in ``table.dtype`` (``scale`` rounded to it, then one rounded product: within
    the spec's one-ulp bound, which allows both roundings).
    """

    if not (isinstance(ids, np.ndarray) and isinstance(table, np.ndarray)):
        return NotImplemented  # a list of ids: the reference converts or refuses it
    if ids.dtype.kind not in "iu" or table.ndim != 2:
        return NotImplemented
    if table.dtype.kind != "f" or padding_idx is not None or not finite_scale(scale, None):
        return NotImplemented
    check_ids("ids", ids, table.shape[0])
    out = np.take(table, ids.reshape(-1), axis=0, mode="clip").reshape(*ids.shape, table.shape[1])
    if scale is not None:
        np.multiply(out, scale, out=out)
    return out


def token_lookup_torch(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r""":func:`refpe.token_lookup` for PyTorch: ``F.embedding`` with the range checked once.

    .. math::

        \mathrm{out}[s, :] = c\,W[\mathrm{ids}[s], :]

    Source: seed 000 §3.1; seed 004 §1. Precision: as :func:`token_lookup`.
    """
    import torch

    if not (isinstance(ids, torch.Tensor) and isinstance(table, torch.Tensor)):
        return NotImplemented  # a list of ids: the reference converts or refuses it

    if ids.dtype not in (torch.int64, torch.int32):
        return NotImplemented
    if not table.dtype.is_floating_point or table.ndim != 2 or padding_idx is not None:
        return NotImplemented
    if not finite_scale(scale, None):
        return NotImplemented
    if not torch_in_range(ids, table.shape[0]):
        return NotImplemented  # the reference names the id
    out = torch.nn.functional.embedding(ids.reshape(-1), table)
    out = out.reshape(*ids.shape, table.shape[1])
    return out.mul_(scale) if scale is not None else out


def input_add(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for NumPy: one gather into the output, then in-place updates.

    .. math::

        x[s, t] = c\,E[\mathrm{ids}[s, t]] + PE[\mathrm{pos}[s, t]]

    Default positions ``start + arange(T)`` read a contiguous slice of ``pe_table`` that is
    broadcast, not gathered. Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3.

    Precision: in ``table.dtype``: ``c`` rounded, the product rounded, the sum rounded
    (within :math:`1.5\,\epsilon\,(|cE| + |PE|)`, the spec's float32 bound); float64
    tables go to the reference, which rounds once. Default positions and a Python
    ``scale`` go through the one-pass kernel where Numba is importable (the same values).
    """

    fast = (
        all(isinstance(a, np.ndarray) for a in (ids, table, pe_table))
        and (positions is None or isinstance(positions, np.ndarray))
        and combine == "add"
        and ids.dtype.kind in "iu"
        and ids.ndim >= 1
        and table.dtype == np.float32
        and pe_table.dtype == table.dtype
        and table.ndim == pe_table.ndim == 2
        and table.shape[1] == pe_table.shape[1]
        and finite_scale(scale)
    )
    if not fast:
        return NotImplemented
    check_ids("ids", ids, table.shape[0])
    T = ids.shape[-1]
    if positions is None:
        s = operator.index(start)
        if s < 0 or s + T > pe_table.shape[0]:
            return NotImplemented
        where = pe_table[s : s + T]
    else:
        if positions.dtype.kind not in "iu":
            return NotImplemented
        try:
            pos = np.broadcast_to(positions, ids.shape)
        except ValueError:
            return NotImplemented
        check_ids("positions", pos, pe_table.shape[0], " of pe_table")
        where = np.take(pe_table, pos, axis=0, mode="clip")
    if positions is None and _fused(scale):  # one pass, the same values
        return embedding_fused.input_add_fused(ids, table, where, scale)
    out = np.take(table, ids.reshape(-1), axis=0, mode="clip").reshape(*ids.shape, table.shape[1])
    if scale != 1:
        np.multiply(out, scale, out=out)
    out += where
    return out


def input_add_torch(
    ids: Any,
    table: Any,
    pe_table: Any,
    *,
    positions: Any = None,
    scale: float = 1.0,
    combine: str = "add",
    start: int = 0,
) -> Any:
    r""":func:`refpe.input_add` for PyTorch float32: one ``F.embedding``, then the scale and
    the positional rows added in place.

    .. math::

        x[s, t] = c\,E[\mathrm{ids}[s, t]] + PE[\mathrm{start} + t]

    Default positions only (a contiguous slice of ``pe_table``, broadcast); tensors on one
    device, not requiring grad. Source: seed 000 §3.2; seed 003 §4.1; seed 004 §3.

    Precision: as :func:`input_add` (three roundings in float32). CPU tensors go through
    the one-pass kernel where Numba is importable (the same values).
    """
    import torch

    fast = (
        all(isinstance(a, torch.Tensor) for a in (ids, table, pe_table))
        and positions is None
        and combine == "add"
        and ids.dtype in (torch.int64, torch.int32)
        and ids.ndim >= 1
        and table.dtype == pe_table.dtype == torch.float32
        and table.ndim == pe_table.ndim == 2
        and table.shape[1] == pe_table.shape[1]
        and ids.device == table.device == pe_table.device
        and not (table.requires_grad or pe_table.requires_grad)
        and finite_scale(scale)
        and isinstance(start, int)
        and not isinstance(start, bool)
    )
    if not fast or start < 0 or start + ids.shape[-1] > pe_table.shape[0]:
        return NotImplemented
    T = ids.shape[-1]
    if not torch_in_range(ids, table.shape[0]):
        return NotImplemented  # the reference names the id
    if ids.device.type == "cpu" and _fused(scale):  # one pass, the same values
        host = (a.numpy() for a in (ids, table, pe_table[start : start + T]))
        return torch.from_numpy(embedding_fused.input_add_fused(*host, scale))
    out = torch.nn.functional.embedding(ids, table)
    if scale != 1:
        out.mul_(scale)
    return out.add_(pe_table[start : start + T])


def _fused(scale: Any) -> bool:
    """Whether the one-pass kernel gives the three-pass values: a Python scale (NumPy and
    PyTorch multiply float32 by it in float32; a NumPy float64 scalar makes NumPy multiply
    in float64) and Numba importable."""
    return type(scale) in (int, float) and embedding_fused.available()
