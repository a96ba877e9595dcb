"""The cached sinusoid tables cannot be changed by what a caller does with an answer.

Each test takes an answer of ``refpe.pe_sinusoidal`` (served from the kernels' cache), writes
to it in one way a user might (through NumPy, PyTorch, JAX, DLPack), and then asks again: the
new answer must still be the reference's. Before the fix, ``torch.asarray(t).mul_(0)`` made
every later call of the process return zeros.
"""

from __future__ import annotations

import numpy as np
import pytest

import refpe
from refpe.kernels import positional as KP

torch = pytest.importorskip("torch")

ARGS = (48, 8)
KW = {"dtype": "float32"}


def _want() -> np.ndarray:
    return np.asarray(refpe.pe_sinusoidal(*ARGS, kernel="reference", **KW))


def _numpy_mul_zero(t):
    torch.asarray(t).mul_(0)


def _numpy_flag(t):
    try:
        t.flags.writeable = True
    except ValueError:
        return
    t[0, 1] = 12345


def _numpy_from_numpy(t):
    torch.from_numpy(t).add_(1)


def _numpy_in_place(t):
    np.multiply(t, 0, out=t)


def _numpy_base(t):
    # the memory behind the answer, reached through .base, written through torch
    base = t.base if isinstance(t.base, np.ndarray) else t
    torch.asarray(base).fill_(7)


NUMPY_WRITES = [_numpy_mul_zero, _numpy_flag, _numpy_from_numpy, _numpy_in_place, _numpy_base]


@pytest.mark.parametrize("write", NUMPY_WRITES, ids=lambda f: f.__name__)
def test_numpy_answer_writes_do_not_reach_the_cache(write):
    want = _want()
    for _ in range(2):  # the second call is the cached one
        t = refpe.pe_sinusoidal(*ARGS, **KW)
        np.testing.assert_array_equal(t, want)
        write(t)
    np.testing.assert_array_equal(refpe.pe_sinusoidal(*ARGS, **KW), want)
    # rows of the cached table serve position arrays: they are right too
    pos = np.array([0, 5, 47])
    np.testing.assert_array_equal(refpe.pe_sinusoidal(pos, 8, **KW), want[pos])


def test_the_cache_itself_cannot_be_made_writeable():
    refpe.pe_sinusoidal(*ARGS, **KW)
    cached = KP.sinusoid_table(48, 8, 10000.0, "interleaved", "transformer", 0, "float32")
    assert not cached.flags.writeable
    with pytest.raises(ValueError):
        cached.flags.writeable = True
    t = refpe.pe_sinusoidal(*ARGS, **KW)
    assert not np.shares_memory(t, cached)


def test_torch_answer_writes_do_not_reach_the_cache():
    want = torch.from_numpy(_want())
    for _ in range(2):
        t = refpe.pe_sinusoidal(*ARGS, xp=torch, **KW)
        assert refpe.last_kernel().endswith("pe_sinusoidal")
        torch.testing.assert_close(t, want, rtol=0, atol=0)
        t.mul_(0)
        t.numpy()[0, 1] = 12345
    torch.testing.assert_close(refpe.pe_sinusoidal(*ARGS, xp=torch, **KW), want, rtol=0, atol=0)
    pos = torch.tensor([0, 5, 47])
    torch.testing.assert_close(refpe.pe_sinusoidal(pos, 8, **KW), want[pos], rtol=0, atol=0)


def test_jax_answer_writes_do_not_reach_the_cache():
    jnp = pytest.importorskip("jax.numpy")
    want = _want()
    for _ in range(2):
        t = refpe.pe_sinusoidal(*ARGS, xp=jnp, **KW)
        np.testing.assert_array_equal(np.asarray(t), want)
        try:  # DLPack hands PyTorch the buffer itself where it can
            torch.from_dlpack(t).mul_(0)
        except (RuntimeError, TypeError, BufferError):
            pass
        view = np.asarray(t)
        try:
            view.flags.writeable = True
            view[0, 1] = 12345
        except ValueError:
            pass
    np.testing.assert_array_equal(np.asarray(refpe.pe_sinusoidal(*ARGS, xp=jnp, **KW)), want)
    np.testing.assert_array_equal(refpe.pe_sinusoidal(*ARGS, **KW), want)
