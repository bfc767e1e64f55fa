"""The iuvs command line: demo, fit, exit codes, --version, -q/-v and python -m iuvs.

Printed coefficients and pixel counts are checked against numpy.polyfit / numpy on darks read
with astropy."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs.cli import DEMO_FILE, DEMO_LIGHT_FILE, main

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


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
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


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_demo_reruns_in_its_own_folder(tmp_path, capsys):
    assert main(["-q", "demo", "--out", str(tmp_path / "d")]) == 0
    assert main(["-q", "demo", "--out", str(tmp_path / "d")]) == 0
    assert capsys.readouterr().out == ""  # -q: no table
    assert sorted(os.listdir(tmp_path / "d")) == sorted(
        [
            ".iuvs-demo",
            DEMO_FILE,
            DEMO_LIGHT_FILE,
            "dark_fitting.fits",
            "dark_fitting_hot2500.fits",
            "report.html",
            "dark_correction.fits",
            "dark_correction.html",
        ]
    )


def test_demo_refuses_foreign_files(tmp_path, capsys):
    (tmp_path / "dark_fitting.fits").write_bytes(b"somebody's product")
    assert main(["demo", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "iuvs: error:" in err and "dark_fitting.fits" in err and "Traceback" not in err
    assert (tmp_path / "dark_fitting.fits").read_bytes() == b"somebody's product"


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
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


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_verbose_logs_to_stderr(tmp_path, capsys):
    assert main(["-v", "demo", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "INFO" in err and "dark_fitting.fits" in err


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
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


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_logging_is_restored_after_main(tmp_path):
    import logging

    logger = logging.getLogger("iuvs")
    handlers, level = list(logger.handlers), logger.level
    assert main(["-v", "-q", "demo", "--out", str(tmp_path)]) == 0
    assert main(["fit", str(tmp_path / "missing.fits")]) == 1
    assert logger.handlers == handlers and logger.level == level


# ------------------------------------------------------------- ranks, json, report, info


@pytest.mark.parametrize(
    ("spec", "ranks"),
    [
        (["--ranks", "-1:4"], [-1, 0, 1, 2, 3, 4]),
        (["--ranks=-1:1"], [-1, 0, 1]),
        (["--ranks", "-1,0,2"], [-1, 0, 2]),
        (["--ranks", "0", "3"], [0, 3]),
        (["--ranks", "2:3", "5"], [2, 3, 5]),
    ],
)
def test_rank_specifications(l1b, spec, ranks, capsys):
    assert main(["fit", str(l1b), *spec, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["rank"] for m in doc["models"]] == ranks


@pytest.mark.parametrize("spec", ["4:1", "-1:13", "a:b", "-3:1"])
def test_bad_rank_ranges_exit_2(l1b, spec, capsys):
    assert main(["fit", str(l1b), f"--ranks={spec}"]) == 2
    assert "usage:" in capsys.readouterr().err


def test_fit_json_matches_numpy(l1b, capsys):
    assert main(["fit", str(l1b), "--json", "--hot-threshold", "2500", "--criterion", "aic"]) == 0
    doc = json.loads(capsys.readouterr().out)
    darks = _darks(l1b)
    x, y = darks[1].ravel(), darks[2].ravel()
    keep = x <= 2500
    models = {m["name"]: m for m in doc["models"]}
    for deg in (1, 2, 3, 4):
        p, cov = np.polyfit(x[keep], y[keep], deg, cov=True)
        m = models[f"poly{deg}"]
        np.testing.assert_allclose(m["coeffs"], p, rtol=1e-8)
        np.testing.assert_allclose(m["perr"], np.sqrt(np.diag(cov)), rtol=1e-6)
        res = y[keep] - np.polyval(p, x[keep])
        assert m["stats"]["std"] == pytest.approx(np.std(res), rel=1e-8)
        assert m["stats"]["n_used"] == int(keep.sum())
        assert m["stats"]["n_excluded"] == int((~keep).sum())
    assert models["multiplicative"]["coeffs"][0] == pytest.approx(
        x[keep] @ y[keep] / (x[keep] @ x[keep]), rel=1e-10
    )
    # the chosen rank is the lowest AIC, computed here independently
    n = keep.sum()
    aic = {}
    for m in doc["models"]:
        k = 1 if m["rank"] <= 0 else m["rank"] + 1
        ssr = m["stats"]["rms"] ** 2 * n
        aic[m["rank"]] = n * np.log(ssr / n) + 2 * k
    assert doc["chosen_rank"] == min(aic, key=aic.get)
    assert sum(m["chosen"] for m in doc["models"]) == 1
    assert doc["metadata"]["n_darks"] == 3 and doc["metadata"]["channel"] == "MUV"
    assert doc["darks"] == [1, 2] and doc["product"] is None


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_fit_report(l1b, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["fit", str(l1b), "--ranks", "-1:2", "--report", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["dark_fitting.fits", "report.html"]
    page = (out / "report.html").read_text()
    assert l1b.name in page and "poly2" in page and "<table>" in page
    with fits.open(out / "dark_fitting.fits", checksum=True) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "DARK2", "RANK-1", "RANK0", "RANK1", "RANK2"]
    # a second run refuses to replace the report without --overwrite
    stamp = (out / "report.html").read_bytes()
    assert main(["fit", str(l1b), "--report", str(out)]) == 1
    assert "exists" in capsys.readouterr().err
    assert (out / "report.html").read_bytes() == stamp
    assert main(["-q", "fit", str(l1b), "--report", str(out), "--overwrite"]) == 0


def test_info_text_and_json(tmp_path, capsys):
    v13 = iuvs.synthetic.write_l1b(tmp_path, layout="v13", n_darks=2, seed=3)
    v00 = iuvs.synthetic.write_l1b(tmp_path, layout="v00", n_darks=3, seed=4)
    assert main(["info", str(v13), str(v00)]) == 0
    text = capsys.readouterr().out
    assert v13.name in text and v00.name in text and "detector_dark" in text
    assert main(["info", "--json", str(v13), str(v00)]) == 0
    docs = json.loads(capsys.readouterr().out)
    for doc, path in zip(docs, (v13, v00), strict=True):
        with fits.open(path) as hdul:
            names = [h.name.upper() for h in hdul]
            dark = hdul["DETECTOR_DARK"].data
            # v02+: DET_TEMP_C; v00/v01: raw DET_TEMP (DN), deg C = DN * -0.0749 + 174.08
            temps = (
                hdul["DARK_INTEGRATION"].data["DET_TEMP_C"].tolist()
                if "DARK_INTEGRATION" in names
                else (hdul["DARKENGINEERING"].data["DET_TEMP"] * -0.0749 + 174.08).tolist()
            )
            exts = {e["name"].upper(): e for e in doc["extensions"]}
            assert list(exts) == names
            assert exts["DETECTOR_DARK"]["shape"] == list(dark.shape)
            assert exts["DETECTOR_DARK"]["dtype"] == dark.dtype.str
            assert doc["n_darks"] == dark.shape[0]
            assert doc["dark_shape"] == list(dark.shape[1:])
            assert doc["int_time"] == hdul[0].header["INT_TIME"]
            assert doc["channel"] == hdul[0].header["XUV"]
        np.testing.assert_allclose(doc["dark_temps"], temps, rtol=1e-6)
        assert len(doc["dark_times"]) == doc["n_darks"]


def test_info_corrupt_file_among_good_ones(tmp_path, capsys):
    good = iuvs.synthetic.write_l1b(tmp_path, seed=5)
    bad = tmp_path / "mvn_iuv_l1b_broken-muv_20140521T120029_v13_r01.fits.gz"
    bad.write_bytes(good.read_bytes()[:5000])  # truncated gzip
    assert main(["info", "--json", str(good), str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    docs = json.loads(captured.out)
    assert [("error" in d) for d in docs] == [False, True, False]
    assert bad.name in captured.err and "Traceback" not in captured.err
    # -v adds the traceback
    assert main(["-v", "info", str(bad)]) == 1
    assert "Traceback" in capsys.readouterr().err


@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_cli_subprocess_every_subcommand(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "error"}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "iuvs", *args], capture_output=True, text=True, env=env
        )

    done = run("-q", "demo", "--out", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "demo" / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 6  # the notebook's figures
    l1b_file = tmp_path / "demo" / DEMO_FILE
    done = run("info", "--json", str(l1b_file))
    assert done.returncode == 0 and json.loads(done.stdout)[0]["n_darks"] == 3
    done = run("fit", str(l1b_file), "--ranks", "-1:1", "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)["models"]) == 3
    done = run("fit", str(tmp_path / "nothing.fits"))
    assert done.returncode == 1 and "nothing.fits" in done.stderr and "Traceback" not in done.stderr
    done = run("fit", str(l1b_file), "--ranks", "99")
    assert done.returncode == 2 and "usage:" in done.stderr


def test_json_is_strict_with_missing_temperatures(tmp_path, capsys):
    source = iuvs.synthetic.write_l1b(tmp_path, n_darks=2, seed=2, dark_temps=(-18.0, -17.0))
    path = tmp_path / source.name.replace(".fits.gz", ".fits")
    with fits.open(source) as hdul:
        hdul["DARK_INTEGRATION"].data["DET_TEMP_C"][0] = np.nan  # a telemetry gap
        hdul.writeto(path)

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    assert main(["fit", str(path), "--darks", "0", "1", "--ranks", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=reject)
    assert doc["metadata"]["dark_temps"][0] is None
    assert doc["metadata"]["dark_temps"][1] == pytest.approx(-17.0)
    assert main(["info", "--json", str(path)]) == 0
    (info,) = json.loads(capsys.readouterr().out, parse_constant=reject)
    assert info["dark_temps"][0] is None
