"""pe_sinusoidal_2d: mpmath ground truth, MAE's and MoCo v3's published code, invariants."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import normalised_error, to_numpy

import refpe
from refpe.specs.positional_2d import _scale

SPEC = refpe.spec("pe-sinusoidal-2d")
K = SPEC.error.K
GOOD = [c for c in SPEC.cases if c.raises is None]


def _mp_table(height, width, d, base=10000.0, order="xy", cls_token=False):
    mpmath.mp.dps = 40
    k = d // 4
    omega = [mpmath.power(base, -mpmath.mpf(i) / k) for i in range(k)]
    rows = []
    for r in range(height):
        for c in range(width):
            first, second = (c, r) if order == "xy" else (r, c)
            row = []
            for p in (first, second):
                row += [float(mpmath.sin(p * w)) for w in omega]
                row += [float(mpmath.cos(p * w)) for w in omega]
            rows.append(row)
    table = np.array(rows)
    return np.concatenate((np.zeros((1, d)), table)) if cls_token else table


def _mae(embed_dim, h, w):
    """MAE's util/pos_embed.py (He et al. 2022), as published: float64 frequencies."""
    grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack(grid, axis=0).reshape([2, 1, h, w])

    def one(dim, pos):
        omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
        out = np.einsum("m,d->md", pos.reshape(-1), 1.0 / 10000**omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one(embed_dim // 2, grid[0]), one(embed_dim // 2, grid[1])], axis=1)


def _moco(w, h, embed_dim):
    """MoCo v3's build_2d_sincos_position_embedding (Chen et al. 2021), float32 torch."""
    torch = pytest.importorskip("torch")
    gw, gh = torch.meshgrid(
        torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32), indexing="ij"
    )
    k = embed_dim // 4
    omega = 1.0 / (10000.0 ** (torch.arange(k, dtype=torch.float32) / k))
    ow, oh = gw.flatten()[:, None] * omega, gh.flatten()[:, None] * omega
    return torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1).double().numpy()


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c.name)
def test_float64_against_mpmath(case):
    got = refpe.pe_sinusoidal_2d(**case.kwargs, dtype="float64")
    exact = _mp_table(**case.kwargs)
    scale = _scale(case.kwargs, exact, "float64")
    assert normalised_error(got, exact, "float64", np.where(scale > 0, scale, 1)) <= K["float64"]


@pytest.mark.parametrize("case", GOOD, ids=lambda c: c.name)
def test_float32_in_every_namespace(xp, case):
    got = refpe.pe_sinusoidal_2d(**case.kwargs, dtype="float32", xp=xp)
    assert got.dtype == xp.float32
    exact = refpe.pe_sinusoidal_2d(**case.kwargs, dtype="float64")
    scale = _scale(case.kwargs, exact, "float32")
    assert normalised_error(got, exact, "float32", np.where(scale > 0, scale, 1)) <= K["float32"]


@pytest.mark.parametrize(("h", "w", "d"), [(4, 4, 16), (3, 5, 8), (14, 14, 64)])
def test_matches_mae(h, w, d):
    got = refpe.pe_sinusoidal_2d(h, w, d, dtype="float64")
    mae = _mae(d, h, w)
    scale = _scale({"height": h, "width": w, "d": d}, got, "float64")
    assert normalised_error(mae, got, "float64", scale) <= K["float64"]


@pytest.mark.parametrize(("h", "w", "d"), [(4, 4, 16), (3, 5, 8), (14, 14, 64)])
def test_matches_moco_v3_with_the_axes_swapped(h, w, d):
    moco = _moco(w, h, d)
    kw = {"height": w, "width": h, "d": d, "order": "yx"}
    got = refpe.pe_sinusoidal_2d(**kw, dtype="float64")
    assert normalised_error(moco, got, "float32", _scale(kw, got, "float32")) <= K["float32"]
    if h == w:
        square = refpe.pe_sinusoidal_2d(h, w, d, order="yx", dtype="float64")
        np.testing.assert_array_equal(square, got)


def test_halves_depend_on_one_axis_each():
    h, w, d = 3, 4, 8
    t = refpe.pe_sinusoidal_2d(h, w, d).reshape(h, w, d)
    np.testing.assert_array_equal(
        t[:, :, : d // 2], np.broadcast_to(t[:1, :, : d // 2], t[:, :, : d // 2].shape)
    )
    np.testing.assert_array_equal(
        t[:, :, d // 2 :], np.broadcast_to(t[:, :1, d // 2 :], t[:, :, d // 2 :].shape)
    )
    yx = refpe.pe_sinusoidal_2d(h, w, d, order="yx").reshape(h, w, d)
    np.testing.assert_array_equal(yx, np.concatenate([t[..., d // 2 :], t[..., : d // 2]], -1))
    q = d // 4
    for sin, cos in ((t[..., :q], t[..., q : 2 * q]), (t[..., 2 * q : 3 * q], t[..., 3 * q :])):
        np.testing.assert_allclose(sin**2 + cos**2, 1.0, rtol=0, atol=4e-16)


def test_cls_row_and_uses_pe_sinusoidal(xp):
    t = refpe.pe_sinusoidal_2d(2, 3, 8, cls_token=True, xp=xp, dtype="float32")
    assert t.shape == (7, 8)
    np.testing.assert_array_equal(to_numpy(t)[0], 0.0)
    cols = refpe.pe_sinusoidal(
        xp.asarray([0, 1, 2, 0, 1, 2]), 4, layout="concatenated", dtype=xp.float32,
        kernel="reference",
    )  # fmt: skip
    np.testing.assert_array_equal(to_numpy(t)[1:, :4], to_numpy(cols))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"d": 6}, ValueError, "d must be a multiple of 4 .*got 6"),
        ({"height": 0}, ValueError, "height must be positive, got 0"),
        ({"width": -1}, ValueError, "width must be positive, got -1"),
        ({"order": "hw"}, ValueError, "order must be one of .*'hw'"),
        ({"height": 2.0}, TypeError, "height must be an integer, got 2.0"),
    ],
)
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        refpe.pe_sinusoidal_2d(**({"height": 2, "width": 2, "d": 8} | kwargs))
