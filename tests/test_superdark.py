"""Superdarks and the dark model: iuvs.superdark (re-exported in iuvs.darks)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip

import iuvs
import iuvs.exceptions as ex
from iuvs import darks, synthetic
from iuvs.superdark import _combine, write_superdark_report

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "l1b"
SHARED_ABS = Path("/work/shared/data/l1b")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("darks")
    paths = synthetic.write_dark_archive(root, files_per_set=6, n_darks=5, seed=3)
    return root, paths


@pytest.fixture(scope="module")
def result(archive):
    root, _ = archive
    return darks.superdark(root, jobs=1)


def _set_index(group):
    for s, (channel, int_time, n_spa, n_spe, nonlinear) in enumerate(synthetic.DARK_ARCHIVE_SETS):
        if (
            group.channel == channel.upper()
            and group.int_time == pytest.approx(int_time)
            and group.shape == (n_spa, n_spe)
            and group.bin_tbl.startswith("NON" if nonlinear else "LINEAR")
        ):
            return s
    raise AssertionError(group)


# ---------------------------------------------------------------- grouping
def test_groups_never_mix_binnings(result, archive):
    _, paths = archive
    assert len(result) == 3 and result.failures == () and result.n_files == len(paths)
    seen = set()
    for s in result:
        s_index = _set_index(s.group)
        seen.add(s_index)
        # every file of the group was written for that binning set (folder setN)
        assert {Path(f).parent.name for f in s.files} == {f"set{s_index}"}
        for f in s.files:
            assert iuvs.darks.dark_group(f) == s.group
    assert seen == {0, 1, 2}
    # sets 0 and 1 differ only by their bin table: two groups, same shape
    muv = [s for s in result if s.group.channel == "MUV"]
    assert len(muv) == 2 and muv[0].group.shape == muv[1].group.shape
    assert muv[0].group.bin_tbl != muv[1].group.bin_tbl


def test_first_dark_of_each_set_is_left_out(result, archive):
    # write_l1b: darks 0..3 70 s apart, dark 4 47 min later: sets {0..3}, {4}
    for s in result:
        assert sorted(set(s.dark_index.tolist())) == [1, 2, 3]
        assert s.n_darks == 3 * 6
    root, _ = archive
    kept = darks.superdark(root, jobs=1, skip_first=False)
    assert all(sorted(set(s.dark_index.tolist())) == [0, 1, 2, 3, 4] for s in kept)


def test_temperature_range(archive):
    root, _ = archive
    r = darks.superdark(root, jobs=1, temperature_range=(-20.0, -5.0), min_darks=2)
    for s in r:
        assert s.temperatures.min() >= -20.0 and s.temperatures.max() <= -5.0
    assert sum(s.n_darks for s in r) < 54


# ---------------------------------------------------------- recovering truth
def test_superdark_equals_astropy_on_the_darks(result):
    """The combined frame equals an independent astropy combination of the same darks."""
    s = result[0]
    frames = []
    for f, k in zip(s.provenance["file"], s.dark_index, strict=True):
        with fits.open(str(f)) as hdul:
            frames.append(np.asarray(hdul["detector_dark"].data[k], dtype=np.float64))
    stack = np.array(frames)
    clipped = sigma_clip(stack, sigma=3.0, maxiters=5, axis=0, cenfunc="median", stdfunc="std")
    np.testing.assert_array_equal(s.data, np.ma.median(clipped, axis=0).filled(np.nan))
    np.testing.assert_array_equal(s.n_used, clipped.count(axis=0))
    np.testing.assert_allclose(s.scatter, clipped.std(axis=0).filled(np.nan), rtol=1e-12)


def test_superdark_recovers_the_pattern(result):
    for s in result:
        truth = synthetic.dark_pattern(_set_index(s.group))
        # the noise-free median of the true darks at their temperatures
        target = np.median(truth[None] * synthetic.dark_gain(s.temperatures)[:, None, None], axis=0)
        rel = (s.data - target) / target
        assert abs(np.median(rel)) < 0.003  # no bias
        # one dark's |error| / sigma has median 0.67 (normal noise, variance = DN);
        # the combined darks do much better
        assert np.median(np.abs(rel) * np.sqrt(target)) < 0.45


def test_model_recovers_the_truth(result):
    for s in result:
        truth = synthetic.dark_pattern(_set_index(s.group))
        model = darks.DarkModel.fit(s)
        assert all(1 <= d <= 3 for d in model.degrees)
        for t in (-28.0, -15.0, -2.0):
            want = truth * synthetic.dark_gain(t)
            got = model.predict(t)
            # the level: no bias beyond 0.5 %
            assert abs(np.median((got - want) / want)) < 0.005
            assert got.mean() == pytest.approx(want.mean(), rel=0.005)
            # pixel by pixel: limited by the superdark's own noise (see above)
            assert np.median(np.abs(got - want) / np.sqrt(want)) < 0.6
        # the truth is a quadratic in T: BIC keeps the curvature
        assert model.degrees[0] >= 2
        many = model.predict([-20.0, -10.0])
        assert many.shape == (2, *s.group.shape)
        np.testing.assert_allclose(many[1], model.predict(-10.0))


def test_validate_beats_the_nearest_dark(result):
    s = result[1]
    model = darks.DarkModel.fit(s)
    v = model.validate()
    summary = v.summary()
    assert summary["n_darks"] == s.n_darks
    assert summary["model_sigma"] < summary["nearest_sigma"]
    k = 5
    f = str(s.provenance["file"][k])
    with fits.open(f) as hdul:
        d = np.asarray(hdul["detector_dark"].data[int(s.dark_index[k])], dtype=np.float64)
    # the baseline: the nearest dark in time of another file, found by brute force
    t = s.times
    cands = [j for j in range(s.n_darks) if str(s.provenance["file"][j]) != f]
    j = min(cands, key=lambda j: abs(t[j] - t[k]))
    with fits.open(str(s.provenance["file"][j])) as hdul:
        near = np.asarray(hdul["detector_dark"].data[int(s.dark_index[j])], dtype=np.float64)
    assert v.nearest_sigma[k] == pytest.approx(np.std(d - near), rel=1e-12)
    # the poisson noise of the darks is the floor: sqrt(mean DN)
    assert summary["model_sigma"] > 0.5 * np.sqrt(np.nanmedian(s.data) * 0.3)


def _darks_of(s):
    """The darks a superdark used, read with astropy (file and index from the provenance)."""
    out = []
    for f, k in zip(s.provenance["file"], s.dark_index, strict=True):
        with fits.open(str(f)) as hdul:
            out.append(np.asarray(hdul["detector_dark"].data[k], dtype=np.float64))
    return np.array(out)


def _leave_one_file_out(stack, files, temps, rank, degree):
    """numpy's leave-one-file-out: median of the other files' darks, np.polyfit, std.

    ``files`` labels each dark; the darks of one label are left out together.
    """
    want = np.full(len(files), np.nan)
    for name in set(files.tolist()):
        test = files == name
        sd = np.median(stack[~test], axis=0)
        if rank == 0:  # d = a * S, least squares: a = sum(d S) / sum(S S)
            coef = np.array([[(d * sd).sum() / (sd * sd).sum()] for d in stack[~test]])
        else:  # d = a * S + b
            coef = np.array([np.polyfit(sd.ravel(), d.ravel(), 1) for d in stack[~test]])
        polys = [np.polyfit(temps[~test], c, degree) for c in coef.T]
        for k in np.flatnonzero(test):
            a, *b = (np.polyval(p, temps[k]) for p in polys)
            want[k] = np.std(stack[k] - (a * sd + (b[0] if b else 0.0)))
    return want


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """4 files per set, 3 darks kept per file, no clipping: the superdark is numpy's median."""
    root = tmp_path_factory.mktemp("small")
    synthetic.write_dark_archive(root, files_per_set=4, n_darks=5, seed=11)
    return root, darks.superdark(root, jobs=1, clip=None)


@pytest.mark.parametrize("rank", [0, 1])
def test_validate_is_leave_one_file_out(small, rank):
    """Superdark and model rebuilt without each file: equal to an independent numpy version."""
    _, result = small
    for s in result:
        stack, files, temps = _darks_of(s), s.provenance["file"].astype(str), s.temperatures
        assert s.n_files == 4 and s.n_darks == 12 and np.isfinite(temps).all()
        model = darks.DarkModel.fit(s, rank=rank, max_degree=1)
        v = model.validate()
        want = _leave_one_file_out(stack, files, temps, rank, degree=1)
        np.testing.assert_allclose(v.model_sigma, want, rtol=1e-9)
        assert v.file == tuple(files) and np.isfinite(v.model_sigma).all()
        # the superdark really is rebuilt: keeping the file's own darks in it
        # (the old shortcut) is optimistic, by far more than the tolerance
        full = np.median(stack, axis=0)
        k = 0
        a, *b = (
            np.polyval(p, temps[k])
            for p in darks.DarkModel.fit(s, rank=rank, max_degree=1).polynomials
        )
        shortcut = np.std(stack[k] - (a * full + (b[0] if b else 0.0)))
        assert abs(shortcut - v.model_sigma[k]) > 1e-3 * v.model_sigma[k]
        assert model.validate() is v  # kept: a second call costs nothing


def test_validate_in_folds_of_files(small):
    """folds=k: the files in time order dealt in turn to k folds, each left out at once."""
    _, result = small
    s = result[0]
    stack, files, temps = _darks_of(s), s.provenance["file"].astype(str), s.temperatures
    model = darks.DarkModel.fit(s, max_degree=1)
    # by hand: files ordered by their first dark's time, then dealt to folds 0, 1, 0, 1
    order = sorted(set(files.tolist()), key=lambda f: s.times[files == f].min())
    fold = np.array([order.index(f) % 2 for f in files])
    want = _leave_one_file_out(stack, fold, temps, 1, degree=1)
    np.testing.assert_allclose(model.validate(folds=2).model_sigma, want, rtol=1e-9)
    # as many folds as files (or more) is leave-one-file-out
    lofo = model.validate().model_sigma
    np.testing.assert_array_equal(model.validate(folds=4).model_sigma, lofo)
    np.testing.assert_array_equal(model.validate(folds=9).model_sigma, lofo)
    # half the files left out: a worse model than with one file left out (with
    # the degrees BIC chooses; the truth is quadratic in T, so a line is not)
    full = darks.DarkModel.fit(s)
    assert full.degrees[0] == 2
    assert np.median(full.validate(folds=2).model_sigma) > np.median(full.validate().model_sigma)
    assert np.isnan(full.validate(folds=1).model_sigma).all()  # nothing left to learn from
    for bad in (0, -1, True, 2.0):
        with pytest.raises(ex.InvalidParameterError, match="folds must be a positive integer"):
            model.validate(folds=bad)  # type: ignore[arg-type]


def test_validate_needs_the_files(small, tmp_path):
    """A file of the provenance gone or changed: FileFormatError naming it; the report says so."""
    root, _ = small
    copy = tmp_path / "a"
    shutil.copytree(root / "set2", copy)
    s = darks.superdark(copy, jobs=1, clip=None)[0]
    gone = sorted(copy.glob("*.fits*"))[1]
    gone.rename(tmp_path / gone.name)
    with pytest.raises(ex.FileFormatError, match=f"{gone.name}.*needs every file"):
        darks.DarkModel.fit(s).validate()
    page = write_superdark_report(
        darks.SuperdarkSet((s,)), tmp_path / "rep", figures=False
    ).read_text()
    assert "No leave-one-file-out error" in page and gone.name in page
    # another file in its place (same name, other darks): refused too
    other = synthetic.write_dark_archive(tmp_path / "b", files_per_set=4, n_darks=5, seed=2)
    (tmp_path / gone.name).unlink()
    shutil.copy(next(p for p in other if p.name == gone.name), gone)
    with pytest.raises(ex.FileFormatError, match="no longer those the superdark used"):
        darks.DarkModel.fit(s).validate()


def test_subtract_with_the_model(result, archive):
    _, paths = archive
    models = [darks.DarkModel.fit(s) for s in result]
    path = paths[-1]
    c = darks.subtract(path, method="model", model=models)
    reader = iuvs.io.L1BReader(path)
    temps = reader.integration_temperatures
    group = darks.dark_group(reader)
    chosen = next(m for m in models if m.group == group)
    np.testing.assert_allclose(c.dark[0], chosen.predict(temps[0]).astype(np.float32))
    np.testing.assert_allclose(
        c.corrected, (reader.detector_raw.astype(np.float64) - c.dark).astype(np.float32), atol=1e-3
    )
    assert "DarkModel" in c.method_detail
    with pytest.raises(ex.InvalidParameterError, match="model="):
        darks.subtract(path, method="model")
    with pytest.raises(ex.InvalidParameterError, match="only with method='model'"):
        darks.subtract(path, method="pipeline", model=models[0])


# ------------------------------------------------------- processes and Dask
def test_two_processes_give_the_same_result(result, archive):
    root, _ = archive
    two = darks.superdark(root, jobs=2)
    for a, b in zip(result, two, strict=True):
        assert a.group == b.group
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.provenance, b.provenance)


def test_small_blocks_give_the_same_result(result, archive):
    _, paths = archive
    fuv = [p for p in paths if "-fuv_" in p.name]
    blocks = darks.superdark(fuv, jobs=1, block_bytes=1)  # one row at a time
    for a, b in zip(result[:1], blocks, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.scatter, b.scatter)


@pytest.mark.slow
def test_dask_cluster(result, archive):
    distributed = pytest.importorskip("distributed")
    root, _ = archive
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = darks.superdark(root, scheduler=client)
        again = darks.superdark(root, scheduler=cluster.scheduler_address)
    for a, b, c in zip(result, got, again, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.data, c.data)


# ------------------------------------------------------------- the FITS file
def test_write_and_read_back(result, tmp_path):
    out = darks.write_superdarks(result, tmp_path / "s.fits")
    with fits.open(out, checksum=True) as hdul:
        names = [h.name for h in hdul]
        assert names.count("SUPERDARK") == names.count("COUNT") == names.count("SCATTER") == 3
        h = hdul["SUPERDARK", 2].header
        assert h["NDARKS"] == result[1].n_darks and h["XUV"] == result[1].group.channel
        assert "CHECKSUM" in h and "PROVENANCE" in names
    back = darks.read_superdarks(out)
    for a, b in zip(result, back, strict=True):
        assert a.group == b.group and a.method == b.method and a.clip == b.clip
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.n_used, b.n_used)
        np.testing.assert_array_equal(a.provenance, b.provenance)
    with pytest.raises(ex.OutputExistsError):
        darks.write_superdarks(result, out)
    darks.write_superdarks(result, out, overwrite=True)


def test_cli(archive, tmp_path):
    from iuvs.cli import main

    root, paths = archive
    bad = tmp_path / "in"
    shutil.copytree(root / "set2", bad)  # the FUV set only: one group
    broken = bad / "broken_v13_r01.fits.gz"
    broken.write_bytes(gzip.compress(b"SIMPLE  = not a fits file")[:20])
    out = tmp_path / "s.fits"
    assert main(["-q", "superdark", str(bad), "-o", str(out), "--jobs", "1"]) == 1
    back = darks.read_superdarks(out)
    assert len(back) == 1 and [f for f, _ in back.failures] == [str(broken)]
    assert back.n_files == len(paths) // 3 + 1
    assert main(["-q", "superdark", str(bad), "-o", str(out)]) == 1  # exists: refused
    rep = tmp_path / "rep"
    argv = ["-q", "superdark", str(bad), "-o", str(out), "--overwrite", "--report", str(rep)]
    assert main([*argv, "--jobs", "1"]) == 1
    page = (rep / "superdark.html").read_text()
    assert page.count("<h2>") == 2 and "leave-one-file-out" in page and str(broken) in page


# ---------------------------------------------------------------- real files
def _real_groups(paths):
    r = darks.superdark(paths, jobs=1, min_darks=2)
    return {s.group.channel: s for s in r}


@pytest.mark.realdata
def test_real_files_in_tests_data():
    groups = _real_groups(sorted(DATA.glob("*.fits.gz")))
    assert set(groups) == {"FUV", "MUV"}
    assert groups["FUV"].group.shape != groups["MUV"].group.shape
    for s in groups.values():
        # 10 darks in 2 sets of 5: the first of each left out
        assert s.n_darks == 8 and set(s.dark_index.tolist()) == {1, 2, 3, 4, 6, 7, 8, 9}


@pytest.mark.realdata
def test_real_folder_shares_its_darks():
    folder = SHARED_ABS if SHARED_ABS.is_dir() else SHARED
    if not folder.is_dir():
        pytest.skip("the real L1B folder is absent")
    groups = _real_groups(folder)
    assert set(groups) == {"FUV", "MUV"}
    # the files of one orbit carry the same darks: each is used once
    for s in groups.values():
        assert s.n_darks == 8 and np.unique(s.times).size == 8


# ------------------------------------------------------------------ bad inputs
def test_combine_contract_bad_inputs():
    with pytest.raises(ex.ShapeMismatchError, match="shape"):
        _combine([np.zeros((2, 3)), np.zeros((3, 2))], "median", None, 5, None)
    with pytest.raises(ex.EmptyInputError):
        _combine(np.zeros((0, 2, 3)), "median", None, 5, None)
    with pytest.raises(ex.InsufficientDataError, match="masked"):
        _combine(np.full((3, 2, 2), np.nan), "median", None, 5, None)
    with pytest.raises(ex.InsufficientDataError, match="masked"):
        _combine(np.ones((3, 2, 2)), "median", None, 5, np.ones((2, 2), dtype=bool))
    with pytest.raises(ex.InvalidParameterError, match="clip"):
        _combine(np.ones((3, 2, 2)), "median", 0.0, 5, None)
    # without clipping, the median is numpy's exactly
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(7, 4, 5))
    data, n_used, scatter = _combine(stack, "median", None, 5, None)
    np.testing.assert_array_equal(data, np.median(stack, axis=0))
    np.testing.assert_array_equal(n_used, 7)
    np.testing.assert_allclose(scatter, stack.std(axis=0), rtol=1e-12)


def test_bad_options(archive, result, tmp_path):
    root, paths = archive
    fuv = [p for p in paths if "-fuv_" in p.name]
    for clip in (0.0, -1.0, float("nan")):
        with pytest.raises(ex.InvalidParameterError, match="clip"):
            darks.superdark(root, clip=clip)
    with pytest.raises(ex.InvalidParameterError, match="method"):
        darks.superdark(root, method="mode")  # type: ignore[arg-type]
    with pytest.raises(ex.InvalidParameterError, match="jobs"):
        darks.superdark(root, jobs=0)
    with pytest.raises(ex.EmptyInputError, match="no L1B files"):
        darks.superdark(tmp_path)
    with pytest.raises(ex.InsufficientDataError, match="has 18 darks .* min_darks is 30"):
        darks.superdark(fuv, jobs=1, min_darks=30)
    assert len(darks.superdark(fuv, jobs=1, min_darks=30, small_groups="skip")) == 0
    with pytest.raises(ex.InvalidParameterError, match="rank"):
        darks.DarkModel.fit(result[0], rank=2)


def test_unreadable_files_are_reported_and_skipped(archive, tmp_path):
    root, paths = archive
    truncated = tmp_path / "a_v13_r01.fits.gz"
    truncated.write_bytes(paths[0].read_bytes()[:500])
    no_darks = synthetic.write_l1b(tmp_path, with_darks=False, seed=1)
    r = darks.superdark([*paths, truncated, no_darks], jobs=1)
    failed = dict(r.failures)
    assert set(failed) == {str(truncated), str(no_darks)}
    assert "FileFormatError" in failed[str(truncated)]
    assert "detector_dark" in failed[str(no_darks)]
    assert len(r) == 3
    with pytest.raises(ex.InsufficientDataError, match="none of the 2 files"):
        darks.superdark([truncated, no_darks], jobs=1)


def test_set_gap_is_the_rule_of_darks():
    from iuvs import superdark as module

    assert module.SET_GAP_SECONDS == darks.SET_GAP_SECONDS


# --------------------------------------------------------------------------- figures
def test_figures(result):
    pytest.importorskip("matplotlib")
    from iuvs import plotting

    s = result[0]
    fig = plotting.superdark(s)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    np.testing.assert_array_equal(images[0], s.data)
    np.testing.assert_array_equal(images[1], s.n_used)
    model = darks.DarkModel.fit(s)
    fig = plotting.dark_vs_temperature(model)
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_array_equal(y, s.provenance["gain"])
    v = model.validate()
    np.testing.assert_array_equal(fig.axes[-1].lines[0].get_data()[1], v.model_sigma)
    with pytest.raises(ex.InvalidParameterError, match="Superdark"):
        plotting.superdark(s.data)
    with pytest.raises(ex.InvalidParameterError, match="DarkModel"):
        plotting.dark_vs_temperature(s)


def test_temperatures_of_both_layouts(tmp_path):
    for layout, table in (("v13", "Dark_Integration"), ("v00", "DarkEngineering")):
        p = synthetic.write_l1b(tmp_path, layout=layout, dark_temps=(-20.0, -19.0), seed=1)
        reader = iuvs.io.L1BReader(p)
        with fits.open(p) as hdul:
            if layout == "v13":
                want = hdul[table].data["DET_TEMP_C"].astype(np.float64)
                light = hdul["Integration"].data["DET_TEMP_C"].astype(np.float64)
            else:  # raw DN, converted as l1b_format.md says
                want = hdul[table].data["DET_TEMP"] * -0.0749 + 174.08
                light = hdul["Engineering"].data["DET_TEMP"] * -0.0749 + 174.08
        np.testing.assert_allclose(reader.dark_temperatures, want, rtol=1e-12)
        np.testing.assert_allclose(reader.integration_temperatures, light, rtol=1e-12)
        assert np.abs(reader.dark_temperatures - [-20.0, -19.0]).max() < 0.04


def test_darks_only_reader(archive):
    _, paths = archive
    for p in (paths[0], paths[1]):  # a v00 and a v13 file
        full, fast = iuvs.io.L1BReader(p), iuvs.io.L1BReader(p, darks_only=True)
        np.testing.assert_array_equal(fast.detector_dark, full.detector_dark)
        np.testing.assert_array_equal(fast.dark_et, full.dark_et)
        np.testing.assert_array_equal(fast.dark_temperatures, full.dark_temperatures)
        assert fast.binning == full.binning and fast.int_time == full.int_time
        # (with the fast reader every HDU is located anyway; darks_only matters on
        # the astropy path, where it skips building the other HDUs)
        assert full.detector_raw is not None
