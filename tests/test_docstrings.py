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
    "bsqkit.experiments.segmentation_data",
    "bsqkit.experiments.segmentation_profiles",
    "bsqkit.experiments.statistics",
    "bsqkit.datasets.slicing",
    "bsqkit.exceptions",
    "bsqkit.citations",
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
    assert len(OBJECTS) > 50


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_has_an_example(name):
    doc = inspect.getdoc(OBJECTS[name]) or ""
    assert "Examples\n--------\n>>> " in doc, f"{name} has no Examples section"


@pytest.mark.parametrize("name", sorted(OBJECTS))
def test_docstring_documents_parameters(name):
    obj = OBJECTS[name]
    try:
        signature = inspect.signature(obj).parameters.values()
    except ValueError:  # exception classes: builtin signatures, nothing to document
        signature = []
    params = [
        p
        for p in signature
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"
    ]
    doc = inspect.getdoc(obj) or ""
    if params:
        assert "Parameters\n----------\n" in doc, f"{name} has no Parameters section"
        missing = [p.name for p in params if p.name not in doc.split("Parameters")[1]]
        assert not missing, f"{name} does not document {missing}"


@pytest.mark.parametrize("name", sorted(OBJECTS))
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
