"""The iuvs command line: demo, fit, exit codes, --version, -q/-v and python -m iuvs.

Printed coefficients and pixel counts are checked against numpy.polyfit / numpy on darks read
with astropy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs.cli import DEMO_FILE, main

RANK_NAMES = ["RANK-1", "RANK0", "RANK1", "RANK2", "RANK3", "RANK4"]


@pytest.fixture(scope="module")
def l1b(tmp_path_factory):
    folder = tmp_path_factory.mktemp("l1b")
    return iuvs.synthetic.write_l1b(folder, layout="v00", n_darks=3, seed=7)


def _darks(path):
    with fits.open(path) as hdul:
        d = np.asarray(hdul["detector_dark"].data, dtype=float)
    return d


def _rows(text, title):
    """Rows of the table printed after `title`: {model: [cells]}."""
    block = text.split(title, 1)[1].strip().splitlines()
    rows = {}
    for line in block[2:]:  # skip the header and the dashes
        if not line.strip() or line.startswith("wrote"):
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells[1:]
    return rows


def _coeffs(cell):
    return [float(c) for c in cell.split(", ")]


# ------------------------------------------------------------------------------- demo


def test_demo_writes_the_product_and_prints_the_tables(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / DEMO_FILE).exists()
    # all pixels: exactly the notebook's product
    info = fits.info(tmp_path / "dark_fitting.fits", output=False)
    assert [r[1] for r in info] == ["PRIMARY", "DARK2", *RANK_NAMES]
    assert [r[6] for r in info] == ["int32"] * 2 + ["float64"] * 6
    assert all(r[5] == (341, 62) for r in info)
    # with the hot-pixel cut every model is followed by the uint8 mask it used
    info = fits.info(tmp_path / "dark_fitting_hot2500.fits", output=False)
    names = [r[1] for r in info]
    assert names[:2] == ["PRIMARY", "DARK2"]
    assert names[2::2] == RANK_NAMES
    assert names[3::2] == [n.replace("RANK", "MASK") for n in RANK_NAMES]
    assert [r[6] for r in info][3::2] == ["uint8"] * 6
    assert all(r[5] == (341, 62) for r in info)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]

    darks = _darks(tmp_path / DEMO_FILE)
    x, y = darks[1].ravel(), darks[2].ravel()
    plain = _rows(out, "All pixels:")
    hot = _rows(out, "Hot pixels excluded (dark_in > 2500 DN):")
    assert (
        list(plain)
        == list(hot)
        == [
            "additive",
            "multiplicative",
            "poly1",
            "poly2",
            "poly3",
            "poly4",
        ]
    )
    keep = x <= 2500
    for rank in (1, 2, 3):
        # printed with 6 significant digits
        np.testing.assert_allclose(
            _coeffs(plain[f"poly{rank}"][0]), np.polyfit(x, y, rank), rtol=1e-5
        )
        np.testing.assert_allclose(
            _coeffs(hot[f"poly{rank}"][0]), np.polyfit(x[keep], y[keep], rank), rtol=1e-5
        )
    assert float(plain["multiplicative"][0]) == pytest.approx(x @ y / (x @ x), rel=1e-5)
    assert float(plain["additive"][0]) == pytest.approx(np.mean(y - x), rel=1e-5)
    # residual std and fractional mean over the used pixels; pixels used / total
    p1 = np.polyfit(x[keep], y[keep], 1)
    res = y[keep] - np.polyval(p1, x[keep])
    assert float(hot["poly1"][1]) == pytest.approx(np.std(res), abs=1e-3)
    assert float(hot["poly1"][2]) == pytest.approx(np.mean(res / y[keep]), rel=1e-3)
    assert hot["poly1"][3] == f"{keep.sum()}/{x.size}"
    assert plain["poly1"][3] == f"{x.size}/{x.size}"


def test_demo_reruns_in_its_own_folder(tmp_path, capsys):
    assert main(["-q", "demo", "--out", str(tmp_path / "d")]) == 0
    assert main(["-q", "demo", "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out == ""  # -q: no table
    assert sorted(os.listdir(tmp_path / "d")) == sorted(
        [".iuvs-demo", DEMO_FILE, "dark_fitting.fits", "dark_fitting_hot2500.fits"]
    )


def test_demo_refuses_foreign_files(tmp_path, capsys):
    (tmp_path / "dark_fitting.fits").write_bytes(b"somebody's product")
    assert main(["demo", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "iuvs: error:" in err and "dark_fitting.fits" in err and "Traceback" not in err
    assert (tmp_path / "dark_fitting.fits").read_bytes() == b"somebody's product"


def test_demo_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["-q", "demo"]) == 0
    assert (tmp_path / "iuvs_demo" / "dark_fitting.fits").exists()


# -------------------------------------------------------------------------------- fit


def test_fit_prints_without_writing(l1b, capsys):
    before = sorted(os.listdir(l1b.parent))
    assert main(["fit", str(l1b)]) == 0
    out = capsys.readouterr().out
    rows = _rows(out, "All pixels:")
    assert list(rows) == ["additive", "multiplicative", "poly1", "poly2", "poly3", "poly4"]
    darks = _darks(l1b)
    np.testing.assert_allclose(
        _coeffs(rows["poly2"][0]), np.polyfit(darks[1].ravel(), darks[2].ravel(), 2), rtol=1e-5
    )
    assert sorted(os.listdir(l1b.parent)) == before


def test_fit_writes_a_product(l1b, tmp_path, capsys):
    out = tmp_path / "p.fits"
    args = ["fit", str(l1b), "--ranks", "1", "2", "--hot-threshold", "2500", "--darks", "0", "2"]
    assert main([*args, "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    darks = _darks(l1b)
    keep = darks[0] <= 2500
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DARK2", "RANK1", "MASK1", "RANK2", "MASK2"]
        np.testing.assert_array_equal(hdul["MASK2"].data, (~keep).astype(np.uint8))
        np.testing.assert_array_equal(hdul[0].data, darks[0])
        np.testing.assert_array_equal(hdul[1].data, darks[2])
        h = hdul["RANK2"].header
        assert h["HOTTHR"] == 2500 and h["NUSED"] == int(keep.sum())
        np.testing.assert_allclose(
            [h["C2"], h["C1"], h["C0"]],  # C<k> multiplies x**k
            np.polyfit(darks[0][keep], darks[2][keep], 2),
            rtol=1e-7,
        )
        assert str(l1b) in "".join(str(c) for c in hdul[0].header["HISTORY"])
    # refuses to replace without --overwrite, replaces with it
    stamp = out.read_bytes()
    assert main([*args, "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == stamp
    assert main([*args, "--out", str(out), "--overwrite", "--ranks", "0"]) == 0
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DARK2", "RANK0", "MASK0"]


def test_fit_with_clip_and_hot_sigma(l1b, capsys):
    assert main(["fit", str(l1b), "--ranks", "1", "--hot-sigma", "5", "--clip", "4"]) == 0
    out = capsys.readouterr().out
    assert "hot pixels above 5 sigma excluded; residuals clipped at 4 sigma:" in out


def test_fit_refuses_to_write_over_its_input(l1b, capsys):
    stamp = l1b.read_bytes()
    assert main(["fit", str(l1b), "--out", str(l1b), "--overwrite"]) == 1
    assert "one of the inputs" in capsys.readouterr().err
    assert l1b.read_bytes() == stamp


# ------------------------------------------------------------------ failures and usage


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["fit"],
        ["fit", "x.fits", "--ranks", "13"],
        ["fit", "x.fits", "--ranks", "-2"],
        ["fit", "x.fits", "--ranks", "two"],
        ["fit", "x.fits", "--ranks", "1", "1"],
        ["fit", "x.fits", "--darks", "1", "1"],
        ["fit", "x.fits", "--darks", "1"],
        ["fit", "x.fits", "--hot-threshold", "nan"],
        ["fit", "x.fits", "--hot-threshold", "1", "--hot-sigma", "3"],
        ["fit", "x.fits", "--clip", "0"],
        ["demo", "--bogus"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_files_exit_1(tmp_path, capsys):
    garbage = tmp_path / "mvn_iuv_l1b_x-muv_20140521T120029_v00_r00.fits.gz"
    garbage.write_bytes(b"<html>404</html>")
    for path in (garbage, tmp_path / "missing.fits"):
        assert main(["fit", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("iuvs: error:") and path.name in err and "Traceback" not in err


def test_too_few_darks_exit_1(tmp_path, capsys):
    two = iuvs.synthetic.write_l1b(tmp_path, n_darks=2, seed=1)
    assert main(["fit", str(two)]) == 1  # the notebook's darks 1 and 2 need three
    assert "iuvs: error:" in capsys.readouterr().err
    assert main(["fit", str(two), "--darks", "0", "1", "--ranks", "0"]) == 0


def test_version_and_help(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"iuvs {version('iuvs')}"
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_verbose_logs_to_stderr(tmp_path, capsys):
    assert main(["-v", "demo", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "INFO" in err and "dark_fitting.fits" in err


def test_python_dash_m(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, "-m", "iuvs", "--version"], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and done.stdout.strip() == f"iuvs {version('iuvs')}"
    done = subprocess.run([sys.executable, "-m", "iuvs"], capture_output=True, text=True)
    assert done.returncode == 2
    done = subprocess.run(
        [sys.executable, "-m", "iuvs", "fit", str(tmp_path / "none.fits")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr


def test_warnings_are_logged_with_the_file(l1b, monkeypatch, capsys):
    import warnings

    import iuvs.scaling

    real = iuvs.scaling.fit_scalers

    def warning_fit(*args, **kw):
        warnings.warn("something odd in the darks", iuvs.exceptions.IuvsWarning, stacklevel=2)
        return real(*args, **kw)

    monkeypatch.setattr(iuvs.scaling, "fit_scalers", warning_fit)
    assert main(["fit", str(l1b), "--ranks", "1"]) == 0
    err = capsys.readouterr().err
    assert "WARNING" in err and "something odd in the darks" in err and l1b.name in err


def test_logging_is_restored_after_main(tmp_path):
    import logging

    logger = logging.getLogger("iuvs")
    handlers, level = list(logger.handlers), logger.level
    assert main(["-v", "-q", "demo", "--out", str(tmp_path)]) == 0
    assert main(["fit", str(tmp_path / "missing.fits")]) == 1
    assert logger.handlers == handlers and logger.level == level
