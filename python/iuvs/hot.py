"""Hot pixels from dark frames.

A pixel is hot when its DN is above a fixed threshold, or above
``median + sigma * std`` where ``std = 1.482602218505602 * MAD`` is estimated
iteratively without the pixels already flagged (until the set no longer changes
or ``max_iter``).  The constant is ``1 / Phi^-1(3/4)``, exactly the one of
:func:`astropy.stats.mad_std` (often rounded to 1.4826).  NaN and infinite
pixels are never hot.  The medians are found in Rust by selection.

Examples
--------
>>> import numpy as np, iuvs
>>> dark = np.full((10, 10), 100.0) + np.arange(100).reshape(10, 10) % 5
>>> dark[3, 4] = 4000.0
>>> hp = iuvs.hot_pixels(dark, sigma=5.0)
>>> hp.n_hot, bool(hp.mask[3, 4])
(1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import InvalidParameterError, ShapeMismatchError
from iuvs.fitting import _as_core_array
from iuvs.options import check_number, check_positive, check_positive_int

__all__ = ["HotPixels", "hot_pixels", "hot_pixels_stack"]


@dataclass(frozen=True)
class HotPixels:
    """Hot pixels of a dark frame (or of a stack of darks).

    Attributes
    ----------
    mask : numpy.ndarray of bool
        True where a pixel is hot (the shape of one frame).
    threshold : float or numpy.ndarray
        The DN threshold used (one per frame for a stack).
    median, std : float or numpy.ndarray
        The background median and MAD-based standard deviation of the last
        iteration (NaN for a fixed threshold).
    sigma : float or None
        The sigma used, or None for a fixed threshold.
    n_iter : int or numpy.ndarray
        Iterations run (0 for a fixed threshold).
    n_hot : int
        Number of hot pixels in :attr:`mask`.
    counts : numpy.ndarray or None
        For a stack, in how many frames each pixel was hot.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> dark = np.full((4, 5), 100.0)
    >>> dark[1, 2] = 4000.0
    >>> hot = iuvs.hot_pixels(dark, threshold=2500)
    >>> int(hot.mask.sum()), bool(hot.mask[1, 2])
    (1, True)
    """

    mask: npt.NDArray[np.bool_]
    threshold: float | npt.NDArray[np.float64]
    median: float | npt.NDArray[np.float64]
    std: float | npt.NDArray[np.float64]
    sigma: float | None
    n_iter: int | npt.NDArray[np.int64]
    n_hot: int
    counts: npt.NDArray[np.int64] | None = None


def _sigma_estimate(dark: Any, sigma: float, max_iter: int) -> dict[str, Any]:
    arr, swapped = _as_core_array(dark, "dark")
    return _core.hot_sigma_threshold(arr, swapped, sigma, max_iter)


def hot_pixels(
    dark: npt.ArrayLike,
    *,
    threshold: float | None = None,
    sigma: float | None = None,
    max_iter: int = 10,
) -> HotPixels:
    """Find the hot pixels of one dark frame.

    Parameters
    ----------
    dark : array_like
        The dark frame (any supported dtype, byte order or layout; NaN and inf
        are never hot and do not enter the estimate).
    threshold : float, optional
        Fixed DN threshold: pixels above it are hot.
    sigma : float, optional
        Pixels above ``median + sigma * 1.482602218505602 * MAD`` are hot
        (``1 / Phi^-1(3/4)``, the constant of :func:`astropy.stats.mad_std`),
        estimated iteratively over the finite pixels.  Default 5 when
        ``threshold`` is not given.
    max_iter : int, optional
        Most iterations of the estimate.

    Returns
    -------
    HotPixels
        The mask, the threshold used and the counts.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Both ``threshold`` and ``sigma`` given, or a non-finite or
        non-positive value.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> iuvs.hot_pixels(np.array([[10, 20], [30, 2600]]), threshold=2500).mask.tolist()
    [[False, False], [False, True]]
    """
    if threshold is not None and sigma is not None:
        raise InvalidParameterError("give either threshold= or sigma=, not both")
    max_iter = check_positive_int("max_iter", max_iter)
    arr, swapped = _as_core_array(dark, "dark")
    if threshold is not None:
        thr = check_number("threshold", threshold)
        if not np.isfinite(thr):
            raise InvalidParameterError(f"threshold must be finite, got {threshold!r}")
        mask = _core.mask_above(arr, swapped, thr)
        return HotPixels(mask, thr, float("nan"), float("nan"), None, 0, int(mask.sum()))
    sig = check_positive("sigma", 5.0 if sigma is None else sigma)
    est = _core.hot_sigma_threshold(arr, swapped, sig, max_iter)
    mask = _core.mask_above(arr, swapped, est["threshold"])
    return HotPixels(
        mask,
        float(est["threshold"]),
        float(est["median"]),
        float(est["std"]),
        sig,
        int(est["n_iter"]),
        int(mask.sum()),
    )


def hot_pixels_stack(
    darks: npt.ArrayLike, *, sigma: float = 5.0, min_frames: int = 2, max_iter: int = 10
) -> HotPixels:
    """Find pixels hot in at least ``min_frames`` frames of a stack of darks.

    Parameters
    ----------
    darks : array_like
        Stack ``(n, spatial, spectral)`` of darks.
    sigma : float, optional
        Per-frame sigma of :func:`hot_pixels`.
    min_frames : int, optional
        A pixel must be hot in at least this many frames.
    max_iter : int, optional
        Most iterations of each frame's estimate.

    Returns
    -------
    HotPixels
        The combined mask, per-frame thresholds, medians, stds and iteration
        counts, and ``counts`` (frames in which each pixel was hot).

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> stack = np.full((3, 4, 4), 100.0) + np.arange(16).reshape(4, 4) % 3
    >>> stack[0, 1, 1] = stack[1, 1, 1] = 5000.0
    >>> stack[2, 0, 0] = 5000.0
    >>> hp = iuvs.hot_pixels_stack(stack, sigma=5.0, min_frames=2)
    >>> hp.mask.sum(), hp.counts[1, 1], hp.counts[0, 0]
    (np.int64(1), np.int64(2), np.int64(1))
    """
    stack = np.asarray(darks) if not isinstance(darks, np.ndarray) else darks
    if stack.ndim < 2:
        raise ShapeMismatchError(
            f"darks must be a stack (n, ...) of frames, got shape {stack.shape}"
        )
    n = stack.shape[0]
    min_frames = check_positive_int("min_frames", min_frames)
    if min_frames > n:
        raise InvalidParameterError(f"min_frames={min_frames} but the stack has only {n} frames")
    counts = np.zeros(stack.shape[1:], dtype=np.int64)
    thresholds = np.empty(n)
    medians = np.empty(n)
    stds = np.empty(n)
    iters = np.empty(n, dtype=np.int64)
    for i in range(n):
        hp = hot_pixels(stack[i], sigma=sigma, max_iter=max_iter)
        counts += hp.mask
        thresholds[i], medians[i], stds[i], iters[i] = hp.threshold, hp.median, hp.std, hp.n_iter
    mask = counts >= min_frames
    return HotPixels(
        mask, thresholds, medians, stds, float(sigma), iters, int(mask.sum()), counts=counts
    )
