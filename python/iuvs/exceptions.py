"""Exceptions and warnings raised by :mod:`iuvs`.

Every error derives from :class:`IuvsError`, and each subclass is also the
built-in exception a caller would expect (``ValueError``, ``TypeError`` or
``OSError``), so ``except ValueError`` keeps working.

Examples
--------
>>> import numpy as np
>>> import iuvs
>>> try:
...     iuvs.fit(np.zeros((2, 3)), np.zeros((3, 2)), rank=1)
... except iuvs.exceptions.ShapeMismatchError as err:
...     print(type(err).__mro__[1].__name__)
IuvsError
"""

from __future__ import annotations

from astropy.utils.exceptions import AstropyUserWarning

__all__ = [
    "CovarianceWarning",
    "DarkIndexError",
    "DataRangeError",
    "DegenerateFitError",
    "EmptyInputError",
    "FileFormatError",
    "InsufficientDataError",
    "InvalidParameterError",
    "IuvsError",
    "IuvsWarning",
    "MissingExtensionError",
    "OutputExistsError",
    "RankError",
    "ShapeMismatchError",
    "UnsupportedDtypeError",
]


class IuvsError(Exception):
    """Base class of every error raised by iuvs."""


class ShapeMismatchError(IuvsError, ValueError):
    """Two arrays that must have the same shape do not (both shapes are in the message)."""


class EmptyInputError(IuvsError, ValueError):
    """An input array has no pixels."""


class InsufficientDataError(IuvsError, ValueError):
    """Too few usable pixels remain after exclusion for the requested model."""


class DegenerateFitError(IuvsError, ValueError):
    """The fit is rank-deficient (for example a constant ``dark_in``)."""


class DataRangeError(IuvsError, ValueError):
    """The data are too large in magnitude for float64 sums of squares (about 1e154).

    The message names the largest values; divide ``dark_in`` and ``dark_out``
    by a common factor and fit again.
    """


class RankError(IuvsError, ValueError):
    """A model rank outside -1..12 was requested."""


class InvalidParameterError(IuvsError, ValueError):
    """A parameter (threshold, bins, range, ...) has an invalid value."""


class UnsupportedDtypeError(IuvsError, TypeError):
    """An array dtype iuvs does not fit (bool, complex, object, strings, ...)."""


class DarkIndexError(IuvsError, IndexError):
    """A dark frame index outside the file's darks was requested."""


class FileFormatError(IuvsError, OSError):
    """A file is missing, unreadable, or not a valid L1B / product FITS file."""


class MissingExtensionError(FileFormatError, KeyError):
    """A required FITS extension (HDU) is absent; the message lists those present."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class OutputExistsError(IuvsError, FileExistsError):
    """An output file exists and neither ``clobber`` nor ``overwrite`` was given."""


class IuvsWarning(AstropyUserWarning):  # type: ignore[misc]
    """Numerical or file trouble that does not stop the work."""


class CovarianceWarning(IuvsWarning):
    """The parameter covariance could not be estimated (it is set to inf).

    Issued, like :class:`scipy.optimize.OptimizeWarning` by
    :func:`scipy.optimize.curve_fit`, when a fit uses exactly as many pixels
    as the model has parameters: no degree of freedom is left to estimate the
    residual variance.
    """
