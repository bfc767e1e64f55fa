"""The fast FITS path (iuvs.io.fast) against astropy, and hostile headers refused."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import iuvs
from iuvs import _core
from iuvs import exceptions as ex
from iuvs.io import L1BReader
from iuvs.io.fast import FALLBACKS, FitsFile, Unsupported

REAL = Path(
    os.environ.get(
        "IUVS_L1B_SAMPLES", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "l1b"
    )
)
REAL_FILES = sorted(REAL.glob("mvn_iuv_l1b_*.fits*")) if REAL.is_dir() else []


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    out = {
        "v00": iuvs.synthetic.write_l1b(d, layout="v00", n_darks=3, n_spa=9, n_spe=40, seed=1),
        "v00-plain": iuvs.synthetic.write_l1b(
            d, layout="v00", gzip=False, n_spa=9, n_spe=40, description="a-muv", seed=2
        ),
        "v13": iuvs.synthetic.write_l1b(d, layout="v13", n_darks=2, n_int=4, n_spa=9, seed=3),
        "v13-plain": iuvs.synthetic.write_l1b(
            d, layout="v13", gzip=False, n_spa=9, description="b-fuv", seed=4
        ),
        "single": iuvs.synthetic.write_l1b(
            d, layout="v13", n_darks=1, n_int=1, gzip=False, n_spa=16, n_spe=16,
            description="APP1-orbit00087-mode1231-fuv", seed=5,
        ),
        "nodark": iuvs.synthetic.write_l1b(
            d, with_darks=False, n_spa=9, description="inbound-orbit00899-muvdark", seed=6
        ),
        "nonlinear": iuvs.synthetic.write_l1b(
            d, n_spa=7, n_spe=40, nonlinear_binning=True, description="c-muv", seed=7
        ),
    }  # fmt: skip
    with fits.open(out["v13-plain"]) as hdul:
        hdus = [h.copy() for h in hdul]
    i = [h.name.upper() for h in hdus].index("DETECTOR_DARK")
    dark = hdus[i]
    hdus[i] = fits.CompImageHDU(dark.data, header=None, name=dark.name)
    out["tile-compressed"] = d / "tile.fits"
    fits.HDUList(hdus).writeto(out["tile-compressed"])
    return out


def astropy_read(path):
    os.environ["IUVS_READER"] = "astropy"
    try:
        return L1BReader(path)
    finally:
        del os.environ["IUVS_READER"]


def assert_same_array(got, want, what):
    assert got.dtype == want.dtype, what
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(got, want, err_msg=what)


def assert_reader_equal(path):
    fast, ref = L1BReader(path), astropy_read(path)
    assert [str(c) for c in fast.header.cards] == [str(c) for c in ref.header.cards]
    assert fast.extensions == ref.extensions
    assert fast.hdus == ref.hdus
    assert fast._index == ref._index
    assert sorted(fast._images) == sorted(ref._images)
    for key, want in ref._images.items():
        got = fast._images[key]
        if want is None:
            assert got is None
        else:
            assert_same_array(got, want, f"{path.name} {key}")
    for key, table in ref._tables.items():
        got = fast._table(key)
        assert list(got) == list(table)
        for name, want in table.items():
            assert_same_array(got[name], want, f"{path.name} {key}.{name}")
    assert sorted(fast._tables) == sorted(ref._tables)
    for prop in ("dark_et", "dark_det_temps", "wavelengths"):
        got, want = getattr(fast, prop), getattr(ref, prop)
        assert (got is None) == (want is None)
        if want is not None:
            assert_same_array(got, want, prop)
    assert fast.dark_times == ref.dark_times
    assert (fast.n_darks, fast.n_integrations, fast.int_time) == (
        ref.n_darks,
        ref.n_integrations,
        ref.int_time,
    )


def assert_every_hdu_equal(path):
    """Every image and every binary table of the file, not only what the reader keeps."""
    f = FitsFile.open(path)
    with fits.open(path) as hdul:
        assert len(hdul) == len(f.hdus)
        for h, ref in zip(f.hdus, hdul, strict=True):
            if isinstance(ref, fits.CompImageHDU):
                with pytest.raises(Unsupported):
                    f.image(h)
            elif isinstance(ref, fits.BinTableHDU):
                cols = f.table(h)
                assert list(cols) == ref.columns.names
                for name in ref.columns.names:
                    assert_same_array(cols[name], np.array(ref.data[name]), f"{h.name}.{name}")
            elif ref.data is None:
                assert f.image(h) is None
            else:
                assert_same_array(f.image(h), np.array(ref.data), h.name)


@pytest.mark.parametrize(
    "name",
    ["v00", "v00-plain", "v13", "v13-plain", "single", "nodark", "nonlinear", "tile-compressed"],
)
def test_synthetic_layouts_equal_astropy(files, name):
    before = sum(FALLBACKS.values())
    assert_reader_equal(files[name])
    assert_every_hdu_equal(files[name])
    # only the tile-compressed dark is read by astropy, once
    assert sum(FALLBACKS.values()) - before == (1 if name == "tile-compressed" else 0)


@pytest.mark.skipif(not REAL_FILES, reason=f"no real L1B files in {REAL}")
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[-35:])
def test_real_files_equal_astropy(path):
    before = sum(FALLBACKS.values())
    assert_reader_equal(path)
    assert_every_hdu_equal(path)
    assert sum(FALLBACKS.values()) == before


def test_the_fast_arrays_are_views_of_one_buffer(files):
    l1b = L1BReader(files["v13"])
    dark = l1b.detector_dark
    assert dark.dtype == np.dtype(">i4") and not dark.flags.owndata
    base = dark
    while isinstance(base.base, np.ndarray):
        base = base.base
    assert base.dtype == np.uint8 and base.nbytes == len(gzip.decompress(files["v13"].read_bytes()))


def test_scaled_images_and_unusual_columns_equal_astropy(tmp_path):
    hdus = [fits.PrimaryHDU()]
    for bits in (16, 32, 64):
        kind = np.dtype(f"u{bits // 8}")
        step = kind.type((1 << bits) // 13)
        hdus.append(fits.ImageHDU(np.arange(12, dtype=kind).reshape(3, 4) * step, name=f"U{bits}"))
    hdus.append(fits.ImageHDU(np.arange(6, dtype=np.int8).reshape(2, 3), name="I8"))
    cols = [
        fits.Column(name="S", format="6A", array=np.array(["ab  ", "c d", ""], dtype="S6")),
        fits.Column(name="K", format="8A", dim="(4,2)", array=np.array([["ab", "cd"]] * 3)),
        fits.Column(name="L", format="2L", array=np.array([[True, False]] * 3)),
        fits.Column(name="U", format="J", bzero=1 << 31, array=np.array([0, 1, 2**32 - 1])),
        fits.Column(name="V", format="I", bzero=1 << 15, array=np.array([0, 7, 65535])),
        fits.Column(name="B", format="3B", array=np.arange(9, dtype=np.uint8).reshape(3, 3)),
        fits.Column(name="W", format="6E", dim="(3,2)", array=np.ones((3, 2, 3), np.float32)),
        fits.Column(name="Q", format="K", array=np.array([-1, 0, 2**62])),
    ]
    hdus.append(fits.BinTableHDU.from_columns(cols, name="T"))
    path = tmp_path / "odd.fits"
    fits.HDUList(hdus).writeto(path)
    assert_every_hdu_equal(path)
    scaled = tmp_path / "scaled.fits"
    h = fits.PrimaryHDU(np.arange(6, dtype=np.int16).reshape(2, 3))
    h.header["BSCALE"], h.header["BZERO"] = 2.5, 10.0
    h.writeto(scaled)
    with pytest.raises(Unsupported, match="BSCALE"):
        FitsFile.open(scaled).image(FitsFile.open(scaled).hdus[0])


def test_gunzip_equals_zlib_on_members_and_levels():
    rng = np.random.default_rng(1)
    data = rng.integers(0, 20, 300_000, dtype=np.uint8).tobytes()
    for level in (1, 6, 9):
        assert _core.gunzip(gzip.compress(data, compresslevel=level)).tobytes() == data
    two = gzip.compress(data[:1000]) + gzip.compress(data[1000:])
    assert _core.gunzip(two).tobytes() == gzip.decompress(two) == data
    assert _core.gunzip(two + b"\0" * 8).tobytes() == data
    z = zlib.compressobj(wbits=31)
    streamed = z.compress(data) + z.flush()
    assert _core.gunzip(streamed).tobytes() == data
    for bad in (streamed[:-3], streamed[:100], b"\x1f\x8b" + b"\0" * 40, streamed + b"junk"):
        with pytest.raises(ex.FileFormatError):
            _core.gunzip(bad)


def test_multi_member_gzip_file(files, tmp_path):
    plain = files["v13-plain"].read_bytes()
    p = tmp_path / "members.fits.gz"
    p.write_bytes(gzip.compress(plain[:5000]) + gzip.compress(plain[5000:]))
    fast, ref = L1BReader(p), L1BReader(files["v13-plain"])
    assert_same_array(fast.detector_dark, ref.detector_dark, "dark")
    assert fast.dark_times == ref.dark_times


def test_checksums_are_verified_when_strict(files, tmp_path):
    with fits.open(files["v13-plain"]) as hdul:
        p = tmp_path / "sums.fits"
        hdul.writeto(p, checksum=True, output_verify="ignore")
    FitsFile.open(p, checksums=True).verify_checksums()
    L1BReader(p, strict=True)
    raw = bytearray(p.read_bytes())
    with fits.open(p) as hdul:
        head = hdul.fileinfo(11)["hdrLoc"]
    i = raw.index(b"EXTNAME", head)
    raw[i + 11] ^= 0x01  # the header of detector_dark, not its data
    p.write_bytes(bytes(raw))
    L1BReader(p)
    with pytest.raises(ex.FileFormatError, match="checksum mismatch: CHECKSUM"):
        L1BReader(p, strict=True)


# --------------------------------------------------------------- hostile headers

HOSTILE_RUNNER = textwrap.dedent(
    """
    import resource, sys
    import iuvs
    from iuvs.io import L1BReader
    limit = int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        L1BReader(sys.argv[1])
    except iuvs.exceptions.IuvsError as err:
        print(type(err).__name__, "|", err)
    else:
        print("read")
    table = iuvs.survey.survey([sys.argv[1]], jobs=1, progress=False, ranks=[0])
    print("survey |", table["status"].tolist()[0], "|", table["error_class"].tolist()[0])
    """
)


def vm_size():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def replace_card(raw, start, key, card):
    i = raw.index(key.ljust(8).encode() + b"=", start)
    raw[i : i + 80] = card.ljust(80).encode()


def hostile(files, tmp_path, kind):
    plain = bytearray(files["v13-plain"].read_bytes())
    with fits.open(files["v13-plain"]) as hdul:
        dark = hdul.fileinfo(hdul.index_of("detector_dark"))["hdrLoc"]
        table = hdul.fileinfo(hdul.index_of("Binning"))["hdrLoc"]
        last = hdul.fileinfo(len(hdul) - 1)["hdrLoc"]
    card = {
        "naxis1-negative": (dark, "NAXIS1", "NAXIS1  =                  -15"),
        "naxis3-huge": (dark, "NAXIS3", "NAXIS3  =           2000000000"),
        "naxis-overflow": (dark, "NAXIS1", "NAXIS1  =  4611686018427387904"),
        "bitpix": (dark, "BITPIX", "BITPIX  =                   24"),
        "pcount": (table, "PCOUNT", "PCOUNT  =                   -7"),
        "gcount": (table, "GCOUNT", "GCOUNT  =  9223372036854775807"),
    }
    if kind == "no-end":
        i = plain.index(b"END" + b" " * 77, last)
        plain[i : i + 80] = b"COMMENT".ljust(80)
        expect = ("END",)
    else:
        start, key, text = card[kind]
        replace_card(plain, start, key, text)
        expect = (key, text.split("=")[1].strip())
    p = tmp_path / "mvn_iuv_l1b_hostile-orbit00001-muv_20230101T000000_v13_r01.fits.gz"
    p.write_bytes(gzip.compress(bytes(plain)))
    return p, expect


@pytest.mark.parametrize(
    "kind",
    ["naxis1-negative", "naxis3-huge", "naxis-overflow", "bitpix", "pcount", "gcount", "no-end"],
)
@pytest.mark.slow  # > 1.5 s: make test runs it, make check does not
def test_hostile_headers_are_refused_under_a_memory_limit(files, tmp_path, kind):
    path, expect = hostile(files, tmp_path, kind)
    inflated = len(gzip.decompress(path.read_bytes()))
    # what the interpreter with iuvs, astropy and pandas holds, plus 50 x the file
    limit = vm_size() + 50 * inflated + (256 << 20)
    run = subprocess.run(
        [sys.executable, "-c", HOSTILE_RUNNER, str(path), str(limit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    name, message = lines[0].split(" | ", 1)
    assert name == "FileFormatError"
    assert str(path) in message
    for text in expect:
        assert text in message, message
    assert "HDU" in message
    assert lines[1].split(" | ")[1:] == ["error", "FileFormatError"]


def test_hostile_tform_is_refused(files, tmp_path):
    plain = bytearray(files["v13-plain"].read_bytes())
    with fits.open(files["v13-plain"]) as hdul:
        table = hdul.fileinfo(hdul.index_of("Binning"))["hdrLoc"]
    replace_card(plain, table, "TFORM1", "TFORM1  = '99999999I'")
    p = tmp_path / "tform.fits"
    p.write_bytes(bytes(plain))
    l1b = L1BReader(p)  # tables are parsed when first asked for
    with pytest.raises(ex.FileFormatError, match="TFORM1") as info:
        _ = l1b.scaling_factor
    assert str(p) in str(info.value) and "Binning" in str(info.value)


def test_a_table_the_fast_path_does_not_read_is_read_by_astropy(files, tmp_path):
    with fits.open(files["v13-plain"]) as hdul:
        hdus = [h.copy() for h in hdul]
    i = [h.name.upper() for h in hdus].index("DARK_INTEGRATION")
    cols = [*hdus[i].columns, fits.Column(name="FLAGS", format="3X", array=np.zeros((2, 3), bool))]
    hdus[i] = fits.BinTableHDU.from_columns(cols, name=hdus[i].name)
    p = tmp_path / "bits.fits"
    fits.HDUList(hdus).writeto(p)
    before = sum(FALLBACKS.values())
    assert_reader_equal(p)
    assert sum(FALLBACKS.values()) == before + 1


def test_survey_on_threads_equals_in_process(files, monkeypatch):
    import warnings

    paths = [files[k] for k in ("v00", "v13", "single", "nodark", "tile-compressed")]
    filters = list(warnings.filters)
    one = iuvs.survey.survey(paths, jobs=1, progress=False, ranks=[0, 1])
    monkeypatch.delenv("IUVS_SURVEY_WORKERS", raising=False)  # threads by default
    two = iuvs.survey.survey(paths * 3, jobs=2, progress=False, ranks=[0, 1])
    assert list(warnings.filters) == filters  # no reader left its filters behind
    dedup = two.drop_duplicates(subset=["path", "dark_in", "dark_out", "rank"]).reset_index(
        drop=True
    )
    for c in one.columns:
        assert dedup[c].equals(one[c]), c
    monkeypatch.setenv("IUVS_SURVEY_WORKERS", "processes")
    spawned = iuvs.survey.survey(paths, jobs=2, progress=False, ranks=[0, 1])
    for c in one.columns:
        assert spawned[c].equals(one[c]), c


@pytest.mark.parametrize(
    ("card", "match"),
    [("TFIELDS =            999999999", "TFIELDS"), ("TFORM1  = '0Q'", None)],
)
def test_table_cards_are_checked_before_use(files, tmp_path, card, match):
    plain = bytearray(files["v13-plain"].read_bytes())
    with fits.open(files["v13-plain"]) as hdul:
        table = hdul.fileinfo(hdul.index_of("Binning"))["hdrLoc"]
    replace_card(plain, table, card.split()[0], card)
    p = tmp_path / "cards.fits"
    p.write_bytes(bytes(plain))
    f = FitsFile.open(p)
    if match is None:
        with pytest.raises(Unsupported):
            f.table(f.find("Binning"))
    else:
        with pytest.raises(ex.FileFormatError, match=match):
            f.table(f.find("Binning"))
