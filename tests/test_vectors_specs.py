"""The registry entries pretrained-formats and pretrained-align: every case, every library."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import to_numpy, xp_asarray

import refpe
from refpe import vectors as V

SPECS = ["pretrained-formats", "pretrained-align"]


@pytest.mark.parametrize("spec_id", SPECS)
def test_spec_entry(spec_id):
    s = refpe.spec(spec_id)
    assert s.function in (V.pretrained_formats, V.pretrained_align)
    assert s.function.__name__ in V.__all__
    assert s.error.K == {"float64": 0, "float32": 0} and s.float_args == ("vectors",)
    doc = s.function.__doc__
    assert "math::" in doc and "seed 004 §2" in doc and "Precision" in doc
    assert any(c.edge for c in s.cases) and any(c.raises for c in s.cases)
    assert s.terms and s.explanation and s.latex


@pytest.mark.parametrize("spec_id", SPECS)
def test_cases_bit_exact_in_every_library(xp, spec_id):
    s = refpe.spec(spec_id)
    for case in s.cases:
        host = dict(case.kwargs)
        rounded = host["vectors"].astype(np.float32)
        args = dict(host, vectors=xp_asarray(xp, rounded, "float32"))
        if case.raises is not None:
            with pytest.raises(case.raises):
                s.function(**args)
            continue
        got = s.function(**args)
        exact = s.function(**dict(host, vectors=rounded.astype(np.float64)))
        assert got.dtype == args["vectors"].dtype
        np.testing.assert_array_equal(
            to_numpy(got).view(np.uint32), exact.astype(np.float32).view(np.uint32)
        )


def test_formats_float64_text_is_exact():
    v = np.array([[0.1, 1 / 3, 5e-324, -1e300]])
    for fmt in ("word2vec-text", "glove", "fasttext-vec"):
        np.testing.assert_array_equal(V.pretrained_formats(v, format=fmt), v)
    with pytest.raises(ValueError, match=r"vectors\[0, 3\] = -1e\+300 overflows float32"):
        V.pretrained_formats(v, format="word2vec-binary")
    got = V.pretrained_formats(v[:, :3], format="word2vec-binary")
    assert got.dtype == np.float64
    assert got.tolist() == [[float(np.float32(0.1)), float(np.float32(1 / 3)), 0.0]]
