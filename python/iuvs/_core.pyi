"""Type stub of the native module :mod:`iuvs._core` (written by hand; see src/python)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

def fit_all(
    dark_in: npt.NDArray[Any],
    swap_in: bool,
    dark_out: npt.NDArray[Any],
    swap_out: bool,
    ranks: list[int],
    mask: npt.NDArray[np.bool_] | None = None,
    hot_threshold: float | None = None,
    clip: float | None = None,
    clip_iter: int = 3,
    weights: npt.NDArray[Any] | None = None,
    swap_w: bool = False,
    hist_bins: int | None = None,
    hist_range: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """Fit every rank; one dict of coefficients, covariance and statistics per rank.

    With ``hist_bins`` (not with ``clip`` or ``weights``), each dict also holds
    ``"histogram"``: ``(counts, edges)`` of that model's residuals over the used
    pixels, over ``hist_range`` or the residuals' own ``(min, max)``.
    """

def fit_batch(
    darks_in: list[npt.NDArray[Any]] | npt.NDArray[Any],
    swaps_in: list[bool],
    darks_out: list[npt.NDArray[Any]] | npt.NDArray[Any],
    swaps_out: list[bool],
    ranks: list[int],
    masks: list[npt.NDArray[np.bool_] | None] | npt.NDArray[np.bool_] | None = None,
    hot_threshold: float | list[float | None] | None = None,
    n_threads: int | None = None,
    clip: float | None = None,
    clip_iter: int = 3,
    weights: list[npt.NDArray[Any] | None] | None = None,
    swaps_w: list[bool] | None = None,
) -> dict[str, Any]:
    """Fit every pair of two lists of frames or two stacks (split along axis 0 in the core).

    Dense NaN-padded arrays and per-pair errors.
    """

def histogram(
    values: npt.NDArray[Any],
    swapped: bool,
    bins: int,
    first: float,
    last: float,
    edges: list[float],
    edges_f32: bool,
    keep: tuple[float, float],
    sub: tuple[bool, float],
    div: tuple[bool, float],
) -> npt.NDArray[np.int64]:
    """Count values like ``numpy.histogram(values, bins, (first, last))``.

    ``edges`` are numpy's edges (float32 values when ``edges_f32``); ``keep`` the
    range test's bounds in its precision; ``sub`` and ``div`` whether ``a - first``
    and ``/ denom * bins`` are float32, with ``first`` and ``denom`` in that precision.
    """

def hot_sigma_threshold(
    dark: npt.NDArray[Any], swapped: bool, sigma: float, max_iter: int
) -> dict[str, Any]:
    """Iterate the ``median + sigma * MAD-std`` hot-pixel threshold of one frame."""

def mask_above(dark: npt.NDArray[Any], swapped: bool, threshold: float) -> npt.NDArray[np.bool_]:
    """Return the boolean mask of the pixels above ``threshold``."""

def read_fits_file(path: str) -> tuple[npt.NDArray[np.uint8], bool]:
    """Read a file, inflated when it starts with the gzip magic: ``(bytes, was_gzip)``."""

def gunzip(data: bytes) -> npt.NDArray[np.uint8]:
    """Inflate every gzip member of ``data`` (CRC32 and ISIZE checked), without the GIL."""

def scan_fits(
    buf: npt.NDArray[np.uint8], checksums: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Describe every HDU of an inflated FITS file, headers checked: ``(hdus, trailing)``."""
