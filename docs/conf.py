"""Sphinx configuration of the iuvs documentation (`make docs`)."""

from __future__ import annotations

import matplotlib

import iuvs

matplotlib.use("Agg")  # figures are rendered at build time, without a display

project = "iuvs"
author = "iuvs developers"
copyright = "iuvs developers"  # noqa: A001 (Sphinx's name)
release = iuvs.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# API reference: one generated page per public name (docs/api/generated, rebuilt every time)
autosummary_generate = True
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
autodoc_member_order = "bysource"
numpydoc_show_class_members = False  # members are listed by the class template
numpydoc_class_members_toctree = False

# figures: the code of each ``plot`` directive runs at build time on synthetic files
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_rcparams = {"figure.figsize": (8.0, 4.0)}
plot_pre_code = ""

# MyST: the existing Markdown pages (docs/reference.md) and the workflow pages
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"iuvs {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
html_last_updated_fmt = None

# no intersphinx: CI may be offline from the documentation hosts


def _link_repository_pages(app: object, docname: str, source: list[str]) -> None:
    """Point reference.md's link to ``../ARCHITECTURE.md`` at this site's architecture page.

    docs/reference.md stays where the README links to it, with links that work on a
    repository browser; the repository's ARCHITECTURE.md is outside the Sphinx source
    folder, so the site includes it as ``architecture.md``.
    """
    if docname == "reference":
        source[0] = source[0].replace("](../ARCHITECTURE.md)", "](architecture.md)")


def setup(app: object) -> dict[str, bool]:
    """Register the source hook above."""
    app.connect("source-read", _link_repository_pages)  # type: ignore[attr-defined]
    return {"parallel_read_safe": True}
