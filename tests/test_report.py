"""iuvs.report: the one-page HTML report beside the product, checked against astropy and numpy."""

from __future__ import annotations

import base64
import builtins
import html
import logging
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs.exceptions import (
    DarkIndexError,
    FileFormatError,
    InvalidParameterError,
    OutputExistsError,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def l1b(tmp_path_factory):
    return iuvs.synthetic.write_l1b(
        tmp_path_factory.mktemp("l1b"), layout="v13", n_darks=3, seed=11
    )


def _cells(page):
    """Rows of the models table: name -> list of cell texts."""
    table = page.split("<h2>Models</h2>", 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, flags=re.S)[1:]:
        cells = [
            html.unescape(re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        ]
        rows[cells[0].split()[0]] = cells
    return rows


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_report_tables_figures_and_product(l1b, tmp_path):
    out = tmp_path / "r"
    result = iuvs.report(l1b, out, hot_threshold=2500)
    assert result.html == out / "report.html" and result.product == out / "dark_fitting.fits"
    page = result.html.read_text()
    # figures embedded as decodable PNGs: the notebook's six plus the hot-pixel mask
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == result.figures == 7
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    with fits.open(l1b) as hdul:
        darks = np.asarray(hdul["detector_dark"].data, dtype=float)
        temps = hdul["dark_integration"].data["DET_TEMP_C"]
        int_time = hdul[0].header["INT_TIME"]
    # metadata: observation, channel, integration time, dark temperatures
    assert "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029" in page
    assert "MUV" in page and f"{int_time:.6g}" in page
    assert f"{temps[1]:.6g}" in page and f"{temps[2]:.6g}" in page
    # the models table against numpy
    x, y = darks[1].ravel(), darks[2].ravel()
    keep = x <= 2500
    rows = _cells(page)
    assert list(rows) == ["additive", "multiplicative", "poly1", "poly2", "poly3", "poly4"]
    for deg in (1, 2):
        p, cov = np.polyfit(x[keep], y[keep], deg, cov=True)
        shown = [float(v) for v in re.findall(r"(-?[\d.]+(?:e[-+]\d+)?) ±", rows[f"poly{deg}"][2])]
        np.testing.assert_allclose(shown, p, rtol=1e-7)
        res = y[keep] - np.polyval(p, x[keep])
        assert float(rows[f"poly{deg}"][4]) == pytest.approx(np.std(res), rel=1e-3)
        assert int(rows[f"poly{deg}"][9]) == keep.sum()
    assert sum("(chosen)" in r[0] for r in rows.values()) == 1
    # the product beside it verifies
    with fits.open(result.product, checksum=True) as hdul:
        assert hdul["RANK2"].header["NUSED"] == keep.sum()


def test_report_refuses_to_overwrite(l1b, tmp_path):
    out = tmp_path / "r"
    iuvs.report(l1b, out, ranks=[0, 1], figures=False)
    stamp = (out / "report.html").read_bytes()
    with pytest.raises(OutputExistsError):
        iuvs.report(l1b, out, ranks=[0, 1], figures=False)
    assert (out / "report.html").read_bytes() == stamp
    iuvs.report(l1b, out, ranks=[0], figures=False, overwrite=True)
    assert (out / "report.html").read_bytes() != stamp
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_report_without_matplotlib(l1b, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    result = iuvs.report(l1b, tmp_path / "r", ranks=[0, 1], product=None)
    page = result.html.read_text()
    assert result.figures == 0 and result.product is None
    assert "iuvs[plot]" in page and "<table>" in page


def test_report_bad_inputs(l1b, tmp_path):
    with pytest.raises(FileFormatError, match="missing"):
        iuvs.report(tmp_path / "missing.fits.gz", tmp_path / "r")
    with pytest.raises(DarkIndexError):
        iuvs.report(l1b, tmp_path / "r", darks=(0, 7))
    with pytest.raises(InvalidParameterError):
        iuvs.report(l1b, tmp_path / "r", darks=(1, 1))
    with pytest.raises(InvalidParameterError):
        iuvs.report(l1b, tmp_path / "r", darks=(1,))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidParameterError):
        iuvs.report(l1b, tmp_path / "afile")
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------- issue 20: the report's rough edges
def _file_rows(page):
    """Rows of the report's File table: label -> cell text."""
    table = page.split("<h2>File</h2>", 1)[1].split("</table>", 1)[0]
    return {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<th class="l">(.*?)</th><td class="l">(.*?)</td>', table)
    }


@pytest.fixture(scope="module")
def v00(tmp_path_factory):
    return iuvs.synthetic.write_l1b(
        tmp_path_factory.mktemp("v00"), layout="v00", n_darks=3, seed=12
    )


def test_report_without_matplotlib_advises_once(v00, tmp_path, monkeypatch, caplog):
    from iuvs import reporting

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises
    monkeypatch.setattr(reporting, "_ADVISED", set())  # as in a fresh process
    with caplog.at_level(logging.INFO, logger="iuvs.report"):
        first = iuvs.report(v00, tmp_path / "a", ranks=[0, 1], product=None)
        second = iuvs.report(v00, tmp_path / "b", ranks=[0, 1], product=None)
    for result in (first, second):
        page = html.unescape(result.html.read_text())
        assert result.figures == 0 and "data:image/png" not in page
        assert page.count('pip install "iuvs[plot]"') == 1
        assert page.count("matplotlib") == 1  # no second sentence about it
        assert "write this page again" in page and "--overwrite" in page
    # the log gives the advice once per process, not once per page
    advice = [r for r in caplog.records if "iuvs[plot]" in r.getMessage()]
    assert len(advice) == 1 and advice[0].levelno == logging.WARNING


def test_report_other_import_error_is_not_called_matplotlib(v00, tmp_path, monkeypatch):
    from iuvs import reporting

    def draw_fails(a):
        raise ImportError("No module named 'scipy.special'")

    monkeypatch.setattr(reporting, "_figures", draw_fails)
    page = html.unescape(iuvs.report(v00, tmp_path, ranks=[0], product=None).html.read_text())
    assert "No figures: No module named 'scipy.special'." in page and "iuvs[plot]" not in page


def test_report_v00_dark_temperatures_converted_from_dn(v00, tmp_path):
    result = iuvs.report(v00, tmp_path, darks=(0, 2), ranks=[0], product=None, figures=False)
    rows = _file_rows(result.html.read_text())
    with fits.open(v00) as hdul:
        names = [h.name.upper() for h in hdul]
        assert "DARK_INTEGRATION" not in names and "DARKINTEGRATION" in names
        assert "DET_TEMP_C" not in hdul["DARKINTEGRATION"].columns.names
        dn = np.asarray(hdul["DARKENGINEERING"].data["DET_TEMP"], dtype=float)
    expected = dn * -0.0749 + 174.08  # the IUVS team's conversion (iuvs.io.l1b, File format)
    assert -25.0 < expected.min() < expected.max() < -10.0  # a cold detector, in deg C
    for label, k in (("dark_in", 0), ("dark_out", 2)):
        cell = rows[f"{label} temperature (deg C)"]
        assert cell.startswith(f"{expected[k]:.6g} (from DarkEngineering.DET_TEMP")
        assert "-0.0749" in cell and "174.08" in cell
    # the same values in the JSON metadata (iuvs fit --json, iuvs info --json)
    meta = result.analysis.metadata
    np.testing.assert_allclose(meta["dark_temps"], expected, rtol=1e-12)
    assert "dark_temps" not in meta["why_missing"]


def test_report_says_why_the_orbit_is_empty(v00, tmp_path):
    rows = _file_rows(iuvs.report(v00, tmp_path, ranks=[0], figures=False).html.read_text())
    assert v00.name.startswith("mvn_iuv_l1b_cruisecal2-mode080-muv_")  # no orbitNNNNN field
    orbit = rows["orbit"]
    assert orbit.startswith("none: the file name has no orbitNNNNN field")
    assert "'cruisecal2'" in orbit and "no ORBIT_NUMBER" in orbit


def test_report_orbit_from_the_name_or_the_observation_table(tmp_path):
    real = DATA / "mvn_iuv_l1b_apoapse-orbit18001-muv_20230114T071804_v13_r01.fits.gz"
    with fits.open(real) as hdul:
        orbit = int(hdul["OBSERVATION"].data["ORBIT_NUMBER"][0])
        temps = np.asarray(hdul["DARK_INTEGRATION"].data["DET_TEMP_C"], dtype=float)
    assert orbit == 18001
    rows = _file_rows(iuvs.report(real, tmp_path / "a", ranks=[0], figures=False).html.read_text())
    assert rows["orbit"] == "18001"
    assert rows["dark_out temperature (deg C)"] == (
        f"{temps[2]:.6g} (from Dark_Integration.DET_TEMP_C)"
    )
    # renamed out of the IUVS grammar: the orbit comes from Observation.ORBIT_NUMBER
    renamed = tmp_path / "darks.fits.gz"
    shutil.copyfile(real, renamed)
    rows = _file_rows(
        iuvs.report(renamed, tmp_path / "b", ranks=[0], figures=False).html.read_text()
    )
    assert rows["orbit"] == "18001"


def test_report_says_why_the_temperatures_are_empty(tmp_path):
    source = iuvs.synthetic.write_l1b(tmp_path, layout="v13", n_darks=2, seed=13)
    stripped = tmp_path / "mvn_iuv_l1b_apoapse-orbit00109-muv_20150101T120000_v13_r01.fits"
    with fits.open(source) as hdul:
        keep = [h for h in hdul if h.name.upper() not in ("DARK_INTEGRATION", "DARK_ENGINEERING")]
        fits.HDUList(keep).writeto(stripped)
    result = iuvs.report(stripped, tmp_path / "r", darks=(0, 1), ranks=[0], figures=False)
    rows = _file_rows(result.html.read_text())
    assert rows["orbit"] == "109"
    for label in ("dark_in", "dark_out"):
        cell = rows[f"{label} temperature (deg C)"]
        assert cell.startswith("not in the file")
        assert "Dark_Integration.DET_TEMP_C" in cell and "Dark_Engineering.DET_TEMP" in cell


def test_report_residual_histograms_leave_out_the_hot_pixels(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.patches import StepPatch

    from iuvs import reporting

    path = iuvs.synthetic.write_l1b(tmp_path, layout="v00", n_darks=3, seed=14)
    a = reporting.analyse(path, ranks=[-1, 0, 2], hot_threshold=2500)
    assert all(f.mask is None for f in a.fits)  # Fit.mask holds clipped pixels only
    drawn = dict(reporting._figures(a))
    (caption,) = [c for c in drawn if c.startswith("Residual histograms")]
    with fits.open(path) as hdul:
        x = np.asarray(hdul["DETECTOR_DARK"].data[1], dtype=float).ravel()
        y = np.asarray(hdul["DETECTOR_DARK"].data[2], dtype=float).ravel()
    keep = x <= 2500
    assert 0 < (~keep).sum() < keep.size // 10  # the file has hot pixels
    assert f"without the {(~keep).sum()} hot pixels" in caption
    fig = drawn[caption]
    n = len(a.fits)
    for fit, ax in zip(a.fits, fig.axes[:n], strict=True):
        if fit.rank == -1:
            model = x + fit.coeffs[0]
        elif fit.rank == 0:
            model = fit.coeffs[0] * x
        else:
            model = np.polyval(fit.coeffs, x)
        residual = (y - model)[keep]
        (patch,) = [p for p in ax.patches if isinstance(p, StepPatch)]
        counts, edges = np.histogram(residual, bins=100)
        np.testing.assert_array_equal(patch.get_data().values, counts)
        np.testing.assert_allclose(patch.get_data().edges, edges, rtol=1e-9, atol=1e-9)
        assert counts.sum() == fit.stats.n_used == keep.sum()
