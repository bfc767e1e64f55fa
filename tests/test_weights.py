"""Weighted fits against numpy.polyfit(w=...) and scipy.optimize.curve_fit(sigma=1/w)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_darks
from scipy.optimize import curve_fit

import iuvs
from iuvs import exceptions as ex


@pytest.fixture(scope="module")
def weighted():
    x, y = make_darks(seed=41)
    w = 1.0 / np.sqrt(np.maximum(y.astype(float), 1.0))
    return x, y, w


@pytest.mark.parametrize("deg", [1, 2, 3, 5])
def test_polynomials_match_numpy_polyfit_w(weighted, deg):
    x, y, w = weighted
    xf, yf = x.ravel().astype(float), y.ravel().astype(float)
    p, cov = np.polyfit(xf, yf, deg, w=w.ravel(), cov=True)
    f = iuvs.fit(x, y, deg, weights=w)
    np.testing.assert_allclose(f.apply(xf), np.polyval(p, xf), rtol=1e-10)
    np.testing.assert_allclose(f.cov, cov, rtol=1e-6)
    res = yf - f.apply(xf)
    np.testing.assert_allclose(f.stats.std, res.std(), rtol=1e-10)  # plain residual statistics
    np.testing.assert_allclose(f.ssr, np.sum((w.ravel() * res) ** 2), rtol=1e-10)


@pytest.mark.parametrize(("rank", "model"), [(-1, lambda v, a: v + a), (0, lambda v, a: a * v)])
def test_additive_and_multiplicative_match_curve_fit_sigma(weighted, rank, model):
    x, y, w = weighted
    xf, yf = x.ravel().astype(float), y.ravel().astype(float)
    p, pcov = curve_fit(model, xf, yf, sigma=1.0 / w.ravel())
    f = iuvs.fit(x, y, rank, weights=w.astype(">f4").astype(np.float64))
    np.testing.assert_allclose(f.coeffs, p, rtol=1e-7)
    np.testing.assert_allclose(f.perr, np.sqrt(np.diag(pcov)), rtol=1e-6)


def test_weight_layouts_and_non_finite_weights(weighted):
    x, y, w = weighted
    a = iuvs.fit(x, y, 2, weights=w)
    b = iuvs.fit(x, y, 2, weights=np.asfortranarray(w.astype(">f8")))
    np.testing.assert_allclose(a.coeffs, b.coeffs, rtol=1e-12)
    w2 = w.copy()
    w2[0, :7] = np.nan
    c = iuvs.fit(x, y, 2, weights=w2)
    assert c.stats.n_nonfinite == 7 and c.stats.n_used == x.size - 7
    keep = np.isfinite(w2)
    p = np.polyfit(x[keep].astype(float), y[keep].astype(float), 2, w=w2[keep])
    np.testing.assert_allclose(c.apply(x[keep]), np.polyval(p, x[keep]), rtol=1e-10)


def test_poisson_weights_are_one_refit_with_sigma_sqrt_model():
    x, y = make_darks(seed=42)
    xf, yf = x.ravel().astype(float), y.ravel().astype(float)
    first = np.polyval(np.polyfit(xf, yf, 2), xf)
    w = np.where(first > 0, 1.0 / np.sqrt(np.clip(first, 1e-300, None)), 0.0)
    p = np.polyfit(xf, yf, 2, w=w)
    f = iuvs.fit(x, y, 2, weights="poisson")
    np.testing.assert_allclose(f.apply(xf), np.polyval(p, xf), rtol=1e-9)


def test_bad_weights(weighted):
    x, y, w = weighted
    with pytest.raises(ex.ShapeMismatchError, match="weights"):
        iuvs.fit(x, y, 1, weights=w[:, :10])
    with pytest.raises(ex.DegenerateFitError, match="weight 0"):
        iuvs.fit(x, y, 1, weights=np.zeros_like(w))
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit(x, y, 1, weights="gaussian")  # type: ignore[arg-type]
    with pytest.raises(ex.UnsupportedDtypeError):
        iuvs.fit(x, y, 1, weights=w.astype(complex))


def test_scalers_pass_weights_through(weighted):
    from iuvs import scaling

    x, y, w = weighted
    xf, yf = x.ravel().astype(float), y.ravel().astype(float)
    s = scaling.PolyScaler(x, y, rank=2, weights=w).do_fit()
    np.testing.assert_allclose(s.p, np.polyfit(xf, yf, 2, w=w.ravel()), rtol=1e-9)
    m = scaling.PolyScalerManager(x, y, 1, 3, weights=w)
    for sc in m.scalers:
        np.testing.assert_allclose(sc.p, np.polyfit(xf, yf, sc.rank, w=w.ravel()), rtol=1e-8)
    p, _ = curve_fit(lambda v, a: a * v, xf, yf, sigma=1.0 / w.ravel())
    np.testing.assert_allclose(scaling.MultScaler(x, y, weights=w).p, p, rtol=1e-7)


def test_fit_batch_weights_per_pair(weighted):
    x, y, w = weighted
    xs, ys = np.stack([x, x[::-1]]), np.stack([y, y[::-1]])
    ws = np.stack([w, w[::-1]])
    res = iuvs.fit_batch(xs, ys, ranks=[0, 2], weights=ws)
    for i in range(2):
        for j, f in enumerate(iuvs.fit_all(xs[i], ys[i], [0, 2], weights=ws[i])):
            np.testing.assert_allclose(res.coeffs[i, j, : f.coeffs.size], f.coeffs, rtol=1e-12)
    mixed = iuvs.fit_batch(list(xs), list(ys), ranks=[1], weights=[None, ws[1]])
    np.testing.assert_allclose(mixed.coeffs[0, 0, :2], iuvs.fit(xs[0], ys[0], 1).coeffs, rtol=1e-12)
    with pytest.raises(ex.ShapeMismatchError):
        iuvs.fit_batch(xs, ys, ranks=[1], weights=[ws[0]])
    clipped = iuvs.fit_batch(xs, ys, ranks=[1], weights=ws, clip=3.0)
    for i in range(2):
        one = iuvs.fit(xs[i], ys[i], 1, weights=ws[i], clip=3.0)
        np.testing.assert_allclose(clipped.coeffs[i, 0, :2], one.coeffs, rtol=1e-12)


@pytest.mark.parametrize("degree", [1, 2])
def test_weights_with_clipping_match_astropy(degree):
    import warnings

    from astropy.modeling import fitting, models
    from astropy.stats import sigma_clip

    rng = np.random.default_rng(12)
    x = rng.uniform(100, 3000, 5000)
    sig = np.sqrt(x) + 5
    y = 2e-5 * x**2 + 1.4 * x + 20 + rng.normal(0, 1, x.size) * sig
    y[rng.choice(x.size, 60, replace=False)] -= rng.uniform(200, 800, 60)
    w = 1.0 / sig
    model = models.Polynomial1D(degree, domain=(x.min(), x.max()), window=(-1, 1))
    fitter = fitting.FittingWithOutlierRemoval(
        fitting.LinearLSQFitter(), sigma_clip, niter=3, sigma=3.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, mask = fitter(model, x, y, weights=w)
    f = iuvs.fit(x, y, degree, weights=w, clip=3.0, clip_iter=3)
    np.testing.assert_array_equal(f.mask, np.asarray(mask))
    np.testing.assert_allclose(f.apply(x), fitted(x), rtol=1e-9)
    # the weighted refit equals numpy.polyfit(w) on the pixels left
    keep = ~f.mask
    p = np.polyfit(x[keep], y[keep], degree, w=w[keep])
    np.testing.assert_allclose(f.apply(x), np.polyval(p, x), rtol=1e-9)
