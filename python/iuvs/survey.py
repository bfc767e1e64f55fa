"""Survey an archive of L1B files: every dark pair of every file, every model rank, one table.

:func:`survey` reads each file once, fits the requested models to its dark
pairs (:func:`iuvs.fit_all`), marks the rank :func:`iuvs.choose_rank` picks,
and returns a :class:`pandas.DataFrame` with one row per (file, dark pair,
rank).  A file that cannot be surveyed (unreadable, damaged, without
``detector_dark`` or with a single dark) gives one row with ``status ==
'error'``; a pair whose fit fails gives one error row for that pair; the
survey goes on.  Files run in parallel in worker processes
(:class:`concurrent.futures.ProcessPoolExecutor`) or on a Dask cluster
(``scheduler=``); the rows come out in the same order either way: by path,
then dark pair, then rank.

:func:`write_table` and :func:`read_table` store the table as Parquet or
CSV; :func:`run_survey` writes it, resumes an interrupted run and lists the
failures; :func:`add_parser` registers the ``iuvs survey`` subcommand.

The columns (:data:`COLUMNS`, in this order):

- file: ``path`` (absolute), ``file`` (base name), ``mtime`` (s, ``os.stat``),
  ``observation`` (``mvn_iuv_l1b_<description>_<timestamp>``), ``segment``,
  ``orbit`` (nullable ``Int64``), ``channel`` (``'MUV'``, ``'FUV'``, ...),
  ``version`` (``Int64``), ``revision`` (``'r01'``, ``'s10'``, ...); the name
  fields are ``''`` / ``<NA>`` when the name does not follow the IUVS grammar;
- pair: ``dark_in``, ``dark_out`` (indices into ``detector_dark``),
  ``time_in``, ``time_out`` (UTC, ``datetime64[ns]``, NaT where absent),
  ``delta_time_s``, ``temp_in``, ``temp_out``, ``delta_temp`` (``DET_TEMP_C``
  of the darks, deg C, NaN for v00/v01 files), ``int_time`` (s), ``n_spa``,
  ``n_spe``;
- fit: ``rank``, ``model``, ``coeffs`` (list, **highest power first**),
  ``c0`` .. ``c12`` (``c<k>`` multiplies ``x**k``: the coefficients reversed
  and NaN-padded, as the ``C0..Cn`` cards of the FITS product; for ranks -1
  and 0 ``c0`` is ``a``), ``perr`` (list, same order as ``coeffs``), the
  residual statistics and counts of :class:`iuvs.ResidualStats`, in its order
  (``n_used``, ``n_excluded``, ``n_nonfinite``, ``n_masked``, ``n_hot``,
  ``n_clipped``, ``mean``, ``std``, ``min``, ``max``, ``rms``, ``frac_mean``,
  ``frac_std``, ``n_fractional``, ``n_zero_denominator``), and ``chosen`` (the
  rank chosen for the pair);
- ``status`` (``'ok'`` or ``'error'``), ``error_class`` and ``error_message``
  (``''`` for ok rows).

Examples
--------
>>> import tempfile, iuvs
>>> from iuvs.survey import survey
>>> with tempfile.TemporaryDirectory() as d:
...     _ = iuvs.synthetic.write_archive(d, n_files=3, n_spa=7, n_spe=64, bad_fraction=0)
...     table = survey(d, ranks=[0, 1], jobs=1, progress=False)
>>> print(table[["segment", "channel", "rank", "model", "status"]].to_string(index=False))
 segment channel  rank          model status
 apoapse     MUV     0 multiplicative     ok
 apoapse     MUV     1          poly1     ok
outbound     FUV     0 multiplicative     ok
outbound     FUV     1          poly1     ok
periapse     MUV     0 multiplicative     ok
periapse     MUV     1          poly1     ok
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import iuvs._core as _core
from iuvs._argtypes import add_exclusion_options, parse_ranks
from iuvs._atomic import atomic_file
from iuvs.batch import BatchResult, fit_batch
from iuvs.exceptions import (
    DarkIndexError,
    EmptyInputError,
    InvalidParameterError,
    IuvsError,
    OutputExistsError,
)
from iuvs.fitting import MAX_RANK
from iuvs.io.files import parse_l1b_filename
from iuvs.io.l1b import L1BReader
from iuvs.options import FitOptions, check_ranks
from iuvs.selection import choose_rank

if TYPE_CHECKING:
    import pandas as pd


def _pandas() -> Any:
    """Import pandas on first use (the ``survey`` extra), with the install hint."""
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'iuvs.survey needs pandas (and pyarrow for Parquet): pip install "iuvs[survey]"'
        ) from err
    return pandas


__all__ = [
    "COLUMNS",
    "SurveySummary",
    "add_parser",
    "format_summary",
    "read_table",
    "run_survey",
    "summarize",
    "survey",
    "write_table",
]

PairMode = Literal["consecutive", "first", "all"]
Criterion = Literal["aic", "bic", "plateau"]
PathLike = str | os.PathLike[str]

_N_COEFFS = MAX_RANK + 1  # c0 .. c12
_C_COLUMNS = tuple(f"c{k}" for k in range(_N_COEFFS))
_FILE_COLUMNS = (
    "path",
    "file",
    "mtime",
    "observation",
    "segment",
    "orbit",
    "channel",
    "version",
    "revision",
)
# the residual statistics of a fit: the core's one list, as ResidualStats names them
_STATS: tuple[str, ...] = tuple(name for name, *_ in _core.RESIDUAL_FIELDS)

COLUMNS: tuple[str, ...] = (
    *_FILE_COLUMNS,
    "dark_in",
    "dark_out",
    "time_in",
    "time_out",
    "delta_time_s",
    "temp_in",
    "temp_out",
    "delta_temp",
    "int_time",
    "n_spa",
    "n_spe",
    "rank",
    "model",
    "coeffs",
    *_C_COLUMNS,
    "perr",
    *_STATS,
    "chosen",
    "status",
    "error_class",
    "error_message",
)
"""The survey table's columns, in order (see the module documentation)."""

_STRING = frozenset(
    {
        "path",
        "file",
        "observation",
        "segment",
        "channel",
        "revision",
        "model",
        "status",
        "error_class",
        "error_message",
    }
)
_INTEGER = frozenset(
    {
        "orbit",
        "version",
        "dark_in",
        "dark_out",
        "n_spa",
        "n_spe",
        "rank",
        # the core's counts
        *(name for name, kind, *_ in _core.RESIDUAL_FIELDS if kind == "count"),
    }
)
_TIME = frozenset({"time_in", "time_out"})
_LIST = frozenset({"coeffs", "perr"})
_BOOL = frozenset({"chosen"})
_FLOAT = frozenset(COLUMNS) - _STRING - _INTEGER - _TIME - _LIST - _BOOL
_PARQUET = (".parquet", ".pq")
_CSV = (".csv",)


# ------------------------------------------------------------------------ options
@dataclass(frozen=True)
class _Options:
    """What to do with each file (picklable: sent to every worker)."""

    pairs: str
    ranks: tuple[int, ...]
    hot_threshold: float | None
    hot_sigma: float | None
    clip: float | None
    criterion: Criterion


def _options(
    pairs: str,
    ranks: Iterable[int],
    hot_threshold: float | None,
    hot_sigma: float | None,
    clip: float | None,
    criterion: str,
) -> _Options:
    """Check the options once, before any file is read."""
    if pairs not in ("consecutive", "first", "all"):
        raise InvalidParameterError(f"pairs must be 'consecutive', 'first' or 'all', got {pairs!r}")
    if criterion not in ("aic", "bic", "plateau"):
        raise InvalidParameterError(
            f"criterion must be 'aic', 'bic' or 'plateau', got {criterion!r}"
        )
    # the fit options are checked where every fit checks them
    rank_list = check_ranks(ranks)
    checked = FitOptions(hot_threshold=hot_threshold, hot_sigma=hot_sigma, clip=clip)
    hot_threshold, hot_sigma, clip = checked.hot_threshold, checked.hot_sigma, checked.clip
    return _Options(
        pairs=pairs,
        ranks=tuple(sorted(set(rank_list))),
        hot_threshold=None if hot_threshold is None else float(hot_threshold),
        hot_sigma=None if hot_sigma is None else float(hot_sigma),
        clip=None if clip is None else float(clip),
        criterion=cast(Criterion, criterion),
    )


def _pairs(n_darks: int, mode: str) -> list[tuple[int, int]]:
    """Dark pairs ``(dark_in, dark_out)`` in sorted order."""
    if mode == "consecutive":
        return [(i, i + 1) for i in range(n_darks - 1)]
    if mode == "first":
        return [(0, k) for k in range(1, n_darks)]
    return [(i, j) for i in range(n_darks) for j in range(i + 1, n_darks)]


# ----------------------------------------------------------------- one file (task)
def _file_fields(path: str) -> dict[str, Any]:
    """Return the columns known from the path alone."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = math.nan
    fields: dict[str, Any] = {
        "path": path,
        "file": os.path.basename(path),
        "mtime": float(mtime),
        "observation": "",
        "segment": "",
        "orbit": None,
        "channel": "",
        "version": None,
        "revision": "",
    }
    try:
        fields.update(parse_l1b_filename(path).fields())
    except IuvsError:
        pass
    return fields


def _empty_record(base: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(COLUMNS)
    record.update(base)
    for c in _FLOAT:
        if record[c] is None:
            record[c] = math.nan
    for c in _STRING:
        if record[c] is None:
            record[c] = ""
    record["coeffs"] = []
    record["perr"] = []
    record["chosen"] = False
    record["status"] = "ok"
    return record


def _error_record(base: dict[str, Any], err: BaseException) -> dict[str, Any]:
    record = _empty_record(base)
    record.update(status="error", error_class=type(err).__name__, error_message=str(err))
    return record


def _survey_file(path: str, options: _Options) -> list[dict[str, Any]]:
    """Survey one file: its rows as plain records (no arrays), in pair and rank order.

    This is the task every worker runs; it reads the file itself.
    """
    base = _file_fields(path)
    try:
        with L1BReader(path) as l1b:
            try:
                base["int_time"] = l1b.int_time
            except IuvsError:
                base["int_time"] = math.nan
            base["n_spa"], base["n_spe"] = l1b.spatial_size, l1b.spectral_size
            darks = l1b.detector_dark  # MissingExtensionError without the HDU
            n_darks = l1b.n_darks
            times = l1b.dark_times
            temps = l1b.dark_det_temps
        if n_darks < 2:
            raise DarkIndexError(
                f"{path} has {n_darks} dark frame (detector_dark has shape {darks.shape}); "
                "a dark pair needs at least 2"
            )
    except (IuvsError, OSError) as err:
        return [_error_record(base, err)]
    if times is not None and len(times) != n_darks:
        times = None
    if temps is not None and len(temps) != n_darks:
        temps = None
    records: list[dict[str, Any]] = []
    pairs = _pairs(n_darks, options.pairs)
    # every pair of the file in one call of the core (bit-identical to fit_all
    # pair by pair); a pair that fails keeps its error and the others go on
    batch: BatchResult | None = None
    batch_error: IuvsError | None = None
    try:
        batch = fit_batch(
            [darks[i] for i, _ in pairs],
            [darks[j] for _, j in pairs],
            options.ranks,
            hot_threshold=options.hot_threshold,
            hot_sigma=options.hot_sigma,
            clip=options.clip,
            on_error="keep",
        )
    except IuvsError as err:
        batch_error = err
    for k, (i, j) in enumerate(pairs):
        pair = dict(base, dark_in=i, dark_out=j)
        if times is not None:
            pair.update(
                time_in=times[i],
                time_out=times[j],
                delta_time_s=(times[j] - times[i]).total_seconds(),
            )
        if temps is not None:
            t_in, t_out = float(temps[i]), float(temps[j])
            pair.update(temp_in=t_in, temp_out=t_out, delta_temp=t_out - t_in)
        failed = batch_error if batch is None else batch.errors[k]
        if failed is not None and batch is not None:
            # the batch names the pair by its place in the batch; the row names it already
            failed = type(failed)(str(failed).removeprefix(f"pair {k}: "))
        if failed is not None or batch is None:
            records.append(_error_record(pair, failed or IuvsError("the pair was not fitted")))
            continue
        fits = batch.fits(k)
        try:
            chosen: int | None = choose_rank(fits, options.criterion).rank
        except IuvsError:  # 'plateau' without fractional residuals: nothing is chosen
            chosen = None
        for f in fits:
            record = _empty_record(pair)
            coeffs = [float(c) for c in f.coeffs]
            low_first = coeffs[::-1] + [math.nan] * (_N_COEFFS - len(coeffs))
            record.update(zip(_C_COLUMNS, low_first, strict=True))
            record.update(
                rank=f.rank,
                model=f.name,
                coeffs=coeffs,
                perr=[float(e) for e in f.perr],
                chosen=f.rank == chosen,
            )
            for stat in _STATS:
                value = getattr(f.stats, stat)
                record[stat] = int(value) if stat.startswith("n_") else float(value)
            records.append(record)
    return records


def _init_worker() -> None:
    """Worker initializer: one Rust thread per worker process.

    rayon builds its global pool lazily, on the first parallel fit, from
    ``RAYON_NUM_THREADS``; the workers already share the cores between them.
    """
    os.environ["RAYON_NUM_THREADS"] = "1"


# ------------------------------------------------------------------------ inputs
def _expand(paths_or_root: PathLike | Sequence[PathLike], pattern: str) -> list[str]:
    """Absolute, sorted, unique file paths: folders searched recursively for ``pattern``.

    Hidden files (names starting with ``.``, such as the temporary files of
    an atomic write) are skipped in folders; a file named explicitly is
    always taken, even when it does not exist (it becomes an error row).
    """
    items: Sequence[PathLike]
    if isinstance(paths_or_root, str | os.PathLike):
        items = [paths_or_root]
    else:
        items = list(paths_or_root)
    found: set[str] = set()
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            for f in p.rglob(pattern):
                if not f.name.startswith(".") and f.is_file():
                    found.add(os.path.abspath(f))
        else:
            found.add(os.path.abspath(p))
    return sorted(found)


# ----------------------------------------------------------------------- running
class _Progress:
    """A tqdm bar on stderr when tqdm is installed, enabled and stderr is a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        if not enabled or total == 0 or not sys.stderr.isatty():
            return
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is optional
            return
        self._bar = tqdm(total=total, file=sys.stderr, unit="file", desc="survey")

    def update(self) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _run_local(
    paths: Sequence[str], options: _Options, jobs: int
) -> Iterator[list[dict[str, Any]]]:
    """Yield each file's records as they finish (any order)."""
    if jobs == 1 or len(paths) <= 1:
        for p in paths:
            yield _survey_file(p, options)
        return
    if os.environ.get("IUVS_SURVEY_WORKERS", "threads") != "processes":
        # threads by default: reading (inflation) and fitting release the GIL and
        # a thread costs no spawn; on the real files x20, jobs=2, threads ran at
        # 39 files/s, processes at 20 (benches/bench_survey.py)
        threads = concurrent.futures.ThreadPoolExecutor(max_workers=min(jobs, len(paths)))
        try:
            futures = [threads.submit(_survey_file, p, options) for p in paths]
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        finally:
            threads.shutdown(wait=True, cancel_futures=True)
        return
    # spawn, not fork: forking a process whose rayon pool is running is unsafe
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(paths)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
    )
    try:
        futures = [pool.submit(_survey_file, p, options) for p in paths]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:
        raise ImportError(
            'running a survey on a Dask scheduler needs dask.distributed: pip install "iuvs[dask]"'
        ) from err
    return distributed


def _run_dask(
    paths: Sequence[str], options: _Options, scheduler: Any
) -> Iterator[list[dict[str, Any]]]:
    """Yield each file's records from a Dask cluster as they finish (any order)."""
    distributed = _import_distributed()
    own = isinstance(scheduler, str)
    client = distributed.Client(scheduler) if own else scheduler
    try:
        if not paths:
            return
        futures = client.map(_survey_file, list(paths), options=options, pure=False)
        try:
            for future in distributed.as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if own:
            client.close()


def _stream(
    paths: Sequence[str],
    options: _Options,
    jobs: int | None,
    scheduler: Any,
    progress: bool,
) -> Iterator[list[dict[str, Any]]]:
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise InvalidParameterError(f"jobs must be a positive integer or None, got {jobs!r}")
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    source = (
        _run_local(paths, options, n_jobs)
        if scheduler is None
        else _run_dask(paths, options, scheduler)
    )
    bar = _Progress(len(paths), progress)
    try:
        for records in source:
            bar.update()
            yield records
    finally:
        bar.close()
        close = getattr(source, "close", None)
        if close is not None:
            close()


# -------------------------------------------------------------------------- table
def _coerce(df: pd.DataFrame) -> pd.DataFrame:
    """Give a table the survey's columns, in order, with their dtypes, and a fresh index."""
    pd = _pandas()
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InvalidParameterError(f"not a survey table: the columns {missing} are missing")
    out: dict[str, Any] = {}
    for c in COLUMNS:
        col = df[c].reset_index(drop=True)
        if c in _STRING:
            out[c] = col.fillna("").astype(str)
        elif c in _INTEGER:
            out[c] = col.astype("Int64")
        elif c in _TIME:
            out[c] = pd.to_datetime(col).astype("datetime64[ns]")
        elif c in _LIST:
            out[c] = pd.Series(
                [[float(v) for v in x] if x is not None else [] for x in col],
                dtype=object,
            )
        elif c in _BOOL:
            out[c] = col.astype(bool)
        else:
            out[c] = col.astype("float64")
    # one frame from all columns: inserting 52 columns one by one cost 0.1 s a table
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def _table(records: list[dict[str, Any]]) -> pd.DataFrame:
    pd = _pandas()
    if not records:
        return _coerce(pd.DataFrame({c: [] for c in COLUMNS}))
    return _coerce(pd.DataFrame.from_records(records, columns=list(COLUMNS)))


def _sorted(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate whole-file blocks of rows and order them by path (stable)."""
    pd = _pandas()
    frames = [p for p in parts if len(p)]
    if not frames:
        return _table([])
    table = pd.concat(frames, ignore_index=True)
    return _coerce(table.sort_values("path", kind="stable"))


def _previous(resume: PathLike | pd.DataFrame | None) -> pd.DataFrame | None:
    pd = _pandas()
    if resume is None:
        return None
    if isinstance(resume, pd.DataFrame):
        return _coerce(resume)
    return read_table(resume)


def _split(paths: Sequence[str], previous: pd.DataFrame | None) -> tuple[list[str], pd.DataFrame]:
    """Files still to survey, and the previous rows kept.

    A file is skipped when the previous table has it with the same path and
    modification time; its old rows are kept, as are rows of files not in
    ``paths``.  Rows of files surveyed again are dropped.
    """
    if previous is None or previous.empty:
        return list(paths), _table([])
    known = {str(p): float(m) for p, m in zip(previous["path"], previous["mtime"], strict=True)}
    todo: list[str] = []
    for p in paths:
        try:
            mtime = float(os.stat(p).st_mtime)
        except OSError:
            mtime = math.nan
        if p not in known or known[p] != mtime:  # NaN (a missing file) never matches
            todo.append(p)
    kept = previous[~previous["path"].isin(set(todo))]
    return todo, kept


def survey(
    paths_or_root: PathLike | Sequence[PathLike],
    *,
    pairs: PairMode = "consecutive",
    ranks: Iterable[int] = range(-1, 5),
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    criterion: Criterion = "bic",
    jobs: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    pattern: str = "*.fits*",
    resume: PathLike | pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Fit every dark pair of every file and return one row per (file, pair, rank).

    Parameters
    ----------
    paths_or_root : str, path-like, or a sequence of them
        Files and folders; folders are searched recursively for ``pattern``
        (hidden files skipped).  A file given by name is surveyed whatever
        its name.
    pairs : {'consecutive', 'first', 'all'}, optional
        Dark pairs ``(dark_in, dark_out)``: ``(0, 1), (1, 2), ...``; ``(0, k)``
        for every ``k > 0``; or every ``i < j``.
    ranks : iterable of int, optional
        Model ranks: -1 additive, 0 multiplicative, 1..12 polynomial degree
        (sorted, duplicates dropped).
    hot_threshold, hot_sigma, clip : float, optional
        Passed to :func:`iuvs.fit_all` (at most one of the first two).
    criterion : {'bic', 'aic', 'plateau'}, optional
        How :func:`iuvs.choose_rank` picks the ``chosen`` rank of each pair.
    jobs : int, optional
        Workers (default ``os.cpu_count()``); 1 runs in this thread.
        Workers are threads of this process (reading and fitting release
        the GIL); with the environment variable
        ``IUVS_SURVEY_WORKERS=processes`` they are spawned processes, not
        forked, each running the Rust core on one thread.  Ignored with
        ``scheduler``.
    scheduler : str or distributed.Client, optional
        Run on a Dask cluster: a scheduler address (``'tcp://host:8786'``; a
        client is opened and closed) or a connected ``distributed.Client``.
        Its workers should be started with ``RAYON_NUM_THREADS`` set to
        their thread share if several run on one machine.
    progress : bool, optional
        Show a tqdm progress bar on stderr (only when stderr is a terminal
        and tqdm is installed).
    pattern : str, optional
        Glob for files in folders.
    resume : str, path-like or pandas.DataFrame, optional
        A previous survey table (or its Parquet/CSV file): files it holds
        with the same path and modification time are not read again, and
        its rows are kept; the result is the table an uninterrupted run
        would give (use the same options).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS` (see the module documentation), sorted by
        path, then pair, then rank, whatever ``jobs`` or ``scheduler``.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        For an unknown pairs mode or criterion, a rank outside -1..12, both
        hot-pixel options, or a bad ``jobs``.
    ImportError
        With ``scheduler`` when dask.distributed is not installed.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.survey import survey
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_darks=3, n_int=1, n_spa=7, n_spe=64, seed=1)
    ...     t = survey(p, pairs="all", ranks=[-1, 1], jobs=1, progress=False)
    >>> print(t[["dark_in", "dark_out", "rank", "chosen"]].to_string(index=False))
     dark_in  dark_out  rank  chosen
           0         1    -1   False
           0         1     1    True
           0         2    -1   False
           0         2     1    True
           1         2    -1   False
           1         2     1    True
    >>> row = t.iloc[1]
    >>> bool(row.c1 == row.coeffs[0] and row.c0 == row.coeffs[1])
    True
    """
    options = _options(pairs, ranks, hot_threshold, hot_sigma, clip, criterion)
    paths = _expand(paths_or_root, pattern)
    todo, kept = _split(paths, _previous(resume))
    records: list[dict[str, Any]] = []
    for file_records in _stream(todo, options, jobs, scheduler, progress):
        records.extend(file_records)
    return _sorted([kept, _table(records)])


# ------------------------------------------------------------------------- files
def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _CSV:
        return "csv"
    raise InvalidParameterError(
        f"{path}: the survey table is written as Parquet (.parquet, .pq) or CSV (.csv), "
        f"not {suffix or 'a file without extension'!r}"
    )


def write_table(df: pd.DataFrame, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write a survey table as Parquet or CSV, chosen by the extension, atomically.

    The table is written to a temporary file in the destination folder and
    renamed over ``path`` (readers never see half a file).  In CSV the list
    columns (``coeffs``, ``perr``) are JSON strings, floats are written
    exactly (shortest round-trip form) and missing values are empty fields;
    :func:`read_table` restores the dtypes.

    Parameters
    ----------
    df : pandas.DataFrame
        A survey table (its columns are put in :data:`COLUMNS` order).
    path : str or path-like
        ``.parquet`` / ``.pq`` (needs pyarrow) or ``.csv``.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    iuvs.exceptions.InvalidParameterError
        Another extension, or a table without the survey columns.

    Examples
    --------
    >>> import os, tempfile, iuvs
    >>> from iuvs.survey import read_table, survey, write_table
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=1, n_spa=7, n_spe=64, seed=1)
    ...     t = survey(p, ranks=[0, 1], jobs=1, progress=False)
    ...     out = write_table(t, os.path.join(d, "survey.csv"))
    ...     back = read_table(out)
    >>> back.equals(t), back.coeffs[1] == t.coeffs[1]
    (True, True)
    """
    target = Path(path)
    kind = _format(target)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True to replace it")
    table = _coerce(df)
    if kind == "parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, engine="pyarrow", index=False)
        data = buffer.getvalue()
    else:
        text = table.copy()
        for c in _LIST:
            text[c] = [json.dumps(v) for v in table[c]]
        data = text.to_csv(index=False, lineterminator="\n").encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as fh:
        fh.write(data)
    return target


def read_table(path: PathLike) -> pd.DataFrame:
    """Read a survey table written by :func:`write_table` (Parquet or CSV).

    Parameters
    ----------
    path : str or path-like
        ``.parquet`` / ``.pq`` or ``.csv``.

    Returns
    -------
    pandas.DataFrame
        The table with the survey's dtypes (lists restored in ``coeffs`` and
        ``perr``, nullable ``Int64`` integers, ``datetime64[ns]`` times).

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        Another extension, or a file without the survey columns.
    FileNotFoundError
        If there is no such file.

    Examples
    --------
    >>> import os, tempfile, iuvs
    >>> from iuvs.survey import read_table, survey, write_table
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = iuvs.synthetic.write_l1b(d, n_int=1, n_spa=7, n_spe=64, seed=1)
    ...     t = survey(p, ranks=[1], jobs=1, progress=False)
    ...     back = read_table(write_table(t, os.path.join(d, "survey.parquet")))
    >>> back.equals(t), str(back["orbit"].dtype), type(back["coeffs"][0]).__name__
    (True, 'Int64', 'list')
    """
    pd = _pandas()
    source = Path(path)
    kind = _format(source)
    if kind == "parquet":
        return _coerce(pd.read_parquet(source, engine="pyarrow"))
    # every field as text, converted here: the same exact result with any pandas
    text = pd.read_csv(source, dtype=str, keep_default_na=False)
    table = pd.DataFrame(index=pd.RangeIndex(len(text)))
    for c in text.columns:
        col = text[c]
        if c in _LIST:
            table[c] = pd.Series([json.loads(v) if v else [] for v in col], dtype=object)
        elif c in _TIME:
            table[c] = pd.to_datetime(col.where(col != "", None))
        elif c in _BOOL:
            table[c] = col == "True"
        elif c in _FLOAT or c in _INTEGER:  # shortest round-trip text parses back exactly
            table[c] = col.replace("", "nan").astype("float64")
        else:
            table[c] = col
    return _coerce(table)


# ------------------------------------------------------------------------ summary
@dataclass(frozen=True)
class SurveySummary:
    """Counts of a survey table (see :func:`summarize`).

    Attributes
    ----------
    files : int
        Files in the table.
    files_ok : int
        Files read, with at least one dark pair (their pairs may still fail).
    files_failed : int
        Files that could not be surveyed (one error row each).
    pairs_fitted : int
        Dark pairs fitted.
    pairs_failed : int
        Dark pairs whose fit failed.
    rows : int
        Rows of the table.
    files_surveyed : int
        Files read in this run.
    files_skipped : int
        Files taken over from a previous table (resume).
    seconds : float
        Wall time of the run (NaN if unknown).

    Examples
    --------
    >>> import tempfile, pathlib, iuvs
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = iuvs.synthetic.write_archive(d, n_files=3, seed=2, bad_fraction=0.0)
    >>> s = iuvs.survey.summarize(iuvs.survey.survey(d, jobs=1, progress=False))
    >>> s.files, s.files_failed
    (3, 0)
    """

    files: int
    files_ok: int
    files_failed: int
    pairs_fitted: int
    pairs_failed: int
    rows: int
    files_surveyed: int
    files_skipped: int
    seconds: float


def summarize(
    table: pd.DataFrame,
    *,
    seconds: float = math.nan,
    files_surveyed: int | None = None,
    files_skipped: int = 0,
) -> SurveySummary:
    """Count files and pairs, fitted and failed, in a survey table.

    Parameters
    ----------
    table : pandas.DataFrame
        A survey table.
    seconds : float, optional
        Wall time of the run.
    files_surveyed : int, optional
        Files read in the run (default: every file in the table minus
        ``files_skipped``).
    files_skipped : int, optional
        Files taken over from a previous table.

    Returns
    -------
    SurveySummary
        The counts.

    Examples
    --------
    >>> import tempfile, iuvs
    >>> from iuvs.survey import summarize, survey
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_l1b(d, n_int=1, n_spa=7, n_spe=64, seed=1)
    ...     _ = iuvs.synthetic.write_l1b(d, n_darks=1, n_int=1, n_spa=7, n_spe=64,
    ...                                  timestamp="20140521T130000")
    ...     s = summarize(survey(d, ranks=[0], jobs=1, progress=False))
    >>> s.files_ok, s.files_failed, s.pairs_fitted, s.rows
    (1, 1, 1, 2)
    """
    error = table["status"] == "error"
    file_error = error & table["dark_in"].isna()
    n_files = int(table["path"].nunique())
    failed = int(table.loc[file_error, "path"].nunique())
    pair_keys = ["path", "dark_in", "dark_out"]
    fitted = len(table.loc[~error, pair_keys].drop_duplicates())
    pair_failed = len(table.loc[error & ~file_error, pair_keys].drop_duplicates())
    return SurveySummary(
        files=n_files,
        files_ok=n_files - failed,
        files_failed=failed,
        pairs_fitted=fitted,
        pairs_failed=pair_failed,
        rows=len(table),
        files_surveyed=n_files - files_skipped if files_surveyed is None else files_surveyed,
        files_skipped=files_skipped,
        seconds=float(seconds),
    )


def format_summary(summary: SurveySummary) -> str:
    """Return a short text report of a survey.

    Parameters
    ----------
    summary : SurveySummary
        From :func:`summarize` or :func:`run_survey`.

    Returns
    -------
    str
        A few lines: files, pairs, rows, time.

    Examples
    --------
    >>> from iuvs.survey import SurveySummary, format_summary
    >>> s = SurveySummary(12, 9, 3, 9, 0, 54, 12, 0, 2.0)
    >>> print(format_summary(s))
    files: 12 (9 ok, 3 failed); 12 surveyed in this run, 0 taken from the previous table
    dark pairs: 9 fitted, 0 failed; 54 rows
    time: 2.0 s (6.0 files/s)
    """
    s = summary
    lines = [
        f"files: {s.files} ({s.files_ok} ok, {s.files_failed} failed); "
        f"{s.files_surveyed} surveyed in this run, {s.files_skipped} taken from the "
        "previous table",
        f"dark pairs: {s.pairs_fitted} fitted, {s.pairs_failed} failed; {s.rows} rows",
    ]
    if math.isfinite(s.seconds):
        rate = f" ({s.files_surveyed / s.seconds:.1f} files/s)" if s.seconds > 0 else ""
        lines.append(f"time: {s.seconds:.1f} s{rate}")
    return "\n".join(lines)


# --------------------------------------------------------------- run with output
def _write_failures(table: pd.DataFrame, path: Path) -> None:
    errors = table.loc[
        table["status"] == "error",
        ["path", "dark_in", "dark_out", "error_class", "error_message"],
    ]
    data = errors.to_csv(index=False, lineterminator="\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        fh.write(data)


def run_survey(
    inputs: PathLike | Sequence[PathLike],
    output: PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    failures: PathLike | None = None,
    checkpoint_seconds: float | None = 60.0,
    pairs: PairMode = "consecutive",
    ranks: Iterable[int] = range(-1, 5),
    hot_threshold: float | None = None,
    hot_sigma: float | None = None,
    clip: float | None = None,
    criterion: Criterion = "bic",
    jobs: int | None = None,
    scheduler: Any = None,
    progress: bool = True,
    pattern: str = "*.fits*",
) -> tuple[pd.DataFrame, SurveySummary]:
    """Survey files into an output table, resuming an interrupted run if asked.

    The output is checked before any file is read.  While the survey runs,
    the rows so far are written to ``output`` every ``checkpoint_seconds``
    (atomically, in the final order), so a run that is killed can be resumed
    with ``resume=True``: files the output already holds with the same path
    and modification time are skipped, the others surveyed, and the output
    rewritten sorted; the result equals that of one uninterrupted run.

    Parameters
    ----------
    inputs : str, path-like, or a sequence of them
        Files and folders (see :func:`survey`).
    output : str or path-like
        ``.parquet`` / ``.pq`` or ``.csv`` (see :func:`write_table`).
    resume : bool, optional
        Continue from an existing ``output`` (a missing one starts afresh).
    overwrite : bool, optional
        Replace an existing ``output`` (and ``failures``) instead of refusing.
    failures : str or path-like, optional
        Also write a CSV of the error rows: ``path``, ``dark_in``,
        ``dark_out`` (empty for a file that failed as a whole),
        ``error_class``, ``error_message``.
    checkpoint_seconds : float, optional
        Interval between checkpoints of the output; None writes it only at
        the end.
    pairs, ranks, hot_threshold, hot_sigma, clip, criterion, jobs, scheduler, progress, pattern
        As for :func:`survey`.

    Returns
    -------
    table : pandas.DataFrame
        The whole output table.
    summary : SurveySummary
        Its counts and the run's time.

    Raises
    ------
    iuvs.exceptions.OutputExistsError
        ``output`` (or ``failures``) exists and neither ``resume`` nor
        ``overwrite`` is given.
    iuvs.exceptions.EmptyInputError
        No file was found in ``inputs``.

    Examples
    --------
    >>> import os, tempfile, iuvs
    >>> from iuvs.survey import format_summary, run_survey
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = iuvs.synthetic.write_archive(d, n_files=2, n_spa=7, n_spe=64, bad_fraction=0)
    ...     out = os.path.join(d, "survey.parquet")
    ...     table, summary = run_survey(d, out, ranks=[0, 1], jobs=1, progress=False)
    ...     again, summary2 = run_survey(d, out, resume=True, ranks=[0, 1], jobs=1)
    >>> again.equals(table), summary2.files_surveyed, summary2.files_skipped
    (True, 0, 2)
    >>> print(format_summary(summary2).splitlines()[0])
    files: 2 (2 ok, 0 failed); 0 surveyed in this run, 2 taken from the previous table
    """
    start = time.perf_counter()
    target = Path(output)
    _format(target)
    fail_path = None if failures is None else Path(failures)
    for p in (target, fail_path):
        if p is not None and p.exists() and not (resume or overwrite):
            raise OutputExistsError(
                f"{p} exists; resume the survey into it (--resume / resume=True) "
                "or replace it (--overwrite / overwrite=True)"
            )
    if checkpoint_seconds is not None and not checkpoint_seconds >= 0:
        raise InvalidParameterError(
            f"checkpoint_seconds must be >= 0 or None, got {checkpoint_seconds!r}"
        )
    options = _options(pairs, ranks, hot_threshold, hot_sigma, clip, criterion)
    paths = _expand(inputs, pattern)
    if not paths:
        raise EmptyInputError(f"no files matching {pattern!r} in {inputs}")
    previous = read_table(target) if resume and target.exists() else None
    todo, kept = _split(paths, previous)
    records: list[dict[str, Any]] = []
    last = time.monotonic()
    for file_records in _stream(todo, options, jobs, scheduler, progress):
        records.extend(file_records)
        if checkpoint_seconds is not None and time.monotonic() - last >= checkpoint_seconds:
            write_table(_sorted([kept, _table(records)]), target, overwrite=True)
            last = time.monotonic()
    table = _sorted([kept, _table(records)])
    write_table(table, target, overwrite=True)
    if fail_path is not None:
        _write_failures(table, fail_path)
    skipped = len(paths) - len(todo)
    summary = summarize(
        table,
        seconds=time.perf_counter() - start,
        files_surveyed=len(todo),
        files_skipped=skipped,
    )
    return table, summary


# ---------------------------------------------------------------------------- CLI
def _ranks_argument(text: str) -> list[int]:
    """``'A:B'`` (inclusive) or ``'a,b,c'`` as a sorted list of ranks, for argparse."""
    return sorted(set(parse_ranks(text)))


def _jobs_argument(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of jobs, got {text!r}")
    return value


def _output_argument(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() not in _PARQUET + _CSV:
        raise argparse.ArgumentTypeError(
            f"the output must end in .parquet, .pq or .csv, got {text!r}"
        )
    return path


def _run_cli(args: argparse.Namespace, show: Callable[[str], None]) -> int:
    """Run ``iuvs survey``: survey, write the output, show the summary; 1 if a file failed."""
    if args.report is not None and not (args.overwrite or args.resume):
        page = args.report / "survey.html"
        if page.exists():  # refuse before any work
            raise OutputExistsError(f"{page} exists; pass --overwrite to replace it")
    table, summary = run_survey(
        args.inputs,
        args.output,
        resume=args.resume,
        overwrite=args.overwrite,
        failures=args.failures,
        pairs=args.pairs,
        ranks=args.ranks,
        hot_threshold=args.hot_threshold,
        hot_sigma=args.hot_sigma,
        clip=args.clip,
        jobs=args.jobs,
        scheduler=args.scheduler,
        progress=not getattr(args, "quiet", 0),
        pattern=args.pattern,
    )
    show(format_summary(summary))
    show(f"wrote {args.output}" + (f" and {args.failures}" if args.failures else ""))
    _print_failed_files(table, args.output, args.failures)
    if args.report is not None:
        from iuvs.reporting import write_survey_report

        page = write_survey_report(
            read_table(args.output),
            args.report,
            summary_text=format_summary(summary),
            overwrite=args.overwrite or args.resume,
        )
        show(f"wrote {page}")
    return 1 if summary.files_failed else 0


_MAX_FAILED_SHOWN = 20


def _print_failed_files(table: pd.DataFrame, output: Path, failures: Path | None) -> None:
    """Name each file that failed, with its reason, on stderr (at most 20 lines)."""
    failed = table.loc[(table["status"] == "error") & table["dark_in"].isna()]
    failed = failed.drop_duplicates("path")
    for row in failed.head(_MAX_FAILED_SHOWN).itertuples(index=False):
        print(f"iuvs: error: {row.path}: {row.error_class}: {row.error_message}", file=sys.stderr)
    if len(failed) > _MAX_FAILED_SHOWN:
        where = failures if failures is not None else f"{output} (rows with status 'error')"
        print(
            f"iuvs: error: ... and {len(failed) - _MAX_FAILED_SHOWN} more failed files; "
            f"all are listed in {where}",
            file=sys.stderr,
        )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``survey`` subcommand on an argparse subparsers object.

    The subcommand's ``run`` default is a function ``run(args, show) -> int``:
    it surveys the files, writes the output, passes the summary to
    ``show(text)`` and returns 1 if any file failed, else 0.  Errors
    (:class:`iuvs.exceptions.IuvsError`, :class:`OSError`) propagate to the
    caller.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What :meth:`argparse.ArgumentParser.add_subparsers` returned.

    Returns
    -------
    argparse.ArgumentParser
        The ``survey`` parser.

    Examples
    --------
    >>> import argparse
    >>> from iuvs.survey import add_parser
    >>> parser = argparse.ArgumentParser(prog="iuvs")
    >>> add_parser(parser.add_subparsers(dest="command")).prog
    'iuvs survey'
    >>> args = parser.parse_args(["survey", "data", "-o", "s.parquet", "--ranks=-1:2"])
    >>> args.inputs, args.ranks, args.pairs, callable(args.run)
    (['data'], [-1, 0, 1, 2], 'consecutive', True)
    >>> parser.parse_args(["survey", "d", "-o", "s.csv", "--ranks", "0,2"]).ranks
    [0, 2]
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "survey",
        help="fit the dark pairs of many L1B files into one table",
        description=(
            "Fit every dark pair of every L1B file (folders are searched recursively) with "
            "the models of ranks --ranks and write one row per file, pair and rank to a "
            "Parquet or CSV table. Files that cannot be surveyed get an error row and are "
            "counted as failed (exit code 1)."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="ROOT_OR_FILES",
        help="L1B files and folders to search",
    )
    p.add_argument(
        "-o",
        "--output",
        type=_output_argument,
        required=True,
        metavar="OUTPUT",
        help="the table to write: .parquet (or .pq) or .csv",
    )
    p.add_argument(
        "--pattern",
        default="*.fits*",
        metavar="P",
        help="glob for files in folders (default: *.fits*)",
    )
    p.add_argument(
        "--pairs",
        choices=("consecutive", "first", "all"),
        default="consecutive",
        help="dark pairs: 0-1, 1-2, ... (consecutive, default); 0-k (first); every i<j (all)",
    )
    p.add_argument(
        "--ranks",
        type=_ranks_argument,
        default=list(range(-1, 5)),
        metavar="RANKS",
        help=(
            "model ranks as A:B (inclusive) or a comma list; write --ranks=-1:4 when the "
            "first is negative (default: -1:4; -1 additive, 0 multiplicative, n degree)"
        ),
    )
    add_exclusion_options(p, "dark_in")
    p.add_argument(
        "--jobs",
        type=_jobs_argument,
        default=None,
        metavar="N",
        help="worker processes (default: the number of CPUs; 1 runs in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://host:8786 (needs iuvs[dask])",
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted survey: skip files already in OUTPUT (same mtime)",
    )
    again.add_argument(
        "--overwrite", action="store_true", help="replace an existing OUTPUT (and FILE)"
    )
    p.add_argument(
        "--failures",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write a CSV of the failed files and pairs",
    )
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write DIR/survey.html: summary, per-rank statistics and the survey figures",
    )
    p.set_defaults(run=_run_cli)
    return p
