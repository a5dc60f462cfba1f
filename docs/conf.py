"""Sphinx configuration for pyramid's documentation.

Build with ``make docs`` (executes the gallery) or ``make docs-fast`` (does not). Both use
``-W``: every warning fails the build. Nothing here fetches anything from the network
(no intersphinx, no remote images, no version switcher), so the build works offline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pyramid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

# Examples import matplotlib; never open a window, whatever the environment says.
os.environ.setdefault("MPLBACKEND", "Agg")

# -- Project -----------------------------------------------------------------------------------
project = "pyramid"
author = "pyramid developers"
copyright = "2026, pyramid developers"  # noqa: A001 (Sphinx's name)
version = release = pyramid.__version__

# -- General -----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "pyramid_docs",  # docs/_ext: API index from pyramid._LAZY, CLI reference, pyramid-run
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_templates",
    "_ext",
    "**.ipynb_checkpoints",
    # sphinx-gallery's own by-products that are not pages
    "gallery/**.ipynb",
    "gallery/**.md5",
    "gallery/**.py",
    "gallery/**.zip",
    "gallery/**.json",
]
templates_path = ["_templates"]
default_role = "literal"
nitpicky = False

# -- autodoc / autosummary / numpydoc ----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False  # a module's public names are its __all__
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False  # no intersphinx: nothing to link numpy/pandas types to
numpydoc_attributes_as_param_list = True

# -- MyST (docs/architecture.md is Markdown) ---------------------------------------------------
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# -- sphinx-gallery ----------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",  # every plot_*.py is executed (unless plot_gallery=0)
    "within_subsection_order": "FileNameSortKey",  # plot_01_..., plot_02_...: Figure 4 first
    "doc_module": ("pyramid",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"pyramid": None},  # link code in examples to the local API pages
    "capture_repr": ("_repr_html_", "__repr__"),  # a script's last DataFrame shows as a table
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "download_all_examples": False,
    "min_reported_time": 0,
    "abort_on_example_error": False,  # report every failing example, then fail the build
    "only_warn_on_example_error": False,
    "expected_failing_examples": [],
}

# -- HTML --------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"pyramid {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_context = {"default_mode": "light"}
