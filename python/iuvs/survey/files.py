"""One file's rows: the survey's options, a file's dark pairs and their fits.

Every pair of a file is fitted in one :func:`iuvs.fit_batch` call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

from iuvs.batch import BatchResult, fit_batch
from iuvs.exceptions import (
    DarkIndexError,
    InvalidParameterError,
    IuvsError,
)
from iuvs.io.files import parse_l1b_filename
from iuvs.io.l1b import L1BReader
from iuvs.options import FitOptions, check_ranks
from iuvs.selection import choose_rank

if TYPE_CHECKING:
    pass
from iuvs.survey.table import _C_COLUMNS, _FLOAT, _N_COEFFS, _STATS, _STRING, COLUMNS

Criterion = Literal["aic", "bic", "plateau"]


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
            temps = l1b.dark_temperatures  # v00/v01: raw DN converted to deg C
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
