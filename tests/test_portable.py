"""The portable kernels, run on an emulated processor without AVX-512, AVX2, FMA or AVX.

The core dispatches at run time among builds of its kernels for AVX-512, AVX2 +
FMA, AVX and the x86-64 baseline. Here the same installed package runs under
``qemu-x86_64 -cpu Nehalem`` (SSE4.2 and POPCNT, no AVX: numpy >= 2.4 needs
SSE4.2 as its own baseline, so the bare ``qemu64`` model cannot run numpy at
all), the core must report that it sees none of those features and took the
baseline build, and its fits, histograms, median filter, combine and FITS
reading must equal numpy / scipy / astropy references computed here. Under
``-cpu SandyBridge`` (AVX without AVX2 or FMA) the AVX build runs.

Every result is also compared bit for bit with the same call on this
machine's processor: the contract is that every build gives the same bits
(lanes of one width in every build, ``f64::mul_add`` rounded once in hardware
or in software, compaction in order). The AVX-512 build cannot be run here:
qemu's emulator has no AVX-512.

Skipped, with a message, where ``qemu-x86_64`` is missing (Debian package
``qemu-user``; ``.ci/run`` installs it) or the machine is not x86-64.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from astropy.stats import sigma_clip
from astropy.utils.exceptions import AstropyUserWarning
from scipy import ndimage

import iuvs
from iuvs import _core

pytestmark = pytest.mark.slow

QEMU = shutil.which("qemu-x86_64")
DATA = Path(__file__).parent / "data"
FEATURES = ["avx512f", "avx512vl", "avx512dq", "avx2", "fma", "avx"]
# numpy's own run-time detection, an independent reading of the same CPUID bits
NUMPY_NAMES = {
    "avx512f": "AVX512F",
    "avx512vl": "AVX512VL",
    "avx512dq": "AVX512DQ",
    "avx2": "AVX2",
    "fma": "FMA3",
    "avx": "AVX",
}
# emulated processor -> the build of the kernels it must run
MODELS = {"Nehalem": "baseline", "SandyBridge": "avx"}
RANKS = [-1, 0, 1, 2, 3, 4]

# Run by each processor: read the inputs, call iuvs, save every result (and
# what the core and numpy detect) to an .npz file.
WORKER = r"""
import io, json, pathlib, sys
import numpy as np
import iuvs
from iuvs import _core
from iuvs.io.fast import FitsFile
try:  # numpy's own run-time detection (numpy >= 2, then 1.x)
    from numpy._core._multiarray_umath import __cpu_features__
except ImportError:
    from numpy.core._multiarray_umath import __cpu_features__

inputs, out = np.load(sys.argv[1]), sys.argv[2]
x, y, stack = inputs["dark_in"], inputs["dark_out"], inputs["stack"]
res = {}

def put_fit(tag, f):
    res[f"{tag}/coeffs"] = f.coeffs
    res[f"{tag}/cov"] = f.cov
    res[f"{tag}/fitted"] = f.apply(x.ravel().astype(float))
    for name in ("n_used", "n_hot", "n_clipped", "mean", "std", "min", "max", "rms", "frac_mean"):
        res[f"{tag}/{name}"] = np.asarray(getattr(f.stats, name))

for f in iuvs.fit_all(x, y, ranks=%(ranks)r):
    put_fit(f"fit/{f.rank}", f)
# read in place from big-endian, strided memory: the byte-swapping loads
big_x = x.astype(">i4")[:, ::-1][:, ::-1]
for f in iuvs.fit_all(big_x, y.astype(">f8"), ranks=[0, 2]):
    put_fit(f"fit-big-endian/{f.rank}", f)
for f in iuvs.fit_all(x, y, ranks=[1, 3], hot_threshold=%(hot)r):
    put_fit(f"fit-hot/{f.rank}", f)
for f in iuvs.fit_all(x, y, ranks=[0, 2], clip=3.0):
    put_fit(f"fit-clip/{f.rank}", f)
for f in iuvs.fit_all(x, y, ranks=[1], weights="poisson"):
    put_fit(f"fit-poisson/{f.rank}", f)
for f in iuvs.fit_all(x, y, ranks=[2], hist_bins=50):
    res["fit-hist/counts"], res["fit-hist/edges"] = f.histogram
batch = iuvs.fit_batch(stack[:4], stack[4:8], ranks=[0, 2])
for k in ("coeffs", "perr", "cov", "cheb_coeffs"):
    res[f"batch/{k}"] = getattr(batch, k)
for k, v in batch.columns.items():
    res[f"batch/columns/{k}"] = v

values = inputs["values"]
for name, v, rng in (
    ("f64", values, None),
    ("f64-range", values, (-3.0, 2.5)),
    ("f32", values.astype(np.float32), None),
    ("i16", np.round(values[np.isfinite(values)] * 100).astype(">i2"), (-250.0, 250.0)),
):
    res[f"hist/{name}/counts"], res[f"hist/{name}/edges"] = iuvs.histogram(v, 37, rng)

for dtype in ("int16", "uint16", "float32", "float64"):
    image = x.astype(dtype)
    for mode in ("reflect", "nearest", "constant"):
        res[f"median/{dtype}/{mode}"] = iuvs.median_filter(image, (3, 5), mode=mode)
res["median/stack"] = iuvs.median_filter(stack[:3].astype(np.float32), 3)

for method in ("mean", "median"):
    for clip in (None, 2.5):
        c = iuvs.combine(stack, method, clip=clip)
        res[f"combine/{method}/{clip}/data"] = c.data
        res[f"combine/{method}/{clip}/n_used"] = c.n_used
        res[f"combine/{method}/{clip}/scatter"] = c.scatter

for path in sorted(pathlib.Path(sys.argv[3]).glob("*.fits*")):
    f = FitsFile.open(path)
    for i, h in enumerate(f.hdus):
        if h.xtension == "BINTABLE":
            for name, col in f.table(h).items():
                res[f"read/{path.name}/{i}/{name}"] = col
        elif f.image(h) is not None:
            res[f"read/{path.name}/{i}"] = f.image(h)

buf = io.StringIO()
iuvs.show_versions(buf)
meta = {
    "features": _core.cpu_features(),
    "kernel": _core.kernel_target(),
    "numpy": {k: bool(v) for k, v in __cpu_features__.items()},
    "show_versions": buf.getvalue(),
}
res["meta"] = np.array(json.dumps(meta))
np.savez(out, **res)
"""


def make_inputs() -> dict[str, np.ndarray]:
    """Dark-like pairs (hot pixels, a gain and a curvature), a stack, residual-like values.

    Frame sizes are not multiples of 8 (the lanes), so every kernel's tail runs.
    """
    rng = np.random.default_rng(20)
    shape = (31, 171)
    x = np.clip(rng.lognormal(np.log(350.0), 0.6, shape), 60, None)
    hot = rng.random(shape) < 0.003
    x[hot] = rng.uniform(2500, 5000, int(hot.sum()))
    x = np.round(x)
    y = np.round(2e-5 * x**2 + 1.45 * x + 10.0 + rng.normal(0.0, 20.0, shape))
    stack = rng.normal(1000.0, 10.0, (9, *shape))
    hits = rng.random(stack.shape) < 0.03
    stack[hits] += rng.uniform(50, 3000, int(hits.sum()))
    values = rng.standard_normal(5003)
    values[::97] = np.nan
    return {
        "dark_in": x.astype(np.int32),
        "dark_out": y.astype(np.int32),
        "stack": stack,
        "values": values,
    }


HOT = 2000.0


def run_worker(
    inputs: Path, out: Path, model: str | None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run the worker under ``qemu-x86_64 -cpu MODEL`` (or natively when None)."""
    code = WORKER % {"ranks": RANKS, "hot": HOT}
    cmd = [sys.executable, "-c", code, str(inputs), str(out), str(DATA)]
    if model is not None:
        assert QEMU is not None
        # (SandyBridge names two flags the emulator lacks and warns about)
        cmd = [QEMU, "-cpu", f"{model},-x2apic,-tsc-deadline", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    # (an illegal instruction before iuvs is imported: numpy's own baseline
    # needs more than the emulated processor has)
    assert done.returncode == 0, f"{' '.join(cmd[:3])} failed:\n{done.stderr[-3000:]}"
    with np.load(out) as z:
        res = {k: z[k] for k in z.files}
    meta = json.loads(str(res.pop("meta")))
    return res, meta


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(
            f"the emulated x86-64 processors need an x86-64 machine, not {platform.machine()}"
        )
    if QEMU is None:
        pytest.skip(
            "qemu-x86_64 not found: `apt-get install qemu-user` to run the portable kernels"
        )
    d = tmp_path_factory.mktemp("portable")
    inputs = make_inputs()
    np.savez(d / "inputs.npz", **inputs)
    out: dict[str, Any] = {"inputs": inputs}
    out["host"] = run_worker(d / "inputs.npz", d / "host.npz", None)
    for model in MODELS:
        out[model] = run_worker(d / "inputs.npz", d / f"{model}.npz", model)
    return out


def emulated(runs: dict[str, Any]) -> list[tuple[str, dict[str, np.ndarray]]]:
    return [(model, runs[model][0]) for model in MODELS]


# ------------------------------------------------------------------ the path taken


@pytest.mark.parametrize("model", list(MODELS))
def test_the_emulated_processor_lacks_the_features_and_the_expected_build_runs(runs, model):
    _, meta = runs[model]
    assert list(meta["features"]) == FEATURES
    # the core's detection agrees with numpy's, an independent reading
    for ours, theirs in NUMPY_NAMES.items():
        assert meta["features"][ours] == meta["numpy"][theirs], (model, ours)
    for f in ("avx512f", "avx512vl", "avx512dq", "avx2", "fma"):
        assert meta["features"][f] is False, (model, f)
    assert meta["features"]["avx"] is (model == "SandyBridge")
    assert meta["kernel"] == MODELS[model]
    assert f"kernels: {MODELS[model]}\n" in meta["show_versions"]
    assert "avx2=no fma=no" in meta["show_versions"]


def test_the_host_reports_what_numpy_detects(runs):
    _, meta = runs["host"]
    features = _core.cpu_features()
    assert meta["features"] == features
    for ours, theirs in NUMPY_NAMES.items():
        assert features[ours] == meta["numpy"][theirs], ours
    if features["avx512f"] and features["avx512vl"] and features["avx512dq"]:
        want = "avx512"
    elif features["avx2"] and features["fma"]:
        want = "avx2+fma"
    else:
        want = "avx" if features["avx"] else "baseline"
    assert _core.kernel_target() == want


# ------------------------------------------------------------------ against references


def _polyfit(x: np.ndarray, y: np.ndarray, deg: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's RankWarning at high degree
        return np.polyfit(x, y, deg)


def check_fits(res: dict[str, np.ndarray], tag: str, x: np.ndarray, y: np.ndarray, ranks):
    for rank in ranks:
        got = res[f"{tag}/{rank}/fitted"]
        if rank == -1:  # y = x + offset: the offset is the mean difference
            want = x + np.mean(y - x)
        elif rank == 0:  # y = gain x: sum(xy) / sum(xx)
            want = x * (np.dot(x, y) / np.dot(x, x))
        else:
            want = np.polyval(_polyfit(x, y, rank), x)
        np.testing.assert_allclose(got[: x.size], want, rtol=1e-9, err_msg=f"{tag} rank {rank}")
        residual = y - want
        stats = {
            "n_used": x.size,
            "mean": np.mean(residual),
            "std": np.std(residual),
            "min": np.min(residual),
            "max": np.max(residual),
            "rms": np.sqrt(np.mean(residual**2)),
            "frac_mean": np.mean(residual / y),
        }
        for name, value in stats.items():
            np.testing.assert_allclose(
                res[f"{tag}/{rank}/{name}"], value, rtol=1e-9, atol=1e-7, err_msg=f"{tag} {name}"
            )


@pytest.mark.parametrize("model", list(MODELS))
def test_fits_equal_numpy(runs, model):
    res, _ = runs[model]
    x = runs["inputs"]["dark_in"].ravel().astype(float)
    y = runs["inputs"]["dark_out"].ravel().astype(float)
    check_fits(res, "fit", x, y, RANKS)
    check_fits(res, "fit-big-endian", x, y, [0, 2])
    used = x <= HOT
    for rank in (1, 3):
        want = np.polyval(_polyfit(x[used], y[used], rank), x)
        np.testing.assert_allclose(res[f"fit-hot/{rank}/fitted"], want, rtol=1e-9)
        assert res[f"fit-hot/{rank}/n_used"] == used.sum()
    # Poisson weights: one refit by numpy.polyfit with sigma = sqrt(first model)
    first = np.polyval(np.polyfit(x, y, 1), x)
    want = np.polyval(np.polyfit(x, y, 1, w=1 / np.sqrt(first)), x)
    np.testing.assert_allclose(res["fit-poisson/1/fitted"], want, rtol=1e-9)
    # residual histogram of the degree-2 fit: numpy's of the residuals
    resid = y - res["fit/2/fitted"]
    counts, edges = np.histogram(resid, 50)
    np.testing.assert_array_equal(res["fit-hist/counts"], counts)
    np.testing.assert_allclose(res["fit-hist/edges"], edges, rtol=1e-12)


@pytest.mark.parametrize("model", list(MODELS))
def test_histograms_equal_numpy(runs, model):
    res, _ = runs[model]
    values = runs["inputs"]["values"]
    finite = values[np.isfinite(values)]
    cases = {
        "f64": (finite, None),
        "f64-range": (finite, (-3.0, 2.5)),
        "f32": (finite.astype(np.float32), None),
        "i16": (np.round(finite * 100).astype(np.int16), (-250.0, 250.0)),
    }
    for name, (v, rng) in cases.items():
        counts, edges = np.histogram(v, 37, rng)
        np.testing.assert_array_equal(res[f"hist/{name}/counts"], counts, err_msg=name)
        np.testing.assert_array_equal(res[f"hist/{name}/edges"], edges, err_msg=name)


@pytest.mark.parametrize("model", list(MODELS))
def test_median_filter_equals_scipy(runs, model):
    res, _ = runs[model]
    x = runs["inputs"]["dark_in"]
    for dtype in ("int16", "uint16", "float32", "float64"):
        for mode in ("reflect", "nearest", "constant"):
            want = ndimage.median_filter(x.astype(dtype), size=(3, 5), mode=mode)
            got = res[f"median/{dtype}/{mode}"]
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want, err_msg=f"{dtype} {mode}")
    stack = runs["inputs"]["stack"][:3].astype(np.float32)
    for k in range(3):
        np.testing.assert_array_equal(res["median/stack"][k], ndimage.median_filter(stack[k], 3))


@pytest.mark.parametrize("model", list(MODELS))
def test_combine_equals_numpy_and_astropy(runs, model):
    res, _ = runs[model]
    stack = runs["inputs"]["stack"]
    np.testing.assert_allclose(res["combine/mean/None/data"], stack.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(res["combine/median/None/data"], np.median(stack, axis=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyUserWarning)
        clipped = sigma_clip(stack, sigma=2.5, maxiters=5, axis=0, cenfunc="median", stdfunc="std")
    kept = ~np.ma.getmaskarray(clipped)
    for method in ("mean", "median"):
        np.testing.assert_array_equal(res[f"combine/{method}/2.5/n_used"], kept.sum(axis=0))
        np.testing.assert_allclose(
            res[f"combine/{method}/2.5/scatter"], np.ma.std(clipped, axis=0), rtol=1e-10
        )
    np.testing.assert_allclose(
        res["combine/mean/2.5/data"], np.ma.mean(clipped, axis=0).filled(np.nan), rtol=1e-12
    )
    np.testing.assert_array_equal(
        res["combine/median/2.5/data"], np.ma.median(clipped, axis=0).filled(np.nan)
    )


@pytest.mark.parametrize("model", list(MODELS))
def test_reading_equals_astropy(runs, model):
    res, _ = runs[model]
    paths = sorted(DATA.glob("*.fits*"))
    assert paths, "no L1B sample in tests/data"
    n = 0
    for path in paths:
        with fits.open(path) as hdul:
            for i, hdu in enumerate(hdul):
                if isinstance(hdu, fits.BinTableHDU):
                    for name in hdu.columns.names:
                        got = res[f"read/{path.name}/{i}/{name}"]
                        want = np.array(hdu.data[name])
                        assert got.dtype == want.dtype and got.shape == want.shape
                        np.testing.assert_array_equal(got, want, err_msg=f"{i}.{name}")
                        n += 1
                elif hdu.data is not None:
                    got = res[f"read/{path.name}/{i}"]
                    want = np.array(hdu.data)
                    assert got.dtype == want.dtype
                    np.testing.assert_array_equal(got, want, err_msg=f"{path.name}[{i}]")
                    n += 1
    assert n > 20


# ------------------------------------------------------------------ across the builds


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("model", list(MODELS))
def test_every_result_has_the_same_bits_as_on_this_processor(runs, model):
    host, _ = runs["host"]
    res, _ = runs[model]
    assert sorted(res) == sorted(host)
    differ = [k for k in host if not same_bits(res[k], host[k])]
    assert differ == [], f"{len(differ)} of {len(host)} results differ from this CPU's: {differ}"


def test_show_versions_names_the_versions_features_and_threads(capsys):
    iuvs.show_versions()
    lines = capsys.readouterr().out.splitlines()
    facts = dict(line.split(": ", 1) for line in lines)
    assert facts["numpy"] == np.__version__
    assert facts["python"] == platform.python_version()
    assert facts["threads"] == str(iuvs.get_threads())
    assert facts["kernels"] == _core.kernel_target()
    assert facts["cpu features"] == " ".join(
        f"{f}={'yes' if on else 'no'}" for f, on in _core.cpu_features().items()
    )
