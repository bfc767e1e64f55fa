"""The dark-fitting FITS product: :class:`DarkWriter` and :func:`read_product`.

Layout (the 2015 notebook's product, plus what makes it trustworthy):

* ``PRIMARY``: dark1 (int32); ``DARK2``: dark2 (int32);
* one float64 image ``RANK<n>`` per model holding ``dark2 - model(dark1)``
  with the cards ``KIND = 'fitted dark'``, ``RANK``, ``COEFFS`` (highest power
  first), ``STDDEV`` and the notebook's COMMENT cards, then ``C0..Cn`` (lowest
  power first, said in a COMMENT);
* ``MASK<n>`` (uint8) after a model whose fit excluded pixels by a mask, a
  hot-pixel cut or clipping;
* ``MODELS``: a binary table with every model's coefficients, covariance,
  Chebyshev form and residual statistics, so a product reads back into
  :class:`~iuvs.fitting.Fit` objects.

Every HDU carries ``CHECKSUM``/``DATASUM``, ``DATE``, ``CREATOR`` and ``HISTORY``.
Writes go to a temporary file in the destination folder, which is re-opened
and verified before it is renamed into place.

Examples
--------
>>> import tempfile, pathlib, numpy as np, iuvs
>>> from iuvs.io import DarkWriter, read_product
>>> pair = iuvs.synthetic.make_dark_pair((20, 30), seed=1)
>>> out = pathlib.Path(tempfile.mkdtemp()) / "dark_fitting.fits"
>>> w = DarkWriter(out, pair.dark_in, pair.dark_out)
>>> w.append_polyfitted(iuvs.fit(pair.dark_in, pair.dark_out, 0))
>>> w.write()
>>> [f.rank for f in read_product(out).fits]
[0]
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from iuvs.exceptions import FileFormatError, InvalidParameterError, OutputExistsError
from iuvs.fitting import Fit, ResidualStats

__all__ = ["DarkWriter", "Product", "read_product"]

_MAXP = 13
_RANK_COMMENTS = (
    "The rank is '-1' for 'Additive' fitting, '0' is for 'Multiplicative' fitting without "
    "additive offset. For all ranks larger than 0 it is equivalent to the degree of the "
    "polynomial fit.",
    "The coefficients are listed highest rank first.",
)


def _creator() -> str:
    try:
        return f"iuvs {version('iuvs')}"
    except PackageNotFoundError:  # pragma: no cover - source tree without metadata
        return "iuvs unknown"


def _extname(rank: int) -> str:
    return f"RANK{rank}"


@dataclass(frozen=True)
class Product:
    """A dark-fitting product read back.

    Attributes
    ----------
    dark1, dark2 : numpy.ndarray
        The two darks (int32).
    fits : list of Fit
        The models in file order (with their masks where one was written).
    residuals : list of numpy.ndarray
        The ``RANK<n>`` images, in the same order.
    stddev : list of float
        Their ``STDDEV`` cards (NaN where the card is absent).
    """

    dark1: npt.NDArray[Any]
    dark2: npt.NDArray[Any]
    fits: list[Fit]
    residuals: list[npt.NDArray[np.float64]]
    stddev: list[float]


@dataclass
class _Entry:
    fit: Fit
    residual: npt.NDArray[np.float64]
    mask: npt.NDArray[np.bool_] | None


class DarkWriter:
    """Write the notebook's dark-fitting product, safely.

    Parameters
    ----------
    fname : str or path-like
        Output file.
    dark1, dark2 : array_like
        The darks the models map between (written as int32).
    clobber : bool, optional
        Replace an existing file (the 2015 name of ``overwrite``).
    overwrite : bool, optional
        Replace an existing file.
    inputs : sequence of str, optional
        Input files, for ``HISTORY`` cards; the output may not be one of them.
    darks_used : tuple of int, optional
        Indices of the darks in the input file, for ``HISTORY``.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The file exists and neither ``clobber`` nor ``overwrite`` is true.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from iuvs.io import DarkWriter
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.fits"
    >>> DarkWriter(out, np.ones((2, 2)), np.ones((2, 2))).write()
    >>> out.exists()
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
        inputs: list[str] | tuple[str, ...] = (),
        darks_used: tuple[int, ...] | None = None,
    ) -> None:
        self.fname = Path(fname)
        self.replace = bool(clobber) or bool(overwrite)
        self.dark1 = np.asarray(dark1)
        self.dark2 = np.asarray(dark2)
        if self.dark1.shape != self.dark2.shape:
            raise InvalidParameterError(
                f"dark1 has shape {self.dark1.shape} but dark2 has shape {self.dark2.shape}"
            )
        self.inputs = [str(p) for p in inputs]
        self.darks_used = darks_used
        self._entries: list[_Entry] = []
        self._check_target()

    def _check_target(self) -> None:
        target = self.fname.resolve()
        for p in self.inputs:
            if Path(p).resolve() == target:
                raise InvalidParameterError(f"the output {self.fname} is one of the inputs")
        if self.fname.exists() and not self.replace:
            raise OutputExistsError(
                f"{self.fname} exists; pass clobber=True or overwrite=True to replace it"
            )

    def append_polyfitted(self, scaler_or_fit: Any) -> None:
        """Add one model: a scaler of :mod:`iuvs.scaling` or an :class:`~iuvs.fitting.Fit`.

        Parameters
        ----------
        scaler_or_fit : scaler or Fit
            For a scaler its residual is used; for a ``Fit`` the residual is
            ``dark2 - fit.apply(dark1)`` of this writer's darks.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np, iuvs
        >>> from iuvs.io import DarkWriter
        >>> x = np.arange(1.0, 13.0).reshape(3, 4)
        >>> w = DarkWriter(pathlib.Path(tempfile.mkdtemp()) / "p.fits", x, 2 * x)
        >>> w.append_polyfitted(iuvs.fit(x, 2 * x, 1))
        >>> len(w.models)
        1
        """
        fit = getattr(scaler_or_fit, "fit", scaler_or_fit)
        if not isinstance(fit, Fit):
            raise InvalidParameterError(
                f"expected a scaler or a Fit, got {type(scaler_or_fit).__name__}"
            )
        residual = np.asarray(self.dark2, dtype=np.float64) - fit.apply(self.dark1)
        mask = getattr(scaler_or_fit, "exclusion_mask", None)
        if mask is None:
            mask = fit.mask
        self._entries.append(_Entry(fit, residual, None if mask is None else np.asarray(mask)))

    @property
    def models(self) -> list[Fit]:
        """The models added so far."""
        return [e.fit for e in self._entries]

    def _history(self) -> list[str]:
        lines = [f"Written by {_creator()} on {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%S}"]
        lines += [f"Input file: {p}" for p in self.inputs]
        if self.darks_used is not None:
            lines.append("Darks used (dark1, dark2): " + ", ".join(map(str, self.darks_used)))
        return lines

    def _common(self, header: fits.Header) -> None:
        header["DATE"] = (
            datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "file creation date (UTC)",
        )
        header["CREATOR"] = (_creator(), "software that wrote this file")
        for line in self._history():
            header.add_history(line)

    def _hdus(self) -> fits.HDUList:
        primary = fits.PrimaryHDU(np.asarray(self.dark1).astype(np.int32))
        dark2 = fits.ImageHDU(np.asarray(self.dark2).astype(np.int32), name="DARK2")
        hdus: list[Any] = [primary, dark2]
        rows = []
        for e in self._entries:
            f = e.fit
            h = fits.Header()
            h["KIND"] = ("fitted dark", "The kind of image")
            h["RANK"] = (f.rank, "The degree of polynom used for the scaling.")
            h["COEFFS"] = str([float(c) for c in f.coeffs])
            finite = e.residual[np.isfinite(e.residual)]
            std = float(np.std(finite)) if finite.size else float("nan")
            if np.isfinite(std):
                h["STDDEV"] = (std, "Standard deviation of residual")
            for text in _RANK_COMMENTS:
                h.add_comment(text)
            for k, c in enumerate(f.coeffs[::-1]):
                if np.isfinite(c):
                    h[f"C{k}"] = (float(c), f"coefficient of x**{k}")
            h.add_comment("C0..Cn: the same coefficients, lowest power first.")
            self._common(h)
            hdus.append(fits.ImageHDU(e.residual, header=h, name=_extname(f.rank)))
            if e.mask is not None:
                mh = fits.Header()
                mh["RANK"] = (f.rank, "model whose fit excluded these pixels")
                mh.add_comment("1 = pixel excluded from the fit (mask, hot pixel or clipped).")
                self._common(mh)
                hdus.append(fits.ImageHDU(e.mask.astype(np.uint8), header=mh, name=f"MASK{f.rank}"))
            rows.append(f)
        for h in (primary.header, dark2.header):
            self._common(h)
        if rows:
            hdus.append(_models_table(rows, self._common))
        return fits.HDUList(hdus)

    def write(self) -> None:
        """Write the product atomically (temporary file, verify, rename).

        Raises
        ------
        iuvs.exceptions.OutputExistsError
            The file appeared meanwhile and replacing was not allowed.

        Examples
        --------
        >>> import tempfile, pathlib, numpy as np
        >>> from iuvs.io import DarkWriter
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.fits"
        >>> DarkWriter(out, np.zeros((2, 3)), np.ones((2, 3))).write()
        >>> from astropy.io import fits
        >>> fits.getheader(out)["CREATOR"].startswith("iuvs")
        True
        """
        self._check_target()
        folder = self.fname.parent if str(self.fname.parent) else Path(".")
        if not folder.is_dir():
            raise FileFormatError(f"cannot write {self.fname}: folder {folder} does not exist")
        hdul = self._hdus()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{self.fname.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                hdul.writeto(fh, checksum=True)
                fh.flush()
                os.fsync(fh.fileno())
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with fits.open(tmp, checksum=True) as check:
                    check.verify("exception")
                    for hdu in check:
                        _ = hdu.data
            if self.fname.exists() and not self.replace:
                raise OutputExistsError(
                    f"{self.fname} exists; pass clobber=True or overwrite=True to replace it"
                )
            os.replace(tmp, self.fname)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


_STAT_COLS = [f.name for f in fields(ResidualStats)]


def _models_table(rows: list[Fit], common: Any) -> fits.BinTableHDU:
    n = len(rows)

    def padded(getter: Any, width: int) -> npt.NDArray[np.float64]:
        out = np.full((n, width), np.nan)
        for i, f in enumerate(rows):
            v = np.asarray(getter(f), dtype=np.float64).ravel()
            out[i, : v.size] = v
        return out

    cols = [
        fits.Column("RANK", "J", array=np.array([f.rank for f in rows], dtype=np.int32)),
        fits.Column("COEFFS", f"{_MAXP}D", array=padded(lambda f: f.coeffs, _MAXP)),
        fits.Column("COV", f"{_MAXP * _MAXP}D", array=padded(lambda f: _pad_cov(f.cov), _MAXP**2)),
        fits.Column("CHEB", f"{_MAXP}D", array=padded(lambda f: f.cheb_coeffs, _MAXP)),
        fits.Column("CENTER", "D", array=np.array([f.center for f in rows])),
        fits.Column("HALFWID", "D", array=np.array([f.half_width for f in rows])),
        fits.Column("SSR", "D", array=np.array([f.ssr for f in rows])),
        fits.Column("CONDITION", "D", array=np.array([f.condition for f in rows])),
        fits.Column("CLIPITER", "J", array=np.array([f.clip_iterations for f in rows])),
    ]
    for name in _STAT_COLS:
        values = np.array([getattr(f.stats, name) for f in rows])
        fmt = "K" if values.dtype.kind in "iu" else "D"
        cols.append(fits.Column(name.upper(), fmt, array=values))
    hdu = fits.BinTableHDU.from_columns(cols, name="MODELS")
    hdu.header.add_comment("COEFFS: highest power first, NaN padded; COV: 13x13 row-major.")
    common(hdu.header)
    return hdu


def _pad_cov(cov: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out = np.full((_MAXP, _MAXP), np.nan)
    p = cov.shape[0]
    out[:p, :p] = cov
    return out


def read_product(path: str | os.PathLike[str]) -> Product:
    """Read a product written by :class:`DarkWriter` back into darks and fits.

    Parameters
    ----------
    path : str or path-like
        The product.

    Returns
    -------
    Product
        The darks, the :class:`~iuvs.fitting.Fit` objects, residuals and STDDEVs.

    Raises
    ------
    iuvs.exceptions.FileFormatError
        A missing, damaged or foreign file (named, cause chained).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, iuvs
    >>> from iuvs.io import DarkWriter, read_product
    >>> x = np.arange(1.0, 13.0).reshape(3, 4)
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "p.fits"
    >>> w = DarkWriter(out, x, 3 * x)
    >>> w.append_polyfitted(iuvs.fit(x, 3 * x, 0))
    >>> w.write()
    >>> round(float(read_product(out).fits[0].coeffs[0]), 12)
    3.0
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, mode="readonly", memmap=False) as hdul:
                dark1 = np.asarray(hdul[0].data)
                dark2 = np.asarray(hdul["DARK2"].data)
                table = hdul["MODELS"].data if "MODELS" in hdul else None
                images = {h.name: h for h in hdul[1:]}
                fit_list: list[Fit] = []
                residuals: list[npt.NDArray[np.float64]] = []
                stddev: list[float] = []
                n_models = 0 if table is None else len(table)
                for i in range(n_models):
                    assert table is not None
                    row = table[i]
                    rank = int(row["RANK"])
                    p = 1 if rank <= 0 else rank + 1
                    values: dict[str, Any] = {}
                    for name in _STAT_COLS:
                        v = row[name.upper()]
                        values[name] = int(v) if name.startswith("n_") else float(v)
                    stats = ResidualStats(**values)
                    mask_hdu = images.get(f"MASK{rank}")
                    fit_list.append(
                        Fit(
                            rank=rank,
                            coeffs=np.array(row["COEFFS"][:p], dtype=np.float64),
                            cov=np.array(row["COV"], dtype=np.float64).reshape(_MAXP, _MAXP)[
                                :p, :p
                            ],
                            perr=np.sqrt(
                                np.diag(
                                    np.array(row["COV"], dtype=np.float64).reshape(_MAXP, _MAXP)[
                                        :p, :p
                                    ]
                                )
                            ),
                            stats=stats,
                            center=float(row["CENTER"]),
                            half_width=float(row["HALFWID"]),
                            cheb_coeffs=np.array(
                                row["CHEB"][: p if rank > 0 else 0], dtype=np.float64
                            ),
                            ssr=float(row["SSR"]),
                            condition=float(row["CONDITION"]),
                            mask=None
                            if mask_hdu is None
                            else np.asarray(mask_hdu.data).astype(bool),
                            clip_iterations=int(row["CLIPITER"]),
                        )
                    )
                    img = images[_extname(rank)]
                    residuals.append(np.asarray(img.data, dtype=np.float64))
                    stddev.append(float(img.header.get("STDDEV", np.nan)))
    except (OSError, KeyError, ValueError, TypeError, EOFError, IndexError) as err:
        raise FileFormatError(f"{path}: not a readable iuvs dark-fitting product: {err}") from err
    return Product(dark1, dark2, fit_list, residuals, stddev)
