"""The README teaches what runs: its quick start, and every Python block run as written, twice.

The blocks run in order in one namespace, in a fresh folder, as a newcomer pasting them into one
session would; the second pass proves the walkthrough re-runs cleanly over its own outputs.  The
results are then checked against independent references (numpy, astropy and the synthetic files'
own truth).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits as afits

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def test_quick_start_is_the_two_commands() -> None:
    first = _blocks("bash")[0].split("\n")
    assert [line for line in first if line] == ["pip install . && iuvs demo", "make test"]


def test_readme_is_short() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 160


def test_readme_names_what_exists() -> None:
    """Every ``iuvs.x.y`` the README's prose names exists (a renamed function breaks this)."""
    import importlib

    text = README.read_text(encoding="utf-8")
    names = set(re.findall(r"`(iuvs(?:\.[A-Za-z_]\w*)+)", text))
    assert names, "the README names no iuvs function"
    for name in sorted(names):
        parts = name.split(".")
        obj: Any = importlib.import_module("iuvs")
        for part in parts[1:]:
            assert hasattr(obj, part), f"README names {name}, which does not exist"
            obj = getattr(obj, part)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = _blocks("python")
    assert len(blocks) >= 3
    folder = tmp_path_factory.mktemp("readme")
    mp = pytest.MonkeyPatch()
    mp.chdir(folder)
    mp.delenv("IUVS_DATA_ROOT", raising=False)
    try:
        namespace: dict[str, Any] = {}
        for _ in range(2):
            namespace = {"__name__": "__readme__"}
            for i, block in enumerate(blocks):
                exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102
            plt.close("all")
    finally:
        mp.undo()
    namespace["__folder__"] = folder
    return namespace


@pytest.mark.slow
def test_walkthrough_fits_match_numpy(walkthrough: dict[str, Any]) -> None:
    dark1 = np.asarray(walkthrough["dark1"], dtype=np.float64)
    dark2 = np.asarray(walkthrough["dark2"], dtype=np.float64)
    keep = dark1 <= 2500
    by_rank = {f.rank: f for f in walkthrough["fits"]}
    for rank in (1, 2, 3):
        expected = np.polyfit(dark1[keep], dark2[keep], rank)
        np.testing.assert_allclose(by_rank[rank].coeffs, expected, rtol=1e-9, atol=1e-9)
        residual = dark2[keep] - np.polyval(expected, dark1[keep])
        np.testing.assert_allclose(by_rank[rank].stats.std, residual.std(), rtol=1e-9)
    assert by_rank[1].stats.n_used == int(keep.sum())


@pytest.mark.slow
def test_walkthrough_wrote_its_outputs(walkthrough: dict[str, Any]) -> None:
    folder = walkthrough["__folder__"] / "walkthrough"
    for name in ("residuals.png", "rank.png", "report/report.html"):
        assert (folder / name).stat().st_size > 0, name
    dark1 = np.asarray(walkthrough["dark1"], dtype=np.float64)
    dark2 = np.asarray(walkthrough["dark2"], dtype=np.float64)
    keep = dark1 <= 2500
    with afits.open(folder / "report" / "dark_fitting.fits", checksum=True) as hdul:
        for rank in (1, 2):
            header = hdul[f"RANK{rank}"].header
            expected = np.polyfit(dark1[keep], dark2[keep], rank)[::-1]  # lowest power first
            got = [header[f"C{k}"] for k in range(rank + 1)]
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
            assert header["NHOT"] == int((~keep).sum())


@pytest.mark.slow
def test_walkthrough_correction_recovers_the_true_dark(walkthrough: dict[str, Any]) -> None:
    result = walkthrough["result"]
    with afits.open(walkthrough["__folder__"] / walkthrough["truth"]) as hdul:
        names = {h.name.upper(): h for h in hdul}
        true_dark = np.asarray(names["TRUE_DARK"].data, dtype=np.float64)
        raw = np.asarray(names["DETECTOR_RAW"].data, dtype=np.float64)
    dark = np.asarray(result.dark, dtype=np.float64)
    np.testing.assert_allclose(result.corrected, raw - dark, rtol=1e-6, atol=1e-2)
    # the scaled dark against the true dark the file was made with: unbiased to 2 %
    bias = float(np.mean(dark - true_dark))
    assert abs(bias) < 0.02 * float(np.mean(true_dark))


@pytest.mark.slow
def test_walkthrough_superdark_is_the_median_of_its_darks(walkthrough: dict[str, Any]) -> None:
    from astropy.stats import sigma_clip

    from iuvs.io import L1BReader

    s = walkthrough["superdarks"][0]
    folder = walkthrough["__folder__"]
    frames = [
        np.asarray(L1BReader(str(folder / path)).dark(int(index)), dtype=np.float64)
        for path, index in zip(s.provenance["file"], s.provenance["dark_index"], strict=True)
    ]
    stack = np.stack(frames)
    clipped = sigma_clip(stack, sigma=3, maxiters=5, axis=0, cenfunc="median", stdfunc="std")
    expected = np.ma.median(clipped, axis=0).filled(np.nan)
    np.testing.assert_allclose(s.data, expected, rtol=1e-12, equal_nan=True)


def test_command_line_block_matches_the_parsers() -> None:
    """Every subcommand and option the README's command-line block shows is accepted."""
    import argparse

    from iuvs.cli import _parser

    text = _blocks("text")[0]
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = re.findall(r"^iuvs (\w+)", text, re.M)
    assert commands
    for command in commands:
        assert command in sub.choices, command
    current = None
    for line in text.splitlines():
        m = re.match(r"^iuvs (\w+)", line)
        if m:
            current = sub.choices[m.group(1)]
        assert current is not None
        known = {s for a in current._actions for s in a.option_strings}
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", line.strip().split("  ")[0]):
            assert option in known, f"iuvs {current.prog.split()[-1]}: {option}"
