"""Install what ``make docs`` needs into the running interpreter's environment (build/docs-venv).

The docs extra of pyproject.toml is installed. The package itself is installed from this tree
only when it cannot be imported yet or the importable copy is not this tree's (its Python
sources or its ``_core.pyi`` differ: a stale install would document old code): the venv sees
the interpreter's own packages, where
``make test`` has just installed it, and building it again for another interpreter path would
recompile the whole Rust core (pyo3 rebuilds when the interpreter changes): about 70 s of CPU.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def docs_requirements() -> list[str] | None:
    """Return the ``docs`` extra of pyproject.toml, or None without tomllib (Python 3.10)."""
    try:
        import tomllib
    except ModuleNotFoundError:
        return None
    with open(ROOT / "pyproject.toml", "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    return list(extras["docs"])


def installed_is_this_tree() -> bool:
    """Whether an importable ``iuvs`` (with its core) has exactly this tree's Python sources."""
    if importlib.util.find_spec("iuvs._core") is None:
        return False
    spec = importlib.util.find_spec("iuvs")
    if spec is None or not spec.submodule_search_locations:
        return False
    installed = Path(next(iter(spec.submodule_search_locations)))
    source = ROOT / "python" / "iuvs"
    for path in [*source.rglob("*.py"), *source.rglob("*.pyi")]:
        other = installed / path.relative_to(source)
        if not other.is_file() or other.read_bytes() != path.read_bytes():
            print(f"make docs: the installed iuvs differs from this tree ({other}); installing it")
            return False
    return True


def main() -> int:
    """Install the docs extra, and the package only where it is not importable."""
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-conflicts"]
    requirements = docs_requirements()
    if requirements is not None and installed_is_this_tree():
        return subprocess.call([*pip, *requirements])
    return subprocess.call([*pip, f"{ROOT}[docs]"])


if __name__ == "__main__":
    sys.exit(main())
