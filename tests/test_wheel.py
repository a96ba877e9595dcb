"""A real wheel (not an editable install) installs refpe, refpe.backends, refpe.conformance,
refpe.bench and refpe.cli, the console script entry point and the pytest plugin, and nothing as a
bare top-level module."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (found,) = out.glob("refpe-*.whl")
    return found


def test_wheel_holds_the_three_packages_and_no_bare_modules(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("refpe-")}
    assert tops == {"refpe"}
    for module in (
        "refpe/__init__.py",
        "refpe/backends/__init__.py",
        "refpe/backends/torch.py",
        "refpe/conformance/__init__.py",
        "refpe/conformance/adapters/__init__.py",
        "refpe/bench/__init__.py",
        "refpe/bench/works_rope.py",
        "refpe/cli/__init__.py",
        "refpe/cli/bench.py",
        "refpe/__main__.py",
        "refpe/py.typed",
    ):
        assert module in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "refpe = refpe.cli:main" in text and "refpe.conformance.pytest_plugin" in text


def test_installed_wheel_imports_and_runs_from_elsewhere(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    code = (
        "import refpe, refpe.backends, refpe.conformance, sys;"
        "assert refpe.__file__.startswith(sys.argv[1]), refpe.__file__;"
        "import importlib.util as u;"
        "assert u.find_spec('backends') is None and u.find_spec('conformance') is None;"
        "from refpe.cli import main; sys.exit(main(['conformance', '--spec', 'token-lookup',"
        " '--backend', 'numpy', '--no-progress']))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
