"""Superdark time for a synthetic archive: 1 and 2 workers and a local Dask cluster.

Writes ``iuvs.synthetic.write_dark_archive`` (3 binning sets, ``--files`` files per set,
5 darks each) into a temporary folder and times ``iuvs.darks.superdark`` on it with
``jobs=1`` (in this process), ``jobs=2`` (two threads, the default workers),
``jobs=2`` with ``IUVS_SURVEY_WORKERS=processes`` (spawned workers) and a local Dask cluster of two
worker processes (when dask.distributed is installed; the cluster's start-up is not
counted).  CPU time of this process is printed next to wall time (the workers' CPU is
not in it).  Every run must give the same superdarks; the reference is an astropy
``sigma_clip`` + ``numpy.ma.median`` of the same darks read with astropy, timed too.
Then the dark model's leave-one-file-out error against the nearest dark in time.

Run: ``python benches/bench_superdark.py`` (``--files 40``) or ``--quick`` (10 files per set).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
from astropy.io import fits
from astropy.stats import sigma_clip

import iuvs


def timed(label, func):
    wall, cpu = time.perf_counter(), time.process_time()
    out = func()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<34} wall {wall:7.2f} s   cpu (this process) {cpu:7.2f} s")
    return out, wall


def reference(result):
    """Astropy's combination of the darks each superdark lists (read again with astropy)."""
    out = []
    for s in result:
        frames = []
        for f, k in zip(s.provenance["file"], s.dark_index, strict=True):
            with fits.open(str(f)) as hdul:
                frames.append(np.asarray(hdul["detector_dark"].data[k], dtype=np.float64))
        clipped = sigma_clip(
            np.array(frames), sigma=3.0, maxiters=5, axis=0, cenfunc="median", stdfunc="std"
        )
        out.append(np.ma.median(clipped, axis=0).filled(np.nan))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=40, help="files per binning set")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    per_set = 10 if args.quick else args.files
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        paths = iuvs.synthetic.write_dark_archive(root, files_per_set=per_set, n_darks=5)
        print(f"archive: {len(paths)} files, written in {time.perf_counter() - start:.1f} s")
        one, t1 = timed("superdark jobs=1", lambda: iuvs.darks.superdark(root, jobs=1))
        two, t2 = timed("superdark jobs=2 (threads)", lambda: iuvs.darks.superdark(root, jobs=2))
        os.environ["IUVS_SURVEY_WORKERS"] = "processes"
        try:
            procs, tp = timed(
                "superdark jobs=2 (processes)", lambda: iuvs.darks.superdark(root, jobs=2)
            )
        finally:
            del os.environ["IUVS_SURVEY_WORKERS"]
        print(f"speed-up vs jobs=1: 2 threads {t1 / t2:.2f}x, 2 processes {t1 / tp:.2f}x")
        runs = [two, procs]
        try:
            import distributed
        except ImportError:
            print("dask.distributed absent: no Dask run")
        else:
            with (
                distributed.LocalCluster(
                    n_workers=2,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                dask, td = timed(
                    "superdark Dask (2 workers)",
                    lambda: iuvs.darks.superdark(root, scheduler=client),
                )
                runs.append(dask)
                print(f"speed-up vs jobs=1: Dask {t1 / td:.2f}x")
        ref, tr = timed("astropy reference (read+clip+median)", lambda: reference(one))
        print(f"superdark jobs=1 vs astropy reference: {tr / t1:.2f}x faster")
        for run in runs:
            for a, b in zip(one, run, strict=True):
                assert a.group == b.group and np.array_equal(a.data, b.data, equal_nan=True)
        for a, r in zip(one, ref, strict=True):
            assert np.array_equal(a.data, r, equal_nan=True)
        print("every run equals the astropy reference exactly")
        print("\nleave-one-file-out error (median over darks, DN):")
        for s in one:
            v = iuvs.darks.DarkModel.fit(s).validate().summary()
            print(
                f"  {s.group.label:<62} model {v['model_sigma']:7.2f}  nearest dark "
                f"{v['nearest_sigma']:7.2f}  ratio {v['ratio']:.2f}  ({v['n_darks']} darks)"
            )


if __name__ == "__main__":
    main()
