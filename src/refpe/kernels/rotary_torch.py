r"""The ``rope`` kernel for PyTorch tensors.

CPU tensors run the NumPy kernel (:func:`refpe.kernels.rotary.rope`) on their memory, without
a copy (PyTorch's own elementwise operations were measured slower here); other devices the
same form in PyTorch. Source: Su et al. (2021), RoFormer eq. (34).
"""

from __future__ import annotations

from typing import Any

from refpe.rotary import rope as rope_reference

from .rotary import rope_fast_args, rope_into, rope_tables

__all__ = ["rope_torch"]

#: Tests set this to run PyTorch CPU tensors through the device (non-NumPy) rope path.
_ON_DEVICE_PATH = False


def rope_torch(
    x: Any,
    positions: Any,
    *,
    base: float = 10000.0,
    layout: str = "half",
    rotary_dim: int | None = None,
    scaling: dict | None = None,
    out: Any = None,
) -> Any:
    r""":func:`refpe.rope` for PyTorch tensors; ``out=x`` rotates ``x`` in place.

    .. math::

        y = x \odot C + \mathrm{swap}(x_{:r}) \odot S,\quad S = [-\sin\phi, \sin\phi]

    (half layout, tables as in :func:`refpe.kernels.rotary._rope_half_block`). CPU tensors
    run the NumPy kernel on their memory, without a copy. Other devices: the same form on
    blocks of leading indices (``flip`` for the swap); interleaved layout:
    ``view_as_complex(x) *`` the complex table. Tensors that require grad go to the
    reference, which keeps the autograd graph; with ``out=``, a call the kernel declines is
    answered by the reference written into ``out``.

    Source: Su et al. (2021), RoFormer eq. (34).

    Precision: as :func:`refpe.kernels.rotary.rope` (float32/float64 rotation in
    ``x.dtype``, tables from float64).
    """
    import torch

    def ref(xx: Any, pos: Any) -> Any:
        return rope_reference(xx, pos, base=base, layout=layout, rotary_dim=rotary_dim,
                              scaling=scaling)  # fmt: skip

    tensors = isinstance(x, torch.Tensor) and isinstance(positions, (int, torch.Tensor))
    if isinstance(positions, torch.Tensor) and positions.dtype not in (torch.int64, torch.int32):
        tensors = False  # PyTorch has no min/max for uint16/32/64: the reference converts them
    if not tensors or x.dtype not in (torch.float32, torch.float64) or x.ndim < 2:
        return _into(ref, x, positions, out)
    fast = rope_fast_args(x, positions, rotary_dim, layout, scaling) if x.numel() else None
    if fast is None:
        return _into(ref, x, positions, out)
    n, r = fast
    host = rope_tables(x, positions, n, r, base, scaling, layout)
    options = (base, rotary_dim, scaling)
    if x.requires_grad:
        return _into(ref, x, positions, out)  # the reference keeps the autograd graph
    if x.device.type == "cpu" and not _ON_DEVICE_PATH:
        src = x if x.is_contiguous() else x.contiguous()
        dest = torch.empty_like(src) if out is None else out
        if not dest.is_contiguous():  # computed apart, then copied into the strided buffer
            return dest.copy_(rope_torch(x, positions, base=base, layout=layout,
                                         rotary_dim=rotary_dim, scaling=scaling))  # fmt: skip
        pos = positions if isinstance(positions, int) else positions.numpy()
        rope_into(src.numpy(), dest.numpy(), host, pos, layout, r, options)
        return dest
    tables = [torch.from_numpy(t).to(x.device) for t in host]
    T, D = x.shape[-2:]
    xs = x.reshape(-1, T, D)
    dest = torch.empty_like(xs) if out is None else out.view(-1, T, D)
    k = max(1, (1 << 22) // (T * D))
    h = r // 2
    for i in range(0, xs.shape[0], k):
        xb, ob = xs[i : i + k], dest[i : i + k]
        if out is x:
            xb = xb.clone()
        if layout == "interleaved":
            pairs = (*xb.shape[:-1], D // 2, 2)
            zo = torch.view_as_complex(ob.view(pairs))
            torch.mul(torch.view_as_complex(xb.reshape(pairs)), tables[0], out=zo)
            if r < D and bool(torch.isnan(ob).any()):  # as in the NumPy kernel: the reference
                pos = torch.arange(T, device=x.device) if isinstance(positions, int) else positions
                ob.copy_(ref(xb, pos))
        else:
            C, S = tables
            torch.mul(xb, C, out=ob)
            swapped = xb[..., :r].unflatten(-1, (2, h)).flip(-2).flatten(-2)
            ob[..., :r] += swapped * S
    return dest.view(x.shape) if out is None else out


def _into(ref: Any, x: Any, positions: Any, out: Any) -> Any:
    """A declined call: ``NotImplemented`` (the reference answers), or with ``out=`` the
    reference's result written into ``out``."""
    if out is None:
        return NotImplemented
    out.copy_(ref(x, positions))
    return out
