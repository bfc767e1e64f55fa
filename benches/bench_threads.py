"""iuvs as a guest in a process: time and CPU per call of two builds, idle and beside a busy core.

Each case runs in a fresh worker process that loads one build's ``_core``
(``_core.abi3.so``) directly, so two builds (say the last release and this
tree) are measured in the same run, alternately::

    python benches/bench_threads.py OLD.so python/iuvs/_core.abi3.so

With one path only this tree's build is measured.  Cases, on a (62, 341)
int32 dark pair, ranks -1..4 (what a survey fits per pair):

- ``tight``: calls back to back; wall time per call, and process CPU per call
  (all threads of the process: pool threads that spin or yield count).
- ``gap``: one call per millisecond (a script that reads a file between fits);
  process CPU per call against the CPU per call of the same build on one
  thread (``RAYON_NUM_THREADS=1``): the CPU the work itself needs.  Threads
  that spin between calls show up as a ratio above 1.
- ``busy``: ``tight`` while another process keeps a core busy.

Also printed: the same for a (1024, 1024) pair (large frames use the pool).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from statistics import median

WORKER = r"""
import importlib.util, json, sys, time
import numpy as np
spec = importlib.util.spec_from_file_location("_core", sys.argv[1])
core = importlib.util.module_from_spec(spec); spec.loader.exec_module(core)
shape = tuple(int(v) for v in sys.argv[3].split("x"))
rng = np.random.default_rng(3)
x = rng.poisson(400.0, shape).astype(np.int32)
y = (1.02 * x + rng.normal(0, 5, shape) + 7).astype(np.int32)
ranks = [-1, 0, 1, 2, 3, 4]
call = lambda: core.fit_all(x, False, y, False, ranks)
for _ in range(50):
    call()
mode, n = sys.argv[2], int(sys.argv[4])
walls = []
cpu0 = time.process_time(); t0 = time.perf_counter()
for _ in range(n):
    a = time.perf_counter(); call(); walls.append(time.perf_counter() - a)
    if mode == "gap":
        end = time.perf_counter() + 1e-3
        while time.perf_counter() < end:
            time.sleep(2e-4)
cpu = time.process_time() - cpu0
# CPU of the sleeping loop itself (no call), to subtract
idle = 0.0
if mode == "gap":
    c0 = time.process_time()
    for _ in range(n):
        end = time.perf_counter() + 1e-3
        while time.perf_counter() < end:
            time.sleep(2e-4)
    idle = time.process_time() - c0
walls.sort()
print(json.dumps({"median_us": walls[len(walls) // 2] * 1e6,
                  "cpu_us": (cpu - idle) / n * 1e6}))
"""


def run(so: str, mode: str, shape: str, n: int, threads: str | None = None) -> dict[str, float]:
    env = dict(os.environ)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = threads
    out = subprocess.run(
        [sys.executable, "-c", WORKER, so, mode, shape, str(n)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def busy_core() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> int:
    builds = sys.argv[1:] or [
        os.path.join(os.path.dirname(__file__), "..", "python", "iuvs", "_core.abi3.so")
    ]
    for b in builds:
        if importlib.util.spec_from_file_location("_core", b) is None or not os.path.exists(b):
            raise SystemExit(f"no build at {b}")
    names = ["old", "new"] if len(builds) == 2 else ["this"]
    rounds = 3
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(rounds):
        for name, so in zip(names, builds, strict=True):
            for shape, n in (("62x341", 3000), ("1024x1024", 200)):
                rows.setdefault((name, f"tight {shape}"), []).append(run(so, "tight", shape, n))
                rows.setdefault((name, f"one thread {shape}"), []).append(
                    run(so, "tight", shape, n, threads="1")
                )
            rows.setdefault((name, "gap 62x341"), []).append(run(so, "gap", "62x341", 1500))
            rows.setdefault((name, "gap one thread 62x341"), []).append(
                run(so, "gap", "62x341", 1500, threads="1")
            )
            hog = busy_core()
            try:
                time.sleep(0.2)
                rows.setdefault((name, "busy 62x341"), []).append(run(so, "tight", "62x341", 2000))
                rows.setdefault((name, "busy one thread 62x341"), []).append(
                    run(so, "tight", "62x341", 2000, threads="1")
                )
            finally:
                hog.kill()
                hog.wait()

    def med(name: str, case: str, key: str) -> float:
        return median(r[key] for r in rows[(name, case)])

    print(f"# bench_threads: {rounds} alternating rounds, medians; {os.cpu_count()} CPUs")
    print(
        "| build | case | wall per call (us) | process CPU per call (us) | CPU / one-thread CPU |"
    )
    print("|---|---|---|---|---|")
    for name in names:
        for case in (
            "tight 62x341",
            "one thread 62x341",
            "gap 62x341",
            "gap one thread 62x341",
            "busy 62x341",
            "busy one thread 62x341",
            "tight 1024x1024",
            "one thread 1024x1024",
        ):
            base = (
                "gap one thread 62x341"
                if case.startswith("gap")
                else ("one thread 1024x1024" if "1024" in case else "one thread 62x341")
            )
            ratio = med(name, case, "cpu_us") / med(name, base, "cpu_us")
            print(
                f"| {name} | {case} | {med(name, case, 'median_us'):.1f} | "
                f"{med(name, case, 'cpu_us'):.1f} | {ratio:.2f} |"
            )
    if len(names) == 2:
        print()
        for case in ("tight 62x341", "busy 62x341", "tight 1024x1024"):
            r = med("new", case, "median_us") / med("old", case, "median_us")
            print(f"new / old wall, {case}: {r:.2f}x")
        r = med("new", "gap 62x341", "cpu_us") / med("old", "gap 62x341", "cpu_us")
        print(f"new / old CPU per call, gap 62x341: {r:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
