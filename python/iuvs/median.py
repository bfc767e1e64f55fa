"""A 2-D median filter equal to :func:`scipy.ndimage.median_filter`, fast.

The filter runs in the Rust core with a sliding histogram of value ranks
(Huang's method), so its cost grows with the window's width, not its area;
frames of a stack, and row bands of large frames, are filtered in parallel
without the GIL.  The result equals scipy's bit for bit, dtype included.

Examples
--------
>>> import numpy as np, iuvs
>>> frame = np.array([[1, 9, 2], [8, 3, 7], [4, 6, 5]], dtype=np.int16)
>>> iuvs.median_filter(frame, 3, mode="nearest")
array([[3, 3, 3],
       [4, 5, 5],
       [4, 5, 5]], dtype=int16)
"""

from __future__ import annotations

import operator
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import InvalidParameterError
from iuvs.fitting import _as_core_array

__all__ = ["median_filter"]

_MODES = ("nearest", "reflect", "constant")


def _window(size: Any) -> tuple[int, int]:
    """Return ``(rows, cols)`` of the window from an int or a pair of ints."""
    items = [size] if np.ndim(size) == 0 else list(np.asarray(size, dtype=object).ravel())
    if len(items) not in (1, 2) or np.ndim(size) > 1:
        raise InvalidParameterError(
            f"size must be an int or a (rows, cols) pair, got {size!r}; "
            "a stack (n, rows, cols) is filtered frame by frame with the 2-D window"
        )
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise InvalidParameterError(f"size must hold integers >= 1, got {size!r}")
        try:
            value = operator.index(item)
        except TypeError:
            raise InvalidParameterError(f"size must hold integers >= 1, got {size!r}") from None
        if value < 1:
            raise InvalidParameterError(f"size must hold integers >= 1, got {size!r}")
        out.append(value)
    return (out[0], out[0]) if len(out) == 1 else (out[0], out[1])


def median_filter(
    image: npt.ArrayLike,
    size: int | tuple[int, int],
    mode: Literal["nearest", "reflect", "constant"] = "reflect",
    cval: float = 0.0,
) -> npt.NDArray[Any]:
    """Median-filter a frame, or each frame of a stack, as scipy does.

    Equals ``scipy.ndimage.median_filter(image, size=size, mode=mode,
    cval=cval)`` exactly for a 2-D ``image``, and that filter applied to
    each frame ``image[k]`` for a 3-D stack (the window is 2-D; frames are
    filtered in parallel).  As in scipy, the value returned is the element
    of rank ``rows * cols // 2`` (0-based) of the sorted window, so for an
    even window the upper of the two middle values, and a window of ``k``
    pixels along an axis covers offsets ``-(k // 2)`` to ``k - 1 - k // 2``.
    Values are compared as float64 (so ``int64`` beyond 2**53 rounds, as in
    scipy), and ``cval`` is first cast to the image's dtype as scipy's C code
    does on x86-64 (an integer image with an out-of-range, infinite or NaN
    ``cval`` gets that cast's result, for example 0 for ``int16``; use a
    float image for a "never on the edge" infinite ``cval``).

    NaN: a window holding a NaN (or holding both -0.0 and 0.0 with a zero
    median) gets scipy's result by scipy's own selection algorithm run over
    the window in scipy's order (slow for windows full of NaN, exact).  One
    known difference: with ``mode="reflect"`` and a window reaching
    ``4 * n`` or more beyond an edge of an axis of length ``n >= 2`` scipy
    reads outside the array (a scipy bug); here the reflection continues.

    Parameters
    ----------
    image : array_like
        A frame ``(rows, cols)`` or a stack ``(n, rows, cols)`` of dtype
        int16, uint16, int32, uint32, int64, float32 or float64, any byte
        order and memory layout (read in place, not copied).
    size : int or (int, int)
        Window rows and columns (one int: a square window), each >= 1.
    mode : {"nearest", "reflect", "constant"}, optional
        How the window is extended beyond the edges (scipy's meanings).
    cval : float, optional
        The value beyond the edges when ``mode="constant"``.

    Returns
    -------
    numpy.ndarray
        The filtered image, same shape, the image's dtype in native byte order.

    Raises
    ------
    iuvs.exceptions.UnsupportedDtypeError
        For a dtype other than those above (bool, complex, object, ...).
    iuvs.exceptions.InvalidParameterError
        For an image that is not 2-D or 3-D, a bad ``size``, an unknown ``mode``
        or a ``cval`` that is not a real number.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> frame = np.arange(20.0).reshape(4, 5) ** 2
    >>> iuvs.median_filter(frame, (3, 3), mode="constant", cval=np.inf)[1].tolist()
    [100.0, 36.0, 49.0, 64.0, 169.0]
    >>> from scipy import ndimage
    >>> bool((iuvs.median_filter(frame, 3) == ndimage.median_filter(frame, 3)).all())
    True
    """
    if mode not in _MODES:
        raise InvalidParameterError(
            f"mode {mode!r} is not supported; use one of {', '.join(map(repr, _MODES))}"
        )
    rows, cols = _window(size)
    try:
        value = float(cval)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"cval must be a real number, got {cval!r}") from None
    arr, swapped = _as_core_array(image, "image")
    if arr.ndim not in (2, 3):
        raise InvalidParameterError(
            f"image must be a frame (rows, cols) or a stack (n, rows, cols), "
            f"got shape {arr.shape} ({arr.ndim}-D)"
        )
    out: npt.NDArray[Any] = _core.median_filter(arr, swapped, rows, cols, mode, value)
    return out
