"""Benchmarks on the host: reading word2vec files (``pretrained-formats``, against gensim) and
WordPiece encoding (``tok-wordpiece``, against Hugging Face ``tokenizers``)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

import refpe
from refpe._compat import to_host

from .work import Candidate, Work


def reader_works(backend: str, size: dict, tmp: str) -> list[Work]:
    from pathlib import Path

    n, d = size["n"], size["d"]
    g = np.random.default_rng(6)
    words = [f"w{i}_{g.integers(0, 1 << 30):x}" for i in range(n)]
    vectors = g.standard_normal((n, d)).astype(np.float32)
    works = []
    for fmt, binary in (("word2vec-binary", True), ("word2vec-text", False)):
        path = os.path.join(tmp, f"vectors-{fmt}")
        refpe.vectors.write(path, words, vectors, format=fmt)
        size_bytes = os.path.getsize(path)
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
                peak=True,
            )

        def errors(out: dict[str, Any]) -> dict[str, float]:
            got = {lab: to_host(v[1] if isinstance(v, tuple) else v) for lab, v in out.items()
                   if lab != "copy"}  # fmt: skip
            return {lab: 0.0 if np.array_equal(v, vectors) else math.inf for lab, v in got.items()}

        works.append(
            Work(
                "pretrained-formats",
                f"read {fmt}",
                "numpy",
                "float32",
                {"n": n, "d": d},
                size_bytes,
                [
                    Candidate(
                        "reference",
                        "reference",
                        "refpe.vectors.read",
                        lambda p=path, f=fmt: refpe.vectors.read(p, format=f),
                        peak=True,
                    ),
                    peer,
                    Candidate(
                        "copy", "copy", "Path.read_bytes", lambda p=path: Path(p).read_bytes()
                    ),
                ],
                errors,
                note=f"a generated {n} x {d} file of {size_bytes} bytes; error 0: "
                "every vector read back bit-exactly",
            )
        )
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
