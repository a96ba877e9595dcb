"""Autodiff through the reference: refpe functions run on PyTorch tensors that require grad
and inside ``jax.grad``; the embedding gradient that both give equals ``embedding_grad``."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import normalised_error

import refpe

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = jax.numpy

V, D, T = 7, 4, 5
RNG = np.random.default_rng(11)
IDS = np.array([[1, 3, 1, 0, 6], [3, 3, 5, 1, 2]])
TABLE = RNG.standard_normal((V, D))
PE = np.array(refpe.pe_sinusoidal(T, D))  # a writable copy of the cached read-only table
G = RNG.standard_normal((2, T, D))
K = refpe.spec("embedding-grad").error.K["float64"]


def grad_error(got, ids, g, scale=1.0):
    """Normalised error of an autodiff table gradient against ``scale * embedding_grad``."""
    want = scale * refpe.embedding_grad(ids, g, V)
    bound = abs(scale) * refpe.spec("embedding-grad").error.bound_scale(
        {"ids": ids, "grad_out": g, "num_embeddings": V}, want, "float64"
    )
    return normalised_error(np.asarray(got), want, "float64", bound)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_torch_autograd_through_input_add(scale):
    E = torch.tensor(TABLE, requires_grad=True)
    x = refpe.input_add(torch.from_numpy(IDS), E, torch.from_numpy(PE), scale=scale)
    (x * torch.from_numpy(G)).sum().backward()
    assert grad_error(E.grad.numpy(), IDS, G, scale) <= K


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_jax_grad_through_input_add(jax_x64, scale):
    def loss(E):
        return jnp.sum(refpe.input_add(jnp.asarray(IDS), E, jnp.asarray(PE), scale=scale) * G)

    assert grad_error(jax.grad(loss)(jnp.asarray(TABLE)), IDS, G, scale) <= K


def encoder_loss(x, params, targets):
    """One seed-003 layer on refpe: attention, residual + LayerNorm, output layer, loss."""
    w_q, w_k, w_v, w_o, gamma, beta, w_out = params
    h = refpe.post_ln(
        x,
        lambda a: refpe.multi_head_attention(a, w_q, w_k, w_v, w_o, num_heads=2, causal=True),
        gamma,
        beta,
    )
    return refpe.softmax_xent(refpe.output_projection(h, w_out), targets, label_smoothing=0.1)


PARAMS = [RNG.standard_normal(s) * 0.5 for s in [(D, D)] * 4 + [(D,), (D,), (D, V)]]
TARGETS = np.array([[3, 1, 0, 6, -100], [3, 5, 1, 2, -100]])


def test_torch_chain_rule_through_the_encoder():
    E = torch.tensor(TABLE, requires_grad=True)
    x = refpe.input_add(torch.from_numpy(IDS), E, torch.from_numpy(PE))
    x.retain_grad()
    loss = encoder_loss(x, [torch.from_numpy(p) for p in PARAMS], torch.from_numpy(TARGETS))
    loss.backward()
    assert torch.isfinite(loss)
    assert grad_error(E.grad.numpy(), IDS, x.grad.numpy()) <= K


def test_jax_chain_rule_through_the_encoder(jax_x64):
    params = [jnp.asarray(p) for p in PARAMS]

    def embed(E):
        return refpe.input_add(jnp.asarray(IDS), E, jnp.asarray(PE))

    x, pullback = jax.vjp(embed, jnp.asarray(TABLE))
    g_x = jax.grad(lambda x: encoder_loss(x, params, jnp.asarray(TARGETS)))(x)
    (g_table,) = pullback(g_x)
    assert grad_error(g_table, IDS, np.asarray(g_x)) <= K


def test_torch_and_jax_agree_on_every_parameter(jax_x64):
    tp = [torch.tensor(p, requires_grad=True) for p in PARAMS]
    x = torch.from_numpy(refpe.input_add(IDS, TABLE, PE))
    encoder_loss(x, tp, torch.from_numpy(TARGETS)).backward()
    x_j = jnp.asarray(np.asarray(x))
    gj = jax.grad(lambda ps: encoder_loss(x_j, ps, jnp.asarray(TARGETS)))(
        [jnp.asarray(p) for p in PARAMS]
    )
    for a, b in zip(tp, gj, strict=True):
        np.testing.assert_allclose(a.grad.numpy(), np.asarray(b), rtol=1e-10, atol=1e-12)


def finite_difference(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        grad[i] = (f(x + e) - f(x - e)) / (2 * h)
    return grad


def test_gradients_are_finite_where_rows_see_no_key(jax_x64):
    """A fully padded batch row must give zero gradients, not NaN (the -inf never leaks)."""
    pad = np.array([[False, False, True], [True, True, True]])
    q = RNG.standard_normal((2, 1, 3, 4))
    c = RNG.standard_normal((2, 1, 3, 4))

    def f(q):
        return jnp.sum(refpe.attn_sdpa(q, q, q, key_padding_mask=jnp.asarray(pad)) * c)

    g = np.asarray(jax.grad(f)(jnp.asarray(q)))
    assert np.all(np.isfinite(g))
    np.testing.assert_array_equal(g[1], 0.0)
    fd = finite_difference(
        lambda a: float(np.sum(refpe.attn_sdpa(a, a, a, key_padding_mask=pad) * c)), q
    )
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
    qt = torch.tensor(q, requires_grad=True)
    (
        refpe.attn_sdpa(qt, qt, qt, key_padding_mask=torch.from_numpy(pad)) * torch.from_numpy(c)
    ).sum().backward()
    np.testing.assert_allclose(qt.grad.numpy(), g, rtol=1e-12, atol=1e-14)


W_SEED, B_SEED = RNG.standard_normal((4, 4)), RNG.standard_normal(4)
FUNCTIONS = {
    "layer_norm": lambda a, arr: refpe.layer_norm(a, arr(PARAMS[4]), arr(PARAMS[5]), eps=1e-5),
    "log_softmax": lambda a, arr: refpe.log_softmax(a),
    "attn_seed_simplified": lambda a, arr: refpe.attn_seed_simplified(a, arr(W_SEED), arr(B_SEED)),
    "attn_sdpa": lambda a, arr: refpe.attn_sdpa(a, a, a, causal=True),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jax_grad_matches_finite_differences(jax_x64, name):
    x = RNG.standard_normal((2, 3, 4))
    c = RNG.standard_normal((2, 3, 4))
    f = FUNCTIONS[name]
    fd = finite_difference(lambda a: float(np.sum(f(a, np.asarray) * c)), x)
    g = np.asarray(jax.grad(lambda a: jnp.sum(f(a, jnp.asarray) * c))(jnp.asarray(x)))
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)
