"""iuvs.io.DarkWriter / read_product against the 2015 notebook's product (its `fits.info` and
`fits.getheader(..., 'rank0')` output), numpy recomputations of every card, astropy's checksum
verification, and the safe-write guarantees (no overwrite, no partial or temporary files)."""

from __future__ import annotations

import ast
import gzip
import os
import re
import warnings
from importlib.metadata import version

import numpy as np
import pytest
from astropy.io import fits
from conftest import make_darks
from scipy.optimize import curve_fit

import iuvs
from iuvs import exceptions as ex
from iuvs import scaling
from iuvs.io import DarkWriter, read_product

# The notebook's `fits.info('dark_fitting.fits')` (In [24]): name, type, dimensions, format.
NOTEBOOK_INFO = [
    ("PRIMARY", "PrimaryHDU", (341, 62), "int32"),
    ("DARK2", "ImageHDU", (341, 62), "int32"),
    ("RANK-1", "ImageHDU", (341, 62), "float64"),
    ("RANK0", "ImageHDU", (341, 62), "float64"),
    ("RANK1", "ImageHDU", (341, 62), "float64"),
    ("RANK2", "ImageHDU", (341, 62), "float64"),
    ("RANK3", "ImageHDU", (341, 62), "float64"),
    ("RANK4", "ImageHDU", (341, 62), "float64"),
]
# The notebook's card counts (8, 9, 16) are the leading cards of each header, in this order.
PRIMARY_KEYS = ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "KIND", "NAME"]
DARK2_KEYS = ["XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "KIND"]
DARK2_KEYS += ["EXTNAME"]
RANK_KEYS = ["XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "KIND", "RANK"]
RANK_KEYS += ["COEFFS", "STDDEV", "EXTNAME", "COMMENT", "COMMENT", "COMMENT", "COMMENT"]
RANK_COMMENT = (
    "The rank is '-1' for 'Additive' fitting, '0' is for 'Multiplicative' fitting without "
    "additive offset. For all ranks larger than 0 it is equivalent to the degree of the "
    "polynomial fit."
)


def addmodel(x, a):
    return a + x


def multimodel(x, a):
    return a * x


@pytest.fixture(scope="module")
def darks62():
    return make_darks(seed=11)


def _write(path, dark1, dark2, **kw):
    """The notebook's cells 19-23: additive, multiplicative, then a manager's scalers 1..4."""
    writer = DarkWriter(path, dark1, dark2, **kw)
    addscaler = scaling.AddScaler(dark1, dark2)
    addscaler.do_fit()
    writer.append_polyfitted(addscaler)
    multscaler = scaling.MultScaler(dark1, dark2)
    multscaler.do_fit()
    writer.append_polyfitted(multscaler)
    for scaler in scaling.PolyScalerManager(dark1, dark2, 1, 4).scalers:
        writer.append_polyfitted(scaler)
    return writer.write()


@pytest.fixture(scope="module")
def product(tmp_path_factory, darks62):
    path = tmp_path_factory.mktemp("product") / "dark_fitting.fits"
    assert _write(path, *darks62) == path
    return path


def _reference_models(dark1, dark2):
    """Coefficients the notebook's own code (curve_fit, numpy.polyfit) gives, by rank."""
    data_in, data_out = dark1.ravel().astype(float), dark2.ravel().astype(float)
    ref = {
        -1: curve_fit(addmodel, data_in, data_out)[0],
        0: curve_fit(multimodel, data_in, data_out)[0],
    }
    for rank in range(1, 5):
        ref[rank] = np.polyfit(data_in, data_out, rank)
    return ref


def _model_values(rank, coeffs, x):
    x = np.asarray(x, float)
    if rank == -1:
        return x + coeffs[0]
    if rank == 0:
        return x * coeffs[0]
    return np.polyval(coeffs, x)


# --------------------------------------------------------------------------- layout


def test_info_matches_the_notebook(product):
    info = fits.info(product, output=False)
    assert [(r[1], r[3], r[5], r[6]) for r in info] == NOTEBOOK_INFO


def test_leading_cards_are_the_notebooks(product, darks62):
    dark1, dark2 = darks62
    with fits.open(product) as hdul:
        h0, h1 = hdul[0].header, hdul[1].header
        assert list(h0.keys())[:8] == PRIMARY_KEYS
        assert (h0["KIND"], h0.comments["KIND"], h0["NAME"]) == (
            "original dark",
            "The kind of image",
            "dark1",
        )
        assert list(h1.keys())[:9] == DARK2_KEYS
        assert h1["KIND"] == "original dark"
        np.testing.assert_array_equal(hdul[0].data, dark1)
        np.testing.assert_array_equal(hdul[1].data, dark2)
        assert hdul[0].data.dtype == np.dtype(">i4")
        for hdu in hdul[2:]:
            h = hdu.header
            assert list(h.keys())[:16] == RANK_KEYS, hdu.name
            assert h["XTENSION"] == "IMAGE" and h["BITPIX"] == -64
            assert (h["NAXIS"], h["NAXIS1"], h["NAXIS2"]) == (2, 341, 62)
            assert (h["KIND"], h.comments["KIND"]) == ("fitted dark", "The kind of image")
            assert h.comments["RANK"] == "The degree of polynom used for the scaling."
            assert h.comments["STDDEV"] == "Standard deviation of residual"
            assert h["EXTNAME"] == f"RANK{h['RANK']}"
            comments = [str(c) for c in h["COMMENT"]]
            assert "".join(comments[:3]) == RANK_COMMENT
            assert comments[3] == "The coefficients are listed highest rank first."


def test_cards_against_the_notebooks_computations(product, darks62):
    dark1, dark2 = darks62
    ref = _reference_models(dark1, dark2)
    written = read_product(product)
    with fits.open(product) as hdul:
        for hdu, model in zip(hdul[2:], written.models, strict=True):
            h = hdu.header
            rank = h["RANK"]
            coeffs = ast.literal_eval(h["COEFFS"])
            assert all(type(c) is float for c in coeffs)
            assert h["COEFFS"] == str(coeffs)  # str(list of floats), e.g. '[1.4510501785354721]'
            np.testing.assert_allclose(coeffs, ref[rank], rtol=1e-7)
            np.testing.assert_array_equal(coeffs, model.coeffs)
            # residual image: dark2 - model(dark1) over every pixel, as numpy computes it
            expected = dark2 - _model_values(rank, ref[rank], dark1)
            np.testing.assert_allclose(hdu.data, expected, rtol=0, atol=1e-6 * np.abs(dark2).max())
            # STDDEV: numpy.std of the residual image (all pixels)
            assert h["STDDEV"] == pytest.approx(float(np.std(hdu.data)), rel=1e-12)
            # numeric copies C0..Cn, lowest power first (C<k> multiplies x**k)
            cards = [h[f"C{i}"] for i in range(len(coeffs))]
            np.testing.assert_allclose(cards, coeffs[::-1], rtol=1e-13)
            assert f"C{len(coeffs)}" not in h
            assert h["NUSED"] == dark1.size and h["NEXCL"] == 0
        assert hdul["RANK-1"].header["RANK"] == -1 and hdul["RANK4"].header["RANK"] == 4


def test_getheader_rank0_like_the_notebook(product, darks62):
    dark1, dark2 = darks62
    h = fits.getheader(product, "rank0")
    (a,), _ = curve_fit(multimodel, dark1.ravel().astype(float), dark2.ravel().astype(float))
    mult_residual = dark2 - multimodel(dark1, a)
    assert h["RANK"] == 0
    assert len(ast.literal_eval(h["COEFFS"])) == 1
    assert ast.literal_eval(h["COEFFS"])[0] == pytest.approx(a, rel=1e-7)
    assert h["STDDEV"] == pytest.approx(mult_residual.std(), rel=1e-6)


def test_residual_of_a_fit_with_intercept_has_zero_mean(product):
    with fits.open(product) as hdulist:
        data = hdulist[4].data  # RANK1
        assert abs(data.mean()) < 1e-8 * data.std()


def test_provenance_cards(product):
    creator = f"iuvs {version('iuvs')}"
    with fits.open(product) as hdul:
        for hdu in hdul:
            h = hdu.header
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", h["DATE"])
            assert h["CREATOR"] == creator
            assert "CHECKSUM" in h and "DATASUM" in h


def test_checksums_verify(product):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(product, checksum=True) as hdul:
            for hdu in hdul:
                _ = hdu.data
                assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1


def test_damaged_product_fails_checksum(product, tmp_path):
    data = bytearray(product.read_bytes())
    data[-100] ^= 0xFF  # a byte of the last residual image
    bad = tmp_path / "bad.fits"
    bad.write_bytes(bytes(data))
    with pytest.warns(Warning, match="(?i)(check|data)sum verification failed"):
        with fits.open(bad, checksum=True) as hdul:
            _ = [h.data for h in hdul]
    with pytest.raises(ex.FileFormatError, match="bad.fits") as info:
        read_product(bad)
    assert info.value.__cause__ is not None
    assert read_product(bad, verify=False).ranks == [-1, 0, 1, 2, 3, 4]


# ------------------------------------------------------------------------ read back


def test_read_product_round_trip(product, darks62):
    dark1, dark2 = darks62
    p = read_product(product)
    assert p.path == os.fspath(product)
    np.testing.assert_array_equal(p.dark1, dark1)
    np.testing.assert_array_equal(p.dark2, dark2)
    assert p.ranks == [-1, 0, 1, 2, 3, 4]
    assert [m.extname for m in p.models] == [r[0] for r in NOTEBOOK_INFO[2:]]
    ref = _reference_models(dark1, dark2)
    for m in p.models:
        np.testing.assert_allclose(m.coeffs, ref[m.rank], rtol=1e-7)
        assert m.stddev == pytest.approx(float(np.std(m.residual)), rel=1e-12)
        assert m.residual.dtype == np.float64 and m.residual.shape == dark1.shape
        assert m.header["KIND"] == "fitted dark"
    assert p.model(2).rank == 2
    with pytest.raises(ex.MissingExtensionError, match="RANK7"):
        p.model(7)
    assert p.header["NAME"] == "dark1"


def test_read_product_of_a_2015_style_file(tmp_path):
    # a product as the 2015 writer made it: no checksums, no extra cards
    x, y = make_darks(shape=(6, 9), seed=1)
    (a,), _ = curve_fit(multimodel, x.ravel().astype(float), y.ravel().astype(float))
    h = fits.Header()
    h["KIND"] = "fitted dark"
    h["RANK"] = 0
    h["COEFFS"] = str([float(a)])
    h["STDDEV"] = float(np.std(y - a * x))
    hdul = fits.HDUList(
        [
            fits.PrimaryHDU(x),
            fits.ImageHDU(y, name="DARK2"),
            fits.ImageHDU(y - a * x, header=h, name="RANK0"),
        ]
    )
    path = tmp_path / "old.fits"
    hdul.writeto(path)
    p = read_product(path)
    assert p.ranks == [0]
    assert p.models[0].coeffs.tolist() == [float(a)]
    assert p.models[0].stddev == h["STDDEV"]


@pytest.mark.parametrize(
    "content",
    [b"", b"<html>Not found</html>" * 10, b"SIMPLE  =                    T" + b" " * 50],
    ids=["empty", "html", "no-end"],
)
def test_read_product_refuses_non_fits(tmp_path, content):
    bad = tmp_path / "x.fits"
    bad.write_bytes(content)
    with pytest.raises(ex.FileFormatError, match="x.fits") as info:
        read_product(bad)
    assert info.value.__cause__ is not None


def test_read_product_refuses_missing_and_foreign_files(tmp_path, product):
    with pytest.raises(ex.FileFormatError, match="nope.fits") as info:
        read_product(tmp_path / "nope.fits")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    with pytest.raises(ex.FileFormatError):
        read_product(tmp_path)
    # truncated
    cut = tmp_path / "cut.fits"
    cut.write_bytes(product.read_bytes()[: 2880 * 20])
    with pytest.raises(ex.FileFormatError, match="cut.fits"):
        read_product(cut)
    # a FITS file that is not a product
    other = tmp_path / "other.fits"
    fits.HDUList([fits.PrimaryHDU(np.zeros((2, 2)))]).writeto(other)
    with pytest.raises(ex.MissingExtensionError, match="DARK2"):
        read_product(other)
    # a RANK extension without COEFFS
    broken = tmp_path / "broken.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(np.zeros((2, 2))),
            fits.ImageHDU(np.zeros((2, 2)), name="DARK2"),
            fits.ImageHDU(np.zeros((2, 2)), name="RANK1"),
        ]
    ).writeto(broken)
    with pytest.raises(ex.FileFormatError, match="RANK1"):
        read_product(broken)


# --------------------------------------------------------------------- safe writing


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_refuses_to_overwrite_and_keeps_the_old_file(tmp_path, darks62):
    path = tmp_path / "dark_fitting.fits"
    path.write_bytes(b"old contents")
    with pytest.raises(ex.OutputExistsError, match="dark_fitting.fits"):
        DarkWriter(path, *darks62)
    with pytest.raises(FileExistsError):  # also the built-in
        DarkWriter(path, *darks62, clobber=False, overwrite=False)
    assert path.read_bytes() == b"old contents"
    assert _listing(tmp_path) == ["dark_fitting.fits"]


def test_refuses_a_file_that_appears_before_write(tmp_path, darks62):
    path = tmp_path / "p.fits"
    writer = DarkWriter(path, *darks62)
    writer.append_polyfitted(iuvs.fit(*darks62, rank=0))
    path.write_bytes(b"appeared meanwhile")
    with pytest.raises(ex.OutputExistsError):
        writer.write()
    assert path.read_bytes() == b"appeared meanwhile"
    assert _listing(tmp_path) == ["p.fits"]


@pytest.mark.parametrize(
    "kw",
    [{"clobber": True}, {"overwrite": True}, {"clobber": True, "overwrite": False}],
    ids=["clobber", "overwrite", "either"],
)
def test_clobber_or_overwrite_replaces(tmp_path, darks62, kw):
    path = tmp_path / "dark_fitting.fits"
    path.write_bytes(b"old contents")
    _write(path, *darks62, **kw)
    assert [r[1] for r in fits.info(path, output=False)] == [r[0] for r in NOTEBOOK_INFO]
    assert _listing(tmp_path) == ["dark_fitting.fits"]


def test_no_temporary_files_after_success(tmp_path, darks62):
    _write(tmp_path / "a.fits", *darks62)
    assert _listing(tmp_path) == ["a.fits"]


def _product_bytes(path):
    return path.read_bytes()


def test_failure_mid_write_leaves_old_file_and_no_temp(tmp_path, darks62, monkeypatch):
    path = tmp_path / "dark_fitting.fits"
    _write(path, *darks62)
    before = path.read_bytes()

    def failing_writeto(self, fileobj, **kw):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 50)  # a partial file
        raise OSError("No space left on device")

    monkeypatch.setattr(fits.HDUList, "writeto", failing_writeto)
    with pytest.raises(OSError, match="No space left"):
        _write(path, *darks62, overwrite=True)
    assert path.read_bytes() == before
    assert _listing(tmp_path) == ["dark_fitting.fits"]


def test_failure_at_rename_leaves_old_file_and_no_temp(tmp_path, darks62, monkeypatch):
    path = tmp_path / "dark_fitting.fits"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise PermissionError(f"cannot rename {src}")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(PermissionError):
        _write(path, *darks62, clobber=True)
    assert path.read_bytes() == b"old"
    assert _listing(tmp_path) == ["dark_fitting.fits"]


def test_a_file_that_does_not_verify_is_not_moved_into_place(tmp_path, darks62, monkeypatch):
    path = tmp_path / "dark_fitting.fits"
    path.write_bytes(b"old")
    real = fits.HDUList.writeto

    def writeto_with_garbage(self, fileobj, **kw):
        real(self, fileobj, **kw)
        fileobj.write(b"\0" * 100)  # trailing bytes after the last HDU

    monkeypatch.setattr(fits.HDUList, "writeto", writeto_with_garbage)
    with pytest.raises(ex.FileFormatError, match="did not verify"):
        _write(path, *darks62, overwrite=True)
    assert path.read_bytes() == b"old"
    assert _listing(tmp_path) == ["dark_fitting.fits"]


@pytest.fixture(scope="module")
def fits_writers(tmp_path_factory, darks62):
    """Every FITS writer of iuvs, as ``write(path, overwrite)``."""
    from iuvs import darks, synthetic

    d = tmp_path_factory.mktemp("writers")
    correction = darks.subtract(synthetic.write_l1b(d, n_int=2, seed=1))
    sd = darks.superdark(synthetic.write_dark_archive(d / "a", files_per_set=2, n_darks=4), jobs=1)
    return {
        "product": lambda path, ow: DarkWriter(path, *darks62, overwrite=ow).write(),
        "correction": lambda path, ow: iuvs.io.write_correction(correction, path, overwrite=ow),
        "superdarks": lambda path, ow: darks.write_superdarks(sd, path, overwrite=ow),
    }


@pytest.mark.parametrize("kind", ["product", "correction", "superdarks"])
def test_every_fits_writer_is_safe(fits_writers, kind, tmp_path, monkeypatch):
    """Nothing overwritten unless asked; no temporary file left and the old file kept on failure."""
    write = fits_writers[kind]
    path = tmp_path / "out.fits"
    path.write_bytes(b"old")
    with pytest.raises(ex.OutputExistsError, match="out.fits"):
        write(path, False)
    assert path.read_bytes() == b"old" and _listing(tmp_path) == ["out.fits"]
    real = fits.HDUList.writeto

    def disk_full(self, fileobj, **kw):
        fileobj.write(b"SIMPLE  =                    T" + b" " * 50)  # a partial file
        raise OSError("No space left on device")

    def garbage(self, fileobj, **kw):
        real(self, fileobj, **kw)
        fileobj.write(b"\0" * 100)  # trailing bytes after the last HDU

    def appears(self, fileobj, **kw):
        real(self, fileobj, **kw)
        path.write_bytes(b"appeared meanwhile")

    for failing, error, match in (
        (disk_full, OSError, "No space left"),
        (garbage, ex.FileFormatError, "did not verify"),
    ):
        with monkeypatch.context() as m:
            m.setattr(fits.HDUList, "writeto", failing)
            with pytest.raises(error, match=match):
                write(path, True)
        assert path.read_bytes() == b"old" and _listing(tmp_path) == ["out.fits"]
    path.unlink()
    with monkeypatch.context() as m:
        m.setattr(fits.HDUList, "writeto", appears)
        with pytest.raises(ex.OutputExistsError, match="appeared while writing"):
            write(path, False)
    assert path.read_bytes() == b"appeared meanwhile" and _listing(tmp_path) == ["out.fits"]
    # asked to: replaced by a complete, checksummed file
    write(path, True)
    with fits.open(path, checksum=True) as hdul:
        assert all("CHECKSUM" in h.header for h in hdul)
    assert _listing(tmp_path) == ["out.fits"]


def test_refuses_output_equal_to_an_input(tmp_path, darks62):
    l1b = tmp_path / "input.fits.gz"
    l1b.write_bytes(b"input data")
    for name in (l1b, tmp_path / "." / "input.fits.gz"):
        with pytest.raises(ex.InvalidParameterError, match="one of the inputs"):
            DarkWriter(name, *darks62, overwrite=True, inputs=[l1b])
    assert l1b.read_bytes() == b"input data"


def test_missing_output_folder(tmp_path, darks62):
    with pytest.raises(ex.FileFormatError, match="does not exist"):
        DarkWriter(tmp_path / "no" / "p.fits", *darks62)
    with pytest.raises(ex.FileFormatError, match="folder"):
        DarkWriter(tmp_path, *darks62, overwrite=True)


def test_gzipped_product(tmp_path, darks62):
    path = _write(tmp_path / "dark_fitting.fits.gz", *darks62)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(gzip.open(path), checksum=True) as hdul:
            assert [h.name for h in hdul] == [r[0] for r in NOTEBOOK_INFO]
    np.testing.assert_array_equal(read_product(path).dark2, darks62[1])
    assert _listing(tmp_path) == ["dark_fitting.fits.gz"]


# ------------------------------------------------------------------ what is appended


def test_append_a_fit_uses_the_writers_darks(tmp_path, darks62):
    dark1, dark2 = darks62
    writer = DarkWriter(tmp_path / "p.fits", dark1, dark2)
    writer.append_polyfitted(iuvs.fit(dark1, dark2, rank=2))
    p = read_product(writer.write())
    coeffs = np.polyfit(dark1.ravel().astype(float), dark2.ravel().astype(float), 2)
    np.testing.assert_allclose(p.models[0].coeffs, coeffs, rtol=1e-7)
    np.testing.assert_allclose(
        p.models[0].residual, dark2 - np.polyval(coeffs, dark1.astype(float)), atol=1e-6
    )


def test_append_with_explicit_frames(tmp_path, darks62):
    dark1, dark2 = darks62
    sub_in, sub_out = dark1[:10, :20], dark2[:10, :20]
    writer = DarkWriter(tmp_path / "p.fits", dark1, dark2)
    f = iuvs.fit(sub_in, sub_out, rank=0)
    writer.append_polyfitted(f, sub_in, sub_out)
    p = read_product(writer.write())
    (a,), _ = curve_fit(multimodel, sub_in.ravel().astype(float), sub_out.ravel().astype(float))
    np.testing.assert_allclose(p.models[0].residual, sub_out - a * sub_in, atol=1e-6)
    with pytest.raises(ex.InvalidParameterError, match="both"):
        writer.append_polyfitted(f, sub_in)
    with pytest.raises(ex.ShapeMismatchError):
        writer.append_polyfitted(f, sub_in, dark2)
    with pytest.raises(TypeError, match="scaler"):
        writer.append_polyfitted("poly2")


def test_hot_threshold_cards(tmp_path, darks62):
    dark1, dark2 = darks62
    writer = DarkWriter(tmp_path / "p.fits", dark1, dark2)
    writer.append_polyfitted(scaling.PolyScaler(dark1, dark2, 1, hot_threshold=2500))
    with fits.open(writer.write()) as hdul:
        h = hdul["RANK1"].header
        keep = dark1 <= 2500
        assert h["HOTTHR"] == 2500
        assert h["NUSED"] == int(keep.sum()) and h["NEXCL"] == int((~keep).sum())
        coeffs = np.polyfit(dark1[keep].astype(float), dark2[keep].astype(float), 1)
        res = dark2[keep] - np.polyval(coeffs, dark1[keep].astype(float))
        assert h["FITSTD"] == pytest.approx(np.std(res), rel=1e-9)
        assert h["FRACMEAN"] == pytest.approx(np.mean(res / dark2[keep]), rel=1e-6)
        # STDDEV stays the notebook's: over every pixel of the residual image
        assert h["STDDEV"] == pytest.approx(np.std(hdul["RANK1"].data), rel=1e-12)


def test_nan_residual_writes_no_stddev_card(tmp_path):
    x = np.arange(1.0, 13.0).reshape(3, 4)
    y = 2 * x
    y[1, 1] = np.nan  # excluded from the fit, NaN in the residual image
    writer = DarkWriter(tmp_path / "p.fits", x, y)
    writer.append_polyfitted(scaling.MultScaler(x, y))
    with fits.open(writer.write()) as hdul:
        h = hdul["RANK0"].header
        assert "STDDEV" not in h
        assert ast.literal_eval(h["COEFFS"])[0] == pytest.approx(2.0, rel=1e-12)
        assert hdul[1].data.dtype.kind == "f"  # NaN cannot be stored as int32
        assert np.isnan(hdul["RANK0"].data[1, 1])
    assert np.isnan(read_product(tmp_path / "p.fits").models[0].stddev)


def test_dark_dtypes(tmp_path):
    x = np.arange(1.0, 13.0).reshape(3, 4)  # whole numbers: int32 as in the notebook
    writer = DarkWriter(tmp_path / "a.fits", x, (2 * x).astype(">u2"))
    assert writer.dark1.dtype == writer.dark2.dtype == np.int32
    assert DarkWriter(tmp_path / "b.fits", x + 0.5, x).dark1.dtype == np.float64
    with pytest.raises(ex.UnsupportedDtypeError, match="complex"):
        DarkWriter(tmp_path / "c.fits", x.astype(complex), x)
    with pytest.raises(ex.ShapeMismatchError):
        DarkWriter(tmp_path / "d.fits", x, x.T)


def test_a_rank_twice_gets_a_second_extver(tmp_path, darks62):
    dark1, dark2 = darks62
    writer = DarkWriter(tmp_path / "p.fits", dark1, dark2)
    writer.append_polyfitted(scaling.PolyScaler(dark1, dark2, 1))
    writer.append_polyfitted(scaling.PolyScaler(dark1, dark2, 1, hot_threshold=2500))
    with fits.open(writer.write()) as hdul:
        assert "HOTTHR" not in hdul["RANK1", 1].header
        assert hdul["RANK1", 2].header["HOTTHR"] == 2500
    assert read_product(tmp_path / "p.fits").ranks == [1, 1]


def test_mask_extensions_follow_the_models_that_left_pixels_out(tmp_path):
    from iuvs.scaling import PolyScaler

    pair = iuvs.synthetic.make_dark_pair((30, 40), gain=1.4, seed=11)
    x, y = pair.dark_in, pair.dark_out.astype(np.float64)
    y[2, :10] -= 900.0
    clipped = iuvs.fit(x, y, 1, clip=3.0)
    hot = PolyScaler(x, y, rank=2, hot_threshold=2500)
    plain = iuvs.fit(x, y, 0)
    out = tmp_path / "masked.fits"
    w = DarkWriter(out, x, y)
    for model in (clipped, hot, plain):
        w.append_polyfitted(model)
    w.write()
    with fits.open(out, checksum=True) as hdul:
        assert [h.name for h in hdul] == [
            "PRIMARY",
            "DARK2",
            "RANK1",
            "MASK1",
            "RANK2",
            "MASK2",
            "RANK0",
        ]
        np.testing.assert_array_equal(hdul["MASK1"].data, clipped.mask.astype(np.uint8))
        np.testing.assert_array_equal(hdul["MASK2"].data, (x > 2500).astype(np.uint8))
        assert hdul["MASK1"].header["NMASKED"] == clipped.mask.sum()
        assert hdul["MASK2"].data.dtype == np.uint8
    back = read_product(out)
    np.testing.assert_array_equal(back.model(1).mask, clipped.mask)
    np.testing.assert_array_equal(back.model(2).mask, x > 2500)
    assert back.model(0).mask is None


def test_every_hdu_carries_date_creator_checksum_and_provenance(tmp_path):
    pair = iuvs.synthetic.make_dark_pair((10, 12), seed=3)
    src = tmp_path / "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"
    src.write_bytes(b"")  # only its name is recorded
    out = tmp_path / "prov.fits"
    w = DarkWriter(out, pair.dark_in, pair.dark_out, inputs=[str(src)], darks_used=(1, 2))
    w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 1, clip=3.0))
    w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 0))
    w.write()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with fits.open(out, checksum=True) as hdul:
            assert len(hdul) >= 4
            for hdu in hdul:
                h = hdu.header
                assert "CHECKSUM" in h and "DATASUM" in h, hdu.name
                assert h["CREATOR"] == f"iuvs {version('iuvs')}"
                assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", h["DATE"])
                history = "".join(str(c) for c in h["HISTORY"])
                assert str(src) in history and "detector_dark[1], detector_dark[2]" in history


@pytest.mark.parametrize(
    "options",
    [{}, {"hot_threshold": 2500.0}, {"hot_sigma": 5.0}, {"clip": 3.0}],
)
def test_fits_round_trip_every_field(tmp_path, options):
    import dataclasses

    from iuvs.scaling import fit_scalers

    pair = iuvs.synthetic.make_dark_pair((40, 120), gain=1.45, seed=9)
    x, y = pair.dark_in.astype(">i4"), pair.dark_out.astype(">i4")
    y[3, :10] -= 700  # outliers for clipping
    scalers = fit_scalers(x, y, range(-1, 5), **options)
    w = DarkWriter(tmp_path / "p.fits", x, y)
    for s in scalers:
        w.append_polyfitted(s)
    back = read_product(w.write()).fits()
    assert [f.rank for f in back] == list(range(-1, 5))
    for original, f in zip((s.fit for s in scalers), back, strict=True):
        np.testing.assert_allclose(f.coeffs, original.coeffs, rtol=1e-12)
        np.testing.assert_allclose(f.cov, original.cov, rtol=1e-9)
        np.testing.assert_allclose(f.perr, original.perr, rtol=1e-9)
        a, b = dataclasses.asdict(f.stats), dataclasses.asdict(original.stats)
        for key in ("n_used", "n_excluded", "n_nonfinite", "n_fractional"):
            assert a[key] == b[key], key
        for key in ("mean", "std", "min", "max", "rms", "frac_mean", "frac_std"):
            assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-9), key
        # and against numpy on the pixels the stored mask keeps
        keep = np.ones(x.shape, bool) if original.stats.n_excluded == 0 else None
        if keep is not None and f.rank >= 1:
            p = np.polyfit(x.ravel().astype(float), y.ravel().astype(float), f.rank)
            np.testing.assert_allclose(f.coeffs, p, rtol=1e-8)


def test_fits_refuses_a_product_whose_darks_were_changed(tmp_path):
    from astropy.io import fits as afits

    pair = iuvs.synthetic.make_dark_pair((20, 30), seed=4)
    w = DarkWriter(tmp_path / "p.fits", pair.dark_in, pair.dark_out)
    w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 1))
    path = w.write()
    with afits.open(path, mode="update") as hdul:
        hdul["DARK2"].data = hdul["DARK2"].data * 2
    with pytest.raises(iuvs.exceptions.FileFormatError, match="COEFFS"):
        read_product(path).fits()


def test_written_files_get_the_usual_permissions(tmp_path):
    import stat

    pair = iuvs.synthetic.make_dark_pair((10, 12), seed=1)
    old = os.umask(0o022)
    try:
        w = DarkWriter(tmp_path / "p.fits", pair.dark_in, pair.dark_out)
        w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 1))
        path = w.write()
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as open() would, not mkstemp's 0600
        l1b = iuvs.synthetic.write_l1b(tmp_path, seed=1)
        assert stat.S_IMODE(l1b.stat().st_mode) == 0o644
        # replacing a file keeps its permissions
        os.chmod(path, 0o640)
        w = DarkWriter(path, pair.dark_in, pair.dark_out, overwrite=True)
        w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 0))
        assert stat.S_IMODE(w.write().stat().st_mode) == 0o640
    finally:
        os.umask(old)
