"""Sphinx configuration of the bsqkit documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` from the
repository root (after ``pip install -e ".[docs]"``); the example gallery is executed
during the build.
"""

import os
import shutil
import sys
from pathlib import Path

import bsqkit

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")
# examples read ../shared/data relative to the repository root when it exists
os.environ.setdefault("BSQKIT_DATA", str(ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

# the result figures and summary, from the committed raw files (docs/results_figures.py)
sys.path.insert(0, str(ROOT / "docs"))
import cli_reference  # noqa: E402
import results_figures  # noqa: E402

results_figures.main()
cli_reference.main()

project = "bsqkit"
author = "bsqkit developers"
copyright = "2026, bsqkit developers"
release = bsqkit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # MathJax served from the site itself: formulas render offline (a hospital network)
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py"]
templates_path = ["_templates"]

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"  # numpydoc's parameter lists carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("bsqkit",),
    "reference_url": {"bsqkit": None},
    "remove_config_comments": True,
    "min_reported_time": 1,
}

html_theme = "pydata_sphinx_theme"
html_title = f"bsqkit {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "footer_start": ["copyright"],
}
html_static_path = []


def _skip_metadata_requests(app, what, name, obj, skip, options):
    # scikit-learn generates set_*_request methods on estimators; they are documented
    # there and their docstrings reference scikit-learn's own glossary
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


# figures of benchmark runs in the ignored runs/ folder (made by the commands on the
# benchmarks page), shown when present: (path, caption)
RUN_FIGURES = [
    ("runs/entropy-digits/entropy.png", "Class entropy, digits (the README's main job)"),
    ("runs/entropy-digits/latent_coverage.png", "Latent coverage, digits"),
    ("runs/entropy-s1/entropy.png", "Class entropy, MNIST (setup s1)"),
    ("runs/entropy-s1/latent_coverage.png", "Latent coverage, MNIST (setup s1)"),
    ("runs/seg-hippo/pool_examples.png", "Hippocampus pool slices as the protocol reads them"),
    ("runs/seg-hippo/curves_slice.png", "Slice-based protocol, hippocampus"),
    ("runs/seg-hippo/slice_auc.png", "Normalised AUC per holdout, hippocampus"),
    ("runs/seg-hippo/slice_budget_to_reach.png", "Budget to reach the upper bound"),
    ("runs/seg-hippo/slice_paired.png", "Paired AUC differences, BSQ against the others"),
    ("runs/seg-hippo-volume/curves_volume.png", "Volume-based protocol, hippocampus"),
]


def _collect_run_figures(app):
    """Copy the figures of local benchmark runs into the build and list them."""
    out = Path(app.srcdir) / "generated"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    lines = []
    for rel, caption in RUN_FIGURES:
        src = ROOT / rel
        if not src.is_file():
            continue
        name = rel.replace("/", "_")
        shutil.copyfile(src, out / "figures" / name)
        lines += [
            f".. figure:: /generated/figures/{name}",
            "   :width: 90%",
            "",
            f"   {caption} (``{rel}``)",
            "",
        ]
    if not lines:
        lines = [
            "No local benchmark runs were found when these pages were built. Run the "
            "commands above, then rebuild the documentation to see their figures here.",
            "",
        ]
    (out / "benchmark_figures.inc").write_text("\n".join(lines))


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("builder-inited", _collect_run_figures)
