"""Every public class and function documents its parameters and has an example that runs."""

from __future__ import annotations

import doctest
import importlib
import inspect

import pytest

PUBLIC_MODULES = (
    "bsqkit",
    "bsqkit.query",
    "bsqkit.functional",
    "bsqkit.nets",
    "bsqkit.datasets",
    "bsqkit.metrics",
    "bsqkit.preprocessing",
    "bsqkit.experiments",
    "bsqkit.experiments.entropy",
    "bsqkit.experiments.segmentation",
    "bsqkit.experiments.segmentation.data",
    "bsqkit.experiments.segmentation.evaluation",
    "bsqkit.experiments.segmentation.methods",
    "bsqkit.experiments.segmentation.protocol",
    "bsqkit.experiments.segmentation.runner",
    "bsqkit.profiles",
    "bsqkit.experiments.statistics",
    "bsqkit.datasets.slicing",
    "bsqkit.datasets.harmonising",
    "bsqkit.datasets.label_classes",
    "bsqkit.datasets.synthetic",
    "bsqkit.catalogue",
    "bsqkit.exceptions",
    "bsqkit.citations",
    "bsqkit.interop.skactiveml",
    "bsqkit.interop.volume_ranking",
    "bsqkit.workflow",
    "bsqkit.workflow.state",
    "bsqkit.plotting",
)


def _public_objects() -> dict[str, object]:
    found: dict[int, tuple[str, object]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(id(obj), (f"{module_name}.{name}", obj))
    return dict(found.values())


OBJECTS = _public_objects()


def test_public_api_is_found():
    # every name of every public module's __all__ is a documented object or a constant
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            assert hasattr(module, name), f"{module_name}.__all__ names {name}, which is missing"
    assert (
        "bsqkit.BayesianSampleQuery" in OBJECTS and "bsqkit.workflow.AnnotationProject" in OBJECTS
    )


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_has_an_example(name):
    doc = inspect.getdoc(OBJECTS[name]) or ""
    assert "Examples\n--------\n>>> " in doc, f"{name} has no Examples section"


# numpydoc's own validation: every parameter documented in the Parameters section
# (PR01) and described (PR07), no documented parameter that does not exist (PR02), and a
# Returns section for functions that return something (RT01)
CHECKS = {"PR01", "PR02", "PR07", "RT01"}


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_documents_parameters(name):
    from typing import Protocol

    from numpydoc.validate import validate

    obj = OBJECTS[name]
    if inspect.isclass(obj) and Protocol in getattr(obj, "__mro__", ()):
        pytest.skip("a typing Protocol: its *args/**kwargs are typing's")
    report = validate(f"{obj.__module__}.{obj.__qualname__}")
    errors = [(code, message) for code, message in report["errors"] if code in CHECKS]
    if inspect.isclass(obj):  # a class returns nothing; its __init__ documents parameters
        errors = [(code, m) for code, m in errors if code != "RT01"]
    assert not errors, f"{name}: {errors}"


# examples that train networks for several seconds: in the slow tier
SLOW_EXAMPLES = {
    "bsqkit.experiments.segmentation.run_segmentation_benchmark",
    "bsqkit.experiments.segmentation.run_holdout",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_EXAMPLES else n
        for n in sorted(OBJECTS)
    ],
)
def test_docstring_example_runs(name, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # examples that write files stay in a temporary folder
    obj = OBJECTS[name]
    finder = doctest.DocTestFinder(recurse=False)
    tests = [t for t in finder.find(obj, name, globs={}) if t.examples]
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    for test in tests:
        runner.run(test)
    plt.close("all")
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed"
