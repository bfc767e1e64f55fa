"""Two builds of the core side by side, calls alternated: the A/B comparison for 5-20 % changes.

On a shared, noisy machine two separate benchmark runs differ by more than most
changes do.  This loads two builds of ``_core.abi3.so`` into one process (as
``olda._core`` and ``newb._core``), alternates their calls case by case, and
prints the medians and their ratio.  Build the old one first, e.g.::

    pip install -e . && cp python/iuvs/_core.abi3.so /tmp/old.so
    # ... change the Rust code ...
    pip install -e . && python benches/ab_builds.py /tmp/old.so python/iuvs/_core.abi3.so

Cases: ``tiny`` (6 ranks on 4 x 4, the fixed cost), ``small`` (6 ranks on an
IUVS-sized 62 x 341 int32 pair), ``masked`` (the same with a 1 % mask), ``strided``
(the benchmark's strided view of a cube, ``cube[:, ::2, 1:]``), ``mid`` and
``large`` (133 x 1024 and 1024 x 1024 pairs), ``batch`` (``fit_batch`` of 200
pairs of 62 x 341), ``clip``
(a 3-sigma clipped degree-2 fit) and ``cold`` (the clipped fit right after a
16 MB numpy reduction has evicted the caches).  Give case names to run only those.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from types import ModuleType

import numpy as np
from bench_vs_reference import make_darks  # the benchmark's darks (benches/ is on the path)


def load(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    old, new = load("olda", sys.argv[1]), load("newb", sys.argv[2])
    x, y = make_darks((62, 341), 3)
    yf = y.astype(np.float64)
    yf.flat[::97] -= 400.0  # one-sided outliers
    ranks = list(range(-1, 5))
    mask = np.random.default_rng(5).random(x.shape) < 0.01
    big = np.random.default_rng(0).random(2_000_000)
    xt, yt = x[:4, :4].copy(), y[:4, :4].copy()
    # the benchmark's strided twin: every other row of a two-frame cube, one column off
    sx, sy = np.stack([x, x[::-1]])[:, ::2, 1:], np.stack([y, y[::-1]])[:, ::2, 1:]
    lx, ly = make_darks((1024, 1024), 4)
    mx, my = make_darks((133, 1024), 5)
    bx = np.stack([make_darks((62, 341), 10 + i)[0] for i in range(200)])
    by = np.stack([make_darks((62, 341), 10 + i)[1] for i in range(200)])
    flags = [False] * len(bx)
    cases = {
        "tiny": (3000, None, lambda m: m.fit_all(xt, False, yt, False, ranks)),
        "small": (600, None, lambda m: m.fit_all(x, False, y, False, ranks)),
        "masked": (600, None, lambda m: m.fit_all(x, False, y, False, ranks, mask)),
        "strided": (600, None, lambda m: m.fit_all(sx, False, sy, False, ranks)),
        "mid": (100, None, lambda m: m.fit_all(mx, False, my, False, ranks)),
        "large": (30, None, lambda m: m.fit_all(lx, False, ly, False, ranks)),
        "batch": (10, None, lambda m: m.fit_batch(bx, flags, by, flags, ranks)),
        "clip": (600, None, lambda m: m.fit_all(x, False, yf, False, [2], None, None, 3.0, 3)),
        "cold": (
            60,
            big.sum,
            lambda m: m.fit_all(x, False, yf, False, [2], None, None, 3.0, 3),
        ),
    }
    for name in sys.argv[3:] or list(cases):
        reps, before, call = cases[name]
        times: dict[str, list[float]] = {"old": [], "new": []}
        for i in range(reps):
            order = (("old", old), ("new", new)) if i % 2 else (("new", new), ("old", old))
            for label, module in order:
                if before is not None:
                    before()
                start = time.perf_counter()
                call(module)
                times[label].append(time.perf_counter() - start)
        t_old, t_new = (float(np.median(times[k])) * 1e6 for k in ("old", "new"))
        print(f"{name:8s} old {t_old:9.1f} us   new {t_new:9.1f} us   new/old {t_new / t_old:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
