"""The 2015 notebook's scaling API on top of :mod:`iuvs.fitting`.

:class:`AddScaler` (rank -1, ``x + a``), :class:`MultScaler` (rank 0,
``a * x``), :class:`PolyScaler` (degree ``rank``) and
:class:`PolyScalerManager` (a range of degrees) keep the attribute names of the
2015 ``iuvs.scaling`` module (``do_fit``, ``p``, ``pcov``, ``perr``, ``scaled``,
``residual``, ``fractional``, ``apply_fit``, ``poly``, ``p_dict``) and add
masks, hot-pixel cuts and sigma clipping.  Coefficients are listed highest
power first.

Examples
--------
>>> import numpy as np, iuvs
>>> from iuvs import scaling
>>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
>>> mult = scaling.MultScaler(pair.dark_in, pair.dark_out).do_fit()
>>> round(float(mult.p[0]), 2)
1.45
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import InvalidParameterError
from iuvs.fitting import Fit, ResidualStats, fit, fit_all, model_name
from iuvs.selection import choose_rank

__all__ = ["AddScaler", "MultScaler", "PolyScaler", "PolyScalerManager"]


class _Scaler:
    """A model of ``dark_out`` against ``dark_in`` with the 2015 attributes."""

    rank: int

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
    ) -> None:
        self.dark_in = np.asarray(dark_in) if not isinstance(dark_in, np.ndarray) else dark_in
        self.dark_out = np.asarray(dark_out) if not isinstance(dark_out, np.ndarray) else dark_out
        self.mask = None if mask is None else np.asarray(mask)
        self.hot_threshold = hot_threshold
        self.hot_sigma = hot_sigma
        self.clip = clip
        self.clip_iter = clip_iter
        self._fit: Fit | None = None

    def _options(self) -> dict[str, Any]:
        return {
            "mask": self.mask,
            "hot_threshold": self.hot_threshold,
            "hot_sigma": self.hot_sigma,
            "clip": self.clip,
            "clip_iter": self.clip_iter,
        }

    def do_fit(self) -> _Scaler:
        """Fit the model (runs once; later calls return at once).

        Returns
        -------
        self
            For chaining.

        Examples
        --------
        >>> import numpy as np
        >>> from iuvs.scaling import AddScaler
        >>> x = np.arange(1.0, 11.0)
        >>> round(float(AddScaler(x, x + 3).do_fit().p[0]), 12)
        3.0
        """
        if self._fit is None:
            self._fit = fit(self.dark_in, self.dark_out, self.rank, **self._options())
        return self

    @property
    def fit(self) -> Fit:
        """The underlying :class:`~iuvs.fitting.Fit` (fitted on first use)."""
        self.do_fit()
        assert self._fit is not None
        return self._fit

    @property
    def name(self) -> str:
        """``'additive'``, ``'multiplicative'`` or ``'poly<n>'``."""
        return model_name(self.rank)

    @property
    def p(self) -> npt.NDArray[np.float64]:
        """Coefficients, highest power first."""
        return self.fit.coeffs

    @property
    def pcov(self) -> npt.NDArray[np.float64]:
        """Parameter covariance (as ``curve_fit`` / ``numpy.polyfit(cov=True)``)."""
        return self.fit.cov

    @property
    def perr(self) -> npt.NDArray[np.float64]:
        """Standard errors ``sqrt(diag(pcov))``."""
        return self.fit.perr

    @property
    def stats(self) -> ResidualStats:
        """Residual statistics over the pixels used in the fit."""
        return self.fit.stats

    @property
    def poly(self) -> np.poly1d:
        """The model as a :class:`numpy.poly1d`."""
        return self.fit.poly

    @property
    def p_dict(self) -> dict[str, float]:
        """Coefficients by name: ``{'a': a}`` (ranks -1, 0), else ``{'c<k>': ...}`` for x**k."""
        if self.rank <= 0:
            return {"a": float(self.p[0])}
        return {f"c{k}": float(c) for k, c in enumerate(self.p[::-1])}

    def apply_fit(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Apply the model to ``x``.

        Parameters
        ----------
        x : array_like
            Values (for example a dark to scale).

        Returns
        -------
        numpy.ndarray
            ``model(x)``.

        Examples
        --------
        >>> import numpy as np
        >>> from iuvs.scaling import MultScaler
        >>> x = np.arange(1.0, 11.0)
        >>> MultScaler(x, 2 * x).apply_fit([1.0, 5.0]).round(12).tolist()
        [2.0, 10.0]
        """
        return self.fit.apply(x)

    @property
    def scaled(self) -> npt.NDArray[np.float64]:
        """``dark_in`` scaled by the model (same shape)."""
        return self.fit.apply(self.dark_in)

    @property
    def residual(self) -> npt.NDArray[np.float64]:
        """``dark_out - scaled``."""
        return np.asarray(self.dark_out, dtype=np.float64) - self.scaled

    @property
    def fractional(self) -> npt.NDArray[np.float64]:
        """``residual / dark_out``; NaN where ``dark_out == 0`` (nothing is added)."""
        return self.fit.fractional(self.dark_in, self.dark_out)

    @property
    def exclusion_mask(self) -> npt.NDArray[np.bool_] | None:
        """Pixels left out of the fit (mask, hot pixels, non-finite, clipped), or None."""
        x = np.asarray(self.dark_in, dtype=np.float64)
        y = np.asarray(self.dark_out, dtype=np.float64)
        out = ~(np.isfinite(x) & np.isfinite(y))
        if self.mask is not None:
            out |= self.mask.astype(bool)
        thr = self.hot_threshold
        if self.hot_sigma is not None:
            from iuvs.hot import hot_pixels

            thr = float(hot_pixels(self.dark_in, sigma=self.hot_sigma).threshold)
        if thr is not None:
            out |= x > thr
        if self.fit.mask is not None:
            out |= self.fit.mask
        return out if out.any() else None

    def __repr__(self) -> str:
        state = f"p={self.p.tolist()}" if self._fit is not None else "not fitted"
        return f"{type(self).__name__}(rank={self.rank}, {state})"


class AddScaler(_Scaler):
    """Additive model ``dark_out = dark_in + a`` (rank -1).

    Parameters
    ----------
    dark_in, dark_out : array_like
        The darks.
    mask : array_like of bool, optional
        Pixels to exclude (True = excluded).
    hot_threshold, hot_sigma : float, optional
        Hot-pixel cut on ``dark_in`` (DN, or sigmas of :func:`iuvs.hot_pixels`).
    clip : float, optional
        Sigma clipping of the residuals (see :func:`iuvs.fit_all`).
    clip_iter : int, optional
        Most clip-and-refit iterations.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import AddScaler
    >>> s = AddScaler(np.arange(10.0), np.arange(10.0) + 2).do_fit()
    >>> s.name, round(float(s.p[0]), 12)
    ('additive', 2.0)
    """

    rank = -1


class MultScaler(_Scaler):
    """Multiplicative model ``dark_out = a * dark_in`` (rank 0, through the origin).

    Parameters
    ----------
    dark_in, dark_out : array_like
        The darks.
    mask, hot_threshold, hot_sigma, clip, clip_iter
        As for :class:`AddScaler`.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import MultScaler
    >>> round(float(MultScaler(np.arange(1.0, 9.0), 4 * np.arange(1.0, 9.0)).p[0]), 12)
    4.0
    """

    rank = 0


class PolyScaler(_Scaler):
    """Polynomial model of degree ``rank`` (1..12).

    Parameters
    ----------
    dark_in, dark_out : array_like
        The darks.
    rank : int, optional
        Polynomial degree.
    mask, hot_threshold, hot_sigma, clip, clip_iter
        As for :class:`AddScaler`.

    Examples
    --------
    >>> import numpy as np
    >>> from iuvs.scaling import PolyScaler
    >>> x = np.linspace(1.0, 100.0, 50)
    >>> np.round(PolyScaler(x, 0.5 * x**2 + 1, rank=2).p, 9).tolist()
    [0.5, 0.0, 1.0]
    """

    def __init__(self, dark_in: npt.ArrayLike, dark_out: npt.ArrayLike, rank: int = 2, **kw: Any):
        super().__init__(dark_in, dark_out, **kw)
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 1 <= rank <= 12:
            raise InvalidParameterError(f"PolyScaler rank must be 1..12, got {rank!r}")
        self.rank = int(rank)


class PolyScalerManager:
    """Polynomials of degrees ``rankstart..rankend`` (inclusive), fitted together.

    Parameters
    ----------
    dark_in, dark_out : array_like
        The darks.
    rankstart, rankend : int
        First and last degree.
    **kw
        ``mask``, ``hot_threshold``, ``hot_sigma``, ``clip``, ``clip_iter``.

    Attributes
    ----------
    scalers : list of PolyScaler
        One fitted scaler per degree.
    fractionals : list of float
        Mean fractional residual of each.
    coeffs : list of numpy.ndarray
        Coefficients of each (highest power first).
    polynoms : list of numpy.poly1d
        Each model as a polynomial.

    Examples
    --------
    >>> import iuvs
    >>> from iuvs.scaling import PolyScalerManager
    >>> pair = iuvs.synthetic.make_dark_pair((20, 40), curvature=2e-5, seed=2)
    >>> m = PolyScalerManager(pair.dark_in, pair.dark_out, 1, 4)
    >>> [s.rank for s in m.scalers]
    [1, 2, 3, 4]
    """

    def __init__(
        self,
        dark_in: npt.ArrayLike,
        dark_out: npt.ArrayLike,
        rankstart: int,
        rankend: int,
        **kw: Any,
    ) -> None:
        if not (isinstance(rankstart, int) and isinstance(rankend, int)) or rankstart > rankend:
            raise InvalidParameterError(
                f"need integer degrees rankstart <= rankend, got {rankstart!r}, {rankend!r}"
            )
        self.dark_in = dark_in
        self.dark_out = dark_out
        self.ranks = list(range(rankstart, rankend + 1))
        fits = fit_all(dark_in, dark_out, self.ranks, **kw)
        self.scalers: list[PolyScaler] = []
        for f in fits:
            s = PolyScaler(dark_in, dark_out, rank=f.rank, **kw)
            s._fit = f
            self.scalers.append(s)

    def do_fit(self) -> PolyScalerManager:
        """Return self (the models are fitted on construction)."""
        return self

    @property
    def fractionals(self) -> list[float]:
        """Mean fractional residual of each model."""
        return [s.stats.frac_mean for s in self.scalers]

    @property
    def coeffs(self) -> list[npt.NDArray[np.float64]]:
        """Coefficients of each model, highest power first."""
        return [s.p for s in self.scalers]

    @property
    def polynoms(self) -> list[np.poly1d]:
        """Each model as a :class:`numpy.poly1d`."""
        return [s.poly for s in self.scalers]

    def best(self, criterion: Literal["aic", "bic", "plateau"] = "bic", **kw: Any) -> PolyScaler:
        """Return the scaler :func:`iuvs.choose_rank` picks.

        Parameters
        ----------
        criterion : {'bic', 'aic', 'plateau'}, optional
            See :func:`iuvs.choose_rank`.
        **kw
            Passed on (``tolerance`` for ``'plateau'``).

        Returns
        -------
        PolyScaler
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
        choice = choose_rank([s.fit for s in self.scalers], criterion, **kw)
        return next(s for s in self.scalers if s.rank == choice.rank)
