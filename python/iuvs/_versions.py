"""Versions, platform and processor facts for a bug report (:func:`show_versions`)."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

from iuvs import _core


def _version_of(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    """Collect the facts :func:`show_versions` prints, as strings keyed by name."""
    features = _core.cpu_features()
    return {
        "iuvs": _version_of("iuvs"),
        "numpy": _version_of("numpy"),
        "astropy": _version_of("astropy"),
        "scipy": _version_of("scipy"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu features": " ".join(f"{f}={'yes' if on else 'no'}" for f, on in features.items()),
        "kernels": _core.kernel_target(),
        "threads": str(_core.get_threads()),
    }


def show_versions(file: TextIO | None = None) -> None:
    """Print the versions of iuvs and its dependencies, and what its core runs on.

    For a bug report: the versions of iuvs, numpy, astropy, scipy and
    Python, the platform, the processor features the Rust core detects at run
    time (AVX-512 F/VL/DQ, AVX2, FMA, AVX), the build of its kernels that the
    dispatch selects for them (``avx512``, ``avx2+fma``, ``avx`` or
    ``baseline``; every build gives the same results) and the number of
    threads iuvs uses (see :func:`iuvs.set_threads`).

    Parameters
    ----------
    file : file-like, optional
        Where to write (default: ``sys.stdout``).

    See Also
    --------
    numpy.show_runtime : numpy's own report of the SIMD extensions it uses.

    Examples
    --------
    >>> import iuvs
    >>> iuvs.show_versions()  # doctest: +ELLIPSIS
    iuvs: ...
    numpy: ...
    astropy: ...
    scipy: ...
    python: 3...
    platform: ...
    machine: ...
    cpu features: avx512f=... avx512vl=... avx512dq=... avx2=... fma=... avx=...
    kernels: ...
    threads: ...
    """
    out = sys.stdout if file is None else file
    for name, value in versions().items():
        print(f"{name}: {value}", file=out)
