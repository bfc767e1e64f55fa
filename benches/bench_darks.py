"""Dark correction on the real L1B files: reproduction, quality per method, time per method.

Reads the real files of ``../shared/data/l1b`` (or ``IUVS_L1B_DIR``), and prints

1. how well :func:`iuvs.darks.pipeline_dark` reproduces each file's ``background_dark``
   (max |diff| and the fraction of pixels exactly equal);
2. the quality table summary (median over frames) of each method on each file;
3. the time to dark-correct the largest file with each method (the file read once
   beforehand; median of 5 runs, wall and CPU time), against the time of the
   bare numpy reference of the pipeline's dark (the interpolation alone, no checks,
   no windows, no quality table) measured in the same run, and how much of it
   the calm windows' median filter takes.

Run: ``python benches/bench_darks.py``.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

import iuvs
import iuvs.darks as darks
from iuvs.io import L1BReader

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("IUVS_L1B_DIR", ROOT.parent / "shared" / "data" / "l1b"))
METHODS = [("pipeline", {}), ("nearest", {})] + [("scaled", {"rank": r}) for r in (-1, 0, 1)]


def timed(fn, repeat=5):
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def numpy_reference(reader):
    """The pipeline's dark with plain numpy: the rule of pipeline_dark, nothing else."""
    d = reader.detector_dark.astype(np.float64)
    det, let = reader.dark_et, reader.integration_et
    a = np.where(np.arange(let.size) == 0, 0, 1)
    b = a + 5
    w = (let - det[a]) / (det[b] - det[a])
    return np.floor(d[a] + (d[b] - d[a]) * w[:, None, None])


def holdout(reader):
    """Per method, the median over frames of (mean, robust sigma) on the held-out half."""
    sf = reader.scaling_factor
    base = darks.pipeline_dark(reader).astype(np.float64)
    raw = reader.detector_raw.astype(np.float64)
    windows = darks.subtract(reader, "pipeline").window
    yy, xx = np.mgrid[0 : raw.shape[1], 0 : raw.shape[2]]
    out = {"pipeline": [], "r-1": [], "r0": [], "r1": []}
    for k in range(raw.shape[0]):
        s0, s1, e0, e1 = windows[k]
        inside = (yy >= s0) & (yy < s1) & (xx >= e0) & (xx < e1)
        half_a, half_b = inside & ((yy + xx) % 2 == 0), inside & ((yy + xx) % 2 == 1)
        x, y = base[k] / sf + 0.001, raw[k] / sf + 0.001
        models = {"pipeline": base[k]}
        for rank in (-1, 0, 1):
            f = iuvs.fit(x, y, rank, mask=~half_a)
            models[f"r{rank}"] = (f.apply(x) - 0.001) * sf
        for label, dark in models.items():
            v = (raw[k] - dark)[half_b]
            out[label].append((v.mean(), 1.4826 * np.median(np.abs(v - np.median(v)))))
    return {k: tuple(np.median(np.array(v), axis=0)) for k, v in out.items()}


def main():
    files = sorted(DATA.glob("*.fits.gz"))
    if not files:
        print(f"no real files in {DATA}; set IUVS_L1B_DIR")
        return
    print("1. pipeline_dark against background_dark")
    print(f"{'file':>34}  {'frames':>6}  {'max |diff|':>10}  {'exact':>8}")
    for f in files:
        r = L1BReader(f)
        diff = np.abs(darks.pipeline_dark(r).astype(np.float64) - r.background_dark)
        print(
            f"{f.name[20:54]:>34}  {diff.shape[0]:>6}  {diff.max():>10.0f}  {(diff == 0).mean():>8.4%}"
        )

    print("\n2. quality (median over frames, DN): window mean, window sigma, frame sigma, ratio")
    for f in files:
        r = L1BReader(f)
        print(f"{f.name[20:54]} ({r.channel}, {r.detector_raw.shape[0]} frames)")
        for m, kw in METHODS:
            row = darks.subtract(r, m, **kw).quality.summary().data[0]
            label = m + (f" r{kw['rank']}" if kw else "")
            print(
                f"   {label:12s} win_mean {row['window_mean']:8.2f}  win_sigma "
                f"{row['window_sigma']:7.2f}  frame_sigma {row['frame_sigma']:7.2f}  expected "
                f"{row['expected_sigma']:6.2f}  ratio {row['sigma_ratio']:5.2f}  n_win {row['n_window']}"
            )

    print(
        "\n2b. out of sample: models fitted on the window's checkerboard half A, mean and "
        "1.4826 MAD\n    of the corrected pixels of half B (median over frames, DN); the "
        "pipeline's dark is not fitted"
    )
    for f in files:
        r = L1BReader(f)
        cells = [f"{label}: {m:7.2f} / {s:6.1f}" for label, (m, s) in holdout(r).items()]
        print(f"   {f.name[20:54]} {r.channel}  " + "  ".join(cells))

    largest = max(files, key=lambda f: L1BReader(f).n_integrations)
    r = L1BReader(largest)
    print(f"\n3. time to correct {largest.name} ({r.n_integrations} frames), file read beforehand")
    ref_wall, ref_cpu = timed(lambda: numpy_reference(r))
    print(
        f"   numpy reference of the pipeline dark: {ref_wall * 1e3:.2f} ms wall, {ref_cpu * 1e3:.2f} ms CPU"
    )
    raw_dn_s = r.raw_dn_s
    win_wall, _ = timed(lambda: [darks.calm_window(f) for f in raw_dn_s])
    print(f"   calm windows alone (median filter):   {win_wall * 1e3:.1f} ms wall")
    for m, kw in METHODS:
        wall, cpu = timed(lambda: darks.subtract(r, m, **kw))
        label = m + (f" r{kw['rank']}" if kw else "")
        print(
            f"   {label:12s} {wall * 1e3:7.1f} ms wall  {cpu * 1e3:7.1f} ms CPU  "
            f"{wall / ref_wall:7.1f}x the numpy reference"
        )


if __name__ == "__main__":
    main()
