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
