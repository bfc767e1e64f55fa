"""L1BReader on both layouts, odd names and shapes, and every kind of bad file."""

from __future__ import annotations

import gzip
import os
from datetime import datetime

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs import exceptions as ex
from iuvs.io import L1BReader

A_UTC = "%Y/%j %b %d %H:%M:%S.%f"  # the 2015 reader's format, after dropping 'UTC' and adding '0'


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("l1b")
    return {
        "v00": iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1),
        "v13": iuvs.synthetic.write_l1b(d, layout="v13", n_darks=2, n_int=4, seed=2),
        "single": iuvs.synthetic.write_l1b(
            d, layout="v13", n_darks=1, n_int=1, gzip=False,
            description="APP1-orbit00087-mode1231-fuv", n_spa=128, n_spe=128, seed=3,
        ),
        "nodark": iuvs.synthetic.write_l1b(
            d, with_darks=False, description="inbound-orbit00899-muvdark", revision="s01", seed=4
        ),
        "plain": iuvs.synthetic.write_l1b(
            d, layout="v13", gzip=False, description="apoapse-orbit07287-muv", seed=5
        ),
    }  # fmt: skip


@pytest.mark.parametrize("layout", ["v00", "v13"])
def test_both_layouts_against_astropy(files, layout):
    path = files[layout]
    with fits.open(path) as hdul, L1BReader(path) as l1b:
        dark = hdul["detector_dark"].data
        np.testing.assert_array_equal(l1b.detector_dark, dark)
        assert l1b.detector_dark.dtype == np.dtype(">i4")  # FITS byte order kept
        np.testing.assert_array_equal(l1b.detector_raw, hdul["detector_raw"].data)
        sub = "detector_background_subtracted" if layout == "v00" else "detector_dark_subtracted"
        np.testing.assert_array_equal(l1b.detector_dark_subtracted, hdul[sub].data)
        np.testing.assert_array_equal(l1b.background_dark, hdul["background_dark"].data)
        assert l1b.n_darks == dark.shape[0]
        assert l1b.n_integrations == hdul[0].header["NAXIS3"]
        assert (l1b.spatial_size, l1b.spectral_size) == (
            hdul[0].header["NAXIS2"],
            hdul[0].header["NAXIS1"],
        )
        assert l1b.int_time == hdul[0].header["INT_TIME"]
        np.testing.assert_array_equal(l1b.wavelengths, hdul["Observation"].data["WAVELENGTH"][0])
        assert l1b.header["XUV"] == "MUV"
    if layout == "v13":
        assert l1b.dark_det_temps.shape == (2,)
        assert np.all((l1b.dark_det_temps > -20) & (l1b.dark_det_temps < -14))
    else:
        assert l1b.dark_det_temps is None
    assert len(l1b.dark_times) == l1b.n_darks


def test_scaling_factor_and_dn_per_second_by_hand(files):
    with fits.open(files["v00"]) as hdul:
        row = hdul["Binning"].data[0]
        spa = [w for w, t in zip(row["SPABINWIDTH"], row["SPABINTRANSMIT"], strict=True) if t == 1]
        spe = [w for w, t in zip(row["SPEBINWIDTH"], row["SPEBINTRANSMIT"], strict=True) if t == 1]
        t = hdul[0].header["INT_TIME"]
    l1b = L1BReader(files["v00"])
    want = np.array([[a * b * t for b in spe] for a in spa], dtype=float)
    np.testing.assert_array_equal(l1b.scaling_factor, want)
    np.testing.assert_allclose(l1b.dark_dn_s, l1b.detector_dark / want + 0.001)
    np.testing.assert_allclose(l1b.raw_dn_s[1], l1b.detector_raw[1] / want + 0.001)
    np.testing.assert_allclose(l1b.dds_dn_s, l1b.detector_dark_subtracted / want + 0.001)


def test_single_dark_2d_file_is_a_stack_and_one_element_list(files):
    l1b = L1BReader([files["single"]])
    assert l1b.detector_dark.shape == (1, 128, 128)
    assert l1b.detector_raw.shape == (1, 128, 128)
    assert l1b.n_darks == 1 and l1b.n_integrations == 1
    with pytest.raises(ex.DarkIndexError, match="has 1"):
        l1b.dark(1)
    with pytest.raises(ex.InvalidParameterError):
        L1BReader([files["single"], files["v00"]])


def test_names_are_matched_case_insensitively_not_by_position(files, tmp_path):
    with fits.open(files["v13"]) as hdul:
        hdus = [hdul[0].copy()] + [h.copy() for h in reversed(hdul[1:])]
    for h in hdus[1:]:
        name = h.header["EXTNAME"]
        h.header["EXTNAME"] = name.upper() if name.islower() else name.lower()
    out = tmp_path / "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_r01.fits"
    fits.HDUList(hdus).writeto(out)
    a, b = L1BReader(files["v13"]), L1BReader(out)
    np.testing.assert_array_equal(a.detector_dark, b.detector_dark)
    np.testing.assert_array_equal(a.scaling_factor, b.scaling_factor)
    assert b.extensions[1] == "observation"


def test_missing_darks_names_file_and_extensions(files):
    l1b = L1BReader(files["nodark"])
    assert l1b.n_darks == 0
    with pytest.raises(ex.MissingExtensionError) as info:
        _ = l1b.detector_dark
    msg = str(info.value)
    assert str(files["nodark"]) in msg and "detector_dark" in msg and "Binning" in msg
    assert isinstance(info.value, OSError)


def test_get_integration(files):
    l1b = L1BReader(files["v13"])
    np.testing.assert_array_equal(l1b.get_integration("raw", -1), l1b.detector_raw[3])
    np.testing.assert_array_equal(l1b.get_integration("dds", 0), l1b.detector_dark_subtracted[0])
    with pytest.raises(ex.DarkIndexError):
        l1b.get_integration("raw", 4)
    with pytest.raises(ex.InvalidParameterError):
        l1b.get_integration("light", 0)


# ----------------------------------------------------------------------------- bad files


def check_bad(path, match):
    with pytest.raises(ex.FileFormatError, match=match) as info:
        L1BReader(path)
    assert str(path) in str(info.value)
    return info.value


def test_missing_path_and_directory(tmp_path):
    err = check_bad(tmp_path / "nope.fits.gz", "no such file")
    assert isinstance(err.__cause__, FileNotFoundError)
    err = check_bad(tmp_path, "folder")
    assert isinstance(err.__cause__, IsADirectoryError)


def test_zero_byte_and_not_fits(tmp_path):
    empty = tmp_path / "empty.fits"
    empty.touch()
    check_bad(empty, "empty")
    html = tmp_path / "page.fits"
    html.write_text("<html><body>404 Not Found</body></html>\n" * 100)
    err = check_bad(html, "is not a FITS file: it starts with")
    assert err.__cause__ is not None


def test_header_without_end(tmp_path):
    card = (
        fits.Card("SIMPLE", True).image + fits.Card("BITPIX", 8).image + fits.Card("NAXIS", 0).image
    )
    p = tmp_path / "noend.fits"
    p.write_bytes(card.encode().ljust(2880 * 2, b" "))
    err = check_bad(p, "cannot read")
    assert "END" in str(err.__cause__)


@pytest.mark.parametrize(
    ("where", "match"),
    [("half", "truncated"), ("last byte", "truncated"), ("mid header", "cannot read")],
)
def test_truncated_uncompressed_file_is_an_error(files, tmp_path, where, match):
    data = files["plain"].read_bytes()
    cut = {"half": len(data) // 2, "last byte": len(data) - 1, "mid header": 2880 + 400}[where]
    p = tmp_path / files["plain"].name
    p.write_bytes(data[:cut])
    err = check_bad(p, match)
    assert err.__cause__ is not None


def test_truncated_and_corrupt_gzip(files, tmp_path):
    data = files["v00"].read_bytes()
    t = tmp_path / "truncated.fits.gz"
    t.write_bytes(data[: len(data) // 3])
    assert check_bad(t, "cannot read").__cause__ is not None
    c = tmp_path / "corrupt.fits.gz"
    raw = bytearray(data)
    raw[len(raw) // 2 : len(raw) // 2 + 64] = b"\x00" * 64
    c.write_bytes(bytes(raw))
    assert check_bad(c, "cannot read").__cause__ is not None


def test_checksum_mismatch_only_matters_when_strict(files, tmp_path):
    with fits.open(files["plain"]) as hdul:
        p = tmp_path / "sums.fits"
        hdul.writeto(p, checksum=True, output_verify="ignore")
    raw = bytearray(p.read_bytes())
    with fits.open(p) as hdul:
        offset = hdul.fileinfo(11)["datLoc"]  # detector_dark's data
    raw[offset + 3] ^= 0x01
    p.write_bytes(bytes(raw))
    L1BReader(p)  # not strict: read as it is
    with pytest.raises(ex.FileFormatError, match="checksum"):
        L1BReader(p, strict=True)


def test_reader_does_not_write_to_its_input(files):
    before = files["v00"].read_bytes()
    mtime = files["v00"].stat().st_mtime_ns
    L1BReader(files["v00"]).detector_dark.sum()
    assert files["v00"].read_bytes() == before and files["v00"].stat().st_mtime_ns == mtime


def test_gzip_magic_is_not_needed_in_the_name(files, tmp_path):
    p = tmp_path / "renamed.fits"
    p.write_bytes(gzip.decompress(files["v00"].read_bytes()))
    assert L1BReader(p).n_darks == 3


# ----------------------------------------------------------------------------- more detail


def open_files_named(path):
    fd_dir = "/proc/self/fd"
    out = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if os.path.basename(target) == os.path.basename(str(path)):
            out.append(target)
    return out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("kind", ["plain", "v00"])
def test_file_closed_after_the_context_manager(files, kind):
    path = files[kind]
    with L1BReader(path) as l1b:
        dark = l1b.detector_dark
        assert not l1b.closed
    assert l1b.closed
    assert open_files_named(path) == []
    with open("/proc/self/maps") as fh:
        assert path.name not in fh.read()  # no memory map left either
    assert dark.sum() == l1b.detector_dark.sum()  # arrays stay valid


def test_arrays_are_copies_not_views_of_the_file(files, tmp_path):
    p = tmp_path / files["plain"].name
    p.write_bytes(files["plain"].read_bytes())
    with fits.open(p) as hdul:
        want = hdul["detector_dark"].data.copy()
    l1b = L1BReader(p)
    p.write_bytes(b"\0" * len(p.read_bytes()))  # clobber the file under the reader
    p.unlink()
    np.testing.assert_array_equal(l1b.detector_dark, want)
    assert l1b.detector_dark.flags.owndata or l1b.detector_dark.base is not None


def test_dark_times_and_temperatures_by_hand(files):
    with fits.open(files["v13"]) as hdul:
        table = hdul["Dark_Integration"].data
        utc = [datetime.strptime(s.removesuffix("UTC") + "0", A_UTC) for s in table["UTC"]]
        temps = np.asarray(table["DET_TEMP_C"], dtype=float)
        et = np.asarray(table["ET"], dtype=float)
    l1b = L1BReader(files["v13"])
    assert l1b.dark_times == utc
    np.testing.assert_array_equal(l1b.dark_det_temps, temps)
    np.testing.assert_array_equal(l1b.dark_et, et)
    v00 = L1BReader(files["v00"])
    assert v00.dark_det_temps is None  # only raw DN in DarkEngineering; documented
    assert len(v00.dark_times) == 3
    assert "DarkIntegration" in v00.extensions


def test_dark_times_from_et_when_utc_is_absent(files, tmp_path):
    from astropy.time import Time, TimeDelta
    from astropy.utils import iers

    with fits.open(files["v00"]) as hdul:
        hdus = [h.copy() for h in hdul]
    i = [h.header.get("EXTNAME") for h in hdus].index("DarkIntegration")
    table = hdus[i]
    cols = [c for c in table.columns if c.name != "UTC"]
    new = fits.BinTableHDU.from_columns(cols)
    new.header["EXTNAME"] = "DarkIntegration"
    hdus[i] = new
    out = tmp_path / "no_utc.fits"
    fits.HDUList(hdus).writeto(out)
    et = np.asarray(new.data["ET"], dtype=float)
    with iers.conf.set_temp("auto_max_age", None), iers.conf.set_temp("auto_download", False):
        want = (Time("J2000", scale="tdb") + TimeDelta(et, format="sec")).utc.datetime
    got = L1BReader(out).dark_times
    assert len(got) == 3
    for g, w in zip(got, want, strict=True):
        assert abs((g - w).total_seconds()) < 5e-3


def test_quirky_header_is_fixed_silently(files, tmp_path):
    raw = bytearray(files["plain"].read_bytes())
    i = raw.index(b"SW_VER  =")
    raw[i : i + 80] = b"MCP_GN  =  846.558V / not a FITS value".ljust(80)
    j = raw.index(b"N_FILL  =")
    raw[j : j + 80] = b"n_fill  = 0 / lowercase keyword".ljust(80)
    p = tmp_path / "quirky.fits"
    p.write_bytes(bytes(raw))
    # pytest turns every warning into an error here: nothing may leak out of the reader
    l1b = L1BReader(p)
    text = repr(l1b.header)
    assert "MIR_DEG" in text and l1b.header["N_FILL"] == 0
    assert [k for k in l1b.header if k == "MIR_DEG"] == ["MIR_DEG", "MIR_DEG"]
    assert l1b.header.count("KERNEL") >= 2


def test_duplicate_extension_names_take_the_first(files, tmp_path):
    with fits.open(files["plain"]) as hdul:
        hdus = [h.copy() for h in hdul]
    extra = fits.ImageHDU(np.zeros((2, 62, 341), dtype=">i4"))
    extra.header["EXTNAME"] = "DETECTOR_DARK"
    out = tmp_path / "dup.fits"
    fits.HDUList([*hdus, extra]).writeto(out)
    with fits.open(out) as hdul:
        want = hdul["detector_dark"].data.copy()  # astropy also takes the first
    np.testing.assert_array_equal(L1BReader(out).detector_dark, want)
    assert want.any()


def test_missing_int_time_is_a_file_format_error(files, tmp_path):
    with fits.open(files["plain"]) as hdul:
        hdus = [h.copy() for h in hdul]
    del hdus[0].header["INT_TIME"]
    out = tmp_path / "noint.fits"
    fits.HDUList(hdus).writeto(out, output_verify="ignore")
    l1b = L1BReader(out)
    with pytest.raises(ex.FileFormatError, match="INT_TIME") as info:
        _ = l1b.scaling_factor
    assert str(out) in str(info.value)


def test_non_linear_binning_scaling_factor(tmp_path):
    path = iuvs.synthetic.write_l1b(
        tmp_path, n_spa=7, n_spe=40, nonlinear_binning=True, gzip=False, int_time=14.4, seed=8
    )
    with fits.open(path) as hdul:
        row = hdul["Binning"].data[0]
        lo_spa, hi_spa = np.asarray(row["SPAPIXLO"]), np.asarray(row["SPAPIXHI"])
        lo_spe, hi_spe = np.asarray(row["SPEPIXLO"]), np.asarray(row["SPEPIXHI"])
    # widths from the pixel ranges, not from the width column the reader uses
    want = np.outer(hi_spa - lo_spa + 1, hi_spe - lo_spe + 1) * 14.4
    l1b = L1BReader(path)
    np.testing.assert_allclose(l1b.scaling_factor, want)
    assert len(set((hi_spe - lo_spe + 1).tolist())) > 1


def test_zero_byte_cause_and_empty_list(tmp_path):
    empty = tmp_path / "empty.fits.gz"
    empty.touch()
    assert check_bad(empty, "empty").__cause__ is not None
    with pytest.raises(ex.InvalidParameterError):
        L1BReader([])
    with pytest.raises(ex.InvalidParameterError):
        L1BReader(42)


def test_not_gzip_but_gz_name_and_garbage_after_gzip_magic(files, tmp_path):
    plain = tmp_path / "plain.fits.gz"
    plain.write_bytes(files["plain"].read_bytes())  # a .gz name on an uncompressed file
    assert L1BReader(plain).n_darks == 2
    junk = tmp_path / "junk.fits.gz"
    junk.write_bytes(b"\x1f\x8b" + b"\x00" * 5000)
    err = check_bad(junk, "cannot read")
    assert err.__cause__ is not None


# --------------------------------------------- issue 20: the format facts ship with the package
def test_no_docstring_points_outside_the_package():
    """shared/docs/l1b_format.md is not installed: nothing in iuvs may send a reader there."""
    from pathlib import Path

    root = Path(iuvs.__file__).parent
    offenders = [
        f"{path.relative_to(root)}:{k}"
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.pyi")])
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "l1b_format" in line or "shared/" in line
    ]
    assert offenders == []


def test_the_file_format_notes_state_what_the_reader_does(files):
    from iuvs.io import l1b

    doc = l1b.__doc__
    assert "**File format.**" in doc and "Calibrated data file structure" in doc
    assert "DN * -0.0749 + 174.08" in doc and "(MIRROR_DN - 12939) / 364.0889" in doc
    # the documented conversion is the one applied, checked on the v00 file with astropy
    with fits.open(files["v00"]) as hdul:
        assert "DET_TEMP_C" not in hdul["DARKINTEGRATION"].columns.names
        dn = np.asarray(hdul["DARKENGINEERING"].data["DET_TEMP"], dtype=float)
        mirror_dn = np.asarray(hdul["DARKINTEGRATION"].data["MIRROR_DN"], dtype=float)
        mirror_deg = np.asarray(hdul["DARKINTEGRATION"].data["MIRROR_DEG"], dtype=float)
    np.testing.assert_allclose(L1BReader(files["v00"]).dark_temperatures, dn * -0.0749 + 174.08)
    np.testing.assert_allclose(mirror_deg, (mirror_dn - 12939) / 364.0889, rtol=1e-6)
    # the v00/v01 names of the table are the ones the reader looks up
    for name in ("detector_background_subtracted", "DarkIntegration", "DarkEngineering"):
        assert f"``{name}``" in doc and name in L1BReader(files["v00"]).extensions
