"""iuvs.median_filter against scipy.ndimage.median_filter, in one process.

For each case the same frame is filtered once by scipy (it takes seconds)
and ``--repeat`` times by iuvs (median of the runs); both results are checked
to be identical, and the table gives wall and CPU time (iuvs runs on the
calling thread plus the rayon pool, so CPU can exceed wall) and the ratios.

Cases: the dark-correction box on a full MUV frame, (133, 1024) with a
(27, 103) window in ``constant`` mode with a bright ``cval``, and a (512, 512)
frame with a (51, 51) window, each on integer DN (int32, a few hundred
distinct values, like real darks) and on float64 noise (every value distinct,
the worst case for the histogram of ranks), plus a stack of 8 frames.

Run with ``python benches/bench_median.py [--repeat N] [--quick]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage

import iuvs


def frame(shape, kind, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(400.0, 25.0, shape)
    x[rng.random(shape) < 0.003] = 4000.0  # a few hot pixels
    if kind == "int32":
        return np.round(x).astype(np.int32)
    return x


def timed(f):
    w, c = time.perf_counter(), time.process_time()
    out = f()
    return out, time.perf_counter() - w, time.process_time() - c


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="only the (133, 1024) int32 case")
    args = parser.parse_args()
    cases = [
        ((133, 1024), (27, 103), "int32", "constant", 1e9),
        ((133, 1024), (27, 103), "float64", "constant", np.inf),
        ((512, 512), (51, 51), "int32", "reflect", 0.0),
        ((512, 512), (51, 51), "float64", "reflect", 0.0),
        ((8, 133, 1024), (27, 103), "int32", "nearest", 0.0),
    ]
    if args.quick:
        cases = cases[:1]
    print(
        f"{'shape':>15} {'window':>9} {'dtype':>7} {'scipy wall/cpu s':>17} "
        f"{'iuvs wall/cpu ms':>17} {'x wall':>7} {'x cpu':>6}"
    )
    for k, (shape, size, kind, mode, cval) in enumerate(cases):
        image = frame(shape, kind, seed=k)
        frames = image if image.ndim == 3 else image[None]

        def reference():
            out = [ndimage.median_filter(f, size=size, mode=mode, cval=cval) for f in frames]
            return np.stack(out) if image.ndim == 3 else out[0]

        want, s_wall, s_cpu = timed(reference)
        runs = [
            timed(lambda: iuvs.median_filter(image, size, mode=mode, cval=cval))
            for _ in range(args.repeat)
        ]
        got = runs[0][0]
        assert got.dtype == want.dtype and np.array_equal(got, want), "results differ"
        wall = statistics.median(r[1] for r in runs)
        cpu = statistics.median(r[2] for r in runs)
        print(
            f"{shape!s:>15} {size!s:>9} {kind:>7} {s_wall:8.2f}/{s_cpu:<8.2f} "
            f"{wall * 1e3:8.1f}/{cpu * 1e3:<8.1f} {s_wall / wall:7.0f} {s_cpu / cpu:6.0f}"
        )


if __name__ == "__main__":
    main()
