"""Files: finding and reading IUVS Level 1B files, writing and reading FITS products.

Examples
--------
>>> from iuvs import io
>>> "L1BReader" in io.__all__ and "DarkWriter" in io.__all__
True
"""

from __future__ import annotations

from iuvs.io.correction import CorrectionProduct, write_correction
from iuvs.io.files import L1BFilename, l1b_filenames, parse_l1b_filename
from iuvs.io.l1b import HDUInfo, L1BReader
from iuvs.io.product import DarkWriter, Product, read_product

__all__ = [
    "CorrectionProduct",
    "DarkWriter",
    "HDUInfo",
    "L1BFilename",
    "L1BReader",
    "Product",
    "l1b_filenames",
    "parse_l1b_filename",
    "read_product",
    "write_correction",
]
