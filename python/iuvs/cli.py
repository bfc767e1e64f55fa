"""The ``iuvs`` command line (also ``python -m iuvs``).

Subcommands:

``iuvs demo [--out DIR]``
    Write a synthetic v00 cruise L1B file
    (``mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz``,
    3 darks of 62 x 341) into ``DIR`` (default ``./iuvs_demo``, created if
    needed), find it with :func:`iuvs.io.l1b_filenames`, read it with
    :class:`iuvs.io.L1BReader` and run the 2015 notebook's workflow on darks 1
    and 2: additive, multiplicative and polynomials 1..4, once on all pixels
    and once with the notebook's 2500 DN hot-pixel cut.  Writes
    ``dark_fitting.fits`` (the notebook's product) and
    ``dark_fitting_hot2500.fits`` into ``DIR`` and prints a table per run.
    The demo marks ``DIR`` as its own (a ``.iuvs-demo`` file) and replaces its
    own three files on later runs; it refuses to replace files of those names
    in a folder it did not create them in.

``iuvs fit FILE [--ranks R ...] [--darks IN OUT] [--hot-threshold DN | --hot-sigma S]
[--clip K] [--out PRODUCT] [--overwrite]``
    The same models on any L1B file (default ranks -1..4, darks 1 and 2);
    prints the table and, with ``--out``, writes the product (an existing file
    is kept unless ``--overwrite``).

Options ``--version``, ``-v`` (more log output, repeatable) and ``-q`` (errors
only, no table).  Exit codes: 0 success, 1 failure (the reason is printed
without a traceback), 2 usage error.

Examples
--------
>>> import tempfile
>>> from iuvs.cli import main
>>> main(["-q", "demo", "--out", tempfile.mkdtemp()])
0
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import iuvs
from iuvs.exceptions import FileFormatError, IuvsError, OutputExistsError
from iuvs.fitting import MAX_RANK, MIN_RANK

__all__ = ["DEMO_FILE", "main"]

log = logging.getLogger("iuvs.cli")

DEMO_FILE = "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"
_DEMO_MARKER = ".iuvs-demo"
_DEMO_PRODUCTS = ("dark_fitting.fits", "dark_fitting_hot2500.fits")
_NOTEBOOK_RANKS = (-1, 0, 1, 2, 3, 4)
_NOTEBOOK_HOT = 2500.0


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Write log records to the current ``sys.stderr`` (which tests and shells may swap)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream: TextIO = sys.stderr
        super().emit(record)


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("iuvs: %(levelname)s: %(message)s"))


def _configure_logging(verbosity: int) -> int:
    """Send the ``iuvs`` loggers to stderr at the chosen level; return the previous level."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(-1, min(verbosity, 2)), logging.DEBUG
    )
    logger = logging.getLogger("iuvs")
    previous = logger.level
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
    logger.setLevel(level)
    return previous


def _restore_logging(previous: int) -> None:
    logger = logging.getLogger("iuvs")
    logger.removeHandler(_HANDLER)
    logger.setLevel(previous)


# ------------------------------------------------------------------ argument types
def _rank(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rank must be an integer, got {text!r}") from None
    if not MIN_RANK <= value <= MAX_RANK:
        raise argparse.ArgumentTypeError(
            f"rank {value} is outside {MIN_RANK}..{MAX_RANK} "
            "(-1 additive, 0 multiplicative, 1..12 polynomial degree)"
        )
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _positive(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iuvs",
        description="Dark-frame scaling analysis for MAVEN IUVS (the 2015 notebook's workflow).",
        epilog="Exit codes: 0 success, 1 failure, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"iuvs {iuvs.__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    parser.add_argument("-q", "--quiet", action="count", default=0, help="errors only; no table")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the notebook's workflow on a synthetic cruise L1B file",
        description=(
            "Write a synthetic v00 cruisecal2 L1B file into DIR, fit its darks 1 and 2 "
            "(ranks -1..4, without and with the 2500 DN hot-pixel cut), write "
            "dark_fitting.fits and dark_fitting_hot2500.fits into DIR and print the results. "
            "Files the demo wrote before in DIR are replaced; others are never replaced."
        ),
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("iuvs_demo"),
        metavar="DIR",
        help="folder for the demo's files (default: ./iuvs_demo, created if needed)",
    )
    demo.set_defaults(run=_demo)

    fit = sub.add_parser(
        "fit",
        help="fit one dark of an L1B file against another",
        description="Fit dark OUT against dark IN of an L1B file with the notebook's models.",
    )
    fit.add_argument("file", type=Path, metavar="FILE", help="L1B file (.fits or .fits.gz)")
    fit.add_argument(
        "--ranks",
        type=_rank,
        nargs="+",
        default=list(_NOTEBOOK_RANKS),
        metavar="R",
        help="model ranks: -1 additive, 0 multiplicative, 1..12 degree (default: -1 0 1 2 3 4)",
    )
    fit.add_argument(
        "--darks",
        type=int,
        nargs=2,
        default=(1, 2),
        metavar=("IN", "OUT"),
        help="indices of the darks mapped from and to (default: 1 2, as the notebook)",
    )
    cut = fit.add_mutually_exclusive_group()
    cut.add_argument(
        "--hot-threshold",
        type=_finite,
        default=None,
        metavar="DN",
        help="exclude pixels whose dark IN is above DN (the notebook used 2500)",
    )
    cut.add_argument(
        "--hot-sigma",
        type=_positive,
        default=None,
        metavar="S",
        help="exclude pixels above median + S * MAD-std of dark IN",
    )
    fit.add_argument(
        "--clip", type=_positive, default=None, metavar="K", help="sigma-clip residuals at K"
    )
    fit.add_argument(
        "--out", type=Path, default=None, metavar="PRODUCT", help="write the FITS product here"
    )
    fit.add_argument("--overwrite", action="store_true", help="replace an existing product")
    fit.set_defaults(run=_fit)
    return parser


# ------------------------------------------------------------------------- output
def _table(title: str, scalers: Sequence[Any]) -> str:
    """Format one run: model, coefficients, residual std, fractional mean, pixels used."""
    rows = []
    for s in scalers:
        f = s.fit
        st = f.stats
        rows.append(
            (
                f.name,
                ", ".join(f"{c:.6g}" for c in f.coeffs),
                f"{st.std:.3f}",
                f"{st.frac_mean:.4e}",
                f"{st.n_used}/{st.n_used + st.n_excluded}",
            )
        )
    head = ("model", "coefficients (highest power first)", "resid std", "frac mean", "pixels used")
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    align = ["<", "<", ">", ">", ">"]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))

    out = [title, line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _run_file(
    path: Path,
    darks: tuple[int, int],
    ranks: Sequence[int],
    runs: Sequence[tuple[str, dict[str, float | None]]],
    products: Sequence[Path | None],
    overwrite: bool,
    show: Callable[[str], None],
) -> None:
    """Read ``path``, fit each run's models, print its table, write its product (if any)."""
    from iuvs.io import DarkWriter, L1BReader
    from iuvs.scaling import fit_scalers

    l1b = L1BReader(path)
    i, j = darks
    dark_in, dark_out = l1b.dark(i), l1b.dark(j)
    show(
        f"{path.name}: {l1b.n_darks} darks of {dark_in.shape[0]} x {dark_in.shape[1]}; "
        f"fitting detector_dark[{j}] against detector_dark[{i}]"
    )
    for (label, options), product in zip(runs, products, strict=True):
        scalers = fit_scalers(
            dark_in,
            dark_out,
            ranks,
            hot_threshold=options.get("hot_threshold"),
            hot_sigma=options.get("hot_sigma"),
            clip=options.get("clip"),
        )
        show("")
        show(_table(label, scalers))
        if product is None:
            continue
        writer = DarkWriter(
            product, dark_in, dark_out, overwrite=overwrite, inputs=[path], darks_used=(i, j)
        )
        for s in scalers:
            writer.append_polyfitted(s)
        written = writer.write()
        show(f"wrote {written}")


def _demo(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from iuvs.io import l1b_filenames
    from iuvs.synthetic import write_l1b

    folder: Path = args.out
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / _DEMO_MARKER
    ours = [folder / DEMO_FILE, *(folder / p for p in _DEMO_PRODUCTS)]
    if not marker.exists():
        foreign = [str(p) for p in ours if p.exists()]
        if foreign:
            raise OutputExistsError(
                f"{', '.join(foreign)} exist(s) but were not written by `iuvs demo`; "
                "choose another --out folder or remove them"
            )
        marker.write_text("Files here were written by `iuvs demo`, which replaces them.\n")
    written = write_l1b(folder, layout="v00", n_darks=3, seed=2014, overwrite=True)
    log.info("wrote synthetic L1B file %s", written)
    found = [Path(f) for f in l1b_filenames("cruisecal2-mode080-muv", root=folder)]
    path = next((f for f in found if f.name == written.name), None)
    if path is None:
        raise FileFormatError(
            f"l1b_filenames did not find {written.name} in {folder} (found: {found})"
        )
    runs: list[tuple[str, dict[str, float | None]]] = [
        ("All pixels:", {}),
        (
            f"Hot pixels excluded (dark_in > {_NOTEBOOK_HOT:g} DN):",
            {"hot_threshold": _NOTEBOOK_HOT},
        ),
    ]
    products: list[Path | None] = [folder / p for p in _DEMO_PRODUCTS]
    _run_file(path, (1, 2), _NOTEBOOK_RANKS, runs, products, True, show)
    return 0


def _fit(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from iuvs.io.product import check_output_path

    path: Path = args.file
    if args.out is not None:  # refuse before any work
        check_output_path(args.out, overwrite=args.overwrite, inputs=[path])
    options: dict[str, float | None] = {
        "hot_threshold": args.hot_threshold,
        "hot_sigma": args.hot_sigma,
        "clip": args.clip,
    }
    label = []
    if args.hot_threshold is not None:
        label.append(f"dark_in > {args.hot_threshold:g} DN excluded")
    if args.hot_sigma is not None:
        label.append(f"hot pixels above {args.hot_sigma:g} sigma excluded")
    if args.clip is not None:
        label.append(f"residuals clipped at {args.clip:g} sigma")
    title = ("; ".join(label) if label else "All pixels") + ":"
    _run_file(
        path, tuple(args.darks), args.ranks, [(title, options)], [args.out], args.overwrite, show
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``iuvs`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when the work failed (the error is printed on stderr,
        without a traceback), 2 for a usage error (and 0 for ``--help`` and
        ``--version``).

    Examples
    --------
    >>> from iuvs.cli import main
    >>> main(["fit", "--ranks", "13", "x.fits"])  # rank 13 does not exist: usage error
    2
    """
    parser = _parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
        if args.command == "fit":
            if args.darks[0] == args.darks[1]:
                parser.error(f"--darks needs two different darks, got {args.darks[0]} twice")
            if len(set(args.ranks)) != len(args.ranks):
                parser.error(f"--ranks lists a rank twice: {args.ranks}")
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    previous = _configure_logging(args.verbose - args.quiet)

    def show(text: str) -> None:
        if not args.quiet:
            print(text)

    source = getattr(args, "file", None) or args.out
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status: int = args.run(args, show)
            except (IuvsError, OSError) as err:
                print(f"iuvs: error: {err}", file=sys.stderr)
                status = 1
        for w in caught:  # warnings go to the log, with the input they concern
            log.warning("%s: %s (%s)", source, w.message, w.category.__name__)
        return status
    finally:
        _restore_logging(previous)
