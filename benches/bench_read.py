"""Per-file read time of L1B files: the astropy path, the fast path, and inflation alone.

For each file (the real files in ``../shared/data/l1b`` next to the repository when
present, or ``--files``; synthetic files of three sizes otherwise) it times, best of R:

- ``astropy``: ``L1BReader`` with ``IUVS_READER=astropy`` (gzip + astropy), then the darks,
  their times and temperatures (what the survey reads);
- ``fast``: the same with the fast path (libdeflate + header scan + views);
- ``libdeflate``: ``iuvs._core.gunzip`` of the file's bytes (inflation alone, no GIL);
- ``zlib``: ``zlib.decompress(..., wbits=31)`` and ``gzip.decompress`` of the same bytes;
- ``scan``: ``_core.scan_fits`` of the inflated bytes (the header walk).

Run: ``python benches/bench_read.py [--repeat 20] [--files F ...]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
import time
import zlib
from pathlib import Path

import iuvs
from iuvs import _core
from iuvs.io import L1BReader

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "l1b"


def best(repeat, func):
    """Smallest wall and CPU time of ``repeat`` runs (other load only adds time)."""
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        func()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def read_darks(path):
    with L1BReader(path) as l1b:
        return l1b.detector_dark, l1b.dark_times, l1b.dark_det_temps, l1b.int_time


def astropy_read(path):
    os.environ["IUVS_READER"] = "astropy"
    try:
        return read_darks(path)
    finally:
        del os.environ["IUVS_READER"]


def synthetic(root):
    sizes = ((10, 51, 2), (133, 15, 2), (10, 51, 187))  # the shapes of the real files
    return [
        iuvs.synthetic.write_l1b(
            root, n_spa=a, n_spe=b, n_int=n, n_darks=10, description=f"s{k}-fuv", seed=k
        )
        for k, (a, b, n) in enumerate(sizes)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--files", nargs="*", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="iuvs-bench-read-") as tmp:
        if args.files:
            paths, source = [Path(p) for p in args.files], "given files"
        elif REAL.is_dir():
            paths, source = sorted(REAL.glob("mvn_iuv_l1b_*.fits*")), str(REAL)
        else:
            paths, source = synthetic(Path(tmp)), "synthetic files (no real files found)"
        # one file of each size
        by_size = {}
        for p in sorted(paths, key=lambda p: p.stat().st_size):
            by_size.setdefault(round(p.stat().st_size, -5), p)
        paths = list(by_size.values())
        print(f"read time per file, ms, best of {args.repeat}; {source}; {os.cpu_count()} CPUs")
        head = (
            f"{'file':<18}{'KB gz':>8}{'MB fits':>8}{'astropy':>9}{'fast':>8}{'libdefl':>9}"
            f"{'zlib':>8}{'gzip':>8}{'scan':>7}{'fast/libdefl':>13}{'astropy/fast':>13}"
        )
        print(head)
        for p in paths:
            raw = p.read_bytes()
            gz = raw[:2] == b"\x1f\x8b"
            inflated = _core.gunzip(raw) if gz else None
            assert inflated is None or inflated.tobytes() == gzip.decompress(raw)
            t_astropy, _ = best(args.repeat, lambda: astropy_read(p))
            t_fast, _ = best(args.repeat, lambda: read_darks(p))
            if gz:
                t_libdeflate, _ = best(args.repeat, lambda: _core.gunzip(raw))
                t_zlib, _ = best(args.repeat, lambda: zlib.decompress(raw, wbits=31))
                t_gzip, _ = best(args.repeat, lambda: gzip.decompress(raw))
            else:
                t_libdeflate = t_zlib = t_gzip = float("nan")
            buf, _ = _core.read_fits_file(str(p))
            t_scan, _ = best(args.repeat, lambda: _core.scan_fits(buf))
            name = p.name.split("_")[3][-3:] + p.name.split("_")[4][8:15]
            print(
                f"{name:<18}{len(raw) / 1e3:>8.0f}{buf.size / 1e6:>8.2f}"
                f"{1e3 * t_astropy:>9.2f}{1e3 * t_fast:>8.2f}{1e3 * t_libdeflate:>9.2f}"
                f"{1e3 * t_zlib:>8.2f}{1e3 * t_gzip:>8.2f}{1e3 * t_scan:>7.3f}"
                f"{t_fast / t_libdeflate:>13.2f}{t_astropy / t_fast:>13.1f}"
            )
        print(
            "fast = L1BReader + darks + dark times + temperatures (file read, inflate, scan, "
            "primary header, tables); libdeflate/zlib/gzip = inflation of bytes in memory"
        )


if __name__ == "__main__":
    main()
