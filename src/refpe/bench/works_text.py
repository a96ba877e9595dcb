"""Benchmarks on the host: reading word2vec files (``pretrained-formats``, against gensim) and
WordPiece encoding (``tok-wordpiece``, against Hugging Face ``tokenizers``)."""

from __future__ import annotations

import functools
import math
import os
from typing import Any

import numpy as np

import refpe
from refpe import _vectors_fast
from refpe._compat import to_host

from .work import Candidate, Work, fallback_candidate


def _rows(n: int) -> str:
    """``3000000`` as ``3·10^6`` (case names of the large files); below 10^4 as it is."""
    e = len(str(n)) - 1
    m = n // 10**e
    return (f"{m}·" if m > 1 else "") + f"10^{e}" if n == m * 10**e and e >= 4 else str(n)


def reader_works(backend: str, size: dict, tmp: str) -> list[Work]:
    """Reading generated word2vec files; ``size["n"]`` is the rows of both formats, or one
    count per format (``--large``: then each case name says its rows)."""
    from pathlib import Path

    d = size["d"]
    works = []
    for fmt, binary in (("word2vec-binary", True), ("word2vec-text", False)):
        n = size["n"][fmt] if isinstance(size["n"], dict) else size["n"]
        case = f"read {fmt}" + (f" at {_rows(n)} rows" if isinstance(size["n"], dict) else "")
        g = np.random.default_rng(6)
        words = [f"w{i}_{x:x}" for i, x in enumerate(g.integers(0, 1 << 30, n).tolist())]
        vectors = g.standard_normal((n, d), dtype=np.float32)
        path = os.path.join(tmp, f"vectors-{fmt}")
        refpe.vectors.write(path, words, vectors, format=fmt)
        del words
        size_bytes = os.path.getsize(path)
        # what runs without the optional package: the pure text reader (without pyarrow),
        # the binary records scanned by bytes.find (without numba)
        read = functools.partial(refpe.vectors.read, path, format=fmt)
        if not binary:
            name = "refpe.vectors.read, the pure reader (without pyarrow)"
            slow = fallback_candidate(name, read, _vectors_fast, "ENABLED", False)
        else:
            name = "refpe.vectors.read, records scanned by bytes.find (without numba)"
            slow = fallback_candidate(name, read, _vectors_fast, "COMPILED_FROM", math.inf,
                                      _vectors_fast.compiled_scan)  # fmt: skip
        # read first where the peak is measured: the one-time start (imports, Arrow's pool,
        # the compiled binary scan, which a run of COMPILED_FROM records takes)
        tiny = os.path.join(tmp, f"tiny-{fmt}")
        m = min(n, _vectors_fast.COMPILED_FROM)
        refpe.vectors.write(tiny, [f"t{i}" for i in range(m)], vectors[:m], format=fmt)
        try:
            from gensim.models import KeyedVectors
        except ImportError as exc:
            peer = Candidate("peer", "peer", "gensim", None, str(exc))
        else:
            peer = Candidate(
                "peer",
                "peer",
                f"gensim KeyedVectors.load_word2vec_format(binary={binary})",
                lambda p=path, b=binary: KeyedVectors.load_word2vec_format(p, binary=b).vectors,
            )

        def errors(out: dict[str, Any], vectors: np.ndarray = vectors) -> dict[str, float]:
            got = {lab: to_host(v[1] if isinstance(v, tuple) else v) for lab, v in out.items()
                   if lab != "copy"}  # fmt: skip
            return {lab: 0.0 if np.array_equal(v, vectors) else math.inf for lab, v in got.items()}

        works.append(
            Work(
                "pretrained-formats",
                case,
                "numpy",
                "float32",
                {"n": n, "d": d},
                size_bytes,
                [
                    Candidate(
                        "reference",
                        "reference",
                        "refpe.vectors.read",
                        read,
                        peak="rss",
                        warm=functools.partial(refpe.vectors.read, tiny, format=fmt),
                    ),
                    *slow,
                    peer,
                    Candidate(
                        "copy", "copy", "Path.read_bytes", lambda p=path: Path(p).read_bytes()
                    ),
                ],
                errors,
                note=f"a generated {n} x {d} file of {size_bytes} bytes, read from the page "
                "cache; error 0: every vector read back bit-exactly",
                extra={"array_bytes": n * d * 4},
            )
        )
        del vectors
    return works


def wordpiece_works(backend: str, size: dict) -> list[Work]:
    from refpe.tokenize import WordPiece

    g = np.random.default_rng(7)
    stems = ["play", "run", "happy", "un", "token", "embed", "posit", "rot", "learn", "deep"]
    tails = ["##ing", "##s", "##ed", "##er", "##ness", "##ion", "##al", "##ly"]
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab_list = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *stems, *tails, *".,!?",
                  *(f"##{c}" for c in letters), *letters]  # fmt: skip
    vocab = {t: i for i, t in enumerate(vocab_list)}
    pieces = [s + t[2:] for s in stems for t in tails] + stems + ["qzx", "Play", "RUN!"]
    text = " ".join(g.choice(pieces, size["words"]).tolist())
    tok = WordPiece(vocab)
    cands = [Candidate("reference", "reference", "refpe.tokenize.WordPiece.encode",
                       lambda: tok.encode(text))]  # fmt: skip
    try:
        from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    except ImportError as exc:
        cands.append(Candidate("peer", "peer", "tokenizers", None, str(exc)))
        hf = None
    else:
        hf = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        hf.normalizer = normalizers.BertNormalizer(lowercase=True)
        hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cands.append(Candidate("peer", "peer", "tokenizers WordPiece (Rust)",
                               lambda: hf.encode(text).ids))  # fmt: skip
    cands.append(Candidate("copy", "copy", "str.encode", lambda: text.encode()))

    def errors(out: dict[str, Any]) -> dict[str, float]:
        want = out.get("reference")
        return {lab: 0.0 if list(v) == list(want) else math.inf for lab, v in out.items()
                if lab != "copy"}  # fmt: skip

    return [
        Work(
            "tok-wordpiece",
            "encode",
            "numpy",
            "ids",
            {"words": size["words"]},
            len(text.encode()),
            cands,
            errors,
            note="generated English-like text; error 0: the same ids as the reference",
        )
    ]
