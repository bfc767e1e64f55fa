"""Running a survey: files found, the work spread, the results streamed.

Threads (the default), processes or a Dask cluster; each task reads its own file.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from iuvs._atomic import atomic_file
from iuvs.exceptions import (
    EmptyInputError,
    InvalidParameterError,
    OutputExistsError,
)

if TYPE_CHECKING:
    import pandas as pd
from iuvs.options import FitOptions
from iuvs.survey.files import Criterion, _Options, _options, _survey_file
from iuvs.survey.summary import SurveySummary, summarize
from iuvs.survey.table import (
    PathLike,
    _format,
    _previous,
    _sorted,
    _split,
    _table,
    read_table,
    write_table,
)

PairMode = Literal["consecutive", "first", "all"]


"""The survey table's columns, in order (see the module documentation)."""


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
    pool = _worker_pool(min(jobs, len(paths)))
    try:
        futures = [pool.submit(_survey_file, p, options) for p in paths]
        for future in concurrent.futures.as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_pool(workers: int) -> concurrent.futures.Executor:
    """Start the pool of ``workers`` that reads files (the survey's and the superdarks').

    Threads by default: reading (inflation) and fitting release the GIL, a
    thread costs no spawn, and a spawned process would re-run the caller's
    unguarded script; on the real files x20, jobs=2, threads ran at 39
    files/s, processes at 20 (benches/bench_survey.py).  With
    ``IUVS_SURVEY_WORKERS=processes``: spawned processes, not forked (forking
    a process whose rayon pool is running is unsafe), one Rust thread each.
    """
    if os.environ.get("IUVS_SURVEY_WORKERS", "threads") != "processes":
        return concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
    )


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
    options: FitOptions | None = None,
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
    options : FitOptions, optional
        ``hot_threshold``, ``hot_sigma`` and ``clip`` as a :class:`iuvs.FitOptions`
        (a mask or weights have no meaning across files and are refused).

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
    if options is not None:
        hot_threshold, hot_sigma, clip = FitOptions.resolve(
            options, hot_threshold=hot_threshold, hot_sigma=hot_sigma, clip=clip
        ).scalars("the survey")
    checked = _options(pairs, ranks, hot_threshold, hot_sigma, clip, criterion)
    paths = _expand(paths_or_root, pattern)
    todo, kept = _split(paths, _previous(resume))
    records: list[dict[str, Any]] = []
    for file_records in _stream(todo, checked, jobs, scheduler, progress):
        records.extend(file_records)
    return _sorted([kept, _table(records)])


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
