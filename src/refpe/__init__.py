"""refpe: the spec-exact reference for token embeddings, positional encodings and the encoder
pieces around them.

Every formula of the catalogue is a public function here, named after its spec id
(``pe-sinusoidal`` is :func:`refpe.pe_sinusoidal`); :func:`specs` and :func:`spec` give the
registry that the conformance suite runs and the docs render. The hot specs' functions
answer through fast kernels that meet the same error model (:func:`last_kernel` says which);
``kernel="reference"`` runs the readable reference.
"""

# ruff: noqa: F401, F403, I001

from .registry import Case, Erratum, ErrorModel, Spec
from .embedding import *
from .init import *
from .positional import *
from .inputs import *
from .attention import *
from .norm import *
from .loss import *
from .grad import *
from .rotary import *
from .relative import *
from .positional_2d import *
from . import vectors
from . import tokenize
from .vectors import pretrained_align, pretrained_formats
from .tokenize import tok_bpe, tok_char, tok_wordpiece

# Registration: the subpackage lists the family modules in catalogue order (the registry's
# order). Importing it binds the attribute ``refpe.specs`` to the subpackage, so the public
# function ``specs`` is bound after it, on purpose: ``refpe.specs()`` is the function, and the
# subpackage stays reachable as ``sys.modules["refpe.specs"]`` and through
# ``from refpe.specs import rotary`` (``import refpe.specs as m`` would give the function).
from . import specs as _specs
from .registry import spec, specs
from .kernels import HOT as _HOT, dispatching as _dispatching, kernels, last_kernel
from .kernels import register_kernel

# The hot specs answer through registered fast kernels; the reference stays in its module
# (``refpe.rotary.rope``) and behind ``kernel="reference"``.
for _spec_id, _hot in _HOT.items():
    globals()[_hot.function] = _dispatching(_spec_id, globals()[_hot.function])
del _spec_id, _hot

__version__ = "0.1.0"
