"""How many threads iuvs uses: one setter for the whole process.

iuvs runs its parallel passes (large frames, batches, histograms) on the
calling thread plus the threads of its own pool; it never uses rayon's
global pool, starts no thread that runs between calls, and is safe to use in
a child made by ``os.fork()`` (the child builds its own pool on first use).
The default size is ``RAYON_NUM_THREADS`` if set, else one thread per CPU.
"""

from __future__ import annotations

from iuvs import _core
from iuvs.exceptions import InvalidParameterError


def set_threads(n: int | None) -> None:
    """Set the number of threads iuvs uses (the calling thread counts as one).

    Parameters
    ----------
    n : int or None
        Threads for every later call, at least 1; ``None`` restores the
        default (``RAYON_NUM_THREADS``, else one per CPU). ``1`` keeps every
        call on its calling thread (one process per core, say). The pool is
        built once, on the next call that needs it.

    Raises
    ------
    InvalidParameterError
        If ``n`` is not a positive integer or None.

    Examples
    --------
    >>> import iuvs
    >>> iuvs.set_threads(1)
    >>> iuvs.get_threads()
    1
    >>> iuvs.set_threads(None)
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidParameterError(
            f"the number of threads must be a positive integer or None, got {n!r}"
        )
    _core.set_threads(n)


def get_threads() -> int:
    """Threads iuvs uses for one call, the calling thread among them.

    Returns
    -------
    int
        The size of iuvs's pool (see :func:`set_threads`).

    Examples
    --------
    >>> import iuvs
    >>> iuvs.get_threads() >= 1
    True
    """
    return int(_core.get_threads())
