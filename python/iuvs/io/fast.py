"""Fast reading of whole FITS files: the path :class:`~iuvs.io.L1BReader` takes first.

The file is read and, when it starts with the gzip magic bytes, inflated by
libdeflate in the Rust core without the GIL (every gzip member, CRC32 and
ISIZE checked).  The core then walks the 2880-byte header blocks and checks
every header before it is trusted (``BITPIX`` in the FITS set, ``NAXIS`` and
every ``NAXISn`` non-negative, ``PCOUNT``/``GCOUNT``, a data size that neither
overflows nor runs past the end of the file, an ``END`` card, no structural
card twice): a header that fails raises :class:`~iuvs.exceptions.FileFormatError`
naming the file, the HDU and the card, and nothing is allocated in proportion
to a header's numbers.

From the inflated bytes, :class:`FitsFile` gives

- a header as an :class:`astropy.io.fits.Header` (parsed only when asked for);
- an image as a big-endian numpy view of the bytes, without a copy, or, with
  the unsigned-integer convention (``BZERO = 2**(BITPIX-1)``, ``BSCALE = 1``),
  as the native unsigned array astropy returns;
- the columns of a binary table, located from ``TFORMn`` (codes ``L B I J K
  A E D``, repeat counts, ``TDIMn``, unsigned ``TZEROn``), equal to
  ``numpy.array(hdu.data[name])`` under astropy.

Limits (each raises :class:`Unsupported`, on which the caller falls back to
astropy, counted in :data:`FALLBACKS` and logged at debug level): a
tile-compressed image, random groups, an ASCII table or another extension
type, an image with any other ``BSCALE``/``BZERO``, a table column with other
codes (``X P Q C M``) or scaling.  The fast path only reads; products are
written by astropy.

Examples
--------
>>> import tempfile, iuvs
>>> from iuvs.io.fast import FitsFile
>>> with tempfile.TemporaryDirectory() as d:
...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, n_darks=2, seed=1))
>>> f.find("detector_dark").index, f.image(f.find("detector_dark")).shape
(11, (2, 62, 341))
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from iuvs import _core
from iuvs.exceptions import FileFormatError
from iuvs.io.files import _not_fits

__all__ = ["FALLBACKS", "FitsFile", "HDU", "Unsupported"]

log = logging.getLogger(__name__)

#: Fallbacks to astropy taken by this process, by reason.
FALLBACKS: Counter[str] = Counter()

_IMAGE_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_UNSIGNED = {16: (1 << 15, ">u2", "=u2"), 32: (1 << 31, ">u4", "=u4"), 64: (1 << 63, ">u8", "=u8")}
_COLUMN_CODES = {
    "L": ("i1", 1),
    "B": ("u1", 1),
    "I": (">i2", 2),
    "J": (">i4", 4),
    "K": (">i8", 8),
    "A": ("S1", 1),
    "E": (">f4", 4),
    "D": (">f8", 8),
}
_TFORM = re.compile(r"^\s*(\d*)\s*([A-Z])")
_TDIM = re.compile(r"^\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)\s*$")


class Unsupported(Exception):
    """The fast path does not read this; the caller reads it with astropy (reason in the text)."""


@dataclass(frozen=True)
class HDU:
    """One HDU as its checked header describes it (offsets into the inflated bytes).

    Attributes
    ----------
    index : int
        Position in the file (0 = primary).
    name : str
        EXTNAME, or ``'PRIMARY'`` for a primary HDU without one.
    xtension : str
        ``''`` (primary), ``'IMAGE'``, ``'BINTABLE'``, ...
    header_start, data_start, data_size : int
        Byte offsets of the header and the data, and the data size (no padding).
    bitpix : int
        ``BITPIX``.
    naxes : tuple of int
        ``NAXIS1 .. NAXISn`` (FITS order).
    tfields : int
        ``TFIELDS`` (0 for an image).
    zimage : bool
        A tile-compressed image (``ZIMAGE = T``).
    unusual : bool
        Random groups or an extension type other than IMAGE and BINTABLE.
    bscale, bzero, blank, checksum, datasum : str or None
        The values of these cards as written, when present.
    hdu_sum, data_sum : int or None
        Ones' complement sums of the HDU and of its data (when checksums were asked for).

    Examples
    --------
    >>> HDU(11, "detector_dark", "IMAGE", 0, 2880, 0, 32, (), 0, False, False).kind
    'image'
    """

    index: int
    name: str
    xtension: str
    header_start: int
    data_start: int
    data_size: int
    bitpix: int
    naxes: tuple[int, ...]
    tfields: int
    zimage: bool
    unusual: bool
    bscale: str | None = None
    bzero: str | None = None
    blank: str | None = None
    checksum: str | None = None
    datasum: str | None = None
    hdu_sum: int | None = None
    data_sum: int | None = None

    @property
    def kind(self) -> str:
        """``'table'`` for a (non-compressed) binary or ASCII table, else ``'image'``."""
        if self.xtension in ("BINTABLE", "TABLE") and not self.zimage:
            return "table"
        return "image"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the data, numpy order (``NAXISn`` reversed)."""
        return tuple(reversed(self.naxes))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.replace("D", "E").replace("d", "e"))
    except ValueError:
        return None


_VALUE_CARD = re.compile(r"([A-Z0-9_-]{1,8}) *= *('(?:[^']|'')*'|[^/]*)")


def _cards(header: bytes) -> dict[str, str]:
    """Return the value texts of a header's cards, first occurrence (strings unquoted)."""
    text = header.decode("ascii", "replace")
    out: dict[str, str] = {}
    for i in range(0, len(text) - 79, 80):
        if text.startswith("END     ", i):
            break
        m = _VALUE_CARD.match(text, i, i + 80)
        if m is None or text[i + 8 : i + 10] != "= " or m[1] in out:
            continue
        value = m[2].strip()
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'").rstrip()
        out[m[1]] = value
    return out


class FitsFile:
    """The inflated bytes of a FITS file and its checked HDU list.

    Use :meth:`open`.  Arrays returned by :meth:`image` are views of the bytes
    (which they keep alive); the file itself is closed when :meth:`open` returns.

    Attributes
    ----------
    fname : str
        The file.
    buffer : numpy.ndarray
        Its bytes (inflated), ``uint8``.
    hdus : list of HDU
        Every HDU, in file order.
    trailing : int
        Bytes after the last HDU that start no extension (not read).
    """

    def __init__(self, fname: str, buffer: npt.NDArray[np.uint8], hdus: list[HDU], trailing: int):
        self.fname = fname
        self.buffer = buffer
        self.hdus = hdus
        self.trailing = trailing
        self._by_name: dict[str, HDU] = {}
        for h in hdus:
            self._by_name.setdefault(h.name.upper(), h)  # the first of duplicates, as astropy

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, checksums: bool = False) -> FitsFile:
        """Read, inflate and scan a file.

        Parameters
        ----------
        path : str or path-like
            A FITS file, gzipped or not.
        checksums : bool, optional
            Also compute each HDU's ones' complement sums (see :meth:`verify_checksums`).

        Returns
        -------
        FitsFile
            The file's bytes and HDUs.

        Raises
        ------
        iuvs.exceptions.FileFormatError
            An unreadable, corrupt or truncated file, or a header that cannot be
            trusted (the file, HDU and card are named; the core's error is chained).

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, seed=1))
        >>> [h.name for h in f.hdus][:2], f.trailing
        (['PRIMARY', 'Random_dn_unc'], 0)
        """
        fname = os.fspath(path)
        try:
            buffer, _gzipped = _core.read_fits_file(fname)
            found, trailing = _core.scan_fits(buffer, checksums)
        except FileFormatError as err:
            text = str(err)
            if "truncated:" in text:
                raise FileFormatError(f"{fname} is truncated: {text}") from err
            hint = "" if " card " in text else " (is it a complete FITS file?)"
            raise FileFormatError(_not_fits(fname) or f"{fname}: cannot read {text}{hint}") from err
        hdus = [
            HDU(
                index=d["index"],
                name=d["extname"] if d["extname"] is not None else "PRIMARY",
                xtension=d["xtension"],
                header_start=d["header_start"],
                data_start=d["data_start"],
                data_size=d["data_size"],
                bitpix=d["bitpix"],
                naxes=tuple(d["naxes"]),
                tfields=d["tfields"],
                zimage=d["zimage"],
                unusual=d["unusual"],
                bscale=d["bscale"],
                bzero=d["bzero"],
                blank=d["blank"],
                checksum=d["checksum"],
                datasum=d["datasum"],
                hdu_sum=d["hdu_sum"],
                data_sum=d["data_sum"],
            )
            for d in found
        ]
        return cls(fname, buffer, hdus, trailing)

    # ------------------------------------------------------------------ access
    def find(self, *names: str) -> HDU | None:
        """Return the first HDU with one of ``names`` (case-insensitive), or None.

        Parameters
        ----------
        *names : str
            EXTNAMEs to try, in order (``'PRIMARY'`` is the primary HDU).

        Returns
        -------
        HDU or None
            The HDU.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, layout="v00", seed=1))
        >>> f.find("Dark_Integration", "DarkIntegration").name
        'DarkIntegration'
        """
        for n in names:
            h = self._by_name.get(n.upper())
            if h is not None:
                return h
        return None

    def header_bytes(self, hdu: HDU) -> bytes:
        """Return the header blocks of ``hdu`` as bytes.

        Parameters
        ----------
        hdu : HDU
            The HDU.

        Returns
        -------
        bytes
            Its header, padded to a 2880-byte block.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, seed=1))
        >>> f.header_bytes(f.hdus[0])[:6]
        b'SIMPLE'
        """
        return self.buffer[hdu.header_start : hdu.data_start].tobytes()

    def data_bytes(self, hdu: HDU) -> npt.NDArray[np.uint8]:
        """Return the data of ``hdu`` (no padding) as a ``uint8`` view of the buffer.

        Parameters
        ----------
        hdu : HDU
            The HDU.

        Returns
        -------
        numpy.ndarray
            ``data_size`` bytes.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, n_darks=2, seed=1))
        >>> f.data_bytes(f.find("detector_dark")).size
        169136
        """
        return self.buffer[hdu.data_start : hdu.data_start + hdu.data_size]

    def image(self, hdu: HDU) -> npt.NDArray[Any] | None:
        """Return the data of an image HDU as astropy would, viewing the bytes where it can.

        Parameters
        ----------
        hdu : HDU
            An image HDU (primary or ``IMAGE`` extension).

        Returns
        -------
        numpy.ndarray or None
            Big-endian array of shape :attr:`HDU.shape` (a view of the buffer);
            native unsigned (``uint16/32/64``, or ``int8`` for ``BITPIX = 8``)
            under the unsigned convention; None without data (``NAXIS = 0``).

        Raises
        ------
        Unsupported
            A compressed image, random groups, a zero-length axis or other scaling.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, n_darks=2, seed=1))
        >>> f.image(f.find("detector_dark")).dtype.str
        '>i4'
        """
        if hdu.zimage or hdu.unusual or hdu.kind != "image":
            raise Unsupported(f"HDU {hdu.index} ({hdu.name!r}) is not a plain image")
        if not hdu.naxes:
            return None
        if 0 in hdu.naxes:
            raise Unsupported(f"HDU {hdu.index} ({hdu.name!r}) has a zero-length axis")
        raw = self.data_bytes(hdu).view(_IMAGE_DTYPES[hdu.bitpix]).reshape(hdu.shape)
        bscale = 1.0 if hdu.bscale is None else _number(hdu.bscale)
        bzero = 0.0 if hdu.bzero is None else _number(hdu.bzero)
        if bscale == 1.0 and bzero == 0.0:
            return raw
        if bscale == 1.0 and hdu.bitpix in _UNSIGNED and bzero == _UNSIGNED[hdu.bitpix][0]:
            _offset, big, native = _UNSIGNED[hdu.bitpix]
            sign = np.array(_UNSIGNED[hdu.bitpix][0], dtype=big)
            unsigned: npt.NDArray[Any] = np.bitwise_xor(raw.view(big), sign).astype(native)
            return unsigned
        if bscale == 1.0 and hdu.bitpix == 8 and bzero == -128.0:
            signed: npt.NDArray[Any] = np.bitwise_xor(raw, np.uint8(0x80)).view("i1")
            return signed
        raise Unsupported(
            f"HDU {hdu.index} ({hdu.name!r}) has BSCALE = {hdu.bscale}, BZERO = {hdu.bzero}"
        )

    def table(self, hdu: HDU) -> dict[str, npt.NDArray[Any]]:
        """Return every column of a binary table, as ``numpy.array(hdu.data[name])`` under astropy.

        Parameters
        ----------
        hdu : HDU
            A ``BINTABLE`` HDU.

        Returns
        -------
        dict of str to numpy.ndarray
            Columns by ``TTYPEn`` (copies: each row of a table is interleaved),
            shape ``(rows,)`` or ``(rows, *TDIM reversed)`` or ``(rows, repeat)``.

        Raises
        ------
        Unsupported
            A column code, scaling or layout the fast path does not read.
        iuvs.exceptions.FileFormatError
            Column widths that do not add up to ``NAXIS1`` (the card is named).

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, n_darks=2, seed=1))
        >>> t = f.table(f.find("Dark_Integration"))
        >>> t["ET"].shape, t["UTC"].dtype.kind
        ((2,), 'U')
        """
        if hdu.xtension != "BINTABLE" or hdu.zimage or len(hdu.naxes) != 2:
            raise Unsupported(f"HDU {hdu.index} ({hdu.name!r}) is not a plain binary table")
        cards = _cards(self.header_bytes(hdu))
        width, rows = hdu.naxes
        where = f"{self.fname}: HDU {hdu.index} ({hdu.name!r})"
        if hdu.tfields > 999:
            raise FileFormatError(f"{where}: card TFIELDS = {hdu.tfields} is more than 999")
        layout: list[tuple[str, str, int, str, tuple[int, ...], int | None]] = []
        offset = 0
        for k in range(1, hdu.tfields + 1):
            if f"TTYPE{k}" not in cards:
                raise Unsupported(f"{where}: column {k} has no TTYPE{k}")
            name = cards[f"TTYPE{k}"]
            tform = cards.get(f"TFORM{k}", "")
            m = _TFORM.match(tform)
            if m is None:
                raise FileFormatError(f"{where}: card TFORM{k} = {tform!r} is not a FITS format")
            repeat = int(m[1]) if m[1] else 1
            code = m[2]
            if code not in _COLUMN_CODES:
                raise Unsupported(f"{where}: column {name!r} has TFORM{k} = {tform!r}")
            base, size = _COLUMN_CODES[code]
            if repeat == 0:
                raise Unsupported(f"{where}: column {name!r} has repeat 0 (TFORM{k} = {tform!r})")
            if repeat > width:
                raise FileFormatError(
                    f"{where}: card TFORM{k} = {tform!r} is wider than the row (NAXIS1 = {width})"
                )
            if f"TSCAL{k}" in cards and _number(cards[f"TSCAL{k}"]) != 1.0:
                raise Unsupported(f"{where}: column {name!r} is scaled (TSCAL{k})")
            tzero = _number(cards.get(f"TZERO{k}"))
            unsigned: int | None = None
            if tzero not in (None, 0.0):
                table_unsigned = {"I": 1 << 15, "J": 1 << 31, "K": 1 << 63}
                if table_unsigned.get(code) != tzero:
                    raise Unsupported(f"{where}: column {name!r} has TZERO{k} = {tzero}")
                unsigned = int(tzero)
            dims: tuple[int, ...] = ()
            if f"TDIM{k}" in cards:
                d = _TDIM.match(cards[f"TDIM{k}"])
                if d is None:
                    raise Unsupported(f"{where}: column {name!r} has TDIM{k} = {cards[f'TDIM{k}']}")
                dims = tuple(int(x) for x in d[1].split(","))
                if code == "A":
                    if math.prod(dims) != repeat or len(dims) < 2:
                        raise Unsupported(f"{where}: column {name!r} has TDIM{k} on a string")
                elif math.prod(dims) != repeat:
                    raise Unsupported(f"{where}: TDIM{k} does not match TFORM{k} of {name!r}")
            layout.append((name, code, repeat, base, dims, unsigned))
            offset += repeat * size
        if offset != width:
            raise FileFormatError(
                f"{where}: the columns' TFORMn add up to {offset} bytes but NAXIS1 = {width}"
            )
        fields: dict[str, Any] = {"names": [], "formats": [], "offsets": [], "itemsize": width}
        offset = 0
        for name, code, repeat, base, dims, _unsigned in layout:
            size = _COLUMN_CODES[code][1]
            if code == "A":
                fmt: Any = f"S{dims[0]}" if dims else f"S{repeat}"
                if dims:
                    fmt = (fmt, tuple(reversed(dims[1:])))
            elif dims:
                fmt = (base, tuple(reversed(dims)))
            else:
                fmt = (base, (repeat,)) if repeat != 1 else base
            fields["names"].append(name)
            fields["formats"].append(fmt)
            fields["offsets"].append(offset)
            offset += repeat * size
        if len(set(fields["names"])) != len(fields["names"]):
            raise Unsupported(f"{where}: two columns have the same TTYPEn")
        record_type: Any = np.dtype(fields)  # type: ignore[call-overload]
        records: Any = np.frombuffer(self.data_bytes(hdu)[: width * rows], dtype=record_type)
        out: dict[str, npt.NDArray[Any]] = {}
        for name, code, repeat, _base, dims, unsigned in layout:
            col = records[name]
            if code == "A":
                length = dims[0] if dims else repeat
                # astropy keeps trailing blanks (numpy drops trailing NULs)
                text = np.char.decode(col, "ascii", "replace")
                out[name] = text.astype(f"U{length}")
            elif code == "L":
                out[name] = col == ord("T")
            elif unsigned is not None:
                big = {1 << 15: ">u2", 1 << 31: ">u4", 1 << 63: ">u8"}[unsigned]
                sign = np.array(unsigned, dtype=big)
                out[name] = np.bitwise_xor(col.view(big), sign).astype("=" + big[1:])
            else:
                out[name] = np.array(col)
        return out

    def verify_checksums(self) -> None:
        """Check every HDU's ``DATASUM`` and ``CHECKSUM`` cards against its bytes.

        Needs :meth:`open` with ``checksums=True``.  An HDU without the cards passes.

        Raises
        ------
        iuvs.exceptions.FileFormatError
            On the first mismatch (``checksum mismatch`` and the HDU in the message).

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     f = FitsFile.open(iuvs.synthetic.write_l1b(d, seed=1), checksums=True)
        >>> f.verify_checksums()
        """
        for h in self.hdus:
            if h.datasum is not None and h.data_sum is not None:
                try:
                    ok = int(h.datasum) == h.data_sum
                except ValueError:
                    ok = False
                if not ok:
                    raise FileFormatError(
                        f"{self.fname}: checksum mismatch: DATASUM {h.datasum!r} of HDU "
                        f"{h.index} ({h.name!r}) but its data sum to {h.data_sum}"
                    ) from OSError("DATASUM")
            if h.checksum is not None and h.hdu_sum is not None and h.hdu_sum not in (0, 2**32 - 1):
                raise FileFormatError(
                    f"{self.fname}: checksum mismatch: CHECKSUM {h.checksum!r} of HDU {h.index} "
                    f"({h.name!r}): the HDU sums to {h.hdu_sum:#010x}, not -0"
                ) from OSError("CHECKSUM")
