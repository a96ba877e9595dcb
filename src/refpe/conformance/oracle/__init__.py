"""The oracle: every case's exact answer, computed apart from the reference.

:func:`exact` returns a case's exact outputs as an :class:`Exact` (double-double arrays, with
correct rounding to any dtype); each spec's oracle lives in the module of its family and is
written from the formula and its sources, never from refpe's code.
"""

from . import positional, relative, rotary  # noqa: F401  (tokens, positions, biases)
from ._core import DIGITS, ORACLES, VERSION, Exact, cache_dir, exact, register, split

__all__ = ["DIGITS", "ORACLES", "VERSION", "Exact", "cache_dir", "exact", "register", "split"]
