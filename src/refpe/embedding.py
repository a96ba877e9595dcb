"""Token embeddings: the lookup ``W[ids]`` and its one-hot product form (静态编码 / 初始词向量)."""

from __future__ import annotations

from typing import Any

from ._compat import (
    device_of,
    integer_array,
    namespace,
    require_finite,
    require_int,
    require_range,
    require_real,
    take_rows,
    work_float,
)

__all__ = ["token_lookup", "token_one_hot"]


def _require_table(name: str, table: Any, xp: Any) -> None:
    if table.ndim != 2:
        raise ValueError(f"{name} must be 2-D (V, d), got shape {tuple(table.shape)}")
    if not xp.isdtype(table.dtype, "real floating"):
        raise TypeError(f"{name} must be a real floating array, got dtype {table.dtype}")


def _scaled(rows: Any, scale: float | None, xp: Any) -> Any:
    """``scale * rows`` in the device's widest float, rounded once to ``rows.dtype``."""
    if scale is None:
        return rows
    wide = work_float(xp, device_of(rows))
    return xp.astype(xp.astype(rows, wide) * require_real("scale", scale), rows.dtype)


def token_lookup(
    ids: Any, table: Any, *, scale: float | None = None, padding_idx: int | None = None
) -> Any:
    r"""Token embedding by row lookup.

    .. math::

        \mathrm{out}[s, :] = c \, W[\mathrm{ids}[s], :], \qquad W \in \mathbb{R}^{V \times d}

    with ``c = scale`` (1 when ``None``; the Transformer uses :math:`\sqrt d`). Output shape
    ``ids.shape + (d,)``.

    Source: seed 000 §3.1 steps 2–3 (map each index to its vector); seed 004 §1 (the
    embedding matrix ``[词汇表大小 × 嵌入维度]``); seed 003 §4.2.1; Vaswani et al. (2017) §3.4
    for the :math:`\sqrt d` factor.

    ``padding_idx``: every position whose id equals ``padding_idx`` (negative values count
    from the end, as in PyTorch) reads as a zero row, whatever the stored row holds. In
    PyTorch, ``nn.Embedding(padding_idx=...)`` zeroes that row *at initialisation* and
    keeps its gradient at zero, while ``F.embedding`` returns the stored row; the two
    agree as long as the stored row is still zero.

    Precision: the gather is bit-exact. With ``scale`` the product is formed in the
    device's widest float (float64 where it exists) and rounded once to ``table.dtype``.

    Errors: ids that are not integers (float, bool) raise ``TypeError``; ids outside
    ``[0, V)`` raise ``IndexError`` naming the value and its flat index (NumPy would wrap
    a negative id, JAX would clamp).
    """
    xp = namespace(ids=ids, table=table)
    ids = integer_array("ids", ids, xp)
    _require_table("table", table, xp)
    V = table.shape[0]
    require_range("ids", ids, 0, V, xp)
    out = take_rows(table, ids, xp)
    if padding_idx is not None:
        pad = _padding_index(padding_idx, V)
        out = xp.where(xp.expand_dims(ids == pad, axis=-1), xp.zeros_like(out), out)
    return _scaled(out, scale, xp)


def _padding_index(padding_idx: Any, V: int) -> int:
    try:
        pad = require_int("padding_idx", padding_idx)
    except TypeError:
        raise TypeError(f"padding_idx must be an integer, got {padding_idx!r}") from None
    if not -V <= pad < V:
        raise IndexError(f"padding_idx out of range: value {pad} is not in [{-V}, {V})")
    return pad % V


def token_one_hot(ids: Any, table: Any, *, scale: float | None = None) -> Any:
    r"""Token embedding as a one-hot matrix product, the "Word_Embedding = W·X" form.

    .. math::

        \mathrm{out}[s, :] = c\, \mathrm{onehot}(\mathrm{ids}[s], V)\, W

    Mathematically identical to :func:`token_lookup`; it exists because a backend's matrix
    product (TF32, reduced-precision defaults) can break that identity, and the conformance
    suite must see it.

    Source: seed 003 §4.2.1 (``Word_Embedding = W · X``, X the input word's representation).

    Precision: the one-hot matrix is exact; each output element is one product
    ``1 · w`` plus zeros ``0 · w'``, so in exact float arithmetic the result equals the
    lookup bit for bit (a stored ``-0.0`` comes out as ``+0.0``). ``scale`` is applied as in
    :func:`token_lookup`.

    A NaN or infinity anywhere in ``table`` would turn every output element of its column
    into NaN (``0 · inf = NaN``, ``0 · NaN = NaN``), which is not the lookup any more:
    ``table`` must be finite, else ``ValueError`` naming it. Errors for ids as in
    :func:`token_lookup`.
    """
    xp = namespace(ids=ids, table=table)
    ids = integer_array("ids", ids, xp)
    _require_table("table", table, xp)
    require_finite("table", table, xp)
    V = table.shape[0]
    require_range("ids", ids, 0, V, xp)
    vocab = xp.arange(V, dtype=ids.dtype, device=device_of(ids))
    onehot = xp.astype(xp.expand_dims(ids, axis=-1) == vocab, table.dtype)
    return _scaled(onehot @ table, scale, xp)
