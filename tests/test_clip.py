"""Sigma-clipped fits against astropy's FittingWithOutlierRemoval."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.modeling import fitting, models
from astropy.stats import sigma_clip
from conftest import make_darks

import iuvs
from iuvs import exceptions as ex


def astropy_clipped(x, y, degree, sigma, niter):
    xf = np.asarray(x, dtype=np.float64).ravel()
    yf = np.asarray(y, dtype=np.float64).ravel()
    model = models.Polynomial1D(degree, domain=(xf.min(), xf.max()), window=(-1, 1))
    fitter = fitting.FittingWithOutlierRemoval(
        fitting.LinearLSQFitter(), sigma_clip, niter=niter, sigma=sigma
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted, mask = fitter(model, xf, yf)
    return fitted, np.asarray(mask).reshape(np.shape(x)), fitter.fit_info["niter"]


@pytest.mark.parametrize("degree", [1, 2, 3])
@pytest.mark.parametrize(("sigma", "niter"), [(3.0, 3), (2.5, 5), (4.0, 1)])
def test_same_pixels_and_values_as_astropy(degree, sigma, niter):
    x, y = make_darks(seed=31)
    # asymmetric outliers, as in the notebook's residual histograms
    rng = np.random.default_rng(2)
    idx = rng.choice(y.size, 150, replace=False)
    y = y.astype(np.float64)
    y.flat[idx] -= rng.uniform(100, 600, idx.size)
    fitted, mask, n_iter = astropy_clipped(x, y, degree, sigma, niter)
    f = iuvs.fit(x, y, degree, clip=sigma, clip_iter=niter)
    np.testing.assert_array_equal(f.mask, mask)
    assert f.clip_iterations == n_iter
    xf = x.astype(np.float64)
    np.testing.assert_allclose(f.apply(xf), fitted(xf), rtol=1e-9)
    assert f.stats.n_clipped == mask.sum()
    assert f.stats.n_used == x.size - mask.sum()
    res = (y - f.apply(xf))[~mask]
    np.testing.assert_allclose(f.stats.std, res.std(), rtol=1e-10)


@pytest.mark.parametrize("degree", [4, 5, 6])
@pytest.mark.parametrize("seed", [5, 31])
def test_higher_degrees_match_astropy(degree, seed):
    # badly conditioned normal equations: the refits between clippings take a
    # refinement step, and must still reject exactly astropy's pixels
    x, y = make_darks(seed=seed)
    rng = np.random.default_rng(2)
    idx = rng.choice(y.size, 150, replace=False)
    y = y.astype(np.float64)
    y.flat[idx] -= rng.uniform(100, 600, idx.size)
    fitted, mask, n_iter = astropy_clipped(x, y, degree, 3.0, 5)
    f = iuvs.fit(x, y, degree, clip=3.0, clip_iter=5)
    np.testing.assert_array_equal(f.mask, mask)
    assert f.clip_iterations == n_iter
    xf = x.astype(np.float64)
    np.testing.assert_allclose(f.apply(xf), fitted(xf), rtol=1e-9)
    # the model returned is the plain fit of the pixels kept
    plain = iuvs.fit(x, y, degree, mask=f.mask)
    np.testing.assert_allclose(f.apply(xf), plain.apply(xf), rtol=1e-12)


def test_clipping_with_masks_thresholds_and_big_endian():
    x, y = make_darks(seed=8)
    y = y.astype(np.float64)
    y[3, :20] += 900.0
    hot = x > 2500
    f = iuvs.fit(x.astype(">i4"), y.astype(">f8"), 2, clip=3.0, hot_threshold=2500)
    fitted, mask, _ = astropy_clipped(x[~hot], y[~hot], 2, 3.0, 3)
    np.testing.assert_array_equal(f.mask[~hot], mask)
    assert not f.mask[hot].any()
    np.testing.assert_allclose(f.apply(x[~hot]), fitted(x[~hot].astype(float)), rtol=1e-9)
    assert f.stats.n_excluded == hot.sum() + f.mask.sum()


def test_clip_in_fit_all_and_batch():
    x, y = make_darks(seed=9)
    y = y.astype(np.float64)
    y[0, :30] -= 700.0
    fits = iuvs.fit_all(x, y, [-1, 0, 1, 2], clip=3.0)
    for f in fits:
        assert f.mask is not None and f.mask.shape == x.shape
    for f in fits[2:]:  # the polynomials fit well enough to reject every planted outlier
        assert f.mask[0, :30].all()
    res = iuvs.fit_batch(np.stack([x, x]), np.stack([y, y]), ranks=[-1, 0, 1, 2], clip=3.0)
    for j, f in enumerate(fits):
        np.testing.assert_allclose(res.coeffs[1, j, : f.coeffs.size], f.coeffs, rtol=1e-12)
        assert res.columns["n_clipped"][1, j] == f.mask.sum()


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf])
def test_bad_clip_values(bad):
    x, y = make_darks(seed=1)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit(x, y, 1, clip=bad)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit_batch(np.stack([x]), np.stack([y]), ranks=[1], clip=bad)


def test_bad_clip_iter():
    x, y = make_darks(seed=1)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ex.InvalidParameterError):
            iuvs.fit(x, y, 1, clip=3.0, clip_iter=bad)  # type: ignore[arg-type]


def test_clip_mask_is_in_logical_order_for_every_layout():
    x, y = make_darks(seed=21)
    y = y.astype(np.float64)
    y[5, 3:40] -= 800.0
    want = iuvs.fit(x, y, 2, clip=3.0)
    assert want.mask[5, 3:40].all()
    for view in (
        lambda a: np.asfortranarray(a),
        lambda a: a[::-1, ::-1].copy()[::-1, ::-1],  # negative strides, same values
        lambda a: np.ascontiguousarray(a.T).T,
    ):
        f = iuvs.fit(view(x), view(y), 2, clip=3.0)
        np.testing.assert_array_equal(f.mask, want.mask)
        np.testing.assert_allclose(f.coeffs, want.coeffs, rtol=1e-12)


def test_clipped_fits_of_hot_pixel_darks_are_exact_least_squares_of_the_kept_pixels():
    # a hot pixel far above darks crowded at the low end: the normal equations
    # of degrees 4..6 (cond 1e11..1e19) are beyond refinement, so every refit
    # goes through QR; the result must be the least-squares fit of the pixels
    # it keeps (exact rational reference), and must keep the hot pixel, which
    # a polynomial of degree >= 1 fits exactly (it alone sets the far end)
    from test_fitting import _exact_fit_values

    rng = np.random.default_rng(0)
    x = np.clip(np.round(rng.gamma(2.0, 10.0, size=(62, 341))), 0, 220).astype(np.int64)
    hot = rng.integers(x.size)
    x.flat[hot] = 3577
    y = np.round(0.9 * x + 3e-4 * x**2 + 25.0 + rng.normal(0.0, 8.0, x.shape)).astype(np.int64)
    for deg in (4, 5, 6):
        f = iuvs.fit(x.astype(np.int32), y.astype(np.int32), deg, clip=3.0)
        keep = ~f.mask.ravel()
        assert keep[hot] and 0 < f.stats.n_clipped < 100
        xs, ys = x.ravel()[keep], y.ravel()[keep]
        exact = _exact_fit_values(xs, ys, deg)
        err = np.max(np.abs(f.apply(xs) - exact)) / np.max(np.abs(exact))
        assert err < 2e-9, (deg, err)


def test_too_few_pixels_after_clipping_counts_the_clipped_ones():
    # y = 2x + 1 + r, r = [1, -3, 0, 5, -3] orthogonal to 1 and x (by hand), so the first
    # line fit leaves r as residuals: median 0, std sqrt(8.8) = 2.97, and a 0.2-sigma
    # clip keeps only the middle pixel (astropy's sigma_clip keeps the same one)
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, np.nan, 9.0])
    r = np.array([1.0, -3.0, 0.0, 5.0, -3.0, 0.0, 0.0])
    y = 2.0 * x + 1.0 + r
    mask = np.zeros(7, dtype=bool)
    mask[6] = True  # one pixel masked by the user
    kept = ~sigma_clip(r[:5], sigma=0.2, maxiters=None).mask
    assert kept.tolist() == [False, False, True, False, False]
    for kwargs in ({}, {"weights": np.ones(7)}):
        with pytest.raises(ex.InsufficientDataError) as info:
            iuvs.fit(x, y, 1, mask=mask, clip=0.2, **kwargs)
        message = str(info.value)
        assert "needs at least 2 usable pixels but only 1 remain" in message
        # 6 excluded: 1 masked, 1 non-finite, 4 clipped
        assert "(6 excluded" in message, message
        assert "1 of them non-finite, 4 clipped" in message, message
        assert "clip at more sigma" in message
    # without clipping the count says 0 clipped and no hint
    with pytest.raises(ex.InsufficientDataError, match="0 clipped\\)") as info:
        iuvs.fit(x[:2], y[:2], 3)
    assert "clip at" not in str(info.value)
