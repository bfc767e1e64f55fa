"""choose_rank against hand-computed AIC/BIC and the notebook's plateau reading."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_darks

import iuvs
from iuvs import exceptions as ex


def test_bic_and_aic_scores_are_the_textbook_formulas():
    x, y = make_darks(seed=12)
    fits = iuvs.fit_all(x, y, range(-1, 6))
    for crit in ("aic", "bic"):
        choice = iuvs.choose_rank(fits, crit)
        for f in fits:
            n, k = f.stats.n_used, (1 if f.rank <= 0 else f.rank + 1)
            ssr = (
                np.sum((y - np.polyval(np.polyfit(x.ravel(), y.ravel(), f.rank), x)) ** 2)
                if f.rank > 0
                else f.ssr
            )
            loglike = -0.5 * n * np.log(ssr / n)
            want = 2 * (k - loglike) if crit == "aic" else k * np.log(n) - 2 * loglike
            assert choice.scores[f.rank] == pytest.approx(want, rel=1e-9)
        assert choice.scores[choice.rank] == min(choice.scores.values())
    # the synthetic darks are quadratic: both criteria find degree 2
    assert iuvs.choose_rank(fits, "bic").rank == 2


def test_plateau_follows_the_fractional_mean():
    x, y = make_darks(seed=13)
    fits = iuvs.fit_all(x, y, range(-1, 6))
    fm = {f.rank: abs(f.stats.frac_mean) for f in fits}
    choice = iuvs.choose_rank(fits, "plateau", tolerance=1e-4)
    ranks = sorted(fm)
    want = next(
        r
        for i, r in enumerate(ranks)
        if not ranks[i + 1 :] or fm[r] - min(fm[q] for q in ranks[i + 1 :]) <= 1e-4
    )
    assert choice.rank == want
    assert choice.scores == fm
    assert iuvs.choose_rank(fits, "plateau", tolerance=10.0).rank == -1


def test_bad_choose_rank_inputs():
    x, y = make_darks(seed=14)
    fits = iuvs.fit_all(x, y, [0, 1])
    with pytest.raises(ex.InvalidParameterError):
        iuvs.choose_rank(fits, "r2")  # type: ignore[arg-type]
    with pytest.raises(ex.InvalidParameterError):
        iuvs.choose_rank([], "bic")
    with pytest.raises(ex.InvalidParameterError):
        iuvs.choose_rank(fits, "plateau", tolerance=-1.0)
