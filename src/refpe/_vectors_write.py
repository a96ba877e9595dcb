"""What :func:`refpe.vectors.write` accepts, and the rows it writes (spec ``pretrained-formats``).

Words follow the readers' rule (:func:`refpe._vectors_io.word_problem`), so every word the
writer writes reads back; values are float16, float32, float64 or bfloat16 (taken as
float32, exactly). Source: word2vec.c (Mikolov et al., 2013); gensim's
``save_word2vec_format``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._compat import namespace, to_host
from ._vectors_io import MAX_WORD, is_utf8, shortest, word_problem


def check_words(words: Sequence[str], n: int, encoding: str, format: str) -> list[bytes]:
    if isinstance(words, str) or len(words) != n:
        raise ValueError(
            f"words must be a sequence of {n} strings (one per row), got {words!r:.80}"
        )
    seen: set[str] = set()
    out = []
    for i, w in enumerate(words):
        if not isinstance(w, str):
            raise ValueError(f"words[{i}] must be a string, got {w!r:.80}")
        try:
            raw = w.encode(encoding)
        except UnicodeEncodeError as e:
            raise ValueError(f"words[{i}] = {w!r} cannot be encoded as {encoding}: {e}") from None
        problem = word_problem(raw)
        if problem is not None:
            raise ValueError(
                f"words[{i}] = {w[:80]!r} cannot be written ({problem}): words are 1 to "
                f"{MAX_WORD} bytes without spaces or control characters"
            )
        if i == 0 and format == "glove" and is_utf8(encoding) and w.startswith("\ufeff"):
            raise ValueError(
                f"words[0] = {w!r} starts with U+FEFF, which a GloVe file (no header) would "
                "hold at byte 0, where readers take it for a byte-order mark"
            )
        if w in seen:
            raise ValueError(f"words[{i}] = {w!r} is a duplicate")
        seen.add(w)
        out.append(raw)
    return out


def host_floats(vectors: Any) -> np.ndarray:
    """``vectors`` on the host as a float NumPy array; bfloat16 becomes float32 (exactly)."""
    if "bfloat16" in str(getattr(vectors, "dtype", "")):
        if isinstance(vectors, np.ndarray):  # ml_dtypes (JAX's host arrays)
            return vectors.astype(np.float32)
        xp = namespace(vectors=vectors)
        return to_host(xp.astype(vectors, xp.float32))
    return to_host(vectors)


def check_vectors(host: np.ndarray, format: str, allow_nonfinite: bool) -> None:
    """Refuse what ``format`` cannot hold exactly: see :func:`refpe.vectors.write`."""
    if host.ndim != 2 or host.dtype.kind != "f":
        raise ValueError(
            f"vectors must be a 2-D float array, got shape {host.shape} dtype {host.dtype}"
        )
    if host.dtype.itemsize > 8:
        raise ValueError(
            f"vectors dtype {host.dtype} is wider than float64, which every reader of these "
            "formats parses through: convert to float64 first (a deliberate rounding)"
        )
    if host.shape[1] == 0:
        raise ValueError("vectors must have at least one column, got shape (n, 0)")
    if not allow_nonfinite and not np.isfinite(host).all():
        r, c = np.argwhere(~np.isfinite(host))[0]
        raise ValueError(f"vectors[{r}, {c}] = {host[r, c]!r} is not finite")
    if format == "word2vec-binary" and host.dtype.itemsize > 4:
        with np.errstate(over="ignore"):
            wide = np.isinf(host.astype(np.float32)) & np.isfinite(host)
        if wide.any():
            r, c = np.argwhere(wide)[0]
            raise ValueError(
                f"vectors[{r}, {c}] = {float(host[r, c])!r} overflows float32, the type "
                "word2vec-binary stores"
            )


def write_rows(
    f: Any, raw: list[bytes], host: np.ndarray, format: str, newline: bool, header: bool = True
) -> None:
    n, d = host.shape
    if format != "glove" and header:
        f.write(f"{n} {d}\n".encode())
    step = 4096
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        if format == "word2vec-binary":
            block = np.ascontiguousarray(host[lo:hi], dtype="<f4")
            end = b"\n" if newline else b""
            f.write(b"".join(raw[i] + b" " + block[i - lo].tobytes() + end for i in range(lo, hi)))
        else:
            f.write(
                b"".join(
                    raw[i] + b" " + " ".join(shortest(host[i])).encode() + b"\n"
                    for i in range(lo, hi)
                )
            )
