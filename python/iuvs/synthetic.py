"""Synthetic MAVEN IUVS Level 1B files and dark pairs with known truth.

The files follow the L1B format described in the notes of :mod:`iuvs.io.l1b`:
the v00 cruise and v13 HDU layouts (EXTNAMEs in their mixed case), big-endian
data, whole-file gzip, the Binning table invariants, and the header quirks of
real files (a duplicate ``MIR_DEG``, repeated ``KERNEL`` cards, comment
banners, ``//`` comments and free-format values).  Everything is seeded and deterministic.

Examples
--------
>>> import tempfile, iuvs
>>> with tempfile.TemporaryDirectory() as d:
...     path = iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, seed=1)
...     print(path.name)
mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz
"""

from __future__ import annotations

import gzip as _gzip
import io as _io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from astropy.io import fits

from iuvs._atomic import atomic_file
from iuvs.exceptions import InvalidParameterError, OutputExistsError

__all__ = [
    "BAD_KINDS",
    "DARK_ARCHIVE_SETS",
    "DARK_REFERENCE_TEMPERATURE",
    "DarkPair",
    "dark_gain",
    "dark_pattern",
    "make_dark_pair",
    "make_darks",
    "write_archive",
    "write_dark_archive",
    "write_l1b",
]

_J2000_TT = datetime(2000, 1, 1, 12, 0, 0, tzinfo=timezone.utc)  # J2000 epoch on a TT clock
# TAI - UTC (leap seconds) from these UTC dates on; ET = TT + a periodic term below 2 ms
_LEAP_SECONDS = (
    (datetime(1999, 1, 1, tzinfo=timezone.utc), 32),
    (datetime(2006, 1, 1, tzinfo=timezone.utc), 33),
    (datetime(2009, 1, 1, tzinfo=timezone.utc), 34),
    (datetime(2012, 7, 1, tzinfo=timezone.utc), 35),
    (datetime(2015, 7, 1, tzinfo=timezone.utc), 36),
    (datetime(2017, 1, 1, tzinfo=timezone.utc), 37),
)
_MIRROR_DN = 17392  # MIRROR_DEG = (DN - 12939) / 364.0889 (iuvs.io.l1b notes)
_MIRROR_DEG = (_MIRROR_DN - 12939) / 364.0889
_EXTNAMES = {
    n.upper(): n
    for n in (
        "Random_dn_unc",
        "Random_phy_unc",
        "Systematic_phy_unc",
        "detector_raw",
        "detector_dark_subtracted",
        "detector_background_subtracted",
        "quality_flag",
        "background_dark",
        "Dark_Integration",
        "Dark_Engineering",
        "Dark_Observation",
        "DarkIntegration",
        "DarkEngineering",
        "detector_dark",
        "Integration",
        "Engineering",
        "Binning",
        "SpacecraftGeometry",
        "PixelGeometry",
        "Observation",
    )
}
# raw detector temperature: deg C = DN * (-0.0749) + 174.08 (iuvs.io.l1b notes)
_DET_TEMP_SLOPE = -0.0749
_DET_TEMP_OFFSET = 174.08
_KERNELS = ("naif0011.tls", "MVN_SCLKSCET_00000.TSC", "mvn_v06.tf", "de430s.bsp")


@dataclass(frozen=True)
class DarkPair:
    """Two darks with known truth: ``dark_out = curvature*x**2 + gain*x + offset + noise``.

    Made by :func:`make_dark_pair`.

    Attributes
    ----------
    dark_in, dark_out : numpy.ndarray
        The two frames.
    hot_mask : numpy.ndarray of bool
        The planted hot pixels (elevated in both frames).
    gain, offset, curvature : float
        The truth of the map from ``dark_in`` to ``dark_out``.

    Examples
    --------
    >>> import iuvs
    >>> pair = iuvs.synthetic.make_dark_pair((10, 20), gain=1.2, offset=3.0, seed=1)
    >>> pair.gain, pair.offset, pair.curvature
    (1.2, 3.0, 0.0)
    >>> pair.hot_mask.shape == pair.dark_in.shape == pair.dark_out.shape
    True
    """

    dark_in: npt.NDArray[np.generic]
    dark_out: npt.NDArray[np.generic]
    hot_mask: npt.NDArray[np.bool_]
    gain: float
    offset: float
    curvature: float


def _background(
    rng: np.random.Generator, shape: tuple[int, ...], mean: float, hot_fraction: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    base = np.clip(rng.lognormal(np.log(0.82 * mean), 0.6, shape), 0.15 * mean, None)
    hot = rng.random(shape) < hot_fraction
    base[hot] = rng.uniform(2500.0, 5000.0, int(hot.sum()))
    return base, hot


def make_dark_pair(
    shape: tuple[int, ...] = (62, 341),
    *,
    gain: float = 1.45,
    offset: float = 0.0,
    curvature: float = 0.0,
    noise: bool = True,
    hot_fraction: float = 0.002,
    mean: float = 428.0,
    dtype: str = "int32",
    seed: int = 0,
) -> DarkPair:
    """Make two darks with a known map between them.

    Parameters
    ----------
    shape : tuple of int, optional
        Frame shape ``(spatial, spectral)``.
    gain, offset, curvature : float, optional
        ``dark_out = curvature * x**2 + gain * x + offset`` (+ noise).
    noise : bool, optional
        Add Poisson-like noise (normal with variance equal to the DN).
    hot_fraction : float, optional
        Fraction of pixels that are hot (2500-5000 DN) in both frames.
    mean : float, optional
        Mean background DN of ``dark_in``.
    dtype : str, optional
        Output dtype (rounded for integer types).
    seed : int, optional
        Random seed.

    Returns
    -------
    DarkPair
        The frames, the hot-pixel mask and the truth.

    Examples
    --------
    >>> import iuvs
    >>> pair = iuvs.synthetic.make_dark_pair((62, 341), gain=1.5, noise=False, seed=3)
    >>> pair.dark_in.shape, pair.dark_in.dtype.name
    ((62, 341), 'int32')
    """
    rng = np.random.default_rng(seed)
    x, hot = _background(rng, tuple(shape), mean, hot_fraction)
    y = curvature * x**2 + gain * x + offset
    if noise:
        x = x + rng.normal(0.0, np.sqrt(x))
        y = y + rng.normal(0.0, np.sqrt(np.abs(y)))
    out_dtype = np.dtype(dtype)
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        x = np.clip(np.round(x), info.min, info.max)
        y = np.clip(np.round(y), info.min, info.max)
    return DarkPair(x.astype(out_dtype), y.astype(out_dtype), hot, gain, offset, curvature)


def make_darks(
    n_darks: int,
    shape: tuple[int, int],
    *,
    int_time: float = 60.0,
    scales: tuple[float, ...] | None = None,
    curvature: float = 0.0,
    seed: int = 0,
) -> npt.NDArray[np.int32]:
    """Make a stack of realistic int32 darks that drift multiplicatively.

    Parameters
    ----------
    n_darks : int
        Number of darks.
    shape : tuple of int
        ``(spatial, spectral)``.
    int_time : float, optional
        Integration time in seconds (the background scales with it).
    scales : tuple of float, optional
        Gain of each dark relative to the first; default ``1.0, 0.985, 1.45``
        (the v00 cruisecal2 darks: the third, taken 47 min later, is brighter).
        Dark ``k`` is ``curvature * b**2 + scales[k] * b + 8 * k`` DN for the
        background ``b`` of the first dark, plus Poisson-like noise.
    curvature : float, optional
        Quadratic term (per DN) added to every dark after the first.
    seed : int, optional
        Random seed.

    Returns
    -------
    numpy.ndarray
        ``(n_darks, spatial, spectral)`` int32.

    Examples
    --------
    >>> import iuvs
    >>> iuvs.synthetic.make_darks(3, (7, 256), seed=1).shape
    (3, 7, 256)
    """
    if scales is None:
        scales = (1.0, 0.985, 1.45, 1.5, 1.55, 1.6)[:n_darks]
    if len(scales) != n_darks:
        raise InvalidParameterError(f"{n_darks} darks need {n_darks} scales, got {len(scales)}")
    rng = np.random.default_rng(seed)
    mean = 428.0 * max(int_time, 0.1) / 60.0
    base, hot = _background(rng, shape, max(mean, 20.0), 0.002)
    darks = np.empty((n_darks, *shape), dtype=np.int32)
    for k, s in enumerate(scales):
        c = curvature if k else 0.0
        v = np.where(hot, base * (1.0 + 0.02 * k), c * base**2 + s * base + 8.0 * k)
        v = v + rng.normal(0.0, np.sqrt(np.abs(v)))
        darks[k] = np.clip(np.round(v), 0, 2**31 - 1).astype(np.int32)
    return darks


def _bin_widths(n: int, nonlinear: bool, offset: int) -> tuple[npt.NDArray[np.int16], ...]:
    """Binning-table arrays for ``n`` transmitted bins starting at pixel ``offset``."""
    if n < 1 or n > 1024:
        raise InvalidParameterError(f"a detector axis holds 1..1024 bins, got {n}")
    width = max(1, (1024 - offset) // n)
    widths = np.full(n, width, dtype=np.int64)
    if nonlinear and width > 1:
        widths[::3] -= 1
        widths[1::4] += 1
        while widths.sum() + offset > 1024:
            widths[np.argmax(widths)] -= 1
    used = int(widths.sum())
    offset = min(offset, 1024 - used)
    tail = 1024 - offset - used
    all_w = ([offset] if offset else []) + widths.tolist() + ([tail] if tail else [])
    transmit = ([0] if offset else []) + [1] * n + ([0] if tail else [])
    lo = offset + np.concatenate([[0], np.cumsum(widths)[:-1]])
    hi = lo + widths - 1
    return (
        np.asarray(all_w, dtype=np.int16),
        np.asarray(transmit, dtype=np.int16),
        lo.astype(np.int16),
        hi.astype(np.int16),
        np.asarray(offset, dtype=np.int16),
    )


def _utc(t: datetime) -> str:
    doy = t.timetuple().tm_yday
    return f"{t:%Y}/{doy:03d} {t:%b %d %H:%M:%S}.{t.microsecond // 10:05d}UTC"


def _et(t: datetime) -> float:
    """Ephemeris seconds past J2000 of the UTC time ``t`` (TT = TAI + 32.184 s)."""
    leap = max((n for start, n in _LEAP_SECONDS if start <= t), default=_LEAP_SECONDS[0][1])
    return (t - _J2000_TT).total_seconds() + leap + 32.184


def _integration_table(
    name: str,
    times: list[datetime],
    rng: np.random.Generator,
    temps: bool,
    det_temps: tuple[float, ...] | None = None,
) -> fits.BinTableHDU:
    """Integration-style table; ``det_temps`` (deg C) replace the random DET_TEMP_C values."""
    n = len(times)
    cols = [
        fits.Column(
            "TIMESTAMP", "D", array=np.array([4.5e8 + _et(t) - _et(times[0]) for t in times])
        ),
        fits.Column("ET", "D", array=np.array([_et(t) for t in times])),
        fits.Column("UTC", "40A", array=np.array([_utc(t) for t in times])),
        fits.Column("MIRROR_DN", "J", array=np.full(n, _MIRROR_DN, dtype=np.int32)),
        fits.Column("MIRROR_DEG", "E", array=np.full(n, _MIRROR_DEG, dtype=np.float32)),
        fits.Column("FOV_DEG", "E", array=np.full(n, 2 * _MIRROR_DEG, dtype=np.float32)),
        # 65535 is the fill value, so the 16-bit telemetry is stored wider
        fits.Column("LYA_CENTROID", "J", array=np.full(n, 65535, dtype=np.int32)),
    ]
    if temps:
        det = rng.normal(-17.0, 0.3, n)  # drawn in any case: the random stream stays the same
        if det_temps is not None:
            det = np.asarray(det_temps, dtype=np.float64)
        cols.append(fits.Column("DET_TEMP_C", "E", array=det.astype(np.float32)))
        cols.append(
            fits.Column("CASE_TEMP_C", "E", array=rng.normal(-15.0, 0.3, n).astype(np.float32))
        )
    return fits.BinTableHDU.from_columns(cols, name=name)


def _engineering_table(
    name: str,
    n: int,
    int_time: float,
    rng: np.random.Generator,
    det_temps: tuple[float, ...] | None = None,
) -> fits.BinTableHDU:
    """Engineering-style table; ``det_temps`` (deg C) set the raw DET_TEMP (DN)."""
    det_dn = rng.integers(2570, 2577, n).astype(np.int32)
    if det_temps is not None:
        det_dn = np.round(
            (np.asarray(det_temps, dtype=np.float64) - _DET_TEMP_OFFSET) / _DET_TEMP_SLOPE
        ).astype(np.int32)
    cols = [
        fits.Column("NUMBER", "J", array=np.arange(n, dtype=np.int32) % 3 + 1),
        fits.Column("INT_TIME", "J", array=np.full(n, int(round(int_time * 1000)), dtype=np.int32)),
        fits.Column("BIN_TYPE", "12A", array=np.array(["LINEAR"] * n)),
        fits.Column("DET_TEMP", "J", array=det_dn),
        fits.Column("CASE_TEMP", "J", array=rng.integers(15930, 15951, n).astype(np.int32)),
        fits.Column("MCP_GAIN", "J", array=np.full(n, 3471, dtype=np.int32)),
    ]
    return fits.BinTableHDU.from_columns(cols, name=name)


def _binning_table(n_spa: int, n_spe: int, nonlinear: bool) -> tuple[fits.BinTableHDU, int, int]:
    spa = _bin_widths(n_spa, nonlinear, 89 if n_spa * 8 <= 1024 - 89 else 0)
    spe = _bin_widths(n_spe, nonlinear, 0)
    label = ("NON LINEAR " if nonlinear else "LINEAR ") + "15,16 linear_0006"
    cols = [
        fits.Column("SPABINWIDTH", f"{spa[0].size}I", array=spa[0][None, :]),
        fits.Column("SPABINTRANSMIT", f"{spa[1].size}I", array=spa[1][None, :]),
        fits.Column("SPEBINWIDTH", f"{spe[0].size}I", array=spe[0][None, :]),
        fits.Column("SPEBINTRANSMIT", f"{spe[1].size}I", array=spe[1][None, :]),
        fits.Column("SPAPIXLO", f"{n_spa}I", array=spa[2][None, :]),
        fits.Column("SPAPIXHI", f"{n_spa}I", array=spa[3][None, :]),
        fits.Column("SPEPIXLO", f"{n_spe}I", array=spe[2][None, :]),
        fits.Column("SPEPIXHI", f"{n_spe}I", array=spe[3][None, :]),
        fits.Column("BINTABLENAME", f"{len(label)}A", array=np.array([label])),
    ]
    return fits.BinTableHDU.from_columns(cols, name="Binning"), int(spa[4]), int(spe[4])


def _observation_table(
    name: str,
    n_spa: int,
    binning: fits.BinTableHDU,
    int_time: float,
    channel: str,
    product_id: str,
) -> fits.BinTableHDU:
    """Observation-style table; wavelengths at the centres of the spectral bins (nm)."""
    lo, dispersion = (180.0, 0.163) if channel == "MUV" else (110.0, 0.081)  # nm, nm/pixel
    pix_lo = np.asarray(binning.data["SPEPIXLO"][0], dtype=np.float64)
    pix_hi = np.asarray(binning.data["SPEPIXHI"][0], dtype=np.float64)
    n_spe = pix_lo.size
    centre = lo + dispersion * 0.5 * (pix_lo + pix_hi)
    wl = centre[None, :] + 0.01 * np.arange(n_spa)[:, None]  # rows shifted slightly
    step = np.broadcast_to(dispersion * (pix_hi - pix_lo + 1.0), (n_spa, n_spe))
    cols = [
        fits.Column("PRODUCT_ID", "64A", array=np.array([product_id])),
        fits.Column("COLLECTION_ID", "16A", array=np.array(["cruise"])),
        fits.Column("CHANNEL", "3A", array=np.array([channel])),
        fits.Column("INT_TIME", "D", array=np.array([int_time])),
        fits.Column("MCP_VOLT", "D", array=np.array([-1.83])),
        fits.Column(
            "WAVELENGTH", f"{n_spa * n_spe}D", dim=f"({n_spe},{n_spa})", array=wl[None, :, :]
        ),
        fits.Column(
            "WAVELENGTH_WIDTH",
            f"{n_spa * n_spe}D",
            dim=f"({n_spe},{n_spa})",
            array=step[None, :, :],
        ),
    ]
    return fits.BinTableHDU.from_columns(cols, name=name)


def _primary_header(
    fname: str,
    capture: datetime,
    int_time: float,
    channel: str,
    spa_ofs: int,
    spe_ofs: int,
    spa_size: int,
    spe_size: int,
    nonlinear: bool,
) -> list[fits.Card]:
    """Return the primary cards of a real L1B file, quirks included (iuvs.io.l1b notes)."""
    raw = [
        "COMMENT  MAVEN IUVS Level 1B Data Product",
        "COMMENT  PI: Nick Schneider, LASP, University of Colorado, Boulder CO 80303",
        "COMMENT  See the data usage and acknowledgement policy before publication.",
        "COMMENT  Floating point Not-a-Number (NaN) used for fill data",
        f"CAPTURE = '{_utc(capture)}'",
        f"PROCESS = '{_utc(capture + timedelta(days=30))}'",
        "SW_VER  = '-1      '",
        f"XUV     = '{channel}     '",
        "OBS_ID  =                   80",
        f"MIR_DN  =                {_MIRROR_DN} // mirror position in DN",
        f"MIR_DEG =              {_MIRROR_DEG:.4f} / mirror angle in degrees",
        f"FOV_DEG =              {2 * _MIRROR_DEG:.3f}",
        "LYA_CENT=                65535",
        f"INT_TIME=  {int_time:.3f}  / integration time in seconds",
        "MCP_VOLT=             -1.83000",
        f"MIR_DEG =              {_MIRROR_DEG:.4f} / mirror angle again (a real duplicate)",
        "N_FILL  =                    0",
        f"BIN_TBL = '{'NON LINEAR' if nonlinear else 'LINEAR'} 15,16 linear_0006'",
        f"SPA_OFS =                 {spa_ofs:4d}",
        f"SPA_SIZE=                 {spa_size:4d}",
        f"SPE_OFS =                 {spe_ofs:4d}",
        f"SPE_SIZE=                 {spe_size:4d}",
    ]
    raw += [f"KERNEL  = '{k}'" for k in _KERNELS]
    raw += ["BUNIT   = 'kR/nm   '", "COMMENT Calibrated data for this observation (units: kR/nm)"]
    cards = [fits.Card.fromstring(r.ljust(80)) for r in raw]
    # long names need astropy's CONTINUE convention, so this card is built, not parsed
    cards.insert(4, fits.Card("FILENAME", fname))
    return cards


def _name(description: str, timestamp: str, version: int, revision: str, gz: bool) -> str:
    return f"mvn_iuv_l1b_{description}_{timestamp}_v{version:02d}_{revision}.fits" + (
        ".gz" if gz else ""
    )


_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")


def _l1b_target(path: str | os.PathLike[str], name: str) -> Path:
    """Return the file :func:`write_l1b` writes: ``path``, or ``name`` in folder ``path``."""
    text = os.fspath(path)
    target = Path(text)
    as_file = target.name.lower().endswith(_FITS_SUFFIXES) and not text.endswith(("/", os.sep))
    if as_file and not target.is_dir():
        return target
    if target.exists() and not target.is_dir():
        raise InvalidParameterError(
            f"{target} is a file, not a folder; pass a folder (created if needed) or a file "
            f"name ending in .fits or .fits.gz"
        )
    target.mkdir(parents=True, exist_ok=True)
    return target / name


def write_l1b(
    path: str | os.PathLike[str],
    *,
    layout: Literal["v13", "v00"] = "v13",
    n_spa: int = 62,
    n_spe: int = 341,
    n_int: int = 3,
    n_darks: int = 2,
    gzip: bool = True,
    seed: int = 0,
    with_darks: bool = True,
    description: str = "cruisecal2-mode080-muv",
    timestamp: str = "20140521T120029",
    version: int | None = None,
    revision: str = "r00",
    int_time: float = 60.0,
    nonlinear_binning: bool = False,
    dark_scales: tuple[float, ...] | None = None,
    dark_curvature: float = 0.0,
    overwrite: bool = False,
    dark_temps: tuple[float, ...] | None = None,
    dark_temp_coefficient: float = 0.1,
    compresslevel: int = 6,
    light: Literal["gamma", "smooth"] = "gamma",
    darks: npt.ArrayLike | None = None,
) -> Path:
    """Write a synthetic IUVS Level 1B file.

    Parameters
    ----------
    path : str or path-like
        A folder (the file is named by the IUVS grammar; the folder is created
        if needed) or a file path.  A path is a file path when its name ends in
        ``.fits``, ``.fit`` or ``.fts`` (optionally ``.gz``) and it does not end
        with a separator; anything else (``'data'``, ``'data/'``) is a folder.
    layout : {'v13', 'v00'}, optional
        ``'v13'``: the 18 HDUs of modern files; ``'v00'``: the cruise layout
        (``DarkIntegration``, ``DarkEngineering``, ``detector_background_subtracted``).
    n_spa, n_spe : int, optional
        Spatial and spectral bins.
    n_int : int, optional
        Integrations (light frames); 1 makes 2-D cubes, as real files do.
    n_darks : int, optional
        Dark frames (1 makes ``detector_dark`` 2-D).
    gzip : bool, optional
        Gzip the whole file (``.fits.gz``).
    seed : int, optional
        Random seed.
    with_darks : bool, optional
        False writes a file without ``detector_dark`` (as some real ones are).
    description, timestamp : str, optional
        Filename fields.
    version : int, optional
        Default 0 for v00 and 13 for v13.
    revision : str, optional
        ``'rNN'`` (production) or ``'sNN'`` (stage).
    int_time : float, optional
        Integration time in seconds.
    nonlinear_binning : bool, optional
        Unequal bin widths ('NON LINEAR' bin table).
    dark_scales : tuple of float, optional
        Gain of each dark relative to the first (see :func:`make_darks`).
    dark_curvature : float, optional
        Quadratic term of the later darks against the first (see :func:`make_darks`).
    overwrite : bool, optional
        Replace an existing file.
    dark_temps : tuple of float, optional
        Detector temperature of each dark in deg C.  Written to
        ``Dark_Integration.DET_TEMP_C`` (v13 layout) and, as raw DN
        (``DN = (T - 174.08) / -0.0749``), to the dark engineering table's
        ``DET_TEMP`` (both layouts); v00 files have no ``DET_TEMP_C`` column.
        The darks then drift with temperature: dark ``k`` has the gain
        ``exp(dark_temp_coefficient * (dark_temps[k] - dark_temps[0]))``
        relative to the first (times ``dark_scales[k]`` when both are given).
        Default: random temperatures near -17 deg C that do not affect the darks.
    dark_temp_coefficient : float, optional
        Relative change of the dark level per deg C (default 0.1: the dark
        level doubles about every 7 deg C).
    compresslevel : int, optional
        zlib level of the gzip stream, 1 (fastest) .. 9 (default 6, as gzip(1)).
    light : {'gamma', 'smooth'}, optional
        ``'gamma'`` (default): the light frames are the darks interpolated in
        time plus random gamma-distributed counts.  ``'smooth'``: light frames
        whose dark is known exactly, for testing dark corrections: a smooth
        emission (two Gaussian lines along the spectral axis times a smooth
        spatial profile, near zero far from the lines) plus a true dark that
        drifts with the detector temperature, ``exp(dark_temp_coefficient *
        (T - dark_temps[0]))`` times the noise-free background of the first
        dark, plus Poisson-like noise.  The darks get the temperatures
        ``-17.0 .. -16.2`` deg C when ``dark_temps`` is not given, and each
        light frame the temperature interpolated in time between the first and
        last dark plus 0.3 deg C (the detector warmer during the observation,
        so a dark interpolated in time is about 3 % low); the lights'
        ``Integration.DET_TEMP_C`` holds it.  The truth is written to two extra
        float32 image extensions, ``TRUE_DARK`` and ``TRUE_EMISSION``
        (``(n_int, n_spa, n_spe)``, DN), which real files do not have.
    darks : array_like, optional
        The dark frames themselves, ``(n_darks, n_spa, n_spe)`` DN (rounded to
        int32), instead of those :func:`make_darks` draws (``dark_scales``,
        ``dark_curvature`` and the temperature gains are then not applied).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The file exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        ``path`` names a folder (no FITS suffix) but a file of that name exists.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from astropy.io import fits
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_darks=2, n_spa=7, n_spe=256, seed=2)
    ...     with fits.open(p) as hdul:
    ...         print(hdul["detector_dark"].data.shape, hdul["detector_dark"].data.dtype)
    (2, 7, 256) >i4

    Darks that follow the detector temperature:

    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=1, dark_temps=(-17.0, -16.0), seed=2)
    ...     l1b = iuvs.io.L1BReader(p)
    >>> l1b.dark_det_temps.tolist()
    [-17.0, -16.0]
    >>> round(float(l1b.dark(1).mean() / l1b.dark(0).mean()), 1)  # about exp(0.1)
    1.1
    """
    if layout not in ("v13", "v00"):
        raise InvalidParameterError(f"layout must be 'v13' or 'v00', got {layout!r}")
    for label, value in (
        ("n_spa", n_spa),
        ("n_spe", n_spe),
        ("n_int", n_int),
        ("n_darks", n_darks),
    ):
        if not isinstance(value, int) or value < 1:
            raise InvalidParameterError(f"{label} must be a positive integer, got {value!r}")
    if not isinstance(compresslevel, int) or not 0 <= compresslevel <= 9:
        raise InvalidParameterError(f"compresslevel must be 0..9, got {compresslevel!r}")
    if light not in ("gamma", "smooth"):
        raise InvalidParameterError(f"light must be 'gamma' or 'smooth', got {light!r}")
    if light == "smooth" and dark_temps is None:
        dark_temps = tuple(float(t) for t in np.linspace(-17.0, -16.2, n_darks))
    if dark_temps is not None:
        dark_temps = tuple(float(t) for t in dark_temps)
        if len(dark_temps) != n_darks or not all(np.isfinite(dark_temps)):
            raise InvalidParameterError(
                f"dark_temps must give {n_darks} finite temperatures (deg C), got {dark_temps}"
            )
        if not np.isfinite(dark_temp_coefficient):
            raise InvalidParameterError(
                f"dark_temp_coefficient must be finite, got {dark_temp_coefficient!r}"
            )
        gains = tuple(
            float(np.exp(dark_temp_coefficient * (t - dark_temps[0]))) for t in dark_temps
        )
        if dark_scales is not None:
            if len(dark_scales) != n_darks:
                raise InvalidParameterError(
                    f"{n_darks} darks need {n_darks} scales, got {len(dark_scales)}"
                )
            gains = tuple(g * s for g, s in zip(gains, dark_scales, strict=True))
        dark_scales = gains
    if version is None:
        version = 0 if layout == "v00" else 13
    target = _l1b_target(path, _name(description, timestamp, version, revision, gzip))
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")
    rng = np.random.default_rng(seed)
    channel = "FUV" if "fuv" in description.lower() else "MUV"
    capture = datetime.strptime(timestamp.upper(), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)

    frames: npt.NDArray[np.int32]
    if darks is None:
        frames = make_darks(
            n_darks,
            (n_spa, n_spe),
            int_time=int_time,
            scales=dark_scales,
            curvature=dark_curvature,
            seed=seed,
        )
    else:
        given = np.asarray(darks, dtype=np.float64)
        if given.shape != (n_darks, n_spa, n_spe):
            raise InvalidParameterError(
                f"darks must have shape (n_darks, n_spa, n_spe) = {(n_darks, n_spa, n_spe)}, "
                f"got {given.shape}"
            )
        frames = np.clip(np.round(given), 0, 2**31 - 1).astype(np.int32)
    light_times = [capture + timedelta(seconds=(int_time + 1.0) * k) for k in range(n_int)]
    # darks before the lights, 70 s apart, and the last one well after them (the v00
    # cruisecal2 file took its third dark 47 min after the first two)
    dark_times = [
        capture - timedelta(minutes=2) + timedelta(seconds=70 * k) for k in range(n_darks)
    ]
    if n_darks >= 2:
        end = light_times[-1] + timedelta(seconds=int_time + 60.0)
        dark_times[-1] = max(capture + timedelta(minutes=47), end)
    background = _interpolate_darks(frames, dark_times, light_times)
    signal = rng.gamma(2.0, 20.0, (n_int, n_spa, n_spe))
    raw = np.round(background + signal + rng.normal(0, np.sqrt(background + signal))).astype(
        np.int32
    )
    truth: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None
    light_temps: tuple[float, ...] | None = None
    if light == "smooth":
        assert dark_temps is not None
        raw, truth, light_temps = _smooth_light(
            seed,
            (n_spa, n_spe),
            int_time,
            dark_times,
            light_times,
            dark_temps,
            dark_temp_coefficient,
        )
    dds = (raw - background).astype(np.float32)
    calibrated = (dds / 3.2e3).astype(np.float32)
    calibrated[:, 0, :2] = np.nan  # fill bins

    def cube(a: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return a[0] if n_int == 1 else a

    binning, spa_ofs, spe_ofs = _binning_table(n_spa, n_spe, nonlinear_binning)
    fname = _name(description, timestamp, version, revision, False)
    spa_size = int(binning.data["SPABINWIDTH"][0][binning.data["SPABINTRANSMIT"][0] == 1][0])
    spe_size = int(binning.data["SPEBINWIDTH"][0][binning.data["SPEBINTRANSMIT"][0] == 1][0])
    primary = fits.PrimaryHDU(cube(calibrated))
    for card in _primary_header(
        fname, capture, int_time, channel, spa_ofs, spe_ofs, spa_size, spe_size, nonlinear_binning
    ):
        primary.header.append(card, useblanks=False, bottom=True)
    dark_hdu = fits.ImageHDU(frames[0] if n_darks == 1 else frames, name="detector_dark")
    dark_hdu.header["BUNIT"] = "DN"
    product_id = fname[: -len(".fits")]
    sub_name = "detector_background_subtracted" if layout == "v00" else "detector_dark_subtracted"
    hdus: list[fits.hdu.base.ExtensionHDU] = []
    if layout == "v13":
        for nm in ("Random_dn_unc", "Random_phy_unc", "Systematic_phy_unc"):
            hdus.append(fits.ImageHDU(cube(np.abs(calibrated) * 0.05 + 0.01), name=nm))
    hdus.append(fits.ImageHDU(cube(raw), name="detector_raw"))
    hdus.append(fits.ImageHDU(cube(dds), name=sub_name))
    if layout == "v13":
        hdus.append(fits.ImageHDU(cube(np.zeros(raw.shape, dtype=np.int16)), name="quality_flag"))
    hdus.append(fits.ImageHDU(cube(background.astype(np.float32)), name="background_dark"))
    if layout == "v13":
        hdus.append(
            _integration_table(
                "Dark_Integration", dark_times, rng, temps=True, det_temps=dark_temps
            )
        )
        hdus.append(_engineering_table("Dark_Engineering", n_darks, int_time, rng, dark_temps))
        hdus.append(
            _observation_table("Dark_Observation", n_spa, binning, int_time, channel, product_id)
        )
    else:
        hdus.append(_integration_table("DarkIntegration", dark_times, rng, temps=False))
        hdus.append(_engineering_table("DarkEngineering", n_darks, int_time, rng, dark_temps))
    if with_darks:
        hdus.append(dark_hdu)
    hdus.append(
        _integration_table(
            "Integration", light_times, rng, temps=layout == "v13", det_temps=light_temps
        )
    )
    hdus.append(_engineering_table("Engineering", n_int, int_time, rng))
    hdus.append(binning)
    if layout == "v13":
        hdus.append(_geometry_table("SpacecraftGeometry", n_int, n_spa, spacecraft=True))
        hdus.append(_geometry_table("PixelGeometry", n_int, n_spa, spacecraft=False))
    hdus.append(_observation_table("Observation", n_spa, binning, int_time, channel, product_id))
    if truth is not None:
        hdus.append(fits.ImageHDU(truth[0], name="TRUE_DARK"))
        hdus.append(fits.ImageHDU(truth[1], name="TRUE_EMISSION"))
    for hdu in hdus:
        # astropy upper-cases names given to the constructor; real files keep their case
        hdu.header["EXTNAME"] = _EXTNAMES.get(hdu.name, hdu.name)
    hdul = fits.HDUList([primary, *hdus])
    buffer = _io.BytesIO()
    hdul.writeto(buffer, output_verify="ignore")
    data = buffer.getvalue()
    if gzip:
        data = _gzip.compress(data, compresslevel=compresslevel, mtime=0)  # 6: gzip(1) default
    _atomic_write(target, data)
    return target


def _smooth_light(
    seed: int,
    shape: tuple[int, int],
    int_time: float,
    dark_times: list[datetime],
    light_times: list[datetime],
    dark_temps: tuple[float, ...],
    coefficient: float,
) -> tuple[
    npt.NDArray[np.int32],
    tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    tuple[float, ...],
]:
    """Light frames with a known dark: (raw, (true dark, emission), light temperatures)."""
    # the noise-free background of make_darks(seed=seed): the same draws
    mean = 428.0 * max(int_time, 0.1) / 60.0
    base, _hot = _background(np.random.default_rng(seed), shape, max(mean, 20.0), 0.002)
    dark_et = np.array([_et(t) for t in dark_times])
    light_et = np.array([_et(t) for t in light_times])
    if len(dark_temps) > 1 and dark_et[-1] > dark_et[0]:
        frac = np.clip((light_et - dark_et[0]) / (dark_et[-1] - dark_et[0]), 0.0, 1.0)
    else:
        frac = np.zeros(light_et.size)
    temps = dark_temps[0] + frac * (dark_temps[-1] - dark_temps[0]) + 0.3
    gains = np.exp(coefficient * (temps - dark_temps[0]))
    true_dark = gains[:, None, None] * base[None]
    n_spa, n_spe = shape
    x = np.arange(n_spe, dtype=np.float64)
    y = np.arange(n_spa, dtype=np.float64)
    width = max(n_spe / 25.0, 0.7)
    lines = np.exp(-0.5 * ((x - 0.3 * n_spe) / width) ** 2) + 0.6 * np.exp(
        -0.5 * ((x - 0.65 * n_spe) / width) ** 2
    )
    profile = 0.3 + 0.7 * np.exp(-(((y - 0.35 * n_spa) / max(0.25 * n_spa, 0.5)) ** 2))
    emission = 0.6 * float(base.mean()) * profile[:, None] * lines[None, :]
    emission = np.broadcast_to(emission, true_dark.shape)
    expected = true_dark + emission
    rng = np.random.default_rng([seed, 16])
    raw = np.round(expected + rng.normal(0.0, np.sqrt(expected))).astype(np.int32)
    truth = (true_dark.astype(np.float32), np.ascontiguousarray(emission, dtype=np.float32))
    return raw, truth, tuple(float(t) for t in temps)


def _interpolate_darks(
    darks: npt.NDArray[np.int32], dark_times: list[datetime], light_times: list[datetime]
) -> npt.NDArray[np.float64]:
    """Dark under each light frame: linear in ET between the two darks around it.

    Before the first dark and after the last the nearest dark is held.
    """
    dark_et = np.array([_et(t) for t in dark_times])
    light_et = np.array([_et(t) for t in light_times])
    stack = darks.astype(np.float64)
    if len(dark_et) == 1:
        return np.repeat(stack, len(light_et), axis=0)
    left = np.clip(np.searchsorted(dark_et, light_et, side="right") - 1, 0, len(dark_et) - 2)
    span = dark_et[left + 1] - dark_et[left]
    w = np.clip((light_et - dark_et[left]) / span, 0.0, 1.0)[:, None, None]
    result: npt.NDArray[np.float64] = (1.0 - w) * stack[left] + w * stack[left + 1]
    return result


def _geometry_table(name: str, n_int: int, n_spa: int, *, spacecraft: bool) -> fits.BinTableHDU:
    if spacecraft:
        cols = [
            fits.Column(c, "D", array=np.full(n_int, np.nan))
            for c in ("SUB_SPACECRAFT_LAT", "SUB_SPACECRAFT_LON", "SPACECRAFT_ALT")
        ]
        cols.append(fits.Column("V_SPACECRAFT", "3D", array=np.full((n_int, 3), np.nan)))
    else:
        cols = [
            fits.Column(
                c, f"{n_spa * 5}D", dim=f"(5,{n_spa})", array=np.full((n_int, n_spa, 5), np.nan)
            )
            for c in ("PIXEL_CORNER_LAT", "PIXEL_CORNER_LON")
        ]
        cols.append(
            fits.Column(
                "PIXEL_SOLAR_ZENITH_ANGLE", f"{n_spa}D", array=np.full((n_int, n_spa), np.nan)
            )
        )
    return fits.BinTableHDU.from_columns(cols, name=name)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as fh:
        fh.write(data)


# ------------------------------------------------------------------------ archives
_ARCHIVE_EPOCH = datetime(2014, 9, 22, 0, 0, 0, tzinfo=timezone.utc)  # orbit 0, roughly MOI
_ORBIT_PERIOD = timedelta(hours=4.5)
# segments of one orbit and their start after the orbit's periapse
_ARCHIVE_SEGMENTS = (
    ("periapse", timedelta(minutes=0)),
    ("outbound", timedelta(minutes=35)),
    ("apoapse", timedelta(hours=2)),
    ("inbound", timedelta(hours=3, minutes=50)),
)
BAD_KINDS = ("one_dark", "no_darks", "truncated", "garbage")
"""Kinds of bad file :func:`write_archive` plants, in the order it assigns them."""


def write_archive(
    root: str | os.PathLike[str],
    *,
    n_files: int = 200,
    seed: int = 0,
    n_spa: int = 62,
    n_spe: int = 341,
    n_darks: int = 2,
    layouts: Sequence[Literal["v13", "v00"]] = ("v13", "v00"),
    bad_fraction: float = 0.03,
    first_orbit: int = 100,
    files_per_orbit: int = 4,
    n_int: int = 1,
    int_times: Sequence[float] = (14.4, 4.2),
    dark_temp_coefficient: float = 0.1,
    gzip: bool = True,
    compresslevel: int = 1,
    overwrite: bool = False,
) -> list[Path]:
    """Write a small archive of L1B files over simulated orbits.

    File ``i`` belongs to orbit ``first_orbit + i // files_per_orbit`` and
    to one of the segments periapse, outbound, apoapse, inbound (in turn);
    channels alternate between MUV and FUV.  Names follow the IUVS grammar,
    for example ``mvn_iuv_l1b_periapse-orbit00123-muv_20141015T133000_v13_r01.fits.gz``,
    with timestamps that increase with the orbit (4.5 h orbits from 2014-09-22),
    and files sit in orbit-block folders ``orbit00100/``, ``orbit00200/``, ...
    (see :mod:`iuvs.io.files`).  Each file's layout is picked from ``layouts``
    at random (version 13 for ``'v13'``, 0 for ``'v00'``).

    The detector temperature drifts slowly over the orbits (about -17 deg C,
    +-1.5 deg C) and rises a little between the darks of a file; the darks
    follow it (:func:`write_l1b` with ``dark_temps``: gain
    ``exp(dark_temp_coefficient * dT)``).

    A fraction ``bad_fraction`` of the files (rounded up) is bad, the kinds
    of :data:`BAD_KINDS` in turn: a single dark, no ``detector_dark`` HDU,
    a file cut to half its length (a truncated gzip stream), and a file with
    a block of random bytes written over it.

    Parameters
    ----------
    root : str or path-like
        Folder of the archive (created if needed).
    n_files : int, optional
        Number of files.
    seed : int, optional
        Random seed; the archive is a function of the arguments.
    n_spa, n_spe : int, optional
        Spatial and spectral bins.
    n_darks : int, optional
        Darks per good file.
    layouts : sequence of {'v13', 'v00'}, optional
        Layouts to pick from.
    bad_fraction : float, optional
        Fraction of bad files, 0 .. 1.
    first_orbit : int, optional
        Orbit of the first file.
    files_per_orbit : int, optional
        Files per orbit (1 .. 4 gives distinct segments).
    n_int : int, optional
        Integrations per file (1 keeps the files small and quick to write).
    int_times : sequence of float, optional
        Integration times (s), picked at random per file.
    dark_temp_coefficient : float, optional
        Relative dark change per deg C.
    gzip : bool, optional
        Write ``.fits.gz`` files.
    compresslevel : int, optional
        zlib level (default 1, the fastest).
    overwrite : bool, optional
        Replace existing files.

    Returns
    -------
    list of pathlib.Path
        Every file written, bad ones included, sorted.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        For a non-positive count or a fraction outside 0 .. 1.
    iuvs.exceptions.OutputExistsError
        A file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = iuvs.synthetic.write_archive(d, n_files=4, n_spa=7, n_spe=32, seed=1)
    ...     names = [p.relative_to(d).as_posix() for p in paths]
    >>> len(names)
    4
    >>> names[0]
    'orbit00100/mvn_iuv_l1b_apoapse-orbit00100-muv_20141010T200000_v13_r01.fits.gz'
    """
    for label, value in (("n_files", n_files), ("files_per_orbit", files_per_orbit)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidParameterError(f"{label} must be a positive integer, got {value!r}")
    if not 0.0 <= bad_fraction <= 1.0:
        raise InvalidParameterError(f"bad_fraction must be within 0 .. 1, got {bad_fraction!r}")
    if not layouts or any(lay not in ("v13", "v00") for lay in layouts):
        raise InvalidParameterError(f"layouts must list 'v13' and/or 'v00', got {layouts!r}")
    if not int_times or not all(t > 0 for t in int_times):
        raise InvalidParameterError(f"int_times must be positive seconds, got {int_times!r}")
    if first_orbit < 0:
        raise InvalidParameterError(f"first_orbit must be >= 0, got {first_orbit!r}")
    rng = np.random.default_rng(seed)
    n_bad = min(n_files, math.ceil(n_files * bad_fraction - 1e-9))
    bad = sorted(int(i) for i in rng.choice(n_files, n_bad, replace=False))
    kinds = {i: BAD_KINDS[k % len(BAD_KINDS)] for k, i in enumerate(bad)}
    root_path = Path(root)
    written: list[Path] = []
    for i in range(n_files):
        orbit = first_orbit + i // files_per_orbit
        slot = i % files_per_orbit
        segment, offset = _ARCHIVE_SEGMENTS[slot % len(_ARCHIVE_SEGMENTS)]
        channel = ("muv", "fuv")[(orbit + slot) % 2]
        start = _ARCHIVE_EPOCH + orbit * _ORBIT_PERIOD + offset
        layout = layouts[int(rng.integers(0, len(layouts)))]
        file_seed = int(rng.integers(0, 2**31 - 1))
        int_time = float(int_times[int(rng.integers(0, len(int_times)))])
        kind = kinds.get(i)
        darks = 1 if kind == "one_dark" else n_darks
        base_temp = -17.0 + 1.5 * math.sin(2.0 * math.pi * orbit / 37.0) + rng.normal(0.0, 0.2)
        rises = np.concatenate([[0.0], np.cumsum(rng.normal(0.3, 0.3, darks - 1))])
        folder = root_path / f"orbit{orbit // 100 * 100:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = write_l1b(
            folder,
            layout=layout,
            n_spa=n_spa,
            n_spe=n_spe,
            n_int=n_int,
            n_darks=darks,
            gzip=gzip,
            seed=file_seed,
            with_darks=kind != "no_darks",
            description=f"{segment}-orbit{orbit:05d}-{channel}",
            timestamp=f"{start:%Y%m%dT%H%M%S}",
            revision="r01",
            int_time=int_time,
            overwrite=overwrite,
            dark_temps=tuple(float(base_temp + r) for r in rises),
            dark_temp_coefficient=dark_temp_coefficient,
            compresslevel=compresslevel,
        )
        if kind in ("truncated", "garbage"):
            _damage(path, kind, rng)
        written.append(path)
    return sorted(written)


def _damage(path: Path, kind: str, rng: np.random.Generator) -> None:
    """Cut ``path`` to half its length, or write random bytes over a block of it.

    Random bytes go into the middle of a gzip stream (the CRC no longer
    matches) or over the primary header of a plain FITS file.
    """
    data = bytearray(path.read_bytes())
    if kind == "truncated":
        data = data[: len(data) // 2]
    else:
        start = len(data) // 3 if data[:2] == b"\x1f\x8b" else 0
        size = min(512, len(data) - start)
        data[start : start + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    _atomic_write(path, bytes(data))


# ------------------------------------------------------------------ dark archives
DARK_ARCHIVE_SETS: tuple[tuple[str, float, int, int, bool], ...] = (
    ("muv", 14.4, 20, 64, False),
    ("muv", 14.4, 20, 64, True),
    ("fuv", 4.2, 12, 48, False),
)
"""Binning sets of :func:`write_dark_archive`: channel, INT_TIME (s), spatial and
spectral bins, non-linear bin table.  The first two differ only by their bin table."""

DARK_REFERENCE_TEMPERATURE = -15.0
"""deg C at which :func:`dark_gain` is 1."""


def dark_gain(temperature: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Level of the darks of :func:`write_dark_archive` relative to -15 deg C.

    ``g(T) = 1 + 0.03 (T + 15) + 0.0008 (T + 15)**2``: a quadratic, so a
    polynomial model of the dark against temperature can recover it exactly.

    Parameters
    ----------
    temperature : array_like
        Detector temperature, deg C.

    Returns
    -------
    numpy.ndarray
        The gain, float64.

    Examples
    --------
    >>> import iuvs
    >>> iuvs.synthetic.dark_gain([-15.0, -5.0]).round(6).tolist()
    [1.0, 1.38]
    """
    d = np.asarray(temperature, dtype=np.float64) - DARK_REFERENCE_TEMPERATURE
    return np.asarray(1.0 + 0.03 * d + 0.0008 * d**2, dtype=np.float64)


def dark_pattern(set_index: int) -> npt.NDArray[np.float64]:
    """Return the noise-free dark at -15 deg C of a binning set of :func:`write_dark_archive`.

    Parameters
    ----------
    set_index : int
        Index into :data:`DARK_ARCHIVE_SETS`.

    Returns
    -------
    numpy.ndarray
        ``(spatial, spectral)`` DN, float64 (hot pixels included).

    Examples
    --------
    >>> import iuvs
    >>> iuvs.synthetic.dark_pattern(2).shape
    (12, 48)
    """
    if not 0 <= set_index < len(DARK_ARCHIVE_SETS):
        raise InvalidParameterError(
            f"set_index must be 0..{len(DARK_ARCHIVE_SETS) - 1}, got {set_index!r}"
        )
    _, int_time, n_spa, n_spe, _ = DARK_ARCHIVE_SETS[set_index]
    rng = np.random.default_rng(1000 + set_index)
    base, _ = _background(rng, (n_spa, n_spe), 428.0 * int_time / 14.4, 0.002)
    return base


def write_dark_archive(
    root: str | os.PathLike[str],
    *,
    files_per_set: int = 8,
    n_darks: int = 5,
    temperature_range: tuple[float, float] = (-30.0, 0.0),
    seed: int = 0,
    overwrite: bool = False,
) -> list[Path]:
    """Write L1B files whose darks follow a known function of detector temperature.

    For every binning set of :data:`DARK_ARCHIVE_SETS`, ``files_per_set``
    v13 files (the first file of each set and every third one in v00
    layout, whose temperatures are raw DN only).  Each file's detector
    temperature is spread evenly over ``temperature_range`` (the sets
    interleaved) and rises by 0.1 deg C from dark to dark; temperatures are
    rounded to the raw DN grid (``T = DN * -0.0749 + 174.08``) so that the
    v00 and v13 files carry the same value.  Dark ``k`` of a file is
    ``dark_pattern(set) * dark_gain(T_k)`` plus normal noise of variance
    equal to the DN, rounded.  The darks sit as :func:`write_l1b` places them:
    all but the last in one dark set 70 s apart, the last one 47 min later
    (a second set).

    Parameters
    ----------
    root : str or path-like
        Folder (created if needed).
    files_per_set : int, optional
        Files per binning set (at least 2).
    n_darks : int, optional
        Darks per file (at least 2).
    temperature_range : tuple of float, optional
        Lowest and highest file temperature, deg C.
    seed : int, optional
        Seed of the noise.
    overwrite : bool, optional
        Replace existing files.

    Returns
    -------
    list of pathlib.Path
        The files, sorted.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = iuvs.synthetic.write_dark_archive(d, files_per_set=2, n_darks=3)
    ...     l1b = iuvs.io.L1BReader(paths[-1])
    >>> len(paths), l1b.detector_dark.shape, l1b.channel
    (6, (3, 12, 48), 'FUV')
    """
    for label, value, least in (("files_per_set", files_per_set, 2), ("n_darks", n_darks, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InvalidParameterError(f"{label} must be an integer >= {least}, got {value!r}")
    lo, hi = (float(t) for t in temperature_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise InvalidParameterError(
            f"temperature_range must be two finite deg C, low <= high, got {temperature_range!r}"
        )
    rng = np.random.default_rng(seed)
    n_sets = len(DARK_ARCHIVE_SETS)
    starts = np.linspace(lo, hi, files_per_set * n_sets)
    written: list[Path] = []
    for s, (channel, int_time, n_spa, n_spe, nonlinear) in enumerate(DARK_ARCHIVE_SETS):
        pattern = dark_pattern(s)
        folder = Path(root) / f"set{s}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(files_per_set):
            start = starts[i * n_sets + s]
            temps = start + 0.1 * np.arange(n_darks)
            dn = np.round((temps - _DET_TEMP_OFFSET) / _DET_TEMP_SLOPE)
            temps = dn * _DET_TEMP_SLOPE + _DET_TEMP_OFFSET
            level = pattern[None] * dark_gain(temps)[:, None, None]
            frames = level + rng.normal(0.0, np.sqrt(level))
            stamp = _ARCHIVE_EPOCH + timedelta(hours=3.0 * (i * n_sets + s))
            path = write_l1b(
                folder,
                layout="v00" if i % 3 == 0 else "v13",
                n_spa=n_spa,
                n_spe=n_spe,
                n_int=1,
                n_darks=n_darks,
                seed=int(rng.integers(0, 2**31 - 1)),
                description=f"apoapse-orbit{100 + i:05d}-{channel}",
                timestamp=f"{stamp:%Y%m%dT%H%M%S}",
                revision="r01",
                int_time=int_time,
                nonlinear_binning=nonlinear,
                dark_temps=tuple(float(t) for t in temps),
                darks=frames,
                overwrite=overwrite,
                compresslevel=1,
            )
            written.append(path)
    return sorted(written)
