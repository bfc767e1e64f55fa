"""iuvs against the 2015 way (numpy.polyfit + curve_fit + numpy statistics), in one process.

Runs interleaved repetitions of the reference and of iuvs on the same arrays and
prints one table: median / min / max per case, the speed ratio, the memory floor
(numpy reductions reading the same bytes once; the "two-pass floor" reads them
twice) and our time as a multiple of that floor.  Run with ``make bench``.

The reference's BLAS runs on one thread unless the environment says otherwise:
its least-squares problems are tiny (a few columns), one thread makes it faster
on this 2-core machine, and OpenBLAS's idle threads would otherwise keep
spinning on the other core after each call and slow down whatever runs next
(both sides).  iuvs does not use BLAS.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy is imported (see the module docs)

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import curve_fit  # noqa: E402

import iuvs  # noqa: E402

RANKS = list(range(-1, 5))


def make_darks(shape, seed):
    rng = np.random.default_rng(seed)
    x = np.clip(rng.lognormal(np.log(350.0), 0.6, shape), 60, None)
    hot = rng.random(shape) < 0.003
    x[hot] = rng.uniform(2500, 5000, int(hot.sum()))
    x = np.round(x)
    y = np.round(2e-5 * x**2 + 1.45 * x + 10 + rng.normal(0.0, 20.0, shape))
    return x.astype(np.int32), y.astype(np.int32)


def reference(dark_in, dark_out, bins=None):
    """The notebook's workflow: curve_fit for add/mult, polyfit+poly1d for 1..4, numpy stats.

    With ``bins``, also each model's residual histogram (``numpy.histogram``).
    """
    out = []
    x = dark_in.ravel().astype(np.float64)
    y = dark_out.ravel().astype(np.float64)
    hist = (lambda r: np.histogram(r, bins)) if bins else (lambda r: None)
    for model in (lambda v, a: v + a, lambda v, a: a * v):
        p, pcov = curve_fit(model, x, y)
        res = y - model(x, *p)
        out.append((p, np.sqrt(np.diag(pcov)), np.std(res), np.mean(res / y), hist(res)))
    for deg in range(1, 5):
        z = np.polyfit(x, y, deg)
        res = y - np.poly1d(z)(x)
        out.append((z, None, np.std(res), np.mean(res / y), hist(res)))
    return out


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t


WARM = 3  # consecutive calls per side and round in the fit, histogram and clip rows


def warm(fn, *args, **kwargs):
    """Median of WARM consecutive calls: a batch script calls the same function in a loop.

    Both sides are timed this way.  The first call after the other side's work runs
    with caches and branch predictors full of that work; the "cold" row shows it.
    """
    return statistics.median(timed(fn, *args, **kwargs) for _ in range(WARM))


def interleave(cases, reps):
    """Run each callable of ``cases`` once per round, ``reps`` rounds; return the times."""
    times = {name: [] for name in cases}
    for _ in range(reps):
        for name, fn in cases.items():
            times[name].append(fn())
    return times


def fmt(t):
    if t < 1e-3:
        return f"{t * 1e6:8.1f} us"
    if t < 1.0:
        return f"{t * 1e3:8.2f} ms"
    return f"{t:8.2f} s "


def main() -> int:
    warnings.simplefilter("ignore")
    start = time.perf_counter()
    rows = []
    twins = []
    quick = "--quick" in sys.argv
    for shape, reps in [((62, 341), 30), ((133, 1024), 10), ((1024, 1024), 5)]:
        if quick:
            reps = 3
        x, y = make_darks(shape, 1)
        xb, yb = x.astype(">i4"), y.astype(">i4")
        floor = statistics.median(
            interleave(
                {
                    "f": lambda x=x, y=y: timed(
                        lambda: (np.add.reduce(x, axis=None), np.add.reduce(y, axis=None))
                    )
                },
                20,
            )["f"]
        )
        t = interleave(
            {
                "ref": lambda x=x, y=y: warm(reference, x, y),
                "iuvs_cold": lambda x=x, y=y: timed(iuvs.fit_all, x, y, RANKS),
                "iuvs": lambda x=x, y=y: warm(iuvs.fit_all, x, y, RANKS),
                "ref_be": lambda x=xb, y=yb: warm(reference, x, y),
                # the first call after the reference is a cold one here too, so that
                # the big-endian triple is as warm as the native one
                "iuvs_cold_be": lambda x=xb, y=yb: timed(iuvs.fit_all, x, y, RANKS),
                "iuvs_be": lambda x=xb, y=yb: warm(iuvs.fit_all, x, y, RANKS),
            },
            reps,
        )
        for label, ref_key, ours_key in [
            ("native", "ref", "iuvs"),
            ("big-endian", "ref_be", "iuvs_be"),
            ("native, cold", "ref", "iuvs_cold"),
            ("big-endian, cold", "ref_be", "iuvs_cold_be"),
        ]:
            rows.append((f"fit_all {shape} {label}", t[ref_key], t[ours_key], 2 * floor))
        # layouts: a strided view of a cube as FITS cubes are sliced, its contiguous twin,
        # the Fortran-ordered and byte-swapped twins; each against its native contiguous twin
        cube_x = np.stack([x, x[::-1]])
        cube_y = np.stack([y, y[::-1]])
        sx, sy = cube_x[:, ::2, 1:], cube_y[:, ::2, 1:]
        cx, cy = np.ascontiguousarray(sx), np.ascontiguousarray(sy)
        fx, fy = np.asfortranarray(sx), np.asfortranarray(sy)
        bx, by = sx.astype(">i4"), sy.astype(">i4")
        t2 = interleave(
            {
                "contiguous": lambda: timed(iuvs.fit_all, cx, cy, RANKS),
                "strided": lambda: timed(iuvs.fit_all, sx, sy, RANKS),
                "fortran": lambda: timed(iuvs.fit_all, fx, fy, RANKS),
                "swapped": lambda: timed(iuvs.fit_all, bx, by, RANKS),
            },
            max(3, reps),
        )
        base = statistics.median(t2["contiguous"])
        for kind in ("strided", "fortran", "swapped"):
            twins.append((f"{shape} cube[:, ::2, 1:] {kind}", statistics.median(t2[kind]) / base))
    # histograms
    for shape in [(62, 341), (1024, 1024)]:
        x, y = make_darks(shape, 2)
        r = iuvs.fit(x, y, 2).residual(x, y)
        t = interleave(
            {
                "np": lambda r=r: warm(np.histogram, r, 100, (-500.0, 500.0)),
                "iuvs": lambda r=r: warm(iuvs.histogram, r, 100, (-500.0, 500.0)),
            },
            3 if quick else 20,
        )
        floor = statistics.median(
            interleave({"f": lambda r=r: timed(np.add.reduce, r, None)}, 20)["f"]
        )
        rows.append((f"histogram {shape}", t["np"], t["iuvs"], floor))
    # the notebook's residual histograms: the reference, with numpy.histogram of
    # each model's residual; iuvs.fit_all with hist_bins (one more pass, plus
    # one for numpy's default range of each model's residuals)
    x, y = make_darks((62, 341), 1)
    t = interleave(
        {
            "ref": lambda: warm(reference, x, y, bins=100),
            "iuvs": lambda: warm(iuvs.fit_all, x, y, RANKS, hist_bins=100),
        },
        3 if quick else 20,
    )
    rows.append(("fit_all + residual histograms (62, 341)", t["ref"], t["iuvs"], float("nan")))
    # robust fits: astropy's FittingWithOutlierRemoval against iuvs.fit(clip=...)
    from astropy.modeling import fitting, models
    from astropy.stats import sigma_clip

    x, y = make_darks((62, 341), 3)
    y = y.astype(np.float64)
    y.flat[::97] -= 400.0  # one-sided outliers, as in the notebook's residual histograms
    xf, yf = x.ravel().astype(np.float64), y.ravel()

    def astropy_clip():
        model = models.Polynomial1D(2, domain=(xf.min(), xf.max()), window=(-1, 1))
        fitter = fitting.FittingWithOutlierRemoval(
            fitting.LinearLSQFitter(), sigma_clip, niter=3, sigma=3.0
        )
        return fitter(model, xf, yf)

    t = interleave(
        {
            "astropy": lambda: warm(astropy_clip),
            "iuvs_cold": lambda: timed(iuvs.fit, x, y, 2, clip=3.0, clip_iter=3),
            "iuvs": lambda: warm(iuvs.fit, x, y, 2, clip=3.0, clip_iter=3),
        },
        3 if quick else 15,
    )
    rows.append(("clip 3 sigma, degree 2, (62, 341)", t["astropy"], t["iuvs"], float("nan")))
    rows.append(
        ("clip 3 sigma, degree 2, (62, 341), cold", t["astropy"], t["iuvs_cold"], float("nan"))
    )

    # a survey batch
    n_pairs = 200 if quick else 2000
    base = [make_darks((62, 341), s) for s in range(50)]
    xs = np.stack([base[i % 50][0] for i in range(n_pairs)])
    ys = np.stack([base[i % 50][1] for i in range(n_pairs)])

    def ref_loop():
        for i in range(n_pairs):
            reference(xs[i], ys[i])

    t_ref = [timed(ref_loop)]
    t_ours = interleave({"b": lambda: timed(iuvs.fit_batch, xs, ys, RANKS)}, 5)["b"]
    floor = statistics.median(
        interleave(
            {
                "f": lambda: timed(
                    lambda: (np.add.reduce(xs, axis=None), np.add.reduce(ys, axis=None))
                )
            },
            10,
        )["f"]
    )
    rows.append((f"fit_batch {n_pairs} x (62, 341)", t_ref, t_ours, 2 * floor))

    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(
        f"iuvs {iuvs.__version__}, numpy {np.__version__}, {os.cpu_count()} cores, rayon threads {threads}, "
        f"reference BLAS threads {os.environ['OPENBLAS_NUM_THREADS']}"
    )
    head = f"{'case':38s} {'reference median (min..max)':>36s} {'iuvs median (min..max)':>36s} {'speed-up':>9s} {'2-pass floor':>12s} {'iuvs/floor':>10s}"
    print(head)
    print("-" * len(head))
    for name, ref, ours, floor in rows:
        rm, om = statistics.median(ref), statistics.median(ours)
        print(
            f"{name:38s} {fmt(rm)} ({fmt(min(ref)).strip()}..{fmt(max(ref)).strip()})".ljust(76)
            + f" {fmt(om)} ({fmt(min(ours)).strip()}..{fmt(max(ours)).strip()})".ljust(37)
            + (
                f" {rm / om:8.1f}x {fmt(floor):>12s} {om / floor:9.1f}x"
                if floor == floor
                else f" {rm / om:8.1f}x"
            )
        )
    print()
    print(
        f"fit, histogram and clip rows: median over rounds of the median of {WARM} consecutive calls "
        "per side;\n'cold' rows: the first iuvs call right after the reference, caches full of its work."
    )
    print()
    print("layout / byte order of the same pixels, time relative to the native contiguous twin:")
    for name, ratio in twins:
        print(f"  {name:52s} {ratio:5.2f}x")
    print(
        f"(total benchmark time {time.perf_counter() - start:.0f} s; floor rows for histograms read the residual once)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
