"""Check your own function against a spec, in one line.

>>> from refpe.conformance import check
>>> report = check(my_sinusoid, spec="pe-sinusoidal")     # doctest: +SKIP
>>> report.ok, report.worst                                 # doctest: +SKIP

``func`` takes the arguments of the refpe public function for that spec (its page in the catalogue)
in the array library named by ``backend``; keywords it does not accept are not passed, and a
case that needs one is reported as skipped with the reason. Defaults are not assumed: a case
that relies on the refpe function's default for a convention (``layout='half'``,
``causal=True``: a keyword with a default other than ``None`` that other cases change) is
skipped when ``func`` does not take that keyword, unless ``supports`` declares the values
``func`` implements. ``func`` may raise :class:`NotApplicable` for a case its model does
not cover: the case is skipped with the message.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import refpe
from refpe import backends as B

from . import distributions
from .judge import describe_horizon, measured
from .outputs import NotApplicable, WrongOutput, wrong_device
from .report import failing, too_many_skipped
from .runner import Plan, Result, run
from .subjects import Subject

__all__ = ["CheckReport", "NotApplicable", "SubjectError", "check", "load", "user_subject"]


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


_MADE_BY_THE_SUITE = ("dtype", "xp", "device")


def conventions(spec: Any) -> dict[str, Any]:
    """The keywords of ``spec``'s refpe function whose default is a convention, with that
    default: a default other than ``None`` (``None`` leaves a feature off) that some case of
    the spec changes."""
    try:
        params = inspect.signature(spec.function).parameters
    except (TypeError, ValueError):
        return {}
    out = {}
    for k, p in params.items():
        if p.default is p.empty or p.default is None or k in _MADE_BY_THE_SUITE:
            continue
        if any(k in c.kwargs and _differ(c.kwargs[k], p.default) for c in spec.cases):
            out[k] = p.default
    return out


def _differ(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except Exception:  # arrays and the like: compared by identity
        return a is not b


def _supported(value: Any, allowed: Any) -> bool:
    values = allowed if isinstance(allowed, (set, frozenset, list, tuple)) else (allowed,)
    return any(not _differ(value, v) for v in values)


def user_subject(
    func: Callable[..., Any],
    spec: str,
    backend: str = "numpy",
    name: str | None = None,
    supports: Mapping[str, Any] | None = None,
) -> Subject:
    """The Subject that feeds ``func`` the spec's cases as ``backend`` arrays.

    ``supports`` maps keywords of the spec to the value (or set of values) ``func``
    implements; cases asking for another value are skipped as not applicable, and a keyword
    ``func`` does not take is then not passed (its value is the declared one).
    """
    s = refpe.spec(spec)
    b = B.get(backend)
    names, open_kwargs = _parameters(func)
    label = name or f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', func)}"
    supports = dict(supports or {})
    known = set(inspect.signature(s.function).parameters) if callable(s.function) else set()
    unknown = sorted(set(supports) - known) if known else []
    if unknown:
        raise ValueError(f"supports names no keyword of {spec!r}: {unknown!r}")
    defaults = conventions(s)
    takes = (lambda k: True) if open_kwargs else names.__contains__

    def applies(case: Any) -> str | None:
        for k, allowed in supports.items():
            value = case.kwargs.get(k, defaults.get(k, _UNSET))
            if value is not _UNSET and not _supported(value, allowed):
                return f"not applicable: the subject supports {k}={allowed!r}, the case {value!r}"
        missing = [k for k in case.kwargs if not takes(k) and k not in supports]
        if missing:
            return f"the subject takes no {', '.join(map(repr, missing))} argument"
        relied = [
            f"{k}={v!r}"
            for k, v in defaults.items()
            if k not in case.kwargs and not takes(k) and k not in supports
        ]
        if relied:
            return (
                f"the case relies on the default {', '.join(relied)}, a keyword the subject "
                "does not take (declare supports= to run it)"
            )
        return None

    def checked(**kwargs: Any) -> Any:
        out = func(**kwargs)
        _checked(out, label)
        device = b.device_object("cpu")
        wrong = wrong_device(out, b.owns, device, b.name)
        if wrong:
            raise WrongOutput(wrong)
        return out

    def call(host: dict[str, Any], dtype: str) -> Any:
        accepts = None if open_kwargs else names
        given = {k: v for k, v in host.items() if takes(k)}
        return b.call(checked, given, dtype, creates=s.creates, accepts=accepts, dtype_object=True)

    kind = "statistical" if distributions.is_random(spec) else "value"
    dtypes = tuple(d for d in s.dtypes if d in b.dtypes("cpu"))
    return Subject(label, spec, b.module, call, dtypes=dtypes, applies=applies, kind=kind)


_UNSET = object()


def _checked(out: Any, label: str) -> Any:
    """``out`` when it is arrays (of any library) or numbers; a ``TypeError`` (an ``error``
    verdict) for anything else. Numbers are then failed by :func:`wrong_device`."""
    items = out if isinstance(out, (tuple, list)) else (out,)
    for o in items:
        is_array = hasattr(o, "dtype") and hasattr(o, "shape")
        if not (is_array or isinstance(o, (bool, int, float, complex))):
            raise TypeError(f"subject {label} returned {type(o).__name__}, not an array")
    return out


@dataclass
class CheckReport:
    """The verdicts of one check; ``ok`` when something passed and nothing failed: no ``fail``
    or ``error``, no ``loose`` unless it is in ``accept``, and no more than half of the cases
    skipped unless ``"skipped"`` is in ``accept``."""

    results: list[Result]
    accept: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        verdicts = {r.verdict for r in self.results}
        if "skipped" not in self.accept and self.mostly_skipped:
            return False
        return "pass" in verdicts and not verdicts & failing(self.accept)

    @property
    def mostly_skipped(self) -> str:
        """Why more than half of the cases were skipped (``""`` when they were not)."""
        return "; ".join(too_many_skipped(self.results).values())

    @property
    def worst(self) -> float | None:
        errs = [r.error for r in self.results if r.error is not None and r.verdict != "skipped"]
        return max(errs) if errs else None

    def problems(self) -> list[Result]:
        bad = failing(self.accept)
        return [r for r in self.results if r.verdict in bad]

    def __str__(self) -> str:
        lines = [f"{len(self.results)} cases, worst normalised error {self.worst}"]
        if self.mostly_skipped:
            lines.append(f"  {self.mostly_skipped}")
        for r in self.results:
            if r.verdict != "pass":
                reach = describe_horizon(r.horizon, [tuple(c) for c in r.curve], r.K or 0.0)
                lines.append(
                    f"  {r.verdict}: {r.case} [{r.dtype}] {measured(r.error, r.K, r.verdict)}"
                    f"{f'[{reach}] ' if reach else ''}{r.reason} {r.where} {r.diagnosis}".rstrip()
                )
        return "\n".join(lines)


def check(
    func: Callable[..., Any],
    spec: str,
    *,
    backend: str = "numpy",
    dtypes: Iterable[str] = (),
    name: str | None = None,
    accept: Iterable[str] = (),
    supports: Mapping[str, Any] | None = None,
    strict_errors: bool = False,
) -> CheckReport:
    """Run ``func`` on every case of ``spec`` and judge it against the exact answer.

    ``accept=("loose",)`` lets results beyond the exact bound but within the usual one (what
    computing the formula in that dtype usually gives) count as ``ok``; ``("skipped",)`` lets
    a check where more than half of the cases were skipped count as ``ok``. ``supports``
    declares the conventions ``func`` implements (see :func:`user_subject`). A bad-input case
    passes when ``func`` raises any exception (its type is reported); ``strict_errors=True``
    requires the spec's type (``ValueError``).

    A ``SystemExit`` or ``KeyboardInterrupt`` from ``func`` stops the check:
    :class:`refpe.conformance.runner.Aborted` is raised, naming the case.
    """
    accept = tuple(accept)
    failing(accept)  # an unknown verdict is refused before anything runs
    subject = user_subject(func, spec, backend, name, supports)
    plan = Plan(
        specs=(spec,),
        dtypes=tuple(dtypes),
        subjects=("__none__",),
        extra=(subject,),
        strict_errors=strict_errors,
    )
    return CheckReport(run(plan), accept)
