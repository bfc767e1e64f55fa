"""The documentation site (docs/): API pages cover the public API, page code runs as written.

``make docs`` builds the site with warnings as errors (CI runs it after ``make test``); here,
without Sphinx, every public name must be listed on its API page and the code of every
page must run. The full build is a slow test, skipped with a message when Sphinx or one of
the ``docs`` extra's packages is missing.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import iuvs

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = DOCS / "api"

# module -> its API page; every module a user reaches through ``iuvs`` has one
API_PAGES = {
    "iuvs": "iuvs.rst",
    "iuvs.io": "io.rst",
    "iuvs.darks": "darks.rst",
    "iuvs.superdark": "superdark.rst",
    "iuvs.survey": "survey.rst",
    "iuvs.plotting": "plotting.rst",
    "iuvs.synthetic": "synthetic.rst",
    "iuvs.scaling": "scaling.rst",
    "iuvs.exceptions": "exceptions.rst",
    "iuvs.options": "options.rst",
}

# pages whose code runs at build time (matplotlib's plot directive), in reading order
CODE_PAGES = [
    "getting_started.rst",
    "workflows/notebook.rst",
    "workflows/survey.rst",
    "workflows/dark_correction.rst",
    "workflows/superdarks.rst",
]


def autosummary_names(page: Path) -> dict[str, set[str]]:
    """The names listed by the ``autosummary`` directives of ``page``, per current module.

    A name written ``~package.module.name`` (a link to another page) is filed under
    ``package.module``.
    """
    listed: dict[str, set[str]] = {}
    module = ""
    in_summary = False
    for line in page.read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
            continue
        if line.startswith(".. autosummary::"):
            in_summary = True
            continue
        if in_summary:
            if not line.strip() or re.match(r"^   :[\w-]+:", line):
                continue
            if line.startswith("   "):
                name = line.strip().lstrip("~")
                owner, _, short = name.rpartition(".")
                listed.setdefault(owner or module, set()).add(short)
                continue
            in_summary = False
    return listed


def plot_blocks(page: Path) -> list[str]:
    """The code of every ``.. plot::`` directive of an reStructuredText page, in order."""
    lines = page.read_text().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(".. plot::"):
            i += 1
            continue
        i += 1
        body = []
        while i < len(lines) and (lines[i].startswith("   ") or not lines[i].strip()):
            if not re.match(r"^   :[\w-]+:", lines[i]):
                body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip() + "\n")
    return blocks


@pytest.mark.parametrize("module_name", sorted(API_PAGES))
def test_api_page_lists_every_public_name(module_name):
    module = importlib.import_module(module_name)
    page = API / API_PAGES[module_name]
    text = page.read_text()
    listed = autosummary_names(page)
    public = set(module.__all__) - {"__version__"}
    mine = listed.get(module_name, set())
    # names re-exported from another module may be listed as links to that module's page
    elsewhere = {
        name
        for owner, names in listed.items()
        if owner != module_name
        for name in names
        if getattr(module, name, None) is getattr(importlib.import_module(owner), name, None)
    }
    missing = sorted(public - mine - elsewhere)
    assert not missing, f"{page.name} does not list {missing} of {module_name}.__all__"
    for owner, names in listed.items():
        target = importlib.import_module(owner)
        unknown = sorted(n for n in names if not hasattr(target, n))
        assert not unknown, f"{page.name} lists {unknown}, which {owner} does not have"
    if module_name != "iuvs":
        assert f".. automodule:: {module_name}" in text


def test_api_pages_cover_iuvs_all():
    """Every name of ``iuvs.__all__`` is on the top-level page or is a module with a page."""
    top = autosummary_names(API / "iuvs.rst")["iuvs"]
    for name in iuvs.__all__:
        if name == "__version__":
            assert "__version__" in (API / "iuvs.rst").read_text()
            continue
        value = getattr(iuvs, name)
        assert name in top, f"iuvs.{name} is not listed on docs/api/iuvs.rst"
        if isinstance(value, types.ModuleType):
            assert value.__name__ in API_PAGES, f"{value.__name__} has no API page"
    index = (API / "index.rst").read_text()
    for page in API_PAGES.values():
        assert f"   {page.removesuffix('.rst')}\n" in index, f"{page} is not in api/index.rst"


def test_plot_blocks_are_found():
    """The extraction below sees the code a page shows (a guard for the runner)."""
    blocks = plot_blocks(DOCS / "getting_started.rst")
    assert blocks[0].startswith("import tempfile\n")
    assert all(not re.search(r"^:\w+:", b, re.MULTILINE) for b in blocks)
    assert sum(len(plot_blocks(DOCS / p)) for p in CODE_PAGES) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("page", CODE_PAGES)
def test_page_code_runs_as_written(page, monkeypatch, tmp_path):
    pytest.importorskip("matplotlib", reason="the pages draw figures (the plot extra)")
    if "survey" in page:
        pytest.importorskip("pandas", reason="the survey page needs the survey extra")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # anything written to the working folder lands here
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        for block in plot_blocks(DOCS / page):
            exec(compile(block, str(DOCS / page), "exec"), namespace)
            plt.close("all")
    finally:
        plt.close("all")
    assert not list(tmp_path.iterdir()), "a page wrote into the working folder"
    folder = namespace.get("folder", namespace.get("root"))
    assert folder is not None and not Path(str(folder)).exists(), "temporary folder left"


@pytest.mark.slow
def test_site_builds_without_warnings(tmp_path):
    missing = [
        name
        for name in ("sphinx", "numpydoc", "myst_parser", "pydata_sphinx_theme", "matplotlib")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        names = ", ".join(missing)
        pytest.skip(f"the docs extra is not installed ({names}): pip install '.[docs]'")
    out = tmp_path / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    command += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(out)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pages = {p.relative_to(out).as_posix() for p in out.rglob("*.html")}
    for page in ["index.html", "getting_started.html", "reference.html", "api/index.html"]:
        assert page in pages
    for page in CODE_PAGES:
        assert page.replace(".rst", ".html") in pages
    images = sorted(p.name for p in (out / "_images").glob("*.png"))
    for page in CODE_PAGES:
        stem = Path(page).stem
        assert any(name.startswith(f"{stem}-") for name in images), f"{page} drew no figure"
