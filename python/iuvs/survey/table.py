"""The survey table: its columns, dtypes, and Parquet or CSV files.

The residual statistics are the core's (``_core.RESIDUAL_FIELDS``).
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import iuvs._core as _core
from iuvs._atomic import atomic_file
from iuvs.exceptions import (
    InvalidParameterError,
    OutputExistsError,
)
from iuvs.fitting import MAX_RANK

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]


def _pandas() -> Any:
    """Import pandas on first use (the ``survey`` extra), with the install hint."""
    try:
        import pandas
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            'iuvs.survey needs pandas (and pyarrow for Parquet): pip install "iuvs[survey]"'
        ) from err
    return pandas


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
