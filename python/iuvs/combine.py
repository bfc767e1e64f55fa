"""Combining a stack of frames into one: mean or median, optionally sigma-clipped.

The stack is read in place (any supported dtype, byte order or layout) and
combined along its first axis in the Rust core, a block of pixels at a time,
without a float64 copy of the stack.  Sigma clipping rejects the values that
:func:`astropy.stats.sigma_clip` with ``axis=0, cenfunc="median",
stdfunc="std"`` rejects, so ``method="mean"`` with ``clip`` is ccdproc's
``Combiner.sigma_clipping`` followed by ``average_combine``.

Examples
--------
>>> import numpy as np, iuvs
>>> stack = np.array([[[1.0, 2.0]], [[3.0, 2.0]], [[5.0, 200.0]]])
>>> iuvs.combine(stack, "median").data.tolist()
[[3.0, 2.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

import iuvs._core as _core
from iuvs.exceptions import (
    EmptyInputError,
    InsufficientDataError,
    InvalidParameterError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)
from iuvs.fitting import _as_core_array
from iuvs.options import check_positive, check_positive_int

__all__ = ["Combined", "combine"]

_METHODS = ("mean", "median")


@dataclass(frozen=True)
class Combined:
    """A stack combined along its first axis.

    Attributes
    ----------
    data : numpy.ndarray of float64
        The combined frame, shape (spatial, spectral): the mean or the median
        of each pixel's kept values; NaN where no value was kept.
    n_used : numpy.ndarray of int32
        Number of values kept per pixel (not masked, finite and, with
        clipping, not rejected).
    scatter : numpy.ndarray of float64
        Population standard deviation (``ddof=0``) of each pixel's kept
        values; NaN where no value was kept.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> c = iuvs.combine(np.array([[[1.0]], [[2.0]], [[6.0]]]), "mean")
    >>> c.data.tolist(), c.n_used.tolist(), c.scatter.round(4).tolist()
    ([[3.0]], [[3]], [[2.1602]])
    """

    data: npt.NDArray[np.float64]
    n_used: npt.NDArray[np.int32]
    scatter: npt.NDArray[np.float64]


def _frames(stack: Any) -> tuple[Any, list[bool], tuple[int, int, int]]:
    """Return ``(array or list of arrays, swap flags, stack shape)`` without copying pixels."""
    if isinstance(stack, (list, tuple)):
        if not stack:
            raise EmptyInputError("the stack is empty (no frames); give at least one frame")
        views = [_as_core_array(f, f"stack[{i}]") for i, f in enumerate(stack)]
        first = views[0][0].shape
        if len(first) != 2:
            raise ShapeMismatchError(
                f"frames must be 2-D (spatial, spectral); stack[0] has shape {first}"
            )
        for i, (v, _) in enumerate(views):
            if v.shape != first:
                raise ShapeMismatchError(
                    f"all frames must have one shape: stack[{i}] has shape {v.shape} "
                    f"but stack[0] has shape {first}"
                )
        shape = (len(views), first[0], first[1])
        return [v for v, _ in views], [s for _, s in views], shape
    arr, swapped = _as_core_array(stack, "stack")
    if arr.ndim != 3:
        raise ShapeMismatchError(
            f"stack must be 3-D (n, spatial, spectral) or a list of 2-D frames; "
            f"got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise EmptyInputError(f"the stack is empty (shape {arr.shape}); give at least one frame")
    return arr, [swapped] * arr.shape[0], (arr.shape[0], arr.shape[1], arr.shape[2])


def _masks_of(stack: Any) -> Any:
    """Return the masks of masked-array input (one stack, or one per frame), or None."""
    if isinstance(stack, np.ma.MaskedArray):
        return None if stack.mask is np.ma.nomask else np.ma.getmaskarray(stack)
    if isinstance(stack, (list, tuple)) and any(
        isinstance(f, np.ma.MaskedArray) and f.mask is not np.ma.nomask for f in stack
    ):
        return np.stack([np.ma.getmaskarray(f) for f in stack])
    return None


def _mask(stack: Any, mask: Any, shape: tuple[int, int, int]) -> Any:
    """Return the boolean mask to pass (masked-array input's own masks OR-ed in), or None."""
    if mask is not None:
        m = mask if isinstance(mask, np.ndarray) else np.asarray(mask)
        if m.dtype != np.bool_:
            raise UnsupportedDtypeError(
                f"mask must be a boolean array (True = leave out), got dtype {m.dtype}"
            )
        if m.shape != shape:
            raise ShapeMismatchError(f"mask has shape {m.shape} but the stack has shape {shape}")
        mask = m
    own = _masks_of(stack)
    if own is None:
        return mask
    return own if mask is None else own | mask


def combine(
    stack: npt.ArrayLike | Sequence[npt.ArrayLike],
    method: Literal["median", "mean"] = "median",
    *,
    clip: float | None = None,
    clip_iter: int = 5,
    mask: npt.ArrayLike | None = None,
) -> Combined:
    """Combine a stack of frames along its first axis (mean or median, optionally clipped).

    Parameters
    ----------
    stack : array_like or sequence of array_like
        A ``(n, spatial, spectral)`` array or a sequence of ``n`` equally
        shaped 2-D frames, of any supported dtype (int16, uint16, int32,
        uint32, int64, float32, float64), byte order or memory layout; read
        in place.  NaN and infinite values are left out (and not counted in
        ``n_used``); the masked values of :class:`numpy.ma.MaskedArray`
        input (a stack or frames) too.
    method : {"median", "mean"}, optional
        How each pixel's kept values are combined.  Without clipping,
        ``"median"`` equals ``numpy.median(stack, axis=0)`` exactly (the two
        middle values of an even count averaged as numpy does, in float32
        for float32 input) and ``"mean"`` equals ``numpy.mean(stack, axis=0,
        dtype=numpy.float64)``.
    clip : float, optional
        Sigma-clip each pixel's values first: reject what
        ``astropy.stats.sigma_clip(stack, sigma=clip, maxiters=clip_iter,
        axis=0, cenfunc="median", stdfunc="std")`` rejects (values outside
        ``median +- clip * std`` of the values still kept, ``std`` with
        ``ddof=0``, iterated until nothing changes).  ``method="mean"`` then
        gives ccdproc's ``sigma_clipping`` + ``average_combine``.
    clip_iter : int, optional
        Most clipping iterations.
    mask : array_like of bool, optional
        The stack's shape; True leaves a value out.

    Returns
    -------
    Combined
        ``data`` (float64), ``n_used`` (int32) and ``scatter``, the
        population standard deviation (``ddof=0``) of the kept values, each
        of one frame's shape.  A pixel with no kept value has ``data`` and
        ``scatter`` NaN and ``n_used`` 0.

    Raises
    ------
    iuvs.exceptions.EmptyInputError
        An empty stack, or frames without pixels.
    iuvs.exceptions.ShapeMismatchError
        Frames of different shapes, a stack that is not 3-D, a mask not of
        the stack's shape.
    iuvs.exceptions.UnsupportedDtypeError
        A bool, complex or other unsupported dtype, or a mask that is not
        boolean.
    iuvs.exceptions.InvalidParameterError
        An unknown method, ``clip`` not finite and positive, ``clip_iter``
        below 1.
    iuvs.exceptions.InsufficientDataError
        Every value of the stack is masked or non-finite.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> rng = np.random.default_rng(0)
    >>> stack = rng.normal(100.0, 1.0, (20, 2, 3))
    >>> stack[4, 1, 2] = 1e4  # a cosmic ray
    >>> c = iuvs.combine(stack, "mean", clip=3.0)
    >>> int(c.n_used[1, 2]), bool(abs(c.data[1, 2] - 100) < 1)
    (19, True)
    >>> bool(np.array_equal(iuvs.combine(stack).data, np.median(stack, axis=0)))
    True
    """
    if method not in _METHODS:
        raise InvalidParameterError(f'method must be "mean" or "median", got {method!r}')
    k = None if clip is None else check_positive("clip", clip)
    niter = check_positive_int("clip_iter", clip_iter)
    arrays, swapped, shape = _frames(stack)
    if shape[1] * shape[2] == 0:
        raise EmptyInputError(f"the frames have no pixels (stack shape {shape})")
    m = _mask(stack, mask, shape)
    out = _core.combine(arrays, swapped, method, k, niter, m)
    total = shape[0] * shape[1] * shape[2]
    if out["n_masked"] + out["n_nonfinite"] == total:
        raise InsufficientDataError(
            f"every one of the {total} values of the stack of shape {shape} is masked "
            f"({out['n_masked']}) or non-finite ({out['n_nonfinite']}); nothing to combine"
        )
    return Combined(out["data"], out["n_used"], out["scatter"])
