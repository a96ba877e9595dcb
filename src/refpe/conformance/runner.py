"""The suite: run subjects on the spec cases and give each a verdict.

Every value is judged against the oracle's exact answer (:mod:`refpe.conformance.oracle`),
which shares no code with the reference, under the spec's two bounds
(:mod:`refpe.conformance.judge`). Verdicts: ``pass`` (within the exact bound), ``loose``
(beyond it, within the usual bound of the textbook evaluation in that dtype), ``fail``
(beyond both, or a bad input not refused), ``differs`` (a known, documented convention of
that library), ``skipped`` (with the reason) and ``error`` (the subject raised). ``fail`` and
``error`` make the run fail, and ``loose`` too unless it is accepted; a skipped backend or case
is never counted as passed.
"""

from __future__ import annotations

import copy
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

import refpe
from refpe import backends as B
from refpe.registry import Case, Spec

from . import diagnose, distributions, oracle
from .compare import as_arrays, ks_test
from .inputs import cast_inputs, host_inputs
from .judge import judge
from .outputs import NotApplicable, WrongOutput, wrong_output
from .subjects import Subject, subjects
from .warned import subject_warnings

REFERENCE = "refpe"


@dataclass
class Result:
    """One verdict: a subject on one case of one spec, in one dtype, on one device."""

    spec: str
    case: str
    subject: str
    backend: str
    device: str
    dtype: str
    mode: str
    verdict: str
    error: float | None = None
    K: float | None = None
    reason: str = ""
    where: str = ""
    diagnosis: str = ""
    seconds: float = 0.0
    kernel: str = "reference"
    #: The normalised error under the usual bound, and that bound's constant.
    error_usual: float | None = None
    K_usual: float | None = None
    #: The largest tested position within the exact bound (specs with positions).
    horizon: int | None = None
    #: ``[position, worst exact-normalised error]`` per tested position, ascending.
    curve: list[list[float]] = field(default_factory=list)
    #: What computed the exact answer (the oracle's arithmetic and version).
    oracle: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("error", "error_usual"):
            if d[key] is not None and not np.isfinite(d[key]):
                d[key] = "inf"
        d["curve"] = [[p, e if np.isfinite(e) else "inf"] for p, e in d["curve"]]
        return d


@dataclass
class Plan:
    """What to run: filters on specs, backends, devices, dtypes and subjects."""

    specs: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    compiled: bool = False
    torch_compile: bool = False
    extra: tuple[Subject, ...] = field(default_factory=tuple)
    #: Whether a subject's refusal of bad input must be the spec's exception type (refpe's
    #: own functions are always held to it).
    strict_errors: bool = False


class Aborted(Exception):
    """A subject ended the process (``SystemExit``) or was interrupted (``KeyboardInterrupt``):
    the run stops at ``result`` (an ``error`` verdict naming the case); ``results`` holds the
    verdicts reached so far, that one last."""

    def __init__(self, result: Result, results: list[Result]) -> None:
        super().__init__(f"{result.reason} ({result.spec} / {result.case} / {result.subject})")
        self.result, self.results = result, results


def exact(spec: Spec, case: Case, dtype: str) -> tuple[oracle.Exact, dict[str, Any]]:
    """The oracle's exact answer on the case's inputs rounded to ``dtype`` (cached in memory
    and on disk), and those inputs."""
    inputs = host_inputs(case, dtype)
    given = dict(inputs, dtype=dtype) if spec.creates else inputs
    return oracle.exact(spec.id, case.name, given), inputs


def reference_call(spec: Spec, backend: B.Backend, device: str, compiled: bool) -> Callable:
    """The refpe function run on ``backend`` (:meth:`refpe.backends.Backend.call`)."""
    fn = backend.compile(spec.function) if compiled else spec.function
    return lambda host, dtype: backend.call(fn, host, dtype, device, creates=spec.creates)


def _verdict_value(
    spec: Spec,
    case: Case,
    dtype: str,
    call: Callable,
    base: Result,
    statistical: bool,
    strict: bool = True,
) -> Result:
    t0 = time.perf_counter()
    if case.raises is not None:
        _refusal(spec, case, dtype, call, base, strict)
        base.seconds = time.perf_counter() - t0
        return base
    if statistical:
        raw = call(host_inputs(case, dtype), dtype)
        wrong = wrong_output(raw, [np.empty(tuple(case.kwargs["shape"]))], dtype)
        if wrong:
            base.verdict, base.reason = "fail", wrong
            return base
        cdf = distributions.CDFS[spec.id](case.kwargs)
        sample = as_arrays(raw)[0]
        test = ks_test(sample, cdf, case.kwargs.get("seed"))
        base.verdict = "pass" if test.ok else "fail"
        base.error, base.where = test.statistic, test.where
        if not test.ok:
            base.diagnosis = diagnose.explain_draw(spec, case, sample)
        base.seconds = time.perf_counter() - t0
        return base
    want, inputs = exact(spec, case, dtype)
    # The subject gets its own copy: what it does to its arguments (a dict it edits, an
    # array it writes to) cannot reach the oracle's inputs, the bounds, or the next case.
    raw = call(copy.deepcopy(inputs), dtype)
    base.seconds = time.perf_counter() - t0
    wrong = wrong_output(raw, want.hi, dtype)
    if wrong:
        base.verdict, base.reason = "fail", wrong
        return base
    got = as_arrays(raw)
    return _judged(spec, case, dtype, got, want, inputs, base)


def _refusal(
    spec: Spec, case: Case, dtype: str, call: Callable, base: Result, strict: bool
) -> None:
    """A bad-input case: any exception is a refusal (its type is reported); under ``strict``
    only the spec's type is."""
    assert case.raises is not None
    want = case.raises.__name__
    try:
        got = call(host_inputs(case, dtype), dtype)
    except (NotApplicable, WrongOutput):
        raise
    except Exception as exc:
        if isinstance(exc, case.raises):
            base.verdict, base.reason = "pass", f"refused: {type(exc).__name__}: {exc}"
        elif strict:
            base.verdict = "fail"
            base.reason = f"raised {type(exc).__name__} where the spec raises {want}"
        else:
            base.verdict = "pass"
            base.reason = (
                f"refused: {type(exc).__name__}: {exc} (the spec raises {want}; "
                "--strict-errors requires it)"
            )
    else:
        base.verdict = "fail"
        base.reason = f"returned a value where the spec raises {want}"
        base.diagnosis = diagnose.explain(spec, case, dtype, as_arrays(got), refused=True)


def _judged(
    spec: Spec,
    case: Case,
    dtype: str,
    got: list[np.ndarray],
    want: oracle.Exact,
    inputs: dict[str, Any],
    base: Result,
) -> Result:
    """``base`` filled with the judgement of ``got`` under the spec's two bounds."""
    strict, usual = spec.error.exact, spec.error.usual_bound
    nearest = want.nearest()
    shapes_match = len(got) == len(nearest) and all(
        y.shape == e.shape for y, e in zip(got, nearest, strict=True)
    )
    scales = [strict.bound_scale(inputs, e, dtype) for e in nearest] if shapes_match else []
    scales_usual = [usual.bound_scale(inputs, e, dtype) for e in nearest] if shapes_match else []
    positions = spec.positions(inputs) if spec.positions and shapes_match else None
    j = judge(
        got,
        want,
        dtype,
        K=strict.K_of(dtype),
        scale=scales,
        K_usual=usual.K_of(dtype),
        scale_usual=scales_usual,
        positions=None if positions is None else np.asarray(positions),
    )
    base.verdict, base.error, base.where = j.verdict, j.error, j.where
    base.K, base.error_usual, base.K_usual = j.K, j.error_usual, j.K_usual
    base.horizon, base.curve = j.horizon, [[p, e] for p, e in j.curve]
    base.oracle = f"{want.oracle} (oracle v{oracle.VERSION})"
    if j.verdict != "pass":
        base.diagnosis = diagnose.explain(spec, case, dtype, got)
    return base


def run_one(
    spec: Spec,
    case: Case,
    dtype: str,
    call: Callable,
    base: Result,
    statistical: bool = False,
    strict: bool = True,
) -> Result:
    """Run and judge one subject on one case; exceptions become ``error`` verdicts,
    :class:`NotApplicable` a ``skipped`` one, :class:`WrongOutput` a ``fail``.

    The subject's warnings (not refpe's own) are recorded in the result's ``reason``.
    ``SystemExit`` and ``KeyboardInterrupt`` are not swallowed: the result becomes an
    ``error`` naming them and :class:`Aborted` is raised by :func:`run`.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = _verdict_value(spec, case, dtype, call, base, statistical, strict)
        caught = subject_warnings(caught)
        if caught:
            note = "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in caught}))
            result.reason = f"{result.reason} (warned: {note})".strip()
        return result
    except NotApplicable as exc:
        base.verdict, base.reason = "skipped", f"not applicable: {exc}"
        return base
    except WrongOutput as exc:
        base.verdict, base.reason = "fail", str(exc)
        return base
    except Exception as exc:
        base.verdict = "error"
        base.reason = f"{type(exc).__name__}: {exc}"
        base.where = traceback.format_exc(limit=-2).strip().splitlines()[-3:][0].strip()
        return base
    except (SystemExit, KeyboardInterrupt) as exc:
        base.verdict = "error"
        base.reason = f"{type(exc).__name__}({exc}) raised by the subject: the run stopped here"
        base.where = traceback.format_exc(limit=-2).strip().splitlines()[-3:][0].strip()
        raise _Stop(base) from exc


class _Stop(BaseException):
    def __init__(self, result: Result) -> None:
        self.result = result


def _selected(spec: Spec, plan: Plan) -> bool:
    return not plan.specs or spec.id in plan.specs


def _dtypes(spec: Spec, plan: Plan, offered: Iterable[str]) -> list[str]:
    return [d for d in spec.dtypes if d in offered and (not plan.dtypes or d in plan.dtypes)]


def _cases(spec: Spec, statistical: bool) -> tuple[Case, ...]:
    if statistical:
        return distributions.STAT_CASES.get(spec.id, ())
    return spec.cases


@dataclass
class Job:
    """One verdict to reach: ``result`` is filled by running ``call``, or is final already."""

    result: Result
    spec: Spec | None = None
    case: Case | None = None
    call: Callable | None = None
    differs: str | None = None
    statistical: bool = False
    #: Whether a refusal must be the spec's exception type.
    strict: bool = True


def _final(spec: str, subject: str, backend: str, device: str, verdict: str, reason: str) -> Job:
    return Job(Result(spec, "*", subject, backend, device, "*", "eager", verdict, reason=reason))


def reference_jobs(plan: Plan) -> Iterator[Job]:
    """The reference on every backend, device, dtype and mode the plan selects."""
    if plan.subjects and REFERENCE not in plan.subjects:
        return
    for backend in B.backends():
        if plan.backends and backend.name not in plan.backends:
            continue
        reason = backend.available()
        if reason:
            yield _final("*", REFERENCE, backend.name, "*", "skipped", reason)
            continue
        for dev, why in backend.unavailable_devices().items():
            if not plan.devices or dev in plan.devices:
                yield _final("*", REFERENCE, backend.name, dev, "skipped", why)
        modes = ["eager"]
        if plan.compiled and backend.compiler and (backend.name != "torch" or plan.torch_compile):
            modes.append("compiled")
        for device in backend.devices():
            if plan.devices and not any(device.startswith(d) for d in plan.devices):
                continue
            for spec in filter(lambda s: _selected(s, plan), refpe.specs()):
                for mode in modes:
                    call = reference_call(spec, backend, device, mode == "compiled")
                    for dtype in _dtypes(spec, plan, backend.dtypes(device)):
                        for case in spec.cases:
                            if mode == "compiled" and case.raises is not None:
                                continue
                            result = Result(
                                spec.id, case.name, REFERENCE, backend.name, device, dtype, mode, ""
                            )
                            yield Job(result, spec, case, call)


def subject_jobs(plan: Plan, extra: Iterable[Subject] = ()) -> Iterator[Job]:
    """Jobs for registered adapters (built-ins, model libraries) and the user's subjects."""
    chosen = [s for s in subjects() if not plan.subjects or _named(s, plan.subjects)]
    if plan.backends:
        chosen = [s for s in chosen if s.library in plan.backends]
    for subj in [*chosen, *extra]:
        try:
            spec = refpe.spec(subj.spec)
        except KeyError as exc:
            yield _final(subj.spec, subj.name, subj.library, "cpu", "error", str(exc.args[0]))
            continue
        if not _selected(spec, plan):
            continue
        reason = subj.unavailable()
        if reason:
            yield _final(spec.id, subj.name, subj.library, "cpu", "skipped", reason)
            continue
        statistical = subj.kind == "statistical"
        call = _adapter_call(subj)
        for dtype in _dtypes(spec, plan, subj.dtypes):
            for case in _cases(spec, statistical):
                result = Result(
                    spec.id,
                    case.name,
                    subj.name,
                    subj.library,
                    "cpu",
                    dtype,
                    "eager",
                    "",
                    kernel=subj.convention.get("kernel", "reference"),
                )
                why = subj.skip(case)
                if why:
                    result.verdict, result.reason = "skipped", why
                    yield Job(result)
                    continue
                differs = subj.differs(case) if subj.differs else None
                yield Job(result, spec, case, call, differs, statistical, plan.strict_errors)


def _named(subj: Subject, names: tuple[str, ...]) -> bool:
    return any(n == subj.name or n == subj.library or n == "builtins" for n in names)


def _adapter_call(subj: Subject) -> Callable:
    return lambda host, dtype: subj.call(cast_inputs(host, dtype), dtype)


def run(
    plan: Plan | None = None, progress: Callable[[Result, int], None] | None = None
) -> list[Result]:
    """Run the plan; ``progress(result, total)`` is called after each verdict.

    Raises :class:`Aborted` (with the verdicts so far) when a subject exits or is interrupted.
    """
    plan = plan or Plan()
    jobs = [*reference_jobs(plan), *subject_jobs(plan, plan.extra)]
    results: list[Result] = []
    for job in jobs:
        result = job.result
        if job.call is not None:
            assert job.spec is not None and job.case is not None
            try:
                result = run_one(
                    job.spec, job.case, result.dtype, job.call, result, job.statistical, job.strict
                )
            except _Stop as stop:
                results.append(stop.result)
                raise Aborted(stop.result, results) from stop.__cause__
            if result.kernel == "auto":
                result.kernel = refpe.last_kernel() or "reference"
            if job.differs and result.verdict in ("loose", "fail", "error"):
                result.verdict, result.reason = "differs", f"differs by convention: {job.differs}"
        results.append(result)
        if progress:
            progress(result, len(jobs))
    return results
