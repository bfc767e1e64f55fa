"""Survey throughput before and after the fast reader: files/s and MB/s, threads and processes.

Surveys the real files in ``../shared/data/l1b`` next to the repository when present
(or ``--root``), else a synthetic archive (``iuvs.synthetic.write_archive``: 62 x 341
frames, 2 darks, 3 % bad files), with ``jobs=1`` (in this process) and ``jobs=2``
(spawned processes, and for the fast path also threads), with ``L1BReader`` on the
astropy path (``IUVS_READER=astropy``, before) and on the fast path (after); then times, in this process and on a sample
of files, reading the darks against fitting them (``fit_all`` ranks -1..4 +
``choose_rank`` per pair).

Run: ``python benches/bench_survey.py`` (real files, or 500 synthetic files),
``--synthetic`` (ignore the real files), ``--quick`` (60 synthetic files).
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


REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "l1b"


def with_reader(reader, func, workers="threads"):
    """Run ``func()`` with ``L1BReader`` on the astropy path or the fast path."""
    if reader == "astropy":
        os.environ["IUVS_READER"] = "astropy"  # inherited by spawned workers
    os.environ["IUVS_SURVEY_WORKERS"] = workers
    try:
        return func()
    finally:
        os.environ.pop("IUVS_READER", None)
        os.environ.pop("IUVS_SURVEY_WORKERS", None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 files, a sample of 30")
    parser.add_argument("--files", type=int, default=None, help="archive size (default 500)")
    parser.add_argument("--sample", type=int, default=None, help="files timed in-process")
    parser.add_argument("--repeat", type=int, default=3, help="best of R for the sample")
    parser.add_argument("--root", default=None, help="survey these files instead")
    parser.add_argument("--synthetic", action="store_true", help="ignore ../shared/data/l1b")
    parser.add_argument(
        "--copies", type=int, default=20, help="survey the real files this many times (symlinks)"
    )
    args = parser.parse_args()
    n_sample_arg = args.sample or (30 if args.quick else 100)

    with tempfile.TemporaryDirectory(prefix="iuvs-bench-survey-") as tmp:
        root = Path(args.root) if args.root else REAL
        if args.root or (REAL.is_dir() and not args.synthetic):
            found = sorted(root.rglob("mvn_iuv_l1b_*.fits*"))
            # a survey pays a fixed cost for its table (pandas, ~0.2 s): survey the
            # files several times over, as an orbit's or a season's files would be
            paths = []
            for k in range(args.copies):
                (Path(tmp) / f"copy{k:03d}").mkdir()
                for p in found:
                    link = Path(tmp) / f"copy{k:03d}" / p.name
                    link.symlink_to(p.resolve())
                    paths.append(link)
            what = f"{len(found)} L1B files in {root}, {args.copies} times over"
            repeat_survey = 3
        else:
            n_files = args.files or (60 if args.quick else 500)
            start = time.perf_counter()
            paths = iuvs.synthetic.write_archive(Path(tmp), n_files=n_files, seed=0)
            t_write = time.perf_counter() - start
            what = f"{n_files} synthetic L1B files (62 x 341, 2 darks; written in {t_write:.1f} s)"
            repeat_survey = 1
        n_files = len(paths)
        megabytes = sum(p.stat().st_size for p in paths) / 1e6
        timings = {}
        tables = {}
        runs_of = (
            ("astropy", 1, "processes"),
            ("astropy", 2, "processes"),
            ("fast", 1, "processes"),
            ("fast", 2, "processes"),
            ("fast", 2, "threads"),
        )
        for reader, jobs, workers in runs_of:

            def run():
                return survey(paths, jobs=jobs, ranks=RANKS, progress=False)

            runs = []
            for _ in range(repeat_survey):
                wall, cpu = time.perf_counter(), time.process_time()
                table = with_reader(reader, run, workers)
                runs.append((time.perf_counter() - wall, time.process_time() - cpu, table))
            key = (reader, jobs, workers if jobs > 1 else "in-process")
            timings[key] = min(r[:2] for r in runs)
            tables[key] = runs[0][2]
        ref = tables["astropy", 1, "in-process"]
        differ = {
            " ".join(map(str, key)): [c for c in ref.columns if not table[c].equals(ref[c])]
            for key, table in tables.items()
        }
        differ = {k: v for k, v in differ.items() if v}
        summary = summarize(tables["fast", 1, "in-process"])

        sample = paths[: min(n_sample_arg, n_files)]
        steps = {}
        for reader in ("astropy", "fast"):
            runs = [
                with_reader(reader, lambda: time_read_and_fit(sample)) for _ in range(args.repeat)
            ]
            steps[reader] = min(runs, key=lambda r: r[0] + r[1])

    print(
        f"survey of {what}, {megabytes:.1f} MB compressed, ranks -1..4, "
        f"{summary.files_failed} bad files; {os.cpu_count()} CPUs; best of {repeat_survey}"
    )
    print(
        f"{'reader':<9}{'jobs':>5}{'workers':>12}{'seconds':>9}{'CPU s':>8}{'files/s':>9}"
        f"{'MB/s':>8}{'vs astropy':>12}"
    )
    for (reader, jobs, workers), (t, cpu) in timings.items():
        ratio = timings["astropy", jobs, "in-process" if jobs == 1 else "processes"][0] / t
        print(
            f"{reader:<9}{jobs:>5}{workers:>12}{t:>9.2f}{cpu:>8.2f}{n_files / t:>9.1f}"
            f"{megabytes / t:>8.1f}{ratio:>11.2f}x"
        )
    print("(CPU s: this process only; spawned workers' CPU time is not counted)")
    print(f"columns that differ from astropy jobs=1: {differ or 'none'}")
    print()
    print(f"in-process, first {len(sample)} files, best of {args.repeat}: ms/file")
    print(f"{'reader':<9}{'read':>8}{'fit':>8}{'read/fit':>10}")
    for reader, (t_read, t_fit, _n_read, _n_pairs) in steps.items():
        n = max(len(sample), 1)
        ratio = t_read / t_fit if t_fit else float("nan")
        print(f"{reader:<9}{1e3 * t_read / n:>8.2f}{1e3 * t_fit / n:>8.2f}{ratio:>10.2f}")


if __name__ == "__main__":  # the workers are spawned: they import this file
    main()
