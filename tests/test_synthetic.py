"""The synthetic L1B generator against the format notes (l1b_format.md), checked with astropy
and on the raw bytes."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs import exceptions as ex
from iuvs.io import parse_l1b_filename

V13 = [
    "Random_dn_unc", "Random_phy_unc", "Systematic_phy_unc", "detector_raw",
    "detector_dark_subtracted", "quality_flag", "background_dark", "Dark_Integration",
    "Dark_Engineering", "Dark_Observation", "detector_dark", "Integration", "Engineering",
    "Binning", "SpacecraftGeometry", "PixelGeometry", "Observation",
]  # fmt: skip
V00 = [
    "detector_raw", "detector_background_subtracted", "background_dark", "DarkIntegration",
    "DarkEngineering", "detector_dark", "Integration", "Engineering", "Binning", "Observation",
]  # fmt: skip


def raw_bytes(path):
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


@pytest.mark.parametrize(("layout", "names"), [("v13", V13), ("v00", V00)])
@pytest.mark.parametrize("gz", [True, False])
def test_layouts_big_endian_and_exact_names(tmp_path, layout, names, gz):
    path = iuvs.synthetic.write_l1b(tmp_path, layout=layout, gzip=gz, n_darks=3, seed=1)
    data = raw_bytes(path)
    if gz:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert data[:9] == b"SIMPLE  ="
    assert re.findall(rb"EXTNAME = '([^']*?) *'", data) == [n.encode() for n in names]
    with fits.open(path) as hdul:
        dark = hdul["DETECTOR_DARK"]
        assert dark.header["BITPIX"] == 32
        assert dark.data.dtype == np.dtype(">i4")
        assert dark.data.shape == (3, 62, 341)
        assert hdul[0].data.dtype == np.dtype(">f4")
        assert hdul[0].header["BUNIT"] == "kR/nm"
        assert hdul[0].header["FILENAME"] == path.name.removesuffix(".gz")
    fn = parse_l1b_filename(path.name)
    assert fn.version == (0 if layout == "v00" else 13) and fn.level == "l1b"


def test_header_quirks_are_really_in_the_file(tmp_path):
    data = raw_bytes(iuvs.synthetic.write_l1b(tmp_path, seed=2))
    primary = data[: data.index(b"END" + b" " * 77) + 80]
    cards = [primary[i : i + 80] for i in range(0, len(primary), 80)]
    keys = [c[:8].strip() for c in cards]
    assert keys.count(b"MIR_DEG") == 2
    assert keys.count(b"KERNEL") >= 2
    assert any(b"//" in c[10:] for c in cards)
    assert any(c.startswith(b"INT_TIME=  60.000") for c in cards)  # free-format value
    assert sum(k == b"COMMENT" for k in keys) >= 3


@pytest.mark.parametrize("nonlinear", [False, True])
@pytest.mark.parametrize(("n_spa", "n_spe"), [(62, 341), (7, 256), (133, 19), (1024, 8), (8, 1024)])
def test_binning_invariants(tmp_path, nonlinear, n_spa, n_spe):
    path = iuvs.synthetic.write_l1b(
        tmp_path,
        n_spa=n_spa,
        n_spe=n_spe,
        n_int=1,
        n_darks=1,
        nonlinear_binning=nonlinear,
        gzip=False,
    )
    with fits.open(path) as hdul:
        row = hdul["Binning"].data[0]
        head = hdul[0].header
        for axis, n, ofs in (("SPA", n_spa, head["SPA_OFS"]), ("SPE", n_spe, head["SPE_OFS"])):
            width = np.asarray(row[f"{axis}BINWIDTH"])
            transmit = np.asarray(row[f"{axis}BINTRANSMIT"])
            lo, hi = np.asarray(row[f"{axis}PIXLO"]), np.asarray(row[f"{axis}PIXHI"])
            assert width.dtype.kind == "i" and width.itemsize == 2
            assert width.sum() == 1024
            assert transmit.sum() == n
            np.testing.assert_array_equal(hi - lo + 1, width[transmit == 1])
            assert lo[0] == ofs
        if nonlinear and n_spe < 512:
            assert (
                len(set(np.asarray(row["SPEBINWIDTH"])[np.asarray(row["SPEBINTRANSMIT"]) == 1])) > 1
            )
            assert head["BIN_TBL"].startswith("NON LINEAR")


def test_single_integration_and_single_dark_are_2d(tmp_path):
    path = iuvs.synthetic.write_l1b(tmp_path, n_int=1, n_darks=1, gzip=False)
    with fits.open(path) as hdul:
        assert hdul[0].header["NAXIS"] == 2
        assert hdul["detector_dark"].data.ndim == 2
        assert hdul["detector_raw"].data.ndim == 2


def test_without_darks_and_wavelength_table(tmp_path):
    path = iuvs.synthetic.write_l1b(tmp_path, with_darks=False, n_spa=7, n_spe=256)
    with fits.open(path) as hdul:
        assert "detector_dark" not in [h.name.lower() for h in hdul]
        wl = hdul["Observation"].data["WAVELENGTH"][0]
        assert wl.shape == (7, 256)
        assert hdul["Observation"].columns["WAVELENGTH"].dim == "(256,7)"


def test_deterministic_by_seed_and_refuses_to_overwrite(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = iuvs.synthetic.write_l1b(tmp_path / "a", seed=5)
    b = iuvs.synthetic.write_l1b(tmp_path / "b", seed=5)
    with fits.open(a) as ha, fits.open(b) as hb:
        np.testing.assert_array_equal(ha["detector_dark"].data, hb["detector_dark"].data)
    before = a.read_bytes()
    with pytest.raises(ex.OutputExistsError):
        iuvs.synthetic.write_l1b(tmp_path / "a", seed=6)
    assert a.read_bytes() == before
    iuvs.synthetic.write_l1b(tmp_path / "a", seed=6, overwrite=True)
    assert a.read_bytes() != before
    assert not list((tmp_path / "a").glob(".*tmp"))


def test_dark_pair_truth():
    pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.3, offset=5.0, noise=False, seed=1)
    x = pair.dark_in.astype(float)
    np.testing.assert_allclose(pair.dark_out, np.round(1.3 * x + 5.0), atol=1.0)
    assert pair.hot_mask.sum() > 0
    assert (pair.dark_in[pair.hot_mask] >= 2500).all()


def test_bad_generator_arguments(tmp_path):
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_l1b(tmp_path, layout="v99")  # type: ignore[arg-type]
    with pytest.raises(ex.InvalidParameterError):
        iuvs.synthetic.write_l1b(tmp_path, n_darks=0)


# ---------------------------------------------------------------------------- more detail

FILENAME = re.compile(r"^mvn_iuv_l1b_[^_]+_\d{8}T\d{6}_v\d{2}_[rs]\d{2}\.fits(\.gz)?$")
A_UTC = "%Y/%j %b %d %H:%M:%S.%f"  # the 2015 reader's format, after dropping 'UTC' and adding '0'


def parse_iuvs_utc(s):
    from datetime import datetime

    return datetime.strptime(s.strip().removesuffix("UTC") + "0", A_UTC)


def header_blocks(data):
    """(header bytes, data offset) of every HDU, parsed from the raw bytes by hand."""
    out, pos = [], 0
    while pos < len(data):
        end = pos
        while data[end : end + 8] != b"END     ":
            end += 80
        header = data[pos : end + 80]
        start = -(-(end + 80) // 2880) * 2880
        cards = {c[:8].strip(): c[10:].split(b"/")[0].strip() for c in chunks(header)}
        naxes = [int(cards[b"NAXIS%d" % i]) for i in range(1, int(cards[b"NAXIS"]) + 1)]
        size = abs(int(cards[b"BITPIX"])) // 8 * int(np.prod(naxes)) if naxes else 0
        size += int(cards.get(b"PCOUNT", b"0"))
        out.append((header, start))
        pos = start + -(-size // 2880) * 2880
    return out


def chunks(header):
    return [header[i : i + 80] for i in range(0, len(header), 80)]


@pytest.mark.parametrize("layout", ["v00", "v13"])
@pytest.mark.parametrize("n_darks", [1, 2, 3])
def test_dark_count_shapes_and_big_endian_bytes_on_disk(tmp_path, layout, n_darks):
    path = iuvs.synthetic.write_l1b(
        tmp_path, layout=layout, n_darks=n_darks, n_spa=7, n_spe=256, gzip=False, seed=n_darks
    )
    data = path.read_bytes()
    assert len(data) % 2880 == 0
    blocks = header_blocks(data)
    assert len(blocks) == (11 if layout == "v00" else 18)
    (header, start) = next(b for b in blocks if b"EXTNAME = 'detector_dark'" in b[0])
    cards = {c[:8].strip(): c[10:30].strip() for c in chunks(header)}
    assert cards[b"BITPIX"] == b"32"
    want_naxis = [b"256", b"7"] + ([str(n_darks).encode()] if n_darks > 1 else [])
    assert [cards.get(b"NAXIS%d" % i) for i in range(1, len(want_naxis) + 1)] == want_naxis
    assert cards[b"NAXIS"] == str(len(want_naxis)).encode()
    count = 7 * 256 * n_darks
    on_disk = np.frombuffer(data, dtype=">i4", count=count, offset=start)
    with fits.open(path) as hdul:
        dark = hdul["detector_dark"].data
        assert dark.dtype == np.dtype(">i4")
        assert dark.shape == ((n_darks, 7, 256) if n_darks > 1 else (7, 256))
        np.testing.assert_array_equal(on_disk, dark.ravel())
        assert (
            len(hdul["DarkIntegration" if layout == "v00" else "Dark_Integration"].data) == n_darks
        )


@pytest.mark.parametrize(
    ("kwargs", "want"),
    [
        ({}, "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v13_r00.fits.gz"),
        ({"layout": "v00"}, "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"),
        (
            {"description": "apoapse-orbit07287-muv", "timestamp": "20180611T010203", "version": 2,
             "revision": "s10", "gzip": False},
            "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v02_s10.fits",
        ),
    ],
)  # fmt: skip
def test_filename_grammar(tmp_path, kwargs, want):
    path = iuvs.synthetic.write_l1b(tmp_path, n_spa=4, n_spe=8, **kwargs)
    assert path.name == want
    assert FILENAME.match(path.name)
    assert path.parent == tmp_path
    with fits.open(path) as hdul:
        assert hdul[0].header["FILENAME"] == want.removesuffix(".gz")


def test_explicit_file_path_and_byte_identical_by_seed(tmp_path):
    a = iuvs.synthetic.write_l1b(tmp_path / "one.fits.gz", seed=9, n_spa=7, n_spe=64)
    b = iuvs.synthetic.write_l1b(tmp_path / "two.fits.gz", seed=9, n_spa=7, n_spe=64)
    c = iuvs.synthetic.write_l1b(tmp_path / "three.fits.gz", seed=10, n_spa=7, n_spe=64)
    assert a.name == "one.fits.gz"
    assert a.read_bytes() == b.read_bytes()
    assert gzip.decompress(a.read_bytes()) != gzip.decompress(c.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "one.fits.gz",
        "three.fits.gz",
        "two.fits.gz",
    ]


def test_dark_values_are_realistic(tmp_path):
    path = iuvs.synthetic.write_l1b(tmp_path, layout="v00", n_darks=3, gzip=False, seed=2014)
    with fits.open(path) as hdul:
        darks = hdul["detector_dark"].data.astype(float)
    hot = darks[0] > 2500
    assert 0 < hot.mean() < 0.01  # sparse
    for d in darks:
        assert 200 < d[~hot].mean() < 800  # a few hundred DN for 60 s
        # planted at 2500-5000 DN before noise, in the same pixels in every dark
        assert 2300 < d[hot].min() and d.max() <= 6000
    # dark1 (same gain) has about the same hot set as dark0
    assert np.sum((darks[1] > 2500) != hot) <= 0.1 * hot.sum()
    # later darks are a gain (1.0-1.6) times earlier ones plus a small offset
    gain, offset = np.polyfit(darks[0][~hot], darks[2][~hot], 1)
    assert 1.3 < gain < 1.6 and abs(offset) < 50
    assert np.corrcoef(darks[0][~hot], darks[1][~hot])[0, 1] > 0.95
    # lognormal-like: skewed to the right
    cool = darks[0][~hot]
    assert np.median(cool) < cool.mean()


def test_dark_curvature_option():
    darks = iuvs.synthetic.make_darks(2, (62, 341), scales=(1.0, 1.2), curvature=2e-4, seed=4)
    x, y = darks.astype(float)
    cool = x < 2500
    c2, c1, _ = np.polyfit(x[cool], y[cool], 2)
    assert c2 == pytest.approx(2e-4, rel=0.1)
    assert c1 == pytest.approx(1.2, rel=0.1)


def test_cubes_are_consistent(tmp_path):
    path = iuvs.synthetic.write_l1b(
        tmp_path, layout="v13", n_darks=3, n_int=5, n_spa=7, n_spe=40, gzip=False, seed=3
    )
    with fits.open(path) as hdul:
        darks = hdul["detector_dark"].data.astype(float)
        dark_et = hdul["Dark_Integration"].data["ET"]
        light_et = hdul["Integration"].data["ET"]
        raw = hdul["detector_raw"].data.astype(float)
        background = hdul["background_dark"].data.astype(float)
        dds = hdul["detector_dark_subtracted"].data.astype(float)
        primary = hdul[0].data.astype(float)
    assert np.all(np.diff(dark_et) > 0) and np.all(np.diff(light_et) > 0)
    assert dark_et[0] < light_et[0] and light_et[-1] < dark_et[-1]  # darks before and after
    for i, j in [(0, 0), (3, 17), (6, 39)]:
        want = np.interp(light_et, dark_et, darks[:, i, j])
        np.testing.assert_allclose(background[:, i, j], want, rtol=1e-5)
    np.testing.assert_allclose(dds, raw - background, atol=1e-3)
    ok = np.isfinite(primary) & (np.abs(dds) > 1)
    assert np.isnan(primary).any()  # NaN fill
    ratio = dds[ok] / primary[ok]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)  # one calibration factor


def test_tables_follow_the_notes(tmp_path):
    v00 = iuvs.synthetic.write_l1b(tmp_path, layout="v00", n_darks=3, n_spa=7, n_spe=40, seed=1)
    v13 = iuvs.synthetic.write_l1b(tmp_path, layout="v13", n_darks=2, n_spa=7, n_spe=40, seed=1)
    with fits.open(v00) as hdul:
        table = hdul["DarkIntegration"].data
        assert table.columns.names == [
            "TIMESTAMP", "ET", "UTC", "MIRROR_DN", "MIRROR_DEG", "FOV_DEG", "LYA_CENTROID"
        ]  # fmt: skip
        eng = hdul["DarkEngineering"].data
        assert np.all((eng["DET_TEMP"] >= 2560) & (eng["DET_TEMP"] <= 2590))
        assert np.all((eng["CASE_TEMP"] >= 15900) & (eng["CASE_TEMP"] <= 15990))
        assert "DET_TEMP_C" not in hdul["Integration"].data.columns.names
        head = hdul[0].header
        assert head["INT_TIME"] == 60.0
        assert head["XUV"] == "MUV"
    with fits.open(v13) as hdul:
        for name in ("Dark_Integration", "Integration"):
            temps = hdul[name].data["DET_TEMP_C"]
            assert np.all((temps > -19) & (temps < -15))
        table = hdul["Integration"].data
        dn, deg = table["MIRROR_DN"].astype(float), table["MIRROR_DEG"]
        np.testing.assert_allclose(deg, (dn - 12939) / 364.0889, rtol=1e-6)
        np.testing.assert_allclose(table["FOV_DEG"], 2 * deg, rtol=1e-6)
        utc = [parse_iuvs_utc(s) for s in table["UTC"]]
        assert all(re.fullmatch(r"\d{4}/\d{3} [A-Z][a-z]{2} \d{2} [\d:]{8}\.\d{5}UTC", s)
                   for s in table["UTC"])  # fmt: skip
        # ET and UTC advance together (no leap second inside the file)
        d_utc = [(b - a).total_seconds() for a, b in zip(utc, utc[1:], strict=False)]
        np.testing.assert_allclose(np.diff(table["ET"]), d_utc, atol=1e-4)
        assert utc[0].strftime("%Y%m%dT%H%M%S") == "20140521T120029"
        assert hdul["Engineering"].data["INT_TIME"][0] == 60000  # ms
        assert hdul["Observation"].data["INT_TIME"][0] == 60.0  # s


def test_et_against_astropy_time(tmp_path):
    from astropy.time import Time
    from astropy.utils import iers

    path = iuvs.synthetic.write_l1b(tmp_path, n_spa=4, n_spe=8, gzip=False, seed=1)
    with fits.open(path) as hdul:
        table = hdul["Integration"].data
        et, utc = table["ET"], [parse_iuvs_utc(s) for s in table["UTC"]]
    with iers.conf.set_temp("auto_max_age", None), iers.conf.set_temp("auto_download", False):
        t = Time(utc, scale="utc")
        want = (t.tdb - Time("J2000", scale="tdb")).sec
    np.testing.assert_allclose(et, want, atol=5e-3)  # TDB - TT is below 2 ms


@pytest.mark.parametrize("dtype", ["int32", "uint16", "float32", "float64"])
def test_dark_pair_dtypes_and_curvature(dtype):
    pair = iuvs.synthetic.make_dark_pair(
        (40, 50), gain=1.1, offset=20.0, curvature=1e-4, noise=False, dtype=dtype, seed=2
    )
    assert pair.dark_in.dtype == np.dtype(dtype) and pair.dark_out.dtype == np.dtype(dtype)
    x = pair.dark_in.astype(float)
    want = 1e-4 * x**2 + 1.1 * x + 20.0
    tol = 1.0 + 1e-4 * 2 * x + 1.1 if np.dtype(dtype).kind in "iu" else 1e-3 * want
    assert np.all(np.abs(pair.dark_out - want) <= tol)
    assert (pair.gain, pair.offset, pair.curvature) == (1.1, 20.0, 1e-4)
    with pytest.raises(AttributeError):
        pair.gain = 2.0  # type: ignore[misc]


def test_dark_pair_noise_is_poisson_like():
    pair = iuvs.synthetic.make_dark_pair((200, 300), gain=1.0, seed=7)
    clean = iuvs.synthetic.make_dark_pair((200, 300), gain=1.0, noise=False, seed=7)
    cool = ~pair.hot_mask
    diff = pair.dark_out.astype(float) - pair.dark_in.astype(float)
    # difference of two noisy copies of x: variance about 2 x
    ratio = diff[cool].var() / (2 * clean.dark_in[cool].astype(float).mean())
    assert 0.8 < ratio < 1.2
    np.testing.assert_array_equal(pair.hot_mask, clean.hot_mask)
    assert 0.001 < pair.hot_mask.mean() < 0.004


@pytest.mark.parametrize(
    ("description", "lo", "hi"), [("cruisecal2-mode080-muv", 175, 350), ("IPH2-fuv", 105, 195)]
)
def test_wavelengths_follow_the_bins(tmp_path, description, lo, hi):
    path = iuvs.synthetic.write_l1b(
        tmp_path, description=description, nonlinear_binning=True, n_spa=5, n_spe=100, gzip=False
    )
    with fits.open(path) as hdul:
        wl = hdul["Observation"].data["WAVELENGTH"][0]
        width = hdul["Observation"].data["WAVELENGTH_WIDTH"][0]
        row = hdul["Binning"].data[0]
        assert hdul["Observation"].data["CHANNEL"][0] == description[-3:].upper()
    pix = np.asarray(row["SPEPIXHI"]) - np.asarray(row["SPEPIXLO"]) + 1
    assert wl.shape == width.shape == (5, 100)
    assert np.all(np.diff(wl, axis=1) > 0)
    assert lo < wl.min() and wl.max() < hi
    # widths proportional to the pixels per bin; rows nearly identical
    np.testing.assert_allclose(width[0] / pix, width[0, 0] / pix[0])
    assert np.ptp(wl, axis=0).max() < 0.1
