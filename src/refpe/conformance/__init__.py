"""The conformance suite: every spec, on every backend, against every implementation.

``run(Plan(...))`` gives per-case verdicts; :func:`check` checks your own function in one
line; ``refpe conformance`` is the command-line face; the ``refpe_conformance`` pytest fixture
asserts conformance inside a library's own test suite.
"""

from .check import CheckReport, check, load, user_subject
from .outputs import NotApplicable
from .runner import Aborted, Plan, Result, run
from .subjects import Subject, register_subject, subjects

__all__ = [
    "Aborted",
    "CheckReport",
    "NotApplicable",
    "Plan",
    "Result",
    "Subject",
    "check",
    "load",
    "register_subject",
    "run",
    "subjects",
    "user_subject",
]
