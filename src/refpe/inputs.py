"""The input layer: token embeddings and positional encodings put together (输入层)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._compat import (
    device_of,
    from_host,
    integer_array,
    namespace,
    require_choice,
    require_float,
    require_int,
    require_range,
    require_real,
    take_rows,
    work_float,
)
from .init import _require_seed
from .norm import layer_norm

__all__ = ["input_add", "input_bert"]


def _require_table(name: str, table: Any) -> None:
    if table.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, d), got shape {tuple(table.shape)}")


def _positions(ids: Any, positions: Any, start: int, xp: Any) -> Any:
    """``start + arange(T)`` for ids of shape ``(..., T)``, or the given positions broadcast."""
    if positions is None:
        if ids.ndim == 0:
            raise ValueError("ids must have a sequence axis (..., T) when positions is None")
        T = ids.shape[-1]
        first = require_int("start", start)
        # the default integer dtype: ids of int8 would wrap past position 127
        positions = xp.arange(first, first + T, device=device_of(ids))
    positions = integer_array("positions", positions, xp)
    try:
        return xp.broadcast_to(positions, tuple(ids.shape))
    except (ValueError, RuntimeError, TypeError):
        raise ValueError(
            f"positions of shape {tuple(positions.shape)} do not broadcast to ids of shape "
            f"{tuple(ids.shape)}"
        ) from None


def _rows(name: str, ids: Any, table: Any, xp: Any, what: str = "") -> Any:
    _require_table(name, table)
    require_range(name, ids, 0, table.shape[0], xp, what)
    return take_rows(table, ids, xp)


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
    r"""Token embedding plus positional encoding, the Transformer's input.

    .. math::

        x[s, t] = c\, E[\mathrm{ids}[s, t]] + PE[\mathrm{pos}[s, t]]

    with ``c = scale`` (Transformer: :math:`\sqrt d`) and ``pos`` by default
    ``start + arange(T)`` for ``ids`` of shape ``(..., T)``. ``positions`` may be given as
    any integer array that broadcasts to ``ids`` (per-row positions: left padding, cached
    decoding). ``pe_table`` is any table of encodings, ``(L, d)``: a :func:`pe_learned`
    table, :func:`pe_sinusoidal` of ``L`` positions, a :func:`pe_dual_linear` product, ...
    ``combine="concat"`` concatenates along the feature axis instead,
    :math:`x = [c\,E[\mathrm{ids}],\ PE[\mathrm{pos}]]` (width :math:`d_E + d_{PE}`).

    Source: seed 000 §3.2, §4.2 (:math:`v_{seq}[i] = v_{word} + p_i`); seed 003 §4.1
    (``Vector = Word_Embedding + Positional_Encoding``); seed 004 §3; seed 001 §5.2
    (``x + pe[:, :T]``).

    Seed erratum (seed 000 §4, project code): ``tf.concat([initial_embeddings,
    position_encoding], axis=0)`` stacks the ``(V, d)`` vocabulary table on the ``(n, d)``
    position table, giving ``(V + n, d)``; it neither looks up tokens nor adds. refpe adds
    per token as the seed's formula says; feature-axis concatenation is the explicit
    ``combine="concat"``.

    Precision: the product and the sum are formed in the device's widest float and
    rounded once to ``table.dtype``. Errors: ids or positions outside their tables raise
    ``IndexError``; widths that differ (``add``) or positions that do not broadcast raise
    ``ValueError`` naming the shapes.
    """
    xp = namespace(ids=ids, table=table, pe_table=pe_table, positions=positions)
    combine = require_choice("combine", combine, ("add", "concat"))
    require_real("scale", scale)
    ids = integer_array("ids", ids, xp)
    _require_table("table", table)
    _require_table("pe_table", pe_table)
    require_float(xp, table=table, pe_table=pe_table)
    if combine == "add" and table.shape[1] != pe_table.shape[1]:
        raise ValueError(
            f"table of shape {tuple(table.shape)} and pe_table of shape "
            f"{tuple(pe_table.shape)} have different widths; combine='add' needs equal widths"
        )
    pos = _positions(ids, positions, start, xp)
    wide = work_float(xp, device_of(table))
    word = scale * xp.astype(_rows("ids", ids, table, xp), wide)
    where = xp.astype(_rows("positions", pos, pe_table, xp, " of pe_table"), wide)
    x = word + where if combine == "add" else xp.concat([word, where], axis=-1)
    return xp.astype(x, table.dtype)


def input_bert(
    ids: Any,
    word: Any,
    position: Any,
    token_type: Any,
    gamma: Any,
    beta: Any,
    *,
    token_type_ids: Any = None,
    positions: Any = None,
    eps: float = 1e-12,
    dropout: float = 0.0,
    training: bool = False,
    seed: int | None = None,
) -> Any:
    r"""BERT's embedding layer: the sum of three lookups, layer-normalised, then dropout.

    .. math::

        x = \mathrm{LayerNorm}_{\gamma,\beta,\varepsilon}\big(W_{word}[\mathrm{ids}]
            + W_{pos}[\mathrm{pos}] + W_{type}[\mathrm{tt}]\big), \qquad
        y = \mathrm{dropout}_{q}(x)

    ``pos`` defaults to ``arange(T)`` (any integer array broadcasting to ``ids`` may be
    given), ``tt`` (``token_type_ids``) to zeros, :math:`\varepsilon` to BERT's ``1e-12``.
    Dropout is the identity unless ``training`` and ``dropout`` :math:`q > 0`; then each
    element is kept with probability :math:`1 - q` and scaled by :math:`1/(1-q)`, the mask
    drawn on the host from ``numpy.random.default_rng(seed)`` (``seed`` required).

    Source: beyond the seeds: BERT (Devlin et al. 2019) ``BertEmbeddings``, the model the
    seeds name (seed 001 §5.2, seed 003 §1); layer norm as :func:`refpe.layer_norm`.

    Precision: the sum, the normalisation and the dropout scaling are done in the device's
    widest float and rounded once to ``word.dtype``.
    """
    xp = namespace(
        ids=ids, word=word, position=position, token_type=token_type, gamma=gamma, beta=beta,
        token_type_ids=token_type_ids, positions=positions,
    )  # fmt: skip
    ids = integer_array("ids", ids, xp)
    for name, t in (("word", word), ("position", position), ("token_type", token_type)):
        _require_table(name, t)
    require_float(xp, word=word, position=position, token_type=token_type, gamma=gamma, beta=beta)
    d = word.shape[1]
    for name, t in (("position", position), ("token_type", token_type)):
        if t.shape[1] != d:
            raise ValueError(
                f"{name} of shape {tuple(t.shape)} and word of shape {tuple(word.shape)} "
                "have different widths"
            )
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    pos = _positions(ids, positions, 0, xp)
    if token_type_ids is None:
        token_type_ids = xp.zeros_like(ids)
    token_type_ids = integer_array("token_type_ids", token_type_ids, xp)
    wide = work_float(xp, device_of(word))
    x = (
        xp.astype(_rows("ids", ids, word, xp), wide)
        + xp.astype(_rows("positions", pos, position, xp, " of the position table"), wide)
        + xp.astype(_rows("token_type_ids", token_type_ids, token_type, xp), wide)
    )
    y = layer_norm(x, xp.astype(gamma, wide), xp.astype(beta, wide), eps=eps)
    if training and dropout > 0:
        keep = np.random.default_rng(_require_seed(seed)).random(tuple(y.shape)) >= dropout
        y = y * from_host(keep / (1.0 - dropout), xp, wide, device_of(word))
    return xp.astype(y, word.dtype)
