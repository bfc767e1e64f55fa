"""Finding L1B files: server layout, recursion, stage, pattern wrapping, newest revision."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from iuvs import exceptions as ex
from iuvs.io import l1b_filenames, parse_l1b_filename


def touch(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.touch()
    return p


OBS = "mvn_iuv_l1b_periapse-orbit00108-mode0001-muv_20141018T112844"


def test_server_layout_is_preferred_and_stage_is_separate(tmp_path):
    prod = tmp_path / "production" / "products" / "level1b"
    stage = tmp_path / "stage" / "products" / "level1b"
    a = touch(prod, f"{OBS}_v01_r01.fits.gz")
    b = touch(stage, f"{OBS}_v02_s03.fits.gz")
    touch(tmp_path / "elsewhere", f"{OBS}_v03_r01.fits.gz")  # outside the server tree
    assert l1b_filenames("periapse", root=tmp_path) == [str(a)]
    assert l1b_filenames("periapse", stage=True, root=tmp_path) == [str(b)]


def test_recursive_search_pattern_wrapping_and_extensions(tmp_path):
    a = touch(tmp_path / "orbit00100", f"{OBS}_v01_r01.fits.gz")
    b = touch(
        tmp_path / "x" / "y", "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_r01.fits"
    )
    touch(tmp_path, "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_r01.xml")
    touch(tmp_path, "mvn_iuv_l1a_apoapse-orbit07287-muv_20180611T010203_v13_r01.fits.gz")
    touch(tmp_path, "notes.fits")
    assert l1b_filenames(root=tmp_path) == sorted([str(a), str(b)])
    assert l1b_filenames("orbit07287", root=tmp_path) == [str(b)]
    assert l1b_filenames("mode0001-muv", root=tmp_path) == [str(a)]
    assert l1b_filenames("nothing-like-this", root=tmp_path) == []


def test_newest_version_and_revision_per_observation(tmp_path):
    names = [
        f"{OBS}_v01_r01.fits.gz",
        f"{OBS}_v02_s10.fits.gz",
        f"{OBS}_v02_r01.fits.gz",  # production beats stage at equal version
        f"{OBS}_v01_r02.fits.gz",
        "mvn_iuv_l1b_IPH2-cycle00044-mode031-fuv_20140503T082457_v01_s02.fits",
        "mvn_iuv_l1b_IPH2-cycle00044-mode031-fuv_20140503T082457_v01_s05.fits",
    ]
    for n in names:
        touch(tmp_path, n)
    got = [Path(p).name for p in l1b_filenames(root=tmp_path)]
    assert got == sorted([f"{OBS}_v02_r01.fits.gz", names[5]])
    assert len(l1b_filenames(root=tmp_path, newest=False)) == len(names)


def test_version_beats_revision_kind(tmp_path):
    touch(tmp_path, f"{OBS}_v02_s01.fits.gz")
    touch(tmp_path, f"{OBS}_v01_r09.fits.gz")
    assert [Path(p).name for p in l1b_filenames(root=tmp_path)] == [f"{OBS}_v02_s01.fits.gz"]


def test_environment_variable_and_missing_root(tmp_path, monkeypatch):
    a = touch(tmp_path, f"{OBS}_v01_r01.fits.gz")
    monkeypatch.setenv("IUVS_DATA_ROOT", str(tmp_path))
    assert l1b_filenames("periapse") == [str(a)]
    monkeypatch.delenv("IUVS_DATA_ROOT")
    with pytest.raises(ex.FileFormatError, match="IUVS_DATA_ROOT") as info:
        l1b_filenames("periapse")
    assert isinstance(info.value, OSError)
    with pytest.raises(ex.FileFormatError, match="root="):
        l1b_filenames(root=tmp_path / "missing")


@pytest.mark.parametrize(
    ("name", "want"),
    [
        (
            "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_r01.fits.gz",
            ("apoapse", 7287, None, None, "muv", 13, "r", 1),
        ),
        (
            "mvn_iuv_l1b_periapse-orbit00108-mode0001-muv_20141018T112844_v01_r01",
            ("periapse", 108, None, 1, "muv", 1, "r", 1),
        ),
        (
            "mvn_iuv_l1b_IPH2-cycle00044-mode031-fuv_20140503T082457_v01_r01.fits",
            ("IPH2", None, 44, 31, "fuv", 1, "r", 1),
        ),
        (
            "mvn_iuv_l1b_ISON1-cycle01-mode01-fuv_20131120T000000_v00_r00.fits.gz",
            ("ISON1", None, 1, 1, "fuv", 0, "r", 0),
        ),
        (
            "mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits.gz",
            ("cruisecal2", None, None, 80, "muv", 0, "r", 0),
        ),
        (
            "mvn_iuv_l1a_checkout-muvdark_20131201T000000_v00_s01.fits.gz",
            ("checkout", None, None, None, "muvdark", 0, "s", 1),
        ),
        (
            "mvn_iuv_l1b_relay-echelle-orbit02000-ech_20151001t010203_v02_s10.fits.gz",
            ("relay-echelle", 2000, None, None, "ech", 2, "s", 10),
        ),
        (
            "mvn_iuv_l1b_inbound-orbit00899-muvdark_20150318T030704_v01_s01.fits.gz",
            ("inbound", 899, None, None, "muvdark", 1, "s", 1),
        ),
    ],
)
def test_parse_real_examples(name, want):
    f = parse_l1b_filename(name)
    got = (f.segment, f.orbit, f.cycle, f.mode, f.channel, f.version, f.revision_kind, f.revision)
    assert got == want
    assert isinstance(f.timestamp, datetime)
    assert f.obs_id.startswith("mvn_iuv_")


@pytest.mark.parametrize(
    "bad",
    [
        "notes.fits",
        "mvn_iuv_l1b_apoapse-orbit07287-muv_2018061_v13_r01.fits",
        "mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_x01.fits",
        "mvn_iuv_l1b_apoapse_20180611T010203_v1_r01.fits",
    ],
)
def test_bad_names(bad):
    with pytest.raises(ex.InvalidParameterError, match="not an IUVS product name"):
        parse_l1b_filename(bad)


def test_stage_without_stage_tree_searches_the_root(tmp_path):
    a = touch(tmp_path / "anywhere", f"{OBS}_v02_s01.fits.gz")
    assert l1b_filenames(stage=True, root=tmp_path) == [str(a)]


def test_paths_are_absolute_but_symlinks_are_kept(tmp_path, monkeypatch):
    real = tmp_path / "real"
    a = touch(real, f"{OBS}_v01_r01.fits")
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert l1b_filenames(root=link) == [str(link / a.name)]
    monkeypatch.chdir(tmp_path)
    assert l1b_filenames(root="real") == [str(a)]


def test_pattern_is_wrapped_not_anchored_and_glob_characters_work(tmp_path):
    a = touch(tmp_path, f"{OBS}_v01_r01.fits.gz")
    b = touch(tmp_path, "mvn_iuv_l1b_IPH2-cycle00044-mode031-fuv_20140503T082457_v01_r01.fits")
    assert l1b_filenames("orbit00108", root=tmp_path) == [str(a)]
    assert l1b_filenames("v01_r01.fits", root=tmp_path) == sorted([str(a), str(b)])
    assert l1b_filenames("cycle?????-mode031", root=tmp_path) == [str(b)]
    assert l1b_filenames("", root=tmp_path) == sorted([str(a), str(b)])
    assert l1b_filenames("ORBIT00108", root=tmp_path) == []  # case-sensitive, as fnmatchcase


def test_names_outside_the_grammar_are_kept_ungrouped(tmp_path):
    odd = touch(tmp_path, "mvn_iuv_l1b_odd.fits")
    a = touch(tmp_path, f"{OBS}_v01_r01.fits.gz")
    assert l1b_filenames(root=tmp_path) == sorted([str(a), str(odd)])


def test_root_that_is_a_file(tmp_path):
    f = touch(tmp_path, "file.txt")
    with pytest.raises(ex.FileFormatError, match="export IUVS_DATA_ROOT") as info:
        l1b_filenames(root=f)
    assert str(f) in str(info.value)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("mvn_iuv_l1b_apoapse-orbit07287-muv_20181311T010203_v13_r01.fits", "timestamp"),
        ("mvn_iuv_l1b_apo_apse-orbit07287-muv_20180611T010203_v13_r01.fits", "not an IUVS"),
        ("mvn_iuv_l1b_apoapse-orbit07287_20180611T010203_v13_r01.fits", "channel"),
    ],
)
def test_bad_names_are_named_in_the_error(bad, match):
    with pytest.raises(ex.InvalidParameterError, match=match) as info:
        parse_l1b_filename("/some/folder/" + bad)
    assert bad in str(info.value)


def test_parser_fields_by_hand():
    f = parse_l1b_filename(
        "/data/mvn_iuv_l1b_relay-echelle-orbit02000-ech_20151001t010203_v02_s10.fits.gz"
    )
    assert f.name == "mvn_iuv_l1b_relay-echelle-orbit02000-ech_20151001t010203_v02_s10.fits.gz"
    assert f.level == "l1b"
    assert f.description == "relay-echelle-orbit02000-ech"
    assert f.timestamp == datetime(2015, 10, 1, 1, 2, 3)
    assert f.obs_id == "mvn_iuv_l1b_relay-echelle-orbit02000-ech_20151001t010203"
    with pytest.raises(AttributeError):
        f.version = 3  # frozen
