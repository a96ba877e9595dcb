"""Registry entries of :mod:`refpe.grad`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..grad import embedding_grad
from ..registry import Case, ErrorModel, Spec, register
from ._cases import TINY, normal


def _grad_scale(inputs: dict, exact: Any, dtype: str) -> np.ndarray:
    r"""Per row :math:`\sqrt{n_v} \sum |g_s|` over the :math:`n_v` gradients that land there
    (divided by :math:`n_v` when scaled), the probabilistic bound of a sum of :math:`n_v` terms
    (Higham & Mary 2019); the smallest positive float for padding, frozen and absent rows,
    which must be exactly 0."""
    ids = np.asarray(inputs["ids"]).reshape(-1)
    g = np.abs(np.asarray(inputs["grad_out"], dtype=np.float64))
    g = g.reshape(ids.size, g.shape[-1])
    n = inputs["num_embeddings"]
    total = np.zeros((n, g.shape[1]))
    np.add.at(total, ids, g)
    count = np.maximum(np.bincount(ids, minlength=n), 1)[:, None]
    total = total * np.sqrt(count)
    if inputs.get("scale_grad_by_freq", False):
        total = total / count
    frozen = inputs.get("frozen")
    zero = np.full(n, bool(frozen)) if frozen is None or isinstance(frozen, bool) else frozen
    if inputs.get("padding_idx") is not None:
        zero = zero | (np.arange(n) == inputs["padding_idx"] % n)
    return np.maximum(np.where(zero[:, None], 0.0, total), TINY)


_DUP = np.array([[1, 3, 1, 0], [3, 3, 5, 1]])
_CASES = (
    Case("b2-t4-duplicates", {"ids": _DUP, "grad_out": normal(1, 2, 4, 3), "num_embeddings": 7}),
    Case(
        "padding-idx",
        {"ids": _DUP, "grad_out": normal(2, 2, 4, 3), "num_embeddings": 7, "padding_idx": 3},
    ),
    Case(
        "scale-grad-by-freq",
        {
            "ids": _DUP,
            "grad_out": normal(3, 2, 4, 3),
            "num_embeddings": 7,
            "scale_grad_by_freq": True,
        },
    ),
    Case(
        "negative-padding-idx",
        {
            "ids": np.array([0, 6, 6, 2]),
            "grad_out": normal(4, 4, 2),
            "num_embeddings": 7,
            "padding_idx": -1,
        },
        edge=True,
        note="padding_idx=-1 is row 6, as in PyTorch",
    ),
    Case(
        "frozen-table",
        {"ids": _DUP, "grad_out": normal(5, 2, 4, 3), "num_embeddings": 7, "frozen": True},
        edge=True,
        note="冻结: the whole table gets no gradient",
    ),
    Case(
        "frozen-rows",
        {
            "ids": _DUP,
            "grad_out": normal(6, 2, 4, 3),
            "num_embeddings": 7,
            "frozen": np.array([False, True, False, False, False, True, False]),
        },
        edge=True,
        note="rows 1 and 5 frozen (e.g. pretrained vectors), the rest fine-tuned",
    ),
    Case(
        "all-one-id",
        {"ids": np.zeros(6, dtype=np.int64), "grad_out": normal(7, 6, 4), "num_embeddings": 2},
        edge=True,
        note="six gradients accumulate into row 0",
    ),
    Case(
        "id-out-of-range",
        {"ids": np.array([0, 7]), "grad_out": normal(8, 2, 3), "num_embeddings": 7},
        edge=True,
        raises=IndexError,
    ),
    Case(
        "padding-idx-out-of-range",
        {
            "ids": np.array([0, 1]),
            "grad_out": normal(9, 2, 3),
            "num_embeddings": 7,
            "padding_idx": 7,
        },
        edge=True,
        raises=IndexError,
    ),
)

register(
    Spec(
        id="embedding-grad",
        title="Embedding gradient (scatter-add), freezing and the SGD step",
        latex=(
            r"\frac{\partial L}{\partial W_v} = \sum_{s:\,\mathrm{ids}_s = v}"
            r" \frac{\partial L}{\partial \mathrm{out}_s},\quad W \leftarrow W - \eta\,dW"
        ),
        sources=("seed 004 §5", "seed 004 §2 (冻结 / 微调)", "PyTorch F.embedding backward"),
        function=embedding_grad,
        domain={
            "ids": "int S, in [0, num_embeddings)",
            "grad_out": "float S + (d,)",
            "num_embeddings": "int > 0",
            "padding_idx": "int in [-V, V) or None",
            "scale_grad_by_freq": "bool: divide row v by its count in the batch",
            "frozen": "True / False / None / bool (V,) row mask (True = frozen)",
        },
        cases=_CASES,
        invariants=(
            "duplicated ids accumulate (the gradient of row v sums every occurrence)",
            "equals the autodiff gradient of sum(token_lookup(ids, W) * grad_out) (PyTorch, JAX)",
            "rows that do not occur, padding_idx and frozen rows are exactly 0",
            "sum over rows of dW equals the sum of grad_out (without padding, freezing, scaling)",
        ),
        terms=("反向传播", "嵌入层", "冻结", "微调", "梯度"),
        section="1",
        explanation=(
            "Training moves each token's vector by the sum of the gradients of every place it "
            "was used; padding and frozen rows do not move."
        ),
        float_args=("grad_out",),
        error=ErrorModel(
            K={"float64": 2.0, "float32": 2.0},
            scale=_grad_scale,
            text="per row: sqrt(n_v) times the sum of the n_v |grad_out| rows that land there "
            "(over n_v when scale_grad_by_freq): the probabilistic bound of a sum of n_v terms",
        ),
    ),
)
