"""The package imports one way: no module of bsqkit imports, directly or through others,
a module that imports it back (imports inside functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bsqkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each bsqkit module and the bsqkit modules it imports, anywhere in its code."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            found = {t for t in targets if t in modules and t != name}
            # importing a.b.c runs a.b's __init__ too (the module's own packages aside)
            ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}
            parents = {
                ".".join(t.split(".")[:k]) for t in found for k in range(1, t.count(".") + 1)
            }
            graph[name] |= found | ((parents & set(modules)) - ancestors - {name})
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_bsqkit():
    graph = import_graph()
    assert len(graph) > 50 and "bsqkit.query.uncertainty" in graph["bsqkit.query.bayesian_sample"]
    assert circles(graph) == []


def private_imports() -> list[str]:
    """Every ``from bsqkit... import _name`` in the package: a private name used from
    another module (or a module importing from itself, which needs no import)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        itself = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bsqkit"):
                found += [
                    f"{path.relative_to(PACKAGE.parent)}: {node.module}.{a.name}"
                    for a in node.names
                    if (a.name.startswith("_") and a.name != "__version__")
                    or node.module == itself
                ]
    return found


def test_no_private_name_imported_across_modules():
    assert private_imports() == []


def test_a_long_module_says_why_it_is_kept_whole():
    """A module over about 500 lines fits in no head: its docstring says why it is one
    module ("Kept whole: ...") or it is split."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > 520 and "Kept whole:" not in (
            ast.get_docstring(ast.parse(text)) or ""
        ):
            long.append(f"{path.relative_to(PACKAGE.parent)} ({text.count(chr(10))} lines)")
    assert long == []
