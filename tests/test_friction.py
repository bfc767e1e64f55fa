"""The command line's and the walkthrough's rough edges (issue 20, item 2): one test each."""

from __future__ import annotations

import pytest

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
