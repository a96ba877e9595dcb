"""Sphinx configuration for the refpe documentation.

Most pages are generated at build time (``_ext/refpe_docs.py``) from the spec registry and
from a conformance report run on the CPU backends while the site builds.
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

import refpe  # noqa: E402

project = "refpe"
author = "the refpe authors"
copyright = "the refpe authors"
release = version = refpe.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "sphinx_design",
    "refpe_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/snippets", "reports/README.md"]
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"refpe {release}"
html_static_path = ["_static"]
html_css_files = ["refpe.css"]
html_last_updated_fmt = None
html_show_sourcelink = False

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
napoleon_google_docstring = False
napoleon_numpy_docstring = True

doctest_global_setup = """
import numpy as np
import refpe
np.set_printoptions(precision=6, suppress=True)
"""
doctest_test_doctest_blocks = "default"
