"""Many dark pairs at once: :func:`fit_batch`.

Every pair is fitted by the Rust core on a rayon thread pool (pairs in
parallel above a size threshold, large pairs also split into parts), without
converting or copying the stacks; results come back as dense numpy arrays,
padded with NaN, plus :class:`~iuvs.fitting.Fit` objects on request.

Examples
--------
>>> import numpy as np, iuvs
>>> rng = np.random.default_rng(0)
>>> darks_in = rng.integers(100, 4000, size=(5, 62, 341)).astype(np.int32)
>>> darks_out = 2 * darks_in + 7
>>> res = iuvs.fit_batch(darks_in, darks_out, ranks=[0, 1])
>>> res.coeffs.shape
(5, 2, 13)
>>> np.round(res.coeffs[2, 1, :2], 9).tolist()
[2.0, 7.0]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs import exceptions
from iuvs.exceptions import InvalidParameterError, IuvsError, ShapeMismatchError
from iuvs.fitting import (
    Fit,
    ResidualStats,
    _as_core_array,
    _as_core_mask,
    _check_clip,
    _check_ranks,
    _check_threshold,
    _exclusion,
    _hot_threshold,
    _warn_no_freedom,
    model_name,
)
from iuvs.options import FitOptions, check_positive_int

__all__ = ["BatchResult", "fit_batch"]


def _n_params(rank: int) -> int:
    """Coefficients of a model: one for ranks -1 and 0, ``rank + 1`` for a polynomial."""
    return 1 if rank <= 0 else rank + 1


# the core's one list of residual statistics and counts, then the fit's own floats
_STATS_FIELDS = tuple(name for name, _kind, _card, _comment in _core.RESIDUAL_FIELDS)
_COUNT_FIELDS = tuple(
    name for name, kind, _card, _comment in _core.RESIDUAL_FIELDS if kind == "count"
)
_FLOAT_FIELDS = (
    *(name for name, kind, _card, _comment in _core.RESIDUAL_FIELDS if kind == "float"),
    *_core.FIT_FLOAT_NAMES,
)


@dataclass(frozen=True)
class BatchResult:
    """Results of :func:`fit_batch` for ``n`` pairs and ``r`` ranks.

    Attributes
    ----------
    ranks : tuple of int
        The ranks fitted, in order (axis 1 of every array).
    coeffs, perr : numpy.ndarray
        ``(n, r, 13)``: coefficients (highest power first) and their standard
        errors, NaN-padded after the ``rank + 1`` (or 1) used entries.
    cov : numpy.ndarray
        ``(n, r, 13, 13)`` parameter covariance, NaN-padded.
    cheb_coeffs : numpy.ndarray
        ``(n, r, 13)`` Chebyshev coefficients in ``t`` (lowest first).
    columns : dict of str to numpy.ndarray
        ``(n, r)`` statistics and counts: ``mean``, ``std``, ``min``, ``max``,
        ``rms``, ``frac_mean``, ``frac_std``, ``ssr``, ``center``,
        ``half_width``, ``condition`` (float, NaN for a failed pair) and
        ``n_used``, ``n_excluded``, ``n_nonfinite``, ``n_masked``, ``n_hot``,
        ``n_fractional``, ``n_zero_denominator`` (int64, -1 for a failed pair).
    errors : tuple
        Per pair ``None`` or the :class:`~iuvs.exceptions.IuvsError` that pair raised.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = np.stack([np.arange(1.0, 41.0).reshape(5, 8)] * 3)
    >>> res = iuvs.fit_batch(x, 2 * x + 1, ranks=[0, 1])
    >>> res.coeffs.shape, np.round(res.coeffs[0, 1, :2], 10).tolist()
    ((3, 2, 13), [2.0, 1.0])
    """

    ranks: tuple[int, ...]
    coeffs: npt.NDArray[np.float64]
    perr: npt.NDArray[np.float64]
    cov: npt.NDArray[np.float64]
    cheb_coeffs: npt.NDArray[np.float64]
    columns: dict[str, npt.NDArray[Any]]
    errors: tuple[IuvsError | None, ...]

    def __len__(self) -> int:
        """Return the number of pairs."""
        return int(self.coeffs.shape[0])

    def fits(self, index: int) -> list[Fit]:
        """Return the :class:`~iuvs.fitting.Fit` objects of one pair, one per rank.

        Parameters
        ----------
        index : int
            Pair index (negative values count from the end).

        Returns
        -------
        list of Fit
            The pair's fits in the order of :attr:`ranks`.

        Raises
        ------
        iuvs.exceptions.IuvsError
            The error of that pair, if it failed.

        Examples
        --------
        >>> import numpy as np, iuvs
        >>> x = np.arange(1.0, 101.0).reshape(2, 50)
        >>> res = iuvs.fit_batch(x, 2 * x, ranks=[0])
        >>> round(float(res.fits(1)[0].coeffs[0]), 12)
        2.0
        """
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"pair index {index} is out of range for {n} pairs")
        err = self.errors[index]
        if err is not None:
            raise err
        out: list[Fit] = []
        for j, rank in enumerate(self.ranks):
            p = _n_params(rank)
            col = {k: v[index, j] for k, v in self.columns.items()}
            values: dict[str, Any] = {
                k: int(col[k]) if k in _COUNT_FIELDS else float(col[k]) for k in _STATS_FIELDS
            }
            stats = ResidualStats(**values)
            out.append(
                Fit(
                    rank=rank,
                    coeffs=self.coeffs[index, j, :p].copy(),
                    cov=self.cov[index, j, :p, :p].copy(),
                    perr=self.perr[index, j, :p].copy(),
                    stats=stats,
                    center=float(col["center"]),
                    half_width=float(col["half_width"]),
                    cheb_coeffs=self.cheb_coeffs[index, j, : p if rank > 0 else 0].copy(),
                    ssr=float(col["ssr"]),
                    condition=float(col["condition"]),
                )
            )
        return out


def _masked_inputs(darks_in: Any, darks_out: Any, x_core: Any, mask: Any, n: int) -> Any:
    """``mask`` with the masked values of masked-array darks added (as ``fit_all`` does)."""
    stacks = [a for a in (darks_in, darks_out) if isinstance(a, np.ma.MaskedArray)]
    if isinstance(x_core, np.ndarray):
        # two stacks: one (n, ...) mask stack
        if not stacks or any(a.shape != x_core.shape for a in stacks):
            return mask
        out = np.zeros(x_core.shape, dtype=bool)
        for a in stacks:
            out |= np.ma.getmaskarray(a)
        if mask is None:
            return out
        given = mask if isinstance(mask, np.ndarray) else None
        if given is not None and given.dtype == np.bool_ and given.ndim in (out.ndim - 1, out.ndim):
            try:
                return out | given  # a shared mask broadcasts over the stack
            except ValueError:
                return mask  # the core reports the mismatch
        listed = list(mask) if given is None else list(given)
        if len(listed) != n:
            return mask
        return [_exclusion(darks_in[i], darks_out[i], m) for i, m in enumerate(listed)]
    # lists of frames: pair by pair
    ins, outs = list(darks_in), list(darks_out)
    if not any(isinstance(a, np.ma.MaskedArray) for a in ins + outs):
        return mask
    if mask is None:
        per_pair: list[Any] = [None] * n
    elif isinstance(mask, np.ndarray) and mask.ndim == np.ndim(ins[0]):
        per_pair = [mask] * n
    else:
        per_pair = list(mask)
        if len(per_pair) != n:
            return mask
    return [_exclusion(a, b, m) for a, b, m in zip(ins, outs, per_pair, strict=True)]


def _stack(darks: Any, name: str) -> tuple[np.ndarray[Any, Any], bool] | None:
    """``(native view, swapped)`` of a stack given as one array of frames, else None."""
    if isinstance(darks, np.ndarray) and darks.ndim >= 2:
        return _as_core_array(darks, name)
    return None


def _frames(darks: Any, name: str) -> list[Any]:
    if isinstance(darks, np.ndarray):
        if darks.ndim < 1:
            raise ShapeMismatchError(f"{name} must be a stack (n, ...) or a sequence of arrays")
        return list(darks)
    try:
        items = iter(darks)
    except TypeError:
        raise ShapeMismatchError(
            f"{name} must be a stack (n, ...) or a sequence of arrays, got {type(darks).__name__}"
        ) from None
    return [np.asarray(d) if not isinstance(d, np.ndarray) else d for d in items]


def fit_batch(
    darks_in: npt.ArrayLike | Sequence[npt.ArrayLike],
    darks_out: npt.ArrayLike | Sequence[npt.ArrayLike],
    ranks: Iterable[int] = range(-1, 5),
    *,
    mask: npt.ArrayLike | Sequence[npt.ArrayLike | None] | None = None,
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    clip_iter: int = 3,
    weights: npt.ArrayLike | Sequence[npt.ArrayLike | None] | None = None,
    n_threads: int | None = None,
    on_error: Literal["raise", "keep"] = "raise",
    options: FitOptions | None = None,
) -> BatchResult:
    """Fit every rank to every pair of two stacks of darks, in parallel.

    Parameters
    ----------
    darks_in, darks_out : array_like or sequence of array_like
        Two stacks ``(n, spatial, spectral)`` or two sequences of ``n``
        arrays (pairs may differ in shape from each other).  Any supported
        dtype, byte order or layout; nothing is converted or copied.
    ranks : iterable of int, optional
        Ranks to fit to every pair (-1 additive, 0 multiplicative, 1..12).
    mask : array_like of bool or sequence, optional
        One mask for every pair (shape of one frame), a stack of masks, or a
        sequence of per-pair masks (``None`` entries allowed).  True = excluded.
        The masked values of :class:`numpy.ma.MaskedArray` darks are excluded
        too.  Stacks (of darks and of masks) are handed to the core whole and
        split there, which keeps batches of thousands of pairs cheap.
    hot_threshold : float, optional
        Exclude pixels whose ``dark_in`` is above this value.
    hot_sigma : float, optional
        Per pair, exclude pixels above ``median + hot_sigma * MAD-std`` of that
        pair's ``dark_in`` (see :func:`iuvs.hot_pixels`).
    clip : float, optional
        Sigma-clip every pair and rank as :func:`iuvs.fit_all` does.
    clip_iter : int, optional
        Most clip-and-refit iterations.
    weights : array_like or sequence, optional
        Per-pixel weights ``1 / sigma`` (as ``numpy.polyfit``'s ``w``): a stack
        like the darks, or a sequence of per-pair arrays (``None`` entries
        allowed).  Not together with ``clip`` yet.
    n_threads : int, optional
        Threads to use (a pool of that size, built once); default: iuvs's pool
        (:func:`iuvs.set_threads`, ``RAYON_NUM_THREADS`` or the number of cores).
    on_error : {'raise', 'keep'}, optional
        ``'raise'`` raises the first failing pair's error (its index in the
        message); ``'keep'`` records errors in :attr:`BatchResult.errors` and
        leaves that pair's entries NaN / -1.
    options : FitOptions, optional
        ``mask`` .. ``weights`` as one validated bundle (:class:`iuvs.FitOptions`),
        instead of the individual keywords.

    Returns
    -------
    BatchResult
        Dense arrays for every pair and rank.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> x = [np.arange(1.0, 41.0), np.arange(1.0, 61.0).reshape(6, 10)]
    >>> y = [3 * x[0], 2 * x[1] + 1]
    >>> res = iuvs.fit_batch(x, y, ranks=[1], n_threads=2)
    >>> (np.round(res.coeffs[:, 0, :2], 9) + 0.0).tolist()
    [[3.0, 0.0], [2.0, 1.0]]
    """
    rank_list = _check_ranks(ranks)
    o = FitOptions.bundle(options, mask, hot_threshold, hot_sigma, clip, clip_iter, weights)
    mask, weights = o.mask, o.weights
    hot_threshold, hot_sigma, clip, clip_iter = o.hot_threshold, o.hot_sigma, o.clip, o.clip_iter
    if on_error not in ("raise", "keep"):
        raise InvalidParameterError(f"on_error must be 'raise' or 'keep', got {on_error!r}")
    if n_threads is not None:
        n_threads = check_positive_int("n_threads", n_threads)
    x_stack = _stack(darks_in, "darks_in")
    y_stack = _stack(darks_out, "darks_out")
    x_core: Any
    y_core: Any
    if x_stack is not None and y_stack is not None:
        # two stacks: handed over whole (one borrow each), split in the core
        (x_core, swap_x), (y_core, swap_y) = x_stack, y_stack
        n = len(x_core)
        if len(y_core) != n:
            raise ShapeMismatchError(f"darks_in holds {n} frames but darks_out holds {len(y_core)}")
        xs: Sequence[Any] = x_core
        sx: Sequence[bool] = [swap_x] * n
        sy: Sequence[bool] = [swap_y] * n
        frame_ndim = x_core.ndim - 1
    else:
        ins = _frames(darks_in, "darks_in")
        outs = _frames(darks_out, "darks_out")
        n = len(ins)
        if n != len(outs):
            raise ShapeMismatchError(f"darks_in holds {n} frames but darks_out holds {len(outs)}")
        if n == 0:
            raise exceptions.EmptyInputError("no pairs to fit (both stacks are empty)")
        frame_ndim = np.ndim(ins[0])
        xs, sx = zip(*(_as_core_array(a, f"darks_in[{i}]") for i, a in enumerate(ins)), strict=True)
        ys, sy = zip(
            *(_as_core_array(a, f"darks_out[{i}]") for i, a in enumerate(outs)), strict=True
        )
        x_core, y_core = list(xs), list(ys)
    if n == 0:
        raise exceptions.EmptyInputError("no pairs to fit (both stacks are empty)")
    mask = _masked_inputs(darks_in, darks_out, x_core, mask, n)
    masks: Any
    if mask is None:
        masks = None
    elif isinstance(mask, np.ndarray) and mask.ndim == frame_ndim:
        shared = _as_core_mask(mask)
        masks = [shared] * n
    elif isinstance(mask, np.ndarray) and mask.ndim == frame_ndim + 1:
        masks = _as_core_mask(mask)  # one mask per pair, as a stack
        if len(masks) != n:
            raise ShapeMismatchError(f"{n} pairs but {len(masks)} masks")
    else:
        per_pair = list(mask)  # type: ignore[arg-type]
        masks = [None if m is None else _as_core_mask(m) for m in per_pair]
    thr: float | list[float | None] | None
    if hot_sigma is not None:
        thr = [_hot_threshold(a, s, None, hot_sigma) for a, s in zip(xs, sx, strict=True)]
    else:
        thr = _check_threshold(hot_threshold)
    sigma, niter = _check_clip(clip, clip_iter)
    w_list: list[Any] | None = None
    w_swaps: list[bool] | None = None
    if weights is not None:
        per_pair = list(weights)  # type: ignore[arg-type]
        if len(per_pair) != n:
            raise ShapeMismatchError(f"{n} pairs but {len(per_pair)} weight arrays")
        w_list, w_swaps = [], []
        for i, w in enumerate(per_pair):
            if w is None:
                w_list.append(None)
                w_swaps.append(False)
            else:
                arr, sw = _as_core_array(w, f"weights[{i}]")
                w_list.append(arr)
                w_swaps.append(sw)
    raw = _core.fit_batch(
        x_core,
        list(sx),
        y_core,
        list(sy),
        rank_list,
        masks,
        thr,
        n_threads,
        sigma,
        niter,
        w_list,
        w_swaps,
    )
    errors: list[IuvsError | None] = []
    for i, e in enumerate(raw["errors"]):
        if e is None:
            errors.append(None)
            continue
        cls = getattr(exceptions, e[0])
        errors.append(cls(f"pair {i}: {e[1]}"))
    if on_error == "raise":
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
    columns = {k: raw[k] for k in _FLOAT_FIELDS + _COUNT_FIELDS}
    # as fit and fit_all: a fit with as many pixels as parameters has no covariance
    exact = [
        f"pair {i} ({model_name(rank)}) uses {p} pixels for {p} parameters"
        for j, rank in enumerate(rank_list)
        for p in (_n_params(rank),)
        for i in np.flatnonzero(columns["n_used"][:, j] == p)
    ]
    if exact:
        _warn_no_freedom(f"{len(exact)} of the batch's fits", exact, stacklevel=2)
    return BatchResult(
        ranks=tuple(rank_list),
        coeffs=raw["coeffs"],
        perr=raw["perr"],
        cov=raw["cov"],
        cheb_coeffs=raw["cheb_coeffs"],
        columns=columns,
        errors=tuple(errors),
    )
