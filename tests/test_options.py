"""One options path: the same bad value gives the same error from every entry point."""

from __future__ import annotations

import numpy as np
import pytest

import iuvs
from iuvs import exceptions as ex
from iuvs.survey import survey
from iuvs.synthetic import write_archive

x = np.arange(1.0, 201.0).reshape(10, 20)
y = 2.0 * x + 1.0

BAD = [
    ({"clip": -1.0}, ex.InvalidParameterError, "clip must be finite and positive, got -1.0"),
    ({"clip": float("nan")}, ex.InvalidParameterError, "clip must be finite and positive"),
    ({"hot_sigma": 0.0}, ex.InvalidParameterError, "hot_sigma must be finite and positive"),
    ({"hot_threshold": float("inf")}, ex.InvalidParameterError, "hot_threshold must be finite"),
    ({"hot_threshold": "5"}, ex.InvalidParameterError, "hot_threshold must be a number"),
    (
        {"hot_threshold": 5.0, "hot_sigma": 3.0},
        ex.InvalidParameterError,
        "give hot_threshold= or hot_sigma=, not both",
    ),
    ({"clip_iter": 0}, ex.InvalidParameterError, "clip_iter must be a positive integer, got 0"),
    ({"weights": "gauss"}, ex.InvalidParameterError, "weights must be an array or 'poisson'"),
]


def error_of(call) -> tuple[type, str]:
    with pytest.raises(ex.IuvsError) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(("kwargs", "cls", "message"), BAD)
def test_bad_fit_options_same_error_everywhere(kwargs, cls, message):
    calls = {
        "FitOptions": lambda: iuvs.FitOptions(**kwargs),
        "fit": lambda: iuvs.fit(x, y, 1, **kwargs),
        "fit_all": lambda: iuvs.fit_all(x, y, [0, 1], **kwargs),
        "fit_batch": lambda: iuvs.fit_batch(x[None], y[None], [1], **kwargs),
    }
    errors = {name: error_of(call) for name, call in calls.items()}
    for name, (got_cls, got_msg) in errors.items():
        assert got_cls is cls, name
        assert message in got_msg, (name, got_msg)
    assert len({m for _, m in errors.values()}) == 1, errors


def test_the_survey_checks_options_and_ranks_as_fit_does(tmp_path):
    # the survey used to answer a bad rank with InvalidParameterError where fit raises RankError
    root = tmp_path / "archive"
    write_archive(root, n_files=1, seed=3, n_spa=8, n_spe=12)
    for kwargs in ({"clip": -1.0}, {"hot_threshold": 5.0, "hot_sigma": 3.0}):
        want = error_of(lambda kwargs=kwargs: iuvs.fit(x, y, 1, **kwargs))
        assert error_of(lambda kwargs=kwargs: survey(root, **kwargs)) == want
    for ranks in ([13], ["1"], "1:4", []):
        want = error_of(lambda ranks=ranks: iuvs.fit_all(x, y, ranks))
        assert want[0] is ex.RankError
        assert error_of(lambda ranks=ranks: survey(root, ranks=ranks)) == want


def test_options_bundle_equals_keywords_and_refuses_both():
    mask = np.zeros(x.shape, bool)
    mask[0, :5] = True
    opts = iuvs.FitOptions(mask=mask, hot_threshold=150.0, clip=3.0)
    a = iuvs.fit_all(x, y, [1], options=opts)[0]
    b = iuvs.fit_all(x, y, [1], mask=mask, hot_threshold=150.0, clip=3.0)[0]
    np.testing.assert_array_equal(a.coeffs, b.coeffs)
    # the fit is numpy's on the pixels left
    keep = ~mask & (x <= 150.0)
    np.testing.assert_allclose(a.coeffs, np.polyfit(x[keep], y[keep], 1), rtol=1e-12)
    assert a.stats.n_masked == 5 and a.stats.n_hot == int((x[~mask] > 150).sum())
    batch = iuvs.fit_batch(x[None], y[None], [1], options=opts)
    np.testing.assert_array_equal(batch.coeffs[0, 0, :2], a.coeffs)
    with pytest.raises(ex.InvalidParameterError, match="not both"):
        iuvs.fit(x, y, 1, options=opts, clip=2.0)
    with pytest.raises(ex.InvalidParameterError, match="must be an iuvs.FitOptions"):
        iuvs.fit(x, y, 1, options={"clip": 2.0})  # type: ignore[arg-type]


def test_the_bundle_is_accepted_by_every_entry_point(tmp_path):
    from iuvs.scaling import AddScaler, PolyScaler, fit_scalers

    opts = iuvs.FitOptions(hot_threshold=150.0)
    keep = x <= 150.0
    want = np.polyfit(x[keep], y[keep], 2)
    np.testing.assert_allclose(PolyScaler(x, y, 2, options=opts).fit.coeffs, want, atol=1e-9)
    assert AddScaler(x, y, options=opts).fit.stats.n_hot == int((~keep).sum())
    got = fit_scalers(x, y, [2], options=opts)[0].fit.coeffs
    np.testing.assert_allclose(got, want, atol=1e-9)
    with pytest.raises(ex.InvalidParameterError, match="not both"):
        fit_scalers(x, y, [2], options=opts, clip=3.0)
    # the survey and the report take the scalar options of the bundle
    root = tmp_path / "archive"
    write_archive(root, n_files=1, seed=3, n_spa=8, n_spe=12, bad_fraction=0.0)
    a = survey(root, options=iuvs.FitOptions(clip=3.0), progress=False)
    b = survey(root, clip=3.0, progress=False)
    np.testing.assert_array_equal(a["c1"].to_numpy(), b["c1"].to_numpy())
    with pytest.raises(ex.InvalidParameterError, match="mask"):
        survey(root, options=iuvs.FitOptions(mask=np.zeros((8, 12), bool)), progress=False)
    l1b = iuvs.synthetic.write_l1b(tmp_path / "one", n_darks=2, seed=4)
    r = iuvs.report(l1b, tmp_path / "rep", darks=(0, 1), ranks=[1], figures=False, options=opts)
    assert r.html.exists()


def test_numpy_scalars_are_numbers_and_bools_are_not(tmp_path):
    """numpy scalars pass every option check as Python numbers do; bools never do."""
    from astropy.stats import sigma_clip

    from iuvs.superdark import _check_options

    rng = np.random.default_rng(4)
    stack = rng.normal(100.0, 1.0, (9, 3, 4))
    stack[2, 1, 1] = 1e3
    # the reference: astropy's clip with the same numbers as Python floats
    want = sigma_clip(stack, sigma=3.0, maxiters=5, axis=0, cenfunc="median", stdfunc="std")
    for clip, clip_iter in ((np.float64(3), np.int64(5)), (np.float32(3.0), np.int32(5))):
        c = iuvs.combine(stack, "mean", clip=clip, clip_iter=clip_iter)
        np.testing.assert_allclose(c.data, want.mean(axis=0).filled(np.nan), rtol=1e-12)
        np.testing.assert_array_equal(c.n_used, want.count(axis=0))
        f = iuvs.fit(x, y, 1, clip=clip, clip_iter=clip_iter, hot_sigma=np.float32(5.0))
        np.testing.assert_allclose(f.coeffs, [2.0, 1.0], rtol=1e-12)
        assert iuvs.FitOptions(clip=clip, clip_iter=clip_iter).clip == 3.0
    got = _check_options(
        "median", np.float32(3.0), np.int64(5), np.int64(3), np.int8(2), None, 2**20
    )
    assert got == (3.0, 5, 3, 2, 2**20) and all(type(v) in (int, float) for v in got)
    res = iuvs.fit_batch(x[None], y[None], [1], n_threads=np.int64(1))
    np.testing.assert_allclose(res.coeffs[0, 0, :2], [2.0, 1.0], rtol=1e-12)
    assert iuvs.hot_pixels(x, sigma=np.float32(5.0), max_iter=np.int64(3)).mask.shape == x.shape
    # bools, non-positive and non-finite values: the named error, whatever the type
    for bad in (True, np.bool_(True), np.float64(0.0), np.float32(-1.0), np.float64(np.nan)):
        with pytest.raises(ex.InvalidParameterError, match="clip must be"):
            iuvs.combine(stack, clip=bad)
        with pytest.raises(ex.InvalidParameterError, match="clip must be"):
            iuvs.fit(x, y, 1, clip=bad)
        with pytest.raises(ex.InvalidParameterError, match="clip must be"):
            iuvs.darks.superdark(tmp_path, clip=bad)
    for bad in (True, np.bool_(True), np.int64(0), np.int32(-2), np.float64(5.0)):
        with pytest.raises(ex.InvalidParameterError, match="clip_iter must be a positive integer"):
            iuvs.combine(stack, clip=3.0, clip_iter=bad)
        with pytest.raises(ex.InvalidParameterError, match="clip_iter must be a positive integer"):
            iuvs.darks.superdark(tmp_path, clip_iter=bad)
        with pytest.raises(ex.InvalidParameterError, match="n_threads must be a positive integer"):
            iuvs.fit_batch(x[None], y[None], [1], n_threads=bad)
    for name in ("min_darks", "jobs", "block_bytes"):
        with pytest.raises(ex.InvalidParameterError, match=f"{name} must be a positive integer"):
            iuvs.darks.superdark(tmp_path, **{name: np.int64(0)})
        with pytest.raises(ex.InvalidParameterError, match=f"{name} must be a positive integer"):
            iuvs.darks.superdark(tmp_path, **{name: True})
    with pytest.raises(ex.InvalidParameterError, match="threshold must be a number"):
        iuvs.hot_pixels(x, threshold="5")  # type: ignore[arg-type]
