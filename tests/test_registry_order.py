"""The catalogue order is written once: the imports of refpe/specs/__init__.py.

``refpe.specs()`` returns the specs in registration order; each family module registers its
specs at import, in the order its source lists them. So the order is the list of imports in
``specs/__init__.py``, then source order within each module, and the README's spec table
follows it. A formula module that imported a specs module itself would register that family
early and break the first test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import refpe

SPECS_DIR = Path(refpe.__file__).resolve().parent / "specs"
README = Path(__file__).resolve().parents[1] / "README.md"


def listed_families() -> list[str]:
    """The family modules ``specs/__init__.py`` imports (``from . import x``), in order."""
    tree = ast.parse((SPECS_DIR / "__init__.py").read_text(encoding="utf-8"))
    return [
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None
        for alias in node.names
    ]


def ids_in_source(family: str) -> list[str]:
    """The ``id=`` of every ``Spec(...)`` in a family module, in source order."""
    tree = ast.parse((SPECS_DIR / f"{family}.py").read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Spec"
    ]
    ids = []
    for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset)):
        (value,) = [k.value for k in call.keywords if k.arg == "id"]
        assert isinstance(value, ast.Constant), f"{family}: a Spec id is not a literal"
        ids.append(value.value)
    return ids


def registered_ids() -> list[str]:
    return [s.id for s in refpe.specs()]


def test_every_family_module_is_listed_once():
    families = listed_families()
    on_disk = sorted(p.stem for p in SPECS_DIR.glob("*.py") if not p.stem.startswith("_"))
    assert len(families) == len(set(families)), families
    assert sorted(families) == on_disk


def test_catalogue_order_is_the_import_list():
    expected = [sid for family in listed_families() for sid in ids_in_source(family)]
    assert registered_ids() == expected


def test_catalogue_starts_and_ends_as_the_catalogue_does():
    ids = registered_ids()
    assert ids[:3] == ["token-lookup", "token-one-hot", "init-normal"]
    assert ids.index("pe-sinusoidal") < ids.index("layer-norm") < ids.index("input-add")
    assert ids[-3:] == ["tok-char", "tok-wordpiece", "tok-bpe"]


def test_readme_spec_table_follows_the_catalogue_order():
    text = README.read_text(encoding="utf-8")
    table = re.search(r"<!-- specs:start -->\n(.*?)<!-- specs:end -->", text, flags=re.S)
    assert table, "README lost its spec table markers"
    rows = re.findall(r"^\| `([a-z0-9-]+)` \|", table[1], flags=re.M)
    assert rows == registered_ids()
