"""iuvs.survey over a small synthetic archive, checked against astropy + numpy, and
synthetic.write_archive / write_l1b(dark_temps=...)."""

from __future__ import annotations

import argparse
import gzip
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from pandas.testing import assert_frame_equal

import iuvs
import iuvs.survey as survey_module
import iuvs.survey.run as survey_run
from iuvs import exceptions as ex
from iuvs.survey import (
    COLUMNS,
    add_parser,
    format_summary,
    read_table,
    run_survey,
    summarize,
    survey,
    write_table,
)

EXPECTED_COLUMNS = [
    "path", "file", "mtime", "observation", "segment", "orbit", "channel", "version",
    "revision", "dark_in", "dark_out", "time_in", "time_out", "delta_time_s", "temp_in",
    "temp_out", "delta_temp", "int_time", "n_spa", "n_spe", "rank", "model", "coeffs",
    *[f"c{k}" for k in range(13)],
    "perr", "n_used", "n_excluded", "n_nonfinite", "n_masked", "n_hot", "n_clipped",
    "mean", "std", "min", "max", "rms", "frac_mean", "frac_std", "n_fractional",
    "n_zero_denominator", "chosen", "status", "error_class",
    "error_message",
]  # fmt: skip
RANKS = list(range(-1, 5))
NAME = re.compile(
    r"^mvn_iuv_l1b_(?P<seg>[a-z]+)-orbit(?P<orbit>\d{5})-(?P<ch>[a-z]+)_(?P<ts>\d{8}T\d{6})"
    r"_v(?P<v>\d\d)_(?P<r>r\d\d)\.fits(\.gz)?$"
)
N_ARCHIVE = 12  # plus two files with three darks


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """12 archive files (5 bad: 2 single-dark, 1 without darks, 1 truncated, 1 garbage),
    a good file with 3 darks and a plain-FITS file whose dark 1 is constant."""
    root = tmp_path_factory.mktemp("archive")
    paths = iuvs.synthetic.write_archive(
        root, n_files=N_ARCHIVE, bad_fraction=0.34, seed=11, n_spa=31, n_spe=120
    )
    extra = root / "orbit00300"
    extra.mkdir()
    three = iuvs.synthetic.write_l1b(
        extra,
        n_darks=3,
        n_int=1,
        n_spa=31,
        n_spe=120,
        seed=4,
        description="apoapse-orbit00300-muv",
        timestamp="20141105T120000",
        revision="r01",
        dark_temps=(-17.0, -16.5, -16.0),
    )
    constant = iuvs.synthetic.write_l1b(
        extra,
        layout="v00",
        n_darks=3,
        n_int=1,
        n_spa=31,
        n_spe=120,
        seed=5,
        gzip=False,
        description="periapse-orbit00301-fuv",
        timestamp="20141105T170000",
        revision="r01",
    )
    with fits.open(constant, mode="update") as hdul:
        hdul["detector_dark"].data[1] = 300
    return root, sorted([*paths, three, constant])


@pytest.fixture(scope="module")
def table(archive):
    root, _ = archive
    return survey(root, jobs=1, progress=False)


def _dark_temps(hdul, table):
    """Dark temperatures in deg C: DET_TEMP_C, else the engineering DN converted by hand."""
    if "DET_TEMP_C" in table.columns.names:
        return np.asarray(table.data["DET_TEMP_C"], dtype=float)
    names = {h.name.lower(): h for h in hdul}
    eng = names.get("darkengineering", names.get("dark_engineering"))
    if eng is None or "DET_TEMP" not in eng.columns.names:
        return None
    return np.asarray(eng.data["DET_TEMP"], dtype=float) * -0.0749 + 174.08


def expectation(path):
    """What the file should give, found with astropy alone: ('error', class) or ('ok', darks)."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        import io

        with fits.open(io.BytesIO(raw)) as hdul:
            hdul.verify("exception")
            names = [h.name.lower() for h in hdul]
            if "detector_dark" not in names:
                return "error", "MissingExtensionError", None
            darks = np.array(hdul["detector_dark"].data)
            header = hdul[0].header
            table = hdul["Dark_Integration" if "dark_integration" in names else "DarkIntegration"]
            extra = {
                "int_time": float(header["INT_TIME"]),
                "utc": [str(s) for s in table.data["UTC"]],
                "temps": _dark_temps(hdul, table),
            }
    except Exception:
        return "error", "FileFormatError", None
    if darks.ndim == 2:
        return "error", "DarkIndexError", None
    return "ok", darks, extra


def reference_fit(x, y, rank, threshold=None):
    """Least squares in numpy: closed forms for -1 and 0, numpy.polyfit for n >= 1."""
    x = x.ravel().astype(np.float64)
    y = y.ravel().astype(np.float64)
    keep = np.ones(x.size, dtype=bool) if threshold is None else x <= threshold
    n_excluded = int((~keep).sum())
    x, y = x[keep], y[keep]
    n = x.size
    if rank == -1:
        coeffs = np.array([np.mean(y - x)])
        model = x + coeffs[0]
        design = np.ones((n, 1))
    elif rank == 0:
        coeffs = np.array([np.sum(x * y) / np.sum(x * x)])
        model = coeffs[0] * x
        design = x[:, None]
    else:
        coeffs = np.polyfit(x, y, rank)
        model = np.polyval(coeffs, x)
        design = np.vander(x, rank + 1)
    res = y - model
    ssr = float(np.sum(res**2))
    norms = np.linalg.norm(design, axis=0)
    scaled = design / norms
    cov = np.linalg.inv(scaled.T @ scaled) / np.outer(norms, norms) * ssr / (n - len(coeffs))
    nz = y != 0
    frac = res[nz] / y[nz]
    return {
        "coeffs": coeffs,
        "perr": np.sqrt(np.diag(cov)),
        "mean": res.mean(),
        "std": np.std(res),
        "min": res.min(),
        "max": res.max(),
        "rms": np.sqrt(np.mean(res**2)),
        "frac_mean": frac.mean(),
        "frac_std": np.std(frac),
        "n_used": n,
        "n_excluded": n_excluded,
        "ssr": ssr,
        "x_max": float(np.abs(x).max()),
        "y_scale": float(np.abs(y).max()),
    }


def bic(ssr, k, n):
    return n * math.log(ssr / n) + k * math.log(n)


# ------------------------------------------------------------------------ tables
def test_columns_dtypes_and_order(table, archive):
    _, paths = archive
    assert list(table.columns) == EXPECTED_COLUMNS == list(COLUMNS)
    assert str(table["orbit"].dtype) == "Int64" and str(table["rank"].dtype) == "Int64"
    assert str(table["time_in"].dtype) == "datetime64[ns]"
    assert table["chosen"].dtype == bool
    assert sorted(set(table["path"])) == sorted(os.path.abspath(p) for p in paths)
    assert table.index.equals(pd.RangeIndex(len(table)))
    keys = [
        (p, -1 if pd.isna(i) else i, -1 if pd.isna(j) else j, -2 if pd.isna(r) else r)
        for p, i, j, r in zip(table.path, table.dark_in, table.dark_out, table["rank"], strict=True)
    ]
    assert keys == sorted(keys)


def test_every_row_against_astropy_and_numpy(table, archive):
    _, paths = archive
    n_ok = 0
    for path in paths:
        rows = table[table.path == os.path.abspath(path)]
        status, darks, extra = expectation(path)
        m = NAME.match(path.name)
        assert m is not None
        first = rows.iloc[0]
        assert first.file == path.name and os.path.isabs(first.path)
        assert first.mtime == os.stat(path).st_mtime
        assert first.observation == path.name.split("_v")[0]
        assert (first.segment, first.orbit, first.channel) == (
            m["seg"],
            int(m["orbit"]),
            m["ch"].upper(),
        )
        assert (first.version, first.revision) == (int(m["v"]), m["r"])
        if status == "error":
            assert len(rows) == 1
            assert (first.status, first.error_class) == ("error", darks)
            assert first.error_message and pd.isna(first.dark_in) and pd.isna(first["rank"])
            assert first.coeffs == [] and math.isnan(first.c0)
            continue
        pairs = [(k, k + 1) for k in range(darks.shape[0] - 1)]
        assert sorted(set(zip(rows.dark_in, rows.dark_out, strict=True))) == pairs
        for i, j in pairs:
            pair = rows[(rows.dark_in == i) & (rows.dark_out == j)]
            x, y = darks[i], darks[j]
            if np.unique(x).size == 1:  # the constant dark: one error row for the pair
                assert len(pair) == 1 and pair.iloc[0].error_class == "DegenerateFitError"
                continue
            assert list(pair["rank"]) == RANKS
            assert (pair.status == "ok").all() and (pair.error_class == "").all()
            refs = {r: reference_fit(x, y, r) for r in RANKS}
            scores = {r: bic(refs[r]["ssr"], max(r + 1, 1), refs[r]["n_used"]) for r in RANKS}
            want_chosen = min(RANKS, key=lambda r: (scores[r], r))
            t_in, t_out = (
                datetime.strptime(extra["utc"][k].removesuffix("UTC"), "%Y/%j %b %d %H:%M:%S.%f")
                for k in (i, j)
            )
            for _, row in pair.iterrows():
                ref = refs[row["rank"]]
                n_ok += 1
                assert row.model == iuvs.model_name(row["rank"])
                assert row.n_spa == x.shape[0] and row.n_spe == x.shape[1]
                assert row.int_time == extra["int_time"]
                assert row.time_in == pd.Timestamp(t_in) and row.time_out == pd.Timestamp(t_out)
                assert row.delta_time_s == pytest.approx((t_out - t_in).total_seconds())
                if extra["temps"] is None:
                    assert math.isnan(row.temp_in) and math.isnan(row.delta_temp)
                else:
                    assert row.temp_in == pytest.approx(extra["temps"][i], abs=1e-9)
                    assert row.temp_out == pytest.approx(extra["temps"][j], abs=1e-9)
                    assert row.delta_temp == pytest.approx(extra["temps"][j] - extra["temps"][i])
                coeffs = np.asarray(row.coeffs)
                assert coeffs.shape == ref["coeffs"].shape
                # each term compared at the largest x: scale-aware, 1e-9 of the data
                powers = np.arange(len(coeffs))[::-1] if row["rank"] > 0 else np.zeros(1)
                terms = np.abs(coeffs - ref["coeffs"]) * ref["x_max"] ** powers
                assert (terms <= 1e-9 * ref["y_scale"]).all(), (row["rank"], coeffs, ref["coeffs"])
                low_first = [row[f"c{k}"] for k in range(13)]
                np.testing.assert_array_equal(low_first[: len(coeffs)], coeffs[::-1])
                assert all(math.isnan(c) for c in low_first[len(coeffs) :])
                if ref["std"] > 1e-9 * ref["y_scale"]:
                    np.testing.assert_allclose(row.perr, ref["perr"], rtol=1e-6)
                else:  # a perfect fit (dark_out constant): the errors are rounding noise
                    assert np.all(np.asarray(row.perr) * ref["x_max"] ** powers < 1e-9)
                # residuals are differences of values of size y_scale: to 1e-9 of it
                for stat in ("mean", "min", "max"):
                    assert row[stat] == pytest.approx(ref[stat], abs=1e-9 * ref["y_scale"])
                for stat in ("std", "rms"):
                    assert row[stat] == pytest.approx(ref[stat], rel=1e-9)
                # the core takes min, max and the fractional statistics in the pass before
                # its refinement step (src/fit/mod.rs, StatsAccumulator::shift moves only the
                # sums), which costs a few 1e-9 on ill-conditioned degree-4 fits
                for stat in ("frac_mean", "frac_std"):
                    assert row[stat] == pytest.approx(ref[stat], rel=1e-8)
                assert (row.n_used, row.n_excluded, row.n_nonfinite, row.n_clipped) == (
                    ref["n_used"],
                    0,
                    0,
                    0,
                )
                assert row.chosen == (row["rank"] == want_chosen)
    assert n_ok >= 8 * len(RANKS)


def test_bad_files_give_one_error_row_each(table):
    errors = table[table.status == "error"]
    file_errors = errors[errors.dark_in.isna()]
    assert sorted(file_errors.error_class) == [
        "DarkIndexError",
        "DarkIndexError",
        "FileFormatError",
        "FileFormatError",
        "MissingExtensionError",
    ]
    one_dark = file_errors[file_errors.error_class == "DarkIndexError"]
    assert (one_dark.n_spa == 31).all() and one_dark.int_time.notna().all()
    assert one_dark.error_message.str.contains("1 dark frame").all()
    pair_errors = errors[errors.dark_in.notna()]
    assert list(zip(pair_errors.dark_in, pair_errors.dark_out, strict=True)) == [(1, 2)]
    assert list(pair_errors.error_class) == ["DegenerateFitError"]
    assert pd.isna(pair_errors.iloc[0]["rank"])
    summary = summarize(table)
    assert (summary.files, summary.files_ok, summary.files_failed) == (14, 9, 5)
    assert (summary.pairs_fitted, summary.pairs_failed) == (7 + 2 + 1, 1)
    assert "5 failed" in format_summary(summary)


def test_pairs_modes(archive):
    _, paths = archive
    three = next(p for p in paths if "orbit00300" in p.name)
    want = {
        "consecutive": [(0, 1), (1, 2)],
        "first": [(0, 1), (0, 2)],
        "all": [(0, 1), (0, 2), (1, 2)],
    }
    for mode, pairs in want.items():
        t = survey(three, pairs=mode, ranks=[2, 0], jobs=1, progress=False)
        assert list(zip(t.dark_in, t.dark_out, t["rank"], strict=True)) == [
            (i, j, r) for i, j in pairs for r in (0, 2)
        ]
        assert t.groupby(["dark_in", "dark_out"]).chosen.sum().eq(1).all()


def test_hot_threshold_is_passed_to_the_fits(archive):
    _, paths = archive
    three = next(p for p in paths if "orbit00300" in p.name)
    _, darks, _ = expectation(three)
    t = survey(three, ranks=[1], hot_threshold=1000.0, jobs=1, progress=False)
    ref = reference_fit(darks[0], darks[1], 1, threshold=1000.0)
    row = t.iloc[0]
    assert ref["n_excluded"] > 0 and row.n_excluded == ref["n_excluded"]
    np.testing.assert_allclose(row.coeffs, ref["coeffs"], rtol=1e-9)


def test_temperature_drift_follows_the_gain(archive):
    _, paths = archive
    three = next(p for p in paths if "orbit00300" in p.name)
    t = survey(three, pairs="first", ranks=[1], hot_threshold=2000.0, jobs=1, progress=False)
    np.testing.assert_allclose(t.delta_temp, [0.5, 1.0], atol=1e-5)
    np.testing.assert_allclose(t.c1, np.exp(0.1 * t.delta_temp), rtol=0.01)


def test_jobs_2_gives_the_same_table(table, archive):
    root, _ = archive
    assert_frame_equal(survey(root, jobs=2, progress=False), table, check_exact=True)


def test_other_inputs(tmp_path, archive):
    _, paths = archive
    good = next(p for p in paths if "orbit00300" in p.name)
    odd = tmp_path / "darks.fits.gz"
    shutil.copy(good, odd)
    (tmp_path / ".hidden.fits.gz").write_bytes(b"not seen")
    missing = tmp_path / "sub" / "missing.fits"
    t = survey([tmp_path, missing, str(odd)], ranks=[0], jobs=1, progress=False)
    assert list(t.file) == ["darks.fits.gz", "darks.fits.gz", "missing.fits"]
    assert (t.observation.iloc[:2] == "").all() and t.orbit.isna().all()
    assert t.iloc[2].error_class == "FileFormatError" and math.isnan(t.iloc[2].mtime)
    (tmp_path / "none").mkdir()
    empty = survey(tmp_path / "none", progress=False, jobs=1)
    assert list(empty.columns) == EXPECTED_COLUMNS and len(empty) == 0


def test_bad_options(archive):
    root, _ = archive
    for kw in (
        {"pairs": "every"},
        {"criterion": "r2"},
        {"hot_threshold": 10.0, "hot_sigma": 3.0},
        {"clip": -1.0},
        {"jobs": 0},
    ):
        with pytest.raises(ex.InvalidParameterError):
            survey(root, progress=False, **kw)
    # a bad rank is the RankError that fit raises (test_options checks the messages)
    for kw in ({"ranks": [13]}, {"ranks": []}):
        with pytest.raises(ex.RankError):
            survey(root, progress=False, **kw)


def test_no_progress_output_when_stderr_is_not_a_terminal(archive, capsys):
    _, paths = archive
    survey(paths[:2], ranks=[0], jobs=1, progress=True)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ files, resume
@pytest.mark.parametrize("suffix", [".parquet", ".pq", ".csv"])
def test_round_trip(table, tmp_path, suffix):
    out = write_table(table, tmp_path / f"survey{suffix}")
    assert not list(tmp_path.glob(".*tmp"))
    back = read_table(out)
    assert_frame_equal(back, table, check_exact=True)
    if suffix == ".csv":
        raw = pd.read_csv(out, dtype=str, keep_default_na=False)
        ok = raw[raw.status == "ok"].iloc[0]
        assert isinstance(json.loads(ok.coeffs), list) and isinstance(json.loads(ok.perr), list)


def test_refuses_to_overwrite(table, archive, tmp_path):
    root, _ = archive
    out = write_table(table.head(3), tmp_path / "s.parquet")
    before = out.read_bytes()
    with pytest.raises(ex.OutputExistsError):
        write_table(table, out)
    with pytest.raises(ex.OutputExistsError):
        run_survey(root, out, jobs=1, progress=False)
    assert out.read_bytes() == before
    with pytest.raises(ex.InvalidParameterError):
        write_table(table, tmp_path / "s.xlsx")
    with pytest.raises(ex.InvalidParameterError):
        run_survey(root, tmp_path / "s.txt", jobs=1, progress=False)
    write_table(table, out, overwrite=True)
    assert_frame_equal(read_table(out), table)
    t, _ = run_survey(root, out, overwrite=True, jobs=1, progress=False)
    assert_frame_equal(t, table)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_resume_after_a_partial_run_equals_one_run(table, archive, tmp_path, suffix):
    root, paths = archive
    full_out = tmp_path / f"full{suffix}"
    full, summary = run_survey(root, full_out, jobs=1, progress=False, failures=None)
    assert_frame_equal(full, table, check_exact=True)
    assert summary.files_surveyed == 14 and summary.files_skipped == 0
    out = tmp_path / f"resumed{suffix}"
    run_survey(paths[::2], out, jobs=1, progress=False)  # "killed" after half the files
    resumed, summary = run_survey(root, out, resume=True, jobs=1, progress=False)
    assert (summary.files_surveyed, summary.files_skipped) == (7, 7)
    assert_frame_equal(resumed, full, check_exact=True)
    assert_frame_equal(read_table(out), read_table(full_out), check_exact=True)
    # a file that changed is surveyed again, the others are not
    changed = paths[3]
    st = os.stat(changed)
    os.utime(changed, (1.0e9, 1.0e9))
    try:
        again, summary = run_survey(root, out, resume=True, jobs=1, progress=False)
    finally:  # the archive is shared by the other tests
        os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (summary.files_surveyed, summary.files_skipped) == (1, 13)
    assert (again[again.path == str(changed)].mtime == 1.0e9).all()
    assert_frame_equal(again.drop(columns="mtime"), full.drop(columns="mtime"))


def test_killed_run_checkpoints_and_resumes(table, archive, tmp_path, monkeypatch):
    root, _ = archive
    real = survey_module._survey_file
    done = []

    def killed_after_five(path, options):
        if len(done) == 5:
            raise KeyboardInterrupt
        done.append(path)
        return real(path, options)

    monkeypatch.setattr(survey_run, "_survey_file", killed_after_five)
    out = tmp_path / "s.parquet"
    with pytest.raises(KeyboardInterrupt):
        run_survey(root, out, jobs=1, progress=False, checkpoint_seconds=0)
    monkeypatch.undo()
    partial = read_table(out)
    assert sorted(set(partial.path)) == sorted(done)
    resumed, summary = run_survey(root, out, resume=True, jobs=1, progress=False)
    assert summary.files_skipped == 5
    assert_frame_equal(resumed, table, check_exact=True)
    assert_frame_equal(survey(root, resume=partial, jobs=1, progress=False), table)


def test_failures_file(archive, tmp_path):
    root, _ = archive
    out, failures = tmp_path / "s.csv", tmp_path / "failed.csv"
    t, summary = run_survey(root, out, failures=failures, ranks=[0, 1], jobs=1, progress=False)
    listed = pd.read_csv(failures, keep_default_na=False)
    assert list(listed.columns) == ["path", "dark_in", "dark_out", "error_class", "error_message"]
    errors = t[t.status == "error"]
    assert list(listed.path) == list(errors.path)
    assert list(listed.error_class) == list(errors.error_class)
    assert summary.files_failed == 5
    with pytest.raises(ex.OutputExistsError):  # failures is protected like the output
        run_survey(root, tmp_path / "other.csv", failures=failures, jobs=1, progress=False)


def test_empty_input_is_an_error(tmp_path):
    with pytest.raises(ex.EmptyInputError):
        run_survey(tmp_path, tmp_path / "s.csv", progress=False)


# --------------------------------------------------------------------------- CLI
def parser():
    p = argparse.ArgumentParser(prog="iuvs")
    add_parser(p.add_subparsers(dest="command", required=True))
    return p


def test_cli_arguments():
    p = parser()
    args = p.parse_args(["survey", "a", "b.fits", "-o", "s.parquet"])
    assert args.inputs == ["a", "b.fits"] and args.ranks == RANKS
    assert (args.pairs, args.pattern, args.jobs, args.scheduler) == (
        "consecutive",
        "*.fits*",
        None,
        None,
    )
    assert not args.resume and not args.overwrite and args.failures is None
    assert p.parse_args(["survey", "a", "-o", "s.csv", "--ranks=-1:4"]).ranks == RANKS
    assert p.parse_args(["survey", "a", "-o", "s.csv", "--ranks", "0:2"]).ranks == [0, 1, 2]
    assert p.parse_args(["survey", "a", "-o", "s.csv", "--ranks=-1,0,2"]).ranks == [-1, 0, 2]
    assert p.parse_args(["survey", "a", "-o", "s.csv", "--ranks", "3"]).ranks == [3]
    args = p.parse_args(
        ["survey", "a", "--output", "s.pq", "--pairs", "all", "--hot-sigma", "5", "--clip", "3"]
        + ["--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786", "--resume"]
        + ["--failures", "f.csv", "--pattern", "*.fits.gz"]
    )
    assert (args.pairs, args.hot_sigma, args.clip, args.jobs) == ("all", 5.0, 3.0, 2)
    assert args.scheduler == "tcp://127.0.0.1:8786" and args.resume
    assert args.failures == Path("f.csv") and args.pattern == "*.fits.gz"
    for bad in (
        ["survey", "a"],  # no output
        ["survey", "-o", "s.csv"],  # no input
        ["survey", "a", "-o", "s.txt"],
        ["survey", "a", "-o", "s.csv", "--ranks=-2:4"],
        ["survey", "a", "-o", "s.csv", "--ranks=1:x"],
        ["survey", "a", "-o", "s.csv", "--hot-threshold", "1", "--hot-sigma", "2"],
        ["survey", "a", "-o", "s.csv", "--resume", "--overwrite"],
        ["survey", "a", "-o", "s.csv", "--pairs", "some"],
        ["survey", "a", "-o", "s.csv", "--jobs", "0"],
        ["survey", "a", "-o", "s.csv", "--clip", "-3"],
    ):
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_cli_run(archive, tmp_path, table):
    root, paths = archive
    out, failures = tmp_path / "s.parquet", tmp_path / "failed.csv"
    shown = []
    argv = ["survey", str(root), "-o", str(out), "--jobs", "1", "--failures", str(failures)]
    args = parser().parse_args(argv)
    assert args.run(args, shown.append) == 1  # some files failed
    assert_frame_equal(read_table(out), table, check_exact=True)
    assert failures.exists() and "5 failed" in shown[0] and str(out) in shown[-1]
    with pytest.raises(ex.OutputExistsError):
        args.run(args, shown.append)
    args = parser().parse_args([*argv, "--resume"])
    assert args.run(args, shown.append) == 1
    good = [str(p) for p in paths if "orbit00300" in p.name]
    args = parser().parse_args(["survey", *good, "-o", str(tmp_path / "g.csv"), "--ranks", "0:1"])
    args.jobs = 1
    assert args.run(args, shown.append) == 0


# -------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as c:
        yield c


def test_dask_client(cluster, table, archive):
    import distributed

    root, _ = archive
    with distributed.Client(cluster) as client:
        t = survey(root, scheduler=client, progress=False)
        assert client.status == "running"  # a client passed in stays open
    assert_frame_equal(t, table)


def test_dask_address(cluster, table, archive):
    root, _ = archive
    assert_frame_equal(survey(root, scheduler=cluster.scheduler_address, progress=False), table)


def test_dask_missing_gives_a_clear_import_error(archive, monkeypatch):
    root, _ = archive
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"iuvs\[dask\]"):
        survey(root, scheduler="tcp://127.0.0.1:1", progress=False)


# --------------------------------------------------------------------- synthetic
@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_write_archive_layout(tmp_path):
    paths = iuvs.synthetic.write_archive(
        tmp_path, n_files=10, n_spa=7, n_spe=32, bad_fraction=0.4, first_orbit=198, seed=2
    )
    assert len(paths) == 10 and paths == sorted(paths)
    orbits, stamps = [], []
    for p in paths:
        m = NAME.match(p.name)
        assert m is not None and m["seg"] in ("periapse", "outbound", "apoapse", "inbound")
        orbit = int(m["orbit"])
        assert p.parent.name == f"orbit{orbit // 100 * 100:05d}"
        assert m["ch"] in ("muv", "fuv") and m["v"] in ("00", "13")
        orbits.append(orbit)
        stamps.append(m["ts"])
    assert sorted(set(orbits)) == [198, 199, 200]
    by_orbit = sorted(zip(orbits, stamps, strict=True))
    assert [s for _, s in by_orbit] == sorted(stamps)  # time increases with the orbit
    kinds = [expectation(p)[:2] for p in paths]
    errors = sorted(k[1] for k in kinds if k[0] == "error")
    assert errors == [
        "DarkIndexError",
        "FileFormatError",
        "FileFormatError",
        "MissingExtensionError",
    ]
    again = tmp_path / "again"
    iuvs.synthetic.write_archive(
        again, n_files=10, n_spa=7, n_spe=32, bad_fraction=0.4, first_orbit=198, seed=2
    )
    for p in paths:
        assert (again / p.relative_to(tmp_path)).read_bytes() == p.read_bytes()
    with pytest.raises(ex.OutputExistsError):
        iuvs.synthetic.write_archive(
            tmp_path, n_files=10, n_spa=7, n_spe=32, bad_fraction=0.4, first_orbit=198, seed=2
        )
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_archive(tmp_path, n_files=0)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_archive(tmp_path, bad_fraction=1.5)


@pytest.mark.parametrize("layout", ["v13", "v00"])
def test_write_l1b_dark_temps(tmp_path, layout):
    temps = (-18.0, -17.0, -15.0)
    p = iuvs.synthetic.write_l1b(
        tmp_path, layout=layout, n_darks=3, n_int=1, seed=3, dark_temps=temps, gzip=False
    )
    with fits.open(p) as hdul:
        names = [h.name for h in hdul]
        integration = hdul["Dark_Integration" if layout == "v13" else "DarkIntegration"].data
        engineering = hdul["Dark_Engineering" if layout == "v13" else "DarkEngineering"].data
        darks = np.asarray(hdul["detector_dark"].data, dtype=float)
    if layout == "v13":
        np.testing.assert_array_equal(integration["DET_TEMP_C"], temps)
    else:
        assert "DET_TEMP_C" not in integration.columns.names and "DARK_INTEGRATION" not in names
    # raw DN, as the 2015 conversion reads it back: deg C = DN * -0.0749 + 174.08
    np.testing.assert_allclose(engineering["DET_TEMP"] * -0.0749 + 174.08, temps, atol=0.04)
    x = darks[0].ravel()
    keep = x < 2000  # hot pixels do not follow the gain
    for k in (1, 2):
        slope = np.polyfit(x[keep], darks[k].ravel()[keep], 1)[0]
        assert slope == pytest.approx(math.exp(0.1 * (temps[k] - temps[0])), rel=0.01)


def test_write_l1b_unchanged_without_dark_temps(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = iuvs.synthetic.write_l1b(tmp_path / "a", seed=9)
    b = iuvs.synthetic.write_l1b(tmp_path / "b", seed=9, dark_temps=None, compresslevel=6)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_l1b(tmp_path, n_darks=2, dark_temps=(-17.0,), overwrite=True)
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_l1b(tmp_path, compresslevel=11, overwrite=True)


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_cli_report_page(archive, tmp_path, table):
    root, paths = archive
    out, rep = tmp_path / "s.parquet", tmp_path / "rep"
    shown = []
    argv = ["survey", str(root), "-o", str(out), "--jobs", "1", "--report", str(rep)]
    args = parser().parse_args(argv)
    assert args.run(args, shown.append) == 1
    page = (rep / "survey.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # drift and best-rank figures
    failed = table[table["status"] == "error"]
    for name in failed["file"]:
        assert html.escape(name) in page
    ok = table[(table["status"] == "ok") & (table["rank"] == 0)]
    assert f"{np.median(ok['c0'].to_numpy()):.6g}" in page
    # a second run refuses to replace the page before surveying anything
    out.unlink()
    args = parser().parse_args(argv)
    with pytest.raises(ex.OutputExistsError):
        args.run(args, shown.append)
    assert not out.exists()


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_cli_subprocess(archive, tmp_path):
    root, paths = archive
    good = [str(p) for p in paths if "orbit00300" in p.name]
    run = [sys.executable, "-m", "iuvs", "survey", "--jobs", "1"]
    done = subprocess.run(
        [*run, *good, "-o", str(tmp_path / "g.csv")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [*run, str(root), "-o", str(tmp_path / "all.csv")], capture_output=True, text=True
    )
    assert done.returncode == 1 and "failed" in done.stdout and "Traceback" not in done.stderr
    done = subprocess.run([*run, str(root)], capture_output=True, text=True)
    assert done.returncode == 2 and "usage:" in done.stderr
