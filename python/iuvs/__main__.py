"""``python -m iuvs``: the command line (see :mod:`iuvs.cli`)."""

from iuvs.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
