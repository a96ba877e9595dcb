"""Seed 003's pipeline end to end (examples/seed003_pipeline.py): every stage on every library
within its error model, and training on PyTorch and JAX."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import has_float64, normalised_error, to_numpy

import refpe

_PATH = Path(__file__).resolve().parents[1] / "examples" / "seed003_pipeline.py"
_spec = importlib.util.spec_from_file_location("seed003_pipeline", _PATH)
pipeline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipeline)

TOK, IDS, TARGETS = pipeline.make_batch()
PAD = TOK.vocab["[PAD]"]
PARAMS = pipeline.init_params(len(TOK.vocab))


def test_batch_is_next_character_prediction():
    assert IDS.shape == TARGETS.shape == (4, 29)
    first = TOK.encode(pipeline.CORPUS[0])
    assert IDS[0, 0] == TOK.vocab["[CLS]"]
    np.testing.assert_array_equal(IDS[0, 1 : len(first) + 1], first)
    np.testing.assert_array_equal(TARGETS[0, : len(first) + 1], [*first, TOK.vocab["[SEP]"]])
    assert np.all(TARGETS[IDS == PAD] == -100)


def split_heads(t, heads):
    b, n, w = t.shape
    return np.swapaxes(t.reshape(b, n, heads, w // heads), 1, 2)


def mha_scale(x, p, pad):
    """The attn-sdpa scale with |x||W| in place of |q|, |k|, |v| (the projections' absolute
    terms), carried through the output projection: ``scale(o) @ |w_o|``."""
    h = pipeline.NUM_HEADS
    q, k = (split_heads(x @ p[w], h) for w in ("w_q", "w_k"))
    qa, ka, va = (split_heads(np.abs(x) @ np.abs(p[w]), h) for w in ("w_q", "w_k", "w_v"))
    weights = refpe.attn_sdpa(
        q,
        k,
        np.broadcast_to(np.eye(x.shape[1]), q.shape[:2] + (x.shape[1],) * 2),
        causal=True,
        key_padding_mask=pad,
    )
    terms = qa @ np.swapaxes(ka, -1, -2) / math.sqrt(q.shape[-1])
    cond = 1 + 2 * np.max(np.where(weights > 0, terms, 0.0), axis=-1, keepdims=True)
    o = np.swapaxes(cond * (weights @ va), 1, 2).reshape(x.shape)
    return o @ np.abs(p["w_o"])


def check_stages(xp, dtype):
    """Run the pipeline in ``dtype`` on ``xp``; check each stage against the float64 reference
    on that stage's own inputs (the previous stage's result in ``dtype``), within that stage's
    error model."""
    p = {k: xp.asarray(v.astype(dtype)) for k, v in PARAMS.items()}
    pe = refpe.pe_sinusoidal(IDS.shape[1], pipeline.D_MODEL, dtype=dtype, xp=xp)
    out = pipeline.forward(p, xp.asarray(IDS), xp.asarray(TARGETS), pe, PAD)
    host = {k: to_numpy(v).astype(np.float64) for k, v in p.items()}
    got = {k: to_numpy(v).astype(np.float64) for k, v in out.items()}
    pad = IDS == PAD
    weights = [host[w] for w in ("w_q", "w_k", "w_v", "w_o")]

    def within(name, y, spec_id, kwargs):
        model = refpe.spec(spec_id).error
        exact = refpe.spec(spec_id).function(**kwargs)
        err = normalised_error(y, exact, dtype, model.bound_scale(kwargs, exact, dtype))
        assert err <= model.K[dtype], (name, err)

    within(
        "x",
        got["x"],
        "input-add",
        {"ids": IDS, "table": host["table"], "pe_table": to_numpy(pe).astype(np.float64)},
    )
    attn = refpe.multi_head_attention(
        xp.asarray(got["x"].astype(dtype)),
        *(p[w] for w in ("w_q", "w_k", "w_v", "w_o")),
        num_heads=pipeline.NUM_HEADS,
        causal=True,
        key_padding_mask=xp.asarray(pad),
    )
    exact = refpe.multi_head_attention(
        got["x"], *weights, num_heads=pipeline.NUM_HEADS, causal=True, key_padding_mask=pad
    )
    assert normalised_error(attn, exact, dtype, mha_scale(got["x"], host, pad)) <= 2
    residual = got["x"] + to_numpy(attn).astype(np.float64)
    within(
        "h", got["h"], "layer-norm", {"x": residual, "gamma": host["gamma"], "beta": host["beta"]}
    )
    exact = got["h"] @ host["w_out"] + host["b_out"]
    scale = np.abs(got["h"]) @ np.abs(host["w_out"]) + np.abs(host["b_out"])
    assert normalised_error(got["logits"], exact, dtype, scale) <= 2
    within("loss", got["loss"], "softmax-xent", {"logits": got["logits"], "targets": TARGETS})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_stage_on_every_library_within_the_error_model(xp, dtype):
    if dtype == "float64" and not has_float64(xp):
        pytest.skip("float64 needs JAX's x64 switch; JAX float64 is checked in test_autodiff")
    check_stages(xp, dtype)


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_training_lowers_the_loss_and_moves_the_rows_that_occur(library):
    pytest.importorskip(library)
    run = pipeline.train_torch() if library == "torch" else pipeline.train_jax()
    losses = run["losses"]
    assert len(losses) == 50
    assert losses[-1] < 0.25 * losses[0]
    assert all(math.isfinite(v) for v in losses)
    before, after = (
        np.asarray(to_numpy(run["table_before"])),
        np.asarray(to_numpy(run["table_after"])),
    )
    moved = set(np.flatnonzero(np.any(before != after, axis=1)).tolist())
    assert moved == set(np.unique(IDS).tolist()) - {PAD}
    untouched = [TOK.vocab[s] for s in ("[PAD]", "[UNK]", "[SEP]", "[MASK]")]
    np.testing.assert_array_equal(after[untouched], before[untouched])


@pytest.mark.parametrize("library", ["torch", "jax"])
def test_a_frozen_table_stays_while_the_rest_trains(library):
    pytest.importorskip(library)
    train = pipeline.train_torch if library == "torch" else pipeline.train_jax
    run = train(steps=5, frozen=True)
    np.testing.assert_array_equal(to_numpy(run["table_after"]), to_numpy(run["table_before"]))
    assert run["losses"][-1] < run["losses"][0]


def test_runs_as_a_script(capsys):
    pytest.importorskip("torch")
    pipeline.main(steps=3)
    out = capsys.readouterr().out
    assert "torch: loss" in out
    assert "in 3 steps; 38 of 42 embedding rows moved" in out
