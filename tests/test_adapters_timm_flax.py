"""The timm and Flax (with optax) subjects, run through the suite (``refpe.conformance.run``):
every verdict asserted, case by case and dtype by dtype (pass, loose with the diagnosis, the
declared difference with its reason, or skipped with the reason), then the reasons checked
against the libraries themselves, and a planted mistake that the suite must catch."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest

import refpe
from refpe.conformance import Plan, run
from refpe.conformance.subjects import subjects

SINCOS_ROW_FIRST = "timm.layers.build_sincos2d_pos_embed (interleave_sin_cos=True)"
SINCOS_DEFAULT = "timm.layers.build_sincos2d_pos_embed (default)"
ROPE = "timm.layers.RotaryEmbedding + apply_rot_embed (in_pixels=False)"
ROPE_CAT = "timm.layers.RotaryEmbeddingCat + apply_rot_embed_cat (in_pixels=False)"
ROPE_PIXELS = "timm.layers.RotaryEmbedding (default in_pixels=True)"
LINEN_EMBED, NNX_EMBED = "flax.linen.Embed", "flax.nnx.Embed"
ATTENTION = "flax.linen.dot_product_attention"
LN_TWO_PASS = "flax.linen.LayerNorm (epsilon=eps, use_fast_variance=False)"
LN_EPS = "flax.linen.LayerNorm (epsilon=eps)"
LN_DEFAULTS = "flax.linen.LayerNorm() (defaults)"
XENT = "optax.softmax_cross_entropy_with_integer_labels"

SWEEPS = (
    "positions to 2^24",
    "positions to 2^24, head_dim 64",
    "positions to 2^24, head_dim 64, interleaved",
)
XY_GRIDS = (
    "4 x 4, d 16",
    "3 x 5 (not square)",
    "14 x 14, d 64 (ViT-B/16 at 224 px, narrowed)",
    "grid coordinates to 1023",
    "base 100",
)

#: Per subject: the cases that pass and those that are ``loose`` (with a word of the
#: diagnosis) or ``differs`` (with a word of the declared reason), in every dtype it runs;
#: every other case is skipped with a reason.
EXPECTED = {
    SINCOS_ROW_FIRST: {
        "pass": {"row first", "1 x 1, d 4", "d not a multiple of 4"},
        "differs": dict.fromkeys(XY_GRIDS, "no argument gives MAE's column-first order 'xy'"),
    },
    SINCOS_DEFAULT: {
        "pass": {"d not a multiple of 4"},
        "differs": dict.fromkeys(
            (*XY_GRIDS, "row first", "1 x 1, d 4"), "the sines of both axes before the cosines"
        ),
    },
    ROPE: {
        "pass": {"half", "interleaved", "per-row offsets", "head_dim 2"},
        "loose": dict.fromkeys(SWEEPS, "angle computed in float32"),
    },
    ROPE_CAT: {
        "pass": {"half", "interleaved", "per-row offsets", "head_dim 2"},
        "loose": dict.fromkeys(SWEEPS, "angle computed in float32"),
    },
    ROPE_PIXELS: {
        "differs": dict.fromkeys(("half", "interleaved", "head_dim 2"), "in_pixels=True"),
    },
    LINEN_EMBED: {
        "pass": {
            "batch of ids",
            "first and last row",
            "0-d id",
            "empty ids",
            "one-row table",
            "tiny and huge values",
        },
        "differs": dict.fromkeys(("id out of range", "negative id"), "mode='fill'"),
    },
    ATTENTION: {
        "pass": {
            "b2-h2-t4-d8",
            "causal",
            "key-padding",
            "bias",
            "cross-causal-tq3-tk5",
            "large-scores",
        },
        "differs": {"row-sees-no-key": "jnp.finfo(dtype).min"},
    },
    LN_TWO_PASS: {
        "pass": {"plain-4x8", "affine-2x3x16", "bert-eps", "large-mean", "constant-row", "width-1"}
    },
    LN_EPS: {
        "pass": {"plain-4x8", "affine-2x3x16", "bert-eps", "constant-row", "width-1"},
        "differs": {"large-mean": "E[x^2] - E[x]^2"},
    },
    LN_DEFAULTS: {
        "pass": {"constant-row", "width-1"},
        "differs": {
            "plain-4x8": "default epsilon is 1e-6, the case's eps 1e-05",
            "affine-2x3x16": "default epsilon is 1e-6, the case's eps 1e-05",
            "bert-eps": "default epsilon is 1e-6, the case's eps 1e-12",
            "large-mean": "E[x^2] - E[x]^2",
        },
    },
    XENT: {
        "pass": {"n6-c5", "b2-t4-c7", "sum", "large-logits", "float-targets"},
        "differs": {"target-out-of-range": "a target >= C gives a NaN loss"},
    },
}
EXPECTED[NNX_EMBED] = EXPECTED[LINEN_EMBED]
TIMM = (SINCOS_ROW_FIRST, SINCOS_DEFAULT, ROPE, ROPE_CAT, ROPE_PIXELS)
FLAX = (LINEN_EMBED, NNX_EMBED, ATTENTION, LN_TWO_PASS, LN_EPS, LN_DEFAULTS, XENT)


def _subject(name):
    (s,) = [s for s in subjects() if s.name == name]
    return s


def _run_available(names):
    """The suite's verdicts for the subjects of ``names`` whose libraries are installed."""
    here = tuple(n for n in names if _subject(n).unavailable() is None)
    results = run(Plan(subjects=here)) if here else []
    return {n: [r for r in results if r.subject == n] for n in here}


@pytest.fixture(scope="module")
def timm_results():
    return _run_available(TIMM)


@pytest.fixture(scope="module")
def flax_results():
    return _run_available(FLAX)


def _assert_verdicts(name, by_subject):
    subject = _subject(name)
    if subject.unavailable():
        pytest.skip(subject.unavailable())
    expected, results = EXPECTED[name], by_subject[name]
    spec = refpe.spec(subject.spec)
    dtypes = [d for d in subject.dtypes if d in spec.dtypes]
    assert {r.dtype for r in results} == set(dtypes), name
    for dtype in dtypes:
        got = {r.case: r for r in results if r.dtype == dtype}
        assert set(got) == {c.name for c in spec.cases}, (name, dtype)
        for case, r in got.items():
            where = (name, case, dtype, r.verdict, r.reason, r.diagnosis)
            if case in expected.get("pass", ()):
                assert r.verdict == "pass", where
            elif case in expected.get("loose", {}):
                assert r.verdict == "loose" and expected["loose"][case] in r.diagnosis, where
            elif case in expected.get("differs", {}):
                assert r.verdict == "differs", where
                assert r.reason.startswith("differs by convention: "), where
                assert expected["differs"][case] in r.reason, where
            else:
                assert r.verdict == "skipped" and r.reason, where


@pytest.mark.parametrize("name", TIMM)
def test_timm_verdicts(timm_results, name):
    _assert_verdicts(name, timm_results)


@pytest.mark.parametrize("name", FLAX)
def test_flax_verdicts(flax_results, name):
    _assert_verdicts(name, flax_results)


def test_subjects_are_registered_with_a_convention():
    for name in (*TIMM, *FLAX):
        s = _subject(name)
        assert s.convention, name
        assert s.library in {"timm", "flax", "optax"}
        assert s.spec in {sp.id for sp in refpe.specs()}
        for case in refpe.spec(s.spec).cases:
            why = s.skip(case)
            assert why is None or (isinstance(why, str) and why), (name, case.name)


def test_a_missing_library_is_skipped_with_the_reason():
    for name in (*TIMM, *FLAX):
        s = _subject(name)
        if importlib.util.find_spec(s.library) is None:
            assert s.unavailable() == f"{s.library} is not installed"
        else:
            assert s.unavailable() is None or "is not installed" in s.unavailable()


# --- the declared reasons, checked against the libraries --------------------------------------


def _timm():
    if _subject(ROPE).unavailable():
        pytest.skip(_subject(ROPE).unavailable())
    from refpe.conformance.adapters.timm import sincos

    return sincos()


def test_timm_loads_without_torchvision():
    m = _timm()
    if importlib.util.find_spec("torchvision") is None:
        assert m.__name__ == "_refpe_timm_layers.pos_embed_sincos"
    assert hasattr(m, "build_sincos2d_pos_embed") and hasattr(m, "apply_rot_embed_cat")


@pytest.mark.parametrize(
    ("h", "w", "d", "base"), [(4, 4, 16, 1e4), (3, 5, 8, 1e4), (2, 3, 8, 100.0)]
)
def test_timm_sincos2d_is_refpe_row_first_and_a_column_permutation(h, w, d, base):
    m = _timm()
    row_first = m.build_sincos2d_pos_embed([h, w], d, base, interleave_sin_cos=True).double()
    exact = refpe.pe_sinusoidal_2d(h, w, d, base=base, order="yx")
    np.testing.assert_allclose(row_first.numpy(), exact, atol=4 * 2.0**-24 * max(h, w))
    # the default is the same numbers, sin(row) sin(col) cos(row) cos(col)
    k = d // 4
    perm = np.array([*range(k), *range(2 * k, 3 * k), *range(k, 2 * k), *range(3 * k, 4 * k)])
    default = m.build_sincos2d_pos_embed([h, w], d, base).double().numpy()
    np.testing.assert_array_equal(default, row_first.numpy()[:, perm])
    # reverse_coord=True is MoCo v3's table, pe_sinusoidal_2d(W, H, order="yx"), not order "xy"
    rev = m.build_sincos2d_pos_embed([h, w], d, base, reverse_coord=True, interleave_sin_cos=True)
    moco = refpe.pe_sinusoidal_2d(w, h, d, base=base, order="yx")
    np.testing.assert_allclose(rev.double().numpy(), moco, atol=4 * 2.0**-24 * max(h, w))
    assert not np.allclose(rev.double().numpy(), refpe.pe_sinusoidal_2d(h, w, d, base=base))


def test_flax_default_layer_norm_is_refpe_with_its_epsilon():
    pytest.importorskip("flax")
    case = next(c for c in refpe.spec("layer-norm").cases if c.name == "plain-4x8")
    x = case.kwargs["x"]
    got = _subject(LN_DEFAULTS).call({"x": x}, "float64")
    np.testing.assert_allclose(got, refpe.layer_norm(x, eps=1e-6), rtol=0, atol=1e-12)
    assert np.max(np.abs(got - refpe.layer_norm(x))) > 1e-7


# --- a planted mistake is caught ------------------------------------------------------------


def _planted(name, change):
    s = _subject(name)
    if s.unavailable():
        pytest.skip(s.unavailable())
    return dataclasses.replace(
        s, name=f"{name} (planted)", call=lambda kw, dtype: s.call(change(kw), dtype)
    )


def _problems(subject):
    plan = Plan(
        specs=(subject.spec,), dtypes=("float32",), subjects=("__none__",), extra=(subject,)
    )
    results = run(plan)
    return {r.case for r in results if r.verdict in ("fail", "error")}


def test_a_wrong_base_in_the_timm_wrapper_fails():
    planted = _planted(ROPE, lambda kw: {**kw, "base": 2 * kw.get("base", 10000.0)})
    assert {"half", "interleaved", "per-row offsets"} <= _problems(planted)


def test_a_wrong_epsilon_in_the_flax_wrapper_fails():
    planted = _planted(LN_TWO_PASS, lambda kw: {**kw, "eps": 10 * kw.get("eps", 1e-5)})
    assert {"plain-4x8", "affine-2x3x16"} <= _problems(planted)
