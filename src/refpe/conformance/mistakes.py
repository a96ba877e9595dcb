"""Known mistakes, recomputed: what a subject returns when it makes one of them.

Each entry is ``(label, alternative)``: ``alternative(spec, kwargs)`` recomputes the case
(float64 host inputs) the way the mistaken code does, in float64 except for the rounding that
is the mistake itself. :mod:`refpe.conformance.diagnose` names the first one the subject
matches. ``FITS`` holds the mistakes whose parameter is read off the subject's own output (the
base of a sinusoid) and then confirmed by recomputing the case with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from refpe.relative import alibi_slopes, t5_bucket
from refpe.rotary import rope_inv_freq

Alternative = tuple[str, Callable[[Any, dict[str, Any]], Any]]

#: Where the two RoPE layouts come from (Su et al. 2021; the GPT-NeoX and GPT-J code bases).
ROPE_LAYOUTS = {"half": "(GPT-NeoX/Llama)", "interleaved": "(GPT-J)"}
#: Bits of significand kept by each narrow dtype (explicit bits).
MANTISSA = {"bfloat16": 7, "float16": 10, "float32": 23}
_HIDDEN = -1e30  # a finite "minus infinity", as masked_fill(finfo.min) code uses


def round_narrow(x: Any, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` (nearest even), held in float64; float16 overflows to inf."""
    x = np.asarray(x, dtype=np.float64)
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float64)
    x32 = x.astype(np.float32)
    if dtype == "float32":
        return x32.astype(np.float64)
    u = x32.view(np.uint32).astype(np.uint64)
    drop = 23 - MANTISSA[dtype]
    half = np.uint64(1 << (drop - 1)) - np.uint64(1) + ((u >> np.uint64(drop)) & np.uint64(1))
    r = ((u + half) >> np.uint64(drop)) << np.uint64(drop)
    return r.astype(np.uint32).view(np.float32).astype(np.float64)


def _positions(p: Any) -> np.ndarray:
    return np.arange(p) if isinstance(p, int) else np.asarray(p)


def shifted_positions(delta: int) -> Callable[[Any, dict[str, Any]], Any]:
    """The case with every position moved by ``delta`` (for functions without ``offset``)."""

    def alt(spec: Any, kw: dict[str, Any]) -> Any:
        return spec.function(**{**kw, "positions": _positions(kw["positions"]) + delta})

    return alt


# --- RoPE: the angle p * theta rounded in a narrow dtype (Hugging Face's float32 cos/sin) -----


def _rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, r: int, layout: str) -> np.ndarray:
    out = x.copy()
    if layout == "half":
        a, b = x[..., : r // 2], x[..., r // 2 : r]
        out[..., : r // 2], out[..., r // 2 : r] = a * cos - b * sin, b * cos + a * sin
    else:
        a, b = x[..., 0:r:2], x[..., 1:r:2]
        out[..., 0:r:2], out[..., 1:r:2] = a * cos - b * sin, b * cos + a * sin
    return out


def _rope_frequencies(kw: dict[str, Any], r: int, pos: np.ndarray) -> list[tuple[Any, float]]:
    """The frequencies as the spec states them, and (without scaling) as the usual float32
    code computes them: ``1 / base ** (arange(0, r, 2) / r)`` in float32."""
    scaling = kw.get("scaling")
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    n = int(pos.max()) + 1 if pos.size and kind in ("dynamic", "longrope") else None
    theta, af = rope_inv_freq(
        r, base=kw.get("base", 10000.0), scaling=scaling, seq_len=n, dtype="float64"
    )
    out = [(np.asarray(theta, dtype=np.float64), float(af))]
    if not scaling:
        i = np.arange(0, r, 2).astype(np.float32) / np.float32(r)
        usual = np.float32(1.0) / np.float32(kw.get("base", 10000.0)) ** i
        out.append((usual.astype(np.float64), 1.0))
    return out


def rope_narrow_angle(dtype: str, usual: bool) -> Callable[[Any, dict[str, Any]], Any]:
    """RoPE with ``theta``, the position, their product and its cos and sin each rounded to
    ``dtype`` (Hugging Face's ``LlamaRotaryEmbedding`` in float32, or under autocast)."""

    def alt(spec: Any, kw: dict[str, Any]) -> Any:
        x = np.asarray(kw["x"], dtype=np.float64)
        pos = _positions(kw["positions"])
        r = kw.get("rotary_dim") or x.shape[-1]
        theta, af = _rope_frequencies(kw, r, pos)[1 if usual else 0]
        p = round_narrow(pos, dtype)[..., None]
        angle = round_narrow(p * round_narrow(theta, dtype), dtype)
        cos, sin = (round_narrow(af * f(angle), dtype) for f in (np.cos, np.sin))
        return _rotate(x, cos, sin, r, kw.get("layout", "half"))

    return alt


# --- ALiBi: slopes -----------------------------------------------------------------------------


def _alibi_with(slopes: Callable[[np.ndarray, int], np.ndarray]) -> Callable:
    def alt(spec: Any, kw: dict[str, Any]) -> Any:
        out = np.asarray(spec.function(**kw), dtype=np.float64)
        h = kw["num_heads"]
        m = np.asarray(alibi_slopes(h, dtype="float64"), dtype=np.float64)
        return out / m[:, None, None] * slopes(m, h)[:, None, None]

    return alt


def _naive_slopes(m: np.ndarray, h: int) -> np.ndarray:
    return 2.0 ** (-8.0 * np.arange(1, h + 1) / h)


# --- T5: the relative position key - query read as query - key -------------------------------


def _t5_flipped(spec: Any, kw: dict[str, Any]) -> Any:
    table = np.asarray(kw["table"], dtype=np.float64)
    q, k = kw["q_len"], kw["k_len"]
    offset = kw.get("offset")
    i = np.arange(q) + (k - q if offset is None else offset)
    rel = i[:, None] - np.arange(k)[None, :]
    b = t5_bucket(
        rel,
        bidirectional=kw.get("bidirectional", True),
        num_buckets=kw.get("num_buckets", 32),
        max_distance=kw.get("max_distance", 128),
    )
    return np.transpose(table[np.asarray(b)], (2, 0, 1))


# --- layer norm --------------------------------------------------------------------------------


def _layer_norm(unbiased: bool, eps_outside: bool) -> Callable:
    def alt(spec: Any, kw: dict[str, Any]) -> Any:
        x = np.asarray(kw["x"], dtype=np.float64)
        eps = kw.get("eps", 1e-5)
        n = x.shape[-1]
        mu = x.mean(axis=-1, keepdims=True)
        var = ((x - mu) ** 2).sum(axis=-1, keepdims=True) / (n - 1 if unbiased else n)
        y = (x - mu) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))
        g, b = kw.get("gamma"), kw.get("beta")
        return y * (1.0 if g is None else g) + (0.0 if b is None else b)

    return alt


# --- attention: fully masked rows ---------------------------------------------------------------


def _finite_mask(spec: Any, kw: dict[str, Any]) -> Any:
    """Masks as a large finite negative bias: a row that sees no key becomes uniform, so the
    output is the mean of the values (``masked_fill(mask, finfo.min)`` code)."""
    q, k = np.asarray(kw["q"]), np.asarray(kw["k"])
    t_q, t_k = q.shape[-2], k.shape[-2]
    hidden = np.zeros((t_q, t_k))
    bias = kw.get("bias")
    if bias is not None:
        hidden = hidden + np.where(np.isneginf(bias), _HIDDEN, bias)
    if kw.get("causal"):
        hidden = hidden + np.where(np.arange(t_k)[None, :] > np.arange(t_q)[:, None], _HIDDEN, 0)
    pad = kw.get("key_padding_mask")
    if pad is not None:
        hidden = hidden + np.where(np.asarray(pad)[..., None, None, :], _HIDDEN, 0.0)
    return spec.function(q, k, kw["v"], bias=hidden, scale=kw.get("scale"))


# --- the sinusoid's base, fitted -----------------------------------------------------------------


def fit_sinusoid_base(spec: Any, kw: dict[str, Any], got: list[np.ndarray]) -> list[Alternative]:
    """The base read off the subject's sin/cos pair of frequency index 1 at the smallest
    positive position, rounded to 3 digits, and the case recomputed with it."""
    d = kw.get("d")
    if kw.get("schedule", "transformer") != "transformer" or not isinstance(d, int) or d < 4:
        return []
    pos = _positions(kw["positions"]) + kw.get("offset", 0)
    y = np.asarray(got[0], dtype=np.float64)
    if y.shape != (*pos.shape, d) or not (pos > 0).any():
        return []
    flat = pos.ravel()
    k = int(np.argmin(np.where(flat > 0, flat, np.iinfo(np.int64).max)))
    row = y.reshape(-1, d)[k]
    s, c = (
        (row[2], row[3]) if kw.get("layout") in (None, "interleaved") else (row[1], row[d // 2 + 1])
    )
    omega = math.atan2(s, c) % (2 * math.pi) / float(flat[k])
    if not omega > 0:
        return []
    base = float(f"{omega ** (-d / 2):.3g}")
    asked = kw.get("base", 10000.0)
    if not math.isfinite(base) or base == asked:
        return []
    return [
        (
            f"base={base:g} instead of {asked:g}",
            lambda sp, kw2: sp.function(**{**kw2, "base": base}),
        )
    ]


#: Alternatives computed in a narrow dtype match up to a few of that dtype's ulps.
NARROW = {f"the angle computed in {dt}": dt for dt in ("bfloat16", "float16", "float32")}

#: Mistakes by spec id, tried in order (the generic layout/offset ones come after these).
MISTAKES: dict[str, list[Alternative]] = {
    "rope": [
        (f"the angle computed in {dt}", rope_narrow_angle(dt, usual))
        for dt in ("float32", "float16", "bfloat16")
        for usual in (True, False)
    ],
    "alibi": [
        ("ALiBi slopes of the naive 2^(-8h/H) for non-power-of-two H", _alibi_with(_naive_slopes)),
        ("slopes rounded to bfloat16", _alibi_with(lambda m, h: round_narrow(m, "bfloat16"))),
        ("slopes rounded to float16", _alibi_with(lambda m, h: round_narrow(m, "float16"))),
    ],
    "t5-bias": [("T5 buckets with the direction flipped (query - key)", _t5_flipped)],
    "layer-norm": [
        ("unbiased variance (divides by n-1)", _layer_norm(True, False)),
        ("eps added outside the square root", _layer_norm(False, True)),
        (
            "unbiased variance (divides by n-1) and eps outside the square root",
            _layer_norm(True, True),
        ),
    ],
    "attn-sdpa": [
        (
            "fully masked rows: yours returns the mean of the values, the spec returns 0",
            _finite_mask,
        )
    ],
}

#: Mistakes whose parameter is fitted from the subject's output: ``fit(spec, kw, got)``.
FITS: dict[str, Callable[[Any, dict[str, Any], list[np.ndarray]], list[Alternative]]] = {
    "pe-sinusoidal": fit_sinusoid_base,
}

#: Boolean and choice keywords whose other value is a known convention, with one line each.
CHOICES: dict[str, dict[str, dict[Any, str]]] = {
    "alibi": {
        "causal": {
            True: "causal ALiBi where symmetric is asked",
            False: "symmetric ALiBi where causal is asked",
        }
    },
    "pe-sinusoidal-2d": {
        "order": {
            "yx": "a 2-D table in (y, x) order (row first, MoCo v3) where (x, y) (column first, "
            "MAE) is asked",
            "xy": "a 2-D table in (x, y) order (column first, MAE) where (y, x) (row first, "
            "MoCo v3) is asked",
        }
    },
}
