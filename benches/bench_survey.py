"""Survey throughput: files per second with 1 and 2 worker processes, and where the time goes.

Writes a synthetic archive (``iuvs.synthetic.write_archive``: 62 x 341 frames, 2 darks,
3 % bad files) into a temporary folder, surveys it with ``jobs=1`` (in this process) and
``jobs=2`` (spawned workers, one Rust thread each), then times, in this process and on a
sample of files, reading the darks (gunzip + astropy, ``L1BReader``) against fitting them
(``fit_all`` ranks -1..4 + ``choose_rank`` per pair).  The rest of a survey's time per
file is the table (records, pandas) and, for jobs > 1, process start-up and transfer.

Run: ``python benches/bench_survey.py`` (500 files) or ``--quick`` (60 files).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import iuvs
from iuvs.exceptions import IuvsError
from iuvs.io import L1BReader
from iuvs.survey import summarize, survey

RANKS = list(range(-1, 5))


def time_survey(root, jobs):
    start = time.perf_counter()
    table = survey(root, jobs=jobs, ranks=RANKS, progress=False)
    return time.perf_counter() - start, table


def time_read_and_fit(paths):
    """Seconds spent reading the darks of ``paths`` and fitting their pairs, file by file.

    Each file is read and its pairs fitted before the next file is opened, as the
    survey does, so that the two steps run with the same caches and memory as in
    the survey and their sum can be compared with its time.
    """
    read = fit = 0.0
    n_read = n_pairs = 0
    for p in paths:
        start = time.perf_counter()
        darks = None
        try:
            with L1BReader(p) as l1b:
                if l1b.n_darks >= 2:
                    darks = l1b.detector_dark
        except (IuvsError, OSError):
            pass
        read += time.perf_counter() - start
        if darks is None:
            continue
        n_read += 1
        start = time.perf_counter()
        for i in range(darks.shape[0] - 1):
            iuvs.choose_rank(iuvs.fit_all(darks[i], darks[i + 1], RANKS), "bic")
            n_pairs += 1
        fit += time.perf_counter() - start
    return read, fit, n_read, n_pairs


def best(repeat, func):
    """Smallest wall time of ``repeat`` runs of ``func()`` (other load only adds time)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 files, a sample of 30")
    parser.add_argument("--files", type=int, default=None, help="archive size (default 500)")
    parser.add_argument("--sample", type=int, default=None, help="files timed in-process")
    parser.add_argument("--repeat", type=int, default=3, help="best of R for the sample")
    args = parser.parse_args()
    n_files = args.files or (60 if args.quick else 500)
    n_sample = min(args.sample or (30 if args.quick else 100), n_files)

    with tempfile.TemporaryDirectory(prefix="iuvs-bench-survey-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        paths = iuvs.synthetic.write_archive(root, n_files=n_files, seed=0)
        t_write = time.perf_counter() - start
        size = sum(p.stat().st_size for p in paths) / len(paths) / 1024

        t1, table1 = time_survey(root, 1)
        t2, table2 = time_survey(root, 2)
        same = table1.equals(table2)
        summary = summarize(table1)

        sample = paths[:n_sample]
        t_sample = best(args.repeat, lambda: survey(sample, jobs=1, ranks=RANKS, progress=False))
        # the best of R runs of the steps together (a sum of separate minima would
        # pair the luckiest reading with the luckiest fitting)
        runs = [time_read_and_fit(sample) for _ in range(args.repeat)]
        t_read, t_fit, n_read, n_pairs = min(runs, key=lambda r: r[0] + r[1])

    print(
        f"survey of {n_files} synthetic L1B files (62 x 341, 2 darks, {size:.0f} KiB each, "
        f"ranks -1..4; {summary.files_failed} bad files), {os.cpu_count()} CPUs"
    )
    print(f"writing the archive: {t_write:.1f} s ({n_files / t_write:.0f} files/s)")
    print()
    print(f"{'run':<24}{'seconds':>10}{'files/s':>10}{'ms/file':>10}")
    for label, t in (("jobs=1 (in-process)", t1), ("jobs=2 (spawned)", t2)):
        print(f"{label:<24}{t:>10.2f}{n_files / t:>10.1f}{1e3 * t / n_files:>10.2f}")
    print(f"jobs=2 / jobs=1 speed-up: {t1 / t2:.2f}x; same table: {same}")
    print()
    n = len(sample)
    read_ms, fit_ms = 1e3 * t_read / n, 1e3 * t_fit / n
    survey_ms = 1e3 * t_sample / n
    other_ms = survey_ms - read_ms - fit_ms
    print(
        f"in-process, first {n} files ({n_read} readable, {n_pairs} pairs x {len(RANKS)} ranks), "
        f"best of {args.repeat}"
    )
    print(f"{'step':<24}{'ms/file':>10}{'share':>10}")
    for label, ms in (
        ("read FITS (darks)", read_ms),
        ("fit + choose rank", fit_ms),
        ("table, bookkeeping", other_ms),
        ("survey(jobs=1)", survey_ms),
    ):
        print(f"{label:<24}{ms:>10.2f}{100 * ms / survey_ms:>9.1f}%")
    if other_ms < 0:
        print("(a negative remainder: the survey run was luckier than the timed steps; noise)")
    if fit_ms > 0:
        print(f"reading : fitting = {read_ms / fit_ms:.0f} : 1")


if __name__ == "__main__":  # the workers are spawned: they import this file
    main()
