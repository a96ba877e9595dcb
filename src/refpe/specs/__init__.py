"""The registry entries of every formula: cases, error models, sources, one module per family.

Importing a family module registers its specs (a plain :func:`refpe.registry.register` call
at module level). The imports below run in catalogue order (the order of the catalogue's
sections), and this list is the one place that order is written: :func:`refpe.specs` returns
the specs in the order they are registered here, and the README's spec table, ``refpe specs``
and the docs follow it.

Imports run one way: these modules import the formulas and :mod:`refpe.registry`; no formula
imports anything from here.
"""

# The order of these imports is the catalogue order: keep it, do not sort it.
# ruff: noqa: F401, I001

from . import embedding  # token-lookup, token-one-hot
from . import init  # init-*
from . import positional  # pe-sinusoidal ... pe-dual-linear
from . import norm  # layer-norm
from . import inputs  # input-add, input-bert
from . import attention  # attn-seed-simplified, attn-sdpa
from . import loss  # softmax-xent
from . import grad  # embedding-grad
from . import rotary  # rope, rope-scaling
from . import relative  # alibi, t5-bias
from . import positional_2d  # pe-sinusoidal-2d
from . import vectors  # pretrained-formats, pretrained-align
from . import tokenize  # tok-char, tok-wordpiece, tok-bpe
