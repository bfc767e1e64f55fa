"""Type stub of the native module :mod:`iuvs._core` (written by hand; see src/python)."""

from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

#: The residual statistics and counts of a fit, named and ordered once:
#: (name, "count" | "float", FITS keyword or None, card comment or None).
RESIDUAL_FIELDS: tuple[tuple[str, str, str | None, str | None], ...]
#: Float columns of a fit_batch result beyond the residual statistics.
FIT_FLOAT_NAMES: tuple[str, ...]

def set_threads(n: int | None = None) -> None:
    """Set the size of iuvs's thread pool (None: RAYON_NUM_THREADS, else one per CPU)."""

def get_threads() -> int:
    """Threads of iuvs's thread pool, the calling thread among them."""

def cpu_features() -> dict[str, bool]:
    """Whether the processor has each x86-64 feature the kernels are built for.

    Keys, in order: avx512f, avx512vl, avx512dq, avx2, fma, avx (all False off
    x86-64), detected at run time as the kernels' dispatch detects them.
    """

def kernel_target() -> str:
    """Name the build of the kernels the dispatch selects: avx512, avx2+fma, avx or baseline."""

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

def median_filter(
    image: npt.NDArray[Any], swapped: bool, rows: int, cols: int, mode: str, cval: float
) -> npt.NDArray[Any]:
    """``scipy.ndimage.median_filter`` of a frame, or of each frame of a stack (same dtype)."""

def combine(
    stack: npt.NDArray[Any] | list[npt.NDArray[Any]],
    swapped: list[bool],
    method: str,
    clip: float | None = None,
    clip_iter: int = 5,
    mask: npt.NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """Combine a stack (split along axis 0 in the core) or a list of 2-D frames.

    ``swapped`` holds one byte-order flag per frame; ``method`` is ``"mean"`` or
    ``"median"``.  Returns ``data`` (float64), ``n_used`` (int32), ``scatter``
    (float64, ddof 0) of one frame's shape, and the counts ``n_masked`` and
    ``n_nonfinite`` of values left out.
    """

def read_fits_file(path: str) -> tuple[npt.NDArray[np.uint8], bool]:
    """Read a file, inflated when it starts with the gzip magic: ``(bytes, was_gzip)``."""

def gunzip(data: bytes) -> npt.NDArray[np.uint8]:
    """Inflate every gzip member of ``data`` (CRC32 and ISIZE checked), without the GIL."""

def scan_fits(
    buf: npt.NDArray[np.uint8], checksums: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Describe every HDU of an inflated FITS file, headers checked: ``(hdus, trailing)``."""
