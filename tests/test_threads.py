"""iuvs as a guest: its own pool, one setter, no CPU between calls, safe after fork()."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import make_darks

import iuvs
from iuvs import exceptions as ex

LINUX = os.path.isdir("/proc/self/task")


def run_script(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=dict(os.environ, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return out.stdout


def test_set_threads_validates_and_round_trips():
    for bad in (0, -1, 2.5, "2", True):
        with pytest.raises(ex.InvalidParameterError, match="positive integer or None"):
            iuvs.set_threads(bad)  # type: ignore[arg-type]
    # the pool is rebuilt with the new size on first use, and the results do not change
    x, y = make_darks(shape=(300, 300), seed=2)
    want = iuvs.fit_all(x, y, [-1, 1, 3])
    try:
        for n in (1, 3, 2):
            iuvs.set_threads(n)
            assert iuvs.get_threads() == n
            got = iuvs.fit_all(x, y, [-1, 1, 3])
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g.coeffs, w.coeffs)
    finally:
        iuvs.set_threads(None)
    np.testing.assert_allclose(
        want[2].coeffs, np.polyfit(x.ravel().astype(float), y.ravel().astype(float), 3), rtol=1e-8
    )


THREAD_NAMES = """
    import glob, time, numpy as np, iuvs
    rng = np.random.default_rng(1)
    x = rng.integers(100, 3000, (1024, 512)).astype(np.int32)
    for _ in range(5):
        iuvs.fit_all(x, x * 2 + 1)
    time.sleep(0.3)  # a new thread names itself when it starts
    names = [open(p).read().strip() for p in glob.glob("/proc/self/task/*/comm")]
    print(sum(n.startswith("iuvs-") for n in names), sum(n.startswith("rayon") for n in names))
"""


@pytest.mark.skipif(not LINUX, reason="needs Linux /proc")
@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_the_pool_has_the_size_the_user_asked_for_and_rayons_global_pool_is_unused():
    for threads in ("1", "2", "3"):
        ours, global_pool = map(
            int, run_script(THREAD_NAMES, {"RAYON_NUM_THREADS": threads}).split()
        )
        assert ours == int(threads)
        assert global_pool == 0


IDLE_CPU = """
    import time, numpy as np, iuvs
    rng = np.random.default_rng(1)
    x = rng.integers(100, 3000, (62, 341)).astype(np.int32)
    big = rng.integers(100, 3000, (1024, 1024)).astype(np.int32)
    for _ in range(200):
        iuvs.fit_all(x, x * 2 + 1)
    iuvs.fit_all(big, big + 3)
    time.sleep(0.05)
    c0 = time.process_time()
    time.sleep(0.5)
    print(time.process_time() - c0)
"""


def test_no_cpu_is_used_between_calls():
    # a thread that spins or polls between calls would burn CPU while the caller sleeps
    # (the retired helper thread took 300 us per call; a poll loop all 500 ms)
    assert float(run_script(IDLE_CPU, {"RAYON_NUM_THREADS": "2"})) < 0.05


FORK = """
    import os, sys, numpy as np, iuvs
    rng = np.random.default_rng(7)
    def pair(shape):
        x = rng.integers(100, 3000, shape).astype(np.int32)
        return x, (1.45 * x + 0.5 * rng.normal(size=shape) + 10).astype(np.int64)
    small, big = pair((62, 341)), pair((1024, 1024))
    xs = np.stack([pair((62, 341))[0] for _ in range(40)]); ys = 2 * xs + 3
    def everything():
        # every parallel path: a small and a large frame, a batch, a histogram
        a = iuvs.fit_all(*small, ranks=[-1, 1, 2])[2].coeffs
        b = iuvs.fit_all(*big, ranks=[1])[0].coeffs
        c = iuvs.fit_batch(xs, ys, ranks=[1]).coeffs[:, 0, :2]
        d = iuvs.fit_batch(xs, ys, ranks=[1], n_threads=2).coeffs[:, 0, :2]
        h = iuvs.histogram(big[0], bins=64, range=(0, 3000))[0]
        return np.concatenate([a, b, c.ravel(), d.ravel(), h.astype(float)])
    parent = everything()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        child = everything()
        os.write(w, child.tobytes()); os.close(w)
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 1 << 16):
        data += chunk
    _, status = os.waitpid(pid, 0)
    child = np.frombuffer(data, dtype=np.float64)
    assert status == 0 and child.shape == parent.shape, (status, child.shape)
    assert np.array_equal(child, parent)
    # and the child's answers are numpy's
    x, y = (v.ravel().astype(float) for v in small)
    np.testing.assert_allclose(child[:3], np.polyfit(x, y, 2), rtol=1e-9)
    np.testing.assert_array_equal(child[-64:], np.histogram(big[0], 64, (0, 3000))[0])
    print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("threads", ["1", "2"])
def test_a_forked_child_can_use_every_parallel_path(threads):
    # before: the child hung forever on the first large frame or batch (the
    # parent's pool threads do not exist in a forked child)
    assert run_script(FORK, {"RAYON_NUM_THREADS": threads}, timeout=120).strip() == "ok"


MULTIPROCESSING = """
    import multiprocessing as mp, numpy as np, iuvs
    def work(seed):
        rng = np.random.default_rng(seed)
        x = rng.integers(100, 3000, (700, 700)).astype(np.int32)
        return float(iuvs.fit_all(x, 3 * x + 1, ranks=[1])[0].coeffs[0])
    if __name__ == "__main__":
        x = np.arange(1024 * 1024, dtype=np.int32).reshape(1024, 1024) % 5000
        iuvs.fit_all(x, x + 1)
        with mp.get_context("fork").Pool(2) as pool:
            print(pool.map(work, range(4)))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_fork_pool_after_a_fit_in_the_parent():
    got = eval(run_script(MULTIPROCESSING, timeout=120))
    np.testing.assert_allclose(got, [3.0] * 4, rtol=1e-12)
