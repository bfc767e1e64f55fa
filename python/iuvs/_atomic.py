"""Writing a file so that it appears complete or not at all (internal)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(target: Path, check: Callable[[str], None] | None = None) -> Iterator[BinaryIO]:
    """Yield a temporary file in ``target``'s folder; on success fsync, check and rename it.

    ``check(tmp_path)`` runs after the file is closed and before it replaces
    ``target``; if it (or the body) raises, the temporary file is removed and
    ``target`` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
