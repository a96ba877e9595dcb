r"""The ``embedding-grad`` kernels: sorted float64 segment sums (NumPy), ATen's
``embedding_dense_backward`` (PyTorch; on the CPU its sums balanced over threads by
:mod:`refpe.kernels.grad_fused` where Numba is importable, bit for bit the same).

Source: seed 004 §5; PyTorch ``embedding_backward``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refpe._compat import MAX_LENGTH

from . import grad_fused
from ._common import check_ids, torch_in_range

__all__ = ["GATHER_ELEMENTS", "SHORT", "embedding_grad", "embedding_grad_torch"]

SHORT = 64
#: Elements gathered at a time into one reused buffer (it stays in cache; no fresh pages).
GATHER_ELEMENTS = 2**17


def _segment_sums(ids: np.ndarray, g: np.ndarray, out: np.ndarray, mean: bool) -> None:
    """``out[v]`` = the float64 sum (``mean``: the mean) of the rows of ``g`` with id ``v``,
    rounded once to ``out.dtype``. Rows are visited in id order; every reduction runs over
    contiguous rows."""
    order = np.argsort(ids, kind="stable")
    sid = ids[order]
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]]) if ids.size else np.zeros(0, int)
    counts = np.diff(np.r_[starts, ids.size])
    seg = sid[starts]
    single = counts == 1
    out[seg[single]] = g[order[starts[single]]]
    d = g.shape[1]
    R = max(SHORT, GATHER_ELEMENTS // max(d, 1))
    buf = np.empty((R, d), dtype=g.dtype)
    for L in np.unique(counts[(counts > 1) & (counts <= SHORT)]):
        which = np.flatnonzero(counts == L)
        step = R // int(L)
        for k in range(0, which.size, step):
            w = which[k : k + step]
            rows = buf[: w.size * L]
            np.take(g, order[starts[w][:, None] + np.arange(L)].reshape(-1), axis=0, out=rows)
            total = np.add.reduce(rows.reshape(w.size, L, d), axis=1, dtype=float)
            out[seg[w]] = total / L if mean else total
    part = np.empty(d)
    for j in np.flatnonzero(counts > SHORT):
        a, b = starts[j], starts[j] + counts[j]
        total = np.zeros(d)
        for c in range(a, b, R):
            rows = buf[: min(b, c + R) - c]
            np.take(g, order[c : c + rows.shape[0]], axis=0, out=rows)
            total += np.add.reduce(rows, axis=0, dtype=float, out=part)
        out[seg[j]] = total / counts[j] if mean else total


def embedding_grad(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for NumPy: sorted segment sums instead of ``np.add.at``.

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    The ids are sorted (stably); an id seen once copies its row; ids seen ``L <= 64``
    times are summed together, all segments of one length at once (a gather to
    ``(segments, L, d)`` and a float64 reduction over the middle axis); longer segments
    are reduced one by one in chunks of contiguous rows. ``scale_grad_by_freq``,
    ``padding_idx`` and ``frozen`` as the reference.

    Source: seed 004 §5; PyTorch ``embedding_backward``.

    Precision: every sum is accumulated in float64 and rounded once to ``grad_out.dtype``
    (float32: within :math:`\epsilon/2` of the exact sum plus :math:`n\,2^{-53}\sum|g|`,
    inside the spec's :math:`2\epsilon\sum|g|`).
    """

    frozen_arr = None if frozen is None or isinstance(frozen, bool) else frozen
    arrays = (ids, grad_out) if frozen_arr is None else (ids, grad_out, frozen_arr)
    if not all(isinstance(a, np.ndarray) for a in arrays) or ids.dtype.kind not in "iu":
        return NotImplemented
    if grad_out.dtype.kind != "f" or grad_out.shape[:-1] != ids.shape or grad_out.ndim < 1:
        return NotImplemented
    if not isinstance(num_embeddings, int) or isinstance(num_embeddings, bool):
        return NotImplemented  # the reference refuses True as a size, naming it
    if not 0 < num_embeddings <= MAX_LENGTH or frozen is True:
        return NotImplemented
    if frozen_arr is not None and (
        frozen_arr.dtype != bool or frozen_arr.shape != (num_embeddings,)
    ):
        return NotImplemented
    n = num_embeddings
    if padding_idx is not None and not (
        isinstance(padding_idx, int) and not isinstance(padding_idx, bool) and -n <= padding_idx < n
    ):
        return NotImplemented
    check_ids("ids", ids, n)
    flat = ids.reshape(-1)
    g = grad_out.reshape(flat.size, grad_out.shape[-1])
    out = np.zeros((n, g.shape[1]), dtype=grad_out.dtype)
    _segment_sums(flat, g, out, bool(scale_grad_by_freq))
    if padding_idx is not None:
        out[padding_idx % n] = 0
    if frozen_arr is not None:
        out[frozen_arr] = 0
    return out


def embedding_grad_torch(
    ids: Any,
    grad_out: Any,
    num_embeddings: int,
    *,
    padding_idx: int | None = None,
    scale_grad_by_freq: bool = False,
    frozen: Any = None,
) -> Any:
    r""":func:`refpe.embedding_grad` for PyTorch: ATen's ``embedding_dense_backward`` (the
    backward of ``F.embedding``, parallel over rows of the result) after one range check; on
    the CPU without ``scale_grad_by_freq``, the same sums by :mod:`~refpe.kernels.grad_fused`
    where Numba is importable (columns split between threads, not rows by range).

    .. math::

        \frac{\partial L}{\partial W_v} = \sum_{s:\ \mathrm{ids}_s = v}
            \frac{\partial L}{\partial \mathrm{out}_s}

    ``padding_idx`` and ``scale_grad_by_freq`` are ATen's own (the same definitions);
    ``frozen`` rows are zeroed after. Tensors requiring grad, other dtypes and bad input go
    to the reference.

    Source: seed 004 §5; PyTorch ``embedding_dense_backward``.

    Precision: each row is summed in ``grad_out.dtype`` in the order of ``ids``: within
    :math:`(n_v - 1)\,u \sum|g|` (:math:`u = \epsilon/2`) always, inside the spec's
    :math:`2\epsilon\sqrt{n_v}\sum|g|` for :math:`n_v \le 65`; for longer sums inside it
    with the probability of the spec's model (Higham & Mary 2019: rounding errors of random
    sign). :func:`embedding_grad` sums in float64 instead.
    """
    frozen_arr = None if frozen is None or isinstance(frozen, bool) else frozen
    tensors = [t for t in (ids, grad_out, frozen_arr) if t is not None]
    import torch

    fast = (
        all(isinstance(t, torch.Tensor) for t in tensors)
        and len({t.device for t in tensors}) == 1
        and ids.dtype in (torch.int64, torch.int32)
        and grad_out.dtype in (torch.float32, torch.float64)
        and not grad_out.requires_grad
        and grad_out.ndim >= 1
        and tuple(grad_out.shape[:-1]) == tuple(ids.shape)
        and isinstance(num_embeddings, int)
        and not isinstance(num_embeddings, bool)
        and 0 < num_embeddings <= MAX_LENGTH
        and frozen is not True
        and (frozen_arr is None or (frozen_arr.dtype == torch.bool
                                    and tuple(frozen_arr.shape) == (num_embeddings,)))
        and (padding_idx is None or (isinstance(padding_idx, int)
                                     and -num_embeddings <= padding_idx < num_embeddings))
    )  # fmt: skip
    if not fast:
        return NotImplemented
    flat = ids.reshape(-1)
    if not torch_in_range(flat, num_embeddings):
        return NotImplemented  # the reference names the id
    g = grad_out.reshape(flat.numel(), grad_out.shape[-1])
    pad = -1 if padding_idx is None else padding_idx % num_embeddings
    if g.device.type == "cpu" and not scale_grad_by_freq and grad_fused.available():
        out = torch.zeros((num_embeddings, g.shape[1]), dtype=g.dtype)  # ATen's values
        grad_fused.embedding_grad_fused(flat.contiguous().numpy(), g.contiguous().numpy(), pad,
                                        out.numpy())  # fmt: skip
    else:
        out = torch.ops.aten.embedding_dense_backward(
            g, flat, num_embeddings, pad, bool(scale_grad_by_freq)
        )
    if frozen_arr is not None:
        out[frozen_arr] = 0
    return out
