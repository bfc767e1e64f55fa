"""Choosing the model rank: AIC, BIC (astropy's least-squares forms) and the notebook's plateau.

Examples
--------
>>> import numpy as np, iuvs
>>> rng = np.random.default_rng(0)
>>> x = rng.uniform(100, 4000, 5000)
>>> y = 2e-5 * x**2 + 1.4 * x + rng.normal(0, 5, x.size)
>>> choice = iuvs.choose_rank(iuvs.fit_all(x, y, range(-1, 6)), criterion="bic")
>>> choice.rank
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from astropy.stats import akaike_info_criterion_lsq, bayesian_info_criterion_lsq

from iuvs.exceptions import InsufficientDataError, InvalidParameterError
from iuvs.fitting import Fit

__all__ = ["RankChoice", "choose_rank"]


@dataclass(frozen=True)
class RankChoice:
    """The chosen rank and every candidate's score.

    Attributes
    ----------
    rank : int
        The chosen rank (-1 additive, 0 multiplicative, n polynomial degree).
    criterion : str
        ``'aic'``, ``'bic'`` or ``'plateau'``.
    scores : dict of int to float
        Score of every candidate rank: AIC or BIC (lower is better), or the
        absolute fractional residual mean for ``'plateau'``.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.linspace(100.0, 4000.0, 500)
    >>> choice = iuvs.choose_rank(iuvs.fit_all(x, 1e-4 * x**2 + x + np.sin(x), [0, 1, 2]))
    >>> choice.rank, sorted(choice.scores)
    (2, [0, 1, 2])
    """

    rank: int
    criterion: str
    scores: dict[int, float]


def _n_params(rank: int) -> int:
    return 1 if rank <= 0 else rank + 1


def choose_rank(
    fits: Sequence[Fit],
    criterion: Literal["aic", "bic", "plateau"] = "bic",
    *,
    tolerance: float = 1e-4,
) -> RankChoice:
    """Choose the best rank among fitted models of the same pair.

    Parameters
    ----------
    fits : sequence of Fit
        Fits of one pair (for example from :func:`iuvs.fit_all`).
    criterion : {'bic', 'aic', 'plateau'}, optional
        ``'aic'`` and ``'bic'``: the lowest
        :func:`astropy.stats.akaike_info_criterion_lsq` /
        :func:`astropy.stats.bayesian_info_criterion_lsq` of
        ``(SSR, n_params, n_used)``.  ``'plateau'``: the notebook's reading of
        the fractional residual over rank — in the order -1, 0, 1, 2, ..., the
        lowest rank after which ``|frac_mean|`` improves by no more than
        ``tolerance``.
    tolerance : float, optional
        Absolute improvement of ``|frac_mean|`` that still counts (plateau).

    Returns
    -------
    RankChoice
        The chosen rank and every candidate's score.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Unknown criterion, negative tolerance or no fits.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.linspace(100.0, 4000.0, 2000)
    >>> y = 1.5 * x + 20 + np.sin(x)
    >>> iuvs.choose_rank(iuvs.fit_all(x, y, [0, 1, 2, 3]), "plateau", tolerance=1e-3).rank
    1
    """
    if criterion not in ("aic", "bic", "plateau"):
        raise InvalidParameterError(
            f"criterion must be 'aic', 'bic' or 'plateau', got {criterion!r}"
        )
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise InvalidParameterError(f"tolerance must be finite and >= 0, got {tolerance!r}")
    if len(fits) == 0:
        raise InvalidParameterError("no fits to choose from")
    ordered = sorted(fits, key=lambda f: f.rank)
    scores: dict[int, float] = {}
    if criterion == "plateau":
        for f in ordered:
            scores[f.rank] = abs(f.stats.frac_mean)
        values = [scores[f.rank] for f in ordered]
        if any(np.isnan(v) for v in values):
            raise InsufficientDataError(
                "a fit has no fractional residual (every dark_out is zero); use 'aic' or 'bic'"
            )
        for i, f in enumerate(ordered):
            later = values[i + 1 :]
            if not later or values[i] - min(later) <= tolerance:
                return RankChoice(f.rank, criterion, scores)
        return RankChoice(ordered[-1].rank, criterion, scores)  # pragma: no cover
    func = akaike_info_criterion_lsq if criterion == "aic" else bayesian_info_criterion_lsq
    for f in ordered:
        n, k = f.stats.n_used, _n_params(f.rank)
        # a perfect fit has SSR 0 and log(0) = -inf: it wins, as it should
        with np.errstate(divide="ignore"):
            scores[f.rank] = float(func(f.ssr, k, n))
    best = min(ordered, key=lambda f: (scores[f.rank], f.rank))
    return RankChoice(best.rank, criterion, scores)
