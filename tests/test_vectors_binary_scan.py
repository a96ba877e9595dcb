"""The compiled scan of word2vec binary records (:func:`refpe._vectors_fast.binary_run` with
Numba) against the record-by-record reader: the same words, the same bytes, the same errors,
the compiled loop really taken; and its body run as Python where Numba is missing."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest

import refpe
import refpe._vectors_fast as fast
import refpe._vectors_io as vio
from refpe._vectors_io import VectorFormatError


def _binary(words: list[bytes], vectors: np.ndarray, ends: list[bytes]) -> bytes:
    head = f"{len(words)} {vectors.shape[1]}\n".encode()
    rows = zip(words, vectors, ends, strict=True)
    recs = [w + b" " + v.astype("<f4").tobytes() + e for w, v, e in rows]
    return head + b"".join(recs)


def _read(path, enabled, **kw):
    old = fast.ENABLED
    fast.ENABLED = enabled
    try:
        return refpe.vectors.read(path, format="word2vec-binary", **kw)
    except VectorFormatError as e:
        return str(e)
    finally:
        fast.ENABLED = old


def _tricky(tmp_path, errors: str):
    """A file whose runs break on a long word, CRLF and CR ends, a non-ASCII word and (with
    ``errors="replace"``) bad UTF-8; vector bytes hold spaces and line ends too."""
    g = np.random.default_rng(3)
    n, d = 3000, 5
    words = [f"w{i}".encode() for i in range(n)]
    words[50] = b"L" * 300  # longer than a run's word window
    words[51] = "wörd".encode()
    if errors == "replace":
        words[1200] = b"\xff\xfebad"
    vectors = g.standard_normal((n, d)).astype(np.float32)
    vectors[7] = np.frombuffer(b" " * 8 + b"\n\r" * 6, np.float32)
    ends = [[b"\n", b"", b"\r\n", b"\r"][i % 4] for i in range(n)]
    path = tmp_path / "v.bin"
    path.write_bytes(_binary(words, vectors, ends))
    return path, vectors


def _spy(monkeypatch) -> list[int]:
    taken: list[int] = []
    real = fast._compiled_run
    monkeypatch.setattr(fast, "_compiled_run", lambda *a: taken.append(1) or real(*a))
    return taken


needs_numba = pytest.mark.skipif(fast._compiled() is None, reason="numba is not importable")


@needs_numba
@pytest.mark.parametrize("errors", ["strict", "replace"])
@pytest.mark.parametrize("chunk", [700, 1 << 21])
def test_compiled_runs_match_the_record_by_record_reader(tmp_path, monkeypatch, errors, chunk):
    monkeypatch.setattr(vio, "CHUNK", chunk)
    monkeypatch.setattr(fast, "COMPILED_FROM", 1)
    path, vectors = _tricky(tmp_path, errors)
    taken = _spy(monkeypatch)
    got, want = _read(path, True, errors=errors), _read(path, False, errors=errors)
    assert taken, "the compiled scan was not taken"
    assert got[0] == want[0] and np.array_equal(got[1].view(np.uint32), want[1].view(np.uint32))
    assert np.array_equal(got[1], vectors) and got[0][51] == "wörd"


@needs_numba
@pytest.mark.parametrize("limit", [None, 1, 1999])
def test_compiled_runs_in_blocks_and_with_a_limit(tmp_path, monkeypatch, limit):
    """Through :func:`refpe.vectors.iter_read` (blocks of ``BLOCK_BYTES``) and ``limit``."""
    monkeypatch.setattr(fast, "COMPILED_FROM", 1)
    monkeypatch.setattr(vio, "BLOCK_BYTES", 4 * 5 * 256)
    path, vectors = _tricky(tmp_path, "strict")
    want = vectors if limit is None else vectors[:limit]
    got = _read(path, True, limit=limit)
    assert np.array_equal(got[1], want) and len(got[0]) == len(want)
    blocks = list(refpe.vectors.iter_read(path, format="word2vec-binary", limit=limit))
    assert len(blocks) > 1 or limit == 1
    assert np.array_equal(np.concatenate([b[1] for b in blocks]), want)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("bad", [b"", b"a\x01b", b"x\x7f", b"s p"])
def test_runs_give_the_same_errors(tmp_path, monkeypatch, bad, compiled):
    if compiled and fast._compiled() is None:
        pytest.skip("numba is not importable")
    monkeypatch.setattr(fast, "COMPILED_FROM", 1 if compiled else math.inf)
    words = [f"w{i}".encode() for i in range(40)]
    words[30] = bad
    path = tmp_path / "v.bin"
    path.write_bytes(_binary(words, np.ones((40, 3), np.float32), [b"\n"] * 40))
    taken = _spy(monkeypatch)
    got, want = _read(path, True), _read(path, False)
    assert bool(taken) == compiled and isinstance(want, str) and got == want and "(record 3" in got


def test_the_scan_body_with_a_stand_in_numba(tmp_path, monkeypatch):
    """Where Numba is missing the kernels' bodies still run as Python (``njit`` the
    identity): the same records as the pure reader."""
    stub = types.ModuleType("numba")
    stub.njit = lambda **kw: lambda f: f
    stub.threading_layer = lambda: "workqueue"
    monkeypatch.setitem(sys.modules, "numba", stub)
    monkeypatch.setattr(fast, "COMPILED_FROM", 1)
    fast._compiled.cache_clear()
    try:
        path, _ = _tricky(tmp_path, "replace")
        taken = _spy(monkeypatch)
        got = _read(path, True, errors="replace")
        assert taken
    finally:
        fast._compiled.cache_clear()
    want = _read(path, False, errors="replace")
    assert got[0] == want[0] and np.array_equal(got[1], want[1])


@pytest.mark.parametrize("errors", ["strict", "replace"])
@pytest.mark.parametrize("chunk", [700, 1 << 21])
def test_without_numba_runs_use_find(tmp_path, monkeypatch, errors, chunk):
    """Without Numba (or below ``COMPILED_FROM`` records) runs are scanned by ``bytes.find``:
    the compiled run is never called, and the records are the record-by-record reader's."""
    monkeypatch.setattr(vio, "CHUNK", chunk)
    monkeypatch.setattr(fast, "_compiled", lambda: None)
    monkeypatch.setattr(fast, "COMPILED_FROM", 1)
    path, vectors = _tricky(tmp_path, errors)
    taken = _spy(monkeypatch)
    runs = []
    real = vio.binary_run
    monkeypatch.setattr(vio, "binary_run", lambda *a: runs.append(real(*a)) or runs[-1])
    got, want = _read(path, True, errors=errors), _read(path, False, errors=errors)
    assert not taken and sum(len(r[0]) for r in runs) > len(vectors) // 2, "too few in runs"
    assert got[0] == want[0] and np.array_equal(got[1], want[1])
    assert np.array_equal(got[1], vectors) and got[0][50] == "L" * 300


@pytest.mark.parametrize("finite_check", [1 << 20, 6, 1])
def test_a_nonfinite_value_is_found_in_any_slice(tmp_path, monkeypatch, finite_check):
    """The finiteness check runs over slices of rows (no mask as large as the table): the
    error names the same record, byte offset and column whatever the slice."""
    monkeypatch.setattr(vio, "FINITE_CHECK", finite_check)
    vectors = np.ones((20, 3), np.float32)
    vectors[13, 2] = np.inf
    path = tmp_path / "v.bin"
    path.write_bytes(_binary([f"w{i}".encode() for i in range(20)], vectors, [b"\n"] * 20))
    at = len(b"20 3\n") + sum(len(f"w{i} ".encode()) + 12 + 1 for i in range(13))
    with pytest.raises(VectorFormatError, match=rf"byte offset {at}: column 3: value inf"):
        refpe.vectors.read(path, format="word2vec-binary")
