"""The options of a fit, as one typed bundle validated in one place.

Every entry point that fits (:func:`iuvs.fit`, :func:`iuvs.fit_all`,
:func:`iuvs.fit_batch`, the survey) accepts either the individual keywords
(``mask=``, ``hot_threshold=``, ...) or ``options=FitOptions(...)``; both go
through :meth:`FitOptions.__post_init__`, so a bad value gives the same
exception class and message wherever it is given.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import InvalidParameterError, RankError

__all__ = ["MAX_RANK", "MIN_RANK", "FitOptions", "check_ranks"]

#: Lowest rank: -1 additive (``x + a``); 0 is multiplicative (``a * x``).
MIN_RANK = -1
#: Highest rank: a polynomial of degree 12.
MAX_RANK = 12


def check_ranks(ranks: Iterable[Any]) -> list[int]:
    """Validate ranks: integers in ``MIN_RANK..MAX_RANK``, at least one.

    Parameters
    ----------
    ranks : iterable of int
        -1 additive, 0 multiplicative, 1..12 polynomial degree.

    Returns
    -------
    list of int
        The ranks as Python ints, in the order given.

    Raises
    ------
    iuvs.exceptions.RankError
        A rank that is not an integer or lies outside -1..12, or no rank at all.
        A string (``"1:4"``, the command line's syntax) is refused as a whole.

    Examples
    --------
    >>> from iuvs.options import check_ranks
    >>> check_ranks(range(-1, 3))
    [-1, 0, 1, 2]
    """
    if isinstance(ranks, str | bytes):
        raise RankError(
            f"ranks must be integers, got the string {ranks!r}; on the command line "
            "write '-1:4' (a range) or '0,2'; in Python range(-1, 5) or [0, 2]"
        )
    out: list[int] = []
    for r in ranks:
        if type(r) is int and MIN_RANK <= r <= MAX_RANK:
            out.append(r)  # the common case, checked cheaply
            continue
        if isinstance(r, bool) or not isinstance(r, numbers.Integral):
            raise RankError(f"rank must be an integer, got {r!r}")
        ri = int(r)
        if ri < MIN_RANK or ri > MAX_RANK:
            raise RankError(
                f"rank {ri} is outside {MIN_RANK}..{MAX_RANK} "
                "(-1 additive, 0 multiplicative, 1..12 polynomial degree)"
            )
        out.append(ri)
    if not out:
        raise RankError("no rank requested; give at least one of -1..12")
    return out


@dataclass(frozen=True)
class FitOptions:
    """Which pixels a fit uses and how it weighs them; checked when made.

    Attributes
    ----------
    mask : numpy.ndarray of bool or None
        Pixels to exclude (True = excluded); the shape of the frames (for a
        batch: of one frame, shared, or of the whole stack).
    hot_threshold : float or None
        Exclude pixels whose ``dark_in`` is above this value (finite).
    hot_sigma : float or None
        Exclude pixels above ``median + hot_sigma * MAD-std`` of ``dark_in``
        (finite, positive); not together with ``hot_threshold``.
    clip : float or None
        Sigma-clip the residuals at ``clip`` standard deviations and refit
        (finite, positive).
    clip_iter : int
        Most clip-and-refit iterations (a positive integer; default 3).
    weights : numpy.ndarray, 'poisson' or None
        Weights ``1 / sigma`` per pixel, or ``'poisson'``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        A value outside the ranges above, or both ``hot_threshold`` and
        ``hot_sigma``.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> opts = iuvs.FitOptions(hot_threshold=2500.0, clip=3.0)
    >>> x = np.arange(1.0, 101.0)
    >>> iuvs.fit(x, 2 * x, rank=0, options=opts).stats.n_used
    100
    >>> iuvs.FitOptions(clip=-1)
    Traceback (most recent call last):
    ...
    iuvs.exceptions.InvalidParameterError: clip must be finite and positive, got -1
    """

    mask: npt.ArrayLike | None = None
    hot_threshold: float | None = None
    hot_sigma: float | None = None
    clip: float | None = None
    clip_iter: int = 3
    weights: npt.ArrayLike | Literal["poisson"] | None = None

    def __post_init__(self) -> None:
        if self.hot_threshold is not None:
            value = check_number("hot_threshold", self.hot_threshold)
            if not math.isfinite(value):
                raise InvalidParameterError(
                    f"hot_threshold must be finite, got {self.hot_threshold!r}"
                )
            object.__setattr__(self, "hot_threshold", value)
        if self.hot_sigma is not None:
            if self.hot_threshold is not None:
                raise InvalidParameterError("give hot_threshold= or hot_sigma=, not both")
            object.__setattr__(self, "hot_sigma", check_positive("hot_sigma", self.hot_sigma))
        object.__setattr__(self, "clip_iter", check_positive_int("clip_iter", self.clip_iter))
        if self.clip is not None:
            object.__setattr__(self, "clip", check_positive("clip", self.clip))
        if isinstance(self.weights, str) and self.weights != "poisson":
            raise InvalidParameterError(
                f"weights must be an array or 'poisson', got {self.weights!r}"
            )

    @classmethod
    def resolve(cls, options: FitOptions | None, **given: Any) -> FitOptions:
        """Return the options of a call: ``options`` or the keywords, never both.

        Parameters
        ----------
        options : FitOptions or None
            A bundle given as ``options=``.
        **given
            The individual keywords of the call (their defaults count as not given).

        Returns
        -------
        FitOptions
            The validated bundle.

        Raises
        ------
        iuvs.exceptions.InvalidParameterError
            A bad value, or ``options=`` together with an individual keyword.

        Examples
        --------
        >>> from iuvs import FitOptions
        >>> FitOptions.resolve(None, clip=3.0).clip
        3.0
        """
        if options is None:
            return cls(**given)
        if not isinstance(options, FitOptions):
            raise InvalidParameterError(
                f"options must be an iuvs.FitOptions, got {type(options).__name__}"
            )
        defaults = {f.name: f.default for f in fields(cls)}
        extra = sorted(
            k
            for k, v in given.items()
            if v is not None and not (k == "clip_iter" and v == defaults[k])
        )
        if extra:
            raise InvalidParameterError(
                f"give options= or the individual fit options, not both (also got {extra})"
            )
        return options

    @classmethod
    def bundle(
        cls,
        options: FitOptions | None,
        mask: Any,
        hot_threshold: Any,
        hot_sigma: Any,
        clip: Any,
        clip_iter: Any,
        weights: Any,
        /,
    ) -> FitOptions:
        """Return :meth:`resolve` of an entry point's six keywords, given in field order.

        Parameters
        ----------
        options : FitOptions or None
            The ``options=`` of the call.
        mask, hot_threshold, hot_sigma, clip, clip_iter, weights
            The call's individual keywords, in this order (the fields' order).

        Returns
        -------
        FitOptions
            The validated bundle.

        Examples
        --------
        >>> from iuvs import FitOptions
        >>> FitOptions.bundle(None, None, 2500.0, None, None, 3, None).hot_threshold
        2500.0
        """
        return cls.resolve(
            options,
            mask=mask,
            hot_threshold=hot_threshold,
            hot_sigma=hot_sigma,
            clip=clip,
            clip_iter=clip_iter,
            weights=weights,
        )

    def scalars(self, where: str) -> tuple[float | None, float | None, float | None]:
        """Return ``(hot_threshold, hot_sigma, clip)`` for a caller that takes only those.

        Parameters
        ----------
        where : str
            The caller, for the message (``"the survey"``, ``"the report"``).

        Returns
        -------
        tuple
            ``hot_threshold``, ``hot_sigma`` and ``clip``.

        Raises
        ------
        iuvs.exceptions.InvalidParameterError
            If ``mask``, ``weights`` or a ``clip_iter`` other than 3 is set: per-pixel
            options have no meaning across many files.

        Examples
        --------
        >>> from iuvs import FitOptions
        >>> FitOptions(hot_sigma=5.0).scalars("the survey")
        (None, 5.0, None)
        """
        extra = [
            name
            for name, set_ in (
                ("mask", self.mask is not None),
                ("weights", self.weights is not None),
                ("clip_iter", self.clip_iter != 3),
            )
            if set_
        ]
        if extra:
            raise InvalidParameterError(
                f"{where} takes hot_threshold, hot_sigma and clip of FitOptions; "
                f"{', '.join(extra)} cannot be given to it"
            )
        return self.hot_threshold, self.hot_sigma, self.clip


def check_number(name: str, value: Any) -> float:
    """Return ``value`` as a float: any real number (Python or numpy scalar), not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> check_number("clip", np.float32(2.5))
    2.5
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a float: a finite, positive real number, not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> check_positive("clip", np.float64(3))
    3.0
    """
    v = check_number(name, value)
    if not (math.isfinite(v) and v > 0):
        raise InvalidParameterError(f"{name} must be finite and positive, got {value!r}")
    return v


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int: an integer (Python or numpy) of at least 1, not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> check_positive_int("clip_iter", np.int64(5))
    5
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
