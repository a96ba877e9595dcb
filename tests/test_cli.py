"""The ``refpe`` command: listings, exit statuses, the JSON report, checking a user's function."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

import refpe
from refpe.cli import main

GOOD = """
import refpe

def lookup(ids, table, *, scale=None, padding_idx=None):
    return refpe.token_lookup(ids, table, scale=scale, padding_idx=padding_idx)
"""

BAD = """
import numpy as np

def lookup(ids, table, *, scale=None, padding_idx=None):
    return table[np.clip(ids, 0, table.shape[0] - 1)] * (1 if scale is None else scale)
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "mine_good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "mine_bad.py").write_text(textwrap.dedent(BAD))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_specs_json_lists_every_registered_spec(capsys):
    assert main(["specs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [s.id for s in refpe.specs()]
    assert all(r["sources"] for r in rows)
    public = [getattr(refpe, r["name"]) for r in rows]
    assert all(getattr(f, "reference", f) is refpe.spec(r["id"]).function
               for f, r in zip(public, rows, strict=True))  # fmt: skip


def test_specs_table_prints(capsys):
    assert main(["specs"]) == 0
    assert "token-lookup" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permission bits")
def test_json_reports_keep_permissions_and_leave_no_temporary(tmp_path):
    """A new report gets ``0o666`` masked by the umask (not mkstemp's 0600); a report written
    again keeps the mode its owner gave it."""
    from refpe.conformance.report import write_json

    path = tmp_path / "r.json"
    write_json(str(path), {"a": 1})
    umask = os.umask(0o022)
    os.umask(umask)  # read back (the test's own process; refpe never sets it)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    write_json(str(path), {"a": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and json.loads(path.read_text()) == {"a": 2}
    with pytest.raises(ValueError):
        write_json(str(path), {"a": float("nan")})  # refused before anything is written
    assert json.loads(path.read_text()) == {"a": 2} and os.listdir(tmp_path) == ["r.json"]


def test_conformance_passes_and_writes_a_versioned_json(tmp_path, capsys):
    path = tmp_path / "out" / "report.json"
    code = main(
        [
            "conformance",
            "--spec",
            "token-lookup",
            "--backend",
            "numpy",
            "--no-progress",
            "--json",
            str(path),
        ]
    )
    assert code == 0
    data = json.loads(path.read_text())
    assert data["schema"] == "refpe-conformance/2"
    assert data["summary"]["pass"] > 0 and data["summary"]["fail"] == 0
    keys = {
        "spec",
        "case",
        "subject",
        "backend",
        "device",
        "dtype",
        "mode",
        "verdict",
        "error",
        "K",
        "reason",
        "where",
        "diagnosis",
        "seconds",
        "kernel",
    }
    assert keys <= set(data["results"][0])
    assert {"numpy", "refpe"} <= set(data["libraries"])
    assert not list(path.parent.glob(".refpe-*")), "temporary file left behind"


def test_users_function_in_one_line_passes(user_module, capsys):
    code = main(
        ["conformance", "--subject", "mine_good:lookup", "--spec", "token-lookup", "--no-progress"]
    )
    assert code == 0, capsys.readouterr().out


def test_users_wrong_function_fails_with_exit_1_and_a_diagnosis(user_module, capsys):
    code = main(
        ["conformance", "--subject", "mine_bad:lookup", "--spec", "token-lookup", "--no-progress"]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "clamps out-of-range ids" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--spec", "pe-nonsense"], "unknown spec id 'pe-nonsense'"),
        (["--backend", "tensorflow"], "unknown backend 'tensorflow'"),
        (["--dtype", "float8"], "unknown dtype 'float8'"),
        (
            ["--subject", "no_such_module_xyz:f", "--spec", "token-lookup"],
            "cannot import 'no_such_module_xyz'",
        ),
        (
            ["--subject", "json:no_such_function", "--spec", "token-lookup"],
            "'json' has no attribute 'no_such_function'",
        ),
        (["--subject", "json:dumps"], "needs exactly one --spec"),
        (["--subject", "json:__doc__", "--spec", "token-lookup"], "is not callable"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(argv, message, capsys):
    assert main(["conformance", "--no-progress", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_filters_that_select_nothing_fail(capsys):
    assert (
        main(["conformance", "--spec", "token-lookup", "--backend", "cupy", "--no-progress"]) == 1
    )
    assert "nothing passed" in capsys.readouterr().out


def test_console_script_runs():
    exe = shutil.which("refpe") or str(
        __import__("pathlib").Path(sys.executable).with_name("refpe")
    )
    out = subprocess.run([exe, "specs", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)


def test_python_m_refpe_is_the_command_with_its_exit_status():
    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "refpe", *argv], capture_output=True, text=True
        )

    listed = run("specs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [s.id for s in refpe.specs()]
    bad = run("conformance", "--spec", "no-such-spec", "--no-progress")
    assert bad.returncode == 2 and "refpe: error:" in bad.stderr and "no-such-spec" in bad.stderr
