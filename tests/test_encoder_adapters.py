"""The PyTorch and JAX encoder subjects, run on the spec cases and compared with the reference
through the error model (independently of the suite's runner)."""

from __future__ import annotations

import numpy as np
import pytest

import refpe
from refpe.conformance.subjects import subjects
from refpe.registry import EPS

SPECS = ("attn-seed-simplified", "attn-sdpa", "layer-norm", "softmax-xent", "embedding-grad")
HOST = {"float32": np.float32, "float64": np.float64}


def runs():
    for s in SPECS:
        for subj in subjects(s):
            if not subj.call.__module__.endswith(("torch_encoder", "jax_encoder")):
                continue
            for case in refpe.spec(s).cases:
                for dtype in subj.dtypes:
                    yield pytest.param(subj, case, dtype, id=f"{subj.name}-{case.name}-{dtype}")


def normalised(got, exact, scale, dtype):
    """``max |got - exact| / (eps * scale)``; equal values (NaN with NaN too) count 0."""
    got = np.asarray(got, dtype=np.float64)
    same = (got == exact) | (np.isnan(got) & np.isnan(exact))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        err = np.where(same, 0.0, np.abs(got - exact) / (EPS[dtype] * scale))
    return float(np.max(np.where(np.isnan(err), np.inf, err), initial=0.0))


@pytest.mark.parametrize(("subj", "case", "dtype"), list(runs()))
def test_subject_on_case(subj, case, dtype):
    why = subj.unavailable() or subj.skip(case)
    if why:
        pytest.skip(why)
    spec = refpe.spec(subj.spec)
    host = {
        k: v.astype(HOST[dtype]).astype(np.float64)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f"
        else v
        for k, v in case.kwargs.items()
    }
    exact = np.asarray(spec.function(**host), dtype=np.float64)
    cast = {
        k: v.astype(HOST[dtype]) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in host.items()
    }
    got = np.asarray(subj.call(cast, dtype))
    assert got.shape == exact.shape
    err = normalised(got, exact, spec.error.bound_scale(host, exact, dtype), dtype)
    reason = subj.differs(case) if subj.differs else None
    if reason:
        assert err > spec.error.K[dtype], f"declared to differ ({reason}) but conforms"
    else:
        assert err <= spec.error.K[dtype]


def test_every_spec_has_a_library_subject():
    names = {
        s.spec for s in subjects() if s.call.__module__.endswith(("torch_encoder", "jax_encoder"))
    }
    assert {"attn-sdpa", "layer-norm", "softmax-xent", "embedding-grad"} <= names


def test_torch_mha_holds_refpe_weights():
    torch = pytest.importorskip("torch")
    from refpe.conformance.adapters.torch_encoder import torch_mha

    g = np.random.default_rng(8)
    x, (wq, wk, wv, wo) = (
        g.standard_normal((2, 5, 6)),
        (g.standard_normal((6, 6)) for _ in range(4)),
    )
    pad = np.array([[False] * 5, [False, False, True, False, True]])
    causal = np.triu(np.ones((5, 5), bool), 1)
    mha = torch_mha(wq, wk, wv, wo, 3, torch.float64)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        out, _ = mha(
            xt,
            xt,
            xt,
            key_padding_mask=torch.from_numpy(pad),
            attn_mask=torch.from_numpy(causal),
            need_weights=False,
        )
    ours = refpe.multi_head_attention(
        x, wq, wk, wv, wo, num_heads=3, causal=True, key_padding_mask=pad
    )
    np.testing.assert_allclose(out.numpy(), ours, rtol=1e-12, atol=1e-13)
