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

from typing import Any

from iuvs.survey.files import _survey_file as _survey_file
from iuvs.survey.run import _expand as _expand
from iuvs.survey.run import _import_distributed as _import_distributed
from iuvs.survey.run import run_survey, survey
from iuvs.survey.summary import SurveySummary, format_summary, summarize
from iuvs.survey.table import COLUMNS, read_table, write_table

__all__ = [
    "COLUMNS",
    "SurveySummary",
    "format_summary",
    "read_table",
    "run_survey",
    "summarize",
    "survey",
    "write_table",
]


def add_parser(subparsers: Any) -> Any:
    """Register the ``survey`` subcommand on an argparse subparsers object.

    The command line lives in :mod:`iuvs.cli` (:func:`iuvs.cli.add_survey_parser`);
    this name stays for callers that registered it themselves.

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
    >>> sub = argparse.ArgumentParser(prog="iuvs").add_subparsers()
    >>> add_parser(sub).prog
    'iuvs survey'
    """
    from iuvs.cli import add_survey_parser

    return add_survey_parser(subparsers)
