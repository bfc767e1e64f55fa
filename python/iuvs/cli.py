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
    Then it writes a synthetic light file whose true dark is known
    (``DEMO_LIGHT_FILE``), dark-corrects it with the pipeline's dark, the
    nearest dark and a scaled dark (rank 1), prints each one's error against
    the truth and writes ``dark_correction.fits`` and ``dark_correction.html``.
    The demo marks ``DIR`` as its own (a ``.iuvs-demo`` file) and replaces its
    own three files on later runs; it refuses to replace files of those names
    in a folder it did not create them in.

``iuvs fit FILE [--darks I J] [--ranks -1:4] [--hot-threshold DN | --hot-sigma K]
[--clip K] [--criterion bic|aic|plateau] [-o PRODUCT] [--overwrite] [--report DIR] [--json]``
    The same models on any L1B file (default ranks -1..4, darks 1 and 2);
    prints the table (or, with ``--json``, the whole analysis as JSON) and,
    with ``-o``, writes the product (an existing file is kept unless
    ``--overwrite``); ``--report DIR`` writes ``report.html`` and its product
    into ``DIR``.  Ranks are given as a range ``A:B`` (inclusive), a list
    ``-1,0,2`` or separate numbers.

``iuvs subtract FILE -o OUT.fits [--method pipeline|nearest|scaled|superdark] [--rank R]
[--hot-sigma K] [--window S0 S1 E0 E1] [--superdark FITS] [--allow-lower-rank] [--report DIR]
[--overwrite]``
    Dark-correct the light frames of an L1B file (:func:`iuvs.darks.subtract`,
    default the pipeline's dark), print the quality table's per-method summary
    and write the product (:func:`iuvs.io.write_correction`).  The output is
    checked before any work: an existing file is kept unless ``--overwrite``,
    and nothing is written when the correction fails.  ``--report DIR`` also
    writes ``dark_correction.html`` (:mod:`iuvs.correction_report`).

``iuvs info FILE... [--json]``
    The extensions (names, shapes, dtypes), the darks (count, shape, times,
    temperatures), integration time, binning and channel of each file.

``iuvs survey ROOT_OR_FILES... -o survey.parquet [...]``
    Every dark pair of many files (see :mod:`iuvs.survey`).

``iuvs superdark ROOT_OR_FILES... -o superdarks.fits [--jobs N] [--scheduler ADDR] [--overwrite]``
    One superdark per binning set of many files (see :mod:`iuvs.superdark`).

Options ``--version``, ``-v`` (more log output, and tracebacks; repeatable) and
``-q`` (errors only, no table); ``-v`` and ``-q`` may also follow the
subcommand.  Exit codes: 0 success (also when the reader of stdout leaves
early, as ``| head`` does), 1 a file failed (the reason, naming the file, on
stderr, without a traceback unless ``-v``; a missing optional extra is named
with its ``pip install`` line), 2 usage error.  With several files a progress
bar is drawn on stderr when it is a terminal.

Examples
--------
>>> import tempfile
>>> from iuvs.cli import main
>>> main(["-q", "demo", "--out", tempfile.mkdtemp()])
0
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import iuvs
from iuvs._argtypes import add_exclusion_options, parse_ranks
from iuvs.exceptions import FileFormatError, IuvsError, OutputExistsError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEMO_FILE", "DEMO_LIGHT_FILE", "main"]

log = logging.getLogger("iuvs.cli")

DEMO_FILE = "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz"
DEMO_LIGHT_FILE = "mvn_iuv_l1b_apoapse-orbit00109-muv_20150101T120000_v13_r00.fits.gz"
_DEMO_MARKER = ".iuvs-demo"
_DEMO_PRODUCTS = (
    "dark_fitting.fits",
    "dark_fitting_hot2500.fits",
    "report.html",
    "dark_correction.fits",
    "dark_correction.html",
)
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
_RANK_ARG = re.compile(r"^-\d+[:,]")
T = TypeVar("T")


def _glue_ranks(argv: Sequence[str]) -> list[str]:
    """Turn ``--ranks -1:4`` into ``--ranks=-1:4`` (argparse reads ``-1:4`` as an option)."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--ranks":
            nxt = next(it, None)
            if nxt is not None and _RANK_ARG.match(nxt):
                out.append(f"--ranks={nxt}")
                continue
            out.append(arg)
            if nxt is not None:
                out.append(nxt)
            continue
        out.append(arg)
    return out


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ranks",
        type=parse_ranks,
        nargs="+",
        default=[list(_NOTEBOOK_RANKS)],
        metavar="R",
        help="model ranks: -1 additive, 0 multiplicative, 1..12 degree; a range -1:4, "
        "a list -1,0,2 or separate numbers (default: -1:4)",
    )
    p.add_argument(
        "--darks",
        type=int,
        nargs=2,
        default=(1, 2),
        metavar=("I", "J"),
        help="fit dark J against dark I (default: 1 2, as the notebook)",
    )
    add_exclusion_options(p, "dark I")
    p.add_argument(
        "--criterion",
        choices=("bic", "aic", "plateau"),
        default="bic",
        help="how the best rank is chosen (default: bic)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="iuvs",
        description="Dark-frame scaling analysis for MAVEN IUVS (the 2015 notebook's workflow).",
        epilog="Exit codes: 0 success, 1 a file failed, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"iuvs {iuvs.__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output and tracebacks (repeat for debug)",
    )
    parser.add_argument("-q", "--quiet", action="count", default=0, help="errors only; no table")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run the notebook's workflow on a synthetic cruise L1B file",
        description=(
            "Write a synthetic v00 cruisecal2 L1B file into DIR, fit its darks 1 and 2 "
            "(ranks -1..4, without and with the 2500 DN hot-pixel cut), write "
            "dark_fitting.fits, dark_fitting_hot2500.fits and report.html into DIR and print "
            "the results; then dark-correct a synthetic light file whose true dark is known "
            "and write dark_correction.fits and dark_correction.html. Files the demo wrote "
            "before in DIR are replaced; others never are."
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
        description="Fit dark J against dark I of an L1B file with the notebook's models.",
    )
    fit.add_argument("file", type=Path, metavar="FILE", help="L1B file (.fits or .fits.gz)")
    _add_fit_options(fit)
    fit.add_argument(
        "-o",
        "--out",
        "--output",
        dest="out",
        type=Path,
        default=None,
        metavar="PRODUCT",
        help="write the FITS product here",
    )
    fit.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    fit.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="write report.html and its product (dark_fitting.fits) into DIR",
    )
    fit.add_argument("--json", action="store_true", help="print the results as JSON")
    fit.set_defaults(run=_fit)

    subtract = sub.add_parser(
        "subtract",
        help="dark-correct the light frames of an L1B file and write a FITS product",
        description="Subtract a dark from every light frame (detector_raw) of an L1B file: the "
        "pipeline's dark, the nearest recorded dark, or a dark scaled onto each frame in its "
        "calm window; print the quality summary and write OUT.fits.",
    )
    subtract.add_argument("file", type=Path, metavar="FILE", help="L1B file (.fits or .fits.gz)")
    subtract.add_argument(
        "-o",
        "--out",
        "--output",
        dest="out",
        type=Path,
        required=True,
        metavar="OUT",
        help="the product to write (.fits or .fits.gz)",
    )
    subtract.add_argument(
        "--method",
        choices=("pipeline", "nearest", "scaled", "superdark"),
        default="pipeline",
        help="the dark (default: pipeline)",
    )
    subtract.add_argument(
        "--rank",
        type=int,
        default=1,
        help="model of the scaling fit: -1 additive, 0 multiplicative, n degree (default 1)",
    )
    subtract.add_argument(
        "--hot-sigma", type=float, default=None, metavar="K", help="leave hot dark pixels out"
    )
    subtract.add_argument(
        "--window",
        type=int,
        nargs=4,
        default=None,
        metavar=("S0", "S1", "E0", "E1"),
        help="fit window for every frame: spatial [S0, S1) x spectral [E0, E1)",
    )
    subtract.add_argument(
        "--superdark",
        type=Path,
        default=None,
        metavar="FITS",
        help="a FITS file whose primary image is the (spatial, spectral) dark (--method superdark)",
    )
    subtract.add_argument(
        "--allow-lower-rank",
        action="store_true",
        help="fit a lower rank where a window is too small for --rank",
    )
    subtract.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write dark_correction.html (frame 0, quality table) into DIR",
    )
    subtract.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    subtract.set_defaults(run=_subtract)

    info = sub.add_parser(
        "info",
        help="describe L1B files: extensions, darks, times, temperatures",
        description="Print the extensions, darks, integration time, binning and channel of "
        "each file.",
    )
    info.add_argument("files", type=Path, nargs="+", metavar="FILE", help="L1B files")
    info.add_argument("--json", action="store_true", help="print JSON (a list, one per file)")
    info.set_defaults(run=_info)

    import importlib

    add_survey_parser(sub)
    importlib.import_module("iuvs.superdark").add_parser(sub)
    for subparser in sub.choices.values():  # -v / -q also after the subcommand
        _add_verbosity_options(subparser)
    return parser


def _add_verbosity_options(p: argparse.ArgumentParser) -> None:
    """Accept ``-v`` / ``-q`` after the subcommand too (counted with the ones before it)."""
    p.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="more log output and tracebacks (repeat for debug)",
    )
    p.add_argument(
        "-q", "--quiet", dest="sub_quiet", action="count", default=0, help="errors only; no table"
    )


# ------------------------------------------------------------------------- output
def _table(title: str, fits: Sequence[Any], chosen: int | None = None) -> str:
    """Format one run: model, coefficients, residual std, fractional mean, pixels used."""
    rows = []
    for f in fits:
        st = f.stats
        rows.append(
            (
                f.name,
                ", ".join(f"{c:.6g}" for c in f.coeffs),
                f"{st.std:.3f}",
                f"{st.frac_mean:.4e}",
                f"{st.n_used}/{st.n_used + st.n_excluded}",
                "*" if f.rank == chosen else "",
            )
        )
    head = (
        "model",
        "coefficients (highest power first)",
        "resid std",
        "frac mean",
        "pixels used",
        "best",
    )
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    align = ["<", "<", ">", ">", ">", "^"]

    def line(cells: Sequence[str]) -> str:
        text = "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths, strict=True))
        return text.rstrip()

    out = [title, line(head), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def _progress(items: Sequence[T], quiet: bool, desc: str) -> Iterable[T]:
    """Wrap ``items`` in a tqdm bar on stderr when there are several and stderr is a terminal."""
    if quiet or len(items) < 2 or not sys.stderr.isatty():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="file", file=sys.stderr, leave=False)  # type: ignore[no-any-return]


def _run_file(
    path: Path,
    darks: tuple[int, int],
    ranks: Sequence[int],
    runs: Sequence[tuple[str, dict[str, Any]]],
    products: Sequence[Path | None],
    overwrite: bool,
    show: Callable[[str], None],
) -> list[Any]:
    """Read ``path``, fit each run's models, print its table, write its product (if any)."""
    from iuvs.io import DarkWriter
    from iuvs.workflow import analyse

    analyses = []
    for n, ((label, options), product) in enumerate(zip(runs, products, strict=True)):
        a = analyse(path, darks=darks, ranks=ranks, **options)
        analyses.append(a)
        if n == 0:
            shape = a.dark_in.shape
            show(
                f"{path.name}: {a.metadata['n_darks']} darks of {shape[0]} x {shape[1]}; "
                f"fitting detector_dark[{a.darks[1]}] against detector_dark[{a.darks[0]}]"
            )
        show("")
        show(_table(label, a.fits, None if a.choice is None else a.choice.rank))
        if product is None:
            continue
        writer = DarkWriter(
            product, a.dark_in, a.dark_out, overwrite=overwrite, inputs=[path], darks_used=a.darks
        )
        for s in a.scalers:
            writer.append_polyfitted(s)
        written = writer.write()
        show(f"wrote {written}")
    return analyses


def _demo(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from iuvs.io import l1b_filenames
    from iuvs.reporting import write_report
    from iuvs.synthetic import write_l1b

    folder: Path = args.out
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / _DEMO_MARKER
    ours = [folder / DEMO_FILE, folder / DEMO_LIGHT_FILE, *(folder / p for p in _DEMO_PRODUCTS)]
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
    runs: list[tuple[str, dict[str, Any]]] = [
        ("All pixels:", {}),
        (
            f"Hot pixels excluded (dark_in > {_NOTEBOOK_HOT:g} DN):",
            {"hot_threshold": _NOTEBOOK_HOT},
        ),
    ]
    products: list[Path | None] = [folder / p for p in _DEMO_PRODUCTS[:2]]
    analyses = _run_file(path, (1, 2), _NOTEBOOK_RANKS, runs, products, True, show)
    result = write_report(analyses[1], folder, product=None, overwrite=True)
    log.info("wrote %s with %d figures", result.html, result.figures)
    show(f"wrote {result.html} (for the hot-pixel run, {result.figures} figures)")
    _demo_correction(folder, show)
    return 0


def _demo_correction(folder: Path, show: Callable[[str], None]) -> None:
    """Dark-correct a synthetic light file whose true dark is known; print each method's error."""
    import numpy as np
    from astropy.io import fits

    from iuvs.correction_report import write_correction_report
    from iuvs.darks import Method, subtract
    from iuvs.io.correction import write_correction
    from iuvs.synthetic import write_l1b

    path = write_l1b(
        folder,
        n_int=4,
        n_darks=2,
        seed=2015,
        light="smooth",
        description="apoapse-orbit00109-muv",
        timestamp="20150101T120000",
        overwrite=True,
    )
    with fits.open(path) as hdul:
        truth = np.asarray(hdul["TRUE_DARK"].data, dtype=np.float64)
    show("")
    show(f"Dark correction of {path.name} (light frames whose true dark is known):")
    show(
        f"{'method':<12} {'dark - truth: mean':>19} {'rms':>8}  (DN; true dark about "
        f"{truth.mean():.0f} DN)"
    )
    scaled = None
    runs: tuple[tuple[Method, int | None], ...] = (
        ("pipeline", None),
        ("nearest", None),
        ("scaled", 1),
    )
    for method, rank in runs:
        c = subtract(path, method, rank=1 if rank is None else rank)
        err = c.dark.astype(np.float64) - truth
        label = method if rank is None else f"{method} r{rank}"
        show(f"{label:<12} {err.mean():>19.2f} {np.sqrt((err**2).mean()):>8.2f}")
        scaled = c
    assert scaled is not None
    product = write_correction(scaled, folder / _DEMO_PRODUCTS[3], overwrite=True)
    page = write_correction_report(scaled, folder, overwrite=True)
    show(f"wrote {product} and {page} (method scaled, rank 1)")


def _fit(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from iuvs.io.product import check_output_path
    from iuvs.reporting import PRODUCT_NAME, REPORT_NAME, write_report

    path: Path = args.file
    if args.out is not None:  # refuse before any work
        check_output_path(args.out, overwrite=args.overwrite, inputs=[path])
    if args.report is not None:
        for name in (REPORT_NAME, PRODUCT_NAME):
            target = args.report / name
            if target.exists() and not args.overwrite:
                raise OutputExistsError(f"{target} exists; pass --overwrite to replace it")
    options: dict[str, Any] = {
        "hot_threshold": args.hot_threshold,
        "hot_sigma": args.hot_sigma,
        "clip": args.clip,
        "criterion": args.criterion,
    }
    label = []
    if args.hot_threshold is not None:
        label.append(f"dark_in > {args.hot_threshold:g} DN excluded")
    if args.hot_sigma is not None:
        label.append(f"hot pixels above {args.hot_sigma:g} sigma excluded")
    if args.clip is not None:
        label.append(f"residuals clipped at {args.clip:g} sigma")
    title = ("; ".join(label) if label else "All pixels") + ":"
    table_show = (lambda text: None) if args.json else show
    (a,) = _run_file(
        path,
        tuple(args.darks),
        args.ranks,
        [(title, options)],
        [args.out],
        args.overwrite,
        table_show,
    )
    report_path = None
    if args.report is not None:
        result = write_report(a, args.report, overwrite=args.overwrite)
        report_path = result.html
        table_show(f"wrote {result.html} and {result.product}")
    if args.json:
        doc = a.to_dict()
        doc["product"] = None if args.out is None else str(args.out)
        doc["report"] = None if report_path is None else str(report_path)
        print(json.dumps(doc, indent=2, allow_nan=False))
    return 0


def _subtract(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from astropy.io import fits

    from iuvs.darks import subtract
    from iuvs.io.correction import write_correction
    from iuvs.io.product import check_output_path

    path: Path = args.file
    inputs = [path] + ([args.superdark] if args.superdark is not None else [])
    check_output_path(args.out, overwrite=args.overwrite, inputs=inputs)  # before any work
    if args.report is not None:
        from iuvs.correction_report import REPORT_NAME, check_report_target

        check_report_target(args.report / REPORT_NAME, args.overwrite)
    superdark = None
    if args.superdark is not None:
        try:
            superdark = fits.getdata(args.superdark)
        except (OSError, ValueError, IndexError) as err:
            from iuvs.io.files import _not_fits

            raise FileFormatError(
                _not_fits(args.superdark) or f"{args.superdark}: cannot read a superdark: {err}"
            ) from err
    result = subtract(
        path,
        args.method,
        rank=args.rank,
        hot_sigma=args.hot_sigma,
        window=args.window,
        superdark=superdark,
        allow_lower_rank=args.allow_lower_rank,
    )
    show(f"{path.name}: {result.corrected.shape[0]} frames, method {args.method}")
    show(result.method_detail)
    show("")
    show(result.quality.summary().to_text())
    written = write_correction(result, args.out, overwrite=args.overwrite)
    show(f"wrote {written}")
    if args.report is not None:
        from iuvs.correction_report import write_correction_report

        page = write_correction_report(result, args.report, overwrite=args.overwrite)
        show(f"wrote {page}")
    return 0


def _describe(path: Path) -> dict[str, Any]:
    from iuvs.io import L1BReader
    from iuvs.workflow import file_metadata

    with L1BReader(path) as l1b:
        meta = file_metadata(l1b)
        meta["extensions"] = [
            {
                "index": h.index,
                "name": h.name,
                "kind": h.kind,
                "shape": list(h.shape),
                "dtype": h.dtype,
            }
            for h in l1b.hdus
        ]
    return meta


def _info_text(meta: dict[str, Any]) -> str:
    lines = [meta["file"]]
    fields = [
        ("observation", meta.get("observation")),
        ("channel", meta.get("channel")),
        ("segment", meta.get("segment")),
        ("orbit", meta.get("orbit")),
        (
            "version",
            None if meta.get("version") is None else f"v{meta['version']:02d}_{meta['revision']}",
        ),
        ("capture", meta.get("capture")),
        ("integration time", None if meta.get("int_time") is None else f"{meta['int_time']:g} s"),
        ("integrations", meta.get("n_integrations")),
        ("binning", ", ".join(f"{k}={v}" for k, v in (meta.get("binning") or {}).items())),
    ]
    shape = meta.get("dark_shape")
    darks = f"{meta['n_darks']}" + (f" of {shape[0]} x {shape[1]}" if shape else "")
    fields.append(("darks", darks if meta["n_darks"] else "none (no detector_dark)"))
    for label, value in fields:
        if value not in (None, ""):
            lines.append(f"  {label + ':':<18}{value}")
    times, temps = meta.get("dark_times") or [], meta.get("dark_temps") or []
    for k in range(max(len(times), len(temps))):
        t = times[k] if k < len(times) else "?"
        c = f", {temps[k]:.2f} degC" if k < len(temps) else ""
        lines.append(f"    dark {k}: {t}{c}")
    lines.append("  extensions:")
    width = max(len(e["name"]) for e in meta["extensions"])
    for e in meta["extensions"]:
        shape_text = " x ".join(map(str, e["shape"])) if e["shape"] else "-"
        lines.append(
            f"    {e['index']:>2}  {e['name']:<{width}}  {e['kind']:<5}  {shape_text:<16}  "
            f"{e['dtype']}"
        )
    return "\n".join(lines)


def _info(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    from iuvs.workflow import _json_ready

    docs: list[dict[str, Any]] = []
    failed = 0
    for path in _progress(args.files, bool(args.quiet), "info"):
        try:
            meta = _describe(path)
        except (IuvsError, OSError) as err:
            failed += 1
            _report_error(err, args.verbose)
            docs.append(
                {"file": path.name, "path": str(path), "error": f"{type(err).__name__}: {err}"}
            )
            continue
        docs.append(meta)
        if not args.json:
            show(_info_text(meta))
    if args.json:
        print(json.dumps(_json_ready(docs), indent=2, allow_nan=False))
    return 1 if failed else 0


def _silence_stdout() -> None:
    """Point stdout at devnull after a broken pipe (as the Python docs on SIGPIPE advise).

    Python flushes stdout again at exit; without this the flush would fail a
    second time and print ``Exception ignored ... BrokenPipeError``.
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _report_error(err: BaseException, verbose: int) -> None:
    print(f"iuvs: error: {err}", file=sys.stderr)
    if verbose > 0:
        traceback.print_exception(err, file=sys.stderr)


# --------------------------------------------------------------------- iuvs survey
# the survey's command line: argument types, the run, the failed files on stderr
from iuvs.survey.run import run_survey  # noqa: E402
from iuvs.survey.summary import format_summary  # noqa: E402
from iuvs.survey.table import _CSV, _PARQUET, read_table  # noqa: E402


def _survey_ranks(text: str) -> list[int]:
    """``'A:B'`` (inclusive) or ``'a,b,c'`` as a sorted list of ranks, for argparse."""
    return sorted(set(parse_ranks(text)))


def _survey_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of jobs, got {text!r}")
    return value


def _survey_output(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in _PARQUET + _CSV:
        raise argparse.ArgumentTypeError(
            f"the output must end in .parquet, .pq or .csv, got {text!r}"
        )
    return path


def _run_survey_cli(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    """Run ``iuvs survey``: survey, write the output, show the summary; 1 if a file failed."""
    if args.report is not None and not (args.overwrite or args.resume):
        page = args.report / "survey.html"
        if page.exists():  # refuse before any work
            raise OutputExistsError(f"{page} exists; pass --overwrite to replace it")
    table, summary = run_survey(
        args.inputs,
        args.output,
        resume=args.resume,
        overwrite=args.overwrite,
        failures=args.failures,
        pairs=args.pairs,
        ranks=args.ranks,
        hot_threshold=args.hot_threshold,
        hot_sigma=args.hot_sigma,
        clip=args.clip,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not getattr(args, "quiet", 0),
        pattern=args.pattern,
    )
    show(format_summary(summary))
    show(f"wrote {args.output}" + (f" and {args.failures}" if args.failures else ""))
    _print_failed_files(table, args.output, args.failures)
    if args.report is not None:
        from iuvs.reporting import write_survey_report

        page = write_survey_report(
            read_table(args.output),
            args.report,
            summary_text=format_summary(summary),
            overwrite=args.overwrite or args.resume,
        )
        show(f"wrote {page}")
    return 1 if summary.files_failed else 0


_MAX_FAILED_SHOWN = 20


def _print_failed_files(table: pd.DataFrame, output: Path, failures: Path | None) -> None:
    """Name each file that failed, with its reason, on stderr (at most 20 lines)."""
    failed = table.loc[(table["status"] == "error") & table["dark_in"].isna()]
    failed = failed.drop_duplicates("path")
    for row in failed.head(_MAX_FAILED_SHOWN).itertuples(index=False):
        print(f"iuvs: error: {row.path}: {row.error_class}: {row.error_message}", file=sys.stderr)
    if len(failed) > _MAX_FAILED_SHOWN:
        where = failures if failures is not None else f"{output} (rows with status 'error')"
        print(
            f"iuvs: error: ... and {len(failed) - _MAX_FAILED_SHOWN} more failed files; "
            f"all are listed in {where}",
            file=sys.stderr,
        )


def add_survey_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``survey`` subcommand on an argparse subparsers object.

    The subcommand's ``run`` default is a function ``run(args, show) -> int``:
    it surveys the files, writes the output, passes the summary to
    ``show(text)`` and returns 1 if any file failed, else 0.  Errors
    (:class:`iuvs.exceptions.IuvsError`, :class:`OSError`) propagate to the
    caller.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``survey`` parser.

    Examples
    --------
    >>> import argparse
    >>> from iuvs.cli import add_survey_parser
    >>> parser = argparse.ArgumentParser(prog="iuvs")
    >>> add_survey_parser(parser.add_subparsers(dest="command")).prog
    'iuvs survey'
    >>> args = parser.parse_args(["survey", "data", "-o", "s.parquet", "--ranks=-1:2"])
    >>> args.inputs, args.ranks, args.pairs, callable(args.run)
    (['data'], [-1, 0, 1, 2], 'consecutive', True)
    >>> parser.parse_args(["survey", "d", "-o", "s.csv", "--ranks", "0,2"]).ranks
    [0, 2]
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "survey",
        help="fit the dark pairs of many L1B files into one table",
        description=(
            "Fit every dark pair of every L1B file (folders are searched recursively) with "
            "the models of ranks --ranks and write one row per file, pair and rank to a "
            "Parquet or CSV table. Files that cannot be surveyed get an error row and are "
            "counted as failed (exit code 1)."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="ROOT_OR_FILES",
        help="L1B files and folders to search",
    )
    p.add_argument(
        "-o",
        "--output",
        type=_survey_output,
        required=True,
        metavar="OUTPUT",
        help="the table to write: .parquet (or .pq) or .csv",
    )
    p.add_argument(
        "--pattern",
        default="*.fits*",
        metavar="P",
        help="glob for files in folders (default: *.fits*)",
    )
    p.add_argument(
        "--pairs",
        choices=("consecutive", "first", "all"),
        default="consecutive",
        help="dark pairs: 0-1, 1-2, ... (consecutive, default); 0-k (first); every i<j (all)",
    )
    p.add_argument(
        "--ranks",
        type=_survey_ranks,
        default=list(range(-1, 5)),
        metavar="RANKS",
        help=(
            "model ranks as A:B (inclusive) or a comma list; write --ranks=-1:4 when the "
            "first is negative (default: -1:4; -1 additive, 0 multiplicative, n degree)"
        ),
    )
    add_exclusion_options(p, "dark_in")
    p.add_argument(
        "--jobs",
        type=_survey_jobs,
        default=None,
        metavar="N",
        help="worker processes (default: the number of CPUs; 1 runs in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://host:8786 (needs iuvs[dask])",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted survey: skip files already in OUTPUT (same mtime)",
    )
    again.add_argument(
        "--overwrite", action="store_true", help="replace an existing OUTPUT (and FILE)"
    )
    p.add_argument(
        "--failures",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write a CSV of the failed files and pairs",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write DIR/survey.html: summary, per-rank statistics and the survey figures",
    )
    p.set_defaults(run=_run_survey_cli)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``iuvs`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 1 when a file failed (the error is printed on stderr,
        without a traceback unless ``-v``), 2 for a usage error (and 0 for
        ``--help`` and ``--version``).

    Examples
    --------
    >>> from iuvs.cli import main
    >>> main(["fit", "--ranks", "13", "x.fits"])  # rank 13 does not exist: usage error
    2
    """
    parser = _parser()
    try:
        raw = list(sys.argv[1:] if argv is None else argv)
        args = parser.parse_args(_glue_ranks(raw))
        args.verbose += getattr(args, "sub_verbose", 0)
        args.quiet += getattr(args, "sub_quiet", 0)
        if hasattr(args, "ranks") and args.command in ("fit",):
            args.ranks = [r for group in args.ranks for r in group]
            if len(set(args.ranks)) != len(args.ranks):
                parser.error(f"--ranks lists a rank twice: {args.ranks}")
        if args.command == "fit" and args.darks[0] == args.darks[1]:
            parser.error(f"--darks needs two different darks, got {args.darks[0]} twice")
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    previous = _configure_logging(args.verbose - args.quiet)

    def show(text: str) -> None:
        if not args.quiet:
            print(text)

    source = getattr(args, "file", None) or getattr(args, "out", None) or ""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                status: int = args.run(args, show)
                sys.stdout.flush()  # a closed pipe shows here, not at exit
            except BrokenPipeError:  # `iuvs info F F | head -1`: the reader has enough
                _silence_stdout()
                status = 0
            except (IuvsError, OSError) as err:
                _report_error(err, args.verbose)
                status = 1
            except ImportError as err:  # an optional extra is missing: say what to install
                _report_error(err, args.verbose)
                status = 1
        for w in caught:  # warnings go to the log, with the input they concern
            log.warning("%s: %s (%s)", source, w.message, w.category.__name__)
        return status
    finally:
        _restore_logging(previous)
