"""iuvs.report: the one-page HTML report beside the product, checked against astropy and numpy."""

from __future__ import annotations

import base64
import builtins
import html
import re

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
