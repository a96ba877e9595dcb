"""The README keeps its promises: the two commands first, and a spec table that is current."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from refpe.cli import specs_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S)
    assert first_block and README.index("```bash") < README.index("## ")
    commands = [line.split("#")[0].strip() for line in first_block[1].strip().splitlines()]
    assert commands == ["make conformance", "make test"]


def test_ci_runs_the_readme_test_command():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def test_spec_table_is_current():
    table = re.search(r"<!-- specs:start -->\n(.*?)<!-- specs:end -->", README, flags=re.S)
    assert table, "README lost its spec table markers"
    assert table[1].strip() == specs_markdown().strip(), "run `make readme` to regenerate"


def _readme_script():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "readme.py"
    spec = importlib.util.spec_from_file_location("readme_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("marker", ["bench", "bench-large"])
def test_performance_tables_are_the_kept_reports(marker):
    import json

    from refpe.bench.summary import markdown

    script = _readme_script()
    report = Path(__file__).resolve().parents[1] / script.REPORTS[marker]
    doc = json.loads(report.read_text(encoding="utf-8"))
    table = re.search(rf"<!-- {marker}:start -->\n(.*?)<!-- {marker}:end -->", README, flags=re.S)
    assert table, f"README lost its {marker} table markers"
    assert table[1].strip() == markdown(doc).strip(), "run `make readme` to regenerate"
    # every target the kept report misses has its reason (printed under the tables)
    from refpe.bench.target_table import WHY, targets

    missed = [t["name"] for t in targets(doc["results"]) if not t["met"]]
    for name in missed:
        assert WHY.get(name), f"no reason recorded for the missed target {name!r}"
        assert WHY[name] in table[1]


def test_the_ten_line_example_runs():
    pytest.importorskip("torch")
    block = re.search(r"## A 10-line example\s+```python\n(.*?)```", README, flags=re.S)
    assert block and len(block[1].strip().splitlines()) <= 10
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the example runs clean
        exec(compile(block[1], "README example", "exec"), namespace)
    assert namespace["x"].shape == (1, 3, 512) and str(namespace["x"].dtype) == "float32"
    assert tuple(namespace["xt"].shape) == (1, 3, 512)
