"""The refpe.specs subpackage and the refpe.specs() function share a name; imports run one way.

``refpe/__init__.py`` imports the subpackage (which sets the attribute ``refpe.specs`` to the
module) and binds the public function afterwards. These tests run in a fresh interpreter, so
that importing a specs module first is what actually happens.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import refpe

PACKAGE = Path(refpe.__file__).resolve().parent


def run_fresh(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )


def test_specs_is_the_function_after_importing_a_specs_module_first():
    run = run_fresh(
        "import sys\n"
        "import refpe.specs.rotary\n"
        "import refpe\n"
        "assert callable(refpe.specs), type(refpe.specs)\n"
        "ids = [s.id for s in refpe.specs()]\n"
        "assert ids[0] == 'token-lookup' and 'rope' in ids, ids\n"
        "assert refpe.spec('rope').function is refpe.rotary.rope\n"
        "assert sys.modules['refpe.specs'].rotary is sys.modules['refpe.specs.rotary']\n"
        "from refpe.specs import rotary\n"
        "assert rotary is sys.modules['refpe.specs.rotary']\n"
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_specs_and_spec_in_this_process():
    assert callable(refpe.specs) and callable(refpe.spec)
    assert refpe.spec("pe-sinusoidal").id == "pe-sinusoidal"
    assert len(refpe.specs()) == len({s.id for s in refpe.specs()})


def imports_of(path: Path) -> list[ast.ImportFrom | ast.Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def formula_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.glob("*.py")) if p.name != "__init__.py"]


def test_no_formula_module_imports_the_specs():
    for path in formula_modules():
        for node in imports_of(path):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
                if node.level == 0:
                    names = [n.removeprefix("refpe.") for n in names if n.startswith("refpe")]
            else:
                names = [a.name.removeprefix("refpe.") for a in node.names]
            hits = [n for n in names if n == "specs" or n.startswith("specs.") or "_specs" in n]
            assert not hits, f"{path.name} line {node.lineno} imports {hits}"


def test_specs_modules_use_no_private_formula_name():
    for path in sorted((PACKAGE / "specs").glob("*.py")):
        for node in imports_of(path):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module != "registry":
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"specs/{path.name} imports {private} from {node.module}"
