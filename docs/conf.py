"""Sphinx configuration of the cascade-core documentation (built in CI with -W)."""

import os
import sys

sys.path.insert(0, os.path.abspath("_ext"))

project = "cascade-core"
author = "cascade-core developers"
copyright = "2026, cascade-core developers"

from cascade_core import __version__ as release  # noqa: E402

version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "cascade_docs",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "benchmarks/*.json", "benchmarks/figures.md", "benchmarks/regressions.md", "README*"]
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# MathJax served with the pages when docs/fetch_mathjax.sh has run (CI runs it), else from its CDN.
if os.path.exists(os.path.join(os.path.dirname(__file__), "_static", "mathjax", "tex-chtml.js")):
    mathjax_path = "mathjax/tex-chtml.js"

html_theme = "pydata_sphinx_theme"
html_title = f"cascade-core {release}"
html_static_path = ["_static"]
html_sidebars = {"**": []}  # pages are short; the right-hand table of contents is enough
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}

autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

doctest_global_setup = """
import numpy as np
import cascade_core as cc

def _gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False

gpu_available = _gpu()
"""
