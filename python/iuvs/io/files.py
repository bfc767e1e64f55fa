"""Finding IUVS Level 1B files: the filename grammar and the newest revision of each observation.

File names follow ``mvn_iuv_<level>_<description>_<YYYYMMDD>T<HHMMSS>_v<NN>_<r|s><NN>.fits[.gz]``
(see the file format notes of :mod:`iuvs.io.l1b`).

Examples
--------
>>> from iuvs.io import parse_l1b_filename
>>> f = parse_l1b_filename("mvn_iuv_l1b_apoapse-orbit07287-muv_20180611T010203_v13_r01.fits.gz")
>>> f.segment, f.orbit, f.channel, f.version, f.revision_kind
('apoapse', 7287, 'muv', 13, 'r')
"""

from __future__ import annotations

import fnmatch
import gzip
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from iuvs.exceptions import FileFormatError, InvalidParameterError

__all__ = ["L1BFilename", "l1b_filenames", "parse_l1b_filename"]

_STEM = re.compile(
    r"^mvn_iuv_(?P<level>l[0-3][a-c]*)_(?P<desc>[^_]+)_(?P<ts>\d{8}[Tt]\d{6})"
    r"_v(?P<version>\d{2})_(?P<rkind>[rs])(?P<rev>\d{2})$"
)


@dataclass(frozen=True)
class L1BFilename:
    """The fields of an IUVS product file name.

    Attributes
    ----------
    name : str
        The base name as given.
    level : str
        ``'l1b'``, ``'l1a'``, ...
    description : str
        The ``-``-joined description, e.g. ``'apoapse-orbit07287-muv'``.
    segment : str
        Its first part (``'apoapse'``, ``'IPH2'``, ``'relay-echelle'``, ...).
    orbit, cycle, mode : int or None
        The numbers of ``orbitNNNNN``, ``cycleNNN`` and ``modeNNN`` where present.
    channel : str
        The last part: ``'fuv'``, ``'muv'``, ``'ech'``, ``'muvdark'``, ...
    timestamp : datetime.datetime
        Observation start (UTC, naive).
    version, revision : int
        ``vNN`` and the number of ``rNN`` / ``sNN``.
    revision_kind : str
        ``'r'`` (production) or ``'s'`` (stage).
    obs_id : str
        ``mvn_iuv_<level>_<description>_<timestamp>``: the observation, any version.

    Examples
    --------
    >>> from iuvs.io import parse_l1b_filename
    >>> f = parse_l1b_filename("mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029_v00_r00.fits")
    >>> f.segment, f.orbit, f.cycle, f.mode, f.channel
    ('cruisecal2', None, None, 80, 'muv')
    >>> f.timestamp.isoformat(), f.obs_id
    ('2014-05-21T12:00:29', 'mvn_iuv_l1b_cruisecal2-mode080-muv_20140521T120029')
    """

    name: str
    level: str
    description: str
    segment: str
    orbit: int | None
    cycle: int | None
    mode: int | None
    channel: str
    timestamp: datetime
    version: int
    revision_kind: str
    revision: int
    obs_id: str

    @property
    def rank_key(self) -> tuple[int, int, int]:
        """Order of versions: higher version, then production over stage, then revision.

        Examples
        --------
        >>> from iuvs.io import parse_l1b_filename
        >>> obs = "mvn_iuv_l1b_periapse-orbit00108-muv_20141018T112844"
        >>> stage = parse_l1b_filename(obs + "_v02_s10.fits.gz")
        >>> production = parse_l1b_filename(obs + "_v02_r01.fits.gz")
        >>> production.rank_key > stage.rank_key
        True
        """
        return (self.version, 1 if self.revision_kind == "r" else 0, self.revision)

    def fields(self) -> dict[str, Any]:
        """Return the fields reports and surveys show, by name.

        Returns
        -------
        dict
            ``observation`` (the obs id), ``segment``, ``orbit`` (or None),
            ``channel`` (upper case), ``version`` and ``revision`` (``'r01'``).

        Examples
        --------
        >>> from iuvs.io import parse_l1b_filename
        >>> name = "mvn_iuv_l1b_apoapse-orbit07287-muv_20180601T000000_v13_r01.fits"
        >>> f = parse_l1b_filename(name)
        >>> f.fields()["orbit"], f.fields()["channel"], f.fields()["revision"]
        (7287, 'MUV', 'r01')
        """
        return {
            "observation": self.obs_id,
            "segment": self.segment,
            "orbit": self.orbit,
            "channel": self.channel.upper(),
            "version": self.version,
            "revision": f"{self.revision_kind}{self.revision:02d}",
        }


def parse_l1b_filename(name: str | os.PathLike[str]) -> L1BFilename:
    """Parse an IUVS product file name.

    Parameters
    ----------
    name : str or path-like
        File name or path (``.fits``, ``.fits.gz`` or no extension).

    Returns
    -------
    L1BFilename
        The fields.

    Raises
    ------
    iuvs.exceptions.InvalidParameterError
        If the name does not follow the grammar.

    Examples
    --------
    >>> f = parse_l1b_filename("mvn_iuv_l1b_IPH2-cycle00044-mode031-fuv_20140503T082457_v01_r01")
    >>> f.segment, f.cycle, f.mode, f.channel
    ('IPH2', 44, 31, 'fuv')
    """
    base = Path(name).name
    stem = re.sub(r"\.fits(\.gz)?$", "", base)
    m = _STEM.match(stem)
    if m is None:
        raise InvalidParameterError(
            f"{base!r} is not an IUVS product name "
            "(mvn_iuv_<level>_<description>_<YYYYMMDD>T<HHMMSS>_v<NN>_<r|s><NN>.fits[.gz])"
        )
    desc = m["desc"]
    parts = desc.split("-")
    channel = parts[-1]
    if not channel or re.fullmatch(r"(orbit|cycle|mode)\d+", channel):
        raise InvalidParameterError(
            f"{base!r}: the description {desc!r} does not end with a channel "
            "('fuv', 'muv', 'ech', 'muvdark', ...)"
        )
    numbers: dict[str, int] = {}
    rest: list[str] = []
    for p in parts[:-1]:
        nm = re.fullmatch(r"(orbit|cycle|mode)(\d+)", p)
        if nm:
            numbers[nm[1]] = int(nm[2])
        else:
            rest.append(p)
    segment = "-".join(rest) if rest else channel
    ts = m["ts"].upper()
    try:
        timestamp = datetime.strptime(ts, "%Y%m%dT%H%M%S")
    except ValueError as err:
        raise InvalidParameterError(f"{base!r}: {m['ts']!r} is not a valid timestamp") from err
    return L1BFilename(
        name=base,
        level=m["level"],
        description=desc,
        segment=segment,
        orbit=numbers.get("orbit"),
        cycle=numbers.get("cycle"),
        mode=numbers.get("mode"),
        channel=channel,
        timestamp=timestamp,
        version=int(m["version"]),
        revision_kind=m["rkind"],
        revision=int(m["rev"]),
        obs_id=f"mvn_iuv_{m['level']}_{desc}_{m['ts']}",
    )


def _root(root: str | os.PathLike[str] | None) -> Path:
    if root is None:
        env = os.environ.get("IUVS_DATA_ROOT")
        if not env:
            raise FileFormatError(
                "no IUVS data folder: pass root=... or set the environment variable "
                "IUVS_DATA_ROOT (for example `export IUVS_DATA_ROOT=/maven_iuvs`)"
            )
        root = env
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileFormatError(
            f"IUVS data folder {str(path)!r} does not exist or is not a folder; pass root=... "
            "or set the environment variable to the folder holding the L1B files "
            "(`export IUVS_DATA_ROOT=/path/to/iuvs/data`)"
        )
    return path


def _not_fits(path: str | os.PathLike[str]) -> str | None:
    """Say why ``path`` is not a FITS file at all (None if it starts like one or is unreadable).

    Called where a FITS reader failed, so that the message names the file and
    what to do rather than passing on astropy's ``ignore_missing_simple``
    advice, which iuvs offers no way to act on.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            head = fh.read(80)
        packed = head[:2] == b"\x1f\x8b"
        if packed:
            with gzip.open(name, "rb") as gz:
                head = gz.read(80)
    except (OSError, EOFError):
        return None
    if head.startswith(b"SIMPLE  ="):
        return None
    inside = " (after gunzip)" if packed else ""
    what = "is empty" if not head else f"starts with {head[:16]!r}{inside}"
    return (
        f"{name} is not a FITS file: it {what} where a FITS file starts with 'SIMPLE  ='; "
        "check the path, or fetch the file again (a failed download often saves an HTML page)"
    )


class _Found(list[str]):
    """The paths :func:`l1b_filenames` found; remembers what was searched for the messages."""

    def __init__(self, paths: list[str], pattern: str | None, searched: Path) -> None:
        super().__init__(paths)
        self.pattern = pattern
        self.searched = searched

    def no_match(self) -> str:
        """Say what was searched, where, and what to do, for an empty result."""
        what = "no L1B file" if not self.pattern else f"no L1B file matched {self.pattern!r}"
        return (
            f"{what} under {self.searched} (names mvn_iuv_l1b_*.fits or .fits.gz); check the "
            "pattern, or pass root= (or set IUVS_DATA_ROOT) to the folder holding the files; "
            "iuvs.synthetic.write_l1b(folder) writes a synthetic one"
        )

    def too_many(self) -> str:
        """Say how to pick one of several matches where one file is wanted."""
        names = ", ".join(os.path.basename(p) for p in self[:3]) + (
            ", ..." if len(self) > 3 else ""
        )
        what = "L1B files" if not self.pattern else f"L1B files matched {self.pattern!r}"
        return (
            f"{len(self)} {what} under {self.searched} ({names}); a reader reads one file: "
            "narrow the pattern or pick one, e.g. l1b_filenames(...)[0]"
        )


def l1b_filenames(
    pattern: str | None = None,
    stage: bool = False,
    root: str | os.PathLike[str] | None = None,
    newest: bool = True,
    *,
    required: bool = False,
) -> list[str]:
    """Find Level 1B files whose name contains ``pattern``.

    Parameters
    ----------
    pattern : str, optional
        Wrapped in ``*...*`` as in the 2015 package; ``None`` matches every file.
    stage : bool, optional
        Search ``<root>/stage/products/level1b`` instead of the production tree.
    root : str or path-like, optional
        The data folder; default the environment variable ``IUVS_DATA_ROOT``.
        If ``<root>/production/products/level1b`` (or the stage tree) exists it
        is searched (the team server's layout), otherwise ``root`` recursively.
    newest : bool, optional
        Keep only the newest version and revision of each observation (higher
        version first; at equal version production ``r`` beats stage ``s``;
        then the higher revision).  An observation is
        ``mvn_iuv_l1b_<description>_<timestamp>``; ``mvn_iuv_l1b_`` files whose
        names do not follow the grammar cannot be grouped and are kept as they are.
    required : bool, optional
        Raise instead of returning an empty list when nothing matches.

    Returns
    -------
    list of str
        Sorted absolute paths (not symlink-resolved) of ``.fits`` and
        ``.fits.gz`` files whose name starts with ``mvn_iuv_l1b_``.  The list
        remembers the pattern and the folder searched: passing an empty one to
        :class:`iuvs.io.L1BReader` raises "no L1B file matched PATTERN under
        FOLDER" rather than a complaint about the list.

    Raises
    ------
    iuvs.exceptions.FileFormatError
        If no root is given or it does not exist (the message says how to set
        it), or if ``required`` and no file matched (the message names the
        pattern and the folder).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from iuvs.io import l1b_filenames
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     d = pathlib.Path(tmp)
    ...     for v in ("v01_r01", "v02_s01", "v02_r01"):
    ...         (d / f"mvn_iuv_l1b_periapse-orbit00108-muv_20141018T112844_{v}.fits.gz").touch()
    ...     found = l1b_filenames("periapse", root=d)
    >>> [pathlib.Path(p).name for p in found]
    ['mvn_iuv_l1b_periapse-orbit00108-muv_20141018T112844_v02_r01.fits.gz']
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     l1b_filenames("apoapse", root=tmp, required=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    iuvs.exceptions.FileFormatError: no L1B file matched 'apoapse' under ...
    """
    base = _root(root)
    tree = base / ("stage" if stage else "production") / "products" / "level1b"
    search = tree if tree.is_dir() else base
    glob = f"*{pattern}*" if pattern else "*"
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(search):
        for f in files:
            if not f.startswith("mvn_iuv_l1b_"):
                continue
            if not (f.endswith(".fits") or f.endswith(".fits.gz")):
                continue
            if fnmatch.fnmatchcase(f, glob):
                found.append(os.path.abspath(os.path.join(dirpath, f)))
    if newest:
        best: dict[str, tuple[tuple[int, int, int], str]] = {}
        ungrouped: list[str] = []
        for p in found:
            try:
                parsed = parse_l1b_filename(p)
            except InvalidParameterError:
                ungrouped.append(p)
                continue
            key = parsed.rank_key
            if parsed.obs_id not in best or key > best[parsed.obs_id][0]:
                best[parsed.obs_id] = (key, p)
        found = [p for _, p in best.values()] + ungrouped
    result = _Found(sorted(found), pattern, search)
    if required and not result:
        raise FileFormatError(result.no_match())
    return result
