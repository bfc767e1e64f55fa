"""argparse types shared by the ``iuvs`` subcommands (internal)."""

from __future__ import annotations

import argparse
import math
import re

from iuvs.fitting import MAX_RANK, MIN_RANK

__all__ = ["add_exclusion_options", "finite", "parse_ranks", "positive"]

_DASHED_RANGE = re.compile(r"^(-?\d+)\s*(?:-|\.\.|\u2013)\s*(-?\d+)$")


def _one_rank(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"rank must be an integer, got {text!r}") from None
    if not MIN_RANK <= value <= MAX_RANK:
        raise argparse.ArgumentTypeError(
            f"rank {value} is outside {MIN_RANK}..{MAX_RANK} "
            "(-1 additive, 0 multiplicative, 1..12 polynomial degree)"
        )
    return value


def parse_ranks(text: str) -> list[int]:
    """Parse a rank specification: ``'-1:4'`` (inclusive range), ``'-1,0,2'`` or ``'3'``.

    Parameters
    ----------
    text : str
        The specification.

    Returns
    -------
    list of int
        The ranks, in the order given.

    Raises
    ------
    argparse.ArgumentTypeError
        A rank outside -1..12, a malformed or an empty range.

    Examples
    --------
    >>> from iuvs._argtypes import parse_ranks
    >>> parse_ranks("-1:4"), parse_ranks("0,2"), parse_ranks("3")
    ([-1, 0, 1, 2, 3, 4], [0, 2], [3])
    >>> parse_ranks("1-4")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: '1-4' is not a rank specification; ... e.g. --ranks 1:4 ...
    """
    text = text.strip()
    dashed = _DASHED_RANGE.match(text)
    if dashed:  # `1-4` or `1..4`: a range in another syntax
        lo, hi = dashed.group(1), dashed.group(2)
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a rank specification; write a range as low:high, "
            f"e.g. --ranks {lo}:{hi} (or a list {lo},{hi})"
        )
    if ":" in text:
        lo, sep, hi = text.partition(":")
        a, b = _one_rank(lo), _one_rank(hi)
        if b < a:
            raise argparse.ArgumentTypeError(f"empty rank range {text!r} (write low:high)")
        return list(range(a, b + 1))
    return [_one_rank(t) for t in text.split(",") if t.strip()] or [_one_rank(text)]


def finite(text: str) -> float:
    """Parse a finite number (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    """Parse a finite positive number (argparse type)."""
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_exclusion_options(p: argparse.ArgumentParser, frame: str) -> None:
    """Add ``--hot-threshold DN | --hot-sigma K`` and ``--clip K`` to a subcommand.

    ``frame`` names the dark the hot-pixel cut applies to in the help texts.
    """
    cut = p.add_mutually_exclusive_group()
    cut.add_argument(
        "--hot-threshold",
        type=finite,
        default=None,
        metavar="DN",
        help=f"exclude pixels whose {frame} is above DN (the notebook used 2500)",
    )
    cut.add_argument(
        "--hot-sigma",
        type=positive,
        default=None,
        metavar="K",
        help=f"exclude pixels above median + K * MAD-std of {frame}",
    )
    p.add_argument(
        "--clip", type=positive, default=None, metavar="K", help="sigma-clip the residuals at K"
    )
