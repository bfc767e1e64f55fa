"""Write a FITS file the one safe way: temporary file beside the target, verify, rename.

Used by every FITS writer (:class:`iuvs.io.DarkWriter`,
:func:`iuvs.io.write_correction`, :func:`iuvs.darks.write_superdarks`).
"""

from __future__ import annotations

import gzip
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from iuvs._atomic import atomic_file, fsync_folder
from iuvs.exceptions import FileFormatError, OutputExistsError


def same_data(a: Any, b: Any) -> bool:
    """Return whether two HDUs' data are equal: images (NaN equal), tables column by column."""
    if a is None or b is None:
        return a is None and b is None
    if getattr(a.dtype, "names", None):
        return all(same_data(np.asarray(a[n]), np.asarray(b[n])) for n in a.dtype.names)
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "SU":
        return bool(np.array_equal(np.char.strip(a.astype(str)), np.char.strip(b.astype(str))))
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


def verify_written(tmp: str, target: Path, expected: fits.HDUList) -> None:
    """Re-open the temporary file with checksums and warnings as errors; compare the data."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # our own handle, so that it is closed even when astropy fails while opening
            with open(tmp, "rb") as fh, fits.open(fh, memmap=False, checksum=True) as check:
                check.verify("exception")
                if len(check) != len(expected):
                    raise ValueError(f"{len(check)} HDUs written, {len(expected)} expected")
                for got, want in zip(check, expected, strict=True):
                    if got.name != want.name or not same_data(got.data, want.data):
                        raise ValueError(f"HDU {want.name} does not read back as written")
    except (OSError, ValueError, TypeError, EOFError, zlib.error, Warning) as err:
        raise FileFormatError(
            f"{target}: the written product did not verify ({err}); nothing was replaced"
        ) from err


def write_verified(
    hdul: fits.HDUList,
    target: Path,
    *,
    overwrite: bool,
    how_to_replace: str = "pass overwrite=True",
) -> None:
    """Write ``hdul`` to ``target`` (gzip for ``.gz``) so that it appears complete or not at all.

    A temporary file in the target's folder is written with checksums,
    fsynced, read back with :func:`verify_written` and renamed over
    ``target``; an output that appeared meanwhile is kept unless
    ``overwrite``.  On any failure the temporary file is removed and an old
    file is left as it was.
    """

    def check(tmp: str) -> None:
        verify_written(tmp, target, hdul)
        if target.exists() and not overwrite:
            raise OutputExistsError(
                f"{target} appeared while writing; {how_to_replace} to replace it"
            )

    with atomic_file(target, check) as fh:
        if target.name.endswith(".gz"):
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                hdul.writeto(gz, checksum=True, output_verify="exception")
        else:
            hdul.writeto(fh, checksum=True, output_verify="exception")
    fsync_folder(target.parent)
