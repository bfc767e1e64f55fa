"""A survey table summarised per channel, rank and file status."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


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
