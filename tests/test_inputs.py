"""input-add and input-bert."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import has_float64, no_change, normalised_error, to_numpy, xp_asarray

from refpe import input_add, input_bert, layer_norm, pe_sinusoidal

RNG = np.random.default_rng(3)
V, L, D = 11, 9, 6
E, PE = RNG.standard_normal((V, D)), RNG.standard_normal((L, D))
IDS = np.array([[1, 5, 10, 0], [3, 3, 7, 2]])


def test_add_float64_exact():
    s = math.sqrt(D)
    np.testing.assert_array_equal(input_add(IDS, E, PE), E[IDS] + PE[np.arange(4)])
    np.testing.assert_array_equal(input_add(IDS, E, PE, scale=s), s * E[IDS] + PE[np.arange(4)])
    np.testing.assert_array_equal(input_add(IDS, E, PE, start=5), E[IDS] + PE[5:9])


def test_add_float32_rounded_once(xp):
    s = math.sqrt(D)
    e32, pe32 = (x.astype(np.float32).astype(np.float64) for x in (E, PE))
    table, pe = xp_asarray(xp, e32, "float32"), xp_asarray(xp, pe32, "float32")
    ids = xp.asarray(IDS)
    with no_change(ids, table, pe):
        out = input_add(ids, table, pe, scale=s, kernel="reference")
        fast = input_add(ids, table, pe, scale=s)
    assert out.dtype == fast.dtype == xp.float32
    exact = s * e32[IDS] + pe32[np.arange(4)]
    scale = np.abs(s * e32[IDS]) + np.abs(pe32[:4])
    bound = 0.5 if has_float64(xp) else 1.5
    assert normalised_error(out, exact, "float32", scale) <= bound
    assert normalised_error(fast, exact, "float32", scale) <= 1.5  # the spec's float32 bound


def test_add_positions_per_row_and_concat(xp):
    dt = "float64" if has_float64(xp) else "float32"
    table, pe = xp_asarray(xp, E, dt), xp_asarray(xp, PE, dt)
    e, p = to_numpy(table), to_numpy(pe)
    pos = np.array([[0, 0, 1, 2], [0, 1, 2, 3]])  # left padding in row 0
    out = to_numpy(input_add(xp.asarray(IDS), table, pe, positions=xp.asarray(pos)))
    np.testing.assert_array_equal(out, e[IDS] + p[pos])
    shared = to_numpy(
        input_add(xp.asarray(IDS), table, pe, positions=xp.asarray(np.array([8, 7, 6, 5])))
    )
    np.testing.assert_array_equal(shared, e[IDS] + p[[8, 7, 6, 5]])
    narrow = xp_asarray(xp, PE[:, :2], dt)
    cat = to_numpy(input_add(xp.asarray(IDS), table, narrow, combine="concat"))
    assert cat.shape == (2, 4, D + 2)
    np.testing.assert_array_equal(cat[..., :D], e[IDS])
    np.testing.assert_array_equal(cat[..., D:], np.broadcast_to(to_numpy(narrow)[:4], (2, 4, 2)))


def test_add_with_a_sinusoidal_table_and_the_seed_000_erratum():
    """Seed 000's tf.concat(axis=0) stacks the tables: (V + n, d), not one vector per token."""
    pe = pe_sinusoidal(L, D)
    out = input_add(IDS, E, pe, scale=math.sqrt(D))
    assert out.shape == (*IDS.shape, D)
    assert np.concatenate([E, pe], axis=0).shape == (V + L, D) != out.shape
    np.testing.assert_array_equal(out[1, 2], math.sqrt(D) * E[7] + pe[2])


def test_add_errors(xp):
    table, pe = xp_asarray(xp, E, "float32"), xp_asarray(xp, PE, "float32")
    ids = xp.asarray(IDS)
    with pytest.raises(
        ValueError, match=r"table of shape \(11, 6\) and pe_table of shape \(9, 3\)"
    ):
        input_add(ids, table, xp_asarray(xp, PE[:, :3], "float32"))
    with pytest.raises(
        IndexError, match=r"positions out of range of pe_table: value 9 at flat index 3"
    ):
        input_add(ids, table, pe, start=6)
    with pytest.raises(IndexError, match=r"ids out of range: value 11"):
        input_add(xp.asarray(np.array([[0, 11]])), table, pe)
    with pytest.raises(
        ValueError, match=r"positions of shape \(3,\) do not broadcast to ids of shape \(2, 4\)"
    ):
        input_add(ids, table, pe, positions=xp.asarray(np.array([0, 1, 2])))
    with pytest.raises(TypeError, match="positions must be an integer array, got dtype float32"):
        input_add(ids, table, pe, positions=xp_asarray(xp, [0.0, 1, 2, 3], "float32"))
    with pytest.raises(ValueError, match=r"combine must be one of .* got 'mul'"):
        input_add(ids, table, pe, combine="mul")
    with pytest.raises(ValueError, match="scale must be a finite real number, got inf"):
        input_add(ids, table, pe, scale=math.inf)


def test_add_mixed_namespaces():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"mixed array libraries: ids is numpy.*table is torch"):
        input_add(IDS, torch.asarray(E), torch.asarray(PE))


# --- input-bert ----------------------------------------------------------------------------

W, POS, TT = (RNG.standard_normal(s) * 0.02 for s in ((V, D), (L, D), (2, D)))
GAMMA, BETA = 1 + 0.1 * RNG.standard_normal(D), 0.1 * RNG.standard_normal(D)


def _bert_exact(ids, tt, pos, eps=1e-12):
    x = W[ids] + POS[pos] + TT[tt]
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * GAMMA + BETA


def _args(xp, dt):
    return [xp_asarray(xp, a, dt) for a in (W, POS, TT, GAMMA, BETA)]


def test_bert_float64():
    tt = (IDS > 4).astype(np.int64)
    out = input_bert(IDS, W, POS, TT, GAMMA, BETA, token_type_ids=tt)
    np.testing.assert_allclose(out, _bert_exact(IDS, tt, np.arange(4)), rtol=0, atol=64 * 2.0**-52)
    ln = layer_norm(W[IDS] + POS[:4] + TT[0], GAMMA, BETA, eps=1e-12)
    np.testing.assert_array_equal(input_bert(IDS, W, POS, TT, GAMMA, BETA), ln)


def test_bert_float32_and_backends(xp):
    args = _args(xp, "float32")
    pos = np.array([[2, 3, 4, 5], [0, 1, 2, 3]])
    out = input_bert(xp.asarray(IDS), *args, positions=xp.asarray(pos))
    assert out.dtype == xp.float32 and tuple(out.shape) == (2, 4, D)
    w, p, t, g, b = (to_numpy(a).astype(np.float64) for a in args)
    x = w[IDS] + p[pos] + t[0]
    exact = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12) * g + b
    assert normalised_error(out, exact, "float32", np.abs(g) * (1 + np.abs(exact)) + np.abs(b)) <= 4


def test_bert_matches_transformers_bert_embeddings():
    torch = pytest.importorskip("torch")
    bert = pytest.importorskip("transformers.models.bert.modeling_bert")
    from transformers import BertConfig

    cfg = BertConfig(
        vocab_size=V,
        hidden_size=D,
        max_position_embeddings=L,
        type_vocab_size=2,
        num_attention_heads=1,
        layer_norm_eps=1e-12,
        hidden_dropout_prob=0.1,
    )
    layer = bert.BertEmbeddings(cfg).double().eval()
    with torch.no_grad():
        params = (
            (layer.word_embeddings.weight, W),
            (layer.position_embeddings.weight, POS),
            (layer.token_type_embeddings.weight, TT),
            (layer.LayerNorm.weight, GAMMA),
            (layer.LayerNorm.bias, BETA),
        )
        for param, value in params:
            param.copy_(torch.asarray(value))
        tt = torch.asarray((IDS % 2).astype(np.int64))
        theirs = layer(input_ids=torch.asarray(IDS), token_type_ids=tt).numpy()
    ours = input_bert(IDS, W, POS, TT, GAMMA, BETA, token_type_ids=IDS % 2)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=64 * 2.0**-52)


def test_bert_dropout():
    args = (IDS, W, POS, TT, GAMMA, BETA)
    plain = input_bert(*args)
    np.testing.assert_array_equal(input_bert(*args, dropout=0.5), plain)  # not training
    a = input_bert(*args, dropout=0.25, training=True, seed=4)
    np.testing.assert_array_equal(a, input_bert(*args, dropout=0.25, training=True, seed=4))
    kept = a != 0
    np.testing.assert_allclose(a[kept], plain[kept] / 0.75, rtol=2.0**-52 * 4)
    assert 0 < kept.sum() < kept.size
    with pytest.raises(TypeError, match="seed is required"):
        input_bert(*args, dropout=0.25, training=True)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1\.0"):
        input_bert(*args, dropout=1.0)


def test_bert_errors():
    with pytest.raises(ValueError, match=r"position of shape \(9, 3\) and word of shape \(11, 6\)"):
        input_bert(IDS, W, POS[:, :3], TT, GAMMA, BETA)
    with pytest.raises(IndexError, match="token_type_ids out of range: value 2"):
        input_bert(IDS, W, POS, TT, GAMMA, BETA, token_type_ids=np.full_like(IDS, 2))
    with pytest.raises(IndexError, match="positions out of range of the position table: value 9"):
        input_bert(IDS, W, POS, TT, GAMMA, BETA, positions=np.array([6, 7, 8, 9]))
    with pytest.raises(TypeError, match="token_type_ids must be an integer array"):
        input_bert(IDS, W, POS, TT, GAMMA, BETA, token_type_ids=np.zeros(IDS.shape))
