"""The analysis of one L1B file and its one-page HTML report.

:func:`analyse` reads an L1B file, takes two of its darks and fits every
requested model of the second against the first (with the chosen hot-pixel
exclusion and sigma clipping), then picks the best rank.  :func:`report` does
that, writes the FITS product and a single self-contained ``report.html``
beside it: the file's metadata, a table of every model (coefficients with
their errors, residual statistics, pixels used, the chosen rank) and the
notebook's figures embedded as PNG (when matplotlib, the ``plot`` extra, is
installed; without it the report holds the tables and says how to get the
figures).

Examples
--------
>>> import tempfile, pathlib, iuvs
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> l1b = iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1)
>>> result = iuvs.report(l1b, d / "report", ranks=[-1, 0, 1, 2])
>>> sorted(p.name for p in (d / "report").iterdir())
['dark_fitting.fits', 'report.html']
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs._atomic import atomic_file
from iuvs.exceptions import (
    InvalidParameterError,
    OutputExistsError,
)
from iuvs.options import FitOptions
from iuvs.workflow import (  # the workflow the report shows; re-exported here
    Analysis,
    analyse,
    file_metadata,
)

__all__ = [
    "Analysis",
    "ReportResult",
    "analyse",
    "file_metadata",
    "render_html",
    "report",
    "write_report",
    "write_survey_report",
]

log = logging.getLogger("iuvs.report")

PRODUCT_NAME = "dark_fitting.fits"
_INSTALL_PLOT = 'pip install "iuvs[plot]"'
REPORT_NAME = "report.html"


@dataclass(frozen=True)
class ReportResult:
    """What :func:`report` wrote.

    Attributes
    ----------
    html : pathlib.Path
        The report page.
    product : pathlib.Path or None
        The FITS product beside it (None when not asked for).
    analysis : Analysis
        The analysis shown.
    figures : int
        Figures embedded (0 without matplotlib).

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> r = iuvs.report(iuvs.synthetic.write_l1b(d, seed=2), d / "out", darks=(0, 1), figures=False)
    >>> r.html.exists(), r.product.exists(), r.figures
    (True, True, 0)
    """

    html: Path
    product: Path | None
    analysis: Analysis
    figures: int


# ----------------------------------------------------------------------- HTML
_CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
tr.chosen { background: #fff4c2; font-weight: bold; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; } .note { color: #a33; }
"""


def _fmt(v: Any, spec: str = ".6g") -> str:
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return "nan" if not math.isfinite(float(v)) else format(float(v), spec)
    return str(v)


def _rows(rows: Sequence[tuple[str, Any]]) -> str:
    cells = "".join(
        f'<tr><th class="l">{html.escape(k)}</th><td class="l">{html.escape(_fmt(v))}</td></tr>'
        for k, v in rows
    )
    return f"<table>{cells}</table>"


def _metadata_table(a: Analysis) -> str:
    m = a.metadata
    i, j = a.darks
    times = m.get("dark_times") or []
    temps = m.get("dark_temps") or []
    why = m.get("why_missing") or {}

    def pick(seq: Sequence[Any], k: int) -> Any:
        return seq[k] if -len(seq) <= k < len(seq) else None

    def temperature(k: int) -> str:
        """Return the temperature of dark ``k`` with its source, or why there is none."""
        if "dark_temps" in why:
            return str(why["dark_temps"])
        t = pick(temps, k)
        if t is None:
            n = m.get("n_darks")
            return f"none: the dark tables list {len(temps)} temperatures for {n} darks"
        if not math.isfinite(t):
            return "none: not recorded for this dark (NaN in the file)"
        source = m.get("dark_temps_source")
        return _fmt(t) + (f" (from {source})" if source else "")

    orbit = m.get("orbit")
    rows: list[tuple[str, Any]] = [
        ("file", m.get("file")),
        ("observation", m.get("observation")),
        ("segment", m.get("segment")),
        ("orbit", orbit if orbit is not None else why.get("orbit", "none")),
        ("channel", m.get("channel")),
        (
            "version, revision",
            "" if m.get("version") is None else f"v{m['version']:02d}_{m['revision']}",
        ),
        ("capture (UTC)", m.get("capture")),
        ("integration time (s)", m.get("int_time")),
        ("integrations", m.get("n_integrations")),
        ("darks", f"{m.get('n_darks')} of {' x '.join(map(str, m.get('dark_shape') or []))}"),
        ("binning", ", ".join(f"{k}={v}" for k, v in (m.get("binning") or {}).items())),
        (f"dark_in = detector_dark[{i}] time", pick(times, i)),
        (f"dark_out = detector_dark[{j}] time", pick(times, j)),
        ("dark_in temperature (deg C)", temperature(i)),
        ("dark_out temperature (deg C)", temperature(j)),
    ]
    return _rows(rows)


def _options_text(a: Analysis) -> str:
    o = a.options
    parts = []
    if o.get("hot_threshold") is not None:
        parts.append(f"pixels with dark_in above {o['hot_threshold']:g} DN excluded")
    if o.get("hot_sigma") is not None:
        parts.append(f"hot pixels above median + {o['hot_sigma']:g} MAD-sigma excluded")
    if o.get("clip") is not None:
        parts.append(f"residuals sigma-clipped at {o['clip']:g}")
    return "; ".join(parts) if parts else "all finite pixels used"


def _models_table(a: Analysis) -> str:
    head = [
        "model",
        "rank",
        "coefficients ± 1σ (highest power first)",
        "resid mean",
        "resid std",
        "resid min",
        "resid max",
        "frac mean",
        "frac std",
        "used",
        "excluded",
        "clipped",
        f"{a.options.get('criterion', '')} score",
    ]
    scores = a.choice.scores if a.choice is not None else {}
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for f in a.fits:
        s = f.stats
        coeffs = "<br>".join(f"{c:.8g} ± {e:.2g}" for c, e in zip(f.coeffs, f.perr, strict=True))
        chosen = a.choice is not None and f.rank == a.choice.rank
        cells = [
            html.escape(f.name + (" (chosen)" if chosen else "")),
            str(f.rank),
            coeffs,
            *(
                html.escape(_fmt(v, ".4g"))
                for v in (s.mean, s.std, s.min, s.max, s.frac_mean, s.frac_std)
            ),
            str(s.n_used),
            str(s.n_excluded),
            str(s.n_clipped),
            html.escape(_fmt(scores.get(f.rank), ".6g")),
        ]
        cls = ' class="chosen"' if chosen else ""
        out.append(
            f"<tr{cls}>"
            + "".join(
                f'<td class="l">{c}</td>' if k in (0, 2) else f"<td>{c}</td>"
                for k, c in enumerate(cells)
            )
            + "</tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _figures(a: Analysis) -> list[tuple[str, Any]]:
    """Draw the notebook's figures for this analysis: (caption, Figure) pairs."""
    from iuvs import plotting

    fits = a.fits
    best = a.chosen_fit
    hot_mask = _hot_mask(a)  # left out of every fit; Fit.mask holds only clipped pixels
    mult = next((f for f in fits if f.rank == 0), None)
    factors = (1.4, 1.5, 1.6)
    if mult is not None and np.isfinite(mult.coeffs[0]):
        g = float(mult.coeffs[0])
        factors = (round(0.95 * g, 3), round(g, 3), round(1.05 * g, 3))
    figs: list[tuple[str, Any]] = [
        (
            "Dark histograms: dark_out and dark_in scaled by factors around the multiplicative fit",
            plotting.dark_histograms(a.dark_in, a.dark_out, factors=factors),
        ),
        (
            "Spatially averaged spectral profiles",
            plotting.spectral_profiles(a.dark_in, a.dark_out, factors=factors),
        ),
        (
            "Residual histograms per model (absolute, fractional)"
            + ("" if hot_mask is None else f", without the {int(hot_mask.sum())} hot pixels"),
            plotting.residual_histograms(fits, a.dark_in, a.dark_out, exclude=hot_mask),
        ),
        (
            "Fractional residual mean over rank (the chosen rank marked)",
            plotting.fractional_over_rank(fits, chosen=None if a.choice is None else a.choice.rank),
        ),
        (
            f"dark_in, dark_in scaled by the {best.name} model, dark_out, and the difference",
            plotting.dark_images(a.dark_in, a.dark_out, best),
        ),
        (
            "dark_out against dark_in with every model and the 1:1 line",
            plotting.scatter(a.dark_in, a.dark_out, fits),
        ),
    ]
    if hot_mask is not None:
        figs.append(
            ("Pixels excluded as hot, over dark_in", plotting.hot_pixel_mask(a.dark_in, hot_mask))
        )
    return figs


def _hot_mask(a: Analysis) -> npt.NDArray[np.bool_] | None:
    from iuvs.hot import hot_pixels

    o = a.options
    if o.get("hot_threshold") is not None:
        return hot_pixels(a.dark_in, threshold=o["hot_threshold"]).mask
    if o.get("hot_sigma") is not None:
        return hot_pixels(a.dark_in, sigma=o["hot_sigma"]).mask
    return None


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_ADVISED: set[str] = set()  # the install advice goes to the log once per process


def _matplotlib_missing(err: ImportError) -> bool:
    """Return True when ``err`` (or an error it was raised from) is the missing matplotlib."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ImportError) and (
            (seen.name or "").split(".")[0] == "matplotlib" or "matplotlib" in str(seen)
        ):
            return True
        seen = seen.__cause__
    return False


def _figure_html(draw: Callable[[], list[tuple[str, Any]]]) -> tuple[list[str], int]:
    """HTML of the figures ``draw()`` returns as (caption, Figure), embedded as PNG.

    Without matplotlib (``draw`` raises ImportError) the section says, once,
    how to get the figures instead; the log says it once per process.
    Returns the HTML parts and the count of figures.
    """
    try:
        drawn = draw()
    except ImportError as err:
        if not _matplotlib_missing(err):
            log.warning("page without figures: %s", err)
            return [f'<p class="note">No figures: {html.escape(str(err))}.</p>'], 0
        if "matplotlib" not in _ADVISED:
            log.warning("pages without figures: matplotlib is not installed (%s)", _INSTALL_PLOT)
            _ADVISED.add("matplotlib")
        else:
            log.info("page without figures: matplotlib is not installed")
        return [
            '<p class="note">No figures: matplotlib is not installed. To add them, run '
            f"<code>{html.escape(_INSTALL_PLOT)}</code> and write this page again "
            "(with <code>--overwrite</code>, or <code>overwrite=True</code>).</p>"
        ], 0
    parts = [
        f'<figure><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, fig in drawn
    ]
    return parts, len(parts)


def render_html(
    a: Analysis, *, figures: bool = True, product: Path | None = None
) -> tuple[str, int]:
    """Return the report page of an analysis and the number of figures it embeds.

    Parameters
    ----------
    a : Analysis
        From :func:`analyse`.
    figures : bool, optional
        Embed the figures (needs matplotlib).
    product : pathlib.Path, optional
        The product file to name on the page.

    Returns
    -------
    tuple of (str, int)
        The HTML text and the count of figures.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     a = iuvs.reporting.analyse(iuvs.synthetic.write_l1b(d, seed=1), darks=(0, 1), ranks=[0])
    >>> page, n = iuvs.reporting.render_html(a, figures=False)
    >>> page.startswith("<!DOCTYPE html>"), n
    (True, 0)
    """
    from iuvs import __version__

    title = f"iuvs dark report: {a.metadata.get('file', a.path.name)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Written by iuvs {html.escape(__version__)} on "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}. "
        f"Models of dark_out = detector_dark[{a.darks[1]}] against dark_in = "
        f"detector_dark[{a.darks[0]}]; {html.escape(_options_text(a))}.</p>",
        "<h2>File</h2>",
        _metadata_table(a),
        "<h2>Models</h2>",
    ]
    if a.choice is not None:
        parts.append(
            f"<p>Chosen rank: <b>{a.choice.rank}</b> ({html.escape(a.chosen_fit.name)}) by "
            f"{html.escape(a.choice.criterion)}.</p>"
        )
    else:
        parts.append("<p>No rank could be chosen.</p>")
    parts.append(_models_table(a))
    if product is not None:
        parts.append(
            f"<p>FITS product: <code>{html.escape(product.name)}</code> (beside this page).</p>"
        )
    n = 0
    parts.append("<h2>Figures</h2>")
    if figures:
        figure_parts, n = _figure_html(lambda: _figures(a))
        parts += figure_parts
    else:
        parts.append("<p>Figures were not asked for.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n", n


def _check_target(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise InvalidParameterError(f"cannot write {path}: it is a folder")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")


def write_report(
    a: Analysis,
    out_dir: str | os.PathLike[str],
    *,
    product: str | None = PRODUCT_NAME,
    overwrite: bool = False,
    figures: bool = True,
) -> ReportResult:
    """Write the product and ``report.html`` of an analysis into ``out_dir``.

    Parameters
    ----------
    a : Analysis
        From :func:`analyse`.
    out_dir : str or path-like
        Folder (created if needed).
    product : str or None, optional
        File name of the FITS product written beside the report (None: no product).
    overwrite : bool, optional
        Replace existing files of those names.
    figures : bool, optional
        Embed the figures.

    Returns
    -------
    ReportResult

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> a = iuvs.reporting.analyse(iuvs.synthetic.write_l1b(d, seed=1), darks=(0, 1), ranks=[0, 1])
    >>> iuvs.reporting.write_report(a, d / "out", product=None, figures=False).html.name
    'report.html'
    """
    from iuvs.io import DarkWriter
    from iuvs.io.product import check_output_path

    folder = Path(out_dir)
    html_path = folder / REPORT_NAME
    if folder.exists() and not folder.is_dir():
        raise InvalidParameterError(f"cannot write a report into {folder}: it is not a folder")
    _check_target(html_path, overwrite)
    product_path = None if product is None else folder / product
    folder.mkdir(parents=True, exist_ok=True)
    if product_path is not None:
        check_output_path(product_path, overwrite=overwrite, inputs=[a.path])
    page, n = render_html(a, figures=figures, product=product_path)
    if product_path is not None:
        writer = DarkWriter(
            product_path,
            a.dark_in,
            a.dark_out,
            overwrite=overwrite,
            inputs=[a.path],
            darks_used=a.darks,
        )
        for s in a.scalers:
            writer.append_polyfitted(s)
        writer.write()
    _check_target(html_path, overwrite)
    with atomic_file(html_path) as fh:
        fh.write(page.encode("utf-8"))
    return ReportResult(html_path, product_path, a, n)


def report(
    l1b_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    darks: Sequence[int] = (1, 2),
    ranks: Iterable[int] = range(-1, 5),
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    criterion: Literal["aic", "bic", "plateau"] = "bic",
    product: str | None = PRODUCT_NAME,
    overwrite: bool = False,
    figures: bool = True,
    options: FitOptions | None = None,
) -> ReportResult:
    """Analyse an L1B file and write a one-page ``report.html`` beside its FITS product.

    The page is self-contained (figures embedded as PNG): the file's metadata
    (observation, channel, integration time, dark times and temperatures), a
    table of every model (coefficients with errors, residual statistics, pixels
    used, the chosen rank) and the notebook's figures.

    Parameters
    ----------
    l1b_path : str or path-like
        The L1B file.
    out_dir : str or path-like
        Folder for ``report.html`` and the product (created if needed).
    darks, ranks, hot_threshold, hot_sigma, clip, criterion
        As for :func:`analyse`.
    product : str or None, optional
        File name of the product (default ``dark_fitting.fits``; None: none).
    overwrite : bool, optional
        Replace an earlier report and product in ``out_dir``.
    figures : bool, optional
        Embed the figures (needs matplotlib, the ``plot`` extra; without it the
        page says so and holds the tables).
    options : FitOptions, optional
        ``hot_threshold``, ``hot_sigma`` and ``clip`` as a :class:`iuvs.FitOptions`.

    Returns
    -------
    ReportResult
        Paths written and the analysis.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        ``report.html`` or the product exists and ``overwrite`` is false.
    iuvs.exceptions.IuvsError
        As :func:`analyse`.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> l1b = iuvs.synthetic.write_l1b(d, n_darks=2, seed=4)
    >>> r = iuvs.report(l1b, d / "out", darks=(0, 1), ranks=[-1, 0, 1], figures=False)
    >>> r.html.name, r.product.name
    ('report.html', 'dark_fitting.fits')
    """
    if options is not None:
        hot_threshold, hot_sigma, clip = FitOptions.resolve(
            options, hot_threshold=hot_threshold, hot_sigma=hot_sigma, clip=clip
        ).scalars("the report")
    folder = Path(out_dir)
    _check_target(folder / REPORT_NAME, overwrite)
    a = analyse(
        l1b_path,
        darks=darks,
        ranks=ranks,
        hot_threshold=hot_threshold,
        hot_sigma=hot_sigma,
        clip=clip,
        criterion=criterion,
    )
    return write_report(a, folder, product=product, overwrite=overwrite, figures=figures)


SURVEY_REPORT_NAME = "survey.html"


def write_survey_report(
    table: Any,
    out_dir: str | os.PathLike[str],
    *,
    summary_text: str | None = None,
    overwrite: bool = False,
    figures: bool = True,
) -> Path:
    """Write ``survey.html``: the survey's summary, per-rank statistics and its figures.

    Parameters
    ----------
    table : pandas.DataFrame
        A survey table (:func:`iuvs.survey.survey`).
    out_dir : str or path-like
        Folder (created if needed).
    summary_text : str, optional
        Text shown at the top (e.g. :func:`iuvs.survey.format_summary`).
    overwrite : bool, optional
        Replace an existing ``survey.html``.
    figures : bool, optional
        Embed the figures (needs matplotlib): the multiplicative coefficient and
        residual std against temperature difference and time, and the best rank
        per channel.

    Returns
    -------
    pathlib.Path
        The page written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The page exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = iuvs.synthetic.write_archive(d / "archive", n_files=4, seed=1, bad_fraction=0.0)
    >>> table = iuvs.survey.survey(d / "archive", jobs=1, progress=False)
    >>> iuvs.reporting.write_survey_report(table, d / "rep", figures=False).name
    'survey.html'
    """
    from iuvs import __version__

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidParameterError(f"cannot write a report into {folder}: it is not a folder")
    page_path = folder / SURVEY_REPORT_NAME
    _check_target(page_path, overwrite)
    ok = table[table["status"] == "ok"]
    failed = table[table["status"] != "ok"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>iuvs survey</title><style>{_CSS}</style></head><body>",
        "<h1>iuvs survey</h1>",
        f"<p>Written by iuvs {html.escape(__version__)} on "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}.</p>",
    ]
    if summary_text:
        parts.append(f"<pre>{html.escape(summary_text)}</pre>")
    head = [
        "rank",
        "model",
        "pairs",
        "chosen",
        "median coeff c0",
        "median resid std",
        "median |frac mean|",
    ]
    rows = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for rank, group in ok.groupby("rank", sort=True):
        rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(c)}</td>"
                for c in (
                    str(int(rank)),
                    str(group["model"].iloc[0]),
                    str(len(group)),
                    str(int(group["chosen"].sum())),
                    _fmt(float(group["c0"].median()), ".6g"),
                    _fmt(float(group["std"].median()), ".4g"),
                    _fmt(float(group["frac_mean"].abs().median()), ".4g"),
                )
            )
            + "</tr>"
        )
    rows.append("</table>")
    parts += ["<h2>Models over all pairs</h2>", "\n".join(rows)]
    if len(failed):
        parts.append(f"<h2>Failures ({len(failed)} rows)</h2><table>")
        parts.append("<tr><th class='l'>file</th><th class='l'>error</th></tr>")
        for _, r in failed.iterrows():
            parts.append(
                f"<tr><td class='l'>{html.escape(str(r['file']))}</td><td class='l'>"
                f"{html.escape(str(r['error_class']))}: {html.escape(str(r['error_message']))}"
                "</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    if figures:

        def draw() -> list[tuple[str, Any]]:
            from iuvs import plotting

            return [
                (
                    "Multiplicative coefficient and residual std against temperature difference "
                    "and time between the darks",
                    plotting.survey_drift(table),
                ),
                ("Chosen rank per channel", plotting.survey_best_rank(table)),
            ]

        parts += _figure_html(draw)[0]
    parts.append("</body></html>")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(page_path) as fh:
        fh.write(("\n".join(parts) + "\n").encode("utf-8"))
    return page_path
