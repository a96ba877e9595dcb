"""``refpe vectors info|convert|align``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from refpe import vectors as V
from refpe.cli import vectors as cli_vectors

WORDS = ["the", "深度", "naïve", "Apple"]


def run(*argv: str) -> int:
    p = argparse.ArgumentParser(prog="refpe")
    cli_vectors.add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["vectors", *argv])
    return args.handler(args)


@pytest.fixture
def source(tmp_path):
    vectors = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    V.write(tmp_path / "src.bin", WORDS, vectors, format="word2vec-binary")
    return tmp_path / "src.bin", vectors


def test_info(source, capsys):
    path, _ = source
    assert run("info", str(path)) == 0
    out = capsys.readouterr().out
    assert "format: word2vec-binary" in out and "count: 4" in out and "dim: 3" in out
    assert run("info", str(path), "--check", "--json") == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["checked"] and facts["count"] == 4


def test_convert_round_trip(source, tmp_path, capsys):
    path, vectors = source
    for fmt in V.FORMATS:
        target = tmp_path / f"out.{fmt}"
        assert run("convert", str(path), str(target), "--to", fmt) == 0
        assert "wrote 4 vectors of dimension 3" in capsys.readouterr().out
        words, back = V.read(target, format=fmt)
        assert words == WORDS
        np.testing.assert_array_equal(back, vectors)
    assert (
        run(
            "convert",
            str(tmp_path / "out.glove"),
            str(tmp_path / "b"),
            "--from",
            "glove",
            "--to",
            "word2vec-binary",
            "--no-newline",
            "--limit",
            "2",
        )
        == 0
    )
    assert V.read(tmp_path / "b", format="word2vec-binary")[0] == WORDS[:2]


def test_align(source, tmp_path, capsys):
    path, vectors = source
    (tmp_path / "vocab.txt").write_text("[PAD]\nthe\napple\nnaïve\n", encoding="utf-8")
    out, frozen, report = tmp_path / "t.npy", tmp_path / "f.npy", tmp_path / "r.json"
    code = run(
        "align",
        str(path),
        str(tmp_path / "vocab.txt"),
        str(out),
        "--seed",
        "3",
        "--casefold",
        "--init",
        "uniform",
        "--a",
        "0.5",
        "--frozen",
        str(frozen),
        "--report",
        str(report),
    )
    assert code == 0
    assert "3 of 4 tokens found (75.00%)" in capsys.readouterr().out
    table = np.load(out, allow_pickle=False)
    want, _ = V.align(
        ["[PAD]", "the", "apple", "naïve"],
        WORDS,
        vectors,
        seed=3,
        init="uniform",
        init_args={"a": 0.5},
        casefold=True,
    )
    np.testing.assert_array_equal(table, want)
    assert np.load(frozen).tolist() == [False, True, True, True]
    facts = json.loads(report.read_text(encoding="utf-8"))
    assert facts["oov"] == ["[PAD]"] and facts["casefolded"] == [["apple", "Apple"]]
    (tmp_path / "vocab.json").write_text('{"the": 0, "x": 1}', encoding="utf-8")
    assert run("align", str(path), str(tmp_path / "vocab.json"), str(out), "--seed", "0") == 0
    assert np.load(out).shape == (2, 3)


def test_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.vec").write_bytes(b"2 3\na 1.00 2.00 3.00\n")
    assert run("convert", str(tmp_path / "bad.vec"), str(tmp_path / "o"), "--to", "glove") == 1
    err = capsys.readouterr().err
    assert "refpe vectors: error:" in err and "file ends after 1 rows" in err
    assert not (tmp_path / "o").exists()
    assert run("info", str(tmp_path / "missing")) == 1
    assert "No such file" in capsys.readouterr().err


def test_progress_bar_for_big_files(source, monkeypatch, tmp_path):
    path, _ = source
    monkeypatch.setattr(cli_vectors, "PROGRESS_BYTES", 0)
    calls = []
    real = V.read

    def spy(*args, **kwargs):
        calls.append(kwargs["progress"])
        return real(*args, **kwargs)

    monkeypatch.setattr(V, "read", spy)
    assert run("convert", str(path), str(tmp_path / "o"), "--to", "glove") == 0
    assert callable(calls[0])
    assert run("convert", str(path), str(tmp_path / "o"), "--to", "glove", "--no-progress") == 0
    assert calls[1] is None


def test_wired_into_the_refpe_command(source, capsys):
    cli = pytest.importorskip("refpe.cli")
    assert cli.main(["vectors", "info", str(source[0])]) == 0
    assert "count: 4" in capsys.readouterr().out
