"""The encoder oracles (layer norm, BERT input, attentions, loss, embedding gradient): hand values,
refpe's reference within each spec's error model of them, planted mistakes caught, the cache."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from oracle_reference import (
    case,
    cases,
    oracle_inputs,
    oracle_values,
    reference,
    reference_error,
)

from refpe.conformance.oracle import ORACLES, _core, cache_dir, encoder, exact

SPECS = (
    "layer-norm",
    "input-bert",
    "attn-seed-simplified",
    "attn-sdpa",
    "softmax-xent",
    "embedding-grad",
)
DTYPES = ("float64", "float32")


def run(spec_id: str, **inputs) -> list[np.ndarray]:
    return oracle_values(spec_id, inputs)


@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_outputs_have_the_reference_shapes(spec_id, name):
    want = reference(spec_id, name, "float64")
    got = oracle_values(spec_id, oracle_inputs(spec_id, name, "float64"))
    assert [g.shape for g in got] == [w.shape for w in want]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("spec_id", "name"), cases(*SPECS))
def test_reference_is_within_the_error_model(spec_id, name, dtype):
    err, K, where = reference_error(spec_id, name, dtype)
    assert err <= K, f"{spec_id} {name} {dtype}: normalised error {err:.3g} > K={K}; {where}"


# --- hand-checked values ---


def test_layer_norm_by_hand():
    # x = (0, 2): mean 1, biased variance 1; eps = 3 makes sqrt(var + eps) = 2
    (y,) = run("layer-norm", x=np.array([[0.0, 2.0]]), eps=3.0)
    assert y.tolist() == [[-0.5, 0.5]]
    (y,) = run(
        "layer-norm",
        x=np.array([[0.0, 2.0]]),
        gamma=np.array([2.0, 4.0]),
        beta=np.array([1.0, 0.0]),
        eps=3.0,
    )
    assert y.tolist() == [[0.0, 2.0]]
    # a constant row is its beta; d = 1 likewise
    (y,) = run("layer-norm", x=np.full((1, 3), 7.5), beta=np.array([1.0, -2.0, 0.25]))
    assert y.tolist() == [[1.0, -2.0, 0.25]]
    # no eps: (x - mean)/std, the std of (1, 2, 3, 4) is sqrt(5)/2
    (y,) = run("layer-norm", x=np.array([[1.0, 2.0, 3.0, 4.0]]), eps=2.0**-1074)
    assert y[0, 3] == pytest.approx(1.5 / (math.sqrt(5) / 2), rel=1e-15)


def test_input_bert_by_hand():
    # word[1] + position[0] + type[0] = (0, 2) and word[0] + position[1] + type[0] = (4, 0)
    word = np.array([[3.0, 0.0], [0.0, 1.0]])
    position = np.array([[0.0, 1.0], [1.0, 0.0]])
    types = np.zeros((2, 2))
    (y,) = run(
        "input-bert",
        ids=np.array([[1, 0]]),
        word=word,
        position=position,
        token_type=types,
        gamma=np.ones(2),
        beta=np.zeros(2),
        eps=3.0,
    )
    # rows (0, 2) and (4, 0): variance 1 and 4; eps 3 gives sigma 2 and sqrt 7
    assert y[0, 0].tolist() == [-0.5, 0.5]
    assert y[0, 1, 0] == pytest.approx(2 / math.sqrt(7), rel=1e-15)


def test_seed_attention_worked_example():
    # refpe.attn_seed_simplified's docstring: E = I, W = 0, b = 0 gives h_1 = h_2 = (2, 2)
    (h,) = run("attn-seed-simplified", E=np.eye(2), W=np.zeros((2, 2)), b=np.zeros(2))
    assert h.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    # c = (1, 0, 0): the feature softmax alone; W = 0, b = (log 3, 0) gives (3/4, 1/4)
    b = np.array([math.log(3.0), 0.0])
    (h,) = run("attn-seed-simplified", E=np.eye(2), W=np.zeros((2, 2)), b=b, c=(1.0, 0.0, 0.0))
    assert h[0] == pytest.approx([0.75, 0.25], rel=1e-15)
    # exclude_self: v_i sums the other positions only (seed 002 §3's text)
    (h,) = run(
        "attn-seed-simplified",
        E=np.eye(2),
        W=np.zeros((2, 2)),
        b=np.zeros(2),
        c=(0.0, 0.0, 1.0),
        exclude_self=True,
    )
    assert h.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_sdpa_by_hand():
    # refpe.attn_sdpa's docstring example: Q = K = V = I (d_k = 2): p_11 = e^{1/√2}/(e^{1/√2}+1)
    e = np.eye(2)[None, None]
    (o,) = run("attn-sdpa", q=e, k=e, v=e)
    p = math.exp(1 / math.sqrt(2)) / (math.exp(1 / math.sqrt(2)) + 1)
    assert o[0, 0] == pytest.approx(np.array([[p, 1 - p], [1 - p, p]]), rel=1e-15)
    v = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    # causal: the first query sees the first key alone, so its output is v_0 exactly
    (o,) = run("attn-sdpa", q=e, k=e, v=v, causal=True)
    assert o[0, 0, 0].tolist() == [1.0, 2.0]
    # scale 0: equal weights; every key padded: zeros, not NaN
    (o,) = run("attn-sdpa", q=e, k=e, v=v, scale=0.0)
    assert o[0, 0].tolist() == [[2.0, 3.0], [2.0, 3.0]]
    (o,) = run("attn-sdpa", q=e, k=e, v=v, key_padding_mask=np.array([[True, True]]))
    assert o.tolist() == [[[[0.0, 0.0], [0.0, 0.0]]]]
    # a bias of -inf hides a key; log 3 triples its weight
    (o,) = run("attn-sdpa", q=e, k=e, v=v, scale=0.0, bias=np.array([[0.0, -math.inf]]))
    assert o[0, 0, 0].tolist() == [1.0, 2.0]
    (o,) = run("attn-sdpa", q=e, k=e, v=v, scale=0.0, bias=np.array([[math.log(3.0), 0.0]]))
    assert o[0, 0, 0] == pytest.approx([1.5, 2.5], rel=1e-15)


def test_softmax_xent_by_hand():
    # equal logits: every class has p = 1/4, the loss is log 4, with or without smoothing
    logits = np.zeros((2, 4))
    for eps in (0.0, 0.3):
        (loss,) = run("softmax-xent", logits=logits, targets=np.array([1, 3]), label_smoothing=eps)
        assert float(loss) == pytest.approx(math.log(4), rel=1e-15)
    # logits (log 3, 0): p = (3/4, 1/4); target 1 loses log 4, target 0 log(4/3)
    logits = np.array([[math.log(3.0), 0.0]] * 3)
    t = np.array([1, 0, -100])
    (loss,) = run("softmax-xent", logits=logits, targets=t, reduction="none")
    assert loss.tolist() == pytest.approx([math.log(4), math.log(4 / 3), 0.0], rel=1e-15)
    (loss,) = run("softmax-xent", logits=logits, targets=t)
    assert float(loss) == pytest.approx((math.log(4) + math.log(4 / 3)) / 2, rel=1e-15)
    # PyTorch's smoothing: (1 - eps) nll + eps mean_c(-log p_c); eps = 1 gives the mean alone
    (loss,) = run("softmax-xent", logits=logits[:1], targets=t[:1], label_smoothing=1.0)
    assert float(loss) == pytest.approx((math.log(4 / 3) + math.log(4)) / 2, rel=1e-15)
    (loss,) = run("softmax-xent", logits=logits, targets=np.full(3, -100))
    assert math.isnan(float(loss))


def test_embedding_grad_by_hand():
    ids = np.array([1, 1, 0, 3])
    g = np.array([[1.0], [2.0], [4.0], [8.0]])
    (dW,) = run("embedding-grad", ids=ids, grad_out=g, num_embeddings=4)
    assert dW.tolist() == [[4.0], [3.0], [0.0], [8.0]]
    (dW,) = run("embedding-grad", ids=ids, grad_out=g, num_embeddings=4, scale_grad_by_freq=True)
    assert dW.tolist() == [[4.0], [1.5], [0.0], [8.0]]
    (dW,) = run("embedding-grad", ids=ids, grad_out=g, num_embeddings=4, padding_idx=-1)
    assert dW.tolist() == [[4.0], [3.0], [0.0], [0.0]]
    frozen = np.array([True, False, False, False])
    (dW,) = run("embedding-grad", ids=ids, grad_out=g, num_embeddings=4, frozen=frozen)
    assert dW.tolist() == [[0.0], [3.0], [0.0], [8.0]]
    # a sum float64 cannot hold: 1 + 2^-60 is kept exactly (double-double)
    g = np.array([[1.0], [2.0**-60]])
    (out,) = ORACLES["embedding-grad"][1](
        {"ids": np.array([0, 0]), "grad_out": g, "num_embeddings": 1}
    )
    assert out[0, 0] == 1 + Fraction(1, 2**60)


# --- planted mistakes are caught ---


@pytest.mark.parametrize("spec_id", SPECS)
def test_inputs_read_one_percent_off_are_caught(spec_id, monkeypatch):
    true = encoder._rationals
    monkeypatch.setattr(encoder, "_rationals", lambda a: true(a) * Fraction(101, 100))
    name = cases(spec_id)[0][1]
    err, K, _ = reference_error(spec_id, name, "float64")
    assert err > K


def test_a_mask_convention_error_is_caught(monkeypatch):
    # the oracle reading key_padding_mask as True = seen (F.scaled_dot_product_attention's)
    true = encoder._seen

    def flipped(shape, inputs, batch):
        pad = inputs.get("key_padding_mask")
        return true(shape, dict(inputs, key_padding_mask=None if pad is None else ~pad), batch)

    monkeypatch.setattr(encoder, "_seen", flipped)
    err, K, _ = reference_error("attn-sdpa", "key-padding", "float64")
    assert err > K


def test_a_sqrt_off_by_1e_minus_12_is_caught(monkeypatch):
    true = mpmath.sqrt
    monkeypatch.setattr(encoder.mpmath, "sqrt", lambda v: true(v) * (1 + mpmath.mpf(10) ** -12))
    err, K, _ = reference_error("layer-norm", "plain-4x8", "float64")
    assert err > K


def test_a_log_off_by_1e_minus_12_is_caught(monkeypatch):
    true = mpmath.log
    monkeypatch.setattr(encoder.mpmath, "log", lambda v: true(v) * (1 + mpmath.mpf(10) ** -12))
    err, K, _ = reference_error("softmax-xent", "n6-c5", "float64")
    assert err > K


# --- the cache ---


def _inputs():
    return oracle_inputs("layer-norm", "plain-4x8", "float64")


def test_a_second_call_reads_the_cache_file(tmp_path, monkeypatch):
    monkeypatch.setenv("REFPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_core, "_MEMORY", {})
    first = exact("layer-norm", "plain-4x8", _inputs())
    files = list(tmp_path.glob("layer-norm/*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(_core, "_MEMORY", {})

    def must_not_run(inputs):
        raise AssertionError("the oracle ran although its answer is cached")

    monkeypatch.setitem(ORACLES, "layer-norm", ("mpmath", must_not_run))
    second = exact("layer-norm", "plain-4x8", _inputs())
    assert np.array_equal(second.hi[0], first.hi[0])
    assert np.array_equal(second.lo[0], first.lo[0])
    assert second.oracle == first.oracle


def test_a_corrupted_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("REFPE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_core, "_MEMORY", {})
    first = exact("layer-norm", "plain-4x8", _inputs())
    (path,) = tmp_path.glob("layer-norm/*.npz")
    path.write_bytes(b"not an npz file")
    monkeypatch.setattr(_core, "_MEMORY", {})
    calls = []
    how, fn = ORACLES["layer-norm"]
    monkeypatch.setitem(ORACLES, "layer-norm", (how, lambda x: calls.append(1) or fn(x)))
    again = exact("layer-norm", "plain-4x8", _inputs())
    assert calls == [1]
    assert np.array_equal(again.hi[0], first.hi[0])
    assert _core._read(path) is not None  # rewritten whole


def test_an_empty_cache_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("REFPE_CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(_core, "_MEMORY", {})
    assert cache_dir() is None
    exact("layer-norm", "plain-4x8", _inputs())
    assert list(tmp_path.rglob("*")) == []


def test_the_oracle_sees_the_dtype_rounded_inputs():
    # float32 inputs differ from float64 ones, and so do the exact answers
    x64 = oracle_inputs("layer-norm", "plain-4x8", "float64")["x"]
    x32 = oracle_inputs("layer-norm", "plain-4x8", "float32")["x"]
    assert np.array_equal(x32, x64.astype(np.float32).astype(np.float64))
    assert not np.array_equal(run("layer-norm", x=x32)[0], run("layer-norm", x=x64)[0])
    assert case("layer-norm", "plain-4x8").kwargs["x"].dtype == np.float64
