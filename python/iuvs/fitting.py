"""Least-squares models that map one dark frame onto another.

Rank ``-1`` is the additive model ``y = x + a``, rank ``0`` the multiplicative
model ``y = a * x`` (least squares through the origin) and rank ``n >= 1`` a
polynomial of degree ``n``.  Coefficients are always listed **highest power
first**, like :func:`numpy.polyfit`.

The fits themselves run in the Rust core (:mod:`iuvs._core`), which reads the
input arrays in place (any supported dtype, byte order and strides), releases
the GIL, accumulates moments in a Chebyshev basis of the scaled variable
``t = (x - c) / h`` and computes every residual statistic directly.

Examples
--------
>>> import numpy as np
>>> import iuvs
>>> x = np.arange(1.0, 101.0)
>>> f = iuvs.fit(x, 2.0 * x + 3.0, rank=1)
>>> np.round(f.coeffs, 12).tolist()
[2.0, 3.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import (
    CovarianceWarning,
    InvalidParameterError,
    UnsupportedDtypeError,
)
from iuvs.options import MAX_RANK, MIN_RANK, FitOptions, check_ranks

__all__ = ["MAX_RANK", "MIN_RANK", "Fit", "ResidualStats", "fit", "fit_all", "model_name"]


_SUPPORTED = ("int16", "uint16", "int32", "uint32", "int64", "float32", "float64")


def model_name(rank: int) -> str:
    """Return the human name of a model rank.

    Parameters
    ----------
    rank : int
        -1 (additive), 0 (multiplicative) or a polynomial degree.

    Returns
    -------
    str
        ``'additive'``, ``'multiplicative'`` or ``'poly<n>'``.

    Examples
    --------
    >>> model_name(-1), model_name(0), model_name(3)
    ('additive', 'multiplicative', 'poly3')
    """
    if rank == -1:
        return "additive"
    if rank == 0:
        return "multiplicative"
    return f"poly{rank}"


@dataclass(frozen=True)
class ResidualStats:
    """Statistics of ``residual = dark_out - model(dark_in)`` over the pixels used in the fit.

    The names and order of these fields are the core's
    (``iuvs._core.RESIDUAL_FIELDS``), which the columns of
    :func:`iuvs.fit_batch`, the survey table and the product cards follow too.

    Attributes
    ----------
    n_used : int
        Pixels used in the fit.
    n_excluded : int
        Pixels excluded (mask, hot-pixel threshold, non-finite values).
    n_nonfinite : int
        Of the excluded pixels, those with a non-finite value in either input.
    n_masked : int
        Of the excluded pixels, those excluded by the mask (and finite).
    n_hot : int
        Of the excluded pixels, those above the hot-pixel threshold (finite,
        not masked).
    n_clipped : int
        Of the excluded pixels, those rejected by sigma clipping (robust fits).
    mean, std, min, max, rms : float
        Residual mean, standard deviation (``ddof=0`` like :func:`numpy.std`),
        extremes and root mean square.
    frac_mean, frac_std : float
        Mean and standard deviation of ``residual / dark_out`` over the used
        pixels whose ``dark_out != 0`` (NaN if there are none).
    n_fractional : int
        Pixels that entered the fractional statistics.
    n_zero_denominator : int
        Used pixels left out of the fractional statistics because ``dark_out == 0``.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.arange(1.0, 11.0)
    >>> s = iuvs.fit(x, x + 2 + np.array([1.0, -1.0] * 5), rank=-1).stats
    >>> s.n_used, round(s.mean, 12), round(s.std, 12)
    (10, 0.0, 1.0)
    """

    n_used: int
    n_excluded: int
    n_nonfinite: int
    n_masked: int
    n_hot: int
    n_clipped: int
    mean: float
    std: float
    min: float
    max: float
    rms: float
    frac_mean: float
    frac_std: float
    n_fractional: int
    n_zero_denominator: int


@dataclass(frozen=True)
class Fit:
    """One fitted model of ``dark_out`` against ``dark_in``.

    Attributes
    ----------
    rank : int
        -1 additive, 0 multiplicative, ``n >= 1`` polynomial degree.
    coeffs : numpy.ndarray
        Coefficients, highest power first (``[a]`` for ranks -1 and 0).
    cov : numpy.ndarray
        Parameter covariance ``inv(A^T A) * SSR / (N - p)`` as
        :func:`scipy.optimize.curve_fit` (``absolute_sigma=False``) and
        ``numpy.polyfit(cov=True)`` report it.  With as many used pixels as
        parameters (``N == p``) it cannot be estimated: every entry is inf and
        a :class:`~iuvs.exceptions.CovarianceWarning` is issued, as
        ``curve_fit`` does (``numpy.polyfit`` raises instead).
    perr : numpy.ndarray
        ``sqrt(diag(cov))``.
    stats : ResidualStats
        Residual statistics over the used pixels.
    center, half_width : float
        The scaling ``t = (x - center) / half_width`` of the polynomial basis.
    cheb_coeffs : numpy.ndarray
        Chebyshev coefficients in ``t``, lowest first (polynomials only); the
        well-conditioned form that :meth:`apply` evaluates.
    ssr : float
        Sum of squared residuals.
    condition : float
        Estimated condition number of the normal matrix in the Chebyshev basis.
    mask : numpy.ndarray or None
        For a sigma-clipped fit (``clip=``), the pixels rejected by clipping
        (True = rejected, the shape of the input); ``None`` otherwise.
    clip_iterations : int
        Outer clip-and-refit iterations run (0 without clipping).
    histogram : tuple of numpy.ndarray or None
        With ``fit_all(..., hist_bins=...)``, ``(counts, edges)`` of the
        residuals of the used pixels, as :func:`numpy.histogram` gives them
        (over ``hist_range``, or the residuals' own minimum and maximum);
        ``None`` otherwise.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.arange(1.0, 101.0)
    >>> f = iuvs.fit(x, 3.0 * x + 2.0, rank=1)
    >>> f.name, np.round(f.coeffs, 10).tolist(), f.stats.n_used
    ('poly1', [3.0, 2.0], 100)
    """

    rank: int
    coeffs: npt.NDArray[np.float64]
    cov: npt.NDArray[np.float64]
    perr: npt.NDArray[np.float64]
    stats: ResidualStats
    center: float = 0.0
    half_width: float = 1.0
    cheb_coeffs: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )
    ssr: float = float("nan")
    condition: float = 1.0
    mask: npt.NDArray[np.bool_] | None = None
    clip_iterations: int = 0
    histogram: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None

    @property
    def name(self) -> str:
        """Human name of the model: ``'additive'``, ``'multiplicative'`` or ``'poly<n>'``."""
        return model_name(self.rank)

    @property
    def poly(self) -> np.poly1d:
        """The model as a :class:`numpy.poly1d` (``x + a`` is ``poly1d([1, a])``).

        Examples
        --------
        >>> import numpy as np, iuvs
        >>> x = np.arange(1.0, 50.0)
        >>> iuvs.fit(x, x + 2.0, rank=-1).poly(10.0).round(9)
        np.float64(12.0)
        """
        if self.rank == -1:
            return np.poly1d([1.0, float(self.coeffs[0])])
        if self.rank == 0:
            return np.poly1d([float(self.coeffs[0]), 0.0])
        return np.poly1d(self.coeffs)

    def apply(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Evaluate the model on ``x`` (for example scale ``dark_in``).

        Polynomials are evaluated in their Chebyshev form, which stays accurate
        at high degree where the power-basis coefficients lose digits.

        Parameters
        ----------
        x : array_like
            Input values (any shape).

        Returns
        -------
        numpy.ndarray
            ``model(x)`` as float64, same shape as ``x``.

        Examples
        --------
        >>> import numpy as np, iuvs
        >>> x = np.arange(1.0, 50.0)
        >>> iuvs.fit(x, 3.0 * x, rank=0).apply([1.0, 2.0]).round(12).tolist()
        [3.0, 6.0]
        """
        xa = np.asarray(x, dtype=np.float64)
        if self.rank == -1:
            return xa + float(self.coeffs[0])
        if self.rank == 0:
            return xa * float(self.coeffs[0])
        t = (xa - self.center) * (1.0 / self.half_width)
        return np.asarray(np.polynomial.chebyshev.chebval(t, self.cheb_coeffs), dtype=np.float64)

    def residual(self, dark_in: npt.ArrayLike, dark_out: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return ``dark_out - model(dark_in)`` as float64.

        Parameters
        ----------
        dark_in, dark_out : array_like
            Arrays of the same shape.

        Returns
        -------
        numpy.ndarray
            The residual, same shape as the inputs.

        Examples
        --------
        >>> import numpy as np, iuvs
        >>> x = np.arange(1.0, 50.0)
        >>> f = iuvs.fit(x, x + 1.0, rank=-1)
        >>> float(abs(f.residual(x, x + 1.0)).max()) < 1e-12
        True
        """
        return np.asarray(dark_out, dtype=np.float64) - self.apply(dark_in)

    def fractional(
        self, dark_in: npt.ArrayLike, dark_out: npt.ArrayLike
    ) -> npt.NDArray[np.float64]:
        """Return ``residual / dark_out`` (NaN where ``dark_out == 0``; nothing is added).

        Parameters
        ----------
        dark_in, dark_out : array_like
            Arrays of the same shape.

        Returns
        -------
        numpy.ndarray
            The fractional residual.

        Examples
        --------
        >>> import numpy as np, iuvs
        >>> x = np.arange(1.0, 50.0)
        >>> f = iuvs.fit(x, 2 * x, rank=0)
        >>> float(abs(f.fractional(x, 2 * x)).max()) < 1e-12
        True
        """
        out = np.asarray(dark_out, dtype=np.float64)
        res = self.residual(dark_in, out)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(out != 0, res / np.where(out != 0, out, 1.0), np.nan)


_SUPPORTED_KINDS = frozenset({("i", 2), ("u", 2), ("i", 4), ("u", 4), ("i", 8), ("f", 4), ("f", 8)})


def _as_core_array(a: Any, name: str) -> tuple[np.ndarray[Any, Any], bool]:
    """Return ``(native_view, swapped)`` without copying pixel data."""
    arr = a if isinstance(a, np.ndarray) else np.asarray(a)
    if isinstance(arr, np.ma.MaskedArray):
        arr = arr.data
    dt = arr.dtype
    if (dt.kind, dt.itemsize) not in _SUPPORTED_KINDS:
        raise UnsupportedDtypeError(
            f"{name} has dtype {dt} ({dt.name}); supported dtypes are " + ", ".join(_SUPPORTED)
        )
    if dt.isnative:
        return arr, False
    return arr.view(dt.newbyteorder("=")), True


_MaskedArray = np.ma.MaskedArray
_INTEGER_TYPES = (int, np.integer)


def _exclusion(dark_in: Any, dark_out: Any, mask: Any) -> Any:
    """Return ``mask`` OR-ed with the masks of masked-array inputs (no copy if there are none).

    Masked values of a :class:`numpy.ma.MaskedArray` input are excluded from
    the fit, as :func:`numpy.ma.polyfit` and astropy's fitters leave them out.
    """
    if not (isinstance(dark_in, _MaskedArray) or isinstance(dark_out, _MaskedArray)):
        return mask  # the common case, checked cheaply
    masked = [a for a in (dark_in, dark_out) if isinstance(a, _MaskedArray)]
    shape = np.shape(dark_in)
    if np.shape(dark_out) != shape:
        return mask  # nothing to add, or shapes the core reports as mismatched
    if mask is not None:
        given = np.asarray(mask)
        if given.dtype != np.bool_ or given.shape != shape:
            return mask  # the core reports the bad mask
    out = np.zeros(shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    for a in masked:
        out |= np.ma.getmaskarray(a)
    return out


def _as_core_mask(mask: Any) -> np.ndarray[Any, Any] | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise UnsupportedDtypeError(
            f"mask must be a boolean array (True = excluded), got dtype {m.dtype}"
        )
    return m


def _check_threshold(hot_threshold: float | None) -> float | None:
    return FitOptions(hot_threshold=hot_threshold).hot_threshold


def _hot_threshold(
    x: np.ndarray[Any, Any], swapped: bool, hot_threshold: float | None, hot_sigma: float | None
) -> float | None:
    """Return the DN threshold from ``hot_threshold`` or ``hot_sigma`` on ``dark_in``."""
    o = FitOptions(hot_threshold=hot_threshold, hot_sigma=hot_sigma)
    if o.hot_sigma is None:
        return o.hot_threshold
    return float(_core.hot_sigma_threshold(x, swapped, o.hot_sigma, 10)["threshold"])


def _check_clip(clip: float | None, clip_iter: int) -> tuple[float | None, int]:
    o = FitOptions(clip=clip, clip_iter=clip_iter)
    return o.clip, o.clip_iter


_check_ranks = check_ranks


_new = object.__new__
_set = object.__setattr__


def _fits_from_core(results: list[dict[str, Any]], shape: tuple[int, ...] = ()) -> list[Fit]:
    """Build :class:`Fit` objects from the core's field dicts, one per dict.

    The core returns the exact fields of :class:`Fit` (``"stats"`` those of
    :class:`ResidualStats`), its arrays already read-only, in fresh dicts
    that become the instances' ``__dict__``: this skips the field-by-field
    ``object.__setattr__`` of a frozen ``__init__``, which costs more than
    the fit of a small frame.  One call builds every fit of a ``fit_all``
    (per-fit calls were a measurable part of a small frame's time).
    """
    fits: list[Fit] = []
    for d in results:
        stats = _new(ResidualStats)
        _set(stats, "__dict__", d["stats"])
        d["stats"] = stats
        clipped = d.pop("clipped", None)
        if clipped is not None:
            mask = np.zeros(int(np.prod(shape)), dtype=bool)
            mask[clipped] = True
            mask = mask.reshape(shape)
            mask.flags.writeable = False
            d["mask"] = mask
        fit: Fit = _new(Fit)
        _set(fit, "__dict__", d)
        fits.append(fit)
    return fits


def _check_hist(
    bins: Any, rng: Any, clip: float | None, weights: Any
) -> tuple[int, tuple[float, float] | None]:
    """Validate ``hist_bins`` and ``hist_range`` of :func:`fit_all`."""
    if bins is None:
        raise InvalidParameterError("hist_range needs hist_bins")
    if isinstance(bins, bool) or not isinstance(bins, _INTEGER_TYPES) or int(bins) < 1:
        raise InvalidParameterError(f"hist_bins must be a positive integer, got {bins!r}")
    if clip is not None or weights is not None:
        raise InvalidParameterError("residual histograms are not available with clip or weights")
    if rng is None:
        return int(bins), None
    try:
        lo, hi = (float(v) for v in rng)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"hist_range must be two numbers, got {rng!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise InvalidParameterError(f"hist_range must be finite with lo <= hi, got {rng!r}")
    return int(bins), (lo, hi)


def _warn_undetermined(fits: list[Fit], stacklevel: int) -> None:
    """Warn, as scipy's ``curve_fit`` does, for fits without a degree of freedom left."""
    for f in fits:
        if f.stats.n_used == f.coeffs.size:
            _warn_no_freedom(
                f"the {f.name} fit",
                [f"it uses {f.stats.n_used} pixels for {f.coeffs.size} parameters"],
                stacklevel + 1,
            )


def _warn_no_freedom(what: str, cases: list[str], stacklevel: int) -> None:
    """One :class:`CovarianceWarning` for ``what`` (fits that use as many pixels as parameters)."""
    listed = "; ".join(cases[:5]) + (f"; and {len(cases) - 5} more" if len(cases) > 5 else "")
    warnings.warn(
        f"the covariance of {what} could not be estimated: {listed}, so no degree of "
        "freedom is left for the residual variance; cov and perr are inf (use more "
        "pixels or a lower rank)",
        CovarianceWarning,
        stacklevel=stacklevel + 1,
    )


def fit_all(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    ranks: Iterable[int] = range(-1, 5),
    *,
    mask: npt.ArrayLike | None = None,
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    clip_iter: int = 3,
    weights: npt.ArrayLike | Literal["poisson"] | None = None,
    hist_bins: int | None = None,
    hist_range: tuple[float, float] | None = None,
    options: FitOptions | None = None,
) -> list[Fit]:
    """Fit several models of ``dark_out`` against ``dark_in`` in one pass over the pixels.

    Parameters
    ----------
    dark_in, dark_out : array_like
        Dark frames of the same shape, any of int16, uint16, int32, uint32,
        int64, float32, float64, in either byte order and any memory layout
        (read in place, never copied).  Treated as a flat set of pixels.
    ranks : iterable of int, optional
        Models to fit: -1 additive, 0 multiplicative, 1..12 polynomial degree.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded, as in :mod:`numpy.ma`).  The
        masked values of :class:`numpy.ma.MaskedArray` darks are excluded too.
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (hot pixels).
    hot_sigma : float, optional
        Exclude pixels whose ``dark_in`` is above ``median + hot_sigma *
        MAD-std`` of ``dark_in`` (see :func:`iuvs.hot_pixels`); not together
        with ``hot_threshold``.
    clip : float, optional
        Sigma clipping: fit, reject pixels whose residual lies more than
        ``clip`` standard deviations from the median residual (as
        :func:`astropy.stats.sigma_clip` does), refit on the rest, repeat;
        each rank is clipped on its own.  The procedure and the rejected pixels
        are those of astropy's ``FittingWithOutlierRemoval``.
    clip_iter : int, optional
        Most clip-and-refit iterations (stops early when nothing changes).
    weights : array_like or 'poisson', optional
        Per-pixel weights ``1 / sigma`` like ``numpy.polyfit``'s ``w`` (any
        supported dtype, the shape of the darks; pixels with a non-finite
        weight are excluded).  ``'poisson'``: counting noise, ``sigma =
        sqrt(model(dark_in))`` from an unweighted fit of the same rank, then
        refitted once (pixels where the model is not positive get weight 0).
        The covariance then uses the weighted sum of squares; the residual
        statistics stay those of the plain residuals.  With ``clip``, the
        plain residuals are clipped and each refit is weighted, as astropy's
        ``FittingWithOutlierRemoval`` does with ``weights=``.
    hist_bins : int, optional
        Also histogram every model's residuals over the used pixels, in one
        more pass over the pixels: :attr:`Fit.histogram` is then ``(counts,
        edges)``, what :func:`numpy.histogram` gives for those residuals with
        ``hist_bins`` bins.  Not with ``clip`` or ``weights``.
    hist_range : tuple of float, optional
        ``(lo, hi)`` of the histograms; default, as numpy's, the minimum and
        maximum residual of each model.
    options : FitOptions, optional
        ``mask``, ``hot_threshold``, ``hot_sigma``, ``clip``, ``clip_iter`` and
        ``weights`` as one validated bundle (:class:`iuvs.FitOptions`), instead
        of the individual keywords.

    Returns
    -------
    list of Fit
        One :class:`Fit` per requested rank, in the order given.

    Raises
    ------
    iuvs.exceptions.ShapeMismatchError
        If the shapes differ.
    iuvs.exceptions.InsufficientDataError
        If fewer usable pixels remain than a model has parameters.
    iuvs.exceptions.DegenerateFitError
        If ``dark_in`` has too few distinct values for a polynomial rank.
    iuvs.exceptions.DataRangeError
        If the data are so large (about 1e154 and up) that their squares, the
        residual statistics or the covariance overflow float64: divide both
        darks by a common factor.

    Warns
    -----
    iuvs.exceptions.CovarianceWarning
        For a model fitted with exactly as many used pixels as parameters: its
        covariance cannot be estimated and is inf (as
        :func:`scipy.optimize.curve_fit` warns with ``OptimizeWarning``).

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.linspace(100.0, 4000.0, 500)
    >>> fits = iuvs.fit_all(x, 1.5 * x + 20.0, ranks=[0, 1])
    >>> [f.name for f in fits]
    ['multiplicative', 'poly1']
    >>> np.round(fits[1].coeffs, 9).tolist()
    [1.5, 20.0]
    """
    fits = _fit_all(
        dark_in,
        dark_out,
        ranks,
        mask=mask,
        hot_threshold=hot_threshold,
        hot_sigma=hot_sigma,
        clip=clip,
        clip_iter=clip_iter,
        weights=weights,
        hist_bins=hist_bins,
        hist_range=hist_range,
        options=options,
    )
    _warn_undetermined(fits, stacklevel=2)
    return fits


def _fit_all(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    ranks: Iterable[int],
    *,
    mask: npt.ArrayLike | None,
    hot_threshold: float | None,
    hot_sigma: float | None,
    clip: float | None,
    clip_iter: int,
    weights: npt.ArrayLike | Literal["poisson"] | None,
    hist_bins: int | None,
    hist_range: tuple[float, float] | None,
    options: FitOptions | None = None,
) -> list[Fit]:
    """:func:`fit_all` without its warnings (issued by the public caller)."""
    rank_list = _check_ranks(ranks)
    o = FitOptions.bundle(options, mask, hot_threshold, hot_sigma, clip, clip_iter, weights)
    mask, clip, weights = o.mask, o.clip, o.weights
    x, swap_x = _as_core_array(dark_in, "dark_in")
    y, swap_y = _as_core_array(dark_out, "dark_out")
    m = _as_core_mask(_exclusion(dark_in, dark_out, mask))
    thr = _hot_threshold(x, swap_x, o.hot_threshold, o.hot_sigma)
    sigma, niter = o.clip, o.clip_iter
    if hist_bins is not None or hist_range is not None:
        bins, rng = _check_hist(hist_bins, hist_range, clip, weights)
        results = _core.fit_all(
            x, swap_x, y, swap_y, rank_list, m, thr, hist_bins=bins, hist_range=rng
        )
        return _fits_from_core(results, x.shape)
    if weights is None:
        results = _core.fit_all(x, swap_x, y, swap_y, rank_list, m, thr, sigma, niter)
        return _fits_from_core(results, x.shape)
    if isinstance(weights, str):  # 'poisson' (FitOptions refuses other strings)
        out = []
        for rank in rank_list:
            first = _fits_from_core(
                _core.fit_all(x, swap_x, y, swap_y, [rank], m, thr, sigma, niter), x.shape
            )[0]
            model = first.apply(dark_in)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(model > 0, 1.0 / np.sqrt(np.where(model > 0, model, 1.0)), 0.0)
            d = _core.fit_all(x, swap_x, y, swap_y, [rank], m, thr, sigma, niter, w, False)[0]
            out.extend(_fits_from_core([d], x.shape))
        return out
    w_arr, swap_w = _as_core_array(weights, "weights")
    results = _core.fit_all(x, swap_x, y, swap_y, rank_list, m, thr, sigma, niter, w_arr, swap_w)
    return _fits_from_core(results, x.shape)


def fit(
    dark_in: npt.ArrayLike,
    dark_out: npt.ArrayLike,
    rank: int,
    *,
    mask: npt.ArrayLike | None = None,
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    clip_iter: int = 3,
    weights: npt.ArrayLike | Literal["poisson"] | None = None,
    hist_bins: int | None = None,
    hist_range: tuple[float, float] | None = None,
    options: FitOptions | None = None,
) -> Fit:
    """Fit one model of ``dark_out`` against ``dark_in``.

    Parameters
    ----------
    dark_in, dark_out : array_like
        Dark frames of the same shape (see :func:`fit_all` for dtypes and layouts).
    rank : int
        -1 additive (``x + a``), 0 multiplicative (``a * x``), 1..12 polynomial degree.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value.
    hot_sigma : float, optional
        Exclude pixels above ``median + hot_sigma * MAD-std`` of ``dark_in``.
    clip : float, optional
        Sigma-clip the residuals at ``clip`` standard deviations and refit
        (see :func:`fit_all`); the rejected pixels are in ``Fit.mask``.
    clip_iter : int, optional
        Most clip-and-refit iterations.
    weights : array_like or 'poisson', optional
        Weights ``1 / sigma`` (see :func:`fit_all`).
    hist_bins, hist_range : optional
        Histogram of the residuals in :attr:`Fit.histogram` (see :func:`fit_all`).
    options : FitOptions, optional
        The six fit options above as one validated bundle (not together with them).

    Returns
    -------
    Fit
        The fitted model with coefficients (highest power first), covariance
        and residual statistics.

    Raises
    ------
    iuvs.exceptions.InsufficientDataError
        If fewer usable pixels remain than the model has parameters (the
        message counts those excluded, non-finite and clipped).
    iuvs.exceptions.DataRangeError
        If the data are too large in magnitude for float64 sums of squares
        (see :func:`fit_all`).

    Warns
    -----
    iuvs.exceptions.CovarianceWarning
        If the fit uses exactly as many pixels as parameters: ``cov`` and
        ``perr`` are then inf, as :func:`scipy.optimize.curve_fit` reports
        them (with ``OptimizeWarning``).

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.arange(1.0, 11.0)
    >>> f = iuvs.fit(x, x + 5.0, rank=-1)
    >>> round(float(f.coeffs[0]), 12), f.stats.n_used
    (5.0, 10)
    """
    fits = _fit_all(
        dark_in,
        dark_out,
        [rank],
        mask=mask,
        hot_threshold=hot_threshold,
        hot_sigma=hot_sigma,
        clip=clip,
        clip_iter=clip_iter,
        weights=weights,
        hist_bins=hist_bins,
        hist_range=hist_range,
        options=options,
    )
    _warn_undetermined(fits, stacklevel=2)
    return fits[0]
