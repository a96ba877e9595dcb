"""The oracle: every case's exact answer, computed apart from the reference.

:func:`exact` returns a case's exact outputs as an :class:`Exact` (double-double arrays, with
correct rounding to any dtype); each spec's oracle lives in the module of its family and is
written from the formula and its sources, never from refpe's code.
"""

# Each family's module registers its oracles when imported.
from . import encoder, init, positional, relative, rotary, text  # noqa: F401
from ._core import DIGITS, ORACLES, VERSION, Exact, cache_dir, exact, register, split

__all__ = ["DIGITS", "ORACLES", "VERSION", "Exact", "cache_dir", "exact", "register", "split"]
