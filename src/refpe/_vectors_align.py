"""Aligning pretrained vectors to a target vocabulary (spec ``pretrained-align``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._compat import namespace, take_rows

INITS = ("normal", "uniform", "truncated-normal", "zeros")


@dataclass(frozen=True)
class AlignReport:
    """Coverage of an alignment: which tokens got pretrained rows and which were drawn.

    ``found``: tokens whose exact spelling is a pretrained word; ``casefolded``: pairs
    ``(token, word)`` found only after case folding; ``oov``: tokens drawn from the
    initialiser; ``frozen``: a boolean array of shape ``(V,)``, True for the pretrained
    rows (the row mask ``embedding_grad(..., frozen=)`` takes to freeze them, seed 004 §2
    冻结).
    """

    size: int
    found: tuple[str, ...]
    casefolded: tuple[tuple[str, str], ...]
    oov: tuple[str, ...]
    frozen: Any
    init: str
    seed: int

    @property
    def coverage(self) -> float:
        """Percent of the vocabulary with a pretrained row (exact or case-folded)."""
        return 100.0 * (len(self.found) + len(self.casefolded)) / self.size if self.size else 0.0

    def __str__(self) -> str:
        n = len(self.found) + len(self.casefolded)
        return (
            f"{n} of {self.size} tokens found ({self.coverage:.2f}%): {len(self.found)} exact, "
            f"{len(self.casefolded)} after case folding; {len(self.oov)} OOV drawn from "
            f"init {self.init!r} (seed {self.seed})"
        )


def _vocab_ids(vocab: Mapping[str, int] | Sequence[str]) -> list[str]:
    """Tokens by id; ``vocab`` maps token -> id (ids exactly 0..V-1) or lists tokens."""
    if isinstance(vocab, str):
        raise TypeError("vocab must be a mapping token -> id or a sequence of tokens, got a str")
    if not isinstance(vocab, Mapping):
        tokens = list(vocab)
        if len(set(tokens)) != len(tokens):
            dup = next(t for i, t in enumerate(tokens) if t in tokens[:i])
            raise ValueError(f"vocab lists token {dup!r} twice")
        return tokens
    by_id: list[Any] = [None] * len(vocab)
    for token, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(vocab):
            raise ValueError(
                f"vocab ids must be 0 .. {len(vocab) - 1}: token {token!r} has id {i!r}"
            )
        if by_id[i] is not None:
            raise ValueError(f"vocab id {i} is given to both {by_id[i]!r} and {token!r}")
        by_id[i] = token
    return by_id


def _lookup(tokens: list[str], words: Sequence[str], casefold: bool):
    index: dict[str, int] = {}
    for j, w in enumerate(words):
        if w in index:
            raise ValueError(f"words has {w!r} twice (rows {index[w]} and {j})")
        index[w] = j
    folded: dict[str, int] = {}
    if casefold:
        for j, w in enumerate(words):
            folded.setdefault(w.casefold(), j)
    src, found, exact, folds, oov = [], [], [], [], []
    for t in tokens:
        j = index.get(t)
        if j is not None:
            exact.append(t)
        elif casefold and (j := folded.get(t.casefold())) is not None:
            folds.append((t, words[j]))
        else:
            oov.append(t)
        src.append(0 if j is None else j)
        found.append(j is not None)
    return src, found, exact, folds, oov


def _draw(init: str, shape: tuple[int, int], seed: int, args: Mapping[str, Any], dt, xp, dev):
    from . import init as I

    if init == "zeros":
        return xp.zeros(shape, dtype=dt, device=dev)
    fn = {
        "normal": I.init_normal,
        "uniform": I.init_uniform,
        "truncated-normal": I.init_truncated_normal,
    }[init]
    return fn(shape, seed=seed, dtype=dt, xp=xp, device=dev, **args)


def _table(vocab, words, vectors, init, seed, casefold, init_args, dim):
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    xp = namespace(vectors=vectors)
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be 2-D (n, d), got shape {tuple(vectors.shape)}")
    n, d = vectors.shape
    if dim is not None and dim != d:
        raise ValueError(
            f"width mismatch: vectors have width {d}, the table needs dim={dim}; "
            "refpe never truncates or pads vectors"
        )
    if isinstance(words, str) or len(words) != n:
        raise ValueError(f"words has {len(words)} entries but vectors has {n} rows")
    tokens = _vocab_ids(vocab)
    src, found, exact, folds, oov = _lookup(tokens, words, casefold)
    dev = getattr(vectors, "device", None)
    drawn = _draw(init, (len(tokens), d), seed, init_args or {}, vectors.dtype, xp, dev)
    mask = xp.asarray(found, dtype=xp.bool, device=dev)
    if any(found):
        index = xp.__array_namespace_info__().default_dtypes(device=dev)["indexing"]
        rows = take_rows(vectors, xp.asarray(src, dtype=index, device=dev), xp)
        table = xp.where(mask[:, None], rows, drawn)
    else:
        table = drawn
    report = AlignReport(len(tokens), tuple(exact), tuple(folds), tuple(oov), mask, init, seed)
    return table, report


def align(
    vocab: Mapping[str, int] | Sequence[str],
    words: Sequence[str],
    vectors: Any,
    *,
    init: str = "normal",
    seed: int,
    casefold: bool = False,
    init_args: Mapping[str, Any] | None = None,
    dim: int | None = None,
) -> tuple[Any, AlignReport]:
    r"""An embedding table for ``vocab`` from pretrained ``words``/``vectors``, plus coverage.

    .. math::

        E_{t} = \begin{cases}
            \mathbf v_{w} & \text{if token } t \text{ is the pretrained word } w \\
            R_{t} & \text{otherwise, } R = \operatorname{init}(V, d;\ \text{seed})
        \end{cases}

    where, with ``casefold=True``, :math:`t` is the word :math:`w` also when
    :math:`\operatorname{casefold}(t) = \operatorname{casefold}(w)`.

    Source: seed 004 §2 (对齐词汇表: 未对齐的 Token 仍随机初始化; 冻结或微调); seed 000 §2.2,
    §3.1 steps 1-3.

    ``vocab`` maps token -> id with ids exactly ``0 .. V-1`` (or is a list of tokens, id =
    position). ``init`` is ``"normal"``, ``"uniform"``, ``"truncated-normal"`` (refpe's
    ``init_normal`` etc., with ``init_args`` such as ``{"std": 0.1}``) or ``"zeros"``. The
    whole ``(V, d)`` table is drawn from ``seed`` first and found rows are replaced, so an
    OOV row depends only on the seed, the shape and its id, not on which other tokens were
    found. With ``casefold``, a token without an exact match takes the first pretrained
    word (in file order) with the same ``str.casefold()``. A width different from ``dim``
    is an error, never a silent truncation.

    Returns ``(table, report)``: the table in ``vectors``' library, device and dtype,
    and an :class:`AlignReport` (found / case-folded / OOV tokens, coverage percent, and
    ``report.frozen``, the mask of pretrained rows).

    Precision: exact. Pretrained rows are copied bit for bit; drawn rows are the
    initialiser's float64 draws rounded once to the dtype.
    """
    return _table(vocab, words, vectors, init, seed, casefold, init_args, dim)


def pretrained_align(
    vocab: Mapping[str, int] | Sequence[str],
    words: Sequence[str],
    vectors: Any,
    *,
    init: str = "normal",
    seed: int,
    casefold: bool = False,
    init_args: Mapping[str, Any] | None = None,
    dim: int | None = None,
) -> Any:
    r"""The table of :func:`align` without the report (what the conformance suite compares).

    .. math::

        E_{t} = \mathbf v_{w(t)} \text{ if found, else } \operatorname{init}(V, d;
        \text{seed})_{t}

    Source: seed 004 §2; seed 000 §2.2. Precision: exact (copies and seeded draws).
    """
    return _table(vocab, words, vectors, init, seed, casefold, init_args, dim)[0]
