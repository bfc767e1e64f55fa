"""The dark-corrected light frames product: :func:`write_correction` and :class:`CorrectionProduct`.

Layout::

    No.  Name      Type         Dimensions             Format
    0    PRIMARY   PrimaryHDU   (spectral, spatial, n) float32  detector_raw - dark, DN
    1    DARK      ImageHDU     (spectral, spatial, n) float32  the dark subtracted, DN
    2    DN_S      ImageHDU     (spectral, spatial, n) float64  corrected / scaling + 0.001
    3    WINDOW    BinTableHDU  n rows                          window and fit per frame
    4    QUALITY   BinTableHDU  n rows                          iuvs.darks.QualityTable
    5    WEIGHTS   ImageHDU     (n_darks, n)           float64  weight of each recorded dark

The primary header names the input file (``INPUT``), the method
(``METHOD``), the rank (``RANK``, when a model was fitted), what was done
(``DETAIL``, a long string) and the darks used (``DARKSUSE``); every HDU has
``CHECKSUM``/``DATASUM``.  ``WINDOW`` has ``SPA_START``, ``SPA_STOP``,
``SPE_START``, ``SPE_STOP`` (half-open, 0-based), ``FIT_RANK`` (-2: no fit) and
``COEFFS`` (the fitted model of the light against the dark in DN/s, highest
power first, zero-padded; ``NCOEFFS`` of them are used).

The file is written as the dark-fitting product is (:class:`iuvs.io.DarkWriter`):
to a temporary file in the destination folder, fsynced, re-opened with
checksum verification and compared, then renamed; an existing file is kept
unless ``overwrite=True``.  :func:`iuvs.io.read_product` reads it back.

Examples
--------
>>> import tempfile, pathlib, iuvs
>>> from iuvs.io import read_product
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> path = iuvs.synthetic.write_l1b(d, n_int=2, seed=1, light="smooth")
>>> c = iuvs.darks.subtract(path, "scaled", rank=1)
>>> out = iuvs.io.write_correction(c, d / "corrected.fits")
>>> p = read_product(out)
>>> p.method, p.rank, p.corrected.shape
('scaled', 1, (2, 62, 341))
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from iuvs.io._longstrn import mark_long_strings
from iuvs.io._verify import write_verified

if TYPE_CHECKING:  # pragma: no cover
    from iuvs.darks import DarkCorrection, QualityTable

__all__ = ["KIND", "CorrectionProduct", "write_correction"]

log = logging.getLogger(__name__)

KIND = "dark-corrected light frames"
_COEFFS_COMMENT = "COEFFS: light = model(dark) in DN/s, highest power first, zero-padded."


@dataclass(frozen=True)
class CorrectionProduct:
    """A dark-corrected light frames product read back by :func:`iuvs.io.read_product`.

    Attributes
    ----------
    path : str
        The file.
    corrected, dark, dn_s : numpy.ndarray
        ``(n_integrations, spatial, spectral)`` cubes (PRIMARY, DARK, DN_S).
    window : numpy.ndarray
        int64 ``(n_integrations, 4)``: ``(spatial_start, spatial_stop,
        spectral_start, spectral_stop)``.
    fit_ranks : numpy.ndarray
        Per frame the rank of the fitted model (-2 where nothing was fitted).
    coeffs : list of numpy.ndarray
        Per frame the fitted coefficients, highest power first (empty where none).
    quality : iuvs.darks.QualityTable
        The quality table.
    dark_weights : numpy.ndarray
        ``(n_integrations, n_darks)`` weights of the recorded darks.
    method : str
        The method.
    rank : int or None
        The rank asked for, if a model was fitted.
    method_detail : str
        What was done.
    source : str
        The input file's name.
    header : astropy.io.fits.Header
        The primary header.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1), "nearest")
    >>> p = iuvs.io.read_product(iuvs.io.write_correction(c, d / "c.fits"))
    >>> type(p).__name__, p.window.shape, p.fit_ranks.tolist()
    ('CorrectionProduct', (2, 4), [-2, -2])
    """

    path: str
    corrected: npt.NDArray[np.float32]
    dark: npt.NDArray[np.float32]
    dn_s: npt.NDArray[np.float64]
    window: npt.NDArray[np.int64]
    fit_ranks: npt.NDArray[np.int64]
    coeffs: list[npt.NDArray[np.float64]]
    quality: QualityTable
    dark_weights: npt.NDArray[np.float64]
    method: str
    rank: int | None
    method_detail: str
    source: str
    header: fits.Header


def _creator() -> str:
    from iuvs.io.product import _creator as creator

    return creator()


def to_hdulist(correction: DarkCorrection) -> fits.HDUList:
    """Build the product's HDUs from a :class:`~iuvs.darks.DarkCorrection` (nothing written).

    Parameters
    ----------
    correction : iuvs.darks.DarkCorrection
        The result of :func:`iuvs.darks.subtract`.

    Returns
    -------
    astropy.io.fits.HDUList
        PRIMARY, DARK, DN_S, WINDOW, QUALITY, WEIGHTS.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.io.correction import to_hdulist
    >>> with tempfile.TemporaryDirectory() as d:
    ...     c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1))
    >>> [h.name for h in to_hdulist(c)]
    ['PRIMARY', 'DARK', 'DN_S', 'WINDOW', 'QUALITY', 'WEIGHTS']
    """
    date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    primary = fits.PrimaryHDU(np.asarray(correction.corrected, dtype=np.float32))
    h = primary.header
    h["KIND"] = (KIND, "iuvs product kind")
    h["BUNIT"] = ("DN", "detector_raw - dark")
    h["INPUT"] = Path(correction.source).name  # long names: CONTINUE cards, no comment
    h["METHOD"] = (correction.method, "pipeline, nearest, scaled or superdark")
    if correction.rank is not None:
        h["RANK"] = (correction.rank, "-1 additive, 0 multiplicative, n degree")
    used = sorted({int(i) for i in np.flatnonzero(np.any(correction.dark_weights != 0, axis=0))})
    h["DARKSUSE"] = (",".join(str(i) for i in used) or "none", "detector_dark indices used")
    h["DETAIL"] = correction.method_detail
    h["DATE"] = (date, "UTC, file written")
    h["CREATOR"] = _creator()
    h["HISTORY"] = f"iuvs.darks.subtract({Path(correction.source).name!r}, {correction.method!r})"
    h["COMMENT"] = "DARK: the dark subtracted; WEIGHTS: the weight of each recorded dark."
    h["COMMENT"] = _COEFFS_COMMENT
    dark = fits.ImageHDU(np.asarray(correction.dark, dtype=np.float32), name="DARK")
    dark.header["BUNIT"] = "DN"
    dn_s = fits.ImageHDU(np.asarray(correction.dn_s, dtype=np.float64), name="DN_S")
    dn_s.header["BUNIT"] = "DN/s"
    n = correction.window.shape[0]
    width = max([len(f.coeffs) for f in correction.fits if f is not None] or [1])
    coeffs = np.zeros((n, width))
    ranks = np.full(n, -2, dtype=np.int64)
    ncoef = np.zeros(n, dtype=np.int64)
    for k, f in enumerate(correction.fits):
        if f is not None:
            coeffs[k, : len(f.coeffs)] = f.coeffs
            ranks[k], ncoef[k] = f.rank, len(f.coeffs)
    w = np.asarray(correction.window, dtype=np.int64)
    window = fits.BinTableHDU.from_columns(
        [
            fits.Column("FRAME", "K", array=np.arange(n, dtype=np.int64)),
            fits.Column("SPA_START", "K", array=w[:, 0]),
            fits.Column("SPA_STOP", "K", array=w[:, 1]),
            fits.Column("SPE_START", "K", array=w[:, 2]),
            fits.Column("SPE_STOP", "K", array=w[:, 3]),
            fits.Column("FIT_RANK", "K", array=ranks),
            fits.Column("NCOEFFS", "K", array=ncoef),
            fits.Column("COEFFS", f"{width}D", array=coeffs),
        ],
        name="WINDOW",
    )
    window.header["COMMENT"] = "Windows are half-open and 0-based: [START, STOP)."
    window.header["COMMENT"] = _COEFFS_COMMENT
    q = correction.quality.data
    cols = []
    for name in q.dtype.names or ():
        column = q[name]
        if column.dtype.kind == "U":
            cols.append(
                fits.Column(name.upper(), f"{max(column.dtype.itemsize // 4, 1)}A", array=column)
            )
        elif column.dtype.kind == "i":
            cols.append(fits.Column(name.upper(), "K", array=column.astype(np.int64)))
        else:
            cols.append(fits.Column(name.upper(), "D", array=column.astype(np.float64)))
    quality = fits.BinTableHDU.from_columns(cols, name="QUALITY")
    quality.header["COMMENT"] = "DN of the corrected frame; sigma = 1.4826 * MAD."
    weights = fits.ImageHDU(np.asarray(correction.dark_weights, dtype=np.float64), name="WEIGHTS")
    weights.header["COMMENT"] = "Row k: the weight of each detector_dark in frame k's dark."
    return mark_long_strings(fits.HDUList([primary, dark, dn_s, window, quality, weights]))


def write_correction(
    correction: DarkCorrection,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Write dark-corrected light frames as a FITS product, atomically.

    Parameters
    ----------
    correction : iuvs.darks.DarkCorrection
        The result of :func:`iuvs.darks.subtract`.
    path : str or path-like
        The output file (``.gz``: gzip-compressed).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The file exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        The output is the input L1B file.
    iuvs.exceptions.FileFormatError
        The folder is missing or the written file does not verify (nothing replaced).

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1))
    >>> iuvs.io.write_correction(c, d / "c.fits").name
    'c.fits'
    """
    from iuvs.io.product import check_output_path

    inputs = [correction.source] if correction.source else []
    target = check_output_path(path, overwrite=overwrite, inputs=inputs)
    write_verified(to_hdulist(correction), target, overwrite=overwrite)
    log.info(
        "wrote %s (%d frames, method %s)", target, correction.window.shape[0], correction.method
    )
    return target


def is_correction(header: fits.Header) -> bool:
    """Whether a primary header is that of a dark-corrected light frames product.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A primary header.

    Returns
    -------
    bool
        True when ``KIND = 'dark-corrected light frames'``.

    Examples
    --------
    >>> from astropy.io import fits
    >>> is_correction(fits.Header({"KIND": KIND})), is_correction(fits.Header())
    (True, False)
    """
    return str(header.get("KIND", "")).strip() == KIND


def read_correction(hdul: fits.HDUList, name: str) -> CorrectionProduct:
    """Read an open dark-corrected light frames product (used by :func:`iuvs.io.read_product`).

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        The open file.
    name : str
        Its path (for messages and :attr:`CorrectionProduct.path`).

    Returns
    -------
    CorrectionProduct
        The cubes, windows, fits, quality table and provenance.

    Raises
    ------
    KeyError
        An extension is missing (``read_product`` turns it into ``FileFormatError``).

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> from astropy.io import fits
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> c = iuvs.darks.subtract(iuvs.synthetic.write_l1b(d, n_int=2, seed=1))
    >>> out = iuvs.io.write_correction(c, d / "c.fits")
    >>> with fits.open(out) as hdul:
    ...     read_correction(hdul, str(out)).method
    'pipeline'
    """
    from iuvs.darks import QUALITY_COLUMNS, QualityTable

    header = hdul[0].header.copy()
    t = hdul["WINDOW"].data
    window = np.stack(
        [
            np.asarray(t[c], dtype=np.int64)
            for c in ("SPA_START", "SPA_STOP", "SPE_START", "SPE_STOP")
        ],
        axis=1,
    )
    fit_ranks = np.asarray(t["FIT_RANK"], dtype=np.int64)
    ncoef = np.asarray(t["NCOEFFS"], dtype=np.int64)
    all_coeffs = np.asarray(t["COEFFS"], dtype=np.float64).reshape(len(t), -1)
    coeffs = [all_coeffs[k, : ncoef[k]].copy() for k in range(len(t))]
    qt = hdul["QUALITY"].data
    rows = np.zeros(len(qt), dtype=list(QUALITY_COLUMNS))
    for col, _ in QUALITY_COLUMNS:
        values = np.asarray(qt[col.upper()])
        rows[col] = np.char.strip(values.astype(str)) if values.dtype.kind in "SU" else values
    rank = int(header["RANK"]) if "RANK" in header else None
    return CorrectionProduct(
        path=name,
        corrected=np.asarray(hdul[0].data, dtype=np.float32),
        dark=np.asarray(hdul["DARK"].data, dtype=np.float32),
        dn_s=np.asarray(hdul["DN_S"].data, dtype=np.float64),
        window=window,
        fit_ranks=fit_ranks,
        coeffs=coeffs,
        quality=QualityTable(rows),
        dark_weights=np.asarray(hdul["WEIGHTS"].data, dtype=np.float64),
        method=str(header["METHOD"]),
        rank=rank,
        method_detail=str(header.get("DETAIL", "")),
        source=str(header.get("INPUT", "")),
        header=header,
    )
