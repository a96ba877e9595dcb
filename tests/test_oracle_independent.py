"""The oracle shares no code with the reference: no module of ``refpe.conformance.oracle``
imports anything from refpe but the oracle package itself (relative imports within it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import refpe.conformance.oracle as oracle

PACKAGE = "refpe.conformance.oracle"
MODULES = sorted(Path(oracle.__file__).parent.rglob("*.py"))


def forbidden_imports(source: str) -> list[str]:
    """Every module named by an import in ``source`` that is refpe but not the oracle package."""
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1:  # from .. import x: out of the oracle package
                bad.append("." * node.level + (node.module or ""))
                continue
            names = [] if node.level == 1 else [node.module or ""]
        else:
            continue
        for name in names:
            if (name == "refpe" or name.startswith("refpe.")) and not (
                name == PACKAGE or name.startswith(PACKAGE + ".")
            ):
                bad.append(name)
    return bad


def test_modules_found() -> None:
    assert {"_core.py", "__init__.py"} <= {p.name for p in MODULES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_oracle_module_imports_nothing_of_the_reference(path: Path) -> None:
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import refpe",
        "import refpe.positional",
        "from refpe import rotary",
        "from refpe.rotary import rope_inv_freq",
        "from refpe._compat import namespace",
        "from .. import runner",
        "from ...positional import frequencies",
        "def f():\n    from refpe.backends import numpy\n",
    ],
)
def test_a_planted_import_is_caught(source: str) -> None:
    assert forbidden_imports(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import numpy, mpmath, math, hashlib, os, tempfile",
        "from fractions import Fraction",
        "from pathlib import Path",
        "from ._core import DIGITS",
        "from . import positional",
        "from refpe.conformance.oracle import _core",
        "import refpe.conformance.oracle._core",
    ],
)
def test_allowed_imports_pass(source: str) -> None:
    assert forbidden_imports(source) == []
