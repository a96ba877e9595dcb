"""Random initialisers for embedding tables (随机初始化), drawn on the host from an explicit seed.

Every draw comes from ``numpy.random.default_rng(seed)`` in float64 and is rounded once to
the requested dtype on the way to the device, so one seed gives bit-identical tables on
every backend. There is no hidden global generator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._compat import (
    dask_chunks,
    default_namespace,
    from_host,
    refuse_chunks,
    require_elements,
    require_int,
    require_real,
    resolve_dtype,
)

__all__ = ["init_framework_default", "init_normal", "init_truncated_normal", "init_uniform"]

Shape = int | tuple[int, ...]


def _require_shape(shape: Any, whole: bool = True) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    try:
        dims = tuple(require_int("shape", n) for n in dims)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"shape must not have negative sizes, got {shape!r}")
    require_elements("shape", *(dims if whole else dims[1:]))
    return dims


def _require_seed(seed: Any) -> int:
    if seed is None:
        raise TypeError(
            "seed is required: refpe draws from numpy.random.default_rng(seed) on the host, "
            "with no hidden global RNG"
        )
    s = require_int("seed", seed)
    if s < 0:
        raise ValueError(f"seed must be a non-negative int, got {s}")
    return s


def _require_spread(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _draw(
    shape: Any,
    seed: Any,
    sample: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray],
    dtype: Any,
    xp: Any,
    device: Any,
    chunks: Any = None,
) -> Any:
    """``sample(default_rng(seed), shape)`` rounded once to ``dtype`` on ``xp`` (on Dask,
    in the row blocks ``chunks``)."""
    dims, s = _require_shape(shape), _require_seed(seed)
    xp = default_namespace(xp)
    refuse_chunks(chunks, hasattr(xp.empty(0), "rechunk"))
    dt = resolve_dtype(xp, dtype, device)
    y = from_host(sample(np.random.default_rng(s), dims), xp, dt, device)
    if chunks is not None and dims:
        y = y.rechunk(dask_chunks((chunks,) + (-1,) * (len(dims) - 1), dims, "float64", chunks))
    return y


def _normal(mu: float, sd: float, g: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
    return mu + sd * g.standard_normal(s)


def _uniform(mu: float, half: float, g: np.random.Generator, s: tuple[int, ...]) -> np.ndarray:
    return mu + half * (2.0 * g.random(s) - 1.0)


def init_normal(
    shape: Shape,
    *,
    seed: int,
    std: float = 0.02,
    mean: float = 0.0,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r"""i.i.d. normal draws :math:`W_{jk} \sim \mathcal N(\mu, \sigma^2)`.

    .. math::

        W = \mu + \sigma Z, \qquad Z_{jk} \sim \mathcal N(0, 1)
        \ \text{from}\ \mathtt{default\_rng(seed).standard\_normal}

    Source: seed 004 §1 (正态分布, ``torch.randn(dim) * 0.02``).

    Seed erratum (seed 004 §1): the text says "方差 (variance) 0.02" while its code is
    ``torch.randn(dim) * 0.02``, a standard deviation of 0.02. refpe follows the code and
    the common convention (BERT, GPT-2): ``std`` is the **standard deviation**.

    Precision: drawn in float64 on the host, rounded once to ``dtype`` (default: the
    namespace's default float) and transferred to ``device``. ``seed`` is required.

    Dask only (``xp=dask.array``): ``chunks`` are the rows per block (an int, or Dask's
    chunks of the first axis; default about 128 MiB per block), drawn from the seed as the
    single array is, bit for bit (the Dask kernel, :mod:`refpe.kernels.dask_init`).
    """
    sd, mu = _require_spread("std", std), require_real("mean", mean)
    sample = functools.partial(_normal, mu, sd)
    return _draw(shape, seed, sample, dtype, xp, device, chunks)


def init_uniform(
    shape: Shape,
    *,
    seed: int,
    a: float = 0.05,
    mean: float = 0.0,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r"""i.i.d. uniform draws :math:`W_{jk} \sim U[\mu - a, \mu + a)`.

    .. math::

        W = \mu + a\,(2U - 1), \qquad U_{jk} \sim U[0, 1)
        \ \text{from}\ \mathtt{default\_rng(seed).random}

    Source: seed 004 §1 (均匀分布 "在区间 [-a, a] 内均匀采样").

    Precision: drawn in float64 on the host (``U`` has 53 random bits), rounded once to
    ``dtype`` and transferred. ``seed`` is required.

    Dask only (``xp=dask.array``): ``chunks`` are the rows per block (an int, or Dask's
    chunks of the first axis; default about 128 MiB per block), drawn from the seed as the
    single array is, bit for bit (the Dask kernel, :mod:`refpe.kernels.dask_init`).
    """
    half, mu = _require_spread("a", a), require_real("mean", mean)
    sample = functools.partial(_uniform, mu, half)
    return _draw(shape, seed, sample, dtype, xp, device, chunks)


def _truncated(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws, each outside ``[-2, 2]`` drawn again (rejection sampling)."""
    z = g.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = g.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return z


def init_truncated_normal(
    shape: Shape,
    *,
    seed: int,
    std: float = 0.02,
    mean: float = 0.0,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r"""Normal draws truncated to two standard deviations (BERT's ``initializer_range``).

    .. math::

        W = \mu + \sigma Z, \qquad Z \sim \mathcal N(0, 1)\ \text{conditioned on}\ |Z| \le 2

    so every value lies in :math:`[\mu - 2\sigma, \mu + 2\sigma]`. ``Z`` is drawn by
    rejection: a draw outside ``[-2, 2]`` is replaced by a fresh one from the same generator.

    Source: beyond the seeds: BERT (Devlin et al. 2019), ``truncated_normal_initializer
    (stddev=initializer_range)`` with ``initializer_range = 0.02``.

    Precision: float64 on the host, rounded once to ``dtype``. ``seed`` is required.

    Dask only (``xp=dask.array``): ``chunks`` are the rows per block (an int, or Dask's
    chunks of the first axis; default about 128 MiB per block), drawn from the seed as the
    single array is, bit for bit (the Dask kernel, :mod:`refpe.kernels.dask_init`).
    """
    sd, mu = _require_spread("std", std), require_real("mean", mean)
    sample = functools.partial(_truncated_normal, mu, sd)
    return _draw(shape, seed, sample, dtype, xp, device, chunks)


def _truncated_normal(mu: float, sd: float, g: np.random.Generator, s: tuple) -> np.ndarray:
    return mu + sd * _truncated(g, s)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) != 2:
        raise ValueError(f"a linear weight has a 2-D shape, got {shape!r}")
    return shape[0], shape[1]


def _torch_linear(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    fan_in = _fans(shape)[1]
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0  # no fan in: no elements to draw
    return bound * (2.0 * g.random(shape) - 1.0)


def _glorot(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    # the limit is the float64 constant sqrt(6 / (in + out)), as Keras computes it
    fan_in, fan_out = _fans(shape)
    limit = math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0  # 0 elements
    return limit * (2.0 * g.random(shape) - 1.0)


def _standard_normal(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return g.standard_normal(shape)


def _random(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return g.random(shape)


def _keras_uniform(g: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return 0.05 * (2.0 * g.random(shape) - 1.0)


#: The sampler of each ``(framework, kind)`` that :func:`init_framework_default` knows: a
#: function of the host generator and the shape, in float64 (the table in its docstring).
FRAMEWORK_DEFAULTS: dict[
    tuple[str, str], Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]
] = {
    ("torch", "embedding"): _standard_normal,
    ("torch", "linear"): _torch_linear,
    ("tf", "embedding"): _random,
    ("keras", "embedding"): _keras_uniform,
    ("keras", "linear"): _glorot,
}


def init_framework_default(
    shape: Shape,
    *,
    framework: str,
    kind: str,
    seed: int,
    dtype: Any = None,
    xp: Any = None,
    device: Any = None,
    chunks: Any = None,
) -> Any:
    r"""The default initialiser a framework applies, drawn with refpe's seeded generator.

    .. math::

        \begin{array}{lll}
        \text{torch, embedding} & \texttt{nn.Embedding} & \mathcal N(0, 1) \\
        \text{torch, linear} & \texttt{nn.Linear}\ (out, in) &
            U(-1/\sqrt{in},\ 1/\sqrt{in}) \\
        \text{tf, embedding} & \texttt{tf.random.uniform} & U[0, 1) \\
        \text{keras, embedding} & \texttt{Embedding} & U(-0.05,\ 0.05) \\
        \text{keras, linear} & \texttt{Dense}\ (in, out) &
            U(-\sqrt{6/(in+out)},\ \sqrt{6/(in+out)})
        \end{array}

    PyTorch's ``nn.Linear`` calls ``kaiming_uniform_(w, a=sqrt(5))``: bound
    :math:`\text{gain}\sqrt{3/\mathrm{fan\_in}}` with gain :math:`\sqrt{2/(1+a^2)} = \sqrt{1/3}`,
    i.e. :math:`1/\sqrt{\mathrm{fan\_in}}`, and ``fan_in = shape[1]`` for its ``(out, in)``
    weight. Keras' ``Dense`` kernel is ``(in, out)`` with ``glorot_uniform``; Keras'
    ``Embedding`` uses ``"uniform"``, ``RandomUniform(-0.05, 0.05)``. ``tf`` means the raw
    ``tf.random.uniform(shape)`` of seed 000 §4's code (defaults ``minval=0, maxval=1``);
    TensorFlow's linear layer is Keras' ``Dense``: use ``framework="keras"``.

    Source: seed 004 §1 ("PyTorch 默认的均匀初始化"); seed 000 §4 (project code,
    ``tf.random.uniform([vocab_size, embedding_dim])``); PyTorch, TensorFlow and Keras docs.

    Precision: drawn in float64 on the host with ``default_rng(seed)`` (not the framework's
    own generator: the distributions match, the values do not), rounded once to ``dtype``.
    An unknown ``(framework, kind)`` raises ``ValueError`` listing the known ones.

    Dask only (``xp=dask.array``): ``chunks`` are the rows per block (an int, or Dask's
    chunks of the first axis; default about 128 MiB per block), drawn from the seed as the
    single array is, bit for bit (the Dask kernel, :mod:`refpe.kernels.dask_init`).
    """
    sample = FRAMEWORK_DEFAULTS.get((framework, kind))
    if sample is None:
        known = ", ".join(f"({f!r}, {k!r})" for f, k in FRAMEWORK_DEFAULTS)
        raise ValueError(
            f"unknown framework/kind combination ({framework!r}, {kind!r}); known: {known}"
        )
    return _draw(shape, seed, sample, dtype, xp, device, chunks)
