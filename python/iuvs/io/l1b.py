"""Reading IUVS Level 1B files: :class:`L1BReader`.

HDUs are found by name, case-insensitively, never by position, so the v00
cruise and v13 layouts both work.  Files are opened read-only; everything the
reader offers is read at once and the file is closed before the constructor
returns (gzipped files cannot be memory-mapped anyway), so no handle is left
open and no array refers to a closed memory map.  Pixel arrays keep their FITS
byte order (big-endian): the iuvs core reads them in place.

Files are read by the fast path of :mod:`iuvs.io.fast` (libdeflate
inflation, a checked walk over the header blocks, images viewed in place,
only the tables and headers used parsed); what it does not read (a
tile-compressed image, an unusual extension) is read by astropy instead, after
the same header checks.  Setting the environment variable
``IUVS_READER=astropy`` reads every file with astropy (for comparisons).

The header quirks of real files (a duplicate ``MIR_DEG``, repeated ``KERNEL``
cards, non-standard values) are fixed silently, as ``verify('silentfix')``
does, and astropy's warnings stay inside the reader, so it works under
``python -W error``.  A truncated file is an error, not a warning.

Notes
-----
**File format.**  What iuvs relies on about IUVS Level 1B (calibrated) files.
The product layout is defined by the IUVS PDS archive SIS [1]_ (section
6.1.2, table 19, "Calibrated data file structure"); the details below come
from two readers of IUVS files [2]_ [3]_ and the recorded output of real v00/v01
files they show, and were checked against real v13 files (orbit 18001, 2023).

*Container.*  Standard FITS, so every array is big-endian; usually the whole
file is gzipped (``.fits.gz``), sometimes not (``.fits``).  numpy shapes are
``(n, spatial, spectral)``: ``NAXIS1`` is spectral, ``NAXIS2`` spatial,
``NAXIS3`` the integrations (or darks).  When ``n`` is 1 the HDU is 2-D and
the reader adds the leading axis.  The number of light integrations is
``NAXIS3`` of the primary (1 when it is 2-D), never ``Engineering.NUMBER``.

*HDUs.*  Found by ``EXTNAME``, case-insensitively (the first of duplicate
names wins), never by position: the order differs between versions.  The
pixel HDUs are ``PRIMARY`` (radiance, kR/nm, float32, NaN fill),
``detector_raw``, ``background_dark`` (the dark the pipeline subtracted from
each integration), the dark-subtracted cube and ``detector_dark`` (the raw
dark frames, int32 DN); all but ``PRIMARY`` are in DN summed over the pixels
of a bin, per integration.  Some files have no ``detector_dark`` at all; a v13
file can hold darks from the dark observations before and after it.  Names
that changed in April 2015 (v02):

======================  ==================================  ============================
what                    v00 / v01                           v02 and later (v13: 18 HDUs)
======================  ==================================  ============================
dark-subtracted cube    ``detector_background_subtracted``  ``detector_dark_subtracted``
dark times and mirror   ``DarkIntegration``                 ``Dark_Integration``
dark engineering        ``DarkEngineering``                 ``Dark_Engineering``
dark observation        (none)                              ``Dark_Observation``
======================  ==================================  ============================

v13 files also hold ``Random_dn_unc``, ``Random_phy_unc``,
``Systematic_phy_unc``, ``quality_flag``, ``SpacecraftGeometry`` and
``PixelGeometry``.  ``Observation`` (one row) holds ``CHANNEL``,
``INT_TIME`` (s), ``ORBIT_NUMBER`` (where present) and the wavelength grid
``WAVELENGTH`` ``(spatial, spectral)``, nm.

*Temperatures.*  From v02, ``Dark_Integration`` has ``DET_TEMP_C`` and
``CASE_TEMP_C`` in deg C.  In v00/v01 files ``DarkIntegration`` has only
``TIMESTAMP``, ``ET``, ``UTC``, ``MIRROR_DN``, ``MIRROR_DEG``, ``FOV_DEG`` and
``LYA_CENTROID``; the detector temperature is the raw ``DET_TEMP`` of
``DarkEngineering``, in DN (about 2570), converted as
``deg C = DN * -0.0749 + 174.08`` (the IUVS team's conversion, as used by
[3]_: 2576 DN gives -18.9 deg C, in line with the ``DET_TEMP_C`` of later
files).  :attr:`L1BReader.dark_temperatures` and
:attr:`L1BReader.integration_temperatures` apply it.  ``CASE_TEMP`` (DN)
uses another calibration and is not converted.

*Mirror.*  ``MIRROR_DEG = (MIRROR_DN - 12939) / 364.0889`` (the team's
``mirror_dn_to_deg`` [2]_; 16087 DN gives 8.646 deg) and ``FOV_DEG`` is twice
``MIRROR_DEG``.

*Times.*  ``ET`` is ephemeris seconds past J2000; ``UTC`` strings read like
``2014/291 Oct 18 11:28:44.36433UTC`` (year/day of year, month, day, time).
``INT_TIME`` is in seconds in the primary header and ``Observation``, in
milliseconds in ``Engineering``.

*Binning.*  One row: ``SPABINWIDTH``/``SPEBINWIDTH`` give the width of every
bin, transmitted or not (summing to the 1024 detector pixels),
``SPABINTRANSMIT``/``SPEBINTRANSMIT`` flag the downlinked ones.  DN to DN/s
divides by the outer product of the transmitted widths times ``INT_TIME``
(then adds 0.001, as the 2015 reader did): :attr:`L1BReader.scaling_factor`.

*Primary header.*  Written by IDL MWRFITS: ``XUV`` (channel), ``CAPTURE``
(start, UTC), ``INT_TIME`` (s), ``MCP_VOLT``, ``BIN_TBL``, ``SPA_OFS``,
``SPA_SIZE``, ``SPE_OFS``, ``SPE_SIZE``, ``FILENAME``.  Quirks that astropy
refuses without ``verify('silentfix')``: ``MIR_DEG`` twice, repeated
``KERNEL`` cards, ``//`` comments and free-format values.

*File names.*
``mvn_iuv_<level>_<description>_<YYYYMMDD>T<HHMMSS>_v<NN>_<r|s><NN>.fits[.gz]``;
the description is ``<segment>-orbit<NNNNN>-<channel>`` in orbit (an
optional ``-mode<NNNN>`` before the channel) and
``<phase>-cycle<NN>-mode<NNN>-<channel>``, ``<phase>-mode<NNN>-<channel>`` or
``<phase>-<channel>`` in cruise, which has no orbit number.  ``r`` is a
production revision, ``s`` a stage one; folders group files by hundred orbits
(``orbit07200/`` holds orbit 7287).  See :mod:`iuvs.io.files`.

References
----------
.. [1] J. Deighan, C. Jeppesen, G. Holsclaw, "MAVEN Imaging Ultraviolet
   Spectrograph PDS Archive Software Interface Specification", NASA Planetary
   Data System, Atmospheres Node (linked from its IUVS pages, e.g.
   https://pds-atmospheres.nmsu.edu/data_and_services/atmospheres_data/MAVEN/disk.html)
.. [2] LASP IUVS team, ``maven_iuvs`` (Python), https://github.com/lasp/maven_iuvs
.. [3] K.-Michael Aye, ``iuvs`` (Python reader of 2014-2015),
   https://github.com/michaelaye/iuvs

Examples
--------
>>> import tempfile, iuvs
>>> from iuvs.io import L1BReader
>>> with tempfile.TemporaryDirectory() as d:
...     path = iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1)
...     with L1BReader(path) as l1b:
...         print(l1b.detector_dark.shape, l1b.n_integrations, l1b.int_time)
(3, 62, 341) 3 60.0
"""

from __future__ import annotations

import gzip
import io
import logging
import os
import threading
import warnings
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from iuvs.exceptions import (
    DarkIndexError,
    FileFormatError,
    InvalidParameterError,
    MissingExtensionError,
)
from iuvs.io.fast import FALLBACKS, HDU, FitsFile, Unsupported
from iuvs.io.files import _Found, _not_fits

log = logging.getLogger(__name__)

# warnings.catch_warnings saves and restores the process's filters: readers on
# several threads take turns, so that none restores another's temporary filters
_WARNINGS = threading.Lock()

__all__ = ["HDUInfo", "L1BReader"]


@dataclass(frozen=True)
class HDUInfo:
    """One extension of an L1B file, as :attr:`L1BReader.hdus` lists it.

    Attributes
    ----------
    index : int
        Position in the file (0 = primary); for display only, never used to find data.
    name : str
        EXTNAME as written (``'PRIMARY'`` for the primary HDU without one).
    kind : str
        ``'image'`` or ``'table'``.
    shape : tuple of int
        numpy shape of an image, ``(rows,)`` of a table, ``()`` when there is no data.
    dtype : str
        numpy dtype of an image (e.g. ``'>i4'``), ``'<n> columns'`` for a table.

    Examples
    --------
    >>> HDUInfo(11, "detector_dark", "image", (2, 62, 341), ">i4").shape
    (2, 62, 341)
    """

    index: int
    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str


_SUBTRACTED = ("detector_dark_subtracted", "detector_background_subtracted")
_DARK_INTEGRATION = ("Dark_Integration", "DarkIntegration")
_DARK_ENGINEERING = ("Dark_Engineering", "DarkEngineering")
_USED_TABLES = frozenset(
    n.upper()
    for n in (
        *_DARK_INTEGRATION,
        *_DARK_ENGINEERING,
        "Integration",
        "Engineering",
        "Observation",
        "Binning",
    )
)
_DARK_TABLES = frozenset(n.upper() for n in (*_DARK_INTEGRATION, *_DARK_ENGINEERING))
# raw detector temperature (DN) to deg C (module docstring, Notes: Temperatures)
_DET_TEMP_SLOPE = -0.0749
_DET_TEMP_OFFSET = 174.08
_FRAMES = {
    "raw": "detector_raw",
    "dark": "detector_dark",
    "dds": "detector_dark_subtracted",
    "background": "background_dark",
    "primary": "primary",
}


def _as_path(path: Any) -> str:
    if isinstance(path, list | tuple):
        if isinstance(path, _Found) and len(path) != 1:  # from l1b_filenames: say what it searched
            raise (FileFormatError if not path else InvalidParameterError)(
                path.no_match() if not path else path.too_many()
            )
        if len(path) != 1:
            raise InvalidParameterError(
                f"L1BReader reads one file; got a sequence of {len(path)} paths"
            )
        path = path[0]
    if not isinstance(path, str | os.PathLike):
        raise InvalidParameterError(f"expected a file path, got {type(path).__name__}")
    return os.fspath(path)


def _hdu_info(index: int, name: str, hdu: Any) -> HDUInfo:
    """Describe one HDU from its header (no data is read for this)."""
    header = hdu.header
    naxis = int(header.get("NAXIS", 0))
    if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
        rows = int(header.get("NAXIS2", 0))
        return HDUInfo(index, name, "table", (rows,), f"{int(header.get('TFIELDS', 0))} columns")
    shape = tuple(int(header.get(f"NAXIS{k}", 0)) for k in range(naxis, 0, -1))
    bitpix = int(header.get("BITPIX", 8))
    scaled = "BSCALE" in header or "BZERO" in header
    codes = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
    dtype = codes.get(bitpix, str(bitpix)) + (" (scaled)" if scaled else "")
    return HDUInfo(index, name, "image", shape if naxis else (), dtype)


def _stack(a: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
    if a is None:
        return None
    return a[np.newaxis] if a.ndim == 2 else a


# TAI - UTC (leap seconds) from these UTC dates on, for ET -> UTC
_LEAP_SECONDS = (
    (datetime(1999, 1, 1), 32),
    (datetime(2006, 1, 1), 33),
    (datetime(2009, 1, 1), 34),
    (datetime(2012, 7, 1), 35),
    (datetime(2015, 7, 1), 36),
    (datetime(2017, 1, 1), 37),
)
_J2000_TT = datetime(2000, 1, 1, 12, 0, 0)


def _et_to_utc(et: float) -> datetime:
    """UTC (naive) of ephemeris seconds past J2000, to about 2 ms (TDB - TT is ignored)."""
    tt = _J2000_TT + timedelta(seconds=float(et))
    leap = _LEAP_SECONDS[0][1]
    for start, n in _LEAP_SECONDS:
        if tt - timedelta(seconds=n + 32.184) >= start:
            leap = n
    return tt - timedelta(seconds=leap + 32.184)


def _parse_utc(s: str) -> datetime | None:
    try:
        day, _mon, _dd, clock = s.strip().removesuffix("UTC").removesuffix("UT").split()[:4]
        year, doy = day.split("/")
        whole, _, frac = clock.partition(".")
        t = datetime.strptime(f"{year} {doy} {whole}", "%Y %j %H:%M:%S")
        return t.replace(microsecond=int((frac + "000000")[:6]) if frac else 0)
    except ValueError:
        return None


_ZBITPIX = (8, 16, 32, 64, -32, -64)


def _check_compressed(f: FitsFile) -> None:
    """Check the image cards of tile-compressed HDUs before astropy trusts them.

    The uncompressed size (``ZNAXISn``, ``ZBITPIX``) must be non-negative and
    at most 1032 times (the limit of DEFLATE, beyond those of the other tile
    codecs) the HDU's data plus heap, so that astropy allocates no more than
    that.
    """
    from iuvs.io.fast import _cards

    for h in f.hdus:
        if not h.zimage:
            continue
        cards = _cards(f.header_bytes(h))
        where = f"{f.fname}: HDU {h.index} ({h.name!r})"
        try:
            zbitpix = int(cards.get("ZBITPIX", ""))
            znaxis = int(cards.get("ZNAXIS", ""))
            axes = [int(cards.get(f"ZNAXIS{k}", "")) for k in range(1, znaxis + 1)]
        except ValueError as err:
            raise FileFormatError(
                f"{where}: ZBITPIX, ZNAXIS or a ZNAXISn card is not an integer: {err}"
            ) from err
        if zbitpix not in _ZBITPIX or not 0 <= znaxis <= 999 or any(n < 0 for n in axes):
            raise FileFormatError(
                f"{where}: cards ZBITPIX = {zbitpix}, ZNAXIS = {znaxis}, ZNAXISn = {axes} "
                "do not describe an image"
            )
        size = abs(zbitpix) // 8
        for n in axes:
            size *= n
        if size > 1032 * max(h.data_size, 2880):
            raise FileFormatError(
                f"{where}: cards ZNAXISn = {axes} declare {size} bytes, more than 1032 times "
                f"the {h.data_size} compressed bytes"
            )


class L1BReader:
    """An IUVS Level 1B file, read once and closed.

    Parameters
    ----------
    path : str, path-like, or a one-element list of them
        The ``.fits`` or ``.fits.gz`` file (the notebook passes the list that
        :func:`~iuvs.io.l1b_filenames` returns).
    strict : bool, optional
        Verify the ``CHECKSUM``/``DATASUM`` cards and raise on a mismatch.
    darks_only : bool, optional
        Read only the primary header, ``detector_dark`` and the dark tables
        (about twice as fast; what :func:`iuvs.darks.superdark` needs): the
        light cubes, ``Integration``, ``Engineering``, ``Binning`` and
        ``Observation`` then read as absent.

    Attributes
    ----------
    fname : str
        The file.
    header : astropy.io.fits.Header
        The primary header.
    extensions : list of str
        The EXTNAMEs present, in file order.
    detector_dark : numpy.ndarray
        Dark frames, always ``(n_darks, spatial, spectral)``.
    detector_raw, background_dark, detector_dark_subtracted : numpy.ndarray or None
        Light-frame cubes ``(n_integrations, spatial, spectral)``; the
        subtracted cube is ``detector_dark_subtracted`` (v02+) or
        ``detector_background_subtracted`` (v00/v01).

    Raises
    ------
    iuvs.exceptions.FileFormatError
        A missing path, a folder, an empty, truncated, corrupt or non-FITS
        file (the file is named and the underlying error chained).

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     l1b = iuvs.io.L1BReader([iuvs.synthetic.write_l1b(d, n_darks=1, seed=3)])
    >>> l1b.detector_dark.shape, l1b.n_darks
    ((1, 62, 341), 1)
    """

    def __init__(self, path: Any, *, strict: bool = False, darks_only: bool = False) -> None:
        self.fname = _as_path(path)
        self._darks_only = bool(darks_only)
        p = Path(self.fname)
        if not p.exists():
            raise FileFormatError(f"{self.fname}: no such file") from FileNotFoundError(self.fname)
        if p.is_dir():
            raise FileFormatError(f"{self.fname} is a folder, not an L1B file") from (
                IsADirectoryError(self.fname)
            )
        if p.stat().st_size == 0:
            raise FileFormatError(f"{self.fname} is empty (0 bytes), not a FITS file") from (
                EOFError(f"{self.fname}: 0 bytes")
            )
        self.closed = False
        self.header: fits.Header
        self.extensions: list[str] = []
        self.hdus: list[HDUInfo] = []
        self._index: dict[str, int] = {}
        self._images: dict[str, npt.NDArray[Any] | None] = {}
        self._tables: dict[str, dict[str, npt.NDArray[Any]]] = {}
        # the fast path parses a table when it is first asked for
        self._fits: FitsFile | None = None
        self._table_hdus: dict[str, HDU] = {}
        self._read(strict)

    # ------------------------------------------------------------------ reading
    def _read(self, strict: bool) -> None:
        if os.environ.get("IUVS_READER", "").lower() == "astropy":
            self._read_astropy(strict, None)
            return
        f = FitsFile.open(self.fname, checksums=strict)
        if strict:
            f.verify_checksums()
        try:
            self._read_fast(f)
        except Unsupported as why:
            reason = str(why).removeprefix(f"{self.fname}: ")
            FALLBACKS[reason] += 1
            log.debug("%s: read with astropy: %s", self.fname, reason)
            _check_compressed(f)
            self._images = {}
            self._table_hdus = {}
            self._read_astropy(strict, io.BytesIO(f.buffer.tobytes()))

    def _read_fast(self, f: FitsFile) -> None:
        """Read what the reader offers from the inflated bytes (raises Unsupported)."""
        for h in f.hdus:
            if h.zimage or h.unusual:
                raise Unsupported(
                    f"HDU {h.index} ({h.name!r}) is a {h.xtension} the fast path does not read"
                )
        primary = f.hdus[0]
        with _WARNINGS, warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            try:
                header = fits.Header.fromstring(f.header_bytes(primary).decode("ascii", "replace"))
                # what verify('silentfix') does to each card, without warnings
                for card in header.cards:
                    card.verify("silentfix+ignore")
            except (ValueError, TypeError, KeyError, fits.VerifyError) as err:
                raise FileFormatError(
                    f"{self.fname}: cannot read the primary header: {err} "
                    "(is it a complete L1B FITS file?)"
                ) from err
        self.header = header
        self.extensions = [h.name for h in f.hdus]
        index: dict[str, int] = {}
        for i, name in enumerate(self.extensions):
            index.setdefault(name.upper(), i)  # the first of duplicates, as astropy
        index.setdefault("PRIMARY", 0)
        self._index = index
        self.hdus = []
        for h in f.hdus:
            scaled = h.bscale is not None or h.bzero is not None
            if h.kind == "table":
                info = HDUInfo(
                    h.index,
                    h.name,
                    "table",
                    (h.naxes[1] if len(h.naxes) > 1 else 0,),
                    f"{h.tfields} columns",
                )
            else:
                codes = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
                dtype = codes[h.bitpix] + (" (scaled)" if scaled else "")
                info = HDUInfo(h.index, h.name, "image", h.shape, dtype)
            self.hdus.append(info)
            key = h.name.upper()
            if index[key] != h.index:
                continue
            if h.kind == "table":
                if key in _USED_TABLES:
                    self._table_hdus[key] = h
            else:
                data = f.image(h)
                if data is not None:
                    self._images[key] = data
        if "PRIMARY" in self._index and self._index["PRIMARY"] == 0:
            self._images.setdefault("PRIMARY", self._images.get(self.extensions[0].upper()))
        self._fits = f

    def _read_astropy(self, strict: bool, source: str | io.BytesIO | None) -> None:
        """Read with astropy: ``source`` (the file when None, inflated first if gzip)."""
        current = "the primary header"
        try:
            with _WARNINGS, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if source is None:
                    source = self._source()
                # plain files are memory-mapped and each array copied out once;
                # gzip data is already in memory
                memmap = isinstance(source, str)
                with fits.open(source, mode="readonly", memmap=memmap, checksum=strict) as hdul:
                    hdul.readall()
                    self._problems(caught, strict)
                    # what verify('silentfix') does for A's reader, without warnings;
                    # the primary header is the one whose cards are read
                    hdul[0].verify("silentfix+ignore")
                    self.header = hdul[0].header.copy()
                    self.extensions = [str(h.header.get("EXTNAME", "PRIMARY")) for h in hdul]
                    index: dict[str, int] = {}
                    for i, name in enumerate(self.extensions):
                        index.setdefault(name.upper(), i)  # the first of duplicates, as astropy
                    index.setdefault("PRIMARY", 0)
                    self._index = index
                    self.hdus = []
                    for i, h in enumerate(hdul):
                        current = f"extension {self.extensions[i]!r} (HDU {i})"
                        self.hdus.append(_hdu_info(i, self.extensions[i], h))
                        key = self.extensions[i].upper()
                        if index[key] != i:
                            continue
                        if isinstance(h, fits.BinTableHDU):
                            # only the tables the reader uses are parsed: parsing and
                            # copying every table took most of the reading time
                            if (
                                key in _USED_TABLES
                                and not self._temperatures_known(key)
                                and (not self._darks_only or key in _DARK_TABLES)
                            ):
                                # plain column arrays: FITS_rec.copy() deep-copies
                                # its column definitions, which cost more than the data
                                self._tables[key] = {
                                    name: np.array(h.data[name]) for name in h.columns.names
                                }
                        elif self._darks_only and key != "DETECTOR_DARK":
                            continue
                        elif h.data is not None:
                            self._images[key] = np.array(h.data, copy=True)
                    self._problems(caught, strict)
        except FileFormatError:
            raise
        except (
            OSError,
            EOFError,
            zlib.error,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
            fits.VerifyError,
        ) as err:
            raise FileFormatError(
                _not_fits(self.fname)
                or f"{self.fname}: cannot read {current}: {err} (is it a complete L1B FITS file?)"
            ) from err
        if "PRIMARY" in self._index and self._index["PRIMARY"] == 0:
            self._images.setdefault("PRIMARY", self._images.get(self.extensions[0].upper()))

    def _temperatures_known(self, key: str) -> bool:
        """Return True if the integration table of this engineering table has DET_TEMP_C.

        Engineering tables are parsed only for their raw ``DET_TEMP`` (v00/v01 files).
        """
        pairs = {"ENGINEERING": ("INTEGRATION",)} | {
            e.upper(): tuple(i.upper() for i in _DARK_INTEGRATION) for e in _DARK_ENGINEERING
        }
        if key not in pairs:
            return False
        return any("DET_TEMP_C" in self._tables.get(i, {}) for i in pairs[key])

    @property
    def channel(self) -> str | None:
        """Channel (``'MUV'``, ``'FUV'``, ...) from the primary ``XUV`` keyword, or None."""
        value = self.header.get("XUV")
        return None if value is None else str(value).strip().upper() or None

    @property
    def binning(self) -> dict[str, Any]:
        """Binning keywords of the primary header that are present.

        ``BIN_TBL``, ``SPA_OFS``, ``SPA_SIZE``, ``SPE_OFS``, ``SPE_SIZE``
        (uniform bins; see :attr:`scaling_factor` for per-bin widths).
        """
        keys = ("BIN_TBL", "SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE")
        return {k: self.header[k] for k in keys if k in self.header}

    def _source(self) -> str | io.BytesIO:
        """Return the file, or for gzip data the whole stream decompressed first.

        Gzip is recognised by its magic bytes; decompressing the whole stream
        checks its CRC, so damage anywhere in the file is found.
        """
        with open(self.fname, "rb") as fh:
            magic = fh.read(2)
        if magic != b"\x1f\x8b":
            return self.fname
        with gzip.open(self.fname, "rb") as gz:
            return io.BytesIO(gz.read())

    def _problems(self, caught: list[warnings.WarningMessage], strict: bool) -> None:
        for w in caught:
            text = str(w.message)
            if "truncated" in text:
                raise FileFormatError(f"{self.fname} is truncated: {text}") from OSError(text)
            if strict and "hecksum" in text:
                raise FileFormatError(f"{self.fname}: checksum mismatch: {text}") from OSError(text)

    def _parse_table(self, f: FitsFile, h: HDU) -> dict[str, npt.NDArray[Any]]:
        """Return the columns of table ``h``: by the fast path, else by astropy (counted)."""
        try:
            return f.table(h)
        except Unsupported as why:
            reason = str(why).removeprefix(f"{self.fname}: ")
            FALLBACKS[reason] += 1
            log.debug("%s: table read with astropy: %s", self.fname, reason)
        raw = f.buffer[h.header_start : h.data_start + h.data_size].tobytes()
        try:
            with _WARNINGS, warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                hdu = fits.BinTableHDU.fromstring(raw)
                return {name: np.array(hdu.data[name]) for name in hdu.columns.names}
        except (OSError, ValueError, TypeError, IndexError, KeyError, fits.VerifyError) as err:
            raise FileFormatError(
                f"{self.fname}: cannot read extension {h.name!r} (HDU {h.index}): {err}"
            ) from err

    def _image(self, *names: str, required: bool = False) -> npt.NDArray[Any] | None:
        for n in names:
            if n.upper() in self._images:
                return self._images[n.upper()]
        if required:
            raise MissingExtensionError(
                f"{self.fname} has no {' or '.join(names)} extension; it has: "
                + ", ".join(self.extensions)
            )
        return None

    def _table(self, *names: str) -> Any:
        for n in names:
            key = n.upper()
            if key in self._tables:
                return self._tables[key]
            h = self._table_hdus.get(key)
            if h is not None and self._fits is not None:
                self._tables[key] = self._parse_table(self._fits, h)
                return self._tables[key]
        return None

    # --------------------------------------------------------------- the cubes
    @property
    def detector_dark(self) -> npt.NDArray[Any]:
        """Dark frames ``(n_darks, spatial, spectral)``, DN, FITS byte order."""
        dark = _stack(self._image("detector_dark", required=True))
        assert dark is not None
        return dark

    @property
    def detector_raw(self) -> npt.NDArray[Any] | None:
        """Raw light frames ``(n_integrations, spatial, spectral)``, DN."""
        return _stack(self._image("detector_raw"))

    @property
    def background_dark(self) -> npt.NDArray[Any] | None:
        """The dark subtracted from each light frame ``(n_integrations, ...)``, DN."""
        return _stack(self._image("background_dark"))

    @property
    def detector_dark_subtracted(self) -> npt.NDArray[Any] | None:
        """Raw minus background dark, from either HDU name, DN."""
        return _stack(self._image(*_SUBTRACTED))

    @property
    def primary(self) -> npt.NDArray[Any] | None:
        """Calibrated radiance (kR/nm) ``(n_integrations, spatial, spectral)``."""
        return _stack(self._images.get("PRIMARY"))

    # ------------------------------------------------------------------- sizes
    @property
    def n_darks(self) -> int:
        """Number of dark frames (0 when the file has none)."""
        d = self._image("detector_dark")
        return 0 if d is None else (1 if d.ndim == 2 else int(d.shape[0]))

    @property
    def n_integrations(self) -> int:
        """Number of light integrations (NAXIS3 of the primary, or 1 when it is 2-D)."""
        naxis = int(self.header.get("NAXIS", 0))
        if naxis >= 3:
            return int(self.header["NAXIS3"])
        if naxis == 2:
            return 1
        raw = self.detector_raw
        return 0 if raw is None else int(raw.shape[0])

    @property
    def spatial_size(self) -> int:
        """Spatial bins (NAXIS2)."""
        return int(self._frame_shape()[0])

    @property
    def spectral_size(self) -> int:
        """Spectral bins (NAXIS1)."""
        return int(self._frame_shape()[1])

    def _frame_shape(self) -> tuple[int, ...]:
        for name in ("PRIMARY", "DETECTOR_RAW", "DETECTOR_DARK"):
            a = self._images.get(name)
            if a is not None and a.ndim >= 2:
                return tuple(a.shape[-2:])
        raise MissingExtensionError(f"{self.fname} has no image to take a frame shape from")

    @property
    def int_time(self) -> float:
        """Integration time in seconds (primary ``INT_TIME``)."""
        if "INT_TIME" not in self.header:
            raise FileFormatError(
                f"{self.fname}: the primary header has no INT_TIME keyword (seconds)"
            )
        try:
            return float(self.header["INT_TIME"])
        except (TypeError, ValueError) as err:
            raise FileFormatError(
                f"{self.fname}: INT_TIME {self.header['INT_TIME']!r} is not a number"
            ) from err

    # --------------------------------------------------------------- metadata
    @property
    def wavelengths(self) -> npt.NDArray[np.float64] | None:
        """Bin-centre wavelengths (nm), ``(spatial, spectral)``, from the Observation table."""
        obs = self._table("Observation")
        if obs is None or "WAVELENGTH" not in obs:
            return None
        return np.asarray(obs["WAVELENGTH"][0], dtype=np.float64)

    @property
    def scaling_factor(self) -> npt.NDArray[np.float64]:
        """DN to DN/s divisor ``(spatial, spectral)``: transmitted bin widths times INT_TIME.

        Computed as the 2015 reader did: the widths of the transmitted
        spatial and spectral bins of the Binning table, multiplied, times the
        primary ``INT_TIME`` (s).
        """
        binning = self._table("Binning")
        if binning is None:
            raise MissingExtensionError(
                f"{self.fname} has no Binning extension; it has: " + ", ".join(self.extensions)
            )
        w_spa = np.asarray(binning["SPABINWIDTH"][0])[np.asarray(binning["SPABINTRANSMIT"][0]) == 1]
        w_spe = np.asarray(binning["SPEBINWIDTH"][0])[np.asarray(binning["SPEBINTRANSMIT"][0]) == 1]
        return np.outer(w_spa.astype(np.float64), w_spe.astype(np.float64)) * self.int_time

    def _dn_s(self, cube: npt.NDArray[Any] | None) -> npt.NDArray[np.float64] | None:
        if cube is None:
            return None
        return np.asarray(cube, dtype=np.float64) / self.scaling_factor + 0.001

    @property
    def dark_dn_s(self) -> npt.NDArray[np.float64] | None:
        """Darks in DN/s per pixel, ``detector_dark / scaling_factor + 0.001`` (the 2015 rule)."""
        return self._dn_s(self.detector_dark)

    @property
    def raw_dn_s(self) -> npt.NDArray[np.float64] | None:
        """Raw frames in DN/s per pixel (``+ 0.001`` as in the 2015 reader)."""
        return self._dn_s(self.detector_raw)

    @property
    def dds_dn_s(self) -> npt.NDArray[np.float64] | None:
        """Dark-subtracted frames in DN/s per pixel (``+ 0.001`` as in the 2015 reader)."""
        return self._dn_s(self.detector_dark_subtracted)

    @property
    def dark_det_temps(self) -> npt.NDArray[np.float64] | None:
        """Detector temperature of each dark in deg C (``DET_TEMP_C``, v02+), else None.

        v00/v01 files carry only raw DN (``DarkEngineering.DET_TEMP``), which
        is not converted here; those files give None (use
        :attr:`dark_temperatures`, which converts it).
        """
        table = self._table(*_DARK_INTEGRATION)
        if table is None or "DET_TEMP_C" not in table:
            return None
        return np.asarray(table["DET_TEMP_C"], dtype=np.float64)

    def _temperatures(
        self, integration: tuple[str, ...], engineering: tuple[str, ...]
    ) -> npt.NDArray[np.float64] | None:
        table = self._table(*integration)
        if table is not None and "DET_TEMP_C" in table:
            return np.asarray(table["DET_TEMP_C"], dtype=np.float64).reshape(-1)
        table = self._table(*engineering)
        if table is not None and "DET_TEMP" in table:
            dn = np.asarray(table["DET_TEMP"], dtype=np.float64).reshape(-1)
            return dn * _DET_TEMP_SLOPE + _DET_TEMP_OFFSET
        return None

    def _dark_temperature_source(self) -> str | None:
        """Where :attr:`dark_temperatures` comes from, in words (None: nowhere).

        Follows :meth:`_temperatures`: the first dark integration table
        present, else the first dark engineering table present.
        """
        integration = next((n for n in _DARK_INTEGRATION if self._table(n) is not None), None)
        if integration is not None and "DET_TEMP_C" in self._table(integration):
            return f"{integration}.DET_TEMP_C"
        engineering = next((n for n in _DARK_ENGINEERING if self._table(n) is not None), None)
        if engineering is not None and "DET_TEMP" in self._table(engineering):
            return (
                f"{engineering}.DET_TEMP, DN converted as "
                f"DN * {_DET_TEMP_SLOPE} + {_DET_TEMP_OFFSET}"
            )
        return None

    @property
    def dark_temperatures(self) -> npt.NDArray[np.float64] | None:
        """Detector temperature of each dark in deg C, or None.

        ``Dark_Integration.DET_TEMP_C`` where present (v02+); otherwise the
        dark engineering table's raw ``DET_TEMP`` converted as
        ``DN * -0.0749 + 174.08`` (v00/v01 files; see the file format notes of
        :mod:`iuvs.io.l1b`).
        """
        return self._temperatures(_DARK_INTEGRATION, _DARK_ENGINEERING)

    @property
    def integration_temperatures(self) -> npt.NDArray[np.float64] | None:
        """Detector temperature of each light integration in deg C, or None.

        ``Integration.DET_TEMP_C`` (v02+), else ``Engineering.DET_TEMP`` (DN)
        converted as :attr:`dark_temperatures` does.
        """
        return self._temperatures(("Integration",), ("Engineering",))

    @property
    def dark_et(self) -> npt.NDArray[np.float64] | None:
        """Ephemeris time (s past J2000) of each dark, from the dark integration table, or None."""
        table = self._table(*_DARK_INTEGRATION)
        if table is None or "ET" not in table:
            return None
        return np.asarray(table["ET"], dtype=np.float64)

    @property
    def integration_et(self) -> npt.NDArray[np.float64] | None:
        """Ephemeris time (s past J2000) of each light integration (``Integration.ET``), or None."""
        table = self._table("Integration")
        if table is None or "ET" not in table:
            return None
        return np.asarray(table["ET"], dtype=np.float64).reshape(-1)

    @property
    def observation(self) -> dict[str, Any]:
        """First row of the ``Observation`` table as a dict of column -> value (empty if absent).

        Strings are stripped (``DARK_METHOD``, ``DARK_FILES``, ...); arrays are
        returned as numpy arrays.
        """
        table = self._table("Observation")
        if table is None:
            return {}
        out: dict[str, Any] = {}
        for name, column in table.items():
            if len(column) == 0:
                continue
            value = column[0]
            if isinstance(value, bytes | np.bytes_):
                value = value.decode("ascii", "replace")
            out[name] = value.strip() if isinstance(value, str) else value
        return out

    @property
    def dark_times(self) -> list[datetime] | None:
        """UTC time (naive datetimes) of each dark, or None.

        Parsed from the ``UTC`` column of ``Dark_Integration`` /
        ``DarkIntegration`` (format ``2014/291 Oct 18 11:28:44.36433UTC``);
        where that column is absent or unreadable, converted from ``ET``
        with the leap-second table (good to a few ms).
        """
        table = self._table(*_DARK_INTEGRATION)
        if table is None:
            return None
        if "UTC" in table:
            times = [_parse_utc(str(s)) for s in table["UTC"]]
            if all(t is not None for t in times):
                return [t for t in times if t is not None]
        et = self.dark_et
        return None if et is None else [_et_to_utc(float(e)) for e in et]

    # ------------------------------------------------------------------ access
    def dark(self, index: int) -> npt.NDArray[Any]:
        """Return dark frame ``index`` (negative counts from the end).

        Parameters
        ----------
        index : int
            Dark index.

        Returns
        -------
        numpy.ndarray
            ``(spatial, spectral)``.

        Raises
        ------
        iuvs.exceptions.DarkIndexError
            If the file has fewer darks.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     l1b = iuvs.io.L1BReader(iuvs.synthetic.write_l1b(d, n_darks=2, seed=1))
        >>> l1b.dark(1).shape
        (62, 341)
        """
        return self.get_integration("dark", index)

    def get_integration(self, name: str, index: int) -> npt.NDArray[Any]:
        """Return one frame of a cube.

        Parameters
        ----------
        name : {'raw', 'dark', 'dds', 'background', 'primary'}
            The cube (``'dds'``: dark-subtracted).
        index : int
            Frame index (negative counts from the end).

        Returns
        -------
        numpy.ndarray
            ``(spatial, spectral)``.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     l1b = iuvs.io.L1BReader(iuvs.synthetic.write_l1b(d, n_int=4, seed=1))
        >>> l1b.get_integration("raw", -1).shape
        (62, 341)
        """
        if name not in _FRAMES:
            raise InvalidParameterError(f"name must be one of {sorted(_FRAMES)}, got {name!r}")
        cube: npt.NDArray[Any] | None
        if name == "raw":
            cube = self.detector_raw
        elif name == "dark":
            cube = self.detector_dark
        elif name == "dds":
            cube = self.detector_dark_subtracted
        elif name == "background":
            cube = self.background_dark
        else:
            cube = self.primary
        if cube is None:
            raise MissingExtensionError(
                f"{self.fname} has no {_FRAMES[name]} extension; it has: "
                + ", ".join(self.extensions)
            )
        n = cube.shape[0]
        if (
            isinstance(index, bool)
            or not isinstance(index, int | np.integer)
            or not -n <= index < n
        ):
            raise DarkIndexError(
                f"{self.fname}: {name} frame {index!r} requested but the file has {n} "
                f"({_FRAMES[name]} has shape {cube.shape})"
            )
        return np.asarray(cube[int(index)])

    def close(self) -> None:
        """Close the reader.

        The file itself was closed when the constructor returned and every
        array was copied out of it, so this only marks the reader closed; the
        arrays stay valid.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with iuvs.io.L1BReader(iuvs.synthetic.write_l1b(d, seed=1)) as l1b:
        ...         pass
        >>> l1b.closed, l1b.detector_dark.shape
        (True, (2, 62, 341))
        """
        self.closed = True

    def __enter__(self) -> L1BReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"L1BReader({self.fname!r}, n_darks={self.n_darks})"
