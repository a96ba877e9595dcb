"""``refpe bench``: the harness, its JSON schema and the command (quick sizes only; speed is
measured by the benchmark, never asserted here)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import refpe
from refpe import _vectors_fast, bench
from refpe.cli import main

CANDIDATE_KEYS = {"role", "name", "median_s", "min_s", "runs_s", "gbytes_per_s", "vs_copy",
                  "vs_peer", "error", "peak_bytes"}  # fmt: skip


def _check_record(r: dict) -> None:
    assert {
        "spec",
        "case",
        "backend",
        "device",
        "dtype",
        "shape",
        "bytes",
        "note",
        "candidates",
    } <= set(r)
    assert r["bytes"] > 0
    copy = r["candidates"]["copy"]
    assert copy["role"] == "copy" and copy["vs_copy"] == pytest.approx(1.0)
    for label, c in r["candidates"].items():
        assert c["role"] in ("reference", "kernel", "peer", "copy", "baseline", "fallback"), label
        if "skipped" in c:
            assert c["skipped"], label
            continue
        assert CANDIDATE_KEYS <= set(c), label
        assert c["median_s"] > 0 and len(c["runs_s"]) >= 1
        assert c["min_s"] <= c["median_s"] <= max(c["runs_s"])


def test_run_quick_numpy_schema_and_errors():
    doc = bench.run(["pe-sinusoidal", "token-lookup", "input-add"], ["numpy"], quick=True,
                    repeats=2, warmup=0)  # fmt: skip
    assert doc["schema"] == bench.SCHEMA and doc["quick"] is True
    assert doc["settings"] == {
        "repeats": 2,
        "warmup": 0,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),  # recorded as the run had it
    }
    assert {"platform", "processor", "cpus", "python", "load_before", "load_after"} <= set(
        doc["machine"]
    )
    assert doc["libraries"]["numpy"] == np.__version__
    assert doc["targets"] == [] and doc["sweeps"] == []
    cases = [(r["spec"], r["case"]) for r in doc["results"]]
    assert cases == [("pe-sinusoidal", "table"), ("pe-sinusoidal", "lookup"),
                     ("pe-sinusoidal", "table at 10^6"), ("pe-sinusoidal", "table float64"),
                     ("token-lookup", "lookup"), ("input-add", "add")]  # fmt: skip
    for r in doc["results"]:
        _check_record(r)
        assert len(r["candidates"]["kernel"]["runs_s"]) == 2
    table, _, far, f64, lookup, add = doc["results"]
    # the float64 kernel is the reference bit for bit; the plain formula is not exact
    assert f64["candidates"]["kernel"]["error"] == 0.0 and f64["candidates"]["peer"]["error"] > 0
    # the kernel meets its spec's error model; the float32 pow form does not
    if "fallback" in table["candidates"]:  # with numba: its one pass and the NumPy blocks agree
        assert table["candidates"]["fallback"]["error"] == table["candidates"]["kernel"]["error"]
    for t in (table, far):
        assert t["candidates"]["kernel"]["error"] <= 0.25 + 1e-6
        assert t["candidates"]["peer"]["error"] > refpe.spec("pe-sinusoidal").error.K["float32"]
    assert far["shape"]["offset"] == bench.FAR and far["candidates"]["sin"]["median_s"] > 0
    assert lookup["candidates"]["kernel"]["error"] == 0.0
    assert add["candidates"]["kernel"]["error"] <= refpe.spec("input-add").error.K["float32"]
    json.dumps(doc)


def test_run_quick_torch_rope_and_grad():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    doc = bench.run(["rope", "embedding-grad"], ["torch"], quick=True, repeats=1, warmup=0)
    rope, grad = doc["results"]
    for r in (rope, grad):
        _check_record(r)
        assert r["backend"] == "torch"
    assert "apply_rotary_pos_emb" in rope["candidates"]["peer"]["name"]
    assert rope["candidates"]["kernel"]["error"] <= refpe.spec("rope").error.K["float32"]
    assert grad["candidates"]["reference"]["median_s"] > 0  # timed at quick sizes
    assert grad["candidates"]["kernel"]["error"] <= refpe.spec("embedding-grad").error.K["float32"]


def test_run_quick_jax_rope_only_and_synchronised():
    pytest.importorskip("jax")
    doc = bench.run(["rope", "token-lookup"], ["jax"], quick=True, repeats=1, warmup=0)
    (rope,) = doc["results"]  # JAX is benchmarked on rope only
    _check_record(rope)
    assert rope["backend"] == "jax"
    assert set(rope["candidates"]) >= {"reference", "kernel", "peer", "copy"}
    assert "jax.jit" in rope["candidates"]["peer"]["name"]
    assert rope["candidates"]["kernel"]["error"] <= refpe.spec("rope").error.K["float32"]


def test_cli_writes_the_json(tmp_path, capsys):
    pytest.importorskip("gensim")
    pytest.importorskip("tokenizers")
    path = tmp_path / "bench.json"
    code = main(["bench", "pretrained-formats", "tok-wordpiece", "--quick", "--repeats", "1",
                 "--json", str(path)])  # fmt: skip
    assert code == 0
    assert "JSON written to" in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["schema"] == "refpe-bench/1"
    reads = [r for r in doc["results"] if r["spec"] == "pretrained-formats"]
    fast_text = _vectors_fast.available()
    assert [r["case"] for r in reads] == ["read word2vec-binary", "read word2vec-text"]
    for r in reads:
        _check_record(r)
        for label in ("reference", "peer"):
            assert r["candidates"][label]["error"] == 0.0  # every vector read back bit-exactly
        # the pure text reader (pyarrow), the binary records scanned by bytes.find (numba)
        fast = fast_text if r["case"] == "read word2vec-text" else _vectors_fast.compiled_scan()
        assert ("fallback" in r["candidates"]) == fast
        if fast:
            assert r["candidates"]["fallback"]["error"] == 0
        ref = r["candidates"]["reference"]
        if ref["peak_how"] == "rss":  # Linux: the resident set of a fresh process
            assert ref["peak_vs_array"] == ref["peak_bytes"] / (300 * 20 * 4)
    (tok,) = [r for r in doc["results"] if r["spec"] == "tok-wordpiece"]
    assert tok["candidates"]["peer"]["error"] == 0.0  # tokenizers gives the reference's ids


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "layer-norm", "--quick"], "no benchmark for spec 'layer-norm'"),
        (["bench", "--backend", "cupy", "--quick"], "unknown bench backend 'cupy'"),
        (["bench", "--repeats", "0", "--quick"], "--repeats must be >= 1, got 0"),
        (["bench", "rope", "--large"], "no --large benchmark for spec 'rope'"),
        (["bench", "--large", "--quick"], "--large runs alone"),
    ],
)
def test_cli_usage_errors(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_round_robin_keeps_rounds_after_warm_up():
    calls, synced = [], []
    cands = [
        bench.Candidate("a", "kernel", "a", lambda: calls.append("a") or 1),
        bench.Candidate("b", "peer", "b", lambda: calls.append("b") or (2, 3)),
        bench.Candidate("c", "reference", "c", None, "not run"),
    ]
    runs, last = bench.time_round_robin(cands, synced.append, repeats=3, warmup=2)
    assert calls == ["a", "b"] * 5
    assert synced == [1, 2, 3] * 5
    assert {k: len(v) for k, v in runs.items()} == {"a": 3, "b": 3}
    assert last == {"a": 1, "b": (2, 3)}
    # a copy is timed like the others, but its output (never judged) is not kept
    copy = bench.Candidate("d", "copy", "d", lambda: bytearray(8))
    runs, last = bench.time_round_robin([cands[0], copy], synced.append, repeats=2, warmup=0)
    assert len(runs["d"]) == 2 and set(last) == {"a"}


def test_fallback_turns_the_fast_path_off_for_the_call_only():
    import types

    mod = types.SimpleNamespace(ENABLED=True)
    seen = []
    call = bench.fallback(lambda: seen.append(mod.ENABLED) or 1 / 0, mod, "ENABLED", False)
    with pytest.raises(ZeroDivisionError):
        call()
    assert seen == [False] and mod.ENABLED is True


def test_peak_bytes_sees_numpy_buffers():
    assert bench.peak_bytes(lambda: np.ones(10**6)) >= 8 * 10**6


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux /proc only")
def test_peak_rss_bytes_counts_the_call_in_a_fresh_process():
    import functools

    # 200 MB written by NumPy: counted once, whatever the parent process holds
    held = np.ones(5 * 10**7)  # 400 MB here, not in the measuring process
    got = bench.peak_rss_bytes(functools.partial(np.ones, 25 * 10**6))
    # pages the interpreter frees or touches around the call move it by a few hundred kB
    assert 198 * 10**6 <= got < 220 * 10**6, got
    del held
    with pytest.raises(RuntimeError, match="ValueError"):
        bench.peak_rss_bytes(functools.partial(np.ones, -1))


def test_large_reader_works_name_their_rows(tmp_path):
    from refpe.bench.works_text import _rows

    assert [_rows(n) for n in (10**6, 3 * 10**6, 10**5, 30, 12345)] == [
        "10^6", "3·10^6", "10^5", "30", "12345"]  # fmt: skip
    works = bench.reader_works(
        "numpy", {"n": {"word2vec-text": 40, "word2vec-binary": 30}, "d": 4}, str(tmp_path)
    )
    assert [(w.case, w.shape, w.extra) for w in works] == [
        ("read word2vec-binary at 30 rows", {"n": 30, "d": 4}, {"array_bytes": 480}),
        ("read word2vec-text at 40 rows", {"n": 40, "d": 4}, {"array_bytes": 640}),
    ]
    assert {w.candidates[0].peak for w in works} == {"rss"}


def test_targets_compare_measured_with_target():
    def rec(spec, case, backend, **cand):
        return {"spec": spec, "case": case, "backend": backend, "candidates": {"kernel": cand}}

    results = [
        rec("rope", "apply q, k", "numpy", vs_copy=0.75),
        rec("rope", "apply q, k", "torch", vs_peer=1.5),
        rec("pe-sinusoidal", "table", "numpy", vs_peer=1.2, error=0.25),
    ]
    got = {t["name"]: t for t in bench.targets(results)}
    assert len(got) == 4
    assert got["rope numpy float32: kernel >= 70% of copy bandwidth"]["met"]
    assert not got["rope torch CPU: kernel >= 2x Hugging Face eager apply_rotary_pos_emb"]["met"]
    assert got["sinusoid table float32: kernel error <= 1 eps32"]["met"]
    assert got["sinusoid table float32: kernel >= 1x the float32 pow form"]["measured"] == 1.2
    # memory is met at or below its target
    reads = [
        {"spec": "pretrained-formats", "case": case, "backend": "numpy",
         "candidates": {"reference": {"peak_vs_array": v, "vs_peer": 12.0}}}
        for case, v in (("read word2vec-text", 1.2), ("read word2vec-text at 10^6 rows", 1.4))
    ]  # fmt: skip
    met = {t["name"]: t["met"] for t in bench.targets(reads)}
    assert met == {
        "read word2vec text: refpe >= 10x gensim": True,
        "read word2vec text: refpe peak memory <= 1.3x the array": True,
        "read word2vec text, 10^6 rows: refpe >= 10x gensim": True,
        "read word2vec text, 10^6 rows: refpe peak memory <= 1.3x the array": False,
    }


def test_sweep_small_sizes():
    from refpe.kernels import positional_fused

    curves = bench.sweep("pe-sinusoidal", "numpy", 1, (16, 32), (8, 12))
    assert [(c["axis"], c["fixed"]) for c in curves] == [("T", {"d": 512}), ("d", {"T": 2048})]
    assert [(p["T"], p["d"]) for p in curves[0]["points"]] == [(16, 512), (32, 512)]
    assert [(p["T"], p["d"]) for p in curves[1]["points"]] == [(2048, 8), (2048, 12)]
    for c in curves:
        for p in c["points"]:
            fallback = {"fallback"} if positional_fused.available() else set()  # numba
            assert set(p["seconds"]) == {
                "reference",
                "kernel",
                "kernel-cached",
                "peer",
                "sin",
                "sin-into",
                "copy",
                *fallback,
            }
            assert all(v > 0 for v in p["seconds"].values())


def test_zipf_ids_in_range():
    ids = bench.zipf_ids(10000, 50)
    assert ids.min() >= 0 and ids.max() < 50
    assert np.bincount(ids).max() > 10000 // 50  # a heavy head, as token frequencies have


def test_json_is_strict_and_written_atomically(tmp_path, monkeypatch):
    from refpe.cli import bench as cli_bench

    doc = {"a": [1.0, float("inf")], "b": {"c": float("nan"), "d": -float("inf")}, "e": "x"}
    assert cli_bench._strict(doc) == {"a": [1.0, "inf"], "b": {"c": "nan", "d": "-inf"},
                                       "e": "x"}  # fmt: skip
    path = tmp_path / "b.json"
    path.write_text("old")
    fake = {"schema": "refpe-bench/1", "results": [], "targets": [], "err": float("inf")}
    monkeypatch.setattr(bench, "run", lambda *a, **k: fake)
    assert main(["bench", "rope", "--quick", "--json", str(path)]) == 0
    assert json.loads(path.read_text())["err"] == "inf"
    assert [p.name for p in tmp_path.iterdir()] == ["b.json"]  # no temporary file left
