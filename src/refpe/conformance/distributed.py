"""The conformance suite spread over Dask workers (``refpe conformance --workers N``,
``--scheduler ADDRESS``), with the results of the sequential run, in its order.

The plan is split into independent pieces, one :class:`~refpe.conformance.runner.Plan` per
backend × spec for the reference, one per other subject (named alone) and one for the
user's subjects; each piece is
:func:`refpe.conformance.runner.run` on a worker. The pieces are merged back in the
sequential run's order: the reference backend by backend (in :func:`refpe.backends.backends`
order), within one its "skipped" notes first, then device by device, spec by spec (registry
order); then the other subjects in the registry's order, then the user's. A note that every
piece of a backend repeats (the backend or a device unavailable) is kept once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from .runner import Plan, Result, run
from .subjects import subjects

__all__ = ["pieces", "run_distributed", "run_piece"]

REFERENCE = "refpe"


def pieces(plan: Plan) -> list[Plan]:
    """The independent pieces of ``plan``, in the order their results are merged."""
    import refpe
    from refpe import backends as B

    specs = [s.id for s in refpe.specs() if not plan.specs or s.id in plan.specs]
    out = []
    if not plan.subjects or REFERENCE in plan.subjects:
        for backend in B.backends():
            if plan.backends and backend.name not in plan.backends:
                continue
            for spec in specs:
                out.append(
                    dataclasses.replace(
                        plan, specs=(spec,), backends=(backend.name,), subjects=(REFERENCE,),
                        extra=(),
                    )
                )  # fmt: skip
    for subj in subjects():  # the sequential run's subject order: the registry's
        named = any(n in (subj.name, subj.library, "builtins") for n in plan.subjects)
        if (plan.subjects and not named) or (plan.backends and subj.library not in plan.backends):
            continue
        if plan.specs and subj.spec not in plan.specs:
            continue
        out.append(dataclasses.replace(plan, subjects=(subj.name,), extra=()))
    if plan.extra:
        out.append(dataclasses.replace(plan, subjects=("__none__",)))
    return out


def run_piece(piece: Plan) -> list[Result]:
    """:func:`runner.run` on a Dask worker. The Dask reference computes its arrays on the
    local threaded scheduler, as in a sequential run: inside a worker Dask's default is the
    cluster itself, which would send every small graph back through the scheduler (20x
    slower, and the cluster's workers busy with each other's pieces)."""
    import dask

    with dask.config.set(scheduler="threads"):
        return run(piece)


def _is_reference(piece: Plan) -> bool:
    return piece.subjects == (REFERENCE,)


def _note(r: Result) -> tuple | None:
    """The identity of a note that every piece of a backend repeats (the backend or a device
    unavailable), else ``None``."""
    if r.case == "*" and r.dtype == "*":
        return (r.spec, r.subject, r.backend, r.device, r.verdict, r.reason)
    return None


def merge(done: list[tuple[Plan, list[Result]]], plan: Plan) -> list[Result]:
    """The pieces' results as one list in the sequential order (see the module docstring)."""
    merged: list[Result] = []
    seen_notes: set[tuple] = set()
    by_backend: dict[str, list[Result]] = {}
    for piece, results in done:
        if not _is_reference(piece):
            continue
        group = by_backend.setdefault(piece.backends[0], [])
        for r in results:
            key = _note(r)
            if key is not None:
                if key in seen_notes:
                    continue
                seen_notes.add(key)
            group.append(r)
    for group in by_backend.values():
        devices = list(dict.fromkeys(r.device for r in group if r.case != "*"))
        # stable: notes first, then device by device; spec order kept within a device
        group.sort(key=lambda r: -1 if r.case == "*" else devices.index(r.device))
        merged.extend(group)
    for piece, results in done:
        if not _is_reference(piece):
            merged.extend(results)
    return merged


def _client(workers: int | None, scheduler: str | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        yield client


def run_distributed(
    plan: Plan | None = None,
    progress: Callable[[Result, int], None] | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
) -> list[Result]:
    """Run ``plan`` on a ``LocalCluster`` of ``workers`` processes (or the scheduler at
    ``scheduler``, or the given ``client``: a ``distributed.Client`` or any
    ``concurrent.futures`` executor); the same results as :func:`runner.run`, in its
    order. ``progress(result, total)`` is called as the pieces' results arrive (``total``:
    the results counted so far plus an estimate of one per piece still running)."""
    plan = plan or Plan()
    if client is None:
        if not workers and not scheduler:
            raise ValueError("give workers (a number of processes), scheduler or client")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        gen = _client(workers, scheduler)
        client = next(gen)
        try:
            return _run(plan, progress, client)
        finally:
            gen.close()
    return _run(plan, progress, client)


def _run(plan: Plan, progress: Any, client: Any) -> list[Result]:
    import concurrent.futures

    parts = pieces(plan)
    if isinstance(client, concurrent.futures.Executor):
        as_completed = concurrent.futures.as_completed
        futures = {client.submit(run, piece): i for i, piece in enumerate(parts)}
    else:
        from distributed import as_completed

        futures = {client.submit(run_piece, piece, pure=False): i for i, piece in enumerate(parts)}
    done: list[list[Result] | None] = [None] * len(parts)
    arrived, notes = 0, set()
    for future in as_completed(futures):
        i = futures.pop(future)
        done[i] = future.result()
        if hasattr(future, "release"):  # the worker may drop the result once it is here
            future.release()
        del future
        arrived += 1
        if progress:
            left = len(parts) - arrived
            fresh = [r for r in done[i] if _note(r) is None or _note(r) not in notes]
            notes.update(_note(r) for r in fresh)
            count = sum(len(r) for r in done if r is not None)
            for result in fresh:
                progress(result, count + left)
    return merge(list(zip(parts, done, strict=True)), plan)  # type: ignore[arg-type]
