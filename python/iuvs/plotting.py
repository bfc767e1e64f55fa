"""Figures of dark-frame fits: the plots of the 2015 dark-scaling notebook, and survey summaries.

matplotlib is an optional dependency (``pip install "iuvs[plot]"``) and is
imported only when a function is called, so ``import iuvs.plotting`` works
without it.  Figures are built with the object-oriented API
(:class:`matplotlib.figure.Figure`), never through :mod:`matplotlib.pyplot`:
they are not registered with pyplot, work under any backend, are freed like
any Python object in batch jobs, and nothing is ever shown.  Every function
draws on the ``ax`` (or ``axes``) it is given, or on a new figure, and returns
the :class:`~matplotlib.figure.Figure`.

Model ranks follow the rest of the package: -1 additive (``x + a``), 0
multiplicative (``a * x``), ``n >= 1`` a polynomial of degree ``n`` whose
coefficients are listed highest power first.

Examples
--------
>>> import iuvs
>>> from iuvs import plotting
>>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
>>> fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=range(-1, 4))
>>> fig = plotting.fractional_over_rank(fits, chosen=1)
>>> fig.axes[0].get_ylabel()
'|fractional residual mean|'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import InvalidParameterError
from iuvs.fitting import Fit, model_name
from iuvs.hot import HotPixels
from iuvs.selection import RankChoice

if TYPE_CHECKING:  # pragma: no cover - annotations only; matplotlib is imported lazily
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "dark_histograms",
    "dark_images",
    "dark_vs_temperature",
    "fractional_over_rank",
    "hot_pixel_mask",
    "residual_histograms",
    "scatter",
    "spectral_profiles",
    "superdark",
    "survey_best_rank",
    "survey_drift",
]

_MISSING_MATPLOTLIB = (
    'iuvs.plotting needs matplotlib, which is not installed: pip install "iuvs[plot]"'
)

#: Channel order of the survey figures (others follow, sorted).
_CHANNELS = ("MUV", "FUV")

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# matplotlib access (lazy)
# --------------------------------------------------------------------------------------------


def _require_matplotlib() -> None:
    """Import matplotlib or raise an ImportError that says how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:
        raise ImportError(_MISSING_MATPLOTLIB) from err


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """Return a new figure that pyplot does not know about."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _check_axes(ax: Any, name: str = "ax") -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise InvalidParameterError(f"{name} must be a matplotlib Axes, got {type(ax).__name__}")
    return ax


def _root_figure(ax: Axes) -> Figure:
    """Return the top-level figure of ``ax`` (through any subfigures)."""
    from matplotlib.figure import Figure

    fig: Any = ax.figure
    while fig is not None and not isinstance(fig, Figure):
        fig = fig.figure  # a SubFigure: its ``figure`` is the root figure
    if fig is None:
        raise InvalidParameterError("ax is not attached to a figure")
    return fig


def _single_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = _new_figure(figsize)
        return fig, fig.add_subplot()
    checked = _check_axes(ax)
    return _root_figure(checked), checked


def _axes_grid(
    axes: Any, shape: tuple[int, int], figsize: tuple[float, float], name: str = "axes"
) -> tuple[Figure, npt.NDArray[Any]]:
    """Return ``(figure, grid)`` with ``grid`` an object array of Axes of ``shape``."""
    n_rows, n_cols = shape
    if axes is None:
        fig = _new_figure(figsize)
        grid = fig.subplots(n_rows, n_cols, squeeze=False)
        return fig, np.asarray(grid, dtype=object)
    flat = np.asarray(axes, dtype=object).ravel()
    if flat.size != n_rows * n_cols:
        raise InvalidParameterError(
            f"{name} must hold {n_rows * n_cols} Axes ({n_rows} rows x {n_cols} columns), "
            f"got {flat.size}"
        )
    for item in flat:
        _check_axes(item, name)
    grid = flat.reshape(n_rows, n_cols)
    return _root_figure(grid[0, 0]), grid


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _as_float(a: npt.ArrayLike, name: str) -> FloatArray:
    """Return ``a`` as float64 (masked pixels become NaN); refuse non-numeric or empty input."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "iuf":
        raise InvalidParameterError(
            f"{name} must hold real numbers (DN), got dtype {arr.dtype} ({arr.dtype.name})"
        )
    if arr.size == 0:
        raise InvalidParameterError(f"{name} is empty (shape {arr.shape})")
    out = np.asarray(arr, dtype=np.float64)
    if isinstance(a, np.ma.MaskedArray) and a.mask is not np.ma.nomask:
        out = np.where(np.ma.getmaskarray(a), np.nan, out)
    return out


def _frame(a: npt.ArrayLike, name: str) -> FloatArray:
    arr = _as_float(a, name)
    if arr.ndim != 2:
        raise InvalidParameterError(
            f"{name} must be a 2-D frame (spatial, spectral), got shape {arr.shape}"
        )
    return arr


def _pair(
    dark_in: npt.ArrayLike, dark_out: npt.ArrayLike, *, two_d: bool
) -> tuple[FloatArray, FloatArray]:
    convert = _frame if two_d else _as_float
    x = convert(dark_in, "dark_in")
    y = convert(dark_out, "dark_out")
    if x.shape != y.shape:
        raise InvalidParameterError(
            f"dark_in and dark_out must have the same shape, got {x.shape} and {y.shape}"
        )
    return x, y


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _factors(factors: Iterable[float]) -> list[float]:
    out = []
    for a in factors:
        try:
            value = float(a)
        except (TypeError, ValueError) as err:
            raise InvalidParameterError(f"factors must be numbers, got {a!r}") from err
        if not math.isfinite(value):
            raise InvalidParameterError(f"factors must be finite, got {a!r}")
        out.append(value)
    return out


def _fit_list(fits: Fit | Iterable[Fit], *, allow_empty: bool = False) -> list[Fit]:
    items = [fits] if isinstance(fits, Fit) else list(fits)
    for item in items:
        if not isinstance(item, Fit):
            raise InvalidParameterError(
                f"fits must hold iuvs.Fit results (from iuvs.fit or iuvs.fit_all), "
                f"got {type(item).__name__}"
            )
    if not items and not allow_empty:
        raise InvalidParameterError("fits is empty; give at least one iuvs.Fit")
    return items


# --------------------------------------------------------------------------------------------
# small numerical and formatting helpers
# --------------------------------------------------------------------------------------------


def _finite(values: FloatArray) -> FloatArray:
    flat = values.ravel()
    return flat[np.isfinite(flat)]


def _mean_axis0(frame: FloatArray) -> FloatArray:
    """Mean over axis 0 of the finite values (NaN where a column has none), without warnings."""
    ok = np.isfinite(frame)
    count = ok.sum(axis=0)
    total = np.where(ok, frame, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _limits(
    values: Sequence[FloatArray], low: float = 1.0, high: float = 99.0
) -> tuple[float, float]:
    """Percentile colour limits shared by several images (finite values only)."""
    finite = np.concatenate([_finite(v) for v in values])
    if finite.size == 0:
        return 0.0, 1.0
    vmin, vmax = (float(p) for p in np.percentile(finite, [low, high]))
    if vmax <= vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


def _rank_label(rank: int) -> str:
    """Tick label of a rank: ``'add'``, ``'mult'`` or the polynomial degree."""
    return {-1: "add", 0: "mult"}.get(int(rank), str(int(rank)))


def _format_model(fit: Fit, digits: int = 4) -> str:
    """Compact model formula, highest power first, e.g. ``'2.1e-05 x^2 + 1.45 x + 10.3'``."""
    terms: list[tuple[float, int]]
    if fit.rank == -1:
        terms = [(1.0, 1), (float(fit.coeffs[0]), 0)]
    elif fit.rank == 0:
        terms = [(float(fit.coeffs[0]), 1)]
    else:
        degree = len(fit.coeffs) - 1
        terms = [(float(c), degree - i) for i, c in enumerate(fit.coeffs)]
    text = ""
    for i, (coeff, power) in enumerate(terms):
        variable = "" if power == 0 else ("x" if power == 1 else f"x^{power}")
        magnitude = abs(coeff) if i > 0 else coeff
        if fit.rank == -1 and power == 1:
            number = ""
        else:
            number = f"{magnitude:.{digits}g}" + (" " if variable else "")
        term = number + variable
        if i == 0:
            text = term
        else:
            text += (" - " if coeff < 0 else " + ") + term
    return text


def _text(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4")


# --------------------------------------------------------------------------------------------
# the notebook figures
# --------------------------------------------------------------------------------------------


def dark_histograms(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    *,
    factors: Iterable[float] = (1.4, 1.5, 1.6),
    bins: int = 100,
    ax: Axes | None = None,
) -> Figure:
    """Histograms of ``dark_out`` and of ``dark_in`` times each factor (the notebook's first test).

    All histograms share the same bins, spanning the finite values of every
    series; counts are on a log scale.  When a factor brings the ``dark_in``
    histogram onto the ``dark_out`` one, a multiplicative model is plausible.

    Parameters
    ----------
    dark_in, dark_out : array_like
        The two darks, same shape (any numeric dtype; non-finite values are left out).
    factors : iterable of float, optional
        Multiplicative factors applied to ``dark_in``.
    bins : int, optional
        Number of bins.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Shapes differ, an input is empty or not numeric, a factor is not
        finite, ``bins`` is not a positive integer, or no value is finite.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> fig = plotting.dark_histograms(pair.dark_in, pair.dark_out)
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('DN', 'counts')
    >>> fig.axes[0].get_legend_handles_labels()[1]
    ['dark_out', 'dark_in × 1.4', 'dark_in × 1.5', 'dark_in × 1.6']
    """
    _require_matplotlib()
    x, y = _pair(dark_in, dark_out, two_d=False)
    n_bins = _positive_int(bins, "bins")
    series = [("dark_out", _finite(y))] + [
        (f"dark_in × {a:g}", _finite(x * a)) for a in _factors(factors)
    ]
    everything = [values for _, values in series if values.size]
    if not everything:
        raise InvalidParameterError("dark_in and dark_out hold no finite value")
    low = min(float(v.min()) for v in everything)
    high = max(float(v.max()) for v in everything)
    edges = np.histogram_bin_edges(np.array([low, high]), bins=n_bins)
    fig, ax = _single_axes(ax, (7.0, 5.0))
    for label, values in series:
        counts, _ = np.histogram(values, bins=edges)
        ax.stairs(counts, edges, label=label, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("DN")
    ax.set_ylabel("counts")
    ax.set_title("dark_out and scaled dark_in")
    ax.legend()
    return fig


def spectral_profiles(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    *,
    factors: Iterable[float] = (1.4, 1.5, 1.6),
    wavelengths: npt.ArrayLike | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Spatially averaged spectral profiles of ``dark_out``, ``dark_in`` and scaled ``dark_in``.

    Each profile is the mean over axis 0 (spatial) of the finite pixels.

    Parameters
    ----------
    dark_in, dark_out : array_like
        2-D frames ``(spatial, spectral)`` of the same shape.
    factors : iterable of float, optional
        Multiplicative factors applied to ``dark_in``.
    wavelengths : array_like, optional
        1-D wavelengths ``(n_spectral,)`` in nm for the x axis; spectral bin
        numbers otherwise.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        The frames are not 2-D or differ in shape, a factor is not finite, or
        ``wavelengths`` is not 1-D with one value per spectral bin.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> fig = plotting.spectral_profiles(pair.dark_in, pair.dark_out, factors=[1.45])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel(), len(fig.axes[0].lines)
    ('spectral bin', 'mean DN', 3)
    """
    _require_matplotlib()
    x, y = _pair(dark_in, dark_out, two_d=True)
    scale = _factors(factors)
    n_spectral = x.shape[1]
    if wavelengths is None:
        abscissa: FloatArray = np.arange(n_spectral, dtype=np.float64)
        xlabel = "spectral bin"
    else:
        abscissa = _as_float(wavelengths, "wavelengths")
        if abscissa.shape != (n_spectral,):
            raise InvalidParameterError(
                f"wavelengths must be 1-D with one value per spectral bin, shape "
                f"({n_spectral},) for frames of shape {x.shape}; got shape {abscissa.shape}"
            )
        xlabel = "wavelength (nm)"
    profile_in = _mean_axis0(x)
    fig, ax = _single_axes(ax, (8.0, 5.0))
    ax.plot(abscissa, _mean_axis0(y), label="dark_out", color="black", linewidth=1.5)
    ax.plot(abscissa, profile_in, label="dark_in", color="0.5", linewidth=1.0)
    for a in scale:
        ax.plot(abscissa, a * profile_in, label=f"dark_in × {a:g}", linewidth=1.0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean DN")
    ax.set_title("spatially averaged spectral profiles")
    ax.legend(loc="best")
    return fig


def residual_histograms(
    fits: Fit | Iterable[Fit],
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    *,
    bins: int = 100,
    exclude: npt.ArrayLike | HotPixels | None = None,
    axes: Any = None,
) -> Figure:
    """Histograms of the absolute and fractional residual of each fit (two panels per fit).

    The upper panel of a fit shows ``residual = dark_out - fit.apply(dark_in)``,
    the lower one ``residual / dark_out``, both with log counts, over the
    pixels the fit used: pixels in ``fit.mask`` (sigma clipping), in
    ``exclude`` (the pixels every fit left out, such as the hot pixels of a
    ``hot_threshold`` or ``hot_sigma`` fit, which ``fit.mask`` does not hold)
    and non-finite values are left out, and so are pixels with
    ``dark_out == 0`` in the fractional panel.  The upper title gives the
    model formula (highest power first, coefficients with 4 significant
    digits, wrapped), the lower title the fit's fractional residual mean
    ``fit.stats.frac_mean`` formatted with ``{:.5g}``; titles and labels are
    at least 9 pt.  On a new figure, fits are laid out three per row (a pair
    of rows each), so the figure stays about 12 inches wide.

    Parameters
    ----------
    fits : Fit or iterable of Fit
        Fits of ``dark_out`` against ``dark_in`` (for example from
        :func:`iuvs.fit_all`).
    dark_in, dark_out : array_like
        The darks the fits were made on, same shape.
    bins : int, optional
        Number of bins of every histogram.
    exclude : array_like of bool or HotPixels, optional
        Pixels (True) left out of every fit besides each fit's own mask: the
        hot pixels (``iuvs.hot_pixels(dark_in, threshold=...)``, or its
        ``.mask``) and any ``mask=`` given to the fit.
    axes : array_like of matplotlib.axes.Axes, optional
        ``2 x len(fits)`` Axes (any nesting that flattens row by row, such as
        the array from ``fig.subplots(2, n)``: the upper row for the absolute
        residuals); a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes; ``fig.axes`` lists the absolute panels
        of every fit first, then the fractional ones.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        No fit, shapes differ (also with a fit's mask or ``exclude``),
        ``exclude`` is not boolean, ``bins`` is not a positive integer, or
        ``axes`` does not hold ``2 x len(fits)`` Axes.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> hot = iuvs.hot_pixels(pair.dark_in, threshold=2500)
    >>> fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=[0, 1], hot_threshold=2500)
    >>> fig = plotting.residual_histograms(fits, pair.dark_in, pair.dark_out, exclude=hot)
    >>> fig.axes[0].get_xlabel(), fig.axes[2].get_xlabel()
    ('residual (DN)', 'fractional residual')
    >>> int(fig.axes[0].patches[0].get_data().values.sum()) == fits[0].stats.n_used
    True
    >>> fig.axes[2].get_title() == f"fractional mean {fits[0].stats.frac_mean:.5g}"
    True
    """
    _require_matplotlib()
    fit_list = _fit_list(fits)
    x, y = _pair(dark_in, dark_out, two_d=False)
    n_bins = _positive_int(bins, "bins")
    for fit in fit_list:
        if fit.mask is not None and fit.mask.shape != x.shape:
            raise InvalidParameterError(
                f"the mask of the {fit.name} fit has shape {fit.mask.shape}, "
                f"the darks {x.shape}; give the darks the fit was made on"
            )
    excluded = _exclude_mask(exclude, x.shape)
    n = len(fit_list)
    fig, top, bottom = _histogram_grid(axes, n)
    base_ok = np.isfinite(x) & np.isfinite(y)
    if excluded is not None:
        base_ok &= ~excluded
    for column, fit in enumerate(fit_list):
        residual = y - fit.apply(x)
        used = base_ok & np.isfinite(residual)
        if fit.mask is not None:
            used &= ~fit.mask
        fractional_used = used & (y != 0)
        fractional = residual[fractional_used] / y[fractional_used]
        for ax, values, xlabel in (
            (top[column], residual[used], "residual (DN)"),
            (bottom[column], fractional, "fractional residual"),
        ):
            if values.size:
                counts, edges = np.histogram(values, bins=n_bins)
                ax.stairs(counts, edges, fill=True, alpha=0.8)
                ax.set_yscale("log")
            else:
                _text(ax, "no pixels")
            ax.set_xlabel(xlabel, fontsize=_LABEL_PT)
            ax.set_ylabel("pixels", fontsize=_LABEL_PT)
            ax.tick_params(labelsize=_LABEL_PT)
        top[column].set_title(
            f"{fit.name}:\n{_wrap_formula(_format_model(fit))}", fontsize=_TITLE_PT
        )
        bottom[column].set_title(f"fractional mean {fit.stats.frac_mean:.5g}", fontsize=_TITLE_PT)
    return fig


#: Font sizes (points) of the residual-histogram grid: readable in the report's PNG.
_TITLE_PT = 10.0
_LABEL_PT = 9.0
#: Fits per row of a new residual-histogram figure, and the size of one panel (inches).
_HIST_COLUMNS = 3
_HIST_PANEL = (4.0, 2.9)


def _histogram_grid(axes: Any, n: int) -> tuple[Figure, list[Axes], list[Axes]]:
    """Return ``(figure, upper panels, lower panels)`` for ``n`` fits.

    Given ``axes`` (``2 x n``), the upper row holds the absolute panels.  On a
    new figure, fits wrap three per row pair, and the absolute panels are
    added first so that ``fig.axes[:n]`` are they, as with a ``2 x n`` grid.
    """
    if axes is not None:
        fig, grid = _axes_grid(axes, (2, n), (0.0, 0.0))
        return fig, list(grid[0]), list(grid[1])
    columns = min(n, _HIST_COLUMNS)
    pairs = -(-n // columns)
    fig = _new_figure((_HIST_PANEL[0] * columns, _HIST_PANEL[1] * 2 * pairs))
    spec = fig.add_gridspec(2 * pairs, columns)
    top = [fig.add_subplot(spec[2 * (k // columns), k % columns]) for k in range(n)]
    bottom = [fig.add_subplot(spec[2 * (k // columns) + 1, k % columns]) for k in range(n)]
    return fig, top, bottom


def _wrap_formula(text: str, width: int = 36) -> str:
    """Break a model formula into lines of about ``width`` characters, between terms."""
    lines: list[str] = []
    current = ""
    for piece in re.split(r"(?= [+-] )", text):
        if current and len(current) + len(piece) > width:
            lines.append(current)
            piece = piece.lstrip()
            current = piece
        else:
            current += piece
    lines.append(current)
    return "\n".join(lines)


def _exclude_mask(
    exclude: npt.ArrayLike | HotPixels | None, shape: tuple[int, ...]
) -> npt.NDArray[np.bool_] | None:
    """Check ``exclude`` (a boolean mask of ``shape``, or HotPixels); None when not given."""
    if exclude is None:
        return None
    mask = np.asarray(exclude.mask if isinstance(exclude, HotPixels) else exclude)
    if mask.dtype != np.bool_:
        raise InvalidParameterError(
            f"exclude must be a boolean mask (True = left out) or iuvs.HotPixels, "
            f"got dtype {mask.dtype}"
        )
    if mask.shape != shape:
        raise InvalidParameterError(
            f"exclude has shape {mask.shape}, the darks {shape}; give the mask of the darks "
            "the fits were made on"
        )
    return mask


def fractional_over_rank(
    fits: Fit | Iterable[Fit],
    *,
    chosen: int | RankChoice | None = None,
    ax: Axes | None = None,
) -> Figure:
    """``|fractional residual mean|`` against model rank (the notebook's plateau plot).

    Ranks -1 and 0 are labelled ``add`` and ``mult``, the others by polynomial
    degree.  The y axis is logarithmic when every plotted value is positive.
    The chosen rank, if given, is circled in red and annotated.

    Parameters
    ----------
    fits : Fit or iterable of Fit
        Fits of one pair (for example from :func:`iuvs.fit_all`).
    chosen : int or RankChoice, optional
        The chosen rank (for example ``iuvs.choose_rank(fits).rank``); must be
        the rank of one of ``fits``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        No fit, or ``chosen`` is not one of the fitted ranks.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=range(-1, 4))
    >>> fig = plotting.fractional_over_rank(fits, chosen=0)
    >>> ax = fig.axes[0]
    >>> ax.get_xlabel(), [t.get_text() for t in ax.get_xticklabels()]
    ('rank', ['add', 'mult', '1', '2', '3'])
    >>> ax.get_legend_handles_labels()[1]
    ['fits', 'chosen: multiplicative']
    """
    _require_matplotlib()
    fit_list = _fit_list(fits)
    ranks = np.array([fit.rank for fit in fit_list], dtype=np.int64)
    values = np.array([abs(fit.stats.frac_mean) for fit in fit_list], dtype=np.float64)
    chosen_rank: int | None = None
    if chosen is not None:
        raw = chosen.rank if isinstance(chosen, RankChoice) else chosen
        if isinstance(raw, bool) or not isinstance(raw, int | np.integer):
            raise InvalidParameterError(f"chosen must be an integer rank, got {chosen!r}")
        chosen_rank = int(raw)
        if chosen_rank not in ranks:
            raise InvalidParameterError(
                f"chosen rank {chosen_rank} is not among the fitted ranks "
                f"{sorted({int(r) for r in ranks})}"
            )
    fig, ax = _single_axes(ax, (6.0, 4.5))
    ax.plot(ranks, values, linestyle="none", marker="*", markersize=12, label="fits")
    finite = values[np.isfinite(values)]
    if finite.size and bool(np.all(finite > 0)):
        ax.set_yscale("log")
    if chosen_rank is not None:
        pick = ranks == chosen_rank
        ax.plot(
            ranks[pick],
            values[pick],
            linestyle="none",
            marker="o",
            markersize=20,
            markerfacecolor="none",
            markeredgecolor="red",
            markeredgewidth=2,
            label=f"chosen: {model_name(chosen_rank)}",
        )
        y_chosen = float(values[pick][0])
        ax.annotate(
            "chosen",
            xy=(float(chosen_rank), y_chosen if math.isfinite(y_chosen) else 0.5),
            xycoords=("data", "data" if math.isfinite(y_chosen) else "axes fraction"),
            xytext=(0, 18),
            textcoords="offset points",
            ha="center",
            color="red",
        )
    ticks = sorted({int(r) for r in ranks})
    ax.set_xticks(ticks)
    ax.set_xticklabels([_rank_label(r) for r in ticks])
    ax.set_xlim(ticks[0] - 0.5, ticks[-1] + 0.5)
    ax.set_xlabel("rank")
    ax.set_ylabel("|fractional residual mean|")
    ax.set_title("fractional residual over model rank")
    ax.legend(loc="best")
    return fig


def dark_images(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    fit: Fit,
    *,
    axes: Any = None,
) -> Figure:
    """Images of ``dark_in``, scaled ``dark_in``, ``dark_out`` and ``dark_out - scaled``.

    The first three panels share their colour limits (1st and 99th
    percentiles of the finite pixels of all three), so they can be compared
    by eye; the difference uses a grey scale symmetric about zero (99th
    percentile of ``|difference|``).  Each panel has its colour bar.

    Parameters
    ----------
    dark_in, dark_out : array_like
        2-D frames ``(spatial, spectral)`` of the same shape.
    fit : Fit
        The model that scales ``dark_in`` onto ``dark_out``.
    axes : array_like of matplotlib.axes.Axes, optional
        Four Axes (any nesting); a new figure with four rows is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        The frames are not 2-D or differ in shape, ``fit`` is not a Fit, or
        ``axes`` does not hold four Axes.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> fit = iuvs.fit(pair.dark_in, pair.dark_out, rank=2)
    >>> fig = plotting.dark_images(pair.dark_in, pair.dark_out, fit)
    >>> [ax.get_title() for ax in fig.axes[:4]]
    ['dark_in', 'scaled dark_in (poly2)', 'dark_out', 'dark_out - scaled dark_in']
    """
    _require_matplotlib()
    x, y = _pair(dark_in, dark_out, two_d=True)
    if not isinstance(fit, Fit):
        raise InvalidParameterError(f"fit must be an iuvs.Fit, got {type(fit).__name__}")
    scaled = fit.apply(x)
    difference = y - scaled
    vmin, vmax = _limits([x, scaled, y])
    spread = _finite(np.abs(difference))
    v = float(np.percentile(spread, 99.0)) if spread.size else 1.0
    if not v > 0:
        v = 1.0
    fig, grid = _axes_grid(axes, (4, 1), (8.0, 11.0))
    panels = (
        (x, "dark_in", "hot", vmin, vmax),
        (scaled, f"scaled dark_in ({fit.name})", "hot", vmin, vmax),
        (y, "dark_out", "hot", vmin, vmax),
        (difference, "dark_out - scaled dark_in", "gray", -v, v),
    )
    for ax, (image, title, cmap, low, high) in zip(grid.ravel(), panels, strict=True):
        artist = ax.imshow(
            image, cmap=cmap, vmin=low, vmax=high, aspect="auto", interpolation="nearest"
        )
        fig.colorbar(artist, ax=ax, orientation="vertical", label="DN")
        ax.set_title(title)
        ax.set_xlabel("spectral bin")
        ax.set_ylabel("spatial bin")
    return fig


def scatter(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    fits: Fit | Iterable[Fit] = (),
    *,
    max_points: int = 50_000,
    ax: Axes | None = None,
) -> Figure:
    """``dark_out`` against ``dark_in``, with each fit's model curve and the 1:1 line.

    Up to ``max_points`` pixels (finite pairs) are drawn as points; beyond
    that a hexagonal 2-D density with log counts is drawn instead
    (``ax.hexbin``), which stays readable and fast for full frames.  Both
    axes span the pixels' range with a 5 % margin on each side, so a model
    that rises steeply where there are few pixels does not squeeze the data.

    Parameters
    ----------
    dark_in, dark_out : array_like
        The two darks, same shape.
    fits : Fit or iterable of Fit, optional
        Models to draw over the ``dark_in`` range (legend with ``fit.name``).
    max_points : int, optional
        Most pixels drawn as points.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Shapes differ, no pixel pair is finite, ``max_points`` is not a
        positive integer, or ``fits`` holds something other than Fit results.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> fit = iuvs.fit(pair.dark_in, pair.dark_out, rank=1)
    >>> fig = plotting.scatter(pair.dark_in, pair.dark_out, [fit])
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('dark_in (DN)', 'dark_out (DN)')
    >>> fig.axes[0].get_legend_handles_labels()[1]
    ['pixels', 'poly1', '1:1']
    """
    _require_matplotlib()
    x, y = _pair(dark_in, dark_out, two_d=False)
    fit_list = _fit_list(fits, allow_empty=True)
    limit = _positive_int(max_points, "max_points")
    ok = np.isfinite(x) & np.isfinite(y)
    xs, ys = x[ok], y[ok]
    if xs.size == 0:
        raise InvalidParameterError("dark_in and dark_out have no finite pixel pair")
    fig, ax = _single_axes(ax, (6.0, 6.0))
    if xs.size > limit:
        density = ax.hexbin(xs, ys, gridsize=120, bins="log", mincnt=1, cmap="viridis")
        fig.colorbar(density, ax=ax, label="pixels per bin")
    else:
        ax.plot(xs, ys, linestyle="none", marker=".", markersize=3, alpha=0.4, label="pixels")
    low, high = float(xs.min()), float(xs.max())
    grid = np.linspace(low, high, 256)
    for fit in fit_list:
        ax.plot(grid, fit.apply(grid), linewidth=1.5, label=fit.name)
    ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1.0, label="1:1")
    # the axes follow the pixels, not a model's extrapolation beyond them
    ax.set_xlim(*_padded(low, high))
    ax.set_ylim(*_padded(float(ys.min()), float(ys.max())))
    ax.set_xlabel("dark_in (DN)")
    ax.set_ylabel("dark_out (DN)")
    ax.set_title("dark_out against dark_in")
    ax.legend(loc="upper left")
    return fig


#: Margin around the data on each side of the scatter plot, as a fraction of its range.
_MARGIN = 0.05


def _padded(low: float, high: float) -> tuple[float, float]:
    """``(low, high)`` widened by :data:`_MARGIN` of the range on each side (1 DN if empty)."""
    pad = _MARGIN * (high - low) if high > low else 1.0
    return low - pad, high + pad


def hot_pixel_mask(
    dark: npt.ArrayLike,
    hot: npt.ArrayLike | HotPixels,
    *,
    ax: Axes | None = None,
) -> Figure:
    """Draw a dark frame with its hot pixels marked by red squares.

    The image is shown in grey between its 1st and 99th percentiles.

    Parameters
    ----------
    dark : array_like
        2-D frame ``(spatial, spectral)``.
    hot : array_like of bool or HotPixels
        Hot-pixel mask of the frame's shape (True = hot), or the result of
        :func:`iuvs.hot_pixels`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        ``dark`` is not 2-D, or the mask is not boolean or not of its shape.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs import plotting
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
    >>> hp = iuvs.hot_pixels(pair.dark_in, threshold=2500)
    >>> fig = plotting.hot_pixel_mask(pair.dark_in, hp)
    >>> fig.axes[0].get_title() == f"{hp.n_hot} hot pixels (threshold 2500 DN)"
    True
    """
    _require_matplotlib()
    frame = _frame(dark, "dark")
    threshold: float | None = None
    if isinstance(hot, HotPixels):
        mask = np.asarray(hot.mask)
        if np.ndim(hot.threshold) == 0:
            threshold = float(hot.threshold)
    else:
        mask = np.asarray(hot)
    if mask.dtype != np.bool_:
        raise InvalidParameterError(
            f"hot must be a boolean mask (True = hot) or iuvs.HotPixels, got dtype {mask.dtype}"
        )
    if mask.shape != frame.shape:
        raise InvalidParameterError(
            f"hot mask has shape {mask.shape}, the dark {frame.shape}; they must be equal"
        )
    n_hot = int(mask.sum())
    vmin, vmax = _limits([frame])
    fig, ax = _single_axes(ax, (8.0, 4.0))
    image = ax.imshow(
        frame, cmap="gray", vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    fig.colorbar(image, ax=ax, label="DN")
    rows, columns = np.nonzero(mask)
    ax.plot(
        columns,
        rows,
        linestyle="none",
        marker="s",
        markersize=4,
        markerfacecolor="none",
        markeredgecolor="red",
        label="hot",
    )
    title = f"{n_hot} hot pixels"
    if threshold is not None:
        title += f" (threshold {threshold:.6g} DN)"
    ax.set_title(title)
    ax.set_xlabel("spectral bin")
    ax.set_ylabel("spatial bin")
    return fig


# --------------------------------------------------------------------------------------------
# survey figures (a table with one row per pair and rank)
# --------------------------------------------------------------------------------------------


def _column(table: Any, name: str) -> FloatArray:
    return np.asarray(table[name].to_numpy(dtype=np.float64, na_value=np.nan))


def _truthy(values: Iterable[Any]) -> npt.NDArray[np.bool_]:
    """Return True where a value is true; missing values (None, NaN, pd.NA) count as False."""
    out = []
    for v in values:
        try:
            out.append(bool(v) and v == v)
        except (TypeError, ValueError):
            out.append(False)
    return np.array(out, dtype=bool)


def _survey_rows(table: Any, columns: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Check the table's columns; return where ``status == 'ok'``."""
    if not hasattr(table, "columns") or not hasattr(table, "__getitem__"):
        raise InvalidParameterError(
            f"table must be a pandas DataFrame (the survey table), got {type(table).__name__}"
        )
    missing = [c for c in (*columns, "status") if c not in table.columns]
    if missing:
        raise InvalidParameterError(
            f"the survey table lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, table.columns))}"
        )
    ok = np.asarray(table["status"].to_numpy(dtype=object) == "ok", dtype=bool)
    return ok


def _channel_order(channels: npt.NDArray[Any]) -> list[str]:
    present = {str(c) for c in channels}
    return [c for c in _CHANNELS if c in present] + sorted(present - set(_CHANNELS))


def survey_drift(table: Any, *, axes: Any = None) -> Figure:
    """Drift of the multiplicative model over a survey: factor and residual std.

    Uses the rows with ``status == 'ok'`` and ``rank == 0``.  Top row: the
    multiplicative factor ``a`` (column ``c0``) against ``delta_temp`` and
    against ``delta_time_s`` (shown in hours); bottom row: the residual
    standard deviation (column ``std``) against the same.  One colour per
    channel.  A panel whose x column has no value (all NaN) says so instead.

    Parameters
    ----------
    table : pandas.DataFrame
        The survey table, with columns ``rank``, ``channel``, ``delta_temp``,
        ``delta_time_s``, ``c0``, ``std`` and ``status``.
    axes : array_like of matplotlib.axes.Axes, optional
        Four Axes (2 x 2, row by row); a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        ``table`` is not a table or lacks a column, or ``axes`` does not hold four Axes.

    Examples
    --------
    >>> import pandas as pd
    >>> from iuvs import plotting
    >>> table = pd.DataFrame({
    ...     "rank": [0, 0, 1], "model": ["multiplicative"] * 2 + ["poly1"],
    ...     "channel": ["MUV", "FUV", "MUV"], "delta_temp": [float("nan")] * 3,
    ...     "delta_time_s": [600.0, 7200.0, 600.0], "c0": [1.45, 1.3, 1.4],
    ...     "std": [20.0, 25.0, 19.0], "frac_mean": [1e-3, 2e-3, 5e-4],
    ...     "chosen": [False, True, True], "status": ["ok"] * 3})
    >>> fig = plotting.survey_drift(table)
    >>> [ax.get_xlabel() for ax in fig.axes[:2]]
    ['temperature difference (°C)', 'time difference (h)']
    >>> fig.axes[0].texts[0].get_text()
    'no temperature data'
    """
    _require_matplotlib()
    ok = _survey_rows(table, ("rank", "channel", "delta_temp", "delta_time_s", "c0", "std"))
    rows = ok & (_column(table, "rank") == 0)
    channel = np.asarray(table["channel"].to_numpy(dtype=object))[rows]
    x_columns = (
        (_column(table, "delta_temp")[rows], "temperature difference (°C)", "temperature"),
        (_column(table, "delta_time_s")[rows] / 3600.0, "time difference (h)", "time"),
    )
    y_columns = (
        (_column(table, "c0")[rows], "multiplicative factor a"),
        (_column(table, "std")[rows], "residual std (DN)"),
    )
    channels = _channel_order(channel)
    fig, grid = _axes_grid(axes, (2, 2), (10.0, 8.0))
    for i, (y_values, ylabel) in enumerate(y_columns):
        for j, (x_values, xlabel, what) in enumerate(x_columns):
            ax = grid[i, j]
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            if not rows.any():
                _text(ax, "no multiplicative fits")
                continue
            if not np.isfinite(x_values).any():
                _text(ax, f"no {what} data")
                continue
            drawn = False
            for k, name in enumerate(channels):
                pick = (channel == name) & np.isfinite(x_values) & np.isfinite(y_values)
                if pick.any():
                    ax.plot(
                        x_values[pick],
                        y_values[pick],
                        linestyle="none",
                        marker="o",
                        markersize=4,
                        color=f"C{k}",
                        label=name,
                    )
                    drawn = True
            if drawn:
                ax.legend(loc="best", title="channel")
            else:
                _text(ax, "no data")
    grid[0, 0].set_title("multiplicative factor")
    grid[0, 1].set_title("multiplicative factor")
    grid[1, 0].set_title("residual std of the multiplicative model")
    grid[1, 1].set_title("residual std of the multiplicative model")
    return fig


def survey_best_rank(table: Any, *, ax: Axes | None = None) -> Figure:
    """How often each rank is the chosen one, per channel (grouped bars).

    Counts the rows with ``status == 'ok'`` and ``chosen`` true.

    Parameters
    ----------
    table : pandas.DataFrame
        The survey table, with columns ``rank``, ``channel``, ``chosen`` and ``status``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding ``ax``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        ``table`` is not a table or lacks a column.

    Examples
    --------
    >>> import pandas as pd
    >>> from iuvs import plotting
    >>> table = pd.DataFrame({
    ...     "rank": [0, 1, 0, 1, 2], "channel": ["MUV", "MUV", "FUV", "FUV", "FUV"],
    ...     "chosen": [False, True, True, False, False], "status": ["ok"] * 5})
    >>> fig = plotting.survey_best_rank(table)
    >>> ax = fig.axes[0]
    >>> ax.get_legend_handles_labels()[1], [t.get_text() for t in ax.get_xticklabels()]
    (['MUV', 'FUV'], ['mult', '1'])
    """
    _require_matplotlib()
    ok = _survey_rows(table, ("rank", "channel", "chosen"))
    rows = ok & _truthy(table["chosen"].to_numpy(dtype=object))
    ranks = _column(table, "rank")[rows]
    channel = np.asarray(table["channel"].to_numpy(dtype=object))[rows]
    valid = np.isfinite(ranks)
    ranks, channel = ranks[valid].astype(np.int64), channel[valid]
    fig, ax = _single_axes(ax, (7.0, 4.5))
    ax.set_xlabel("chosen rank")
    ax.set_ylabel("times chosen")
    if ranks.size == 0:
        _text(ax, "no chosen fits")
        ax.set_title("chosen rank")
        return fig
    from matplotlib.ticker import MaxNLocator

    rank_values = sorted({int(r) for r in ranks})
    channels = _channel_order(channel)
    positions = np.arange(len(rank_values), dtype=np.float64)
    width = 0.8 / len(channels)
    for k, name in enumerate(channels):
        counts = [int(np.sum((channel == name) & (ranks == r))) for r in rank_values]
        ax.bar(positions - 0.4 + width * (k + 0.5), counts, width=width, label=name, color=f"C{k}")
    ax.set_xticks(positions)
    ax.set_xticklabels([_rank_label(r) for r in rank_values])
    ax.set_xlim(-0.7, len(rank_values) - 0.3)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"chosen rank ({ranks.size} pairs)")
    ax.legend(title="channel")
    return fig


# --------------------------------------------------------------------------------------------
# superdarks
# --------------------------------------------------------------------------------------------


def superdark(sd: Any, *, axes: Any = None) -> Figure:
    """Images of a superdark, its count of darks kept and its scatter per pixel.

    Parameters
    ----------
    sd : iuvs.darks.Superdark
        One group's superdark (:func:`iuvs.darks.superdark`).
    axes : array_like of matplotlib.axes.Axes, optional
        Three Axes; a new figure with three rows is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        ``sd`` is not a Superdark, or ``axes`` does not hold three Axes.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs import plotting
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=2, n_darks=4)
    ...     s = iuvs.darks.superdark(d, jobs=1)[0]
    >>> [ax.get_title() for ax in plotting.superdark(s).axes[:3]]
    ['superdark (median, 4 darks, 2 files)', 'darks kept per pixel', 'scatter of the kept darks']
    """
    from iuvs.superdark import Superdark

    _require_matplotlib()
    if not isinstance(sd, Superdark):
        raise InvalidParameterError(f"sd must be an iuvs.darks.Superdark, got {type(sd).__name__}")
    fig, grid = _axes_grid(axes, (3, 1), (8.0, 9.0))
    vmin, vmax = _limits([sd.data])
    panels = (
        (
            sd.data,
            f"superdark ({sd.method}, {sd.n_darks} darks, {sd.n_files} files)",
            "hot",
            vmin,
            vmax,
            "DN",
        ),
        (
            sd.n_used.astype(np.float64),
            "darks kept per pixel",
            "viridis",
            0.0,
            float(max(sd.n_darks, 1)),
            "darks",
        ),
        (sd.scatter, "scatter of the kept darks", "magma", *_limits([sd.scatter]), "DN"),
    )
    for ax, (image, title, cmap, low, high, unit) in zip(grid.ravel(), panels, strict=True):
        artist = ax.imshow(
            image, cmap=cmap, vmin=low, vmax=high, aspect="auto", interpolation="nearest"
        )
        fig.colorbar(artist, ax=ax, orientation="vertical", label=unit)
        ax.set_title(title)
        ax.set_xlabel("spectral bin")
        ax.set_ylabel("spatial bin")
    fig.suptitle(sd.group.label)
    return fig


def dark_vs_temperature(model: Any, *, axes: Any = None) -> Figure:
    """Plot a dark model's coefficients against temperature and its leave-one-out errors.

    One panel per coefficient (``a``, and ``b`` for rank 1): each dark's
    fitted coefficient against its detector temperature and the model's
    polynomial; a last panel: each dark's leave-one-file-out error next to
    that of the nearest dark in time (:meth:`iuvs.darks.DarkModel.validate`).

    Parameters
    ----------
    model : iuvs.darks.DarkModel
        The model.
    axes : array_like of matplotlib.axes.Axes, optional
        ``rank + 2`` Axes; a new figure is made when not given.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        ``model`` is not a DarkModel, or the wrong number of Axes.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs import plotting
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=4, n_darks=4)
    ...     m = iuvs.darks.DarkModel.fit(iuvs.darks.superdark(d, jobs=1)[0])
    ...     _ = m.validate()  # reads the darks again: while the files exist (then kept)
    >>> [ax.get_ylabel() for ax in plotting.dark_vs_temperature(m).axes]
    ['gain a', 'offset b (DN)', 'residual sigma (DN)']
    """
    from iuvs.superdark import DarkModel

    _require_matplotlib()
    if not isinstance(model, DarkModel):
        raise InvalidParameterError(
            f"model must be an iuvs.darks.DarkModel, got {type(model).__name__}"
        )
    names = ("scale",) if model.rank == 0 else ("gain", "offset")
    labels = ("scale a",) if model.rank == 0 else ("gain a", "offset b (DN)")
    fig, grid = _axes_grid(axes, (len(names) + 1, 1), (7.0, 3.0 * (len(names) + 1)))
    axs = grid.ravel()
    prov = model.superdark.provenance
    temps = np.asarray(prov["temperature"], dtype=np.float64)
    finite = temps[np.isfinite(temps)]
    curve_t = np.linspace(finite.min(), finite.max(), 200) if finite.size else np.zeros(0)
    curves = model.coefficients(curve_t) if curve_t.size else np.zeros((0, len(names)))
    for i, (name, label) in enumerate(zip(names, labels, strict=True)):
        ax = axs[i]
        ax.plot(temps, np.asarray(prov[name], dtype=np.float64), ".", label="darks")
        ax.plot(curve_t, curves[:, i], "-", label=f"degree {model.degrees[i]}")
        ax.set_xlabel("detector temperature (deg C)")
        ax.set_ylabel(label)
        ax.legend(loc="best")
    v = model.validate()
    ax = axs[-1]
    ax.plot(v.temperature, v.model_sigma, "o", label="model (leave one file out)")
    ax.plot(v.temperature, v.nearest_sigma, "x", label="nearest dark in time")
    ax.set_xlabel("detector temperature (deg C)")
    ax.set_ylabel("residual sigma (DN)")
    ax.legend(loc="best")
    fig.suptitle(model.group.label)
    return fig
