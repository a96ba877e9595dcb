"""The input policy (docs/guides/inputs.md): no silent wrong answer from an odd input.

Each case was a reproducer: an integer, bool or complex array given to a float formula
(answered in the integer dtype, truncated, or with the imaginary part dropped), ``True`` taken
as a size or seed, a NaN step size, a Python list, a huge size that ran for seconds or
minutes, and PyTorch ids or positions of dtypes PyTorch does not index with.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import refpe

torch = pytest.importorskip("torch")

F = np.array([[0.25, -0.5], [1.0, 2.0]])
INT = np.array([[3, 4], [3, 4]])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda a: refpe.rope(a[None], 2), "x"),
        (lambda a: refpe.sgd_step(a, F, 1.0), "W"),
        (lambda a: refpe.sgd_step(F, a, 1.0), "dW"),
        (lambda a: refpe.input_add(np.array([[0, 1]]), a, F), "table"),
        (lambda a: refpe.input_add(np.array([[0, 1]]), F, a), "pe_table"),
        (lambda a: refpe.post_ln(a, lambda x: x), "x"),
        (lambda a: refpe.pre_ln(a, lambda x: x), "x"),
        (lambda a: refpe.pe_linear(np.array([0, 1]), a[0], a[1]), "w"),
        (lambda a: refpe.output_projection(F, F, a[0]), "bias"),
        (lambda a: refpe.output_projection(a, F), "h"),
        (
            lambda a: refpe.input_bert(np.array([[0, 1]]), a, F, F, np.ones(2), np.zeros(2)),
            "word",
        ),
    ],
)
@pytest.mark.parametrize("dtype", ["int64", "int8", "uint8", "bool", "complex128"])
def test_float_formulas_refuse_integer_bool_and_complex(call, name, dtype):
    a = (INT if dtype != "complex128" else INT + 1j).astype(dtype)
    with pytest.raises(TypeError, match=rf"^{name} must be a float array, got dtype {dtype}"):
        call(a)


def test_rope_of_an_integer_array_is_no_longer_truncated():
    # the float answer of the reproducer, which the integer call rounded to [-1, 4]
    got = refpe.rope(INT[None].astype(float), 2)
    np.testing.assert_allclose(got[0, 1], [-1.745, 4.686], atol=1e-3)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: refpe.pe_sinusoidal(4, True), "d"),
        (lambda: refpe.pe_sinusoidal(4, 4, offset=True), "offset"),
        (lambda: refpe.alibi(True, 2, 2), "num_heads"),
        (lambda: refpe.init_normal((2,), seed=True), "seed"),
        (
            lambda: refpe.embedding_grad(np.array([0]), np.ones((1, 2)), num_embeddings=True),
            "num_embeddings",
        ),
        (
            lambda: refpe.embedding_grad(torch.tensor([0]), torch.ones(1, 2), num_embeddings=True),
            "num_embeddings",
        ),
    ],
)
def test_sizes_and_seeds_refuse_bool(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, got the bool True"):
        call()
    with pytest.raises(TypeError, match=r"^shape must be an int or a tuple of ints"):
        refpe.init_normal((True, 2), seed=0)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), True, "0.1"])
def test_sgd_step_refuses_a_non_finite_or_odd_step(lr):
    with pytest.raises(ValueError, match=r"^lr must be a finite real number"):
        refpe.sgd_step(F, F, lr)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: refpe.rope([[1.0, 2.0]], 1), "x"),
        (lambda: refpe.sgd_step([1.0, 2.0], np.ones(2), 0.1), "W"),
        (lambda: refpe.layer_norm([1.0, 2.0]), "x"),
        (lambda: refpe.pe_sinusoidal([0, 1], 4), "positions"),
    ],
)
def test_python_lists_are_refused_naming_the_argument(call, name):
    with pytest.raises(TypeError, match=rf"^{name} must be an array .* got a Python list"):
        call()


def test_errors_name_the_public_argument():
    with (
        pytest.raises(ValueError, match=r"^x \+ f\(x\) must be finite"),
        np.errstate(over="ignore"),
    ):
        refpe.post_ln(np.array([[1e308, 1e308]]), lambda x: x)
    with pytest.raises(ValueError, match=r"^x must be finite"):
        refpe.layer_norm(np.array([[np.nan, 1.0]]))


#: A (1, 200 000, 8) array that costs nothing: its scores would be 4 * 10^10 elements.
_LONG = np.broadcast_to(np.zeros(8), (1, 200_000, 8))


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: refpe.pe_sinusoidal(8, 10**12), "d"),
        (lambda: refpe.pe_sinusoidal(2**70, 8), "positions"),
        (lambda: refpe.pe_sinusoidal(8, 2**70, xp=torch), "d"),
        (lambda: refpe.pe_sinusoidal_2d(4, 4, 10**12), "d"),
        (lambda: refpe.pe_sinusoidal_2d(2**20, 2**20, 64), "height * width * d"),
        (lambda: refpe.pe_sinusoidal_learnable(4, 10**12), "d"),
        (lambda: refpe.pe_sinusoidal_learnable(2**31 - 1, 2**10), "max_len * d"),
        (lambda: refpe.rope_inv_freq(10**12), "rotary_dim"),
        (lambda: refpe.alibi(2**70, 2, 2), "num_heads"),
        (lambda: refpe.alibi(10**12, 2, 2), "num_heads"),
        (lambda: refpe.alibi(8, 10**6, 10**6), "num_heads * q_len * k_len"),
        (lambda: refpe.init_normal((10**12,), seed=0), "shape"),
        (lambda: refpe.t5_bias(np.ones((32, 8)), 10**6, 10**6), "table.shape[1] * q_len * k_len"),
        (
            lambda: refpe.embedding_grad(np.array([0]), np.ones((1, 2)), num_embeddings=2**40),
            "num_embeddings",
        ),
        (
            lambda: refpe.init_framework_default(
                (2**40, 2**40), framework="torch", kind="linear", seed=0
            ),
            "shape",
        ),
        (lambda: refpe.t5_bucket(np.arange(3), num_buckets=10**9), "num_buckets"),
        (lambda: refpe.t5_bias(np.ones((32, 8)), 4, 4, num_buckets=2**70), "num_buckets"),
        (lambda: refpe.attn_sdpa(_LONG, _LONG, _LONG), "the scores"),
        (lambda: refpe.multi_head_attention(_LONG, *[np.eye(8)] * 4, num_heads=2), "the scores"),
    ],
)
def test_huge_sizes_fail_at_once_naming_the_argument(call, name):
    with pytest.raises(ValueError):
        call()  # the first call of a process loads the kernels: time the second
    start = time.perf_counter()
    with pytest.raises(ValueError, match="^" + re.escape(name) + " "):
        call()
    assert time.perf_counter() - start < 0.1


TORCH_INTS = [torch.int8, torch.uint8, torch.int16, torch.uint16, torch.uint32, torch.uint64]


@pytest.mark.parametrize("dtype", TORCH_INTS, ids=str)
def test_torch_ids_and_positions_of_every_integer_dtype(dtype):
    p = torch.tensor([0, 3, 5]).to(dtype)
    ref = np.array([0, 3, 5])
    table = torch.linspace(0, 1, 24, dtype=torch.float64).reshape(6, 4)
    got = refpe.pe_sinusoidal(p, 8, dtype="float64").numpy()
    np.testing.assert_array_equal(got, refpe.pe_sinusoidal(ref, 8))
    x = torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4)
    np.testing.assert_array_equal(
        refpe.rope(x, p).numpy(), refpe.rope(x.numpy(), ref, kernel="reference")
    )
    np.testing.assert_array_equal(refpe.token_lookup(p, table).numpy(), table.numpy()[ref])
    got = refpe.input_add(p[None], table, table).numpy()
    np.testing.assert_array_equal(got, refpe.input_add(ref[None], table.numpy(), table.numpy()))
    g = refpe.embedding_grad(p, x, num_embeddings=6).numpy()
    np.testing.assert_array_equal(g, refpe.embedding_grad(ref, x.numpy(), num_embeddings=6))


def test_torch_uint64_past_int64_is_out_of_range():
    p = torch.tensor([2**63 + 5], dtype=torch.uint64)
    with pytest.raises(IndexError, match=r"^ids out of range: value 9223372036854775813"):
        refpe.token_lookup(p, torch.ones(6, 4))


def test_narrow_positions_do_not_wrap():
    # int8 positions plus an offset of 100 wrapped past 127; JAX's float32 reduction wrapped too
    got = refpe.pe_sinusoidal(np.array([0, 100], dtype=np.int8), 4, offset=100, kernel="reference")
    np.testing.assert_array_equal(got, refpe.pe_sinusoidal(np.array([100, 200]), 4))
    jnp = pytest.importorskip("jax.numpy")
    got = refpe.pe_sinusoidal(jnp.asarray([0, 5], dtype=jnp.int8), 2, kernel="reference")
    want = refpe.pe_sinusoidal(jnp.asarray([0, 5], dtype=jnp.int32), 2, kernel="reference")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    got = refpe.pe_sinusoidal(jnp.asarray([0, 5], dtype=jnp.uint32), 2, kernel="reference")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
