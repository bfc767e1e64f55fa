"""iuvs.median_filter against scipy.ndimage.median_filter, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

import iuvs
from iuvs.exceptions import InvalidParameterError, UnsupportedDtypeError

DTYPES = ["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]
MODES = ["nearest", "reflect", "constant"]


def scipy_median(image, size, mode, cval=0.0):
    """The reference: scipy on each 2-D frame."""
    image = np.asarray(image)
    if image.ndim == 3:
        return np.stack([scipy_median(f, size, mode, cval) for f in image])
    return ndimage.median_filter(image, size=size, mode=mode, cval=cval)


def assert_identical(got, want):
    """Same dtype, shape and bytes (NaN payloads and signed zeros included)."""
    assert got.dtype == want.dtype
    assert got.shape == want.shape
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


def reflect_ok(shape, size):
    """Whether scipy's reflect mode stays inside the array (see the docstring)."""
    rows, cols = (size, size) if np.ndim(size) == 0 else size
    return all(n < 2 or k // 2 < 4 * n for n, k in zip(shape, (rows, cols), strict=True))


def make(shape, dtype, seed, levels=None):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        if levels is None:
            x = rng.normal(100.0, 30.0, shape)
        else:
            x = rng.integers(-levels, levels, shape).astype(np.float64) / 4
        return x.astype(dt)
    info = np.iinfo(dt)
    lo, hi = (info.min, info.max) if levels is None else (max(info.min, -levels), levels)
    return rng.integers(lo, hi, shape, dtype=dt, endpoint=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("levels", [None, 6])
def test_dtypes_modes_and_sizes(dtype, mode, levels):
    image = make((23, 31), dtype, seed=hash((dtype, mode)) % 1000, levels=levels)
    for size in [3, (1, 1), (1, 2), (2, 1), (2, 2), (4, 3), (3, 6), (7, 2), (5, 8)]:
        got = iuvs.median_filter(image, size, mode=mode, cval=5.0)
        assert_identical(got, scipy_median(image, size, mode, 5.0))


@pytest.mark.parametrize("dtype", DTYPES)
def test_byte_swapped_strided_and_fortran_views(dtype):
    base = make((40, 50), dtype, seed=7)
    swapped = base.astype(np.dtype(dtype).newbyteorder(">" if np.little_endian else "<"))
    views = {
        "swapped": swapped,
        "swapped strided": swapped[3:35:2, ::-3],
        "fortran": np.asfortranarray(base),
        "transposed": base.T,
        "strided": base[::3, 1::2],
    }
    for name, view in views.items():
        for size, mode in [((3, 5), "reflect"), ((6, 2), "constant"), (4, "nearest")]:
            got = iuvs.median_filter(view, size, mode=mode, cval=-2.0)
            want = scipy_median(view, size, mode, -2.0)
            assert_identical(got, want)
            assert got.dtype.isnative, name


def test_views_are_read_in_place_not_copied():
    base = make((60, 70), "float64", seed=3)
    view = base[::2, ::-1]
    before = base.copy()
    iuvs.median_filter(view, 5)
    assert np.shares_memory(view, base)
    assert np.array_equal(base, before)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (3, 4)])
def test_windows_larger_than_the_frame(mode, shape):
    image = make(shape, "int32", seed=sum(shape), levels=50)
    for size in [3, (4, 5), (9, 2), (11, 11), (1, 15)]:
        if mode == "reflect" and not reflect_ok(shape, size):
            continue
        got = iuvs.median_filter(image, size, mode=mode, cval=7.0)
        assert_identical(got, scipy_median(image, size, mode, 7.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
def test_nan(dtype, mode):
    rng = np.random.default_rng(11)
    image = make((20, 24), dtype, seed=5, levels=8)
    image[rng.random(image.shape) < 0.06] = np.nan
    image[2:5, 3:6] = np.nan  # a patch: windows with many NaN
    for size, cval in [(3, 0.0), ((4, 4), np.nan), ((2, 5), 1.0), ((5, 2), -np.inf), ((1, 2), 0)]:
        got = iuvs.median_filter(image, size, mode=mode, cval=cval)
        assert_identical(got, scipy_median(image, size, mode, cval))


def test_signed_zeros():
    rng = np.random.default_rng(2)
    image = rng.choice(np.array([-0.0, 0.0, 1.0, -1.0]), size=(25, 25))
    for size in [3, (4, 4), (2, 3)]:
        got = iuvs.median_filter(image, size, mode="constant", cval=-0.0)
        assert_identical(got, scipy_median(image, size, "constant", -0.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cval", [np.inf, -np.inf, np.nan, 1e300, 1e10, -1.0, 70000.7, 2.0**63])
def test_extreme_cval(dtype, cval):
    image = make((9, 12), dtype, seed=4, levels=1000)
    for size in [(5, 5), (1, 2), (2, 1), (4, 7)]:
        got = iuvs.median_filter(image, size, mode="constant", cval=cval)
        assert_identical(got, scipy_median(image, size, "constant", cval))


def test_int64_beyond_2_53_rounds_like_scipy():
    rng = np.random.default_rng(8)
    image = (2**62 + rng.integers(0, 2**12, (15, 15))).astype(np.int64)
    image[0, 0] = 2**63 - 1
    for size in [3, (1, 2), (4, 4)]:
        got = iuvs.median_filter(image, size, mode="nearest")
        assert_identical(got, scipy_median(image, size, "nearest"))


def test_stack_is_filtered_frame_by_frame():
    stack = make((5, 30, 41), "uint16", seed=12, levels=3000)
    for size in [(3, 9), (8, 3)]:
        got = iuvs.median_filter(stack, size, mode="constant", cval=1e9)
        assert_identical(got, scipy_median(stack, size, "constant", 1e9))
    big_endian = stack.astype(">u2")[:, ::2]
    assert_identical(iuvs.median_filter(big_endian, 4), scipy_median(big_endian, 4, "reflect"))


def test_large_frames_split_in_bands():
    image = make((301, 157), "float32", seed=21)
    for size in [(5, 9), (13, 4), (1, 30)]:
        got = iuvs.median_filter(image, size, mode="nearest")
        assert_identical(got, scipy_median(image, size, "nearest"))


def test_windows_of_more_than_65535_pixels():
    image = make((6, 7), "float64", seed=30)
    for mode in ["nearest", "constant"]:  # reflect: scipy reads outside the array here
        got = iuvs.median_filter(image, (300, 251), mode=mode, cval=1.5)
        assert_identical(got, scipy_median(image, (300, 251), mode, 1.5))


def test_empty_frames():
    for shape in [(0, 5), (4, 0), (0, 3, 3), (2, 0, 4)]:
        image = np.zeros(shape, dtype=np.int16)
        got = iuvs.median_filter(image, 3)
        assert got.shape == shape and got.dtype == np.int16


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 12),
    cols=st.integers(1, 12),
    wr=st.integers(1, 9),
    wc=st.integers(1, 9),
    mode=st.sampled_from(MODES),
    dtype=st.sampled_from(DTYPES),
    levels=st.sampled_from([2, 40, None]),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_and_windows(rows, cols, wr, wc, mode, dtype, levels, seed):
    image = make((rows, cols), dtype, seed, levels)
    got = iuvs.median_filter(image, (wr, wc), mode=mode, cval=3.0)
    assert_identical(got, scipy_median(image, (wr, wc), mode, 3.0))


@pytest.mark.parametrize("size", [0, -1, (3, 0), (1, 2, 3), 2.5, True, "3", [[3, 3]]])
def test_bad_size(size):
    with pytest.raises(InvalidParameterError, match="size"):
        iuvs.median_filter(np.zeros((4, 4)), size)


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2, 2), ()])
def test_wrong_ndim(shape):
    with pytest.raises(InvalidParameterError, match=r"shape"):
        iuvs.median_filter(np.zeros(shape), 3)


def test_unknown_mode_and_bad_cval():
    with pytest.raises(InvalidParameterError, match="wrap"):
        iuvs.median_filter(np.zeros((4, 4)), 3, mode="wrap")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="cval"):
        iuvs.median_filter(np.zeros((4, 4)), 3, mode="constant", cval="bright")  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", ["bool", "complex128", "object", "int8", "float16"])
def test_unsupported_dtypes(dtype):
    with pytest.raises(UnsupportedDtypeError, match="image"):
        iuvs.median_filter(np.zeros((4, 4), dtype=dtype), 3)


def test_too_large_window():
    with pytest.raises(InvalidParameterError, match="too large"):
        iuvs.median_filter(np.zeros((4, 4)), (2**16, 2**16))
