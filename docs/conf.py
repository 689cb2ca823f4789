"""Sphinx configuration for the ML2P documentation.

Build with warnings as errors (no network is needed: intersphinx is off)::

    sphinx-build -W --keep-going -n -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Document the source tree being built, even if another ml2p is installed.
sys.path.insert(0, os.path.join(ROOT, "ml2p_core"))

import ml2p  # noqa: E402

project = "ML2P"
author = "ML2P contributors"
copyright = "ML2P contributors"
release = ml2p.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "sphinx_click",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "requirements.txt", "Thumbs.db", ".DS_Store"]

# Docstrings are reST field lists, so napoleon stays off.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Without intersphinx, references into other projects cannot resolve; these
# are the only targets the nitpicky build (-n) is allowed to leave unresolved.
_STDLIB = (
    "typing|collections|os|pathlib|logging|types|concurrent|json|tarfile|asyncio|_asyncio|socket"
    "|datetime|http|subprocess|dataclasses|ssl"
)
nitpick_ignore_regex = [
    (r"py:.*", r"(boto3|botocore|pluggy|click|gunicorn|uvicorn|uvicorn_worker|yaml)(\..*)?"),
    (r"py:.*", rf"({_STDLIB})(\..*)?"),
    (r"py:class", r"(Any|Optional|Union|List|Dict|Mapping|Sequence|Iterable|Callable|Tuple)"),
    (r"py:class", r"(NoneType|IO|Path|PathLike|Logger|Handler|ModuleType|MappingProxyType)"),
]

html_theme = "alabaster"
html_title = f"ML2P {release}"
html_static_path: list = []
