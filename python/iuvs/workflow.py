"""The workflow ``iuvs fit``, ``iuvs demo`` and :func:`iuvs.report` run on one L1B file.

:func:`analyse` reads an L1B file, takes two of its darks and fits every
requested model of the second against the first (with the chosen hot-pixel
exclusion and sigma clipping), then picks the best rank; :func:`file_metadata`
collects what the report and ``iuvs info`` show about a file.  The HTML page
is :mod:`iuvs.reporting`'s.

Examples
--------
>>> import tempfile, pathlib, iuvs
>>> from iuvs.workflow import analyse
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> l1b = iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1)
>>> a = analyse(l1b, ranks=[-1, 0, 1])
>>> [f.rank for f in a.fits]
[-1, 0, 1]
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from iuvs.exceptions import (
    InsufficientDataError,
    InvalidParameterError,
    IuvsError,
)
from iuvs.fitting import Fit
from iuvs.selection import RankChoice, choose_rank

__all__ = ["Analysis", "analyse", "file_metadata"]

log = logging.getLogger("iuvs.report")


def _time_text(t: Any) -> str:
    return "" if t is None else t.isoformat(sep=" ", timespec="milliseconds")


def file_metadata(l1b: Any) -> dict[str, Any]:
    """Collect the metadata of an L1B file that the report, ``iuvs info`` and the survey show.

    Parameters
    ----------
    l1b : iuvs.io.L1BReader
        An open reader.

    Returns
    -------
    dict
        ``file``, ``path``, filename fields (``observation``, ``segment``,
        ``orbit``, ``channel``, ``version``, ``revision``; None where the name
        does not follow the IUVS grammar), ``int_time`` (s), ``n_integrations``,
        ``n_darks``, ``dark_shape``, ``dark_times`` (ISO strings or None),
        ``dark_temps`` (deg C or None: ``Dark_Integration.DET_TEMP_C``, or for
        v00/v01 files ``DarkEngineering.DET_TEMP`` in DN converted as
        :attr:`iuvs.io.L1BReader.dark_temperatures` does), ``dark_temps_source``
        (the column they come from, or None), ``binning`` (primary keywords),
        ``capture`` (primary ``CAPTURE``) and ``why_missing`` (``{field:
        reason}`` for ``orbit`` and ``dark_temps`` when the file has no value).
        ``orbit`` comes from the file name, else from ``Observation.ORBIT_NUMBER``.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.reporting import file_metadata
    >>> with tempfile.TemporaryDirectory() as d:
    ...     meta = file_metadata(iuvs.io.L1BReader(iuvs.synthetic.write_l1b(d, seed=1)))
    >>> meta["channel"], meta["n_darks"], meta["int_time"]
    ('MUV', 2, 60.0)
    """
    from iuvs.io.files import parse_l1b_filename

    path = Path(l1b.fname)
    meta: dict[str, Any] = {"file": path.name, "path": str(path.resolve())}
    try:
        meta.update(parse_l1b_filename(path.name).fields())
    except (IuvsError, ValueError):
        meta.update(
            observation=None, segment=None, orbit=None, channel=None, version=None, revision=None
        )
    if l1b.channel:
        meta["channel"] = l1b.channel
    try:
        meta["int_time"] = l1b.int_time
    except IuvsError:
        meta["int_time"] = None
    meta["n_integrations"] = l1b.n_integrations
    darks = l1b._image("detector_dark")
    meta["n_darks"] = 0 if darks is None else l1b.n_darks
    meta["dark_shape"] = None if darks is None else list(l1b.detector_dark.shape[1:])
    times = l1b.dark_times
    meta["dark_times"] = None if times is None else [_time_text(t) for t in times]
    temps = l1b.dark_temperatures  # DET_TEMP_C, or v00/v01 DET_TEMP (DN) converted
    meta["dark_temps"] = None if temps is None else [float(t) for t in temps]
    meta["dark_temps_source"] = l1b._dark_temperature_source()
    why: dict[str, str] = {}
    if meta["orbit"] is None:
        meta["orbit"], reason = _orbit_from_observation(l1b, meta)
        if reason:
            why["orbit"] = reason
    if temps is None:
        why["dark_temps"] = (
            "not in the file: it has neither Dark_Integration.DET_TEMP_C (deg C, v02 and later) "
            "nor Dark_Engineering.DET_TEMP (DN, v00/v01)"
        )
    meta["why_missing"] = why
    meta["binning"] = {
        k: (v if isinstance(v, int | float) else str(v)) for k, v in l1b.binning.items()
    }
    capture = l1b.header.get("CAPTURE")
    meta["capture"] = None if capture is None else str(capture)
    return meta


def _orbit_from_observation(l1b: Any, meta: dict[str, Any]) -> tuple[int | None, str]:
    """Orbit number from ``Observation.ORBIT_NUMBER`` when the file name has none.

    Returns the orbit (or None) and, when None, why it is missing.
    """
    value = l1b.observation.get("ORBIT_NUMBER")
    try:
        orbit = None if value is None else int(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        orbit = None
    if orbit is not None and orbit > 0:
        return orbit, ""
    if meta.get("observation") is None:
        named = (
            "the file name does not follow the IUVS grammar "
            "(mvn_iuv_l1b_<segment>-orbitNNNNN-<channel>_<YYYYMMDD>T<HHMMSS>_vNN_rNN)"
        )
    else:
        named = (
            f"the file name has no orbitNNNNN field (segment {meta.get('segment')!r}; "
            "cruise and calibration files have no orbit)"
        )
    table = (
        "the Observation table has no ORBIT_NUMBER"
        if value is None
        else f"Observation.ORBIT_NUMBER is {orbit}"
    )
    return None, f"none: {named}, and {table}"


@dataclass
class Analysis:
    """Two darks of one L1B file and every model fitted between them.

    Attributes
    ----------
    path : pathlib.Path
        The L1B file.
    darks : tuple of int
        Indices of the darks mapped from and to (``dark_in``, ``dark_out``).
    dark_in, dark_out : numpy.ndarray
        The two frames (as read: big-endian int32 for real files).
    scalers : list of iuvs.scaling.DarkScaler
        One fitted scaler per rank, in the order asked.
    choice : iuvs.RankChoice or None
        The best rank by ``criterion`` (None when it cannot be decided).
    metadata : dict
        :func:`file_metadata` of the file.
    options : dict
        The fit options used (``hot_threshold``, ``hot_sigma``, ``clip``, ``criterion``).
    seconds : float
        Time spent reading and fitting.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     a = iuvs.reporting.analyse(iuvs.synthetic.write_l1b(d, seed=2), darks=(0, 1))
    >>> a.darks, a.chosen_fit.rank == a.choice.rank
    ((0, 1), True)
    """

    path: Path
    darks: tuple[int, int]
    dark_in: npt.NDArray[Any]
    dark_out: npt.NDArray[Any]
    scalers: list[Any]
    choice: RankChoice | None
    metadata: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def fits(self) -> list[Fit]:
        """The fitted models, one per rank."""
        return [s.fit for s in self.scalers]

    @property
    def chosen_fit(self) -> Fit:
        """The chosen model (the highest rank when no choice could be made)."""
        rank = self.choice.rank if self.choice is not None else max(f.rank for f in self.fits)
        return next(f for f in self.fits if f.rank == rank)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary: the file's metadata, the options and every model.

        Returns
        -------
        dict
            Keys ``file``, ``metadata``, ``darks``, ``options``, ``chosen_rank``,
            ``criterion``, ``models`` (rank, name, coeffs highest power first,
            perr, every residual statistic, score, chosen) and ``seconds``.
            Non-finite numbers are given as None.

        Examples
        --------
        >>> import tempfile, json, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = iuvs.synthetic.write_l1b(d, seed=1)
        ...     a = iuvs.reporting.analyse(path, darks=(0, 1), ranks=[0, 1])
        >>> [m["name"] for m in json.loads(json.dumps(a.to_dict()))["models"]]
        ['multiplicative', 'poly1']
        """
        scores = self.choice.scores if self.choice is not None else {}
        models = []
        for f in self.fits:
            stats = {k: _json_number(v) for k, v in vars(f.stats).items()}
            models.append(
                {
                    "rank": f.rank,
                    "name": f.name,
                    "coeffs": [_json_number(c) for c in f.coeffs],
                    "perr": [_json_number(c) for c in f.perr],
                    "stats": stats,
                    "score": _json_number(scores.get(f.rank, math.nan)),
                    "chosen": self.choice is not None and f.rank == self.choice.rank,
                    "clip_iterations": f.clip_iterations,
                }
            )
        return {
            "file": str(self.path),
            "metadata": _json_ready(self.metadata),
            "darks": list(self.darks),
            "options": self.options,
            "chosen_rank": None if self.choice is None else self.choice.rank,
            "criterion": self.options.get("criterion"),
            "models": models,
            "seconds": self.seconds,
        }


def _json_ready(v: Any) -> Any:
    """``v`` with every non-finite float (at any depth) replaced by None (strict JSON)."""
    if isinstance(v, dict):
        return {k: _json_ready(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_ready(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def _json_number(v: Any) -> Any:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    value = float(v)
    return value if math.isfinite(value) else None


def _check_darks(darks: Sequence[int]) -> tuple[int, int]:
    if len(darks) != 2 or any(
        isinstance(d, bool) or not isinstance(d, int | np.integer) for d in darks
    ):
        raise InvalidParameterError(f"darks must be two dark indices, got {darks!r}")
    i, j = int(darks[0]), int(darks[1])
    if i == j:
        raise InvalidParameterError(f"darks must be two different darks, got {i} twice")
    return i, j


def analyse(
    l1b_path: str | os.PathLike[str],
    *,
    darks: Sequence[int] = (1, 2),
    ranks: Iterable[int] = range(-1, 5),
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    criterion: Literal["aic", "bic", "plateau"] = "bic",
    strict: bool = False,
) -> Analysis:
    """Read an L1B file and fit ``detector_dark[j]`` against ``detector_dark[i]``.

    Parameters
    ----------
    l1b_path : str or path-like
        The L1B file (``.fits`` or ``.fits.gz``).
    darks : pair of int, optional
        ``(i, j)``: fit dark ``j`` against dark ``i`` (default ``(1, 2)``, the
        notebook's pair; negative indices count from the end).
    ranks : iterable of int, optional
        Models: -1 additive, 0 multiplicative, 1..12 polynomial degree.
    hot_threshold, hot_sigma : float, optional
        Hot-pixel exclusion (DN threshold or MAD sigmas); see :func:`iuvs.fit_all`.
    clip : float, optional
        Sigma-clip the residuals at ``clip`` standard deviations.
    criterion : {'bic', 'aic', 'plateau'}, optional
        How the best rank is chosen (:func:`iuvs.choose_rank`).
    strict : bool, optional
        Verify the file's checksums.

    Returns
    -------
    Analysis
        The frames, the fitted scalers, the chosen rank and the metadata.

    Raises
    ------
    iuvs.exceptions.FileFormatError
        The file cannot be read (missing, truncated, not FITS, no darks).
    iuvs.exceptions.DarkIndexError
        The file has fewer darks than asked for.
    iuvs.exceptions.IuvsError
        Any fitting error (e.g. a constant dark for the polynomial ranks).

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     a = iuvs.reporting.analyse(iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1))
    >>> [f.name for f in a.fits][:3], a.darks
    (['additive', 'multiplicative', 'poly1'], (1, 2))
    """
    from iuvs.io import L1BReader
    from iuvs.scaling import fit_scalers

    i, j = _check_darks(darks)
    start = time.perf_counter()
    with L1BReader(l1b_path, strict=strict) as l1b:
        dark_in, dark_out = l1b.dark(i), l1b.dark(j)
        metadata = file_metadata(l1b)
    scalers = fit_scalers(
        dark_in, dark_out, ranks, hot_threshold=hot_threshold, hot_sigma=hot_sigma, clip=clip
    )
    fits = [s.fit for s in scalers]
    try:
        choice: RankChoice | None = choose_rank(fits, criterion)
    except InsufficientDataError as err:
        log.warning("%s: no rank chosen: %s", l1b_path, err)
        choice = None
    options = {
        "hot_threshold": hot_threshold,
        "hot_sigma": hot_sigma,
        "clip": clip,
        "criterion": criterion,
    }
    return Analysis(
        Path(l1b_path),
        (i, j),
        dark_in,
        dark_out,
        scalers,
        choice,
        metadata,
        options,
        time.perf_counter() - start,
    )
