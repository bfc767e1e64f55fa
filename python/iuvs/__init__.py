"""iuvs: dark-frame scaling analysis for MAVEN IUVS and any detector whose darks drift.

The numerical work (least-squares fits, pixel exclusion, residual statistics,
histograms) runs in a Rust core that reads numpy arrays in place; this package
adds the L1B reader, the FITS product writer, synthetic data and the notebook
API of the 2015 team package.

Examples
--------
>>> import numpy as np, iuvs
>>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.45, seed=1)
>>> fits = iuvs.fit_all(pair.dark_in, pair.dark_out, ranks=[-1, 0, 1, 2])
>>> [f.name for f in fits]
['additive', 'multiplicative', 'poly1', 'poly2']
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

from iuvs import exceptions
from iuvs._versions import show_versions
from iuvs.batch import BatchResult, fit_batch
from iuvs.combine import Combined, combine
from iuvs.fitting import Fit, ResidualStats, fit, fit_all, model_name
from iuvs.histogram import histogram
from iuvs.hot import HotPixels, hot_pixels, hot_pixels_stack
from iuvs.median import median_filter
from iuvs.options import FitOptions
from iuvs.reporting import report
from iuvs.selection import RankChoice, choose_rank
from iuvs.threads import get_threads, set_threads

try:
    __version__ = version("iuvs")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "unknown"

_LAZY_SUBMODULES = (
    "io",
    "scaling",
    "synthetic",
    "plotting",
    "cli",
    "survey",
    "darks",
    "superdark",
    "workflow",
)


def __getattr__(name: str) -> ModuleType:
    """Import the submodules ``io``, ``scaling``, ``synthetic`` ... on first use."""
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"iuvs.{name}")
    raise AttributeError(f"module 'iuvs' has no attribute {name!r}")


__all__ = [
    "BatchResult",
    "Combined",
    "Fit",
    "FitOptions",
    "HotPixels",
    "RankChoice",
    "ResidualStats",
    "__version__",
    "choose_rank",
    "combine",
    "darks",
    "exceptions",
    "fit",
    "fit_all",
    "fit_batch",
    "get_threads",
    "histogram",
    "hot_pixels",
    "hot_pixels_stack",
    "io",
    "median_filter",
    "model_name",
    "report",
    "scaling",
    "set_threads",
    "show_versions",
    "survey",
    "synthetic",
]
