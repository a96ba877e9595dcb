"""What a subject returned, checked for kind, dtype and shape before any value is judged.

A value that is close but of the wrong kind is still wrong: a complex array whose real part
is right, a float64 array for a float32 case, a Python float where an array is due, or a
sample of the wrong size all ``fail`` here, whatever their values. Refusals and
not-applicable cases are signalled with the exceptions below.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NotApplicable(Exception):
    """Raised by a subject for a case its model does not cover (an interleaved-only RoPE on
    a half-layout case, a causal-only attention on a bidirectional one): the case is
    reported as ``skipped`` with the message as its reason, not as an error."""


class WrongOutput(Exception):
    """A subject's output is of the wrong kind, dtype, shape or device: a ``fail``."""


def _name(item: Any) -> str:
    dt = getattr(item, "dtype", None)
    return np.dtype(dt).name if dt is not None else type(item).__name__


def _is_real_float(dt: Any) -> bool:
    # NumPy files bfloat16 (ml_dtypes) under kind "V", not "f".
    return np.dtype(dt).kind == "f" or np.dtype(dt).name == "bfloat16"


def _integral(exact: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(exact) & (exact == np.round(exact))))


def wrong_output(raw: Any, want: list[np.ndarray], dtype: str) -> str:
    """Why ``raw`` (a subject's output brought to the host) is not what the case asks for, or
    ``""``. ``want`` holds the exact outputs (their shapes and kinds count, not values).

    Each output must be an array (a NumPy scalar counts, a Python number only where the
    exact output is a scalar), real,
    of the exact output's shape, and — where the exact output is floating — in ``dtype``
    (a bfloat16 result may come back widened to float32, since NumPy has no bfloat16).
    """
    items = raw if isinstance(raw, (tuple, list)) else (raw,)
    if len(items) != len(want):
        return f"{len(items)} outputs, the case asks for {len(want)}"
    allowed = {dtype, "float32"} if dtype == "bfloat16" else {dtype}
    for i, (item, exact) in enumerate(zip(items, want, strict=True)):
        which = f"output {i}" if len(items) > 1 else "the output"
        exact = np.asarray(exact)
        due = dtype if exact.dtype.kind == "f" else exact.dtype.name
        got = getattr(item, "dtype", None)
        if got is None and exact.ndim == 0 and isinstance(item, (int, float)):
            continue  # a scalar output (RoPE's attention factor) may be a Python number
        if got is None:
            return f"{which} is a Python {type(item).__name__}, where an array of {due} is due"
        kind = np.dtype(got).kind
        if kind == "c":
            return f"{which} is {_name(item)} (complex), where real {due} is due"
        if exact.dtype.kind == "f" and kind in "iub" and _integral(exact):
            pass  # ids, counts, masks: the exact answer holds integers, held as floats
        elif exact.dtype.kind == "f":
            if not _is_real_float(got):
                return f"{which} is {_name(item)}, where {due} is due"
            if np.dtype(got).name not in allowed:
                return f"{which} is {_name(item)}, the case asks for {dtype}"
        if np.shape(item) != exact.shape:
            return f"{which} has shape {np.shape(item)}, the case asks for {exact.shape}"
    return ""


def wrong_device(out: Any, owns: Any, device: Any, library: str) -> str:
    """Why the subject's raw outputs, where they are arrays of ``library``, are not on
    ``device`` (``""``: they are). ``owns`` recognises the library's arrays; ``device`` is its
    device object (``None``: the host, not checked). Other values are checked on the host."""
    import array_api_compat

    items = out if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(items):
        which = f"output {i}" if len(items) > 1 else "the output"
        if not owns(o):
            continue  # another library's array: its kind and dtype are checked on the host
        if device is not None and array_api_compat.device(o) != device:
            return f"{which} is on {array_api_compat.device(o)}, the inputs were on {device}"
    return ""
