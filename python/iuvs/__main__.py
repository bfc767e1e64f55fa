"""``python -m iuvs``: the command line."""

from iuvs.cli import main

raise SystemExit(main())
