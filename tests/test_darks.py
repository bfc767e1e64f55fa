"""Dark-corrected light frames (iuvs.darks), checked against the real files' own pipeline products,
hand-derived values and synthetic files whose true dark is known."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import iuvs
import iuvs.darks as darks
from iuvs.exceptions import (
    FileFormatError,
    InsufficientDataError,
    InvalidParameterError,
    IuvsError,
    MissingExtensionError,
    ShapeMismatchError,
)
from iuvs.io import L1BReader

DATA = Path(__file__).parent / "data"
FUV = DATA / "mvn_iuv_l1b_apoapse-orbit18001-fuv_20230114T071804_v13_r01.fits.gz"
MUV = DATA / "mvn_iuv_l1b_apoapse-orbit18001-muv_20230114T071804_v13_r01.fits.gz"
SMALL = [FUV, MUV]
# the real files next to the repository (../shared/data/l1b), or where IUVS_L1B_DIR points
SHARED = Path(
    os.environ.get("IUVS_L1B_DIR", Path(__file__).resolve().parents[1].parent / "shared/data/l1b")
)


def _hdus(path):
    """The file's HDUs by upper-case name, read with astropy alone (the independent reference)."""
    with fits.open(path) as hdul:
        return {h.name.upper(): (h.data.copy() if h.data is not None else None) for h in hdul}


def _check_reproduction(path):
    ref = _hdus(path)
    got = darks.pipeline_dark(path).astype(np.float64)
    diff = np.abs(got - ref["BACKGROUND_DARK"].astype(np.float64))
    assert diff.max() <= 1.0
    assert (diff == 0).mean() >= 0.99
    corrected = darks.subtract(path, "pipeline").corrected.astype(np.float64)
    dds = ref["DETECTOR_DARK_SUBTRACTED"].astype(np.float64)
    assert np.abs(corrected - dds).max() <= 1.0
    return float(diff.max()), float((diff == 0).mean())


# ------------------------------------------------------------- the real files
@pytest.mark.parametrize("path", SMALL, ids=["fuv", "muv"])
def test_pipeline_dark_reproduces_background_dark(path):
    _check_reproduction(path)


@pytest.mark.parametrize("path", SMALL, ids=["fuv", "muv"])
def test_pipeline_dark_never_reads_background_dark(path, tmp_path):
    # the same file without the pipeline's products gives the same dark
    stripped = tmp_path / "stripped.fits"
    with fits.open(path) as hdul:
        keep = [
            h for h in hdul if h.name.upper() not in ("BACKGROUND_DARK", "DETECTOR_DARK_SUBTRACTED")
        ]
        fits.HDUList(keep).writeto(stripped, output_verify="silentfix+ignore")
    a = darks.pipeline_dark(stripped)
    b = darks.pipeline_dark(path)
    np.testing.assert_array_equal(a, b)


def test_pipeline_weights_follow_et_by_hand():
    ref = _hdus(FUV)
    dark_et = np.asarray(ref["DARK_INTEGRATION"]["ET"], dtype=np.float64)
    light_et = np.asarray(ref["INTEGRATION"]["ET"], dtype=np.float64)
    c = darks.subtract(FUV, "pipeline")
    # frame 0: first darks of the two sets (0 and 5); frame 1: the second ones (1 and 6)
    for k, (a, b) in enumerate([(0, 5), (1, 6)]):
        w = (light_et[k] - dark_et[a]) / (dark_et[b] - dark_et[a])
        expected = np.zeros(10)
        expected[a], expected[b] = 1.0 - w, w
        np.testing.assert_allclose(c.dark_weights[k], expected, rtol=0, atol=1e-15)
    assert "2 dark set(s) of 5+5" in c.method_detail


def test_nearest_uses_one_recorded_dark():
    ref = _hdus(FUV)
    c = darks.subtract(FUV, "nearest")
    # frame 0 nearest first-of-set dark is dark 0 (before); frame 1 the last dark of set 1
    np.testing.assert_array_equal(c.dark[0], ref["DETECTOR_DARK"][0].astype(np.float32))
    np.testing.assert_array_equal(c.dark[1], ref["DETECTOR_DARK"][4].astype(np.float32))
    raw = ref["DETECTOR_RAW"].astype(np.float64)
    np.testing.assert_array_equal(
        c.corrected[1], (raw[1] - ref["DETECTOR_DARK"][4]).astype(np.float32)
    )


def test_dn_s_from_the_binning_table():
    ref = _hdus(MUV)
    with fits.open(MUV) as hdul:
        int_time = float(hdul[0].header["INT_TIME"])
    b = ref["BINNING"]
    spa = b["SPABINWIDTH"][0][b["SPABINTRANSMIT"][0] == 1].astype(np.float64)
    spe = b["SPEBINWIDTH"][0][b["SPEBINTRANSMIT"][0] == 1].astype(np.float64)
    c = darks.subtract(MUV, "pipeline")
    expected = c.corrected.astype(np.float64) / (np.outer(spa, spe) * int_time) + 0.001
    np.testing.assert_allclose(c.dn_s, expected, rtol=1e-12)


def test_scaled_on_real_fuv_and_rank_too_high():
    c = darks.subtract(FUV, "scaled", rank=1)
    assert [f.rank for f in c.fits] == [1, 1]
    # the window box of a 10 x 51 frame is ceil(10/5) x ceil(51/10) = 2 x 6
    s0, s1, e0, e1 = c.window[0]
    assert (s1 - s0, e1 - e0) == (2, 6)
    with pytest.raises(InsufficientDataError, match=r"10 x 51.*12 pixels.*rank 2.*15"):
        darks.subtract(FUV, "scaled", rank=2)
    low = darks.subtract(FUV, "scaled", rank=2, allow_lower_rank=True)
    assert [f.rank for f in low.fits] == [1, 1]
    assert "rank(s) [1] fitted instead" in low.method_detail


def test_scaled_model_is_applied_to_the_whole_dark():
    r = L1BReader(MUV)
    c = darks.subtract(r, "scaled", rank=0)
    base = darks.pipeline_dark(r).astype(np.float64)
    sf = r.scaling_factor
    for k, f in enumerate(c.fits):
        a = float(f.coeffs[0])
        expected = (a * (base[k] / sf + 0.001) - 0.001) * sf
        np.testing.assert_allclose(c.dark[k], expected.astype(np.float32), rtol=2e-7, atol=1e-3)
        # the fit used the window's pixels only
        s0, s1, e0, e1 = c.window[k]
        assert f.stats.n_used + f.stats.n_excluded == base[k].size
        assert f.stats.n_used == (s1 - s0) * (e1 - e0)


def test_quality_by_hand():
    c = darks.subtract(MUV, "pipeline")
    raw = _hdus(MUV)["DETECTOR_RAW"].astype(np.float64)
    for k in range(2):
        s0, s1, e0, e1 = c.window[k]
        v = c.corrected[k, s0:s1, e0:e1].astype(np.float64)
        row = c.quality.data[k]
        assert row["n_window"] == v.size
        np.testing.assert_allclose(row["window_mean"], v.mean(), rtol=1e-6)
        mad = np.median(np.abs(v - np.median(v)))
        np.testing.assert_allclose(row["window_sigma"], 1.4826 * mad, rtol=1e-6)
        level = raw[k, s0:s1, e0:e1].mean() + c.dark[k, s0:s1, e0:e1].astype(np.float64).mean()
        np.testing.assert_allclose(row["expected_sigma"], math.sqrt(level), rtol=1e-6)
        np.testing.assert_allclose(row["sigma_ratio"], 1.4826 * mad / math.sqrt(level), rtol=1e-6)


def test_compare_and_to_pandas():
    t = darks.compare(MUV, methods=("pipeline", "nearest", "scaled"))
    assert t["method"].tolist() == ["pipeline"] * 2 + ["nearest"] * 2 + ["scaled"] * 2
    s = t.summary()
    assert s["method"].tolist() == ["pipeline", "nearest", "scaled"]
    pd = pytest.importorskip("pandas")
    df = t.to_pandas()
    assert isinstance(df, pd.DataFrame) and df.shape == (6, len(darks.QUALITY_COLUMNS))
    assert "window_sigma" in t.to_text()
    with pytest.raises(InvalidParameterError, match="no column 'nope'"):
        t["nope"]


# ------------------------------------------------------------- calm window
def _brute_window(a, box):
    hi, lo = a.max(), a.min()
    bright = hi + (hi - lo) + 1.0 + abs(hi)
    n0, n1 = a.shape
    h0, h1 = box
    pad = np.full((n0 + 2 * h0, n1 + 2 * h1), bright)
    pad[h0 : h0 + n0, h1 : h1 + n1] = a
    scores = []
    for i in range(n0):
        for j in range(n1):
            # scipy's box for size s at origin 0 spans [i - s // 2, i - s // 2 + s)
            r0, c0 = i - h0 // 2 + h0, j - h1 // 2 + h1
            values = pad[r0 : r0 + h0, c0 : c0 + h1]
            # scipy's median of an even count is the upper one: sorted[n // 2]
            med = np.sort(values, axis=None)[values.size // 2]
            # ties of the median broken by the box mean, then by C order
            scores.append((med, values.mean(), i, j))
    best = min(scores)
    _, _, i, j = best
    return (
        max(0, i - h0 // 2),
        min(n0, i - h0 // 2 + h0),
        max(0, j - h1 // 2),
        min(n1, j - h1 // 2 + h1),
    )


@pytest.mark.parametrize("shape", [(12, 30), (10, 51), (9, 21)])
def test_calm_window_against_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.normal(100.0, 10.0, shape)
    a += 40.0 * np.exp(-(((np.arange(shape[1]) - shape[1] / 2) / 3.0) ** 2))[None, :]
    box = (math.ceil(shape[0] / 5), math.ceil(shape[1] / 10))
    assert darks.calm_window(a) == _brute_window(a, box)


def test_calm_window_avoids_edges_and_nan():
    r, c = np.mgrid[0:20, 0:40]
    a = 1.0 + ((r - 13.5) ** 2 + (c - 31.5) ** 2) / 50.0  # a bowl, lowest at (13.5, 31.5)
    a[0, :] = -100.0  # a dark edge row: thinner than half the box, so never chosen
    a[3, 3] = np.nan
    s0, s1, e0, e1 = darks.calm_window(a)
    assert (s1 - s0, e1 - e0) == (4, 4)  # ceil(20 / 5) x ceil(40 / 10), inside the frame
    assert s0 <= 13 < 14 < s1 and e0 <= 31 < 32 < e1  # on the bowl's bottom, not the edge row
    # a flat calm patch exactly the box's size: every tied minimum but the centred one
    # takes in brighter pixels (box spans rows r-2..r+1, so centred at (14, 32))
    flat = np.full((20, 40), 10.0)
    flat[12:16, 30:34] = 1.0
    assert darks.calm_window(flat) == (12, 16, 30, 34)
    with pytest.raises(InsufficientDataError, match="no finite pixel"):
        darks.calm_window(np.full((4, 5), np.nan))


# ---------------------------------------------------- synthetic known truth
@pytest.fixture(scope="module")
def smooth(tmp_path_factory):
    d = tmp_path_factory.mktemp("smooth")
    path = iuvs.synthetic.write_l1b(
        d, n_int=4, n_darks=2, seed=11, light="smooth", n_spa=40, n_spe=200
    )
    with fits.open(path) as hdul:
        truth = hdul["TRUE_DARK"].data.astype(np.float64)
        emission = hdul["TRUE_EMISSION"].data.astype(np.float64)
    return path, truth, emission


def test_smooth_light_is_dark_plus_emission(smooth):
    path, truth, emission = smooth
    raw = _hdus(path)["DETECTOR_RAW"].astype(np.float64)
    resid = raw - truth - emission
    # Poisson-like noise around the truth: mean near 0, sigma near sqrt(level)
    assert abs(resid.mean()) < 0.5
    np.testing.assert_allclose(resid.std(), np.sqrt(truth + emission).mean(), rtol=0.05)
    temps = L1BReader(path)._table("Integration")["DET_TEMP_C"]
    assert np.all(np.diff(temps) > 0)  # the detector warms with time


def test_each_method_against_the_true_dark(smooth):
    path, truth, _ = smooth
    bias = {}
    for method, rank in (
        ("pipeline", 1),
        ("nearest", 1),
        ("scaled", -1),
        ("scaled", 0),
        ("scaled", 1),
    ):
        c = darks.subtract(path, method, rank=rank)
        bias[(method, rank)] = float((c.dark.astype(np.float64) - truth).mean())
    # the darks interpolated in time miss the warmer lights (truth about 3 % above them)
    level = truth.mean()
    assert bias[("pipeline", 1)] < -0.015 * level
    assert bias[("nearest", 1)] < -0.015 * level
    for rank in (-1, 0, 1):
        assert abs(bias[("scaled", rank)]) < 0.005 * level


def test_superdark_scaled_onto_frames(smooth):
    path, truth, _ = smooth
    template = truth[0] / truth[0].mean()  # the shape of the dark, wrong level
    c = darks.subtract(path, "superdark", rank=0, superdark=template)
    err = c.dark.astype(np.float64) - truth
    assert abs(err.mean()) < 0.01 * truth.mean()
    assert np.all(c.dark_weights == 0) and "superdark" in c.method_detail
    with pytest.raises(ShapeMismatchError, match=r"superdark is \(40, 199\).*40 x 200"):
        darks.subtract(path, "superdark", superdark=template[:, 1:])


def test_window_override(smooth):
    path, truth, _ = smooth
    c = darks.subtract(path, "scaled", rank=-1, window=(0, 10, 0, 20))
    assert c.window.tolist() == [[0, 10, 0, 20]] * 4
    assert "given window" in c.method_detail


# ------------------------------------------------------------- fallbacks
def test_single_dark_fallback(tmp_path):
    path = iuvs.synthetic.write_l1b(tmp_path, n_int=2, n_darks=1, seed=3, n_spa=12, n_spe=50)
    c = darks.subtract(path, "pipeline")
    assert "one dark" in c.method_detail
    np.testing.assert_array_equal(c.dark[1], _hdus(path)["DETECTOR_DARK"].astype(np.float32))


def _rewrite(src, dst, edit):
    with fits.open(src) as hdul:
        hdus = [h.copy() for h in hdul]
    hdus = edit(hdus)
    fits.HDUList(hdus).writeto(dst, output_verify="silentfix+ignore")
    return dst


def test_no_et_fallback_mean(tmp_path):
    src = iuvs.synthetic.write_l1b(tmp_path, n_int=2, n_darks=3, seed=4, n_spa=12, n_spe=50)
    path = _rewrite(
        src, tmp_path / "no_et.fits", lambda hs: [h for h in hs if h.name.upper() != "INTEGRATION"]
    )
    c = darks.subtract(path, "pipeline")
    assert "no Integration.ET" in c.method_detail and "mean" in c.method_detail
    d = _hdus(src)["DETECTOR_DARK"].astype(np.float64)
    np.testing.assert_array_equal(c.dark[0], np.floor(d.mean(axis=0)).astype(np.float32))


def test_lights_after_every_dark_hold_the_nearest_set(tmp_path):
    src = iuvs.synthetic.write_l1b(tmp_path, n_int=3, n_darks=2, seed=5, n_spa=12, n_spe=50)

    def earlier(hs):
        for h in hs:
            if h.name.upper() == "DARK_INTEGRATION":
                h.data["ET"] = h.data["ET"][0] - 7200.0 + np.arange(len(h.data))
        return hs

    path = _rewrite(src, tmp_path / "held.fits", earlier)
    c = darks.subtract(path, "pipeline")
    assert "1 dark set(s) of 2" in c.method_detail and "unchanged" in c.method_detail
    d = _hdus(src)["DETECTOR_DARK"]
    np.testing.assert_array_equal(c.dark[0], d[0].astype(np.float32))
    np.testing.assert_array_equal(c.dark[2], d[1].astype(np.float32))


# ------------------------------------------------------------- bad inputs
@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    d = tmp_path_factory.mktemp("plain")
    return iuvs.synthetic.write_l1b(d, n_int=2, n_darks=2, seed=6, gzip=False, n_spa=12, n_spe=50)


def test_dark_only_file(plain, tmp_path):
    path = _rewrite(
        plain, tmp_path / "d.fits", lambda hs: [h for h in hs if h.name.upper() != "DETECTOR_RAW"]
    )
    with pytest.raises(MissingExtensionError, match="no detector_raw.*dark-only"):
        darks.subtract(path)
    with pytest.raises(MissingExtensionError):
        darks.pipeline_dark(path)


def test_darks_and_lights_of_different_binning(plain, tmp_path):
    def rebin(hs):
        for i, h in enumerate(hs):
            if h.name.upper() == "DETECTOR_DARK":
                hs[i] = fits.ImageHDU(h.data[:, :, :49], name="detector_dark")
        return hs

    path = _rewrite(plain, tmp_path / "b.fits", rebin)
    with pytest.raises(ShapeMismatchError, match="12 x 49.*12 x 50"):
        darks.subtract(path)


@pytest.mark.parametrize("value", [0.0, None])
def test_zero_or_missing_integration_time(plain, tmp_path, value):
    def edit(hs):
        if value is None:
            del hs[0].header["INT_TIME"]
        else:
            hs[0].header["INT_TIME"] = value
        return hs

    path = _rewrite(plain, tmp_path / "t.fits", edit)
    with pytest.raises(FileFormatError, match="INT_TIME"):
        darks.subtract(path)


def test_all_nan_frame(plain, tmp_path):
    def edit(hs):
        for i, h in enumerate(hs):
            if h.name.upper() == "DETECTOR_RAW":
                data = h.data.astype(np.float32)
                data[1] = np.nan
                hs[i] = fits.ImageHDU(data, name="detector_raw")
        return hs

    path = _rewrite(plain, tmp_path / "n.fits", edit)
    with pytest.raises(InsufficientDataError, match="light frame 1 .12 x 50. has no finite"):
        darks.subtract(path, "scaled")


def test_bad_parameters(plain):
    with pytest.raises(InvalidParameterError, match="does not fit in a 12 x 50 frame"):
        darks.subtract(plain, "scaled", window=(0, 13, 0, 10))
    with pytest.raises(InvalidParameterError, match="4 numbers"):
        darks.subtract(plain, "scaled", window=(0, 10))
    with pytest.raises(InvalidParameterError, match="method must be one of"):
        darks.subtract(plain, "median")
    with pytest.raises(InvalidParameterError, match="needs superdark="):
        darks.subtract(plain, "superdark")
    with pytest.raises(InvalidParameterError, match="only with method='superdark'"):
        darks.subtract(plain, "scaled", superdark=np.zeros((12, 50)))
    with pytest.raises(InvalidParameterError, match="rank must be an integer"):
        darks.subtract(plain, "scaled", rank=1.5)
    with pytest.raises(iuvs.exceptions.RankError, match="rank 13 is outside -1..12"):
        darks.subtract(plain, "scaled", rank=13)
    with pytest.raises(InvalidParameterError, match="window must be"):
        darks.subtract(plain, "scaled", window=(0, 10.5, 0, 20))
    with pytest.raises(iuvs.exceptions.UnsupportedDtypeError, match="complex128"):
        darks.subtract(plain, "superdark", superdark=np.zeros((12, 50), dtype=complex))
    assert issubclass(iuvs.exceptions.RankError, IuvsError)


# ------------------------------------------------- opt-in: every real file
@pytest.mark.realdata
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data/l1b is not present")
def test_every_real_file():
    files = sorted(SHARED.glob("*.fits.gz"))
    assert files
    for path in files:
        worst, exact = _check_reproduction(path)
        assert worst <= 1.0 and exact >= 0.99


# ------------------------------------------------------ product and command line
def test_product_round_trip(smooth, tmp_path):
    path, _, _ = smooth
    c = darks.subtract(path, "scaled", rank=1)
    out = iuvs.io.write_correction(c, tmp_path / "c.fits.gz")
    # read with astropy alone: layout, units, checksums
    with fits.open(out, checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DARK", "DN_S", "WINDOW", "QUALITY", "WEIGHTS"]
        assert hdul[0].data.dtype == np.dtype(">f4") and hdul[0].header["BUNIT"] == "DN"
        assert hdul[0].header["METHOD"] == "scaled" and hdul[0].header["RANK"] == 1
        assert hdul[0].header["INPUT"] == Path(path).name
        assert all("CHECKSUM" in h.header and "DATASUM" in h.header for h in hdul)
        np.testing.assert_array_equal(hdul[0].data, c.corrected)
        np.testing.assert_array_equal(hdul["WINDOW"].data["SPE_STOP"], c.window[:, 3])
    p = iuvs.io.read_product(out)
    assert isinstance(p, iuvs.io.CorrectionProduct)
    np.testing.assert_array_equal(p.dark, c.dark)
    np.testing.assert_array_equal(p.dn_s, c.dn_s)
    np.testing.assert_array_equal(p.window, c.window)
    np.testing.assert_array_equal(p.dark_weights, c.dark_weights)
    for k, f in enumerate(c.fits):
        np.testing.assert_array_equal(p.coeffs[k], f.coeffs)
    np.testing.assert_array_equal(p.quality.data, c.quality.data)
    assert p.method_detail == c.method_detail
    with pytest.raises(iuvs.exceptions.OutputExistsError):
        iuvs.io.write_correction(c, out)


def test_cli_subtract(smooth, tmp_path, capsys):
    from iuvs.cli import main

    path, _, _ = smooth
    out = tmp_path / "sub.fits"
    argv = ["subtract", str(path), "-o", str(out), "--method", "scaled", "--rank", "-1"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "window_sigma" in text and f"wrote {out}" in text
    expected = darks.subtract(path, "scaled", rank=-1)
    np.testing.assert_array_equal(fits.getdata(out), expected.corrected)
    # an existing output is kept without --overwrite
    before = out.stat().st_mtime_ns
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    assert main([*argv, "--overwrite", "--method", "nearest"]) == 0
    assert fits.getheader(out)["METHOD"] == "nearest"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "scaled", "--rank", "2"], "10 x 51"),
        (["--method", "scaled", "--window", "0", "11", "0", "5"], "does not fit"),
        (["--method", "superdark"], "needs superdark"),
    ],
)
def test_cli_subtract_failures_write_nothing(tmp_path, capsys, extra, message):
    from iuvs.cli import main

    out = tmp_path / "never.fits"
    assert main(["subtract", str(FUV), "-o", str(out), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_subtract_dark_only_file_writes_nothing(plain, tmp_path, capsys):
    from iuvs.cli import main

    path = _rewrite(
        plain, tmp_path / "d.fits", lambda hs: [h for h in hs if h.name.upper() != "DETECTOR_RAW"]
    )
    out = tmp_path / "never.fits"
    assert main(["subtract", str(path), "-o", str(out)]) == 1
    assert "no detector_raw" in capsys.readouterr().err
    assert not out.exists()


def test_cli_superdark(smooth, tmp_path):
    from iuvs.cli import main

    path, truth, _ = smooth
    sd = tmp_path / "superdark.fits"
    fits.PrimaryHDU(truth[0]).writeto(sd)
    out = tmp_path / "s.fits"
    assert (
        main(
            [
                "-q",
                "subtract",
                str(path),
                "-o",
                str(out),
                "--method",
                "superdark",
                "--superdark",
                str(sd),
                "--rank",
                "0",
            ]
        )
        == 0
    )
    p = iuvs.io.read_product(out)
    assert p.method == "superdark" and p.fit_ranks.tolist() == [0] * 4


def test_hot_sigma_leaves_hot_dark_pixels_out(smooth):
    path, _, _ = smooth
    window = (0, 40, 0, 60)
    base = darks.pipeline_dark(path)
    n_hot = int((base[:, 0:40, 0:60] > 2500).sum(axis=(1, 2)).min())  # planted at 2500-5000 DN
    assert n_hot > 0
    plain = darks.subtract(path, "scaled", rank=1, window=window)
    hot = darks.subtract(path, "scaled", rank=1, window=window, hot_sigma=5.0)
    for f_plain, f_hot in zip(plain.fits, hot.fits, strict=True):
        assert f_plain.stats.n_used == 40 * 60
        assert f_hot.stats.n_used <= 40 * 60 - n_hot


def test_report_page(smooth, tmp_path):
    from iuvs.cli import main

    path, _, _ = smooth
    out, folder = tmp_path / "c.fits", tmp_path / "rep"
    assert (
        main(
            [
                "-q",
                "subtract",
                str(path),
                "-o",
                str(out),
                "--method",
                "scaled",
                "--report",
                str(folder),
            ]
        )
        == 0
    )
    page = (folder / "dark_correction.html").read_text()
    assert page.count("<img") == 1 and "Quality per frame" in page
    c = darks.subtract(path, "scaled")
    # every frame's window sigma is on the page, as the quality table gives it
    for v in c.quality["window_sigma"]:
        assert f"{v:.4g}" in page
    # a second run refuses to replace the page and writes nothing
    assert (
        main(["-q", "subtract", str(path), "-o", str(tmp_path / "d.fits"), "--report", str(folder)])
        == 1
    )
    assert not (tmp_path / "d.fits").exists()
