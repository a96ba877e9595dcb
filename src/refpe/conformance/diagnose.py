"""Diagnoses: which known convention a failing subject seems to use instead.

When a subject fails, the suite recomputes the case under each alternative convention that
libraries are known to use (the other layout, the t2t schedule, positions offset by one,
clamped ids, a reduced-precision product, 0.02 read as a variance, ...). An alternative that
the subject matches much better than the spec becomes the diagnosis.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from refpe.registry import Case, Spec

from .compare import as_arrays, compare, ks_test, normal_cdf, round_to, truncated_normal_cdf
from .inputs import float64_kwargs, host_inputs
from .mistakes import CHOICES, FITS, MANTISSA, MISTAKES, NARROW, ROPE_LAYOUTS, shifted_positions

Alternative = tuple[str, Callable[[Spec, dict[str, Any]], Any]]


def _with(**changes: Any) -> Callable[[Spec, dict[str, Any]], Any]:
    def alt(spec: Spec, kw: dict[str, Any]) -> Any:
        return spec.function(
            **{**kw, **{k: c(kw) if callable(c) else c for k, c in changes.items()}}
        )

    return alt


def _round_mantissa(x: np.ndarray, bits: int) -> np.ndarray:
    """``x`` (float32 values) rounded to ``bits`` explicit mantissa bits, nearest even."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    drop = 23 - bits
    half = np.uint64(1 << (drop - 1)) - np.uint64(1) + ((u >> np.uint64(drop)) & np.uint64(1))
    r = ((u + half) >> np.uint64(drop)) << np.uint64(drop)
    return r.astype(np.uint32).view(np.float32).astype(np.float64)


def _reduced_product(bits: int, label: str) -> Alternative:
    def alt(spec: Spec, kw: dict[str, Any]) -> Any:
        return spec.function(**{**kw, "table": _round_mantissa(kw["table"], bits)})

    return (label, alt)


def _pow_form_sinusoid(spec: Spec, kw: dict[str, Any]) -> Any:
    positions, d = kw["positions"], kw["d"]
    p = np.arange(positions) if isinstance(positions, int) else np.asarray(positions)
    base = np.float32(kw.get("base", 10000.0))
    omega = np.exp(np.arange(0, d, 2, dtype=np.float32) * (-np.log(base) / np.float32(d)))
    angle = (p.astype(np.float32)[..., None] + np.float32(kw.get("offset", 0))) * omega
    out = np.zeros((*p.shape, d))
    out[..., 0::2] = np.sin(angle)
    out[..., 1::2] = np.cos(angle[..., : d // 2])
    return out


def _ids_alternative(transform: Callable[[np.ndarray, int], np.ndarray]) -> Callable:
    def alt(spec: Spec, kw: dict[str, Any]) -> Any:
        n = kw["table"].shape[0]
        return spec.function(**{**kw, "ids": transform(np.asarray(kw["ids"]), n)})

    return alt


def _swapped_sin_cos(spec: Spec, kw: dict[str, Any]) -> Any:
    """The sinusoid with every sin column and its cos partner exchanged (even ``d``)."""
    out = np.array(spec.function(**kw), dtype=np.float64)
    d = out.shape[-1]
    if d % 2:
        raise ValueError("odd width: sin and cos columns do not pair")
    if kw.get("layout", "interleaved") == "interleaved":
        return out.reshape(*out.shape[:-1], d // 2, 2)[..., ::-1].reshape(out.shape)
    return np.concatenate([out[..., d // 2 :], out[..., : d // 2]], axis=-1)


#: Alternatives by spec id (besides the generic ones read off the case's own keywords).
ALTERNATIVES: dict[str, list[Alternative]] = {
    "pe-sinusoidal": [
        (
            "float32 pow-form frequencies and angles (exp(2i * -ln(base)/d) in float32)",
            _pow_form_sinusoid,
        ),
        ("sin and cos exchanged", _swapped_sin_cos),
    ],
    "token-one-hot": [
        _reduced_product(7, "a reduced-precision product: bfloat16 inputs (8-bit significand)"),
        _reduced_product(10, "a reduced-precision product: TF32 (11-bit significand)"),
    ],
}


def _nan_fill(spec: Spec, kw: dict[str, Any]) -> Any:
    table, ids = kw["table"], np.asarray(kw["ids"])
    n = table.shape[0]
    wrapped = np.where(ids < 0, ids + n, ids)
    bad = (wrapped < 0) | (wrapped >= n)
    out = spec.function(**{**kw, "ids": np.where(bad, 0, wrapped)})
    return np.where(bad[..., None], np.nan, out)


#: For bad input that a subject did not refuse: what it seems to do instead.
REFUSALS: dict[str, list[Alternative]] = {
    "token-lookup": [
        (
            "clamps out-of-range ids to [0, V-1] (JAX's default gather mode)",
            _ids_alternative(lambda ids, n: np.clip(ids, 0, n - 1)),
        ),
        (
            "wraps negative ids (NumPy/PyTorch negative indexing)",
            _ids_alternative(lambda ids, n: np.where(ids < 0, ids + n, ids)),
        ),
        ("fills rows of out-of-range ids with NaN (jnp.take's mode='fill')", _nan_fill),
        (
            "wraps every id modulo V (torch.take_along_dim)",
            _ids_alternative(lambda ids, n: np.mod(ids, n)),
        ),
    ],
}

_GENERIC: dict[str, tuple[str, ...]] = {
    "layout": ("interleaved", "concatenated", "half"),
    "schedule": ("transformer", "t2t"),
}


def _default(spec: Spec, key: str) -> Any:
    try:
        param = inspect.signature(spec.function).parameters.get(key)
    except (TypeError, ValueError):
        return None
    return None if param is None or param.default is param.empty else param.default


def _named(spec: Spec, value: Any) -> str:
    name = ROPE_LAYOUTS.get(value, "") if spec.id.startswith("rope") else ""
    return f"{value!r} {name}".strip()


def _generic(spec: Spec, case: Case) -> list[Alternative]:
    alts: list[Alternative] = []
    for key, values in _GENERIC.items():
        if key not in case.kwargs and _default(spec, key) is None and key != "layout":
            continue
        current = case.kwargs.get(key, _default(spec, key))
        asked = "the default" if current is None else _named(spec, current)
        for v in values:
            if v != current:
                label = f"{key}={_named(spec, v)} where {asked} is asked"
                alts.append((label, _with(**{key: v})))
    for key, labels in CHOICES.get(spec.id, {}).items():
        current = case.kwargs.get(key, _default(spec, key))
        alts += [(text, _with(**{key: v})) for v, text in labels.items() if v != current]
    if "positions" in case.kwargs and "offset" not in _parameters(spec):
        for delta in (1, -1):
            alts.append((f"positions {'+-'[delta < 0]} 1", shifted_positions(delta)))
    elif "offset" in case.kwargs or "positions" in case.kwargs:
        for delta in (1, -1):
            alts.append(
                (
                    f"positions {'+-'[delta < 0]} 1 (offset by {delta:+d}, e.g. fairseq counts "
                    "from padding_idx + 1)",
                    _with(offset=lambda kw, d=delta: kw.get("offset", 0) + d),
                )
            )
    return alts


def _parameters(spec: Spec) -> set[str]:
    try:
        return set(inspect.signature(spec.function).parameters)
    except (TypeError, ValueError):
        return set()


def explain(
    spec: Spec, case: Case, dtype: str, got: list[np.ndarray], refused: bool = False
) -> str:
    """The known convention or mistake that ``got`` matches, or ``""``.

    An alternative matches when ``got`` is within the spec's usual bound of it, or within a
    few ulps, or at least a hundred times closer to it than to the spec's own answer; an
    alternative that gives the spec's own answer on this case says nothing and is skipped.
    """
    inputs = host_inputs(case, dtype)
    kwargs = float64_kwargs(spec, inputs)
    if refused:
        candidates = REFUSALS.get(spec.id, [])
    else:
        candidates = [*ALTERNATIVES.get(spec.id, []), *MISTAKES.get(spec.id, [])]
        fit = FITS.get(spec.id)
        if fit is not None:
            with np.errstate(all="ignore"):
                candidates += _quiet(lambda: fit(spec, kwargs, got), [])
        candidates += _generic(spec, case)
    own = _quiet(lambda: as_arrays(spec.function(**kwargs)), None)
    for label, alt in candidates:
        with np.errstate(all="ignore"):
            want = _quiet(lambda alt=alt: as_arrays(alt(spec, kwargs)), None)
        if want is None:
            continue
        if not refused and own is not None and _close(own, want, dtype):
            continue
        narrow = NARROW.get(label)
        if _quiet(lambda w=want, n=narrow: _matches(spec, got, w, own, inputs, dtype, n), False):
            return f"matches {label}"
    return ""


def _quiet(thunk: Callable[[], Any], fallback: Any) -> Any:
    """``thunk()``, or ``fallback`` when it raises (an alternative that does not apply)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return thunk()
    except Exception:
        return fallback


def _matches(spec, got, want, own, inputs, dtype, narrow=None) -> bool:
    if compare(got, want, spec.error.usual_bound, inputs, dtype).ok or _close(got, want, dtype):
        return True
    if own is None or [g.shape for g in got] != [w.shape for w in want]:
        return False
    with np.errstate(all="ignore"):
        to_alt = max(_distance(g, w) for g, w in zip(got, want, strict=True))
        to_own = max(_distance(g, w) for g, w in zip(got, own, strict=True))
    if narrow is not None and to_alt <= 2 * to_own:
        # Computed in a narrow dtype: within a few of its ulps, and no farther than the spec.
        eps = 2.0 ** -(MANTISSA[narrow])
        return all(
            _distance(g, w) <= 8 * eps * max(1.0, float(np.max(np.abs(w))))
            for g, w in zip(got, want, strict=True)
        )
    return to_alt < math.inf and 100 * to_alt <= to_own


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b|``, with equal NaNs and equal infinities at distance 0, others ``inf``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    diff = np.where(same, 0.0, np.abs(a - b))
    return float(np.nanmax(np.where(np.isnan(diff), math.inf, diff)))


def _close(got: list[np.ndarray], want: list[np.ndarray], dtype: str) -> bool:
    """A looser match for alternatives that can be reproduced only up to rounding."""
    if [g.shape for g in got] != [w.shape for w in want]:
        return False
    tol = 4 * float(np.finfo(np.float32).eps) if dtype != "float64" else 1e-12
    return all(
        np.allclose(g, round_to(w, dtype), rtol=0, atol=tol, equal_nan=True)
        for g, w in zip(got, want, strict=True)
    )


def explain_draw(spec: Spec, case: Case, sample: np.ndarray) -> str:
    """For a failing random draw: is it the std read as a variance, or std 1?"""
    if spec.id not in ("init-normal", "init-truncated-normal"):
        return ""
    mean, std = case.kwargs.get("mean", 0.0), case.kwargs.get("std", 0.02)
    guesses: Mapping[str, float] = {
        f"std {std} read as the variance (std {math.sqrt(std):.4g})": math.sqrt(std),
        "std 1 (torch.randn without the scale)": 1.0,
    }
    for label, s in guesses.items():
        cdf = normal_cdf(mean, s)
        if spec.id == "init-truncated-normal":
            cdf = truncated_normal_cdf(mean, s, mean - 2 * s, mean + 2 * s)
        if ks_test(sample, cdf, case.kwargs.get("seed")).ok:
            return f"matches {label}"
    return ""
