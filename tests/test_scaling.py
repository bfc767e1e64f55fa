"""iuvs.scaling (the 2015 notebook API) against scipy.optimize.curve_fit, numpy.polyfit and plain
numpy computations of the residual, the fractional residual and the hot-pixel / mask exclusion."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import layouts, make_darks
from scipy.optimize import curve_fit

import iuvs
from iuvs import exceptions as ex
from iuvs import scaling


def addmodel(x, a):  # the notebook's model functions
    return a + x


def multimodel(x, a):
    return a * x


def _polyfit(x, y, deg, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's RankWarning at high degree
        return np.polyfit(np.asarray(x, float), np.asarray(y, float), deg, **kw)


@pytest.fixture(scope="module")
def pair():
    x, y = make_darks(seed=3)
    return x, y


@pytest.fixture(scope="module")
def flat(pair):
    x, y = pair
    return x.ravel().astype(float), y.ravel().astype(float)


# ------------------------------------------------------------ additive / multiplicative


@pytest.mark.parametrize(
    ("cls", "model"), [(scaling.AddScaler, addmodel), (scaling.MultScaler, multimodel)]
)
def test_add_mult_match_curve_fit(pair, flat, cls, model):
    p0, pcov = curve_fit(model, *flat)
    s = cls(*pair)
    assert s.do_fit() is s
    np.testing.assert_allclose(s.p, p0, rtol=1e-7)
    np.testing.assert_allclose(s.pcov, pcov, rtol=1e-7)
    np.testing.assert_allclose(s.perr, np.sqrt(np.diag(pcov)), rtol=1e-7)
    assert s.p.shape == (1,)


@pytest.mark.parametrize(
    ("cls", "model"), [(scaling.AddScaler, addmodel), (scaling.MultScaler, multimodel)]
)
def test_add_mult_derived_arrays_match_numpy(pair, flat, cls, model):
    x, y = pair
    (a,), _ = curve_fit(model, *flat)
    s = cls(x, y)
    scaled = model(x.astype(float), a)
    scale = float(np.abs(y).max())
    np.testing.assert_allclose(s.scaled, scaled, rtol=1e-7)
    np.testing.assert_allclose(s.residual, y - scaled, rtol=0, atol=1e-7 * scale)
    np.testing.assert_allclose(s.fractional, (y - scaled) / y, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s.apply_fit([10.0, 20.0]), model(np.array([10.0, 20.0]), a))
    assert s.scaled.shape == s.residual.shape == s.fractional.shape == x.shape
    assert s.p_dict.keys() == {"a"}
    assert s.p_dict["a"] == pytest.approx(a, rel=1e-7)


def test_add_mult_names_poly_and_rank(pair):
    add, mult = scaling.AddScaler(*pair), scaling.MultScaler(*pair)
    assert (add.rank, add.name, mult.rank, mult.name) == (-1, "AddScaler", 0, "MultScaler")
    a, m = float(add.p[0]), float(mult.p[0])
    # x + a and a * x as numpy polynomials
    np.testing.assert_array_equal(add.poly.coeffs, [1.0, a])
    np.testing.assert_array_equal(mult.poly.coeffs, [m, 0.0])
    assert mult.poly(3.0) == pytest.approx(3.0 * m)
    assert add.poly(3.0) == pytest.approx(3.0 + a)


# ------------------------------------------------------------------------- polynomials


@pytest.mark.parametrize("rank", [1, 2, 3, 4])
def test_polyscaler_matches_numpy_polyfit(pair, flat, rank):
    x, y = pair
    p_np, cov_np = _polyfit(*flat, rank, cov=True)
    s = scaling.PolyScaler(x, y, rank)
    np.testing.assert_allclose(s.p, p_np, rtol=1e-7)
    # numpy scales inv(A^T A) by SSR / (N - (deg + 1)), as curve_fit does
    np.testing.assert_allclose(s.pcov, cov_np, rtol=1e-6)
    np.testing.assert_allclose(s.perr, np.sqrt(np.diag(cov_np)), rtol=1e-6)
    # the same from the unscaled covariance and a hand-computed SSR / (N - p)
    unscaled = _polyfit(*flat, rank, cov="unscaled")[1]
    ssr = float(np.sum((flat[1] - np.polyval(p_np, flat[0])) ** 2))
    np.testing.assert_allclose(s.pcov, unscaled * ssr / (flat[0].size - (rank + 1)), rtol=1e-6)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_polyscaler_derived_arrays_match_numpy(pair, flat, rank):
    x, y = pair
    p_np = _polyfit(*flat, rank)
    fitted = np.polyval(p_np, x.astype(float))
    scale = float(np.abs(y).max())
    s = scaling.PolyScaler(x, y, rank=rank)
    np.testing.assert_allclose(s.scaled, fitted, rtol=1e-9)
    np.testing.assert_allclose(s.residual, y - fitted, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(s.fractional, (y - fitted) / y, rtol=1e-6, atol=1e-10)
    grid = np.linspace(0.0, 5000.0, 11)
    np.testing.assert_allclose(s.apply_fit(grid), np.polyval(p_np, grid), rtol=1e-9, atol=1e-8)
    assert isinstance(s.poly, np.poly1d)
    np.testing.assert_allclose(s.poly.coeffs, p_np, rtol=1e-7)
    assert s.name == f"Poly{rank}"
    # p_dict keeps the order of p: c0 is the highest power, c<rank> the constant
    assert list(s.p_dict) == [f"c{i}" for i in range(rank + 1)]
    np.testing.assert_allclose(list(s.p_dict.values()), p_np, rtol=1e-7)


def test_polyscaler_default_rank_is_two(pair):
    assert scaling.PolyScaler(*pair).rank == 2


def test_fractional_is_nan_where_dark_out_is_zero():
    x = np.arange(1.0, 101.0)
    y = 2.0 * x + np.sin(x)
    y[[3, 50, 77]] = 0.0
    s = scaling.PolyScaler(x, y, 1)
    p_np = np.polyfit(x, y, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = (y - np.polyval(p_np, x)) / y
    expected[y == 0] = np.nan
    np.testing.assert_array_equal(np.isnan(s.fractional), y == 0)
    np.testing.assert_allclose(s.fractional, expected, rtol=1e-9, equal_nan=True)
    # the statistics leave the zero denominators out and count them; nothing is added
    assert s.stats.n_zero_denominator == 3
    assert s.stats.frac_mean == pytest.approx(np.nanmean(expected), rel=1e-9)


# --------------------------------------------------------------------------- exclusion


def test_hot_threshold_matches_notebook_filtering(pair):
    x, y = pair
    data_in, data_out = x.ravel().astype(float), y.ravel().astype(float)
    hot = data_in > 2500  # the notebook's cut
    assert hot.any()
    filtered_in, filtered_out = data_in[~hot], data_out[~hot]
    for rank in (1, 2, 3):
        s = scaling.PolyScaler(x, y, rank, hot_threshold=2500)
        np.testing.assert_allclose(s.p, np.polyfit(filtered_in, filtered_out, rank), rtol=1e-7)
        assert s.stats.n_used == int((~hot).sum())
        assert s.stats.n_excluded == int(hot.sum())
        # the residual image still covers every pixel, hot ones included
        p_np = np.polyfit(filtered_in, filtered_out, rank)
        np.testing.assert_allclose(
            s.residual.ravel(), data_out - np.polyval(p_np, data_in), rtol=0, atol=1e-6
        )
    mult = scaling.MultScaler(x, y, hot_threshold=2500)
    (m,), pcov = curve_fit(multimodel, filtered_in, filtered_out)
    np.testing.assert_allclose(mult.p, [m], rtol=1e-7)
    np.testing.assert_allclose(mult.perr, np.sqrt(np.diag(pcov)), rtol=1e-7)
    add = scaling.AddScaler(x, y, hot_threshold=2500)
    (a,), _ = curve_fit(addmodel, filtered_in, filtered_out)
    np.testing.assert_allclose(add.p, [a], rtol=1e-7)


def test_mask_matches_boolean_indexing(pair):
    x, y = pair
    mask = np.random.default_rng(5).random(x.shape) < 0.2
    for rank in (1, 2):
        s = scaling.PolyScaler(x, y, rank, mask=mask)
        np.testing.assert_allclose(s.p, _polyfit(x[~mask], y[~mask], rank), rtol=1e-7)
        assert s.stats.n_used == int((~mask).sum())
    (a,), _ = curve_fit(addmodel, x[~mask].astype(float), y[~mask].astype(float))
    np.testing.assert_allclose(scaling.AddScaler(x, y, mask=mask).p, [a], rtol=1e-7)


def test_mask_and_hot_threshold_combine(pair):
    x, y = pair
    mask = np.zeros(x.shape, bool)
    mask[:10] = True
    keep = ~mask & (x <= 1000)
    s = scaling.PolyScaler(x, y, 2, mask=mask, hot_threshold=1000)
    np.testing.assert_allclose(s.p, _polyfit(x[keep], y[keep], 2), rtol=1e-7)
    assert s.stats.n_used == int(keep.sum())


def test_masked_array_masks_are_honoured(pair):
    x, y = pair
    bad = np.zeros(x.shape, bool)
    bad[5, :] = True
    bad[:, 7] = True
    xm = np.ma.masked_array(x, mask=bad)
    s = scaling.PolyScaler(xm, y, 1)
    np.testing.assert_allclose(s.p, _polyfit(x[~bad], y[~bad], 1), rtol=1e-7)
    assert s.stats.n_excluded == int(bad.sum())


@pytest.mark.parametrize("name", list(layouts(np.zeros((2, 2), np.int32))))
def test_layouts_and_byte_orders(pair, flat, name):
    x, y = pair
    xv, yv = layouts(x)[name], layouts(y)[name]
    p_np = _polyfit(*flat, 2)
    s = scaling.PolyScaler(xv, yv, 2)
    np.testing.assert_allclose(s.p, p_np, rtol=1e-7)
    np.testing.assert_allclose(s.scaled, np.polyval(p_np, x.astype(float)), rtol=1e-9)


def test_any_shape(pair):
    x, y = pair
    cube_x, cube_y = x[:60].reshape(3, 20, 341), y[:60].reshape(3, 20, 341)
    s = scaling.MultScaler(cube_x, cube_y)
    (m,), _ = curve_fit(multimodel, cube_x.ravel().astype(float), cube_y.ravel().astype(float))
    np.testing.assert_allclose(s.p, [m], rtol=1e-7)
    assert s.residual.shape == s.scaled.shape == (3, 20, 341)


# -------------------------------------------------------------------- fitting lifecycle


def test_fits_on_first_use_and_refits_on_do_fit(pair):
    x, y = pair
    s = scaling.PolyScaler(x.astype(float), y.astype(float), 1)
    assert not s.is_fitted
    assert "not fitted" in repr(s)
    np.testing.assert_allclose(s.p, _polyfit(x.ravel(), y.ravel(), 1), rtol=1e-7)  # lazily
    assert s.is_fitted
    s.dark_out = 3.0 * s.dark_in + 7.0
    np.testing.assert_allclose(s.do_fit().p, [3.0, 7.0], rtol=1e-9)
    assert isinstance(s.fit, iuvs.Fit)
    assert s.stats is s.fit.stats


def test_fit_errors_surface_from_the_core():
    x = np.full((4, 5), 7.0)
    with pytest.raises(ex.DegenerateFitError):
        scaling.PolyScaler(x, x, 2).do_fit()
    with pytest.raises(ex.InsufficientDataError):
        scaling.MultScaler(x, x, mask=np.ones(x.shape, bool)).do_fit()


def test_bad_arguments():
    a, b = np.ones((3, 4)), np.ones((4, 3))
    with pytest.raises(ex.ShapeMismatchError, match=r"\(3, 4\).*\(4, 3\)"):
        scaling.AddScaler(a, b)
    for rank in (0, -1, 13, 2.0, True):
        with pytest.raises(ex.RankError):
            scaling.PolyScaler(a, a, rank)
    with pytest.raises(ex.RankError):
        scaling.PolyScalerManager(a, a, 3, 2)
    with pytest.raises(ex.RankError):
        scaling.PolyScalerManager(a, a, -2, 2)
    with pytest.raises(ex.RankError):
        scaling.fit_scalers(a, a, [])
    with pytest.raises(ex.UnsupportedDtypeError):
        scaling.MultScaler(a.astype(complex), a).do_fit()
    with pytest.raises(ex.InvalidParameterError):
        scaling.MultScaler(a, a, hot_threshold=float("nan")).do_fit()


# ----------------------------------------------------------------------------- manager


def test_manager_matches_polyfit_in_one_pass(pair, flat, monkeypatch):
    calls = []
    real = scaling.fit_all

    def counting(*args, **kw):
        calls.append(list(args[2]))
        return real(*args, **kw)

    monkeypatch.setattr(scaling, "fit_all", counting)
    x, y = pair
    m = scaling.PolyScalerManager(x, y, 1, 4)
    assert calls == [[1, 2, 3, 4]]  # one pass for every rank
    assert [s.rank for s in m.scalers] == m.ranks == [1, 2, 3, 4]
    assert all(isinstance(s, scaling.PolyScaler) and s.is_fitted for s in m.scalers)
    assert m.do_fit() is m
    for s, coeffs, poly in zip(m.scalers, m.coeffs, m.polynoms, strict=True):
        p_np = _polyfit(*flat, s.rank)
        np.testing.assert_allclose(coeffs, p_np, rtol=1e-7)
        assert isinstance(poly, np.poly1d)
        np.testing.assert_allclose(poly.coeffs, p_np, rtol=1e-7)
        frac = (flat[1] - np.polyval(p_np, flat[0])) / flat[1]
        np.testing.assert_allclose(m.fractionals[s.rank - 1], frac.mean(), rtol=1e-6)
    assert len(calls) == 1  # reading the attributes did not refit


def test_manager_with_hot_threshold_and_mask(pair):
    x, y = pair
    mask = np.zeros(x.shape, bool)
    mask[::7] = True
    keep = ~mask & (x <= 2500)
    m = scaling.PolyScalerManager(x, y, 1, 3, mask=mask, hot_threshold=2500)
    for s in m.scalers:
        p_np = _polyfit(x[keep], y[keep], s.rank)
        np.testing.assert_allclose(s.p, p_np, rtol=1e-7)
        assert s.hot_threshold == 2500
        assert s.stats.n_used == int(keep.sum())
        frac = (y[keep] - np.polyval(p_np, x[keep].astype(float))) / y[keep]
        assert m.fractionals[s.rank - 1] == pytest.approx(frac.mean(), rel=1e-6)


def test_manager_from_additive_and_fit_scalers(pair, flat):
    m = scaling.PolyScalerManager(*pair, -1, 1)
    assert [type(s).__name__ for s in m.scalers] == ["AddScaler", "MultScaler", "PolyScaler"]
    np.testing.assert_allclose(m.coeffs[0], curve_fit(addmodel, *flat)[0], rtol=1e-7)
    np.testing.assert_allclose(m.coeffs[1], curve_fit(multimodel, *flat)[0], rtol=1e-7)
    np.testing.assert_allclose(m.coeffs[2], np.polyfit(*flat, 1), rtol=1e-7)
    picked = scaling.fit_scalers(*pair, [3, -1])
    assert [s.rank for s in picked] == [3, -1]
    np.testing.assert_allclose(picked[0].p, _polyfit(*flat, 3), rtol=1e-7)


def test_manager_best_finds_the_true_degree():
    rng = np.random.default_rng(0)
    x = rng.uniform(100, 4000, (62, 341))
    y = 3e-5 * x**2 + 1.4 * x + rng.normal(0, 5, x.shape)
    m = scaling.PolyScalerManager(x, y, 1, 5)
    assert m.best("bic").rank == 2
    assert m.best("aic").rank == 2
