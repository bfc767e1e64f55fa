"""The OGIP long-string convention's ``LONGSTRN`` card for the products iuvs writes (internal).

astropy writes a string value longer than one card (68 characters) over
``CONTINUE`` cards, the HEASARC/OGIP long-string convention (OGIP 93-013).
The convention asks for ``LONGSTRN = 'OGIP 1.0'`` in the primary header of a
file that uses it; without it ``fitsverify`` reports a warning per header.
"""

from __future__ import annotations

from astropy.io import fits

LONGSTRN = "OGIP 1.0"
_COMMENT = "The OGIP long string convention may be used."


def uses_continue(header: fits.Header) -> bool:
    """Return True if some card of ``header`` is written over ``CONTINUE`` cards.

    Examples
    --------
    >>> from astropy.io import fits
    >>> uses_continue(fits.Header([("A", "x" * 68)])), uses_continue(fits.Header([("A", "x" * 69)]))
    (False, True)
    """
    return any(isinstance(c.value, str) and len(c.image) > 80 for c in header.cards)


def mark_long_strings(hdul: fits.HDUList) -> fits.HDUList:
    """Add ``LONGSTRN = 'OGIP 1.0'`` where ``CONTINUE`` cards are used.

    The card goes into the primary header (the convention's place) when any
    header uses ``CONTINUE``, and into each header that does (where
    ``fitsverify`` looks for it).  Returns ``hdul`` (changed in place).

    Examples
    --------
    >>> from astropy.io import fits
    >>> hdul = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(name="X")])
    >>> hdul[1].header["COEFFS"] = str([1 / 3] * 4)
    >>> [h.header.get("LONGSTRN") for h in mark_long_strings(hdul)]
    ['OGIP 1.0', 'OGIP 1.0']
    """
    users = [h for h in hdul if uses_continue(h.header)]
    if users:
        for h in [hdul[0], *users]:
            if "LONGSTRN" not in h.header:
                h.header.set("LONGSTRN", LONGSTRN, _COMMENT)
    return hdul
