"""The conventions crosswalk: which layout, schedule, dtype and offset each library uses.

Every row comes from a registered :class:`~refpe.conformance.subjects.Subject`'s
``convention`` (the adapters record it next to the code that calls the library), so the
table cannot drift from what the suite checks. ``refpe conventions --json`` prints it.
"""

from __future__ import annotations

import json
from typing import Any

from .subjects import subjects

#: Columns every row has (empty where a convention does not apply), in display order.
COLUMNS = (
    "library",
    "subject",
    "spec",
    "layout",
    "schedule",
    "frequency dtype",
    "offset",
    "scalings",
    "notes",
    "available",
)


def crosswalk(spec: str | None = None) -> list[dict[str, str]]:
    """One row per subject that records a convention, sorted by spec, library and subject.

    The row has :data:`COLUMNS` (``library`` from the subject unless its convention names
    the library it transcribes) and any further keys the subject's convention records, which
    ``notes`` also lists as ``key: value; ...`` so that a table of :data:`COLUMNS` alone
    shows everything; ``available`` is ``"yes"`` or the reason the subject cannot run here.
    """
    rows = []
    for s in subjects(spec):
        if not s.convention:
            continue
        row: dict[str, str] = dict.fromkeys(COLUMNS, "")
        row |= {"library": s.library, "subject": s.name, "spec": s.spec}
        row |= {str(k): str(v) for k, v in s.convention.items()}
        extra = [k for k in s.convention if k not in COLUMNS]
        row["notes"] = "; ".join(f"{k}: {s.convention[k]}" for k in extra)
        row["available"] = s.unavailable() or "yes"
        rows.append(row)
    return sorted(rows, key=lambda r: (r["spec"], r["library"], r["subject"]))


def crosswalk_json(spec: str | None = None, *, indent: int | None = 2) -> str:
    """:func:`crosswalk` as JSON: ``{"columns": [...], "rows": [...]}``."""
    data: dict[str, Any] = {"columns": list(COLUMNS), "rows": crosswalk(spec)}
    return json.dumps(data, indent=indent, ensure_ascii=False)
