"""Property tests: the core against numpy on random data, dtypes, shapes, strides and byte
orders, and a fuzz-style test that no input crashes the interpreter or leaks a Rust panic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import iuvs
from iuvs.exceptions import CovarianceWarning, IuvsError

DTYPES = ["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]


def _layout(a, how):
    if how == "F":
        return np.asfortranarray(a)
    if how == "big":
        return a.astype(a.dtype.newbyteorder(">"))
    if how == "reversed":
        return np.ascontiguousarray(a[::-1])[::-1]
    if how == "strided":
        big = np.zeros((a.shape[0] * 2,) + a.shape[1:], dtype=a.dtype)
        big[::2] = a
        return big[::2]
    return a


@st.composite
def pairs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(st.tuples(st.integers(2, 30), st.integers(2, 30)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    hi = 30000 if dtype == "int16" else 60000
    x = rng.integers(0, hi, size=shape)
    gain = draw(st.floats(0.5, 2.0))
    y = np.clip(np.round(gain * x + rng.normal(0, 30, shape)), 0, hi)
    how_x = draw(st.sampled_from(["C", "F", "big", "reversed", "strided"]))
    how_y = draw(st.sampled_from(["C", "F", "big", "reversed", "strided"]))
    return (
        _layout(x.astype(dtype), how_x),
        _layout(y.astype(dtype), how_y),
        draw(st.integers(1, 4)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_fits_and_statistics_match_numpy(pair):
    x, y, deg = pair
    xf = np.asarray(x, dtype=np.float64).ravel()
    yf = np.asarray(y, dtype=np.float64).ravel()
    if xf.size <= deg:
        with pytest.raises(iuvs.exceptions.InsufficientDataError):
            iuvs.fit(x, y, deg)
        return
    if np.unique(xf).size <= deg:
        with pytest.raises(iuvs.exceptions.DegenerateFitError):
            iuvs.fit(x, y, deg)
        return
    if xf.size == deg + 1:  # exactly determined: no covariance, as curve_fit warns
        with pytest.warns(iuvs.exceptions.CovarianceWarning):
            f = iuvs.fit(x, y, deg)
        assert np.isinf(f.cov).all()
    else:
        f = iuvs.fit(x, y, deg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = np.polyfit(xf, yf, deg)
    scale = np.max(np.abs(yf)) + 1.0
    np.testing.assert_allclose(f.apply(xf), np.polyval(p, xf), rtol=1e-8, atol=1e-8 * scale)
    res = yf - f.apply(xf)
    np.testing.assert_allclose(f.stats.std, res.std(), rtol=1e-8, atol=1e-9 * scale)
    np.testing.assert_allclose(f.stats.mean, res.mean(), atol=1e-8 * scale)
    assert f.stats.n_used == xf.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", iuvs.exceptions.CovarianceWarning)  # a single pixel
        a = iuvs.fit(x, y, 0)
    np.testing.assert_allclose(a.coeffs[0], np.dot(xf, yf) / np.dot(xf, xf), rtol=1e-12)
    nz = yf != 0
    assert a.stats.n_zero_denominator == int((~nz).sum())


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float64, np.float32, np.dtype(">f8"), np.dtype(">f4")]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=20),
        elements=st.floats(-1e6, 1e6, width=32) | st.just(float("nan")),
    ),
    st.integers(1, 40),
    st.tuples(st.floats(-2e6, 2e6), st.floats(0, 2e6)),
)
def test_histogram_matches_numpy(values, bins, lo_width):
    lo, width = lo_width
    hi = lo + width
    try:
        want, want_edges = np.histogram(values[~np.isnan(values)], bins=bins, range=(lo, hi))
    except ValueError:  # numpy: too many bins for the range in this precision
        with pytest.raises(iuvs.exceptions.InvalidParameterError):
            iuvs.histogram(values, bins=bins, range=(lo, hi))
        return
    counts, edges = iuvs.histogram(values, bins=bins, range=(lo, hi))
    np.testing.assert_array_equal(counts, want)
    np.testing.assert_array_equal(edges, want_edges)


EXTREMES = [0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 65535.0, 2.0**31 - 1, -(2.0**31), 1e300]


@st.composite
def anything(draw):
    dtype = draw(st.sampled_from(DTYPES + ["bool", "complex128", ">i4", ">f4", ">u2"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    n = int(np.prod(shape))
    vals = draw(st.lists(st.sampled_from(EXTREMES) | st.floats(-1e4, 1e4), min_size=n, max_size=n))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = np.array(vals, dtype=np.float64).reshape(shape).astype(dtype)
    if draw(st.booleans()) and arr.ndim >= 1 and arr.shape[0] > 1:
        arr = arr[::-1]
    return arr


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    anything(),
    anything(),
    st.lists(st.integers(-3, 14), min_size=0, max_size=4),
    st.one_of(st.none(), st.sampled_from([np.nan, np.inf, -1.0, 0.0, 100.0, 1e9])),
    st.sampled_from(["none", "good", "wrong-shape", "wrong-dtype"]),
)
@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_no_input_crashes_or_panics(x, y, ranks, thr, mask_kind):
    mask = None
    if mask_kind == "good":
        mask = np.zeros(x.shape, dtype=bool)
        if mask.size:
            mask.flat[0] = True
    elif mask_kind == "wrong-shape":
        mask = np.zeros(x.shape + (2,), dtype=bool)
    elif mask_kind == "wrong-dtype":
        mask = np.zeros(x.shape, dtype=np.int8)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CovarianceWarning)
            fits = iuvs.fit_all(x, y, ranks, mask=mask, hot_threshold=thr)
    except IuvsError:
        return
    # a CovarianceWarning (and an all-inf cov) for each fit without a degree of freedom
    exact = [f for f in fits if f.stats.n_used == f.coeffs.size]
    assert [w.category for w in caught] == [CovarianceWarning] * len(exact)
    assert all(np.isinf(f.cov).all() for f in exact)
    for f in fits:
        assert f.stats.n_used >= f.coeffs.size
        assert np.all(np.isfinite(f.coeffs)) or f.stats.n_used > 0
        assert f.stats.n_used + f.stats.n_excluded == x.size
