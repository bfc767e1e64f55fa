"""L1BReader on both layouts, odd names and shapes, and every kind of bad file."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs import exceptions as ex
from iuvs.io import L1BReader


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
    err = check_bad(html, "cannot read")
    assert err.__cause__ is not None


def test_header_without_end(tmp_path):
    card = (
        fits.Card("SIMPLE", True).image + fits.Card("BITPIX", 8).image + fits.Card("NAXIS", 0).image
    )
    p = tmp_path / "noend.fits"
    p.write_bytes(card.encode().ljust(2880 * 2, b" "))
    err = check_bad(p, "cannot read")
    assert "END" in str(err.__cause__)


def test_truncated_uncompressed_file_is_an_error(files, tmp_path):
    data = files["plain"].read_bytes()
    p = tmp_path / files["plain"].name
    p.write_bytes(data[: len(data) // 2])
    err = check_bad(p, "truncated|cannot read")
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
