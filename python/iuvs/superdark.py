"""Superdarks: many darks of one binning set combined, and a dark predicted from temperature.

:func:`superdark` groups the darks of an archive by what makes them comparable
(:class:`DarkGroup`: channel, integration time, the binning cards ``BIN_TBL``,
``SPA_OFS``, ``SPA_SIZE``, ``SPE_OFS``, ``SPE_SIZE`` and the frame shape),
leaves out the first dark of each dark set (darks more than
:data:`SET_GAP_SECONDS` apart start a new set, the rule :mod:`iuvs.darks`
found) and, optionally, darks outside a temperature range, and combines each
group along the dark axis (sigma-clipped median or mean).  A dark recorded in
several files (the files of one observation share their darks: same group,
same ``ET``) is used once, from the first file in path order.

Memory: each file is read by a worker (a process with ``jobs=N``, a Dask
worker with ``scheduler=``), which returns only its selected darks; the
parent appends them, as float64, to one scratch file per group (in
``scratch_dir``, removed at the end) and keeps at most ``2 * workers`` files'
darks in flight.  The stack of a group is then combined in blocks of
spatial rows read back from the scratch file, each block at most
``block_bytes`` (default 64 MiB) of float64, so the memory held is about
``block_bytes`` plus the in-flight darks, whatever the archive's size.  The
combination is exact (an exact median of every dark of the group, no
approximation), because every pixel's whole column of darks is in one block.

:class:`DarkModel` fits each dark onto its superdark with the core's rank 0
or 1 model (:func:`iuvs.fit`), then each coefficient against the dark's
detector temperature with a low-degree polynomial whose degree
:func:`iuvs.choose_rank` chooses; :meth:`DarkModel.predict` gives the dark at
any temperature, :meth:`DarkModel.validate` the leave-one-file-out error
next to that of the nearest dark in time.

Examples
--------
>>> import tempfile, iuvs
>>> with tempfile.TemporaryDirectory() as d:
...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=3, n_darks=3)
...     result = iuvs.darks.superdark(d, jobs=1, min_darks=2)
>>> [(s.group.channel, s.data.shape, s.n_darks) for s in result]
[('FUV', (12, 48), 3), ('MUV', (20, 64), 3), ('MUV', (20, 64), 3)]
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from iuvs._atomic import atomic_file
from iuvs.exceptions import (
    EmptyInputError,
    FileFormatError,
    InsufficientDataError,
    InvalidParameterError,
    IuvsError,
)
from iuvs.options import check_positive, check_positive_int

__all__ = [
    "SET_GAP_SECONDS",
    "DarkGroup",
    "DarkModel",
    "ModelValidation",
    "Superdark",
    "SuperdarkSet",
    "dark_group",
    "read_superdarks",
    "superdark",
    "write_superdark_report",
    "write_superdarks",
]

PathLike = str | os.PathLike[str]

# darks further apart than this (seconds) belong to different dark sets (the rule of
# iuvs.darks too: a set is a burst of integrations seconds apart; the sets of an orbit
# are hours apart)
SET_GAP_SECONDS = 600.0
# darks of two files with ET closer than this (s) are the same dark
_SAME_DARK_SECONDS = 1e-3
_BLOCK_BYTES = 64 * 2**20
_BINNING_CARDS = ("BIN_TBL", "SPA_OFS", "SPA_SIZE", "SPE_OFS", "SPE_SIZE")
PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("file", "U512"),
    ("dark_index", "i8"),
    ("et", "f8"),
    ("temperature", "f8"),
    ("scale", "f8"),  # rank 0: dark = scale * superdark
    ("gain", "f8"),  # rank 1: dark = gain * superdark + offset
    ("offset", "f8"),
    ("n_pixels", "i8"),  # pixels finite in the dark and the superdark
    ("sum_d", "f8"),
    ("sum_dd", "f8"),
    ("sum_s", "f8"),
    ("sum_ss", "f8"),
    ("sum_ds", "f8"),
    ("nearest_sigma", "f8"),  # std of (dark - nearest dark in time of another file)
)


# ------------------------------------------------------------------- the stack
def _combine(
    stack: npt.ArrayLike | Sequence[npt.ArrayLike],
    method: str,
    clip: float | None,
    clip_iter: int,
    mask: npt.ArrayLike | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Return the combined frame, frames used per pixel and population std of the kept values.

    The contract of ``iuvs.combine`` (astropy ``sigma_clip(axis=0,
    cenfunc='median', stdfunc='std')`` then mean or median); NaN and masked
    values left out.
    """
    # the core's combine (equal to astropy's sigma_clip + mean / median); a
    # mask of one frame's shape applies to every frame
    from iuvs.combine import combine

    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        shape = getattr(stack, "shape", None)
        if shape is not None and len(shape) == 3 and m.shape == tuple(shape[1:]):
            mask = np.broadcast_to(m, shape)
    out = combine(
        stack, "median" if method == "median" else "mean", clip=clip, clip_iter=clip_iter, mask=mask
    )
    return (
        np.asarray(out.data, dtype=np.float64),
        np.asarray(out.n_used, dtype=np.int64),
        np.asarray(out.scatter, dtype=np.float64),
    )


# ------------------------------------------------------------------ the groups
@dataclass(frozen=True, order=True)
class DarkGroup:
    """What makes darks comparable: channel, integration time and binning.

    Attributes
    ----------
    channel : str
        ``'FUV'`` or ``'MUV'`` (primary ``XUV``).
    int_time : float
        ``INT_TIME`` (s).
    bin_tbl : str
        ``BIN_TBL``.
    spa_ofs, spa_size, spe_ofs, spe_size : int
        The binning cards (-1 where absent).
    shape : tuple of int
        ``(spatial, spectral)`` of the darks.

    Examples
    --------
    >>> g = DarkGroup("MUV", 14.4, "LINEAR 15,16 linear_0006", 89, 8, 0, 3, (20, 64))
    >>> g.label
    'MUV 14.4s LINEAR 15,16 linear_0006 spa 89+8 spe 0+3 20x64'
    """

    channel: str
    int_time: float
    bin_tbl: str
    spa_ofs: int
    spa_size: int
    spe_ofs: int
    spe_size: int
    shape: tuple[int, int]

    @property
    def label(self) -> str:
        """The group in one line."""
        return (
            f"{self.channel} {self.int_time:g}s {self.bin_tbl} spa {self.spa_ofs}+"
            f"{self.spa_size} spe {self.spe_ofs}+{self.spe_size} "
            f"{self.shape[0]}x{self.shape[1]}"
        )


def dark_group(l1b: Any) -> DarkGroup:
    """Return the :class:`DarkGroup` of an L1B file's darks.

    Parameters
    ----------
    l1b : iuvs.io.L1BReader or path
        The file.

    Returns
    -------
    DarkGroup
        Channel, integration time, binning cards and dark frame shape.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     g = dark_group(iuvs.synthetic.write_l1b(d, n_spa=7, n_spe=32, int_time=4.2))
    >>> g.channel, g.int_time, g.shape
    ('MUV', 4.2, (7, 32))
    """
    from iuvs.io.l1b import L1BReader

    reader = l1b if isinstance(l1b, L1BReader) else L1BReader(l1b)
    cards = reader.binning
    shape = reader.detector_dark.shape[-2:]

    def number(key: str) -> int:
        try:
            return int(cards[key])
        except (KeyError, TypeError, ValueError):
            return -1

    return DarkGroup(
        channel=reader.channel or "?",
        int_time=float(reader.int_time),
        bin_tbl=str(cards.get("BIN_TBL", "")).strip(),
        spa_ofs=number("SPA_OFS"),
        spa_size=number("SPA_SIZE"),
        spe_ofs=number("SPE_OFS"),
        spe_size=number("SPE_SIZE"),
        shape=(int(shape[0]), int(shape[1])),
    )


def _set_starts(et: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Return True for the first dark of each dark set (file order; gaps > SET_GAP_SECONDS)."""
    first = np.zeros(et.size, dtype=bool)
    if et.size:
        first[0] = True
        first[1:] = np.abs(np.diff(et)) > SET_GAP_SECONDS
    return first


@dataclass(frozen=True)
class _FileDarks:
    """What a worker returns for one file: its selected darks, or why it has none."""

    path: str
    group: DarkGroup | None = None
    index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    et: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    temperature: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    frames: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 0, 0)))
    error: str = ""


def _read_darks(
    path: str, skip_first: bool, temperature_range: tuple[float, float] | None
) -> _FileDarks:
    """Read one file's darks and select them (never raises for a bad file)."""
    from iuvs.io.l1b import L1BReader

    try:
        reader = L1BReader(path, darks_only=True)
        darks = reader.detector_dark
        group = dark_group(reader)
        n = int(darks.shape[0])
        et = reader.dark_et
        if et is None or et.size != n or not np.all(np.isfinite(et)):
            raise FileFormatError(
                f"{path}: the dark integration table gives no finite ET for each of the "
                f"{n} darks, so dark sets and duplicates cannot be told"
            )
        temps = reader.dark_temperatures
        if temps is None or temps.size != n:
            temps = np.full(n, np.nan)
        keep = ~_set_starts(et) if skip_first else np.ones(n, dtype=bool)
        if temperature_range is not None:
            lo, hi = temperature_range
            keep &= (temps >= lo) & (temps <= hi)
        index = np.flatnonzero(keep).astype(np.int64)
        frames = np.asarray(darks[index], dtype=np.float64)
        return _FileDarks(path, group, index, et[index], temps[index], frames)
    except (IuvsError, OSError, ValueError, KeyError, IndexError, TypeError, zlib.error) as err:
        return _FileDarks(path, error=f"{type(err).__name__}: {err}")


def _expand(paths_or_root: PathLike | Sequence[PathLike], pattern: str) -> list[str]:
    from iuvs.survey import _expand as expand

    return expand(paths_or_root, pattern)


def _run_local(
    paths: Sequence[str], work: Callable[[str], _FileDarks], jobs: int
) -> Iterator[_FileDarks]:
    """Yield each file's darks as they come; at most ``2 * jobs`` files in flight."""
    if jobs == 1 or len(paths) <= 1:
        for p in paths:
            yield work(p)
        return
    from iuvs.survey.run import _worker_pool

    pool = _worker_pool(min(jobs, len(paths)))
    todo = iter(paths)
    running: set[concurrent.futures.Future[_FileDarks]] = set()
    try:
        for p in todo:
            running.add(pool.submit(work, p))
            if len(running) >= 2 * jobs:
                break
        while running:
            done, running = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                yield future.result()
                nxt = next(todo, None)
                if nxt is not None:
                    running.add(pool.submit(work, nxt))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(
    paths: Sequence[str], work: Callable[[str], _FileDarks], scheduler: Any, window: int
) -> Iterator[_FileDarks]:
    """Yield each file's darks from a Dask cluster; at most ``window`` files in flight."""
    from iuvs.survey import _import_distributed

    distributed = _import_distributed()
    own = isinstance(scheduler, str)
    client = distributed.Client(scheduler) if own else scheduler
    try:
        todo = iter(paths)
        first = [
            client.submit(work, p, pure=False) for _, p in zip(range(window), todo, strict=False)
        ]
        queue = distributed.as_completed(first)
        del first
        for future in queue:
            result = future.result()
            future.release()
            nxt = next(todo, None)
            if nxt is not None:
                queue.add(client.submit(work, nxt, pure=False))
            yield result
    finally:
        if own:
            client.close()


# ------------------------------------------------------------------- results
@dataclass(frozen=True)
class Superdark:
    """One group's superdark with its provenance (made by :func:`superdark`).

    Attributes
    ----------
    group : DarkGroup
        The darks' channel, integration time and binning.
    data : numpy.ndarray
        The combined dark, DN, float64 ``(spatial, spectral)``; NaN where no
        dark was kept.
    n_used : numpy.ndarray
        Darks kept per pixel (after clipping), int64.
    scatter : numpy.ndarray
        Population standard deviation of the kept values per pixel, DN.
    provenance : numpy.ndarray
        One row per dark used (columns :data:`PROVENANCE_COLUMNS`): file, dark
        index, ET, temperature (deg C, NaN when unknown), the dark fitted onto
        the superdark with the core (rank 0 ``scale``, rank 1 ``gain`` and
        ``offset``), the pixel sums that give any linear prediction's residual
        (``n_pixels``, ``sum_d``, ``sum_dd``, ``sum_s``, ``sum_ss``,
        ``sum_ds``; d the dark, s the superdark) and ``nearest_sigma``, the
        standard deviation of the dark minus the nearest dark in time of
        another file (NaN when there is none).
    method : str
        ``'median'`` or ``'mean'``.
    clip : float or None
        Sigma-clipping threshold.
    clip_iter : int
        Most clipping iterations.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=2, n_darks=4)
    ...     s = iuvs.darks.superdark(d, jobs=1)[0]
    >>> s.n_darks, s.n_files, int(s.n_used.max())
    (4, 2, 4)
    """

    group: DarkGroup
    data: npt.NDArray[np.float64]
    n_used: npt.NDArray[np.int64]
    scatter: npt.NDArray[np.float64]
    provenance: npt.NDArray[np.void]
    method: str
    clip: float | None
    clip_iter: int

    @property
    def n_darks(self) -> int:
        """Darks combined."""
        return int(self.provenance.shape[0])

    @property
    def files(self) -> tuple[str, ...]:
        """The files whose darks were used, sorted."""
        return tuple(sorted({str(f) for f in self.provenance["file"]}))

    @property
    def n_files(self) -> int:
        """Number of files whose darks were used."""
        return len(self.files)

    @property
    def dark_index(self) -> npt.NDArray[np.int64]:
        """Index of each dark in its file."""
        return np.asarray(self.provenance["dark_index"], dtype=np.int64)

    @property
    def times(self) -> npt.NDArray[np.float64]:
        """ET (s past J2000) of each dark."""
        return np.asarray(self.provenance["et"], dtype=np.float64)

    @property
    def temperatures(self) -> npt.NDArray[np.float64]:
        """Detector temperature of each dark, deg C."""
        return np.asarray(self.provenance["temperature"], dtype=np.float64)


@dataclass(frozen=True)
class SuperdarkSet:
    """The superdarks of an archive, one per group, and the files that failed.

    Iterating, ``len`` and indexing go over :attr:`superdarks`.

    Attributes
    ----------
    superdarks : tuple of Superdark
        Sorted by group.
    failures : tuple of (str, str)
        ``(file, error)`` of each file whose darks could not be read.
    n_files : int
        Files looked at.
    n_duplicates : int
        Darks left out because another file holds the same dark (same group and ET).
    seconds : float
        Wall time of :func:`superdark`.

    Examples
    --------
    >>> SuperdarkSet((), (("a.fits", "FileFormatError: truncated"),), 1).failures[0][0]
    'a.fits'
    """

    superdarks: tuple[Superdark, ...]
    failures: tuple[tuple[str, str], ...] = ()
    n_files: int = 0
    n_duplicates: int = 0
    seconds: float = 0.0

    def __iter__(self) -> Iterator[Superdark]:
        return iter(self.superdarks)

    def __len__(self) -> int:
        return len(self.superdarks)

    def __getitem__(self, index: int) -> Superdark:
        return self.superdarks[index]

    def find(self, group: DarkGroup) -> Superdark:
        """Return the superdark of ``group``.

        Raises
        ------
        iuvs.exceptions.InvalidParameterError
            No superdark has that group.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = iuvs.synthetic.write_dark_archive(d, files_per_set=2, n_darks=4)
        ...     s = iuvs.darks.superdark(d, jobs=1)
        ...     g = iuvs.darks.dark_group(paths[0])
        >>> s.find(g).group == g
        True
        """
        for s in self.superdarks:
            if s.group == group:
                return s
        raise InvalidParameterError(
            f"no superdark for the group {group.label}; groups: "
            + "; ".join(s.group.label for s in self.superdarks)
        )


# ------------------------------------------------------------------ superdark
class _Scratch:
    """One float64 scratch file per group: frames appended, read back as a memmap."""

    def __init__(self, folder: str, shape: tuple[int, int], number: int) -> None:
        self.path = os.path.join(folder, f"group{number}.f8")
        self.shape = shape
        self.count = 0
        self.meta: list[tuple[str, int, float, float, int]] = []  # file, index, et, T, slot
        self._fh = open(self.path, "wb")  # noqa: SIM115 - closed in .stack()

    def add(self, darks: _FileDarks) -> None:
        frames = np.ascontiguousarray(darks.frames, dtype=np.float64)
        self._fh.write(frames.tobytes())
        for k in range(frames.shape[0]):
            self.meta.append(
                (
                    darks.path,
                    int(darks.index[k]),
                    float(darks.et[k]),
                    float(darks.temperature[k]),
                    self.count + k,
                )
            )
        self.count += int(frames.shape[0])

    def stack(self) -> npt.NDArray[np.float64]:
        self._fh.close()
        if self.count == 0:
            return np.zeros((0, *self.shape))
        return np.memmap(self.path, dtype=np.float64, mode="r", shape=(self.count, *self.shape))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _check_options(
    method: str,
    clip: float | None,
    clip_iter: int,
    min_darks: int,
    jobs: int | None,
    temperature_range: tuple[float, float] | None,
    block_bytes: int,
) -> tuple[float | None, int, int, int | None, int]:
    """Check the options of :func:`superdark`; return clip .. block_bytes as Python numbers."""
    if method not in ("median", "mean"):
        raise InvalidParameterError(f"method must be 'median' or 'mean', got {method!r}")
    if temperature_range is not None:
        lo, hi = temperature_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise InvalidParameterError(
                "temperature_range must be (low, high) deg C, low <= high, got "
                f"{temperature_range!r}"
            )
    return (
        None if clip is None else check_positive("clip", clip),
        check_positive_int("clip_iter", clip_iter),
        check_positive_int("min_darks", min_darks),
        None if jobs is None else check_positive_int("jobs", jobs),
        check_positive_int("block_bytes", block_bytes),
    )


def superdark(
    paths_or_root: PathLike | Sequence[PathLike],
    *,
    method: Literal["median", "mean"] = "median",
    clip: float | None = 3.0,
    clip_iter: int = 5,
    skip_first: bool = True,
    temperature_range: tuple[float, float] | None = None,
    min_darks: int = 3,
    small_groups: Literal["raise", "skip"] = "raise",
    scheduler: Any = None,
    jobs: int | None = None,
    pattern: str = "*.fits*",
    block_bytes: int = _BLOCK_BYTES,
    scratch_dir: PathLike | None = None,
) -> SuperdarkSet:
    """Combine the darks of an archive into one superdark per group.

    Parameters
    ----------
    paths_or_root : path or sequence of paths
        Files, or folders searched recursively for ``pattern``.
    method : {'median', 'mean'}, optional
        How each pixel's kept values are combined (the median is exact).
    clip : float or None, optional
        Sigma-clip each pixel's values first, as astropy's ``sigma_clip(axis=0,
        cenfunc='median', stdfunc='std')``; None keeps every value.
    clip_iter : int, optional
        Most clipping iterations.
    skip_first : bool, optional
        Leave out the first dark of each dark set (its noise pattern differs).
    temperature_range : tuple of float, optional
        Keep only darks with ``low <= DET_TEMP_C <= high`` (darks of unknown
        temperature are then left out).
    min_darks : int, optional
        Fewest darks a group needs.
    small_groups : {'raise', 'skip'}, optional
        What a group with fewer than ``min_darks`` darks does.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address or client: the files are read on its workers.
    jobs : int, optional
        Workers reading files when ``scheduler`` is None (default: one per
        CPU); 1 reads in this thread.  Workers are threads of this process
        (reading releases the GIL); with the environment variable
        ``IUVS_SURVEY_WORKERS=processes`` they are spawned processes, each
        running the Rust core on one thread.
    pattern : str, optional
        File name pattern in folders.
    block_bytes : int, optional
        Largest float64 block of a group's stack combined at once.
    scratch_dir : path, optional
        Folder of the scratch files (default: the system's temporary folder).

    Returns
    -------
    SuperdarkSet
        One :class:`Superdark` per group (sorted by group), the failures,
        counts and the wall time.

    Raises
    ------
    iuvs.exceptions.EmptyInputError
        No file found.
    iuvs.exceptions.InsufficientDataError
        No file gave a dark, or (``small_groups='raise'``) a group has fewer
        than ``min_darks`` darks.
    iuvs.exceptions.InvalidParameterError
        A bad method, ``clip <= 0``, or another bad option.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=2, n_darks=4)
    ...     result = iuvs.darks.superdark(d, jobs=1, clip=None, method="mean")
    >>> len(result), result.n_files, result.failures
    (3, 6, ())
    """
    start = time.perf_counter()
    clip, clip_iter, min_darks, jobs, block_bytes = _check_options(
        method, clip, clip_iter, min_darks, jobs, temperature_range, block_bytes
    )
    if small_groups not in ("raise", "skip"):
        raise InvalidParameterError(f"small_groups must be 'raise' or 'skip', got {small_groups!r}")
    paths = _expand(paths_or_root, pattern)
    if not paths:
        raise EmptyInputError(
            f"no L1B files matching {pattern!r} in {paths_or_root!s}; give files or a folder "
            "that holds them"
        )
    from functools import partial

    work = partial(_read_darks, skip_first=skip_first, temperature_range=temperature_range)
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    source = (
        _run_local(paths, work, n_jobs)
        if scheduler is None
        else _run_dask(paths, work, scheduler, 2 * n_jobs)
    )
    failures: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(
        prefix="iuvs-superdark-", dir=None if scratch_dir is None else os.fspath(scratch_dir)
    ) as folder:
        scratch: dict[DarkGroup, _Scratch] = {}
        try:
            for darks in source:
                if darks.error:
                    failures.append((darks.path, darks.error))
                    continue
                assert darks.group is not None
                if darks.frames.shape[0] == 0:
                    continue
                if darks.group not in scratch:
                    scratch[darks.group] = _Scratch(folder, darks.group.shape, len(scratch))
                scratch[darks.group].add(darks)
            results: list[Superdark] = []
            n_duplicates = 0
            for group in sorted(scratch):
                made, dups = _finish(
                    group,
                    scratch[group],
                    method,
                    clip,
                    clip_iter,
                    min_darks,
                    small_groups,
                    block_bytes,
                )
                n_duplicates += dups
                if made is not None:
                    results.append(made)
        finally:
            for s in scratch.values():
                s.close()
    if not results and not (scratch and small_groups == "skip"):
        detail = "; ".join(f"{p}: {e}" for p, e in failures[:5])
        raise InsufficientDataError(
            f"none of the {len(paths)} files gave a usable dark ({len(failures)} unreadable"
            + (f": {detail}" if detail else "")
            + ")"
        )
    failures.sort()
    return SuperdarkSet(
        tuple(results), tuple(failures), len(paths), n_duplicates, time.perf_counter() - start
    )


def _nearest_other(
    k: int,
    order: npt.NDArray[np.intp],
    rank: npt.NDArray[np.intp],
    et: npt.NDArray[np.float64],
    files: Sequence[str],
) -> int:
    """Return the dark nearest in time to dark ``k`` from another file (-1: none).

    Walks outwards from ``k`` in time order (``order`` sorts ``et``, ``rank`` is
    its inverse); ties go to the earlier dark in time order.
    """
    lo, hi = int(rank[k]) - 1, int(rank[k]) + 1
    n = len(order)
    while lo >= 0 and files[order[lo]] == files[k]:
        lo -= 1
    while hi < n and files[order[hi]] == files[k]:
        hi += 1
    if lo < 0 and hi >= n:
        return -1
    if hi >= n or (lo >= 0 and et[k] - et[order[lo]] <= et[order[hi]] - et[k]):
        return int(order[lo])
    return int(order[hi])


def _combine_rows(
    stack: npt.NDArray[np.float64],
    slots: npt.NDArray[np.intp],
    method: str,
    clip: float | None,
    clip_iter: int,
    block_bytes: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Combine the darks ``stack[slots]`` in blocks of spatial rows of at most ``block_bytes``."""
    n_spa, n_spe = stack.shape[1:]
    rows = max(1, block_bytes // max(1, slots.size * n_spe * 8))
    data = np.empty((n_spa, n_spe))
    n_used = np.empty((n_spa, n_spe), dtype=np.int64)
    scatter = np.empty((n_spa, n_spe))
    for r0 in range(0, n_spa, rows):
        r1 = min(n_spa, r0 + rows)
        block = np.asarray(stack[slots, r0:r1, :], dtype=np.float64)
        data[r0:r1], n_used[r0:r1], scatter[r0:r1] = _combine(block, method, clip, clip_iter, None)
    return data, n_used, scatter


def _fit_onto(
    superdark: npt.NDArray[np.float64], dark: npt.NDArray[np.float64], rank: int
) -> tuple[float, ...]:
    """Fit a dark onto a superdark (:func:`iuvs.fit`, rank 0 or 1) on the pixels finite in both.

    NaN coefficients where the superdark is flat or empty (nothing to scale onto).
    """
    from iuvs.fitting import fit

    use = np.isfinite(superdark) & np.isfinite(dark)
    try:
        return tuple(float(c) for c in fit(superdark, dark, rank, mask=~use).coeffs)
    except IuvsError:
        return (math.nan,) * (rank + 1)


def _finish(
    group: DarkGroup,
    scratch: _Scratch,
    method: str,
    clip: float | None,
    clip_iter: int,
    min_darks: int,
    small_groups: str,
    block_bytes: int,
) -> tuple[Superdark | None, int]:
    """Combine one group's scratch stack (rows in blocks) and fit each dark onto the result."""
    stack = scratch.stack()
    # path order, then dark index; a dark already seen in another file (same ET) is left out
    meta = sorted(scratch.meta)
    chosen: list[tuple[str, int, float, float, int]] = []
    seen: set[int] = set()  # ET in units of _SAME_DARK_SECONDS
    for row in meta:
        key = round(row[2] / _SAME_DARK_SECONDS)
        if seen & {key - 1, key, key + 1}:
            continue
        seen.add(key)
        chosen.append(row)
    n_duplicates = len(meta) - len(chosen)
    n = len(chosen)
    if n < min_darks:
        if small_groups == "skip":
            return None, n_duplicates
        raise InsufficientDataError(
            f"the group {group.label} has {n} darks (from {len({r[0] for r in chosen})} files) "
            f"but min_darks is {min_darks}; lower min_darks, add files, or pass "
            "small_groups='skip'"
        )
    slots = np.array([r[4] for r in chosen], dtype=np.intp)
    data, n_used, scatter = _combine_rows(stack, slots, method, clip, clip_iter, block_bytes)
    prov = np.zeros(n, dtype=list(PROVENANCE_COLUMNS))
    finite_s = np.isfinite(data)
    et = np.array([r[2] for r in chosen])
    files = [r[0] for r in chosen]
    order = np.argsort(et, kind="stable")
    rank = np.empty(n, dtype=np.intp)
    rank[order] = np.arange(n)
    for k, (path, index, t_et, temp, slot) in enumerate(chosen):
        d = np.asarray(stack[slot], dtype=np.float64)
        use = finite_s & np.isfinite(d)
        prov[k]["file"] = path
        prov[k]["dark_index"] = index
        prov[k]["et"] = t_et
        prov[k]["temperature"] = temp
        (prov[k]["scale"],) = _fit_onto(data, d, 0)
        prov[k]["gain"], prov[k]["offset"] = _fit_onto(data, d, 1)
        dv, sv = d[use], data[use]
        prov[k]["n_pixels"] = dv.size
        prov[k]["sum_d"], prov[k]["sum_dd"] = dv.sum(), (dv * dv).sum()
        prov[k]["sum_s"], prov[k]["sum_ss"] = sv.sum(), (sv * sv).sum()
        prov[k]["sum_ds"] = (dv * sv).sum()
        j = _nearest_other(k, order, rank, et, files)
        if j >= 0:
            diff = d - np.asarray(stack[chosen[j][4]], dtype=np.float64)
            prov[k]["nearest_sigma"] = float(np.std(diff[np.isfinite(diff)]))
        else:
            prov[k]["nearest_sigma"] = np.nan
    del stack
    return (
        Superdark(group, data, n_used, scatter, prov, method, clip, clip_iter),
        n_duplicates,
    )


# ------------------------------------------------------------------ the model
@dataclass(frozen=True)
class ModelValidation:
    """Leave-one-file-out errors of a :class:`DarkModel` (made by :meth:`DarkModel.validate`).

    Attributes
    ----------
    file : tuple of str
        The file of each dark.
    temperature : numpy.ndarray
        Each dark's temperature, deg C.
    model_sigma : numpy.ndarray
        Standard deviation of the dark minus the model's prediction at its
        temperature, the superdark and the model rebuilt without the dark's
        file, DN.
    nearest_sigma : numpy.ndarray
        Standard deviation of the dark minus the nearest dark in time of
        another file, DN (the baseline).

    Examples
    --------
    >>> import numpy as np
    >>> v = ModelValidation(("a",), np.array([-15.0]), np.array([2.0]), np.array([3.0]))
    >>> v.summary()
    {'n_darks': 1, 'model_sigma': 2.0, 'nearest_sigma': 3.0, 'ratio': 0.6666666666666666}
    """

    file: tuple[str, ...]
    temperature: npt.NDArray[np.float64]
    model_sigma: npt.NDArray[np.float64]
    nearest_sigma: npt.NDArray[np.float64]

    def summary(self) -> dict[str, float]:
        """Medians over the darks (finite values): model, baseline and their ratio."""
        m = self.model_sigma[np.isfinite(self.model_sigma)]
        b = self.nearest_sigma[np.isfinite(self.nearest_sigma)]
        model = float(np.median(m)) if m.size else math.nan
        base = float(np.median(b)) if b.size else math.nan
        return {
            "n_darks": len(self.file),
            "model_sigma": model,
            "nearest_sigma": base,
            "ratio": model / base if base > 0 else math.nan,
        }


def _poly_fit(
    temperature: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    max_degree: int,
    criterion: Literal["aic", "bic", "plateau"],
) -> tuple[int, npt.NDArray[np.float64]]:
    """Degree chosen by iuvs.choose_rank among 1..max_degree, and its coefficients."""
    from iuvs.fitting import fit
    from iuvs.selection import choose_rank

    fits = []
    for degree in range(1, max_degree + 1):
        if temperature.size < degree + 2:
            break
        fits.append(fit(temperature, values, degree))
    if not fits:
        raise InsufficientDataError(
            f"{temperature.size} darks with a temperature; a model of the dark against "
            "temperature needs at least 3 (a line and one degree of freedom)"
        )
    choice = choose_rank(fits, criterion)
    chosen = next(f for f in fits if f.rank == choice.rank)
    return choice.rank, np.asarray(chosen.coeffs, dtype=np.float64)


# the provenance columns of each rank's coefficients (rank 0: a; rank 1: a, b)
_COEFFICIENTS = {0: ("scale",), 1: ("gain", "offset")}


def _temperature_polynomials(
    temperature: npt.NDArray[np.float64],
    columns: Sequence[npt.NDArray[np.float64]],
    max_degree: int,
    criterion: Literal["aic", "bic", "plateau"],
) -> tuple[tuple[int, ...], tuple[npt.NDArray[np.float64], ...]]:
    """Each coefficient column against temperature (darks where all are finite): degrees, polys."""
    use = np.isfinite(temperature)
    for values in columns:
        use &= np.isfinite(values)
    fitted = [_poly_fit(temperature[use], values[use], max_degree, criterion) for values in columns]
    return tuple(d for d, _ in fitted), tuple(p for _, p in fitted)


@dataclass(frozen=True)
class DarkModel:
    """A group's dark as a function of detector temperature.

    ``dark(T) = a(T) * superdark`` (``rank=0``) or ``a(T) * superdark + b(T)``
    (``rank=1``), where ``a`` and ``b`` are polynomials in T fitted to the
    coefficients of each dark fitted onto the superdark (:func:`iuvs.fit`).
    Made by :meth:`DarkModel.fit`.

    Attributes
    ----------
    superdark : Superdark
        The group's superdark and provenance.
    rank : int
        0 or 1: the model of each dark onto the superdark.
    degrees : tuple of int
        The polynomial degree of each coefficient (``a``, then ``b``).
    polynomials : tuple of numpy.ndarray
        Their coefficients, highest power first (as :func:`numpy.polyval`).
    criterion : str
        How the degrees were chosen (:func:`iuvs.choose_rank`).
    max_degree : int
        Highest degree tried.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=4, n_darks=4)
    ...     s = iuvs.darks.superdark(d, jobs=1)
    >>> model = iuvs.darks.DarkModel.fit(s[0])
    >>> model.predict(-15.0).shape, model.degrees[0] >= 1
    ((12, 48), True)
    """

    superdark: Superdark
    rank: int
    degrees: tuple[int, ...]
    polynomials: tuple[npt.NDArray[np.float64], ...]
    criterion: str = "bic"
    max_degree: int = 3

    @property
    def group(self) -> DarkGroup:
        """The superdark's group."""
        return self.superdark.group

    @classmethod
    def fit(
        cls,
        superdark: Superdark,
        *,
        rank: int = 1,
        max_degree: int = 3,
        criterion: Literal["aic", "bic", "plateau"] = "bic",
    ) -> DarkModel:
        """Fit the model of one group.

        Parameters
        ----------
        superdark : Superdark
            The group's superdark (its provenance holds each dark's fit).
        rank : {0, 1}, optional
            Model of a dark onto the superdark: 0 ``a * S``, 1 ``a * S + b``.
        max_degree : int, optional
            Highest polynomial degree in temperature tried (1..max_degree).
        criterion : {'bic', 'aic', 'plateau'}, optional
            :func:`iuvs.choose_rank` criterion.

        Returns
        -------
        DarkModel
            The fitted model.

        Raises
        ------
        iuvs.exceptions.InvalidParameterError
            ``rank`` not 0 or 1, ``max_degree`` < 1.
        iuvs.exceptions.InsufficientDataError
            Fewer than 3 darks with a known temperature and coefficient.

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=4, n_darks=4)
        ...     s = iuvs.darks.superdark(d, jobs=1)
        >>> iuvs.darks.DarkModel.fit(s[0], rank=0).rank
        0
        """
        if rank not in (0, 1) or isinstance(rank, bool):
            raise InvalidParameterError(f"rank must be 0 or 1, got {rank!r}")
        max_degree = check_positive_int("max_degree", max_degree)
        prov = superdark.provenance
        columns = [np.asarray(prov[name], dtype=np.float64) for name in _COEFFICIENTS[rank]]
        degrees, polys = _temperature_polynomials(
            np.asarray(prov["temperature"], dtype=np.float64), columns, max_degree, criterion
        )
        return cls(superdark, rank, degrees, polys, criterion, max_degree)

    def coefficients(self, temperature: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """``a(T)`` (and ``b(T)``) at each temperature, ``(n, 1 or 2)``.

        Examples
        --------
        >>> import numpy as np
        >>> g = DarkGroup("MUV", 1.0, "", 0, 1, 0, 1, (1, 2))
        >>> s = Superdark(g, np.ones((1, 2)), np.ones((1, 2), dtype=np.int64), np.zeros((1, 2)),
        ...               np.zeros(0, dtype=list(PROVENANCE_COLUMNS)), "median", None, 5)
        >>> m = DarkModel(s, 1, (1, 1), (np.array([0.1, 2.0]), np.array([0.0, 5.0])))
        >>> m.coefficients([0.0, 10.0]).tolist()
        [[2.0, 5.0], [3.0, 5.0]]
        """
        t = np.atleast_1d(np.asarray(temperature, dtype=np.float64))
        return np.stack([np.polyval(p, t) for p in self.polynomials], axis=-1)

    def predict(self, temperature: float | npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Return the dark at a detector temperature, DN.

        Parameters
        ----------
        temperature : float or array_like
            deg C.

        Returns
        -------
        numpy.ndarray
            ``(spatial, spectral)`` for one temperature, ``(n, spatial,
            spectral)`` for ``n``.

        Examples
        --------
        >>> import numpy as np
        >>> g = DarkGroup("MUV", 1.0, "", 0, 1, 0, 1, (1, 2))
        >>> s = Superdark(g, np.array([[1.0, 2.0]]), np.ones((1, 2), dtype=np.int64),
        ...               np.zeros((1, 2)), np.zeros(0, dtype=list(PROVENANCE_COLUMNS)),
        ...               "median", None, 5)
        >>> m = DarkModel(s, 0, (1,), (np.array([0.5, 1.0]),))
        >>> m.predict(2.0).tolist()
        [[2.0, 4.0]]
        """
        scalar = np.ndim(temperature) == 0
        c = self.coefficients(temperature)
        s = self.superdark.data
        dark = c[:, 0, None, None] * s[None]
        if self.rank == 1:
            dark = dark + c[:, 1, None, None]
        return np.asarray(dark[0] if scalar else dark, dtype=np.float64)

    def validate(
        self,
        *,
        folds: int | None = None,
        scratch_dir: PathLike | None = None,
        block_bytes: int = _BLOCK_BYTES,
    ) -> ModelValidation:
        """Leave-one-file-out error next to that of the nearest dark in time.

        For each file of the provenance, the superdark is combined again from
        the other files' darks (same method and clipping), each of those
        darks is fitted onto it, the coefficients' polynomials in temperature
        are fitted again (degrees chosen again, same ``max_degree`` and
        criterion), and each of the file's darks is predicted at its
        temperature: its error is the standard deviation over the pixels of
        the dark minus that prediction.  The baseline is the standard
        deviation of the dark minus the nearest dark in time of another file.

        The darks are read again from the files named in the provenance (once,
        into a float64 scratch file in ``scratch_dir``, removed at the end),
        and each rebuilt superdark is combined in blocks of rows as
        :func:`superdark` does.  Cost: one read of the group's darks, then per
        file one combination of the other darks and one fit per dark, so
        about ``n_files`` times the combination of :func:`superdark`.  The
        result is kept: a second call returns it at once.  On an archive of
        thousands of files, ``folds=k`` leaves out ``k`` groups of files in
        turn instead (k-fold cross-validation by file: the files, in time
        order, dealt in turn to the folds, so that each fold spans the
        temperatures), for ``k`` combinations.

        Parameters
        ----------
        folds : int, optional
            Groups of files left out together; None (default) or at least
            the number of files: each file alone (leave-one-file-out).
        scratch_dir : path, optional
            Folder of the scratch file (default: the system's temporary folder).
        block_bytes : int, optional
            Largest float64 block of the stack combined at once.

        Returns
        -------
        ModelValidation
            Per dark: file, temperature, model error, baseline error (NaN
            for a dark of unknown temperature, or when the other files leave
            too few darks for the model).

        Raises
        ------
        iuvs.exceptions.FileFormatError
            A file of the provenance cannot be read again, or its darks are
            no longer those the superdark used (their times, shape or pixel
            sums differ).

        Examples
        --------
        >>> import tempfile, iuvs
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = iuvs.synthetic.write_dark_archive(d, files_per_set=4, n_darks=4)
        ...     s = iuvs.darks.superdark(d, jobs=1)
        ...     v = iuvs.darks.DarkModel.fit(s[0]).validate()
        >>> v.summary()["n_darks"], v.model_sigma.shape
        (8, (8,))
        """
        if folds is not None:
            folds = check_positive_int("folds", folds)
        block_bytes = check_positive_int("block_bytes", block_bytes)
        cache: dict[int | None, ModelValidation] = self.__dict__.setdefault("_validations", {})
        if folds in cache:
            return cache[folds]
        s = self.superdark
        prov = s.provenance
        files = np.array([str(f) for f in prov["file"]], dtype=object)
        temps = np.asarray(prov["temperature"], dtype=np.float64)
        fold = _file_folds(files, np.asarray(prov["et"], dtype=np.float64), folds)
        model_sigma = np.full(files.size, np.nan)
        if files.size:
            with tempfile.TemporaryDirectory(
                prefix="iuvs-validate-", dir=None if scratch_dir is None else os.fspath(scratch_dir)
            ) as folder:
                stack = _reload_darks(s, os.path.join(folder, "darks.f8"))
                try:
                    for f in np.unique(fold):
                        self._predict_left_out(stack, fold == f, temps, block_bytes, model_sigma)
                finally:
                    del stack
        result = ModelValidation(
            tuple(files.tolist()),
            temps,
            model_sigma,
            np.asarray(prov["nearest_sigma"], dtype=np.float64),
        )
        cache[folds] = result  # the model is frozen: a cache, not a field
        return result

    def _predict_left_out(
        self,
        stack: npt.NDArray[np.float64],
        test: npt.NDArray[np.bool_],
        temps: npt.NDArray[np.float64],
        block_bytes: int,
        model_sigma: npt.NDArray[np.float64],
    ) -> None:
        """Rebuild superdark and model without the darks ``test``; fill their errors."""
        s = self.superdark
        train = np.flatnonzero(~test)
        if train.size == 0:
            return
        try:
            data = _combine_rows(stack, train, s.method, s.clip, s.clip_iter, block_bytes)[0]
            coeffs = np.array([_fit_onto(data, stack[j], self.rank) for j in train])
            _, polys = _temperature_polynomials(
                temps[train],
                list(coeffs.T),
                self.max_degree,
                cast(Literal["aic", "bic", "plateau"], self.criterion),
            )
        except (InsufficientDataError, EmptyInputError):
            return  # every value masked, or too few darks with a temperature left
        for k in np.flatnonzero(test & np.isfinite(temps)):
            a, *b = (float(np.polyval(p, temps[k])) for p in polys)
            residual = stack[k] - (a * data + (b[0] if b else 0.0))
            residual = residual[np.isfinite(residual)]
            model_sigma[k] = float(np.std(residual)) if residual.size else math.nan


def _file_folds(
    files: npt.NDArray[np.object_], et: npt.NDArray[np.float64], folds: int | None
) -> npt.NDArray[np.intp]:
    """Fold of each dark: its file's rank in time order (first ET), modulo ``folds``."""
    names, first = np.unique(files, return_inverse=True)
    start = np.full(names.size, np.inf)
    np.minimum.at(start, first, et)
    rank = np.empty(names.size, dtype=np.intp)
    rank[np.lexsort((names.astype(str), start))] = np.arange(names.size)
    fold = rank[first]
    return fold if folds is None else fold % folds


def _reload_darks(s: Superdark, path: str) -> npt.NDArray[np.float64]:
    """Read the darks of a superdark's provenance again, in its order, into a float64 memmap."""
    from iuvs.io.l1b import L1BReader

    prov = s.provenance
    files = np.array([str(f) for f in prov["file"]], dtype=object)
    stack = np.memmap(path, dtype=np.float64, mode="w+", shape=(files.size, *s.group.shape))
    for name in dict.fromkeys(files.tolist()):
        rows = np.flatnonzero(files == name)
        index = np.asarray(prov["dark_index"][rows], dtype=np.intp)
        try:
            reader = L1BReader(name, darks_only=True)
            et = reader.dark_et
            darks = reader.detector_dark
            if (
                et is None
                or tuple(darks.shape[-2:]) != s.group.shape
                or int(index.max()) >= min(et.size, darks.shape[0])
                or not np.allclose(et[index], prov["et"][rows], rtol=0, atol=_SAME_DARK_SECONDS)
            ):
                raise ValueError(
                    f"its darks are no longer those the superdark used (dark indices "
                    f"{index.tolist()}, shape {s.group.shape}, ET as in the provenance)"
                )
            frames = np.asarray(darks[index], dtype=np.float64)
            # the content too: each dark's sum over the pixels finite in it and the superdark
            sums = np.nansum(np.where(np.isfinite(s.data), frames, np.nan), axis=(1, 2))
            differ = ~np.isclose(sums, prov["sum_d"][rows], rtol=1e-9, atol=0)
            if differ.any():
                j = int(np.argmax(differ))
                raise ValueError(
                    f"its darks are no longer those the superdark used (dark {index[j]}: pixel "
                    f"sum {sums[j]:.10g} where the provenance has {prov['sum_d'][rows][j]:.10g})"
                )
            stack[rows] = frames
        except (IuvsError, OSError, ValueError, KeyError, IndexError, TypeError, zlib.error) as err:
            raise FileFormatError(
                f"{name}: cannot read again the {rows.size} darks of the superdark "
                f"{s.group.label} ({type(err).__name__}: {err}); validate() rebuilds the "
                "superdark without each file and needs every file of the provenance"
            ) from err
    stack.flush()
    return stack


# ------------------------------------------------------------------ FITS file
def write_superdarks(result: SuperdarkSet, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write superdarks to one FITS file, atomically and checksummed.

    HDUs: a primary header (counts), then per group ``i`` (1-based,
    ``EXTVER = i``) the image ``SUPERDARK`` (float64, DN; cards naming the
    group, the method and the counts), ``COUNT`` (darks kept per pixel) and
    ``SCATTER`` (their standard deviation), then the ``PROVENANCE`` table
    (column ``GROUP`` gives the EXTVER) and the ``FAILURES`` table.

    Parameters
    ----------
    result : SuperdarkSet
        What :func:`superdark` returned.
    path : path
        The output ``.fits`` file.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The file exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = iuvs.synthetic.write_dark_archive(d / "a", files_per_set=2, n_darks=4)
    >>> out = write_superdarks(iuvs.darks.superdark(d / "a", jobs=1), d / "s.fits")
    >>> [s.group.channel for s in read_superdarks(out)]
    ['FUV', 'MUV', 'MUV']
    """
    from astropy.io import fits

    from iuvs.io._longstrn import mark_long_strings
    from iuvs.io._verify import write_verified
    from iuvs.io.product import _creator, check_output_path

    target = check_output_path(path, overwrite=overwrite)
    primary = fits.PrimaryHDU()
    h = primary.header
    h["CREATOR"] = _creator()
    h["NGROUPS"] = (len(result), "superdarks (groups) in this file")
    h["NFILES"] = (result.n_files, "L1B files looked at")
    h["NFAILED"] = (len(result.failures), "files whose darks could not be read")
    h["NDUPL"] = (result.n_duplicates, "darks left out: the same dark in another file")
    h["SETGAP"] = (SET_GAP_SECONDS, "s between darks that starts a new dark set")
    hdus: list[Any] = [primary]
    provenance = []
    for i, s in enumerate(result, start=1):
        g = s.group
        cards = [
            ("GROUP", g.label, ""),
            ("XUV", g.channel, "channel"),
            ("INT_TIME", g.int_time, "integration time (s)"),
            ("BIN_TBL", g.bin_tbl, "binning table"),
            ("SPA_OFS", g.spa_ofs, ""),
            ("SPA_SIZE", g.spa_size, ""),
            ("SPE_OFS", g.spe_ofs, ""),
            ("SPE_SIZE", g.spe_size, ""),
            ("NDARKS", s.n_darks, "darks combined"),
            ("NFILES", s.n_files, "files whose darks were combined"),
            ("METHOD", s.method, "median or mean of the kept values"),
            ("CLIP", "none" if s.clip is None else float(s.clip), "sigma-clip threshold"),
            ("CLIPITER", s.clip_iter, "most clipping iterations"),
        ]
        for name, data in (("SUPERDARK", s.data), ("COUNT", s.n_used), ("SCATTER", s.scatter)):
            hdu = fits.ImageHDU(np.asarray(data), name=name, ver=i)
            for key, value, comment in cards:
                hdu.header[key] = (value, comment) if comment else value
            hdu.header["BUNIT"] = "" if name == "COUNT" else "DN"
            hdus.append(hdu)
        p = s.provenance
        provenance.append((i, p))
    cols = [
        fits.Column(
            "GROUP",
            "J",
            array=np.concatenate([np.full(p.shape[0], i, dtype=np.int32) for i, p in provenance])
            if provenance
            else np.zeros(0, dtype=np.int32),
        )
    ]
    for name, kind in PROVENANCE_COLUMNS:
        values = (
            np.concatenate([p[name] for _, p in provenance])
            if provenance
            else np.zeros(0, dtype=kind)
        )
        if kind.startswith("U"):
            width = max(1, max((len(str(v)) for v in values), default=1))
            cols.append(fits.Column(name.upper(), f"{width}A", array=values.astype(str)))
        else:
            cols.append(fits.Column(name.upper(), "K" if kind == "i8" else "D", array=values))
    hdus.append(fits.BinTableHDU.from_columns(cols, name="PROVENANCE"))
    fail_files = np.array([f for f, _ in result.failures] or [""])[: len(result.failures)]
    fail_errors = np.array([e for _, e in result.failures] or [""])[: len(result.failures)]
    hdus.append(
        fits.BinTableHDU.from_columns(
            [
                fits.Column(
                    "FILE", f"{max(1, max(map(len, fail_files), default=1))}A", array=fail_files
                ),
                fits.Column(
                    "ERROR", f"{max(1, max(map(len, fail_errors), default=1))}A", array=fail_errors
                ),
            ],
            name="FAILURES",
        )
    )
    write_verified(mark_long_strings(fits.HDUList(hdus)), target, overwrite=overwrite)
    return target


def read_superdarks(path: PathLike) -> SuperdarkSet:
    """Read a file written by :func:`write_superdarks` (checksums verified).

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    SuperdarkSet
        The superdarks, provenance and failures (``seconds`` is 0).

    Raises
    ------
    iuvs.exceptions.FileFormatError
        Not a superdark file, or a checksum does not match.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = iuvs.synthetic.write_dark_archive(d / "a", files_per_set=2, n_darks=4)
    >>> s = iuvs.darks.superdark(d / "a", jobs=1)
    >>> back = read_superdarks(write_superdarks(s, d / "s.fits"))
    >>> bool((back[0].data == s[0].data).all()), back[0].group == s[0].group
    (True, True)
    """
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with fits.open(os.fspath(path), memmap=False, checksum=True) as hdul:
                h = hdul[0].header
                n_groups = int(h["NGROUPS"])
                table = hdul["PROVENANCE"].data
                group_col = np.asarray(table["GROUP"])
                out = []
                for i in range(1, n_groups + 1):
                    sd = hdul["SUPERDARK", i]
                    c = sd.header
                    clip = c["CLIP"]
                    group = DarkGroup(
                        str(c["XUV"]),
                        float(c["INT_TIME"]),
                        str(c["BIN_TBL"]),
                        int(c["SPA_OFS"]),
                        int(c["SPA_SIZE"]),
                        int(c["SPE_OFS"]),
                        int(c["SPE_SIZE"]),
                        (int(sd.data.shape[0]), int(sd.data.shape[1])),
                    )
                    rows = table[group_col == i]
                    prov = np.zeros(len(rows), dtype=list(PROVENANCE_COLUMNS))
                    for name, _ in PROVENANCE_COLUMNS:
                        prov[name] = rows[name.upper()]
                    out.append(
                        Superdark(
                            group,
                            np.asarray(sd.data, dtype=np.float64),
                            np.asarray(hdul["COUNT", i].data, dtype=np.int64),
                            np.asarray(hdul["SCATTER", i].data, dtype=np.float64),
                            prov,
                            str(c["METHOD"]),
                            None if clip == "none" else float(clip),
                            int(c["CLIPITER"]),
                        )
                    )
                fails = hdul["FAILURES"].data
                failures = tuple(
                    (str(f), str(e)) for f, e in zip(fails["FILE"], fails["ERROR"], strict=True)
                )
                return SuperdarkSet(tuple(out), failures, int(h["NFILES"]), int(h["NDUPL"]), 0.0)
    except (OSError, KeyError, ValueError, TypeError, Warning) as err:
        from iuvs.io.files import _not_fits

        why = f"{path}: not a readable superdark file ({type(err).__name__}: {err})"
        raise FileFormatError(_not_fits(path) or why) from err


# ------------------------------------------------------------------------ CLI
def _jobs_argument(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of jobs, got {text!r}")
    return value


def _run_cli(args: Any, show: Callable[[str], None]) -> int:
    """Run ``iuvs superdark``: combine, write, tell; 1 when a file failed."""
    from iuvs.io.product import check_output_path

    check_output_path(args.output, overwrite=args.overwrite)  # refuse before any work
    if args.report is not None and not args.overwrite:
        from iuvs.reporting import _check_target

        _check_target(Path(args.report) / SUPERDARK_REPORT_NAME, False)
    result = superdark(
        args.inputs,
        method=args.method,
        clip=None if args.clip <= 0 else args.clip,
        skip_first=not args.keep_first,
        min_darks=args.min_darks,
        small_groups="skip" if args.skip_small else "raise",
        scheduler=args.scheduler,
        jobs=args.jobs,
        pattern=args.pattern,
    )
    write_superdarks(result, args.output, overwrite=args.overwrite)
    if args.report is not None:
        show(f"wrote {write_superdark_report(result, args.report, overwrite=args.overwrite)}")
    for s in result:
        show(f"{s.group.label}: {s.n_darks} darks from {s.n_files} files")
    for path, error in result.failures:
        show(f"failed: {path}: {error}")
    show(
        f"wrote {args.output}: {len(result)} superdarks from {result.n_files} files "
        f"({len(result.failures)} failed, {result.n_duplicates} duplicate darks left out) "
        f"in {result.seconds:.1f} s"
    )
    return 1 if result.failures else 0


def add_parser(subparsers: Any) -> Any:
    """Register the ``superdark`` subcommand (its ``run`` default is ``run(args, show) -> int``).

    Examples
    --------
    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = add_parser(p.add_subparsers(dest="command"))
    >>> p.parse_args(["superdark", "root", "-o", "s.fits", "--jobs", "2"]).jobs
    2
    """
    p = subparsers.add_parser(
        "superdark",
        help="combine the darks of an archive into one superdark per binning set",
        description=(
            "Group the darks of L1B files by channel, integration time and binning, leave out "
            "the first dark of each dark set, and write one sigma-clipped median (or mean) per "
            "group, with COUNT and SCATTER images and a PROVENANCE table, to a FITS file. "
            "Unreadable files are reported and skipped (exit status 1)."
        ),
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="ROOT_OR_FILES")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .fits file to write")
    p.add_argument("--jobs", type=_jobs_argument, default=None, help="worker processes")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--method", choices=("median", "mean"), default="median")
    p.add_argument("--clip", type=float, default=3.0, help="sigma-clip threshold; 0: none")
    p.add_argument("--min-darks", type=int, default=3, help="fewest darks a group needs")
    p.add_argument(
        "--skip-small", action="store_true", help="skip groups with fewer than --min-darks"
    )
    p.add_argument("--keep-first", action="store_true", help="keep the first dark of each dark set")
    p.add_argument("--pattern", default="*.fits*", help="file name pattern in folders")
    p.add_argument(
        "--report", type=Path, default=None, metavar="DIR", help="also write DIR/superdark.html"
    )
    p.set_defaults(run=_run_cli)
    return p


# --------------------------------------------------------------------- report
SUPERDARK_REPORT_NAME = "superdark.html"


def write_superdark_report(
    result: SuperdarkSet,
    out_dir: PathLike,
    *,
    overwrite: bool = False,
    figures: bool = True,
) -> Path:
    """Write ``superdark.html``: per group the counts, the model's errors and the figures.

    Per group: darks and files, the :class:`DarkModel` (rank 1, degrees by
    BIC) leave-one-file-out error next to the nearest dark's, and, with
    matplotlib, :func:`iuvs.plotting.superdark` and
    :func:`iuvs.plotting.dark_vs_temperature`; then the files that failed.

    Parameters
    ----------
    result : SuperdarkSet
        What :func:`superdark` (or :func:`read_superdarks`) returned.
    out_dir : path
        Folder (created if needed).
    overwrite : bool, optional
        Replace an existing page.
    figures : bool, optional
        Embed the figures (needs matplotlib).

    Returns
    -------
    pathlib.Path
        The page.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        The page exists and ``overwrite`` is false.

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = iuvs.synthetic.write_dark_archive(d / "a", files_per_set=4, n_darks=4)
    >>> s = iuvs.darks.superdark(d / "a", jobs=1)
    >>> write_superdark_report(s, d / "rep", figures=False).name
    'superdark.html'
    """
    import html

    from iuvs import __version__
    from iuvs.reporting import _CSS, _check_target, _figure_html

    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InvalidParameterError(f"cannot write a report into {folder}: it is not a folder")
    page = folder / SUPERDARK_REPORT_NAME
    _check_target(page, overwrite)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>iuvs superdarks</title><style>{_CSS}</style></head><body>",
        "<h1>iuvs superdarks</h1>",
        f"<p>Written by iuvs {html.escape(__version__)}: {len(result)} groups from "
        f"{result.n_files} files ({len(result.failures)} failed, {result.n_duplicates} "
        "duplicate darks left out).</p>",
    ]
    for s in result:
        parts.append(f"<h2>{html.escape(s.group.label)}</h2>")
        parts.append(
            f"<p>{s.n_darks} darks from {s.n_files} files, {s.method}"
            + (f", clipped at {s.clip:g} sigma" if s.clip is not None else "")
            + f"; temperatures {np.nanmin(s.temperatures):.2f} .. "
            f"{np.nanmax(s.temperatures):.2f} deg C.</p>"
            if np.isfinite(s.temperatures).any()
            else f"<p>{s.n_darks} darks from {s.n_files} files, {s.method}.</p>"
        )
        model: DarkModel | None
        try:
            model = DarkModel.fit(s)
        except IuvsError as err:
            model = None
            parts.append(f'<p class="note">No model: {html.escape(str(err))}</p>')
        if model is not None:
            try:
                v = model.validate().summary()
                parts.append(
                    f"<p>DarkModel rank 1, degrees {list(model.degrees)}: leave-one-file-out "
                    f"residual sigma {v['model_sigma']:.4g} DN against {v['nearest_sigma']:.4g} "
                    f"DN for the nearest dark in time (ratio {v['ratio']:.3g}).</p>"
                )
            except IuvsError as err:  # the files are needed again (e.g. moved since)
                model = None  # its figure shows the leave-one-file-out errors too
                parts.append(
                    f'<p class="note">No leave-one-file-out error: {html.escape(str(err))}</p>'
                )
        if figures:

            def draw(s: Superdark = s, model: DarkModel | None = model) -> list[tuple[str, Any]]:
                from iuvs import plotting

                out = [("superdark, darks kept, scatter", plotting.superdark(s))]
                if model is not None:
                    out.append(
                        ("coefficients against temperature", plotting.dark_vs_temperature(model))
                    )
                return out

            parts += _figure_html(draw)[0]
    if result.failures:
        parts.append(f"<h2>Failures ({len(result.failures)} files)</h2><table>")
        parts.append("<tr><th class='l'>file</th><th class='l'>error</th></tr>")
        for path, error in result.failures:
            parts.append(
                f"<tr><td class='l'>{html.escape(path)}</td>"
                f"<td class='l'>{html.escape(error)}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(page) as fh:
        fh.write(("\n".join(parts) + "\n").encode("utf-8"))
    return page
