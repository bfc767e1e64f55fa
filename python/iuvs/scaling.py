"""The 2015 notebook's scaling API on top of :mod:`iuvs.fitting`.

:class:`AddScaler` (rank -1, ``dark_out = dark_in + a``), :class:`MultScaler`
(rank 0, ``dark_out = a * dark_in``), :class:`PolyScaler` (a polynomial of
degree ``rank``) and :class:`PolyScalerManager` (a range of ranks, fitted in
one pass) keep the attribute names of the 2015 ``iuvs.scaling`` module:
``do_fit()``, ``p``, ``pcov``, ``perr``, ``rank``, ``name``, ``scaled``,
``residual``, ``fractional``, ``apply_fit()``, ``poly`` and ``p_dict``.  They
add ``fit`` (the underlying :class:`~iuvs.fitting.Fit`), ``stats``, pixel
masks (``mask=``) and hot-pixel cuts (``hot_threshold=``).

Every fit runs in the Rust core through :func:`iuvs.fitting.fit` /
:func:`iuvs.fitting.fit_all`; this module only keeps the 2015 names.
Coefficients are listed **highest power first**, like :func:`numpy.polyfit`.

A scaler fits when :meth:`DarkScaler.do_fit` is called, or on first use of a
fitted attribute (``p``, ``residual``, ...) if ``do_fit`` was not called, so the
notebook's ``PolyScalerManager(...).scalers`` can be written without calling
``do_fit`` on each.  Attributes are computed from the inputs as they are when
read; call ``do_fit()`` again after changing the input arrays in place.

Examples
--------
>>> import numpy as np, iuvs
>>> from iuvs import scaling
>>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
>>> mult = scaling.MultScaler(pair.dark_in, pair.dark_out).do_fit()
>>> round(float(mult.p[0]), 2)
1.45
>>> manager = scaling.PolyScalerManager(pair.dark_in, pair.dark_out, 1, 4)
>>> [s.name for s in manager.scalers]
['Poly1', 'Poly2', 'Poly3', 'Poly4']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import RankError, ShapeMismatchError
from iuvs.fitting import MAX_RANK, MIN_RANK, Fit, ResidualStats, _exclusion, fit_all
from iuvs.options import FitOptions

__all__ = [
    "AddScaler",
    "DarkScaler",
    "MultScaler",
    "PolyScaler",
    "PolyScalerManager",
    "fit_scalers",
]


def _as_array(a: npt.ArrayLike) -> npt.NDArray[Any]:
    """Return ``a`` as an ndarray without copying (masked arrays stay masked)."""
    return a if isinstance(a, np.ndarray) else np.asarray(a)


def _check_shapes(dark_in: npt.NDArray[Any], dark_out: npt.NDArray[Any]) -> None:
    if dark_in.shape != dark_out.shape:
        raise ShapeMismatchError(
            f"dark_in has shape {dark_in.shape} but dark_out has shape {dark_out.shape}; "
            "a scaler maps one frame onto another of the same shape"
        )


def _check_rank(rank: object, lowest: int) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
        raise RankError(f"rank must be an integer, got {rank!r}")
    value = int(rank)
    if not lowest <= value <= MAX_RANK:
        raise RankError(
            f"rank {value} is outside {lowest}..{MAX_RANK} "
            "(-1 additive, 0 multiplicative, 1..12 polynomial degree)"
        )
    return value


class DarkScaler:
    """A model of ``dark_out`` against ``dark_in`` with the 2015 attributes (base class).

    Use :class:`AddScaler`, :class:`MultScaler` or :class:`PolyScaler`, or
    :func:`fit_scalers` for several ranks at once.

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape (any shape), of any dtype :func:`iuvs.fit`
        accepts (int16 ... float64, either byte order, any layout).  They are
        kept without copying.  Masked arrays: their masks are honoured.
    rank : int
        -1 additive, 0 multiplicative, 1..12 polynomial degree.
    mask : array_like of bool, optional
        Pixels to exclude from the fit (True = excluded, as in :mod:`numpy.ma`).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN), as the
        notebook's ``data_in > 2500`` cut.
    hot_sigma : float, optional
        Exclude pixels above ``median + hot_sigma * MAD-std`` of ``dark_in``
        (see :func:`iuvs.hot_pixels`); not together with ``hot_threshold``.
    clip : float, optional
        Sigma-clip the residuals and refit (see :func:`iuvs.fit_all`).
    clip_iter : int, optional
        Most clip-and-refit iterations.
    weights : array_like or "poisson", optional
        Per-pixel weights ``1 / sigma`` (see :func:`iuvs.fit_all`).

    Attributes
    ----------
    dark_in, dark_out : numpy.ndarray
        The inputs, as given.
    rank : int
        The model rank.
    mask, hot_threshold, hot_sigma, clip, clip_iter
        The exclusion options, as given (``mask`` includes masked-array masks).
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Raises
    ------
    iuvs.exceptions.ShapeMismatchError
        If the two frames differ in shape.
    iuvs.exceptions.RankError
        If ``rank`` is not an integer in -1..12.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import DarkScaler
    >>> x = np.arange(1.0, 21.0)
    >>> s = DarkScaler(x, 2 * x + 1, rank=1).do_fit()
    >>> np.round(s.p, 12).tolist(), s.name
    ([2.0, 1.0], 'Poly1')
    """

    rank: int

    def __init__(
        self,
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
        options: FitOptions | None = None,
    ) -> None:
        if options is not None:  # the bundle, checked once (never with the keywords)
            o = FitOptions.bundle(options, mask, hot_threshold, hot_sigma, clip, clip_iter, weights)
            mask, hot_threshold, hot_sigma = o.mask, o.hot_threshold, o.hot_sigma
            clip, clip_iter, weights = o.clip, o.clip_iter, o.weights
        self.dark_in = _as_array(dark_in)
        self.dark_out = _as_array(dark_out)
        _check_shapes(self.dark_in, self.dark_out)
        self.rank = _check_rank(rank, MIN_RANK)
        self.mask = _exclusion(self.dark_in, self.dark_out, mask)
        self.hot_threshold = hot_threshold
        self.hot_sigma = hot_sigma
        self.clip = clip
        self.clip_iter = clip_iter
        self.weights = weights
        self._fit: Fit | None = None

    # ------------------------------------------------------------------ fitting
    def do_fit(self) -> DarkScaler:
        """Fit the model through :func:`iuvs.fitting.fit_all` (refits on every call).

        Returns
        -------
        DarkScaler
            ``self``, for chaining.

        Raises
        ------
        iuvs.exceptions.InsufficientDataError
            If too few usable pixels remain after exclusion.
        iuvs.exceptions.DegenerateFitError
            If ``dark_in`` has too few distinct values for the rank.

        Examples
        --------
        >>> import numpy as np
        >>> from iuvs.scaling import AddScaler
        >>> x = np.arange(1.0, 11.0)
        >>> round(float(AddScaler(x, x + 3).do_fit().p[0]), 12)
        3.0
        """
        self._fit = fit_all(
            self.dark_in, self.dark_out, [self.rank], mask=self.mask, **self._options()
        )[0]
        return self

    def _options(self) -> dict[str, Any]:
        """Return the options other than the mask, as fit_all keywords."""
        return {
            "hot_threshold": self.hot_threshold,
            "hot_sigma": self.hot_sigma,
            "clip": self.clip,
            "clip_iter": self.clip_iter,
            "weights": self.weights,
        }

    @property
    def is_fitted(self) -> bool:
        """True once the model has been fitted."""
        return self._fit is not None

    @property
    def fit(self) -> Fit:
        """The underlying :class:`~iuvs.fitting.Fit` (fitted on first use)."""
        if self._fit is None:
            self.do_fit()
        assert self._fit is not None
        return self._fit

    @property
    def stats(self) -> ResidualStats:
        """Residual statistics over the pixels used in the fit (``fit.stats``)."""
        return self.fit.stats

    # --------------------------------------------------------- 2015 attributes
    @property
    def name(self) -> str:
        """The 2015 name: ``'AddScaler'``, ``'MultScaler'`` or ``'Poly<n>'``."""
        if self.rank == -1:
            return "AddScaler"
        if self.rank == 0:
            return "MultScaler"
        return f"Poly{self.rank}"

    @property
    def p(self) -> npt.NDArray[np.float64]:
        """Coefficients, highest power first (``[a]`` for ranks -1 and 0); read-only."""
        return self.fit.coeffs

    @property
    def pcov(self) -> npt.NDArray[np.float64]:
        """Parameter covariance, scaled by ``SSR / (N - p)`` as ``curve_fit`` reports it."""
        return self.fit.cov

    @property
    def perr(self) -> npt.NDArray[np.float64]:
        """Standard errors of the coefficients, ``sqrt(diag(pcov))``."""
        return self.fit.perr

    @property
    def poly(self) -> np.poly1d:
        """The model as a :class:`numpy.poly1d` (``x + a`` is ``poly1d([1, a])``)."""
        return self.fit.poly

    @property
    def p_dict(self) -> dict[str, float]:
        """Coefficients by name.

        ``{'a': a}`` for ranks -1 and 0; for polynomials ``{'c0': ..., 'c1':
        ..., 'cN': ...}`` in the order of ``p``: ``c0`` multiplies the highest
        power ``x**rank`` and ``c<rank>`` is the constant term.
        """
        if self.rank <= 0:
            return {"a": float(self.p[0])}
        return {f"c{i}": float(c) for i, c in enumerate(self.p)}

    @property
    def scaled(self) -> npt.NDArray[np.float64]:
        """``model(dark_in)`` as float64, the shape of ``dark_in``."""
        return self.fit.apply(self.dark_in)

    @property
    def residual(self) -> npt.NDArray[np.float64]:
        """``dark_out - scaled`` as float64, over every pixel (excluded ones too)."""
        return self.fit.residual(self.dark_in, self.dark_out)

    @property
    def fractional(self) -> npt.NDArray[np.float64]:
        """``residual / dark_out``; NaN where ``dark_out == 0`` (no constant is added)."""
        return self.fit.fractional(self.dark_in, self.dark_out)

    def apply_fit(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Apply the fitted model to other data, for example a full frame.

        Parameters
        ----------
        x : array_like
            Values to scale (any shape).

        Returns
        -------
        numpy.ndarray
            ``model(x)`` as float64, the shape of ``x``.

        Examples
        --------
        >>> import numpy as np
        >>> from iuvs.scaling import MultScaler
        >>> x = np.arange(1.0, 11.0)
        >>> MultScaler(x, 2 * x).apply_fit([1.0, 5.0]).round(12).tolist()
        [2.0, 10.0]
        """
        return self.fit.apply(x)

    def __repr__(self) -> str:
        state = f"p={self.p.tolist()}" if self._fit is not None else "not fitted"
        return f"{type(self).__name__}(rank={self.rank}, {state})"


class AddScaler(DarkScaler):
    """Additive model ``dark_out = dark_in + a`` (rank -1).

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN).
    hot_sigma, clip, clip_iter, weights : optional
        As for :class:`DarkScaler`.
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import AddScaler
    >>> s = AddScaler(np.arange(10.0), np.arange(10.0) + 2)
    >>> s.do_fit().name, round(float(s.p[0]), 12), s.p_dict == {"a": float(s.p[0])}
    ('AddScaler', 2.0, True)
    """

    def __init__(
        self,
        dark_in: npt.ArrayLike,
        dark_out: npt.ArrayLike,
        *,
        mask: npt.ArrayLike | None = None,
        hot_threshold: float | None = None,
        hot_sigma: float | None = None,
        clip: float | None = None,
        clip_iter: int = 3,
        weights: npt.ArrayLike | Literal["poisson"] | None = None,
        options: FitOptions | None = None,
    ) -> None:
        super().__init__(
            dark_in,
            dark_out,
            -1,
            mask=mask,
            hot_threshold=hot_threshold,
            hot_sigma=hot_sigma,
            clip=clip,
            clip_iter=clip_iter,
            weights=weights,
            options=options,
        )


class MultScaler(DarkScaler):
    """Multiplicative model ``dark_out = a * dark_in`` (rank 0, through the origin).

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN).
    hot_sigma, clip, clip_iter, weights : optional
        As for :class:`DarkScaler`.
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import MultScaler
    >>> x = np.arange(1.0, 9.0)
    >>> round(float(MultScaler(x, 4 * x).do_fit().p[0]), 12)
    4.0
    """

    def __init__(
        self,
        dark_in: npt.ArrayLike,
        dark_out: npt.ArrayLike,
        *,
        mask: npt.ArrayLike | None = None,
        hot_threshold: float | None = None,
        hot_sigma: float | None = None,
        clip: float | None = None,
        clip_iter: int = 3,
        weights: npt.ArrayLike | Literal["poisson"] | None = None,
        options: FitOptions | None = None,
    ) -> None:
        super().__init__(
            dark_in,
            dark_out,
            0,
            mask=mask,
            hot_threshold=hot_threshold,
            hot_sigma=hot_sigma,
            clip=clip,
            clip_iter=clip_iter,
            weights=weights,
            options=options,
        )


class PolyScaler(DarkScaler):
    """Polynomial model of degree ``rank`` (1..12), ``numpy.polyfit``'s least squares.

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape.
    rank : int, optional
        Polynomial degree, 1..12 (default 2, as in 2015).
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN).
    hot_sigma, clip, clip_iter, weights : optional
        As for :class:`DarkScaler`.
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Raises
    ------
    iuvs.exceptions.RankError
        If ``rank`` is not an integer in 1..12.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import PolyScaler
    >>> x = np.linspace(1.0, 100.0, 50)
    >>> s = PolyScaler(x, 0.5 * x**2 + 1, rank=2)
    >>> np.round(s.p, 9).tolist(), s.name
    ([0.5, 0.0, 1.0], 'Poly2')
    """

    def __init__(
        self,
        dark_in: npt.ArrayLike,
        dark_out: npt.ArrayLike,
        rank: int = 2,
        *,
        mask: npt.ArrayLike | None = None,
        hot_threshold: float | None = None,
        hot_sigma: float | None = None,
        clip: float | None = None,
        clip_iter: int = 3,
        weights: npt.ArrayLike | Literal["poisson"] | None = None,
        options: FitOptions | None = None,
    ) -> None:
        super().__init__(
            dark_in,
            dark_out,
            _check_rank(rank, 1),
            mask=mask,
            hot_threshold=hot_threshold,
            hot_sigma=hot_sigma,
            clip=clip,
            clip_iter=clip_iter,
            weights=weights,
            options=options,
        )


def _scaler_for(
    dark_in: npt.ArrayLike, dark_out: npt.ArrayLike, rank: int, **options: Any
) -> DarkScaler:
    """Build the scaler class of a rank with the given options."""
    if rank == -1:
        return AddScaler(dark_in, dark_out, **options)
    if rank == 0:
        return MultScaler(dark_in, dark_out, **options)
    return PolyScaler(dark_in, dark_out, rank, **options)


def fit_scalers(
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
    options: FitOptions | None = None,
) -> list[DarkScaler]:
    """Fit several ranks in one pass (:func:`iuvs.fitting.fit_all`) and wrap each in its scaler.

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape.
    ranks : iterable of int, optional
        Ranks to fit (default -1..4, the notebook's set): -1 gives an
        :class:`AddScaler`, 0 a :class:`MultScaler`, ``n >= 1`` a
        :class:`PolyScaler`.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN).
    hot_sigma, clip, clip_iter, weights : optional
        As for :class:`DarkScaler`.
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Returns
    -------
    list of DarkScaler
        Fitted scalers in the order of ``ranks``.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs.scaling import fit_scalers
    >>> pair = iuvs.synthetic.make_dark_pair((20, 40), seed=2)
    >>> [type(s).__name__ for s in fit_scalers(pair.dark_in, pair.dark_out, [-1, 0, 2])]
    ['AddScaler', 'MultScaler', 'PolyScaler']
    """
    o = FitOptions.bundle(options, mask, hot_threshold, hot_sigma, clip, clip_iter, weights)
    mask, hot_threshold, hot_sigma = o.mask, o.hot_threshold, o.hot_sigma
    clip, clip_iter, weights = o.clip, o.clip_iter, o.weights
    x, y = _as_array(dark_in), _as_array(dark_out)
    _check_shapes(x, y)
    rank_list = [_check_rank(r, MIN_RANK) for r in ranks]
    if not rank_list:
        raise RankError("no rank requested; give at least one of -1..12")
    keywords: dict[str, Any] = {
        "mask": _exclusion(x, y, mask),
        "hot_threshold": hot_threshold,
        "hot_sigma": hot_sigma,
        "clip": clip,
        "clip_iter": clip_iter,
        "weights": weights,
    }
    scalers = []
    for f in fit_all(x, y, rank_list, **keywords):
        s = _scaler_for(x, y, f.rank, **keywords)
        s._fit = f
        scalers.append(s)
    return scalers


class PolyScalerManager:
    """Models of ranks ``rankstart..rankend`` (inclusive), fitted together on construction.

    All ranks are fitted in one :func:`iuvs.fitting.fit_all` pass, so the
    scalers in :attr:`scalers` are ready to use (the notebook appends them to
    a :class:`~iuvs.io.DarkWriter` without calling ``do_fit``).

    Parameters
    ----------
    dark_in, dark_out : array_like
        Frames of the same shape.
    rankstart, rankend : int
        First and last rank, ``-1 <= rankstart <= rankend <= 12``; the 2015
        use is polynomial degrees (``1, 4``); ranks -1 and 0 give an
        :class:`AddScaler` and a :class:`MultScaler`.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value (DN).
    hot_sigma, clip, clip_iter, weights : optional
        As for :class:`DarkScaler`.
    options : FitOptions, optional
        The fit options as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Attributes
    ----------
    rankstart, rankend : int
        The range of ranks.
    dark_in, dark_out : numpy.ndarray
        The inputs.
    scalers : list of DarkScaler
        One fitted scaler per rank, ascending.

    Raises
    ------
    iuvs.exceptions.RankError
        If the ranks are not integers with ``-1 <= rankstart <= rankend <= 12``.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs.scaling import PolyScalerManager
    >>> pair = iuvs.synthetic.make_dark_pair((20, 40), curvature=2e-5, seed=2)
    >>> m = PolyScalerManager(pair.dark_in, pair.dark_out, 1, 4)
    >>> [s.rank for s in m.scalers], len(m.fractionals), len(m.coeffs[3])
    ([1, 2, 3, 4], 4, 5)
    """

    def __init__(
        self,
        dark_in: npt.ArrayLike,
        dark_out: npt.ArrayLike,
        rankstart: int,
        rankend: int,
        *,
        mask: npt.ArrayLike | None = None,
        hot_threshold: float | None = None,
        hot_sigma: float | None = None,
        clip: float | None = None,
        clip_iter: int = 3,
        weights: npt.ArrayLike | Literal["poisson"] | None = None,
        options: FitOptions | None = None,
    ) -> None:
        self.rankstart = _check_rank(rankstart, MIN_RANK)
        self.rankend = _check_rank(rankend, MIN_RANK)
        if self.rankstart > self.rankend:
            raise RankError(
                f"rankstart ({self.rankstart}) must not exceed rankend ({self.rankend})"
            )
        self.dark_in = _as_array(dark_in)
        self.dark_out = _as_array(dark_out)
        self.scalers: list[DarkScaler] = fit_scalers(
            self.dark_in,
            self.dark_out,
            range(self.rankstart, self.rankend + 1),
            mask=mask,
            hot_threshold=hot_threshold,
            hot_sigma=hot_sigma,
            clip=clip,
            clip_iter=clip_iter,
            weights=weights,
            options=options,
        )

    def do_fit(self) -> PolyScalerManager:
        """Return ``self``: the models are fitted on construction.

        Returns
        -------
        PolyScalerManager
            ``self``.

        Examples
        --------
        >>> import iuvs
        >>> from iuvs.scaling import PolyScalerManager
        >>> pair = iuvs.synthetic.make_dark_pair((10, 20), seed=1)
        >>> m = PolyScalerManager(pair.dark_in, pair.dark_out, 1, 2)
        >>> m.do_fit() is m
        True
        """
        return self

    @property
    def ranks(self) -> list[int]:
        """The ranks, ``rankstart..rankend``."""
        return [s.rank for s in self.scalers]

    @property
    def fits(self) -> list[Fit]:
        """The underlying :class:`~iuvs.fitting.Fit` of each scaler."""
        return [s.fit for s in self.scalers]

    @property
    def fractionals(self) -> list[float]:
        """Mean fractional residual of each model.

        The mean of ``residual / dark_out`` over the pixels used in the fit
        whose ``dark_out != 0`` (``fit.stats.frac_mean``; NaN if none).
        """
        return [s.stats.frac_mean for s in self.scalers]

    @property
    def coeffs(self) -> list[npt.NDArray[np.float64]]:
        """Coefficients of each model, highest power first."""
        return [s.p for s in self.scalers]

    @property
    def polynoms(self) -> list[np.poly1d]:
        """Each model as a :class:`numpy.poly1d`."""
        return [s.poly for s in self.scalers]

    def best(
        self, criterion: Literal["aic", "bic", "plateau"] = "bic", *, tolerance: float = 1e-4
    ) -> DarkScaler:
        """Return the scaler :func:`iuvs.choose_rank` picks among these models.

        Parameters
        ----------
        criterion : {'bic', 'aic', 'plateau'}, optional
            See :func:`iuvs.choose_rank`.
        tolerance : float, optional
            Absolute improvement of ``|frac_mean|`` that still counts (plateau).

        Returns
        -------
        DarkScaler
            The chosen model.

        Examples
        --------
        >>> import numpy as np
        >>> from iuvs.scaling import PolyScalerManager
        >>> rng = np.random.default_rng(0)
        >>> x = rng.uniform(100, 4000, (62, 341))
        >>> y = 3e-5 * x**2 + 1.4 * x + rng.normal(0, 5, x.shape)
        >>> PolyScalerManager(x, y, 1, 5).best("bic").rank
        2
        """
        from iuvs.selection import choose_rank

        choice = choose_rank(self.fits, criterion, tolerance=tolerance)
        return next(s for s in self.scalers if s.rank == choice.rank)

    def __repr__(self) -> str:
        return f"PolyScalerManager(rankstart={self.rankstart}, rankend={self.rankend})"
