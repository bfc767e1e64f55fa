"""The ``iuvs`` command line.

Subcommands:

* ``iuvs demo [--out DIR]``: write a synthetic v00 cruise L1B file, run the
  2015 notebook's workflow on its darks 1 and 2 (additive, multiplicative,
  polynomials 1..4, without and with the 2500 DN hot-pixel cut), write
  ``dark_fitting.fits`` and print a table.
* ``iuvs fit FILE [--ranks ...] [--darks I J] [--hot-threshold X | --hot-sigma S]
  [--clip K] [--out PRODUCT] [--overwrite]``: the same on any L1B file.

Exit codes: 0 success, 1 an input or output failed (the reason is printed,
no traceback), 2 usage error.

Examples
--------
>>> from iuvs.cli import main
>>> main(["--version"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import iuvs
from iuvs.exceptions import IuvsError
from iuvs.fitting import Fit

__all__ = ["main"]

log = logging.getLogger("iuvs")

DEMO_NAME = "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"


def _table(title: str, fits: Sequence[Fit]) -> str:
    lines = [
        title,
        f"{'model':15s} {'coefficients (highest power first)':60s} {'resid std':>10s} "
        f"{'frac mean':>11s} {'pixels used':>11s}",
    ]
    for f in fits:
        coeffs = ", ".join(f"{c:.6g}" for c in f.coeffs)
        lines.append(
            f"{f.name:15s} {coeffs:60.60s} {f.stats.std:10.3f} {f.stats.frac_mean:11.3e} "
            f"{f.stats.n_used:11d}"
        )
    return "\n".join(lines)


def _run(
    path: Path,
    darks: tuple[int, int],
    ranks: list[int],
    out: Path,
    overwrite: bool,
    hot_threshold: float | None,
    hot_sigma: float | None,
    clip: float | None,
    with_plain: bool,
) -> int:
    from iuvs.io import DarkWriter, L1BReader

    l1b = L1BReader(path)
    need = max(darks) + 1 if min(darks) >= 0 else max(-min(darks), max(darks) + 1)
    if l1b.n_darks < need:
        raise iuvs.exceptions.DarkIndexError(
            f"{path}: darks {darks[0]} and {darks[1]} requested but the file has {l1b.n_darks}"
        )
    dark1, dark2 = l1b.dark(darks[0]), l1b.dark(darks[1])
    print(
        f"{path.name}: {l1b.n_darks} darks of {l1b.spatial_size} x {l1b.spectral_size}, "
        f"INT_TIME {l1b.int_time:g} s; fitting dark{darks[1]} against dark{darks[0]}"
    )
    writer = DarkWriter(
        out, dark1, dark2, overwrite=overwrite, inputs=[str(path)], darks_used=darks
    )
    if with_plain:
        plain = iuvs.fit_all(dark1, dark2, ranks)
        print(_table("\nall pixels:", plain))
    cut = hot_threshold is not None or hot_sigma is not None or clip is not None
    fits = (
        iuvs.fit_all(
            dark1, dark2, ranks, hot_threshold=hot_threshold, hot_sigma=hot_sigma, clip=clip
        )
        if cut
        else plain
    )
    if cut:
        label = []
        if hot_threshold is not None:
            label.append(f"dark{darks[0]} > {hot_threshold:g} DN excluded")
        if hot_sigma is not None:
            label.append(f"hot pixels above {hot_sigma:g} sigma excluded")
        if clip is not None:
            label.append(f"residuals clipped at {clip:g} sigma")
        print(_table("\n" + "; ".join(label) + ":", fits))
    for f in fits:
        writer.append_polyfitted(f)
    writer.write()
    print(f"\nwrote {out} ({len(fits)} models)")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iuvs", description="Dark-frame scaling analysis for IUVS.")
    p.add_argument("--version", action="version", version=f"iuvs {iuvs.__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the notebook's workflow on a synthetic L1B file")
    demo.add_argument("--out", type=Path, default=Path("iuvs_demo"), help="output folder")
    fit = sub.add_parser("fit", help="fit the darks of an L1B file and write a product")
    fit.add_argument("file", type=Path)
    fit.add_argument("--ranks", type=int, nargs="+", default=list(range(-1, 5)))
    fit.add_argument("--darks", type=int, nargs=2, default=(1, 2), metavar=("IN", "OUT"))
    group = fit.add_mutually_exclusive_group()
    group.add_argument("--hot-threshold", type=float, default=None)
    group.add_argument("--hot-sigma", type=float, default=None)
    fit.add_argument("--clip", type=float, default=None, help="sigma-clip the residuals")
    fit.add_argument("--out", type=Path, default=Path("dark_fitting.fits"))
    fit.add_argument("--overwrite", action="store_true", help="replace an existing product")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when an input or output failed, 2 for a usage error.

    Examples
    --------
    >>> import tempfile
    >>> from iuvs.cli import main
    >>> main(["demo", "--out", tempfile.mkdtemp()])  # doctest: +ELLIPSIS
    mvn_iuv_l1b_cruisecal2-mode080-muv_...
    0
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    level = logging.ERROR if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from iuvs.io import l1b_filenames
            from iuvs.synthetic import write_l1b

            folder: Path = args.out
            folder.mkdir(parents=True, exist_ok=True)
            write_l1b(folder, layout="v00", n_darks=3, n_int=3, seed=2014, overwrite=True)
            (path,) = l1b_filenames("cruisecal2-mode080-muv", root=folder)
            # the demo owns its folder: its product is replaced on every run
            return _run(
                Path(path),
                (1, 2),
                list(range(-1, 5)),
                folder / "dark_fitting.fits",
                True,
                2500.0,
                None,
                None,
                True,
            )
        return _run(
            args.file,
            tuple(args.darks),
            args.ranks,
            args.out,
            args.overwrite,
            args.hot_threshold,
            args.hot_sigma,
            args.clip,
            True,
        )
    except IuvsError as err:
        print(f"iuvs: error: {err}", file=sys.stderr)
        return 1
