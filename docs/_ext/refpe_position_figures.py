"""Error against position, the picture users came for: on the rope, pe-sinusoidal and alibi
pages, the normalised error of refpe and of each third-party implementation, in float32 and
bfloat16, from position 1 to 2^24 (log x), with each curve's horizon marked.

The curves come from the conformance report when its results carry them (``curve``: a list
of ``[position, normalised error]``, and ``horizon``, from ``refpe-conformance/2``). Until
then they are computed here (:func:`sweep_curves`) the way the runner will: the case's exact
answer from the independent oracle (:func:`refpe.conformance.oracle.exact`), each
implementation's result on the same inputs, the spec's own error model
(``ErrorModel.bound_scale``) and :func:`refpe.conformance.judge.horizon`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

#: Positions of the sweep: log-spaced from 1 to 2^24.
POSITIONS = np.unique(np.geomspace(1, 2**24, 33).astype(np.int64))
DTYPES = ("float32", "bfloat16")

Curve = tuple[str, str, list[tuple[int, float]], int | None]  # label, dtype, curve, horizon


def _sweep_inputs(spec_id: str) -> dict[str, Any] | None:
    rng = np.random.default_rng(2024)
    if spec_id == "rope":
        # Values a bfloat16 holds exactly, so every dtype rotates the same vectors.
        x = rng.standard_normal((POSITIONS.size, 64))
        x = np.asarray(x.astype(np.float32).view(np.uint32) & 0xFFFF0000, np.uint32)
        return {"x": x.view(np.float32).astype(np.float64), "positions": POSITIONS}
    if spec_id == "pe-sinusoidal":
        return {"positions": POSITIONS, "d": 64}
    if spec_id == "alibi":
        return None  # the bias at distance 2^24 needs a (heads, 1, 2^24) table: from reports only
    return None


def _positions_of(spec: Any, inputs: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    if getattr(spec, "positions", None) is not None:
        return np.broadcast_to(np.asarray(spec.positions(inputs)), shape)
    return np.broadcast_to(np.asarray(inputs["positions"])[:, None], shape)


def _candidates(spec: Any) -> list[tuple[str, Callable[[dict, str], Any], tuple[str, ...]]]:
    """refpe on PyTorch, then every installed third-party subject of the spec."""
    import refpe.backends as B
    from refpe.conformance import subjects

    torch_backend = B.get("torch")

    def ours(host: dict, dtype: str) -> Any:
        args = {
            k: torch_backend.asarray(v, dtype if v.dtype.kind == "f" else None, "cpu")
            if isinstance(v, np.ndarray)
            else v
            for k, v in host.items()
        }
        if spec.creates:
            args.update(dtype=dtype, xp=torch_backend.namespace())
        return B.to_host(spec.function(**args))

    found = [("refpe (PyTorch)", ours, DTYPES)]
    for s in subjects():
        if s.spec != spec.id or s.name.startswith("kernel:") or s.kind != "value":
            continue
        if s.unavailable():
            continue
        found.append((s.name, s, tuple(d for d in DTYPES if d in s.dtypes)))
    return found


def sweep_curves(spec: Any) -> list[Curve]:
    """Each candidate's error against position on the sweep, in float32 and bfloat16; a
    library of another layout is run on the same sweep in its own layout."""
    from refpe.conformance import oracle
    from refpe.conformance.judge import horizon
    from refpe.conformance.runner import cast_inputs
    from refpe.registry import EPS, Case

    base = _sweep_inputs(spec.id)
    if base is None:
        return []
    variants = [base]
    if "layout" in spec.domain and spec.id == "rope":
        variants.append(base | {"layout": "interleaved"})
    exacts: dict[int, Any] = {}
    out: list[Curve] = []
    for label, fn, dtypes in _candidates(spec):
        subject = fn if hasattr(fn, "call") else None
        chosen = None
        for n, inputs in enumerate(variants):
            case = Case(f"docs: error against position {n}", inputs)
            if subject is None or not (
                subject.skip(case) or (subject.differs and subject.differs(case))
            ):
                chosen = n, case
                break
        if chosen is None:
            continue
        n, case = chosen
        if n not in exacts:
            exacts[n] = oracle.exact(spec.id, case.name, dict(case.kwargs))
        exact = exacts[n]
        for dtype in dtypes:
            host = dict(case.kwargs)
            try:
                got = subject.call(cast_inputs(host, dtype), dtype) if subject else fn(host, dtype)
            except Exception:
                continue
            y = np.asarray(got[0] if isinstance(got, (tuple, list)) else got, dtype=np.float64)
            err = exact.errors([y])[0]
            scale = spec.error.bound_scale(host, exact.hi[0], dtype)
            with np.errstate(divide="ignore", invalid="ignore"):
                norm = np.where(err == 0, 0.0, err / (EPS[dtype] * scale))
            reach, curve = horizon(
                _positions_of(spec, host, norm.shape), norm, spec.error.K_of(dtype)
            )
            out.append((label, dtype, curve, reach))
    return out


def report_curves(spec_id: str, report: dict[str, Any] | None) -> list[Curve]:
    """The curves the conformance run recorded for ``spec_id`` (none before schema 2): each
    implementation's worst error per position over the cases, its horizon read off that merged
    curve, and implementations whose curves are identical merged into one labelled curve.
    refpe's own kernels (``kernel:``) are on the kernels guide, not here."""
    if not report:
        return []
    merged: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    bound: dict[tuple[str, str], float] = {}
    for r in report.get("results", []):
        if r.get("spec") != spec_id or not r.get("curve") or r.get("dtype") not in DTYPES:
            continue
        if str(r.get("subject", "")).startswith("kernel:"):
            continue
        key = (r["subject"] if r["subject"] != "refpe" else f"refpe ({r['backend']})", r["dtype"])
        for p, e in r["curve"]:
            merged[key][int(p)] = max(merged[key].get(int(p), 0.0), float(e))
        if r.get("K") is not None:
            bound[key] = float(r["K"])
    same: dict[tuple[str, tuple], list[str]] = defaultdict(list)
    for (label, dtype), points in merged.items():
        same[(dtype, tuple(sorted(points.items())))].append(label)
    return [
        (_joined(labels), dtype, list(points), _reach(points, bound.get((labels[0], dtype))))
        for (dtype, points), labels in same.items()
    ]


def _joined(labels: list[str]) -> str:
    """``refpe (numpy)``, ``refpe (torch)`` -> ``refpe (numpy, torch)``; others joined by ``=``."""
    ours = [x[len("refpe (") : -1] for x in labels if x.startswith("refpe (")]
    rest = [x for x in labels if not x.startswith("refpe (")]
    return " = ".join(([f"refpe ({', '.join(ours)})"] if ours else []) + rest)


def _reach(points: tuple[tuple[int, float], ...], K: float | None) -> int | None:
    """The largest position up to which every point is within ``K``."""
    if K is None:
        return None
    reach = None
    for p, e in points:
        if e > K:
            break
        reach = p
    return reach


def _binned(curve: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The worst point of each quarter octave: a curve of thousands of distances stays legible;
    the line breaks (NaN) over two octaves that were not tested, instead of joining them."""
    best: dict[int, tuple[int, float]] = {}
    for q, v in curve:
        p, e = max(q, 1), max(v, 1e-3)
        b = int(np.floor(4 * np.log2(p)))
        if b not in best or e > best[b][1]:
            best[b] = (p, e)
    out: list[tuple[int, float]] = []
    bins = sorted(best)
    for prev, b in zip([None, *bins], bins, strict=False):
        if prev is not None and b - prev > 8:
            out.append((best[b][0], float("nan")))
        out.append(best[b])
    return out


def _power(p: int | None) -> str:
    if p is None:
        return "none (above K from the first position)"
    return f"2^{p.bit_length() - 1}" if p > 0 and p & (p - 1) == 0 else f"{p:,}"


def error_figure(spec: Any, curves: list[Curve], source: str) -> Any:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 5.6), sharey=True, constrained_layout=True)
    styles = ("-", "--", "-.", ":")
    markers = ("o", "s", "^", "d", "v", "x", "+")
    labels = list(dict.fromkeys(c[0] for c in curves))
    top = max([*spec.error.K.values(), *(v for c in curves if c[1] in DTYPES for _, v in c[2])])
    what = "key distance |i - j|" if spec.id == "alibi" else "position p"
    for ax, dtype in zip(axes, DTYPES, strict=True):
        K = spec.error.K_of(dtype)
        for label, dt, curve, reach in curves:
            if dt != dtype or not curve:
                continue
            n = labels.index(label)
            p, e = zip(*_binned(curve), strict=True)
            text = f"{label}; horizon {_power(reach)}"
            line = ax.loglog(p, e, ls=styles[n % 4], marker=markers[n % 7], ms=3, lw=1.2,
                             label=text)  # fmt: skip
            if reach is not None:
                ax.axvline(max(reach, 1), color=line[0].get_color(), lw=0.8, ls=":")
        ax.axhline(K, color="k", lw=0.8, label=f"exact bound K = {K:g}")
        ax.set_ylim(1e-3 / 1.5, top * 3)  # one y scale for both panels (sharey)
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, 2**24 * 1.5)
        ax.set_title(dtype)
        ax.set_xlabel(f"{what} (log scale, 1 to 2^24)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.2))  # below: hides nothing
    axes[0].set_ylabel(
        "worst |y - exact| / (eps(dtype) · scale)\n(normalised error, clipped at 1e-3)"
    )
    noun = "distance" if spec.id == "alibi" else "position"
    fig.suptitle(f"{spec.id}: error against {noun} ({source})")
    return fig


CAPTIONS = {
    "rope": "Normalised error of each RoPE implementation against the exact rotation, per "
    "position. Below the black line (the exact bound K) a result passes; a dotted vertical "
    "line marks where an implementation's error first leaves the bound (its horizon). "
    "Implementations that round the angle p·θ in float32 grow with p; refpe reduces the phase "
    "exactly and stays flat. Curves that coincide are drawn over each other with different "
    "markers.",
    "pe-sinusoidal": "Normalised error of the sinusoid table against the exact table, per "
    "position p from 1 to 2^24 (log scale), left float32, right bfloat16; the black line is the "
    "exact bound K = 1 and a dotted vertical line marks an implementation's horizon. refpe "
    "stays flat below K on every backend (one curve: the backends coincide). The transcribed "
    "tensor2tensor and fairseq tables (their t2t schedule, float32 only) round the angle p·ω "
    "in float32: their error grows with p and leaves the bound within the first positions.",
    "alibi": "Normalised error of the ALiBi bias against the exact m_h·(j - i), per key "
    "distance |i - j| from 1 to 2^24 (log scale; windows of keys near 2^12, 2^16, 2^20 and "
    "2^24), left float32, right bfloat16, worst point per quarter octave. refpe stays below "
    "the exact bound K = 1 (the black line) at every distance on every backend (one curve: "
    "the backends coincide). transformers' Bloom ALiBi is causal only, so it is drawn for the "
    "short causal cases and not on the symmetric distance sweep; it is above K and within "
    "its usual bound (loose).",
}


def figures(
    report: dict[str, Any] | None, spec_ids: set[str]
) -> dict[str, tuple[str, str, Callable[[Any], Any]]]:
    """The error-against-position figure of each of ``spec_ids`` that has one; its curves
    (the report's, else computed) are made when the figure is drawn."""
    import refpe

    made = {}
    for sid in CAPTIONS:
        if sid not in spec_ids or (sid == "alibi" and not report_curves(sid, report)):
            continue  # ALiBi's bias to distance 2^24 is too large to compute here

        def draw(_: Any, sid: str = sid) -> Any:
            spec = refpe.spec(sid)
            curves, source = report_curves(spec.id, report), "the conformance run's curves"
            if not curves:
                curves, source = sweep_curves(spec), "computed against the oracle"
            return error_figure(spec, curves, source)

        made[sid] = ("error-vs-position", CAPTIONS[sid], draw)
    return made
