"""Histograms computed in the Rust core, with counts identical to :func:`numpy.histogram`.

Examples
--------
>>> import numpy as np, iuvs
>>> counts, edges = iuvs.histogram(np.array([0.0, 0.5, 1.0, 2.0]), bins=2, range=(0.0, 2.0))
>>> counts.tolist(), edges.tolist()
([2, 2], [0.0, 1.0, 2.0])
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import InvalidParameterError
from iuvs.fitting import _as_core_array

__all__ = ["histogram"]


# numpy's ``_unsigned_subtract``: the width of an integer range is taken unsigned
_UNSIGNED: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.int8): np.dtype(np.uint8),
    np.dtype(np.int16): np.dtype(np.uint16),
    np.dtype(np.int32): np.dtype(np.uint32),
    np.dtype(np.int64): np.dtype(np.uint64),
}

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)


def _in(dtype: np.dtype[Any], value: Any) -> float:
    """``value`` as numpy takes it in an operation of type ``dtype`` with an array.

    A numpy scalar is cast; a Python number is rounded to a float ``dtype`` and
    compared exactly with integers (numpy compares an integer array with any
    Python integer exactly, even one outside the array's type).
    """
    if isinstance(value, np.generic):
        return float(np.asarray(value).astype(dtype))
    return float(dtype.type(value)) if dtype.kind == "f" else float(value)


def _float_kind(dtype: np.dtype[Any]) -> bool:
    """Whether ``dtype`` is float32 (True), else float64 (False); raises for any other."""
    if dtype == _F32:
        return True
    if dtype == _F64:
        return False
    raise InvalidParameterError(f"histograms in {dtype} are not supported")


@functools.lru_cache(maxsize=256)
def _numpy_rule(
    dtype: np.dtype[Any], bins: int, first: Any, last: Any, _types: tuple[type, type]
) -> tuple[Any, Any, npt.NDArray[np.floating[Any]], tuple[Any, ...]]:
    """Derive what ``numpy.histogram`` does with data of ``dtype``, ``bins`` and ``(first, last)``.

    Follows numpy's uniform-bin branch and its type promotion (NEP 50: a Python
    number adapts to the array, a numpy scalar keeps its type): the widened range,
    the edges (``numpy.linspace`` in numpy's ``bin_type``), the bounds of the range
    test in the precision of the comparison, and the precision and values of the
    guess ``(a - first) / (last - first) * bins``.  Returns the widened range, the
    (read-only) edges and the rest of ``_core.histogram``'s arguments: the edges as a
    list, whether they are float32, the range test's bounds, and the precision flag
    and value of ``first`` and of the width.  ``_types`` keeps ``1.0`` and
    ``np.float32(1.0)`` apart in the cache.
    """
    proto = np.empty(0, dtype=dtype)
    if first == last:
        first = first - 0.5
        last = last + 0.5
    bin_type = np.result_type(first, last, proto)
    if np.issubdtype(bin_type, np.integer):
        bin_type = np.result_type(bin_type, float)
    # linspace works in the type of its ends (float32 for numpy.float32 ends, even
    # when the edges are then float64): the edges have the rounding of the coarser
    edges_f32 = _float_kind(bin_type) or np.result_type(first, last, 1.0) == _F32
    # a float32 width beyond float32's largest value overflows here: the core
    # refuses the non-finite edges or width with a message saying so
    with np.errstate(over="ignore", invalid="ignore"):
        edges = np.linspace(first, last, bins + 1, endpoint=True, dtype=bin_type)
    edges.flags.writeable = False
    keep = (_in(np.result_type(proto, first), first), _in(np.result_type(proto, last), last))
    sub_type = np.result_type(np.empty(0, bin_type), first)
    width_type = np.result_type(last, first)
    if width_type in _UNSIGNED:
        # modular (wrapping) subtraction of 0-d arrays, numpy's unsafe cast to unsigned
        u = _UNSIGNED[width_type]
        denom = np.asarray(last, dtype=width_type).astype(u) - np.asarray(
            first, dtype=width_type
        ).astype(u)
    else:
        with np.errstate(over="ignore"):
            denom = np.subtract(last, first, dtype=width_type)
    div_type = np.result_type(np.empty(0, sub_type), denom)
    sub = (_float_kind(sub_type), _in(sub_type, first))
    div = (_float_kind(div_type), float(np.asarray(denom).astype(div_type)))
    return first, last, edges, (edges.tolist(), edges_f32, keep, sub, div)


def _finite_extremes(vals: npt.NDArray[Any]) -> tuple[Any, Any]:
    """Smallest and largest finite value of ``vals``, or ``(None, None)`` if there is none.

    Without NaN or inf (the common case) these are just ``min()`` and ``max()``:
    two reductions, no copy; only then are the finite values selected.
    """
    if vals.size == 0:
        return None, None
    lo, hi = vals.min(), vals.max()
    if vals.dtype.kind != "f" or (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:
        return None, None
    return finite.min(), finite.max()


def histogram(
    values: npt.ArrayLike,
    bins: int = 100,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating[Any]]]:
    """Count values in equal-width bins, exactly as :func:`numpy.histogram` does.

    The array is read in place (any supported dtype, byte order or layout).
    NaN and values outside ``range`` are not counted; the last bin includes its
    right edge.  Like numpy, the precision of the binning follows the types of
    the data *and* of the range's numbers (NEP 50): float32 data are binned in
    float32 with a range of Python floats or ``numpy.float32`` numbers (or no
    range), and in float64 with ``numpy.float64`` numbers (for example from
    :func:`numpy.percentile`); the counts and edges are numpy's in every case.

    Parameters
    ----------
    values : array_like
        Values of any shape (flattened).
    bins : int, optional
        Number of equal-width bins.
    range : tuple of float, optional
        ``(lo, hi)``: Python or numpy numbers.  Default: the minimum and
        maximum of the finite values, as numpy scalars of the data's type
        (numpy takes ``(a.min(), a.max())`` and raises on NaN there instead).

    Returns
    -------
    counts : numpy.ndarray of int64
        Count per bin.
    edges : numpy.ndarray
        The ``bins + 1`` edges numpy returns (``numpy.linspace`` in numpy's
        bin type: float32 for float32 values with a float32 or Python range,
        float64 otherwise).

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> r = np.array([-1.0, 0.2, 0.4, np.nan, 3.0])
    >>> iuvs.histogram(r, bins=4, range=(-1.0, 1.0))[0].tolist()
    [1, 0, 2, 0]
    >>> f = np.float32([0.1, 0.2, 0.3])
    >>> iuvs.histogram(f, bins=2)[1].dtype, iuvs.histogram(f, 2, (np.float64(0.1), 0.3))[1].dtype
    (dtype('float32'), dtype('float64'))
    """
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or int(bins) < 1:
        raise InvalidParameterError(f"bins must be a positive integer, got {bins!r}")
    arr, swapped = _as_core_array(values, "values")
    native = arr.dtype.newbyteorder("=")
    lo: Any
    hi: Any
    if range is None:
        # numpy's (a.min(), a.max()): scalars of the data's type, here of the finite values
        # (a view in the data's own byte order: the values, not their bytes)
        vals = arr.view(arr.dtype.newbyteorder()) if swapped else arr
        lo, hi = _finite_extremes(vals)
        if lo is None:
            lo, hi = 0, 1
        else:
            lo, hi = native.type(lo), native.type(hi)
    else:
        lo, hi = range
        for v in (lo, hi):
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise InvalidParameterError(f"range must be two real numbers, got {range!r}")
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise InvalidParameterError(f"supplied range of [{lo}, {hi}] is not finite")
        if lo > hi:
            raise InvalidParameterError("max must be larger than min in range parameter")
    first, last, edges, rule = _numpy_rule(native, int(bins), lo, hi, (type(lo), type(hi)))
    # the rule: numpy's edges as a list, then the precisions of its steps (see _core.pyi)
    counts = _core.histogram(arr, swapped, int(bins), float(first), float(last), *rule)
    return counts, edges.copy()
