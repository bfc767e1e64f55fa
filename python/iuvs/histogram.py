"""Histograms computed in the Rust core, with counts identical to :func:`numpy.histogram`.

Examples
--------
>>> import numpy as np, iuvs
>>> counts, edges = iuvs.histogram(np.array([0.0, 0.5, 1.0, 2.0]), bins=2, range=(0.0, 2.0))
>>> counts.tolist(), edges.tolist()
([2, 2], [0.0, 1.0, 2.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import InvalidParameterError
from iuvs.fitting import _as_core_array

__all__ = ["histogram"]


def histogram(
    values: npt.ArrayLike,
    bins: int = 100,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating[Any]]]:
    """Count values in equal-width bins, exactly as :func:`numpy.histogram` does.

    The array is read in place (any supported dtype, byte order or layout).
    NaN and values outside ``range`` are not counted; the last bin includes its
    right edge.

    Parameters
    ----------
    values : array_like
        Values of any shape (flattened).
    bins : int, optional
        Number of equal-width bins.
    range : tuple of float, optional
        ``(lo, hi)``.  Default: the minimum and maximum of the finite values
        (numpy raises on NaN there instead).

    Returns
    -------
    counts : numpy.ndarray of int64
        Count per bin.
    edges : numpy.ndarray
        ``bins + 1`` edges, as ``numpy.linspace(lo, hi, bins + 1)`` (float32 for
        float32 values, float64 otherwise, like numpy).

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> r = np.array([-1.0, 0.2, 0.4, np.nan, 3.0])
    >>> iuvs.histogram(r, bins=4, range=(-1.0, 1.0))[0].tolist()
    [1, 0, 2, 0]
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or int(bins) < 1:
        raise InvalidParameterError(f"bins must be a positive integer, got {bins!r}")
    arr, swapped = _as_core_array(values, "values")
    if range is None:
        finite = np.asarray(arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr)
        if swapped:
            finite = finite.byteswap()
        if finite.size == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = float(range[0]), float(range[1])
    counts, edges64 = _core.histogram(arr, swapped, int(bins), lo, hi)
    # numpy bins float32 data with float32 edges and everything else with float64 edges
    edges: npt.NDArray[np.floating[Any]] = edges64
    if arr.dtype == np.float32:
        edges = edges64.astype(np.float32)
    return counts, edges
