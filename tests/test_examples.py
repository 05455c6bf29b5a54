"""The example gallery: every example runs, and every public strategy has one."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import bsqkit
from bsqkit.base import QueryStrategy

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("plot_*.py"))


def test_examples_exist():
    # the gallery the README and the user guide point to
    assert {p.stem for p in SCRIPTS} >= {
        "plot_quickstart_digits",
        "plot_bsq_mmdvae_mnist",
        "plot_segmentation_phantom",
        "plot_modal_and_sklearn",
        "plot_latent_coverage",
        "plot_annotation_rounds",
        "plot_monai_unet",
        "plot_scikit_activeml",
    }


def test_every_public_strategy_has_an_example():
    strategies = [
        name
        for name in bsqkit.__all__
        if inspect.isclass(obj := getattr(bsqkit, name))
        and issubclass(obj, QueryStrategy)
        and obj is not QueryStrategy
    ]
    assert {"BayesianSampleQuery", "SuggestiveAnnotationQuery", "RandomQuery"} <= set(strategies)
    sources = "\n".join(p.read_text() for p in SCRIPTS)
    missing = [name for name in strategies if f"{name}(" not in sources]
    assert not missing, f"public strategies without an example in examples/: {missing}"


@pytest.mark.slow
@pytest.mark.examples  # CI runs them once, in the docs' gallery
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_example_runs(script):
    source = script.read_text()
    if "modAL" in source and importlib.util.find_spec("modAL") is None:
        pytest.skip("modAL is not installed (pip install --no-deps modAL-python)")
    if "import monai" in source or "from monai" in source:
        if importlib.util.find_spec("monai") is None and not os.environ.get(
            "BSQKIT_REQUIRE_MONAI"
        ):
            pytest.skip('MONAI is not installed (pip install "bsqkit[monai]")')
    env = {**os.environ, "MPLBACKEND": "Agg"}
    # the working directory is the repository root, as for `python examples/<name>.py`
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=EXAMPLES.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stderr[-3000:]}"
