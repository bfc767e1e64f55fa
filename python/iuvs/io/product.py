"""The dark-fitting FITS product of the 2015 notebook: :class:`DarkWriter` and :func:`read_product`.

Layout (the notebook's ``fits.info('dark_fitting.fits')``)::

    No.  Name     Type        Dimensions  Format
    0    PRIMARY  PrimaryHDU  (341, 62)   int32     dark1
    1    DARK2    ImageHDU    (341, 62)   int32     dark2
    2    RANK-1   ImageHDU    (341, 62)   float64   dark2 - (dark1 + a)
    3    RANK0    ImageHDU    (341, 62)   float64   dark2 - a * dark1
    4    RANK1    ImageHDU    (341, 62)   float64   dark2 - poly1(dark1)
    ...                                             one per model, in the order appended

Cards, the notebook's first and in its order:

* PRIMARY: ``KIND = 'original dark'``, ``NAME = 'dark1'``; DARK2: ``KIND``.
* ``RANK<n>``: ``KIND = 'fitted dark'``, ``RANK``, ``COEFFS`` (a string
  ``str(list)`` of Python floats, highest power first, e.g.
  ``'[1.4510501785354721]'``; long lists use astropy's ``CONTINUE``
  convention), ``STDDEV`` (``numpy.std`` of the residual image over **all**
  its pixels, as the notebook's ``scaler.residual.std()``; omitted when that is
  not finite), ``EXTNAME`` and the notebook's two COMMENTs.

Then cards the notebook did not write: ``C0..Cn`` (the coefficients again as
numbers, lowest power first: ``C<k>`` multiplies ``x**k``),
``NUSED``/``NEXCL`` (pixels used in / excluded from the fit), ``FITSTD`` and
``FRACMEAN`` (residual standard deviation and mean fractional residual over
the pixels used in the fit, when finite), ``HOTTHR``/``HOTSIGMA``/``CLIPSIG``
(exclusion options, when given), ``DATE`` (UTC), ``CREATOR = 'iuvs
<version>'``, ``HISTORY`` (input files and darks used) and ``CHECKSUM``/``DATASUM``
in every HDU.  A model whose fit left pixels out (mask, hot pixels, non-finite
values, clipping) is followed by a uint8 ``MASK<n>`` image of those pixels.

Writing is safe: an existing file is kept unless ``clobber=True`` or
``overwrite=True``; the product goes to a temporary file in the destination
folder, is flushed, fsynced and re-opened with checksum verification (warnings
as errors) before :func:`os.replace` moves it into place.  On any failure the
temporary file is removed and an old file is left untouched.  A name ending in
``.gz`` is gzip-compressed.

Examples
--------
>>> import tempfile, pathlib, iuvs
>>> from iuvs.io import DarkWriter, read_product
>>> pair = iuvs.synthetic.make_dark_pair((20, 30), seed=1)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "dark_fitting.fits"
>>> w = DarkWriter(out, pair.dark_in, pair.dark_out)
>>> w.append_polyfitted(iuvs.scaling.MultScaler(pair.dark_in, pair.dark_out))
>>> w.write().name
'dark_fitting.fits'
>>> [(m.extname, m.rank) for m in read_product(out).models]
[('RANK0', 0)]
"""

from __future__ import annotations

import logging
import os
import re
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

import iuvs._core as _core
from iuvs.exceptions import (
    FileFormatError,
    InvalidParameterError,
    MissingExtensionError,
    OutputExistsError,
    ShapeMismatchError,
    UnsupportedDtypeError,
)
from iuvs.fitting import Fit
from iuvs.io._longstrn import mark_long_strings
from iuvs.io._verify import write_verified
from iuvs.io.correction import CorrectionProduct, is_correction, read_correction
from iuvs.io.files import _not_fits

__all__ = [
    "DarkWriter",
    "Product",
    "ProductModel",
    "check_output_path",
    "read_product",
]

log = logging.getLogger(__name__)

RANK_COMMENT = (
    "The rank is '-1' for 'Additive' fitting, '0' is for 'Multiplicative' fitting without "
    "additive offset. For all ranks larger than 0 it is equivalent to the degree of the "
    "polynomial fit."
)
COEFFS_COMMENT = "The coefficients are listed highest rank first."
_C_COMMENT = "C0..Cn repeat COEFFS as numbers, lowest power first: C<k> multiplies x**k."
_EXTNAME = re.compile(r"^RANK(-?\d+)$")


def _creator() -> str:
    try:
        return f"iuvs {version('iuvs')}"
    except PackageNotFoundError:  # pragma: no cover - source tree without metadata
        return "iuvs unknown"


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:  # pragma: no cover - unreadable path: fall back to names
        pass
    return a.resolve() == b.resolve()


def check_output_path(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Check that a product may be written to ``path``, before any work is done.

    Parameters
    ----------
    path : str or path-like
        The output file.
    overwrite : bool, optional
        Whether an existing file may be replaced.
    inputs : sequence of str or path-like, optional
        Input files; the output may not be one of them.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        If the file exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        If the output is one of the inputs.
    iuvs.exceptions.FileFormatError
        If the destination folder does not exist or the path is a folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from iuvs.io.product import check_output_path
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_output_path(d / "p.fits").name
    'p.fits'
    >>> (d / "p.fits").touch()
    >>> try:
    ...     check_output_path(d / "p.fits")
    ... except FileExistsError as err:
    ...     print(type(err).__name__)
    OutputExistsError
    >>> check_output_path(d / "p.fits", overwrite=True).name
    'p.fits'
    """
    target = Path(path)
    for p in inputs:
        if _same_file(Path(p), target):
            raise InvalidParameterError(
                f"the output {target} is one of the inputs; choose another output name"
            )
    folder = target.parent
    if not folder.is_dir():
        raise FileFormatError(
            f"cannot write {target}: the folder {folder} does not exist"
        ) from FileNotFoundError(str(folder))
    if target.is_dir():
        raise FileFormatError(f"cannot write {target}: it is a folder") from IsADirectoryError(
            str(target)
        )
    if target.exists() and not overwrite:
        raise OutputExistsError(
            f"{target} exists; pass overwrite=True or clobber=True (on the command line: "
            "--overwrite) to replace it"
        )
    return target


def _frame(a: npt.ArrayLike, label: str) -> npt.NDArray[Any]:
    """Return a dark as int32 when its values are whole numbers in int32 range, else as floats."""
    arr = np.asarray(a)  # a masked array gives its data
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise UnsupportedDtypeError(
            f"{label} has dtype {arr.dtype}; a product holds integer or floating-point darks"
        )
    if arr.ndim == 0:
        raise InvalidParameterError(f"{label} is a scalar; a dark is an image")
    info = np.iinfo(np.int32)
    if arr.size == 0:
        return arr.astype(np.int32)
    if kind in "iu":
        if arr.min() >= info.min and arr.max() <= info.max:
            return arr.astype(np.int32)
        return arr.astype(arr.dtype.newbyteorder("="))
    finite = bool(np.isfinite(arr).all())
    if (
        finite
        and np.array_equal(arr, np.round(arr))
        and info.min <= arr.min() <= arr.max() <= info.max
    ):
        return arr.astype(np.int32)
    return arr.astype(np.float64 if arr.dtype.itemsize > 4 else np.float32)


@dataclass(frozen=True)
class _Model:
    fit: Fit
    residual: npt.NDArray[np.float64]
    options: tuple[tuple[str, str, float], ...]
    mask: npt.NDArray[np.bool_] | None = None


def _excluded(
    fit: Fit, x: npt.ArrayLike, y: npt.ArrayLike, scaler: Any | None
) -> npt.NDArray[np.bool_] | None:
    """Pixels the fit left out (mask, hot pixels, non-finite, clipped), or None if none."""
    xa = np.asarray(x, dtype=np.float64)
    out = ~(np.isfinite(xa) & np.isfinite(np.asarray(y, dtype=np.float64)))
    if fit.mask is not None and fit.mask.shape == out.shape:
        out |= fit.mask
    if scaler is not None:
        if getattr(scaler, "mask", None) is not None:
            out |= np.asarray(scaler.mask, dtype=bool)
        if scaler.hot_threshold is not None:
            out |= xa > float(scaler.hot_threshold)
        if scaler.hot_sigma is not None:
            from iuvs.hot import hot_pixels

            out |= hot_pixels(x, sigma=float(scaler.hot_sigma)).mask
    return out if out.any() else None


class DarkWriter:
    """Write the notebook's dark-fitting product (one residual image per model), safely.

    Parameters
    ----------
    fname : str or path-like
        Output file (``.fits``, or ``.fits.gz`` for a gzipped file).
    dark1, dark2 : array_like
        The darks the models map between (``dark2 ~ model(dark1)``), same
        shape.  Written as int32 when their values are whole numbers within
        int32 range (L1B darks always are), otherwise as floats.
    clobber : bool, optional
        Replace an existing file (the 2015 name, kept for the notebook).
    overwrite : bool, optional
        Replace an existing file (the astropy name); either true allows it.
    inputs : sequence of str or path-like, optional
        Input files, recorded as ``HISTORY``; the output may not be one of them.
    darks_used : tuple of int, optional
        Indices of dark1 and dark2 in the input file, recorded as ``HISTORY``.

    Attributes
    ----------
    fname : pathlib.Path
        The output file.
    dark1, dark2 : numpy.ndarray
        The darks as they will be written.
    overwrite : bool
        Whether an existing file is replaced (``clobber`` or ``overwrite``).

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        If the file exists and neither ``clobber`` nor ``overwrite`` is true
        (checked here, before any work, and again when writing).
    iuvs.exceptions.InvalidParameterError
        If the output is one of ``inputs``.
    iuvs.exceptions.ShapeMismatchError
        If the darks differ in shape.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, iuvs
    >>> from iuvs.io import DarkWriter
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.fits"
    >>> x = np.arange(1, 13).reshape(3, 4)
    >>> w = DarkWriter(out, x, 2 * x, clobber=True)
    >>> w.append_polyfitted(iuvs.fit(x, 2 * x, rank=0))
    >>> w.write() == out
    True
    """

    def __init__(
        self,
        fname: str | os.PathLike[str],
        dark1: npt.ArrayLike,
        dark2: npt.ArrayLike,
        clobber: bool = False,
        *,
        overwrite: bool | None = None,
        inputs: Sequence[str | os.PathLike[str]] = (),
        darks_used: tuple[int, int] | None = None,
    ) -> None:
        self.overwrite = bool(clobber) or bool(overwrite)
        self.inputs = tuple(os.fspath(p) for p in inputs)
        self.darks_used = darks_used
        self.fname = check_output_path(fname, overwrite=self.overwrite, inputs=self.inputs)
        self.dark1 = _frame(dark1, "dark1")
        self.dark2 = _frame(dark2, "dark2")
        if self.dark1.shape != self.dark2.shape:
            raise ShapeMismatchError(
                f"dark1 has shape {self.dark1.shape} but dark2 has shape {self.dark2.shape}"
            )
        self._models: list[_Model] = []

    @property
    def clobber(self) -> bool:
        """The 2015 name of :attr:`overwrite`."""
        return self.overwrite

    @property
    def models(self) -> list[Fit]:
        """The fits of the models appended so far, in order."""
        return [m.fit for m in self._models]

    def append_polyfitted(
        self,
        scaler_or_fit: Any,
        dark_in: npt.ArrayLike | None = None,
        dark_out: npt.ArrayLike | None = None,
    ) -> None:
        """Add one model as a ``RANK<n>`` residual image.

        Parameters
        ----------
        scaler_or_fit : iuvs.scaling.DarkScaler or iuvs.fitting.Fit
            A scaler (fitted now if it was not) or a fit.
        dark_in, dark_out : array_like, optional
            The frames the residual ``dark_out - model(dark_in)`` is computed
            from; give both or neither.  Default: the scaler's own frames, or
            this writer's ``dark1`` and ``dark2`` for a ``Fit``.

        Raises
        ------
        TypeError
            If ``scaler_or_fit`` is neither a scaler nor a ``Fit``.
        iuvs.exceptions.InvalidParameterError
            If only one of ``dark_in`` and ``dark_out`` is given.
        iuvs.exceptions.ShapeMismatchError
            If ``dark_in`` and ``dark_out`` differ in shape.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, iuvs
        >>> from iuvs.io import DarkWriter
        >>> x = np.arange(1.0, 13.0).reshape(3, 4)
        >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, 2 * x + 1)
        >>> w.append_polyfitted(iuvs.fit(x, 2 * x + 1, 1))
        >>> [f.rank for f in w.models]
        [1]
        """
        from iuvs.scaling import DarkScaler

        if (dark_in is None) != (dark_out is None):
            raise InvalidParameterError("give both dark_in and dark_out, or neither")
        options: list[tuple[str, str, float]] = []
        if isinstance(scaler_or_fit, DarkScaler):
            fit = scaler_or_fit.fit
            x: npt.ArrayLike = scaler_or_fit.dark_in
            y: npt.ArrayLike = scaler_or_fit.dark_out
            for key, value, comment in (
                ("HOTTHR", scaler_or_fit.hot_threshold, "dark_in above this (DN) not fitted"),
                ("HOTSIGMA", scaler_or_fit.hot_sigma, "hot-pixel cut in MAD-sigmas of dark_in"),
                ("CLIPSIG", scaler_or_fit.clip, "residuals sigma-clipped at this level"),
            ):
                if value is not None:
                    options.append((key, comment, float(value)))
        elif isinstance(scaler_or_fit, Fit):
            fit = scaler_or_fit
            x, y = self.dark1, self.dark2
        else:
            raise TypeError(
                "append_polyfitted takes a scaler of iuvs.scaling or an iuvs.fitting.Fit, "
                f"not {type(scaler_or_fit).__name__}"
            )
        if dark_in is not None and dark_out is not None:
            x, y = dark_in, dark_out
        if np.shape(x) != np.shape(y):
            raise ShapeMismatchError(
                f"dark_in has shape {np.shape(x)} but dark_out has shape {np.shape(y)}"
            )
        residual = fit.residual(x, y)
        scaler = scaler_or_fit if isinstance(scaler_or_fit, DarkScaler) else None
        mask = _excluded(fit, x, y, scaler)
        self._models.append(_Model(fit, residual, tuple(options), mask))

    # ------------------------------------------------------------- building
    def _stamp(self, header: fits.Header, date: str) -> None:
        """DATE, CREATOR and the provenance HISTORY that every HDU carries."""
        header.append(fits.Card("DATE", date, "file creation date (UTC)"), bottom=True)
        header.append(
            fits.Card("CREATOR", _creator(), "software that wrote this file"), bottom=True
        )
        for p in self.inputs:
            header.add_history(f"Input file: {p}")
        if self.darks_used is not None:
            header.add_history(
                "dark1, dark2 are detector_dark[{}], detector_dark[{}]".format(*self.darks_used)
            )

    def _rank_hdu(self, model: _Model, ver: int, date: str) -> fits.ImageHDU:
        f = model.fit
        coeffs = [float(c) for c in f.coeffs]
        h = fits.Header()
        h.set("KIND", "fitted dark", "The kind of image")
        h.set("RANK", f.rank, "The degree of polynom used for the scaling.")
        h.set("COEFFS", str(coeffs))
        std = float(np.std(model.residual)) if model.residual.size else float("nan")
        if np.isfinite(std):
            h.set("STDDEV", std, "Standard deviation of residual")
        h.add_comment(RANK_COMMENT)
        h.add_comment(COEFFS_COMMENT)
        hdu = fits.ImageHDU(model.residual, header=h, name=f"RANK{f.rank}")
        out = hdu.header
        if ver > 1:
            out.append(fits.Card("EXTVER", ver, "extension version"), bottom=True)
        # C<k> multiplies x**k: lowest power first (issue "Robust fits ...", field notes 3.4)
        for k, c in enumerate(reversed(coeffs)):
            if np.isfinite(c):
                out.append(fits.Card(f"C{k}", c, f"coefficient of x**{k}"), bottom=True)
        out.add_comment(_C_COMMENT)
        # the core's statistics and counts that have a card, in its order
        s = f.stats
        for name, kind, key, comment in _core.RESIDUAL_FIELDS:
            if key is None:
                continue
            value = getattr(s, name)
            if kind == "count":
                out.append(fits.Card(key, int(value), comment), bottom=True)
            elif np.isfinite(value):
                out.append(fits.Card(key, float(value), comment), bottom=True)
        for key, comment, value in model.options:
            out.append(fits.Card(key, value, comment), bottom=True)
        self._stamp(out, date)
        return hdu

    def to_hdulist(self) -> fits.HDUList:
        """Build the product in memory (without CHECKSUM/DATASUM, added by :meth:`write`).

        Returns
        -------
        astropy.io.fits.HDUList
            PRIMARY, DARK2 and one ``RANK<n>`` image per appended model.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, iuvs
        >>> from iuvs.io import DarkWriter
        >>> x = np.arange(1, 13).reshape(3, 4)
        >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, x + 2)
        >>> w.append_polyfitted(iuvs.fit(x, x + 2, -1))
        >>> [h.name for h in w.to_hdulist()]
        ['PRIMARY', 'DARK2', 'RANK-1']
        """
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        primary = fits.PrimaryHDU(self.dark1)
        primary.header.set("KIND", "original dark", "The kind of image")
        primary.header.set("NAME", "dark1")
        self._stamp(primary.header, date)
        primary.header.add_history(f"Residuals: dark2 - model(dark1), {len(self._models)} models")
        dark2_header = fits.Header()
        dark2_header.set("KIND", "original dark", "The kind of image")
        dark2 = fits.ImageHDU(self.dark2, header=dark2_header, name="DARK2")
        self._stamp(dark2.header, date)
        hdus: list[Any] = [primary, dark2]
        seen: dict[int, int] = {}
        for model in self._models:
            seen[model.fit.rank] = seen.get(model.fit.rank, 0) + 1
            hdus.append(self._rank_hdu(model, seen[model.fit.rank], date))
            if model.mask is not None:
                hdus.append(self._mask_hdu(model, seen[model.fit.rank], date))
        return mark_long_strings(fits.HDUList(hdus))

    def _mask_hdu(self, model: _Model, ver: int, date: str) -> fits.ImageHDU:
        assert model.mask is not None
        h = fits.Header()
        h.set("KIND", "fit mask", "The kind of image")
        h.set("RANK", model.fit.rank, "The model whose fit left these pixels out")
        h.set("NMASKED", int(model.mask.sum()), "pixels left out of the fit")
        h.add_comment("1 = pixel left out of the fit (mask, hot pixel, non-finite or clipped).")
        hdu = fits.ImageHDU(model.mask.astype(np.uint8), header=h, name=f"MASK{model.fit.rank}")
        if ver > 1:
            hdu.header.set("EXTVER", ver, "extension version")
        self._stamp(hdu.header, date)
        return hdu

    # -------------------------------------------------------------- writing
    def write(self) -> Path:
        """Write the product atomically: temporary file, fsync, verify, rename.

        Returns
        -------
        pathlib.Path
            The file written.

        Raises
        ------
        iuvs.exceptions.OutputExistsError
            If the file exists (or appeared meanwhile) and replacing is not allowed.
        iuvs.exceptions.FileFormatError
            If the destination folder is missing or the written file does not
            verify (the old file, if any, is kept).
        OSError
            If the disk is full or the folder is not writable (nothing is left behind).

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np
        >>> from astropy.io import fits
        >>> from iuvs.io import DarkWriter
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.fits"
        >>> DarkWriter(out, np.zeros((2, 3)), np.ones((2, 3))).write().exists()
        True
        >>> fits.getheader(out)["CREATOR"].startswith("iuvs")
        True
        """
        target = check_output_path(self.fname, overwrite=self.overwrite, inputs=self.inputs)
        write_verified(
            self.to_hdulist(),
            target,
            overwrite=self.overwrite,
            how_to_replace="pass clobber=True or overwrite=True",
        )
        log.info("wrote %s (%d models)", target, len(self._models))
        return target


# ----------------------------------------------------------------- reading


def _eval_power(rank: int, coeffs: npt.NDArray[np.float64], x: npt.NDArray[np.float64]) -> Any:
    """Evaluate a stored model (power coefficients, highest first) on ``x``."""
    if rank == -1:
        return x + coeffs[0]
    if rank == 0:
        return coeffs[0] * x
    return np.polyval(coeffs, x)


@dataclass(frozen=True)
class ProductModel:
    """One ``RANK<n>`` extension of a product.

    Attributes
    ----------
    extname : str
        ``'RANK-1'``, ``'RANK0'``, ...
    rank : int
        -1 additive, 0 multiplicative, ``n >= 1`` polynomial degree.
    coeffs : numpy.ndarray
        Coefficients from ``COEFFS``, highest power first.
    stddev : float
        The ``STDDEV`` card (NaN when absent).
    residual : numpy.ndarray
        The residual image ``dark2 - model(dark1)`` (float64).
    header : astropy.io.fits.Header
        The extension's header.
    mask : numpy.ndarray of bool or None
        The ``MASK<n>`` image written after it: pixels the fit left out
        (mask, hot pixels, non-finite values, clipping); None if there was none.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, iuvs
    >>> from iuvs.io import DarkWriter, read_product
    >>> x = np.arange(1, 13).reshape(3, 4)
    >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, x + 4)
    >>> w.append_polyfitted(iuvs.fit(x, x + 4, -1))
    >>> m = read_product(w.write()).models[0]
    >>> m.extname, m.rank, np.round(m.coeffs, 9).tolist(), m.residual.shape
    ('RANK-1', -1, [4.0], (3, 4))
    """

    extname: str
    rank: int
    coeffs: npt.NDArray[np.float64]
    stddev: float
    residual: npt.NDArray[np.float64]
    header: fits.Header
    mask: npt.NDArray[np.bool_] | None = None


@dataclass(frozen=True)
class Product:
    """A dark-fitting product read back by :func:`read_product`.

    Attributes
    ----------
    path : str
        The file.
    dark1, dark2 : numpy.ndarray
        The two darks (PRIMARY and DARK2).
    models : tuple of ProductModel
        The ``RANK<n>`` extensions in file order.
    header : astropy.io.fits.Header
        The primary header.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, iuvs
    >>> from iuvs.io import DarkWriter, read_product
    >>> x = np.arange(1, 13).reshape(3, 4)
    >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, 2 * x)
    >>> for rank in (0, 1):
    ...     w.append_polyfitted(iuvs.fit(x, 2 * x, rank))
    >>> p = read_product(w.write())
    >>> p.ranks, p.dark1.shape, p.header["NAME"]
    ([0, 1], (3, 4), 'dark1')
    """

    path: str
    dark1: npt.NDArray[Any]
    dark2: npt.NDArray[Any]
    models: tuple[ProductModel, ...]
    header: fits.Header

    @property
    def ranks(self) -> list[int]:
        """The rank of each model, in file order."""
        return [m.rank for m in self.models]

    def fits(self, *, rtol: float = 1e-9) -> list[Fit]:
        """Rebuild every model as a full :class:`~iuvs.Fit` from the stored darks.

        The product keeps both darks and, for every model that left pixels out,
        the exact mask it used (``MASK<n>``), so refitting the model's rank on
        the stored frames with that mask reproduces the fit: coefficients,
        covariance, ``perr`` and every residual statistic.  The refitted
        coefficients are checked against the stored ``COEFFS``.  (A fit made
        with ``weights=`` cannot be rebuilt: the weights are not stored; its
        coefficients would differ and the check fails.)

        Parameters
        ----------
        rtol : float, optional
            Largest relative difference allowed between the stored and the
            refitted coefficients (scaled by the largest fitted value).

        Returns
        -------
        list of Fit
            One per model, in file order.  Pixels a model left out appear as
            excluded (``n_excluded``); for a sigma-clipped fit they are no
            longer told apart as clipped.

        Raises
        ------
        iuvs.exceptions.FileFormatError
            A model whose refit does not reproduce its stored coefficients.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, iuvs
        >>> from iuvs.io import DarkWriter, read_product
        >>> pair = iuvs.synthetic.make_dark_pair((20, 30), seed=3)
        >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", pair.dark_in, pair.dark_out)
        >>> original = iuvs.fit(pair.dark_in, pair.dark_out, 2)
        >>> w.append_polyfitted(original)
        >>> (back,) = read_product(w.write()).fits()
        >>> bool(np.allclose(back.cov, original.cov, rtol=1e-10))
        True
        """
        from iuvs.fitting import fit

        out = []
        scale = float(np.nanmax(np.abs(np.asarray(self.dark2, dtype=np.float64)))) or 1.0
        for m in self.models:
            f = fit(self.dark1, self.dark2, m.rank, mask=m.mask)
            probe = np.asarray(self.dark1, dtype=np.float64)
            same = f.coeffs.shape == m.coeffs.shape and np.allclose(
                f.coeffs, m.coeffs, rtol=rtol, atol=0.0
            )
            stored = _eval_power(m.rank, m.coeffs, probe)
            close = np.allclose(f.apply(probe), stored, rtol=0.0, atol=rtol * scale)
            if not (same or close):
                raise FileFormatError(
                    f"{self.path}: refitting {m.extname} on the stored darks does not reproduce "
                    f"its COEFFS {m.coeffs.tolist()} (got {f.coeffs.tolist()}); was it "
                    "fitted with weights, or are the darks modified?"
                )
            out.append(f)
        return out

    def model(self, rank: int) -> ProductModel:
        """Return the first model of a rank.

        Parameters
        ----------
        rank : int
            -1, 0 or a polynomial degree.

        Returns
        -------
        ProductModel
            The model.

        Raises
        ------
        iuvs.exceptions.MissingExtensionError
            If the product has no model of that rank.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, iuvs
        >>> from iuvs.io import DarkWriter, read_product
        >>> x = np.arange(1, 13).reshape(3, 4)
        >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, 3 * x)
        >>> w.append_polyfitted(iuvs.fit(x, 3 * x, 0))
        >>> round(float(read_product(w.write()).model(0).coeffs[0]), 12)
        3.0
        """
        for m in self.models:
            if m.rank == rank:
                return m
        raise MissingExtensionError(
            f"{self.path} has no RANK{rank} extension; it has: "
            + ", ".join(m.extname for m in self.models)
        )


def _parse_coeffs(text: Any, where: str) -> npt.NDArray[np.float64]:
    s = str(text).strip()
    if not (s.startswith("[") and s.endswith("]")) or not s[1:-1].strip():
        raise ValueError(f"{where}: COEFFS {s!r} is not a list of numbers")
    return np.array([float(v) for v in s[1:-1].split(",")], dtype=np.float64)


def read_product(
    path: str | os.PathLike[str], *, verify: bool = True
) -> Product | CorrectionProduct:
    """Read a dark-fitting product (written by :class:`DarkWriter` or the 2015 package).

    A dark-corrected light frames product (``iuvs subtract``,
    :func:`iuvs.io.write_correction`; primary ``KIND = 'dark-corrected light
    frames'``) is read as a :class:`~iuvs.io.correction.CorrectionProduct`.

    Parameters
    ----------
    path : str or path-like
        The product file (``.fits`` or ``.fits.gz``).
    verify : bool, optional
        Verify ``CHECKSUM``/``DATASUM`` where present and fail on a mismatch.

    Returns
    -------
    Product or CorrectionProduct
        The darks and, per ``RANK<n>`` extension, rank, coefficients
        (highest power first), ``STDDEV`` and residual image; or the
        corrected frames, darks, windows and quality of a correction product.

    Raises
    ------
    iuvs.exceptions.FileFormatError
        If the file is missing, truncated, damaged, fails its checksum, or is
        not a product (no ``DARK2``, a ``RANK`` extension without ``RANK`` or
        ``COEFFS``); the file is named and the cause chained.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, iuvs
    >>> from iuvs.io import DarkWriter, read_product
    >>> x = np.arange(1, 13).reshape(3, 4)
    >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, 2 * x + 5)
    >>> w.append_polyfitted(iuvs.fit(x, 2 * x + 5, 1))
    >>> p = read_product(w.write())
    >>> p.ranks, np.round(p.models[0].coeffs, 9).tolist(), p.dark1.dtype.name
    ([1], [2.0, 5.0], 'int32')
    """
    name = os.fspath(path)
    p = Path(name)
    if not p.exists():
        raise FileFormatError(f"{name}: no such file") from FileNotFoundError(name)
    if p.is_dir():
        raise FileFormatError(f"{name} is a folder, not a product file") from IsADirectoryError(
            name
        )
    current = "the primary HDU"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open(name, "rb") as fh, fits.open(fh, memmap=False, checksum=verify) as hdul:
                hdul.readall()
                for w in caught:
                    text = str(w.message)
                    if "truncated" in text or (verify and "hecksum" in text):
                        raise OSError(text)
                names = [h.name for h in hdul]
                if is_correction(hdul[0].header):
                    current = "a dark-corrected light frames product"
                    return read_correction(hdul, name)
                if "DARK2" not in names:
                    raise MissingExtensionError(
                        f"{name} is not a dark-fitting product: no DARK2 extension; it has: "
                        + ", ".join(names)
                    )
                dark1 = np.asarray(hdul[0].data)
                dark2 = np.asarray(hdul["DARK2"].data)
                models = []
                masks = {
                    (h.name[4:], int(h.header.get("EXTVER", 1))): np.asarray(h.data) != 0
                    for h in hdul
                    if h.name.startswith("MASK")
                }
                for i, hdu in enumerate(hdul):
                    if not _EXTNAME.match(hdu.name):
                        continue
                    current = f"extension {hdu.name} (HDU {i})"
                    header = hdu.header
                    if "RANK" not in header or "COEFFS" not in header:
                        raise ValueError(f"{current} has no RANK or COEFFS card")
                    models.append(
                        ProductModel(
                            extname=hdu.name,
                            rank=int(header["RANK"]),
                            coeffs=_parse_coeffs(header["COEFFS"], current),
                            stddev=float(header.get("STDDEV", np.nan)),
                            residual=np.asarray(hdu.data, dtype=np.float64),
                            header=header.copy(),
                            mask=masks.get((hdu.name[4:], int(header.get("EXTVER", 1)))),
                        )
                    )
                primary = hdul[0].header.copy()
    except FileFormatError:
        raise
    except (OSError, EOFError, zlib.error, ValueError, TypeError, IndexError, KeyError) as err:
        raise FileFormatError(
            _not_fits(name) or f"{name}: cannot read {current} as a dark-fitting product: {err}"
        ) from err
    return Product(name, dark1, dark2, tuple(models), primary)
