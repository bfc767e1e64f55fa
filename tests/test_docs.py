"""The documentation site (docs/): API pages cover the public API, page code runs as written.

``make docs`` builds the site with warnings as errors (CI runs it after ``make test``). Here,
without Sphinx: every public name is listed on its API page, and the code of every page
(doctest-style ``plot`` directives) runs and prints what the page shows. The full build is a
slow test, skipped with a message when Sphinx or a package of the ``docs`` extra is missing.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import math
import os
import re
import subprocess
import sys
import tempfile
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
    assert blocks[0].startswith(">>> import tempfile\n")
    assert all(not re.search(r"^:\w+:", b, re.MULTILINE) for b in blocks)
    assert sum(len(plot_blocks(DOCS / p)) for p in CODE_PAGES) >= 20


NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class NumericOutputChecker(doctest.OutputChecker):
    """Doctest output check that lets printed numbers differ in their last digits.

    The pages print values computed by the core, whose last bits may differ between CPU
    kernels (AVX-512, AVX2, portable); the text between the numbers must match exactly
    (whitespace normalised) and each number to 1e-3 relative or 1e-9 absolute.
    """

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        if super().check_output(want, got, optionflags):
            return True
        want_numbers, got_numbers = NUMBER.findall(want), NUMBER.findall(got)
        if len(want_numbers) != len(got_numbers):
            return False
        if " ".join(NUMBER.sub("#", want).split()) != " ".join(NUMBER.sub("#", got).split()):
            return False
        return all(
            math.isclose(float(w), float(g), rel_tol=1e-3, abs_tol=1e-9)
            for w, g in zip(want_numbers, got_numbers, strict=True)
        )


def run_page(page: Path) -> doctest.TestResults:
    """Run the examples of every plot directive of ``page`` in one namespace, in order."""
    import matplotlib.pyplot as plt

    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(checker=NumericOutputChecker(), optionflags=flags)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for k, block in enumerate(plot_blocks(page)):
        test = parser.get_doctest(block, namespace, f"{page.name}[{k}]", str(page), 0)
        runner.run(test, clear_globs=False)
        namespace = test.globs
        plt.close("all")
    return runner.summarize(verbose=False)


def test_numeric_checker_compares_numbers_not_text():
    checker = NumericOutputChecker()
    flags = doctest.NORMALIZE_WHITESPACE
    assert checker.check_output("a 1.0000 b -3.5e-14\n", "a 1.00001 b 2.1e-15\n", flags)
    assert not checker.check_output("a 1.0 b\n", "a 1.1 b\n", flags)
    assert not checker.check_output("a 1.0 b\n", "c 1.0 b\n", flags)
    assert not checker.check_output("[1, 2]\n", "[1, 2, 3]\n", flags)


@pytest.mark.slow
@pytest.mark.parametrize("page", CODE_PAGES)
def test_page_code_runs_as_written(page, monkeypatch, tmp_path):
    """The code of a page runs and prints what the page shows; it cleans up after itself."""
    pytest.importorskip("matplotlib", reason="the pages draw figures (the plot extra)")
    if "survey" in page:
        pytest.importorskip("pandas", reason="the survey page needs the survey extra")
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # anything written to the working folder lands here
    before = set(Path(tempfile.gettempdir()).glob("iuvs-docs-*"))
    results = run_page(DOCS / page)
    assert results.attempted > 0
    assert results.failed == 0, f"{results.failed} examples of {page} failed (printed above)"
    assert not list(tmp_path.iterdir()), "a page wrote into the working folder"
    left = set(Path(tempfile.gettempdir()).glob("iuvs-docs-*")) - before
    assert not left, f"{page} left its temporary folder {sorted(left)}"


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
