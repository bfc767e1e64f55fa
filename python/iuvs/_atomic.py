"""Writing a file so that it appears complete or not at all (internal)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    """Return the process umask without changing it where the OS tells it (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)  # elsewhere: read it by setting it, and put it back
    os.umask(current)
    return current


def _final_mode(target: Path) -> int:
    """Mode of the finished file: the replaced file's, or what ``open()`` would give."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


@contextmanager
def atomic_file(target: Path, check: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """Yield a temporary file in ``target``'s folder; on success fsync, check and rename it.

    ``check(tmp_path)`` runs after the file is closed and before it replaces
    ``target``; if it (or the body) raises, the temporary file is removed and
    ``target`` is left as it was.  The file gets the permissions a plain
    ``open(target, "wb")`` would give it (the umask's, or those of the file
    it replaces), not the private 0600 of a temporary file.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort; not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
