"""Check your own function against a spec, in one line.

>>> from refpe.conformance import check
>>> report = check(my_sinusoid, spec="pe-sinusoidal")     # doctest: +SKIP
>>> report.ok, report.worst                                 # doctest: +SKIP

``func`` takes the arguments of the refpe public function for that spec (its page in the catalogue)
in the array library named by ``backend``; keywords it does not accept are not passed, and a
case that needs one is reported as skipped with the reason.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

import refpe
from refpe import backends as B

from . import distributions
from .runner import Plan, Result, run
from .subjects import Subject


class SubjectError(ValueError):
    """A subject that cannot be used at all (not importable, not callable)."""


def load(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` as the function it names."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise SubjectError(f"subject must look like 'package.module:function', got {target!r}")
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:
        raise SubjectError(f"cannot import {module!r} for subject {target!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SubjectError(f"{module!r} has no attribute {attr!r} (subject {target!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SubjectError(f"subject {target!r} is not callable")
    return obj


def _parameters(func: Callable[..., Any]) -> tuple[set[str], bool]:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return set(), True
    return set(params), any(p.kind is p.VAR_KEYWORD for p in params.values())


def user_subject(
    func: Callable[..., Any], spec: str, backend: str = "numpy", name: str | None = None
) -> Subject:
    """The Subject that feeds ``func`` the spec's cases as ``backend`` arrays."""
    s = refpe.spec(spec)
    b = B.get(backend)
    names, open_kwargs = _parameters(func)
    label = name or f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', func)}"

    def applies(case: Any) -> str | None:
        if open_kwargs:
            return None
        missing = [k for k in case.kwargs if k not in names]
        return f"the subject takes no {', '.join(map(repr, missing))} argument" if missing else None

    def call(host: dict[str, Any], dtype: str) -> Any:
        xp = b.namespace()
        kwargs: dict[str, Any] = {}
        for k, v in host.items():
            if isinstance(v, np.ndarray):
                v = b.asarray(v, dtype if v.dtype.kind == "f" else None, "cpu")
            kwargs[k] = v
        if s.creates:
            extra = {"dtype": getattr(xp, dtype), "xp": xp, "device": b.device_object("cpu")}
            kwargs.update({k: v for k, v in extra.items() if open_kwargs or k in names})
        with b.context(dtype):
            out = func(**kwargs)
        return _checked(B.to_host(out), label)

    kind = "statistical" if distributions.is_random(spec) else "value"
    dtypes = tuple(d for d in s.dtypes if d in b.dtypes("cpu"))
    return Subject(label, spec, b.module, call, dtypes=dtypes, applies=applies, kind=kind)


def _checked(out: Any, label: str) -> Any:
    items = out if isinstance(out, (tuple, list)) else (out,)
    for o in items:
        if not isinstance(o, (np.ndarray, np.generic, float, int)):
            raise TypeError(f"subject {label} returned {type(o).__name__}, not an array")
    return out


@dataclass
class CheckReport:
    """The verdicts of one check; ``ok`` when nothing failed and something passed."""

    results: list[Result]

    @property
    def ok(self) -> bool:
        verdicts = {r.verdict for r in self.results}
        return "pass" in verdicts and not verdicts & {"fail", "error"}

    @property
    def worst(self) -> float | None:
        errs = [r.error for r in self.results if r.error is not None and r.verdict != "skipped"]
        return max(errs) if errs else None

    def problems(self) -> list[Result]:
        return [r for r in self.results if r.verdict in ("fail", "error")]

    def __str__(self) -> str:
        lines = [f"{len(self.results)} cases, worst normalised error {self.worst}"]
        for r in self.results:
            if r.verdict != "pass":
                lines.append(
                    f"  {r.verdict}: {r.case} [{r.dtype}] err={r.error} K={r.K} "
                    f"{r.reason} {r.where} {r.diagnosis}".rstrip()
                )
        return "\n".join(lines)


def check(
    func: Callable[..., Any],
    spec: str,
    *,
    backend: str = "numpy",
    dtypes: Iterable[str] = (),
    name: str | None = None,
) -> CheckReport:
    """Run ``func`` on every case of ``spec`` and judge it with the spec's error model."""
    subject = user_subject(func, spec, backend, name)
    plan = Plan(specs=(spec,), dtypes=tuple(dtypes), subjects=("__none__",), extra=(subject,))
    return CheckReport(run(plan))
