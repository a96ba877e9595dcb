"""``refpe conformance --subject module:function``: the user's module found in the current
directory, import failures explained, a subject that exits stops the run with exit status 1
and a report, skips and refusals as the options say, and only the host backends by default."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from refpe.cli import main, parser

MINE = """
import sys

import numpy as np

import refpe


def lookup(ids, table, *, scale=None, padding_idx=None):
    return refpe.token_lookup(ids, table, scale=scale, padding_idx=padding_idx)


def lookup_runtime_error(ids, table, *, scale=None, padding_idx=None):
    ids = np.asarray(ids)
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        raise RuntimeError("id out of range")
    return refpe.token_lookup(ids, table, scale=scale, padding_idx=padding_idx)


def exits(ids, table, **kw):
    sys.exit(0)


def sinusoid_positions_and_d(positions, d, dtype):
    return refpe.pe_sinusoidal(positions, d, dtype=dtype)
"""


@pytest.fixture
def in_folder(tmp_path, monkeypatch):
    """A folder holding ``mymod_cli.py`` (not on sys.path), made the current directory."""
    (tmp_path / "mymod_cli.py").write_text(textwrap.dedent(MINE))
    (tmp_path / "broken_cli.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for name in ("mymod_cli", "broken_cli"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


def _conformance(*argv: str) -> int:
    return main(["conformance", "--no-progress", *argv])


def test_a_module_in_the_current_directory_is_found(in_folder, capsys):
    assert _conformance("--subject", "mymod_cli:lookup", "--spec", "token-lookup") == 0
    assert "mymod_cli:lookup" in capsys.readouterr().out


def test_help_says_the_current_directory_is_searched(capsys):
    with pytest.raises(SystemExit):
        parser().parse_args(["conformance", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "current directory is put first on sys.path" in out
    assert "--strict-errors" in out and "'skipped'" in out


def test_a_module_that_fails_to_import_shows_its_traceback_and_a_hint(in_folder, capsys):
    assert _conformance("--subject", "broken_cli:f", "--spec", "token-lookup") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "no_such_dependency_xyz" in err
    assert "hint: 'broken_cli' was found but failed to import" in err


def test_a_missing_module_gets_a_one_line_hint(in_folder, capsys):
    assert _conformance("--subject", "not_here_xyz:f", "--spec", "token-lookup") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "hint: refpe looks for 'not_here_xyz'" in err


def test_a_subject_that_exits_fails_the_run_with_a_report(in_folder, capsys):
    path = in_folder / "report.json"
    code = _conformance(
        "--subject", "mymod_cli:exits", "--spec", "token-lookup", "--json", str(path)
    )
    assert code == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "the run stopped: mymod_cli:exits raised SystemExit(0) on token-lookup" in out
    data = json.loads(path.read_text())
    assert data["summary"]["error"] == 1 and "SystemExit" in data["results"][-1]["reason"]


def test_a_subject_that_exits_in_a_fresh_process_exits_1():
    code = "import sys; from refpe.cli import main; sys.exit(main(sys.argv[1:]))"
    with_exit = textwrap.dedent(MINE)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"exec({with_exit!r}, globals()); import __main__; {code}",
            "conformance",
            "--no-progress",
            "--subject",
            "__main__:exits",
            "--spec",
            "token-lookup",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the run stopped" in done.stdout


def test_refusals_of_another_type_pass_unless_strict(in_folder, capsys):
    argv = ("--subject", "mymod_cli:lookup_runtime_error", "--spec", "token-lookup")
    assert _conformance(*argv) == 0
    assert _conformance(*argv, "--strict-errors") == 1
    assert "raised RuntimeError where the spec raises" in capsys.readouterr().out


def test_mostly_skipped_fails_unless_accepted(in_folder, capsys):
    argv = ("--subject", "mymod_cli:sinusoid_positions_and_d", "--spec", "pe-sinusoidal")
    assert _conformance(*argv) == 1
    assert "cases skipped" in capsys.readouterr().out


def test_the_default_run_is_numpy_and_array_api_strict(monkeypatch):
    from refpe.cli import conformance as cli

    args = parser().parse_args(["conformance", "--spec", "token-lookup"])
    assert cli._plan(args).backends == ("numpy", "array_api_strict")
    args = parser().parse_args(["conformance", "--spec", "token-lookup", "--backend", "all"])
    assert cli._plan(args).backends == ()
