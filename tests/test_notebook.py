"""The 2015 dark-scaling notebook runs unchanged against iuvs.

The notebook's cells are executed verbatim (``np`` comes from the notebook's ``%pylab``
environment; plotting cells are left out) on a synthetic v00 cruisecal2 file laid out as on the
team server (``$IUVS_DATA_ROOT/production/products/level1b``).  Its own curve_fit / numpy.polyfit
cells are the reference the scalers and the written product are compared with, and its recorded
``fits.info`` and ``fits.getheader(..., 'rank0')`` outputs are the reference for the product.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import iuvs

L1B_NAME = "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"

# ---- the notebook's cells, verbatim -------------------------------------------------------
LOADING = [
    "from iuvs import io",
    'fname = io.l1b_filenames("cruisecal2-mode080-muv", stage=False)',
    "fname",
    "l1b = io.L1BReader(fname)",
    """dark0 = l1b.detector_dark[0]
dark1 = l1b.detector_dark[1]
dark2 = l1b.detector_dark[2]""",
]
MODELING = [
    """def multimodel(x, a):
    return a*x""",
    """def addmodel(x, a):
    return a+x""",
    "from scipy.optimize import curve_fit",
    """data_in = dark1.ravel()
data_out = dark2.ravel()""",
    """mult_p0, mult_pcov = curve_fit(multimodel, data_in, data_out)
mult_perr = np.sqrt(np.diag(mult_pcov))""",
    """add_p0, add_pcov = curve_fit(addmodel, data_in, data_out)
add_perr = np.sqrt(np.diag(add_pcov))""",
    """mult_residual = dark2 - multimodel(dark1, mult_p0)
add_residual = dark2 - addmodel(dark1, add_p0)""",
    """mult_fractional = (mult_residual/dark2)
add_fractional = (add_residual/dark2)""",
]
POLYFIT = """def do_polyfit(rank, dark_in, dark_out):
    z = np.polyfit(dark_in.ravel(), dark_out.ravel(), rank)
    poly = np.poly1d(z)
    residual = dark_out - poly(dark_in)
    fractional = residual/dark_out
    return poly, residual, fractional, poly(dark_in)"""
HOT = [
    "hot_d1_pixels = data_in > 2500",
    "filtered_in = data_in[~hot_d1_pixels]",
    "filtered_out = data_out[~hot_d1_pixels]",
    """def do_polyfit(rank, data_in, data_out):
    z = np.polyfit(data_in, data_out, rank)
    poly = np.poly1d(z)
    residual = data_out - poly(data_in)
    fractional = residual/data_out
    return poly, residual, fractional""",
]
SCALING = [
    """d1 = dark1
d2 = dark2""",
    "from iuvs import scaling",
    "from astropy.io import fits",
    "polymanager = scaling.PolyScalerManager(dark1, dark2, 1, 4)",
    "darkwriter = io.DarkWriter('dark_fitting.fits', dark1, dark2, clobber=True)",
    """addscaler = scaling.AddScaler(d1, d2)
addscaler.do_fit()
darkwriter.append_polyfitted(addscaler)

multscaler = scaling.MultScaler(d1, d2)
multscaler.do_fit()
darkwriter.append_polyfitted(multscaler)""",
    """for scaler in polymanager.scalers:
    darkwriter.append_polyfitted(scaler)""",
    "darkwriter.write()",
    "fits.info('dark_fitting.fits')",
    "fits.getheader('dark_fitting.fits', 'rank0')",
    "hdulist = fits.open('dark_fitting.fits')",
    "hdulist[4].data.mean()",
]

# ---- the notebook's recorded outputs -------------------------------------------------------
INFO_OUTPUT = """\
Filename: dark_fitting.fits
No.    Name         Type      Cards   Dimensions   Format
0    PRIMARY     PrimaryHDU       8   (341, 62)    int32
1    DARK2       ImageHDU         9   (341, 62)    int32
2    RANK-1      ImageHDU        16   (341, 62)    float64
3    RANK0       ImageHDU        16   (341, 62)    float64
4    RANK1       ImageHDU        16   (341, 62)    float64
5    RANK2       ImageHDU        16   (341, 62)    float64
6    RANK3       ImageHDU        16   (341, 62)    float64
7    RANK4       ImageHDU        16   (341, 62)    float64
"""
RANK0_HEADER = """\
XTENSION= 'IMAGE   '           / Image extension
BITPIX  =                  -64 / array data type
NAXIS   =                    2 / number of array dimensions
NAXIS1  =                  341
NAXIS2  =                   62
PCOUNT  =                    0 / number of parameters
GCOUNT  =                    1 / number of groups
KIND    = 'fitted dark'        / The kind of image
RANK    =                    0 / The degree of polynom used for the scaling.
COEFFS  = '[1.4510501785354721]'
STDDEV  =    91.49142342107493 / Standard deviation of residual
EXTNAME = 'RANK0   '           / extension name
COMMENT The rank is '-1' for 'Additive' fitting, '0' is for 'Multiplicative' fit
COMMENT ting without additive offset. For all ranks larger than 0 it is equivale
COMMENT nt to the degree of the polynomial fit.
COMMENT The coefficients are listed highest rank first.
"""
_INFO_ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(?:\d+\s+)?(\w+HDU)\s+(\d+)\s+(\(.*?\))\s+(\w+)")


def _info_rows(text):
    return [m.groups() for m in map(_INFO_ROW.match, text.splitlines()) if m]


@pytest.fixture
def notebook(tmp_path, monkeypatch):
    """Server layout under IUVS_DATA_ROOT (a stage copy too), cwd a scratch folder."""
    root = tmp_path / "maven_iuvs"
    production = root / "production" / "products" / "level1b"
    stage = root / "stage" / "products" / "level1b"
    production.mkdir(parents=True)
    stage.mkdir(parents=True)
    path = iuvs.synthetic.write_l1b(production, layout="v00", n_darks=3, seed=2015)
    iuvs.synthetic.write_l1b(stage, layout="v00", n_darks=3, seed=1, revision="s01")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("IUVS_DATA_ROOT", str(root))
    monkeypatch.chdir(work)
    ns = {"np": np}  # the notebook ran with %pylab
    yield ns, path, work
    if "hdulist" in ns:
        ns["hdulist"].close()


def _run(cells, ns):
    """Execute cells like IPython: return the value of a last bare expression."""
    value = None
    for cell in cells:
        try:
            value = eval(compile(cell, "<cell>", "eval"), ns)
        except SyntaxError:
            exec(compile(cell, "<cell>", "exec"), ns)
            value = None
    return value


def test_loading_cells(notebook):
    ns, path, _ = notebook
    assert _run(LOADING[:3], ns) == [str(path.resolve())]  # Out[4]: the production file only
    _run(LOADING[3:], ns)
    assert ns["fname"][0].endswith(L1B_NAME)
    for k in range(3):
        assert ns[f"dark{k}"].shape == (62, 341)
        assert ns[f"dark{k}"].dtype.kind == "i" and ns[f"dark{k}"].dtype.itemsize == 4


def test_scaling_cells_write_the_notebooks_product(notebook, capsys):
    ns, _, work = notebook
    _run(LOADING + MODELING, ns)
    capsys.readouterr()
    _run(SCALING[:9], ns)  # up to and including fits.info(...)
    printed = capsys.readouterr().out
    got, expected = _info_rows(printed), _info_rows(INFO_OUTPUT)
    assert len(got) == len(expected) == 8
    for g, e in zip(got, expected, strict=True):
        assert (g[0], g[1], g[2], g[4], g[5]) == (e[0], e[1], e[2], e[4], e[5])
        assert int(g[3]) >= int(e[3])  # the notebook's cards, plus provenance and checksums
    assert sorted(p.name for p in work.iterdir()) == ["dark_fitting.fits"]

    header = _run(SCALING[9:10], ns)
    recorded = RANK0_HEADER.splitlines()
    cards = header.cards
    assert [c.keyword for c in cards[: len(recorded)]] == [line[:8].strip() for line in recorded]
    for card, line in zip(cards[: len(recorded)], recorded, strict=True):
        if card.keyword not in ("COEFFS", "STDDEV"):  # the values that depend on the data
            assert card.image.rstrip() == line.rstrip()
    # COEFFS and STDDEV against the notebook's own curve_fit and residual
    assert header["COEFFS"] == str([float(c) for c in ns["multscaler"].p])
    assert float(header["COEFFS"].strip("[]")) == pytest.approx(ns["mult_p0"][0], rel=1e-7)
    assert header["STDDEV"] == pytest.approx(ns["mult_residual"].std(), rel=1e-6)

    mean = _run(SCALING[10:], ns)  # hdulist[4].data.mean(): a fit with an intercept
    assert abs(mean) < 1e-8 * ns["hdulist"][4].data.std()


def test_scalers_agree_with_the_notebooks_own_fits(notebook):
    ns, _, _ = notebook
    _run(LOADING + MODELING + [POLYFIT] + SCALING[:8], ns)
    add, mult = ns["addscaler"], ns["multscaler"]
    np.testing.assert_allclose(add.p, ns["add_p0"], rtol=1e-7)
    np.testing.assert_allclose(add.perr, ns["add_perr"], rtol=1e-7)
    np.testing.assert_allclose(mult.p, ns["mult_p0"], rtol=1e-7)
    np.testing.assert_allclose(mult.perr, ns["mult_perr"], rtol=1e-7)
    scale = float(np.abs(ns["dark2"]).max())
    np.testing.assert_allclose(mult.residual, ns["mult_residual"], rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(add.residual, ns["add_residual"], rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(mult.fractional, ns["mult_fractional"], rtol=1e-6, atol=1e-9)
    manager = ns["polymanager"]
    product = iuvs.io.read_product("dark_fitting.fits")
    for scaler, coeffs, fractional_mean, model in zip(
        manager.scalers, manager.coeffs, manager.fractionals, product.models[2:], strict=True
    ):
        poly, residual, fractional, fitted = ns["do_polyfit"](scaler.rank, ns["dark1"], ns["dark2"])
        np.testing.assert_allclose(coeffs, poly.coeffs, rtol=1e-7)
        np.testing.assert_allclose(scaler.scaled, fitted, rtol=1e-9)
        np.testing.assert_allclose(model.residual, residual, rtol=0, atol=1e-6 * scale)
        assert model.stddev == pytest.approx(residual.std(), rel=1e-6)
        assert fractional_mean == pytest.approx(fractional.mean(), rel=1e-6)
    assert [m.extname for m in product.models] == [r[1] for r in _info_rows(INFO_OUTPUT)[2:]]


def test_hot_pixel_cut_matches_the_notebooks_filtering(notebook):
    ns, _, _ = notebook
    _run(LOADING + MODELING + HOT, ns)
    assert ns["hot_d1_pixels"].any()
    manager = iuvs.scaling.PolyScalerManager(ns["dark1"], ns["dark2"], 1, 3, hot_threshold=2500)
    for scaler in manager.scalers:
        poly, residual, fractional = ns["do_polyfit"](
            scaler.rank, ns["filtered_in"], ns["filtered_out"]
        )
        np.testing.assert_allclose(scaler.p, poly.coeffs, rtol=1e-7)
        assert scaler.stats.n_used == ns["filtered_in"].size
        assert scaler.stats.std == pytest.approx(residual.std(), rel=1e-6)
        assert scaler.stats.frac_mean == pytest.approx(fractional.mean(), rel=1e-6)
