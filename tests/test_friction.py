"""The command line's and the walkthrough's rough edges (issue 20, item 2): one test each."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from astropy.io import fits

import iuvs
from iuvs.cli import main


@pytest.fixture(scope="module")
def l1b(tmp_path_factory):
    folder = tmp_path_factory.mktemp("l1b")
    return iuvs.synthetic.write_l1b(folder, layout="v00", n_darks=3, seed=7)


# ------------------------------------------------------- -v / -q after the subcommand
def test_quiet_after_the_subcommand(l1b, capsys):
    assert main(["fit", str(l1b), "--ranks", "0", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["info", str(l1b), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_verbose_after_the_subcommand_adds_to_the_one_before(tmp_path, l1b, capsys):
    bad = tmp_path / "missing.fits"
    assert main(["info", str(bad), "-v"]) == 1
    assert "Traceback" in capsys.readouterr().err  # -v after the subcommand: traceback
    # options before and after the subcommand both count
    assert main(["-q", "info", str(l1b), str(bad), "-v"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" in captured.err


@pytest.mark.parametrize("command", ["demo", "fit", "subtract", "info", "survey", "superdark"])
def test_every_subcommand_accepts_v_and_q(command, capsys):
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "-v, --verbose" in text and "-q, --quiet" in text


# ------------------------------------------------------------------- broken pipe
def test_info_into_a_closed_pipe_is_quiet(l1b):
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iuvs", "info", str(l1b), str(l1b)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before anything is written (like `| head -0`)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""


def test_info_head_one_in_a_shell(l1b):
    done = subprocess.run(
        [
            "bash",
            "-c",
            f'set -o pipefail; "{sys.executable}" -m iuvs info "{l1b}" "{l1b}" | head -1',
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == l1b.name and "Broken pipe" not in done.stderr


# ------------------------------------------------------------------------ survey
def test_survey_names_the_failed_files_on_stderr(tmp_path, capsys):
    pytest.importorskip("pandas")
    good = iuvs.synthetic.write_l1b(tmp_path, n_int=1, n_spa=7, n_spe=64, seed=1)
    bad = tmp_path / "mvn_iuv_l1b_broken-muv_20140521T130000_v13_r01.fits.gz"
    bad.write_bytes(good.read_bytes()[:3000])  # truncated gzip
    out = tmp_path / "s.csv"
    assert main(["survey", str(tmp_path), "-o", str(out), "--ranks", "0", "-q", "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("iuvs: error:")]
    assert len(lines) == 1, err
    assert bad.name in lines[0] and good.name not in err and "Traceback" not in err


def test_survey_without_pandas_says_what_to_install(tmp_path, monkeypatch, capsys):
    iuvs.synthetic.write_l1b(tmp_path, n_int=1, n_spa=7, n_spe=64, seed=1)
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` raises ImportError
    assert main(["survey", str(tmp_path), "-o", str(tmp_path / "s.csv"), "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert 'pip install "iuvs[survey]"' in err


# --------------------------------------------------------- a pattern that matches nothing
def test_no_match_keeps_returning_an_empty_list(tmp_path):
    found = iuvs.io.l1b_filenames("apoapse", root=tmp_path)
    assert found == [] and isinstance(found, list)


def test_reader_of_no_match_names_pattern_and_folder(tmp_path):
    iuvs.synthetic.write_l1b(tmp_path, seed=1)  # a cruisecal file: does not match
    found = iuvs.io.l1b_filenames("apoapse", root=tmp_path)
    with pytest.raises(iuvs.exceptions.FileFormatError) as info:
        iuvs.io.L1BReader(found)
    message = str(info.value)
    assert "no L1B file matched 'apoapse'" in message and str(tmp_path) in message
    assert "IUVS_DATA_ROOT" in message and "reads one file" not in message


def test_required_raises_when_nothing_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("IUVS_DATA_ROOT", str(tmp_path))
    with pytest.raises(iuvs.exceptions.FileFormatError, match="no L1B file matched 'x-muv' under"):
        iuvs.io.l1b_filenames("x-muv", required=True)
    written = iuvs.synthetic.write_l1b(tmp_path, seed=1)
    assert iuvs.io.l1b_filenames("cruisecal", required=True) == [str(written)]


def test_reader_of_several_matches_says_how_to_pick_one(tmp_path):
    iuvs.synthetic.write_l1b(tmp_path, seed=1)
    iuvs.synthetic.write_l1b(tmp_path, seed=1, timestamp="20140521T130000")
    found = iuvs.io.l1b_filenames("cruisecal", root=tmp_path)
    assert len(found) == 2
    with pytest.raises(iuvs.exceptions.InvalidParameterError, match=r"2 L1B files matched.*\[0\]"):
        iuvs.io.L1BReader(found)
    with iuvs.io.L1BReader(found[:1]) as l1b:  # a plain one-path list still works
        assert l1b.n_darks == 2


# ------------------------------------------------------- write_l1b into a new folder
@pytest.mark.parametrize("given", ["data", "data/", "deep/er/data"])
def test_write_l1b_creates_a_missing_folder(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    written = iuvs.synthetic.write_l1b(given, seed=1)
    folder = tmp_path / given.rstrip("/")
    assert folder.is_dir() and written.parent.resolve() == folder.resolve()
    assert written.name.startswith("mvn_iuv_l1b_") and written.name.endswith(".fits.gz")
    assert iuvs.io.l1b_filenames(root=folder) == [str(written.resolve())]


def test_write_l1b_to_a_file_name_still_writes_that_file(tmp_path):
    target = tmp_path / "my.fits"
    assert iuvs.synthetic.write_l1b(target, gzip=False, seed=1) == target
    assert target.is_file() and target.read_bytes()[:6] == b"SIMPLE"


def test_write_l1b_folder_name_taken_by_a_file(tmp_path):
    (tmp_path / "data").write_bytes(b"x")
    with pytest.raises(iuvs.exceptions.InvalidParameterError, match="is a file, not a folder"):
        iuvs.synthetic.write_l1b(tmp_path / "data", seed=1)


# ----------------------------------------------------------------- --ranks 1-4
@pytest.mark.parametrize("spec", ["1-4", "1..4", "0 - 2"])
def test_dashed_rank_range_hints_the_colon(l1b, spec, capsys):
    assert main(["fit", str(l1b), "--ranks", spec]) == 2
    err = capsys.readouterr().err
    lo, hi = spec.replace("..", "-").replace(" ", "").split("-")
    assert f"--ranks {lo}:{hi}" in err and "usage:" in err


# ------------------------------------------------------------------ not a FITS file
def _html(tmp_path, gz):
    import gzip

    path = tmp_path / ("mvn_iuv_l1b_x-muv_20140521T120029_v13_r01.fits" + (".gz" if gz else ""))
    page = b"<html><body>404 Not Found</body></html>\n"
    path.write_bytes(gzip.compress(page) if gz else page)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("reader", ["fast", "astropy"])
def test_not_a_fits_file_is_named_as_such(tmp_path, monkeypatch, gz, reader):
    monkeypatch.setenv("IUVS_READER", reader)
    path = _html(tmp_path, gz)
    with pytest.raises(iuvs.exceptions.FileFormatError) as info:
        iuvs.io.L1BReader(path)
    message = str(info.value)
    assert f"{path} is not a FITS file" in message and "<html>" in message
    assert "fetch the file again" in message and "ignore_missing_simple" not in message


def test_not_a_fits_product_or_superdark(tmp_path, capsys):
    import iuvs.superdark

    path = _html(tmp_path, False)
    for read in (iuvs.io.read_product, iuvs.superdark.read_superdarks):
        with pytest.raises(iuvs.exceptions.FileFormatError, match="is not a FITS file") as info:
            read(path)
        assert "ignore_missing_simple" not in str(info.value)
    good = iuvs.synthetic.write_l1b(tmp_path, seed=1)
    argv = ["subtract", str(good), "-o", str(tmp_path / "o.fits"), "--method", "superdark"]
    assert main([*argv, "--superdark", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path} is not a FITS file" in err and "ignore_missing_simple" not in err


# ----------------------------------------------------- LONGSTRN and fitsverify
def _cards_of(path):
    """The raw 80-character cards of each header (CONTINUE cards are not merged)."""
    raw = path.read_bytes()
    with fits.open(path) as hdul:
        spans = [(hdul.fileinfo(i)["hdrLoc"], hdul.fileinfo(i)["datLoc"]) for i in range(len(hdul))]
    return [[raw[k : k + 80].decode("ascii") for k in range(a, b, 80)] for a, b in spans]


def test_longstrn_where_continue_cards_are_used(l1b, tmp_path):
    out = tmp_path / "p.fits"
    assert main(["-q", "fit", str(l1b), "--ranks", "-1:4", "-o", str(out)]) == 0
    headers = _cards_of(out)
    continued = [
        i for i, cards in enumerate(headers) if any(c.startswith("CONTINUE") for c in cards)
    ]
    assert continued, "degrees 3 and 4 write COEFFS over CONTINUE cards"
    for i in [0, *continued]:
        assert "LONGSTRN= 'OGIP 1.0'" in "".join(headers[i]), i
    short = tmp_path / "short.fits"
    assert main(["-q", "fit", str(l1b), "--ranks", "-1:1", "-o", str(short)]) == 0
    assert not any("LONGSTRN" in "".join(cards) for cards in _cards_of(short))


def _fitsverify(path):
    exe = shutil.which("fitsverify")
    if exe is None:
        pytest.skip("fitsverify is not installed (Debian/Ubuntu: apt-get install fitsverify)")
    done = subprocess.run([exe, "-q", str(path)], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def products(l1b, tmp_path_factory):
    """One file of each product kind iuvs writes, made through the command line."""
    out = tmp_path_factory.mktemp("products")
    light = iuvs.synthetic.write_l1b(out / "light", n_int=3, n_darks=2, seed=3, light="smooth")
    iuvs.synthetic.write_dark_archive(out / "darks", files_per_set=3, n_darks=3, seed=3)
    made = {
        "dark fitting": out / "fit.fits",
        "dark fitting, hot pixels masked": out / "fit_hot.fits.gz",
        "subtract, pipeline": out / "sub.fits",
        "subtract, scaled rank 2": out / "sub_scaled.fits.gz",
        "superdarks": out / "superdarks.fits",
    }
    runs = [
        ["fit", str(l1b), "--ranks", "-1:4"],
        ["fit", str(l1b), "--ranks", "-1:4", "--hot-threshold", "2500"],
        ["subtract", str(light)],
        ["subtract", str(light), "--method", "scaled", "--rank", "2"],
        ["superdark", str(out / "darks"), "--jobs", "1"],
    ]
    for argv, target in zip(runs, made.values(), strict=True):
        assert main(["-q", *argv, "-o", str(target)]) == 0, argv
    return made


@pytest.mark.parametrize(
    "kind",
    [
        "dark fitting",
        "dark fitting, hot pixels masked",
        "subtract, pipeline",
        "subtract, scaled rank 2",
        "superdarks",
    ],
)
def test_fitsverify_passes_every_product(products, kind):
    code, text = _fitsverify(products[kind])
    assert code == 0 and "verification OK" in text, text


def test_superdark_with_workers_runs_from_an_unguarded_script(tmp_path):
    """``superdark(jobs=2)`` in a script without a ``__main__`` guard gives the one-worker result.

    Spawned worker processes re-run an unguarded script and broke the pool; the workers are
    threads now, as the survey's.
    """
    import numpy as np

    iuvs.synthetic.write_dark_archive(tmp_path, files_per_set=2, n_darks=4)
    out = tmp_path / "jobs2.npy"
    code = (
        "import numpy as np, iuvs\n"
        f"s = iuvs.darks.superdark({str(tmp_path)!r}, jobs=2, small_groups='skip')\n"
        f"np.save({str(out)!r}, np.concatenate([g.data.ravel() for g in s]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "IUVS_SURVEY_WORKERS"}
    script = tmp_path / "unguarded.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    one = iuvs.darks.superdark(tmp_path, jobs=1, small_groups="skip")
    np.testing.assert_array_equal(np.load(out), np.concatenate([g.data.ravel() for g in one]))
