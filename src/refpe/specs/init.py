"""Registry entries of :mod:`refpe.init`: cases and error models (forward-error analysis)."""

from __future__ import annotations

from typing import Any

from ..init import (
    FRAMEWORK_DEFAULTS,
    init_framework_default,
    init_normal,
    init_truncated_normal,
    init_uniform,
)
from ..registry import FLOAT_DTYPES, Case, Erratum, ErrorModel, Spec, register

_SHAPE = (6, 4)
_EXACT = ErrorModel(
    K=dict.fromkeys(FLOAT_DTYPES, 0),
    text="bit-exact: the float64 host draw rounded once to the dtype",
    statistical={"test": "Kolmogorov-Smirnov", "alpha": 1e-3},
)
_COMMON = dict(error=_EXACT, section="1", creates=True, dtypes=FLOAT_DTYPES)


def _cases(**extra: Any) -> tuple[Case, ...]:
    return (
        Case("6x4 table", {"shape": _SHAPE, "seed": 0, **extra}),
        Case("another seed", {"shape": (3, 5), "seed": 2024, **extra}),
        Case("empty table", {"shape": (0, 4), "seed": 1, **extra}, edge=True),
        Case("1-D shape", {"shape": 7, "seed": 3, **extra}, edge=True),
        Case("no seed", {"shape": _SHAPE, "seed": None, **extra}, edge=True, raises=TypeError),
    )


register(
    Spec(
        id="init-normal",
        title="Normal initialiser",
        latex=r"W = \mu + \sigma Z,\ Z_{jk} \sim \mathcal N(0,1)",
        sources=("seed 004 §1",),
        function=init_normal,
        domain={"shape": "tuple of sizes", "seed": "int >= 0", "std": ">= 0 (standard deviation)"},
        cases=(
            *_cases(),
            Case("std 1, mean 3", {"shape": _SHAPE, "seed": 5, "std": 1.0, "mean": 3.0}),
        ),
        invariants=("same seed, same table on every backend", "sample std close to std"),
        errata=(
            Erratum(
                seed="004 §1",
                seed_does="text: 方差 (variance) 0.02; code: torch.randn(dim) * 0.02 (std 0.02)",
                refpe_does="std is the standard deviation",
                why="the code, BERT (Devlin et al. 2019) and GPT-2 (Radford et al. 2019) scale "
                "unit normals by 0.02: a standard deviation",
            ),
        ),
        terms=("随机初始化", "正态分布", "方差"),
        explanation="Every entry is an independent normal draw with the given standard deviation.",
        **_COMMON,
    ),
    Spec(
        id="init-uniform",
        title="Uniform initialiser",
        latex=r"W = \mu + a(2U - 1),\ U_{jk} \sim U[0,1)",
        sources=("seed 004 §1",),
        function=init_uniform,
        domain={"shape": "tuple of sizes", "seed": "int >= 0", "a": ">= 0"},
        cases=(*_cases(), Case("a = 1", {"shape": _SHAPE, "seed": 5, "a": 1.0})),
        invariants=("every value in [mean - a, mean + a)",),
        terms=("随机初始化", "均匀分布"),
        explanation="Every entry is an independent uniform draw from [-a, a).",
        **_COMMON,
    ),
    Spec(
        id="init-truncated-normal",
        title="Truncated normal initialiser",
        latex=r"W = \mu + \sigma Z,\ Z \sim \mathcal N(0,1) \mid |Z| \le 2",
        sources=("Devlin et al. 2019 (BERT initializer_range)",),
        function=init_truncated_normal,
        domain={"shape": "tuple of sizes", "seed": "int >= 0", "std": ">= 0"},
        cases=(*_cases(), Case("std 1", {"shape": (50, 20), "seed": 9, "std": 1.0})),
        invariants=("every value in [mean - 2 std, mean + 2 std]",),
        terms=("随机初始化",),
        explanation="Normal draws, redrawn until they lie within two standard deviations.",
        **_COMMON,
    ),
    Spec(
        id="init-framework-defaults",
        title="Framework default initialisers",
        latex=r"\mathcal N(0,1),\ U(\pm 1/\sqrt{in}),\ U[0,1),\ U(\pm 0.05),"
        r"\ U(\pm\sqrt{6/(in+out)})",
        sources=("seed 004 §1", "seed 000 §4", "PyTorch nn.Embedding / nn.Linear", "Keras"),
        function=init_framework_default,
        domain={"framework": "torch, tf, keras", "kind": "embedding, linear"},
        cases=(
            *(
                Case(f"{f} {k}", {"shape": _SHAPE, "seed": 11, "framework": f, "kind": k})
                for f, k in FRAMEWORK_DEFAULTS
            ),
            Case(
                "tf linear is not a tf default",
                {"shape": _SHAPE, "seed": 1, "framework": "tf", "kind": "linear"},
                edge=True,
                raises=ValueError,
            ),
        ),
        invariants=("each draw follows the framework's documented distribution",),
        errata=(
            Erratum(
                seed="004 §1",
                seed_does="for the embedding matrix: 均匀分布 [-a, a], "
                "例如 PyTorch 默认的均匀初始化 (PyTorch's default uniform initialisation)",
                refpe_does="torch embedding is N(0, 1), as nn.Embedding; the uniform PyTorch "
                "default is nn.Linear's U(±1/sqrt(in)) (kind='linear')",
                why="PyTorch's nn.Embedding.reset_parameters calls init.normal_; nn.Linear "
                "calls kaiming_uniform_(a=sqrt(5)) (He et al. 2015), bound 1/sqrt(fan_in)",
            ),
        ),
        terms=("随机初始化", "PyTorch 默认的均匀初始化"),
        explanation="The distributions PyTorch, TensorFlow and Keras use when nothing is said.",
        **_COMMON,
    ),
)
