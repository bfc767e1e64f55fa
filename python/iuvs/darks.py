"""Dark-corrected light frames: the pipeline's dark, nearest darks and scaled darks.

:func:`pipeline_dark` reproduces the dark the MAVEN IUVS pipeline subtracted
from each light integration of a Level 1B file (``background_dark``), from
``detector_dark`` and the ephemeris times alone.  :func:`subtract` corrects the
light frames (``detector_raw``) with a dark chosen by ``method``:

``'pipeline'``
    The pipeline's dark (:func:`pipeline_dark`).
``'nearest'``
    One recorded dark per frame, the one nearest in time (no interpolation).
``'scaled'``
    The pipeline's dark, scaled onto each light frame by a fit inside the
    frame's *calm window* (below), with the core's models (:func:`iuvs.fit`).
``'superdark'``
    A 2-D dark given by the user, scaled onto each frame in the same way.
``'model'``
    The dark a :class:`DarkModel` predicts at each light frame's detector
    temperature (no darks of the file needed, no scaling fit).

Superdarks of a whole archive and the model of the dark against temperature
live in :mod:`iuvs.superdark` and are re-exported here: :func:`superdark`,
:class:`DarkModel`, :func:`read_superdarks`, :func:`write_superdarks`,
:func:`dark_group`.

The calm window of a light frame: the light in DN/s is median-filtered with a
box of ``ceil(spatial / 5) x ceil(spectral / 10)`` bins whose outside counts as
very bright (so the window never sits on an edge); the window is that box
centred on the filtered frame's minimum, clipped to the frame.  It is computed
from the light alone, so every method is judged on the same pixels.  The fit
of ``light = model(dark)`` (both in DN/s, ``DN / scaling_factor + 0.001`` as
:attr:`iuvs.io.L1BReader.dark_dn_s`) uses only the window's pixels (hot pixels
of the dark excluded with ``hot_sigma``); the model is applied to the whole
dark and converted back to DN.  A window needs at least
``5 x (number of model parameters)`` pixels.

:class:`DarkCorrection` holds the result and a per-frame :class:`QualityTable`
(mean and robust sigma of the corrected frame in the window and over the
frame, the counting noise expected there, and their ratio);
:func:`compare` puts the tables of several methods together.

Examples
--------
>>> import tempfile, iuvs
>>> with tempfile.TemporaryDirectory() as d:
...     path = iuvs.synthetic.write_l1b(d, n_int=2, n_darks=2, seed=1, light="smooth")
...     result = iuvs.darks.subtract(path, method="scaled", rank=1)
>>> result.corrected.shape, result.corrected.dtype.name, len(result.fits)
((2, 62, 341), 'float32', 2)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import (
    FileFormatError,
    InsufficientDataError,
    InvalidParameterError,
    MissingExtensionError,
    RankError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)
from iuvs.fitting import MAX_RANK, MIN_RANK, Fit, fit, model_name
from iuvs.io.l1b import L1BReader
from iuvs.superdark import (
    SET_GAP_SECONDS,
    DarkGroup,
    DarkModel,
    ModelValidation,
    Superdark,
    SuperdarkSet,
    _set_starts,
    dark_group,
    read_superdarks,
    superdark,
    write_superdarks,
)

__all__ = [
    "METHODS",
    "SET_GAP_SECONDS",
    "QUALITY_COLUMNS",
    "DarkCorrection",
    "DarkGroup",
    "DarkModel",
    "ModelValidation",
    "QualityTable",
    "Superdark",
    "SuperdarkSet",
    "calm_window",
    "compare",
    "dark_group",
    "pipeline_dark",
    "read_superdarks",
    "subtract",
    "superdark",
    "write_superdarks",
]

Method = Literal["pipeline", "nearest", "scaled", "superdark", "model"]
METHODS: tuple[str, ...] = ("pipeline", "nearest", "scaled", "superdark", "model")

# pixels a calm window needs per fitted model parameter
PIXELS_PER_PARAMETER = 5
# 1.4826 * MAD estimates the standard deviation of normal data
MAD_TO_SIGMA = 1.4826

QUALITY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("frame", "i8"),
    ("method", "U12"),
    ("rank", "i8"),
    ("n_window", "i8"),
    ("window_mean", "f8"),
    ("window_sigma", "f8"),
    ("frame_mean", "f8"),
    ("frame_sigma", "f8"),
    ("expected_sigma", "f8"),
    ("sigma_ratio", "f8"),
)


# --------------------------------------------------------------------- quality
@dataclass(frozen=True)
class QualityTable:
    """Per-frame quality of a dark correction (a numpy structured array underneath).

    Columns (all in DN of the corrected frame, ``detector_raw - dark``):
    ``frame`` (integration index), ``method``, ``rank`` (the model rank fitted,
    -2 where nothing was fitted), ``n_window`` (pixels in the calm window),
    ``window_mean`` and ``window_sigma`` (mean and ``1.4826 * MAD`` inside the
    window), ``frame_mean`` and ``frame_sigma`` (the same over the whole
    frame), ``expected_sigma`` (the counting noise expected in the window,
    ``sqrt(mean(raw) + mean(dark))`` there, as if one DN were one count) and
    ``sigma_ratio = window_sigma / expected_sigma``.  Non-finite pixels are
    left out of every statistic.

    Attributes
    ----------
    data : numpy.ndarray
        The structured array, one row per frame (and per method in :func:`compare`).

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=3, seed=2, light="smooth")
    ...     q = iuvs.darks.subtract(p).quality
    >>> len(q), q.columns[:3]
    (3, ('frame', 'method', 'rank'))
    >>> q["frame"].tolist()
    [0, 1, 2]
    """

    data: npt.NDArray[np.void]

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names, in order."""
        names = self.data.dtype.names
        return tuple(names) if names is not None else ()

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        """Return one column as a numpy array."""
        if name not in self.columns:
            raise InvalidParameterError(
                f"no column {name!r} in the quality table; columns: {', '.join(self.columns)}"
            )
        return np.asarray(self.data[name])

    def summary(self) -> QualityTable:
        """Return one row per method: the median of each column over the frames.

        ``frame`` is the number of frames summarised.

        Returns
        -------
        QualityTable
            One row per method, in the order they first appear.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = iuvs.synthetic.write_l1b(d, n_int=3, seed=2, light="smooth")
        ...     s = iuvs.darks.compare(p, methods=("pipeline", "nearest")).summary()
        >>> s["method"].tolist(), s["frame"].tolist()
        (['pipeline', 'nearest'], [3, 3])
        """
        methods = list(dict.fromkeys(self.data["method"].tolist()))
        out = np.zeros(len(methods), dtype=self.data.dtype)
        for i, m in enumerate(methods):
            rows = self.data[self.data["method"] == m]
            out[i]["method"] = m
            out[i]["frame"] = len(rows)
            for name in self.columns:
                if name in ("frame", "method"):
                    continue
                column = rows[name].astype(np.float64)
                finite = column[np.isfinite(column)]
                value = float(np.median(finite)) if finite.size else math.nan
                out[i][name] = round(value) if out.dtype[name].kind == "i" else value
        return QualityTable(out)

    def to_text(self, precision: int = 3) -> str:
        """Return the table as aligned plain text (one header line, one line per row).

        Parameters
        ----------
        precision : int, optional
            Significant digits of the float columns.

        Returns
        -------
        str
            The table.

        Examples
        --------
        >>> import numpy as np
        >>> t = QualityTable(np.zeros(1, dtype=list(QUALITY_COLUMNS)))
        >>> t.to_text().splitlines()[0].split()[:3]
        ['frame', 'method', 'rank']
        """
        rows = [list(self.columns)]
        for r in self.data:
            cells = []
            for name in self.columns:
                v = r[name]
                cells.append(
                    f"{float(v):.{precision}g}" if self.data.dtype[name].kind == "f" else str(v)
                )
            rows.append(cells)
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
        )

    def to_pandas(self) -> Any:
        """Return the table as a :class:`pandas.DataFrame` (needs pandas).

        Returns
        -------
        pandas.DataFrame
            One column per field.

        Examples
        --------
        >>> import numpy as np
        >>> t = QualityTable(np.zeros(2, dtype=list(QUALITY_COLUMNS)))
        >>> t.to_pandas().shape
        (2, 10)
        """
        import pandas as pd

        return pd.DataFrame({name: self.data[name] for name in self.columns})

    def __repr__(self) -> str:
        return f"QualityTable({len(self)} rows)\n{self.to_text()}"


# ------------------------------------------------------------------ the result
@dataclass(frozen=True)
class DarkCorrection:
    """Dark-corrected light frames of one L1B file (made by :func:`subtract`).

    Attributes
    ----------
    corrected : numpy.ndarray
        ``detector_raw - dark``, DN, float32, ``(n_integrations, spatial, spectral)``.
    dark : numpy.ndarray
        The dark model subtracted from each frame, DN, float32, same shape.
    dn_s : numpy.ndarray
        ``corrected / scaling_factor + 0.001`` (DN/s per pixel, as
        :attr:`iuvs.io.L1BReader.dark_dn_s` converts darks), float64.
    fits : tuple of (Fit or None)
        Per frame, the fitted model of the light against the dark in DN/s
        (``'scaled'`` and ``'superdark'``); None where nothing was fitted.
    window : numpy.ndarray
        Per frame, the calm window ``(spatial_start, spatial_stop,
        spectral_start, spectral_stop)`` (half-open), int64 ``(n_integrations, 4)``.
    quality : QualityTable
        One row per frame (see :class:`QualityTable`).
    method : str
        The method asked for.
    method_detail : str
        What was done, in words: the darks and weights used, fallbacks taken.
    dark_weights : numpy.ndarray
        ``(n_integrations, n_darks)``: the weight of each recorded dark in each
        frame's dark before any scaling (zeros for ``'superdark'``).
    source : str
        The input file.
    rank : int or None
        The model rank asked for (``'scaled'`` and ``'superdark'``).

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=2, n_darks=1, seed=3)
    ...     c = iuvs.darks.subtract(p, method="nearest")
    >>> c.dark_weights.tolist(), "one dark" in c.method_detail
    ([[1.0], [1.0]], True)
    """

    corrected: npt.NDArray[np.float32]
    dark: npt.NDArray[np.float32]
    dn_s: npt.NDArray[np.float64]
    fits: tuple[Fit | None, ...]
    window: npt.NDArray[np.int64]
    quality: QualityTable
    method: str
    method_detail: str
    dark_weights: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float64)
    )
    source: str = ""
    rank: int | None = None


# --------------------------------------------------------------- dark choices
@dataclass(frozen=True)
class _Plan:
    """Which recorded darks make each frame's dark, and with what weights."""

    weights: npt.NDArray[np.float64]  # (n_int, n_darks)
    detail: str


def _open(l1b: L1BReader | str | os.PathLike[str]) -> L1BReader:
    if isinstance(l1b, L1BReader):
        return l1b
    return L1BReader(l1b)


def _dark_sets(dark_et: npt.NDArray[np.float64]) -> list[npt.NDArray[np.intp]]:
    """Split darks (in file order) into sets wherever two darks are > SET_GAP_SECONDS apart."""
    if dark_et.size == 0:
        return []
    breaks = np.flatnonzero(_set_starts(dark_et))[1:]
    return [np.asarray(s, dtype=np.intp) for s in np.split(np.arange(dark_et.size), breaks)]


def _times(reader: L1BReader, n_int: int, n_darks: int) -> tuple[Any, Any, str]:
    """Light and dark ET, or (None, None, why not)."""
    dark_et = reader.dark_et
    light_et = reader.integration_et
    if dark_et is None or light_et is None:
        missing = "Dark_Integration.ET" if dark_et is None else "Integration.ET"
        return None, None, f"the file has no {missing}"
    if dark_et.size != n_darks or light_et.size != n_int:
        return (
            None,
            None,
            f"the ET tables list {dark_et.size} darks and {light_et.size} integrations "
            f"but the file has {n_darks} darks and {n_int} integrations",
        )
    if not (np.all(np.isfinite(dark_et)) and np.all(np.isfinite(light_et))):
        return None, None, "the ET tables hold non-finite times"
    return light_et, dark_et, ""


def _no_time_plan(n_int: int, n_darks: int, why: str) -> _Plan:
    weights = np.full((n_int, n_darks), 1.0 / n_darks)
    if n_darks == 1:
        return _Plan(weights, f"the file has one dark: dark 0 for every frame ({why} not needed)")
    return _Plan(
        weights,
        f"{why}, so the {n_darks} darks cannot be placed in time: their mean is used "
        "for every frame (fallback)",
    )


def _slot(frame: int, size: int) -> int:
    """Position in a dark set of the dark the pipeline pairs with light frame ``frame``."""
    return min(0 if frame == 0 else 1, size - 1)


def _pipeline_plan(reader: L1BReader, n_int: int, n_darks: int) -> _Plan:
    if n_darks == 1:
        return _no_time_plan(n_int, 1, "ET")
    light_et, dark_et, why = _times(reader, n_int, n_darks)
    if light_et is None:
        return _no_time_plan(n_int, n_darks, why)
    sets = _dark_sets(dark_et)
    weights = np.zeros((n_int, n_darks))
    notes: set[str] = set()
    for k in range(n_int):
        t = light_et[k]
        before = [s for s in sets if dark_et[s].max() <= t]
        after = [s for s in sets if dark_et[s].min() >= t]
        if before and after:
            a = before[-1][_slot(k, before[-1].size)]
            b = after[0][_slot(k, after[0].size)]
            span = dark_et[b] - dark_et[a]
            w = (t - dark_et[a]) / span if span > 0 else 0.0
            weights[k, a] += 1.0 - w
            weights[k, b] += w
            notes.add("interpolated")
        else:
            # lights outside the dark sets (or inside one): the nearest set's dark is held
            nearest = min(sets, key=lambda s: float(np.min(np.abs(dark_et[s] - t))))
            weights[k, nearest[_slot(k, nearest.size)]] = 1.0
            notes.add("held")
    sizes = "+".join(str(s.size) for s in sets)
    text = (
        f"pipeline rule on {len(sets)} dark set(s) of {sizes} darks: frame 0 uses the first dark "
        "of a set, later frames the second; linear in ET between the set before and the set "
        "after each frame, rounded down"
    )
    if "held" in notes:
        text += (
            "; frames without a dark set on both sides use the nearest set's dark unchanged "
            "(fallback: no interpolation possible)"
        )
    return _Plan(weights, text)


def _nearest_plan(reader: L1BReader, n_int: int, n_darks: int) -> _Plan:
    if n_darks == 1:
        return _no_time_plan(n_int, 1, "ET")
    light_et, dark_et, why = _times(reader, n_int, n_darks)
    if light_et is None:
        return _no_time_plan(n_int, n_darks, why)
    sets = _dark_sets(dark_et)
    first = np.zeros(n_darks, dtype=bool)
    for s in sets:
        if s.size > 1:
            first[s[0]] = True
    weights = np.zeros((n_int, n_darks))
    for k in range(n_int):
        # frame 0 is matched with the first darks of the sets, later frames with the others
        allowed = first if (k == 0 and first.any()) else ~first
        candidates = np.flatnonzero(allowed)
        best = candidates[np.argmin(np.abs(dark_et[candidates] - light_et[k]))]
        weights[k, best] = 1.0
    used = sorted({int(np.argmax(w)) for w in weights})
    return _Plan(
        weights,
        "nearest dark in ET, no interpolation (frame 0 from the first darks of the sets, "
        f"later frames from the others); darks used: {used}",
    )


def _combine(
    darks: npt.NDArray[np.float64], plan: _Plan, *, floor: bool
) -> npt.NDArray[np.float64]:
    """Each frame's dark from the plan: ``a + (b - a) * w`` for two darks, rounded down."""
    n_int = plan.weights.shape[0]
    out = np.empty((n_int, *darks.shape[1:]), dtype=np.float64)
    for k in range(n_int):
        row = plan.weights[k]
        used = np.flatnonzero(row)
        if used.size == 1:
            out[k] = darks[used[0]] * row[used[0]]
        elif used.size == 2:
            a, b = int(used[0]), int(used[1])
            out[k] = darks[a] + (darks[b] - darks[a]) * row[b]
        elif used.size == row.size and np.all(row == row[0]):
            out[k] = darks.mean(axis=0)
        else:
            out[k] = np.tensordot(row, darks, axes=1)
    return np.floor(out) if floor else out


def _check_frames(reader: L1BReader, *, need_darks: bool) -> tuple[Any, Any]:
    raw = reader.detector_raw
    if raw is None:
        raise MissingExtensionError(
            f"{reader.fname} has no detector_raw extension (light frames); is it a dark-only "
            "file? It has: " + ", ".join(reader.extensions)
        )
    darks = None
    if need_darks:
        if reader.n_darks == 0:
            raise MissingExtensionError(
                f"{reader.fname} has no detector_dark extension; it has: "
                + ", ".join(reader.extensions)
                + " (pass method='superdark' with superdark= to use a dark of your own)"
            )
        darks = reader.detector_dark
        if darks.shape[1:] != raw.shape[1:]:
            raise ShapeMismatchError(
                f"{reader.fname}: darks are {darks.shape[1]} x {darks.shape[2]} (spatial x "
                f"spectral) but light frames {raw.shape[1]} x {raw.shape[2]}; darks and lights "
                "must share one binning"
            )
    return raw, darks


def pipeline_dark(l1b: L1BReader | str | os.PathLike[str]) -> npt.NDArray[np.float32]:
    """Return the dark the IUVS pipeline subtracted from each light integration.

    Computed from ``detector_dark`` and the ephemeris times
    (``Dark_Integration.ET``, ``Integration.ET``) alone, never from
    ``background_dark``.

    The rule (v13 files, ``DARK_METHOD = 'Time interpolation using multiple
    dark integrations'``):

    1. The darks form *sets* (bursts taken seconds apart; the sets of an
       orbit are hours apart: darks more than 600 s apart start a new set).
    2. Light integration 0 of a file uses the **first** dark of a set; every
       later integration uses the **second** dark of a set (the files do not
       say why; the data show it, below).
    3. The dark of integration ``k`` at time ``t`` is
       ``floor(a + (b - a) * (t - t_a) / (t_b - t_a))``, ``a`` and ``b`` the
       chosen darks of the set before and the set after (times ``t_a``, ``t_b``).

    Evidence (the five public v13_r01 files of orbit 18001): the rule equals
    ``background_dark`` within 1 DN at every pixel of every frame, and exactly
    on 99.78 % of all pixels (FUV 071804: 99.71 %, 071818: 99.80 %, 072612:
    99.80 %, MUV 071804: 99.17 %, 072558: 99.45 %).  The darks are nearly
    pure noise and differ from one another pixel by pixel by a median of
    40-110 DN, so the pair is unambiguous: any other pair of matching darks
    (the second dark for frame 0, the first for later frames, or the third
    to fifth of a set) equals ``background_dark`` on at most 1.2 % of the
    pixels and is off by up to 140-500 DN.  Every pixel that differs is one
    where the two darks are equal (``a == b``) and the pipeline wrote
    ``a - 1`` (on about half of those pixels); none of the 16 float32/float64
    orderings of the interpolation tried reproduces these.

    Fallbacks, named in :attr:`DarkCorrection.method_detail`: a file with one
    dark uses it for every frame; frames with a dark set on one side only
    (a single set, or lights outside the sets) hold that set's dark; a file
    without usable ET (no ``Dark_Integration``/``Integration`` ET, counts that
    do not match, non-finite times) uses the mean of its darks.

    Parameters
    ----------
    l1b : L1BReader or path
        The L1B file (read here when a path is given).

    Returns
    -------
    numpy.ndarray
        float32 ``(n_integrations, spatial, spectral)``, DN.

    Raises
    ------
    iuvs.exceptions.MissingExtensionError
        The file has no ``detector_raw`` or no ``detector_dark``.
    iuvs.exceptions.ShapeMismatchError
        Darks and light frames have different shapes (binnings).

    Examples
    --------
    >>> import tempfile, numpy as np, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     l1b = iuvs.io.L1BReader(iuvs.synthetic.write_l1b(d, n_int=2, n_darks=1, seed=1))
    >>> dark = iuvs.darks.pipeline_dark(l1b)
    >>> dark.shape, bool((dark == l1b.detector_dark[0]).all())
    ((2, 62, 341), True)
    """
    reader = _open(l1b)
    raw, darks = _check_frames(reader, need_darks=True)
    plan = _pipeline_plan(reader, raw.shape[0], darks.shape[0])
    return _combine(darks.astype(np.float64), plan, floor=True).astype(np.float32)


# ---------------------------------------------------------------- calm window
def _median_filter(image: npt.NDArray[np.float64], size: tuple[int, int], *, cval: float) -> Any:
    # the core's filter, equal to scipy.ndimage.median_filter (float64 in, so
    # the bright cval is kept as it is)
    from iuvs.median import median_filter

    return median_filter(image, size, mode="constant", cval=cval)


def _box(shape: tuple[int, ...]) -> tuple[int, int]:
    return (max(1, math.ceil(shape[0] / 5)), max(1, math.ceil(shape[1] / 10)))


def _box_mean(
    image: npt.NDArray[np.float64], box: tuple[int, int], cval: float
) -> npt.NDArray[np.float64]:
    """Mean over the median filter's box at every pixel (outside = ``cval``), by summed areas."""
    (b0, b1), (n0, n1) = box, image.shape
    padded = np.pad(
        image, ((b0 // 2, b0 - 1 - b0 // 2), (b1 // 2, b1 - 1 - b1 // 2)), constant_values=cval
    )
    area = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1))
    area[1:, 1:] = padded.cumsum(axis=0).cumsum(axis=1)
    sums = area[b0 : b0 + n0, b1 : b1 + n1] - area[:n0, b1 : b1 + n1]
    sums = sums - area[b0 : b0 + n0, :n1] + area[:n0, :n1]
    return np.asarray(sums / (b0 * b1), dtype=np.float64)


def calm_window(light: npt.ArrayLike) -> tuple[int, int, int, int]:
    """Return the calm window of one light frame.

    The frame is median-filtered with a box of ``ceil(spatial / 5) x
    ceil(spectral / 10)`` bins, the outside of the frame counting as very
    bright (brighter than any pixel; non-finite pixels count as bright too);
    the window is the same box centred on the filtered frame's minimum,
    clipped to the frame.  Where several pixels share that minimum, the one
    whose box has the lowest mean wins (then the first in C order).

    Parameters
    ----------
    light : array_like
        One ``(spatial, spectral)`` frame (DN or DN/s).

    Returns
    -------
    tuple of int
        ``(spatial_start, spatial_stop, spectral_start, spectral_stop)``, half-open.

    Raises
    ------
    iuvs.exceptions.InsufficientDataError
        The frame has no finite pixel.

    Examples
    --------
    >>> import numpy as np, iuvs
    >>> frame = np.full((20, 40), 10.0)
    >>> frame[12:16, 30:34] = 1.0  # the calm corner
    >>> iuvs.darks.calm_window(frame)
    (12, 16, 30, 34)
    """
    a = np.asarray(light, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeMismatchError(f"a light frame is 2-D (spatial, spectral), got shape {a.shape}")
    finite = np.isfinite(a)
    if not finite.any():
        raise InsufficientDataError(
            f"a {a.shape[0]} x {a.shape[1]} light frame has no finite pixel"
        )
    hi = float(a[finite].max())
    lo = float(a[finite].min())
    bright = hi + (hi - lo) + 1.0 + abs(hi)
    filled = np.where(finite, a, bright)
    box = _box(a.shape)
    filtered = _median_filter(filled, box, cval=bright)
    ties = filtered == filtered.min()
    if np.count_nonzero(ties) > 1:
        # a flat minimum: the box with the lowest mean among the tied ones
        means = np.where(ties, _box_mean(filled, box, bright), np.inf)
        r, c = np.unravel_index(int(np.argmin(means)), a.shape)
    else:
        r, c = np.unravel_index(int(np.argmin(filtered)), a.shape)
    r0 = max(0, int(r) - box[0] // 2)
    c0 = max(0, int(c) - box[1] // 2)
    r1 = min(a.shape[0], int(r) - box[0] // 2 + box[0])
    c1 = min(a.shape[1], int(c) - box[1] // 2 + box[1])
    return (r0, r1, c0, c1)


def _check_window(window: Any, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    try:
        items = list(window)
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items):
            raise TypeError("not integers")
        values = tuple(int(v) for v in items)
    except TypeError as err:
        raise InvalidParameterError(
            "window must be (spatial_start, spatial_stop, spectral_start, spectral_stop), "
            f"got {window!r}"
        ) from err
    if len(values) != 4:
        raise InvalidParameterError(
            "window must give 4 numbers (spatial_start, spatial_stop, spectral_start, "
            f"spectral_stop), got {len(values)}: {window!r}"
        )
    s0, s1, e0, e1 = values
    if not (0 <= s0 < s1 <= shape[0] and 0 <= e0 < e1 <= shape[1]):
        raise InvalidParameterError(
            f"window {values} does not fit in a {shape[0]} x {shape[1]} frame (spatial x "
            f"spectral): it needs 0 <= start < stop <= {shape[0]} spatially and <= {shape[1]} "
            "spectrally"
        )
    return (s0, s1, e0, e1)


# ------------------------------------------------------------------ subtract
def _n_params(rank: int) -> int:
    return 1 if rank <= 0 else rank + 1


def _robust(values: npt.NDArray[np.float64]) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan
    med = float(np.median(v))
    return float(v.mean()), MAD_TO_SIGMA * float(np.median(np.abs(v - med)))


def _quality(
    method: str,
    raw: npt.NDArray[np.float64],
    dark: npt.NDArray[np.float64],
    corrected: npt.NDArray[np.float64],
    windows: npt.NDArray[np.int64],
    ranks: Sequence[int],
) -> QualityTable:
    rows = np.zeros(raw.shape[0], dtype=list(QUALITY_COLUMNS))
    for k in range(raw.shape[0]):
        s0, s1, e0, e1 = (int(v) for v in windows[k])
        win = (slice(s0, s1), slice(e0, e1))
        w_mean, w_sigma = _robust(corrected[k][win])
        f_mean, f_sigma = _robust(corrected[k])
        level = raw[k][win] + dark[k][win]
        level = level[np.isfinite(level)]
        expected = math.sqrt(max(float(level.mean()), 0.0)) if level.size else math.nan
        rows[k] = (
            k,
            method,
            ranks[k],
            (s1 - s0) * (e1 - e0),
            w_mean,
            w_sigma,
            f_mean,
            f_sigma,
            expected,
            w_sigma / expected if expected > 0 else math.nan,
        )
    return QualityTable(rows)


def _frame_fit(
    k: int,
    base_dn_s: npt.NDArray[np.float64],
    light_dn_s: npt.NDArray[np.float64],
    window: tuple[int, int, int, int],
    rank: int,
    hot_sigma: float | None,
    allow_lower_rank: bool,
    fname: str,
) -> Fit:
    s0, s1, e0, e1 = window
    n_window = (s1 - s0) * (e1 - e0)
    use = rank
    while PIXELS_PER_PARAMETER * _n_params(use) > n_window:
        if not allow_lower_rank or use == -1:
            shape = light_dn_s.shape
            raise InsufficientDataError(
                f"{fname}: frame {k} is {shape[0]} x {shape[1]} and its calm window "
                f"{window} has {n_window} pixels; a {model_name(rank)} fit (rank {rank}) needs "
                f"at least {PIXELS_PER_PARAMETER * _n_params(rank)} "
                f"({PIXELS_PER_PARAMETER} per parameter). Use a lower rank, a larger window= "
                "or allow_lower_rank=True"
            )
        use -= 1
    outside = np.ones(light_dn_s.shape, dtype=bool)
    outside[s0:s1, e0:e1] = False
    return fit(base_dn_s, light_dn_s, use, mask=outside, hot_sigma=hot_sigma)


def subtract(
    l1b: L1BReader | str | os.PathLike[str],
    method: Method = "pipeline",
    *,
    rank: int = 1,
    hot_sigma: float | None = None,
    window: Sequence[int] | None = None,
    superdark: npt.ArrayLike | None = None,
    allow_lower_rank: bool = False,
    model: DarkModel | Sequence[DarkModel] | None = None,
) -> DarkCorrection:
    """Subtract a dark from every light frame of an L1B file.

    Parameters
    ----------
    l1b : L1BReader or path
        The L1B file (read here when a path is given).
    method : {'pipeline', 'nearest', 'scaled', 'superdark'}, optional
        The dark (see the module docs): the pipeline's (:func:`pipeline_dark`),
        the nearest recorded dark, the pipeline's dark scaled onto each frame in
        its calm window, or ``superdark`` scaled the same way.
    rank : int, optional
        Model of the scaling fit (``'scaled'``, ``'superdark'``): -1 additive,
        0 multiplicative, 1 or 2 polynomial degree (coefficients highest power
        first).  Ignored by the other methods.
    hot_sigma : float, optional
        Leave out of the fit the pixels of the dark above ``median + hot_sigma
        * 1.4826 * MAD`` (see :func:`iuvs.fit`).
    window : sequence of 4 int, optional
        ``(spatial_start, spatial_stop, spectral_start, spectral_stop)``
        (half-open) for every frame instead of each frame's calm window.
    superdark : array_like, optional
        A ``(spatial, spectral)`` dark in DN (for ``method='superdark'`` only).
    allow_lower_rank : bool, optional
        When a window has too few pixels for ``rank`` (5 per parameter), fit
        the highest lower rank that fits instead of raising.
    model : DarkModel or sequence of DarkModel, optional
        For ``method='model'`` only: the model (or models, one per group;
        the one of the file's :func:`dark_group` is used) whose prediction at
        each light frame's detector temperature is subtracted.

    Returns
    -------
    DarkCorrection
        Corrected frames, the dark used, DN/s, fits, windows, quality table.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Unknown method, a window outside the frame, ``superdark`` missing or
        given with another method.
    iuvs.exceptions.MissingExtensionError
        No ``detector_raw`` (a dark-only file), or no ``detector_dark`` for a
        method that needs the file's darks.
    iuvs.exceptions.ShapeMismatchError
        Darks (or ``superdark``) and light frames of different shapes.
    iuvs.exceptions.FileFormatError
        ``INT_TIME`` missing, zero, negative or not finite.
    iuvs.exceptions.InsufficientDataError
        A frame with no finite pixel, or a window too small for ``rank``.
    iuvs.exceptions.RankError
        ``rank`` outside -1..12.
    iuvs.exceptions.UnsupportedDtypeError
        A ``superdark`` that is not integer or floating-point.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=2, n_darks=2, seed=4, light="smooth")
    ...     c = iuvs.darks.subtract(p, method="scaled", rank=0)
    >>> [f.name for f in c.fits], c.window.shape
    (['multiplicative', 'multiplicative'], (2, 4))
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    if superdark is not None and method != "superdark":
        raise InvalidParameterError(
            f"superdark= is used only with method='superdark' (method is {method!r})"
        )
    if model is not None and method != "model":
        raise InvalidParameterError(
            f"model= is used only with method='model' (method is {method!r})"
        )
    if method == "model" and model is None:
        raise InvalidParameterError("method='model' needs model=, a DarkModel (see DarkModel.fit)")
    if method == "superdark" and superdark is None:
        raise InvalidParameterError(
            "method='superdark' needs superdark=, a (spatial, spectral) dark"
        )
    fitted = method in ("scaled", "superdark")
    if fitted and (isinstance(rank, bool) or not isinstance(rank, int | np.integer)):
        raise InvalidParameterError(f"rank must be an integer -1..12, got {rank!r}")
    if fitted and not MIN_RANK <= int(rank) <= MAX_RANK:
        raise RankError(
            f"rank {int(rank)} is outside {MIN_RANK}..{MAX_RANK} (-1 additive, 0 "
            "multiplicative, n polynomial degree)"
        )
    reader = _open(l1b)
    raw_cube, darks = _check_frames(reader, need_darks=method not in ("superdark", "model"))
    shape = tuple(raw_cube.shape[1:])
    n_int = int(raw_cube.shape[0])
    int_time = reader.int_time
    if not (math.isfinite(int_time) and int_time > 0):
        raise FileFormatError(
            f"{reader.fname}: INT_TIME = {int_time!r} s; a light frame needs a positive, finite "
            "integration time to be converted to DN/s"
        )
    scaling = reader.scaling_factor
    if scaling.shape != shape:
        raise ShapeMismatchError(
            f"{reader.fname}: the Binning table gives {scaling.shape[0]} x {scaling.shape[1]} "
            f"bins but the frames are {shape[0]} x {shape[1]}"
        )
    raw = raw_cube.astype(np.float64)
    for k in range(n_int):
        if not np.isfinite(raw[k]).any():
            raise InsufficientDataError(
                f"{reader.fname}: light frame {k} ({shape[0]} x {shape[1]}) has no finite pixel"
            )
    user_window = None if window is None else _check_window(window, shape)
    light_dn_s = raw / scaling + 0.001
    windows = np.empty((n_int, 4), dtype=np.int64)
    for k in range(n_int):
        windows[k] = user_window if user_window is not None else calm_window(light_dn_s[k])

    n_darks = 0 if darks is None else int(darks.shape[0])
    if method == "superdark":
        sd_in = np.asarray(superdark)
        if sd_in.dtype.kind not in "iuf":
            raise UnsupportedDtypeError(
                f"superdark has dtype {sd_in.dtype}; give an integer or floating-point dark (DN)"
            )
        sd = sd_in.astype(np.float64)
        if sd.shape != shape:
            raise ShapeMismatchError(
                f"superdark is {sd.shape} but the light frames of {reader.fname} are "
                f"{shape[0]} x {shape[1]} (spatial, spectral)"
            )
        base = np.broadcast_to(sd, raw.shape)
        plan = _Plan(np.zeros((n_int, n_darks)), "superdark given by the user")
    elif method == "model":
        assert model is not None
        base, plan = _model_plan(reader, model, shape, n_int, n_darks)
    else:
        assert darks is not None
        make = _nearest_plan if method == "nearest" else _pipeline_plan
        plan = make(reader, n_int, n_darks)
        base = _combine(darks.astype(np.float64), plan, floor=method != "nearest")

    fits: list[Fit | None] = [None] * n_int
    detail = plan.detail
    if fitted:
        dark = np.empty(raw.shape, dtype=np.float64)
        used_ranks = []
        for k in range(n_int):
            base_dn_s = base[k] / scaling + 0.001
            w = (int(windows[k][0]), int(windows[k][1]), int(windows[k][2]), int(windows[k][3]))
            f = _frame_fit(
                k, base_dn_s, light_dn_s[k], w, int(rank), hot_sigma, allow_lower_rank, reader.fname
            )
            fits[k] = f
            used_ranks.append(f.rank)
            dark[k] = (f.apply(base_dn_s) - 0.001) * scaling
        detail += (
            f"; scaled onto each light frame by the {model_name(int(rank))} model (rank "
            f"{int(rank)}) fitted in DN/s inside its {'given' if user_window else 'calm'} window"
        )
        lowered = sorted({r for r in used_ranks if r != rank})
        if lowered:
            detail += f"; windows too small for rank {int(rank)}: rank(s) {lowered} fitted instead"
        ranks_col: list[int] = used_ranks
    else:
        dark = np.asarray(base, dtype=np.float64)
        ranks_col = [-2] * n_int
    corrected = raw - dark
    quality = _quality(method, raw, dark, corrected, windows, ranks_col)
    corrected32 = corrected.astype(np.float32)
    return DarkCorrection(
        corrected=corrected32,
        dark=dark.astype(np.float32),
        dn_s=corrected32.astype(np.float64) / scaling + 0.001,
        fits=tuple(fits),
        window=windows,
        quality=quality,
        method=method,
        method_detail=detail,
        dark_weights=plan.weights,
        source=reader.fname,
        rank=int(rank) if fitted else None,
    )


def _model_plan(
    reader: L1BReader,
    model: DarkModel | Sequence[DarkModel],
    shape: tuple[int, ...],
    n_int: int,
    n_darks: int,
) -> tuple[npt.NDArray[np.float64], _Plan]:
    """Return the dark a model predicts at each light frame's temperature."""
    models = [model] if isinstance(model, DarkModel) else list(model)
    if not models or not all(isinstance(m, DarkModel) for m in models):
        raise InvalidParameterError(
            f"model= must be a DarkModel or a sequence of them, got {type(model).__name__}"
        )
    temps = reader.integration_temperatures
    if temps is None or temps.size != n_int or not np.all(np.isfinite(temps)):
        raise FileFormatError(
            f"{reader.fname}: the Integration/Engineering tables give no finite detector "
            f"temperature for each of the {n_int} light frames; method='model' needs them"
        )
    if len(models) == 1 and models[0].superdark.data.shape == shape:
        chosen = models[0]
    else:
        group = dark_group(reader) if reader.n_darks else None
        matches = [m for m in models if group is not None and m.group == group]
        if not matches:
            matches = [m for m in models if m.superdark.data.shape == shape]
        if len(matches) != 1:
            raise ShapeMismatchError(
                f"{reader.fname}: frames {shape[0]} x {shape[1]}; {len(matches)} of the "
                f"{len(models)} models fit them (groups: "
                + "; ".join(m.group.label for m in models)
                + "); give the model of this file's group"
            )
        chosen = matches[0]
    base = chosen.predict(temps)
    detail = (
        f"the DarkModel of {chosen.group.label} (rank {chosen.rank}, degrees "
        f"{list(chosen.degrees)}) at each frame's detector temperature "
        f"({float(temps.min()):.2f} .. {float(temps.max()):.2f} deg C)"
    )
    return base, _Plan(np.zeros((n_int, n_darks)), detail)


def compare(
    l1b: L1BReader | str | os.PathLike[str],
    methods: Iterable[Method] = ("pipeline", "nearest", "scaled"),
    **options: Any,
) -> QualityTable:
    """Correct one file with several methods and return their quality tables as one.

    Parameters
    ----------
    l1b : L1BReader or path
        The L1B file (read once).
    methods : iterable of str, optional
        Methods of :func:`subtract`.
    **options
        Passed to :func:`subtract` (``rank``, ``hot_sigma``, ``window``, ``superdark``).

    Returns
    -------
    QualityTable
        The rows of every method, one per frame, methods in the order given;
        :meth:`QualityTable.summary` gives one row per method.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=2, seed=5, light="smooth")
    ...     t = iuvs.darks.compare(p, methods=("pipeline", "scaled"), rank=0)
    >>> t["method"].tolist()
    ['pipeline', 'pipeline', 'scaled', 'scaled']
    """
    reader = _open(l1b)
    tables = []
    for m in methods:
        extra = dict(options)
        if m != "superdark":
            extra.pop("superdark", None)
        tables.append(subtract(reader, m, **extra).quality.data)
    if not tables:
        raise InvalidParameterError("compare needs at least one method")
    return QualityTable(np.concatenate(tables))
