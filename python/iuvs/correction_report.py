"""The dark-correction report page.

One light frame raw / dark / corrected with its calm window, the mean
spectral profile before and after, and the quality table.
:func:`plot_correction` draws the figure (a matplotlib ``Figure`` that pyplot
does not know about); :func:`render_correction_html` builds the page;
:func:`write_correction_report` writes ``dark_correction.html`` atomically.
``iuvs subtract FILE -o OUT --report DIR`` calls the last one.

Examples
--------
>>> import tempfile, pathlib, iuvs
>>> from iuvs.correction_report import render_correction_html
>>> with tempfile.TemporaryDirectory() as d:
...     c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1, light="smooth"))
>>> page, n = render_correction_html(c, figures=False)
>>> "<h2>Quality per frame</h2>" in page, n
(True, 0)
"""

from __future__ import annotations

import html
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iuvs._atomic import atomic_file
from iuvs.exceptions import InvalidParameterError, OutputExistsError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from iuvs.darks import DarkCorrection, QualityTable

__all__ = ["REPORT_NAME", "plot_correction", "render_correction_html", "write_correction_report"]

REPORT_NAME = "dark_correction.html"
_MAX_ROWS = 200  # frames listed in the per-frame table


def _check_frame(correction: DarkCorrection, frame: int) -> int:
    n = int(correction.corrected.shape[0])
    if isinstance(frame, bool) or not isinstance(frame, int | np.integer) or not -n <= frame < n:
        raise InvalidParameterError(f"frame must be an integer in -{n}..{n - 1}, got {frame!r}")
    return int(frame) % n


def plot_correction(correction: DarkCorrection, frame: int = 0) -> Figure:
    """Draw one light frame: raw, dark, corrected (calm window outlined) and mean spectra.

    Parameters
    ----------
    correction : iuvs.darks.DarkCorrection
        From :func:`iuvs.darks.subtract`.
    frame : int, optional
        The integration to show.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels (a figure pyplot does not manage: nothing to close).

    Raises
    ------
    ImportError
        Without matplotlib (``pip install "iuvs[plot]"``).
    iuvs.exceptions.InvalidParameterError
        ``frame`` outside the frames.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.correction_report import plot_correction
    >>> with tempfile.TemporaryDirectory() as d:
    ...     c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1, light="smooth"))
    >>> len(plot_correction(c, frame=1).axes) >= 4
    True
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    k = _check_frame(correction, frame)
    dark = correction.dark[k].astype(np.float64)
    corrected = correction.corrected[k].astype(np.float64)
    raw = corrected + dark
    s0, s1, e0, e1 = (int(v) for v in correction.window[k])
    fig = Figure(figsize=(12.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 2)
    panels = ((raw, "raw (DN)"), (dark, "dark (DN)"), (corrected, "corrected (DN)"))
    for ax, (image, title) in zip(axes.flat[:3], panels, strict=True):
        finite = image[np.isfinite(image)]
        lo, hi = np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0)
        im = ax.imshow(image, origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="viridis")
        ax.add_patch(
            Rectangle((e0 - 0.5, s0 - 0.5), e1 - e0, s1 - s0, fill=False, edgecolor="red", lw=1.5)
        )
        ax.set_title(f"frame {k}: {title}")
        ax.set_xlabel("spectral bin")
        ax.set_ylabel("spatial bin")
        fig.colorbar(im, ax=ax)
    ax = axes.flat[3]
    ax.plot(np.nanmean(raw, axis=0), label="raw")
    ax.plot(np.nanmean(dark, axis=0), label="dark")
    ax.plot(np.nanmean(corrected, axis=0), label="corrected")
    ax.axvspan(e0 - 0.5, e1 - 0.5, color="red", alpha=0.15, label="calm window")
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_title("mean spectral profile (over the spatial bins)")
    ax.set_xlabel("spectral bin")
    ax.set_ylabel("DN")
    ax.legend(fontsize="small")
    return fig


def _table(table: QualityTable, limit: int) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    rows = []
    for r in table.data[:limit]:
        cells = []
        for c in table.columns:
            v = r[c]
            kind = table.data.dtype[c].kind
            text = f"{float(v):.4g}" if kind == "f" else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def render_correction_html(
    correction: DarkCorrection, *, frame: int = 0, figures: bool = True
) -> tuple[str, int]:
    """Return the dark-correction page and the number of figures it embeds.

    Parameters
    ----------
    correction : iuvs.darks.DarkCorrection
        From :func:`iuvs.darks.subtract`.
    frame : int, optional
        The integration shown in the figure.
    figures : bool, optional
        Embed the figure (needs matplotlib; without it the page says so).

    Returns
    -------
    tuple of (str, int)
        The HTML text and the count of figures.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.correction_report import render_correction_html
    >>> with tempfile.TemporaryDirectory() as d:
    ...     c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1))
    >>> render_correction_html(c, figures=False)[0].startswith("<!DOCTYPE html>")
    True
    """
    from iuvs import __version__
    from iuvs.reporting import _CSS, _figure_html

    k = _check_frame(correction, frame)
    name = Path(correction.source).name or "(in memory)"
    title = f"iuvs dark correction: {name}"
    rank = "" if correction.rank is None else f", rank {correction.rank}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Written by iuvs {html.escape(__version__)} on "
        f"{html.escape(time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))}. "
        f"Method <b>{html.escape(correction.method)}</b>{html.escape(rank)}: "
        f"{html.escape(correction.method_detail)}.</p>",
        "<h2>Quality (median over the frames)</h2>",
        _table(correction.quality.summary(), 10),
        "<p>DN of the corrected frame: mean and 1.4826 MAD inside the calm window and over "
        "the frame, the counting noise expected in the window and their ratio. A fitted "
        "model's window statistics are in-sample (the window is where it was fitted).</p>",
        f"<h2>Frame {k}</h2>",
    ]
    n = 0
    if figures:
        figure_parts, n = _figure_html(
            lambda: [
                (
                    f"Frame {k}: raw, dark and corrected (calm window in red) and the mean "
                    "spectral profile before and after",
                    plot_correction(correction, k),
                )
            ]
        )
        parts += figure_parts
    else:
        parts.append("<p>Figures were not asked for.</p>")
    total = len(correction.quality)
    shown = min(total, _MAX_ROWS)
    parts.append("<h2>Quality per frame</h2>")
    if shown < total:
        parts.append(f"<p>The first {shown} of {total} frames.</p>")
    parts.append(_table(correction.quality, _MAX_ROWS))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n", n


def write_correction_report(
    correction: DarkCorrection,
    out_dir: str | os.PathLike[str],
    *,
    frame: int = 0,
    overwrite: bool = False,
    figures: bool = True,
) -> Path:
    """Write ``dark_correction.html`` into ``out_dir`` (created if needed), atomically.

    Parameters
    ----------
    correction : iuvs.darks.DarkCorrection
        From :func:`iuvs.darks.subtract`.
    out_dir : str or path-like
        The folder.
    frame : int, optional
        The integration shown in the figure.
    overwrite : bool, optional
        Replace an existing page.
    figures : bool, optional
        Embed the figure.

    Returns
    -------
    pathlib.Path
        The page written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The page exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        ``out_dir`` is a file, or ``frame`` is outside the frames.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> from iuvs.correction_report import write_correction_report
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1))
    >>> write_correction_report(c, d / "report", figures=False).name
    'dark_correction.html'
    """
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidParameterError(f"cannot write a report into {folder}: it is not a folder")
    target = folder / REPORT_NAME
    check_report_target(target, overwrite)
    page, _ = render_correction_html(correction, frame=frame, figures=figures)
    folder.mkdir(parents=True, exist_ok=True)
    check_report_target(target, overwrite)
    with atomic_file(target) as fh:
        fh.write(page.encode("utf-8"))
    return target


def check_report_target(target: Path, overwrite: bool) -> None:
    """Refuse an existing page (unless ``overwrite``) or a folder in its place.

    Parameters
    ----------
    target : pathlib.Path
        The page.
    overwrite : bool
        Whether an existing page may be replaced.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The page exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        ``target`` is a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> check_report_target(pathlib.Path(tempfile.mkdtemp()) / REPORT_NAME, False)
    """
    if target.is_dir():
        raise InvalidParameterError(f"cannot write {target}: it is a folder")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it")
