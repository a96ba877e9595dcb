"""The package's shape: imports run one way between its layers, no circles, short files.

Layers, highest first: cli -> bench -> conformance -> refpe (the package's face) -> backends
-> kernels -> specs -> formulas -> registry. A module may import its own layer and the layers
below it, never one above. The check parses every module's imports (``ast``), so it sees
function-level imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "refpe"

#: Rank of each layer: a module may import modules of equal or lower rank only. ``top`` is the
#: package's face (``refpe/__init__.py``: the formulas, their specs and the dispatching hot
#: functions); the suite, the bench and the command use refpe through it, as users do.
RANKS = {
    "cli": 7,
    "bench": 6,
    "conformance": 5,
    "top": 4.5,
    "backends": 4,
    "kernels": 3,
    "specs": 2,
    "formulas": 1,
    "registry": 0,
}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    if module == "refpe":
        return "top"
    if module == "refpe.__main__":
        return "cli"
    if len(parts) > 1 and parts[1] in RANKS:
        return parts[1]
    if module == "refpe.registry":
        return "registry"
    return "formulas"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(module: str, path: Path) -> set[str]:
    """The refpe modules ``module`` imports (absolute and relative, at any depth)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "refpe")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "refpe":
                continue
            modules = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
            found.update(modules)  # ``from . import positional`` imports that module
            if len(modules) < len(node.names):
                found.add(target)  # ``from .registry import spec`` imports names of a module
    found.discard(module)
    return found


MODULES = _modules()
GRAPH = {m: {i for i in _imports(m, p) if i in MODULES} for m, p in MODULES.items()}


def test_the_layers_exist():
    for layer in ("registry", "specs", "kernels", "backends", "conformance", "bench", "cli"):
        assert any(_layer(m) == layer for m in MODULES), f"no module in layer {layer!r}"


def test_imports_run_one_way():
    upward = []
    for module, imported in GRAPH.items():
        mine = _layer(module)
        for target in imported:
            theirs = _layer(target)
            if RANKS[theirs] > RANKS[mine]:
                upward.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert not upward, "imports that run upward:\n" + "\n".join(sorted(upward))


def test_formulas_do_not_import_their_specs():
    wrong = [
        f"{m} imports {t}"
        for m, ts in GRAPH.items()
        for t in ts
        if _layer(m) == "formulas" and _layer(t) == "specs"
    ]
    assert not wrong, "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    # a package's __init__ importing its own submodules, which import names back from the
    # package, is a circle too: every module here imports its siblings directly instead
    assert _cycles() == []


def test_a_planted_circle_is_found(monkeypatch):
    some, other = "refpe.registry", "refpe.positional"
    monkeypatch.setitem(GRAPH, some, GRAPH[some] | {other})
    monkeypatch.setitem(GRAPH, other, GRAPH[other] | {some})
    assert any({some, other} <= set(c) for c in _cycles())


def test_a_planted_upward_import_is_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "refpe.positional", GRAPH["refpe.positional"] | {"refpe.cli"})
    with pytest.raises(AssertionError, match=r"refpe\.positional"):
        test_imports_run_one_way()


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_files_are_short(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines (at most {MAX_LINES})"
