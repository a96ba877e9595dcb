"""softmax-xent, log_softmax and output_projection: mpmath, PyTorch semantics, error model,
invariants, bad input."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import no_change, normalised_error, to_numpy, xp_asarray
from hypothesis import given, settings
from hypothesis import strategies as st

import refpe

mpmath.mp.dps = 40
SPEC = refpe.spec("softmax-xent")


def mp_xent(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    x = logits.reshape(-1, logits.shape[-1])
    t = np.asarray(targets).reshape(-1)
    eps = mpmath.mpf(label_smoothing)
    losses, count = [], 0
    for row, target in zip(x, t, strict=True):
        if target == ignore_index:
            losses.append(mpmath.mpf(0))
            continue
        count += 1
        lse = mpmath.log(mpmath.fsum(mpmath.exp(mpmath.mpf(a)) for a in row))
        lp = [mpmath.mpf(a) - lse for a in row]
        losses.append((1 - eps) * -lp[target] + eps * -mpmath.fsum(lp) / len(lp))
    if reduction == "none":
        return np.array([float(v) for v in losses]).reshape(np.shape(targets))
    total = mpmath.fsum(losses)
    if reduction == "sum":
        return float(total)
    return float(total / count) if count else float("nan")


def rounded(kwargs, dtype):
    return {
        k: v.astype(dtype).astype(np.float64)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f"
        else v
        for k, v in kwargs.items()
    }


def model_error(y, exact, host, dtype):
    y, exact = to_numpy(y).astype(np.float64), np.asarray(exact, dtype=np.float64)
    if np.all(np.isnan(exact)):
        assert np.all(np.isnan(y))
        return 0.0
    return normalised_error(y, exact, dtype, SPEC.error.bound_scale(host, exact, dtype))


@pytest.mark.parametrize("case", SPEC.cases, ids=lambda c: c.name)
def test_float64_against_mpmath(case):
    if case.raises is not None:
        with pytest.raises(case.raises, match="targets"):
            refpe.softmax_xent(**case.kwargs)
        return
    y = refpe.softmax_xent(**case.kwargs)
    exact = mp_xent(**case.kwargs)
    assert model_error(y, exact, case.kwargs, "float64") <= SPEC.error.K["float64"]


@pytest.mark.parametrize("case", [c for c in SPEC.cases if c.raises is None], ids=lambda c: c.name)
def test_float32_on_every_library(xp, case):
    host = rounded(case.kwargs, np.float32)
    args = {
        k: xp_asarray(xp, v, "float32" if v.dtype.kind == "f" else None)
        if isinstance(v, np.ndarray)
        else v
        for k, v in host.items()
    }
    with no_change(args["logits"]):
        y = refpe.softmax_xent(**args)
    assert y.dtype == xp.float32
    assert model_error(y, refpe.softmax_xent(**host), host, "float32") <= SPEC.error.K["float32"]


def test_matches_torch_cross_entropy_semantics():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    g = np.random.default_rng(3)
    x, t = g.standard_normal((7, 5)), np.array([0, 4, -100, 2, 2, -100, 1])
    for eps in (0.0, 0.1, 1.0):
        for red in ("mean", "sum", "none"):
            want = F.cross_entropy(
                torch.from_numpy(x), torch.from_numpy(t), label_smoothing=eps, reduction=red
            )
            got = refpe.softmax_xent(x, t, label_smoothing=eps, reduction=red)
            np.testing.assert_allclose(got, want.numpy(), rtol=4e-16, atol=4e-16)


def test_mean_over_counted_targets_and_all_ignored_is_nan():
    x = np.random.default_rng(4).standard_normal((4, 3))
    t = np.array([1, -100, 2, -100])
    each = refpe.softmax_xent(x, t, reduction="none")
    assert each[1] == each[3] == 0.0
    assert refpe.softmax_xent(x, t) == pytest.approx((each[0] + each[2]) / 2, rel=1e-15)
    assert np.isnan(refpe.softmax_xent(x, np.full(4, -100)))
    assert refpe.softmax_xent(x, np.full(4, -100), reduction="sum") == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.integers(1, 9), st.integers(0, 2**32 - 1), st.floats(-80, 80))
def test_invariants(n, c, seed, shift):
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, c)) * 4
    t = g.integers(0, c, n)
    lp = refpe.log_softmax(x)
    np.testing.assert_allclose(np.log(np.exp(lp).sum(-1)), 0.0, atol=1e-14)
    loss = refpe.softmax_xent(x, t, reduction="none")
    assert np.all(loss >= 0)
    np.testing.assert_array_equal(loss, -lp[np.arange(n), t])
    shifted = refpe.softmax_xent(x + shift, t, reduction="none")
    scale = SPEC.error.bound_scale(
        {"logits": x + shift, "targets": t, "reduction": "none"}, loss, "float64"
    )
    assert normalised_error(shifted, loss, "float64", scale) <= 4


def test_log_softmax_is_stable(xp):
    x = xp_asarray(xp, [[1000.0, 0.0, -1000.0], [-50.0, -50.0, -50.0]], "float32")
    y = to_numpy(refpe.log_softmax(x))
    np.testing.assert_allclose(y[0], [0.0, -1000.0, -2000.0], rtol=1e-7)
    np.testing.assert_allclose(y[1], -np.log(3.0), rtol=1e-7)
    assert refpe.log_softmax(x).dtype == xp.float32


def test_output_projection(xp):
    g = np.random.default_rng(5)
    h, W, E, b = (
        g.standard_normal((2, 3, 4)),
        g.standard_normal((4, 6)),
        g.standard_normal((6, 4)),
        g.standard_normal(6),
    )
    args = [xp_asarray(xp, a, "float32") for a in (h, W, E, b)]
    host = [to_numpy(a).astype(np.float64) for a in args]
    z = refpe.output_projection(args[0], args[1], args[3])
    exact = host[0] @ host[1] + host[3]
    assert (
        normalised_error(z, exact, "float32", np.abs(host[0]) @ np.abs(host[1]) + np.abs(host[3]))
        <= 2
    )
    tied = refpe.output_projection(args[0], args[2], tied=True)
    exact = host[0] @ host[2].T
    assert normalised_error(tied, exact, "float32", np.abs(host[0]) @ np.abs(host[2]).T) <= 2
    assert z.dtype == tied.dtype == xp.float32


def test_bad_input():
    x = np.zeros((3, 4))
    with pytest.raises(
        IndexError,
        match=r"targets out of range \(ignore_index=-100 aside\): "
        r"value 4 at flat index 1 is not in \[0, 4\)",
    ):
        refpe.softmax_xent(x, np.array([0, 4, 1]))
    with pytest.raises(IndexError, match=r"value -1 at flat index 2"):
        refpe.softmax_xent(x, np.array([0, 1, -1]))
    with pytest.raises(TypeError, match="targets must be an integer array, got dtype float64"):
        refpe.softmax_xent(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(
        ValueError, match=r"targets must have shape \(3,\) for logits of shape \(3, 4\), got \(2,\)"
    ):
        refpe.softmax_xent(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\], got 1.5"):
        refpe.softmax_xent(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(
        ValueError, match=r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"
    ):
        refpe.softmax_xent(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(TypeError, match="logits must be a float array, got dtype int64"):
        refpe.softmax_xent(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="logits must be finite"):
        refpe.log_softmax(np.array([0.0, np.inf]))
    with pytest.raises(
        ValueError, match=r"weight must have shape \(V, d\) with d=4 \(tied=True\), got \(4, 6\)"
    ):
        refpe.output_projection(np.zeros((2, 4)), np.zeros((4, 6)), tied=True)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\), got \(4,\)"):
        refpe.output_projection(np.zeros((2, 4)), np.zeros((4, 6)), np.zeros(4))
