"""refpe: the spec-exact reference for token embeddings, positional encodings and the encoder
pieces around them.

Every formula of the catalogue is a public function here, named after its spec id
(``pe-sinusoidal`` is :func:`refpe.pe_sinusoidal`); :func:`specs` and :func:`spec` give the
registry that the conformance suite runs and the docs render.
"""

from ._registry import Case, Erratum, ErrorModel, Spec, spec, specs
from .embedding import *  # noqa: F403
from .init import *  # noqa: F403
from .positional import *  # noqa: F403
from .inputs import *  # noqa: F403
from .attention import *  # noqa: F403
from .norm import *  # noqa: F403
from .loss import *  # noqa: F403
from .grad import *  # noqa: F403
from .rotary import *  # noqa: F403
from .relative import *  # noqa: F403
from .positional_2d import *  # noqa: F403
from . import tokenize, vectors  # noqa: E402

__version__ = "0.1.0"
