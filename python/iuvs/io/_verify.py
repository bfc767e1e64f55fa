"""Read a just-written FITS product back before it replaces anything (products and corrections)."""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from iuvs.exceptions import FileFormatError


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
