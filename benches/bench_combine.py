"""Benchmark iuvs.combine against astropy's sigma_clip + mean and numpy's median.

Run: ``python benches/bench_combine.py [--frames 100 500] [--repeat 3]``.

For each stack (int32, big-endian as in L1B files, frames of 133 x 1024) it
prints the wall and CPU time (CPU of the whole process, every thread) of

* ``iuvs.combine(stack, "mean", clip=3, clip_iter=5)`` against
  ``astropy.stats.sigma_clip(stack, sigma=3, maxiters=5, axis=0,
  cenfunc="median", stdfunc="std")`` followed by the masked mean (ccdproc's
  ``sigma_clipping`` + ``average_combine``), checking that both keep the same
  values;
* ``iuvs.combine(stack, "median")`` against ``numpy.median(stack, axis=0)``
  (checked equal);

and, in a fresh subprocess per stack, the peak memory growth of one clipped
combine as a fraction of the stack's size: the resident-set high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs`` just before the call)
minus the resident set before it, which includes the result's three arrays,
and ``tracemalloc``'s peak (allocations made through Python: none, since the
core reads the stack in place and hands its results over without a copy).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

SHAPE = (133, 1024)


def make_stack(n: int, seed: int = 0) -> np.ndarray:
    """A big-endian int32 dark stack with cosmic rays, built frame by frame (no large temporaries)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, *SHAPE), dtype=">i4")
    for i in range(n):
        f = rng.normal(1000.0, 10.0, SHAPE)
        hits = rng.random(SHAPE) < 0.01
        f[hits] += rng.uniform(50, 3000, int(hits.sum()))
        out[i] = np.round(f)
    return out


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best wall time, the CPU time of that run, and the last result."""
    best = (np.inf, np.inf)
    result = None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        w, c = time.perf_counter() - w0, time.process_time() - c0
        if w < best[0]:
            best = (w, c)
    return best[0], best[1], result


def astropy_mean(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from astropy.stats import sigma_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped = sigma_clip(stack, sigma=3.0, maxiters=5, axis=0, cenfunc="median", stdfunc="std")
    return clipped.mean(axis=0).filled(np.nan), (~np.ma.getmaskarray(clipped)).sum(axis=0)


MEMORY_CHILD = """
import json, sys, tracemalloc
sys.path.insert(0, {bench_dir!r})
from bench_combine import make_stack
import iuvs

def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))

stack = make_stack({n})
iuvs.combine(stack[:3, :8], "mean", clip=3.0)  # thread pool and buffers warmed up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # the high-water mark restarts from the current RSS
before = status("VmRSS:")
tracemalloc.start()
c = iuvs.combine(stack, "{method}", clip={clip})
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
peak = status("VmHWM:")
print(json.dumps({{"rss": peak - before, "traced": traced, "stack": stack.nbytes,
                  "result": c.data.nbytes + c.n_used.nbytes + c.scatter.nbytes}}))
"""


def memory(n: int, method: str, clip: float | None) -> dict[str, int]:
    import os

    code = MEMORY_CHILD.format(
        bench_dir=os.path.dirname(os.path.abspath(__file__)), n=n, method=method, clip=clip
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    import iuvs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, nargs="+", default=[100, 500])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(f"iuvs {iuvs.__version__}, numpy {np.__version__}; frames {SHAPE}, int32 big-endian")
    for n in args.frames:
        stack = make_stack(n)
        print(f"\n({n}, {SHAPE[0]}, {SHAPE[1]}) stack, {stack.nbytes / 2**20:.0f} MiB")
        iuvs.combine(stack[:3, :8], "mean", clip=3.0)  # warm-up
        wi, ci, ours = timed(
            lambda s=stack: iuvs.combine(s, "mean", clip=3.0, clip_iter=5), args.repeat
        )
        wa, ca, (ref, kept) = timed(lambda s=stack: astropy_mean(s), max(1, args.repeat - 1))
        same = bool(np.array_equal(ours.n_used, kept))
        rel = float(np.nanmax(np.abs(ours.data - ref) / np.abs(ref)))
        print(
            f"  clip 3 sigma + mean  iuvs {wi * 1e3:8.1f} ms wall {ci * 1e3:8.1f} ms CPU | "
            f"astropy sigma_clip + mean {wa * 1e3:8.1f} ms wall {ca * 1e3:8.1f} ms CPU | "
            f"{wa / wi:5.1f}x wall, {ca / ci:5.1f}x CPU; same values kept: {same}, "
            f"max rel diff {rel:.1e}"
        )
        wi, ci, ours = timed(lambda s=stack: iuvs.combine(s, "median"), args.repeat)
        wn, cn, ref = timed(lambda s=stack: np.median(s, axis=0), args.repeat)
        same = bool(np.array_equal(ours.data, ref))
        print(
            f"  median               iuvs {wi * 1e3:8.1f} ms wall {ci * 1e3:8.1f} ms CPU | "
            f"numpy.median(axis=0)     {wn * 1e3:8.1f} ms wall {cn * 1e3:8.1f} ms CPU | "
            f"{wn / wi:5.1f}x wall, {cn / ci:5.1f}x CPU; equal: {same}"
        )
        wi, ci, ours = timed(lambda s=stack: iuvs.combine(s, "median", clip=3.0), args.repeat)
        print(f"  clip 3 sigma + median iuvs {wi * 1e3:7.1f} ms wall {ci * 1e3:8.1f} ms CPU")
        del stack
        for method, clip in (("mean", 3.0), ("median", None)):
            m = memory(n, method, clip)
            print(
                f"  memory ({method}, clip={clip}): peak RSS growth {m['rss'] / 2**20:.1f} MiB "
                f"({100 * m['rss'] / m['stack']:.1f} % of the stack; the result itself "
                f"{100 * m['result'] / m['stack']:.1f} %), "
                f"tracemalloc peak {m['traced'] / 2**20:.1f} MiB "
                f"({100 * m['traced'] / m['stack']:.1f} %)"
            )


if __name__ == "__main__":
    main()
