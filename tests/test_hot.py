"""Hot pixels against an independent numpy implementation and astropy.stats.mad_std."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import mad_std
from conftest import make_darks

import iuvs
from iuvs import exceptions as ex


def reference_threshold(values, sigma, max_iter):
    """The documented algorithm written with numpy.median (full sorts)."""
    v = values[np.isfinite(values)].astype(np.float64)
    thr = np.inf
    last = 0
    it = 0
    while it < max_iter:
        it += 1
        v = v[v <= thr]
        med = np.median(v)
        std = mad_std(v)
        thr = med + sigma * std
        n_hot = int((values[np.isfinite(values)] > thr).sum())
        if n_hot == last:
            break
        last = n_hot
    return thr, med, std, it


@pytest.mark.parametrize("dtype", ["int32", ">i4", "float32", "uint16", ">f8"])
@pytest.mark.parametrize("sigma", [3.0, 5.0])
def test_sigma_threshold_matches_numpy_reference(dtype, sigma):
    x, _ = make_darks(seed=21)
    x = x.astype(dtype)
    hp = iuvs.hot_pixels(x, sigma=sigma)
    thr, med, std, it = reference_threshold(np.asarray(x, dtype=np.float64), sigma, 10)
    assert hp.threshold == pytest.approx(thr, rel=1e-12)
    assert hp.median == pytest.approx(med, rel=1e-12)
    assert hp.std == pytest.approx(std, rel=1e-12)
    assert hp.n_iter == it
    np.testing.assert_array_equal(hp.mask, np.asarray(x, dtype=np.float64) > thr)
    assert hp.n_hot == int(hp.mask.sum())


def test_planted_hot_pixels_are_found_and_nan_is_never_hot():
    rng = np.random.default_rng(3)
    dark = rng.normal(400.0, 20.0, (62, 341))
    idx = rng.choice(dark.size, 40, replace=False)
    dark.flat[idx] = rng.uniform(2500, 5000, 40)
    dark[0, 0] = np.nan
    hp = iuvs.hot_pixels(np.asfortranarray(dark), sigma=6.0)
    expected = np.zeros(dark.size, dtype=bool)
    expected[idx] = True
    np.testing.assert_array_equal(hp.mask.ravel(), expected)


def test_infinite_pixels_are_never_hot():
    # the docstring's promise: NaN and +-inf are neither hot nor part of the estimate
    rng = np.random.default_rng(8)
    dark = rng.normal(400.0, 20.0, (30, 40))
    dark[2, 3] = np.inf
    dark[4, 5] = -np.inf
    dark[6, 7] = np.nan
    dark[8, 9] = 5000.0
    for d in (dark, dark.astype(">f8"), dark.astype(np.float32)):
        hp = iuvs.hot_pixels(d, sigma=5.0)
        finite = np.asarray(d, dtype=np.float64)[np.isfinite(d)]
        thr, med, std, _ = reference_threshold(finite, 5.0, 10)
        assert hp.threshold == pytest.approx(thr, rel=1e-12)
        expected = np.isfinite(d) & (np.asarray(d, dtype=np.float64) > thr)
        np.testing.assert_array_equal(hp.mask, expected)
        assert hp.n_hot == 1 and hp.mask[8, 9] and not hp.mask[2, 3]
        fixed = iuvs.hot_pixels(d, threshold=2500.0)
        np.testing.assert_array_equal(fixed.mask, expected)


def test_mad_constant_is_astropys():
    # std = 1 / Phi^-1(3/4) * MAD, astropy.stats.mad_std's constant (not the rounded 1.4826)
    from scipy.stats import norm

    constant = 1.0 / norm.ppf(0.75)
    assert constant == pytest.approx(1.482602218505602, rel=1e-15)
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])  # median 4, deviations 3 2 0 3 7: MAD 3
    hp = iuvs.hot_pixels(values, sigma=3.0, max_iter=1)
    assert hp.median == 4.0
    assert hp.std == pytest.approx(3.0 * constant, rel=1e-15)
    assert hp.std == pytest.approx(mad_std(values), rel=1e-15)
    assert hp.std != pytest.approx(3.0 * 1.4826, rel=1e-6)
    assert hp.threshold == pytest.approx(4.0 + 3.0 * 3.0 * constant, rel=1e-15)


def test_fixed_threshold():
    x, _ = make_darks(seed=2)
    hp = iuvs.hot_pixels(x, threshold=2500)
    np.testing.assert_array_equal(hp.mask, x > 2500)
    assert hp.sigma is None and hp.n_iter == 0


def test_stack_counts_frames():
    rng = np.random.default_rng(4)
    stack = rng.normal(300.0, 10.0, (3, 20, 30))
    stack[0, 5, 5] = stack[1, 5, 5] = 4000.0  # hot in two frames
    stack[2, 7, 7] = 4000.0  # hot in one frame only
    hp = iuvs.hot_pixels_stack(stack, sigma=6.0, min_frames=2)
    want_counts = sum(
        (stack[i] > reference_threshold(stack[i], 6.0, 10)[0]).astype(int) for i in range(3)
    )
    np.testing.assert_array_equal(hp.counts, want_counts)
    np.testing.assert_array_equal(hp.mask, want_counts >= 2)
    assert hp.mask[5, 5] and not hp.mask[7, 7]
    assert hp.threshold.shape == (3,)


def test_hot_sigma_in_fits_equals_the_threshold():
    x, y = make_darks(seed=5)
    thr = iuvs.hot_pixels(x, sigma=4.0).threshold
    a = iuvs.fit(x, y, 2, hot_sigma=4.0)
    b = iuvs.fit(x, y, 2, hot_threshold=thr)
    np.testing.assert_array_equal(a.coeffs, b.coeffs)
    assert a.stats.n_excluded == int((x > thr).sum())
    res = iuvs.fit_batch(np.stack([x, x]), np.stack([y, y]), ranks=[2], hot_sigma=4.0)
    np.testing.assert_array_equal(res.coeffs[1, 0, :3], a.coeffs)
    assert res.columns["n_hot"][0, 0] == int((x > thr).sum())


def test_bad_hot_pixel_inputs():
    x, _ = make_darks(seed=6)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.hot_pixels(x, threshold=1.0, sigma=2.0)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ex.InvalidParameterError):
            iuvs.hot_pixels(x, sigma=bad)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.hot_pixels(x, threshold=np.nan)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.hot_pixels(x, max_iter=0)
    with pytest.raises(ex.InsufficientDataError):
        iuvs.hot_pixels(np.full((3, 3), np.nan), sigma=3.0)
    with pytest.raises(ex.UnsupportedDtypeError):
        iuvs.hot_pixels(x.astype(bool), sigma=3.0)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.hot_pixels_stack(np.stack([x, x]), min_frames=3)
    with pytest.raises(ex.ShapeMismatchError):
        iuvs.hot_pixels_stack(x[0])
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit(x, x, 1, hot_threshold=10.0, hot_sigma=3.0)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.fit(x, x, 1, hot_sigma=-2.0)
