"""init-*: seeded host draws, identical on every backend, and their distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from helpers import to_numpy

from refpe import init_framework_default, init_normal, init_truncated_normal, init_uniform

ALPHA = 1e-3
SEED = 20240601


def _host(name, shape, seed, **kw):
    """The reference draw, written out independently of refpe."""
    g = np.random.default_rng(seed)
    if name == "normal":
        return kw.get("mean", 0.0) + kw.get("std", 0.02) * g.standard_normal(shape)
    if name == "uniform":
        return kw.get("mean", 0.0) + kw.get("a", 0.05) * (2.0 * g.random(shape) - 1.0)
    z = g.standard_normal(shape)
    while (bad := np.abs(z) > 2).any():
        z[bad] = g.standard_normal(int(bad.sum()))
    return kw.get("mean", 0.0) + kw.get("std", 0.02) * z


INITS = {"normal": init_normal, "uniform": init_uniform, "truncated": init_truncated_normal}


@pytest.mark.parametrize("name", INITS)
def test_same_seed_same_bits_on_every_backend(xp, name):
    f = INITS[name]
    expected = _host(name, (7, 5), 3, mean=0.5)
    for dt in ("float64", "float32"):
        if dt not in xp.__array_namespace_info__().dtypes(kind="real floating"):
            continue
        out = f((7, 5), seed=3, mean=0.5, dtype=dt, xp=xp)
        assert out.dtype == getattr(xp, dt)
        np.testing.assert_array_equal(to_numpy(out), expected.astype(dt))
    default = xp.__array_namespace_info__().default_dtypes()["real floating"]
    assert f((2, 2), seed=1, xp=xp).dtype == default


def test_float16_and_bfloat16_rounded_once():
    torch = pytest.importorskip("torch")
    import array_api_compat.torch as tx

    host = _host("normal", (50,), 9, std=1.0)
    h16 = init_normal(50, seed=9, std=1.0, dtype="float16", xp=tx)
    np.testing.assert_array_equal(h16.numpy(), host.astype(np.float16))
    b16 = init_normal(50, seed=9, std=1.0, dtype="bfloat16", xp=tx)
    assert b16.dtype == torch.bfloat16
    direct = torch.asarray(host, dtype=torch.float64).to(torch.bfloat16)
    assert torch.equal(b16, direct)


def test_device_argument():
    import array_api_strict as xs

    dev = xs.Device("device1")
    out = init_uniform((3, 2), seed=4, xp=xs, device=dev)
    assert out.device == dev


@pytest.mark.parametrize("f", [*INITS.values(), init_framework_default])
def test_seed_required(f):
    kw = {"framework": "torch", "kind": "embedding"} if f is init_framework_default else {}
    with pytest.raises(TypeError, match=r"seed is required.*no hidden global RNG"):
        f((2, 3), seed=None, **kw)
    with pytest.raises(TypeError, match="seed"):
        f((2, 3), **kw)
    with pytest.raises(ValueError, match="seed must be a non-negative int, got -1"):
        f((2, 3), seed=-1, **kw)


def test_bad_shapes_and_parameters():
    with pytest.raises(ValueError, match=r"shape must not have negative sizes, got \(2, -1\)"):
        init_normal((2, -1), seed=0)
    with pytest.raises(TypeError, match="shape must be an int or a tuple of ints, got"):
        init_normal((2, 1.5), seed=0)
    with pytest.raises(ValueError, match=r"std must be finite and >= 0, got -0\.1"):
        init_normal((2,), seed=0, std=-0.1)
    with pytest.raises(ValueError, match="a must be finite and >= 0, got inf"):
        init_uniform((2,), seed=0, a=math.inf)
    with pytest.raises(ValueError, match="mean must be a finite real number, got nan"):
        init_truncated_normal((2,), seed=0, mean=math.nan)
    with pytest.raises(ValueError, match="dtype must be one of"):
        init_normal((2,), seed=0, dtype="int8")
    assert init_normal((0, 4), seed=0).shape == (0, 4)


def test_std_is_the_standard_deviation_not_the_variance():
    """Seed 004 §1 erratum: "方差 0.02" but torch.randn(dim) * 0.02."""
    w = init_normal((300, 200), seed=SEED, std=0.02)
    n = w.size
    sd = float(np.std(w))
    # the sample std of n normals has standard error about std / sqrt(2n)
    assert abs(sd - 0.02) < 5 * 0.02 / math.sqrt(2 * n), f"seed={SEED}, std={sd}"
    assert abs(sd - math.sqrt(0.02)) > 0.1
    ks = scipy.stats.kstest(w.ravel(), scipy.stats.norm(0, 0.02).cdf)
    assert ks.pvalue > ALPHA, f"seed={SEED}: {ks}"


def test_uniform_range_and_distribution():
    w = init_uniform((200, 100), seed=SEED, a=0.05, mean=1.0)
    assert w.min() >= 0.95 and w.max() < 1.05
    ks = scipy.stats.kstest(w.ravel(), scipy.stats.uniform(0.95, 0.1).cdf)
    assert ks.pvalue > ALPHA, f"seed={SEED}: {ks}"


def test_truncated_normal_truncation_and_moments():
    std, mean = 0.02, 0.1
    w = init_truncated_normal((300, 100), seed=SEED, std=std, mean=mean)
    assert w.min() >= mean - 2 * std and w.max() <= mean + 2 * std
    dist = scipy.stats.truncnorm(-2, 2, loc=mean, scale=std)
    ks = scipy.stats.kstest(w.ravel(), dist.cdf)
    assert ks.pvalue > ALPHA, f"seed={SEED}: {ks}"
    assert abs(w.std() - dist.std()) < 5 * dist.std() / math.sqrt(w.size), f"seed={SEED}"


def _torch_native(kind, shape, seed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    if kind == "embedding":
        return torch.nn.Embedding(*shape).weight.detach().numpy().ravel()
    out_features, in_features = shape
    return torch.nn.Linear(in_features, out_features).weight.detach().numpy().ravel()


@pytest.mark.parametrize("kind", ["embedding", "linear"])
def test_torch_defaults_match_torch_initialisers(kind):
    shape = (120, 90)
    ours = init_framework_default(shape, framework="torch", kind=kind, seed=SEED)
    native = _torch_native(kind, shape, SEED)
    ks = scipy.stats.ks_2samp(ours.ravel(), native)
    assert ks.pvalue > ALPHA, f"seed={SEED}: {ks}"
    if kind == "linear":  # bound 1/sqrt(fan_in), fan_in = shape[1]
        bound = 1 / math.sqrt(shape[1])
        assert np.abs(ours).max() <= bound and np.abs(native).max() <= bound
        assert np.abs(ours).max() > 0.99 * bound


@pytest.mark.parametrize(
    ("framework", "kind", "dist"),
    [
        ("tf", "embedding", scipy.stats.uniform(0.0, 1.0)),
        ("keras", "embedding", scipy.stats.uniform(-0.05, 0.1)),
        ("keras", "linear", scipy.stats.uniform(-math.sqrt(6 / 210), 2 * math.sqrt(6 / 210))),
    ],
)
def test_tf_and_keras_defaults(framework, kind, dist):
    w = init_framework_default((120, 90), framework=framework, kind=kind, seed=SEED)
    ks = scipy.stats.kstest(w.ravel(), dist.cdf)
    assert ks.pvalue > ALPHA, f"seed={SEED}: {ks}"
    assert dist.support()[0] <= w.min() and w.max() <= dist.support()[1]


def test_framework_default_errors():
    with pytest.raises(ValueError, match=r"unknown framework/kind combination \('tf', 'linear'\)"):
        init_framework_default((3, 4), framework="tf", kind="linear", seed=0)
    with pytest.raises(ValueError, match=r"known: \('torch', 'embedding'\), \('torch', 'linear'\)"):
        init_framework_default((3, 4), framework="jax", kind="embedding", seed=0)
    with pytest.raises(ValueError, match=r"a linear weight has a 2-D shape, got \(5,\)"):
        init_framework_default(5, framework="torch", kind="linear", seed=0)
