"""iuvs.combine against numpy (mean, median) and astropy's sigma_clip (clipping)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
from astropy.stats import sigma_clip
from astropy.utils.exceptions import AstropyUserWarning

import iuvs
from iuvs.exceptions import (
    EmptyInputError,
    InsufficientDataError,
    InvalidParameterError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)

DTYPES = ["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]


def make_stack(n: int, shape: tuple[int, int] = (13, 37), seed: int = 0) -> np.ndarray:
    """Dark-like values (1000 +- 10 DN) with cosmic rays and a few low values."""
    rng = np.random.default_rng(seed)
    s = rng.normal(1000.0, 10.0, (n, *shape))
    hits = rng.random(s.shape)
    s[hits < 0.03] += rng.uniform(50, 3000, int((hits < 0.03).sum()))
    s[hits > 0.99] -= rng.uniform(50, 500, int((hits > 0.99).sum()))
    return s


def as_dtype(s: np.ndarray, dtype: str) -> np.ndarray:
    return (s if dtype.startswith("float") else np.round(s)).astype(dtype)


def astropy_clip(stack: Any, sigma: float, maxiters: int) -> np.ma.MaskedArray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)  # NaN in the input
        return sigma_clip(
            stack, sigma=sigma, maxiters=maxiters, axis=0, cenfunc="median", stdfunc="std"
        )


def check_against_clipped(c: iuvs.Combined, clipped: np.ma.MaskedArray, method: str) -> None:
    """The result equals ccdproc's way: mean / median / std of astropy's kept values.

    The median is numpy's of the kept values in their own dtype (float32 input:
    the two middle values averaged in float32).
    """
    kept = (~np.ma.getmaskarray(clipped)).sum(axis=0)
    np.testing.assert_array_equal(c.n_used, kept)
    values = np.ma.masked_array(clipped.data.astype(np.float64), np.ma.getmaskarray(clipped))
    if method == "mean":
        want = np.ma.mean(values, axis=0).filled(np.nan)
        np.testing.assert_allclose(c.data, want, rtol=1e-12, atol=0)
    else:
        own = np.ma.masked_array(clipped.data, np.ma.getmaskarray(clipped))
        want = np.ma.median(own, axis=0).astype(np.float64).filled(np.nan)
        np.testing.assert_array_equal(c.data, want)
    std = np.ma.std(values, axis=0).filled(np.nan)
    np.testing.assert_allclose(c.scatter, std, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [7, 12])
def test_median_equals_numpy_exactly(dtype: str, n: int) -> None:
    s = as_dtype(make_stack(n, seed=n), dtype)
    c = iuvs.combine(s, "median")
    np.testing.assert_array_equal(c.data, np.median(s, axis=0).astype(np.float64))
    assert c.data.dtype == np.float64 and c.data.shape == s.shape[1:]
    np.testing.assert_array_equal(c.n_used, np.full(s.shape[1:], n))
    np.testing.assert_allclose(c.scatter, np.std(s, axis=0, dtype=np.float64), rtol=1e-12)


def test_float32_median_averages_in_float32_like_numpy() -> None:
    # 16777216 + 3 is not a float32: numpy rounds the sum before halving it
    s = np.array([[[16777216.0]], [[3.0]]], dtype=np.float32)
    want = np.median(s, axis=0)
    assert want.dtype == np.float32
    assert iuvs.combine(s).data[0, 0] == float(want[0, 0]) == 8388610.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_equals_numpy(dtype: str) -> None:
    s = as_dtype(make_stack(9, seed=3), dtype)
    c = iuvs.combine(s, "mean")
    np.testing.assert_allclose(c.data, np.mean(s, axis=0, dtype=np.float64), rtol=1e-12, atol=0)
    np.testing.assert_allclose(c.scatter, np.std(s, axis=0, dtype=np.float64), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", ["mean", "median"])
def test_clipping_rejects_what_astropy_rejects(dtype: str, method: str) -> None:
    s = as_dtype(make_stack(30, seed=7), dtype)
    c = iuvs.combine(s, method, clip=3.0, clip_iter=5)
    clipped = astropy_clip(s, 3.0, 5)
    assert clipped.mask.sum() > 0.02 * s.size  # the cosmic rays are rejected
    check_against_clipped(c, clipped, method)


@pytest.mark.parametrize(("sigma", "iters"), [(1.0, 1), (2.0, 2), (2.5, 10), (0.5, 3)])
@pytest.mark.parametrize("n", [3, 8, 41])
def test_clipping_thresholds_and_iterations(sigma: float, iters: int, n: int) -> None:
    s = make_stack(n, shape=(9, 11), seed=n)
    for method in ("mean", "median"):
        c = iuvs.combine(s, method, clip=sigma, clip_iter=iters)
        check_against_clipped(c, astropy_clip(s, sigma, iters), method)


def test_everything_clipped_at_a_pixel_gives_nan() -> None:
    # two values: median 0.5, std 0.5; at 0.5 sigma astropy keeps neither
    s = np.array([[[0.0, 5.0]], [[1.0, 5.0]]])
    c = iuvs.combine(s, "mean", clip=0.5)
    clipped = astropy_clip(s, 0.5, 5)
    assert clipped.mask[:, 0, 0].all()
    assert c.n_used.tolist() == [[0, 2]]
    assert np.isnan(c.data[0, 0]) and np.isnan(c.scatter[0, 0]) and c.data[0, 1] == 5.0


@pytest.mark.parametrize(
    "dtype", ["int16", "uint16", "int32", "uint32", "int64", "float32", "float64"]
)
def test_big_endian_stacks_are_read_in_place(dtype: str) -> None:
    native = as_dtype(make_stack(10, seed=11), dtype)
    big = native.astype(np.dtype(dtype).newbyteorder(">"))
    for method in ("mean", "median"):
        want = iuvs.combine(native, method, clip=2.5)
        got = iuvs.combine(big, method, clip=2.5)
        np.testing.assert_array_equal(got.data, want.data)
        np.testing.assert_array_equal(got.n_used, want.n_used)
    check_against_clipped(iuvs.combine(big, "mean", clip=2.5), astropy_clip(big, 2.5, 5), "mean")


def test_strided_and_reordered_views() -> None:
    base = as_dtype(make_stack(24, shape=(20, 50), seed=5), ">i4")
    views = [
        base[::2, 3:17, ::3],
        base[::-1, ::-1, :],
        np.asfortranarray(base),
        base.transpose(0, 2, 1),
    ]
    for v in views:
        assert not v.flags.c_contiguous or v.strides[0] < 0
        for method in ("mean", "median"):
            got = iuvs.combine(v, method, clip=3.0)
            check_against_clipped(got, astropy_clip(v, 3.0, 5), method)
        np.testing.assert_array_equal(iuvs.combine(v).data, np.median(v, axis=0))


def test_list_of_frames_of_mixed_dtypes_and_byte_orders() -> None:
    s = np.round(make_stack(6, seed=2))
    frames = [
        s[0].astype(">i4"),
        s[1].astype("<i2"),
        s[2].astype(">f8"),
        np.asfortranarray(s[3].astype("u2")),
        s[4].astype("f4")[:, :],
        s[5].astype(">i8"),
    ]
    for method in ("mean", "median"):
        got = iuvs.combine(frames, method, clip=2.0)
        check_against_clipped(got, astropy_clip(s, 2.0, 5), method)
    np.testing.assert_array_equal(iuvs.combine(tuple(frames)).data, np.median(s, axis=0))


def test_nan_and_masked_values_are_left_out() -> None:
    s = make_stack(15, seed=9)
    rng = np.random.default_rng(1)
    mask = rng.random(s.shape) < 0.1
    s[rng.random(s.shape) < 0.05] = np.nan
    s[0, 0, 0] = np.inf
    mask[:, 2, 3] = True  # a pixel with no value at all
    left_out = mask | ~np.isfinite(s)
    filled = np.where(left_out, np.nan, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
        want_median = np.nanmedian(filled, axis=0)
        want_mean = np.nanmean(filled, axis=0)
    c = iuvs.combine(s, "median", mask=mask)
    np.testing.assert_array_equal(c.data, want_median)
    np.testing.assert_array_equal(c.n_used, (~left_out).sum(axis=0))
    assert c.n_used[2, 3] == 0 and np.isnan(c.data[2, 3]) and np.isnan(c.scatter[2, 3])
    np.testing.assert_allclose(
        iuvs.combine(s, "mean", mask=mask).data, want_mean, rtol=1e-12, equal_nan=True
    )
    # clipping: astropy given the same values masked
    for method in ("mean", "median"):
        got = iuvs.combine(s, method, clip=2.5, mask=mask)
        check_against_clipped(got, astropy_clip(np.ma.masked_array(s, left_out), 2.5, 5), method)


@pytest.mark.parametrize("dtype", [">i2", "<u2", ">i4"])
@pytest.mark.parametrize("n", [1, 2, 5, 64, 131])
def test_masked_integer_stacks_agree_with_astropy(dtype: str, n: int) -> None:
    # integer stacks are sorted per pixel (groups of pixels, padding for the
    # masked values): every frame count, a partial group of pixels (7 x 9)
    s = as_dtype(make_stack(n, shape=(7, 9), seed=n + 100), dtype)
    rng = np.random.default_rng(n)
    mask = rng.random(s.shape) < 0.15
    mask[:, 0, 0] = True  # a pixel with no value at all
    values = np.ma.masked_array(s, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the pixel without values
        want = np.ma.median(values, axis=0).astype(np.float64).filled(np.nan)
    c = iuvs.combine(s, "median", mask=mask)
    np.testing.assert_array_equal(c.data, want)
    np.testing.assert_array_equal(c.n_used, (~mask).sum(axis=0))
    for method in ("mean", "median"):
        for sigma, iters in ((3.0, 5), (1.0, 2)):
            got = iuvs.combine(s, method, clip=sigma, clip_iter=iters, mask=mask)
            check_against_clipped(got, astropy_clip(values, sigma, iters), method)


def test_integer_stacks_of_wide_range_agree_with_astropy() -> None:
    # int32 values spanning far more than 2^16 (sorted as int32, not as
    # int16 offsets) and beyond 2^20 from the median (sums in 128 bits)
    rng = np.random.default_rng(3)
    s = rng.integers(-(2**31), 2**31 - 1, (33, 6, 40), dtype=np.int64)
    s[:, :3] //= 2**14  # spans of about 2^18
    s[:, 3, :20] = rng.integers(2**31 - 9, 2**31, (33, 20))  # the int32 maximum
    s = s.astype(">i4")
    want = np.median(s, axis=0)
    np.testing.assert_array_equal(iuvs.combine(s, "median").data, want)
    for method in ("mean", "median"):
        c = iuvs.combine(s, method, clip=1.5, clip_iter=3)
        check_against_clipped(c, astropy_clip(s, 1.5, 3), method)


def test_masked_array_input_leaves_its_masked_values_out() -> None:
    s = make_stack(8, seed=4)
    m = np.zeros(s.shape, dtype=bool)
    m[3] = True
    extra = np.zeros(s.shape, dtype=bool)
    extra[5, :, :4] = True
    got = iuvs.combine(np.ma.masked_array(s, m), "mean", mask=extra)
    want = np.ma.masked_array(s, m | extra).mean(axis=0)
    np.testing.assert_allclose(got.data, want.filled(np.nan), rtol=1e-12)
    frames = [np.ma.masked_array(s[i], m[i] | extra[i]) for i in range(len(s))]
    np.testing.assert_allclose(iuvs.combine(frames, "mean").data, want.filled(np.nan), rtol=1e-12)


def test_result_is_a_frozen_dataclass() -> None:
    c = iuvs.combine(make_stack(3, shape=(2, 2)))
    with pytest.raises(AttributeError):
        c.data = c.scatter  # type: ignore[misc]
    assert c.n_used.dtype == np.int32 and c.scatter.dtype == np.float64


@pytest.mark.parametrize("dtype", [">f4", ">i4"])
def test_same_result_on_one_thread(dtype: str) -> None:
    # float32: selection per pixel; int32: sorted groups of pixels
    code = (
        "import numpy as np, iuvs, sys\n"
        "rng = np.random.default_rng(0)\n"
        f"s = (1000 + 50 * rng.normal(0, 1, (40, 30, 70))).astype('{dtype}')\n"
        "c = iuvs.combine(s, 'mean', clip=2.0)\n"
        "sys.stdout.buffer.write(c.data.tobytes() + c.scatter.tobytes())\n"
    )
    outs = []
    for threads in ("1", "2"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        outs.append(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, check=True
            ).stdout
        )
    assert outs[0] == outs[1] and len(outs[0]) == 2 * 30 * 70 * 8


def test_bad_inputs() -> None:
    s = make_stack(4, shape=(3, 5))
    with pytest.raises(ShapeMismatchError, match=r"stack\[1\] has shape \(3, 4\)"):
        iuvs.combine([s[0], s[1, :, :4]])
    with pytest.raises(EmptyInputError, match="no frames"):
        iuvs.combine([])
    with pytest.raises(EmptyInputError, match="empty"):
        iuvs.combine(np.zeros((0, 3, 5)))
    with pytest.raises(EmptyInputError, match="no pixels"):
        iuvs.combine(np.zeros((4, 0, 5)))
    with pytest.raises(InsufficientDataError, match="every one of the 60 values"):
        iuvs.combine(s, mask=np.ones(s.shape, dtype=bool))
    with pytest.raises(InsufficientDataError, match="non-finite"):
        iuvs.combine(np.full((2, 3, 5), np.nan))
    for k in (0, -1.0, np.nan, np.inf):
        with pytest.raises(InvalidParameterError, match="clip must be"):
            iuvs.combine(s, clip=k)
    for it in (0, -2, 1.5):
        with pytest.raises(InvalidParameterError, match="clip_iter"):
            iuvs.combine(s, clip=3.0, clip_iter=it)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="method"):
        iuvs.combine(s, "average")  # type: ignore[arg-type]
    with pytest.raises(ShapeMismatchError, match=r"mask has shape \(4, 3\)"):
        iuvs.combine(s, mask=np.zeros((4, 3), dtype=bool))
    with pytest.raises(UnsupportedDtypeError, match="mask must be a boolean"):
        iuvs.combine(s, mask=np.zeros(s.shape, dtype=np.uint8))
    for bad in (s > 1000, s.astype(complex)):
        with pytest.raises(UnsupportedDtypeError, match=bad.dtype.name):
            iuvs.combine(bad)
    with pytest.raises(UnsupportedDtypeError):
        iuvs.combine([s[0], s[1].astype(complex)])
    with pytest.raises(ShapeMismatchError, match="3-D"):
        iuvs.combine(s[0])
